#!/bin/bash
# Session 30: house31 (house31.sh, psfz31 with twice the house frames), scored as psfz31 was (s29/eval_psfz31.sh).
set -e
S=training_state/s30
.venv/bin/python training_state/grid27/ema_weights.py data/house31/checkpoint.pt data/house31_last
.venv/bin/python benchmarks/real_spindles.py --model_path data/house31_last/model.pt \
  --out $S/real_house31_last.md --figure $S/real_masks_house31_last.png
.venv/bin/python benchmarks/generalization.py --model_path data/house31_last/model.pt \
  --families_dir data/families202 --house_dir data/train_phantom --no_real --blur_sigmas_px \
  --out $S/generalization_house31_last_families202.md
