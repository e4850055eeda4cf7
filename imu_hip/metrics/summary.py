"""Run summary from the per-step table: typical values, spread, left/right asymmetry, fatigue drift.

- median and interquartile range of every numeric metric;
- left/right asymmetry: symmetry index ``100 * (left - right) / mean(left, right)`` of the side
  medians, in percent (positive = left larger);
- drift: median over the steps in the last 10 % of the running time (cumulative step time of the
  running steps) minus the median over the first 10 % (fatigue), with both values;
- time and steps running vs walking.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from imu_hip.gait.sacrum import MIN_SEGMENT_S
from imu_hip.model import STEP_COLUMNS, G
from imu_hip.steps import TEXT_COLUMNS, StepTable

#: Metrics summarised (numbers describing form or load, not the event times themselves).
SUMMARY_METRICS = tuple(
    k for k in STEP_COLUMNS if k not in TEXT_COLUMNS and k not in ("t_ic_s", "t_to_s")
)

TREND_ONLY = {
    "loading_rate_bw_s": "trend indicator only: loading rate from trunk acceleration has "
    "published errors above 25 %",
}

MIN_STEPS_PER_SIDE = 5
#: Running time (s) from which the summary describes the running steps only.
RUN_SUMMARY_S = 60.0
#: A step without a step time counts up to the next step in the table when that comes within
#: this many typical step times (a longer pause is a break; one hidden contact makes 2).
CONTINUED_STEP = 1.5


def finite_median(x: np.ndarray) -> float:
    """Median of the finite values of ``x`` (NaN if there are none)."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    return float(np.median(x)) if x.size else float("nan")


def _quartiles(x: np.ndarray) -> tuple[float, float]:
    x = x[np.isfinite(x)]
    if not x.size:
        return float("nan"), float("nan")
    q25, q75 = np.percentile(x, [25, 75])
    return float(q25), float(q75)


def asymmetry_pct(left: float, right: float) -> float:
    """Symmetry index 100 * (left - right) / mean(left, right), in %; NaN if undefined."""
    mean = 0.5 * (left + right)
    if not np.isfinite(mean) or abs(mean) < 1e-12:
        return float("nan")
    return float(100.0 * (left - right) / mean)


def step_durations(step_time_s: np.ndarray, t_ic_s: np.ndarray, gait: np.ndarray) -> np.ndarray:
    """Time each step stands for (s): its step time; where that is missing (withheld next to a
    lost packet, or the last step before a change of gait) the time to the next step in the
    table when under CONTINUED_STEP times the median step time of its gait, else NaN (a
    break: standing, a gap, the end)."""
    dur = np.asarray(step_time_s, dtype=float).copy()
    gait = np.asarray(gait)
    to_next = np.append(np.diff(np.asarray(t_ic_s, dtype=float)), np.nan)
    for g in np.unique(gait):
        rows = gait == g
        fill = rows & ~np.isfinite(dur) & (to_next < CONTINUED_STEP * finite_median(dur[rows]))
        dur[fill] = to_next[fill]
    return dur


def drift_windows(step_time_s: np.ndarray, share: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the steps (in time order) in the first and in the last ``share`` of the time
    spent in them: the cumulative step time, so breaks and gaps between steps do not count."""
    dt = np.nan_to_num(np.asarray(step_time_s, dtype=float), nan=0.0)
    if dt.size == 0:
        return np.zeros(0, bool), np.zeros(0, bool)
    end = np.cumsum(dt)
    start = end - dt
    total = end[-1]
    eps = 1e-9 * total  # a step ending exactly on the boundary belongs to the middle
    return start < share * total - eps, end > (1.0 - share) * total + eps


def summarize(
    steps: StepTable,
    unavailable: dict[str, str] | None = None,
    info: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The run summary as a plain dict (JSON-ready apart from NaN, written as null)."""
    unavailable = dict(unavailable or {})
    gait = steps["gait"]
    step_time = steps["step_time_s"]
    running = gait == "run"
    walking = gait == "walk"
    # The metrics describe the running when the session is a run: at least RUN_SUMMARY_S of
    # running, or more running steps than walking ones (a warm-up walk must not pull the
    # cadence or the contact time towards walking values, nor a few jogged steps make a walk
    # a run); else all the steps.
    duration = step_durations(step_time, steps["t_ic_s"], gait)
    finite_step = np.isfinite(duration)
    run_s = float(duration[running & finite_step].sum())
    use_running = bool(running.sum() >= 2 * MIN_STEPS_PER_SIDE
                       and (run_s >= RUN_SUMMARY_S or running.sum() >= walking.sum()))
    rows = running if use_running else np.ones(len(steps), bool)
    side = steps["side"][rows]
    first, last = drift_windows(duration[rows])
    metrics: dict[str, Any] = {}
    for name in SUMMARY_METRICS:
        x = steps[name][rows]
        if name in unavailable:
            continue
        if not np.isfinite(x).any():
            if len(steps) == 0:
                unavailable[name] = "no steps were detected"
            elif not running.any():
                unavailable[name] = "measured on running steps only (here all steps are walking)"
            else:
                unavailable[name] = "could not be measured on any step"
            continue
        q25, q75 = _quartiles(x)
        ok = np.isfinite(x)  # a side's median needs MIN_STEPS_PER_SIDE measured steps
        left = (
            finite_median(x[side == "left"])
            if (ok & (side == "left")).sum() >= MIN_STEPS_PER_SIDE
            else np.nan
        )
        right = (
            finite_median(x[side == "right"])
            if (ok & (side == "right")).sum() >= MIN_STEPS_PER_SIDE
            else np.nan
        )
        start, end = finite_median(x[first]), finite_median(x[last])
        entry = {
            "median": finite_median(x),
            "q25": q25,
            "q75": q75,
            "iqr": q75 - q25,
            "left_median": left,
            "right_median": right,
            "asymmetry_pct": asymmetry_pct(left, right),
            "drift_start": start,
            "drift_end": end,
            "drift": end - start,
            "description": STEP_COLUMNS[name],
        }
        if name in TREND_ONLY:
            entry["note"] = TREND_ONLY[name]
        metrics[name] = entry
    summary: dict[str, Any] = {
        "step_count": len(steps),
        "steps_running": int(running.sum()),
        "steps_walking": int(walking.sum()),
        "time_running_s": run_s,
        "time_walking_s": float(duration[walking & finite_step].sum()),
        "steps_left": int((steps["side"] == "left").sum()),
        "steps_right": int((steps["side"] == "right").sum()),
        "metrics_over": "running steps" if use_running else "all steps",
        "metrics": metrics,
        "unavailable": unavailable,
    }
    if info:
        mass = info.get("mass_kg")
        if mass and "vgrf_peak_bw" in metrics:
            summary["vgrf_peak_n_median"] = metrics["vgrf_peak_bw"]["median"] * mass * G
        summary = {**info, **summary}
    return summary


def _num(x: Any, digits: int = 3) -> str:
    if x is None or not np.isfinite(x):
        return "-"
    return f"{x:.{digits}g}" if abs(x) < 1000 else f"{x:.0f}"


def _clock(seconds: float) -> str:
    tenths = round(max(0.0, float(seconds)) * 10)
    return f"{tenths // 600}:{(tenths % 600) / 10:04.1f}"


def _worn(placement: Any) -> str:
    return f"at the {placement}" if placement in ("sacrum", "left_foot", "right_foot") else (
        "(placement unknown)")


def format_summary(summary: dict[str, Any]) -> str:
    """The summary as a readable plain-text table (untrusted text escaped)."""
    from imu_hip.text import terminal_safe

    lines = []
    src = terminal_safe(summary.get("source") or summary.get("sensor_id", "recording"))
    if "duration_s" in summary:
        lines.append(
            f"imu-hip analysis of {src}: sensor {terminal_safe(summary.get('sensor_id', '?'))} "
            f"{_worn(summary.get('placement'))}, {_num(summary.get('rate_hz'), 4)} Hz, "
            f"{_clock(summary['duration_s'])} (m:s)"
        )
    lines.append(
        f"steps {summary['step_count']} (running {summary['steps_running']}, walking "
        f"{summary['steps_walking']}; left {summary['steps_left']}, right "
        f"{summary['steps_right']}) - time running {_clock(summary['time_running_s'])}, "
        f"walking {_clock(summary['time_walking_s'])}"
    )
    if "gaps" in summary:
        lines.append(
            f"gaps {summary['gaps']}, samples dropped (out of order or not a number) "
            f"{summary.get('dropped_samples', 0)}"
        )
    if summary.get("unanalysed_s"):
        lines.append(
            f"not analysed: {_clock(summary['unanalysed_s'])} (m:s) of data in pieces shorter "
            f"than {MIN_SEGMENT_S:g} s between gaps (too short to find steps in)"
        )
    for r in summary.get("remounts") or ():
        lines.append(
            f"sensor re-mounted at {_clock(r['t_s'])} (m:s; {terminal_safe(r['change'])}, "
            f"turned by {_num(r.get('turn_deg'), 3)} deg): aligned again from there"
        )
    if summary.get("holes_filled"):
        lines.append(
            f"short holes filled {summary['holes_filled']} ({summary.get('filled_samples', 0)} "
            f"samples); steps next to them {summary.get('steps_near_packet_loss', 0)} "
            "(reported without the metrics a filled hole could change)"
        )
    if summary.get("steps_accelerometer_saturated"):
        lines.append(
            f"accelerometer saturated in {summary['steps_accelerometer_saturated']} steps: "
            "their impact and braking peaks and vertical oscillation are not reported and their "
            "vGRF comes from contact timing alone (use a range of at least +-8 g)"
        )
    al = summary.get("alignment")
    if al:
        lines.append(
            f"sensor alignment: vertical quality {_num(al['vertical_quality'], 2)}, forward "
            f"quality {_num(al['forward_quality'], 2)}; pelvis neutral: "
            f"{summary.get('pelvis_neutral', '-')}"
        )
        if al.get("clipped"):
            lines.append(f"vertical channel clipped: {al['clipped']}")
    if al and al.get("vertical_quality") is not None and al["vertical_quality"] < 0.5:
        lines.append(f"vertical uncertain (quality {_num(al['vertical_quality'], 2)} < 0.5): "
                     "vertical oscillation, impact and vGRF may be off; the alignment's account "
                     "is in summary.json")
    if (summary["step_count"] and not summary["steps_left"] and not summary["steps_right"]
            and summary.get("steps_running")):
        no_gyro = "no gyroscope" in str(summary.get("pelvis_neutral", ""))
        lines.append("sides unknown: " + (
            "in running, left and right come from the gyroscope (or shoe sensors); without one "
            "the left/right columns are empty" if no_gyro else
            "the pelvis' left/right pattern was not clear enough to name them"))
    if summary.get("metrics_over") == "running steps" and summary.get("steps_walking"):
        lines.append(f"metrics below: the {summary['steps_running']} running steps (the "
                     f"{summary['steps_walking']} walking steps are counted above only)")
    lines.append("")
    header = f"{'metric':<26}{'median':>9}{'IQR':>17}{'left':>9}{'right':>9}{'asym %':>8}"
    header += f"{'first 10%':>11}{'last 10%':>10}"
    lines.append(header)
    for name, m in summary["metrics"].items():
        iqr = f"{_num(m['q25'])}-{_num(m['q75'])}"
        lines.append(
            f"{name:<26}{_num(m['median']):>9}{iqr:>17}{_num(m['left_median']):>9}"
            f"{_num(m['right_median']):>9}{_num(m['asymmetry_pct'], 2):>8}"
            f"{_num(m['drift_start']):>11}{_num(m['drift_end']):>10}"
        )
    if "vgrf_peak_n_median" in summary:
        lines.append(f"vGRF peak (median) {summary['vgrf_peak_n_median']:.0f} N")
    for name, reason in summary["unavailable"].items():
        lines.append(f"not available: {name}: {reason}")
    for name, m in summary["metrics"].items():
        if "note" in m:
            lines.append(f"note: {name}: {m['note']}")
    return "\n".join(lines)
