"""Emulated sensors for each protocol, streaming real protocol bytes from the protocol encoders.

Every device streams the same deterministic motion (:func:`signal`), so a test can decode what
arrived and compare with what was sent. ``rate_scale`` speeds a device up (notifications per
host second = real rate x rate_scale) to keep tests short; 1.0 is real time.
"""

from __future__ import annotations

import numpy as np

from imu_hip.model import G

from .backend import BumbleWorld
from .peripherals import EmulatedPeripheral, Faults


def signal(i0: int, n: int, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Samples i0 .. i0+n-1 of a smooth test motion: acc (n, 3) m/s², gyr (n, 3) rad/s."""
    t = (i0 + np.arange(n)) / rate_hz
    w = 2 * np.pi * 2.7  # a stride-like 2.7 Hz
    acc = np.column_stack([1.5 * np.sin(w * t), 0.8 * np.cos(w * t), G + 3.0 * np.sin(2 * w * t)])
    gyr = np.column_stack([0.4 * np.sin(w * t), -0.3 * np.cos(w * t), 0.2 * np.sin(0.5 * w * t)])
    return acc, gyr


async def imu_hip_device(
    world: BumbleWorld,
    address: str,
    *,
    name: str = "IMU-HIP 0001",
    faults: Faults | None = None,
    rate_scale: float = 1.0,
    sensor_id: int = 1,
) -> EmulatedPeripheral:
    """An imu-hip v1 device: reference command handling (:class:`DeviceState`), 400 Hz,
    19 samples per frame (MTU 247), responses on the response characteristic."""
    from imu_hip.protocols import imu_hip_protocol as p

    state = p.DeviceState(sensor_id=sensor_id, battery_pct=77, serial=4242, model="emulated")
    rate = p.RATE_HZ[state.rate]
    per = p.max_samples(247)

    def frames(k: int) -> bytes:
        acc, gyr = signal(k * per, per, rate)
        return p.encode_frame(
            k % p.SEQ_MOD, round(k * per * 1e6 / rate), acc, gyr,
            sensor_id=state.sensor_id, rate_hz=rate,
            acc_range_g=p.ACC_RANGE_G[state.acc_range],
            gyr_range_dps=p.GYR_RANGE_DPS[state.gyr_range],
        )

    dev = EmulatedPeripheral(
        world, name=name, address=address, profile=p.PROFILE, frames=frames,
        rate_hz=rate / per * rate_scale, responder=state.handle_command,
        response_uuid=p.RESPONSE_UUID, is_streaming=lambda: state.streaming, faults=faults,
        battery_pct=77,
    )
    dev.state = state  # type: ignore[attr-defined]
    return await dev.start()


async def witmotion_device(
    world: BumbleWorld, address: str, *, name: str = "WT901BLE68", faults: Faults | None = None,
    rate_scale: float = 1.0, per_notification: int = 1,
) -> EmulatedPeripheral:
    """A WT901BLE: streams 20-byte 0x55 0x61 frames as soon as notifications are enabled."""
    from imu_hip.protocols import witmotion as p

    rate = p.DEFAULT_RATE_HZ

    def frames(k: int) -> bytes:
        acc, gyr = signal(k * per_notification, per_notification, rate)
        return p.encode_frame(acc, gyr)

    dev = EmulatedPeripheral(
        world, name=name, address=address, profile=p.PROFILE, frames=frames,
        rate_hz=rate / per_notification * rate_scale, start_on_subscribe=True, faults=faults,
        battery_pct=None,
    )
    return await dev.start()


async def thingy52_device(
    world: BumbleWorld, address: str, *, name: str = "Thingy", faults: Faults | None = None,
    rate_scale: float = 1.0,
) -> EmulatedPeripheral:
    """A Nordic Thingy:52 streaming raw motion (one sample per notification)."""
    from imu_hip.protocols import thingy52 as p

    rate = p.DEFAULT_RATE_HZ

    def frames(k: int) -> bytes:
        acc, gyr = signal(k, 1, rate)
        return p.encode_sample(acc, gyr)[0]

    dev = EmulatedPeripheral(
        world, name=name, address=address, profile=p.PROFILE, frames=frames,
        rate_hz=rate * rate_scale, start_on_subscribe=True, faults=faults, battery_pct=64,
        advertise_battery=False,
    )
    return await dev.start()


async def rsc_device(
    world: BumbleWorld, address: str, *, name: str = "Stryd", faults: Faults | None = None,
    rate_scale: float = 1.0,
) -> EmulatedPeripheral:
    """A footpod sending Running Speed and Cadence measurements at 1 Hz."""
    from imu_hip.protocols import rsc as p

    def frames(k: int) -> bytes:
        return p.encode_measurement(3.2 + 0.01 * (k % 10), 172.0, 1.12, 10.0 * k)

    dev = EmulatedPeripheral(
        world, name=name, address=address, profile=p.PROFILE, frames=frames,
        rate_hz=1.0 * rate_scale, faults=faults, battery_pct=51,
    )
    return await dev.start()


#: Polar PMD error codes used by the emulated Verity Sense (PMD specification, "error codes").
PMD_SUCCESS, PMD_INVALID_SAMPLE_RATE = 0, 8


async def polar_device(
    world: BumbleWorld, address: str, *, name: str = "Polar Sense 1A2B3C4D",
    faults: Faults | None = None, rate_scale: float = 1.0, per_frame: int = 13,
    gyro_factor: float = 0.061,
) -> EmulatedPeripheral:
    """A Polar Verity Sense: ACC and GYRO at 52 Hz on the PMD data characteristic.

    Refuses the H10's 200 Hz ACC start (invalid sample rate), like the real sensor. ACC frames
    are uncompressed int16 mG (frame type 1), GYRO frames delta-compressed type 0 in °/s x the
    FACTOR sent in the start response. Frame k is ACC for even k, GYRO for odd k; both streams
    use samples (k // 2) * per_frame ... of :func:`signal`.
    """
    from imu_hip.protocols import polar_pmd as p

    rate = 52.0
    running: set[int] = set()
    t0_ns = 830_000_000 * 10**9  # device clock: seconds since 2000 (2026-04-20)

    def respond(cmd: bytes) -> bytes | None:
        if len(cmd) < 2:
            return None
        op, kind = cmd[0], cmd[1]
        if op == p.OP_START:
            settings = p.parse_settings(cmd[2:])
            if settings.get(p.SET_SAMPLE_RATE, [rate])[0] != rate:
                return bytes((p.RESPONSE_CODE, op, kind, PMD_INVALID_SAMPLE_RATE))
            running.add(kind)
            extra = p.encode_setting(p.SET_FACTOR, gyro_factor) if kind == p.GYRO else b""
            return bytes((p.RESPONSE_CODE, op, kind, PMD_SUCCESS, 0)) + extra
        if op == p.OP_STOP:
            running.discard(kind)
            return bytes((p.RESPONSE_CODE, op, kind, PMD_SUCCESS))
        return bytes((p.RESPONSE_CODE, op, kind, 3))  # not supported

    def frames(k: int) -> bytes:
        i0 = (k // 2) * per_frame
        acc, gyr = signal(i0, per_frame, rate)
        ts = t0_ns + round((i0 + per_frame - 1) * 1e9 / rate)
        if k % 2 == 0:
            mg = np.rint(acc / p.MG_TO_MPS2)
            return p.encode_frame(p.ACC, ts, mg, frame_type=0x01)
        counts = np.rint(np.degrees(gyr) / gyro_factor)
        return p.encode_delta_frame(p.GYRO, ts, counts, frame_type=0x80)

    dev = EmulatedPeripheral(
        world, name=name, address=address, profile=p.PROFILE, frames=frames,
        rate_hz=2 * rate / per_frame * rate_scale, responder=respond,
        is_streaming=lambda: bool(running), faults=faults, battery_pct=93,
        advertise_battery=False,
    )

    def on_disconnect_reset() -> None:
        running.clear()

    dev.on_disconnect = on_disconnect_reset  # type: ignore[attr-defined]
    return await dev.start()
