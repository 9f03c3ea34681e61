"""Weights on the straight line between two models of the same network (WiSE-FT, Wortsman et al., CVPR 2022).

    .venv/bin/python benchmarks/interpolate_weights.py START FINETUNED --alpha 0.5 --out model.pt

writes (1 - alpha) x START + alpha x FINETUNED, tensor by tensor. WiSE-FT found that mixing a robust starting
model with its fine-tuned descendant often keeps the gains of both (alpha 0.5 its untuned default). Here START is
the shipped model (trained on the house phantom) and FINETUNED run 10 (the shipped model's descendant trained on
the randomized renderer): `benchmarks/generalization.py --model_path model.pt` then says what the mixture does on
the held-out renderer families, the house phantom and the real stacks (bundle/docs/README.md, Generalization).
Only descendants of one another make sense: weights of unrelated runs do not lie in one basin.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch


def interpolate(start: dict[str, torch.Tensor], finetuned: dict[str, torch.Tensor],
                alpha: float) -> dict[str, torch.Tensor]:
    """(1 - alpha) x start + alpha x finetuned for every floating-point tensor; other tensors (counters) are
    start's. The two must hold the same names and shapes."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], found {alpha}")
    if start.keys() != finetuned.keys():
        raise ValueError(f"the two models hold different tensors: {sorted(start.keys() ^ finetuned.keys())[:5]}")
    mixed = {}
    for name, a in start.items():
        b = finetuned[name]
        if a.shape != b.shape:
            raise ValueError(f"{name}: shapes {tuple(a.shape)} and {tuple(b.shape)} differ (not the same network)")
        mixed[name] = ((1 - alpha) * a.float() + alpha * b.float()).to(a.dtype) if a.is_floating_point() else a.clone()
    return mixed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("start", type=Path, help="state dict (.pt) of the starting model")
    parser.add_argument("finetuned", type=Path, help="state dict (.pt) of its fine-tuned descendant")
    parser.add_argument("--alpha", type=float, default=0.5, help="0: start, 1: finetuned")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    load = lambda path: torch.load(path, map_location="cpu", weights_only=True)  # noqa: E731
    torch.save(interpolate(load(args.start), load(args.finetuned), args.alpha), args.out)
    print(f"{args.out}: {1 - args.alpha:g} x {args.start} + {args.alpha:g} x {args.finetuned}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
