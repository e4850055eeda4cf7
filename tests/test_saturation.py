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
