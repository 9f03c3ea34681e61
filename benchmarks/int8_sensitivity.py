"""Which int8 activations move the masks? Each quantized module of an int8 model put back into floating point alone.

    .venv/bin/python benchmarks/int8_sensitivity.py [--int8_model bundle/models/model_int8.xml]
        [--model_path bundle/models/model.pt] [--dataset_dir data/rand_small] [--greedy 6] [--out FILE.md]

0.4.6's int8 model (scripts/quantize.py) agreed with f32 on the house phantom (volumes within 1 %) but made every
real stack's mask larger (+2 to +12 %, issue 20). This finds the activations responsible without
recalibrating: the int8 model's FakeQuantize nodes are grouped by the network module they belong to (a max-pool's
strided views, a decoder's concatenation inputs, ...), and for each group the model is compiled with those nodes
bypassed (their input passed on unquantized, every other range unchanged) and compared with OpenVINO f32 on

- **selection frames**: the validation and test frames of ``--dataset_dir``'s datalist (default ``data/rand_small``:
  randomized mitotic-cell scenes at other voxel sizes, the looks closest to the real stacks that we can render;
  write it with the Session 6 command of training_state/README.md), and
- **the real stacks** of ``../shared/realdata/spindles`` (reported beside; 0.4.7's one extra float convolution was
  nonetheless chosen on them, the selection frames showing no signal: say so wherever its real-stack figures go).

Per row: the signed median relative volume change against f32 (logit > 0 voxels of the whole crop) on the selection
frames, their mean Dice against f32, and each real stack's volume change (its largest connected component, the
spindle the evaluation keeps). ``--greedy K`` then bypasses the K groups
that reduce the selection frames' |median volume change| most, cumulatively, and times one crop per step (set
``ONEDNN_MAX_CPU_ISA=AVX2`` for the speed of an AVX2 CPU).
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
BUNDLE_DIR = REPO_DIR / "bundle"
if str(BUNDLE_DIR) not in sys.path:
    sys.path.insert(0, str(BUNDLE_DIR))

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmark modules

import numpy as np  # noqa: E402
import openvino  # noqa: E402
import torch  # noqa: E402
from common import cpu_model, time_call  # noqa: E402
from real_spindles import SPINDLES_DIR  # noqa: E402
from scripts.metrics import dice_score, largest_component  # noqa: E402


def module_of(node_name: str) -> str:
    """The network module a FakeQuantize node was inserted for: the friendly name up to its first '/'."""
    return node_name.split("/")[0]


def quantizer_groups(model) -> dict[str, list[str]]:
    """FakeQuantize node names of ``model`` grouped by module, in graph order; weight quantizers (on constants)
    are left out: the question is which activation ranges move the masks."""
    groups: dict[str, list[str]] = {}
    for op in model.get_ordered_ops():
        if op.get_type_name() == "FakeQuantize" and op.input_value(0).get_node().get_type_name() != "Constant":
            groups.setdefault(module_of(op.get_friendly_name()), []).append(op.get_friendly_name())
    return groups


def bypassed(model, names: set[str]):
    """A copy of ``model`` whose FakeQuantize nodes ``names`` pass their input on unchanged."""
    copy = model.clone()
    for op in copy.get_ordered_ops():
        if op.get_friendly_name() in names:
            op.output(0).replace(op.input_value(0))
    return copy


def compiled(model, shape: tuple[int, ...], threads: int):
    """``model`` compiled for exactly ``shape``, as the evaluation runs it (a static compilation per input shape:
    int8 kernels for a static and a dynamic shape do not give the same masks to the voxel)."""
    model = model.clone()
    model.reshape(list(shape))
    return openvino.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY",
                                                         "INFERENCE_NUM_THREADS": threads})


def masks_of(model, crops: list[np.ndarray], threads: int) -> list[np.ndarray]:
    nets: dict[tuple[int, ...], object] = {}
    masks = []
    for crop in crops:
        net = nets.setdefault(crop.shape, compiled(model, crop.shape, threads))
        masks.append(np.asarray(net({0: crop})[0])[0, 0] > 0)
    return masks


def real_stack_crops(preprocessing_config) -> list[tuple[str, np.ndarray]]:
    """The real stacks, read and standardised as benchmarks/real_spindles.py does (native grid)."""
    from monai.transforms import Compose
    from scripts.io import LoadFramed

    crops = []
    with open(SPINDLES_DIR / "reference.csv") as f:
        for ref in csv.DictReader(f):
            steps = Compose([LoadFramed(keys="image", channel=int(ref["tubulin_channel"])),
                             preprocessing_config.get_parsed_content("standardisation"),
                             preprocessing_config.get_parsed_content("pad")])
            image = steps({"image": str(SPINDLES_DIR / ref["file"]), "frame": 0})["image"]
            crops.append((ref["file"], np.ascontiguousarray(image.as_tensor()[None].float().numpy())))
    return crops


def compare(reference: list[np.ndarray], masks: list[np.ndarray]) -> tuple[list[float], list[float]]:
    """Relative volume change and Dice of ``masks`` against ``reference``, per frame with a reference mask."""
    changes, dices = [], []
    for r, m in zip(reference, masks, strict=True):
        if r.any():
            changes.append(int(m.sum()) / int(r.sum()) - 1.0)
            dices.append(dice_score(m, r))
    return changes, dices


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--int8_model", default=str(BUNDLE_DIR / "models" / "model_int8.xml"))
    parser.add_argument("--model_path", default=str(BUNDLE_DIR / "models" / "model.pt"))
    parser.add_argument("--dataset_dir", default=str(REPO_DIR / "data" / "rand_small"))
    parser.add_argument("--datalist_file", default="", help="default DATASET_DIR/datalist_dense.json")
    parser.add_argument("--greedy", type=int, default=6, help="groups to bypass cumulatively, best first")
    parser.add_argument("--out", default=None, help="also write the tables to this markdown file")
    args = parser.parse_args(argv)

    from monai.bundle import ConfigParser
    from scripts.datalist import load_datalist
    from scripts.inference import load_network
    from scripts.openvino_runtime import OpenVINONetwork
    from scripts.quantize import inference_preprocessing, standardised_crops

    threads = torch.get_num_threads()
    datalist = Path(args.datalist_file or Path(args.dataset_dir) / "datalist_dense.json")
    items = (load_datalist(datalist, "validation", args.dataset_dir, allow_empty=True)
             + load_datalist(datalist, "testing", args.dataset_dir, allow_empty=True))
    preprocessing, network_def = inference_preprocessing()
    selection = standardised_crops(items, preprocessing)
    config = ConfigParser()
    config.read_config(str(BUNDLE_DIR / "configs" / "inference.yaml"))
    real = real_stack_crops(config) if (SPINDLES_DIR / "reference.csv").is_file() else []
    f32_model = OpenVINONetwork(load_network(network_def, args.model_path, "cpu", channels_last=False), "fp32").model
    int8_model = openvino.Core().read_model(args.int8_model)
    crops = selection + [crop for _, crop in real]
    reference = masks_of(f32_model, crops, threads)

    def row(label: str, model) -> tuple[str, float]:
        masks = masks_of(model, crops, threads)
        changes, dices = compare(reference[: len(selection)], masks[: len(selection)])
        real_changes, _ = compare([largest_component(m) for m in reference[len(selection):]],
                                  [largest_component(m) for m in masks[len(selection):]])
        median = float(np.median(changes))
        cells = [label, f"{100 * median:+.1f} %", f"{np.mean(dices):.4f}"] + [f"{100 * c:+.1f} %" for c in real_changes]
        print("| " + " | ".join(cells) + " |", flush=True)
        return "| " + " | ".join(cells) + " |", median

    header = ("| int8 model, with these activations in float | selection frames: median volume change vs f32 | "
              "mean Dice vs f32 | " + " | ".join(f"{name} volume change" for name, _ in real) + " |")
    rule = "| " + " | ".join("---" for _ in range(3 + len(real))) + " |"
    lines = [f"### int8 sensitivity: {Path(args.int8_model).name} against OpenVINO f32 (benchmarks/int8_sensitivity.py)",
             "", f"Selection frames: {len(selection)} validation / test frames of {datalist}; CPU "
             f"{cpu_model()}, {threads} threads.", "", header, rule]
    print("\n".join(lines), flush=True)
    lines.append(row("none (the int8 model as it is)", int8_model)[0])
    groups = quantizer_groups(int8_model)
    scored = []
    for module, names in groups.items():
        text, median = row(f"{module} ({len(names)} quantizers)", bypassed(int8_model, set(names)))
        lines.append(text)
        scored.append((abs(median), module))
    lines += ["", f"Cumulative, the {args.greedy} groups that bring the selection frames' volumes closest to f32 first; "
              "seconds per crop (352 x 352 x 32, best of 3):", "", header.replace(" |", " | s per crop |", 1), rule + " --- |"]
    chosen: set[str] = set()
    for _, module in sorted(scored)[: args.greedy]:
        chosen |= set(groups[module])
        model = bypassed(int8_model, chosen)
        text, _ = row(f"+ {module}", model)
        lines.append(text.replace(" |", f" | {_seconds_per_crop(model, threads):.2f} |", 1))
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    return 0


def _seconds_per_crop(model, threads: int) -> float:
    crop = np.random.default_rng(0).standard_normal((1, 1, 352, 352, 32)).astype(np.float32)
    net = compiled(model, crop.shape, threads)
    return time_call(lambda: net({0: crop}), torch.device("cpu"), repeats=3)


if __name__ == "__main__":
    raise SystemExit(main())
