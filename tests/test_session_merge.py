"""Acceleration and angular rate sent in separate packets (Polar PMD) are merged by the session."""

from __future__ import annotations

import numpy as np
import pytest

from imu_hip.model import G
from imu_hip.protocols import polar_pmd as pmd
from imu_hip.protocols.base import DecodedBlock, Decoder
from imu_hip.session import DeviceStream
from imu_hip.sim import RunnerParams, simulate

RATE = 52.0
T0_NS = 780_000_000 * 10**9  # sensor clock: ns since 2000-01-01
ACC_F = 8.0 / 32768.0  # G per count (default factor, +-8 g)
GYR_F = 2000.0 / 32768.0  # deg/s per count


def polar_stream(seconds: float, seed: int = 0):
    """Interleaved ACC (20 per frame) and GYRO (24 per frame) delta frames as a Verity Sense
    sends them, with receive times; and the quantized truth on the device time grid."""
    sim = simulate(RunnerParams(rate_hz=RATE, phases=(("stand", 3.0), ("run", seconds - 3.0))),
                   seed=seed, placements=("sacrum",)).recording.sensors[0]
    acc_c = np.rint(sim.acc_mps2 / (ACC_F * G)).astype(np.int64)
    gyr_c = np.rint(np.degrees(sim.gyr_rads) / GYR_F).astype(np.int64)
    n = len(sim)
    t_dev = T0_NS * 1e-9 + np.arange(n) / RATE
    rng = np.random.default_rng(seed)
    frames = []  # (send time s, kind, bytes)
    for kind, counts, per in ((pmd.ACC, acc_c, 20), (pmd.GYRO, gyr_c, 24)):
        for i in range(0, n - per + 1, per):
            last = i + per - 1
            ts = T0_NS + round(last * 1e9 / RATE)
            frames.append((last / RATE + 0.01 + rng.exponential(0.01), kind,
                           pmd.encode_delta_frame(kind, ts, counts[i:i + per])))
    frames.sort(key=lambda f: f[0])
    truth = (t_dev, acc_c * ACC_F * G, np.radians(gyr_c * GYR_F))
    return frames, truth


def run_stream(frames, host0: float = 1.8e9):
    stream = DeviceStream("polar", "sacrum", "polar-pmd")
    blocks = []
    for rx, _, data in frames:
        blocks += stream.feed(data, host0 + rx)
    blocks += stream.finish()
    return stream, blocks


def test_separate_angular_rate_is_merged_onto_acceleration():
    frames, (t_dev, acc, gyr) = polar_stream(40.0)
    stream, blocks = run_stream(frames)
    assert stream.merged and stream.has_gyro
    assert all(b.gyr_rads is not None for b in blocks)
    a = np.concatenate([b.acc_mps2 for b in blocks])
    g = np.concatenate([b.gyr_rads for b in blocks])
    n = a.shape[0]
    # every acceleration sample the device sent, in order, with its own angular rate
    n_sent = (len(t_dev) // 20) * 20
    n_gyro = (len(t_dev) // 24) * 24
    assert n == min(n_sent, n_gyro)
    assert np.allclose(a, acc[:n], atol=1e-9)
    assert np.allclose(g, gyr[:n], atol=1e-6)
    assert not any(b.gap_before for b in blocks)
    t = np.concatenate([b.t_s for b in blocks])
    assert np.all(np.diff(t) > 0)
    # only the last acceleration samples, after the last angular rate, had none
    assert stream.unmerged_gyro == 0 and stream.gyro_missing == n_sent - n_gyro


class SplitDecoder(Decoder):
    """imu-hip frames prefixed with one byte: 0 = pass on only the acceleration, 1 = only the
    angular rate (no sequence numbers): a device that sends them apart, like Polar PMD."""

    name = "split"

    def __init__(self, sensor_id: str = "") -> None:
        from imu_hip import protocols

        super().__init__(sensor_id)
        self.inner = protocols.decoder("imu-hip", sensor_id)

    def feed(self, data: bytes, received_at: float) -> list[DecodedBlock]:
        out = []
        for b in self.inner.feed(data[1:], received_at):
            acc, gyr = (b.acc_mps2, None) if data[0] == 0 else (None, b.gyr_rads)
            out.append(DecodedBlock(b.sensor_id, b.rate_hz, received_at, None, b.device_t_s,
                                    acc, gyr))
        return out


def test_a_hole_in_the_angular_rate_drops_those_samples_and_marks_a_gap():
    from imu_hip.protocols.imu_hip_protocol import encode_stream

    sim = simulate(RunnerParams(phases=(("stand", 3.0), ("run", 20.0))), seed=2,
                   placements=("sacrum",)).recording.sensors[0]
    frames = encode_stream(sim.acc_mps2, sim.gyr_rads, t0_us=10**12)  # 19 samples each
    rng = np.random.default_rng(1)
    notes = []
    for k, f in enumerate(frames):
        sent = (k * 19 + 18) / 400.0
        notes.append((sent + 0.004 + rng.exponential(0.004), b"\x00" + f))
        if k != 300:  # angular rate of samples 5700..5718 never arrives
            notes.append((sent + 0.004 + rng.exponential(0.004), b"\x01" + f))
    notes.sort(key=lambda n: n[0])
    stream = DeviceStream("split", "sacrum", "split", decoder=SplitDecoder())
    blocks = []
    for rx, data in notes:
        blocks += stream.feed(data, 1.8e9 + rx)
    blocks += stream.finish()
    assert stream.merged
    gap_blocks = [b for b in blocks if b.gap_before]
    assert len(gap_blocks) == 1
    # samples 5700..5718 lack angular rate (the neighbours around the hole are too far apart
    # to interpolate over: 20 sample periods > the gap threshold)
    assert stream.gyro_missing == 19
    a = np.concatenate([b.acc_mps2 for b in blocks])
    g = np.concatenate([b.gyr_rads for b in blocks])
    keep = np.ones(len(frames) * 19, dtype=bool)[: len(sim)]
    keep[5700:5719] = False
    acc_q = np.concatenate([stream_decode(f)[0] for f in frames])
    gyr_q = np.concatenate([stream_decode(f)[1] for f in frames])
    assert np.array_equal(a, acc_q[keep])
    assert np.allclose(g, gyr_q[keep], atol=1e-12)
    t = np.concatenate([b.t_s for b in blocks])
    assert np.all(np.diff(t) > 0)
    i = sum(len(b) for b in blocks[:blocks.index(gap_blocks[0])])
    assert t[i] - t[i - 1] == pytest.approx(20 / 400.0, abs=1e-4)


def stream_decode(frame: bytes):
    from imu_hip.protocols.imu_hip_protocol import parse_frame

    f = parse_frame(frame)
    return f.acc_mps2(), f.gyr_rads()


def test_merging_is_deterministic_and_acc_only_devices_stay_acc_only():
    frames, _ = polar_stream(20.0, seed=3)
    _, b1 = run_stream(frames)
    _, b2 = run_stream(frames)
    assert len(b1) == len(b2)
    for x, y in zip(b1, b2, strict=True):
        assert np.array_equal(x.t_s, y.t_s) and np.array_equal(x.gyr_rads, y.gyr_rads)
    acc_only = [f for f in frames if f[1] == pmd.ACC]
    stream, blocks = run_stream(acc_only)
    assert stream.has_gyro is False and not stream.merged
    assert blocks and all(b.gyr_rads is None for b in blocks)


@pytest.mark.parametrize("lag_s", [0.3, 1.0, 3.0])
def test_angular_rate_arriving_late(lag_s):
    """Angular rate that arrives within the warm-up is merged (acceleration waits for it);
    angular rate that starts only after the warm-up leaves an acceleration-only stream."""
    frames, _ = polar_stream(30.0, seed=5)
    frames = sorted(((rx + (lag_s if kind == pmd.GYRO else 0.0), kind, data)
                     for rx, kind, data in frames), key=lambda f: f[0])
    stream, blocks = run_stream(frames)
    t = np.concatenate([b.t_s for b in blocks])
    assert np.all(np.diff(t) > 0)
    if lag_s < stream.warmup_s:
        assert stream.merged and stream.unmerged_gyro == 0
        assert stream.gyro_missing < 24  # only the tail after the last angular rate
        assert not any(b.gap_before for b in blocks)
    else:
        assert not stream.merged and stream.unmerged_gyro > 0
        assert all(b.gyr_rads is None for b in blocks)
