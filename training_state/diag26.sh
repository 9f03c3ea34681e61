#!/usr/bin/env bash
# Session 26 diagnostics (run from the project root): the house test scenes at two fall-off widths, then three models on
# them and on the camera diagnosis set. Log: training_state/diag26.log
set -x
date
rm -rf data/house_edge0.035 data/house_edge0.074
.venv/bin/python training_state/house_edge_width.py data/house_edge0.035 0.035
.venv/bin/python training_state/house_edge_width.py data/house_edge0.074 0.074
date
for m in bundle/models/model.pt training_state/looks22/model.pt training_state/dice80/model.pt; do
  for d in data/house_edge0.035 data/house_edge0.074 data/camera_diag; do
    echo "=== $m on $d"
    .venv/bin/python benchmarks/generalization.py --model_path $m --families_dir $d --no_real 2>&1 | grep "^|"
    date
  done
done
