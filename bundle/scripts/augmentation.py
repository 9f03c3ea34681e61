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

``RandAdjacentDistractord``: something bright against the spindle that is not spindle. A neighbouring cell's
microtubules, an aggregate or an aster lying just above or below the spindle is smeared into the spindle's slices by
the long axial point-spread function; the masks then run on into it (docs/README.md, "The volume band after
fine-tuning": a small spindle's masks 40-48 % too large, 3-4 slices too deep). An object is pasted outside the
label, touching it; the label is untouched, so only the spindle's shape tells the two apart.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from monai.transforms import MapTransform, RandomizableTransform
from scipy import ndimage

from scripts.scene import smooth_noise


def xy_shell(inside: np.ndarray, shell_px: int) -> np.ndarray:
    """The voxels within ``shell_px`` x-y steps of a mask (X, Y, Z) and outside it, in its own slices only: the
    surroundings a spindle's brightness is measured against."""
    xy_cross = np.zeros((3, 3, 1), bool)
    xy_cross[1, :, 0] = xy_cross[:, 1, 0] = True
    return ndimage.binary_dilation(inside, xy_cross, iterations=shell_px) & ~inside


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
        shell = xy_shell(inside, self.shell_px)
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


# RandAdjacentDistractord's fixed shapes: the softness of the object's surface (in units of its normalised radius),
# the smoothing (x, y, z voxels) of the pasted object, about what the optics do to a sharp edge, and its texture's
# correlation along z (slices).
DISTRACTOR_EDGE_SOFTNESS = 0.15
DISTRACTOR_BLUR_VOXELS = (1.0, 1.0, 0.5)
DISTRACTOR_TEXTURE_Z_SLICES = 1.0


class RandAdjacentDistractord(_RandImageTransformd):
    """With probability ``prob``, paste a bright object against the labelled spindle, outside the label.

    Per call: the side (above or below in z with probability ``z_side_probability``, else a random direction in
    x-y), the object's size (an ellipsoid whose semi-axes are the spindle's half-extents times factors drawn from
    ``size_range``, at least one z slice), its distance from the spindle (a gap of ``gap_range`` times its own
    semi-axis along the side: 0 touches), its brightness (a fraction ``brightness_range`` of the spindle's signal
    above the cytoplasm, the median inside the label minus the median of a ``shell_px``-voxel x-y shell around it)
    and its texture (a smooth field of relative amplitude ``texture_range`` and x-y correlation length
    ``texture_sigma_px`` voxels). The object is placed beyond the spindle's furthest voxel along that side, so it
    covers no label voxel but for its blurred edge. The label is untouched.

    Input and output: channel-first (C, X, Y, Z) tensors under ``keys``; the label (C, X, Y, Z) under ``label_key``
    (a crop without one, or with an empty one, is left as it is, as is a crop whose spindle is no brighter than its
    surroundings or whose object would lie outside it).
    """

    def __init__(self, keys: str | Sequence[str], label_key: str = "label", prob: float = 0.1,
                 z_side_probability: float = 0.5, size_range: Sequence[float] = (0.5, 1.5),
                 gap_range: Sequence[float] = (0.0, 0.5), brightness_range: Sequence[float] = (0.3, 1.0),
                 texture_range: Sequence[float] = (0.0, 0.5), texture_sigma_px: Sequence[float] = (2.0, 8.0),
                 shell_px: int = 4, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, prob, allow_missing_keys)
        self.label_key = label_key
        if not 0.0 <= z_side_probability <= 1.0:
            raise ValueError(f"z_side_probability must be in [0, 1], found {z_side_probability}")
        for name, (low, high), lowest in (("size_range", size_range, 1e-9), ("gap_range", gap_range, 0.0),
                                          ("brightness_range", brightness_range, 1e-9),
                                          ("texture_range", texture_range, 0.0),
                                          ("texture_sigma_px", texture_sigma_px, 1e-9)):
            if not lowest <= low <= high:
                raise ValueError(f"{name} must satisfy {'0 <' if lowest else '0 <='} low <= high, found {(low, high)}")
        if int(shell_px) < 1:
            raise ValueError(f"shell_px must be at least 1 (x-y voxels), found {shell_px}")
        self.z_side_probability = float(z_side_probability)
        self.size_range = tuple(float(v) for v in size_range)
        self.gap_range = tuple(float(v) for v in gap_range)
        self.brightness_range = tuple(float(v) for v in brightness_range)
        self.texture_range = tuple(float(v) for v in texture_range)
        self.texture_sigma_px = tuple(float(v) for v in texture_sigma_px)
        self.shell_px = int(shell_px)
        self._draw: dict[str, float] = {}
        self._field_seed = 0

    def randomize(self, data: object = None) -> None:
        super().randomize(None)
        z_side = bool(self.R.uniform() < self.z_side_probability)
        angle = float(self.R.uniform(0.0, 2.0 * np.pi))
        direction = (0.0, 0.0, 1.0 if self.R.uniform() < 0.5 else -1.0) if z_side else (np.cos(angle), np.sin(angle), 0.0)
        self._draw = {"direction": direction, "size_xy": float(self.R.uniform(*self.size_range)),
                      "size_z": float(self.R.uniform(*self.size_range)), "gap": float(self.R.uniform(*self.gap_range)),
                      "brightness": float(self.R.uniform(*self.brightness_range)),
                      "texture": float(self.R.uniform(*self.texture_range)),
                      "texture_sigma_px": float(self.R.uniform(*self.texture_sigma_px))}
        self._field_seed = int(self.R.randint(0, 2**31 - 1))

    def distractor(self, label: np.ndarray) -> np.ndarray | None:
        """The pasted object's relative brightness (1 = the spindle's signal at full brightness) for a label
        (X, Y, Z) of the drawn sizes, on the label's grid; None where it would lie outside the crop."""
        draw = self._draw
        spindle = np.argwhere(label).astype(np.float64)
        centre = spindle.mean(axis=0)
        half_extent = (spindle.max(axis=0) - spindle.min(axis=0) + 1.0) / 2.0
        semi_axes = np.array([half_extent[:2].mean() * draw["size_xy"]] * 2 + [half_extent[2] * draw["size_z"]])
        semi_axes = np.maximum(semi_axes, (1.0, 1.0, 1.0))
        direction = np.array(draw["direction"])
        reach = float(((spindle - centre) @ direction).max()) + 0.5  # the spindle's furthest voxel edge on that side
        along = float(np.sqrt(1.0 / np.sum((direction / semi_axes) ** 2)))  # the object's semi-axis on that side
        object_centre = centre + direction * (reach + along * (1.0 + draw["gap"]))
        margin = semi_axes * (1.0 + 4 * DISTRACTOR_EDGE_SOFTNESS) + 3.0 * np.array(DISTRACTOR_BLUR_VOXELS)
        lo = np.maximum(np.floor(object_centre - margin), 0).astype(int)
        hi = np.minimum(np.ceil(object_centre + margin) + 1, label.shape).astype(int)
        if np.any(hi <= lo):
            return None
        grids = np.meshgrid(*(np.arange(a, b) for a, b in zip(lo, hi, strict=True)), indexing="ij")
        radius = np.sqrt(sum(((g - c) / s) ** 2 for g, c, s in zip(grids, object_centre, semi_axes, strict=True)))
        shape = 1.0 / (1.0 + np.exp(-(1.0 - radius) / DISTRACTOR_EDGE_SOFTNESS))
        rng = np.random.default_rng(self._field_seed)
        sigma = draw["texture_sigma_px"]
        texture = 1.0 + draw["texture"] * smooth_noise(rng, shape.shape, (sigma, sigma, DISTRACTOR_TEXTURE_Z_SLICES))
        pasted = np.zeros(label.shape, np.float32)
        # blurred within its box only (the box's margin holds the blur): a whole crop would cost ~10x more
        pasted[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))] = ndimage.gaussian_filter(
            (shape * np.clip(texture, 0.0, None)).astype(np.float32), DISTRACTOR_BLUR_VOXELS, mode="constant")
        return pasted

    def transform_image(self, image: torch.Tensor, data: Mapping[Hashable, torch.Tensor]) -> torch.Tensor | None:
        if self.label_key not in data:  # an unlabelled crop: no known spindle to put something against
            return None
        label = np.asarray(torch.as_tensor(data[self.label_key]).detach().cpu().numpy()[0] > 0.5)
        if not label.any():
            return None
        pasted = self.distractor(label)
        if pasted is None or not pasted.any():
            return None
        values = torch.as_tensor(image).detach().cpu().numpy().astype(np.float32)
        shell = xy_shell(label, self.shell_px)
        changed = False
        for channel in values:
            signal = float(np.median(channel[label])) - float(np.median(channel[shell] if shell.any() else channel))
            if signal <= 0.0:  # no spindle signal to measure the object by
                continue
            channel += np.float32(self._draw["brightness"] * signal) * pasted
            changed = True
        return torch.from_numpy(values) if changed else None
