"""Session 39, issue 17: the camera lab's models fine-tuned on 10 labels from 4 recordings (Sessions 37-38, data/labs
oocytes 1-4), scored on recordings 9-12 of the same lab grown to 12 recordings (data/labs_12_oocytes, written with
all three labs so that heldout_camera1 keeps data/labs' look and first 8 scenes: checked here), beside the six and the
fast model zero-shot; the baseline for the 8-recording run of lab12_camera.sh, which is scored on the same 4 recordings. Each
fine-tuned model's band is first calibrated on its own labels as training does since 0.5.4
(scripts.calibrate_band.calibrate_trained_model; written beside the weights under data/). From the project root:
    .venv/bin/python training_state/s39/lab12_pool4.py > training_state/s39/lab12_pool4.md
"""

import hashlib
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "bundle"))
from label_efficiency import band_scores, evaluate_test_frames, lab_items, scores, scores_by_stage  # noqa: E402
from scripts.calibrate_band import calibrate_trained_model  # noqa: E402

LAB = "heldout_camera1"
LABS, LABS12 = REPO / "data" / "labs", REPO / "data" / "labs_12_oocytes"
WORK = REPO / "data" / "label_efficiency_camera_fast37"
RECIPE = "patch_mode=true_patch_size=[192,192,32]_weight_average_decay=0.98_network_pixel_size_um=0.34"
OUT = REPO / "data" / "lab12_pool4_39"
MODELS = [  # (row, weights, datalist of their labels)
    ("the six (standard model), zero-shot", REPO / "bundle" / "models" / "model.pt", None),
    ("fast model, zero-shot", REPO / "bundle" / "models" / "fast" / "model.pt", None),
    ("10 random labels from recordings 1-4 (S37)", WORK / f"{LAB}_10_labels_{RECIPE}" / "model.pt",
     WORK / f"{LAB}_datalist_10_labels.json"),
    ("10 even labels from recordings 1-4 (S38)", WORK / f"{LAB}_10_labels_even_{RECIPE}" / "model.pt",
     WORK / f"{LAB}_datalist_10_labels_even.json"),
]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


for k in range(1, 9):
    name = f"{LAB}/oocyte{k:02d}.tif"
    assert sha(LABS / name) == sha(LABS12 / name), f"{name} differs between {LABS} and {LABS12}"
print(f"{LAB}: recordings 1-8 of {LABS12.name} are data/labs' own (sha256 of the files)\n")
_, test, _ = lab_items(LABS12, LAB, pool_oocytes=4, test_oocytes=4)
test_list = OUT / f"{LAB}_datalist_test.json"
test_list.parent.mkdir(parents=True, exist_ok=True)
test_list.write_text(json.dumps({"testing": test}, indent=1))
print(f"test frames: recordings {sorted({i['oocyte'] for i in test})}, {len(test)} frames from GVBD\n")
print("| model | test frames | mean Dice | median abs. rel. volume error | at GVBD: frames, mean Dice | after GVBD: "
      "frames, mean Dice, volume error | volume band: coverage, median width |")
print("| --- | --- | --- | --- | --- | --- | --- |")
for row, model, datalist in MODELS:
    if datalist is not None and not (model.parent / "band_calibration.json").is_file():
        calibrate_trained_model(model, LABS, datalist)
    out = OUT / ("eval_" + (model.parent.name if model.parent.name != "models" else "six"))
    evaluate_test_frames(LABS12, out, model, test_list)
    s, st, band = scores(out), scores_by_stage(out), band_scores(out)
    print(f"| {row} | {s['n_labelled']} | {s['mean_dice']:.3f} | {100 * s['median_abs_rel_volume_error']:.1f} % | "
          f"{st['at_gvbd_frames']}, {st['at_gvbd_dice']:.3f} | {st['after_gvbd_frames']}, {st['after_gvbd_dice']:.3f}, "
          f"{100 * st['after_gvbd_volume_error']:.1f} % | {100 * band['band_coverage']:.0f} % of {band['band_frames']}, "
          f"{100 * band['band_width']:.0f} % ({band['band']}) |", flush=True)
