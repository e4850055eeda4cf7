"""BleakLink and scanning through the real bleak code paths, on a bumble backend.

bleak's BleakScanner / BleakClient and bleak-retry-connector run unchanged; only the backend
classes come from tests/bumble_bleak (bumble central + emulated peripherals on bumble's
in-process link).
"""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from bumble_bleak.backend import BumbleWorld
from bumble_bleak.devices import (
    imu_hip_device,
    polar_device,
    rsc_device,
    signal,
    thingy52_device,
    witmotion_device,
)
from bumble_bleak.peripherals import Faults

from imu_hip.ble.bleak_link import BleakBackends, BleakLink
from imu_hip.ble.link import LINK_STATES
from imu_hip.ble.scan import (
    NoBluetoothError,
    find_device,
    find_devices,
    format_results,
    scan,
)
from imu_hip.protocols import decoder
from imu_hip.protocols import imu_hip_protocol as ihp

FAST = {"backoff_s": (0.02, 0.1), "connect_timeout_s": 2.0, "scan_timeout_s": 1.0}


def run(coro, timeout: float = 20.0):
    async def bounded():
        async with asyncio.timeout(timeout):
            return await coro

    return asyncio.run(bounded())


class Recorder:
    """Collects what a link delivers: notifications and states, with a way to wait for them."""

    def __init__(self) -> None:
        self.notifications: list[tuple[str, bytes, float]] = []
        self.states: list[tuple[str, str]] = []
        self._changed = asyncio.Event()

    def on_notification(self, uuid: str, data: bytes, received_at: float) -> None:
        self.notifications.append((uuid, data, received_at))
        self._changed.set()

    def on_state(self, state: str, detail: str) -> None:
        assert state in LINK_STATES
        self.states.append((state, detail))
        self._changed.set()

    def data(self, uuid: str) -> list[bytes]:
        return [d for u, d, _ in self.notifications if u == uuid]

    async def wait_for(self, predicate, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()


async def start_link(link: BleakLink) -> tuple[Recorder, asyncio.Task]:
    rec = Recorder()
    task = asyncio.create_task(link.run(rec.on_notification, rec.on_state))
    return rec, task


def imu_hip_link(world: BumbleWorld, device, **kw) -> BleakLink:
    backends = BleakBackends(world.client_backend, world.scanner_backend)
    return BleakLink(device, "imu-hip", backends=backends, **{**FAST, **kw})


def decode_all(protocol: str, payloads: list[bytes]):
    dec = decoder(protocol)
    blocks = [b for i, p in enumerate(payloads) for b in dec.feed(p, float(i))]
    return dec, blocks


# -- scanning ----------------------------------------------------------------------------------


def test_scan_finds_each_emulated_device_with_its_protocol():
    async def main():
        async with BumbleWorld() as world:
            await imu_hip_device(world, "F0:00:00:00:00:01")
            await witmotion_device(world, "F0:00:00:00:00:02")
            await thingy52_device(world, "F0:00:00:00:00:03")
            await rsc_device(world, "F0:00:00:00:00:04", name="Footpod")
            return await scan(0.2, backend=world.scanner_backend)

    results = run(main())
    by_address = {r.info.address: r.info for r in results}
    assert {a: i.protocol for a, i in by_address.items()} == {
        "F0:00:00:00:00:01": "imu-hip",
        "F0:00:00:00:00:02": "witmotion",
        "F0:00:00:00:00:03": "thingy52",
        "F0:00:00:00:00:04": "rsc",
    }
    assert by_address["F0:00:00:00:00:01"].name == "IMU-HIP 0001"
    assert by_address["F0:00:00:00:00:01"].battery_pct == 77  # advertised as service data
    assert by_address["F0:00:00:00:00:03"].battery_pct is None  # not advertised
    assert all(i.rssi_dbm == -50 for i in by_address.values())  # what bumble reports


def test_scan_escapes_hostile_names_and_find_device_resolves_names():
    async def main():
        async with BumbleWorld() as world:
            await imu_hip_device(world, "F0:00:00:00:00:01", name="IMU-HIP \x1b[2J\x07x")
            await imu_hip_device(world, "F0:00:00:00:00:02", name="IMU-HIP left")
            results = await scan(0.2, backend=world.scanner_backend)
            by_name = await find_device("imu-hip l", 0.2, backend=world.scanner_backend)
            by_address = await find_device("f0:00:00:00:00:01", 0.2,
                                           backend=world.scanner_backend)
            with pytest.raises(Exception, match="several devices"):
                await find_device("IMU-HIP", 0.2, backend=world.scanner_backend)
            with pytest.raises(Exception, match="no supported device 'Polar'"):
                await find_device("Polar", 0.2, backend=world.scanner_backend)
            both = await find_devices(["imu-hip l", "F0:00:00:00:00:01"], 0.2,
                                      backend=world.scanner_backend)
            assert [r.info.address for r in both] == ["F0:00:00:00:00:02", "F0:00:00:00:00:01"]
            with pytest.raises(Exception, match="are the same device"):
                await find_devices(["imu-hip l", "F0:00:00:00:00:02"], 0.2,
                                   backend=world.scanner_backend)
            return results, by_name, by_address

    results, by_name, by_address = run(main())
    table = format_results(results)
    assert "\x1b" not in table and "\x07" not in table
    assert "\\x1b[2J" in table
    assert by_name.info.address == "F0:00:00:00:00:02"
    assert by_address.info.name.startswith("IMU-HIP \x1b")


def test_cli_scan_lists_devices(capsys):
    from imu_hip.commands.scan import scan_and_print

    class Args:
        timeout = 0.2
        all_devices = False

    async def main():
        async with BumbleWorld() as world:
            await imu_hip_device(world, "F0:00:00:00:00:01")
            await rsc_device(world, "F0:00:00:00:00:04", name="Footpod")
            return await scan_and_print(Args(), world.scanner_backend)

    assert run(main()) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["NAME", "ADDRESS", "RSSI", "PROTOCOL", "BATTERY"]
    assert any("F0:00:00:00:00:01" in line and "imu-hip" in line and "77 %" in line
               for line in out)
    assert any("Footpod" in line and "rsc" in line for line in out)


@pytest.mark.parametrize("failure", ["bleak", "dbus-socket"])
def test_cli_scan_without_adapter_is_one_line_exit_2(monkeypatch, capsys, failure):
    from bleak.backends.scanner import BaseBleakScanner

    import imu_hip.commands.scan as scan_command
    from imu_hip.cli import main

    if failure == "bleak":
        from bumble_bleak.backend import NoAdapterScanner

        backend = NoAdapterScanner
    else:

        class NoDbus(BaseBleakScanner):
            def __init__(self, detection_callback, service_uuids, *a, **k):
                super().__init__(detection_callback, service_uuids)

            async def start(self):
                raise FileNotFoundError(2, "No such file or directory")

            async def stop(self):
                pass

        backend = NoDbus
    monkeypatch.setattr(scan_command, "SCANNER_BACKEND", backend)
    assert main(["scan", "--timeout", "0.1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "no usable Bluetooth adapter" in err


def test_scan_error_type():
    async def main():
        from bleak.backends.scanner import BaseBleakScanner

        class Broken(BaseBleakScanner):
            def __init__(self, detection_callback, service_uuids, *a, **k):
                super().__init__(detection_callback, service_uuids)

            async def start(self):
                raise OSError("adapter hci0 is down")

            async def stop(self):
                pass

        await scan(0.1, backend=Broken)

    with pytest.raises(NoBluetoothError, match="hci0 is down"):
        run(main())


# -- streaming ---------------------------------------------------------------------------------


def test_link_connects_streams_and_stops_imu_hip():
    async def main():
        async with BumbleWorld() as world:
            dev = await imu_hip_device(world, "F0:00:00:00:00:01", rate_scale=4.0)
            found = await find_device("F0:00:00:00:00:01", 0.2, backend=world.scanner_backend)
            link = imu_hip_link(world, found.device, extra_notify_uuids=(ihp.RESPONSE_UUID,))
            rec, task = await start_link(link)
            await rec.wait_for(lambda: len(rec.data(ihp.DATA_UUID)) >= 20)
            # control commands go through the link and reach the device; responses come back
            await link.write(ihp.CONTROL_UUID, ihp.encode_command(ihp.Op.BATTERY, token=7))
            await link.write(ihp.CONTROL_UUID, ihp.encode_command(ihp.Op.DEVICE_INFO, token=8))
            cal = ihp.Calibration(acc_bias_mps2=(0.1, -0.2, 0.05))
            await link.write(ihp.CONTROL_UUID, ihp.cmd_write_calibration(cal, token=9))
            await link.write(ihp.CONTROL_UUID,
                             ihp.encode_command(ihp.Op.READ_CALIBRATION, token=10))
            await rec.wait_for(lambda: len(rec.data(ihp.RESPONSE_UUID)) >= 4)
            battery_char = await link.read("00002a19-0000-1000-8000-00805f9b34fb")
            await link.stop()
            await task
            return dev, link, rec, battery_char, cal

    t0 = time.monotonic()
    dev, link, rec, battery_char, cal = run(main())
    assert [s for s, _ in rec.states] == ["connecting", "streaming", "stopped"]
    assert link.mtu == 247
    assert link.info.battery_pct == 77  # read from the Battery Level characteristic
    assert battery_char == bytes([77])
    # the start command, four commands, the stop command - in that order
    assert dev.control_writes[0] == ihp.cmd_start()
    assert dev.control_writes[-1] == ihp.cmd_stop()
    assert dev.starts == 1 and dev.stops == 1
    responses = [ihp.decode_response(r) for r in rec.data(ihp.RESPONSE_UUID)]
    by_token = {r.token: r for r in responses}
    assert all(r.ok for r in responses)
    assert by_token[7].payload[0] == 77  # battery %
    assert by_token[10].payload == ihp.pack_calibration(cal)
    # every notification arrived intact, in order, and decodes to the samples sent
    data = rec.data(ihp.DATA_UUID)
    sent = [p for _, p in dev.sent]
    assert data == sent[: len(data)]
    dec, blocks = decode_all("imu-hip", data)
    assert dec.stats.malformed_total == 0
    acc = np.concatenate([b.acc_mps2 for b in blocks])
    gyr = np.concatenate([b.gyr_rads for b in blocks])
    want_acc, want_gyr = signal(0, len(acc), 400.0)
    assert np.max(np.abs(acc - want_acc)) <= ihp.acc_scale_mps2(dev.state.acc_range)
    assert np.max(np.abs(gyr - want_gyr)) <= ihp.gyr_scale_rads(dev.state.gyr_range)
    # receive times: host clock (epoch seconds), non-decreasing
    times = np.array([t for _, _, t in rec.notifications])
    assert np.all(np.diff(times) >= 0) and abs(times[-1] - time.time()) < 60
    assert time.monotonic() - t0 < 10


@pytest.mark.parametrize("make, protocol", [
    (polar_device, "polar-pmd"),
    (witmotion_device, "witmotion"),
    (thingy52_device, "thingy52"),
    (rsc_device, "rsc"),
])
def test_link_streams_other_protocols(make, protocol):
    async def main():
        async with BumbleWorld() as world:
            dev = await make(world, "F0:00:00:00:00:09", rate_scale=20.0 if protocol == "rsc"
                             else 1.0)
            backends = BleakBackends(world.client_backend, world.scanner_backend)
            # an address string: the link finds the device by scanning
            link = BleakLink("F0:00:00:00:00:09", protocol, backends=backends, **FAST)
            rec, task = await start_link(link)
            data_uuid = dev.profile.notify_uuids[0]
            await rec.wait_for(lambda: len(rec.data(data_uuid)) >= 12)
            await link.stop()
            await task
            return dev, rec, data_uuid

    dev, rec, data_uuid = run(main())
    data = rec.data(data_uuid)
    assert data == [p for _, p in dev.sent][: len(data)]
    # everything in arrival order (Polar: control-point responses carry the gyro FACTOR)
    dec, blocks = decode_all(protocol, [d for _, d, _ in rec.notifications])
    assert dec.stats.malformed_total == 0 and blocks
    if protocol == "rsc":
        speed = np.concatenate([b.values["speed_mps"] for b in blocks])
        want = [3.2 + 0.01 * (k % 10) for k in range(len(speed))]
        assert np.allclose(speed, want, atol=0.004)
        return
    rate = {"polar-pmd": 52.0, "witmotion": 50.0, "thingy52": 200.0}[protocol]
    acc = np.concatenate([b.acc_mps2 for b in blocks if b.acc_mps2 is not None])
    gyr = np.concatenate([b.gyr_rads for b in blocks if b.gyr_rads is not None])
    want_acc, _ = signal(0, len(acc), rate)
    _, want_gyr = signal(0, len(gyr), rate)
    assert np.max(np.abs(acc - want_acc)) < 0.01
    assert np.max(np.abs(gyr - want_gyr)) < np.radians(0.061)
    # the start commands on connecting, the stop commands on stop()
    assert dev.control_writes == [*dev.profile.start_commands, *dev.profile.stop_commands]
    if protocol == "polar-pmd":
        from imu_hip.protocols import polar_pmd as pmd

        responses = [pmd.parse_control_response(d) for d in rec.data(pmd.CONTROL_UUID)]
        # 200 Hz ACC refused, 52 Hz ACC and GYRO started (then the stop responses, if in time)
        assert [(r.op, r.meas_type, r.status) for r in responses][:3] == [
            (pmd.OP_START, pmd.ACC, 8), (pmd.OP_START, pmd.ACC, 0), (pmd.OP_START, pmd.GYRO, 0)]


def test_peripheral_disconnect_reconnects_and_resends_start():
    async def main():
        async with BumbleWorld() as world:
            dev = await imu_hip_device(world, "F0:00:00:00:00:01", rate_scale=4.0,
                                       faults=Faults(disconnect_after=[10, 25]))
            found = await find_device("F0:00:00:00:00:01", 0.2, backend=world.scanner_backend)
            link = imu_hip_link(world, found.device)
            rec, task = await start_link(link)
            await rec.wait_for(lambda: len(rec.data(ihp.DATA_UUID)) >= 40)
            await link.stop()
            await task
            return dev, link, rec

    dev, link, rec = run(main())
    states = [s for s, _ in rec.states]
    assert states == ["connecting", "streaming", "reconnecting", "streaming", "reconnecting",
                      "streaming", "stopped"]
    assert dev.connections == 3 and link.connections == 3
    assert dev.control_writes.count(ihp.cmd_start()) == 3  # start sent again every time
    assert dev.starts == 3
    # streaming continued: sequence numbers run on past both disconnects
    seqs = [ihp.parse_frame(d).seq for d in rec.data(ihp.DATA_UUID)]
    assert seqs[:10] == list(range(10)) and max(seqs) >= 39
    assert len(set(seqs)) == len(seqs)


def test_faults_are_delivered_as_they_happened_and_never_crash():
    faults = Faults(drop={3, 4}, duplicate={8}, reorder={12}, corrupt={16})

    async def main():
        async with BumbleWorld() as world:
            dev = await imu_hip_device(world, "F0:00:00:00:00:01", rate_scale=4.0, faults=faults)
            found = await find_device("F0:00:00:00:00:01", 0.2, backend=world.scanner_backend)
            link = imu_hip_link(world, found.device)
            rec, task = await start_link(link)
            await rec.wait_for(lambda: len(rec.data(ihp.DATA_UUID)) >= 25)
            await link.stop()
            await task
            return dev, rec

    dev, rec = run(main())
    data = rec.data(ihp.DATA_UUID)
    assert data == [p for _, p in dev.sent][: len(data)]  # the link adds and removes nothing
    frames = [ihp.parse_frame(d) for d in data]
    seqs = [f.seq for f in frames if not isinstance(f, str)]
    assert 3 not in seqs and 4 not in seqs
    assert seqs.count(8) == 2
    assert seqs.index(13) < seqs.index(12)
    assert sum(isinstance(f, str) for f in frames) == 1  # the corrupted one fails its CRC
    dec, blocks = decode_all("imu-hip", data)
    assert dec.stats.malformed_total == 1


def test_device_that_never_answers_connect_fails_in_bounded_time():
    async def main():
        async with BumbleWorld() as world:
            dev = await imu_hip_device(world, "F0:00:00:00:00:01")
            found = await find_device("F0:00:00:00:00:01", 0.2, backend=world.scanner_backend)
            await dev.go_silent()
            link = imu_hip_link(world, found.device, connect_timeout_s=0.4, max_attempts=3)
            rec, task = await start_link(link)
            t0 = time.monotonic()
            await task
            return time.monotonic() - t0, rec, dev

    elapsed, rec, dev = run(main())
    states = [s for s, _ in rec.states]
    assert states == ["connecting", "reconnecting", "reconnecting", "failed"]
    assert "attempt 3/3" in rec.states[-1][1]
    assert dev.connections == 0
    assert elapsed < 3 * 0.4 + 1.0


def test_device_that_never_starts_streaming_fails_in_bounded_time():
    async def main():
        async with BumbleWorld() as world:
            dev = await imu_hip_device(world, "F0:00:00:00:00:01",
                                       faults=Faults(ignore_start=True))
            found = await find_device("F0:00:00:00:00:01", 0.2, backend=world.scanner_backend)
            link = imu_hip_link(world, found.device, data_timeout_s=0.3, max_attempts=2)
            rec, task = await start_link(link)
            t0 = time.monotonic()
            await task
            return time.monotonic() - t0, rec, dev

    elapsed, rec, dev = run(main())
    states = [s for s, _ in rec.states]
    assert states == ["connecting", "streaming", "reconnecting", "streaming", "failed"]
    assert "no data" in rec.states[-1][1]
    assert dev.connections == 2 and dev.control_writes.count(ihp.cmd_start()) == 2
    assert elapsed < 2 * 0.3 + 1.5


def test_stop_while_connecting_returns_promptly():
    async def main():
        async with BumbleWorld() as world:
            dev = await imu_hip_device(world, "F0:00:00:00:00:01")
            found = await find_device("F0:00:00:00:00:01", 0.2, backend=world.scanner_backend)
            await dev.go_silent()
            link = imu_hip_link(world, found.device, connect_timeout_s=30.0)
            rec, task = await start_link(link)
            await asyncio.sleep(0.2)
            t0 = time.monotonic()
            await link.stop()
            await task
            # the adapter is free again: a new connection to a live device works
            other = await imu_hip_device(world, "F0:00:00:00:00:02", rate_scale=4.0)
            link2 = imu_hip_link(world, "F0:00:00:00:00:02")
            rec2, task2 = await start_link(link2)
            await rec2.wait_for(lambda: len(rec2.notifications) >= 3)
            await link2.stop()
            await task2
            return time.monotonic() - t0, rec, other

    elapsed, rec, other = run(main())
    assert [s for s, _ in rec.states] == ["connecting", "stopped"]
    assert elapsed < 3.0
    assert other.stops == 1


def test_write_and_read_when_not_connected_are_one_line_errors():
    from imu_hip.model import ImuHipError

    async def main():
        async with BumbleWorld() as world:
            link = imu_hip_link(world, "F0:00:00:00:00:01")
            with pytest.raises(ImuHipError, match="not connected"):
                await link.write(ihp.CONTROL_UUID, ihp.cmd_start())
            with pytest.raises(ImuHipError, match="not connected"):
                await link.read(ihp.CONTROL_UUID)

    run(main())


def test_three_devices_at_once_share_one_adapter():
    async def main():
        async with BumbleWorld() as world:
            devs = [await imu_hip_device(world, f"F0:00:00:00:00:0{i}", name=f"IMU-HIP {i}",
                                         rate_scale=4.0, sensor_id=i) for i in (1, 2, 3)]
            links = [imu_hip_link(world, d.address) for d in devs]
            started = [await start_link(link) for link in links]
            for rec, _ in started:
                await rec.wait_for(lambda rec=rec: len(rec.data(ihp.DATA_UUID)) >= 15)
            await asyncio.gather(*(link.stop() for link in links))
            await asyncio.gather(*(task for _, task in started))
            return devs, [rec for rec, _ in started]

    devs, recs = run(main())
    for dev, rec in zip(devs, recs, strict=True):
        data = rec.data(ihp.DATA_UUID)
        assert data == [p for _, p in dev.sent][: len(data)]  # each link got its own device
        assert {ihp.parse_frame(d).sensor_id for d in data} == {dev.state.sensor_id}
        assert [s for s, _ in rec.states] == ["connecting", "streaming", "stopped"]


def test_wrong_protocol_fails_with_the_reason():
    async def main():
        async with BumbleWorld() as world:
            await witmotion_device(world, "F0:00:00:00:00:01")
            link = imu_hip_link(world, "F0:00:00:00:00:01", max_attempts=2)
            rec, task = await start_link(link)
            await task
            return rec

    rec = run(main())
    assert [s for s, _ in rec.states] == ["connecting", "reconnecting", "failed"]
    assert "does not speak imu-hip: no characteristic bb220002" in rec.states[-1][1]


def test_stop_before_run_returns_at_once():
    async def main():
        async with BumbleWorld() as world:
            dev = await imu_hip_device(world, "F0:00:00:00:00:01")
            link = imu_hip_link(world, "F0:00:00:00:00:01")
            await link.stop()
            rec, task = await start_link(link)
            await task
            return rec, dev

    rec, dev = run(main())
    assert [s for s, _ in rec.states] == ["stopped"] and dev.connections == 0


def test_mtu_is_acquired_where_bluez_hides_it():
    async def main():
        async with BumbleWorld(bluez_mtu=True) as world:
            await imu_hip_device(world, "F0:00:00:00:00:01", rate_scale=4.0)
            link = imu_hip_link(world, "F0:00:00:00:00:01")
            rec, task = await start_link(link)
            await rec.wait_for(lambda: len(rec.data(ihp.DATA_UUID)) >= 2)
            await link.stop()
            await task
            return link, rec

    link, rec = run(main())
    assert link.mtu == 247
    assert rec.states[1] == ("streaming", "MTU 247")
