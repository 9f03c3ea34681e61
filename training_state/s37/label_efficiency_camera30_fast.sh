#!/bin/bash
# Session 37, issue 17: Session 36's label-efficiency command from the 0.5.1 fast model (patch mode, weight average
# 0.98, network at 0.34 um, 30 labels from the same 4 lab oocytes, the 30-minute budget of finetune.yaml), on the
# heldout_camera1 lab, on a 2-core Xeon with AMX (bf16): do more labels close the camera lab's gap to 0.93?
# Run from the project root:
#   bash training_state/s37/label_efficiency_camera30_fast.sh > training_state/s37/label_efficiency_camera30_fast.log 2>&1
exec .venv/bin/python benchmarks/label_efficiency.py --labs heldout_camera1 --labels 30 --epochs 60 --epoch_length 50 \
  --model_path bundle/models/fast/model.pt \
  --set patch_mode=true "patch_size=[192,192,32]" weight_average_decay=0.98 network_pixel_size_um=0.34 \
  --work_dir data/label_efficiency_camera30_fast37 --out training_state/s37/label_efficiency_lab_camera30_fast.md
