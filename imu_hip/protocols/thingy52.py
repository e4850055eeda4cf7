"""Nordic Thingy:52 Motion Service raw data characteristic (accelerometer, gyroscope, compass).

One notification = one sample, 18 bytes: int16 little-endian accel x, y, z; gyro x, y, z;
compass x, y, z (``ble_tms_raw_t``). The Thingy firmware holds the MPU-9250's data in 16Q16 fixed
point and shifts it right by the integer bits before sending (Nordic-Thingy52-FW,
source/modules/m_motion.c: RAW_Q_FORMAT_ACC_INTEGER_BITS 6, GYR 11, CMP 12), which leaves
10 / 5 / 4 fractional bits: accel in g with 1/1024 g per count (Q6.10), gyro in °/s with
1/32 °/s per count (Q11.5), compass in µT with 1/16 µT per count (Q12.4).

Sign: the firmware hands the accelerometer to InvenSense's MPL with the orientation matrix -I,
"inverted to get positive readings when axis is aligned with g (down)" (source/drivers/
drv_motion.c, ``s_accel_pdata``), while the gyroscope's matrix is +I. So a Thingy lying flat
sends accel z = -1 g. imu-hip uses proper acceleration (at rest, z up reads +9.81 m/s²) in the
gyroscope's axes, so the decoder negates the accelerometer. The stock firmware does not set the
accelerometer's full scale, which stays at the driver's default (±2 g on the MPU-9250 with
InvenSense's motion driver): running impacts clip; the gyroscope runs at ±2000 °/s. No sequence
number and
no timestamp: samples are spaced at ``rate_hz``, which the start command writes into the Motion
configuration characteristic (``motion_freq_hz``, 1-200 Hz, ble_tms.h).
"""

from __future__ import annotations

import math
import struct

import numpy as np

from imu_hip.model import G
from imu_hip.protocols.base import DecodedBlock, Decoder, GattProfile

NAME = "thingy52"


def _uuid(short: int) -> str:
    return f"ef68{short:04x}-9b35-4933-9b10-52ffa9740042"


SERVICE_UUID = _uuid(0x0400)
#: The Thingy Configuration Service, which the stock firmware advertises.
CONFIG_SERVICE_UUID = _uuid(0x0100)
CONFIG_UUID = _uuid(0x0401)
RAW_UUID = _uuid(0x0406)

FRAME_SIZE = 18
ACC_SCALE_MPS2 = G / 1024.0  # Q6.10 g
GYR_SCALE_RADS = math.radians(1.0 / 32.0)  # Q11.5 deg/s
MAG_SCALE_T = 1e-6 / 16.0  # Q12.4 uT -> tesla
DEFAULT_RATE_HZ = 200.0
_RAW = struct.Struct("<9h")
# the firmware sends -(proper acceleration): the accelerometer scale is negative
_SCALES = np.array([-ACC_SCALE_MPS2] * 3 + [GYR_SCALE_RADS] * 3 + [MAG_SCALE_T] * 3)


def cmd_config(motion_freq_hz: int = 200, pedo_interval_ms: int = 1000,
               temp_interval_ms: int = 1000, compass_interval_ms: int = 1000,
               wake_on_motion: int = 0) -> bytes:
    """Motion configuration (``ble_tms_config_t``, 9 bytes): 4 x u16 LE then u8."""
    return struct.pack("<HHHHB", pedo_interval_ms, temp_interval_ms, compass_interval_ms,
                       motion_freq_hz, wake_on_motion)


def encode_sample(acc_mps2: np.ndarray, gyr_rads: np.ndarray,
                  mag_t: np.ndarray | None = None) -> list[bytes]:
    """One 18-byte notification per SI sample (emulated devices, tests); saturated at int16."""
    a = np.asarray(acc_mps2, dtype=np.float64).reshape(-1, 3) / -ACC_SCALE_MPS2
    w = np.asarray(gyr_rads, dtype=np.float64).reshape(-1, 3) / GYR_SCALE_RADS
    m = np.zeros_like(a) if mag_t is None else (
        np.asarray(mag_t, dtype=np.float64).reshape(-1, 3) / MAG_SCALE_T)
    x = np.clip(np.rint(np.concatenate([a, w, m], axis=1)), -32768, 32767).astype("<i2")
    return [row.tobytes() for row in x]


class Thingy52Decoder(Decoder):
    """One 18-byte raw notification -> one sample; other lengths are malformed."""

    name = NAME

    def __init__(self, sensor_id: str = "", rate_hz: float = DEFAULT_RATE_HZ) -> None:
        super().__init__(sensor_id)
        self.rate_hz = rate_hz

    def feed(self, data: bytes, received_at: float) -> list[DecodedBlock]:
        self.stats.notifications += 1
        self.stats.bytes += len(data)
        if len(data) != FRAME_SIZE:
            self.stats.malformed["short" if len(data) < FRAME_SIZE else "long"] += 1
            return []
        x = np.array(_RAW.unpack(data), dtype=np.float64) * _SCALES
        self.stats.samples += 1
        return [DecodedBlock(
            sensor_id=self.sensor_id,
            rate_hz=self.rate_hz,
            received_at=received_at,
            seq=None,
            device_t_s=None,
            acc_mps2=x[None, 0:3],
            gyr_rads=x[None, 3:6],
            values={"mag_x_t": x[6:7], "mag_y_t": x[7:8], "mag_z_t": x[8:9]},
        )]


DECODER = Thingy52Decoder

PROFILE = GattProfile(
    protocol=NAME,
    service_uuids=(SERVICE_UUID, CONFIG_SERVICE_UUID),
    notify_uuids=(RAW_UUID,),
    control_uuid=CONFIG_UUID,
    start_commands=(cmd_config(int(DEFAULT_RATE_HZ)),),
    stop_commands=(),
    name_prefixes=("Thingy",),
)
