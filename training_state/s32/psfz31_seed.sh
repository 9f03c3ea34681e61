#!/bin/bash
# Session 32, issue 15: Session 29's psfz31 recipe (training_state/s29/psfz31.sh: grid34's weights, mixed_psfz31.json,
# 800 steps) with another training seed. --epochs 4 fixes the 800 steps that psfz31 and its seed-131 / 231 replicates
# ran within their 15-min budget (4 epochs in 14.0 min). The time budget is only a guard: a busy machine cut
# seed 331 at 2 epochs under the 25-min default, so run_confirm6b.sh sets BUDGET_MIN=60.
# usage from the project root: bash training_state/s32/psfz31_seed.sh SEED [MORE TRAIN.YAML SETTINGS, e.g. --resume_from ...]
# (weights in data/psfz31_seedSEED)
SEED=$1
cd bundle && exec ../.venv/bin/python -m monai.bundle run training --config_file configs/train.yaml \
  --logging_file configs/logging.conf --dataset_dir ../data --datalist_file ../data/mixed_psfz31.json \
  --init_weights ../data/grid34_epoch11/model.pt --network_pixel_size_um 0.34 --lr 1e-4 --patch_mode true \
  --patch_size '[192,192,32]' --batch_size 2 --epochs 4 --epoch_length 200 --val_interval 1 \
  --validate_at_start false --early_stop_patience 40 --lr_patience 100 --progress_bar False --seed $SEED \
  --weight_average_decay 0.99 --cache_rate 0.6 --ckpt_dir ../data/psfz31_seed$SEED \
  --output_dir ../data/psfz31_seed$SEED/runs --time_budget_min ${BUDGET_MIN:-25} "${@:2}"
