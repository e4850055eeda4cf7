"""Run history: a small SQLite log of finished runs, and load-progression warnings from it.

Stored per run (table ``runs``): start time (UTC, ISO 8601) and where it came from, the source
file and a SHA-256 fingerprint of its bytes (a run is stored once), duration, running time,
distance (shoes, or ``--distance-km``; NULL when unknown), steps, cumulative impact load, and the
median (and left/right symmetry index) of every metric as JSON.

**Cumulative impact load** = the sum over all sacral steps of the estimated vertical ground
reaction force peak ``vgrf_peak_bw`` (body weights), i.e. steps weighted by how hard each one
loads the body. A 10 km run at ~2.4 BW per step and ~8000 steps gives ~19 000 BW. It is a
relative measure for comparing your own runs (the estimate's error is ~4.3 % per step), not a
tissue load. Runs without a sacral sensor have no impact load (NULL).

**Warnings** (:func:`load_warnings`):

- *single-run spike* (Frandsen et al. 2025, Br J Sports Med 59:1203-1210; 5205 runners, 588 071
  sessions): a run more than 10 % longer than the longest run of the previous 30 days. The study's
  hazard rate ratios for overuse injury: 1.64 for 10-30 % spikes, 1.52 for 30-100 %, 2.28 above
  100 %. "Previous 30 days" = runs that started in [start - 30 days, start). Length is the
  distance when this run and all compared runs have one, else the running time.
- *weekly increase* (Nielsen et al. 2014, J Orthop Sports Phys Ther 44:739-747; novice runners):
  a week's total more than 30 % above the previous week's. Frandsen et al. 2025 found no clear
  association for week-based ratios, so this warning is the weaker of the two.
- the same two rules on cumulative impact load: our extension (the studies measured distance).
- *metric trends*: over the runs of the last 8 weeks (at least 4 runs over at least 14 days), the
  Theil-Sen slope of a metric's per-run median times the span; warned when it moves beyond
  :data:`TREND_LIMITS` in the unfavourable direction (for example pelvic drop +1 deg).

Weeks run Monday 00:00 to Sunday 24:00 in the local time zone (or ``tz``), so a run at 23:30 on
Sunday counts in that week wherever UTC puts it. The week being run counts as it is so far: it
is flagged as soon as it already exceeds the previous week by 30 %.

Safety of the file: every write is one transaction; the file is never rewritten or truncated;
a database that fails SQLite's quick check, is not an imu-hip history, or is locked by another
program gives a one-line :class:`~imu_hip.model.ImuHipError` and is left exactly as it was.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from pathlib import Path
from typing import Any

import numpy as np

from imu_hip.model import ImuHipError

DB_ENV = "IMU_HIP_HISTORY_DB"
SCHEMA_VERSION = 1
SPIKE_WINDOW = timedelta(days=30)
SPIKE_LIMIT = 0.10
WEEKLY_LIMIT = 0.30
#: Relative tolerance so that exactly +10 % (or +30 %) is not "more than" the limit after float
#: rounding (11 / 10 - 1 = 0.10000000000000009).
RATIO_EPS = 1e-9
TREND_WINDOW = timedelta(days=56)
TREND_MIN_RUNS = 4
TREND_MIN_SPAN = timedelta(days=14)
#: metric key: (limit, unit: "%" of the first value or absolute, unfavourable direction).
TREND_LIMITS: dict[str, tuple[float, str, str]] = {
    "hip.pelvic_drop_deg": (1.0, "deg", "rise"),
    "hip.cadence_spm": (-3.0, "%", "fall"),
    "hip.contact_time_s": (5.0, "%", "rise"),
    "hip.vgrf_peak_bw": (5.0, "%", "rise"),
    "hip.impact_peak_g": (10.0, "%", "rise"),
    "shoes.foot_strike_angle_deg": (3.0, "deg", "rise"),
    "shoes.impact_peak_g": (10.0, "%", "rise"),
}
FRANDSEN = (
    "Frandsen et al. 2025 (Br J Sports Med 59:1203-1210): runs more than 10 % longer than the "
    "longest run of the previous 30 days came with higher overuse-injury rates (hazard rate "
    "ratio 1.64 for 10-30 %, 1.52 for 30-100 %, 2.28 above 100 %)."
)
NIELSEN = (
    "Nielsen et al. 2014 (J Orthop Sports Phys Ther 44:739-747): novice runners who raised their "
    "weekly distance by more than 30 % had more distance-related injuries. Frandsen et al. 2025 "
    "found no clear association for week-based ratios, so treat this one as weaker."
)
IMPACT_NOTE = (
    "Applying these limits to cumulative impact load is our extension: the studies measured "
    "distance, not load."
)

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    start_utc TEXT NOT NULL,
    date_source TEXT NOT NULL,
    source TEXT NOT NULL,
    fingerprint TEXT NOT NULL UNIQUE,
    duration_s REAL,
    running_s REAL,
    distance_m REAL,
    steps INTEGER,
    impact_load_bw REAL,
    medians_json TEXT NOT NULL,
    added_utc TEXT NOT NULL
);
CREATE INDEX runs_start ON runs (start_utc);
"""
_COLUMNS = (
    "id, start_utc, date_source, source, fingerprint, duration_s, running_s, distance_m, steps, "
    "impact_load_bw, medians_json, added_utc"
)


def default_db_path() -> Path:
    """``$IMU_HIP_HISTORY_DB`` if set, else ``history.sqlite`` in the user data folder
    (:func:`imu_hip.paths.data_dir`: ``$IMU_HIP_DATA_DIR`` moves it with the calibrations)."""
    env = os.environ.get(DB_ENV)
    if env:
        return Path(env).expanduser()
    from imu_hip.paths import data_dir

    return data_dir() / "history.sqlite"


@dataclass
class RunRecord:
    """One stored run. Times are aware UTC datetimes; unknown numbers are None."""

    start_utc: datetime
    date_source: str
    source: str
    fingerprint: str
    duration_s: float | None
    running_s: float | None
    distance_m: float | None
    steps: int | None
    impact_load_bw: float | None
    medians: dict[str, float] = field(default_factory=dict)
    added_utc: datetime | None = None
    id: int | None = None

    def length(self, kind: str) -> float | None:
        """``distance`` (m) or ``time`` (running seconds, else duration)."""
        if kind == "distance":
            return self.distance_m
        return self.running_s if self.running_s else self.duration_s


def _finite(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def file_fingerprint(path: str | Path) -> str:
    """SHA-256 of the file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def record_from_run(run: Any, fingerprint: str, distance_m: float | None = None) -> RunRecord:
    """A :class:`RunRecord` from a :class:`imu_hip.report.data.RunData` (``distance_m``
    overrides the measured distance, e.g. from a watch)."""
    from imu_hip.report.data import METRICS

    if run.start_utc is None:
        raise ImuHipError(f"{run.source}: the run's date is unknown; give it with --date")
    medians: dict[str, float] = {}
    for group, name in METRICS:
        s = run.stats(group, name)
        if s is None:
            continue
        key = f"{group}.{name}"
        for suffix, value in (("", s.median), (":asymmetry_pct", s.asymmetry_pct)):
            v = _finite(value)
            if v is not None:
                medians[key + suffix] = v
    load, _ = run.impact_load()
    return RunRecord(
        start_utc=run.start_utc.astimezone(UTC),
        date_source=run.start_source,
        source=run.source,
        fingerprint=fingerprint,
        duration_s=_finite(run.duration_s),
        running_s=_finite(run.running_s),
        distance_m=_finite(distance_m) if distance_m is not None else _finite(run.distance_m),
        steps=run.step_count,
        impact_load_bw=_finite(load),
        medians=medians,
    )


# -- the database ------------------------------------------------------------------------------


class History:
    """The run log in one SQLite file. Each method opens, uses and closes its own connection."""

    def __init__(self, path: str | Path | None = None, timeout_s: float = 2.0):
        self.path = Path(path).expanduser() if path is not None else default_db_path()
        self.timeout_s = timeout_s

    def _error(self, e: Exception) -> ImuHipError:
        msg = str(e).strip() or type(e).__name__
        low = msg.lower()
        if "locked" in low or "busy" in low:
            return ImuHipError(
                f"{self.path}: the history database is locked by another program; nothing was "
                "changed, try again when it is closed"
            )
        if "not a database" in low or "malformed" in low or "corrupt" in low:
            return ImuHipError(
                f"{self.path}: not a readable history database ({msg}); it was left untouched. "
                "Move it aside (or use --db) to start a new one"
            )
        return ImuHipError(f"{self.path}: history database error ({msg}); nothing was changed")

    @contextmanager
    def _connect(self, write: bool) -> Iterator[sqlite3.Connection]:
        if not write and not self.path.exists():
            raise FileNotFoundError(self.path)
        if self.path.exists() and not self.path.is_file():
            raise ImuHipError(f"{self.path}: is not a file (expected the history database)")
        if write:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise ImuHipError(
                    f"{self.path.parent}: cannot create the folder ({e.strerror or e})"
                ) from None
        uri = self.path.resolve().as_uri() + ("?mode=rwc" if write else "?mode=ro")
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=self.timeout_s, isolation_level=None)
        except sqlite3.Error as e:
            raise self._error(e) from None
        try:
            yield conn
        except sqlite3.Error as e:
            if conn.in_transaction:
                conn.rollback()
            raise self._error(e) from None
        finally:
            conn.close()

    def _check(self, conn: sqlite3.Connection, create: bool) -> None:
        """Refuse damaged or foreign files; create the tables in a new, empty file."""
        def tables() -> set[str]:
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            return {r[0] for r in rows}

        found = tables()
        if not found and create:
            conn.execute("BEGIN IMMEDIATE")
            found = tables()  # another process may have created them meanwhile
            if not found:
                for stmt in _SCHEMA.split(";"):
                    if stmt.strip():
                        conn.execute(stmt)
                conn.execute("INSERT INTO meta VALUES ('app', 'imu-hip history')")
                conn.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
                found = {"runs", "meta"}
            conn.execute("COMMIT")
        if "runs" not in found or "meta" not in found:
            raise ImuHipError(
                f"{self.path}: an SQLite file but not an imu-hip history (no runs table); it was "
                "left untouched"
            )
        row = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None or row[0] != str(SCHEMA_VERSION):
            raise ImuHipError(
                f"{self.path}: history schema {row[0] if row else '?'} is not the supported "
                f"{SCHEMA_VERSION}; it was left untouched"
            )

    def check(self) -> None:
        """Raise the error :meth:`add` would raise for a damaged, foreign or locked database,
        without writing anything (call it before a long analysis)."""
        if not self.path.exists():
            parent = self.path.parent
            while not parent.exists() and parent != parent.parent:
                parent = parent.parent
            if not os.access(parent, os.W_OK | os.X_OK):
                raise ImuHipError(f"{self.path}: cannot create the history database there")
            return
        with self._connect(write=False) as conn:
            self._quick_check(conn, "it was left untouched")
            if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                self._check(conn, create=False)

    def _quick_check(self, conn: sqlite3.Connection, outcome: str) -> None:
        """SQLite's quick integrity check; a damaged file is an :class:`ImuHipError`."""
        check = conn.execute("PRAGMA quick_check").fetchone()
        if not check or check[0] != "ok":
            raise ImuHipError(
                f"{self.path}: the history database is damaged ({check[0] if check else '?'})"
                f"; {outcome}"
            )

    def add(self, record: RunRecord) -> int:
        """Store one run in one transaction; return its id. A run already stored (same
        fingerprint) is an :class:`ImuHipError` naming the stored run."""
        with self._connect(write=True) as conn:
            self._quick_check(conn, "nothing was written")
            self._check(conn, create=True)
            conn.execute("BEGIN IMMEDIATE")
            old = conn.execute(
                "SELECT id, start_utc FROM runs WHERE fingerprint=?", (record.fingerprint,)
            ).fetchone()
            if old is not None:
                conn.execute("ROLLBACK")
                raise ImuHipError(
                    f"{record.source}: already in the history as run {old[0]} (started "
                    f"{old[1]})"
                )
            same = self._same_run(conn, record)
            if same is not None:
                conn.execute("ROLLBACK")
                raise ImuHipError(
                    f"{record.source}: looks like run {same} again (same start time and "
                    "duration, another file); remove that one first to replace it"
                )
            cur = conn.execute(
                "INSERT INTO runs (start_utc, date_source, source, fingerprint, duration_s, "
                "running_s, distance_m, steps, impact_load_bw, medians_json, added_utc) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    _iso(record.start_utc), record.date_source, record.source,
                    record.fingerprint, record.duration_s, record.running_s, record.distance_m,
                    record.steps, record.impact_load_bw, json.dumps(record.medians),
                    _iso(datetime.now(UTC)),
                ),
            )
            conn.execute("COMMIT")
            return int(cur.lastrowid)

    @staticmethod
    def _same_run(conn: sqlite3.Connection, record: RunRecord) -> int | None:
        """Id of a stored run that starts within a minute of ``record`` and lasts the same
        (within 2 s): the same session stored from another file (e.g. its CSV export)."""
        if record.duration_s is None:
            return None
        lo = _iso(record.start_utc - timedelta(seconds=60))
        hi = _iso(record.start_utc + timedelta(seconds=60))
        for run_id, duration in conn.execute(
            "SELECT id, duration_s FROM runs WHERE start_utc BETWEEN ? AND ?", (lo, hi)
        ):
            if duration is not None and abs(duration - record.duration_s) <= 2.0:
                return int(run_id)
        return None

    def remove(self, run_id: int) -> None:
        """Delete one run (one transaction); an unknown id is an error."""
        with self._connect(write=True) as conn:
            self._check(conn, create=False)
            conn.execute("BEGIN IMMEDIATE")
            cur = conn.execute("DELETE FROM runs WHERE id=?", (int(run_id),))
            if cur.rowcount != 1:
                conn.execute("ROLLBACK")
                raise ImuHipError(f"{self.path}: no run {run_id} in the history")
            conn.execute("COMMIT")

    def runs(self) -> list[RunRecord]:
        """Every stored run, oldest first (empty if the database does not exist yet)."""
        try:
            with self._connect(write=False) as conn:
                self._check(conn, create=False)
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM runs ORDER BY start_utc, id"
                ).fetchall()
        except FileNotFoundError:
            return []
        return [_record(r) for r in rows]


def _iso(d: datetime) -> str:
    return d.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _record(row: Sequence[Any]) -> RunRecord:
    try:
        medians = json.loads(row[10]) if row[10] else {}
    except ValueError:
        medians = {}
    return RunRecord(
        id=int(row[0]),
        start_utc=datetime.fromisoformat(row[1].replace("Z", "+00:00")),
        date_source=row[2],
        source=row[3],
        fingerprint=row[4],
        duration_s=row[5],
        running_s=row[6],
        distance_m=row[7],
        steps=row[8],
        impact_load_bw=row[9],
        medians={k: float(v) for k, v in medians.items() if isinstance(v, int | float)},
        added_utc=datetime.fromisoformat(row[11].replace("Z", "+00:00")) if row[11] else None,
    )


# -- warnings ----------------------------------------------------------------------------------


@dataclass
class LoadWarning:
    """One warning: ``kind`` (spike, weekly, impact spike, impact weekly, trend), when it applies
    (a run's start or a week's Monday), the run or week, a plain message and its evidence."""

    kind: str
    when: datetime
    message: str
    evidence: str
    run_id: int | None = None
    week: date | None = None
    ratio: float = float("nan")


def spike_category(ratio: float) -> str:
    """Frandsen et al. 2025's spike classes for a relative increase (0.25 = 25 % longer)."""
    if ratio > 1.0:
        return "large spike (>100 %)"
    if ratio > 0.30:
        return "moderate spike (30-100 %)"
    return "small spike (10-30 %)"


def _length_kind(run: RunRecord, others: Sequence[RunRecord]) -> str | None:
    if run.distance_m and all(o.distance_m for o in others):
        return "distance"
    if run.length("time") and all(o.length("time") for o in others):
        return "time"
    return None


def _fmt_len(v: float, kind: str) -> str:
    if kind == "distance":
        return f"{v / 1000:.2f} km"
    if kind == "time":
        return f"{v / 60:.0f} min"
    return f"{v:.0f} BW"


def spike_warnings(runs: Sequence[RunRecord], impact: bool = False) -> list[LoadWarning]:
    """Runs longer (or, with ``impact``, loading more) than the largest of the previous 30 days
    by more than :data:`SPIKE_LIMIT`."""
    runs = sorted(runs, key=lambda r: r.start_utc)
    out = []
    for k, run in enumerate(runs):
        lo = run.start_utc - SPIKE_WINDOW
        prev = [r for r in runs[:k] if lo <= r.start_utc < run.start_utc]
        if not prev:
            continue
        if impact:
            if run.impact_load_bw is None or any(r.impact_load_bw is None for r in prev):
                continue
            kind, value = "impact", run.impact_load_bw
            best = max(r.impact_load_bw for r in prev)  # type: ignore[type-var]
        else:
            kind = _length_kind(run, prev)
            if kind is None:
                continue
            value = run.length(kind)
            best = max(r.length(kind) for r in prev)  # type: ignore[type-var]
        if not best or best <= 0:
            continue
        ratio = value / best - 1.0
        if ratio > SPIKE_LIMIT + RATIO_EPS:
            what = "cumulative impact load" if impact else kind
            out.append(LoadWarning(
                kind="impact spike" if impact else "spike",
                when=run.start_utc,
                run_id=run.id,
                ratio=ratio,
                message=(
                    f"run {run.id if run.id is not None else ''} ({what} {_fmt_len(value, kind)}) "
                    f"is {100 * ratio:.0f} % above the largest of the previous 30 days "
                    f"({_fmt_len(best, kind)}): {spike_category(ratio)}."
                ),
                evidence=FRANDSEN + (" " + IMPACT_NOTE if impact else ""),
            ))
    return out


def week_start(d: datetime, tz: tzinfo | None = None) -> date:
    """The Monday (local date in ``tz``; default this computer's zone) of the week of ``d``."""
    local = d.astimezone(tz).date()
    return local - timedelta(days=local.weekday())


def weekly_totals(
    runs: Sequence[RunRecord], value: Callable[[RunRecord], float | None], tz: tzinfo | None = None
) -> dict[date, float | None]:
    """Sum of ``value`` per week (Monday date); None for a week where any run lacks it. Weeks
    without runs between the first and the last are present with 0."""
    if not runs:
        return {}
    totals: dict[date, float | None] = {}
    for r in runs:
        w = week_start(r.start_utc, tz)
        v = value(r)
        cur = totals.get(w, 0.0)
        totals[w] = None if v is None or cur is None else cur + v
    first, last = min(totals), max(totals)
    w = first
    while w <= last:
        totals.setdefault(w, 0.0)
        w += timedelta(days=7)
    return dict(sorted(totals.items()))


def weekly_warnings(
    runs: Sequence[RunRecord], tz: tzinfo | None = None, impact: bool = False
) -> list[LoadWarning]:
    """Weeks whose total is more than :data:`WEEKLY_LIMIT` above the previous week's."""
    if impact:
        options = [("impact", weekly_totals(runs, lambda r: r.impact_load_bw, tz))]
    else:  # distance where both weeks have it for every run, else running time
        options = [
            ("distance", weekly_totals(runs, lambda r: r.distance_m, tz)),
            ("time", weekly_totals(runs, lambda r: r.length("time"), tz)),
        ]
    out = []
    weeks = list(options[0][1])
    for prev_w, w in zip(weeks[:-1], weeks[1:], strict=True):
        usable = [
            (k, t[prev_w], t[w]) for k, t in options if t[prev_w] is not None and t[w] is not None
        ]
        if not usable:
            continue
        kind, a, b = usable[0]
        if a <= 0:
            continue  # nothing the week before: no ratio (a restart after a break)
        ratio = b / a - 1.0
        if ratio > WEEKLY_LIMIT + RATIO_EPS:
            what = "cumulative impact load" if impact else f"weekly {kind}"
            out.append(LoadWarning(
                kind="impact weekly" if impact else "weekly",
                when=datetime(w.year, w.month, w.day, tzinfo=UTC),
                week=w,
                ratio=ratio,
                message=(
                    f"week of {w.isoformat()}: {what} {_fmt_len(b, kind)} is {100 * ratio:.0f} % "
                    f"above the week before ({_fmt_len(a, kind)})."
                ),
                evidence=NIELSEN + (" " + IMPACT_NOTE if impact else ""),
            ))
    return out


def theil_sen(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Median of pairwise slopes and the matching intercept (robust to one odd run)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    i, j = np.triu_indices(len(x), k=1)
    dx = x[j] - x[i]
    ok = dx != 0
    if not ok.any():
        return float("nan"), float("nan")
    slope = float(np.median((y[j] - y[i])[ok] / dx[ok]))
    return slope, float(np.median(y - slope * x))


@dataclass
class Trend:
    """A metric's change over the recent runs (Theil-Sen), and whether it crosses its limit."""

    key: str
    days: np.ndarray  # run times, days before the last run (<= 0)
    values: np.ndarray
    slope_per_day: float
    intercept: float
    change: float  # over the span, in the limit's unit (% of the fitted start, or absolute)
    unit: str
    warned: bool


def metric_trends(runs: Sequence[RunRecord]) -> list[Trend]:
    """Trends of :data:`TREND_LIMITS` metrics over the runs of the last :data:`TREND_WINDOW`."""
    if not runs:
        return []
    runs = sorted(runs, key=lambda r: r.start_utc)
    end = runs[-1].start_utc
    recent = [r for r in runs if r.start_utc >= end - TREND_WINDOW]
    out = []
    for key, (limit, unit, direction) in TREND_LIMITS.items():
        pts = [(r.start_utc, r.medians[key]) for r in recent if key in r.medians]
        if len(pts) < TREND_MIN_RUNS or pts[-1][0] - pts[0][0] < TREND_MIN_SPAN:
            continue
        days = np.array([(t - end).total_seconds() / 86400.0 for t, _ in pts])
        values = np.array([v for _, v in pts])
        slope, intercept = theil_sen(days, values)
        span = days[-1] - days[0]
        start = intercept + slope * days[0]
        change = slope * span
        if unit == "%":
            change = 100.0 * change / abs(start) if start else float("nan")
        warned = (direction == "rise" and change > limit) or (
            direction == "fall" and change < limit
        )
        out.append(Trend(key, days, values, slope, intercept, float(change), unit, bool(warned)))
    return out


def trend_warnings(runs: Sequence[RunRecord]) -> list[LoadWarning]:
    out = []
    for t in metric_trends(runs):
        if not t.warned:
            continue
        limit = TREND_LIMITS[t.key][0]
        out.append(LoadWarning(
            kind="trend",
            when=max(r.start_utc for r in runs),
            message=(
                f"{t.key.split('.', 1)[1]} ({t.key.split('.', 1)[0]}) changed {t.change:+.1f} "
                f"{t.unit} over the last {-t.days[0]:.0f} days ({len(t.values)} runs; limit "
                f"{limit:+g} {t.unit})."
            ),
            evidence=(
                "Our limit, set above the run-to-run noise of a median: a steady change over "
                "weeks is worth a look (see the run report's flags for the evidence on each "
                "metric)."
            ),
        ))
    return out


def load_warnings(runs: Sequence[RunRecord], tz: tzinfo | None = None) -> list[LoadWarning]:
    """Every warning, in time order (see the module docstring for the rules)."""
    out = (
        spike_warnings(runs)
        + weekly_warnings(runs, tz)
        + spike_warnings(runs, impact=True)
        + weekly_warnings(runs, tz, impact=True)
        + trend_warnings(runs)
    )
    return sorted(out, key=lambda w: w.when)
