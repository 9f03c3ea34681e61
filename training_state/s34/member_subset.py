"""Session 34: a model of some members of the shipped ensemble (issue 20: fewer FLOPs per frame on AVX2 CPUs).

usage from the project root: .venv/bin/python training_state/s34/member_subset.py OUT_DIR 0 1
Writes OUT_DIR/model.pt (members.<i>. renumbered from 0, stored in the shipped dtype) and OUT_DIR/provenance.json
(the shipped record with only the chosen members listed), so that evaluating sees the files as it sees 0.5.0's.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bundle"))

import torch  # noqa: E402
from scripts.network import ensemble_size, read_state_dict  # noqa: E402

SHIPPED = REPO / "bundle" / "models"


def main(out_dir: Path, members: list[int]) -> None:
    state = read_state_dict(SHIPPED / "model.pt")
    n = ensemble_size(state)
    if len(members) < 2 or len(set(members)) != len(members) or not all(0 <= m < n for m in members):
        raise SystemExit(f"choose at least 2 distinct members of 0..{n - 1}, got {members}")
    subset = {}
    for new, old in enumerate(members):
        prefix = f"members.{old}."
        subset.update({f"members.{new}.{k[len(prefix):]}": v for k, v in state.items() if k.startswith(prefix)})
    record = json.loads((SHIPPED / "provenance.json").read_text())
    record["ensemble_members"] = [record["ensemble_members"][m] for m in members]
    record["subset_of"] = {"model": "bundle/models/model.pt", "members": members}
    out_dir.mkdir(parents=True, exist_ok=True)
    torch.save(subset, out_dir / "model.pt")
    (out_dir / "provenance.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"{out_dir / 'model.pt'}: members {members} of {n}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), [int(m) for m in sys.argv[2:]])
