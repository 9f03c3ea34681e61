"""Training-time augmentation that MONAI does not have in the form this anisotropic data needs.

``RandLowResolutionXYd``: another microscope's coarser x-y sampling. MONAI's ``RandSimulateLowResolutiond`` zooms
every spatial axis, and z (2 um, already ~12x coarser than x-y) must not be coarsened further, so this one
resamples x and y only.

``RandPhotonNoised``: a camera that caught far fewer photons. MONAI's ``RandGaussianNoised`` adds noise of one
width everywhere; photon (shot) noise grows with the signal, so a dim recording's bright spindle is the noisiest
part of it. Noise carries no biology: the label is untouched (unlike a blur, which moves the visible edge).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from monai.transforms import MapTransform, RandomizableTransform


class _RandImageTransformd(RandomizableTransform, MapTransform):
    """Draw once per call (``randomize``), then, with probability ``prob``, replace each key's image by
    ``transform_image(image)`` (None: leave it), as a tensor of the input's type that keeps a MetaTensor's meta."""

    def __init__(self, keys: str | Sequence[str], prob: float, allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)

    def transform_image(self, image: torch.Tensor) -> torch.Tensor | None:
        raise NotImplementedError

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        self.randomize()
        if not self._do_transform:
            return d
        for key in self.key_iterator(d):
            image = d[key]
            values = self.transform_image(image)
            if values is None:
                continue
            out = values.to(torch.as_tensor(image).dtype)
            if hasattr(image, "copy_meta_from"):  # a MetaTensor keeps its meta (spacing, file name)
                out = type(image)(out)
                out.copy_meta_from(image)
            d[key] = out
        return d


class RandLowResolutionXYd(_RandImageTransformd):
    """With probability ``prob``, downsample x and y by a factor drawn from ``zoom_range`` (area averaging) and
    upsample back to the original size (linear in x-y): detail finer than the coarser grid is lost, z is untouched.

    Input and output: channel-first (C, X, Y, Z) tensors under ``keys``, same shape and type.
    """

    def __init__(self, keys: str | Sequence[str], prob: float = 0.1, zoom_range: Sequence[float] = (0.5, 1.0),
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, prob, allow_missing_keys)
        low, high = (float(z) for z in zoom_range)
        if not 0.0 < low <= high <= 1.0:
            raise ValueError(f"zoom_range must satisfy 0 < low <= high <= 1 (a fraction of the x-y size), found {zoom_range}")
        self.zoom_range = (low, high)
        self._zoom = 1.0

    def randomize(self, data: object = None) -> None:
        super().randomize(None)
        self._zoom = float(self.R.uniform(*self.zoom_range))

    def transform_image(self, image: torch.Tensor) -> torch.Tensor:
        c, nx, ny, nz = image.shape
        coarse = (max(1, round(nx * self._zoom)), max(1, round(ny * self._zoom)), nz)
        x = torch.as_tensor(image)[None].float()  # (1, C, X, Y, Z)
        low = F.interpolate(x, size=coarse, mode="area")
        return F.interpolate(low, size=(nx, ny, nz), mode="trilinear", align_corners=False)[0]


class RandPhotonNoised(_RandImageTransformd):
    """With probability ``prob``, redraw the image as photon counts at a budget drawn log-uniformly from
    ``photons_range`` (mean photo-electrons per voxel of the crop): Poisson noise whose variance follows the signal.

    The input is a standardised crop, so its zero is not the camera's: its ``floor_percentile`` percentile is taken
    as no signal (values below it count as none). The counts are scaled back to the input's units, so only the
    noise changes (the mean is kept; the pipeline standardises again afterwards).

    Input and output: channel-first (C, X, Y, Z) tensors under ``keys``, same shape and type.
    """

    def __init__(self, keys: str | Sequence[str], prob: float = 0.1, photons_range: Sequence[float] = (1.0, 30.0),
                 floor_percentile: float = 1.0, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, prob, allow_missing_keys)
        low, high = (float(v) for v in photons_range)
        if not 0.0 < low <= high:
            raise ValueError(f"photons_range must satisfy 0 < low <= high (photo-electrons per voxel), found {photons_range}")
        if not 0.0 <= floor_percentile < 50.0:
            raise ValueError(f"floor_percentile must be in [0, 50), found {floor_percentile}")
        self.photons_range = (low, high)
        self.floor_percentile = float(floor_percentile)
        self._photons = high

    def randomize(self, data: object = None) -> None:
        super().randomize(None)
        self._photons = float(np.exp(self.R.uniform(np.log(self.photons_range[0]), np.log(self.photons_range[1]))))

    def transform_image(self, image: torch.Tensor) -> torch.Tensor | None:
        values = torch.as_tensor(image).detach().cpu().numpy().astype(np.float64)
        floor = np.percentile(values, self.floor_percentile)
        signal = np.clip(values - floor, 0.0, None)
        mean_signal = float(signal.mean())
        if mean_signal <= 0.0:  # a constant crop: no signal to count
            return None
        per_photon = mean_signal / self._photons
        counts = self.R.poisson(signal / per_photon)
        return torch.from_numpy((counts * per_photon + floor).astype(np.float32))
