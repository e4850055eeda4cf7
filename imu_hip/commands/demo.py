"""``imu-hip demo``: simulate a run, analyse it, compare with the truth."""

from __future__ import annotations

import argparse
from pathlib import Path

from imu_hip.cli import positive_float

ORDER = 90


def add_parser(sub) -> None:
    p = sub.add_parser(
        "demo", help="simulate a 10-minute run, analyse it and compare with the truth"
    )
    p.add_argument("--out", default="imu-hip-demo", metavar="DIR",
                   help="output folder (default: imu-hip-demo)")
    p.add_argument("--minutes", type=positive_float, default=10.0,
                   help="length of the run, at least 1 (default: 10)")
    p.add_argument("--seed", type=int, default=7, help="random seed of the simulated runner")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from imu_hip.demo import run_demo
    from imu_hip.model import ImuHipError

    if args.minutes < 1.0:
        raise ImuHipError(f"--minutes must be at least 1 (the run has standing, walking and "
                          f"running phases), got {args.minutes:g}")
    run_demo(out_dir=Path(args.out), minutes=args.minutes, seed=args.seed)
    return 0
