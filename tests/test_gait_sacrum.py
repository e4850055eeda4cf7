"""Sacral gait events on synthetic signals with known contacts, and on the real trial-3 excerpt."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import butter, sosfiltfilt

from imu_hip.gait import sacrum
from imu_hip.gait.sacrum import FLIGHT_G, SacralEvents, detect_sacral_events
from imu_hip.metrics.grf import active_peak_g, loading_rate_bw_s, vgrf_peak_bw
from imu_hip.model import G, ImuHipError
from imu_hip.validation import match_events

DATA = Path(__file__).parent / "data" / "sacrum_running_grf"


# --------------------------------------------------------------------------- synthetic gait


def _half_sine(t: np.ndarray, start: float, dur: float) -> np.ndarray:
    tau = (t - start) / dur
    return np.where((tau >= 0) & (tau <= 1), np.sin(np.pi * np.clip(tau, 0, 1)), 0.0)


def running(rate=200.0, dur=20.0, cadence=170.0, tc=0.24, noise_g=0.03, seed=0, ml_g=0.0,
            gyro_rads=0.0, t0=0.6, impact_bw=0.6):
    """Vertical acceleration of a runner from a half-sine force per contact (impulse = body
    weight x step time, so the stride mean is 1 g) plus an impact bump; flight reads 0 g.
    Contacts alternate right, left, ... Returns acc (n, 3) m/s², gyro or None, truth dict."""
    rng = np.random.default_rng(seed)
    n = int(dur * rate)
    t = np.arange(n) / rate
    step = 60.0 / cadence
    ic = np.arange(t0, dur - 0.4, step)
    ic = ic + rng.normal(0.0, 0.003, ic.size)
    f = np.zeros(n)
    side = np.where(np.arange(ic.size) % 2 == 0, 1.0, -1.0)  # +1 right
    ml = np.zeros(n)
    wx = np.zeros(n)
    wz = np.zeros(n)
    for k, a in enumerate(ic):
        f += 0.5 * np.pi * step / tc * _half_sine(t, a, tc)
        if impact_bw:
            f += impact_bw * np.exp(-0.5 * ((t - a - 0.025) / 0.008) ** 2)
        ml += side[k] * ml_g * _half_sine(t, a, tc)
        wx += -side[k] * gyro_rads * _half_sine(t, a, 0.4 * step)
        wz += -side[k] * gyro_rads * _half_sine(t, a, step)
    acc = np.zeros((n, 3))
    acc[:, 2] = f * G
    acc[:, 1] = ml * G
    acc += rng.normal(0.0, noise_g * G, acc.shape)
    gyr = None
    if gyro_rads:
        gyr = np.column_stack([wx, rng.normal(0, 0.05, n), wz]) + rng.normal(0, 0.05, (n, 3))
    truth = {"ic": ic * rate, "to": (ic + tc) * rate, "side": np.where(side > 0, "right", "left")}
    return acc, gyr, truth


def walking(rate=100.0, dur=30.0, cadence=110.0, noise_g=0.01, seed=0, ml_g=0.0):
    """Two legs with a double-hump force each (sin(pi u) + 0.25 sin(3 pi u) over stance), stance
    62 % of the stride (double support), scaled so the stride mean is 1 g. Right leg first."""
    rng = np.random.default_rng(seed)
    n = int(dur * rate)
    t = np.arange(n) / rate
    step = 60.0 / cadence
    stance = 0.62 * 2 * step
    ic = np.arange(0.7, dur + 2.0, step)  # legs keep walking past the end of the data
    shape_mean = (2 / np.pi + 0.25 * 2 / (3 * np.pi)) * stance / (2 * step)  # per leg per stride
    f = np.zeros(n)
    ml = np.zeros(n)
    for k, a in enumerate(ic):
        u = np.clip((t - a) / stance, 0, 1)
        on = (t >= a) & (t <= a + stance)
        f += np.where(on, np.sin(np.pi * u) + 0.25 * np.sin(3 * np.pi * u), 0.0)
        ml += (1.0 if k % 2 == 0 else -1.0) * ml_g * _half_sine(t, a, step)
    f = f / (2 * shape_mean)
    f[t < ic[0] + stance] = np.maximum(f[t < ic[0] + stance], 1.0)  # standing before the start
    acc = np.zeros((n, 3))
    acc[:, 2] = f * G
    acc[:, 1] = ml * G
    acc += rng.normal(0.0, noise_g * G, acc.shape)
    inside = ic < dur
    truth = {"ic": ic[inside] * rate,
             "side": np.where(np.arange(ic.size) % 2 == 0, "right", "left")[inside]}
    return acc, truth


def _inner(truth_ic: np.ndarray, rate: float, n: int, margin_s: float = 0.6) -> np.ndarray:
    return (truth_ic > margin_s * rate) & (truth_ic < n - margin_s * rate)


def _match(ev: SacralEvents, truth_ic: np.ndarray, rate: float):
    return match_events(ev.ic / rate, truth_ic / rate, 0.1)


# --------------------------------------------------------------------------- running


@pytest.mark.parametrize("rate", [100.0, 200.0, 500.0])
def test_running_contacts_found_with_accurate_ic_and_to(rate):
    acc, _, truth = running(rate=rate, noise_g=0.05)
    ev = detect_sacral_events(acc, None, rate)
    i_e, i_r = _match(ev, truth["ic"], rate)
    inner = _inner(truth["ic"], rate, acc.shape[0])
    assert set(np.flatnonzero(inner)) <= set(i_r)  # every full contact found
    assert ev.ic.size == i_e.size  # no extra contact, never two in one contact
    ic_err_ms = 1000 * (ev.ic[i_e] - truth["ic"][i_r]) / rate
    to_err_ms = 1000 * (ev.to[i_e] - truth["to"][i_r]) / rate
    assert np.mean(np.abs(ic_err_ms)) < 4.0
    assert np.nanmean(np.abs(to_err_ms)) < 15.0
    assert np.all(ev.gait == "run")
    assert np.all(ev.bout == 0)


def test_running_at_the_lowest_accepted_rate():
    """50 Hz (the lowest rate a file may have): every contact, no extra one, initial contact
    within half a sample on average."""
    rate = 50.0
    acc, _, truth = running(rate=rate, noise_g=0.05)
    ev = detect_sacral_events(acc, None, rate)
    i_e, i_r = _match(ev, truth["ic"], rate)
    assert set(np.flatnonzero(_inner(truth["ic"], rate, acc.shape[0]))) <= set(i_r)
    assert ev.ic.size == i_e.size
    assert np.mean(np.abs(ev.ic[i_e] - truth["ic"][i_r])) / rate < 0.5 / rate
    assert np.nanmean(np.abs(ev.to[i_e] - truth["to"][i_r])) / rate < 0.015


def test_a_rise_reaching_half_its_height_in_one_sample_is_timed():
    """The tangent rule itself, on a grid where the rise from the trough (0 g) passes half its
    height between two samples: it is still extrapolated from the steepest slope (it was NaN)."""
    s = np.array([0.0, 0.0, 0.0, 0.0, 1.6, 2.4, 2.5, 2.2, 1.5, 0.5, 0.0, 0.0])
    ic = sacrum._ic_running(s, np.array([3]), np.array([6]))
    assert np.isfinite(ic[0]) and 2.5 <= ic[0] < 4.0  # (coarse slopes extrapolate early)


@pytest.mark.parametrize("spike_g", [150.0, -40.0, 16.0])
def test_one_corrupted_sample_changes_no_contact(spike_g):
    """A single corrupted sample (a glitch or bit flip of tens of g) in flight or in stance:
    every contact as without it (within 1 ms), none extra, no zero step time."""
    rate = 500.0
    acc, _, truth = running(rate=rate, noise_g=0.03)
    clean = detect_sacral_events(acc, None, rate)
    for at_s in (5.02, 5.2):
        hit = acc.copy()
        hit[int(at_s * rate), 2] = spike_g * G
        ev = detect_sacral_events(hit, None, rate)
        assert ev.ic.size == clean.ic.size
        np.testing.assert_allclose(ev.ic, clean.ic, atol=0.001 * rate)
        assert np.all(np.diff(ev.ic) > 0.2 * rate)


def test_a_bouts_last_contact_ends_at_its_own_toe_off():
    """A run that stops with one stray, harder landing 0.75 s after its last regular contact
    (not accepted as gait), then standing: the last contact's toe-off is its own fall into
    flight, not the stray contact's (that gave a 1.3 s contact)."""
    rate, step, tc = 500.0, 60.0 / 170.0, 0.24
    n = int(14 * rate)
    t = np.arange(n) / rate
    ic = np.arange(0.6, 10.0, step)
    f = np.zeros(n)
    for a in ic:
        f += 0.5 * np.pi * step / tc * _half_sine(t, a, tc)
    stray = ic[-1] + 0.75
    f += 1.4 * 0.5 * np.pi * step / tc * _half_sine(t, stray, tc)
    f -= 0.3 * _half_sine(t, stray + tc, 0.1)  # it lands in a deeper flight trough
    f[t > stray + tc + 0.3] = 1.0  # then standing
    acc = np.zeros((n, 3))
    acc[:, 2] = f * G
    acc += np.random.default_rng(0).normal(0.0, 0.02 * G, acc.shape)
    ev = detect_sacral_events(acc, None, rate)
    assert ev.ic.size >= ic.size - 2 and ev.ic[-1] / rate < stray - 0.2
    contact = (ev.to - ev.ic) / rate
    assert np.all(np.abs(contact - tc) < 0.02)


def test_a_dip_after_the_impact_below_the_flight_level_is_not_the_trough():
    """A jogger with a short flight (40 ms) whose soft tissue rings after the impact, so the
    sacrum dips below its flight reading 45 ms into the contact: the contact still starts at the
    end of the flight, not at the rise out of the dip."""
    rate = 200.0
    acc, _, truth = running(rate=rate, cadence=160.0, tc=0.335, noise_g=0.02, impact_bw=1.8)
    t = np.arange(acc.shape[0]) / rate
    for a in truth["ic"] / rate:
        acc[:, 2] -= 2.0 * G * np.exp(-0.5 * ((t - a - 0.05) / 0.006) ** 2)
    az = sacrum._lowpass(acc[:, 2] / G, sacrum.EVENT_LOWPASS_HZ, rate)
    k = truth["ic"].astype(int)[2:-2]
    flight = np.array([az[i - 20 : i].min() for i in k])
    dip = np.array([az[i + 5 : i + 20].min() for i in k])
    assert np.all(dip < flight)  # the dip reads below the flight
    ev = detect_sacral_events(acc, None, rate)
    i_e, i_r = _match(ev, truth["ic"], rate)
    # (the first two contacts give no hump with this shape at the data's start, either way)
    assert set(np.flatnonzero(_inner(truth["ic"], rate, acc.shape[0], 1.2))) <= set(i_r)
    assert np.all(ev.gait[i_e] == "run")
    err_ms = 1000 * (ev.ic[i_e] - truth["ic"][i_r]) / rate
    assert abs(np.mean(err_ms)) < 8.0 and np.max(np.abs(err_ms)) < 15.0
    # the first contact of a segment (here: after a loss of data at 12.5 s) has no accepted
    # contact before it to bound its trough
    after = detect_sacral_events(acc[t >= 12.5], None, rate)
    first = after.ic[0] / rate + 12.5
    k = np.argmin(np.abs(truth["ic"] / rate - first))
    assert abs(first - truth["ic"][k] / rate) < 0.010


@pytest.mark.parametrize("rate", [100.0, 200.0, 500.0])
def test_running_toe_off_is_the_fall_through_the_flight_band(rate):
    """The toe-off rule's definition, in both directions: where the force's half sine of
    amplitude A (BW) falls through FLIGHT_G, tc asin(FLIGHT_G / A) / pi before its end (the
    synthetic sacrum follows the force exactly, so this is not the force-plate toe-off)."""
    step, tc = 60.0 / 170.0, 0.24
    acc, _, truth = running(rate=rate, noise_g=0.05, cadence=170.0, tc=tc)
    ev = detect_sacral_events(acc, None, rate)
    i_e, i_r = _match(ev, truth["ic"], rate)
    amp = 0.5 * np.pi * step / tc
    to_def = truth["ic"] + rate * tc * (1.0 - np.arcsin(FLIGHT_G / amp) / np.pi)
    err_ms = 1000 * (ev.to[i_e] - to_def[i_r]) / rate
    assert abs(np.nanmean(err_ms)) < 1.5  # no bias either way
    assert np.nanmax(np.abs(err_ms)) < 5.0


@settings(max_examples=12, deadline=None)
@given(
    cadence=st.floats(150.0, 200.0),
    tc=st.floats(0.17, 0.28),
    rate=st.sampled_from([100.0, 250.0]),
    seed=st.integers(0, 10_000),
)
def test_running_property_ic_within_tolerance(cadence, tc, rate, seed):
    if tc > 0.8 * 60.0 / cadence:  # keep a flight phase
        tc = 0.8 * 60.0 / cadence
    acc, _, truth = running(rate=rate, dur=12.0, cadence=cadence, tc=tc, seed=seed)
    ev = detect_sacral_events(acc, None, rate)
    i_e, i_r = _match(ev, truth["ic"], rate)
    assert ev.ic.size == i_e.size
    assert i_r.size >= np.sum(_inner(truth["ic"], rate, acc.shape[0]))
    err_s = np.abs(ev.ic[i_e] - truth["ic"][i_r]) / rate
    assert np.mean(err_s) < 0.006 and np.max(err_s) < 0.012


def _running_shaped(rate=400.0, dur=12.0, step=0.375, tc=0.3, bump_g=0.0, bump_s=0.04,
                    flight_bump_g=0.0, seed=0):
    """Half-sine contacts (impulse = body weight x step time) with a raised-cosine transient of
    ``bump_g`` starting at contact (an impact that peaks below half the rise) and, optionally, a
    25 ms bump of ``flight_bump_g`` starting 5 ms after toe-off (trunk motion in flight)."""
    rng = np.random.default_rng(seed)
    n = int(dur * rate)
    t = np.arange(n) / rate
    ic = np.arange(0.6, dur - 0.5, step)
    ic = ic + rng.normal(0.0, 0.002, ic.size)
    f = np.zeros(n)
    for a in ic:
        f += 0.5 * np.pi * step / tc * _half_sine(t, a, tc)
        for start, width, height in ((a, bump_s, bump_g), (a + tc + 0.005, 0.025, flight_bump_g)):
            u = (t - start) / width
            f += np.where((u >= 0) & (u <= 1), height * 0.5 * (1 - np.cos(2 * np.pi * u)), 0.0)
    acc = np.zeros((n, 3))
    acc[:, 2] = f * G
    acc += rng.normal(0.0, 0.01 * G, acc.shape)
    return acc, ic * rate, (ic + tc) * rate


@pytest.mark.parametrize(("bump_g", "bump_s"), [(0.0, 0.04), (0.3, 0.04), (0.5, 0.03), (0.6, 0.04)])
def test_ic_with_an_impact_shoulder_below_half_the_rise(bump_g, bump_s):
    """A small impact transient bends the rise (or peaks and dips) below half of it; the edge of
    the rise must still point back to the contact (a line through crossings up to half the rise
    was 17-29 ms early here)."""
    rate = 400.0
    acc, ic, _ = _running_shaped(rate, bump_g=bump_g, bump_s=bump_s)
    ev = detect_sacral_events(acc, None, rate)
    i_e, i_r = match_events(ev.ic / rate, ic / rate, 0.1)
    assert i_r.size >= ic.size - 2
    err_ms = 1000 * (ev.ic[i_e] - ic[i_r]) / rate
    assert np.max(np.abs(err_ms)) < 8.0 and np.std(err_ms) < 1.0


def test_toe_off_ignores_trunk_motion_after_it():
    """A bump above the free-fall band just after toe-off is trunk motion in flight, not
    contact: the toe-off must not move to its end."""
    rate = 400.0
    out = []
    for flight_bump in (0.0, 0.6):
        acc, ic, to = _running_shaped(rate, flight_bump_g=flight_bump)
        ev = detect_sacral_events(acc, None, rate)
        i_e, i_r = match_events(ev.ic / rate, ic / rate, 0.1)
        assert i_r.size >= ic.size - 2
        out.append(1000 * (ev.to[i_e] - to[i_r]) / rate)
    assert abs(np.nanmean(out[1]) - np.nanmean(out[0])) < 2.0  # the last fall was +37 ms later
    assert np.nanstd(out[1]) < 1.0


def _running_tails(rate=400.0, dur=16.0, step=0.36, tc=(0.30, 0.27), tail_g=0.4, seed=0):
    """Half-sine contacts whose duration alternates between the feet (``tc``: right, left),
    each ending in an 80 ms raised-cosine bump of random height (0 to ``tail_g``) centred on its
    end: the trunk's own motion, which makes the last part of the fall a shallow tail of a
    different level at each step (as on the force-treadmill trials). Returns acc (n, 3) m/s²,
    contacts and toe-offs (samples)."""
    rng = np.random.default_rng(seed)
    n = int(dur * rate)
    t = np.arange(n) / rate
    ic = np.arange(0.6, dur - 0.5, step)
    ic = ic + rng.normal(0.0, 0.002, ic.size)
    dur_k = np.where(np.arange(ic.size) % 2 == 0, tc[0], tc[1])
    f = np.zeros(n)
    for a, d, h in zip(ic, dur_k, rng.uniform(0.0, tail_g, ic.size), strict=True):
        f += 0.5 * np.pi * step / d * _half_sine(t, a, d)
        u = (t - (a + d - 0.04)) / 0.08
        f += np.where((u >= 0) & (u <= 1), h * 0.5 * (1 - np.cos(2 * np.pi * u)), 0.0)
    acc = np.zeros((n, 3))
    acc[:, 2] = f * G
    acc += rng.normal(0.0, 0.01 * G, acc.shape)
    return acc, ic * rate, (ic + dur_k) * rate


@pytest.mark.parametrize("seed", range(3))
def test_toe_off_timed_over_the_fall_keeps_each_foot_and_loses_the_tail_noise(seed):
    """A shallow tail of changing level at the end of each contact moves the single FLIGHT_G
    crossing from step to step; timing the whole fall against the same foot's typical fall
    must scatter less and keep the two feet's different contact times."""
    rate = 400.0
    acc, ic, to = _running_tails(rate, seed=seed)
    ev = detect_sacral_events(acc, None, rate)
    i_e, i_r = match_events(ev.ic / rate, ic / rate, 0.1)
    assert i_r.size >= ic.size - 2
    err = 1000 * (ev.to[i_e] - to[i_r]) / rate
    # the single crossing, the rule before: the first fall through FLIGHT_G after the peak
    s = np.maximum(sacrum._lowpass(acc[:, 2] / G, sacrum.EVENT_LOWPASS_HZ, rate), 0.0)
    one = np.array([sacrum._crossing(s, sacrum.FLIGHT_G, int(a + 0.1 * rate),
                                     int(a + 0.36 * rate), rising=False, last=False)
                    for a in ev.ic[i_e]])
    err_one = 1000 * (one - to[i_r]) / rate
    right = i_r % 2 == 0  # truth: right contacts last 30 ms longer

    def scatter(e: np.ndarray) -> float:  # within each foot
        return float(np.sqrt(0.5 * (np.nanvar(e[right]) + np.nanvar(e[~right]))))

    assert np.isfinite(err).sum() >= i_r.size - 2
    assert scatter(err) < 0.8 * scatter(err_one)
    # the left/right difference the single crossing measures (the tails bend it below the true
    # 30 ms) is kept: pooling both feet's falls would halve it
    ct = 1000 * (ev.to - ev.ic)[i_e] / rate
    ct_one = 1000 * (one - ev.ic[i_e]) / rate
    diff = np.nanmean(ct[right]) - np.nanmean(ct[~right])
    assert diff > 20.0
    assert diff == pytest.approx(np.nanmean(ct_one[right]) - np.nanmean(ct_one[~right]), abs=3.0)


def test_each_foot_keeps_its_own_crossing_when_it_is_alone(monkeypatch):
    """Two contacts of opposite feet (one step apart) with differently shaped falls: neither is
    the other's foot, so each keeps its own first fall through FLIGHT_G."""
    rate = 400.0
    acc, ic, _ = _running_tails(rate, dur=3.0, tail_g=0.0, seed=4)
    s = np.maximum(sacrum._lowpass(acc[:, 2] / G, sacrum.EVENT_LOWPASS_HZ, rate), 0.0)
    k = np.arange(1, 3)
    s[int(ic[2] + 0.2 * rate) : int(ic[3])] *= 0.6  # the second contact falls differently
    hump = (ic[k] + 0.15 * rate).astype(int)
    end = ic[k + 1].astype(int)
    got = sacrum._toe_off_running(s, hump, hump, end, rate)
    active = sacrum._seg_argext(s, hump, end, largest=True)
    want = [sacrum._crossing(s, sacrum.FLIGHT_G, int(a), int(e), False, False)
            for a, e in zip(active, end, strict=True)]
    np.testing.assert_allclose(got, want, atol=1e-9)
    # taken for the same foot, the two would be pulled towards each other
    monkeypatch.setattr(sacrum, "_same_foot",
                        lambda hump, rows, near, rate_hz: np.ones(rows.shape, bool))
    mixed = sacrum._toe_off_running(s, hump, hump, end, rate)
    assert np.max(np.abs(mixed - np.asarray(want))) > 1.0


def test_a_missed_hump_does_not_mix_the_feet():
    """Same foot is counted in time: dropping one contact from the middle changes no toe-off of
    the other foot (counting every other detected hump would swap the feet after it)."""
    rate = 400.0
    acc, ic, _ = _running_tails(rate, dur=8.0, seed=2)
    s = np.maximum(sacrum._lowpass(acc[:, 2] / G, sacrum.EVENT_LOWPASS_HZ, rate), 0.0)
    k = np.arange(1, ic.size - 1)
    hump = (ic[k] + 0.15 * rate).astype(int)
    end = ic[k + 1].astype(int)
    full = sacrum._toe_off_running(s, hump, hump, end, rate)
    drop = k.size // 2
    keep = np.arange(k.size) != drop
    part = sacrum._toe_off_running(s, hump[keep], hump[keep], end[keep], rate)
    other = (np.arange(k.size) % 2) != (drop % 2)
    np.testing.assert_allclose(part[other[keep]], full[other], atol=1e-9)
    assert np.any(np.abs(part - full[keep]) > 1e-6)  # (the dropped foot's pool did change)


def test_walking_is_walk_with_ic_near_heel_strike():
    rate = 100.0
    acc, truth = walking(rate=rate)
    ev = detect_sacral_events(acc, None, rate)
    i_e, i_r = _match(ev, truth["ic"], rate)
    inner = _inner(truth["ic"], rate, acc.shape[0], margin_s=1.5)
    assert set(np.flatnonzero(inner)) <= set(i_r)
    assert ev.ic.size == i_e.size
    assert np.all(ev.gait == "walk")
    assert np.all(np.isnan(ev.to))  # walking toe-off is not estimated
    # the steepest point of a smoothed kink lies a fraction of the 20 Hz kernel after the kink
    assert np.mean(np.abs(ev.ic[i_e] - truth["ic"][i_r])) / rate < 0.03


def test_run_and_walk_in_one_recording_are_told_apart():
    rate = 100.0
    w, wt = walking(rate=rate, dur=15.0)
    r, _, rt = running(rate=rate, dur=15.0, impact_bw=0.0)
    acc = np.vstack([w, r])
    ev = detect_sacral_events(acc, None, rate)
    t = ev.ic / rate
    assert np.all(ev.gait[t < 13.0] == "walk")
    assert np.all(ev.gait[t > 17.0] == "run")
    assert np.sum(t < 13.0) >= 15 and np.sum(t > 17.0) >= 30


# --------------------------------------------------------------------------- side


def _side_accuracy(ev: SacralEvents, truth: dict, rate: float) -> tuple[float, float]:
    i_e, i_r = _match(ev, truth["ic"], rate)
    known = ev.side[i_e] != "unknown"
    labelled = float(np.mean(known))
    correct = float(np.mean(ev.side[i_e][known] == truth["side"][i_r][known])) if known.any() else 0
    return labelled, correct


def test_side_from_gyro_only():
    rate = 200.0
    acc, gyr, truth = running(rate=rate, gyro_rads=0.6)
    acc[:, 1] = 0.0  # biaxial accelerometer + gyroscope
    labelled, correct = _side_accuracy(detect_sacral_events(acc, gyr, rate), truth, rate)
    assert labelled > 0.9 and correct == 1.0


def test_running_side_ignores_mediolateral_acceleration():
    """In running the pelvis-frame y axis reads gravity x sin(obliquity) against the push, so its
    sign is not trusted: without a gyroscope running sides stay unknown, and with one a
    mediolateral signal of either sign does not change the answer."""
    rate = 200.0
    for ml_g in (0.3, -0.3):
        acc, _, truth = running(rate=rate, ml_g=ml_g)
        ev = detect_sacral_events(acc, None, rate)
        assert ev.ic.size > 50 and np.all(ev.side == "unknown")
        acc, gyr, truth = running(rate=rate, ml_g=ml_g, gyro_rads=0.6)
        labelled, correct = _side_accuracy(detect_sacral_events(acc, gyr, rate), truth, rate)
        assert labelled > 0.9 and correct == 1.0


def test_side_in_walking_from_mediolateral_acceleration():
    rate = 100.0
    acc, truth = walking(rate=rate, ml_g=0.1)
    labelled, correct = _side_accuracy(detect_sacral_events(acc, None, rate), truth, rate)
    assert labelled > 0.8 and correct == 1.0


def test_side_unknown_without_evidence():
    rate = 100.0
    acc, truth = walking(rate=rate, ml_g=0.1)
    acc[:, 1] = 0.0
    ev = detect_sacral_events(acc, None, rate)
    assert ev.ic.size > 40 and np.all(ev.side == "unknown")
    # a mediolateral axis or a gyroscope with noise only is not evidence either
    for seed in range(3):
        acc2, _ = walking(rate=rate, seed=seed)
        gyr = np.random.default_rng(seed).normal(0.0, 0.1, acc2.shape)
        ev2 = detect_sacral_events(acc2, gyr, rate)
        assert np.mean(ev2.side == "unknown") > 0.9


# --------------------------------------------------------------------------- not gait


def _shaking(rate: float, dur: float, seed: int, amp_g: float) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(int(dur * rate), 3))
    x = sosfiltfilt(butter(4, [0.5, 8.0], btype="band", fs=rate, output="sos"), x, axis=0)
    x = x / x.std(axis=0) * amp_g * G
    x[:, 2] += G
    return x


def _irregular_jumps(rate: float, dur: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(dur * rate)
    t = np.arange(n) / rate
    f = np.ones(n)
    start = 1.0
    while start < dur - 2.0:
        flight = rng.uniform(0.15, 0.35)
        contact = rng.uniform(0.2, 0.45)
        f[(t >= start - flight) & (t < start)] = 0.0
        on = (t >= start) & (t <= start + contact)
        f[on] = 0.5 * np.pi * (contact + flight) / contact * _half_sine(t[on], start, contact)
        start += contact + rng.uniform(0.3, 1.8)
    acc = np.zeros((n, 3))
    acc[:, 2] = f * G
    return acc + rng.normal(0.0, 0.03 * G, acc.shape)


def test_no_steps_when_standing():
    rate = 100.0
    rng = np.random.default_rng(1)
    acc = np.tile([0.0, 0.0, G], (3000, 1)) + rng.normal(0, 0.01 * G, (3000, 3))
    gyr = rng.normal(0, 0.01, (3000, 3))
    assert detect_sacral_events(acc, gyr, rate).ic.size == 0


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("amp_g", [0.3, 1.0, 2.0])
def test_no_steps_when_shaking(seed, amp_g):
    assert detect_sacral_events(_shaking(100.0, 30.0, seed, amp_g), None, 100.0).ic.size == 0


@pytest.mark.parametrize("seed", range(6))
def test_no_steps_when_jumping_irregularly(seed):
    assert detect_sacral_events(_irregular_jumps(100.0, 30.0, seed), None, 100.0).ic.size == 0


def test_short_or_bad_input_gives_no_events():
    assert detect_sacral_events(np.zeros((10, 3)), None, 100.0).ic.size == 0
    acc, _, _ = running(rate=100.0, dur=10.0)
    acc[500, 2] = np.nan
    assert detect_sacral_events(acc, None, 100.0).ic.size == 0
    with pytest.raises(ImuHipError):
        detect_sacral_events(np.zeros((1000, 2)), None, 100.0)
    with pytest.raises(ImuHipError):
        detect_sacral_events(np.zeros((1000, 3)), np.zeros((999, 3)), 100.0)


# --------------------------------------------------------------------------- locality


def test_events_depend_only_on_nearby_samples():
    """The pipeline runs the detector on windows (core + CONTEXT_S each side) and keeps the
    events in the core: those must equal the events found on the whole signal."""
    rate = 100.0
    acc, gyr, _ = running(rate=rate, dur=40.0, gyro_rads=0.5, ml_g=0.2, seed=7)
    whole = detect_sacral_events(acc, gyr, rate)
    a, b = int(8 * rate), int(32 * rate)
    part = detect_sacral_events(acc[a:b], gyr[a:b], rate)
    core = ((8 + sacrum.CONTEXT_S) * rate, (32 - sacrum.CONTEXT_S) * rate)
    sel_w = (whole.ic >= core[0]) & (whole.ic < core[1])
    sel_p = (part.ic + a >= core[0]) & (part.ic + a < core[1])
    assert sel_w.sum() == sel_p.sum() > 30
    np.testing.assert_allclose(part.ic[sel_p] + a, whole.ic[sel_w], atol=1e-3)
    np.testing.assert_allclose(part.to[sel_p] + a, whole.to[sel_w], atol=1e-3)
    assert list(part.side[sel_p]) == list(whole.side[sel_w])
    assert list(part.gait[sel_p]) == list(whole.gait[sel_w])


# --------------------------------------------------------------------------- vGRF


def test_vgrf_sine_model_and_walking_nan():
    out = vgrf_peak_bw([0.25, 0.2, 0.3, np.nan, 0.4], [0.5, 0.3, 0.3, 0.3, 0.3],
                       gait=np.array(["run", "run", "walk", "run", "run"], dtype=object))
    assert out[0] == pytest.approx(np.pi)
    assert out[1] == pytest.approx(0.5 * np.pi * 1.5)
    assert np.isnan(out[2]) and np.isnan(out[3]) and np.isnan(out[4])  # walk, missing, tc > step
    both = vgrf_peak_bw(0.25, 0.5, active_peak=2.0)
    assert both == pytest.approx(0.5 * (np.pi + 2.0))
    assert vgrf_peak_bw(0.25, 0.5, active_peak=np.nan) == pytest.approx(np.pi)


def test_loading_rate_half_sine():
    lr = loading_rate_bw_s(2.5, 0.25)
    # the half sine reaches 80 % of 2.5 BW at t = 0.25 asin(0.8) / pi
    assert lr == pytest.approx(0.8 * 2.5 / (0.25 * np.arcsin(0.8) / np.pi))
    assert np.isnan(loading_rate_bw_s(2.5, 0.25, gait="walk"))


def test_active_peak_tracks_force_not_impact():
    rate = 500.0
    acc, _, truth = running(rate=rate, impact_bw=2.0, noise_g=0.0, tc=0.25, cadence=170)
    peak_true = 0.5 * np.pi * (60 / 170) / 0.25
    pk = active_peak_g(acc[:, 2], truth["ic"], truth["to"], rate)
    inner = _inner(truth["ic"], rate, acc.shape[0])
    assert np.all(np.abs(pk[inner] / peak_true - 1) < 0.1)
    raw = np.array([acc[int(a) : int(b), 2].max() / G
                    for a, b in zip(truth["ic"], truth["to"], strict=True)])
    assert np.all(raw[inner] > 1.15 * peak_true)  # the raw peak is the impact, not the force


# --------------------------------------------------------------------------- real excerpt


def _trial_03() -> tuple[np.ndarray, float, np.ndarray]:
    """The real excerpt: acceleration (n, 3) m/s², rate (Hz), reference contacts."""
    lines = (DATA / "trial_03_imu.csv").read_text().splitlines()
    imu = np.genfromtxt([ln for ln in lines if not ln.startswith("#")], delimiter=",", names=True)
    ref = np.genfromtxt(DATA / "trial_03_contacts.csv", delimiter=",", names=True)
    rate = 1.0 / np.median(np.diff(imu["time_s"]))
    acc = np.column_stack([imu["acc_x_g"], imu["acc_y_g"], imu["acc_z_g"]]) * G
    return acc, rate, ref


def test_real_trial_03_meets_running_targets():
    """Alcantara et al. 2022 trial 3 (Apache-2.0, see tests/data/.../ATTRIBUTION.md): biaxial
    sacral accelerometer vs force treadmill contacts."""
    acc, rate, ref = _trial_03()
    ev = detect_sacral_events(acc, None, rate)
    ic_s, to_s = ev.ic / rate, ev.to / rate
    i_e, i_r = match_events(ic_s, ref["t_on_s"], 0.1)
    assert i_r.size >= 0.99 * ref.size
    assert ev.ic.size - i_e.size <= 1  # at most the contact cut by the end of the file
    assert np.all(ev.gait == "run")
    ic_err = ic_s[i_e] - ref["t_on_s"][i_r]
    assert np.mean(np.abs(ic_err)) <= 0.010
    ct_err = (to_s - ic_s)[i_e] - ref["contact_time_s"][i_r]
    assert np.sqrt(np.nanmean(ct_err**2)) <= 0.015
    nxt = np.append(ic_s[1:], np.nan)
    st_est = (nxt - ic_s)[i_e]
    st_err = st_est - ref["step_time_to_next_s"][i_r]
    # Not issue 2's 3 ms target, which this trial misses (5.4 ms: its left/right initial-contact
    # offset, see the README); a guard that the step time does not get worse than that.
    assert np.nanmean(np.abs(st_err)) <= 0.007
    cad_err = 60 / np.nanmean(st_est) - 60 / np.nanmean(ref["step_time_to_next_s"])
    assert abs(cad_err) <= 0.5
    peak = active_peak_g(acc[:, 2], ev.ic, ev.to, rate)[i_e]
    vgrf = vgrf_peak_bw((to_s - ic_s)[i_e], st_est, gait=ev.gait[i_e], active_peak=peak)
    ok = np.isfinite(vgrf)
    mape = np.mean(np.abs(vgrf[ok] / ref["peak_grf_bw"][i_r][ok] - 1))
    assert ok.sum() >= ref.size - 2 and mape <= 0.08


@pytest.mark.parametrize("rate", [50.0, 100.0])
def test_real_trial_03_at_low_rates(rate):
    """The real excerpt resampled to a wearable's rate (anti-aliased, negatives clipped again as
    the data set's sensor does). Its force rises from flight to half its peak in ~15 ms, so at
    50 Hz the rise is one sample: every contact must still be found, none extra, initial contact
    within half a sample on average, and its mean offset from the force plate within a fifth of
    a sample of the one at the recorded 500 Hz (the tangent is drawn on a fine grid)."""
    from scipy.signal import resample_poly

    acc, rate0, ref = _trial_03()
    native = detect_sacral_events(acc, None, rate0)
    i_e, i_r = match_events(native.ic / rate0, ref["t_on_s"], 0.1)
    offset0 = np.mean(native.ic[i_e] / rate0 - ref["t_on_s"][i_r])
    low = resample_poly(acc, int(rate), int(round(rate0)), axis=0)
    low[:, 2] = np.maximum(low[:, 2], 0.0)
    ev = detect_sacral_events(low, None, rate)
    i_e, i_r = match_events(ev.ic / rate, ref["t_on_s"], 0.1)
    assert i_r.size >= ref.size - 1  # (the first contact is within the filter's start margin)
    assert ev.ic.size - i_e.size <= 1  # at most the contact cut by the end of the file
    err = ev.ic[i_e] / rate - ref["t_on_s"][i_r]
    assert np.mean(np.abs(err)) <= 0.5 / rate
    assert abs(np.mean(err) - offset0) <= 0.2 / rate


# --------------------------------------------------------------------------- vectorised helpers


def _periodicity_loop(u, centres, rate_hz):
    """The definition of sacrum._periodicity, one window and one lag at a time."""
    step = max(1, int(rate_hz // 50))
    ud, fs = u[::step], rate_hz / step
    half, lag0 = int(round(2.0 * fs)), max(1, int(round(0.22 * fs)))
    lag1, min_overlap = int(round(1.5 * fs)), int(round(1.0 * fs))
    out = np.zeros(len(centres))
    for j, c in enumerate(np.asarray(centres) // step):
        w = ud[max(0, c - half) : c + half + 1]
        w = w - w.mean()
        top = min(2 * lag1, w.size - min_overlap)
        r = np.zeros(top + 1)
        for lag in range(lag0, top + 1):
            a, b = w[:-lag], w[lag:]
            den = np.sqrt(np.dot(a, a) * np.dot(b, b))
            r[lag] = np.dot(a, b) / den if den > 0 else 0.0
        lags = np.arange(lag0, min(lag1, top // 2) + 1)
        if lags.size:
            out[j] = np.max(np.minimum(r[lags], r[2 * lags]))
    return out


@pytest.mark.parametrize("rate", [50.0, 128.0, 400.0])
def test_periodicity_equals_its_definition_also_at_the_ends(rate):
    rng = np.random.default_rng(int(rate))
    n = int(12 * rate)
    t = np.arange(n) / rate
    u = np.where(t < 6.0, np.sin(2 * np.pi * 2.7 * t) ** 3, 0.0) + rng.normal(0, 0.3, n)
    u = sosfiltfilt(butter(4, 5.0 / (0.5 * rate), output="sos"), u)
    centres = np.sort(np.concatenate([rng.choice(n, 40, replace=False), [0, 3, n - 1]]))
    got = sacrum._periodicity(u, centres, rate)
    np.testing.assert_allclose(got, _periodicity_loop(u, centres, rate), atol=1e-9)
    assert got.max() > 0.8 and got.min() < 0.3  # periodic and noisy windows both present


def test_segment_helpers_equal_their_definitions():
    rng = np.random.default_rng(5)
    x = np.round(rng.normal(size=500), 1)  # ties: the first extreme must win
    i0 = rng.integers(0, 490, 60)
    i1 = np.minimum(i0 + rng.integers(0, 40, 60), 499)
    lo = sacrum._seg_argext(x, i0, i1, largest=False)
    hi = sacrum._seg_argext(x, i0, i1, largest=True)
    level = rng.normal(size=60)
    found = {(rising, last): sacrum._crossings(x, level, i0, i1, rising=rising, last=last)
             for rising in (True, False) for last in (True, False)}
    for k in range(60):
        a, b = i0[k], i1[k]
        assert lo[k] == a + np.argmin(x[a : b + 1]) and hi[k] == a + np.argmax(x[a : b + 1])
        for (rising, last), got in found.items():
            want = sacrum._crossing(x, level[k], a, b, rising=rising, last=last)
            assert (np.isnan(got[k]) and np.isnan(want)) or got[k] == pytest.approx(want, abs=1e-12)
    assert all(np.isfinite(v).sum() > 10 for v in found.values())
    assert np.any(found[(True, True)] != found[(True, False)])  # first and last differ somewhere


@pytest.mark.parametrize("seed", range(3))
def test_first_falls_equal_one_crossing_search_per_level(seed):
    """The one-pass search of every level's first fall after a range's peak gives exactly what
    searching each level on its own does."""
    rng = np.random.default_rng(seed)
    s = np.maximum(sacrum._lowpass(3.0 * rng.normal(size=20000), 30.0, 400.0) + 1.0, 0.0)
    start = np.sort(rng.choice(19000, 300, replace=False))
    end = np.minimum(start + rng.integers(0, 300, start.size), s.size - 1)
    peak = sacrum._seg_argext(s, start, end, largest=True)
    levels = sacrum._fall_levels()
    got = sacrum._first_falls(s, peak, end, levels)
    want = np.array([[sacrum._crossing(s, lv, int(a), int(b), rising=False, last=False)
                      for lv in levels] for a, b in zip(peak, end, strict=True)])
    assert np.isfinite(want).sum() > 1000
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)
