"""Numeric precision and memory layout for fast inference and training on the hardware at hand.

``precision`` settings in the configs take one of ``"auto"``, ``"fp32"``, ``"bf16"`` or ``"fp16"``.
``"auto"`` picks the fastest path that gives the same answer:

- CUDA: fp16 autocast (AMP).
- CPU with native bf16 instructions (oneDNN reports AVX512-BF16 / AMX): bf16 autocast.
- any other CPU: fp32. Without native bf16, oneDNN emulates it and a 3D convolution runs about
  100x slower than fp32 (measured on an AVX2-only EPYC: 68 s against 0.54 s), so bf16 is never
  chosen there automatically.

channels_last_3d memory layout is used on CPU for every precision: oneDNN's blocked 3D
convolutions run about 2x faster with it even in fp32.
"""

from __future__ import annotations

import contextlib

import torch

PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def cpu_has_native_bf16() -> bool:
    """True when oneDNN can run bf16 convolutions natively on this CPU (AVX512-BF16 or AMX)."""
    return bool(torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported())


def resolve_precision(requested: str, device: torch.device | str) -> str:
    """Turn a config's ``precision`` setting into the concrete one for ``device``: 'fp32', 'bf16' or 'fp16'."""
    requested = str(requested).lower()
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, found {requested!r}")
    device_type = torch.device(device).type
    if requested == "auto":
        if device_type == "cuda":
            return "fp16"
        return "bf16" if device_type == "cpu" and cpu_has_native_bf16() else "fp32"
    if requested == "fp16" and device_type == "cpu":
        raise ValueError("precision 'fp16' is for CUDA devices; on CPU use 'auto', 'bf16' or 'fp32'")
    return requested


def autocast_context(precision: str, device: torch.device | str):
    """A context manager running the forward pass in ``precision`` (already resolved) on ``device``."""
    device_type = torch.device(device).type
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device_type, dtype=dtype)


def use_channels_last(device: torch.device | str) -> bool:
    """channels_last_3d: on CPU (oneDNN) and on CUDA (cuDNN), where it pays off.

    Measured (training_state/gpu_h200_forward_training.md, H200, one 352 x 352 x 32 crop): fp16 autocast 17.5 ms
    in the default layout, 4.7 ms in channels_last_3d; fp32 (TF32) 9.0 / 8.0 ms.
    """
    return torch.device(device).type in ("cpu", "cuda")
