"""Sensor calibration: estimate it, store it per sensor, apply it.

Modules: :mod:`~imu_hip.calibration.record` (the record, storage, applying),
:mod:`~imu_hip.calibration.poses` (static poses and the accelerometer fit),
:mod:`~imu_hip.calibration.guide` (the guided procedure), :mod:`~imu_hip.calibration.gyro`
(gyroscope bias from still periods), :mod:`~imu_hip.calibration.mounting` (per-session mounting
and the analysis hook), :mod:`~imu_hip.calibration.device` (imu-hip protocol write/read-back),
:mod:`~imu_hip.calibration.simulate` (a sensor with known errors). Everything public is
importable from ``imu_hip.calibration``. (The top-level ``calibration/`` folder of the
repository holds reference data, not code.)

What is estimated
-----------------
- **Accelerometer** bias ``b`` (m/s², 3 values) and a combined scale and axis-misalignment matrix
  ``A`` (3×3): ``a_calibrated = A @ (a_raw - b)``. Both come from several static poses (the
  sensor lying still in different orientations) by nonlinear least squares on the gravity
  magnitude: in every pose ``|A (m_i - b)| = G`` (``m_i`` the pose's mean raw reading).
  Magnitudes say nothing about a rotation of the sensor frame, so ``A`` is taken **symmetric**
  (the polar factor of the true matrix: the calibrated axes are the orthonormal frame closest to
  the sensor's own axes; the remaining small rotation is absorbed by the per-session mounting).
  Six poses (each axis up and down) determine the bias and the three scale factors; the three
  cross-axis terms need poses with gravity between two axes (the sensor tilted onto an edge), so
  the default procedure has six face poses plus six tilted poses. With face poses only, the
  cross-axis terms are fixed to zero and the result says so.
- **Gyroscope bias** (rad/s): the mean angular rate over every still period of at least 2 s
  (:func:`track_gyro_bias`; stillness as in :mod:`imu_hip.dsp.still`: moving standard deviation
  of ``|a|`` below 0.15 m/s² and of ``|ω|`` below 0.02 rad/s over 0.5 s windows, for at least
  2 s without interruption). In a calibration session it is the mean over the poses; in a
  recording it is tracked over the session (before, during and after a run) and interpolated
  linearly in time between still periods (held constant before the first and after the last);
  live, :class:`GyroBiasTracker` does it causally (the estimate of the still periods so far).
  The gyroscope scale would need a rate table and is not estimated.
- **Mounting** (per session, :func:`estimate_mounting`): the sensor-to-body rotation (gravity
  plus the first running strides for forward, :mod:`imu_hip.dsp.alignment`) and the
  standing-neutral pelvis angles, the zero for tilt and obliquity. The analysis
  (:mod:`imu_hip.pipeline`) does the same itself on every recording.

Poses with movement, saturation, too few poses or poor coverage, and poses that disagree with
the others are refused with a :class:`CalibrationError` that says what to repeat or add; the
guided procedure (:class:`AccelCalibrationGuide`) is a pure state machine fed with blocks.

Uncertainty: the covariance of the parameters is ``σ² (JᵀJ)⁻¹`` (``J`` the Jacobian of the
residuals at the solution), with ``σ`` the larger of the residual standard deviation (when there
are more poses than parameters) and the standard error of a pose's mean magnitude from the
sensor noise. Reported as standard deviations.

Storage: one JSON file per sensor, named after its device id, in
``platformdirs.user_data_dir("imu-hip")/calibration`` (or ``$IMU_HIP_DATA_DIR/calibration``).
Recordings are never rewritten: the calibration is applied when a recording is analysed (the
summary names the calibration) and to live blocks when the sensor connects.
"""

from __future__ import annotations

from imu_hip.calibration.device import (
    CommandChannel,
    read_from_device,
    write_to_device,
)
from imu_hip.calibration.guide import (
    DEFAULT_POSES,
    EDGE_POSES,
    FACE_POSES,
    AccelCalibrationGuide,
    GuideEvent,
    PoseSpec,
)
from imu_hip.calibration.gyro import (
    GyroBiasTrack,
    GyroBiasTracker,
    LiveCalibration,
    session_calibration_for,
    tilt_rate_rads,
    track_gyro_bias,
)
from imu_hip.calibration.mounting import (
    Mounting,
    estimate_mounting,
    prepare_for_analysis,
)
from imu_hip.calibration.poses import (
    BIAS_MAX_MPS2,
    DELETED_RESIDUAL_MAX_MPS2,
    EDGE_MIN_SHARE,
    FACE_MAX_DEG,
    MATRIX_DEV_MAX,
    POSE_ACC_STD_MAX_MPS2,
    POSE_DRIFT_MAX_DEG,
    POSE_GYR_STD_MAX_RADS,
    POSE_MERGE_DEG,
    POSE_MIN_S,
    POSE_WINDOW_S,
    RESIDUAL_RMS_MAX_MPS2,
    SATURATION_SHARE,
    Pose,
    calibrate_from_recording,
    coverage,
    describe_direction,
    find_static_poses,
    fit_accelerometer,
    merge_poses,
    pose_from_samples,
)
from imu_hip.calibration.record import (
    APPLIED_KEY,
    FILE_VERSION,
    TRACKING_KEY,
    Calibration,
    CalibrationError,
    applied_calibration,
    apply_calibration,
    calibration_dir,
    calibration_for,
    calibration_from_metadata,
    calibration_path,
    load_calibration,
    raw_acc_map,
    save_calibration,
)
from imu_hip.calibration.simulate import (
    PoseSimulator,
    SensorErrors,
    random_sensor_errors,
    run_simulated_guide,
    simulate_pose_session,
)
from imu_hip.paths import DATA_DIR_ENV, data_dir

__all__ = [
    "APPLIED_KEY",
    "AccelCalibrationGuide",
    "BIAS_MAX_MPS2",
    "Calibration",
    "CalibrationError",
    "CommandChannel",
    "DATA_DIR_ENV",
    "DEFAULT_POSES",
    "DELETED_RESIDUAL_MAX_MPS2",
    "EDGE_MIN_SHARE",
    "EDGE_POSES",
    "FACE_MAX_DEG",
    "FACE_POSES",
    "FILE_VERSION",
    "GuideEvent",
    "GyroBiasTrack",
    "GyroBiasTracker",
    "LiveCalibration",
    "MATRIX_DEV_MAX",
    "Mounting",
    "POSE_ACC_STD_MAX_MPS2",
    "POSE_DRIFT_MAX_DEG",
    "POSE_GYR_STD_MAX_RADS",
    "POSE_MERGE_DEG",
    "POSE_MIN_S",
    "POSE_WINDOW_S",
    "Pose",
    "PoseSimulator",
    "PoseSpec",
    "RESIDUAL_RMS_MAX_MPS2",
    "SATURATION_SHARE",
    "SensorErrors",
    "TRACKING_KEY",
    "applied_calibration",
    "apply_calibration",
    "calibrate_from_recording",
    "calibration_dir",
    "calibration_for",
    "calibration_from_metadata",
    "raw_acc_map",
    "calibration_path",
    "coverage",
    "data_dir",
    "describe_direction",
    "estimate_mounting",
    "find_static_poses",
    "fit_accelerometer",
    "load_calibration",
    "merge_poses",
    "pose_from_samples",
    "prepare_for_analysis",
    "random_sensor_errors",
    "read_from_device",
    "run_simulated_guide",
    "save_calibration",
    "session_calibration_for",
    "simulate_pose_session",
    "tilt_rate_rads",
    "track_gyro_bias",
    "write_to_device",
]
