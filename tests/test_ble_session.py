"""End to end: Session + BleakLink (real bleak on the bumble backend) + MCAP recording.

An emulated imu-hip sensor streams at its real rate with dropped, duplicated, reordered and
corrupted notifications and a peripheral-initiated disconnect; the session must reconnect,
record every notification that arrived (bytes and receive time) and mark the gaps.
"""

from __future__ import annotations

import asyncio
import random

import numpy as np
import pytest
from bumble_bleak.backend import BumbleWorld
from bumble_bleak.devices import imu_hip_device
from bumble_bleak.peripherals import Faults

from imu_hip.ble.bleak_link import BleakBackends, BleakLink
from imu_hip.io.mcap_file import read_mcap, read_raw
from imu_hip.model import find_gaps
from imu_hip.protocols import imu_hip_protocol as ihp
from imu_hip.session import DeviceSpec, Session, redecode


def test_session_over_bleak_link_records_every_arrived_packet_and_marks_gaps(tmp_path):
    path = tmp_path / "run.mcap"
    faults = Faults(drop={5, 6}, duplicate={10}, reorder={14}, corrupt={18}, disconnect_after=[30])

    async def main():
        async with BumbleWorld() as world:
            dev = await imu_hip_device(world, "F0:00:00:00:00:01", faults=faults)
            backends = BleakBackends(world.client_backend, world.scanner_backend)
            link = BleakLink("F0:00:00:00:00:01", "imu-hip", backends=backends,
                             backoff_s=(0.2, 0.5), connect_timeout_s=2.0, scan_timeout_s=1.0)
            arrived: list[tuple[str, bytes, float]] = []
            states: list[str] = []
            link_run = link.run

            async def tee_run(on_notification, on_state):
                def tee(uuid, data, t):
                    arrived.append((uuid, data, t))
                    on_notification(uuid, data, t)

                def tee_state(state, detail):
                    states.append(state)
                    on_state(state, detail)

                await link_run(tee, tee_state)

            link.run = tee_run  # type: ignore[method-assign]
            session = Session([DeviceSpec(link, "sacrum", "imu-hip", device_id="hip")],
                              record_to=path, flush_interval_s=0.2)
            task = asyncio.create_task(session.run())
            async with asyncio.timeout(20):
                while dev.connections < 2 or len(arrived) < 50:
                    await asyncio.sleep(0.05)
            status = session.status()["hip"]
            await session.stop()
            await task
            return dev, arrived, states, status

    async def bounded():
        async with asyncio.timeout(30):
            return await main()

    dev, arrived, states, status = asyncio.run(bounded())
    assert states[:4] == ["connecting", "streaming", "reconnecting", "streaming"]
    assert dev.control_writes.count(ihp.cmd_start()) == 2

    # every data notification that arrived is in the file, bytes and receive time, in order
    data = [(d, t) for u, d, t in arrived if u == ihp.DATA_UUID]
    raw = [(d, t) for device_id, t, d in read_raw(path) if device_id == "hip"]
    assert raw == data

    # what went wrong was counted: 1 duplicate, 1 malformed (CRC), frames lost to the drops,
    # the corrupt frame and the reconnect; each loss is a gap, in the status and in the file
    sent_seqs = {k for k, _ in dev.sent}
    missing = set(range(max(sent_seqs) + 1)) - sent_seqs
    assert {5, 6} <= missing and len(missing) >= 3  # dropped, and skipped while disconnected
    assert status.duplicates == 1
    assert status.malformed == 1
    assert status.lost_packets >= len(missing) + 1  # + the corrupt one
    assert status.gaps >= 3 and status.reconnects == 1
    rec = read_mcap(path)
    (hip,) = rec.sensors
    t = np.asarray(hip.t_s)
    assert np.all(np.diff(t) > 0)
    gaps = find_gaps(t, hip.rate_hz)
    assert len(gaps) >= 3
    # the samples of every unique intact frame that arrived are in the file
    intact = {f.seq for f in (ihp.parse_frame(d) for d, _ in data) if not isinstance(f, str)}
    assert len(t) == 19 * len(intact)
    # decoding the raw bytes again gives the same samples
    again = redecode(path)
    (hip2,) = again.sensors
    assert np.array_equal(np.asarray(hip2.t_s), t)
    assert np.array_equal(np.asarray(hip2.acc_mps2), np.asarray(hip.acc_mps2))


@pytest.mark.parametrize("seed", [1, 2])
def test_random_faults_are_counted_exactly(seed):
    """Disjoint random drops, duplicates, swaps and corruptions: the session's counts match."""
    rng = random.Random(seed)
    ks = rng.sample(range(2, 40, 2), 12)  # even frames: no two faults on neighbours
    faults = Faults(drop=set(ks[0:3]), duplicate=set(ks[3:6]), reorder=set(ks[6:9]),
                    corrupt=set(ks[9:12]))

    async def main():
        async with BumbleWorld() as world:
            dev = await imu_hip_device(world, "F0:00:00:00:00:01", faults=faults)
            link = BleakLink("F0:00:00:00:00:01", "imu-hip",
                             backends=BleakBackends(world.client_backend, world.scanner_backend),
                             connect_timeout_s=2.0, scan_timeout_s=1.0)
            session = Session([DeviceSpec(link, "sacrum", "imu-hip", device_id="hip")])
            task = asyncio.create_task(session.run())
            async with asyncio.timeout(15):
                while dev.next_k < 46:
                    await asyncio.sleep(0.05)
            await session.stop()
            await task
            return session.status()["hip"]

    status = asyncio.run(main())
    assert status.state == "stopped"
    assert status.duplicates == 3
    assert status.malformed == 3
    assert status.lost_packets == 6  # dropped + corrupted
    assert status.gaps == 6  # every hole is isolated (faults on even frames only)
    assert status.late == 0
