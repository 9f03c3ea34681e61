"""benchmarks/openvino_layers.py on a tiny crop: it profiles every model the CPU can run and reports the floor."""

import sys
from pathlib import Path

import pytest

REPO_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_DIR / "benchmarks"))

pytest.importorskip("openvino")


def test_layer_profile_names_kernels_floor_and_streams(tmp_path):
    import openvino_layers

    out = tmp_path / "layers.md"
    # every kernel listed: on a tiny crop the reorders may cost more than the convolutions
    assert openvino_layers.main(["--crop", "32", "32", "8", "--repeats", "1", "--kernels", "100", "--out", str(out)]) == 0
    report = out.read_text()
    assert "floor at the fp32 GEMM peak" in report
    # the shipped int8 model belongs to the shipped weights, so both models are profiled
    for model in ("f32 network", "int8 model (scripts.quantize)"):
        assert f"| {model} | seconds per crop" in report
    assert "Convolution / " in report  # per-kernel rows, named by OpenVINO's exec type
    assert "_I8" in report  # the int8 model's convolutions run int8 kernels
    assert report.count("two streams x one thread") >= 2


def test_narrower_network_is_profiled_with_its_own_flops(tmp_path):
    import openvino_layers

    out = tmp_path / "narrow.md"
    assert openvino_layers.main(["--crop", "32", "32", "8", "--repeats", "1", "--filters", "4", "8", "16", "32", "64",
                                 "--out", str(out)]) == 0
    report = out.read_text()
    assert "| filters 4-8-16-32-64: f32 network | seconds per crop" in report
    assert "int8 model" not in report  # the shipped int8 model belongs to the default widths only
    default = openvino_layers.count_forward_flops((352, 352, 32), filters=[8, 16, 32, 64, 128])
    narrow = openvino_layers.count_forward_flops((352, 352, 32), filters=[4, 8, 16, 32, 64])
    assert 3.5 < default / narrow < 4.5  # half the widths: about a quarter of the multiply-adds
