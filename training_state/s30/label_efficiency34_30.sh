#!/bin/bash
# Session 30, issue 17: the 30-label point of the 0.34-um label-efficiency curve (Session 28's recipe and start,
# grid34; rows 0/1/3/10 are Sessions 28-29's: training_state/s29/label_efficiency34_curve.sh). Run from the project root.
exec .venv/bin/python benchmarks/label_efficiency.py --labs heldout_texture1 --labels 30 --no_zero_shot \
  --epochs 60 --epoch_length 50 --model_path data/grid34_epoch11/model.pt \
  --set patch_mode=true "patch_size=[192,192,32]" weight_average_decay=0.98 network_pixel_size_um=0.34 \
  --work_dir data/label_efficiency_labs34_30 --out training_state/s30/label_efficiency_lab_texture_0.34um_30.md
