"""Post-run HTML report and the shared pieces of the history page.

::

    from imu_hip.report import load_run, run_report_html
    run = load_run("run.mcap")                 # analyses every stream imu-hip can analyse
    open("report.html", "w").write(run_report_html(run))

or from results already at hand: ``collect_run([sacral_result, left_shoe_result], metadata)``.
The page is one self-contained file: inline SVG charts and CSS, no scripts, nothing fetched.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from imu_hip.report.data import SHOE_PLACEMENTS, RunData, collect_run, run_start
from imu_hip.report.flags import Flag, hip_flags
from imu_hip.report.page import write_html
from imu_hip.report.run import run_report_html

__all__ = [
    "Flag",
    "RunData",
    "collect_run",
    "hip_flags",
    "load_run",
    "run_report_html",
    "write_html",
]

#: Order in which the streams of a recording are analysed.
PLACEMENT_ORDER = ("sacrum", "left_foot", "right_foot", "unknown")


def load_run(
    path: str | Path,
    placement: str | None = None,
    mass_kg: float | None = None,
    axes: str = "auto",
    date: datetime | None = None,
    progress: Callable[[float], None] | None = None,
) -> RunData:
    """Read a recording once, analyse each stream (or only ``placement``), and gather what the
    report and the history need: results, metadata (untrusted), start time and its source.

    A shoe stream that this version of imu-hip cannot analyse is skipped with a note when other
    streams can be analysed; alone it is an :class:`~imu_hip.model.InputError`.
    """
    from imu_hip.io import read_mcap, read_recording, sniff_format, validate_recording
    from imu_hip.model import ImuHipError, InputError, Recording
    from imu_hip.pipeline import analyze

    name = str(path)
    is_mcap = sniff_format(path) == "mcap"
    if is_mcap:
        rec = read_mcap(path)
        if not rec.sensors:
            validate_recording(rec, name)
    else:
        rec = read_recording(path, placement=placement)
    worn = [s.placement for s in rec.sensors]
    if placement is not None:
        placements = [placement]
    elif len(rec.sensors) == 1:
        placements = worn
    else:
        placements = [p for p in PLACEMENT_ORDER if p in worn]
    results, notes = [], []
    for k, p in enumerate(placements):
        try:
            sensor = rec.sensor(p)
            sub = Recording([sensor], rec.metadata)
            if is_mcap:
                validate_recording(sub, name)  # only the streams analysed are checked
            step = (lambda f, k=k: progress((k + f) / len(placements))) if progress else None
            results.append(analyze(sub, placement=p, mass_kg=mass_kg, axes=axes, progress=step))
        except ImuHipError as e:
            problem = e.problem if isinstance(e, InputError) else str(e)
            if p in SHOE_PLACEMENTS and len(placements) > 1 and "not analysed" in problem:
                notes.append(f"{p} stream present but not analysed: {problem}")
                continue
            raise InputError(name, problem) from None
    if not results:
        raise InputError(name, "no stream could be analysed")
    for r in results:
        if isinstance(r.summary, dict) and not r.summary.get("source"):
            r.summary["source"] = name
    metadata = dict(rec.metadata)
    for s in rec.sensors:
        for key, value in s.metadata.items():
            if metadata.setdefault(key, value) != value:
                metadata[f"{s.sensor_id}.{key}"] = value
    first = min((float(s.t_s[0]) for s in rec.sensors if len(s)), default=None)
    duration = max((s.duration_s for s in rec.sensors), default=0.0)
    start, source = run_start(metadata, first, path, override=date, duration_s=duration)
    run = collect_run(results, metadata, source=name, start_utc=start, start_source=source)
    run.notes += notes
    return run
