"""Every sub-command against bad input, as a demanding user would try it.

The standard: a clear one-line ``imu-hip: error: ...`` naming the input (argparse's own usage
error is accepted for option values), exit code 2, no traceback, no output file left behind, and
every file that was there before untouched. Untrusted text (file metadata) is escaped wherever it
is shown (terminal, HTML report, viewer titles).
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from imu_hip.cli import main

HOSTILE_HTML = "<script>alert(1)</script><img src=x onerror=alert(2)>"
HOSTILE_TERM = "\x1b[31mRED\x1b]0;title\x07\nline2"


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> Path:
    """A folder of good, broken and hostile inputs, made once (a simulated recording)."""
    from imu_hip.io import read_recording
    from imu_hip.io.csv_file import write_csv
    from imu_hip.io.mcap_file import write_mcap
    from imu_hip.model import Recording, SensorRecording

    d = tmp_path_factory.mktemp("audit_sources")
    assert main(["record", "--sim", "--speed", "1000", "--duration", "8", "--quiet",
                 "--out", str(d / "good.mcap")]) == 0
    s = read_recording(d / "good.mcap").sensors[0]
    write_csv(s, d / "good.csv")
    text = (d / "good.csv").read_text()
    body = "".join(line for line in text.splitlines(True) if not line.startswith("# sensor_id"))
    (d / "html.csv").write_text(f"# sensor_id: {HOSTILE_HTML}\n" + body)
    (d / "cr.csv").write_text("# sensor_id: abc\rEVIL\n" + body)
    (d / "ansi.csv").write_text("# sensor_id: \x1b[31mRED\x1b[0m\n" + body)
    hostile = SensorRecording(HOSTILE_TERM + HOSTILE_HTML, "sacrum", s.rate_hz, s.t_s,
                              s.acc_mps2, s.gyr_rads, {"note": HOSTILE_TERM})
    write_mcap(Recording([hostile]), d / "hostile.mcap")
    (d / "empty.csv").write_text("")
    (d / "empty.mcap").write_bytes(b"")
    (d / "binary.csv").write_bytes(np.random.default_rng(1).bytes(4000))
    (d / "binary.mcap").write_bytes(np.random.default_rng(2).bytes(4000))
    cut = text.index("\n", len(text) // 2) + 4  # always mid-line: a few characters into a row
    (d / "trunc.csv").write_text(text[:cut])
    raw = (d / "good.mcap").read_bytes()
    (d / "trunc.mcap").write_bytes(raw[: len(raw) // 3])
    (d / "existing.mcap").write_bytes(raw)
    (d / "summary.json").write_text('{"steps": 40}')
    (d / "corrupt.json").write_text("{not json")
    (d / "foreign.db").write_text("not a database\n" * 50)
    con = sqlite3.connect(d / "other.db")
    con.execute("create table foo(x)")
    con.commit()
    con.close()
    (d / "adir").mkdir()
    return d


@pytest.fixture
def work(sources, tmp_path, monkeypatch) -> Path:
    """A fresh copy of the inputs as the current folder; user data folders inside it."""
    w = tmp_path / "w"
    shutil.copytree(sources, w)
    monkeypatch.chdir(w)
    monkeypatch.setenv("IMU_HIP_HISTORY_DB", str(tmp_path / "default_history.db"))
    monkeypatch.setenv("IMU_HIP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return w


def snapshot(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.md5(p.read_bytes()).hexdigest()
            for p in folder.rglob("*") if p.is_file()}


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as e:  # argparse
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def assert_clean_failure(code: int, err: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert "Traceback" not in err and "\x1b" not in err, err
    if lines and lines[0].startswith("usage:"):  # argparse's usage error
        assert lines[-1].startswith("imu-hip") and ": error: " in lines[-1], err
    else:
        assert len(lines) == 1 and lines[0].startswith("imu-hip: error: "), err


BAD_FILES = ["missing.csv", "empty.csv", "empty.mcap", "binary.csv", "binary.mcap", "trunc.csv",
             "trunc.mcap", "adir", "ansi.csv"]
BAD_NUMBERS = ["-1", "0", "nan", "inf", "-inf", "1e400", "abc", ""]
NUMERIC = [
    (["analyze", "good.csv"], "--mass-kg"),
    (["report", "good.csv", "--out", "x.html"], "--mass-kg"),
    (["scan"], "--timeout"),
    (["history", "add", "good.csv"], "--distance-km"),
    (["history", "add", "good.csv"], "--mass-kg"),
    (["record", "--sim", "--out", "n.mcap"], "--duration"),
    (["record", "--sim", "--out", "n.mcap"], "--speed"),
    (["record", "--sim", "--out", "n.mcap"], "--scan-s"),
    (["record", "--sim", "--out", "n.mcap"], "--status-every"),
    (["view", "--sim", "--duration", "0.1"], "--speed"),
    (["view", "--sim", "--duration", "0.1"], "--window"),
    (["view", "--sim", "--duration", "0.1"], "--cadence-target"),
    (["view", "--sim", "--duration", "0.1"], "--drop-limit"),
    (["view", "--sim", "--duration", "0.1"], "--scan-s"),
    (["view", "--sim"], "--duration"),
    (["demo", "--out", "demo"], "--minutes"),
    (["calibrate", "accel", "--sim", "--out", "c.json"], "--hold-s"),
    (["calibrate", "accel", "--sim", "--out", "c.json"], "--range-g"),
]
CASES = (
    [["analyze", f] for f in BAD_FILES]
    + [["report", f, "--out", "r.html"] for f in BAD_FILES]
    + [["history", "add", f] for f in BAD_FILES]
    + [["calibrate", "accel", "--from-file", f, "--out", "c.json"] for f in BAD_FILES]
    + [["view", f, "--duration", "0.1", "--screenshot", "v.png"] for f in BAD_FILES]
    + [[*argv, f"{opt}={v}"] for argv, opt in NUMERIC for v in BAD_NUMBERS]
    + [["demo", "--seed", "x"], ["view", "--sim", "--window", "61", "--duration", "0.1"],
       ["history", "remove", "x"], ["report", "good.csv", "--date", "yesterday"],
       ["history", "--tz", "Mars/Base"]]
    # --device strings (no adapter here: a well-formed one fails at the scan)
    + [[cmd, *sum((["--device", d] for d in devs), []), *extra]
       for cmd, extra in (("record", ["--out", "d.mcap", "--scan-s", "0.2"]),
                          ("view", ["--scan-s", "0.2", "--duration", "0.1"]))
       for devs in (["x"], ["=sacrum"], ["a=hip"], ["a=unknown"], ["a=sacrum", "b=sacrum"],
                    ["a=sacrum", "b=left_foot", "c=right_foot", "d=sacrum"],
                    ["\x1b[31ma=hip"])]
    + [["record", "--device", "a=sacrum", "--out", "d.mcap", "--scan-s", "0.2"],
       ["record", "--device", "a=sacrum", "--out", "existing.mcap", "--overwrite",
        "--scan-s", "0.2"],
       ["record", "--sim", "--device", "a=sacrum", "--out", "d.mcap"],
       ["record", "--out", "d.mcap"],
       ["scan", "--timeout", "0.2"],
       ["calibrate", "accel", "--device", "foo", "--out", "c.json"]]
    + [[cmd, f"--sim={s}", *extra]
       for cmd, extra in (("record", ["--out", "s.mcap", "--duration", "1"]),
                          ("view", ["--duration", "0.1"]))
       for s in ("hip", "", ",", "sacrum,sacrum", "sacrum,unknown", "\x1b[31m")]
    # outputs: never over a recording, the input or a folder; the folder must exist
    + [["record", "--sim", "--speed", "100", "--duration", "1", "--out", o]
       for o in ("existing.mcap", "adir", "nodir/x.mcap", "x.csv", "good.csv")]
    + [["record", "--sim", "--speed", "100", "--duration", "1", "--overwrite", "--out", o]
       for o in ("adir", "summary.json", "good.csv")]
    + [["analyze", "good.csv", "--out", "existing.mcap"]]
    + [["report", "good.csv", "--out", o]
       for o in ("existing.mcap", "good.csv", "adir", "nodir/x.html", "summary.json")]
    + [["report", "good.csv", "--out", "e.html", "--export", "existing.mcap"]]
    + [["history", "--db", "h.db", "report", "--out", o]
       for o in ("existing.mcap", "good.csv", "adir", "nodir/x.html")]
    + [["calibrate", "accel", "--sim", "--hold-s", "0.5", "--out", o]
       for o in ("existing.mcap", "good.csv", "adir", "nodir/x.json", "summary.json",
                 "corrupt.json")]
    + [["view", "--sim", "--speed", "16", "--duration", "0.1", "--screenshot", o]
       for o in ("existing.mcap", "good.csv", "adir", "nodir/x.png")]
    + [["view", "--sim", "--screenshot", "x.png"]]
    + [["calibrate", "show", t] for t in ("nosuch", "nosuch.json", "corrupt.json", "adir",
                                          "good.mcap", "\x1b[31mX")]
    + [["history", "--db", db, *action]
       for db in ("foreign.db", "other.db", "good.mcap", "adir")
       for action in ([], ["add", "good.csv"], ["report", "--out", "hr.html"], ["remove", "1"])]
    + [["history", "--db", "fresh.db", "remove", "99"]]
)


@pytest.mark.parametrize("argv", CASES, ids=lambda a: " ".join(a).encode("unicode_escape")
                         .decode()[:90])
def test_bad_input_fails_cleanly_and_loses_nothing(argv, work, capsys):
    before = snapshot(work)
    code, _, err = run(argv, capsys)
    assert_clean_failure(code, err)
    after = snapshot(work)
    assert {k: after.get(k) for k in before} == before, "a file that was there was changed"
    new = set(after) - set(before) - {"fresh.db"}  # remove: an empty history is created
    assert not new, f"left behind: {new}"


def test_locked_history_fails_cleanly(work, capsys):
    assert main(["history", "--db", "h.db", "add", "good.csv"]) == 0
    capsys.readouterr()
    before = snapshot(work)
    con = sqlite3.connect(work / "h.db", isolation_level=None)
    con.execute("BEGIN EXCLUSIVE")
    try:
        for action in (["add", "good.csv"], ["remove", "1"]):  # each waits for the lock ~2 s
            code, _, err = run(["history", "--db", "h.db", *action], capsys)
            assert_clean_failure(code, err)
            assert "locked" in err
    finally:
        con.execute("ROLLBACK")
        con.close()
    assert snapshot(work) == before


def test_existing_recording_is_replaced_only_with_overwrite(work, capsys):
    argv = ["record", "--sim", "--speed", "1000", "--duration", "3", "--quiet",
            "--out", "existing.mcap"]
    code, _, err = run(argv, capsys)
    assert_clean_failure(code, err)
    old = (work / "existing.mcap").read_bytes()
    assert run([*argv, "--overwrite"], capsys)[0] == 0
    assert (work / "existing.mcap").read_bytes() != old


@pytest.mark.parametrize("name", ["html.csv", "cr.csv", "hostile.mcap"])
def test_hostile_metadata_is_escaped(name, work, capsys):
    code, out, err = run(["analyze", name], capsys)
    assert code == 0, err
    assert "\x1b" not in out + err and "\r" not in out + err and "\x07" not in out + err
    code, out, err = run(["report", name, "--out", "r.html"], capsys)
    assert code == 0, err
    page = (work / "r.html").read_text()
    assert "<script>alert" not in page and "<img src=x" not in page
    assert name == "cr.csv" or "&lt;script&gt;alert(1)" in page
    code, out, err = run(["history", "--db", "h.db", "add", name], capsys)
    assert code == 0, err
    code, out, err = run(["history", "--db", "h.db"], capsys)
    assert code == 0, err
    assert "\x1b" not in out + err and "\r" not in out + err


def test_viewer_titles_escape_the_sensor_id(work, capsys, monkeypatch):
    pytest.importorskip("PyQt6")
    pytest.importorskip("pyqtgraph")
    from imu_hip.viewer import app

    titles: list[str] = []
    original = app.ViewerWindow.save_screenshot

    def save(self, path):
        for entry in self._raw.values():
            titles.extend(p.titleLabel.item.toPlainText() for p, _ in entry["plots"])
        original(self, path)

    monkeypatch.setattr(app.ViewerWindow, "save_screenshot", save)
    code, _, err = run(["view", "html.csv", "--speed", "16", "--duration", "0.3",
                        "--screenshot", "v.png"], capsys)
    assert code == 0, err
    assert titles and all("<script>alert(1)</script>" in t for t in titles), titles


def test_view_without_adapter_is_one_line_in_a_real_process(work):
    """No Bluetooth here: the viewer's scan fails after the window opened; stderr still holds
    only the error (Qt's offscreen-platform warning is dropped)."""
    import os
    import subprocess
    import sys

    pytest.importorskip("PyQt6")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    r = subprocess.run([sys.executable, "-m", "imu_hip.cli", "view", "--device", "a=sacrum",
                        "--scan-s", "0.2", "--duration", "0.1"], capture_output=True, text=True,
                       timeout=60, env=env, cwd=work)
    assert_clean_failure(r.returncode, r.stderr)
