#!/bin/bash
# Session 35 (issue 20): the pair's int8 model calibrated on mixed frames (quantize_pair01_mixed.log) scored as every
# candidate is: families202, the house test (data/train_phantom, its 23 labelled test frames) and the real stacks.
set -e
cd "$(dirname "$0")/../.."
D=$PWD/data/pair01
.venv/bin/python benchmarks/generalization.py --model_path $D/model.pt --families_dir data/families202 \
  --house_dir data/train_phantom --blur_sigmas_px --set int8_model_path=$D/mixed_int8/model_int8.xml int8=true \
  --out training_state/s35/generalization_pair01_mixed_int8.md
