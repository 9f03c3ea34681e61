"""Session 29 (throwaway): where finez30's extra real-stack volume lies. The thresholded network output on the
file's grid (every component kept; no crop, as real_spindles.py) of finez29_last, finez30_last and psfz31_last on gt_01 and width_small, drawn over the
tubulin's max projection in x-y and in x-z, with each run's component sizes and slice counts. From the project root:
    .venv/bin/python training_state/s29/real_masks.py OUT.png"""
import sys
from pathlib import Path

import matplotlib
import numpy as np
import torch
from monai.transforms import AsDiscreted, Compose, Invertd
from scipy import ndimage

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

sys.path.insert(0, "benchmarks")
from real_spindles import SPINDLES_DIR, shipped_parts  # noqa: E402

sys.path.insert(0, "bundle")
from scripts.io import LoadFramed  # noqa: E402

RUNS = [("finez29_last", "data/finez29_last/model.pt"), ("finez30_last", "data/finez30_last/model.pt"),
        ("psfz31_last", "data/psfz31_last/model.pt")]
FILES = [("gt_01.tif", 1), ("width_small.tif", 0)]  # (file, tubulin channel: reference.csv)
fig, axes = plt.subplots(len(FILES), 2 * len(RUNS), figsize=(4 * 2 * len(RUNS), 4 * len(FILES)))
for row, (name, channel) in enumerate(FILES):
    load = LoadFramed(keys="image", channel=channel)
    path = SPINDLES_DIR / name
    tubulin = np.asarray(load({"image": str(path), "frame": 0})["image"][0])
    for col, (run, model) in enumerate(RUNS):
        config = shipped_parts(Path(model), {})
        pre = Compose([load, config.get_parsed_content("standardisation"), config.get_parsed_content("pad")])
        data = pre({"image": str(path), "frame": 0})
        with torch.no_grad():
            data["pred"] = config.get_parsed_content("inferer")(data["image"][None], config.get_parsed_content("network"))[0]
        data = Compose([AsDiscreted(keys="pred", threshold=0.0),
                        Invertd(keys="pred", orig_keys="image", transform=pre, nearest_interp=True)])(data)
        mask = np.asarray(data["pred"][0]) > 0.5
        labels, n = ndimage.label(mask)
        sizes = sorted(np.bincount(labels.ravel())[1:].tolist(), reverse=True)
        largest = labels == (np.argmax(np.bincount(labels.ravel())[1:]) + 1)
        per_slice = largest.sum(axis=(0, 1))
        print(f"{name} {run}: {n} components, voxels {sizes[:5]}; largest: {int((per_slice > 0).sum())} of "
              f"{mask.shape[2]} slices, x-y footprint {int(largest.max(axis=2).sum())} px, x-z footprint "
              f"{int(largest.max(axis=1).sum())} px", flush=True)
        for k, (axis, label) in enumerate([(2, "x-y"), (1, "x-z")]):
            ax = axes[row, 2 * col + k]
            ax.imshow(tubulin.max(axis=axis).T, cmap="gray", aspect="auto")
            ax.contour(mask.max(axis=axis).T, [0.5], colors="y")
            ax.set_title(f"{name} {run} {label}: {n} blobs {sizes[:3]}", fontsize=7)
plt.tight_layout()
plt.savefig(sys.argv[1], dpi=60)
