"""The worker side of the viewer (no Qt): an asyncio loop in a thread fills a :class:`Hub`.

:class:`Hub` is what the worker and the GUI share: per-sensor ring buffers (raw signals for
drawing), the step store (per-step metrics from the same pipeline stages as ``analyze``), device
status, markers and the recorder. Only the worker thread calls :meth:`Hub.ingest`; the GUI thread
reads the rings and the store (both lock-protected) and sends requests (record, seek, pause)
that the worker carries out on its next tick, so the MCAP recorder and the pipeline stages are
only ever touched by one thread.

Feeders (each runs its own asyncio loop in a daemon thread):

- :class:`ReplayFeeder` - a :class:`~imu_hip.model.Recording` replayed in time at 1-16x (any
  positive speed through the API; tests use more), with pause, seek and end detection. ``--sim``
  uses it on a simulated run until a live session is available.
- :class:`SessionFeeder` - a live :class:`imu_hip.session.Session` (devices over BLE or virtual
  links): its blocks and status go into the hub.
"""

from __future__ import annotations

import asyncio
import math
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from imu_hip.model import Block, G, ImuHipError, Recording, find_gaps
from imu_hip.viewer.ring import RingBuffer
from imu_hip.viewer.targets import StepStore

RAD2DEG = 180.0 / math.pi


@dataclass(frozen=True)
class SensorInfo:
    """A stream shown by the viewer (text fields are untrusted: escape before showing)."""

    sensor_id: str
    placement: str
    rate_hz: float
    has_gyro: bool


@dataclass
class DeviceStatus:
    """Per device: link state, battery (%), packet/sample loss (%), clock offset (s)."""

    name: str
    state: str = "waiting"
    battery_pct: float | None = None
    loss_pct: float = float("nan")
    clock_offset_s: float = float("nan")
    detail: str = ""
    first_clock_offset_s: float | None = None  # for showing the change of a large offset


def sacral_stage_factory(info: SensorInfo, sensor_acc: Callable | None = None):
    """The live sacral pipeline stage (2 s frames, as in streaming) for a sacrum stream;
    ``sensor_acc``: the map back to the raw readings of a calibrated stream (or None)."""
    from imu_hip.pipeline import SacralStage

    return SacralStage(info.rate_hz, info.has_gyro, frame_s=2.0, sensor_acc=sensor_acc)


#: Columns of a shoe stride that the viewer shows (the shoe's own contact time, impact... are
#: not mixed into the sacral panels).
FOOT_COLUMNS = ("t_ic_s", "side", "gait", "foot_strike_angle_deg", "pronation_excursion_deg")


class FootPanelsStage:
    """The shoe pipeline (:class:`imu_hip.foot_pipeline.FootStage` with its live frames)
    reduced to the columns of the shoe panels (:data:`FOOT_COLUMNS`)."""

    def __init__(self, info: SensorInfo, sensor_acc: Callable | None = None):
        from imu_hip.foot_pipeline import FootStage

        self.stage = FootStage(info.rate_hz, info.placement, sensor_acc=sensor_acc)

    @property
    def strides_saturated_(self) -> int:
        """Strides measured with a saturated accelerometer (see FootStage)."""
        return int(self.stage.strides_saturated_)

    def push(self, block: Block) -> dict[str, np.ndarray]:
        return _foot_columns(self.stage.push(block))

    def finish(self) -> dict[str, np.ndarray]:
        return _foot_columns(self.stage.finish())


def _foot_columns(strides) -> dict[str, np.ndarray]:
    return {k: strides[k] for k in FOOT_COLUMNS} if len(strides) else {}


def _foot_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("imu_hip.foot_pipeline") is not None


#: placement -> factory of a pipeline stage (an object with push(block) -> steps, finish()),
#: called as ``factory(info, sensor_acc=...)``. The steps (any mapping of columns) go into the
#: step store; the panels show what they carry.
STAGE_FACTORIES: dict[str, Callable[..., Any]] = {"sacrum": sacral_stage_factory}
if _foot_available():
    STAGE_FACTORIES.update(left_foot=FootPanelsStage, right_foot=FootPanelsStage)


@dataclass
class Marker:
    t_s: float
    label: str


class Hub:
    """Shared state between the worker thread and the GUI (see the module docstring).

    ``window_max_s``: the longest window the GUI may show (sizes the ring buffers).
    ``analyse``: run the pipeline stages on the incoming blocks (False: signals only); they get
    the blocks in batches of at least ``batch_s`` (0.1 s).
    """

    def __init__(
        self,
        window_max_s: float = 60.0,
        analyse: bool = True,
        stage_factories: dict[str, Callable[..., Any]] | None = None,
    ):
        self.window_max_s = float(window_max_s)
        self.analyse = analyse
        self.stage_factories = STAGE_FACTORIES if stage_factories is None else stage_factories
        self.sensors: dict[str, SensorInfo] = {}
        self.rings: dict[str, RingBuffer] = {}
        self.status: dict[str, DeviceStatus] = {}
        self.steps = StepStore()
        self.markers: list[Marker] = []
        self.errors: list[str] = []
        #: per sensor: steps/strides measured with a saturated accelerometer (shown in the status)
        self.saturated: dict[str, int] = {}
        #: sensor id -> map from its calibrated acceleration back to the raw readings, or None
        #: (a live session's :meth:`~imu_hip.session.Session.raw_acc_map`)
        self.sensor_acc_for: Callable[[str], Callable | None] | None = None
        self.recording_path: str | None = None
        self._stages: dict[str, Any] = {}
        self._pending: dict[str, list[Block]] = {}
        self.batch_s = 0.1
        self._recorder = None
        self._record_start_s = math.nan
        self._requests: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self.clock_now_s = math.nan  # replay position, if a replay drives the hub

    # -- set-up (worker thread) ---------------------------------------------------------------

    def add_sensor(self, info: SensorInfo) -> None:
        if info.sensor_id in self.sensors:
            return
        capacity = int(math.ceil(self.window_max_s * info.rate_hz * 1.25)) + 64
        with self._lock:
            self.rings[info.sensor_id] = RingBuffer(capacity, 6 if info.has_gyro else 3)
            self.sensors[info.sensor_id] = info
            self.status.setdefault(info.sensor_id, DeviceStatus(info.sensor_id))
        self._new_stage(info)

    def _new_stage(self, info: SensorInfo) -> None:
        factory = self.stage_factories.get(info.placement) if self.analyse else None
        if factory is None:
            return
        if info.placement == "sacrum" and any(
            self.sensors[s].placement == "sacrum" for s in self._stages
        ):
            return  # one sacral analysis per session
        raw = None if self.sensor_acc_for is None else self.sensor_acc_for(info.sensor_id)
        self._stages[info.sensor_id] = factory(info, sensor_acc=raw)

    # -- data (worker thread) -----------------------------------------------------------------

    def ingest(self, block: Block) -> None:
        """Store one block for drawing, run it through its pipeline stage, record it."""
        ring = self.rings.get(block.sensor_id)
        if ring is None:
            self.add_sensor(
                SensorInfo(block.sensor_id, block.placement, block.rate_hz,
                           block.gyr_rads is not None)
            )
            ring = self.rings[block.sensor_id]
        if len(block) == 0:
            return
        vals = block.acc_mps2 / G
        if ring.channels == 6 and block.gyr_rads is not None:
            vals = np.hstack((vals, block.gyr_rads * RAD2DEG))
        ring.push(block.t_s, vals, gap_before=block.gap_before)
        if block.sensor_id in self._stages:
            self._batch(block)
        if self._recorder is not None:
            try:
                self._recorder.write_block(block)
            except ImuHipError as e:
                self.errors.append(f"recording stopped: {e}")
                self._close_recorder()

    def add_steps(self, steps) -> None:
        """Steps computed elsewhere (e.g. by a live session's own pipeline)."""
        self.steps.append(steps)

    def _batch(self, block: Block) -> None:
        """Blocks go to the pipeline stages in batches of >= ``batch_s`` (the stages' results do
        not depend on how the stream is cut, and a few large pushes cost far less than many
        BLE-sized ones; steps come out at most ``batch_s`` later)."""
        sid = block.sensor_id
        pending = self._pending.setdefault(sid, [])
        if pending and (block.gap_before or (block.gyr_rads is None)
                        != (pending[0].gyr_rads is None)):
            self._flush(sid)
            pending = self._pending.setdefault(sid, [])
        pending.append(block)
        n = sum(len(b) for b in pending)
        if n >= self.batch_s * block.rate_hz:
            self._flush(sid)

    def _flush(self, sensor_id: str) -> None:
        blocks = self._pending.pop(sensor_id, [])
        stage = self._stages.get(sensor_id)
        if not blocks or stage is None:
            return
        b0 = blocks[0]
        joined = b0 if len(blocks) == 1 else Block(
            b0.sensor_id, b0.placement, b0.rate_hz,
            np.concatenate([b.t_s for b in blocks]),
            np.concatenate([b.acc_mps2 for b in blocks]),
            None if b0.gyr_rads is None else np.concatenate([b.gyr_rads for b in blocks]),
            b0.gap_before,
        )
        try:
            self.steps.append(stage.push(joined))
        except ImuHipError as e:
            self._stage_failed(sensor_id, e)
        self._count_saturated(sensor_id, stage)

    def finish(self) -> None:
        """End of the stream: the stages give their last steps."""
        for sid in list(self._pending):
            self._flush(sid)
        for sid, stage in list(self._stages.items()):
            try:
                self.steps.append(stage.finish())
            except ImuHipError as e:
                self._stage_failed(sid, e)
            self._count_saturated(sid, stage)
        self._stages.clear()

    def reset(self, t_s: float) -> None:
        """Start over at host time ``t_s`` (replay seek): empty rings, fresh stages, steps
        from ``t_s`` on forgotten."""
        for ring in self.rings.values():
            ring.clear()
        self._stages.clear()
        self._pending.clear()
        self.saturated.clear()
        for info in self.sensors.values():
            self._new_stage(info)
        self.steps.truncate(t_s)

    def _count_saturated(self, sensor_id: str, stage: Any) -> None:
        n = getattr(stage, "steps_saturated_", None)
        n = getattr(stage, "strides_saturated_", 0) if n is None else n
        if n:
            self.saturated[sensor_id] = int(n)

    def _stage_failed(self, sensor_id: str, e: Exception) -> None:
        self.errors.append(f"analysis of {sensor_id} stopped: {e}")
        self._stages.pop(sensor_id, None)

    @property
    def now_s(self) -> float:
        """The newest time on screen: the replay position, else the newest sample."""
        if math.isfinite(self.clock_now_s):
            return self.clock_now_s
        newest = [r.newest_t_s for r in self.rings.values() if math.isfinite(r.newest_t_s)]
        return max(newest) if newest else math.nan

    def loss_pct(self, sensor_id: str) -> float:
        """Share of samples missing since the first one (%), from the count and the rate."""
        ring, info = self.rings[sensor_id], self.sensors[sensor_id]
        span = ring.newest_t_s - ring.first_t_s
        if not span > 0:
            return math.nan
        expected = span * info.rate_hz + 1.0
        return max(0.0, 100.0 * (1.0 - ring.received / expected))

    # -- requests from the GUI thread ----------------------------------------------------------

    def request(self, name: str, *args: Any) -> None:
        """Ask the worker to do ``name`` (record_start(path), record_stop) on its next tick."""
        self._requests.put((name, args))

    def add_marker(self, label: str = "") -> Marker:
        """A marker at the current time (any thread); written next to the recording."""
        m = Marker(self.now_s, label or f"marker {len(self.markers) + 1}")
        with self._lock:
            self.markers.append(m)
        return m

    @property
    def recording(self) -> bool:
        return self.recording_path is not None

    def service(self) -> None:
        """Carry out pending requests (worker thread)."""
        while True:
            try:
                name, args = self._requests.get_nowait()
            except queue.Empty:
                return
            if name == "record_start" and self._recorder is None:
                self._open_recorder(*args)
            elif name == "record_stop":
                self._close_recorder()

    def _open_recorder(self, path: str) -> None:
        from imu_hip.io import McapRecorder

        try:
            rec = McapRecorder(path, metadata={"source": "imu-hip view"})
            for info in self.sensors.values():
                rec.add_sensor(info.sensor_id, info.placement, info.rate_hz, info.has_gyro)
        except ImuHipError as e:
            self.errors.append(str(e))
            return
        self._recorder = rec
        self._record_start_s = self.now_s
        self.recording_path = str(path)

    def _close_recorder(self) -> None:
        rec, self._recorder = self._recorder, None
        if rec is None:
            return
        path = self.recording_path
        self.recording_path = None
        try:
            rec.close()
        except ImuHipError as e:
            self.errors.append(str(e))
        with self._lock:
            marks = [m for m in self.markers if not m.t_s < self._record_start_s]
        if marks and path:
            write_markers(Path(str(path) + ".markers.csv"), marks)

    def close(self) -> None:
        """Stop recording (worker thread, or any thread once the worker has stopped)."""
        self.service()
        self._close_recorder()


def write_markers(path: Path, markers: list[Marker]) -> None:
    """Markers as CSV: ``t_s,label`` (host time, user text)."""
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["t_s", "label"])
        for m in markers:
            w.writerow([repr(float(m.t_s)), m.label])


class Feeder:
    """Base: runs ``_main()`` in an asyncio loop on a daemon thread; :meth:`stop` ends it."""

    def __init__(self, hub: Hub):
        self.hub = hub
        self.finished = threading.Event()  # the source has no more data
        self.stopped = threading.Event()  # the thread has ended
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._thread_main, name="imu-hip-feeder",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except ImuHipError as e:
            self.error = str(e)
            self.hub.errors.append(str(e))
        finally:
            self.hub.close()
            self.stopped.set()

    async def _main(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


@dataclass
class _Cursor:
    """Replay position of one stream: next sample index and the gap starts."""

    sensor: Any
    gaps: np.ndarray
    next: int = 0
    gap_pending: bool = False
    fields: dict = field(default_factory=dict)


def _raw_maps(rec: Recording) -> Callable[[str], Callable | None]:
    """Sensor id -> the map back to the raw readings of a stream the recording says was
    calibrated (None otherwise), from its ``calibration.*`` metadata."""
    from imu_hip.calibration import raw_acc_map

    return {s.sensor_id: raw_acc_map(s.metadata) for s in rec.sensors}.get


class ReplayFeeder(Feeder):
    """Replays a recording into the hub at ``speed`` x real time, through the pipeline.

    ``source``: a :class:`Recording`, or a callable returning one (run in the worker thread, e.g.
    a simulation, so the window opens at once). ``tick_s``: wall time between pushes (each push
    carries the samples of ``tick_s * speed`` seconds, cut at gaps). ``live``: label the devices
    as streaming (a simulated live session) rather than replaying. Control from any thread:
    :meth:`pause`, :meth:`resume`, :meth:`seek`, :meth:`set_speed`; ``position_s`` is the replay
    time, ``duration_s`` the recording's length (both from its first sample).
    """

    def __init__(
        self,
        source: Recording | Callable[[], Recording],
        hub: Hub,
        speed: float = 1.0,
        tick_s: float = 0.01,
        live: bool = False,
        paused: bool = False,
    ):
        super().__init__(hub)
        if not speed > 0:
            raise ImuHipError(f"replay speed must be positive, got {speed}")
        self._source = source
        self.speed = float(speed)
        self.tick_s = float(tick_s)
        self.live = live
        self.paused = paused
        self.position_s = 0.0
        self.duration_s = math.nan
        self.ready = threading.Event()  # the recording is loaded
        self._seek_to: float | None = None
        self._t0 = math.nan
        self._cursors: list[_Cursor] = []

    # -- control (any thread) -----------------------------------------------------------------

    def pause(self) -> None:
        self.paused = True

    def resume(self) -> None:
        self.paused = False

    def set_speed(self, speed: float) -> None:
        if speed > 0:
            self.speed = float(speed)

    def seek(self, position_s: float) -> None:
        """Jump to ``position_s`` (s from the start; clipped to the recording)."""
        self._seek_to = float(position_s)

    # -- worker ---------------------------------------------------------------------------------

    async def _main(self) -> None:
        rec = self._source() if callable(self._source) else self._source
        if not rec.sensors:
            raise ImuHipError("the recording has no sensor streams")
        self._t0 = min(float(s.t_s[0]) for s in rec.sensors if len(s))
        self.duration_s = max(float(s.t_s[-1]) for s in rec.sensors if len(s)) - self._t0
        state = "streaming (simulated)" if self.live else "replay"
        self.hub.sensor_acc_for = _raw_maps(rec)  # a stream calibrated when it was recorded
        for s in rec.sensors:
            self.hub.add_sensor(SensorInfo(s.sensor_id, s.placement, s.rate_hz, s.has_gyro))
            self.hub.status[s.sensor_id].state = state
            self._cursors.append(_Cursor(s, find_gaps(s.t_s, s.rate_hz)))
        self.hub.clock_now_s = self._t0
        self.ready.set()
        last = time.perf_counter()
        ended = False
        while not self._stop.is_set():
            await asyncio.sleep(self.tick_s)
            now = time.perf_counter()
            elapsed, last = now - last, now
            self.hub.service()
            if self._seek_to is not None:
                target, self._seek_to = self._seek_to, None
                self._do_seek(min(max(target, 0.0), self.duration_s))
                ended = False
                self.finished.clear()
            if self.paused or ended:
                continue
            new_pos = min(self.position_s + elapsed * self.speed, self.duration_s)
            self._push_until(self._t0 + new_pos)
            self.position_s = new_pos
            self.hub.clock_now_s = self._t0 + new_pos
            self._update_status()
            if new_pos >= self.duration_s:
                self._push_until(math.inf)
                self.hub.finish()
                ended = True
                for sid in self.hub.status:
                    self.hub.status[sid].state = "ended"
                self.finished.set()

    def _push_until(self, t_end: float) -> None:
        for c in self._cursors:
            s = c.sensor
            stop = int(np.searchsorted(s.t_s, t_end, side="right"))
            i = c.next
            while i < stop:
                # cut at the next gap start after i
                k = int(np.searchsorted(c.gaps, i, side="right"))
                j = min(stop, int(c.gaps[k])) if k < c.gaps.size else stop
                gap_before = c.gap_pending or (i > 0 and k > 0 and c.gaps[k - 1] == i)
                self.hub.ingest(s.block(i, j, gap_before=bool(gap_before)))
                c.gap_pending = False
                i = j
            c.next = stop

    def _do_seek(self, position_s: float) -> None:
        t = self._t0 + position_s
        self.hub.reset(t)
        for c in self._cursors:
            c.next = int(np.searchsorted(c.sensor.t_s, t, side="left"))
            c.gap_pending = c.next > 0
        self.position_s = position_s
        self.hub.clock_now_s = t
        state = "streaming (simulated)" if self.live else "replay"
        for st in self.hub.status.values():
            st.state = state

    def _update_status(self) -> None:
        for sid, st in self.hub.status.items():
            if sid in self.hub.rings:
                st.loss_pct = self.hub.loss_pct(sid)


class SessionFeeder(Feeder):
    """A live session (:class:`imu_hip.session.Session`) feeding the hub from its asyncio loop.

    ``make_session(on_block, on_steps)`` (a function or coroutine function) builds the session
    inside the worker thread, so all of its asyncio objects belong to that loop. The session's
    own sacral steps fill the step store; the hub runs stages for the other placements only.
    Device status is copied into the hub every ``status_every_s``.
    """

    def __init__(self, make_session: Callable[..., Any], hub: Hub, status_every_s: float = 0.25):
        super().__init__(hub)
        self._make_session = make_session
        self.status_every_s = status_every_s
        self.session: Any = None
        # the session measures the sacral steps itself: the hub analyses the other placements
        hub.stage_factories = {k: v for k, v in hub.stage_factories.items() if k != "sacrum"}

    async def _main(self) -> None:
        def on_block(block: Block) -> None:
            self.hub.ingest(block)

        def on_steps(*args: Any) -> None:
            self.hub.add_steps(args[-1])  # (placement, steps)

        session = self._make_session(on_block, on_steps)
        if asyncio.iscoroutine(session):
            session = await session
        self.session = session
        self.hub.sensor_acc_for = getattr(session, "raw_acc_map", None)
        run = asyncio.ensure_future(self.session.run())
        try:
            while not self._stop.is_set() and not run.done():
                await asyncio.sleep(self.status_every_s)
                self.hub.service()
                self._copy_status()
        finally:
            if not run.done():
                await self.session.stop()
            try:
                await asyncio.wait_for(run, 5.0)
            except (TimeoutError, asyncio.CancelledError):
                run.cancel()
            self.hub.finish()
            self.finished.set()

    def _copy_status(self) -> None:
        try:
            status = self.session.status()
            sacral_saturated = int(getattr(self.session, "steps_saturated", 0) or 0)
        except Exception:  # noqa: BLE001 - status is informative only
            return
        if sacral_saturated:  # the session measures the sacral steps itself
            self.hub.saturated["sacrum"] = sacral_saturated
        items = status.items() if isinstance(status, dict) else enumerate(status)
        for key, st in items:
            get = st.get if isinstance(st, dict) else lambda k, _s=st: getattr(_s, k, None)
            sid = str(get("device_id") or key)
            label = str(get("name") or "")
            name = f"{label} ({sid})" if label and label != sid else sid
            ds = self.hub.status.setdefault(sid, DeviceStatus(name))
            ds.name = name
            ds.state = str(get("state") or ds.state)
            ds.detail = str(get("detail") or "")
            battery = get("battery_pct")
            ds.battery_pct = None if battery is None or not battery == battery else battery
            loss = get("loss_pct")
            ds.loss_pct = float(loss) if loss is not None else math.nan
            off = get("clock_offset_s")
            ds.clock_offset_s = float(off) if off is not None else math.nan
