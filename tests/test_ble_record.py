"""``imu-hip record --device ...`` end to end over the real bleak path (bumble backend).

The command line runs unchanged (its own ``asyncio.run``); only the bleak backend classes are
swapped through :data:`imu_hip.commands.record.BLEAK_BACKENDS`. An emulated imu-hip sensor and
an emulated Polar Verity Sense stream real protocol bytes; the recording must be analysable,
state the calibration applied live, and its raw channels must decode again to the very samples
recorded.
"""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pytest
from bumble_bleak.backend import DeferredWorld
from bumble_bleak.devices import imu_hip_device, polar_device, signal

import imu_hip.commands.record as record_command
from imu_hip import calibration as C
from imu_hip.ble.bleak_link import BleakBackends
from imu_hip.cli import main
from imu_hip.io.mcap_file import read_mcap, read_raw
from imu_hip.model import G
from imu_hip.pipeline import analyze
from imu_hip.session import redecode

HIP, POLAR = "F0:00:00:00:00:01", "F0:00:00:00:00:03"


def _emulate(monkeypatch) -> DeferredWorld:
    async def populate(world):
        return {
            "hip": await imu_hip_device(world, HIP, name="IMU-HIP 0001"),
            "polar": await polar_device(world, POLAR, name="Polar Sense 1A2B3C4D"),
        }

    deferred = DeferredWorld(populate)
    monkeypatch.setattr(record_command, "BLEAK_BACKENDS",
                        BleakBackends(deferred.client_backend, deferred.scanner_backend))
    return deferred


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """``imu-hip record`` of the two emulated devices for 3 s, with a stored calibration for
    the imu-hip one: (path, stdout, emulated devices, calibration, calibration folder)."""
    tmp = tmp_path_factory.mktemp("ble_record")
    with pytest.MonkeyPatch.context() as mp:
        (tmp / "data").mkdir()
        mp.setenv(C.DATA_DIR_ENV, str(tmp / "data"))
        cal = C.Calibration(HIP, [0.1, -0.2, 0.3], np.diag([1.01, 0.99, 1.02]), np.zeros(3),
                            method="test")
        C.save_calibration(cal)
        deferred = _emulate(mp)
        out = tmp / "ble.mcap"
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            code = main(["record", "--device", "IMU-HIP 0001=sacrum",
                         # 6 s: a hip recording needs 4.5 s to be analysed
                         "--device", "Polar Sense=left_foot", "--duration", "6",
                         "--scan-s", "0.3", "--out", str(out), "--quiet", "--status-every", "1"])
        assert code == 0
        return out, stdout.getvalue(), deferred.result, cal, tmp / "data"


def test_record_two_ble_devices_redecodes_to_the_recorded_samples(recorded, monkeypatch):
    out, text, devs, cal, data_dir = recorded
    monkeypatch.setenv(C.DATA_DIR_ENV, str(data_dir))
    assert f"[{HIP}] -> sacrum (imu-hip)" in text
    assert f"[{POLAR}] -> left_foot (polar-pmd)" in text
    assert devs["hip"].connections == 1 and devs["polar"].connections == 1

    rec = read_mcap(out)
    assert rec.metadata["simulated"] == "false"
    hip, foot = rec.sensor("sacrum"), rec.sensor("left_foot")
    assert hip.sensor_id == HIP and foot.sensor_id == POLAR
    assert hip.rate_hz == 400.0 and foot.rate_hz == 52.0
    # ~3 s of each (the wall-clock duration includes the scan and connection set-up); the
    # Polar stream is whole: its ACC and GYRO frames merged at 52 Hz without holes
    assert 4.5 < hip.duration_s < 6.5 and 4.5 < foot.duration_s < 6.5
    assert np.allclose(np.diff(foot.t_s), 1 / 52.0, rtol=0.01)
    assert foot.gyr_rads is not None
    # the stored calibration was applied live and the recording says so
    assert hip.metadata.get(C.APPLIED_KEY) == cal.label()
    assert C.TRACKING_KEY in hip.metadata and C.TRACKING_KEY in foot.metadata

    # the raw channels (every notification, Polar's control point responses included) decode
    # again to the very samples recorded, with the same live calibration
    assert {device_id for device_id, _, _ in read_raw(out)} == {HIP, POLAR}
    again = {s.sensor_id: s for s in redecode(out, calibration_for=C.session_calibration_for)
             .sensors}
    for s in (hip, foot):
        r = again[s.sensor_id]
        np.testing.assert_array_equal(r.t_s, s.t_s)
        np.testing.assert_array_equal(r.acc_mps2, s.acc_mps2)
        np.testing.assert_array_equal(r.gyr_rads, s.gyr_rads)
    # uncalibrated, the samples are what the emulated sensors sent (same motion on both)
    raw = {s.sensor_id: s for s in redecode(out).sensors}
    np.testing.assert_allclose(hip.acc_mps2, cal.correct_acc(raw[HIP].acc_mps2), atol=1e-12)
    # acc LSB: imu-hip int16 over ±16 g (range code 3), Polar 1 mG
    for device_id, rate, lsb in ((HIP, 400.0, 16 * G / 32768), (POLAR, 52.0, 1e-3 * G)):
        got = raw[device_id].acc_mps2
        i = np.rint((raw[device_id].t_s - raw[device_id].t_s[0]) * rate).astype(int)
        assert np.array_equal(i, np.arange(len(got)))  # no hole, no repeat
        sent, _ = signal(0, 2000 + len(got), rate)
        # which sample came first is up to the connection timing: find it from the first 20
        first = int(np.argmin([np.abs(sent[k:k + 20] - got[:20]).max() for k in range(2000)]))
        assert np.abs(got - sent[first:first + len(got)]).max() <= 0.5 * lsb + 1e-9, device_id


def test_recording_is_analysed(recorded):
    out = recorded[0]
    result = analyze(out)
    assert result.summary["sensor_id"] == HIP
    assert POLAR in result.summary["shoes"]["sensor_ids"]


def test_record_unknown_device_is_one_line_error(tmp_path, monkeypatch, capsys):
    _emulate(monkeypatch)
    code = main(["record", "--device", "Nobody=sacrum", "--scan-s", "0.2",
                 "--out", str(tmp_path / "x.mcap")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no supported device 'Nobody'" in err
    assert not (tmp_path / "x.mcap").exists()


def test_imu_hip_analyze_accepts_the_recording(recorded, tmp_path):
    out = recorded[0]
    assert main(["analyze", str(out), "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "summary.json").exists()


def test_record_without_adapter_is_one_line_error(tmp_path, monkeypatch, capsys):
    from bumble_bleak.backend import NoAdapterScanner

    monkeypatch.setattr(record_command, "BLEAK_BACKENDS",
                        BleakBackends(scanner=NoAdapterScanner))
    code = main(["record", "--device", "IMU-HIP 0001=sacrum", "--device", "Polar=left_foot",
                 "--out", str(tmp_path / "x.mcap")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no usable Bluetooth adapter" in err
    assert not (tmp_path / "x.mcap").exists()
