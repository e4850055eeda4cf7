"""Calibration: recovery of known sensor errors, guidance on bad sessions, storage, applying.

Error ranges of the simulated sensors (``random_sensor_errors`` defaults) cover the datasheet
values listed in ``calibration/models.json`` with margin: accelerometer bias ±0.6 m/s² (±60 mg;
datasheets ±20-80 mg), scale ±3 % (±0.5-3 %), cross-axis ±2 % (±0.5-2 %), plus a rotation of the
sensing axes up to 2°; gyroscope bias ±2 °/s; white noise 0.02 m/s² and 0.002 rad/s per sample.

Tolerances (12 poses of 6 s at 100 Hz): bias within 0.01 m/s² (1 mg) per axis, the symmetric
scale/misalignment matrix within 0.002 per element, gyro bias within 0.001 rad/s; the error also
stays within 6 reported standard deviations (plus float slack).
"""

import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from imu_hip import calibration as C
from imu_hip.model import Block, G, ImuHipError, SensorRecording

BIAS_TOL = 0.01
MATRIX_TOL = 0.002
GYR_TOL = 0.001


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(C.DATA_DIR_ENV, str(tmp_path / "data"))


def _fit(errors, seed=0, **kw):
    rec = C.simulate_pose_session(errors, seed=seed, **kw)
    poses, notes = C.find_static_poses(rec)
    return C.fit_accelerometer(poses, "dev"), poses, notes


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1))
def test_random_sensor_errors_are_recovered(seed):
    errors = C.random_sensor_errors(np.random.default_rng(seed))
    cal, poses, notes = _fit(errors, seed=seed)
    assert len(poses) == 12 and not notes
    sym = errors.symmetric_matrix()
    b_err = np.abs(cal.acc_bias_mps2 - errors.acc_bias_mps2)
    m_err = np.abs(cal.acc_matrix - sym)
    assert b_err.max() < BIAS_TOL, b_err
    assert m_err.max() < MATRIX_TOL, m_err
    assert np.abs(cal.gyr_bias_rads - errors.gyr_bias_rads).max() < GYR_TOL
    unc = cal.uncertainty
    assert unc["misalignment_estimated"] and unc["dof"] == 3
    assert np.all(b_err <= 6 * np.asarray(unc["acc_bias_mps2"]) + 1e-9)
    assert np.all(m_err <= 6 * np.asarray(unc["acc_matrix"]) + 1e-6)
    # Calibrated readings of gravity in new orientations have magnitude G.
    rng = np.random.default_rng(seed + 1)
    u = rng.standard_normal((50, 3))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    corrected = cal.correct_acc(errors.raw_acc(G * u))
    assert np.abs(np.linalg.norm(corrected, axis=1) - G).max() < 0.02
    # Uncalibrated, the same readings are visibly off (the test could fail).
    assert np.abs(np.linalg.norm(errors.raw_acc(G * u), axis=1) - G).max() > 0.05


def test_six_face_poses_give_bias_and_scale_and_say_misalignment_is_missing():
    rng = np.random.default_rng(3)
    errors = C.random_sensor_errors(rng, cross_max=0.0, rotation_max_deg=0.0)
    cal, poses, _ = _fit(errors, poses=C.FACE_POSES)
    assert len(poses) == 6
    assert np.abs(cal.acc_bias_mps2 - errors.acc_bias_mps2).max() < BIAS_TOL
    assert np.abs(np.diag(cal.acc_matrix) - np.diag(errors.acc_matrix)).max() < MATRIX_TOL
    assert cal.acc_matrix[0, 1] == 0.0 and not cal.uncertainty["misalignment_estimated"]
    assert any("misalignment" in n for n in cal.notes)


def test_too_few_poses_name_what_is_missing():
    errors = C.random_sensor_errors(np.random.default_rng(1))
    rec = C.simulate_pose_session(errors, poses=C.FACE_POSES[:5])
    poses, _ = C.find_static_poses(rec)
    with pytest.raises(C.CalibrationError, match="z down") as e:
        C.fit_accelerometer(poses)
    assert "at least six" in str(e.value)


def test_a_pose_with_movement_is_rejected_with_guidance():
    errors = C.random_sensor_errors(np.random.default_rng(2))
    # Pose 5 (z down) is shaken half-way: both halves are shorter than the 3 s a pose needs.
    rec = C.simulate_pose_session(errors, poses=C.FACE_POSES, hold_s=5.0, shake_in=[5])
    with pytest.raises(C.CalibrationError) as e:
        C.calibrate_from_recording(rec)
    msg = str(e.value)
    assert "z down" in msg and "moved" in msg and "hold each pose" in msg


def test_a_slow_turn_during_a_pose_is_not_a_pose():
    errors = C.random_sensor_errors(np.random.default_rng(4), gyr_noise_rads=0.0)
    sim = C.PoseSimulator(errors, seed=1)
    blocks = [sim.hold(4.0), sim.move_to([0.0, math.sin(0.2), math.cos(0.2)], 8.0), sim.hold(1)]
    rec = SensorRecording("d", "unknown", 100.0, np.concatenate([b.t_s for b in blocks]),
                          np.vstack([b.acc_mps2 for b in blocks]),
                          np.vstack([b.gyr_rads for b in blocks]))
    poses, notes = C.find_static_poses(rec)
    # Turning 11.5° in 8 s (1.4 °/s) is smooth enough to pass the noise tests, so the hold and
    # the turn form one quiet stretch; its drift rejects it instead of averaging the turn in.
    assert poses == []
    assert len(notes) == 1 and "turned" in notes[0]


def test_saturated_pose_is_rejected():
    errors = C.random_sensor_errors(np.random.default_rng(5))
    rec = C.simulate_pose_session(errors, poses=C.FACE_POSES, range_mps2=0.9 * G)
    poses, _ = C.find_static_poses(rec, range_mps2=0.9 * G)
    with pytest.raises(C.CalibrationError, match="saturated"):
        C.fit_accelerometer(poses)


def test_poses_that_disagree_give_guidance_not_a_calibration():
    errors = C.random_sensor_errors(np.random.default_rng(6))
    rec = C.simulate_pose_session(errors)
    poses, _ = C.find_static_poses(rec)
    # One pose taken on something accelerating (a lift, a vibrating table): 0.5 m/s² extra.
    p = poses[4]
    poses[4] = C.Pose(p.acc_mean_mps2 * (1 + 0.5 / G), p.acc_std_mps2, p.gyr_mean_rads, p.n,
                      p.t_start_s, p.t_stop_s)
    with pytest.raises(C.CalibrationError, match="repeat that pose"):
        C.fit_accelerometer(poses)


def test_implausible_values_are_refused():
    # Readings in g instead of m/s²: every pose reads about 1.
    poses = [C.Pose(np.array(u, float), np.full(3, 0.002), None, 500, i, i + 1)
             for i, u in enumerate(np.vstack([np.eye(3), -np.eye(3)]))]
    with pytest.raises(C.CalibrationError, match="units"):
        C.fit_accelerometer(poses)


# -- the guided procedure --------------------------------------------------------------------


def test_guide_walks_through_the_poses_and_handles_mistakes():
    errors = C.random_sensor_errors(np.random.default_rng(7))
    guide = C.AccelCalibrationGuide(C.DEFAULT_POSES, "dev", hold_s=3.0)
    sim = C.PoseSimulator(errors, seed=2)
    events = list(C.run_simulated_guide(guide, sim, disturb={2: "shake", 4: "wrong"}))
    kinds = [e.kind for e in events]
    assert kinds[0] == "prompt" and kinds[-1] == "done"
    assert kinds.count("accepted") == 12 and kinds.count("prompt") == 12
    moving = [e for e in events if e.kind == "moving"]
    assert moving and all(e.pose == 2 for e in moving)
    wrong = [e for e in events if e.kind == "wrong_pose"]
    assert wrong and wrong[0].pose == 4 and "z down" in wrong[0].message
    # Countdown from 3 to 1 before each accepted pose; after the shake it starts again.
    counts = [e.remaining_s for e in events if e.kind == "countdown" and e.pose == 2]
    assert counts.count(3) >= 2 and counts[-3:] == [3, 2, 1]
    assert "left" in events[0].message and "1 of 12" in events[0].message
    cal = guide.result
    assert cal is not None and guide.error is None
    assert np.abs(cal.acc_bias_mps2 - errors.acc_bias_mps2).max() < BIAS_TOL
    assert np.abs(cal.acc_matrix - errors.symmetric_matrix()).max() < MATRIX_TOL


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(1, 300), min_size=1, max_size=5))
def test_guide_result_does_not_depend_on_block_cut(sizes):
    errors = C.random_sensor_errors(np.random.default_rng(8))
    rec = C.simulate_pose_session(errors, poses=C.FACE_POSES, hold_s=4.0, seed=8)

    def run(cut):
        guide = C.AccelCalibrationGuide(C.FACE_POSES, "dev", hold_s=2.5)
        events, i, k = [], 0, 0
        while i < len(rec):
            j = min(len(rec), i + cut[k % len(cut)])
            events += guide.push(rec.block(i, j))
            i, k = j, k + 1
        return guide, events

    whole, ev_whole = run([len(rec)])
    split, ev_split = run(sizes)
    assert whole.result is not None
    assert [(e.kind, e.message) for e in ev_whole] == [(e.kind, e.message) for e in ev_split]
    np.testing.assert_array_equal(whole.result.acc_matrix, split.result.acc_matrix)


def test_guide_rejects_a_saturated_pose_and_fails_with_guidance():
    errors = C.random_sensor_errors(np.random.default_rng(9))
    sim = C.PoseSimulator(errors, seed=3, range_mps2=0.9 * G)
    guide = C.AccelCalibrationGuide(C.FACE_POSES[:1], "dev", hold_s=1.0, range_mps2=0.9 * G)
    events = list(C.run_simulated_guide(guide, sim, max_s=10.0))
    assert any(e.kind == "rejected" and "saturated" in e.message for e in events)
    assert guide.result is None


def test_guide_with_too_few_poses_fails_instead_of_guessing():
    errors = C.random_sensor_errors(np.random.default_rng(10))
    guide = C.AccelCalibrationGuide(C.FACE_POSES[:4], "dev", hold_s=1.0)
    events = list(C.run_simulated_guide(guide, C.PoseSimulator(errors)))
    assert events[-1].kind == "failed" and guide.result is None
    assert "z up" in guide.error and "z down" in guide.error


# -- storage ---------------------------------------------------------------------------------


def _cal(device_id="AA:BB:CC:DD:EE:01"):
    errors = C.random_sensor_errors(np.random.default_rng(11))
    cal, _, _ = _fit(errors)
    cal.device_id = device_id
    return cal


def test_save_load_round_trip_in_the_data_dir(tmp_path):
    cal = _cal()
    path = C.save_calibration(cal)
    assert path.parent == tmp_path / "data" / "calibration"
    d = json.loads(path.read_text())
    for key in ("date", "method", "acc_bias_mps2", "acc_matrix", "gyr_bias_rads",
                "residuals_mps2", "uncertainty"):
        assert key in d
    back = C.calibration_for(cal.device_id)
    np.testing.assert_array_equal(back.acc_matrix, cal.acc_matrix)
    np.testing.assert_array_equal(back.acc_bias_mps2, cal.acc_bias_mps2)
    assert back.residuals_mps2 == cal.residuals_mps2 and back.date == cal.date
    assert C.calibration_for("AA:BB:CC:DD:EE:02") is None
    # Ids that make the same file-safe name still get different files.
    assert C.calibration_path("AA:BB") != C.calibration_path("AA_BB")
    assert C.calibration_path("../../etc/passwd").parent == C.calibration_dir()


@pytest.mark.parametrize("content, why", [
    ("{not json", "not JSON"),
    ('{"version": 1, "device_id": "x", "acc_bias_mps2": [0, 0], "acc_matrix": '
     '[[1,0,0],[0,1,0],[0,0,1]], "gyr_bias_rads": [0,0,0]}', "acc_bias_mps2 has shape"),
    ('{"version": 1, "device_id": "x", "acc_bias_mps2": [0, 0, 0], "acc_matrix": '
     '[[1,0,0],[0,1,0],[0,0,1]]}', "gyr_bias_rads missing"),
    ('[1, 2]', "JSON object"),
])
def test_corrupt_file_is_a_one_line_error_naming_it(tmp_path, content, why):
    path = C.calibration_path("x")
    path.parent.mkdir(parents=True)
    path.write_text(content)
    with pytest.raises(ImuHipError) as e:
        C.calibration_for("x")
    msg = str(e.value)
    assert str(path) in msg and why in msg and "\n" not in msg


# -- applying --------------------------------------------------------------------------------


def test_apply_to_recording_and_block_keeps_the_raw_data():
    cal = _cal("dev")
    rng = np.random.default_rng(0)
    acc, gyr = rng.normal(0, 5, (100, 3)), rng.normal(0, 1, (100, 3))
    rec = SensorRecording("dev", "sacrum", 100.0, np.arange(100) / 100, acc.copy(), gyr.copy())
    out = C.apply_calibration(rec, cal)
    np.testing.assert_array_equal(rec.acc_mps2, acc)  # input untouched
    np.testing.assert_allclose(out.acc_mps2, (acc - cal.acc_bias_mps2) @ cal.acc_matrix.T)
    np.testing.assert_allclose(out.gyr_rads, gyr - cal.gyr_bias_rads)
    assert "dev" in out.metadata[C.APPLIED_KEY]
    with pytest.raises(ImuHipError, match="already"):
        C.apply_calibration(out, cal)
    block = rec.block(10, 20)
    b = cal.apply(block)
    assert isinstance(b, Block) and b.sensor_id == "dev"
    np.testing.assert_array_equal(b.acc_mps2, out.acc_mps2[10:20])
    meta = cal.metadata()
    assert meta["applied"] == cal.label() and json.loads(meta["acc_matrix"])


def test_gyro_bias_is_tracked_over_still_periods():
    rate = 100.0
    t = np.arange(int(60 * rate)) / rate
    rng = np.random.default_rng(1)
    bias = np.stack([0.01 + 0.0005 * t, -0.02 + 0 * t, 0.003 * np.sin(t / 20)], axis=1)
    moving = (t > 10) & (t < 40)
    acc = np.tile([0.0, 0.0, G], (len(t), 1)) + 0.02 * rng.standard_normal((len(t), 3))
    acc[moving] += 3.0 * np.sin(2 * np.pi * 2.8 * t[moving])[:, None]
    gyr = bias + 0.002 * rng.standard_normal((len(t), 3))
    gyr[moving] += 1.0 * np.sin(2 * np.pi * 1.4 * t[moving])[:, None]
    track = C.track_gyro_bias(t, acc, gyr, rate)
    assert len(track) == 2  # before and after the movement
    assert track.t_s[0] < 10 and track.t_s[1] > 40
    for k in range(2):
        sl = np.abs(t - track.t_s[k]) < track.duration_s[k] / 2
        np.testing.assert_allclose(track.bias_rads[k], bias[sl].mean(axis=0), atol=3e-4)
    at = track.at(np.array([0.0, 25.0, 59.0]))
    np.testing.assert_allclose(at[0], track.bias_rads[0])
    np.testing.assert_allclose(at[2], track.bias_rads[1])
    assert track.bias_rads[0, 0] < at[1, 0] < track.bias_rads[1, 0]
    # subtracted in place: the same as subtracting at(t), for one still period or several
    np.testing.assert_array_equal(track.removed_from(t, gyr), gyr - track.at(t))
    one = C.GyroBiasTrack(track.t_s[:1], track.bias_rads[:1], track.sem_rads[:1],
                          track.duration_s[:1])
    np.testing.assert_array_equal(one.removed_from(t, gyr), gyr - track.bias_rads[0])
    assert one.removed_from(t, gyr) is not gyr


def test_estimate_mounting_reuses_alignment_and_finds_the_standing_neutral():
    from imu_hip.sim import RunnerParams, simulate

    sim = simulate(RunnerParams(phases=(("stand", 6.0), ("run", 20.0)), rate_hz=200.0),
                   seed=2, placements=("sacrum",))
    m = C.estimate_mounting(sim.recording.sensor("sacrum"))
    angle = np.degrees(np.arccos(np.clip((np.trace(m.rotation @ sim.mounting["sacrum"].T) - 1)
                                         / 2, -1, 1)))
    assert angle < 5.0 and m.forward_quality > 0.5
    assert m.neutral_deg is not None and np.all(np.abs(m.neutral_deg[:2]) < 1.5)


def _stand_move_stand(rate=100.0, seed=1):
    t = np.arange(int(30 * rate)) / rate
    rng = np.random.default_rng(seed)
    bias = np.array([0.03, -0.02, 0.01])
    moving = (t > 6) & (t < 20)
    acc = np.tile([0.0, 0.0, G], (len(t), 1)) + 0.02 * rng.standard_normal((len(t), 3))
    acc[moving] += 3.0 * np.sin(2 * np.pi * 2.8 * t[moving])[:, None]
    gyr = bias + 0.002 * rng.standard_normal((len(t), 3))
    gyr[moving] += 1.0 * np.sin(2 * np.pi * 1.4 * t[moving])[:, None]
    return SensorRecording("d", "sacrum", rate, t, acc, gyr), bias


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(1, 500), min_size=1, max_size=5))
def test_live_gyro_tracking_is_causal_and_independent_of_block_cut(sizes):
    rec, bias = _stand_move_stand()

    def run(cut):
        tracker = C.GyroBiasTracker()
        out, i, k = [], 0, 0
        while i < len(rec):
            j = min(len(rec), i + cut[k % len(cut)])
            out.append(tracker.correct(rec.block(i, j)).gyr_rads)
            i, k = j, k + 1
        return np.vstack(out), tracker

    whole, tw = run([len(rec)])
    split, ts = run(sizes)
    np.testing.assert_array_equal(whole, split)
    assert tw.periods == 2
    t = rec.t_s
    # Nothing is subtracted before the first 2 s of stillness; afterwards the bias is gone.
    np.testing.assert_array_equal(whole[t < 1.0], rec.gyr_rads[t < 1.0])
    assert np.abs(whole[(t > 3) & (t < 6)].mean(axis=0)).max() < 1e-3
    assert np.abs(whole[t > 25].mean(axis=0)).max() < 1e-3
    np.testing.assert_allclose(tw.bias_rads, bias, atol=1e-3)


def test_live_calibration_applies_the_stored_one_then_tracks():
    cal = _cal("d")
    C.save_calibration(cal)
    live = C.session_calibration_for("d")
    rec, _ = _stand_move_stand()
    b = live.apply(rec.block(0, 100))
    np.testing.assert_allclose(b.acc_mps2, cal.correct_acc(rec.acc_mps2[:100]))
    meta = live.metadata()
    assert meta["applied"] == cal.label() and "gyro_bias_tracking" in meta
    assert C.session_calibration_for("other").metadata()["applied"].startswith("none")
    # A recording made with no stored calibration still gets one when analysed later.
    assert C.applied_calibration({"calibration.applied": "none (no stored calibration)",
                                  C.TRACKING_KEY: "live"}) is None


def test_local_gravity_goes_into_the_scale():
    errors = C.random_sensor_errors(np.random.default_rng(12))
    rec = C.simulate_pose_session(errors)
    poses, _ = C.find_static_poses(rec)
    std = C.fit_accelerometer(poses)
    local = C.fit_accelerometer(poses, gravity_mps2=9.78)
    np.testing.assert_allclose(local.acc_matrix, std.acc_matrix * 9.78 / G, atol=1e-6)
    np.testing.assert_allclose(local.acc_bias_mps2, std.acc_bias_mps2, atol=1e-6)


def test_simulated_turn_reads_the_true_angular_rate():
    """The pose simulator's gyroscope agrees with how gravity turns in the sensor frame
    (d up / dt = -ω × up), so the guide's movement checks see a physical sensor."""
    errors = C.SensorErrors(np.zeros(3), np.eye(3), np.zeros(3), 0.0, 0.0)
    sim = C.PoseSimulator(errors, rate_hz=1000.0)
    b = sim.move_to([1.0, 1.0, 0.0], 2.0)
    up = b.acc_mps2 / G
    dt = 1e-3
    d_up = np.gradient(up, dt, axis=0)
    pred = -np.cross(b.gyr_rads, up)
    assert np.abs(d_up[5:-5] - pred[5:-5]).max() < 1e-3
    np.testing.assert_allclose(up[-1], [math.sqrt(0.5), math.sqrt(0.5), 0.0], atol=1e-9)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 2**32 - 1), st.sampled_from(["missing", "shaken", "saturated"]),
       st.integers(0, 5))
def test_bad_sessions_give_guidance_not_a_calibration(seed, kind, k):
    errors = C.random_sensor_errors(np.random.default_rng(seed))
    spec = C.FACE_POSES[k]
    # The simulated session starts with the sensor lying z up for a while, so that pose is
    # never missing or spoilt.
    assume(not (kind != "saturated" and spec.name == "z up"))
    poses = [p for i, p in enumerate(C.FACE_POSES) if kind != "missing" or i != k]
    rng_limit = 0.9 * G if kind == "saturated" else None
    rec = C.simulate_pose_session(errors, poses, hold_s=5.0, seed=seed, range_mps2=rng_limit,
                                  shake_in=[k] if kind == "shaken" else [])
    with pytest.raises(C.CalibrationError) as e:
        C.calibrate_from_recording(rec, range_mps2=rng_limit)
    msg = str(e.value)
    if kind == "saturated":
        assert "saturated" in msg and "range" in msg
    else:
        assert spec.name in msg and "at least six" in msg
    if kind == "shaken":
        assert "moved" in msg


def test_gyro_bias_is_not_fooled_by_a_slow_lean():
    """A quiet stance that slowly leans 2° is still by the noise tests; the gyroscope's mean then
    holds the lean as well as the bias, and the tilt of gravity takes the lean out."""
    bias = np.array([0.01, -0.02, 0.015])
    errors = C.SensorErrors(np.zeros(3), np.eye(3), bias, 0.02, 0.002)
    sim = C.PoseSimulator(errors, rate_hz=100.0, seed=3)
    lean = np.radians(2.0)
    blocks = [sim.hold(3.0), sim.move_to([np.sin(lean), 0.0, np.cos(lean)], 6.0), sim.hold(3.0)]
    t = np.concatenate([b.t_s for b in blocks])
    acc = np.vstack([b.acc_mps2 for b in blocks])
    gyr = np.vstack([b.gyr_rads for b in blocks])
    track = C.track_gyro_bias(t, acc, gyr, 100.0)
    assert len(track) == 1
    assert np.abs(track.bias_rads[0] - bias).max() < 5e-4
    # Without the correction the lean would show: its mean rate is ~2.9e-3 rad/s about y.
    assert np.abs(gyr[25:-25].mean(axis=0) - bias).max() > 2e-3
    # The live tracker agrees.
    tracker = C.GyroBiasTracker()
    for i in range(0, len(t), 37):
        tracker.correct(Block("d", "unknown", 100.0, t[i:i + 37], acc[i:i + 37], gyr[i:i + 37]))
    assert np.abs(tracker.bias_rads - bias).max() < 5e-4
