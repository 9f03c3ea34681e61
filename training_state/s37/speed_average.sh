#!/bin/bash
# Session 37 (issue 20): the ensemble's sigmoid-mean average (a candidate in the working tree then, not committed:
# see ensemble_average.py) against the shipped log-space one (HEAD 4a240b1),
# forward alone (ensemble_average.py) and end to end on the 20 full-size benchmark frames, 3 interleaved rounds,
# the six in their default here (bf16 OpenVINO), with the answers compared. The end-to-end half reproduces only
# with SigmoidMeanEnsemble.forward's two lines in scripts/network.py's ProbabilityEnsemble.forward.
# Run from the project root: bash training_state/s37/speed_average.sh > training_state/s37/speed_average.log 2>&1
set -e
cd "$(dirname "$0")/../.."
.venv/bin/python training_state/s37/ensemble_average.py > training_state/s37/ensemble_average.log 2>&1
grep -v -i warn training_state/s37/ensemble_average.log
.venv/bin/python benchmarks/revisions.py --against HEAD --rounds 3 --set baseline=false \
  --out training_state/s37/speed_average_standard.md
