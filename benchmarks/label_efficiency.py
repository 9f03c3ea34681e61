"""How many labelled frames does a lab need? Fine-tuning on 1, 3, 10, 30 labels of images the model never saw.

    .venv/bin/python benchmarks/label_efficiency.py [--scenario labs|mixed] [--labels 1 3 10 30]
        [--labs heldout_texture1 ...] [--label_choice random|even] [--split benchmark|finetune] [--semi_supervised]
        [--epochs N] [--epoch_length N]
        [--set lr=2e-4 ...] [--model_path M] [--work_dir DIR] [--out FILE.md] [--plot FILE.png]

Two scenarios, both on renderer families no training run samples (``heldout_texture``, ``heldout_psf``,
``heldout_camera``), every test frame from GVBD on scored against the scene's true mask:

- ``labs`` (default): a lab is one microscope. ``data/labs`` (written once, seed ``LABS_SEED``) holds one
  experiment per held-out family whose 8 oocytes share ONE look drawn from that family (``scripts.randomized``,
  ``--one_look_per_experiment``); oocytes 1-4 are the lab's labelled recordings (the pool the N labels are drawn
  from), oocytes 5-8 its test recordings. Each lab is fine-tuned and scored on its own. ``--lab_oocytes 12
  --pool_oocytes 8 --test_oocytes 4`` (labs of 12 recordings, ``data/labs_12_oocytes``) asks whether the same N
  labels do better spread over more recordings: pools of 4 and 8 oocytes are scored on the same last 4.
- ``mixed``: ``data/renderer_families`` (``benchmarks/generalization.py``'s test set): every oocyte has its own
  look, the labels come from the three families' first experiments and the test frames from their second: ten
  labels then cover up to six different microscopes at once, a harder task than any one lab's.

For each number of labels N the shipped weights are fine-tuned with the documented recipe (``train.yaml`` +
``finetune.yaml``: with fewer than ``min_val_frames`` validation frames it validates on the labelled frames), with
``--semi_supervised`` also with ``semi_supervised.yaml`` added (the same run plus the mean teacher on the other
frames of the labelled oocytes), and evaluated with ``run evaluating`` on the test frames. N = 0 is the shipped
model itself (zero-shot).

Which frames of a labelled oocyte are labelled: ``--label_choice random`` (default) draws them at random from its
series, ``even`` spaces them evenly from GVBD on (the GVBD frame always among them).

How the labels are used: ``--split benchmark`` (default; every run recorded until 2026-12-07) trains on all N and
validates on them; ``--split finetune`` writes them as a lab's dataset folder (the labelled recordings and one mask
file per label) and lets finetune.yaml split it as it splits a lab's folder (80:20: validation on two of ten labels).

Reported per N: mean Dice and median |relative volume error| on the test frames, the same at GVBD (the first frame
with a spindle, a nascent one) and after it, the volume band's coverage of the true volumes (the band the fine-tuning
calibrated on its labelled frames, ``scripts.calibrate_band.calibrate_trained_model``; N = 0: the shipped one), and
the fine-tuning's wall time (with the machine's CPU or GPU named), the band's calibration included. Target (issue 17): >= 0.93 Dice with <= 10 labelled frames in <= 30 min
on 2 CPU cores.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
BUNDLE_DIR = REPO_DIR / "bundle"
if str(BUNDLE_DIR) not in sys.path:
    sys.path.insert(0, str(BUNDLE_DIR))

import numpy as np  # noqa: E402
from common import cpu_model, print_report  # noqa: E402
from generalization import band_kind, ensure_families, run_evaluating  # noqa: E402

HELDOUT_FAMILIES = ("heldout_texture", "heldout_psf", "heldout_camera")
LABS_SEED = 202
LAB_OOCYTES, LAB_POOL_OOCYTES, LAB_FRAMES = 8, 4, 10
LABEL_CHOICES = ("random", "even")
SPLITS = ("benchmark", "finetune")


def ensure_labs(labs_dir: Path, n_oocytes: int = LAB_OOCYTES, families: Sequence[str] = HELDOUT_FAMILIES) -> Path:
    """The labs dataset (module docstring; ``n_oocytes`` recordings per lab, one lab per family), written on first
    use (deterministic)."""
    record_file = labs_dir / "randomized.json"
    if not record_file.is_file():
        from scripts.randomized import generate_randomized_dataset

        print(f"writing the labs dataset to {labs_dir} ...", flush=True)
        generate_randomized_dataset(labs_dir, tuple(families), n_experiments=1, n_oocytes=n_oocytes,
                                    n_frames=LAB_FRAMES, seed=LABS_SEED, workers=2, one_look_per_experiment=True)
    elif json.loads(record_file.read_text())["n_oocytes"] != n_oocytes:
        raise ValueError(f"{labs_dir} holds labs of {json.loads(record_file.read_text())['n_oocytes']} oocytes, "
                         f"not {n_oocytes}: another --families_dir, or --lab_oocytes to match")
    return labs_dir


def lab_items(labs_dir: Path, lab: str, pool_oocytes: int = LAB_POOL_OOCYTES,
              test_oocytes: int | None = None) -> tuple[list[dict], list[dict], dict]:
    """(pool, test, look) of one lab: frames from GVBD on of its first ``pool_oocytes`` oocytes / of its last
    ``test_oocytes`` (default: all but the first LAB_POOL_OOCYTES), so that pools of different sizes are scored on
    the same test recordings."""
    record = json.loads((labs_dir / "randomized.json").read_text())
    oocytes = [o for o in record["oocytes"] if o["experiment"] == lab]
    if not oocytes:
        raise ValueError(f"{labs_dir}: no lab {lab!r}; labs: {sorted({o['experiment'] for o in record['oocytes']})}")
    n_test = len(oocytes) - LAB_POOL_OOCYTES if test_oocytes is None else test_oocytes
    if pool_oocytes < 1 or n_test < 1 or pool_oocytes + n_test > len(oocytes):
        raise ValueError(f"lab {lab!r} has {len(oocytes)} oocytes: {pool_oocytes} labelled and {n_test} test "
                         "recordings do not fit (--lab_oocytes)")
    items = frame_items(labs_dir, "", experiments={lab})
    pool_names = {o["oocyte"] for o in oocytes[:pool_oocytes]}
    test_names = {o["oocyte"] for o in oocytes[len(oocytes) - n_test:]}
    return ([i for i in items if i["oocyte"] in pool_names], [i for i in items if i["oocyte"] in test_names],
            oocytes[0]["look"])


def frame_items(families_dir: Path, experiment_suffix: str, experiments: set[str] | None = None) -> list[dict]:
    """Dense-label items (true mask of every frame) of the held-out families' experiments ``<family><suffix>``
    (or of ``experiments``), frames from GVBD on, in (experiment, oocyte, frame) order."""
    record = json.loads((families_dir / "randomized.json").read_text())
    wanted = experiments if experiments is not None else {f + experiment_suffix for f in HELDOUT_FAMILIES}
    items = []
    for oocyte in record["oocytes"]:
        if oocyte["experiment"] not in wanted:
            continue
        for frame in range(oocyte["gvbd_frame"], record["n_frames"]):
            items.append({"image": oocyte["image"], "frame": frame, "experiment": oocyte["experiment"],
                          "oocyte": oocyte["oocyte"], "time_min": frame * record["frame_interval_min"],
                          "minutes_since_gvbd": (frame - oocyte["gvbd_frame"]) * record["frame_interval_min"],
                          "label": f"ground_truth_masks/{oocyte['experiment']}/{oocyte['oocyte']}.tif"})
    return items


def pick_labels(pool: list[dict], n: int, seed: int = 0, choice: str = "random") -> list[dict]:
    """``n`` frames spread over the oocytes (round robin: the first oocytes get one more where ``n`` does not
    divide) and over each oocyte's series: ``random``, a random order within; ``even``, evenly spaced from GVBD on,
    the GVBD frame (the first with a spindle) always among them (what the docs' step-by-step advises a lab: early
    small spindles and late large ones)."""
    if choice not in LABEL_CHOICES:
        raise ValueError(f"label choice {choice!r}: one of {', '.join(LABEL_CHOICES)}")
    rng = np.random.default_rng(seed)
    by_oocyte: dict[tuple[str, str], list[dict]] = {}
    for item in pool:
        by_oocyte.setdefault((item["experiment"], item["oocyte"]), []).append(item)
    if n > len(pool):
        raise ValueError(f"{n} labels asked for, the pool holds {len(pool)} frames")
    if choice == "random":
        queues = [[frames[i] for i in rng.permutation(len(frames))] for _, frames in sorted(by_oocyte.items())]
    else:
        series = [sorted(frames, key=lambda i: i["frame"]) for _, frames in sorted(by_oocyte.items())]
        counts = [0] * len(series)
        while sum(counts) < n:  # round robin, skipping oocytes whose every frame is taken
            for k, frames in enumerate(series):
                if counts[k] < len(frames) and sum(counts) < n:
                    counts[k] += 1
        # queue.pop() takes from the end: the evenly spaced frames reversed, so the GVBD frame comes first
        queues = [[frames[round(j * len(frames) / m)] for j in range(m)][::-1]
                  for frames, m in zip(series, counts, strict=True)]
    picked = []
    while len(picked) < n and any(queues):
        for queue in queues:
            if queue and len(picked) < n:
                picked.append(queue.pop())
    return picked


def lab_dataset(dataset_dir: Path, labels: list[dict], out: Path) -> Path:
    """``out`` as a lab's dataset folder after labelling ``labels``: its labelled recordings (links to the dataset's
    files), each label's true mask as EXPERIMENT/OOCYTE_masks/tNNNN.tif, and gvbd.csv for those recordings. Fine-
    tuning on it (``--split finetune``) makes its own split (finetune.yaml), as a lab's run does. Written afresh."""
    from scripts.io import read_mask, write_imagej_hyperstack

    if out.exists():
        shutil.rmtree(out)
    for item in labels:
        image = out / item["image"]
        if not image.exists():
            image.parent.mkdir(parents=True, exist_ok=True)
            image.symlink_to((dataset_dir / item["image"]).resolve())
        mask_xyz, meta = read_mask(dataset_dir / item["label"], item["frame"])
        write_imagej_hyperstack(out / item["experiment"] / f"{item['oocyte']}_masks" / f"t{item['frame']:04d}.tif",
                                mask_xyz.transpose(2, 1, 0), "ZYX", meta["spacing_um"])
    recordings = {(i["experiment"], i["oocyte"]) for i in labels}
    with open(dataset_dir / "gvbd.csv") as table:
        rows = [r for r in csv.DictReader(table) if (r["experiment"], r["oocyte"]) in recordings]
    with open(out / "gvbd.csv", "w", newline="") as table:
        writer = csv.DictWriter(table, fieldnames=["experiment", "oocyte", "gvbd_frame"])
        writer.writeheader()
        writer.writerows(rows)
    return out


def evaluate_test_frames(dataset_dir: Path, output_dir: Path, model_path: Path, test_list: Path,
                         extra: Sequence[str] = ()) -> float:
    """``run evaluating`` (evaluate.yaml) of ``model_path`` on the test frames of ``test_list`` (a datalist's
    ``testing``), as every row of the benchmark is scored: no classical baseline, no aMTOC channel, nothing reused
    from an earlier run; ``extra``: more command-line settings (e.g. ``--flip_tta true``). Returns the wall time (s)."""
    return run_evaluating(dataset_dir, output_dir, model_path, overlay=True,
                          extra=["--datalist_file", str(test_list), "--datalist_subset", "testing", "--baseline",
                                 "false", "--amtoc_channel", "null", "--skip_finished", "false", *extra])


def scores_by_stage(output_dir: Path) -> dict:
    """Mean Dice and median |relative volume error| of an evaluation's labelled frames at GVBD (the first frame
    with a spindle, ``minutes_since_gvbd`` 0: a nascent spindle of ~100-1500 um^3) and after it; nan where a stage
    has no frame. The target is the mean over both; this says where its shortfall lies."""
    with open(output_dir / "volumes.csv", newline="") as f:
        rows = [r for r in csv.DictReader(f) if r["has_label"] == "1" and r["dice"] != ""]
    out = {}
    for stage, keep in (("at_gvbd", lambda m: m == 0), ("after_gvbd", lambda m: m > 0)):
        chosen = [r for r in rows if keep(float(r["minutes_since_gvbd"]))]
        out[f"{stage}_frames"] = len(chosen)
        out[f"{stage}_dice"] = float(np.mean([float(r["dice"]) for r in chosen])) if chosen else float("nan")
        out[f"{stage}_volume_error"] = (float(np.median([abs(float(r["rel_volume_error"])) for r in chosen]))
                                        if chosen else float("nan"))
    return out


def band_scores(output_dir: Path) -> dict:
    """The volume band an evaluation wrote on its test frames: the fraction of frames with a spindle whose band
    covers the true volume (issue 17's target: >= 80 %), the median band width / true volume over those covered,
    and which band it is (``generalization.band_kind``: calibrated with its Q, or raw)."""
    from scripts.calibrate_band import band_coverage, frame_arrays
    from scripts.reports import read_rows

    frames = frame_arrays([r for r in read_rows(output_dir / "volumes.csv") if r["has_label"] == 1])
    coverage = band_coverage(frames["lo"], frames["hi"], frames["volume"], frames["ref"], None)  # as written
    return {"band_coverage": coverage["coverage_spindle_frames"], "band_frames": coverage["n_spindle_frames"],
            "band_width": coverage["median_rel_width_covered"], "band": band_kind(output_dir)}


def scores(output_dir: Path) -> dict:
    summary = json.loads((output_dir / "summary.json").read_text())
    return next(r for r in summary["per_experiment"] if r["method"] == "network" and r["experiment"] == "ALL")


def fine_tune(families_dir: Path, datalist: Path | None, ckpt_dir: Path, model_path: Path, epochs: int | None,
              epoch_length: int | None, semi_supervised: bool = False, settings: list[str] = ()) -> float:
    """The documented fine-tuning command (with the semi-supervised overlay on request; ``settings``: KEY=VALUE
    overrides of the recipe, e.g. lr=2e-4); ``datalist`` None: the split finetune.yaml makes of the folder's labels.
    Returns its wall time (s)."""
    overlays = ["train.yaml", "finetune.yaml"] + (["semi_supervised.yaml"] if semi_supervised else [])
    configs = [str(BUNDLE_DIR / "configs" / name) for name in overlays]
    cmd = [sys.executable, "-m", "monai.bundle", "run", "training", "--config_file", repr(configs),
           "--logging_file", str(BUNDLE_DIR / "configs" / "logging.conf"), "--dataset_dir", str(families_dir),
           "--init_weights", str(model_path), "--ckpt_dir", str(ckpt_dir), "--progress_bar", "false"]
    cmd += ["--datalist_file", str(datalist)] if datalist is not None else []
    cmd += ["--epochs", str(epochs)] if epochs is not None else []  # None: finetune.yaml's own
    cmd += ["--epoch_length", str(epoch_length)] if epoch_length is not None else []
    for setting in settings:
        key, _, value = setting.partition("=")
        cmd += [f"--{key}", value]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO_DIR, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"fine-tuning failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
    return time.perf_counter() - start


def tasks(args) -> tuple[Path, list[tuple[str, list[dict], list[dict], str]]]:
    """(dataset folder, [(name, label pool, test items, description)]) of the chosen scenario."""
    if args.scenario == "mixed":
        families_dir = ensure_families((args.families_dir or REPO_DIR / "data" / "renderer_families").resolve())
        return families_dir, [("mixed", frame_items(families_dir, "1"), frame_items(families_dir, "2"),
                               "every oocyte its own look, 3 held-out families")]
    default_dir = "labs" if args.lab_oocytes == LAB_OOCYTES else f"labs_{args.lab_oocytes}_oocytes"
    # a larger lab is written for the asked labs' families only (one lab per family: heldout_texture1 is
    # heldout_texture's); the default labs dataset always holds all three
    families = (HELDOUT_FAMILIES if args.lab_oocytes == LAB_OOCYTES or not args.labs
                else sorted({re.sub(r"\d+$", "", lab) for lab in args.labs}))
    labs_dir = ensure_labs((args.families_dir or REPO_DIR / "data" / default_dir).resolve(), args.lab_oocytes,
                           families)
    record = json.loads((labs_dir / "randomized.json").read_text())
    names = args.labs or sorted({o["experiment"] for o in record["oocytes"]})
    out = []
    for lab in names:
        pool, test, look = lab_items(labs_dir, lab, args.pool_oocytes, args.test_oocytes)
        out.append((lab, pool, test, f"{look['texture']}, {look['camera']}, contrast {look['contrast']:.1f}, "
                                     f"{look['photons_e']:.0f} photons, PSF {look['psf_xy_um']:.2f} / "
                                     f"{look['psf_z_um']:.1f} um"))
    return labs_dir, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", choices=["labs", "mixed"], default="labs")
    parser.add_argument("--labels", type=int, nargs="+", default=[1, 3, 10, 30])
    parser.add_argument("--labs", nargs="+", default=None, help="labs scenario: these labs only (default: all three)")
    parser.add_argument("--semi_supervised", action="store_true",
                        help="also fine-tune each N with configs/semi_supervised.yaml added (the mean teacher)")
    parser.add_argument("--lab_oocytes", type=int, default=LAB_OOCYTES,
                        help="labs scenario: recordings per lab (another number writes data/labs_<N>_oocytes)")
    parser.add_argument("--pool_oocytes", type=int, default=LAB_POOL_OOCYTES,
                        help="labs scenario: the labels come from the lab's first this many oocytes")
    parser.add_argument("--test_oocytes", type=int, default=None,
                        help="labs scenario: score on the lab's last this many oocytes (default: all but the first "
                             f"{LAB_POOL_OOCYTES})")
    parser.add_argument("--label_choice", choices=LABEL_CHOICES, default="random",
                        help="which frames of a labelled oocyte are labelled: random, or evenly spaced from GVBD on")
    parser.add_argument("--split", choices=SPLITS, default="benchmark",
                        help="benchmark: the N labels all train and validation is on them (the runs recorded until "
                             "2026-12-07); finetune: the N labels written as a lab's dataset folder, which "
                             "finetune.yaml splits itself (80:20: validation on the held-out labels), as a lab's run")
    parser.add_argument("--no_zero_shot", action="store_true", help="skip N = 0 (the shipped model itself)")
    parser.add_argument("--epochs", type=int, default=None, help="fine-tuning epochs (default: finetune.yaml's)")
    parser.add_argument("--epoch_length", type=int, default=None, help="steps per epoch (default: finetune.yaml's)")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", dest="settings",
                        help="fine-tuning recipe overrides (train.yaml / finetune.yaml keys), e.g. lr=2e-4 patch_mode=true")
    parser.add_argument("--model_path", type=Path, default=BUNDLE_DIR / "models" / "fast" / "model.pt",
                        help="the weights fine-tuning starts from and N = 0 scores (default: finetune.yaml's start, "
                             "the shipped fast model)")
    parser.add_argument("--families_dir", type=Path, default=None,
                        help="dataset folder (default data/labs, or data/renderer_families for --scenario mixed)")
    parser.add_argument("--work_dir", type=Path, default=None, help="default data/label_efficiency_<scenario>")
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown table here")
    parser.add_argument("--plot", type=Path, default=None, help="write the curve (PNG) here")
    args = parser.parse_args(argv)
    dataset_dir, chosen = tasks(args)
    work_dir = (args.work_dir or REPO_DIR / "data" / f"label_efficiency_{args.scenario}").resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    variants = [False, True] if args.semi_supervised else [False]
    rows = []
    for name, pool, test, description in chosen:
        test_list = work_dir / f"{name}_datalist_test.json"
        test_list.write_text(json.dumps({"testing": test}, indent=1))
        runs = ([] if args.no_zero_shot else [(0, False)]) + [(n, v) for n in args.labels for v in variants]
        for n, semi in runs:
            pool_tag = "" if args.pool_oocytes == LAB_POOL_OOCYTES else f"_from_{args.pool_oocytes}_oocytes"
            pool_tag += "" if args.label_choice == "random" else f"_{args.label_choice}"
            pool_tag += "" if args.split == "benchmark" else f"_{args.split}_split"
            labels = pick_labels(pool, n, choice=args.label_choice) if n else []
            tag = f"{name}_{n}_labels{pool_tag}" + ("_semi" if semi else "") + "".join(f"_{x}" for x in args.settings)
            model_path, seconds = args.model_path.resolve(), 0.0
            if n > 0:
                if args.split == "finetune":
                    train_dir, datalist = lab_dataset(dataset_dir, labels, work_dir / f"{tag}_dataset"), None
                else:
                    train_dir, datalist = dataset_dir, work_dir / f"{name}_datalist_{n}_labels{pool_tag}.json"
                    datalist.write_text(json.dumps({"training": labels, "validation": [],
                                                    "testing": test}, indent=1))
                seconds = fine_tune(train_dir, datalist, work_dir / tag, model_path, args.epochs,
                                    args.epoch_length, semi_supervised=semi, settings=args.settings)
                model_path = work_dir / tag / "model.pt"
            output_dir = work_dir / f"eval_{tag}"
            evaluate_test_frames(dataset_dir, output_dir, model_path, test_list)
            s, stages, band = scores(output_dir), scores_by_stage(output_dir), band_scores(output_dir)
            calibration_file = work_dir / tag / "band_calibration.json"
            calibration_seconds = (json.loads(calibration_file.read_text()).get("evaluation_seconds", 0.0)
                                   if n > 0 and calibration_file.is_file() else 0.0)
            rows.append({"data": name, "look": description, "labels": n,
                         "labelled_oocytes": len({(i["experiment"], i["oocyte"]) for i in labels}),
                         "labelled_at_gvbd": sum(i["minutes_since_gvbd"] == 0 for i in labels),
                         "method": "mean teacher" if semi else ("zero-shot" if n == 0 else "supervised"),
                         "dice": s["mean_dice"], "volume_error": s["median_abs_rel_volume_error"],
                         "frames": s["n_labelled"], "seconds": seconds, "calibration_seconds": calibration_seconds,
                         **stages, **band})
            print(rows[-1], flush=True)
    shipped_models = {(BUNDLE_DIR / "models" / "model.pt").resolve(): "shipped model",
                      (BUNDLE_DIR / "models" / "fast" / "model.pt").resolve(): "shipped fast model"}
    shipped = shipped_models.get(args.model_path.resolve())
    start = f"0 ({shipped or 'starting model'})"
    steps = (f"at most {args.epochs or 'finetune.yaml'} epochs x {args.epoch_length or 'finetune.yaml'} steps"
             " within finetune.yaml's time budget")
    lines = [f"### Label efficiency, scenario `{args.scenario}` ({cpu_model()}; {steps}"
             + (f"; starting from the {shipped}" if shipped else f"; starting model {args.model_path}")
             + (f"; recipe overrides {' '.join(args.settings)}" if args.settings else "")
             + f"; labels chosen {args.label_choice}"
             + ("; split by finetune.yaml from a lab's folder of the labels" if args.split == "finetune"
                else "; every label trains, validation on them") + ")", "",
             "| data | look | labelled frames | fine-tuning | test frames | mean Dice | median abs. rel. volume error "
             "| at GVBD: frames, mean Dice, volume error | after GVBD: frames, mean Dice, volume error "
             "| volume band: coverage of the true volume, median width | fine-tuning wall time (of it: the band's calibration) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        labels = (f"{r['labels']} ({r['labelled_oocytes']} oocytes, {r['labelled_at_gvbd']} at GVBD)"
                  if r["labels"] else start)
        lines.append(f"| {r['data']} | {r['look']} | {labels} | {r['method']} | "
                     f"{r['frames']} | {r['dice']:.3f} | {100 * r['volume_error']:.1f} % | "
                     f"{r['at_gvbd_frames']}, {r['at_gvbd_dice']:.3f}, {100 * r['at_gvbd_volume_error']:.1f} % | "
                     f"{r['after_gvbd_frames']}, {r['after_gvbd_dice']:.3f}, "
                     f"{100 * r['after_gvbd_volume_error']:.1f} % | {100 * r['band_coverage']:.0f} % of "
                     f"{r['band_frames']}, {100 * r['band_width']:.0f} % ({r['band']}) | {r['seconds'] / 60:.1f} min"
                     f" ({r['calibration_seconds']:.0f} s) |")
    print_report(lines, args.out)
    if args.plot:
        from matplotlib.figure import Figure

        fig = Figure(figsize=(5.5, 3.8), dpi=100)
        ax = fig.subplots()
        for (name, method), marker in zip(sorted({(r["data"], r["method"] if r["labels"] else "supervised")
                                                  for r in rows}), "osD^v<>", strict=False):
            pts = sorted((max(r["labels"], 0.5), r["dice"]) for r in rows
                         if r["data"] == name and (r["method"] == method or r["labels"] == 0))
            ax.plot(*zip(*pts, strict=True), marker=marker, ls="-" if method == "supervised" else "--",
                    label=f"{name} ({method})")
        ax.set_xscale("log")
        ax.axhline(0.93, color="0.5", ls=":", label="target 0.93")
        ax.set_xlabel("labelled frames (0 plotted at 0.5: the shipped model)")
        ax.set_ylabel("mean Dice, test recordings")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(args.plot)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
