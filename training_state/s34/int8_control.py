"""Session 34: is the pair's int8 failure (mean Dice 0.961 against f32 on the 6 validation frames of the seed-101
families) the pair's, or those frames'? The shipped six's int8 model (bundle/models/model_int8.xml) against its f32
network on the same frames, exactly as scripts.quantize checks a new int8 model.

usage from the project root: .venv/bin/python training_state/s34/int8_control.py
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bundle"))

import openvino  # noqa: E402
from scripts.datalist import load_datalist  # noqa: E402
from scripts.inference import load_network  # noqa: E402
from scripts.openvino_runtime import OpenVINONetwork  # noqa: E402
from scripts.quantize import (  # noqa: E402
    agreement,
    inference_preprocessing,
    network_pixel_size_um,
    openvino_masks,
    standardised_crops,
)

MODEL = REPO / "bundle" / "models" / "model.pt"
INT8 = REPO / "bundle" / "models" / "model_int8.xml"
DATASET = REPO / "data" / "renderer_families"
DATALIST = REPO / "data" / "pair01" / "rf_datalist.json"

validation = load_datalist(DATALIST, "validation", DATASET)
preprocessing, network_def = inference_preprocessing(model_path=MODEL)
pixel_size_um = network_pixel_size_um(model_path=MODEL)
crops = standardised_crops(validation, preprocessing, pixel_size_um, [int(k) for k in network_def.total_stride][:2])
network = load_network(network_def, MODEL, "cpu", channels_last=False)
result = agreement(openvino_masks(OpenVINONetwork(network, "fp32").model, crops),
                   openvino_masks(openvino.Core().read_model(str(INT8)), crops))
print(f"0.5.0 (six members) int8 against f32 on the {result['frames']} validation frames of {DATALIST.name}: mean Dice "
      f"{result['mean_dice']:.4f}, least {result['min_dice']:.4f}, largest volume difference "
      f"{100 * result['max_abs_rel_volume_difference']:.2f} %")
