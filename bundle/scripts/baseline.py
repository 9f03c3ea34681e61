"""The classical baseline a Fiji user tries first: Gaussian blur, Otsu threshold, keep the largest object.

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

from scripts.metrics import largest_component


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
            array = image.detach().cpu().float().numpy()[0] if isinstance(image, torch.Tensor) else np.asarray(image)[0]
            mask = otsu_largest_component(array, self.smooth_sigma_vox, self.classes)
            device = image.device if isinstance(image, torch.Tensor) else "cpu"
            baseline = MetaTensor(torch.from_numpy(mask[None]).to(device=device, dtype=self.dtype))
            if isinstance(image, MetaTensor):
                # Invertd (orig_keys = the image) only inverts MetaTensors or keys with a stored trace
                baseline.copy_meta_from(image, copy_attr=True)
            d[self.output_key] = baseline
        return d
