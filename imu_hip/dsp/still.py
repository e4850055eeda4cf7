"""Detection of still periods (quiet standing, sensor at rest).

A sample is *still* when, in a short moving window centred on it, the standard deviation of the
acceleration magnitude ``|a|`` (and of the angular-rate magnitude ``|ω|`` when a gyroscope is
present) stays below a threshold, and this holds without interruption for at least
``min_duration_s``.

Magnitudes are used so the test does not depend on how the sensor is worn, and standard deviations
(not means) so that a constant gyroscope bias or an accelerometer offset does not hide stillness.

Default thresholds are a few times the white noise of typical MEMS IMUs at 100-400 Hz plus the
sway of quiet standing:

- accelerometer noise density ~150-250 µg/√Hz (BMI160, ICM-42688, LSM6DSO datasheets) gives
  ~0.02-0.04 m/s² RMS over a 100-200 Hz bandwidth; the still periods of the lower-back recordings in
  ``lowerback_walking_mocap`` read 0.02-0.03 m/s² std. Threshold 0.15 m/s².
- gyroscope noise density ~0.004-0.015 °/s/√Hz gives ~0.05-0.2 °/s RMS; quiet standing adds
  ~0.2-0.5 °/s of sway at the pelvis. Threshold 0.02 rad/s (≈1.15 °/s).

Walking and running are one to two orders of magnitude above both thresholds (std of |a| above
1 m/s², of |ω| above 0.05 rad/s).
"""

from __future__ import annotations

import numpy as np

from imu_hip.dsp.filters import moving_mean
from imu_hip.model import InputError

#: Default largest std of |a| (m/s²) in a still window.
ACC_STD_MAX_MPS2 = 0.15
#: Default largest std of |ω| (rad/s) in a still window.
GYR_STD_MAX_RADS = 0.02
#: Length of the moving window (s) over which the std is taken.
WINDOW_S = 0.5


def moving_std(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving standard deviation of a 1-D signal over ``width`` samples (edges: nearest)."""
    x = np.asarray(x, dtype=np.float64)
    x = x - np.mean(x)  # reduces cancellation in E[x²] - E[x]²
    m = moving_mean(x, width)
    m2 = moving_mean(x * x, width)
    return np.sqrt(np.maximum(m2 - m * m, 0.0))


def runs_of_true(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start (inclusive) and end (exclusive) indices of the runs of True in a boolean array."""
    m = np.concatenate(([False], np.asarray(mask, dtype=bool), [False]))
    d = np.diff(m.astype(np.int8))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


def keep_long_runs(mask: np.ndarray, min_len: int) -> np.ndarray:
    """Copy of ``mask`` where runs of True shorter than ``min_len`` samples are set to False."""
    out = np.zeros(len(mask), dtype=bool)
    starts, ends = runs_of_true(mask)
    for s, e in zip(starts, ends, strict=True):
        if e - s >= min_len:
            out[s:e] = True
    return out


def still_mask(
    acc_mps2: np.ndarray,
    gyr_rads: np.ndarray | None,
    rate_hz: float,
    min_duration_s: float = 2.0,
    *,
    acc_std_max_mps2: float = ACC_STD_MAX_MPS2,
    gyr_std_max_rads: float = GYR_STD_MAX_RADS,
    window_s: float = WINDOW_S,
) -> np.ndarray:
    """Boolean mask (n,) of samples that belong to a still period of at least ``min_duration_s``.

    ``acc_mps2``: (n, 3) m/s² in any frame; ``gyr_rads``: (n, 3) rad/s or None (then only the
    accelerometer decides); ``rate_hz``: sampling rate (Hz). Non-finite samples are never still.
    """
    acc = np.asarray(acc_mps2, dtype=np.float64)
    if acc.ndim != 2 or acc.shape[1] != 3:
        raise InputError("acceleration", f"expected an (n, 3) array, got shape {acc.shape}")
    if not rate_hz > 0:
        raise InputError("rate_hz", f"must be positive, got {rate_hz}")
    n = acc.shape[0]
    if n == 0:
        return np.zeros(0, dtype=bool)
    width = max(3, int(round(window_s * rate_hz)))
    finite = np.all(np.isfinite(acc), axis=1)
    a = np.linalg.norm(np.where(finite[:, None], acc, 0.0), axis=1)
    quiet = moving_std(a, width) < acc_std_max_mps2
    if gyr_rads is not None:
        gyr = np.asarray(gyr_rads, dtype=np.float64)
        if gyr.shape != acc.shape:
            raise InputError("angular rate",
                             f"shape {gyr.shape} differs from acceleration {acc.shape}")
        gfinite = np.all(np.isfinite(gyr), axis=1)
        finite &= gfinite
        w = np.linalg.norm(np.where(gfinite[:, None], gyr, 0.0), axis=1)
        quiet &= moving_std(w, width) < gyr_std_max_rads
    # A non-finite sample poisons the windows around it.
    bad = moving_mean((~finite).astype(np.float64), width) > 0.5 / width
    quiet &= ~bad
    return keep_long_runs(quiet, max(1, int(round(min_duration_s * rate_hz))))
