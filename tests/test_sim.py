"""Tests of the synthetic runner: determinism, physics consistency, truth, imperfections."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from imu_hip.model import STEP_COLUMNS, G, ImuHipError, find_gaps
from imu_hip.sim import (
    RunnerParams,
    demo_params,
    pelvis_angles_from_matrix,
    pelvis_rotation_matrix,
    simulate,
)

CLEAN = dict(acc_noise_mps2=0.0, gyr_noise_rads=0.0, gyr_bias_rads=(0.0, 0.0, 0.0),
             acc_range_g=None, gyr_range_rads=None)


@pytest.fixture(scope="module")
def run_clean():
    """20 s of running, no noise or bias, random mounting."""
    return simulate(RunnerParams(phases=(("run", 20.0),), **CLEAN), seed=11)


@pytest.fixture(scope="module")
def session():
    """Standing, walking, running, standing: the transitions and the standing checks."""
    p = RunnerParams(phases=(("stand", 4.0), ("walk", 8.0), ("run", 10.0), ("stand", 3.0)),
                     gyr_bias_rads=(0.02, -0.01, 0.015), acc_noise_mps2=0.02,
                     gyr_noise_rads=0.002)
    return simulate(p, seed=5)


def _world_from_sensor(sim, placement="sacrum"):
    """Rotate recorded sacral data back: sensor -> body (mounting) -> world (pelvis angles)."""
    rec = sim.recording.sensor(placement)
    r_m = sim.mounting[placement]
    acc_b = rec.acc_mps2 @ r_m.T
    sig = sim.signals
    r_p = pelvis_rotation_matrix(np.radians(sig["pelvis_tilt_deg"]),
                                 np.radians(sig["pelvis_obliquity_deg"]),
                                 np.radians(sig["pelvis_rotation_deg"]))
    return np.einsum("nij,nj->ni", r_p, acc_b)


# --------------------------------------------------------------------------------------------
# determinism and API


def test_same_seed_same_data_other_seed_other_data():
    p = RunnerParams(phases=(("run", 4.0),))
    a, b, c = simulate(p, seed=3), simulate(p, seed=3), simulate(p, seed=4)
    for sa, sb, sc in zip(a.recording.sensors, b.recording.sensors, c.recording.sensors,
                          strict=True):
        assert np.array_equal(sa.t_s, sb.t_s)
        assert np.array_equal(sa.acc_mps2, sb.acc_mps2)
        assert np.array_equal(sa.gyr_rads, sb.gyr_rads)
        assert not np.allclose(sa.acc_mps2[:100], sc.acc_mps2[:100])
    for key in a.truth:
        assert np.array_equal(a.truth[key], b.truth[key], equal_nan=a.truth[key].dtype.kind == "f")


def test_subset_of_placements_gives_the_same_sacrum():
    p = RunnerParams(phases=(("run", 4.0),))
    full = simulate(p, seed=8)
    only = simulate(p, seed=8, placements=("sacrum",))
    assert [s.placement for s in only.recording.sensors] == ["sacrum"]
    assert np.array_equal(full.recording.sensor("sacrum").acc_mps2,
                          only.recording.sensor("sacrum").acc_mps2)
    assert np.array_equal(full.truth["t_ic_s"], only.truth["t_ic_s"])


def test_recording_layout(run_clean):
    ids = {s.placement: s.sensor_id for s in run_clean.recording.sensors}
    assert ids == {"sacrum": "sim-sacrum", "left_foot": "sim-left-foot",
                   "right_foot": "sim-right-foot"}
    for s in run_clean.recording.sensors:
        assert s.rate_hz == 400.0
        assert s.has_gyro
        assert abs(s.duration_s - 20.0) < 0.01
    assert set(STEP_COLUMNS) <= set(run_clean.truth)
    n = run_clean.truth["t_ic_s"].size
    assert n > 50
    assert all(np.asarray(v).shape == (n,) for v in run_clean.truth.values())


def test_bad_parameters_raise():
    with pytest.raises(ImuHipError):
        RunnerParams(foot_strike="toe")
    with pytest.raises(ImuHipError):
        RunnerParams(phases=(("jog", 3.0),))
    with pytest.raises(ImuHipError):
        simulate(RunnerParams(phases=(("run", 2.0),)), placements=("wrist",))


def test_pelvis_angle_helpers_round_trip():
    rng = np.random.default_rng(0)
    ang = rng.uniform(-0.5, 0.5, size=(50, 3))
    r = pelvis_rotation_matrix(ang[:, 0], ang[:, 1], ang[:, 2])
    assert np.allclose(r @ np.swapaxes(r, 1, 2), np.eye(3), atol=1e-12)
    back = np.stack(pelvis_angles_from_matrix(r), axis=1)
    assert np.allclose(back, ang, atol=1e-12)
    # obliquity is the elevation of the pelvis' left axis
    assert np.allclose(np.sin(ang[:, 1]), r[:, 2, 1])


# --------------------------------------------------------------------------------------------
# truth self-consistency


def _with_step(truth):
    """Truth rows that have a following contact (the last contact of a bout has NaN steps)."""
    keep = np.isfinite(truth["step_time_s"])
    return {k: v[keep] for k, v in truth.items()}


def _consecutive(truth):
    t_ic = truth["t_ic_s"]
    nxt = np.isclose(t_ic[:-1] + truth["step_time_s"][:-1], t_ic[1:])
    return nxt


def test_truth_timing_is_self_consistent(run_clean):
    tr = _with_step(run_clean.truth)
    assert np.all(_consecutive(tr)), "each running step ends at the next initial contact"
    assert np.allclose(tr["cadence_spm"], 60.0 / tr["step_time_s"])
    assert np.allclose(tr["contact_time_s"] + tr["flight_time_s"], tr["step_time_s"])
    assert np.allclose(tr["duty_factor"], tr["contact_time_s"] / (2 * tr["step_time_s"]))
    assert np.all(tr["t_to_s"] > tr["t_ic_s"])
    assert np.all(tr["flight_time_s"] > 0)
    sides = tr["side"]
    assert set(sides) == {"left", "right"}
    assert np.all(sides[1:] != sides[:-1]), "left and right alternate"
    # requested timing is reproduced (threshold contact within a few ms of the request)
    assert abs(np.mean(tr["cadence_spm"]) - 170.0) < 2.0
    assert abs(np.mean(tr["duty_factor"]) - 0.36) < 0.01


def test_walking_has_double_support(session):
    tr = _with_step(session.truth)
    walk = tr["gait"] == "walk"
    assert walk.sum() > 8
    # the step that hands over to running is a transition step (it may have a flight)
    steady = walk & np.append(tr["gait"][1:] == "walk", False)
    assert np.all(tr["flight_time_s"][steady] < 0)
    assert abs(np.median(tr["duty_factor"][walk]) - 0.62) < 0.02
    assert np.all((tr["vgrf_peak_bw"][walk] > 0.9) & (tr["vgrf_peak_bw"][walk] < 1.4))
    run = tr["gait"] == "run"
    assert np.all(tr["flight_time_s"][run] > 0)
    assert np.all((tr["vgrf_peak_bw"][run] > 1.8) & (tr["vgrf_peak_bw"][run] < 3.2))


def test_contact_truth_matches_force_threshold(run_clean):
    """Contact = this foot's force above 0.05 BW, as on a force plate."""
    sig, tr = run_clean.signals, _with_step(run_clean.truth)
    t = sig["t_s"]
    for side in ("left", "right"):
        f = sig[f"grf_{side}_bw"]
        on = f > 0.05
        rises = t[1:][on[1:] & ~on[:-1]]
        falls = t[1:][~on[1:] & on[:-1]]
        mine = tr["side"] == side
        for t_ic, t_to in zip(tr["t_ic_s"][mine], tr["t_to_s"][mine], strict=True):
            assert np.min(np.abs(rises - t_ic)) <= 1.0 / 400 + 1e-9
            assert np.min(np.abs(falls - t_to)) <= 1.0 / 400 + 1e-9
        # the active peak and the loading rate of the sampled force agree with the truth
        for t_ic, t_to, pk, lr in zip(tr["t_ic_s"][mine], tr["t_to_s"][mine],
                                      tr["vgrf_peak_bw"][mine], tr["loading_rate_bw_s"][mine],
                                      strict=True):
            w = (t > t_ic + 0.06) & (t < t_to)
            assert abs(f[w].max() - pk) < 0.01
            t80 = t[(t > t_ic) & (f >= 0.8 * pk)][0]
            assert abs((0.8 * pk - 0.05) / (t80 - t_ic) - lr) < 0.05 * lr


def test_truth_pelvis_follows_parameters():
    p = RunnerParams(phases=(("run", 20.0),), pelvis_angle_sd_deg=0.0, pelvic_drop_deg=6.0,
                     pelvic_tilt_rom_deg=4.0, pelvic_rotation_rom_deg=12.0)
    tr = _with_step(simulate(p, seed=1, placements=("sacrum",)).truth)
    assert np.allclose(tr["pelvic_drop_deg"], 6.0, atol=0.02)
    assert np.allclose(tr["pelvic_tilt_rom_deg"], 4.0, atol=0.05)
    assert np.allclose(tr["pelvic_rotation_rom_deg"], 12.0, atol=0.05)
    assert np.all(tr["pelvic_obliquity_rom_deg"] > 6.0)
    assert np.all(tr["pelvic_obliquity_rom_deg"] < 12.0 + 1e-6)


def test_pelvis_sign_conventions(run_clean):
    """Right stance: left side drops (obliquity < 0) and the yaw rate is negative."""
    sig, tr = run_clean.signals, _with_step(run_clean.truth)
    t = sig["t_s"]
    obl = sig["pelvis_obliquity_deg"]
    yaw_rate = np.gradient(np.radians(sig["pelvis_rotation_deg"]), t)
    for side, sign in (("right", -1), ("left", 1)):
        mine = tr["side"] == side
        for t_ic, t_to in zip(tr["t_ic_s"][mine], tr["t_to_s"][mine], strict=True):
            w = (t >= t_ic) & (t <= t_to)
            mid = (t >= t_ic + 0.3 * (t_to - t_ic)) & (t <= t_ic + 0.5 * (t_to - t_ic))
            assert np.sign(obl[w][np.argmax(np.abs(obl[w]))]) == sign
            assert np.all(np.sign(yaw_rate[mid]) == sign)


# --------------------------------------------------------------------------------------------
# sacrum physics


def test_impulse_balance_over_whole_strides(run_clean):
    sig, tr = run_clean.signals, _with_step(run_clean.truth)
    t = sig["t_s"]
    t_ic = tr["t_ic_s"]
    acc_w = _world_from_sensor(run_clean)
    assert np.allclose(acc_w, sig["sacrum_acc_world_mps2"], atol=1e-9)
    for i in range(0, t_ic.size - 5, 4):
        w = (t >= t_ic[i]) & (t < t_ic[i + 4])  # two whole strides
        assert abs(np.mean(acc_w[w, 2]) / G - 1.0) < 0.01
        assert abs(np.mean(sig["grf_total_bw"][w, 2]) - 1.0) < 0.01
        assert abs(np.mean(acc_w[w, 0])) < 0.05 * G  # constant speed: no net fore-aft force


def test_flight_is_ballistic():
    p = RunnerParams(phases=(("run", 10.0),), sacrum_offset_m=(0.0, 0.0, 0.0), **CLEAN)
    sim = simulate(p, seed=2, placements=("sacrum",))
    t, a = sim.signals["t_s"], sim.signals["sacrum_acc_world_mps2"] / G
    tr = _with_step(sim.truth)
    flight = np.zeros(t.size, dtype=bool)
    for t_to, t_next in zip(tr["t_to_s"][:-1], tr["t_ic_s"][1:], strict=True):
        flight |= (t > t_to + 0.005) & (t < t_next - 0.005)
    assert flight.sum() > 100
    assert np.max(np.abs(a[flight])) < 0.02
    # with the sensor behind the rotation centre, pelvic tilt adds a little (but stays small)
    sim2 = simulate(RunnerParams(phases=(("run", 10.0),), **CLEAN), seed=2,
                    placements=("sacrum",))
    a2 = sim2.signals["sacrum_acc_world_mps2"][:, 2] / G
    assert abs(np.mean(a2[flight])) < 0.1
    assert np.max(np.abs(a2[flight])) < 0.3


def test_vertical_oscillation_consistent_with_acceleration(run_clean):
    """Integrating the sacral acceleration gives the truth's vertical excursion."""
    sig, tr = run_clean.signals, _with_step(run_clean.truth)
    t = sig["t_s"]
    dt = t[1] - t[0]
    az = sig["sacrum_acc_world_mps2"][:, 2] - G
    v = np.concatenate([[0.0], np.cumsum(0.5 * (az[1:] + az[:-1]) * dt)])
    z = np.concatenate([[0.0], np.cumsum(0.5 * (v[1:] + v[:-1]) * dt)])
    # remove the unknown initial velocity: fit z + v0 t to the truth height
    z_true = sig["sacrum_z_m"]
    v0 = np.polyfit(t - t[0], z_true - z_true[0] - z, 1)[0]
    z_rec = z + v0 * (t - t[0]) + z_true[0]
    assert np.max(np.abs(z_rec - z_true)) < 0.002
    for i in range(tr["t_ic_s"].size):
        w = (t >= tr["t_ic_s"][i]) & (t <= tr["t_ic_s"][i] + tr["step_time_s"][i])
        assert abs(np.ptp(z_rec[w]) - tr["vertical_oscillation_m"][i]) < 0.003
    assert 0.05 < np.median(tr["vertical_oscillation_m"]) < 0.12


def test_rear_foot_impact_reaches_the_sacrum():
    base = dict(phases=(("run", 6.0),), **CLEAN)
    rear = simulate(RunnerParams(foot_strike="rear", **base), seed=0, placements=("sacrum",))
    fore = simulate(RunnerParams(foot_strike="fore", **base), seed=0, placements=("sacrum",))
    t, a, g = (rear.signals["t_s"], rear.signals["sacrum_acc_world_mps2"][:, 2] / G,
               rear.signals["grf_total_bw"][:, 2])
    tr = _with_step(rear.truth)
    assert 2.0 < np.median(tr["impact_peak_g"]) < 4.0
    for t_ic in tr["t_ic_s"]:
        w = (t >= t_ic) & (t < t_ic + 0.05)
        assert np.max(a[w] - g[w]) > 0.8  # sacrum sees more than whole-body F/m at impact
    assert np.median(tr["impact_peak_g"]) > np.median(fore.truth["impact_peak_g"]) + 0.4


def test_standing_reads_gravity_and_bias(session):
    rec = session.recording
    for s in rec.sensors:
        still = (s.t_s > 0.5) & (s.t_s < 3.0)
        norm = np.linalg.norm(s.acc_mps2[still], axis=1)
        assert abs(np.mean(norm) - G) < 0.01
        assert np.std(norm) < 0.05
        gyr_mean = np.mean(s.gyr_rads[still], axis=0)
        assert np.allclose(gyr_mean, session.gyr_bias_rads[s.placement], atol=0.001)
        assert np.allclose(session.gyr_bias_rads[s.placement], [0.02, -0.01, 0.015])
    # the stop at the end settles back to rest
    sac = rec.sensor("sacrum")
    end = sac.t_s > sac.t_s[-1] - 1.0
    assert abs(np.mean(np.linalg.norm(sac.acc_mps2[end], axis=1)) - G) < 0.01


def test_mounting_rotates_back_to_gravity_up(session):
    for s in session.recording.sensors:
        r = session.mounting[s.placement]
        assert np.allclose(r @ r.T, np.eye(3), atol=1e-12) and np.isclose(np.linalg.det(r), 1)
        assert not np.allclose(r, np.eye(3))  # default: worn any way round
        still = (s.t_s > 0.5) & (s.t_s < 3.0)
        body = s.acc_mps2[still] @ r.T
        assert np.allclose(np.mean(body, axis=0), [0.0, 0.0, G], atol=0.02)


def test_identity_and_explicit_mounting():
    p = RunnerParams(phases=(("stand", 1.0),), mounting="identity", **CLEAN)
    s = simulate(p, seed=0).recording.sensor("sacrum")
    assert np.allclose(s.acc_mps2, [0.0, 0.0, G], atol=1e-9)
    r = Rotation.from_euler("xyz", [90, 0, 30], degrees=True).as_matrix()
    p = RunnerParams(phases=(("stand", 1.0),), mounting={"sacrum": r}, **CLEAN)
    s = simulate(p, seed=0, placements=("sacrum",)).recording.sensor("sacrum")
    assert np.allclose(s.acc_mps2, r.T @ [0.0, 0.0, G], atol=1e-9)


def _integrate_gyro(r0, gyr, dt):
    """Body-frame rates -> orientation, exponential map with the mean rate of each interval."""
    steps = Rotation.from_rotvec(0.5 * (gyr[1:] + gyr[:-1]) * dt).as_matrix()
    out = np.empty((gyr.shape[0], 3, 3))
    out[0] = r0
    for i in range(steps.shape[0]):
        out[i + 1] = out[i] @ steps[i]
    return out


def test_sacral_gyro_integrates_to_the_pelvis_angles(run_clean):
    sig = run_clean.signals
    n = 4000  # 10 s
    r_true = pelvis_rotation_matrix(np.radians(sig["pelvis_tilt_deg"][:n]),
                                    np.radians(sig["pelvis_obliquity_deg"][:n]),
                                    np.radians(sig["pelvis_rotation_deg"][:n]))
    rec = run_clean.recording.sensor("sacrum")
    gyr_body = rec.gyr_rads[:n] @ run_clean.mounting["sacrum"].T
    r_int = _integrate_gyro(r_true[0], gyr_body, 1.0 / 400)
    err = Rotation.from_matrix(np.swapaxes(r_int, 1, 2) @ r_true).magnitude()
    assert np.degrees(err.max()) < 0.05
    # and a small-angle shortcut would not have been exact: the rates really are 3-D
    assert np.max(np.abs(sig["sacrum_gyr_body_rads"][:n])) > 0.5


# --------------------------------------------------------------------------------------------
# shoes


def test_shoe_kinematics_are_consistent(run_clean):
    sig, tr = run_clean.signals, _with_step(run_clean.truth)
    t = sig["t_s"]
    dt = t[1] - t[0]
    for pl, side in (("left_foot", "left"), ("right_foot", "right")):
        rec = run_clean.recording.sensor(pl)
        gyr = rec.gyr_rads @ run_clean.mounting[pl].T
        acc = rec.acc_mps2 @ run_clean.mounting[pl].T
        pos = sig[f"{pl}_pos_m"]
        mine = tr["side"] == side
        t_mid = tr["t_midstance_s"][mine]
        i0 = int(np.searchsorted(t, t_mid[1]))
        i1 = int(np.searchsorted(t, t_mid[6]))
        # orientation at the first mid-stance from its pitch/eversion, then integrate the gyro
        pitch = np.radians(sig[f"{pl}_pitch_deg"][i0])
        ev = np.radians(sig[f"{pl}_eversion_deg"][i0])
        assert abs(pitch) < 1e-9
        roll = ev * (-1 if side == "right" else 1)
        r0 = Rotation.from_euler("x", roll).as_matrix()
        r = _integrate_gyro(r0, gyr[i0:i1], dt)
        acc_w = np.einsum("nij,nj->ni", r, acc[i0:i1]) - [0.0, 0.0, G]
        acc_fd = np.gradient(np.gradient(pos[i0:i1], dt, axis=0), dt, axis=0)
        err = np.linalg.norm(acc_w - acc_fd, axis=1)[3:-3]
        # the touchdown shock is a real acceleration whose displacement is sub-millimetre;
        # away from it the two agree closely
        assert np.median(err) < 0.05
        # the integrated pitch agrees with the simulated foot angle
        elev = np.degrees(np.arcsin(r[:, 2, 0]))
        assert np.max(np.abs(elev - sig[f"{pl}_pitch_deg"][i0:i1])) < 0.2
        # still at mid-stance; one stride later the foot is one stride length further
        vel = np.gradient(pos, dt, axis=0)
        for tm in t_mid:
            assert np.linalg.norm(vel[np.searchsorted(t, tm)]) < 1e-6
        strides = tr["stride_length_m"][mine][1:]
        moved = np.diff(np.interp(t_mid, t, pos[:, 0]))
        assert np.allclose(moved, strides, atol=1e-3)
        stride_time = np.diff(t_mid)
        assert np.allclose(strides / stride_time, 3.0, rtol=0.05)


def test_foot_strike_angle_and_pronation_truth():
    for strike, lo, hi in (("rear", 8.0, 25.0), ("mid", -1.6, 8.0), ("fore", -20.0, -1.6)):
        p = RunnerParams(phases=(("run", 5.0),), foot_strike=strike, foot_angle_sd_deg=0.0)
        sim = simulate(p, seed=0)
        sig, tr = sim.signals, _with_step(sim.truth)
        assert np.all((tr["foot_strike_angle_deg"] > lo) & (tr["foot_strike_angle_deg"] < hi))
        for pl, side in (("left_foot", "left"), ("right_foot", "right")):
            mine = tr["side"] == side
            at_td = np.interp(tr["t_touchdown_s"][mine], sig["t_s"], sig[f"{pl}_pitch_deg"])
            assert np.allclose(at_td, tr["foot_strike_angle_deg"][mine], atol=0.3)
            ev = sig[f"{pl}_eversion_deg"]
            for t_td, t_mid, pron in zip(tr["t_touchdown_s"][mine], tr["t_midstance_s"][mine],
                                         tr["pronation_excursion_deg"][mine], strict=True):
                e_td = np.interp(t_td, sig["t_s"], ev)
                e_mid = np.interp(t_mid, sig["t_s"], ev)
                assert abs((e_mid - e_td) - pron) < 0.3


# --------------------------------------------------------------------------------------------
# asymmetry, fatigue, imperfections


def test_asymmetry_is_in_the_truth():
    p = RunnerParams(phases=(("run", 30.0),), asym_contact_pct=10.0, asym_drop_deg=2.0)
    tr = _with_step(simulate(p, seed=4, placements=("sacrum",)).truth)
    right, left = tr["side"] == "right", tr["side"] == "left"
    ratio = np.mean(tr["contact_time_s"][right]) / np.mean(tr["contact_time_s"][left])
    assert abs(ratio - 1.10) < 0.03
    diff = np.mean(tr["pelvic_drop_deg"][right]) - np.mean(tr["pelvic_drop_deg"][left])
    assert abs(diff - 2.0) < 0.3


def test_fatigue_drift_is_in_the_truth():
    p = RunnerParams(phases=(("walk", 10.0), ("run", 240.0)), fatigue_drop_deg_per_min=1.0,
                     fatigue_cadence_spm_per_min=-1.0, fatigue_contact_pct_per_min=2.0)
    tr = _with_step(simulate(p, seed=6, placements=("sacrum",)).truth)
    run = tr["gait"] == "run"
    t_min = (tr["t_ic_s"][run] - 10.0) / 60.0
    slope_drop = np.polyfit(t_min, tr["pelvic_drop_deg"][run], 1)[0]
    slope_cad = np.polyfit(t_min, tr["cadence_spm"][run], 1)[0]
    slope_ct = np.polyfit(t_min, tr["contact_time_s"][run], 1)[0]
    assert abs(slope_drop - 1.0) < 0.1
    assert abs(slope_cad + 1.0) < 0.3
    ct0 = np.mean(tr["contact_time_s"][run][:20])
    # +2 %/min on top of the longer steps from the falling cadence (+1/170 per min)
    assert abs(slope_ct / ct0 - (0.02 + 1.0 / 170.0)) < 0.003
    # walking does not tire
    assert np.all(np.abs(tr["pelvic_drop_deg"][~run] - 3.5) < 2.0)


def test_dropped_samples_gaps_and_jitter():
    p = RunnerParams(phases=(("run", 20.0),), drop_prob=0.01, gaps=((5.0, 1.5),),
                     clock_jitter_s=0.0004)
    sim = simulate(p, seed=9)
    for s in sim.recording.sensors:
        n_full = 20 * 400
        assert n_full - 700 < len(s) < n_full - 600  # 1.5 s gap + ~1 % drops
        assert np.all(np.diff(s.t_s) > 0)
        gaps = find_gaps(s.t_s, s.rate_hz)
        assert len(gaps) == 1
        assert abs(s.t_s[gaps[0] - 1] - 5.0) < 0.01 and abs(s.t_s[gaps[0]] - 6.5) < 0.01
        dt = np.diff(s.t_s)
        single = dt < 1.5 / 400
        assert 0.0002 < np.std(dt[single]) < 0.0008  # jitter of two stamps, clipped
    crossing = (sim.truth["t_ic_s"] < 6.5) & (sim.truth["t_ic_s"] + sim.truth["step_time_s"] > 5)
    assert np.array_equal(~crossing, sim.truth["fully_recorded"])


def test_no_gyro_option():
    sim = simulate(RunnerParams(phases=(("run", 2.0),), include_gyro=False), seed=0)
    assert all(s.gyr_rads is None for s in sim.recording.sensors)


def test_demo_params_describe_a_tiring_session():
    p = demo_params()
    kinds = [k for k, _ in p.phases]
    assert kinds == ["stand", "walk", "run"]
    assert abs(p.duration_s - 600.0) < 1e-9
    assert 15 <= p.phases[0][1] <= 25 and 25 <= p.phases[1][1] <= 35
    drop_end = p.pelvic_drop_deg + p.fatigue_drop_deg_per_min * p.phases[2][1] / 60.0
    assert p.pelvic_drop_deg == pytest.approx(4.0) and drop_end == pytest.approx(8.0)
    assert p.drop_prob > 0 and p.clock_jitter_s > 0 and p.asym_drop_deg != 0
    short = demo_params(minutes=3.0)
    assert abs(short.duration_s - 180.0) < 1e-9
    run_min = short.phases[2][1] / 60.0
    assert short.pelvic_drop_deg + short.fatigue_drop_deg_per_min * run_min == pytest.approx(8.0)


# --------------------------------------------------------------------------------------------
# property test over runners


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cadence=st.floats(150.0, 200.0), speed=st.floats(2.0, 6.0),
       strike=st.sampled_from(["rear", "mid", "fore"]), duty=st.floats(0.28, 0.42),
       seed=st.integers(0, 10_000))
def test_any_runner_gives_finite_signals_and_consistent_truth(cadence, speed, strike, duty,
                                                               seed):
    p = RunnerParams(phases=(("run", 6.0),), cadence_spm=cadence, speed_mps=speed,
                     foot_strike=strike, duty_factor=duty)
    sim = simulate(p, seed=seed)
    for s in sim.recording.sensors:
        assert np.all(np.isfinite(s.acc_mps2)) and np.all(np.isfinite(s.gyr_rads))
        assert np.all(np.abs(s.acc_mps2) <= 16 * G + 1e-9)
    tr = _with_step(sim.truth)
    assert tr["t_ic_s"].size >= 12
    assert np.all(_consecutive(tr))
    assert np.allclose(tr["contact_time_s"] + tr["flight_time_s"], tr["step_time_s"])
    assert np.allclose(tr["cadence_spm"], 60.0 / tr["step_time_s"])
    assert abs(np.mean(tr["cadence_spm"]) - cadence) < 0.03 * cadence
    assert abs(np.mean(tr["duty_factor"]) - duty) < 0.02
    assert np.all((tr["vgrf_peak_bw"] > 1.5) & (tr["vgrf_peak_bw"] < 4.5))
    assert np.all((tr["vertical_oscillation_m"] > 0.02) & (tr["vertical_oscillation_m"] < 0.25))
    assert np.allclose(np.nanmedian(tr["speed_mps"]), speed, rtol=0.03)
    t = sim.signals["t_s"]
    a = sim.signals["sacrum_acc_world_mps2"][:, 2]
    i_last = tr["t_ic_s"].size - 1 - ((tr["t_ic_s"].size - 1) % 2)
    w = (t >= tr["t_ic_s"][0]) & (t < tr["t_ic_s"][i_last])
    assert abs(np.mean(a[w]) / G - 1.0) < 0.01
