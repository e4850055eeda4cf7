"""Emulated BLE sensors: bumble devices with GATT servers that stream protocol bytes.

An :class:`EmulatedPeripheral` is built from a :class:`~imu_hip.protocols.base.GattProfile` (the
same facts the host uses, so a wrong UUID in a profile shows up as a failed test), a frame
generator ``frames(k) -> bytes`` (the k-th notification payload; real protocol bytes from the
protocol's encoder) and an optional control responder. It advertises its name and service UUIDs,
answers the control commands (start / stop, and whatever the responder knows), streams
notifications at ``rate_hz`` while started, and injects faults on request (:class:`Faults`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from bumble import core, gatt
from bumble.device import Connection

from imu_hip.protocols.base import GattProfile

from .backend import BumbleWorld, make_device

#: (command bytes) -> response bytes to notify on the control characteristic, or None.
Responder = Callable[[bytes], bytes | None]

BATTERY_SERVICE = "0000180f-0000-1000-8000-00805f9b34fb"
BATTERY_LEVEL = "00002a19-0000-1000-8000-00805f9b34fb"


@dataclass
class Faults:
    """Faults injected into the notification stream, by frame index ``k`` (0-based, counted over
    the device's whole life, across reconnects; frames due while the device was disconnected
    are skipped, as the sensor's clock runs on).

    ``drop``: frames never sent. ``duplicate``: frames sent twice in a row. ``reorder``: frame k
    is held back and sent after frame k+1. ``corrupt``: one byte of the frame flipped (0xFF xor)
    at position ``len // 2``. ``disconnect_after``: after sending this many frames in total the
    peripheral drops the link itself (once per entry) and advertises again. ``ignore_start``: the
    device accepts connections and writes but never streams.
    """

    drop: set[int] = field(default_factory=set)
    duplicate: set[int] = field(default_factory=set)
    reorder: set[int] = field(default_factory=set)
    corrupt: set[int] = field(default_factory=set)
    disconnect_after: list[int] = field(default_factory=list)
    ignore_start: bool = False


def _uuid(text: str) -> core.UUID:
    return core.UUID(text)


def advertising_data(name: str, service_uuids: tuple[str, ...], battery_pct: int | None) -> bytes:
    """Flags, complete local name, service UUID lists, battery level as service data."""
    out = bytearray([2, 0x01, 0x06])
    encoded = name.encode("utf-8")
    out += bytes([len(encoded) + 1, 0x09]) + encoded
    short = [u for u in service_uuids if u.endswith("-0000-1000-8000-00805f9b34fb")]
    long_ = [u for u in service_uuids if u not in short]
    if short:
        body = b"".join(int(u[4:8], 16).to_bytes(2, "little") for u in short)
        out += bytes([len(body) + 1, 0x03]) + body
    if long_:
        body = b"".join(bytes.fromhex(u.replace("-", ""))[::-1] for u in long_)
        out += bytes([len(body) + 1, 0x07]) + body
    if battery_pct is not None:
        out += bytes([4, 0x16, 0x0F, 0x18, battery_pct])
    return bytes(out)


class EmulatedPeripheral:
    """One emulated sensor on a :class:`BumbleWorld` (create with :meth:`start`)."""

    def __init__(
        self,
        world: BumbleWorld,
        *,
        name: str,
        address: str,
        profile: GattProfile,
        frames: Callable[[int], bytes],
        rate_hz: float = 100.0,
        responder: Responder | None = None,
        response_uuid: str | None = None,
        is_streaming: Callable[[], bool] | None = None,
        start_on_subscribe: bool | None = None,
        faults: Faults | None = None,
        battery_pct: int | None = 87,
        advertise_battery: bool = True,
    ) -> None:
        self.world = world
        self.name = name
        self.address = address
        self.profile = profile
        self.frames = frames
        self.rate_hz = rate_hz
        self.responder = responder
        self.response_uuid = response_uuid
        self.is_streaming = is_streaming
        self.start_on_subscribe = (
            not profile.start_commands if start_on_subscribe is None else start_on_subscribe
        )
        self.faults = faults or Faults()
        self.battery_pct = battery_pct
        self.advertise_battery = advertise_battery
        self.device = make_device(world.link, name, address)
        #: Every write to the control characteristic, in order.
        self.control_writes: list[bytes] = []
        #: How often streaming was started / stopped, and connections accepted.
        self.starts = 0
        self.stops = 0
        self.connections = 0
        #: Frames handed to the radio, by index (after drop/dup/reorder/corrupt).
        self.sent: list[tuple[int, bytes]] = []
        self.next_k = 0
        self._streaming = False
        self._task: asyncio.Task[None] | None = None
        self._held: tuple[int, bytes] | None = None
        self._connection: Connection | None = None
        self._silent = False
        self._t_origin: float | None = None
        self.on_disconnect: Callable[[], None] | None = None
        self._build_gatt()

    # -- GATT -----------------------------------------------------------------------------------

    def _build_gatt(self) -> None:
        props = gatt.Characteristic.Properties
        perms = gatt.Characteristic.Permissions
        self.notify_chars: dict[str, gatt.Characteristic] = {}
        chars: list[gatt.Characteristic] = []
        for u in self.profile.notify_uuids:
            if u == self.profile.control_uuid:
                continue
            ch = gatt.Characteristic(
                _uuid(u), props.NOTIFY | props.READ, perms.READABLE, b"\x00"
            )
            ch.on(ch.EVENT_SUBSCRIPTION, self._on_subscription)
            self.notify_chars[u] = ch
            chars.append(ch)
        self.control_char: gatt.Characteristic | None = None
        if self.profile.control_uuid is not None:
            self.control_char = gatt.Characteristic(
                _uuid(self.profile.control_uuid),
                props.READ | props.WRITE | props.WRITE_WITHOUT_RESPONSE | props.NOTIFY
                | props.INDICATE,
                perms.READABLE | perms.WRITEABLE,
                gatt.CharacteristicValue(read=self._on_control_read, write=self._on_control_write),
            )
            if self.profile.control_uuid in self.profile.notify_uuids:
                self.notify_chars[self.profile.control_uuid] = self.control_char
            chars.append(self.control_char)
        self.response_char = self.control_char
        if self.response_uuid is not None:
            self.response_char = gatt.Characteristic(
                _uuid(self.response_uuid), props.NOTIFY | props.READ, perms.READABLE,
                gatt.CharacteristicValue(read=self._on_control_read),
            )
            chars.append(self.response_char)
        primary = self.profile.service_uuids[0] if self.profile.service_uuids else BATTERY_SERVICE
        self.device.add_service(gatt.Service(_uuid(primary), chars))
        battery = gatt.Characteristic(
            _uuid(BATTERY_LEVEL),
            props.READ | props.NOTIFY,
            perms.READABLE,
            gatt.CharacteristicValue(read=lambda _c: bytes([self.battery_pct or 0])),
        )
        if primary != BATTERY_SERVICE:
            self.device.add_service(gatt.Service(_uuid(BATTERY_SERVICE), [battery]))
        self._last_control_response = b""

    def _on_control_read(self, _connection: object) -> bytes:
        return self._last_control_response

    def _on_control_write(self, _connection: object, value: bytes) -> None:
        value = bytes(value)
        self.control_writes.append(value)
        response = self.responder(value) if self.responder is not None else None
        if self.is_streaming is not None:
            self._set_streaming(self.is_streaming())
        elif value in self.profile.stop_commands:
            self._set_streaming(False)
        elif self.profile.start_commands and value == self.profile.start_commands[-1]:
            if not self.start_on_subscribe:
                self._set_streaming(True)
        if response is not None and self.response_char is not None:
            self._last_control_response = response
            asyncio.get_running_loop().create_task(
                self.device.notify_subscribers(self.response_char, response)
            )

    def _on_subscription(self, _bearer: object, notify: bool, indicate: bool) -> None:
        # Devices without a start command stream as soon as the host subscribes.
        if self.start_on_subscribe:
            self._set_streaming(notify or indicate)

    # -- life cycle -----------------------------------------------------------------------------

    async def start(self) -> EmulatedPeripheral:
        """Power on and advertise (re-advertising after every disconnect)."""
        await self.device.power_on()
        self.device.on("connection", self._on_connection)
        self.world.peripherals.append(self)
        await self._advertise()
        return self

    async def _advertise(self) -> None:
        if self._silent:
            return
        battery = self.battery_pct if self.advertise_battery else None
        await self.device.start_advertising(
            advertising_data=advertising_data(self.name, self.profile.service_uuids, battery),
            advertising_interval_min=20,
            advertising_interval_max=20,
        )

    def _on_connection(self, connection: Connection) -> None:
        self.connections += 1
        self._connection = connection
        connection.on("disconnection", lambda _reason: self._on_disconnection(connection))

    def _on_disconnection(self, connection: Connection) -> None:
        if connection is self._connection:
            self._connection = None
        self._set_streaming(False)
        if self.on_disconnect is not None:  # device state a real sensor loses with the link
            self.on_disconnect()
        if not self._silent:
            asyncio.get_running_loop().create_task(self._advertise())

    async def go_silent(self) -> None:
        """Stop advertising and never answer again (out of range / powered off radio)."""
        self._silent = True
        self._set_streaming(False)
        with contextlib.suppress(Exception):
            await self.device.stop_advertising()

    async def drop_link(self) -> None:
        """Peripheral-initiated disconnect (the device resets or walks out of range)."""
        connection = self._connection
        if connection is not None:
            with contextlib.suppress(core.BaseBumbleError):
                await connection.disconnect()

    async def close(self) -> None:
        self._silent = True
        self._set_streaming(False)
        await self.drop_link()
        with contextlib.suppress(Exception):
            await self.device.stop_advertising()

    # -- streaming ------------------------------------------------------------------------------

    def _set_streaming(self, on: bool) -> None:
        if on and self.faults.ignore_start:
            self.starts += 1
            return
        if on and not self._streaming:
            self.starts += 1
            self._streaming = True
            self._task = asyncio.get_running_loop().create_task(self._stream())
        elif not on and self._streaming:
            self.stops += 1
            self._streaming = False
            if self._task is not None:
                self._task.cancel()
                self._task = None
            self._held = None

    async def _stream(self) -> None:
        data_char = self.notify_chars[self.profile.notify_uuids[0]]
        loop = asyncio.get_running_loop()
        if self._t_origin is None:
            self._t_origin = loop.time()
        # the device keeps sampling while nobody listens: frames due while it was disconnected
        # (or stopped) are never sent, as on a real sensor whose clock runs on
        self.next_k = max(self.next_k, int((loop.time() - self._t_origin) * self.rate_hz))
        t0 = self._t_origin
        while self._streaming:
            k = self.next_k
            self.next_k += 1
            for payload_k, payload in self._apply_faults(k, self.frames(k)):
                self.sent.append((payload_k, payload))
                await self.device.notify_subscribers(data_char, payload)
            if self.faults.disconnect_after and self.next_k >= self.faults.disconnect_after[0]:
                self.faults.disconnect_after.pop(0)
                loop.create_task(self.drop_link())
                return
            await asyncio.sleep(max(0.0, t0 + self.next_k / self.rate_hz - loop.time()))

    def _apply_faults(self, k: int, payload: bytes) -> list[tuple[int, bytes]]:
        f = self.faults
        if k in f.corrupt and payload:
            i = len(payload) // 2
            payload = payload[:i] + bytes([payload[i] ^ 0xFF]) + payload[i + 1 :]
        if k in f.drop:
            return []
        out = [(k, payload)] * (2 if k in f.duplicate else 1)
        if k in f.reorder:
            released = [] if self._held is None else [self._held]
            self._held = (k, payload)
            return released
        if self._held is not None:
            out.append(self._held)
            self._held = None
        return out
