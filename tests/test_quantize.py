"""The int8 network for CPUs without native bf16 (scripts/quantize.py, scripts/openvino_runtime.py): which model
``int8: auto`` runs where, why ``int8: true`` refuses, and that ``python -m scripts.quantize`` writes a model the
evaluation takes (its masks against full precision on real-size frames: tests/test_fast_path.py, slow)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import BUNDLE_DIR, bundle_configs
from monai.bundle import ConfigParser
from scripts.config import SHIPPED_MODELS
from scripts.io import file_sha256
from scripts.network import AnisotropicAttentionUNet
from scripts.openvino_runtime import OpenVINONetwork, int8_identity, resolve_int8_model
from scripts.quantize import DEFAULT_MIN_MEAN_DICE, FLOAT_OPERATIONS, int8_model_record, main, write_int8_model
from scripts.resolution import trained_pixel_size_um

pytest.importorskip("openvino", reason="OpenVINO is pinned in requirements.txt")
SHIPPED_WEIGHTS = BUNDLE_DIR / "models" / "model.pt"
SHIPPED_INT8 = BUNDLE_DIR / "models" / "model_int8.xml"


def _weights(path: Path, seed: int = 0) -> Path:
    torch.manual_seed(seed)
    torch.save(AnisotropicAttentionUNet().state_dict(), path)
    return path


def _int8_model_for(weights: Path, path: Path) -> Path:
    """An OpenVINO model file that records ``weights`` as its source (the selection logic only reads the record)."""
    network = AnisotropicAttentionUNet()
    network.load_state_dict(torch.load(weights, weights_only=True))
    write_int8_model(OpenVINONetwork(network, "fp32").model, path, {"model_sha256": file_sha256(weights)})
    return path


@pytest.fixture
def no_native_bf16(monkeypatch):
    import scripts.precision

    monkeypatch.setattr(scripts.precision, "cpu_has_native_bf16", lambda: False)


def test_auto_runs_the_int8_model_only_on_cpus_without_native_bf16(tmp_path, monkeypatch, no_native_bf16):
    weights = _weights(tmp_path / "model.pt")
    int8 = _int8_model_for(weights, tmp_path / "model_int8.xml")
    assert resolve_int8_model("auto", int8, weights, "openvino", "auto", "cpu") == str(int8)
    assert resolve_int8_model("AUTO", int8, weights, "openvino", "fp32", "cpu") is None  # --precision fp32: full
    assert resolve_int8_model("auto", int8, weights, "torch", "auto", "cpu") is None
    assert resolve_int8_model("false", int8, weights, "openvino", "auto", "cpu") is None
    assert resolve_int8_model("auto", tmp_path / "absent.xml", weights, "openvino", "auto", "cpu") is None
    assert resolve_int8_model("auto", None, weights, "openvino", "auto", "cpu") is None
    other = _weights(tmp_path / "finetuned.pt", seed=1)  # a fine-tuned model beside the shipped int8 file
    with pytest.warns(UserWarning, match="made from other weights .*python -m scripts.quantize"):
        assert resolve_int8_model("auto", int8, other, "openvino", "auto", "cpu") is None
    import scripts.precision

    monkeypatch.setattr(scripts.precision, "cpu_has_native_bf16", lambda: True)
    assert resolve_int8_model("auto", int8, weights, "openvino", "auto", "cpu") is None  # bf16 is as fast there
    assert resolve_int8_model("true", int8, weights, "openvino", "auto", "cpu") == str(int8)


def test_int8_true_says_why_it_cannot_run(tmp_path):
    weights = _weights(tmp_path / "model.pt")
    int8 = _int8_model_for(weights, tmp_path / "model_int8.xml")
    with pytest.raises(ValueError, match="needs the OpenVINO runtime"):
        resolve_int8_model("true", int8, weights, "torch", "auto", "cpu")
    with pytest.raises(ValueError, match=r"no int8 model .*absent\.xml"):
        resolve_int8_model("true", tmp_path / "absent.xml", weights, "openvino", "auto", "cpu")
    with pytest.raises(ValueError, match="made from other weights"):
        resolve_int8_model("true", int8, _weights(tmp_path / "other.pt", seed=2), "openvino", "auto", "cpu")
    with pytest.raises(ValueError, match="choose one of auto, true, false"):
        resolve_int8_model("yes", int8, weights, "openvino", "auto", "cpu")
    import openvino

    unrecorded = tmp_path / "plain.xml"  # an OpenVINO model that scripts.quantize did not write
    openvino.save_model(OpenVINONetwork(AnisotropicAttentionUNet(), "fp32").model, str(unrecorded))
    with pytest.raises(ValueError, match="does not say which weights"):
        resolve_int8_model("true", unrecorded, weights, "openvino", "auto", "cpu")
    int8.with_suffix(".bin").unlink()
    with pytest.raises(ValueError, match=r"has no model_int8\.bin beside it"):
        resolve_int8_model("true", int8, weights, "openvino", "auto", "cpu")


def test_inference_config_runs_the_int8_model_and_records_it(tmp_path):
    weights = _weights(tmp_path / "model.pt")
    int8 = _int8_model_for(weights, tmp_path / "model_int8.xml")

    def config(**overrides) -> ConfigParser:
        parser = ConfigParser()
        parser.read_config(bundle_configs("inference"))
        parser.update({"device": "$torch.device('cpu')", "model_path": str(weights), "int8_model_path": str(int8),
                       **overrides})
        return parser

    parser = config(int8="true")
    network = parser.get_parsed_content("network")
    assert isinstance(network, OpenVINONetwork) and network.int8_model == str(int8)
    assert network.precision == parser.get_parsed_content("resolved_precision")  # the layers left in floating point
    # a rerun with or without the int8 model evaluates again instead of reporting the other's volumes
    assert parser.get_parsed_content("run_settings#int8_model") == file_sha256(int8.with_suffix(".bin"))
    assert config(int8="false").get_parsed_content("run_settings#int8_model") is None
    # the default, auto: the int8 model on CPUs without native bf16 (where OpenVINO would run f32), never with it
    for native_bf16, expected in ((False, str(int8)), (True, None)):
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr("scripts.precision.cpu_has_native_bf16", lambda native_bf16=native_bf16: native_bf16)
            default = config()
            assert default.get_parsed_content("resolved_int8_model") == expected
            assert default.get_parsed_content("network").int8_model == expected
    assert int8_identity(None) is None
    with pytest.raises(RuntimeError) as failure:  # MONAI wraps the error; the command line prints the cause last
        config(int8="true", runtime="torch").get_parsed_content("network")
    assert "--int8 true needs the OpenVINO runtime" in str(failure.value.__cause__)


@pytest.mark.parametrize("folder", sorted(SHIPPED_MODELS.values()))
def test_the_shipped_int8_model_is_made_from_the_shipped_weights(folder):
    """A new models/model.pt (or models/fast/model.pt) needs a new int8 model beside it (python -m scripts.quantize):
    else --int8 auto would fall back to f32 (with a warning) and --int8 true would refuse."""
    weights, int8 = BUNDLE_DIR / folder / "model.pt", BUNDLE_DIR / folder / "model_int8.xml"
    record = int8_model_record(int8)
    assert record is not None and record["model_sha256"] == file_sha256(weights)
    assert record["float_operations"] == list(FLOAT_OPERATIONS)
    assert record["agreement_with_f32"]["mean_dice"] >= DEFAULT_MIN_MEAN_DICE
    assert resolve_int8_model("true", int8, weights, "openvino", "auto", "cpu") == str(int8)


def test_quantize_writes_an_int8_model_the_evaluation_takes(tmp_path, tiny_phantom, capsys):
    pytest.importorskip("nncf", reason="the int8 extra: requirements-quantize.txt (make test installs it)")
    dataset = tmp_path / "data"
    shutil.copytree(tiny_phantom, dataset)
    weights = _weights(tmp_path / "model.pt", seed=4)
    out = tmp_path / "int8" / "model_int8.xml"
    # an agreement no int8 model reaches: nothing is written, and the error says so last
    assert main(["--dataset_dir", str(dataset), "--model_path", str(weights), "--out", str(out),
                 "--calibration_frames", "4", "--min_mean_dice", "1.01"]) == 1
    assert "nothing written" in capsys.readouterr().err.strip().splitlines()[-1]
    assert not out.exists() and not out.with_suffix(".bin").exists()
    assert main(["--dataset_dir", str(dataset), "--model_path", str(weights), "--out", str(out),
                 "--calibration_frames", "4", "--min_mean_dice", "0"]) == 0
    record = int8_model_record(out)
    training_frames = len(json.loads((dataset / "datalist.json").read_text())["training"])  # built by the first run
    assert record["model_sha256"] == file_sha256(weights)
    assert record["calibration"]["frames"] == min(4, training_frames) >= 1
    assert 0.0 <= record["agreement_with_f32"]["mean_dice"] <= 1.0
    assert record["agreement_with_f32"]["data"] == "validation" or not json.loads(
        (dataset / "datalist.json").read_text())["validation"]  # which frames the agreement was measured on
    assert sorted(p.name for p in out.parent.iterdir()) == ["model_int8.bin", "model_int8.xml"]  # no leftovers
    import openvino

    types = {op.get_type_name() for op in openvino.Core().read_model(str(out)).get_ordered_ops()}
    assert "FakeQuantize" in types  # int8 quantization points, not a copy of the float network
    network = AnisotropicAttentionUNet()
    network.load_state_dict(torch.load(weights, weights_only=True))
    int8 = OpenVINONetwork(network, "fp32", int8_model=resolve_int8_model("true", out, weights, "openvino", "fp32", "cpu"))
    x = torch.randn(1, 1, 32, 48, 8, generator=torch.Generator().manual_seed(0))
    logits = int8(x)
    assert logits.shape == x.shape and torch.isfinite(logits).all()
    with pytest.raises(SystemExit):
        main(["--dataset_dir", str(dataset), "--model_path", str(weights), "--out", str(tmp_path / "model.onnx")])


def test_weights_trained_at_a_coarser_pixel_size_are_calibrated_on_what_their_network_sees(tmp_path, tiny_phantom):
    """The int8 model's activation ranges come from crops as the inferer shows them to the network: for weights
    whose provenance.json says 0.34 um, the 0.17-um frames resampled to half their x-y size (and padded to the
    stride), not the files' own grid."""
    from scripts.datalist import load_datalist
    from scripts.quantize import inference_preprocessing, network_pixel_size_um, standardised_crops
    from scripts.training import ensure_datalist

    (tmp_path / "coarse").mkdir()
    weights = _weights(tmp_path / "coarse" / "model.pt")
    (weights.parent / "provenance.json").write_text(json.dumps(
        {"pixel_size_um": 0.34, "file_pixel_size_um": 0.17, "settings": {"crop_size": [352, 352, -1]}}))
    dataset = tmp_path / "data"
    shutil.copytree(tiny_phantom, dataset)
    items = load_datalist(ensure_datalist(dataset, ""), "training", dataset)[:1]
    shipped_um = trained_pixel_size_um(BUNDLE_DIR / "models" / "model.pt", 0.17)  # its provenance.json, or 0.17
    assert network_pixel_size_um() == pytest.approx(shipped_um)
    assert network_pixel_size_um(model_path=weights) == pytest.approx(0.34)
    preprocessing, network_def = inference_preprocessing(model_path=weights)
    (file_grid,) = standardised_crops(items, preprocessing)
    (network_grid,) = standardised_crops(items, preprocessing, 0.34, network_def.total_stride[:2])
    assert file_grid.shape == (1, 1, 64, 64, 8)  # the whole 64 x 64 frame (176 voxels of 0.34 um cover it)
    assert network_grid.shape == (1, 1, 32, 32, 8)  # 64 x 0.17 / 0.34, already a multiple of 16
    binned = file_grid[0, 0].reshape(32, 2, 32, 2, 8).mean(axis=(1, 3))
    assert np.corrcoef(binned.ravel(), network_grid[0, 0].ravel())[0, 1] > 0.95
