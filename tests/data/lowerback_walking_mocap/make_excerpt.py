"""Rebuild this folder's files from the shared copy of the mobgap lower-back example data.

Usage: python tests/data/lowerback_walking_mocap/make_excerpt.py /path/to/lowerback_walking_mocap

Copies the number strings unchanged (no float round trip), so the excerpt holds exactly the
published values; only the column names and the metadata lines are imu-hip's.
"""

import shutil
import sys
from pathlib import Path

TRIAL = "HA_001_Test5_Trial1"
HERE = Path(__file__).parent


def main(src: Path) -> None:
    lines = (src / f"{TRIAL}_lowerback_imu.csv").read_text(encoding="utf-8").splitlines()
    if lines[0] != "t_s,acc_x_g,acc_y_g,acc_z_g,gyr_x_dps,gyr_y_dps,gyr_z_dps":
        raise SystemExit(f"unexpected header: {lines[0]}")
    header = [
        f"# sensor_id: mobgap_{TRIAL}_lowerback",
        "# placement: sacrum",
        "# rate_hz: 100",
        f"# source: mobgap example data, Mobilise-D lab test, {TRIAL} (see ATTRIBUTION.md)",
        "# note: lower-back sensor in its own axes (x reads +1 g standing)",
        "time_s,acc_x_g,acc_y_g,acc_z_g,gyr_x_dps,gyr_y_dps,gyr_z_dps",
    ]
    with open(HERE / f"{TRIAL}_imu.csv", "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(header + lines[1:]) + "\n")
    for system in ("INDIP", "Stereophoto"):
        for what in ("events", "walkingbouts"):
            name = f"{TRIAL}_ref_{system}_{what}.csv"
            shutil.copyfile(src / name, HERE / name)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
