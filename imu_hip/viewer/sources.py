"""Where the viewer's data comes from for ``--sim`` and ``--device`` (no Qt).

Both are live :class:`imu_hip.session.Session` objects run by a
:class:`~imu_hip.viewer.feed.SessionFeeder` in the worker thread: ``--sim`` over virtual devices
(:mod:`imu_hip.ble.virtual`, the simulated runner sent as imu-hip frames), ``--device`` over BLE
(:class:`imu_hip.ble.bleak_link.BleakLink`). The session computes the sacral steps itself; the
viewer only adds stages for other placements (:data:`imu_hip.viewer.feed.STAGE_FACTORIES`).
As in ``imu-hip record``, every session applies the sensors' stored calibrations (and tracks the
gyroscope bias) live: :func:`imu_hip.calibration.session_calibration_for`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from imu_hip.model import ImuHipError
from imu_hip.viewer.feed import Hub, SessionFeeder

SIM_PLACEMENTS = ("sacrum", "left_foot", "right_foot")

#: bleak backends (:class:`imu_hip.ble.bleak_link.BleakBackends`) to use instead of the
#: platform's, for scanning and connecting (tests set this; None: the platform's own).
BLEAK_BACKENDS = None


def simulated_recording(minutes: float = 10.0, seed: int = 7):
    """The demo runner (stand 20 s, walk 30 s, run with fatigue), sacrum and both shoes, as one
    :class:`~imu_hip.model.Recording` (for replays, tests and benchmarks)."""
    from imu_hip.sim import demo_params, simulate

    return simulate(demo_params(minutes), seed=seed).recording


class SessionSource:
    """A feeder factory for :func:`imu_hip.viewer.app.run_viewer`: ``source(hub)`` returns a
    :class:`SessionFeeder` whose session is built in the worker thread from ``make_specs()``
    (a coroutine function returning the :class:`~imu_hip.session.DeviceSpec` list)."""

    is_feeder_factory = True

    def __init__(self, make_specs: Callable[[], Awaitable[list[Any]]], metadata: dict[str, str]):
        self._make_specs = make_specs
        self.metadata = metadata

    def __call__(self, hub: Hub) -> SessionFeeder:
        return SessionFeeder(self._make_session, hub)

    async def _make_session(self, on_block, on_steps):
        from imu_hip import calibration
        from imu_hip.session import Session

        specs = await self._make_specs()
        # stored calibrations (and live gyro-bias tracking) applied live, as imu-hip record does
        return Session(specs, on_block=on_block, on_steps=on_steps, metadata=self.metadata,
                       calibration_for=calibration.session_calibration_for)


def sim_source(placements: tuple[str, ...] = SIM_PLACEMENTS, speed: float = 1.0,
               seed: int = 0, chunk_s: float | None = None) -> SessionSource:
    """Virtual devices wearing one simulated runner (endless, simulated in pieces of
    ``chunk_s``, default that of :mod:`imu_hip.ble.virtual`), ``speed`` x real time."""

    async def make_specs() -> list[Any]:
        from imu_hip.ble.virtual import CHUNK_S, SimSource, VirtualLink
        from imu_hip.session import DeviceSpec

        source = SimSource(placements, duration_s=None, seed=seed, chunk_s=chunk_s or CHUNK_S)
        links = [VirtualLink(pl, source, speed=speed, seed=seed * 7 + i + 1, sensor_id=i)
                 for i, pl in enumerate(placements)]
        return [DeviceSpec(link, link.placement, "imu-hip") for link in links]

    return SessionSource(make_specs, {"command": "imu-hip view", "simulated": "true"})


def device_source(devices: list[tuple[str, str]], protocol: str | None = None,
                  scan_s: float = 10.0) -> SessionSource:
    """BLE devices given as (name or address, placement), all found by one scan of ``scan_s``
    seconds (:func:`imu_hip.ble.scan.find_devices`); the bleak backends are
    :data:`BLEAK_BACKENDS` (None: the platform's)."""

    async def make_specs() -> list[Any]:
        try:
            from imu_hip.ble.bleak_link import BleakBackends, BleakLink
            from imu_hip.ble.scan import find_devices
        except ImportError as err:  # pragma: no cover - depends on the installation
            raise ImuHipError(f"Bluetooth support is not available ({err}); try --sim") from None
        from imu_hip.session import DeviceSpec
        from imu_hip.text import terminal_safe

        backends = BLEAK_BACKENDS or BleakBackends()
        found = await find_devices([name for name, _ in devices], scan_s,
                                   backend=backends.scanner)
        specs = []
        for (name, placement), dev in zip(devices, found, strict=True):
            proto = dev.info.protocol or protocol
            if not proto:
                raise ImuHipError(f"{terminal_safe(name, 80)!r}: unknown protocol; give --protocol")
            link = BleakLink(dev.device, proto, name=dev.info.name, backends=backends)
            specs.append(DeviceSpec(link, placement, proto))
        return specs

    return SessionSource(make_specs, {"command": "imu-hip view", "simulated": "false"})
