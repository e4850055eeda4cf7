"""A real BLE device through bleak: connect, subscribe, start, stream, reconnect, stop.

:class:`BleakLink` implements :class:`imu_hip.ble.link.Link` for one device speaking one of the
protocols in :mod:`imu_hip.protocols`. Connecting goes through bleak-retry-connector's
``establish_connection`` (its own retries and backoff for the transient errors adapters
produce), bounded by ``connect_timeout_s``; on top of that the link reconnects with exponential
backoff after every loss, always tearing the old client down first and sending the start
commands again. ``max_attempts`` consecutive failed rounds (no connection, or a connection that
delivered no data) end in state ``failed``.

Host time: every notification is stamped with :func:`imu_hip.ble.clock.host_time` (or the
``clock`` passed in): epoch seconds that advance with ``time.monotonic`` and therefore never jump
when the wall clock is set; every link in a process shares the anchor, so stamps compare.

The bleak backend is injectable (:class:`BleakBackends`): the tests run this unchanged code on a
bumble-based backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from bleak import BleakClient, BleakScanner
from bleak.backends.client import BaseBleakClient
from bleak.backends.device import BLEDevice
from bleak.backends.scanner import BaseBleakScanner
from bleak.exc import BleakError

from imu_hip.ble.clock import host_time
from imu_hip.ble.link import DeviceInfo, Link, NotificationHandler, StateHandler
from imu_hip.model import ImuHipError
from imu_hip.protocols.base import GattProfile

_LOG = logging.getLogger(__name__)
_T = TypeVar("_T")

BATTERY_LEVEL_UUID = "00002a19-0000-1000-8000-00805f9b34fb"

@dataclass(frozen=True)
class BleakBackends:
    """bleak backend classes to use instead of the platform's (None: the platform's own)."""

    client: type[BaseBleakClient] | None = None
    scanner: type[BaseBleakScanner] | None = None


def _response_uuids(protocol: str) -> tuple[str, ...]:
    """Command-response characteristics a protocol defines besides its data (subscribed too)."""
    if protocol == "imu-hip":
        from imu_hip.protocols.imu_hip_protocol import RESPONSE_UUID

        return (RESPONSE_UUID,)
    return ()


async def _negotiated_mtu(client: BleakClient) -> int:
    """The connection's ATT MTU. BlueZ reports it only after an AcquireWrite/AcquireNotify,
    which bleak's BlueZ backend does in ``_acquire_mtu()`` (bleak's documented way; it opens
    and closes a file descriptor, nothing else); the other backends know it at once."""
    backend = getattr(client, "_backend", None)
    if getattr(backend, "_mtu_size", 0) is None and hasattr(backend, "_acquire_mtu"):
        try:
            await backend._acquire_mtu()  # type: ignore[union-attr]
        except Exception as e:  # noqa: BLE001 - e.g. no characteristic offers it: keep 23
            _LOG.info("MTU not acquired: %s", _describe(e))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # BlueZ's "using default MTU value"
        return int(client.mtu_size)


class _Stopped(Exception):
    """Raised inside :meth:`BleakLink.run` when :meth:`BleakLink.stop` interrupts a wait."""


def _describe(e: BaseException) -> str:
    text = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


class BleakLink(Link):
    """One BLE device (address or :class:`BLEDevice`) speaking ``protocol``, through bleak.

    ``connect_timeout_s`` bounds one connection round (find the device, connect, discover,
    subscribe, start). ``data_timeout_s``: a connection that delivers no notification for this
    long is treated as lost (a stale link; None disables it). ``max_attempts``: consecutive
    failed rounds before state ``failed``. ``backoff_s``: (first, longest) wait between rounds,
    doubling each time. ``profile`` overrides the protocol's registered GATT profile;
    ``extra_notify_uuids`` are subscribed too, when the device has them, and delivered the same
    way (default: the protocol's command-response characteristic, e.g. imu-hip's; the session
    ignores what is not sample data).
    """

    def __init__(
        self,
        device: BLEDevice | str,
        protocol: str,
        *,
        name: str | None = None,
        profile: GattProfile | None = None,
        extra_notify_uuids: tuple[str, ...] | None = None,
        backends: BleakBackends | None = None,
        clock: Callable[[], float] = host_time,
        connect_timeout_s: float = 20.0,
        scan_timeout_s: float = 10.0,
        data_timeout_s: float | None = 5.0,
        max_attempts: int = 6,
        backoff_s: tuple[float, float] = (0.5, 15.0),
        connector_attempts: int = 2,
    ) -> None:
        if profile is None:
            from imu_hip.protocols import profile as registered_profile

            profile = registered_profile(protocol)
        self.profile = profile
        if extra_notify_uuids is None:
            extra_notify_uuids = _response_uuids(protocol)
        self.extra_notify_uuids = tuple(u.lower() for u in extra_notify_uuids)
        self.backends = backends or BleakBackends()
        self.clock = clock
        self.connect_timeout_s = connect_timeout_s
        self.scan_timeout_s = scan_timeout_s
        self.data_timeout_s = data_timeout_s
        self.max_attempts = max(1, int(max_attempts))
        self.backoff_s = backoff_s
        self.connector_attempts = connector_attempts
        if isinstance(device, BLEDevice):
            self._device: BLEDevice | None = device
            address = device.address
            name = name or device.name or device.address
        else:
            self._device = None
            address = device
            name = name or device
        self.info = DeviceInfo(name=name, address=address, protocol=protocol)
        #: Negotiated ATT MTU of the current (or last) connection, None before the first.
        self.mtu: int | None = None
        #: Connections made (the first one included) and connection rounds that failed.
        self.connections = 0
        self.failed_rounds = 0
        self._client: BleakClient | None = None
        self._stop = asyncio.Event()
        self._lost = asyncio.Event()
        self._running = False
        self._done = asyncio.Event()
        self._done.set()
        self._last_rx = 0.0
        self._rx_count = 0

    # -- Link interface -------------------------------------------------------------------------

    async def run(self, on_notification: NotificationHandler, on_state: StateHandler) -> None:
        if self._running:
            raise ImuHipError(f"{self.info.address}: link is already running")
        self._running = True
        self._done.clear()
        try:
            await self._run(on_notification, on_state)
        finally:
            if self._client is not None:  # run() itself was cancelled while connected
                await asyncio.shield(self._teardown(self._client, send_stop=True))
            self._running = False
            self._done.set()

    async def stop(self) -> None:
        """Stop streaming and disconnect; a stopped link stays stopped (also if :meth:`run`
        has not started yet: it then returns at once)."""
        self._stop.set()
        if self._running:
            await self._done.wait()

    async def write(self, uuid: str, data: bytes) -> None:
        client = self._require_client()
        try:
            await client.write_gatt_char(uuid, data, response=True)
        except (BleakError, OSError, TimeoutError) as e:
            raise ImuHipError(f"{self.info.address}: write to {uuid} failed: {_describe(e)}") from e

    async def read(self, uuid: str) -> bytes:
        client = self._require_client()
        try:
            return bytes(await client.read_gatt_char(uuid))
        except (BleakError, OSError, TimeoutError) as e:
            raise ImuHipError(f"{self.info.address}: read of {uuid} failed: {_describe(e)}") from e

    # -- the connection loop --------------------------------------------------------------------

    async def _run(self, on_notification: NotificationHandler, state_handler: StateHandler) -> None:
        def on_state(state: str, detail: str) -> None:
            try:
                state_handler(state, detail)
            except Exception:  # a faulty consumer must not take the link down
                _LOG.exception("%s: state handler failed", self.info.address)

        failures = 0
        detail = ""
        first = True
        while not self._stop.is_set():
            on_state("connecting" if first else "reconnecting", detail)
            first = False
            client: BleakClient | None = None
            try:
                client = await self._until_stopped(self._open(on_notification))
            except _Stopped:
                break
            except Exception as e:  # noqa: BLE001 - OS stacks raise many types; all retried
                _LOG.debug("%s: connection round failed", self.info.address, exc_info=True)
                failures += 1
                self.failed_rounds += 1
                detail = f"attempt {failures}/{self.max_attempts} failed: {_describe(e)}"
                _LOG.info("%s: %s", self.info.address, detail)
            else:
                on_state("streaming", f"MTU {self.mtu}")
                reason, got_data = await self._watch()
                await self._teardown(client, send_stop=self._stop.is_set())
                if self._stop.is_set():
                    break
                failures = 0 if got_data else failures + 1
                if not got_data:
                    self.failed_rounds += 1
                detail = reason if got_data else f"attempt {failures}/{self.max_attempts}: {reason}"
            if failures >= self.max_attempts:
                on_state("failed", detail)
                return
            try:
                await self._until_stopped(asyncio.sleep(self._backoff(failures)))
            except _Stopped:
                break
        on_state("stopped", "")

    def _backoff(self, failures: int) -> float:
        first, longest = self.backoff_s
        wait = min(longest, first * 2 ** max(0, failures - 1))
        return wait * random.uniform(0.8, 1.0)  # spread reconnects of several devices

    async def _until_stopped(self, aw: Awaitable[_T]) -> _T:
        """Await ``aw`` unless :meth:`stop` is called first (then cancel it, raise _Stopped)."""
        task = asyncio.ensure_future(aw)
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()
            raise
        finally:
            stopper.cancel()
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(BaseException):
            result = await task
            if isinstance(result, BleakClient):  # connected in the very last moment
                await self._teardown(result, send_stop=False)
        raise _Stopped

    async def _find_device(self) -> BLEDevice:
        if self._device is not None:
            return self._device
        kwargs: dict[str, Any] = {}
        if self.backends.scanner is not None:
            kwargs["backend"] = self.backends.scanner
        device = await BleakScanner.find_device_by_address(
            self.info.address, timeout=self.scan_timeout_s, **kwargs
        )
        if device is None:
            raise ImuHipError(f"{self.info.address} not found within {self.scan_timeout_s:g} s")
        return device

    async def _open(self, on_notification: NotificationHandler) -> BleakClient:
        """One connection round: find, connect (with retries), subscribe, start. Bounded."""
        from bleak_retry_connector import BleakNotFoundError, establish_connection

        async with asyncio.timeout(self.connect_timeout_s):
            device = await self._find_device()
            kwargs: dict[str, Any] = {"timeout": self.connect_timeout_s}
            if self.backends.client is not None:
                kwargs["backend"] = self.backends.client
            self._lost.clear()
            try:
                client = await establish_connection(
                    BleakClient,
                    device,
                    self.info.name,
                    disconnected_callback=self._on_disconnected,
                    max_attempts=self.connector_attempts,
                    **kwargs,
                )
            except BleakNotFoundError:
                if not isinstance(self._device, BLEDevice) or self._device is device:
                    self._device = None  # look for it again next round (BlueZ forgets devices)
                raise
            self._client = client
            try:
                await self._setup(client, on_notification)
            except BaseException:
                await self._teardown(client, send_stop=False)
                raise
        self.connections += 1
        return client

    async def _setup(self, client: BleakClient, on_notification: NotificationHandler) -> None:
        services = client.services
        self.mtu = await _negotiated_mtu(client)
        missing = [u for u in self.profile.notify_uuids if services.get_characteristic(u) is None]
        control = self.profile.control_uuid
        if control is not None and services.get_characteristic(control) is None:
            missing.append(control)
        if missing:
            raise ImuHipError(
                f"{self.info.address} does not speak {self.info.protocol}: "
                f"no characteristic {', '.join(missing)}"
            )
        if services.get_characteristic(BATTERY_LEVEL_UUID) is not None:
            with contextlib.suppress(BleakError, OSError, TimeoutError):
                level = await client.read_gatt_char(BATTERY_LEVEL_UUID)
                if len(level) >= 1 and level[0] <= 100:
                    self.info = dataclasses.replace(self.info, battery_pct=int(level[0]))

        # what counts as data for the watchdog: not command responses (imu-hip's response
        # characteristic, Polar's control point), which a device sends without streaming
        data_uuids = {u.lower() for u in self.profile.notify_uuids} - {
            (self.profile.control_uuid or "").lower()
        }

        def deliver(characteristic: Any, data: bytearray) -> None:
            received_at = self.clock()
            if characteristic.uuid in data_uuids:
                self._last_rx = time.monotonic()
                self._rx_count += 1
            try:
                on_notification(characteristic.uuid, bytes(data), received_at)
            except Exception:  # a faulty consumer must not take the link down
                _LOG.exception("%s: notification handler failed", self.info.address)

        extra = [u for u in self.extra_notify_uuids if services.get_characteristic(u) is not None]
        for uuid in (*self.profile.notify_uuids, *extra):
            await client.start_notify(uuid, deliver)
        self._last_rx = time.monotonic()
        self._rx_count = 0
        if self.profile.control_uuid is not None:
            for command in self.profile.start_commands:
                await client.write_gatt_char(self.profile.control_uuid, command, response=True)

    def _on_disconnected(self, client: BleakClient) -> None:
        if client is self._client:
            self._lost.set()

    async def _watch(self) -> tuple[str, bool]:
        """Wait while streaming; returns (why it ended, whether any data arrived)."""
        while True:
            if self._stop.is_set():
                return "stopped", self._rx_count > 0
            if self._lost.is_set():
                return "link lost", self._rx_count > 0
            if self.data_timeout_s is None:
                timeout = None
            else:
                timeout = self.data_timeout_s - (time.monotonic() - self._last_rx)
                if timeout <= 0:
                    what = "no data" if self._rx_count == 0 else "data stopped"
                    return f"{what} for {self.data_timeout_s:g} s", self._rx_count > 0
            waiters = [asyncio.ensure_future(e.wait()) for e in (self._stop, self._lost)]
            try:
                await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waiters:
                    w.cancel()

    async def _teardown(self, client: BleakClient, *, send_stop: bool) -> None:
        """Stop (optionally) and disconnect ``client``; never raises."""
        if self._client is client:
            self._client = None
        # bounded so that stop() returns within ~4 s whatever the device does
        try:
            async with asyncio.timeout(2.0):
                if send_stop and client.is_connected and self.profile.control_uuid is not None:
                    for command in self.profile.stop_commands:
                        await client.write_gatt_char(
                            self.profile.control_uuid, command, response=True
                        )
        except Exception as e:  # the device may be gone already
            _LOG.info("%s: stop commands not sent: %s", self.info.address, _describe(e))
        try:
            async with asyncio.timeout(2.0):
                await client.disconnect()
        except Exception as e:
            _LOG.info("%s: disconnect failed: %s", self.info.address, _describe(e))

    def _require_client(self) -> BleakClient:
        client = self._client
        if client is None or not client.is_connected:
            raise ImuHipError(f"{self.info.address}: not connected")
        return client
