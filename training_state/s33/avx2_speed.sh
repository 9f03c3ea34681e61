#!/bin/bash
# Session 33 (AMD EPYC, AVX2 only, 2 cores): end-to-end evaluating speed of model 0.5.0 (working tree: the six-member
# ensemble at 0.34 um) against 0.4.13 (31a097a: one U-Net at 0.17 um), each with its own defaults (OpenVINO, int8
# where its int8 model belongs to its weights), 20 full-size frames, interleaved rounds; then the forward alone.
set -e
cd "$(dirname "$0")/../.."
.venv/bin/python benchmarks/revisions.py --against 31a097a --rounds 2 --set baseline=false \
  --out training_state/s33/revisions_full_size_epyc_0.5.0.md
.venv/bin/python benchmarks/openvino_layers.py --crop 176 176 32 --out training_state/s33/openvino_layers_epyc_0.5.0.md
