#!/bin/bash
# Session 38, issue 17: Session 37's camera-lab command (the 0.5.1 fast model, patch mode, weight average 0.98,
# network at 0.34 um, 10 labels, the 30-minute budget) with the 10 labels evenly spaced over each labelled
# recording from GVBD on (--label_choice even: each of the 4 recordings' first frame with a spindle is labelled)
# instead of drawn at random from it; the same test recordings. A replicate of label_efficiency_camera_even_fast.sh
# with training seed 1 (that run: seed 0). 2-core Xeon with AMX (bf16). From the project root:
#   bash training_state/s38/label_efficiency_camera_even_seed1_fast.sh > training_state/s38/label_efficiency_camera_even_seed1_fast.log 2>&1
exec .venv/bin/python benchmarks/label_efficiency.py --labs heldout_camera1 --labels 10 --epochs 60 --epoch_length 50 \
  --label_choice even --no_zero_shot \
  --model_path bundle/models/fast/model.pt \
  --set patch_mode=true "patch_size=[192,192,32]" weight_average_decay=0.98 network_pixel_size_um=0.34 seed=1 \
  --work_dir data/label_efficiency_camera_fast37 --out training_state/s38/label_efficiency_lab_camera_even_seed1_fast.md
