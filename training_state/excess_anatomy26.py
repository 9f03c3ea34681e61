"""Rough (Session 26): where is the excess volume of the randomized-trained models' masks, in z or in x-y? families202
`train` oocytes (in-distribution look ranges, unseen seed), every frame from GVBD; predictions of `run evaluating`
kept in data/fam202_train_out_<model> (data/fam202_train: links to families202's train1/train2). Per frame:
predicted / true voxels, split into voxels in slices the truth does not reach (z excess) and voxels in the truth's
slices; and in x-y the false-positive ring's width (px) as the median distance of false-positive voxels to the truth
in their slice. Run from the project root: .venv/bin/python training_state/excess_anatomy26.py [data/DATASET] looks22 0.4.13 (predictions
in data/DATASET_out_<model>)"""
import csv
import sys

import numpy as np
import tifffile
from scipy import ndimage

root = sys.argv[1] if sys.argv[1].startswith("data/") else "data/fam202_train"
gvbd = {(r["experiment"], r["oocyte"]): int(r["gvbd_frame"]) for r in csv.DictReader(open(f"{root}/gvbd.csv"))}
for model in [m for m in sys.argv[1:] if not m.startswith("data/")]:
    rows = []
    for (exp, ooc), g in sorted(gvbd.items()):
        truth = tifffile.imread(f"{root}/ground_truth_masks/{exp}/{ooc}.tif") > 0
        pred = tifffile.imread(f"{root}_out_{model}/masks/{exp}/{ooc}.tif") > 0
        for t in range(g, truth.shape[0]):
            tr, pr = truth[t], pred[t]
            if not tr.any():
                continue
            t_slices = tr.any(axis=(1, 2))
            p_slices = pr.any(axis=(1, 2))
            z_excess = int(pr[~t_slices].sum())
            in_slices = pr[t_slices]
            fp = pr & ~tr
            fn = tr & ~pr
            dists = []
            for z in np.flatnonzero(t_slices):
                if fp[z].any():
                    d = ndimage.distance_transform_edt(~tr[z])
                    dists.append(d[fp[z]])
            ring = float(np.median(np.concatenate(dists))) if dists else 0.0
            rows.append((pr.sum() / tr.sum(), int(p_slices.sum()) - int(t_slices.sum()), z_excess / tr.sum(),
                         in_slices.sum() / tr.sum(), fp.sum() / tr.sum(), fn.sum() / tr.sum(), ring))
    a = np.array(rows)
    print(f"{model}: {len(a)} frames; median ratio {np.median(a[:, 0]):.2f}; slices predicted - true: median "
          f"{np.median(a[:, 1]):+.0f} (mean {a[:, 1].mean():+.2f}); voxels outside the truth's slices / truth: median "
          f"{np.median(a[:, 2]):.2f}; inside its slices / truth: median {np.median(a[:, 3]):.2f}; false positives / "
          f"truth {np.median(a[:, 4]):.2f}, false negatives / truth {np.median(a[:, 5]):.2f}; false-positive ring "
          f"median {np.median(a[:, 6]):.1f} px in x-y")

# Where along z: false positives per slice relative to the truth's own area in that slice, by the slice's place in
# the truth's z extent (end slices = the first / last slice the truth reaches; middle = the rest).
for model in [m for m in sys.argv[1:] if not m.startswith("data/")]:
    by_place = {"end": [0, 0, 0], "middle": [0, 0, 0]}  # [false positives, truth voxels, predicted voxels]
    for (exp, ooc), g in sorted(gvbd.items()):
        truth = tifffile.imread(f"{root}/ground_truth_masks/{exp}/{ooc}.tif") > 0
        pred = tifffile.imread(f"{root}_out_{model}/masks/{exp}/{ooc}.tif") > 0
        for t in range(g, truth.shape[0]):
            zs = np.flatnonzero(truth[t].any(axis=(1, 2)))
            if zs.size == 0:
                continue
            for z in zs:
                place = "end" if z in (zs[0], zs[-1]) else "middle"
                by_place[place][0] += int((pred[t, z] & ~truth[t, z]).sum())
                by_place[place][1] += int(truth[t, z].sum())
                by_place[place][2] += int(pred[t, z].sum())
    total_truth = sum(v[1] for v in by_place.values())
    print(model, {k: f"truth share {v[1] / total_truth:.2f}, predicted / true {v[2] / v[1]:.2f}, "
                     f"false positives / true {v[0] / v[1]:.2f}" for k, v in by_place.items()})
