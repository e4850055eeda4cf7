"""Rebuild this folder's files from the shared copy of the Alcantara et al. (2022) data.

Usage: python tests/data/sacrum_running_grf/make_excerpt.py /path/to/datasets/sacrum_running_grf

Copies the number strings unchanged (no float round trip), so the excerpt holds exactly the
published values.
"""

import csv
import sys
from pathlib import Path

TRIAL = 3
HERE = Path(__file__).parent


def _lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def main(src: Path) -> None:
    index = {int(r["trial"]): r for r in csv.DictReader(_lines(src / "trials_index.csv"))}
    info = index[TRIAL]
    rows = list(csv.DictReader(_lines(src / "trials" / f"trial_{TRIAL:02d}.csv")))
    header = [
        "# sensor_id: alcantara2022_subject2_sacrum",
        "# placement: sacrum",
        "# rate_hz: 500",
        f"# source: Alcantara et al. 2022, PeerJ 10:e12752, trial {TRIAL} (see ATTRIBUTION.md)",
        f"# speed_mps: {info['speed_mps']}",
        f"# slope_deg: {info['slope_deg']}",
        "# note: biaxial sensor low-passed at 20 Hz by the authors; acc_z_g (vertical) has "
        "negative values set to 0 (aerial phase reads 0 g); acc_x_g is the anteroposterior "
        "axis; acc_y_g (mediolateral) was not measured and is filled with 0",
        "time_s,acc_x_g,acc_y_g,acc_z_g",
    ]
    with open(HERE / f"trial_{TRIAL:02d}_imu.csv", "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(header) + "\n")
        for r in rows:
            f.write(f"{r['t_s']},{r['acc_ap_g']},0,{r['acc_vert_g_negclipped']}\n")
    with open(HERE / f"trial_{TRIAL:02d}_grf.csv", "w", encoding="utf-8", newline="\n") as f:
        f.write("time_s,grf_normal_bw\n")
        for r in rows:
            f.write(f"{r['t_s']},{r['grf_normal_bw']}\n")
    contacts = [r for r in csv.DictReader(_lines(src / "reference_contacts.csv"))
                if int(r["trial"]) == TRIAL]
    cols = [c for c in contacts[0] if c != "trial"]
    with open(HERE / f"trial_{TRIAL:02d}_contacts.csv", "w", encoding="utf-8", newline="\n") as f:
        f.write(",".join(cols) + "\n")
        for r in contacts:
            f.write(",".join(r[c] for c in cols) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
