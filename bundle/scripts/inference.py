"""The network's forward pass as training, validation and evaluation run it: weights in, logits out, fast.

- ``load_network(network, model_path, device, channels_last)``: a weights-only state dict into the configured
  network (``network_def``), refusing a file that does not match it.
- ``AutocastInferer(precision, channels_last, flip_tta, model_pixel_size_um)``: the whole-crop forward pass in the
  precision that ``scripts.precision.resolve_precision`` picked (bf16 autocast on CPUs with native bf16, fp16 on
  CUDA, else fp32), on channels_last_3d input; optional flip test-time augmentation; optionally at the model's x-y
  pixel size (``scripts.resolution``).
- ``compile_for_inference(network, enabled)``: opt-in ``torch.compile`` with frozen weights.

``configs/train.yaml`` and ``configs/inference.yaml`` both build their inferers from here, so the forward pass
that picked the best weights is the one that measures volumes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from monai.data import MetaTensor
from monai.inferers import Inferer

from scripts.network import as_ensemble_of, read_state_dict
from scripts.precision import PRECISIONS, autocast_context
from scripts.resolution import to_model_grid, xy_pixel_size_um


def load_network(network: torch.nn.Module, model_path: str | Path, device: str | torch.device = "cpu",
                 channels_last: bool = True) -> torch.nn.Module:
    """Load a weights-only state dict (``torch.load(weights_only=True)``) into ``network``; move it to ``device``.

    With ``channels_last`` the weights are stored channels_last_3d, the layout oneDNN's fast 3D convolutions use
    on CPU. Raises FileNotFoundError naming the path when there is no model file, ValueError when the file is not
    a weights file or does not match ``network``. Returns the network in eval mode: ``network`` itself, or for the
    weights of several runs in one file (keys ``members.<i>.<weight>``) a ``scripts.network.ProbabilityEnsemble``
    of copies of it, which averages their probabilities.
    """
    model_path = Path(model_path)
    if not model_path.is_file():
        raise FileNotFoundError(f"model file {model_path} not found: train first (configs/train.yaml) or pass --model_path")
    state = read_state_dict(model_path)
    try:
        network = as_ensemble_of(network, state)  # several runs' weights in one file: their predictions averaged
        network.load_state_dict(state)  # strict: every weight must match, or the masks would be silently wrong
    except (RuntimeError, ValueError) as error:
        raise ValueError(f"model file {model_path} does not match the configured network {type(network).__name__} "
                         f"({_weights_mismatch(network.state_dict(), state)}): set the network parameters (filters, "
                         "variant, attention_levels, norm, out_channels) to those the model was trained with") from error
    network = network.to(device)
    if channels_last:
        network = network.to(memory_format=torch.channels_last_3d)
    return network.eval()


def _weights_mismatch(expected: dict, found: dict) -> str:
    """One line on how two state dicts differ: missing / unexpected keys and shape mismatches, with examples."""
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    reshaped = [k for k in expected if k in found and tuple(expected[k].shape) != tuple(getattr(found[k], "shape", ()))]
    parts = []
    for label, keys in (("missing", missing), ("unexpected", unexpected), ("of another shape", reshaped)):
        if keys:
            parts.append(f"{len(keys)} weights {label}, e.g. {keys[0]}")
    return "; ".join(parts) or "the weights differ"


class AutocastInferer(Inferer):
    """Whole-crop forward pass in a resolved ``precision`` with channels_last_3d input; logits out as float32.

    ``precision`` is what ``scripts.precision.resolve_precision`` returns: "fp32" (plain), "bf16" (autocast; only
    fast on CPUs with native bf16) or "fp16" (CUDA autocast). channels_last_3d pays on CPU even in fp32 (0.85 s
    against 1.7 s per 96 x 96 x 12 crop here). Input (N, C, X, Y, Z); output (N, out_channels, X, Y, Z) float32.
    The network runs on the plain tensor (no per-operation meta bookkeeping); a MetaTensor input gives a
    MetaTensor output carrying a copy of the input's meta and applied operations.

    ``flip_tta`` (test-time augmentation, as nnU-Net's mirroring): the crop also runs flipped along x, y and both
    (4 forward passes: 4x the time), the outputs are flipped back and their probabilities averaged (sigmoid for
    one output channel, softmax for two); the result is returned as logits again (log-odds of the mean
    probability, log of the mean for softmax), so thresholds and argmax downstream are unchanged. Only the flips
    of training's augmentation are used (no z flip).

    ``model_pixel_size_um`` (None: the network sees the input's own voxels): the network sees the crop resampled in
    x-y to this pixel size, read from the input MetaTensor's affine, and the logits come back on the input's grid
    (``scripts.resolution.to_model_grid``; ``xy_divisor``: the network's x-y stride, to pad the resampled crop to).
    An input at that pixel size is not resampled. ``input_pixel_size_um``: the input's x-y pixel size, instead of
    reading it from the affine. Training sets it (``network_pixel_size_um`` in train.yaml): its scale augmentation
    rewrites each crop's affine, but the network must see every crop of the training files at the same scale.
    """

    def __init__(self, precision: str = "fp32", channels_last: bool = True, flip_tta: bool = False,
                 model_pixel_size_um: float | None = None, xy_divisor: Sequence[int] | int = 16,
                 input_pixel_size_um: float | None = None) -> None:
        super().__init__()
        if precision not in PRECISIONS or precision == "auto":
            raise ValueError(f"AutocastInferer needs a resolved precision (fp32, bf16 or fp16), found {precision!r}; "
                             "resolve 'auto' with scripts.precision.resolve_precision first")
        self.precision = precision
        self.channels_last = bool(channels_last)
        self.flip_tta = bool(flip_tta)
        self.model_pixel_size_um = None if model_pixel_size_um is None else float(model_pixel_size_um)
        self.xy_divisor = [int(d) for d in (xy_divisor if isinstance(xy_divisor, Sequence) else (xy_divisor,) * 2)][:2]
        self.input_pixel_size_um = None if input_pixel_size_um is None else float(input_pixel_size_um)

    def _forward(self, x: torch.Tensor, network: torch.nn.Module, *args: Any, **kwargs: Any) -> torch.Tensor:
        if self.channels_last and x.dim() == 5:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        with autocast_context(self.precision, x.device):
            return network(x, *args, **kwargs).float().contiguous()

    def __call__(self, inputs: torch.Tensor, network: torch.nn.Module, *args: Any, **kwargs: Any) -> torch.Tensor:
        x = inputs.as_tensor() if hasattr(inputs, "as_tensor") else inputs  # plain tensor: no meta bookkeeping per op
        to_input_grid = None
        if self.model_pixel_size_um is not None:
            pixel_um_xy = ((self.input_pixel_size_um,) * 2 if self.input_pixel_size_um is not None
                           else xy_pixel_size_um(inputs))
            x, to_input_grid = to_model_grid(x, pixel_um_xy, self.model_pixel_size_um, self.xy_divisor)
        if not self.flip_tta:
            logits = self._forward(x, network, *args, **kwargs)
        else:
            probabilities = None
            for dims in ((), (2,), (3,), (2, 3)):  # (N, C, X, Y, Z): flip x, y, both
                flipped = torch.flip(x, dims) if dims else x
                out = self._forward(flipped, network, *args, **kwargs)
                out = torch.flip(out, dims) if dims else out
                p = torch.sigmoid(out) if out.shape[1] == 1 else torch.softmax(out, dim=1)
                probabilities = p if probabilities is None else probabilities + p
            mean = (probabilities / 4.0).clamp(1e-7, 1.0 - 1e-7)
            logits = (torch.logit(mean) if mean.shape[1] == 1 else torch.log(mean)).contiguous()
        if to_input_grid is not None:
            logits = to_input_grid(logits)
        if isinstance(inputs, MetaTensor):
            # as a MetaTensor forward would: the prediction carries a copy of the input's meta (and trace)
            logits = MetaTensor(logits)
            logits.copy_meta_from(inputs, copy_attr=True)
        return logits


def compile_for_inference(network: torch.nn.Module, enabled: bool = True) -> torch.nn.Module:
    """``torch.compile`` (inductor) with weight freezing for inference; ``network`` unchanged when not ``enabled``.

    Freezing folds the weights into the graph as constants so that oneDNN can pre-pack them and inductor can fuse
    the elementwise ops around the convolutions: on the 2-core AVX2 machine the 352 x 352 x 32 crop went from
    2.99 s (fp32 + channels_last_3d) to 2.64 s, logits within 2e-4 (benchmarks/forward.py). The first call
    compiles (~15-30 s, needs a C++ compiler on CPU) and so does any new input shape, which is why it is opt-in:
    it pays off from a few dozen frames on. In bf16 (CPUs with AMX) it loses: the compiled network ran 1.7x slower
    inside the evaluating pipeline (benchmarks, 2026-12-02). Inference only: the frozen weights no longer follow the
    parameters.
    """
    if not enabled:
        return network
    return torch.compile(network, options={"freezing": True}, dynamic=False)
