#!/bin/bash
# Session 29: is it the axial blur? finez29's experiment again (grid34's weights and recipe, 800 steps, 15 min, the
# mixed data plus 128 frames of oocyte-sized fine-z scenes) with the fine-z scenes' axial PSF sigma drawn from
# 0.3-0.8 um, a confocal's, instead of the `train` family's 0.7-3.0 um (a light-sheet's). Compare with finez29 on
# the real stacks (confocal, 0.3-0.75-um z steps). Run from the project root.
set -e
cd bundle
if [ ! -f ../data/rand_psfz31/datalist_dense.json ]; then
  ../.venv/bin/python -m scripts.randomized --out ../data/rand_psfz31 --families train --experiments 2 --oocytes 16 \
    --frames 4 --seed 31 --workers 2 --spacing_xy 0.17 0.17 --spacing_z 0.3 1.0 --size 352 352 40 \
    --look_range psf_z_um 0.3 0.8
  ../.venv/bin/python -m scripts.datalist --dataset_dir ../data/rand_psfz31 --dense_labels_dir ground_truth_masks \
    --val_fraction 0.1 --seed 31 --out ../data/rand_psfz31/datalist_dense.json
  ../.venv/bin/python -m scripts.datalist --merge ../data/mixed_looks22.json ../data/rand_psfz31/datalist_dense.json \
    --out ../data/mixed_psfz31.json
fi
exec ../.venv/bin/python -m monai.bundle run training --config_file configs/train.yaml \
  --logging_file configs/logging.conf --dataset_dir ../data --datalist_file ../data/mixed_psfz31.json \
  --init_weights ../data/grid34_epoch11/model.pt --network_pixel_size_um 0.34 --lr 1e-4 --patch_mode true \
  --patch_size '[192,192,32]' --batch_size 2 --epochs 40 --epoch_length 200 --val_interval 1 \
  --validate_at_start false --early_stop_patience 40 --lr_patience 100 --progress_bar False --seed 29 \
  --weight_average_decay 0.99 --cache_rate 0.6 --ckpt_dir ../data/psfz31 --output_dir ../data/psfz31/runs \
  --time_budget_min ${BUDGET_MIN:-15}
