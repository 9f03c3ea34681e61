#!/usr/bin/env bash
# Session 26: run dim26 was stopped after epoch 4 (its validation fell at every epoch, so its best weights are
# looks22's own); score its epoch-4 weights (the weight average that was validated) on families202 and the dimmer
# sCMOS set, to see whether the dim looks bought anything on heldout_camera. Run from the project root; log eval26.log.
#   .venv/bin/python -c "import torch; c = torch.load('data/dim26/checkpoint.pt', weights_only=False); torch.save(c['weight_average'], 'data/dim26/epoch4_ema.pt')"
set -x
date
L=training_state/diag26_runs
.venv/bin/python benchmarks/generalization.py --model_path data/dim26/epoch4_ema.pt --families_dir data/families202 --no_real > $L/dim26_epoch4_families202.log 2>&1
grep "^| renderer" $L/dim26_epoch4_families202.log | sort -u
.venv/bin/python benchmarks/generalization.py --model_path data/dim26/epoch4_ema.pt --families_dir data/camera_diag_dimmer --no_real > $L/dim26_epoch4_camera_dimmer.log 2>&1
grep "^| renderer" $L/dim26_epoch4_camera_dimmer.log | sort -u
date
