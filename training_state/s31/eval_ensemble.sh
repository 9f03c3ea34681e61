#!/bin/bash
# Session 31: the prediction ensemble (python -m scripts.ensemble) of the given models' weights, scored as single
# models are (eval_cand34.sh): real stacks, families202 and the house test. Usage from the project root:
#   bash training_state/s31/eval_ensemble.sh NAME MODEL_DIR1 MODEL_DIR2 ...   (weights in data/NAME)
set -e
S=training_state/s31
NAME=$1; shift
(cd bundle && ../.venv/bin/python -m scripts.ensemble --out ../data/$NAME $(for d in "$@"; do echo ../$d/model.pt; done))
.venv/bin/python benchmarks/real_spindles.py --model_path data/$NAME/model.pt \
  --out $S/real_$NAME.md --figure $S/real_masks_$NAME.png
.venv/bin/python benchmarks/generalization.py --model_path data/$NAME/model.pt \
  --families_dir data/families202 --house_dir data/train_phantom --no_real --blur_sigmas_px \
  --out $S/generalization_${NAME}_families202.md
