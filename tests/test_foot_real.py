"""The shoe pipeline on a real jogging excerpt (tests/data/shoe_jogging_vicon, MIT): strides
found, saturation flagged, stride length near Vicon. Guards against breakage on a real signal
(turns, a saturating gyroscope); the accuracy itself is measured in benchmarks/accuracy_shoe.py."""

from pathlib import Path

import numpy as np

from imu_hip.foot_pipeline import analyze_feet
from imu_hip.gait.foot import clipped_mask
from imu_hip.model import SensorRecording

DATA = Path(__file__).parent / "data" / "shoe_jogging_vicon"
TRIAL = "2017-12-15-18-01-18"


def _load():
    d = np.genfromtxt(DATA / f"{TRIAL}_imu_vicon.csv", delimiter=",", names=True)
    b = np.genfromtxt(DATA / f"{TRIAL}_stride_boundaries.csv", delimiter=",", names=True)
    sensor = SensorRecording(
        "pyshoe", "right_foot", 200.0, d["t_s"],
        np.column_stack([d["acc_x"], d["acc_y"], d["acc_z"]]),
        np.column_stack([d["gyr_x"], d["gyr_y"], d["gyr_z"]]))
    ref_len = np.hypot(np.diff(b["vicon_x_m"]), np.diff(b["vicon_y_m"]))
    return sensor, np.asarray(b["t_s"], float), ref_len


def test_real_jogging_strides():
    sensor, b, ref_len = _load()
    assert clipped_mask(sensor.gyr_rads, 4.0, rate_hz=200.0).sum() > 10
    strides = analyze_feet([sensor]).strides
    errs = []
    for j in range(b.size - 1):
        k = np.flatnonzero((np.abs(strides["t_start_s"] - b[j]) <= 0.15)
                           & (np.abs(strides["t_end_s"] - b[j + 1]) <= 0.15))
        if k.size:
            errs.append(strides["stride_length_m"][k[0]] - ref_len[j])
    errs = np.array(errs)
    # 9 reference strides; the first starts from standing (its start lies anywhere in it)
    assert errs.size >= 7
    # measured here: -0.04 +- 0.01 m (the foot is not quite still at mid-stance, see docs)
    assert -0.09 < errs.mean() < 0.03
    assert errs.std() < 0.04
    assert np.max(np.abs(errs)) < 0.2
    assert strides["clipped"].sum() >= errs.size // 2
    run = strides["gait"][np.isfinite(strides["t_to_s"])]
    assert np.all(run == "run")
    assert np.all((strides["speed_mps"] > 1.0) & (strides["speed_mps"] < 2.5))
