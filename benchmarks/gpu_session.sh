#!/usr/bin/env bash
# One lent GPU session's work, as one prepared command (a lease is minutes: no step may need a second call).
#
#   benchmarks/gpu_session.sh smoke|full|train|evaluate OUT_DIR [DEADLINE_S]
#
# From the repository root. Stages, each logged (into logs.tgz) and allowed to fail without stopping the next:
#  1. the training data, generated on the machine's cores in the background (data/ never travels): the
#     randomized training families (rand_train, rand_small) and the house phantom, as in training_state/README.md
#     (session 6), and benchmarks/gpu.py's full-size phantom oocyte;
#  2. meanwhile benchmarks/gpu.py's forward and training-step rows (issue 20);
#  3. then its end-to-end evaluating rows (frames/s, GPU memory, fp16 masks against fp32), still beside the data
#     generation (the table notes the load);
#  4. a from-scratch training run with instance normalisation (issue 15: the network underfits the randomized
#     frames, training_state/README.md), patch mode, fp16 AMP, ended by --time_budget_min so that the script
#     ends by DEADLINE_S (seconds after the packages are installed); its best weights, resumable checkpoint and
#     log are returned (below).
# `smoke` does every stage on tiny data in about a minute, to find what breaks before the real run; `train` is
# `full` without stages 2 and 3 (the GPU rows, recorded once in training_state/gpu_h200_*.md): every second of
# the lease goes to the training run. `evaluate` is stage 3 alone plus the multi-process evaluating rows
# (benchmarks/gpu.py: 24 links to the full-size oocyte, 5 frames each, evaluated by 1, 4, 8 and 12 processes sharing
# the GPU; ~6 min), for issue 20's 50 frames/s. Every stage has run on an H200 (2026-12-04), so a lease can skip
# `smoke` (the multi-process rows have run on the CPU only: `smoke` runs them on tiny data).
# OUT_DIR gets few files (the device tool returns at most 8): logs.tgz (every log and table, refreshed after each
# stage), model.pt (run 13's best weights) and checkpoint.pt.part-* (its resumable checkpoint, in 15 MB parts:
# `cat checkpoint.pt.part-* > checkpoint.pt`). The work itself happens in data/gpu_session/.
# Python packages the machine lacks are installed from ./.whl when that folder exists (the device tool's way).
# TRAIN_SETTINGS (environment) adds train.yaml settings to stage 4, after the defaults, e.g. the half-width network
# for slow CPUs (issue 20): TRAIN_SETTINGS='--filters [4,8,16,32,64]' (evaluate its weights with the same setting).
# It deletes and rewrites data/rand_train, data/rand_small and data/train_phantom: meant for the lent machine, whose
# data/ starts empty; run elsewhere, it regenerates those folders with the commands of training_state/README.md.
set -u
MODE=${1:?smoke, full, train or evaluate}
OUT_DIR=${2:?output folder}
DEADLINE_S=${3:-500}  # the training's budget is what is left of this after the data, less ~110 s for its start
REPO=$(pwd)
PY=${PYTHON:-python3}
mkdir -p "$OUT_DIR"
WORK=$REPO/data/gpu_session
# a warm machine keeps ignored folders from the previous call (the smoke run's tiny data): start clean
rm -rf data/rand_train data/rand_small data/train_phantom data/mixed_gpu.json data/run13 "$WORK"
mkdir -p "$WORK"
exec > >(tee -a "$WORK/session.log") 2>&1
pack() { tar czf "$OUT_DIR/logs.tgz" -C "$WORK" --exclude='*.pt' . 2>/dev/null; }
export PYTHONUNBUFFERED=1
if [ -d .whl ]; then
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    > "$WORK/pip.log" 2>&1 || echo "pip install failed: see pip.log"
  export PYTHONPATH=/tmp/site:$REPO/bundle
else
  export PYTHONPATH=$REPO/bundle${PYTHONPATH:+:$PYTHONPATH}
fi
START=$(date +%s)
stamp() { echo "[$(( $(date +%s) - START )) s] $*"; }
nvidia-smi > "$WORK/nvidia-smi.txt" 2>&1
$PY -c "import torch, monai, ignite; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'monai', monai.__version__)"

if [ "$MODE" = smoke ]; then
  RT="--experiments 1 --oocytes 3 --frames 3"; RS="--experiments 1 --oocytes 3 --frames 3"
  PH="--experiments 1 --oocytes 3 --frames 6"; W1=2; W2=1; W3=1
  TRAIN="--epoch_length 3 --epochs 2 --batch_size 2 --patch_samples 2 --num_workers 2"
  GPU_ARGS="--quick"; BENCH_FRAMES=4; BENCH_SHAPE="(160, 160, 31)"; EVAL_SKIP="forward training"; EVAL_TIMEOUT=150
else
  # rand_train: 96 looks of 4 frames rather than 32 of 12 (same frames, same time): many looks raised the held-out
  # families on the CPU (Session 22, docs/README.md "Generalization", run looks22)
  RT="--experiments 8 --oocytes 12 --frames 4"; RS="--experiments 4 --oocytes 4 --frames 10"
  PH="--experiments 6 --oocytes 4 --frames 24"; W1=10; W2=4; W3=3
  TRAIN="--epoch_length 150 --epochs 200 --batch_size 4 --patch_samples 2 --num_workers 14"
  GPU_ARGS="--frames 40"; BENCH_FRAMES=40; BENCH_SHAPE="(750, 750, 31)"; EVAL_SKIP="forward training multiprocess"
  EVAL_TIMEOUT=150
  if [ "$MODE" = evaluate ]; then EVAL_SKIP="forward training"; EVAL_TIMEOUT=480; fi
fi

stamp "stage 1: data (background)"
export OMP_NUM_THREADS=1
mkdir -p data
GEN1=""; GEN2=""; GEN3=""
if [ "$MODE" != evaluate ]; then
$PY -m scripts.randomized --out data/rand_train --families train $RT --seed 11 --workers $W1 \
  > "$WORK/gen_rand_train.log" 2>&1 &
GEN1=$!
$PY -m scripts.randomized --out data/rand_small --families train $RS --seed 12 --workers $W2 --spacing_xy 0.12 0.3 \
  --spacing_z 0.3 1.0 --size_factor 0.3 0.6 --small_cells > "$WORK/gen_rand_small.log" 2>&1 &
GEN2=$!
$PY -m scripts.phantom --out data/train_phantom $PH --size 400 400 31 --seed 1 --true-masks --workers $W3 \
  > "$WORK/gen_train_phantom.log" 2>&1 &
GEN3=$!
fi
if [ "$MODE" != train ]; then
  $PY -c "import sys; from pathlib import Path; sys.path.insert(0, 'benchmarks'); import pipeline
pipeline.ensure_phantom(Path('data/bench').resolve(), $BENCH_FRAMES, $BENCH_SHAPE)" > "$WORK/gen_bench.log" 2>&1 &
  GEN4=$!
fi
unset OMP_NUM_THREADS

if [ "$MODE" = smoke ] || [ "$MODE" = full ]; then
  stamp "stage 2: forward and training-step rows"
  timeout 240 $PY benchmarks/gpu.py --skip evaluating multiprocess --out "$WORK/gpu_forward_training.md" \
    > "$WORK/gpu_forward_training.log" 2>&1 || stamp "stage 2 failed: see gpu_forward_training.log"
  pack
  # while the training data is still being written (the table notes the load): each Python start costs ~20 s on
  # that machine, so the evaluating rows go here rather than after the training
fi
if [ "$MODE" != train ]; then
  wait $GEN4
  stamp "stage 3: evaluating rows (skipping $EVAL_SKIP)"
  timeout $EVAL_TIMEOUT $PY benchmarks/gpu.py --skip $EVAL_SKIP $GPU_ARGS --cache_dir data/bench \
    --out "$WORK/gpu_evaluating.md" > "$WORK/gpu_evaluating.log" 2>&1 || stamp "stage 3 failed: see gpu_evaluating.log"
  pack
fi

if [ "$MODE" = evaluate ]; then
  stamp "done"
  exit 0
fi
wait $GEN1 $GEN2 $GEN3
stamp "data written"; du -sh data/* 2>/dev/null
# explicit pids: a bare `wait` also waits for the `tee` of the log above, which never ends (this hung the
# 2026-12-04 session's run until its time was spent)
LIST_PIDS=""
for d in rand_train rand_small train_phantom; do
  $PY -m scripts.datalist --dataset_dir data/$d --dense_labels_dir ground_truth_masks \
    --out data/$d/datalist_dense.json > "$WORK/datalist_$d.log" 2>&1 &
  LIST_PIDS="$LIST_PIDS $!"
done
wait $LIST_PIDS || stamp "a datalist failed: see datalist_*.log"
$PY -m scripts.datalist --merge data/train_phantom/datalist_dense.json:2 data/rand_train/datalist_dense.json \
  data/rand_small/datalist_dense.json --out data/mixed_gpu.json > "$WORK/datalist_merge.log" 2>&1 \
  || stamp "datalist merge failed"

NOW=$(( $(date +%s) - START ))
TRAIN_MIN=$(python3 -c "print(round(max(0.5, ($DEADLINE_S - $NOW - 110) / 60), 2))")
read -r -a TRAIN_EXTRA <<< "${TRAIN_SETTINGS:-}"  # split on spaces, never globbed ([4,8,...] is a glob pattern)
stamp "stage 4: training run 13 (instance norm, from scratch, ${TRAIN_MIN} min)"
mkdir -p "$WORK/run13"
timeout $(( DEADLINE_S - NOW > 120 ? DEADLINE_S - NOW : 120 )) $PY -m monai.bundle run training --config_file bundle/configs/train.yaml \
  --logging_file bundle/configs/logging.conf --dataset_dir data --datalist_file data/mixed_gpu.json \
  --norm instance --affine_scale_range 0.5 --affine_prob 0.5 --patch_mode true --patch_size '[192,192,32]' $TRAIN --lr 1e-3 --lr_patience 3 --val_interval 1 \
  --early_stop_patience 15 --time_budget_min "$TRAIN_MIN" --progress_bar False --seed 13 "${TRAIN_EXTRA[@]}" \
  --ckpt_dir "$WORK/run13" --output_dir data/run13/runs > "$WORK/run13/train.log" 2>&1 \
  || stamp "stage 4 failed or timed out: see run13/train.log"
[ -f "$WORK/run13/model.pt" ] && cp "$WORK/run13/model.pt" "$OUT_DIR/model.pt"
[ -f "$WORK/run13/checkpoint.pt" ] && split -b 15M "$WORK/run13/checkpoint.pt" "$OUT_DIR/checkpoint.pt.part-"
pack
stamp "done"
