"""Every decoder survives random and mutated input: no exception, sane blocks, honest counts."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import imu_hip.protocols as protocols
from imu_hip.protocols import imu_hip_protocol, polar_pmd, rsc, thingy52, witmotion


def _valid_packets(name: str, seed: int) -> list[bytes]:
    """A few well-formed notifications of protocol ``name``."""
    rng = np.random.default_rng(seed)
    acc = rng.normal(0, 20, (40, 3))
    gyr = rng.normal(0, 4, (40, 3))
    if name == "imu-hip":
        return imu_hip_protocol.encode_stream(acc, gyr, t0_us=int(rng.integers(0, 2**48)),
                                              start_seq=int(rng.integers(0, 65536)))
    if name == "polar-pmd":
        counts = np.cumsum(rng.integers(-200, 200, (30, 3)), axis=0).clip(-32768, 32767)
        ts = int(rng.integers(0, 2**63))
        return [polar_pmd.encode_frame(polar_pmd.ACC, ts, counts),
                polar_pmd.encode_delta_frame(polar_pmd.ACC, ts, counts, 0x81),
                polar_pmd.encode_delta_frame(polar_pmd.GYRO, ts, counts, 0x80),
                bytes((0xF0, 0x02, 0x05, 0x00, 0x00, 0x05, 0x01, 0x00, 0x00, 0x80, 0x3D))]
    if name == "witmotion":
        return [witmotion.encode_frame(acc[:5], gyr[:5]), witmotion.encode_frame(acc[:1], gyr[:1])]
    if name == "thingy52":
        return thingy52.encode_sample(acc[:3], gyr[:3])
    return [rsc.encode_measurement(3.1, 170, 1.1, 99.0), rsc.encode_measurement(2.0, 150)]


def _check(name: str, packets: list[bytes]) -> None:
    dec = protocols.decoder(name, "fuzz")
    total = 0
    for k, p in enumerate(packets):
        blocks = dec.feed(p, float(k))
        for b in blocks:
            n = len(b)
            assert n >= 1 and b.rate_hz > 0 and b.received_at == float(k)
            for arr, width in ((b.acc_mps2, 3), (b.gyr_rads, 3)):
                if arr is not None:
                    assert arr.shape == (n, width) and np.all(np.isfinite(arr))
            if b.device_t_s is not None:
                assert b.device_t_s.shape == (n,) and np.all(np.isfinite(b.device_t_s))
                assert np.all(np.diff(b.device_t_s) > 0)
            for v in b.values.values():
                assert v.shape == (n,) and np.all(np.isfinite(v))
            if b.acc_mps2 is not None:
                assert np.all(np.abs(b.acc_mps2) < 1e5)
            total += n
    assert dec.stats.notifications == len(packets)
    assert dec.stats.samples == total
    assert dec.stats.bytes == sum(len(p) for p in packets)


NAMES = protocols.names()
FUZZ = settings(max_examples=25, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.sampled_from(NAMES), st.lists(st.binary(max_size=260), max_size=12))
def test_random_bytes(name, packets):
    _check(name, packets)


@st.composite
def _mutated(draw):
    name = draw(st.sampled_from(NAMES))
    packets = _valid_packets(name, draw(st.integers(0, 2**16)))
    out = []
    for p in packets:
        b = bytearray(p)
        op = draw(st.sampled_from(["flip", "truncate", "extend", "splice", "keep", "byte"]))
        if op == "flip" and b:
            i = draw(st.integers(0, len(b) - 1))
            b[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "byte" and b:
            b[draw(st.integers(0, len(b) - 1))] = draw(st.integers(0, 255))
        elif op == "truncate":
            b = b[: draw(st.integers(0, len(b)))]
        elif op == "extend":
            b += draw(st.binary(min_size=1, max_size=20))
        elif op == "splice" and len(b) > 2:
            i = draw(st.integers(1, len(b) - 1))
            b = b[:i] + draw(st.binary(max_size=8)) + b[i:]
        out.append(bytes(b))
    return name, out


@FUZZ
@given(_mutated())
def test_mutated_frames(case):
    name, packets = case
    _check(name, packets)


def test_valid_packets_decode_cleanly():
    for name in NAMES:
        dec = protocols.decoder(name)
        for p in _valid_packets(name, 1):
            dec.feed(p, 0.0)
        assert dec.stats.malformed_total == 0, (name, dict(dec.stats.malformed))
        assert dec.stats.samples > 0
