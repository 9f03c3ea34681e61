#!/bin/bash
# Session 30: the seed replicate of psfz31 (psfz31_seed231.sh), scored as psfz31 was (s29/eval_psfz31.sh).
set -e
S=training_state/s30
.venv/bin/python training_state/grid27/ema_weights.py data/psfz31_seed231/checkpoint.pt data/psfz31_seed231_last
.venv/bin/python benchmarks/real_spindles.py --model_path data/psfz31_seed231_last/model.pt \
  --out $S/real_psfz31_seed231_last.md --figure $S/real_masks_psfz31_seed231_last.png
.venv/bin/python benchmarks/generalization.py --model_path data/psfz31_seed231_last/model.pt \
  --families_dir data/families202 --house_dir data/train_phantom --no_real --blur_sigmas_px \
  --out $S/generalization_psfz31_seed231_last_families202.md
