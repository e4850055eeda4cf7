"""Pelvis orientation: block-split invariance, accuracy against the exact rotation, gyro bias."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imu_hip.dsp.orientation import (
    PelvisOrientation,
    cumulative_rotation,
    pelvis_angles_deg,
    rotation_increments,
)
from imu_hip.metrics.pelvis import pelvis_step_metrics
from imu_hip.model import G, InputError

STRIDE_HZ = 1.4
OBLIQUITY_DEG, TILT_DEG, ROTATION_DEG = 8.0, 5.0, 10.0
NEUTRAL_OBLIQUITY_DEG, NEUTRAL_TILT_DEG = 1.5, 12.0


def _rot_x(a):
    c, s = np.cos(a), np.sin(a)
    o, i = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([i, o, o], -1), np.stack([o, c, -s], -1),
                     np.stack([o, s, c], -1)], -2)


def _rot_y(a):
    c, s = np.cos(a), np.sin(a)
    o, i = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, o, s], -1), np.stack([o, i, o], -1),
                     np.stack([-s, o, c], -1)], -2)


def _rot_z(a):
    c, s = np.cos(a), np.sin(a)
    o, i = np.zeros_like(a), np.ones_like(a)
    return np.stack([np.stack([c, -s, o], -1), np.stack([s, c, o], -1),
                     np.stack([o, o, i], -1)], -2)


def simulate_pelvis(rate_hz=200.0, standing_s=12.0, running_s=40.0, bias_rads=(0, 0, 0),
                    stride_hz=STRIDE_HZ, duty=0.35):
    """Standing still, then running; exact body-frame IMU signals and the true Z-X-Y angles.

    Running: obliquity −A sin(p) (right stance, p in (0, π): left side drops), tilt at step
    frequency, rotation A cos(p) (right hip forward at right IC); every amplitude fades in over
    2 s. World specific force from a stance-phase ground-force model: vertical G·Fpk·sin(πs),
    anteroposterior −0.4 G sin(2πs) (braking, then propulsion), mediolateral toward the stance
    side, zero in flight. Returns acc (n, 3), gyr (n, 3), truth angles (n, 3) deg, and per step
    IC, TO, next IC sample indices and side.
    """
    n = int((standing_s + running_s) * rate_hz)
    t = np.arange(n) / rate_hz
    tr = t - standing_s
    ramp = np.clip(tr / 2.0, 0.0, 1.0)
    env = 0.5 - 0.5 * np.cos(np.pi * ramp)
    denv = np.where((tr > 0) & (tr < 2.0), 0.25 * np.pi * np.sin(np.pi * ramp), 0.0)
    w = 2 * np.pi * stride_hz
    p = w * np.maximum(tr, 0.0)
    d = np.radians

    def wave(a, f, df, neutral=0.0):  # neutral + env * a * f(p), and its time derivative
        return d(neutral) + env * d(a) * f, denv * d(a) * f + env * d(a) * df * w

    phi, dphi = wave(OBLIQUITY_DEG, -np.sin(p) - 0.2 * np.sin(3 * p),
                     -np.cos(p) - 0.6 * np.cos(3 * p), NEUTRAL_OBLIQUITY_DEG)
    th, dth = wave(TILT_DEG, np.sin(2 * p + 0.4), 2 * np.cos(2 * p + 0.4), NEUTRAL_TILT_DEG)
    psi, dpsi = wave(ROTATION_DEG, np.cos(p), -np.sin(p))
    rot = _rot_z(psi) @ _rot_x(phi) @ _rot_y(th)
    up = np.stack([-np.sin(th) * np.cos(phi), np.sin(phi), np.cos(th) * np.cos(phi)], 1)
    gyr = (dpsi[:, None] * up
           + dphi[:, None] * np.stack([np.cos(th), 0 * th, np.sin(th)], 1)
           + dth[:, None] * np.array([0.0, 1.0, 0.0]))
    # Stance-phase force model: one stance per step, right steps start at p = 0 (mod 2π).
    step_phase = (p / np.pi) % 1.0
    s = step_phase / (2 * duty)  # fraction of stance
    stance = s < 1.0
    fpk = np.pi / (4 * duty)  # mean vertical force over a step = 1 BW
    right = (p / np.pi) % 2.0 < 1.0
    fv = np.where(stance, fpk * np.sin(np.pi * s), 0.0)
    fap = np.where(stance, -0.4 * np.sin(2 * np.pi * s), 0.0)
    fml = np.where(stance, np.where(right, -0.15, 0.15) * np.sin(np.pi * s), 0.0)
    running = tr > 0
    f_world = np.column_stack((
        np.where(running, env * fap, 0.0),
        np.where(running, env * fml, 0.0),
        np.where(running, 1.0 + env * (fv - 1.0), 1.0),
    )) * G
    acc = np.einsum("nji,nj->ni", rot, f_world)
    gyr = gyr + np.asarray(bias_rads, dtype=np.float64)
    truth = np.degrees(np.column_stack((phi, th, psi)))
    step_s = 0.5 / stride_hz
    ic_t = standing_s + np.arange(0.0, running_s - step_s, step_s)
    ic = ic_t * rate_hz
    to = ic + 2 * duty * step_s * rate_hz
    nxt = ic + step_s * rate_hz
    sides = np.where(np.arange(len(ic)) % 2 == 0, "right", "left")
    return acc, gyr, truth, (ic, to, nxt, sides)


def _exact_integration(gyr, rate_hz, r0):
    """Reference: per-sample quaternion integration of the body rates.

    Rotation vector per interval: mean rate × dt plus the two-sample coning term
    (ω_a × ω_b) dt² / 12 (exact to third order for rates varying linearly over the interval).
    """
    dt = 1.0 / rate_hz
    q = np.array([1.0, 0.0, 0.0, 0.0])
    # r0 -> quaternion (r0 is a rotation matrix, trace-based conversion, r0 near identity).
    w = np.sqrt(max(1e-12, 1 + np.trace(r0))) / 2
    q = np.array([w, (r0[2, 1] - r0[1, 2]) / (4 * w), (r0[0, 2] - r0[2, 0]) / (4 * w),
                  (r0[1, 0] - r0[0, 1]) / (4 * w)])
    out = np.empty((len(gyr), 3, 3))
    prev = gyr[0]
    for i, g in enumerate(gyr):
        v = (0.5 * (prev + g) * dt + np.cross(prev, g) * dt * dt / 12) if i else np.zeros(3)
        prev = g
        a = np.linalg.norm(v)
        dq = np.concatenate(([np.cos(a / 2)], np.sinc(a / 2 / np.pi) * v / 2))
        w0, x0, y0, z0 = q
        w1, x1, y1, z1 = dq
        q = np.array([w0 * w1 - x0 * x1 - y0 * y1 - z0 * z1, w0 * x1 + x0 * w1 + y0 * z1 - z0 * y1,
                      w0 * y1 - x0 * z1 + y0 * w1 + z0 * x1, w0 * z1 + x0 * y1 - y0 * x1 + z0 * w1])
        w0, x0, y0, z0 = q
        out[i] = [[1 - 2 * (y0 * y0 + z0 * z0), 2 * (x0 * y0 - w0 * z0), 2 * (x0 * z0 + w0 * y0)],
                  [2 * (x0 * y0 + w0 * z0), 1 - 2 * (x0 * x0 + z0 * z0), 2 * (y0 * z0 - w0 * x0)],
                  [2 * (x0 * z0 - w0 * y0), 2 * (y0 * z0 + w0 * x0), 1 - 2 * (x0 * x0 + y0 * y0)]]
    return out


def test_cumulative_rotation_matches_sequential_products():
    rng = np.random.default_rng(0)
    for m in (1, 5, 33, 100, 1000):
        inc = rotation_increments(rng.normal(0, 0.05, (3, m)))
        r0 = rotation_increments(rng.normal(0, 1, (3, 1)))[:, :, 0]
        seq = np.empty((3, 3, m))
        acc = r0
        for i in range(m):
            acc = acc @ inc[:, :, i]
            seq[:, :, i] = acc
        np.testing.assert_allclose(cumulative_rotation(r0, inc.copy()), seq, atol=1e-12)


def test_rotation_increments_large_and_small_angles():
    rng = np.random.default_rng(1)
    for scale in (1e-6, 0.01, 0.8):
        v = rng.normal(0, scale, (3, 50))
        r = rotation_increments(v)
        # orthonormal, det +1, and exp([v]x) v = v (the axis is fixed)
        rt_r = np.einsum("jik,jlk->ilk", r, r)
        np.testing.assert_allclose(rt_r, np.broadcast_to(np.eye(3)[:, :, None], rt_r.shape),
                                   atol=1e-12)
        np.testing.assert_allclose(np.einsum("ijk,jk->ik", r, v), v, atol=1e-12)
        # skew part = sin(θ) axis
        th = np.linalg.norm(v, axis=0)
        np.testing.assert_allclose(0.5 * (r[2, 1] - r[1, 2]), np.sin(th) * v[0] / th, atol=1e-12)


def test_synthetic_gyro_is_consistent_with_truth():
    """Guard the test signal itself: integrating its gyro reproduces the true orientation."""
    acc, gyr, truth, _ = simulate_pelvis(rate_hz=200.0, standing_s=2.0, running_s=8.0)
    ph, th, ps = np.radians(truth).T
    r_true = _rot_z(ps) @ _rot_x(ph) @ _rot_y(th)
    r_int = _exact_integration(gyr, 200.0, r_true[0])
    err = np.degrees(np.arccos(np.clip((np.einsum("nji,nji->n", r_int, r_true) - 1) / 2, -1, 1)))
    assert err.max() < 0.05  # trapezoid-rule error of sampled rates, O(dt²)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=3000), min_size=1, max_size=12))
def test_block_split_invariance(cuts):
    acc, gyr, _, _ = _SHORT
    n = len(acc)
    bounds = sorted({0, n, *[c % (n + 1) for c in cuts]})
    stage = PelvisOrientation(100.0, init_s=1.0)
    parts = [stage.push(acc[a:b], gyr[a:b]) for a, b in zip(bounds[:-1], bounds[1:],
                                                            strict=True)]
    np.testing.assert_allclose(np.concatenate(parts), _SHORT_WHOLE, rtol=0, atol=1e-9)


_SHORT = simulate_pelvis(rate_hz=100.0, standing_s=3.0, running_s=27.0)
_SHORT_WHOLE = pelvis_angles_deg(_SHORT[0], _SHORT[1], 100.0, init_s=1.0)


def test_internal_segmentation_does_not_matter(monkeypatch):
    """Long pushes are processed in segments and chunks; their sizes must not change results."""
    import imu_hip.dsp.orientation as orientation

    acc, gyr, _, _ = _SHORT
    monkeypatch.setattr(orientation, "_SEGMENT", 777)
    monkeypatch.setattr(orientation, "_CHUNK", 13)
    np.testing.assert_allclose(pelvis_angles_deg(acc, gyr, 100.0, init_s=1.0), _SHORT_WHOLE,
                               rtol=0, atol=1e-9)


def test_whole_signal_function_equals_one_push():
    acc, gyr, _, _ = _SHORT
    a = PelvisOrientation(100.0).push(acc, gyr)
    b = pelvis_angles_deg(acc, gyr, 100.0)
    np.testing.assert_array_equal(a, b)


def _metrics(angles, steps, neutral):
    ic, to, nxt, side = steps
    return pelvis_step_metrics(angles, ic, to, nxt, side, neutral)


@pytest.mark.parametrize("rate_hz", [100.0, 400.0])
def test_accuracy_against_exact_rotation(rate_hz):
    """Running pelvis motion (obliquity ±8°, tilt ±5°, rotation ±10° at 1.4 Hz strides)."""
    acc, gyr, truth, steps = simulate_pelvis(rate_hz=rate_hz)
    est = pelvis_angles_deg(acc, gyr, rate_hz)
    settled = np.arange(len(acc)) > 8 * rate_hz
    err = est[settled, :2] - truth[settled, :2]
    assert np.abs(err).max() < 0.3  # obliquity and tilt, absolute, degrees
    # step metrics after the ramp (skip 4 s of running)
    use = steps[0] > (12.0 + 4.0) * rate_hz
    steps = tuple(s[use] for s in steps)
    neutral_est = est[int(4 * rate_hz):int(10 * rate_hz)].mean(axis=0)
    m_est = _metrics(est, steps, neutral_est)
    m_true = _metrics(truth, steps, [NEUTRAL_OBLIQUITY_DEG, NEUTRAL_TILT_DEG, 0.0])
    for key in ("pelvic_tilt_rom_deg", "pelvic_obliquity_rom_deg", "pelvic_rotation_rom_deg"):
        assert np.nanmax(np.abs(m_est[key] - m_true[key])) < 0.5, key
    assert np.nanmax(np.abs(m_est["pelvic_drop_deg"] - m_true["pelvic_drop_deg"])) < 1.0
    # The drop really was measured (both sides, close to the 8° amplitude).
    assert np.all(m_true["pelvic_drop_deg"] > 6.0)


def test_gyro_bias_leaves_ranges_and_drop():
    bias = np.radians([0.4, -0.3, 0.5])  # rad/s: a roughly calibrated MEMS gyro
    rate = 100.0
    acc, gyr, truth, steps = simulate_pelvis(rate_hz=rate, bias_rads=bias)
    est = pelvis_angles_deg(acc, gyr, rate)
    ref = pelvis_angles_deg(*simulate_pelvis(rate_hz=rate)[:2], rate)
    settled = np.arange(len(acc)) > 10 * rate
    offset = (est - ref)[settled, :2]
    # absolute tilt/obliquity shift stays within the documented √2 |b| / (2π f_c) bound
    bound = np.degrees(np.sqrt(2) * np.linalg.norm(bias) / (2 * np.pi * 0.1))
    assert np.abs(offset).max() < bound
    use = steps[0] > 16.0 * rate
    steps = tuple(s[use] for s in steps)
    neutral = est[int(6 * rate):int(11 * rate)].mean(axis=0)
    m_est = _metrics(est, steps, neutral)
    m_true = _metrics(truth, steps, [NEUTRAL_OBLIQUITY_DEG, NEUTRAL_TILT_DEG, 0.0])
    for key in ("pelvic_tilt_rom_deg", "pelvic_obliquity_rom_deg", "pelvic_rotation_rom_deg"):
        assert np.nanmax(np.abs(m_est[key] - m_true[key])) < 0.5, key
    assert np.nanmax(np.abs(m_est["pelvic_drop_deg"] - m_true["pelvic_drop_deg"])) < 1.0


def test_standing_tilted_reads_the_tilt():
    rate = 100.0
    n = int(20 * rate)
    tilt, obl = np.radians(10.0), np.radians(-4.0)
    r = _rot_x(np.array([obl]))[0] @ _rot_y(np.array([tilt]))[0]
    acc = np.tile(r.T @ np.array([0.0, 0.0, G]), (n, 1))
    rng = np.random.default_rng(3)
    acc += rng.normal(0, 0.02, acc.shape)
    gyr = rng.normal(0, 0.003, acc.shape)
    ang = pelvis_angles_deg(acc, gyr, rate)
    np.testing.assert_allclose(ang[-200:, :2].mean(axis=0), [-4.0, 10.0], atol=0.1)


def test_bad_input():
    stage = PelvisOrientation(100.0)
    with pytest.raises(InputError):
        stage.push(np.zeros((10, 3)), np.zeros((9, 3)))
    with pytest.raises(InputError):
        stage.push(np.full((10, 3), np.nan), np.zeros((10, 3)))
    with pytest.raises(InputError):
        PelvisOrientation(100.0, crossover_hz=30.0)
    with pytest.raises(InputError):
        stage.push(np.zeros((10, 3)), None)
    assert stage.push(np.zeros((0, 3)), np.zeros((0, 3))).shape == (0, 3)
