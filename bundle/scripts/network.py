"""The anisotropic attention 3D U-Net of the thesis (chapter 5.2, 5.6.2, 5.7).

Tensors follow the plugin's axis convention (``scripts/__init__.py``): a batch is ``(N, C, X, Y, Z)``,
so every stride tuple below is in (x, y, z) order. The light-sheet voxel is 0.17 x 0.17 x 2.0 um, i.e.
z is ~12x coarser than x/y; the network therefore pools only x and y in the first three
downsamplings, (2, 2, 1), and pools z only at the fourth, (2, 2, 2), once the x/y spacing has caught
up (0.17 um x 8 = 1.36 um against 2.0 um). Total stride: (16, 16, 2) voxels, so X and Y must be
multiples of 16 and Z a multiple of 2 (the 352 x 352 x 31 crop is padded to 352 x 352 x 32).

Variants (thesis figure 6.1): ``baseline``; ``A`` = attention gates; ``D`` = dropout; ``AD`` = both.

``ProbabilityEnsemble``: several trained networks of one architecture whose probabilities are averaged. Runs of one
recipe that differ only in their training seed disagree on real stacks by tens of percent in volume; averaging their
weights keeps one run's mistakes, averaging their predictions does not (bundle/docs/README.md, "Generalization").
A weights file holds an ensemble when its keys are ``members.<i>.<weight>`` (``ensemble_size``).
"""

from __future__ import annotations

import copy
import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AnisotropicAttentionUNet", "AttentionGate", "AttentionUNetEnsemble", "ProbabilityEnsemble", "VARIANTS",
           "as_ensemble_of", "ensemble_size", "network_for_weights", "with_native_pooling"]

VARIANTS = ("baseline", "A", "D", "AD")
_NORMS = ("none", "batch", "instance")


def _norm_layer(norm: str, channels: int) -> nn.Module:
    if norm == "batch":
        return nn.BatchNorm3d(channels)
    if norm == "instance":
        return nn.InstanceNorm3d(channels, affine=True)
    return nn.Identity()


class ConvBlock(nn.Sequential):
    """Two 3x3x3 'same' convolutions, each followed by the optional normalisation and a ReLU.

    In: ``(N, in_channels, X, Y, Z)``; out: ``(N, out_channels, X, Y, Z)`` (spatial size unchanged).
    """

    def __init__(self, in_channels: int, out_channels: int, norm: str, mid_dropout: float = 0.0) -> None:
        layers = []
        for i, c_in in enumerate((in_channels, out_channels)):
            # a bias before a normalisation with its own shift is redundant
            layers.append(nn.Conv3d(c_in, out_channels, kernel_size=3, padding=1, bias=norm == "none"))
            layers.append(_norm_layer(norm, out_channels))
            layers.append(nn.ReLU(inplace=True))
            if i == 0 and mid_dropout > 0:
                layers.append(nn.Dropout(mid_dropout))
        super().__init__(*layers)


class AttentionGate(nn.Module):
    """Additive attention gate of Oktay et al. 2018 ("Attention U-Net", grid attention).

    ``forward(skip, gate)``: ``skip`` is the encoder feature map ``(N, skip_channels, X, Y, Z)``,
    ``gate`` the coarser decoder feature map ``(N, gate_channels, X/sx, Y/sy, Z/sz)`` with ``stride``
    = (sx, sy, sz). Returns ``skip`` multiplied by attention coefficients in [0, 1] computed at the gate's
    resolution and upsampled (trilinear) back to the skip's resolution, as in the paper.
    """

    def __init__(self, skip_channels: int, gate_channels: int, stride: Sequence[int]) -> None:
        super().__init__()
        inter_channels = max(skip_channels // 2, 1)
        stride = tuple(int(s) for s in stride)
        # theta_x brings the skip to the gate's grid with a strided conv whose kernel equals the stride
        self.theta_x = nn.Conv3d(skip_channels, inter_channels, kernel_size=stride, stride=stride, bias=False)
        self.phi_g = nn.Conv3d(gate_channels, inter_channels, kernel_size=1, bias=True)
        self.psi = nn.Conv3d(inter_channels, 1, kernel_size=1, bias=True)

    def forward(self, skip: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        f = F.relu(self.theta_x(skip) + self.phi_g(gate))
        alpha = torch.sigmoid(self.psi(f))
        alpha = F.interpolate(alpha, size=skip.shape[2:], mode="trilinear", align_corners=False)
        return skip * alpha


class _NoGate(nn.Module):
    """Pass-through with the gate's signature, so every decoder level has the same structure."""

    def forward(self, skip: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        return skip


class StridedMaxPool3d(nn.Module):
    """Max-pooling with kernel = stride, as the maximum of the ``sx * sy * sz`` strided views of the input.

    Equal to ``nn.MaxPool3d(stride, stride)`` on inputs whose size is a multiple of the stride (the network checks
    that), and about 4x faster on CPU for channels_last_3d bf16 maps (oneDNN's pooling there is a slow generic
    kernel: ~0.1 s of a 1.2 s forward on the first level alone). No parameters: weights trained with
    ``nn.MaxPool3d`` load unchanged. Gradients of equal maxima are shared between them instead of going to one.

    ``native=True`` computes the same values as one max-pool operation: for graphs handed to another runtime
    (``with_native_pooling``), which has its own pooling kernel and quantizes a pool as one operation.
    """

    def __init__(self, stride: Sequence[int], native: bool = False) -> None:
        super().__init__()
        self.stride = [int(s) for s in stride]
        self.native = bool(native)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.native:
            return F.max_pool3d(x, self.stride, self.stride)
        sx, sy, sz = self.stride[0], self.stride[1], self.stride[2]
        out = x[:, :, 0::sx, 0::sy, 0::sz]
        for i in range(sx):
            for j in range(sy):
                for k in range(sz):
                    if i + j + k > 0:
                        out = torch.maximum(out, x[:, :, i::sx, j::sy, k::sz])
        return out


def with_native_pooling(network: nn.Module) -> nn.Module:
    """A copy of ``network`` whose ``StridedMaxPool3d`` layers are single max-pool operations (same values).

    For OpenVINO (``scripts.openvino_runtime``): its own pooling kernel beats the strided views (OpenVINO f32 and
    bf16 ~8 % faster per crop, 2-core Xeon, 2026-12-04), and post-training quantization treats one pool as one
    operation instead of putting int8 ranges on each of its strided views and partial maxima (which moved real
    stacks' volumes by up to +12 %, training_state/int8_sensitivity_0.4.6.md).
    """
    native = copy.deepcopy(network)
    for module in native.modules():
        if isinstance(module, StridedMaxPool3d):
            module.native = True
    return native


class DownBlock(nn.Module):
    """One encoder level: ConvBlock, then [dropout] -> max-pool (kernel = stride).

    ``forward(x)`` returns ``(skip, pooled)``: the ConvBlock output ``(N, out_channels, X, Y, Z)`` handed to
    the decoder (taken before the dropout) and the pooled map ``(N, out_channels, X/sx, Y/sy, Z/sz)``.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: Sequence[int], dropout: float, norm: str) -> None:
        super().__init__()
        stride = tuple(int(s) for s in stride)
        self.conv = ConvBlock(in_channels, out_channels, norm)
        # dropout before each max-pool (thesis 5.6.2)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.pool = StridedMaxPool3d(stride)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        skip = self.conv(x)
        return skip, self.pool(self.dropout(skip))


class UpBlock(nn.Module):
    """One decoder level: [dropout] -> transposed conv (kernel = stride) -> [gate the skip] -> concat -> ConvBlock.

    ``forward(x, skip)``: ``x`` is ``(N, in_channels, X/s, Y/s, Z/s)``, ``skip`` ``(N, out_channels, X, Y, Z)``;
    returns ``(N, out_channels, X, Y, Z)``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, stride: Sequence[int], attention: bool, dropout: float, norm: str
    ) -> None:
        super().__init__()
        stride = tuple(int(s) for s in stride)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.up = nn.ConvTranspose3d(in_channels, out_channels, kernel_size=stride, stride=stride)
        self.gate = AttentionGate(out_channels, in_channels, stride) if attention else _NoGate()
        self.conv = ConvBlock(2 * out_channels, out_channels, norm)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = self.up(self.dropout(x))
        skip = self.gate(skip, x)
        return self.conv(torch.cat([skip, up], dim=1))


class AnisotropicAttentionUNet(nn.Module):
    """3D U-Net with anisotropic pooling and optional attention gates / dropout (thesis variants).

    Args:
        in_channels: input channels (1: the microtubule channel).
        out_channels: 1 (logits for a sigmoid) or 2 (logits for a softmax).
        filters: feature maps per resolution level, shallow to deep; default (8, 16, 32, 64, 128).
        strides: per-downsampling stride in (x, y, z) voxels, ``len(filters) - 1`` entries; default
            (2, 2, 1) x 3 then (2, 2, 2). Max-pooling uses kernel = stride; the transposed convolutions
            going up use the same kernel and stride.
        variant: ``"baseline"``, ``"A"`` (attention gates), ``"D"`` (dropout) or ``"AD"`` (both).
        attention_levels: decoder levels that get an attention gate on their skip connection, counted
            from the deepest: 1 is the first decoder level (the 64-filter skip at the default), up to
            ``len(filters) - 1`` (the full-resolution skip). Default (1,) as in the thesis. Used by A/AD only.
        dropout: dropout rate before each max-pool and each transposed conv (variants D/AD only).
        bottleneck_dropout: extra dropout between the two bottleneck convolutions (0 = off; the
            thesis' long run used it). Applies to every variant when > 0.
        norm: ``"none"`` (thesis), ``"batch"`` or ``"instance"``.

    Input ``(N, in_channels, X, Y, Z)`` with X, Y, Z divisible by the total stride (``total_stride``,
    default (16, 16, 2)); output logits ``(N, out_channels, X, Y, Z)``. About 1.40M parameters at the default.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 1,
        filters: Sequence[int] = (8, 16, 32, 64, 128),
        strides: Sequence[Sequence[int]] = ((2, 2, 1), (2, 2, 1), (2, 2, 1), (2, 2, 2)),
        variant: str = "AD",
        attention_levels: Sequence[int] = (1,),
        dropout: float = 0.15,
        bottleneck_dropout: float = 0.0,
        norm: str = "none",
    ) -> None:
        super().__init__()
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        if norm not in _NORMS:
            raise ValueError(f"norm must be one of {_NORMS}, got {norm!r}")
        if out_channels not in (1, 2):
            raise ValueError(f"out_channels must be 1 (sigmoid) or 2 (softmax), got {out_channels}")
        filters = [int(f) for f in filters]
        strides = [tuple(int(s) for s in st) for st in strides]
        n_down = len(filters) - 1
        if len(strides) != n_down or any(len(st) != 3 for st in strides):
            raise ValueError(f"need {n_down} strides of 3 values (x, y, z) for {len(filters)} levels, got {strides}")
        attention_levels = sorted({int(level) for level in attention_levels})
        if any(not 1 <= level <= n_down for level in attention_levels):
            raise ValueError(
                f"attention_levels must lie in 1..{n_down} (1 = deepest decoder level), got {attention_levels}"
            )

        use_attention = "A" in variant
        level_dropout = float(dropout) if "D" in variant else 0.0
        self.variant = variant
        self.attention_levels = tuple(attention_levels) if use_attention else ()
        total = [1, 1, 1]
        for st in strides:
            total = [t * s for t, s in zip(total, st, strict=True)]
        self.total_stride: list[int] = total

        self.encoders = nn.ModuleList()
        c_in = in_channels
        for level in range(n_down):
            self.encoders.append(DownBlock(c_in, filters[level], strides[level], level_dropout, norm))
            c_in = filters[level]
        self.bottleneck = ConvBlock(c_in, filters[-1], norm, mid_dropout=float(bottleneck_dropout))

        self.decoders = nn.ModuleList()
        for level in range(n_down - 1, -1, -1):  # deepest first
            decoder_level = n_down - level  # 1 = deepest
            self.decoders.append(
                UpBlock(
                    filters[level + 1],
                    filters[level],
                    strides[level],
                    attention=decoder_level in self.attention_levels,
                    dropout=level_dropout,
                    norm=norm,
                )
            )
        self.head = nn.Conv3d(filters[0], out_channels, kernel_size=1)
        self._init_weights()

    def _init_weights(self) -> None:
        # He init keeps the activation scale through the ~20 ReLU layers when there is no normalisation
        for m in self.modules():
            if isinstance(m, (nn.Conv3d, nn.ConvTranspose3d)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != 5:
            raise ValueError(f"AnisotropicAttentionUNet expects (N, C, X, Y, Z), got {x.dim()} dims")
        s = self.total_stride
        if x.shape[2] % s[0] != 0 or x.shape[3] % s[1] != 0 or x.shape[4] % s[2] != 0:
            size = f"({x.shape[2]}, {x.shape[3]}, {x.shape[4]})"
            stride = f"({s[0]}, {s[1]}, {s[2]})"
            raise ValueError(
                f"AnisotropicAttentionUNet: spatial size (x, y, z) = {size} is not divisible by the total stride "
                f"{stride}; pad or crop first (e.g. DivisiblePadd k={stride})"
            )
        skips: list[torch.Tensor] = []
        for encoder in self.encoders:
            skip, x = encoder(x)
            skips.append(skip)
        x = self.bottleneck(x)
        for i, decoder in enumerate(self.decoders):
            x = decoder(x, skips[len(skips) - 1 - i])
        return self.head(x)


class ProbabilityEnsemble(nn.Module):
    """The mean of ``members``' probabilities, returned as logits so that everything downstream (the threshold at
    logit 0, the volume band's probabilities, argmax for two classes) reads it as one network's output.

    One output channel: the logit of the mean sigmoid. Two: the log of the mean softmax (its softmax is the mean
    probability, its argmax the class with the larger mean). The members' outputs are averaged in float32 whatever
    precision they ran in. ``total_stride`` is the members' (they share one architecture).
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(members) < 2:
            raise ValueError(f"an ensemble needs at least 2 members, got {len(members)}")
        self.members = nn.ModuleList(members)
        self.total_stride = getattr(members[0], "total_stride", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = torch.stack([member(x).float() for member in self.members])
        # Computed in log space: logit(mean p) = log(mean p) - log(mean (1 - p)) taken as 1 - mean p in float32 loses
        # the logit's digits where the members agree (p within 1e-6 of 1: a 0.04 logit difference between PyTorch
        # and ONNX Runtime). log p_i = -softplus(-z_i) and log(1 - p_i) = -softplus(z_i) stay exact; the 1/N cancels.
        if logits.shape[2] == 1:
            return _log_mean_exp(-_softplus(-logits)) - _log_mean_exp(-_softplus(logits))
        return _log_mean_exp(torch.log_softmax(logits, dim=2))


def _softplus(x: torch.Tensor) -> torch.Tensor:
    """log(1 + exp(x)) without overflow, written out in operations that every runtime the bundle exports to has."""
    return torch.relu(x) + torch.log1p(torch.exp(-torch.abs(x)))


def _log_mean_exp(values: torch.Tensor) -> torch.Tensor:
    """log of the mean of exp(values) over the first axis (the members), shifted by its largest value so that
    nothing overflows or underflows to log 0."""
    largest = values.amax(0)
    return largest + torch.log(torch.exp(values - largest).mean(0))


class AttentionUNetEnsemble(ProbabilityEnsemble):
    """``members`` AnisotropicAttentionUNets of one ``architecture`` (their keyword arguments), averaged: the ensemble
    built from keyword arguments alone, as a BioImage.IO package's ``pytorch_state_dict`` entry builds its network."""

    def __init__(self, members: int = 2, architecture: dict | None = None) -> None:
        super().__init__([AnisotropicAttentionUNet(**(architecture or {})) for _ in range(int(members))])


def ensemble_size(state: dict) -> int:
    """How many members a state dict holds (keys ``members.<i>.<weight>``, i = 0..n-1); 0 for a single network."""
    indices = {key.split(".", 2)[1] for key in state if key.startswith("members.") and key.count(".") >= 2}
    if not indices:
        return 0
    if not all(i.isdigit() for i in indices) or {int(i) for i in indices} != set(range(len(indices))):
        raise ValueError(f"ensemble weights must be numbered members.0 .. members.{len(indices) - 1}, "
                         f"found members {sorted(indices)}")
    return len(indices)


def read_state_dict(path: str | os.PathLike) -> dict:
    """The network weights in the file at ``path``: the state dict training writes to model.pt, or the live weights
    (``"model"``) of a resumable checkpoint.pt. Loaded weights-only, so a file cannot run code. ValueError naming the
    file when it cannot be loaded that way or holds no weights."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle of arbitrary objects, a truncated download, not a torch file at all
        first_line = str(error).splitlines()[0] if str(error) else ""
        raise ValueError(f"model file {path} cannot be loaded as weights only (torch.load(weights_only=True)): "
                         f"{type(error).__name__}: {first_line}; expected the state dict that training writes to "
                         "models/model.pt") from error
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]  # a resumable training checkpoint holds the weights under "model"
    if not isinstance(state, dict) or not state:
        raise ValueError(f"model file {path} holds {type(state).__name__ if state is not None else 'None'}, not the "
                         "state dict of network weights that training writes to models/model.pt")
    return state


def network_for_weights(weights: str | os.PathLike | None = None, **unet_kwargs) -> nn.Module:
    """The configs' ``network_def``: an AnisotropicAttentionUNet (``unet_kwargs``), or an AttentionUNetEnsemble of
    as many of them as the weights file at ``weights`` holds members (``scripts.ensemble``), so that the network
    the configs train, checkpoint and evaluate is the one those weights fill. A missing or unreadable file gives
    the single network: loading the weights (``scripts.inference.load_network``) then says what is wrong."""
    members = 0
    if weights and Path(weights).is_file():
        try:
            members = ensemble_size(read_state_dict(weights))
        except ValueError:  # reported, with the file's name, where the weights are loaded
            members = 0
    return AttentionUNetEnsemble(members, unet_kwargs) if members else AnisotropicAttentionUNet(**unet_kwargs)


def as_ensemble_of(network: nn.Module, state: dict) -> nn.Module:
    """``network`` itself for the weights of one network, or a ``ProbabilityEnsemble`` of copies of it for a state
    dict of several (``ensemble_size``), ready for ``load_state_dict(state)``."""
    n = ensemble_size(state)
    if n == 0 or isinstance(network, ProbabilityEnsemble):
        return network
    return ProbabilityEnsemble([copy.deepcopy(network) for _ in range(n)])
