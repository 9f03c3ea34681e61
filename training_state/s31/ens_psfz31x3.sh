#!/bin/bash
# Session 31, issue 15: the prediction ensemble of Session 29-30's three psfz31 seed replicates (their last weight
# averages: data/psfz31_last, psfz31_seed131_last, psfz31_seed231_last), scored like each of them.
# (First measured with a throwaway copy of the same averaging passed in through --set network_def#_target_; the
# bundle's scripts.ensemble gives the same real-stack volumes to the um^3.) Run from the project root.
bash training_state/s31/eval_ensemble.sh ens_psfz31x3 data/psfz31_last data/psfz31_seed131_last data/psfz31_seed231_last
