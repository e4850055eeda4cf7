"""Gait events from one IMU worn over the sacrum: initial contact, toe-off, side, run/walk, bouts.

Physics used (body frame: x forward, y left, z up; proper acceleration, gravity included):

* The vertical proper acceleration of the trunk tracks the vertical ground reaction force divided
  by body mass (Newton; the trunk carries most of the mass). In running it reads ~0 g while both
  feet are off the ground (free fall), rises steeply when a foot lands and falls back towards 0 g
  around toe-off. In walking one foot always supports the body, so it never comes near 0 g: the
  inverted-pendulum bound is ``g (1 - Fr)`` with the Froude number ``Fr = v^2 / (g L)``, and people
  change to running near ``Fr = 0.5``, so walking stays above ~0.5 g.
* The stride-averaged vertical proper acceleration is 1 g for any steady gait (vertical velocity is
  periodic), so a step is one rise of that signal above its between-step trough.
* During right stance the mediolateral ground force pushes the body to the left (+y); the swing
  (left) hip drops (obliquity rate about +x negative in early stance) and the pelvis turns with the
  swing leg (rate about +z negative).

Method, per window (every decision uses samples within ~2.5 s of the step, so results are local):

1. ``a_z`` in g, zero-phase low-pass at 20 Hz (keeps the contact transitions, drops the impact
   transient that does not mark the event time), clipped at 0 g (a foot cannot pull the body
   down, so negative values are relative trunk motion in flight, not contact).
2. Step humps: peaks of a 5 Hz-smoothed ``a_z`` that are periodic (local autocorrelation) and
   regular (interval to their neighbours); anything else (standing, shaking, irregular jumps) is
   not gait.
3. Initial contact: the rise of the hump from its trough (flight baseline ~0 g when running) is
   located by sub-sample crossings of 20 %, 30 %, 40 % and 50 % of the rise amplitude; the line
   through them is extrapolated back to the trough level. A zero-phase filter moves a ramp's
   crossings symmetrically, so the extrapolated foot of a ramp is unchanged by the smoothing.
4. Toe-off (running): see :func:`_toe_off_running`.
5. Run/walk: a step is running when the trough before its contact drops below 0.25 g (halfway
   between free fall and the lowest walking value, ~0.5 g).
6. Side: per-step evidence from the pelvis angular rate (with a gyroscope) and/or the
   mediolateral acceleration, and the alternating labelling that agrees best with the evidence of
   the steps around it; "unknown" when too few of those steps agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, find_peaks, sosfiltfilt
from scipy.stats import t as student_t

from imu_hip.model import G

#: Zero-phase low-pass for event timing (Hz); limited to 0.4 x the sampling rate.
EVENT_LOWPASS_HZ = 20.0
#: Low-pass that merges one contact's impact and active peaks into one hump (Hz).
HUMP_LOWPASS_HZ = 5.0
#: Shortest and longest step time accepted as gait (s): 270 to 40 steps/min.
MIN_STEP_S = 0.22
MAX_STEP_S = 1.5
#: Smallest hump prominence that can be a step (g). Postural sway while standing is ~0.01 g.
MIN_HUMP_G = 0.08
#: Largest prominence ratio between a step hump and a neighbouring one.
SIMILAR_HUMP = 2.0
#: Fewest contacts in a bout (two strides); shorter runs of humps are not reported as gait.
MIN_BOUT_CONTACTS = 4
#: Half-width of the window for local periodicity and side decisions (s).
LOCAL_HALF_S = 2.0
#: Local autocorrelation a hump must reach at some step/stride lag to count as gait.
MIN_PERIODICITY = 0.5
#: Trough below this (g) means a flight phase: running. Halfway between 0 g and ~0.5 g.
FLIGHT_G = 0.25
#: How far before the loading peak the heel-strike rise is searched in walking (s).
WALK_RISE_S = 0.15
#: Fractions of the rise amplitude whose crossings define the rising flank.
RISE_LEVELS = (0.2, 0.3, 0.4, 0.5)
#: Contacts within this time (s) of a contact vote on its side.
SIDE_HALF_S = 2.0
#: Share of nearby steps whose evidence must agree with the alternating labelling, and the
#: largest p value (t test of the alternating evidence against 0) at which a side is named.
SIDE_MIN_AGREEMENT = 0.7
SIDE_MAX_P = 0.01
#: Smallest mean of the alternating votes, in standard deviations of the votes (effect size).
SIDE_MIN_EFFECT = 1.5


@dataclass
class SacralEvents:
    """Gait events of one segment, one entry per initial contact, in time order.

    ``ic``/``to``: float sample indices (sub-sample) of initial contact and of the toe-off ending
    that contact (NaN if not found). ``side``: "left" | "right" | "unknown". ``gait``: "run" |
    "walk". ``bout``: consecutive contacts with the same bout number form steps.
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


def _lowpass(x: np.ndarray, cutoff_hz: float, rate_hz: float, order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth low-pass along axis 0 (cutoff capped at 0.4 x rate)."""
    wn = min(cutoff_hz, 0.4 * rate_hz) / (0.5 * rate_hz)
    sos = butter(order, wn, output="sos")
    return sosfiltfilt(sos, x, axis=0)


def _crossing(x: np.ndarray, level: float, i0: int, i1: int, rising: bool, last: bool) -> float:
    """Sub-sample index where ``x`` crosses ``level`` within ``[i0, i1]`` (NaN if it does not).

    ``last`` picks the last crossing instead of the first.
    """
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


def _periodicity(u: np.ndarray, centres: np.ndarray, rate_hz: float) -> np.ndarray:
    """How periodic ``u`` is around each centre: the largest, over lags L in MIN_STEP_S..
    MAX_STEP_S, of min(r(L), r(2 L)), r being the normalised autocorrelation within
    +-LOCAL_HALF_S of the centre. Gait repeats over several cycles, so both the lag and its double
    correlate; a chance match of noise at one lag does not repeat at twice that lag."""
    step = max(1, int(rate_hz // 50))  # u is smooth (5 Hz): 50 Hz is plenty
    ud = u[::step]
    fs = rate_hz / step
    half = int(round(LOCAL_HALF_S * fs))
    lag0 = max(1, int(round(MIN_STEP_S * fs)))
    lag1 = int(round(MAX_STEP_S * fs))
    min_overlap = int(round(1.0 * fs))
    out = np.zeros(centres.shape[0])
    for n, c in enumerate(centres // step):
        w = ud[max(0, c - half) : c + half + 1]
        w = w - w.mean()
        m = w.shape[0]
        top = min(2 * lag1, m - min_overlap)
        if top < 2 * lag0:
            continue
        r = np.zeros(top + 1)
        for lag in range(lag0, top + 1):
            a, b = w[:-lag], w[lag:]
            den = np.sqrt(np.dot(a, a) * np.dot(b, b))
            if den > 0:
                r[lag] = np.dot(a, b) / den
        lags = np.arange(lag0, min(lag1, top // 2) + 1)
        if lags.size:
            out[n] = float(np.max(np.minimum(r[lags], r[2 * lags])))
    return out


def _regular(peaks: np.ndarray, rate_hz: float) -> np.ndarray:
    """True for peaks whose interval to a neighbour is a plausible step and agrees (within a
    factor 1.5) with the interval on the other side or with the next interval."""
    n = peaks.shape[0]
    ok = np.zeros(n, bool)
    if n < 3:
        return ok
    d = np.diff(peaks) / rate_hz
    plausible = (d >= MIN_STEP_S) & (d <= MAX_STEP_S)
    for k in range(n):
        left = d[k - 1] if k >= 1 else np.nan
        right = d[k] if k < n - 1 else np.nan
        cands = []
        if k >= 1 and k < n - 1:
            cands.append((left, right, plausible[k - 1] and plausible[k]))
        if k >= 2:
            cands.append((d[k - 2], left, plausible[k - 2] and plausible[k - 1]))
        if k < n - 2:
            cands.append((right, d[k + 1], plausible[k] and plausible[k + 1]))
        for a, b, p in cands:
            if p and max(a, b) / min(a, b) <= 1.5:
                ok[k] = True
                break
    return ok


def _find_humps(az_g: np.ndarray, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Indices of step humps (peaks of the 5 Hz-smoothed vertical acceleration) and the smoothed
    signal. Keeps only periodic, regular humps."""
    u = _lowpass(az_g, HUMP_LOWPASS_HZ, rate_hz)
    peaks, props = find_peaks(
        u,
        distance=max(1, int(MIN_STEP_S * rate_hz)),
        prominence=MIN_HUMP_G,
        wlen=int(2 * MAX_STEP_S * rate_hz),
    )
    if peaks.size < 3:
        return np.zeros(0, int), u
    prom = props["prominences"]
    # consecutive steps of one gait load the body alike: a hump must be within a factor
    # SIMILAR_HUMP of a neighbour (drops the sway before a start and a contact cut by the edge)
    similar = np.zeros(peaks.size, bool)
    ratio_next = prom[1:] / prom[:-1]
    near = (ratio_next >= 1 / SIMILAR_HUMP) & (ratio_next <= SIMILAR_HUMP)
    similar[:-1] |= near
    similar[1:] |= near
    per = _periodicity(u, peaks, rate_hz)
    peaks = peaks[(per >= MIN_PERIODICITY) & similar]
    # two passes: removing an irregular hump can make its neighbours' intervals irregular
    for _ in range(2):
        if peaks.size < 3:
            return np.zeros(0, int), u
        peaks = peaks[_regular(peaks, rate_hz)]
    return peaks, u


def _ic_from_rise(s: np.ndarray, trough: int, top: int, base: float, peak: float) -> float:
    """Initial contact: back-extrapolate the rising flank (crossings of RISE_LEVELS of the rise
    from ``base`` to ``peak``) to ``base``. NaN when the rise is not seen completely."""
    amp = peak - base
    if amp <= 0:
        return float("nan")
    hi = base + RISE_LEVELS[-1] * amp
    k_hi = trough + int(np.argmax(s[trough : top + 1] >= hi))
    if s[k_hi] < hi or k_hi == trough:
        return float("nan")
    t = []
    for f in RISE_LEVELS:
        t.append(_crossing(s, base + f * amp, trough, k_hi, rising=True, last=True))
    t = np.asarray(t)
    lv = np.asarray(RISE_LEVELS)
    ok = np.isfinite(t)
    if ok.sum() < 2:
        return float("nan")
    slope, icpt = np.polyfit(lv[ok], t[ok], 1)  # time as a function of level fraction
    return float(icpt)  # level fraction 0 = base


def _toe_off_running(s: np.ndarray, top: int, end: int) -> float:
    """Toe-off of a running contact: the last time ``s`` falls through FLIGHT_G between the
    contact's peak ``top`` and the next trough ``end`` (NaN when it does not in the data).

    With no foot on the ground the trunk is in free fall apart from its own motion relative to
    the centre of mass (pelvic pitch at step frequency, ~5 deg at ~3 Hz with the sacrum ~0.1 m
    from the hip axis, gives r * alpha of 0.15-0.3 g). Only a support force lifts the vertical
    proper acceleration above that band, so the contact is taken to end where the signal falls
    back into it. The band edge is the same FLIGHT_G that separates running from walking.
    """
    return _crossing(s, FLIGHT_G, top, end, rising=False, last=True)


def detect_sacral_events(
    acc_body_mps2: np.ndarray, gyr_body_rads: np.ndarray | None, rate_hz: float
) -> SacralEvents:
    """Initial contacts, toe-offs, side, gait and bouts from a sacral IMU.

    ``acc_body_mps2``: (n, 3) proper acceleration in the body frame (x forward, y left, z up; m/s²,
    gravity included), one gap-free uniformly sampled segment. ``gyr_body_rads``: (n, 3) angular
    rate (rad/s) in the same frame, or None. ``rate_hz``: sampling rate (>= 50 Hz).
    Event positions are float sample indices into the input.
    """
    acc = np.asarray(acc_body_mps2, dtype=float)
    n = acc.shape[0]
    if n < int(3 * MAX_STEP_S * rate_hz) or not np.all(np.isfinite(acc)):
        return _empty()
    az = _lowpass(acc[:, 2] / G, EVENT_LOWPASS_HZ, rate_hz)
    s = np.maximum(az, 0.0)
    peaks, u = _find_humps(acc[:, 2] / G, rate_hz)
    if peaks.size == 0:
        return _empty()
    # troughs between humps (and before the first / after the last, within one step time)
    lim = int(MAX_STEP_S * rate_hz)
    bounds = np.concatenate(([max(0, peaks[0] - lim)], np.zeros(peaks.size - 1, int),
                             [min(n - 1, peaks[-1] + lim)]))
    for k in range(peaks.size - 1):
        a, b = peaks[k], peaks[k + 1]
        bounds[k + 1] = a + int(np.argmin(az[a : b + 1]))
    first = bounds[0]
    bounds[0] = first + int(np.argmin(az[first : peaks[0] + 1]))
    last = bounds[-1]
    bounds[-1] = peaks[-1] + int(np.argmin(az[peaks[-1] : last + 1]))

    daz = np.gradient(az)
    ic = np.full(peaks.size, np.nan)
    to = np.full(peaks.size, np.nan)
    running = np.zeros(peaks.size, bool)
    for k in range(peaks.size):
        tr0, tr1 = int(bounds[k]), int(bounds[k + 1])
        top = tr0 + int(np.argmax(s[tr0 : tr1 + 1]))
        running[k] = az[tr0] < FLIGHT_G
        if tr0 <= 0:
            continue  # the signal starts inside this rise: its start is not seen
        if running[k]:
            base = float(np.min(s[tr0 : top + 1]))
            ic[k] = _ic_from_rise(s, tr0, top, base, float(s[top]))
            if tr1 < n - 1:
                to[k] = _toe_off_running(s, top, tr1)
        else:
            # walking: heel strike loads the leading leg faster than anything else in the stride;
            # the trunk's vertical acceleration rises most steeply just before the loading peak
            lo = max(tr0, top - int(WALK_RISE_S * rate_hz))
            if top - lo >= 2:
                j = lo + int(np.argmax(daz[lo:top]))
                ic[k] = j + _vertex(daz[j - 1 : j + 2]) if 0 < j < n - 1 else float(j)
    # contacts starting within half a period of the event low-pass from the start of the data are
    # not reported: there its zero-phase kernel reaches past the data
    keep = np.isfinite(ic) & (ic >= 0.5 * rate_hz / min(EVENT_LOWPASS_HZ, 0.4 * rate_hz))
    if not keep.any():
        return _empty()
    ic, to = ic[keep], to[keep]
    gait = np.where(running[keep], "run", "walk").astype(object)
    bout = _bouts(ic, rate_hz)
    # a gait bout has at least two strides (Mobilise-D walking-bout consensus, Kluge et al. 2021)
    counts = np.bincount(bout)
    big = counts[bout] >= MIN_BOUT_CONTACTS
    ic, to, gait, bout = ic[big], to[big], gait[big], bout[big]
    if ic.size == 0:
        return _empty()
    bout = np.concatenate(([0], np.cumsum(bout[1:] != bout[:-1]))).astype(int)
    side = _assign_sides(ic, bout, acc, gyr_body_rads, rate_hz)
    return SacralEvents(ic=ic, to=to, side=side, gait=gait, bout=bout)


def _side_evidence(ic: np.ndarray, bout: np.ndarray, acc: np.ndarray, gyr: np.ndarray | None,
                   rate_hz: float) -> np.ndarray:
    """Per-contact evidence, one column per kind, signed so that a right contact is positive:

    * mediolateral acceleration over the first half of the step: during right stance the ground
      pushes the body to the left (+y);
    * obliquity rate (about +x) over the first 40 % of the step: the swing-side (left) hip drops
      during early right stance, a negative rate;
    * rotation rate (about +z) over the step: the pelvis turns with the swing leg, clockwise seen
      from above (negative) during right stance.

    Shape (contacts, kinds); no column for a missing signal (no gyroscope, or an all-zero
    mediolateral axis from a biaxial sensor); NaN where the step time is unknown.
    """
    n = acc.shape[0]
    m = ic.shape[0]
    d = np.diff(ic)
    same = bout[1:] == bout[:-1]
    step = np.full(m, np.nan)
    step[:-1] = np.where(same, d, np.nan)
    step[1:] = np.where(np.isnan(step[1:]) & same, d, step[1:])  # the last contact of a bout
    kinds: list[tuple[np.ndarray, float, float]] = []  # (signal, sign for right, share of step)
    if np.any(np.abs(acc[:, 1]) > 1e-6):
        kinds.append((acc[:, 1], +1.0, 0.5))
    if gyr is not None:
        kinds.append((gyr[:, 0], -1.0, 0.4))
        kinds.append((gyr[:, 2], -1.0, 1.0))
    out = np.full((m, len(kinds)), np.nan)
    for j, (sig, sign, share) in enumerate(kinds):
        for k in range(m):
            a = int(round(ic[k]))
            if np.isfinite(step[k]) and a < n - 1:
                stop = min(n, a + max(2, int(share * step[k])))
                out[k, j] = sign * float(np.mean(sig[a:stop]))
    return out


def _assign_sides(ic: np.ndarray, bout: np.ndarray, acc: np.ndarray, gyr: np.ndarray | None,
                  rate_hz: float) -> np.ndarray:
    """Left/right per contact. Within a bout sides alternate, so the contacts of the bout within
    SIDE_HALF_S vote. Each kind of evidence is centred on its mean over those contacts (a tilted
    sensor or a turn gives a constant offset) and divided by its standard deviation there, the
    kinds are added, and the sum is multiplied by +1/-1 alternately. The contact is named when
    at least SIDE_MIN_AGREEMENT of the votes agree with their sum, their mean differs from 0
    (t test, p <= SIDE_MAX_P; one degree of freedom is taken by the centring) and is at least
    SIDE_MIN_EFFECT standard deviations (the alternation dominates the step-to-step scatter);
    otherwise, or without evidence, it stays "unknown"."""
    side = np.full(ic.shape[0], "unknown", dtype=object)
    ev = _side_evidence(ic, bout, acc, gyr, rate_hz)
    if ic.size == 0 or ev.shape[1] == 0:
        return side
    half = SIDE_HALF_S * rate_hz
    for k in range(ic.size):
        w = np.flatnonzero((bout == bout[k]) & (np.abs(ic - ic[k]) <= half)
                           & np.all(np.isfinite(ev), axis=1))
        if w.size < MIN_BOUT_CONTACTS or k not in w:
            continue
        x = ev[w] - ev[w].mean(axis=0)
        sd = x.std(axis=0)
        used = sd > 0
        if not used.any():
            continue
        votes = (x[:, used] / sd[used]).sum(axis=1) * np.where((w - k) % 2 == 0, 1.0, -1.0)
        total = float(np.sum(votes))
        spread = float(np.std(votes, ddof=1))
        if total == 0.0:
            continue
        effect = abs(float(np.mean(votes))) / spread if spread > 0 else np.inf
        p_value = 2.0 * float(student_t.sf(effect * np.sqrt(w.size), df=w.size - 2))
        agree = float(np.mean(np.sign(votes) == np.sign(total)))
        if agree >= SIDE_MIN_AGREEMENT and p_value <= SIDE_MAX_P and effect >= SIDE_MIN_EFFECT:
            side[k] = "right" if total > 0 else "left"
    return side


def _vertex(y: np.ndarray) -> float:
    """Offset (samples, within +-0.5) of the vertex of the parabola through three samples."""
    den = y[0] - 2.0 * y[1] + y[2]
    return float(np.clip(0.5 * (y[0] - y[2]) / den, -0.5, 0.5)) if den != 0 else 0.0


def _bouts(ic: np.ndarray, rate_hz: float) -> np.ndarray:
    """Bout numbers: a new bout where the interval to the previous contact is implausibly long
    (over MAX_STEP_S, or over 1.6 x the median of the neighbouring intervals)."""
    if ic.size == 0:
        return np.zeros(0, int)
    d = np.diff(ic) / rate_hz
    brk = d > MAX_STEP_S
    for k in range(d.size):
        near = d[max(0, k - 2) : k + 3]
        near = near[near <= MAX_STEP_S]
        if near.size and d[k] > 1.6 * np.median(near):
            brk[k] = True
    return np.concatenate(([0], np.cumsum(brk))).astype(int)
