#!/bin/bash
# Session 31: the candidate recipe's seeds one after another, each scored after its run (one heavy job at a time on
# 2 cores), then their prediction ensemble. What ran: seeds 29 and 131; seed 231 was stopped in its first epoch
# once both had drawn width_small 2-3x too large (the recipe, not the seed: see the docs), to free the cores for
# run_house31.sh. Run from the project root: nohup bash training_state/s31/run_all.sh > training_state/s31/run_all.log 2>&1 &
S=training_state/s31
for SEED in 29 131 231; do
  bash $S/cand34_seed.sh $SEED > $S/train_cand34_seed$SEED.log 2>&1
  bash $S/eval_last.sh cand34_seed$SEED > $S/eval_cand34_seed$SEED.log 2>&1
done
bash $S/eval_ensemble.sh ens_cand34x3 data/cand34_seed29_last data/cand34_seed131_last data/cand34_seed231_last \
  > $S/eval_ens_cand34x3.log 2>&1
