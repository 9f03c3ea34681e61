#!/usr/bin/env bash
# Session 26: is the x-y ring of false positives set by the look's x-y blur? The `train` family's ranges with the x-y
# blur pinned sharp or blurry (--look_range), the same seed and scenes; looks22 and 0.4.13 scored on both.
# Run from the project root; log training_state/blur_sets26.log.
set -x
cd bundle
../.venv/bin/python -m scripts.randomized --out ../data/xy_sharp26 --families train --experiments 2 --oocytes 3 --frames 10 \
  --seed 202 --workers 2 --look_range psf_xy_um 0.15 0.2 --look_range xy_lowres 1.0 1.1
../.venv/bin/python -m scripts.randomized --out ../data/xy_blurry26 --families train --experiments 2 --oocytes 3 --frames 10 \
  --seed 202 --workers 2 --look_range psf_xy_um 0.5 0.6 --look_range xy_lowres 2.0 2.5
cd ..
for d in xy_sharp26 xy_blurry26; do
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
