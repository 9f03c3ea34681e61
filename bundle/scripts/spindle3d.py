"""The classical spindle segmentation and morphometry that labs cite: Spindle3D's method, written from its description.

Spindle3D (Kletter et al., J Cell Biol 2021, doi:10.1083/jcb.202106170; Fiji plugin embl-cba/spindle3d) finds
the metaphase plate in the DNA channel and thresholds the tubulin channel with a value learnt right around it.
Our implementation (no code copied) follows the published steps:

1. Both channels are resampled to ``ANALYSIS_VOXEL_UM`` (0.25 um) isotropic voxels: a Gaussian pre-blur of sigma
   0.5 / scale along every axis that is shrunk, then linear interpolation.
2. Initial DNA mask: the DNA channel at 1.5 um voxels gives min and max; the threshold is halfway between them.
   Regions touching the x-y border are dropped and the largest one is kept.
3. The plate's orientation: the principal axes of that mask (its moments' ellipsoid); everything that follows
   is measured in a frame whose z axis is the plate's shortest axis (the spindle axis, roughly) centred on it.
4. Plate width: the DNA profile along that axis, between the steepest rise and fall (derivative over 1 um); plate
   length: twice the radius of the steepest fall (derivative over 2 um) of the radial profile of the DNA's
   maximum projection along the axis.
5. DNA mask: Otsu inside a box of the plate's size; border regions dropped, the largest kept.
6. Spindle threshold: Otsu of the tubulin values in a 1-voxel shell around the DNA mask, inside a box of the
   plate's half-length + 2 um laterally and half-width + 2 um axially (DNA itself excludes tubulin).
7. Spindle mask: tubulin above the threshold, the 6-connected components that come within 3 um of the DNA centre.
8. Poles: where the spindle mask starts and ends along the axis (within the plate's radius), each refined to
   the brightest blurred (0.75 um) tubulin voxel of the mask within 2 um laterally and 1 um axially.
   Length = pole to pole. Width: the mask projected along the pole-to-pole axis, opened (radius 2 voxels), its
   diameter through the spindle centre at 18 angles (10 degree steps): average, min, max. Aspect ratio = length /
   average width; angle = the spindle axis' elevation from the x-y (coverslip) plane, degrees.

A frame without a usable DNA signal (too little dynamic range, or no plate away from the x-y border), or whose
tubulin above the threshold spreads to the edge of the analysed region (no spindle around that DNA, e.g. the
chromatin of a germinal vesicle), gives a ``Spindle3DFailure`` saying why, never a number.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from scripts.morphometry import (
    ANALYSIS_VOXEL_UM,
    PLATE_WIDTH_DERIVATIVE_UM,
    AlignedFrame,
    MeasurementFailure,
    derivative,
    left_max_right_min,
    spindle_shape,
)

INITIAL_DNA_VOXEL_UM = 1.5
INITIAL_THRESHOLD_FACTOR = 0.5
MIN_DYNAMIC_RANGE = 7.0  # grey values: below this the DNA channel carries no usable signal
PLATE_LENGTH_DERIVATIVE_UM = 2.0
FRAGMENT_INCLUSION_UM = 3.0
SHELL_MARGIN_UM = 2.0
ALIGNED_HALF_EXTENT_UM = 30.0  # the aligned frame covers at most this far from the plate's centre


class Spindle3DFailure(MeasurementFailure):
    """The frame cannot be measured by the classical method (the message says why)."""


@dataclass
class Spindle3DResult:
    """Measurements (um, um^3, degrees) and the spindle mask on the input's grid (Z, Y, X) bool."""

    volume_um3: float
    length_um: float
    width_avg_um: float
    width_min_um: float
    width_max_um: float
    aspect_ratio: float
    angle_deg: float
    plate_length_um: float
    plate_width_um: float
    spindle_threshold: float
    mask: np.ndarray = field(repr=False)
    poles_um: np.ndarray = field(repr=False)  # (2, 3) x y z in the input's coordinates (um from voxel 0's corner)

    def measurements(self) -> dict[str, float]:
        return {k: float(v) for k, v in vars(self).items() if k not in ("mask", "poles_um")}


def resample_isotropic(volume_zyx: np.ndarray, spacing_um_xyz: Sequence[float], voxel_um: float) -> np.ndarray:
    """float32 (Z', Y', X') at ``voxel_um`` covering the same physical extent; Gaussian pre-blur (sigma 0.5 / scale
    voxels) along axes that shrink, then linear interpolation."""
    spacing_zyx = np.array(spacing_um_xyz[::-1], float)
    scale = spacing_zyx / voxel_um
    image = volume_zyx.astype(np.float32)
    sigma = [0.5 / s if s < 1 else 0.0 for s in scale]
    if any(sigma):
        image = ndimage.gaussian_filter(image, sigma)
    shape = [max(1, int(round(n * s))) for n, s in zip(image.shape, scale, strict=True)]
    return ndimage.zoom(image, [o / n for o, n in zip(shape, image.shape, strict=True)], order=1, grid_mode=True,
                        mode="nearest")


def otsu_threshold(values: np.ndarray) -> float:
    """Otsu's threshold of a sample (scikit-image, 256 bins); a sample without contrast cannot be thresholded."""
    values = np.asarray(values, np.float64)
    if values.size == 0 or values.min() == values.max():
        raise Spindle3DFailure("no contrast to threshold")
    return float(threshold_otsu(values))


def _largest_region(mask: np.ndarray, drop_touching_axes: Sequence[int], what: str) -> np.ndarray:
    """The largest 26-connected region of ``mask`` not touching the borders of the given axes."""
    labels, n = ndimage.label(mask, structure=np.ones((3, 3, 3), bool))
    if n == 0:
        raise Spindle3DFailure(f"no {what} above the threshold")
    touching = set()
    for axis in drop_touching_axes:
        for edge in (0, mask.shape[axis] - 1):
            touching |= set(np.unique(np.take(labels, edge, axis=axis)).tolist())
    sizes = ndimage.sum_labels(np.ones_like(labels), labels, index=np.arange(1, n + 1))
    candidates = [(s, k + 1) for k, s in enumerate(sizes) if (k + 1) not in touching]
    if not candidates:
        raise Spindle3DFailure(f"every {what} region touches the image border")
    return labels == max(candidates)[1]


def measure(tubulin_zyx: np.ndarray, dna_zyx: np.ndarray, spacing_um_xyz: Sequence[float],
            voxel_um: float = ANALYSIS_VOXEL_UM) -> Spindle3DResult:
    """Spindle3D's segmentation and morphometry of one frame (two channels on the same grid, (Z, Y, X))."""
    try:
        return _measure(tubulin_zyx, dna_zyx, spacing_um_xyz, voxel_um)
    except Spindle3DFailure:
        raise
    except MeasurementFailure as exc:  # from the shared morphometry steps
        raise Spindle3DFailure(str(exc)) from exc


def _measure(tubulin_zyx: np.ndarray, dna_zyx: np.ndarray, spacing_um_xyz: Sequence[float],
             voxel_um: float) -> Spindle3DResult:
    if tubulin_zyx.shape != dna_zyx.shape:
        raise Spindle3DFailure(f"tubulin {tubulin_zyx.shape} and DNA {dna_zyx.shape} channels differ in shape")
    tub = resample_isotropic(tubulin_zyx, spacing_um_xyz, voxel_um)
    dna = resample_isotropic(dna_zyx, spacing_um_xyz, voxel_um)

    # 2. initial DNA mask: halfway between min and max of the DNA at 1.5 um voxels
    coarse = resample_isotropic(dna, (voxel_um,) * 3, INITIAL_DNA_VOXEL_UM)
    lo, hi = float(coarse.min()), float(coarse.max())
    threshold0 = lo + INITIAL_THRESHOLD_FACTOR * (hi - lo)
    if hi - lo < 2 * MIN_DYNAMIC_RANGE:
        raise Spindle3DFailure(f"no usable DNA signal (dynamic range {hi - lo:.1f} grey values at "
                               f"{INITIAL_DNA_VOXEL_UM} um)")
    initial = _largest_region(dna > threshold0, drop_touching_axes=(1, 2), what="DNA")

    # 3. the plate's principal axes; the aligned frame's z is the shortest one
    idx = np.argwhere(initial)[:, ::-1].astype(np.float64)  # x y z voxel indices
    centre_um = (idx.mean(0) + 0.5) * voxel_um
    cov = np.cov((idx * voxel_um).T) if len(idx) > 3 else np.eye(3)
    eigval, eigvec = np.linalg.eigh(cov)  # ascending
    semi_axes_um = np.sqrt(5.0 * np.maximum(eigval, 1e-12))  # a uniform ellipsoid's variance is a^2 / 5
    e_z, e_x = eigvec[:, 0], eigvec[:, 2]
    basis = np.stack([e_x, np.cross(e_z, e_x), e_z], axis=1)
    extent_um = np.array(tub.shape) * voxel_um
    half = int(math.ceil(min(ALIGNED_HALF_EXTENT_UM, 0.5 * float(np.linalg.norm(extent_um))) / voxel_um))
    frame = AlignedFrame(centre_um, basis, (half, half, half), voxel_um)
    iso_spacing = (voxel_um,) * 3
    a_dna = frame.sample(dna, iso_spacing, order=1)
    a_tub = frame.sample(tub, iso_spacing, order=1)
    ax = frame.axes_um()[2]  # a cube: the same coordinates along x, y and z
    zz, yy, xx = ax[:, None, None], ax[None, :, None], ax[None, None, :]  # broadcast: no full-size grids
    lateral = np.hypot(xx, yy)  # (1, n, n)

    # 4. plate width (profile along the axis) and length (radial profile of the projection)
    short_semi, long_semi = float(semi_axes_um[0]), float(semi_axes_um[2])
    inside_z = np.abs(ax) <= short_semi
    disc = lateral[0] <= long_semi
    profile = np.array([a_dna[k][disc].mean() for k in np.flatnonzero(inside_z)])
    d, c = derivative(profile, ax[inside_z], int(math.ceil(PLATE_WIDTH_DERIVATIVE_UM / voxel_um)))
    left, right = left_max_right_min(d, c)
    plate_width_um = right - left
    projection = a_dna[inside_z].max(axis=0)
    radius_bins = np.rint(lateral[0] / voxel_um).astype(int)
    n_bins = int(long_semi / voxel_um) + 1
    sums = np.bincount(radius_bins.ravel(), projection.ravel(), minlength=n_bins)[:n_bins]
    counts = np.bincount(radius_bins.ravel(), minlength=n_bins)[:n_bins]
    radial = sums / np.maximum(counts, 1)
    d, c = derivative(radial, np.arange(n_bins) * voxel_um, int(math.ceil(PLATE_LENGTH_DERIVATIVE_UM / voxel_um)))
    if d.size == 0:
        raise Spindle3DFailure("DNA plate too small to measure")
    plate_length_um = 2.0 * float(c[np.argmin(d)])

    # 5. DNA mask with Otsu inside the plate's box
    box = np.broadcast_to((lateral <= plate_length_um / 2) & (np.abs(zz) <= plate_width_um), a_dna.shape)
    dna_mask = _largest_region(a_dna > otsu_threshold(a_dna[box]), drop_touching_axes=(0, 1, 2), what="DNA")

    # 6. spindle threshold: Otsu of the tubulin in a 1-voxel shell around the DNA
    shell = ndimage.binary_dilation(dna_mask) & ~dna_mask
    shell &= (np.abs(xx) <= plate_length_um / 2 + SHELL_MARGIN_UM) & (np.abs(yy) <= plate_length_um / 2 + SHELL_MARGIN_UM)
    shell &= np.abs(zz) <= plate_width_um / 2 + SHELL_MARGIN_UM
    spindle_threshold = otsu_threshold(a_tub[shell])

    # 7. spindle mask: components reaching within 3 um of the DNA centre
    labels, _ = ndimage.label(a_tub > spindle_threshold)
    near_centre = np.broadcast_to(np.sqrt(lateral**2 + zz**2) <= FRAGMENT_INCLUSION_UM, labels.shape)
    central = np.unique(labels[near_centre & (labels > 0)])
    spindle = np.isin(labels, central) & (labels > 0)
    if not spindle.any():
        raise Spindle3DFailure("no tubulin above the spindle threshold near the DNA")
    faces = [spindle[0], spindle[-1], spindle[:, 0], spindle[:, -1], spindle[:, :, 0], spindle[:, :, -1]]
    if any(f.any() for f in faces):
        raise Spindle3DFailure(f"the tubulin above the threshold learnt around the DNA spreads {half * voxel_um:.0f} um "
                               "from it, to the edge of the analysed region: no spindle around this DNA")

    # 8. poles, length, width, angle (scripts.morphometry: the same measurements for any mask)
    shape = spindle_shape(spindle, frame, plate_length_um / 2, lambda box: box.sample(tub, iso_spacing, order=1))

    volume_um3 = float(spindle.sum()) * voxel_um**3
    mask_iso = frame.to_source(spindle, tub.shape, iso_spacing)
    mask = ndimage.zoom(mask_iso.astype(np.uint8), [n / m for n, m in zip(tubulin_zyx.shape, mask_iso.shape,
                                                                               strict=True)],
                        order=0, grid_mode=True, mode="nearest") > 0
    return Spindle3DResult(
        volume_um3=volume_um3, length_um=shape["length_um"], width_avg_um=shape["width_avg_um"],
        width_min_um=shape["width_min_um"], width_max_um=shape["width_max_um"], aspect_ratio=shape["aspect_ratio"],
        angle_deg=shape["angle_deg"], plate_length_um=plate_length_um, plate_width_um=plate_width_um,
        spindle_threshold=spindle_threshold, mask=mask, poles_um=shape["poles_um"])

