"""How far does brightness alone go on a renderer family? The per-frame oracle threshold.

    .venv/bin/python benchmarks/oracle_threshold.py [--dataset_dir data/renderer_families] [--out FILE.md]

For every frame from GVBD on of a randomized dataset (``scripts.randomized``; default the held-out renderer families
of ``benchmarks/generalization.py``), the microtubule channel is cleaned of hot pixels (3 x 3 median in x-y) and
smoothed (Gaussian, sigma 0.4 um in x-y, 0.3 slices in z), then thresholded at the percentile (90-99.95, 60 steps)
that gives the best Dice against the frame's true mask: the oracle threshold, which knows the answer. It is the
yardstick the team used for the independently rendered phantom (issue 15: 0.78 there): where it is high, the
spindle is the brightest thing in the field; where it is low, distractors (neighbouring cells, aggregates, cortex)
are as bright as the spindle or the spindle barely rises above noise, and only shape can find it. It is not an
upper bound for a network; it says how much of a family's difficulty is contrast.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
if str(REPO_DIR / "bundle") not in sys.path:
    sys.path.insert(0, str(REPO_DIR / "bundle"))

import numpy as np  # noqa: E402
import tifffile  # noqa: E402
from common import print_report  # noqa: E402
from scipy import ndimage  # noqa: E402
from scripts.phantom import MICROTUBULE_CHANNEL  # noqa: E402

PERCENTILES = np.linspace(90.0, 99.95, 60)


def oracle_dice(image_zyx: np.ndarray, truth_zyx: np.ndarray, spacing_um_xyz) -> float:
    """Best Dice over the percentile thresholds of the cleaned, smoothed image (module docstring)."""
    smooth = ndimage.median_filter(image_zyx.astype(np.float32), size=(1, 3, 3))
    sigma_xy = 0.4 / np.asarray(spacing_um_xyz[:2], float)
    smooth = ndimage.gaussian_filter(smooth, (0.3, sigma_xy[1], sigma_xy[0]))
    truth = truth_zyx > 0
    n_truth = int(truth.sum())
    best = 0.0
    for level in np.percentile(smooth, PERCENTILES):
        mask = smooth > level
        best = max(best, 2.0 * int((mask & truth).sum()) / max(int(mask.sum()) + n_truth, 1))
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset_dir", type=Path, default=REPO_DIR / "data" / "renderer_families")
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown table here")
    args = parser.parse_args(argv)
    record = json.loads((args.dataset_dir / "randomized.json").read_text())
    per_family: dict[str, list[float]] = {}
    per_oocyte = []
    for oocyte in record["oocytes"]:
        images = tifffile.imread(args.dataset_dir / oocyte["image"])  # T Z C Y X
        truths = tifffile.imread(args.dataset_dir / "ground_truth_masks" / oocyte["experiment"] /
                                 f"{oocyte['oocyte']}.tif")  # T Z Y X
        scores = [oracle_dice(images[t, :, MICROTUBULE_CHANNEL], truths[t], oocyte["spacing_um_xyz"])
                  for t in range(oocyte["gvbd_frame"], len(truths))]
        family = re.sub(r"\d+$", "", oocyte["experiment"])
        per_family.setdefault(family, []).extend(scores)
        look = oocyte["look"]
        per_oocyte.append((oocyte["experiment"], oocyte["oocyte"], look["texture"], look["contrast"],
                           look["photons_e"], float(np.mean(scores))))
        print(f"{oocyte['experiment']}/{oocyte['oocyte']}: {look['texture']}, contrast {look['contrast']:.1f}, "
              f"{look['photons_e']:.0f} photons: oracle Dice {per_oocyte[-1][-1]:.3f}", flush=True)
    lines = [f"### Oracle threshold on {args.dataset_dir.name} (frames from GVBD on)", "",
             "| family | frames | mean oracle Dice | oocytes with mean < 0.5 |", "| --- | --- | --- | --- |"]
    for family, scores in per_family.items():
        low = sum(1 for o in per_oocyte if re.sub(r"\d+$", "", o[0]) == family and o[-1] < 0.5)
        n_oocytes = sum(1 for o in per_oocyte if re.sub(r"\d+$", "", o[0]) == family)
        lines.append(f"| `{family}` | {len(scores)} | {np.mean(scores):.3f} | {low} of {n_oocytes} |")
    print_report(lines, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
