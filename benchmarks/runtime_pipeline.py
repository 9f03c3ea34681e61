"""`evaluating` end to end with each CPU runtime (PyTorch, OpenVINO float and int8) on real-size house phantom oocytes.

    .venv/bin/python benchmarks/runtime_pipeline.py [--oocytes 2] [--baseline false] [--precision auto] [--out FILE.md]

An AVX2-only CPU can be approximated on a newer one: ``ONEDNN_MAX_CPU_ISA=AVX2`` (honoured by PyTorch's and
OpenVINO's oneDNN) with ``--precision fp32`` (what ``auto`` picks without native bf16).

The house phantom's test oocytes (data/train_phantom, 400 x 400 x 31 frames, the 352 x 352 crop; generated as
training_state/README.md says) are evaluated by ``eval_child.py`` (inference.yaml + evaluate.yaml, unchanged) once
per runtime, alternating, in the same session: steady frames/s (after the first frame), the median time per stage,
peak memory, and the masks' agreement with the PyTorch run (Dice per frame with a spindle, |volume difference|).
A third run, OpenVINO with a loader worker process (``--num_workers 1``, the default before 0.4.5), measures what
loading each frame between the forward passes (``num_workers auto`` = 0 on a CPU) gains; a fourth, the int8 model
(``--int8 true``: models/model_int8.xml; ``--int8 auto``, the default, runs it on CPUs without native bf16), what int8
gains; the float rows pass ``--int8 false``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile
from common import REPO_DIR, cpu_model, cpu_vector_isa, fmt_gb, print_report
from pipeline import run_evaluating, stage_summary, steady_fps

DATASET = REPO_DIR / "data" / "train_phantom"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--oocytes", type=int, default=2, help="test oocytes to evaluate (24 frames each)")
    parser.add_argument("--baseline", choices=["true", "false"], default="false",
                        help="the classical baseline on labelled frames (~10 s each: it dominates a labelled run)")
    parser.add_argument("--precision", default="auto", help="inference.yaml's precision for every run (auto, fp32, bf16)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    if not (DATASET / "datalist.json").is_file():
        print(f"{DATASET} not generated (training_state/README.md)", file=sys.stderr)
        return 1
    inference = json.loads((DATASET / "datalist.json").read_text())["inference"]
    oocytes = sorted({(i["experiment"], i["oocyte"]) for i in inference})[:args.oocytes]
    items = [i for i in inference if (i["experiment"], i["oocyte"]) in oocytes]
    load_at_start = os.getloadavg()[0]
    results, masks = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        datalist = Path(tmp) / "datalist.json"
        datalist.write_text(json.dumps({"inference": items}))
        runs = {"torch": {"runtime": "torch"}, "openvino": {"runtime": "openvino", "int8": "false"},
                "openvino, --num_workers 1": {"runtime": "openvino", "int8": "false", "num_workers": 1},
                "openvino int8 (--int8 true)": {"runtime": "openvino", "int8": "true"}}
        for i, (name, settings) in enumerate(runs.items()):
            out = Path(tmp) / f"run{i}"
            overrides = {"dataset_dir": str(DATASET), "datalist_file": str(datalist), "output_dir": str(out),
                         "progress_bar": False, "baseline": args.baseline == "true", "precision": args.precision,
                         **settings}
            print(f"evaluating {len(items)} frames: {name} ...", file=sys.stderr, flush=True)
            results[name] = run_evaluating(overrides, Path(tmp) / f"run{i}_timing.json")
            masks[name] = {o: tifffile.imread(out / "masks" / o[0] / f"{o[1]}.tif") > 0 for o in oocytes}
    def agreement(name: str) -> str:
        """The run's masks against PyTorch's: Dice per frame with a spindle, |volume difference| per frame >= 50 um^3."""
        dice, volume = [], []
        for o in oocytes:
            for a, b in zip(masks["torch"][o], masks[name][o], strict=True):
                if a.any() or b.any():
                    dice.append(2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b)))
                if np.count_nonzero(a) * 0.17 * 0.17 * 2.0 >= 50:
                    volume.append(abs(np.count_nonzero(b) / np.count_nonzero(a) - 1.0))
        return (f"Dice min {min(dice):.4f}, median {statistics.median(dice):.4f} ({len(dice)} frames); |volume "
                f"difference| max {100 * max(volume):.2f} % ({len(volume)} frames >= 50 um^3)")

    lines = [f"### evaluating end to end per runtime ({cpu_model()}, {cpu_vector_isa()}, {time.strftime('%Y-%m-%d %H:%M')})",
             "", f"{len(items)} frames of {len(oocytes)} house phantom test oocytes (400 x 400 x 31, crop 352 x 352 x 32), "
             f"classical baseline {'on' if args.baseline == 'true' else 'off'}, precision {args.precision}"
             + (f", ONEDNN_MAX_CPU_ISA={os.environ['ONEDNN_MAX_CPU_ISA']}" if os.environ.get("ONEDNN_MAX_CPU_ISA") else "")
             + f"; load average (1 min) at the start {load_at_start:.1f} on {os.cpu_count()} logical CPUs",
             "", "| runtime | frames/s (steady) | median stages per frame | peak memory (PSS) | wall |",
             "| --- | --- | --- | --- | --- |"]
    for runtime, r in results.items():
        lines.append(f"| {runtime} | {steady_fps(r['frames']):.2f} | {stage_summary(r['frames'])} | "
                     f"{fmt_gb(r['peak_pss_tree'])} | {r['wall_s']:.0f} s |")
    ratio = steady_fps(results["openvino"]["frames"]) / steady_fps(results["torch"]["frames"])
    inline = steady_fps(results["openvino"]["frames"]) / steady_fps(results["openvino, --num_workers 1"]["frames"])
    int8 = steady_fps(results["openvino int8 (--int8 true)"]["frames"]) / steady_fps(results["openvino"]["frames"])
    lines += ["", f"OpenVINO / PyTorch frames/s: {ratio:.2f}x; loading between forward passes / in a worker process: "
              f"{inline:.2f}x; int8 / OpenVINO float: {int8:.2f}x.",
              f"Masks vs PyTorch's: OpenVINO {agreement('openvino')}; int8 {agreement('openvino int8 (--int8 true)')}."]
    print_report(lines, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
