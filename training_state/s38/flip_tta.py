"""Session 38, issue 17: does flip test-time augmentation (`--flip_tta true`: the crop also flipped in x, y and both,
the probabilities averaged; 4x the forward) lift a fine-tuned model on a lab's test recordings? The camera lab's
two fine-tuned fast models (Session 37's 10 random labels, Session 38's 10 evenly spaced ones), evaluated as
benchmarks/label_efficiency.py evaluates them, with and without it. From the project root:
    .venv/bin/python training_state/s38/flip_tta.py > training_state/s38/flip_tta.md
"""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "bundle"))
from label_efficiency import evaluate_test_frames, scores, scores_by_stage  # noqa: E402

WORK = REPO / "data" / "label_efficiency_camera_fast37"
RECIPE = "patch_mode=true_patch_size=[192,192,32]_weight_average_decay=0.98_network_pixel_size_um=0.34"
MODELS = {"10 labels at random (Session 37)": WORK / f"heldout_camera1_10_labels_{RECIPE}" / "model.pt",
          "10 labels evenly spaced (Session 38)": WORK / f"heldout_camera1_10_labels_even_{RECIPE}" / "model.pt"}

print("| fine-tuned fast model, camera lab | flip TTA | test frames | mean Dice | median abs. rel. volume error | "
      "at GVBD: mean Dice | after GVBD: mean Dice, volume error | evaluation wall time |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for name, model_path in MODELS.items():
    for tta in ("false", "true"):
        output_dir = REPO / "data" / "flip_tta38" / f"{model_path.parent.name}_tta_{tta}"
        seconds = evaluate_test_frames(REPO / "data" / "labs", output_dir, model_path,
                                       WORK / "heldout_camera1_datalist_test.json", extra=["--flip_tta", tta])
        s, st = scores(output_dir), scores_by_stage(output_dir)
        print(f"| {name} | {tta} | {s['n_labelled']} | {s['mean_dice']:.3f} | "
              f"{100 * s['median_abs_rel_volume_error']:.1f} % | {st['at_gvbd_dice']:.3f} | "
              f"{st['after_gvbd_dice']:.3f}, {100 * st['after_gvbd_volume_error']:.1f} % | {seconds:.0f} s |", flush=True)
