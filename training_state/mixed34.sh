#!/bin/bash
# Session 27: the candidate for a 0.34-um shipped model. house34's weights (0.4.13's recipe at 0.34 um: house test
# 0.934, but the real stacks -94 / -52 / -39 %) trained on the mixed data (randomized looks + house, as all25 and
# grid34, which kept the real stacks) at 0.34 um, the shipped loss, lr 1e-4, weight average 0.99, 25-minute budget.
# Run from the project root.
cd bundle && exec ../.venv/bin/python -m monai.bundle run training --config_file configs/train.yaml \
  --logging_file configs/logging.conf --dataset_dir ../data --datalist_file ../data/mixed_looks22.json \
  --init_weights ../data/house34/model.pt --network_pixel_size_um 0.34 --lr 1e-4 --patch_mode true \
  --patch_size '[192,192,32]' --batch_size 2 --epochs 40 --epoch_length 200 --val_interval 1 \
  --validate_at_start true --early_stop_patience 40 --lr_patience 100 --progress_bar False --seed 27 \
  --weight_average_decay 0.99 --ckpt_dir ../data/mixed34 --output_dir ../data/mixed34/runs --time_budget_min 25
