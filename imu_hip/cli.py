"""The ``imu-hip`` command; each sub-command lives in :mod:`imu_hip.commands`.

Errors in the input print one line naming the input and the problem and exit with code 2; add
``--debug`` for the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import math
import pkgutil
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from imu_hip.model import ImuHipError

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


def positive_float(text: str) -> float:
    """argparse type: a positive finite number."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return value


def body_mass_kg(text: str) -> float:
    """argparse type: a body mass in kg, 20-400 (a typo such as 7000 is caught, not turned
    into forces)."""
    value = positive_float(text)
    if not 20.0 <= value <= 400.0:
        raise argparse.ArgumentTypeError(f"expected a body mass of 20 to 400 kg, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The parser with every sub-command found in :mod:`imu_hip.commands`."""
    import imu_hip.commands as commands

    parser = argparse.ArgumentParser(
        prog="imu-hip",
        description="Hip (sacral) and shoe IMU running analysis: gait events, impact, pelvis.",
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    modules = [
        importlib.import_module(f"imu_hip.commands.{info.name}")
        for info in pkgutil.iter_modules(commands.__path__)
    ]
    for module in sorted(modules, key=lambda m: (m.ORDER, m.__name__)):
        module.add_parser(sub)
    for action in sub._choices_actions:  # `imu-hip CMD --help` opens with its one-line help
        command = sub.choices[action.dest]
        if not command.description:
            command.description = action.help[:1].upper() + action.help[1:] + "."
    return parser


class _SafeLogFormatter(logging.Formatter):
    """Log lines for a terminal: control characters (an ANSI escape or a carriage return in a
    device name or in an error from a device) shown as escapes, one line per message."""

    def format(self, record: logging.LogRecord) -> str:
        from imu_hip.text import terminal_safe

        return terminal_safe(super().format(record), max_len=10**6)


def install_log_handler(stream: Any = None) -> logging.Handler:
    """Warnings of the ``imu_hip`` loggers to ``stream`` (default: the current stderr), one
    escaped line each. :func:`main` installs it for the run of a command and removes it after
    (a program that calls ``main`` keeps its own logging); remove it with
    ``logging.getLogger("imu_hip").removeHandler(handler)``."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(_SafeLogFormatter("%(message)s"))
    handler.setLevel(logging.WARNING)
    logging.getLogger("imu_hip").addHandler(handler)
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = install_log_handler()
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
    finally:
        logging.getLogger("imu_hip").removeHandler(handler)


def _one_line(e: Any) -> str:
    from imu_hip.text import terminal_safe

    return terminal_safe(str(e), max_len=400)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
