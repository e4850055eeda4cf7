"""The viewer window, headless (QT_QPA_PLATFORM=offscreen, PyQt6; see tests/conftest.py)."""

import re
import sys

import numpy as np
import pytest

pytest.importorskip("PyQt6")
pytest.importorskip("pyqtgraph")
pytest.importorskip("pytestqt")

from imu_hip.sim import RunnerParams, simulate  # noqa: E402
from imu_hip.viewer.feed import Hub, ReplayFeeder  # noqa: E402
from imu_hip.viewer.targets import FeedbackModel  # noqa: E402


def coloured_pixels(widget) -> int:
    """Pixels of clearly saturated colour (the x/y/z curves; axes and text are grey)."""
    from PyQt6 import QtGui

    img = widget.grab().toImage().convertToFormat(QtGui.QImage.Format.Format_RGB32)
    ptr = img.constBits()
    ptr.setsize(img.sizeInBytes())
    a = np.frombuffer(ptr, np.uint8).reshape(img.height(), img.bytesPerLine() // 4, 4)
    rgb = a[:, : img.width(), :3].astype(int)
    return int(((rgb.max(axis=2) - rgb.min(axis=2)) > 80).sum())


@pytest.fixture(autouse=True)
def windows(qtbot):
    """Windows of the test, closed and deleted in order at its end (then garbage collected), so
    no half-deleted pyqtgraph scene lingers into the next test."""
    import gc

    from PyQt6 import QtCore

    made: list = []
    yield made
    for win in made:
        win.close()
        win.deleteLater()
    QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
    made.clear()
    gc.collect()


def open_window(qtbot, recording, speed, windows=None, **model_kw):
    from imu_hip.viewer.app import ViewerWindow

    hub = Hub()
    model = FeedbackModel(hub.steps, **model_kw)
    feeder = ReplayFeeder(recording, hub, speed=speed)
    win = ViewerWindow(hub, model, feeder=feeder, refresh_hz=30)
    windows.append(win)
    win.show()
    feeder.start()
    win.start()
    return win, hub, feeder


def label_number(text: str, title: str) -> float:
    m = re.match(rf"{title}: ([-0-9.]+)", text)
    assert m, text
    return float(m.group(1))


@pytest.fixture(scope="module")
def run_sim():
    p = RunnerParams(phases=(("stand", 6.0), ("run", 34.0)), cadence_spm=172.0)
    return simulate(p, seed=11, placements=("sacrum",))


def test_window_draws_curves_and_shows_the_true_cadence(qtbot, windows, run_sim):
    win, hub, feeder = open_window(qtbot, run_sim.recording, speed=40.0, windows=windows)
    before = coloured_pixels(win.raw_view)
    qtbot.waitUntil(feeder.finished.is_set, timeout=20_000)
    win.refresh()
    assert win.frames > 0
    after = coloured_pixels(win.raw_view)
    assert before < 50 < 5000 < after  # empty plots first, then the x/y/z curves
    # the label's rolling mean of the last 10 steps against the simulator's truth of those steps
    text = win.panel_text("cadence_spm")
    shown = label_number(text, "cadence")
    _, cols = hub.steps.snapshot()
    t_est = cols["t_ic_s"][np.isfinite(cols["cadence_spm"])][-10:]
    truth_t, truth_cad = run_sim.truth["t_ic_s"], run_sim.truth["cadence_spm"]
    rows = np.abs(truth_t[:, None] - t_est[None, :]).argmin(axis=0)
    assert np.abs(truth_t[rows] - t_est).max() < 0.05  # the same steps
    assert abs(shown - truth_cad[rows].mean()) <= 1.0, text
    assert "OFF TARGET" not in text  # no target before 2 minutes of running


def test_window_on_a_live_simulated_session(qtbot, windows):
    """--sim: virtual BLE devices through the live Session, in the worker thread."""
    from imu_hip.viewer.app import ViewerWindow
    from imu_hip.viewer.sources import sim_source

    hub = Hub()
    feeder = sim_source(("sacrum", "left_foot"), speed=8.0, seed=1, chunk_s=20.0)(hub)
    win = ViewerWindow(hub, FeedbackModel(hub.steps), feeder=feeder, refresh_hz=30)
    windows.append(win)
    win.show()
    feeder.start()
    win.start()
    qtbot.waitUntil(lambda: len(hub.rings) == 2 and all(
        r.received > 2000 for r in hub.rings.values()), timeout=25_000)
    qtbot.waitUntil(lambda: "streaming" in win.status_label.text(), timeout=5_000)
    win.refresh()
    assert coloured_pixels(win.raw_view) > 3000
    assert not win.play_button.isVisible()  # no replay controls on a live session
    assert "battery 87 %" in win.status_label.text()
    win.close()
    assert feeder.stopped.wait(10.0) and feeder.error is None


def test_pelvic_drop_warning_appears_and_clears(qtbot, windows):
    # drop 10 deg at the start of the run, falling 8 deg per minute to 2 deg
    p = RunnerParams(phases=(("stand", 6.0), ("run", 60.0)), pelvic_drop_deg=10.0,
                     fatigue_drop_deg_per_min=-8.0, asym_drop_deg=0.0)
    sim = simulate(p, seed=5, placements=("sacrum",))
    win, hub, feeder = open_window(qtbot, sim.recording, speed=20.0, windows=windows,
                                    drop_limit_deg=7.0)
    qtbot.waitUntil(lambda: win.panel_warning("pelvic_drop_deg"), timeout=20_000)
    on_at = hub.now_s - sim.recording.sensors[0].t_s[0]
    assert "OFF TARGET" in win.panel_text("pelvic_drop_deg")
    qtbot.waitUntil(lambda: not win.panel_warning("pelvic_drop_deg"), timeout=20_000)
    off_at = hub.now_s - sim.recording.sensors[0].t_s[0]
    assert "OFF TARGET" not in win.panel_text("pelvic_drop_deg")
    # true drop 10 - 8 t_run/60 deg: above the 7 deg limit for the first 22.5 s of running. The
    # warning comes on while it is above (steps reach the screen ~5 s after they happen, plus the
    # GUI's lag at 20x) and goes off only after it has fallen below.
    assert on_at < 6.0 + 30.0
    assert 6.0 + 22.5 < off_at
    qtbot.waitUntil(feeder.finished.is_set, timeout=20_000)
    assert not win.panel_warning("pelvic_drop_deg")


def test_replay_of_a_file_reaches_the_end(qtbot, windows, tmp_path, run_sim):
    from imu_hip.io import read_recording, write_mcap

    path = tmp_path / "run.mcap"
    write_mcap(run_sim.recording, path)
    rec = read_recording(path)
    win, hub, feeder = open_window(qtbot, rec, speed=100.0, windows=windows)
    qtbot.waitUntil(feeder.finished.is_set, timeout=20_000)
    win._draw_status()
    assert feeder.position_s == pytest.approx(feeder.duration_s)
    assert win.seek_slider.value() == 1000
    assert all(s.state == "ended" for s in hub.status.values())
    assert "ended" in win.status_label.text()
    # display freeze: frames stop counting while the data keeps going
    win.toggle_display()
    frames = win.frames
    win.refresh()
    assert win.frames == frames and "display frozen" in win.status_label.text()


def test_cli_screenshot_of_a_replayed_file(tmp_path, run_sim):
    """The real command in its own process (one window per process, as in use)."""
    import os
    import subprocess
    import sys

    from imu_hip.io import write_csv

    csv_path = tmp_path / "run.csv"
    write_csv(run_sim.recording.sensors[0], csv_path)
    png = tmp_path / "shot.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    r = subprocess.run(
        [sys.executable, "-m", "imu_hip.cli", "view", str(csv_path), "--speed", "16",
         "--screenshot", str(png), "--duration", "2"],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert r.returncode == 0, r.stderr
    from PyQt6 import QtGui

    img = QtGui.QImage(str(png))
    assert img.width() > 800 and img.height() > 500
    # the raw plots were drawn: plenty of saturated (curve) pixels
    ptr = img.convertToFormat(QtGui.QImage.Format.Format_RGB32).constBits()
    ptr.setsize(img.sizeInBytes())
    a = np.frombuffer(ptr, np.uint8).reshape(img.height(), -1, 4)[:, : img.width(), :3]
    assert ((a.max(axis=2).astype(int) - a.min(axis=2)) > 80).sum() > 3000


def test_a_drawing_error_is_shown_not_fatal(qtbot, windows, monkeypatch, run_sim):
    win, hub, feeder = open_window(qtbot, run_sim.recording, speed=4.0, windows=windows)
    qtbot.waitUntil(lambda: win.frames > 0, timeout=10_000)

    def broken(now):
        raise ValueError("boom")

    monkeypatch.setattr(win, "_draw_raw", broken)
    win.refresh()
    win.refresh()
    assert hub.errors.count("display error: ValueError: boom") == 1
    monkeypatch.undo()
    frames = win.frames
    win.refresh()
    assert win.frames == frames + 1
    win._draw_status()
    assert "display error" in win.status_label.text()


def test_bad_arguments_are_one_line_errors(capsys, tmp_path):
    from imu_hip.cli import main

    assert main(["view", str(tmp_path / "missing.csv")]) == 2
    assert main(["view", "--sim", "--screenshot", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "missing.csv" in err[0] and "--duration" in err[1]
    with pytest.raises(SystemExit):
        main(["view", "--sim", "--speed", "32"])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the display check is Linux's")
def test_no_display_is_a_one_line_error(capsys, monkeypatch):
    """Without a screen Qt would abort the process (exit 134, several lines)."""
    from imu_hip.cli import main

    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    assert main(["view", "--sim", "--duration", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "QT_QPA_PLATFORM=offscreen" in err


def test_raw_lines_follow_the_plot_width_and_keep_the_spike(qtbot, windows):
    """About one min/max pair per pixel column of the plot (not a fixed count): the number of
    points follows the plot's width when the window is resized, and a one-sample spike is
    still drawn at its full height."""
    from imu_hip.viewer.app import ViewerWindow

    p = RunnerParams(phases=(("stand", 3.0), ("run", 9.0)), rate_hz=1000.0)
    sensor = simulate(p, seed=3, placements=("sacrum",)).recording.sensors[0]
    spike_at = len(sensor) - 4000
    peak = float(np.abs(sensor.acc_mps2).max()) + 200.0
    sensor.acc_mps2[spike_at, 2] = peak
    hub = Hub(analyse=False)
    for a in range(0, len(sensor), 500):
        hub.ingest(sensor.block(a, min(a + 500, len(sensor))))
    win = ViewerWindow(hub, FeedbackModel(hub.steps), refresh_hz=30)
    windows.append(win)
    win.show()
    win.refresh()
    qtbot.wait(50)
    counts = []
    for size in (1400, 800):
        win.resize(size, 900)
        qtbot.wait(100)
        win.refresh()
        plot, lines = win._raw[sensor.sensor_id]["plots"][0]
        width = plot.getViewBox().width()
        n = sum(len(poly) for poly in lines._lines[2])
        assert 1.6 * width <= n <= 2.0 * width + 4, (n, width)
        z = np.concatenate([[pt.y() for pt in poly] for poly in lines._lines[2]])
        assert z.max() * 9.80665 == pytest.approx(peak, rel=1e-6)  # drawn in g
        counts.append(n)
    assert counts[1] < 0.8 * counts[0]


def test_raw_lines_break_at_gaps():
    from imu_hip.viewer.app import _polylines

    x = np.arange(12.0)
    y = x.copy()
    y[[4, 8, 9]] = np.nan  # runs 0-3, 5-7, 10-11
    polys = _polylines(x, y, finite=False)
    assert [[pt.x() for pt in poly] for poly in polys] == [[0, 1, 2, 3], [5, 6, 7], [10, 11]]
    y[[2, 6]] = np.nan  # single samples between gaps draw nothing
    assert [len(poly) for poly in _polylines(x, y, finite=False)] == [2, 2]
