#!/bin/bash
# Session 30, issue 15: do more house frames alone hold the house test? psfz31's command (grid34's weights, 800
# steps, 15-min budget, seed 29; training_state/s29/psfz31.sh) on mixed_psfz31.json plus the other half of the
# house training frames (mixed_house31.json: 1003 training frames, 418 house = 42 %, against 209 of 794 = 26 %).
# Compare with psfz31's three seeds (house test 0.913-0.920). Run from the project root.
set -e
cd bundle
if [ ! -f ../data/mixed_house31.json ]; then
  ../.venv/bin/python ../training_state/s30/add_house_half.py ../data/mixed_psfz31.json ../data/mixed_house31.json
fi
exec ../.venv/bin/python -m monai.bundle run training --config_file configs/train.yaml \
  --logging_file configs/logging.conf --dataset_dir ../data --datalist_file ../data/mixed_house31.json \
  --init_weights ../data/grid34_epoch11/model.pt --network_pixel_size_um 0.34 --lr 1e-4 --patch_mode true \
  --patch_size '[192,192,32]' --batch_size 2 --epochs 40 --epoch_length 200 --val_interval 1 \
  --validate_at_start false --early_stop_patience 40 --lr_patience 100 --progress_bar False --seed 29 \
  --weight_average_decay 0.99 --cache_rate 0.5 --ckpt_dir ../data/house31 --output_dir ../data/house31/runs \
  --time_budget_min ${BUDGET_MIN:-15}
