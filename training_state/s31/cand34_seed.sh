#!/bin/bash
# Session 31, issue 15: the candidate 0.5.0 recipe compared on three seeds, as Session 30 advised. psfz31's command
# (grid34's weights, 800 patch steps, lr 1e-4, last weight average scored) on psfz32's data
# (mixed_psfz32.json: 1120 frames, 37 % of them house, +128 confocal fine-z frames) instead of mixed_psfz31.json
# (794 frames, 26 % house). Seeds 29 / 131 / 231 match psfz31's three replicates (s29/psfz31.sh,
# s30/psfz31_seed131.sh, s30/psfz31_seed231.sh), so the two recipes are compared 3 against 3.
# 4 epochs of 200 steps are fixed: psfz31's 15-min budget ends this larger datalist after 3 (the first try of
# seed 29 did). Needs data/mixed_psfz32.json (training_state/s30/psfz32.sh builds it).
# usage from the project root: bash training_state/s31/cand34_seed.sh SEED   (weights in data/cand34_seedSEED)
SEED=$1
cd bundle && exec ../.venv/bin/python -m monai.bundle run training --config_file configs/train.yaml \
  --logging_file configs/logging.conf --dataset_dir ../data --datalist_file ../data/mixed_psfz32.json \
  --init_weights ../data/grid34_epoch11/model.pt --network_pixel_size_um 0.34 --lr 1e-4 --patch_mode true \
  --patch_size '[192,192,32]' --batch_size 2 --epochs 4 --epoch_length 200 --val_interval 1 \
  --validate_at_start false --early_stop_patience 40 --lr_patience 100 --progress_bar False --seed $SEED \
  --weight_average_decay 0.99 --cache_rate 0.45 --ckpt_dir ../data/cand34_seed$SEED \
  --output_dir ../data/cand34_seed$SEED/runs --time_budget_min ${BUDGET_MIN:-25}
