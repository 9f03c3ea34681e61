"""Session 33: where do 0.5.0's false spindles before GVBD lie? For every pre-GVBD frame with a predicted volume
>= 50 um^3 (mask_contrast_SET.csv), the distance from the predicted mask's centroid to the first true spindle's
centroid (the germinal vesicle sits where the spindle forms: scripts.scene), and the share of the mask within
10 um of it. usage from the project root: .venv/bin/python training_state/s33/pre_gvbd_where.py SET"""
import csv
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, "benchmarks")
sys.path.insert(0, "bundle")
from accuracy import mask_frames  # noqa: E402
from scripts.io import inspect_image  # noqa: E402

name = sys.argv[1]
dataset, eval_dir = Path("data") / name, Path("data") / f"eval050_{name}"
records = [r for r in csv.DictReader(open(f"training_state/s33/mask_contrast_{name}.csv")) if r["kind"] == "false before GVBD"]
gvbd = {(r["experiment"], r["oocyte"]): int(r["gvbd_frame"]) for r in csv.DictReader(open(dataset / "gvbd.csv"))}
print("| oocyte | frame (GVBD at) | false volume (um^3) | mask contrast | centroid to the first spindle (um) | share within 10 um |")
print("| --- | --- | --- | --- | --- | --- |")
for r in records:
    key = (r["experiment"], r["oocyte"])
    spacing = np.array(inspect_image(dataset / r["experiment"] / f"{r['oocyte']}.tif").spacing_um)[::-1]  # z, y, x
    truth = list(mask_frames(dataset / "ground_truth_masks" / r["experiment"] / f"{r['oocyte']}.tif"))
    first = next(m for m in truth if m.any())
    spindle_um = np.argwhere(first).mean(0) * spacing
    mask = list(mask_frames(eval_dir / "masks" / r["experiment"] / f"{r['oocyte']}.tif"))[int(r["frame"])]
    voxels_um = np.argwhere(mask) * spacing
    distance = np.linalg.norm(voxels_um.mean(0) - spindle_um)
    within = np.mean(np.linalg.norm(voxels_um - spindle_um, axis=1) <= 10.0)
    print(f"| {r['experiment']}/{r['oocyte']} | {r['frame']} ({gvbd[key]}) | {float(r['volume_um3']):.0f} | "
          f"{float(r['mask_cnr']):.1f} | {distance:.1f} | {100 * within:.0f} % |", flush=True)
