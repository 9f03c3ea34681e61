#!/bin/bash
# Session 27: grid34.sh resumed from its checkpoint after 800 steps (stopped by hand), 25 more minutes: do more steps at 0.34 um help?
cd bundle && exec ../.venv/bin/python -m monai.bundle run training --config_file configs/train.yaml \
  --logging_file configs/logging.conf --dataset_dir ../data --datalist_file ../data/mixed_looks22.json \
  --init_weights ../data/all25/model.pt --network_pixel_size_um 0.34 --lr 1e-4 --patch_mode true \
  --patch_size '[192,192,32]' --batch_size 2 --epochs 40 --epoch_length 200 --val_interval 1 \
  --validate_at_start true --early_stop_patience 40 --lr_patience 100 --progress_bar False --seed 27 \
  --weight_average_decay 0.99 --ckpt_dir ../data/grid34 --output_dir ../data/grid34/runs --time_budget_min 25 --resume_from ../data/grid34/checkpoint.pt
