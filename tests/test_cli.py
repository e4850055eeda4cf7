"""The imu-hip command: outputs of analyze, and one clear line + exit code 2 for bad input."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from imu_hip.cli import main

DATA = Path(__file__).parent / "data" / "sacrum_running_grf" / "trial_03_imu.csv"


def _csv(path: Path, header: str, rows: np.ndarray | list[str]) -> Path:
    lines = [header]
    if isinstance(rows, np.ndarray):
        lines += [",".join(repr(float(v)) for v in r) for r in rows]
    else:
        lines += rows
    path.write_text("\n".join(lines) + "\n")
    return path


def _good_rows(n=2000, rate=100.0, g=1.0):
    t = np.arange(n) / rate
    return np.column_stack([t, 0.1 * np.sin(t), 0 * t, g + 0.2 * np.sin(9 * t)])


HEADER = "time_s,acc_x_g,acc_y_g,acc_z_g"


def _bad_files(tmp: Path) -> dict[str, tuple[Path, str]]:
    """name -> (file, words the error must contain; never words of the file's name)."""
    rows = _good_rows()
    dup = rows.copy()
    dup[500, 0] = dup[499, 0]
    dec = rows.copy()
    dec[500, 0] = dec[498, 0]
    nan = rows.copy()
    nan[300, 3] = np.nan
    spike = rows.copy()
    spike[700, 3] = 1e5  # one glitch sample, 100 000 g
    text = [",".join(repr(float(v)) for v in r) for r in rows]
    text_bad_cell = text.copy()
    text_bad_cell[10] = "0.1,abc,0,1"
    text_damaged = text.copy()
    text_damaged[10] = "0.1,1.2.3,0,1"  # only number characters: must not read as 1.2
    cases = {
        "missing": (tmp / "nope.csv", "not found"),
        "empty": (tmp / "empty.csv", "0 bytes"),
        "binary": (tmp / "bin.csv", "binary"),
        "truncated": (tmp / "trunc.csv", "cut off"),
        "missing_column": (_csv(tmp / "mc.csv", "time_s,acc_x_g,acc_y_g", rows[:, :3]), "acc_z"),
        "unknown_column": (
            _csv(tmp / "uc.csv", HEADER + ",temp_c", np.column_stack([rows, rows[:, 0]])),
            "temp_c",
        ),
        "non_numeric": (_csv(tmp / "nn.csv", HEADER, text_bad_cell), "abc"),
        "damaged_number": (_csv(tmp / "dn.csv", HEADER, text_damaged), "1.2.3"),
        "nan": (_csv(tmp / "nan.csv", HEADER, nan), "NaN value at line 302"),
        "duplicate_time": (_csv(tmp / "dup.csv", HEADER, dup), "time"),
        "decreasing_time": (_csv(tmp / "dec.csv", HEADER, dec), "time"),
        "too_short": (_csv(tmp / "short.csv", HEADER, _good_rows(n=100)), "at least 2 s"),
        # readable, but shorter than three of the slowest steps: no step could be found
        "too_short_for_steps": (_csv(tmp / "short3.csv", HEADER, _good_rows(n=300)), "4.5 s"),
        "low_rate": (_csv(tmp / "slow.csv", HEADER, _good_rows(rate=25.0)), "at least 50 Hz"),
        "wrong_unit": (_csv(tmp / "unit.csv", HEADER, _good_rows(g=9.81)), "m/s"),
        "corrupted_sample": (_csv(tmp / "spike.csv", HEADER, spike), "beyond any imu"),
    }
    (tmp / "empty.csv").write_bytes(b"")
    (tmp / "bin.csv").write_bytes(bytes(range(256)) * 40)
    trunc = "\n".join([HEADER, *text])
    (tmp / "trunc.csv").write_text(trunc[: trunc.rfind(",")])  # cut inside the last row
    return cases


CASES = sorted(
    [
        "missing",
        "empty",
        "binary",
        "truncated",
        "missing_column",
        "unknown_column",
        "non_numeric",
        "damaged_number",
        "nan",
        "duplicate_time",
        "decreasing_time",
        "too_short",
        "too_short_for_steps",
        "low_rate",
        "wrong_unit",
        "corrupted_sample",
    ]
)


@pytest.mark.parametrize("case", CASES)
def test_bad_input_one_line_exit_2(case, tmp_path, capsys):
    path, words = _bad_files(tmp_path)[case]
    code = main(["analyze", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("imu-hip: error: ")
    assert path.name in err
    assert words.lower() in err.lower(), err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_analyze_writes_steps_and_summary(tmp_path, capsys):
    assert main(["analyze", str(DATA), "--mass-kg", "76.8", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "cadence_spm" in out and "not available: pelvic_drop_deg" in out
    header = (tmp_path / "steps.csv").read_text().splitlines()[0].split(",")
    from imu_hip.model import STEP_COLUMNS

    assert header == list(STEP_COLUMNS)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["step_count"] >= 14
    assert summary["unavailable"]["pelvic_drop_deg"].startswith("no gyroscope")
    assert summary["vgrf_peak_n_median"] > 76.8 * 9.8  # running: peak force above body weight


def test_console_script_exit_code_and_no_traceback(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("hello,world\n1,2\n")
    proc = subprocess.run(
        [sys.executable, "-m", "imu_hip.cli", "analyze", str(bad)], capture_output=True, text=True
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "bad.csv" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


def test_50_hz_timestamps_with_rounding_are_accepted(tmp_path):
    rows = _good_rows(n=300, rate=50.0)
    rows[:, 0] = np.arange(300) * 0.02 + 1e-9 * np.sin(np.arange(300))  # median dt a hair over
    assert main(["analyze", str(_csv(tmp_path / "fifty.csv", HEADER, rows))]) == 0


def test_bad_option_values_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["analyze", str(DATA), "--mass-kg", "-3"])
    assert e.value.code == 2
    assert "positive" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        main(["analyze", str(DATA), "--mass-kg", "7000"])  # a typo for 70.00
    assert e.value.code == 2
    assert "20 to 400 kg" in capsys.readouterr().err


def test_standing_only_recording_gives_no_steps(tmp_path, capsys):
    t = np.arange(0, 20, 0.01)
    rng = np.random.default_rng(0)
    rows = np.column_stack(
        [t, 0.01 * rng.standard_normal((t.size, 2)), 1 + 0.01 * rng.standard_normal(t.size)]
    )
    path = _csv(tmp_path / "stand.csv", HEADER, rows)
    assert main(["analyze", str(path), "--out", str(tmp_path / "o")]) == 0
    assert "steps 0 " in capsys.readouterr().out
    assert json.loads((tmp_path / "o" / "summary.json").read_text())["step_count"] == 0


def test_shoe_stream_without_gyro_names_the_file_and_stream(tmp_path, capsys):
    from imu_hip.io import read_recording, write_mcap

    rec = read_recording(DATA)
    rec.sensors[0].placement = "left_foot"
    write_mcap(rec, tmp_path / "shoe.mcap")
    assert main(["analyze", str(tmp_path / "shoe.mcap")]) == 2
    err = capsys.readouterr().err
    assert "shoe.mcap" in err and "left_foot" in err and "angular rate" in err
    assert main(["analyze", str(tmp_path / "shoe.mcap"), "--placement", "sacrum"]) == 2
    assert "no sacrum sensor" in capsys.readouterr().err


def test_placement_line_of_a_csv_is_respected(tmp_path, capsys):
    text = DATA.read_text().replace("# placement: sacrum", "# placement: left_foot")
    if "# placement: left_foot" not in text:
        text = "# placement: left_foot\n" + text
    (tmp_path / "foot.csv").write_text(text)
    assert main(["analyze", str(tmp_path / "foot.csv")]) == 2
    assert "left_foot" in capsys.readouterr().err


def test_output_problems_are_one_line_errors(tmp_path, capsys):
    (tmp_path / "afile").write_text("keep me")
    assert main(["analyze", str(DATA), "--out", str(tmp_path / "afile")]) == 2
    err = capsys.readouterr()
    assert "not a folder" in err.err and err.out == ""  # failed before analysing
    assert (tmp_path / "afile").read_text() == "keep me"
    (tmp_path / "o" / "steps.csv").mkdir(parents=True)  # a folder where the file should go
    assert main(["analyze", str(DATA), "--out", str(tmp_path / "o")]) == 2
    assert "cannot write" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["analyze", str(DATA), "--mass-kg", "inf"])


def test_a_broken_shoe_stream_does_not_stop_the_hip_analysis(tmp_path, capsys):
    from imu_hip.io import read_recording, write_mcap
    from imu_hip.model import Recording, SensorRecording

    hip = read_recording(DATA).sensors[0]
    t = np.arange(100) / 100.0  # 1 s only: too short to analyse on its own
    shoe = SensorRecording("shoe", "left_foot", 100.0, t, np.tile([0.0, 0.0, 9.81], (100, 1)))
    write_mcap(Recording([hip, shoe]), tmp_path / "both.mcap")
    assert main(["analyze", str(tmp_path / "both.mcap")]) == 0
    n_ref = len(np.genfromtxt(DATA.parent / "trial_03_contacts.csv", delimiter=",", names=True))
    assert f"steps {n_ref} " in capsys.readouterr().out  # every force-plate contact
    assert main(["analyze", str(tmp_path / "both.mcap"), "--placement", "left_foot"]) == 2
    assert "only 0.99 s" in capsys.readouterr().err


def test_log_lines_from_the_command_line_are_escaped():
    """A warning carrying a hostile device name or error text reaches the terminal with its
    control characters escaped (ESC, BEL, carriage return, line break), as one line."""
    import io
    import logging

    from imu_hip.cli import install_log_handler

    stream = io.StringIO()
    handler = install_log_handler(stream)
    try:
        logging.getLogger("imu_hip.session").warning(
            "device %s failed: %s", "evil\x1b[2J\x07name", "x\rimu-hip: all good\nFAKE")
    finally:
        logging.getLogger("imu_hip").removeHandler(handler)
    out = stream.getvalue()
    assert out.count("\n") == 1 and "\r" not in out
    assert "\x1b" not in out and "\x07" not in out
    assert "evil\\x1b[2J\\x07name" in out and "x\\rimu-hip: all good\\nFAKE" in out


def test_main_leaves_no_log_handler_behind(capsys):
    """Each run of main() installs its handler and removes it, so a program calling main()
    twice (or pytest capturing) never gets warnings twice or on an old stream."""
    import logging

    before = list(logging.getLogger("imu_hip").handlers)
    assert main(["analyze", "/nonexistent/run.csv"]) == 2
    assert logging.getLogger("imu_hip").handlers == before


def test_outputs_are_written_even_when_the_reader_of_stdout_goes_away(tmp_path):
    """`imu-hip analyze FILE --out DIR | head -1`: the pipe closes before the summary is
    printed, and the files must still be there."""
    out = tmp_path / "o"
    proc = subprocess.Popen(
        [sys.executable, "-m", "imu_hip.cli", "analyze", str(DATA), "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line
    _, err = proc.communicate(timeout=120)
    assert b"Traceback" not in err
    assert {p.name for p in out.iterdir()} == {"steps.csv", "summary.json"}


def test_truncated_mcap_is_analysed_with_a_warning(tmp_path, capsys):
    from imu_hip.io import write_mcap
    from imu_hip.sim import RunnerParams, simulate

    # long enough for more than one 1 MiB chunk: the cut keeps the first
    sim = simulate(RunnerParams(phases=(("run", 240.0),), rate_hz=200.0), seed=2,
                   placements=("sacrum",))
    whole = tmp_path / "run.mcap"
    write_mcap(sim.recording, whole)
    data = whole.read_bytes()
    cut = tmp_path / "cut.mcap"
    cut.write_bytes(data[: int(0.9 * len(data))])
    assert main(["analyze", str(cut), "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("warning: ") and "cut off" in out
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert "cut off" in summary["recording_truncated"]
    assert 0 < summary["step_count"]
    assert main(["analyze", str(whole), "--out", str(tmp_path / "w")]) == 0
    assert "warning" not in capsys.readouterr().out
    assert "recording_truncated" not in json.loads((tmp_path / "w" / "summary.json").read_text())


def test_analyze_never_writes_over_a_recording_or_through_a_link(tmp_path, capsys):
    folder = tmp_path / "here"
    folder.mkdir()
    rec = folder / "steps.csv"  # a recording that happens to have an output's name
    rec.write_bytes(DATA.read_bytes())
    assert main(["analyze", str(rec), "--out", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "not an output of imu-hip" in err and err.count("\n") == 1
    assert rec.read_bytes() == DATA.read_bytes()
    assert sorted(p.name for p in folder.iterdir()) == ["steps.csv"]  # nothing else written
    victim = tmp_path / "victim.csv"
    victim.write_text("keep me")
    linked = tmp_path / "linked"
    linked.mkdir()
    (linked / "summary.json").symlink_to(victim)
    assert main(["analyze", str(DATA), "--out", str(linked)]) == 2
    assert "link" in capsys.readouterr().err and victim.read_text() == "keep me"
    other = tmp_path / "other"
    other.mkdir()
    (other / "summary.json").write_text('{"mine": 1}')  # another program's JSON
    assert main(["analyze", str(DATA), "--out", str(other)]) == 2
    err = capsys.readouterr()
    assert "not an output of imu-hip" in err.err and err.out == ""  # refused before analysing
    assert (other / "summary.json").read_text() == '{"mine": 1}'


def test_analyze_replaces_its_own_outputs_and_leaves_no_stale_table(tmp_path, capsys):
    from imu_hip.pipeline import AnalysisResult
    from imu_hip.steps import StepTable
    from imu_hip.strides import StrideTable

    out = tmp_path / "o"
    assert main(["analyze", str(DATA), "--out", str(out)]) == 0
    first = (out / "summary.json").read_text()
    assert main(["analyze", str(DATA), "--out", str(out)]) == 0  # same outputs, replaced
    assert (out / "summary.json").read_text() == first
    shoes_only = AnalysisResult(StepTable(), {"stride_count": 0}, None, strides=StrideTable())
    shoes_only.write(out)
    assert sorted(p.name for p in out.iterdir()) == ["strides.csv", "summary.json"]
    capsys.readouterr()


def test_declared_body_axes_must_have_gravity_near_z(tmp_path, capsys):
    rows = _good_rows(n=1000)
    rows[:, [1, 3]] = rows[:, [3, 1]]  # gravity along x
    path = _csv(tmp_path / "sideways.csv", HEADER, rows)
    assert main(["analyze", str(path), "--axes", "body"]) == 2
    err = capsys.readouterr().err
    assert "sideways.csv" in err and "from +z" in err and err.count("\n") == 1
    assert main(["analyze", str(path)]) == 0  # the automatic alignment copes


def test_written_paths_are_escaped(tmp_path, capsys):
    out = tmp_path / "evil\x1b[31mred"
    assert main(["analyze", str(DATA), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "\x1b" not in text and "\\x1b[31mred" in text


def test_a_short_hip_stream_beside_shoes_leaves_the_shoes_analysed(tmp_path, capsys):
    from imu_hip.io import write_mcap
    from imu_hip.model import Recording, SensorRecording
    from imu_hip.sim import RunnerParams, simulate

    sim = simulate(RunnerParams(phases=(("run", 30.0),), rate_hz=200.0), seed=1,
                   placements=("sacrum", "left_foot", "right_foot"))
    hip = sim.recording.sensor("sacrum")
    short = SensorRecording(hip.sensor_id, "sacrum", hip.rate_hz, hip.t_s[:600],
                            hip.acc_mps2[:600], hip.gyr_rads[:600])
    shoes = [s for s in sim.recording.sensors if s.placement != "sacrum"]
    write_mcap(Recording([short, *shoes]), tmp_path / "s.mcap")
    assert main(["analyze", str(tmp_path / "s.mcap"), "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "note: the hip (sacral) stream" in out and "at least 4.5 s" in out
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["stride_count"] > 30 and "hip_not_analysed" in summary
    assert main(["report", str(tmp_path / "s.mcap"), "--out", str(tmp_path / "r.html")]) == 0
    assert "hip not analysed" in (tmp_path / "r.html").read_text(encoding="utf-8")
