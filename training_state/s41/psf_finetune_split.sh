#!/bin/bash
# Session 41, issue 17: the PSF lab as a lab runs it: Session 37's 10 random labels from recordings 1-4 written as
# a lab's dataset folder (--split finetune), split by finetune.yaml itself (8 train, 2 validate), its defaults as
# shipped; scored on recordings 5-8 (34 frames). Against this session's psf_recipe.sh, the same settings with all
# 10 labels training (0.798 / 20.3 %, band 94 %). 2-core Xeon with AMX (bf16). From the project root:
#   bash training_state/s41/psf_finetune_split.sh > training_state/s41/psf_finetune_split.log 2>&1
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python benchmarks/label_efficiency.py --labs heldout_psf1 --labels 10 --split finetune \
  --no_zero_shot --work_dir data/psf_split41 --out training_state/s41/label_efficiency_psf_finetune_split.md
