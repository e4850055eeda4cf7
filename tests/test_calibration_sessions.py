"""The estimators on the recorded calibration sessions in ``calibration/sessions``.

These sessions are simulated (see ``calibration/README.md``): each JSON holds the true errors of
the simulated sensor and the tolerance the estimate must meet, or the guidance a bad session
must produce instead of a calibration.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from imu_hip import calibration as C
from imu_hip.io import read_recording

SESSIONS = Path(__file__).resolve().parent.parent / "calibration" / "sessions"
NAMES = sorted(p.stem for p in SESSIONS.glob("*.json"))


def test_there_are_sessions():
    assert len(NAMES) >= 3


@pytest.mark.parametrize("name", NAMES)
def test_recorded_session(name):
    expected = json.loads((SESSIONS / f"{name}.json").read_text())
    sensor = read_recording(SESSIONS / f"{name}.csv").sensors[0]
    true = {k: np.asarray(v) for k, v in expected["true"].items()}
    if "expect_error_containing" in expected:
        with pytest.raises(C.CalibrationError, match=expected["expect_error_containing"]):
            C.calibrate_from_recording(sensor)
        return
    cal = C.calibrate_from_recording(sensor)
    tol = expected["tolerance"]
    assert np.abs(cal.acc_bias_mps2 - true["acc_bias_mps2"]).max() < tol["acc_bias_mps2"]
    if tol["acc_matrix"] is not None:
        assert np.abs(cal.acc_matrix - true["acc_matrix"]).max() < tol["acc_matrix"]
    assert (np.abs(np.diag(cal.acc_matrix) - np.diag(true["acc_matrix"])).max()
            < tol["acc_matrix_diagonal"])
    assert np.abs(cal.gyr_bias_rads - true["gyr_bias_rads"]).max() < tol["gyr_bias_rads"]
    assert len(cal.residuals_mps2) == len(expected["poses"])


def test_models_file_is_consistent():
    models = json.loads((SESSIONS.parent / "models.json").read_text())
    for name, m in models["models"].items():
        for key in ("acc_zero_g_offset_mg", "acc_sensitivity_error_pct",
                    "acc_cross_axis_pct", "gyr_zero_rate_offset_dps", "axes"):
            assert key in m, (name, key)
    # The simulated error ranges of the tests cover every modern part listed there.
    for name, m in models["models"].items():
        if m.get("class") == "cheap":
            continue
        assert m["acc_zero_g_offset_mg"] * 9.80665e-3 <= 0.6, name
        assert m["acc_sensitivity_error_pct"] <= 3.0 and m["acc_cross_axis_pct"] <= 2.0, name
        assert np.radians(m["gyr_zero_rate_offset_dps"]) <= 0.035, name
