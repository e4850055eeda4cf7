"""Sensor-to-body alignment and still-period detection on synthetic gait with known axes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from imu_hip.dsp.alignment import Alignment, estimate_alignment
from imu_hip.dsp.still import still_mask
from imu_hip.model import G, InputError

RATE = 100.0


def body_gait(kind: str, duration_s: float = 30.0, rate_hz: float = RATE, seed: int = 0):
    """Body-frame specific force (n, 3) m/s² of a sacral sensor (x forward, y left, z up).

    Built from the ground reaction force over each step, with step-to-step jitter and noise:

    - running (spring-mass): stance 35 % of the stride per foot; vertical force
      ``Fpk sin(πs)`` over the stance fraction s (mean 1 BW over a step) plus a heel-strike
      impact; anteroposterior ``−A sin(2πs)`` (braking, then propulsion); zero in flight.
    - walking (inverted pendulum): vertical ``1 + 0.25 cos(2π(s − 0.1))`` per step (peaks in
      double support just after initial contact); forward a smoothed sawtooth with a fast fall
      just after contact (braking) and a slow rise to a peak just before the next contact
      (propulsion), as measured at the lower back (Zijlstra & Hof 2003); its fundamental is
      ``−c sin(2π(s − 0.05))``: the forward speed is lowest at mid-stance, when the pelvis is
      highest.
    - mediolateral: toward the stance foot, alternating every step.
    """
    rng = np.random.default_rng(seed)
    n = int(duration_s * rate_hz)
    step_s = 0.34 if kind == "run" else 0.55
    durations = step_s * (1 + 0.03 * rng.standard_normal(int(1.2 * duration_s / step_s) + 10))
    edges = np.concatenate(([0.0], np.cumsum(durations)))
    t = np.arange(n) / rate_hz
    k = np.searchsorted(edges, t, side="right") - 1
    s = (t - edges[k]) / durations[k]  # phase within the step, 0 at initial contact
    side = np.where(k % 2 == 0, 1.0, -1.0)  # +1 right stance: the force pushes the pelvis left
    amp = 1 + 0.1 * rng.standard_normal(len(durations))[k]
    if kind == "run":
        duty = 0.7  # stance share of a step
        u = s / duty
        stance = u < 1
        fpk = np.pi / (2 * duty)
        impact = 0.6 * np.exp(-0.5 * ((u - 0.06) / 0.025) ** 2)
        fv = np.where(stance, fpk * np.sin(np.pi * np.clip(u, 0, 1)) + impact, 0.0)
        fap = np.where(stance, -0.45 * amp * np.sin(2 * np.pi * u) - 0.5 * impact, 0.0)
        fml = np.where(stance, 0.12 * side * np.sin(np.pi * np.clip(u, 0, 1)), 0.0)
    elif kind == "walk":
        fv = 1 + amp * (0.25 * np.cos(2 * np.pi * (s - 0.1)) + 0.06 * np.cos(4 * np.pi * s))
        # sawtooth: slow rise through single support to a peak just before the next contact,
        # fast fall (braking) right after contact; smoothed over 40 ms
        rise = (s - 0.12) % 1.0 < 0.85
        saw = np.where(rise, -1 + 2 * ((s - 0.12) % 1.0) / 0.85,
                       1 - 2 * (((s - 0.97) % 1.0) / 0.15))
        w = max(1, int(0.04 * rate_hz))
        saw = np.convolve(np.pad(saw, w, mode="edge"), np.ones(w) / w, "same")[w:-w]
        fap = 0.2 * amp * saw
        fml = 0.1 * side * np.sin(np.pi * s)
    else:
        raise ValueError(kind)
    acc = G * np.column_stack((fap, fml, fv))
    return acc + rng.normal(0.0, 0.3, acc.shape)


def _axes_errors(al: Alignment, sensor_from_body: np.ndarray) -> tuple[float, float, float]:
    """Angle (deg) of recovered up and forward from the truth, and cos of forward vs truth."""
    true_up = sensor_from_body[:, 2]
    true_fwd = sensor_from_body[:, 0]
    up_err = np.degrees(np.arccos(np.clip(al.rotation[2] @ true_up, -1, 1)))
    fwd_err = np.degrees(np.arccos(np.clip(al.rotation[0] @ true_fwd, -1, 1)))
    return up_err, fwd_err, float(al.rotation[0] @ true_fwd)


def _check_rotation(rot: np.ndarray) -> None:
    np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
    assert np.linalg.det(rot) == pytest.approx(1.0)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), kind=st.sampled_from(["run", "walk"]))
def test_recovers_random_rotations(seed, kind):
    q = Rotation.random(random_state=seed).as_matrix()  # sensor = q @ body
    body = body_gait(kind, seed=seed)
    acc = body @ q.T
    al = estimate_alignment(acc, None, RATE)
    _check_rotation(al.rotation)
    up_err, fwd_err, _ = _axes_errors(al, q)
    assert up_err < 2.0
    assert fwd_err < 5.0  # includes the sign: a flipped forward would be ~180°
    assert al.forward_quality > 0.5 and al.vertical_quality > 0.8
    # apply() maps the sensor signals back to the body frame
    # (against the synthetic signal's own mean: its impulse balance is only approximate)
    np.testing.assert_allclose(al.apply(acc).mean(axis=0), body.mean(axis=0), atol=0.3)


@pytest.mark.parametrize("kind", ["run", "walk"])
def test_sign_follows_the_physics_not_the_axis_labels(kind):
    """Mirroring the forward axis of the input (a sensor worn back to front) flips the result."""
    acc = body_gait(kind, seed=11)
    flip = np.diag([-1.0, -1.0, 1.0])  # rotation by 180° about z: sensor x points backward
    a = estimate_alignment(acc, None, RATE)
    b = estimate_alignment(acc @ flip.T, None, RATE)
    assert a.rotation[0] @ [1, 0, 0] > 0.99
    assert b.rotation[0] @ [-1, 0, 0] > 0.99


def test_walking_and_running_in_one_recording():
    rng = np.random.default_rng(5)
    q = Rotation.random(random_state=rng).as_matrix()
    acc = np.concatenate((body_gait("walk", 20, seed=1), body_gait("run", 40, seed=2))) @ q.T
    al = estimate_alignment(acc, None, RATE)
    up_err, fwd_err, _ = _axes_errors(al, q)
    assert up_err < 2.0 and fwd_err < 5.0
    assert "running" in al.method and "walking" in al.method


def test_biaxial_sensor():
    """Vertical and anteroposterior axes only, sensor tilted 20° in the sagittal plane; the
    mediolateral axis is missing (all zeros)."""
    beta = np.radians(20.0)
    tilt = Rotation.from_rotvec([0.0, beta, 0.0]).as_matrix()
    perm = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # x<-z, y<-x, z<-y
    q = perm @ tilt  # sensor = q @ body
    acc = body_gait("run", seed=3) @ q.T
    acc[:, 2] = 0.0
    al = estimate_alignment(acc, None, RATE)
    up_err, fwd_err, _ = _axes_errors(al, q)
    assert up_err < 2.0 and fwd_err < 5.0
    assert "biaxial" in al.method
    assert 0.2 < al.forward_quality <= 0.5  # capped: the missing axis cannot be checked
    # a biaxial sensor with the forward axis reversed is still resolved
    acc[:, 1] *= -1
    al = estimate_alignment(acc, None, RATE)
    assert al.rotation[0] @ (q[:, 0] * [1, -1, 1]) > 0.99


def test_with_and_without_gyro_agree_during_gait():
    rng = np.random.default_rng(6)
    q = Rotation.random(random_state=rng).as_matrix()
    acc = body_gait("run", seed=6) @ q.T
    gyr = rng.normal(0, 0.5, acc.shape)
    a = estimate_alignment(acc, gyr, RATE)
    b = estimate_alignment(acc, None, RATE)
    np.testing.assert_allclose(a.rotation, b.rotation, atol=1e-9)


def test_standing_only_has_no_forward():
    rng = np.random.default_rng(7)
    q = Rotation.random(random_state=rng).as_matrix()
    n = int(30 * RATE)
    acc = np.tile(q @ [0.0, 0.0, G], (n, 1)) + rng.normal(0, 0.02, (n, 3))
    gyr = rng.normal(0, 0.002, (n, 3))
    al = estimate_alignment(acc, gyr, RATE)
    _check_rotation(al.rotation)
    up_err, _, _ = _axes_errors(al, q)
    assert up_err < 0.5
    assert al.forward_quality == 0.0
    assert al.vertical_quality > 0.9
    assert "fallback" in al.method


def test_standing_then_running_uses_gait_for_vertical():
    """Standing 20 s with the pelvis 10° anteriorly tilted, then running upright: the vertical
    comes from the running part."""
    rng = np.random.default_rng(8)
    lean = Rotation.from_rotvec([0.0, np.radians(10.0), 0.0]).as_matrix()
    stand = np.tile(lean.T @ [0.0, 0.0, G], (int(20 * RATE), 1))
    acc = np.concatenate((stand + rng.normal(0, 0.02, stand.shape), body_gait("run", 30)))
    al = estimate_alignment(acc, None, RATE)
    assert np.degrees(np.arccos(al.rotation[2] @ [0, 0, 1])) < 1.5


def test_bad_input():
    with pytest.raises(InputError):
        estimate_alignment(np.zeros((100, 2)), None, RATE)
    with pytest.raises(InputError):  # too short
        estimate_alignment(body_gait("run", 1.0), None, RATE)
    with pytest.raises(InputError):  # in g, not m/s²
        estimate_alignment(body_gait("run", 10.0) / G / 9.0, None, RATE)
    with pytest.raises(InputError):
        estimate_alignment(body_gait("run", 10.0), np.zeros((5, 3)), RATE)


# --- still periods -----------------------------------------------------------------------------

def _still_moving_sequence(rng):
    """5 s still, 5 s running, 1 s still, 4 s running, 4 s still (m/s², rad/s)."""
    parts, truth = [], []
    for kind, dur in (("still", 5), ("run", 5), ("still", 1), ("run", 4), ("still", 4)):
        n = int(dur * RATE)
        if kind == "still":
            acc = np.tile([0.3, -0.2, G], (n, 1)) + rng.normal(0, 0.03, (n, 3))
            gyr = np.array([0.01, -0.02, 0.015]) + rng.normal(0, 0.003, (n, 3))  # with bias
        else:
            acc = body_gait("run", dur, seed=int(rng.integers(1 << 30)))
            gyr = rng.normal(0, 1.0, (n, 3))
        parts.append((acc, gyr))
        truth.append(np.full(n, kind == "still" and dur >= 2))
    acc = np.concatenate([p[0] for p in parts])
    gyr = np.concatenate([p[1] for p in parts])
    return acc, gyr, np.concatenate(truth)


@pytest.mark.parametrize("use_gyro", [True, False])
def test_still_mask_on_still_and_moving_data(use_gyro):
    rng = np.random.default_rng(9)
    acc, gyr, truth = _still_moving_sequence(rng)
    mask = still_mask(acc, gyr if use_gyro else None, RATE, min_duration_s=2.0)
    edge = int(0.5 * RATE)  # half the 0.5 s window plus margin around transitions
    change = np.flatnonzero(np.diff(truth.astype(int)) != 0)
    near = np.zeros(len(truth), dtype=bool)
    for c in change:
        near[max(0, c - edge):c + edge] = True
    assert np.array_equal(mask[~near], truth[~near])
    assert not np.any(mask[~truth])  # never still while moving, nor in the 1 s pause


def test_still_mask_gyro_motion_without_acceleration_change():
    """Slow rotation with almost constant |a| is caught by the gyroscope."""
    n = int(10 * RATE)
    t = np.arange(n) / RATE
    ang = 0.3 * np.sin(2 * np.pi * 0.5 * t)
    acc = np.column_stack((G * np.sin(ang), np.zeros(n), G * np.cos(ang)))
    gyr = np.column_stack((np.zeros(n), 0.3 * 2 * np.pi * 0.5 * np.cos(2 * np.pi * 0.5 * t),
                           np.zeros(n)))
    assert np.all(still_mask(acc, None, RATE))  # |a| constant: the accelerometer sees nothing
    assert not np.any(still_mask(acc, gyr, RATE))


def test_still_mask_nan_breaks_stillness():
    rng = np.random.default_rng(10)
    n = int(10 * RATE)
    acc = np.tile([0.0, 0.0, G], (n, 1)) + rng.normal(0, 0.02, (n, 3))
    acc[int(1.5 * RATE)] = np.nan
    mask = still_mask(acc, None, RATE, min_duration_s=2.0)
    assert not np.any(mask[: int(1.5 * RATE) + 1])  # 0-1.5 s is shorter than 2 s
    assert np.all(mask[int(2 * RATE):])
    assert still_mask(np.zeros((0, 3)), None, RATE).shape == (0,)


def _tilted_run(seed: int = 4) -> np.ndarray:
    """Running, sensor pitched 20° about the mediolateral axis (sensor = tilt @ body)."""
    tilt = Rotation.from_rotvec([0.0, np.radians(20.0), 0.0]).as_matrix()
    return body_gait("run", seed=seed) @ tilt.T


def test_clipped_vertical_channel_is_kept_and_reported():
    """Negative values of the vertical channel set to 0 (as in published pre-processed data):
    rotating by the tilt would spread the cut flight samples into every axis, so the clipped
    axis stays vertical and the tilt left in is reported."""
    acc = _tilted_run()
    clean = estimate_alignment(acc, None, RATE)
    assert clean.clipped == "" and clean.tilt_left_deg == 0.0
    assert np.degrees(np.arccos(clean.rotation[2, 2])) == pytest.approx(20.0, abs=2.0)
    cut = acc.copy()
    cut[:, 2] = np.maximum(cut[:, 2], 0.0)
    al = estimate_alignment(cut, None, RATE)
    _check_rotation(al.rotation)
    np.testing.assert_array_equal(al.rotation[2], [0.0, 0.0, 1.0])
    assert al.tilt_left_deg == pytest.approx(20.0, abs=3.0)
    assert "axis z" in al.clipped and "clipped" in al.method
    assert al.vertical_quality < 0.5 * clean.vertical_quality
    assert al.rotation[0] @ [1.0, 0.0, 0.0] > 0.99  # forward still found, perpendicular to z
    # the same axis pointing down (clipped at its top, which is the vertical's low end)
    flipped = cut * [1.0, -1.0, -1.0]  # the sensor turned 180° about x: y and z change sign
    al = estimate_alignment(flipped, None, RATE)
    np.testing.assert_array_equal(al.rotation[2], [0.0, 0.0, -1.0])
    assert al.clipped


def test_range_limit_and_quantisation_are_not_a_clipped_vertical():
    """A range limit at the top cuts only impact peaks (the pipeline handles those per step),
    and a quantised signal of someone standing repeats its lowest value without being cut:
    the alignment rotates as usual."""
    acc = np.clip(_tilted_run(), -1.8 * G, 1.8 * G)
    assert np.mean(np.abs(acc) == 1.8 * G) > 0.01  # it did cut
    top = estimate_alignment(acc, None, RATE)
    assert top.clipped == ""
    true_up = Rotation.from_rotvec([0.0, np.radians(20.0), 0.0]).as_matrix()[:, 2]
    assert top.rotation[2] @ true_up > np.cos(np.radians(3.0))  # the tilt is still removed
    rng = np.random.default_rng(9)
    q = Rotation.from_rotvec([0.1, 0.3, 0.0]).as_matrix()
    n = int(30 * RATE)
    stand = np.tile(q @ [0.0, 0.0, G], (n, 1)) + rng.normal(0, 0.02, (n, 3))
    lsb = G / 256  # an 8-bit reading of +-4 g
    stand = np.round(stand / lsb) * lsb
    al = estimate_alignment(stand, None, RATE)
    assert al.clipped == ""
    assert np.degrees(np.arccos(np.clip(al.rotation[2] @ (q @ [0, 0, 1.0]), -1, 1))) < 0.5


@pytest.mark.parametrize("lsb_g", [0.03125, 0.0625, 0.125])
def test_a_coarse_accelerometer_is_not_a_clipped_vertical(lsb_g):
    """Coarse steps pile the flight samples on the lowest level or two (31 mg: a 10-bit reading
    of +-16 g), which is not a clip: the tilt is still removed."""
    from imu_hip.sim import RunnerParams, simulate

    for seed in (4, 6):  # runners on which an earlier rule misfired
        sim = simulate(RunnerParams(phases=(("run", 30.0),), rate_hz=100.0), seed=seed,
                       placements=("sacrum",))
        s = sim.recording.sensor("sacrum")
        acc = np.round(s.acc_mps2 / (lsb_g * G)) * (lsb_g * G)
        al = estimate_alignment(acc, s.gyr_rads, 100.0)
        assert al.clipped == "", (seed, al.clipped)
        up_true = sim.mounting["sacrum"][2]
        assert np.degrees(np.arccos(np.clip(al.rotation[2] @ up_true, -1, 1))) < 5.0


def test_zero_filled_dropouts_are_not_a_clipped_vertical():
    """Loggers fill lost rows with zeros: 1.5 % of the rows of a tilted walk."""
    tilt = Rotation.from_rotvec([0.0, np.radians(25.0), 0.0]).as_matrix()
    acc = body_gait("walk", seed=2) @ tilt.T
    rng = np.random.default_rng(3)
    acc[rng.choice(acc.shape[0], int(0.015 * acc.shape[0]), replace=False)] = 0.0
    al = estimate_alignment(acc, None, RATE)
    assert al.clipped == ""
    assert np.degrees(np.arccos(np.clip(al.rotation[2] @ tilt[:, 2], -1, 1))) < 3.0
