"""Vertical ground reaction force (vGRF) estimates for running steps, in body weights (BW).

Two independent physical estimates of the active vGRF peak:

* **Timing (spring-mass / sine-wave impulse model**, Morin, Dalleau, Kyröläinen, Jeannin, Belli
  2005, J Appl Biomech 21:167-180): during a contact of duration ``t_c`` the force is a half sine
  and over the step (``t_c + t_f``) its impulse equals body weight times the step time (the
  vertical velocity repeats every contact), so ``F_max / (m g) = (pi / 2) (t_c + t_f) / t_c``.
  Its errors come from the contact time and from the force not being an exact half sine.
* **Newton**: the trunk carries most of the body mass, so its vertical proper acceleration in g
  approximates ``F / (m g)``. The active peak is the slow (spring-mass) part of the force; the
  impact transient and the trunk's own relative motion are faster, so the acceleration is
  low-passed at :data:`ACTIVE_LOWPASS_HZ` (the same cut-off that merges a contact's impact and
  active peaks into one hump for step detection) before taking the contact's maximum. The raw
  acceleration peak instead overestimates the force by ~45 % on treadmill data. Its errors come
  from the trunk's relative motion, the sensor gain and its tilt; it needs an unsaturated
  accelerometer (use a range of at least +-8 g).

:func:`vgrf_peak_bw` reports the mean of the two when both exist (their errors have different
sources), else the timing estimate. No constant is fitted to any data set.

Walking steps get NaN: the one-foot impulse model does not hold with double support, and the
walking vGRF peaks stay near 1.1-1.3 BW whatever the speed, which is not worth a number that the
trunk acceleration cannot confirm.
"""

from __future__ import annotations

import numpy as np

from imu_hip.gait.sacrum import _lowpass
from imu_hip.model import G

#: Low-pass (Hz) applied to the vertical acceleration before taking the active peak.
ACTIVE_LOWPASS_HZ = 5.0


def _walk_mask(gait: np.ndarray | str | None, shape: tuple[int, ...]) -> np.ndarray:
    if gait is None:
        return np.zeros(shape, bool)
    return np.broadcast_to(np.asarray(gait, dtype=object), shape) == "walk"


def active_peak_g(
    acc_vert_mps2: np.ndarray, ic: np.ndarray, to: np.ndarray, rate_hz: float
) -> np.ndarray:
    """Largest low-passed vertical proper acceleration (g) between each initial contact and
    toe-off (float sample indices into ``acc_vert_mps2``); NaN where either is missing or lies
    outside the data."""
    a = np.asarray(acc_vert_mps2, dtype=float) / G
    ic = np.atleast_1d(np.asarray(ic, dtype=float))
    to = np.atleast_1d(np.asarray(to, dtype=float))
    out = np.full(ic.shape, np.nan)
    if a.shape[0] < 16:
        return out
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(ic) & np.isfinite(to) & (ic >= 0) & (to <= a.shape[0] - 1) & (to > ic)
    if not ok.any():
        return out
    low = _lowpass(a, ACTIVE_LOWPASS_HZ, rate_hz)
    i0 = np.floor(ic[ok]).astype(np.intp)
    i1 = np.minimum(np.ceil(to[ok]).astype(np.intp) + 1, a.shape[0])  # exclusive
    bounds = np.column_stack([i0, np.minimum(i1, a.shape[0] - 1)]).ravel()
    peak = np.maximum.reduceat(low, bounds)[::2]  # (reduceat indices must be in the array)
    last = i1 == a.shape[0]
    peak[last] = np.maximum(peak[last], low[-1])
    out[ok] = peak
    return out


def vgrf_peak_bw(
    contact_time_s: np.ndarray | float,
    step_time_s: np.ndarray | float,
    gait: np.ndarray | str | None = None,
    active_peak: np.ndarray | float | None = None,
) -> np.ndarray:
    """Active peak of the vertical ground reaction force (BW) of each running step.

    ``contact_time_s``/``step_time_s``: per step (s). ``gait``: "run"/"walk" per step (or one
    value); walking steps get NaN. ``active_peak``: optional :func:`active_peak_g` per step; where
    it is finite and positive, the result is the mean of the timing and Newton estimates. NaN
    where the timing is missing or not physical (contact time not in (0, step time)).
    """
    tc = np.asarray(contact_time_s, dtype=float)
    ts = np.asarray(step_time_s, dtype=float)
    tc, ts = np.broadcast_arrays(tc, ts)
    with np.errstate(invalid="ignore", divide="ignore"):
        timing = 0.5 * np.pi * ts / tc
    bad = ~(np.isfinite(timing) & (tc > 0) & (tc < ts)) | _walk_mask(gait, timing.shape)
    out = timing
    if active_peak is not None:
        newton = np.broadcast_to(np.asarray(active_peak, dtype=float), timing.shape)
        both = np.isfinite(newton) & (newton > 0)
        out = np.where(both, 0.5 * (timing + newton), timing)
    return np.where(bad, np.nan, out)


def loading_rate_bw_s(
    vgrf_peak: np.ndarray | float,
    contact_time_s: np.ndarray | float,
    gait: np.ndarray | str | None = None,
) -> np.ndarray:
    """Average vertical loading rate (BW/s) from contact to 80 % of the vGRF peak.

    TREND INDICATOR ONLY. It follows the half-sine model: the force reaches 80 % of its peak
    ``t_c * asin(0.8) / pi`` after contact, so the rate is ``0.8 F_max pi / (t_c asin(0.8))``.
    The half sine has no impact transient, so this tracks the active loading (it rises with the
    peak force and falls with the contact time) rather than the impact loading rate measured on a
    force plate; published loading rates from trunk sensors are off by more than +-25 %. Walking
    steps and steps without a peak get NaN.
    """
    fp = np.asarray(vgrf_peak, dtype=float)
    tc = np.asarray(contact_time_s, dtype=float)
    fp, tc = np.broadcast_arrays(fp, tc)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = 0.8 * fp * np.pi / (tc * np.arcsin(0.8))
    bad = ~(np.isfinite(out) & (tc > 0)) | _walk_mask(gait, out.shape)
    return np.where(bad, np.nan, out)
