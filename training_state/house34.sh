#!/bin/bash
# Session 27: the shipped model's own recipe (0.4.13 = session 15's control run: house phantom, 55 sparse training
# frames, patch mode, lr 1e-4, 12 epochs of 50 steps) from the 0.4.13 weights, with the network at 0.34-um pixels
# (train.yaml network_pixel_size_um): a quarter of the FLOPs per crop, the route to the AVX2 speed target (issue 20).
# Run from the project root.
exec .venv/bin/python -m monai.bundle run training --config_file bundle/configs/train.yaml \
  --logging_file bundle/configs/logging.conf --dataset_dir data/train_phantom \
  --datalist_file data/train_phantom/datalist.json --init_weights bundle/models/model.pt \
  --network_pixel_size_um 0.34 --lr 1e-4 --patch_mode true --patch_size '[192,192,32]' --batch_size 2 \
  --epochs 12 --epoch_length 50 --val_interval 2 --validate_at_start true --early_stop_patience 12 \
  --progress_bar False --seed 15 --ckpt_dir data/house34 --output_dir data/house34/runs
