"""Host CPU of a live session: three virtual imu-hip sensors at 400 Hz (19 samples per
notification at MTU 247), recording to MCAP (raw + decoded, flushed twice a second) and the
sacral pipeline with 2 s live frames.

    python benchmarks/streaming.py [--seconds 60] [--rate 400]

Three measurements, each in a fresh event loop of this process:

1. ``devices only``: the virtual devices paced in real time, notifications thrown away (the cost
   of simulating BLE: frame encoding, pacing);
2. ``session``: the same devices into a full :class:`imu_hip.session.Session` with recording;
3. ``unpaced``: the session as fast as it runs (throughput in sensor-seconds per CPU second).

CPU share = process CPU time (user + system, all threads) / wall time, in % of one core. The
host's share is (2) minus (1): on a real run the devices are real and cost the host nothing but
BLE. The simulated run is computed before the timing starts. Prints numbers; no pass/fail (the
machine is shared and noisy). Target (issue 3): host share under 10 % of one core.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
import time
from pathlib import Path

PLACEMENTS = ("sacrum", "left_foot", "right_foot")


def make_links(seconds: float, rate_hz: float, speed: float):
    from imu_hip.ble.virtual import SimSource, VirtualLink
    from imu_hip.sim import RunnerParams

    source = SimSource(PLACEMENTS, duration_s=seconds, seed=1,
                       params=RunnerParams(rate_hz=rate_hz), first_chunk_s=seconds,
                       chunk_s=seconds)
    source.chunk_now(0)  # simulate before timing
    return [VirtualLink(p, source, speed=speed, seed=i + 1, sensor_id=i)
            for i, p in enumerate(PLACEMENTS)]


def measure(coro_factory) -> tuple[float, float]:
    """(wall s, CPU s) of running the coroutine in a fresh loop."""
    w0, c0 = time.perf_counter(), time.process_time()
    asyncio.run(coro_factory())
    return time.perf_counter() - w0, time.process_time() - c0


def devices_only(seconds: float, rate_hz: float) -> tuple[float, float]:
    links = make_links(seconds, rate_hz, 1.0)
    count = [0]

    def sink(uuid, data, t):
        count[0] += 1

    async def main():
        await asyncio.gather(*(link.run(sink, lambda s, d: None) for link in links))

    return measure(main)


def session_run(seconds: float, rate_hz: float, speed: float, folder: Path) -> tuple:
    from imu_hip.session import DeviceSpec, Session

    links = make_links(seconds, rate_hz, speed)
    session = Session([DeviceSpec(link, link.placement, "imu-hip") for link in links],
                      record_to=folder / f"bench-{speed}.mcap")

    async def main():
        await session.run()

    wall, cpu = measure(main)
    return wall, cpu, session


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60.0, help="length of the paced runs")
    ap.add_argument("--rate", type=float, default=400.0, help="sample rate of each sensor")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        import imu_hip.pipeline  # noqa: F401 - import cost outside the timing
        import imu_hip.session  # noqa: F401

        w1, c1 = devices_only(args.seconds, args.rate)
        w2, c2, session = session_run(args.seconds, args.rate, 1.0, folder)
        w3, c3, fast = session_run(args.seconds, args.rate, math.inf, folder)
        size = (folder / "bench-1.0.mcap").stat().st_size

    steps = len(session.steps())
    print(f"three sensors at {args.rate:g} Hz, {args.seconds:g} s paced in real time")
    print(f"  devices only         : wall {w1:6.1f} s  CPU {c1:6.2f} s  = {100 * c1 / w1:5.1f} "
          "% of one core")
    print(f"  session + recording  : wall {w2:6.1f} s  CPU {c2:6.2f} s  = {100 * c2 / w2:5.1f} "
          "% of one core")
    print(f"  host share (2) - (1) :                            = {100 * (c2 / w2 - c1 / w1):5.1f}"
          " % of one core")
    print(f"  recording {size / 1e6:.2f} MB ({size / args.seconds / 1e3:.0f} kB/s), "
          f"{steps} sacral steps")
    sensor_s = 3 * args.seconds
    print(f"unpaced: {sensor_s:g} sensor-seconds in wall {w3:.2f} s, CPU {c3:.2f} s = "
          f"{sensor_s / c3:.0f} sensor-seconds per CPU second (devices included)")


if __name__ == "__main__":
    main()
