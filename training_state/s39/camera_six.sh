#!/bin/bash
# Session 39, issue 17: should a lab fine-tune the six (the standard model) rather than the fast model? The camera
# lab fine-tuned from the six with Session 36's six recipe (10 random labels from recordings 1-4, the same labels as
# Session 37's fast-model run, 30-minute budget; the band calibrated on the labels as training does since 0.5.4),
# scored on recordings 5-8 (data/labs) by the benchmark and on recordings 9-12 (data/labs_12_oocytes) after it.
# 2-core Xeon with AMX (bf16). From the project root:
#   bash training_state/s39/camera_six.sh > training_state/s39/camera_six.log 2>&1
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK=data/label_efficiency_camera_six39
.venv/bin/python benchmarks/label_efficiency.py --labs heldout_camera1 --labels 10 --epochs 60 --epoch_length 50 \
  --no_zero_shot --model_path bundle/models/model.pt \
  --set patch_mode=true "patch_size=[192,192,32]" weight_average_decay=0.98 network_pixel_size_um=0.34 \
  --work_dir "$WORK" --out training_state/s39/label_efficiency_lab_camera_six.md
.venv/bin/python - "$WORK" <<'PY'
import sys
from pathlib import Path
sys.path[:0] = ["benchmarks", "bundle"]
from label_efficiency import band_scores, evaluate_test_frames, scores, scores_by_stage
work = Path(sys.argv[1])
run = next(p for p in work.iterdir() if p.is_dir() and p.name.startswith("heldout_camera1_10_labels"))
out = work / "eval_recordings_9_12"
evaluate_test_frames(Path("data/labs_12_oocytes"), out, run / "model.pt",
                     Path("data/lab12_pool4_39/heldout_camera1_datalist_test.json"))
s, st, b = scores(out), scores_by_stage(out), band_scores(out)
print(f"recordings 9-12: mean Dice {s['mean_dice']:.3f}, median |volume error| "
      f"{100 * s['median_abs_rel_volume_error']:.1f} %; at GVBD {st['at_gvbd_dice']:.3f}, after "
      f"{st['after_gvbd_dice']:.3f}; band {100 * b['band_coverage']:.0f} % of {b['band_frames']}, "
      f"{100 * b['band_width']:.0f} % ({b['band']})")
PY
.venv/bin/python training_state/s39/per_recording.py "$WORK/eval_recordings_9_12"
