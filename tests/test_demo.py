"""`imu-hip demo`: the whole product on a simulated hip + two-shoe run, no hardware."""

import csv
import re
from html.parser import HTMLParser

from imu_hip.cli import main


def test_demo_writes_every_output_and_matches_the_truth(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--minutes", "1.5", "--out", str(out), "--seed", "3"]) == 0
    text = capsys.readouterr().out
    for name in ("recording.mcap", "steps.csv", "strides.csv", "summary.json",
                 "truth_steps.csv", "report.html"):
        assert (out / name).stat().st_size > 0, name
    found = float(re.search(r"([\d.]+) % found", text).group(1))
    assert found >= 97.0
    with open(out / "strides.csv", newline="") as f:
        strides = list(csv.DictReader(row for row in f if not row.startswith("#")))
    assert {r["side"] for r in strides} == {"left", "right"}
    # the shoe table compares stride length with the truth: per-stride error under 5 cm
    shoes = text.split("compared with the simulator's truth (shoes):")[1]
    row = re.search(r"^stride_length_m\s+\S+\s+\S+\s+(\S+)", shoes, re.M)
    assert row and float(row.group(1)) < 0.05
    HTMLParser().feed((out / "report.html").read_text(encoding="utf-8"))  # parses
    assert "<svg" in (out / "report.html").read_text(encoding="utf-8")
