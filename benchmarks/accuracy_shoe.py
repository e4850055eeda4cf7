"""Accuracy of the shoe-IMU analysis on real recordings and on the simulator.

Usage::

    python benchmarks/accuracy_shoe.py [--datasets DIR] [--no-sim]

``DIR`` defaults to ``../shared/datasets`` relative to the repository root. Datasets (see their
README): ``shoe_jogging_vicon`` (one right-shoe IMU, 200 Hz, jogging with turns in a Vicon room;
reference stride length = Vicon distance between the data set's stride boundaries at foot flat)
and ``feet_walking_mocap`` (IMU on each foot, 204.8 Hz, 2 x 20 m walk; reference initial contact
``ic`` and toe-off ``tc`` per stride as sample indices). Every recording goes through the full
pipeline (:func:`imu_hip.foot_pipeline.analyze_feet`) in its own sensor frame (the data sets'
raw axes), so the automatic foot frame is part of what is measured. Nothing is tuned to these
files: the method's constants come from physics and the literature (see
:mod:`imu_hip.gait.foot`).

Matching: a reference jogging stride (boundaries ``b0 -> b1``) is matched by the estimated stride
whose start and end mid-stances lie in the same stances as ``b0`` and ``b1``: within ``CLOSE_S``
of them, or with no swing between (standing before the first stride and after the last is one
long stance).
Walking events are matched one to one within 150 ms. Output is markdown.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from md_tables import md_table

from imu_hip.dsp.filters import moving_mean
from imu_hip.foot_pipeline import analyze_feet
from imu_hip.gait.foot import SWING_MIN_RADS
from imu_hip.model import SensorRecording
from imu_hip.validation import error_stats, match_events

REPO = Path(__file__).resolve().parents[1]
WALK_TOL_S = 0.15
CLOSE_S = 0.15  # a running stance lasts ~0.2-0.3 s: two instants this close are in one stance
SIM_RUNS = [(strike, v, cad, duty) for strike in ("rear", "mid", "fore")
            for v, cad, duty in ((2.5, 160.0, 0.38), (3.5, 172.0, 0.35), (5.0, 185.0, 0.30))]


def _f(x: float, fmt: str = "{:+.3f}") -> str:
    return "-" if not np.isfinite(x) else fmt.format(x)


# ------------------------------------------------------------------------------ jogging


def jogging_trial(imu_csv: Path) -> tuple[SensorRecording, np.ndarray, np.ndarray]:
    """The trial as a right-shoe SensorRecording (sensor frame), the reference boundary times
    (s) and the reference stride lengths (m, Vicon distance between consecutive boundaries)."""
    d = np.genfromtxt(imu_csv, delimiter=",", names=True)
    b = np.genfromtxt(str(imu_csv).replace("_imu_vicon", "_stride_boundaries"), delimiter=",",
                      names=True)
    t = d["t_s"]
    rate = float(np.round(1.0 / np.median(np.diff(t))))
    sensor = SensorRecording(
        sensor_id=imu_csv.name.split("_imu")[0], placement="right_foot", rate_hz=rate, t_s=t,
        acc_mps2=np.column_stack([d["acc_x"], d["acc_y"], d["acc_z"]]),
        gyr_rads=np.column_stack([d["gyr_x"], d["gyr_y"], d["gyr_z"]]))
    ref_len = np.hypot(np.diff(b["vicon_x_m"]), np.diff(b["vicon_y_m"]))
    return sensor, np.asarray(b["t_s"], float), ref_len


def same_stance(t_a: np.ndarray, t_b: np.ndarray, t_s: np.ndarray, gyr_rads: np.ndarray,
                rate_hz: float) -> np.ndarray:
    """For pairs of instants: True when no swing lies between them, i.e. the 50 ms-smoothed
    angular-rate magnitude stays below :data:`imu_hip.gait.foot.SWING_MIN_RADS` (the level the
    detector needs for a swing) - the two instants are in the same stance of the foot."""
    w = moving_mean(np.linalg.norm(gyr_rads, axis=1), max(1, round(0.05 * rate_hz)))
    i = np.searchsorted(t_s, np.minimum(t_a, t_b))
    j = np.searchsorted(t_s, np.maximum(t_a, t_b))
    return np.array([float(np.max(w[a:b + 1])) < SWING_MIN_RADS for a, b in zip(i, j,
                                                                              strict=True)])


def match_strides(t_start: np.ndarray, t_end: np.ndarray, r_start: np.ndarray,
                  r_end: np.ndarray, sensor: SensorRecording) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (estimate, reference stride): the estimated stride's start and end lie
    within ``CLOSE_S`` of the reference stride's ``r_start``/``r_end`` or in the same stance as
    them; one to one, nearest in time first."""
    i_est, i_ref, used = [], [], set()
    for j in range(r_start.size):
        # candidates: the strides overlapping the reference stride in time (a boundary may lie
        # far into a long standing stance, as the last one of a trial does)
        near = np.flatnonzero((t_start < r_end[j] + CLOSE_S) & (t_end > r_start[j] - CLOSE_S))
        near = [int(k) for k in near if int(k) not in used]
        if not near:
            continue
        k_arr = np.asarray(near)
        ok = np.ones(k_arr.size, bool)
        for t_est, t_ref in ((t_start[k_arr], r_start[j]), (t_end[k_arr], r_end[j])):
            ok &= ((np.abs(t_est - t_ref) <= CLOSE_S)
                   | same_stance(t_est, np.full(k_arr.size, t_ref), sensor.t_s,
                                 sensor.gyr_rads, sensor.rate_hz))
        if ok.any():
            cand = k_arr[ok]
            cost = np.abs(t_start[cand] - r_start[j]) + np.abs(t_end[cand] - r_end[j])
            k = int(cand[np.argmin(cost)])
            used.add(k)
            i_est.append(k)
            i_ref.append(j)
    return np.asarray(i_est, int), np.asarray(i_ref, int)


def jogging_report(root: Path) -> tuple[str, dict]:
    rows, errs, n_ref, n_match, clipped = [], [], 0, 0, 0
    for f in sorted((root / "shoe_jogging_vicon").glob("*_imu_vicon.csv")):
        sensor, b, ref_len = jogging_trial(f)
        strides = analyze_feet([sensor]).strides
        ie, ir = match_strides(strides["t_start_s"], strides["t_end_s"], b[:-1], b[1:], sensor)
        e = strides["stride_length_m"][ie] - ref_len[ir]
        s = error_stats(e)
        rows.append([sensor.sensor_id, str(b.size - 1), str(len(strides)),
                     f"{ie.size} ({100.0 * ie.size / max(b.size - 1, 1):.0f} %)",
                     f"{int(np.sum(strides['clipped'][ie]))}", _f(s["mean"]), _f(s["sd"], "{:.3f}"),
                     _f(s["mae"], "{:.3f}"), f"{np.mean(ref_len):.2f}"])
        errs.append(e)
        n_ref += b.size - 1
        n_match += ie.size
        clipped += int(np.sum(strides["clipped"][ie]))
    allerr = np.concatenate(errs) if errs else np.zeros(0)
    s = error_stats(allerr)
    rows.append(["**all**", str(n_ref), "", f"{n_match} ({100.0 * n_match / max(n_ref, 1):.0f} %)",
                 str(clipped), _f(s["mean"]), _f(s["sd"], "{:.3f}"), _f(s["mae"], "{:.3f}"), ""])
    table = md_table(["trial", "ref strides", "found", "matched", "clipped", "bias m", "SD m",
                      "MAE m", "mean ref m"], rows)
    return table, {"bias": s["mean"], "sd": s["sd"], "matched_pct": 100.0 * n_match / max(n_ref, 1)}


# ------------------------------------------------------------------------------ walking


def walking_sensors(root: Path) -> list[SensorRecording]:
    """Both feet of ``imu_sample_not_rotated.csv`` (the sensors' own axes; gyro deg/s -> rad/s)."""
    path = root / "feet_walking_mocap" / "imu_sample_not_rotated.csv"
    with open(path, encoding="utf-8") as fh:
        sensor_row = fh.readline().strip().split(",")
        axis_row = fh.readline().strip().split(",")
    data = np.genfromtxt(path, delimiter=",", skip_header=2)
    rate = 204.8
    out = []
    for side in ("left", "right"):
        idx = {a: next(i for i, (s, x) in enumerate(zip(sensor_row, axis_row, strict=True))
                       if s == f"{side}_sensor" and x == a)
               for a in ("acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z")}
        out.append(SensorRecording(
            sensor_id=f"{side}_sensor", placement=f"{side}_foot", rate_hz=rate,
            t_s=data[:, 0] / rate,
            acc_mps2=data[:, [idx["acc_x"], idx["acc_y"], idx["acc_z"]]],
            gyr_rads=np.radians(data[:, [idx["gyr_x"], idx["gyr_y"], idx["gyr_z"]]])))
    return out


def walking_report(root: Path) -> tuple[str, dict]:
    sensors = walking_sensors(root)
    ev = np.genfromtxt(root / "feet_walking_mocap" / "stride_events_sample.csv", delimiter=",",
                       names=True, dtype=None, encoding=None)
    strides = analyze_feet(sensors).strides
    rate = sensors[0].rate_hz
    rows, pooled = [], {"ic": [], "tc": []}
    for side in ("left", "right"):
        mine = strides["side"] == side
        ref = ev[ev["foot"] == side]
        for col, key in (("t_ic_s", "ic"), ("t_to_s", "tc")):
            t_ref = np.asarray(ref[key], float) / rate
            ie, ir = match_events(strides[col][mine], t_ref, WALK_TOL_S)
            e = strides[col][mine][ie] - t_ref[ir]
            pooled[key].append(e)
            s = error_stats(1000.0 * e)
            rows.append([side, "initial contact" if key == "ic" else "toe-off",
                         f"{ie.size} of {t_ref.size}", _f(s["mean"], "{:+.1f}"),
                         _f(s["sd"], "{:.1f}"), _f(s["mae"], "{:.1f}")])
    summary = {}
    for key, label in (("ic", "initial contact"), ("tc", "toe-off")):
        s = error_stats(1000.0 * np.concatenate(pooled[key]))
        rows.append(["**both**", label, str(s["n"]), _f(s["mean"], "{:+.1f}"),
                     _f(s["sd"], "{:.1f}"), _f(s["mae"], "{:.1f}")])
        summary[key] = s
    length = strides["stride_length_m"]
    summary["stride_length_median_m"] = float(np.nanmedian(length))
    summary["length"] = walking_length_errors(root, sensors, strides, ev)
    return md_table(["foot", "event", "matched", "mean ms", "SD ms", "MAE ms"], rows), summary


def walking_length_errors(root: Path, sensors: list[SensorRecording], strides, ev) -> dict:
    """Stride length against motion capture (``position_sample.csv``: the heel trajectory of
    each reference stride from its ``start`` to its ``end`` sample, both at the foot's minimum
    velocity): horizontal distance between the two ends. Matched as in jogging."""
    ends: dict[tuple[str, int], np.ndarray] = {}
    with open(root / "feet_walking_mocap" / "position_sample.csv", encoding="utf-8") as fh:
        fh.readline()
        for line in fh:
            sensor_id, s_id, _, x, y, _ = line.strip().split(",")
            ends[(sensor_id, int(s_id))] = np.array([float(x), float(y)])
    errs = []
    for sensor in sensors:
        side = sensor.placement.split("_")[0]
        ref = ev[ev["foot"] == side]
        ref_len = np.array([np.hypot(*ends[(f"{side}_sensor", int(i))]) for i in ref["s_id"]])
        mine = strides["side"] == side
        ie, ir = match_strides(strides["t_start_s"][mine], strides["t_end_s"][mine],
                               np.asarray(ref["start"], float) / sensor.rate_hz,
                               np.asarray(ref["end"], float) / sensor.rate_hz, sensor)
        errs.append(strides["stride_length_m"][mine][ie] - ref_len[ir])
    out = error_stats(np.concatenate(errs))
    out["n_ref"] = int(ev.size)
    return out


# ------------------------------------------------------------------------------ simulator


def sim_report(seconds: float = 30.0) -> str:
    from imu_hip.sim import RunnerParams, simulate

    rows = []
    for strike, v, cad, duty in SIM_RUNS:
        p = RunnerParams(phases=(("run", seconds),), foot_strike=strike, speed_mps=v,
                         cadence_spm=cad, duty_factor=duty, rate_hz=400.0)
        sim = simulate(p, seed=7, placements=("left_foot", "right_foot"))
        st = analyze_feet(sim.recording.sensors).strides
        tr = sim.truth
        errs: dict[str, list[np.ndarray]] = {k: [] for k in ("ic", "to", "len", "fsa", "pron")}
        found = 0
        for side in ("left", "right"):
            m, tm = st["side"] == side, tr["side"] == side
            ie, ir = match_events(st["t_ic_s"][m], tr["t_ic_s"][tm], 0.05)
            found += ie.size
            inner = st["t_start_s"][m][ie] > tr["t_ic_s"][0]  # skip the recording's first stride
            errs["ic"].append(1000 * (st["t_ic_s"][m][ie] - tr["t_ic_s"][tm][ir]))
            errs["to"].append(1000 * (st["t_to_s"][m][ie] - tr["t_to_s"][tm][ir]))
            d_len = st["stride_length_m"][m][ie] - tr["stride_length_m"][tm][ir]
            errs["len"].append(d_len[inner])
            errs["fsa"].append(st["foot_strike_angle_deg"][m][ie]
                               - tr["foot_strike_angle_deg"][tm][ir])
            errs["pron"].append(st["pronation_excursion_deg"][m][ie]
                                - tr["pronation_excursion_deg"][tm][ir])
        stats = {k: error_stats(np.concatenate(v)) for k, v in errs.items()}
        rows.append([f"{strike} {v:g} m/s", f"{found}/{tr['t_ic_s'].size}",
                     *(f"{_f(stats[k]['mean'], f)} ± {_f(stats[k]['sd'], g)}" for k, f, g in (
                         ("ic", "{:+.1f}", "{:.1f}"), ("to", "{:+.1f}", "{:.1f}"),
                         ("len", "{:+.3f}", "{:.3f}"), ("fsa", "{:+.1f}", "{:.1f}"),
                         ("pron", "{:+.1f}", "{:.1f}")))])
    return md_table(["runner", "contacts found", "IC ms", "TO ms", "stride length m",
                     "strike angle deg", "pronation deg"], rows)


def ic_rule_report(root: Path | None) -> str:
    """Initial contact with and without the heel-rocker rule (:data:`HEEL_ROCKER_S`; 0 = the
    impact alone), on the walking reference and simulated rear/mid strikers: MAE (ms)."""
    import imu_hip.gait.foot as foot
    from imu_hip.sim import RunnerParams, simulate

    data: list[tuple[str, list[SensorRecording], list[np.ndarray], float]] = []
    if root is not None and (root / "feet_walking_mocap").is_dir():
        sensors = walking_sensors(root)
        ev = np.genfromtxt(root / "feet_walking_mocap" / "stride_events_sample.csv",
                           delimiter=",", names=True, dtype=None, encoding=None)
        refs = [np.asarray(ev[ev["foot"] == s.placement.split("_")[0]]["ic"], float) / s.rate_hz
                for s in sensors]
        data.append(("walking reference", sensors, refs, WALK_TOL_S))
    for strike in ("rear", "mid"):
        sim = simulate(RunnerParams(phases=(("run", 20.0),), foot_strike=strike, speed_mps=2.5,
                                    cadence_spm=160.0, duty_factor=0.38), seed=7,
                       placements=("left_foot",))
        tm = sim.truth["side"] == "left"
        data.append((f"sim {strike} 2.5 m/s", sim.recording.sensors,
                     [sim.truth["t_ic_s"][tm]], 0.1))
    windows = (0.0, 0.03, 0.045, foot.HEEL_ROCKER_S, 0.09, 0.12)
    rows = []
    saved = foot.HEEL_ROCKER_S
    try:
        for w in windows:
            foot.HEEL_ROCKER_S = w
            cells = []
            for _, sensors, refs, tol in data:
                errs = []
                for s, ref in zip(sensors, refs, strict=True):
                    st = analyze_feet([s]).strides
                    ie, ir = match_events(st["t_ic_s"], ref, tol)
                    errs.append(1000 * (st["t_ic_s"][ie] - ref[ir]))
                e = error_stats(np.concatenate(errs))
                cells.append(f"{e['mae']:.1f} ({e['mean']:+.1f})")
            label = "impact only" if w == 0 else f"{1000 * w:.0f} ms"
            rows.append([label + (" (adopted)" if w == saved else ""), *cells])
    finally:
        foot.HEEL_ROCKER_S = saved
    return md_table(["heel-rocker window", *(d[0] for d in data)], rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", type=Path, default=REPO.parent / "shared" / "datasets")
    ap.add_argument("--no-sim", action="store_true", help="skip the simulated runners")
    args = ap.parse_args(argv)
    root: Path = args.datasets
    if (root / "shoe_jogging_vicon").is_dir():
        print("## Shoe IMU: jogging stride length vs Vicon (`shoe_jogging_vicon`)\n")
        table, s = jogging_report(root)
        print(table)
        print(f"\nTargets: bias within ±0.03 m, SD <= 0.04 m, >= 95 % matched. Measured: bias "
              f"{s['bias']:+.4f} m, SD {s['sd']:.4f} m, {s['matched_pct']:.0f} % matched "
              "(both boundaries in the same stance as the reference's).\n")
    else:
        print(f"accuracy_shoe: {root / 'shoe_jogging_vicon'} not found; skipped", file=sys.stderr)
    if (root / "feet_walking_mocap").is_dir():
        print("## Shoe IMU: walking initial contact and toe-off (`feet_walking_mocap`)\n")
        table, s = walking_report(root)
        print(table)
        print(f"\nTarget: MAE <= 15 ms. Measured MAE: initial contact {s['ic']['mae']:.1f} ms, "
              f"toe-off {s['tc']['mae']:.1f} ms. Estimate minus reference (positive = late). "
              f"Median stride length {s['stride_length_median_m']:.2f} m.\n")
        ln = s["length"]
        print(f"Walking stride length vs motion capture (heel position between the reference's "
              f"minimum-velocity instants; no target): {ln['n']} of {ln['n_ref']} strides "
              f"matched, bias {ln['mean']:+.3f} m, SD {ln['sd']:.3f} m, MAE {ln['mae']:.3f} m.\n")
    if not args.no_sim:
        print("## Initial contact: impact alone vs the heel-rocker rule\n")
        print("MAE in ms (mean error in brackets). A heel strike (foot > 8 deg toe up at the "
              "impact) moves the contact back to the last toe-up -> toe-down turn of the "
              "pitch rate within the window before the impact.\n")
        print(ic_rule_report(root if root.is_dir() else None))
        print()
        print("## Simulator (`imu_hip.sim`, 30 s per runner at 400 Hz, random mounting)\n")
        print("Errors: mean ± SD of estimate minus truth (IC/TO against the force-plate "
              "definition, force > 0.05 BW).\n")
        print(sim_report())
    return 0


if __name__ == "__main__":
    sys.exit(main())
