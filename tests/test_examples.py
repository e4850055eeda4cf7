"""The example scripts run as documented (simulated data, no hardware)."""

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def _run(args, cwd):
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_live_session_example_records_steps(tmp_path):
    p = _run([str(EXAMPLES / "live_session.py"), "--out", "run.mcap", "--seconds", "20",
              "--speed", "200"], tmp_path)
    assert p.returncode == 0, p.stderr
    assert " spm" in p.stdout and (tmp_path / "run.mcap").stat().st_size > 0


def test_report_and_history_example(tmp_path):
    p = _run([str(EXAMPLES / "report_and_history.py"), "--out", "r.html", "--db", "h.sqlite"],
             tmp_path)
    assert p.returncode == 0, p.stderr
    assert "<svg" in (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "1 runs in h.sqlite" in p.stdout
    again = _run([str(EXAMPLES / "report_and_history.py"), "--out", "r.html", "--db",
                  "h.sqlite"], tmp_path)  # the same simulated run again: said, not a crash
    assert again.returncode == 0, again.stderr
    assert "already in the history" in again.stdout and "1 runs in h.sqlite" in again.stdout
