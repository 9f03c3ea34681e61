#!/bin/bash
# Session 28: does a wider scale augmentation stop the 0.34-um network from shrinking the real (~10 um) spindles?
# grid34's weights and recipe (mixed_looks22.json, no new scenes), with RandAffined scaling x-y by 0.85-2.0
# (MONAI: a scale of 2 halves the content, so spindles down to half an oocyte's size in network pixels) on half
# the crops, instead of 0.85-1.15 on a fifth. Run from the project root.
cd bundle && exec ../.venv/bin/python -m monai.bundle run training --config_file configs/train.yaml \
  --logging_file configs/logging.conf --dataset_dir ../data --datalist_file ../data/mixed_looks22.json \
  --init_weights ../data/grid34_epoch11/model.pt --network_pixel_size_um 0.34 --lr 1e-4 --patch_mode true \
  --patch_size '[192,192,32]' --batch_size 2 --epochs 40 --epoch_length 200 --val_interval 1 \
  --validate_at_start false --early_stop_patience 40 --lr_patience 100 --progress_bar False --seed 28 \
  --affine_scale_range '[-0.15,1.0]' --affine_prob 0.5 \
  --weight_average_decay 0.99 --ckpt_dir ../data/scale34 --output_dir ../data/scale34/runs \
  --time_budget_min ${BUDGET_MIN:-20}
