#!/bin/bash
# Session 41: one heavy job at a time. After camera_even_recipe.sh (started by chain2.sh): the fine-tuning CLI tests
# again (patch size for the tiny phantom), then the camera lab as a lab runs it, then the texture lab.
cd "$(dirname "$0")/../.."
while pgrep -f "label_choice even --no_zero_shot" > /dev/null; do sleep 20; done
.venv/bin/python -m pytest -q -p no:warnings tests/test_training.py -k "cli_finetune or datalist" \
  > training_state/s41/finetune_cli_tests.log 2>&1
bash training_state/s41/camera_even_finetune_split.sh > training_state/s41/camera_even_finetune_split.log 2>&1
bash training_state/s41/texture_even_recipe.sh > training_state/s41/texture_even_recipe.log 2>&1
