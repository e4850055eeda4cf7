"""Sensor calibration: estimate it, store it per sensor, apply it.

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

import datetime as _dt
import hashlib
import json
import math
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from imu_hip.dsp.filters import moving_mean
from imu_hip.dsp.still import moving_std, runs_of_true, still_mask
from imu_hip.model import Block, G, ImuHipError, InputError, SensorRecording

#: Environment variable overriding the data folder (the calibration files go in its
#: ``calibration`` sub-folder).
DATA_DIR_ENV = "IMU_HIP_DATA_DIR"
#: Version of the calibration file layout.
FILE_VERSION = 1
#: Metadata key stating which calibration was applied to a recording (the live session stores
#: :meth:`Calibration.metadata` under ``calibration.<key>``, so this is the same key).
APPLIED_KEY = "calibration.applied"
#: Metadata key saying the gyroscope bias was tracked (and subtracted) from still periods.
TRACKING_KEY = "calibration.gyro_bias_tracking"

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

_AXES = "xyz"


class CalibrationError(ImuHipError):
    """A calibration session that cannot give a trustworthy calibration; the message says what
    to do (which poses to repeat or add)."""


# ------------------------------------------------------------------------------------------
# the calibration record


def _utc_now() -> str:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(eq=False)
class Calibration:
    """One sensor's calibration (SI units). ``a_cal = acc_matrix @ (a_raw - acc_bias_mps2)``,
    ``ω_cal = ω_raw - gyr_bias_rads``.

    ``residuals_mps2``: per pose, ``|a_cal| - G`` after the fit. ``uncertainty``: standard
    deviations (``acc_bias_mps2`` (3,), ``acc_matrix`` (3, 3), ``gyr_bias_rads`` (3,)) and fit
    statistics. ``notes``: what was and was not estimated.
    """

    device_id: str
    acc_bias_mps2: np.ndarray
    acc_matrix: np.ndarray
    gyr_bias_rads: np.ndarray
    method: str = ""
    date: str = field(default_factory=_utc_now)
    residuals_mps2: list[float] = field(default_factory=list)
    uncertainty: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    model: str = ""

    def __post_init__(self) -> None:
        self.acc_bias_mps2 = np.asarray(self.acc_bias_mps2, dtype=np.float64).reshape(3)
        self.acc_matrix = np.asarray(self.acc_matrix, dtype=np.float64).reshape(3, 3)
        self.gyr_bias_rads = np.asarray(self.gyr_bias_rads, dtype=np.float64).reshape(3)

    @classmethod
    def identity(cls, device_id: str) -> Calibration:
        """No correction at all."""
        return cls(device_id, np.zeros(3), np.eye(3), np.zeros(3), method="identity")

    def label(self) -> str:
        """One line naming this calibration (for summaries and recording metadata)."""
        return f"{self.method or 'calibration'} of {self.device_id} dated {self.date}"

    def correct_acc(self, acc_mps2: np.ndarray) -> np.ndarray:
        """Calibrated (n, 3) acceleration from raw (n, 3) m/s² (row-wise, no BLAS, so the result
        of a sample never depends on how the stream was cut)."""
        v = np.asarray(acc_mps2, dtype=np.float64) - self.acc_bias_mps2
        m = self.acc_matrix
        out = np.empty(v.shape)
        for i in range(3):
            out[:, i] = m[i, 0] * v[:, 0] + m[i, 1] * v[:, 1] + m[i, 2] * v[:, 2]
        return out

    def correct_gyr(self, gyr_rads: np.ndarray) -> np.ndarray:
        """Bias-corrected (n, 3) angular rate (rad/s)."""
        return np.asarray(gyr_rads, dtype=np.float64) - self.gyr_bias_rads

    def apply(self, block: Block) -> Block:
        """The corrected block (the live session's calibration hook)."""
        out = apply_calibration(block, self)
        assert isinstance(out, Block)
        return out

    def metadata(self) -> dict[str, str]:
        """Text stored with a recording's channel to say what was applied (the session prefixes
        the keys with ``calibration.``)."""
        return {
            "applied": self.label(),
            "device_id": self.device_id,
            "date": self.date,
            "method": self.method,
            "acc_bias_mps2": json.dumps(self.acc_bias_mps2.tolist()),
            "acc_matrix": json.dumps(self.acc_matrix.tolist()),
            "gyr_bias_rads": json.dumps(self.gyr_bias_rads.tolist()),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (the file layout)."""
        return {
            "version": FILE_VERSION,
            "device_id": self.device_id,
            "model": self.model,
            "date": self.date,
            "method": self.method,
            "acc_bias_mps2": self.acc_bias_mps2.tolist(),
            "acc_matrix": self.acc_matrix.tolist(),
            "gyr_bias_rads": self.gyr_bias_rads.tolist(),
            "residuals_mps2": [float(r) for r in self.residuals_mps2],
            "uncertainty": _plain(self.uncertainty),
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, d: Any, source: str = "calibration") -> Calibration:
        """Check and read a dictionary written by :meth:`to_dict`; :class:`ImuHipError` naming
        ``source`` and the first problem otherwise."""

        def bad(why: str) -> ImuHipError:
            return ImuHipError(f"{source}: not a valid calibration file ({why})")

        if not isinstance(d, dict):
            raise bad("expected a JSON object")
        if d.get("version") != FILE_VERSION:
            raise bad(f"version {d.get('version')!r}, expected {FILE_VERSION}")
        arrays = {}
        for key, shape in (("acc_bias_mps2", (3,)), ("acc_matrix", (3, 3)),
                           ("gyr_bias_rads", (3,))):
            try:
                a = np.asarray(d[key], dtype=np.float64)
            except KeyError:
                raise bad(f"{key} missing") from None
            except (TypeError, ValueError):
                raise bad(f"{key} is not numeric") from None
            if a.shape != shape:
                raise bad(f"{key} has shape {a.shape}, expected {shape}")
            if not np.all(np.isfinite(a)):
                raise bad(f"{key} has non-finite values")
            arrays[key] = a
        if np.max(np.abs(arrays["acc_matrix"] - np.eye(3))) > 0.5:
            raise bad("acc_matrix is far from identity (scale errors above 50 %)")
        if np.max(np.abs(arrays["acc_bias_mps2"])) > 5 * G:
            raise bad("acc_bias_mps2 above 5 g")
        for key in ("device_id", "date", "method", "model"):
            if not isinstance(d.get(key, ""), str):
                raise bad(f"{key} is not text")
        if not d.get("device_id"):
            raise bad("device_id missing")
        res = d.get("residuals_mps2", [])
        if not isinstance(res, list) or not all(isinstance(r, int | float) for r in res):
            raise bad("residuals_mps2 is not a list of numbers")
        unc = d.get("uncertainty", {})
        notes = d.get("notes", [])
        if not isinstance(unc, dict) or not isinstance(notes, list):
            raise bad("uncertainty must be an object and notes a list")
        return cls(device_id=d["device_id"], model=d.get("model", ""), date=d.get("date", ""),
                   method=d.get("method", ""), residuals_mps2=[float(r) for r in res],
                   uncertainty=unc, notes=[str(n) for n in notes], **arrays)


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    if isinstance(x, np.ndarray):
        return _plain(x.tolist())
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


# ------------------------------------------------------------------------------------------
# storage


def data_dir() -> Path:
    """imu-hip's user data folder: ``$IMU_HIP_DATA_DIR`` if set, else platformdirs'."""
    env = os.environ.get(DATA_DIR_ENV)
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_data_dir("imu-hip", appauthor=False))


def calibration_dir() -> Path:
    """Folder of the per-sensor calibration files."""
    return data_dir() / "calibration"


def calibration_path(device_id: str) -> Path:
    """The calibration file of ``device_id``: a file-safe form of the id plus a short hash of
    the exact id (so ``AA:BB`` and ``AA_BB`` never share a file)."""
    if not device_id:
        raise ImuHipError("a calibration needs a device id (address or serial)")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", device_id).strip("._")[:64] or "device"
    digest = hashlib.sha256(device_id.encode("utf-8")).hexdigest()[:8]
    return calibration_dir() / f"{safe}-{digest}.json"


def save_calibration(cal: Calibration, path: str | Path | None = None) -> Path:
    """Write ``cal`` as JSON to ``path`` (default :func:`calibration_path`); return the path.
    The file is replaced atomically (a crash never leaves half a file)."""
    out = Path(path) if path is not None else calibration_path(cal.device_id)
    text = json.dumps(cal.to_dict(), indent=2) + "\n"
    tmp = out.with_name(out.name + ".tmp")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, out)
    except OSError as e:
        raise ImuHipError(f"{out}: cannot write the calibration ({e.strerror or e})") from None
    return out


def load_calibration(path: str | Path) -> Calibration:
    """Read a calibration file; a missing, unreadable or corrupt file is a one-line
    :class:`ImuHipError` naming it."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ImuHipError(f"{p}: calibration file not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ImuHipError(f"{p}: cannot read the calibration file ({e})") from None
    try:
        d = json.loads(text)
    except json.JSONDecodeError as e:
        raise ImuHipError(f"{p}: corrupt calibration file (not JSON: {e.msg} at line "
                          f"{e.lineno})") from None
    return Calibration.from_dict(d, source=str(p))


def calibration_for(device_id: str) -> Calibration | None:
    """The stored calibration of ``device_id``, or None when it has none (a corrupt file is an
    :class:`ImuHipError` naming it). This is the hook the live session calls on connect."""
    p = calibration_path(device_id)
    if not p.exists():
        return None
    cal = load_calibration(p)
    if cal.device_id != device_id:
        raise ImuHipError(f"{p}: calibration file belongs to {cal.device_id!r}, not {device_id!r}")
    return cal


# ------------------------------------------------------------------------------------------
# applying


def apply_calibration(data: SensorRecording | Block, cal: Calibration) -> SensorRecording | Block:
    """A corrected copy of a recording or a block (the input stays as it was).

    A recording's metadata states the calibration (:data:`APPLIED_KEY`); applying a second one
    to it is an error, so a correction is never applied twice.
    """
    acc = cal.correct_acc(data.acc_mps2)
    gyr = None if data.gyr_rads is None else cal.correct_gyr(data.gyr_rads)
    if isinstance(data, Block):
        return replace(data, acc_mps2=acc, gyr_rads=gyr)
    done = applied_calibration(data.metadata)
    if done is not None:
        raise ImuHipError(f"sensor {data.sensor_id!r} already has a calibration applied "
                          f"({done})")
    meta = dict(data.metadata)
    meta[APPLIED_KEY] = cal.label()
    return SensorRecording(sensor_id=data.sensor_id, placement=data.placement,
                           rate_hz=data.rate_hz, t_s=data.t_s, acc_mps2=acc, gyr_rads=gyr,
                           metadata=meta)


def applied_calibration(metadata: dict[str, str]) -> str | None:
    """What a recording's metadata says was applied already (None: no stored calibration).
    ``calibration.applied`` decides (a value starting with "none" means none); without it, any
    other ``calibration.*`` key counts (the live session stores the calibration it applied)."""
    if APPLIED_KEY in metadata:
        value = metadata[APPLIED_KEY]
        return None if value.startswith("none") else value
    keys = sorted(k for k in metadata if k.startswith("calibration.") and k != TRACKING_KEY)
    return f"calibration ({', '.join(keys)})" if keys else None


# ------------------------------------------------------------------------------------------
# gyroscope bias from still periods


@dataclass(eq=False)
class GyroBiasTrack:
    """Gyroscope bias over a session: one estimate per still period.

    ``t_s``: (k,) middle of each still period (s); ``bias_rads``: (k, 3) mean angular rate;
    ``sem_rads``: (k, 3) its standard error (sample std / √n, optimistic for correlated noise);
    ``duration_s``: (k,) length of each period.
    """

    t_s: np.ndarray
    bias_rads: np.ndarray
    sem_rads: np.ndarray
    duration_s: np.ndarray

    def __len__(self) -> int:
        return int(self.t_s.shape[0])

    def at(self, t_s: np.ndarray) -> np.ndarray:
        """Bias (n, 3) at times ``t_s``: linear between periods, constant outside them; zeros
        when there is no still period."""
        t = np.asarray(t_s, dtype=np.float64)
        if len(self) == 0:
            return np.zeros((t.shape[0], 3))
        return np.stack([np.interp(t, self.t_s, self.bias_rads[:, i]) for i in range(3)], axis=1)


def tilt_rate_rads(acc_start: np.ndarray, acc_end: np.ndarray, duration_s: float) -> np.ndarray:
    """Mean true angular rate (3,) rad/s, sensor frame, about the axes perpendicular to gravity,
    from how the measured gravity direction turned between two mean readings ``duration_s``
    apart. A quiet person still leans a little; the gyroscope sees that real rotation, the
    accelerometer sees the tilt it causes (a world-fixed vector seen from the sensor obeys
    ``du/dt = -ω × u``), so it is subtracted before a mean rate is taken as bias. Rotation about
    gravity (heading) is invisible here."""
    u0 = np.asarray(acc_start, dtype=np.float64)
    u1 = np.asarray(acc_end, dtype=np.float64)
    u0, u1 = u0 / np.linalg.norm(u0), u1 / np.linalg.norm(u1)
    c = np.cross(u0, u1)
    sn = float(np.linalg.norm(c))
    if sn == 0.0 or not duration_s > 0:
        return np.zeros(3)
    return -c / sn * math.atan2(sn, float(u0 @ u1)) / duration_s


def track_gyro_bias(
    t_s: np.ndarray,
    acc_mps2: np.ndarray,
    gyr_rads: np.ndarray,
    rate_hz: float,
    min_still_s: float = 2.0,
) -> GyroBiasTrack:
    """Gyroscope bias from every still period of at least ``min_still_s`` (see the module
    docstring): the mean rate minus the real rotation shown by the tilt of gravity over the
    period (:func:`tilt_rate_rads`, from 0.5 s means at both ends). The first and last 0.25 s of
    each period are left out (the sensor settling)."""
    acc = np.asarray(acc_mps2, dtype=np.float64)
    gyr = np.asarray(gyr_rads, dtype=np.float64)
    # Stillness is judged on every k-th sample (~100 Hz): white noise has the same standard
    # deviation there, and it costs a quarter at 400 Hz (the means below use every sample).
    k = max(1, int(rate_hz // 100))
    mask = still_mask(acc[::k], gyr[::k], rate_hz / k, min_duration_s=min_still_s)
    mask = np.repeat(mask, k)[: len(acc)]
    trim = int(round(0.25 * rate_hz))
    rows: list[tuple[float, np.ndarray, np.ndarray, float]] = []
    t = np.asarray(t_s, dtype=np.float64)
    for s, e in zip(*runs_of_true(mask), strict=True):
        s2, e2 = s + trim, e - trim
        if e2 - s2 < 2:
            continue
        g = gyr[s2:e2]
        n = e2 - s2
        w = max(1, min(int(round(0.5 * rate_hz)), n // 3))
        true_rate = tilt_rate_rads(acc[s2:s2 + w].mean(axis=0), acc[e2 - w:e2].mean(axis=0),
                                   (n - w) / rate_hz)
        rows.append((0.5 * (t[s2] + t[e2 - 1]), g.mean(axis=0) - true_rate,
                     g.std(axis=0) / math.sqrt(n), float(t[e - 1] - t[s])))
    if not rows:
        z = np.zeros((0, 3))
        return GyroBiasTrack(np.zeros(0), z, z.copy(), np.zeros(0))
    return GyroBiasTrack(
        t_s=np.array([r[0] for r in rows]),
        bias_rads=np.array([r[1] for r in rows]),
        sem_rads=np.array([r[2] for r in rows]),
        duration_s=np.array([r[3] for r in rows]),
    )


class GyroBiasTracker:
    """Live gyroscope-bias tracking: ``correct(block)`` subtracts the bias of the still periods
    seen so far (causal, for live sessions).

    Stillness is judged on tumbling windows of ``window_s`` counted in samples (std of ``|a|``
    below ``ACC_STD_MAX_MPS2`` and of ``|ω|`` below ``GYR_STD_MAX_RADS``, the thresholds of
    :mod:`imu_hip.dsp.still`). Once a still run lasts ``min_still_s``, the estimate is the mean
    rate over the run (its first window left out) minus the real rotation shown by the tilt of
    gravity since the run began (:func:`tilt_rate_rads`), updated at every further still window and
    kept when movement starts. Every sample is corrected with the estimate as of the last
    complete window before it, so the output does not depend on how the stream is cut into
    blocks. ``bias_rads`` is the current estimate (zeros before the first still period);
    ``periods`` counts still periods used.
    """

    def __init__(self, min_still_s: float = 2.0, window_s: float = 0.5):
        from imu_hip.dsp.still import ACC_STD_MAX_MPS2, GYR_STD_MAX_RADS

        self.min_still_s, self.window_s = min_still_s, window_s
        self._acc_max, self._gyr_max = ACC_STD_MAX_MPS2, GYR_STD_MAX_RADS
        self.bias_rads = np.zeros(3)
        self.periods = 0
        self._rate: float | None = None
        self._w = 0
        self._buf_a = np.zeros((0, 3))
        self._buf_g = np.zeros((0, 3))
        self._reset_run()

    def _reset_run(self) -> None:
        self._run_windows, self._run_sum, self._run_n = 0, np.zeros(3), 0
        self._counted = False

    def correct(self, block: Block) -> Block:
        """``block`` with the current bias estimate subtracted from its angular rate."""
        if block.gyr_rads is None or len(block) == 0:
            return block
        if self._rate is None:
            self._rate = float(block.rate_hz)
            self._w = max(3, int(round(self.window_s * self._rate)))
        if block.gap_before:
            self._buf_a, self._buf_g = np.zeros((0, 3)), np.zeros((0, 3))
            self._reset_run()
        acc = np.asarray(block.acc_mps2, dtype=np.float64)
        gyr = np.asarray(block.gyr_rads, dtype=np.float64)
        out = np.empty_like(gyr)
        i = 0
        while i < len(gyr):
            take = min(len(gyr) - i, self._w - len(self._buf_g))
            out[i:i + take] = gyr[i:i + take] - self.bias_rads
            self._buf_a = np.vstack([self._buf_a, acc[i:i + take]])
            self._buf_g = np.vstack([self._buf_g, gyr[i:i + take]])
            i += take
            if len(self._buf_g) == self._w:
                self._window(self._buf_a, self._buf_g)
                self._buf_a, self._buf_g = np.zeros((0, 3)), np.zeros((0, 3))
        return replace(block, gyr_rads=out)

    def _window(self, a: np.ndarray, g: np.ndarray) -> None:
        ok = bool(np.all(np.isfinite(a)) and np.all(np.isfinite(g)))
        still = ok and (np.std(np.linalg.norm(a, axis=1)) < self._acc_max
                        and np.std(np.linalg.norm(g, axis=1)) < self._gyr_max)
        if not still:
            self._reset_run()
            return
        self._run_windows += 1
        if self._run_windows == 1:
            return  # settling
        self._run_sum = self._run_sum + g.sum(axis=0)
        self._run_n += len(g)
        if self._run_windows == 2:
            self._run_a0 = a.mean(axis=0)
        if self._run_windows * self._w >= self.min_still_s * (self._rate or 1.0):
            if not self._counted:
                self._counted = True
                self.periods += 1
            true_rate = tilt_rate_rads(self._run_a0, a.mean(axis=0),
                                       (self._run_n - len(g)) / (self._rate or 1.0))
            self.bias_rads = self._run_sum / self._run_n - true_rate


class LiveCalibration:
    """What a live session applies to a sensor's blocks: its stored :class:`Calibration` (if
    any), then live gyroscope-bias tracking (:class:`GyroBiasTracker`). Has the session's
    ``apply(block)`` and ``metadata()``."""

    def __init__(self, calibration: Calibration | None, track_gyro: bool = True):
        self.calibration = calibration
        self.tracker = GyroBiasTracker() if track_gyro else None

    def apply(self, block: Block) -> Block:
        if self.calibration is not None:
            block = self.calibration.apply(block)
        if self.tracker is not None:
            block = self.tracker.correct(block)
        return block

    def metadata(self) -> dict[str, str]:
        meta = self.calibration.metadata() if self.calibration is not None else {
            "applied": "none (no stored calibration)"}
        if self.tracker is not None:
            meta["gyro_bias_tracking"] = "live, from still periods of at least 2 s"
        return meta


def session_calibration_for(device_id: str) -> LiveCalibration:
    """The ``calibration_for`` hook of :class:`imu_hip.session.Session`: the sensor's stored
    calibration plus live gyroscope-bias tracking."""
    return LiveCalibration(calibration_for(device_id))


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


# ------------------------------------------------------------------------------------------
# the guided procedure: a pure state machine fed with blocks


@dataclass(frozen=True)
class PoseSpec:
    """One pose of the procedure: the sensor-frame "up" it asks for (unit vector) and the words
    telling the user how to place the sensor."""

    name: str
    up: tuple[float, float, float]
    instruction: str

    @property
    def tilted(self) -> bool:
        return sum(abs(c) > 1e-9 for c in self.up) > 1

    def matches(self, u: np.ndarray) -> bool:
        """Whether the measured direction ``u`` (unit) is this pose."""
        target = np.asarray(self.up, dtype=np.float64)
        target = target / np.linalg.norm(target)
        limit = 25.0 if self.tilted else FACE_MAX_DEG
        return float(u @ target) > math.cos(math.radians(limit))


def _face(axis: int, sign: int) -> PoseSpec:
    up = [0.0, 0.0, 0.0]
    up[axis] = float(sign)
    word = "up" if sign > 0 else "down"
    return PoseSpec(f"{_AXES[axis]} {word}", tuple(up),
                    f"lay the sensor still with its {_AXES[axis]} axis pointing straight {word}")


def _edge(i: int, si: int, j: int, sj: int) -> PoseSpec:
    up = [0.0, 0.0, 0.0]
    up[i], up[j] = float(si), float(sj)
    wi, wj = ("up" if si > 0 else "down"), ("up" if sj > 0 else "down")
    return PoseSpec(f"{_AXES[i]} {wi} / {_AXES[j]} {wj} (tilted)", tuple(up),
                    f"tilt the sensor about 45° between {_AXES[i]} {wi} and {_AXES[j]} {wj} "
                    "(lean it on a book or the table edge) and let go")


#: Six face poses: each axis up and down.
FACE_POSES: tuple[PoseSpec, ...] = tuple(_face(a, s) for a in range(3) for s in (1, -1))
#: Six tilted poses (two per axis pair, opposite signs of the cross product) for misalignment.
EDGE_POSES: tuple[PoseSpec, ...] = (
    _edge(0, 1, 1, 1), _edge(0, -1, 1, 1), _edge(0, 1, 2, 1),
    _edge(0, -1, 2, 1), _edge(1, 1, 2, 1), _edge(1, -1, 2, 1),
)
#: The default procedure: faces then tilted poses (about two minutes).
DEFAULT_POSES: tuple[PoseSpec, ...] = FACE_POSES + EDGE_POSES


@dataclass(frozen=True)
class GuideEvent:
    """Something to tell the user. ``kind``: ``prompt`` (place the sensor), ``wrong_pose``,
    ``moving``, ``countdown`` (``remaining_s`` whole seconds left), ``accepted``, ``rejected``,
    ``done`` or ``failed``. ``pose``: index into the procedure (or -1)."""

    kind: str
    message: str
    pose: int = -1
    remaining_s: int = 0


class AccelCalibrationGuide:
    """The guided static-pose procedure as a pure state machine: ``push(block)`` returns what to
    tell the user; no clock, no terminal, no device (time is counted in samples).

    Stillness is judged on tumbling windows of ``window_s`` (per-axis std and mean angular rate,
    the ``POSE_*`` thresholds), so the outcome does not depend on how the stream is cut into
    blocks. A pose is taken once the sensor has been still in the asked orientation for
    ``settle_s`` and then ``hold_s`` without interruption; any movement restarts its countdown.
    After the last pose the fit runs: :attr:`result` is the :class:`Calibration`, or
    :attr:`error` the guidance when the fit refused.
    """

    def __init__(self, poses: Iterable[PoseSpec] = DEFAULT_POSES, device_id: str = "unknown",
                 *, hold_s: float = 4.0, settle_s: float = 1.0, window_s: float = 0.25,
                 range_mps2: float | None = None, model: str = "", method: str = ""):
        self.poses = tuple(poses)
        if not self.poses:
            raise ImuHipError("the procedure needs at least one pose")
        self.device_id = device_id
        self.hold_s, self.settle_s, self.window_s = hold_s, settle_s, window_s
        self.range_mps2 = range_mps2
        self.model = model
        self.method = method or f"guided static poses ({len(self.poses)})"
        self.index = 0
        self.accepted: list[Pose] = []
        self.result: Calibration | None = None
        self.error: str | None = None
        self._rate: float | None = None
        self._buf_t: list[np.ndarray] = []
        self._buf_a: list[np.ndarray] = []
        self._buf_g: list[np.ndarray] = []
        self._buf_n = 0
        self._reset_hold()
        self._started = False

    @property
    def finished(self) -> bool:
        return self.result is not None or self.error is not None

    @property
    def current(self) -> PoseSpec | None:
        """The pose asked for now (None when finished)."""
        return None if self.finished or self.index >= len(self.poses) else self.poses[self.index]

    def start(self) -> list[GuideEvent]:
        """The first instruction (also returned by the first :meth:`push`)."""
        if self._started:
            return []
        self._started = True
        return [self._prompt()]

    def _prompt(self) -> GuideEvent:
        spec = self.poses[self.index]
        left = len(self.poses) - self.index
        return GuideEvent("prompt", f"pose {self.index + 1} of {len(self.poses)} ({left} left): "
                          f"{spec.instruction}", self.index)

    def _reset_hold(self) -> None:
        self._still_n = 0  # samples still in the asked pose, settling included
        self._hold: list[tuple[np.ndarray, np.ndarray, np.ndarray | None]] = []
        self._hold_dir: np.ndarray | None = None
        self._last_countdown = -1
        self._last_complaint = ""

    def push(self, block: Block) -> list[GuideEvent]:
        """Feed the next samples; return the events they cause (in order)."""
        events = self.start()
        if self.finished or len(block) == 0:
            return events
        if self._rate is None:
            self._rate = float(block.rate_hz)
        if block.gap_before:
            self._buf_t, self._buf_a, self._buf_g, self._buf_n = [], [], [], 0
            if self._still_n:
                events.append(GuideEvent("moving", "samples were lost; hold the pose again",
                                         self.index))
            self._reset_hold()
        self._buf_t.append(np.asarray(block.t_s))
        self._buf_a.append(np.asarray(block.acc_mps2, dtype=np.float64))
        self._buf_g.append(None if block.gyr_rads is None else np.asarray(block.gyr_rads))
        self._buf_n += len(block)
        w = max(3, int(round(self.window_s * self._rate)))
        if self._buf_n < w:
            return events
        t = np.concatenate(self._buf_t)
        a = np.vstack(self._buf_a)
        g = None if any(x is None for x in self._buf_g) else np.vstack(self._buf_g)
        k = len(t) // w
        for i in range(k):
            sl = slice(i * w, (i + 1) * w)
            events.extend(self._window(t[sl], a[sl], None if g is None else g[sl]))
            if self.finished:
                break
        rest = slice(k * w, None)
        self._buf_t, self._buf_a = [t[rest]], [a[rest]]
        self._buf_g = [None if g is None else g[rest]]
        self._buf_n = len(t) - k * w
        return events

    def _window(self, t: np.ndarray, a: np.ndarray, g: np.ndarray | None) -> list[GuideEvent]:
        spec = self.poses[self.index]
        rate = self._rate or 1.0
        still = bool(np.all(a.std(axis=0) < POSE_ACC_STD_MAX_MPS2) and np.all(np.isfinite(a)))
        if g is not None:
            still &= bool(np.all(g.std(axis=0) < POSE_GYR_STD_MAX_RADS))
        mean = a.mean(axis=0)
        norm = float(np.linalg.norm(mean))
        u = mean / norm if norm > 0 else np.zeros(3)
        out: list[GuideEvent] = []
        was_holding = self._still_n > 0
        if not still:
            if was_holding:
                out.append(GuideEvent("moving", f"moved: hold the sensor still ({spec.name}); "
                                      "the countdown starts again", self.index))
            self._reset_hold()
            return out
        if not spec.matches(u):
            if self.accepted and float(u @ self.accepted[-1].direction) > math.cos(
                    math.radians(POSE_MERGE_DEG)):
                self._reset_hold()  # not moved yet from the pose just taken: no complaint
                return out
            msg = (f"the sensor lies {describe_direction(u)}, but this pose is {spec.name}: "
                   f"{spec.instruction}")
            if msg != self._last_complaint:
                out.append(GuideEvent("wrong_pose", msg, self.index))
            self._reset_hold()
            self._last_complaint = msg
            return out
        if self._hold_dir is not None and (float(u @ self._hold_dir)
                                           < math.cos(math.radians(POSE_DRIFT_MAX_DEG))):
            out.append(GuideEvent("moving", "the sensor turned during the pose; hold it still "
                                  "and the countdown starts again", self.index))
            self._reset_hold()
        self._still_n += len(t)
        settle_n = int(round(self.settle_s * rate))
        if self._still_n <= settle_n:
            return out
        self._hold.append((t, a, g))
        if self._hold_dir is None:
            self._hold_dir = u
        held = sum(len(x[0]) for x in self._hold) / rate
        remaining = math.ceil(self.hold_s - held - 1e-9)
        if remaining > 0:
            if remaining != self._last_countdown:
                self._last_countdown = remaining
                out.append(GuideEvent("countdown", f"still - hold it ... {remaining}",
                                      self.index, remaining))
            return out
        out.extend(self._take_pose())
        return out

    def _take_pose(self) -> list[GuideEvent]:
        t = np.concatenate([x[0] for x in self._hold])
        a = np.vstack([x[1] for x in self._hold])
        gs = [x[2] for x in self._hold]
        g = None if any(x is None for x in gs) else np.vstack(gs)
        pose = pose_from_samples(t, a, g, self.range_mps2)
        spec = self.poses[self.index]
        self._reset_hold()
        if pose.saturated_axes:
            return [GuideEvent("rejected", f"pose {spec.name}: axis "
                               f"{', '.join(pose.saturated_axes)} is at its range limit "
                               "(saturated); set a range of ±4 g or more, then hold this pose "
                               "again", self.index)]
        self.accepted.append(pose)
        self.index += 1
        out = [GuideEvent("accepted", f"pose {spec.name} done (noise "
                          f"{float(np.max(pose.acc_std_mps2)):.3f} m/s²)", self.index - 1)]
        if self.index < len(self.poses):
            out.append(self._prompt())
            return out
        try:
            self.result = fit_accelerometer(self.accepted, self.device_id, model=self.model,
                                            method=self.method)
        except CalibrationError as e:
            self.error = str(e)
            out.append(GuideEvent("failed", str(e)))
            return out
        rms = self.result.uncertainty["rms_residual_mps2"]
        out.append(GuideEvent("done", f"all {len(self.poses)} poses done; RMS residual "
                              f"{rms:.4f} m/s²"))
        return out


# ------------------------------------------------------------------------------------------
# simulated sensor with known errors (for --sim, the recorded sessions and the tests)


@dataclass(frozen=True, eq=False)
class SensorErrors:
    """Errors of a simulated sensor: ``raw = inv(acc_matrix) @ true + acc_bias_mps2 + noise``,
    ``ω_raw = ω + gyr_bias_rads + noise``. ``acc_matrix`` is the *correcting* matrix (general:
    scale, cross-axis and a small rotation)."""

    acc_bias_mps2: np.ndarray
    acc_matrix: np.ndarray
    gyr_bias_rads: np.ndarray
    acc_noise_mps2: float = 0.02
    gyr_noise_rads: float = 0.002

    def raw_acc(self, true_mps2: np.ndarray) -> np.ndarray:
        """Raw (n, 3) readings (without noise) for true specific force (n, 3)."""
        return np.asarray(true_mps2) @ np.linalg.inv(self.acc_matrix).T + self.acc_bias_mps2

    def symmetric_matrix(self) -> np.ndarray:
        """The symmetric (polar) factor of ``acc_matrix``: what a magnitude-only fit recovers."""
        u, s, vt = np.linalg.svd(self.acc_matrix)
        return vt.T @ np.diag(s) @ vt


def random_sensor_errors(rng: np.random.Generator, bias_max_mps2: float = 0.6,
                         scale_max: float = 0.03, cross_max: float = 0.02,
                         gyr_bias_max_rads: float = 0.035, rotation_max_deg: float = 2.0,
                         acc_noise_mps2: float = 0.02, gyr_noise_rads: float = 0.002
                         ) -> SensorErrors:
    """Random errors, uniform within the given limits (defaults cover the datasheet ranges in
    ``calibration/models.json`` with margin: bias ±0.6 m/s² ≈ ±60 mg, scale ±3 %, cross-axis
    ±2 %, gyro bias ±2 °/s, plus a small rotation of the sensing axes)."""
    from scipy.spatial.transform import Rotation

    scale = np.diag(1 + rng.uniform(-scale_max, scale_max, 3))
    cross = np.eye(3)
    for i, j in _OFFDIAG:
        cross[i, j] = rng.uniform(-cross_max, cross_max)
        cross[j, i] = rng.uniform(-cross_max, cross_max)
    rot = Rotation.from_rotvec(rng.uniform(-1, 1, 3) * math.radians(rotation_max_deg)
                               / math.sqrt(3)).as_matrix()
    return SensorErrors(acc_bias_mps2=rng.uniform(-bias_max_mps2, bias_max_mps2, 3),
                        acc_matrix=rot @ cross @ scale,
                        gyr_bias_rads=rng.uniform(-gyr_bias_max_rads, gyr_bias_max_rads, 3),
                        acc_noise_mps2=acc_noise_mps2, gyr_noise_rads=gyr_noise_rads)


def _rotation_between(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, float]:
    """Unit axis and angle (rad) of the shortest rotation taking unit ``u`` to unit ``v``."""
    c = np.cross(u, v)
    s = float(np.linalg.norm(c))
    ang = math.atan2(s, float(u @ v))
    if s < 1e-12:
        if ang < 1e-6:
            return np.array([1.0, 0.0, 0.0]), 0.0
        perp = np.cross(u, [1.0, 0.0, 0.0])
        if np.linalg.norm(perp) < 1e-6:
            perp = np.cross(u, [0.0, 1.0, 0.0])
        return perp / np.linalg.norm(perp), ang
    return c / s, ang


class PoseSimulator:
    """A simulated sensor handled by a simulated user, with known :class:`SensorErrors`.

    :meth:`move_to` turns the sensor (about the shortest axis, smooth speed profile, gyroscope
    reading the true rate) so gravity points along the asked sensor-frame direction;
    :meth:`hold` keeps it still; :meth:`shake` adds hand movement. Each returns a
    :class:`Block`. ``range_mps2`` clips the raw readings like a real sensor. Deterministic for a
    given seed.
    """

    def __init__(self, errors: SensorErrors, rate_hz: float = 100.0, seed: int = 0,
                 device_id: str = "sim-calibration-sensor", range_mps2: float | None = 16 * G):
        self.errors = errors
        self.rate_hz = float(rate_hz)
        self.rng = np.random.default_rng(seed)
        self.device_id = device_id
        self.range_mps2 = range_mps2
        self.up = np.array([0.0, 0.0, 1.0])  # gravity direction ("up") in the sensor frame
        self.k = 0  # samples so far

    def _block(self, up: np.ndarray, omega: np.ndarray, extra_acc: np.ndarray | None = None
               ) -> Block:
        n = up.shape[0]
        true = G * up if extra_acc is None else G * up + extra_acc
        e = self.errors
        acc = e.raw_acc(true) + e.acc_noise_mps2 * self.rng.standard_normal((n, 3))
        gyr = omega + e.gyr_bias_rads + e.gyr_noise_rads * self.rng.standard_normal((n, 3))
        if self.range_mps2 is not None:
            acc = np.clip(acc, -self.range_mps2, self.range_mps2)
        t = (self.k + np.arange(n)) / self.rate_hz
        self.k += n
        return Block(self.device_id, "unknown", self.rate_hz, t, acc, gyr)

    def hold(self, duration_s: float) -> Block:
        n = max(1, int(round(duration_s * self.rate_hz)))
        return self._block(np.tile(self.up, (n, 1)), np.zeros((n, 3)))

    def move_to(self, up: Iterable[float], duration_s: float = 2.0) -> Block:
        target = np.asarray(tuple(up), dtype=np.float64)
        target = target / np.linalg.norm(target)
        n = max(2, int(round(duration_s * self.rate_hz)))
        axis, ang = _rotation_between(self.up, target)
        s = (np.arange(1, n + 1)) / n
        frac = 0.5 * (1 - np.cos(np.pi * s))  # smooth start and stop
        rate = ang * 0.5 * np.pi * np.sin(np.pi * s) / duration_s
        # The sensor turns by -angle about `axis` in its own frame as "up" turns by +angle.
        from scipy.spatial.transform import Rotation

        ups = Rotation.from_rotvec(np.outer(frac * ang, axis)).apply(self.up)
        omega = -np.outer(rate, axis)
        self.up = target
        return self._block(ups, omega)

    def shake(self, duration_s: float, amplitude_mps2: float = 1.5) -> Block:
        n = max(1, int(round(duration_s * self.rate_hz)))
        t = np.arange(n) / self.rate_hz
        extra = amplitude_mps2 * np.stack([np.sin(2 * np.pi * f * t + p) for f, p in
                                           ((3.1, 0.0), (4.3, 1.0), (2.7, 2.0))], axis=1)
        omega = 0.3 * np.stack([np.sin(2 * np.pi * 2.0 * t), np.cos(2 * np.pi * 2.5 * t),
                                np.sin(2 * np.pi * 1.5 * t)], axis=1)
        return self._block(np.tile(self.up, (n, 1)), omega, extra)


def run_simulated_guide(guide: AccelCalibrationGuide, sim: PoseSimulator, *,
                        move_s: float = 2.0, block_s: float = 0.1, max_s: float = 600.0,
                        disturb: dict[int, str] | None = None) -> Iterator[GuideEvent]:
    """Drive ``guide`` with a simulated user who follows its prompts: turn the sensor to the
    asked pose, then hold it in blocks of ``block_s`` until the guide moves on. ``disturb``
    maps a pose index to ``"shake"`` (a bump during the first hold) or ``"wrong"`` (first put
    down in the opposite orientation). Yields every event."""
    disturb = dict(disturb or {})
    yield from guide.start()
    last = -1
    t_total = 0.0
    while not guide.finished and t_total < max_s:
        spec = guide.current
        assert spec is not None
        if guide.index != last:
            last = guide.index
            kind = disturb.pop(guide.index, "")
            if kind == "wrong":
                yield from guide.push(sim.move_to(-np.asarray(spec.up), move_s))
                for _ in range(int(2.0 / block_s)):
                    yield from guide.push(sim.hold(block_s))
            yield from guide.push(sim.move_to(spec.up, move_s))
            t_total += move_s
            if kind == "shake":
                for _ in range(int(2.0 / block_s)):
                    yield from guide.push(sim.hold(block_s))
                yield from guide.push(sim.shake(0.5))
        yield from guide.push(sim.hold(block_s))
        t_total += block_s


def simulate_pose_session(errors: SensorErrors, poses: Iterable[PoseSpec] = DEFAULT_POSES, *,
                          rate_hz: float = 100.0, hold_s: float = 6.0, move_s: float = 2.5,
                          seed: int = 0, device_id: str = "sim-calibration-sensor",
                          range_mps2: float | None = 16 * G,
                          shake_in: Iterable[int] = ()) -> SensorRecording:
    """A whole calibration recording: each pose held ``hold_s`` with turns in between; the poses
    whose index is in ``shake_in`` are interrupted by hand movement half-way."""
    sim = PoseSimulator(errors, rate_hz, seed, device_id, range_mps2)
    shaky = set(shake_in)
    blocks = [sim.hold(hold_s)]
    for i, spec in enumerate(poses):
        blocks.append(sim.move_to(spec.up, move_s))
        if i in shaky:
            blocks += [sim.hold(hold_s / 2 - 0.5), sim.shake(1.0), sim.hold(hold_s / 2 - 0.5)]
        else:
            blocks.append(sim.hold(hold_s))
    cat = lambda name: np.concatenate([getattr(b, name) for b in blocks])  # noqa: E731
    return SensorRecording(device_id, "unknown", rate_hz, cat("t_s"), cat("acc_mps2"),
                           cat("gyr_rads"), metadata={"simulated": "true",
                                                      "source": "imu_hip.calibration"})


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
            gyr = gyr - track.at(sensor.t_s)
            info["gyro_bias_still_periods"] = len(track)
            info["gyro_bias_tracked_rads"] = np.median(track.bias_rads, axis=0)
    if cal is None and info["gyro_bias_still_periods"] == 0:
        return sensor, info
    meta = dict(sensor.metadata)
    if cal is not None:
        meta[APPLIED_KEY] = info["applied"]
    if info["gyro_bias_still_periods"]:
        meta[TRACKING_KEY] = (
            f"subtracted, from {info['gyro_bias_still_periods']} still periods")
    out = SensorRecording(sensor.sensor_id, sensor.placement, sensor.rate_hz, sensor.t_s, acc,
                          gyr, meta)
    return out, info


# ------------------------------------------------------------------------------------------
# writing to / reading from a device speaking the imu-hip protocol


class CommandChannel:
    """Command/response exchange with a device speaking the imu-hip protocol over a
    :class:`imu_hip.ble.link.Link`.

    Responses arrive as notifications on the protocol's Response characteristic: pass them to
    :meth:`on_notification` (e.g. from the link's notification handler). When none arrives within
    ``timeout_s``, the Response characteristic is read once instead (for links or devices that
    allow reading it). Responses are matched to commands by opcode and token.
    """

    def __init__(self, link: Any, timeout_s: float = 2.0):
        self.link = link
        self.timeout_s = timeout_s
        self._token = 0
        self._waiting: dict[tuple[int, int], Any] = {}

    def on_notification(self, uuid: str, data: bytes, received_at: float = 0.0) -> bool:
        """Take a notification; True when it was a response this channel was waiting for."""
        from imu_hip.protocols import imu_hip_protocol as proto

        if str(uuid).lower() != proto.RESPONSE_UUID:
            return False
        try:
            resp = proto.decode_response(bytes(data))
        except ImuHipError:
            return False
        fut = self._waiting.pop((resp.op, resp.token), None)
        if fut is None or fut.done():
            return False
        fut.set_result(resp)
        return True

    def next_token(self) -> int:
        self._token = (self._token + 1) & 0xFF
        return self._token

    async def request(self, op: int, payload: bytes = b"", device_id: str = "device") -> Any:
        """Send one command and return its OK response; :class:`ImuHipError` otherwise."""
        import asyncio

        from imu_hip.protocols import imu_hip_protocol as proto

        token = self.next_token()
        key = (int(op), token)
        fut = asyncio.get_running_loop().create_future()
        self._waiting[key] = fut
        try:
            await self.link.write(proto.CONTROL_UUID, proto.encode_command(op, payload, token))
            try:
                resp = await asyncio.wait_for(asyncio.shield(fut), self.timeout_s)
            except TimeoutError:
                try:
                    resp = proto.decode_response(await self.link.read(proto.RESPONSE_UUID))
                except ImuHipError as e:
                    raise ImuHipError(f"device {device_id}: no response to op {int(op):#04x} "
                                      f"within {self.timeout_s:g} s ({e})") from None
        finally:
            self._waiting.pop(key, None)
        if resp.op != int(op) or resp.token != token:
            raise ImuHipError(f"device {device_id}: answered another command (op {resp.op:#04x}"
                              f", token {resp.token}) instead of op {int(op):#04x}")
        if not resp.ok:
            try:
                status = proto.Status(resp.status).name
            except ValueError:
                status = str(resp.status)
            raise ImuHipError(f"device {device_id}: refused op {int(op):#04x} (status {status})")
        return resp


async def write_to_device(channel: CommandChannel, cal: Calibration) -> Calibration:
    """Write ``cal`` to a device speaking the open imu-hip protocol, read it back and return what
    the device holds; :class:`ImuHipError` when the device refuses or the read-back differs from
    the float32 values sent. (The device stores it; it does not apply it to its data.)"""
    from imu_hip.protocols import imu_hip_protocol as proto

    dev = proto.Calibration(
        tuple(float(v) for v in cal.acc_bias_mps2),
        tuple(tuple(float(v) for v in row) for row in cal.acc_matrix),
        tuple(float(v) for v in cal.gyr_bias_rads),
    )
    await channel.request(proto.Op.WRITE_CALIBRATION, proto.pack_calibration(dev), cal.device_id)
    back = await read_from_device(channel, cal.device_id)
    sent = np.concatenate([cal.acc_bias_mps2, cal.acc_matrix.ravel(), cal.gyr_bias_rads])
    got = np.concatenate([back.acc_bias_mps2, back.acc_matrix.ravel(), back.gyr_bias_rads])
    if not np.array_equal(sent.astype(np.float32), got.astype(np.float32)):
        raise ImuHipError(f"device {cal.device_id}: the calibration read back differs from the "
                          "one written")
    return back


async def read_from_device(channel: CommandChannel, device_id: str) -> Calibration:
    """The calibration stored on a device speaking the imu-hip protocol."""
    from imu_hip.protocols import imu_hip_protocol as proto

    resp = await channel.request(proto.Op.READ_CALIBRATION, b"", device_id)
    dev = resp.fields["calibration"]
    return Calibration(device_id, np.array(dev.acc_bias_mps2), np.array(dev.acc_matrix),
                       np.array(dev.gyr_bias_rads), method="read from the device")
