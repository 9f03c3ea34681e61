"""Write the weight average (EMA) of a training checkpoint as a plain model.pt (Session 27; as Session 26 did for dim26).
    .venv/bin/python training_state/grid27/ema_weights.py data/RUN/checkpoint.pt OUT_DIR
Copies provenance.json from the checkpoint's folder, so that evaluating resamples to the run's pixel size."""
import shutil
import sys
from pathlib import Path

import torch

ckpt_path, out = Path(sys.argv[1]), Path(sys.argv[2])
ckpt = torch.load(ckpt_path, weights_only=True)
out.mkdir(parents=True, exist_ok=True)
torch.save(ckpt["weight_average"], out / "model.pt")
shutil.copy(ckpt_path.parent / "provenance.json", out / "provenance.json")
print(f"{out / 'model.pt'}: weight average of {ckpt_path} after {ckpt['trainer']['iteration']} steps")
