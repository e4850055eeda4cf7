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

Method (:func:`detect_sacral_events`). Every decision uses samples within ~2-3 s of the step, so
an event found in a window with 3 s of margin on each side equals the one found on the whole
recording:

1. ``a_z`` in g, zero-phase low-pass at :data:`EVENT_LOWPASS_HZ`, clipped at 0 g (a foot cannot
   pull the body down; negative values are the trunk moving relative to the centre of mass in
   flight, not contact). A zero-phase filter does not delay events.
2. Step humps: peaks of ``a_z`` low-passed at :data:`HUMP_LOWPASS_HZ` (one hump per contact)
   that are periodic over two cycles, regular in time, similar to a neighbour, and part of a bout
   of at least two strides. Standing, shaking and irregular jumps are not gait.
3. Run/walk: a step is running when the trough before it drops below :data:`FLIGHT_G`.
4. Initial contact, running: the rise from the flight trough is located by sub-sample crossings
   of :data:`RISE_LEVELS` of its amplitude, and the line through them is extrapolated back to the
   trough level. A symmetric (zero-phase) smoothing moves the crossings of a ramp symmetrically
   about its middle, so this foot of the ramp does not move with the filter; the impact peak
   above the top level does not enter.
5. Initial contact, walking: the steepest rise of ``a_z`` before the loading peak (heel strike
   loads the leading leg faster than anything else in the stride).
6. Toe-off, running: the last fall of ``a_z`` through :data:`FLIGHT_G` before the flight
   (:func:`_toe_off_running`). Walking toe-off is not estimated (NaN): the trailing foot leaves
   in double support, which the trunk signal does not mark; on the mobgap lower-back data the
   two references disagree by ~60 ms on it and a force-balance estimate was 50-110 ms early.
7. Side: :func:`_assign_sides` (from the gyroscope, and in walking also from the mediolateral
   acceleration; running without a gyroscope stays "unknown").

Measured accuracy and the sensitivity to each constant: ``python benchmarks/accuracy.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import butter, find_peaks, sosfiltfilt
from scipy.stats import t as student_t

from imu_hip.model import G, ImuHipError

#: Zero-phase low-pass for event timing (Hz, capped at 0.4 x the rate). Contact transitions of
#: the active force take >= 25 ms, which 20 Hz keeps; the impact transient and soft-tissue
#: ringing above it do not mark the event time.
EVENT_LOWPASS_HZ = 20.0
#: Low-pass (Hz) that merges a contact's impact and active peaks (~0.1 s apart) into one hump
#: while keeping steps apart (<= 4.5 steps/s).
HUMP_LOWPASS_HZ = 5.0
#: Shortest and longest step time accepted as gait (s): 270 to 40 steps/min.
MIN_STEP_S = 0.22
MAX_STEP_S = 1.5
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
#: Edge of the free-fall band (g): a trough below it is a flight phase (running), and a running
#: contact ends when the signal falls back below it. Halfway between free fall (0 g) and the
#: lowest walking value (~0.5 g); the trunk's own motion in flight spans ~0.15-0.3 g.
FLIGHT_G = 0.25
#: How far before the loading peak the heel-strike rise is searched in walking (s): the loading
#: response lasts ~10-12 % of a ~1.1 s stride.
WALK_RISE_S = 0.15
#: Fractions of the rise amplitude whose crossings define the rising flank: above the noise and
#: the pre-landing motion, below the impact peak.
RISE_LEVELS = (0.2, 0.3, 0.4, 0.5)
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
    None. ``rate_hz``: sampling rate (>= 50 Hz). Positions are float sample indices into the
    input. Segments shorter than three longest steps (4.5 s) or with non-finite accelerations
    give no events; a non-finite angular rate is ignored. Raises :class:`ImuHipError` for arrays
    of the wrong shape.
    """
    acc = np.asarray(acc_body_mps2, dtype=float)
    gyr = None if gyr_body_rads is None else np.asarray(gyr_body_rads, dtype=float)
    if acc.ndim != 2 or acc.shape[1] != 3 or (gyr is not None and gyr.shape != acc.shape):
        raise ImuHipError(f"detect_sacral_events: expected (n, 3) acceleration and angular rate "
                          f"of the same shape, got {acc.shape} and "
                          f"{None if gyr is None else gyr.shape}")
    n = acc.shape[0]
    if n < int(3 * MAX_STEP_S * rate_hz) or not np.all(np.isfinite(acc)):
        return _empty()
    if gyr is not None and not np.all(np.isfinite(gyr)):
        gyr = None
    az = _lowpass(acc[:, 2] / G, EVENT_LOWPASS_HZ, rate_hz)
    s = np.maximum(az, 0.0)
    peaks = _find_humps(acc[:, 2] / G, rate_hz)
    if peaks.size == 0:
        return _empty()
    left, right = _troughs(az, peaks, rate_hz)
    daz = np.gradient(az)
    ic = np.full(peaks.size, np.nan)
    to = np.full(peaks.size, np.nan)
    running = az[left] < FLIGHT_G
    for k in range(peaks.size):
        tr0, tr1 = int(left[k]), int(right[k])
        top = tr0 + int(np.argmax(s[tr0 : tr1 + 1]))
        if running[k]:  # the trough is a flight phase seen in the data
            ic[k] = _ic_running(s, tr0, top)
            if tr1 < n - 1:
                to[k] = _toe_off_running(s, top, tr1)
        elif tr0 > 0:  # (a trough at sample 0 may be the data starting inside the rise)
            ic[k] = _ic_walking(daz, tr0, top, rate_hz)
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


def _lowpass(x: np.ndarray, cutoff_hz: float, rate_hz: float, order: int = 4) -> np.ndarray:
    """Zero-phase Butterworth low-pass along axis 0 (cut-off capped at 0.4 x the rate)."""
    wn = min(cutoff_hz, 0.4 * rate_hz) / (0.5 * rate_hz)
    return sosfiltfilt(butter(order, wn, output="sos"), x, axis=0)


def _crossing(x: np.ndarray, level: float, i0: int, i1: int, rising: bool, last: bool) -> float:
    """Sub-sample index where ``x`` crosses ``level`` within ``[i0, i1]``, the first or the
    ``last`` such crossing; NaN if there is none."""
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


def _vertex(y: np.ndarray) -> float:
    """Offset (samples, within +-0.5) of the vertex of the parabola through three samples."""
    den = y[0] - 2.0 * y[1] + y[2]
    return float(np.clip(0.5 * (y[0] - y[2]) / den, -0.5, 0.5)) if den != 0 else 0.0


# --------------------------------------------------------------------------- steps


def _find_humps(az_g: np.ndarray, rate_hz: float) -> np.ndarray:
    """Sample indices of the step humps: peaks of the low-passed vertical acceleration that are
    similar to a neighbouring hump, periodic and regular."""
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
    peaks = peaks[similar & (_periodicity(u, peaks, rate_hz) >= MIN_PERIODICITY)]
    for _ in range(2):  # dropping an irregular hump can make its neighbours irregular
        if peaks.size < 3:
            return np.zeros(0, int)
        peaks = peaks[_regular(peaks, rate_hz)]
    return peaks


def _periodicity(u: np.ndarray, centres: np.ndarray, rate_hz: float) -> np.ndarray:
    """For each centre, the largest over lags L in MIN_STEP_S..MAX_STEP_S of min(r(L), r(2 L)),
    r being the normalised autocorrelation of ``u`` within +-LOCAL_HALF_S. Gait repeats over
    several cycles, so a lag and its double both correlate; noise that matches itself at one lag
    by chance does not also match at twice that lag."""
    step = max(1, int(rate_hz // 50))  # u is smooth (5 Hz): 50 Hz is plenty
    ud = u[::step]
    fs = rate_hz / step
    half = int(round(LOCAL_HALF_S * fs))
    lag0 = max(1, int(round(MIN_STEP_S * fs)))
    lag1 = int(round(MAX_STEP_S * fs))
    min_overlap = int(round(1.0 * fs))
    out = np.zeros(centres.shape[0])
    for j, c in enumerate(centres // step):
        w = ud[max(0, c - half) : c + half + 1]
        w = w - w.mean()
        top = min(2 * lag1, w.shape[0] - min_overlap)
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
            out[j] = float(np.max(np.minimum(r[lags], r[2 * lags])))
    return out


def _regular(peaks: np.ndarray, rate_hz: float) -> np.ndarray:
    """True for humps with two consecutive plausible step intervals (before and after, or both
    on one side) that agree within a factor 1.5."""
    n = peaks.shape[0]
    ok = np.zeros(n, bool)
    d = np.diff(peaks) / rate_hz
    plausible = (d >= MIN_STEP_S) & (d <= MAX_STEP_S)
    for k in range(n):
        for i in (k - 1, k - 2, k):  # interval pairs (i, i + 1) touching hump k
            if 0 <= i and i + 1 < d.size and plausible[i] and plausible[i + 1]:
                if max(d[i], d[i + 1]) / min(d[i], d[i + 1]) <= 1.5:
                    ok[k] = True
                    break
    return ok


def _troughs(az: np.ndarray, peaks: np.ndarray, rate_hz: float) -> tuple[np.ndarray, np.ndarray]:
    """Each hump's lowest point before and after it, searched up to the neighbouring hump and at
    most one longest step away (humps further apart share nothing)."""
    n = az.shape[0]
    lim = int(MAX_STEP_S * rate_hz)
    prev_pk = np.concatenate(([-lim], peaks[:-1]))
    next_pk = np.concatenate((peaks[1:], [n - 1 + lim]))
    left = np.zeros(peaks.size, int)
    right = np.zeros(peaks.size, int)
    for k, p in enumerate(peaks):
        a = max(0, prev_pk[k], p - lim)
        b = min(n - 1, next_pk[k], p + lim)
        left[k] = a + int(np.argmin(az[a : p + 1]))
        right[k] = p + int(np.argmin(az[p : b + 1]))
    return left, right


def _ic_running(s: np.ndarray, trough: int, top: int) -> float:
    """Initial contact of a running step: the line through the crossings of RISE_LEVELS of the
    rise (from its lowest point after ``trough`` to the contact's peak ``top``), extrapolated
    back to that lowest point. NaN unless the whole lower half of the rise is in the data."""
    base = float(np.min(s[trough : top + 1]))
    amp = float(s[top]) - base
    if amp <= 0:
        return float("nan")
    hi = base + RISE_LEVELS[-1] * amp
    k_hi = trough + int(np.argmax(s[trough : top + 1] >= hi))
    if k_hi == trough:
        return float("nan")
    lv = np.asarray(RISE_LEVELS)
    t = np.array([_crossing(s, base + f * amp, trough, k_hi, rising=True, last=True) for f in lv])
    if not np.all(np.isfinite(t)):
        return float("nan")
    _, icpt = np.polyfit(lv, t, 1)  # time as a function of the level; level 0 is the base
    return float(icpt)


def _ic_walking(daz: np.ndarray, trough: int, top: int, rate_hz: float) -> float:
    """Initial contact of a walking step: the steepest rise of the vertical acceleration (slope
    ``daz``) in the WALK_RISE_S before the loading peak ``top``, to a sub-sample."""
    lo = max(trough, top - int(WALK_RISE_S * rate_hz))
    if top - lo < 2:
        return float("nan")
    j = lo + int(np.argmax(daz[lo:top]))
    return j + _vertex(daz[j - 1 : j + 2]) if 0 < j < daz.shape[0] - 1 else float(j)


def _toe_off_running(s: np.ndarray, top: int, end: int) -> float:
    """Toe-off of a running contact: the last fall of ``s`` through FLIGHT_G between the
    contact's peak ``top`` and the following trough ``end`` (NaN when not in the data).

    With no foot on the ground the body is in free fall and the sacrum reads only its motion
    relative to the centre of mass: pelvic pitch of ~5 deg at ~3 Hz, ~0.1 m from the hip axis,
    gives r * alpha of 0.15-0.3 g. Only a support force lifts the signal above that band, so the
    contact is taken to end where the signal falls back into it. The true toe-off lies between
    the end of the main descent and the return to 0 g; on the force-treadmill data this band edge
    is within +-20 ms of it depending on speed and slope (see the benchmark), the largest error of
    this detector.
    """
    return _crossing(s, FLIGHT_G, top, end, rising=False, last=True)


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
    for j, (sig, sign, share, applies) in enumerate(kinds):
        for k in np.flatnonzero(applies & np.isfinite(step)):
            a = int(round(ic[k]))
            if a < n - 1:
                stop = min(n, a + max(2, int(share * step[k])))
                out[k, j] = sign * float(np.mean(sig[a:stop]))
    return out


def _alternation(votes: np.ndarray, tests: int = 1) -> float:
    """+1 (right) or -1 (left) when alternating votes are convincing, else 0: at least
    SIDE_MIN_AGREEMENT of them share the sign of their sum, their mean differs from 0 (t test,
    p <= SIDE_MAX_P / ``tests``, Bonferroni for the kinds tested; two degrees of freedom are
    taken by the detrending) and it is at least SIDE_MIN_EFFECT standard deviations."""
    total = float(np.sum(votes))
    if total == 0.0 or votes.size < max(MIN_BOUT_CONTACTS, 5):
        return 0.0
    spread = float(np.std(votes, ddof=1))
    effect = abs(total / votes.size) / spread if spread > 0 else np.inf
    p_value = 2.0 * float(student_t.sf(effect * np.sqrt(votes.size), df=votes.size - 3))
    agree = float(np.mean(np.sign(votes) == np.sign(total)))
    if (agree >= SIDE_MIN_AGREEMENT and p_value <= SIDE_MAX_P / tests
            and effect >= SIDE_MIN_EFFECT):
        return float(np.sign(total))
    return 0.0


def _votes(ev: np.ndarray, ic: np.ndarray, rows: np.ndarray, k: int, rate_hz: float) -> np.ndarray:
    """Alternating votes of the contacts ``rows`` for contact ``k`` from evidence ``ev`` (rows x
    kinds): each kind detrended over the rows (offset and linear drift: a tilted sensor, a lean
    that changes while speeding up, a turn; the alternation is orthogonal to both), divided by
    its standard deviation, times +1/-1 alternately. Kinds without scatter are left out."""
    design = np.column_stack([np.ones(rows.size), (ic[rows] - ic[k]) / rate_hz])
    coef, *_ = np.linalg.lstsq(design, ev, rcond=None)
    x = ev - design @ coef
    sd = x.std(axis=0)
    used = sd > 0
    return x[:, used] / sd[used] * np.where((rows - k) % 2 == 0, 1.0, -1.0)[:, None]


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
    half = SIDE_HALF_S * rate_hz
    finite = np.isfinite(ev)
    for k in range(ic.size):
        near = (bout == bout[k]) & (np.abs(ic - ic[k]) <= half)
        verdicts = []
        kinds = np.flatnonzero(finite[k])
        tests = kinds.size + (kinds.size > 1)  # each kind, and their sum
        for j in kinds:
            rows = np.flatnonzero(near & finite[:, j])
            if rows.size >= MIN_BOUT_CONTACTS:
                v = _votes(ev[rows][:, [j]], ic, rows, k, rate_hz)
                verdicts.append(_alternation(v[:, 0], tests) if v.shape[1] else 0.0)
        named = [v for v in verdicts if v != 0.0]
        verdict = 0.0
        if named:
            verdict = named[0] if all(v == named[0] for v in named) else 0.0
        elif len(verdicts) > 1:
            rows = np.flatnonzero(near & np.all(finite[:, kinds], axis=1))
            if rows.size >= MIN_BOUT_CONTACTS:
                v = _votes(ev[rows][:, kinds], ic, rows, k, rate_hz)
                verdict = _alternation(v.sum(axis=1), tests) if v.shape[1] else 0.0
        if verdict:
            side[k] = "right" if verdict > 0 else "left"
    return side
