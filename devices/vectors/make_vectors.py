"""Regenerate imu_hip_v1.json, the golden vectors of the imu-hip protocol (version 1).

Run from the repository root: ``python devices/vectors/make_vectors.py``. The bytes come from the
Python reference encoder and the reference device (imu_hip.protocols.imu_hip_protocol); the
expected SI values are computed here from the counts with the formulas of devices/PROTOCOL.md
(not through the decoder). The C encoder in devices/firmware/ must reproduce every byte; the test
suite checks both. Changing an existing vector is a protocol change: bump the version instead.
"""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

import numpy as np

from imu_hip.protocols import imu_hip_protocol as p

G = 9.80665
RATES = {1: 12.5, 2: 25.0, 3: 50.0, 4: 100.0, 5: 200.0, 6: 400.0, 7: 800.0, 8: 1600.0,
         9: 26.0, 10: 52.0, 11: 104.0, 12: 208.0, 13: 416.0, 14: 833.0, 15: 1666.0,
         16: 500.0, 17: 1000.0}


def frame_case(name, counts, *, sensor_id=0, seq=0, t0_us=0, rate=6, acc=3, gyr=4):
    counts = np.asarray(counts, dtype=np.int64).reshape(-1, 6)
    raw = p.encode_frame_counts(seq, t0_us, counts, sensor_id=sensor_id, rate=rate,
                                acc_range=acc, gyr_range=gyr)
    acc_lsb = (2 << acc) * G / 32768.0
    gyr_lsb = math.radians(125 << gyr) / 32768.0
    hz = RATES[rate]
    t0_wire = t0_us % (1 << 48)
    return {
        "name": name,
        "input": {"sensor_id": sensor_id, "seq": seq, "t0_us": t0_us, "rate_code": rate,
                  "acc_range_code": acc, "gyr_range_code": gyr, "counts": counts.tolist()},
        "hex": raw.hex(),
        "expected": {
            "sensor_id": sensor_id,
            "seq": seq % 65536,
            "t0_us": t0_wire,
            "rate_hz": hz,
            "device_t_s": [t0_wire * 1e-6 + i / hz for i in range(len(counts))],
            "acc_mps2": (counts[:, :3] * acc_lsb).tolist(),
            "gyr_rads": (counts[:, 3:] * gyr_lsb).tolist(),
        },
    }


def main() -> None:
    rng = np.random.default_rng(20261127)
    frames = [
        frame_case("one_sample_at_rest", [[0, 0, 2048, 0, 0, 0]]),
        frame_case("full_scale_positive", [[32767] * 6] * 2, rate=1, acc=0, gyr=0),
        frame_case("full_scale_negative", [[-32768] * 6] * 2, rate=15, acc=4, gyr=5),
        frame_case("small_negative", [[-1, -2, -3, -4, -5, -6], [-256, -255, -129, -128, -127, 1]],
                   rate=14, acc=1, gyr=2),
        frame_case("seq_wrap", [[1, 2, 3, 4, 5, 6]], seq=65535, t0_us=1_000_000),
        frame_case("timestamp_wrap", [[10, 20, 30, 40, 50, 60]] * 3, seq=7,
                   t0_us=(1 << 48) - 1),
        frame_case("max_samples_mtu247", rng.integers(-32768, 32768, (19, 6)), sensor_id=3,
                   seq=4242, t0_us=987_654_321, rate=6),
        frame_case("max_samples_255", rng.integers(-32768, 32768, (255, 6)), sensor_id=255,
                   seq=12345, t0_us=123_456_789_012, rate=17, acc=2, gyr=3),
        frame_case("every_rate_code_16", [[100, -100, 1000, -1000, 32000, -32000]], rate=16),
    ]

    def seq_frames(seqs, t0s, rate=6):
        return [p.encode_frame_counts(s, t, np.full((19, 6), k, dtype=np.int64), rate=rate).hex()
                for k, (s, t) in enumerate(zip(seqs, t0s, strict=True))]

    step = 47_500  # 19 samples at 400 Hz, in us
    top = 1 << 48
    sequences = [
        {"name": "seq_wrap", "frames": seq_frames([65534, 65535, 0, 1], [0, step, 2 * step,
                                                                           3 * step]),
         "expected_seq": [65534, 65535, 65536, 65537],
         "expected_t0_us": [0, step, 2 * step, 3 * step]},
        {"name": "timestamp_wrap", "frames": seq_frames([5, 6, 7], [top - step, 0, step]),
         "expected_seq": [5, 6, 7], "expected_t0_us": [top - step, top, top + step]},
        {"name": "duplicate_and_reorder",
         "frames": seq_frames([10, 11, 11, 13, 12], [0, step, step, 3 * step, 2 * step]),
         "expected_seq": [10, 11, 11, 13, 12],
         "expected_t0_us": [0, step, step, 3 * step, 2 * step]},
    ]

    good = bytes.fromhex(frames[0]["hex"])

    def recrc(b: bytes) -> str:
        return (b[:-2] + struct.pack("<H", p.crc16(b[:-2]))).hex()

    flipped = bytearray(good)
    flipped[14] ^= 0x10
    malformed = [
        {"name": "empty", "hex": "", "reason": "short"},
        {"name": "header_only", "hex": good[:13].hex(), "reason": "short"},
        {"name": "truncated", "hex": good[:-1].hex(), "reason": "short"},
        {"name": "extra_byte", "hex": (good + b"\x00").hex(), "reason": "long"},
        {"name": "bit_flip", "hex": bytes(flipped).hex(), "reason": "bad_crc"},
        {"name": "version_2", "hex": recrc(b"\x02" + good[1:]), "reason": "unknown_version"},
        {"name": "zero_samples", "hex": recrc(good[:10] + b"\x00" + good[11:13] + b"\0\0"),
         "reason": "empty"},
        {"name": "rate_code_0", "hex": recrc(good[:11] + b"\x00" + good[12:]),
         "reason": "bad_rate"},
        {"name": "acc_range_5", "hex": recrc(good[:12] + b"\x45" + good[13:]),
         "reason": "bad_range"},
        {"name": "gyr_range_6", "hex": recrc(good[:12] + b"\x63" + good[13:]),
         "reason": "bad_range"},
    ]

    cal = p.Calibration((0.125, -0.25, 0.5), ((1.0009765625, 0.0, -0.001953125),
                                             (0.0, 0.99951171875, 0.0),
                                             (0.00390625, 0.0, 1.5)), (-0.015625, 0.0078125, 0.0))
    nan_cal = p.pack_calibration(cal)[:-4] + struct.pack("<f", math.nan)
    device = {"battery_pct": 87, "battery_mv": 3912, "charging": 0, "firmware": [1, 2, 3],
              "serial": 305419896, "model": "IMU-HIP-S1"}
    commands = [
        p.encode_command(p.Op.GET_CONFIG, token=1),
        p.encode_command(p.Op.BATTERY, token=2),
        p.encode_command(p.Op.DEVICE_INFO, token=3),
        p.cmd_set_rate(100.0, token=4),
        p.cmd_set_range(8, 1000, token=5),
        p.encode_command(p.Op.GET_CONFIG, token=6),
        p.cmd_start(token=7),
        p.cmd_set_rate(200.0, token=8),
        p.cmd_set_range(4, 500, token=9),
        p.cmd_stop(token=10),
        p.encode_command(p.Op.READ_CALIBRATION, token=11),
        p.cmd_write_calibration(cal, token=12),
        p.encode_command(p.Op.READ_CALIBRATION, token=13),
        p.encode_command(p.Op.WRITE_CALIBRATION, nan_cal, token=14),
        p.encode_command(p.Op.WRITE_CALIBRATION, b"\x00" * 59, token=15),
        p.encode_command(p.Op.SET_RATE, b"\x00", token=16),
        p.encode_command(p.Op.SET_RATE, b"\x12", token=17),
        p.encode_command(p.Op.SET_RANGE, b"\x05\x00", token=18),
        p.encode_command(p.Op.SET_RANGE, b"\x00\x06", token=19),
        p.encode_command(p.Op.SET_SENSOR_ID, b"\x09", token=20),
        p.encode_command(0x33, b"\x01\x02", token=21),
        p.encode_command(p.Op.START, b"\x00", token=22),
        b"",
        b"\x05",
        p.encode_command(p.Op.GET_CONFIG, token=255),
    ]
    state = p.DeviceState(battery_pct=87, battery_mv=3912, charging=False, firmware=(1, 2, 3),
                          serial=305419896, model="IMU-HIP-S1")
    exchanges = [{"command": c.hex(), "response": state.handle_command(c).hex()}
                 for c in commands]

    out = {
        "protocol": "imu-hip",
        "version": 1,
        "note": "Generated by devices/vectors/make_vectors.py; see devices/PROTOCOL.md.",
        "crc": {"name": "CRC-16/CCITT-FALSE",
                "cases": [{"hex": b"123456789".hex(), "crc": "29b1"},
                          {"hex": "", "crc": "ffff"},
                          {"hex": good[:-2].hex(), "crc": good[-2:][::-1].hex()}]},
        "frames": frames,
        "sequences": sequences,
        "malformed": malformed,
        "sessions": [{"name": "configure_stream_calibrate", "device": device,
                      "exchanges": exchanges}],
    }
    path = Path(__file__).with_name("imu_hip_v1.json")
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path} ({len(frames)} frames, {len(malformed)} malformed, "
          f"{len(exchanges)} exchanges)")


if __name__ == "__main__":
    main()
