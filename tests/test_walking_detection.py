"""Walking steps from the sacral IMU when the step time changes from step to step (daily life:
turns, obstacles, starts and stops), and no steps from motion that is not walking."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import butter, sosfiltfilt

import imu_hip.sim as sim
from imu_hip.gait import sacrum
from imu_hip.gait.sacrum import detect_sacral_events
from imu_hip.model import G
from imu_hip.validation import match_events

RATE = 100.0
LOADING_S = 0.25  # heel strike to the end of the loading hump: peak ~10-12 % of a stride later


def _step_times(rng: np.random.Generator, steps: int, change: float) -> np.ndarray:
    """Step times that wander: each step differs from the one before by a factor exp(N(0,
    change)), kept within 0.5-1.1 s (slow daily-life walking)."""
    t = [0.6]
    for _ in range(steps - 1):
        t.append(float(np.clip(t[-1] * np.exp(rng.normal(0.0, change)), 0.5, 1.1)))
    return np.array(t)


def _walk(rate: float, ic: np.ndarray, step: np.ndarray, n: int, rng: np.random.Generator,
          ap: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Vertical and anteroposterior acceleration (g, gravity excluded) of steps starting at
    ``ic`` (s): a loading hump after each heel strike (zero mean over the step) and, with
    ``ap``, braking then propulsion over the step (a quarter cycle from the vertical)."""
    t = np.arange(n) / rate
    az, ax = np.zeros(n), np.zeros(n)
    for a, d in zip(ic, step, strict=True):
        ph = t - a
        on = (ph >= 0) & (ph < d)
        amp = 0.3 * (1.0 + 0.1 * rng.normal())
        hump = np.where(ph[on] < LOADING_S, np.sin(np.pi * ph[on] / LOADING_S), 0.0)
        az[on] += amp * (hump - hump.mean())
        if ap:
            ax[on] -= 0.6 * amp * np.sin(2.0 * np.pi * ph[on] / d)
    return az, ax


def irregular_walk(seed: int, steps: int = 40, change: float = 0.15, pause_s: float = 0.0,
                   ap: bool = True) -> tuple[np.ndarray, np.ndarray, list[tuple[float, float]]]:
    """Body-frame acceleration (m/s²) at RATE of one or two bouts of irregular walking (a
    standing pause of ``pause_s`` in the middle when > 0) with 3 s of standing around; the
    reference initial contacts (s) and the bouts (first contact, end of last step)."""
    rng = np.random.default_rng(seed)
    step = _step_times(rng, steps, change)
    ic = 3.0 + np.concatenate(([0.0], np.cumsum(step[:-1])))
    half = steps // 2
    if pause_s > 0:
        ic[half:] += pause_s
    bouts = ([(ic[0], ic[-1] + step[-1])] if pause_s <= 0 else
             [(ic[0], ic[half - 1] + step[half - 1]), (ic[half], ic[-1] + step[-1])])
    n = int((ic[-1] + step[-1] + 3.0) * RATE)
    if pause_s > 0:
        a1, x1 = _walk(RATE, ic[:half], step[:half], n, rng, ap)
        a2, x2 = _walk(RATE, ic[half:], step[half:], n, rng, ap)
        az, ax = a1 + a2, x1 + x2
    else:
        az, ax = _walk(RATE, ic, step, n, rng, ap)
    acc = np.zeros((n, 3))
    acc[:, 0] = ax * G
    acc[:, 2] = (1.0 + az) * G
    acc += rng.normal(0.0, 0.02 * G, acc.shape)
    if not ap:
        acc[:, 0] = rng.normal(0.0, 0.05 * G, n)
    return acc, ic, bouts


def _without_step_repeat(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sacrum, "_step_repeat",
                        lambda u, ax, az, peaks, rate, todo=None: np.zeros(peaks.size, bool))


# --------------------------------------------------------------------------- walking found


@pytest.mark.parametrize("seed", range(5))
def test_irregular_walking_steps_are_found(seed):
    acc, ic, _ = irregular_walk(seed)
    ev = detect_sacral_events(acc, None, RATE)
    i_e, i_r = match_events(ev.ic / RATE, ic, 0.1)
    assert i_r.size >= 0.8 * ic.size
    assert ev.ic.size - i_e.size <= 1  # no steps that are not there
    assert np.all(ev.gait == "walk")
    # the walking IC rule (steepest loading rise) on this template: within 0.1 s, mostly 0.05 s
    assert np.median(np.abs(ev.ic[i_e] / RATE - ic[i_r])) <= 0.05


def test_step_repeat_finds_what_fixed_lag_periodicity_misses(monkeypatch):
    found = []
    for disabled in (False, True):
        if disabled:
            _without_step_repeat(monkeypatch)
        n = 0
        for seed in range(5):
            acc, ic, _ = irregular_walk(seed)
            ev = detect_sacral_events(acc, None, RATE)
            n += match_events(ev.ic / RATE, ic, 0.1)[1].size
        found.append(n)
    assert found[0] >= found[1] + 40  # 200 steps in all; periodicity alone finds about half


@pytest.mark.parametrize("seed", range(3))
def test_pause_splits_the_bout_and_gives_no_steps(seed):
    acc, ic, bouts = irregular_walk(seed, pause_s=6.0)
    ev = detect_sacral_events(acc, None, RATE)
    t = ev.ic / RATE
    (a0, a1), (b0, b1) = bouts
    assert not np.any((t > a1) & (t < b0 - 0.1))  # standing: no step
    assert not np.any((t < a0 - 0.1) | (t > b1))
    first, second = t < a1, t >= b0 - 0.1
    assert first.sum() >= 0.7 * (ic < a1).sum() and second.sum() >= 0.7 * (ic >= b0).sum()
    assert set(ev.bout[first]).isdisjoint(ev.bout[second])


@pytest.mark.parametrize("seed", range(2))
def test_simulated_walking_with_pauses(seed):
    """The simulator's walker (stand - walk - stand - walk - stand, step-time variability 3 %):
    the steps are found and none while standing (the last contact of a bout ends within one
    step of its phase)."""
    p = sim.RunnerParams(walk_cadence_spm=105.0, walk_speed_mps=1.0, step_time_cv=0.03,
                         rate_hz=RATE, phases=(("stand", 5.0), ("walk", 12.0), ("stand", 6.0),
                                               ("walk", 10.0), ("stand", 5.0)))
    s = sim.simulate(p, seed=seed, placements=("sacrum",))
    sensor = s.recording.sensor("sacrum")
    rot = s.mounting["sacrum"]  # body = R @ sensor
    ev = detect_sacral_events(sensor.acc_mps2 @ rot.T, sensor.gyr_rads @ rot.T, RATE)
    t = np.interp(ev.ic, np.arange(sensor.t_s.size), sensor.t_s)
    truth = s.truth["t_ic_s"]
    assert match_events(t, truth, 0.1)[1].size >= 0.85 * truth.size
    walking = np.zeros(t.size, bool)
    for kind, a, b in s.phases:
        if kind == "walk":
            walking |= (t >= a - 0.1) & (t <= b + sacrum.MAX_STEP_S)
    assert walking.all()
    assert np.all(ev.gait == "walk")


def test_events_depend_only_on_nearby_samples_in_irregular_walking():
    """The pipeline keeps the events of a core seen with 3 s on each side."""
    acc, _, _ = irregular_walk(3, steps=60)
    whole = detect_sacral_events(acc, None, RATE)
    a, b = int(10 * RATE), int(34 * RATE)
    part = detect_sacral_events(acc[a:b], None, RATE)
    core = (13 * RATE, 31 * RATE)
    sel_w = (whole.ic >= core[0]) & (whole.ic < core[1])
    sel_p = (part.ic + a >= core[0]) & (part.ic + a < core[1])
    assert sel_w.sum() == sel_p.sum() > 15
    np.testing.assert_allclose(part.ic[sel_p] + a, whole.ic[sel_w], atol=1e-3)


# --------------------------------------------------------------------------- not walking


def _shaking_one_axis(seed: int, amp_g: float, ap_share: float) -> np.ndarray:
    """Band-limited (0.5-8 Hz) shaking along one fixed direction in the sagittal plane: the
    anteroposterior acceleration is ``ap_share`` times the vertical one."""
    rng = np.random.default_rng(seed)
    n = int(30.0 * RATE)
    x = sosfiltfilt(butter(4, [0.5, 8.0], btype="band", fs=RATE, output="sos"),
                    rng.normal(size=n))
    x = x / x.std() * amp_g * G
    acc = np.zeros((n, 3))
    acc[:, 0] = ap_share * x
    acc[:, 2] = G + x
    return acc + rng.normal(0.0, 0.005 * G, acc.shape)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("amp_g", [0.1, 0.3, 1.0])
@pytest.mark.parametrize("ap_share", [1.0, -0.5])
def test_no_steps_when_shaking_along_one_sagittal_axis(seed, amp_g, ap_share):
    """The anteroposterior channel is then a copy of the vertical: it brings no second witness,
    so chance matches of the vertical alone must not make steps."""
    acc = _shaking_one_axis(seed, amp_g, ap_share)
    assert detect_sacral_events(acc, None, RATE).ic.size == 0


@pytest.mark.parametrize("seed", range(3))
def test_vertical_bouncing_without_braking_is_not_a_repeating_step(seed):
    """Irregular vertical bouncing with no anteroposterior pattern (the same loading humps as
    the walk, the AP axis only noise): the step-to-step test keeps almost none of its humps
    (noise matches all three windows by chance only rarely)."""
    acc, _, _ = irregular_walk(seed, ap=False)
    n_humps, kept = _step_repeat_share(acc)
    assert n_humps > 20
    assert kept < 0.1
    # with the walk's braking and propulsion, the same humps repeat
    acc2, _, _ = irregular_walk(seed)
    assert _step_repeat_share(acc2)[1] > 0.5


def _step_repeat_share(acc: np.ndarray) -> tuple[int, float]:
    """Number of hump candidates (peaks of the low-passed vertical) and the share of them
    :func:`sacrum._step_repeat` keeps."""
    az_g = acc[:, 2] / G
    u = sacrum._lowpass(az_g, sacrum.HUMP_LOWPASS_HZ, RATE)
    az = sacrum._lowpass(az_g, sacrum.EVENT_LOWPASS_HZ, RATE)
    peaks = sacrum.find_peaks(u, distance=int(sacrum.MIN_STEP_S * RATE),
                              prominence=sacrum.MIN_HUMP_G)[0]
    keep = sacrum._step_repeat(u, acc[:, 0] / G, az, peaks, RATE)
    return int(peaks.size), float(keep.mean()) if peaks.size else 0.0


def test_step_repeat_leaves_running_to_the_periodicity_test():
    """Running (flight phases between contacts) is never accepted by the walking test."""
    t = np.arange(int(20 * RATE)) / RATE
    period, contact = 0.36, 0.24
    ph = np.mod(t, period)
    f = np.where(ph < contact, 0.5 * np.pi * period / contact * np.sin(np.pi * ph / contact), 0.0)
    acc = np.zeros((t.size, 3))
    acc[:, 2] = f * G
    acc[:, 0] = np.where(ph < contact, -0.3 * np.sin(2 * np.pi * ph / contact), 0.0) * G
    n_humps, kept = _step_repeat_share(acc)
    assert n_humps > 40
    assert kept == 0.0
    ev = detect_sacral_events(acc, None, RATE)
    assert ev.ic.size > 40 and np.all(ev.gait == "run")
