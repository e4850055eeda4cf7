"""The viewer window (PyQt6 + pyqtgraph). Import through :func:`imu_hip.viewer.qt.load_qt` first.

One QTimer in the GUI thread (``refresh_hz``, default 30) does all drawing: per sensor it copies
the visible window out of the ring buffer, decimates it to ~2 points per pixel column
(:class:`~imu_hip.viewer.decimate.Decimator`, each complete bin reduced once) and calls
``setData`` once per curve; the per-step panels are redrawn from
:class:`~imu_hip.viewer.targets.FeedbackModel` when steps arrive. Nothing is drawn per sample or
per packet; the worker thread never touches a widget.

Keys: Space play/pause (replay), P freeze/unfreeze the display (recording and analysis go on),
M marker, R record start/stop, Left/Right seek -/+10 s, +/- replay speed.
"""

from __future__ import annotations

import html
import math
import time
from pathlib import Path

import numpy as np

from imu_hip.text import terminal_safe
from imu_hip.viewer.decimate import Decimator
from imu_hip.viewer.feed import Hub, ReplayFeeder
from imu_hip.viewer.qt import load_qt
from imu_hip.viewer.targets import SIDES, FeedbackModel

QtCore, QtGui, QtWidgets, pg = load_qt()

AXIS_COLOURS = ("#e6194b", "#3cb44b", "#4363d8")  # x, y, z
SIDE_COLOURS = {"all": "#222222", "left": "#4363d8", "right": "#f58231"}
OK_BACKGROUND = "#ffffff"
WARN_BACKGROUND = "#ffd6cc"
WARN_TEXT = "#c00000"
SPEEDS = (1, 2, 4, 8, 16)
TREND_S = 120.0  # seconds of steps shown in a per-step panel


class ChannelCurves(pg.GraphicsObject):
    """The x, y and z lines of one raw plot as one graphics item.

    Drawing 18 raw lines at 60 Hz is most of a frame, so this item does the least per frame:
    one item per plot (not one per line: a third of the per-item work of Qt's scene and of
    pyqtgraph's ``PlotCurveItem.setData``), polylines built once per new data straight from
    numpy (``arrayToQPolygonF``; no QPainterPath, no finiteness scan without a gap), bounds
    computed once from the data (Qt asks for an item's bounding box many times per frame),
    cosmetic 1-px pens without antialiasing. A gap (NaN row) breaks the lines (one polyline per
    run of finite values).
    """

    def __init__(self, colours) -> None:
        super().__init__()
        self._pens = [pg.mkPen(c, width=1) for c in colours]
        for pen in self._pens:
            pen.setCosmetic(True)
        self._lines: list[list] = []  # per channel: QPolygonF runs between gaps
        self._rect = QtCore.QRectF()
        self.bounds: tuple[float, float, float, float] | None = None  # x0, x1, y_lo, y_hi

    def set_data(self, x: np.ndarray, ys: np.ndarray) -> None:
        """``x`` (m,) and one row of ``ys`` (channels, m) per line; then :meth:`place`."""
        self.bounds, self._lines = None, []
        if x.size:
            finite = bool(np.isfinite(ys).all())
            lo, hi = (float(ys.min()), float(ys.max())) if finite else _nan_range(ys)
            if math.isfinite(lo):
                self.bounds = (float(x[0]), float(x[-1]), lo, hi)
                self._lines = [_polylines(x, y, finite) for y in ys]

    def place(self, view: QtCore.QRectF) -> None:
        """Show the data set last, within ``view`` (the plot's visible range, data units).

        The item's box is the data's box cut to the visible range: the area Qt repaints each
        frame then stays inside the plot, off the axes and the title around it (the plot clips
        its children to that area anyway)."""
        if self.bounds is None:
            rect = QtCore.QRectF()
        else:
            x0, x1, lo, hi = self.bounds
            pad = 0.02 * max(hi - lo, 1e-9)  # room for the pen's width
            rect = QtCore.QRectF(x0, lo - pad, x1 - x0, hi - lo + 2 * pad).intersected(view)
        if rect != self._rect:
            self.prepareGeometryChange()
            self._rect = rect
        self.update()

    def dataBounds(self, ax, frac=1.0, orthoRange=None):  # noqa: N802 - pyqtgraph's name
        b = self.bounds
        if b is None:
            return (None, None)
        return (b[0], b[1]) if ax == 0 else (b[2], b[3])

    def boundingRect(self):  # noqa: N802 - Qt's name
        return self._rect

    def paint(self, p, *args) -> None:
        p.setRenderHint(QtGui.QPainter.RenderHint.Antialiasing, False)
        for pen, lines in zip(self._pens, self._lines, strict=False):
            p.setPen(pen)
            for poly in lines:
                p.drawPolyline(poly)


def _polylines(x: np.ndarray, y: np.ndarray, finite: bool) -> list:
    """The line through (x, y) as QPolygonF runs, broken at NaN values (gaps)."""
    if finite:
        return [pg.functions.arrayToQPolygonF(x, y)]
    ok = np.isfinite(y)
    edges = np.flatnonzero(np.diff(np.concatenate(([False], ok, [False])).astype(np.int8)))
    return [pg.functions.arrayToQPolygonF(x[a:b], y[a:b])
            for a, b in zip(edges[::2], edges[1::2], strict=True) if b - a > 1]


def _nan_range(y: np.ndarray) -> tuple[float, float]:
    ok = y[np.isfinite(y)]
    return (float(ok.min()), float(ok.max())) if ok.size else (float("nan"), float("nan"))


class ViewerWindow(QtWidgets.QMainWindow):
    """The live/replay window over a :class:`Hub` (filled by a feeder thread).

    ``feeder``: the :class:`ReplayFeeder` (enables play/pause, speed and seek) or any feeder;
    ``window_s``: raw-signal window (s); ``model``: targets and panels; ``record_dir``: where
    R saves recordings. ``closed`` is emitted when the window has been closed.
    """

    closed = QtCore.pyqtSignal()

    def __init__(
        self,
        hub: Hub,
        model: FeedbackModel,
        feeder=None,
        window_s: float = 10.0,
        refresh_hz: float = 30.0,
        title: str = "imu-hip",
        record_dir: str | Path = ".",
    ):
        super().__init__()
        pg.setConfigOptions(antialias=False, background="w", foreground="k")
        self.hub, self.model, self.feeder = hub, model, feeder
        self.window_s = float(window_s)
        self.record_dir = Path(record_dir)
        self.display_paused = False
        self.bins_per_pixel = 1.0  # one min/max pair per pixel column: two points per pixel
        self.frames = 0
        self.last_drawn_arrival_s = math.nan  # perf_counter stamp of the newest sample drawn
        self._raw: dict[str, dict] = {}
        self._panels: dict[str, dict] = {}
        self._marker_lines: list = []
        self._last_status = 0.0
        self._last_steps_draw = 0.0
        self._last_raw_key: tuple = ()
        self._closed = False
        self.setWindowTitle(terminal_safe(title, 120))
        self.resize(1400, 900)
        self._build()
        self.timer = QtCore.QTimer(self)
        self.timer.setTimerType(QtCore.Qt.TimerType.PreciseTimer)
        self.timer.timeout.connect(self.refresh)
        self.set_refresh_hz(refresh_hz)

    # -- layout -------------------------------------------------------------------------------

    def _build(self) -> None:
        central = QtWidgets.QWidget()
        outer = QtWidgets.QVBoxLayout(central)
        outer.setContentsMargins(4, 4, 4, 4)
        outer.addLayout(self._controls())
        self.status_label = QtWidgets.QLabel("waiting for data")
        self.status_label.setTextFormat(QtCore.Qt.TextFormat.PlainText)  # device names untrusted
        self.status_label.setWordWrap(True)
        self.status_label.setSizePolicy(
            QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred
        )
        outer.addWidget(self.status_label)
        split = QtWidgets.QSplitter(QtCore.Qt.Orientation.Horizontal)
        self.raw_view = pg.GraphicsLayoutWidget()
        # Each frame repaints the raw plots' areas only, and nothing there is antialiased (the
        # lines are drawn without): Qt need not widen the repainted area by 2 px into the axes.
        self.raw_view.setOptimizationFlag(
            QtWidgets.QGraphicsView.OptimizationFlag.DontAdjustForAntialiasing, True
        )
        self.step_view = pg.GraphicsLayoutWidget()
        split.addWidget(self.raw_view)
        split.addWidget(self.step_view)
        split.setSizes([800, 600])
        outer.addWidget(split, 1)
        self.setCentralWidget(central)
        for spec in self.model.panels:
            if not spec.optional:
                self._add_panel(spec)
        for key, slot in (
            ("Space", self.toggle_play),
            ("P", self.toggle_display),
            ("M", self.add_marker),
            ("R", self.toggle_record),
            ("Left", lambda: self.seek_by(-10.0)),
            ("Right", lambda: self.seek_by(10.0)),
            ("+", lambda: self.step_speed(1)),
            ("-", lambda: self.step_speed(-1)),
        ):
            sc = QtGui.QShortcut(QtGui.QKeySequence(key), self)
            sc.activated.connect(slot)

    def _controls(self) -> QtWidgets.QHBoxLayout:
        row = QtWidgets.QHBoxLayout()
        replay = isinstance(self.feeder, ReplayFeeder) and not self.feeder.live
        self.play_button = QtWidgets.QPushButton("Pause (Space)")
        self.play_button.clicked.connect(self.toggle_play)
        self.speed_box = QtWidgets.QComboBox()
        self.speed_box.addItems([f"{s}x" for s in SPEEDS])
        self.speed_box.currentIndexChanged.connect(self._speed_changed)
        self.seek_slider = QtWidgets.QSlider(QtCore.Qt.Orientation.Horizontal)
        self.seek_slider.setRange(0, 1000)
        self.seek_slider.sliderReleased.connect(self._slider_seek)
        self.position_label = QtWidgets.QLabel("")
        for w in (self.play_button, self.speed_box, self.seek_slider, self.position_label):
            w.setVisible(replay)
        if replay:
            speed = self.feeder.speed
            if speed in SPEEDS:
                self.speed_box.setCurrentIndex(SPEEDS.index(int(speed)))
            row.addWidget(self.play_button)
            row.addWidget(self.speed_box)
            row.addWidget(self.seek_slider, 1)
            row.addWidget(self.position_label)
        self.freeze_button = QtWidgets.QPushButton("Freeze display (P)")
        self.freeze_button.setCheckable(True)
        self.freeze_button.clicked.connect(self.toggle_display)
        self.record_button = QtWidgets.QPushButton("Record (R)")
        self.record_button.setCheckable(True)
        self.record_button.clicked.connect(self.toggle_record)
        marker = QtWidgets.QPushButton("Marker (M)")
        marker.clicked.connect(self.add_marker)
        row.addWidget(self.freeze_button)
        row.addWidget(self.record_button)
        row.addWidget(marker)
        row.addWidget(QtWidgets.QLabel("window s"))
        self.window_box = QtWidgets.QDoubleSpinBox()
        self.window_box.setRange(1.0, self.hub.window_max_s)
        self.window_box.setValue(self.window_s)
        self.window_box.valueChanged.connect(self.set_window_s)
        row.addWidget(self.window_box)
        row.addWidget(QtWidgets.QLabel("cadence target"))
        self.cadence_box = QtWidgets.QDoubleSpinBox()
        self.cadence_box.setToolTip("steps/min; 0 = the first 2 minutes of running +7.5 %")
        self.cadence_box.setSpecialValueText("auto")
        self.cadence_box.setRange(0.0, 260.0)
        self.cadence_box.setValue(self.model.user_cadence_target or 0.0)
        self.cadence_box.valueChanged.connect(
            lambda v: self.model.set_cadence_target(v if v > 0 else None)
        )
        row.addWidget(self.cadence_box)
        row.addWidget(QtWidgets.QLabel("pelvic-drop limit (deg)"))
        self.drop_box = QtWidgets.QDoubleSpinBox()
        self.drop_box.setRange(0.5, 30.0)
        self.drop_box.setSingleStep(0.5)
        self.drop_box.setValue(self.model.drop_limit_deg)
        self.drop_box.valueChanged.connect(self.model.set_drop_limit)
        row.addWidget(self.drop_box)
        return row

    def _add_sensor_plots(self, sid: str) -> None:
        info = self.hub.sensors[sid]
        # pyqtgraph titles are HTML: the untrusted sensor id is escaped for it too
        name = html.escape(terminal_safe(f"{info.placement} ({info.sensor_id})", 60))
        plots = []
        units = [("acceleration", "g")]
        if info.has_gyro:
            units.append(("angular rate", "deg/s"))
        for kind, unit in units:
            p = self.raw_view.addPlot(row=self.raw_view.ci.layout.rowCount(), col=0)
            p.setTitle(f"{name}: {kind} ({unit})", size="9pt")
            p.setXRange(-self.window_s, 0.0, padding=0)
            p.enableAutoRange(x=False, y=False)
            p.setMouseEnabled(x=False, y=False)
            p.hideButtons()
            _cache_axes(p)
            for axis in ("left", "bottom"):
                # ticks outside the plot: an axis drawn into the plot area would be repainted
                # with the lines every frame
                p.getAxis(axis).setStyle(tickLength=5)
            curves = ChannelCurves(AXIS_COLOURS)
            p.addItem(curves)
            plots.append((p, curves))
        self._raw[sid] = {"plots": plots, "decimate": Decimator()}

    def _add_panel(self, spec) -> None:
        row = len(self._panels)
        p = self.step_view.addPlot(row=row, col=0)
        p.setTitle(spec.title, size="9pt")
        p.setXRange(-TREND_S, 0.0, padding=0)
        p.enableAutoRange(x=False, y=True)
        p.setMouseEnabled(x=False, y=False)
        p.hideButtons()
        p.setMaximumHeight(160)
        _cache_axes(p)
        groups = list(SIDES) if spec.by_side else ["all"]
        curves = {}
        for g in groups:
            c = pg.PlotCurveItem(pen=pg.mkPen(SIDE_COLOURS[g], width=1))
            p.addItem(c)
            curves[g] = c
        dash, dot = QtCore.Qt.PenStyle.DashLine, QtCore.Qt.PenStyle.DotLine
        median = pg.InfiniteLine(angle=0, pen=pg.mkPen("#888888", style=dash))
        target = pg.InfiniteLine(angle=0, pen=pg.mkPen("#c00000", style=dot))
        for line in (median, target):
            line.setVisible(False)
        p.addItem(median, ignoreBounds=True)
        p.addItem(target)  # the y range includes the target, so the line is always in view
        self._panels[spec.column] = {
            "plot": p, "curves": curves, "median": median, "target": target, "warning": None,
        }

    # -- drawing ------------------------------------------------------------------------------

    def set_refresh_hz(self, hz: float) -> None:
        self.refresh_hz = float(hz)
        self.timer.setInterval(max(1, round(1000.0 / self.refresh_hz)))

    def start(self) -> None:
        self.timer.start()

    def refresh(self) -> None:
        """One frame: new sensors and panels, raw curves, per-step panels, status.

        An exception here would abort the process (PyQt6 ends on an exception in a slot), so
        it is shown in the status line and printed once, and the next frame tries again."""
        try:
            self._refresh()
        except Exception as e:  # noqa: BLE001 - see the docstring
            text = f"display error: {type(e).__name__}: {e}"
            if not self.hub.errors or self.hub.errors[-1] != text:
                import traceback

                traceback.print_exc()
                self.hub.errors.append(text)

    def _refresh(self) -> None:
        if self._closed:
            return
        for sid in list(self.hub.sensors):
            if sid not in self._raw:
                self._add_sensor_plots(sid)
        now = self.hub.now_s
        if not self.display_paused and math.isfinite(now):
            self._draw_raw(now)
            self._draw_steps(now)
            self.frames += 1
        wall = time.monotonic()
        if wall - self._last_status > 0.25:
            self._last_status = wall
            self._draw_status()

    def _draw_raw(self, now: float) -> None:
        # nothing new (a paused replay, a silent device): keep the picture, skip the work
        key = (now, self.window_s,
               tuple((r.epoch, r.written) for r in self.hub.rings.values()),
               tuple(e["plots"][0][0].getViewBox().width() for e in self._raw.values()))
        if key == self._last_raw_key:
            return
        self._last_raw_key = key
        newest_arrival = math.nan
        for sid, entry in self._raw.items():
            w = self.hub.rings[sid].window(self.window_s, end_s=now)
            if len(w) == 0:
                for plot, curves in entry["plots"]:
                    curves.set_data(np.zeros(0), np.zeros((3, 0)))
                    curves.place(plot.getViewBox().viewRect())
                continue
            plot0 = entry["plots"][0][0]
            n_bins = max(64, int(plot0.getViewBox().width() * self.bins_per_pixel))
            x, y = entry["decimate"](w.t_s, w.values, n_bins, w.first_index, w.epoch)
            x = x - now
            for k, (plot, curves) in enumerate(entry["plots"]):
                curves.set_data(x, y[3 * k : 3 * k + 3])
                if curves.bounds is not None:
                    _fit_y(plot, curves.bounds[2], curves.bounds[3])
                curves.place(plot.getViewBox().viewRect())
            if not newest_arrival >= w.newest_arrival_s:
                newest_arrival = w.newest_arrival_s
        self.last_drawn_arrival_s = newest_arrival
        self._draw_markers(now)

    def _draw_markers(self, now: float) -> None:
        marks = [m for m in self.hub.markers if now - self.window_s <= m.t_s <= now]
        plots = [p for e in self._raw.values() for p, _ in e["plots"]]
        while len(self._marker_lines) < len(marks) * len(plots):
            self._marker_lines.append(None)
        k = 0
        for p in plots:
            for m in marks:
                line = self._marker_lines[k]
                if line is None:
                    line = pg.InfiniteLine(angle=90, pen=pg.mkPen("#9a6324", width=2))
                    p.addItem(line, ignoreBounds=True)
                    self._marker_lines[k] = line
                    line._owner = p
                if line._owner is not p:
                    line._owner.removeItem(line)
                    p.addItem(line, ignoreBounds=True)
                    line._owner = p
                line.setPos(m.t_s - now)
                line.setVisible(True)
                k += 1
        for line in self._marker_lines[k:]:
            if line is not None:
                line.setVisible(False)

    def _draw_steps(self, now: float) -> None:
        # Steps arrive in bursts (one per 2 s analysis frame): redraw the panels when new
        # steps came in, else once a second to scroll them.
        wall = time.monotonic()
        if not self.model.update() and wall - self._last_steps_draw < 1.0:
            return
        self._last_steps_draw = wall
        for spec in self.model.panels:
            st = self.model.states[spec.column]
            if spec.column not in self._panels:
                if not (spec.optional and st.available):
                    continue
                self._add_panel(spec)
            entry = self._panels[spec.column]
            for g, curve in entry["curves"].items():
                t, v = st.series.get(g, (np.zeros(0), np.zeros(0)))
                keep = (t >= now - TREND_S) & np.isfinite(v)
                curve.setData(t[keep] - now, v[keep])
            entry["median"].setVisible(bool(np.isfinite(st.median)))
            if np.isfinite(st.median):
                entry["median"].setPos(st.median)
            entry["target"].setVisible(st.target is not None)
            if st.target is not None:
                entry["target"].setPos(st.target)
            label = st.label()
            if st.warning:
                label += "  OFF TARGET" + (f" ({st.warning_side})" if st.warning_side else "")
            if entry.get("text") != label or entry["warning"] != st.warning:
                colour = WARN_TEXT if st.warning else "#000000"
                entry["plot"].setTitle(label, size="9pt", color=colour)
                entry["plot"].getViewBox().setBackgroundColor(
                    WARN_BACKGROUND if st.warning else OK_BACKGROUND
                )
                entry["text"], entry["warning"] = label, st.warning

    def _draw_status(self) -> None:
        parts = []
        for st in list(self.hub.status.values()):  # the worker may add devices meanwhile
            state = st.state + (f" ({st.detail})" if st.detail else "")
            bits = [terminal_safe(st.name, 40), terminal_safe(state, 80)]
            if st.battery_pct is not None:
                bits.append(f"battery {st.battery_pct:.0f} %")
            if math.isfinite(st.loss_pct):
                bits.append(f"loss {st.loss_pct:.1f} %")
            if math.isfinite(st.clock_offset_s):
                bits.append(_offset_text(st))
            parts.append(" ".join(bits[:1]) + ": " + ", ".join(bits[1:]))
        for sid, n in list(self.hub.saturated.items()):
            parts.append(f"{terminal_safe(sid, 40)}: accelerometer saturated in {n} steps or "
                         "strides (no impact or stride length there)")
        if self.hub.recording_path:
            parts.append(f"REC {terminal_safe(self.hub.recording_path, 80)}")
        if self.display_paused:
            parts.append("display frozen (P)")
        if self.hub.errors:
            parts.append(terminal_safe(self.hub.errors[-1], 160))
        self.status_label.setText("   |   ".join(parts) or "waiting for data")
        f = self.feeder
        if isinstance(f, ReplayFeeder) and not f.live and math.isfinite(f.duration_s):
            if not self.seek_slider.isSliderDown() and f.duration_s > 0:
                self.seek_slider.setValue(round(1000 * f.position_s / f.duration_s))
            self.position_label.setText(f"{f.position_s:7.1f} / {f.duration_s:.1f} s")
            self.play_button.setText("Play (Space)" if f.paused else "Pause (Space)")

    # -- user actions --------------------------------------------------------------------------

    def panel_text(self, column: str) -> str:
        """The headline shown on a panel (empty if the panel is not shown)."""
        return self._panels.get(column, {}).get("text", "")

    def panel_warning(self, column: str) -> bool:
        return bool(self._panels.get(column, {}).get("warning"))

    def set_window_s(self, seconds: float) -> None:
        self.window_s = min(float(seconds), self.hub.window_max_s)
        for entry in self._raw.values():
            for p, _ in entry["plots"]:
                p.setXRange(-self.window_s, 0.0, padding=0)

    def toggle_display(self) -> None:
        self.display_paused = not self.display_paused
        self.freeze_button.setChecked(self.display_paused)
        self._draw_status()

    def toggle_play(self) -> None:
        if isinstance(self.feeder, ReplayFeeder) and not self.feeder.live:
            if self.feeder.paused:
                self.feeder.resume()
            else:
                self.feeder.pause()
            self._draw_status()

    def seek_by(self, seconds: float) -> None:
        if isinstance(self.feeder, ReplayFeeder) and not self.feeder.live:
            self.feeder.seek(self.feeder.position_s + seconds)

    def _slider_seek(self) -> None:
        f = self.feeder
        if isinstance(f, ReplayFeeder) and math.isfinite(f.duration_s):
            f.seek(self.seek_slider.value() / 1000.0 * f.duration_s)

    def step_speed(self, direction: int) -> None:
        i = min(max(self.speed_box.currentIndex() + direction, 0), len(SPEEDS) - 1)
        self.speed_box.setCurrentIndex(i)

    def _speed_changed(self, index: int) -> None:
        if isinstance(self.feeder, ReplayFeeder):
            self.feeder.set_speed(SPEEDS[index])

    def add_marker(self) -> None:
        self.hub.add_marker()
        self._draw_status()

    def toggle_record(self) -> None:
        if self.hub.recording:
            self.hub.request("record_stop")
            self.record_button.setChecked(False)
        else:
            stamp = time.strftime("%Y%m%d-%H%M%S")
            path = self.record_dir / f"imu-hip-{stamp}.mcap"
            self.hub.request("record_start", str(path))
            self.record_button.setChecked(True)

    def save_screenshot(self, path: str | Path) -> None:
        """Save a PNG of the whole window."""
        if not self.grab().save(str(path), "PNG"):
            from imu_hip.model import ImuHipError

            raise ImuHipError(f"{path}: cannot write the screenshot")

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.timer.stop()
        self._closed = True
        if self.feeder is not None:
            self.feeder.stop()
        # Take the plots down while everything is alive: left to the deletion of the window
        # (or to Python's garbage collector), pyqtgraph items were seen painted half-deleted.
        for view in (self.raw_view, self.step_view):
            view.clear()
        self._raw.clear()
        self._panels.clear()
        self._marker_lines.clear()
        super().closeEvent(event)
        self.closed.emit()


def _offset_text(st) -> str:
    """Clock offset (host minus device time). Devices that count from power-on have offsets of
    years; then the change since the first reading is shown (that is what drifts)."""
    if abs(st.clock_offset_s) < 100.0:
        return f"clock offset {1000 * st.clock_offset_s:+.1f} ms"
    if st.first_clock_offset_s is None:
        st.first_clock_offset_s = st.clock_offset_s
    change_ms = 1000 * (st.clock_offset_s - st.first_clock_offset_s)
    return f"clock offset {change_ms:+.1f} ms since start"


def _cache_axes(plot) -> None:
    """Axes repaint from a pixmap until their range changes (drawing tick text is the
    costliest part of a frame otherwise)."""
    cache = QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache
    for name in ("left", "bottom"):
        plot.getAxis(name).setCacheMode(cache)
    plot.titleLabel.setCacheMode(cache)


def _fit_y(plot, lo: float, hi: float) -> None:
    """Y range with hysteresis: changed only when the data leave it or fill less than half of
    it, so the axis (and its cached picture) stays still from frame to frame."""
    (a, b) = plot.getViewBox().viewRange()[1]
    span = max(hi - lo, 1e-6)
    if lo < a or hi > b or span < 0.5 * (b - a):
        pad = 0.08 * span
        plot.setYRange(lo - pad, hi + pad, padding=0)


def simulated_session(minutes: float = 10.0, seed: int = 7):
    """The ``--sim`` recording: the demo runner (stand, walk, run with fatigue), all sensors."""
    from imu_hip.sim import demo_params, simulate

    return simulate(demo_params(minutes), seed=seed).recording


def run_viewer(
    source,
    speed: float = 1.0,
    window_s: float = 10.0,
    cadence_target_spm: float | None = None,
    drop_limit_deg: float = 7.0,
    screenshot: str | Path | None = None,
    duration_s: float | None = None,
    live: bool = False,
    title: str = "imu-hip",
    refresh_hz: float = 30.0,
) -> int:
    """Open the window on ``source`` and run the Qt event loop until it is closed.

    ``source``: a Recording (or a callable returning one) to replay at ``speed``, or a feeder
    factory ``hub -> Feeder`` (a live session). ``live``: a replayed source is shown as a live
    session (no seek). ``screenshot`` + ``duration_s``: run that many seconds, save a PNG, exit.
    """
    from imu_hip.viewer.feed import Feeder

    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    hub = Hub(window_max_s=max(60.0, window_s))
    model = FeedbackModel(hub.steps, cadence_target_spm=cadence_target_spm,
                          drop_limit_deg=drop_limit_deg)
    if callable(source) and not isinstance(source, type) and _is_feeder_factory(source):
        feeder: Feeder = source(hub)
    else:
        feeder = ReplayFeeder(source, hub, speed=speed, live=live)
    win = ViewerWindow(hub, model, feeder=feeder, window_s=window_s, refresh_hz=refresh_hz,
                       title=title)
    feeder.start()
    win.start()
    win.show()
    problems: list[Exception] = []
    # A local event loop (not app.exec/quit): the window may live in an application that
    # outlives it (a notebook, the tests), whose own loops must keep running afterwards.
    loop = QtCore.QEventLoop()
    quit_on_close = app.quitOnLastWindowClosed()
    app.setQuitOnLastWindowClosed(False)
    win.closed.connect(loop.quit)
    if duration_s is not None:
        def done() -> None:
            try:
                if screenshot is not None:
                    win.refresh()
                    win.save_screenshot(screenshot)
            except Exception as e:  # noqa: BLE001 - an exception must not escape a Qt slot
                problems.append(e)
            win.close()

        QtCore.QTimer.singleShot(round(1000 * duration_s), done)
    try:
        loop.exec()
    finally:
        app.setQuitOnLastWindowClosed(quit_on_close)
        # Delete the window now, through Qt (children before parents), not whenever Python's
        # garbage collector gets to it: collected in the middle of another window's paint, a
        # pyqtgraph scene can crash the process.
        win.deleteLater()
        QtCore.QCoreApplication.sendPostedEvents(None, QtCore.QEvent.Type.DeferredDelete)
        import gc

        gc.collect()
    feeder.stop()
    if problems:
        raise problems[0]
    if feeder.error:
        from imu_hip.model import ImuHipError

        raise ImuHipError(feeder.error)
    return 0


def _is_feeder_factory(obj) -> bool:
    return bool(getattr(obj, "is_feeder_factory", False))
