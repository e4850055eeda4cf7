"""The guided static-pose procedure: a pure state machine fed with blocks."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from imu_hip.calibration.poses import (
    FACE_MAX_DEG,
    POSE_ACC_STD_MAX_MPS2,
    POSE_DRIFT_MAX_DEG,
    POSE_GYR_STD_MAX_RADS,
    POSE_MERGE_DEG,
    Pose,
    describe_direction,
    fit_accelerometer,
    pose_from_samples,
)
from imu_hip.calibration.record import (
    _AXES,
    Calibration,
    CalibrationError,
)
from imu_hip.model import Block, ImuHipError

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
