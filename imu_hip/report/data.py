"""What a report is made from: the analysed streams of one run, their statistics, its start time.

A run has up to two *groups* of per-event rows:

- ``hip``: the sacral per-step table (``t_ic_s``, ``side``, ``gait``, ``cadence_spm`` ...);
- ``shoes``: the per-stride tables of the left and/or right shoe merged into one table whose
  ``side`` is the foot (columns as in the shoe issue: ``t_ic_s``, ``stride_time_s``,
  ``stride_length_m``, ``speed_mps``, ``foot_strike_angle_deg``, ``foot_strike`` ...).

Anything with ``.steps`` (or ``.strides``) and ``.summary`` is accepted, so the report works with
the sacral :class:`~imu_hip.pipeline.AnalysisResult` today and with shoe results that follow the
same shape. Statistics use the running rows when there are enough of them (walking warm-ups
would otherwise pull cadence and contact time), else all rows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from imu_hip.metrics.foot import cumulative_distance_m
from imu_hip.metrics.summary import (
    asymmetry_pct,
    drift_windows,
    finite_median,
    step_durations,
)

#: Rows of one side needed before a side median (and so an asymmetry) is reported.
MIN_PER_SIDE = 5
#: Running rows needed before statistics use running rows only.
MIN_RUNNING = 20
SHOE_PLACEMENTS = ("left_foot", "right_foot")
TIME_COLUMNS = ("t_ic_s", "t_start_s", "t_s")
DURATION_COLUMNS = ("step_time_s", "stride_time_s")
#: Metadata keys (lower case) that may hold the recording's start time, most specific first.
START_KEYS = (
    "start_time_utc",
    "start_utc",
    "start_time",
    "started_at",
    "recording_start",
    "start",
)
#: Host times above this (s) are taken as Unix epoch seconds (2001-09-09).
EPOCH_MIN_S = 1.0e9


#: (group, column) -> (label, display unit, scale to the display unit, significant digits).
METRICS: dict[tuple[str, str], tuple[str, str, float, int]] = {
    ("hip", "cadence_spm"): ("cadence", "steps/min", 1.0, 3),
    ("hip", "contact_time_s"): ("contact time", "ms", 1000.0, 3),
    ("hip", "flight_time_s"): ("flight time", "ms", 1000.0, 3),
    ("hip", "vertical_oscillation_m"): ("vertical oscillation", "cm", 100.0, 2),
    ("hip", "impact_peak_g"): ("impact peak (sacrum)", "g", 1.0, 3),
    ("hip", "vgrf_peak_bw"): ("vGRF peak", "BW", 1.0, 3),
    ("hip", "braking_peak_g"): ("braking peak", "g", 1.0, 2),
    ("hip", "loading_rate_bw_s"): ("loading rate (trend only)", "BW/s", 1.0, 3),
    ("hip", "pelvic_drop_deg"): ("pelvic drop", "deg", 1.0, 2),
    ("hip", "pelvic_obliquity_rom_deg"): ("pelvic obliquity range", "deg", 1.0, 2),
    ("hip", "pelvic_tilt_rom_deg"): ("pelvic tilt range", "deg", 1.0, 2),
    ("hip", "pelvic_rotation_rom_deg"): ("pelvic rotation range", "deg", 1.0, 2),
    ("shoes", "cadence_spm"): ("cadence (shoes)", "steps/min", 1.0, 3),
    ("shoes", "speed_mps"): ("speed (shoes)", "m/s", 1.0, 3),
    ("shoes", "stride_length_m"): ("stride length", "m", 1.0, 3),
    ("shoes", "contact_time_s"): ("contact time (shoes)", "ms", 1000.0, 3),
    ("shoes", "flight_time_s"): ("flight time (shoes)", "ms", 1000.0, 3),
    ("shoes", "foot_strike_angle_deg"): ("foot-strike angle", "deg", 1.0, 2),
    ("shoes", "pronation_excursion_deg"): ("pronation excursion", "deg", 1.0, 2),
    ("shoes", "pronation_velocity_dps"): ("pronation velocity", "deg/s", 1.0, 3),
    ("shoes", "impact_peak_g"): ("impact peak (shoe)", "g", 1.0, 3),
}

@dataclass
class Group:
    """Rows of one kind (``hip`` steps or ``shoes`` strides) as plain numpy columns."""

    name: str
    columns: dict[str, np.ndarray]
    summaries: list[dict[str, Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.time) if self.time is not None else 0

    @property
    def time(self) -> np.ndarray | None:
        for c in TIME_COLUMNS:
            if c in self.columns:
                return np.asarray(self.columns[c], float)
        return None

    @property
    def side(self) -> np.ndarray:
        n = len(self)
        return np.asarray(self.columns.get("side", np.full(n, "unknown")), str)

    @property
    def running(self) -> np.ndarray:
        """Rows used for statistics: running rows if there are enough, else all rows."""
        n = len(self)
        gait = np.asarray(self.columns.get("gait", np.full(n, "unknown")), str)
        run = gait == "run"
        return run if run.sum() >= MIN_RUNNING else np.ones(n, bool)

    @property
    def duration(self) -> np.ndarray:
        """Time each row stands for (s): its step or stride time, else the gap to the next. A
        step without its step time (withheld next to a lost packet) stands for the time to the
        next step, as in the summary (:func:`~imu_hip.metrics.summary.step_durations`)."""
        if "step_time_s" in self.columns and "t_ic_s" in self.columns:
            gait = self.columns.get("gait", np.full(len(self), "unknown"))
            return step_durations(np.asarray(self.columns["step_time_s"], float),
                                  np.asarray(self.columns["t_ic_s"], float), np.asarray(gait))
        for c in DURATION_COLUMNS:
            if c in self.columns:
                return np.asarray(self.columns[c], float)
        t = self.time
        return np.append(np.diff(t), np.nan) if t is not None else np.zeros(0)

    def numeric(self) -> list[str]:
        """Numeric metric columns with at least one finite value (not times)."""
        out = []
        for k, v in self.columns.items():
            if k in TIME_COLUMNS or k in ("t_to_s", "t_end_s") or k.startswith("t_"):
                continue
            a = np.asarray(v)
            if a.dtype.kind in "fiu" and np.isfinite(a.astype(float)).any():
                out.append(k)
        return out

    @property
    def unavailable(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for s in self.summaries:
            nested = s.get("shoes") if self.name == "shoes" else None
            out.update((nested if isinstance(nested, Mapping) else s).get("unavailable") or {})
        return out


@dataclass
class MetricStats:
    """Statistics of one metric over the rows used (see :attr:`Group.running`)."""

    median: float
    q25: float
    q75: float
    n: int
    left: float
    right: float
    asymmetry_pct: float
    start: float  # median of the first 10 % of the time
    end: float  # median of the last 10 %

    @property
    def drift(self) -> float:
        return self.end - self.start

    @property
    def drift_pct(self) -> float:
        if not self.start or not math.isfinite(self.start):
            return float("nan")
        return 100.0 * self.drift / abs(self.start)


def metric_stats(group: Group, name: str) -> MetricStats:
    """Median, quartiles, side medians, asymmetry and first/last 10 % drift of one column."""
    use = group.running
    x = np.asarray(group.columns[name], float)[use]
    side = group.side[use]
    fin = x[np.isfinite(x)]
    q25, q75 = (np.percentile(fin, [25, 75]) if fin.size else (np.nan, np.nan))
    left = finite_median(x[side == "left"]) if (side == "left").sum() >= MIN_PER_SIDE else np.nan
    right = (
        finite_median(x[side == "right"]) if (side == "right").sum() >= MIN_PER_SIDE else np.nan
    )
    first, last = drift_windows(group.duration[use])
    return MetricStats(
        median=finite_median(x),
        q25=float(q25),
        q75=float(q75),
        n=int(fin.size),
        left=float(left),
        right=float(right),
        asymmetry_pct=asymmetry_pct(left, right),
        start=finite_median(x[first]),
        end=finite_median(x[last]),
    )


@dataclass
class RunData:
    """One run ready for the report: groups, untrusted metadata, summaries, start time."""

    groups: dict[str, Group]
    summaries: list[dict[str, Any]]
    metadata: dict[str, str] = field(default_factory=dict)
    source: str = ""
    start_utc: datetime | None = None
    start_source: str = "unknown"
    notes: list[str] = field(default_factory=list)  # our own remarks (e.g. streams not analysed)
    results: list[Any] = field(default_factory=list)  # the analysis results it was built from

    def stats(self, group: str, name: str) -> MetricStats | None:
        g = self.groups.get(group)
        if g is None or name not in g.columns or not np.isfinite(
            np.asarray(g.columns[name], float)
        ).any():
            return None
        return metric_stats(g, name)

    def sensor_infos(self) -> list[dict[str, Any]]:
        """One dict per sensor (id, placement, rate, duration, gaps, alignment, calibration...):
        a summary's own keys, or each entry of its ``sensors`` list."""
        out: list[dict[str, Any]] = []
        for s in self.summaries:
            for part in (s, s.get("shoes")):  # a sacral summary may nest the shoes' summary
                if not isinstance(part, Mapping):
                    continue
                infos = part.get("sensors")
                if isinstance(infos, list) and all(isinstance(i, Mapping) for i in infos):
                    out += [dict(i) for i in infos if dict(i) not in out]
                elif part.get("sensor_id") is not None and part not in out:
                    out.append(dict(part))
        return out

    @property
    def t0(self) -> float:
        """Earliest event time over the groups (s, host clock)."""
        firsts = [float(np.nanmin(g.time)) for g in self.groups.values() if len(g)]
        return min(firsts) if firsts else 0.0

    @property
    def duration_s(self) -> float:
        d = [float(s.get("duration_s") or 0.0) for s in self.sensor_infos()]
        if any(d):
            return max(d)
        ends = [float(np.nanmax(g.time)) for g in self.groups.values() if len(g)]
        return (max(ends) - self.t0) if ends else 0.0

    @property
    def running_s(self) -> float:
        hip = self.groups.get("hip")
        if hip is not None and hip.summaries:
            return float(hip.summaries[0].get("time_running_s") or 0.0)
        shoes = self.groups.get("shoes")
        if shoes is None or not len(shoes):
            return 0.0
        per_foot = []
        for foot in ("left", "right"):
            sel = shoes.side == foot
            gait = np.asarray(shoes.columns.get("gait", np.full(len(shoes), "run")), str)
            d = shoes.duration[sel & (gait == "run")]
            if d.size:
                per_foot.append(float(np.nansum(d)))
        return max(per_foot) if per_foot else 0.0

    @property
    def step_count(self) -> int | None:
        """Steps of the run: sacral steps, else shoe strides (each stride is two steps; with one
        shoe, twice its strides)."""
        hip = self.groups.get("hip")
        if hip is not None and hip.summaries:
            return len(hip)
        shoes = self.groups.get("shoes")
        if shoes is None or not len(shoes):
            return None
        feet = [f for f in ("left", "right") if (shoes.side == f).any()]
        if len(feet) == 2:
            return len(shoes)
        return 2 * len(shoes)

    @property
    def distance_m(self) -> float | None:
        """Distance from the shoe strides (per foot the sum of its stride lengths, strides
        without a length and strides dropped at packet loss counted at the length of those around
        them; the mean of the feet), else from a summary's ``distance_m``; None when unknown."""
        per_foot = [float(d[-1]) for _, d, _ in self._foot_distances().values()]
        if per_foot:
            return float(np.mean(per_foot))
        for s in self.summaries:
            d = s.get("distance_m")
            if isinstance(d, int | float) and math.isfinite(d) and d > 0:
                return float(d)
        return None

    def cumulative_distance(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(time s, distance m) along the run for per-km tables: timed by the foot with the
        most measured strides, scaled to end at :attr:`distance_m` (the mean of the feet)."""
        feet = self._foot_distances()
        if not feet:
            return None
        t, d, _ = feet[max(feet, key=lambda f: feet[f][2])]
        total = np.mean([float(v[1][-1]) for v in feet.values()])
        return t, d * (total / d[-1]) if d[-1] > 0 else d

    def _foot_distances(self) -> dict[str, tuple[np.ndarray, np.ndarray, int]]:
        """Per foot with a measured stride length: (times s, cumulative distance m, strides
        measured), see :func:`imu_hip.metrics.foot.cumulative_distance_m` (strides dropped at
        packet loss from the sensor's ``strides_dropped_spans_s``)."""
        shoes = self.groups.get("shoes")
        if shoes is None or "stride_length_m" not in shoes.columns:
            return {}
        cols = shoes.columns
        sl = np.asarray(cols["stride_length_m"], float)
        t1 = np.asarray(cols.get("t_end_s", shoes.time), float)
        t0 = np.asarray(cols.get("t_start_s", t1 - np.asarray(cols["stride_time_s"], float)),
                        float)
        out = {}
        for f in ("left", "right"):
            sel = shoes.side == f
            spans = [_span(x) for i in self.sensor_infos() if i.get("placement") == f"{f}_foot"
                     and isinstance(i.get("strides_dropped_spans_s"), list)
                     for x in i["strides_dropped_spans_s"]]
            t, d = cumulative_distance_m(t0[sel], t1[sel], sl[sel],
                                         np.array([x for x in spans if x is not None]))
            if d.size:
                out[f] = (t, d, int(np.isfinite(sl[sel]).sum()))
        return out

    def impact_load(self) -> tuple[float, str]:
        """Cumulative impact load of the run and how it was computed (see imu_hip.history)."""
        hip = self.groups.get("hip")
        if hip is not None and "vgrf_peak_bw" in hip.columns:
            v = np.asarray(hip.columns["vgrf_peak_bw"], float)
            if np.isfinite(v).any():
                return float(np.nansum(v)), "sum of vgrf_peak_bw over sacral steps (BW)"
        return float("nan"), "unknown (needs the sacral vGRF estimate)"


def _span(x: Any) -> tuple[float, float] | None:
    """A (start, end) pair of numbers read from a summary (untrusted), else None."""
    if (isinstance(x, list | tuple) and len(x) == 2
            and all(isinstance(v, int | float) and not isinstance(v, bool) for v in x)):
        return float(x[0]), float(x[1])
    return None


# -- building RunData from analysis results ---------------------------------------------------


def _columns(table: Any) -> dict[str, np.ndarray]:
    if hasattr(table, "columns") and isinstance(table.columns, Mapping):
        return {str(k): np.asarray(v) for k, v in table.columns.items()}
    if isinstance(table, Mapping):
        return {str(k): np.asarray(v) for k, v in table.items()}
    if hasattr(table, "to_dict") and hasattr(table, "columns"):  # pandas DataFrame
        return {str(c): np.asarray(table[c]) for c in table.columns}
    raise TypeError(f"cannot read a table from {type(table).__name__}")


def _flatten(results: Any) -> Iterable[Any]:
    if isinstance(results, Mapping):
        for r in results.values():
            yield from _flatten(r)
    elif isinstance(results, list | tuple):
        for r in results:
            yield from _flatten(r)
    elif hasattr(results, "results") and not hasattr(results, "steps"):
        yield from _flatten(results.results)
    else:
        yield results


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    keys: list[str] = []
    for p in parts:
        keys += [k for k in p if k not in keys]
    out = {}
    for k in keys:
        cols = []
        for p in parts:
            n = len(next(iter(p.values()))) if p else 0
            if k in p:
                cols.append(np.asarray(p[k]))
            else:
                text = any(np.asarray(q[k]).dtype.kind in "US" for q in parts if k in q)
                cols.append(np.full(n, "unknown") if text else np.full(n, np.nan))
        out[k] = np.concatenate(cols) if cols else np.zeros(0)
    return out


def collect_run(
    results: Any,
    metadata: Mapping[str, str] | None = None,
    source: str = "",
    start_utc: datetime | None = None,
    start_source: str = "unknown",
) -> RunData:
    """A :class:`RunData` from one analysis result, several (a list or a dict by placement), or
    a combined result holding them in ``.results``. Sacral results form the ``hip`` group;
    shoe results (placement ``left_foot``/``right_foot``, or a ``.strides`` table) form ``shoes``.
    """
    flat = list(_flatten(results))
    hip: list[tuple[dict[str, np.ndarray], dict]] = []
    shoes: list[tuple[dict[str, np.ndarray], dict]] = []
    summaries: list[dict[str, Any]] = []
    for r in flat:
        summary = dict(getattr(r, "summary", None) or {})
        summaries.append(summary)
        placement = str(summary.get("placement", "sacrum"))
        strides = getattr(r, "strides", None)
        if strides is not None:
            cols = _columns(strides)
            if "side" not in cols or placement in SHOE_PLACEMENTS:
                cols["side"] = np.full(len(next(iter(cols.values()), [])), _foot_side(placement))
            shoes.append((cols, summary))
        steps = getattr(r, "steps", None)
        if steps is None:
            continue
        cols = _columns(steps)
        if strides is not None and not len(next(iter(cols.values()), [])):
            continue  # a shoe-only result carries an empty step table
        sacral = getattr(r, "sacral_summary", None)
        if strides is not None and isinstance(sacral, Mapping):  # shoes + sacrum in one result
            summary = dict(sacral)
            summaries.append(summary)
        if placement in SHOE_PLACEMENTS:
            if strides is None:
                n = len(next(iter(cols.values()), []))
                cols["side"] = np.full(n, _foot_side(placement))
                shoes.append((cols, summary))
        else:
            hip.append((cols, summary))
    groups: dict[str, Group] = {}
    for name, parts in (("hip", hip), ("shoes", shoes)):
        if parts:
            g = Group(name, _concat([c for c, _ in parts]), [s for _, s in parts])
            t = g.time
            if t is not None and len(t):
                order = np.argsort(t, kind="stable")
                g.columns = {k: np.asarray(v)[order] for k, v in g.columns.items()}
            groups[name] = g
    shoes_g = groups.get("shoes")
    if shoes_g is not None and "cadence_spm" not in shoes_g.columns and (
        "stride_time_s" in shoes_g.columns
    ):  # two steps per stride
        with np.errstate(divide="ignore", invalid="ignore"):
            stride = np.asarray(shoes_g.columns["stride_time_s"], float)
            shoes_g.columns["cadence_spm"] = np.where(stride > 0, 120.0 / stride, np.nan)
    return RunData(
        groups=groups,
        summaries=summaries,
        metadata=dict(metadata or {}),
        source=source,
        start_utc=start_utc,
        start_source=start_source,
        results=flat,
    )


def _foot_side(placement: str) -> str:
    return {"left_foot": "left", "right_foot": "right"}.get(placement, "unknown")


# -- start time ------------------------------------------------------------------------------


def parse_time(text: str) -> datetime | None:
    """An ISO 8601 date/time (``Z`` or an offset; a naive time is taken as UTC) or Unix epoch
    seconds, as an aware UTC datetime; None if it is neither."""
    s = str(text).strip()
    if not s:
        return None
    try:
        v = float(s)
    except ValueError:
        pass
    else:
        if math.isfinite(v) and EPOCH_MIN_S <= v < 1e11:
            return datetime.fromtimestamp(v, UTC)
        return None
    try:
        d = datetime.fromisoformat(s.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if d.tzinfo is None:
        d = d.replace(tzinfo=UTC)
    return d.astimezone(UTC)


def run_start(
    metadata: Mapping[str, str],
    first_time_s: float | None = None,
    path: str | Path | None = None,
    override: datetime | None = None,
    duration_s: float = 0.0,
) -> tuple[datetime | None, str]:
    """When the run started (UTC) and where that came from.

    Order: ``override`` (the user's ``--date``), a start time in the recording's metadata
    (:data:`START_KEYS`), the first sample's host time when it is Unix epoch seconds, the
    file's modification time minus ``duration_s`` (a file is last written when the recording
    ends). Returns ``(None, "unknown")`` if none applies.
    """
    if override is not None:
        d = override if override.tzinfo else override.astimezone()  # naive: local time
        return d.astimezone(UTC), "given with --date"
    lower = {str(k).lower(): v for k, v in metadata.items()}
    for key in START_KEYS:
        if key in lower:
            d = parse_time(lower[key])
            if d is not None:
                return d, f"recording metadata ({key})"
    if first_time_s is not None and math.isfinite(first_time_s) and first_time_s >= EPOCH_MIN_S:
        return datetime.fromtimestamp(first_time_s, UTC), "host clock of the first sample"
    if path is not None:
        try:
            mtime = Path(path).stat().st_mtime
        except OSError:
            return None, "unknown"
        start = mtime - max(0.0, float(duration_s or 0.0))
        return datetime.fromtimestamp(start, UTC), "file modification time minus the duration"
    return None, "unknown"
