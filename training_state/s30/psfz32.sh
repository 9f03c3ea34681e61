#!/bin/bash
# Session 30, issue 15: psfz31 (fine-z oocyte scenes with a confocal's axial PSF, 0.3-0.8 um) trained as long as
# finez30 was (45-min budget, ~2200 steps), with twice the confocal fine-z scenes and twice the house frames.
# Starts from psfz31's last weight average (data/psfz31_last: grid34 + 800 steps). Data: mixed_psfz31.json
# (794 training frames, 209 of them house) + data/rand_psfz32 (128 more frames, the psfz31 command with seed 32)
# + the other half of the house training frames (mixed_looks22 keeps every second one), so the house phantom is
# ~37 % of the training frames instead of 26 %: every 0.34-um run on mixed data lost the house test (0.913-0.919
# against 0.4.13's 0.931). Validation: mixed_psfz31's 29 frames + rand_psfz32's. Run from the project root.
set -e
cd bundle
if [ ! -f ../data/rand_psfz32/datalist_dense.json ]; then
  ../.venv/bin/python -m scripts.randomized --out ../data/rand_psfz32 --families train --experiments 2 --oocytes 16 \
    --frames 4 --seed 32 --workers 2 --spacing_xy 0.17 0.17 --spacing_z 0.3 1.0 --size 352 352 40 \
    --look_range psf_z_um 0.3 0.8
  ../.venv/bin/python -m scripts.datalist --dataset_dir ../data/rand_psfz32 --dense_labels_dir ground_truth_masks \
    --val_fraction 0.1 --seed 32 --out ../data/rand_psfz32/datalist_dense.json
fi
if [ ! -f ../data/mixed_psfz32.json ]; then
  ../.venv/bin/python -m scripts.datalist --merge ../data/mixed_psfz31.json ../data/rand_psfz32/datalist_dense.json \
    --out ../data/mixed_psfz32.json
  ../.venv/bin/python ../training_state/s30/add_house_half.py ../data/mixed_psfz32.json ../data/mixed_psfz32.json
fi
exec ../.venv/bin/python -m monai.bundle run training --config_file configs/train.yaml \
  --logging_file configs/logging.conf --dataset_dir ../data --datalist_file ../data/mixed_psfz32.json \
  --init_weights ../data/psfz31_last/model.pt --network_pixel_size_um 0.34 --lr 1e-4 --patch_mode true \
  --patch_size '[192,192,32]' --batch_size 2 --epochs 40 --epoch_length 200 --val_interval 1 \
  --validate_at_start true --early_stop_patience 40 --lr_patience 100 --progress_bar False --seed 32 \
  --weight_average_decay 0.99 --cache_rate 0.45 --ckpt_dir ../data/psfz32 --output_dir ../data/psfz32/runs \
  --time_budget_min ${BUDGET_MIN:-45}
