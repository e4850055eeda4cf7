"""Gait events from one IMU worn over the sacrum: initial contact, toe-off, side, run/walk, bouts.

Physics (body frame: x forward, y left, z up; proper acceleration, gravity included):

* The trunk carries most of the body mass, so its vertical proper acceleration follows the
  vertical ground reaction force over body mass (Newton). Running: ~0 g while both feet are off
  the ground (free fall), a steep rise when a foot lands, a fall back to ~0 g around toe-off.
  Walking: one foot always carries the body, so the signal stays far from 0 g. The
  inverted-pendulum bound is ``g (1 - Fr)`` with the Froude number ``Fr = v^2 / (g L)``, and people
  change to running near ``Fr = 0.5``, so walking stays above ~0.5 g.
* Over a steady stride the vertical velocity repeats, so the mean vertical proper acceleration is
  1 g, and every step is one rise of the signal above its between-step trough.
* During right stance the mediolateral ground force pushes the body to the left (+y), the
  swing-side (left) hip drops (obliquity rate about +x negative in early stance) and the pelvis
  turns with the swing leg (rate about +z negative).

Method (:func:`detect_sacral_events`). Every decision about a step uses samples within ~2-3 s
of it, and its toe-off is compared with the same foot's contacts within TO_SHAPE_HALF_S (2 s),
whose own detection reads 2-3 s further; so an event found in a window with
:data:`CONTEXT_S` of margin on each side equals the one found on the whole recording:

1. ``a_z`` in g (a single sample more than :data:`SPIKE_G` beyond both neighbours, a corrupted
   one, set to the nearer neighbour), zero-phase low-pass at :data:`EVENT_LOWPASS_HZ`, clipped
   at 0 g (a foot cannot pull the body down; negative values are the trunk moving relative to
   the centre of mass in flight, not contact). A zero-phase filter does not delay events.
2. Step humps: peaks of ``a_z`` low-passed at :data:`HUMP_LOWPASS_HZ` (one hump per contact)
   that are periodic over two cycles, regular in time, similar to a neighbour, and part of a bout
   of at least two strides. Standing, shaking and irregular jumps are not gait. Walking in daily
   life (turns, slow or asymmetric steps, starts and stops) changes its step time from step to
   step, so a fixed-lag autocorrelation over +-2 s misses most of it; a walking hump (no flight
   phase around it) is also kept when the sagittal acceleration repeats at the observed step
   times (:func:`_step_repeat`).
3. Run/walk: a step is running when the trough before it drops below :data:`FLIGHT_G`.
4. Initial contact, running: the tangent at the steepest point of the rise from the flight
   trough (searched up to :data:`RISE_TOP` of the rise) is extrapolated back to the trough level
   (:func:`_ic_running`). A zero-phase low-pass keeps the slope in the middle of a ramp and
   spreads its ends symmetrically, so the foot of the tangent does not move with the filter; the
   impact peak does not enter; a shoulder (a small impact transient peaking below
   :data:`RISE_TOP`, then a dip) ends the edge at its peak. Below :data:`IC_GRID_HZ` the tangent
   is drawn on a finer, interpolated grid (:func:`_ic_running_fine`). The trough is the lowest
   point of the flight phase (:func:`_flight_trough`), not a soft-tissue dip after the impact.
5. Initial contact, walking: the steepest rise of ``a_z`` before the loading peak (heel strike
   loads the leading leg faster than anything else in the stride).
6. Toe-off, running: the first fall of ``a_z`` through :data:`FLIGHT_G` after the active peak,
   timed over the whole fall against the same foot's typical fall within
   :data:`TO_SHAPE_HALF_S` (:func:`_toe_off_running`): the last part of the fall is a shallow
   tail whose level the trunk's own motion changes from step to step. Walking toe-off is not
   estimated (NaN): the trailing foot leaves in double support, which the trunk signal does not
   mark; on the mobgap lower-back data the two references disagree by ~60 ms on it and a
   force-balance estimate was 50-110 ms early.
7. Side: :func:`_assign_sides` (from the gyroscope, and in walking also from the mediolateral
   acceleration; running without a gyroscope stays "unknown").

Measured accuracy and the sensitivity to each constant: ``python benchmarks/accuracy.py``.

Speed: every stage works on all contacts at once (no Python loop per contact or per lag): one call
on 60 min at 400 Hz takes ~0.3 s (~5 M samples/s on one core); each call also costs a fixed
~2-3 ms.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from imu_hip.dsp.filters import (
    butter_sos,
    find_peaks,
    sosfilt,
    sosfilt_zi,
    sosfiltfilt,
    student_t_sf,
)
from imu_hip.model import G, ImuHipError

#: Zero-phase low-pass for event timing (Hz, capped at 0.4 x the rate). Contact transitions of
#: the active force take >= 25 ms, which 20 Hz keeps; the impact transient and soft-tissue
#: ringing above it do not mark the event time.
EVENT_LOWPASS_HZ = 20.0
#: A single sample standing this far (g) beyond both its neighbours is corrupted: the soft
#: tissue smooths trunk acceleration (measured, largest one-sample excursion: 0.02 g in the raw
#: 512 Hz sacral clip, 0.8 g in it decimated to 51 Hz without a filter, 0.06-2.1 g in the
#: lower-back walks); a glitch or bit flip reads 10-400 g.
SPIKE_G = 5.0
#: Finest grid (Hz) the initial-contact tangent needs: at 50-200 Hz the central difference
#: averages the steep rise over 10-40 ms and reads its slope low, so the tangent's foot came
#: early (the force-treadmill trials resampled to 50 Hz: -4.4 ms mean against +2.3 ms at their
#: own 500 Hz); below this rate the signal is interpolated onto a finer grid for it.
IC_GRID_HZ = 400.0
#: Shortest running contact (s): elite sprinters' ~0.08-0.09 s. Two stretches below FLIGHT_G
#: closer than this are one flight and a dip just after the landing (:func:`_flight_trough`).
MIN_CONTACT_S = 0.08
#: Low-pass (Hz) that merges a contact's impact and active peaks (~0.1 s apart) into one hump
#: while keeping steps apart (<= 4.5 steps/s).
HUMP_LOWPASS_HZ = 5.0
#: Shortest and longest step time accepted as gait (s): 270 to 40 steps/min.
MIN_STEP_S = 0.22
MAX_STEP_S = 1.5
#: Shortest gap-free stretch (s) in which steps are looked for: three of the slowest steps (a
#: hump, the steps on either side of it, and room for the periodicity test).
MIN_SEGMENT_S = 3 * MAX_STEP_S
#: Smallest hump prominence that can be a step (g): postural sway while standing is ~0.01 g,
#: the slowest walking ~0.1-0.2 g.
MIN_HUMP_G = 0.08
#: Largest prominence ratio between a hump and a neighbouring one: consecutive steps load the
#: body alike (left/right asymmetry is < 20 %); at a walk/run change each hump still has a
#: similar neighbour on its own side.
SIMILAR_HUMP = 2.0
#: Fewest contacts in a bout: two strides (the Mobilise-D walking-bout consensus, Kluge et al.
#: 2021, Gait Posture 88:61).
MIN_BOUT_CONTACTS = 4
#: Half-width of the window for the periodicity test (s).
LOCAL_HALF_S = 2.0
#: Normalised autocorrelation a hump's surroundings must reach both at a step/stride lag and at
#: twice that lag: half the variance repeats one and two cycles later.
MIN_PERIODICITY = 0.5
#: Low-pass (Hz) of the anteroposterior acceleration compared step to step by
#: :func:`_step_repeat`: the same as the vertical humps' (:data:`HUMP_LOWPASS_HZ`), so each
#: step's braking and propulsion are one smooth wave each.
REPEAT_LOWPASS_HZ = HUMP_LOWPASS_HZ
#: Edge of the free-fall band (g): a trough below it is a flight phase (running), and a running
#: contact ends when the signal falls back below it. Halfway between free fall (0 g) and the
#: lowest walking value (~0.5 g); the trunk's own motion in flight spans ~0.15-0.3 g.
FLIGHT_G = 0.25
#: A running contact's fall is timed at levels every TO_LEVEL_STEP_G (g) from one step below
#: FLIGHT_G up to TO_FALL_TOP_G (one body weight: above it the active peak may not be falling
#: yet); see :func:`_toe_off_running`.
TO_LEVEL_STEP_G = 0.1
TO_FALL_TOP_G = 1.0
#: Half-width (s) of the window of the same foot's running contacts whose median fall shape a
#: contact's fall is timed against (the periodicity test's window).
TO_SHAPE_HALF_S = LOCAL_HALF_S
#: Context (s) on each side of a stretch of data that makes its events equal to those found on
#: the whole recording: the toe-off's neighbours (TO_SHAPE_HALF_S), their periodicity windows
#: (LOCAL_HALF_S) and one longest step.
CONTEXT_S = TO_SHAPE_HALF_S + LOCAL_HALF_S + MAX_STEP_S
#: How far before the loading peak the heel-strike rise is searched in walking (s): the loading
#: response lasts ~10-12 % of a ~1.1 s stride.
WALK_RISE_S = 0.15
#: Fraction of the rise amplitude up to which its steepest point is searched: the loading of the
#: landing leg starts steep; above half the rise come the impact peak and the active force.
RISE_TOP = 0.5
#: A dip in the rise above this fraction of it ends the edge at the peak before the dip (a
#: shoulder); below it, wiggles of the flight phase do not count.
SHOULDER_MIN = 0.2
#: Contacts within this time (s) of a contact vote on its side.
SIDE_HALF_S = 2.0
#: A side is named when at least this share of the votes agree with the alternating labelling,
SIDE_MIN_AGREEMENT = 0.7
#: the votes' mean differs from 0 at this p value (t test),
SIDE_MAX_P = 0.01
#: and that mean is at least this many standard deviations of the votes (effect size: the
#: alternation dominates the step-to-step scatter; with noise alone this is rarer than 1 in 1000).
SIDE_MIN_EFFECT = 1.5


@dataclass
class SacralEvents:
    """Gait events of one segment, one entry per initial contact, in time order.

    ``ic``/``to``: float sample indices (sub-sample) of the initial contact and of the toe-off
    ending that contact (NaN if not found; always NaN in walking). ``side``: "left" | "right" |
    "unknown". ``gait``: "run" | "walk". ``bout``: consecutive contacts with the same bout number
    form steps; a new bout starts after a pause or non-gait motion.
    """

    ic: np.ndarray
    to: np.ndarray
    side: np.ndarray
    gait: np.ndarray
    bout: np.ndarray

    def __len__(self) -> int:
        return int(self.ic.shape[0])


def _empty() -> SacralEvents:
    return SacralEvents(
        ic=np.zeros(0),
        to=np.zeros(0),
        side=np.zeros(0, dtype=object),
        gait=np.zeros(0, dtype=object),
        bout=np.zeros(0, dtype=int),
    )


def detect_sacral_events(
    acc_body_mps2: np.ndarray, gyr_body_rads: np.ndarray | None, rate_hz: float
) -> SacralEvents:
    """Initial contacts, toe-offs, side, gait and bouts from a sacral IMU.

    ``acc_body_mps2``: (n, 3) proper acceleration in the body frame (x forward, y left, z up;
    m/s², gravity included) of one gap-free, uniformly sampled segment; the y column may be all
    zeros (biaxial sensor). ``gyr_body_rads``: (n, 3) angular rate in the same frame (rad/s), or
    None. ``rate_hz``: sampling rate (>= 49 Hz: 50 Hz and a slow clock). Positions are float
    sample indices into the input. Segments shorter than :data:`MIN_SEGMENT_S` (4.5 s) or with
    non-finite accelerations give no events; a non-finite angular rate is ignored. Raises
    :class:`ImuHipError` for arrays of the wrong shape.
    """
    acc = np.asarray(acc_body_mps2, dtype=float)
    gyr = None if gyr_body_rads is None else np.asarray(gyr_body_rads, dtype=float)
    if acc.ndim != 2 or acc.shape[1] != 3 or (gyr is not None and gyr.shape != acc.shape):
        raise ImuHipError(f"detect_sacral_events: expected (n, 3) acceleration and angular rate "
                          f"of the same shape, got {acc.shape} and "
                          f"{None if gyr is None else gyr.shape}")
    n = acc.shape[0]
    if n < int(MIN_SEGMENT_S * rate_hz) or not np.all(np.isfinite(acc)):
        return _empty()
    if gyr is not None and not np.all(np.isfinite(gyr)):
        gyr = None
    acc = despike(acc)
    az_g = acc[:, 2] / G
    az = _lowpass(az_g, EVENT_LOWPASS_HZ, rate_hz)
    s = np.maximum(az, 0.0)
    peaks = _find_humps(az_g, rate_hz, az=az, ax_g=acc[:, 0] / G)
    if peaks.size == 0:
        return _empty()
    left, right = _troughs(az, peaks, rate_hz)
    top = _seg_argext(s, left, right, largest=True)
    running = az[left] < FLIGHT_G
    ic = np.full(peaks.size, np.nan)
    to = np.full(peaks.size, np.nan)
    ic[running] = _ic_running_fine(az_g, s, left[running], top[running], rate_hz)
    ends = running & (right < n - 1)
    to[ends] = _toe_off_running(s, peaks[ends], top[ends], right[ends], rate_hz)
    walk = ~running & (left > 0)  # (a trough at sample 0 may be the data starting in the rise)
    ic[walk] = _ic_walking(np.gradient(az), left[walk], top[walk], rate_hz)
    # no contact within half a period of the event low-pass from the start of the data: there
    # its zero-phase kernel reaches past the data
    keep = np.isfinite(ic) & (ic >= 0.5 * rate_hz / min(EVENT_LOWPASS_HZ, 0.4 * rate_hz))
    ic, to = ic[keep], to[keep]
    gait = np.where(running[keep], "run", "walk").astype(object)
    bout = _bouts(ic, rate_hz)
    big = np.bincount(bout, minlength=1)[bout] >= MIN_BOUT_CONTACTS
    ic, to, gait, bout = ic[big], to[big], gait[big], bout[big]
    if ic.size == 0:
        return _empty()
    bout = np.concatenate(([0], np.cumsum(bout[1:] != bout[:-1]))).astype(int)
    side = _assign_sides(ic, bout, gait, acc, gyr, rate_hz)
    return SacralEvents(ic=ic, to=to, side=side, gait=gait, bout=bout)


# --------------------------------------------------------------------------- signal helpers
# Per-contact work is done on all contacts at once: each contact's samples are gathered into one
# flat array (segments one after the other) and reduced per segment with ``ufunc.reduceat``.


@functools.lru_cache(maxsize=32)
def _butter_sos(order: int, wn: float) -> tuple[np.ndarray, np.ndarray]:
    """Butterworth low-pass sections and their steady-state initial conditions, designed once
    per cut-off (a design costs ~1 ms); callers must not modify them."""
    sos = butter_sos(order, wn, 2.0)  # wn: fraction of the Nyquist frequency
    return sos, sosfilt_zi(sos)


def _lowpass(x: np.ndarray, cutoff_hz: float, rate_hz: float, order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth low-pass of a 1-d signal (cut-off capped at 0.4 x the rate).

    The same steps as ``scipy.signal.sosfiltfilt`` with its defaults (odd extension by three
    times the filter's taps at each end, steady-state start of both passes), with the design
    cached."""
    wn = min(cutoff_hz, 0.4 * rate_hz) / (0.5 * rate_hz)
    sos, zi = _butter_sos(order, wn)
    edge = 3 * (2 * sos.shape[0] + 1)
    if x.shape[0] <= edge:
        return sosfiltfilt(sos, x)  # (raises the too-short-input error)
    ext = np.concatenate((2 * x[0] - x[edge:0:-1], x, 2 * x[-1] - x[-2 : -edge - 2 : -1]))
    y, _ = sosfilt(sos, ext, zi=zi * ext[0])
    y, _ = sosfilt(sos, y[::-1], zi=zi * y[-1])
    return y[::-1][edge:-edge]


def despike(acc_mps2: np.ndarray) -> np.ndarray:
    """``acc_mps2`` ((n, 3) or (n, k, 3): time first, m/s²) with every single sample that
    stands more than SPIKE_G beyond both its neighbours (the length of its excess over their
    per-axis range) brought back into that range (ends kept). A corrupted sample (a bit flip,
    a glitch of tens of g) would otherwise ring through the low-passes, reshape the steps
    around it and be read as a peak; a rise, a fall or a peak wider than one sample passes
    unchanged. On any axes: a glitch split over several axes is found as one."""
    x = np.asarray(acc_mps2, dtype=float)
    if x.shape[0] < 3:
        return x
    a, b, c = x[:-2], x[1:-1], x[2:]
    lo, hi = np.minimum(a, c), np.maximum(a, c)
    excess = np.maximum(b - hi, 0.0) + np.maximum(lo - b, 0.0)
    spike = np.einsum("...j,...j->...", excess, excess) > (SPIKE_G * G) ** 2
    if not spike.any():
        return x
    out = x.copy()
    out[1:-1][spike] = np.clip(b[spike], lo[spike], hi[spike])
    return out


def _segments(i0: np.ndarray, i1: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat sample indices of the inclusive ranges ``[i0[k], i1[k]]`` (each non-empty), one range
    after the other; with the offset of each range in the flat array and its length."""
    lengths = np.asarray(i1, dtype=np.intp) - i0 + 1
    offsets = np.cumsum(lengths) - lengths
    idx = np.arange(int(lengths.sum()), dtype=np.intp) + np.repeat(i0 - offsets, lengths)
    return idx, offsets, lengths


def _seg_argext(x: np.ndarray, i0: np.ndarray, i1: np.ndarray, largest: bool) -> np.ndarray:
    """Index of the first minimum (or maximum) of ``x`` within each ``[i0[k], i1[k]]``."""
    if i0.size == 0:
        return np.zeros(0, np.intp)
    idx, offsets, lengths = _segments(i0, i1)
    return idx[_flat_argext(x[idx], offsets, lengths, largest)]


def _flat_argext(v: np.ndarray, offsets: np.ndarray, lengths: np.ndarray,
                 largest: bool) -> np.ndarray:
    """Flat position of the first minimum (or maximum) of each segment of ``v``."""
    ext = (np.maximum if largest else np.minimum).reduceat(v, offsets)
    pos = np.where(v == np.repeat(ext, lengths), np.arange(v.size), v.size)
    return np.minimum.reduceat(pos, offsets)


def _slope(x: np.ndarray, i: np.ndarray) -> np.ndarray:
    """``np.gradient(x)[i]`` without the whole gradient: central differences inside, one-sided
    at the ends (samples per sample)."""
    n = x.shape[0]
    hi, lo = np.minimum(i + 1, n - 1), np.maximum(i - 1, 0)
    return (x[hi] - x[lo]) / (hi - lo)


def _crossings(x: np.ndarray, level: np.ndarray, i0: np.ndarray, i1: np.ndarray,
               rising: bool, last: bool) -> np.ndarray:
    """Sub-sample index of the first (or ``last``) crossing of ``level[k]`` by ``x`` within
    ``[i0[k], i1[k]]`` (upwards if ``rising``), NaN where there is none."""
    out = np.full(i0.shape[0], np.nan)
    ok = i1 > i0
    if not ok.any():
        return out
    idx, offsets, lengths = _segments(i0[ok], i1[ok] - 1)  # first sample of each pair
    lv = np.repeat(level[ok], lengths)
    a, b = x[idx], x[idx + 1]
    cross = (a < lv) & (b >= lv) if rising else (a >= lv) & (b < lv)
    if last:
        pick = np.maximum.reduceat(np.where(cross, np.arange(idx.size), -1), offsets)
    else:
        pick = np.minimum.reduceat(np.where(cross, np.arange(idx.size), idx.size), offsets)
        pick[pick == idx.size] = -1
    found = pick >= 0
    j = idx[pick[found]]
    res = np.full(offsets.size, np.nan)
    res[found] = j + (level[ok][found] - x[j]) / (x[j + 1] - x[j])
    out[ok] = res
    return out


def _crossing(x: np.ndarray, level: float, i0: int, i1: int, rising: bool, last: bool) -> float:
    """Sub-sample index where ``x`` crosses ``level`` within ``[i0, i1]``, the first or the
    ``last`` such crossing; NaN if there is none (one range; for the benchmark)."""
    i0 = max(int(i0), 0)
    i1 = min(int(i1), x.shape[0] - 1)
    if i1 <= i0:
        return float("nan")
    seg = x[i0 : i1 + 1]
    if rising:
        idx = np.flatnonzero((seg[:-1] < level) & (seg[1:] >= level))
    else:
        idx = np.flatnonzero((seg[:-1] >= level) & (seg[1:] < level))
    if idx.size == 0:
        return float("nan")
    k = int(idx[-1] if last else idx[0])
    a, b = seg[k], seg[k + 1]
    return i0 + k + float((level - a) / (b - a))


# --------------------------------------------------------------------------- steps


def _find_humps(az_g: np.ndarray, rate_hz: float, az: np.ndarray | None = None,
                ax_g: np.ndarray | None = None) -> np.ndarray:
    """Sample indices of the step humps: peaks of the low-passed vertical acceleration that are
    similar to a neighbouring hump, periodic (or, with ``az`` the event-filtered vertical and
    ``ax_g`` the anteroposterior acceleration in g given, walking humps whose sagittal
    acceleration repeats step to step: :func:`_step_repeat`) and regular."""
    u = _lowpass(az_g, HUMP_LOWPASS_HZ, rate_hz)
    peaks, props = find_peaks(
        u,
        distance=max(1, int(MIN_STEP_S * rate_hz)),
        prominence=MIN_HUMP_G,
        wlen=int(2 * MAX_STEP_S * rate_hz),
    )
    if peaks.size < 3:
        return np.zeros(0, int)
    prom = props["prominences"]
    ratio = prom[1:] / prom[:-1]
    near = ((ratio >= 1 / SIMILAR_HUMP) & (ratio <= SIMILAR_HUMP)
            & (np.diff(peaks) <= MAX_STEP_S * rate_hz))
    similar = np.zeros(peaks.size, bool)
    similar[:-1] |= near
    similar[1:] |= near
    peaks = peaks[similar]
    periodic = _periodicity(u, peaks, rate_hz) >= MIN_PERIODICITY
    if az is not None and ax_g is not None and not periodic.all():
        periodic |= _step_repeat(u, ax_g, az, peaks, rate_hz, ~periodic)
    peaks = peaks[periodic]
    for _ in range(2):  # dropping an irregular hump can make its neighbours irregular
        if peaks.size < 3:
            return np.zeros(0, int)
        peaks = peaks[_regular(peaks, rate_hz)]
    return peaks


def _periodicity(u: np.ndarray, centres: np.ndarray, rate_hz: float) -> np.ndarray:
    """For each centre, the largest over lags L in MIN_STEP_S..MAX_STEP_S of min(r(L), r(2 L)),
    r being the normalised autocorrelation of ``u`` within +-LOCAL_HALF_S (mean removed; at lag
    L the first and last len - L samples of the window are correlated, and at least 1 s of them
    must overlap). Gait repeats over several cycles, so a lag and its double both correlate;
    noise that matches itself at one lag by chance does not also match at twice that lag.

    All windows at once: the lagged products come from the FFT of each zero-padded window, the
    energies of the overlapping parts from prefix sums of its squares."""
    step = max(1, int(rate_hz // 50))  # u is smooth (5 Hz): 50 Hz is plenty
    ud = u[::step]
    fs = rate_hz / step
    half = int(round(LOCAL_HALF_S * fs))
    lag0 = max(1, int(round(MIN_STEP_S * fs)))
    lag1 = int(round(MAX_STEP_S * fs))
    min_overlap = int(round(1.0 * fs))
    width = 2 * half + 1
    c = np.asarray(centres) // step
    out = np.zeros(c.shape[0])
    lo, hi = np.maximum(0, c - half), np.minimum(ud.size, c + half + 1)
    size = hi - lo  # samples of the window inside the data
    top = np.minimum(2 * lag1, size - min_overlap)  # longest lag with enough overlap
    last = np.minimum(lag1, top // 2)  # longest lag L whose double is still correlated
    todo = np.flatnonzero(last >= lag0)
    if todo.size == 0:
        return out
    # window k is padded[c[k] : c[k] + width]; samples outside the data are zeros and stay zero
    padded = np.concatenate((np.zeros(half), ud, np.zeros(half)))
    view = sliding_window_view(padded, width)
    nfft = _fast_length(width + 2 * lag1)  # no wrap-around up to lag 2 * lag1
    ell = np.arange(2 * lag1 + 1)
    lags = np.arange(lag0, lag1 + 1)
    for part in np.array_split(todo, max(1, todo.size // 512)):  # cache-sized blocks
        x = view[c[part]]
        nn = size[part]
        buf = np.zeros((part.size, nfft))  # zero-padded for the FFT
        w = buf[:, :width]
        np.subtract(x, (x.sum(axis=1) / nn)[:, None], out=w)
        cut = np.flatnonzero(nn < width)  # windows reaching past an end of the data
        z0 = (lo - (c - half))[part][cut]  # first sample of those windows inside the data
        if cut.size:
            pos = np.arange(width)
            w[cut] *= (pos >= z0[:, None]) & (pos < (z0 + nn[cut])[:, None])
        spec = np.fft.rfft(buf, axis=1)
        prod = np.fft.irfft(spec.real**2 + spec.imag**2, nfft, axis=1)[:, : 2 * lag1 + 1]
        # lag L correlates window samples 0..width-1-L with L..width-1 (zeros outside the data)
        head = np.cumsum(w * w, axis=1)  # head[:, i]: energy of window samples 0..i
        ea = head[:, ::-1][:, : 2 * lag1 + 1].copy()  # ea[:, L] = head[:, width - 1 - L]
        eb = np.empty_like(ea)  # eb[:, L]: energy of samples L..width-1
        eb[:, 0] = head[:, -1]
        eb[:, 1:] = head[:, -1:] - head[:, : 2 * lag1]
        if cut.size:  # in a cut window the data part has nn samples from z0
            ia = np.clip(z0[:, None] + nn[cut][:, None] - ell - 1, 0, width - 1)
            ea[cut] = np.take_along_axis(head[cut], ia, 1)
            ib = np.clip(z0[:, None] + ell - 1, 0, width - 1)
            eb[cut] = np.where(z0[:, None] + ell > 0,
                               head[cut][:, -1:] - np.take_along_axis(head[cut], ib, 1),
                               head[cut][:, -1:])
        both = np.minimum(_ratio(prod, ea, eb, slice(lag0, lag1 + 1)),
                          _ratio(prod, ea, eb, slice(2 * lag0, 2 * lag1 + 1, 2)))
        both[lags[None, :] > last[part][:, None]] = -np.inf
        # a numerically constant window (rounding-level scatter) repeats nothing
        flat = head[:, -1] <= nn * (1e-9 * np.max(np.abs(x), axis=1)) ** 2
        out[part] = np.where(flat, 0.0, both.max(axis=1))
    return out


def _step_repeat(u: np.ndarray, ax_g: np.ndarray, az: np.ndarray, peaks: np.ndarray,
                 rate_hz: float, todo: np.ndarray | None = None) -> np.ndarray:
    """True for the walking humps whose sagittal acceleration repeats at the observed step times.

    The periodicity test of :func:`_periodicity` asks one lag to fit +-2 s; daily-life walking
    changes its step time within that (turns, obstacles, starts, stops, asymmetric gait), so it
    drops most of it. Here the lag is not searched but taken from the humps themselves, one step
    at a time: the acceleration over one step centred on a hump is correlated (Pearson) with the
    same window one observed step later (:func:`_repeat_r`). The stance leg's ground reaction
    force repeats every step in its vertical and its anteroposterior component (braking, then
    propulsion; Zijlstra & Hof 2003, Gait Posture 18(2):1; the mediolateral one alternates and is
    left out), so both must repeat: the vertical (``u``, the humps signal) and the part of the
    anteroposterior acceleration (``ax_g``, g, low-passed at REPEAT_LOWPASS_HZ) that the vertical
    does not explain within the window. In walking the two are about a quarter cycle apart, so
    most of the anteroposterior signal is that part; shaking along one fixed axis has none of it,
    and noise that matches one channel by chance rarely matches an independent one too.

    A hump is kept when the step before it and the step after it each repeat and its own foot's
    loading repeats one stride later (the half-stride windows centred on the humps before and
    after it), every correlation at least MIN_PERIODICITY (half the variance repeats): three
    matches over two steps, as the periodicity test asks two over two cycles.

    Only walking humps qualify: the event-filtered vertical acceleration ``az`` (g) stays above
    FLIGHT_G from the hump before to the hump after (no flight phase: running keeps its
    periodicity test alone). Each decision uses samples within 2.25 s of the hump (one longest
    step plus half of one). Only the humps in ``todo`` (default all) are tested; the others are
    False. The windows are read every ``rate_hz // 50`` samples from the hump on (the signals are
    low-passed at 5 Hz: 50 Hz is plenty), so a window cut elsewhere gives the same answer.
    """
    m = peaks.size
    keep = np.zeros(m, bool)
    mid = np.zeros(m, bool)  # humps to test that have a hump on each side
    mid[1:-1] = True if todo is None else todo[1:-1]
    if not mid.any():
        return keep
    n = u.shape[0]
    sub = max(1, int(rate_hz // 50))
    ax = _lowpass(ax_g, REPEAT_LOWPASS_HZ, rate_hz)
    d = np.diff(peaks)
    step_ok = (d >= MIN_STEP_S * rate_hz) & (d <= MAX_STEP_S * rate_hz)
    # step k (hump k to k + 1): window of d samples centred on hump k vs the one d later
    need = np.zeros(m - 1, bool)
    need[:-1] |= mid[1:-1]
    need[1:] |= mid[1:-1]
    need &= step_ok
    good = np.zeros(m - 1, bool)
    j = np.flatnonzero(need)
    good[j] = _repeat_r(u, ax, peaks[j] - d[j] // 2, d[j], d[j], n, sub)
    # stride k (hump k to k + 2): the half-stride window centred on hump k vs one stride later
    k = np.flatnonzero(mid[1:-1] & good[:-1] & good[1:])
    stride = peaks[k + 2] - peaks[k]
    half = stride // 2
    keep[k + 1] = _repeat_r(u, ax, peaks[k] - half // 2, half, stride, n, sub)
    cand = np.flatnonzero(keep)
    if cand.size:  # no flight phase from the hump before to the hump after
        low = az[_seg_argext(az, peaks[cand - 1], peaks[cand + 1], largest=False)]
        keep[cand] = low >= FLIGHT_G
    return keep


def _repeat_r(vert: np.ndarray, ap: np.ndarray, start: np.ndarray, length: np.ndarray,
              lag: np.ndarray, n: int, sub: int = 1) -> np.ndarray:
    """Whether the window of ``length[k]`` samples from ``start[k]`` (read every ``sub``
    samples) repeats ``lag[k]`` samples later: the Pearson correlation of the vertical ``vert``
    between the two windows, and that of the anteroposterior ``ap`` after removing, within each
    window, its least-squares fit on the vertical, both at least MIN_PERIODICITY. False where a
    window leaves the data, has fewer than 3 samples read or a part is constant."""
    out = np.zeros(start.shape[0], bool)
    count = (length + sub - 1) // sub  # samples read per window
    ok = (start >= 0) & (start + lag + length <= n) & (count >= 3)
    if not ok.any():
        return out
    lengths = count[ok]
    offsets = np.cumsum(lengths) - lengths
    step_in = np.arange(int(lengths.sum())) - np.repeat(offsets, lengths)
    idx = np.repeat(start[ok], lengths) + sub * step_in
    later = idx + np.repeat(lag[ok], lengths)

    def centred(x: np.ndarray) -> np.ndarray:
        return x - np.repeat(np.add.reduceat(x, offsets) / lengths, lengths)

    def residual(a: np.ndarray, z: np.ndarray) -> np.ndarray:
        zz = np.add.reduceat(z * z, offsets)
        beta = np.divide(np.add.reduceat(a * z, offsets), zz, out=np.zeros(zz.shape),
                         where=zz > 0)
        return a - np.repeat(beta, lengths) * z

    def corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        den = np.sqrt(np.add.reduceat(a * a, offsets) * np.add.reduceat(b * b, offsets))
        return np.divide(np.add.reduceat(a * b, offsets), den, out=np.zeros(den.shape),
                         where=den > 0)

    za, zb = centred(vert[idx]), centred(vert[later])
    xa, xb = residual(centred(ap[idx]), za), residual(centred(ap[later]), zb)
    out[ok] = (corr(za, zb) >= MIN_PERIODICITY) & (corr(xa, xb) >= MIN_PERIODICITY)
    return out


def _fast_length(n: int) -> int:
    """Smallest 2^a 3^b 5^c >= n (a length the FFT handles quickly)."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35 * (1 << max(0, (-(-n // p35) - 1).bit_length()))  # times a power of two
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def _ratio(prod: np.ndarray, ea: np.ndarray, eb: np.ndarray, cols: slice) -> np.ndarray:
    """Normalised correlation ``prod / sqrt(ea eb)`` in columns ``cols`` (0 where either energy
    is 0)."""
    den = np.sqrt(ea[:, cols] * eb[:, cols])
    return np.divide(prod[:, cols], den, out=np.zeros(den.shape), where=den > 0)


def _regular(peaks: np.ndarray, rate_hz: float) -> np.ndarray:
    """True for humps with two consecutive plausible step intervals (before and after, or both
    on one side) that agree within a factor 1.5."""
    d = np.diff(peaks) / rate_hz
    plausible = (d >= MIN_STEP_S) & (d <= MAX_STEP_S)
    pair = (plausible[:-1] & plausible[1:]
            & (np.maximum(d[:-1], d[1:]) / np.minimum(d[:-1], d[1:]) <= 1.5))
    # hump k touches the interval pairs k - 2, k - 1 and k
    padded = np.concatenate(([False, False], pair, [False, False]))
    return padded[:-2] | padded[1:-1] | padded[2:]


def _troughs(az: np.ndarray, peaks: np.ndarray, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Each hump's lowest point before and after it, searched up to the neighbouring hump and at
    most one longest step away (humps further apart share nothing); the one before a hump is its
    flight's (:func:`_flight_trough`)."""
    n = az.shape[0]
    lim = int(MAX_STEP_S * rate_hz)
    prev_pk = np.concatenate(([-lim], peaks[:-1]))
    next_pk = np.concatenate((peaks[1:], [n - 1 + lim]))
    a = np.maximum(np.maximum(0, prev_pk), peaks - lim)
    b = np.minimum(np.minimum(n - 1, next_pk), peaks + lim)
    # where humps are at most lim apart, the trough after one is the trough before the next
    shared = np.zeros(peaks.size, bool)
    shared[1:] = a[1:] == peaks[:-1]
    shared[1:] &= b[:-1] == peaks[1:]
    left = np.zeros(peaks.size, np.intp)
    right = np.zeros(peaks.size, np.intp)
    own = ~shared
    left[own] = _seg_argext(az, a[own], peaks[own], largest=False)
    after = np.append(~shared[1:], True)  # right troughs not shared with the next hump
    right[after] = _seg_argext(az, peaks[after], b[after], largest=False)
    right[:-1][shared[1:]] = left[1:][shared[1:]] = _seg_argext(
        az, peaks[:-1][shared[1:]], peaks[1:][shared[1:]], largest=False)
    return _flight_trough(az, left, a, rate_hz), right


def _flight_trough(az: np.ndarray, low: np.ndarray, a: np.ndarray, rate_hz: float) -> np.ndarray:
    """The trough before each contact: its lowest point ``low`` (searched from ``a``), unless
    that lies in a stretch below FLIGHT_G that began less than MIN_CONTACT_S after an earlier
    such stretch ended (from ``a`` on). No contact is that short, so the later stretch is a
    soft-tissue dip just after the landing's impact, which can read lower than the flight
    itself; the trough is then the lowest point of the earlier stretch, the flight."""
    below = az < FLIGHT_G
    edges = np.flatnonzero(np.diff(np.concatenate(([False], below, [False])).astype(np.int8)))
    starts, ends = edges[::2], edges[1::2] - 1  # stretches below FLIGHT_G, inclusive
    out = low.copy()
    if starts.size < 2:
        return out
    j = np.searchsorted(starts, low, side="right") - 1  # the stretch holding ``low``, if any
    dip = (j >= 1) & below[low]
    jj = np.maximum(j, 1)
    dip &= (starts[jj] - ends[jj - 1] < MIN_CONTACT_S * rate_hz) & (starts[jj - 1] >= a)
    if dip.any():
        out[dip] = _seg_argext(az, starts[jj[dip] - 1], ends[jj[dip] - 1], largest=False)
    return out


def _ic_running(s: np.ndarray, trough: np.ndarray, top: np.ndarray) -> np.ndarray:
    """Initial contact of running steps: the tangent at the steepest point of the rise (from its
    lowest point after ``trough`` towards the contact's peak ``top``, searched up to RISE_TOP of
    the rise), extrapolated back to that lowest point. NaN unless that part of the rise is in
    the data.

    The rise must be one edge: when the signal peaks and dips again above SHOULDER_MIN of the
    rise before it reaches RISE_TOP (a shoulder, e.g. the small impact transient of a midfoot
    strike), the edge is the rise to that first peak. A zero-phase low-pass keeps the slope in
    the middle of a ramp and spreads its two ends symmetrically, so the foot of the tangent does
    not move with the filter (on the force-plate signal itself the 20 Hz filter moves it by
    -4 +- 1 ms; see the benchmark)."""
    out = np.full(trough.shape[0], np.nan)
    if trough.size == 0:
        return out
    top = top.copy()
    base, amp, k_hi, ok = _rise(s, trough, top, RISE_TOP)
    check = ok & (k_hi > trough + 1)
    for _ in range(4):  # (each pass can only move the top earlier; shoulders are rare)
        if not check.any():
            break
        # start of the final monotonic rise to the top level: after the last non-increase
        i0, i1 = trough[check], k_hi[check] - 1
        idx, offsets, _ = _segments(i0, i1 - 1)
        flat = s[idx + 1] <= s[idx]
        last = np.maximum.reduceat(np.where(flat, np.arange(idx.size), -1), offsets)
        start = np.where(last >= 0, idx[np.maximum(last, 0)] + 1, i0)
        shoulder = np.zeros(trough.shape[0], bool)
        shoulder[check] = s[start] > base[check] + SHOULDER_MIN * amp[check]
        if not shoulder.any():
            break
        stop = np.zeros(trough.shape[0], np.intp)
        stop[check] = start
        top[shoulder] = _seg_argext(s, trough[shoulder], stop[shoulder], largest=True)
        base[shoulder], amp[shoulder], k_hi[shoulder], ok[shoulder] = _rise(
            s, trough[shoulder], top[shoulder], RISE_TOP)
        check = shoulder & ok & (k_hi > trough + 1)
    ok &= k_hi > trough  # (at 50 Hz a steep rise can reach RISE_TOP in one sample)
    if not ok.any():
        return out
    tr, kh, b0 = trough[ok], k_hi[ok], base[ok]
    n = s.shape[0]
    idx, offsets, lengths = _segments(tr, kh)
    j = idx[_flat_argext(_slope(s, idx), offsets, lengths, largest=True)]  # steepest sample
    # vertex of the parabola through the slopes around it: sub-sample time and slope
    inner = (j > 0) & (j < n - 1)
    y0, y1, y2 = _slope(s, np.maximum(j - 1, 0)), _slope(s, j), _slope(s, np.minimum(j + 1, n - 1))
    den = y0 - 2.0 * y1 + y2
    with np.errstate(invalid="ignore", divide="ignore"):
        off = np.where(inner & (den != 0), np.clip(0.5 * (y0 - y2) / den, -0.5, 0.5), 0.0)
    slope = y1 - 0.25 * (y0 - y2) * off
    toward = np.where(off >= 0, np.minimum(j + 1, n - 1), np.maximum(j - 1, 0))
    level = s[j] + np.abs(off) * (s[toward] - s[j])  # signal at the vertex (linear)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[ok] = np.where(slope > 0, (j + off) - (level - b0) / slope, np.nan)
    return out


def _ic_running_fine(az_g: np.ndarray, s: np.ndarray, trough: np.ndarray, top: np.ndarray,
                     rate_hz: float) -> np.ndarray:
    """:func:`_ic_running` on a grid of at least IC_GRID_HZ: below that rate the vertical
    acceleration ``az_g`` (g) is interpolated onto a finer grid (an integer multiple of the
    rate) and low-passed and clipped as ``s`` was, so the tangent's slope is not averaged over
    coarse samples. ``s`` is used as it is at or above IC_GRID_HZ. Sample indices of the input."""
    m = int(np.ceil(0.99 * IC_GRID_HZ / rate_hz))  # (a 400 Hz sensor's slow clock: no grid)
    if m <= 1 or trough.size == 0:
        return _ic_running(s, trough, top)
    n = az_g.shape[0]
    fine = np.interp(np.arange((n - 1) * m + 1) / m, np.arange(n), az_g)
    cutoff = min(EVENT_LOWPASS_HZ, 0.4 * rate_hz)  # the cut-off ``s`` had
    s_fine = np.maximum(_lowpass(fine, cutoff, rate_hz * m), 0.0)
    return _ic_running(s_fine, trough * m, top * m) / m


def _rise(s: np.ndarray, trough: np.ndarray, top: np.ndarray,
          top_level: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per rise from ``trough`` to ``top``: its lowest value, its amplitude (top minus that),
    the first sample at or above ``top_level`` of the amplitude, and whether both exist."""
    idx, offsets, lengths = _segments(trough, top)
    v = s[idx]
    base = np.minimum.reduceat(v, offsets)
    amp = s[top] - base
    hi = base + top_level * amp
    first = np.minimum.reduceat(np.where(v >= np.repeat(hi, lengths), np.arange(v.size), v.size),
                                offsets)
    k_hi = idx[np.minimum(first, v.size - 1)]
    return base, amp, k_hi, (amp > 0) & (first < v.size)


def _ic_walking(daz: np.ndarray, trough: np.ndarray, top: np.ndarray,
                rate_hz: float) -> np.ndarray:
    """Initial contact of walking steps: the steepest rise of the vertical acceleration (slope
    ``daz``) in the WALK_RISE_S before the loading peak ``top``, to a sub-sample."""
    out = np.full(trough.shape[0], np.nan)
    lo = np.maximum(trough, top - int(WALK_RISE_S * rate_hz))
    ok = top - lo >= 2
    if not ok.any():
        return out
    j = _seg_argext(daz, lo[ok], top[ok] - 1, largest=True)
    inner = (j > 0) & (j < daz.shape[0] - 1)
    res = j.astype(float)
    ji = j[inner]
    y0, y1, y2 = daz[ji - 1], daz[ji], daz[ji + 1]
    den = y0 - 2.0 * y1 + y2
    with np.errstate(invalid="ignore", divide="ignore"):
        vertex = np.where(den != 0, np.clip(0.5 * (y0 - y2) / den, -0.5, 0.5), 0.0)
    res[inner] = ji + vertex
    out[ok] = res
    return out


def _toe_off_running(s: np.ndarray, hump: np.ndarray, top: np.ndarray, end: np.ndarray,
                     rate_hz: float) -> np.ndarray:
    """Toe-off of running contacts: the first fall of ``s`` through FLIGHT_G after the active
    peak (the largest value from the contact's hump peak ``hump`` or its highest sample ``top``,
    whichever is later, to the following trough ``end`` or the first sample back in the flight
    band, whichever is earlier), timed over the whole fall; NaN when
    that crossing is not in the data; never after ``end``.

    With no foot on the ground the body is in free fall and the sacrum reads only its motion
    relative to the centre of mass: pelvic pitch of ~5 deg at ~3 Hz, ~0.1 m from the hip axis,
    gives r * alpha of 0.15-0.3 g. Only a support force lifts the signal above that band, so the
    contact is taken to end where the signal first falls back into it. That motion is also why
    this is the largest error of the detector: at the force-plate toe-off (0.05 BW) the sacral
    signal of the force-treadmill runner still reads 0.00-0.92 g (trial means 0.20-0.73 g)
    (mean error per trial -6 to +23 ms, see the benchmark), and after toe-off it often rises
    back above the band for 10-30 ms (taking the last fall instead moved toe-offs by up to
    +130 ms). The search starts at the active peak because an impact transient before the hump
    peak can dip into the band. Extrapolating the falling edge to the flight baseline, as the
    initial contact does with the rising edge, was 2x worse on that data: the force does not
    fall the way it rose - loading is a collision, unloading rolls off the toes with a long
    tail - and the trunk motion bends the lower part of the fall.

    That tail is also where FLIGHT_G is crossed: the signal's last ~40 ms above the band are a
    shallow slope whose level changes from step to step with the trunk's own motion, so one
    crossing wanders by tens of ms. The fall is therefore timed at every level of
    :func:`_fall_levels` (its steep part included) and compared with the typical fall: for each
    level, the median over the same foot's running contacts within TO_SHAPE_HALF_S
    (:func:`_same_foot`) of how long after the level's crossing the FLIGHT_G crossing comes.
    Each level then gives a toe-off (its crossing plus that typical delay), and the contact's
    toe-off is their mean, kept between the active peak and ``end``. The definition stays the
    FLIGHT_G crossing of the foot's typical fall; only its step-to-step noise is averaged over
    the fall, and a left/right difference is kept (pooling both feet shrank the contact-time
    asymmetry on the force-treadmill trials). A contact with no neighbour of its foot keeps its
    own FLIGHT_G crossing. (Weighting the levels by the typical slope squared, a least-squares
    time shift, made no measurable difference on the force-treadmill trials.)
    """
    m = top.shape[0]
    if m == 0:
        return np.zeros(0)
    levels = _fall_levels()
    # the active peak is before the contact's first return into the flight band after its hump:
    # where the next accepted contact is far (a bout's last contact), ``end`` and ``top`` can
    # lie in a later contact
    below = np.flatnonzero(s < FLIGHT_G)

    def back_in_band(i: np.ndarray) -> np.ndarray:
        if below.size == 0:
            return end
        k = np.searchsorted(below, i)
        return np.where(k < below.size, below[np.minimum(k, below.size - 1)], end)

    start = np.where(top < back_in_band(hump), np.maximum(hump, top), hump)
    active = _seg_argext(s, start, np.clip(back_in_band(start), start, end), largest=True)
    cross = _first_falls(s, active, end, levels)
    main = cross[:, 1]  # (levels[1] is FLIGHT_G)
    delay = main[:, None] - cross  # how long after each level's crossing FLIGHT_G is crossed
    rows, near = _neighbours(hump.astype(float), np.zeros(m, int), TO_SHAPE_HALF_S * rate_hz)
    near &= _same_foot(hump, rows, near, rate_hz)
    pooled = np.where(near[:, :, None], delay[rows], np.nan)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (levels no neighbour crossed)
        typical = np.nanmedian(pooled, axis=1)
        to = np.nanmean(cross + typical, axis=1)
    return np.where(np.isfinite(main), np.clip(to, active, end), np.nan)


def _same_foot(hump: np.ndarray, rows: np.ndarray, near: np.ndarray,
               rate_hz: float) -> np.ndarray:
    """Which neighbours ``rows`` (contacts x width, valid where ``near``) of each contact are
    the same foot: an even number of steps away, the step being the median interval between
    consecutive humps among the contact's neighbours (plausible intervals only, <= MAX_STEP_S).
    Counting in time, not in detected humps, keeps the feet apart when a hump was missed; a
    neighbour more than a quarter step off an even count (a pause, a stumble) is left out."""
    m = hump.shape[0]
    gap = np.full(m, np.nan)
    gap[1:] = np.diff(hump).astype(float)
    gap[gap > MAX_STEP_S * rate_hz] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # (no plausible interval)
        step = np.nanmedian(np.where(near, gap[rows], np.nan), axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        count = (hump[rows] - hump[:, None]) / step[:, None]
    off_even = np.abs(count - 2.0 * np.round(count / 2.0))
    same = off_even <= 0.25
    same[np.arange(m), np.argmax(rows == np.arange(m)[:, None], axis=1)] = True  # itself
    return same


def _first_falls(s: np.ndarray, peak: np.ndarray, end: np.ndarray,
                 levels: np.ndarray) -> np.ndarray:
    """Sub-sample index of the first fall of ``s`` through each of ``levels`` within
    ``[peak[k], end[k]]``, ``peak[k]`` being the range's highest sample (contacts x levels; NaN
    where a level is not crossed). The same as :func:`_crossings` per level, in one pass: the
    running minimum from the peak first drops below a level at the sample after the crossing."""
    out = np.full((peak.shape[0], levels.shape[0]), np.nan)
    rows = np.flatnonzero(end > peak)
    for part in np.array_split(rows, max(1, rows.size // 1024)):  # bounded temporaries
        if part.size == 0:
            continue
        p0, lengths = peak[part], end[part] - peak[part] + 1
        pos = np.arange(int(lengths.max()))
        grid = np.minimum(p0[:, None] + pos, s.shape[0] - 1)
        # each range's running minimum (-inf past its end)
        low = np.minimum.accumulate(np.where(pos < lengths[:, None], s[grid], -np.inf), axis=1)
        for j, level in enumerate(levels):
            above = np.sum(low >= level, axis=1)  # samples before the first one below it
            hit = (above > 0) & (above < lengths)
            i = p0[hit] + above[hit] - 1
            out[part[hit], j] = i + (level - s[i]) / (s[i + 1] - s[i])
    return out


def _fall_levels() -> np.ndarray:
    """Levels (g) at which a running contact's fall is timed: FLIGHT_G - TO_LEVEL_STEP_G, then
    FLIGHT_G and every TO_LEVEL_STEP_G above it up to TO_FALL_TOP_G."""
    above = np.arange(FLIGHT_G, TO_FALL_TOP_G + 1e-9, TO_LEVEL_STEP_G)
    return np.concatenate(([FLIGHT_G - TO_LEVEL_STEP_G], above if above.size else [FLIGHT_G]))


def _bouts(ic: np.ndarray, rate_hz: float) -> np.ndarray:
    """Bout numbers: a new bout where the interval to the previous contact is implausibly long
    (over MAX_STEP_S, or over 1.6 x the median of the plausible intervals among it and the two
    on each side)."""
    if ic.size == 0:
        return np.zeros(0, int)
    d = np.diff(ic) / rate_hz
    pad = np.full(d.size + 4, np.nan)
    pad[2:-2] = np.where(d <= MAX_STEP_S, d, np.nan)
    near = np.sort(sliding_window_view(pad, 5), axis=1)  # NaN sorts last
    count = np.sum(np.isfinite(near), axis=1)
    rows = np.arange(d.size)
    lo = np.maximum(count - 1, 0) // 2
    median = 0.5 * (near[rows, lo] + near[rows, np.maximum(count, 1) // 2])
    brk = (d > MAX_STEP_S) | ((count > 0) & (d > 1.6 * median))
    return np.concatenate(([0], np.cumsum(brk))).astype(int)


# --------------------------------------------------------------------------- side


def _side_evidence(ic: np.ndarray, bout: np.ndarray, gait: np.ndarray, acc: np.ndarray,
                   gyr: np.ndarray | None) -> np.ndarray:
    """Per-contact evidence, one column per kind, signed so that a right contact is positive:

    * obliquity rate (about +x) over the first 40 % of the step: the swing-side (left) hip drops
      during early right stance, a negative rate;
    * rotation rate (about +z) over the step: the pelvis turns with the swing leg, clockwise seen
      from above (negative) during right stance;
    * walking only, mediolateral acceleration over the first half of the step: during right
      stance the ground pushes the body to the left (+y). The sensor's y axis turns with the
      pelvis, so it also reads gravity times the sine of the obliquity, which during right stance
      (left hip down) points to -y: g sin(4-6 deg) = 0.7-1 m/s², as large as the push in running
      (mediolateral force ~0.05-0.1 BW), so there the sign differs between runners (the
      simulator in imu_hip.sim reads -0.36 m/s² in the pelvis frame where its push gives
      +0.82 m/s²). Walking has the wider base and smaller drop; on the lower-back walking data the
      push wins for every contact named.

    Shape (contacts, kinds); no column for a missing signal (no gyroscope, or an all-zero
    mediolateral axis from a biaxial sensor); NaN where the step time is unknown or the kind does
    not apply.
    """
    n = acc.shape[0]
    m = ic.shape[0]
    d = np.diff(ic)
    same = bout[1:] == bout[:-1]
    step = np.full(m, np.nan)
    step[:-1] = np.where(same, d, np.nan)
    step[1:] = np.where(np.isnan(step[1:]) & same, d, step[1:])  # the last contact of a bout
    walking = gait == "walk"
    kinds: list[tuple[np.ndarray, float, float, np.ndarray]] = []  # signal, sign, share, applies
    if gyr is not None:
        kinds.append((gyr[:, 0], -1.0, 0.4, np.ones(m, bool)))
        kinds.append((gyr[:, 2], -1.0, 1.0, np.ones(m, bool)))
    if np.any(np.abs(acc[:, 1]) > 1e-6) and walking.any():
        kinds.append((acc[:, 1], +1.0, 0.5, walking))
    out = np.full((m, len(kinds)), np.nan)
    start = np.round(ic).astype(np.intp)
    for j, (sig, sign, share, applies) in enumerate(kinds):
        rows = np.flatnonzero(applies & np.isfinite(step) & (start < n - 1))
        if rows.size == 0:
            continue
        a = start[rows]
        stop = np.minimum(n, a + np.maximum(2, (share * step[rows]).astype(np.intp)))
        bounds = np.column_stack([a, np.minimum(stop, n - 1)]).ravel()
        sums = np.add.reduceat(sig, bounds)[::2]
        sums[stop == n] += sig[n - 1]  # (reduceat indices must be inside the array)
        out[rows, j] = sign * (sums / (stop - a))
    return out


def _neighbours(ic: np.ndarray, bout: np.ndarray, half: float) -> tuple[np.ndarray, np.ndarray]:
    """For each contact, the contacts of its bout within ``half`` samples (itself included):
    an index matrix (contacts x width) and a mask of its valid entries."""
    m = ic.shape[0]
    order = np.argsort(ic, kind="stable")
    ics = ic[order]
    lo = np.searchsorted(ics, ic - half - 1.0, side="left")  # a superset: the exact test follows
    hi = np.searchsorted(ics, ic + half + 1.0, side="right")
    width = int(np.max(hi - lo))
    pos = lo[:, None] + np.arange(width)
    inside = pos < hi[:, None]
    rows = order[np.minimum(pos, m - 1)]
    k = np.arange(m)[:, None]
    near = inside & (bout[rows] == bout[k]) & (np.abs(ic[rows] - ic[k]) <= half)
    return rows, near


def _alternation(votes: np.ndarray, mask: np.ndarray, tests: int) -> np.ndarray:
    """Per row of ``votes`` (entries where ``mask``): +1 (right) or -1 (left) when alternating
    votes are convincing, else 0: at least SIDE_MIN_AGREEMENT of them share the sign of their
    sum, their mean differs from 0 (t test, p <= SIDE_MAX_P / ``tests``, Bonferroni for the
    kinds tested; two degrees of freedom are taken by the detrending) and it is at least
    SIDE_MIN_EFFECT standard deviations."""
    count = mask.sum(axis=1)
    v = np.where(mask, votes, 0.0)
    total = v.sum(axis=1)
    enough = (total != 0.0) & (count >= max(MIN_BOUT_CONTACTS, 5))
    c = np.maximum(count, 2)
    mean = total / c
    spread = np.sqrt(np.sum(np.where(mask, (v - mean[:, None]) ** 2, 0.0), axis=1) / (c - 1))
    with np.errstate(invalid="ignore", divide="ignore"):
        effect = np.where(spread > 0, np.abs(mean) / spread, np.inf)
    # two-sided p value of Student's t with count - 3 degrees of freedom
    p_value = 2.0 * student_t_sf(effect * np.sqrt(c), np.maximum(c - 3, 1))
    agree = np.sum(mask & (np.sign(v) == np.sign(total)[:, None]), axis=1) / c
    convincing = (enough & (agree >= SIDE_MIN_AGREEMENT) & (p_value <= SIDE_MAX_P / tests)
                  & (effect >= SIDE_MIN_EFFECT))
    return np.where(convincing, np.sign(total), 0.0)


def _votes(ev: np.ndarray, t: np.ndarray, alt: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Alternating votes (contacts x neighbours), summed over the kinds: each kind's evidence
    ``ev`` (contacts x neighbours x kinds) detrended over the neighbours in ``mask`` (offset and
    linear drift in time ``t``: a tilted sensor, a lean that changes while speeding up, a turn;
    the alternation is orthogonal to both), divided by its standard deviation, times ``alt``
    (+1/-1 alternately). Kinds without scatter are left out."""
    w = mask.astype(float)
    count = np.maximum(w.sum(axis=1), 1.0)
    tc = (t - (np.sum(w * t, axis=1) / count)[:, None]) * w
    stt = np.sum(tc * tc, axis=1)
    out = np.zeros(mask.shape)
    for j in range(ev.shape[2]):
        e = np.where(mask, ev[:, :, j], 0.0)
        ec = (e - (e.sum(axis=1) / count)[:, None]) * w
        with np.errstate(invalid="ignore", divide="ignore"):
            slope = np.where(stt > 0, np.sum(tc * ec, axis=1) / stt, 0.0)
        x = ec - slope[:, None] * tc
        x = (x - (x.sum(axis=1) / count)[:, None]) * w
        sd = np.sqrt(np.sum(x * x, axis=1) / count)
        scale = np.sqrt(np.sum(e * e, axis=1) / count)
        used = sd > 1e-12 * scale  # residuals at rounding level are no scatter
        with np.errstate(invalid="ignore", divide="ignore"):
            out += np.where(used[:, None], x / sd[:, None], 0.0)
    return out * alt


def _assign_sides(ic: np.ndarray, bout: np.ndarray, gait: np.ndarray, acc: np.ndarray,
                  gyr: np.ndarray | None, rate_hz: float) -> np.ndarray:
    """Left/right per contact.

    Within a bout sides alternate, so the contacts of the bout within SIDE_HALF_S vote
    (:func:`_votes`). Each kind of evidence that is convincing on its own (:func:`_alternation`)
    names a side; the contact takes it when those kinds agree and stays "unknown" when they
    contradict each other. When no kind alone is convincing, their sum may be. Without a
    gyroscope, running contacts stay "unknown" (see :func:`_side_evidence`).
    """
    side = np.full(ic.shape[0], "unknown", dtype=object)
    ev = _side_evidence(ic, bout, gait, acc, gyr)
    if ic.size == 0 or ev.shape[1] == 0:
        return side
    finite = np.isfinite(ev)
    rows, near = _neighbours(ic, bout, SIDE_HALF_S * rate_hz)
    k = np.arange(ic.size)[:, None]
    t = (ic[rows] - ic[k]) / rate_hz
    alt = 1.0 - 2.0 * ((rows - k) & 1)  # +1 for this contact and every other one
    ev_rows = ev[rows]  # contacts x neighbours x kinds
    fin_rows = finite[rows]
    verdict = np.zeros(ic.size)
    # contacts with the same kinds of evidence are decided together
    pattern = finite @ (1 << np.arange(ev.shape[1]))
    for code in np.unique(pattern[pattern > 0]):
        grp = np.flatnonzero(pattern == code)
        kinds = np.flatnonzero(finite[grp[0]])
        tests = kinds.size + (kinds.size > 1)  # each kind, and their sum
        said = np.zeros((grp.size, kinds.size))
        tried = np.zeros((grp.size, kinds.size), bool)
        for i, j in enumerate(kinds):
            mask = near[grp] & fin_rows[grp, :, j]
            tried[:, i] = mask.sum(axis=1) >= MIN_BOUT_CONTACTS
            v = _votes(ev_rows[grp][:, :, [j]], t[grp], alt[grp], mask)
            said[:, i] = np.where(tried[:, i], _alternation(v, mask, tests), 0.0)
        pos, neg = np.any(said > 0, axis=1), np.any(said < 0, axis=1)
        out = np.where(pos & ~neg, 1.0, np.where(neg & ~pos, -1.0, 0.0))
        if kinds.size > 1:  # no kind alone is convincing: their sum may be
            pool = ~pos & ~neg & (tried.sum(axis=1) > 1)
            if pool.any():
                sub = grp[pool]
                mask = near[sub] & np.all(fin_rows[sub][:, :, kinds], axis=2)
                v = _votes(ev_rows[sub][:, :, kinds], t[sub], alt[sub], mask)
                out[pool] = np.where(mask.sum(axis=1) >= MIN_BOUT_CONTACTS,
                                     _alternation(v, mask, tests), 0.0)
        verdict[grp] = out
    side[verdict > 0] = "right"
    side[verdict < 0] = "left"
    return side
