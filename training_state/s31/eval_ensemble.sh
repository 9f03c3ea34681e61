#!/bin/bash
# Session 31: the prediction ensemble (python -m scripts.ensemble) of the given models' weights, written to
# data/NAME and scored by score.sh as single models are. Usage from the project root:
#   bash training_state/s31/eval_ensemble.sh NAME MODEL_DIR1 MODEL_DIR2 ...
set -e
NAME=$1; shift
(cd bundle && ../.venv/bin/python -m scripts.ensemble --out ../data/$NAME $(for d in "$@"; do echo ../$d/model.pt; done))
bash training_state/s31/score.sh $NAME
