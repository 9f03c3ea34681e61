#!/bin/bash
# Session 41: one heavy job at a time. After psf_recipe.sh: the fine-tuning CLI tests (finetune.yaml's new defaults
# on a tiny phantom), then the camera and texture labs with even labels.
cd "$(dirname "$0")/../.."
while pgrep -f "labs heldout_psf1" > /dev/null; do sleep 20; done
.venv/bin/python -m pytest -q tests/test_training.py -k "cli_finetune" > training_state/s41/finetune_cli_tests.log 2>&1
bash training_state/s41/camera_even_recipe.sh > training_state/s41/camera_even_recipe.log 2>&1
bash training_state/s41/texture_even_recipe.sh > training_state/s41/texture_even_recipe.log 2>&1
