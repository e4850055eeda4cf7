"""witmotion, thingy52 and rsc decoders: scale factors, framing, malformed input."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

import imu_hip.protocols as protocols
from imu_hip.model import G
from imu_hip.protocols import rsc, thingy52, witmotion

# A WT901BLE notification (one 0x55 0x61 frame) as published in a public example
WIT_FRAME = bytes([85, 97, 119, 2, 168, 254, 146, 254, 6, 2, 48, 254, 205, 255, 248, 240, 83,
                   252, 171, 196])


def _wit_expected(frame: bytes) -> tuple[np.ndarray, np.ndarray]:
    v = np.array(struct.unpack("<9h", frame[2:]), dtype=float)
    return v[:3] / 32768 * 16 * G, np.radians(v[3:6] / 32768 * 2000)


def test_witmotion_scale_factors():
    (b,) = protocols.decoder("witmotion", "shoe").feed(WIT_FRAME, 1.0)
    acc, gyr = _wit_expected(WIT_FRAME)
    np.testing.assert_allclose(b.acc_mps2[0], acc, rtol=1e-12)
    np.testing.assert_allclose(b.gyr_rads[0], gyr, rtol=1e-12)
    assert b.device_t_s is None and b.seq is None and b.rate_hz == witmotion.DEFAULT_RATE_HZ


def test_witmotion_full_scale():
    raw = witmotion.encode_frame(np.full((1, 3), -20 * G), np.full((1, 3), -50.0))
    (b,) = witmotion.WitMotionDecoder().feed(raw, 0.0)
    np.testing.assert_allclose(b.acc_mps2, -16 * G)  # saturated at -32768 = -16 g exactly
    np.testing.assert_allclose(b.gyr_rads, -math.radians(2000))


@pytest.mark.parametrize("cut", range(1, 40))
def test_witmotion_split_and_merged(cut):
    rng = np.random.default_rng(cut)
    acc = rng.normal(0, 30, (3, 3))
    gyr = rng.normal(0, 5, (3, 3))
    stream = witmotion.encode_frame(acc, gyr)
    dec = witmotion.WitMotionDecoder()
    blocks = dec.feed(stream[:cut], 0.0) + dec.feed(stream[cut:], 1.0)
    got = np.concatenate([b.acc_mps2 for b in blocks])
    assert got.shape == (3, 3)
    np.testing.assert_allclose(got, acc, atol=0.5 * witmotion.ACC_SCALE_MPS2 + 1e-12)
    assert dec.stats.malformed_total == 0 and dec.stats.samples == 3


def test_witmotion_resyncs_on_garbage_and_skips_register_frames():
    reg = bytes((0x55, 0x71)) + bytes(range(18))
    data = b"\x00\x01\x55\x02" + WIT_FRAME + reg + b"\xff" + WIT_FRAME
    dec = witmotion.WitMotionDecoder()
    blocks = dec.feed(data[:7], 0.0) + dec.feed(data[7:], 0.0)
    assert sum(len(b) for b in blocks) == 2
    assert dec.stats.malformed["garbage"] >= 1
    for b in blocks:
        np.testing.assert_allclose(b.acc_mps2[0], _wit_expected(WIT_FRAME)[0])


def test_thingy52_scale_factors():
    # Q6.10 g, Q11.5 deg/s, Q12.4 uT (Nordic Thingy:52 firmware, m_motion.c); the firmware's
    # accelerometer reads +1 g on an axis pointing down, so flat on a table z = -1024 counts
    raw = struct.pack("<9h", 1024, -512, -1024, 32, -64, 3200, 16, -160, 800)
    (b,) = protocols.decoder("thingy52").feed(raw, 0.0)
    np.testing.assert_allclose(b.acc_mps2[0], [-G, 0.5 * G, G])  # proper acceleration, z up
    np.testing.assert_allclose(b.gyr_rads[0], np.radians([1.0, -2.0, 100.0]))
    np.testing.assert_allclose([b.values[f"mag_{a}_t"][0] for a in "xyz"],
                               [1e-6, -10e-6, 50e-6])
    assert b.device_t_s is None and b.rate_hz == thingy52.DEFAULT_RATE_HZ


def test_thingy52_encoder_round_trip_and_config():
    acc, gyr = np.array([[0.1, -9.8, 3.0]]), np.array([[0.5, -1.0, 2.0]])
    (b,) = thingy52.Thingy52Decoder().feed(thingy52.encode_sample(acc, gyr)[0], 0.0)
    np.testing.assert_allclose(b.acc_mps2, acc, atol=0.5 * thingy52.ACC_SCALE_MPS2)
    np.testing.assert_allclose(b.gyr_rads, gyr, atol=0.5 * thingy52.GYR_SCALE_RADS)
    cfg = thingy52.cmd_config(200)
    assert len(cfg) == 9 and struct.unpack("<HHHHB", cfg)[3] == 200


@pytest.mark.parametrize("n", [0, 17, 19, 36])
def test_thingy52_wrong_length(n):
    dec = thingy52.Thingy52Decoder()
    assert dec.feed(bytes(n), 0.0) == [] and dec.stats.malformed_total == 1


def test_rsc_fields():
    dec = protocols.decoder("rsc", "pod")
    # flags 0x07: stride + distance + running; 3.5 m/s = 896/256; cadence 172; 1.21 m; 1234.5 m
    raw = struct.pack("<BHBHI", 0x07, 896, 172, 121, 12345)
    (b,) = dec.feed(raw, 5.0)
    assert b.values["speed_mps"][0] == 3.5 and b.values["cadence_spm"][0] == 172
    assert b.values["stride_length_m"][0] == pytest.approx(1.21)
    assert b.values["distance_m"][0] == pytest.approx(1234.5)
    assert b.values["running"][0] == 1.0 and b.acc_mps2 is None and len(b) == 1
    (b,) = dec.feed(struct.pack("<BHB", 0x00, 300, 110), 6.0)  # walking, no optional fields
    assert set(b.values) == {"speed_mps", "cadence_spm", "running"} and b.values["running"][0] == 0
    (b,) = dec.feed(struct.pack("<BHBI", 0x02, 0, 0, 7), 7.0)  # distance only
    assert b.values["distance_m"][0] == pytest.approx(0.7) and "stride_length_m" not in b.values


def test_rsc_encoder_round_trip():
    raw = rsc.encode_measurement(4.2, 181, stride_length_m=1.39, distance_m=5012.3)
    (b,) = rsc.RscDecoder().feed(raw, 0.0)
    assert b.values["speed_mps"][0] == pytest.approx(4.2, abs=1 / 512)
    assert b.values["cadence_spm"][0] == 181
    assert b.values["stride_length_m"][0] == pytest.approx(1.39)


@pytest.mark.parametrize("raw, reason", [
    (b"", "short"), (b"\x00\x01\x02", "short"), (b"\x01\x00\x01\x50", "short"),
    (b"\x03\x00\x01\x50\x00\x00\x00\x00\x00", "short"), (b"\x00\x00\x01\x50\x00", "long"),
])
def test_rsc_malformed(raw, reason):
    dec = rsc.RscDecoder()
    assert dec.feed(raw, 0.0) == [] and dict(dec.stats.malformed) == {reason: 1}
