"""A simulated sensor with known errors, turned through the poses by a simulated hand."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

from imu_hip.calibration.guide import (
    DEFAULT_POSES,
    AccelCalibrationGuide,
    GuideEvent,
    PoseSpec,
)
from imu_hip.calibration.poses import (
    _OFFDIAG,
)
from imu_hip.model import Block, G, SensorRecording

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
