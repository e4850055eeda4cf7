"""``imu-hip view --device ...`` over the real bleak path (bumble backend), headless.

The command runs in this process (``QT_QPA_PLATFORM=offscreen``, see tests/conftest.py) with
only the bleak backend classes swapped through :data:`imu_hip.viewer.sources.BLEAK_BACKENDS`:
one scan finds the emulated imu-hip sensor, the live session streams its real protocol bytes
into the window, the stored calibration is applied to what is drawn, and the screenshot shows
curves.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PyQt6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("pytestqt")

from bumble_bleak.backend import DeferredWorld  # noqa: E402
from bumble_bleak.devices import imu_hip_device, signal  # noqa: E402

from imu_hip import calibration as C  # noqa: E402
from imu_hip.ble.bleak_link import BleakBackends  # noqa: E402
from imu_hip.ble.scan import find_devices  # noqa: E402
from imu_hip.cli import main  # noqa: E402
from imu_hip.model import G  # noqa: E402
from imu_hip.viewer import feed, sources  # noqa: E402

HIP = "F0:00:00:00:00:01"
NAME = "IMU-HIP 0001"


def saturated_pixels(path) -> tuple[int, int, int]:
    """(width, height, pixels of clearly saturated colour: the x/y/z curves) of a PNG."""
    from PyQt6 import QtGui

    img = QtGui.QImage(str(path)).convertToFormat(QtGui.QImage.Format.Format_RGB32)
    ptr = img.constBits()
    ptr.setsize(img.sizeInBytes())
    a = np.frombuffer(ptr, np.uint8).reshape(img.height(), -1, 4)[:, : img.width(), :3]
    return img.width(), img.height(), int(((a.max(axis=2).astype(int) - a.min(axis=2)) > 80).sum())


def test_view_device_over_ble_draws_calibrated_curves(qapp, tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    monkeypatch.setenv(C.DATA_DIR_ENV, str(tmp_path / "data"))
    cal = C.Calibration(HIP, [0.4, -0.3, 0.5], np.diag([1.02, 0.98, 1.01]), np.zeros(3),
                        method="test")
    C.save_calibration(cal)

    async def populate(world):
        return {"hip": await imu_hip_device(world, HIP, name=NAME)}

    deferred = DeferredWorld(populate)
    monkeypatch.setattr(sources, "BLEAK_BACKENDS",
                        BleakBackends(deferred.client_backend, deferred.scanner_backend))
    scans: list[list[str]] = []

    async def one_scan(names, timeout_s=10.0, *, backend=None):
        scans.append(list(names))
        assert backend is deferred.scanner_backend
        return await find_devices(names, timeout_s, backend=backend)

    monkeypatch.setattr("imu_hip.ble.scan.find_devices", one_scan)
    seen: list = []
    ingest = feed.Hub.ingest

    def spy(hub, block):
        seen.append(block)
        ingest(hub, block)

    monkeypatch.setattr(feed.Hub, "ingest", spy)

    png = tmp_path / "shot.png"
    code = main(["view", "--device", f"{NAME}=sacrum", "--scan-s", "0.3",
                 "--screenshot", str(png), "--duration", "4"])
    assert code == 0
    assert scans == [[NAME]]  # one scan for the devices
    assert deferred.result["hip"].connections == 1

    w, h, coloured = saturated_pixels(png)
    assert w > 800 and h > 500 and coloured > 3000  # the raw plots were drawn

    hip = [b for b in seen if b.sensor_id == HIP and len(b)]
    assert hip and all(b.placement == "sacrum" for b in hip)
    got = np.concatenate([b.acc_mps2 for b in hip])
    assert len(got) > 400  # over a second of the 400 Hz stream
    # what reached the window is the stored calibration applied to what the sensor sent
    sent, _ = signal(0, 4000 + len(got), 400.0)
    want = cal.correct_acc(sent)
    first = int(np.argmin([np.abs(want[k:k + 20] - got[:20]).max() for k in range(4000)]))
    lsb = 16 * G / 32768  # imu-hip acc, int16 over ±16 g
    err = np.abs(got - want[first:first + len(got)]).max()
    assert err <= 0.6 * lsb * 1.02 + 1e-6
    raw_err = np.abs(got - sent[first:first + len(got)]).max()
    assert raw_err > 0.2  # uncalibrated it would differ (offsets of 0.3-0.5 m/s²)

