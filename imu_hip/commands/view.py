"""``imu-hip view``: the live viewer (a device, the simulator, or a recording replayed)."""

from __future__ import annotations

import argparse

from imu_hip.cli import positive_float

ORDER = 40


def replay_speed(text: str) -> float:
    """argparse type: a replay speed from 1 to 16."""
    value = positive_float(text)
    if not 1.0 <= value <= 16.0:
        raise argparse.ArgumentTypeError(f"speed must be within 1-16, got {text!r}")
    return value


def add_parser(sub) -> None:
    p = sub.add_parser(
        "view",
        help="live viewer: signals and per-step feedback from a device, the simulator or a file",
        description="Open the viewer (needs the viewer extra: pip install imu-hip[viewer]). "
        "Keys: Space play/pause (replay), P freeze the display, M marker, R record, "
        "Left/Right seek 10 s, +/- speed.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("file", nargs="?", help="recording to replay (imu-hip CSV or MCAP)")
    src.add_argument("--sim", nargs="?", const="sacrum,left_foot,right_foot", metavar="PLACEMENTS",
                     help="simulated devices instead of Bluetooth: comma-separated placements "
                     "(default: sacrum,left_foot,right_foot)")
    src.add_argument("--device", action="append", metavar="NAME_OR_ADDRESS=PLACEMENT",
                     help="a BLE device and where it is worn (sacrum, left_foot, right_foot); "
                     "repeat for up to 3")
    p.add_argument("--protocol", help="--device: protocol of devices that do not announce one")
    p.add_argument("--scan-s", type=positive_float, default=10.0, metavar="S",
                   help="--device: seconds to scan for the devices (default 10)")
    p.add_argument("--speed", type=replay_speed, default=1.0,
                   help="replay speed, 1-16 (default 1); with --sim the simulated devices run "
                   "this much faster than real time")
    p.add_argument("--window", type=positive_float, default=10.0, metavar="S",
                   help="raw-signal window in seconds (default 10, at most 60)")
    p.add_argument("--cadence-target", type=positive_float, metavar="SPM",
                   help="cadence target (default: first 2 minutes of running +7.5 %%)")
    p.add_argument("--drop-limit", type=positive_float, default=7.0, metavar="DEG",
                   help="pelvic-drop limit in degrees (default 7)")
    p.add_argument("--screenshot", metavar="PATH", help="save a PNG of the window and exit")
    p.add_argument("--duration", type=positive_float, metavar="S",
                   help="run S seconds then exit (with --screenshot: then save it)")
    p.add_argument("--seed", type=int, default=0, help="--sim: random seed of the runner")
    p.set_defaults(func=run)


def _qt_message(_mode, _context, message: str) -> None:
    """Qt's messages on stderr, without the offscreen platform's harmless "does not support
    propagateSizeHints()" (headless runs: an error then stays the one line on stderr)."""
    import sys

    if "propagateSizeHints" not in message:
        print(message, file=sys.stderr)


def _check_display() -> None:
    """On Linux, a one-line error when there is no screen to open a window on (Qt would abort
    the process with several lines); QT_QPA_PLATFORM=offscreen runs without one."""
    import os
    import sys

    from imu_hip.model import ImuHipError

    if not sys.platform.startswith("linux"):
        return
    if any(os.environ.get(k) for k in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")):
        return
    raise ImuHipError("no display to open the viewer on (DISPLAY and WAYLAND_DISPLAY are not "
                      "set); on a headless machine set QT_QPA_PLATFORM=offscreen and use "
                      "--screenshot FILE.png --duration S")


def run(args: argparse.Namespace) -> int:
    from imu_hip.model import ImuHipError

    if args.screenshot and args.duration is None:
        raise ImuHipError("--screenshot needs --duration S (how long to run before saving)")
    if args.screenshot:
        from pathlib import Path

        from imu_hip.commands.report import check_output_file

        # before any window opens; a .png name only, so no other file is ever written over
        check_output_file(Path(args.screenshot), (".png",), "the screenshot's")
    if args.window > 60.0:
        raise ImuHipError(f"--window must be at most 60 s, got {args.window:g}")
    sim_placements, devices = None, []
    if args.sim is not None or args.device:
        from imu_hip.commands.record import parse_device, parse_sim

        if args.sim is not None:
            sim_placements = parse_sim(args.sim)
        else:
            if len(args.device) > 3:
                raise ImuHipError(f"at most 3 devices, got {len(args.device)}")
            devices = [parse_device(d) for d in args.device]
            if len({p for _, p in devices}) != len(devices):
                raise ImuHipError("two devices have the same placement")
    recording = None
    if args.file:
        from imu_hip.io import read_recording

        recording = read_recording(args.file)  # a bad file fails here, before any window
    _check_display()
    from imu_hip.viewer.qt import load_qt

    qt_core = load_qt()[0]  # one-line error naming the viewer extra if PyQt6/pyqtgraph missing
    qt_core.qInstallMessageHandler(_qt_message)
    from imu_hip.viewer import app, sources

    common = dict(
        speed=args.speed,
        window_s=args.window,
        cadence_target_spm=args.cadence_target,
        drop_limit_deg=args.drop_limit,
        screenshot=args.screenshot,
        duration_s=args.duration,
    )
    if recording is not None:
        return app.run_viewer(recording, title=f"imu-hip: {args.file}", **common)
    if sim_placements is not None:
        source = sources.sim_source(sim_placements, speed=args.speed, seed=args.seed)
        title = "imu-hip: simulated runner"
    else:
        source = sources.device_source(devices, protocol=args.protocol, scan_s=args.scan_s)
        title = "imu-hip: " + ", ".join(name for name, _ in devices)
    return app.run_viewer(source, live=True, title=title, **common)
