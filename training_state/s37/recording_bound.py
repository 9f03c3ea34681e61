"""Session 37 (issue 20): how much of a frame's time the recording thread costs, by taking it away: `run evaluating`
(benchmarks/eval_child.py) on the 20 full-size benchmark frames, once as shipped and once with each frame's
measurements (morphometry, pole count, volume band, metrics against the reference) replaced by a voxel count,
interleaved. The difference bounds what a lighter recording could give; masks are still written.

    .venv/bin/python training_state/s37/recording_bound.py OUT_DIR [--rounds 2] [--model standard]
"""

import argparse
import json
import math
import runpy
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_child_without_measurements(argv):
    """The eval_child.py process with scripts.recording.method_frame_values reduced to the voxel count."""
    sys.path.insert(0, str(ROOT / "bundle"))
    import numpy as np
    import scripts.recording as recording

    def volume_only(mask_xyz, label_xyz, spacing_um_xyz, window_xy, *args, **kwargs):
        values = {c: math.nan for c in recording.METHOD_COLUMNS if c not in ("volume_jump", "note")}
        values.update(volume_um3=float(np.count_nonzero(mask_xyz[window_xy])) * float(np.prod(spacing_um_xyz)),
                      n_components=1, touches_crop_border=False, polarity="")
        return values

    recording.method_frame_values = volume_only
    sys.argv = ["eval_child.py", *argv]
    runpy.run_path(str(ROOT / "benchmarks" / "eval_child.py"), run_name="__main__")


def main():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from pipeline import ensure_phantom, write_first_frames_datalist

    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--model", default="standard")
    args = parser.parse_args()
    dataset = ensure_phantom(ROOT / "data" / "bench", 20, (750, 750, 31))
    datalist = write_first_frames_datalist(dataset, 20, args.out_dir / "datalist.json")
    for round_index in range(args.rounds):
        for variant in ("shipped", "volume_only"):
            tag = f"{variant}_r{round_index + 1}"
            timing = args.out_dir / f"timing_{tag}.json"
            overrides = {"dataset_dir": str(dataset), "datalist_file": str(datalist), "baseline": False,
                         "skip_finished": False, "model": args.model, "progress_bar": False,
                         "output_dir": str(args.out_dir / f"out_{tag}")}
            child = ([str(ROOT / "benchmarks" / "eval_child.py")] if variant == "shipped"
                     else [str(Path(__file__).resolve()), "--child"])
            subprocess.run([sys.executable, *child, "--overrides", json.dumps(overrides), "--timing_json", str(timing)],
                           check=True, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            first, *frames = json.loads(timing.read_text())["frames"]
            medians = {s: statistics.median(f[s] for f in frames) for s in ("wait", "forward", "post", "write")}
            per_frame = (frames[-1]["end"] - first["end"]) / len(frames)
            print(f"{tag}: " + ", ".join(f"{k} {1000 * v:.0f} ms" for k, v in medians.items())
                  + f"; {per_frame:.3f} s per frame ({1 / per_frame:.2f} frames/s)", flush=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        run_child_without_measurements(sys.argv[2:])
    else:
        main()
