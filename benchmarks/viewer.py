"""Speed of the live viewer, offscreen: frame rate, CPU share and sample-to-screen latency.

    QT_QPA_PLATFORM=offscreen python benchmarks/viewer.py [--rates 400 1000] [--seconds 8]

Three simulated sensors (sacrum and both shoes, 6 channels each) stream into the viewer in
BLE-sized blocks (``--block`` samples, default 10) paced by the wall clock, from a worker thread,
through the same hub as ``imu-hip view`` (ring buffers, the sacral pipeline stage unless
``--no-pipeline``); the window (1400 x 900) shows the 10 s window. Per rate:

- **unthrottled fps**: full refresh + paint as fast as possible (``processEvents`` after each
  refresh, so every frame is really painted into the offscreen backing store; the skipping of
  frames with nothing new is defeated here), and the GUI thread's CPU time per frame;
- **CPU at 60 Hz**: the QTimer at 60 Hz for ``--seconds``; the whole process's CPU time (GUI and
  worker thread) and the GUI thread's alone, as % of one core;
- **latency**: for every block, the time from its arrival in the hub to the end of the paint of
  the first frame refreshed after it arrived (median, 95th percentile, max), at 60 Hz.

Targets (issue 4): >= 120 fps unthrottled, < 35 % of one core at 60 Hz, < 50 ms latency.
Prints numbers only; the machine is shared and noisy, so nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import os
import threading
import time

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def simulate_sensors(rate_hz: float, seconds: float):
    from imu_hip.sim import RunnerParams, simulate

    p = RunnerParams(phases=(("stand", 6.0), ("run", seconds)), rate_hz=rate_hz)
    return simulate(p, seed=2).recording


class Producer(threading.Thread):
    """Pushes the recording into the hub: the first ``prefill_s`` at once, then in real time."""

    def __init__(self, hub, recording, block: int, prefill_s: float):
        super().__init__(daemon=True)
        self.hub, self.rec, self.block, self.prefill_s = hub, recording, block, prefill_s
        self.arrivals: list[float] = []  # perf_counter after each real-time block was stored
        self.stop_flag = threading.Event()
        self.ready = threading.Event()

    def run(self) -> None:
        sensors = self.rec.sensors
        t0 = min(s.t_s[0] for s in sensors)
        pos = [0] * len(sensors)
        for k, s in enumerate(sensors):  # prefill: the window is full from the first frame
            j = int(np.searchsorted(s.t_s, t0 + self.prefill_s))
            for a in range(0, j, 400):
                self.hub.ingest(s.block(a, min(a + 400, j)))
            pos[k] = j
        self.ready.set()
        wall0 = time.perf_counter()
        rec0 = t0 + self.prefill_s
        while not self.stop_flag.is_set():
            now_rec = rec0 + (time.perf_counter() - wall0)
            for k, s in enumerate(sensors):
                while pos[k] + self.block <= len(s) and s.t_s[pos[k] + self.block - 1] <= now_rec:
                    self.hub.ingest(s.block(pos[k], pos[k] + self.block))
                    self.arrivals.append(time.perf_counter())
                    pos[k] += self.block
            due = [s.t_s[p + self.block - 1] for p, s in zip(pos, sensors, strict=True)
                   if p + self.block <= len(s)]
            if not due:
                return
            # a block "arrives" when its last sample has been taken: sleep until the next one
            time.sleep(max(0.0, min(due) - rec0 - (time.perf_counter() - wall0)))


def load_window_class(path: str | None):
    """``ViewerWindow`` of ``imu_hip/viewer/app.py``, or of another version of that file (e.g.
    ``git show REV:imu_hip/viewer/app.py > old_app.py``) to compare in the same run."""
    if path is None:
        from imu_hip.viewer.app import ViewerWindow

        return ViewerWindow
    import importlib.util

    spec = importlib.util.spec_from_file_location("imu_hip_viewer_app_compared", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ViewerWindow


def measure(rate_hz: float, seconds: float, block: int, pipeline: bool, window_cls=None,
            rec=None) -> dict:
    from imu_hip.viewer.app import QtCore, QtWidgets, ViewerWindow, pg
    from imu_hip.viewer.feed import Hub
    from imu_hip.viewer.targets import FeedbackModel

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    if rec is None:
        rec = simulate_sensors(rate_hz, 12.0 + 2 * seconds + 10.0)
    hub = Hub(analyse=pipeline)
    model = FeedbackModel(hub.steps)
    win = (window_cls or ViewerWindow)(hub, model, window_s=10.0, refresh_hz=60.0)
    win.show()

    paints: list[float] = []
    refreshes: list[float] = []
    original_paint = pg.GraphicsView.paintEvent

    def timed_paint(view, ev):
        original_paint(view, ev)
        if view is win.raw_view:
            paints.append(time.perf_counter())

    pg.GraphicsView.paintEvent = timed_paint
    original_refresh = win.refresh

    def timed_refresh():
        refreshes.append(time.perf_counter())
        original_refresh()

    win.refresh = timed_refresh
    win.timer.timeout.disconnect()
    win.timer.timeout.connect(timed_refresh)

    prod = Producer(hub, rec, block, prefill_s=12.0)
    prod.start()
    prod.ready.wait()
    for _ in range(10):  # plots created, layout settled
        win.refresh()
        app.processEvents()

    # unthrottled: refresh and paint back to back
    n_paint0 = len(paints)
    end = time.perf_counter() + seconds / 2
    frames = 0
    start, gui_start = time.perf_counter(), time.thread_time()
    while time.perf_counter() < end:
        win._last_raw_key = ()  # a full redraw each time (refresh skips frames with nothing new)
        win.refresh()
        app.processEvents()
        frames += 1
    wall = time.perf_counter() - start
    fps = frames / wall
    frame_cpu_ms = 1000 * (time.thread_time() - gui_start) / frames
    painted = (len(paints) - n_paint0) / wall

    # 60 Hz timer: CPU and latency
    refreshes.clear()
    paints.clear()
    first_arrival = len(prod.arrivals)
    cpu0, gui0, wall0 = time.process_time(), time.thread_time(), time.perf_counter()
    win.set_refresh_hz(60.0)
    win.start()
    loop = QtCore.QEventLoop()
    QtCore.QTimer.singleShot(round(1000 * seconds), loop.quit)
    loop.exec()
    win.timer.stop()
    wall = time.perf_counter() - wall0
    cpu = (time.process_time() - cpu0) / wall
    gui = (time.thread_time() - gui0) / wall
    prod.stop_flag.set()
    prod.join(5.0)
    pg.GraphicsView.paintEvent = original_paint
    arrivals = np.array(prod.arrivals[first_arrival:])
    r, p = np.array(refreshes), np.array(paints)
    lat = []
    for a in arrivals:
        i = np.searchsorted(r, a)  # the first refresh after the block arrived
        if i >= r.size:
            continue
        j = np.searchsorted(p, r[i])  # the paint that follows that refresh
        if j < p.size:
            lat.append(p[j] - a)
    lat_ms = 1000 * np.array(lat)
    win.close()
    return {
        "rate_hz": rate_hz,
        "fps_unthrottled": fps,
        "frame_cpu_ms": frame_cpu_ms,
        "paints_per_s_unthrottled": painted,
        "fps_at_60hz": len(refreshes) / wall,
        "cpu_process_pct": 100 * cpu,
        "cpu_gui_thread_pct": 100 * gui,
        "latency_ms_median": float(np.median(lat_ms)) if lat_ms.size else float("nan"),
        "latency_ms_p95": float(np.percentile(lat_ms, 95)) if lat_ms.size else float("nan"),
        "latency_ms_max": float(lat_ms.max()) if lat_ms.size else float("nan"),
        "blocks": int(lat_ms.size),
        "steps": len(hub.steps),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", type=float, nargs="+", default=[400.0, 1000.0])
    ap.add_argument("--seconds", type=float, default=8.0, help="length of the 60 Hz run")
    ap.add_argument("--block", type=int, default=10, help="samples per pushed block")
    ap.add_argument("--no-pipeline", action="store_true", help="signals only, no step analysis")
    ap.add_argument("--compare", metavar="APP_PY",
                    help="another version of imu_hip/viewer/app.py: measured alternately with "
                         "the current one, in the same run (the machine's load changes)")
    ap.add_argument("--rounds", type=int, default=2, help="alternations with --compare")
    args = ap.parse_args()
    print(f"3 sensors x 6 channels, 10 s window, blocks of {args.block}, "
          f"pipeline {'off' if args.no_pipeline else 'on'}, platform "
          f"{os.environ.get('QT_QPA_PLATFORM')}, {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} before")
    versions = [("current", load_window_class(None))]
    if args.compare:
        versions.append(("compared", load_window_class(args.compare)))
    rounds = args.rounds if args.compare else 1
    for rate in args.rates:
        rec = simulate_sensors(rate, 12.0 + 2 * args.seconds + 10.0)
        results: dict[str, list[dict]] = {name: [] for name, _ in versions}
        for r in range(rounds):
            order = versions if r % 2 == 0 else versions[::-1]
            for name, cls in order:
                m = measure(rate, args.seconds, args.block, not args.no_pipeline, cls, rec)
                results[name].append(m)
                print_result(m, name if args.compare else "")
        if args.compare:
            print(f"{rate:6.0f} Hz, medians over {rounds} rounds (current / compared):")
            for key, what in (("frame_cpu_ms", "GUI-thread CPU per full frame, ms"),
                              ("cpu_gui_thread_pct", "GUI thread at 60 Hz, % of a core"),
                              ("cpu_process_pct", "process at 60 Hz, % of a core"),
                              ("fps_unthrottled", "unthrottled fps"),
                              ("latency_ms_median", "latency median, ms"),
                              ("latency_ms_p95", "latency p95, ms")):
                a = float(np.median([m[key] for m in results["current"]]))
                b = float(np.median([m[key] for m in results["compared"]]))
                print(f"    {what:36s} {a:7.2f} / {b:7.2f}  (ratio {a / b:.2f})")


def print_result(m: dict, label: str = "") -> None:
    print(
        (f"[{label}] " if label else "")
        + f"{m['rate_hz']:6.0f} Hz: unthrottled {m['fps_unthrottled']:6.1f} fps "
        f"({m['paints_per_s_unthrottled']:.1f} paints/s; GUI-thread CPU "
        f"{m['frame_cpu_ms']:.2f} ms per frame = {1000 / m['frame_cpu_ms']:.0f} fps on a "
        f"free core); at 60 Hz {m['fps_at_60hz']:5.1f} fps, "
        f"CPU {m['cpu_process_pct']:5.1f} % of a core (GUI thread "
        f"{m['cpu_gui_thread_pct']:5.1f} %); latency median {m['latency_ms_median']:5.1f} ms, "
        f"p95 {m['latency_ms_p95']:5.1f} ms, max {m['latency_ms_max']:5.1f} ms "
        f"({m['blocks']} blocks, {m['steps']} steps); load average {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
