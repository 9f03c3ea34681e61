#!/usr/bin/env bash
# Session 26: the house test scenes at axial PSF sigma 0.8 and 2.5 um; looks22 and 0.4.13; excess_anatomy26.py.
# Run from the project root (arguments: the sigmas, default 0.8 2.5); log training_state/house_psf_z26.log. The first
# try ran out of disk at 2.5 (house_psf_z26_first.log); 2.5 was rerun alone after freeing space.
set -x
for z in ${@:-0.8 2.5}; do
  .venv/bin/python training_state/house_psf_z26.py data/house_psfz$z $z
  .venv/bin/python - "data/house_psfz$z" <<'PY'
import sys
sys.path[:0] = ["benchmarks", "bundle"]
from pathlib import Path
from generalization import run_evaluating
d = sys.argv[1]
for name, model in [("looks22", "training_state/looks22/model.pt"), ("0.4.13", "bundle/models/model.pt")]:
    run_evaluating(Path(d), Path(f"{d}_out_{name}"), Path(model))
PY
  .venv/bin/python training_state/excess_anatomy26.py data/house_psfz$z looks22 0.4.13
done
date
