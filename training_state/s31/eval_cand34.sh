#!/bin/bash
# Session 31: score each seed of the candidate recipe (cand34_seed*.sh) as psfz31's replicates were
# (s30/eval_psfz31_seed131.sh): the last weight average on the real stacks, families202 and the house test.
set -e
S=training_state/s31
for SEED in "$@"; do
  M=data/cand34_seed${SEED}_last
  .venv/bin/python training_state/grid27/ema_weights.py data/cand34_seed$SEED/checkpoint.pt $M
  .venv/bin/python benchmarks/real_spindles.py --model_path $M/model.pt \
    --out $S/real_cand34_seed${SEED}_last.md --figure $S/real_masks_cand34_seed${SEED}_last.png
  .venv/bin/python benchmarks/generalization.py --model_path $M/model.pt \
    --families_dir data/families202 --house_dir data/train_phantom --no_real --blur_sigmas_px \
    --out $S/generalization_cand34_seed${SEED}_last_families202.md
done
