"""One gap-free segment of uniform samples, cut into fixed frames with context on both sides.

The stages analyse frame ``k`` (segment samples ``[k·frame_n, (k+1)·frame_n)``, the *core*) with
``margin_n`` samples of context before and after it, as soon as that context has arrived; the
last frame of a segment takes everything to its end. Every decision is taken at fixed sample
counts, never at block boundaries, so the result does not depend on how the input was cut into
blocks. Rows no later frame needs are forgotten.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class Frame:
    """One frame: ``data[name]`` holds rows ``start:stop`` of each channel (segment indices);
    the core is ``core_start:core_end`` in frame rows; ``t0_s`` is the time of frame row 0;
    ``filled``: sorted frame rows that were filled over a short hole, or None."""

    data: dict[str, np.ndarray]
    t0_s: float
    core_start: int
    core_end: int
    filled: np.ndarray | None


class SegmentFrames:
    """The buffered samples of one segment (``number``, first sample at ``t0_s``)."""

    def __init__(self, number: int, t0_s: float, rate_hz: float, frame_n: int, margin_n: int):
        self.number = number
        self.t0_s = t0_s
        self.rate_hz = rate_hz
        self.frame_n = frame_n
        self.margin_n = margin_n
        self.length = 0  # samples received in this segment
        self._offset = 0  # segment index of buffer row 0
        self._next_frame = 0
        self._parts: dict[str, list[np.ndarray]] = {}
        self._filled: list[np.ndarray] = []  # segment indices of filled samples

    def append(self, filled: np.ndarray | None, **channels: np.ndarray) -> None:
        """Add the next rows of every channel (same length); ``filled``: their filled-sample
        mask, or None."""
        n = len(next(iter(channels.values())))
        if filled is not None:
            self._filled.append(self.length + np.flatnonzero(filled))
        for name, rows in channels.items():
            self._parts.setdefault(name, []).append(rows)
        self.length += n

    def truncate(self, length: int) -> None:
        """Forget every row from segment index ``length`` on (rows no frame was cut from yet:
        ``length`` must not be below the last emitted core end)."""
        if length < self._next_frame * self.frame_n or length > self.length:
            raise ValueError(f"cannot truncate a segment of {self.length} samples to {length}")
        for parts in self._parts.values():
            if parts:
                parts[:] = [np.concatenate(parts)[: length - self._offset]]
        if self._filled:
            idx = np.concatenate(self._filled)
            idx = idx[idx < length]
            self._filled[:] = [idx] if idx.size else []
        self.length = length

    def frames(self, final: bool = False) -> Iterator[Frame]:
        """The frames whose context is complete; with ``final``, every frame left."""
        while (
            self._next_frame * self.frame_n < self.length
            if final
            else self.length >= (self._next_frame + 1) * self.frame_n + self.margin_n
        ):
            core_start = self._next_frame * self.frame_n
            core_end = core_start + self.frame_n
            if final and core_end + self.margin_n >= self.length:
                core_end = self.length  # the last frame takes everything to the segment end
            start = max(0, core_start - self.margin_n)
            stop = min(self.length, core_end + self.margin_n)
            filled = None
            if self._filled:
                idx = np.concatenate(self._filled)
                filled = idx[(idx >= start) & (idx < stop)] - start
            yield Frame(
                data={name: self._take(name, start, stop) for name in self._parts},
                t0_s=self.t0_s + start / self.rate_hz,
                core_start=core_start - start,
                core_end=core_end - start,
                filled=filled,
            )
            self._next_frame = int(np.ceil(core_end / self.frame_n))
            self._trim(keep_from=self._next_frame * self.frame_n - self.margin_n)

    def _take(self, name: str, start: int, stop: int) -> np.ndarray:
        parts = self._parts[name]
        if len(parts) > 1:
            parts[:] = [np.concatenate(parts)]
        return parts[0][start - self._offset : stop - self._offset]

    def _trim(self, keep_from: int) -> None:
        """Forget buffered rows before segment index ``keep_from``."""
        cut = keep_from - self._offset
        if cut <= 0:
            return
        for parts in self._parts.values():
            if parts:
                parts[:] = [np.concatenate(parts)[cut:]]
        if self._filled:
            idx = np.concatenate(self._filled)
            idx = idx[idx >= keep_from]
            self._filled[:] = [idx] if idx.size else []
        self._offset = keep_from


def touches(filled: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Whether any of the sorted sample indices ``filled`` (e.g. :attr:`Frame.filled`) lies in
    ``[lo, hi]`` (bounds may be float), per pair of bounds."""
    return np.searchsorted(filled, lo, side="left") < np.searchsorted(filled, hi, side="right")
