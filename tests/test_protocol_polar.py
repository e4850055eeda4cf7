"""polar-pmd decoder against the byte layouts Polar publishes in its BLE SDK tests.

Test data (bytes and the values they encode) are taken from the unit tests of Polar's BLE SDK,
github.com/polarofficial/polar-ble-sdk (MIT licence):
sources/Android/android-communications/library/src/test/java/com/polar/androidcommunications/
api/ble/model/gatt/client/pmd/model/AccDataTest.kt and GyrDataTest.kt. Only data is copied.
"""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

import imu_hip.protocols as protocols
from imu_hip.model import G
from imu_hip.protocols import polar_pmd as pmd

MG = 1e-3 * G

# AccDataTest "process acc raw data frame type 1": type 02, timestamp 2_000_000_000 ns, frame 01
ACC_RAW_T1 = bytes.fromhex("02 00 94 35 77 00 00 00 00 01") + bytes.fromhex(
    "F7 FF FF FF E7 03 F8 FF FE FF E5 03 F9 FF FF FF E5 03 FA FF FF FF E6 03 FA FF FE FF E6 03 "
    "F9 FF FF FF E5 03 F8 FF FF FF E6 03 F8 FF FE FF E6 03 FA FF FF FF E5 03 FA FF FF FF E7 03 "
    "FA FF FF FF E5 03 F8 FF FF FF E6 03 F7 FF FF FF E6 03 F8 FF FE FF E6 03 F9 FF FE FF E7 03 "
    "F9 FF 00 00 E6 03 F9 FF FF FF E6 03 F7 FF FE FF E5 03 F9 FF FF FF E5 03 F9 FF FF FF E5 03 "
    "FA FF 00 00 E6 03 F9 FF FE FF E6 03 F8 FF FF FF E6 03 F8 FF FF FF E5 03 F9 FF FF FF E6 03 "
    "F9 FF FF FF E5 03 FA FF FF FF E6 03 F9 FF FF FF E5 03 F9 FF FF FF E5 03 F8 FF FE FF E6 03 "
    "F9 FF FF FF E6 03 F9 FF FF FF E6 03 F9 FF 00 00 E5 03 F9 FF FE FF E6 03 F8 FF FE FF E6 03 "
    "F7 FF FE FF E6 03")

# AccDataTest "process acc compressed data type 0": frame 80, factor 2.44e-4 (G per count)
ACC_DELTA_T0 = bytes.fromhex("02 00 94 35 77 00 00 00 00 80") + bytes.fromhex(
    "71 07 F0 6A 9E 8D 0A 38 BE 5C BE BA 2F 96 B3 EE 4B E5 AD FB 42 B9 EB BE 4C FE BA 2F 92 BF "
    "EE 4B E4 B1 FB 12 B9 EC BD 3C 3E BB 2F 8F D3 DE 4B E3 B5 F7 D2 B8 ED BD 30 7E 7B 2F 8B E3 "
    "CE 8B E2 BA F7 A2 B8 EE BC 20 BE 7B 2F 88 F3 CE CB E1 BD EF 52 F8 EF BC 18 FE 3B 2F 84 03 "
    "BF CB E0 C2 EF 32 B8 F0 BB 04 4E BC 2E 81 13 AF 0B E0 C6 EF F2 F7 F1 B9 FC 7D BC 2E 7D 27 "
    "9F 4B DF CA EB C2 F7 F2 B8 EC CD 7C 2E 7B 37 8F 4B DE CE E3 92 F7 F3 B8 E0 0D FD 2D 77 4B "
    "7F CB DD D2 DF 62 37 F5 B7 D4 4D BD 2D 74 5B 6F CB DC D7 D7 32 37 F6 B5 C8 8D 7D 2D 71 6B "
    "4F 4B DC DC D3 F2 36 F7 B4 BC DD FD 2C 6F 7B 3F 4B DB E0 CF D2 36 F8 B2 B0 2D BE 2C 6C 8F "
    "1F CB DA E3 C7 A2 76 F9")

# AccDataTest "process acc compressed data type 1": timestamp 101 ns, frame 81, factor 1 (mG)
ACC_DELTA_T1 = bytes.fromhex("02 65 00 00 00 00 00 00 00 81 F1 FF 14 00 F0 03 06 01 7B 0F 08")

# GyrDataTest "process gyro compressed data type 0": timestamp 2^63 - 1 ns, frame 80, factor 1
GYR_DELTA_T0 = bytes.fromhex("05 FF FF FF FF FF FF FF 7F 80 EA FF 08 00 0D 00 03 01 DF 00")

# GyrDataTest "process gyro compressed data type 1": float32 reference, 28-bit deltas, factor 1
GYR_DELTA_T1 = bytes.fromhex(
    "05 00 94 35 77 00 00 00 00 81 00 00 80 3F 00 00 20 41 00 00 A0 41 1C 01 00 00 A0 01 00 00 "
    "08 CD CC EC 0D")


def _f32(bits: int) -> float:
    return struct.unpack("<f", struct.pack("<I", bits & 0xFFFFFFFF))[0]


def test_acc_raw_frame_type_1():
    dec = pmd.PolarPmdDecoder("sense")
    (b,) = dec.feed(ACC_RAW_T1, 3.0)
    assert len(b) == (len(ACC_RAW_T1) - 10) // 6 == 36
    np.testing.assert_allclose(b.acc_mps2[:2] / MG, [[-9, -1, 999], [-8, -2, 997]], atol=1e-9)
    assert b.gyr_rads is None and b.seq is None and b.sensor_id == "sense"
    assert b.device_t_s[-1] == pytest.approx(2.0, abs=1e-12)  # the last sample's time
    np.testing.assert_allclose(np.diff(b.device_t_s), 1.0 / b.rate_hz, rtol=1e-6)
    assert dec.stats.malformed_total == 0 and dec.stats.samples == 36


def test_acc_delta_frame_type_0_with_factor():
    factor = 2.44e-4
    dec = pmd.PolarPmdDecoder(factors={pmd.ACC: factor})
    (b,) = dec.feed(ACC_DELTA_T0, 0.0)
    assert len(b) == 1 + 56
    s0 = np.array([1905, 27376, -29282])
    s1 = s0 + [190, -105, -85]
    np.testing.assert_allclose(b.acc_mps2[0], s0 * factor * G, rtol=1e-12)
    np.testing.assert_allclose(b.acc_mps2[1], s1 * factor * G, rtol=1e-12)
    assert np.all(np.abs(b.acc_mps2) <= 8 * G)  # the SDK test's range check (8 g)
    assert b.device_t_s[-1] == pytest.approx(2.0, abs=1e-12)
    assert b.rate_hz == 52.0  # compressed ACC: Verity Sense default until measured


def test_acc_delta_frame_type_0_factor_from_start_response():
    dec = pmd.PolarPmdDecoder()
    # start response: F0 02 02 00 00 then FACTOR setting (type 5, count 1, float32)
    resp = bytes((0xF0, 0x02, 0x02, 0x00, 0x00, 0x05, 0x01)) + struct.pack("<f", 2.44e-4)
    assert dec.feed(resp, 0.0) == [] and dec.stats.malformed_total == 0
    assert dec.factors[pmd.ACC] == pytest.approx(2.44e-4, rel=1e-6)
    (b,) = dec.feed(ACC_DELTA_T0, 0.0)
    np.testing.assert_allclose(b.acc_mps2[0] / G, [1905 * 2.44e-4, 27376 * 2.44e-4,
                                                   -29282 * 2.44e-4], rtol=1e-6)


def test_acc_delta_frame_type_1():
    (b,) = pmd.PolarPmdDecoder().feed(ACC_DELTA_T1, 0.0)
    np.testing.assert_allclose(b.acc_mps2 / MG, [[-15, 20, 1008], [-20, 17, 1008]], atol=1e-9)
    assert b.device_t_s[-1] == pytest.approx(101e-9, abs=1e-15)


def test_gyro_delta_frame_type_0():
    (b,) = pmd.PolarPmdDecoder(factors={pmd.GYRO: 1.0}).feed(GYR_DELTA_T0, 0.0)
    np.testing.assert_allclose(np.degrees(b.gyr_rads), [[-22, 8, 13], [-23, 11, 16]], atol=1e-9)
    assert b.acc_mps2 is None
    assert b.device_t_s[-1] == pytest.approx((2**63 - 1) * 1e-9, rel=1e-15)


def test_gyro_delta_frame_type_1_float():
    (b,) = pmd.PolarPmdDecoder().feed(GYR_DELTA_T1, 0.0)
    expected = [[_f32(0x3F800000), _f32(0x41200000), _f32(0x41A00000)],
                [_f32(0x3F800000 + 0x1A00000), _f32(0x41200000 + 0x0800000),
                 _f32(0x41A00000 + 0xFDECCCCD)]]
    np.testing.assert_allclose(np.degrees(b.gyr_rads), expected, rtol=1e-6)


def test_gyro_default_factor_is_range_over_32768():
    (b,) = pmd.PolarPmdDecoder().feed(GYR_DELTA_T0, 0.0)
    np.testing.assert_allclose(np.degrees(b.gyr_rads[0]), np.array([-22, 8, 13]) * 2000 / 32768)


def test_rate_is_measured_from_timestamps():
    """An H10-like ACC stream at 100 Hz: the decoder starts at 200 Hz and corrects itself."""
    dec = pmd.PolarPmdDecoder()
    counts = np.tile([[0, 0, 1000]], (50, 1))
    t_last = 700_000_000_000_000_000
    blocks = []
    for k in range(3):
        ts = t_last + k * 500_000_000  # 50 samples per 0.5 s
        blocks += dec.feed(pmd.encode_frame(pmd.ACC, ts, counts), float(k))
    assert blocks[0].rate_hz == 200.0 and blocks[1].rate_hz == blocks[2].rate_hz == 100.0
    t = np.concatenate([b.device_t_s for b in blocks[1:]])
    np.testing.assert_allclose(np.diff(t), 0.01, atol=1e-6)


def test_encoders_round_trip():
    rng = np.random.default_rng(5)
    counts = np.cumsum(rng.integers(-300, 300, (40, 3)), axis=0).clip(-32768, 32767)
    dec = pmd.PolarPmdDecoder(factors={pmd.GYRO: 0.25})
    (b,) = dec.feed(pmd.encode_delta_frame(pmd.GYRO, 10**18, counts), 0.0)
    np.testing.assert_allclose(b.gyr_rads, counts * 0.25 * math.pi / 180, rtol=1e-12)
    for ftype, lim in ((0, 127), (1, 32767), (2, 2**23 - 1)):
        c = rng.integers(-lim - 1, lim + 1, (7, 3))
        (b,) = pmd.PolarPmdDecoder().feed(pmd.encode_frame(pmd.ACC, 10**15, c, ftype), 0.0)
        np.testing.assert_allclose(b.acc_mps2, c * MG, rtol=1e-12)


def test_commands_and_control_responses():
    # the start command Polar's PMD document gives for Verity Sense ACC (52 Hz, 16 bit, 8 g,
    # 3 channels), as also quoted in polar-ble-sdk issue #443
    assert pmd.cmd_start(pmd.ACC, 52, 8) == bytes.fromhex("02020001340001011000020108000401 03"
                                                          .replace(" ", ""))
    assert pmd.cmd_stop(pmd.GYRO) == b"\x03\x05"
    assert pmd.cmd_get_settings(pmd.ACC) == b"\x01\x02"
    r = pmd.parse_control_response(bytes.fromhex("F0 01 02 00 00 00 04 19 00 32 00 64 00 C8 00 "
                                                 "01 01 10 00 02 03 02 00 04 00 08 00"))
    assert r is not None and r.status == 0 and r.op == pmd.OP_GET_SETTINGS
    assert r.settings == {0: [25, 50, 100, 200], 1: [16], 2: [2, 4, 8]}
    err = pmd.parse_control_response(bytes.fromhex("F0 02 05 03"))
    assert err is not None and err.status == 3 and err.settings == {}
    assert pmd.parse_control_response(b"\x02\x00") is None


@pytest.mark.parametrize("data, reason", [
    (b"", "short"),
    (ACC_RAW_T1[:10], "short"),
    (ACC_RAW_T1[:-1], "bad_length"),
    (bytes((0x00,)) + ACC_RAW_T1[1:], "unsupported_type"),  # ECG
    (ACC_RAW_T1[:9] + b"\x07" + ACC_RAW_T1[10:], "unsupported_frame_type"),
    (ACC_DELTA_T0[:-5], "truncated"),
    (ACC_DELTA_T1[:12], "short"),
    (ACC_DELTA_T1[:-5] + b"\x30\x01\x00", "bad_delta_width"),
])
def test_malformed(data, reason):
    dec = pmd.PolarPmdDecoder()
    assert dec.feed(data, 0.0) == []
    assert dict(dec.stats.malformed) == {reason: 1}


def test_registry_profile():
    prof = protocols.profile("polar-pmd")
    assert prof.control_uuid == pmd.CONTROL_UUID and pmd.DATA_UUID in prof.notify_uuids
    assert protocols.identify("Polar Sense B36B8E2A", []) == "polar-pmd"
    assert protocols.identify("Polar H10 ABCDEF12", []) == "polar-pmd"


def test_rate_from_start_responses():
    """Verity-like answers to PROFILE's start commands: ACC 200 Hz refused, 52 Hz accepted."""
    dec = pmd.PolarPmdDecoder()
    for resp in ("F0 02 02 08", "F0 02 02 00 00", "F0 02 05 00 00"):
        assert dec.feed(bytes.fromhex(resp), 0.0) == []
    (b,) = dec.feed(pmd.encode_frame(pmd.ACC, 10**18, np.zeros((13, 3))), 0.0)
    assert b.rate_hz == 52.0
    np.testing.assert_allclose(np.diff(b.device_t_s), 1 / 52.0, atol=1e-6)
    # H10-like: 200 Hz accepted, the 52 Hz attempt "already in state", gyro not supported
    dec = pmd.PolarPmdDecoder()
    for resp in ("F0 02 02 00 00", "F0 02 02 06", "F0 02 05 03"):
        dec.feed(bytes.fromhex(resp), 0.0)
    (b,) = dec.feed(pmd.encode_frame(pmd.ACC, 10**18, np.zeros((13, 3))), 0.0)
    assert b.rate_hz == 200.0 and dec.stats.malformed_total == 0


def _stream(rate_hz: float, n: int, frames: int, t0_ns: int = 800_000_000 * 10**9):
    """Consecutive ACC frames of ``n`` samples at ``rate_hz``: (frame bytes, per-sample device
    times in s) for each; sample i of the stream is at t0 + i / rate."""
    out = []
    for k in range(frames):
        i = k * n + np.arange(n)
        ts = t0_ns + round(int(i[-1]) * 1e9 / rate_hz)
        counts = np.column_stack([i % 100, -(i % 50), 1000 + i % 7])
        out.append((pmd.encode_frame(pmd.ACC, ts, counts), t0_ns * 1e-9 + i / rate_hz))
    return out


@pytest.mark.parametrize("negotiated", [True, False])
@pytest.mark.parametrize("lost", [[3], [3, 4], [2, 5, 6, 7]])
def test_lost_frames_keep_the_rate_and_every_sample_time(negotiated, lost):
    """Frames lost in the air (PMD has no sequence numbers) must not change the rate: each
    frame after a hole keeps per-sample device times exactly 1 / rate apart, at the right
    place (the timestamp difference over a hole covers several frames)."""
    dec = pmd.PolarPmdDecoder()
    if negotiated:  # Verity-like answers: ACC 200 Hz refused, 52 Hz accepted
        for resp in ("F0 02 02 08", "F0 02 02 00 00"):
            dec.feed(bytes.fromhex(resp), 0.0)
    frames = _stream(52.0, 13, 10)
    got = []
    for k, (data, _) in enumerate(frames):
        if k in lost:
            continue
        (b,) = dec.feed(data, float(k))
        got.append((k, b))
    for k, b in got:
        if k == 0 and not negotiated:
            continue  # the guess before the first measurement (52 Hz for Verity anyway)
        assert b.rate_hz == 52.0, k
        np.testing.assert_allclose(b.device_t_s, frames[k][1], atol=1e-6, rtol=0)


def test_a_real_rate_change_is_adopted_when_confirmed():
    """Not negotiated: a stream measured at 104 Hz whose timestamps then say 52 Hz twice in a
    row (really restarted at 52 Hz) follows; once (one lost frame) it does not."""
    dec = pmd.PolarPmdDecoder(rates_hz={pmd.ACC: 104.0})
    fast = _stream(104.0, 20, 3)
    t_end = fast[-1][1][-1]
    slow = _stream(52.0, 20, 3, t0_ns=round((t_end + 1 / 52.0) * 1e9))
    rates = []
    for k, (data, _) in enumerate(fast + slow):
        (b,) = dec.feed(data, float(k))
        rates.append(b.rate_hz)
    # frame 3 (the first slow one) looks like a lost frame at 104 Hz: kept; frame 4 confirms
    assert rates == [104.0] * 4 + [52.0] * 2


def test_first_frame_before_its_start_response_uses_the_next_asked_rate():
    """ACC 200 Hz refused; the 52 Hz start's first frame overtakes its own response."""
    dec = pmd.PolarPmdDecoder()
    dec.feed(bytes.fromhex("F0 02 02 08"), 0.0)
    frames = _stream(52.0, 13, 2)
    (b0,) = dec.feed(frames[0][0], 0.1)
    dec.feed(bytes.fromhex("F0 02 02 00 00"), 0.2)
    (b1,) = dec.feed(frames[1][0], 0.3)
    assert b0.rate_hz == b1.rate_hz == 52.0
    np.testing.assert_allclose(b0.device_t_s, frames[0][1], atol=1e-6, rtol=0)
