"""The ``imu-hip`` command: ``analyze`` a recording, run the ``demo``.

Errors in the input print one line naming the input and the problem and exit with code 2; add
``--debug`` for the traceback.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from imu_hip.model import PLACEMENTS, ImuHipError

EXIT_BAD_INPUT = 2


class ProgressBar:
    """A one-line progress bar on stderr (only drawn when stderr is a terminal)."""

    def __init__(self, label: str, stream=None, force: bool = False):
        self.stream = stream or sys.stderr
        self.enabled = force or bool(getattr(self.stream, "isatty", lambda: False)())
        self.label = label
        self._last = -1.0
        self._start = time.monotonic()

    def __call__(self, fraction: float) -> None:
        if not self.enabled or fraction - self._last < 0.01 and fraction < 1.0:
            return
        self._last = fraction
        width = 30
        filled = round(width * fraction)
        elapsed = time.monotonic() - self._start
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {100 * fraction:5.1f}% "
            f"{elapsed:5.1f} s"
        )
        if fraction >= 1.0:
            self.stream.write("\n")
        self.stream.flush()


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


def _cmd_analyze(args: argparse.Namespace) -> int:
    from imu_hip.metrics.summary import format_summary
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
    print(format_summary(result.summary))
    if args.out:
        paths = result.write(args.out)
        print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    from imu_hip.demo import run_demo

    run_demo(out_dir=Path(args.out), minutes=args.minutes, seed=args.seed)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imu-hip",
        description="Hip (sacral) and shoe IMU running analysis: gait events, impact, pelvis.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("analyze", help="analyse a recording (CSV or MCAP) into steps and a summary")
    p.add_argument("file", help="recording: imu-hip CSV or MCAP")
    p.add_argument(
        "--placement",
        choices=PLACEMENTS,
        help="where the sensor was worn (default: the file's own placement line, else sacrum)",
    )
    p.add_argument("--mass-kg", type=_positive_float, help="body mass, adds forces in newtons")
    p.add_argument(
        "--axes",
        choices=("auto", "body"),
        default="auto",
        help="auto: find the sensor-to-body rotation from the data (default); body: the file's "
        "axes already are x forward, y left, z up",
    )
    p.add_argument("--out", metavar="DIR", help="write DIR/steps.csv and DIR/summary.json")
    p.set_defaults(func=_cmd_analyze)

    p = sub.add_parser(
        "demo", help="simulate a 10-minute run, analyse it and compare with the truth"
    )
    p.add_argument("--out", default="imu-hip-demo", metavar="DIR", help="output folder")
    p.add_argument("--minutes", type=_positive_float, default=10.0, help="length of the run")
    p.add_argument("--seed", type=int, default=7, help="random seed of the simulated runner")
    p.set_defaults(func=_cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except ImuHipError as e:
        if args.debug:
            raise
        print(f"imu-hip: error: {_one_line(e)}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("imu-hip: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (e.g. `| head`): stop quietly.
        sys.stderr.close()
        return 0


def _one_line(e: Any) -> str:
    from imu_hip.text import terminal_safe

    return terminal_safe(str(e), max_len=400)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
