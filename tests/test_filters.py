"""imu_hip.dsp.filters against scipy (the reference it replaces) and against closed forms."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal
from scipy.ndimage import uniform_filter1d
from scipy.special import stdtr

from imu_hip.dsp import filters as F

# --------------------------------------------------------------------------- design

# (order, cut-off(s), rate, btype) as built by the analysis code: sacrum low-passes (4th order,
# 20 and 5 Hz capped at 0.4 x rate), the orientation low-pass (2nd order, 0.1 Hz), the alignment
# band-pass (2nd order, 0.5-10 Hz)
USED = [(4, min(f, 0.4 * r), r, "lowpass") for f in (20.0, 5.0) for r in (50, 100, 128, 200, 400,
                                                                           1000, 1600)]
USED += [(2, 0.1, r, "lowpass") for r in (25, 50, 100, 200, 400, 1000)]
USED += [(2, (0.5, 10.0), r, "bandpass") for r in (25, 50, 100, 200, 400, 1000)]


def _assert_sos_close(mine: np.ndarray, ref: np.ndarray) -> None:
    assert mine.shape == ref.shape
    np.testing.assert_allclose(mine, ref, rtol=1e-10, atol=1e-10)
    # the overall gain (first row's numerator) can be tiny: compare it relatively
    np.testing.assert_allclose(mine[0, :3], ref[0, :3], rtol=1e-9, atol=0)


@pytest.mark.parametrize(("order", "cut", "rate", "btype"), USED)
def test_butter_matches_scipy_for_the_filters_used(order, cut, rate, btype):
    ref = signal.butter(order, cut, btype, fs=rate, output="sos")
    _assert_sos_close(F.butter_sos(order, cut, rate, btype), ref)


@settings(max_examples=60, deadline=None)
@given(order=st.integers(1, 8), btype=st.sampled_from(["lowpass", "highpass", "bandpass"]),
       rate=st.floats(10.0, 2000.0), f1=st.floats(0.002, 0.498), f2=st.floats(0.002, 0.498))
def test_butter_matches_scipy_random(order, btype, rate, f1, f2):
    if btype == "bandpass":
        lo, hi = sorted((f1, f2))
        if hi - lo < 1e-3:
            return
        # a band whose prewarped corners are symmetric about fs/4 has pole pairs of equal
        # radius: their order in the cascade is then decided by rounding (same filter)
        if abs(math.tan(math.pi * lo) * math.tan(math.pi * hi) - 1.0) < 1e-6:
            return
        cut = (lo * rate, hi * rate)
    else:
        cut = f1 * rate
    ref = signal.butter(order, cut, btype, fs=rate, output="sos")
    _assert_sos_close(F.butter_sos(order, cut, rate, btype), ref)


def test_butter_response_at_the_corners():
    """-3 dB at the cut-offs, unit gain in the pass band, whatever the pairing."""
    rate = 400.0
    for order in (1, 2, 3, 4, 7):
        for btype, cut, unity in (("lowpass", 20.0, 0.0), ("highpass", 20.0, rate / 2),
                                  ("bandpass", (5.0, 40.0), math.sqrt(5.0 * 40.0))):
            sos = F.butter_sos(order, cut, rate, btype)
            corners = np.atleast_1d(cut)
            _, h = signal.sosfreqz(sos, worN=np.r_[corners, unity], fs=rate)
            np.testing.assert_allclose(np.abs(h[:-1]), 1 / math.sqrt(2), rtol=1e-9)
            if btype != "bandpass":  # (the band-pass peak is at the prewarped centre)
                assert abs(abs(h[-1]) - 1.0) < 1e-9


def test_butter_rejects_bad_arguments():
    with pytest.raises(ValueError):
        F.butter_sos(0, 10.0, 100.0)
    with pytest.raises(ValueError):
        F.butter_sos(2, 50.0, 100.0)  # at Nyquist
    with pytest.raises(ValueError):
        F.butter_sos(2, (10.0, 5.0), 100.0, "bandpass")
    with pytest.raises(ValueError):
        F.butter_sos(2, 10.0, 100.0, "bandstop")


@pytest.mark.parametrize(("corner", "rate"), [(0.1, 100.0), (0.1, 400.0), (0.05, 1000.0),
                                               (2.0, 50.0), (0.3, 25.0)])
def test_integrating_highpass_matches_bilinear_tf2sos(corner, rate):
    w = 2 * np.pi * corner
    b, a = signal.bilinear([1.0, 0.0], [1.0, np.sqrt(2) * w, w * w], fs=rate)
    ref = signal.tf2sos(b, a)
    np.testing.assert_allclose(F.integrating_highpass_sos(corner, rate), ref, rtol=1e-10,
                               atol=1e-14)


# --------------------------------------------------------------------------- filtering

FILTERS = {
    "lp4_5hz": signal.butter(4, 5.0, fs=400.0, output="sos"),
    "lp4_20hz": signal.butter(4, 20.0, fs=400.0, output="sos"),
    "lp2_0.1hz": signal.butter(2, 0.1, fs=400.0, output="sos"),  # poles 0.0011 from z = 1
    "bp2": signal.butter(2, (0.5, 10.0), "bandpass", fs=400.0, output="sos"),
    "hp3": signal.butter(3, 30.0, "highpass", fs=400.0, output="sos"),
    "lp8": signal.butter(8, 60.0, fs=400.0, output="sos"),
    "rot": signal.tf2sos(*signal.bilinear([1.0, 0.0], [1.0, np.sqrt(2) * 0.2 * np.pi,
                                                        (0.2 * np.pi) ** 2], fs=400.0)),
}
# lengths around the block sizes (64 samples, then groups of 16 blocks) and one long enough for
# three levels of blocking
LENGTHS = [1, 2, 10, 63, 64, 65, 1023, 1024, 1025, 64 * 17 + 5, 70_001]


def _close(y: np.ndarray, ref: np.ndarray, rtol: float = 1e-9) -> None:
    scale = max(1.0, float(np.max(np.abs(ref)))) if ref.size else 1.0
    np.testing.assert_allclose(y, ref, rtol=rtol, atol=rtol * scale)


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_sosfilt_matches_scipy(name):
    sos = FILTERS[name]
    rng = np.random.default_rng(len(name))
    for n in LENGTHS:
        x = 3.0 + rng.standard_normal(n)
        _close(F.sosfilt(sos, x), signal.sosfilt(sos, x))
        zi = rng.standard_normal((sos.shape[0], 2))
        y, zf = F.sosfilt(sos, x, zi=zi)
        y_ref, zf_ref = signal.sosfilt(sos, x, zi=zi)
        _close(y, y_ref)
        _close(zf, zf_ref)


def test_sosfilt_is_more_accurate_than_the_recursion_needs():
    """Against an extended-precision per-sample recursion on the hardest filter (poles near 1):
    the blocked products must not lose digits."""
    sos = FILTERS["lp2_0.1hz"]
    rng = np.random.default_rng(3)
    x = 9.8 + rng.standard_normal(4000)
    zi = F.sosfilt_zi(sos) * 9.8
    c = sos.astype(np.longdouble)
    z0, z1 = (np.longdouble(v) for v in zi[0])
    b0, b1, b2, _, a1, a2 = c[0]
    ref = np.empty(x.size, dtype=np.longdouble)
    for i, xi in enumerate(x.astype(np.longdouble)):
        yi = b0 * xi + z0
        z0 = b1 * xi - a1 * yi + z1
        z1 = b2 * xi - a2 * yi
        ref[i] = yi
    y, _ = F.sosfilt(sos, x, zi=zi)
    assert np.max(np.abs(y - ref.astype(np.float64))) < 1e-10 * 9.8


@pytest.mark.parametrize("name", ["lp4_5hz", "bp2", "lp2_0.1hz"])
def test_sosfilt_nd_along_any_axis(name):
    sos = FILTERS[name]
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 2000, 2))
    for axis in (0, 1, 2, -1, -2):
        _close(F.sosfilt(sos, x, axis=axis), signal.sosfilt(sos, x, axis=axis))
        shape = list(x.shape)
        shape[axis] = 2
        zi = rng.standard_normal((sos.shape[0], *shape))
        y, zf = F.sosfilt(sos, x, axis=axis, zi=zi)
        y_ref, zf_ref = signal.sosfilt(sos, x, axis=axis, zi=zi)
        assert y.shape == x.shape and zf.shape == zi.shape
        _close(y, y_ref)
        _close(zf, zf_ref)
    with pytest.raises(ValueError):
        F.sosfilt(sos, x, axis=1, zi=np.zeros((sos.shape[0], 3, 2)))


@settings(max_examples=25, deadline=None)
@given(cuts=st.lists(st.integers(0, 3000), min_size=1, max_size=8),
       name=st.sampled_from(sorted(FILTERS)), seed=st.integers(0, 10_000))
def test_sosfilt_chunks_with_carried_state_equal_one_call(cuts, name, seed):
    sos = FILTERS[name]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 6000))
    zi = rng.standard_normal((sos.shape[0], 3, 2))
    whole, zf_whole = F.sosfilt(sos, x, zi=zi)
    parts, z = [], zi
    edges = [0, *sorted(cuts), x.shape[1]]
    for a, b in zip(edges[:-1], edges[1:], strict=True):
        y, z = F.sosfilt(sos, x[:, a:b], zi=z)
        parts.append(y)
    _close(np.concatenate(parts, axis=1), whole, rtol=1e-11)
    _close(z, zf_whole, rtol=1e-11)


def test_live_sized_pushes_equal_one_call():
    sos = FILTERS["lp2_0.1hz"]
    x = np.random.default_rng(2).standard_normal((3, 1000))
    z = np.zeros((1, 3, 2))
    out = []
    for i in range(0, 1000, 10):
        y, z = F.sosfilt(sos, x[:, i:i + 10], zi=z)
        out.append(y)
    _close(np.concatenate(out, axis=1), signal.sosfilt(sos, x))


def test_sosfilt_non_finite_input_affects_only_later_samples():
    rng = np.random.default_rng(4)
    for name in ("lp4_5hz", "rot"):
        sos = FILTERS[name]
        x = rng.standard_normal((3, 3000))
        x[0, 1000] = np.nan
        x[1, 2500] = np.inf
        x[2, 64] = -np.inf
        zi = rng.standard_normal((sos.shape[0], 3, 2))
        y, zf = F.sosfilt(sos, x, zi=zi)
        y_ref, zf_ref = signal.sosfilt(sos, x, zi=zi)
        for got, ref in ((y, y_ref), (zf, zf_ref)):
            np.testing.assert_array_equal(np.isnan(got), np.isnan(ref))
            np.testing.assert_array_equal(got[np.isinf(ref)], ref[np.isinf(ref)])
            ok = np.isfinite(ref)
            np.testing.assert_allclose(got[ok], ref[ok], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_sosfilt_zi_matches_scipy_and_holds_a_step(name):
    sos = FILTERS[name]
    zi = F.sosfilt_zi(sos)
    np.testing.assert_allclose(zi, signal.sosfilt_zi(sos), rtol=1e-9, atol=1e-12)
    y, _ = F.sosfilt(sos, np.full(500, 2.5), zi=2.5 * zi)
    dc = np.prod(np.sum(sos[:, :3], axis=1) / np.sum(sos[:, 3:], axis=1))
    np.testing.assert_allclose(y, 2.5 * dc, atol=1e-9)


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_sosfiltfilt_matches_scipy(name):
    sos = FILTERS[name]
    rng = np.random.default_rng(11)
    x = 1.0 + np.cumsum(rng.standard_normal((2500, 3)), axis=0) * 0.1
    _close(F.sosfiltfilt(sos, x, axis=0), signal.sosfiltfilt(sos, x, axis=0))
    _close(F.sosfiltfilt(sos, x.T), signal.sosfiltfilt(sos, x.T))
    short = 3 * (2 * sos.shape[0] + 1 - min(int(np.sum(sos[:, 2] == 0)),
                                            int(np.sum(sos[:, 5] == 0))))
    _close(F.sosfiltfilt(sos, x[:short + 1, 0]), signal.sosfiltfilt(sos, x[:short + 1, 0]))
    with pytest.raises(ValueError, match="padlen"):
        F.sosfiltfilt(sos, x[:short, 0])


# --------------------------------------------------------------------------- moving mean


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 3000), width=st.integers(1, 3500), seed=st.integers(0, 1000))
def test_moving_mean_matches_uniform_filter1d(n, width, seed):
    rng = np.random.default_rng(seed)
    x = 9.8 + rng.standard_normal(n)
    np.testing.assert_allclose(F.moving_mean(x, width),
                               uniform_filter1d(x, width, mode="nearest"), rtol=1e-12, atol=1e-12)


def test_moving_mean_2d_constant_and_long():
    x = np.random.default_rng(0).standard_normal((3, 500))
    np.testing.assert_allclose(F.moving_mean(x, 20), uniform_filter1d(x, 20, mode="nearest"),
                               atol=1e-13)
    assert np.all(F.moving_mean(np.full(50, 0.1), 8) == 0.1)
    rng = np.random.default_rng(1)
    long = np.concatenate([np.full(100_000, 9.8), 12.0 + 5 * rng.standard_normal(500_000)])
    mean = F.moving_mean(long, 200)
    np.testing.assert_allclose(mean, uniform_filter1d(long, 200, mode="nearest"), rtol=1e-11)
    # exact sums at random places: the rounding does not grow with the length of the signal
    idx = rng.integers(100, long.size - 100, 500)
    exact = np.array([math.fsum(long[i - 100:i + 100]) / 200 for i in idx])
    np.testing.assert_allclose(mean[idx], exact, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- peaks


def _same_peaks(x, **kw):
    p, props = F.find_peaks(x, **kw)
    with warnings.catch_warnings():  # scipy warns about zero-prominence plateaus; expected here
        warnings.simplefilter("ignore", RuntimeWarning)
        p_ref, props_ref = signal.find_peaks(x, **kw)
    np.testing.assert_array_equal(p, p_ref)
    if "prominence" in kw:
        np.testing.assert_array_equal(props["prominences"], props_ref["prominences"])


@settings(max_examples=30, deadline=None)
@given(n=st.integers(3, 3000), seed=st.integers(0, 10_000), distance=st.integers(1, 200),
       prominence=st.floats(0.0, 3.0), wlen=st.one_of(st.none(), st.integers(2, 1500)),
       smooth=st.integers(1, 40))
def test_find_peaks_matches_scipy_on_noise(n, seed, distance, prominence, wlen, smooth):
    rng = np.random.default_rng(seed)
    x = np.convolve(rng.standard_normal(n + smooth), np.ones(smooth) / smooth, "valid")[:n]
    x += 0.1 * np.cumsum(rng.standard_normal(n))
    _same_peaks(x, distance=distance, prominence=prominence, wlen=wlen)
    _same_peaks(x, prominence=prominence, wlen=wlen)
    _same_peaks(x, distance=distance)
    _same_peaks(x)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(3, 600), seed=st.integers(0, 10_000), levels=st.integers(2, 6),
       wlen=st.one_of(st.none(), st.integers(2, 50)), prominence=st.sampled_from([0, 1, 2]))
def test_find_peaks_plateaus_match_scipy(n, seed, levels, wlen, prominence):
    """Quantised signals: flat tops (middle sample, rounded down), flat tops at the ends and
    shoulders (no peak), equal neighbouring peaks for the prominence."""
    x = np.random.default_rng(seed).integers(0, levels, n).astype(float)
    x = np.repeat(x, np.random.default_rng(seed + 1).integers(1, 5, n))[:n]
    _same_peaks(x, prominence=prominence, wlen=wlen)
    _same_peaks(x)


def _gait_like(rate, dur, cadence, seed):
    rng = np.random.default_rng(seed)
    t = np.arange(int(dur * rate)) / rate
    step = 60.0 / cadence
    x = np.zeros_like(t)
    for ic in np.arange(0.3, dur - 0.5, step) + rng.normal(0, 0.004, int((dur - 0.8) / step) + 1):
        tau = (t - ic) / 0.25
        x += np.where((tau > 0) & (tau < 1), 2.5 * np.sin(np.pi * np.clip(tau, 0, 1)), 0.0)
        x += 0.8 * np.exp(-(((t - ic - 0.02) / 0.01) ** 2))
    x += 0.05 * rng.standard_normal(t.size)
    return x


@settings(max_examples=15, deadline=None)
@given(rate=st.sampled_from([100.0, 200.0, 400.0]), cadence=st.floats(140.0, 200.0),
       seed=st.integers(0, 1000), cut=st.sampled_from([5.0, 20.0]))
def test_find_peaks_matches_scipy_on_gait_like_signals(rate, cadence, seed, cut):
    """The call of imu_hip.gait.sacrum._find_humps on low-passed running-like signals."""
    x = _gait_like(rate, 30.0, cadence, seed)
    u = signal.sosfiltfilt(signal.butter(4, cut, fs=rate, output="sos"), x)
    _same_peaks(u, distance=max(1, int(0.22 * rate)), prominence=0.08, wlen=int(2 * 1.5 * rate))
    _same_peaks(x, distance=max(1, int(0.22 * rate)), prominence=0.08, wlen=int(2 * 1.5 * rate))


def test_find_peaks_edge_cases():
    for x in ([], [1.0], [1.0, 2.0], [2.0, 2.0, 2.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0],
              [0.0, 1.0, 1.0, 0.0], [0.0, 1.0, 1.0], [0.0, 2.0, 1.0, 2.0, 0.0]):
        _same_peaks(np.array(x), prominence=0.0)
        _same_peaks(np.array(x), distance=2)
    x = np.array([0.0, 3.0, 1.0, 2.0, 0.5, 3.0, 0.0])
    _same_peaks(x, prominence=(1.0, 2.0))
    with pytest.raises(ValueError):
        F.find_peaks(x, distance=0.5)
    with pytest.raises(ValueError):
        F.find_peaks(x, prominence=1.0, wlen=1)


# --------------------------------------------------------------------------- Student's t


def test_student_t_matches_stdtr():
    rng = np.random.default_rng(5)
    df = np.concatenate([np.arange(1, 121), rng.uniform(0.5, 400.0, 80)])
    t = np.concatenate([rng.uniform(-40, 40, 150), [0.0, 0.5, -0.5, 3.0, -3.0, 1e3]])
    tt, dd = np.meshgrid(t, df)
    ref = stdtr(dd, tt)
    np.testing.assert_allclose(F.student_t_cdf(tt, dd), ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(F.student_t_sf(tt, dd), stdtr(dd, -tt), rtol=0, atol=1e-12)
    tail = ref < 1e-3  # small p values: relative accuracy
    np.testing.assert_allclose(F.student_t_cdf(tt, dd)[tail], ref[tail], rtol=1e-10)


def test_student_t_closed_forms_and_limits():
    t = np.concatenate([-np.logspace(-12, 6, 60), np.logspace(-12, 6, 60)])
    # df = 1 (Cauchy) and df = 2 have closed forms
    np.testing.assert_allclose(F.student_t_cdf(t, 1), 0.5 + np.arctan(t) / np.pi, rtol=1e-12,
                               atol=1e-15)
    np.testing.assert_allclose(F.student_t_cdf(t, 2), 0.5 + t / (2 * np.sqrt(2 + t * t)),
                               rtol=1e-12, atol=1e-15)
    assert F.student_t_cdf(0.0, 7) == 0.5
    assert F.student_t_cdf(-np.inf, 7) == 0.0 and F.student_t_sf(np.inf, 7) == 0.0
    assert np.isnan(F.student_t_cdf(np.nan, 3)) and np.isnan(F.student_t_cdf(1.0, 0.0))
    assert F.student_t_cdf(-1e200, 3) == 0.0 and F.student_t_cdf(1e200, 3) == 1.0
    # the sacrum's two-sided p value: counts of 2..300 contacts, t = effect * sqrt(count)
    c = np.arange(2, 301, dtype=float)
    eff = np.random.default_rng(1).uniform(0, 2, c.size)
    np.testing.assert_allclose(2 * F.student_t_sf(eff * np.sqrt(c), np.maximum(c - 3, 1)),
                               2 * stdtr(np.maximum(c - 3, 1), -eff * np.sqrt(c)), atol=1e-12)


# --------------------------------------------------------------------------- imports


def test_analysis_path_does_not_import_scipy_submodules():
    code = ("import sys, imu_hip.pipeline, imu_hip.io; "
            "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('scipy.')}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    loaded = eval(out)  # noqa: S307 - our own printed list
    for heavy in ("signal", "special", "ndimage", "stats", "linalg", "spatial"):
        assert heavy not in loaded, f"scipy.{heavy} imported by the analysis path"
