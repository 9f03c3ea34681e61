#!/bin/bash
# Session 31: house31's recipe with seeds 131 and 231 (house31_seed.sh), each scored (eval_last.sh), then the
# prediction ensemble of the three seeds (with Session 30's seed-29 run, data/house31_last) scored the same way.
# Run from the project root: nohup bash training_state/s31/run_house31.sh > training_state/s31/run_house31.log 2>&1 &
S=training_state/s31
for SEED in 131 231; do
  bash $S/house31_seed.sh $SEED > $S/train_house31_seed$SEED.log 2>&1
  bash $S/eval_last.sh house31_seed$SEED > $S/eval_house31_seed$SEED.log 2>&1
done
bash $S/eval_ensemble.sh ens_house31x3 data/house31_last data/house31_seed131_last data/house31_seed231_last \
  > $S/eval_ens_house31x3.log 2>&1
