"""Training-time augmentation that MONAI does not have in the form this anisotropic data needs.

``RandLowResolutionXYd``: another microscope's coarser x-y sampling. MONAI's ``RandSimulateLowResolutiond`` zooms
every spatial axis, and z (2 um, already ~12x coarser than x-y) must not be coarsened further, so this one
resamples x and y only.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import torch
import torch.nn.functional as F
from monai.transforms import MapTransform, RandomizableTransform


class RandLowResolutionXYd(RandomizableTransform, MapTransform):
    """With probability ``prob``, downsample x and y by a factor drawn from ``zoom_range`` (area averaging) and
    upsample back to the original size (linear in x-y): detail finer than the coarser grid is lost, z is untouched.

    Input and output: channel-first (C, X, Y, Z) tensors under ``keys``, same shape and type.
    """

    def __init__(self, keys: str | Sequence[str], prob: float = 0.1, zoom_range: Sequence[float] = (0.5, 1.0),
                 allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)
        low, high = (float(z) for z in zoom_range)
        if not 0.0 < low <= high <= 1.0:
            raise ValueError(f"zoom_range must satisfy 0 < low <= high <= 1 (a fraction of the x-y size), found {zoom_range}")
        self.zoom_range = (low, high)
        self._zoom = 1.0

    def randomize(self, data: object = None) -> None:
        super().randomize(None)
        self._zoom = float(self.R.uniform(*self.zoom_range))

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        self.randomize()
        if not self._do_transform:
            return d
        for key in self.key_iterator(d):
            image = d[key]
            c, nx, ny, nz = image.shape
            coarse = (max(1, round(nx * self._zoom)), max(1, round(ny * self._zoom)), nz)
            x = torch.as_tensor(image)[None].float()  # (1, C, X, Y, Z)
            low = F.interpolate(x, size=coarse, mode="area")
            back = F.interpolate(low, size=(nx, ny, nz), mode="trilinear", align_corners=False)[0]
            out = back.to(torch.as_tensor(image).dtype)
            if hasattr(image, "copy_meta_from"):  # a MetaTensor keeps its meta (spacing, file name)
                out = type(image)(out)
                out.copy_meta_from(image)
            d[key] = out
        return d
