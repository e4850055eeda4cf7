"""Protocol decoders: fuzz run, decode throughput, imu-hip payload share.

    python benchmarks/protocols.py [--packets 1000000] [--seconds 60] [--only NAME]

1. Fuzz: for every decoder, ``--packets`` notifications (a third pure random bytes, a third random
   bytes behind a valid header, a third mutations of valid frames: bit flips, byte changes,
   truncation, extension, splices, concatenation of two frames) fed to one decoder in sequence.
   Prints how many were fed, decoded blocks/samples, malformed counts, exceptions (must be 0) and
   the time. Every decoded block is checked (finite values, consistent shapes).
2. Throughput: a simulated ``--seconds`` of well-formed notifications per protocol at the
   device's usual rate and packing, decoded by a fresh decoder: samples per second.
3. imu-hip payload share (sample bytes / notification capacity) at several MTUs.

Prints numbers only; nothing here is pass/fail except that an exception in a decoder is reported
with its traceback and makes the exit status 1.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import traceback

import numpy as np

import imu_hip.protocols as protocols
from imu_hip.model import G
from imu_hip.protocols import imu_hip_protocol, polar_pmd, rsc, thingy52, witmotion


def valid_pool(name: str, rng: np.random.Generator, count: int = 64) -> list[bytes]:
    """Well-formed notifications of protocol ``name`` (varied content)."""
    out: list[bytes] = []
    while len(out) < count:
        acc = rng.normal(0, 3 * G, (60, 3))
        gyr = rng.normal(0, 5.0, (60, 3))
        if name == "imu-hip":
            out += imu_hip_protocol.encode_stream(
                acc, gyr, t0_us=int(rng.integers(0, 2**48)), start_seq=int(rng.integers(0, 65536)),
                rate_hz=float(rng.choice([100.0, 400.0, 833.0])))
        elif name == "polar-pmd":
            counts = np.cumsum(rng.integers(-400, 400, (36, 3)), axis=0).clip(-32768, 32767)
            ts = int(rng.integers(0, 2**63))
            out += [polar_pmd.encode_frame(polar_pmd.ACC, ts, counts),
                    polar_pmd.encode_delta_frame(polar_pmd.ACC, ts, counts, 0x81),
                    polar_pmd.encode_delta_frame(polar_pmd.ACC, ts, counts, 0x80),
                    polar_pmd.encode_delta_frame(polar_pmd.GYRO, ts, counts, 0x80)]
        elif name == "witmotion":
            k = int(rng.integers(1, 6))
            out.append(witmotion.encode_frame(acc[:k], gyr[:k]))
        elif name == "thingy52":
            out += thingy52.encode_sample(acc[:8], gyr[:8])
        else:
            out.append(rsc.encode_measurement(
                float(rng.uniform(0, 8)), float(rng.uniform(0, 220)),
                float(rng.uniform(0, 3)) if rng.random() < 0.5 else None,
                float(rng.uniform(0, 1e5)) if rng.random() < 0.5 else None))
    return out


def mutate(p: bytes, r: random.Random, pool: list[bytes]) -> bytes:
    b = bytearray(p)
    op = r.randrange(7)
    if op == 0 and b:
        for _ in range(r.randint(1, 3)):
            b[r.randrange(len(b))] ^= 1 << r.randrange(8)
    elif op == 1 and b:
        b[r.randrange(len(b))] = r.randrange(256)
    elif op == 2:
        b = b[: r.randrange(len(b) + 1)]
    elif op == 3:
        b += r.randbytes(r.randint(1, 24))
    elif op == 4 and len(b) > 1:
        i = r.randrange(1, len(b))
        b = b[:i] + r.randbytes(r.randint(0, 8)) + b[i + r.randint(0, 8):]
    elif op == 5:
        b += r.choice(pool)
    else:
        b = b[r.randrange(len(b) + 1):] if b else b
    return bytes(b)


def check_block(b: protocols.DecodedBlock) -> None:
    n = len(b)
    assert n >= 1
    for arr in (b.acc_mps2, b.gyr_rads):
        if arr is not None:
            assert arr.shape == (n, 3) and np.all(np.isfinite(arr))
    if b.device_t_s is not None:
        assert b.device_t_s.shape == (n,) and np.all(np.isfinite(b.device_t_s))
    for v in b.values.values():
        assert v.shape == (n,) and np.all(np.isfinite(v))


def fuzz(name: str, packets: int, seed: int) -> bool:
    r = random.Random(seed)
    rng = np.random.default_rng(seed)
    pool = valid_pool(name, rng, 256)
    dec = protocols.decoder(name, "fuzz")
    exceptions = blocks = samples = 0
    third = packets // 3
    start = time.perf_counter()
    for i in range(packets):
        if i < third:
            p = r.randbytes(r.randrange(0, 261))
        elif i < 2 * third:
            v = r.choice(pool)
            p = v[: r.randint(1, min(len(v), 11))] + r.randbytes(r.randrange(0, 250))
        else:
            p = mutate(r.choice(pool), r, pool)
        try:
            out = dec.feed(p, float(i))
            for b in out:
                check_block(b)
                blocks += 1
                samples += len(b)
        except Exception:  # noqa: BLE001 - that is what we are looking for
            exceptions += 1
            if exceptions <= 3:
                print(f"  EXCEPTION in {name} on {p.hex()}:", file=sys.stderr)
                traceback.print_exc()
    dt = time.perf_counter() - start
    top = ", ".join(f"{k} {v}" for k, v in dec.stats.malformed.most_common(6))
    print(f"{name:10s} fed {packets:>9,d}  blocks {blocks:>8,d}  samples {samples:>10,d}  "
          f"malformed {dec.stats.malformed_total:>9,d}  exceptions {exceptions}  "
          f"{dt:6.1f} s ({packets / dt / 1e3:,.0f} k packets/s)\n{'':11s}[{top}]")
    return exceptions == 0


def stream(name: str, seconds: float) -> list[bytes]:
    """Well-formed notifications for ``seconds`` of one device at its usual rate and packing."""
    rng = np.random.default_rng(0)
    if name == "imu-hip":  # 400 Hz, 19 samples per notification
        n = int(400 * seconds)
        return imu_hip_protocol.encode_stream(rng.normal(0, 20, (n, 3)), rng.normal(0, 4, (n, 3)))
    if name == "polar-pmd":  # Verity Sense style: compressed ACC + GYRO, 36 samples a frame
        out = []
        for k in range(int(52 * seconds / 36)):
            c = np.cumsum(rng.integers(-300, 300, (36, 3)), axis=0).clip(-32768, 32767)
            ts = 7 * 10**17 + k * 692_307_692
            out += [polar_pmd.encode_delta_frame(polar_pmd.ACC, ts, c, 0x81),
                    polar_pmd.encode_delta_frame(polar_pmd.GYRO, ts, c, 0x80)]
        return out
    if name == "witmotion":  # 50 Hz, one frame per notification
        n = int(50 * seconds)
        raw = witmotion.encode_frame(rng.normal(0, 20, (n, 3)), rng.normal(0, 4, (n, 3)))
        return [raw[i:i + 20] for i in range(0, len(raw), 20)]
    if name == "thingy52":  # 200 Hz, one sample per notification
        n = int(200 * seconds)
        return thingy52.encode_sample(rng.normal(0, 20, (n, 3)), rng.normal(0, 4, (n, 3)))
    return [rsc.encode_measurement(3.0, 170, 1.1, float(k)) for k in range(int(seconds))]


def throughput(name: str, seconds: float) -> None:
    packets = stream(name, seconds)
    best = float("inf")
    for _ in range(3):
        dec = protocols.decoder(name)
        start = time.perf_counter()
        for i, p in enumerate(packets):
            dec.feed(p, float(i))
        best = min(best, time.perf_counter() - start)
    assert dec.stats.malformed_total == 0
    n = dec.stats.samples
    print(f"{name:10s} {len(packets):>7,d} notifications, {n:>9,d} samples in {best * 1e3:7.1f} ms:"
          f" {n / best:>12,.0f} samples/s  ({len(packets) / best:>9,.0f} notifications/s)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=1_000_000, help="fuzz packets per decoder")
    ap.add_argument("--seconds", type=float, default=60.0, help="stream length for throughput")
    ap.add_argument("--only", choices=protocols.names(), help="one protocol only")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    names = [args.only] if args.only else protocols.names()

    print("== imu-hip payload share ==")
    for mtu in (185, 247, 517):
        n = imu_hip_protocol.max_samples(mtu)
        frame = imu_hip_protocol.FRAME_OVERHEAD + 12 * n
        print(f"MTU {mtu}: {n} samples, frame {frame} B of {mtu - 3} B: sample bytes "
              f"{imu_hip_protocol.payload_share(mtu):.1%} of the notification capacity, "
              f"{12 * n / frame:.1%} of the bytes sent")
    print(f"\n== decode throughput ({args.seconds:g} s of each device's stream, best of 3) ==")
    for name in names:
        throughput(name, args.seconds)
    print(f"\n== fuzz ({args.packets:,d} packets per decoder) ==")
    ok = args.packets <= 0 or all([fuzz(name, args.packets, args.seed) for name in names])
    print("exceptions: none" if ok else "EXCEPTIONS RAISED (see above)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
