"""The post-run report: one self-contained HTML page from a :class:`~imu_hip.report.data.RunData`.

Sections: summary cards; "What this may mean for your hip" (:mod:`imu_hip.report.flags`); each
metric over the run (median per time window, interquartile band, left and right); distributions;
a table per kilometre (when the shoes give a distance) or per 5 minutes; drift from the first to
the last 10 % of the running time; left/right; data quality; the recording's own notes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

import numpy as np

from imu_hip.report import svg
from imu_hip.report.data import METRICS, RunData
from imu_hip.report.flags import Flag, hip_flags
from imu_hip.report.page import cards, clock, document, esc, local_time, num, pace, table

#: Metrics in the per-window table, in this order, when present.
WINDOW_METRICS = (
    ("hip", "cadence_spm"),
    ("hip", "contact_time_s"),
    ("hip", "vgrf_peak_bw"),
    ("hip", "pelvic_drop_deg"),
    ("shoes", "speed_mps"),
    ("shoes", "stride_length_m"),
    ("shoes", "foot_strike_angle_deg"),
    ("shoes", "contact_time_s"),
)
MAX_BINS = 100
MIN_BIN_S = 30.0
WINDOW_S = 300.0


def present_metrics(run: RunData) -> list[tuple[str, str]]:
    """(group, column) pairs of :data:`METRICS` with data in this run, in catalogue order."""
    out = []
    for key in METRICS:
        g = run.groups.get(key[0])
        if g is not None and key[1] in g.columns and np.isfinite(
            np.asarray(g.columns[key[1]], float)
        ).any():
            out.append(key)
    return out


def _binned(t: np.ndarray, x: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, ...]:
    """Median, 25th and 75th percentile of ``x`` per bin of ``t`` (NaN for empty bins), with
    numpy's default linear interpolation, computed for all bins at once."""
    k = np.searchsorted(edges, t, side="right") - 1
    nb = len(edges) - 1
    ok = np.isfinite(x) & (k >= 0) & (k < nb)
    k, x = k[ok], x[ok]
    order = np.lexsort((x, k))
    xs = x[order]
    n = np.bincount(k, minlength=nb)
    start = np.concatenate(([0], np.cumsum(n)[:-1]))
    has = n > 0
    out = []
    for q in (0.5, 0.25, 0.75):
        v = np.full(nb, np.nan)
        pos = start[has] + q * (n[has] - 1)
        lo = np.floor(pos).astype(int)
        hi = np.minimum(lo + 1, start[has] + n[has] - 1)
        v[has] = xs[lo] + (pos - lo) * (xs[hi] - xs[lo])
        out.append(v)
    return tuple(out)


def over_run_chart(run: RunData, key: tuple[str, str]) -> str:
    """One metric over the run: median per window with its interquartile band, and the median
    of each side when sides are known."""
    g = run.groups[key[0]]
    label, unit, scale, _ = METRICS[key]
    t = g.time - run.t0
    x = np.asarray(g.columns[key[1]], float) * scale
    span = max(float(np.nanmax(t)) if len(t) else 0.0, 1.0)
    width = max(MIN_BIN_S, span / MAX_BINS)
    edges = np.arange(0.0, span + width, width)
    mid_min = 0.5 * (edges[:-1] + edges[1:]) / 60.0
    med, lo, hi = _binned(t, x, edges)
    series = [svg.Series(mid_min, med, "all steps (median, IQR band)", svg.SIDE_COLOURS["all"],
                         lo=lo, hi=hi)]
    side = g.side
    for s in ("left", "right"):
        sel = side == s
        if sel.sum() >= 5:
            m, _, _ = _binned(t[sel], x[sel], edges)
            series.append(svg.Series(mid_min, m, s, svg.SIDE_COLOURS[s]))
    title = f"{label} over the run (median per {width:.0f} s)"
    return svg.line_chart(series, title, "time from start (min)", f"{label} ({unit})")


def distribution_chart(run: RunData, key: tuple[str, str]) -> str:
    g = run.groups[key[0]]
    label, unit, scale, _ = METRICS[key]
    use = g.running
    x = np.asarray(g.columns[key[1]], float)[use] * scale
    side = g.side[use]
    groups = [
        (s, x[side == s], svg.SIDE_COLOURS[s])
        for s in ("left", "right")
        if (side == s).sum() >= 5
    ]
    if not groups:
        groups = [("all steps", x, svg.SIDE_COLOURS["all"])]
    return svg.histogram(groups, f"{label}: distribution", f"{label} ({unit})")


def window_edges(run: RunData) -> tuple[np.ndarray, list[str], str]:
    """Window boundaries (host s) and labels: per km when the distance is known, else 5 min."""
    cum = run.cumulative_distance()
    if cum is not None and cum[1][-1] >= 1000.0:
        t, d = cum
        kms = np.arange(1000.0, d[-1], 1000.0)
        bounds = np.concatenate(([run.t0], np.interp(kms, d, t), [t[-1] + 1e-6]))
        labels = [f"km {k + 1}" for k in range(len(bounds) - 1)]
        labels[-1] = f"km {len(bounds) - 1} (last {(d[-1] - 1000.0 * (len(bounds) - 2)):.0f} m)"
        return bounds, labels, "per kilometre (distance from the shoe strides)"
    end = max(
        (float(np.nanmax(g.time)) for g in run.groups.values() if len(g)), default=run.t0
    )
    bounds = np.arange(run.t0, end + WINDOW_S, WINDOW_S)
    if len(bounds) < 2:
        bounds = np.array([run.t0, end + 1e-6])
    bounds[-1] = max(bounds[-1], end + 1e-6)
    labels = [f"{(b - run.t0) / 60:.0f}-{(min(e, end) - run.t0) / 60:.0f} min" for b, e in
              zip(bounds[:-1], bounds[1:], strict=True)]
    return bounds, labels, "per 5 minutes (distance unknown)"


def window_table(run: RunData) -> str:
    bounds, labels, what = window_edges(run)
    keys = [k for k in WINDOW_METRICS if k in present_metrics(run)]
    main = run.groups.get("hip") or run.groups.get("shoes")
    unit = "strides" if main is not None and main.name == "shoes" else "steps"
    header = ["window", "from", "to", unit, "running %"]
    header += [f"{METRICS[k][0]} ({METRICS[k][1]})" for k in keys]
    pace_col = ("shoes", "speed_mps") in keys
    if pace_col:
        header.append("pace")
    rows = []
    for a, b, label in zip(bounds[:-1], bounds[1:], labels, strict=True):
        row: list[Any] = [label, clock(a - run.t0), clock(b - run.t0)]
        speed = float("nan")
        if main is not None:
            sel = (main.time >= a) & (main.time < b)
            gait = np.asarray(main.columns.get("gait", np.full(len(main), "unknown")), str)[sel]
            row += [int(sel.sum()), num(100.0 * np.mean(gait == "run") if sel.any() else np.nan,
                                        3)]
        else:
            row += ["-", "-"]
        for key in keys:
            g = run.groups[key[0]]
            sel = (g.time >= a) & (g.time < b)
            x = np.asarray(g.columns[key[1]], float)[sel]
            x = x[np.isfinite(x)]
            scale, digits = METRICS[key][2], METRICS[key][3]
            row.append(num(np.median(x) * scale if x.size else np.nan, digits))
            if key == ("shoes", "speed_mps"):
                speed = float(np.median(x)) if x.size else float("nan")
        if pace_col:
            row.append(pace(speed))
        rows.append(row)
    return f"<p class=\"note\">{esc(what)}; medians.</p>" + table(header, rows, left_cols=1)


def drift_table(run: RunData) -> str:
    rows = []
    for key in present_metrics(run):
        s = run.stats(*key)
        if s is None:
            continue
        label, unit, scale, digits = METRICS[key]
        rows.append([
            label, unit, num(s.start * scale, digits), num(s.end * scale, digits),
            num(s.drift * scale, 2), num(s.drift_pct, 2),
        ])
    return table(["metric", "unit", "first 10 %", "last 10 %", "change", "change %"], rows, 2)


def side_table(run: RunData) -> str:
    rows = []
    for key in present_metrics(run):
        s = run.stats(*key)
        if s is None or not (math.isfinite(s.left) or math.isfinite(s.right)):
            continue
        label, unit, scale, digits = METRICS[key]
        rows.append([label, unit, num(s.left * scale, digits), num(s.right * scale, digits),
                     num(s.asymmetry_pct, 2)])
    if not rows:
        return ("<p>Sides are unknown in this run (a sacral sensor needs a gyroscope to tell "
                "left from right; shoes tell it by themselves).</p>")
    return ("<p class=\"note\">symmetry index = 100 x (left - right) / mean of both; positive: "
            "left larger.</p>" + table(["metric", "unit", "left", "right", "symmetry index %"],
                                         rows, 2))


def summary_cards(run: RunData) -> str:
    items = [("duration", clock(run.duration_s)), ("running time", clock(run.running_s))]
    steps = run.step_count
    items.append(("steps", f"{steps}" if steps is not None else "-"))
    dist = run.distance_m
    if dist is not None:
        items.append(("distance", f"{dist / 1000.0:.2f} km"))
        sp = run.stats("shoes", "speed_mps")
        if sp is not None:
            items.append(("pace (median)", pace(sp.median)))
        elif run.running_s > 0:
            items.append(("pace (average)", pace(dist / run.running_s)))
    for key, name in (
        (("hip", "cadence_spm"), "cadence"),
        (("hip", "contact_time_s"), "contact time"),
        (("shoes", "contact_time_s"), "contact time (shoes)"),
        (("hip", "impact_peak_g"), "impact peak (sacrum)"),
        (("shoes", "impact_peak_g"), "impact peak (shoe)"),
        (("hip", "vgrf_peak_bw"), "vGRF peak"),
        (("hip", "pelvic_drop_deg"), "pelvic drop"),
        (("shoes", "foot_strike_angle_deg"), "foot-strike angle"),
    ):
        s = run.stats(*key)
        if s is not None:
            _, unit, scale, digits = METRICS[key]
            items.append((f"{name} (median)", f"{num(s.median * scale, digits)} {unit}"))
    strike = foot_strike_shares(run)
    if strike:
        items.append(("foot strike", ", ".join(f"{k} {v:.0f} %" for k, v in strike)))
    return cards(items)


def foot_strike_shares(run: RunData) -> list[tuple[str, float]]:
    shoes = run.groups.get("shoes")
    if shoes is None or "foot_strike" not in shoes.columns:
        return []
    fs = np.asarray(shoes.columns["foot_strike"], str)[shoes.running]
    fs = fs[np.isin(fs, ("rear", "mid", "fore"))]
    if not fs.size:
        return []
    return [(k, 100.0 * np.mean(fs == k)) for k in ("rear", "mid", "fore") if (fs == k).any()]


def flag_html(f: Flag) -> str:
    return (
        f'<div class="flag s-{esc(f.status.replace(" ", "-"))}"><h3>{esc(f.title)} '
        f'<span class="badge">{esc(f.status)}</span></h3>'
        f"<p><b>What we measured:</b> {esc(f.finding, 2000)}</p>"
        f"<p><b>What it may mean:</b> {esc(f.meaning, 2000)}</p>"
        f"<p class=\"note\"><b>Threshold:</b> {esc(f.threshold, 2000)}</p>"
        f"<p class=\"note\"><b>Evidence:</b> {esc(f.evidence, 2000)}</p>"
        f"<p class=\"note\"><b>How sure the measurement is:</b> {esc(f.uncertainty, 2000)}</p>"
        "</div>"
    )


LOSS_WORDS = ("loss", "lost", "packet", "drop", "gap", "missing")
CALIBRATION_WORDS = ("calib",)


def data_quality(run: RunData) -> str:
    rows: list[list[Any]] = []
    for s in run.sensor_infos():
        al = s.get("alignment") or {}
        rows.append([
            s.get("sensor_id", "?"), s.get("placement", "?"), num(s.get("rate_hz"), 4),
            clock(float(s.get("duration_s") or 0.0)), s.get("gaps", "-"),
            s.get("dropped_samples", "-"), num(al.get("vertical_quality"), 2),
            num(al.get("forward_quality"), 2), s.get("pelvis_neutral", "-"),
            _calibration_text(s),
        ])
    out = [table(["sensor", "placement", "rate Hz", "duration", "gaps", "samples dropped",
                  "vertical quality", "forward quality", "pelvis neutral", "calibration"],
                 rows, 2)]
    notes = []
    for s in run.sensor_infos():
        fq = (s.get("alignment") or {}).get("forward_quality")
        if isinstance(fq, int | float) and math.isfinite(fq) and fq < 0.5:
            notes.append(
                f"sensor {s.get('sensor_id', '?')}: the forward direction is uncertain (quality "
                f"{fq:.2f} < 0.5), so left/right and the sign of pelvic drop may be swapped."
            )
        clipped = (s.get("alignment") or {}).get("clipped")
        if clipped:
            notes.append(f"sensor {s.get('sensor_id', '?')}: vertical channel clipped: {clipped}.")
        if s.get("gaps"):
            notes.append(
                f"sensor {s.get('sensor_id', '?')}: {s['gaps']} gap(s) in the data; no step is "
                "counted across a gap, so step counts and distance are slightly low."
            )
        remounts = s.get("remounts")
        for r in remounts if isinstance(remounts, list) else ():
            t = r.get("t_s") if isinstance(r, Mapping) else None
            when = num(float(t), 4) if isinstance(t, int | float) else "?"
            change = r.get("change", "?") if isinstance(r, Mapping) else "?"
            notes.append(f"sensor {s.get('sensor_id', '?')}: re-mounted at {when} s ({change}); "
                         "aligned again from there.")
        if s.get("unanalysed_s"):
            notes.append(
                f"sensor {s.get('sensor_id', '?')}: {num(float(s['unanalysed_s']), 3)} s of data "
                "lie in pieces between gaps too short to find steps in, and were not analysed."
            )
    loss = {k: v for k, v in run.metadata.items() if any(w in k.lower() for w in LOSS_WORDS)}
    if loss:
        notes += [f"recording: {k} = {v}" for k, v in loss.items()]
    else:
        notes.append("packet loss: not recorded in this file (only live recordings store it).")
    if run.metadata.get("truncated") == "true":
        notes.append(
            "the recording was cut off (" + str(run.metadata.get("truncated_detail", "")) + "); "
            "everything saved before the cut was analysed."
        )
    for info in run.sensor_infos():
        if info.get("clipped_samples"):
            notes.append(
                f"sensor {info.get('sensor_id', '?')}: {info['clipped_samples']} samples at the "
                "sensor's range limit (clipped); strides over them are marked."
            )
        holes = info.get("holes_filled")
        if isinstance(holes, int) and not isinstance(holes, bool) and holes > 0:
            what = [f"{holes} short holes (lost packets) filled"]
            steps, strides = (info.get("steps_near_packet_loss"),
                              info.get("strides_dropped_at_packet_loss"))
            if isinstance(steps, int) and steps > 0:
                what.append(f"{steps} steps next to them reported without the metrics a hole "
                            "could change")
            if isinstance(strides, int) and strides > 0:
                what.append(f"{strides} strides dropped, their distance counted from the "
                            "strides around them")
            notes.append(f"sensor {info.get('sensor_id', '?')}: " + "; ".join(what) + ".")
    for s in run.summaries:
        if s.get("hip_not_analysed"):
            notes.append(f"hip not analysed: {s['hip_not_analysed']}.")
        shoes = s.get("shoes") if isinstance(s.get("shoes"), dict) else {}
        if shoes.get("error"):
            notes.append(f"shoes not analysed: {shoes['error']}")
        if shoes.get("time_offset_s") is not None:
            notes.append(
                f"shoes vs sacrum: clock offset {num(1000 * float(shoes['time_offset_s']), 3)} ms "
                "(found from the events); "
                f"{num(shoes.get('sacral_steps_matched_pct'), 3)} % of sacral steps matched a "
                "shoe contact (they take their side and contact time from the shoes)."
            )
        for part in (s, shoes):
            for name, reason in (part.get("unavailable") or {}).items():
                notes.append(f"not available: {name}: {reason}")
        for name, m in (s.get("metrics") or {}).items():
            if isinstance(m, dict) and m.get("note"):
                notes.append(f"note: {name}: {m['note']}")
    notes += run.notes
    out.append("<ul>" + "".join(f"<li>{esc(n, 1000)}</li>" for n in dict.fromkeys(notes))
               + "</ul>")
    return "\n".join(out)


def _calibration_text(summary: dict[str, Any]) -> str:
    cal = summary.get("calibration")
    if isinstance(cal, dict):
        return ", ".join(f"{k}: {_short(v)}" for k, v in cal.items())
    if cal:
        return str(cal)
    return "none recorded"


def _short(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_short(x)}" for k, x in v.items()) + "}"
    a = np.asarray(v) if isinstance(v, list | tuple | np.ndarray) else None
    if a is not None and a.dtype.kind in "fiu":
        return np.array2string(a.astype(float), precision=4, separator=", ")
    if isinstance(v, float):
        return num(v, 4)
    return str(v)


def metadata_table(run: RunData) -> str:
    if not run.metadata:
        return "<p>No notes or metadata in the recording.</p>"
    return table(["key", "value"], sorted(run.metadata.items()), left_cols=2)


def run_report_html(run: RunData, tz: tzinfo | None = None) -> str:
    """The whole report page for one run (see the module docstring)."""
    from imu_hip import __version__

    sensors = ", ".join(
        f"{s.get('sensor_id', '?')} ({s.get('placement', '?')})" for s in run.sensor_infos()
    )
    body = [
        "<h1>Run report</h1>",
        f'<p class="sub">{esc(run.source or "recording")} &middot; started '
        f"{esc(local_time(run.start_utc, tz))} ({esc(run.start_source)}) &middot; sensors: "
        f"{esc(sensors or 'none')}</p>",
        summary_cards(run),
        "<h2>What this may mean for your hip</h2>",
        '<p class="note">These flags inform; they do not diagnose. Each names the threshold it '
        "uses, the study behind it and how sure the measurement is. Pain, or a flag that "
        "repeats over several runs, is worth discussing with a physiotherapist or doctor.</p>",
        *[flag_html(f) for f in hip_flags(run)],
    ]
    keys = present_metrics(run)
    body.append("<h2>Metrics over the run</h2>")
    if not keys:
        body.append("<p>No steps were detected, so there is nothing to plot.</p>")
    body += [over_run_chart(run, k) for k in keys]
    body.append("<h2>Distributions</h2>")
    body.append('<p class="note">running steps (all steps when there are fewer than 20); values '
                "beyond the 0.5th and 99.5th percentiles are counted in the end bins.</p>")
    body += [distribution_chart(run, k) for k in keys]
    if run.groups:
        body += ["<h2>Per window</h2>", window_table(run)]
    body += ["<h2>Drift from start to end</h2>",
             '<p class="note">median over the first and the last 10 % of the running time; '
             "a change here is how form shifts as you tire.</p>", drift_table(run)]
    body += ["<h2>Left and right</h2>", side_table(run)]
    body += ["<h2>Data quality</h2>", data_quality(run)]
    body += ["<h2>Recording notes</h2>", metadata_table(run)]
    body.append(
        f'<p class="note">imu-hip {esc(__version__)}, report made '
        f"{esc(datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC'))}. Not medical advice.</p>"
    )
    return document(f"imu-hip run report: {run.source or 'recording'}", body)

