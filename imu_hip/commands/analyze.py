"""``imu-hip analyze FILE``: a recording into steps and a summary."""

from __future__ import annotations

import argparse
from pathlib import Path

from imu_hip.cli import ProgressBar, body_mass_kg
from imu_hip.model import PLACEMENTS
from imu_hip.text import terminal_safe, wrote_line

ORDER = 10


def add_parser(sub) -> None:
    p = sub.add_parser("analyze", help="analyse a recording (CSV or MCAP) into steps and a summary")
    p.add_argument("file", help="recording: imu-hip CSV or MCAP")
    p.add_argument(
        "--placement",
        choices=PLACEMENTS,
        help="where the sensor was worn (default: the file's own placement line, else sacrum)",
    )
    p.add_argument("--mass-kg", type=body_mass_kg,
                   help="body mass (kg, 20-400), adds forces in newtons")
    p.add_argument(
        "--axes",
        choices=("auto", "body"),
        default="auto",
        help="auto: find the sensor-to-body rotation from the data (default); body: the file's "
        "axes already are x forward, y left, z up",
    )
    p.add_argument(
        "--out", metavar="DIR",
        help="write DIR/steps.csv (hip) or DIR/strides.csv (shoes) and DIR/summary.json",
    )
    p.set_defaults(func=run)


def format_result(result) -> str:
    """The printed summary of an analysis: hip steps, shoe strides, or both."""
    from imu_hip.metrics.foot import format_stride_summary
    from imu_hip.metrics.summary import format_summary

    cut = result.summary.get("recording_truncated")
    note = (f"warning: {terminal_safe(cut, 300)}; everything saved before that was analysed\n\n"
            if cut else "")
    if result.summary.get("hip_not_analysed"):
        note += f"note: {terminal_safe(result.summary['hip_not_analysed'], 300)}\n\n"
    if "stride_count" in result.summary:  # shoes only: the summary is the strides' own
        return note + format_stride_summary(result.summary)
    text = note + format_summary(result.summary)
    shoes = result.summary.get("shoes")
    if isinstance(shoes, dict) and "metrics" in shoes:
        text += "\n\nshoes:\n" + format_stride_summary(shoes)
    return text


def run(args: argparse.Namespace) -> int:
    from imu_hip.pipeline import analyze, check_output_dir

    if args.out:
        check_output_dir(args.out)  # fail before the long work, not after it
    progress = ProgressBar(f"analysing {Path(args.file).name}")
    result = analyze(
        args.file,
        placement=args.placement,
        mass_kg=args.mass_kg,
        progress=progress,
        axes=args.axes,
    )
    paths = result.write(args.out) if args.out else []  # before printing: stdout may close
    print(format_result(result))
    if paths:
        print(wrote_line(paths))
    return 0
