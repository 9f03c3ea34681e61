"""Is the network's mask brighter than its surroundings? The predicted mask's contrast-to-noise, frame by frame.

    .venv/bin/python benchmarks/mask_contrast.py --dataset_dir data/renderer_families --eval_dir EVAL [--out FILE.md]

Issue 15 asks that frames before GVBD stay empty (< 50 um^3) on every renderer family; model 0.5.0 finds up to
4,500 um^3 of "spindle" there, and many frames after GVBD get a volume off by more than 25 % without a review
flag. A person looking at such a frame sees whether the marked region is brighter than what surrounds it. This
measures the same for the network's mask: ``scripts.visibility.spindle_contrast_to_noise`` (median inside minus
median of a 2-um shell, over the shell's robust spread, on the microtubule channel smoothed in x-y), computed on
the PREDICTED mask of an ``evaluating`` run (its ``masks/`` folder) instead of the true one.

It prints, per family (the experiment's name without its number), how the predicted masks' contrast-to-noise is
distributed on three kinds of frame: before GVBD with a false volume >= 50 um^3, from GVBD with a volume within
25 % of the truth ("right"), and from GVBD off by more ("wrong"); then, for a range of thresholds c, what a rule
"a mask with contrast-to-noise below c is no spindle" would do: the share of false pre-GVBD volumes it removes,
of right volumes it loses, and of wrong volumes it catches. The dataset needs true masks (``ground_truth_masks/``)
and ``gvbd.csv``: the renderer families, the house phantom (``make demo``'s dataset), any labelled dense series.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BUNDLE_DIR, print_report  # noqa: E402

sys.path.insert(0, str(BUNDLE_DIR))
import numpy as np  # noqa: E402
from accuracy import mask_frames  # noqa: E402
from generalization import PRE_GVBD_FALSE_VOLUME_UM3  # noqa: E402 (issue 15's "empty" before GVBD)
from generalization import SILENT_ERROR as WRONG_VOLUME  # noqa: E402 (a volume this far off is wrong)
from scripts.io import inspect_image, read_frame  # noqa: E402
from scripts.phantom import MICROTUBULE_CHANNEL  # noqa: E402
from scripts.visibility import spindle_contrast_to_noise  # noqa: E402

THRESHOLDS = (0.5, 1.0, 1.5, 2.0, 3.0, 4.0)


def frame_records(dataset_dir: Path, eval_dir: Path) -> list[dict]:
    """One record per frame of every predicted oocyte: family, frame kind, volumes and the predicted mask's
    contrast-to-noise (NaN for an empty mask)."""
    gvbd = {(r["experiment"], r["oocyte"]): int(r["gvbd_frame"]) for r in csv.DictReader(open(dataset_dir / "gvbd.csv"))}
    records = []
    for predicted in sorted((eval_dir / "masks").glob("*/*.tif")):
        experiment, oocyte = predicted.parent.name, predicted.stem
        image_path = dataset_dir / experiment / f"{oocyte}.tif"
        spacing_um = inspect_image(image_path).spacing_um
        voxel_um3 = float(np.prod(spacing_um))
        truth = dataset_dir / "ground_truth_masks" / experiment / f"{oocyte}.tif"
        for t, (mask_zyx, truth_zyx) in enumerate(zip(mask_frames(predicted), mask_frames(truth), strict=True)):
            v_pred, v_true = np.count_nonzero(mask_zyx) * voxel_um3, np.count_nonzero(truth_zyx) * voxel_um3
            cnr = float("nan")
            if v_pred > 0:
                image_xyz, _ = read_frame(image_path, t, channel=MICROTUBULE_CHANNEL)
                cnr = spindle_contrast_to_noise(image_xyz, mask_zyx.transpose(2, 1, 0), spacing_um)
            if t < gvbd[(experiment, oocyte)]:
                kind = "false before GVBD" if v_pred >= PRE_GVBD_FALSE_VOLUME_UM3 else "empty before GVBD"
            elif v_true == 0:
                kind = "no true spindle"
            else:
                kind = "right" if abs(v_pred - v_true) <= WRONG_VOLUME * v_true else "wrong"
            records.append({"family": re.sub(r"\d+$", "", experiment), "experiment": experiment, "oocyte": oocyte,
                            "frame": t, "kind": kind, "volume_um3": round(v_pred, 1),
                            "true_volume_um3": round(v_true, 1), "mask_cnr": round(cnr, 3)})
    return records


def _quantiles(values: list[float]) -> str:
    values = [v for v in values if np.isfinite(v)]
    if not values:
        return "-"
    q = np.percentile(values, [0, 50, 100])
    return f"{len(values)}: {q[0]:.1f} / {q[1]:.1f} / {q[2]:.1f}"


def _share_below(values: list[float], threshold: float) -> str:
    values = [v for v in values if np.isfinite(v)]
    return f"{100 * np.mean([v < threshold for v in values]):.0f} %" if values else "-"


def report(records: list[dict], dataset_dir: Path, eval_dir: Path) -> list[str]:
    families = sorted({r["family"] for r in records}) + ["all"]
    by = {(f, k): [r["mask_cnr"] for r in records if f in ("all", r["family"]) and r["kind"] == k]
          for f in families for k in ("false before GVBD", "right", "wrong")}
    lines = ["### Contrast-to-noise of the predicted masks (benchmarks/mask_contrast.py)", "",
             f"data: {dataset_dir}; masks: {eval_dir}. Frames and the masks' contrast-to-noise as "
             "`frames: min / median / max`; false before GVBD = a volume >= 50 um^3 before GVBD; right / wrong = "
             "from GVBD, volume within / off by more than 25 % of the truth.", "",
             "| family | false before GVBD | right | wrong |", "| --- | --- | --- | --- |"]
    lines += [f"| {f} | {_quantiles(by[f, 'false before GVBD'])} | {_quantiles(by[f, 'right'])} | "
              f"{_quantiles(by[f, 'wrong'])} |" for f in families]
    lines += ["", "A rule \"a mask whose contrast-to-noise is below c is no spindle\": share of the false pre-GVBD "
              "volumes it removes / of the right volumes it loses / of the wrong volumes it catches:", "",
              "| c | " + " | ".join(families) + " |", "| --- |" + " --- |" * len(families)]
    for c in THRESHOLDS:
        cells = [f"{_share_below(by[f, 'false before GVBD'], c)} / {_share_below(by[f, 'right'], c)} / "
                 f"{_share_below(by[f, 'wrong'], c)}" for f in families]
        lines.append(f"| {c:g} | " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset_dir", type=Path, required=True, help="a dataset with ground_truth_masks/ and gvbd.csv")
    parser.add_argument("--eval_dir", type=Path, required=True, help="an evaluating run's output folder on it")
    parser.add_argument("--out", type=Path, default=None, help="also write the tables here (markdown)")
    parser.add_argument("--frames_csv", type=Path, default=None, help="also write every frame's record here")
    args = parser.parse_args(argv)
    records = frame_records(args.dataset_dir, args.eval_dir)
    if not records:
        raise SystemExit(f"{args.eval_dir}: no predicted masks (masks/EXPERIMENT/OOCYTE.tif) to measure")
    if args.frames_csv:
        with open(args.frames_csv, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(records[0]))
            writer.writeheader()
            writer.writerows(records)
    print_report(report(records, args.dataset_dir, args.eval_dir), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
