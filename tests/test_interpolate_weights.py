"""benchmarks/interpolate_weights.py: the mixture of two models' weights (WiSE-FT) is computed tensor by tensor."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from interpolate_weights import interpolate, main  # noqa: E402


def _state(seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {"conv.weight": torch.randn(4, 2, 3, generator=g), "conv.bias": torch.randn(4, generator=g),
            "norm.num_batches_tracked": torch.tensor(seed)}


def test_the_ends_are_the_two_models_and_the_middle_their_mean():
    a, b = _state(1), _state(2)
    for name in ("conv.weight", "conv.bias"):
        assert torch.equal(interpolate(a, b, 0.0)[name], a[name])
        assert torch.allclose(interpolate(a, b, 1.0)[name], b[name])
        assert torch.allclose(interpolate(a, b, 0.25)[name], 0.75 * a[name] + 0.25 * b[name])
    assert interpolate(a, b, 0.5)["norm.num_batches_tracked"] == 1  # integer counters are the start's


def test_it_refuses_what_is_not_the_same_network(tmp_path):
    a, b = _state(1), _state(2)
    with pytest.raises(ValueError, match="different tensors"):
        interpolate(a, {k: v for k, v in b.items() if k != "conv.bias"}, 0.5)
    with pytest.raises(ValueError, match="conv.weight: shapes"):
        interpolate(a, {**b, "conv.weight": torch.zeros(4, 2, 5)}, 0.5)
    with pytest.raises(ValueError, match="alpha"):
        interpolate(a, b, 1.5)


def test_the_command_writes_a_loadable_state_dict(tmp_path):
    torch.save(_state(1), tmp_path / "a.pt")
    torch.save(_state(2), tmp_path / "b.pt")
    assert main([str(tmp_path / "a.pt"), str(tmp_path / "b.pt"), "--alpha", "0.5", "--out", str(tmp_path / "m.pt")]) == 0
    mixed = torch.load(tmp_path / "m.pt", weights_only=True)
    assert torch.allclose(mixed["conv.bias"], (_state(1)["conv.bias"] + _state(2)["conv.bias"]) / 2)
