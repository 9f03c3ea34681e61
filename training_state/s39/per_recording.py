"""Session 39: per test recording, the mean Dice and the median ratio of the mask's volume to the true volume, for the
camera lab's recordings 9-12 (lab12_pool4.py's and lab12_camera.sh's evaluations in data/). From the project root:
    .venv/bin/python training_state/s39/per_recording.py > training_state/s39/per_recording.md
"""

import csv
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
folders = sys.argv[1:] or sorted(map(str, [*(REPO / "data" / "lab12_pool4_39").glob("eval_*"),
                                           *(REPO / "data" / "label_efficiency_lab12_camera39").glob("eval_*")]))
print("| evaluation | " + " | ".join(f"oocyte{k:02d}: Dice, volume / true" for k in range(9, 13)) + " |")
print("| --- | --- | --- | --- | --- |")
for folder in folders:
    with open(Path(folder) / "volumes.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["has_label"] == "1"]
    cells = []
    for oocyte in sorted({r["oocyte"] for r in rows}):
        mine = [r for r in rows if r["oocyte"] == oocyte]
        dice = statistics.mean(float(r["dice"]) for r in mine)
        ratio = statistics.median(float(r["volume_um3"]) / float(r["ref_volume_um3"]) for r in mine)
        cells.append(f"{dice:.3f}, {ratio:.2f}")
    print(f"| {Path(folder).name} | " + " | ".join(cells) + " |")
