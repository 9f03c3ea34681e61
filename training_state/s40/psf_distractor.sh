#!/bin/bash
# Session 40, issue 17: the adjacent-distractor augmentation (adjacent_distractor_prob 0.3) on another lab, as a check
# that it costs nothing where nothing touches the spindle: Session 37's PSF-lab recipe (fast model, 10 random labels
# from recordings 1-4 of heldout_psf1, 30-minute budget), scored on recordings 5-8 of data/labs as Session 37's run
# (0.802, 19.7 %). 2-core Xeon with AMX (bf16). From the project root:
#   bash training_state/s40/psf_distractor.sh > training_state/s40/psf_distractor.log 2>&1
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python benchmarks/label_efficiency.py --labs heldout_psf1 --labels 10 --epochs 60 --epoch_length 50 \
  --no_zero_shot --model_path bundle/models/fast/model.pt \
  --set patch_mode=true "patch_size=[192,192,32]" weight_average_decay=0.98 network_pixel_size_um=0.34 \
  adjacent_distractor_prob=0.3 \
  --work_dir data/psf_distractor40 --out training_state/s40/label_efficiency_psf_distractor.md
