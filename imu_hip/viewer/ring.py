"""Preallocated ring buffers for the live signals (no Qt; one writer thread, readers anywhere).

A :class:`RingBuffer` holds the newest ``capacity`` samples of one sensor: host time (float64)
and ``channels`` values (float32). The writer (the worker thread) copies each block in with at
most two slice assignments; a reader (the GUI timer) copies out only the visible window. Both hold
a lock for the time of one copy, so a reader never sees half a block. A gap in the stream
(``gap_before``) is stored as one NaN row, so the drawn line breaks there instead of bridging it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Window:
    """A copy of the samples in a time window, oldest first.

    ``t_s``: (n,) host time; ``values``: (n, channels) float32; ``first_index``: running sample
    count of row 0 (counts the NaN gap rows too), so decimation bins can stay fixed to samples while
    the window scrolls; ``newest_arrival_s``: ``time.perf_counter()`` when the newest sample in
    the buffer was written (for latency measurements); ``epoch``: how many times the buffer was
    cleared (running indices restart at each clear).
    """

    t_s: np.ndarray
    values: np.ndarray
    first_index: int
    newest_arrival_s: float
    epoch: int = 0

    def __len__(self) -> int:
        return int(self.t_s.shape[0])


class RingBuffer:
    """The newest ``capacity`` samples of a ``channels``-wide stream, preallocated.

    ``push(t_s, values, gap_before=False)`` appends (samples in time order; a block longer than
    the capacity keeps its newest samples). ``window(span_s)`` copies the samples within
    ``span_s`` of the newest one. ``received`` counts the samples pushed (without gap rows).
    """

    def __init__(self, capacity: int, channels: int):
        if capacity < 2 or channels < 1:
            raise ValueError(f"capacity must be >= 2 and channels >= 1, got {capacity}, {channels}")
        self.capacity = int(capacity)
        self.channels = int(channels)
        self._t = np.full(self.capacity, np.nan)
        self._x = np.zeros((self.capacity, self.channels), dtype=np.float32)
        self._count = 0  # rows ever written (the next row's running index)
        self.epoch = 0  # clears so far
        self._lock = threading.Lock()
        self.received = 0
        self.first_t_s = np.nan
        self.newest_t_s = np.nan
        self.newest_arrival_s = np.nan

    def __len__(self) -> int:
        return min(self._count, self.capacity)

    @property
    def written(self) -> int:
        """Rows written so far (changes whenever the buffer does; 0 after :meth:`clear`)."""
        return self._count

    def clear(self) -> None:
        with self._lock:
            self._count = 0
            self.epoch += 1
            self.received = 0
            self.first_t_s = self.newest_t_s = self.newest_arrival_s = np.nan
            self._t[:] = np.nan

    def push(self, t_s: np.ndarray, values: np.ndarray, gap_before: bool = False) -> None:
        t_s = np.asarray(t_s, dtype=np.float64)
        n = t_s.shape[0]
        if n == 0:
            return
        values = np.asarray(values).reshape(n, self.channels)
        with self._lock:
            if gap_before and self._count > 0:
                # one NaN row just before the block: a break in the drawn line
                self._write(np.array([t_s[0] - 1e-9]), np.full((1, self.channels), np.nan))
            self._write(t_s, values)
            self.received += n
            if not np.isfinite(self.first_t_s):
                self.first_t_s = float(t_s[0])
            self.newest_t_s = float(t_s[-1])
            self.newest_arrival_s = time.perf_counter()

    def _write(self, t_s: np.ndarray, values: np.ndarray) -> None:
        n = t_s.shape[0]
        if n > self.capacity:
            t_s, values = t_s[-self.capacity :], values[-self.capacity :]
            self._count += n - self.capacity
            n = self.capacity
        start = self._count % self.capacity
        first = min(n, self.capacity - start)
        self._t[start : start + first] = t_s[:first]
        self._x[start : start + first] = values[:first]
        if first < n:
            self._t[: n - first] = t_s[first:]
            self._x[: n - first] = values[first:]
        self._count += n

    def window(self, span_s: float, end_s: float | None = None) -> Window:
        """Copy of the samples with ``end - span_s <= t <= end`` (``end``: the newest sample,
        or ``end_s`` if given)."""
        with self._lock:
            size = min(self._count, self.capacity)
            if size == 0:
                return Window(np.zeros(0), np.zeros((0, self.channels), np.float32), 0, np.nan,
                              self.epoch)
            oldest = self._count - size  # running index of the oldest row held
            end = self.newest_t_s if end_s is None else end_s
            lo = self._search(oldest, self._count, end - span_s, "left")
            hi = self._search(oldest, self._count, end, "right")
            idx_lo, idx_hi = lo % self.capacity, hi % self.capacity
            if hi - lo <= 0:
                t = np.zeros(0)
                x = np.zeros((0, self.channels), np.float32)
            elif idx_lo < idx_hi or hi - lo == 0:
                t = self._t[idx_lo:idx_hi].copy()
                x = self._x[idx_lo:idx_hi].copy()
            else:  # wraps around the end of the storage
                t = np.concatenate((self._t[idx_lo:], self._t[:idx_hi]))
                x = np.concatenate((self._x[idx_lo:], self._x[:idx_hi]))
            return Window(t, x, lo, self.newest_arrival_s, self.epoch)

    def _search(self, lo: int, hi: int, value: float, side: str) -> int:
        """Running index of the first row (in ``lo..hi``) with t >= value (side left) or
        t > value (side right); rows are in time order, NaN gap rows included."""
        # the stored rows are two sorted runs: [lo % cap, cap) and [0, hi % cap) when wrapped
        a, b = lo % self.capacity, hi % self.capacity
        if b == 0:
            b = self.capacity if hi > lo else 0
        if a < b:
            return lo + int(np.searchsorted(self._t[a:b], value, side=side))
        older = self._t[a:]
        k = int(np.searchsorted(older, value, side=side))
        if k < older.shape[0]:
            return lo + k
        return lo + older.shape[0] + int(np.searchsorted(self._t[:b], value, side=side))
