"""OpenVINO as the evaluation's CPU runtime (scripts/openvino_runtime.py): the same answer as PyTorch, chosen by
``runtime: auto`` on a CPU, refused where it cannot run."""

from __future__ import annotations

import pytest
import torch
from conftest import bundle_configs
from monai.bundle import ConfigParser
from monai.data import MetaTensor
from scripts.inference import AutocastInferer
from scripts.network import AnisotropicAttentionUNet
from scripts.openvino_runtime import OpenVINONetwork, resolve_runtime
from scripts.precision import cpu_has_native_bf16

pytest.importorskip("openvino", reason="OpenVINO is pinned in requirements.txt")
SHAPES = [(1, 1, 32, 48, 8), (1, 1, 64, 32, 12)]  # multiples of the total stride, every axis different


def _network(seed: int = 0) -> AnisotropicAttentionUNet:
    torch.manual_seed(seed)
    return AnisotropicAttentionUNet().eval()


def _input(shape, seed: int = 1) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_runtime_resolution():
    assert resolve_runtime("auto", "cpu") == "openvino"
    assert resolve_runtime("AUTO", torch.device("cuda")) == "torch"  # a GPU runs PyTorch
    assert resolve_runtime("auto", "cpu", torch_compile=True) == "torch"  # torch.compile is PyTorch's
    assert resolve_runtime("torch", "cpu") == "torch"
    with pytest.raises(ValueError, match="--runtime openvino runs on the CPU"):
        resolve_runtime("openvino", "cuda")
    with pytest.raises(ValueError, match="choose one of auto, torch, openvino"):
        resolve_runtime("tensorrt", "cpu")


def test_fp32_openvino_gives_pytorchs_logits_on_any_shape():
    network = _network()
    compiled = OpenVINONetwork(network, "fp32")
    assert compiled.inference_precision == "f32"
    for shape in SHAPES + SHAPES[:1]:  # one conversion serves every shape, compiled once per shape
        x = _input(shape)
        with torch.inference_mode():
            reference = network(x)
        logits = compiled(x)
        assert logits.dtype == torch.float32 and logits.shape == x.shape
        scale = max(float(reference.abs().max()), 1.0)
        assert float((logits - reference).abs().max()) <= 1e-4 * scale
        assert torch.equal(logits > 0, reference > 0)
        # channels_last input (what the inferer hands over on CPU) is the same tensor
        assert torch.equal(compiled(x.contiguous(memory_format=torch.channels_last_3d)), logits)
    assert compiled.compiled_shapes == SHAPES[::-1]  # the shape met again reused its compilation (and is the latest)
    dynamic = OpenVINONetwork(network, "fp32", static_shapes=False)
    for shape in SHAPES:
        x = _input(shape)
        assert torch.allclose(dynamic(x), compiled(x), atol=1e-4 * max(float(compiled(x).abs().max()), 1.0))
    assert dynamic.compiled_shapes == [()]


def test_the_converted_network_pools_with_openvinos_max_pool():
    """One MaxPool operation per encoder level, not the strided views and partial maxima of PyTorch's pooling:
    NNCF would give each of those its own int8 range (which moved real stacks' volumes by up to +14 %)."""
    types = [op.get_type_name() for op in OpenVINONetwork(_network(), "fp32").model.get_ordered_ops()]
    assert types.count("MaxPool") == 4 and "Maximum" not in types


def test_only_the_most_recent_shapes_stay_compiled(monkeypatch):
    import scripts.openvino_runtime as runtime

    monkeypatch.setattr(runtime, "MAX_COMPILED_SHAPES", 2)
    compiled = OpenVINONetwork(_network(), "fp32")
    shapes = [(1, 1, 16, 16, 2), (1, 1, 32, 16, 2), (1, 1, 16, 16, 2), (1, 1, 16, 32, 4)]
    for shape in shapes:
        compiled(_input(shape))
    assert compiled.compiled_shapes == [shapes[2], shapes[3]]  # (32, 16, 2), least recently used, was dropped


@pytest.mark.skipif(not cpu_has_native_bf16(), reason="no native bf16 on this CPU: OpenVINO computes in fp32")
def test_bf16_openvino_masks_match_fp32():
    network = _network()
    compiled = OpenVINONetwork(network, "bf16")
    assert compiled.inference_precision == "bf16"
    x = _input(SHAPES[0])
    with torch.inference_mode():
        reference = network(x)
    logits = AutocastInferer(precision="bf16", channels_last=True)(MetaTensor(x), compiled)
    assert isinstance(logits, MetaTensor)
    assert float(((logits.as_tensor() > 0) == (reference > 0)).float().mean()) >= 0.99


def _config(**overrides) -> ConfigParser:
    config = ConfigParser()
    config.read_config(bundle_configs("inference"))
    config.update({"device": "$torch.device('cpu')", **overrides})
    return config


def test_inference_config_runs_openvino_on_the_cpu_by_default(tmp_path):
    weights = tmp_path / "model.pt"
    torch.save(_network(seed=3).state_dict(), weights)
    config = _config(model_path=str(weights))
    assert config.get_parsed_content("resolved_runtime") == "openvino"
    assert config.get_parsed_content("run_settings#runtime") == "openvino"  # a rerun with another runtime redoes
    network = config.get_parsed_content("network")
    assert isinstance(network, OpenVINONetwork)
    assert network.precision == config.get_parsed_content("resolved_precision")
    torch_network = _config(model_path=str(weights), runtime="torch").get_parsed_content("network")
    assert isinstance(torch_network, AnisotropicAttentionUNet)
    with pytest.raises(RuntimeError) as failure:  # MONAI wraps the error; the command line prints the cause last
        _config(model_path=str(weights), runtime="openvino", torch_compile="true").get_parsed_content("network")
    assert "--torch_compile true compiles the PyTorch network" in str(failure.value.__cause__)
