#!/bin/bash
# Session 35, issue 15: do more frames without a spindle in training lower the false volumes before GVBD?
# A controlled pair of fine-tunes of member 0 of the shipped ensemble (data/member0: psfz31, seed 331; member0.py),
# identical but for the GVBD frames of the randomized oocytes: the same scenes (scripts.randomized seed 35, train
# family only, 2 x 6 oocytes x 12 frames) with the default GVBD draw (frame 1-3: ~15 % of frames empty) or
# `--gvbd_frame 3 8` (~45 % empty), each merged with every third house training frame; 400 patch steps (8 x 50,
# the shipped members' recipe otherwise: 0.34-um network pixels, 192 x 192 x 32 patches, lr 1e-4, weight average
# 0.99), one run at a time on this EPYC. Each run's last weight average is scored on families202 (its pre-GVBD
# frames: the largest false volume), the house test and the real stacks, in f32, beside member 0 untouched.
# Run from the project root: nohup bash training_state/s35/neg35.sh > training_state/s35/neg35.log 2>&1 &
set -e
cd "$(dirname "$0")/../.."
S=training_state/s35
[ -f data/member0/model.pt ] || .venv/bin/python $S/member0.py data/member0
cd bundle
for ARM in default late; do
  case $ARM in default) GVBD=();; late) GVBD=(--gvbd_frame 3 8);; esac
  if [ ! -f ../data/neg35_$ARM/datalist_dense.json ]; then
    ../.venv/bin/python -m scripts.randomized --out ../data/neg35_$ARM --families train --experiments 2 --oocytes 6 \
      --frames 12 --seed 35 --workers 2 "${GVBD[@]}"
    ../.venv/bin/python -m scripts.datalist --dataset_dir ../data/neg35_$ARM --dense_labels_dir ground_truth_masks \
      --val_fraction 0.1 --seed 35 --out ../data/neg35_$ARM/datalist_dense.json
    ../.venv/bin/python -m scripts.datalist --merge ../data/train_phantom/datalist_dense.json:3 \
      ../data/neg35_$ARM/datalist_dense.json --out ../data/neg35_$ARM.json
  fi
  echo "$ARM: $(grep -c . ../data/neg35_$ARM/gvbd.csv) gvbd rows; $(date)"
done
for ARM in default late; do
  ../.venv/bin/python -m monai.bundle run training --config_file configs/train.yaml \
    --logging_file configs/logging.conf --dataset_dir ../data --datalist_file ../data/neg35_$ARM.json \
    --init_weights ../data/member0/model.pt --network_pixel_size_um 0.34 --lr 1e-4 --patch_mode true \
    --patch_size '[192,192,32]' --batch_size 2 --epochs 8 --epoch_length 50 --val_interval 1 \
    --validate_at_start false --early_stop_patience 40 --lr_patience 100 --progress_bar False --seed 35 \
    --weight_average_decay 0.99 --cache_rate 0.6 --ckpt_dir ../data/neg35_${ARM}_run \
    --output_dir ../data/neg35_${ARM}_run/runs --time_budget_min 22 > ../$S/train_neg35_$ARM.log 2>&1
  ../.venv/bin/python ../training_state/grid27/ema_weights.py ../data/neg35_${ARM}_run/checkpoint.pt ../data/neg35_${ARM}_last
  echo "trained $ARM: $(date)"
done
cd ..
for NAME in neg35_late_last neg35_default_last member0; do
  .venv/bin/python benchmarks/generalization.py --model_path data/$NAME/model.pt --families_dir data/families202 \
    --house_dir data/train_phantom --blur_sigmas_px --set int8=false --out $S/generalization_$NAME.md
  echo "scored $NAME: $(date)"
done
