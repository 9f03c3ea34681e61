#!/usr/bin/env bash
# Session 26: is the over-segmentation on the `train` family set by the haze or by the axial PSF? The `train`
# family with no haze, or with a thin axial PSF (--look_range), the same seed and scenes; looks22 and 0.4.13 scored.
# Run from the project root; log training_state/haze_z_sets26.log.
set -x
cd bundle
../.venv/bin/python -m scripts.randomized --out ../data/nohaze26 --families train --experiments 2 --oocytes 3 --frames 10 \
  --seed 202 --workers 2 --look_range haze 0.0 0.02
../.venv/bin/python -m scripts.randomized --out ../data/thinz26 --families train --experiments 2 --oocytes 3 --frames 10 \
  --seed 202 --workers 2 --look_range psf_z_um 0.7 0.9
cd ..
for d in nohaze26 thinz26; do
  .venv/bin/python - "$d" <<'PY'
import sys
sys.path[:0] = ["benchmarks", "bundle"]
from pathlib import Path
from generalization import run_evaluating
d = sys.argv[1]
for name, model in [("looks22", "training_state/looks22/model.pt"), ("0.4.13", "bundle/models/model.pt")]:
    run_evaluating(Path(f"data/{d}"), Path(f"data/{d}_out_{name}"), Path(model))
PY
  .venv/bin/python training_state/excess_anatomy26.py data/$d looks22 0.4.13
done
date
