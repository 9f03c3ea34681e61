"""The main job on built-in data: phantom dataset -> datalist -> evaluating with the shipped model.

``make demo`` runs ``python -m scripts.demo --out DIR`` (from any folder). It uses the bundle exactly as a lab
would: the phantom writes the canonical dataset folder, ``scripts.datalist`` writes its datalist, and the
``evaluating`` run of ``configs/inference.yaml`` + ``configs/evaluate.yaml`` (``python -m monai.bundle``) segments EVERY frame of
every oocyte with ``models/model.pt``. Finally the predicted volumes are set beside the phantom's true volume
of every frame, and the paths of the CSV, summaries and plots are printed.
"""

from __future__ import annotations

import argparse
import csv
import shutil
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from scripts.datalist import build_datalist, write_datalist
from scripts.phantom import generate_dataset

BUNDLE_DIR = Path(__file__).resolve().parents[1]


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def compare_with_truth(volumes_csv: Path, truth_csv: Path) -> dict[str, float]:
    """Median |relative volume error| and the number of frames compared, against the phantom's true volumes.

    Frames whose true volume is 0 (before GVBD) count as correct when the prediction is under 1 % of the
    median true spindle volume, since a relative error is undefined there.
    """
    truth_um3 = {(r["experiment"], r["oocyte"], int(r["frame"])): float(r["volume_um3"]) for r in _read_csv(truth_csv)}
    rel_errors, empty_frames_correct, empty_frames = [], 0, 0
    typical_um3 = statistics.median([v for v in truth_um3.values() if v > 0] or [1.0])
    for row in _read_csv(volumes_csv):
        key = (row["experiment"], row["oocyte"], int(row["frame"]))
        if key not in truth_um3:
            continue
        predicted_um3, true_um3 = float(row["volume_um3"]), truth_um3[key]
        if true_um3 > 0:
            rel_errors.append(abs(predicted_um3 - true_um3) / true_um3)
        else:
            empty_frames += 1
            empty_frames_correct += predicted_um3 < 0.01 * typical_um3
    return {
        "frames_with_spindle": len(rel_errors),
        "median_abs_rel_volume_error": statistics.median(rel_errors) if rel_errors else float("nan"),
        "frames_before_gvbd": empty_frames,
        "frames_before_gvbd_correctly_empty": empty_frames_correct,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m scripts.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="demo folder: dataset/ and eval/ are written inside")
    parser.add_argument("--experiments", type=int, default=2)
    parser.add_argument("--oocytes", type=int, default=2, help="oocytes per experiment")
    parser.add_argument("--frames", type=int, default=12, help="frames per oocyte, 10 minutes apart")
    parser.add_argument("--size", type=int, nargs=3, default=[750, 750, 31], metavar=("X", "Y", "Z"))
    parser.add_argument("--seed", type=int, default=2026, help="phantom seed (the shipped model never saw it)")
    parser.add_argument("--model", default=str(BUNDLE_DIR / "models" / "model.pt"))
    args = parser.parse_args(argv)

    out_dir = Path(args.out).resolve()
    dataset_dir, eval_dir = out_dir / "dataset", out_dir / "eval"
    model_path = Path(args.model).resolve()
    if not model_path.is_file():
        sys.exit(f"{model_path}: no trained model; train one first (see bundle/docs/README.md) or pass --model")

    print(f"[1/3] phantom: {args.experiments} experiments x {args.oocytes} oocytes x {args.frames} frames "
          f"of {args.size[0]}x{args.size[1]}x{args.size[2]} voxels -> {dataset_dir}", flush=True)
    summary = generate_dataset(dataset_dir, args.experiments, args.oocytes, args.frames, tuple(args.size),
                               seed=args.seed, workers=2)
    print(f"      written in {summary['seconds']:.0f} s", flush=True)

    # The datalist documents the split; the demo evaluates every frame of every oocyte, so it is written
    # beside the dataset rather than inside it (evaluate.yaml would otherwise take its test oocytes only).
    datalist_path = write_datalist(build_datalist(dataset_dir), out_dir / "datalist.json")
    print(f"[2/3] datalist: {datalist_path}", flush=True)

    # A rerun of evaluating skips oocytes already finished in its output folder; here the dataset was just
    # regenerated (and the model may have changed), so earlier demo results are stale: start the folder afresh.
    if eval_dir.exists():
        print(f"      removing the previous demo results in {eval_dir} (they belong to an earlier run)", flush=True)
        shutil.rmtree(eval_dir)
    configs = "['" + "','".join(str(BUNDLE_DIR / "configs" / name) for name in ("inference.yaml", "evaluate.yaml")) + "']"
    command = [sys.executable, "-m", "monai.bundle", "run", "evaluating", "--config_file", configs,
               "--dataset_dir", str(dataset_dir), "--output_dir", str(eval_dir), "--model_path", str(model_path)]
    print(f"[3/3] evaluating every frame: {' '.join(command[1:])}", flush=True)
    subprocess.run(command, check=True)

    agreement = compare_with_truth(eval_dir / "volumes.csv", dataset_dir / "ground_truth_volumes.csv")
    print("\nPredicted against the phantom's true volume of every frame:")
    print(f"  frames with a spindle: {agreement['frames_with_spindle']}, median |relative volume error| "
          f"{100 * agreement['median_abs_rel_volume_error']:.1f} %")
    print(f"  frames before GVBD predicted empty: {agreement['frames_before_gvbd_correctly_empty']} of "
          f"{agreement['frames_before_gvbd']}")
    print("\nOutputs:")
    for name in ("volumes.csv", "summary_per_oocyte.csv", "summary_per_experiment.csv", "summary.json",
                 "plots", "qc", "masks"):
        print(f"  {eval_dir / name}")


if __name__ == "__main__":
    main()
