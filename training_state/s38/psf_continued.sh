#!/bin/bash
# Session 38, issue 17: would more steps close the PSF lab's gap? Session 37's PSF-lab fine-tune of the fast model
# (training_state/s37/label_efficiency_psf_fast.sh: 10 random labels, 30-minute budget, 19 epochs of 50 patch steps,
# its validation on its own labels still rising) continued from its checkpoint for another 30-minute budget (the
# budget starts afresh on --resume_from), in a copy of its folder, then scored on the same 34 test frames as
# label_efficiency.py scores it. 2-core Xeon with AMX (bf16). From the project root:
#   bash training_state/s38/psf_continued.sh > training_state/s38/psf_continued.log 2>&1
set -euo pipefail
RECIPE="patch_mode=true_patch_size=[192,192,32]_weight_average_decay=0.98_network_pixel_size_um=0.34"
WORK=data/label_efficiency_psf_fast37
RUN=data/psf_continued38/run
rm -rf data/psf_continued38 && mkdir -p data/psf_continued38
cp -r "$WORK/heldout_psf1_10_labels_$RECIPE" "$RUN"
start=$(date +%s)
.venv/bin/python -m monai.bundle run training --config_file "['bundle/configs/train.yaml','bundle/configs/finetune.yaml']" \
  --logging_file bundle/configs/logging.conf --dataset_dir data/labs \
  --datalist_file "$WORK/heldout_psf1_datalist_10_labels.json" --init_weights bundle/models/fast/model.pt \
  --resume_from "$RUN/checkpoint.pt" --ckpt_dir "$RUN" --epochs 60 --epoch_length 50 --progress_bar false \
  --patch_mode true --patch_size "[192,192,32]" --weight_average_decay 0.98 --network_pixel_size_um 0.34
echo "continued fine-tuning: $(( ($(date +%s) - start) / 60 )) min"
.venv/bin/python - "$RUN" "$WORK" <<'PY'
import sys
from pathlib import Path
sys.path[:0] = ["benchmarks", "bundle"]
from label_efficiency import evaluate_test_frames, scores, scores_by_stage
run, work = Path(sys.argv[1]), Path(sys.argv[2])
out = run.parent / "eval"
evaluate_test_frames(Path("data/labs"), out, run / "model.pt", work / "heldout_psf1_datalist_test.json")
s, st = scores(out), scores_by_stage(out)
print(f"heldout_psf1, 10 labels, 30 + 30 min: mean Dice {s['mean_dice']:.3f}, median |volume error| "
      f"{100 * s['median_abs_rel_volume_error']:.1f} % on {s['n_labelled']} frames; at GVBD {st['at_gvbd_dice']:.3f}; "
      f"after GVBD {st['after_gvbd_dice']:.3f}, {100 * st['after_gvbd_volume_error']:.1f} %")
PY
