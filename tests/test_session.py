"""Live sessions over virtual devices: faults, time alignment, recording, redecoding, hooks."""

from __future__ import annotations

import asyncio
import errno
import math
import threading

import numpy as np
import pytest

from imu_hip.ble.virtual import Faults, SimSource, VirtualLink, virtual_devices
from imu_hip.io.mcap_file import read_mcap, read_raw, read_raw_devices
from imu_hip.model import ImuHipError
from imu_hip.protocols.base import DecodedBlock, Decoder
from imu_hip.session import DeviceSpec, DeviceStream, Session, redecode

FAST = math.inf  # unpaced virtual devices


def specs(links) -> list[DeviceSpec]:
    return [DeviceSpec(link, link.placement, "imu-hip") for link in links]


def run(session: Session) -> None:
    asyncio.run(session.run())


def concat(blocks, sensor_id):
    bs = [b for b in blocks if b.sensor_id == sensor_id]
    return (np.concatenate([b.t_s for b in bs]), np.concatenate([b.acc_mps2 for b in bs]),
            np.concatenate([b.gyr_rads for b in bs]))


@pytest.fixture(scope="module")
def faulty_run(tmp_path_factory):
    """Three devices, the sacral one with every fault at once; recorded."""
    path = tmp_path_factory.mktemp("faulty") / "run.mcap"
    faults = {"sacrum": Faults(drop_prob=0.006, duplicate_prob=0.03, reorder_prob=0.03,
                               corrupt_prob=0.003, link_loss_at_s=(22.0,), link_loss_s=2.0,
                               duplicate_after_reconnect=True, clock_offset_s=1234.5,
                               clock_drift_ppm=45.0, jitter_mean_s=0.01,
                               burst_every_s=15.0)}
    links = virtual_devices(("sacrum", "left_foot", "right_foot"), duration_s=40.0, speed=FAST,
                            seed=11, faults=faults)
    blocks = []
    connects = []

    async def on_connect(spec):
        connects.append(spec.device_id)

    session = Session(specs(links), record_to=path, on_block=blocks.append, on_connect=on_connect)
    run(session)
    return session, links, blocks, path, connects


def test_faults_are_counted_exactly(faulty_run):
    session, links, blocks, path, _ = faulty_run
    sac = links[0].stats
    st = session.status()["SIM:sacrum"]
    assert sac.dropped and sac.duplicated and sac.reordered and sac.corrupted
    assert st.state == "stopped" and st.reconnects == 1
    assert st.packets == sac.sent
    assert st.malformed >= sac.corrupted  # a duplicated corrupt frame counts twice
    # every frame that never arrived intact is lost; nothing else
    assert st.lost_packets == sac.dropped + sac.lost_in_outage + sac.corrupted
    assert st.late == 0
    assert st.duplicates == sac.sent - (sac.frames - sac.dropped - sac.lost_in_outage) \
        - (st.malformed - sac.corrupted)
    assert 0 < st.loss_pct < 100
    assert math.isfinite(st.drift_ppm) and st.drift_ppm == pytest.approx(45.0, abs=10.0)
    for other in ("SIM:left_foot", "SIM:right_foot"):
        s = session.status()[other]
        assert s.lost_packets == 0 and s.duplicates == 0 and s.malformed == 0


def test_gaps_marked_and_times_increase(faulty_run):
    session, _, blocks, _, _ = faulty_run
    sac = [b for b in blocks if b.sensor_id == "SIM:sacrum"]
    assert sum(b.gap_before for b in sac) == session.status()["SIM:sacrum"].gaps > 0
    t = np.concatenate([b.t_s for b in sac])
    assert np.all(np.diff(t) > 0)
    # inside each gap-free run the sample spacing is the device's (400 Hz, drift-corrected)
    dt = np.concatenate([np.diff(b.t_s) for b in sac])
    assert np.allclose(dt, 1 / 400, atol=2e-5)


def test_every_notification_is_in_the_recording(faulty_run):
    session, links, _, path, _ = faulty_run
    raw = read_raw(path)
    for link in links:
        mine = [r for r in raw if r[0] == link.info.address]
        assert len(mine) == link.stats.sent
        times = [r[1] for r in mine]
        assert times == sorted(times)
    meta = read_raw_devices(path)
    assert meta["SIM:sacrum"]["protocol"] == "imu-hip"
    assert meta["SIM:left_foot"]["placement"] == "left_foot"


def test_recording_holds_the_blocks_and_redecodes_exactly(faulty_run):
    _, links, blocks, path, _ = faulty_run
    rec = read_mcap(path)
    red = redecode(path)
    assert rec.metadata.get("truncated") is None
    assert {s.sensor_id for s in rec.sensors} == {link.info.address for link in links}
    for s in rec.sensors:
        t, acc, gyr = concat(blocks, s.sensor_id)
        assert np.array_equal(s.t_s, t) and np.array_equal(s.acc_mps2, acc)
        r = next(x for x in red.sensors if x.sensor_id == s.sensor_id)
        assert np.array_equal(r.t_s, s.t_s)
        assert np.array_equal(r.acc_mps2, s.acc_mps2)
        assert np.array_equal(r.gyr_rads, s.gyr_rads)
        assert r.placement == s.placement


def test_on_connect_runs_at_every_connection(faulty_run):
    *_, connects = faulty_run
    assert connects.count("SIM:sacrum") == 2  # start and after the link loss
    assert connects.count("SIM:left_foot") == 1


def test_sacral_steps_are_measured(faulty_run):
    session, *_ = faulty_run
    steps = session.steps()
    assert len(steps) > 20  # each lost packet is a gap no step may cross
    assert np.nanmedian(steps["cadence_spm"]) == pytest.approx(170, abs=10)
    assert len(session.steps("left_foot")) == 0


def test_sensors_agree_in_time_despite_offsets_drift_and_jitter():
    """Samples taken at the same instant get host times within 5 ms on every device."""
    faults = {
        "sacrum": Faults(clock_offset_s=-500.0, clock_drift_ppm=50.0, jitter_mean_s=0.003),
        "left_foot": Faults(clock_offset_s=7.0, clock_drift_ppm=-50.0, jitter_mean_s=0.02,
                            burst_every_s=20.0),
        "right_foot": Faults(clock_offset_s=3e5, clock_drift_ppm=0.0, jitter_mean_s=0.008),
    }
    links = virtual_devices(("sacrum", "left_foot", "right_foot"), duration_s=90.0,
                            speed=FAST, seed=3, faults=faults)
    blocks = []
    run(Session(specs(links), on_block=blocks.append))
    mapped = {}
    for link in links:
        t, _, _ = concat(blocks, link.info.address)
        truth = link.true_host_time(np.arange(t.size))
        err = t - truth - link.faults.latency_s
        settled = truth - truth[0] > 10.0  # the fit settles within seconds (bursts at start)
        assert np.max(np.abs(err[settled])) < 2.5e-3
        assert np.min(err) > -1e-3  # before that, late only: delivery only adds latency
        mapped[link.placement] = (t - truth)[settled]
    n = min(v.size for v in mapped.values())
    # drift makes the same index a different true instant; compare errors against truth
    errs = np.stack([v[:n] for v in mapped.values()])
    assert np.max(errs.max(axis=0) - errs.min(axis=0)) < 5e-3


class NoTimesDecoder(Decoder):
    """The imu-hip decoder with sequence numbers and timestamps removed (a plain device)."""

    name = "plain"

    def __init__(self, sensor_id: str = "") -> None:
        from imu_hip import protocols

        super().__init__(sensor_id)
        self.inner = protocols.decoder("imu-hip", sensor_id)
        self.stats = self.inner.stats

    def feed(self, data: bytes, received_at: float) -> list[DecodedBlock]:
        return [DecodedBlock(b.sensor_id, b.rate_hz, b.received_at, None, None, b.acc_mps2,
                             b.gyr_rads) for b in self.inner.feed(data, received_at)]


def test_device_without_timestamps_gets_rate_based_times():
    links = virtual_devices(("sacrum",), duration_s=90.0, speed=FAST, seed=5,
                            faults={"sacrum": Faults(clock_drift_ppm=300.0,
                                                     jitter_mean_s=0.006)})
    blocks = []
    session = Session(specs(links), on_block=blocks.append,
                      decoder_for=lambda proto, dev: NoTimesDecoder(dev))
    run(session)
    t, _, _ = concat(blocks, "SIM:sacrum")
    truth = links[0].true_host_time(np.arange(t.size))
    err = t - truth - links[0].faults.latency_s
    assert np.all(np.diff(t) > 0)
    assert np.max(np.abs(err)) < 5e-3
    assert session.status()["SIM:sacrum"].drift_ppm == pytest.approx(300.0, abs=30.0)


def test_device_that_never_answers_does_not_stop_the_others(tmp_path):
    source = SimSource(("sacrum", "left_foot"), duration_s=15.0, seed=1)
    good = VirtualLink("sacrum", source, speed=FAST)
    mute = VirtualLink("left_foot", source, Faults(never_answers=True, connect_timeout_s=1.0),
                       speed=FAST)
    session = Session(specs([good, mute]), record_to=tmp_path / "r.mcap")
    run(session)
    st = session.status()
    assert st["SIM:left_foot"].state == "failed" and st["SIM:left_foot"].packets == 0
    assert st["SIM:sacrum"].samples == 15 * 400
    rec = read_mcap(tmp_path / "r.mcap")
    assert [s.placement for s in rec.sensors] == ["sacrum"]


def test_stop_closes_the_recording_and_status_from_another_thread(tmp_path):
    links = virtual_devices(("sacrum", "right_foot"), duration_s=None, speed=20.0, seed=2)
    session = Session(specs(links), record_to=tmp_path / "r.mcap")
    seen = []
    done = threading.Event()

    def watcher():
        while not done.is_set():
            seen.append(session.status())
            done.wait(0.05)
        session.request_stop()  # from a foreign thread

    async def main():
        th = threading.Thread(target=watcher)
        th.start()
        task = asyncio.create_task(session.run())
        await asyncio.sleep(1.5)
        done.set()
        await asyncio.wait_for(task, 10.0)
        th.join()

    asyncio.run(main())
    assert any(s["SIM:sacrum"].packets > 0 for s in seen)
    rec = read_mcap(tmp_path / "r.mcap")
    assert rec.metadata.get("truncated") is None  # closed properly
    assert all(len(s) > 400 for s in rec.sensors)
    assert all(s.state == "stopped" for s in session.status().values())


class Offset:
    """A calibration: adds 1 m/s² to x (and says so)."""

    def apply(self, block):
        from dataclasses import replace

        return replace(block, acc_mps2=block.acc_mps2 + np.array([1.0, 0.0, 0.0]))

    def metadata(self):
        return {"kind": "test offset"}


def test_calibration_hook_is_applied_recorded_and_redecoded(tmp_path):
    path = tmp_path / "cal.mcap"
    links = virtual_devices(("sacrum",), duration_s=12.0, speed=FAST, seed=4)
    asked = []

    def calibration_for(device_id):
        asked.append(device_id)
        return Offset()

    run(Session(specs(links), record_to=path, calibration_for=calibration_for))
    assert asked == ["SIM:sacrum"]
    rec = read_mcap(path)
    plain = redecode(path)
    again = redecode(path, calibration_for=calibration_for)
    s = rec.sensors[0]
    assert s.metadata["calibration.kind"] == "test offset"
    assert np.array_equal(again.sensors[0].acc_mps2, s.acc_mps2)
    assert np.allclose(s.acc_mps2 - plain.sensors[0].acc_mps2, [1.0, 0.0, 0.0])


class FailingFile:
    """A file on a disk that fills up after ``limit`` bytes (writes what fits, then ENOSPC)."""

    def __init__(self, f, limit):
        self.f, self.limit, self.written = f, limit, 0

    def write(self, data):
        room = self.limit - self.written
        if len(data) > room:
            if room > 0:
                self.f.write(bytes(data[:room]))
                self.f.flush()
                self.written += room
            raise OSError(errno.ENOSPC, "No space left on device")
        self.written += len(data)
        return self.f.write(data)

    def __getattr__(self, name):
        return getattr(self.f, name)


def test_disk_full_keeps_everything_flushed_before(tmp_path, monkeypatch):
    import builtins

    import imu_hip.io.mcap_file as mcap_file

    path = tmp_path / "full.mcap"
    real_open = builtins.open
    monkeypatch.setattr(mcap_file, "open",
                        lambda p, mode="r", *a, **k: FailingFile(real_open(p, mode, *a, **k),
                                                                  150_000), raising=False)
    blocks: list = []
    flushed_at: list[int] = []
    real_fsync = mcap_file.os.fsync

    def fsync(fd):
        real_fsync(fd)
        flushed_at.append(len(blocks))

    monkeypatch.setattr(mcap_file.os, "fsync", fsync)
    links = virtual_devices(("sacrum",), duration_s=None, speed=30.0, seed=6)
    session = Session(specs(links), record_to=path, on_block=blocks.append,
                      flush_interval_s=0.1)

    async def main():
        await asyncio.wait_for(session.run(), 60.0)

    asyncio.run(main())  # the failure stops the session by itself
    assert session.recording_error is not None and "No space" in session.recording_error
    rec = read_mcap(path)
    assert rec.metadata["truncated"] == "true"
    got = rec.sensors[0]
    safe = blocks[:flushed_at[-1]]  # blocks handed over before the last successful flush
    n_safe = sum(len(b) for b in safe)
    assert n_safe > 400 and len(got) >= n_safe
    t, acc, _ = concat(blocks, "SIM:sacrum")
    assert np.array_equal(got.t_s, t[:len(got)]) and np.array_equal(got.acc_mps2,
                                                                    acc[:len(got)])


def test_device_stream_is_deterministic_and_rejects_unknown_protocol():
    with pytest.raises(ImuHipError):
        DeviceStream("x", "sacrum", "no-such-protocol")
    with pytest.raises(ImuHipError):
        DeviceSpec(virtual_devices(("sacrum",), 1.0)[0], "knee", "imu-hip")
    links = virtual_devices(("sacrum", "left_foot"), 5.0)
    with pytest.raises(ImuHipError):
        Session([DeviceSpec(links[0], "sacrum", "imu-hip", device_id="a"),
                 DeviceSpec(links[1], "left_foot", "imu-hip", device_id="a")])


def test_too_short_for_analysis_is_logged_as_a_plain_message(caplog):
    """One second of a sacral sensor cannot be analysed; the session says why in one plain
    line (no exception type: it is the data, not a bug) and counts it."""
    links = virtual_devices(("sacrum",), duration_s=1.0, speed=FAST, seed=2)
    session = Session(specs(links))
    with caplog.at_level("WARNING", logger="imu_hip.session"):
        run(session)
    lines = [r.getMessage() for r in caplog.records if "sacral analysis" in r.getMessage()]
    assert session.analysis_errors == 1
    assert lines and "at least 2 s" in lines[0]
    assert "Error" not in lines[0]
    session._analysis_failed(ZeroDivisionError("bug"))
    assert "ZeroDivisionError" in caplog.records[-1].getMessage()


def test_a_calibration_hook_without_metadata_does_not_stop_the_analysis():
    """A plain function as calibration hook (no ``metadata()``): the sacral analysis runs."""
    links = virtual_devices(("sacrum",), duration_s=20.0, speed=FAST, seed=4)
    session = Session(specs(links), calibration_for=lambda device_id: (lambda block: block))
    run(session)
    assert session.analysis_errors == 0
    assert len(session.steps()) > 20


def test_a_calibration_hook_whose_metadata_fails_does_not_stop_the_device():
    """The session reads a hook's metadata() to find the raw readings behind it; a hook whose
    metadata() raises costs only that (no raw map), not the device."""

    class Hook:
        def apply(self, block):
            return block

        def metadata(self):
            raise RuntimeError("boom")

    links = virtual_devices(("sacrum",), duration_s=20.0, speed=FAST, seed=4)
    session = Session(specs(links), calibration_for=lambda device_id: Hook())
    run(session)
    assert session.analysis_errors == 0
    assert len(session.steps()) > 20
    assert session.raw_acc_map(session._sacral_id) is None


def test_live_sacral_stage_gets_the_raw_map_of_a_stored_calibration():
    from imu_hip.calibration import Calibration
    from imu_hip.calibration.gyro import LiveCalibration

    matrix = np.array([[1.01, 0.03, -0.02], [0.02, 0.99, 0.03], [-0.03, 0.02, 1.02]])
    cal = Calibration("x", np.array([0.05, -0.03, 0.08]), matrix, np.zeros(3), method="test")
    links = virtual_devices(("sacrum",), duration_s=15.0, speed=FAST, seed=4)
    session = Session(specs(links), calibration_for=lambda device_id: LiveCalibration(cal))
    raw = np.random.default_rng(1).normal(size=(50, 3))
    np.testing.assert_allclose(session.raw_acc_map(session._sacral_id)(cal.correct_acc(raw)),
                               raw, atol=1e-12)
    run(session)
    assert session._sacral is not None and session._sacral._sensor_acc is not None
