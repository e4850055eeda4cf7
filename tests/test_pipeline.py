"""The one pipeline: same result for any cut into blocks, no steps across gaps or in standing."""

from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.signal import butter, sosfiltfilt
from test_gait_sacrum import _running_tails

from imu_hip.model import Block, G, InputError, SensorRecording
from imu_hip.pipeline import PELVIS_COLUMNS, SacralStage, analyze, analyze_sensor, push_all
from imu_hip.sim import RunnerParams, simulate
from imu_hip.steps import TEXT_COLUMNS


@cache
def _sim(gyro: bool = True, acc_range_g: float = 16.0):
    params = RunnerParams(
        acc_range_g=acc_range_g,
        phases=(("stand", 6.0), ("walk", 8.0), ("run", 26.0)),
        rate_hz=200.0,
        clock_jitter_s=0.0005,
        drop_prob=0.002,
        gaps=((24.0, 0.4),),
        include_gyro=gyro,
    )
    return simulate(params, seed=11, placements=("sacrum",))


def _cut(sensor: SensorRecording, sizes: list[int]) -> list[Block]:
    blocks, i, n = [], 0, len(sensor)
    k = 0
    while i < n:
        j = min(n, i + sizes[k % len(sizes)])
        blocks.append(sensor.block(i, j))
        i, k = j, k + 1
    return blocks


def _steps(sensor, sizes, frame_s=5.0):
    stage = SacralStage(sensor.rate_hz, sensor.has_gyro, frame_s=frame_s, align_window_s=4.0)
    return push_all(stage, _cut(sensor, sizes)), stage


def _assert_same(a, b):
    """Events and every metric bit for bit, except the pelvis angles: their exact rotation
    integration works in chunks whose rounding may differ in the last bits (1e-12 deg)."""
    assert len(a) == len(b)
    for name, col in a.columns.items():
        if name in TEXT_COLUMNS:
            assert list(col) == list(b[name]), name
        elif name in PELVIS_COLUMNS:
            np.testing.assert_allclose(col, b[name], rtol=1e-9, atol=1e-9, err_msg=name)
        else:
            np.testing.assert_array_equal(col, b[name], err_msg=name)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(min_value=1, max_value=3000), min_size=1, max_size=8))
def test_any_cut_into_blocks_gives_identical_steps(sizes):
    """Blocks from one sample to three 5 s frames (1000 samples each)."""
    sensor = _sim().recording.sensor("sacrum")
    whole, stage_whole = _steps(sensor, [len(sensor)])
    split, stage_split = _steps(sensor, sizes)
    assert len(whole) > 40
    _assert_same(whole, split)
    np.testing.assert_array_equal(stage_whole.alignment_.rotation, stage_split.alignment_.rotation)
    for counter in ("gaps_", "holes_filled_", "dropped_samples_", "steps_near_holes_",
                    "steps_saturated_"):
        assert getattr(stage_whole, counter) == getattr(stage_split, counter), counter


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(min_value=1, max_value=900), min_size=1, max_size=8))
def test_any_cut_gives_identical_steps_with_a_saturating_accelerometer(sizes):
    """Saturation is judged per fixed frame, so it does not depend on the blocks either."""
    sensor = _sim(acc_range_g=2.2).recording.sensor("sacrum")
    whole, stage_whole = _steps(sensor, [len(sensor)])
    split, stage_split = _steps(sensor, sizes)
    assert stage_whole.steps_saturated_ > 20
    assert stage_split.steps_saturated_ == stage_whole.steps_saturated_
    _assert_same(whole, split)


def test_frame_length_does_not_change_the_steps():
    sensor = _sim().recording.sensor("sacrum")
    short, _ = _steps(sensor, [997], frame_s=2.0)
    long, _ = _steps(sensor, [997], frame_s=60.0)
    assert len(short) == len(long)
    np.testing.assert_allclose(short["t_ic_s"], long["t_ic_s"], atol=1e-6)
    np.testing.assert_allclose(short["contact_time_s"], long["contact_time_s"], atol=1e-6)


def test_no_step_in_standing_or_across_a_gap():
    sim = _sim()
    steps = analyze(sim.recording).steps
    t_ic, step = steps["t_ic_s"], steps["step_time_s"]
    stand_end = next(end for kind, start, end in sim.phases if kind == "stand")
    assert t_ic.min() > stand_end - 0.2
    gap_start, gap_end = 24.0, 24.4
    ends = t_ic + np.nan_to_num(step)
    crosses = (t_ic < gap_end) & (ends > gap_start)
    assert not crosses.any()
    # Steps resume after the gap, with the next contact found again.
    assert (t_ic > gap_end).sum() > 20


def test_without_gyroscope_pelvis_is_nan_with_a_reason():
    sim = _sim(gyro=False)
    result = analyze(sim.recording)
    assert len(result.steps) > 40
    for col in ("pelvic_drop_deg", "pelvic_tilt_rom_deg"):
        assert np.isnan(result.steps[col]).all()
        assert "gyroscope" in result.summary["unavailable"][col]
    assert np.isfinite(result.steps["contact_time_s"]).sum() > 30


def test_progress_is_reported_up_to_the_end():
    calls = []
    from imu_hip.pipeline import analyze_sensor

    analyze_sensor(_sim().recording.sensor("sacrum"), progress=calls.append, block_size=1000)
    assert len(calls) > 3 and calls[-1] == 1.0
    assert all(b >= a for a, b in zip(calls, calls[1:], strict=False))


def test_progress_bar_draws_on_a_terminal():
    import io

    from imu_hip.cli import ProgressBar

    out = io.StringIO()
    bar = ProgressBar("analysing run.csv", stream=out, force=True)
    for f in (0.1, 0.5, 1.0):
        bar(f)
    text = out.getvalue()
    assert "100.0%" in text and text.endswith("\n") and "analysing run.csv" in text


def test_frame_length_does_not_change_the_steps_next_to_irregular_motion():
    """Running, 4 s of irregular motion, running: a step's toe-off is compared with the same
    foot's contacts within 2 s, whose detection looks further still; with the default margin
    (CONTEXT_S) short live frames give exactly the steps of one long frame (with 3 s of margin
    contact times differed by up to 4.5 ms here)."""
    rate = 200.0
    rng = np.random.default_rng(101)
    first, _, _ = _running_tails(rate, dur=14.0, seed=1)
    second, _, _ = _running_tails(rate, dur=10.0, seed=51)
    n = int(4.0 * rate)
    sos = butter(4, [1.0, 4.0], "bandpass", fs=rate, output="sos")
    irregular = np.zeros((n, 3))
    irregular[:, 2] = np.maximum(1.0 + 2.5 * sosfiltfilt(sos, rng.normal(size=n)), 0.0) * G
    for start_s in (0.8, 1.4):
        acc = np.concatenate([first, irregular, second])[int(start_s * rate):]
        t = np.arange(acc.shape[0]) / rate
        sensor = SensorRecording("x", "sacrum", rate, t, acc)
        short = analyze_sensor(sensor, axes="body", frame_s=2.0, calibration=None).steps
        long = analyze_sensor(sensor, axes="body", frame_s=60.0, calibration=None).steps
        assert len(short) == len(long) > 40
        # (frames start at different sample offsets: times agree to rounding)
        np.testing.assert_allclose(short["t_ic_s"], long["t_ic_s"], rtol=0, atol=1e-9)
        np.testing.assert_allclose(short["contact_time_s"], long["contact_time_s"], rtol=0,
                                   atol=1e-9)


def test_a_non_finite_live_sample_is_a_lost_sample_not_the_end_of_the_analysis():
    """A device glitch (NaN in one sample) while streaming with a gyroscope: the sample is
    dropped and counted like a lost one (a one-sample hole is bridged as timing jitter), and
    the steps keep coming, next to it as without the glitch."""
    from imu_hip.pipeline import SacralStage
    from imu_hip.sim import RunnerParams, simulate
    from imu_hip.steps import StepTable

    sensor = simulate(RunnerParams(phases=(("run", 40.0),), rate_hz=200.0), seed=1,
                      placements=("sacrum",)).recording.sensor("sacrum")
    clean, glitch = SacralStage(sensor.rate_hz, True), SacralStage(sensor.rate_hz, True)
    parts_clean, parts_glitch = [], []
    for k, block in enumerate(sensor.blocks(400)):
        parts_clean.append(clean.push(block))
        if k == 10:
            block.acc_mps2[5, 2] = np.nan
            block.gyr_rads[7, 0] = np.inf
        parts_glitch.append(glitch.push(block))
    a = StepTable.concat([*parts_clean, clean.finish()])
    b = StepTable.concat([*parts_glitch, glitch.finish()])
    assert glitch.dropped_samples_ == 2 and clean.dropped_samples_ == 0
    t_bad = sensor.t_s[10 * 400 + 5]
    after = a["t_ic_s"] > t_bad + 1.0
    assert np.sum(b["t_ic_s"] > t_bad + 1.0) == after.sum() > 50  # the analysis went on
    assert len(b) == len(a)
    np.testing.assert_allclose(b["t_ic_s"], a["t_ic_s"], atol=0.002)


def test_in_memory_recordings_get_the_same_checks_as_files():
    """A SensorRecording passed to analyze() is checked as a file is: times in milliseconds,
    packet-stamped (batched) times and a gyroscope that did not record are refused with the
    file's message instead of giving no steps or zero pelvis angles."""
    sim = simulate(RunnerParams(phases=(("run", 12.0),)), seed=4, placements=("sacrum",))
    s = sim.recording.sensor("sacrum")
    cases = {
        "milliseconds": SensorRecording("ms", "sacrum", s.rate_hz, s.t_s * 1000.0, s.acc_mps2),
        "batches": SensorRecording("ble", "sacrum", s.rate_hz,
                                   s.t_s[(np.arange(len(s)) // 10) * 10], s.acc_mps2),
        "did not record": SensorRecording("dead", "sacrum", s.rate_hz, s.t_s, s.acc_mps2,
                                          np.zeros_like(s.acc_mps2)),
    }
    for words, sensor in cases.items():
        with pytest.raises(InputError, match=words) as info:
            analyze(sensor)
        assert info.value.source == f"sensor {sensor.sensor_id!r}"
    assert len(analyze(s).steps) > 20  # the intact recording is analysed


def test_a_hip_stream_just_under_the_minimum_says_by_how_much():
    """4.498 s must not print as "only 4.5 s ...; at least 4.5 s is needed"."""
    sim = simulate(RunnerParams(phases=(("run", 6.0),)), seed=4, placements=("sacrum",))
    s = sim.recording.sensor("sacrum")
    n = int(4.498 * s.rate_hz) + 1
    short = SensorRecording("short", "sacrum", s.rate_hz, s.t_s[:n], s.acc_mps2[:n])
    with pytest.raises(InputError, match=r"only 4\.49\d s of hip"):
        analyze(short)


def test_pieces_too_short_between_gaps_are_reported_not_hidden():
    """A 40 s run with a 0.3 s dropout every 4 s leaves only 3.7 s pieces, each too short to
    find steps in: the summary and the printed text say how much was not analysed."""
    from imu_hip.metrics.summary import format_summary

    sim = simulate(RunnerParams(phases=(("run", 40.0),)), seed=2, placements=("sacrum",))
    s = sim.recording.sensor("sacrum")
    keep = np.ones(len(s), bool)
    for t0 in np.arange(4.0, 40.0, 4.0):
        keep &= ~((s.t_s >= t0) & (s.t_s < t0 + 0.3))
    res = analyze(SensorRecording("x", "sacrum", s.rate_hz, s.t_s[keep], s.acc_mps2[keep]))
    assert len(res.steps) == 0
    assert 35.0 < res.summary["unanalysed_s"] < 37.5  # 10 pieces of 3.7 s (the first 4 s)
    assert "not analysed: 0:3" in format_summary(res.summary)
    whole = analyze(s)
    assert whole.summary["unanalysed_s"] == 0.0
    assert "not analysed" not in format_summary(whole.summary)


def test_a_sprinter_mostly_in_free_fall_is_not_taken_for_a_unit_mistake(tmp_path):
    """At 5.5 m/s with a duty factor of 0.26 the simulated trunk reads ~0 g over half the time
    (median |a| ~0.2 g); its mean acceleration is still gravity, so the file is analysed. The
    same numbers written as g under m/s² columns are still refused."""
    from imu_hip.io import write_csv

    sim = simulate(RunnerParams(phases=(("run", 20.0),), rate_hz=200.0, speed_mps=5.5,
                                cadence_spm=190.0, duty_factor=0.26, foot_strike="fore"),
                   seed=2, placements=("sacrum",))
    s = sim.recording.sensor("sacrum")
    assert np.median(np.linalg.norm(s.acc_mps2, axis=1)) < 0.3 * G
    write_csv(s, tmp_path / "sprint.csv")
    res = analyze(str(tmp_path / "sprint.csv"))
    assert len(res.steps) > 50 and np.all(res.steps["gait"] == "run")
    wrong = SensorRecording("g", "sacrum", s.rate_hz, s.t_s, s.acc_mps2 / G)
    with pytest.raises(InputError, match="wrong unit"):
        analyze(wrong)


def test_shoes_are_analysed_beside_a_hip_stream_that_cannot_be(tmp_path):
    """A hip stream of 1.5 s (under every minimum) beside two good shoes, in memory and as an
    MCAP file: the shoes are analysed and the summary says why the hip was not; alone, the same
    hip stream is refused."""
    from imu_hip.io import write_mcap
    from imu_hip.model import Recording

    sim = simulate(RunnerParams(phases=(("run", 20.0),), rate_hz=200.0), seed=1)
    hip = sim.recording.sensor("sacrum")
    n = int(1.5 * hip.rate_hz)
    short = SensorRecording(hip.sensor_id, "sacrum", hip.rate_hz, hip.t_s[:n], hip.acc_mps2[:n],
                            hip.gyr_rads[:n])
    rec = Recording([short] + [s for s in sim.recording.sensors if s.placement != "sacrum"])
    write_mcap(rec, tmp_path / "short_hip.mcap")
    for source in (rec, str(tmp_path / "short_hip.mcap")):
        res = analyze(source)
        assert res.summary["stride_count"] > 40
        assert "only 1.49" in res.summary["hip_not_analysed"]
    with pytest.raises(InputError, match="at least 2 s"):
        analyze(short)


@pytest.mark.parametrize("spike_g", [150.0, -40.0, 16.0])
def test_one_corrupted_sample_changes_no_metric(spike_g):
    """A single corrupted sample just after a contact (in the impact window): the step's impact
    peak, braking peak, oscillation and vGRF read as without it, as its events already did."""
    sim = simulate(RunnerParams(phases=(("run", 20.0),), rate_hz=200.0), seed=3,
                   placements=("sacrum",))
    s = sim.recording.sensor("sacrum")
    clean = analyze(s).steps
    k = int(np.searchsorted(s.t_s, clean["t_ic_s"][30] + 0.02))
    acc = s.acc_mps2.copy()
    acc[k] = spike_g * G * np.array([0.3, 0.1, 1.0]) / np.linalg.norm([0.3, 0.1, 1.0])
    hit = analyze(SensorRecording("x", "sacrum", s.rate_hz, s.t_s, acc, s.gyr_rads),
                  ).steps
    assert len(hit) == len(clean)
    for col in ("impact_peak_g", "braking_peak_g", "vertical_oscillation_m", "vgrf_peak_bw",
                "contact_time_s"):
        np.testing.assert_allclose(hit[col], clean[col], rtol=0.05, atol=0.02, err_msg=col)
