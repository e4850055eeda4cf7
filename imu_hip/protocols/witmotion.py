"""WitMotion WT901BLE / BWT901BLE (BLE 5.0): combined ``0x55 0x61`` frames.

Each 20-byte frame: ``0x55 0x61`` then nine int16 little-endian values: acceleration x, y, z
(±16 g full scale: value / 32768 * 16 g), angular rate x, y, z (±2000 °/s: value / 32768 * 2000),
angles roll, pitch, yaw (value / 32768 * 180°; not decoded, the pipeline computes orientation).
Scale factors from the WitMotion WT901BLE datasheet / BLE 5.0 protocol document. Frames have no
checksum, no sequence number and no timestamp: the session spaces samples at ``rate_hz`` (set
by the start commands). A notification may hold several frames, or a frame may be split across
notifications; bytes that are not a frame are skipped up to the next ``0x55 0x61`` header.
Register-read replies (``0x55 0x71``, also 20 bytes) are skipped without counting as malformed.
"""

from __future__ import annotations

import math

import numpy as np

from imu_hip.model import G
from imu_hip.protocols.base import DecodedBlock, Decoder, GattProfile

NAME = "witmotion"
SERVICE_UUID = "0000ffe5-0000-1000-8000-00805f9a34fb"
NOTIFY_UUID = "0000ffe4-0000-1000-8000-00805f9a34fb"
WRITE_UUID = "0000ffe9-0000-1000-8000-00805f9a34fb"

FRAME_SIZE = 20
HEADER = 0x55
FLAG_DATA = 0x61
FLAG_REGISTER = 0x71
ACC_SCALE_MPS2 = 16.0 * G / 32768.0
GYR_SCALE_RADS = math.radians(2000.0) / 32768.0

#: Output rate codes of register 0x03 (RRATE) -> Hz.
RATE_CODES: dict[float, int] = {10.0: 0x06, 20.0: 0x07, 50.0: 0x08, 100.0: 0x09, 200.0: 0x0B}
DEFAULT_RATE_HZ = 50.0
#: Unlock (``FF AA 69 88 B5``) then write the output rate register (``FF AA 03 <code> 00``).
UNLOCK = bytes((0xFF, 0xAA, 0x69, 0x88, 0xB5))


def cmd_set_rate(rate_hz: float) -> bytes:
    """Write the output rate register (send :data:`UNLOCK` first)."""
    return bytes((0xFF, 0xAA, 0x03, RATE_CODES[float(rate_hz)], 0x00))


def encode_frame(acc_mps2: np.ndarray, gyr_rads: np.ndarray,
                 angles_deg: np.ndarray | None = None) -> bytes:
    """Frames for SI samples (n, 3) each (for emulated devices and tests), quantized, saturated."""
    a = np.asarray(acc_mps2, dtype=np.float64).reshape(-1, 3) / ACC_SCALE_MPS2
    w = np.asarray(gyr_rads, dtype=np.float64).reshape(-1, 3) / GYR_SCALE_RADS
    e = np.zeros_like(a) if angles_deg is None else (
        np.asarray(angles_deg, dtype=np.float64).reshape(-1, 3) / 180.0 * 32768.0)
    x = np.clip(np.rint(np.concatenate([a, w, e], axis=1)), -32768, 32767).astype("<i2")
    head = np.broadcast_to(np.array([HEADER, FLAG_DATA], dtype=np.uint8), (x.shape[0], 2))
    return np.concatenate([head, x.view(np.uint8).reshape(-1, 18)], axis=1).tobytes()


class WitMotionDecoder(Decoder):
    """Stream decoder: reassembles 20-byte frames across notifications, resyncs on garbage."""

    name = NAME

    def __init__(self, sensor_id: str = "", rate_hz: float = DEFAULT_RATE_HZ) -> None:
        super().__init__(sensor_id)
        self.rate_hz = rate_hz
        self._buf = b""

    def feed(self, data: bytes, received_at: float) -> list[DecodedBlock]:
        self.stats.notifications += 1
        self.stats.bytes += len(data)
        buf = self._buf + bytes(data)
        frames: list[bytes] = []
        i, n = 0, len(buf)
        garbage = False
        while i < n:
            if buf[i] != HEADER:
                j = buf.find(bytes((HEADER,)), i + 1)
                garbage = True
                i = n if j < 0 else j
                continue
            if i + 1 >= n:
                break  # lone 0x55 at the end: wait for the next notification
            flag = buf[i + 1]
            if flag not in (FLAG_DATA, FLAG_REGISTER):
                garbage = True
                i += 1
                continue
            if i + FRAME_SIZE > n:
                break  # incomplete frame: keep it for the next notification
            if flag == FLAG_DATA:
                frames.append(buf[i:i + FRAME_SIZE])
            i += FRAME_SIZE
        if garbage:
            self.stats.malformed["garbage"] += 1
        self._buf = buf[i:]
        if not frames:
            return []
        v = np.frombuffer(b"".join(frames), dtype=np.uint8).reshape(-1, FRAME_SIZE)
        x = np.ascontiguousarray(v[:, 2:14]).view("<i2").astype(np.float64)
        self.stats.samples += x.shape[0]
        return [DecodedBlock(
            sensor_id=self.sensor_id,
            rate_hz=self.rate_hz,
            received_at=received_at,
            seq=None,
            device_t_s=None,
            acc_mps2=x[:, :3] * ACC_SCALE_MPS2,
            gyr_rads=x[:, 3:6] * GYR_SCALE_RADS,
        )]


DECODER = WitMotionDecoder

PROFILE = GattProfile(
    protocol=NAME,
    service_uuids=(SERVICE_UUID,),
    notify_uuids=(NOTIFY_UUID,),
    control_uuid=WRITE_UUID,
    start_commands=(UNLOCK, cmd_set_rate(DEFAULT_RATE_HZ)),
    stop_commands=(),
    name_prefixes=("WT901", "BWT901", "WT9011"),
)
