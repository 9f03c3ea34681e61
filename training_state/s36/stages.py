"""Session 36 (issue 20): where a frame's time goes for each 0.5.1 model on this CPU, by the stages that
benchmarks/eval_child.py stamps (loader wait, forward, post-processing, wait for the previous frame's recording).

    .venv/bin/python training_state/s36/stages.py OUT_DIR [--rounds 2]

Runs `evaluating` on the 20 full-size benchmark frames (data/bench, written by benchmarks/revisions.py) once per
model per round, interleaved, baseline off; prints the median of each stage over frames 2-20 of each run.
"""

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
from pipeline import ensure_phantom, write_first_frames_datalist  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("out_dir", type=Path)
parser.add_argument("--rounds", type=int, default=2)
parser.add_argument("--models", nargs="+", default=["standard", "fast"])
args = parser.parse_args()
dataset = ensure_phantom(ROOT / "data" / "bench", 20, (750, 750, 31))
datalist = write_first_frames_datalist(dataset, 20, args.out_dir / "datalist.json")
rows = []
for round_index in range(args.rounds):
    for model in args.models:
        tag = f"{model}_r{round_index + 1}"
        timing = args.out_dir / f"timing_{tag}.json"
        overrides = {"dataset_dir": str(dataset), "datalist_file": str(datalist), "baseline": False,
                     "skip_finished": False, "model": model, "output_dir": str(args.out_dir / f"out_{tag}")}
        subprocess.run([sys.executable, str(ROOT / "benchmarks" / "eval_child.py"), "--overrides",
                        json.dumps(overrides), "--timing_json", str(timing)], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL)
        first, *frames = json.loads(timing.read_text())["frames"]
        medians = {stage: statistics.median(f[stage] for f in frames) for stage in ("wait", "forward", "post", "write")}
        per_frame = (frames[-1]["end"] - first["end"]) / len(frames)
        rows.append((tag, medians, per_frame))
        print(f"{tag}: " + ", ".join(f"{k} {1000 * v:.0f} ms" for k, v in medians.items())
              + f"; {per_frame:.3f} s per frame ({1 / per_frame:.2f} frames/s)", flush=True)
