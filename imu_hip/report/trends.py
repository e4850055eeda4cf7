"""The history (trends) page: runs over time, weekly totals, warnings, metric trends."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, tzinfo

import numpy as np

from imu_hip.history import (
    FRANDSEN,
    NIELSEN,
    TREND_LIMITS,
    LoadWarning,
    RunRecord,
    metric_trends,
    weekly_totals,
)
from imu_hip.report import svg
from imu_hip.report.data import METRICS
from imu_hip.report.page import cards, clock, document, esc, local_time, num, table


def _label(key: str) -> tuple[str, str, float, int]:
    group, _, name = key.partition(".")
    return METRICS.get((group, name), (name, "", 1.0, 3))


def history_report_html(
    runs: Sequence[RunRecord], warnings: Sequence[LoadWarning], tz: tzinfo | None = None,
    db_path: str = "",
) -> str:
    """The whole trends page for the stored runs and their warnings."""
    runs = sorted(runs, key=lambda r: r.start_utc)
    body = ["<h1>Run history</h1>",
            f'<p class="sub">{len(runs)} run{"" if len(runs) == 1 else "s"} &middot; '
            f"database {esc(db_path)} &middot; times "
            f"in {esc(datetime.now(UTC).astimezone(tz).strftime('%Z') or 'local time')}; weeks "
            "run Monday 00:00 to Sunday 24:00 local time</p>"]
    if not runs:
        body.append("<p>No runs stored yet: add one with <code>imu-hip history add RUN</code>."
                    "</p>")
        return document("imu-hip run history", body)
    last = runs[-1].start_utc
    week = [r for r in runs if r.start_utc > last - timedelta(days=7)]
    month = [r for r in runs if r.start_utc > last - timedelta(days=28)]
    dist = [r.distance_m for r in runs]
    items = [("runs stored", str(len(runs))),
             ("last run", local_time(last, tz)),
             ("running time, last 7 days", clock(sum(r.length("time") or 0 for r in week))),
             ("running time, last 28 days", clock(sum(r.length("time") or 0 for r in month)))]
    if any(d for d in dist):
        items.append(("distance, last 28 days",
                      f"{sum(r.distance_m or 0 for r in month) / 1000:.1f} km"))
    body.append(cards(items))

    body.append("<h2>Load-progression warnings</h2>")
    if warnings:
        body += [
            f'<div class="warn"><b>{esc(w.kind)}</b>: {esc(w.message)}'
            f'<br><span class="note">{esc(w.evidence)}</span></div>'
            for w in warnings
        ]
    else:
        body.append("<p>No warnings: no run or week grew faster than the limits below.</p>")
    body.append(f'<p class="note">Single run: {esc(FRANDSEN)}</p>'
                f'<p class="note">Weekly: {esc(NIELSEN)}</p>')

    body.append("<h2>Runs and the 30-day limit</h2>")
    kind = "distance" if all(r.distance_m for r in runs) else "time"
    scale, unit = (1e-3, "km") if kind == "distance" else (1 / 60, "min")
    days = np.array([(r.start_utc - last).total_seconds() / 86400 for r in runs])
    length = np.array([(r.length(kind) or np.nan) * scale for r in runs])
    limit = np.full(len(runs), np.nan)
    for k, r in enumerate(runs):
        prev = [p.length(kind) for p in runs[:k]
                if r.start_utc - timedelta(days=30) <= p.start_utc < r.start_utc]
        prev = [p for p in prev if p]
        if prev:
            limit[k] = 1.1 * max(prev) * scale
    body.append(svg.line_chart(
        [svg.Series(days, length, f"run {kind}", "#0072B2", points=True),
         svg.Series(days, limit, "110 % of the longest of the previous 30 days", "#E69F00",
                    dashed=True)],
        f"run {kind} ({unit})", "days before the last run", f"{kind} ({unit})"))

    body.append("<h2>Weekly totals</h2>")
    totals = weekly_totals(runs, lambda r: r.length(kind), tz)
    weeks = list(totals)
    values = np.array([(totals[w] or np.nan) * scale for w in weeks])
    warned = {w.week for w in warnings if w.kind == "weekly"}
    body.append(svg.bar_chart([w.strftime("%d %b") for w in weeks], values,
                              f"weekly {kind} ({unit}); orange: up more than 30 %", unit,
                              [w in warned for w in weeks]))
    loads = weekly_totals(runs, lambda r: r.impact_load_bw, tz)
    if any(v for v in loads.values()):
        lw = {w.week for w in warnings if w.kind == "impact weekly"}
        body.append(svg.bar_chart([w.strftime("%d %b") for w in loads],
                                  np.array([v if v is not None else np.nan for v in
                                            loads.values()]),
                                  "weekly cumulative impact load (BW); orange: up more than 30 %",
                                  "BW", [w in lw for w in loads]))

    body.append("<h2>Metric trends (last 8 weeks)</h2>")
    trends = metric_trends(runs)
    if not trends:
        body.append("<p>Not enough runs yet (at least 4 over at least 14 days).</p>")
    for t in trends:
        label, dunit, sc, _ = _label(t.key)
        fit = (t.intercept + t.slope_per_day * t.days) * sc
        body.append(svg.line_chart(
            [svg.Series(t.days, t.values * sc, "run median", "#0072B2", points=True),
             svg.Series(t.days, fit, f"trend {t.change:+.1f} {t.unit}"
                        + (" (warning)" if t.warned else ""),
                        "#E69F00" if t.warned else "#009E73")],
            f"{label} across runs", "days before the last run", f"{label} ({dunit})"))
    body.append('<p class="note">Trend = Theil-Sen slope over the runs of the last 8 weeks; '
                "limits: " + esc(", ".join(f"{k} {v[0]:+g} {v[1]}" for k, v in
                                          TREND_LIMITS.items())) + "</p>")

    body.append("<h2>All runs</h2>")
    keys = ("hip.cadence_spm", "hip.contact_time_s", "hip.vgrf_peak_bw", "hip.pelvic_drop_deg")
    header = ["id", "start", "date from", "duration", "distance km", "steps", "impact load BW"]
    header += [f"{_label(k)[0]} ({_label(k)[1]})" for k in keys]
    header.append("file")
    rows = []
    for r in reversed(runs):
        row = [r.id, local_time(r.start_utc, tz), r.date_source, clock(r.duration_s or 0),
               num(r.distance_m / 1000 if r.distance_m else None, 3), r.steps or "-",
               num(r.impact_load_bw, 4)]
        row += [num(r.medians.get(k), _label(k)[3], _label(k)[2]) for k in keys]
        row.append(r.source)
        rows.append(row)
    body.append(table(header, rows, left_cols=1))
    body.append('<p class="note">Cumulative impact load = sum of the estimated vGRF peak (body '
                "weights) over the sacral steps of a run: a relative measure for comparing your "
                "own runs. Not medical advice.</p>")
    return document("imu-hip run history", body)
