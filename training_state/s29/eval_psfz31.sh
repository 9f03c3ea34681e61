#!/bin/bash
# Session 29: psfz31's last weight average on the real stacks, then families202 + the house test (as finez29's).
set -e
S=training_state/s29
.venv/bin/python training_state/grid27/ema_weights.py data/psfz31/checkpoint.pt data/psfz31_last
.venv/bin/python benchmarks/real_spindles.py --model_path data/psfz31_last/model.pt --out $S/real_psfz31_last.md
.venv/bin/python benchmarks/generalization.py --model_path data/psfz31_last/model.pt --families_dir data/families202 \
  --house_dir data/train_phantom --no_real --blur_sigmas_px --out $S/generalization_psfz31_last_families202.md
