"""The precision switch: 'auto' never picks an emulated (slow) dtype, and the fast path keeps the answer."""

import pytest
import torch
from scripts import precision


def test_auto_on_cpu_follows_native_bf16_support(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    assert precision.resolve_precision("auto", "cpu") == "fp32"
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    assert precision.resolve_precision("auto", "cpu") == "bf16"


def test_auto_on_cuda_is_fp16_and_explicit_choices_are_kept():
    assert precision.resolve_precision("auto", "cuda") == "fp16"
    assert precision.resolve_precision("FP32", "cuda") == "fp32"
    assert precision.resolve_precision("bf16", "cpu") == "bf16"


def test_bad_precision_names_are_refused():
    with pytest.raises(ValueError, match="precision must be one of"):
        precision.resolve_precision("half", "cpu")
    with pytest.raises(ValueError, match="for CUDA devices"):
        precision.resolve_precision("fp16", "cpu")


def test_fp32_autocast_context_changes_nothing():
    with precision.autocast_context("fp32", "cpu"):
        out = torch.ones(2, 2) @ torch.ones(2, 2)
    assert out.dtype == torch.float32
