"""Recording files: CSV and MCAP round trips, crash safety, content sniffing, bad input."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import imu_hip.io.csv_file as csv_file
from imu_hip.io import (
    McapRecorder,
    read_csv,
    read_mcap,
    read_raw,
    read_recording,
    sniff_format,
    validate_recording,
    write_csv,
    write_mcap,
)
from imu_hip.model import G, InputError, Recording, SensorRecording

DATA = Path(__file__).parent / "data" / "sacrum_running_grf"
HEADER = "time_s,acc_x_mps2,acc_y_mps2,acc_z_mps2"
FIXTURE_HEALTH = HealthCheck.function_scoped_fixture


def make_sensor(
    n: int = 1200,
    rate_hz: float = 400.0,
    gyro: bool = True,
    seed: int = 0,
    sensor_id: str = "hip",
    placement: str = "sacrum",
    t0: float = 12.5,
    metadata: dict[str, str] | None = None,
) -> SensorRecording:
    """A sensor lying roughly still (1 g up) with noise, full-precision floats."""
    rng = np.random.default_rng(seed)
    acc = rng.normal(0.0, 0.7, (n, 3)) + [0.0, 0.0, G]
    gyr = rng.normal(0.0, 0.3, (n, 3)) if gyro else None
    return SensorRecording(
        sensor_id=sensor_id,
        placement=placement,
        rate_hz=rate_hz,
        t_s=t0 + np.arange(n) / rate_hz,
        acc_mps2=acc,
        gyr_rads=gyr,
        metadata=dict(metadata or {}),
    )


def assert_same_sensor(a: SensorRecording, b: SensorRecording) -> None:
    assert (a.sensor_id, a.placement, a.rate_hz) == (b.sensor_id, b.placement, b.rate_hz)
    assert np.array_equal(a.t_s, b.t_s)
    assert np.array_equal(a.acc_mps2, b.acc_mps2)
    if a.gyr_rads is None:
        assert b.gyr_rads is None
    else:
        assert b.gyr_rads is not None and np.array_equal(a.gyr_rads, b.gyr_rads)


def write_text(path: Path, text: str) -> Path:
    path.write_bytes(text.encode("utf-8"))
    return path


def still_rows(n: int, rate_hz: float = 100.0, z: float = G) -> str:
    return "".join(f"{i / rate_hz!r},0.01,-0.02,{z!r}\n" for i in range(n))


# --- CSV -----------------------------------------------------------------------------------


@pytest.mark.parametrize("gyro", [True, False])
def test_csv_round_trip_is_exact(tmp_path: Path, gyro: bool) -> None:
    sensor = make_sensor(gyro=gyro, metadata={"subject": "S01", "note": "two\nlines"})
    path = tmp_path / "rec.csv"
    write_csv(sensor, path)
    back = read_csv(path).sensors[0]
    assert_same_sensor(sensor, back)
    assert back.metadata["subject"] == "S01"
    assert back.metadata["note"] == "two lines"  # a value cannot inject extra lines


finite64 = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=25, deadline=None, suppress_health_check=[FIXTURE_HEALTH])
@given(values=hnp.arrays(np.float64, st.tuples(st.integers(1, 40), st.just(6)), elements=finite64))
def test_csv_round_trip_any_float_both_parsers(tmp_path: Path, values: np.ndarray) -> None:
    sensor = SensorRecording(
        sensor_id="s",
        placement="sacrum",
        rate_hz=100.0,
        t_s=np.arange(values.shape[0], dtype=float),
        acc_mps2=values[:, :3],
        gyr_rads=values[:, 3:],
    )
    path = tmp_path / "any.csv"
    write_csv(sensor, path)
    assert_same_sensor(sensor, read_csv(path).sensors[0])
    with pytest.MonkeyPatch.context() as mp:  # the strict parser agrees
        mp.setattr(csv_file, "_FAST_MMREAD", False)
        assert_same_sensor(sensor, read_csv(path).sensors[0])


def test_csv_fast_and_strict_parsers_agree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(3)
    table = np.column_stack([np.arange(500) / 200.0, rng.normal(0, 5, (500, 3))])
    text = HEADER + "\n" + "".join(",".join(f"{v:.6f}" for v in row) + "\n" for row in table)
    path = write_text(tmp_path / "fixed.csv", text)
    fast = read_csv(path).sensors[0]
    monkeypatch.setattr(csv_file, "_FAST_MMREAD", False)
    strict = read_csv(path).sensors[0]
    assert np.array_equal(fast.acc_mps2, strict.acc_mps2)
    assert np.array_equal(fast.t_s, np.round(table[:, 0], 6))


def test_csv_plain_numbers_take_the_fast_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sensor = make_sensor(n=3000)
    path = tmp_path / "plain.csv"
    write_csv(sensor, path)

    def no_strict(*args: object, **kwargs: object) -> None:
        raise AssertionError("the strict (slow) parser was used")

    monkeypatch.setattr(csv_file, "_parse_strict", no_strict)
    assert_same_sensor(sensor, read_csv(path).sensors[0])


def test_csv_g_and_dps_are_converted_to_si(tmp_path: Path) -> None:
    text = (
        "time_s,acc_x_g,acc_y_g,acc_z_g,gyr_x_dps,gyr_y_dps,gyr_z_dps\n"
        "0.0,0.5,-0.25,1.0,90,-180,45\n0.01,0.0,0.0,2.0,360,0,-90\n"
    )
    sensor = read_csv(write_text(tmp_path / "units.csv", text)).sensors[0]
    assert np.array_equal(sensor.acc_mps2, np.array([[0.5, -0.25, 1.0], [0.0, 0.0, 2.0]]) * G)
    assert np.allclose(
        sensor.gyr_rads,
        [[math.pi / 2, -math.pi, math.pi / 4], [2 * math.pi, 0, -math.pi / 2]],
        rtol=1e-15,
        atol=0,
    )
    # and written back in g / dps, read again: same SI values to rounding
    out = tmp_path / "units_g.csv"
    write_csv(sensor, out, units="g", gyr_units="dps")
    assert out.read_text().splitlines()[3].startswith("time_s,acc_x_g,acc_y_g,acc_z_g,gyr_x_dps")
    again = read_csv(out).sensors[0]
    assert np.allclose(again.acc_mps2, sensor.acc_mps2, rtol=1e-15, atol=0)
    assert np.allclose(again.gyr_rads, sensor.gyr_rads, rtol=1e-15, atol=0)


def test_csv_metadata_is_kept_as_text_and_used(tmp_path: Path) -> None:
    text = (
        "# sensor_id: <b>DE:AD</b>\n# placement: left_foot\n# rate_hz: 100\n"
        "# firmware: 1.2.3; build=7\n# free comment without key\n"
        + HEADER
        + "\n"
        + still_rows(300, rate_hz=100.0)
    )
    sensor = read_csv(write_text(tmp_path / "meta.csv", text)).sensors[0]
    assert sensor.metadata["sensor_id"] == "<b>DE:AD</b>"  # kept verbatim, not interpreted
    assert sensor.metadata["firmware"] == "1.2.3; build=7"
    assert sensor.metadata["rate_hz"] == "100"
    assert sensor.metadata["comment"] == "free comment without key"
    assert all(isinstance(v, str) for v in sensor.metadata.values())
    assert (sensor.sensor_id, sensor.placement, sensor.rate_hz) == (
        "<b>DE:AD</b>",
        "left_foot",
        100.0,
    )
    # explicit arguments win over the file
    other = read_csv(tmp_path / "meta.csv", placement="right_foot", sensor_id="R").sensors[0]
    assert (other.sensor_id, other.placement) == ("R", "right_foot")


def test_csv_rate_defaults_to_median_interval_and_file_name(tmp_path: Path) -> None:
    t = np.arange(400) / 250.0
    t[100:] += 0.5  # one gap must not move the median
    text = HEADER + "\n" + "".join(f"{v!r},0,0,9.8\n" for v in t.tolist())
    sensor = read_csv(write_text(tmp_path / "walk_07.csv", text)).sensors[0]
    assert sensor.rate_hz == pytest.approx(250.0, rel=1e-9)
    assert sensor.sensor_id == "walk_07"
    assert sensor.placement == "sacrum"


def test_csv_tolerates_crlf_bom_spaces_and_missing_final_newline(tmp_path: Path) -> None:
    rows = [(i / 100.0, 0.1, -0.2, 9.8) for i in range(300)]
    body = "\r\n".join(" , ".join(repr(v) for v in r) for r in rows)
    text = "\ufeff# rate_hz: 100\r\n TIME_S , Acc_X_mps2,acc_y_mps2 ,acc_z_mps2\r\n" + body
    sensor = read_recording(write_text(tmp_path / "win.csv", text)).sensors[0]
    assert np.array_equal(sensor.acc_mps2, np.array([r[1:] for r in rows]))
    assert np.array_equal(sensor.t_s, [r[0] for r in rows])


# --- MCAP ----------------------------------------------------------------------------------


def two_sensor_recording() -> Recording:
    hip = make_sensor(n=2500, rate_hz=400.0, metadata={"firmware": "2.1", "notes": "ünïcode"})
    foot = make_sensor(
        n=1300, rate_hz=208.3, gyro=False, seed=1, sensor_id="L", placement="left_foot", t0=12.6
    )
    return Recording(sensors=[hip, foot], metadata={"runner": "A", "shoe": "trail"})


def test_mcap_round_trip_is_exact(tmp_path: Path) -> None:
    rec = two_sensor_recording()
    path = tmp_path / "run.mcap"
    write_mcap(rec, path, block_size=333)
    back = read_mcap(path)
    assert back.metadata == rec.metadata  # complete file: nothing about truncation
    assert [s.sensor_id for s in back.sensors] == ["hip", "L"]
    for a, b in zip(rec.sensors, back.sensors, strict=True):
        assert_same_sensor(a, b)
        assert b.metadata == a.metadata


def test_mcap_round_trip_through_csv_and_back(tmp_path: Path) -> None:
    sensor = make_sensor(metadata={"k": "v"})
    write_mcap(Recording(sensors=[sensor]), tmp_path / "a.mcap")
    write_csv(read_mcap(tmp_path / "a.mcap").sensors[0], tmp_path / "a.csv")
    assert_same_sensor(sensor, read_csv(tmp_path / "a.csv").sensors[0])


def record_in_flushed_pieces(path: Path) -> tuple[Recording, list[tuple[int, dict[str, int]]]]:
    """Record blocks of two sensors plus raw bytes, flushing after every few blocks.

    Returns the recording and, per flush, (file size after it, samples per sensor so far).
    """
    rec = two_sensor_recording()
    flushed: list[tuple[int, dict[str, int]]] = []
    written = {s.sensor_id: 0 for s in rec.sensors}
    with McapRecorder(path, metadata=rec.metadata, flush_interval_s=3600, fsync=False) as r:
        for k in range(0, 2500, 100):
            for s in rec.sensors:
                j = min(k + 100, len(s))
                if k >= j:
                    continue
                r.write_block(s.block(k, j))
                written[s.sensor_id] = j
            r.write_raw("dev-A", 100.0 + k, bytes([k % 256]) * 20)
            if (k // 100) % 3 == 2:
                r.flush()
                flushed.append((path.stat().st_size, dict(written)))
    return rec, flushed


class Flushed(tuple):
    """(path, file bytes, recording, flushes) with a short repr for hypothesis reports."""

    def __repr__(self) -> str:
        return f"Flushed({self[0]}, {len(self[1])} bytes)"


@pytest.fixture(scope="module")
def flushed_file(tmp_path_factory: pytest.TempPathFactory) -> Flushed:
    path = tmp_path_factory.mktemp("mcap") / "flushed.mcap"
    rec, flushed = record_in_flushed_pieces(path)
    return Flushed((path, path.read_bytes(), rec, flushed))


def check_cut(
    data: bytes, cut: int, tmp: Path, rec: Recording, flushed: list[tuple[int, dict[str, int]]]
) -> None:
    path = tmp / f"cut_{cut}.mcap"
    path.write_bytes(data[:cut])
    back = read_mcap(path)  # never raises
    if cut < len(data):
        assert back.metadata["truncated"] == "true"
        assert back.metadata["truncated_detail"]
    got = {s.sensor_id: s for s in back.sensors}
    before = [n for size, n in flushed if size <= cut]  # flushes that ended before the cut
    safe = before[-1] if before else None
    for orig in rec.sensors:
        s = got.get(orig.sensor_id)
        n = 0 if s is None else len(s)
        assert n <= len(orig)
        if s is not None:  # a prefix of what was written, bit for bit
            assert np.array_equal(s.t_s, orig.t_s[:n])
            assert np.array_equal(s.acc_mps2, orig.acc_mps2[:n])
        if safe is not None:  # and everything flushed before the cut is there
            assert n >= safe[orig.sensor_id]
    raw = read_raw(path)
    assert all(
        d == "dev-A" and payload == bytes([int(t - 100) % 256]) * 20 for d, t, payload in raw
    )
    path.unlink()


@settings(max_examples=30, deadline=None, suppress_health_check=[FIXTURE_HEALTH])
@given(frac=st.floats(0.0, 1.0))
def test_truncated_mcap_opens_with_a_prefix(flushed_file, tmp_path: Path, frac: float) -> None:
    path, data, rec, flushed = flushed_file
    check_cut(data, int(frac * len(data)), tmp_path, rec, flushed)


def test_truncated_mcap_at_chunk_boundaries_and_tiny_sizes(flushed_file, tmp_path: Path) -> None:
    path, data, rec, flushed = flushed_file
    cuts = {1, 7, 8, 9, 30, len(data) - 1, len(data)}
    for size, _ in flushed:
        cuts |= {size - 1, size, size + 1, size + 9}
    for cut in sorted(c for c in cuts if 0 < c <= len(data)):
        check_cut(data, cut, tmp_path, rec, flushed)
    # the whole file: complete, identical to what was recorded
    full = read_mcap(path)
    assert "truncated" not in full.metadata
    for a, b in zip(rec.sensors, full.sensors, strict=True):
        assert_same_sensor(a, b)


def test_cut_recording_is_readable_by_read_recording_and_says_truncated(
    flushed_file, tmp_path: Path
) -> None:
    _, data, _, flushed = flushed_file
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(data[: flushed[-1][0] + 50])
    rec = read_recording(cut)
    assert rec.metadata["truncated"] == "true"
    assert len(rec.sensor("sacrum")) == flushed[-1][1]["hip"]


def test_recorder_flush_makes_data_readable_while_open(tmp_path: Path) -> None:
    sensor = make_sensor(n=800)
    blocks = list(sensor.blocks(size=200))
    path = tmp_path / "live.mcap"
    with McapRecorder(path, flush_interval_s=3600) as rec:
        rec.write_block(blocks[0])
        rec.flush()
        live = read_mcap(path)  # the recorder is still open
        assert len(live.sensors[0]) == 200
        assert live.metadata["truncated"] == "true"
        rec.write_block(blocks[1])
        rec.flush()
        assert len(read_mcap(path).sensors[0]) == 400
    assert_same_sensor(
        read_mcap(path).sensors[0],
        SensorRecording(
            sensor_id="hip",
            placement="sacrum",
            rate_hz=400.0,
            t_s=sensor.t_s[:400],
            acc_mps2=sensor.acc_mps2[:400],
            gyr_rads=sensor.gyr_rads[:400],
        ),
    )


def test_recorder_flushes_by_itself_when_blocks_keep_coming(tmp_path: Path) -> None:
    sensor = make_sensor(n=600)
    blocks = list(sensor.blocks(size=100))
    path = tmp_path / "auto.mcap"
    with McapRecorder(path, flush_interval_s=0.5) as rec:
        rec.write_block(blocks[0])
        assert not read_mcap(path).sensors  # still in the open chunk
        time.sleep(0.55)
        rec.write_block(blocks[1])  # past the interval: this write flushes
        assert len(read_mcap(path).sensors[0]) == 200


def test_read_raw_returns_bytes_times_and_devices(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    notes = [
        (f"dev-{k % 3}", 1.7e9 + k * 0.0123456789, rng.bytes(int(rng.integers(0, 244))))
        for k in range(50)
    ]
    path = tmp_path / "raw.mcap"
    with McapRecorder(path) as rec:
        for i, (dev, t, payload) in enumerate(notes):
            rec.write_raw(dev, t, payload)
            if i == 10:
                rec.write_block(next(make_sensor(n=50).blocks()))
    assert read_raw(path) == notes
    assert [s.sensor_id for s in read_mcap(path).sensors] == ["hip"]


def test_reader_is_chosen_by_content_not_suffix(tmp_path: Path) -> None:
    sensor = make_sensor(n=1000, rate_hz=200.0)
    mcap_as_csv = tmp_path / "looks_like.csv"
    write_mcap(Recording(sensors=[sensor]), mcap_as_csv)
    csv_as_mcap = tmp_path / "looks_like.mcap"
    write_csv(sensor, csv_as_mcap)
    assert sniff_format(mcap_as_csv) == "mcap" and sniff_format(csv_as_mcap) == "csv"
    for path in (mcap_as_csv, csv_as_mcap):
        assert_same_sensor(sensor, read_recording(path).sensors[0])


# --- real data excerpt ---------------------------------------------------------------------


def test_running_excerpt_opens_and_matches_its_reference() -> None:
    rec = read_recording(DATA / "trial_03_imu.csv")
    s = rec.sensor("sacrum")
    assert s.rate_hz == 500.0 and s.gyr_rads is None
    assert 4.9 < s.duration_s < 5.0
    assert np.all(s.acc_mps2[:, 1] == 0)  # no mediolateral axis
    assert np.all(s.acc_mps2[:, 2] >= 0)  # vertical clipped at 0 by the authors
    contacts = np.loadtxt(DATA / "trial_03_contacts.csv", delimiter=",", skiprows=1, usecols=(1, 2))
    assert contacts.shape[1] == 2 and np.all(np.diff(contacts[:, 0]) > 0)
    assert s.t_s[0] <= contacts[0, 0] and contacts[-1, 1] <= s.t_s[-1]


# --- bad input: one test per case ----------------------------------------------------------


def problem_of(path: Path, **kwargs) -> str:
    with pytest.raises(InputError) as info:
        read_recording(path, **kwargs)
    message = str(info.value)
    assert message.startswith(str(path) + ": "), message  # names the file first
    assert "\n" not in message and "Traceback" not in message
    return info.value.problem


def test_bad_missing_file(tmp_path: Path) -> None:
    assert "not found" in problem_of(tmp_path / "nope.csv")


def test_bad_empty_file(tmp_path: Path) -> None:
    assert "empty" in problem_of(write_text(tmp_path / "empty.csv", ""))


def test_bad_truncated_csv(tmp_path: Path) -> None:
    text = HEADER + "\n" + still_rows(400) + "4.0,0.01,-0"
    problem = problem_of(write_text(tmp_path / "cut.csv", text))
    assert "truncated" in problem and "line 402" in problem and "3 of 4" in problem


def test_bad_binary_garbage(tmp_path: Path) -> None:
    for seed in range(3):
        path = tmp_path / f"garbage{seed}.csv"
        path.write_bytes(np.random.default_rng(seed).bytes(4000))
        problem = problem_of(path)
        assert "binary" in problem or "not a text file" in problem
    text_junk = write_text(tmp_path / "junk.csv", "\x07\x1b[31m\x01\x02 hello\n" * 50)
    assert "not a text file" in problem_of(text_junk)


def test_bad_missing_columns(tmp_path: Path) -> None:
    text = "time_s,acc_x_mps2,acc_z_mps2\n" + "".join(f"{i / 100},0,9.8\n" for i in range(300))
    problem = problem_of(write_text(tmp_path / "twoaxes.csv", text))
    assert "missing" in problem and "acc_y_mps2" in problem and "expected" in problem


def test_bad_unknown_columns(tmp_path: Path) -> None:
    text = (
        HEADER
        + ",temperature_c,acc_x_ms2\n"
        + "".join(f"{i / 100},0,0,9.8,21.5,0\n" for i in range(300))
    )
    problem = problem_of(write_text(tmp_path / "extra.csv", text))
    assert "unknown" in problem and "temperature_c" in problem and "acc_x_ms2" in problem
    assert "gyr_x_dps" in problem  # says what is accepted


def test_bad_non_numeric_cell(tmp_path: Path) -> None:
    rows = still_rows(300).splitlines()
    rows[41] = "0.41,0.01,abc,9.8"
    text = "# rate_hz: 100\n" + HEADER + "\n" + "\n".join(rows) + "\n"
    problem = problem_of(write_text(tmp_path / "text.csv", text))
    assert "line 44" in problem and "acc_y_mps2" in problem and "'abc'" in problem


def test_bad_nan_or_inf(tmp_path: Path) -> None:
    rows = still_rows(300).splitlines()
    rows[99] = "0.99,nan,0,9.8"
    rows[150] = "1.5,0,inf,9.8"
    text = HEADER + "\n" + "\n".join(rows) + "\n"
    problem = problem_of(write_text(tmp_path / "nan.csv", text))
    assert "NaN" in problem and "line 101" in problem and "acc_x" in problem


@pytest.mark.parametrize(("bad_time", "word"), [(0.49, "duplicate"), (0.3, "backwards")])
def test_bad_timestamps_not_increasing(tmp_path: Path, bad_time: float, word: str) -> None:
    rows = still_rows(300).splitlines()
    rows[50] = f"{bad_time},0.01,-0.02,9.8"
    text = HEADER + "\n" + "\n".join(rows) + "\n"
    problem = problem_of(write_text(tmp_path / "time.csv", text))
    assert word in problem and "line 52" in problem


def test_batched_timestamps_are_named(tmp_path: Path) -> None:
    """A logger that stamps each Bluetooth packet (10 samples) instead of each sample: the
    message says so and what to do, not just "duplicate"."""
    rows = [f"{(i // 10) * 0.1!r},0.01,-0.02,9.8" for i in range(500)]
    problem = problem_of(write_text(tmp_path / "ble.csv", HEADER + "\n" + "\n".join(rows) + "\n"))
    assert "batches" in problem and "10 samples share each time" in problem
    assert "line 3" in problem and "spread each batch" in problem


@pytest.mark.parametrize(("rate_hz", "ok"), [(49.2, True), (48.5, False)])
def test_a_50_hz_sensor_whose_clock_runs_slow_is_accepted(tmp_path: Path, rate_hz: float,
                                                          ok: bool) -> None:
    """MEMS oscillators are off by 1-2 %: a 50 Hz sensor measured at 49.2 Hz is read, 48.5 Hz
    is refused as under 50 Hz."""
    path = write_text(tmp_path / "slow50.csv", HEADER + "\n" + still_rows(300, rate_hz=rate_hz))
    if ok:
        assert read_recording(path).sensors[0].rate_hz == pytest.approx(rate_hz)
    else:
        assert "at least 50 Hz" in problem_of(path)


def test_empty_gyro_columns_are_named_not_taken_for_a_cut(tmp_path: Path) -> None:
    """gyr_* columns left empty in every row end every line with a comma: that is not a file
    cut off mid-write (deleting the last line, as that message says, would not help)."""
    head = "time_s,acc_x_g,acc_y_g,acc_z_g,gyr_x_dps,gyr_y_dps,gyr_z_dps"
    rows = [f"{i / 100.0!r},0.01,-0.02,1.0,,," for i in range(300)]
    problem = problem_of(write_text(tmp_path / "nogyr.csv", head + "\n" + "\n".join(rows)))
    assert "column gyr_x_dps is empty in every row" in problem and "truncated" not in problem
    rows[-1] = rows[-1][: -len(",,")]  # a real cut: fewer cells
    assert "truncated" in problem_of(write_text(tmp_path / "cut.csv",
                                                head + "\n" + "\n".join(rows)))


def test_bad_too_short(tmp_path: Path) -> None:
    text = HEADER + "\n" + still_rows(150, rate_hz=100.0)  # 1.49 s
    problem = problem_of(write_text(tmp_path / "short.csv", text))
    assert "1.49 s" in problem and "at least 2 s" in problem


def test_bad_sample_rate_too_low(tmp_path: Path) -> None:
    text = HEADER + "\n" + still_rows(200, rate_hz=25.0)
    problem = problem_of(write_text(tmp_path / "slow.csv", text))
    assert "25 Hz" in problem and "at least 50 Hz" in problem


def test_bad_acceleration_unit(tmp_path: Path) -> None:
    text = HEADER + "\n" + still_rows(300, z=1.0)  # g written under _mps2 columns
    problem = problem_of(write_text(tmp_path / "g_as_mps2.csv", text))
    assert "wrong unit" in problem and "looks like g written under _mps2 columns" in problem


def test_bad_mcap_file_with_no_sensor_data(tmp_path: Path) -> None:
    path = tmp_path / "rawonly.mcap"
    with McapRecorder(path) as rec:
        rec.write_raw("dev", 1.0, b"\x01\x02")
    assert "no sensor data" in problem_of(path)


def test_validate_reports_the_sensor_of_a_multi_sensor_recording() -> None:
    rec = two_sensor_recording()
    validate_recording(rec, "run.mcap")  # fine as is
    rec.sensors[1].acc_mps2 = rec.sensors[1].acc_mps2 * 1000.0
    with pytest.raises(InputError) as info:
        validate_recording(rec, "run.mcap")
    assert info.value.source == "run.mcap" and "sensor 'L' (left_foot)" in info.value.problem
    assert "milli-g" in info.value.problem


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=6, max_size=60),
    st.sampled_from(["1.2.3", "1-2", "1e", "", ".", "-", "1e5.3", "2e3e1", "+-1", "1.e"]),
    st.integers(0, 10**6),
)
def test_damaged_cells_never_read_as_numbers(values, damaged, where):
    import tempfile

    from imu_hip.io.csv_file import _plain_numbers

    cells = [repr(v) for v in values]
    cells += ["0"] * (-len(cells) % 3)
    rows = [",".join(cells[i : i + 3]) for i in range(0, len(cells), 3)]
    assert _plain_numbers(("\n".join(rows) + "\n").encode())
    cells[where % len(cells)] = damaged
    rows = [",".join(cells[i : i + 3]) for i in range(0, len(cells), 3)]
    # One time column and 3 acceleration columns (times fine, 100 Hz); the damaged cell is
    # somewhere in the acceleration: the reader must refuse the file, never read a number.
    n = len(rows)
    text = "time_s,acc_x_mps2,acc_y_mps2,acc_z_mps2\n" + "".join(
        f"{k / 100!r},{row}\n" for k, row in enumerate(rows)
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "damaged.csv"
        path.write_text(text)
        with pytest.raises(InputError):
            csv_file.read_csv(path)
    assert n >= 2


def test_written_metadata_with_control_characters_reads_back(tmp_path):
    """A hostile device name (ANSI escape, bell) as sensor id: write_csv escapes it, so its own
    file stays readable and the name stays visible."""
    t = np.arange(0.0, 10.0, 0.01)
    acc = np.tile([0.0, 0.0, G], (t.size, 1))
    sensor = SensorRecording("bad\x1b[31mname\x07", "sacrum", 100.0, t, acc)
    sensor.metadata["note"] = "line one\nline two\x1b[2J"
    sensor.metadata["runner"] = "Läufer\u00a0👍"  # not control characters: kept as they are
    path = tmp_path / "hostile.csv"
    write_csv(sensor, path)
    back = read_csv(path).sensors[0]
    assert back.sensor_id == "bad\\x1b[31mname\\x07"
    assert back.metadata["note"] == "line one line two\\x1b[2J"
    assert back.metadata["runner"] == "Läufer\u00a0👍"
    np.testing.assert_array_equal(back.acc_mps2, acc)


# --- a file cut inside its last cell, and clearer wording ----------------------------------


def repr_rows(n: int, rate_hz: float = 100.0) -> list[str]:
    """Rows written as shortest repr (lengths vary, like write_csv): full-precision noise."""
    rng = np.random.default_rng(7)
    acc = rng.normal(0.0, 0.3, (n, 3)) + [0.0, 0.0, G]
    return [f"{i / rate_hz!r},{a!r},{b!r},{c!r}" for i, (a, b, c) in enumerate(acc.tolist())]


def test_cut_last_cell_that_still_parses_is_left_out_and_noted(tmp_path: Path) -> None:
    rows = repr_rows(400)
    full = read_recording(write_text(tmp_path / "full.csv", HEADER + "\n" + "\n".join(rows) + "\n"))
    text = HEADER + "\n" + "\n".join(rows)
    cut = text[: text.rfind(".") + 4]  # e.g. 9.8066512345 -> 9.806: still a number
    rec = read_recording(write_text(tmp_path / "cut.csv", cut))
    s, f = rec.sensors[0], full.sensors[0]
    assert len(s) == len(f) - 1  # the possibly cut sample is not read as data
    assert np.array_equal(s.acc_mps2, f.acc_mps2[:-1]) and np.array_equal(s.t_s, f.t_s[:-1])
    assert rec.metadata["truncated"] == "true"
    assert "line 401" in rec.metadata["truncated_detail"]
    assert "cut off" in rec.metadata["truncated_detail"]
    assert "truncated" not in full.metadata  # a file ending with a line end is complete


def test_cut_leaving_only_a_sign_says_cut_off(tmp_path: Path) -> None:
    text = HEADER + "\n" + "\n".join(repr_rows(400)) + "\n4.0,0.01,-0.02,-"
    problem = problem_of(write_text(tmp_path / "sign.csv", text))
    assert "cut off" in problem and "line 402" in problem and "'-'" in problem
    assert "not a number" not in problem


def test_cut_in_a_fixed_format_column_is_refused_and_a_complete_one_kept(tmp_path: Path) -> None:
    rows = [f"{i / 100:.4f},0.012345,-0.020000,{G + 0.001 * (i % 7):.6f}" for i in range(300)]
    body = HEADER + "\n" + "\n".join(rows)
    whole = read_recording(write_text(tmp_path / "fixed.csv", body))  # no final line end
    assert len(whole.sensors[0]) == 300 and "truncated" not in whole.metadata
    problem = problem_of(write_text(tmp_path / "fixed_cut.csv", body[:-2]))  # 9.80x -> 9.80
    assert "cut off" in problem and "fewer digits" in problem and "line 301" in problem


def test_nan_names_the_files_own_column(tmp_path: Path) -> None:
    header = "time_s,acc_x_g,acc_y_g,acc_z_g,gyr_x_dps,gyr_y_dps,gyr_z_dps"
    rows = [f"{i / 100!r},0.01,-0.02,1.0,0.5,-0.2,0.1" for i in range(300)]
    rows[120] = "1.2,0.01,-0.02,1.0,inf,-0.2,0.1"
    rows[200] = "2.0,0.01,-0.02,nan,0.5,-0.2,0.1"
    path = write_text(tmp_path / "nan_g.csv", header + "\n" + "\n".join(rows) + "\n")
    problem = problem_of(path)
    assert "infinite value at line 122, column gyr_x_dps" in problem


def test_empty_cell_is_called_an_empty_cell(tmp_path: Path) -> None:
    rows = still_rows(300).splitlines()
    rows[30] = "0.3,0.01,,9.8"
    problem = problem_of(write_text(tmp_path / "hole.csv", HEADER + "\n" + "\n".join(rows) + "\n"))
    assert "line 32, column acc_y_mps2: empty cell" in problem and "(empty)" not in problem


def test_row_with_one_value_is_singular(tmp_path: Path) -> None:
    rows = still_rows(300).splitlines()
    rows[30] = "0.3"
    problem = problem_of(write_text(tmp_path / "one.csv", HEADER + "\n" + "\n".join(rows) + "\n"))
    assert "line 32 has 1 value, expected 4" in problem


def test_comment_line_inside_the_data_is_named_as_such(tmp_path: Path) -> None:
    rows = still_rows(300).splitlines()
    rows.insert(150, "# pause: runner stopped")
    problem = problem_of(write_text(tmp_path / "mid.csv", HEADER + "\n" + "\n".join(rows) + "\n"))
    assert "line 152 is a comment/metadata line inside the data" in problem
    assert "values" not in problem


def test_repeated_header_inside_the_data_is_named_as_such(tmp_path: Path) -> None:
    rows = still_rows(300).splitlines()
    rows.insert(150, HEADER)
    problem = problem_of(write_text(tmp_path / "join.csv", HEADER + "\n" + "\n".join(rows) + "\n"))
    assert "line 152 repeats the header row" in problem


@pytest.mark.parametrize(("sep", "word"), [(";", "semicolons"), ("\t", "tabs")])
def test_semicolon_or_tab_separated_file_says_comma_separated(
    tmp_path: Path, sep: str, word: str
) -> None:
    text = (HEADER + "\n" + still_rows(300)).replace(",", sep)
    if sep == ";":
        text = text.replace(".", ",")  # as a European spreadsheet writes it
    problem = problem_of(write_text(tmp_path / "semi.csv", text))
    assert word in problem and "comma-separated" in problem
    assert len(problem) < 200 and "missing" not in problem


def test_comment_after_the_data_is_not_called_truncated(tmp_path: Path) -> None:
    text = HEADER + "\n" + still_rows(300) + "# end of recording"
    problem = problem_of(write_text(tmp_path / "footer.csv", text))
    assert "line 302 is a comment/metadata line inside the data" in problem
    assert "truncated" not in problem


@pytest.fixture(scope="module")
def written_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes]:
    """A write_csv file (shortest repr) and a fixed-format ("%.6f") one of the same sensor."""
    sensor = make_sensor(n=300, rate_hz=100.0)
    path = tmp_path_factory.mktemp("cut") / "w.csv"
    write_csv(sensor, path)
    table = np.column_stack([sensor.t_s, sensor.acc_mps2, sensor.gyr_rads])
    fixed = ("time_s,acc_x_mps2,acc_y_mps2,acc_z_mps2,gyr_x_rads,gyr_y_rads,gyr_z_rads\n"
             + "".join(",".join(f"{v:.6f}" for v in row) + "\n" for row in table))
    return path.read_bytes(), fixed.encode()


@settings(max_examples=30, deadline=None, suppress_health_check=[FIXTURE_HEALTH])
@given(which=st.sampled_from([0, 1]), frac=st.floats(0.0, 1.0))
def test_a_cut_last_row_is_never_read_as_altered_data(
    written_files, tmp_path: Path, which: int, frac: float
) -> None:
    data = written_files[which]
    last_start = data.rfind(b"\n", 0, len(data) - 1) + 1
    cut = last_start + 1 + int(frac * (len(data) - 1 - last_start - 1))  # inside the last row
    whole = tmp_path / "whole.csv"
    whole.write_bytes(data)
    full = read_csv(whole).sensors[0]
    path = tmp_path / "cut.csv"
    path.write_bytes(data[:cut])
    try:
        rec = read_csv(path)
    except InputError as err:
        assert "cut off" in err.problem
        return
    s = rec.sensors[0]
    n = len(s)
    assert n in (len(full) - 1, len(full))
    assert np.array_equal(s.t_s, full.t_s[:n]) and np.array_equal(s.gyr_rads, full.gyr_rads[:n])
    assert np.array_equal(s.acc_mps2, full.acc_mps2[:n])
    if n == len(full):  # kept: only the line end was cut, from a fixed-format file
        assert which == 1 and cut == len(data) - 1
    else:
        assert "cut off" in rec.metadata["truncated_detail"]


def test_nan_in_a_recording_names_the_si_column() -> None:
    sensor = make_sensor(n=1200)
    sensor.gyr_rads[700, 2] = np.nan
    with pytest.raises(InputError) as info:
        validate_recording(Recording([sensor]), "run.mcap")
    assert "NaN value at sample 700, column gyr_z_rads" in info.value.problem


def test_writers_name_swapped_arguments():
    from imu_hip.io import write_csv, write_mcap
    from imu_hip.model import ImuHipError, Recording, SensorRecording

    s = SensorRecording("s", "sacrum", 100.0, np.arange(3) / 100.0, np.zeros((3, 3)))
    with pytest.raises(ImuHipError, match="expected a SensorRecording first"):
        write_csv("x.csv", s)  # type: ignore[arg-type]
    with pytest.raises(ImuHipError, match="expected a Recording first"):
        write_mcap(s, "x.mcap")  # type: ignore[arg-type]
    assert isinstance(Recording([s]), Recording)
