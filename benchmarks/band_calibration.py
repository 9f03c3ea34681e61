"""Does the calibrated volume band cover the true volume on >= 80 % of frames it was not fitted on? (issue 17, part 3)

    .venv/bin/python benchmarks/band_calibration.py [--model_path M] [--work_dir data/band_calibration]
        [--house_dir data/train_phantom] [--families_dir data/renderer_families] [--coverage 0.8] [--out FILE.md]
        [--write_calibration bundle/models/band_calibration.json]

Evaluates (``run evaluating`` with ``--band_calibration null``: the raw band; reused when the folder's
volumes.csv exists) and fits ``scripts.calibrate_band`` on one labelled set, then measures coverage on another:

(a) **house phantom** (``--house_dir``, the data the shipped weights were trained on): fitted on its 14
    validation frames (12 validation oocytes, one or two frames each from GVBD: the only frames outside the test
    oocytes the shipped weights were not trained on; the other frames of those oocytes are training frames of the
    dense runs), tested on every frame of the 6 test oocytes (144 frames, true masks); and, with more calibration
    frames of the same kind, leave-one-oocyte-out over the test oocytes (fitted on 5 oocytes' 120 frames, or their
    100 frames from GVBD as a lab labels them, tested on the 6th's 24, pooled over the 6 folds);
(b) **renderer families** (``--families_dir``, ``benchmarks/generalization.py``'s seed-101 set, every frame, true
    masks) with the house-fitted Q: another look than the calibration frames;
(c) **a lab's own calibration**: per held-out family, fitted on its first experiment (every frame, 3 oocytes),
    tested on its second; and fitted on 10 labelled frames from GVBD of the first experiment (``label_efficiency``'s
    spread over oocytes and time), over 200 random picks (mean and 10-90 % range of the coverage);
(d) **the lab's fine-tuned model** (``--finetuned_dir``: ``benchmarks/label_efficiency.py``'s model fine-tuned on 10
    labels of the held-out families' first experiments, and its evaluation of their second experiments): fitted on
    the first experiments' other frames from GVBD (not its training frames), or on 10 of them (200 random picks),
    tested on the second experiments' frames from GVBD.

Reported per row: frames, coverage over all frames and over the frames with a spindle (V > 0; frames with an empty
mask and an empty reference are covered by any band), and the width: the median (hi - lo) / V over the covered
spindle frames (a band that covers by being huge is useless). The raw band's coverage is beside it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
BUNDLE_DIR = REPO_DIR / "bundle"
if str(BUNDLE_DIR) not in sys.path:
    sys.path.insert(0, str(BUNDLE_DIR))

import numpy as np  # noqa: E402
from common import print_report  # noqa: E402
from generalization import run_evaluating  # noqa: E402
from label_efficiency import HELDOUT_FAMILIES, frame_items, pick_labels  # noqa: E402
from scripts.calibrate_band import (  # noqa: E402
    apply_band_calibration,
    band_coverage,
    fit_band_calibration,
    fit_quantile,
    frame_arrays,
)
from scripts.io import file_sha256  # noqa: E402
from scripts.reports import read_rows  # noqa: E402

FAMILIES = ("train", *HELDOUT_FAMILIES)
LAB_LABELS = 10
LAB_DRAWS = 200


def house_lists(house_dir: Path, work_dir: Path) -> dict[str, Path]:
    """Datalists: the validation frames (sparse labels) and every frame of the test oocytes (true masks)."""
    dense = json.loads((house_dir / "datalist_dense.json").read_text())
    every = [{**i, "label": f"ground_truth_masks/{i['experiment']}/{i['oocyte']}.tif"} for i in dense["inference"]]
    lists = {"house_validation": dense["validation"], "house_test": every}
    paths = {}
    for name, items in lists.items():
        paths[name] = work_dir / f"{name}.json"
        paths[name].write_text(json.dumps({"testing": items}, indent=1))
    return paths


def family_list(families_dir: Path, work_dir: Path) -> Path:
    """Every frame of every oocyte of the renderer-family set, each against its true mask."""
    record = json.loads((families_dir / "randomized.json").read_text())
    items = [{"image": o["image"], "frame": f, "experiment": o["experiment"], "oocyte": o["oocyte"],
              "time_min": f * record["frame_interval_min"],
              "minutes_since_gvbd": (f - o["gvbd_frame"]) * record["frame_interval_min"],
              "label": f"ground_truth_masks/{o['experiment']}/{o['oocyte']}.tif"}
             for o in record["oocytes"] for f in range(record["n_frames"])]
    path = work_dir / "families.json"
    path.write_text(json.dumps({"testing": items}, indent=1))
    return path


def evaluate(dataset_dir: Path, datalist: Path, output_dir: Path, model_path: Path,
             settings: dict[str, str] | None = None) -> Path:
    """``run evaluating`` of ``datalist`` into ``output_dir`` (``settings``: more inference.yaml settings), reused
    where that folder already holds an evaluation by the same weights (its model.json's sha256) with the same
    settings: a calibration fitted on another model's volumes would be refused by the model it is shipped with."""
    settings = settings or {}
    made_by, made_with = output_dir / "model.json", output_dir / "benchmark_settings.json"
    same_model = made_by.is_file() and json.loads(made_by.read_text()).get("sha256") == file_sha256(model_path)
    same_settings = json.loads(made_with.read_text()) == settings if made_with.is_file() else not settings
    if not ((output_dir / "volumes.csv").is_file() and same_model and same_settings):
        shutil.rmtree(output_dir, ignore_errors=True)  # this benchmark's own work folder: another model's evaluation
        seconds = run_evaluating(dataset_dir, output_dir, model_path, overlay=True, extra=[
            "--datalist_file", str(datalist), "--datalist_subset", "testing", "--baseline", "false",
            "--amtoc_channel", "null", "--band_calibration", "null",
            *(arg for key, value in settings.items() for arg in (f"--{key}", value))])
        made_with.write_text(json.dumps(settings))
        print(f"evaluated {output_dir.name} in {seconds:.0f} s", flush=True)
    return output_dir / "volumes.csv"


def arrays(rows, keep=lambda r: True) -> dict:
    return frame_arrays([r for r in rows if keep(r)])


def measure(frames: dict, calibration) -> dict:
    a = (frames["lo"], frames["hi"], frames["volume"], frames["ref"])
    return {"calibrated": band_coverage(*a, calibration), "raw": band_coverage(*a, None)}


def row(name: str, fit_on: str, q: float, m: dict) -> str:
    c, r = m["calibrated"], m["raw"]
    width = c["median_rel_width_covered"]
    return (f"| {name} | {fit_on} | {q:.2f} | {c['n_frames']} ({c['n_spindle_frames']}) | "
            f"{100 * c['coverage']:.0f} % | {100 * c['coverage_spindle_frames']:.0f} % | "
            f"{'-' if not np.isfinite(width) else f'{100 * width:.0f} %'} | "
            f"{100 * r['coverage']:.0f} % / {100 * r['coverage_spindle_frames']:.0f} % |")


def finetuned_rows(args, work_dir: Path, rng) -> list[str]:
    """(d): the model fine-tuned on 10 labels, calibrated on other frames of the same (first) experiments."""
    finetuned = args.finetuned_dir.resolve()
    families_dir = args.families_dir.resolve()
    trained = {(i["experiment"], i["oocyte"], i["frame"])
               for i in json.loads((finetuned / "datalist_10_labels.json").read_text())["training"]}
    items = [i for i in frame_items(families_dir, "1") if (i["experiment"], i["oocyte"], i["frame"]) not in trained]
    datalist = work_dir / "finetuned_first_experiments.json"
    datalist.write_text(json.dumps({"testing": items}, indent=1))
    first_rows = read_rows(evaluate(families_dir, datalist, work_dir / "eval_finetuned10_first",
                                    finetuned / "10_labels" / "model.pt"))
    second_rows = read_rows(finetuned / "eval_10_labels" / "volumes.csv")
    lines = ["", "(d) the model fine-tuned on 10 labels of the held-out families' first experiments "
             f"({finetuned.name}/10_labels), calibrated on other frames of those experiments; coverage of the second "
             "experiments' frames from GVBD:", "",
             "| test frames | fitted on | Q | frames (with a spindle) | coverage, all frames | coverage, frames with "
             "a spindle | median width / V (covered) | raw band coverage (all / spindle) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for family in (None, *HELDOUT_FAMILIES):
        def mine(r, f=family):
            return f is None or r["experiment"].rstrip("12") == f
        first, second = arrays(first_rows, mine), arrays(second_rows, mine)
        fit = fit_quantile(first["lo"], first["hi"], first["volume"], first["ref"], args.coverage)
        name = "all three held-out families" if family is None else f"`{family}`"
        lines.append(row(f"{name}, second experiments", f"the first experiments' {fit['n_frames']} frames from GVBD "
                         "not fine-tuned on", fit["quantile"], measure(second, fit)))
    pool = first_rows
    second = arrays(second_rows)
    qs, covs, widths = lab_draws(pool, second, rng, args.coverage)
    lines += ["", f"(d) with {LAB_LABELS} more labelled frames for the calibration ({LAB_DRAWS} random picks among "
              f"the {len(pool)}): mean Q {np.mean(qs):.2f}, coverage of the second experiments' frames with a spindle "
              f"{100 * np.mean(covs):.0f} % on average ({100 * np.quantile(covs, 0.1):.0f}-"
              f"{100 * np.quantile(covs, 0.9):.0f} % of picks), median width / V {100 * np.nanmedian(widths):.0f} %"]
    return lines


def lab_draws(pool: list[dict], second: dict, rng: np.random.Generator, coverage: float) -> tuple[list, list, list]:
    """A lab's case, LAB_DRAWS times: fit on LAB_LABELS frames picked from ``pool``, measure on ``second``; the
    quantiles, coverages of the frames with a spindle and median relative widths of the covered frames."""
    qs, covs, widths = [], [], []
    for _ in range(LAB_DRAWS):
        picked = arrays(pick_labels(pool, LAB_LABELS, seed=int(rng.integers(1 << 31))))
        fit = fit_quantile(picked["lo"], picked["hi"], picked["volume"], picked["ref"], coverage)
        m = measure(second, fit)["calibrated"]
        covs.append(m["coverage_spindle_frames"])
        qs.append(fit["quantile"])
        widths.append(m["median_rel_width_covered"])
    return qs, covs, widths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_path", type=Path, default=BUNDLE_DIR / "models" / "model.pt")
    parser.add_argument("--work_dir", type=Path, default=REPO_DIR / "data" / "band_calibration")
    parser.add_argument("--house_dir", type=Path, default=REPO_DIR / "data" / "train_phantom")
    parser.add_argument("--families_dir", type=Path, default=REPO_DIR / "data" / "renderer_families")
    parser.add_argument("--finetuned_dir", type=Path, default=REPO_DIR / "data" / "label_efficiency",
                        help="label_efficiency.py's work folder: 10_labels/model.pt, datalist_10_labels.json and "
                             "eval_10_labels/ (skipped when absent)")
    parser.add_argument("--coverage", type=float, default=0.8)
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown table here")
    parser.add_argument("--write_calibration", type=Path, default=None,
                        help="write the house-fitted calibration (a) to this file (the shipped one)")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", dest="settings",
                        help="inference.yaml settings for every evaluation, e.g. model=fast (its int8 model where "
                             "the CPU runs int8 by default)")
    args = parser.parse_args(argv)
    settings = dict(setting.partition("=")[::2] for setting in args.settings)
    work_dir, model_path = args.work_dir.resolve(), args.model_path.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    lists = house_lists(args.house_dir.resolve(), work_dir)
    val_csv = evaluate(args.house_dir.resolve(), lists["house_validation"], work_dir / "eval_house_validation",
                       model_path, settings)
    test_csv = evaluate(args.house_dir.resolve(), lists["house_test"], work_dir / "eval_house_test", model_path,
                        settings)
    fam_csv = evaluate(args.families_dir.resolve(), family_list(args.families_dir.resolve(), work_dir),
                       work_dir / "eval_families", model_path, settings)

    house = fit_band_calibration([val_csv], args.coverage, description=(
        "house phantom (data/train_phantom, scripts.phantom seed 1): the 14 validation frames of datalist.json "
        "(12 validation oocytes, frames from GVBD, sparse labels), evaluated with configs/evaluate.yaml "
        "(--baseline false --amtoc_channel null --band_calibration null"
        + "".join(f" --{key} {value}" for key, value in settings.items())
        + "); the shipped weights were trained on the other frames of these oocytes, not on these; checkpoint "
        "selection used them"))
    if args.write_calibration:
        args.write_calibration.write_text(json.dumps(house, indent=1) + "\n")
    lines = [f"### Volume band calibration, {model_path.name} (sha256 {house['model_sha256'][:12]}), target "
             f"coverage {args.coverage:.0%} (benchmarks/band_calibration.py"
             + "".join(f", {key} {value}" for key, value in settings.items()) + ")", "",
             "| test frames | fitted on | Q | frames (with a spindle) | coverage, all frames | coverage, frames with "
             "a spindle | median width / V (covered) | raw band coverage (all / spindle) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    house_fit = f"house validation frames (n = {house['n_frames']})"
    # (a) house
    test_rows = read_rows(test_csv)
    lines.append(row("house phantom, every frame of the 6 test oocytes", house_fit, house["quantile"],
                     measure(arrays(test_rows), house)))
    sparse = {(i["experiment"], i["oocyte"], i["frame"])
              for i in json.loads((args.house_dir / "datalist.json").read_text())["testing"]}
    lines.append(row(f"house phantom, the {len(sparse)} labelled test frames of datalist.json", house_fit,
                     house["quantile"], measure(arrays(test_rows, lambda r: (r["experiment"], r["oocyte"], r["frame"])
                                                       in sparse), house)))
    test_oocytes = sorted({(r["experiment"], r["oocyte"]) for r in test_rows})
    for from_gvbd in (False, True):  # calibration frames: every frame, or (as a lab labels) frames from GVBD
        tested, bands, qs = [], [], []
        for held in test_oocytes:
            cal = arrays(test_rows, lambda r, h=held, g=from_gvbd: (r["experiment"], r["oocyte"]) != h
                         and (not g or r["minutes_since_gvbd"] >= 0))
            fit = fit_quantile(cal["lo"], cal["hi"], cal["volume"], cal["ref"], args.coverage)
            frames = arrays(test_rows, lambda r, h=held: (r["experiment"], r["oocyte"]) == h)
            tested.append(frames)
            qs.append(fit["quantile"])
            bands += [apply_band_calibration(a, b, v, fit)
                      for a, b, v in zip(frames["lo"], frames["hi"], frames["volume"], strict=True)]
        pooled = {k: np.concatenate([f[k] for f in tested]) for k in ("lo", "hi", "volume", "ref")}
        bands = np.array(bands)  # each frame's band from the fit that left its oocyte out
        m = {"calibrated": band_coverage(bands[:, 0], bands[:, 1], pooled["volume"], pooled["ref"], None),
             "raw": band_coverage(pooled["lo"], pooled["hi"], pooled["volume"], pooled["ref"], None)}
        lines.append(row("house phantom, every frame of the 6 test oocytes", f"the other 5 test oocytes' "
                         f"{'frames from GVBD (100)' if from_gvbd else 'frames (120)'}, leave one oocyte out; mean Q",
                         float(np.mean(qs)), m))
    # (b) renderer families with the house Q
    fam_rows = read_rows(fam_csv)
    for family in FAMILIES:
        lines.append(row(f"renderer family `{family}`, every frame (6 oocytes)", house_fit, house["quantile"],
                         measure(arrays(fam_rows, lambda r, f=family: r["experiment"].rstrip("12") == f), house)))
    # (c) the lab's own calibration on its first experiment, tested on its second
    lab_lines = ["", f"(c) a lab's own calibration: {LAB_LABELS} labelled frames from GVBD of the first experiment, "
                 f"{LAB_DRAWS} random picks; coverage of the second experiment's frames with a spindle:", "",
                 "| held-out family | mean Q | mean coverage (10-90 % of picks) | median width / V (covered) |",
                 "| --- | --- | --- | --- |"]
    rng = np.random.default_rng(0)
    for family in HELDOUT_FAMILIES:
        first = arrays(fam_rows, lambda r, f=family: r["experiment"] == f"{f}1")
        second = arrays(fam_rows, lambda r, f=family: r["experiment"] == f"{f}2")
        fit = fit_quantile(first["lo"], first["hi"], first["volume"], first["ref"], args.coverage)
        lines.append(row(f"renderer family `{family}`, second experiment", f"its first experiment, every frame "
                         f"(n = {fit['n_frames']})", fit["quantile"], measure(second, fit)))
        pool = [r for r in fam_rows if r["experiment"] == f"{family}1" and r["minutes_since_gvbd"] >= 0]
        qs, covs, widths = lab_draws(pool, second, rng, args.coverage)
        lab_lines.append(f"| `{family}` | {np.mean(qs):.2f} | {100 * np.mean(covs):.0f} % "
                         f"({100 * np.quantile(covs, 0.1):.0f}-{100 * np.quantile(covs, 0.9):.0f} %) | "
                         f"{100 * np.nanmedian(widths):.0f} % |")
    if (args.finetuned_dir / "eval_10_labels" / "volumes.csv").is_file():
        lab_lines += finetuned_rows(args, work_dir, rng)
    print_report(lines + lab_lines, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
