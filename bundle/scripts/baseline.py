"""The classical baselines as loader transforms: Spindle3D's method (``Spindle3DBaselined``, the default; the method is
``scripts.spindle3d``) and what a Fiji user tries first: Gaussian blur, Otsu threshold, keep the largest object.

It runs on the same preprocessed crop the network sees (centre crop, z padding, standardisation) and
its mask goes through the same inversion, volume and summary code, so the evaluator can report it beside
the network ("what the network buys you"). Arrays follow the plugin's axis convention: (X, Y, Z) spatial,
(C, X, Y, Z) channel-first.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
from monai.data import MetaTensor
from monai.transforms import MapTransform
from scipy import ndimage
from skimage.filters import threshold_multiotsu, threshold_otsu

from scripts.metrics import largest_component, spacing_from_meta
from scripts.spindle3d import ANALYSIS_VOXEL_UM, Spindle3DFailure, measure


def otsu_largest_component(image_xyz: np.ndarray, smooth_sigma_vox: Sequence[float] = (1.0, 1.0, 0.0),
                           classes: int = 2) -> np.ndarray:
    """Boolean (X, Y, Z) spindle mask: Gaussian blur (sigma in voxels per axis; 0 = none), Otsu, largest object.

    The default blurs x and y by one voxel (0.17 um) and not z, whose 2 um slices are already coarse.
    ``classes`` 2 is Otsu's threshold; more classes use multi-level Otsu and keep the brightest class (Fiji's
    "Multi Otsu"), which separates the spindle from a bright cytoplasm better. A constant image has no
    threshold and gives an empty mask.
    """
    image = np.asarray(image_xyz, dtype=np.float32)
    if image.ndim != 3:
        raise ValueError(f"expected an (X, Y, Z) image, found shape {image.shape}")
    if any(s > 0 for s in smooth_sigma_vox):
        image = ndimage.gaussian_filter(image, sigma=[float(s) for s in smooth_sigma_vox])
    if not np.isfinite(image).all() or image.max() <= image.min():
        return np.zeros(image.shape, dtype=bool)
    if classes == 2:
        threshold = threshold_otsu(image)
    else:
        threshold = threshold_multiotsu(image, classes=int(classes))[-1]
    return largest_component(image > threshold)


BASELINE_FRAMES = ("all", "labelled")


class OtsuBaselined(MapTransform):
    """Add the baseline mask of ``keys`` (one channel-first image (1, X, Y, Z)) under ``output_key``.

    The output is a MetaTensor (1, X, Y, Z) of 0/1 (``dtype``, default uint8) on the image's device, shaped like
    the network's discretised prediction and carrying a copy of the image's meta, so that post-processing
    (``Invertd`` with ``orig_keys`` = the image) maps both back onto the full frame alike.

    ``frames`` "all" segments every frame; "labelled" only frames whose item holds a reference mask under
    ``label_key`` (the others get no ``output_key``). The baseline is there to be compared with the reference,
    and on a cytoplasm-sized mask it costs ~0.5 s of CPU per frame, a third of a frame's forward pass on two cores.
    """

    def __init__(
        self,
        keys: str | Sequence[str] = "image",
        output_key: str = "baseline",
        smooth_sigma_vox: Sequence[float] = (1.0, 1.0, 0.0),
        classes: int = 2,
        frames: str = "all",
        label_key: str = "label",
        dtype: torch.dtype = torch.uint8,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if len(self.keys) != 1:
            raise ValueError(f"OtsuBaselined segments one image key, found {self.keys}")
        self.output_key = output_key
        self.smooth_sigma_vox = tuple(float(s) for s in smooth_sigma_vox)
        self.classes = int(classes)
        if self.classes < 2:
            raise ValueError(f"classes must be 2 (Otsu) or more (multi-level Otsu), found {classes}")
        if frames not in BASELINE_FRAMES:
            raise ValueError(f"frames must be one of {BASELINE_FRAMES}, found {frames!r}")
        self.frames = frames
        self.label_key = label_key
        self.dtype = dtype

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        if self.frames == "labelled" and d.get(self.label_key) is None:
            return d
        for key in self.key_iterator(d):
            image = d[key]
            if image.shape[0] != 1:
                raise ValueError(f"OtsuBaselined expects a 1-channel image (1, X, Y, Z) under {key!r}, found shape {tuple(image.shape)}")
            mask = otsu_largest_component(_array_xyz(image), self.smooth_sigma_vox, self.classes)
            d[self.output_key] = _mask_like(mask, image, self.dtype)
        return d


def _array_xyz(image) -> np.ndarray:
    """The (X, Y, Z) float32 array of a 1-channel (1, X, Y, Z) tensor or array."""
    return image.detach().cpu().float().numpy()[0] if isinstance(image, torch.Tensor) else np.asarray(image, np.float32)[0]


def _mask_like(mask_xyz: np.ndarray, image, dtype: torch.dtype = torch.uint8) -> MetaTensor:
    """A baseline mask as a (1, X, Y, Z) MetaTensor on the image's device, carrying a copy of the image's meta:
    ``Invertd`` (orig_keys = the image) only inverts MetaTensors or keys with a stored trace."""
    device = image.device if isinstance(image, torch.Tensor) else "cpu"
    mask = MetaTensor(torch.from_numpy(np.ascontiguousarray(mask_xyz)[None]).to(device=device, dtype=dtype))
    if isinstance(image, MetaTensor):
        mask.copy_meta_from(image, copy_attr=True)
    return mask


class Spindle3DBaselined(MapTransform):
    """The classical baseline of Spindle3D's method (``scripts.spindle3d.measure``) on the tubulin crop ``keys`` and
    the DNA crop ``dna_key`` (both (1, X, Y, Z), raw intensities: run it before the standardisation), added under
    ``output_key`` like ``OtsuBaselined``'s mask (so that padding and ``Invertd`` treat it like the network's). A
    frame it cannot measure gets no mask and the reason under ``output_key + '_note'``.

    ``frames``: "all", or "labelled" (only frames whose item has ``label_key``: the baseline is there to be compared
    with the reference, and costs ~10 s of CPU per 352 x 352 x 31 crop)."""

    def __init__(self, keys: str | Sequence[str] = "image", dna_key: str = "dna", output_key: str = "baseline",
                 frames: str = "labelled", label_key: str = "label", voxel_um: float = ANALYSIS_VOXEL_UM,
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        if len(self.keys) != 1:
            raise ValueError(f"Spindle3DBaselined segments one image key, found {self.keys}")
        if frames not in BASELINE_FRAMES:
            raise ValueError(f"frames must be one of {BASELINE_FRAMES}, found {frames!r}")
        self.dna_key, self.output_key, self.frames, self.label_key = dna_key, output_key, frames, label_key
        self.voxel_um = float(voxel_um)

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        if self.frames == "labelled" and d.get(self.label_key) is None:
            return d
        for key in self.key_iterator(d):
            image = d[key]
            try:
                result = measure(_array_xyz(image).transpose(2, 1, 0), _array_xyz(d[self.dna_key]).transpose(2, 1, 0),
                                 spacing_from_meta(image), self.voxel_um)
            except Spindle3DFailure as exc:
                d[self.output_key + "_note"] = f"no classical result: {exc}"
                continue
            d[self.output_key] = _mask_like(result.mask.transpose(2, 1, 0), image)
        return d
