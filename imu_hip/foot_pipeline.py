"""Shoe sensors through the one pipeline: blocks in, strides out, live or offline.

:class:`FootStage` takes the blocks of one shoe sensor in order (``push(block)``), puts them on a
uniform grid (:class:`~imu_hip.dsp.resample.Resampler`, split at gaps) and analyses fixed frames
of ``frame_s`` of each gap-free segment with ``margin_s`` of context on both sides
(:func:`imu_hip.gait.foot.detect_strides`). A stride belongs to the frame that holds its end
(mid-stance). Every decision is taken at fixed sample counts, never at block boundaries, so the
strides do not depend on how the input was cut into blocks.

Short holes (a few lost packets) are filled by the resampler and flagged. A stride whose events
a filled sample could have moved (:func:`imu_hip.gait.foot._unplaced`: the stances around its
mid-stances, its landing, a stride joined with the next) is dropped and counted
(``strides_dropped_``, with its time and span, as is a stride a hole kept from forming); one with
a filled sample only in its early swing is reported without the columns in :data:`HOLE_NAN`,
which read every sample of the stride, and counted (``strides_near_holes_``). No value reported
rests on filled data.

:func:`analyze_feet` analyses one or two shoes (and adds flight times across the feet);
:func:`attach_shoes` gives the sacral steps of the same session their side and contact timing
from the shoes (two shoes: contact instants combined with the hip's by their measured noise,
contact times the shoes'; one shoe: the hip's timing for both sides, its contact-time level set
by the shoe), with the time offset between the sensors estimated from the events.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from imu_hip.dsp.frames import Frame, SegmentFrames, touches
from imu_hip.dsp.resample import Resampler, ResamplerCounts, UniformChunk
from imu_hip.gait.foot import FootStrides, detect_strides, looks_like_foot
from imu_hip.metrics import foot as fm
from imu_hip.model import Block, ImuHipError, InputError, SensorRecording
from imu_hip.strides import StrideTable

FOOT_PLACEMENTS = ("left_foot", "right_foot")
#: Margin (s) around what a stride reads that must be free of filled samples: the SHOE
#: statistic behind the mid-stances is two 25 ms moving means
#: (:func:`imu_hip.gait.foot.shoe_statistic`), so a sample further than 25 ms from the stances
#: checked does not change it there. 30 ms.
HOLE_MARGIN_S = 0.03
SIDE = {"left_foot": "left", "right_foot": "right"}
#: Stride columns not given when a filled sample lies between the stride's mid-stances (away
#: from its landing): they read every sample of the stride.
HOLE_NAN = ("stride_length_m", "speed_mps", "swing_time_s")
#: Stride columns not given when the shoe's accelerometer saturated within the stride.
ACC_SATURATION_NAN = ("stride_length_m", "speed_mps", "impact_peak_g")


class FootStage(ResamplerCounts):
    """Streaming stride analysis of one shoe sensor.

    ``placement``: ``left_foot`` or ``right_foot`` (gives the side and the eversion sign).
    ``gyro_range_rads``: the gyroscope's full scale if known (clipping is otherwise found from
    the data). ``push(block)`` returns the strides completed by that block (possibly none);
    ``finish()`` the rest. Attributes: ``gaps_``, ``samples_``, ``clipped_samples_``,
    ``holes_filled_``, ``filled_samples_``, ``strides_dropped_`` (a filled hole could have
    moved their events, or kept them from forming), ``strides_dropped_s_`` (their time, s) and
    ``strides_dropped_spans_`` (their (start, end) host times, s),
    ``strides_near_holes_`` (reported without what a hole in their swing changes),
    ``strides_saturated_`` (the accelerometer saturated: length, speed and impact not measured),
    ``frame_`` (the last foot frame found, sensor coordinates, columns forward/left/up).
    ``sensor_acc``: when the blocks were calibrated, the map back to the raw readings (where
    accelerometer saturation is flat), as for :class:`imu_hip.pipeline.SacralStage`.
    Live, a stride is reported ``frame_s + margin_s`` (default 2 + 4 s) after its end at the
    latest; the margin covers the longest stride (2.5 s) and the toe-off after it. Offline
    analysis uses 300 s frames (same strides up to the frame's own foot-frame estimate).
    """

    def __init__(self, rate_hz: float, placement: str, frame_s: float = 2.0,
                 margin_s: float = 4.0, gyro_range_rads: float | None = None,
                 sensor_acc: Callable[[np.ndarray], np.ndarray] | None = None):
        if placement not in FOOT_PLACEMENTS:
            raise ImuHipError(f"FootStage needs a foot placement, got {placement!r}")
        self.rate_hz = float(rate_hz)
        self.placement = placement
        self.side = SIDE[placement]
        self.frame_n = max(1, round(frame_s * rate_hz))
        self.margin_n = round(margin_s * rate_hz)
        self.gyro_range_rads = gyro_range_rads
        self._sensor_acc = sensor_acc
        self._resampler = Resampler(rate_hz)
        self._seg: SegmentFrames | None = None
        self._last_end = -np.inf
        self.samples_ = 0
        self.clipped_samples_ = 0
        self.frame_: np.ndarray | None = None
        self._looks: list[bool | None] = []
        self.strides_dropped_spans_: list[tuple[float, float]] = []
        self.strides_near_holes_ = 0
        self.strides_saturated_ = 0
        self._hole_margin_n = int(np.ceil(HOLE_MARGIN_S * self.rate_hz))

    def push(self, block: Block) -> StrideTable:
        if block.gyr_rads is None:
            raise InputError(block.sensor_id, "a shoe sensor needs a gyroscope (angular rate) "
                             "for strides, foot strike and pronation")
        out: list[StrideTable] = []
        for chunk in self._resampler.push(block):
            self.samples_ += len(chunk)
            out.extend(self._process(chunk))
        return StrideTable.concat(out)

    def finish(self) -> StrideTable:
        return StrideTable.concat(self._end_segment())

    def _process(self, chunk: UniformChunk) -> list[StrideTable]:
        out: list[StrideTable] = []
        if self._seg is None or chunk.segment != self._seg.number:
            out.extend(self._end_segment())
            self._seg = SegmentFrames(
                chunk.segment, chunk.t0_s, self.rate_hz, self.frame_n, self.margin_n
            )
        assert chunk.gyr_rads is not None
        if self._sensor_acc is None:
            self._seg.append(chunk.filled, acc=chunk.acc_mps2, gyr=chunk.gyr_rads)
        else:
            self._seg.append(chunk.filled, acc=chunk.acc_mps2, gyr=chunk.gyr_rads,
                             raw=self._sensor_acc(chunk.acc_mps2))
        out.extend(self._measure_frame(f) for f in self._seg.frames())
        return out

    def _end_segment(self) -> list[StrideTable]:
        seg, self._seg = self._seg, None
        if seg is None:
            return []
        return [self._measure_frame(f) for f in seg.frames(final=True)]

    def _measure_frame(self, f: Frame) -> StrideTable:
        return self._measure(f.data["acc"], f.data["gyr"], f.t0_s, f.core_start, f.core_end,
                             f.filled, f.data.get("raw"))

    def _measure(self, acc: np.ndarray, gyr: np.ndarray, t0_s: float, core_start: int,
                 core_end: int, filled: np.ndarray | None = None,
                 raw: np.ndarray | None = None) -> StrideTable:
        fs = self.rate_hz
        core = slice(core_start, core_end)
        self._looks.append(looks_like_foot(acc[core], gyr[core], fs))
        st, rot, gyr_fix, clip = detect_strides(acc, gyr, fs, self.gyro_range_rads, filled,
                                                self._hole_margin_n, raw)
        self.clipped_samples_ += int(clip[core].sum())
        keep = (st.ms1 >= core_start) & (st.ms1 < core_end) & (st.ic >= 0)
        t_end = t0_s + st.ms1 / fs
        keep &= t_end > self._last_end + 0.05
        if st.frame is not None:
            self.frame_ = st.frame
        if filled is not None and filled.size:
            self._count_unformed(st, filled, t0_s, core_start, core_end)
        if not keep.any():
            return StrideTable()
        self._last_end = float(t_end[keep][-1])
        if st.unplaced is not None:
            drop = keep & st.unplaced
            self._dropped(t0_s + st.ms0[drop] / fs, t_end[drop])
            keep &= ~st.unplaced
        if not keep.any() or st.frame is None:
            return StrideTable()
        k = np.flatnonzero(keep)
        ms0, ms1, ic, to_prev, to = st.ms0[k], st.ms1[k], st.ic[k], st.to[k], st.to_next[k]
        # event instants between samples (fractional sample positions): times and durations
        # from them are not quantised to the sample period
        ic_t = (st.ic if st.ic_t is None else st.ic_t)[k].astype(float)
        to_prev_t = (st.to if st.to_t is None else st.to_t)[k].astype(float)
        to_t = (st.to_next if st.to_next_t is None else st.to_next_t)[k].astype(float)
        frame = st.frame
        length = _horizontal(st.disp_m[k], st.up_s[k])
        stride_time = (ms1 - ms0) / fs
        to_ok = (to > ic) & (to_t > ic_t)
        contact = np.where(to_ok, (to_t - ic_t) / fs, np.nan)
        swing = np.where(to_prev >= 0, (ic_t - to_prev_t) / fs, np.nan)
        holed = st.touched[k] if st.touched is not None else np.zeros(k.size, bool)
        swing[holed] = np.nan  # (its toe-off may rest on the hole; the gait then uses contact)
        # running: the foot is in the air longer than on the ground (duty factor < 0.5);
        # the swing, not the stride, so that a stride starting from standing still counts
        ratio = np.where(np.isfinite(swing), contact / swing, 2.0 * contact / stride_time)
        gait = np.where(np.isfinite(ratio), np.where(ratio < 1.0, "run", "walk"), "unknown")
        # the foot's pose at contact: the last sample before the impact reached the sensor
        pose = np.maximum(ic - 1, 0)
        angle = fm.strike_angle_deg(rot, frame, pose, ms1)
        sign = 1.0 if self.side == "left" else -1.0
        exc, vel = fm.pronation(rot, gyr_fix, frame, pose, np.where(to_ok, to, -1), ms1, sign)
        cols: dict[str, np.ndarray] = {
            "t_start_s": t0_s + ms0 / fs,
            "t_end_s": t_end[k],
            "t_ic_s": t0_s + ic_t / fs,
            "t_to_s": np.where(to_ok, t0_s + to_t / fs, np.nan),
            "side": np.full(k.size, self.side),
            "gait": gait,
            "stride_time_s": stride_time,
            "contact_time_s": contact,
            "swing_time_s": swing,
            "stride_length_m": length,
            "speed_mps": length / stride_time,
            "foot_strike_angle_deg": angle,
            "foot_strike": fm.strike_class(angle),
            "pronation_excursion_deg": exc,
            "pronation_velocity_dps": vel,
            "impact_peak_g": fm.impact_peak_g(acc, ic, fs),
            "clipped": st.clipped[k].astype(float),
        }
        if holed.any():
            # a hole between the mid-stances: the integration and the first toe-off read it
            self.strides_near_holes_ += int(holed.sum())
            for name in HOLE_NAN:
                cols[name] = np.where(holed, np.nan, cols[name])
        if st.acc_clipped is not None and st.acc_clipped[k].any():
            # A saturated accelerometer loses acceleration wherever it sits at its limit (the
            # impact, the swing): no repair restores the velocity (a simulated 4 g range gave
            # strides 5 % short), so the amounts read from it are not given.
            sat = st.acc_clipped[k]
            self.strides_saturated_ += int(sat.sum())
            for name in ACC_SATURATION_NAN:
                cols[name] = np.where(sat, np.nan, cols[name])
        return StrideTable(cols)

    @property
    def strides_dropped_(self) -> int:
        return len(self.strides_dropped_spans_)

    @property
    def strides_dropped_s_(self) -> float:
        return float(sum(b - a for a, b in self.strides_dropped_spans_))

    def _dropped(self, t0_s: np.ndarray, t1_s: np.ndarray) -> None:
        """Record strides not reported at packet loss by their spans (host s)."""
        self.strides_dropped_spans_ += list(zip(t0_s.tolist(), t1_s.tolist(), strict=True))

    def _count_unformed(self, st: FootStrides, filled: np.ndarray, t0_s: float, core_start: int,
                        core_end: int) -> None:
        """Strides a hole kept from forming at all (e.g. a swing split by a filled dent):
        consecutive mid-stances (the later one in the core) with a filled sample between them
        and no stride, at most 1.5 median strides apart (a pause is no stride)."""
        ms = st.ms_all[st.ms_all >= 0]
        if ms.size < 2 or st.ms0.size == 0:
            return
        a, b = ms[:-1], ms[1:]
        lost = ((b >= core_start) & (b < core_end) & ~np.isin(b, st.ms1)
                & (b - a <= 1.5 * np.median(st.ms1 - st.ms0)) & touches(filled, a, b))
        self._dropped(t0_s + a[lost] / self.rate_hz, t0_s + b[lost] / self.rate_hz)

    def signal_verdict(self) -> bool | None:
        """Majority verdict of :func:`~imu_hip.gait.foot.looks_like_foot` over the frames."""
        votes = [v for v in self._looks if v is not None]
        if not votes:
            return None
        return sum(votes) * 2 >= len(votes)


def _horizontal(disp: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Horizontal length of each displacement (sensor frame at the stride start): the part
    perpendicular to the stride's own measured vertical ``up``."""
    v = np.einsum("ij,ij->i", disp, up)
    return np.linalg.norm(disp - v[:, None] * up, axis=1)


# ------------------------------------------------------------------------------ whole streams


def flight_times(strides: StrideTable) -> StrideTable:
    """Fill ``flight_time_s``: toe-off to the other foot's next initial contact (s)."""
    if len(strides) == 0:
        return strides
    cols = dict(strides.columns)
    ft = np.full(len(strides), np.nan)
    for side, other in (("left", "right"), ("right", "left")):
        mine = np.flatnonzero(cols["side"] == side)
        theirs = np.sort(cols["t_ic_s"][cols["side"] == other])
        if not mine.size or not theirs.size:
            continue
        to = cols["t_to_s"][mine]
        # the other foot's contact that follows this contact's initial contact
        j = np.searchsorted(theirs, cols["t_ic_s"][mine], side="right")
        ok = (j < theirs.size) & np.isfinite(to)
        nxt = np.where(ok, theirs[np.minimum(j, theirs.size - 1)], np.nan)
        step = nxt - cols["t_ic_s"][mine]
        ok &= step < 0.75 * cols["stride_time_s"][mine]  # the very next step, not a later one
        ft[mine] = np.where(ok, nxt - to, np.nan)
    cols["flight_time_s"] = ft
    return StrideTable(cols)


def analyze_foot_sensor(sensor: SensorRecording, block_size: int = 1 << 16,
                        gyro_range_rads: float | None = None, source: str = "",
                        check_signal: bool = True, calibration: Any = "auto",
                        ) -> tuple[StrideTable, dict[str, Any]]:
    """Strides of one shoe stream through :class:`FootStage`, and facts about the run.

    ``calibration``: as for the hip (:func:`imu_hip.calibration.prepare_for_analysis`):
    ``"auto"`` applies the sensor's stored calibration, then subtracts the gyroscope bias
    found over the still periods (>= 2 s, e.g. standing before the run); None: raw."""
    name = source or f"sensor {sensor.sensor_id!r}"
    if sensor.placement not in FOOT_PLACEMENTS:
        raise InputError(name, f"placement {sensor.placement!r} is not a shoe "
                         "(expected left_foot or right_foot)")
    if not sensor.has_gyro:
        raise InputError(name, f"the {sensor.placement} stream has no angular rate: a shoe "
                         "sensor needs a gyroscope for strides, foot strike and pronation")
    from imu_hip.calibration import prepare_for_analysis, raw_acc_map

    sensor, calibration_info = prepare_for_analysis(sensor, calibration)
    stage = FootStage(sensor.rate_hz, sensor.placement, frame_s=300.0,
                      gyro_range_rads=gyro_range_rads,
                      sensor_acc=raw_acc_map(sensor.metadata))
    # fixed blocks, not split at holes: the resampler finds them from the times (same strides)
    parts = [stage.push(sensor.block(i, min(i + block_size, len(sensor))))
             for i in range(0, len(sensor), block_size)]
    parts.append(stage.finish())
    strides = StrideTable.concat(parts)
    verdict = stage.signal_verdict()
    if check_signal and verdict is False and len(strides) < 3:
        raise InputError(name, "this does not look like a shoe sensor: the angular rate never "
                         "reaches a foot's swing (a hip/trunk signal?); analyse it with "
                         "--placement sacrum")
    info = {"sensor_id": sensor.sensor_id, "placement": sensor.placement,
            "rate_hz": sensor.rate_hz, "duration_s": sensor.duration_s, "samples": len(sensor),
            "gaps": stage.gaps_, "clipped_samples": stage.clipped_samples_,
            "holes_filled": stage.holes_filled_, "filled_samples": stage.filled_samples_,
            "strides_dropped_at_packet_loss": stage.strides_dropped_,
            "strides_dropped_s": stage.strides_dropped_s_,
            "strides_dropped_spans_s": [[round(a, 4), round(b, 4)]
                                        for a, b in stage.strides_dropped_spans_],
            "strides_near_packet_loss": stage.strides_near_holes_,
            "strides_accelerometer_saturated": stage.strides_saturated_,
            "foot_frame_sensor": stage.frame_, "calibration": calibration_info}
    return strides, info


@dataclass(eq=False)
class FootResult:
    """Strides of one or two shoes (sorted by time), their summary and per-sensor facts."""

    strides: StrideTable
    summary: dict[str, Any]
    steps: Any = None  # the sacral StepTable when a sacrum was analysed with the shoes
    sacral_summary: dict[str, Any] | None = None

    def write(self, out_dir: str | Path) -> list[Path]:
        """Write ``strides.csv`` and ``summary.json`` (and ``steps.csv`` with a sacrum)."""
        from imu_hip.pipeline import _jsonable, prepare_output_dir

        out = prepare_output_dir(out_dir)
        paths = [out / "strides.csv", out / "summary.json"]
        summary = dict(self.summary)
        if self.sacral_summary is not None:
            summary["sacrum"] = self.sacral_summary
        try:
            self.strides.to_csv(paths[0])
            paths[1].write_text(json.dumps(_jsonable(summary), indent=2), encoding="utf-8")
            if self.steps is not None:
                paths.append(out / "steps.csv")
                self.steps.to_csv(paths[2])
        except OSError as e:
            raise ImuHipError(f"{e.filename or out}: cannot write ({e.strerror or e})") from None
        return paths


def analyze_feet(sensors: list[SensorRecording], source: str = "",
                 gyro_range_rads: float | None = None, calibration: Any = "auto",
                 ) -> FootResult:
    """Analyse one or two shoe streams; with two, flight times and step time/cadence too.
    ``calibration``: see :func:`analyze_foot_sensor`."""
    def one(s: SensorRecording) -> tuple[StrideTable, dict[str, Any]]:
        return analyze_foot_sensor(s, gyro_range_rads=gyro_range_rads, source=source,
                                   calibration=calibration)

    if len(sensors) > 1 and len(sensors[0]) > 100_000:
        # The shoes are independent and numpy releases the GIL in its array loops: two
        # threads use both cores of a small machine (results are the same either way).
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(len(sensors), 2)) as pool:
            done = list(pool.map(one, sensors))
    else:
        done = [one(s) for s in sensors]
    tables = [t for t, _ in done]
    infos = [i for _, i in done]
    strides = flight_times(StrideTable.concat(tables).sorted())
    summary = fm.summarize_strides(strides)
    summary = {"source": source, "sensor_ids": [i["sensor_id"] for i in infos],
               "sensors": infos, **summary}
    return FootResult(strides=strides, summary=summary)


def estimate_offset_s(t_ref: np.ndarray, t_other: np.ndarray, max_s: float = 0.25) -> float:
    """Offset (s) to add to ``t_other`` so its events line up with ``t_ref``: the median of the
    nearest-event differences after a coarse search (a histogram of all pair differences within
    ``max_s``, 5 ms bins). NaN with fewer than 5 pairs."""
    t_ref = np.sort(np.asarray(t_ref, float))
    t_other = np.sort(np.asarray(t_other, float))
    if t_ref.size < 5 or t_other.size < 5:
        return float("nan")
    lo = np.searchsorted(t_ref, t_other - max_s)
    hi = np.searchsorted(t_ref, t_other + max_s)
    diffs = np.concatenate([t_ref[a:b] - t for a, b, t in zip(lo, hi, t_other, strict=True)])
    if diffs.size < 5:
        return float("nan")
    hist, edges = np.histogram(diffs, bins=np.arange(-max_s, max_s + 0.005, 0.005))
    c = 0.5 * (edges[np.argmax(hist)] + edges[np.argmax(hist) + 1])
    j = np.clip(np.searchsorted(t_ref, t_other + c), 1, t_ref.size - 1)
    near = np.where(np.abs(t_ref[j - 1] - t_other - c) < np.abs(t_ref[j] - t_other - c),
                    t_ref[j - 1], t_ref[j])
    d = near - t_other
    d = d[np.abs(d - c) < 0.03]
    return float(np.median(d)) if d.size >= 5 else float("nan")


def _event_noise_var(t_hip: np.ndarray, t_shoe: np.ndarray, chain: np.ndarray,
                     min_n: int = 20) -> tuple[float, float]:
    """Per-step noise variances (s²) of two estimates of the same contact instants, hip and
    shoe (in one clock), from their second differences over consecutive steps (``chain[i]``:
    steps ``i - 1``, ``i``, ``i + 1`` follow each other).

    With white errors of variance ``h`` and ``s``, a second difference ``t[i+1] - 2 t[i] +
    t[i-1]`` has variance ``V + 6 h`` (hip), ``V + 6 s`` (shoe) and ``6 (h + s)`` (their
    difference), ``V`` being the runner's own step-to-step variation, common to both: three
    equations for ``h``, ``s`` (the three-cornered-hat separation of clock noise). A
    per-side bias (errors alternating left/right) counts as noise, as it should: it is what
    spoils step times. ``(nan, nan)`` with fewer than ``min_n`` second differences."""
    i = np.flatnonzero(chain)
    if i.size < min_n:
        return float("nan"), float("nan")
    d2h = t_hip[i + 1] - 2.0 * t_hip[i] + t_hip[i - 1]
    d2s = t_shoe[i + 1] - 2.0 * t_shoe[i] + t_shoe[i - 1]
    d2d = d2h - d2s
    # a wrongly matched contact is not noise: leave out second differences far off the rest
    mad = 1.4826 * float(np.median(np.abs(d2d - np.median(d2d))))
    keep = np.abs(d2d - np.median(d2d)) <= 5.0 * max(mad, 1e-6)
    if int(keep.sum()) < min_n:
        return float("nan"), float("nan")
    vh, vs, vd = (float(np.var(x[keep])) for x in (d2h, d2s, d2d))
    h = (vd + vh - vs) / 12.0
    s = (vd - vh + vs) / 12.0
    floor = 1e-4 * vd / 12.0 + 1e-14
    return max(h, floor), max(s, floor)


def attach_shoes(steps, strides: StrideTable, tol_s: float = 0.08):
    """Sacral steps with side and contact timing from the shoes of the same session.

    The time offset between the sacrum's and the shoes' clocks is estimated from the initial
    contacts (:func:`estimate_offset_s`); each sacral step is matched to the nearest shoe
    contact within ``tol_s`` after the offset and takes its side.

    Timing, one rule for every step of a side, so that left and right are measured alike:

    * **Both shoes:** a matched step's initial contact is the inverse-variance weighted mean of
      the shoe's and the hip's (both in the sacrum's clock; their per-step noise is measured
      on the session itself, :func:`_event_noise_var`, so the sharper source leads: the shoe
      where its impact is sharp, the hip where the shoe's sample grid is coarse); its contact
      time is the shoe's own (toe-off minus initial contact on the shoe, one clock), so
      toe-off = initial contact + that contact time.
    * **One shoe** (or a step no shoe matched): the hip's initial contact and toe-off, with the
      toe-off moved by the median difference between the shoe's and the hip's contact times
      over the matched steps. One shoe times only one side: taking its timing there and the
      hip's on the other side made a symmetric runner read 7 % contact-time asymmetry (the
      hip's contact time is biased by ~-17 ms on the simulator). With one correction for all
      steps the asymmetry is the hip's, the level the shoe's.

    Step time, contact and flight time, cadence and duty factor are recomputed. Returns
    ``(steps, info)``; ``info`` has the offset (s), the share matched, ``contact_correction_s``
    (added to the hip's contact times) and ``shoe_weight`` (weight of the shoe's initial
    contact; NaN when not used).
    """
    from imu_hip.steps import StepTable

    info: dict[str, Any] = {"time_offset_s": float("nan"), "matched_pct": 0.0,
                            "contact_correction_s": float("nan"),
                            "shoe_weight": float("nan")}
    if len(steps) == 0 or len(strides) == 0:
        return steps, info
    offset = estimate_offset_s(steps["t_ic_s"], strides["t_ic_s"])
    info["time_offset_s"] = offset
    if not np.isfinite(offset):
        return steps, info
    t_shoe = strides["t_ic_s"] + offset
    order = np.argsort(t_shoe)
    t_shoe = t_shoe[order]
    t_hip = np.asarray(steps["t_ic_s"], float)
    j = np.clip(np.searchsorted(t_shoe, t_hip), 1, max(t_shoe.size - 1, 1))
    if t_shoe.size == 1:
        j = np.zeros(len(steps), int)
        best = j
    else:
        best = np.where(np.abs(t_shoe[j - 1] - t_hip) <= np.abs(t_shoe[j] - t_hip), j - 1, j)
    ok = np.abs(t_shoe[best] - t_hip) <= tol_s
    src = order[best]
    cols = dict(steps.columns)
    cols["side"] = np.where(ok, strides["side"][src], cols["side"])
    ic_shoe = t_shoe[best]
    ct_shoe = np.asarray(strides["t_to_s"], float)[src] + offset - ic_shoe
    ct_hip = np.asarray(steps["t_to_s"], float) - t_hip
    both = ok & np.isfinite(ct_shoe) & np.isfinite(ct_hip)
    corr = float(np.median(ct_shoe[both] - ct_hip[both])) if both.sum() >= 5 else 0.0
    info["contact_correction_s"] = corr
    # the next row is the step's own next contact (not a later one: steps are dropped at
    # packet losses, and a bout ends without a next contact)
    gap_next = np.append(t_hip[1:], np.nan) - t_hip
    known_next = np.isfinite(cols["step_time_s"]) & (
        np.abs(gap_next - cols["step_time_s"]) < 0.25 * cols["step_time_s"])
    two_shoes = {str(x) for x in strides["side"]} >= {"left", "right"}
    t_ic = t_hip.copy()
    t_to = t_hip + ct_hip + corr
    if two_shoes:
        # second differences over three consecutive steps, all matched to a shoe
        chain = np.zeros(t_hip.size, bool)
        if t_hip.size >= 3:
            chain[1:-1] = known_next[:-2] & known_next[1:-1] & ok[:-2] & ok[1:-1] & ok[2:]
        h, sv = _event_noise_var(t_hip, np.where(ok, ic_shoe, t_hip), chain)
        w = h / (h + sv) if np.isfinite(h) else 1.0  # too few steps: the shoe's own event
        info["shoe_weight"] = w
        t_ic = np.where(ok, w * ic_shoe + (1.0 - w) * t_hip, t_hip)
        t_to = np.where(ok & np.isfinite(ct_shoe), t_ic + ct_shoe, t_ic + ct_hip + corr)
    cols["t_ic_s"] = t_ic
    cols["t_to_s"] = t_to
    nxt = np.append(t_ic[1:], np.nan)
    step = np.where(known_next, nxt - t_ic, np.nan)
    cols["step_time_s"] = step
    cols["contact_time_s"] = t_to - t_ic
    cols["flight_time_s"] = np.where(known_next, nxt - t_to, np.nan)
    cols["cadence_spm"] = 60.0 / step
    cols["duty_factor"] = cols["contact_time_s"] / (2.0 * step)
    info["matched_pct"] = 100.0 * float(ok.mean())
    return StepTable(cols), info


def analyze_foot_result(sensors: list[SensorRecording], source: str = ""):
    """:func:`analyze_feet` wrapped as an :class:`imu_hip.pipeline.AnalysisResult` (empty step
    table, the strides in ``strides``, the stride summary as ``summary``)."""
    from imu_hip.pipeline import AnalysisResult
    from imu_hip.steps import StepTable

    res = analyze_feet(sensors, source=source)
    return AnalysisResult(steps=StepTable(), summary=res.summary, alignment=None,
                          strides=res.strides)


def with_shoes(result, shoes: list[SensorRecording], source: str = ""):
    """A sacral :class:`~imu_hip.pipeline.AnalysisResult` of a session that also has shoe
    sensors: steps take side and contact timing from the shoes (:func:`attach_shoes`), the
    strides are added, and the summary gets ``shoes`` (stride summary, time offset, the
    correction of the hip's contact times and the weight of the shoes' contact instants)."""
    from imu_hip.metrics.summary import summarize
    from imu_hip.pipeline import AnalysisResult

    try:
        feet = analyze_feet(shoes, source=source)
    except ImuHipError as e:  # a broken shoe stream must not stop the hip analysis
        summary = dict(result.summary)
        summary["shoes"] = {"error": str(e)}
        return AnalysisResult(result.steps, summary, result.alignment)
    steps, info = attach_shoes(result.steps, feet.strides)
    strides = feet.strides
    if len({str(x) for x in strides["side"]}) == 1 and np.isfinite(info["time_offset_s"]):
        strides = flight_from_steps(strides, steps, info["time_offset_s"])
        feet.summary.update(fm.summarize_strides(strides))
    keep = {k: v for k, v in result.summary.items() if k not in ("metrics", "unavailable")}
    summary = summarize(steps, unavailable=result.summary.get("unavailable"), info=keep)
    summary["shoes"] = {**feet.summary, "time_offset_s": info["time_offset_s"],
                        "sacral_steps_matched_pct": info["matched_pct"],
                        "hip_contact_correction_s": info["contact_correction_s"],
                        "shoe_contact_weight": info["shoe_weight"]}
    return AnalysisResult(steps, summary, result.alignment, strides=strides)


def flight_from_steps(strides: StrideTable, steps, offset_s: float) -> StrideTable:
    """One shoe with the sacrum: ``flight_time_s`` from this foot's toe-off to the next sacral
    initial contact (the other foot's; sacral times shifted into the shoe's clock by
    ``offset_s``, as estimated by :func:`attach_shoes`)."""
    if len(strides) == 0 or len(steps) == 0:
        return strides
    t_next = np.sort(np.asarray(steps["t_ic_s"], float) - offset_s)
    cols = dict(strides.columns)
    j = np.searchsorted(t_next, cols["t_ic_s"] + 0.02)  # not this foot's own contact
    ok = (j < t_next.size) & np.isfinite(cols["t_to_s"])
    nxt = np.where(ok, t_next[np.minimum(j, t_next.size - 1)], np.nan)
    ok &= nxt - cols["t_ic_s"] < 0.75 * cols["stride_time_s"]
    cols["flight_time_s"] = np.where(ok, nxt - cols["t_to_s"], np.nan)
    return StrideTable(cols)
