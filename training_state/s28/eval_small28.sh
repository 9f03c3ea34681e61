#!/bin/bash
# Session 28: score small28 (its last weight average) as Session 27 scored grid34, plus the mitotic-sized test set
# data/small_test281 (seed 281, never trained on; the same geometry as rand_small28) for it and the references.
# Run from the project root after training_state/s28/small28.sh.
set -e
S=training_state/s28
.venv/bin/python training_state/grid27/ema_weights.py data/small28/checkpoint.pt data/small28_last
.venv/bin/python benchmarks/generalization.py --model_path data/small28_last/model.pt --families_dir data/families202 \
  --house_dir data/train_phantom --set "crop_size=[176,176,-1]" --out $S/generalization_small28_families202.md
for M in small28_last grid34_epoch11; do
  .venv/bin/python benchmarks/generalization.py --model_path data/$M/model.pt --families_dir data/small_test281 \
    --no_real --set "crop_size=[176,176,-1]" --out $S/generalization_${M}_small_test281.md
done
.venv/bin/python benchmarks/generalization.py --model_path data/all25/model.pt --families_dir data/small_test281 \
  --no_real --out $S/generalization_all25_small_test281.md
.venv/bin/python benchmarks/generalization.py --families_dir data/small_test281 --no_real \
  --out $S/generalization_0.4.13_small_test281.md
