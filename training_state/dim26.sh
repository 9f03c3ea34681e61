#!/usr/bin/env bash
# Session 26, run dim26 (issue 15): does a dimmer photon budget in the training looks help heldout_camera?
# The control is all25 (Session 25: looks22's weights + the same 700 steps on mixed_looks22.json).
# Run from the project root; log training_state/dim26_data.log and train_dim26_from_looks22.log.
set -ex
date
cd bundle
# (--cache_rate 0.7: all 911 frames cached took more than the VM's 24 GB, OOM-killed while caching; 0.7 caches
# 638, below all25's 677; the rest, the dim frames at the list's end, are read from disk at every draw.)
if [ "${1:-}" != "--train_only" ]; then
../.venv/bin/python -m scripts.randomized --out ../data/rand_dim26 --families train --experiments 4 --oocytes 16 \
  --frames 4 --seed 26 --workers 2 --look_range photons_e 0.3 4 --look_range read_noise_e 0.05 2
../.venv/bin/python -m scripts.datalist --dataset_dir ../data/rand_dim26 --dense_labels_dir ground_truth_masks \
  --out ../data/rand_dim26/datalist_dense.json --val_fraction 0.1 --seed 26
# mixed_looks22's lists unchanged (the same validation frames as all25) + every dim training frame
../.venv/bin/python - <<'PY'
import json
mixed = json.load(open("../data/mixed_looks22.json"))
dim = json.load(open("../data/rand_dim26/datalist_dense.json"))
for item in dim["training"]:
    item["image"], item["label"] = "rand_dim26/" + item["image"], "rand_dim26/" + item["label"]
mixed["training"] = mixed["training"] + dim["training"]
mixed["merged_from"].append({"datalist": "rand_dim26/datalist_dense.json", "training_every": 1, "lists": "training"})
json.dump(mixed, open("../data/mixed_dim26.json", "w"), indent=1)
print(f"mixed_dim26.json: {len(mixed['training'])} training ({len(dim['training'])} dim), "
      f"{len(mixed['validation'])} validation")
PY
fi
date
../.venv/bin/python -m monai.bundle run training --config_file configs/train.yaml --logging_file configs/logging.conf \
  --dataset_dir ../data --datalist_file ../data/mixed_dim26.json --init_weights ../training_state/looks22/model.pt \
  --lr 5e-5 --patch_mode true --patch_size '[192,192,32]' --batch_size 2 --epochs 7 --epoch_length 100 \
  --val_interval 1 --validate_at_start true --early_stop_patience 40 --lr_patience 100 --progress_bar False \
  --seed 24 --weight_average_decay 0.99 --dice_loss_share 0.5 --ckpt_dir ../data/dim26 --output_dir ../data/dim26/runs \
  --time_budget_min 60 --cache_rate 0.7 > ../training_state/train_dim26_from_looks22.log 2>&1
date
