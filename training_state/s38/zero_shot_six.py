"""Session 38, issue 17: the six (the standard model, bundle/models/model.pt) zero-shot on the psf1 and camera1 labs'
test recordings, beside the fast model's zero-shot figures of Session 37; the same evaluation as
benchmarks/label_efficiency.py's N = 0 rows (evaluate.yaml, no baseline, no aMTOC channel). From the project root:
    .venv/bin/python training_state/s38/zero_shot_six.py > training_state/s38/zero_shot_six.md
"""

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "bundle"))
from label_efficiency import evaluate_test_frames, scores, scores_by_stage  # noqa: E402

print("| lab | model | test frames | mean Dice | median abs. rel. volume error | at GVBD: frames, mean Dice | "
      "after GVBD: frames, mean Dice, volume error | wall time |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for lab, work in (("heldout_psf1", "label_efficiency_psf_fast37"), ("heldout_camera1", "label_efficiency_camera_fast37")):
    test_list = REPO / "data" / work / f"{lab}_datalist_test.json"
    output_dir = REPO / "data" / "zero_shot_six38" / lab
    seconds = evaluate_test_frames(REPO / "data" / "labs", output_dir, REPO / "bundle" / "models" / "model.pt",
                                   test_list)
    s, st = scores(output_dir), scores_by_stage(output_dir)
    print(f"| {lab} | the six (0.5.3) | {s['n_labelled']} | {s['mean_dice']:.3f} | "
          f"{100 * s['median_abs_rel_volume_error']:.1f} % | {st['at_gvbd_frames']}, {st['at_gvbd_dice']:.3f} | "
          f"{st['after_gvbd_frames']}, {st['after_gvbd_dice']:.3f}, {100 * st['after_gvbd_volume_error']:.1f} % | "
          f"{seconds:.0f} s |", flush=True)
