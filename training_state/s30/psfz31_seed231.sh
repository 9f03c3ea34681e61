#!/bin/bash
# Session 30, issue 15: how far does the choice of run alone move the real stacks? Session 29's psfz31 run again,
# byte for byte the same command (training_state/s29/psfz31.sh: grid34's weights, mixed_psfz31.json, 800 steps,
# 15-min budget) except the training seed (231 instead of 29, a second replicate beside psfz31_seed131.sh: the crop / patch draws, augmentations and batch order).
# Its last weight average is scored like psfz31's (eval_psfz31_seed231.sh). Run from the project root.
cd bundle && exec ../.venv/bin/python -m monai.bundle run training --config_file configs/train.yaml \
  --logging_file configs/logging.conf --dataset_dir ../data --datalist_file ../data/mixed_psfz31.json \
  --init_weights ../data/grid34_epoch11/model.pt --network_pixel_size_um 0.34 --lr 1e-4 --patch_mode true \
  --patch_size '[192,192,32]' --batch_size 2 --epochs 40 --epoch_length 200 --val_interval 1 \
  --validate_at_start false --early_stop_patience 40 --lr_patience 100 --progress_bar False --seed 231 \
  --weight_average_decay 0.99 --cache_rate 0.6 --ckpt_dir ../data/psfz31_seed231 \
  --output_dir ../data/psfz31_seed231/runs --time_budget_min ${BUDGET_MIN:-15}
