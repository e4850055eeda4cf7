"""Accuracy of the sacral gait events (and vGRF peak) on real recordings with a reference.

Usage::

    python benchmarks/accuracy.py [--datasets DIR] [--no-sweep]

``DIR`` defaults to ``../shared/datasets`` relative to the repository root. Datasets used (see
their README): ``sacrum_running_grf`` (force treadmill contacts), ``sacrum_running_raw_sample``
(raw clip, no reference: plausibility only) and ``lowerback_walking_mocap`` (Stereophoto and
INDIP initial contacts). Every dataset is converted to the body frame (x forward, y left, z up,
m/s²) explicitly below, then passed to :func:`detect_sacral_events`. The matching and statistics
are plain functions of (estimated events, reference) so the event source can be swapped for the
full pipeline later.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imu_hip.gait import sacrum
from imu_hip.gait.sacrum import SacralEvents, detect_sacral_events
from imu_hip.metrics import grf
from imu_hip.metrics.grf import active_peak_g, vgrf_peak_bw
from imu_hip.model import G
from imu_hip.validation import error_stats, match_events

REPO = Path(__file__).resolve().parents[1]
RUN_TOL_S = 0.1  # an estimate matches a reference contact within 100 ms (step time >= 0.25 s)
WALK_TOL_S = 0.25  # walking steps are >= 0.45 s apart
WALK_MARGIN_S = 0.5  # detections this close outside a reference walking bout are not judged

Detector = Callable[[np.ndarray, np.ndarray | None, float], SacralEvents]


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
    name: str
    rate_hz: float
    acc_body_mps2: np.ndarray
    gyr_body_rads: np.ndarray | None
    ref: dict[str, np.ndarray]
    extra: dict[str, np.ndarray]


def running_grf_trials(root: Path) -> list[Trial]:
    """sacrum_running_grf: vertical (g, gravity included, negatives clipped) -> +z, AP -> +x,
    no mediolateral axis (y = 0), no gyroscope."""
    base = root / "sacrum_running_grf"
    ref_all = _read_csv(base / "reference_contacts.csv")
    index = _read_csv(base / "trials_index.csv")
    trials = []
    for tr, fname in zip(index["trial"], index["file"], strict=True):
        d = _read_csv(base / str(fname))
        rate = 1.0 / float(np.median(np.diff(d["t_s"])))
        acc = np.column_stack(
            [d["acc_ap_g"] * G, np.zeros_like(d["acc_ap_g"]), d["acc_vert_g_negclipped"] * G]
        )
        sel = ref_all["trial"] == tr
        ref = {k: v[sel] for k, v in ref_all.items()}
        trials.append(Trial(f"trial_{int(tr):02d}", rate, acc, None, ref,
                            {"grf_bw": d["grf_normal_bw"], "t_s": d["t_s"]}))
    return trials


def running_raw_sample(root: Path) -> Trial:
    """sacrum_running_raw_sample: X is vertical with its sign flipped (up = -X), Z is AP with its
    sign flipped (forward = -Z); a right-handed sensor then has left = -Y. The small mounting tilt
    is removed by rotating the mean acceleration of the running part onto +z."""
    d = _read_csv(root / "sacrum_running_raw_sample" / "Sample_test_data.csv")
    t = d["System_Timestamp_Plot_Zeroed"] / 1000.0
    rate = 1.0 / float(np.median(np.diff(t)))
    acc = np.column_stack([-d["Accel_LN_Z"], -d["Accel_LN_Y"], -d["Accel_LN_X"]])
    acc = level_to_gravity(acc, acc)
    return Trial("raw_sample", rate, acc, None, {}, {"t_s": t})


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
    +y points right; a right-handed sensor then has +z forward. Body frame: forward = +z,
    left = -y, up = +x (a proper rotation), then levelled by the mean acceleration."""
    base = root / "lowerback_walking_mocap"
    out = []
    for f in sorted(base.glob("*_lowerback_imu.csv")):
        name = f.name.replace("_lowerback_imu.csv", "")
        d = _read_csv(f)
        rate = 1.0 / float(np.median(np.diff(d["t_s"])))
        acc = np.column_stack([d["acc_z_g"], -d["acc_y_g"], d["acc_x_g"]]) * G
        gyr = np.deg2rad(np.column_stack([d["gyr_z_dps"], -d["gyr_y_dps"], d["gyr_x_dps"]]))
        acc_l = level_to_gravity(acc, acc)
        gyr_l = level_to_gravity(gyr, acc)
        refs = {}
        for system in ("Stereophoto", "INDIP"):
            ev = _read_csv(base / f"{name}_ref_{system}_events.csv")
            wb = _read_csv(base / f"{name}_ref_{system}_walkingbouts.csv")
            refs[system] = (ev, wb)
        out.append(Trial(name, rate, acc_l, gyr_l, {}, {"refs": refs}))  # type: ignore[dict-item]
    return out


# --------------------------------------------------------------------------- statistics


def running_stats(ev: SacralEvents, trial: Trial) -> dict[str, object]:
    """Match detected contacts to the force-plate contacts of one trial; per-contact errors."""
    fs = trial.rate_hz
    ref = trial.ref
    ic_s = ev.ic / fs
    to_s = ev.to / fs
    i_est, i_ref = match_events(ic_s, ref["t_on_s"], RUN_TOL_S)
    # unmatched detections at a real force onset the reference left out (cut by the file end)
    grf, t = trial.extra["grf_bw"], trial.extra["t_s"]
    onsets = t[1:][(grf[:-1] <= 0.05) & (grf[1:] > 0.05)]
    unmatched = np.setdiff1d(np.arange(ic_s.size), i_est)
    cut = [k for k in unmatched if onsets.size and np.min(np.abs(onsets - ic_s[k])) <= RUN_TOL_S
           and ic_s[k] > ref["t_off_s"][-1]]
    extra = unmatched.size - len(cut)
    # next contact in the same bout, for step and flight times
    same = np.append(ev.bout[1:] == ev.bout[:-1], False)
    nxt = np.where(same, np.append(ic_s[1:], np.nan), np.nan)
    ic_err = ic_s[i_est] - ref["t_on_s"][i_ref]
    to_err = to_s[i_est] - ref["t_off_s"][i_ref]
    ct_err = (to_s - ic_s)[i_est] - ref["contact_time_s"][i_ref]
    step_est = nxt[i_est] - ic_s[i_est]
    step_err = step_est - ref["step_time_to_next_s"][i_ref]
    flight_err = (nxt - to_s)[i_est] - ref["flight_time_to_next_s"][i_ref]
    ok = np.isfinite(step_est) & np.isfinite(ref["step_time_to_next_s"][i_ref])
    cad_est = 60.0 / np.mean(step_est[ok]) if ok.any() else np.nan
    cad_ref = 60.0 / np.nanmean(ref["step_time_to_next_s"])
    peak_g = active_peak_g(trial.acc_body_mps2[:, 2], ev.ic, ev.to, fs)
    vgrf = vgrf_peak_bw((to_s - ic_s)[i_est], step_est, gait=ev.gait[i_est],
                        active_peak=peak_g[i_est])
    vgrf_timing = vgrf_peak_bw((to_s - ic_s)[i_est], step_est, gait=ev.gait[i_est])
    vgrf_newton = peak_g[i_est]
    vgrf_err = 100.0 * (vgrf - ref["peak_grf_bw"][i_ref]) / ref["peak_grf_bw"][i_ref]
    return {
        "n_ref": int(ref["t_on_s"].size),
        "found": int(i_ref.size),
        "extra": int(extra),
        "cut_by_end": len(cut),
        "ic_err": ic_err,
        "to_err": to_err,
        "ct_err": ct_err,
        "flight_err": flight_err,
        "step_err": step_err,
        "cad_err": cad_est - cad_ref,
        "vgrf_err_pct": vgrf_err,
        "vgrf_timing_err_pct": 100.0 * (vgrf_timing / ref["peak_grf_bw"][i_ref] - 1.0),
        "vgrf_newton_err_pct": 100.0 * (vgrf_newton / ref["peak_grf_bw"][i_ref] - 1.0),
        "vgrf_rawpeak_err_pct": 100.0 * (_raw_peaks(trial, ev)[i_est] / ref["peak_grf_bw"][i_ref]
                                         - 1.0),
        "gait_run_pct": 100.0 * float(np.mean(ev.gait[i_est] == "run")) if i_est.size else np.nan,
    }


def _raw_peaks(trial: Trial, ev: SacralEvents) -> np.ndarray:
    """Unfiltered vertical acceleration peak (g) of each contact, for comparison."""
    a = trial.acc_body_mps2[:, 2] / G
    out = np.full(ev.ic.size, np.nan)
    for k, (i0, i1) in enumerate(zip(ev.ic, ev.to, strict=True)):
        if np.isfinite(i0) and np.isfinite(i1):
            out[k] = a[int(i0) : int(np.ceil(i1)) + 1].max()
    return out


def _ms(x: np.ndarray) -> dict[str, float]:
    return error_stats(1000.0 * np.asarray(x, dtype=float))


def running_table(rows: list[tuple[str, dict[str, object]]]) -> str:
    head = (f"{'trial':10s} {'found':>9s} {'%':>6s} {'extra':>5s} {'IC err mean±SD':>15s} "
            f"{'IC MAE':>6s} {'TO err':>6s} {'TO MAE':>6s} {'CT RMSE':>7s} {'FT MAE':>6s} "
            f"{'ST MAE':>6s} {'cad err':>7s} {'vGRF MAPE':>9s} {'run %':>5s}")
    lines = [head, "-" * len(head)]
    keys = ("ic_err", "to_err", "ct_err", "flight_err", "step_err", "vgrf_err_pct")
    pooled: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    tot = {"n_ref": 0, "found": 0, "extra": 0}
    cad = []
    run = []
    for name, r in rows:
        for k in keys:
            pooled[k].append(np.asarray(r[k], dtype=float))
        for k in tot:
            tot[k] += int(r[k])  # type: ignore[call-overload]
        cad.append(float(r["cad_err"]))  # type: ignore[arg-type]
        run.append(float(r["gait_run_pct"]))  # type: ignore[arg-type]
        lines.append(_running_line(name, r))
    all_r: dict[str, object] = {k: np.concatenate(v) for k, v in pooled.items()}
    all_r.update(tot)
    all_r["cad_err"] = float(np.mean(np.abs(cad)))
    all_r["gait_run_pct"] = float(np.mean(run))
    lines.append("-" * len(head))
    lines.append(_running_line("ALL", all_r, cad_label="|cad|"))
    return "\n".join(lines)


def _running_line(name: str, r: dict[str, object], cad_label: str = "") -> str:
    ic = _ms(r["ic_err"])  # type: ignore[arg-type]
    vg = error_stats(r["vgrf_err_pct"])  # type: ignore[arg-type]
    pct = 100.0 * int(r["found"]) / max(int(r["n_ref"]), 1)  # type: ignore[call-overload]
    return (f"{name:10s} {r['found']:>4d}/{r['n_ref']:<4d} {pct:6.1f} {r['extra']:>5d} "
            f"{ic['mean']:+6.1f}±{ic['sd']:5.1f} ms {ic['mae']:6.1f} "
            f"{_ms(r['to_err'])['mean']:+6.1f} "  # type: ignore[arg-type]
            f"{_ms(r['to_err'])['mae']:6.1f} {_ms(r['ct_err'])['rmse']:7.1f} "  # type: ignore
            f"{_ms(r['flight_err'])['mae']:6.1f} {_ms(r['step_err'])['mae']:6.1f} "  # type: ignore
            f"{float(r['cad_err']):+7.2f} {vg['mae']:8.1f}% {float(r['gait_run_pct']):5.0f}"
            + (f"  ({cad_label})" if cad_label else ""))


def vgrf_breakdown(rows: list[tuple[str, dict[str, object]]]) -> str:
    """Pooled vGRF peak errors of each estimate, against the force-plate active peak."""
    out = []
    for key, label in (("vgrf_timing_err_pct", "timing (spring-mass, Morin 2005)"),
                       ("vgrf_newton_err_pct", "Newton (5 Hz low-passed trunk acc.)"),
                       ("vgrf_err_pct", "mean of both (reported)"),
                       ("vgrf_rawpeak_err_pct", "raw acceleration peak (for contrast)")):
        e = error_stats(np.concatenate([np.asarray(r[key], dtype=float) for _, r in rows]))
        out.append(f"  {label:38s} bias {e['mean']:+6.1f} %  SD {e['sd']:5.1f} %  "
                   f"MAPE {e['mae']:5.1f} %  (n={e['n']})")
    return "\n".join(out)


def walking_stats(ev: SacralEvents, rate_hz: float, events: dict[str, np.ndarray],
                  bouts: dict[str, np.ndarray]) -> dict[str, object]:
    """Compare detected ICs with one reference system inside its walking bouts."""
    ic_s = ev.ic / rate_hz
    out: dict[str, object] = {"n_ref": 0, "found": 0, "extra": 0, "ic_err": [], "cad_err": [],
                              "side_ok": 0, "side_known": 0, "walk": 0, "judged": 0}
    if not bouts or bouts["start_s"].size == 0:
        return out
    is_ic = (events["event"] == "IC") & np.isfinite(events["t_s"])
    ref_ic, ref_side = events["t_s"][is_ic], events["side"][is_ic]

    same = np.append(ev.bout[1:] == ev.bout[:-1], False)
    nxt = np.where(same, np.append(ic_s[1:], np.nan), np.nan)
    for b0, b1, cad_ref in zip(bouts["start_s"], bouts["end_s"], bouts["cadence_spm"],
                               strict=True):
        r_in = (ref_ic >= b0 - 1e-6) & (ref_ic <= b1 + 1e-6)
        e_in = (ic_s >= b0 - WALK_MARGIN_S) & (ic_s <= b1 + WALK_MARGIN_S)
        e_idx = np.flatnonzero(e_in)
        r_idx = np.flatnonzero(r_in)
        i_e, i_r = match_events(ic_s[e_idx], ref_ic[r_idx], WALK_TOL_S)
        out["n_ref"] += r_idx.size  # type: ignore[operator]
        out["found"] += i_r.size  # type: ignore[operator]
        strict = (ic_s[e_idx] >= b0 - WALK_TOL_S) & (ic_s[e_idx] <= b1 + WALK_TOL_S)
        unmatched = np.setdiff1d(np.flatnonzero(strict), i_e)
        out["extra"] += unmatched.size  # type: ignore[operator]
        out["ic_err"].append(ic_s[e_idx][i_e] - ref_ic[r_idx][i_r])  # type: ignore[union-attr]
        st = (nxt - ic_s)[e_idx]
        inb = (ic_s[e_idx] >= b0 - 0.05) & (ic_s[e_idx] < b1 - 0.05) & np.isfinite(st)
        if inb.sum() >= 2:
            out["cad_err"].append(60.0 / np.mean(st[inb]) - cad_ref)  # type: ignore[union-attr]
        sides = ev.side[e_idx][i_e]
        known = sides != "unknown"
        out["side_known"] += int(known.sum())  # type: ignore[operator]
        truth = np.array([str(s).lower() for s in ref_side[r_idx][i_r]], dtype=object)
        out["side_ok"] += int(np.sum(sides[known] == truth[known]))  # type: ignore[operator]
        out["walk"] += int(np.sum(ev.gait[e_idx][i_e] == "walk"))  # type: ignore[operator]
        out["judged"] += int(i_e.size)  # type: ignore[operator]
    return out


def walking_table(rows: list[tuple[str, dict[str, object]]]) -> str:
    head = (f"{'recording / reference':34s} {'found':>9s} {'%':>6s} {'extra':>5s} "
            f"{'IC err mean±SD':>15s} {'IC MAE':>6s} {'|cad err|':>9s} {'walk %':>6s} "
            f"{'side ok/known':>13s}")
    lines = [head, "-" * len(head)]
    groups = {"ALL": "", "ALL Test5 (lab, straight)": "Test5",
              "ALL Test11 (daily-living circuit)": "Test11"}
    tots: dict[str, dict[str, object]] = {
        g: {"n_ref": 0, "found": 0, "extra": 0, "ic_err": [], "cad_err": [], "side_ok": 0,
            "side_known": 0, "walk": 0, "judged": 0} for g in groups}
    for name, r in rows:
        if int(r["n_ref"]) == 0:  # type: ignore[call-overload]
            lines.append(f"{name:34s} (no reference walking bout)")
            continue
        lines.append(_walking_line(name, r))
        for g, tag in groups.items():
            if f"_{tag}_" not in name and tag:
                continue
            for k, v in r.items():
                if isinstance(v, list):
                    tots[g][k].extend(v)  # type: ignore[union-attr]
                else:
                    tots[g][k] += v  # type: ignore[operator]
    lines.append("-" * len(head))
    for g in groups:
        lines.append(_walking_line(g, tots[g]))
    return "\n".join(lines)


def _walking_line(name: str, r: dict[str, object]) -> str:
    err = np.concatenate(r["ic_err"]) if r["ic_err"] else np.zeros(0)  # type: ignore[arg-type]
    ic = _ms(err)
    cad = np.abs(np.asarray(r["cad_err"], dtype=float))
    pct = 100.0 * int(r["found"]) / max(int(r["n_ref"]), 1)  # type: ignore[call-overload]
    walk = 100.0 * int(r["walk"]) / max(int(r["judged"]), 1)  # type: ignore[call-overload]
    cad_s = f"{np.mean(cad):9.2f}" if cad.size else f"{'-':>9s}"
    return (f"{name:34s} {r['found']:>4d}/{r['n_ref']:<4d} {pct:6.1f} {r['extra']:>5d} "
            f"{ic['mean']:+6.1f}±{ic['sd']:5.1f} ms {ic['mae']:6.1f} {cad_s} {walk:6.0f} "
            f"{r['side_ok']:>6d}/{r['side_known']:<6d}")


# --------------------------------------------------------------------------- runs


def run_running(trials: list[Trial], detector: Detector) -> list[tuple[str, dict[str, object]]]:
    rows = []
    for tr in trials:
        ev = detector(tr.acc_body_mps2, tr.gyr_body_rads, tr.rate_hz)
        rows.append((tr.name, running_stats(ev, tr)))
    return rows


def run_walking(recs: list[Trial], detector: Detector) -> list[tuple[str, dict[str, object]]]:
    rows = []
    for rec in recs:
        ev = detector(rec.acc_body_mps2, rec.gyr_body_rads, rec.rate_hz)
        for system, (events, bouts) in rec.extra["refs"].items():  # type: ignore[attr-defined]
            rows.append((f"{rec.name} {system}", walking_stats(ev, rec.rate_hz, events, bouts)))
    return rows


def _strip(rec: Trial, what: str) -> Trial:
    """A copy of ``rec`` without its gyroscope ("g") and/or mediolateral axis ("y")."""
    acc = rec.acc_body_mps2.copy()
    if "y" in what:
        acc[:, 1] = 0.0
    return Trial(rec.name, rec.rate_hz, acc, None if "g" in what else rec.gyr_body_rads,
                 rec.ref, rec.extra)


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


def sweep(trials: list[Trial]) -> str:
    """Overall running results while each physically chosen constant is moved."""
    cases: list[tuple[str, dict[str, object]]] = [("as shipped", {})]
    for fc in (12.0, 15.0, 30.0):
        cases.append((f"EVENT_LOWPASS_HZ={fc:g}", {"EVENT_LOWPASS_HZ": fc}))
    for lv in ((0.1, 0.2, 0.3, 0.4), (0.3, 0.4, 0.5, 0.6), (0.2, 0.35, 0.5, 0.65)):
        cases.append((f"RISE_LEVELS={lv}", {"RISE_LEVELS": lv}))
    for fg in (0.15, 0.35):
        cases.append((f"FLIGHT_G={fg:g}", {"FLIGHT_G": fg}))
    for hz in (4.0, 6.0):
        cases.append((f"HUMP_LOWPASS_HZ={hz:g}", {"HUMP_LOWPASS_HZ": hz}))
    for p in (0.4, 0.6):
        cases.append((f"MIN_PERIODICITY={p:g}", {"MIN_PERIODICITY": p}))
    for r in (1.5, 3.0):
        cases.append((f"SIMILAR_HUMP={r:g}", {"SIMILAR_HUMP": r}))
    for hz in (4.0, 6.0, 8.0):
        cases.append((f"grf.ACTIVE_LOWPASS_HZ={hz:g}", {"ACTIVE_LOWPASS_HZ": hz}))
    lines = [f"{'case':36s} {'found %':>7s} {'extra':>5s} {'IC MAE':>6s} {'TO MAE':>6s} "
             f"{'CT RMSE':>7s} {'ST MAE':>6s} {'vGRF MAPE':>9s}"]
    for label, consts in cases:
        with override(**consts):
            rows = run_running(trials, detect_sacral_events)
        f = sum(int(r["found"]) for _, r in rows)  # type: ignore[call-overload]
        n = sum(int(r["n_ref"]) for _, r in rows)  # type: ignore[call-overload]
        x = sum(int(r["extra"]) for _, r in rows)  # type: ignore[call-overload]

        def pool(k: str, rows: list[tuple[str, dict[str, object]]] = rows) -> np.ndarray:
            return np.concatenate([np.asarray(r[k], dtype=float) for _, r in rows])

        lines.append(
            f"{label:36s} {100.0 * f / n:7.1f} {x:5d} {_ms(pool('ic_err'))['mae']:6.1f} "
            f"{_ms(pool('to_err'))['mae']:6.1f} {_ms(pool('ct_err'))['rmse']:7.1f} "
            f"{_ms(pool('step_err'))['mae']:6.1f} {error_stats(pool('vgrf_err_pct'))['mae']:8.1f}%"
        )
    return "\n".join(lines)


def filter_effect(trials: list[Trial]) -> str:
    """How the detector's zero-phase low-pass moves event times, measured on the force itself:
    the force-plate vGRF is filtered like the acceleration, and the same definitions are applied
    to the filtered and the unfiltered force (no acceleration involved)."""
    rows = []
    for tr in trials:
        f = np.maximum(tr.extra["grf_bw"], 0.0)
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
                sacrum._crossing(ff, sacrum.FLIGHT_G, top_ff, b, False, True)
                - sacrum._crossing(f, sacrum.FLIGHT_G, top_f, b, False, True),
            ))
    d = 1000.0 * np.asarray(rows) / trials[0].rate_hz
    m, sd = np.nanmean(d, axis=0), np.nanstd(d, axis=0)
    return (f"  back-extrapolated rise (IC): {m[0]:+5.1f} ± {sd[0]:.1f} ms; 0.05 BW up-crossing: "
            f"{m[1]:+5.1f} ± {sd[1]:.1f} ms; {sacrum.FLIGHT_G:g} BW down-crossing (TO): "
            f"{m[2]:+5.1f} ± {sd[2]:.1f} ms")


def raw_sample_report(trial: Trial) -> str:
    ev = detect_sacral_events(trial.acc_body_mps2, trial.gyr_body_rads, trial.rate_hz)
    fs = trial.rate_hz
    same = np.append(ev.bout[1:] == ev.bout[:-1], False)
    st = np.where(same, np.append(np.diff(ev.ic), np.nan), np.nan) / fs
    ct = (ev.to - ev.ic) / fs
    return (
        f"raw sample ({trial.acc_body_mps2.shape[0] / fs:.1f} s at {fs:.0f} Hz): "
        f"{ev.ic.size} contacts, first at {ev.ic[0] / fs if ev.ic.size else np.nan:.2f} s, "
        f"gait {', '.join(f'{g} {int(np.sum(ev.gait == g))}' for g in np.unique(ev.gait))}, "
        f"side named {int(np.sum(ev.side != 'unknown'))} (no gyroscope: running stays unknown), "
        f"cadence {60.0 / np.nanmean(st):.0f} spm, contact {np.nanmean(ct):.3f}"
        f" ± {np.nanstd(ct):.3f} s, flight {np.nanmean(st - ct):.3f} s"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    ap.add_argument("--no-sweep", action="store_true", help="skip the sensitivity sweep")
    args = ap.parse_args(argv)
    root: Path = args.datasets
    if not (root / "sacrum_running_grf").is_dir():
        print(f"accuracy: datasets folder not found: {root} (expected sacrum_running_grf/ in it; "
              "pass --datasets DIR)", file=sys.stderr)
        return 2
    trials = running_grf_trials(root)
    print("Running, sacral accelerometer vs force treadmill (sacrum_running_grf), all contacts")
    print("(times in ms; TO err = mean toe-off error; CT contact time, FT flight time, ST step "
          "time, cad cadence in spm; cad err of ALL is the mean |error| over trials)")
    rows = run_running(trials, detect_sacral_events)
    print(running_table(rows))
    print("vGRF active peak, per contact:")
    print(vgrf_breakdown(rows))
    print(f"Effect of the {sacrum.EVENT_LOWPASS_HZ:g} Hz zero-phase low-pass on event times, "
          "measured on the force-plate vGRF itself (filtered minus unfiltered):")
    print(filter_effect(trials))
    if (root / "sacrum_running_raw_sample").is_dir():
        print()
        print(raw_sample_report(running_raw_sample(root)))
    if not args.no_sweep:
        print()
        print("Sensitivity of the running results to the method constants")
        print(sweep(trials))
    if (root / "lowerback_walking_mocap").is_dir():
        print()
        print("Walking, lower-back IMU vs reference ICs inside reference walking bouts "
              "(lowerback_walking_mocap)")
        recs = walking_recordings(root)
        print(walking_table(run_walking(recs, detect_sacral_events)))
        print("Side (left/right) in walking from each kind of evidence, both reference systems:")
        for label, strip in (("gyroscope + mediolateral acc.", ""), ("mediolateral acc. only", "g"),
                             ("gyroscope only", "y"), ("neither", "gy")):
            r = run_walking([_strip(rec, strip) for rec in recs], detect_sacral_events)
            ok = sum(int(x["side_ok"]) for _, x in r)  # type: ignore[call-overload]
            known = sum(int(x["side_known"]) for _, x in r)  # type: ignore[call-overload]
            found = sum(int(x["found"]) for _, x in r)  # type: ignore[call-overload]
            print(f"  {label:32s} named {known:4d} of {found:4d} found contacts, "
                  f"{ok:4d} correct ({100.0 * ok / max(known, 1):5.1f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
