#!/bin/bash
# Session 36 (issue 20): the 0.5.1 models on a 2-core Xeon with AVX512-BF16 + AMX (first such session since 0.5.0).
# Marginal evaluating frames/s (benchmarks/revisions.py --variant: leaves out start-up and the first frame) on the
# 20 full-size 750 x 750 x 31 benchmark frames, baseline off, interleaved rounds: each model in its default here
# (bf16 autocast via OpenVINO; int8 auto stays off with native bf16) and with its int8 model forced (--int8 true).
# Run from the project root: bash training_state/s36/speed_xeon.sh > training_state/s36/speed_xeon.log 2>&1
set -e
cd "$(dirname "$0")/../.."
.venv/bin/python benchmarks/revisions.py --rounds 3 --set baseline=false --out training_state/s36/speed_xeon.md \
  --variant standard \
  --variant standard_int8 int8=true \
  --variant fast model=fast \
  --variant fast_int8 model=fast int8=true
