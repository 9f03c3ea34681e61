#!/bin/bash
# Session 41, issue 17: finetune.yaml's defaults are now the recipe Session 40 measured (the fast model, patches of
# 192 x 192 x 32, weight average 0.98, distractors 0.3, 60 x 50 steps in the 30-minute budget, early stopping after
# 10 validations). The PSF lab fine-tuned with the defaults as shipped (no recipe overrides), Session 37's 10 random
# labels, scored on its test recordings 5-8 (34 frames). 2-core Xeon with AMX (bf16). From the project root:
#   bash training_state/s41/psf_recipe.sh > training_state/s41/psf_recipe.log 2>&1
set -euo pipefail
cd "$(dirname "$0")/../.."
exec .venv/bin/python benchmarks/label_efficiency.py --labs heldout_psf1 --labels 10 --no_zero_shot \
  --work_dir data/psf_recipe41 --out training_state/s41/label_efficiency_psf_recipe.md
