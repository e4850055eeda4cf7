"""Small inline-SVG charts for the HTML reports: line charts, histograms and bar charts.

Written by hand (no matplotlib needed) so a report is one self-contained, offline file. Every
text placed in a chart goes through :func:`html.escape`; colours and numbers are our own.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Colours by side (colour-blind-safe pair from the Okabe-Ito palette) and for both sides together.
SIDE_COLOURS = {"left": "#0072B2", "right": "#D55E00", "all": "#444444", "unknown": "#999999"}

_W, _H = 660, 240
_PAD_L, _PAD_R, _PAD_T, _PAD_B = 58, 14, 36, 40


@dataclass
class Series:
    """One line (or point set) of a chart: x, y (NaN breaks the line), label, colour."""

    x: np.ndarray
    y: np.ndarray
    label: str
    colour: str = "#444444"
    lo: np.ndarray | None = None  # optional band (e.g. interquartile range)
    hi: np.ndarray | None = None
    points: bool = False  # draw markers instead of a line
    dashed: bool = False


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        hi = lo + (abs(lo) * 0.1 or 1.0)
    raw = (hi - lo) / max(n, 1)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    return [first + k * step for k in range(int((hi - first) / step + 1e-9) + 1)]


def _fmt_tick(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e6 or a < 0.01:
        return f"{v:.3g}"
    if a >= 1000:
        return f"{v:,.0f}"
    return f"{v:.3f}".rstrip("0").rstrip(".")


def _range(values: Sequence[np.ndarray]) -> tuple[float, float]:
    finite = [v[np.isfinite(v)] for v in values if v is not None and np.size(v)]
    finite = [v for v in finite if v.size]
    if not finite:
        return float("nan"), float("nan")
    allv = np.concatenate(finite)
    lo, hi = float(allv.min()), float(allv.max())
    if hi - lo < 1e-12:
        pad = abs(lo) * 0.05 or 1.0
        return lo - pad, hi + pad
    pad = 0.05 * (hi - lo)
    return lo - pad, hi + pad


def _frame(title: str, x_label: str, y_label: str, xr, yr, legend) -> list[str]:
    e = html.escape
    x0, x1 = _PAD_L, _W - _PAD_R
    y0, y1 = _H - _PAD_B, _PAD_T
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {_W} {_H}" '
        f'width="{_W}" height="{_H}" role="img" aria-label="{e(title)}">',
        f"<title>{e(title)}</title>",
        f'<rect x="{x0}" y="{y1}" width="{x1 - x0}" height="{y0 - y1}" fill="#fff" '
        'stroke="#bbb"/>',
        f'<text x="4" y="14" class="ct">{e(title)}</text>',
        f'<text x="{(x0 + x1) / 2:.1f}" y="{_H - 6}" text-anchor="middle" class="cl">'
        f"{e(x_label)}</text>",
        f'<text transform="translate(13,{(y0 + y1) / 2:.1f}) rotate(-90)" text-anchor="middle" '
        f'class="cl">{e(y_label)}</text>',
    ]
    for t in nice_ticks(*xr):
        px = _sx(t, xr)
        out.append(f'<line x1="{px:.1f}" y1="{y0}" x2="{px:.1f}" y2="{y0 + 4}" stroke="#888"/>')
        out.append(
            f'<text x="{px:.1f}" y="{y0 + 16}" text-anchor="middle" class="tk">'
            f"{e(_fmt_tick(t))}</text>"
        )
    for t in nice_ticks(*yr, n=4):
        py = _sy(t, yr)
        out.append(
            f'<line x1="{x0}" y1="{py:.1f}" x2="{x1}" y2="{py:.1f}" stroke="#eee"/>'
            f'<text x="{x0 - 5}" y="{py + 4:.1f}" text-anchor="end" class="tk">'
            f"{e(_fmt_tick(t))}</text>"
        )
    lx = float(x0)
    for label, colour in legend:  # one row under the title, left to right
        out.append(
            f'<rect x="{lx:.1f}" y="21" width="10" height="10" fill="{colour}"/>'
            f'<text x="{lx + 14:.1f}" y="30" class="lg">{e(label)}</text>'
        )
        lx += 14 + 6.2 * len(label) + 16
    return out


def _sx(v: float, xr) -> float:
    return _PAD_L + (v - xr[0]) / (xr[1] - xr[0]) * (_W - _PAD_R - _PAD_L)


def _sy(v: float, yr) -> float:
    return _H - _PAD_B - (v - yr[0]) / (yr[1] - yr[0]) * (_H - _PAD_B - _PAD_T)


def _polylines(x: np.ndarray, y: np.ndarray, xr, yr) -> list[str]:
    """Point lists of the runs of finite values (NaN breaks a line)."""
    ok = np.isfinite(x) & np.isfinite(y)
    out, cur = [], []
    for xi, yi, good in zip(x, y, ok, strict=True):
        if good:
            cur.append(f"{_sx(xi, xr):.1f},{_sy(yi, yr):.1f}")
        elif cur:
            out.append(" ".join(cur))
            cur = []
    if cur:
        out.append(" ".join(cur))
    return out


def line_chart(series: Sequence[Series], title: str, x_label: str, y_label: str) -> str:
    """Lines (with optional bands) sharing one x axis, as an ``<svg>`` element."""
    xr = _range([s.x for s in series])
    yr = _range([a for s in series for a in (s.y, s.lo, s.hi)])
    if not (math.isfinite(xr[0]) and math.isfinite(yr[0])):
        return _empty(title)
    out = _frame(title, x_label, y_label, xr, yr, [(s.label, s.colour) for s in series])
    for s in series:
        if s.lo is not None and s.hi is not None:
            ok = np.isfinite(s.x) & np.isfinite(s.lo) & np.isfinite(s.hi)
            if ok.sum() >= 2:
                xs = [f"{_sx(a, xr):.1f}" for a in s.x[ok]]
                top = [f"{a},{_sy(b, yr):.1f}" for a, b in zip(xs, s.hi[ok], strict=True)]
                bot = [f"{a},{_sy(b, yr):.1f}" for a, b in zip(xs, s.lo[ok], strict=True)]
                out.append(
                    f'<polygon points="{" ".join(top + bot[::-1])}" fill="{s.colour}" '
                    'fill-opacity="0.15" stroke="none"/>'
                )
        if s.points:
            ok = np.isfinite(s.x) & np.isfinite(s.y)
            out.extend(
                f'<circle cx="{_sx(a, xr):.1f}" cy="{_sy(b, yr):.1f}" r="3" fill="{s.colour}"/>'
                for a, b in zip(s.x[ok], s.y[ok], strict=True)
            )
        else:
            dash = ' stroke-dasharray="5,3"' if s.dashed else ""
            out.extend(
                f'<polyline points="{pts}" fill="none" stroke="{s.colour}" stroke-width="1.8"'
                f"{dash}/>"
                for pts in _polylines(s.x, s.y, xr, yr)
            )
    out.append("</svg>")
    return "\n".join(out)


def histogram(
    groups: Sequence[tuple[str, np.ndarray, str]], title: str, x_label: str, bins: int = 30
) -> str:
    """Overlaid step-outline histograms (share of each group's values per bin, in %)."""
    values = [np.asarray(v, float)[np.isfinite(v)] for _, v, _ in groups]
    allv = np.concatenate(values) if values else np.zeros(0)
    if allv.size < 2:
        return _empty(title)
    lo, hi = np.percentile(allv, [0.5, 99.5])
    if hi - lo < 1e-12:
        lo, hi = lo - 0.5 * (abs(lo) or 1.0), hi + 0.5 * (abs(hi) or 1.0)
    edges = np.linspace(lo, hi, bins + 1)
    shares = []
    for v in values:
        counts = np.histogram(np.clip(v, lo, hi), bins=edges)[0]
        shares.append(100.0 * counts / max(v.size, 1))
    xr = (float(edges[0]), float(edges[-1]))
    yr = (0.0, float(max((s.max() for s in shares if s.size), default=1.0)) * 1.08 or 1.0)
    legend = [(f"{label} (n={v.size})", c) for (label, _, c), v in zip(groups, values, strict=True)]
    out = _frame(title, x_label, "% of steps", xr, yr, legend)
    for (_, _, colour), share, v in zip(groups, shares, values, strict=True):
        if not v.size:
            continue
        pts = []
        for k, h in enumerate(share):
            pts.append(f"{_sx(edges[k], xr):.1f},{_sy(h, yr):.1f}")
            pts.append(f"{_sx(edges[k + 1], xr):.1f},{_sy(h, yr):.1f}")
        base0 = f"{_sx(edges[0], xr):.1f},{_sy(0, yr):.1f}"
        base1 = f"{_sx(edges[-1], xr):.1f},{_sy(0, yr):.1f}"
        out.append(
            f'<polyline points="{base0} {" ".join(pts)} {base1}" fill="{colour}" '
            f'fill-opacity="0.12" stroke="{colour}" stroke-width="1.5"/>'
        )
    out.append("</svg>")
    return "\n".join(out)


def bar_chart(
    labels: Sequence[str],
    values: np.ndarray,
    title: str,
    y_label: str,
    highlight: Sequence[bool] | None = None,
) -> str:
    """Vertical bars, one per label; highlighted bars (e.g. warnings) in orange."""
    values = np.asarray(values, float)
    n = len(labels)
    if n == 0 or not np.isfinite(values).any():
        return _empty(title)
    top = float(np.nanmax(values))
    xr = (0.0, float(n))
    yr = (0.0, top * 1.1 if top > 0 else 1.0)
    out = _frame(title, "", y_label, (float("nan"), float("nan")), yr, [])
    width = (_W - _PAD_L - _PAD_R) / n
    every = max(1, math.ceil(n / 12))
    for k, (label, v) in enumerate(zip(labels, values, strict=True)):
        x = _sx(k, xr) + 0.15 * width
        if np.isfinite(v):
            colour = "#E69F00" if highlight is not None and highlight[k] else "#56B4E9"
            y = _sy(v, yr)
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{0.7 * width:.1f}" '
                f'height="{_sy(0, yr) - y:.1f}" fill="{colour}"/>'
            )
        if k % every == 0:
            out.append(
                f'<text x="{x + 0.35 * width:.1f}" y="{_H - _PAD_B + 14}" text-anchor="middle" '
                f'class="tk">{html.escape(label)}</text>'
            )
    out.append("</svg>")
    return "\n".join(out)


def _empty(title: str) -> str:
    e = html.escape(title)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {_W} 60" '
        f'width="{_W}" height="60" role="img" aria-label="{e}"><title>{e}</title>'
        f'<text x="10" y="35" class="cl">{e}: no data</text></svg>'
    )
