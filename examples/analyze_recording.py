"""Library use: load a recording, analyse it, look at the steps, plot cadence and pelvic drop.

    python examples/analyze_recording.py [RECORDING.csv|.mcap] [--out steps.png]

Without a recording it simulates a 3-minute run first (no hardware needed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import imu_hip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recording", nargs="?", help="imu-hip CSV or MCAP (default: simulate)")
    parser.add_argument("--out", default="steps.png", help="where to save the plot (PNG)")
    args = parser.parse_args()

    if args.recording:
        recording = imu_hip.read_recording(args.recording, placement="sacrum")
    else:
        params = imu_hip.sim.demo_params(minutes=3.0)
        recording = imu_hip.sim.simulate(params, seed=1).recording

    result = imu_hip.analyze(recording, placement="sacrum")
    steps = result.steps
    running = steps["gait"] == "run"
    print(f"{len(steps)} steps, {running.sum()} running")
    print(
        f"median cadence {np.nanmedian(steps['cadence_spm'][running]):.1f} spm, "
        f"contact time {1000 * np.nanmedian(steps['contact_time_s'][running]):.0f} ms"
    )
    drop = result.summary["metrics"].get("pelvic_drop_deg")
    if drop:
        print(
            f"pelvic drop {drop['median']:.1f} deg (left {drop['left_median']:.1f}, "
            f"right {drop['right_median']:.1f}; first 10 % {drop['drift_start']:.1f} -> "
            f"last 10 % {drop['drift_end']:.1f})"
        )

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed (pip install 'imu-hip[plot]'): no plot")
        return
    t_min = steps["t_ic_s"] / 60.0
    fig, axes = plt.subplots(2, 1, sharex=True, figsize=(8, 5))
    axes[0].plot(t_min[running], steps["cadence_spm"][running], ".", ms=2)
    axes[0].set_ylabel("cadence (spm)")
    for side, colour in (("left", "tab:blue"), ("right", "tab:red")):
        rows = running & (steps["side"] == side)
        axes[1].plot(
            t_min[rows], steps["pelvic_drop_deg"][rows], ".", ms=2, color=colour, label=side
        )
    axes[1].set_ylabel("pelvic drop (deg)")
    axes[1].set_xlabel("time (min)")
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(Path(args.out), dpi=100)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
