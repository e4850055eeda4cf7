"""Per-step metrics from body-frame sacral acceleration: impact, braking, vertical oscillation.

All functions take whole arrays of one gap-free segment and per-step sample indices (float, may be
NaN); a step whose indices are missing or fall outside the signal gets NaN.
"""

from __future__ import annotations

import numpy as np

from imu_hip.model import G


def step_windows(
    x: np.ndarray, start: np.ndarray, stop: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Stack ``x[start_i:stop_i]`` per step into a (steps, longest) matrix padded with NaN.

    Returns the matrix and a boolean mask of the valid cells. ``start``/``stop`` are float sample
    indices: a window runs from ``ceil(start)`` to ``floor(stop)`` inclusive; NaN indices or empty
    windows give an all-invalid row.
    """
    x = np.asarray(x, dtype=np.float64)
    start = np.asarray(start, dtype=np.float64)
    stop = np.asarray(stop, dtype=np.float64)
    ok = np.isfinite(start) & np.isfinite(stop)
    i0 = np.where(ok, np.ceil(np.where(ok, start, 0)), 0).astype(np.int64)
    i1 = np.where(ok, np.floor(np.where(ok, stop, -1)) + 1, 0).astype(np.int64)
    i0 = np.clip(i0, 0, x.size)
    i1 = np.clip(i1, 0, x.size)
    length = np.where(ok, np.maximum(i1 - i0, 0), 0)
    width = int(length.max()) if length.size else 0
    cols = np.arange(width)
    mask = cols[None, :] < length[:, None]
    idx = np.minimum(i0[:, None] + cols[None, :], max(x.size - 1, 0))
    m = np.where(mask, x[idx] if x.size else 0.0, np.nan)
    return m, mask


def _rowwise(fn, m: np.ndarray, mask: np.ndarray, min_count: int = 1) -> np.ndarray:
    out = np.full(m.shape[0], np.nan)
    good = mask.sum(axis=1) >= min_count
    if good.any():
        out[good] = fn(m[good], axis=1)
    return out


def impact_peak_g(
    acc_z_mps2: np.ndarray, ic: np.ndarray, rate_hz: float, window_s: float = 0.06
) -> np.ndarray:
    """Peak vertical proper acceleration in the ``window_s`` after each initial contact (g)."""
    m, mask = step_windows(acc_z_mps2, ic, np.asarray(ic) + window_s * rate_hz)
    return _rowwise(np.nanmax, m, mask) / G


def braking_peak_g(
    acc_x_mps2: np.ndarray, ic: np.ndarray, to: np.ndarray, next_ic: np.ndarray
) -> np.ndarray:
    """Largest backward acceleration during stance, as a positive number (g).

    At constant speed the forward acceleration averages to zero over a step, so its mean over
    the step (initial contact to the next one) is the gravity leak from pelvic tilt: it is removed
    first. Steps without a following contact use the stance mean instead.
    """
    step, step_mask = step_windows(acc_x_mps2, ic, next_ic)
    stance, stance_mask = step_windows(acc_x_mps2, ic, to)
    level = _rowwise(np.nanmean, step, step_mask, min_count=2)
    no_next = ~np.isfinite(level)
    level[no_next] = _rowwise(np.nanmean, stance, stance_mask)[no_next]
    low = _rowwise(np.nanmin, stance, stance_mask)
    return np.maximum(level - low, 0.0) / G


def vertical_oscillation_m(
    acc_z_mps2: np.ndarray, ic: np.ndarray, next_ic: np.ndarray, rate_hz: float
) -> np.ndarray:
    """Peak-to-peak vertical excursion of the sacrum over each step (m).

    Double integration of the vertical acceleration between two initial contacts. Over one
    periodic step the mean proper acceleration is 1 g (momentum balance) and the vertical velocity
    returns to its start value, so subtracting the step means of acceleration and of velocity
    removes gravity, sensor offset and the unknown initial velocity without any filter.
    """
    a, mask = step_windows(acc_z_mps2, ic, next_ic)
    out = np.full(a.shape[0], np.nan)
    good = mask.sum(axis=1) >= 8
    if not good.any():
        return out
    a, mask = a[good], mask[good]
    n = mask.sum(axis=1, keepdims=True)
    dt = 1.0 / rate_hz
    a = np.where(mask, a - np.nanmean(a, axis=1, keepdims=True), 0.0)
    v = np.cumsum(a, axis=1) * dt
    v = np.where(mask, v - (v * mask).sum(axis=1, keepdims=True) / n, 0.0)
    p = np.cumsum(v, axis=1) * dt
    hi = np.where(mask, p, -np.inf).max(axis=1)
    lo = np.where(mask, p, np.inf).min(axis=1)
    out[good] = hi - lo
    return out
