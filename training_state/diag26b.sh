#!/usr/bin/env bash
# After diag26.sh: looks22 on the dimmer sCMOS set (training_state/camera_diagnosis_dimmer.py).
set -x
while pgrep -f "training_state/diag26[.]sh" > /dev/null; do sleep 10; done
L=training_state/diag26_runs
.venv/bin/python benchmarks/generalization.py --model_path training_state/looks22/model.pt --families_dir data/camera_diag_dimmer --no_real > $L/looks22_camera_dimmer.log 2>&1
grep "^| renderer" $L/looks22_camera_dimmer.log | sort -u
date
