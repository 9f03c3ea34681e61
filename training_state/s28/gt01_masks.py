"""Session 28 (throwaway): what the 0.34-um networks mark on gt_01, the real stack they shrink. The thresholded
network output on the file's grid, every component kept, for grid34 at its own 0.34 um and told 0.17 um, and for
all25 (0.17 um); max projections over z beside the tubulin's. Run from the project root:
    .venv/bin/python training_state/s28/gt01_masks.py OUT.png"""
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

RUNS = [("grid34, 0.34 um", "data/grid34_epoch11/model.pt", {}),
        ("grid34 told 0.17 um", "data/grid34_epoch11/model.pt", {"model_pixel_size_um": "0.17"}),
        ("all25, 0.17 um", "data/all25/model.pt", {})]
path = SPINDLES_DIR / "gt_01.tif"
fig, axes = plt.subplots(1, len(RUNS) + 1, figsize=(4 * (len(RUNS) + 1), 4))
load = LoadFramed(keys="image", channel=1)
tubulin = np.asarray(load({"image": str(path), "frame": 0})["image"][0])
axes[0].imshow(tubulin.max(axis=2).T, cmap="gray")
axes[0].set_title("gt_01 tubulin, max over z")
for ax, (name, model, settings) in zip(axes[1:], RUNS):
    config = shipped_parts(Path(model), settings)
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
    area_xy = int(largest.max(axis=2).sum())
    print(f"{name}: {n} components, voxels {sizes[:5]}; largest: {int((per_slice > 0).sum())} slices, "
          f"x-y footprint {area_xy} px, voxels per occupied slice {largest.sum() / max((per_slice > 0).sum(), 1):.0f}")
    ax.imshow(tubulin.max(axis=2).T, cmap="gray")
    ax.contour(mask.max(axis=2).T, [0.5], colors="y")
    ax.set_title(f"{name}: {n} blobs {sizes[:3]}", fontsize=8)
plt.savefig(sys.argv[1], dpi=70)
