"""A bleak backend on bumble, and emulated BLE peripherals, for tests without Bluetooth hardware.

:class:`~tests.bumble_bleak.backend.BumbleWorld` is one in-process radio (bumble's
``LocalLink``): a central bumble ``Device`` that the bleak backend classes drive, and any number
of emulated peripherals (:mod:`tests.bumble_bleak.peripherals`) with real GATT servers. The
production code (bleak's ``BleakClient`` / ``BleakScanner``, bleak-retry-connector,
:class:`imu_hip.ble.bleak_link.BleakLink`) runs unchanged on top: only the backend classes are
swapped, through bleak's documented ``backend=`` argument.
"""
