"""How many labelled frames does a lab need? Fine-tuning on 1, 3, 10, 30 labels of images the model never saw.

    .venv/bin/python benchmarks/label_efficiency.py [--labels 1 3 10 30] [--epochs 15] [--epoch_length 20]
        [--model_path M] [--families_dir data/renderer_families] [--work_dir data/label_efficiency]
        [--out FILE.md] [--plot FILE.png]

Data: the held-out renderer families of ``benchmarks/generalization.py`` (``heldout_texture``, ``heldout_psf``,
``heldout_camera``; written once, seed 101), which no training run samples. Each family's first experiment is the
lab's recordings, from which the labelled frames are drawn (frames from GVBD on, spread over the oocytes and over
time: what a lab labels); its second experiment is the test set (every frame from GVBD on, against the scene's true
mask). For each number of labels N the shipped weights are fine-tuned with the documented recipe (``train.yaml`` +
``finetune.yaml``: with fewer than ``min_val_frames`` validation frames it validates on the labelled frames) and
evaluated with ``run evaluating`` on the test frames. N = 0 is the shipped model itself (zero-shot).

Reported per N: mean Dice and median |relative volume error| on the test frames, and the fine-tuning's wall time
(with the machine's CPU or GPU named). Target (issue 17): >= 0.93 Dice with <= 10 labelled frames in <= 30 min
on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
BUNDLE_DIR = REPO_DIR / "bundle"
if str(BUNDLE_DIR) not in sys.path:
    sys.path.insert(0, str(BUNDLE_DIR))

import numpy as np  # noqa: E402
from common import cpu_model  # noqa: E402
from generalization import ensure_families, run_evaluating  # noqa: E402

HELDOUT_FAMILIES = ("heldout_texture", "heldout_psf", "heldout_camera")


def frame_items(families_dir: Path, experiment_suffix: str) -> list[dict]:
    """Dense-label items (true mask of every frame) of the held-out families' experiments ``<family><suffix>``,
    frames from GVBD on, in (experiment, oocyte, frame) order."""
    record = json.loads((families_dir / "randomized.json").read_text())
    items = []
    for oocyte in record["oocytes"]:
        if oocyte["experiment"] not in {f + experiment_suffix for f in HELDOUT_FAMILIES}:
            continue
        for frame in range(oocyte["gvbd_frame"], record["n_frames"]):
            items.append({"image": oocyte["image"], "frame": frame, "experiment": oocyte["experiment"],
                          "oocyte": oocyte["oocyte"], "time_min": frame * record["frame_interval_min"],
                          "minutes_since_gvbd": (frame - oocyte["gvbd_frame"]) * record["frame_interval_min"],
                          "label": f"ground_truth_masks/{oocyte['experiment']}/{oocyte['oocyte']}.tif"})
    return items


def pick_labels(pool: list[dict], n: int, seed: int = 0) -> list[dict]:
    """``n`` frames spread over the oocytes (round robin) and over each oocyte's series (a random order within)."""
    rng = np.random.default_rng(seed)
    by_oocyte: dict[tuple[str, str], list[dict]] = {}
    for item in pool:
        by_oocyte.setdefault((item["experiment"], item["oocyte"]), []).append(item)
    queues = [[frames[i] for i in rng.permutation(len(frames))] for _, frames in sorted(by_oocyte.items())]
    picked = []
    while len(picked) < n and any(queues):
        for queue in queues:
            if queue and len(picked) < n:
                picked.append(queue.pop())
    if len(picked) < n:
        raise ValueError(f"{n} labels asked for, the pool holds {len(pool)} frames")
    return picked


def scores(output_dir: Path) -> dict:
    summary = json.loads((output_dir / "summary.json").read_text())
    return next(r for r in summary["per_experiment"] if r["method"] == "network" and r["experiment"] == "ALL")


def fine_tune(families_dir: Path, datalist: Path, ckpt_dir: Path, model_path: Path, epochs: int,
              epoch_length: int) -> float:
    """The documented fine-tuning command; returns its wall time (s)."""
    configs = [str(BUNDLE_DIR / "configs" / "train.yaml"), str(BUNDLE_DIR / "configs" / "finetune.yaml")]
    cmd = [sys.executable, "-m", "monai.bundle", "run", "training", "--config_file", repr(configs),
           "--logging_file", str(BUNDLE_DIR / "configs" / "logging.conf"), "--dataset_dir", str(families_dir),
           "--datalist_file", str(datalist), "--init_weights", str(model_path), "--ckpt_dir", str(ckpt_dir),
           "--epochs", str(epochs), "--epoch_length", str(epoch_length), "--progress_bar", "false"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO_DIR, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"fine-tuning failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=int, nargs="+", default=[1, 3, 10, 30])
    parser.add_argument("--epochs", type=int, default=15, help="fine-tuning epochs (finetune.yaml's default)")
    parser.add_argument("--epoch_length", type=int, default=20, help="steps per epoch (finetune.yaml's default)")
    parser.add_argument("--model_path", type=Path, default=BUNDLE_DIR / "models" / "model.pt")
    parser.add_argument("--families_dir", type=Path, default=REPO_DIR / "data" / "renderer_families")
    parser.add_argument("--work_dir", type=Path, default=REPO_DIR / "data" / "label_efficiency")
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown table here")
    parser.add_argument("--plot", type=Path, default=None, help="write the curve (PNG) here")
    args = parser.parse_args(argv)
    families_dir = ensure_families(args.families_dir.resolve())
    work_dir = args.work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    pool, test = frame_items(families_dir, "1"), frame_items(families_dir, "2")
    rows = []
    for n in [0, *args.labels]:
        model_path, seconds = args.model_path.resolve(), 0.0
        if n > 0:
            datalist = work_dir / f"datalist_{n}_labels.json"
            datalist.write_text(json.dumps({"training": pick_labels(pool, n), "validation": [], "testing": test},
                                           indent=1))
            seconds = fine_tune(families_dir, datalist, work_dir / f"{n}_labels", model_path, args.epochs,
                                args.epoch_length)
            model_path = work_dir / f"{n}_labels" / "model.pt"
        test_list = work_dir / "datalist_test.json"
        test_list.write_text(json.dumps({"testing": test}, indent=1))
        output_dir = work_dir / f"eval_{n}_labels"
        run_evaluating(families_dir, output_dir, model_path, overlay=True,
                       extra=["--datalist_file", str(test_list), "--datalist_subset", "testing", "--baseline", "false",
                              "--amtoc_channel", "null", "--skip_finished", "false"])
        s = scores(output_dir)
        rows.append({"labels": n, "dice": s["mean_dice"], "volume_error": s["median_abs_rel_volume_error"],
                     "frames": s["n_labelled"], "seconds": seconds})
        print(rows[-1], flush=True)
    lines = [f"### Label efficiency on the held-out renderer families ({cpu_model()}; "
             f"{args.epochs} x {args.epoch_length} steps at most)", "",
             "| labelled frames | test frames | mean Dice | median abs. rel. volume error | fine-tuning wall time |",
             "| --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['labels'] or '0 (shipped model)'} | {r['frames']} | {r['dice']:.3f} | "
                     f"{100 * r['volume_error']:.1f} % | {r['seconds'] / 60:.1f} min |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    if args.plot:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(5, 3.5), dpi=100)
        ax = fig.subplots()
        ax.plot([max(r["labels"], 0.5) for r in rows], [r["dice"] for r in rows], "o-")
        ax.set_xscale("log")
        ax.axhline(0.93, color="0.5", ls=":", label="target 0.93")
        ax.set_xlabel("labelled frames (0 plotted at 0.5: the shipped model)")
        ax.set_ylabel("mean Dice, held-out families")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
