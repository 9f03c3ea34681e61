#!/bin/bash
# Session 30: psfz32 marks most of width_small's cell (+335 %). That cell is ~12 um across, smaller than the smallest
# oocyte spindle the network was trained on (0.6 x ~30 um). Is it a size confusion? Session 28's check
# (s28/real_apparent_size.sh): the same weights told that their pixel is 0.255 or 0.17 um instead of 0.34, so each
# real cell and spindle spans 1.33x or 2x as many network pixels. Run from the project root.
M=${1:-data/psfz32_last/model.pt}
TAG=${2:-psfz32_last}
for P in 0.255 0.17; do
  .venv/bin/python benchmarks/real_spindles.py --model_path "$M" --set model_pixel_size_um=$P \
    --out training_state/s30/real_${TAG}_as_${P}.md --figure training_state/s30/real_masks_${TAG}_as_${P}.png
done
