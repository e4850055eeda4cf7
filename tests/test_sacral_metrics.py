"""Per-step sacral metrics on signals whose answer is known from the physics."""

import numpy as np

from imu_hip.metrics.sacral import (
    braking_peak_g,
    impact_peak_g,
    step_windows,
    vertical_oscillation_m,
)
from imu_hip.model import G


def test_step_windows_pads_and_handles_nan():
    x = np.arange(10.0)
    m, mask = step_windows(x, np.array([1.2, np.nan, 8.0]), np.array([3.9, 5.0, 20.0]))
    assert m.shape[0] == 3
    np.testing.assert_array_equal(m[0][mask[0]], [2.0, 3.0])
    assert not mask[1].any()
    np.testing.assert_array_equal(m[2][mask[2]], [8.0, 9.0])


def test_vertical_oscillation_of_sinusoidal_bounce():
    fs, f, amp = 400.0, 2.8, 0.04  # 2.8 steps/s, +-4 cm -> 8 cm peak to peak
    t = np.arange(0, 5, 1 / fs)
    z = amp * np.sin(2 * np.pi * f * t)
    acc = G - amp * (2 * np.pi * f) ** 2 * np.sin(2 * np.pi * f * t) + 0.3  # + sensor offset
    ic = np.arange(0.3, 4.0, 1 / f) * fs
    vo = vertical_oscillation_m(acc, ic, ic + fs / f, fs)
    np.testing.assert_allclose(vo, np.ptp(z), rtol=0.02)


def test_impact_and_braking_peaks():
    fs = 500.0
    n = 1000
    acc_z = np.full(n, G)
    acc_z[105] = 4 * G  # impact 10 ms after contact at sample 100
    acc_z[200] = 6 * G  # outside the 60 ms window
    acc_x = np.full(n, 0.5)  # gravity leak from a tilted pelvis
    acc_x[110:150] = 0.5 - 0.4 * G  # braking in early stance
    acc_x[150:190] = 0.5 + 0.4 * G  # propulsion, balances the step
    ic, to, nxt = np.array([100.0]), np.array([200.0]), np.array([300.0])
    np.testing.assert_allclose(impact_peak_g(acc_z, ic, fs), 4.0)
    np.testing.assert_allclose(braking_peak_g(acc_x, ic, to, nxt), 0.4, rtol=1e-9)
    assert np.isnan(impact_peak_g(acc_z, np.array([np.nan]), fs)).all()
