#!/bin/bash
# Session 32: run_confirm6.sh as it went on. While seed 331's runs trained, this session ran tests beside them, and
# the 25-min time budget (a guard, meant never to fire) ended psfz31 seed 331 after 2 of its 4 epochs and would end
# house31 seed 331 after 3. run_confirm6.sh was stopped during house31 seed 331; this script waits for that run
# (PID $1), resumes every seed-331 run that the budget cut short from its last checkpoint (--resume_from: network,
# optimizer, scheduler and weight average; the remaining epochs, so 800 steps in all), then trains seeds 431 and 531
# with BUDGET_MIN=60 and nothing else on the machine, and writes and scores the ensemble as run_confirm6.sh would.
# Run from the project root: nohup bash training_state/s32/run_confirm6b.sh PID > training_state/s32/run_confirm6b.log 2>&1 &
set -e
S=training_state/s32
export SCORE_DIR=$S BUDGET_MIN=60
while kill -0 "$1" 2>/dev/null; do sleep 10; done

finish() {  # RECIPE_SCRIPT SEED RUN: resume the run if the budget ended it early, then take its last weight average
  local log=$S/train_$3.log
  if grep -q "training ends after epoch" $log; then
    echo "resuming $3: $(date)"
    bash $1 $2 --resume_from ../data/$3/checkpoint.pt >> $log 2>&1
  fi
  .venv/bin/python training_state/grid27/ema_weights.py data/$3/checkpoint.pt data/${3}_last
}

finish training_state/s31/house31_seed.sh 331 house31_seed331
finish $S/psfz31_seed.sh 331 psfz31_seed331
for SEED in 431 531; do
  bash $S/psfz31_seed.sh $SEED > $S/train_psfz31_seed$SEED.log 2>&1
  finish $S/psfz31_seed.sh $SEED psfz31_seed$SEED
  bash training_state/s31/house31_seed.sh $SEED > $S/train_house31_seed$SEED.log 2>&1
  finish training_state/s31/house31_seed.sh $SEED house31_seed$SEED
done
MEMBERS=$(for SEED in 331 431 531; do echo data/psfz31_seed${SEED}_last data/house31_seed${SEED}_last; done)
echo "ensemble of: $MEMBERS ($(date))"
bash training_state/s31/eval_ensemble.sh ens_confirm6 $MEMBERS > $S/eval_ens_confirm6.log 2>&1
echo "ensemble scored: $(date)"
