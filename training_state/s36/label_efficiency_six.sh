#!/bin/bash
# Session 36, issue 17: the label-efficiency recipe of Session 28 (patch mode, weight average 0.98, network at 0.34 um,
# 10 labels of the heldout_texture1 lab, the 30-minute budget of finetune.yaml) from the 0.5.1 standard model (all six of the
# shipped members, trained together on their averaged output), on a 2-core Xeon with AMX (bf16). Run from the project root.
exec .venv/bin/python benchmarks/label_efficiency.py --labs heldout_texture1 --labels 10 --epochs 60 --epoch_length 50 \
  --model_path bundle/models/model.pt \
  --set patch_mode=true "patch_size=[192,192,32]" weight_average_decay=0.98 network_pixel_size_um=0.34 \
  --work_dir data/label_efficiency_six36 --out training_state/s36/label_efficiency_lab_texture_six.md
