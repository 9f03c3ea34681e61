#!/usr/bin/env bash
# Session 26 diagnostics (run from the project root; log training_state/diag26.log): the house test scenes at two
# fall-off widths (training_state/house_edge_width.py) and the camera diagnosis set (camera_diagnosis.py), scored for
# several models with benchmarks/generalization.py (one "family" per set of experiments).
#   .venv/bin/python training_state/house_edge_width.py data/house_edge0.035 0.035
#   .venv/bin/python training_state/house_edge_width.py data/house_edge0.074 0.074
#   .venv/bin/python training_state/camera_diagnosis.py data/camera_diag
set -x
run() {
  echo "=== $1 on $2"
  .venv/bin/python benchmarks/generalization.py --model_path "$1" --families_dir "$2" --no_real > "$3" 2>&1
  grep "^| renderer" "$3" | sort -u
  date
}
L=training_state/diag26_runs; mkdir -p $L
run training_state/looks22/model.pt data/camera_diag $L/looks22_camera.log
run bundle/models/model.pt data/house_edge0.035 $L/0.4.13_edge0.035.log
run bundle/models/model.pt data/house_edge0.074 $L/0.4.13_edge0.074.log
run training_state/looks22/model.pt data/house_edge0.074 $L/looks22_edge0.074.log
run training_state/dice80/model.pt data/house_edge0.035 $L/dice80_edge0.035.log
run training_state/dice80/model.pt data/house_edge0.074 $L/dice80_edge0.074.log
run data/all25/model.pt data/camera_diag $L/all25_camera.log
run training_state/dice80/model.pt data/camera_diag $L/dice80_camera.log
