#!/bin/bash
# Session 28, issue 17: Session 20's label-efficiency command with the weight average (0.823 Dice in 28.6 min at
# 0.17 um from 0.4.13: training_state/label_efficiency_lab_texture_ema.md), the network at 0.34 um instead
# (a quarter of the FLOPs per step: ~2.8x the steps in the same 30-minute budget), from grid34's weights (Session
# 27, trained at 0.34 um on the mixed data; families202 mean 0.526). Run from the project root.
exec .venv/bin/python benchmarks/label_efficiency.py --labs heldout_texture1 --labels 10 --epochs 60 --epoch_length 50 \
  --model_path data/grid34_epoch11/model.pt \
  --set patch_mode=true "patch_size=[192,192,32]" weight_average_decay=0.98 network_pixel_size_um=0.34 \
  --work_dir data/label_efficiency_labs34 --out training_state/s28/label_efficiency_lab_texture_0.34um.md
