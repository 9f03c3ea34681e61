#!/bin/bash
# Session 30: psfz32's last weight average and its best-by-validation weights on the real stacks, then
# families202 + the house test. Run from the project root after training_state/s30/psfz32.sh.
set -e
S=training_state/s30
.venv/bin/python training_state/grid27/ema_weights.py data/psfz32/checkpoint.pt data/psfz32_last
for M in psfz32_last psfz32; do
  .venv/bin/python benchmarks/real_spindles.py --model_path data/$M/model.pt --out $S/real_$M.md \
    --figure $S/real_masks_$M.png
done
for M in psfz32_last psfz32; do
  .venv/bin/python benchmarks/generalization.py --model_path data/$M/model.pt --families_dir data/families202 \
    --house_dir data/train_phantom --no_real --blur_sigmas_px --out $S/generalization_${M}_families202.md
done
