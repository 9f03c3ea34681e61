#!/bin/bash
# Session 28: scale34's last weight average on the real stacks first (the question), then families202 + house test.
# Run from the project root after training_state/s28/scale34.sh.
set -e
S=training_state/s28
.venv/bin/python training_state/grid27/ema_weights.py data/scale34/checkpoint.pt data/scale34_last
.venv/bin/python benchmarks/real_spindles.py --model_path data/scale34_last/model.pt --out $S/real_scale34_last.md
.venv/bin/python benchmarks/generalization.py --model_path data/scale34_last/model.pt --families_dir data/families202 \
  --house_dir data/train_phantom --no_real --out $S/generalization_scale34_families202.md
