"""Data model: blocks of samples, whole sensor streams, recordings; units and the body frame.

Units are SI everywhere inside imu-hip: time in seconds (host clock, float64), acceleration in
m/s² (proper acceleration, gravity included: a sensor at rest reads +9.81 m/s² "up"), angular rate
in rad/s. The body frame is x forward, y left, z up (right-handed).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

#: Standard gravity, m/s² (used to convert g <-> m/s²).
G = 9.80665

#: Where a sensor is worn.
PLACEMENTS = ("sacrum", "left_foot", "right_foot", "unknown")


class ImuHipError(Exception):
    """Base of every error imu-hip raises on purpose (bad input, bad settings, device trouble)."""


class InputError(ImuHipError):
    """Input that cannot be used: the message names the input and what was expected."""

    def __init__(self, source: str, problem: str):
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")


def check_placement(placement: str) -> str:
    """Return ``placement`` if it is one of :data:`PLACEMENTS`, else raise :class:`ImuHipError`."""
    if placement not in PLACEMENTS:
        raise ImuHipError(
            f"unknown placement {placement!r}; expected one of {', '.join(PLACEMENTS)}"
        )
    return placement


def gap_threshold_s(rate_hz: float) -> float:
    """Longest hole between two samples (s) that is still one stream; longer holes are gaps.

    Two missing samples are interpolated over; anything longer than 2.5 sample periods (and at
    least 20 ms) is a gap that no step may cross. The analysis fills gaps up to
    :data:`imu_hip.dsp.resample.MAX_FILL_S` (lost packets) and flags the filled samples so
    the filters run on, but never reports a step or stride that touches them; longer gaps end
    the segment.
    """
    return max(2.5 / rate_hz, 0.02)


def find_gaps(t_s: np.ndarray, rate_hz: float) -> np.ndarray:
    """Indices ``i`` (ascending) where a gap lies between sample ``i-1`` and sample ``i``."""
    dt = np.diff(np.asarray(t_s, dtype=np.float64))
    return np.flatnonzero(dt > gap_threshold_s(rate_hz)) + 1


@dataclass(frozen=True, eq=False)
class Block:
    """A short run of samples from one sensor, in host time and SI units.

    ``t_s``: (n,) float64 seconds; ``acc_mps2``: (n, 3) m/s² in the sensor frame;
    ``gyr_rads``: (n, 3) rad/s or None when the sensor has no gyroscope. ``gap_before`` is True
    when samples are missing between the previous block of this sensor and this one.
    """

    sensor_id: str
    placement: str
    rate_hz: float
    t_s: np.ndarray
    acc_mps2: np.ndarray
    gyr_rads: np.ndarray | None = None
    gap_before: bool = False

    def __len__(self) -> int:
        return int(self.t_s.shape[0])


@dataclass(eq=False)
class SensorRecording:
    """Everything one sensor recorded, as whole arrays (same units as :class:`Block`).

    ``metadata`` holds untrusted text from the file or device (names, notes): escape it before
    showing it anywhere.
    """

    sensor_id: str
    placement: str
    rate_hz: float
    t_s: np.ndarray
    acc_mps2: np.ndarray
    gyr_rads: np.ndarray | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_placement(self.placement)
        self.t_s = np.ascontiguousarray(self.t_s, dtype=np.float64)
        self.acc_mps2 = np.ascontiguousarray(self.acc_mps2, dtype=np.float64).reshape(-1, 3)
        if self.gyr_rads is not None:
            self.gyr_rads = np.ascontiguousarray(self.gyr_rads, dtype=np.float64).reshape(-1, 3)
        n = self.t_s.shape[0]
        if self.acc_mps2.shape[0] != n or (
            self.gyr_rads is not None and self.gyr_rads.shape[0] != n
        ):
            raise ImuHipError(
                f"sensor {self.sensor_id!r}: time, acceleration and angular rate "
                "arrays have different lengths"
            )

    def __len__(self) -> int:
        return int(self.t_s.shape[0])

    @property
    def has_gyro(self) -> bool:
        return self.gyr_rads is not None

    @property
    def duration_s(self) -> float:
        return float(self.t_s[-1] - self.t_s[0]) if len(self) > 1 else 0.0

    def block(self, start: int, stop: int, gap_before: bool = False) -> Block:
        """Samples ``start:stop`` as one :class:`Block` (views, no copies)."""
        return Block(
            sensor_id=self.sensor_id,
            placement=self.placement,
            rate_hz=self.rate_hz,
            t_s=self.t_s[start:stop],
            acc_mps2=self.acc_mps2[start:stop],
            gyr_rads=None if self.gyr_rads is None else self.gyr_rads[start:stop],
            gap_before=gap_before,
        )

    def blocks(self, size: int = 4096) -> Iterator[Block]:
        """Cut the stream into blocks of at most ``size`` samples, split at gaps."""
        if size < 1:
            raise ImuHipError(f"block size must be at least 1, got {size}")
        bounds = np.concatenate(([0], find_gaps(self.t_s, self.rate_hz), [len(self)]))
        for seg_start, seg_end in zip(bounds[:-1], bounds[1:], strict=True):
            for i in range(int(seg_start), int(seg_end), size):
                yield self.block(i, min(i + size, int(seg_end)), i == seg_start and i > 0)


@dataclass(eq=False)
class Recording:
    """One session: the streams of 1-3 sensors plus free-text metadata (untrusted)."""

    sensors: list[SensorRecording]
    metadata: dict[str, str] = field(default_factory=dict)

    def sensor(self, placement: str) -> SensorRecording:
        """The first stream worn at ``placement``; :class:`ImuHipError` if there is none."""
        for s in self.sensors:
            if s.placement == placement:
                return s
        worn = ", ".join(s.placement for s in self.sensors) or "none"
        raise ImuHipError(f"no {placement} sensor in this recording (placements: {worn})")


#: Columns of the per-step table (one row per step, from its initial contact to the next one).
STEP_COLUMNS: dict[str, str] = {
    "t_ic_s": "initial contact, host time (s)",
    "t_to_s": "toe-off, host time (s)",
    "side": "stance side: left, right or unknown",
    "gait": "run or walk",
    "step_time_s": "this initial contact to the next one (s)",
    "contact_time_s": "initial contact to toe-off (s)",
    "flight_time_s": "toe-off to the next initial contact (s); 0 or negative when walking",
    "cadence_spm": "60 / step_time_s (steps per minute)",
    "duty_factor": "contact_time_s / (2 * step_time_s): share of the stride one foot is on "
    "the ground",
    "vertical_oscillation_m": "peak-to-peak vertical excursion of the sacrum over the step (m)",
    "impact_peak_g": "peak vertical acceleration in the first 60 ms after contact (g, gravity "
    "included)",
    "vgrf_peak_bw": "active peak of the vertical ground reaction force (body weights)",
    "loading_rate_bw_s": "average vertical loading rate from contact to 80 % of the vGRF peak "
    "(BW/s); trend indicator only, published errors exceed 25 %",
    "braking_peak_g": "largest backward (braking) acceleration during stance (g, positive)",
    "pelvic_tilt_rom_deg": "range of pelvic tilt (about the left axis) over the step (deg)",
    "pelvic_obliquity_rom_deg": "range of pelvic obliquity (about the forward axis) over the step "
    "(deg)",
    "pelvic_rotation_rom_deg": "range of pelvic rotation (about the vertical axis) over the step "
    "(deg)",
    "pelvic_drop_deg": "largest drop of the swing-side hip during this stance, relative to the "
    "neutral (deg, positive = swing side lower)",
}
