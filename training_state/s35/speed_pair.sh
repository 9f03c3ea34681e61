#!/bin/bash
# Session 35 (issue 20): marginal evaluating frames/s (benchmarks/revisions.py --variant, leaves out start-up and the
# first frame) on the 20 full-size benchmark frames, interleaved: 0.5.0 as shipped (six members, int8), the pair
# (members 0 and 1, data/pair01) in f32, and the pair's int8 model calibrated and checked on mixed house + seed-101
# randomized frames (training_state/s35/quantize_pair01_mixed.log: passed, mean Dice 0.9886 on 20 frames).
set -e
cd "$(dirname "$0")/../.."
D=$PWD/data/pair01
.venv/bin/python benchmarks/revisions.py --rounds 2 --set baseline=false --out training_state/s35/speed_pair.md \
  --variant shipped \
  --variant pair_f32 model_path=$D/model.pt int8=false \
  --variant pair_int8 model_path=$D/model.pt int8_model_path=$D/mixed_int8/model_int8.xml int8=true
