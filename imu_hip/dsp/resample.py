"""Host-time samples -> a uniform grid at the nominal rate, split into gap-free segments.

Real streams arrive with timestamp jitter, the odd dropped sample and lost BLE packets. The gait
and orientation math wants uniform sampling, so every stream is linearly interpolated onto the
grid ``t0 + k / rate_hz`` (``t0`` = first sample of the segment, ``k`` = 0, 1, 2 ...). Three
kinds of hole between two consecutive input samples:

* up to :func:`imu_hip.model.gap_threshold_s` (a missing sample or two): interpolated, and the
  grid samples are as good as measured ones;
* longer, up to :data:`MAX_FILL_S` (a few lost packets), or any hole the block says has samples
  missing before it (``Block.gap_before``) when it is that short: **filled** - interpolated so
  the filters and detectors downstream run on without a break, and the grid samples in it
  flagged in ``UniformChunk.filled``. The stages drop every step or stride that touches a filled
  sample, so no event or metric rests on invented data;
* longer than :data:`MAX_FILL_S` (link loss, a pause of the device): a gap - the segment ends
  and the next sample starts a new one; nothing is bridged across it.

Grid times are computed from the integer ``k``, never accumulated, and the flags depend only on
the pair of input samples around each grid time, so the output does not depend on how the input
was cut into blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imu_hip.model import Block, gap_threshold_s

#: Longest hole between two input samples (s) that is filled instead of ending the segment.
#: 0.2 s is four lost notifications of the imu-hip protocol (19 samples at 400 Hz = 47.5 ms
#: each) and less than the shortest step accepted as gait (0.22 s,
#: :data:`imu_hip.gait.sacrum.MIN_STEP_S`), so a filled hole never hides a whole step and
#: the steps next to it are dropped instead; the orientation filter integrates the linearly
#: filled angular rate across it, which stays a small error for such a short time. A longer
#: hole (the link lost, the device paused) ends the segment as before.
MAX_FILL_S = 0.2


@dataclass(eq=False)
class UniformChunk:
    """Consecutive uniform samples of one segment: sample ``k`` is at ``t0_s + k / rate_hz``."""

    segment: int  # segment number, 0-based; a new number after every gap
    first_k: int  # grid index of the first sample of this chunk within its segment
    t0_s: float  # host time of grid index 0 of the segment (s)
    rate_hz: float
    acc_mps2: np.ndarray  # (n, 3)
    gyr_rads: np.ndarray | None  # (n, 3) or None
    filled: np.ndarray | None = None  # (n,) bool: interpolated across a hole; None: none are

    def __len__(self) -> int:
        return int(self.acc_mps2.shape[0])


class Resampler:
    """Streaming resampler for one sensor: ``push(block)`` returns the new uniform chunks.

    ``max_fill_s``: longest hole filled (and flagged) instead of ending the segment (default
    :data:`MAX_FILL_S`; 0 restores the old behaviour: every hole longer than the gap threshold
    ends the segment).
    """

    def __init__(self, rate_hz: float, max_fill_s: float = MAX_FILL_S):
        if not rate_hz > 0:
            raise ValueError(f"rate_hz must be positive, got {rate_hz}")
        self.rate_hz = float(rate_hz)
        self._gap_s = gap_threshold_s(self.rate_hz)
        self._fill_s = max(self._gap_s, float(max_fill_s))
        self.segment = -1
        self._t0 = 0.0
        self._next_k = 0
        self._last_t: float | None = None
        self._last_row: np.ndarray | None = None  # acc (+ gyr) of the last input sample
        self.dropped_out_of_order = 0  #: samples ignored because their time did not increase
        self.dropped_nonfinite = 0  #: samples ignored because a value or the time was NaN/inf
        self.gaps = 0  #: gaps seen (segments started after the first)
        self.holes_filled = 0  #: holes filled instead of ending the segment
        self.filled_samples = 0  #: grid samples flagged as filled

    def push(self, block: Block) -> list[UniformChunk]:
        """Resample one block; returns zero or more chunks (several when the block holds gaps)."""
        if len(block) == 0:
            return []
        t = np.asarray(block.t_s, dtype=np.float64)
        has_gyr = block.gyr_rads is not None
        rows = block.acc_mps2 if not has_gyr else np.hstack((block.acc_mps2, block.gyr_rads))
        rows = np.asarray(rows, dtype=np.float64)
        # A sample with a non-finite value or time is a lost sample (a device glitch): dropped
        # and counted, so it becomes a hole like any other instead of poisoning the filters.
        finite = np.isfinite(t) & np.all(np.isfinite(rows), axis=1)
        if not finite.all():
            self.dropped_nonfinite += int((~finite).sum())
            t, rows = t[finite], rows[finite]
            if t.size == 0:
                return []
        # Drop samples whose time does not increase (duplicates, reordering) and count them.
        prev = -np.inf if self._last_t is None else self._last_t
        keep = t > np.maximum.accumulate(np.concatenate(([prev], t[:-1])))
        if not keep.all():
            self.dropped_out_of_order += int((~keep).sum())
            t, rows = t[keep], rows[keep]
            if t.size == 0:
                return []
        # Split where a gap lies: before the block (a hole since the last sample longer than
        # can be filled) or inside; a flagged hole before the block that is short is filled.
        starts = list(np.flatnonzero(np.diff(t) > self._fill_s) + 1)
        gap_first = self._last_t is None or (t[0] - self._last_t) > self._fill_s
        out: list[UniformChunk] = []
        bounds = [0, *starts, t.size]
        for n, (i, j) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
            if n > 0 or gap_first:
                self._start_segment(t[i])
            flagged = n == 0 and not gap_first and block.gap_before
            chunk = self._interpolate(t[i:j], rows[i:j], has_gyr, flagged)
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

    def _interpolate(self, t: np.ndarray, rows: np.ndarray, has_gyr: bool,
                     flagged: bool) -> UniformChunk | None:
        """Grid samples up to the last input sample; ``flagged``: samples are missing between
        the previous input sample and the first of ``t`` (whatever the time between them)."""
        joined = self._last_t is not None
        if joined:
            t = np.concatenate(([self._last_t], t))
            rows = np.vstack((self._last_row, rows))
        # input pairs across a hole (longer than the gap threshold, or flagged): the grid
        # samples inside them are filled, not measured
        holes = np.flatnonzero(np.diff(t) > self._gap_s)
        flag_only = flagged and joined and (holes.size == 0 or holes[0] != 0)
        if flag_only:
            holes = np.concatenate(([0], holes))
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
        filled = None
        if holes.size and t.size > 1:
            # a grid time on the sample after the hole is measured (unless only the flag tells
            # of the hole: then the times around it are not to be trusted to the sample)
            inside = grid < t[hi] - 1e-6 / self.rate_hz
            if flag_only:
                inside |= hi == 1
            across = np.zeros(t.size - 1, dtype=bool)
            across[holes] = True
            filled = across[hi - 1] & inside
            n_filled = int(filled.sum())
            if n_filled:
                self.holes_filled += int(np.unique((hi - 1)[filled]).size)
                self.filled_samples += n_filled
            else:
                filled = None
        first_k = self._next_k
        self._next_k = k_last + 1
        return UniformChunk(
            segment=self.segment,
            first_k=first_k,
            t0_s=self._t0,
            rate_hz=self.rate_hz,
            acc_mps2=values[:, :3],
            gyr_rads=values[:, 3:6] if has_gyr else None,
            filled=filled,
        )


class ResamplerCounts:
    """Counters of a stage's resampler (``self._resampler``), as result attributes."""

    _resampler: Resampler

    @property
    def gaps_(self) -> int:
        return self._resampler.gaps

    @property
    def holes_filled_(self) -> int:
        return self._resampler.holes_filled

    @property
    def filled_samples_(self) -> int:
        return self._resampler.filled_samples

    @property
    def dropped_samples_(self) -> int:
        """Samples left out: out of time order, or with a NaN/inf value."""
        return self._resampler.dropped_out_of_order + self._resampler.dropped_nonfinite
