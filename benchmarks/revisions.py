"""Evaluating throughput of the working tree against another git revision, interleaved, on full-size frames.

The lab's frames are 750 x 750 x 31 voxels in 3 channels (105 MB): reading, converting and recording them costs
what the house phantom's 400 x 400 frames hide. This runs the config's ``evaluating`` (``eval_child.py``, each
revision's own configs and code, from a ``git worktree`` of the other revision in a temporary folder) on the first
``--frames`` frames of a full-size phantom oocyte, alternating the two trees ``--rounds`` times so that a busy
moment of the machine hits both, and prints the frames/s of each run, the median ratio and whether the outputs
agree (volumes.csv compared cell by cell, the mask files voxel by voxel). Use it to show that a speed change keeps
the answer, e.g.:

    python benchmarks/revisions.py --against HEAD --rounds 4 --set baseline=false
    ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/revisions.py --against HEAD --rounds 2 --set baseline=false

With ``--variant`` it compares settings of the working tree instead of two revisions (another model file, a
runtime), each run with its own overrides on top of ``--set``; every variant is compared with the first:

    python benchmarks/revisions.py --rounds 2 --set baseline=false --variant shipped \
        --variant pair model_path=data/pair01/model.pt int8=false

frames/s is marginal: (frames - 2) / (end of the last frame - end of the second), which leaves out the start-up
and the first frame's warm-up. The other revision must have ``benchmarks/eval_child.py`` (every revision since
0.4.4) and its model files in git.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import tifffile
from common import DEFAULT_CACHE_DIR, REPO_DIR, cpu_model, cpu_vector_isa, parse_overrides, print_report
from pipeline import ensure_phantom, write_first_frames_datalist


def marginal_frames_per_s(timing_json: Path) -> float:
    ends = [frame["end"] for frame in json.loads(timing_json.read_text())["frames"]]
    if len(ends) < 3:
        raise SystemExit(f"{timing_json}: {len(ends)} frames timed; at least 3 are needed")
    return (len(ends) - 2) / (ends[-1] - ends[1])


def variant_overrides(variants: list[list[str]]) -> dict[str, dict]:
    """``--variant NAME [KEY=VALUE ...]`` flags -> {name: overrides}; two or more, each name once."""
    if len(variants) < 2:
        raise SystemExit("--variant: give two or more (each is compared with the first)")
    named: dict[str, dict] = {}
    for name, *settings in variants:
        if name in named:
            raise SystemExit(f"--variant {name}: given twice")
        if "=" in name:
            raise SystemExit(f"--variant {name}: the first word is the variant's name, then KEY=VALUE settings")
        named[name] = parse_overrides(settings)
    return named


def run_tree(root: Path, overrides: dict, work: Path, tag: str) -> tuple[float, Path]:
    """One ``evaluating`` run with ``root``'s eval_child.py (and so its configs and code); (frames/s, output dir)."""
    out_dir, timing = work / f"out_{tag}", work / f"timing_{tag}.json"
    cmd = [sys.executable, str(root / "benchmarks" / "eval_child.py"),
           "--overrides", json.dumps({**overrides, "output_dir": str(out_dir)}), "--timing_json", str(timing)]
    done = subprocess.run(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{root}: evaluating failed (exit {done.returncode}):\n{done.stdout[-3000:]}")
    return marginal_frames_per_s(timing), out_dir


def compare_outputs(a: Path, b: Path) -> str:
    """How the two runs' answers differ: volumes.csv cells (numbers to 1e-9 relative) and the mask files."""
    rows_a = list(csv.DictReader((a / "volumes.csv").open()))
    rows_b = list(csv.DictReader((b / "volumes.csv").open()))
    if len(rows_a) != len(rows_b):
        return f"volumes.csv: {len(rows_a)} against {len(rows_b)} rows"
    differing, largest = set(), 0.0
    for row_a, row_b in zip(rows_a, rows_b, strict=True):
        for column in set(row_a) | set(row_b):
            x, y = row_a.get(column, ""), row_b.get(column, "")
            if x == y:
                continue
            try:
                fx, fy = float(x), float(y)
            except ValueError:
                differing.add(column)
                continue
            if not (math.isnan(fx) and math.isnan(fy)) and not math.isclose(fx, fy, rel_tol=1e-9):
                differing.add(column)
                if column.endswith("volume_um3") and fy:
                    largest = max(largest, abs(fx / fy - 1.0))
    masks = sorted(p.relative_to(a) for p in (a / "masks").rglob("*.tif"))
    unequal = [str(m) for m in masks if not np.array_equal(tifffile.imread(a / m), tifffile.imread(b / m))]
    text = "volumes.csv identical" if not differing else (
        f"volumes.csv differs in {', '.join(sorted(differing))} (largest volume difference {100 * largest:.3f} %)")
    return text + (f"; masks identical ({len(masks)} files)" if not unequal else f"; masks differ: {', '.join(unequal)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", default="HEAD", help="git revision to compare the working tree with")
    parser.add_argument("--frames", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--shape", type=int, nargs=3, default=(750, 750, 31), metavar=("X", "Y", "Z"))
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="config overrides for both trees, e.g. baseline=false num_workers=1")
    parser.add_argument("--variant", nargs="+", action="append", metavar=("NAME", "KEY=VALUE"),
                        help="instead of --against: run the working tree with these overrides (give two or more; "
                             "each is compared with the first), e.g. --variant pair model_path=data/pair01/model.pt")
    parser.add_argument("--cache_dir", type=Path, default=DEFAULT_CACHE_DIR)
    parser.add_argument("--out", type=Path, help="also write the report here (markdown)")
    args = parser.parse_args()
    variants = variant_overrides(args.variant) if args.variant else None

    load_before = os.getloadavg()[0]
    dataset = ensure_phantom(args.cache_dir, max(args.frames, 20), tuple(args.shape))
    work = Path(tempfile.mkdtemp(prefix="revisions_"))
    other = work / "other_tree"
    try:
        if variants:
            runs = {name: (REPO_DIR, settings) for name, settings in variants.items()}
        else:
            subprocess.run(["git", "-C", str(REPO_DIR), "worktree", "add", "--detach", "-f", str(other), args.against],
                           check=True, stdout=subprocess.DEVNULL)
            commit = subprocess.run(["git", "-C", str(other), "rev-parse", "--short", "HEAD"], check=True,
                                    capture_output=True, text=True).stdout.strip()
            runs = {commit if args.against.startswith(commit) else f"{args.against} ({commit})": (other, {}),
                    "working tree": (REPO_DIR, {})}
        datalist = write_first_frames_datalist(dataset, args.frames, work / "datalist.json")
        overrides = {"dataset_dir": str(dataset), "datalist_file": str(datalist), "skip_finished": False,
                     "progress_bar": False, **parse_overrides(args.set)}
        rates: dict[str, list[float]] = {name: [] for name in runs}
        outputs: dict[str, Path] = {}
        for round_index in range(args.rounds):
            for i, (name, (root, settings)) in enumerate(runs.items()):
                rate, outputs[name] = run_tree(root, {**overrides, **settings}, work, f"{i}_{round_index}")
                rates[name].append(rate)
                print(f"round {round_index + 1}: {name}: {rate:.3f} frames/s", file=sys.stderr, flush=True)
        first_name, *other_names = runs
        compared = "settings of the working tree" if variants else "interleaved rounds"
        lines = [
            f"### evaluating, {args.frames} frames of a {'x'.join(map(str, args.shape))} phantom oocyte, "
            f"{args.rounds} interleaved rounds (benchmarks/revisions.py, {compared})", "",
            f"CPU: {cpu_model()} ({os.cpu_count()} cores; {cpu_vector_isa()}); ONEDNN_MAX_CPU_ISA="
            f"{os.environ.get('ONEDNN_MAX_CPU_ISA', 'unset')}; overrides: {json.dumps(parse_overrides(args.set))}; "
            f"load average (1 min) before: {load_before:.2f}", "",
            "| tree | frames/s per round | median |", "| --- | --- | --- |",
            *(f"| {name}{': ' + json.dumps(runs[name][1]) if runs[name][1] else ''} | "
              f"{' / '.join(f'{r:.3f}' for r in values)} | {statistics.median(values):.3f} |"
              for name, values in rates.items()),
            "",
        ]
        for name in other_names:
            ratios = [b / a for a, b in zip(rates[first_name], rates[name], strict=True)]
            lines += [
                f"- {name} / {first_name}: median {statistics.median(ratios):.2f}x (per round "
                f"{' / '.join(f'{r:.2f}' for r in ratios)})",
                f"- answers of {name} against {first_name} (last round): "
                f"{compare_outputs(outputs[first_name], outputs[name])}",
            ]
        print_report(lines, args.out)
    finally:
        if not variants:
            subprocess.run(["git", "-C", str(REPO_DIR), "worktree", "remove", "--force", str(other)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
