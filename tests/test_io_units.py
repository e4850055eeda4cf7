"""The angular-rate unit check: rad/s and deg/s mix-ups are refused, real movement never is."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from imu_hip.cli import main
from imu_hip.io import read_recording, validate_recording, write_csv
from imu_hip.model import InputError, Recording, SensorRecording
from imu_hip.sim import RunnerParams, simulate


@pytest.fixture(scope="module")
def sim_run():
    phases = (("stand", 3.0), ("walk", 6.0), ("run", 8.0))
    return simulate(RunnerParams(phases=phases, rate_hz=200.0), seed=4).recording


def scaled(sensor: SensorRecording, factor: float) -> SensorRecording:
    return SensorRecording(sensor.sensor_id, sensor.placement, sensor.rate_hz, sensor.t_s,
                           sensor.acc_mps2, sensor.gyr_rads * factor)


def problem_of(path: Path) -> str:
    with pytest.raises(InputError) as info:
        read_recording(path)
    assert str(info.value).startswith(str(path) + ": ")
    return info.value.problem


@pytest.mark.parametrize("placement", ["sacrum", "left_foot"])
def test_rads_written_under_dps_columns_is_refused(sim_run, tmp_path, placement):
    sensor = sim_run.sensor(placement)
    path = tmp_path / "rads_as_dps.csv"
    # the numbers in rad/s, the columns saying deg/s
    write_csv(scaled(sensor, math.pi / 180.0), path, gyr_units="dps")
    problem = problem_of(path)
    assert "angular rate is in the wrong unit" in problem
    assert "rad/s written under _dps columns" in problem and "gyr_*_rads" in problem


@pytest.mark.parametrize("placement", ["sacrum", "right_foot"])
def test_dps_written_under_rads_columns_is_refused(sim_run, tmp_path, placement):
    sensor = sim_run.sensor(placement)
    path = tmp_path / "dps_as_rads.csv"
    write_csv(scaled(sensor, 180.0 / math.pi), path, gyr_units="rads")
    problem = problem_of(path)
    assert "angular rate is in the wrong unit" in problem
    assert "deg/s written under _rads columns" in problem and "gyr_*_dps" in problem
    assert "corrupted sample" not in problem


def test_gyro_unit_mixup_is_one_line_exit_2_in_the_cli(sim_run, tmp_path, capsys):
    path = tmp_path / "hip.csv"
    write_csv(scaled(sim_run.sensor("sacrum"), math.pi / 180.0), path, gyr_units="dps")
    code = main(["analyze", str(path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and path.name in err
    assert "rad/s written under _dps" in err and "Traceback" not in err


@pytest.mark.parametrize("gyr_units", ["rads", "dps"])
def test_right_units_pass_for_every_placement_and_gait(sim_run, tmp_path, gyr_units):
    for sensor in sim_run.sensors:
        path = tmp_path / f"{sensor.placement}.csv"
        write_csv(sensor, path, gyr_units=gyr_units)
        read_recording(path)  # no error


@pytest.mark.parametrize("factor", [1.0, math.pi / 180.0, 180.0 / math.pi])
def test_standing_only_is_never_judged(factor):
    """A still body's gyroscope reads near zero in any unit: nothing to tell the unit by."""
    sim = simulate(RunnerParams(phases=(("stand", 8.0),), rate_hz=100.0), seed=2)
    for sensor in sim.recording.sensors:
        validate_recording(Recording([scaled(sensor, factor)]), "still.csv")


def test_single_wild_gyro_sample_keeps_its_own_message(sim_run):
    sensor = scaled(sim_run.sensor("sacrum"), 1.0)
    sensor.gyr_rads = sensor.gyr_rads.copy()
    sensor.gyr_rads[500, 1] = 1e4
    with pytest.raises(InputError) as info:
        validate_recording(Recording([sensor]), "spike.csv")
    assert "corrupted sample" in info.value.problem and "sample 500" in info.value.problem


def test_flat_gyro_while_moving_says_the_gyroscope_did_not_record(sim_run):
    sensor = scaled(sim_run.sensor("sacrum"), 0.0)
    with pytest.raises(InputError) as info:
        validate_recording(Recording([sensor]), "flat.csv")
    assert "did not record" in info.value.problem


def test_random_mounting_and_bias_do_not_trip_the_check():
    rng = np.random.default_rng(11)
    for seed in range(3):
        p = RunnerParams(phases=(("walk", 5.0), ("run", 6.0)), rate_hz=100.0,
                         speed_mps=float(rng.uniform(2.0, 6.0)),
                         cadence_spm=float(rng.uniform(150, 195)),
                         pelvic_rotation_rom_deg=float(rng.uniform(3, 16)),
                         pelvic_tilt_rom_deg=float(rng.uniform(2, 10)),
                         gyr_bias_sd_rads=0.05)
        for sensor in simulate(p, seed=seed).recording.sensors:
            validate_recording(Recording([sensor]), "sim.csv")
