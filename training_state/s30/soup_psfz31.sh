#!/bin/bash
# Session 30: the uniform model soup (Wortsman et al., ICML 2022: weights of runs fine-tuned from one start with
# different seeds, averaged) of psfz31's three seed replicates (seeds 29, 131, 231; same start, data and steps),
# scored like each of them. Averaging weights of replicates is the cheap answer to the run-to-run spread the
# replicates showed. Run from the project root after psfz31_seed131.sh and psfz31_seed231.sh and their evals.
set -e
S=training_state/s30
OUT=data/psfz31_soup3
mkdir -p $OUT
.venv/bin/python benchmarks/interpolate_weights.py data/psfz31_last/model.pt data/psfz31_seed131_last/model.pt \
  --alpha 0.5 --out $OUT/half.pt
.venv/bin/python benchmarks/interpolate_weights.py $OUT/half.pt data/psfz31_seed231_last/model.pt \
  --alpha 0.333333 --out $OUT/model.pt
rm $OUT/half.pt
cp data/psfz31_last/provenance.json $OUT/provenance.json   # the runs' network pixel size (0.34 um)
.venv/bin/python benchmarks/real_spindles.py --model_path $OUT/model.pt --out $S/real_psfz31_soup3.md \
  --figure $S/real_masks_psfz31_soup3.png
.venv/bin/python benchmarks/generalization.py --model_path $OUT/model.pt --families_dir data/families202 \
  --house_dir data/train_phantom --no_real --blur_sigmas_px --out $S/generalization_psfz31_soup3_families202.md
