"""How many spindles of a renderer-family test set can be seen at all? Contrast-to-noise per frame, and a figure.

    .venv/bin/python benchmarks/visibility.py --families_dir data/families202 [--png visibility.png] [--out FILE.md]

For every frame from GVBD on with a spindle, the true spindle's contrast-to-noise against a 2-um shell around it
(``scripts.visibility``); per family: the frames, the median, and how many are below ``VISIBLE_CNR`` (1: no
brighter than the ordinary ups and downs of its surroundings). No model is involved: this is a property of the
test set. ``--png``: 8 frames from the least to the most visible (the z slice with most spindle, 160 x 160 pixels
around it, the true outline in yellow), to judge the threshold by eye.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
if str(REPO_DIR / "bundle") not in sys.path:
    sys.path.insert(0, str(REPO_DIR / "bundle"))

import numpy as np  # noqa: E402
from accuracy import mask_frames  # noqa: E402
from generalization import frame_contrast_to_noise  # noqa: E402
from scripts.phantom import MICROTUBULE_CHANNEL  # noqa: E402
from scripts.visibility import VISIBLE_CNR  # noqa: E402


def frame_visibility(families_dir: Path) -> list[dict]:
    """One row per frame from GVBD on with a spindle: experiment, oocyte, family, frame, contrast-to-noise."""
    gvbd = {(r["experiment"], r["oocyte"]): int(r["gvbd_frame"]) for r in csv.DictReader(open(families_dir / "gvbd.csv"))}
    rows = []
    for truth in sorted((families_dir / "ground_truth_masks").glob("*/*.tif")):
        experiment, oocyte = truth.parent.name, truth.stem
        for t, g in enumerate(mask_frames(truth)):
            if t >= gvbd[(experiment, oocyte)] and g.any():
                rows.append({"experiment": experiment, "oocyte": oocyte, "family": re.sub(r"\d+$", "", experiment),
                             "frame": t, "cnr": frame_contrast_to_noise(families_dir / experiment / f"{oocyte}.tif",
                                                                        t, g)})
    return rows


def family_table(rows: list[dict]) -> list[str]:
    lines = ["| family | frames with a spindle | median contrast-to-noise | not visible (< "
             f"{VISIBLE_CNR:g}) |", "| --- | --- | --- | --- |"]
    for family in sorted({r["family"] for r in rows}):
        cnr = np.array([r["cnr"] for r in rows if r["family"] == family])
        hidden = int((cnr < VISIBLE_CNR).sum())
        lines.append(f"| {family} | {cnr.size} | {np.median(cnr):.2f} | {hidden} ({100 * hidden / cnr.size:.0f} %) |")
    return lines


def draw_montage(families_dir: Path, rows: list[dict], png: Path, n_panels: int = 8) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from scripts.io import atomic_path, read_frame, read_mask

    ranked = sorted(rows, key=lambda r: r["cnr"])
    picks = [ranked[int(i)] for i in np.linspace(0, len(ranked) - 1, min(n_panels, len(ranked)))]
    fig, axes = plt.subplots(2, 4, figsize=(10, 5.6), squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for ax, r in zip(axes.flat, picks, strict=False):
        image, _ = read_frame(families_dir / r["experiment"] / f"{r['oocyte']}.tif", r["frame"],
                              channel=MICROTUBULE_CHANNEL)
        truth, _ = read_mask(families_dir / "ground_truth_masks" / r["experiment"] / f"{r['oocyte']}.tif", r["frame"])
        z = int(np.argmax(truth.sum((0, 1))))
        xs, ys = np.nonzero(truth.any(2))
        window = (slice(max(int(xs.mean()) - 80, 0), int(xs.mean()) + 80),
                  slice(max(int(ys.mean()) - 80, 0), int(ys.mean()) + 80))
        plane = image[:, :, z].astype(float)
        ax.imshow(plane[window].T, cmap="gray", vmin=np.percentile(plane, 0.5), vmax=np.percentile(plane, 99.8))
        ax.contour(truth[:, :, z][window].T, levels=[0.5], colors="y", linewidths=0.6)
        ax.set_title(f"{r['experiment']}/{r['oocyte']} t{r['frame']}: {r['cnr']:.2f}", fontsize=8)
    fig.suptitle("true spindle's contrast-to-noise, least to most visible (outline: the truth)", fontsize=9)
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=50, format="png")
    plt.close(fig)
    return png


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--families_dir", required=True, help="a renderer-family dataset (scripts.randomized)")
    parser.add_argument("--png", default=None, help="also draw frames from the least to the most visible")
    parser.add_argument("--out", default=None, help="also write the markdown table to this file")
    args = parser.parse_args(argv)
    families_dir = Path(args.families_dir)
    rows = frame_visibility(families_dir)
    text = "\n".join([f"### Visibility of the spindles in {families_dir.name} (benchmarks/visibility.py)", "",
                      *family_table(rows), ""]) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    if args.png:
        print(draw_montage(families_dir, rows, Path(args.png)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
