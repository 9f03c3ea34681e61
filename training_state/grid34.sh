#!/bin/bash
# Session 27: all25's recipe with the network at 0.34-um pixels (train.yaml network_pixel_size_um): the 192 x 192 x 32
# patches of the 0.17-um files reach the network as 96 x 96 x 32, a quarter of the FLOPs per step. From all25's
# weights (trained at 0.17 um), lr 1e-4, 200 steps per epoch, 50-minute budget. Run from the project root.
cd bundle && exec ../.venv/bin/python -m monai.bundle run training --config_file configs/train.yaml \
  --logging_file configs/logging.conf --dataset_dir ../data --datalist_file ../data/mixed_looks22.json \
  --init_weights ../data/all25/model.pt --network_pixel_size_um 0.34 --lr 1e-4 --patch_mode true \
  --patch_size '[192,192,32]' --batch_size 2 --epochs 40 --epoch_length 200 --val_interval 1 \
  --validate_at_start true --early_stop_patience 40 --lr_patience 100 --progress_bar False --seed 27 \
  --weight_average_decay 0.99 --ckpt_dir ../data/grid34 --output_dir ../data/grid34/runs --time_budget_min 50
