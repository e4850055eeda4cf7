"""A sacral sensor re-mounted mid-run (turned over, clipped on back to front) is found and the
analysis aligns it again from there; lying down for a while is not a re-mount."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation
from test_packet_loss import _cut, _same

from imu_hip.metrics.summary import format_summary
from imu_hip.model import G, SensorRecording
from imu_hip.pipeline import SacralStage, analyze, push_all
from imu_hip.sim import RunnerParams, simulate
from imu_hip.validation import match_events

CHANGE_S = 30.0


@cache
def _run(seconds: float = 60.0, stand_s: float = 6.0):
    params = RunnerParams(phases=(("stand", stand_s), ("run", seconds - stand_s)),
                          rate_hz=100.0)
    return simulate(params, seed=11, placements=("sacrum",))


def _turned(body_rotvec: list[float], start_s: float = CHANGE_S,
            end_s: float = np.inf) -> SensorRecording:
    """The simulated sensor turned on the body by ``body_rotvec`` (rad, body axes) from
    ``start_s`` to ``end_s``."""
    sim = _run()
    s = sim.recording.sensor("sacrum")
    mount = sim.mounting["sacrum"]  # body = mount @ sensor
    turn = Rotation.from_rotvec(body_rotvec).as_matrix()
    new_from_old = mount.T @ turn.T @ mount
    on = (s.t_s >= start_s) & (s.t_s < end_s)
    acc, gyr = s.acc_mps2.copy(), s.gyr_rads.copy()
    acc[on] = acc[on] @ new_from_old.T
    gyr[on] = gyr[on] @ new_from_old.T
    return SensorRecording("s", "sacrum", s.rate_hz, s.t_s, acc, gyr)


def _after(steps, t0: float):
    """Steps from ``t0`` on, matched to the true ones and to those of the sensor left alone:
    (estimate rows, truth rows, rows of the untouched analysis)."""
    truth = _run().truth
    clean = _clean()
    e = np.flatnonzero(steps["t_ic_s"] >= t0)
    t = np.flatnonzero(truth["t_ic_s"] >= t0)
    c = np.flatnonzero(clean["t_ic_s"] >= t0)
    i, j = match_events(steps["t_ic_s"][e], truth["t_ic_s"][t], 0.05)
    k, m = match_events(steps["t_ic_s"][e], clean["t_ic_s"][c], 0.005)
    assert k.size >= 0.95 * c.size
    return e[i], t[j], (e[k], c[m])


@cache
def _clean():
    return analyze(_run().recording.sensor("sacrum")).steps


@pytest.mark.parametrize(("turn", "words"), [([np.pi, 0.0, 0.0], "along the vertical axis"),
                                             ([0.0, 0.0, np.pi], "forward reversed"),
                                             ([0.0, np.radians(60), 0.0],
                                              "along the vertical axis")])
def test_a_sensor_re_mounted_mid_run_is_aligned_again(turn, words):
    """Turned over, back to front (about the vertical, which gravity cannot show) or tipped
    by 60 deg: the re-mount is reported near when it happened, and the steps after it are
    found with the right side, braking and pelvic drop. Before, the analysis kept the first
    alignment: no step at all after turning over, every side swapped back to front."""
    res = analyze(_turned(turn))
    remounts = res.summary["remounts"]
    assert len(remounts) == 1 and words in remounts[0]["change"]
    # cut where the first window showing the change began: no step after it keeps the old one
    assert CHANGE_S - 1.5 <= remounts[0]["t_s"] <= CHANGE_S
    assert abs(remounts[0]["turn_deg"] - np.degrees(np.linalg.norm(turn))) < 10.0
    assert "sensor re-mounted at 0:" in format_summary(res.summary)
    est, true, (mine, clean) = _after(res.steps, CHANGE_S)
    truth = _run().truth
    assert est.size >= 0.95 * (truth["t_ic_s"] >= CHANGE_S).sum() > 30
    assert np.mean(res.steps["side"][est] == truth["side"][true]) > 0.95
    # the forward and lateral metrics as true (the untouched analysis: braking +0.07 g,
    # drop +0.03 deg), the vertical ones as measured on the sensor left alone
    for col, tol in (("braking_peak_g", 0.1), ("pelvic_drop_deg", 0.5)):
        err = np.nanmedian(res.steps[col][est]) - np.nanmedian(truth[col][true])
        assert abs(err) < tol, (col, err)
    for col, tol in (("contact_time_s", 0.003), ("vgrf_peak_bw", 0.03)):
        err = np.nanmedian(res.steps[col][mine]) - np.nanmedian(_clean()[col][clean])
        assert abs(err) < tol, (col, err)


def test_without_a_change_nothing_is_re_mounted():
    res = analyze(_run().recording.sensor("sacrum"))
    assert res.summary["remounts"] == []
    assert "re-mounted" not in format_summary(res.summary)


def test_turned_round_and_back_keeps_the_old_mounting():
    """Back to front for 4.5 s only: the three reversed windows cut the segment, but the data
    aligned again from there is mostly the old mounting, so the old alignment (and its
    standing neutral) is kept, nothing is reported, and the steps after it are as before. A
    change that stays is reported (and the turn back too, as a second re-mount)."""
    brief = analyze(_turned([0.0, 0.0, np.pi], CHANGE_S, CHANGE_S + 4.5))
    clean = analyze(_run().recording.sensor("sacrum"))
    assert brief.summary["remounts"] == []
    a, b = brief.summary["alignment"], clean.summary["alignment"]
    assert a["method"] == b["method"]
    np.testing.assert_array_equal(a["rotation_sensor_to_body"], b["rotation_sensor_to_body"])
    assert brief.summary["pelvis_neutral"] == "standing"
    est, _, (mine, before) = _after(brief.steps, CHANGE_S + 10.0)
    assert list(brief.steps["side"][mine]) == list(_clean()["side"][before])
    np.testing.assert_allclose(brief.steps["pelvic_drop_deg"][mine],
                               _clean()["pelvic_drop_deg"][before], atol=0.3)
    longer = analyze(_turned([0.0, 0.0, np.pi], CHANGE_S, CHANGE_S + 12.0))
    assert [round(r["turn_deg"] / 10) for r in longer.summary["remounts"]] == [18, 18]


def test_turned_over_and_back_keeps_the_old_mounting_and_says_so():
    """Upside down for 4.5 s only: the data after the cut holds both mountings, so gravity has
    no one direction there; the old alignment is kept, the entry says why, and the steps after
    the turn back are as before."""
    res = analyze(_turned([np.pi, 0.0, 0.0], CHANGE_S, CHANGE_S + 4.5))
    remounts = res.summary["remounts"]
    assert remounts and remounts[0]["t_s"] == pytest.approx(CHANGE_S, abs=1.5)
    assert all("no one direction in it: turned back?): previous alignment kept" in r["change"]
               for r in remounts)
    assert res.summary["pelvis_neutral"] == "standing"  # the start's, as before the cut
    _, _, (mine, before) = _after(res.steps, CHANGE_S + 10.0)
    assert list(res.steps["side"][mine]) == list(_clean()["side"][before])
    np.testing.assert_allclose(res.steps["pelvic_drop_deg"][mine],
                               _clean()["pelvic_drop_deg"][before], atol=0.05)


@pytest.mark.parametrize("lie_s", [10.0, 30.0])
def test_lying_down_for_a_while_is_not_a_re_mount(lie_s):
    """Lying on the back (the sensor's vertical axis horizontal), mid-run for 10 s or to the
    end of the recording: a posture, not a new mounting, so nothing is reported, the standing
    neutral of the start stays, and the running after it is measured as before. (Only running
    windows are checked; a posture without steps once replaced the alignment.)"""
    sim = _run()
    s = sim.recording.sensor("sacrum")
    mount = sim.mounting["sacrum"]
    lying = (s.t_s >= CHANGE_S) & (s.t_s < CHANGE_S + lie_s)
    acc, gyr = s.acc_mps2.copy(), s.gyr_rads.copy()
    body_g = np.array([-1.0, 0.0, 0.0]) * G  # lying on the back: gravity along -x (body)
    rng = np.random.default_rng(0)
    acc[lying] = mount.T @ body_g + rng.normal(0.0, 0.05, (lying.sum(), 3))
    gyr[lying] = rng.normal(0.0, 0.005, (lying.sum(), 3))
    res = analyze(SensorRecording("s", "sacrum", s.rate_hz, s.t_s, acc, gyr))
    assert res.summary["remounts"] == []
    assert res.summary["pelvis_neutral"] == "standing"
    if CHANGE_S + lie_s >= s.t_s[-1] - 15.0:
        return
    truth = _run().truth
    est, true, _ = _after(res.steps, CHANGE_S + 15.0)
    assert est.size >= 0.95 * (truth["t_ic_s"] >= CHANGE_S + 15.0).sum()
    err = np.nanmedian(res.steps["pelvic_drop_deg"][est]) - np.nanmedian(
        truth["pelvic_drop_deg"][true])
    assert abs(err) < 0.5


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.integers(min_value=1, max_value=900), min_size=1, max_size=5))
def test_a_re_mount_gives_the_same_steps_whatever_the_cut(sizes):
    sensor = _turned([np.pi, 0.0, 0.0])

    def run(sz):
        stage = SacralStage(sensor.rate_hz, True, frame_s=2.0, align_window_s=4.0)
        return push_all(stage, _cut(sensor, sz)), stage

    whole, s_whole = run([len(sensor)])
    split, s_split = run(sizes)
    assert len(s_whole.remounts_) == 1 and s_split.remounts_ == s_whole.remounts_
    assert len(whole) > 100
    _same(whole, split)
