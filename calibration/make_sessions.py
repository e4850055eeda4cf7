"""Regenerate the recorded calibration sessions in ``sessions/`` (deterministic).

These sessions are SIMULATED (imu_hip.calibration.simulate_pose_session): a sensor with known,
randomly drawn errors is turned through the poses by a simulated hand. They are not recordings
of real hardware. Each ``<name>.csv`` (imu-hip CSV, 50 Hz, values rounded to 0.1 mm/s² and
10 µrad/s) has a ``<name>.json`` with the true errors and what the estimator must give.

Run: ``python calibration/make_sessions.py`` from the repository root.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from imu_hip import calibration as C

HERE = Path(__file__).parent / "sessions"


def _write_csv(rec, path: Path) -> None:
    lines = [f"# sensor_id: {rec.sensor_id}", f"# placement: {rec.placement}",
             f"# rate_hz: {rec.rate_hz:g}", "# simulated: true",
             "# source: calibration/make_sessions.py (imu_hip.calibration.simulate_pose_session)",
             "time_s,acc_x_mps2,acc_y_mps2,acc_z_mps2,gyr_x_rads,gyr_y_rads,gyr_z_rads"]
    for t, a, g in zip(rec.t_s, rec.acc_mps2, rec.gyr_rads, strict=True):
        lines.append(f"{t:.2f},{a[0]:.4f},{a[1]:.4f},{a[2]:.4f},{g[0]:.5f},{g[1]:.5f},{g[2]:.5f}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def make(name: str, seed: int, poses, *, shake_in=(), expect_error: str | None = None,
         errors_kw: dict | None = None, note: str = "") -> None:
    errors = C.random_sensor_errors(np.random.default_rng(seed), **(errors_kw or {}))
    rec = C.simulate_pose_session(errors, poses, rate_hz=50.0, hold_s=4.0, move_s=2.0,
                                  seed=seed, device_id=f"sim-{name}", shake_in=shake_in)
    _write_csv(rec, HERE / f"{name}.csv")
    expected = {
        "simulated": True,
        "note": note,
        "poses": [p.name for p in poses],
        "true": {
            "acc_bias_mps2": errors.acc_bias_mps2.tolist(),
            "acc_matrix_general": errors.acc_matrix.tolist(),
            "acc_matrix": errors.symmetric_matrix().tolist(),
            "gyr_bias_rads": errors.gyr_bias_rads.tolist(),
            "acc_noise_mps2": errors.acc_noise_mps2,
            "gyr_noise_rads": errors.gyr_noise_rads,
        },
    }
    if expect_error:
        expected["expect_error_containing"] = expect_error
    else:
        full = len(poses) >= 9
        expected["tolerance"] = {"acc_bias_mps2": 0.01,
                                 "acc_matrix": 0.002 if full else None,
                                 "acc_matrix_diagonal": 0.002 if full else 0.025,
                                 "gyr_bias_rads": 0.001}
    (HERE / f"{name}.json").write_text(json.dumps(expected, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    HERE.mkdir(exist_ok=True)
    make("twelve_poses", 101, C.DEFAULT_POSES,
         note="the default procedure: six faces and six tilted poses; bias, scale and "
         "misalignment are recovered")
    make("six_faces", 102, C.FACE_POSES,
         note="six face poses only: bias and scale; the cross-axis terms are not estimated, so "
         "the diagonal is compared with a looser tolerance (the symmetric truth has up to 2 % "
         "cross-axis terms that a face-only fit cannot see)")
    make("six_faces_one_moved", 103, C.FACE_POSES, shake_in=[2],
         expect_error="moved",
         note="pose 3 (y up) is interrupted by hand movement: the session must be refused with "
         "guidance, not turned into a calibration")
    make("mpu6050_class", 104, C.DEFAULT_POSES,
         errors_kw={"bias_max_mps2": 0.8, "scale_max": 0.03, "cross_max": 0.02,
                    "gyr_bias_max_rads": 0.35, "acc_noise_mps2": 0.04},
         note="errors of a cheap part (MPU-6050 class: ±80 mg, ±3 %, ±2 %, gyro ±20 °/s) "
         "and twice the noise")
