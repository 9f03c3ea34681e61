#!/bin/bash
# Session 34 (issue 20): members 0 and 1 of the shipped ensemble (psfz31 seed 331 + house31 seed 331, one of each
# recipe, the first seed: chosen before anything was scored) as a two-member model, data/pair01
# (member_subset.py), against 0.5.0 on a 2-core AVX2 EPYC. One heavy job at a time:
# 1. the real stacks (real_pair01.md); 2. families202 (generalization_pair01_families202.md); the pair runs f32
#    (the shipped int8 model belongs to the six members); 3. evaluating wall time on the 20 full-size benchmark frames
#    (data/bench), interleaved: 0.5.0 as shipped (int8), 0.5.0 f32 (--int8 false), the pair (f32).
set -e
cd "$(dirname "$0")/../.."
S=training_state/s34
[ -f data/pair01/model.pt ] || .venv/bin/python $S/member_subset.py data/pair01 0 1
.venv/bin/python benchmarks/real_spindles.py --model_path data/pair01/model.pt --out $S/real_pair01.md
.venv/bin/python benchmarks/generalization.py --model_path data/pair01/model.pt --families_dir data/families202 \
  --no_real --blur_sigmas_px --out $S/generalization_pair01_families202.md
EVAL="['bundle/configs/inference.yaml']"
for round in 1 2; do
  for name in shipped shipped_f32 pair01; do
    case $name in
      shipped) extra=();;
      shipped_f32) extra=(--int8 false);;
      pair01) extra=(--model_path data/pair01/model.pt);;
    esac
    rm -rf data/speed_$name
    start=$(date +%s.%N)
    .venv/bin/python -m monai.bundle run evaluating --config_file "$EVAL" --dataset_dir data/bench/phantom_750x750x31_t20 \
      --output_dir data/speed_$name --progress_bar false "${extra[@]}" > $S/speed_$name.log 2>&1
    echo "round $round $name: $(echo "$(date +%s.%N) - $start" | bc) s for 20 frames (load $(cut -d' ' -f1 /proc/loadavg))"
  done
done
