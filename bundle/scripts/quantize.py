"""int8 network for CPUs without native bf16: post-training quantization (NNCF) into an OpenVINO model.

On a 2-core CPU with AVX2 only, OpenVINO runs the network in f32 (emulated bf16 is ~100x slower). Quantizing the
convolutions' weights and inputs to int8 makes that forward pass 1.5x faster. The int8 model is made once per weights
file and shipped beside it (``models/model_int8.xml`` / ``.bin``); ``--int8 auto`` runs it on such CPUs when it was
made from the weights being used (``scripts.openvino_runtime.resolve_int8_model``). Against OpenVINO f32 the shipped
one (0.4.7) agrees at a mean Dice of 0.995 on 29 mixed validation frames (least 0.972, volumes within 5.1 %) and
changes the real stacks' volumes by +2.4 / -0.4 / 0 / 0 % (0.4.6's: +5 / +2.5 / +12 / +2 %, see below). A lab that
fine-tunes the model makes its own, and checks it on its recordings:

    python -m scripts.quantize --dataset_dir DIR [--datalist_file FILE] --model_path DIR/finetuned/model.pt \\
        --out DIR/finetuned/model_int8.xml

Calibration (the activation ranges): ``--calibration_frames`` frames drawn from the datalist's training list,
through inference.yaml's own preprocessing (crop, robust standardisation, padding). Check: the int8 masks
against OpenVINO f32's on the datalist's validation frames: mean and least Dice, largest volume difference.
Nothing is written when the mean Dice is below ``--min_mean_dice``.

Which operations stay in floating point (``FLOAT_OPERATIONS``) was measured, not guessed: the first convolution (the
standardised image, signed and wide) and the 1 x 1 head (the logit whose sign is the mask) were kept there from the
start; with every other convolution quantized the masks agreed with f32 at a mean Dice of 0.988 (24 validation
frames, house phantom and randomized, 2026-12-04), and NNCF's accuracy-controlled search
(``nncf.quantize_with_accuracy_control``, mean Dice against f32 on those frames, 9 min) brought that to 0.993 by
restoring four convolutions and the two max-pools' inputs, in its order of impact. What made the real stacks' masks
larger was found by ``benchmarks/int8_sensitivity.py`` (each group of quantizers bypassed alone): the max-pools, which
the PyTorch exporter wrote as an element-wise maximum of strided views, each view quantized separately; the
conversion now uses OpenVINO's own pooling (``scripts.network.with_native_pooling``), which has none. Of what was
left, one convolution's input (``encoders.1.conv.3``) moved the width-varying real stack by ~4 %; it was chosen on
that real stack, since the randomized frames showed no signal, so the real-stack figures above are not independent
of the choice. Measured on the 2-core Xeon limited to AVX2 (``ONEDNN_MAX_CPU_ISA=AVX2``, 0.4.6's list): 1.46 s per
352 x 352 x 32 crop in f32, 0.79 s with every convolution in int8, 0.95 s with this list in floating point.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scripts.config import bundle_root
from scripts.metrics import dice_score

RT_INFO_KEY = "spindle_bundle"  # the int8 model's own record (OpenVINO rt_info), read back by the runtime
DEFAULT_MIN_MEAN_DICE = 0.985   # what the shipped int8 model reaches on mixed validation frames (bf16: 0.995)
FLOAT_OPERATIONS = (
    "__module.encoders.0.conv.0/aten::_convolution/Convolution",   # the first convolution: the standardised image
    "__module.head/aten::_convolution/Convolution",                # the logit; its sign is the mask
    # NNCF's accuracy-controlled search, in its order of impact (its two max-pools are single pooling operations
    # since the conversion uses OpenVINO's pooling: nothing of them is quantized apart from the next convolution):
    "__module.encoders.0.conv.3/aten::_convolution/Convolution",
    "__module.encoders.1.conv.0/aten::_convolution/Convolution",
    "__module.encoders.2.conv.0/aten::_convolution/Convolution",
    "__module.decoders.3.conv.0/aten::_convolution/Convolution",
    # benchmarks/int8_sensitivity.py: this convolution's int8 input alone made a real stack's mask ~4 % larger
    "__module.encoders.1.conv.3/aten::_convolution/Convolution",
)
MISSING_NNCF = "making an int8 model needs NNCF: pip install -r requirements-quantize.txt"


def inference_preprocessing(config_file: Path | None = None, model_path: str | Path | None = None):
    """inference.yaml's own preprocessing (reader, crop, robust standardisation, padding) and its network
    definition for the weights at ``model_path`` (default: the config's): the int8 model is calibrated on exactly
    what the evaluation feeds it. The crop follows the weights' provenance.json (``trained_crop_size``)."""
    parser = _inference_parser(config_file, model_path)
    return parser.get_parsed_content("preprocessing"), parser.get_parsed_content("network_def")


def network_pixel_size_um(config_file: Path | None = None, model_path: str | Path | None = None) -> float | None:
    """The x-y pixel size (um) the evaluation shows the network of the weights at ``model_path`` each crop at
    (inference.yaml ``resample_xy``: the weights' trained pixel size), or None where it shows the file's own."""
    return _inference_parser(config_file, model_path).get_parsed_content("network_pixel_size_um")


def _inference_parser(config_file: Path | None, model_path: str | Path | None):
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(config_file or Path(bundle_root()) / "configs" / "inference.yaml"))
    if model_path is not None:
        parser["model_path"] = str(Path(model_path).resolve())
    return parser


def standardised_crops(items: Sequence[dict], preprocessing, model_pixel_size_um: float | None = None,
                       xy_divisor: Sequence[int] = (16, 16)) -> list[np.ndarray]:
    """(1, 1, X, Y, Z) float32 crops of the datalist ``items``, as the evaluation prepares them and, with
    ``model_pixel_size_um``, as its inferer then shows them to the network: resampled in x-y to that pixel size and
    padded to ``xy_divisor`` (``scripts.resolution.to_model_grid``)."""
    from scripts.resolution import to_model_grid, xy_pixel_size_um

    crops = []
    for item in items:
        image = preprocessing(dict(item))["image"]
        crop = image.as_tensor()[None].float()
        if model_pixel_size_um is not None:
            crop, _ = to_model_grid(crop, xy_pixel_size_um(image), model_pixel_size_um, xy_divisor)
        crops.append(np.ascontiguousarray(crop.numpy()))
    return crops


def agreement(reference_masks: Sequence[np.ndarray], masks: Sequence[np.ndarray]) -> dict[str, float]:
    """Mean and least Dice of ``masks`` against ``reference_masks``, and the largest |relative volume
    difference| over the frames whose reference mask is not empty."""
    dices = [dice_score(m, r) for r, m in zip(reference_masks, masks, strict=True)]
    volume_differences = [abs(int(m.sum()) / int(r.sum()) - 1.0) for r, m in zip(reference_masks, masks, strict=True) if r.any()]
    return {"frames": len(dices), "mean_dice": float(np.mean(dices)), "min_dice": float(np.min(dices)),
            "max_abs_rel_volume_difference": float(max(volume_differences, default=0.0))}


def openvino_masks(model, crops: Sequence[np.ndarray], num_threads: int | None = None) -> list[np.ndarray]:
    """logit > 0 of an OpenVINO model on each crop, computed in f32 wherever the model is not int8."""
    import openvino

    compiled = openvino.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": "f32",
                                                            "INFERENCE_NUM_THREADS": int(num_threads or torch.get_num_threads())})
    return [np.asarray(compiled({0: crop})[0]) > 0 for crop in crops]


def members_operations(network: torch.nn.Module, operations: Sequence[str]) -> list[str]:
    """``operations`` (names in one network's converted model) for every member of a ``ProbabilityEnsemble``
    (``__module.members.<i>.`` instead of ``__module.``); unchanged for a single network."""
    from scripts.network import ProbabilityEnsemble

    if not isinstance(network, ProbabilityEnsemble):
        return list(operations)
    prefix = "__module."
    return [f"{prefix}members.{i}.{name[len(prefix):]}" if name.startswith(prefix) else name
            for i in range(len(network.members)) for name in operations]


def quantize_model(network: torch.nn.Module, calibration_crops: Sequence[np.ndarray],
                   float_operations: Sequence[str] = FLOAT_OPERATIONS):
    """The network as an OpenVINO model with int8 convolutions, activation ranges from ``calibration_crops``."""
    try:
        import nncf
    except ImportError as error:
        raise RuntimeError(MISSING_NNCF) from error
    from scripts.openvino_runtime import OpenVINONetwork

    model = OpenVINONetwork(network.eval(), "fp32").model
    float_operations = members_operations(network, float_operations)
    known = {op.get_friendly_name() for op in model.get_ordered_ops()}
    absent = [name for name in float_operations if name not in known]
    if absent:  # another architecture: the measured list does not apply to it
        raise ValueError(f"the network has no operation {absent[0]!r}: FLOAT_OPERATIONS were measured on the "
                         "default architecture; quantize this one with a list of its own")
    return nncf.quantize(model, nncf.Dataset(list(calibration_crops), lambda crop: {0: crop}),
                         subset_size=len(calibration_crops), ignored_scope=nncf.IgnoredScope(names=list(float_operations)))


def int8_model_record(path: str | Path) -> dict[str, Any] | None:
    """What an int8 model file records about itself (weights sha256, calibration, agreement), or None when it
    records nothing (not made by this module)."""
    import json

    import openvino

    model = openvino.Core().read_model(str(path))
    if not model.has_rt_info([RT_INFO_KEY, "record"]):
        return None
    return json.loads(model.get_rt_info([RT_INFO_KEY, "record"]).astype(str))


def write_int8_model(model, out: str | Path, record: dict[str, Any]) -> None:
    """Save ``model`` as ``out`` (.xml) and its .bin, with ``record`` in its rt_info; both files appear together
    (written under temporary names, then renamed)."""
    import json
    import os

    import openvino

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model.set_rt_info(json.dumps(record, sort_keys=True), [RT_INFO_KEY, "record"])
    tmp_xml = out.with_name(f".{out.stem}.tmp{os.getpid()}.xml")
    openvino.save_model(model, str(tmp_xml), compress_to_fp16=False)
    tmp_xml.with_suffix(".bin").replace(out.with_suffix(".bin"))
    tmp_xml.replace(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.quantize", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset_dir", required=True, help="dataset folder (as for training)")
    parser.add_argument("--datalist_file", default="", help="its datalist (default DIR/datalist.json, built if missing)")
    parser.add_argument("--model_path", default=str(Path(bundle_root()) / "models" / "model.pt"))
    parser.add_argument("--out", default=None, help="the int8 model's .xml (default: model_int8.xml beside the weights)")
    parser.add_argument("--calibration_frames", type=int, default=32, help="training frames for the activation ranges")
    parser.add_argument("--check_frames", type=int, default=64, help="validation frames for the agreement check (at most)")
    parser.add_argument("--min_mean_dice", type=float, default=DEFAULT_MIN_MEAN_DICE,
                        help="write nothing when the int8 masks agree with f32's less than this (mean Dice)")
    parser.add_argument("--seed", type=int, default=0, help="draw of the calibration frames")
    args = parser.parse_args(argv)

    from scripts.datalist import load_datalist
    from scripts.inference import load_network
    from scripts.io import file_sha256
    from scripts.openvino_runtime import OpenVINONetwork
    from scripts.training import ensure_datalist

    out = Path(args.out) if args.out else Path(args.model_path).with_name("model_int8.xml")
    if out.suffix != ".xml":
        parser.error(f"--out {out}: an OpenVINO model's name ends in .xml (its weights go to the .bin beside it)")
    datalist = ensure_datalist(args.dataset_dir, args.datalist_file)
    training = load_datalist(datalist, "training", args.dataset_dir)
    validation = load_datalist(datalist, "validation", args.dataset_dir, allow_empty=True)
    rng = np.random.default_rng(args.seed)
    calibration_items = [training[i] for i in sorted(rng.choice(len(training), min(args.calibration_frames, len(training)),
                                                                 replace=False))]
    check_items = validation[: args.check_frames] if validation else calibration_items
    preprocessing, network_def = inference_preprocessing(model_path=args.model_path)
    pixel_size_um = network_pixel_size_um(model_path=args.model_path)
    xy_divisor = [int(k) for k in network_def.total_stride][:2]
    network = load_network(network_def, args.model_path, "cpu", channels_last=False)
    at = f" at {pixel_size_um} um pixels" if pixel_size_um is not None else ""
    print(f"calibrating on {len(calibration_items)} training frames of {datalist}{at}", flush=True)
    quantized = quantize_model(network, standardised_crops(calibration_items, preprocessing, pixel_size_um, xy_divisor))
    check_crops = standardised_crops(check_items, preprocessing, pixel_size_um, xy_divisor)
    result = agreement(openvino_masks(OpenVINONetwork(network, "fp32").model, check_crops),
                       openvino_masks(quantized, check_crops))
    source = "validation" if validation else "calibration (the datalist has no validation frames)"
    print(f"int8 against f32 on {result['frames']} {source} frames: mean Dice {result['mean_dice']:.4f}, least "
          f"{result['min_dice']:.4f}, largest volume difference {100 * result['max_abs_rel_volume_difference']:.2f} %")
    if result["mean_dice"] < args.min_mean_dice:
        print(f"error: int8 masks agree with f32 at a mean Dice of {result['mean_dice']:.4f} < --min_mean_dice "
              f"{args.min_mean_dice}: nothing written ({out}); the f32 network stays in use", file=sys.stderr)
        return 1
    write_int8_model(quantized, out, {
        "model_sha256": file_sha256(args.model_path), "float_operations": list(FLOAT_OPERATIONS),
        "calibration": {"datalist": str(datalist), "frames": len(calibration_items), "seed": args.seed},
        "agreement_with_f32": {"data": source.split()[0], **result}})
    print(f"wrote {out} and {out.with_suffix('.bin').name} for weights {args.model_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
