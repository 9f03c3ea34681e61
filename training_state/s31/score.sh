#!/bin/bash
# Session 31: score data/NAME/model.pt as psfz31's replicates were (s30/eval_psfz31_seed131.sh): the real stacks
# (real_NAME.md / real_masks_NAME.png), families202 and the house test (generalization_NAME_families202.md).
# usage from the project root: bash training_state/s31/score.sh NAME   (SCORE_DIR=DIR writes the reports there)
set -e
S=${SCORE_DIR:-training_state/s31}
NAME=$1
.venv/bin/python benchmarks/real_spindles.py --model_path data/$NAME/model.pt \
  --out $S/real_$NAME.md --figure $S/real_masks_$NAME.png
.venv/bin/python benchmarks/generalization.py --model_path data/$NAME/model.pt \
  --families_dir data/families202 --house_dir data/train_phantom --no_real --blur_sigmas_px \
  --out $S/generalization_${NAME}_families202.md
