#!/bin/bash
# Session 41, issue 17: the camera lab fine-tuned as the docs tell a lab to work: finetune.yaml's defaults (the recipe
# measured in Session 40, now shipped; no overrides) and 10 labels spread evenly over each labelled recording from GVBD
# on (step 1: early small spindles and late large ones; --label_choice even), from recordings 1-4 of the 12-recording
# lab, scored on recordings 5-12 (69 frames; Session 40's test set). Against Session 40's random labels with the same
# settings (0.912 / 0.914 over two seeds). 2-core Xeon with AMX (bf16). From the project root:
#   bash training_state/s41/camera_even_recipe.sh > training_state/s41/camera_even_recipe.log 2>&1
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python benchmarks/label_efficiency.py --labs heldout_camera1 \
  --lab_oocytes 12 --pool_oocytes 4 --test_oocytes 8 --labels 10 --label_choice even --no_zero_shot \
  --work_dir data/camera_even_recipe41 --out training_state/s41/label_efficiency_camera_even_recipe.md
