"""Session 33: a picture of four of 0.5.0's false spindles before GVBD on families202 (x-y maximum projections of
the microtubule channel; predicted mask in yellow, where the spindle later forms as a red cross).
usage from the project root: .venv/bin/python training_state/s33/pre_gvbd_figure.py"""
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, "benchmarks")
sys.path.insert(0, "bundle")
from accuracy import mask_frames  # noqa: E402
from scripts.io import read_frame  # noqa: E402
from scripts.phantom import MICROTUBULE_CHANNEL  # noqa: E402

CASES = [("heldout_psf2", "oocyte03", 0), ("heldout_psf1", "oocyte01", 0), ("train2", "oocyte02", 0),
         ("heldout_texture1", "oocyte03", 0)]
fig, axes = plt.subplots(1, len(CASES), figsize=(4 * len(CASES), 4.2))
for ax, (experiment, oocyte, frame) in zip(axes, CASES):
    image_xyz, _ = read_frame(f"data/families202/{experiment}/{oocyte}.tif", frame, channel=MICROTUBULE_CHANNEL)
    mask = list(mask_frames(f"data/eval050_families202/masks/{experiment}/{oocyte}.tif"))[frame].any(0)  # y, x
    first = next(m for m in mask_frames(f"data/families202/ground_truth_masks/{experiment}/{oocyte}.tif") if m.any())
    cy, cx = np.argwhere(first.any(0)).mean(0)
    projection = image_xyz.max(axis=2).T  # y, x
    ax.imshow(projection, cmap="gray", vmin=np.percentile(projection, 1), vmax=np.percentile(projection, 99.7))
    ax.contour(mask, levels=[0.5], colors="yellow", linewidths=1)
    ax.plot(cx, cy, "r+", markersize=14, mew=2)
    ax.set_title(f"{experiment}/{oocyte} frame {frame}", fontsize=9)
    ax.axis("off")
fig.tight_layout()
fig.savefig("training_state/s33/pre_gvbd_false_spindles.png", dpi=80)
