#!/bin/bash
# Session 31: a run's last weight average (data/RUN_last) scored by score.sh.
# usage from the project root: bash training_state/s31/eval_last.sh RUN   (RUN: a folder of data/ with checkpoint.pt)
set -e
.venv/bin/python training_state/grid27/ema_weights.py data/$1/checkpoint.pt data/${1}_last
bash training_state/s31/score.sh ${1}_last
