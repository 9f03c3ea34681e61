#!/bin/bash
# Session 40, issue 17: the adjacent-distractor augmentation (0.3, early stopping off, the whole 30 minutes) on a third
# lab: Session 36's texture-lab recipe (fast model, 10 random labels from recordings 1-4 of heldout_texture1), scored
# on recordings 5-8 of data/labs as Session 36's run (0.856, 7.1 %, 29.9 min). 2-core Xeon with AMX (bf16):
#   bash training_state/s40/texture_distractor.sh > training_state/s40/texture_distractor.log 2>&1
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python benchmarks/label_efficiency.py --labs heldout_texture1 --labels 10 --epochs 60 --epoch_length 50 \
  --no_zero_shot --model_path bundle/models/fast/model.pt \
  --set patch_mode=true "patch_size=[192,192,32]" weight_average_decay=0.98 network_pixel_size_um=0.34 \
  adjacent_distractor_prob=0.3 early_stop_patience=100 \
  --work_dir data/texture_distractor40 --out training_state/s40/label_efficiency_texture_distractor.md
