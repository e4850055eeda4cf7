"""The analysis recovers the simulated runner's truth across realistic runners (hypothesis).

Tolerances on clean signals: cadence within 0.5 spm, pelvic drop within 1.5 deg, median contact
time within 30 ms, and the rest of the step table within the bounds below.

Contact time is the exception to issue 2's example of 10 ms. Toe-off is detected where the sacral
vertical acceleration falls through 0.25 g. On the force treadmill (Alcantara et al. 2022) real
sacra still read +0.41 g at the force plate's toe-off (trunk motion relative to the centre of
mass), and the detector is 6 ms late there on average. The simulated sacrum follows the centre of
mass and reads -0.05 g at toe-off, so the same rule is 14-27 ms early on the simulator (slowest
runners worst; benchmarks/accuracy.py prints the table). Real-data
accuracy is what counts and is measured in benchmarks/accuracy.py; here we check that contact
time stays within that known model gap.
"""

import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from imu_hip.pipeline import analyze
from imu_hip.sim import RunnerParams, simulate
from imu_hip.validation import compare_steps

COLUMNS = (
    "contact_time_s",
    "step_time_s",
    "cadence_spm",
    "vertical_oscillation_m",
    "vgrf_peak_bw",
    "pelvic_drop_deg",
    "pelvic_obliquity_rom_deg",
    "pelvic_tilt_rom_deg",
    "pelvic_rotation_rom_deg",
    "side",
    "gait",
)

runners = st.fixed_dictionaries(
    {
        "speed_mps": st.floats(2.5, 5.5),
        "cadence_spm": st.floats(155.0, 195.0),
        "duty_factor": st.floats(0.28, 0.40),
        "foot_strike": st.sampled_from(["rear", "mid", "fore"]),
        "pelvic_drop_deg": st.floats(2.0, 9.0),
        "pelvic_tilt_rom_deg": st.floats(3.0, 8.0),
        "pelvic_rotation_rom_deg": st.floats(5.0, 14.0),
        "asym_drop_deg": st.floats(-2.0, 2.0),
    }
)


# Each example simulates and analyses 30 s of running: no shrinking (it would take minutes), and
# the same 8 runners on every machine (derandomize) so CI results are reproducible.
@settings(
    max_examples=8,
    deadline=None,
    derandomize=True,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow],
)
@given(runners, st.integers(0, 2**16))
def test_running_metrics_recovered(runner, seed):
    params = RunnerParams(phases=(("stand", 5.0), ("run", 25.0)), rate_hz=200.0, **runner)
    sim = simulate(params, seed=seed, placements=("sacrum",))
    result = analyze(sim.recording)
    cmp = compare_steps(result.steps, sim.truth, COLUMNS, tol_s=0.1)
    assert cmp["found_pct"] >= 97.0 and cmp["extra"] <= 1, cmp
    err = cmp["errors"]
    # Medians over the run, measured vs true.
    for col, tol in (
        ("contact_time_s", 0.030),
        ("cadence_spm", 0.5),
        ("pelvic_drop_deg", 1.5),
        ("vertical_oscillation_m", 0.01),
        ("pelvic_obliquity_rom_deg", 1.5),
        ("pelvic_tilt_rom_deg", 1.5),
        ("pelvic_rotation_rom_deg", 1.5),
    ):
        measured = np.nanmedian(result.steps[col])
        true = np.nanmedian(sim.truth[col])
        assert abs(measured - true) <= tol, (col, measured, true)
    # vGRF averages the spring-mass timing estimate with the trunk peak; the timing half inherits
    # the simulator's toe-off gap above (20 ms of a 180 ms contact is 11 %), hence 12 % here
    # against 4.3 % measured on the force treadmill.
    assert err["vgrf_peak_bw"]["mae"] / np.nanmedian(sim.truth["vgrf_peak_bw"]) < 0.12
    assert err["gait"]["agree_pct"] == 100.0
    assert err["side"]["n"] >= 0.9 * cmp["matched"] and err["side"]["agree_pct"] >= 98.0


def _analysed(seed: int = 11, **kw):
    params = RunnerParams(rate_hz=200.0, **kw)
    sim = simulate(params, seed=seed, placements=("sacrum",))
    return analyze(sim.recording), sim.truth


def test_left_right_asymmetry_and_fatigue_drift_are_recovered():
    """A runner whose right contacts and steps are 8 % / 6 % longer and whose pelvic drop grows
    by 0.5°/min: the per-side medians keep the asymmetry (the toe-off gap of the simulator
    cancels between the sides) and the first-to-last 10 % drift follows the truth."""
    result, truth = _analysed(phases=(("stand", 5.0), ("run", 300.0)), asym_contact_pct=8.0,
                              asym_step_pct=6.0, fatigue_drop_deg_per_min=0.5)
    m = result.summary["metrics"]
    for col in ("contact_time_s", "step_time_s"):
        true_lr = [np.nanmedian(truth[col][truth["side"] == s]) for s in ("left", "right")]
        got_lr = (m[col]["left_median"], m[col]["right_median"])
        assert abs((got_lr[1] - got_lr[0]) - (true_lr[1] - true_lr[0])) < 0.004, (col, got_lr)
    drop = m["pelvic_drop_deg"]
    run = truth["gait"] == "run"
    n = max(1, int(0.1 * run.sum()))
    true_drift = (np.median(truth["pelvic_drop_deg"][run][-n:])
                  - np.median(truth["pelvic_drop_deg"][run][:n]))
    assert true_drift > 1.5 and abs(drop["drift"] - true_drift) < 0.5


def test_contact_time_gap_to_the_simulator_is_early_and_walking_cadence_recovered():
    """The simulator's sacrum reads ~0 g at toe-off, so the detector's toe-off is early there
    (see the module docstring): contact time within [-30, +5] ms of the truth, never late; and
    initial contacts within a few ms. Walking cadence within 0.5 spm."""
    from imu_hip.validation import match_events

    result, truth = _analysed(phases=(("stand", 5.0), ("walk", 40.0), ("run", 40.0)))
    steps = result.steps
    i_e, i_t = match_events(steps["t_ic_s"], truth["t_ic_s"], 0.1)
    run = (truth["gait"][i_t] == "run") & (steps["gait"][i_e] == "run")
    ct_err = steps["contact_time_s"][i_e][run] - truth["contact_time_s"][i_t][run]
    assert -0.030 <= np.nanmedian(ct_err) <= 0.005
    assert np.median(np.abs(steps["t_ic_s"][i_e] - truth["t_ic_s"][i_t])[run]) < 0.008
    walk_m = steps["gait"] == "walk"
    walk_t = truth["gait"] == "walk"
    assert walk_m.sum() >= 0.9 * walk_t.sum()
    cad = 60.0 / np.nanmedian(steps["step_time_s"][walk_m])
    assert abs(cad - 60.0 / np.nanmedian(truth["step_time_s"][walk_t])) < 0.5
