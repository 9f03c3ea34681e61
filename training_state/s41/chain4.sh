#!/bin/bash
# Session 41: after camera_even_finetune_split.sh (started by chain3.sh), the whole test suite (one heavy job at a time).
cd "$(dirname "$0")/../.."
while pgrep -f "split finetune" > /dev/null; do sleep 20; done
date; make test > training_state/s41/make_test.log 2>&1; echo "make test rc $?"; date
