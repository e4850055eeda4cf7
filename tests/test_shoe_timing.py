"""Shoe event times between samples, and step timing of a hip + shoes session: the shoes must
not quantise the hip's step times, and one shoe must not make a symmetric runner asymmetric."""

from functools import cache

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from imu_hip.foot_pipeline import analyze_feet, attach_shoes
from imu_hip.gait.foot import level_crossing, peak_vertex
from imu_hip.model import Recording
from imu_hip.pipeline import analyze
from imu_hip.sim import RunnerParams, simulate
from imu_hip.validation import compare_steps


@settings(max_examples=25, deadline=None)
@given(st.floats(0.01, 0.99), st.floats(0.2, 5.0), st.floats(-3.0, 3.0))
def test_level_crossing_of_a_ramp(frac, slope, level):
    """A straight line through ``level`` at ``10 + frac``: the crossing is found exactly."""
    n = np.arange(20.0)
    x = level + slope * (n - 10.0 - frac)
    i = np.array([11])  # first sample at or above the level
    assert np.allclose(level_crossing(x, i, level), 10.0 + frac)
    assert level_crossing(x, np.array([-1]), level)[0] == -1


@settings(max_examples=25, deadline=None)
@given(st.floats(-0.49, 0.49), st.floats(0.1, 10.0))
def test_peak_vertex_of_a_parabola(shift, curvature):
    n = np.arange(15.0)
    x = 3.0 - curvature * (n - 7.0 - shift) ** 2
    i = np.array([int(np.argmax(x))])
    assert np.allclose(peak_vertex(x, i), 7.0 + shift)
    # the end of the array or a flat top: the sample itself
    assert peak_vertex(x, np.array([0]))[0] == 0.0
    assert peak_vertex(np.ones(5), np.array([2]))[0] == 2.0


def test_shoe_events_fall_between_samples():
    """On a uniform grid, whole-sample events all have the same position modulo the sample
    period; sub-sample ones spread over it."""
    p = RunnerParams(phases=(("run", 12.0),), rate_hz=200.0)
    sim = simulate(p, seed=3, placements=("left_foot", "right_foot"))
    strides = analyze_feet(sim.recording.sensors).strides
    t0 = sim.recording.sensors[0].t_s[0]
    for name in ("t_ic_s", "t_to_s"):
        t = strides[name][np.isfinite(strides[name])]
        phase = np.round(((t - t0) * 200.0) % 1.0, 2)
        assert np.unique(phase).size > 10, name


@cache
def _session(seed: int):
    p = RunnerParams(phases=(("run", 60.0),), rate_hz=400.0, asym_contact_pct=0.0)
    return simulate(p, seed=seed, placements=("sacrum", "left_foot", "right_foot"))


def _errors(steps, truth):
    cmp = compare_steps(steps, truth, ("step_time_s", "contact_time_s", "side"), tol_s=0.1)
    assert cmp["found_pct"] > 90
    return cmp["errors"]


def test_shoes_keep_the_hips_step_timing():
    """With two shoes the step-time error stays near the hip's (0.11 ms here; whole-sample shoe
    contacts gave 1.3 ms, sub-sample shoe contacts alone 1.2 ms: the simulated shoe shock peaks
    1.25 ms after touchdown, inside one 2.5 ms sample). The weights of hip and shoe come from
    ~170 steps: over 7 seeds 0.11-0.38 ms. The contact time is the shoes' (the hip's is
    ~17 ms short on the simulator)."""
    sim = _session(14)
    rec = sim.recording
    hip = analyze(Recording([rec.sensor("sacrum")], rec.metadata))
    both = analyze(rec)
    e_hip, e_both = _errors(hip.steps, sim.truth), _errors(both.steps, sim.truth)
    assert e_both["step_time_s"]["mae"] <= min(4.0 * e_hip["step_time_s"]["mae"], 0.0005)
    assert e_both["contact_time_s"]["mae"] < 0.5 * e_hip["contact_time_s"]["mae"]
    assert e_both["side"]["agree_pct"] > 97


def test_noisy_hip_contacts_give_way_to_the_shoes():
    """The weight of each source is measured on the session: when the hip's contacts are
    noisy (5 ms), the steps follow the shoes' contacts instead."""
    sim = _session(14)
    rec = sim.recording
    hip = analyze(Recording([rec.sensor("sacrum")], rec.metadata))
    feet = analyze_feet([rec.sensor("left_foot"), rec.sensor("right_foot")])
    noisy = dict(hip.steps.columns)
    rng = np.random.default_rng(0)
    noisy["t_ic_s"] = noisy["t_ic_s"] + rng.normal(0.0, 0.005, noisy["t_ic_s"].size)
    steps, info = attach_shoes(type(hip.steps)(noisy), feet.strides)
    assert info["shoe_weight"] > 0.8
    e = _errors(steps, sim.truth)
    assert e["step_time_s"]["mae"] < 0.003  # 5 ms noise on each contact: ~5.6 ms


def test_one_shoe_reads_a_symmetric_runner_as_symmetric():
    """A symmetric runner with a sacral sensor and one shoe: contact and flight time the same on
    both sides (shoe timing on one side, hip timing on the other read 7 % / -17 %)."""
    sim = _session(14)
    rec = sim.recording
    for shoe in ("left_foot", "right_foot"):
        res = analyze(Recording([rec.sensor("sacrum"), rec.sensor(shoe)], rec.metadata))
        m = res.summary["metrics"]
        assert abs(m["contact_time_s"]["asymmetry_pct"]) < 1.5, shoe
        assert abs(m["flight_time_s"]["asymmetry_pct"]) < 4.0, shoe
        # the shoe sets the level of the hip's contact times
        assert abs(_errors(res.steps, sim.truth)["contact_time_s"]["mean"]) < 0.008, shoe
