#!/bin/bash
# Session 40, issue 17: camera_distractor_full.sh again with training seed 1 (the labels the same), to see how much of
# its gain on recording 10 (0.752 -> 0.837) one run carries; Session 38 measured 0.005 between two seeds without the
# augmentation. 2-core Xeon with AMX (bf16):
#   bash training_state/s40/camera_distractor_seed1.sh > training_state/s40/camera_distractor_seed1.log 2>&1
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python benchmarks/label_efficiency.py --labs heldout_camera1 \
  --lab_oocytes 12 --pool_oocytes 4 --test_oocytes 8 --labels 10 --epochs 60 --epoch_length 50 --no_zero_shot \
  --model_path bundle/models/fast/model.pt \
  --set patch_mode=true "patch_size=[192,192,32]" weight_average_decay=0.98 network_pixel_size_um=0.34 \
  adjacent_distractor_prob=0.3 early_stop_patience=100 seed=1 \
  --work_dir data/camera_distractor40 --out training_state/s40/label_efficiency_camera_distractor_seed1.md
