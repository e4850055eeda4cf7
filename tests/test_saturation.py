"""An accelerometer that saturates at its range limit: steps keep their events, not the metrics
the cut signal would make wrong (impact, braking, vertical oscillation, the Newton vGRF)."""

from pathlib import Path

import numpy as np

import imu_hip
from imu_hip.metrics.summary import format_summary
from imu_hip.model import SensorRecording
from imu_hip.pipeline import SATURATION_NAN
from imu_hip.sim import RunnerParams, simulate

RAW = Path(__file__).parent / "data" / "sacrum_running_raw_sample" / "Sample_test_data.csv"


def _sim(acc_range_g):
    p = RunnerParams(phases=(("run", 30.0),), acc_range_g=acc_range_g, rate_hz=200.0)
    return simulate(p, seed=5, placements=("sacrum",)).recording.sensor("sacrum")


def test_simulated_saturation_is_found_and_its_metrics_left_out():
    clean = imu_hip.analyze(_sim(16.0))
    cut = imu_hip.analyze(_sim(2.2))
    assert clean.summary["steps_accelerometer_saturated"] == 0
    n = len(cut.steps)
    sat = cut.summary["steps_accelerometer_saturated"]
    assert sat >= 0.8 * n  # the simulated impacts reach ~2.4 g: most steps are cut
    for name in SATURATION_NAN:
        assert np.isnan(cut.steps[name]).sum() >= sat
    # events and timing survive saturation: same steps, same contact times
    np.testing.assert_allclose(cut.steps["t_ic_s"], clean.steps["t_ic_s"], atol=0.003)
    np.testing.assert_allclose(np.nanmedian(cut.steps["contact_time_s"]),
                               np.nanmedian(clean.steps["contact_time_s"]), atol=0.003)
    vgrf = cut.steps["vgrf_peak_bw"]
    assert np.isfinite(vgrf).sum() >= n - 2  # from contact timing
    assert "accelerometer saturated in" in format_summary(cut.summary)


def test_real_saturated_clip():
    d = np.genfromtxt(RAW, delimiter=",", names=True)
    acc = np.column_stack([-d["Accel_LN_X"], d["Accel_LN_Y"], -d["Accel_LN_Z"]])
    sensor = SensorRecording("raw", "sacrum", 512.0, d["System_Timestamp_Plot_Zeroed"] / 1000,
                             acc)
    res = imu_hip.analyze(sensor)
    steps = res.steps
    sat = res.summary["steps_accelerometer_saturated"]
    assert len(steps) >= 10 and 3 <= sat < len(steps)
    impact = steps["impact_peak_g"]
    assert np.isnan(impact).sum() == sat
    assert np.all(impact[np.isfinite(impact)] < 2.7)
    assert np.isfinite(steps["vgrf_peak_bw"][:-1]).all()  # the last step has no next contact


def _cross_axis_calibration(sensor_id: str):
    """A calibration with a few % of cross-axis terms: it mixes the axes, so a saturated raw
    axis is no longer flat after it."""
    from imu_hip.calibration import Calibration

    matrix = np.array([[1.01, 0.03, -0.02], [0.02, 0.99, 0.03], [-0.03, 0.02, 1.02]])
    return Calibration(sensor_id, np.array([0.05, -0.03, 0.08]), matrix, np.zeros(3),
                       method="test")


def test_saturation_is_found_on_the_raw_readings_behind_a_calibration():
    from imu_hip.calibration import calibration_from_metadata
    from imu_hip.pipeline import analyze_sensor

    d = np.genfromtxt(RAW, delimiter=",", names=True)
    acc = np.column_stack([-d["Accel_LN_X"], d["Accel_LN_Y"], -d["Accel_LN_Z"]])
    sensor = SensorRecording("raw", "sacrum", 512.0, d["System_Timestamp_Plot_Zeroed"] / 1000,
                             acc)
    cal = _cross_axis_calibration("raw")
    back = cal.sensor_acc(cal.correct_acc(acc))
    np.testing.assert_allclose(back, acc, atol=1e-9)
    plain = analyze_sensor(sensor, calibration=None).summary["steps_accelerometer_saturated"]
    calibrated = analyze_sensor(sensor, calibration=cal)
    assert calibrated.summary["steps_accelerometer_saturated"] == plain >= 3
    meta = {f"calibration.{k}": v for k, v in cal.metadata().items()}
    again = calibration_from_metadata(meta)
    assert again is not None
    np.testing.assert_array_equal(again.acc_matrix, cal.acc_matrix)
    assert calibration_from_metadata({"calibration.applied": "x"}) is None


def test_shoe_saturation_is_found_behind_a_calibration():
    from imu_hip.foot_pipeline import analyze_feet

    p = RunnerParams(phases=(("run", 12.0),), acc_range_g=4.0, rate_hz=200.0)
    shoe = simulate(p, seed=3, placements=("left_foot",)).recording.sensor("left_foot")
    cal = _cross_axis_calibration(shoe.sensor_id)
    res = analyze_feet([shoe], calibration=cal)
    n = len(res.strides)
    assert n > 10
    assert res.summary["sensors"][0]["strides_accelerometer_saturated"] == n
    assert np.isnan(res.strides["stride_length_m"]).all()


def test_saturation_floor_takes_a_2g_range_and_leaves_smooth_walking():
    """The largest reading of a +-2 g accelerometer is 1.99994 g (16-bit); walking's smooth
    vertical humps (1 g +- 0.6 g at 1.8 Hz) have tops flat to 0.1 % over 3 samples at 200 Hz
    but are not a range limit (a floor of 1.5 g took them for one)."""
    from imu_hip.gait.foot import ACC_SATURATION_FLOOR_MPS2, clipped_mask
    from imu_hip.model import G
    from imu_hip.pipeline import SATURATION_FLOOR_MPS2

    t = np.arange(0.0, 20.0, 1 / 200)
    walk = np.zeros((t.size, 3))
    walk[:, 2] = G * (1.0 + 0.6 * np.sin(2 * np.pi * 1.8 * t))
    assert clipped_mask(walk, 1.5 * G, jumps=False, rate_hz=200.0).any()
    run = walk.copy()
    run[:, 2] = G * (1.0 + 1.6 * np.sin(2 * np.pi * 2.8 * t))
    full_scale = 32767 / 16384 * G
    run = np.clip(run, -full_scale, full_scale)
    for floor in (SATURATION_FLOOR_MPS2, ACC_SATURATION_FLOOR_MPS2):
        assert not clipped_mask(walk, floor, jumps=False, rate_hz=200.0).any()
        assert clipped_mask(run, floor, jumps=False, rate_hz=200.0).sum() > 100
