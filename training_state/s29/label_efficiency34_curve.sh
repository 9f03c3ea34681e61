#!/bin/bash
# Session 29, issue 17: the rest of the label-efficiency curve at 0.34 um (1 and 3 labelled frames; 30 did not fit the session), with
# Session 28's recipe and starting weights (training_state/s28/label_efficiency34.sh: 10 labels 0.863 / 6.9 %).
# Each row is printed to the log as it finishes. Run from the project root.
exec .venv/bin/python benchmarks/label_efficiency.py --labs heldout_texture1 --labels 1 3 --no_zero_shot \
  --epochs 60 --epoch_length 50 --model_path data/grid34_epoch11/model.pt \
  --set patch_mode=true "patch_size=[192,192,32]" weight_average_decay=0.98 network_pixel_size_um=0.34 \
  --work_dir data/label_efficiency_labs34 --out training_state/s29/label_efficiency_lab_texture_0.34um_curve.md
