#!/bin/bash
# Session 35: the fast model's volume band calibration (as 0.5.0's, training_state/s31/ship_050.sh: fitted on the
# house phantom's 14 validation frames, coverage measured on the house test oocytes and families202), evaluated as
# --model fast runs on this CPU (int8 on an AVX2 EPYC), written to bundle/models/fast/band_calibration.json.
set -e
cd "$(dirname "$0")/../.."
.venv/bin/python benchmarks/band_calibration.py --model_path bundle/models/fast/model.pt --set model=fast \
  --house_dir data/train_phantom --families_dir data/families202 --work_dir data/band_calibration_fast \
  --out training_state/s35/band_calibration_fast.md --write_calibration bundle/models/fast/band_calibration.json
