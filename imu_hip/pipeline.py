"""The one pipeline, live or offline: blocks in, steps and a summary out.

Stages per sacral sensor, all fed in order through ``push(block)``:

1. :class:`~imu_hip.dsp.resample.Resampler` - host-time samples onto a uniform grid, split at gaps;
   short holes (a few lost packets, up to :data:`~imu_hip.dsp.resample.MAX_FILL_S`) are filled
   and flagged instead, so the filters below run on through sporadic packet loss;
2. alignment - the first ``align_window_s`` of samples are buffered until gravity and the direction
   of travel give the sensor-to-body rotation (longer, up to ``align_max_s``, while the wearer
   stands still); a standing phase in that window gives the pelvis neutral. Then every
   :data:`MOUNT_WINDOW_S` window of running is checked against it (:class:`_MountWatch`): a
   re-mounted sensor ends the segment where the change began, and the samples from there are
   aligned again (``remounts_``);
3. pelvis orientation (with a gyroscope) - a streaming complementary filter;
4. gait events and per-step metrics - run on fixed frames of ``frame_s`` samples of each gap-free
   segment, each seen with ``margin_s`` of context on both sides (default
   :data:`~imu_hip.gait.sacrum.CONTEXT_S`, 5.5 s: what makes a frame's events equal to the whole
   recording's; live, a step appears ~7.5 s after its contact). A step next to a filled hole
   is kept (step counts and load totals stay whole), but every metric whose inputs the hole
   could have changed is NaN: an event within :data:`HOLE_MARGIN_S` of a filled sample is not
   trusted (nor the times built on it), the stance metrics need a clean stance and the
   :data:`SPAN_COLUMNS` the whole step; such steps are counted (``steps_near_holes_``).
   Where the accelerometer saturated (samples piled up at its range limit, found per frame on
   the sensor's own axes) the step keeps its events but not the metrics read from the
   acceleration's size (:data:`SATURATION_NAN`); its vGRF comes from the contact timing alone;
   such steps are counted (``steps_saturated_``).

Every decision above is taken at fixed sample counts, never at block boundaries, so the result
does not depend on how the input was cut into blocks. Live streaming uses a short frame (steps
appear within ``frame_s + margin_s``); offline analysis uses a long one for speed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imu_hip.dsp.alignment import Alignment, estimate_alignment
from imu_hip.dsp.frames import Frame, SegmentFrames, touches
from imu_hip.dsp.orientation import PelvisOrientation
from imu_hip.dsp.resample import MAX_FILL_S, Resampler, ResamplerCounts, UniformChunk
from imu_hip.dsp.still import still_mask
from imu_hip.gait.foot import clipped_mask
from imu_hip.gait.sacrum import (
    CONTEXT_S,
    MAX_STEP_S,
    MIN_CONTACT_S,
    MIN_SEGMENT_S,
    despike,
    detect_sacral_events,
)
from imu_hip.metrics import grf
from imu_hip.metrics.pelvis import pelvis_step_metrics, standing_neutral_deg
from imu_hip.metrics.sacral import braking_peak_g, impact_peak_g, vertical_oscillation_m
from imu_hip.metrics.summary import summarize
from imu_hip.model import Block, G, ImuHipError, InputError, Recording, SensorRecording
from imu_hip.steps import StepTable
from imu_hip.text import duration_text

PELVIS_COLUMNS = (
    "pelvic_tilt_rom_deg",
    "pelvic_obliquity_rom_deg",
    "pelvic_rotation_rom_deg",
    "pelvic_drop_deg",
)
AXES = ("auto", "body")
NO_GYRO_REASON = "no gyroscope: pelvis angles need angular rate, so they are not estimated"
#: Margin (s) around a step's interval [initial contact, next initial contact] that must be
#: free of filled samples. The event times come from a zero-phase 4th-order Butterworth
#: low-pass at 20 Hz (:data:`imu_hip.gait.sacrum.EVENT_LOWPASS_HZ`, forward and backward):
#: beyond 75 ms its impulse response stays below 1.1 % of its peak (1.5 % of its area), so a
#: hole further away than that cannot move an event of the step noticeably.
HOLE_MARGIN_S = 0.075
#: Re-mount checks (:class:`_MountWatch`): window (s), the turn of the sensor's vertical axis
#: that counts as a new mounting (deg), and how many running windows in a row must vote for
#: the reversed forward sign (those windows together fit in the frames' 5.5 s context, so no
#: step of them has been reported when the last is checked). A new alignment within
#: SAME_MOUNT_DEG of the old one keeps the old one and its standing neutral.
MOUNT_WINDOW_S = 1.5
REMOUNT_DEG = 45.0
FLIP_WINDOWS = 3
SAME_MOUNT_DEG = 15.0
#: Share of a window below 0.5 g (flight) that makes it running (as in the alignment).
FLIGHT_SHARE = 0.05
#: Columns read over the whole step (initial contact to the next one): NaN when a filled
#: sample lies in that span (widened by :data:`HOLE_MARGIN_S`). The pelvis angles integrate
#: the filled angular rate, the oscillation integrates the acceleration twice, and the braking
#: peak is measured from the step's mean forward acceleration.
SPAN_COLUMNS = ("vertical_oscillation_m", "braking_peak_g", *PELVIS_COLUMNS)
#: Metrics not reported for a step whose accelerometer saturated: the impact and braking peaks
#: and the vertical oscillation (a double integral) read the acceleration's size, which a
#: saturated sensor cuts; the Newton part of the vGRF is left out for the same reason.
SATURATION_NAN = ("impact_peak_g", "braking_peak_g", "vertical_oscillation_m")
#: Lowest level (m/s²) at which an accelerometer can saturate: no range is below +-2 g (whose
#: largest reading is 32767/16384 g = 1.99994 g), less the 5 % a level is searched below the
#: top; walking keeps the trunk under ~1.5 g, so its smooth humps are never taken for a limit.
SATURATION_FLOOR_MPS2 = 1.9 * G


class SacralStage(ResamplerCounts):
    """Streaming analysis of one sacral sensor; see the module docstring for the stages.

    ``push(block)`` returns the steps completed by that block (possibly none); ``finish()``
    returns the rest. Attributes after or during the run: ``alignment_`` (None until found),
    ``neutral_deg_`` (obliquity, tilt, rotation while standing, or None), ``remounts_`` (one
    dict per re-mount found: ``t_s``, ``change``, ``turn_deg``), ``gaps_``, ``samples_``,
    ``holes_filled_``, ``filled_samples_`` (short holes filled, see the module docstring),
    ``steps_near_holes_`` (steps reported with the metrics a filled hole touches left out) and
    ``steps_saturated_`` (steps reported without the metrics the saturated accelerometer cut).
    ``alignment``: a known sensor-to-body rotation (e.g. :data:`BODY_AXES` for data already in
    the body frame); None (default) estimates it from the data. ``sensor_acc``: when the blocks
    were calibrated, the map back to the raw readings (:meth:`Calibration.sensor_acc`), where a
    saturated axis is flat; None: the blocks are the raw readings.
    """

    def __init__(
        self,
        rate_hz: float,
        has_gyro: bool,
        frame_s: float = 2.0,
        margin_s: float = CONTEXT_S,
        align_window_s: float = 10.0,
        align_max_s: float = 120.0,
        alignment: Alignment | None = None,
        sensor_acc: Callable[[np.ndarray], np.ndarray] | None = None,
    ):
        self.rate_hz = float(rate_hz)
        self.has_gyro = has_gyro
        self._sensor_acc = sensor_acc
        self.frame_n = max(1, round(frame_s * rate_hz))
        self.margin_n = round(margin_s * rate_hz)
        self.align_n = round(align_window_s * rate_hz)
        self.align_max_n = round(align_max_s * rate_hz)
        self._resampler = Resampler(rate_hz)
        self._pending: list[UniformChunk] = []
        self._pending_n = 0
        self._next_align_try = self.align_n
        self._segment: SegmentFrames | None = None
        self._orientation: PelvisOrientation | None = None
        self._last_t_ic = -np.inf
        self._given_alignment = alignment
        self._aligned = False  # True once the rotation is settled and the buffer released
        self.alignment_: Alignment | None = alignment
        self.neutral_deg_: np.ndarray | None = None
        self.samples_ = 0
        self.steps_near_holes_ = 0
        self.remounts_: list[dict[str, Any]] = []
        self._epoch = 0  # alignments so far after re-mounts: part of the segment key
        self._segment_key: tuple[int, int] | None = None
        # re-mount checks need their window inside the frames' context (see _remount)
        self._watch_n = round(MOUNT_WINDOW_S * self.rate_hz)
        if FLIP_WINDOWS * self._watch_n > self.margin_n:
            self._watch_n = 0  # (no checks with a context that short)
        self._watch: _MountWatch | None = None
        self._before_remount: Alignment | None = None  # while re-aligning after a check
        self.steps_saturated_ = 0
        self._hole_margin_n = int(np.ceil(HOLE_MARGIN_S * self.rate_hz))

    def push(self, block: Block) -> StepTable:
        if (block.gyr_rads is not None) != self.has_gyro:
            raise ImuHipError(
                f"sensor {block.sensor_id!r}: angular rate present in some blocks only"
            )
        out: list[StepTable] = []
        for chunk in self._resampler.push(block):
            self.samples_ += len(chunk)
            out.extend(self._feed(chunk))
            if not self._aligned:
                out.extend(self._try_align(final=False))
        return StepTable.concat(out)

    def finish(self) -> StepTable:
        out: list[StepTable] = []
        out.extend(self._try_align(final=True))
        out.extend(self._end_segment())
        return StepTable.concat(out)

    # -- alignment -----------------------------------------------------------------------------

    def _try_align(self, final: bool) -> list[StepTable]:
        """Estimate the alignment from exactly the first ``_next_align_try`` samples (or all of
        them at the end of the stream), so the outcome never depends on the block sizes; then
        analyse the samples held back. A re-mount found among them holds the rest back again."""
        out: list[StepTable] = []
        while self._pending:
            if not self._aligned:
                if not final and self._pending_n < self._next_align_try:
                    return out
                n = self._pending_n if final else self._next_align_try
                window = _first_samples(self._pending, n)
                kept = False  # the old alignment kept for want of a new one (and its neutral)
                if self._given_alignment is not None:
                    alignment = self._given_alignment
                else:
                    acc = np.vstack([c.acc_mps2 for c in window])
                    gyr = np.vstack([c.gyr_rads for c in window]) if self.has_gyro else None
                    try:
                        alignment = estimate_alignment(acc, gyr, self.rate_hz)
                    except InputError as err:
                        if self._before_remount is None:
                            raise
                        alignment = self._before_remount
                        why = ("gravity has no one direction in it: turned back?"
                               if err.problem.startswith("mean acceleration") else err.problem)
                        self.remounts_[-1]["change"] += (
                            f"; no new alignment from the data after it ({why}): previous "
                            "alignment kept")
                        self.remounts_[-1]["turn_deg"] = float("nan")
                        self._before_remount = None
                        kept = True
                settled = self._given_alignment is not None or alignment.forward_quality >= 0.5
                if not (final or settled or n >= self.align_max_n):
                    self._next_align_try += self.align_n
                    continue
                old = self._before_remount
                self._before_remount = None
                if old is not None and _turn_deg(old.rotation, alignment.rotation) < SAME_MOUNT_DEG:
                    alignment = old  # the same mounting after all
                    self.remounts_.pop()
                else:
                    if old is not None:
                        self.remounts_[-1]["turn_deg"] = _turn_deg(old.rotation,
                                                                   alignment.rotation)
                    if self.has_gyro and not kept:
                        self.neutral_deg_ = self._standing_neutral(window, alignment)
                self.alignment_ = alignment
                self._aligned = True
                if self._given_alignment is None and self._watch_n > 0:
                    # (not its first window: a check there could cut at the same place again)
                    self._watch = _MountWatch(alignment, self._watch_n, skip=self._watch_n)
            pending, self._pending, self._pending_n = self._pending, [], 0
            for chunk in pending:
                out.extend(self._feed(chunk))
        return out

    def _feed(self, chunk: UniformChunk) -> list[StepTable]:
        """Analyse ``chunk`` once aligned, else hold it back for the alignment."""
        if self._aligned:
            return self._process(chunk)
        self._pending.append(chunk)
        self._pending_n += len(chunk)
        return []

    def _standing_neutral(self, chunks: list[UniformChunk],
                          alignment: Alignment) -> np.ndarray | None:
        """Median pelvis angles over still periods (>= 2 s) in the alignment window, if any."""
        angles, still = [], []
        for seg in sorted({c.segment for c in chunks}):
            parts = [c for c in chunks if c.segment == seg]
            acc = alignment.apply(np.vstack([c.acc_mps2 for c in parts]))
            gyr = alignment.apply(np.vstack([c.gyr_rads for c in parts]))
            angles.append(PelvisOrientation(self.rate_hz).push(acc, gyr))
            mask = still_mask(acc, gyr, self.rate_hz)
            mask[: round(self.rate_hz)] = False  # let the filter settle
            still.append(mask)
        return standing_neutral_deg(np.vstack(angles), np.concatenate(still))

    # -- segments and frames ---------------------------------------------------------------------

    def _process(self, chunk: UniformChunk) -> list[StepTable]:
        """Analyse ``chunk``; its re-mount check windows (fixed sample counts after the
        alignment) are checked first: when they find the sensor re-mounted, the segment ends
        where the change began and everything from there waits for a new alignment."""
        watch = self._watch
        if watch is None:
            return self._analyse(chunk)
        out: list[StepTable] = []
        if self._segment_key != (chunk.segment, self._epoch):
            watch.next_window()  # (windows start with their segment: one segment each)
        if watch.skip:  # (an alignment's first window: a check there could cut there again)
            piece, chunk = _split_chunk(chunk, watch.skip)
            watch.skip -= len(piece)
            out.extend(self._analyse(piece))
        if not len(chunk):
            return out
        held = watch.held  # (already analysed: the windows the check may still cut into)
        cut, change = watch.scan(chunk)
        if change is None:
            out.extend(self._analyse(chunk))
            return out
        if cut >= 0:
            head, rest = _split_chunk(chunk, cut)
            if len(head):
                out.extend(self._analyse(head))
            out.extend(self._remount(change, [], [rest]))
        else:
            analysed = _last_samples(held, -cut)
            out.extend(self._remount(change, analysed, [*analysed, chunk]))
        return out

    def _remount(self, change: str, analysed: list[UniformChunk],
                 again: list[UniformChunk]) -> list[StepTable]:
        """The sensor's mounting changed where ``again`` begins (its first samples,
        ``analysed``, already in the current segment): end the segment there, and hold
        ``again`` back for a new alignment."""
        done = sum(len(c) for c in analysed)
        first = again[0]
        self.remounts_.append({"t_s": first.t0_s + first.first_k / self.rate_hz,
                               "change": change})
        if done:
            assert self._segment is not None
            self._segment.truncate(self._segment.length - done)
        out = self._end_segment()
        self._epoch += 1
        self._before_remount = self.alignment_
        self._aligned, self._watch = False, None
        self._next_align_try = self.align_n
        for piece in again:
            self._feed(piece)
        return out

    def _analyse(self, chunk: UniformChunk) -> list[StepTable]:
        assert self.alignment_ is not None
        out: list[StepTable] = []
        key = (chunk.segment, self._epoch)
        if self._segment is None or key != self._segment_key:
            out.extend(self._end_segment())
            self._segment_key = key
            self._segment = SegmentFrames(  # (after a re-mount, mid-segment)
                chunk.segment, chunk.t0_s + chunk.first_k / self.rate_hz, self.rate_hz,
                self.frame_n, self.margin_n,
            )
            self._orientation = PelvisOrientation(self.rate_hz) if self.has_gyro else None
        acc = self.alignment_.apply(chunk.acc_mps2)
        raw = chunk.acc_mps2 if self._sensor_acc is None else self._sensor_acc(chunk.acc_mps2)
        if self.has_gyro:
            assert self._orientation is not None and chunk.gyr_rads is not None
            gyr = self.alignment_.apply(chunk.gyr_rads)
            ang = self._orientation.push(acc, gyr)
            self._segment.append(chunk.filled, acc=acc, raw=raw, gyr=gyr, ang=ang)
        else:
            self._segment.append(chunk.filled, acc=acc, raw=raw)
        out.extend(self._measure_frame(f) for f in self._segment.frames())
        return out

    def _end_segment(self) -> list[StepTable]:
        seg, self._segment = self._segment, None
        if seg is None:
            return []
        return [self._measure_frame(f) for f in seg.frames(final=True)]

    def _measure_frame(self, f: Frame) -> StepTable:
        return self._measure(
            f.data["acc"], f.data.get("gyr"), f.data.get("ang"), f.t0_s, f.core_start,
            f.core_end, f.filled, f.data.get("raw"),
        )

    def _measure(
        self,
        acc: np.ndarray,
        gyr: np.ndarray | None,
        ang: np.ndarray | None,
        t0_s: float,
        core_start: int,
        core_end: int,
        filled: np.ndarray | None = None,
        raw: np.ndarray | None = None,
    ) -> StepTable:
        """Steps with initial contact in ``[core_start, core_end)``; ``filled``: sorted frame
        indices of filled samples (see :class:`_NearHoles`); ``raw``: the
        acceleration on the sensor's axes, where saturation is looked for."""
        fs = self.rate_hz
        ev = detect_sacral_events(acc, gyr, fs)
        if ev.ic.size == 0:
            return StepTable()
        same_bout_next = np.append(ev.bout[1:] == ev.bout[:-1], False)
        next_ic = np.where(same_bout_next, np.append(ev.ic[1:], np.nan), np.nan)
        keep = (ev.ic >= core_start) & (ev.ic < core_end)
        t_ic = t0_s + ev.ic / fs
        keep &= t_ic > self._last_t_ic + 0.05  # never the same contact twice across frames
        if not keep.any():
            return StepTable()
        self._last_t_ic = float(t_ic[keep][-1])
        # the step's interval: to the next contact, else to its toe-off, else the contact
        end = np.where(np.isfinite(next_ic), next_ic, np.where(np.isfinite(ev.to), ev.to, ev.ic))
        saturated = np.zeros(int(keep.sum()), bool)
        if raw is not None:
            sat = np.flatnonzero(clipped_mask(raw, SATURATION_FLOOR_MPS2, jumps=False,
                                              rate_hz=fs))
            if sat.size:
                # the impact window after the contact (impact_peak_g) is inside the step
                saturated = touches(sat, ev.ic[keep] - self._hole_margin_n,
                                    np.maximum(end[keep], ev.ic[keep] + 0.06 * fs))
                self.steps_saturated_ += int(saturated.sum())
        ic, to, nxt = ev.ic[keep], ev.to[keep], next_ic[keep]
        side, gait = ev.side[keep], ev.gait[keep]
        near = _NearHoles(filled, self._hole_margin_n, fs, ic, to, nxt, end[keep])
        self.steps_near_holes_ += int(near.span.sum())
        # the metrics read the signal the events came from: a corrupted sample is bridged
        clean = despike(acc)
        az, ax = clean[:, 2], clean[:, 0]
        step_time = np.where(near.step, np.nan, (nxt - ic) / fs)
        contact = np.where(near.contact, np.nan, (to - ic) / fs)
        cols: dict[str, np.ndarray] = {
            "t_ic_s": t_ic[keep],
            "t_to_s": np.where(near.to, np.nan, t0_s + to / fs),
            "side": side,
            "gait": gait,
            "step_time_s": step_time,
            "contact_time_s": contact,
            "flight_time_s": np.where(near.flight, np.nan, (nxt - to) / fs),
            "cadence_spm": 60.0 / step_time,
            "duty_factor": contact / (2.0 * step_time),
            "vertical_oscillation_m": vertical_oscillation_m(az, ic, nxt, fs),
            "impact_peak_g": np.where(near.ic, np.nan, impact_peak_g(az, ic, fs)),
            "braking_peak_g": braking_peak_g(ax, ic, to, nxt),
        }
        active = np.where(near.contact, np.nan, grf.active_peak_g(az, ic, to, fs))
        if saturated.any():
            active[saturated] = np.nan
            for name in SATURATION_NAN:
                cols[name] = np.where(saturated, np.nan, cols[name])
        cols["vgrf_peak_bw"] = grf.vgrf_peak_bw(contact, step_time, gait=gait, active_peak=active)
        cols["loading_rate_bw_s"] = grf.loading_rate_bw_s(cols["vgrf_peak_bw"], contact, gait=gait)
        if ang is not None:
            cols.update(pelvis_step_metrics(ang, ic, to, nxt, side, self.neutral_deg_))
        for name in SPAN_COLUMNS:
            if name in cols:
                cols[name] = np.where(near.span, np.nan, cols[name])
        return StepTable(cols)


#: The recording's axes are already the body frame (x forward, y left, z up): no estimation.
BODY_AXES = Alignment(
    rotation=np.eye(3),
    vertical_quality=float("nan"),
    forward_quality=float("nan"),
    method="declared by the user: the recording's axes are the body frame",
)


def _first_samples(chunks: list[UniformChunk], n: int) -> list[UniformChunk]:
    """The first ``n`` samples of ``chunks`` (the last chunk cut short if needed)."""
    out: list[UniformChunk] = []
    for c in chunks:
        if n <= 0:
            break
        if len(c) > n:
            c = UniformChunk(
                c.segment,
                c.first_k,
                c.t0_s,
                c.rate_hz,
                c.acc_mps2[:n],
                None if c.gyr_rads is None else c.gyr_rads[:n],
                None if c.filled is None else c.filled[:n],
            )
        out.append(c)
        n -= len(c)
    return out


class _MountWatch:
    """Checks, window by window (``window_n`` samples), that the sensor is still mounted as
    ``alignment`` says; only running windows (flight, as in the alignment) are checked, so a
    posture (sitting, bending, lying) is never taken for a new mounting. Re-mounted: the
    window's mean specific force has less than cos(REMOUNT_DEG) G along the body's vertical
    axis, or FLIP_WINDOWS running windows in a row vote for the opposite forward sign (the
    alignment's braking/propulsion cue: forward acceleration against vertical jerk; on the
    force-treadmill trials every 1.5 s window votes +0.13 to +0.68 for the true sign); the cut
    is then where the first of them began. The vertical test reads the component along the
    axis, not the angle: turning on a bend or speeding up adds a horizontal mean that tilts the
    specific force (0.44 G, 24 deg, at 4 m/s on a 36 m bend) but leaves ~1 G along the vertical,
    while a sensor turned by an angle keeps only its cosine. ``held``: the samples already
    analysed that a check may still cut into (the reversed windows so far and the window under
    way); ``skip``: samples not checked."""

    def __init__(self, alignment: Alignment, window_n: int, skip: int):
        self.rotation = alignment.rotation
        self.window_n = window_n
        self.skip = skip
        self.held: list[UniformChunk] = []
        self.open_n = 0  # samples of the window under way (the end of ``held``)
        self.reversed_run = 0

    def next_window(self) -> None:
        """Start afresh (a new segment)."""
        self.held, self.open_n, self.reversed_run = [], 0, 0

    def scan(self, chunk: UniformChunk) -> tuple[int, str | None]:
        """Check the windows that ``chunk`` completes: (where to cut, relative to the start of
        ``chunk``: negative inside ``held``; what changed), or (0, None) with ``held`` moved on
        over ``chunk``."""
        w = self.window_n
        total = self.open_n + len(chunk)
        m = total // w
        if m == 0:
            self.held.append(chunk)
            self.open_n = total
            return 0, None
        acc = chunk.acc_mps2[: m * w - self.open_n]
        if self.open_n:
            acc = np.vstack([*(c.acc_mps2 for c in _last_samples(self.held, self.open_n)), acc])
        # (samples, windows, axes), each window cleaned of corrupted samples on its own
        win = despike(acc.reshape(m, w, 3).transpose(1, 0, 2))
        along = win.mean(axis=0) @ self.rotation[2]  # the body's z in sensor axes
        running = np.mean(np.linalg.norm(win, axis=2) < 0.5 * G, axis=0) >= FLIGHT_SHARE
        body = win @ self.rotation.T
        fwd, jerk = body[:, :, 0], np.gradient(body[:, :, 2], axis=0)
        cov = np.mean((fwd - fwd.mean(axis=0)) * (jerk - jerk.mean(axis=0)), axis=0)
        for k in range(m):
            start = k * w - self.open_n  # (relative to the start of ``chunk``)
            if not running[k]:
                self.reversed_run = 0
                continue
            if along[k] < G * np.cos(np.radians(REMOUNT_DEG)):
                return start, (f"only {along[k] / G:.2f} g along the vertical axis: turned by "
                               f"more than {REMOUNT_DEG:g} deg")
            self.reversed_run = self.reversed_run + 1 if cov[k] > 0 else 0
            if self.reversed_run >= FLIP_WINDOWS:
                return (start - (FLIP_WINDOWS - 1) * w,
                        "forward reversed (turned round about the vertical)")
        self.open_n = total - m * w
        self.held = _last_samples([*self.held, chunk], self.reversed_run * w + self.open_n)
        return 0, None


def _last_samples(chunks: list[UniformChunk], n: int) -> list[UniformChunk]:
    """The last ``n`` samples of ``chunks`` (the first chunk kept cut short if needed)."""
    out: list[UniformChunk] = []
    for c in reversed(chunks):
        if n <= 0:
            break
        if len(c) > n:
            c = _split_chunk(c, len(c) - n)[1]
        out.append(c)
        n -= len(c)
    return out[::-1]


def _turn_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Angle (deg) of the rotation between two sensor-to-body rotations."""
    c = (np.trace(a @ b.T) - 1.0) / 2.0
    return float(np.degrees(np.arccos(np.clip(c, -1.0, 1.0))))


def _split_chunk(chunk: UniformChunk, n: int) -> tuple[UniformChunk, UniformChunk]:
    """The first ``n`` samples of ``chunk`` and the rest (either may be empty)."""
    def part(sl: slice, first_k: int) -> UniformChunk:
        return UniformChunk(
            chunk.segment, first_k, chunk.t0_s, chunk.rate_hz, chunk.acc_mps2[sl],
            None if chunk.gyr_rads is None else chunk.gyr_rads[sl],
            None if chunk.filled is None else chunk.filled[sl],
        )

    n = min(n, len(chunk))
    return part(slice(0, n), chunk.first_k), part(slice(n, None), chunk.first_k + n)


class _NearHoles:
    """Per step, which inputs a filled hole (``filled``: sorted sample indices) could have
    changed, for steps with initial contact ``ic``, toe-off ``to``, next contact ``nxt`` and
    interval end ``end`` (sample indices; ``margin_n``: :data:`HOLE_MARGIN_S` in samples).

    ``ic``/``to``: that event (a hole within the margin moves it through the event filter);
    ``step``: either contact, or a hole as long as the shortest contact
    (:data:`~imu_hip.gait.sacrum.MIN_CONTACT_S`) in the flight between them, which could hide
    a contact; ``contact``: the stance from contact to toe-off; ``flight``: toe-off and the next
    contact, as for ``step``; ``span``: the whole step (what :data:`SPAN_COLUMNS` read)."""

    def __init__(self, filled: np.ndarray | None, margin_n: int, rate_hz: float,
                 ic: np.ndarray, to: np.ndarray, nxt: np.ndarray, end: np.ndarray):
        if filled is None or filled.size == 0:
            self.ic = self.to = self.step = self.contact = self.flight = self.span = (
                np.zeros(ic.shape, bool))
            return
        m = margin_n

        def near(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
            with np.errstate(invalid="ignore"):  # (a NaN bound touches nothing)
                return touches(filled, lo, hi) & np.isfinite(lo) & np.isfinite(hi)

        self.ic = near(ic - m, ic + m)
        self.to = near(to - m, to + m)
        nxt_near = near(nxt - m, nxt + m)
        # holes long enough to hold a whole contact, overlapping the flight before the next one
        brk = np.flatnonzero(np.diff(filled) > 1)
        first, last = filled[np.r_[0, brk + 1]], filled[np.r_[brk, filled.size - 1]]
        long = last - first + 1 >= MIN_CONTACT_S * rate_hz
        lo = np.where(np.isfinite(to), to, ic)
        hi = np.where(np.isfinite(nxt), nxt, lo)
        hidden = np.searchsorted(first[long], hi, side="right") > np.searchsorted(
            last[long], lo, side="left")
        self.step = self.ic | nxt_near | hidden
        self.contact = near(ic - m, to + m)
        self.flight = self.to | nxt_near | hidden
        self.span = near(ic - m, end + m)


@dataclass(eq=False)
class AnalysisResult:
    """What :func:`analyze` returns: the per-step table, the summary, and how the data was read."""

    steps: StepTable
    summary: dict[str, Any]
    alignment: Alignment | None
    strides: Any = None  # StrideTable of the shoes (imu_hip.strides), when shoes were analysed

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write ``steps.csv`` (sacrum) and/or ``strides.csv`` (shoes) and ``summary.json`` into
        ``out_dir`` (created); return the paths.

        Only files imu-hip wrote are replaced (recognised by their first bytes); anything else
        of those names (a recording, a link) is an :class:`ImuHipError` and nothing is written.
        Each file is written beside its final name and all are moved in place together, so a
        failure leaves the folder as it was; a step or stride table of an earlier analysis that
        this result does not have is removed, so the folder never mixes two analyses."""
        out = prepare_output_dir(out_dir)  # refuses outputs imu-hip did not write
        tables = {"steps.csv": self.steps if self.strides is None or len(self.steps) else None,
                  "strides.csv": self.strides}
        done: list[tuple[Path, Path]] = []
        try:
            for name, table in tables.items():
                if table is not None:
                    tmp = out / f".{name}.tmp{os.getpid()}"
                    done.append((tmp, out / name))
                    table.to_csv(tmp)
            tmp = out / f".summary.json.tmp{os.getpid()}"
            done.append((tmp, out / "summary.json"))
            tmp.write_text(self.to_json(), encoding="utf-8")
            for tmp, final in done:
                os.replace(tmp, final)
            for name, table in tables.items():
                if table is None and (out / name).exists():
                    (out / name).unlink()
        except OSError as e:
            for tmp, _ in done:
                tmp.unlink(missing_ok=True)
            raise ImuHipError(f"{out}: cannot write ({e.strerror or e})") from None
        return [final for _, final in done]

    def to_json(self, indent: int | None = 2) -> str:
        """The summary as JSON text (NaN written as null), as in ``summary.json``."""
        return json.dumps(_jsonable(self.summary), indent=indent)

    def to_pandas(self) -> Any:
        """The per-step table as a pandas DataFrame (needs the optional pandas package)."""
        try:
            import pandas  # noqa: F401
        except ImportError:
            raise ImuHipError("to_pandas() needs pandas: pip install pandas") from None
        return self.steps.to_pandas()


#: The outputs an analysis writes into its folder.
OUTPUT_NAMES = ("steps.csv", "strides.csv", "summary.json")


def _is_own_output(path: Path) -> bool:
    """Whether ``path`` is a table or summary imu-hip wrote: a step/stride table starts with
    its first column's name (enough, and lets a newer version replace an older table); a
    summary is a small JSON object with a step or stride count."""
    from imu_hip.strides import StrideTable

    if path.name == "summary.json":
        if path.stat().st_size > 10_000_000:
            return False
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            return False
        return isinstance(data, dict) and ("step_count" in data or "stride_count" in data)
    table = StepTable if path.name == "steps.csv" else StrideTable
    head = f"{next(iter(table.COLUMNS))},".encode()
    with open(path, "rb") as f:
        return f.read(len(head)) == head


def _check_replaceable(path: Path) -> None:
    """Raise :class:`ImuHipError` if ``path`` exists and is not an output imu-hip wrote: a
    recording, another program's file or a link are never replaced."""
    if not path.exists() and not path.is_symlink():
        return
    if path.is_symlink() or not path.is_file():
        raise ImuHipError(f"{path}: cannot write: it exists and is a link or folder, not a file "
                          "imu-hip wrote; choose another output folder")
    try:
        own = _is_own_output(path)
    except OSError as e:
        raise ImuHipError(f"{path}: cannot read it to check it ({e.strerror or e})") from None
    if not own:
        raise ImuHipError(f"{path}: cannot write: it exists and is not an output of imu-hip (a "
                          "recording?), so it is left alone; choose another output folder")


def check_output_dir(out_dir: str | Path) -> Path:
    """Check, without creating anything, that ``out_dir`` is or can become a writable folder
    whose :data:`OUTPUT_NAMES` are absent or imu-hip's own (so a bad ``--out`` fails before
    long work, and a bad input leaves no empty folder)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ImuHipError(f"{out}: exists and is not a folder (expected an output folder)")
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise ImuHipError(f"{out}: cannot write there ({existing} is not a writable folder)")
    if out.is_dir():
        for name in OUTPUT_NAMES:
            _check_replaceable(out / name)
    return out


def prepare_output_dir(out_dir: str | Path) -> Path:
    """Create ``out_dir`` (after :func:`check_output_dir`) and return it."""
    out = check_output_dir(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ImuHipError(f"{out}: cannot create the output folder ({e.strerror or e})") from None
    return out


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


def analyze_sensor(
    sensor: SensorRecording,
    mass_kg: float | None = None,
    axes: str = "auto",
    frame_s: float = 300.0,
    block_size: int = 1 << 16,
    progress: Callable[[float], None] | None = None,
    source: str = "",
    calibration: Any = "auto",
) -> AnalysisResult:
    """Analyse one sacral stream offline through the same stages as live streaming.

    ``axes``: ``"auto"`` finds the sensor-to-body rotation from the data; ``"body"`` declares
    the recording's axes to be the body frame already (x forward, y left, z up).
    ``calibration``: see :func:`imu_hip.calibration.prepare_for_analysis` (``"auto"``: the
    sensor's stored calibration, then gyro bias from still periods; the summary states it).
    """
    if sensor.placement not in ("sacrum", "unknown"):
        raise InputError(
            source or f"sensor {sensor.sensor_id!r}",
            f"placement {sensor.placement!r} is not analysed yet; only sacral (hip) sensors are "
            "supported",
        )
    if axes not in AXES:
        raise ImuHipError(f"axes must be one of {', '.join(AXES)}, got {axes!r}")
    where = source or f"sensor {sensor.sensor_id!r}"
    if sensor.duration_s < MIN_SEGMENT_S:
        raise InputError(where, _too_short(sensor))
    if axes == "body":
        _check_declared_axes(sensor, where)
    from imu_hip.gait.foot import looks_like_foot

    if looks_like_foot(sensor.acc_mps2, sensor.gyr_rads, sensor.rate_hz):
        raise InputError(
            source or f"sensor {sensor.sensor_id!r}",
            "this looks like a shoe sensor, not a hip/sacrum one (the angular rate or impacts "
            "reach a foot's swing and ground contact); analyse it with --placement left_foot "
            "or --placement right_foot",
        )
    from imu_hip.calibration import prepare_for_analysis, raw_acc_map

    sensor, calibration_info = prepare_for_analysis(sensor, calibration)
    stage = SacralStage(
        sensor.rate_hz,
        sensor.has_gyro,
        frame_s=frame_s,
        alignment=BODY_AXES if axes == "body" else None,
        sensor_acc=raw_acc_map(sensor.metadata),
    )
    parts: list[StepTable] = []
    total = max(len(sensor), 1)
    done = 0
    for block in _fixed_blocks(sensor, block_size):
        parts.append(stage.push(block))
        done += len(block)
        if progress is not None:
            progress(done / total)
    parts.append(stage.finish())
    steps = StepTable.concat(parts)
    result = result_from_stage(stage, steps, sensor, mass_kg, source)
    result.summary["calibration"] = calibration_info
    return result


def _too_short(sensor: SensorRecording) -> str:
    """Why a hip stream shorter than MIN_SEGMENT_S is not analysed."""
    return (f"only {duration_text(sensor.duration_s)} s of hip (sacral) data; at least "
            f"{MIN_SEGMENT_S:g} s is needed to find steps (three of the slowest steps, "
            f"{MAX_STEP_S:g} s each)")


#: Largest angle (deg) between gravity and +z for ``axes="body"`` to be believed: a sacral
#: sensor sits within ~30° of upright (pelvic tilt plus the sacrum's slope), so beyond 45° the
#: declared axes are not the body's.
MAX_DECLARED_TILT_DEG = 45.0


def _check_declared_axes(sensor: SensorRecording, where: str) -> None:
    """Raise :class:`InputError` when ``axes="body"`` is declared but the mean acceleration
    (gravity) is far from +z."""
    g = sensor.acc_mps2.mean(axis=0)
    norm = float(np.linalg.norm(g))
    tilt = float(np.degrees(np.arccos(np.clip(g[2] / norm, -1.0, 1.0)))) if norm > 0 else 180.0
    if tilt > MAX_DECLARED_TILT_DEG:
        raise InputError(where, f"axes declared as the body frame (z up), but gravity is "
                         f"{tilt:.0f}° from +z (mean acceleration {np.round(g / G, 2).tolist()} "
                         "g); leave --axes at auto to find the sensor's orientation")


def short_pieces_s(t_s: np.ndarray, rate_hz: float) -> float:
    """Seconds of data in gap-free pieces (holes longer than MAX_FILL_S end a piece) with fewer
    samples than the detector needs (MIN_SEGMENT_S at ``rate_hz``): not analysed."""
    t = np.asarray(t_s, dtype=np.float64)
    if t.size < 2:
        return 0.0
    cut = np.flatnonzero(np.diff(t) > MAX_FILL_S) + 1
    first = np.concatenate(([0], cut))
    last = np.concatenate((cut - 1, [t.size - 1]))
    short = (last - first + 1) < int(MIN_SEGMENT_S * rate_hz)
    return float((t[last] - t[first])[short].sum())


def result_from_stage(
    stage: SacralStage,
    steps: StepTable,
    sensor: SensorRecording,
    mass_kg: float | None,
    source: str,
) -> AnalysisResult:
    """Build the :class:`AnalysisResult` once a stage has seen the whole stream."""
    unavailable: dict[str, str] = {}
    if not sensor.has_gyro:
        unavailable.update(dict.fromkeys(PELVIS_COLUMNS, NO_GYRO_REASON))
    alignment = stage.alignment_
    info = {
        "source": source,
        "sensor_id": sensor.sensor_id,
        "placement": sensor.placement,
        "rate_hz": sensor.rate_hz,
        "duration_s": sensor.duration_s,
        "samples": len(sensor),
        "gaps": stage.gaps_,
        "dropped_samples": stage.dropped_samples_,
        "holes_filled": stage.holes_filled_,
        "filled_samples": stage.filled_samples_,
        "steps_near_packet_loss": stage.steps_near_holes_,
        "steps_accelerometer_saturated": stage.steps_saturated_,
        "unanalysed_s": short_pieces_s(sensor.t_s, sensor.rate_hz),
        "remounts": [dict(r) for r in stage.remounts_],
        "mass_kg": mass_kg,
        "alignment": None
        if alignment is None
        else {
            "rotation_sensor_to_body": alignment.rotation,
            "vertical_quality": alignment.vertical_quality,
            "forward_quality": alignment.forward_quality,
            "method": alignment.method,
            "clipped": alignment.clipped,
        },
        "pelvis_neutral": (
            "none (no gyroscope)"
            if not sensor.has_gyro
            else "standing"
            if stage.neutral_deg_ is not None
            else "running mean (no standing phase)"
        ),
    }
    summary = summarize(steps, unavailable=unavailable, info=info)
    return AnalysisResult(steps=steps, summary=summary, alignment=alignment)


def analyze(
    source: str | Path | Recording | SensorRecording,
    placement: str | None = None,
    mass_kg: float | None = None,
    progress: Callable[[float], None] | None = None,
    axes: str = "auto",
) -> AnalysisResult:
    """Analyse a recording (a path to CSV/MCAP, a Recording or one SensorRecording).

    ``placement`` picks the stream to analyse. None (default): the only stream of a one-sensor
    recording (a CSV file's ``# placement:`` line, else sacrum), or the sacral stream of a
    multi-sensor one. A CSV file without a placement line is read as worn at ``placement``.
    ``mass_kg`` adds forces in newtons to the summary. ``axes``: see :func:`analyze_sensor`.
    ``progress``: called with the fraction done (0 to 1) as the analysis goes.
    Any problem with the input raises :class:`InputError` naming it.
    """
    from imu_hip.io import read_mcap, read_recording, sniff_format, validate_recording

    name = str(source) if isinstance(source, str | Path) else ""
    recording: Recording | None = None
    try:
        hip_problem = ""
        if isinstance(source, str | Path) and sniff_format(source) == "mcap":
            recording = read_mcap(source)
            if not recording.sensors:
                validate_recording(recording, name)  # says why (e.g. cut off before any data)
            sensor, shoes, hip_problem = _checked_streams(recording, placement, name)
        elif isinstance(source, str | Path):
            recording = read_recording(source, placement=placement)
            sensor = _choose_sensor(recording, placement)
            shoes = [s for s in recording.sensors if s.placement in ("left_foot", "right_foot")]
        else:  # in memory: the same checks as a file's
            recording = source if isinstance(source, Recording) else Recording([source])
            sensor, shoes, hip_problem = _checked_streams(
                recording, placement, "", None if isinstance(source, Recording) else source)
        if sensor is not None and shoes and not hip_problem and sensor.duration_s < MIN_SEGMENT_S:
            hip_problem = _too_short(sensor)
        if sensor is None or shoes or sensor.placement in ("left_foot", "right_foot"):
            from imu_hip.foot_pipeline import analyze_foot_result, with_shoes  # hip alone: not
        if sensor is None:  # shoes only, no placement asked for: both shoes together
            result = analyze_foot_result(shoes, source=name)
        elif sensor.placement in ("left_foot", "right_foot"):
            result = analyze_foot_result([sensor], source=name)
        elif hip_problem:  # the shoes can still be analysed
            result = analyze_foot_result(shoes, source=name)
            result.summary["hip_not_analysed"] = (
                f"the hip (sacral) stream {sensor.sensor_id!r}: {hip_problem}")
        else:
            result = analyze_sensor(sensor, mass_kg=mass_kg, axes=axes, progress=progress,
                                    source=name)
            if shoes:  # shoes in the same session: side and contact timing from them
                result = with_shoes(result, shoes, source=name)
        if recording is not None and recording.metadata.get("truncated") == "true":
            result.summary["recording_truncated"] = recording.metadata.get(
                "truncated_detail", "cut off")
        return result
    except InputError as e:
        if not name or e.source == name:
            raise
        raise InputError(name, str(e)) from None
    except ImuHipError as e:
        if not name:
            raise
        raise InputError(name, str(e)) from None


def _checked_streams(recording: Recording, placement: str | None, name: str,
                     only: SensorRecording | None = None,
                     ) -> tuple[SensorRecording | None, list[SensorRecording], str]:
    """The stream to analyse (``only``, else chosen by ``placement``) and the shoes beside it,
    each checked on its own: streams carry their own placement, so a broken shoe is left out
    and a hip stream that cannot be analysed beside usable shoes leaves them to be analysed
    (its problem is the third value); otherwise :class:`InputError`."""
    from imu_hip.io import validate_recording

    sensor = only if only is not None else _choose_sensor(recording, placement)
    shoes = [s for s in recording.sensors if s.placement in ("left_foot", "right_foot")]
    if sensor is None:  # shoes only: each must be usable
        for s in shoes:
            validate_recording(Recording([s], recording.metadata),
                               name or f"sensor {s.sensor_id!r}")
        return None, shoes, ""
    if sensor.placement in ("left_foot", "right_foot"):  # one shoe asked for: only it is used
        shoes = []
    shoes = [s for s in shoes if _is_valid(s, recording.metadata)]
    try:
        validate_recording(Recording([sensor], recording.metadata),
                           name or f"sensor {sensor.sensor_id!r}")
    except InputError as e:
        if not shoes:
            raise
        return sensor, shoes, e.problem
    return sensor, shoes, ""


def _is_valid(sensor: SensorRecording, metadata: dict[str, str]) -> bool:
    from imu_hip.io import validate_recording

    try:
        validate_recording(Recording([sensor], metadata), "")
    except ImuHipError:
        return False
    return True


def _choose_sensor(recording: Recording, placement: str | None) -> SensorRecording | None:
    """The stream at ``placement``; with None, the only stream or else the sacral one (None
    when there is no sacral stream but shoes: they are analysed together)."""
    if placement is None and len(recording.sensors) == 1:
        return recording.sensors[0]
    if placement is None and recording.sensors and all(
        s.placement in ("left_foot", "right_foot") for s in recording.sensors
    ):
        return None
    return recording.sensor(placement or "sacrum")


def _fixed_blocks(sensor: SensorRecording, size: int) -> Iterable[Block]:
    """Blocks of ``size`` samples, not split at holes: the resampler finds every hole from the
    times (and fills the short ones), so the result is the same as with
    :meth:`SensorRecording.blocks`, without a push per hole (each costs ~2 ms)."""
    for i in range(0, len(sensor), size):
        yield sensor.block(i, min(i + size, len(sensor)))


def push_all(stage: SacralStage, blocks: Iterable[Block]) -> StepTable:
    """Feed ``blocks`` in order, then finish: the steps of the whole stream."""
    parts = [stage.push(b) for b in blocks]
    parts.append(stage.finish())
    return StepTable.concat(parts)
