"""Put one device's decoded packets back in order: duplicates, reordering, gaps, lost packets.

Packets are ordered by the protocol's sequence number, or, when it has none, by the device time
of their first sample; a device with neither is taken in arrival order. Rules:

* **Device time is compared in seconds**, never converted to sample counts with the packet's
  ``rate_hz``: the rate is a derived quantity that a decoder may re-estimate (Polar PMD) or a
  device may change when re-configured, while the device clock keeps counting. Scaling times by
  a rate that changed mid-stream moved every later key (by ``t * delta_rate``, enormous for a
  clock counting from 2000), so all later packets looked late or a hole of billions of packets
  appeared. Tolerances are tied to each packet's own sample spacing (from its device times):
  two first-sample times within 0.3 sample are the same packet, and a packet follows the last
  emitted one when its first sample lies 0.5-1.5 sample after that packet's last sample. Across
  a rate change a hole is a gap only when longer than :func:`~imu_hip.model.gap_threshold_s` at
  the slower of the two rates, so the stream continues without a false gap (a lost packet right
  at a rate change that is shorter than that goes uncounted). A new epoch is started only when
  device time itself jumps (see *Restarts*), not when the rate changes.
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
  of lost packets (``missing=None``), nothing counted as lost. Without sequence numbers the
  same holds for device time: more than ``restart_back_s`` (or ``window`` packets) behind the
  last emitted packet is a clock reset, and a hole longer than twice the receive time elapsed
  since the last emitted packet arrived (plus 2 s and the wait buffer of slack) cannot be lost
  packets. This caps the lost-packet estimate at what the elapsed time could have carried.
"""

from __future__ import annotations

import bisect
import math
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
    """Order one device's packets; see the module docstring. Deterministic in its inputs.

    ``restart_back_s``: without sequence numbers, a packet whose device time lies more than
    this (or more than ``window`` packets of its own length, whichever is longer) behind the
    last emitted one is a device-clock reset (new epoch), not a late packet.
    """

    def __init__(self, window: int = 16, max_wait_s: float = 0.25, restart_back: int = 256,
                 recent: int = 512, restart_back_s: float = 1.0):
        self.window = int(window)
        self.max_wait_s = float(max_wait_s)
        self.restart_back = int(restart_back)
        self.restart_back_s = float(restart_back_s)
        self.stats = OrderStats()
        self._mode: str | None = None  # "seq", "time" or "arrival"
        self._pending: list[tuple[float, int, DecodedBlock]] = []  # (key, arrival no., block)
        self._arrivals = 0
        self._recent: deque[float] = deque(maxlen=recent)
        self._recent_sorted: list[float] = []
        self._last_key: float | None = None  # key of the last emitted packet
        self._next_key: float | None = None  # seq mode: key expected next
        self._last_end: float | None = None  # time mode: device time of the last sample emitted
        self._last_spacing: float | None = None  # time mode: its sample spacing (s)
        self._min_delay = math.inf  # time mode: least (receive - device) time of the epoch
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
            return float(b.device_t_s[0])  # type: ignore[index]  # device seconds, rate-free
        return float(self._arrivals)

    @staticmethod
    def spacing_s(b: DecodedBlock) -> float:
        """Sample spacing of one packet (s): from its own device times when it has two or more
        increasing ones, else ``1 / rate_hz``."""
        t = b.device_t_s
        if t is not None and len(t) > 1:
            dt = (float(t[-1]) - float(t[0])) / (len(t) - 1)
            if math.isfinite(dt) and dt > 0:
                return dt
        return 1.0 / b.rate_hz if b.rate_hz > 0 else 0.0

    def _tolerance(self, b: DecodedBlock) -> float:
        """Two keys closer than this are the same packet (seq: exact; time: 0.3 sample)."""
        return 0.3 * self.spacing_s(b) if self._mode == "time" else 0.0

    def _is_next(self, key: float, b: DecodedBlock) -> bool:
        if self._mode == "time":
            if self._last_end is None or self._last_spacing is None:
                return False  # the first packet (of an epoch) waits: one sent before may follow
            sp = self.spacing_s(b)
            # one sample on: at the new spacing, or at the old one when the rate went up (a
            # whole packet at a higher rate may fit in 1.5 old samples: that one waits)
            return 0.5 * min(sp, self._last_spacing) < key - self._last_end < 1.5 * sp
        if self._next_key is None:
            return False
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
                self._mode == "time" and (b.device_t_s is None or len(b) == 0
                                          or not math.isfinite(float(b.device_t_s[0])))):
            if self._mode == "arrival" and self._same_samples(b, self._prev_arrival):
                self.stats.duplicates += 1
                return out
            self._prev_arrival = b
            self._arrivals += 1
            self.stats.emitted += 1
            return [Ordered(b, False, 0)]
        key = self._key(b)
        tol = self._tolerance(b)
        self._arrivals += 1
        if self._seen(key, tol) or any(abs(p[0] - key) <= tol for p in self._pending):
            self.stats.duplicates += 1
            return out
        if self._last_key is not None and key < self._last_key:
            if self._far_behind(key, b):
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

    def _far_behind(self, key: float, b: DecodedBlock) -> bool:
        """A key this far behind the last emitted one is a restarted device, not a late packet."""
        assert self._last_key is not None
        if self._mode == "seq":
            return self._last_key - key > self.restart_back
        reach_s = max(self.restart_back_s, self.window * len(b) * self.spacing_s(b))
        return self._last_key - key > reach_s

    def _release(self, newest_received: float) -> list[Ordered]:
        out: list[Ordered] = []
        while self._pending:
            head_key, _, head = self._pending[0]
            oldest = min(p[2].received_at for p in self._pending)
            if (self._is_next(head_key, head) or len(self._pending) > self.window
                    or newest_received - oldest > self.max_wait_s):
                out.append(self._emit())
            else:
                break
        return out

    def _emit(self) -> Ordered:
        key, _, b = self._pending.pop(0)
        missing: int | None = 0
        gap = False
        if self._mode == "seq" and self._next_key is not None and key != self._next_key:
            gap = True
            self.stats.gaps += 1
            missing = int(key - self._next_key)
            if not self._plausible(missing, b.received_at):
                missing = None
                self.stats.restarts += 1
        elif self._mode == "time" and self._last_end is not None and self._last_spacing \
                and not self._is_next(key, b):
            gap, missing = self._time_hole(key, b)
        if missing:
            self.stats.lost += missing
        if self._restarted:
            self._restarted = False
            gap, missing = True, None
            self.stats.gaps += 1
        self._last_key = key
        if self._mode == "time":
            self._last_end = float(b.device_t_s[-1])  # type: ignore[index]
            self._last_spacing = self.spacing_s(b)
            self._min_delay = min(self._min_delay, b.received_at - self._last_end)
        else:
            self._next_key = key + 1.0
        self._last_emit_received = b.received_at
        self._remember(key)
        self.stats.emitted += 1
        return Ordered(b, gap, missing)

    def _time_hole(self, key: float, b: DecodedBlock) -> tuple[bool, int | None]:
        """Device time between the last emitted sample and this packet's first one is more
        than one sample: a gap (and how many packets of this size fit in it), a short hole that
        is not a gap, or a jump no lost packets can explain (a restart: unknown count)."""
        assert self._last_end is not None and self._last_spacing is not None
        sp = self.spacing_s(b)
        d = key - self._last_end  # s from the last sample emitted to this packet's first
        if d <= gap_threshold_s(1.0 / max(sp, self._last_spacing)):
            return False, 0  # overlap or a hole samples are interpolated over: one stream
        self.stats.gaps += 1
        hole_s = d - sp  # device time the missing samples covered
        if not self._plausible_s(hole_s, b.received_at):
            self.stats.restarts += 1
            self._min_delay = math.inf  # a new device-time epoch
            return True, None
        missing_samples = hole_s / sp
        return True, max(1, round(missing_samples / max(1, len(b))))

    def _plausible_s(self, hole_s: float, received_at: float) -> bool:
        """Could a hole of ``hole_s`` device seconds have been sent since the last emitted packet
        was sent? Device clocks run within a few 100 ppm of the host's, so the hole is at most
        the receive time elapsed, doubled, plus slack for delivery delay and the wait buffer.
        The last packet may itself have arrived late (it waited behind a swap): it counts as
        arrived when the least delayed packet of the epoch says it could have."""
        if self._last_emit_received is None or self._last_end is None:
            return True
        last = self._last_emit_received
        if math.isfinite(self._min_delay):
            last = min(last, self._last_end + self._min_delay)
        elapsed = max(received_at - last, 0.0)
        return hole_s <= 2.0 * elapsed + 2.0 + 2.0 * self.max_wait_s

    def _remember(self, key: float) -> None:
        if len(self._recent) == self._recent.maxlen:
            old = self._recent[0]
            i = bisect.bisect_left(self._recent_sorted, old)
            if i < len(self._recent_sorted) and self._recent_sorted[i] == old:
                self._recent_sorted.pop(i)
        self._recent.append(key)
        bisect.insort(self._recent_sorted, key)

    def _seen(self, key: float, tol: float) -> bool:
        """Whether a recently emitted (or late) key lies within ``tol`` of ``key``."""
        i = bisect.bisect_left(self._recent_sorted, key - tol)
        return i < len(self._recent_sorted) and self._recent_sorted[i] <= key + tol

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
        self._last_end = None
        self._last_spacing = None
        self._min_delay = math.inf
        self._max_key = None
        self._restarted = True
        self._recent.clear()
        self._recent_sorted.clear()

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


