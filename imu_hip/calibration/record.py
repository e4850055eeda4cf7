"""The calibration record: what it holds, where it is stored, how it is applied."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from imu_hip.model import Block, G, ImuHipError, SensorRecording
from imu_hip.paths import data_dir

#: Version of the calibration file layout.
FILE_VERSION = 1
#: Metadata key stating which calibration was applied to a recording (the live session stores
#: :meth:`Calibration.metadata` under ``calibration.<key>``, so this is the same key).
APPLIED_KEY = "calibration.applied"
#: Metadata key saying the gyroscope bias was tracked (and subtracted) from still periods.
TRACKING_KEY = "calibration.gyro_bias_tracking"
#: Metadata key saying the gyroscope bias was tracked (and subtracted) from still periods.

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

    def sensor_acc(self, acc_mps2: np.ndarray) -> np.ndarray:
        """The raw (n, 3) readings behind calibrated (n, 3) acceleration: the inverse of
        :meth:`correct_acc` (where a saturated axis is flat; row-wise like it)."""
        v = np.asarray(acc_mps2, dtype=np.float64)
        m = np.linalg.inv(self.acc_matrix)
        out = np.empty(v.shape)
        for i in range(3):
            out[:, i] = (m[i, 0] * v[:, 0] + m[i, 1] * v[:, 1] + m[i, 2] * v[:, 2]
                         + self.acc_bias_mps2[i])
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
    meta.update({f"calibration.{k}": v for k, v in cal.metadata().items()})
    meta[APPLIED_KEY] = cal.label()
    return SensorRecording(sensor_id=data.sensor_id, placement=data.placement,
                           rate_hz=data.rate_hz, t_s=data.t_s, acc_mps2=acc, gyr_rads=gyr,
                           metadata=meta)


def calibration_from_metadata(metadata: dict[str, str]) -> Calibration | None:
    """The accelerometer calibration a recording's ``calibration.*`` metadata says was applied
    (as written by :meth:`Calibration.metadata`), or None when none was applied or the metadata
    holds no usable 3x3 matrix and 3-vector bias (metadata is untrusted text: anything odd is
    None, never an error)."""
    if applied_calibration(metadata) is None:
        return None

    def vector(key: str, shape: tuple[int, ...]) -> np.ndarray | None:
        text = metadata.get(key)
        if not isinstance(text, str) or len(text) > 2000:
            return None
        try:
            v = np.array(json.loads(text), dtype=np.float64)
        except Exception:  # noqa: BLE001 - bad JSON, nesting, overflow, odd types: not usable
            return None
        return v if v.shape == shape and np.all(np.isfinite(v)) else None

    matrix = vector("calibration.acc_matrix", (3, 3))
    bias = vector("calibration.acc_bias_mps2", (3,))
    if matrix is None or bias is None or not abs(float(np.linalg.det(matrix))) > 1e-6:
        return None
    gyr = vector("calibration.gyr_bias_rads", (3,))
    return Calibration(str(metadata.get("calibration.device_id", "")), bias, matrix,
                       np.zeros(3) if gyr is None else gyr)


def raw_acc_map(metadata: dict[str, str]) -> Callable[[np.ndarray], np.ndarray] | None:
    """The map from calibrated acceleration back to the raw readings (where a saturated axis is
    flat) for a stream whose metadata states the calibration applied to it, else None; what
    the stages take as ``sensor_acc``."""
    cal = calibration_from_metadata(metadata)
    return None if cal is None else cal.sensor_acc


def applied_calibration(metadata: dict[str, str]) -> str | None:
    """What a recording's metadata says was applied already (None: no stored calibration).
    ``calibration.applied`` decides (a value starting with "none" means none); without it, any
    other ``calibration.*`` key counts (the live session stores the calibration it applied)."""
    if APPLIED_KEY in metadata:
        value = metadata[APPLIED_KEY]
        return None if value.startswith("none") else value
    keys = sorted(k for k in metadata if k.startswith("calibration.") and k != TRACKING_KEY)
    return f"calibration ({', '.join(keys)})" if keys else None
