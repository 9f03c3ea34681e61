"""One weights file from several trained runs, evaluated as the mean of their probabilities.

Runs of one recipe that differ only in the training seed disagree on real stacks by tens of percent in volume,
and averaging their weights (a soup) keeps one run's mistakes; averaging their predictions does not
(bundle/docs/README.md, "Generalization"). ``write_ensemble`` stores the members' weights under ``members.<i>.``
in one state dict, which ``scripts.inference.load_network`` loads as a ``scripts.network.ProbabilityEnsemble``:
evaluating, the napari plugin, the BioImage.IO export, ``scripts.quantize`` and fine-tuning (finetune.yaml) take
it like any ``model.pt``. Its ``provenance.json`` is the members' common record (x-y pixel size, crop) with each
member's weights, sha256 and own provenance, so that a 0.34-um ensemble is evaluated at 0.34 um.

From bundle/ (members: model.pt files, each with the provenance.json its training run wrote beside it, or none):

    python -m scripts.ensemble --out DIR RUN1/model.pt RUN2/model.pt RUN3/model.pt

``--select`` keeps some members of an ensemble as a smaller one (fewer networks per frame: faster, the shipped
``models/fast`` is members 0 and 1 of ``models/model.pt``), its provenance saying which:

    python -m scripts.ensemble --select 0 1 --out DIR models/model.pt
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from scripts.io import atomic_path, file_sha256
from scripts.network import ensemble_size, read_state_dict
from scripts.resolution import PROVENANCE_FILE, model_provenance

# what decides how evaluating shows a model its files: every member must agree on it
_SHARED_KEYS = ("pixel_size_um", "file_pixel_size_um")


def _member_weights(path: Path) -> dict:
    state = read_state_dict(path)  # of a resumable checkpoint: its live weights (not the weight average)
    if ensemble_size(state):
        raise ValueError(f"{path}: already an ensemble; list its members instead")
    return state


WEIGHTS_DTYPES = {"float32": torch.float32, "float16": torch.float16}


def write_ensemble(member_paths: Sequence[str | os.PathLike], out_dir: str | os.PathLike,
                   weights_dtype: str = "float32") -> Path:
    """``out_dir/model.pt`` (the members' weights under ``members.<i>.``) and ``out_dir/provenance.json``; returns
    the model path. Refuses fewer than two members, members of different architectures (their weight names or
    shapes differ) and members trained at different pixel sizes or crops, naming the file."""
    paths = [Path(p) for p in member_paths]
    if len(paths) < 2:
        raise ValueError(f"an ensemble needs at least 2 members, got {len(paths)}")
    states = [_member_weights(p) for p in paths]
    first = states[0]
    for path, state in zip(paths[1:], states[1:], strict=True):
        if state.keys() != first.keys() or any(state[k].shape != first[k].shape for k in first):
            raise ValueError(f"{path}: not the architecture of {paths[0]} (other weight names or shapes): "
                             "an ensemble's members share one network definition")
    records = [model_provenance(p) for p in paths]
    crop = [(r.get("settings") or {}).get("crop_size") for r in records]
    for path, record, member_crop in zip(paths[1:], records[1:], crop[1:], strict=True):
        differing = [k for k in _SHARED_KEYS if record.get(k) != records[0].get(k)]
        if member_crop != crop[0]:
            differing.append("settings.crop_size")
        if differing:
            raise ValueError(f"{path}: trained with other {', '.join(differing)} than {paths[0]} (provenance.json): "
                             "the members of an ensemble must see the files alike")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / "model.pt"
    # float16 halves the file (six members: 17 instead of 34 MB, under the Model Zoo's 25-MB limit per file);
    # loading copies the weights into the network's float32 parameters
    dtype = WEIGHTS_DTYPES[weights_dtype]
    merged = {f"members.{i}.{k}": v.to(dtype) if v.is_floating_point() else v
              for i, state in enumerate(states) for k, v in state.items()}
    with atomic_path(model_path) as tmp:
        torch.save(merged, tmp)
    record = {key: records[0].get(key) for key in _SHARED_KEYS if records[0].get(key) is not None}
    if crop[0] is not None:
        record["settings"] = {"crop_size": crop[0]}
    record["weights_dtype"] = weights_dtype
    record["ensemble_members"] = [{"weights": str(p.resolve()), "sha256": file_sha256(p), "provenance": r or None}
                                  for p, r in zip(paths, records, strict=True)]
    with atomic_path(out_dir / PROVENANCE_FILE) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n")
    return model_path


def select_members(ensemble_path: str | os.PathLike, members: Sequence[int], out_dir: str | os.PathLike) -> Path:
    """``out_dir/model.pt``: the chosen members of an ensemble (renumbered from 0, in the order given, stored as they
    were) and ``out_dir/provenance.json`` (the ensemble's record with only those members listed and ``subset_of``
    naming the source and its sha256); returns the model path. Refuses fewer than two members (one network is a
    member's own weights: train it, or keep a soup), repeats and indices the ensemble does not have."""
    ensemble_path = Path(ensemble_path)
    state = read_state_dict(ensemble_path)
    n_members = ensemble_size(state)
    if not n_members:
        raise ValueError(f"{ensemble_path}: not an ensemble (one network): nothing to select from")
    members = [int(m) for m in members]
    if len(members) < 2 or len(set(members)) != len(members) or not all(0 <= m < n_members for m in members):
        raise ValueError(f"{ensemble_path}: choose two or more distinct members of 0..{n_members - 1}, got {members}")
    subset = {}
    for new_index, old_index in enumerate(members):
        prefix = f"members.{old_index}."
        subset.update({f"members.{new_index}.{k[len(prefix):]}": v for k, v in state.items() if k.startswith(prefix)})
    record = dict(model_provenance(ensemble_path) or {})
    if "ensemble_members" in record:
        record["ensemble_members"] = [record["ensemble_members"][m] for m in members]
    record["subset_of"] = {"weights": str(ensemble_path.resolve()), "sha256": file_sha256(ensemble_path),
                           "members": members}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model_path = out_dir / "model.pt"
    with atomic_path(model_path) as tmp:
        torch.save(subset, tmp)
    with atomic_path(out_dir / PROVENANCE_FILE) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n")
    return model_path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("members", nargs="+", help="model.pt files of runs of one network definition (with "
                        "--select: one ensemble's model.pt)")
    parser.add_argument("--out", required=True, help="folder for the ensemble's model.pt and provenance.json")
    parser.add_argument("--select", type=int, nargs="+", metavar="I",
                        help="keep these members (0-based) of the one ensemble given, as a smaller ensemble")
    parser.add_argument("--weights_dtype", choices=sorted(WEIGHTS_DTYPES), default="float32",
                        help="how the weights are stored (float16: half the file; they run in float32 or the "
                             "evaluation's precision either way)")
    args = parser.parse_args(argv)
    if args.select and len(args.members) != 1:
        parser.exit(2, f"error: --select keeps members of one ensemble; {len(args.members)} files given\n")
    try:
        if args.select:
            model_path = select_members(args.members[0], args.select, args.out)
        else:
            model_path = write_ensemble(args.members, args.out, args.weights_dtype)
    except ValueError as error:
        parser.exit(2, f"error: {error}\n")
    if args.select:
        print(f"{model_path}: members {args.select} of {args.members[0]}")
    else:
        print(f"{model_path}: ensemble of {len(args.members)} members")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
