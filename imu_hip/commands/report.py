"""``imu-hip report RUN``: one self-contained HTML page about a run (opens offline)."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from imu_hip.cli import ProgressBar, body_mass_kg
from imu_hip.model import PLACEMENTS, ImuHipError
from imu_hip.text import wrote_line

ORDER = 20


def parse_date(text: str) -> datetime:
    """argparse type: ISO 8601 date or date-time; without an offset it is local time."""
    try:
        d = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date like 2026-05-17 or 2026-05-17T07:30 (local) or "
            f"2026-05-17T05:30Z, got {text!r}"
        ) from None
    return d if d.tzinfo else d.astimezone()


def add_analysis_options(p: argparse.ArgumentParser) -> None:
    """Options shared by ``report`` and ``history add``."""
    p.add_argument("--placement", choices=PLACEMENTS,
                   help="analyse only this stream (default: every stream in the file)")
    p.add_argument("--mass-kg", type=body_mass_kg,
                   help="body mass (kg, 20-400), adds forces in newtons")
    p.add_argument("--axes", choices=("auto", "body"), default="auto",
                   help="auto: find the sensor-to-body rotation (default); body: the file's axes "
                   "already are x forward, y left, z up")
    p.add_argument("--date", type=parse_date, metavar="WHEN",
                   help="when the run started (ISO 8601; local time unless it has an offset); "
                   "default: the recording's start time, else the file's time")


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="write a self-contained HTML report of a run")
    p.add_argument("file", help="recording: imu-hip CSV or MCAP")
    p.add_argument("--out", metavar="HTML",
                   help="output file (default: <recording name>.report.html here)")
    p.add_argument("--export", metavar="DIR",
                   help="also write the per-step CSV and the summary JSON into DIR")
    add_analysis_options(p)
    p.set_defaults(func=run)


def check_output_file(path: Path, suffixes: tuple[str, ...] = (".html", ".htm"),
                      what: str = "the report's") -> None:
    """Fail before the analysis when ``path`` cannot be written, or is not named like the output
    (``suffixes``): so a recording or any other file given by mistake is never overwritten."""
    import os

    if path.is_dir():
        raise ImuHipError(f"{path}: is a folder (expected {what} file name)")
    if path.suffix.lower() not in suffixes:
        raise ImuHipError(f"{path}: expected {what} file name ending in "
                          f"{' or '.join(suffixes)}; not writing over anything else")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        raise ImuHipError(f"{path}: cannot write there ({parent} is not a writable folder)")


def run(args: argparse.Namespace) -> int:
    from imu_hip.pipeline import check_output_dir
    from imu_hip.report import load_run, run_report_html, write_html

    out = Path(args.out) if args.out else Path(Path(args.file).stem + ".report.html")
    check_output_file(out)
    if args.export:
        check_output_dir(args.export)
    run_data = load_run(args.file, placement=args.placement, mass_kg=args.mass_kg,
                        axes=args.axes, date=args.date,
                        progress=ProgressBar(f"analysing {Path(args.file).name}"))
    write_html(str(out), run_report_html(run_data))
    written = [out]
    if args.export:
        results = run_data.results
        for r in results:
            where = Path(args.export)
            if len(results) > 1:
                where = where / str(r.summary.get("placement", "stream"))
            written += r.write(where)
    print(wrote_line(written))
    return 0
