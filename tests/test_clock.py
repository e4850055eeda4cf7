"""Device clock -> host clock mapping (imu_hip.ble.clock)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

from imu_hip.ble.clock import ClockMapper, SampleCounter, envelope_line, host_time, lower_hull

H0 = 1.79e9  # host epoch seconds, as host_time() gives


def simulate_link(duration_s: float, packet_hz: float, offset_s: float, drift_ppm: float,
                  min_delay_s: float, jitter_mean_s: float, rng: np.random.Generator,
                  burst_every_s: float | None = None, burst_len_s: float = 0.5,
                  burst_delay_s: float = 0.1, burst_phase_s: float = 0.0):
    """Packets of a device: (device time of last sample, receive time, true host time).

    The device clock reads ``offset + (1 + drift) * s`` at true time ``s``; a packet leaves when
    its last sample is taken and arrives after ``min_delay + Exp(jitter_mean)`` (+ a burst
    delay), never before the previous one (BLE keeps order).
    """
    s = np.arange(1, int(duration_s * packet_hz) + 1) / packet_hz  # true time, last sample
    x = offset_s + (1.0 + drift_ppm * 1e-6) * s
    delay = min_delay_s + rng.exponential(jitter_mean_s, s.size)
    if burst_every_s:
        in_burst = ((s + burst_phase_s) % burst_every_s) < burst_len_s
        delay = delay + np.where(in_burst, burst_delay_s, 0.0)
    y = np.maximum.accumulate(H0 + s + delay)
    return x, y, H0 + s


def run_mapper(x: np.ndarray, y: np.ndarray, warmup_s: float = 1.0) -> np.ndarray:
    """Map each packet's last sample time, holding packets for the first ``warmup_s`` as the
    session does."""
    m = ClockMapper()
    out = np.empty_like(x)
    held: list[int] = []
    for i in range(x.size):
        m.observe(x[i], y[i])
        held.append(i)
        if m.span_s >= warmup_s:
            for j in held:
                out[j] = m.map_one(x[j])
            held.clear()
    for j in held:
        out[j] = m.map_one(x[j])
    return out


def test_host_time_is_epoch_and_monotonic():
    import time

    a = host_time()
    b = host_time()
    assert b >= a
    assert abs(a - time.time()) < 5.0


def test_lower_hull_matches_brute_force():
    rng = np.random.default_rng(1)
    x = np.sort(rng.uniform(0, 100, 60))
    y = rng.exponential(1.0, 60)
    hull = lower_hull(x, y)
    # every point lies on or above every hull edge (within its x range and its extension)
    for a, b in zip(hull[:-1], hull[1:], strict=True):
        slope = (y[b] - y[a]) / (x[b] - x[a])
        assert np.all(y - (y[a] + slope * (x - x[a])) >= -1e-12)
    assert hull[0] == 0 and hull[-1] == x.size - 1


def test_envelope_line_recovers_a_line_under_noise():
    rng = np.random.default_rng(2)
    x = np.linspace(0, 120, 121)
    y = 0.3 + 2e-5 * x + rng.exponential(0.004, x.size)
    y[::10] = 0.3 + 2e-5 * x[::10]  # some packets arrive with the minimum delay
    a, b = envelope_line(x, y)
    assert a == pytest.approx(0.3, abs=1e-9)
    assert b == pytest.approx(2e-5, abs=1e-12)
    assert np.all(y - (a + b * x) >= -1e-12)


@settings(max_examples=6, deadline=None, derandomize=True,
          phases=(Phase.explicit, Phase.generate))
@given(
    offset=st.floats(-1e5, 1e5),
    drift=st.floats(-50.0, 50.0),
    jitter_ms=st.floats(0.5, 20.0),
    packet_hz=st.sampled_from([5.0, 10.0]),
    bursts=st.booleans(),
    phase=st.floats(0.0, 30.0),
    seed=st.integers(0, 2**16),
)
def test_one_hour_within_a_few_ms_of_truth(offset, drift, jitter_ms, packet_hz, bursts, phase,
                                           seed):
    """Mapped time = true time + the minimum delay, within 2.5 ms for an hour after 30 s of
    settling; so two sensors with the same minimum delay agree within 5 ms."""
    rng = np.random.default_rng(seed)
    min_delay = 0.003
    x, y, truth = simulate_link(3600.0, packet_hz, offset, drift, min_delay, jitter_ms * 1e-3,
                                rng, burst_every_s=30.0 if bursts else None,
                                burst_phase_s=phase)
    mapped = run_mapper(x, y)
    err = mapped - (truth + min_delay)
    settled = truth - H0 > 30.0
    assert np.max(np.abs(err[settled])) < 2.5e-3
    assert np.all(err[~settled] > -2.5e-3)  # the start can only be late (delays add latency)
    assert np.all(np.diff(mapped) > 0)  # causal and smooth: never backwards
    # host time per device second stays within 0.6 % of the truth (slewing, never jumps)
    rate = np.diff(mapped) / np.diff(truth)
    assert np.all(np.abs(rate - 1.0) < 6e-3)


def test_two_sensors_agree_within_5_ms_for_an_hour():
    rng = np.random.default_rng(5)
    a = simulate_link(3600.0, 10.0, 12.5, 50.0, 0.003, 0.004, rng, burst_every_s=60.0)
    b = simulate_link(3600.0, 10.0, -4000.0, -50.0, 0.003, 0.015, rng, burst_every_s=45.0,
                      burst_phase_s=7.0)
    ma, mb = run_mapper(a[0], a[1]), run_mapper(b[0], b[1])
    # the same true instants (both devices send at the same true times here)
    settled = a[2] - H0 > 30.0
    assert np.max(np.abs(ma - mb)[settled]) < 5e-3
    assert np.max(np.abs(ma - a[2] - 0.003)[settled]) < 2.5e-3
    assert np.max(np.abs(ma - mb)) < 10e-3


def test_drift_and_offset_are_estimated():
    rng = np.random.default_rng(3)
    x, y, _ = simulate_link(600.0, 20.0, 100.0, 37.0, 0.003, 0.005, rng)
    m = ClockMapper()
    for xi, yi in zip(x, y, strict=True):
        m.observe(xi, yi)
    m.map(x[-1:])
    assert m.drift_ppm == pytest.approx(37.0, abs=3.0)
    # host - device at the end: H0 + s + d_min - (100 + (1 + 37e-6) s)
    s_end = 600.0
    expected = H0 + s_end + 0.003 - (100.0 + (1 + 37e-6) * s_end)
    assert m.offset_s == pytest.approx(expected, abs=2e-3)


def test_bursts_of_late_packets_do_not_move_the_mapping():
    rng = np.random.default_rng(4)
    x, y, truth = simulate_link(300.0, 20.0, 0.0, 20.0, 0.003, 0.002, rng, burst_every_s=20.0,
                                burst_len_s=5.0, burst_delay_s=0.3, burst_phase_s=10.0)
    err = run_mapper(x, y) - truth - 0.003
    assert np.max(np.abs(err[truth - H0 > 30.0])) < 2.5e-3


def test_mapping_is_deterministic_and_map_before_observe_fails():
    rng = np.random.default_rng(6)
    x, y, _ = simulate_link(60.0, 20.0, 5.0, 10.0, 0.003, 0.005, rng)
    assert np.array_equal(run_mapper(x, y), run_mapper(x, y))
    with pytest.raises(RuntimeError):
        ClockMapper().map(np.array([1.0]))


def test_reset_starts_a_new_epoch():
    m = ClockMapper()
    for i in range(100):
        m.observe(i * 0.05, H0 + i * 0.05 + 0.01)
    m.map(np.array([4.95]))
    m.reset()
    assert not m.ready and m.span_s == 0.0
    m.observe(0.05, H0 + 1000.0)
    assert m.map(np.array([0.05]))[0] == pytest.approx(H0 + 1000.0, abs=1e-6)


def test_sample_counter_fits_a_rate_error_without_timestamps():
    """A device without timestamps that really samples at 404 Hz (1 % fast): counted times at
    the nominal 400 Hz, mapped through a ClockMapper, follow the true times."""
    rng = np.random.default_rng(7)
    true_rate, nominal, per = 404.0, 400.0, 20
    n_packets = int(120 * true_rate / per)
    counter = SampleCounter(nominal)
    mapper = ClockMapper(max_drift=0.05)
    last = -np.inf
    errs = []
    for k in range(n_packets):
        t_true = (k * per + np.arange(per)) / true_rate
        rx = max(last, H0 + t_true[-1] + 0.003 + rng.exponential(0.005))
        last = rx
        x, gap = counter.times(per, rx)
        assert not gap
        mapper.observe(x[-1], rx)
        if k * per / true_rate > 40.0:  # after the drift window spans min_span_s
            errs.append(mapper.map(x) - (H0 + t_true + 0.003))
    errs = np.concatenate(errs)
    assert np.max(np.abs(errs)) < 3e-3
    # the counted clock runs 1 % fast against the host: +10000 ppm
    assert mapper.drift_ppm == pytest.approx((true_rate / nominal - 1.0) * 1e6, rel=0.02)


def test_sample_counter_gaps():
    c = SampleCounter(100.0, gap_s=0.5)
    t, gap = c.times(10, H0 + 0.1)
    assert not gap and t[0] == 0.0
    t, gap = c.times(10, H0 + 0.2)
    assert not gap and t[0] == pytest.approx(0.1)
    # two seconds of silence without sequence numbers: a gap, the count jumps by the time
    t, gap = c.times(10, H0 + 2.2)
    assert gap and t[-1] == pytest.approx(0.19 + 2.0, abs=1e-9)  # last sample + elapsed
    # sequence numbers say 3 packets of 10 samples are missing
    t2, gap = c.times(10, H0 + 2.6, missing_packets=3)
    assert gap and t2[0] == pytest.approx(t[-1] + 0.01 + 0.3, abs=1e-9)
    # sequence numbers say nothing is missing: a pause is no gap (the device buffered)
    _, gap = c.times(10, H0 + 9.0, missing_packets=0)
    assert not gap
