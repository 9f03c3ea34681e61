"""Session 35 (issue 15): member 0 of the shipped ensemble (psfz31, seed 331) as a one-network model.pt in float32,
with its own training record as provenance.json (pixel size 0.34 um), for fine-tuning and scoring it alone.

    .venv/bin/python training_state/s35/member0.py OUT_DIR
"""

import json
import sys
from pathlib import Path

import torch

MODELS = Path(__file__).resolve().parents[2] / "bundle" / "models"
out = Path(sys.argv[1])
out.mkdir(parents=True, exist_ok=True)
state = torch.load(MODELS / "model.pt", weights_only=True)
member = {k[len("members.0."):]: v.float() for k, v in state.items() if k.startswith("members.0.")}
torch.save(member, out / "model.pt")
record = json.loads((MODELS / "provenance.json").read_text())["ensemble_members"][0]["provenance"]
(out / "provenance.json").write_text(json.dumps(record, indent=1) + "\n")
print(f"{out / 'model.pt'}: member 0 of {MODELS / 'model.pt'}, {len(member)} tensors, pixel size {record['pixel_size_um']}")
