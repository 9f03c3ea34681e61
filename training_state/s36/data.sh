#!/bin/bash
# Session 36: the data sets of the earlier sessions, regenerated on a fresh machine (commands of training_state/README.md:
# the house phantom of the top Data line, families202 of Session 22).
set -e
cd "$(dirname "$0")/../.."
P=.venv/bin/python
[ -f data/train_phantom/datalist.json ] || { $P -m scripts.phantom --out data/train_phantom --experiments 6 --oocytes 4 \
  --frames 24 --size 400 400 31 --seed 1 --true-masks && $P -m scripts.datalist --dataset_dir data/train_phantom \
  --out data/train_phantom/datalist.json; }
[ -f data/families202/gvbd.csv ] || $P -m scripts.randomized --out data/families202 --families train heldout_texture \
  heldout_psf heldout_camera --experiments 2 --oocytes 3 --frames 10 --seed 202 --workers 2
echo "data ready: $(date)"
