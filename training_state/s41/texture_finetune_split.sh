#!/bin/bash
# Session 41, issue 17: the texture lab as a lab runs it: Session 40's 10 random labels from recordings 1-4 written as
# a lab's dataset folder (--split finetune), split by finetune.yaml itself (8 train, 2 validate), its defaults as
# shipped; scored on recordings 5-8 (34 frames). Against Session 40's run with the same settings and all 10 labels
# training (0.864 / 9.4 %, band 94 %). 2-core Xeon with AMX (bf16). From the project root:
#   bash training_state/s41/texture_finetune_split.sh > training_state/s41/texture_finetune_split.log 2>&1
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python benchmarks/label_efficiency.py --labs heldout_texture1 --labels 10 --split finetune \
  --no_zero_shot --work_dir data/texture_split41 --out training_state/s41/label_efficiency_texture_finetune_split.md
