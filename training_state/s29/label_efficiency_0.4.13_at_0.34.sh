#!/bin/bash
# Session 29, issue 17: which of Session 28's two changes (grid34's weights, the 0.34-um pixel) made the lab's
# fine-tune better? The same command from the shipped 0.4.13 weights at 0.34 um (zero-shot and 10 labels).
# Run from the project root.
exec .venv/bin/python benchmarks/label_efficiency.py --labs heldout_texture1 --labels 10 --epochs 60 --epoch_length 50 \
  --set patch_mode=true "patch_size=[192,192,32]" weight_average_decay=0.98 network_pixel_size_um=0.34 \
  --work_dir data/label_efficiency_labs34_from_0.4.13 --out training_state/s29/label_efficiency_lab_texture_0.34um_from_0.4.13.md
