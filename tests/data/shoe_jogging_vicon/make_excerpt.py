"""Rebuild the excerpt from the shared data set folder (run from the repository root):

    python tests/data/shoe_jogging_vicon/make_excerpt.py ../shared/datasets/shoe_jogging_vicon

Copies the rows of trial 2017-12-15-18-01-18 with 0 <= t_s < 10.0 s (IMU + Vicon) and the stride
boundaries in that time, as published (number strings unchanged).
"""

import sys
from pathlib import Path

TRIAL = "2017-12-15-18-01-18"
T_END_S = 10.0


def main() -> None:
    src = Path(sys.argv[1])
    out = Path(__file__).resolve().parent
    for suffix in ("_imu_vicon.csv", "_stride_boundaries.csv"):
        lines = (src / f"{TRIAL}{suffix}").read_text(encoding="utf-8").splitlines()
        head, rows = lines[0], lines[1:]
        col = head.split(",").index("t_s")
        keep = [r for r in rows if float(r.split(",")[col]) < T_END_S]
        (out / f"{TRIAL}{suffix}").write_text("\n".join([head, *keep]) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
