"""Run the bundle's ``evaluating`` workflow as ``python -m monai.bundle run evaluating`` does, and time each frame.

Started by ``pipeline.py`` as its own process (so its peak memory is measured alone), from any folder:

    python benchmarks/eval_child.py --config_file bundle/configs/inference.yaml bundle/configs/evaluate.yaml \
        --overrides '{"dataset_dir": ...}' --timing_json OUT.json

or under ``torchrun`` with ``multi_gpu_evaluate.yaml`` added (``--timing_json OUT_{rank}.json``: one file per process).

The configs are parsed with the overrides (the same dict the CLI's ``--name value`` flags make), the config's
``initialize`` runs, the evaluator gets ignite handlers that stamp each frame's stages, and the config's
``evaluating`` list runs unchanged.
Stages per frame (seconds): ``wait`` for the loader (read + crop + standardise, overlapped by the worker),
``forward`` (inferer), ``post`` (threshold, largest component, baseline, inversion to the full frame) and
``write`` (the main thread's share of recording: since the recording (volume, morphometry, poles, band, mask
streaming, an oocyte's plot and montage) runs on TimeSeriesWriter's background thread beside the next forward
pass, this is the wait for the previous frame's recording plus the hand-over).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

BUNDLE_DIR = Path(__file__).resolve().parents[1] / "bundle"
sys.path.insert(0, str(BUNDLE_DIR))  # the configs import the bundle's plugin as `scripts`


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config_file", nargs="+", default=[str(BUNDLE_DIR / "configs" / "inference.yaml"),
                                                             str(BUNDLE_DIR / "configs" / "evaluate.yaml")])
    parser.add_argument("--overrides", default="{}", help="JSON dict of config ids -> values")
    parser.add_argument("--timing_json", required=True)
    args = parser.parse_args()
    started = time.perf_counter()

    from ignite.engine import Events
    from monai.bundle import ConfigParser
    from monai.engines.utils import IterationEvents

    config = ConfigParser()
    config.read_config(args.config_file)
    config.update(json.loads(args.overrides))
    config.get_parsed_content("initialize")  # what `monai.bundle run` does first: prepare the output folder
    evaluator = config.get_parsed_content("evaluator")  # cached: `evaluating` below runs this same object
    stamps: list[dict[str, float]] = []
    current: dict[str, float] = {}

    def stamp(name):
        def handler(_engine):
            current[name] = time.perf_counter()
            if name == "write_done":
                stamps.append(dict(current))
                current.clear()
        return handler

    # attached after the config's own handlers: "post_done" follows the postprocessing (a MODEL_COMPLETED handler),
    # "write_done" follows TimeSeriesWriter (an ITERATION_COMPLETED handler)
    evaluator.add_event_handler(Events.GET_BATCH_STARTED, stamp("wait_start"))
    evaluator.add_event_handler(Events.GET_BATCH_COMPLETED, stamp("wait_done"))
    evaluator.add_event_handler(IterationEvents.FORWARD_COMPLETED, stamp("forward_done"))
    evaluator.add_event_handler(IterationEvents.MODEL_COMPLETED, stamp("post_done"))
    evaluator.add_event_handler(Events.ITERATION_COMPLETED, stamp("write_done"))
    ready = time.perf_counter()
    config.get_parsed_content("evaluating")
    finished = time.perf_counter()

    frames = [{"wait": s["wait_done"] - s["wait_start"], "forward": s["forward_done"] - s["wait_done"],
               "post": s["post_done"] - s["forward_done"], "write": s["write_done"] - s["post_done"],
               "end": s["write_done"] - ready} for s in stamps]
    import torch

    cuda_peak_bytes = torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None
    # under torchrun (multi_gpu_evaluate.yaml) every process writes its own file: "{rank}" in the path is its rank
    timing_json = Path(args.timing_json.replace("{rank}", os.environ.get("RANK", "0")))
    timing_json.write_text(json.dumps({
        "setup_s": ready - started, "run_s": finished - ready, "frames": frames, "cuda_peak_bytes": cuda_peak_bytes},
        indent=1))


if __name__ == "__main__":
    main()
