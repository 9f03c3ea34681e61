#!/bin/bash
# Session 33, run after avx2_speed.sh (one heavy job at a time on 2 cores):
# 1. model 0.5.0 on the real stacks at their own pixel size and resampled in x-y to 0.12-0.34 um (docs table);
# 2. the two renderer-family test sets (seed 101: generalization.py's default, used to choose; seed 202: families202)
#    and 0.5.0's evaluation of each (masks kept for the predicted-mask contrast analysis).
set -e
cd "$(dirname "$0")/../.."
S=training_state/s33
.venv/bin/python benchmarks/real_spindles.py --xy_spacings 0.12 0.15 0.17 0.2 0.25 0.3 0.34 \
  --out $S/real_spindles_0.5.0_pixel_sizes.md
cd bundle
[ -f ../data/renderer_families/randomized.json ] || ../.venv/bin/python -m scripts.randomized --out ../data/renderer_families \
  --families train heldout_texture heldout_psf heldout_camera --experiments 2 --oocytes 3 --frames 10 --seed 101 --workers 2
[ -f ../data/families202/randomized.json ] || ../.venv/bin/python -m scripts.randomized --out ../data/families202 \
  --families train heldout_texture heldout_psf heldout_camera --experiments 2 --oocytes 3 --frames 10 --seed 202 --workers 2
cd ..
for SET in renderer_families families202; do
  start=$(date +%s)
  .venv/bin/python -m monai.bundle run evaluating --config_file "['bundle/configs/inference.yaml']" \
    --dataset_dir data/$SET --output_dir data/eval050_$SET --progress_bar false
  echo "evaluating $SET: $(( $(date +%s) - start )) s"
done
