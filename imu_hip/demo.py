"""``imu-hip demo``: simulate a run with a hip and two shoe sensors, analyse it, compare, report.

The simulated runner's pelvic drop grows with fatigue. Nothing here needs hardware, a network or a
display. The outputs written to the folder are the simulated recording (``recording.mcap``), the
analysis (``steps.csv``, ``strides.csv``, ``summary.json``), the run report (``report.html``) and
the simulator's truth (``truth_steps.csv``), so every number printed can be checked afterwards.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from imu_hip.io import write_mcap
from imu_hip.metrics.summary import drift_windows, finite_median
from imu_hip.pipeline import AnalysisResult, analyze, prepare_output_dir
from imu_hip.sim import Simulation, demo_params, simulate
from imu_hip.steps import StepTable
from imu_hip.text import wrote_line
from imu_hip.validation import compare_steps, match_events

#: Shoe metrics compared with the truth (per stride, matched by initial contact and side).
COMPARED_STRIDES = (
    "contact_time_s",
    "stride_length_m",
    "speed_mps",
    "foot_strike_angle_deg",
    "pronation_excursion_deg",
)

#: Metrics compared with the truth in the printed table.
COMPARED = (
    "cadence_spm",
    "step_time_s",
    "contact_time_s",
    "flight_time_s",
    "vertical_oscillation_m",
    "impact_peak_g",
    "vgrf_peak_bw",
    "pelvic_tilt_rom_deg",
    "pelvic_obliquity_rom_deg",
    "pelvic_rotation_rom_deg",
    "pelvic_drop_deg",
)


def comparison_table(result: AnalysisResult, sim: Simulation) -> str:
    """Measured vs true medians, per-step errors and the pelvic-drop fatigue drift, as text."""
    truth = sim.truth
    cmp = compare_steps(result.steps, truth, (*COMPARED, "side", "gait"), tol_s=0.1)
    lines = [
        f"steps: {cmp['measured_steps']} measured, {cmp['reference_steps']} true, "
        f"{cmp['found_pct']:.1f} % found, {cmp['extra']} extra; side agrees on "
        f"{cmp['errors']['side']['agree_pct']:.1f} %, run/walk on "
        f"{cmp['errors']['gait']['agree_pct']:.1f} % of matched steps",
        "",
        f"{'metric':<26}{'measured':>10}{'true':>10}{'per-step MAE':>14}{'bias':>10}",
    ]
    for name in COMPARED:
        err = cmp["errors"][name]
        lines.append(
            f"{name:<26}{finite_median(result.steps[name]):>10.3g}{finite_median(truth[name]):>10.3g}"
            f"{err['mae']:>14.3g}{err['mean']:>10.3g}"
        )
    lines.append("")
    run_m = result.steps["gait"] == "run"
    run_t = truth["gait"] == "run"
    m_first, m_last = drift_windows(result.steps["step_time_s"][run_m])
    t_first, t_last = drift_windows(truth["step_time_s"][run_t])
    drop_m = result.steps["pelvic_drop_deg"][run_m]
    drop_t = truth["pelvic_drop_deg"][run_t]
    lines.append(
        "pelvic drop, first -> last 10 % of the run (fatigue): measured "
        f"{finite_median(drop_m[m_first]):.1f} -> {finite_median(drop_m[m_last]):.1f} deg, true "
        f"{finite_median(drop_t[t_first]):.1f} -> {finite_median(drop_t[t_last]):.1f} deg"
    )
    return "\n".join(lines)


def stride_comparison_table(result: AnalysisResult, sim: Simulation) -> str:
    """Shoe strides vs the simulator's truth: medians and per-stride errors, as text."""
    strides, truth = result.strides, sim.truth
    if strides is None or len(strides) == 0:
        return "no shoe strides measured"
    est_rows: list[int] = []
    ref_rows: list[int] = []
    for side in ("left", "right"):
        mine = np.flatnonzero(strides["side"] == side)
        true = np.flatnonzero(truth["side"] == side)
        i, j = match_events(strides["t_ic_s"][mine], truth["t_ic_s"][true], 0.05)
        est_rows.extend(mine[i])
        ref_rows.extend(true[j])
    est, ref = np.array(est_rows, dtype=int), np.array(ref_rows, dtype=int)
    lines = [
        f"shoe strides: {len(strides)} measured, {est.size} matched to a true contact",
        "",
        f"{'metric':<26}{'measured':>10}{'true':>10}{'per-stride MAE':>16}{'bias':>10}",
    ]
    for name in COMPARED_STRIDES:
        err = strides[name][est] - truth[name][ref]
        err = err[np.isfinite(err)]
        lines.append(
            f"{name:<26}{finite_median(strides[name]):>10.3g}{finite_median(truth[name]):>10.3g}"
            f"{np.mean(np.abs(err)) if err.size else np.nan:>16.3g}"
            f"{np.mean(err) if err.size else np.nan:>10.3g}"
        )
    return "\n".join(lines)


def run_demo(out_dir: Path, minutes: float = 10.0, seed: int = 7) -> AnalysisResult:
    """Simulate, analyse, print the comparison and write the outputs into ``out_dir``."""
    prepare_output_dir(out_dir)
    print(
        f"simulating a {minutes:g}-minute run (seed {seed}): standing, walking, then running "
        "with pelvic drop growing from 4 to 8 deg; sensors on the sacrum and both shoes ..."
    )
    sim = simulate(
        demo_params(minutes=minutes), seed=seed, placements=("sacrum", "left_foot", "right_foot")
    )
    recording_path = out_dir / "recording.mcap"
    write_mcap(sim.recording, recording_path)
    from imu_hip.cli import ProgressBar
    from imu_hip.commands.analyze import format_result

    result = analyze(recording_path, progress=ProgressBar("analysing"))
    print(format_result(result))
    print()
    print("compared with the simulator's truth (hip):")
    print(comparison_table(result, sim))
    print()
    print("compared with the simulator's truth (shoes):")
    print(stride_comparison_table(result, sim))
    paths = result.write(out_dir)
    truth_path = out_dir / "truth_steps.csv"
    StepTable({k: v for k, v in sim.truth.items() if k in result.steps.columns}).to_csv(truth_path)
    from imu_hip.report import collect_run, run_report_html

    report_path = out_dir / "report.html"
    run = collect_run(result, metadata=sim.recording.metadata, source=str(recording_path))
    report_path.write_text(run_report_html(run), encoding="utf-8")
    print(wrote_line([recording_path, *paths, truth_path, report_path]))
    print(
        "next: open report.html; try `imu-hip record --sim --duration 30 --out run.mcap` "
        "(live, simulated devices) and `imu-hip view --sim` (live viewer)"
    )
    sys.stdout.flush()
    return result
