#!/bin/bash
# Session 41, issue 17: camera_even_recipe.sh's run as a lab runs it: the same 10 even labels written as a lab's
# dataset folder (--split finetune), which finetune.yaml splits itself (8 train, 2 validate, no test oocyte), instead
# of the benchmark's all 10 training and validation on them. Scored on recordings 5-12 (69 frames). 2-core Xeon with
# AMX (bf16). From the project root:
#   bash training_state/s41/camera_even_finetune_split.sh > training_state/s41/camera_even_finetune_split.log 2>&1
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python benchmarks/label_efficiency.py --labs heldout_camera1 \
  --lab_oocytes 12 --pool_oocytes 4 --test_oocytes 8 --labels 10 --label_choice even --split finetune --no_zero_shot \
  --work_dir data/camera_even_recipe41 --out training_state/s41/label_efficiency_camera_even_finetune_split.md
