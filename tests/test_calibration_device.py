"""Calibration to and from a device, end to end over BleakLink (real bleak on the bumble backend)
and an emulated imu-hip sensor: the command responses must arrive as notifications on the
Response characteristic and reach the :class:`~imu_hip.calibration.CommandChannel` (not only the
read-back fallback), also while a :class:`~imu_hip.session.Session` streams the same device.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from bumble_bleak.backend import BumbleWorld
from bumble_bleak.devices import imu_hip_device

from imu_hip import calibration as C
from imu_hip.ble.bleak_link import BleakBackends, BleakLink
from imu_hip.cli import main
from imu_hip.io.mcap_file import read_raw
from imu_hip.model import ImuHipError
from imu_hip.protocols import imu_hip_protocol as proto
from imu_hip.session import DeviceSpec, Session

ADDRESS = "F0:00:00:00:00:01"
FAST = {"backoff_s": (0.05, 0.2), "connect_timeout_s": 2.0, "scan_timeout_s": 1.0}


def run(coro, timeout: float = 20.0):
    async def bounded():
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())


def a_calibration(seed: int) -> C.Calibration:
    rng = np.random.default_rng(seed)
    return C.Calibration(ADDRESS, rng.normal(0, 0.2, 3), np.eye(3) + rng.normal(0, 0.01, (3, 3)),
                         rng.normal(0, 0.01, 3), method="test")


class CountingReads:
    """Wraps a link: counts reads of the Response characteristic (the channel's fallback)."""

    def __init__(self, link):
        self.link = link
        self.response_reads = 0
        self.info = link.info

    async def run(self, on_notification, on_state):
        await self.link.run(on_notification, on_state)

    async def stop(self):
        await self.link.stop()

    async def write(self, uuid, data):
        await self.link.write(uuid, data)

    async def read(self, uuid):
        if uuid == proto.RESPONSE_UUID:
            self.response_reads += 1
        return await self.link.read(uuid)


@pytest.mark.parametrize("seed", [1, 2])
def test_write_then_read_round_trips_over_bleak_link(seed):
    cal = a_calibration(seed)

    async def main_():
        async with BumbleWorld() as world:
            dev = await imu_hip_device(world, ADDRESS)
            link = CountingReads(BleakLink(ADDRESS, "imu-hip", backends=BleakBackends(
                world.client_backend, world.scanner_backend), **FAST))
            channel = C.CommandChannel(link, timeout_s=1.0)
            streaming = asyncio.Event()
            data = []

            def on_notification(uuid, payload, t):
                if not channel.on_notification(uuid, payload, t):
                    data.append((uuid, payload))

            def on_state(state, detail):
                if state == "streaming":
                    streaming.set()

            task = asyncio.create_task(link.run(on_notification, on_state))
            await streaming.wait()
            before = await C.read_from_device(channel, ADDRESS)
            back = await C.write_to_device(channel, cal)
            again = await C.read_from_device(channel, ADDRESS)
            await asyncio.sleep(0.3)  # streaming goes on
            await link.stop()
            await task
            return dev, before, back, again, link.response_reads, data

    dev, before, back, again, reads, data = run(main_())
    assert reads == 0  # every response came as a notification
    # the only responses passed on are those to the link's own start and stop commands
    passed = [proto.decode_response(d).op for u, d in data if u == proto.RESPONSE_UUID]
    own = [proto.decode_command(c).op
           for c in (*proto.PROFILE.start_commands, *proto.PROFILE.stop_commands)]
    assert sorted(passed) == sorted(own)
    assert sum(u == proto.DATA_UUID for u, _ in data) > 3
    np.testing.assert_array_equal(before.acc_matrix, np.eye(3))  # the device's default
    for got in (back, again):
        np.testing.assert_array_equal(got.acc_bias_mps2, cal.acc_bias_mps2.astype(np.float32))
        np.testing.assert_array_equal(got.acc_matrix, cal.acc_matrix.astype(np.float32))
        np.testing.assert_array_equal(got.gyr_bias_rads, cal.gyr_bias_rads.astype(np.float32))
    stored = proto.unpack_calibration(dev.state.calibration)
    np.testing.assert_array_equal(np.array(stored.acc_matrix), back.acc_matrix)


def test_round_trip_while_a_session_streams_and_records(tmp_path):
    """The session hands command responses to the channel (``on_response``, as ``imu-hip
    calibrate --device --write-device`` does), keeps streaming and records only sample data."""
    cal = a_calibration(3)
    path = tmp_path / "cal.mcap"

    async def main_():
        async with BumbleWorld() as world:
            dev = await imu_hip_device(world, ADDRESS)
            link = CountingReads(BleakLink(ADDRESS, "imu-hip", backends=BleakBackends(
                world.client_backend, world.scanner_backend), **FAST))
            channel = C.CommandChannel(link, timeout_s=1.0)
            result = {}

            async def on_connect(spec):
                result["back"] = await C.write_to_device(channel, cal)
                await asyncio.sleep(0.3)  # and stream on
                session.request_stop()

            session = Session([DeviceSpec(link, "sacrum", "imu-hip", device_id="hip")],
                              record_to=path, on_connect=on_connect,
                              on_response=lambda _s, u, d, t: channel.on_notification(u, d, t))
            await session.run()
            return dev, result, session.status()["hip"], link.response_reads

    dev, result, status, reads = run(main_())
    assert reads == 0
    back = result["back"]
    np.testing.assert_array_equal(back.acc_matrix, cal.acc_matrix.astype(np.float32))
    assert status.samples > 0 and status.malformed == 0
    raw = read_raw(path)
    assert raw and all(proto.parse_frame(d) is not None for _, _, d in raw)
    assert len(raw) == status.packets


def test_refusal_is_a_one_line_error():
    """A calibration the device refuses (non-finite values) is an ImuHipError naming it."""
    bad = a_calibration(4)
    bad.acc_bias_mps2[0] = np.nan

    async def main_():
        async with BumbleWorld() as world:
            await imu_hip_device(world, ADDRESS)
            link = BleakLink(ADDRESS, "imu-hip", backends=BleakBackends(
                world.client_backend, world.scanner_backend), **FAST)
            channel = C.CommandChannel(link, timeout_s=1.0)
            streaming = asyncio.Event()
            task = asyncio.create_task(link.run(
                channel.on_notification,
                lambda s, d: streaming.set() if s == "streaming" else None))
            await streaming.wait()
            try:
                with pytest.raises(ImuHipError, match="refused op 0x07"):
                    await C.write_to_device(channel, bad)
            finally:
                await link.stop()
                await task

    run(main_())


def test_cli_calibrate_device_without_adapter_is_one_line_exit_2(monkeypatch, capsys):
    from bumble_bleak.backend import NoAdapterScanner

    import imu_hip.commands.calibrate as cmd

    monkeypatch.setattr(cmd, "BLEAK_BACKENDS", BleakBackends(scanner=NoAdapterScanner))
    assert main(["calibrate", "accel", "--device", "IMU-HIP 0001"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "no usable Bluetooth adapter" in err
