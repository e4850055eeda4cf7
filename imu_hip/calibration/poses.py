"""Static poses in a recording and the accelerometer fit on the gravity magnitude."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from imu_hip.calibration.record import (
    _AXES,
    Calibration,
    CalibrationError,
)
from imu_hip.dsp.filters import moving_mean
from imu_hip.dsp.still import moving_std, runs_of_true
from imu_hip.model import G, SensorRecording

#: Largest per-axis moving std of the raw acceleration (m/s²) in a static pose. Sensor noise is
#: 0.01-0.04 m/s² RMS at 100-400 Hz (70-250 µg/√Hz, ICM-42688-P / BMI270 / LSM6DSO datasheets);
#: a hand holding the sensor reads 0.1-0.5 m/s².
POSE_ACC_STD_MAX_MPS2 = 0.12
#: Largest per-axis moving std of the angular rate (rad/s) in a static pose.
POSE_GYR_STD_MAX_RADS = 0.02
#: Largest change of the gravity direction (deg) between the first and the last third of a pose
#: (a slow turn; the mean angular rate cannot be used for this: cheap gyroscopes have zero-rate
#: offsets up to ±20 °/s, MPU-6050 datasheet).
POSE_DRIFT_MAX_DEG = 2.0
#: Window of the moving statistics (s).
POSE_WINDOW_S = 0.5
#: Least still time (s) for a pose found in a recording.
POSE_MIN_S = 3.0
#: Two poses whose gravity directions are closer than this (deg) are one pose.
POSE_MERGE_DEG = 10.0
#: A face pose: gravity within this angle (deg) of the axis.
FACE_MAX_DEG = 30.0
#: A tilted pose shows a cross-axis pair when both components exceed this share of |g|
#: (sin 25°: between 25° and 65° from either axis).
EDGE_MIN_SHARE = 0.42
#: Largest RMS residual (m/s²) of an accepted fit (≈5 mg; a good fit is below 0.01 m/s²).
RESIDUAL_RMS_MAX_MPS2 = 0.05
#: Largest leave-one-out residual (m/s²): how far a pose's |g| is from the fit of the other
#: poses, ``r_k / (1 - h_kk)`` (``h`` the leverage). With few spare poses a bad pose pulls the fit
#: towards itself and keeps its own residual small; this catches it (≈5 mg).
DELETED_RESIDUAL_MAX_MPS2 = 0.05
#: Plausibility bounds of a fit: |bias| per axis (m/s²) and |A - I| per element.
BIAS_MAX_MPS2 = 3.0
MATRIX_DEV_MAX = 0.15
#: A channel is saturated when it reaches this share of its range.
SATURATION_SHARE = 0.995

# ------------------------------------------------------------------------------------------
# static poses


@dataclass(eq=False)
class Pose:
    """A static pose: ``acc_mean_mps2`` (3,) mean raw acceleration, ``acc_std_mps2`` (3,) its
    per-axis sample std, ``gyr_mean_rads`` (3,) or None, ``n`` samples, ``t_start_s`` /
    ``t_stop_s`` (s), ``saturated_axes`` (axis letters that reached the range)."""

    acc_mean_mps2: np.ndarray
    acc_std_mps2: np.ndarray
    gyr_mean_rads: np.ndarray | None
    n: int
    t_start_s: float
    t_stop_s: float
    saturated_axes: str = ""

    @property
    def direction(self) -> np.ndarray:
        """Unit vector of the mean reading (the sensor-frame "up")."""
        return self.acc_mean_mps2 / np.linalg.norm(self.acc_mean_mps2)

    def describe(self) -> str:
        """Plain-text name of the orientation, e.g. ``z up`` or ``x up / y down (tilted)``."""
        return describe_direction(self.direction)


def describe_direction(u: np.ndarray) -> str:
    """``"z up"``, ``"x down"`` or, tilted, ``"x up / z up (tilted)"`` for a unit vector."""
    u = np.asarray(u, dtype=np.float64)
    order = np.argsort(-np.abs(u))
    first = f"{_AXES[order[0]]} {'up' if u[order[0]] > 0 else 'down'}"
    if abs(u[order[1]]) < EDGE_MIN_SHARE:
        return first
    second = f"{_AXES[order[1]]} {'up' if u[order[1]] > 0 else 'down'}"
    return f"{first} / {second} (tilted)"


def _static_mask(acc: np.ndarray, gyr: np.ndarray | None, rate_hz: float) -> np.ndarray:
    """Samples whose surrounding window is static (per-axis tests, so a slow turn is caught)."""
    width = max(3, int(round(POSE_WINDOW_S * rate_hz)))
    finite = np.all(np.isfinite(acc), axis=1)
    a = np.where(finite[:, None], acc, 0.0)
    ok = np.ones(len(acc), dtype=bool)
    for i in range(3):
        ok &= moving_std(a[:, i], width) < POSE_ACC_STD_MAX_MPS2
    if gyr is not None:
        gfin = np.all(np.isfinite(gyr), axis=1)
        finite &= gfin
        g = np.where(gfin[:, None], gyr, 0.0)
        for i in range(3):
            ok &= moving_std(g[:, i], width) < POSE_GYR_STD_MAX_RADS
    bad = moving_mean((~finite).astype(np.float64), width) > 0.5 / width
    return ok & ~bad


def _saturated(acc: np.ndarray, range_mps2: float | None) -> str:
    """Axis letters that reach the range, or (range unknown) read one constant value."""
    out = ""
    for i in range(3):
        x = acc[:, i]
        if range_mps2 is not None and np.max(np.abs(x)) >= SATURATION_SHARE * range_mps2:
            out += _AXES[i]
        elif len(x) > 10 and np.ptp(x) == 0.0 and abs(x[0]) > 0.5 * G:
            out += _AXES[i]  # clipped: a full-scale reading without any noise
    return out


def _drift_deg(acc: np.ndarray) -> float:
    """Angle (deg) between the mean directions of the first and the last third of a stretch."""
    k = max(1, len(acc) // 3)
    a, b = acc[:k].mean(axis=0), acc[-k:].mean(axis=0)
    c = float(a @ b) / max(float(np.linalg.norm(a) * np.linalg.norm(b)), 1e-300)
    return math.degrees(math.acos(min(1.0, max(-1.0, c))))


def pose_from_samples(t_s: np.ndarray, acc_mps2: np.ndarray, gyr_rads: np.ndarray | None,
                      range_mps2: float | None = None) -> Pose:
    """Statistics of one static stretch of samples."""
    acc = np.asarray(acc_mps2, dtype=np.float64)
    return Pose(
        acc_mean_mps2=acc.mean(axis=0),
        acc_std_mps2=acc.std(axis=0),
        gyr_mean_rads=None if gyr_rads is None else np.asarray(gyr_rads).mean(axis=0),
        n=len(acc),
        t_start_s=float(t_s[0]),
        t_stop_s=float(t_s[-1]),
        saturated_axes=_saturated(acc, range_mps2),
    )


def merge_poses(poses: list[Pose]) -> list[Pose]:
    """Merge poses whose directions are within :data:`POSE_MERGE_DEG` (sample-weighted), e.g. a
    pose split in two by a bump. Order of first appearance is kept."""
    out: list[Pose] = []
    cos_max = math.cos(math.radians(POSE_MERGE_DEG))
    for p in poses:
        for k, q in enumerate(out):
            if float(p.direction @ q.direction) > cos_max:
                n = p.n + q.n
                mean = (p.acc_mean_mps2 * p.n + q.acc_mean_mps2 * q.n) / n
                var = ((p.acc_std_mps2**2 + (p.acc_mean_mps2 - mean) ** 2) * p.n
                       + (q.acc_std_mps2**2 + (q.acc_mean_mps2 - mean) ** 2) * q.n) / n
                gyr = None
                if p.gyr_mean_rads is not None and q.gyr_mean_rads is not None:
                    gyr = (p.gyr_mean_rads * p.n + q.gyr_mean_rads * q.n) / n
                sat = "".join(sorted(set(p.saturated_axes + q.saturated_axes)))
                out[k] = Pose(mean, np.sqrt(var), gyr, n, min(p.t_start_s, q.t_start_s),
                              max(p.t_stop_s, q.t_stop_s), sat)
                break
        else:
            out.append(p)
    return out


def find_static_poses(
    sensor: SensorRecording,
    min_still_s: float = POSE_MIN_S,
    range_mps2: float | None = None,
) -> tuple[list[Pose], list[str]]:
    """Static poses in a recording and plain-text notes on the stretches that were rejected.

    A pose is a stretch of at least ``min_still_s`` where every axis is static (see the
    ``POSE_*`` constants); its first and last 0.25 s are left out. Stretches that were static
    for 1 s up to ``min_still_s`` are reported as moved. Poses in the same orientation are merged.
    """
    acc, gyr, rate = sensor.acc_mps2, sensor.gyr_rads, sensor.rate_hz
    mask = _static_mask(acc, gyr, rate)
    trim = int(round(0.25 * rate))
    poses: list[Pose] = []
    notes: list[str] = []
    for s, e in zip(*runs_of_true(mask), strict=True):
        dur = (e - s) / rate
        if dur < min_still_s:
            if dur >= 1.0:
                u = acc[s:e].mean(axis=0)
                notes.append(f"{sensor.t_s[s]:.1f}-{sensor.t_s[e - 1]:.1f} s "
                             f"({describe_direction(u / np.linalg.norm(u))}): still for only "
                             f"{dur:.1f} s (need {min_still_s:g} s), it moved; hold each pose "
                             "without touching the sensor")
            continue
        sl = slice(s + trim, e - trim)
        drift = _drift_deg(acc[sl])
        if drift > POSE_DRIFT_MAX_DEG:
            notes.append(f"{sensor.t_s[s]:.1f}-{sensor.t_s[e - 1]:.1f} s: the sensor turned "
                         f"{drift:.1f}° during the pose; rest it on a firm surface")
            continue
        poses.append(pose_from_samples(sensor.t_s[sl], acc[sl],
                                       None if gyr is None else gyr[sl], range_mps2))
    return merge_poses(poses), notes


# ------------------------------------------------------------------------------------------
# the accelerometer fit


_OFFDIAG = ((0, 1), (0, 2), (1, 2))


def _matrix(params: np.ndarray, full: bool) -> np.ndarray:
    m = np.eye(3) + np.diag(params[3:6])
    if full:
        for k, (i, j) in enumerate(_OFFDIAG):
            m[i, j] = m[j, i] = params[6 + k]
    return m


def _residuals(params: np.ndarray, means: np.ndarray, full: bool, gravity: float = G
               ) -> np.ndarray:
    v = (means - params[:3]) @ _matrix(params, full).T
    return np.linalg.norm(v, axis=1) - gravity


def coverage(directions: np.ndarray) -> tuple[list[str], list[str]]:
    """What the poses do not cover: missing face directions (e.g. ``"x down"``) and missing
    cross-axis pairs (e.g. ``"x-y"``), for unit vectors (k, 3)."""
    u = np.asarray(directions, dtype=np.float64).reshape(-1, 3)
    cos_face = math.cos(math.radians(FACE_MAX_DEG))
    faces = [f"{_AXES[i]} {word}" for i in range(3) for sign, word in ((1, "up"), (-1, "down"))
             if not np.any(sign * u[:, i] > cos_face)]
    pairs = [f"{_AXES[i]}-{_AXES[j]}" for i, j in _OFFDIAG
             if not np.any((np.abs(u[:, i]) > EDGE_MIN_SHARE) & (np.abs(u[:, j]) > EDGE_MIN_SHARE))]
    return faces, pairs


def fit_accelerometer(
    poses: list[Pose],
    device_id: str = "unknown",
    *,
    model: str = "",
    method: str = "static poses",
    gravity_mps2: float = G,
) -> Calibration:
    """Accelerometer bias and symmetric scale/misalignment matrix from static poses (least
    squares on the gravity magnitude, :func:`scipy.optimize.least_squares`), plus the gyroscope
    bias as the mean angular rate over the poses.

    ``gravity_mps2``: local gravity (default standard gravity; it differs by up to ±0.3 % between
    the equator and the poles, and whatever is assumed here goes into the scale).

    Raises :class:`CalibrationError` with guidance when the poses cannot give a trustworthy
    calibration: saturated poses, fewer than six distinct poses, an axis never pointing up or
    down, residuals too large, or implausible values.
    """
    from scipy.optimize import least_squares

    sat = [p for p in poses if p.saturated_axes]
    if sat:
        p = sat[0]
        raise CalibrationError(
            f"pose '{p.describe()}' ({p.t_start_s:.1f} s): axis {', '.join(p.saturated_axes)} "
            "is saturated (at its range limit); set the sensor to a range of ±4 g or more and "
            "repeat that pose")
    poses = merge_poses(list(poses))
    dirs = np.array([p.direction for p in poses]).reshape(-1, 3)
    faces_missing, pairs_missing = coverage(dirs)
    if len(poses) < 6 or faces_missing:
        have = ", ".join(p.describe() for p in poses) or "none"
        need = ("; still missing: " + ", ".join(faces_missing)) if faces_missing else ""
        raise CalibrationError(
            f"{len(poses)} distinct still pose(s) ({have}); the calibration needs at least six, "
            f"each sensor axis once pointing up and once down{need}. Hold each pose still for "
            f"{POSE_MIN_S:g} s or more")
    full = not pairs_missing and len(poses) >= 9
    means = np.array([p.acc_mean_mps2 for p in poses])
    n_par = 9 if full else 6
    x0 = np.zeros(n_par)
    sol = least_squares(_residuals, x0, args=(means, full, gravity_mps2), method="lm",
                        xtol=1e-14, ftol=1e-14, gtol=1e-14)
    res = _residuals(sol.x, means, full, gravity_mps2)
    bias = sol.x[:3]
    mat = _matrix(sol.x, full)
    rms = float(np.sqrt(np.mean(res**2)))
    worst = int(np.argmax(np.abs(res)))
    if rms > RESIDUAL_RMS_MAX_MPS2:
        raise CalibrationError(
            f"the poses do not agree (RMS residual {rms:.3f} m/s², largest {res[worst]:+.3f} m/s² "
            f"in pose '{poses[worst].describe()}' at {poses[worst].t_start_s:.1f} s): the sensor "
            "probably moved or rested on something that vibrates; repeat that pose on a firm, "
            "still surface")
    jac = sol.jac
    try:
        jtj_inv = np.linalg.inv(jac.T @ jac)
    except np.linalg.LinAlgError:
        jtj_inv = np.full((n_par, n_par), np.nan)
    leverage = np.einsum("ij,jk,ik->i", jac, jtj_inv, jac)
    checkable = leverage < 0.98
    deleted = np.where(checkable, res / np.where(checkable, 1 - leverage, 1.0), 0.0)
    bad = int(np.argmax(np.abs(deleted)))
    if abs(deleted[bad]) > DELETED_RESIDUAL_MAX_MPS2:
        raise CalibrationError(
            f"pose '{poses[bad].describe()}' at {poses[bad].t_start_s:.1f} s does not agree with "
            f"the others (off by {deleted[bad]:+.3f} m/s² from their fit): the sensor probably "
            "moved or rested on something that vibrates or accelerates; repeat that pose on a "
            "firm, still surface")
    if np.max(np.abs(bias)) > BIAS_MAX_MPS2 or np.max(np.abs(mat - np.eye(3))) > MATRIX_DEV_MAX:
        raise CalibrationError(
            f"implausible result (bias {np.round(bias, 3).tolist()} m/s², largest scale or "
            f"cross-axis error {np.max(np.abs(mat - np.eye(3))):.1%}): check the units "
            "(m/s², gravity included) and that each pose was still")

    # uncertainty: σ² (JᵀJ)⁻¹
    dof = len(poses) - n_par
    noise_sem = float(np.sqrt(np.mean([np.sum(p.acc_std_mps2**2) / 3 / p.n for p in poses])))
    sigma = max(noise_sem, math.sqrt(float(res @ res) / dof) if dof > 0 else 0.0)
    sd = np.sqrt(np.clip(np.diag(sigma**2 * jtj_inv), 0.0, None))
    mat_sd = np.diag(sd[3:6])
    if full:
        for k, (i, j) in enumerate(_OFFDIAG):
            mat_sd[i, j] = mat_sd[j, i] = sd[6 + k]

    gyr_means = [p.gyr_mean_rads for p in poses if p.gyr_mean_rads is not None]
    gyr_bias = np.zeros(3)
    gyr_sd = np.full(3, np.nan)
    if gyr_means:
        weights = np.array([p.n for p in poses if p.gyr_mean_rads is not None], dtype=float)
        g = np.array(gyr_means)
        gyr_bias = weights @ g / weights.sum()
        if len(g) > 1:
            gyr_sd = g.std(axis=0, ddof=1) / math.sqrt(len(g))
    notes = [f"{len(poses)} poses: " + ", ".join(p.describe() for p in poses)]
    if not full:
        notes.append("cross-axis (misalignment) terms not estimated (fixed at 0): add tilted "
                     "poses with gravity between " + ", ".join(pairs_missing or ["two axes"]))
    if not gyr_means:
        notes.append("no gyroscope: gyr_bias_rads is 0 (tracked from still periods in use)")
    notes.append("gyroscope scale not estimated (needs a rate table)")
    uncertainty = {
        "acc_bias_mps2": sd[:3],
        "acc_matrix": mat_sd,
        "gyr_bias_rads": gyr_sd,
        "rms_residual_mps2": rms,
        "sigma_mps2": sigma,
        "dof": dof,
        "max_leave_one_out_residual_mps2": float(np.max(np.abs(deleted))),
        "misalignment_estimated": full,
    }
    return Calibration(device_id=device_id, acc_bias_mps2=bias, acc_matrix=mat,
                       gyr_bias_rads=gyr_bias, method=method, residuals_mps2=res.tolist(),
                       uncertainty=uncertainty, notes=notes, model=model)


def calibrate_from_recording(sensor: SensorRecording, device_id: str | None = None,
                             range_mps2: float | None = None, model: str = "") -> Calibration:
    """Find the static poses in a recording and fit them (:func:`fit_accelerometer`); rejected
    stretches are named in the error when the poses are not enough."""
    poses, notes = find_static_poses(sensor, range_mps2=range_mps2)
    try:
        return fit_accelerometer(poses, device_id or sensor.sensor_id, model=model,
                                 method="static poses from a recording")
    except CalibrationError as e:
        if notes:
            raise CalibrationError(f"{e} (rejected: {'; '.join(notes[:4])})") from None
        raise
