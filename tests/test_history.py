"""Run history: load-progression warnings on constructed calendars (30-day window edges, week
boundaries, time zones), metric trends, and a database that never loses stored runs."""

import sqlite3
from datetime import UTC, date, datetime, timedelta, timezone
from html.parser import HTMLParser

import numpy as np
import pytest

from imu_hip.cli import main
from imu_hip.history import (
    DB_ENV,
    History,
    RunRecord,
    default_db_path,
    load_warnings,
    metric_trends,
    spike_category,
    spike_warnings,
    theil_sen,
    week_start,
    weekly_totals,
    weekly_warnings,
)
from imu_hip.io import write_mcap
from imu_hip.model import ImuHipError
from imu_hip.report.trends import history_report_html
from imu_hip.sim import demo_params, simulate

T0 = datetime(2026, 3, 2, 7, 0, tzinfo=UTC)  # a Monday
_n = iter(range(10**6))


def rec(when, km=None, minutes=40.0, load=None, medians=None, run_id=None) -> RunRecord:
    k = next(_n)
    return RunRecord(
        start_utc=when, date_source="test", source=f"run{k}.mcap", fingerprint=f"fp{k}",
        duration_s=minutes * 60 + 60, running_s=minutes * 60,
        distance_m=None if km is None else km * 1000.0, steps=int(minutes * 170),
        impact_load_bw=load, medians=dict(medians or {}), id=run_id if run_id is not None else k,
    )


# -- single-run spikes (Frandsen et al. 2025) ---------------------------------------------------


def test_spike_threshold_is_strictly_more_than_ten_percent():
    base = [rec(T0, 10.0), rec(T0 + timedelta(days=3), 8.0)]
    at_limit = rec(T0 + timedelta(days=7), 11.0)
    above = rec(T0 + timedelta(days=7), 11.05)
    assert spike_warnings([*base, at_limit]) == []
    (w,) = spike_warnings([*base, above])
    assert w.run_id == above.id and w.ratio == pytest.approx(0.105)
    assert "small spike" in w.message and "Frandsen" in w.evidence


@pytest.mark.parametrize("ratio,category", [(0.2, "small"), (0.3, "small"), (0.31, "moderate"),
                                            (1.0, "moderate"), (1.01, "large")])
def test_spike_categories(ratio, category):
    assert spike_category(ratio).startswith(category)


def test_thirty_day_window_edges():
    new_at = T0 + timedelta(days=40)
    long_run = 20.0
    inside = rec(new_at - timedelta(days=30), long_run)  # exactly 30 days before: counts
    outside = rec(new_at - timedelta(days=30, seconds=1), long_run)  # one second more: not
    recent = rec(new_at - timedelta(days=2), 10.0)
    new = rec(new_at, 15.0)
    assert spike_warnings([inside, recent, new]) == []  # 15 < 20
    (w,) = spike_warnings([outside, recent, new])  # compared with 10 km only
    assert w.ratio == pytest.approx(0.5) and "moderate" in w.message
    # a run at the same instant is not "previous"
    assert spike_warnings([rec(new_at, 5.0), new]) == []
    # nothing in the previous 30 days: nothing to compare with
    assert spike_warnings([outside, new]) == []


def test_spike_uses_time_when_any_distance_is_missing():
    a = rec(T0, km=10.0, minutes=60)
    b = rec(T0 + timedelta(days=2), km=None, minutes=50)
    c = rec(T0 + timedelta(days=4), km=30.0, minutes=62)  # 3x the distance, but +3 % in time
    assert spike_warnings([a, b, c]) == []
    d = rec(T0 + timedelta(days=4), km=None, minutes=70)
    (w,) = spike_warnings([a, b, d])
    assert "time" in w.message and w.ratio == pytest.approx(70 / 60 - 1)


def test_impact_spike():
    runs = [rec(T0, load=10000.0), rec(T0 + timedelta(days=5), load=11500.0)]
    (w,) = spike_warnings(runs, impact=True)
    assert w.kind == "impact spike" and "our extension" in w.evidence
    runs[0].impact_load_bw = None  # unknown load in the window: no claim
    assert spike_warnings(runs, impact=True) == []


# -- weeks (Nielsen et al. 2014) ----------------------------------------------------------------


def test_week_boundaries_follow_the_local_zone():
    plus3 = timezone(timedelta(hours=3))
    minus5 = timezone(timedelta(hours=-5))
    # Monday 01:00 at UTC+3 is Sunday 22:00 UTC
    t = datetime(2026, 3, 9, 1, 0, tzinfo=plus3)
    assert week_start(t, plus3) == date(2026, 3, 9)
    assert week_start(t, UTC) == date(2026, 3, 2)
    # Sunday 23:59:59 and Monday 00:00:00 local fall in different weeks
    sun = datetime(2026, 3, 8, 23, 59, 59, tzinfo=minus5)
    assert week_start(sun, minus5) == date(2026, 3, 2)
    assert week_start(sun + timedelta(seconds=1), minus5) == date(2026, 3, 9)


def test_weekly_increase_and_its_edge():
    week1 = [rec(T0, 10.0), rec(T0 + timedelta(days=2), 10.0)]  # 20 km
    ok = [rec(T0 + timedelta(days=7), 13.0), rec(T0 + timedelta(days=9), 13.0)]  # +30 %
    over = [rec(T0 + timedelta(days=7), 13.0), rec(T0 + timedelta(days=9), 13.1)]  # +30.5 %
    assert weekly_warnings([*week1, *ok], UTC) == []
    (w,) = weekly_warnings([*week1, *over], UTC)
    assert w.week == date(2026, 3, 9) and w.ratio == pytest.approx(0.305)
    assert "Nielsen" in w.evidence


def test_time_zone_moves_a_run_between_weeks_and_changes_the_warning():
    plus3 = timezone(timedelta(hours=3))
    week1 = [rec(T0, 10.0), rec(T0 + timedelta(days=2), 10.0)]
    # Monday 02:00 local (UTC+3) = Sunday 23:00 UTC: week 2 locally, week 1 in UTC
    edge = rec(datetime(2026, 3, 9, 2, 0, tzinfo=plus3), 14.0)
    later = rec(T0 + timedelta(days=10), 10.0)
    local = weekly_warnings([*week1, edge, later], plus3)  # week 2 = 24 km vs 20: +20 %
    utc = weekly_warnings([*week1, edge, later], UTC)  # week 1 = 34, week 2 = 10
    assert local == [] and utc == []
    edge.distance_m = 20_000.0  # week 2 locally = 30 km: +50 %
    assert [w.week for w in weekly_warnings([*week1, edge, later], plus3)] == [date(2026, 3, 9)]
    assert weekly_warnings([*week1, edge, later], UTC) == []


def test_week_after_a_break_is_not_a_ratio_and_empty_weeks_are_zero():
    runs = [rec(T0, 10.0), rec(T0 + timedelta(days=21), 30.0)]
    totals = weekly_totals(runs, lambda r: r.distance_m, UTC)
    assert list(totals.values()) == [10000.0, 0.0, 0.0, 30000.0]
    assert weekly_warnings(runs, UTC) == []


def test_weekly_impact_load():
    runs = [rec(T0, load=20000.0), rec(T0 + timedelta(days=7), load=27000.0)]
    (w,) = weekly_warnings(runs, UTC, impact=True)
    assert w.kind == "impact weekly" and w.ratio == pytest.approx(0.35)


# -- metric trends -------------------------------------------------------------------------------


def test_theil_sen_ignores_one_outlier():
    x = np.arange(10.0)
    y = 2.0 * x + 1.0
    y[3] = 100.0
    slope, intercept = theil_sen(x, y)
    assert slope == pytest.approx(2.0) and intercept == pytest.approx(1.0)


def test_pelvic_drop_rising_over_weeks_warns_flat_does_not():
    rising = [rec(T0 + timedelta(days=7 * k), 10.0,
                  medians={"hip.pelvic_drop_deg": 5.0 + 0.4 * k, "hip.cadence_spm": 170.0})
              for k in range(6)]  # +2 deg over 5 weeks
    trends = {t.key: t for t in metric_trends(rising)}
    assert trends["hip.pelvic_drop_deg"].warned
    assert trends["hip.pelvic_drop_deg"].change == pytest.approx(2.0)
    assert not trends["hip.cadence_spm"].warned
    warnings = load_warnings(rising, UTC)
    assert any(w.kind == "trend" and "pelvic_drop_deg" in w.message for w in warnings)
    flat = [rec(r.start_utc, 10.0, medians={"hip.pelvic_drop_deg": 5.0 + 0.1 * (k % 2)})
            for k, r in enumerate(rising)]
    assert not any(t.warned for t in metric_trends(flat))
    assert metric_trends(rising[:3]) == []  # too few runs


# -- the database ----------------------------------------------------------------------------------


def test_add_list_and_duplicates(tmp_path):
    h = History(tmp_path / "sub" / "h.sqlite")
    assert h.runs() == []  # no file yet: nothing, and nothing created
    assert not h.path.exists()
    r = rec(T0, 10.0, load=123.0, medians={"hip.cadence_spm": 171.5})
    rid = h.add(r)
    (back,) = h.runs()
    assert back.id == rid and back.start_utc == T0 and back.distance_m == 10000.0
    assert back.medians == {"hip.cadence_spm": 171.5} and back.impact_load_bw == 123.0
    with pytest.raises(ImuHipError, match="already in the history as run"):
        h.add(r)
    copy = rec(T0 + timedelta(seconds=20), 10.0)  # same session from another file
    with pytest.raises(ImuHipError, match=f"looks like run {rid} again"):
        h.add(copy)
    h.add(rec(T0 + timedelta(seconds=20), 10.0, minutes=30))  # different length: another run
    assert len(h.runs()) == 2
    h.remove(h.runs()[1].id)
    h.remove(rid)
    assert h.runs() == []
    with pytest.raises(ImuHipError, match="no run"):
        h.remove(rid)


def _filled(tmp_path) -> History:
    h = History(tmp_path / "h.sqlite", timeout_s=0.2)
    h.add(rec(T0, 10.0))
    h.add(rec(T0 + timedelta(days=1), 12.0))
    return h


def test_corrupted_database_is_a_clear_error_and_is_left_untouched(tmp_path):
    h = _filled(tmp_path)
    raw = bytearray(h.path.read_bytes())
    raw[:16] = b"garbage garbage!"
    h.path.write_bytes(bytes(raw))
    before = h.path.read_bytes()
    for action in (h.runs, h.check, lambda: h.add(rec(T0 + timedelta(days=2), 5.0))):
        with pytest.raises(ImuHipError) as e:
            action()
        assert "\n" not in str(e.value) and "untouched" in str(e.value)
    assert h.path.read_bytes() == before
    assert not list(tmp_path.glob("h.sqlite-*"))  # no journal left behind


def test_foreign_sqlite_file_is_refused(tmp_path):
    path = tmp_path / "other.sqlite"
    with sqlite3.connect(path) as c:
        c.execute("CREATE TABLE notes (x TEXT)")
    before = path.read_bytes()
    with pytest.raises(ImuHipError, match="not an imu-hip history"):
        History(path).add(rec(T0, 1.0))
    with pytest.raises(ImuHipError, match="not an imu-hip history"):
        History(path).check()
    assert path.read_bytes() == before


def test_locked_database_fails_cleanly_and_keeps_runs(tmp_path):
    h = _filled(tmp_path)
    other = sqlite3.connect(h.path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(ImuHipError, match="locked") as e:
            h.add(rec(T0 + timedelta(days=2), 5.0))
        assert "\n" not in str(e.value)
        with pytest.raises(ImuHipError, match="locked"):
            h.runs()
        with pytest.raises(ImuHipError, match="locked"):
            h.check()
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert [r.distance_m for r in h.runs()] == [10000.0, 12000.0]
    h.add(rec(T0 + timedelta(days=2), 5.0))
    assert len(h.runs()) == 3


def test_db_location_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv(DB_ENV, str(tmp_path / "env.sqlite"))
    assert default_db_path() == tmp_path / "env.sqlite"
    monkeypatch.delenv(DB_ENV)
    assert default_db_path().name == "history.sqlite"


# -- command line and page ------------------------------------------------------------------------


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_history_cli_end_to_end(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(DB_ENV, str(tmp_path / "h.sqlite"))
    sim = simulate(demo_params(minutes=1.5), seed=4, placements=("sacrum",))
    files = []
    for k in range(2):
        sim.recording.metadata["copy"] = str(k)  # different bytes, same analysis
        files.append(tmp_path / f"run{k}.mcap")
        write_mcap(sim.recording, files[-1])
    assert main(["history", "add", str(files[0]), "--distance-km", "10",
                 "--date", "2026-03-02T07:00Z"]) == 0
    assert main(["history", "add", str(files[1]), "--distance-km", "12",
                 "--date", "2026-03-04T07:00Z"]) == 0
    out = capsys.readouterr().out
    assert "stored run 2" in out and "warning (spike)" in out and "20 %" in out
    assert main(["history", "add", str(files[1])]) == 2
    assert "already in the history" in capsys.readouterr().err
    assert main(["history", "--tz", "UTC"]) == 0
    listing = capsys.readouterr().out
    assert "2026-03-02 07:00" in listing and "run1.mcap" in listing
    page = tmp_path / "trends.html"
    assert main(["history", "report", "--out", str(page)]) == 0
    html = page.read_text()
    p = _Tags()
    p.feed(html)
    names = [t for t, _ in p.tags]
    assert "script" not in names and names.count("svg") >= 2
    assert not any(k.startswith("on") for _, a in p.tags for k in a)
    assert "Frandsen" in html and "Nielsen" in html


def test_history_page_escapes_file_names():
    r = rec(T0, 10.0)
    r.source = "<script>alert(1)</script>.mcap"
    html = history_report_html([r], [], UTC)
    assert "<script>" not in html and "&lt;script&gt;" in html


def test_cli_on_a_corrupted_database_is_one_line_exit_2(tmp_path, capsys):
    db = tmp_path / "h.sqlite"
    db.write_bytes(b"this is not sqlite at all" * 100)
    before = db.read_bytes()
    run = tmp_path / "missing-run.mcap"  # never read: the database is checked first
    for argv in (["history", "--db", str(db)], ["history", "add", str(run), "--db", str(db)],
                 ["history", "report", "--db", str(db), "--out", str(tmp_path / "x.html")]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "untouched" in err and str(db) in err
    assert db.read_bytes() == before


def test_history_lives_in_the_data_folder_unless_told_otherwise(tmp_path, monkeypatch):
    """``$IMU_HIP_DATA_DIR`` moves the history with the calibrations; ``$IMU_HIP_HISTORY_DB``
    names the database itself and wins."""
    monkeypatch.delenv("IMU_HIP_HISTORY_DB", raising=False)
    monkeypatch.setenv("IMU_HIP_DATA_DIR", str(tmp_path / "data"))
    assert default_db_path() == tmp_path / "data" / "history.sqlite"
    monkeypatch.setenv("IMU_HIP_HISTORY_DB", str(tmp_path / "other.sqlite"))
    assert default_db_path() == tmp_path / "other.sqlite"
