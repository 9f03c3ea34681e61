#!/bin/bash
# Session 41, issue 17: the texture lab fine-tuned as the docs tell a lab to work: finetune.yaml's defaults (no
# overrides) and 10 labels spread evenly over each of recordings 1-4 from GVBD on (--label_choice even), scored on
# recordings 5-8 (34 frames). Against Session 40's random labels with the same settings (0.864 / 9.4 %) and Session
# 36's recipe without the pasted objects (0.856 / 7.1 %). 2-core Xeon with AMX (bf16). From the project root:
#   bash training_state/s41/texture_even_recipe.sh > training_state/s41/texture_even_recipe.log 2>&1
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python benchmarks/label_efficiency.py --labs heldout_texture1 --labels 10 --label_choice even \
  --no_zero_shot --work_dir data/texture_even_recipe41 --out training_state/s41/label_efficiency_texture_even_recipe.md
