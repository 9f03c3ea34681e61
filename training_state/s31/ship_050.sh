#!/bin/bash
# Session 31: make an ensemble the shipped model (0.5.0): its weights and provenance into bundle/models, the volume
# band calibrated again for it (as for 0.4.13: the house validation frames), the int8 model made again from it.
# usage from the project root: [SHIP_DIR=training_state/s32] bash training_state/s31/ship_050.sh data/ENSEMBLE
set -e
S=${SHIP_DIR:-training_state/s31}   # where the band calibration report goes
cp $1/model.pt bundle/models/model.pt
cp $1/provenance.json bundle/models/provenance.json
.venv/bin/python benchmarks/band_calibration.py --house_dir data/train_phantom --families_dir data/families202 \
  --work_dir data/band_calibration_050 --out $S/band_calibration_0.5.0.md \
  --write_calibration bundle/models/band_calibration.json
cd bundle && ../.venv/bin/python -m scripts.quantize --dataset_dir ../data --datalist_file ../data/mixed_looks22.json \
  --out models/model_int8.xml
