#!/bin/bash
# Session 28: is it the voxel aspect? grid34's weights and recipe on the mixed data plus oocyte-sized randomized
# scenes sampled every 0.3-1.0 um in z (data/rand_finez29: 128 frames of 32 looks, 352 x 352 x 40, the `train`
# ranges and the default geometry), judged on the real stacks (0.3-0.75-um z). 15-minute budget; the cache holds
# 60 % of the frames. Run from the project root.
cd bundle && exec ../.venv/bin/python -m monai.bundle run training --config_file configs/train.yaml \
  --logging_file configs/logging.conf --dataset_dir ../data --datalist_file ../data/mixed_finez29.json \
  --init_weights ../data/grid34_epoch11/model.pt --network_pixel_size_um 0.34 --lr 1e-4 --patch_mode true \
  --patch_size '[192,192,32]' --batch_size 2 --epochs 40 --epoch_length 200 --val_interval 1 \
  --validate_at_start false --early_stop_patience 40 --lr_patience 100 --progress_bar False --seed 29 \
  --weight_average_decay 0.99 --cache_rate 0.6 --ckpt_dir ../data/finez29 --output_dir ../data/finez29/runs \
  --time_budget_min ${BUDGET_MIN:-15}
