#!/bin/bash
# Session 29: finez30's last weight average and its best-by-validation weights on the real stacks, then
# families202 + the house test. Run from the project root after training_state/s29/finez30.sh.
set -e
S=training_state/s29
.venv/bin/python training_state/grid27/ema_weights.py data/finez30/checkpoint.pt data/finez30_last
for M in finez30_last finez30; do
  .venv/bin/python benchmarks/real_spindles.py --model_path data/$M/model.pt --out $S/real_$M.md
done
for M in finez30_last finez30; do
  .venv/bin/python benchmarks/generalization.py --model_path data/$M/model.pt --families_dir data/families202 \
    --house_dir data/train_phantom --no_real --blur_sigmas_px --out $S/generalization_${M}_families202.md
done
