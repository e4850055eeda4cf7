"""Per-step panels, their statistics and the targets with hysteresis (no Qt).

The panel list is :data:`PANELS`; adding a metric to the viewer is one :class:`PanelSpec` line.
A panel appears when its column has values: the sacral metrics from the start, the shoe metrics
(``optional=True``) once a step carrying them arrives.

Statistics (running steps only: walking steps are drawn but do not count, so a warm-up walk does
not pull the cadence median down):

- *rolling mean*: the mean of the last ``rolling_steps`` (default 10) finite values, per side for
  side-split panels;
- *run median*: the median of all finite values so far.

Targets and their hysteresis (the warning colour flips on at one threshold and back off at
another, so a value hovering at the limit does not make the panel flicker):

- cadence (``kind="min"``): target T = the user's value, or the median cadence of the first
  ``baseline_s`` (default 120 s) of running x 1.075 (+7.5 %, the middle of the +5-10 % cadence
  increase advised for retraining). Warning when the rolling mean falls below T - 2.5 % (that is,
  below the +5 % end of the band), cleared when it is back at or above T - 1.5 %.
- pelvic drop (``kind="max"``): limit L (default 7 deg). Warning when the rolling mean of either
  side rises above L, cleared when both sides are at or below L - 0.5 deg.

No decision is taken before ``rolling_steps`` running steps (per side) have been seen.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

SIDES = ("left", "right")


@dataclass(frozen=True)
class PanelSpec:
    """One per-step panel: ``column`` of the step table, shown as ``value * scale`` in ``unit``.

    ``by_side``: separate left/right series (and rolling means). ``optional``: shown only once a
    value has arrived (metrics that need a shoe sensor).
    """

    column: str
    title: str
    unit: str
    scale: float = 1.0
    decimals: int = 0
    by_side: bool = False
    optional: bool = False


PANELS: tuple[PanelSpec, ...] = (
    PanelSpec("cadence_spm", "cadence", "spm", decimals=1),
    PanelSpec("contact_time_s", "contact time", "ms", scale=1000.0),
    PanelSpec("flight_time_s", "flight time", "ms", scale=1000.0),
    PanelSpec("impact_peak_g", "impact peak", "g", decimals=2),
    PanelSpec("vgrf_peak_bw", "vGRF peak", "BW", decimals=2),
    PanelSpec("vertical_oscillation_m", "vertical oscillation", "cm", scale=100.0, decimals=1),
    PanelSpec("pelvic_drop_deg", "pelvic drop", "deg", decimals=1, by_side=True),
    PanelSpec("foot_strike_angle_deg", "foot-strike angle", "deg", decimals=1, by_side=True,
              optional=True),
    PanelSpec("pronation_excursion_deg", "pronation", "deg", decimals=1, by_side=True,
              optional=True),
)

CADENCE_BASELINE_GAIN = 1.075
CADENCE_WARN_BELOW = 0.025  # share of the target
CADENCE_CLEAR_BELOW = 0.015
DROP_CLEAR_MARGIN_DEG = 0.5
DEFAULT_DROP_LIMIT_DEG = 7.0


class StepStore:
    """All steps of the session so far, as growing columns (thread-safe: one writer, readers).

    ``append(table)`` takes a :class:`~imu_hip.steps.StepTable` or any mapping of equal-length
    columns (extra columns, e.g. shoe metrics, are kept; missing ones are NaN). ``truncate(t)``
    forgets the steps at or after host time ``t`` (a replay seek). ``generation`` changes on
    truncation, ``len(store)`` on append.
    """

    TEXT = ("side", "gait")

    def __init__(self, capacity: int = 1024):
        self._cap = capacity
        self._n = 0
        self._cols: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self.generation = 0

    def __len__(self) -> int:
        return self._n

    def append(self, table) -> None:
        cols: Mapping[str, np.ndarray] = getattr(table, "columns", table)
        if not cols:
            return
        m = len(next(iter(cols.values())))
        if m == 0:
            return
        with self._lock:
            need = self._n + m
            if need > self._cap:
                while self._cap < need:
                    self._cap *= 2
                for k, v in self._cols.items():
                    grown = self._empty(k, self._cap)
                    grown[: self._n] = v[: self._n]
                    self._cols[k] = grown
            for k, v in cols.items():
                if k not in self._cols:
                    self._cols[k] = self._empty(k, self._cap)
                self._cols[k][self._n : need] = np.asarray(v)
            for k, v in self._cols.items():
                if k not in cols:
                    v[self._n : need] = "unknown" if k in self.TEXT else np.nan
            self._n = need

    def _empty(self, name: str, n: int) -> np.ndarray:
        return np.full(n, "unknown", dtype="<U8") if name in self.TEXT else np.full(n, np.nan)

    def truncate(self, t_s: float) -> None:
        with self._lock:
            if "t_ic_s" in self._cols and self._n:
                self._n = int(np.count_nonzero(self._cols["t_ic_s"][: self._n] < t_s))
            self.generation += 1

    def snapshot(self) -> tuple[int, dict[str, np.ndarray]]:
        """(generation, copies of the columns)."""
        with self._lock:
            return self.generation, {k: v[: self._n].copy() for k, v in self._cols.items()}


@dataclass
class Target:
    """A target on a rolling mean with hysteresis; ``value`` None means no target yet.

    ``kind="min"``: warn when ``mean < value - warn_margin``, clear when ``mean >= value -
    clear_margin``. ``kind="max"``: warn when ``mean > value + warn_margin``, clear when ``mean <=
    value - clear_margin``. Margins are absolute (same unit as the value).
    """

    kind: str
    value: float | None = None
    warn_margin: float = 0.0
    clear_margin: float = 0.0
    warning: bool = False

    def update(self, mean: float) -> bool:
        if self.value is None or not np.isfinite(mean):
            return self.warning
        if self.kind == "min":
            if not self.warning and mean < self.value - self.warn_margin:
                self.warning = True
            elif self.warning and mean >= self.value - self.clear_margin:
                self.warning = False
        else:
            if not self.warning and mean > self.value + self.warn_margin:
                self.warning = True
            elif self.warning and mean <= self.value - self.clear_margin:
                self.warning = False
        return self.warning


@dataclass
class PanelState:
    """What a panel shows. ``series``: side ("all", "left", "right") -> (t_ic_s, display values)
    of every step; ``rolling``: side -> rolling mean (display unit); ``median``: run median
    (display unit); ``target``: target line (display unit) or None; ``warning``."""

    spec: PanelSpec
    series: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    rolling: dict[str, float] = field(default_factory=dict)
    median: float = float("nan")
    target: float | None = None
    warning: bool = False
    warning_side: str = ""

    @property
    def available(self) -> bool:
        return any(np.isfinite(v).any() for _, v in self.series.values())

    def label(self) -> str:
        """The panel's headline: rolling mean(s), the run median and the target."""
        d = self.spec.decimals
        if self.spec.by_side:
            parts = [f"{s[0].upper()} {_fmt(self.rolling.get(s, np.nan), d)}" for s in SIDES]
            now = "  ".join(parts)
        else:
            now = _fmt(self.rolling.get("all", np.nan), d)
        text = f"{self.spec.title}: {now} {self.spec.unit}  (median {_fmt(self.median, d)})"
        if self.target is not None:
            word = "limit" if self.spec.column == "pelvic_drop_deg" else "target"
            text += f"  {word} {_fmt(self.target, d)}"
        return text


def _fmt(x: float, decimals: int) -> str:
    return "--" if not np.isfinite(x) else f"{x:.{decimals}f}"


class FeedbackModel:
    """Turns the step store into panel states and target warnings (pure; called by the GUI).

    ``cadence_target_spm``: fixed target, or None for baseline x 1.075; ``drop_limit_deg``: the
    pelvic-drop limit. Both can be changed at any time (:meth:`set_cadence_target`,
    :meth:`set_drop_limit`).
    """

    def __init__(
        self,
        store: StepStore,
        panels: tuple[PanelSpec, ...] = PANELS,
        cadence_target_spm: float | None = None,
        drop_limit_deg: float = DEFAULT_DROP_LIMIT_DEG,
        rolling_steps: int = 10,
        baseline_s: float = 120.0,
    ):
        self.store = store
        self.panels = panels
        self.rolling_steps = int(rolling_steps)
        self.baseline_s = float(baseline_s)
        self.user_cadence_target = cadence_target_spm
        self.baseline_cadence_spm: float | None = None
        self.cadence = Target("min")
        self.drop = {s: Target("max", drop_limit_deg, 0.0, DROP_CLEAR_MARGIN_DEG) for s in SIDES}
        self.states = {p.column: PanelState(p) for p in panels}
        self._seen_generation = store.generation
        self._seen_len = -1
        self._set_cadence_target()

    # -- settings ---------------------------------------------------------------------------------

    def set_cadence_target(self, spm: float | None) -> None:
        self.user_cadence_target = spm
        self._set_cadence_target()
        self._seen_len = -1  # re-evaluate

    def set_drop_limit(self, deg: float) -> None:
        for t in self.drop.values():
            t.value = float(deg)
        self._seen_len = -1

    @property
    def drop_limit_deg(self) -> float:
        return float(self.drop["left"].value)

    @property
    def cadence_target_spm(self) -> float | None:
        return self.cadence.value

    def _set_cadence_target(self) -> None:
        target = self.user_cadence_target
        if target is None and self.baseline_cadence_spm is not None:
            target = self.baseline_cadence_spm * CADENCE_BASELINE_GAIN
        self.cadence.value = target
        if target is not None:
            self.cadence.warn_margin = CADENCE_WARN_BELOW * target
            self.cadence.clear_margin = CADENCE_CLEAR_BELOW * target

    # -- update -----------------------------------------------------------------------------------

    def update(self) -> bool:
        """Refresh the panel states from the store; True if anything changed."""
        generation, length = self.store.generation, len(self.store)
        if generation == self._seen_generation and length == self._seen_len:
            return False
        if generation != self._seen_generation:  # a seek: start the feedback over
            self.baseline_cadence_spm = None
            self.cadence.warning = False
            for t in self.drop.values():
                t.warning = False
            self._set_cadence_target()
        self._seen_generation, self._seen_len = generation, length
        _, cols = self.store.snapshot()
        n = len(cols.get("t_ic_s", ()))
        t = cols.get("t_ic_s", np.zeros(0))
        side = cols.get("side", np.full(n, "unknown"))
        running = cols.get("gait", np.full(n, "unknown")) != "walk"
        if self.baseline_cadence_spm is None and "cadence_spm" in cols:
            self._try_baseline(t[running], cols["cadence_spm"][running])
        for spec in self.panels:
            st = self.states[spec.column]
            raw = cols.get(spec.column)
            if raw is None:
                st.series = {}
                continue
            vals = raw * spec.scale
            groups = {"all": np.ones(n, bool)}
            if spec.by_side:
                groups = {s: side == s for s in SIDES}
            st.series = {g: (t[m], vals[m]) for g, m in groups.items()}
            st.rolling = {
                g: _rolling_mean(vals[m & running], self.rolling_steps) for g, m in groups.items()
            }
            ok = vals[running]
            ok = ok[np.isfinite(ok)]
            st.median = float(np.median(ok)) if ok.size else float("nan")
        self._apply_targets()
        return True

    def _try_baseline(self, t_run: np.ndarray, cad: np.ndarray) -> None:
        good = np.isfinite(cad)
        if not good.any():
            return
        t0 = t_run[good][0]
        if t_run[-1] < t0 + self.baseline_s:
            return  # the baseline period is not over yet
        inside = good & (t_run < t0 + self.baseline_s)
        self.baseline_cadence_spm = float(np.median(cad[inside]))
        self._set_cadence_target()

    def _apply_targets(self) -> None:
        cad = self.states.get("cadence_spm")
        if cad is not None:
            cad.target = self.cadence.value
            cad.warning = self.cadence.update(cad.rolling.get("all", np.nan))
        drop = self.states.get("pelvic_drop_deg")
        if drop is not None:
            drop.target = self.drop_limit_deg
            warn = [s for s in SIDES if self.drop[s].update(drop.rolling.get(s, np.nan))]
            drop.warning = bool(warn)
            drop.warning_side = "/".join(warn)


def _rolling_mean(values: np.ndarray, n: int) -> float:
    """Mean of the last ``n`` finite values; NaN until there are ``n`` of them."""
    v = values[np.isfinite(values)]
    if v.size < n:
        return float("nan")
    return float(v[-n:].mean())
