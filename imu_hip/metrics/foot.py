"""Per-stride foot metrics from a shoe IMU: foot-strike angle and class, pronation, impact.

All angles are relative to the foot flat on the ground, taken as the sensor's orientation at
the mid-stance of the same stance (the zero-velocity instant, see :mod:`imu_hip.gait.foot`),
in the foot frame found from gravity and the direction of travel.

- **Foot-strike angle** (deg, + = toe up): the elevation of the foot's long axis at initial
  contact relative to foot flat. Classes after Altman & Davis (2012, "A kinematic method for
  footstrike pattern detection in barefoot and shod runners", Gait Posture 35:298-300): rear
  foot > 8.0 deg, mid foot -1.6 to 8.0 deg, fore foot < -1.6 deg (their thresholds on the sagittal
  foot angle at contact relative to standing).
- **Pronation** (deg, deg/s): eversion = rotation of the foot about its long axis lowering the
  medial edge (left foot: positive about +x; right foot: negative), relative to foot flat.
  Excursion = largest eversion during the stance (contact to toe-off) minus the eversion at
  contact; velocity = largest eversion angular rate during the stance.
- **Impact peak** (g): the largest resultant acceleration (gravity included) from contact to
  50 ms after it.
"""

from __future__ import annotations

import numpy as np

from imu_hip.model import G

#: Altman & Davis (2012) foot-strike angle thresholds (deg): rear > 8.0, fore < -1.6.
REAR_ABOVE_DEG = 8.0
FORE_BELOW_DEG = -1.6
IMPACT_WINDOW_S = 0.05


def strike_class(angle_deg: np.ndarray) -> np.ndarray:
    """``rear`` / ``mid`` / ``fore`` per angle (Altman & Davis 2012), ``unknown`` for NaN."""
    a = np.asarray(angle_deg, float)
    out = np.full(a.shape, "unknown", dtype="<U7")
    out[a > REAR_ABOVE_DEG] = "rear"
    out[(a >= FORE_BELOW_DEG) & (a <= REAR_ABOVE_DEG)] = "mid"
    out[a < FORE_BELOW_DEG] = "fore"
    return out


def relative_rotations(rot: np.ndarray, ref: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """Quaternions (k, 4): orientation at ``idx`` seen from the sensor frame at ``ref`` (both
    world-from-sensor unit quaternions, :func:`imu_hip.gait.foot.orientations`)."""
    from imu_hip.gait.foot import qconj, qmul

    return qmul(qconj(rot[ref]), rot[idx])


def strike_angle_deg(rot: np.ndarray, frame: np.ndarray, ic: np.ndarray,
                     ms: np.ndarray) -> np.ndarray:
    """Sagittal foot angle at contact ``ic`` relative to foot flat at ``ms`` (deg, toe up +)."""
    from imu_hip.gait.foot import qrot

    q = relative_rotations(rot, ms, ic)
    x_now = qrot(q, np.broadcast_to(frame[:, 0], (q.shape[0], 3)))
    return np.degrees(np.arcsin(np.clip(x_now @ frame[:, 2], -1.0, 1.0)))


def pronation(rot: np.ndarray, gyr: np.ndarray, frame: np.ndarray, ic: np.ndarray,
              to: np.ndarray, ms: np.ndarray, side_sign: float) -> tuple[np.ndarray, np.ndarray]:
    """Eversion excursion (deg) and peak eversion velocity (deg/s) over each stance
    ``ic[k]..to[k]`` relative to foot flat at ``ms[k]``. ``side_sign``: +1 left foot, -1 right.
    NaN where the stance is not known."""
    from imu_hip.gait.foot import qrot

    k = ic.size
    exc = np.full(k, np.nan)
    vel = np.full(k, np.nan)
    ok = (ic >= 0) & (to > ic) & (ms >= 0)
    if not ok.any():
        return exc, vel
    kk = np.flatnonzero(ok)
    lengths = to[kk] - ic[kk] + 1
    owner = np.repeat(np.arange(kk.size), lengths)
    starts = np.cumsum(lengths) - lengths
    idx = np.repeat(ic[kk], lengths) + np.arange(int(lengths.sum())) - np.repeat(starts, lengths)
    q = relative_rotations(rot, ms[kk][owner], idx)
    # the flat foot's up axis seen from the foot now: its left/up components give the roll
    up_now = qrot(q * np.array([1.0, -1.0, -1.0, -1.0]),
                  np.broadcast_to(frame[:, 2], (q.shape[0], 3)))
    roll = np.arctan2(up_now @ frame[:, 1], up_now @ frame[:, 2])
    ev = np.degrees(side_sign * roll)
    ev_rate = np.degrees(side_sign * (gyr[idx] @ frame[:, 0]))
    exc[kk] = np.maximum.reduceat(ev, starts) - ev[starts]
    vel[kk] = np.maximum.reduceat(ev_rate, starts)
    return exc, vel


def impact_peak_g(acc: np.ndarray, ic: np.ndarray, rate_hz: float) -> np.ndarray:
    """Largest resultant acceleration (g) from contact ``ic`` to 50 ms after it."""
    out = np.full(ic.size, np.nan)
    ok = ic >= 0
    if not ok.any():
        return out
    w = int(round(IMPACT_WINDOW_S * rate_hz)) + 1
    idx = np.clip(ic[ok, None] + np.arange(w)[None, :], 0, acc.shape[0] - 1)
    out[ok] = np.linalg.norm(acc[idx], axis=2).max(axis=1) / G
    return out


#: Longest span of dropped strides counted in a distance (s): twice the longest stride.
MAX_DROPPED_SPAN_S = 5.0


def cumulative_distance_m(t_start_s: np.ndarray, t_end_s: np.ndarray,
                          stride_length_m: np.ndarray, dropped_spans_s: np.ndarray | None = None,
                          ) -> tuple[np.ndarray, np.ndarray]:
    """(times s, distance m): the distance covered by one foot, summed up to the end of each
    stride and of each span of a stride dropped at packet loss, in time order.

    ``dropped_spans_s``: (k, 2) start and end host times of the strides not reported, one
    stride each (``strides_dropped_spans_s`` of the foot's sensor). Spans not finite, not
    positive, longer than :data:`MAX_DROPPED_SPAN_S` or overlapping a stride given are ignored;
    overlapping spans count once. A dropped stride and a stride without its length (a filled
    hole in its swing, a saturated accelerometer) count the stride length of the measured
    strides around them, interpolated in time (not speed x time: a stride can hold a short
    pause), so packet loss does not shorten the run. Empty arrays when no stride has a
    length."""
    t0 = np.asarray(t_start_s, float)
    t1 = np.asarray(t_end_s, float)
    length = np.asarray(stride_length_m, float)
    with np.errstate(invalid="ignore"):
        row = np.isfinite(t0) & np.isfinite(t1) & (t1 > t0)
        ok = row & np.isfinite(length)
    if not ok.any():
        return np.zeros(0), np.zeros(0)
    t0, t1, length, ok = t0[row], t1[row], length[row], ok[row]
    spans = _clean_spans(dropped_spans_s, t0, t1)
    end = np.concatenate((t1, spans[:, 1]))
    measured = np.concatenate((length, np.full(spans.shape[0], np.nan)))
    by_time = np.argsort(t1[ok], kind="stable")
    around = np.interp(end, t1[ok][by_time], length[ok][by_time])
    order = np.argsort(end, kind="stable")
    return end[order], np.cumsum(np.where(np.isfinite(measured), measured, around)[order])


def _clean_spans(spans_s: np.ndarray | None, t0: np.ndarray, t1: np.ndarray) -> np.ndarray:
    """The usable (k, 2) dropped spans of :func:`cumulative_distance_m`, in time order."""
    spans = np.zeros((0, 2)) if spans_s is None else np.asarray(spans_s, float).reshape(-1, 2)
    with np.errstate(invalid="ignore"):
        dur = spans[:, 1] - spans[:, 0]
        spans = spans[np.isfinite(dur) & (dur > 0) & (dur <= MAX_DROPPED_SPAN_S)]
    spans = spans[np.lexsort((spans[:, 1], spans[:, 0]))]
    eps = 1e-3  # (s) spans and strides that only touch do not overlap
    keep = np.ones(spans.shape[0], bool)
    last_end = -np.inf
    for k, (a, b) in enumerate(spans):  # a span overlapping an earlier one counts once
        keep[k] = a >= last_end - eps
        last_end = max(last_end, b) if keep[k] else last_end
    spans = spans[keep]
    order = np.argsort(t0)
    first = np.searchsorted(t0[order], spans[:, 1] - eps)  # strides starting before the end
    latest_end = np.maximum.accumulate(t1[order]) if t0.size else np.zeros(0)
    clash = (first > 0) & (latest_end[np.maximum(first - 1, 0)] > spans[:, 0] + eps)
    return spans[~clash] if t0.size else spans


#: Stride metrics summarised (numbers describing the stride, not the event times).
STRIDE_SUMMARY_METRICS = (
    "stride_time_s", "contact_time_s", "swing_time_s", "flight_time_s", "stride_length_m",
    "speed_mps", "foot_strike_angle_deg", "pronation_excursion_deg", "pronation_velocity_dps",
    "impact_peak_g",
)


def _median(x: np.ndarray) -> float:
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    return float(np.median(x)) if x.size else float("nan")


def summarize_strides(strides, min_per_side: int = 5) -> dict:
    """Summary of a :class:`~imu_hip.strides.StrideTable`: median, IQR, left/right medians and
    symmetry index ``100 (left - right) / mean`` per metric; foot-strike shares; with both feet
    also step time and cadence (from the initial contacts of both feet in time order)."""
    from imu_hip.metrics.summary import asymmetry_pct

    side = strides["side"]
    out: dict = {"stride_count": len(strides),
                 "strides_left": int((side == "left").sum()),
                 "strides_right": int((side == "right").sum()),
                 "strides_clipped": int(np.nansum(strides["clipped"])),
                 "strides_running": int((strides["gait"] == "run").sum()),
                 "strides_walking": int((strides["gait"] == "walk").sum())}
    metrics: dict = {}
    unavailable: dict = {}
    for name in STRIDE_SUMMARY_METRICS:
        x = strides[name]
        if not np.isfinite(x).any():
            unavailable[name] = ("no strides were detected" if len(strides) == 0 else
                                 "needs both shoes (or the sacrum)" if name == "flight_time_s"
                                 else "could not be measured on any stride")
            continue
        fin = x[np.isfinite(x)]
        q25, q75 = np.percentile(fin, [25, 75])
        ok = np.isfinite(x)  # a side's median needs min_per_side measured strides
        n_left, n_right = int((ok & (side == "left")).sum()), int((ok & (side == "right")).sum())
        left = _median(x[side == "left"]) if n_left >= min_per_side else np.nan
        right = _median(x[side == "right"]) if n_right >= min_per_side else np.nan
        metrics[name] = {"median": _median(x), "q25": float(q25), "q75": float(q75),
                         "iqr": float(q75 - q25), "left_median": left, "right_median": right,
                         "asymmetry_pct": asymmetry_pct(left, right)}
    strike = strides["foot_strike"]
    known = strike != "unknown"
    out["foot_strike_share_pct"] = {
        k: (100.0 * float(np.mean(strike[known] == k)) if known.any() else float("nan"))
        for k in ("rear", "mid", "fore")}
    if out["strides_left"] and out["strides_right"]:
        order = np.argsort(strides["t_ic_s"])
        t = strides["t_ic_s"][order]
        s = side[order]
        st = np.diff(t)
        alt = (s[1:] != s[:-1]) & (st < 0.75 * np.nanmedian(strides["stride_time_s"]) + 0.2)
        step = st[alt]
        if step.size:
            metrics["step_time_s"] = {"median": float(np.median(step)),
                                      "q25": float(np.percentile(step, 25)),
                                      "q75": float(np.percentile(step, 75))}
            metrics["cadence_spm"] = {"median": 60.0 / float(np.median(step))}
    elif len(strides):
        st = strides["stride_time_s"]
        metrics["cadence_spm"] = {"median": 120.0 / _median(st),
                                  "note": "one shoe: twice the stride rate"}
    out["metrics"] = metrics
    out["unavailable"] = unavailable
    return out


def format_stride_summary(summary: dict) -> str:
    """The stride summary as a plain-text table (untrusted text escaped)."""
    from imu_hip.text import terminal_safe

    def num(x, d=3):
        return "-" if x is None or not np.isfinite(x) else f"{x:.{d}g}"

    lines = []
    if "sensor_ids" in summary:
        src = summary.get("source") or ", ".join(summary["sensor_ids"])
        lines.append("imu-hip shoe analysis of " + terminal_safe(str(src)))
    lines.append(f"strides {summary['stride_count']} (left {summary['strides_left']}, right "
                 f"{summary['strides_right']}; running {summary['strides_running']}, walking "
                 f"{summary['strides_walking']}; clipped {summary['strides_clipped']})")
    share = summary["foot_strike_share_pct"]
    lines.append("foot strike: " + ", ".join(f"{k} {num(v, 3)} %" for k, v in share.items()))
    if "time_offset_s" in summary:
        off = summary["time_offset_s"]
        lines.append("clock offset hip minus shoes, from the initial contacts: "
                     + ("-" if off is None or not np.isfinite(off) else f"{1000 * off:+.1f} ms")
                     + f"; hip steps matched to shoe contacts "
                     f"{num(summary.get('sacral_steps_matched_pct'), 3)} %")
    lines.append("")
    lines.append(f"{'metric':<26}{'median':>9}{'IQR':>17}{'left':>9}{'right':>9}{'asym %':>8}")
    for name, m in summary["metrics"].items():
        iqr = f"{num(m.get('q25'))}-{num(m.get('q75'))}" if "q25" in m else "-"
        lines.append(f"{name:<26}{num(m['median']):>9}{iqr:>17}{num(m.get('left_median')):>9}"
                     f"{num(m.get('right_median')):>9}{num(m.get('asymmetry_pct'), 2):>8}")
    saturated = sum(int(i.get("strides_accelerometer_saturated", 0))
                    for i in summary.get("sensors", []))
    if saturated:
        lines.append(f"accelerometer saturated in {saturated} strides: their stride length, "
                     "speed and impact peak are not reported (use a range of at least +-16 g)")
    for name, reason in summary["unavailable"].items():
        lines.append(f"not available: {name}: {reason}")
    return "\n".join(lines)
