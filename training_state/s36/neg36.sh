#!/bin/bash
# Session 36, issue 15: Session 35's late-GVBD arm (training_state/s35/neg35.sh: member 0 + 400 patch steps on
# randomized seed-35 scenes with `--gvbd_frame 3 8`, about 45 % of frames before GVBD) against the same scenes with
# the distractors that the false pre-GVBD masks lie on made strong (Session 33's pre_gvbd_where: a neighbouring cell
# at the field's edge, a bright cortex, bright aggregates): `--look_range neighbour_probability 1 1 --look_range
# neighbour 1.5 4 --look_range cortex 1 3 --look_range aggregates 2 6` (defaults: half the fields with a neighbour of
# 0.5-2.5, cortex 0-1.5, aggregates 0.5-4). Both arms trained here, in fp32 as on Session 35's EPYC, one after the
# other, and scored like member 0 (training_state/s36/neg35_member0.sh). Run from the project root.
set -e
cd "$(dirname "$0")/../.."
S=training_state/s36
P=$PWD/.venv/bin/python
[ -f data/member0/model.pt ] || $P training_state/s35/member0.py data/member0
[ -f data/train_phantom/datalist_dense.json ] || $P -m scripts.datalist --dataset_dir data/train_phantom \
  --dense_labels_dir ground_truth_masks --out data/train_phantom/datalist_dense.json
for ARM in late distract; do
  case $ARM in
    late) LOOK=();;
    distract) LOOK=(--look_range neighbour_probability 1 1 --look_range neighbour 1.5 4 --look_range cortex 1 3
                    --look_range aggregates 2 6);;
  esac
  if [ ! -f data/neg36_$ARM.json ]; then
    $P -m scripts.randomized --out data/neg36_$ARM --families train --experiments 2 --oocytes 6 --frames 12 \
      --seed 35 --workers 2 --gvbd_frame 3 8 "${LOOK[@]}"
    $P -m scripts.datalist --dataset_dir data/neg36_$ARM --dense_labels_dir ground_truth_masks --val_fraction 0.1 \
      --seed 35 --out data/neg36_$ARM/datalist_dense.json
    $P -m scripts.datalist --merge data/train_phantom/datalist_dense.json:3 data/neg36_$ARM/datalist_dense.json \
      --out data/neg36_$ARM.json
  fi
  echo "data $ARM: $(date)"
done
cd bundle
for ARM in late distract; do
  $P -m monai.bundle run training --config_file configs/train.yaml \
    --logging_file configs/logging.conf --dataset_dir ../data --datalist_file ../data/neg36_$ARM.json \
    --init_weights ../data/member0/model.pt --network_pixel_size_um 0.34 --lr 1e-4 --patch_mode true \
    --patch_size '[192,192,32]' --batch_size 2 --epochs 8 --epoch_length 50 --val_interval 1 \
    --validate_at_start false --early_stop_patience 40 --lr_patience 100 --progress_bar False --seed 35 \
    --weight_average_decay 0.99 --cache_rate 0.6 --precision fp32 --ckpt_dir ../data/neg36_${ARM}_run \
    --output_dir ../data/neg36_${ARM}_run/runs --time_budget_min 22 > ../$S/train_neg36_$ARM.log 2>&1
  $P ../training_state/grid27/ema_weights.py ../data/neg36_${ARM}_run/checkpoint.pt ../data/neg36_${ARM}_last
  echo "trained $ARM: $(date)"
done
cd ..
for ARM in late distract; do
  $P benchmarks/generalization.py --model_path data/neg36_${ARM}_last/model.pt --families_dir data/families202 \
    --house_dir data/train_phantom --blur_sigmas_px --set int8=false precision=fp32 \
    --out $S/generalization_neg36_${ARM}_last.md
  echo "scored $ARM: $(date)"
done
