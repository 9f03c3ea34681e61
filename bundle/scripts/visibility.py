"""How visible is a spindle in its frame? Contrast-to-noise against its surroundings, and a datalist filter.

The randomized renderer (``scripts.randomized``) draws looks from deliberately wide ranges: a spindle barely
brighter than the cytoplasm, under haze, a long axial PSF and a few photons per voxel, can be invisible in its
frame. A network shown such a frame with its true mask is taught to mark a spindle-shaped blob where nothing can
be seen; a test set full of them scores a model on guesses. This module measures it, from the image and the mask:

    contrast-to-noise = (median inside the mask - median of a shell around it) / robust std of the shell

on the microtubule channel smoothed in x-y (hot pixels replaced by their 3 x 3 median, then a Gaussian of ``SMOOTH_UM``,
about the width of a fibre bundle: pixel noise is not what hides a spindle from a person looking at the frame). The shell is the voxels within ``SHELL_UM`` of the
mask (physical distance, anisotropic voxels), the mask excluded; its robust std (1.4826 x the median absolute
deviation) counts noise and the cytoplasm's texture, and ignores a few hot pixels. Below ``VISIBLE_CNR`` = 1
the spindle is no brighter than the ordinary ups and downs of its surroundings.

Command line: drop the training frames whose spindle is not visible from a datalist (validation and testing
lists, and frames without a spindle, are kept as they are; the frames dropped are listed in the output)::

    python -m scripts.visibility --datalist data/mixed.json --min_cnr 1 --out data/mixed_visible.json
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from scipy import ndimage

from scripts.datalist import load_datalist, write_datalist
from scripts.io import read_frame, read_mask
from scripts.phantom import MICROTUBULE_CHANNEL

SHELL_UM = 2.0
SMOOTH_UM = 0.5
VISIBLE_CNR = 1.0
HOT_PIXEL_STDS = 8.0


def without_hot_pixels(image_xyz: np.ndarray) -> np.ndarray:
    """``image_xyz`` with its hot pixels (voxels far above the median of their 3 x 3 x-y neighbourhood) replaced by
    that median; every other voxel kept as it is. "Far" is ``HOT_PIXEL_STDS`` standard deviations of the voxels'
    differences from their neighbourhood median, the largest 0.1 % left out of that spread (hot pixels are rarer).

    Why not a 3 x 3 median of every voxel: at a few photons per voxel the counts are small integers, the median of
    nine of them is nearly constant over the cytoplasm, and the smoothed surroundings' spread then reads several
    times too small, so a dim spindle's contrast-to-noise read high (Session 26: below ~2 photons per voxel)."""
    image = np.asarray(image_xyz, dtype=np.float32)
    local_median = ndimage.median_filter(image, size=(3, 3, 1), mode="nearest")
    residual = image - local_median
    magnitude = np.abs(residual)
    typical = residual[magnitude <= np.percentile(magnitude, 99.9)]
    threshold = HOT_PIXEL_STDS * float(typical.std())
    return np.where(residual > threshold, local_median, image)


def spindle_contrast_to_noise(image_xyz: np.ndarray, mask_xyz: np.ndarray, spacing_um_xyz: Sequence[float],
                              shell_um: float = SHELL_UM, smooth_um: float = SMOOTH_UM) -> float:
    """Contrast-to-noise of the spindle ``mask_xyz`` in ``image_xyz`` (see the module docstring); NaN for an
    empty mask (no spindle to see) or a mask without surroundings (it fills the frame)."""
    mask = np.asarray(mask_xyz) > 0
    if not mask.any():
        return float("nan")
    spacing = np.asarray(spacing_um_xyz, dtype=float)
    # only the mask's bounding box plus the shell (and the smoothing's reach) is needed
    margin = np.ceil((shell_um + 3 * smooth_um) / spacing).astype(int) + 1
    occupied = np.argwhere(mask)
    lo = np.maximum(occupied.min(0) - margin, 0)
    hi = np.minimum(occupied.max(0) + margin + 1, mask.shape)
    box = tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))
    image = np.asarray(image_xyz[box], dtype=np.float32)
    mask = mask[box]
    sigma_px = [smooth_um / spacing[0], smooth_um / spacing[1], 0.0]  # x-y only: z slices are 1-2 um apart
    smoothed = ndimage.gaussian_filter(without_hot_pixels(image), sigma_px, mode="nearest")
    distance_um = ndimage.distance_transform_edt(~mask, sampling=spacing)
    shell = (distance_um > 0) & (distance_um <= shell_um)
    if not shell.any():
        return float("nan")
    around = smoothed[shell]
    spread = 1.4826 * float(np.median(np.abs(around - np.median(around))))
    contrast = float(np.median(smoothed[mask]) - np.median(around))
    if spread == 0.0:
        return float("inf") if contrast > 0 else 0.0
    return contrast / spread


def item_contrast_to_noise(item: dict) -> float:
    """``spindle_contrast_to_noise`` of one datalist item (absolute ``image`` / ``label`` paths and ``frame``, as
    ``scripts.datalist.load_datalist`` returns them); NaN for an item without a label or with an empty mask."""
    if "label" not in item:
        return float("nan")
    frame = int(item.get("frame", 0))
    image, meta = read_frame(item["image"], frame, channel=MICROTUBULE_CHANNEL)
    mask, _ = read_mask(item["label"], frame, image_shape_xyz=image.shape)
    return spindle_contrast_to_noise(image, mask, meta["spacing_um"])


def filter_datalist(datalist_file: str | Path, out: str | Path, min_cnr: float = VISIBLE_CNR,
                    dataset_dir: str | Path | None = None) -> dict:
    """Write ``out``: the datalist with the training items whose spindle has a contrast-to-noise below
    ``min_cnr`` removed. Items without a spindle (empty mask, e.g. before GVBD) and every other list are kept;
    paths stay as written (relative to the dataset folder). The removed items and every training item's
    contrast-to-noise are recorded under ``visibility``. Returns the written datalist."""
    datalist_file = Path(datalist_file)
    data = json.loads(datalist_file.read_text())
    resolved = load_datalist(datalist_file, "training", dataset_dir)
    kept, dropped, cnr_of = [], [], []
    for raw, item in zip(data["training"], resolved, strict=True):
        cnr = item_contrast_to_noise(item)
        name = f"{raw['image']}#{raw.get('frame', 0)}"
        cnr_of.append({"item": name, "cnr": None if np.isnan(cnr) else round(cnr, 3)})
        if cnr < min_cnr:  # False for NaN: frames without a spindle stay
            dropped.append(name)
        else:
            kept.append(raw)
    data["training"] = kept
    data["visibility"] = {"filtered_from": str(datalist_file), "min_cnr": float(min_cnr), "shell_um": SHELL_UM,
                          "smooth_um": SMOOTH_UM, "dropped": dropped, "training_cnr": cnr_of}
    write_datalist(data, out)
    return data


def main(argv: Sequence[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m scripts.visibility", description=__doc__.split("\n\n")[0])
    ap.add_argument("--datalist", required=True, help="datalist JSON to filter (its training list)")
    ap.add_argument("--out", required=True, help="filtered datalist to write")
    ap.add_argument("--min_cnr", type=float, default=VISIBLE_CNR,
                    help=f"drop training frames whose spindle's contrast-to-noise is below this (default {VISIBLE_CNR})")
    ap.add_argument("--dataset_dir", default=None, help="folder the datalist's paths are relative to (default: its own)")
    args = ap.parse_args(argv)
    data = filter_datalist(args.datalist, args.out, args.min_cnr, args.dataset_dir)
    n_dropped = len(data["visibility"]["dropped"])
    values = [r["cnr"] for r in data["visibility"]["training_cnr"] if r["cnr"] is not None]
    print(f"{args.out}: {len(data['training'])} training items kept, {n_dropped} dropped (spindle contrast-to-noise "
          f"< {args.min_cnr:g}); contrast-to-noise of the {len(values)} spindles: median "
          f"{np.median(values) if values else float('nan'):.2f}")
    return data


if __name__ == "__main__":
    main()
