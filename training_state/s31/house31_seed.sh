#!/bin/bash
# Session 31, issue 15: Session 30's house31 run (training_state/s30/house31.sh: psfz31's command on
# mixed_house31.json, 42 % house frames; seed 29) with another training seed, for a three-seed ensemble of that
# recipe. --epochs 4 fixes its 800 steps (house31 ran 4 epochs in 14.5 of its 15 budget minutes; the plateau
# scheduler does not depend on the epoch count: cand34's 3- and 4-epoch runs logged the same first 3 epochs).
# usage from the project root: bash training_state/s31/house31_seed.sh SEED [MORE TRAIN.YAML SETTINGS, e.g. --resume_from ...]
# (weights in data/house31_seedSEED)
SEED=$1
cd bundle && exec ../.venv/bin/python -m monai.bundle run training --config_file configs/train.yaml \
  --logging_file configs/logging.conf --dataset_dir ../data --datalist_file ../data/mixed_house31.json \
  --init_weights ../data/grid34_epoch11/model.pt --network_pixel_size_um 0.34 --lr 1e-4 --patch_mode true \
  --patch_size '[192,192,32]' --batch_size 2 --epochs 4 --epoch_length 200 --val_interval 1 \
  --validate_at_start false --early_stop_patience 40 --lr_patience 100 --progress_bar False --seed $SEED \
  --weight_average_decay 0.99 --cache_rate 0.5 --ckpt_dir ../data/house31_seed$SEED \
  --output_dir ../data/house31_seed$SEED/runs --time_budget_min ${BUDGET_MIN:-25} "${@:2}"
