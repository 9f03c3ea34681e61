"""Training-time augmentation that MONAI does not have in the form this anisotropic data needs.

``RandLowResolutionXYd``: another microscope's coarser x-y sampling. MONAI's ``RandSimulateLowResolutiond`` zooms
every spatial axis, and z (2 um, already ~12x coarser than x-y) must not be coarsened further, so this one
resamples x and y only.

``RandPhotonNoised``: a camera that caught far fewer photons. MONAI's ``RandGaussianNoised`` adds noise of one
width everywhere; photon (shot) noise grows with the signal, so a dim recording's bright spindle is the noisiest
part of it. Noise carries no biology: the label is untouched (unlike a blur, which moves the visible edge).

``RandSpindleHeterogeneityd``: a spindle that is uneven inside. The phantom's spindle is a fairly even barrel of
fibres; real ones (the confocal stacks in ``../shared/realdata/spindles``) are bright bundles with dim gaps between
them. Smooth patches inside the labelled spindle are pulled toward the surrounding cytoplasm's level; the noise
is kept and the label is untouched, because the dim parts are still spindle.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from monai.transforms import MapTransform, RandomizableTransform
from scipy import ndimage

from scripts.scene import smooth_noise


class _RandImageTransformd(RandomizableTransform, MapTransform):
    """Draw once per call (``randomize``), then, with probability ``prob``, replace each key's image by
    ``transform_image(image, data)`` (None: leave it; ``data`` is the whole sample, e.g. for its label), as a tensor
    of the input's type that keeps a MetaTensor's meta."""

    def __init__(self, keys: str | Sequence[str], prob: float, allow_missing_keys: bool = False) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        RandomizableTransform.__init__(self, prob)

    def transform_image(self, image: torch.Tensor, data: Mapping[Hashable, torch.Tensor]) -> torch.Tensor | None:
        raise NotImplementedError

    def __call__(self, data: Mapping[Hashable, torch.Tensor]) -> dict[Hashable, torch.Tensor]:
        d = dict(data)
        self.randomize()
        if not self._do_transform:
            return d
        for key in self.key_iterator(d):
            image = d[key]
            values = self.transform_image(image, d)
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

    def transform_image(self, image: torch.Tensor, data: Mapping[Hashable, torch.Tensor]) -> torch.Tensor:
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

    def transform_image(self, image: torch.Tensor, data: Mapping[Hashable, torch.Tensor]) -> torch.Tensor | None:
        values = torch.as_tensor(image).detach().cpu().numpy().astype(np.float64)
        floor = np.percentile(values, self.floor_percentile)
        signal = np.clip(values - floor, 0.0, None)
        mean_signal = float(signal.mean())
        if mean_signal <= 0.0:  # a constant crop: no signal to count
            return None
        per_photon = mean_signal / self._photons
        counts = self.R.poisson(signal / per_photon)
        return torch.from_numpy((counts * per_photon + floor).astype(np.float32))


# RandSpindleHeterogeneityd's fixed shapes: the gap field's correlation along z (slices: the z step is ~12x the x-y
# one), the softness of a gap's border (in standard deviations of the field), and the smoothing (x, y, z voxels) that
# separates a voxel's local mean signal from its noise.
GAP_Z_CORRELATION_SLICES = 1.0
GAP_BORDER_SOFTNESS_SD = 0.25
LOCAL_MEAN_SIGMA_VOXELS = (1.5, 1.5, 0.5)


class RandSpindleHeterogeneityd(_RandImageTransformd):
    """With probability ``prob``, make the labelled spindle uneven inside: dim gaps between brighter parts.

    Per call: a smooth random field (x-y correlation length drawn from ``gap_sigma_px``, voxels) marks a fraction
    (``gap_fraction_range``) of the spindle as gaps, whose signal above the cytoplasm is cut by a depth drawn from
    ``gap_depth_range``. What is cut is the local mean signal (smoothed over about a voxel), not the noise on it. The
    cytoplasm's level is the median of a shell of ``shell_px`` x-y voxels around the label. The gaps stay off the
    label's edge (they fade in over ``edge_px`` x-y voxels from it): dimming the edge with the label kept would move
    the visible boundary inward and teach the network to draw masks larger than what it sees (a first version that
    also dimmed a rim, used at p 0.6 with shot noise, raised the house phantom's median test volume error to 19 %;
    docs/README.md, "Generalization"). The label is untouched.

    Input and output: channel-first (C, X, Y, Z) tensors under ``keys``; the label (C, X, Y, Z) under ``label_key``
    (a crop without one, or with an empty one, is left as it is).
    """

    def __init__(self, keys: str | Sequence[str], label_key: str = "label", prob: float = 0.1,
                 gap_fraction_range: Sequence[float] = (0.2, 0.6), gap_depth_range: Sequence[float] = (0.4, 0.9),
                 gap_sigma_px: Sequence[float] = (4.0, 16.0), edge_px: float = 3.0, shell_px: int = 4,
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, prob, allow_missing_keys)
        self.label_key = label_key
        for name, (low, high) in {"gap_fraction_range": gap_fraction_range, "gap_depth_range": gap_depth_range}.items():
            if not 0.0 <= low <= high <= 1.0:
                raise ValueError(f"{name} must satisfy 0 <= low <= high <= 1 (a fraction), found {(low, high)}")
        low, high = gap_sigma_px
        if not 0.0 < low <= high:
            raise ValueError(f"gap_sigma_px must satisfy 0 < low <= high (x-y voxels), found {(low, high)}")
        if not edge_px > 0 or int(shell_px) < 1:
            raise ValueError(f"edge_px must be > 0 and shell_px at least 1 (x-y voxels), found {edge_px}, {shell_px}")
        self.gap_fraction_range = tuple(float(v) for v in gap_fraction_range)
        self.gap_depth_range = tuple(float(v) for v in gap_depth_range)
        self.gap_sigma_px = tuple(float(v) for v in gap_sigma_px)
        self.edge_px = float(edge_px)
        self.shell_px = int(shell_px)
        self._draw: dict[str, float] = {}
        self._field_seed = 0

    def randomize(self, data: object = None) -> None:
        super().randomize(None)
        self._draw = {"gap_fraction": float(self.R.uniform(*self.gap_fraction_range)),
                      "gap_depth": float(self.R.uniform(*self.gap_depth_range)),
                      "gap_sigma_px": float(self.R.uniform(*self.gap_sigma_px))}
        self._field_seed = int(self.R.randint(0, 2**31 - 1))

    def transform_image(self, image: torch.Tensor, data: Mapping[Hashable, torch.Tensor]) -> torch.Tensor | None:
        if self.label_key not in data:  # an unlabelled crop: no known spindle to make uneven
            return None
        label = np.asarray(torch.as_tensor(data[self.label_key]).detach().cpu().numpy()[0] > 0.5)
        if not label.any():
            return None
        values = torch.as_tensor(image).detach().cpu().numpy().astype(np.float32)
        # Work on the label's box plus the shell around it, not the whole crop.
        margin = (self.shell_px + 2, self.shell_px + 2, 1)
        box = tuple(slice(max(int(idx.min()) - m, 0), min(int(idx.max()) + m + 1, n))
                    for idx, m, n in zip(np.nonzero(label), margin, label.shape, strict=True))
        inside = label[box]
        xy_cross = np.zeros((3, 3, 1), bool)
        xy_cross[1, :, 0] = xy_cross[:, 1, 0] = True
        shell = ndimage.binary_dilation(inside, xy_cross, iterations=self.shell_px) & ~inside
        draw = self._draw
        rng = np.random.default_rng(self._field_seed)
        field = smooth_noise(rng, inside.shape, (draw["gap_sigma_px"], draw["gap_sigma_px"], GAP_Z_CORRELATION_SLICES))
        threshold = np.quantile(field[inside], 1.0 - draw["gap_fraction"])
        gaps = 1.0 / (1.0 + np.exp(-(field - threshold) / GAP_BORDER_SOFTNESS_SD))
        # x-y distance to the label's edge (z weighted so heavily that only the same slice counts): 0 outside
        edge_distance_px = ndimage.distance_transform_edt(inside, sampling=(1.0, 1.0, 1e3))
        away_from_edge = 1.0 - np.exp(-np.maximum(edge_distance_px - 1.0, 0.0) / self.edge_px)
        cut = (draw["gap_depth"] * gaps * away_from_edge).astype(np.float32)
        for channel in values:
            part = channel[box]
            level = float(np.median(part[shell])) if shell.any() else float(np.median(channel))
            # dim the local mean signal, not the noise on it: a dim gap is as noisy as the cytoplasm around it
            local_signal = ndimage.gaussian_filter(part, LOCAL_MEAN_SIGMA_VOXELS) - level
            channel[box] = part - cut * local_signal
        return torch.from_numpy(values)
