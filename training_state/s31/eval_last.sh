#!/bin/bash
# Session 31: score a run's last weight average as psfz31's replicates were (s30/eval_psfz31_seed131.sh): real
# stacks, families202 and the house test. usage from the project root: bash training_state/s31/eval_last.sh RUN
# (RUN = a folder of data/ with the run's checkpoint.pt; the average goes to data/RUN_last)
set -e
S=training_state/s31
RUN=$1
.venv/bin/python training_state/grid27/ema_weights.py data/$RUN/checkpoint.pt data/${RUN}_last
.venv/bin/python benchmarks/real_spindles.py --model_path data/${RUN}_last/model.pt \
  --out $S/real_${RUN}_last.md --figure $S/real_masks_${RUN}_last.png
.venv/bin/python benchmarks/generalization.py --model_path data/${RUN}_last/model.pt \
  --families_dir data/families202 --house_dir data/train_phantom --no_real --blur_sigmas_px \
  --out $S/generalization_${RUN}_last_families202.md
