"""Gait events and strides of one shoe-mounted IMU: mid-stance, initial contact, toe-off.

Input: acceleration (m/s², gravity included) and angular rate (rad/s) of one foot sensor, in its
own sensor frame (any mounting), on a uniform grid. Everything below is vectorised numpy.

Method, in order (each step uses only the foot's own physics, no constant fitted to a data set):

1. **Clipping.** A gyroscope or accelerometer that saturates piles its largest values up at
   one level: several separate excursions reach within 1 % of the axis' largest magnitude
   (:func:`clipped_mask`; or the range given by the caller). Those samples are flagged and the
   gyroscope runs are filled with a parabola through the neighbouring samples
   (:func:`declip`), so the missing rotation is roughly restored before integration; the
   strides touched are marked.
2. **Mid-stance (zero-velocity instant).** The SHOE statistic of Skog et al. (2010, IEEE Trans
   Biomed Eng 57:2657), ``S = mean_W(|a - g a_dir|² / sa² + |w|² / sw²)`` with the noise ratio
   ``sa / sw`` of Wagstaff et al. (2017, IPIN, PyShoe: 0.01 m/s² vs 0.1 deg/s), is *not*
   thresholded (a fixed threshold fails at running speed, where the foot is still for a few
   tens of ms only). Instead each swing (a peak of the angular-rate magnitude above
   ``SWING_MIN_RADS``) is found, and the mid-stance between two consecutive swings is the
   minimum of ``S`` there: one zero-velocity instant per stance, however short the stance.
3. **Strapdown between consecutive mid-stances** (:func:`integrate_strides`). Orientation is the
   exact product of per-sample rotation increments (rotation vector = mean rate x dt, see
   :mod:`imu_hip.dsp.orientation`); at each mid-stance the vertical is the measured gravity
   direction. The gyroscope, not the accelerometer, carries the tilt from one mid-stance to the
   next: at a running mid-stance the foot still accelerates, so the measured gravity direction
   is off by a few degrees (a median 4 deg between consecutive mid-stances of the unsaturated
   strides in ``shoe_jogging_vicon``, while gyro drift over a stride is < 0.5 deg), and
   "correcting" the tilt with it adds ~2 cm of error per stride. Only where the gyroscope
   saturated is the tilt difference at the next mid-stance used: applied in proportion to the
   rate the clipping repair added, and by at most the rotation that repair added (the part of
   the orientation the gyroscope could not measure). Gravity is removed, velocity integrated
   with its reset at both mid-stances: the velocity left at the end is removed as a linear
   drift in time; position is the integral. Stride length = horizontal displacement, with the
   stride's vertical taken as the direction of its mean specific force (a stride from rest to
   rest has zero mean acceleration, so that mean is gravity without the foot's acceleration at
   the mid-stance).
4. **Foot frame.** Vertical = the strides' vertical (above) in the sensor frame at their
   starting mid-stance (foot flat); forward = the mean horizontal stride direction seen from the
   sensor at mid-stance; left = up x forward.
5. **Initial contact** = the first jerk (change of the acceleration vector) of at least half the
   largest between the swing and the next mid-stance: the collision of the shoe with the
   ground; for a heel strike (foot still > 8 deg toe up at the impact, the rear-foot class of
   Altman & Davis 2012) moved back to the start of the heel rocker (the foot's pitch rate
   turning from toe-up to toe-down) when that comes within :data:`HEEL_ROCKER_S` before it,
   because a soft heel strike reaches a sensor on the instep only after the heel has landed.
   **Toe-off** = the largest toe-down (plantar-flexion) angular rate between mid-stance and the
   swing, i.e. the end of push-off where the foot leaves the ground rotating about the toes
   (the rate falls through zero only later in early swing).
6. **Sub-sample event times.** Each event is an instant of a continuous signal, so its time is
   not rounded to a sample: the initial contact is where the jerk ``|a(t) - a(t - dt)|`` (a
   continuous function of ``t``, sampled at the samples) rises through its level, and where the
   pitch rate rises through zero for the heel rocker - both linearly interpolated between the
   two samples that enclose the crossing (:func:`level_crossing`); the toe-off is the vertex
   of the parabola through the largest toe-down rate and its two neighbours
   (:func:`peak_vertex`). Rounding them to whole samples quantised every step time derived
   from the shoes to multiples of the sample period (at 400 Hz: 2.5 ms steps).

Strides are keyed by their second mid-stance: stride ``k`` runs from ``ms[k]`` to ``ms[k + 1]``,
holds the toe-off of the stance at ``ms[k]`` and the initial contact of the stance at
``ms[k + 1]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imu_hip.dsp.filters import find_peaks, moving_mean
from imu_hip.dsp.frames import touches
from imu_hip.model import G

#: Smallest peak of the (smoothed) angular-rate magnitude that counts as a swing (rad/s):
#: slow walking swings reach ~3-4 rad/s, running 8-15 rad/s; shuffling in place stays below.
SWING_MIN_RADS = 2.0
#: Noise ratio of the SHOE detector (Wagstaff et al. 2017): sa = 0.01 m/s², sw = 0.1 deg/s.
SHOE_SIGMA_A = 0.01
SHOE_SIGMA_W = np.radians(0.1)
#: The foot is at rest between two swings when the smoothed angular-rate magnitude falls below
#: this share of the smaller swing peak (stance: < 10 %; push-off or turn pivot: > 20 %).
STANCE_RATIO = 0.18
#: Longest stride integrated (s); a longer stance-to-stance interval (standing, a pause)
#: breaks the chain: no stride is made across it.
MAX_STRIDE_S = 2.5
#: Longest delay (s) between the heel touching down (the foot's pitch rate turning toe-down,
#: the heel rocker) and the impact reaching the sensor on the instep, for a soft heel strike.
#: 45-60 ms give the same contacts on the shared walking data and on simulated heel strikers
#: (benchmarks/accuracy_shoe.py); from 90 ms the simulated foot's rotation in the air before
#: touchdown is taken for a heel rocker, below 40 ms the walking contacts come late.
HEEL_ROCKER_S = 0.06
#: A sensor reading under this acceleration magnitude (g) is falling nearly freely: a trunk in
#: a running flight phase (its motion relative to the centre of mass gives +-0.3 g), never a foot.
FREE_FALL_G = 0.5
#: Share of the time in free fall from which a signal is a trunk's, not a foot's (see
#: :func:`looks_like_foot`: running trunks 13-37 %, feet under 0.5 %).
FREE_FALL_SHARE = 0.05
#: Shortest stride (s): sprinting reaches ~0.5 s.
MIN_STRIDE_S = 0.4
#: Lowest level (m/s²) at which an accelerometer can saturate: no range is below +-2 g, whose
#: largest reading is 32767/16384 g = 1.99994 g.
ACC_SATURATION_FLOOR_MPS2 = 1.9 * G


@dataclass(eq=False)
class FootStrides:
    """Strides of one foot, all arrays of equal length (one entry per stride).

    Sample indices into the analysed arrays: ``ms0``/``ms1`` mid-stance at the start/end, ``to``
    toe-off (of the stance at ``ms0``), ``ic`` initial contact (of the stance at ``ms1``),
    ``to_next`` toe-off of the stance at ``ms1`` (-1 when not found). ``disp_m``: (k, 3)
    displacement and ``up_s`` (k, 3) the stride's up direction, both in the sensor frame at ``ms0``.
    ``clipped``: a sample in the stride was clipped. ``frame``: 3x3 foot frame in sensor
    coordinates (columns forward, left, up), or None. ``ms_all``: all mid-stances found (also
    those without a full stride). ``touched``: the stride (``ms0`` to ``ms1``, widened by a
    margin) touches a filled sample (None: no samples filled): what is integrated over the
    stride (length, speed) and its first toe-off are not measured. ``unplaced``: a filled sample
    could have moved its events (see :func:`_unplaced`): the stride is not reported (None: no
    samples filled). ``acc_clipped``: the accelerometer saturated within the stride (None:
    nowhere); its length and impact are then not measured.
    ``ic_t``, ``to_t``, ``to_next_t``: the same events as fractional sample positions (float;
    -1 where the integer index is -1; None: equal to the integer indices), see
    :func:`level_crossing` and :func:`peak_vertex`. The integer indices are the samples at or
    after (``ic``) or nearest to (toe-off) those instants, for indexing the arrays.
    """

    ms0: np.ndarray
    ms1: np.ndarray
    to: np.ndarray
    ic: np.ndarray
    to_next: np.ndarray
    disp_m: np.ndarray
    up_s: np.ndarray
    clipped: np.ndarray
    frame: np.ndarray | None
    ms_all: np.ndarray
    touched: np.ndarray | None = None
    acc_clipped: np.ndarray | None = None
    ic_t: np.ndarray | None = None
    to_t: np.ndarray | None = None
    to_next_t: np.ndarray | None = None
    unplaced: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.ms0.size)


# ---------------------------------------------------------------------------------- clipping


def clipped_mask(x: np.ndarray, floor: float, tol: float = 0.015, min_peaks: int = 3,
                 full_scale: float | None = None, jumps: bool = True,
                 rate_hz: float = 200.0) -> np.ndarray:
    """Samples (n,) where an axis of ``x`` (n, 3) sits at the sensor's range limit.

    With ``full_scale`` known: ``|x| >= (1 - tol) full_scale``. Otherwise the limit shows as
    flat-topped excursions piling up at one level ``L`` (the ``min_peaks``-th largest excursion
    maximum, robust to a stray sample; ``L >= floor``, no real range lies below it): the signal
    jumps from more than ``5 tol`` below ``L`` into the band ``[(1 - tol) L, L]`` within one
    sample and out again (only with ``jumps``: right for a smooth signal such as the angular
    rate, wrong for impact spikes), or holds a plateau: >= 12 ms (at least 3 samples at
    ``rate_hz``) within 0.1 % of ``L`` of its top. A smooth peak at the frequencies of gait
    (< 10 Hz, sampled at >= 100 Hz) crosses that band gradually and curves by more than that.
    The axis counts as clipped when at least ``min_peaks`` excursions do this; then every
    sample in the band is flagged.
    """
    x = np.asarray(x, dtype=float)
    out = np.zeros(x.shape[0], bool)
    plateau = max(3, int(round(0.012 * rate_hz)))
    if x.shape[0] < 3:
        return out
    for ax in range(x.shape[1]):
        a = np.abs(x[:, ax])
        if full_scale is not None:
            out |= a >= (1.0 - tol) * full_scale
            continue
        big = a >= 0.5 * float(np.max(a))
        edges = np.diff(np.concatenate(([0], big.astype(np.int8), [0])))
        starts = np.flatnonzero(edges == 1)
        if starts.size < min_peaks:
            continue
        peaks = np.sort(np.maximum.reduceat(a, starts))[::-1]
        level = float(peaks[min_peaks - 1])
        if not level >= floor:
            continue
        top = a >= (1.0 - tol) * level
        te = np.diff(np.concatenate(([0], top.astype(np.int8), [0])))
        ts, tend = np.flatnonzero(te == 1), np.flatnonzero(te == -1)
        inner = (ts > 0) & (tend < a.size)
        ts, tend = ts[inner], tend[inner]
        low = (1.0 - 5.0 * tol) * level
        sharp = (a[ts - 1] < low) & (a[tend] < low) if jumps else np.zeros(ts.size, bool)
        if ts.size:
            idx, owner, _ = _ranges(ts, tend)
            run_max = np.maximum.reduceat(a, ts)
            at_max = np.bincount(owner, weights=a[idx] >= run_max[owner] - 1e-3 * level,
                                 minlength=ts.size)
            sharp |= at_max >= plateau
        if int(sharp.sum()) >= min_peaks:
            out |= top
    return out


def declip(x: np.ndarray, mask: np.ndarray, side: int = 3) -> np.ndarray:
    """Copy of ``x`` (n, 3) with each clipped run (``mask``) of each axis replaced by the
    parabola fitted (least squares) to ``side`` samples on each side of the run, where that
    parabola lies beyond the clipped value (it never shrinks a measured magnitude)."""
    out = np.array(x, dtype=float, copy=True)
    n = out.shape[0]
    top = np.max(np.abs(out), axis=0) if n else np.zeros(3)
    edges = np.diff(np.concatenate(([0], mask.astype(np.int8), [0])))
    for s, e in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        lo, hi = max(0, s - side), min(n, e + side)
        idx = np.concatenate((np.arange(lo, s), np.arange(e, hi)))
        if idx.size < 3:
            continue
        run = np.arange(s, e)
        for ax in range(out.shape[1]):
            level = out[s:e, ax]
            if np.max(np.abs(level)) < 0.9 * top[ax]:
                continue  # this axis is not the clipped one
            c = np.polyfit(idx - s, out[idx, ax], 2)
            fit = np.polyval(c, run - s)
            sign = np.sign(np.mean(level))
            out[s:e, ax] = sign * np.maximum(np.abs(level), sign * fit)
    return out


# ---------------------------------------------------------------------------------- stance


def shoe_statistic(acc: np.ndarray, gyr: np.ndarray, rate_hz: float) -> np.ndarray:
    """SHOE zero-velocity statistic (Skog et al. 2010) per sample, window ~25 ms (>= 3 samples):
    the window mean of ``|a - g u|² / sa² + |w|² / sw²`` with ``u`` the window's mean specific
    force direction. Lower = more likely still; dimensionless."""
    w = max(3, int(round(0.025 * rate_hz)) | 1)
    am = moving_mean(acc.T, w)
    norm = np.sqrt(am[0] * am[0] + am[1] * am[1] + am[2] * am[2])
    k = G / np.where(norm > 0, norm, 1.0)
    r0, r1, r2 = acc[:, 0] - k * am[0], acc[:, 1] - k * am[1], acc[:, 2] - k * am[2]
    wg = gyr[:, 0] * gyr[:, 0] + gyr[:, 1] * gyr[:, 1] + gyr[:, 2] * gyr[:, 2]
    res = r0 * r0 + r1 * r1 + r2 * r2
    return moving_mean(res / SHOE_SIGMA_A**2 + wg / SHOE_SIGMA_W**2, w)


def rate_magnitude(gyr: np.ndarray, rate_hz: float) -> np.ndarray:
    """Angular-rate magnitude (rad/s) smoothed by a 50 ms moving mean."""
    return moving_mean(_norm3(gyr), max(1, int(round(0.05 * rate_hz))))


def swing_peaks(gyr: np.ndarray, rate_hz: float, wmag: np.ndarray | None = None) -> np.ndarray:
    """Sample indices of the swings, one per stride.

    Peaks of the 50 ms-smoothed angular-rate magnitude ``w`` above :data:`SWING_MIN_RADS`, at
    least :data:`MIN_STRIDE_S` apart. Two consecutive peaks belong to the same swing unless the
    foot comes to rest between them: ``min w`` between them below :data:`STANCE_RATIO` of the
    smaller peak (a push-off and a swing peak, or the pivot of a turn, stay well above that);
    such pairs are merged into the higher peak.
    """
    w = rate_magnitude(gyr, rate_hz) if wmag is None else wmag
    peaks, _ = find_peaks(w, distance=0.25 * MIN_STRIDE_S * rate_hz, prominence=SWING_MIN_RADS)
    peaks = peaks[w[peaks] >= SWING_MIN_RADS]
    if peaks.size < 2:
        return peaks
    # lowest rate between consecutive peaks; a stance separates them when it is low enough
    low = np.minimum.reduceat(w, peaks)[:-1]
    stance = low < STANCE_RATIO * np.minimum(w[peaks[:-1]], w[peaks[1:]])
    group = np.concatenate(([0], np.cumsum(stance)))
    # the highest peak of each group of peaks not separated by a stance
    order = np.lexsort((-w[peaks], group))
    first = np.searchsorted(group[order], np.arange(group[-1] + 1))
    return np.sort(peaks[order[first]])


def midstances(
    acc: np.ndarray, gyr: np.ndarray, rate_hz: float, swings: np.ndarray,
    wmag: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mid-stance sample indices and a chain flag per mid-stance.

    One mid-stance (the minimum of the SHOE statistic) between each pair of consecutive swings
    closer than :data:`MAX_STRIDE_S`; before the first swing and after the last (and around a
    longer pause) within ``MAX_STRIDE_S / 2`` of the swing, the still sample nearest to the swing
    (within a decade of the quietest). ``linked[i]`` is True
    when mid-stances ``i`` and ``i + 1`` enclose exactly one swing (a stride).
    """
    s = shoe_statistic(acc, gyr, rate_hz)
    n = s.size
    half = int(round(0.5 * MAX_STRIDE_S * rate_hz))
    if swings.size == 0:
        return np.zeros(0, int), np.zeros(0, bool)
    edge = max(2, int(round(0.05 * rate_hz)))
    if wmag is None:
        wmag = rate_magnitude(gyr, rate_hz)

    def valid(i: np.ndarray, peak: np.ndarray) -> np.ndarray:
        """-1 where ``i`` is at the very start or end of the data (the stance may lie outside
        it) or where the foot is not at rest (as in :func:`swing_peaks`)."""
        ok = (i >= edge) & (i < n - edge)
        ok &= wmag[np.clip(i, 0, n - 1)] < STANCE_RATIO * np.maximum(peak, SWING_MIN_RADS)
        return np.where(ok, i, -1)

    def near_standing(a: int, b: int, late: bool) -> int:
        """Next to standing the still stance may be long and any sample of it is a valid
        zero-velocity instant: take the one next to the swing (within a decade of the
        quietest), so the stride's times describe the movement, not the standing."""
        a, b = max(a, 0), min(b, n)
        if b <= a:
            return -1
        seg = s[a:b]
        near = np.flatnonzero(seg <= 10.0 * seg.min())
        i = a + int(near[-1] if late else near[0])
        return int(valid(np.array([i]), np.array([float(wmag[a:b].max())]))[0])

    p = swings
    chained = np.diff(p) <= 2 * half
    between = np.full(p.size - 1, -1)
    if chained.any():
        c = np.flatnonzero(chained)
        mins = _seg_argmax(-s, p[c], p[c + 1])
        peak = np.maximum.reduceat(wmag, p)[:-1][c]
        between[c] = valid(mins, peak)
    ms: list[int] = []
    linked: list[bool] = []
    prev_ms = near_standing(p[0] - half, p[0], late=True)
    for i in range(p.size):
        if i + 1 < p.size and chained[i]:
            ms.append(prev_ms)
            linked.append(prev_ms >= 0)
            prev_ms = int(between[i])
        else:
            after = near_standing(p[i], p[i] + half, late=False)
            ms.append(prev_ms)
            linked.append(prev_ms >= 0 and after >= 0)
            ms.append(after)
            linked.append(False)
            prev_ms = (near_standing(p[i + 1] - half, p[i + 1], late=True)
                       if i + 1 < p.size else -1)
    ms_a = np.asarray(ms, int)
    linked_a = np.asarray(linked, bool)
    ok = ms_a >= 0
    # a dropped (-1) mid-stance also unlinks the one before it
    linked_a &= np.append(ok[1:], False) & ok
    return ms_a[ok], linked_a[ok]


# ---------------------------------------------------------------------------------- strapdown


def _norm3(v: np.ndarray) -> np.ndarray:
    """Row norms of an (n, 3) array (faster than np.linalg.norm for 3 columns)."""
    return np.sqrt(v[:, 0] * v[:, 0] + v[:, 1] * v[:, 1] + v[:, 2] * v[:, 2])


def _cross3(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cross product of (n, 3) arrays."""
    out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    out[..., 0] = a[..., 1] * b[..., 2] - a[..., 2] * b[..., 1]
    out[..., 1] = a[..., 2] * b[..., 0] - a[..., 0] * b[..., 2]
    out[..., 2] = a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]
    return out


def qmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of quaternions (..., 4), scalar first."""
    aw, ax, ay, az = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bw, bx, by, bz = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return np.stack((aw * bw - ax * bx - ay * by - az * bz,
                     aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw), axis=-1)


def qconj(q: np.ndarray) -> np.ndarray:
    """Conjugate (inverse of a unit quaternion)."""
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def qrot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors ``v`` (n, 3) by unit quaternions ``q`` (n, 4): ``q v q*``, through the
    rotation matrix of each quaternion, on contiguous component rows (fast for long arrays)."""
    q = np.broadcast_to(q, (v.shape[0], 4)) if q.ndim == 1 else q
    w, x, y, z = np.ascontiguousarray(q.T)
    a, b, c = np.ascontiguousarray(np.broadcast_to(v, (q.shape[0], 3)).T)
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz, wx, wy, wz = x * y, x * z, y * z, w * x, w * y, w * z
    out = np.empty((3, a.size))
    out[0] = (1.0 - 2.0 * (yy + zz)) * a + 2.0 * ((xy - wz) * b + (xz + wy) * c)
    out[1] = (1.0 - 2.0 * (xx + zz)) * b + 2.0 * ((xy + wz) * a + (yz - wx) * c)
    out[2] = (1.0 - 2.0 * (xx + yy)) * c + 2.0 * ((xz - wy) * a + (yz + wx) * b)
    return out.T


def qexp(rv: np.ndarray) -> np.ndarray:
    """Unit quaternions (..., 4) of rotation vectors (..., 3) (rad), exact for any angle.

    For per-sample increments (all angles < 0.5 rad) cos(t/2) and sin(t/2)/t come from their
    Taylor series in t² (truncation error < 4e-10 there, ~1e-16 at typical 0.01 rad), which
    needs no square root or trigonometry."""
    t2 = np.sum(rv * rv, axis=-1, keepdims=True)
    if t2.size and float(np.max(t2)) < 0.25:
        h2 = 0.25 * t2
        c = 1.0 - h2 / 2.0 * (1.0 - h2 / 12.0 * (1.0 - h2 / 30.0))
        k = 0.5 * (1.0 - h2 / 6.0 * (1.0 - h2 / 20.0 * (1.0 - h2 / 42.0)))
        return np.concatenate((c, k * rv), axis=-1)
    th = np.sqrt(t2)
    half = 0.5 * th
    k = np.where(th > 1e-4, np.sin(half) / np.where(th > 0, th, 1.0), 0.5 - t2 / 48.0)
    return np.concatenate((np.cos(half), k * rv), axis=-1)


def _cumprod_q(inc: np.ndarray) -> np.ndarray:
    """Running products ``inc[0] inc[1] ... inc[i]`` (n, 4), computed chunk-parallel: every
    chunk of ``w`` increments is multiplied up in ``w`` vectorised steps across all chunks,
    then the chunk totals are chained (recursively) and applied."""
    n = inc.shape[0]
    if n <= 32:
        out = inc.copy()
        for i in range(1, n):
            out[i] = qmul(out[i - 1], inc[i])
        return out
    w = 32
    m = -(-n // w)
    pad = np.zeros((m * w, 4))
    pad[:, 0] = 1.0
    pad[:n] = inc
    c = np.ascontiguousarray(pad.reshape(m, w, 4).transpose(2, 1, 0))  # (4, w, m)
    cw, cx, cy, cz = c[0], c[1], c[2], c[3]
    for j in range(1, w):
        aw, ax, ay, az = cw[j - 1], cx[j - 1], cy[j - 1], cz[j - 1]
        bw, bx, by, bz = cw[j].copy(), cx[j].copy(), cy[j].copy(), cz[j].copy()
        cw[j] = aw * bw - ax * bx - ay * by - az * bz
        cx[j] = aw * bx + ax * bw + ay * bz - az * by
        cy[j] = aw * by - ax * bz + ay * bw + az * bx
        cz[j] = aw * bz + ax * by - ay * bx + az * bw
    totals = _cumprod_q(np.ascontiguousarray(c[:, -1, :].T))
    starts = np.empty_like(totals)
    starts[0] = (1.0, 0.0, 0.0, 0.0)
    starts[1:] = totals[:-1]
    # (no renormalisation: rounding grows ~1e-16 per product, ~1e-11 over an hour at 400 Hz)
    return qmul(starts[:, None, :], c.transpose(2, 1, 0)).reshape(m * w, 4)[:n]


def orientations(gyr: np.ndarray, rate_hz: float) -> np.ndarray:
    """World-from-sensor unit quaternions (n, 4) relative to the first sample: the exact product
    of per-sample increments with rotation vector ``(w[i-1] + w[i]) dt / 2``."""
    n = gyr.shape[0]
    rv = np.zeros((n, 3))
    if n > 1:
        rv[1:] = 0.5 * (gyr[1:] + gyr[:-1]) / rate_hz
    return _cumprod_q(qexp(rv))


def _rotvec_apply(rv: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors ``v`` (k, 3) by small rotation vectors ``rv`` (k, 3): the exponential
    series to second order, ``v + r x v + r x (r x v) / 2`` (relative error below
    ``|r|^3 / 6``: < 2e-4 for a tilt correction up to 0.1 rad, as after the clipping of
    rates of ~14 rad/s at 9 rad/s)."""
    t = _cross3(rv, v)
    return v + t + 0.5 * _cross3(rv, t)


def integrate_strides(
    acc: np.ndarray,
    rot: np.ndarray,
    rate_hz: float,
    ms0: np.ndarray,
    ms1: np.ndarray,
    repaired_rads: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Displacement (k, 3) of each stride ``ms0[k] -> ms1[k]`` and its up direction (k, 3),
    both in the sensor frame at ``ms0``, by zero-velocity-anchored strapdown. Up is the
    direction of the stride's mean specific force (gravity: the stride starts and ends at
    rest).

    ``rot``: world-from-sensor quaternions from :func:`orientations`. ``repaired_rads``: (n,)
    magnitude of the angular rate the clipping repair added per sample (rad/s; None: no
    clipping). A stride with repaired samples gets the tilt difference between its two
    mid-stances removed at those samples (in proportion to the repair), by at most the
    rotation the repair added; other strides keep the gyroscope's orientation.
    """
    k = ms0.size
    if k == 0:
        return np.zeros((0, 3)), np.zeros((0, 3))
    dt = 1.0 / rate_hz
    fw = qrot(rot, acc)  # specific force in the gyro frame
    # gravity direction (gyro frame) at each mid-stance: mean over +-2 samples
    n = acc.shape[0]

    def up_at(i: np.ndarray) -> np.ndarray:
        idx = np.clip(i[:, None] + np.arange(-2, 3)[None, :], 0, n - 1)
        v = fw[idx].mean(axis=1)
        return v / _norm3(v)[:, None]

    u0, u1 = up_at(ms0), up_at(ms1)
    # direction of the rotation taking u1 back onto u0 (minimal rotation)
    axis = np.cross(u1, u0)
    sin_a = np.linalg.norm(axis, axis=1)
    ang = np.arctan2(sin_a, np.einsum("ij,ij->i", u0, u1))
    corr = np.where(sin_a[:, None] > 1e-12, axis / np.where(sin_a > 0, sin_a, 1)[:, None], 0.0)
    lengths = ms1 - ms0 + 1
    total = int(lengths.sum())
    owner = np.repeat(np.arange(k), lengths)
    pos_in = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    idx = np.repeat(ms0, lengths) + pos_in
    starts = np.cumsum(lengths) - lengths
    if repaired_rads is not None and np.any(repaired_rads > 0):
        c = np.asarray(repaired_rads, float)[idx] * dt  # rotation the repair added (rad)
        cum = np.cumsum(c)
        base = np.where(starts > 0, cum[np.maximum(starts - 1, 0)], 0.0)
        added = np.add.reduceat(c, starts)
        corr *= np.minimum(ang, added)[:, None]
        frac = (cum - np.repeat(base, lengths)) / np.repeat(np.where(added > 0, added, 1.0),
                                                            lengths)
        f = _rotvec_apply(corr[owner] * frac[:, None], fw[idx]) - G * u0[owner]
    else:
        f = fw[idx] - G * u0[owner]
    # Velocity (trapezoid, 0 at ms0) and its integral, without per-sample arrays: with C the
    # running sum of the velocity increments (restarted at no stride) and D the running sum of
    # C, a stride's velocities are C_i - C_first, their sum D_last - D_first + C_first -
    # L C_first, and the trapezoid of the velocity is dt (that sum - v_end / 2). The linear
    # drift v_end t / T removed from the velocity takes v_end T / 2 off the displacement.
    inc = np.empty_like(f)
    inc[0] = 0.0
    np.add(f[1:], f[:-1], out=inc[1:])
    inc *= 0.5 * dt
    first_idx = starts
    inc[first_idx] = 0.0
    csum = np.cumsum(inc, axis=0)
    dsum = np.cumsum(csum, axis=0)
    last_idx = first_idx + lengths - 1
    c_first = csum[first_idx]
    v_end = csum[last_idx] - c_first
    vel_sum = dsum[last_idx] - dsum[first_idx] + c_first - lengths[:, None] * c_first
    duration = ((lengths - 1) * dt)[:, None]
    disp = dt * (vel_sum - 0.5 * v_end) - 0.5 * v_end * duration
    # The stride's vertical: its velocity starts and ends (near) zero, so its mean acceleration
    # is zero and the mean specific force is gravity - free of the foot's acceleration at the
    # mid-stance, which tilts u0 by a few degrees and would shorten every horizontal length
    # (by 1 - cos of that tilt) when projecting on it.
    up = np.add.reduceat(f, starts, axis=0) / lengths[:, None] + G * u0
    up /= _norm3(up)[:, None]
    # into the sensor frame at ms0 (foot flat): displacement and the vertical
    inv0 = qconj(rot[ms0])
    disp_s = qrot(inv0, disp)
    up_s = qrot(inv0, up)
    return disp_s, up_s


# ---------------------------------------------------------------------------------- events


def _ranges(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat sample indices of the ranges ``a[k]:b[k]`` (b > a), their owner and offsets."""
    lengths = np.maximum(b - a, 0)
    owner = np.repeat(np.arange(a.size), lengths)
    starts = np.cumsum(lengths) - lengths
    idx = np.repeat(a, lengths) + np.arange(int(lengths.sum())) - np.repeat(starts, lengths)
    return idx, owner, starts


def _seg_argmax(x: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Index of the (first) maximum of ``x`` over ``a[k]:b[k]`` for each k (-1 if empty)."""
    out = np.full(a.size, -1, dtype=int)
    ok = b > a
    if not ok.any():
        return out
    idx, owner, starts = _ranges(a[ok], b[ok])
    vals = x[idx]
    mx = np.maximum.reduceat(vals, starts)
    hits = np.flatnonzero(vals == mx[owner])
    first = np.searchsorted(owner[hits], np.arange(starts.size))
    out[ok] = idx[hits[first]]
    return out


def _first_above(x: np.ndarray, a: np.ndarray, b: np.ndarray, level: np.ndarray) -> np.ndarray:
    """First index ``i`` in ``a[k]..b[k]`` (inclusive) with ``x[i] >= level[k]``; ``b[k]`` if
    none, -1 where ``b[k] < 0``."""
    out = np.where(b >= 0, b, -1)
    ok = (b >= a) & (b >= 0)
    if not ok.any():
        return out
    idx, owner, starts = _ranges(a[ok], b[ok] + 1)
    hit = x[idx] >= level[ok][owner]
    pos = np.flatnonzero(hit)
    first = np.full(int(ok.sum()), -1)
    # first hit per owner: hits are in order, so take the first position of each owner
    own = owner[pos]
    uniq, where = np.unique(own, return_index=True)
    first[uniq] = idx[pos[where]]
    out[np.flatnonzero(ok)] = np.where(first >= 0, first, b[ok])
    return out


def level_crossing(x: np.ndarray, i: np.ndarray, level: np.ndarray | float) -> np.ndarray:
    """Fractional sample position (float) where ``x`` rises through ``level`` just before each
    index ``i`` (``x[i] >= level``): linear interpolation between ``x[i - 1]`` and ``x[i]``, so
    in ``(i - 1, i]``. ``i`` itself where ``x[i - 1]`` is already at the level (or ``i`` is 0);
    -1 where ``i`` is -1."""
    i = np.asarray(i, int)
    lv = np.broadcast_to(np.asarray(level, float), i.shape)
    out = i.astype(float)
    ok = i >= 1
    if not ok.any():
        return out
    a, b, L = x[i[ok] - 1], x[i[ok]], lv[ok]
    rise = (a < L) & (b > a)
    frac = np.where(rise, (L - a) / np.where(rise, b - a, 1.0), 1.0)
    out[ok] = i[ok] - 1 + np.clip(frac, 0.0, 1.0)
    return out


def peak_vertex(x: np.ndarray, i: np.ndarray) -> np.ndarray:
    """Fractional sample position (float) of the maximum of ``x`` near each index ``i`` (a
    sample maximum): the vertex of the parabola through ``x[i - 1], x[i], x[i + 1]``, within
    half a sample of ``i``. ``i`` where a neighbour is missing or the three samples do not curve
    down; -1 where ``i`` is -1."""
    i = np.asarray(i, int)
    out = i.astype(float)
    ok = (i >= 1) & (i < x.size - 1)
    if not ok.any():
        return out
    a, b, c = x[i[ok] - 1], x[i[ok]], x[i[ok] + 1]
    curve = a - 2.0 * b + c
    down = curve < 0
    delta = np.where(down, 0.5 * (a - c) / np.where(down, curve, -1.0), 0.0)
    out[ok] = i[ok] + np.clip(delta, -0.5, 0.5)
    return out


def _heel_rocker_start(pitch_rate: np.ndarray, ic: np.ndarray, back: int) -> np.ndarray:
    """Move each contact ``ic`` back to the last toe-up -> toe-down turn of the pitch rate in
    the ``back`` samples before it, where there is one: the heel is on the ground and the heel
    rocker has started before a soft heel strike's impact reaches the sensor."""
    out = ic.copy()
    ok = ic > back
    if not ok.any() or back < 1:
        return out
    k = np.flatnonzero(ok)
    win = ic[k, None] - back + np.arange(back + 1)[None, :]
    seg = pitch_rate[win]
    turn = (seg[:, :-1] < 0) & (seg[:, 1:] >= 0)
    has = turn.any(axis=1)
    last = back - 1 - np.argmax(turn[:, ::-1], axis=1)  # index of the last turn (pair start)
    out[k[has]] = win[has, 0] + last[has] + 1
    return out


def foot_frame(disp_s: np.ndarray, up_s: np.ndarray) -> np.ndarray | None:
    """Foot frame in sensor coordinates (3x3, columns forward, left, up) from the strides'
    displacements and up directions seen from the sensor at mid-stance; None without a stride
    of at least 0.2 m (the forward direction is then unknown)."""
    if disp_s.shape[0] == 0:
        return None
    up = up_s.mean(axis=0)
    up /= np.linalg.norm(up)
    h = disp_s - np.einsum("ij,ij->i", disp_s, up_s)[:, None] * up_s
    hl = np.linalg.norm(h, axis=1)
    ok = np.isfinite(hl) & (hl >= 0.2)
    if not ok.any():
        return None
    fwd = (h[ok] / hl[ok, None]).sum(axis=0)
    fwd -= (fwd @ up) * up
    nf = np.linalg.norm(fwd)
    if nf < 1e-9:
        return None
    fwd /= nf
    return np.column_stack((fwd, np.cross(up, fwd), up))


def detect_strides(
    acc: np.ndarray,
    gyr: np.ndarray,
    rate_hz: float,
    gyro_range_rads: float | None = None,
    filled: np.ndarray | None = None,
    margin_n: int = 0,
    acc_raw: np.ndarray | None = None,
) -> tuple[FootStrides, np.ndarray, np.ndarray, np.ndarray]:
    """Strides of one foot; see the module docstring for the method.

    ``acc``: (n, 3) m/s², ``gyr``: (n, 3) rad/s, sensor frame, uniform at ``rate_hz``.
    ``gyro_range_rads``: the gyroscope's full scale if known (else found from the data).
    ``filled``: sorted indices of samples filled across a hole (lost packets); strides within
    ``margin_n`` samples of one are marked ``touched`` and left out of the foot frame, and
    those whose events a filled sample could have moved are marked ``unplaced``
    (:func:`_unplaced`).
    ``acc_raw``: the raw accelerometer readings behind a calibrated ``acc`` (where a saturated
    axis is flat), searched for saturation instead of ``acc``.
    Returns the strides, the orientations (n, 4 quaternions, world-from-sensor, from the
    repaired angular rate), the repaired angular rate (n, 3) and the clipped-sample mask (n,).
    """
    fs = float(rate_hz)
    n = acc.shape[0]
    acc_clip = clipped_mask(acc if acc_raw is None else acc_raw, ACC_SATURATION_FLOOR_MPS2,
                            jumps=False, rate_hz=fs)
    clip = clipped_mask(gyr, 4.0, full_scale=gyro_range_rads, rate_hz=fs) | acc_clip
    gyr_fix = declip(gyr, clip) if clip.any() else np.asarray(gyr, float)
    rot = orientations(gyr_fix, fs) if n else np.zeros((0, 4))
    empty_i = np.zeros(0, int)
    none = FootStrides(empty_i, empty_i, empty_i, empty_i, empty_i, np.zeros((0, 3)),
                       np.zeros((0, 3)), np.zeros(0, bool), None, empty_i)
    if n < 3:
        return none, rot, gyr_fix, clip
    wmag = rate_magnitude(gyr_fix, fs)
    swings = swing_peaks(gyr_fix, fs, wmag)
    ms, linked = midstances(acc, gyr_fix, fs, swings, wmag)
    i0 = np.flatnonzero(linked)
    ms0, ms1 = ms[i0], ms[i0 + 1]
    dur = (ms1 - ms0) / fs
    good = (dur >= MIN_STRIDE_S) & (dur <= MAX_STRIDE_S)
    i0, ms0, ms1 = i0[good], ms0[good], ms1[good]
    if ms0.size == 0:
        none.ms_all = ms
        return none, rot, gyr_fix, clip
    disp_s, up_s = integrate_strides(acc, rot, fs, ms0, ms1,
                                     _norm3(gyr_fix - gyr) if clip.any() else None)
    holed = filled is not None and filled.size > 0
    if holed:
        assert filled is not None
        touched = touches(filled, ms0 - margin_n, ms1 + margin_n)
        clean = ~touched if not touched.all() else np.ones_like(touched)
        frame = foot_frame(disp_s[clean], up_s[clean])
    else:
        frame = foot_frame(disp_s, up_s)
    # The swing: the fastest toe-up (dorsiflexing) rotation between the two stances, i.e. the
    # most negative pitch rate about the foot's left axis (+ = toe down). Without a foot frame
    # (no stride long enough to give the forward direction) the angular-rate magnitude.
    if frame is not None:
        pitch_rate = gyr_fix @ frame[:, 1]
        peak = _seg_argmax(-pitch_rate, ms0, ms1)
    else:
        pitch_rate = wmag
        peak = _seg_argmax(wmag, ms0, ms1)
    # initial contact: the first jerk (change of the acceleration vector between samples) of at
    # least half the largest one between the swing and the next mid-stance: the collision of
    # the shoe with the ground (with a heel strike, the later forefoot slap can be larger)
    jerk = np.zeros(n)
    jerk[1:] = _norm3(np.diff(acc, axis=0))
    big = _seg_argmax(jerk, peak + 1, ms1)
    level = 0.5 * jerk[np.maximum(big, 0)]
    ic = _first_above(jerk, peak + 1, big, level)
    ic_t = np.where(ic >= 0, level_crossing(jerk, ic, level), -1.0)
    if frame is not None:
        # heel strikes only: the foot still toe-up by more than the rear-foot threshold of
        # Altman & Davis (2012) when the impact arrives (the heel is down, the forefoot not
        # yet); a mid- or fore-foot landing has no heel rocker, and such runners may
        # plantar-flex the foot in the air before touching down
        from imu_hip.metrics.foot import REAR_ABOVE_DEG, strike_angle_deg

        cand = _heel_rocker_start(pitch_rate, ic, int(round(HEEL_ROCKER_S * fs)))
        moved = np.flatnonzero((cand != ic) & (ic >= 0))
        if moved.size:
            angle = strike_angle_deg(rot, frame, ic[moved], ms1[moved])
            heel = angle > REAR_ABOVE_DEG
            ic = ic.copy()
            ic[moved[heel]] = cand[moved[heel]]
            # the heel rocker starts where the pitch rate rises through zero
            ic_t[moved[heel]] = level_crossing(pitch_rate, cand[moved[heel]], 0.0)
    # toe-off: largest toe-down pitch rate between mid-stance and the swing
    to = _seg_argmax(pitch_rate, ms0, peak)
    to_t = peak_vertex(pitch_rate, to)
    # toe-off of the stance at ms1: from the next stride if it follows directly
    to_next = np.full(ms0.size, -1, dtype=int)
    to_next_t = np.full(ms0.size, -1.0)
    follows = np.flatnonzero(i0[1:] == i0[:-1] + 1)
    to_next[follows] = to[follows + 1]
    to_next_t[follows] = to_t[follows + 1]
    # a stance with no following stride: search up to the next swing peak, if any
    lonely = np.flatnonzero(to_next < 0)
    if lonely.size:
        nxt_sw = np.searchsorted(swings, ms1[lonely])
        has = nxt_sw < swings.size
        li = lonely[has]
        end = swings[nxt_sw[has]]
        ok = (end - ms1[li]) / fs <= 0.5 * MAX_STRIDE_S
        to_next[li[ok]] = _seg_argmax(pitch_rate, ms1[li[ok]], end[ok])
        to_next_t[li[ok]] = peak_vertex(pitch_rate, to_next[li[ok]])
    cidx, _, cstart = _ranges(ms0, ms1 + 1)
    clipped = np.maximum.reduceat(clip[cidx], cstart) if cidx.size else np.zeros(0, bool)
    acc_clipped = (np.maximum.reduceat(acc_clip[cidx], cstart)
                   if cidx.size and acc_clip.any() else None)
    if holed:
        assert filled is not None and touched is not None
        unplaced = _unplaced(filled, margin_n, fs, swings, ms, ms0, ms1, ic, to, to_next, peak,
                             n, touched, frame is None)
    else:
        touched = unplaced = None
    return (
        FootStrides(ms0, ms1, to, ic, to_next, disp_s, up_s, clipped, frame, ms, touched,
                    acc_clipped, ic_t, to_t, to_next_t, unplaced),
        rot,
        gyr_fix,
        clip,
    )


def _unplaced(filled: np.ndarray, margin_n: int, fs: float, swings: np.ndarray,
              ms_all: np.ndarray, ms0: np.ndarray, ms1: np.ndarray, ic: np.ndarray,
              to: np.ndarray, to_next: np.ndarray, peak: np.ndarray, n: int,
              touched: np.ndarray, no_frame: bool) -> np.ndarray:
    """Strides that a filled sample (within ``margin_n``) could have changed beyond the
    columns :data:`imu_hip.foot_pipeline.HOLE_NAN` withholds:

    - the stances at both mid-stances, contact to toe-off: a mid-stance is the quietest sample
      of its stance, and a hole anywhere in the stance can move it (a hole in a swing cannot
      make a quieter one: the foot turns at hundreds of deg/s there);
    - the landing: the contact is searched from the swing peak on (a heel strike's also back
      along the heel rocker), the strike angle and the impact read contact to ``ms1``;
    - a stride more than 1.5 times as long as its neighbours: a filled stance can join two
      strides into one;
    - every stride when all are touched, or when the strides clear of holes give no foot frame:
      the frame would rest on filled data, or be missing (no stride is then reported).

    Only a hole in the early swing (toe-off to swing peak) leaves a stride reported."""
    if touched.all() or (no_frame and touched.any()):
        return np.ones_like(touched)
    back = int(round(HEEL_ROCKER_S * fs))
    land = np.minimum(peak, np.where(ic >= 0, ic - back, peak))
    # What places each mid-stance (see :func:`midstances`): between two swings closer than
    # MAX_STRIDE_S, the quietest sample between them; next to standing, a search within half
    # of that from the swing. The stance at ms0 began at the contact of the stride ending
    # there; without one, the search began at the swing before, or half a stride before the
    # stride's swing when standing came before.
    half = int(round(0.5 * MAX_STRIDE_S * fs))
    j = np.minimum(np.searchsorted(ms1, ms0), ms1.size - 1)
    k = np.searchsorted(swings, ms0)  # the stride's swing
    own = swings[np.minimum(k, swings.size - 1)]
    before = swings[np.maximum(k - 1, 0)]
    chained = (k >= 1) & (own - before <= 2 * half)
    start0 = np.where((ms1[j] == ms0) & (ic[j] >= 0), ic[j],
                      np.where(chained, before, own - half))
    # The stance at ms1 ends at its toe-off taken from the next stride. Without one: when the
    # next swing is chained, at the next mid-stance (the toe-off search ends at that swing's
    # peak, which the hole may have moved); when standing follows, where the search for ms1
    # ends, half a stride after the stride's swing.
    nxt = np.append(ms0[1:] == ms1[:-1], False)
    valid = ms_all[ms_all >= 0]
    after = np.searchsorted(valid, ms1, side="right")
    k = np.searchsorted(swings, ms1, side="right")  # the next swing
    last = swings[np.maximum(k - 1, 0)]
    goes_on = (k < swings.size) & (swings[np.minimum(k, swings.size - 1)] - last <= 2 * half)
    end1 = np.where(nxt & (to_next >= 0), to_next,
                    np.where(goes_on & (after < valid.size),
                             valid[np.minimum(after, valid.size - 1)],
                             np.minimum(last + half, n - 1)))
    out = (touches(filled, start0 - margin_n, np.maximum(to, ms0) + margin_n)
           | touches(filled, land - margin_n, end1 + margin_n))
    dur = (ms1 - ms0).astype(float)
    nb = np.fmin(np.append(np.nan, dur[:-1]), np.append(dur[1:], np.nan))
    nb = np.where(np.isfinite(nb), nb, np.median(dur))
    return out | (touched & (dur > 1.5 * nb))


def looks_like_foot(acc: np.ndarray, gyr: np.ndarray | None, rate_hz: float) -> bool | None:
    """Does the signal look like a shoe sensor (True), like a trunk/hip sensor (False), or is
    there too little movement to tell (None)?

    A foot swings through 300-1000 deg/s every stride and hits the ground at 4-15 g; the pelvis
    turns at under 150 deg/s and its impacts stay near 2-4 g. With a gyroscope: the 99th
    percentile of the angular-rate magnitude, > 4.5 rad/s foot, < 3 rad/s trunk (measured on the
    shared recordings: feet 8.9-9.9 rad/s walking and jogging, lower back 0.9-2.4 rad/s walking
    with turns). Without: the 99th percentile of the acceleration magnitude, > 5.5 g foot,
    < 4 g trunk.

    Impacts alone do not settle it: a hard-landing or downhill runner's sacrum reaches 5.5 g (the
    shared force-treadmill trial at -10 deg: 99th percentile 5.49 g after the authors' 20 Hz
    low-pass) while jogging shoes read 4.5-6.3 g. What a foot never does is fall freely: it is on
    the ground or swinging, while a sensor on the trunk is in free fall with the body in every
    flight phase of a run. So a signal below FREE_FALL_G for at least FREE_FALL_SHARE of the time
    is a trunk's (measured: sacrum running 13-37 % below 0.5 g, shoes 0.1-0.4 %, walking feet
    0.1-0.3 %).
    """
    a = _norm3(np.asarray(acc, float))
    moving = np.abs(a - G) > 0.3 * G
    if moving.mean() < 0.05 or moving.sum() < rate_hz:
        return None
    if np.mean((a > 0) & (a < FREE_FALL_G * G)) >= FREE_FALL_SHARE:  # (all-zero rows: dropouts)
        return False
    if gyr is not None:
        w = _norm3(np.asarray(gyr, float))
        p = float(np.percentile(w, 99))
        if p > 4.5:
            return True
        if p < 3.0:
            return False
        return None
    p = float(np.percentile(a, 99)) / G
    if p > 5.5:
        return True
    if p < 4.0:
        return False
    return None
