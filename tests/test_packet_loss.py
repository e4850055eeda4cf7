"""Sporadic BLE packet loss: short holes are filled and flagged, the analysis runs on through
them, a step or shoe stride next to a filled hole is reported without the metrics the hole could
change (a stride whose mid-stances or landing it touches is dropped), long holes still split the
stream.

``python tests/test_packet_loss.py`` prints the steps found against the loss rate, with the
fill (now) and without it (every hole ends the segment, as before).
"""

from __future__ import annotations

import asyncio
import math
import re
from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imu_hip.dsp.resample import MAX_FILL_S, Resampler
from imu_hip.foot_pipeline import HOLE_MARGIN_S as FOOT_MARGIN_S
from imu_hip.foot_pipeline import FootStage
from imu_hip.model import Block, SensorRecording
from imu_hip.pipeline import HOLE_MARGIN_S, SacralStage, analyze, push_all
from imu_hip.sim import RunnerParams, simulate
from imu_hip.steps import StepTable
from imu_hip.strides import StrideTable
from imu_hip.validation import compare_steps, match_events

PACKET = 19  # samples per notification of the imu-hip protocol
LONG_HOLE = (40.0, 2.0)  # (start, duration) s of a link loss
COMPARED = ("contact_time_s", "step_time_s", "impact_peak_g", "vertical_oscillation_m",
            "pelvic_tilt_rom_deg", "pelvic_obliquity_rom_deg", "pelvic_rotation_rom_deg",
            "pelvic_drop_deg")


@cache
def _sim(placements: tuple[str, ...] = ("sacrum",)):
    params = RunnerParams(phases=(("stand", 8.0), ("run", 62.0)), rate_hz=400.0,
                          gaps=(LONG_HOLE,))
    return simulate(params, seed=5, placements=placements)


def drop_packets(sensor: SensorRecording, prob: float, seed: int) -> tuple[SensorRecording,
                                                                        np.ndarray]:
    """The stream cut into packets of :data:`PACKET` samples, each lost with ``prob``; returns
    the thinned stream and the (start, end) host times of every hole (exclusive bounds: the
    last sample kept before it, the first after it)."""
    n = len(sensor)
    lost = np.random.default_rng(seed).random(n // PACKET + 1) < prob
    keep = ~np.repeat(lost, PACKET)[:n]
    out = SensorRecording(sensor.sensor_id, sensor.placement, sensor.rate_hz,
                          sensor.t_s[keep], sensor.acc_mps2[keep],
                          None if sensor.gyr_rads is None else sensor.gyr_rads[keep])
    return out, holes_of(out)


def holes_of(sensor: SensorRecording) -> np.ndarray:
    """(k, 2) host times around every hole longer than 1.5 sample periods."""
    t = sensor.t_s
    i = np.flatnonzero(np.diff(t) > 1.5 / sensor.rate_hz)
    return np.column_stack((t[i], t[i + 1]))


def sacral_steps(sensor: SensorRecording, max_fill_s: float = MAX_FILL_S,
                 frame_s: float = 300.0) -> tuple[StepTable, SacralStage]:
    stage = SacralStage(sensor.rate_hz, sensor.has_gyro, frame_s=frame_s)
    stage._resampler = Resampler(sensor.rate_hz, max_fill_s=max_fill_s)
    return push_all(stage, sensor.blocks(4096)), stage


def _overlaps(t0: np.ndarray, t1: np.ndarray, holes: np.ndarray) -> np.ndarray:
    """Whether each interval [t0, t1] overlaps a hole (open interval between its bounds)."""
    if not len(holes):
        return np.zeros(t0.shape, bool)
    return ((t0[:, None] < holes[None, :, 1]) & (t1[:, None] > holes[None, :, 0])).any(axis=1)


def _step_end(steps) -> np.ndarray:
    t_end = steps["t_ic_s"] + steps["step_time_s"]
    return np.where(np.isfinite(t_end), t_end, steps["t_ic_s"])


@cache
def _reference():
    sensor = _sim().recording.sensor("sacrum")
    steps, _ = sacral_steps(sensor)
    return sensor, steps


@pytest.mark.parametrize("prob", [0.01, 0.03, 0.05])
def test_steps_survive_packet_loss(prob):
    """Every step is still reported; a metric is given only where no hole lies in what it
    reads, and then it agrees with the analysis without loss."""
    sensor, ref = _reference()
    lossy, holes = drop_packets(sensor, prob, seed=round(prob * 1000))
    steps, stage = sacral_steps(lossy)
    assert stage.holes_filled_ > 0 and stage.gaps_ == 1  # only the 2 s link loss splits
    # every step of the analysis without loss is still there, next to holes too
    assert abs(len(steps) - len(ref)) <= 1
    # (a contact whose rise is in a hole is placed up to the hole's length off: 0.2 s at most)
    i, j = match_events(steps["t_ic_s"], ref["t_ic_s"], MAX_FILL_S)
    assert i.size >= len(ref) - 1
    assert stage.steps_near_holes_ > 0.05 * len(steps)
    # no metric rests on a hole: the events it is built from are clear of holes by the margin
    # (measured to the filled samples: a sample period inside the bounds)
    m = HOLE_MARGIN_S
    filled = holes + np.array([1.0, -1.0]) / sensor.rate_hz
    t_ic, t_to = steps["t_ic_s"], steps["t_to_s"]
    t_next = t_ic + steps["step_time_s"]
    ok = np.isfinite(steps["step_time_s"])
    assert not _overlaps(t_ic[ok] - m, t_ic[ok] + m, filled).any()
    assert not _overlaps(t_next[ok] - m, t_next[ok] + m, filled).any()
    ok = np.isfinite(steps["contact_time_s"])
    assert not _overlaps(t_ic[ok] - m, t_to[ok] + m, filled).any()
    ok = np.isfinite(steps["vertical_oscillation_m"]) & np.isfinite(t_next)
    assert not _overlaps(t_ic[ok] - m, t_next[ok] + m, filled).any()
    # a metric is given wherever what it reads is clear of holes (no-loss times, a sample
    # more margin: the holes' bounds are the samples kept around them)
    pad = m + 2.0 / sensor.rate_hz
    r_ic, r_to = ref["t_ic_s"][j], ref["t_to_s"][j]
    r_next = r_ic + ref["step_time_s"][j]
    wanted = {
        "step_time_s": ~_overlaps(r_ic - pad, r_ic + pad, holes)
        & ~_overlaps(r_next - pad, r_next + pad, holes),
        "contact_time_s": ~_overlaps(r_ic - pad, r_to + pad, holes),
        "vertical_oscillation_m": ~_overlaps(r_ic - pad, r_next + pad, holes),
    }
    for col, clear in wanted.items():
        clear &= np.isfinite(ref[col][j])
        assert clear.sum() > 0.3 * len(ref), col
        assert np.isfinite(steps[col][i][clear]).all(), col
    # what is given agrees with the analysis without loss
    for col, tol in (("t_ic_s", 0.002), ("contact_time_s", 0.002), ("step_time_s", 0.002),
                     ("flight_time_s", 0.002), ("impact_peak_g", 0.01),
                     ("vgrf_peak_bw", 0.01), ("vertical_oscillation_m", 0.001),
                     ("pelvic_tilt_rom_deg", 0.2), ("pelvic_obliquity_rom_deg", 0.2),
                     ("pelvic_rotation_rom_deg", 0.2), ("pelvic_drop_deg", 0.3)):
        a, b = steps[col][i], ref[col][j]
        if col == "t_ic_s":  # always given; accurate where a time built on it is
            a = np.where(np.isfinite(steps["step_time_s"][i])
                         | np.isfinite(steps["contact_time_s"][i]), a, np.nan)
        both = np.isfinite(a) & np.isfinite(b)
        assert both.sum() > 0.3 * len(ref), col
        err = np.abs(a[both] - b[both])
        # (the pelvis angles integrate the filled angular rate: a small lasting difference)
        assert np.percentile(err, 95) <= tol, (col, np.percentile(err, 95))
    # at 1 % loss, most steps keep every timing metric
    if prob == 0.01:
        assert np.isfinite(steps["step_time_s"]).mean() > 0.8


def test_which_metrics_a_hole_withholds():
    """One step at 400 Hz (contact at sample 1000, toe-off 1100, next contact 1140), a hole
    placed in each phase: only what reads the hole is withheld. A hole in the flight as long
    as the shortest contact could hide one, so the step and flight times are withheld too."""
    from imu_hip.pipeline import _NearHoles

    fs, m = 400.0, int(np.ceil(HOLE_MARGIN_S * 400.0))
    ic, to, nxt = np.array([1000.0]), np.array([1100.0]), np.array([1140.0])

    def near(first: int, n: int) -> dict[str, bool]:
        h = _NearHoles(np.arange(first, first + n), m, fs, ic, to, nxt, nxt)
        return {k: bool(getattr(h, k)[0])
                for k in ("ic", "to", "step", "contact", "flight", "span")}

    # a short hole well before the contact: nothing of this step
    assert not any(near(800, 19).values())
    # in the rise: the contact and everything timed from it
    assert near(1010, 19) == dict(ic=True, to=False, step=True, contact=True, flight=False,
                                  span=True)
    # mid-stance, clear of both events: only the stance and whole-step metrics
    assert near(1040, 10) == dict(ic=False, to=False, step=False, contact=True, flight=False,
                                  span=True)
    # a long hole in mid-stance cannot hide a contact: the step time stays
    assert near(1032, 36) == dict(ic=False, to=False, step=False, contact=True, flight=False,
                                  span=True)
    # a long hole in the flight could
    far = _NearHoles(np.arange(1300, 1340), m, fs, np.array([1000.0]), np.array([1100.0]),
                     np.array([1500.0]), np.array([1500.0]))
    assert far.step[0] and far.flight[0] and not far.ic[0] and not far.to[0]
    # a short one there cannot
    far = _NearHoles(np.arange(1300, 1310), m, fs, np.array([1000.0]), np.array([1100.0]),
                     np.array([1500.0]), np.array([1500.0]))
    assert not far.step[0] and not far.flight[0] and far.span[0]
    # a step without a toe-off or a next contact: only its contact is checked
    h = _NearHoles(np.arange(1200, 1219), m, fs, ic, np.array([np.nan]), np.array([np.nan]),
                   ic)
    assert not h.ic[0] and not h.to[0] and not h.span[0]


def test_the_report_says_what_packet_loss_cost():
    from imu_hip.report import collect_run, run_report_html

    sensor, _ = _reference()
    page = run_report_html(collect_run(analyze(drop_packets(sensor, 0.03, seed=30)[0])))
    assert re.search(r"\d+ short holes \(lost packets\) filled; \d+ steps next to them "
                     r"reported without the metrics a hole could change\.", page)
    assert "short holes" not in run_report_html(collect_run(analyze(sensor)))


def test_running_time_and_step_count_survive_packet_loss():
    """The summary's step count and running time (the load totals of the history) read the
    same with 3 % of packets lost as without loss: a step without its step time still counts
    up to the next one."""
    sensor, _ = _reference()
    clean = analyze(sensor).summary
    lossy = analyze(drop_packets(sensor, 0.03, seed=30)[0]).summary
    assert lossy["steps_near_packet_loss"] > 20
    assert abs(lossy["step_count"] - clean["step_count"]) <= 1
    assert lossy["time_running_s"] == pytest.approx(clean["time_running_s"], rel=0.01)


def test_the_long_hole_still_splits():
    sensor, _ = _reference()
    lossy, holes = drop_packets(sensor, 0.03, seed=7)
    steps, stage = sacral_steps(lossy)
    start, dur = LONG_HOLE
    assert stage.gaps_ == 1
    t_end = _step_end(steps)
    assert not ((steps["t_ic_s"] < start + dur) & (t_end > start)).any()
    # steps on both sides of it
    assert (steps["t_ic_s"] < start).sum() > 20 and (steps["t_ic_s"] > start + dur).sum() > 20


def test_without_filling_short_holes_end_the_segment():
    """The old behaviour, kept behind ``max_fill_s=0``: the same loss leaves few steps."""
    sensor, ref = _reference()
    lossy, _ = drop_packets(sensor, 0.03, seed=30)
    old, old_stage = sacral_steps(lossy, max_fill_s=0.0)
    new, _ = sacral_steps(lossy)
    assert old_stage.gaps_ > 20
    assert len(new) > len(old)


def test_filled_samples_are_flagged_whatever_the_cut():
    rate = 400.0
    t = np.arange(2000) / rate
    keep = np.ones(t.size, bool)
    keep[100:119] = False  # one packet: filled
    keep[500:600] = False  # 0.25 s: a gap
    t = t[keep]
    acc = np.column_stack((t, -t, np.ones_like(t)))

    def run(sizes):
        r = Resampler(rate)
        chunks, i, k = [], 0, 0
        while i < t.size:
            j = min(t.size, i + sizes[k % len(sizes)])
            chunks += r.push(Block("s", "sacrum", rate, t[i:j], acc[i:j]))
            i, k = j, k + 1
        return r, chunks

    r, chunks = run([t.size])
    assert r.gaps == 1 and r.holes_filled == 1
    flagged = np.concatenate([c.first_k + np.flatnonzero(c.filled) for c in chunks
                              if c.filled is not None and c.segment == 0])
    np.testing.assert_array_equal(flagged, np.arange(100, 119))
    seg0 = np.concatenate([c.acc_mps2[:, 0] for c in chunks if c.segment == 0])
    np.testing.assert_allclose(seg0, np.arange(seg0.size) / rate, atol=1e-12)  # linear fill
    for sizes in ([1], [7, 3], [19, 101]):
        r2, chunks2 = run(sizes)
        assert (r2.gaps, r2.holes_filled, r2.filled_samples) == (1, 1, 19)


def test_a_flagged_short_hole_is_filled_and_marked():
    """A block marked ``gap_before`` (the link layer counted lost packets) is filled when its
    hole is short, even when the host times leave no gap (the times can be re-estimated)."""
    rate = 400.0
    t = np.arange(400) / rate
    acc = np.zeros((t.size, 3))
    r = Resampler(rate)
    r.push(Block("s", "sacrum", rate, t[:200], acc[:200]))
    (chunk,) = r.push(Block("s", "sacrum", rate, t[200:], acc[200:], gap_before=True))
    assert chunk.segment == 0 and chunk.filled is not None and chunk.filled.sum() == 1
    assert r.gaps == 0 and r.holes_filled == 1


@cache
def _short_lossy(placement: str) -> SensorRecording:
    params = RunnerParams(phases=(("stand", 5.0), ("walk", 6.0), ("run", 19.0)), rate_hz=200.0,
                          clock_jitter_s=0.0005, gaps=((20.0, 0.6),))
    sensor = simulate(params, seed=8, placements=(placement,)).recording.sensors[0]
    return drop_packets(sensor, 0.04, seed=2)[0]


def _cut(sensor: SensorRecording, sizes: list[int]) -> list[Block]:
    blocks, i, k = [], 0, 0
    while i < len(sensor):
        j = min(len(sensor), i + sizes[k % len(sizes)])
        blocks.append(sensor.block(i, j))
        i, k = j, k + 1
    return blocks


def _same(a, b) -> None:
    assert len(a) == len(b)
    for name, col in a.columns.items():
        if col.dtype.kind in "US":
            assert list(col) == list(b[name]), name
        else:  # pelvis angles: chunked rotation products round in the last bits
            np.testing.assert_allclose(col, b[name], rtol=1e-9, atol=1e-9, err_msg=name)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=6))
def test_filled_holes_keep_any_cut_identical(sizes):
    sacrum = _short_lossy("sacrum")

    def sacral(sz):
        stage = SacralStage(sacrum.rate_hz, True, frame_s=5.0, align_window_s=4.0)
        return push_all(stage, _cut(sacrum, sz)), stage

    whole, s_whole = sacral([len(sacrum)])
    split, s_split = sacral(sizes)
    assert len(whole) > 20 and s_whole.holes_filled_ > 5
    assert s_whole.steps_near_holes_ == s_split.steps_near_holes_ > 0
    _same(whole, split)
    foot = _short_lossy("left_foot")

    def strides(sz):
        stage = FootStage(foot.rate_hz, foot.placement, frame_s=4.0, margin_s=4.0)
        parts = [stage.push(b) for b in _cut(foot, sz)]
        parts.append(stage.finish())
        return StrideTable.concat(parts), stage

    (fw, f_whole), (fs, f_split) = strides([len(foot)]), strides(sizes)
    assert len(fw) > 10 and f_whole.strides_dropped_ == f_split.strides_dropped_ > 0
    assert f_whole.strides_near_holes_ == f_split.strides_near_holes_
    _same(fw, fs)


def _stride_end(strides) -> np.ndarray:
    """The end of what a stride rests on: the toe-off after it when given, else mid-stance."""
    t_to = strides["t_to_s"]
    return np.where(np.isfinite(t_to), np.maximum(t_to, strides["t_end_s"]),
                    strides["t_end_s"])


def _foot_strides(sensor: SensorRecording, max_fill_s: float = MAX_FILL_S
                  ) -> tuple[StrideTable, FootStage]:
    stage = FootStage(sensor.rate_hz, sensor.placement, frame_s=300.0)
    stage._resampler = Resampler(sensor.rate_hz, max_fill_s=max_fill_s)
    parts = [stage.push(b) for b in sensor.blocks(4096)]
    parts.append(stage.finish())
    return StrideTable.concat(parts), stage


@pytest.mark.parametrize("prob", [0.01, 0.03, 0.05])
def test_shoe_strides_survive_packet_loss(prob):
    """A stride with a hole only in its early swing is still reported, without what reads the
    whole stride (length, speed, swing time); what is given agrees with the analysis without
    loss and rests on no hole."""
    foot = _sim(("left_foot",)).recording.sensor("left_foot")
    ref, _ = _foot_strides(foot)
    lossy, holes = drop_packets(foot, prob, seed=round(prob * 1000) + 2)
    strides, stage = _foot_strides(lossy)
    assert stage.holes_filled_ > 0 and stage.strides_dropped_ > 0
    m = FOOT_MARGIN_S
    filled = holes + np.array([1.0, -1.0]) / foot.rate_hz
    t0, t1, t_ic = strides["t_start_s"], strides["t_end_s"], strides["t_ic_s"]
    # mid-stances and the contact are always clear of holes; the rest only where given
    assert not _overlaps(t0 - m, t0 + m, filled).any()
    assert not _overlaps(t_ic - m, _stride_end(strides) + m, filled).any()
    whole = np.isfinite(strides["stride_length_m"])
    assert not _overlaps(t0[whole] - m, t1[whole] + m, filled).any()
    assert (~whole).sum() == stage.strides_near_holes_
    # every stride clear of holes from the contact before it to the toe-off after it (the
    # stances around its mid-stances) is reported whole
    pad = m + 2.0 / foot.rate_hz
    prev_ic = np.append(np.nan, ref["t_ic_s"][:-1])
    follows = np.append(False, np.isclose(ref["t_start_s"][1:], ref["t_end_s"][:-1]))
    clear = follows & np.isfinite(ref["t_to_s"]) & ~_overlaps(prev_ic - pad,
                                                               ref["t_to_s"] + pad, holes)
    i, j = match_events(strides["t_end_s"], ref["t_end_s"], 0.01)
    assert np.isin(np.flatnonzero(clear), j).all()
    assert np.isfinite(strides["stride_length_m"][i][clear[j]]).all()
    assert clear.sum() > 0.3 * len(ref)
    # what is given agrees with the analysis without loss
    for col in ("t_start_s", "t_end_s", "t_ic_s", "t_to_s", "stride_time_s", "contact_time_s",
                "swing_time_s",
                "stride_length_m", "speed_mps", "foot_strike_angle_deg",
                "pronation_excursion_deg", "pronation_velocity_dps", "impact_peak_g"):
        a, b = strides[col][i], ref[col][j]
        both = np.isfinite(a) & np.isfinite(b)
        assert both.sum() >= 0.3 * len(ref), col
        # (the foot frame comes from the strides without holes: the angles move a little)
        tol = {"foot_strike_angle_deg": 0.05, "pronation_excursion_deg": 0.05,
               "pronation_velocity_dps": 0.2}.get(col, 1e-4)
        assert np.abs(a[both] - b[both]).max() <= tol, col


def test_a_packet_lost_while_standing_at_a_stop_keeps_the_strides_around_it():
    """A 3 s stop between two runs: a packet lost in its middle is further than half a stride
    from both swings, where the mid-stances next to standing are searched, so the last stride
    before the stop and the first after it stay (the slow strides of a stop, which the
    distance would otherwise fill at cruising length)."""
    params = RunnerParams(phases=(("stand", 6.0), ("run", 15.0), ("stand", 3.0),
                                  ("run", 15.0)), rate_hz=400.0)
    foot = simulate(params, seed=5, placements=("left_foot",)).recording.sensor("left_foot")
    ref, _ = _foot_strides(foot)
    gap = np.flatnonzero(ref["t_start_s"][1:] - ref["t_end_s"][:-1] > 2.0)
    assert gap.size == 1
    stop_start, stop_end = ref["t_end_s"][gap[0]], ref["t_start_s"][gap[0] + 1]
    strides, stage = _foot_strides(_one_hole(foot, 0.5 * (stop_start + stop_end) - 0.02))
    assert stage.holes_filled_ == 1 and stage.strides_dropped_ == 0
    _same(strides, ref)


def test_strides_without_a_clean_foot_frame_are_counted_as_dropped():
    """Heavy loss over a slow walk: the strides clear of holes are too few to give the foot
    frame, so none is reported; every one is counted as dropped (with its span), none lost."""
    params = RunnerParams(phases=(("stand", 6.0), ("walk", 40.0)), rate_hz=400.0,
                          foot_strike="rear")
    foot = simulate(params, seed=5, placements=("left_foot",)).recording.sensor("left_foot")
    ref, _ = _foot_strides(foot)
    strides, stage = _foot_strides(drop_packets(foot, 0.1, seed=303)[0])
    assert len(strides) + stage.strides_dropped_ == len(ref)
    assert len(stage.strides_dropped_spans_) == stage.strides_dropped_


def _distance(strides, spans=None) -> float:
    from imu_hip.metrics.foot import cumulative_distance_m

    return float(cumulative_distance_m(strides["t_start_s"], strides["t_end_s"],
                                       strides["stride_length_m"], spans)[1][-1])


@pytest.mark.parametrize("prob", [0.01, 0.03, 0.05])
def test_distance_survives_packet_loss(prob):
    """The distance of a run (the weekly-mileage rule of the history reads it) counts strides
    without a length, and the strides dropped at a hole, at the speed around them."""
    foot = _sim(("left_foot",)).recording.sensor("left_foot")
    ref, ref_stage = _foot_strides(foot)
    assert ref_stage.strides_dropped_spans_ == []
    lossy, stage = _foot_strides(drop_packets(foot, prob, seed=round(prob * 1000) + 2)[0])
    spans = np.array(stage.strides_dropped_spans_)
    assert len(spans) == stage.strides_dropped_
    assert np.sum(spans[:, 1] - spans[:, 0]) == pytest.approx(stage.strides_dropped_s_)
    # the dropped spans and the strides reported do not overlap, and no reference stride lies
    # in neither (a stride a hole kept from forming is counted too)
    t0, t1 = lossy["t_start_s"], lossy["t_end_s"]
    assert not _overlaps(t0 + 1e-6, t1 - 1e-6, spans).any()
    starts, ends = np.r_[t0, spans[:, 0]], np.r_[t1, spans[:, 1]]
    covered = [np.any((starts <= t + 1e-3) & (ends >= t - 1e-3))
               for t in 0.5 * (ref["t_start_s"] + ref["t_end_s"])]
    assert np.mean(covered) >= 0.98
    assert float(np.nansum(lossy["stride_length_m"])) < 0.95 * _distance(ref)  # lengths alone
    # (this seed loses most strides of the standing start: its fast acceleration read from
    # the measured strides around it, linearly in time, is the 4 % the tolerance allows)
    assert _distance(lossy, spans) == pytest.approx(_distance(ref), rel=0.05)


def test_distance_counts_what_is_missing_from_the_strides_around_it():
    from imu_hip.metrics.foot import cumulative_distance_m

    t0 = np.arange(6) * 0.7
    length = np.array([2.1, np.nan, 2.1, 2.8, 2.8, np.nan])  # 3 m/s, then 4 m/s
    t, d = cumulative_distance_m(t0, t0 + 0.7, length)
    np.testing.assert_allclose(d, np.cumsum([2.1, 2.1, 2.1, 2.8, 2.8, 2.8]))
    # two strides dropped between the 2.8 m ones (one span each): 2.8 m each. Ignored: a bad
    # span, one given twice, one overlapping a stride reported, one of several seconds
    shift = np.r_[0, 0, 0, 0, 1.4, 1.4]
    spans = np.array([[2.8, 3.5], [3.5, 4.2], [9.0, np.nan], [2.8, 3.5], [2.0, 2.5],
                      [20.0, 30.0]])
    t2, d2 = cumulative_distance_m(t0 + shift, t0 + 0.7 + shift, length, spans[::-1])
    assert t2.size == 8 and np.all(np.diff(t2) >= 0)
    assert d2[-1] == pytest.approx(d[-1] + 5.6)
    # a stride that held a short pause is one stride length, not speed x time
    t4, d4 = cumulative_distance_m(t0, t0 + 0.7, length, np.array([[4.2, 6.2]]))
    assert d4[-1] == pytest.approx(d[-1] + 2.8)
    # a NaN time is ignored, not poisoning the sum; nothing measured gives nothing
    t3, d3 = cumulative_distance_m(np.r_[t0, np.nan], np.r_[t0 + 0.7, 9.0], np.r_[length, 2.0])
    assert d3[-1] == pytest.approx(d[-1])
    assert cumulative_distance_m(t0, t0 + 0.7, np.full(6, np.nan))[1].size == 0


def test_report_distance_reads_the_dropped_strides_from_the_summary():
    """End to end: the shoe analysis stores the spans of the dropped strides per sensor and
    the report's (and so the history's) distance adds them; hostile entries are ignored."""
    from imu_hip.foot_pipeline import analyze_feet
    from imu_hip.report import collect_run

    foot = _sim(("left_foot",)).recording.sensor("left_foot")
    clean = collect_run(analyze_feet([foot])).distance_m
    result = analyze_feet([drop_packets(foot, 0.03, seed=32)[0]])
    lossy = collect_run(result)
    spans = [i["strides_dropped_spans_s"] for i in lossy.sensor_infos()]
    assert spans and len(spans[0]) > 3
    assert clean and lossy.distance_m == pytest.approx(clean, rel=0.05)
    t, d = lossy.cumulative_distance()
    assert d[-1] == pytest.approx(lossy.distance_m) and np.all(np.diff(d) > 0)
    from imu_hip.report import run_report_html

    page = run_report_html(lossy)
    assert re.search(r"\d+ short holes \(lost packets\) filled; \d+ strides dropped", page)
    for info in lossy.sensor_infos():
        info["strides_dropped_spans_s"] += [[0, 1e9], ["a", 1], True, [np.nan, 1.0], [5, 4]]
    result.summary["sensors"] = lossy.sensor_infos()
    assert collect_run(result).distance_m == pytest.approx(lossy.distance_m)


def _one_hole(sensor: SensorRecording, t_s: float, n: int = PACKET) -> SensorRecording:
    """``sensor`` with ``n`` samples lost from the first at or after ``t_s``."""
    i = int(np.searchsorted(sensor.t_s, t_s))
    keep = np.ones(len(sensor), bool)
    keep[i:i + n] = False
    return SensorRecording(sensor.sensor_id, sensor.placement, sensor.rate_hz,
                           sensor.t_s[keep], sensor.acc_mps2[keep], sensor.gyr_rads[keep])


def test_where_a_hole_in_a_stride_lies_decides_what_is_kept():
    """One packet lost in the early swing: the stride stays, without length, speed and swing
    time; in the late swing before the landing, or at a mid-stance: the stride is dropped."""
    foot = _sim(("left_foot",)).recording.sensor("left_foot")
    ref, _ = _foot_strides(foot)
    k = len(ref) // 2
    t_to, t_ic, t_end = ref["t_to_s"][k - 1], ref["t_ic_s"][k], ref["t_end_s"][k]
    assert t_to < t_ic - 0.25  # a running swing

    def row(t_hole: float):
        strides, stage = _foot_strides(_one_hole(foot, t_hole))
        i, j = match_events(strides["t_end_s"], ref["t_end_s"][k:k + 1], 0.01)
        return (strides.select(i) if i.size else None), stage

    early, stage = row(t_to + 0.04)  # 40 ms after the toe-off, 48 ms long
    assert early is not None and stage.strides_near_holes_ == 1 and stage.strides_dropped_ == 0
    for col in ("stride_length_m", "speed_mps", "swing_time_s"):
        assert np.isnan(early[col][0]), col
    for col in ("t_ic_s", "stride_time_s", "contact_time_s", "foot_strike_angle_deg",
                "impact_peak_g"):
        assert np.isfinite(early[col][0]), col
    late, stage = row(t_ic - 0.1)
    assert late is None and stage.strides_dropped_ >= 1
    mid, stage = row(t_end - 0.01)
    assert mid is None and stage.strides_dropped_ >= 1
    # in the stance after the mid-stance, outside its margin: it could still move it
    stance, stage = row(t_end + 0.04)
    assert stance is None and stage.strides_dropped_ >= 1
    # four packets over a whole stance: no stride may join the two around it
    strides, stage = _foot_strides(_one_hole(foot, t_end - 0.1, 4 * PACKET))
    spans = np.array(stage.strides_dropped_spans_)  # (the joined stride counts once)
    assert _overlaps(spans[:, 0], spans[:, 1], np.array([[t_end, t_end]])).any()
    assert not _overlaps(strides["t_start_s"], strides["t_end_s"], np.array([[t_end, t_end]])).any()
    assert strides["stride_time_s"].max() < 1.2 * np.median(ref["stride_time_s"])


def test_shoes_beside_a_lossy_sacrum_do_not_time_steps_from_withheld_contacts():
    """Steps next to a hole keep their row without a step time: the shoes' timing must not
    measure a step time across them (to a later step, or from a contact the hole moved)."""
    from imu_hip.model import Recording

    params = RunnerParams(phases=(("stand", 6.0), ("run", 34.0)), rate_hz=400.0)
    sim = simulate(params, seed=9, placements=("sacrum", "left_foot", "right_foot"))
    sacrum = drop_packets(sim.recording.sensor("sacrum"), 0.04, seed=9)[0]
    feet = [s for s in sim.recording.sensors if s.placement != "sacrum"]
    res = analyze(Recording([sacrum, *feet]))
    assert res.summary["steps_near_packet_loss"] > 5
    assert res.summary["shoes"]["sacral_steps_matched_pct"] > 80
    step = res.steps["step_time_s"]
    typical = np.nanmedian(step)
    assert np.nanmax(step) < 1.3 * typical
    assert np.isfinite(step).sum() > 0.5 * len(step)


def test_live_session_with_packet_loss_yields_steps():
    from imu_hip.ble.virtual import Faults, virtual_devices
    from imu_hip.session import DeviceSpec, Session

    def steps(faults):
        links = virtual_devices(("sacrum",), duration_s=40.0, speed=math.inf, seed=4,
                                faults=faults)
        session = Session([DeviceSpec(link, link.placement, "imu-hip") for link in links])
        asyncio.run(session.run())
        return session.steps(), links[0].stats

    clean, _ = steps({})
    lossy, stats = steps({"sacrum": Faults(drop_prob=0.02, corrupt_prob=0.01)})
    assert stats.dropped > 5
    assert len(clean) > 80 and abs(len(lossy) - len(clean)) <= 1  # every step, next to holes too


def _table() -> None:  # pragma: no cover - the measurement behind the report
    sensor, ref = _reference()
    truth = _sim().truth
    print(f"no loss: {len(ref)} steps ({len(truth['t_ic_s'])} true)")
    print("loss %  fill  steps  near holes  gaps  found % of true steps clear of holes (all)"
          "  step time / contact time / pelvic drop given %")
    for prob in (0.01, 0.02, 0.03, 0.05, 0.10):
        lossy, holes = drop_packets(sensor, prob, seed=round(prob * 1000))
        t_ic = truth["t_ic_s"]
        clear = ~_overlaps(t_ic - HOLE_MARGIN_S, t_ic + truth["step_time_s"] + HOLE_MARGIN_S,
                           holes) & (t_ic > 8.5)
        for fill in (0.0, MAX_FILL_S):
            steps, stage = sacral_steps(lossy, max_fill_s=fill)
            a = compare_steps(steps, {k: v[clear] for k, v in truth.items()}, ())
            b = compare_steps(steps, truth, ())
            given = [100.0 * np.mean(np.isfinite(steps[c])) if len(steps) else 0.0
                     for c in ("step_time_s", "contact_time_s", "pelvic_drop_deg")]
            print(f"{100 * prob:5.0f}  {fill:4.2f}  {len(steps):5d}  {stage.steps_near_holes_:10d}"
                  f"  {stage.gaps_:4d}  {a['found_pct']:5.1f} ({b['found_pct']:5.1f})"
                  f"  {given[0]:5.1f} / {given[1]:5.1f} / {given[2]:5.1f}")


def _shoe_table() -> None:  # pragma: no cover - the measurement behind the docs
    foot = _sim(("left_foot",)).recording.sensor("left_foot")
    ref, _ = _foot_strides(foot)
    total = float(np.sum(ref["stride_length_m"]))
    print(f"shoe, no loss: {len(ref)} strides, {total:.1f} m")
    print("loss %  strides  dropped  without length  with length  distance %  lengths alone %")
    for prob in (0.01, 0.03, 0.05, 0.10):
        strides, stage = _foot_strides(drop_packets(foot, prob, seed=round(prob * 1000))[0])
        d = _distance(strides, stage.strides_dropped_spans_)
        print(f"{100 * prob:5.0f}  {len(strides):7d}  {stage.strides_dropped_:7d}"
              f"  {stage.strides_near_holes_:14d}"
              f"  {int(np.isfinite(strides['stride_length_m']).sum()):11d}"
              f"  {100 * d / total:10.1f}"
              f"  {100 * np.nansum(strides['stride_length_m']) / total:13.1f}")


if __name__ == "__main__":  # pragma: no cover
    _table()
    _shoe_table()
    res = analyze(drop_packets(_reference()[0], 0.03, seed=30)[0])
    from imu_hip.metrics.summary import format_summary

    print("\n".join(format_summary(res.summary).splitlines()[2:4]))
