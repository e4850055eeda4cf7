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
