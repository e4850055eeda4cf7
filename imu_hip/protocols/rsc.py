"""Bluetooth SIG Running Speed and Cadence Measurement (0x2A53): footpods, as a cross-check.

Fields (little-endian; RSC Service 1.0 and the GATT Specification Supplement): flags (u8: bit 0
instantaneous stride length present, bit 1 total distance present, bit 2 running (1) or walking
(0)); instantaneous speed (u16, 1/256 m/s); instantaneous cadence (u8, 1/min: steps per minute,
both feet counted, as the service defines it; a pod that reports strides per minute shows half the
usual running cadence); then, if flagged, instantaneous stride length (u16, 1/100 m) and total
distance (u32, 1/10 m). One notification = one block of one sample, in ``values``: ``speed_mps``,
``cadence_spm``, ``running`` (1/0) and, when sent, ``stride_length_m``, ``distance_m``. No
timestamps: measurements arrive about once per second; ``rate_hz`` is nominal (1 Hz).
"""

from __future__ import annotations

import struct

import numpy as np

from imu_hip.protocols.base import DecodedBlock, Decoder, GattProfile

NAME = "rsc"
SERVICE_UUID = "00001814-0000-1000-8000-00805f9b34fb"
MEASUREMENT_UUID = "00002a53-0000-1000-8000-00805f9b34fb"

FLAG_STRIDE = 0x01
FLAG_DISTANCE = 0x02
FLAG_RUNNING = 0x04
RESERVED_FLAGS = 0xF8


def encode_measurement(speed_mps: float, cadence_spm: float, stride_length_m: float | None = None,
                       distance_m: float | None = None, running: bool = True) -> bytes:
    """One 0x2A53 value (emulated footpods, tests); values rounded and saturated to the field."""
    flags = (FLAG_RUNNING if running else 0) | (FLAG_STRIDE if stride_length_m is not None else 0)
    flags |= FLAG_DISTANCE if distance_m is not None else 0
    out = struct.pack("<BHB", flags, min(0xFFFF, max(0, round(speed_mps * 256))),
                      min(0xFF, max(0, round(cadence_spm))))
    if stride_length_m is not None:
        out += struct.pack("<H", min(0xFFFF, max(0, round(stride_length_m * 100))))
    if distance_m is not None:
        out += struct.pack("<I", min(0xFFFFFFFF, max(0, round(distance_m * 10))))
    return out


class RscDecoder(Decoder):
    """One notification -> one block of one sample (values only)."""

    name = NAME

    def __init__(self, sensor_id: str = "", rate_hz: float = 1.0) -> None:
        super().__init__(sensor_id)
        self.rate_hz = rate_hz

    def feed(self, data: bytes, received_at: float) -> list[DecodedBlock]:
        self.stats.notifications += 1
        self.stats.bytes += len(data)
        data = bytes(data)
        if len(data) < 4:
            self.stats.malformed["short"] += 1
            return []
        flags = data[0]
        size = 4 + 2 * bool(flags & FLAG_STRIDE) + 4 * bool(flags & FLAG_DISTANCE)
        if len(data) < size:
            self.stats.malformed["short"] += 1
            return []
        if len(data) > size:
            self.stats.malformed["long"] += 1
            return []
        _, speed, cadence = struct.unpack_from("<BHB", data)
        values = {
            "speed_mps": np.array([speed / 256.0]),
            "cadence_spm": np.array([float(cadence)]),
            "running": np.array([1.0 if flags & FLAG_RUNNING else 0.0]),
        }
        off = 4
        if flags & FLAG_STRIDE:
            values["stride_length_m"] = np.array([struct.unpack_from("<H", data, off)[0] / 100.0])
            off += 2
        if flags & FLAG_DISTANCE:
            values["distance_m"] = np.array([struct.unpack_from("<I", data, off)[0] / 10.0])
        self.stats.samples += 1
        return [DecodedBlock(
            sensor_id=self.sensor_id,
            rate_hz=self.rate_hz,
            received_at=received_at,
            seq=None,
            device_t_s=None,
            values=values,
        )]


DECODER = RscDecoder

PROFILE = GattProfile(
    protocol=NAME,
    service_uuids=(SERVICE_UUID,),
    notify_uuids=(MEASUREMENT_UUID,),
    name_prefixes=(),
)
