"""Accuracy of the fast path against plain fp32 on the phantom: speed that changes the answer is not speed.

Inputs are two ``evaluating`` output folders of the same frames (``pipeline.py`` makes them: the shipped
``precision: auto`` path and ``--precision fp32 --channels_last false``) and the phantom's true masks. Per
frame, on the full frame as the user gets it (after thresholding, largest component and the inversion):

- Dice against the true mask for each path, and |dDice| = |Dice_fast - Dice_fp32| (target <= 0.005);
- the relative volume difference |V_fast - V_fp32| / V_fp32 from ``volumes.csv`` (target <= 1%);
- the agreement Dice(fast mask, fp32 mask), which is meaningful even for an untrained network.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import tifffile
from common import Table

EPS = 1e-6  # Dice smoothing as in SPEC: (2TP + eps) / (2TP + FP + FN + eps); two empty masks agree (Dice 1)
MIN_AGREEMENT_VOXELS = 100  # frames whose masks are smaller are left out of the agreement (~6 um^3, no spindle)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    tp = np.count_nonzero(a & b)
    return (2 * tp + EPS) / (np.count_nonzero(a) + np.count_nonzero(b) + EPS)


def mask_frames(path: Path):
    """Yield the (Z, Y, X) frames of a TZYX uint8 hyperstack one at a time (the file may be zlib-compressed)."""
    with tifffile.TiffFile(path) as tf:
        series = tf.series[0]
        n_frames, n_z = series.shape[0], series.shape[1]
        for t in range(n_frames):
            yield np.stack([tf.pages[t * n_z + z].asarray() for z in range(n_z)])


def read_volumes(output_dir: Path) -> dict[int, float]:
    """{frame: network volume in um^3} from an evaluating run's volumes.csv."""
    with open(output_dir / "volumes.csv", newline="") as f:
        return {int(r["frame"]): float(r["volume_um3"]) for r in csv.DictReader(f)}


def compare(fast_dir: Path, fp32_dir: Path, dataset_dir: Path) -> dict:
    """Per-frame Dice against the truth for both paths, their agreement and volume differences, for every oocyte."""
    per_frame = []
    for fast_masks in sorted((fast_dir / "masks").glob("*/*.tif")):
        experiment, oocyte = fast_masks.parent.name, fast_masks.stem
        fp32_masks = fp32_dir / "masks" / experiment / f"{oocyte}.tif"
        truth = dataset_dir / "ground_truth_masks" / experiment / f"{oocyte}.tif"
        for t, (m_fast, m_fp32, m_true) in enumerate(zip(mask_frames(fast_masks), mask_frames(fp32_masks),
                                                          mask_frames(truth), strict=False)):
            per_frame.append({"frame": t, "dice_fast": dice(m_fast, m_true), "dice_fp32": dice(m_fp32, m_true),
                              "agreement": dice(m_fast, m_fp32),
                              "voxels": max(np.count_nonzero(m_fast), np.count_nonzero(m_fp32))})
    v_fast, v_fp32 = read_volumes(fast_dir), read_volumes(fp32_dir)
    rel = [abs(v_fast[f] - v_fp32[f]) / v_fp32[f] if v_fp32[f] > 0 else float(v_fast[f] > 0) for f in v_fp32]
    ddice = [abs(r["dice_fast"] - r["dice_fp32"]) for r in per_frame]
    return {
        "n_frames": len(per_frame),
        "max_abs_ddice": max(ddice),
        "mean_dice_fast": float(np.mean([r["dice_fast"] for r in per_frame])),
        "mean_dice_fp32": float(np.mean([r["dice_fp32"] for r in per_frame])),
        # a few stray voxels on a frame without a spindle make Dice(fast, fp32) meaningless (2 voxels against 1: 0.67)
        "min_agreement": min([r["agreement"] for r in per_frame if r["voxels"] >= MIN_AGREEMENT_VOXELS] or [1.0]),
        "n_agreement_frames": sum(r["voxels"] >= MIN_AGREEMENT_VOXELS for r in per_frame),
        "max_rel_volume_diff": max(rel),
    }


def run(table: Table, fast_dir: Path, fp32_dir: Path, dataset_dir: Path, trained: bool, fast_path_name: str) -> dict:
    section = "accuracy: fast path vs fp32"
    res = compare(fast_dir, fp32_dir, dataset_dir)
    weights = "trained bundle/models/model.pt" if trained else "random weights (no trained model.pt): agreement check only"
    table.add(section, "weights, frames", f"{res['n_frames']} phantom frames", f"{weights}; fast path = {fast_path_name}")
    table.add(section, "max abs dDice vs true masks", f"{res['max_abs_ddice']:.4f}",
              f"target <= 0.005: {'met' if res['max_abs_ddice'] <= 0.005 else 'NOT met'}; mean Dice fast "
              f"{res['mean_dice_fast']:.4f}, fp32 {res['mean_dice_fp32']:.4f}")
    table.add(section, "max relative volume difference", f"{100 * res['max_rel_volume_diff']:.3f}%",
              f"target <= 1%: {'met' if res['max_rel_volume_diff'] <= 0.01 else 'NOT met'}")
    table.add(section, "min mask agreement Dice(fast, fp32)", f"{res['min_agreement']:.4f}",
              f"1 = identical masks; over the {res['n_agreement_frames']} frames whose masks have >= "
              f"{MIN_AGREEMENT_VOXELS} voxels")
    return res
