#!/bin/bash
# Session 31: what an ensemble costs end to end. `run evaluating` (configs/inference.yaml, the default runtime; the
# crop and pixel size follow each model's provenance.json) on 4 of the house phantom's test oocytes (96 frames of
# 400 x 400 x 31), the given models interleaved twice; wall time per run and frames. Run from the project root on a
# quiet machine.
# usage: bash training_state/s31/speed_ensemble.sh MODEL1.pt MODEL2.pt ...
DATASET=/tmp/speed_ds31/exp1
mkdir -p $DATASET
i=1; for src in exp1/oocyte04 exp2/oocyte04 exp3/oocyte01 exp4/oocyte03; do
  ln -sf "$PWD/data/train_phantom/$src.tif" $DATASET/oocyte0$i.tif; i=$((i + 1)); done
for round in 1 2; do
  for model in "$@"; do
    out=/tmp/speed31_${round}_$(basename $(dirname $model)); rm -rf $out
    start=$(date +%s.%N)
    .venv/bin/python -m monai.bundle run evaluating --config_file bundle/configs/inference.yaml \
      --dataset_dir $(dirname $DATASET) --output_dir $out --model_path $model --progress_bar false > $out.log 2>&1 \
      || { tail -5 $out.log; exit 1; }
    end=$(date +%s.%N)
    frames=$(($(wc -l < $out/volumes.csv) - 1))
    echo "round $round $model: $frames frames in $(echo "$end - $start" | bc) s"
  done
done
