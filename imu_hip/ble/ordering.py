"""Put one device's decoded packets back in order: duplicates, reordering, gaps, lost packets.

Packets are ordered by the protocol's sequence number, or, when it has none, by the device time
of their first sample; a device with neither is taken in arrival order. Rules:

* **Duplicates** (a key already emitted or waiting) are dropped and counted. BlueZ delivers every
  notification twice after an unclean reconnect; with neither sequence numbers nor timestamps a
  duplicate is a packet whose samples equal the previous packet's bit for bit.
* **Reordering**: packets wait in a small buffer until the next expected one arrives, the buffer
  holds more than ``window`` packets, or the oldest waiting packet arrived more than
  ``max_wait_s`` before the newest one (the very first packet always waits like that, since
  one sent before it may still arrive). Waiting is decided by receive times only (never by
  reading a clock), so replaying a recording reorders it exactly as it was reordered live.
* **Gaps**: a packet emitted after a hole gets ``gap_before=True`` and the missing packets are
  counted as lost. A packet arriving after its hole was given up is *late*: counted and dropped
  (the pipeline only moves forward; its raw bytes are still in the recording).
* **Restarts**: a sequence number far behind the last one (a rebooted device) or a jump forward
  that the elapsed receive time cannot explain starts a new epoch: a gap with an unknown number
  of lost packets (``missing=None``), nothing counted as lost.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from imu_hip.model import gap_threshold_s
from imu_hip.protocols.base import DecodedBlock


@dataclass
class OrderStats:
    """Counts kept by :class:`PacketOrderer` (packets, not samples)."""

    received: int = 0  #: packets pushed
    emitted: int = 0
    duplicates: int = 0
    lost: int = 0  #: packets missing according to sequence numbers or device time
    late: int = 0  #: arrived after their hole was given up (dropped)
    reordered: int = 0  #: arrived after a packet that follows them
    gaps: int = 0  #: holes marked (including restarts)
    restarts: int = 0


@dataclass(frozen=True, eq=False)
class Ordered:
    """One packet leaving the orderer: ``missing`` packets lost before it (None: unknown)."""

    block: DecodedBlock
    gap_before: bool
    missing: int | None


class PacketOrderer:
    """Order one device's packets; see the module docstring. Deterministic in its inputs."""

    def __init__(self, window: int = 16, max_wait_s: float = 0.25, restart_back: int = 256,
                 recent: int = 512):
        self.window = int(window)
        self.max_wait_s = float(max_wait_s)
        self.restart_back = int(restart_back)
        self.stats = OrderStats()
        self._mode: str | None = None  # "seq", "time" or "arrival"
        self._pending: list[tuple[float, int, DecodedBlock]] = []  # (key, arrival no., block)
        self._arrivals = 0
        self._recent: deque[float] = deque(maxlen=recent)
        self._recent_set: set[float] = set()
        self._last_key: float | None = None  # key of the last emitted packet
        self._next_key: float | None = None  # key expected next
        self._first_received: float | None = None
        self._last_received: float | None = None
        self._prev_arrival: DecodedBlock | None = None
        self._last_emit_received: float | None = None
        self._restarted = False
        self._max_key: float | None = None  # largest key pushed in this epoch

    # -- keys ---------------------------------------------------------------------------------

    def _key(self, b: DecodedBlock) -> float:
        if self._mode == "seq":
            return float(b.seq)  # type: ignore[arg-type]
        if self._mode == "time":
            # device time rounded to a tenth of a sample: the same sample compares equal
            return round(float(b.device_t_s[0]) * b.rate_hz * 10.0)  # type: ignore[index]
        return float(self._arrivals)

    def _step(self, b: DecodedBlock) -> float:
        """Key distance from this packet to the one after it."""
        if self._mode == "seq":
            return 1.0
        if self._mode == "time":
            return 10.0 * len(b)
        return 1.0

    def _is_next(self, key: float) -> bool:
        if self._next_key is None:
            return False  # the first packet (of an epoch) waits too: one sent before may follow
        if self._mode == "time":
            return abs(key - self._next_key) <= 5.0  # within half a sample
        return key == self._next_key

    # -- main ---------------------------------------------------------------------------------

    def push(self, b: DecodedBlock) -> list[Ordered]:
        """Take one decoded packet (in arrival order); return the packets now ready, in order."""
        self.stats.received += 1
        if self._mode is None:
            self._mode = ("seq" if b.seq is not None
                          else "time" if b.device_t_s is not None and len(b) > 0 else "arrival")
        if self._first_received is None:
            self._first_received = b.received_at
        self._last_received = b.received_at
        out: list[Ordered] = []
        if self._mode == "arrival" or (self._mode == "seq" and b.seq is None) or (
                self._mode == "time" and (b.device_t_s is None or len(b) == 0)):
            if self._mode == "arrival" and self._same_samples(b, self._prev_arrival):
                self.stats.duplicates += 1
                return out
            self._prev_arrival = b
            self._arrivals += 1
            self.stats.emitted += 1
            return [Ordered(b, False, 0)]
        key = self._key(b)
        self._arrivals += 1
        if key in self._recent_set or any(p[0] == key for p in self._pending):
            self.stats.duplicates += 1
            return out
        if self._last_key is not None and key < self._last_key:
            if self._mode == "seq" and self._last_key - key > self.restart_back:
                out.extend(self.flush())
                self._restart()
            else:
                self.stats.late += 1
                self._remember(key)  # a second copy of it is a duplicate, not late again
                return out
        if self._max_key is not None and key < self._max_key:
            self.stats.reordered += 1
        self._max_key = key if self._max_key is None else max(self._max_key, key)
        self._pending.append((key, self._arrivals, b))
        self._pending.sort(key=lambda p: (p[0], p[1]))
        out.extend(self._release(b.received_at))
        return out

    def flush(self) -> list[Ordered]:
        """Release every waiting packet (end of stream)."""
        out: list[Ordered] = []
        while self._pending:
            out.append(self._emit())
        return out

    def _release(self, newest_received: float) -> list[Ordered]:
        out: list[Ordered] = []
        while self._pending:
            head_key = self._pending[0][0]
            oldest = min(p[2].received_at for p in self._pending)
            if (self._is_next(head_key) or len(self._pending) > self.window
                    or newest_received - oldest > self.max_wait_s):
                out.append(self._emit())
            else:
                break
        return out

    def _emit(self) -> Ordered:
        key, _, b = self._pending.pop(0)
        missing: int | None = 0
        gap = False
        if self._next_key is not None and not self._is_next(key):
            gap = True
            self.stats.gaps += 1
            if self._mode == "seq":
                missing = int(key - self._next_key)
                if not self._plausible(missing, b.received_at):
                    missing = None
                    self.stats.restarts += 1
            else:  # time: missing samples -> packets at this packet's size
                holes = (key - self._next_key) / 10.0
                if holes * 1.0 / b.rate_hz <= gap_threshold_s(b.rate_hz) - 1.0 / b.rate_hz:
                    gap = False
                    self.stats.gaps -= 1
                    missing = 0
                else:
                    missing = max(1, round(holes / max(1, len(b))))
            if missing:
                self.stats.lost += missing
        if self._restarted:
            self._restarted = False
            gap, missing = True, None
            self.stats.gaps += 1
        self._last_key = key
        self._next_key = key + self._step(b)
        self._last_emit_received = b.received_at
        self._remember(key)
        self.stats.emitted += 1
        return Ordered(b, gap, missing)

    def _remember(self, key: float) -> None:
        if len(self._recent) == self._recent.maxlen:
            self._recent_set.discard(self._recent[0])
        self._recent.append(key)
        self._recent_set.add(key)

    def _plausible(self, missing: int, received_at: float) -> bool:
        """Could ``missing`` packets have been sent since the last emitted one arrived?"""
        slack = 4 * self.window
        if self._first_received is None or self._last_emit_received is None:
            return missing <= slack
        span = self._last_emit_received - self._first_received
        if self.stats.emitted < 8 or span <= 0:
            return missing <= slack
        rate = self.stats.emitted / span  # packets per second received so far
        elapsed = max(received_at - self._last_emit_received, 0.0)
        return missing <= 2.0 * rate * elapsed + slack

    def _restart(self) -> None:
        self.stats.restarts += 1
        self._last_key = None
        self._next_key = None
        self._max_key = None
        self._restarted = True
        self._recent.clear()
        self._recent_set.clear()

    @staticmethod
    def _same_samples(a: DecodedBlock, b: DecodedBlock | None) -> bool:
        if b is None or len(a) == 0 or len(a) != len(b):
            return False
        for x, y in ((a.acc_mps2, b.acc_mps2), (a.gyr_rads, b.gyr_rads)):
            if (x is None) != (y is None):
                return False
            if x is not None and not np.array_equal(x, y):
                return False
        if a.acc_mps2 is None and a.gyr_rads is None:
            return all(k in b.values and np.array_equal(v, b.values[k])
                       for k, v in a.values.items()) and bool(a.values)
        return True


