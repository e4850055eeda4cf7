"""The full pipeline on a real lower-back walking trial in the sensor's own axes (tests/data,
mobgap example data of the Mobilise-D validation; see its ATTRIBUTION.md), against optical motion
capture and the INDIP reference. The whole data set is in benchmarks/accuracy.py."""

from pathlib import Path

import numpy as np
import pytest

import imu_hip
from imu_hip.validation import match_events

HERE = Path(__file__).parent / "data" / "lowerback_walking_mocap"
TRIAL = "HA_001_Test5_Trial1"
TOL_S = 0.25  # half of the shortest walking step


def _ref(system: str):
    ev = np.genfromtxt(HERE / f"{TRIAL}_ref_{system}_events.csv", delimiter=",", names=True,
                       dtype=None, encoding="utf-8")
    bout = np.genfromtxt(HERE / f"{TRIAL}_ref_{system}_walkingbouts.csv", delimiter=",",
                         names=True)
    ic = ev["event"] == "IC"
    return ev["t_s"][ic], np.char.lower(ev["side"][ic].astype(str)), bout


@pytest.fixture(scope="module")
def result():
    return imu_hip.analyze(HERE / f"{TRIAL}_imu.csv")  # automatic alignment


@pytest.mark.parametrize("system", ["INDIP", "Stereophoto"])
def test_walking_initial_contacts_cadence_and_sides(result, system):
    """Every reference contact in the walking bout found, none extra, initial contacts within
    40 ms on average (lower-back methods are validated at errors of a few tens of ms), named
    sides right, cadence within 2 steps/min."""
    t_ref, side_ref, bout = _ref(system)
    t0, t1 = float(bout["start_s"]), float(bout["end_s"])
    steps = result.steps
    inside = (steps["t_ic_s"] >= t0 - TOL_S) & (steps["t_ic_s"] <= t1 + TOL_S)
    t_est = steps["t_ic_s"][inside]
    in_bout = (t_ref >= t0) & (t_ref <= t1)
    i_e, i_r = match_events(t_est, t_ref[in_bout], TOL_S)
    assert i_r.size == in_bout.sum() and i_e.size == t_est.size
    assert np.mean(np.abs(t_est[i_e] - t_ref[in_bout][i_r])) <= 0.040
    assert np.all(steps["gait"][inside] == "walk")
    sides = steps["side"][inside][i_e]
    named = sides != "unknown"
    assert named.sum() >= 2 and np.all(sides[named] == side_ref[in_bout][i_r][named])
    in_step = (steps["t_ic_s"] >= t0) & (steps["t_ic_s"] < t1) & np.isfinite(steps["step_time_s"])
    cadence = 60.0 / np.mean(steps["step_time_s"][in_step])
    assert abs(cadence - float(bout["cadence_spm"])) <= 2.0


def test_the_sensor_frame_is_found(result):
    """The file is in the sensor's axes (x up): the alignment finds vertical and forward."""
    al = result.alignment
    assert al.rotation[2] @ [1.0, 0.0, 0.0] > np.cos(np.radians(30.0))  # up is near sensor x
    assert al.forward_quality > 0.5 and al.clipped == ""


def test_one_corrupted_sample_does_not_hide_the_walk(result):
    """A single 16 g sample (a bit flip or glitch) in the middle of the walk: the step humps
    come from the step-rate content, so the same contacts are found (within a few ms), not half
    of them."""
    sensor = imu_hip.read_recording(HERE / f"{TRIAL}_imu.csv").sensors[0]
    acc = sensor.acc_mps2.copy()
    mid = len(sensor) // 2
    acc[mid, 0] = 16.0 * 9.80665  # sensor x is vertical in this file
    hit = imu_hip.analyze(imu_hip.SensorRecording("glitch", "sacrum", sensor.rate_hz, sensor.t_s,
                                                  acc, sensor.gyr_rads))
    t_ok, t_hit = result.steps["t_ic_s"], hit.steps["t_ic_s"]
    i_a, i_b = match_events(t_ok, t_hit, 0.05)
    assert i_a.size >= t_ok.size - 1 and t_hit.size <= t_ok.size + 1
