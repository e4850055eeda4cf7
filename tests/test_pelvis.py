"""Per-step pelvis metrics on constructed angle traces with known ranges and drops."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imu_hip.metrics.pelvis import pelvis_step_metrics, standing_neutral_deg, window_range
from imu_hip.model import InputError

RATE = 200.0


def _trace(n_steps=20, step_s=0.36, contact_frac=0.6, drop_right=6.0, drop_left=3.0,
           neutral=1.0, seed=0):
    """Obliquity with a known swing-side drop in every stance; tilt and rotation with known
    per-step ranges. Right stances: the left side drops (obliquity neutral − drop_right);
    left stances: the right side drops (neutral + drop_left)."""
    step_n = int(round(step_s * RATE))
    n = (n_steps + 2) * step_n
    ang = np.zeros((n, 3))
    ang[:, 0] = neutral
    ic = np.arange(1, n_steps + 1) * step_n
    to = ic + 2 * int(round(contact_frac * step_n / 2))  # even: the bump peaks on a sample
    sides = np.where(np.arange(n_steps) % 2 == 0, "right", "left")
    rng = np.random.default_rng(seed)
    tilt_rom = rng.uniform(2, 6, n_steps)
    # rotation: a continuous zigzag between extremes at each IC (right hip forward, then left)
    extremes = rng.uniform(2.5, 7.5, n_steps + 1) * (-1.0) ** np.arange(n_steps + 1)
    rot_rom = np.abs(np.diff(extremes))
    for k, (a, b, s) in enumerate(zip(ic, to, sides, strict=True)):
        bump = np.sin(np.pi * np.arange(b - a + 1) / (b - a)) ** 2  # 0 at IC and TO, 1 mid
        depth = drop_right if s == "right" else -drop_left
        ang[a:b + 1, 0] = neutral - depth * bump
        u = np.linspace(0, 1, step_n + 1)
        ang[a:a + step_n + 1, 1] = tilt_rom[k] * np.sin(np.pi * u) ** 2
        ang[a:a + step_n + 1, 2] = extremes[k] + (extremes[k + 1] - extremes[k]) * u
    nxt = ic + step_n
    return ang, ic.astype(float), to.astype(float), nxt.astype(float), sides, tilt_rom, rot_rom


def test_known_drops_both_sides_with_standing_neutral():
    ang, ic, to, nxt, sides, tilt_rom, rot_rom = _trace()
    m = pelvis_step_metrics(ang, ic, to, nxt, sides, np.array([1.0, 0.0, 0.0]))
    right = sides == "right"
    np.testing.assert_allclose(m["pelvic_drop_deg"][right], 6.0, atol=1e-9)
    np.testing.assert_allclose(m["pelvic_drop_deg"][~right], 3.0, atol=1e-9)
    np.testing.assert_allclose(m["pelvic_tilt_rom_deg"], tilt_rom, atol=1e-9)
    np.testing.assert_allclose(m["pelvic_rotation_rom_deg"], rot_rom, atol=1e-9)
    np.testing.assert_allclose(m["pelvic_obliquity_rom_deg"][right], 6.0, atol=1e-9)


def test_scalar_neutral_and_shifted_neutral():
    ang, ic, to, nxt, sides, _, _ = _trace(neutral=1.0)
    m = pelvis_step_metrics(ang, ic, to, nxt, sides, 2.0)  # neutral 1° higher than the truth
    right = sides == "right"
    np.testing.assert_allclose(m["pelvic_drop_deg"][right], 7.0, atol=1e-9)  # left lower
    np.testing.assert_allclose(m["pelvic_drop_deg"][~right], 2.0, atol=1e-9)


def test_wrong_side_label_sees_no_drop():
    """Swapping sides must change the result: read with the wrong side, the 'swing' side is the
    one that rises, so it never drops below neutral (drop 0 at IC/TO, where the trace is at
    neutral); a swing side that stays above neutral for the whole stance gives a negative
    drop."""
    ang, ic, to, nxt, sides, _, _ = _trace(drop_right=6.0, drop_left=6.0)
    swapped = np.where(sides == "right", "left", "right")
    m = pelvis_step_metrics(ang, ic, to, nxt, swapped, [1.0, 0, 0])
    np.testing.assert_allclose(m["pelvic_drop_deg"], 0.0, atol=1e-12)
    # neutral 1° above the trace: in left stances the right side never gets below it
    m = pelvis_step_metrics(ang, ic, to, nxt, swapped, [2.0, 0, 0])
    np.testing.assert_allclose(m["pelvic_drop_deg"][swapped == "left"], -1.0, atol=1e-12)


def test_local_neutral_when_no_standing_neutral():
    """Without a standing neutral the reference is the mean obliquity over the two strides
    around the step."""
    ang, ic, to, nxt, sides, _, _ = _trace(n_steps=30, drop_right=4.0, drop_left=4.0,
                                          neutral=0.5)
    m = pelvis_step_metrics(ang, ic, to, nxt, sides, None)
    # symmetric drops: the mean over whole strides equals the neutral, so drop = 4 away from
    # the recording ends
    mid = slice(3, -3)
    np.testing.assert_allclose(m["pelvic_drop_deg"][mid], 4.0, atol=0.05)
    # asymmetric drops: the local mean moves by the mean signed excursion
    ang, ic, to, nxt, sides, _, _ = _trace(n_steps=30, drop_right=6.0, drop_left=2.0)
    m = pelvis_step_metrics(ang, ic, to, nxt, sides, None)
    shift = np.mean(ang[int(ic[10]):int(ic[14]), 0]) - 1.0  # < 0: left side lower on average
    right = sides == "right"
    np.testing.assert_allclose(m["pelvic_drop_deg"][mid][right[mid]], 6.0 + shift, atol=0.05)
    np.testing.assert_allclose(m["pelvic_drop_deg"][mid][~right[mid]], 2.0 - shift, atol=0.05)


def test_unknown_side_nan_and_bad_indices_nan():
    ang, ic, to, nxt, sides, _, _ = _trace(n_steps=6)
    sides = sides.astype("U7")
    sides[1] = "unknown"
    ic = ic.copy()
    ic[2] = np.nan
    nxt = nxt.copy()
    nxt[3] = len(ang) + 50  # beyond the signal
    m = pelvis_step_metrics(ang, ic, to, nxt, sides, [1.0, 0, 0])
    assert np.isnan(m["pelvic_drop_deg"][1]) and np.isfinite(m["pelvic_tilt_rom_deg"][1])
    assert all(np.isnan(m[k][2]) for k in m)
    assert np.isnan(m["pelvic_tilt_rom_deg"][3]) and np.isfinite(m["pelvic_drop_deg"][3])
    assert np.isfinite(m["pelvic_drop_deg"][0])


def test_nan_angles_inside_window_give_nan():
    ang, ic, to, nxt, sides, _, _ = _trace(n_steps=4)
    ang[int(ic[1]) + 5, 2] = np.nan
    m = pelvis_step_metrics(ang, ic, to, nxt, sides, [1.0, 0, 0])
    assert np.isnan(m["pelvic_rotation_rom_deg"][1])
    assert np.isfinite(m["pelvic_rotation_rom_deg"][0])
    assert np.isfinite(m["pelvic_drop_deg"][1])  # the NaN is in rotation only


def test_float_indices_round_to_nearest_sample():
    ang = np.zeros((100, 3))
    ang[40, 1] = 5.0
    m = pelvis_step_metrics(ang, [40.4], [50.0], [60.0], ["left"], None)
    assert m["pelvic_tilt_rom_deg"][0] == 5.0
    m = pelvis_step_metrics(ang, [40.6], [50.0], [60.0], ["left"], None)
    assert m["pelvic_tilt_rom_deg"][0] == 0.0


def test_window_range_matches_loop_with_many_lengths():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5000, 2))
    start = rng.integers(0, 4000, 300)
    stop = start + rng.integers(0, 900, 300)
    hi, lo = window_range(x, start, stop)
    for k in range(300):
        seg = x[start[k]:stop[k] + 1]
        np.testing.assert_array_equal(hi[k], seg.max(axis=0))
        np.testing.assert_array_equal(lo[k], seg.min(axis=0))


def test_empty_and_bad_input():
    m = pelvis_step_metrics(np.zeros((10, 3)), [], [], [], [], None)
    assert all(len(v) == 0 for v in m.values())
    with pytest.raises(InputError):
        pelvis_step_metrics(np.zeros((10, 2)), [1], [2], [3], ["left"], None)
    with pytest.raises(InputError):
        pelvis_step_metrics(np.zeros((10, 3)), [1], [2], [3], ["middle"], None)
    with pytest.raises(InputError):
        pelvis_step_metrics(np.zeros((10, 3)), [1, 2], [2], [3], ["left"], None)


def test_standing_neutral():
    ang = np.zeros((100, 3))
    ang[:50] = [1.0, 2.0, 3.0]
    still = np.zeros(100, dtype=bool)
    still[:50] = True
    np.testing.assert_array_equal(standing_neutral_deg(ang, still), [1.0, 2.0, 3.0])
    assert standing_neutral_deg(ang, np.zeros(100, dtype=bool)) is None


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**16), st.integers(1, 40))
def test_window_range_matches_a_plain_loop(seed, k):
    rng = np.random.default_rng(seed)
    n = 300
    x = rng.standard_normal((n, 3))
    x[rng.integers(0, n, 3), rng.integers(0, 3, 3)] = np.nan
    start = rng.integers(0, n, k)
    stop = np.minimum(start + rng.integers(0, 80, k), n - 1)  # overlapping, touching the end
    hi, lo = window_range(x, start, stop)
    for j in range(k):
        w = x[start[j] : stop[j] + 1]
        np.testing.assert_array_equal(hi[j], np.max(w, axis=0))
        np.testing.assert_array_equal(lo[j], np.min(w, axis=0))
