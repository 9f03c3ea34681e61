"""benchmarks/openvino_layers.py on a tiny crop: it profiles every model the CPU can run and reports the floor."""

import sys
from pathlib import Path

import pytest

REPO_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_DIR / "benchmarks"))

pytest.importorskip("openvino")


def test_layer_profile_names_kernels_floor_and_streams(tmp_path, capsys):
    import openvino_layers

    out = tmp_path / "layers.md"
    assert openvino_layers.main(["--crop", "32", "32", "8", "--repeats", "1", "--out", str(out)]) == 0
    report = out.read_text()
    assert "floor at the fp32 GEMM peak" in report
    # the shipped int8 model belongs to the shipped weights, so both models are profiled
    for model in ("f32 network", "int8 model (scripts.quantize)"):
        assert f"| {model} | seconds per crop" in report
    assert "Convolution / " in report  # per-kernel rows, named by OpenVINO's exec type
    assert "_I8" in report  # the int8 model's convolutions run int8 kernels
    assert report.count("two streams x one thread") >= 2
