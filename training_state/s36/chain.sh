#!/bin/bash
# Session 36: one heavy job at a time.
cd "$(dirname "$0")/../.."
S=training_state/s36
bash $S/data.sh >> $S/data.log 2>&1
bash $S/neg35_member0.sh > $S/neg35_member0.log 2>&1
bash $S/label_efficiency_fast.sh > $S/label_efficiency_fast.log 2>&1
echo "chain done: $(date)"
