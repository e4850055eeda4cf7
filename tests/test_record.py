"""``imu-hip record``: simulated devices end to end, crash safety, Ctrl-C, bad arguments."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from imu_hip.cli import main
from imu_hip.io.mcap_file import read_mcap, read_raw
from imu_hip.pipeline import analyze
from imu_hip.session import redecode

CLI = [sys.executable, "-c", "import sys; from imu_hip.cli import main; sys.exit(main())"]


def start_recording(out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([*CLI, "record", "--out", str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def wait_for_size(proc: subprocess.Popen, path: Path, size: int, timeout_s: float = 60.0):
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"recorder ended early: {proc.communicate()}")
        if path.exists() and path.stat().st_size >= size:
            return
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("recording did not grow in time")


def test_sigkill_mid_run_leaves_an_analysable_file(tmp_path):
    out = tmp_path / "killed.mcap"
    proc = start_recording(out, "--sim", "sacrum,left_foot", "--speed", "12", "--quiet")
    try:
        # ~45 s of data (two sensors, ~25 kB per sensor-second compressed) then a hard kill
        wait_for_size(proc, out, 1_500_000)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert proc.returncode == -signal.SIGKILL
    rec = read_mcap(out)
    assert rec.metadata["truncated"] == "true"
    assert {s.placement for s in rec.sensors} == {"sacrum", "left_foot"}
    sac = rec.sensor("sacrum")
    assert sac.duration_s > 20.0
    assert np.all(np.diff(sac.t_s) > 0)
    result = analyze(out)
    assert len(result.steps) > 20
    # the raw bytes decode again to the same samples, up to the last flush (the raw channel
    # may hold a few packets whose blocks were still waiting when the process died)
    again = redecode(out).sensors
    for s in rec.sensors:
        r = next(x for x in again if x.sensor_id == s.sensor_id)
        assert len(s) <= len(r) <= len(s) + 400 * 3
        assert np.array_equal(r.t_s[:len(s)], s.t_s)
        assert np.array_equal(r.acc_mps2[:len(s)], s.acc_mps2)


def test_ctrl_c_stops_cleanly_and_closes_the_file(tmp_path):
    out = tmp_path / "interrupted.mcap"
    proc = start_recording(out, "--sim", "--speed", "5")
    try:
        wait_for_size(proc, out, 50_000)
    finally:
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    rec = read_mcap(out)
    assert "truncated" not in rec.metadata
    assert rec.metadata["simulated"] == "true"
    assert "recording" in stdout and "closed" in stdout
    assert len(read_raw(out)) > 10


def test_record_sim_then_analyze(tmp_path, capsys):
    out = tmp_path / "run.mcap"
    code = main(["record", "--sim", "sacrum,left_foot,right_foot", "--duration", "45",
                 "--speed", "1000", "--out", str(out), "--status-every", "0.5"])
    assert code == 0
    text = capsys.readouterr().out
    assert "spm" in text and " ms" in text and "BW" in text  # per-step lines
    assert "[left_foot]" in text and "loss 0.0 %" in text  # status lines
    lines = [ln for ln in text.splitlines() if " spm " in ln]
    assert len(lines) > 80  # ~2.8 steps per second of running
    strides = [ln for ln in text.splitlines() if " rear " in ln]  # shoe strides (rear strike)
    assert len(strides) > 40 and any(" left " in ln for ln in strides)
    rec = read_mcap(out)
    assert sorted(s.placement for s in rec.sensors) == ["left_foot", "right_foot", "sacrum"]
    assert all(len(s) == 45 * 400 for s in rec.sensors)
    # the session's start time and every device's link quality are stated in the recording
    assert rec.metadata["start_time_utc"].startswith("20")
    devices = {k.split(".")[1] for k in rec.metadata if k.endswith(".loss_pct")}
    assert len(devices) == 3
    for d in devices:
        assert int(rec.metadata[f"device.{d}.packets"]) > 900  # 45 s x 400 Hz / 19 per packet
        assert float(rec.metadata[f"device.{d}.loss_pct"]) == 0.0
    assert main(["analyze", str(out)]) == 0
    summary = capsys.readouterr().out
    assert "steps" in summary and "sacrum" in summary
    # overwrite protection
    assert main(["record", "--sim", "--duration", "1", "--out", str(out)]) == 2
    assert "exists" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    ([], "--device"),
    (["--device", "Polar Sense 1234"], "NAME_OR_ADDRESS=PLACEMENT"),
    (["--device", "x=knee"], "unknown placement"),
    (["--sim", "sacrum,hand"], "--sim"),
    (["--sim", "sacrum,sacrum"], "repeated"),
    (["--sim", "--device", "x=sacrum"], "cannot be combined"),
    (["--device", "a=sacrum", "--device", "b=sacrum"], "same placement"),
    (["--device", "a=sacrum", "--device", "b=left_foot", "--device", "c=right_foot",
      "--device", "d=sacrum"], "at most 3"),
])
def test_bad_arguments_are_one_line_errors(tmp_path, capsys, args, message):
    assert main(["record", *args, "--out", str(tmp_path / "x.mcap")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "x.mcap").exists()


def test_missing_output_folder(tmp_path, capsys):
    assert main(["record", "--sim", "--out", str(tmp_path / "no" / "x.mcap")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_an_existing_file_of_another_kind_is_refused_for_its_name_not_its_existence(
        tmp_path, capsys):
    """`--overwrite` would not help with a .csv: the message says what would."""
    other = tmp_path / "run.csv"
    other.write_text("keep me")
    for extra in ([], ["--overwrite"]):
        assert main(["record", "--sim", "--out", str(other), *extra]) == 2
        assert "ending in .mcap" in capsys.readouterr().err
    assert other.read_text() == "keep me"


def test_device_names_are_escaped_in_the_terminal():
    from types import SimpleNamespace

    from imu_hip.commands.record import LiveView
    from imu_hip.session import DeviceStatus

    buf = io.StringIO()
    view = LiveView(buf)
    evil = "Polar\x1b[2J\x1b[31m evil\nname\r"
    link = SimpleNamespace(info=SimpleNamespace(name=evil))
    view.header([SimpleNamespace(link=link, device_id=evil, placement="sacrum",
                                 protocol="imu-hip")], Path("x.mcap"))
    view.print_status({"a": DeviceStatus(device_id=evil, name=evil, placement="sacrum",
                                         protocol="imu-hip", state="failed", detail=evil)})
    out = buf.getvalue()
    assert "\x1b" not in out and "\r" not in out
    assert out.count("\n") == 4  # header line, 'recording to', column titles, one status line
    assert "Polar" in out


def test_saturation_is_said_at_the_end_of_a_recording():
    """The live view says how many steps/strides the saturated accelerometer cut, and says
    nothing when none did; a live shoe stage counts its saturated strides."""
    import io

    from imu_hip.commands.record import LiveView, ShoeStrides
    from imu_hip.sim import RunnerParams, simulate

    buf = io.StringIO()
    view = LiveView(buf)
    view.saturation(0, 0)
    assert buf.getvalue() == ""
    view.saturation(12, 3)
    assert "accelerometer saturated in 12 hip steps and 3 shoe strides" in buf.getvalue()
    shoes = ShoeStrides(LiveView(io.StringIO()))
    p = RunnerParams(phases=(("run", 15.0),), acc_range_g=4.0, rate_hz=200.0)
    for b in simulate(p, seed=3, placements=("left_foot",)).recording.sensors[0].blocks(40):
        shoes.on_block(b)
    shoes.finish()
    assert shoes.strides_saturated() > 5
