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

    With a sacral stream, :func:`imu_hip.pipeline.analyze` analyses it together with the
    session's shoes; a shoe-only file has both shoes analysed together. Problems are
    :class:`~imu_hip.model.InputError` naming the file.
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
    shoes = [s for s in rec.sensors if s.placement in SHOE_PLACEMENTS]
    results, notes = [], []
    try:
        if is_mcap:  # only the streams analysed are checked
            for s in rec.sensors if placement is None else [rec.sensor(placement)]:
                validate_recording(Recording([s], rec.metadata), name)
        if placement is None and shoes and "sacrum" not in worn:
            # shoes only: both feet together (flight time, cadence need both)
            from imu_hip.foot_pipeline import analyze_foot_result

            results.append(analyze_foot_result(shoes, source=name))
        else:
            # the sacral stream (with the session's shoes, if any), or the one asked for
            sub = rec if placement is None else Recording([rec.sensor(placement)], rec.metadata)
            results.append(analyze(sub, placement=placement, mass_kg=mass_kg, axes=axes,
                                   progress=progress))
    except ImuHipError as e:
        problem = e.problem if isinstance(e, InputError) else str(e)
        raise InputError(name, problem) from None
    for r in results:
        if isinstance(r.summary, dict) and not r.summary.get("source"):
            r.summary["source"] = name
    metadata = dict(rec.metadata)
    if is_mcap:
        for device, meta in device_metadata(path).items():
            for key, value in meta.items():
                if key != "device_id":
                    metadata[f"device {device}: {key}"] = value
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


def device_metadata(path: str | Path) -> dict[str, dict[str, str]]:
    """Metadata of the raw-bytes device channels of an imu-hip MCAP file (name, address,
    protocol... as the devices reported them: untrusted), from the file's summary section; empty
    for a file cut off before its summary was written."""
    from mcap.reader import make_reader

    from imu_hip.io.mcap_file import RAW_ENCODING

    out: dict[str, dict[str, str]] = {}
    try:
        with open(path, "rb") as f:
            summary = make_reader(f).get_summary()
    except Exception:  # noqa: BLE001 - a damaged summary only costs the device names
        return out
    if summary is None:
        return out
    for ch in summary.channels.values():
        if ch.message_encoding == RAW_ENCODING:
            meta = dict(ch.metadata)
            out[meta.get("device_id", ch.topic.removeprefix("raw/"))] = meta
    return out
