import csv

import numpy as np

from imu_hip.model import STEP_COLUMNS
from imu_hip.steps import StepTable


def test_csv_keeps_epoch_times_exactly(tmp_path):
    t = 1712345678.0 + np.array([0.1234567, 0.4567891, 0.7])
    table = StepTable(
        {
            "t_ic_s": t,
            "side": np.array(["left", "right", "unknown"]),
            "contact_time_s": np.array([0.25, np.nan, 0.2]),
        }
    )
    table.to_csv(tmp_path / "steps.csv")
    with open(tmp_path / "steps.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(STEP_COLUMNS)
    np.testing.assert_array_equal([float(r["t_ic_s"]) for r in rows], t)
    assert rows[1]["contact_time_s"] == "" and rows[2]["side"] == "unknown"
    assert rows[0]["gait"] == "unknown" and rows[0]["cadence_spm"] == ""
