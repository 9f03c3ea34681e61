#!/bin/bash
# Session 27: `run evaluating` (configs/inference.yaml, the default runtime) on 4 of the house phantom's test oocytes
# (96 frames of 400 x 400 x 31; DATASET: a folder exp1/oocyte0N.tif linking to them), the 0.17-um shipped weights against a 0.34-um model (crop 176 = the same 60-um
# field), interleaved twice; wall time per run. Run from the project root on a quiet machine.
# usage: bash training_state/grid27/speed.sh MODEL_0.34um.pt DATASET
for round in 1 2; do
  for model in bundle/models/model.pt "$1"; do
    extra=""; [ "$model" != bundle/models/model.pt ] && extra="--crop_size [176,176,-1]"
    out=/tmp/speed27_${round}_$(basename $(dirname $model)); rm -rf $out
    start=$(date +%s.%N)
    .venv/bin/python -m monai.bundle run evaluating --config_file bundle/configs/inference.yaml \
      --dataset_dir $2 \
      --output_dir $out --model_path $model --progress_bar false $extra > $out.log 2>&1 || { tail -5 $out.log; exit 1; }
    end=$(date +%s.%N)
    frames=$(($(wc -l < $out/volumes.csv) - 1))
    echo "round $round $model: $frames frames in $(echo "$end - $start" | bc) s"
  done
done
