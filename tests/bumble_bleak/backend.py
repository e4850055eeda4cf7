"""bleak backend classes (client + scanner) implemented on a bumble central ``Device``.

Everything lives in one asyncio loop: a :class:`BumbleWorld` owns bumble's in-process
``LocalLink``, one central device (the "adapter" the backend drives) and the emulated
peripherals attached to it. ``world.client_backend`` / ``world.scanner_backend`` are
:class:`BaseBleakClient` / :class:`BaseBleakScanner` subclasses bound to that world, to pass as
``BleakClient(..., backend=...)`` and ``BleakScanner(..., backend=...)``.

What the bumble local link does and does not model (bumble 0.0.236): advertising, scanning
(RSSI is always -50 dBm), connection set-up, ATT MTU exchange, GATT discovery, reads, writes,
notifications and disconnects from either side all run through the real bumble host and
controller stacks. There is no radio timing (no connection interval), no packet loss of its
own and no supervision timeout: link loss is modelled by the peripheral disconnecting, loss of
packets by the peripheral's fault injection.
"""

from __future__ import annotations

import asyncio
import contextlib
import warnings
from collections.abc import Callable
from typing import Any

from bleak.backends.characteristic import BleakGATTCharacteristic
from bleak.backends.client import BaseBleakClient, NotifyCallback
from bleak.backends.descriptor import BleakGATTDescriptor
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import AdvertisementData, BaseBleakScanner
from bleak.backends.service import BleakGATTService, BleakGATTServiceCollection
from bleak.exc import BleakBluetoothNotAvailableError, BleakBluetoothNotAvailableReason, BleakError
from bleak.uuids import normalize_uuid_str
from bumble import core, hci
from bumble.controller import Controller
from bumble.device import Connection, Device, Peer
from bumble.host import Host
from bumble.link import LocalLink
from bumble.transport.common import AsyncPipeSink

CENTRAL_ADDRESS = "C0:00:00:00:00:01"

#: bleak property names by bumble/ATT property bit.
_PROPERTY_NAMES = {
    0x01: "broadcast",
    0x02: "read",
    0x04: "write-without-response",
    0x08: "write",
    0x10: "notify",
    0x20: "indicate",
    0x40: "authenticated-signed-writes",
    0x80: "extended-properties",
}


def uuid_str(uuid: core.UUID) -> str:
    """A bumble UUID as bleak writes it: lower-case 128-bit text."""
    return normalize_uuid_str(uuid.to_bytes(force_128=True)[::-1].hex())


def parse_advertising_data(data: bytes) -> dict[str, Any]:
    """The fields bleak reports from raw advertising data (Core Spec Supplement, part A, 1)."""
    out: dict[str, Any] = {
        "local_name": None,
        "manufacturer_data": {},
        "service_data": {},
        "service_uuids": [],
        "tx_power": None,
    }
    i = 0
    while i < len(data):
        length = data[i]
        if length == 0 or i + 1 + length > len(data):
            break
        kind, value = data[i + 1], bytes(data[i + 2 : i + 1 + length])
        i += 1 + length
        if kind in (0x02, 0x03):  # 16-bit service UUIDs
            out["service_uuids"] += [
                normalize_uuid_str(value[j : j + 2][::-1].hex()) for j in range(0, len(value), 2)
            ]
        elif kind in (0x06, 0x07):  # 128-bit service UUIDs (little-endian on air)
            out["service_uuids"] += [
                normalize_uuid_str(value[j : j + 16][::-1].hex()) for j in range(0, len(value), 16)
            ]
        elif kind in (0x08, 0x09):
            out["local_name"] = value.decode("utf-8", errors="replace")
        elif kind == 0x0A and value:
            out["tx_power"] = int.from_bytes(value[:1], "little", signed=True)
        elif kind == 0x16 and len(value) >= 2:
            out["service_data"][normalize_uuid_str(value[:2][::-1].hex())] = value[2:]
        elif kind == 0x21 and len(value) >= 16:
            out["service_data"][normalize_uuid_str(value[:16][::-1].hex())] = value[16:]
        elif kind == 0xFF and len(value) >= 2:
            out["manufacturer_data"][int.from_bytes(value[:2], "little")] = value[2:]
    return out


class SpecController(Controller):
    """bumble's emulated controller, with LE Create Connection Cancel as the spec has it.

    In bumble 0.0.236 the cancel command is acknowledged but does nothing: the pending
    connection stays (every later connect is refused with Command Disallowed) and no LE
    Connection Complete event arrives, so the host waits forever. A real controller ends the
    pending connection and reports LE Connection Complete with status Unknown Connection
    Identifier (Core 5.4, Vol 4, Part E, 7.8.13); this does the same, so a connection attempt
    to a device that never answers times out the way it does over a real adapter.
    """

    def on_hci_le_create_connection_cancel_command(self, command: Any) -> Any:
        pending = self.pending_le_connection
        self.pending_le_connection = None
        if pending is not None:
            asyncio.get_running_loop().call_soon(
                self.send_hci_packet,
                hci.HCI_LE_Connection_Complete_Event(
                    status=hci.HCI_ErrorCode.UNKNOWN_CONNECTION_IDENTIFIER_ERROR,
                    connection_handle=0,
                    role=hci.Role.CENTRAL,
                    peer_address_type=pending.peer_address_type,
                    peer_address=pending.peer_address,
                    connection_interval=0,
                    peripheral_latency=0,
                    supervision_timeout=0,
                    central_clock_accuracy=0,
                ),
            )
        return hci.HCI_StatusReturnParameters(hci.HCI_ErrorCode.SUCCESS)


def make_device(link: LocalLink, name: str, address: str, acl_len: int = 251) -> Device:
    """A bumble device with its own controller on ``link`` (not powered on yet).

    ``acl_len``: the controller's LE ACL data length (251 is what LE Data Length Extension gives
    real phones and adapters; bumble's default 27 fragments every notification ~10 times).
    """
    controller = SpecController(name, link=link, public_address=address)
    controller.le_acl_data_packet_length = acl_len
    host = Host(controller, AsyncPipeSink(controller))
    return Device(name=name, address=hci.Address(address), host=host)


class BumbleWorld:
    """One in-process radio: a central bumble device for the bleak backend, plus peripherals.

    Use inside a running loop: ``async with BumbleWorld() as world: ...``.
    """

    def __init__(self, *, mtu: int = 247, bluez_mtu: bool = False) -> None:
        self.link = LocalLink()
        self.mtu = mtu
        #: Report the MTU the way bleak's BlueZ backend does: 23 (with a warning) until
        #: ``_acquire_mtu()`` has been called.
        self.bluez_mtu = bluez_mtu
        self.central = make_device(self.link, "bleak-central", CENTRAL_ADDRESS)
        self.peripherals: list[Any] = []
        self._scanners: set[BumbleScanner] = set()
        self._scanning = False
        self._connect_lock = asyncio.Lock()
        #: address text -> bumble Address (with its type), from advertisements seen.
        self.known_addresses: dict[str, hci.Address] = {}
        self.client_backend: type[BumbleClient] = type(
            "BumbleClient", (BumbleClient,), {"world": self}
        )
        self.scanner_backend: type[BumbleScanner] = type(
            "BumbleScanner", (BumbleScanner,), {"world": self}
        )

    async def __aenter__(self) -> BumbleWorld:
        await self.central.power_on()
        self.central.on(Device.EVENT_ADVERTISEMENT, self._on_advertisement)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for p in list(self.peripherals):
            with contextlib.suppress(Exception):
                await p.close()
        for connection in list(self.central.connections.values()):
            with contextlib.suppress(Exception):
                await connection.disconnect()
        with contextlib.suppress(Exception):
            await self.central.host.reset()  # type: ignore[union-attr]

    # -- scanning, shared by every scanner backend instance (one adapter) -----------------------

    async def _scanner_started(self, scanner: BumbleScanner) -> None:
        self._scanners.add(scanner)
        if not self._scanning:
            self._scanning = True
            await self.central.start_scanning(filter_duplicates=False)

    async def _scanner_stopped(self, scanner: BumbleScanner) -> None:
        self._scanners.discard(scanner)
        if self._scanning and not self._scanners:
            self._scanning = False
            await self.central.stop_scanning()

    def _on_advertisement(self, advertisement: Any) -> None:
        address = advertisement.address.to_string(with_type_qualifier=False)
        self.known_addresses[address] = advertisement.address
        for scanner in list(self._scanners):
            scanner.on_advertisement(address, advertisement)

    def address(self, text: str) -> hci.Address:
        """The bumble address for ``text`` (type from advertisements seen, else random)."""
        key = text.upper()
        if key in self.known_addresses:
            return self.known_addresses[key]
        return hci.Address(key, hci.Address.RANDOM_DEVICE_ADDRESS)


class NoAdapterScanner(BaseBleakScanner):
    """A scanner backend that fails as bleak does on a machine without a Bluetooth adapter."""

    def __init__(self, detection_callback=None, service_uuids=None, *args, **kwargs):
        super().__init__(detection_callback, service_uuids)

    async def start(self):
        raise BleakBluetoothNotAvailableError(
            "No Bluetooth adapters found.", BleakBluetoothNotAvailableReason.NO_BLUETOOTH)

    async def stop(self):
        pass


class BumbleScanner(BaseBleakScanner):
    """bleak scanner backend: advertisements seen by the world's central device."""

    world: BumbleWorld

    def __init__(
        self,
        detection_callback: Any,
        service_uuids: list[str] | None,
        scanning_mode: str = "active",
        **kwargs: Any,
    ) -> None:
        super().__init__(detection_callback, service_uuids)

    async def start(self) -> None:
        self.seen_devices = {}
        await self.world._scanner_started(self)

    async def stop(self) -> None:
        await self.world._scanner_stopped(self)

    def on_advertisement(self, address: str, advertisement: Any) -> None:
        fields = parse_advertising_data(advertisement.data_bytes)
        if not self.is_allowed_uuid(fields["service_uuids"]):
            return
        adv = AdvertisementData(
            rssi=int(advertisement.rssi),
            platform_data=(advertisement,),
            **fields,
        )
        device = self.create_or_update_device(
            address, address, fields["local_name"], advertisement.address, adv
        )
        self.call_detection_callbacks(device, adv)


class BumbleClient(BaseBleakClient):
    """bleak client backend: one GATT connection from the world's central device."""

    world: BumbleWorld

    def __init__(
        self,
        address_or_ble_device: BLEDevice | str,
        *,
        disconnected_callback: Callable[[], None] | None = None,
        timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            address_or_ble_device, disconnected_callback=disconnected_callback, timeout=timeout
        )
        if isinstance(address_or_ble_device, BLEDevice) and isinstance(
            address_or_ble_device.details, hci.Address
        ):
            self._peer_address = address_or_ble_device.details
        else:
            self._peer_address = self.world.address(self.address)
        self._name = getattr(address_or_ble_device, "name", None) or self.address
        self._connection: Connection | None = None
        self._mtu_size: int | None = None
        self._peer: Peer | None = None
        self._subscriptions: dict[int, Callable[[bytes], None]] = {}

    @property
    def name(self) -> str:
        return self._name

    @property
    def mtu_size(self) -> int:
        if self.world.bluez_mtu:
            if self._mtu_size is None:
                warnings.warn("Using default MTU value. Call _acquire_mtu() first", stacklevel=2)
                return 23
            return self._mtu_size
        return self._connection.att_mtu if self._connection is not None else 23

    async def _acquire_mtu(self) -> None:
        """What bleak's BlueZ backend offers to learn the negotiated MTU."""
        self._require_peer()
        assert self._connection is not None
        self._mtu_size = self._connection.att_mtu

    @property
    def is_connected(self) -> bool:
        return self._connection is not None

    async def connect(self, pair: bool, **kwargs: Any) -> None:
        timeout = float(kwargs.get("timeout", self._timeout))
        central = self.world.central
        async with self.world._connect_lock:  # a controller makes one connection at a time
            try:
                connection = await central.connect(self._peer_address, timeout=timeout)
            except core.TimeoutError as e:
                raise TimeoutError(f"{self.address}: no answer to the connection request") from e
            except asyncio.CancelledError:
                # Abandoned (timeout or stop): cancel the pending connection in the controller,
                # as an OS stack does. bumble's own cancel_connection() is a no-op here because
                # its connect() has already cleared its "connecting" flag on the way out.
                with contextlib.suppress(Exception):
                    await asyncio.shield(
                        central.send_sync_command(hci.HCI_LE_Create_Connection_Cancel_Command())
                    )
                raise
            except core.BaseBumbleError as e:
                raise BleakError(f"{self.address}: connection failed: {e}") from e
        self._connection = connection
        connection.on(Connection.EVENT_DISCONNECTION, self._on_disconnection)
        try:
            async with asyncio.timeout(timeout):
                peer = Peer(connection)
                await peer.request_mtu(self.world.mtu)
                await peer.discover_all()
        except BaseException:
            await self.disconnect()
            raise
        self._peer = peer
        self.services = self._service_collection(peer)

    def _service_collection(self, peer: Peer) -> BleakGATTServiceCollection:
        collection = BleakGATTServiceCollection()
        for service in peer.services:
            bs = BleakGATTService(service, service.handle, uuid_str(service.uuid))
            collection.add_service(bs)
            for ch in service.characteristics:
                props = [n for bit, n in _PROPERTY_NAMES.items() if int(ch.properties) & bit]
                bc = BleakGATTCharacteristic(
                    ch, ch.handle, uuid_str(ch.uuid), props, lambda: self.mtu_size - 3, bs
                )
                collection.add_characteristic(bc)
                for d in ch.descriptors:
                    collection.add_descriptor(
                        BleakGATTDescriptor(d, d.handle, uuid_str(d.type), bc)
                    )
        return collection

    def _on_disconnection(self, reason: int) -> None:
        was_connected = self._connection is not None
        self._connection = None
        self._peer = None
        self._subscriptions.clear()
        if was_connected and self._disconnected_callback is not None:
            self._disconnected_callback()

    async def disconnect(self) -> None:
        connection = self._connection
        if connection is None:
            return
        try:
            await connection.disconnect()
        except core.BaseBumbleError:
            pass
        # The disconnection event has run by now (or the link was already gone).
        self._on_disconnection(0)

    async def pair(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("pairing is not emulated")

    async def unpair(self) -> None:
        raise NotImplementedError("pairing is not emulated")

    def _require_peer(self) -> Peer:
        if self._peer is None:
            raise BleakError(f"{self.address}: not connected")
        return self._peer

    async def read_gatt_char(
        self, characteristic: BleakGATTCharacteristic, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return bytearray(await self._require_peer().read_value(characteristic.obj))

    async def read_gatt_descriptor(
        self, descriptor: BleakGATTDescriptor, *, use_cached: bool = False, **kwargs: Any
    ) -> bytearray:
        return bytearray(await self._require_peer().read_value(descriptor.obj))

    async def write_gatt_char(
        self, characteristic: BleakGATTCharacteristic, data: Any, response: bool
    ) -> None:
        await self._require_peer().write_value(
            characteristic.obj, bytes(data), with_response=response
        )

    async def write_gatt_descriptor(self, descriptor: BleakGATTDescriptor, data: Any) -> None:
        await self._require_peer().write_value(descriptor.obj, bytes(data), with_response=True)

    async def start_notify(
        self, characteristic: BleakGATTCharacteristic, callback: NotifyCallback, **kwargs: Any
    ) -> None:
        def on_value(value: bytes) -> None:
            callback(bytearray(value))

        self._subscriptions[characteristic.handle] = on_value
        await self._require_peer().subscribe(characteristic.obj, on_value)

    async def stop_notify(self, characteristic: BleakGATTCharacteristic) -> None:
        on_value = self._subscriptions.pop(characteristic.handle, None)
        await self._require_peer().unsubscribe(characteristic.obj, on_value)




class DeferredWorld:
    """A :class:`BumbleWorld` made inside whichever event loop first scans through it.

    For code that runs its own loop (the command line's ``asyncio.run``): hand
    ``client_backend`` / ``scanner_backend`` to it; the first scan powers the world on in that
    loop and awaits ``populate(world)`` (which starts the emulated peripherals; its result is
    kept in :attr:`result`). :meth:`close` (from the same loop) or the loop's end tears it down.
    """

    def __init__(self, populate: Callable[[BumbleWorld], Any], **world_kwargs: Any) -> None:
        self.populate = populate
        self.world_kwargs = world_kwargs
        self.world: BumbleWorld | None = None
        self.result: Any = None
        holder = self

        class DeferredScanner(BumbleScanner):
            world = property(lambda _self: holder.world)  # type: ignore[assignment]

            async def start(self) -> None:
                await holder.ensure()
                await super().start()

        class DeferredClient(BumbleClient):
            world = property(lambda _self: holder.world)  # type: ignore[assignment]

        self.scanner_backend: type[BumbleScanner] = DeferredScanner
        self.client_backend: type[BumbleClient] = DeferredClient

    async def ensure(self) -> BumbleWorld:
        if self.world is None:
            world = BumbleWorld(**self.world_kwargs)
            await world.__aenter__()
            self.world = world
            self.result = await self.populate(world)
        return self.world

    async def close(self) -> None:
        if self.world is not None:
            await self.world.__aexit__(None, None, None)
