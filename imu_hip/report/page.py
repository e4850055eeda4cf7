"""The shared HTML page: one self-contained file, no scripts, nothing fetched from a network.

Every string that is not a literal of this package goes through :func:`esc` (``html.escape`` with
quotes) before it reaches the page. A Content-Security-Policy meta tag additionally forbids
scripts and any network fetch, so even a mistake could not load or run anything.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from datetime import datetime, tzinfo

from imu_hip.text import escape_controls

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;
max-width:980px;padding:16px 20px;color:#222;line-height:1.4}
h1{font-size:1.6em;margin:.2em 0}
h2{border-bottom:2px solid #ddd;padding-bottom:4px;margin-top:1.8em}
.sub{color:#666}.cards{display:flex;flex-wrap:wrap;gap:10px;margin:12px 0}
.card{border:1px solid #ddd;border-radius:8px;padding:8px 12px;min-width:120px;background:#fafafa}
.card .v{font-size:1.35em;font-weight:600}.card .k{color:#666;font-size:.85em}
table{border-collapse:collapse;margin:8px 0;font-size:.9em}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:right;vertical-align:top}
th{background:#f2f2f2}td.l,th.l{text-align:left}
.flag{border-left:5px solid #999;padding:6px 12px;margin:12px 0;background:#fafafa}
.flag.s-flag{border-color:#E69F00;background:#fff8ec}.flag.s-ok{border-color:#009E73}
.flag h3{margin:.2em 0}.badge{font-size:.8em;padding:1px 6px;border-radius:4px;background:#ddd}
.s-flag .badge{background:#E69F00;color:#fff}.s-ok .badge{background:#009E73;color:#fff}
.warn{background:#fff8ec;border-left:5px solid #E69F00;padding:6px 12px;margin:8px 0}
.note{color:#555;font-size:.9em}svg.chart{max-width:100%;height:auto;margin:6px 0}
svg .ct{font-size:13px;font-weight:600}svg .cl{font-size:11px;fill:#444}
svg .tk{font-size:10px;fill:#555}svg .lg{font-size:11px;fill:#333}
"""


def esc(x: object, max_len: int = 500) -> str:
    """Untrusted text as HTML text or attribute content (quotes escaped, control characters
    shown as escapes), cut to ``max_len``."""
    return html.escape(escape_controls(x, max_len), quote=True)


def num(x: object, digits: int = 3, scale: float = 1.0) -> str:
    """A number for display: ``digits`` significant digits, '-' for missing."""
    if x is None or isinstance(x, str):
        return "-" if x is None else esc(x)
    try:
        v = float(x) * scale
    except (TypeError, ValueError):
        return "-"
    if not math.isfinite(v):
        return "-"
    if abs(v) >= 10 ** digits:
        return f"{v:.0f}"
    return f"{v:.{digits}g}"


def clock(seconds: float) -> str:
    """h:mm:ss (or m:ss) from seconds."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    s = round(max(0.0, seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h}:{m:02d}:{sec:02d}" if h else f"{m}:{sec:02d}"


def pace(speed_mps: float | None) -> str:
    """min:ss per km from a speed in m/s."""
    if speed_mps is None or not math.isfinite(speed_mps) or speed_mps <= 0:
        return "-"
    return clock(1000.0 / speed_mps) + " /km"


def local_time(d: datetime | None, tz: tzinfo | None = None) -> str:
    """An aware datetime shown in ``tz`` (default: this computer's local zone)."""
    if d is None:
        return "unknown"
    return d.astimezone(tz).strftime("%Y-%m-%d %H:%M %Z").strip()


def cards(items: Iterable[tuple[str, str]]) -> str:
    """Summary cards from (label, value) pairs; both are escaped."""
    return (
        '<div class="cards">'
        + "".join(
            f'<div class="card"><div class="v">{esc(v)}</div><div class="k">{esc(k)}</div></div>'
            for k, v in items
        )
        + "</div>"
    )


def table(header: Sequence[str], rows: Iterable[Sequence[object]], left_cols: int = 1) -> str:
    """An HTML table; every cell is escaped; the first ``left_cols`` columns align left."""
    def cell(tag: str, k: int, v: object) -> str:
        cls = ' class="l"' if k < left_cols else ""
        return f"<{tag}{cls}>{esc(v)}</{tag}>"

    head = "<tr>" + "".join(cell("th", k, h) for k, h in enumerate(header)) + "</tr>"
    body = "".join(
        "<tr>" + "".join(cell("td", k, v) for k, v in enumerate(row)) + "</tr>" for row in rows
    )
    return f"<table>{head}{body}</table>"


def document(title: str, body: Sequence[str]) -> str:
    """The whole page. ``title`` is escaped; ``body`` parts must already be safe HTML."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>\n"
        + "\n".join(body)
        + "\n</body></html>\n"
    )


def write_html(path: str, text: str) -> None:
    """Write the page next to its final name first, then move it in place (never a half file)."""
    import os
    from pathlib import Path

    from imu_hip.model import ImuHipError

    out = Path(path)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)
    except OSError as e:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise ImuHipError(f"{out}: cannot write the report ({e.strerror or e})") from None
