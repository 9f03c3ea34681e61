#!/bin/bash
# Session 41: after `make test` (chain4.sh), the texture lab as a lab runs it.
cd "$(dirname "$0")/../.."
while pgrep -f "chain4.sh" > /dev/null; do sleep 20; done
bash training_state/s41/texture_finetune_split.sh > training_state/s41/texture_finetune_split.log 2>&1
