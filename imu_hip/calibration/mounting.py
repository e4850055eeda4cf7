"""Per-session mounting, and the hook that prepares a recording for analysis."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from imu_hip.calibration.gyro import (
    track_gyro_bias,
)
from imu_hip.calibration.record import (
    APPLIED_KEY,
    TRACKING_KEY,
    Calibration,
    applied_calibration,
    apply_calibration,
    calibration_for,
    calibration_path,
)
from imu_hip.dsp.still import still_mask
from imu_hip.model import ImuHipError, InputError, SensorRecording

# ------------------------------------------------------------------------------------------
# mounting (per session) and the analysis hook


@dataclass(eq=False)
class Mounting:
    """Per-session mounting: ``rotation`` (3, 3) sensor-to-body (``body = rotation @ sensor``),
    its qualities (0-1), ``neutral_deg`` (obliquity, tilt, rotation) while standing or None,
    and ``method``."""

    rotation: np.ndarray
    vertical_quality: float
    forward_quality: float
    neutral_deg: np.ndarray | None
    method: str


def estimate_mounting(sensor: SensorRecording, calibration: Calibration | None = None,
                      window_s: float = 30.0) -> Mounting:
    """Sensor-to-body rotation and standing-neutral pelvis angles from the first ``window_s`` of
    a session (a standing phase, then the first running strides for the forward direction).

    Reuses :func:`imu_hip.dsp.alignment.estimate_alignment` and the pelvis orientation filter;
    the analysis pipeline does the same on every recording. Tilt and obliquity relative to
    ``neutral_deg`` are the angles against the runner's own standing posture.
    """
    from imu_hip.dsp.alignment import estimate_alignment
    from imu_hip.dsp.orientation import PelvisOrientation
    from imu_hip.metrics.pelvis import standing_neutral_deg

    if calibration is not None:
        sensor = apply_calibration(sensor, calibration)
    n = min(len(sensor), int(round(window_s * sensor.rate_hz)))
    acc = sensor.acc_mps2[:n]
    gyr = None if sensor.gyr_rads is None else sensor.gyr_rads[:n]
    al = estimate_alignment(acc, gyr, sensor.rate_hz)
    neutral = None
    if gyr is not None:
        acc_b, gyr_b = al.apply(acc), al.apply(gyr)
        ang = PelvisOrientation(sensor.rate_hz).push(acc_b, gyr_b)
        still = still_mask(acc_b, gyr_b, sensor.rate_hz)
        still[: int(round(sensor.rate_hz))] = False  # let the filter settle
        neutral = standing_neutral_deg(ang, still)
    return Mounting(al.rotation, al.vertical_quality, al.forward_quality, neutral, al.method)


def prepare_for_analysis(sensor: SensorRecording, calibration: Calibration | str | None = "auto"
                         ) -> tuple[SensorRecording, dict[str, Any]]:
    """The hook of :func:`imu_hip.pipeline.analyze_sensor`: the stream to analyse and what was
    done to it (for the summary).

    ``calibration``: ``"auto"`` (the stored calibration of the sensor's id, if any), a
    :class:`Calibration`, or None (raw: nothing applied, no gyro tracking). Unless None, with a
    gyroscope, the bias left after that is tracked over the still periods (>= 2 s) of the
    recording and subtracted. A recording that states a calibration applied when it was
    recorded (live session) gets no second one, only the gyro tracking.
    """
    info: dict[str, Any] = {"applied": "none", "gyro_bias_still_periods": 0}
    if calibration is None:
        return sensor, info
    done = applied_calibration(sensor.metadata)
    cal = None
    if done is not None:
        info["applied"] = done + " (applied when recorded)"
    elif calibration == "auto":
        cal = calibration_for(sensor.sensor_id)
        if cal is not None:
            info["file"] = str(calibration_path(sensor.sensor_id))
    elif isinstance(calibration, Calibration):
        cal = calibration
    else:
        raise ImuHipError(f"calibration must be 'auto', None or a Calibration, got "
                          f"{calibration!r}")
    acc, gyr = sensor.acc_mps2, sensor.gyr_rads
    if cal is not None:
        acc = cal.correct_acc(acc)
        gyr = None if gyr is None else cal.correct_gyr(gyr)
        info["applied"] = cal.label()
    if gyr is not None and len(sensor) > 2 * sensor.rate_hz:
        try:
            track = track_gyro_bias(sensor.t_s, acc, gyr, sensor.rate_hz)
        except InputError:
            track = None
        if track is not None and len(track):
            gyr = track.removed_from(sensor.t_s, gyr)
            info["gyro_bias_still_periods"] = len(track)
            info["gyro_bias_tracked_rads"] = np.median(track.bias_rads, axis=0)
    if cal is None and info["gyro_bias_still_periods"] == 0:
        return sensor, info
    meta = dict(sensor.metadata)
    if cal is not None:  # as a live session writes it: what was applied, with its numbers
        meta.update({f"calibration.{k}": v for k, v in cal.metadata().items()})
        meta[APPLIED_KEY] = info["applied"]
    if info["gyro_bias_still_periods"]:
        meta[TRACKING_KEY] = (
            f"subtracted, from {info['gyro_bias_still_periods']} still periods")
    out = SensorRecording(sensor.sensor_id, sensor.placement, sensor.rate_hz, sensor.t_s, acc,
                          gyr, meta)
    return out, info
