#!/bin/bash
# Session 37 (issue 20): the per-frame overhead cuts of this session (histogram standardisation, copy-free bounding
# boxes) against the session's starting revision 63ef75d, on the 20 full-size 750 x 750 x 31 benchmark frames,
# baseline off, 3 interleaved rounds, each model in its default on this CPU (2-core Xeon with AMX: bf16 OpenVINO).
# Also the loader in a worker process (num_workers 1) against the CPU default (0).
# Run from the project root: bash training_state/s37/speed.sh > training_state/s37/speed.log 2>&1
set -e
cd "$(dirname "$0")/../.."
.venv/bin/python benchmarks/revisions.py --against 63ef75d --rounds 3 --set baseline=false \
  --out training_state/s37/speed_standard.md
.venv/bin/python benchmarks/revisions.py --against 63ef75d --rounds 3 --set baseline=false model=fast \
  --out training_state/s37/speed_fast.md
