"""Spindle morphometry as Spindle3D defines it, for any spindle mask: the network's, the classical method's, a label.

Spindle3D (Kletter et al., J Cell Biol 2021; ``scripts.spindle3d`` holds its segmentation) measures a spindle in a
frame of 0.25 um isotropic voxels aligned with the spindle. The same measurements, with the same code, for a mask
that came from elsewhere (volumes.csv reports them for every method, so a lab can set our numbers beside theirs):

- the aligned frame: centred on the mask's centroid, its z axis the mask's major principal axis (Spindle3D takes the
  metaphase plate's normal, which a segmentation without a DNA channel does not have; for a bipolar spindle the two
  agree), the mask and the tubulin sampled into it with linear interpolation (the mask kept where > 0.5);
- poles: where the mask starts and ends along that axis within the spindle's radius (Spindle3D: the plate's radius;
  here the mask's second principal semi-axis), each refined to the brightest tubulin voxel of the mask (blurred by
  0.75 um) within 2 um laterally and 1 um axially;
- ``length_um``: pole to pole;
- ``width_avg_um`` / ``width_min_um`` / ``width_max_um``: the mask projected along the pole-to-pole axis and opened
  (radius 2 voxels, so single fibres do not count), its diameter through the spindle's centre at 18 angles;
- ``aspect_ratio``: length / average width;
- ``angle_deg``: the pole-to-pole axis' elevation from the x-y (coverslip) plane: 0 = the spindle lies flat, 90 = it
  points along the optical axis (z);
- ``plate_width_um`` (with a DNA channel only): the chromosome plate's thickness along the spindle axis, between
  the steepest rise and fall (derivative over 1 um) of the DNA profile, averaged over the spindle's radius, around
  the profile's peak.

Without a tubulin image the poles are the mask's ends on the axis (no refinement). A mask too small to measure gives
NaN values (``NO_MEASUREMENT``), never an exception: it is a row in a table.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import numpy as np
import torch
from scipy import ndimage

from scripts.metrics import bounding_box

ANALYSIS_VOXEL_UM = 0.25
POLE_REFINEMENT_LATERAL_UM = 2.0
POLE_REFINEMENT_AXIAL_UM = 1.0
POLE_BLUR_UM = 0.75
PLATE_WIDTH_DERIVATIVE_UM = 1.0
WIDTH_ANGLES = 18  # diameters at 10 degree steps
WIDTH_OPENING_RADIUS_VOX = 2
FRAME_MARGIN_UM = 3.0  # the aligned frame reaches this far beyond the mask's ends, so the derivatives see them
MAX_POINTS_FOR_AXES = 200_000  # voxels sampled for the principal axes of a huge mask (a baseline's whole cytoplasm)

MORPHOMETRY_COLUMNS = ("length_um", "width_avg_um", "width_min_um", "width_max_um", "aspect_ratio", "angle_deg",
                       "plate_width_um")
NO_MEASUREMENT = {c: math.nan for c in MORPHOMETRY_COLUMNS}


class MeasurementFailure(ValueError):
    """The spindle cannot be measured (the message says why)."""


class AlignedFrame:
    """A box of isotropic voxels (``voxel_um``) centred on ``centre_um`` whose axes are ``basis``'s columns (x, y, z
    in the source's coordinates), ``half_voxels_xyz`` voxels to each side of the centre along each of them.

    Source coordinates are um from the corner of the source grid's voxel 0 (voxel i's centre at (i + 0.5) * spacing),
    so one frame serves any source grid: the 0.25 um isotropic resampling of Spindle3D or a file's own grid.
    """

    def __init__(self, centre_um: np.ndarray, basis: np.ndarray, half_voxels_xyz: Sequence[int], voxel_um: float):
        self.centre_um = np.asarray(centre_um, float)
        self.basis = np.asarray(basis, float)
        self.half_xyz = np.array([int(h) for h in half_voxels_xyz])
        self.voxel_um = float(voxel_um)

    @property
    def shape_zyx(self) -> tuple[int, int, int]:
        return tuple(int(2 * h + 1) for h in self.half_xyz[::-1])

    def _matrix_offset(self, spacing_um_xyz: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """Aligned index (z, y, x) -> source index (z, y, x): source = M @ aligned + offset."""
        scale = self.voxel_um / np.asarray(spacing_um_xyz, float)
        m_xyz = (self.basis * scale[:, None])
        offset_xyz = self.centre_um / np.asarray(spacing_um_xyz, float) - 0.5 - m_xyz @ self.half_xyz
        flip = np.eye(3)[::-1]  # xyz <-> zyx
        return flip @ m_xyz @ flip, flip @ offset_xyz

    def sample(self, volume_zyx: np.ndarray, spacing_um_xyz: Sequence[float], order: int = 1,
               mode: str = "nearest") -> np.ndarray:
        """The volume on this frame's grid (float32), linear (``order`` 1) or nearest (0) interpolation; ``mode``:
        beyond the source grid, the nearest edge value ("nearest", for intensities) or 0 ("grid-constant", for
        masks: nothing is known to be spindle there). PyTorch's ``grid_sample`` does the interpolation: ~5x
        faster than scipy's on the 2-core Xeon (0.11 s against 0.62 s for a 30 um spindle's samples), which
        matters at one spindle per frame."""
        if order not in (0, 1) or mode not in ("nearest", "grid-constant"):
            raise ValueError(f"sample supports order 0/1 and mode nearest/grid-constant, found {order}, {mode!r}")
        m, offset = self._matrix_offset(spacing_um_xyz)
        # only the part of the source this frame covers (its corners' span, a voxel more for the interpolation):
        # a spindle's frame covers a small part of a full light-sheet frame
        corners = np.array(list(itertools.product(*[(0, n - 1) for n in self.shape_zyx])), float).T
        reached = m @ corners + offset[:, None]
        shape = np.array(volume_zyx.shape)
        lo = np.clip(np.floor(reached.min(axis=1)).astype(int) - 1, 0, shape - 1)
        hi = np.clip(np.ceil(reached.max(axis=1)).astype(int) + 2, lo + 1, shape)
        part = np.asarray(volume_zyx[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))], np.float32)
        # grid_sample normalises by (n - 1): give every axis at least 2 voxels (the copy lies beyond the source)
        pad = [(0, max(0, 2 - n)) for n in part.shape]
        part = np.pad(part, pad, mode="edge" if mode == "nearest" else "constant")
        offset = offset - lo
        k, j, i = (np.arange(n, dtype=np.float64) for n in self.shape_zyx)
        grid = np.empty((*self.shape_zyx, 3), np.float32)
        for slot, axis in enumerate((2, 1, 0)):  # grid_sample wants x, y, z last
            # the normalised source coordinate 2 * source / (n - 1) - 1 as one affine map of the indices: the (z, y)
            # part is small, so the whole grid costs one float64 pass per axis, written straight into float32
            scale = 2.0 / (part.shape[axis] - 1)
            zy = (m[axis, 0] * scale) * k[:, None, None] + ((m[axis, 1] * scale) * j[None, :, None]
                                                            + (offset[axis] * scale - 1.0))
            np.add(zy, (m[axis, 2] * scale) * i[None, None, :], out=grid[..., slot], casting="same_kind")
        sampled = torch.nn.functional.grid_sample(
            torch.from_numpy(part)[None, None], torch.from_numpy(grid)[None],
            mode="bilinear" if order == 1 else "nearest",
            padding_mode="border" if mode == "nearest" else "zeros", align_corners=True)
        return sampled[0, 0].numpy()

    def to_source(self, aligned_mask: np.ndarray, shape_zyx: Sequence[int], spacing_um_xyz: Sequence[float]
                  ) -> np.ndarray:
        m, offset = self._matrix_offset(spacing_um_xyz)
        inv = np.linalg.inv(m)
        return ndimage.affine_transform(aligned_mask.astype(np.uint8), inv, -inv @ offset,
                                        output_shape=tuple(shape_zyx), order=0, mode="constant", cval=0) > 0

    def axes_um(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Voxel-centre coordinates (um from the centre) along the aligned x, y and z axes."""
        return tuple((np.arange(2 * h + 1) - h) * self.voxel_um for h in self.half_xyz)

    def to_source_um(self, p_aligned_xyz: np.ndarray) -> np.ndarray:
        return self.centre_um + self.basis @ p_aligned_xyz


def derivative(values: np.ndarray, coords: np.ndarray, delta: int) -> tuple[np.ndarray, np.ndarray]:
    """values[i + delta//2] - values[i - delta//2] at coords[i], for i away from both ends."""
    h = delta // 2
    i = np.arange(h + 1, len(values) - (h + 1))
    return values[i + h] - values[i - h], coords[i]


def left_max_right_min(deriv: np.ndarray, coords: np.ndarray, centre: float = 0.0) -> tuple[float, float]:
    """The steepest rise at or before ``centre`` and the steepest fall at or after it."""
    left, right = coords <= centre, coords >= centre
    if not left.any() or not right.any():
        raise MeasurementFailure("profile does not extend to both sides of the centre")
    return float(coords[left][np.argmax(deriv[left])]), float(coords[right][np.argmin(deriv[right])])


def widths_um(spindle: np.ndarray, axes: tuple[np.ndarray, np.ndarray, np.ndarray], centre: np.ndarray,
              axis: np.ndarray, voxel_um: float) -> tuple[float, float, float]:
    """(average, min, max) diameters (um) through ``centre`` of the mask projected along the unit vector ``axis``
    (aligned x y z), at ``WIDTH_ANGLES`` angles; opened first so that single fibres sticking out do not count."""
    ax_x, ax_y, ax_z = axes
    zyx = np.argwhere(spindle)
    p = np.stack([ax_x[zyx[:, 2]], ax_y[zyx[:, 1]], ax_z[zyx[:, 0]]], axis=1) - centre
    u = np.cross(axis, [1.0, 0.0, 0.0] if abs(axis[0]) < 0.9 else [0.0, 1.0, 0.0])
    u /= np.linalg.norm(u)
    v = np.cross(axis, u)
    half = int(np.ceil(np.abs(p @ np.stack([u, v], 1)).max() / voxel_um)) + 3
    image = np.zeros((2 * half + 1, 2 * half + 1), bool)
    image[np.rint(p @ v / voxel_um).astype(int) + half, np.rint(p @ u / voxel_um).astype(int) + half] = True
    r_open = WIDTH_OPENING_RADIUS_VOX
    disk = np.hypot(*np.mgrid[-r_open:r_open + 1, -r_open:r_open + 1]) <= r_open
    image = ndimage.binary_opening(image, structure=disk)
    r = np.arange(-half, half + 1)
    widths = []
    for angle in np.arange(WIDTH_ANGLES) * math.pi / WIDTH_ANGLES:
        x = np.rint(half + r * math.cos(angle)).astype(int)
        y = np.rint(half + r * math.sin(angle)).astype(int)
        widths.append(int(image[y, x].sum()) * voxel_um)
    return float(np.mean(widths)), float(min(widths)), float(max(widths))


def _window(volume: np.ndarray, centre_index: Sequence[int], half: Sequence[int], fill) -> np.ndarray:
    """``volume[centre - half : centre + half + 1]`` along each axis, ``fill`` where that reaches outside."""
    out = np.full(tuple(2 * h + 1 for h in half), fill, dtype=volume.dtype)
    src, dst = [], []
    for c, h, n in zip(centre_index, half, volume.shape, strict=True):
        lo, hi = max(c - h, 0), min(c + h + 1, n)
        src.append(slice(lo, hi))
        dst.append(slice(lo - (c - h), hi - (c - h)))
    out[tuple(dst)] = volume[tuple(src)]
    return out


def refine_pole(spindle: np.ndarray, frame: AlignedFrame, z_end: float,
                sample_tubulin: Callable[[AlignedFrame], np.ndarray]) -> np.ndarray:
    """The pole at the mask's end ``z_end`` (on the frame's z axis) moved to the brightest blurred tubulin voxel of
    the mask within ``POLE_REFINEMENT_LATERAL_UM`` laterally and ``POLE_REFINEMENT_AXIAL_UM`` axially; x y z in the
    frame (um). Only a small box around the end is sampled and blurred (the blur's reach beyond the search box)."""
    ax_x, ax_y, ax_z = frame.axes_um()
    reach = 4.0 * POLE_BLUR_UM  # scipy's Gaussian is cut at 4 sigma
    half_lat = int(math.ceil((POLE_REFINEMENT_LATERAL_UM + reach) / frame.voxel_um))
    half_z = int(math.ceil((POLE_REFINEMENT_AXIAL_UM + reach) / frame.voxel_um))
    k_end = int(np.argmin(np.abs(ax_z - z_end)))
    box = AlignedFrame(frame.to_source_um(np.array([0.0, 0.0, ax_z[k_end]])), frame.basis,
                       (half_lat, half_lat, half_z), frame.voxel_um)
    blurred = ndimage.gaussian_filter(sample_tubulin(box), POLE_BLUR_UM / frame.voxel_um)
    in_mask = _window(spindle, (k_end, frame.half_xyz[1], frame.half_xyz[0]), (half_z, half_lat, half_lat), False)
    bx, by, bz = box.axes_um()
    near = ((np.abs(bx)[None, None, :] <= POLE_REFINEMENT_LATERAL_UM)
            & (np.abs(by)[None, :, None] <= POLE_REFINEMENT_LATERAL_UM)
            & (np.abs(bz + ax_z[k_end] - z_end)[:, None, None] <= POLE_REFINEMENT_AXIAL_UM) & in_mask)
    if not near.any():
        return np.array([0.0, 0.0, z_end])
    k = np.flatnonzero(near.ravel())[np.argmax(blurred.ravel()[near.ravel()])]
    kz, ky, kx = np.unravel_index(k, near.shape)
    return np.array([bx[kx], by[ky], bz[kz] + ax_z[k_end]])


def spindle_shape(spindle: np.ndarray, frame: AlignedFrame, radius_um: float,
                  sample_tubulin: Callable[[AlignedFrame], np.ndarray] | None = None) -> dict[str, float | np.ndarray]:
    """Poles, length, widths, aspect ratio and angle of ``spindle`` (bool, ``frame``'s (Z, Y, X) grid), its axis
    roughly along the frame's z; ``sample_tubulin`` (an aligned frame -> the tubulin on its grid) refines the poles
    (None: the mask's ends). ``poles_um`` (2, 3): x y z in the frame's source coordinates."""
    ax_x, ax_y, ax_z = frame.axes_um()
    lateral = np.hypot(ax_x[None, :], ax_y[:, None])  # (Y, X)
    in_radius = lateral <= radius_um
    profile = spindle[:, in_radius].any(axis=1).astype(float)
    d, c = derivative(profile, ax_z, 2)
    z_ends = left_max_right_min(d, c)
    poles = np.array([np.array([0.0, 0.0, z_end]) if sample_tubulin is None
                      else refine_pole(spindle, frame, z_end, sample_tubulin) for z_end in z_ends])
    axis_vector = poles[1] - poles[0]
    length_um = float(np.linalg.norm(axis_vector))
    if length_um == 0:
        raise MeasurementFailure("spindle poles coincide")
    width_avg, width_min, width_max = widths_um(spindle, (ax_x, ax_y, ax_z), (poles[0] + poles[1]) / 2,
                                                axis_vector / length_um, frame.voxel_um)
    axis_source = frame.basis @ axis_vector
    angle_deg = 90.0 - math.degrees(math.acos(min(1.0, abs(axis_source[2]) / length_um)))
    return {"length_um": length_um, "width_avg_um": width_avg, "width_min_um": width_min, "width_max_um": width_max,
            "aspect_ratio": length_um / width_avg if width_avg > 0 else math.nan, "angle_deg": angle_deg,
            "poles_um": np.array([frame.to_source_um(p) for p in poles])}


def plate_width_um(sample_dna: Callable[[AlignedFrame], np.ndarray], frame: AlignedFrame, radius_um: float) -> float:
    """The DNA plate's thickness along the frame's z: steepest rise to steepest fall of the DNA profile (mean over
    ``radius_um`` around the axis) around its peak. Only the cylinder within that radius is sampled."""
    half_lat = int(math.ceil(radius_um / frame.voxel_um))
    cylinder = AlignedFrame(frame.centre_um, frame.basis, (half_lat, half_lat, frame.half_xyz[2]), frame.voxel_um)
    ax_x, ax_y, ax_z = cylinder.axes_um()
    disc = np.hypot(ax_x[None, :], ax_y[:, None]) <= radius_um
    profile = sample_dna(cylinder)[:, disc].mean(axis=1)
    d, c = derivative(profile, ax_z, int(math.ceil(PLATE_WIDTH_DERIVATIVE_UM / frame.voxel_um)))
    if d.size == 0:
        raise MeasurementFailure("DNA profile too short")
    left, right = left_max_right_min(d, c, centre=float(ax_z[np.argmax(profile)]))
    return right - left


def principal_frame(mask_zyx: np.ndarray, spacing_um_xyz: Sequence[float], voxel_um: float = ANALYSIS_VOXEL_UM
                    ) -> tuple[AlignedFrame, float]:
    """The aligned frame of a mask (centroid, major principal axis as z) just big enough to hold it, with
    ``FRAME_MARGIN_UM`` beyond its ends (the derivatives that find them) and a voxel across, and the mask's radius
    (second principal semi-axis, um)."""
    spacing = np.asarray(spacing_um_xyz, float)
    box = bounding_box(mask_zyx)  # indices within the mask's box: a spindle fills a small part of a frame
    idx = (np.argwhere(mask_zyx[box]) + [b.start for b in box])[:, ::-1]
    if len(idx) > MAX_POINTS_FOR_AXES:
        idx = idx[np.random.default_rng(0).choice(len(idx), MAX_POINTS_FOR_AXES, replace=False)]
    points_um = (idx + 0.5) * spacing
    centre_um = points_um.mean(axis=0)
    eigval, eigvec = np.linalg.eigh(np.cov((points_um - centre_um).T))  # ascending
    e_z, e_x = eigvec[:, 2], eigvec[:, 1]
    basis = np.stack([e_x, np.cross(e_z, e_x), e_z], axis=1)
    aligned = (points_um - centre_um) @ basis  # x y z in the frame
    # each voxel's own footprint reaches half a spacing beyond its centre
    reach_um = np.abs(aligned).max(axis=0) + 0.5 * float(spacing.max()) + np.array([voxel_um, voxel_um,
                                                                                      FRAME_MARGIN_UM])
    half_xyz = np.ceil(reach_um / voxel_um).astype(int)
    half_xyz[:2] = half_xyz[:2].max()  # a square cross-section: the widths turn through 180 degrees
    radius_um = math.sqrt(5.0 * max(float(eigval[1]), 0.0))  # a uniform ellipsoid's variance is a^2 / 5
    return AlignedFrame(centre_um, basis, half_xyz, voxel_um), radius_um


def measure_mask(mask_zyx: np.ndarray, spacing_um_xyz: Sequence[float], tubulin_zyx: np.ndarray | None = None,
                 dna_zyx: np.ndarray | None = None, voxel_um: float = ANALYSIS_VOXEL_UM) -> dict[str, float]:
    """``MORPHOMETRY_COLUMNS`` of one spindle mask (Z, Y, X) on a grid of ``spacing_um_xyz``; ``tubulin_zyx`` and
    ``dna_zyx`` (same grid, raw or standardised intensities) refine the poles and give the plate width.
    NaN where the mask cannot be measured (empty, a single slab of voxels) or no DNA is given."""
    mask_zyx = np.asarray(mask_zyx, bool)
    if np.count_nonzero(mask_zyx) < 4:
        return dict(NO_MEASUREMENT)
    frame, radius_um = principal_frame(mask_zyx, spacing_um_xyz, voxel_um)
    spindle = frame.sample(mask_zyx, spacing_um_xyz, order=1, mode="grid-constant") > 0.5  # converts only its part
    if not spindle.any():
        return dict(NO_MEASUREMENT)
    def sampler(volume_zyx: np.ndarray | None) -> Callable[[AlignedFrame], np.ndarray] | None:
        return None if volume_zyx is None else (lambda box: box.sample(volume_zyx, spacing_um_xyz, order=1))

    radius_um = max(radius_um, voxel_um)
    try:
        shape = spindle_shape(spindle, frame, radius_um, sampler(tubulin_zyx))
    except MeasurementFailure:
        return dict(NO_MEASUREMENT)
    values = {k: float(shape[k]) for k in MORPHOMETRY_COLUMNS if k in shape}
    values["plate_width_um"] = math.nan
    if dna_zyx is not None:
        try:
            values["plate_width_um"] = plate_width_um(sampler(dna_zyx), frame, radius_um)
        except MeasurementFailure:
            pass
    return values
