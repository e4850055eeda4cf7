"""Run summary: medians, IQR, left/right asymmetry, fatigue drift, run/walk time, reasons."""

import json

import numpy as np
import pytest

from imu_hip.metrics.summary import asymmetry_pct, drift_windows, format_summary, summarize
from imu_hip.pipeline import _jsonable
from imu_hip.steps import StepTable


def _table(n=200):
    t = np.arange(n) * 0.35
    side = np.where(np.arange(n) % 2 == 0, "left", "right")
    gait = np.where(np.arange(n) < 20, "walk", "run")
    contact = np.where(side == "left", 0.24, 0.26)  # right 8 % longer
    drop = np.linspace(4.0, 8.0, n)  # fatigue
    return StepTable(
        {
            "t_ic_s": t,
            "t_to_s": t + contact,
            "side": side,
            "gait": gait,
            "step_time_s": np.full(n, 0.35),
            "contact_time_s": contact,
            "pelvic_drop_deg": drop,
        }
    )


def test_asymmetry_and_drift():
    s = summarize(_table())
    ct = s["metrics"]["contact_time_s"]
    assert ct["left_median"] == 0.24 and ct["right_median"] == 0.26
    np.testing.assert_allclose(ct["asymmetry_pct"], 100 * (0.24 - 0.26) / 0.25)
    drop = s["metrics"]["pelvic_drop_deg"]
    assert drop["drift"] > 3.0 and drop["drift_start"] < 4.6 and drop["drift_end"] > 7.4
    assert drop["q25"] < drop["median"] < drop["q75"]
    assert s["steps_walking"] == 20 and s["steps_running"] == 180
    np.testing.assert_allclose(s["time_running_s"], 180 * 0.35)


def test_unmeasured_columns_get_a_reason_and_json_has_no_nan():
    s = summarize(_table(), unavailable={"pelvic_tilt_rom_deg": "no gyroscope"})
    assert s["unavailable"]["pelvic_tilt_rom_deg"] == "no gyroscope"
    assert "could not be measured" in s["unavailable"]["vgrf_peak_bw"]
    text = json.dumps(_jsonable(s), allow_nan=False)
    assert "pelvic_drop_deg" in text
    assert "not available: pelvic_tilt_rom_deg" in format_summary(s)


def test_drift_counts_time_in_steps_not_breaks():
    # 50 steps, a 10-minute break, 50 steps: the last 10 % are the last 10 steps.
    step = np.full(100, 0.3)
    step[49] = np.nan  # the last contact before the break has no step time
    first, last = drift_windows(step)
    assert list(np.flatnonzero(last)) == list(range(90, 100))
    assert list(np.flatnonzero(first)) == list(range(10))


def test_helpers_edge_cases():
    assert np.isnan(asymmetry_pct(np.nan, 1.0))
    assert np.isnan(asymmetry_pct(0.0, 0.0))
    first, last = drift_windows(np.full(100, 0.3))
    assert first.sum() == 10 and last.sum() == 10
    assert summarize(StepTable())["step_count"] == 0


def test_hostile_metadata_is_escaped_in_the_text_summary():
    s = summarize(
        _table(),
        info={
            "source": "x",
            "sensor_id": "evil\x1b[2J\nname",
            "placement": "sacrum",
            "rate_hz": 400.0,
            "duration_s": 70.0,
        },
    )
    text = format_summary(s)
    assert "\x1b" not in text and "evil\\x1b[2J\\nname" in text


def test_clock_rounds_into_the_next_minute():
    from imu_hip.metrics.summary import _clock

    assert _clock(599.96) == "10:00.0"
    assert _clock(61.04) == "1:01.0"


def test_metrics_describe_the_running_not_a_warm_up_walk():
    """A long warm-up walk (110 steps/min) before a run (170 steps/min): the medians and sides
    are the running's; a walk alone is summarised over its own steps."""
    walk_n, run_n = 300, 200
    step = np.concatenate((np.full(walk_n, 60 / 110), np.full(run_n, 60 / 170)))
    t = np.concatenate(([0.0], np.cumsum(step)[:-1]))
    gait = np.array(["walk"] * walk_n + ["run"] * run_n)
    side = np.where(np.arange(walk_n + run_n) % 2 == 0, "left", "right")
    cols = {"t_ic_s": t, "side": side, "gait": gait, "step_time_s": step,
            "cadence_spm": 60 / step}
    s = summarize(StepTable(cols))
    assert s["metrics_over"] == "running steps"
    assert s["metrics"]["cadence_spm"]["median"] == pytest.approx(170)
    assert s["metrics"]["cadence_spm"]["q25"] == pytest.approx(170)  # no walking in the IQR
    assert s["steps_walking"] == walk_n and s["steps_left"] == (walk_n + run_n) // 2
    assert "the 200 running steps" in format_summary(s)
    walk_only = summarize(StepTable({k: v[:walk_n] for k, v in cols.items()}))
    assert walk_only["metrics_over"] == "all steps"
    assert walk_only["metrics"]["cadence_spm"]["median"] == pytest.approx(110)
    # a few jogged steps (11, ~4 s) in a long walk do not make the session a run
    jog = {k: np.concatenate((v[:walk_n], v[walk_n:walk_n + 11])) for k, v in cols.items()}
    jog["t_ic_s"] = np.concatenate(([0.0], np.cumsum(jog["step_time_s"])[:-1]))
    walk_with_jog = summarize(StepTable(jog))
    assert walk_with_jog["metrics_over"] == "all steps"
    assert walk_with_jog["metrics"]["cadence_spm"]["median"] == pytest.approx(110)


def test_printed_summary_says_why_sides_and_walking_metrics_are_missing():
    walk = summarize(StepTable({"t_ic_s": np.arange(30) * 0.5, "gait": np.full(30, "walk"),
                                "step_time_s": np.full(30, 0.5)}))
    assert "running steps only" in walk["unavailable"]["contact_time_s"]
    run = summarize(StepTable({"t_ic_s": np.arange(30) * 0.35, "gait": np.full(30, "run"),
                               "step_time_s": np.full(30, 0.35)}))
    assert run["unavailable"]["contact_time_s"] == "could not be measured on any step"
    run["alignment"] = {"vertical_quality": 0.2, "forward_quality": 0.9}
    text = format_summary(run)
    assert "sides unknown" in text and "vertical uncertain (quality 0.2" in text


def test_a_step_without_its_step_time_counts_up_to_the_next_one():
    """Durations for running and load totals: a missing step time (a lost packet) is the time to
    the next step when that is within 1.5 typical steps of the same gait; a break is not."""
    from imu_hip.metrics.summary import step_durations

    t = np.array([0.0, 0.3, 0.6, 0.9, 5.0, 5.55, 6.1, 6.65])
    step = np.array([0.3, np.nan, 0.3, np.nan, 0.55, np.nan, 0.55, np.nan])
    gait = np.array(["run"] * 4 + ["walk"] * 4)
    d = step_durations(step, t, gait)
    np.testing.assert_allclose(d[:3], [0.3, 0.3, 0.3])
    assert np.isnan(d[3])  # 4.1 s to the next step: a break
    np.testing.assert_allclose(d[4:7], [0.55, 0.55, 0.55])  # (walking has its own typical step)
    assert np.isnan(d[7])  # the last step
