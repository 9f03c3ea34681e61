#!/bin/bash
# Session 39, issue 17: do 10 labels spread over 8 of the camera lab's recordings do better on new recordings than 10
# from 4? The camera lab grown to 12 recordings (data/labs_12_oocytes, written with all three labs so that
# heldout_camera1 keeps data/labs' look and first 8 scenes), the fast model fine-tuned with Session 37's recipe
# (random labels, 30-minute budget) on 10 labels from recordings 1-8, scored on recordings 9-12; the 4-recording
# models of Sessions 37-38 on the same recordings: lab12_pool4.py. 2-core Xeon with AMX (bf16). From the project root:
#   bash training_state/s39/lab12_camera.sh > training_state/s39/lab12_camera.log 2>&1
set -euo pipefail
cd "$(dirname "$0")/../.."
.venv/bin/python -c "
import sys; sys.path[:0] = ['benchmarks', 'bundle']
from pathlib import Path
from label_efficiency import ensure_labs
ensure_labs(Path('data/labs_12_oocytes').resolve(), 12)  # all three labs (the default families)
"
.venv/bin/python training_state/s39/lab12_pool4.py > training_state/s39/lab12_pool4.md
exec .venv/bin/python benchmarks/label_efficiency.py --labs heldout_camera1 --lab_oocytes 12 --pool_oocytes 8 \
  --test_oocytes 4 --labels 10 --epochs 60 --epoch_length 50 --no_zero_shot \
  --model_path bundle/models/fast/model.pt \
  --set patch_mode=true "patch_size=[192,192,32]" weight_average_decay=0.98 network_pixel_size_um=0.34 \
  --work_dir data/label_efficiency_lab12_camera39 --out training_state/s39/label_efficiency_lab12_camera_pool8.md
