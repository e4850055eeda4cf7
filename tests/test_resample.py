"""The resampler: uniform grid, gaps split segments, identical output for any block split."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from imu_hip.dsp.resample import Resampler
from imu_hip.model import SensorRecording


def _stream(n=2000, rate=400.0, jitter=0.0003, seed=1, gap_at=None):
    rng = np.random.default_rng(seed)
    t = np.arange(n) / rate + rng.uniform(-jitter, jitter, n)
    t = np.maximum.accumulate(t + np.arange(n) * 1e-12)
    if gap_at is not None:
        t[gap_at:] += 0.5
    acc = np.column_stack([np.sin(t), np.cos(3 * t), 9.8 + 0 * t])
    gyr = np.column_stack([t, -t, 2 * t])
    return SensorRecording("s", "sacrum", rate, t, acc, gyr)


def _run(sensor, sizes):
    r = Resampler(sensor.rate_hz)
    chunks = []
    start = 0
    t = sensor.t_s
    for size in sizes:
        if start >= len(t):
            break
        stop = min(len(t), start + size)
        chunks += r.push(sensor.block(start, stop))
        start = stop
    if start < len(t):
        chunks += r.push(sensor.block(start, len(t)))
    return r, chunks


def _joined(chunks):
    segs = {}
    for c in chunks:
        segs.setdefault(c.segment, []).append(c)
    out = {}
    for s, cs in segs.items():
        ks = np.concatenate([c.first_k + np.arange(len(c)) for c in cs])
        assert np.array_equal(ks, np.arange(ks.size)), "grid indices must be contiguous"
        out[s] = (
            cs[0].t0_s,
            np.vstack([c.acc_mps2 for c in cs]),
            np.vstack([c.gyr_rads for c in cs]),
        )
    return out


def test_uniform_grid_interpolates_linear_signal_exactly():
    sensor = _stream()
    _, chunks = _run(sensor, [len(sensor)])
    ((t0, acc, gyr),) = _joined(chunks).values()
    grid = t0 + np.arange(len(gyr)) / sensor.rate_hz
    # gyr is linear in time, so linear interpolation must reproduce it to rounding error.
    np.testing.assert_allclose(gyr[:, 0], grid, atol=1e-9)
    assert grid[-1] <= sensor.t_s[-1] + 1e-12


def test_gap_starts_new_segment_and_is_counted():
    sensor = _stream(gap_at=1000)
    r, chunks = _run(sensor, [333] * 10)
    segs = _joined(chunks)
    assert sorted(segs) == [0, 1]
    assert r.gaps == 1
    # No grid sample is placed inside the gap.
    t0_1 = segs[1][0]
    assert t0_1 == sensor.t_s[1000]


def test_out_of_order_samples_are_dropped_and_counted():
    sensor = _stream(n=100)
    t = sensor.t_s.copy()
    t[50] = t[48]  # a duplicate/reordered timestamp
    bad = SensorRecording("s", "sacrum", sensor.rate_hz, t, sensor.acc_mps2, sensor.gyr_rads)
    r, _ = _run(bad, [len(bad)])
    assert r.dropped_out_of_order == 1


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=30))
def test_any_block_split_gives_identical_output(sizes):
    sensor = _stream(n=3000, gap_at=1700)
    _, whole = _run(sensor, [len(sensor)])
    _, split = _run(sensor, sizes)
    a, b = _joined(whole), _joined(split)
    assert a.keys() == b.keys()
    for k in a:
        assert a[k][0] == b[k][0]
        np.testing.assert_array_equal(a[k][1], b[k][1])
        np.testing.assert_array_equal(a[k][2], b[k][2])
