"""Writing a calibration to a device speaking the imu-hip protocol, and reading it back."""

from __future__ import annotations

from typing import Any

import numpy as np

from imu_hip.calibration.record import (
    Calibration,
)
from imu_hip.model import ImuHipError

# ------------------------------------------------------------------------------------------
# writing to / reading from a device speaking the imu-hip protocol


class CommandChannel:
    """Command/response exchange with a device speaking the imu-hip protocol over a
    :class:`imu_hip.ble.link.Link`.

    Responses arrive as notifications on the protocol's Response characteristic: pass them to
    :meth:`on_notification` (from the link's notification handler, or from a
    :class:`~imu_hip.session.Session`'s ``on_response`` while it streams the device; a
    :class:`~imu_hip.ble.bleak_link.BleakLink` subscribes the Response characteristic). Responses
    to commands not sent through this channel (the link's own start / stop) are not taken
    (:meth:`on_notification` returns False). When none arrives within
    ``timeout_s``, the Response characteristic is read once instead (for links or devices that
    allow reading it). Responses are matched to commands by opcode and token.
    """

    def __init__(self, link: Any, timeout_s: float = 2.0):
        self.link = link
        self.timeout_s = timeout_s
        self._token = 0
        self._waiting: dict[tuple[int, int], Any] = {}

    def on_notification(self, uuid: str, data: bytes, received_at: float = 0.0) -> bool:
        """Take a notification; True when it was a response this channel was waiting for."""
        from imu_hip.protocols import imu_hip_protocol as proto

        if str(uuid).lower() != proto.RESPONSE_UUID:
            return False
        try:
            resp = proto.decode_response(bytes(data))
        except ImuHipError:
            return False
        fut = self._waiting.pop((resp.op, resp.token), None)
        if fut is None or fut.done():
            return False
        fut.set_result(resp)
        return True

    def next_token(self) -> int:
        self._token = (self._token + 1) & 0xFF
        return self._token

    async def request(self, op: int, payload: bytes = b"", device_id: str = "device") -> Any:
        """Send one command and return its OK response; :class:`ImuHipError` otherwise."""
        import asyncio

        from imu_hip.protocols import imu_hip_protocol as proto

        token = self.next_token()
        key = (int(op), token)
        fut = asyncio.get_running_loop().create_future()
        self._waiting[key] = fut
        try:
            await self.link.write(proto.CONTROL_UUID, proto.encode_command(op, payload, token))
            try:
                resp = await asyncio.wait_for(asyncio.shield(fut), self.timeout_s)
            except TimeoutError:
                try:
                    resp = proto.decode_response(await self.link.read(proto.RESPONSE_UUID))
                except ImuHipError as e:
                    raise ImuHipError(f"device {device_id}: no response to op {int(op):#04x} "
                                      f"within {self.timeout_s:g} s ({e})") from None
        finally:
            self._waiting.pop(key, None)
        if resp.op != int(op) or resp.token != token:
            raise ImuHipError(f"device {device_id}: answered another command (op {resp.op:#04x}"
                              f", token {resp.token}) instead of op {int(op):#04x}")
        if not resp.ok:
            try:
                status = proto.Status(resp.status).name
            except ValueError:
                status = str(resp.status)
            raise ImuHipError(f"device {device_id}: refused op {int(op):#04x} (status {status})")
        return resp


async def write_to_device(channel: CommandChannel, cal: Calibration) -> Calibration:
    """Write ``cal`` to a device speaking the open imu-hip protocol, read it back and return what
    the device holds; :class:`ImuHipError` when the device refuses or the read-back differs from
    the float32 values sent. (The device stores it; it does not apply it to its data.)"""
    from imu_hip.protocols import imu_hip_protocol as proto

    dev = proto.Calibration(
        tuple(float(v) for v in cal.acc_bias_mps2),
        tuple(tuple(float(v) for v in row) for row in cal.acc_matrix),
        tuple(float(v) for v in cal.gyr_bias_rads),
    )
    await channel.request(proto.Op.WRITE_CALIBRATION, proto.pack_calibration(dev), cal.device_id)
    back = await read_from_device(channel, cal.device_id)
    sent = np.concatenate([cal.acc_bias_mps2, cal.acc_matrix.ravel(), cal.gyr_bias_rads])
    got = np.concatenate([back.acc_bias_mps2, back.acc_matrix.ravel(), back.gyr_bias_rads])
    if not np.array_equal(sent.astype(np.float32), got.astype(np.float32)):
        raise ImuHipError(f"device {cal.device_id}: the calibration read back differs from the "
                          "one written")
    return back


async def read_from_device(channel: CommandChannel, device_id: str) -> Calibration:
    """The calibration stored on a device speaking the imu-hip protocol."""
    from imu_hip.protocols import imu_hip_protocol as proto

    resp = await channel.request(proto.Op.READ_CALIBRATION, b"", device_id)
    dev = resp.fields["calibration"]
    return Calibration(device_id, np.array(dev.acc_bias_mps2), np.array(dev.acc_matrix),
                       np.array(dev.gyr_bias_rads), method="read from the device")
