"""Accuracy of the sacral gait events (and vGRF peak) on real recordings and on the simulator.

Usage::

    python benchmarks/accuracy.py [--datasets DIR] [--no-sweep] [--no-sim]

``DIR`` defaults to ``../shared/datasets`` relative to the repository root. Datasets used (see
their README): ``sacrum_running_grf`` (force treadmill contacts), ``sacrum_running_raw_sample``
(raw clip, no reference: plausibility only) and ``lowerback_walking_mocap`` (Stereophoto and
INDIP initial contacts). The simulator (:mod:`imu_hip.sim`) adds rear, mid and fore-foot runners
at 2.5-5 m/s with exact truth.

Two ways in, both reported:

* **full pipeline** (the headline tables): each recording becomes a
  :class:`~imu_hip.model.SensorRecording` in its *sensor* frame (running data: x = the AP
  channel, y = 0, z = the vertical channel; walking data: the file's raw axes in m/s² and rad/s;
  simulator: its randomly mounted sensor) and goes through :func:`imu_hip.analyze`, so the
  automatic sensor-to-body alignment is part of what is measured;
* **detector only**: the data put into the body frame by hand below and passed to
  :func:`~imu_hip.gait.sacrum.detect_sacral_events` (isolates the event detector; used for the
  sensitivity sweep).

Output is markdown (tables paste into the README). The matching and statistics are plain
functions of (estimates, reference).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import functools
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from md_tables import md_table

import imu_hip
from imu_hip.dsp import alignment
from imu_hip.dsp.filters import moving_mean
from imu_hip.gait import sacrum
from imu_hip.gait.sacrum import SacralEvents, detect_sacral_events
from imu_hip.metrics import grf
from imu_hip.metrics.grf import active_peak_g, vgrf_peak_bw
from imu_hip.model import G, SensorRecording
from imu_hip.validation import error_stats, match_events

REPO = Path(__file__).resolve().parents[1]
RUN_TOL_S = 0.1  # an estimate matches a reference contact within 100 ms (step time >= 0.25 s)
WALK_TOL_S = 0.25  # walking steps are >= 0.45 s apart
WALK_MARGIN_S = 0.5  # detections this close outside a reference walking bout are not judged
#: Simulated runners: (foot strike, speed m/s, cadence spm, duty factor), 40 s each.
SIM_RUNS = [(strike, v, cad, duty) for strike in ("rear", "mid", "fore")
            for v, cad, duty in ((2.5, 160.0, 0.38), (3.5, 172.0, 0.35), (5.0, 185.0, 0.30))]
SIM_SECONDS = 40.0

Detector = Callable[[np.ndarray, np.ndarray | None, float], SacralEvents]


# --------------------------------------------------------------------------- output


def _f(x: float, fmt: str = "{:.1f}") -> str:
    return "-" if not np.isfinite(x) else fmt.format(x)


def _ms(x: np.ndarray) -> dict[str, float]:
    return error_stats(1000.0 * np.asarray(x, dtype=float))


# --------------------------------------------------------------------------- data loading


def _read_csv(path: Path) -> dict[str, np.ndarray]:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    out: dict[str, np.ndarray] = {}
    for key in rows[0]:
        vals = [r[key] for r in rows]
        try:
            out[key] = np.array([float(v) if v != "" else np.nan for v in vals])
        except ValueError:
            out[key] = np.array(vals, dtype=object)
    return out


@dataclass
class Trial:
    """One recording: the sensor-frame stream for the pipeline, the body-frame arrays for the
    detector, the reference and extra signals."""

    name: str
    rate_hz: float
    acc_body_mps2: np.ndarray
    gyr_body_rads: np.ndarray | None
    ref: dict[str, np.ndarray]
    extra: dict[str, object]
    sensor: SensorRecording | None = None
    label: str = ""


def running_grf_trials(root: Path) -> list[Trial]:
    """sacrum_running_grf: vertical (g, gravity included, negatives clipped) and AP (g), no
    mediolateral axis, no gyroscope. Sensor frame for the pipeline: x = AP, y = 0, z = vertical.
    Body frame for the detector: the same (the channels are the dataset's own vertical and AP)."""
    base = root / "sacrum_running_grf"
    ref_all = _read_csv(base / "reference_contacts.csv")
    index = _read_csv(base / "trials_index.csv")
    trials = []
    for k, (tr, fname) in enumerate(zip(index["trial"], index["file"], strict=True)):
        d = _read_csv(base / str(fname))
        rate = 1.0 / float(np.median(np.diff(d["t_s"])))
        acc = np.column_stack(
            [d["acc_ap_g"] * G, np.zeros_like(d["acc_ap_g"]), d["acc_vert_g_negclipped"] * G]
        )
        sel = ref_all["trial"] == tr
        ref = {key: v[sel] for key, v in ref_all.items()}
        sensor = SensorRecording(f"trial_{int(tr):02d}", "sacrum", rate, d["t_s"], acc)
        label = (f"{index['speed_mps'][k]:.2f} m/s, {index['slope_deg'][k]:+.0f} deg, "
                 f"{'rear' if index['pct_RFS'][k] >= 50 else 'mid/fore'}")
        trials.append(Trial(f"trial_{int(tr):02d}", rate, acc, None, ref,
                            {"grf_bw": d["grf_normal_bw"], "t_s": d["t_s"]}, sensor, label))
    return trials


def running_raw_sample(root: Path) -> Trial:
    """sacrum_running_raw_sample: X is vertical with its sign flipped (up = -X), Z is AP with its
    sign flipped (forward = -Z); a right-handed sensor then has left = -Y. For the detector the
    small mounting tilt is removed by rotating the mean acceleration onto +z; the pipeline gets
    the raw axes."""
    d = _read_csv(root / "sacrum_running_raw_sample" / "Sample_test_data.csv")
    t = d["System_Timestamp_Plot_Zeroed"] / 1000.0
    rate = 1.0 / float(np.median(np.diff(t)))
    raw = np.column_stack([d["Accel_LN_X"], d["Accel_LN_Y"], d["Accel_LN_Z"]])
    acc = np.column_stack([-raw[:, 2], -raw[:, 1], -raw[:, 0]])
    acc = level_to_gravity(acc, acc)
    sensor = SensorRecording("raw_sample", "sacrum", rate, t - t[0], raw)
    return Trial("raw_sample", rate, acc, None, {}, {"t_s": t}, sensor)


def level_to_gravity(vec: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """Rotate ``vec`` rows by the smallest rotation that takes the mean of ``acc`` onto +z."""
    g = acc.mean(axis=0)
    g = g / np.linalg.norm(g)
    z = np.array([0.0, 0.0, 1.0])
    v = np.cross(g, z)
    c = float(np.dot(g, z))
    vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    rot = np.eye(3) + vx + vx @ vx / (1.0 + c)
    return vec @ rot.T


def walking_recordings(root: Path) -> list[Trial]:
    """lowerback_walking_mocap, 100 Hz, g and deg/s. Axes found from the data: x is vertical
    (reads +1 g standing); y carries most power at the stride frequency (mediolateral), z at the
    step frequency (anteroposterior). In turns the low-passed y acceleration is anti-correlated
    with the rate about x (centripetal acceleration points into the turn: a_left = +v * w_up), so
    +y points right; a right-handed sensor then has +z forward. Body frame for the detector:
    forward = +z, left = -y, up = +x (a proper rotation), then levelled by the mean acceleration.
    The pipeline gets the raw axes in m/s² and rad/s."""
    base = root / "lowerback_walking_mocap"
    out = []
    for f in sorted(base.glob("*_lowerback_imu.csv")):
        name = f.name.replace("_lowerback_imu.csv", "")
        d = _read_csv(f)
        rate = 1.0 / float(np.median(np.diff(d["t_s"])))
        raw_acc = np.column_stack([d["acc_x_g"], d["acc_y_g"], d["acc_z_g"]]) * G
        raw_gyr = np.deg2rad(np.column_stack([d["gyr_x_dps"], d["gyr_y_dps"], d["gyr_z_dps"]]))
        acc = raw_acc[:, [2, 1, 0]] * [1.0, -1.0, 1.0]
        gyr = raw_gyr[:, [2, 1, 0]] * [1.0, -1.0, 1.0]
        acc_l = level_to_gravity(acc, acc)
        gyr_l = level_to_gravity(gyr, acc)
        refs = {}
        for system in ("Stereophoto", "INDIP"):
            ev = _read_csv(base / f"{name}_ref_{system}_events.csv")
            wb = _read_csv(base / f"{name}_ref_{system}_walkingbouts.csv")
            refs[system] = (ev, wb)
        sensor = SensorRecording(name, "sacrum", rate, d["t_s"], raw_acc, raw_gyr)
        out.append(Trial(name, rate, acc_l, gyr_l, {}, {"refs": refs}, sensor))
    return out


@dataclass
class SimRun:
    """One simulated run: the recording for the pipeline, the body-frame sacrum for the
    detector (the sensor rotated by the simulator's own mounting), and the truth."""

    name: str
    rate_hz: float
    sensor: SensorRecording
    acc_body_mps2: np.ndarray
    gyr_body_rads: np.ndarray | None
    truth: dict[str, np.ndarray]


def simulated_runs(seed: int = 0) -> list[SimRun]:
    out = []
    for strike, v, cad, duty in SIM_RUNS:
        p = imu_hip.sim.RunnerParams(speed_mps=v, foot_strike=strike, cadence_spm=cad,
                                     duty_factor=duty, phases=(("run", SIM_SECONDS),))
        sim = imu_hip.sim.simulate(p, seed=seed, placements=("sacrum",))
        sensor = sim.recording.sensor("sacrum")
        rot = sim.mounting["sacrum"]  # body = R @ sensor
        gyr = None if sensor.gyr_rads is None else sensor.gyr_rads @ rot.T
        out.append(SimRun(f"{strike} {v:.1f} m/s", p.rate_hz, sensor, sensor.acc_mps2 @ rot.T,
                          gyr, sim.truth))
    return out


# --------------------------------------------------------------------------- estimates


@dataclass
class Estimates:
    """Per detected contact, in seconds: initial contact, toe-off, step time to the next contact
    of the same bout (NaN at a bout's end), gait, side, vGRF peak (BW); ``parts`` holds the
    separate vGRF estimates (detector path only)."""

    t_ic: np.ndarray
    t_to: np.ndarray
    step: np.ndarray
    gait: np.ndarray
    side: np.ndarray
    vgrf: np.ndarray
    parts: dict[str, np.ndarray] = field(default_factory=dict)


def from_events(ev: SacralEvents, acc_body: np.ndarray, rate_hz: float,
                t0_s: float = 0.0) -> Estimates:
    """Estimates from detector events, with the vGRF computed as the pipeline does."""
    fs = rate_hz
    same = np.append(ev.bout[1:] == ev.bout[:-1], False)
    step = np.where(same, np.append(np.diff(ev.ic), np.nan), np.nan) / fs
    contact = (ev.to - ev.ic) / fs
    peak = active_peak_g(acc_body[:, 2], ev.ic, ev.to, fs)
    raw = np.full(ev.ic.size, np.nan)
    a = acc_body[:, 2] / G
    for k, (i0, i1) in enumerate(zip(ev.ic, ev.to, strict=True)):
        if np.isfinite(i0) and np.isfinite(i1):
            raw[k] = a[int(i0) : int(np.ceil(i1)) + 1].max()
    return Estimates(
        t0_s + ev.ic / fs, t0_s + ev.to / fs, step, ev.gait, ev.side,
        vgrf_peak_bw(contact, step, gait=ev.gait, active_peak=peak),
        {"timing": vgrf_peak_bw(contact, step, gait=ev.gait), "newton": peak, "raw": raw},
    )


def from_pipeline(
    sensor: SensorRecording, axes: str = "auto"
) -> tuple[Estimates, imu_hip.AnalysisResult]:
    res = imu_hip.analyze(sensor, axes=axes)
    st = res.steps
    if len(st) == 0:
        e = np.zeros(0)
        return Estimates(e, e, e, e.astype(object), e.astype(object), e), res
    return Estimates(st["t_ic_s"], st["t_to_s"], st["step_time_s"], st["gait"], st["side"],
                     st["vgrf_peak_bw"]), res


def detect(trial: Trial | SimRun, detector: Detector = detect_sacral_events) -> Estimates:
    ev = detector(trial.acc_body_mps2, trial.gyr_body_rads, trial.rate_hz)
    return from_events(ev, trial.acc_body_mps2, trial.rate_hz)


# --------------------------------------------------------------------------- running statistics


def running_stats(est: Estimates, trial: Trial) -> dict[str, object]:
    """Match detected contacts to the force-plate contacts of one trial; per-contact errors."""
    ref = trial.ref
    i_est, i_ref = match_events(est.t_ic, ref["t_on_s"], RUN_TOL_S)
    # unmatched detections at a real force onset the reference left out (cut by the file end)
    grf_bw, t = trial.extra["grf_bw"], trial.extra["t_s"]
    onsets = t[1:][(grf_bw[:-1] <= 0.05) & (grf_bw[1:] > 0.05)]  # type: ignore[index,operator]
    unmatched = np.setdiff1d(np.arange(est.t_ic.size), i_est)
    cut = [k for k in unmatched
           if onsets.size and np.min(np.abs(onsets - est.t_ic[k])) <= RUN_TOL_S
           and est.t_ic[k] > ref["t_off_s"][-1]]
    step_est = est.step[i_est]
    ok = np.isfinite(step_est) & np.isfinite(ref["step_time_to_next_s"][i_ref])
    peak = ref["peak_grf_bw"][i_ref]
    out: dict[str, object] = {
        "n_ref": int(ref["t_on_s"].size),
        "found": int(i_ref.size),
        "extra": int(unmatched.size - len(cut)),
        "ic_err": est.t_ic[i_est] - ref["t_on_s"][i_ref],
        "to_err": est.t_to[i_est] - ref["t_off_s"][i_ref],
        "ct_err": (est.t_to - est.t_ic)[i_est] - ref["contact_time_s"][i_ref],
        "flight_err": (est.t_ic[i_est] + step_est - est.t_to[i_est])
        - ref["flight_time_to_next_s"][i_ref],
        "step_err": step_est - ref["step_time_to_next_s"][i_ref],
        "cad_err": (60.0 / np.mean(step_est[ok]) if ok.any() else np.nan)
        - 60.0 / np.nanmean(ref["step_time_to_next_s"]),
        "vgrf_err_pct": 100.0 * (est.vgrf[i_est] / peak - 1.0),
        "gait_run_pct": 100.0 * float(np.mean(est.gait[i_est] == "run")) if i_est.size else np.nan,
    }
    for key, v in est.parts.items():
        out[f"vgrf_{key}_err_pct"] = 100.0 * (v[i_est] / peak - 1.0)
    return out


RUN_HEAD = ["trial", "condition", "found", "extra", "IC err", "IC MAE", "TO err", "TO MAE",
            "CT RMSE", "FT MAE", "ST MAE", "cad err", "vGRF MAPE", "run %"]


def _pool(rows: list[tuple[str, dict[str, object]]], key: str) -> np.ndarray:
    return np.concatenate([np.asarray(r[key], dtype=float) for _, r in rows])


def _running_row(name: str, label: str, r: dict[str, object]) -> list[str]:
    ic, to = _ms(r["ic_err"]), _ms(r["to_err"])  # type: ignore[arg-type]
    return [name, label, f"{r['found']}/{r['n_ref']}", f"{r['extra']}",
            f"{ic['mean']:+.1f} ± {ic['sd']:.1f}", _f(ic["mae"]), _f(to["mean"], "{:+.1f}"),
            _f(to["mae"]), _f(_ms(r["ct_err"])["rmse"]),  # type: ignore[arg-type]
            _f(_ms(r["flight_err"])["mae"]), _f(_ms(r["step_err"])["mae"]),  # type: ignore
            _f(float(r["cad_err"]), "{:+.2f}"),  # type: ignore[arg-type]
            _f(error_stats(r["vgrf_err_pct"])["mae"], "{:.1f} %"),  # type: ignore[arg-type]
            _f(float(r["gait_run_pct"]), "{:.0f}")]  # type: ignore[arg-type]


def running_table(trials: list[Trial], rows: list[tuple[str, dict[str, object]]]) -> str:
    """Per-trial rows and the pooled row (cadence error of ALL: mean |error| over trials)."""
    body = [_running_row(name, tr.label, r) for tr, (name, r) in zip(trials, rows, strict=True)]
    pooled: dict[str, object] = {
        "n_ref": sum(int(r["n_ref"]) for _, r in rows),  # type: ignore[call-overload]
        "found": sum(int(r["found"]) for _, r in rows),  # type: ignore[call-overload]
        "extra": sum(int(r["extra"]) for _, r in rows),  # type: ignore[call-overload]
        "cad_err": float(np.nanmean([abs(float(r["cad_err"])) for _, r in rows])),  # type: ignore
        "gait_run_pct": float(np.mean([float(r["gait_run_pct"]) for _, r in rows])),  # type: ignore
    }
    for key in ("ic_err", "to_err", "ct_err", "flight_err", "step_err", "vgrf_err_pct"):
        pooled[key] = _pool(rows, key)
    body.append(_running_row("**ALL**", "(cad: mean \\|err\\|)", pooled))
    return md_table(RUN_HEAD, body)


def vgrf_breakdown(rows: list[tuple[str, dict[str, object]]]) -> str:
    """Pooled vGRF peak errors of each estimate, against the force-plate active peak."""
    body = []
    for key, label in (("vgrf_timing_err_pct", "timing (spring-mass, Morin 2005)"),
                       ("vgrf_newton_err_pct", "Newton (5 Hz low-passed trunk acc.)"),
                       ("vgrf_err_pct", "mean of both (reported)"),
                       ("vgrf_raw_err_pct", "raw acceleration peak (for contrast)")):
        e = error_stats(_pool(rows, key))
        body.append([label, f"{e['mean']:+.1f} %", f"{e['sd']:.1f} %", f"{e['mae']:.1f} %",
                     str(e["n"])])
    return md_table(["vGRF active peak estimate", "bias", "SD", "MAPE", "n"], body)


def _alternation(x: np.ndarray, sign: np.ndarray) -> float:
    """Mean of ``sign`` (+1/-1 by foot) times ``x`` about its mean, over finite values (ms)."""
    ok = np.isfinite(x)
    return float(np.mean(sign[ok] * (x[ok] - np.mean(x[ok])))) if ok.any() else np.nan


def side_offsets(trials: list[Trial]) -> str:
    """Left/right alternation per trial (detector only): half the difference between the two
    feet's mean step time (each contact to the next) and contact time, on the force plate and
    estimated, and that of the initial-contact error. Feet by the parity of the reference
    contact (the force plate does not name them)."""
    body = []
    for tr in trials:
        est = detect(tr)
        i_est, i_ref = match_events(est.t_ic, tr.ref["t_on_s"], RUN_TOL_S)
        sign = np.where(i_ref % 2 == 0, 1.0, -1.0)
        alt = functools.partial(_alternation, sign=sign)

        st_ref = 1000.0 * tr.ref["step_time_to_next_s"][i_ref]
        st_est = 1000.0 * np.where(np.isfinite(st_ref), est.step[i_est], np.nan)
        ct_ref = 1000.0 * tr.ref["contact_time_s"][i_ref]
        ct_est = 1000.0 * (est.t_to - est.t_ic)[i_est]
        ic_err = 1000.0 * (est.t_ic[i_est] - tr.ref["t_on_s"][i_ref])
        body.append([tr.name, tr.label, _f(alt(st_ref), "{:+.1f}"), _f(alt(st_est), "{:+.1f}"),
                     _f(alt(ct_ref), "{:+.1f}"), _f(alt(ct_est), "{:+.1f}"),
                     _f(alt(ic_err), "{:+.1f}")])
    return md_table(["trial", "condition", "ST force plate", "ST estimated", "CT force plate",
                     "CT estimated", "IC error"], body)


def filter_effect(trials: list[Trial]) -> str:
    """How the detector's zero-phase low-pass moves event times, measured on the force itself:
    the force-plate vGRF is filtered like the acceleration, and the same definitions are applied
    to the filtered and the unfiltered force (no acceleration involved)."""
    rows = []
    for tr in trials:
        f = np.maximum(tr.extra["grf_bw"], 0.0)  # type: ignore[call-overload]
        ff = np.maximum(sacrum._lowpass(f, sacrum.EVENT_LOWPASS_HZ, tr.rate_hz), 0.0)
        for on, off in zip(tr.ref["t_on_s"], tr.ref["t_off_s"], strict=True):
            i, j = int(round(on * tr.rate_hz)), int(round(off * tr.rate_hz))
            if i < 40 or j + 40 > f.size:
                continue
            a, b = i - 40, j + 40
            top_f, top_ff = a + int(np.argmax(f[a:b])), a + int(np.argmax(ff[a:b]))
            rows.append((
                sacrum._ic_running(ff, np.array([a]), np.array([top_ff]))[0]
                - sacrum._ic_running(f, np.array([a]), np.array([top_f]))[0],
                sacrum._crossing(ff, 0.05, a, top_ff, True, False)
                - sacrum._crossing(f, 0.05, a, top_f, True, False),
                sacrum._crossing(ff, sacrum.FLIGHT_G, top_ff, b, False, False)
                - sacrum._crossing(f, sacrum.FLIGHT_G, top_f, b, False, False),
            ))
    d = 1000.0 * np.asarray(rows, dtype=float) / trials[0].rate_hz
    m, sd = np.nanmean(d, axis=0), np.nanstd(d, axis=0)
    return md_table(
        ["event definition, applied to the force", "filtered minus unfiltered"],
        [["tangent at the steepest rise, extrapolated (IC)", f"{m[0]:+.1f} ± {sd[0]:.1f} ms"],
         ["0.05 BW up-crossing", f"{m[1]:+.1f} ± {sd[1]:.1f} ms"],
         [f"{sacrum.FLIGHT_G:g} BW down-crossing (TO)", f"{m[2]:+.1f} ± {sd[2]:.1f} ms"]])


def rule_on_force(trials: list[Trial]) -> str:
    """The step time the initial-contact rules would reach with a perfect sensor: each rule
    applied to the force-plate vGRF itself (per reference contact, 80 ms either side), step
    times from consecutive contacts, against the reference (the 0.05 BW up-crossing at the
    plate's 2 ms samples)."""
    rules: dict[str, list[np.ndarray]] = {
        "tangent at the steepest rise (the running IC rule), force low-passed as the "
        "acceleration": [],
        "the same, force unfiltered": [],
        "0.05 BW up-crossing, interpolated between samples": [],
    }
    for tr in trials:
        f = np.maximum(tr.extra["grf_bw"], 0.0)  # type: ignore[call-overload]
        ff = np.maximum(sacrum._lowpass(f, sacrum.EVENT_LOWPASS_HZ, tr.rate_hz), 0.0)
        ic: list[list[float]] = [[], [], []]
        for on, off in zip(tr.ref["t_on_s"], tr.ref["t_off_s"], strict=True):
            i, j = int(round(on * tr.rate_hz)), int(round(off * tr.rate_hz))
            a, b = max(i - 40, 0), min(j + 40, f.size - 1)
            for k, sig in enumerate((ff, f)):
                top = a + int(np.argmax(sig[a:b]))
                ic[k].append(sacrum._ic_running(sig, np.array([a]), np.array([top]))[0])
            ic[2].append(sacrum._crossing(f, 0.05, a, i + 1, True, True))
        ref = tr.ref["step_time_to_next_s"][:-1]
        for k, key in enumerate(rules):
            st = np.diff(np.asarray(ic[k], float)) / tr.rate_hz
            rules[key].append(1000.0 * (st - ref)[np.isfinite(ref)])
    return md_table(["initial-contact rule, applied to the force", "ST MAE (ms)", "n"],
                    [[key, _f(float(np.nanmean(np.abs(np.concatenate(v))))),
                      str(int(np.isfinite(np.concatenate(v)).sum()))]
                     for key, v in rules.items()])


def rate_effect(trials: list[Trial], rates: tuple[float, ...] = (200.0, 100.0, 60.0, 50.0)
                ) -> str:
    """Pooled running results of the full pipeline at lower sampling rates: wearables stream at
    50-200 Hz, these trials were recorded at 500 Hz."""
    from scipy.signal import resample_poly

    body = []
    for rate in (trials[0].rate_hz, *rates):
        rows = []
        for tr in trials:
            if rate == tr.rate_hz:
                sensor = tr.sensor
            else:
                acc = resample_poly(tr.acc_body_mps2, int(rate), int(round(tr.rate_hz)), axis=0)
                acc[:, 2] = np.maximum(acc[:, 2], 0.0)
                t = tr.extra["t_s"][0] + np.arange(acc.shape[0]) / rate  # type: ignore[index]
                sensor = SensorRecording(tr.name, "sacrum", rate, t, acc)
            rows.append((tr.name, running_stats(from_pipeline(sensor)[0], tr)))  # type: ignore
        found = sum(int(r["found"]) for _, r in rows)  # type: ignore[call-overload]
        refs = sum(int(r["n_ref"]) for _, r in rows)  # type: ignore[call-overload]
        extra = sum(int(r["extra"]) for _, r in rows)  # type: ignore[call-overload]
        ic = _ms(_pool(rows, "ic_err"))
        body.append([f"{rate:.0f}", f"{found}/{refs}", str(extra), _f(ic["mean"], "{:+.1f}"),
                     _f(ic["mae"]),
                     _f(_ms(_pool(rows, "to_err"))["mean"], "{:+.1f}"),
                     _f(_ms(_pool(rows, "ct_err"))["rmse"]),
                     _f(_ms(_pool(rows, "step_err"))["mae"])])
    return md_table(["rate (Hz)", "found", "extra", "IC err", "IC MAE", "TO err", "CT RMSE",
                     "ST MAE"], body)


def alignment_note(results: list[tuple[str, imu_hip.AnalysisResult]]) -> str:
    """Angle between the vertical found by the pipeline and the sensor's z channel, and
    whether the alignment found that channel clipped."""
    parts = []
    for name, res in results:
        al = res.alignment
        if al is None:
            parts.append(f"{name}: none")
            continue
        tilt = np.degrees(np.arccos(np.clip(al.rotation[2, 2], -1.0, 1.0)))
        parts.append(f"{name} {tilt:.0f}°" + (f" (z clipped; {al.tilt_left_deg:.0f}° from "
                                               "gravity left in)" if al.clipped else ""))
    return "; ".join(parts)


def same_steps(a: list[tuple[Estimates, imu_hip.AnalysisResult]], b: list[Estimates]) -> str:
    """Whether two runs over the same trials found the same contacts at the same times."""
    worst = 0.0
    for (ea, _), eb in zip(a, b, strict=True):
        if ea.t_ic.size != eb.t_ic.size:
            return "the contacts differ"
        for x, y in ((ea.t_ic, eb.t_ic), (ea.t_to, eb.t_to)):
            d = np.abs(x - y)
            if np.any(np.isnan(x) != np.isnan(y)):
                return "the contacts differ"
            worst = max(worst, float(np.nanmax(d)) if d.size else 0.0)
    return f"the steps are the same (largest event-time difference {1000 * worst:.3g} ms)"


# --------------------------------------------------------------------------- simulator


def sim_stats(est: Estimates, truth: dict[str, np.ndarray]) -> dict[str, object]:
    ok = truth["gait"] == "run"
    t_on = truth["t_ic_s"][ok]
    i_est, i_ref = match_events(est.t_ic, t_on, RUN_TOL_S)
    ref = {k: v[ok][i_ref] for k, v in truth.items()}
    side = est.side[i_est]
    named = side != "unknown"
    return {
        "n_ref": int(t_on.size), "found": int(i_ref.size),
        "extra": int(est.t_ic.size - i_est.size),
        "ic_err": est.t_ic[i_est] - ref["t_ic_s"],
        "to_err": est.t_to[i_est] - ref["t_to_s"],
        "ct_err": (est.t_to - est.t_ic)[i_est] - ref["contact_time_s"],
        "step_err": est.step[i_est] - ref["step_time_s"],
        "vgrf_err_pct": 100.0 * (est.vgrf[i_est] / ref["vgrf_peak_bw"] - 1.0),
        "side_named": int(named.sum()), "side_ok": int(np.sum(side[named] == ref["side"][named])),
    }


def sim_table(rows: list[tuple[str, dict[str, object]]]) -> str:
    head = ["run", "found", "extra", "IC err", "TO err", "CT RMSE", "ST MAE", "vGRF MAPE",
            "side ok/named"]

    def row(name: str, r: dict[str, object]) -> list[str]:
        ic, to = _ms(r["ic_err"]), _ms(r["to_err"])  # type: ignore[arg-type]
        return [name, f"{r['found']}/{r['n_ref']}", str(r["extra"]),
                f"{ic['mean']:+.1f} ± {ic['sd']:.1f}", f"{to['mean']:+.1f} ± {to['sd']:.1f}",
                _f(_ms(r["ct_err"])["rmse"]), _f(_ms(r["step_err"])["mae"]),  # type: ignore
                _f(error_stats(r["vgrf_err_pct"])["mae"], "{:.1f} %"),  # type: ignore[arg-type]
                f"{r['side_ok']}/{r['side_named']}"]

    body = [row(n, r) for n, r in rows]
    pooled: dict[str, object] = {k: sum(int(r[k]) for _, r in rows)  # type: ignore[call-overload]
                                 for k in ("n_ref", "found", "extra", "side_named", "side_ok")}
    for key in ("ic_err", "to_err", "ct_err", "step_err", "vgrf_err_pct"):
        pooled[key] = _pool(rows, key)
    body.append(row("**ALL**", pooled))
    return md_table(head, body)


# --------------------------------------------------------------------------- walking


def walking_stats(est: Estimates, events: dict[str, np.ndarray],
                  bouts: dict[str, np.ndarray]) -> dict[str, object]:
    """Compare detected ICs with one reference system inside its walking bouts."""
    ic_s = est.t_ic
    out: dict[str, object] = {"n_ref": 0, "found": 0, "extra": 0, "ic_err": [], "cad_err": [],
                              "side_ok": 0, "side_known": 0, "walk": 0, "judged": 0}
    if not bouts or bouts["start_s"].size == 0:
        return out
    is_ic = (events["event"] == "IC") & np.isfinite(events["t_s"])
    ref_ic, ref_side = events["t_s"][is_ic], events["side"][is_ic]
    for b0, b1, cad_ref in zip(bouts["start_s"], bouts["end_s"], bouts["cadence_spm"],
                               strict=True):
        r_idx = np.flatnonzero((ref_ic >= b0 - 1e-6) & (ref_ic <= b1 + 1e-6))
        e_idx = np.flatnonzero((ic_s >= b0 - WALK_MARGIN_S) & (ic_s <= b1 + WALK_MARGIN_S))
        i_e, i_r = match_events(ic_s[e_idx], ref_ic[r_idx], WALK_TOL_S)
        out["n_ref"] += r_idx.size  # type: ignore[operator]
        out["found"] += i_r.size  # type: ignore[operator]
        strict = (ic_s[e_idx] >= b0 - WALK_TOL_S) & (ic_s[e_idx] <= b1 + WALK_TOL_S)
        out["extra"] += np.setdiff1d(np.flatnonzero(strict), i_e).size  # type: ignore[operator]
        out["ic_err"].append(ic_s[e_idx][i_e] - ref_ic[r_idx][i_r])  # type: ignore[union-attr]
        st = est.step[e_idx]
        inb = (ic_s[e_idx] >= b0 - 0.05) & (ic_s[e_idx] < b1 - 0.05) & np.isfinite(st)
        if inb.sum() >= 2:
            out["cad_err"].append(60.0 / np.mean(st[inb]) - cad_ref)  # type: ignore[union-attr]
        sides = est.side[e_idx][i_e]
        known = sides != "unknown"
        out["side_known"] += int(known.sum())  # type: ignore[operator]
        truth = np.array([str(s).lower() for s in ref_side[r_idx][i_r]], dtype=object)
        out["side_ok"] += int(np.sum(sides[known] == truth[known]))  # type: ignore[operator]
        out["walk"] += int(np.sum(est.gait[e_idx][i_e] == "walk"))  # type: ignore[operator]
        out["judged"] += int(i_e.size)  # type: ignore[operator]
    return out


def walking_table(rows: list[tuple[str, dict[str, object]]]) -> str:
    head = ["recording / reference", "found", "extra", "IC err", "IC MAE", "\\|cad err\\|",
            "walk %", "side ok/named"]
    body = []
    groups = {"**ALL**": "", "**ALL Test5** (lab, straight)": "Test5",
              "**ALL Test11** (daily-living circuit)": "Test11"}
    tots: dict[str, dict[str, object]] = {
        g: {"n_ref": 0, "found": 0, "extra": 0, "ic_err": [], "cad_err": [], "side_ok": 0,
            "side_known": 0, "walk": 0, "judged": 0} for g in groups}
    for name, r in rows:
        if int(r["n_ref"]) == 0:  # type: ignore[call-overload]
            body.append([name, "(no reference walking bout)", "", "", "", "", "", ""])
            continue
        body.append(_walking_row(name, r))
        for g, tag in groups.items():
            if tag and f"_{tag}_" not in name:
                continue
            for k, v in r.items():
                if isinstance(v, list):
                    tots[g][k].extend(v)  # type: ignore[union-attr]
                else:
                    tots[g][k] += v  # type: ignore[operator]
    body.extend(_walking_row(g, tots[g]) for g in groups)
    return md_table(head, body)


def _walking_row(name: str, r: dict[str, object]) -> list[str]:
    err = np.concatenate(r["ic_err"]) if r["ic_err"] else np.zeros(0)  # type: ignore[arg-type]
    ic = _ms(err)
    cad = np.abs(np.asarray(r["cad_err"], dtype=float))
    walk = 100.0 * int(r["walk"]) / max(int(r["judged"]), 1)  # type: ignore[call-overload]
    return [name, f"{r['found']}/{r['n_ref']}", str(r["extra"]),
            f"{_f(ic['mean'], '{:+.1f}')} ± {_f(ic['sd'])}", _f(ic["mae"]),
            _f(float(np.mean(cad)) if cad.size else np.nan, "{:.2f}"), f"{walk:.0f}",
            f"{r['side_ok']}/{r['side_known']}"]


def walking_rows(recs: list[Trial], ests: list[Estimates]) -> list[tuple[str, dict[str, object]]]:
    rows = []
    for rec, est in zip(recs, ests, strict=True):
        for system, (events, bouts) in rec.extra["refs"].items():  # type: ignore[attr-defined]
            rows.append((f"{rec.name} {system}", walking_stats(est, events, bouts)))
    return rows


def outside_bouts(recs: list[Trial], ests: list[Estimates]) -> str:
    """Detections further than WALK_MARGIN_S outside the reference walking bouts: candidate
    false steps (sitting, standing, turning in place), per recording, against the INDIP bouts
    and against the union of both systems' bouts (Stereophoto sees only its capture volume)."""
    body = []
    tot = np.zeros(3, int)
    for rec, est in zip(recs, ests, strict=True):
        t = est.t_ic
        out_any = np.ones(t.size, bool)
        out_sys = {}
        for system, (_, bouts) in rec.extra["refs"].items():  # type: ignore[attr-defined]
            out = np.ones(t.size, bool)
            for b0, b1 in (zip(bouts["start_s"], bouts["end_s"], strict=True) if bouts else ()):
                out &= (t < b0 - WALK_MARGIN_S) | (t > b1 + WALK_MARGIN_S)
            out_sys[system] = out
            out_any &= out
        if not all(bool(b) and b["start_s"].size  # type: ignore[attr-defined]
                   for _, b in rec.extra["refs"].values()):  # type: ignore[attr-defined]
            continue  # a reference without walking bouts: nothing to judge against
        row = np.array([t.size, int(out_sys["INDIP"].sum()), int(out_any.sum())])
        tot += row
        body.append([rec.name, *map(str, row)])
    body.append(["**ALL**", *map(str, tot)])
    return md_table(["recording", "detected ICs", "outside INDIP bouts",
                     "outside both systems' bouts"], body)


def _strip(rec: Trial, what: str) -> Trial:
    """A copy of ``rec`` without its gyroscope ("g") and/or mediolateral axis ("y")."""
    acc = rec.acc_body_mps2.copy()
    if "y" in what:
        acc[:, 1] = 0.0
    return Trial(rec.name, rec.rate_hz, acc, None if "g" in what else rec.gyr_body_rads,
                 rec.ref, rec.extra)


# --------------------------------------------------------------------------- sensitivity


@contextlib.contextmanager
def override_alignment(**constants: object) -> Iterator[None]:
    """Temporarily change module constants of :mod:`imu_hip.dsp.alignment`."""
    old = {k: getattr(alignment, k) for k in constants}
    try:
        for k, v in constants.items():
            setattr(alignment, k, v)
        yield
    finally:
        for k, v in old.items():
            setattr(alignment, k, v)


@contextlib.contextmanager
def override(**constants: object) -> Iterator[None]:
    """Temporarily change module constants of :mod:`imu_hip.gait.sacrum` or
    :mod:`imu_hip.metrics.grf` (whichever defines the name), for the sensitivity sweep."""
    where = {k: (sacrum if hasattr(sacrum, k) else grf) for k in constants}
    old = {k: getattr(where[k], k) for k in constants}
    try:
        for k, v in constants.items():
            setattr(where[k], k, v)
        yield
    finally:
        for k, v in old.items():
            setattr(where[k], k, v)


def _ic_line(s: np.ndarray, trough: np.ndarray, top: np.ndarray) -> np.ndarray:
    """Previous IC rule: the line through the last up-crossings of 20-50 % of the rise before it
    first reaches 50 %, extrapolated back to the rise's lowest point."""
    out = np.full(trough.shape[0], np.nan)
    for k, (a, b) in enumerate(zip(trough, top, strict=True)):
        seg = s[a : b + 1]
        base, amp = seg.min(), s[b] - seg.min()
        k_hi = a + int(np.argmax(seg >= base + 0.5 * amp))
        if amp <= 0 or k_hi == a:
            continue
        lv = np.array([0.2, 0.3, 0.4, 0.5])
        t = [sacrum._crossing(s, base + f * amp, a, k_hi, True, True) for f in lv]
        if np.all(np.isfinite(t)):
            out[k] = np.polyfit(lv, t, 1)[1]
    return out


def _to_first_fall(s: np.ndarray, hump: np.ndarray, top: np.ndarray, end: np.ndarray,
                   *_: object) -> np.ndarray:
    """Previous TO rule: the first fall through FLIGHT_G after the active peak, that crossing
    alone (no timing over the whole fall)."""
    active = sacrum._seg_argext(s, np.maximum(hump, top), end, largest=True)
    return sacrum._crossings(s, np.full(top.shape[0], sacrum.FLIGHT_G), active, end,
                             rising=False, last=False)


def _any_foot(hump: np.ndarray, rows: np.ndarray, near: np.ndarray,
              rate_hz: float) -> np.ndarray:
    """Every neighbour counts as the same foot (the typical fall pooled over both feet)."""
    return np.ones(rows.shape, bool)


def _to_last_fall(s: np.ndarray, hump: np.ndarray, top: np.ndarray,
                  end: np.ndarray, *_: object) -> np.ndarray:
    """Previous TO rule: the last fall through FLIGHT_G after the contact's highest sample."""
    return sacrum._crossings(s, np.full(top.shape[0], sacrum.FLIGHT_G), top, end, rising=False,
                             last=True)


def _to_mirrored(kind: str) -> Callable[..., np.ndarray]:
    """TO by the falling edge extrapolated forward to the lowest point after the active peak,
    the mirror of an IC rule: ``line`` through the first down-crossings of 50-20 % of the fall
    after its last sample above 50 %, or ``tangent`` at the steepest fall above 50 %."""

    def to(s: np.ndarray, hump: np.ndarray, top: np.ndarray, end: np.ndarray,
           *_: object) -> np.ndarray:
        active = sacrum._seg_argext(s, np.maximum(hump, top), end, largest=True)
        out = np.full(top.shape[0], np.nan)
        ds = np.gradient(s)
        for k, (a, b) in enumerate(zip(active, end, strict=True)):
            seg = s[a : b + 1]
            base, amp = seg.min(), s[a] - seg.min()
            above = np.flatnonzero(seg >= base + 0.5 * amp)
            if amp <= 0 or b <= a + 2:
                continue
            k_lo = a + above[-1]
            if kind == "line":
                lv = np.array([0.2, 0.3, 0.4, 0.5])
                t = [sacrum._crossing(s, base + f * amp, k_lo, b, False, False) for f in lv]
                if np.all(np.isfinite(t)):
                    out[k] = np.polyfit(lv, t, 1)[1]
            else:
                j = a + int(np.argmin(ds[a : k_lo + 2]))
                if ds[j] < 0:
                    out[k] = j + (base - s[j]) / ds[j]
        return out

    return to


def _to_band(half_g: float, levels: int = 11) -> Callable[..., np.ndarray]:
    """TO as the first fall through the band FLIGHT_G +- ``half_g`` after the active peak, the
    crossing time averaged over ``levels`` evenly spaced levels (levels not reached are left
    out; NaN when FLIGHT_G itself is not crossed). Less sensitive to a short plateau at the end
    of stance sitting near one level."""

    def to(s: np.ndarray, hump: np.ndarray, top: np.ndarray, end: np.ndarray,
           *_: object) -> np.ndarray:
        active = sacrum._seg_argext(s, np.maximum(hump, top), end, largest=True)
        m = top.shape[0]
        lv = np.linspace(sacrum.FLIGHT_G - half_g, sacrum.FLIGHT_G + half_g, levels)
        t = sacrum._crossings(s, np.tile(lv, m), np.repeat(active, lv.size),
                              np.repeat(end, lv.size), rising=False, last=False)
        t = t.reshape(m, lv.size)
        main = sacrum._crossings(s, np.full(m, sacrum.FLIGHT_G), active, end, rising=False,
                                 last=False)
        with np.errstate(invalid="ignore"):
            mean = np.nanmean(np.where(np.isfinite(t), t, np.nan), axis=1)
        return np.where(np.isfinite(main), mean, np.nan)

    return to


def _to_zero_g(s: np.ndarray, hump: np.ndarray, top: np.ndarray, end: np.ndarray,
               *_: object) -> np.ndarray:
    """TO where support ends (proper acceleration 0 g): the falling flank at its FLIGHT_G
    crossing, extrapolated along its local slope down to 0 g."""
    active = sacrum._seg_argext(s, np.maximum(hump, top), end, largest=True)
    c = sacrum._crossings(s, np.full(top.shape[0], sacrum.FLIGHT_G), active, end,
                          rising=False, last=False)
    out = np.full(c.shape, np.nan)
    ok = np.isfinite(c)
    j = np.floor(c[ok]).astype(np.intp)
    slope = s[j + 1] - s[j]
    out[ok] = np.where(slope < 0, c[ok] + sacrum.FLIGHT_G / -slope, np.nan)
    return out


def _ic_band_edge(s: np.ndarray, trough: np.ndarray, top: np.ndarray) -> np.ndarray:
    """IC with the toe-off's definition: the last rise through FLIGHT_G before the contact's
    highest sample (contact = signal above the free-fall band)."""
    return sacrum._crossings(s, np.full(trough.shape[0], sacrum.FLIGHT_G), trough, top,
                             rising=True, last=True)


def _ic_knee(s: np.ndarray, trough: np.ndarray, top: np.ndarray) -> np.ndarray:
    """IC at the knee of the rise: the largest second derivative between the trough and the
    steepest point below half the rise (for a zero-phase filtered ramp it sits exactly at the
    ramp's start), to a sub-sample."""
    out = np.full(trough.shape[0], np.nan)
    ds = np.gradient(s)
    d2 = np.gradient(ds)
    for k, (a, b) in enumerate(zip(trough, top, strict=True)):
        seg = s[a : b + 1]
        base, amp = seg.min(), s[b] - seg.min()
        if amp <= 0:
            continue
        k_hi = a + int(np.argmax(seg >= base + sacrum.RISE_TOP * amp))
        j = a + int(np.argmax(ds[a : k_hi + 1]))
        if j - a < 2:
            continue
        i = a + int(np.argmax(d2[a : j + 1]))
        if 0 < i < s.size - 1:
            y0, y1, y2 = d2[i - 1], d2[i], d2[i + 1]
            den = y0 - 2.0 * y1 + y2
            out[k] = i + (float(np.clip(0.5 * (y0 - y2) / den, -0.5, 0.5)) if den else 0.0)
    return out


def support_g(acc: np.ndarray, rate_hz: float) -> np.ndarray:
    """Magnitude of the sacral proper acceleration (g) as a view of the whole ground reaction
    force: the event-low-passed vertical clipped at 0 g, and the horizontal components with
    their local (+-LOCAL_HALF_S) mean removed and the same low-pass (all-zero axes left out)."""
    width = 2 * int(round(sacrum.LOCAL_HALF_S * rate_hz)) + 1
    az = sacrum._lowpass(acc[:, 2] / G, sacrum.EVENT_LOWPASS_HZ, rate_hz)
    total = np.square(np.maximum(az, 0.0))
    for k in (0, 1):
        h = acc[:, k] / G
        if np.any(h != 0.0):
            h = h - moving_mean(h, width)
            total += np.square(sacrum._lowpass(h, sacrum.EVENT_LOWPASS_HZ, rate_hz))
    return np.sqrt(total)


def detect_support_ic(acc: np.ndarray, gyr: np.ndarray | None, rate_hz: float) -> SacralEvents:
    """The shipped detector, with each running initial contact re-measured by the same tangent
    rule on :func:`support_g` instead of the vertical component (the GRF vector's onset:
    braking rises with the vertical force at landing)."""
    ev = detect_sacral_events(acc, gyr, rate_hz)
    run = ev.gait == "run"
    if not run.any():
        return ev
    az_g = acc[:, 2] / G
    az = sacrum._lowpass(az_g, sacrum.EVENT_LOWPASS_HZ, rate_hz)
    peaks = sacrum._find_humps(az_g, rate_hz)
    left, right = sacrum._troughs(az, peaks, rate_hz)
    sup = support_g(acc, rate_hz)
    new = sacrum._ic_running(sup, left, sacrum._seg_argext(sup, left, right, largest=True))
    ic = ev.ic.copy()
    for k in np.flatnonzero(run):
        d = np.abs(new - ev.ic[k])
        if np.any(np.isfinite(d)) and np.nanmin(d) < 0.05 * rate_hz:
            ic[k] = new[int(np.nanargmin(d))]
    return SacralEvents(ic=ic, to=ev.to, side=ev.side, gait=ev.gait, bout=ev.bout)


def _summary_row(label: str, trials: list[Trial], sims: list[SimRun],
                 detector: Detector = detect_sacral_events) -> list[str]:
    rows = [(tr.name, running_stats(detect(tr, detector), tr)) for tr in trials]
    srows = [(s.name, sim_stats(detect(s, detector), s.truth)) for s in sims]
    f = sum(int(r["found"]) for _, r in rows)  # type: ignore[call-overload]
    n = sum(int(r["n_ref"]) for _, r in rows)  # type: ignore[call-overload]
    sf = sum(int(r["found"]) for _, r in srows)  # type: ignore[call-overload]
    sn = sum(int(r["n_ref"]) for _, r in srows)  # type: ignore[call-overload]
    return [
        label, f"{100.0 * f / n:.1f}", _f(_ms(_pool(rows, "ic_err"))["mae"]),
        _f(_ms(_pool(rows, "to_err"))["mean"], "{:+.1f}"),
        _f(_ms(_pool(rows, "to_err"))["mae"]), _f(_ms(_pool(rows, "ct_err"))["rmse"]),
        _f(_ms(_pool(rows, "step_err"))["mae"]),
        _f(error_stats(_pool(rows, "vgrf_err_pct"))["mae"], "{:.1f} %"),
        f"{100.0 * sf / max(sn, 1):.1f}", _f(_ms(_pool(srows, "ic_err"))["mean"], "{:+.1f}"),
        _f(_ms(_pool(srows, "to_err"))["mean"], "{:+.1f}"),
        _f(_ms(_pool(srows, "ct_err"))["rmse"]), _f(_ms(_pool(srows, "step_err"))["mae"]),
    ]


SWEEP_HEAD = ["case", "real: found %", "IC MAE", "TO err", "TO MAE", "CT RMSE", "ST MAE",
              "vGRF MAPE", "sim: found %", "IC err", "TO err", "CT RMSE", "ST MAE"]


def alternatives(trials: list[Trial], sims: list[SimRun]) -> str:
    """The event rules that were tried and not adopted, measured like the shipped ones."""
    cases: list[tuple[str, dict[str, object]]] = [
        ("**as shipped**", {}),
        ("IC: line through 20-50 % crossings (before)", {"_ic_running": _ic_line}),
        ("TO: first fall through FLIGHT_G alone (before)",
         {"_toe_off_running": _to_first_fall}),
        ("TO: as shipped, both feet's falls pooled", {"_same_foot": _any_foot}),
        ("TO: last fall through FLIGHT_G (earlier)", {"_toe_off_running": _to_last_fall}),
        ("TO: fall mirrored, line 50-20 % to base", {"_toe_off_running": _to_mirrored("line")}),
        ("TO: fall mirrored, steepest tangent to base",
         {"_toe_off_running": _to_mirrored("tangent")}),
        ("TO: falling flank at FLIGHT_G extrapolated to 0 g", {"_toe_off_running": _to_zero_g}),
        ("TO: crossings averaged over FLIGHT_G +- 0.1 g, no shape",
         {"_toe_off_running": _to_band(0.1)}),
        ("TO: crossings averaged over FLIGHT_G +- 0.2 g, no shape",
         {"_toe_off_running": _to_band(0.2)}),
        ("IC: rise through FLIGHT_G (TO's definition)", {"_ic_running": _ic_band_edge}),
        ("IC: knee (largest 2nd derivative) of the rise", {"_ic_running": _ic_knee}),
    ]
    body = []
    for label, fns in cases:
        with override(**fns):
            body.append(_summary_row(label, trials, sims))
    body.append(_summary_row("IC: tangent on the support magnitude (`support_g`)", trials, sims,
                             detect_support_ic))
    return md_table(SWEEP_HEAD, body)


def sweep(trials: list[Trial], sims: list[SimRun]) -> str:
    """Overall running results (detector only) while each physically chosen constant is moved."""
    cases: list[tuple[str, dict[str, object]]] = [("**as shipped**", {})]
    for fc in (12.0, 15.0, 30.0):
        cases.append((f"EVENT_LOWPASS_HZ={fc:g}", {"EVENT_LOWPASS_HZ": fc}))
    for f in (0.35, 0.65, 0.8):
        cases.append((f"RISE_TOP={f:g}", {"RISE_TOP": f}))
    for f in (0.1, 0.3):
        cases.append((f"SHOULDER_MIN={f:g}", {"SHOULDER_MIN": f}))
    for fg in (0.15, 0.2, 0.3, 0.35):
        cases.append((f"FLIGHT_G={fg:g}", {"FLIGHT_G": fg}))
    for h in (1.0, 3.0):
        cases.append((f"TO_SHAPE_HALF_S={h:g}", {"TO_SHAPE_HALF_S": h}))
    for top in (0.75, 1.25):
        cases.append((f"TO_FALL_TOP_G={top:g}", {"TO_FALL_TOP_G": top}))
    cases.append(("TO_LEVEL_STEP_G=0.05", {"TO_LEVEL_STEP_G": 0.05}))
    for hz in (4.0, 6.0):
        cases.append((f"HUMP_LOWPASS_HZ={hz:g}", {"HUMP_LOWPASS_HZ": hz}))
    for p in (0.4, 0.6):
        cases.append((f"MIN_PERIODICITY={p:g}", {"MIN_PERIODICITY": p}))
    for r in (1.5, 3.0):
        cases.append((f"SIMILAR_HUMP={r:g}", {"SIMILAR_HUMP": r}))
    for hz in (4.0, 6.0, 8.0):
        cases.append((f"grf.ACTIVE_LOWPASS_HZ={hz:g}", {"ACTIVE_LOWPASS_HZ": hz}))
    body = []
    for label, consts in cases:
        with override(**consts):
            body.append(_summary_row(label, trials, sims))
    return md_table(SWEEP_HEAD, body)


def tilt_effect(trials: list[Trial]) -> str:
    """Running results (detector only) when the two channels are rotated about the
    mediolateral axis, mixing the AP channel into "vertical" (a sensor pitched by that angle).
    A diagnostic, not a correction: on this clipped data the sensor's true pitch cannot be
    measured (gravity is cut off in flight), so no angle is chosen from it."""
    body = []
    for deg in (-20.0, -10.0, -5.0, 0.0, 5.0, 10.0, 20.0):
        th = np.radians(deg)
        rows = []
        for tr in trials:
            acc = tr.acc_body_mps2.copy()
            x, z = acc[:, 0].copy(), acc[:, 2].copy()
            acc[:, 0] = np.cos(th) * x - np.sin(th) * z
            acc[:, 2] = np.cos(th) * z + np.sin(th) * x
            rot = Trial(tr.name, tr.rate_hz, acc, None, tr.ref, tr.extra)
            rows.append((tr.name, running_stats(detect(rot), rot)))
        body.append([f"{deg:+.0f}", _f(_ms(_pool(rows, "ic_err"))["mae"]),
                     _f(_ms(_pool(rows, "to_err"))["mean"], "{:+.1f}"),
                     _f(_ms(_pool(rows, "ct_err"))["rmse"]),
                     _f(_ms(_pool(rows, "step_err"))["mae"])])
    return md_table(["pitch (deg)", "IC MAE", "TO err", "CT RMSE", "ST MAE"], body)


# --------------------------------------------------------------------------- raw sample


def raw_sample_report(trial: Trial) -> str:
    out = []
    for label, est in (("pipeline", from_pipeline(trial.sensor)[0]),  # type: ignore[arg-type]
                       ("detector", detect(trial)),
                       ("detector, IC on `support_g` (not adopted)",
                        detect(trial, detect_support_ic))):
        ct = est.t_to - est.t_ic
        out.append(
            f"- {label}: {est.t_ic.size} contacts, gait "
            f"{', '.join(f'{g} {int(np.sum(est.gait == g))}' for g in np.unique(est.gait))}, "
            f"cadence {60.0 / np.nanmean(est.step):.0f} spm, step {1000 * np.nanmean(est.step):.0f}"
            f" ± {1000 * np.nanstd(est.step):.1f} ms, contact {np.nanmean(ct):.3f} ± "
            f"{np.nanstd(ct):.3f} s, flight {np.nanmean(est.step - ct):.3f} s, sides named "
            f"{int(np.sum(est.side != 'unknown'))} (no gyroscope: running stays unknown)")
    out.append("\nOn this unclipped clip the horizontal and mediolateral trunk motion in flight "
               "(+-0.3-0.6 g) gives the support magnitude a high, uneven floor between contacts "
               "(on the force-treadmill data, once its AP offset is removed, the floor is "
               "~0.2 g). The step-time SD mixes true left/right differences with estimation "
               "noise, so without a reference it does not say which rule is better.")
    return "\n".join(out)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    ap.add_argument("--no-sweep", action="store_true", help="skip the sensitivity sweep")
    ap.add_argument("--no-sim", action="store_true", help="skip the simulated runners")
    args = ap.parse_args(argv)
    root: Path = args.datasets
    if not (root / "sacrum_running_grf").is_dir():
        print(f"accuracy: datasets folder not found: {root} (expected sacrum_running_grf/ in it; "
              "pass --datasets DIR)", file=sys.stderr)
        return 2
    trials = running_grf_trials(root)
    print("## Running: sacral accelerometer vs force treadmill (`sacrum_running_grf`)\n")
    print("Times in ms. IC/TO err: mean ± SD (TO err: mean) of estimate minus force-plate "
          "event (contact = force > 0.05 BW); CT contact time, FT flight time, ST step time; "
          "cad err in steps/min. One runner, 8 trials, 4.96 s each.\n")
    print("### Full pipeline, default (`imu_hip.analyze`: automatic alignment)\n")
    piped = [from_pipeline(tr.sensor) for tr in trials]  # type: ignore[arg-type]
    rows_p = [(tr.name, running_stats(e, tr)) for tr, (e, _) in zip(trials, piped, strict=True)]
    print(running_table(trials, rows_p))
    declared = [from_pipeline(tr.sensor, axes="body")[0] for tr in trials]  # type: ignore
    found = alignment_note([(tr.name, r) for tr, (_, r) in zip(trials, piped, strict=True)])
    print("\nVertical found by the alignment, angle from the z channel: " + found
          + ". With the axes declared instead (`axes=\"body\"`: x = AP, y = 0, z = vertical) "
          + same_steps(piped, declared) + ".\n")
    print("### The clipped vertical channel rotated anyway (the alignment's clip rule off)\n")
    with override_alignment(_CLIP_MIN_SHARE=2.0):
        rotated = [from_pipeline(tr.sensor) for tr in trials]  # type: ignore[arg-type]
    print(running_table(trials, [(tr.name, running_stats(e, tr))
                                 for tr, (e, _) in zip(trials, rotated, strict=True)]))
    print("\nTilt removed: " + alignment_note([(tr.name, r) for tr, (_, r) in
                                              zip(trials, rotated, strict=True)])
          + ". In flight the true vertical is negative (the unclipped raw clip below reads "
          "-0.3 g on average, down to -0.9 g) and was stored as 0 g, so once the two channels are "
          "rotated by the tilt, flight and the end of each contact read +0.2 to +0.4 g from the "
          "AP channel (-0.5 to -1.2 g around toe-off) and toe-offs come late. The rise is not "
          "clipped, and with the tilt removed the braking transient no longer leaks into the "
          "vertical, so initial contact and step time improve (see the pitch sweep below).\n")
    print("### Detector only (the data set's vertical and AP channels as body z and x)\n")
    rows_d = [(tr.name, running_stats(detect(tr), tr)) for tr in trials]
    print(running_table(trials, rows_d))
    print("\nvGRF active peak, per contact (detector only):\n")
    print(vgrf_breakdown(rows_d))
    print("\nLeft/right alternation (ms, half the difference between the feet; detector only). "
          "Where the initial-contact error alternates, the estimate under-reads the step-time "
          "asymmetry:\n")
    print(side_offsets(trials))
    print(f"\nEffect of the {sacrum.EVENT_LOWPASS_HZ:g} Hz zero-phase low-pass on event times, "
          "measured on the force-plate vGRF itself:\n")
    print(filter_effect(trials))
    print("\nStep time of each initial-contact rule applied to the force-plate vGRF itself (what "
          "the rule would reach from a perfect sensor; the interpolated threshold shows the "
          "reference's own 2 ms sampling):\n")
    print(rule_on_force(trials))
    print("\n### Sampling rate (full pipeline on the trials resampled, anti-aliased by "
          "`scipy.signal.resample_poly`, negatives clipped again)\n")
    print(rate_effect(trials))
    if (root / "sacrum_running_raw_sample").is_dir():
        raw = running_raw_sample(root)
        print(f"\n### Raw clip (`sacrum_running_raw_sample`, "
              f"{raw.acc_body_mps2.shape[0] / raw.rate_hz:.1f} s at {raw.rate_hz:.0f} Hz, "
              "no reference)\n")
        print(raw_sample_report(raw))
    sims = [] if args.no_sim else simulated_runs()
    if sims:
        print(f"\n## Simulator (`imu_hip.sim`, {SIM_SECONDS:g} s per runner, random mounting, "
              "full pipeline)\n")
        print("Truth: force > 0.05 BW of the simulated force (the force-plate definition).\n")
        rows_s = [(s.name, sim_stats(from_pipeline(s.sensor)[0], s.truth)) for s in sims]
        print(sim_table(rows_s))
    if not args.no_sweep:
        print("\n## Event rules tried and not adopted (detector only; real = force-treadmill "
              "trials, sim = the runners above)\n")
        print(alternatives(trials, sims))
        print("\n## Sensitivity of the running results to the method constants "
              "(detector only)\n")
        print(sweep(trials, sims))
        print("\n## Sensitivity to the AP acceleration leaking into the vertical channel "
              "(detector only, the two channels rotated about the mediolateral axis)\n")
        print(tilt_effect(trials))
        print("\nThe initial contact (and so the step time) moves with the share of the braking "
              "transient in the vertical channel; the toe-off moves with the AP channel's offset "
              "in flight. Rotating by the pitch measured from gravity (second table) is what the "
              "alignment does on an unclipped recording.\n")
    if (root / "lowerback_walking_mocap").is_dir():
        recs = walking_recordings(root)
        print("\n## Walking: lower-back IMU vs reference ICs inside reference walking bouts "
              "(`lowerback_walking_mocap`)\n")
        print("### Full pipeline (`imu_hip.analyze`, the file's raw axes)\n")
        piped_w = [from_pipeline(r.sensor)[0] for r in recs]  # type: ignore[arg-type]
        print(walking_table(walking_rows(recs, piped_w)))
        print(f"\nDetections more than {WALK_MARGIN_S:g} s outside the reference walking bouts "
              "(candidate false steps; recordings where both systems mark bouts):\n")
        print(outside_bouts(recs, piped_w))
        print("\n### Detector only (axes converted by hand)\n")
        detected_w = [detect(r) for r in recs]
        print(walking_table(walking_rows(recs, detected_w)))
        print()
        print(outside_bouts(recs, detected_w))
        print("\nSide (left/right) in walking from each kind of evidence (detector only, both "
              "reference systems):\n")
        body = []
        for label, strip in (("gyroscope + mediolateral acc.", ""), ("mediolateral acc. only", "g"),
                             ("gyroscope only", "y"), ("neither", "gy")):
            r = walking_rows(recs, [detect(_strip(rec, strip)) for rec in recs])
            ok = sum(int(x["side_ok"]) for _, x in r)  # type: ignore[call-overload]
            known = sum(int(x["side_known"]) for _, x in r)  # type: ignore[call-overload]
            found = sum(int(x["found"]) for _, x in r)  # type: ignore[call-overload]
            body.append([label, f"{known} of {found}", str(ok),
                         f"{100.0 * ok / max(known, 1):.1f} %"])
        print(md_table(["evidence", "named (of found)", "correct", "correct %"], body))
    _shoe_benchmark(root, args.no_sim)
    return 0


def _shoe_benchmark(root: Path, no_sim: bool) -> None:
    """Issue 5: the shoe-IMU tables (benchmarks/accuracy_shoe.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import accuracy_shoe

    print()
    accuracy_shoe.main(["--datasets", str(root), *(["--no-sim"] if no_sim else [])])


if __name__ == "__main__":
    sys.exit(main())
