"""The biology read from a series against a phantom whose answers are known: GVBD frame and spindle phenotype.

    .venv/bin/python benchmarks/biology.py --dataset_dir data/train_phantom [--model_path M] [--out FILE.md]

The house phantom (``scripts.phantom``, written with ``--true-masks``) knows every oocyte's GVBD frame and phenotype
(``phantom.json``: bipolar, short, monopolar, multipolar). ``scripts.biology`` estimates the GVBD frame from the
volume series and calls the phenotype from the aMTOC poles of the frames with an assembled spindle (a short spindle
is bipolar). Two rows of figures, each naming the masks it used:

1. **true masks** of every oocyte in the dataset: the analysis itself, given a perfect segmentation;
2. **the network's masks** (``--model_path``): ``run evaluating`` (inference.yaml + evaluate.yaml, aMTOC channel 2,
   no baseline) on every frame of the dataset's test oocytes (its ``datalist.json`` ``inference`` list), the
   estimates read from ``summary_per_oocyte.csv`` as a user gets them.

Targets (issue 18): GVBD within +-1 frame for >= 90 % of oocytes; phenotype calls >= 90 % correct. Prints the
accuracy and a confusion table per row.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
BUNDLE_DIR = REPO_DIR / "bundle"
if str(BUNDLE_DIR) not in sys.path:
    sys.path.insert(0, str(BUNDLE_DIR))

import numpy as np  # noqa: E402
from generalization import run_evaluating  # noqa: E402
from scripts.biology import POLARITY_STATES, count_poles, estimate_gvbd, oocyte_phenotype, polarity_state  # noqa: E402
from scripts.io import read_frame  # noqa: E402
from scripts.reports import read_rows  # noqa: E402

AMTOC_CHANNEL = 2
EXPECTED_CALL = {"bipolar": "bipolar", "short": "bipolar", "monopolar": "monopolar", "multipolar": "multipolar"}


def truth_calls(dataset_dir: Path) -> list[dict]:
    """Per oocyte: known and estimated GVBD, phenotype and call, from the true masks and the aMTOC channel."""
    phantom = json.loads((dataset_dir / "phantom.json").read_text())
    spacing = phantom["spacing_um_xyz"]
    results = []
    for oocyte in phantom["oocytes"]:
        volumes = oocyte["volumes_um3"]
        masks = dataset_dir / "ground_truth_masks" / oocyte["experiment"] / f"{oocyte['oocyte']}.tif"
        states = []
        for frame, volume in enumerate(volumes):
            if volume == 0:
                states.append("none")
                continue
            mask, _ = read_frame(masks, frame, None)
            amtoc, _ = read_frame(dataset_dir / oocyte["image"], frame, AMTOC_CHANNEL)
            states.append(polarity_state(count_poles(mask.transpose(2, 1, 0) > 0, amtoc.transpose(2, 1, 0), spacing)))
        estimate, confidence = estimate_gvbd(volumes)
        call, fraction = oocyte_phenotype(volumes, states)
        results.append({"oocyte": f"{oocyte['experiment']}/{oocyte['oocyte']}", "gvbd": oocyte["gvbd_frame"],
                        "gvbd_estimated": estimate, "confidence": confidence, "phenotype": oocyte["phenotype"],
                        "call": call, "fraction": fraction})
        print(results[-1], flush=True)
    return results


def network_calls(dataset_dir: Path, model_path: Path, output_dir: Path) -> list[dict]:
    """The same per-oocyte results from ``run evaluating`` on every frame of the dataset's test oocytes."""
    run_evaluating(dataset_dir, output_dir, model_path, overlay=True,
                   extra=["--datalist_file", str(dataset_dir / "datalist.json"), "--datalist_subset", "inference",
                          "--baseline", "false", "--amtoc_channel", str(AMTOC_CHANNEL)])
    phantom = {(o["experiment"], o["oocyte"]): o for o in json.loads((dataset_dir / "phantom.json").read_text())["oocytes"]}
    results = []
    for row in read_rows(output_dir / "summary_per_oocyte.csv"):
        if row["method"] != "network":
            continue
        truth = phantom[(row["experiment"], row["oocyte"])]
        estimate = row["gvbd_frame_estimated"]
        results.append({"oocyte": f"{row['experiment']}/{row['oocyte']}", "gvbd": truth["gvbd_frame"],
                        "gvbd_estimated": int(estimate) if np.isfinite(estimate) else None,
                        "confidence": row["gvbd_confidence"], "phenotype": truth["phenotype"],
                        "call": row["phenotype"] or "none", "fraction": row["phenotype_fraction"]})
        print(results[-1], flush=True)
    return results


def table(results: list[dict], masks: str) -> str:
    n = len(results)
    gvbd_ok = sum(r["gvbd_estimated"] is not None and abs(r["gvbd_estimated"] - r["gvbd"]) <= 1 for r in results)
    call_ok = sum(r["call"] == EXPECTED_CALL[r["phenotype"]] for r in results)
    lines = [f"#### {masks}: {n} oocytes", "",
             f"- GVBD frame within +-1 frame: {gvbd_ok} / {n} ({100 * gvbd_ok / max(n, 1):.0f} %; target >= 90 %); "
             f"exact: {sum(r['gvbd_estimated'] == r['gvbd'] for r in results)} / {n}",
             f"- phenotype call correct: {call_ok} / {n} ({100 * call_ok / max(n, 1):.0f} %; target >= 90 %)", "",
             "| phenotype (truth) | " + " | ".join(f"called {s}" for s in POLARITY_STATES) + " |",
             "| --- | " + " | ".join("---" for _ in POLARITY_STATES) + " |"]
    for phenotype in EXPECTED_CALL:
        counts = Counter(r["call"] for r in results if r["phenotype"] == phenotype)
        if counts:
            lines.append(f"| {phenotype} | " + " | ".join(str(counts.get(s, 0)) for s in POLARITY_STATES) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset_dir", type=Path, required=True, help="a house phantom dataset with true masks")
    parser.add_argument("--model_path", type=Path, default=None, help="also measure the network's masks")
    parser.add_argument("--out", type=Path, default=None, help="write the markdown tables here too")
    args = parser.parse_args(argv)
    report = [f"### Biology from the series: {args.dataset_dir}", "", table(truth_calls(args.dataset_dir), "true masks")]
    if args.model_path is not None:
        with tempfile.TemporaryDirectory() as tmp:
            results = network_calls(args.dataset_dir.resolve(), args.model_path.resolve(), Path(tmp) / "eval")
        report.append(table(results, f"the network's masks ({args.model_path}), test oocytes"))
    text = "\n".join(report)
    print(text)
    if args.out is not None:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
