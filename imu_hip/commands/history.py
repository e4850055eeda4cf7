"""``imu-hip history``: the run log and load-progression warnings (see :mod:`imu_hip.history`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from imu_hip.cli import positive_float
from imu_hip.commands.report import add_analysis_options, check_output_file
from imu_hip.model import ImuHipError

ORDER = 30


def _tz(text: str):
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(
            f"unknown time zone {text!r} (e.g. Europe/Berlin)"
        ) from None


def add_parser(sub) -> None:
    p = sub.add_parser(
        "history", help="stored runs, trends and load-progression warnings (add, report, remove)"
    )
    db_help = "history database (default: $IMU_HIP_HISTORY_DB, else the user data folder)"
    tz_help = "time zone for dates and week boundaries (default: this computer's)"
    p.add_argument("--db", metavar="PATH", help=db_help)
    p.add_argument("--tz", type=_tz, help=tz_help)
    p.set_defaults(func=run_list)
    actions = p.add_subparsers(dest="action", metavar="ACTION")

    a = actions.add_parser("add", help="analyse a recording and store its summary")
    a.add_argument("file", help="recording: imu-hip CSV or MCAP")
    a.add_argument("--distance-km", type=positive_float,
                   help="the run's distance (e.g. from a watch) when the sensors cannot tell")
    add_analysis_options(a)
    r = actions.add_parser("report", help="write the trends page (HTML)")
    r.add_argument("--out", metavar="HTML", default="history.html",
                   help="output file (default: history.html)")
    d = actions.add_parser("remove", help="delete one stored run by its id")
    d.add_argument("id", type=int, help="the run's id (the first column of `imu-hip history`)")
    for q in (a, r, d):
        q.add_argument("--db", metavar="PATH", default=argparse.SUPPRESS, help=db_help)
    for q in (a, r):  # removing a run has no dates to show
        q.add_argument("--tz", type=_tz, default=argparse.SUPPRESS, help=tz_help)
    a.set_defaults(func=run_add)
    r.set_defaults(func=run_report)
    d.set_defaults(func=run_remove)


def _history(args: argparse.Namespace):
    from imu_hip.history import History

    return History(args.db)


def run_add(args: argparse.Namespace) -> int:
    from imu_hip.cli import ProgressBar
    from imu_hip.history import file_fingerprint, load_warnings, record_from_run, week_start
    from imu_hip.report import load_run
    from imu_hip.report.page import local_time
    from imu_hip.text import terminal_safe

    history = _history(args)
    history.check()  # a damaged or locked database fails now, not after the analysis
    run = load_run(args.file, placement=args.placement, mass_kg=args.mass_kg, axes=args.axes,
                   date=args.date, progress=ProgressBar(f"analysing {Path(args.file).name}"))
    try:
        fingerprint = file_fingerprint(args.file)
    except OSError as e:
        raise ImuHipError(f"{args.file}: cannot read ({e.strerror or e})") from None
    distance = args.distance_km * 1000.0 if args.distance_km else None
    record = record_from_run(run, fingerprint, distance_m=distance)
    run_id = history.add(record)
    print(f"stored run {run_id} from {terminal_safe(args.file)}: started "
          f"{local_time(record.start_utc, args.tz)} ({record.date_source}) in {history.path}")
    this_week = week_start(record.start_utc, args.tz)
    for w in load_warnings(history.runs(), args.tz):
        if w.run_id == run_id or w.week == this_week or w.kind == "trend":
            print(f"warning ({w.kind}): {w.message}")
    return 0


def format_history(runs, warnings, tz=None) -> str:
    """The stored runs, newest last, then warnings and trends, as plain text."""
    from imu_hip.history import metric_trends
    from imu_hip.report.page import clock, local_time, num
    from imu_hip.text import terminal_safe

    if not runs:
        return "no runs stored yet (imu-hip history add RUN)"
    lines = [f"{'id':>4}  {'start':<22}{'duration':>9}{'km':>8}{'steps':>7}{'load BW':>9}"
             f"{'cadence':>8}{'contact ms':>11}{'drop deg':>9}  file"]
    for r in runs:
        m = r.medians
        lines.append(
            f"{r.id:>4}  {local_time(r.start_utc, tz):<22}{clock(r.duration_s or 0):>9}"
            f"{num(r.distance_m / 1000 if r.distance_m else None):>8}{r.steps or '-':>7}"
            f"{num(r.impact_load_bw, 4):>9}{num(m.get('hip.cadence_spm')):>8}"
            f"{num(m.get('hip.contact_time_s'), 3, 1000):>11}"
            f"{num(m.get('hip.pelvic_drop_deg'), 2):>9}  {terminal_safe(Path(r.source).name, 60)}"
        )
    lines.append("")
    for t in metric_trends(runs):
        lines.append(f"trend {t.key}: {t.change:+.1f} {t.unit} over {-t.days[0]:.0f} days "
                     f"({len(t.values)} runs){' - WARNING' if t.warned else ''}")
    from datetime import timedelta

    recent = [w for w in warnings if w.when >= runs[-1].start_utc - timedelta(days=56)]
    if len(recent) < len(warnings):
        lines.append(f"({len(warnings) - len(recent)} older warnings: see imu-hip history report)")
    if recent:
        lines += [f"warning ({w.kind}): {w.message}" for w in recent]
    else:
        lines.append("no load-progression warnings in the last 8 weeks")
    return "\n".join(lines)


def run_list(args: argparse.Namespace) -> int:
    from imu_hip.history import load_warnings

    history = _history(args)
    runs = history.runs()
    print(f"history: {history.path}")
    print(format_history(runs, load_warnings(runs, args.tz), args.tz))
    return 0


def run_report(args: argparse.Namespace) -> int:
    from imu_hip.history import load_warnings
    from imu_hip.report.page import write_html
    from imu_hip.report.trends import history_report_html
    from imu_hip.text import terminal_safe

    out = Path(args.out)
    check_output_file(out)
    history = _history(args)
    runs = history.runs()
    write_html(str(out), history_report_html(runs, load_warnings(runs, args.tz), args.tz,
                                             str(history.path)))
    print(f"wrote {terminal_safe(out)} ({len(runs)} run{'' if len(runs) == 1 else 's'})")
    return 0


def run_remove(args: argparse.Namespace) -> int:
    history = _history(args)
    history.remove(args.id)
    print(f"removed run {args.id} from {history.path}")
    return 0
