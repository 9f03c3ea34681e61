"""Session 37 (issue 20): where a frame's time goes for the standard six on this CPU, under a few run-time
variants (environment variables, config overrides), interleaved, on the 20 full-size benchmark frames.

    .venv/bin/python training_state/s37/stages_variants.py OUT_DIR [--rounds 2] [--variants NAME ...]

Stages as in benchmarks/eval_child.py (loader wait, forward, post-processing, write); prints the median of each
over frames 2-20 of each run and the marginal seconds per frame.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from pipeline import ensure_phantom, write_first_frames_datalist  # noqa: E402

VARIANTS = {  # name: (extra environment, config overrides)
    "default": ({}, {}),
    "omp_passive": ({"OMP_WAIT_POLICY": "PASSIVE"}, {}),
    "worker": ({}, {"num_workers": 1}),
    "worker_omp_passive": ({"OMP_WAIT_POLICY": "PASSIVE"}, {"num_workers": 1}),
}
parser = argparse.ArgumentParser()
parser.add_argument("out_dir", type=Path)
parser.add_argument("--rounds", type=int, default=2)
parser.add_argument("--model", default="standard")
parser.add_argument("--variants", nargs="+", default=list(VARIANTS))
args = parser.parse_args()
dataset = ensure_phantom(ROOT / "data" / "bench", 20, (750, 750, 31))
datalist = write_first_frames_datalist(dataset, 20, args.out_dir / "datalist.json")
for round_index in range(args.rounds):
    for name in args.variants:
        env, extra = VARIANTS[name]
        tag = f"{name}_r{round_index + 1}"
        timing = args.out_dir / f"timing_{tag}.json"
        overrides = {"dataset_dir": str(dataset), "datalist_file": str(datalist), "baseline": False,
                     "skip_finished": False, "model": args.model, "progress_bar": False,
                     "output_dir": str(args.out_dir / f"out_{tag}"), **extra}
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "eval_child.py"), "--overrides",
                        json.dumps(overrides), "--timing_json", str(timing)], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL, env={**os.environ, **env})
        first, *frames = json.loads(timing.read_text())["frames"]
        medians = {stage: statistics.median(f[stage] for f in frames) for stage in ("wait", "forward", "post", "write")}
        per_frame = (frames[-1]["end"] - first["end"]) / len(frames)
        print(f"{tag}: " + ", ".join(f"{k} {1000 * v:.0f} ms" for k, v in medians.items())
              + f"; {per_frame:.3f} s per frame ({1 / per_frame:.2f} frames/s)", flush=True)
