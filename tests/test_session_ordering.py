"""Packet ordering: duplicates, reordering, gaps, lost and late packets (imu_hip.ble.ordering)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from imu_hip.ble.ordering import PacketOrderer
from imu_hip.protocols.base import DecodedBlock

RATE = 400.0
PER = 19


def packet(seq: int | None, received_at: float, timed: bool = True, k0: int | None = None,
           n: int = PER) -> DecodedBlock:
    """Packet number ``seq`` (samples ``seq * n`` ...), optionally without seq or times."""
    k = (seq if k0 is None else k0) * n
    t = (k + np.arange(n)) / RATE
    acc = np.column_stack([t, -t, np.full(n, 9.8)])
    return DecodedBlock("d", RATE, received_at, seq, t if timed else None, acc, acc * 0.1)


def seqs(items) -> list[int]:
    return [int(i.block.seq) for i in items]


def feed(orderer: PacketOrderer, packets) -> list:
    out = []
    for p in packets:
        out.extend(orderer.push(p))
    return out


def test_in_order_passes_straight_through():
    o = PacketOrderer(max_wait_s=0.25)
    out = o.push(packet(0, 0.0))
    assert out == []  # the first packet waits: one sent before it may still come
    for k in range(1, 20):
        got = o.push(packet(k, k * 0.05))
        if k > 6:  # packet 6 came 0.3 s after packet 0 and released the buffer
            assert seqs(got) == [k]  # then no waiting while nothing is missing
        out.extend(got)
    assert seqs(out) == list(range(20))
    assert not any(i.gap_before for i in out)
    assert o.stats.lost == 0 and o.stats.duplicates == 0


def test_bluez_double_delivery_is_dropped():
    o = PacketOrderer()
    pk = [packet(k, k * 0.05) for k in range(20)]
    out = feed(o, [p for p in pk for _ in range(2)])
    assert seqs(out) == list(range(20))
    assert o.stats.duplicates == 20 and o.stats.lost == 0


def test_reordering_within_the_window_is_undone():
    o = PacketOrderer()
    order = [0, 1, 3, 2, 4, 6, 5, 7, 9, 8]
    out = feed(o, [packet(k, i * 0.05) for i, k in enumerate(order)])
    out += o.flush()
    assert seqs(out) == list(range(10))
    assert not any(i.gap_before for i in out)
    assert o.stats.lost == 0 and o.stats.reordered == 3


def test_gap_is_marked_and_counted():
    o = PacketOrderer(max_wait_s=0.2)
    sent = [k for k in range(30) if k not in (10, 11, 12, 20)]
    out = feed(o, [packet(k, k * 0.05) for k in sent]) + o.flush()
    assert seqs(out) == sent
    gaps = [int(i.block.seq) for i in out if i.gap_before]
    assert gaps == [13, 21]
    assert [i.missing for i in out if i.gap_before] == [3, 1]
    assert o.stats.lost == 4 and o.stats.gaps == 2


def test_late_packet_after_its_gap_was_given_up():
    o = PacketOrderer(window=4, max_wait_s=0.1)
    arrivals = [packet(k, k * 0.05) for k in range(10) if k != 3]
    arrivals.append(packet(3, 0.6))  # far too late
    out = feed(o, arrivals) + o.flush()
    assert 3 not in seqs(out)
    assert o.stats.late == 1 and o.stats.lost == 1


def test_restarted_device_starts_a_new_epoch():
    o = PacketOrderer()
    out = feed(o, [packet(k, k * 0.05) for k in range(1000, 1400)])
    out += feed(o, [packet(k, 25.0 + k * 0.05) for k in range(0, 10)])
    out += o.flush()
    first_new = next(i for i in out if i.block.seq == 0)
    assert first_new.gap_before and first_new.missing is None
    assert o.stats.restarts == 1 and o.stats.lost == 0
    assert seqs(out)[-10:] == list(range(10))


def test_implausible_jump_forward_is_a_restart_not_thousands_lost():
    o = PacketOrderer()
    feed(o, [packet(k, k * 0.05) for k in range(100)])
    out = feed(o, [packet(40000, 5.1)]) + o.flush()
    assert out and out[0].gap_before and out[0].missing is None
    assert o.stats.lost == 0


def test_without_sequence_numbers_device_time_orders():
    o = PacketOrderer()
    order = [0, 1, 2, 4, 3, 5, 6, 8, 9, 10]  # 7 never arrives
    pk = [packet(None, i * 0.05, k0=k) for i, k in enumerate(order)]
    out = feed(o, pk + [pk[5]]) + o.flush()  # and one duplicate
    firsts = [round(float(i.block.device_t_s[0]) * RATE / PER) for i in out]
    assert firsts == [0, 1, 2, 3, 4, 5, 6, 8, 9, 10]
    assert [i.gap_before for i in out].count(True) == 1
    assert out[7].gap_before and out[7].missing == 1
    assert o.stats.duplicates == 1 and o.stats.lost == 1


def test_without_seq_or_time_consecutive_copies_are_duplicates():
    o = PacketOrderer()
    pk = [packet(None, k * 0.05, timed=False, k0=k) for k in range(5)]
    out = feed(o, [pk[0], pk[0], pk[1], pk[2], pk[2], pk[3], pk[4]])
    assert len(out) == 5 and o.stats.duplicates == 2


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    n=st.integers(5, 200),
    drop=st.floats(0.0, 0.3),
    dup=st.floats(0.0, 0.3),
    swap=st.floats(0.0, 0.3),
    seed=st.integers(0, 10_000),
)
def test_property_every_packet_once_in_order_and_losses_counted(n, drop, dup, swap, seed):
    """Also when the very first packets arrive swapped."""
    rng = np.random.default_rng(seed)
    kept = [k for k in range(n) if k == 0 or rng.random() >= drop]
    arrivals = list(kept)
    for i in range(len(arrivals) - 1):  # adjacent swaps (BLE reorders at most a little)
        if rng.random() < swap:
            arrivals[i], arrivals[i + 1] = arrivals[i + 1], arrivals[i]
    stream = []
    for k in arrivals:
        stream.append(k)
        if rng.random() < dup:
            stream.append(k)
    o = PacketOrderer()
    out = feed(o, [packet(k, i * 0.01) for i, k in enumerate(stream)]) + o.flush()
    got = seqs(out)
    assert got == sorted(set(got))  # strictly increasing: no duplicates, in order
    assert set(got) | {k for k in kept if k not in got} == set(kept)
    assert o.stats.late == 0  # adjacent swaps are always undone
    assert got == kept
    assert o.stats.duplicates == len(stream) - len(kept)
    # lost = holes between emitted packets
    holes = sum(b - a - 1 for a, b in zip(got[:-1], got[1:], strict=True))
    assert o.stats.lost == holes
    assert [i.gap_before for i in out] == [False] + [b - a > 1 for a, b in
                                                      zip(got[:-1], got[1:], strict=True)]


# -- device time without sequence numbers, with the sample rate changing mid-stream ------------

POLAR_T0 = 8.4e8  # s: a PMD clock counts from 2000-01-01, so device times are this large


def timed_stream(segments, n: int, t0: float = POLAR_T0):
    """Packets of ``n`` samples over ``segments`` of (true rate, reported rate, packets). Like a
    PMD decoder, each packet's timestamp is its last sample's (the true one) and earlier samples
    are spaced at the *reported* rate. Returns [(last sample time, block maker)]."""
    out = []
    last = t0
    for true_hz, reported_hz, count in segments:
        for _ in range(count):
            last = last + n / true_hz
            t = last - (n - 1 - np.arange(n)) / reported_hz
            out.append((last, t, reported_hz))
    return out


def timed_packet(t: np.ndarray, rate_hz: float, received_at: float) -> DecodedBlock:
    acc = np.column_stack([t - t[0], np.zeros(len(t)), np.full(len(t), 9.8)])
    return DecodedBlock("d", rate_hz, received_at, None, t, acc, acc * 0.1)


def test_rate_re_estimated_mid_stream_is_neither_late_nor_lost():
    """Regression: a PMD stream whose rate is re-estimated (52 -> 50 -> 52 Hz reported while
    the clock keeps counting) made every later packet late and ~1e10 packets lost."""
    stream = timed_stream([(52.0, 52.0, 30), (52.0, 50.0, 30), (52.0, 52.0, 30)], n=36)
    pk = [timed_packet(t, r, last - POLAR_T0 + 0.03) for last, t, r in stream]
    o = PacketOrderer()
    out = feed(o, pk) + o.flush()
    assert len(out) == len(pk)
    assert [i.block is p for i, p in zip(out, pk, strict=True)] == [True] * len(pk)
    assert o.stats.late == 0 and o.stats.lost == 0 and o.stats.gaps == 0
    assert o.stats.restarts == 0 and not any(i.gap_before for i in out)


def test_reconfigured_rate_continues_the_stream():
    """52 Hz -> 104 Hz -> 26 Hz with the clock continuing: one stream, no gap, nothing lost."""
    stream = timed_stream([(52.0, 52.0, 20), (104.0, 104.0, 20), (26.0, 26.0, 20)], n=20)
    pk = [timed_packet(t, r, last - POLAR_T0 + 0.02) for last, t, r in stream]
    o = PacketOrderer()
    out = feed(o, pk) + o.flush()
    assert len(out) == len(pk) and not any(i.gap_before for i in out)
    assert o.stats.late == 0 and o.stats.lost == 0


def test_implausible_device_time_jump_is_a_restart_not_a_huge_loss():
    stream = timed_stream([(52.0, 52.0, 40)], n=36)
    pk = [timed_packet(t, r, last - POLAR_T0) for last, t, r in stream]
    rx = pk[-1].received_at
    jumped = [timed_packet(t + 3.0e5, r, rx + 0.7 * (k + 1))  # 3.5 days ahead, 0.7 s later
              for k, (_, t, r) in enumerate(timed_stream([(52.0, 52.0, 10)], n=36))]
    o = PacketOrderer()
    out = feed(o, pk + jumped) + o.flush()
    assert len(out) == len(pk) + len(jumped)
    first_new = out[len(pk)]
    assert first_new.block is jumped[0] and first_new.gap_before and first_new.missing is None
    assert o.stats.lost == 0 and o.stats.late == 0 and o.stats.restarts == 1


def test_device_clock_reset_backwards_is_a_restart_not_late_forever():
    before = timed_stream([(52.0, 52.0, 40)], n=36)
    pk = [timed_packet(t, r, last - POLAR_T0) for last, t, r in before]
    rx = pk[-1].received_at
    after = timed_stream([(52.0, 52.0, 20)], n=36, t0=0.0)  # clock back to zero
    pk2 = [timed_packet(t, r, rx + 1.0 + last) for last, t, r in after]
    o = PacketOrderer()
    out = feed(o, pk + pk2) + o.flush()
    assert len(out) == len(pk) + len(pk2) and o.stats.late == 0
    assert out[len(pk)].gap_before and out[len(pk)].missing is None and o.stats.lost == 0


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    rates=st.lists(st.sampled_from([25.0, 26.0, 50.0, 52.0, 100.0, 104.0, 200.0, 208.0]),
                   min_size=2, max_size=4),
    misestimate=st.lists(st.floats(0.98, 1.02), min_size=4, max_size=4),
    counts=st.lists(st.integers(3, 30), min_size=4, max_size=4),
    n=st.integers(10, 40),
    drop=st.floats(0.0, 0.3),
    dup=st.floats(0.0, 0.3),
    swap=st.floats(0.0, 0.3),
    seed=st.integers(0, 10_000),
)
def test_property_rate_changes_mid_stream(rates, misestimate, counts, n, drop, dup, swap, seed):
    """Device-timed packets (no sequence numbers) whose rate changes between segments, the
    reported rate off by up to 2 % (re-estimated), with drops, duplicates and adjacent swaps:
    every kept packet once and in order, none late, lost = the holes, gaps exactly at them."""
    rng = np.random.default_rng(seed)
    segments = [(r, r * m, c) for r, m, c in zip(rates, misestimate, counts, strict=False)]
    stream = timed_stream(segments, n=n)
    seg = np.repeat(np.arange(len(segments)), [c for _, _, c in segments])
    kept, run = [], 0
    for k in range(len(stream)):
        # drop runs inside one segment: a hole spanning a rate change has no exact count
        inside = 0 < k < len(stream) - 1 and seg[k - 1] == seg[k] == seg[k + 1]
        if inside and run < 5 and rng.random() < drop:
            run += 1
            continue
        run = 0
        kept.append(k)
    arrivals, i = list(kept), 0
    while i < len(arrivals) - 1:  # swap neighbours, none moved by more than one place (they
        if rng.random() < swap:   # arrive together; one arriving a packet later may be late)
            arrivals[i], arrivals[i + 1] = arrivals[i + 1], arrivals[i]
            i += 1
        i += 1
    sent = []
    for k in arrivals:
        sent.append(k)
        if rng.random() < dup:
            sent.append(k)
    pk, index, rx = [], {}, 0.0
    for k in sent:  # received after the packet's last sample, never before the previous one
        rx = max(rx, stream[k][0] - POLAR_T0 + 0.02 + 0.03 * rng.random())
        pk.append(timed_packet(stream[k][1], stream[k][2], rx))
        index[id(pk[-1])] = k
    o = PacketOrderer()
    out = feed(o, pk) + o.flush()
    got = [index[id(i.block)] for i in out]
    assert got == kept
    assert o.stats.late == 0 and o.stats.restarts == 0
    assert o.stats.duplicates == len(sent) - len(kept)
    assert o.stats.lost == sum(b - a - 1 for a, b in zip(got[:-1], got[1:], strict=True))
    assert [i.gap_before for i in out] == [False] + [b - a > 1 for a, b in
                                                      zip(got[:-1], got[1:], strict=True)]
