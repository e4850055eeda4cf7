"""Host-time samples -> a uniform grid at the nominal rate, split into gap-free segments.

Real streams arrive with timestamp jitter and the odd dropped sample. The gait and orientation
math wants uniform sampling, so every stream is linearly interpolated onto the grid
``t0 + k / rate_hz`` (``t0`` = first sample of the segment, ``k`` = 0, 1, 2 ...). Holes up to
:func:`imu_hip.model.gap_threshold_s` are interpolated over; a longer hole ends the segment
and the next sample starts a new one: nothing is bridged across a gap. Grid times are computed
from the integer ``k``, never accumulated, so the output does not depend on how the input was cut
into blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imu_hip.model import Block, gap_threshold_s


@dataclass(eq=False)
class UniformChunk:
    """Consecutive uniform samples of one segment: sample ``k`` is at ``t0_s + k / rate_hz``."""

    segment: int  # segment number, 0-based; a new number after every gap
    first_k: int  # grid index of the first sample of this chunk within its segment
    t0_s: float  # host time of grid index 0 of the segment (s)
    rate_hz: float
    acc_mps2: np.ndarray  # (n, 3)
    gyr_rads: np.ndarray | None  # (n, 3) or None

    def __len__(self) -> int:
        return int(self.acc_mps2.shape[0])


class Resampler:
    """Streaming resampler for one sensor: ``push(block)`` returns the new uniform chunks."""

    def __init__(self, rate_hz: float):
        if not rate_hz > 0:
            raise ValueError(f"rate_hz must be positive, got {rate_hz}")
        self.rate_hz = float(rate_hz)
        self._gap_s = gap_threshold_s(self.rate_hz)
        self.segment = -1
        self._t0 = 0.0
        self._next_k = 0
        self._last_t: float | None = None
        self._last_row: np.ndarray | None = None  # acc (+ gyr) of the last input sample
        self.dropped_out_of_order = 0  #: samples ignored because their time did not increase
        self.gaps = 0  #: gaps seen (segments started after the first)

    def push(self, block: Block) -> list[UniformChunk]:
        """Resample one block; returns zero or more chunks (several when the block holds gaps)."""
        if len(block) == 0:
            return []
        t = np.asarray(block.t_s, dtype=np.float64)
        has_gyr = block.gyr_rads is not None
        rows = block.acc_mps2 if not has_gyr else np.hstack((block.acc_mps2, block.gyr_rads))
        rows = np.asarray(rows, dtype=np.float64)
        # Drop samples whose time does not increase (duplicates, reordering) and count them.
        prev = -np.inf if self._last_t is None else self._last_t
        keep = t > np.maximum.accumulate(np.concatenate(([prev], t[:-1])))
        if not keep.all():
            self.dropped_out_of_order += int((~keep).sum())
            t, rows = t[keep], rows[keep]
            if t.size == 0:
                return []
        # Split where a gap lies: before the block (flag or hole since the last sample) or inside.
        starts = list(np.flatnonzero(np.diff(t) > self._gap_s) + 1)
        gap_first = self._last_t is None or block.gap_before or (t[0] - self._last_t) > self._gap_s
        out: list[UniformChunk] = []
        bounds = [0, *starts, t.size]
        for n, (i, j) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            if n > 0 or gap_first:
                self._start_segment(t[i])
            chunk = self._interpolate(t[i:j], rows[i:j], has_gyr)
            if chunk is not None:
                out.append(chunk)
        return out

    def _start_segment(self, t0: float) -> None:
        if self.segment >= 0:
            self.gaps += 1
        self.segment += 1
        self._t0 = float(t0)
        self._next_k = 0
        self._last_t = None
        self._last_row = None

    def _interpolate(self, t: np.ndarray, rows: np.ndarray, has_gyr: bool) -> UniformChunk | None:
        if self._last_t is not None:
            t = np.concatenate(([self._last_t], t))
            rows = np.vstack((self._last_row, rows))
        self._last_t = float(t[-1])
        self._last_row = rows[-1].copy()
        k_last = int(np.floor((t[-1] - self._t0) * self.rate_hz + 1e-9))
        if k_last < self._next_k:
            return None
        k = np.arange(self._next_k, k_last + 1)
        grid = self._t0 + k / self.rate_hz
        # Bracketing input samples for each grid time; identical pairs whatever the block cut.
        hi = np.clip(np.searchsorted(t, grid, side="left"), 1, max(t.size - 1, 1))
        if t.size == 1:
            values = np.repeat(rows[:1], k.size, axis=0)
        else:
            lo = hi - 1
            w = ((grid - t[lo]) / (t[hi] - t[lo]))[:, None]
            values = rows[lo] + w * (rows[hi] - rows[lo])
        first_k = self._next_k
        self._next_k = k_last + 1
        return UniformChunk(
            segment=self.segment,
            first_k=first_k,
            t0_s=self._t0,
            rate_hz=self.rate_hz,
            acc_mps2=values[:, :3],
            gyr_rads=values[:, 3:6] if has_gyr else None,
        )
