"""The viewer's Qt-free parts: ring buffers, decimation, targets, the replay feeder; and that the
rest of imu-hip never loads Qt."""

import subprocess
import sys
import time

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from imu_hip.model import Block
from imu_hip.viewer.decimate import Decimator, minmax_decimate
from imu_hip.viewer.feed import Hub, ReplayFeeder
from imu_hip.viewer.ring import RingBuffer
from imu_hip.viewer.targets import PANELS, FeedbackModel, StepStore, Target

# -- ring buffer ------------------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 40), min_size=1, max_size=30),
    capacity=st.integers(2, 64),
    span=st.floats(0.0, 1.0),
)
def test_ring_window_equals_the_newest_samples(sizes, capacity, span):
    rate = 100.0
    ring = RingBuffer(capacity, 2)
    n = sum(sizes)
    t = np.arange(n) / rate
    x = np.column_stack((np.arange(n), -np.arange(n))).astype(np.float32)
    i = 0
    for s in sizes:
        ring.push(t[i : i + s], x[i : i + s])
        i += s
    w = ring.window(span)
    held = slice(max(0, n - capacity), n)
    expect = (t[held] >= t[-1] - span) & (t[held] <= t[-1])
    np.testing.assert_array_equal(w.t_s, t[held][expect])
    np.testing.assert_array_equal(w.values, x[held][expect])
    assert w.first_index == held.start + int(np.argmax(expect))
    assert ring.received == n


def test_ring_window_ending_in_the_past_and_gap_marker():
    ring = RingBuffer(100, 1)
    ring.push(np.arange(10.0), np.arange(10.0))
    ring.push(np.arange(20.0, 25.0), np.arange(5.0), gap_before=True)
    w = ring.window(span_s=30.0)
    assert len(w) == 16  # 15 samples and one NaN row at the gap
    assert np.isnan(w.values[10, 0]) and np.isfinite(np.delete(w.values, 10)).all()
    w = ring.window(span_s=3.0, end_s=8.0)
    np.testing.assert_array_equal(w.t_s, [5.0, 6.0, 7.0, 8.0])
    assert ring.received == 15


# -- decimation -------------------------------------------------------------------------------


def test_impact_spike_survives_decimation():
    rate = 1000.0
    t = np.arange(10_000) / rate  # 10 s at 1 kHz
    y = np.sin(2 * np.pi * 2.8 * t)[:, None].astype(np.float32)
    y[4321, 0] = 12.0  # a one-sample impact
    y[7777, 0] = -9.0
    x, d = minmax_decimate(t, y, n_bins=400, first_index=123)
    assert d.shape[1] == x.shape[0] <= 2 * 402  # about two points per pixel
    assert d.max() == 12.0 and d.min() == -9.0
    # the spike is drawn within its own pixel column
    k = int(np.argmax(d[0]))
    assert abs(x[k] - t[4321]) <= 10_000 / 400 / rate


@settings(max_examples=30, deadline=None)
@given(
    n=st.integers(1, 3000),
    bins=st.integers(1, 300),
    first=st.integers(0, 10_000),
    seed=st.integers(0, 2**32 - 1),
)
def test_decimation_keeps_every_bin_extreme(n, bins, first, seed):
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((n, 3))
    t = np.arange(n) * 0.01
    x, d = minmax_decimate(t, v, bins, first)
    np.testing.assert_array_equal(d.max(axis=1), v.max(axis=0))
    np.testing.assert_array_equal(d.min(axis=1), v.min(axis=0))
    assert np.all(np.diff(x) >= 0)  # time order kept
    assert x[0] == t[0] and x[-1] == t[-1]
    if d.shape[1] != n:  # decimated: two points per bin, bins fixed to the running index
        k = -(-n // bins)
        assert d.shape[1] <= 2 * (bins + 2)
        edges = np.unique(np.r_[0, np.flatnonzero((first + np.arange(n)) % k == 0), n])
        for a, b in zip(edges[:-1], edges[1:], strict=True):
            seg = v[a:b]
            j = 2 * np.searchsorted(x[0::2], t[a])
            assert sorted(d[0, j : j + 2]) == [seg[:, 0].min(), seg[:, 0].max()]


@settings(max_examples=30, deadline=None)
@example(sizes=[1, 40, 41, 1, 1], bins=20, seed=0)  # cleared, then the same count again
@given(
    sizes=st.lists(st.integers(1, 60), min_size=5, max_size=80),
    bins=st.integers(20, 200),
    seed=st.integers(0, 2**32 - 1),
)
def test_incremental_decimation_equals_the_full_one(sizes, bins, seed):
    rng = np.random.default_rng(seed)
    ring = RingBuffer(1500, 2)
    dec = Decimator()
    n = 0
    for i, m in enumerate(sizes):
        if i == len(sizes) // 2:
            ring.clear()  # a replay seek: the running index starts again
        ring.push(np.arange(n, n + m) / 100.0, rng.standard_normal((m, 2)))
        n += m
        w = ring.window(8.0)
        x1, y1 = minmax_decimate(w.t_s, w.values, bins, w.first_index)
        x2, y2 = dec(w.t_s, w.values, bins, w.first_index, w.epoch)
        m1 = x1.shape[0]
        assert x2.shape[0] in (m1, m1 + 2)  # at most one older bin, outside the window
        # identical except the oldest bin (which may hold samples before the window start)
        np.testing.assert_array_equal(x2[-m1:][2:], x1[2:])
        np.testing.assert_array_equal(y2[:, -m1:][:, 2:], y1[:, 2:])


# -- targets and panels -----------------------------------------------------------------------


def test_target_hysteresis():
    drop = Target("max", 7.0, 0.0, 0.5)
    seq = [6.0, 7.2, 6.8, 6.6, 6.4, 6.9, 7.1]
    assert [drop.update(v) for v in seq] == [False, True, True, True, False, False, True]
    cad = Target("min", 180.0, 4.5, 2.7)
    seq = [180.0, 176.0, 175.0, 177.0, 177.2, 177.3]
    assert [cad.update(v) for v in seq] == [False, False, True, True, True, False]


def _steps(t, cadence, drop, side=None, gait="run"):
    n = len(t)
    side = np.where(np.arange(n) % 2, "left", "right") if side is None else side
    return {
        "t_ic_s": np.asarray(t, float),
        "side": side,
        "gait": np.full(n, gait),
        "cadence_spm": np.asarray(cadence, float),
        "pelvic_drop_deg": np.asarray(drop, float),
    }


def test_cadence_baseline_target_and_warning():
    store = StepStore(capacity=4)
    model = FeedbackModel(store, baseline_s=60.0)
    store.append(_steps(np.arange(0, 30, 0.35), np.full(86, 110.0), np.full(86, 3.0), gait="walk"))
    t = 30 + np.arange(0, 70, 0.35)
    store.append(_steps(t, np.full(t.size, 160.0), np.full(t.size, 4.0)))
    model.update()
    # walking does not count; the first 60 s of running at 160 spm -> target 172
    assert model.baseline_cadence_spm == 160.0
    assert model.cadence_target_spm == pytest.approx(172.0)
    assert model.states["cadence_spm"].warning  # still at 160 < 172 - 2.5 %
    t2 = t[-1] + 0.35 + np.arange(0, 10, 0.35)
    store.append(_steps(t2, np.full(t2.size, 171.0), np.full(t2.size, 4.0)))
    model.update()
    assert not model.states["cadence_spm"].warning
    model.set_cadence_target(185.0)  # the user's target replaces the baseline
    model.update()
    assert model.cadence_target_spm == 185.0 and model.states["cadence_spm"].warning


def test_drop_warning_per_side_and_limit_change():
    store = StepStore()
    model = FeedbackModel(store, drop_limit_deg=7.0, rolling_steps=10)
    n = 40
    side = np.where(np.arange(n) % 2, "left", "right")
    drop = np.where(side == "right", 8.0, 5.0)
    store.append(_steps(np.arange(n) * 0.35, np.full(n, 170.0), drop, side))
    model.update()
    st_ = model.states["pelvic_drop_deg"]
    assert st_.warning and st_.warning_side == "right"
    assert st_.rolling == {"left": 5.0, "right": 8.0}
    model.set_drop_limit(9.0)
    model.update()
    assert not model.states["pelvic_drop_deg"].warning
    model.set_drop_limit(4.0)
    model.update()
    assert model.states["pelvic_drop_deg"].warning_side == "left/right"
    assert "limit 4.0" in model.states["pelvic_drop_deg"].label()


def test_no_decision_before_enough_steps_and_foot_panels_appear():
    store = StepStore()
    model = FeedbackModel(store, drop_limit_deg=3.0)
    store.append(_steps(np.arange(8) * 0.35, np.full(8, 170.0), np.full(8, 9.0)))
    model.update()
    assert not model.states["pelvic_drop_deg"].warning  # 4 steps per side only
    assert not model.states["foot_strike_angle_deg"].available
    store.append({"t_ic_s": np.array([3.0]), "side": np.array(["left"]),
                  "foot_strike_angle_deg": np.array([12.0])})
    model.update()
    assert model.states["foot_strike_angle_deg"].available
    assert len(store) == 9 and np.isnan(store.snapshot()[1]["cadence_spm"][-1])
    assert {p.column for p in PANELS if p.optional} == {
        "foot_strike_angle_deg", "pronation_excursion_deg"}


# -- replay feeder (no Qt) ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def short_sim():
    from imu_hip.sim import RunnerParams, simulate

    p = RunnerParams(phases=(("stand", 6.0), ("run", 24.0)), gaps=((15.0, 0.5),))
    return simulate(p, seed=3, placements=("sacrum",))


def test_replay_feeds_the_same_pipeline_and_reaches_the_end(short_sim):
    from imu_hip.pipeline import SacralStage, push_all

    rec = short_sim.recording
    sensor = rec.sensors[0]
    hub = Hub()
    feeder = ReplayFeeder(rec, hub, speed=200.0)
    feeder.start()
    assert feeder.finished.wait(30.0)
    assert feeder.position_s == pytest.approx(sensor.duration_s)
    ring = hub.rings[sensor.sensor_id]
    assert ring.received == len(sensor) and ring.newest_t_s == sensor.t_s[-1]
    _, cols = hub.steps.snapshot()
    expect = push_all(SacralStage(sensor.rate_hz, True, frame_s=2.0), sensor.blocks(37))
    assert len(expect) > 30
    np.testing.assert_array_equal(cols["t_ic_s"], expect["t_ic_s"])
    # seek back: the later steps are forgotten and come again
    feeder.pause()
    feeder.seek(10.0)
    deadline = time.monotonic() + 10
    while hub.steps.generation == 0 or feeder.finished.is_set():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert feeder.position_s == 10.0
    assert (hub.steps.snapshot()[1]["t_ic_s"] < sensor.t_s[0] + 10.0).all()
    feeder.resume()
    assert feeder.finished.wait(30.0)
    _, cols2 = hub.steps.snapshot()
    before = cols2["t_ic_s"] < sensor.t_s[0] + 10.0
    np.testing.assert_array_equal(cols2["t_ic_s"][before], expect["t_ic_s"][
        expect["t_ic_s"] < sensor.t_s[0] + 10.0])
    assert (~before).sum() > 10  # steps after the seek point were measured again
    feeder.stop()
    assert feeder.stopped.is_set() and feeder.error is None


def test_shoe_sensors_fill_the_foot_panels():
    from imu_hip.sim import RunnerParams, simulate

    p = RunnerParams(phases=(("stand", 4.0), ("run", 14.0)), foot_strike="rear")
    sim = simulate(p, seed=4)
    hub = Hub()
    feeder = ReplayFeeder(sim.recording, hub, speed=500.0)
    feeder.start()
    assert feeder.finished.wait(60.0)
    feeder.stop()
    model = FeedbackModel(hub.steps)
    model.update()
    strike = model.states["foot_strike_angle_deg"]
    assert strike.available and model.states["pronation_excursion_deg"].available
    assert set(strike.rolling) == {"left", "right"}
    # rear-foot runner: ~15 deg toe up at contact in the simulator's truth
    truth = np.nanmedian(sim.truth["foot_strike_angle_deg"][sim.truth["gait"] == "run"])
    assert abs(strike.median - truth) < 5.0
    # the shoes' own contact times and impacts stay out of the sacral panels
    _, cols = hub.steps.snapshot()
    shoe_rows = np.isfinite(cols["foot_strike_angle_deg"])
    assert np.isnan(cols["impact_peak_g"][shoe_rows]).all()
    assert np.isfinite(cols["impact_peak_g"][~shoe_rows]).any()


def test_ble_sized_blocks_give_the_same_steps(short_sim):
    """The hub batches small blocks for the stages; the steps equal one push of everything."""
    from imu_hip.pipeline import SacralStage, push_all

    sensor = short_sim.recording.sensors[0]
    hub = Hub()
    for b in sensor.blocks(7):
        hub.ingest(b)
    hub.finish()
    _, cols = hub.steps.snapshot()
    expect = push_all(SacralStage(sensor.rate_hz, True, frame_s=2.0), sensor.blocks(10**6))
    np.testing.assert_array_equal(cols["t_ic_s"], expect["t_ic_s"])
    np.testing.assert_allclose(cols["pelvic_drop_deg"], expect["pelvic_drop_deg"], rtol=1e-9)


def test_pause_holds_the_position(short_sim):
    hub = Hub()
    feeder = ReplayFeeder(short_sim.recording, hub, speed=2.0, paused=True)
    feeder.start()
    assert feeder.ready.wait(10.0)
    time.sleep(0.2)
    assert feeder.position_s == 0.0
    feeder.resume()
    time.sleep(0.3)
    feeder.pause()
    time.sleep(0.05)
    pos = feeder.position_s
    assert pos > 0.2
    time.sleep(0.2)
    assert feeder.position_s == pos
    feeder.stop()


def test_record_and_markers(tmp_path, short_sim):
    from imu_hip.io import read_recording

    sensor = short_sim.recording.sensors[0]
    hub = Hub(analyse=False)
    for b in sensor.blocks(400):
        if b.t_s[0] >= sensor.t_s[0] + 5.0:
            break
        hub.ingest(b)
    path = tmp_path / "rec.mcap"
    hub.request("record_start", str(path))
    hub.service()
    assert hub.recording
    n_rec = 0
    for b in sensor.blocks(400):
        if b.t_s[0] >= sensor.t_s[0] + 5.0 and b.t_s[0] < sensor.t_s[0] + 9.0:
            hub.ingest(b)
            n_rec += len(b)
    hub.add_marker("left hip twinge")
    hub.request("record_stop")
    hub.service()
    assert not hub.recording
    rec = read_recording(path)
    assert len(rec.sensors[0]) == n_rec
    marks = (tmp_path / "rec.mcap.markers.csv").read_text().splitlines()
    assert marks[0] == "t_s,label" and marks[1].endswith("left hip twinge")


def test_hub_keeps_blocks_of_new_sensors():
    hub = Hub(analyse=False)
    b = Block("x", "left_foot", 100.0, np.arange(5) / 100.0, np.ones((5, 3)))
    hub.ingest(b)
    assert hub.sensors["x"].has_gyro is False and hub.rings["x"].channels == 3


# -- no Qt outside the viewer ------------------------------------------------------------------


def test_library_and_analyze_do_not_load_qt(tmp_path):
    from imu_hip.io import write_csv
    from imu_hip.sim import RunnerParams, simulate

    sim = simulate(RunnerParams(phases=(("run", 20.0),)), seed=1, placements=("sacrum",))
    path = tmp_path / "run.csv"
    write_csv(sim.recording.sensors[0], path)
    code = (
        "import sys, imu_hip\n"
        "from imu_hip.cli import main\n"
        f"assert main(['analyze', {str(path)!r}]) == 0\n"
        "imu_hip.analyze(" + repr(str(path)) + ")\n"
        "import imu_hip.viewer.targets, imu_hip.viewer.feed, imu_hip.viewer.decimate\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('PyQt6', 'pyqtgraph', 'PySide6', 'PyQt5')]\n"
        "assert not bad, bad\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr


def test_missing_viewer_extra_is_one_line(monkeypatch, capsys, tmp_path):
    from imu_hip.cli import main

    monkeypatch.setitem(sys.modules, "PyQt6", None)  # import PyQt6 now fails
    assert main(["view", "--sim"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pip install imu-hip[viewer]" in err


def test_hub_counts_steps_with_a_saturated_accelerometer():
    """A +-2.2 g hip sensor saturates at most impacts: the hub counts those steps per sensor
    (the window's status line shows it); an unsaturated one leaves the count empty."""
    from imu_hip.sim import RunnerParams, simulate

    def counts(range_g):
        p = RunnerParams(phases=(("run", 20.0),), acc_range_g=range_g, rate_hz=200.0)
        sensor = simulate(p, seed=5, placements=("sacrum",)).recording.sensors[0]
        hub = Hub()
        for b in sensor.blocks(40):
            hub.ingest(b)
        hub.finish()
        return hub.saturated, len(hub.steps)

    clean, _ = counts(16.0)
    cut, n_steps = counts(2.2)
    assert clean == {}
    assert list(cut) == ["sim-sacrum"] and 0.5 * n_steps <= cut["sim-sacrum"] <= n_steps


def test_hub_counts_shoe_strides_with_a_saturated_accelerometer():
    """The shoe panels' stage passes on its count of strides a +-4 g accelerometer cut; a
    replay seek forgets the counts with the steps."""
    from imu_hip.sim import RunnerParams, simulate

    p = RunnerParams(phases=(("run", 15.0),), acc_range_g=4.0, rate_hz=200.0)
    sensor = simulate(p, seed=3, placements=("left_foot",)).recording.sensors[0]
    hub = Hub()
    for b in sensor.blocks(40):
        hub.ingest(b)
    hub.finish()
    assert hub.saturated.get(sensor.sensor_id, 0) > 5
    hub.reset(0.0)
    assert hub.saturated == {}
