#!/bin/bash
# Session 40, issue 17: camera_distractor.sh stopped early (patience 4 on its own 10 labels: best epoch 6, 15.0 min),
# Session 37's run without the augmentation used the whole 30 minutes (18 epochs). The same run with early stopping
# off (early_stop_patience 100), so that the two differ only by the augmentation. 2-core Xeon with AMX (bf16):
#   bash training_state/s40/camera_distractor_full.sh > training_state/s40/camera_distractor_full.log 2>&1
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python benchmarks/label_efficiency.py --labs heldout_camera1 \
  --lab_oocytes 12 --pool_oocytes 4 --test_oocytes 8 --labels 10 --epochs 60 --epoch_length 50 --no_zero_shot \
  --model_path bundle/models/fast/model.pt \
  --set patch_mode=true "patch_size=[192,192,32]" weight_average_decay=0.98 network_pixel_size_um=0.34 \
  adjacent_distractor_prob=0.3 early_stop_patience=100 \
  --work_dir data/camera_distractor40 --out training_state/s40/label_efficiency_camera_distractor_full.md
