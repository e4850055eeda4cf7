"""imu-hip protocol: golden vectors, the C encoder compiled on the host, decoder and commands."""

from __future__ import annotations

import json
import math
import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

import imu_hip.protocols as protocols
from imu_hip.model import G, ImuHipError
from imu_hip.protocols import imu_hip_protocol as p

ROOT = Path(__file__).resolve().parents[1]
VECTORS = json.loads((ROOT / "devices" / "vectors" / "imu_hip_v1.json").read_text())
FIRMWARE = ROOT / "devices" / "firmware"


def _frame_line(case: dict) -> str:
    i = case["input"]
    counts = " ".join(str(v) for row in i["counts"] for v in row)
    return (f"frame {i['sensor_id']} {i['seq']} {i['t0_us']} {i['rate_code']} "
            f"{i['acc_range_code']} {i['gyr_range_code']} {len(i['counts'])} {counts}")


@pytest.fixture(scope="module")
def host_encoder(tmp_path_factory) -> Path:
    """The C encoder and its test driver, compiled with the system C compiler."""
    cc = shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if cc is None:
        pytest.skip("no C compiler (cc, gcc or clang) on PATH: the C encoder cannot be checked")
    exe = tmp_path_factory.mktemp("imu_hip_c") / "host_vectors"
    cmd = [cc, "-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-O2",
           f"-I{FIRMWARE}", str(FIRMWARE / "imu_hip_proto.c"), str(FIRMWARE / "host_vectors.c"),
           "-o", str(exe)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    assert res.returncode == 0, f"C encoder does not compile cleanly:\n{res.stderr}"
    return exe


def _run(exe: Path, lines: list[str]) -> list[str]:
    res = subprocess.run([str(exe)], input="\n".join(lines) + "\n", capture_output=True,
                         text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    out = res.stdout.splitlines()
    assert len(out) == len(lines)
    return out


# ------------------------------------------------------------------------------------- C side


def test_c_crc_matches_golden(host_encoder):
    cases = VECTORS["crc"]["cases"]
    got = _run(host_encoder, [f"crc {c['hex']}" for c in cases])
    assert got == [c["crc"] for c in cases]


def test_c_frames_match_golden_bytes(host_encoder):
    frames = VECTORS["frames"]
    got = _run(host_encoder, [_frame_line(c) for c in frames])
    for case, hexed in zip(frames, got, strict=True):
        assert hexed == case["hex"], case["name"]


def test_c_command_handler_matches_golden_session(host_encoder):
    for session in VECTORS["sessions"]:
        d = session["device"]
        lines = [f"init {d['battery_pct']} {d['battery_mv']} {d['charging']} "
                 f"{' '.join(map(str, d['firmware']))} {d['serial']} {d['model']}"]
        lines += [f"cmd {e['command'] or '-'}" for e in session["exchanges"]]
        got = _run(host_encoder, lines)
        assert got[0] == "ok"
        for e, hexed in zip(session["exchanges"], got[1:], strict=True):
            assert hexed == e["response"], e["command"]


# -------------------------------------------------------------------------------- Python side


def test_crc_check_value():
    assert p.crc16(b"123456789") == 0x29B1
    for c in VECTORS["crc"]["cases"]:
        assert p.crc16(bytes.fromhex(c["hex"])) == int(c["crc"], 16)


def test_frame_layout_by_hand():
    """One golden frame rebuilt from the PROTOCOL.md table with struct, not the encoder."""
    case = next(c for c in VECTORS["frames"] if c["name"] == "timestamp_wrap")
    i = case["input"]
    t = i["t0_us"]
    head = struct.pack("<BBHIHBBB", 1, i["sensor_id"], i["seq"], t & 0xFFFFFFFF, t >> 32,
                       len(i["counts"]), i["rate_code"],
                       i["acc_range_code"] | i["gyr_range_code"] << 4)
    body = head + b"".join(struct.pack("<6h", *row) for row in i["counts"])
    crc = 0xFFFF
    for byte in body:  # bitwise CRC-16/CCITT-FALSE, independent of binascii
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    assert (body + struct.pack("<H", crc)).hex() == case["hex"]


def test_python_encoder_matches_golden():
    for case in VECTORS["frames"]:
        i = case["input"]
        raw = p.encode_frame_counts(
            i["seq"], i["t0_us"], np.array(i["counts"]), sensor_id=i["sensor_id"],
            rate=i["rate_code"], acc_range=i["acc_range_code"], gyr_range=i["gyr_range_code"])
        assert raw.hex() == case["hex"], case["name"]


def test_decoder_reads_golden_frames_to_si():
    for case in VECTORS["frames"]:
        dec = protocols.decoder("imu-hip", "hip")
        blocks = dec.feed(bytes.fromhex(case["hex"]), 12.5)
        assert len(blocks) == 1, case["name"]
        b, e = blocks[0], case["expected"]
        assert b.sensor_id == "hip" and b.received_at == 12.5
        assert b.seq == e["seq"] and b.rate_hz == e["rate_hz"]
        np.testing.assert_allclose(b.acc_mps2, e["acc_mps2"], rtol=1e-12, atol=0)
        np.testing.assert_allclose(b.gyr_rads, e["gyr_rads"], rtol=1e-12, atol=0)
        np.testing.assert_allclose(b.device_t_s, e["device_t_s"], rtol=1e-12, atol=1e-12)
        assert b.acc_mps2.shape == (len(b), 3) and b.gyr_rads.shape == (len(b), 3)
        assert dec.stats.malformed_total == 0 and dec.stats.samples == len(b)


def test_full_scale_values():
    case = next(c for c in VECTORS["frames"] if c["name"] == "full_scale_negative")
    b = p.ImuHipDecoder().feed(bytes.fromhex(case["hex"]), 0.0)[0]
    assert np.all(b.acc_mps2 == -32 * G)  # -32768 counts = -full scale exactly
    assert np.allclose(b.gyr_rads, -math.radians(4000))
    case = next(c for c in VECTORS["frames"] if c["name"] == "full_scale_positive")
    b = p.ImuHipDecoder().feed(bytes.fromhex(case["hex"]), 0.0)[0]
    assert np.all(b.acc_mps2 < 2 * G) and np.all(b.acc_mps2 > 2 * G * 0.9999)


def test_sequences_unwrap_seq_and_time():
    for s in VECTORS["sequences"]:
        dec = p.ImuHipDecoder()
        blocks = [dec.feed(bytes.fromhex(h), float(k)) for k, h in enumerate(s["frames"])]
        assert [b[0].seq for b in blocks] == s["expected_seq"], s["name"]
        t0 = [b[0].device_t_s[0] for b in blocks]
        np.testing.assert_allclose(t0, np.array(s["expected_t0_us"]) * 1e-6, rtol=0, atol=1e-7)
        for b in blocks:
            assert np.all(np.diff(b[0].device_t_s) > 0)


def test_long_stream_seq_is_non_decreasing_across_many_wraps():
    dec = p.ImuHipDecoder()
    one = np.zeros((1, 6), dtype=np.int64)
    last = -1
    for k in range(0, 3 * 65536 + 5, 997):
        b = dec.feed(p.encode_frame_counts(k, k * 2500, one), 0.0)[0]
        assert b.seq == k and b.seq > last
        last = b.seq


def test_malformed_are_counted_not_raised():
    dec = p.ImuHipDecoder()
    expected: dict[str, int] = {}
    for m in VECTORS["malformed"]:
        assert dec.feed(bytes.fromhex(m["hex"]), 0.0) == [], m["name"]
        expected[m["reason"]] = expected.get(m["reason"], 0) + 1
    assert dict(dec.stats.malformed) == expected
    assert dec.stats.notifications == len(VECTORS["malformed"]) and dec.stats.samples == 0
    # a good frame still decodes after all that
    assert len(dec.feed(bytes.fromhex(VECTORS["frames"][0]["hex"]), 0.0)) == 1


def test_python_device_state_matches_golden_session():
    for session in VECTORS["sessions"]:
        d = session["device"]
        state = p.DeviceState(battery_pct=d["battery_pct"], battery_mv=d["battery_mv"],
                              charging=bool(d["charging"]), firmware=tuple(d["firmware"]),
                              serial=d["serial"], model=d["model"])
        for e in session["exchanges"]:
            assert state.handle_command(bytes.fromhex(e["command"])).hex() == e["response"]


def test_decode_responses_of_golden_session():
    ex = {bytes.fromhex(e["command"])[1:2]: bytes.fromhex(e["response"])
          for e in VECTORS["sessions"][0]["exchanges"] if len(e["command"]) >= 4}
    cfg = p.decode_response(ex[b"\x06"])
    assert cfg.ok and cfg.fields == {"rate_hz": 100.0, "acc_range_g": 8, "gyr_range_dps": 1000,
                                     "sensor_id": 0, "streaming": False}
    bat = p.decode_response(ex[b"\x02"])
    assert bat.fields["battery_pct"] == 87 and bat.fields["battery_v"] == pytest.approx(3.912)
    info = p.decode_response(ex[b"\x03"])
    assert info.fields["model"] == "IMU-HIP-S1" and info.fields["firmware"] == "1.2.3"
    assert info.fields["serial"] == 0x12345678
    cal = p.decode_response(ex[b"\x0d"]).fields["calibration"]
    assert cal.acc_bias_mps2 == (0.125, -0.25, 0.5) and cal.acc_matrix[2][2] == 1.5
    assert p.decode_response(ex[b"\x08"]).status == p.Status.BUSY
    assert p.decode_response(ex[b"\x0e"]).status == p.Status.BAD_VALUE
    with pytest.raises(ImuHipError):
        p.decode_response(b"\x05\x01\x00")  # not a response
    with pytest.raises(ImuHipError):
        p.decode_response(b"\x85\x01\x00\x06")  # config payload too short


def test_calibration_round_trip():
    cal = p.Calibration((0.5, -1.0, 2.0), ((1.0, 0.5, 0.0), (0.0, 1.0, 0.25), (0.0, 0.0, 1.0)),
                        (0.25, 0.125, -0.5))
    assert p.unpack_calibration(p.pack_calibration(cal)) == cal
    with pytest.raises(ImuHipError):
        p.unpack_calibration(b"\x00" * 59)


def test_encode_stream_round_trip_and_payload_share():
    rng = np.random.default_rng(3)
    n = 400
    acc = rng.normal(0, 3 * G, (n, 3))
    gyr = rng.normal(0, 5.0, (n, 3))
    frames = p.encode_stream(acc, gyr, rate_hz=400.0, t0_us=5_000_000, start_seq=65530)
    assert all(len(f) <= 244 for f in frames) and len(frames) == math.ceil(n / 19)
    dec = p.ImuHipDecoder()
    blocks = [b for f in frames for b in dec.feed(f, 0.0)]
    got_acc = np.concatenate([b.acc_mps2 for b in blocks])
    got_gyr = np.concatenate([b.gyr_rads for b in blocks])
    t = np.concatenate([b.device_t_s for b in blocks])
    assert np.max(np.abs(got_acc - acc)) <= 0.5 * p.acc_scale_mps2(3) + 1e-12
    assert np.max(np.abs(got_gyr - gyr)) <= 0.5 * p.gyr_scale_rads(4) + 1e-12
    np.testing.assert_allclose(t, 5.0 + np.arange(n) / 400.0, atol=1e-6)
    assert [b.seq for b in blocks] == list(range(65530, 65530 + len(frames)))
    assert p.max_samples(247) == 19 and p.payload_share(247) >= 0.85
    assert p.max_samples(23) == 0 and p.max_samples(517) == 41


def test_encode_rejects_bad_input():
    with pytest.raises(ImuHipError):
        p.encode_frame_counts(0, 0, np.zeros((0, 6)))
    with pytest.raises(ImuHipError):
        p.encode_frame_counts(0, 0, np.full((1, 6), 40000))
    with pytest.raises(ImuHipError):
        p.encode_frame(0, 0, np.zeros((1, 3)), np.zeros((1, 3)), rate_hz=123.0)


# --------------------------------------------------------------------------------- registry


def test_registry():
    names = protocols.names()
    assert names[0] == "imu-hip" and {"witmotion", "thingy52", "rsc"} <= set(names)
    for name in names:
        d1, d2 = protocols.decoder(name, "s"), protocols.decoder(name, "s")
        assert d1 is not d2 and d1.name == name and d1.sensor_id == "s"
        prof = protocols.profile(name)
        assert prof.protocol == name and prof.notify_uuids
        for u in prof.service_uuids:
            assert protocols.identify("", [u.upper()]) == name
    with pytest.raises(ImuHipError, match="imu-hip"):
        protocols.decoder("no-such-protocol")
    assert protocols.identify("imu-hip 0042", []) == "imu-hip"
    assert protocols.identify("Someone's phone", ["180d"]) is None
    assert protocols.identify("footpod", ["1814"]) == "rsc"
    assert protocols.identify("WT901BLE67", []) == "witmotion"


def test_device_restart_keeps_sequence_increasing():
    """A reboot resets sequence and clock: new frames continue above, not taken as duplicates."""
    dec = p.ImuHipDecoder()
    one = np.zeros((19, 6), dtype=np.int64)
    step = 47_500
    seqs = [dec.feed(p.encode_frame_counts(k, 600_000_000 + k * step, one), 0.0)[0].seq
            for k in range(500, 510)]
    assert seqs == list(range(500, 510)) and dec.restarts == 0
    after = [dec.feed(p.encode_frame_counts(k, 2_000 + k * step, one), 0.0)[0] for k in range(3)]
    assert [b.seq for b in after] == [510, 511, 512] and dec.restarts == 1
    assert after[0].device_t_s[0] == pytest.approx(0.002)
    # a duplicate of a frame from after the restart is still a duplicate
    assert dec.feed(p.encode_frame_counts(1, 2_000 + step, one), 0.0)[0].seq == 511
    # sequence reset with a clock that kept running (e.g. an RTC) is a restart too
    b = dec.feed(p.encode_frame_counts(0, 2_000 + 10 * step + 60_000_000, one), 0.0)[0]
    assert b.seq == 513 and dec.restarts == 2


def test_long_gap_is_not_a_restart():
    dec = p.ImuHipDecoder()
    one = np.zeros((19, 6), dtype=np.int64)
    dec.feed(p.encode_frame_counts(10, 10 * 47_500, one), 0.0)
    b = dec.feed(p.encode_frame_counts(10 + 2000, (10 + 2000) * 47_500 + 30_000, one), 0.0)[0]
    assert b.seq == 2010 and dec.restarts == 0
