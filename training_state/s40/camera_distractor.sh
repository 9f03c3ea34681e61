#!/bin/bash
# Session 40, issue 17: does pasting bright objects against the labelled spindle (train.yaml adjacent_distractor_prob,
# scripts.augmentation.RandAdjacentDistractord) keep a fine-tuned model's masks from running on into what touches the
# spindle (Session 39: recording 10 of the camera lab, masks 40-48 % too large, 3-4 slices too deep)? Session 37's
# recipe (fast model, 10 random labels from recordings 1-4 of heldout_camera1, 30-minute budget) with the
# augmentation at p 0.3, scored on recordings 5-12 of data/labs_12_oocytes (5-8: Session 37's test set; 9-12:
# Session 39's, with recording 10). 2-core Xeon with AMX (bf16). From the project root:
#   bash training_state/s40/camera_distractor.sh > training_state/s40/camera_distractor.log 2>&1
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python benchmarks/label_efficiency.py --labs heldout_camera1 \
  --lab_oocytes 12 --pool_oocytes 4 --test_oocytes 8 --labels 10 --epochs 60 --epoch_length 50 --no_zero_shot \
  --model_path bundle/models/fast/model.pt \
  --set patch_mode=true "patch_size=[192,192,32]" weight_average_decay=0.98 network_pixel_size_um=0.34 \
  adjacent_distractor_prob=0.3 \
  --work_dir data/camera_distractor40 --out training_state/s40/label_efficiency_camera_distractor.md
