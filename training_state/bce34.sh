#!/bin/bash
# Session 27: grid34.sh (the network at 0.34-um pixels, from all25's weights, lr 1e-4, 200 steps per epoch) with plain
# binary cross-entropy as the loss (focal gamma 0, no soft Dice): the calibrated loss, whose 0.5 threshold should not
# grow the masks where the network is unsure, as soft Dice and focal may. Run from the project root.
cd bundle && exec ../.venv/bin/python -m monai.bundle run training --config_file configs/train.yaml \
  --logging_file configs/logging.conf --dataset_dir ../data --datalist_file ../data/mixed_looks22.json \
  --init_weights ../data/all25/model.pt --network_pixel_size_um 0.34 --lr 1e-4 --dice_loss_share 0 --loss#gamma 0.0 --patch_mode true \
  --patch_size '[192,192,32]' --batch_size 2 --epochs 40 --epoch_length 200 --val_interval 1 \
  --validate_at_start true --early_stop_patience 40 --lr_patience 100 --progress_bar False --seed 27 \
  --weight_average_decay 0.99 --ckpt_dir ../data/bce34 --output_dir ../data/bce34/runs --time_budget_min 30
