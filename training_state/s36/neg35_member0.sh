#!/bin/bash
# Session 36, issue 15: the untouched baseline of Session 35's negatives pair (training_state/s35/neg35.sh), whose
# scoring was cut off with that session's machine: member 0 of the shipped ensemble alone, in f32 as the two
# fine-tuned arms were scored (here on a Xeon, forced to fp32), on families202, the house test and the real stacks.
# Run from the project root after training_state/s36/data.sh.
set -e
cd "$(dirname "$0")/../.."
[ -f data/member0/model.pt ] || .venv/bin/python training_state/s35/member0.py data/member0
.venv/bin/python benchmarks/generalization.py --model_path data/member0/model.pt --families_dir data/families202 \
  --house_dir data/train_phantom --blur_sigmas_px --set int8=false precision=fp32 \
  --out training_state/s36/generalization_member0.md
echo "scored member0: $(date)"
