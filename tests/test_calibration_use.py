"""Calibration in use: the analysis applies it (and says so), the command line, the device.

The miscalibrated run: a simulated runner seen through a sensor with accelerometer bias up to
±0.6 m/s², scale and cross-axis errors of a few % (6 % low overall sensitivity) and a gyroscope
zero-rate offset of 0.15 rad/s (8.6 °/s) per axis - within the ±20 °/s of cheap parts such as
the MPU-6050, above the ±0.5-1 °/s of current ones. Running only (no still period), so nothing
but the stored calibration can remove the errors. Tolerances are the foundation's
(tests/test_recovery.py): pelvic drop and the three pelvic ranges within 1.5° of the truth.
Impact has no foundation tolerance; the calibrated run must match the clean sensor's analysis
within 0.03 g while the miscalibrated one is off by more than 0.1 g.
"""

import asyncio
import json
from functools import cache

import numpy as np
import pytest

from imu_hip import calibration as C
from imu_hip.ble.link import DeviceInfo, Link
from imu_hip.cli import main
from imu_hip.model import G, ImuHipError, Recording, SensorRecording
from imu_hip.pipeline import analyze, analyze_sensor
from imu_hip.protocols import imu_hip_protocol as proto
from imu_hip.sim import RunnerParams, simulate

PELVIS = ("pelvic_drop_deg", "pelvic_tilt_rom_deg", "pelvic_obliquity_rom_deg",
          "pelvic_rotation_rom_deg")


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(C.DATA_DIR_ENV, str(tmp_path / "data"))


def _errors() -> C.SensorErrors:
    e = C.random_sensor_errors(np.random.default_rng(21))
    gyr = np.array([0.15, -0.15, 0.15])
    return C.SensorErrors(e.acc_bias_mps2, e.acc_matrix * 1.06, gyr)


@cache
def _runs():
    errors = _errors()
    sim = simulate(RunnerParams(phases=(("run", 25.0),), rate_hz=200.0,
                                gyr_bias_rads=tuple(errors.gyr_bias_rads)),
                   seed=1, placements=("sacrum",))
    s = sim.recording.sensor("sacrum")
    clean = SensorRecording(s.sensor_id, s.placement, s.rate_hz, s.t_s, s.acc_mps2,
                            s.gyr_rads - errors.gyr_bias_rads)
    bad = SensorRecording(s.sensor_id, s.placement, s.rate_hz, s.t_s, errors.raw_acc(s.acc_mps2),
                          s.gyr_rads)
    rec = C.simulate_pose_session(errors, seed=2, device_id=s.sensor_id)
    cal = C.calibrate_from_recording(rec)
    return sim, clean, bad, cal


def _errors_vs_truth(steps, truth):
    return {c: float(np.nanmedian(steps[c]) - np.nanmedian(truth[c])) for c in PELVIS}


def test_calibration_brings_a_miscalibrated_run_back_within_tolerance():
    sim, clean, bad, cal = _runs()
    raw = analyze_sensor(bad, calibration=None)
    fixed = analyze_sensor(bad, calibration=cal)
    ref = analyze_sensor(clean, calibration=None)
    err_raw = _errors_vs_truth(raw.steps, sim.truth)
    err_fixed = _errors_vs_truth(fixed.steps, sim.truth)
    assert max(abs(v) for v in err_raw.values()) > 1.5, err_raw  # the errors matter
    assert max(abs(v) for v in err_fixed.values()) <= 1.5, err_fixed
    imp = {k: float(np.nanmedian(r.steps["impact_peak_g"])) for k, r in
           (("raw", raw), ("fixed", fixed), ("ref", ref))}
    assert abs(imp["raw"] - imp["ref"]) > 0.1, imp
    assert abs(imp["fixed"] - imp["ref"]) < 0.03, imp
    assert fixed.summary["calibration"]["applied"] == cal.label()
    assert raw.summary["calibration"]["applied"] == "none"


def test_stored_calibration_is_applied_automatically_and_stated(tmp_path):
    sim, _, bad, cal = _runs()
    C.save_calibration(cal)
    auto = analyze(Recording([bad]))
    given = analyze_sensor(bad, calibration=cal)
    info = auto.summary["calibration"]
    assert info["applied"] == cal.label() and info["file"].endswith(".json")
    np.testing.assert_array_equal(auto.steps["t_ic_s"], given.steps["t_ic_s"])
    # Written to summary.json too.
    auto.write(tmp_path / "out")
    written = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert written["calibration"]["applied"] == cal.label()


def test_a_recording_calibrated_live_is_not_calibrated_again():
    _, _, bad, cal = _runs()
    C.save_calibration(cal)
    live = SensorRecording(bad.sensor_id, bad.placement, bad.rate_hz, bad.t_s,
                           cal.correct_acc(bad.acc_mps2), cal.correct_gyr(bad.gyr_rads),
                           {f"calibration.{k}": v for k, v in cal.metadata().items()})
    out, info = C.prepare_for_analysis(live)
    assert "applied when recorded" in info["applied"]
    np.testing.assert_array_equal(out.acc_mps2, live.acc_mps2)


def test_gyro_bias_from_still_periods_is_used_in_the_analysis():
    sim = simulate(RunnerParams(phases=(("stand", 6.0), ("run", 20.0), ("stand", 4.0)),
                                rate_hz=200.0, gyr_bias_rads=(0.05, -0.04, 0.03)),
                   seed=3, placements=("sacrum",))
    s = sim.recording.sensor("sacrum")
    out, info = C.prepare_for_analysis(s)
    assert info["gyro_bias_still_periods"] == 2
    np.testing.assert_allclose(info["gyro_bias_tracked_rads"], sim.gyr_bias_rads["sacrum"],
                               atol=2e-3)
    still = (s.t_s > 1.0) & (s.t_s < 5.0)
    assert np.abs(out.gyr_rads[still].mean(axis=0)).max() < 2e-3


def _shoe_length_error(strides, truth) -> float:
    from imu_hip.validation import match_events

    left = truth["side"] == "left"
    ie, ir = match_events(strides["t_ic_s"], truth["t_ic_s"][left], 0.05)
    inner = strides["t_start_s"][ie] > 7.0  # strides of the run, not the start from standing
    return float(np.mean(strides["stride_length_m"][ie][inner]
                         - truth["stride_length_m"][left][ir][inner]))


def test_shoe_analysis_calibrates_too():
    """Shoes get the same calibration as the hip: a gyroscope offset of 2-3 deg/s, found over
    the standing before the run, no longer biases the strides (it tilts the foot's estimated
    orientation by ~2 deg per stride: +0.03 m here); the stored calibration is applied and
    stated."""
    from imu_hip.foot_pipeline import analyze_feet

    sim = simulate(RunnerParams(phases=(("stand", 6.0), ("run", 25.0)), rate_hz=200.0,
                                gyr_bias_rads=(0.05, -0.04, 0.05)),
                   seed=4, placements=("left_foot",))
    shoe = sim.recording.sensor("left_foot")
    auto = analyze_feet([shoe])
    raw = analyze_feet([shoe], calibration=None)
    assert auto.summary["sensors"][0]["calibration"]["gyro_bias_still_periods"] == 1
    assert abs(_shoe_length_error(auto.strides, sim.truth)) < 0.003
    assert abs(_shoe_length_error(raw.strides, sim.truth)) > 0.015
    cal = C.Calibration(shoe.sensor_id, np.zeros(3), np.eye(3), np.array([0.05, -0.04, 0.05]),
                        method="test")
    C.save_calibration(cal)
    stored = analyze_feet([shoe])
    assert stored.summary["sensors"][0]["calibration"]["applied"] == cal.label()
    assert abs(_shoe_length_error(stored.strides, sim.truth)) < 0.003


# -- command line ----------------------------------------------------------------------------


def test_cli_sim_writes_a_calibration(tmp_path, capsys):
    out = tmp_path / "cal.json"
    assert main(["calibrate", "accel", "--sim", "--seed", "3", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "pose 1 of 12" in text and "accepted" in text and "known errors recovered" in text
    cal = C.load_calibration(out)
    errors = C.random_sensor_errors(np.random.default_rng(3))
    assert np.abs(cal.acc_bias_mps2 - errors.acc_bias_mps2).max() < 0.01
    assert main(["calibrate", "show", str(out)]) == 0
    assert "acc_matrix" in capsys.readouterr().out


def test_cli_from_file_stores_under_the_sensor_id(tmp_path, capsys):
    from imu_hip.io.csv_file import write_csv

    errors = C.random_sensor_errors(np.random.default_rng(4))
    rec = C.simulate_pose_session(errors, device_id="AA:BB:CC:00:11:22", seed=4)
    path = tmp_path / "poses.csv"
    write_csv(rec, path)
    assert main(["calibrate", "accel", "--from-file", str(path)]) == 0
    cal = C.calibration_for("AA:BB:CC:00:11:22")
    assert cal is not None and np.abs(cal.acc_bias_mps2 - errors.acc_bias_mps2).max() < 0.01
    # A recording without enough poses: exit code 2 and a one-line message that says why.
    short = C.simulate_pose_session(errors, poses=C.FACE_POSES[:3], device_id="x")
    write_csv(short, tmp_path / "short.csv")
    capsys.readouterr()
    assert main(["calibrate", "accel", "--from-file", str(tmp_path / "short.csv")]) == 2
    err = capsys.readouterr().err.strip()
    assert "short.csv" in err and "at least six" in err and "\n" not in err


def test_cli_corrupt_calibration_is_named(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    assert main(["calibrate", "show", str(bad)]) == 2
    assert "bad.json" in capsys.readouterr().err


# -- the device (imu-hip protocol) -----------------------------------------------------------


class FakeDevice(Link):
    """A device speaking the imu-hip protocol (the protocol's reference DeviceState): responses
    are sent as notifications, or kept for reading when ``readable``."""

    def __init__(self, readable: bool = False, corrupt: bool = False, refuse: bool = False):
        self.info = DeviceInfo("imu-hip-fake", "AA:BB:CC:DD:EE:FF", "imu-hip")
        self.state = proto.DeviceState()
        self.readable, self.corrupt, self.refuse = readable, corrupt, refuse
        self.channel: C.CommandChannel | None = None
        self.last = b""

    async def run(self, on_notification, on_state):  # not used here
        raise NotImplementedError

    async def stop(self):
        pass

    async def write(self, uuid, data):
        assert uuid == proto.CONTROL_UUID
        cmd = proto.decode_command(data)
        if self.refuse and cmd.op == proto.Op.WRITE_CALIBRATION:
            resp = proto.encode_response(cmd.op, cmd.token, proto.Status.FAILED)
        else:
            resp = self.state.handle_command(data)
        if self.corrupt and cmd.op == proto.Op.WRITE_CALIBRATION:
            raw = bytearray(self.state.calibration)
            raw[0] ^= 0x40
            self.state.calibration = bytes(raw)
        self.last = resp
        if not self.readable and self.channel is not None:
            self.channel.on_notification(proto.RESPONSE_UUID, resp, 0.0)

    async def read(self, uuid):
        if not self.readable:
            raise ImuHipError("not readable")
        assert uuid == proto.RESPONSE_UUID
        return self.last


def _exchange(dev: FakeDevice, cal):
    async def go():
        channel = C.CommandChannel(dev, timeout_s=0.05)
        dev.channel = channel
        return await C.write_to_device(channel, cal)

    return asyncio.run(go())


@pytest.mark.parametrize("readable", [False, True])
def test_write_and_read_back_a_calibration(readable):
    cal = _runs()[3]
    back = _exchange(FakeDevice(readable=readable), cal)
    np.testing.assert_array_equal(back.acc_matrix.astype(np.float32),
                                  cal.acc_matrix.astype(np.float32))
    np.testing.assert_array_equal(back.gyr_bias_rads.astype(np.float32),
                                  cal.gyr_bias_rads.astype(np.float32))


def test_device_refusal_and_bad_read_back_are_errors():
    cal = _runs()[3]
    with pytest.raises(ImuHipError, match="refused"):
        _exchange(FakeDevice(refuse=True), cal)
    with pytest.raises(ImuHipError, match="differs"):
        _exchange(FakeDevice(corrupt=True), cal)


class PoseDevice(FakeDevice):
    """A live imu-hip device on a table, turned by a user who follows the guide's prompts."""

    def __init__(self, guide: C.AccelCalibrationGuide, errors: C.SensorErrors):
        super().__init__()
        self.guide = guide
        self.sim = C.PoseSimulator(errors, rate_hz=100.0, seed=5, range_mps2=None)
        self._stop = asyncio.Event()
        self._notify = None

    async def run(self, on_notification, on_state):
        self._notify = on_notification
        on_state("connecting", "")
        on_state("streaming", "")
        seq, last = 0, -1
        while not self._stop.is_set():
            if self.guide.current is not None and self.guide.index != last:
                last = self.guide.index
                block = self.sim.move_to(self.guide.current.up, 1.0)
            else:
                block = self.sim.hold(0.19)
            frames = proto.encode_stream(block.acc_mps2, block.gyr_rads, rate_hz=100.0,
                                         t0_us=round(block.t_s[0] * 1e6), start_seq=seq)
            for f in frames:
                on_notification(proto.DATA_UUID, f, 1000.0 + block.t_s[-1] + 0.005)
                seq += 1
            await asyncio.sleep(0)
        on_state("stopped", "")

    async def stop(self):
        self._stop.set()

    async def write(self, uuid, data):
        resp = self.state.handle_command(data)
        if self._notify is not None:
            self._notify(proto.RESPONSE_UUID, resp, 0.0)


def test_guided_calibration_over_a_live_session_writes_the_device():
    from imu_hip.commands.calibrate import guide_over_link

    errors = C.random_sensor_errors(np.random.default_rng(6))
    guide = C.AccelCalibrationGuide(C.DEFAULT_POSES, "AA:BB:CC:DD:EE:FF", hold_s=2.0)
    dev = PoseDevice(guide, errors)
    shown = []
    back = asyncio.run(guide_over_link(dev, "imu-hip", "AA:BB:CC:DD:EE:FF", guide, shown.append,
                                       write_device=True))
    assert guide.result is not None, guide.error
    assert sum(e.kind == "accepted" for e in shown) == 12
    # Quantised to the ±16 g counts of the protocol (4.8 mm/s² per count) and still recovered.
    assert np.abs(guide.result.acc_bias_mps2 - errors.acc_bias_mps2).max() < 0.01
    assert back is not None
    stored = proto.unpack_calibration(dev.state.calibration)
    np.testing.assert_allclose(stored.acc_matrix, guide.result.acc_matrix, rtol=1e-6)
    assert np.isclose(np.linalg.norm(guide.result.correct_acc(errors.raw_acc([[0, 0, G]]))), G,
                      atol=0.02)


def test_cli_refuses_a_stream_corrected_when_recorded(tmp_path, capsys):
    from imu_hip.io.csv_file import write_csv

    errors = C.random_sensor_errors(np.random.default_rng(5))
    rec = C.simulate_pose_session(errors, poses=C.FACE_POSES, device_id="dev")
    rec.metadata.update({f"calibration.{k}": v for k, v in
                         C.Calibration.identity("dev").metadata().items()})
    write_csv(rec, tmp_path / "corrected.csv")
    assert main(["calibrate", "accel", "--from-file", str(tmp_path / "corrected.csv")]) == 2
    assert "corrected when it was recorded" in capsys.readouterr().err
    assert C.calibration_for("dev") is None


class ScheduledPoseDevice(PoseDevice):
    """An imu-hip device turned through the default poses on a fixed schedule (the user does not
    wait for the prompts), then left lying still."""

    def __init__(self, errors: C.SensorErrors):
        super().__init__(None, errors)  # type: ignore[arg-type]
        self.rec = C.simulate_pose_session(errors, C.DEFAULT_POSES, hold_s=4.0, seed=7,
                                           range_mps2=None)

    async def run(self, on_notification, on_state):
        self._notify = on_notification
        on_state("streaming", "")
        frames = proto.encode_stream(self.rec.acc_mps2, self.rec.gyr_rads, rate_hz=100.0)
        n = proto.max_samples()
        k = 0
        while not self._stop.is_set() and k < len(frames):
            on_notification(proto.DATA_UUID, frames[k], 1000.0 + (k + 1) * n / 100.0)
            k += 1
            if k % 20 == 0:
                await asyncio.sleep(0)
        on_state("stopped", "")


def test_cli_device_guides_saves_and_writes(monkeypatch, capsys):
    import imu_hip.commands.calibrate as cmd

    errors = C.random_sensor_errors(np.random.default_rng(8))
    dev = ScheduledPoseDevice(errors)

    async def fake_find(name, protocol):
        return dev

    monkeypatch.setattr(cmd, "_find_link", fake_find)
    assert main(["calibrate", "accel", "--device", "imu-hip-fake", "--hold-s", "2",
                 "--write-device"]) == 0
    out = capsys.readouterr().out
    assert "pose 12 of 12" in out and "written to the device and read back" in out
    cal = C.calibration_for("AA:BB:CC:DD:EE:FF")
    assert cal is not None and np.abs(cal.acc_bias_mps2 - errors.acc_bias_mps2).max() < 0.01
    stored = proto.unpack_calibration(dev.state.calibration)
    np.testing.assert_allclose(stored.acc_bias_mps2, cal.acc_bias_mps2, rtol=1e-6)


def test_live_session_applies_the_stored_calibration_and_the_recording_says_so(tmp_path):
    """A stored calibration is applied live (session_calibration_for), the recording keeps the
    raw bytes and states the calibration, redecoding repeats it exactly, and analysing the
    recording does not apply it again."""
    from imu_hip.ble.virtual import virtual_devices
    from imu_hip.io.mcap_file import read_mcap
    from imu_hip.session import DeviceSpec, Session, redecode

    params = RunnerParams(phases=(("stand", 5.0), ("run", 15.0)), rate_hz=400.0,
                          gyr_bias_rads=(0.02, -0.01, 0.015))
    links = virtual_devices(("sacrum",), duration_s=20.0, speed=float("inf"), seed=3,
                            params=params)
    device_id = links[0].info.address
    cal = C.Calibration(device_id, [0.1, -0.2, 0.3], np.diag([1.01, 0.99, 1.02]), np.zeros(3),
                        method="test")
    C.save_calibration(cal)
    path = tmp_path / "run.mcap"
    session = Session([DeviceSpec(links[0], "sacrum", "imu-hip")], record_to=path,
                      calibration_for=C.session_calibration_for)
    asyncio.run(session.run())
    recorded = read_mcap(path).sensors[0]
    assert recorded.metadata.get(C.APPLIED_KEY) == cal.label()
    assert C.TRACKING_KEY in recorded.metadata
    raw = redecode(path).sensors[0]
    np.testing.assert_allclose(recorded.acc_mps2, cal.correct_acc(raw.acc_mps2), atol=1e-12)
    # The gyro bias of the standing phase is tracked live and removed once known (> 2.5 s).
    late_stand = (recorded.t_s - recorded.t_s[0] > 3.0) & (recorded.t_s - recorded.t_s[0] < 4.5)
    assert np.abs(recorded.gyr_rads[late_stand].mean(axis=0)).max() < 2e-3
    assert np.abs(raw.gyr_rads[late_stand].mean(axis=0)).max() > 1e-2
    again = redecode(path, calibration_for=C.session_calibration_for).sensors[0]
    np.testing.assert_array_equal(again.acc_mps2, recorded.acc_mps2)
    np.testing.assert_array_equal(again.gyr_rads, recorded.gyr_rads)
    result = analyze(path)
    assert "applied when recorded" in result.summary["calibration"]["applied"]
