"""Sensor-to-body alignment of a sacral IMU, found from the signals (worn any way round).

Body frame: x forward, y left, z up (right-handed); ``body = rotation @ sensor``.

1. **Vertical** (z): the mean specific force over whole periods of gait is gravity, because the
   pelvis does not accelerate on average. Over a window of length T the mean differs from gravity
   by Δv/T, Δv the change of sacral velocity across the window (≲ 1 m/s vertically), so windows of
   a few seconds give the vertical to ~1°. The mean is taken over gait when there is at least
   ``_MIN_GAIT_S`` of it, else over the whole recording (standing). Gait = 4 s windows where the
   std of |a| exceeds 0.5 m/s² and the vertical acceleration repeats at a lag of one step
   (autocorrelation ≥ 0.3 somewhere in 0.25-1.2 s), so sitting down, stairs or turning on the spot
   do not count. ``vertical_quality`` combines
   the spread of the per-window estimates (``exp(-spread / 10°)``) with how far ``|mean|`` is from
   1 G (a mis-scaled or clipped channel: ``1 - |ratio - 1| / 0.25``).

2. **Forward axis** (±x): the anteroposterior (AP) acceleration repeats every step and is coupled
   to the vertical acceleration (both are made by the same ground reaction force), while the
   mediolateral (ML) acceleration alternates sign from a left to a right step and averages out of
   any cross-covariance with the vertical. So the forward axis is the horizontal direction whose
   acceleration has the largest cross-covariance with the vertical acceleration, summed over lags
   of ±0.6 s: the top eigenvector of ``Σ_τ r(τ) r(τ)ᵀ`` with ``r(τ) = E[h(t) v(t + τ)]``
   (``h`` horizontal acceleration, ``v`` vertical, both band-passed 0.5-10 Hz). The dominant
   horizontal axis by plain variance fails at the lower back in walking, where ML acceleration is
   as large as AP (off by 70-85° on one participant of ``lowerback_walking_mocap``).

3. **Sign of forward**: in each stance the ground force first brakes, then propels, while the
   vertical force rises, then falls. How that shows in the sacral acceleration depends on the
   gait, and both cases were checked on real recordings (see the benchmark notes below):

   - running (spring-mass: speed and height are in phase) — the forward acceleration is
     anti-correlated with the time derivative of the vertical acceleration;
   - walking (inverted pendulum: speed and height are in opposite phase) — it is positively
     correlated (the pelvis decelerates while rising onto the stance leg and speeds up while
     falling from it; the forward acceleration peaks near initial contact and then drops).

   Each window of gait is classed as running when the acceleration magnitude falls below 0.5 G
   (flight) for at least 5 % of it, and votes with the matching sign. A second, gait-independent
   cue is kept as a check: during stance the direction of the specific force in the sagittal plane
   rotates from backward- to forward-pointing as the body passes over the foot, so its angle
   increases more often than it decreases. ``forward_quality`` is
   ``(1 - λ2/λ1) × agreement × strength``: λ from step 2, agreement = |Σ votes| / Σ |votes| over
   windows, strength = min(1, |mean vote| / 0.2), halved when the check cue disagrees.

   With less than ``_MIN_GAIT_S`` of gait (standing only) forward cannot be found: the fallback
   forward axis is the horizontal projection of the sensor axis closest to horizontal, positive
   direction (arbitrary), and ``forward_quality`` is 0.

A **clipped vertical channel** is not rotated. The sensor axis nearest to vertical counts as
clipped when it reads one constant value at its low end, below 1 G, in at least
``_CLIP_MIN_SHARE`` of the samples, with at least 1 G of signal above it, and that value occurs
at least ``_CLIP_SPIKE`` times as often as any other value within ``_CLIP_BAND_G`` above it:
the values below a floor were cut off (published data sets set negative vertical values to 0);
quantisation and zero-filled dropouts do not look like that (:func:`_clipped_floor`). The events
are timed on the vertical between about 0 and 1 G (flight, toe-off, the start of the rise),
exactly where such a floor cuts, and rotating by the tilt would spread the cut samples into
every axis there. That axis is then taken as vertical (sign from gravity), the tilt from gravity
is left in and reported (``clipped``), and ``vertical_quality`` drops with it
(``exp(-(spread + tilt) / 10°)``). A range limit at the top (impact peaks, >= ~2 G) does not
qualify: it only cuts peaks, which the pipeline handles per step.

A biaxial sensor (one axis all zeros) is handled: the horizontal acceleration is then confined to
one line, which becomes forward (it cannot be checked that the missing axis is the ML one, so
``forward_quality`` is capped at 0.5). The gyroscope is used only to recognise still periods.

Checked on real recordings (../shared/datasets; axes known from their documentation):

- forward SIGN correct in all 18: ``sacrum_running_raw_sample`` (running, 1),
  ``sacrum_running_grf`` (running, biaxial, 8 trials incl. ±10° slopes, rear- and mid-foot strike),
  ``lowerback_walking_mocap`` (walking, 9 recordings incl. daily-living circuits). Mean vote
  (signed correlation in favour of the chosen sign): running 0.26-0.61, walking 0.12-0.44;
  window agreement 0.66-1.0; the force-rotation check agreed everywhere (stance share rotating
  forward: running 0.62-0.84, walking 0.52-0.61 — a weak cue in walking).
- heading of forward vs the horizontal projection of the documented AP axis: 11° (raw sample),
  1-18° (lower back, median 7°; part of it may be how the sensor sat on the back).
- the recovered vertical differs from the documented "vertical" axes by the real tilt of the
  sensor on the back (3-27°). The grf trials' vertical channel is clipped at 0 G in 8-20 % of
  the samples (``|mean| = 1.2-1.4 G``): the clip rule keeps it as vertical in all 8 (10-26° of
  tilt left in, ``vertical_quality`` 0.0-0.06), and no other recording here triggers it (their
  lowest value occurs once).
- ``forward_quality``: 0.92-1.0 on straight walking and running, 0.32-0.70 on the daily-living
  circuits, 0.5 (cap) on the biaxial trials, one straight walk 0.59 (5 s of gait).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imu_hip.dsp.filters import butter_sos, sosfiltfilt
from imu_hip.dsp.still import moving_std, runs_of_true, still_mask
from imu_hip.model import G, InputError

#: Least gait (s) needed to find the forward direction.
_MIN_GAIT_S = 3.0
#: Window length (s) for the per-window gravity estimates and sign votes.
_WINDOW_S = 4.0
#: Moving std of |a| (m/s², 1 s window) above which a sample counts as gait.
_GAIT_STD_MPS2 = 0.5
#: Band of the dynamic acceleration used for the forward axis and sign (Hz).
_BAND_HZ = (0.5, 10.0)
#: Largest lag (s) of the vertical/horizontal cross-covariance.
_MAX_LAG_S = 0.6
#: Least autocorrelation of the vertical acceleration at a lag of one step (0.25-1.2 s) for a
#: window to count as gait. Deliberately low: walking and running windows reach 0.5-0.9; the bar
#: only drops windows that do not repeat (sitting down, stairs, fidgeting, turning on the spot).
_PERIODIC_MIN = 0.3
#: Share of a window with |a| < 0.5 G above which the window is running (flight phases).
_FLIGHT_SHARE = 0.05
#: Least share of samples at one constant value at the low end of the vertical-most axis for it
#: to count as clipped (an unclipped signal reaches its minimum once: 1 sample in 10^3-10^6).
_CLIP_MIN_SHARE = 0.01
#: Band (G) above the floor that the signal must reach it through, and how many times more
#: often the floor value must occur than any other value in that band.
_CLIP_BAND_G = 0.25
_CLIP_SPIKE = 5.0


@dataclass
class Alignment:
    """Sensor-to-body rotation and how well it was determined.

    ``rotation``: (3, 3), ``body = rotation @ sensor`` (rows: body x, y, z in sensor
    coordinates). ``vertical_quality`` and ``forward_quality``: 0 (undetermined) to 1 (clear).
    ``method``: plain-text account of how it was found. ``clipped``: empty, or what was found
    clipped on the vertical-most axis; that axis is then kept as vertical and
    ``tilt_left_deg`` (deg) is its angle from gravity.
    """

    rotation: np.ndarray
    vertical_quality: float
    forward_quality: float
    method: str
    clipped: str = ""
    tilt_left_deg: float = 0.0

    def apply(self, xyz: np.ndarray) -> np.ndarray:
        """Rotate (n, 3) sensor-frame vectors into the body frame.

        Written out per row of the rotation (not as a matrix product) so every output sample
        is the same three products and sums whatever the array length: BLAS kernels round
        differently for different lengths, which would make results depend on the block cut.
        """
        v = np.asarray(xyz, dtype=np.float64)
        r = self.rotation
        out = np.empty(v.shape)
        for i in range(3):
            out[:, i] = r[i, 0] * v[:, 0] + r[i, 1] * v[:, 1] + r[i, 2] * v[:, 2]
        return out


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _windows(mask: np.ndarray, width: int, min_len: int) -> list[tuple[int, int]]:
    """Cut the runs of True in ``mask`` into windows of ``width`` samples (shorter remainders
    of at least ``min_len`` are kept, others merged into the previous window)."""
    out: list[tuple[int, int]] = []
    for s, e in zip(*runs_of_true(mask), strict=True):
        if e - s < min_len:
            continue
        bounds = list(range(s, e, width)) + [e]
        if len(bounds) > 2 and bounds[-1] - bounds[-2] < min_len:
            del bounds[-2]
        out.extend(zip(bounds[:-1], bounds[1:], strict=True))
    return out


def _direction_spread_deg(dirs: np.ndarray, weights: np.ndarray, mean_dir: np.ndarray) -> float:
    """Weighted RMS angle (deg) between unit vectors ``dirs`` and ``mean_dir``."""
    ang = np.degrees(np.arccos(np.clip(dirs @ mean_dir, -1.0, 1.0)))
    return float(np.sqrt(np.sum(weights * ang**2) / np.sum(weights)))


def _lag_cross_cov(h: np.ndarray, v: np.ndarray, max_lag: int) -> np.ndarray:
    """r(τ) = mean_t h(t) v(t + τ) for |τ| <= max_lag: (2 max_lag + 1, k) for h (n, k), v (n,)."""
    n = len(v)
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    vf = np.fft.rfft(v, nfft)
    hf = np.fft.rfft(h, nfft, axis=0)
    r = np.fft.irfft(np.conj(hf) * vf[:, None], nfft, axis=0) / n
    return np.concatenate((r[-max_lag:], r[:max_lag + 1]))


def _step_periodicity(acc: np.ndarray, dyn: np.ndarray, rate_hz: float) -> float:
    """Largest autocorrelation (biased estimate) of the vertical dynamic acceleration at lags of
    0.25-1.2 s (one step), for one window: ``acc`` raw (its mean gives the window's vertical),
    ``dyn`` band-passed."""
    lo, hi = int(0.25 * rate_hz), min(int(1.2 * rate_hz), len(dyn) // 2)
    g = acc.mean(axis=0)
    if hi <= lo or not np.linalg.norm(g) > 0:
        return 0.0
    vv = dyn @ _unit(g)
    vv = vv - vv.mean()
    nfft = 1 << int(np.ceil(np.log2(2 * len(vv))))
    f = np.fft.rfft(vv, nfft)
    ac = np.fft.irfft(f * np.conj(f), nfft)[:hi]
    return float(np.max(ac[lo:hi]) / ac[0]) if ac[0] > 0 else 0.0


def _fallback_forward(z: np.ndarray) -> np.ndarray:
    """Horizontal projection of the sensor axis closest to horizontal (positive direction)."""
    k = int(np.argmin(np.abs(z)))
    e = np.zeros(3)
    e[k] = 1.0
    return _unit(e - (e @ z) * z)


def estimate_alignment(
    acc_mps2: np.ndarray, gyr_rads: np.ndarray | None, rate_hz: float
) -> Alignment:
    """Sensor-to-body alignment from a sacral recording (see module docstring).

    ``acc_mps2``: (n, 3) specific force in the sensor frame, m/s² (gravity included);
    ``gyr_rads``: (n, 3) rad/s or None; ``rate_hz``: sampling rate (Hz). Rows with non-finite
    values are ignored. Needs at least 2 s of samples.
    """
    acc = np.asarray(acc_mps2, dtype=np.float64)
    if acc.ndim != 2 or acc.shape[1] != 3:
        raise InputError("acceleration", f"expected an (n, 3) array, got shape {acc.shape}")
    if not rate_hz > 2 * _BAND_HZ[1]:
        raise InputError("rate_hz", f"alignment needs more than {2 * _BAND_HZ[1]:g} Hz, "
                         f"got {rate_hz}")
    gyr = None if gyr_rads is None else np.asarray(gyr_rads, dtype=np.float64)
    if gyr is not None and gyr.shape != acc.shape:
        raise InputError("angular rate", f"shape {gyr.shape} differs from acceleration "
                         f"{acc.shape}")
    ok = np.all(np.isfinite(acc), axis=1)
    if gyr is not None:
        ok &= np.all(np.isfinite(gyr), axis=1)
        gyr = gyr[ok]
    acc = acc[ok]
    n = len(acc)
    if n < 2 * rate_hz:
        raise InputError("acceleration", f"alignment needs at least 2 s of finite samples, got "
                         f"{n / rate_hz:.2f} s")
    notes: list[str] = []
    missing = np.flatnonzero(np.all(np.abs(acc) < 1e-9, axis=0))
    if len(missing) > 1:
        raise InputError("acceleration", "only one accelerometer axis carries data")
    biaxial = len(missing) == 1
    if biaxial:
        notes.append(f"biaxial sensor (axis {'xyz'[missing[0]]} empty)")

    # --- activity ----------------------------------------------------------------------------
    amag = np.linalg.norm(acc, axis=1)
    active = moving_std(amag, max(3, int(rate_hz))) > _GAIT_STD_MPS2
    if gyr is not None:
        active &= ~still_mask(acc, gyr, rate_hz, min_duration_s=1.0)
    width = int(round(_WINDOW_S * rate_hz))
    sos = butter_sos(2, (_BAND_HZ[0], _BAND_HZ[1]), rate_hz, "bandpass")
    dyn = sosfiltfilt(sos, acc, axis=0)
    gait_windows = [(s, e) for s, e in _windows(active, width, int(round(1.5 * rate_hz)))
                    if _step_periodicity(acc[s:e], dyn[s:e], rate_hz) >= _PERIODIC_MIN]
    gait_s = sum(e - s for s, e in gait_windows) / rate_hz
    have_gait = gait_s >= _MIN_GAIT_S

    # --- vertical ----------------------------------------------------------------------------
    if have_gait:
        windows = gait_windows
        source = f"mean acceleration over {gait_s:.0f} s of gait"
    else:
        windows = _windows(np.ones(n, dtype=bool), width, int(round(1.0 * rate_hz)))
        source = "mean acceleration over the whole recording (no gait found)"
    sums = np.array([acc[s:e].sum(axis=0) for s, e in windows])
    lens = np.array([e - s for s, e in windows], dtype=np.float64)
    g_mean = sums.sum(axis=0) / lens.sum()
    if np.linalg.norm(g_mean) < 0.2 * G:
        raise InputError("acceleration", f"mean acceleration is only {np.linalg.norm(g_mean):.3g}"
                         " m/s²: gravity not found (units must be m/s², gravity included)")
    z = _unit(g_mean)
    dirs = sums / np.linalg.norm(sums, axis=1, keepdims=True)
    spread = _direction_spread_deg(dirs, lens, z) if len(windows) > 1 else 0.0
    ratio = np.linalg.norm(g_mean) / G
    notes.append(f"vertical: {source}, window spread {spread:.1f}°, |mean| {ratio:.3f} G")
    clipped, tilt = "", 0.0
    floor = _clipped_floor(acc, z)
    if floor is not None:
        k, level_g, share = floor
        tilt = float(np.degrees(np.arccos(min(1.0, abs(z[k])))))
        z = np.zeros(3)
        z[k] = np.sign(g_mean[k])
        clipped = (f"sensor axis {'xyz'[k]} reads {level_g:+.2f} G, its lowest value, in "
                   f"{100 * share:.0f} % of samples (clipped): kept as vertical, {tilt:.0f}° of "
                   "tilt from gravity left in")
        notes.append("vertical: " + clipped)
    vertical_quality = float(np.exp(-(spread + tilt) / 10.0)
                             * np.clip(1 - abs(ratio - 1) / 0.25, 0, 1))

    if not have_gait:
        x = _fallback_forward(z)
        notes.append(f"forward: undetermined (only {gait_s:.1f} s of gait); fallback = horizontal "
                     "projection of the sensor axis closest to horizontal")
        return _make(x, z, vertical_quality, 0.0, notes, clipped, tilt)

    # --- forward axis ------------------------------------------------------------------------
    v = dyn @ z
    h = dyn - v[:, None] * z[None, :]
    max_lag = int(round(_MAX_LAG_S * rate_hz))
    m = np.zeros((3, 3))
    for s, e in gait_windows:
        r = _lag_cross_cov(h[s:e], v[s:e], min(max_lag, (e - s) // 2))
        m += (e - s) * (r.T @ r)
    evals, evecs = np.linalg.eigh(m)
    x0 = evecs[:, -1]
    x0 = _unit(x0 - (x0 @ z) * z)
    axis_clarity = float(1.0 - evals[-2] / evals[-1]) if evals[-1] > 0 else 0.0
    if biaxial:
        axis_clarity = min(axis_clarity, 0.5)
    notes.append(f"forward axis: largest horizontal/vertical cross-covariance, "
                 f"λ2/λ1 = {evals[-2] / max(evals[-1], 1e-300):.3f}")

    # --- sign of forward ---------------------------------------------------------------------
    vert_total = G + v
    fwd = h @ x0
    dvert = np.gradient(v)
    phi = np.arctan2(fwd, np.maximum(vert_total, 1e-9))
    dphi = np.gradient(phi)
    votes, checks, weights, n_run = [], [], [], 0
    for s, e in gait_windows:
        sl = slice(s, e)
        running = np.mean(amag[sl] < 0.5 * G) >= _FLIGHT_SHARE
        n_run += running
        sd_f, sd_v = np.std(fwd[sl]), np.std(dvert[sl])
        if sd_f == 0 or sd_v == 0:
            continue
        corr = float(np.mean((fwd[sl] - fwd[sl].mean()) * (dvert[sl] - dvert[sl].mean()))
                     / (sd_f * sd_v))
        votes.append(-corr if running else corr)
        stance = vert_total[sl] > 0.5 * G
        checks.append(float(np.mean(dphi[sl][stance] > 0) - 0.5) if np.any(stance) else 0.0)
        weights.append(e - s)
    w = np.asarray(weights, dtype=np.float64)
    votes_a, checks_a = np.asarray(votes), np.asarray(checks)
    total = float(np.sum(w * votes_a)) if len(w) else 0.0
    sign = 1.0 if total >= 0 else -1.0
    if len(w):
        agreement = abs(total) / max(float(np.sum(w * np.abs(votes_a))), 1e-300)
        strength = min(1.0, abs(total) / float(np.sum(w)) / 0.2)
        check = sign * float(np.sum(w * checks_a) / np.sum(w))
    else:
        agreement = strength = check = 0.0
    sign_quality = agreement * strength * (0.5 if check < 0 else 1.0)
    x = sign * x0
    notes.append(
        f"forward sign: braking/propulsion phase vs vertical jerk in {len(w)} windows "
        f"({n_run} running, {len(gait_windows) - n_run} walking), agreement {agreement:.2f}, "
        f"mean vote {abs(total) / max(float(np.sum(w)), 1e-300):.2f}; force-rotation check "
        f"{'agrees' if check >= 0 else 'DISAGREES'} ({0.5 + check:.2f} of stance rotating "
        "forward)")
    return _make(x, z, vertical_quality, float(axis_clarity * sign_quality), notes, clipped,
                 tilt)


def _clipped_floor(acc: np.ndarray, z: np.ndarray) -> tuple[int, float, float] | None:
    """(axis, level in G, share of samples) if the sensor axis nearest to the vertical ``z``
    is clipped at a floor below 1 G in its upward reading (see the module docstring), else
    None.

    Clipping piles every value below the floor onto that one stored value, while the signal
    reaches the floor continuously from above: no other value near the floor repeats nearly as
    often. Quantisation puts every sample on a grid, so the next levels hold about as many as
    the lowest one; filled dropouts (rows of all zeros) are ignored, and an isolated outlier
    has no samples just above it."""
    k = int(np.argmax(np.abs(z)))
    rows = ~np.all(acc == 0.0, axis=1)  # a logger's zero-filled dropouts are not a floor
    up = acc[rows, k] * np.sign(z[k])
    if up.size == 0:
        return None
    low = float(up.min())
    at_floor = int(np.count_nonzero(up == low))
    share = at_floor / up.size
    if share < _CLIP_MIN_SHARE or at_floor < 10 or low >= G:
        return None
    if float(np.quantile(up, 0.99)) - low < G:  # e.g. a quantised signal of someone standing
        return None
    near = up[(up > low) & (up <= low + _CLIP_BAND_G * G)]
    if near.size < max(10, _CLIP_MIN_SHARE * up.size / 10):  # not reached from above
        return None
    if at_floor < _CLIP_SPIKE * int(np.unique(near, return_counts=True)[1].max()):
        return None
    return k, low / G, share


def _make(x: np.ndarray, z: np.ndarray, vq: float, fq: float, notes: list[str],
          clipped: str, tilt_left_deg: float) -> Alignment:
    y = np.cross(z, x)
    rot = np.vstack((x, y, z))
    return Alignment(rotation=rot, vertical_quality=vq, forward_quality=fq,
                     method="gravity + braking/propulsion phase; " + "; ".join(notes),
                     clipped=clipped, tilt_left_deg=tilt_left_deg)
