"""Session 40: per test recording of the camera lab (5-12), the mean Dice and the median ratio of the mask's volume to
the true volume, and the means over recordings 5-8 / 9-12 / 5-12, from the evaluations' volumes.csv (frames from
GVBD on). Each model is NAME=FOLDER[::FOLDER...]: its evaluations of the test recordings. From the project root:
    .venv/bin/python training_state/s40/per_recording.py > training_state/s40/per_recording.md
"""

import csv
import statistics
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
D = REPO / "data"
S37 = "patch_mode=true_patch_size=[192,192,32]_weight_average_decay=0.98_network_pixel_size_um=0.34"
DEFAULT = [
    f"fast, 10 random labels (Session 37)={D}/label_efficiency_camera_fast37/eval_heldout_camera1_10_labels_{S37}::"
    f"{D}/lab12_pool4_39/eval_heldout_camera1_10_labels_{S37}",
    f"the same + adjacent distractors p 0.3 (Session 40)="
    f"{D}/camera_distractor40/eval_heldout_camera1_10_labels_{S37}_adjacent_distractor_prob=0.3",
    f"the same, early stopping off (the whole 30 minutes; Session 40)="
    f"{D}/camera_distractor40/eval_heldout_camera1_10_labels_{S37}_adjacent_distractor_prob=0.3_early_stop_patience=100",
    f"the same, training seed 1 (Session 40)="
    f"{D}/camera_distractor40/eval_heldout_camera1_10_labels_{S37}_adjacent_distractor_prob=0.3_early_stop_patience=100"
    "_seed=1",
]


def rows_of(folders: list[str]) -> list[dict]:
    rows = []
    for folder in folders:
        with open(Path(folder) / "volumes.csv", newline="") as f:
            rows += [r for r in csv.DictReader(f) if r["has_label"] == "1"]
    return rows


def mean_dice(rows: list[dict], oocytes: list[str]) -> str:
    values = [float(r["dice"]) for r in rows if r["oocyte"] in oocytes]
    return f"{statistics.mean(values):.3f} ({len(values)})" if values else "-"


def main(models: list[str]) -> None:
    recordings = [f"oocyte{k:02d}" for k in range(5, 13)]
    print("| model | " + " | ".join(f"{r}: Dice, volume / true" for r in recordings)
          + " | mean Dice 5-8 | mean Dice 9-12 | mean Dice 5-12 (frames) | 5-12 after GVBD: mean Dice, median "
          "\\|volume error\\| |")
    print("| --- " * (len(recordings) + 5) + "|")
    for model in models:
        name, folders = model.split("=", 1)
        rows = rows_of(folders.split("::"))
        cells = []
        for oocyte in recordings:
            mine = [r for r in rows if r["oocyte"] == oocyte]
            if not mine:
                cells.append("-")
                continue
            dice = statistics.mean(float(r["dice"]) for r in mine)
            ratio = statistics.median(float(r["volume_um3"]) / float(r["ref_volume_um3"]) for r in mine)
            cells.append(f"{dice:.3f}, {ratio:.2f}")

        means = [mean_dice(rows, wanted) for wanted in (recordings[:4], recordings[4:], recordings)]
        after = [r for r in rows if float(r["minutes_since_gvbd"]) > 0]  # label_efficiency.scores_by_stage's split
        means.append(f"{statistics.mean(float(r['dice']) for r in after):.3f}, "
                     f"{100 * statistics.median(abs(float(r['rel_volume_error'])) for r in after):.1f} %")
        print(f"| {name} | " + " | ".join(cells + means) + " |")


if __name__ == "__main__":
    main(sys.argv[1:] or DEFAULT)
