"""After a run: the HTML report and the run log with its load-progression warnings.

    python examples/report_and_history.py [RUN.mcap|.csv] [--out report.html] [--db runs.sqlite]

Without a recording it simulates a 5-minute run with a hip and two shoe sensors first.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import imu_hip
from imu_hip.history import History, file_fingerprint, load_warnings, record_from_run
from imu_hip.model import ImuHipError
from imu_hip.report import load_run, run_report_html


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", help="recording (default: simulate one)")
    parser.add_argument("--out", default="report.html", help="HTML report to write")
    parser.add_argument("--db", default="runs.sqlite", help="run log (SQLite) to add the run to")
    args = parser.parse_args()

    path = args.run
    if path is None:
        sim = imu_hip.sim.simulate(imu_hip.sim.demo_params(minutes=5.0), seed=2,
                                   placements=("sacrum", "left_foot", "right_foot"))
        path = str(Path(tempfile.mkdtemp()) / "run.mcap")
        imu_hip.write_mcap(sim.recording, path)

    run = load_run(path)  # analyses every stream of the recording
    Path(args.out).write_text(run_report_html(run), encoding="utf-8")
    print(f"wrote {args.out}")

    history = History(args.db)
    try:
        history.add(record_from_run(run, file_fingerprint(path)))
    except ImuHipError as e:  # e.g. the same recording added on an earlier run of this script
        print(f"not added: {e}")
    runs = history.runs()
    for warning in load_warnings(runs):
        print("warning:", warning.message)
    print(f"{len(runs)} runs in {args.db}")


if __name__ == "__main__":
    main()
