#!/bin/bash
# Session 32, issue 15: the confirmation run that Session 31 asked for. Six NEW seeds of the two recipes whose six-seed
# ensemble (s31/ens_both6.sh) met the ship rule after the fact: 3 x psfz31 (psfz31_seed.sh) and 3 x house31
# (s31/house31_seed.sh), one heavy job at a time. Each run's last weight average is taken (ema_weights.py), then
# the prediction ensemble of the six is written to data/ens_confirm6 and scored ONCE by s31/score.sh. The rule it is
# judged by was written down before it ran (training_state/README.md, Session 32). The members are scored after.
# Run from the project root: nohup bash training_state/s32/run_confirm6.sh > training_state/s32/run_confirm6.log 2>&1 &
set -e
S=training_state/s32
export SCORE_DIR=$S
SEEDS="331 431 531"
for SEED in $SEEDS; do
  bash $S/psfz31_seed.sh $SEED > $S/train_psfz31_seed$SEED.log 2>&1
  .venv/bin/python training_state/grid27/ema_weights.py data/psfz31_seed$SEED/checkpoint.pt data/psfz31_seed${SEED}_last
  bash training_state/s31/house31_seed.sh $SEED > $S/train_house31_seed$SEED.log 2>&1
  .venv/bin/python training_state/grid27/ema_weights.py data/house31_seed$SEED/checkpoint.pt data/house31_seed${SEED}_last
done
MEMBERS=$(for SEED in $SEEDS; do echo data/psfz31_seed${SEED}_last data/house31_seed${SEED}_last; done)
bash training_state/s31/eval_ensemble.sh ens_confirm6 $MEMBERS > $S/eval_ens_confirm6.log 2>&1
echo "ensemble scored: $(date)"
