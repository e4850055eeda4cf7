"""Live sessions: 1-3 devices streaming at once, time-aligned, analysed and recorded.

A :class:`Session` runs one :class:`~imu_hip.ble.link.Link` per device (a real BLE device or a
virtual one from :mod:`imu_hip.ble.virtual`; the session never knows which). For every
notification, on the asyncio loop:

1. its raw bytes, receive time and device id go into the recording (``raw/<device_id>``)
   straight away, before anything can fail;
2. the device's protocol decoder turns it into samples (:mod:`imu_hip.protocols`);
3. :class:`~imu_hip.ble.ordering.PacketOrderer` drops duplicates, undoes reordering, marks gaps
   and counts lost packets;
4. :class:`~imu_hip.ble.clock.ClockMapper` maps device time to host time (offset and drift from
   the lower envelope of receive times; devices without timestamps are counted at their rate);
5. the calibration from ``calibration_for`` (if any) is applied, and the resulting
   :class:`~imu_hip.model.Block` goes to the recording (``imu/<device_id>``), to ``on_block``,
   and - for the sacral sensor - through :class:`~imu_hip.pipeline.SacralStage` with 2 s frames,
   whose steps go to ``on_steps``.

Steps 2-5 depend only on the notifications and their receive times (never on a clock read or on
link events), so :func:`redecode` turns the raw channels of a recording into the very same
blocks, bit for bit.

Threads: everything above runs in the thread of the asyncio loop that runs :meth:`Session.run`,
callbacks included (a GUI must hand data to its own thread, e.g. with a Qt signal).
:meth:`Session.status`, :meth:`Session.steps` and :meth:`Session.request_stop` may be called from
any thread; :meth:`Session.stop` is a coroutine for the loop's own thread.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import math
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from imu_hip.ble.clock import ClockMapper, SampleCounter
from imu_hip.ble.link import Link
from imu_hip.ble.ordering import PacketOrderer
from imu_hip.model import PLACEMENTS, Block, ImuHipError, Recording, SensorRecording
from imu_hip.protocols.base import DecodedBlock, Decoder
from imu_hip.steps import StepTable

log = logging.getLogger(__name__)

__all__ = [
    "Calibration",
    "DeviceSpec",
    "DeviceStatus",
    "DeviceStream",
    "Session",
    "redecode",
]


class Calibration(Protocol):
    """What ``calibration_for`` returns: something that corrects a block (sensor frame, SI).

    ``apply(block)`` returns the corrected block (same times, same length). An optional
    ``metadata() -> dict[str, str]`` is stored with the sensor's channel in the recording.
    A plain function ``Block -> Block`` works too.
    """

    def apply(self, block: Block) -> Block: ...


CalibrationLike = Calibration | Callable[[Block], Block]


@dataclass
class DeviceSpec:
    """One device of a session: its link, where it is worn and the protocol it speaks.

    ``device_id`` names its channels in the recording (default: the link's address, else its
    name). ``placement`` is one of :data:`imu_hip.model.PLACEMENTS`.
    """

    link: Link
    placement: str
    protocol: str
    device_id: str | None = None

    def __post_init__(self) -> None:
        if self.placement not in PLACEMENTS:
            raise ImuHipError(f"unknown placement {self.placement!r}; expected one of "
                              f"{', '.join(PLACEMENTS)}")
        if self.device_id is None:
            info = getattr(self.link, "info", None)
            self.device_id = (getattr(info, "address", "") or getattr(info, "name", "")
                              or self.placement)


@dataclass(frozen=True)
class DeviceStatus:
    """A snapshot of one device (all text untrusted: escape ``name`` and ``detail`` to show).

    ``state``: one of :data:`imu_hip.ble.link.LINK_STATES` (``idle`` before the link starts).
    ``packets``: notifications received (duplicates included); ``lost_packets``: missing
    according to sequence numbers / device time; ``loss_pct``: lost / (lost + unique received).
    ``malformed``: notifications the decoder rejected. ``clock_offset_s``: host minus device
    time; ``drift_ppm``: device clock rate error against the host clock (positive: the device
    clock runs fast; NaN until known).
    ``last_received_at``: host time of the last notification (NaN before).
    """

    device_id: str
    name: str
    placement: str
    protocol: str
    state: str = "idle"
    detail: str = ""
    battery_pct: float = math.nan
    packets: int = 0
    samples: int = 0
    lost_packets: int = 0
    loss_pct: float = 0.0
    duplicates: int = 0
    late: int = 0
    malformed: int = 0
    gaps: int = 0
    reconnects: int = 0
    clock_offset_s: float = math.nan
    drift_ppm: float = math.nan
    last_received_at: float = math.nan
    values: dict[str, float] = field(default_factory=dict)


def _apply_calibration(cal: CalibrationLike | None, block: Block) -> Block:
    if cal is None:
        return block
    apply = getattr(cal, "apply", None)
    return apply(block) if apply is not None else cal(block)  # type: ignore[operator]


class DeviceStream:
    """Notifications of one device -> ordered, host-timed blocks (no I/O, deterministic).

    ``feed(data, received_at)`` returns the blocks that became ready; ``finish()`` the rest.
    ``decoder``: defaults to a fresh decoder of ``protocol``.

    At the start (and after a device clock reset) packets are held for ``warmup_s`` of device
    time, so that the first samples are mapped with the smallest delay of two seconds, not the
    first packet's delay. The end of the warm-up also fixes whether the stream has angular rate:
    with it in every packet, or - when the device sends acceleration and angular rate in
    separate packets with device timestamps (Polar PMD) - *merged*: each acceleration packet
    waits (at most ``gyro_wait_s`` of receive time) until angular rate covers it, and gets the
    angular rate linearly interpolated (in device time) at its sample times; samples that fall
    in a hole of the angular rate are dropped and the next block is marked ``gap_before``.
    Later packets that lack the angular rate a stream has are dropped (``inconsistent``).
    """

    def __init__(self, device_id: str, placement: str, protocol: str,
                 calibration: CalibrationLike | None = None, decoder: Decoder | None = None,
                 warmup_s: float = 2.0, gyro_wait_s: float = 1.5):
        if decoder is None:
            from imu_hip import protocols

            decoder = protocols.decoder(protocol, sensor_id=device_id)
        self.device_id = device_id
        self.placement = placement
        self.protocol = protocol
        self.calibration = calibration
        self.decoder = decoder
        self.orderer = PacketOrderer()
        self.gyro_orderer = PacketOrderer()
        self.clock: ClockMapper | None = None
        self._counter: SampleCounter | None = None
        self.rate_hz: float | None = None
        self.has_gyro: bool | None = None  # decided when the warm-up ends
        self.merged = False  # angular rate arrives in its own packets and is merged in
        self.samples = 0
        self.inconsistent = 0
        self.unmerged_gyro = 0  #: angular-rate samples that could not be used
        self.gyro_missing = 0  #: acceleration samples dropped for lack of angular rate
        self.non_monotonic = 0
        self.values: dict[str, float] = {}
        self.warmup_s = float(warmup_s)
        self.gyro_wait_s = float(gyro_wait_s)
        self._first_has_gyro: bool | None = None
        self._gyro_seen = 0
        self._gyro_t = np.empty(0)
        self._gyro_v = np.empty((0, 3))
        self._gap_pending = False
        self._emitted_x = -math.inf
        self._last_t = -math.inf
        self._last_device_t: float | None = None
        self._held: list[tuple[DecodedBlock, np.ndarray, bool]] = []

    # -- input --------------------------------------------------------------------------------

    def feed(self, data: bytes, received_at: float) -> list[Block]:
        out: list[Block] = []
        for decoded in self.decoder.feed(data, received_at):
            if decoded.acc_mps2 is None:
                # other channels (battery, footpod speed ...) or angular rate sent apart from
                # acceleration: never part of ordering the acceleration packets
                self._note_values(decoded)
                if decoded.gyr_rads is not None and len(decoded):
                    self._take_gyro(decoded, out)
                continue
            for item in self.orderer.push(decoded):
                self._take(item.block, item.gap_before, item.missing, out)
        return out

    def finish(self) -> list[Block]:
        out: list[Block] = []
        for item in self.gyro_orderer.flush():
            self._add_gyro(item.block)
        for item in self.orderer.flush():
            self._take(item.block, item.gap_before, item.missing, out)
        self._release(out, final=True)
        return out

    def _note_values(self, b: DecodedBlock) -> None:
        for name, arr in b.values.items():
            if len(arr):
                self.values[name] = float(np.asarray(arr)[-1])

    def _take_gyro(self, b: DecodedBlock, out: list[Block]) -> None:
        usable = b.device_t_s is not None and (self.has_gyro is None or self.merged) \
            and not self._first_has_gyro
        if not usable:
            self.unmerged_gyro += len(b)
            return
        self._gyro_seen += len(b)
        for item in self.gyro_orderer.push(b):
            self._add_gyro(item.block)
        if self.merged and self._held:
            self._release(out, newest_rx=b.received_at)

    def _add_gyro(self, b: DecodedBlock) -> None:
        t = np.asarray(b.device_t_s, dtype=np.float64)
        v = np.asarray(b.gyr_rads, dtype=np.float64).reshape(-1, 3)
        if self._gyro_t.size and t[0] <= self._gyro_t[-1]:
            keep = t > self._gyro_t[-1]
            t, v = t[keep], v[keep]
        self._gyro_t = np.concatenate([self._gyro_t, t])
        self._gyro_v = np.concatenate([self._gyro_v, v])

    def _take(self, b: DecodedBlock, gap: bool, missing: int | None, out: list[Block]) -> None:
        """Time one ordered packet; hold it while the clock fit warms up, else emit."""
        self._note_values(b)
        n = len(b)
        if b.acc_mps2 is None or n == 0:
            return
        if self._first_has_gyro is None:
            self._first_has_gyro = b.gyr_rads is not None
            self.rate_hz = float(b.rate_hz)
        if self.clock is None:
            timed = b.device_t_s is not None
            self.clock = ClockMapper(max_drift=1e-3 if timed else 0.05)
        if b.device_t_s is not None:
            x = np.asarray(b.device_t_s, dtype=np.float64)
            if self._new_epoch(x, b.received_at):
                self._release(out, final=True)
                self.clock.reset()
                self.gyro_orderer = PacketOrderer()
                self._gyro_t, self._gyro_v = np.empty(0), np.empty((0, 3))
                gap = True
        else:
            if self._counter is None:
                self._counter = SampleCounter(b.rate_hz)
            x, counter_gap = self._counter.times(n, b.received_at,
                                                 None if b.seq is None or missing is None
                                                 else missing)
            if counter_gap and (b.seq is None or missing is None):
                self._release(out, final=True)
                self.clock.reset()  # the count jumped by an estimate: start a new fit
            gap = gap or counter_gap
        self.clock.observe(float(x[-1]), b.received_at)
        self._last_device_t = float(x[-1])
        self._held.append((b, x, gap))
        if self.has_gyro is not None or self.clock.span_s >= self.warmup_s:
            self._release(out, newest_rx=b.received_at)

    # -- output -------------------------------------------------------------------------------

    def _decide(self) -> None:
        """End of the warm-up: does this stream have angular rate, and is it merged?"""
        if self.has_gyro is not None:
            return
        if self._first_has_gyro:
            self.has_gyro = True
        else:
            self.merged = self.has_gyro = self._gyro_seen > 0

    def _release(self, out: list[Block], newest_rx: float = -math.inf,
                 final: bool = False) -> None:
        """Map the held packets with the current clock fit and emit them as blocks (merged
        streams: those whose angular rate is there, or waited for long enough)."""
        if not self._held:
            return
        self._decide()
        while self._held:
            b, x, gap = self._held[0]
            gyr = None
            keep = None
            if self.merged:
                covered = self._gyro_t.size and x[-1] <= self._gyro_t[-1] + 1e-3 / b.rate_hz
                if not (covered or final or newest_rx - b.received_at > self.gyro_wait_s):
                    break
                gyr, keep = self._interpolate_gyro(x, b.rate_hz)
            elif self.has_gyro:
                if b.gyr_rads is None:
                    self._held.pop(0)
                    self.inconsistent += 1
                    self._gap_pending = True
                    continue
                gyr = np.asarray(b.gyr_rads, dtype=np.float64)
            self._held.pop(0)
            self._emitted_x = float(x[-1])
            out.extend(self._blocks(b, x, gap, gyr, keep))
        if self.merged and self._gyro_t.size > 256:
            # forget angular rate no held or future packet can need
            ref = float(self._held[0][1][0]) if self._held else self._emitted_x
            cut = int(np.searchsorted(self._gyro_t, ref - 0.5)) - 1
            if cut > 0:
                self._gyro_t, self._gyro_v = self._gyro_t[cut:], self._gyro_v[cut:]

    def _interpolate_gyro(self, x: np.ndarray, rate_hz: float
                          ) -> tuple[np.ndarray, np.ndarray]:
        """Angular rate at device times ``x`` (linear between the two nearest samples) and
        which samples have it (no hole longer than the gap threshold around them)."""
        from imu_hip.model import gap_threshold_s

        gt, gv = self._gyro_t, self._gyro_v
        if gt.size == 0:
            return np.zeros((x.size, 3)), np.zeros(x.size, dtype=bool)
        tol = 1e-3 / rate_hz  # the same sample, whatever the rounding of large device times
        j = np.searchsorted(gt, x - tol)
        hi = np.minimum(j, gt.size - 1)
        lo = np.maximum(j - 1, 0)
        exact = np.abs(gt[hi] - x) <= tol
        span = gt[hi] - gt[lo]
        ok = exact | ((j > 0) & (j < gt.size) & (span <= gap_threshold_s(rate_hz)))
        w = np.where(span > 0, (x - gt[lo]) / np.where(span > 0, span, 1.0), 0.0)
        w = np.where(exact, 1.0, w)
        gyr = gv[lo] + w[:, None] * (gv[hi] - gv[lo])
        return gyr, ok

    def _blocks(self, b: DecodedBlock, x: np.ndarray, gap: bool, gyr: np.ndarray | None,
                keep: np.ndarray | None) -> list[Block]:
        assert self.clock is not None
        t = self.clock.map(x)
        acc = np.asarray(b.acc_mps2, dtype=np.float64)
        ok = t > self._last_t  # t increases: only a leading run can fail
        self.non_monotonic += int(ok.size - np.count_nonzero(ok))
        runs_ok = ok if keep is None else ok & keep
        if keep is not None:
            self.gyro_missing += int((ok & ~keep).sum())
        if not runs_ok.any():
            self._gap_pending = self._gap_pending or keep is not None
            return []
        # contiguous runs of usable samples: a hole in the angular rate splits the block
        edges = np.flatnonzero(np.diff(np.concatenate(([0], runs_ok.astype(np.int8), [0]))))
        out: list[Block] = []
        for k, (i, j) in enumerate(zip(edges[::2], edges[1::2], strict=True)):
            first_gap = gap or self._gap_pending or (i > 0 and keep is not None and
                                                     not keep[i - 1])
            block = Block(sensor_id=self.device_id, placement=self.placement,
                          rate_hz=float(self.rate_hz or b.rate_hz), t_s=t[i:j],
                          acc_mps2=acc[i:j], gyr_rads=None if gyr is None else gyr[i:j],
                          gap_before=bool(first_gap if k == 0 else True))
            self._gap_pending = False
            out.append(_apply_calibration(self.calibration, block))
            self.samples += j - i
        self._last_t = float(t[edges[-1] - 1])
        if keep is not None and not keep[-1]:
            self._gap_pending = True
        return out

    def _new_epoch(self, x: np.ndarray, received_at: float) -> bool:
        """True when device time jumped (a rebooted device): the clock fit must restart."""
        assert self.clock is not None
        if not self.clock.ready or self._last_device_t is None:
            return False
        if x[0] < self._last_device_t - 1.0:
            return True
        implied_delay = received_at - (x[-1] + self.clock.offset_s)
        return implied_delay < -1.0 or implied_delay > 120.0


@dataclass(eq=False)
class _Device:
    spec: DeviceSpec
    stream: DeviceStream
    notify_uuids: frozenset[str]
    state: str = "idle"
    detail: str = ""
    packets: int = 0
    reconnects: int = 0
    last_received_at: float = math.nan
    declared: bool = False
    errors: int = 0


class Session:
    """Stream 1-3 devices into the pipeline and (optionally) a recording; see the module doc.

    ``on_block(block)``: every host-timed block, in order per device. ``on_steps(placement,
    steps)``: new steps of the sacral sensor (2 s frames, fed in 0.5 s batches; a step appears
    about 3-6 s after it happened).
    ``calibration_for(device_id)``: called once per device when the session starts; returns a
    :class:`Calibration` (or None). ``on_connect(spec)``: awaited every time a device (re)enters
    ``streaming`` (e.g. to write a calibration to it). ``on_response(spec, uuid, data,
    received_at)``: every notification that is not sample data (command responses, e.g. on
    imu-hip's Response characteristic: hand them to a
    :class:`~imu_hip.calibration.CommandChannel`); neither decoded nor recorded.
    ``metadata``: free text stored in the
    recording. ``flush_interval_s``: the recording is on disk at least this often.
    If writing the recording fails (disk full ...), what was flushed stays valid, the error is in
    :attr:`recording_error` and, with ``stop_on_record_error`` (default), the session stops.
    """

    def __init__(
        self,
        devices: Sequence[DeviceSpec],
        record_to: str | Path | None = None,
        on_block: Callable[[Block], None] | None = None,
        on_steps: Callable[[str, StepTable], None] | None = None,
        calibration_for: Callable[[str], CalibrationLike | None] | None = None,
        on_connect: Callable[[DeviceSpec], Awaitable[None]] | None = None,
        on_response: Callable[[DeviceSpec, str, bytes, float], Any] | None = None,
        metadata: dict[str, str] | None = None,
        frame_s: float = 2.0,
        flush_interval_s: float = 0.5,
        stop_on_record_error: bool = True,
        decoder_for: Callable[[str, str], Decoder] | None = None,
    ):
        if not 1 <= len(devices) <= 3:
            raise ImuHipError(f"a session takes 1 to 3 devices, got {len(devices)}")
        ids = [d.device_id for d in devices]
        if len(set(ids)) != len(ids):
            raise ImuHipError("two devices of the session have the same id")
        self.record_to = None if record_to is None else Path(record_to)
        self.on_block = on_block
        self.on_steps = on_steps
        self.on_connect = on_connect
        self.on_response = on_response
        self.metadata = dict(metadata or {})
        self.frame_s = float(frame_s)
        self.flush_interval_s = float(flush_interval_s)
        self.stop_on_record_error = stop_on_record_error
        self.recording_error: str | None = None
        #: unexpected exceptions in the sacral analysis (logged; streaming goes on)
        self.analysis_errors = 0
        self._lock = threading.Lock()
        self._devices: list[_Device] = []
        for spec in devices:
            assert spec.device_id is not None
            cal = calibration_for(spec.device_id) if calibration_for else None
            dec = decoder_for(spec.protocol, spec.device_id) if decoder_for else None
            stream = DeviceStream(spec.device_id, spec.placement, spec.protocol, cal, dec)
            self._devices.append(_Device(spec, stream, _notify_uuids(spec.protocol)))
        self.sacral_batch_s = 0.5
        self._batch: list[Block] = []
        self._batch_n = 0
        self._sacral: Any = None  # SacralStage of the first sacral device
        self._sacral_id = next((d.spec.device_id for d in self._devices
                                if d.spec.placement == "sacrum"), None)
        self._steps: list[StepTable] = []
        self._recorder: Any = None
        self._dirty = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None
        self._done: asyncio.Event | None = None
        self._stop_requested = False

    # -- public API ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Run every link until :meth:`stop` (or until every link has failed), then finish:
        flush the reorder buffers, end the analysis, close the recording."""
        self._loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        self._done = asyncio.Event()
        if self._stop_requested:
            self._stop_event.set()
        if self.record_to is not None:
            self._open_recorder()
        tasks = [asyncio.create_task(self._run_link(d)) for d in self._devices]
        flusher = asyncio.create_task(self._flush_loop())
        stopper = asyncio.create_task(self._stop_event.wait())
        try:
            await asyncio.wait([stopper, asyncio.gather(*tasks)],
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            await asyncio.gather(*(self._stop_link(d) for d in self._devices))
            _, pending = await asyncio.wait(tasks, timeout=5.0)
            for t in (*pending, flusher, stopper):
                t.cancel()
            await asyncio.gather(*pending, flusher, stopper, return_exceptions=True)
            try:
                self._finish()
            finally:
                self._close_recorder()
                self._done.set()

    async def stop(self) -> None:
        """Stop every device and wait until :meth:`run` has finished (call on the loop)."""
        self._stop_requested = True
        if self._stop_event is not None:
            self._stop_event.set()
            assert self._done is not None
            await self._done.wait()

    def request_stop(self) -> None:
        """Ask the session to stop; returns at once; safe from any thread (e.g. a GUI)."""
        self._stop_requested = True
        loop, ev = self._loop, self._stop_event
        if loop is not None and ev is not None and not loop.is_closed():
            loop.call_soon_threadsafe(ev.set)

    def status(self) -> dict[str, DeviceStatus]:
        """A snapshot of every device, by device id (safe from any thread)."""
        with self._lock:
            return {d.spec.device_id: self._status(d) for d in self._devices}  # type: ignore

    def steps(self, placement: str = "sacrum") -> StepTable:
        """All steps measured so far at ``placement`` (safe from any thread)."""
        if placement != "sacrum":
            return StepTable()
        with self._lock:
            self._steps[:] = [StepTable.concat(self._steps)] if len(self._steps) > 1 else \
                self._steps
            return self._steps[0] if self._steps else StepTable()

    @property
    def devices(self) -> list[DeviceSpec]:
        return [d.spec for d in self._devices]

    # -- links --------------------------------------------------------------------------------

    async def _run_link(self, dev: _Device) -> None:
        def on_notification(uuid: str, data: bytes, received_at: float) -> None:
            self._on_notification(dev, uuid, data, received_at)

        def on_state(state: str, detail: str) -> None:
            self._on_state(dev, state, detail)

        try:
            await dev.spec.link.run(on_notification, on_state)
        except asyncio.CancelledError:
            raise
        except Exception as err:  # noqa: BLE001 - one device failing never ends the others
            log.warning("device %r failed: %s", dev.spec.device_id, err)
            self._on_state(dev, "failed", f"{type(err).__name__}: {err}")

    async def _stop_link(self, dev: _Device) -> None:
        try:
            await asyncio.wait_for(dev.spec.link.stop(), timeout=5.0)
        except Exception as err:  # noqa: BLE001
            log.warning("stopping %r: %s", dev.spec.device_id, err)

    def _on_state(self, dev: _Device, state: str, detail: str) -> None:
        with self._lock:
            if state == "reconnecting" and dev.state != "reconnecting":
                dev.reconnects += 1
            dev.state, dev.detail = state, detail
        if state == "streaming" and self.on_connect is not None and self._loop is not None:
            self._loop.create_task(self._call_on_connect(dev))

    async def _call_on_connect(self, dev: _Device) -> None:
        try:
            assert self.on_connect is not None
            await self.on_connect(dev.spec)
        except Exception as err:  # noqa: BLE001
            log.warning("on_connect for %r failed: %s", dev.spec.device_id, err)

    def _on_notification(self, dev: _Device, uuid: str, data: bytes, received_at: float) -> None:
        if dev.notify_uuids and str(uuid).lower() not in dev.notify_uuids:
            # command responses and the like: not sample data
            if self.on_response is not None:
                try:
                    self.on_response(dev.spec, str(uuid).lower(), bytes(data), received_at)
                except Exception as err:  # noqa: BLE001 - a consumer bug must not end streaming
                    log.warning("on_response failed: %s", err)
            return
        data = bytes(data)
        if self._recorder is not None:
            self._record(self._recorder.write_raw, dev.spec.device_id, received_at, data)
        with self._lock:
            dev.packets += 1
            dev.last_received_at = received_at
            try:
                blocks = dev.stream.feed(data, received_at)
            except Exception as err:  # noqa: BLE001 - the bytes are recorded; keep streaming
                dev.errors += 1
                log.warning("decoding %r: %s: %s", dev.spec.device_id, type(err).__name__, err)
                blocks = []
        self._handle_blocks(dev, blocks)

    def _handle_blocks(self, dev: _Device, blocks: list[Block]) -> None:
        for block in blocks:
            if self._recorder is not None:
                if not dev.declared:
                    dev.declared = True
                    self._record(self._recorder.add_sensor, block.sensor_id, block.placement,
                                 block.rate_hz, block.gyr_rads is not None, _sensor_meta(dev))
                self._record(self._recorder.write_block, block)
            if self.on_block is not None:
                try:
                    self.on_block(block)
                except Exception as err:  # noqa: BLE001 - a viewer bug must not end a recording
                    log.warning("on_block failed: %s", err)
            if block.sensor_id == self._sacral_id:
                self._push_sacral(block)

    def _push_sacral(self, block: Block | None) -> None:
        """Batch blocks (``sacral_batch_s``) before the sacral stage: its cost is mostly per
        push, and its result does not depend on how the stream is cut. ``None`` flushes."""
        if block is not None:
            if block.gap_before or self._batch_n >= self._batch_target(block.rate_hz):
                self._push_batch()
            self._batch.append(block)
            self._batch_n += len(block)
            if self._batch_n < self._batch_target(block.rate_hz):
                return
        self._push_batch()

    def _batch_target(self, rate_hz: float) -> int:
        return max(1, round(self.sacral_batch_s * rate_hz))

    def _push_batch(self) -> None:
        from imu_hip.pipeline import SacralStage

        batch, self._batch, self._batch_n = self._batch, [], 0
        if not batch:
            return
        first = batch[0]
        block = first if len(batch) == 1 else Block(
            sensor_id=first.sensor_id, placement=first.placement, rate_hz=first.rate_hz,
            t_s=np.concatenate([b.t_s for b in batch]),
            acc_mps2=np.concatenate([b.acc_mps2 for b in batch]),
            gyr_rads=(None if first.gyr_rads is None
                      else np.concatenate([b.gyr_rads for b in batch])),  # type: ignore[misc]
            gap_before=first.gap_before)
        if self._sacral is None:
            self._sacral = SacralStage(block.rate_hz, block.gyr_rads is not None,
                                       frame_s=self.frame_s,
                                       sensor_acc=self.raw_acc_map(self._sacral_id))
        try:
            steps = self._sacral.push(block)
        except Exception as err:  # noqa: BLE001 - an analysis bug must not end the recording
            self._analysis_failed(err)
            return
        self._add_steps(steps)

    @property
    def steps_saturated(self) -> int:
        """Sacral steps so far measured with a saturated accelerometer (their impact and
        vertical oscillation are not given)."""
        return int(getattr(self._sacral, "steps_saturated_", 0) or 0)

    def raw_acc_map(self, device_id: str) -> Callable[[np.ndarray], np.ndarray] | None:
        """The map from a device's calibrated acceleration back to its raw readings (where
        saturation is flat; pass it to the stages as ``sensor_acc``), or None when no
        accelerometer calibration is applied or its hook cannot say which."""
        from imu_hip.calibration import raw_acc_map

        for dev in self._devices:
            if dev.spec.device_id == device_id:
                try:  # what the recording states of the calibration (a hook may have none)
                    return raw_acc_map(_sensor_meta(dev))
                except Exception as err:  # noqa: BLE001 - a hook's bug must not stop a device
                    log.warning("calibration of %r unreadable: %s", device_id, err)
                    return None
        return None

    def _analysis_failed(self, err: Exception) -> None:
        """Count and log a failed sacral analysis; the recording goes on. A data problem
        (too short, ...) is logged as its message; anything else is a bug: with its type."""
        self.analysis_errors += 1
        if isinstance(err, ImuHipError):
            log.warning("sacral analysis: %s", err)
        else:
            log.warning("sacral analysis failed (%s): %s", type(err).__name__, err)

    def _add_steps(self, steps: StepTable) -> None:
        if not len(steps):
            return
        with self._lock:
            self._steps.append(steps)
        if self.on_steps is not None:
            try:
                self.on_steps("sacrum", steps)
            except Exception as err:  # noqa: BLE001
                log.warning("on_steps failed: %s", err)

    def _finish(self) -> None:
        for dev in self._devices:
            with self._lock:
                blocks = dev.stream.finish()
            self._handle_blocks(dev, blocks)
        self._push_batch()
        if self._sacral is not None:
            try:
                self._add_steps(self._sacral.finish())
            except Exception as err:  # noqa: BLE001
                self._analysis_failed(err)

    # -- recording ----------------------------------------------------------------------------

    def _open_recorder(self) -> None:
        from imu_hip.io.mcap_file import McapRecorder

        start = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        meta = {"source": "imu-hip session", "start_time_utc": start, **self.metadata}
        self._recorder = McapRecorder(self.record_to, metadata=meta,
                                      flush_interval_s=self.flush_interval_s)
        for dev in self._devices:
            spec = dev.spec
            info = getattr(spec.link, "info", None)
            self._record(self._recorder.add_device, spec.device_id, {
                "protocol": spec.protocol,
                "placement": spec.placement,
                "name": str(getattr(info, "name", "")),
                "address": str(getattr(info, "address", "")),
            })

    def _record(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
            self._dirty = True
        except (OSError, ValueError, ImuHipError) as err:
            self._recording_failed(err)

    def _recording_failed(self, err: BaseException) -> None:
        detail = getattr(err, "strerror", None) or str(err)
        self.recording_error = f"writing {self.record_to} failed: {detail}"
        log.error("%s", self.recording_error)
        rec, self._recorder = self._recorder, None
        if rec is not None:
            rec.abort()
        if self.stop_on_record_error:
            self.request_stop()

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(min(self.flush_interval_s, 0.5))
            if self._recorder is not None and self._dirty:
                self._dirty = False
                self._record(self._recorder.flush)

    def _close_recorder(self) -> None:
        rec, self._recorder = self._recorder, None
        if rec is None:
            return
        try:
            rec.add_metadata(self._link_quality())
            rec.close()
        except (OSError, ValueError, ImuHipError) as err:
            detail = getattr(err, "strerror", None) or str(err)
            self.recording_error = f"closing {self.record_to} failed: {detail}"
            rec.abort()

    def _link_quality(self) -> dict[str, str]:
        """Per-device link figures at the end of the session, for the recording's metadata."""
        out: dict[str, str] = {}
        for device_id, st in self.status().items():
            key = f"device.{device_id}"
            out[f"{key}.packets"] = str(st.packets)
            out[f"{key}.packets_lost"] = str(st.lost_packets)
            out[f"{key}.loss_pct"] = f"{st.loss_pct:.3f}"
            out[f"{key}.duplicates"] = str(st.duplicates)
            out[f"{key}.malformed"] = str(st.malformed)
            out[f"{key}.gaps"] = str(st.gaps)
            out[f"{key}.reconnects"] = str(st.reconnects)
            out[f"{key}.clock_drift_ppm"] = f"{st.drift_ppm:.2f}"
        return out

    # -- status -------------------------------------------------------------------------------

    def _status(self, d: _Device) -> DeviceStatus:
        st = d.stream
        o = st.orderer.stats
        unique = o.received - o.duplicates
        lost = o.lost
        info = getattr(d.spec.link, "info", None)
        battery = st.values.get("battery_pct", math.nan)
        if math.isnan(battery) and getattr(info, "battery_pct", None) is not None:
            battery = float(info.battery_pct)  # type: ignore[union-attr]
        clock = st.clock
        return DeviceStatus(
            device_id=str(d.spec.device_id),
            name=str(getattr(info, "name", "")),
            placement=d.spec.placement,
            protocol=d.spec.protocol,
            state=d.state,
            detail=d.detail,
            battery_pct=battery,
            packets=d.packets,
            samples=st.samples,
            lost_packets=lost,
            loss_pct=100.0 * lost / (lost + unique) if lost + unique else 0.0,
            duplicates=o.duplicates,
            late=o.late,
            malformed=st.decoder.stats.malformed_total,
            gaps=o.gaps,
            reconnects=d.reconnects,
            clock_offset_s=clock.offset_s if clock is not None else math.nan,
            drift_ppm=clock.drift_ppm if clock is not None else math.nan,
            last_received_at=d.last_received_at,
            values=dict(st.values),
        )


def _sensor_meta(dev: _Device) -> dict[str, str]:
    """Metadata of a sensor's decoded channel: protocol, device name, calibration."""
    info = getattr(dev.spec.link, "info", None)
    meta = {"protocol": dev.spec.protocol, "device_name": str(getattr(info, "name", ""))}
    cal_meta = getattr(dev.stream.calibration, "metadata", None)
    if callable(cal_meta):
        meta.update({f"calibration.{k}": str(v) for k, v in cal_meta().items()})
    return meta


def _notify_uuids(protocol: str) -> frozenset[str]:
    """Lower-case data characteristics of ``protocol`` (empty: take every notification)."""
    try:
        from imu_hip import protocols

        return frozenset(u.lower() for u in protocols.profile(protocol).notify_uuids)
    except (ImportError, AttributeError, ImuHipError):
        return frozenset()


def redecode(path: str | Path,
             calibration_for: Callable[[str], CalibrationLike | None] | None = None
             ) -> Recording:
    """Decode the raw notifications of a session recording again (the decoded channels unused).

    Every raw channel is fed, in file order, through a fresh :class:`DeviceStream` with the
    protocol and placement stored in its metadata: the result equals what the session decoded
    live, sample for sample (pass the same ``calibration_for`` if one was used). A recording cut
    off by a crash gives the notifications of its complete chunks.
    """
    from imu_hip.io.mcap_file import read_raw, read_raw_devices

    devices = read_raw_devices(path)
    streams: dict[str, DeviceStream] = {}
    parts: dict[str, list[Block]] = {}
    for device_id, meta in devices.items():
        protocol = meta.get("protocol")
        if not protocol:
            raise ImuHipError(f"{path}: raw channel {device_id!r} does not name its protocol")
        placement = meta.get("placement", "unknown")
        cal = calibration_for(device_id) if calibration_for else None
        streams[device_id] = DeviceStream(device_id, placement, protocol, cal)
        parts[device_id] = []
    for device_id, received_at, data in read_raw(path):
        parts[device_id].extend(streams[device_id].feed(data, received_at))
    sensors = []
    for device_id, stream in streams.items():
        blocks = parts[device_id] + stream.finish()
        if not blocks:
            continue
        b0 = blocks[0]
        sensors.append(SensorRecording(
            sensor_id=device_id, placement=stream.placement, rate_hz=b0.rate_hz,
            t_s=np.concatenate([b.t_s for b in blocks]),
            acc_mps2=np.concatenate([b.acc_mps2 for b in blocks]),
            gyr_rads=(np.concatenate([b.gyr_rads for b in blocks])  # type: ignore[misc]
                      if b0.gyr_rads is not None else None),
            metadata={"protocol": stream.protocol},
        ))
    return Recording(sensors=sensors, metadata={"source": f"redecoded from {path}"})
