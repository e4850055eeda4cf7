"""``imu-hip demo``: simulate a run whose pelvic drop grows with fatigue, analyse it, compare.

Nothing here needs hardware, a network or a display. The outputs written to the folder are the
simulated recording (``recording.mcap``), the analysis (``steps.csv``, ``summary.json``) and the
simulator's truth (``truth_steps.csv``), so every number printed can be checked afterwards.
"""

from __future__ import annotations

import sys
from pathlib import Path

from imu_hip.io import write_mcap
from imu_hip.metrics.summary import drift_windows, finite_median, format_summary
from imu_hip.pipeline import AnalysisResult, analyze, prepare_output_dir
from imu_hip.sim import Simulation, demo_params, simulate
from imu_hip.steps import StepTable
from imu_hip.validation import compare_steps

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


def run_demo(out_dir: Path, minutes: float = 10.0, seed: int = 7) -> AnalysisResult:
    """Simulate, analyse, print the comparison and write the outputs into ``out_dir``."""
    prepare_output_dir(out_dir)
    print(
        f"simulating a {minutes:g}-minute run (seed {seed}): standing, walking, then running "
        "with pelvic drop growing from 4 to 8 deg ..."
    )
    sim = simulate(demo_params(minutes=minutes), seed=seed, placements=("sacrum",))
    recording_path = out_dir / "recording.mcap"
    write_mcap(sim.recording, recording_path)
    from imu_hip.cli import ProgressBar

    result = analyze(recording_path, placement="sacrum", progress=ProgressBar("analysing"))
    print(format_summary(result.summary))
    print()
    print("compared with the simulator's truth:")
    print(comparison_table(result, sim))
    paths = result.write(out_dir)
    truth_path = out_dir / "truth_steps.csv"
    StepTable({k: v for k, v in sim.truth.items() if k in result.steps.columns}).to_csv(truth_path)
    print("wrote " + ", ".join(str(p) for p in [recording_path, *paths, truth_path]))
    sys.stdout.flush()
    return result
