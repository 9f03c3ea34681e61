#!/bin/bash
# Session 28: is the 0.34-um models' shrinking of the real (mitotic, ~10 um) spindles a size prior? The same weights
# told that the network's pixel is 0.34 (as trained), 0.255 or 0.17 um: the spindle then spans 1x, 1.33x or 2x as
# many pixels as in training terms. Run from the project root.
M=${1:-data/grid34_epoch11/model.pt}
TAG=${2:-grid34_epoch11}
for P in 0.34 0.255 0.17; do
  .venv/bin/python benchmarks/real_spindles.py --model_path "$M" --set model_pixel_size_um=$P \
    --out training_state/s28/real_${TAG}_as_${P}.md
done
