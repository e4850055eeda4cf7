import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from imu_hip.validation import compare_steps, error_stats, match_events


def test_match_is_one_to_one_and_within_tolerance():
    est = np.array([0.98, 1.02, 2.5, 3.01])
    ref = np.array([1.0, 2.0, 3.0])
    i_est, i_ref = match_events(est, ref, 0.1)
    assert list(i_ref) == [0, 2]
    assert list(i_est) == [0, 3]  # 0.98 and 1.02 are equally close: one wins, once


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(0, 100), min_size=1, max_size=40), st.floats(-0.04, 0.04))
def test_shifted_copy_matches_everything(times, shift):
    ref = np.unique(np.round(np.array(times), 1))
    est = ref + shift
    i_est, i_ref = match_events(est[::-1], ref, 0.045)
    assert i_ref.size == ref.size
    np.testing.assert_allclose(est[::-1][i_est] - ref[i_ref], shift, atol=1e-9)


def test_compare_steps_reports_errors_and_agreement():
    truth = {
        "t_ic_s": np.array([1.0, 2.0, 3.0]),
        "contact_time_s": np.array([0.2, 0.2, 0.2]),
        "side": np.array(["left", "right", "left"]),
    }
    steps = {
        "t_ic_s": np.array([1.01, 2.0, 5.0]),
        "contact_time_s": np.array([0.21, 0.19, 0.2]),
        "side": np.array(["left", "left", "unknown"]),
    }
    out = compare_steps(steps, truth, ("contact_time_s", "side"))
    assert out["matched"] == 2 and out["extra"] == 1
    assert abs(out["errors"]["contact_time_s"]["mae"] - 0.01) < 1e-12
    assert out["errors"]["side"]["agree_pct"] == 50.0
    assert np.isnan(error_stats(np.array([np.nan]))["mae"])
