"""Polar PMD over BleakLink (bumble backend) through a Session: a lost ACC frame leaves a hole
of exactly one frame in the recorded stream, and every other sample keeps its 1/52 s spacing
(PMD frames have no sequence numbers; the rate must not be re-estimated across the hole)."""

from __future__ import annotations

import asyncio

import numpy as np
from bumble_bleak.backend import BumbleWorld
from bumble_bleak.devices import polar_device, signal
from bumble_bleak.peripherals import Faults

from imu_hip.ble.bleak_link import BleakBackends, BleakLink
from imu_hip.session import DeviceSpec, Session

ADDRESS = "F0:00:00:00:00:03"
PER_FRAME = 13


def test_lost_acc_frame_is_one_hole_with_right_sample_times():
    blocks = []

    async def main():
        async with BumbleWorld() as world:
            # frame k: ACC for even k, GYRO for odd k; 8 and 14 are ACC frames 4 and 7
            dev = await polar_device(world, ADDRESS, faults=Faults(drop={8, 14}),
                                     per_frame=PER_FRAME)
            link = BleakLink(ADDRESS, "polar-pmd", backends=BleakBackends(
                world.client_backend, world.scanner_backend), connect_timeout_s=2.0,
                scan_timeout_s=1.0)
            session = Session([DeviceSpec(link, "left_foot", "polar-pmd", device_id="p")],
                              on_block=blocks.append)
            task = asyncio.create_task(session.run())
            while dev.next_k < 30:
                await asyncio.sleep(0.05)
            await session.stop()
            await task
            return dev, session.status()["p"]

    async def bounded():
        async with asyncio.timeout(20):
            return await main()

    dev, status = asyncio.run(bounded())
    t = np.concatenate([b.t_s for b in blocks])
    acc = np.concatenate([b.acc_mps2 for b in blocks])
    assert all(b.rate_hz == 52.0 for b in blocks)
    steps = np.rint(np.diff(t) * 52.0).astype(int)
    # two holes of one frame each (13 samples missing: a step of 14 sample periods)
    assert sorted(steps[steps != 1].tolist()) == [PER_FRAME + 1, PER_FRAME + 1]
    np.testing.assert_allclose(np.diff(t)[steps == 1], 1 / 52.0, rtol=2e-3)
    assert status.gaps == 2 and status.lost_packets == 2
    # and each sample is the one sent at its time (the same motion the device encodes)
    i = np.concatenate(([0], np.cumsum(steps)))
    sent, _ = signal(0, int(i[-1]) + 400, 52.0)
    first = int(np.argmin([np.abs(sent[k:k + 10] - acc[:10]).max() for k in range(400)]))
    assert np.abs(acc - sent[first + i]).max() <= 0.5e-3 * 9.80665 + 1e-9
    # the ACC frames sent after each hole were decoded at 52 Hz, not 26
    sent_acc = [k for k, _ in dev.sent if k % 2 == 0]
    assert 8 not in sent_acc and 14 not in sent_acc
