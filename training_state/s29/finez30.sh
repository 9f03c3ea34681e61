#!/bin/bash
# Session 29: finez29 continued longer, with twice the fine-z scenes. Starts from finez29's last weight average
# (grid34 + 800 steps) on mixed_finez30.json = mixed_finez29.json + data/rand_finez30 (256 more oocyte-sized frames
# sampled every 0.3-1.0 um in z, seed 30), so a third of the training frames have near-cubic voxels like the real
# stacks. 45-minute budget; the cache holds 45 % of the frames (24 GiB). Run from the project root.
cd bundle && exec ../.venv/bin/python -m monai.bundle run training --config_file configs/train.yaml \
  --logging_file configs/logging.conf --dataset_dir ../data --datalist_file ../data/mixed_finez30.json \
  --init_weights ../data/finez29_last/model.pt --network_pixel_size_um 0.34 --lr 1e-4 --patch_mode true \
  --patch_size '[192,192,32]' --batch_size 2 --epochs 40 --epoch_length 200 --val_interval 1 \
  --validate_at_start true --early_stop_patience 40 --lr_patience 100 --progress_bar False --seed 30 \
  --weight_average_decay 0.99 --cache_rate 0.45 --ckpt_dir ../data/finez30 --output_dir ../data/finez30/runs \
  --time_budget_min ${BUDGET_MIN:-45}
