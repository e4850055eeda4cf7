"""Virtual devices for ``--sim`` and the tests: the simulator's runner, sent as imu-hip frames.

A :class:`VirtualLink` behaves like a BLE device speaking the open ``imu-hip`` protocol: it
"connects", answers the start command through the protocol's reference
:class:`~imu_hip.protocols.imu_hip_protocol.DeviceState`, and sends data frames batched for the
MTU (19 samples per notification at MTU 247) with the samples of :func:`imu_hip.sim.simulate`.
Devices of one :class:`SimSource` wear the same simulated runner (sacrum, left and right foot).

Time: the link keeps a *virtual host clock* that starts at :func:`~imu_hip.ble.clock.host_time`
when :meth:`VirtualLink.run` starts and runs ``speed`` times faster than the wall clock (``speed
= inf``: as fast as the loop allows, for tests). Notifications carry receive times on that clock
and are delivered (paced) when it reaches them. Each frame leaves when its last sample is taken
and arrives after ``latency_s`` plus exponential jitter (``jitter_mean_s``) plus, during bursts,
``burst_delay_s``; delivery keeps the order of sending, as BLE does.

Faults (:class:`Faults`): dropped, duplicated, reordered and corrupted notifications; link loss
(the device keeps sampling and counting frames, frames of the outage are lost) and reconnect,
with BlueZ's "every notification twice" after it; a device that never answers; device clock offset
and drift. All randomness comes from ``seed``.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field

import numpy as np

from imu_hip.ble.clock import host_time
from imu_hip.ble.link import DeviceInfo, Link, NotificationHandler, StateHandler
from imu_hip.model import ImuHipError

#: Default length of one simulated piece (s); pieces are simulated as they are needed.
CHUNK_S = 300.0


@dataclass(frozen=True)
class Faults:
    """What goes wrong on a virtual link (probabilities per notification, times in seconds of
    the device's stream; ``clock_drift_ppm`` > 0: the device clock runs fast)."""

    drop_prob: float = 0.0
    duplicate_prob: float = 0.0
    reorder_prob: float = 0.0
    corrupt_prob: float = 0.0
    latency_s: float = 0.004
    jitter_mean_s: float = 0.004
    burst_every_s: float | None = None
    burst_len_s: float = 0.5
    burst_delay_s: float = 0.1
    link_loss_at_s: tuple[float, ...] = ()
    link_loss_s: float = 2.0
    duplicate_after_reconnect: bool = False
    never_answers: bool = False
    connect_timeout_s: float = 5.0
    max_attempts: int = 3
    clock_offset_s: float = 0.0
    clock_drift_ppm: float = 0.0


class SimSource:
    """The simulated runner shared by the virtual devices of one session.

    ``duration_s``: total length (None: endless). The run is simulated in pieces as it is needed
    (a first piece of ``first_chunk_s``, then ``chunk_s`` each, in a worker thread, the next
    one prefetched); the first piece starts with ``stand_s`` of standing so the sacral alignment
    finds a neutral. Pieces are independent runs (seed + piece number) joined end to end, with
    the sensors mounted as in the first piece.
    """

    def __init__(self, placements: tuple[str, ...] = ("sacrum", "left_foot", "right_foot"),
                 duration_s: float | None = None, seed: int = 0, params=None,
                 stand_s: float = 5.0, chunk_s: float = CHUNK_S, rate_hz: float = 400.0,
                 first_chunk_s: float = 30.0):
        from imu_hip.sim import SENSOR_IDS

        for p in placements:
            if p not in SENSOR_IDS:
                raise ImuHipError(f"cannot simulate placement {p!r}; use "
                                  f"{', '.join(SENSOR_IDS)}")
        self.placements = tuple(placements)
        self.duration_s = duration_s
        self.seed = seed
        self.params = params
        self.stand_s = stand_s
        self.chunk_s = chunk_s
        self.first_chunk_s = min(first_chunk_s, chunk_s)
        self.rate_hz = float(rate_hz if params is None else params.rate_hz)
        self._chunks: dict[int, dict[str, tuple[np.ndarray, np.ndarray]]] = {}
        self._tasks: dict[int, asyncio.Future] = {}
        self._mounting: dict[str, np.ndarray] | None = None  # from piece 0, kept for the rest

    @property
    def total_samples(self) -> float:
        return math.inf if self.duration_s is None else math.floor(self.duration_s
                                                                   * self.rate_hz + 1e-9)

    def _start(self, j: int) -> float:
        """Start (s) of piece ``j``: a short first piece (streaming starts quickly), then
        ``chunk_s`` each."""
        return 0.0 if j == 0 else self.first_chunk_s + (j - 1) * self.chunk_s

    def _phases(self, j: int) -> tuple[tuple[str, float], ...]:
        total = self.duration_s if self.duration_s is not None else math.inf
        start = self._start(j)
        length = min(self.first_chunk_s if j == 0 else self.chunk_s, total - start)
        if j == 0 and self.stand_s > 0 and length > self.stand_s:
            return (("stand", self.stand_s), ("run", length - self.stand_s))
        return (("run", length),)

    def _simulate(self, j: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        from dataclasses import replace

        from imu_hip.sim import RunnerParams, simulate

        base = self.params if self.params is not None else RunnerParams()
        p = replace(base, phases=self._phases(j))
        if j > 0 and self._mounting is not None:
            p = replace(p, mounting=self._mounting)  # the sensors stay where they were worn
        sim = simulate(p, seed=self.seed + j, placements=self.placements)
        if j == 0:
            self._mounting = {pl: sim.mounting[pl] for pl in self.placements}
        return {s.placement: (s.acc_mps2, s.gyr_rads) for s in sim.recording.sensors}

    async def chunk(self, j: int) -> dict[str, tuple[np.ndarray, np.ndarray]] | None:
        """Piece ``j`` (None past the end); simulated in a worker thread, next one prefetched."""
        end = self.duration_s if self.duration_s is not None else math.inf
        if self._start(j) >= end:
            return None
        if j not in self._chunks:
            if j not in self._tasks:
                self._tasks[j] = asyncio.ensure_future(asyncio.to_thread(self._simulate, j))
            self._chunks[j] = await self._tasks[j]
            nxt = j + 1
            if self._start(nxt) < end and nxt not in self._tasks:
                self._tasks[nxt] = asyncio.ensure_future(asyncio.to_thread(self._simulate, nxt))
            for old in [k for k in self._chunks if k < j - 1]:
                del self._chunks[old]
                self._tasks.pop(old, None)
        return self._chunks[j]

    def chunk_now(self, j: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Piece ``j`` simulated synchronously (benchmarks: keep simulation out of the timing)."""
        if j not in self._chunks:
            self._chunks[j] = self._simulate(j)
        return self._chunks[j]


@dataclass
class _Pending:
    received_at: float
    data: bytes
    copies: int = 1


@dataclass
class VirtualStats:
    """What a virtual link did (for tests): frames made, sent, dropped... and true times."""

    frames: int = 0
    sent: int = 0
    dropped: int = 0
    duplicated: int = 0
    reordered: int = 0
    corrupted: int = 0
    lost_in_outage: int = 0
    host_t0: float = math.nan  # true host time of sample 0
    outages: list[tuple[float, float]] = field(default_factory=list)


class VirtualLink(Link):
    """A simulated imu-hip device (see the module docstring).

    ``speed``: how much faster than real time the virtual clock runs (inf: unpaced).
    ``connect_s``: virtual time from start to streaming. ``host_clock``: the clock that
    anchors the virtual host time (default :func:`host_time`).
    """

    def __init__(self, placement: str, source: SimSource, faults: Faults | None = None,
                 speed: float = 1.0, mtu: int = 247, seed: int = 0, name: str | None = None,
                 address: str | None = None, sensor_id: int = 0, connect_s: float = 0.2,
                 host_clock=host_time):
        if placement not in source.placements:
            raise ImuHipError(f"the simulation has no {placement} sensor")
        if not speed > 0:
            raise ImuHipError(f"speed must be positive, got {speed}")
        from imu_hip.protocols import imu_hip_protocol as proto

        self._proto = proto
        self.placement = placement
        self.source = source
        self.faults = faults or Faults()
        self.speed = float(speed)
        self.per_frame = proto.max_samples(mtu)
        self.rng = np.random.default_rng(seed)
        self.sensor_id = sensor_id
        self.connect_s = connect_s
        self._host_clock = host_clock
        self.device = proto.DeviceState(sensor_id=sensor_id, battery_pct=87,
                                        model="imu-hip virtual")
        self.device.rate = proto.rate_code(source.rate_hz)
        self.info = DeviceInfo(name=name or f"imu-hip sim {placement}",
                               address=address or f"SIM:{placement}", protocol="imu-hip",
                               rssi_dbm=-50, battery_pct=87)
        self.stats = VirtualStats()
        self._stop = asyncio.Event()
        self._h0 = 0.0
        self._w0 = 0.0

    # -- virtual time ---------------------------------------------------------------------------

    def _now(self) -> float:
        if math.isinf(self.speed):
            return math.inf
        return self._h0 + (time.monotonic() - self._w0) * self.speed

    async def _until(self, host_t: float) -> bool:
        """Sleep until virtual host time ``host_t``; False if stopped meanwhile."""
        if self._stop.is_set():
            return False
        if math.isinf(self.speed):
            await asyncio.sleep(0)
            return not self._stop.is_set()
        delay = (host_t - self._now()) / self.speed
        if delay > 0:
            try:
                await asyncio.wait_for(self._stop.wait(), timeout=delay)
                return False
            except TimeoutError:
                return True
        await asyncio.sleep(0)
        return not self._stop.is_set()

    def device_time(self, true_s: np.ndarray | float) -> np.ndarray:
        """Device clock reading (s) at true stream time ``true_s`` (s since sample 0)."""
        f = self.faults
        return f.clock_offset_s + (1.0 + f.clock_drift_ppm * 1e-6) * np.asarray(true_s)

    def true_host_time(self, sample_index: np.ndarray) -> np.ndarray:
        """True host time of samples (by index in the stream); valid once ``run`` started."""
        k = np.asarray(sample_index, dtype=np.float64)
        return self.stats.host_t0 + k / self.source.rate_hz / (
            1.0 + self.faults.clock_drift_ppm * 1e-6)

    # -- Link API -------------------------------------------------------------------------------

    async def run(self, on_notification: NotificationHandler, on_state: StateHandler) -> None:
        f = self.faults
        self._stop.clear()
        self._h0 = self._host_clock()
        self._w0 = time.monotonic()
        on_state("connecting", f"virtual {self.placement}")
        if f.never_answers:
            for attempt in range(1, f.max_attempts + 1):
                if not await self._until(self._h0 + attempt * f.connect_timeout_s):
                    on_state("stopped", "")
                    return
                on_state("reconnecting", f"no answer (attempt {attempt} of {f.max_attempts})")
            on_state("failed", "the device never answered")
            return
        if not await self._until(self._h0 + self.connect_s):
            on_state("stopped", "")
            return
        self.device.handle_command(self._proto.cmd_start())
        self.stats.host_t0 = self._h0 + self.connect_s
        on_state("streaming", "")
        await self._stream(on_notification, on_state)
        on_state("stopped", "")

    async def stop(self) -> None:
        self._stop.set()
        self.device.handle_command(self._proto.cmd_stop())

    async def write(self, uuid: str, data: bytes) -> None:
        if uuid.lower() != self._proto.CONTROL_UUID:
            raise ImuHipError(f"virtual device has no writable characteristic {uuid}")
        self.device.handle_command(data)

    async def read(self, uuid: str) -> bytes:
        raise ImuHipError(f"virtual device cannot read characteristic {uuid}")

    # -- streaming ------------------------------------------------------------------------------

    def _frames_of(self, acc: np.ndarray, gyr: np.ndarray, k0: int, seq0: int) -> list[bytes]:
        """Frames for samples ``k0 ...`` of the stream (arrays are that piece's rows)."""
        p = self._proto
        out = []
        rate = self.source.rate_hz
        for i in range(0, acc.shape[0], self.per_frame):
            j = min(i + self.per_frame, acc.shape[0])
            # the device samples at its nominal rate by its own clock
            t0_us = round((self.faults.clock_offset_s + (k0 + i) / rate) * 1e6)
            out.append(p.encode_frame(seq0 + len(out), t0_us, acc[i:j], gyr[i:j],
                                      sensor_id=self.sensor_id, rate_hz=rate))
        return out

    def _delay(self, t_true: float) -> float:
        f = self.faults
        d = f.latency_s + (self.rng.exponential(f.jitter_mean_s) if f.jitter_mean_s > 0 else 0.0)
        if f.burst_every_s and (t_true % f.burst_every_s) < f.burst_len_s:
            d += f.burst_delay_s
        return d

    async def _stream(self, on_notification: NotificationHandler, on_state: StateHandler) -> None:
        f = self.faults
        p = self._proto
        rate = self.source.rate_hz
        per = self.per_frame
        t0 = self.stats.host_t0
        k = 0  # samples of the stream taken so far
        seq = 0
        last_rx = -math.inf
        losses = sorted(f.link_loss_at_s)
        outage_end = -math.inf
        dup_all = False
        held: _Pending | None = None  # a frame held back to be sent after the next (reorder)
        j = 0
        while not self._stop.is_set():
            piece = await self.source.chunk(j)
            if piece is None:
                break
            acc, gyr = piece[self.placement]
            chunk_k0 = k
            for i in range(0, acc.shape[0], per):
                if self._stop.is_set():
                    return
                n = min(per, acc.shape[0] - i)
                kk = chunk_k0 + i
                t_last_true = (kk + n - 1) / rate / (1.0 + f.clock_drift_ppm * 1e-6)
                frame = self._frames_of(acc[i:i + n], gyr[i:i + n], kk, seq)[0]
                seq += 1
                k = kk + n
                self.stats.frames += 1
                # link loss: the device keeps counting; frames during the outage are lost
                if losses and t_last_true >= losses[0]:
                    start = losses.pop(0)
                    outage_end = start + f.link_loss_s
                    self.stats.outages.append((start, outage_end))
                    if not await self._until(t0 + start):
                        return
                    on_state("reconnecting", "virtual link lost")
                if t_last_true < outage_end:
                    self.stats.lost_in_outage += 1
                    continue
                if outage_end > -math.inf and math.isfinite(outage_end):
                    if not await self._until(t0 + outage_end):
                        return
                    on_state("connecting", "")
                    self.device.handle_command(p.cmd_start())
                    on_state("streaming", "reconnected")
                    outage_end = -math.inf
                    dup_all = f.duplicate_after_reconnect
                    held = None
                rx = max(last_rx, t0 + t_last_true + self._delay(t_last_true))
                last_rx = rx
                u = self.rng.random(4)
                if u[0] < f.drop_prob:
                    self.stats.dropped += 1
                    continue
                if u[1] < f.corrupt_prob:
                    b = bytearray(frame)
                    pos = int(self.rng.integers(len(b)))
                    b[pos] ^= 1 << int(self.rng.integers(8))
                    frame = bytes(b)
                    self.stats.corrupted += 1
                copies = 2 if (dup_all or u[2] < f.duplicate_prob) else 1
                if copies == 2:
                    self.stats.duplicated += 1
                item = _Pending(rx, frame, copies)
                if held is None and u[3] < f.reorder_prob:
                    held = item
                    self.stats.reordered += 1
                    continue
                batch = [item] if held is None else [item, held]
                held = None
                for it in batch:
                    if not await self._until(rx):
                        return
                    for _ in range(it.copies):
                        on_notification(p.DATA_UUID, it.data, rx)
                        self.stats.sent += 1
            j += 1
        if held is not None and not self._stop.is_set():
            on_notification(p.DATA_UUID, held.data, last_rx)
            self.stats.sent += 1


def virtual_devices(placements: tuple[str, ...] = ("sacrum",), duration_s: float | None = None,
                    speed: float = 1.0, seed: int = 0, faults: dict[str, Faults] | None = None,
                    params=None) -> list[VirtualLink]:
    """One :class:`VirtualLink` per placement, all wearing the same simulated runner."""
    source = SimSource(placements, duration_s=duration_s, seed=seed, params=params)
    faults = faults or {}
    return [VirtualLink(pl, source, faults.get(pl), speed=speed, seed=seed * 7 + i + 1,
                        sensor_id=i) for i, pl in enumerate(placements)]
