"""Session 40: how far the camera lab's test masks reach beyond the true spindle in z, per recording: the mean over
its frames from GVBD on of the number of z slices that hold mask voxels and no true ones (above plus below), and the
share of the mask's voxels in those slices. Each model is NAME=EVAL_FOLDER[::EVAL_FOLDER...] as in
per_recording.py (default: the same models). From the project root:
    .venv/bin/python training_state/s40/depth_excess.py > training_state/s40/depth_excess.md
"""

import sys
from pathlib import Path

import numpy as np
import tifffile
from per_recording import DEFAULT, REPO

TRUTH = REPO / "data" / "labs_12_oocytes" / "ground_truth_masks" / "heldout_camera1"
RECORDINGS = [f"oocyte{k:02d}" for k in range(5, 13)]


def slices_beyond(mask: np.ndarray, truth: np.ndarray) -> tuple[int, float]:
    """(z slices with mask and no truth, the share of the mask's voxels in them) of one (Z, Y, X) frame."""
    mask_z, truth_z = mask.any(axis=(1, 2)), truth.any(axis=(1, 2))
    extra = mask_z & ~truth_z
    return int(extra.sum()), float(mask[extra].sum() / max(mask.sum(), 1))


def main(models: list[str]) -> None:
    print("| model | " + " | ".join(f"{r}: slices beyond, share of mask" for r in RECORDINGS) + " |")
    print("| --- " * (len(RECORDINGS) + 1) + "|")
    for model in models:
        name, folders = model.split("=", 1)
        cells = []
        for oocyte in RECORDINGS:
            found = [Path(f) / "masks" / "heldout_camera1" / f"{oocyte}.tif" for f in folders.split("::")]
            found = [f for f in found if f.is_file()]
            if not found:
                cells.append("-")
                continue
            masks = tifffile.imread(found[0]) > 0  # (T, Z, Y, X): the evaluated frames from GVBD on
            truth = tifffile.imread(TRUTH / f"{oocyte}.tif") > 0  # every frame of the recording
            truth = truth[-len(masks):]  # the test frames are the recording's last ones (from GVBD)
            pairs = [slices_beyond(m, t) for m, t in zip(masks, truth, strict=True) if t.any()]
            cells.append(f"{np.mean([p[0] for p in pairs]):.1f}, {100 * np.mean([p[1] for p in pairs]):.0f} %")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1:] or DEFAULT)
