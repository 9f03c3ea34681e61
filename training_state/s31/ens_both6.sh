#!/bin/bash
# Session 31, exploratory (chosen AFTER seeing the two three-seed ensembles, so not a release candidate by the
# rule): the ensemble of all six seeds of psfz31 and house31, scored like the others. Run from the project root.
bash training_state/s31/eval_ensemble.sh ens_both6 data/psfz31_last data/psfz31_seed131_last \
  data/psfz31_seed231_last data/house31_last data/house31_seed131_last data/house31_seed231_last
