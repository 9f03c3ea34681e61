"""The truth of a synthetic spindle: geometry over time, no camera.

A scene says where the spindle is and what shape it has at each frame; a renderer (``scripts.phantom`` for
the house look, ``scripts.randomized`` for the domain-randomised families) turns it into camera counts.
Every renderer draws its ground truth from here, so the mask is the same whichever renderer made the image.

The mask, physically: the spindle's microtubule body is described by a normalised envelope coordinate f
(``envelope_f2``): per arm (centre to pole) f = max(distance from the arm's axis / local radius, distance
along the arm / arm length); the central ball has f = distance / core radius; f is the minimum over the
arms and the ball, times a smooth outline perturbation of a few percent. Renderers make the microtubule
density fall to HALF its interior value at f = 1. The mask is the voxels whose centre has f <= 1, i.e.
the envelope where the fibre density falls to half, before any blurring by the optics.

Positions are (x, y, z) in um relative to the field centre; image arrays are (Z, Y, X).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

PHENOTYPES = ("bipolar", "short", "monopolar", "multipolar")
HALO_F = 1.2  # renderers draw the astral-microtubule halo out to this envelope coordinate (f = 1 at the surface)
PERTURB_MAX = 0.08  # the outline perturbation scales f by at most this fraction


def smoothstep(x):
    """0 below 0, 1 above 1, smooth (C1) in between; works on floats and arrays."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-12)


def smooth_noise(rng: np.random.Generator, shape, sigma) -> np.ndarray:
    """Gaussian-filtered white noise, zero mean, unit standard deviation, float32 (periodic edges)."""
    n = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma, mode="wrap")
    n -= n.mean()
    n /= max(float(n.std()), 1e-6)
    return n


@dataclass(frozen=True)
class Arm:
    """Half a spindle, from the centre to one pole (lengths in um, directions unit vectors (x, y, z)).

    The cross-section radius along the arm is radius_um * profile(u), u = distance along the arm /
    length_um in [0, 1]: a half-sphere profile sqrt(1 - u^2) for barrel=0 (the early ball) and a
    barrel 1 - (1 - pole_fraction) u^2 for barrel=1 (broad, flat acentriolar poles).
    """

    direction: np.ndarray
    across: np.ndarray  # perpendicular to direction
    up: np.ndarray  # direction x across
    length_um: float
    radius_um: float
    pole_fraction: float
    barrel: float
    texture_sign: float  # -1 mirrors the fibre pattern so fibres of opposite arms meet at the equator
    texture_turn: float  # rad; turns the fibre cross-section so the arms of a multipolar spindle differ

    def radius_at(self, u):
        """Cross-section radius (um) at relative position ``u`` along the arm (clipped to [0, 1])."""
        u2 = np.square(np.clip(u, 0.0, 1.0))
        out = 0.0
        if self.barrel < 1:
            out = (self.radius_um * (1.0 - self.barrel)) * np.sqrt(np.maximum(1.0 - u2, 0.0))
        if self.barrel > 0:
            out = out + (self.radius_um * self.barrel) * (1.0 - (1.0 - self.pole_fraction) * u2)
        return out

    @property
    def pole_um(self) -> np.ndarray:
        return self.length_um * self.direction


@dataclass(frozen=True)
class SpindleState:
    """The spindle at one frame: centre (x, y, z) um relative to the field centre, arms, a central ball.

    maturity: 0 at GVBD, 1 when the metaphase shape is reached; bipolarity: 0 ball .. 1 final shape.
    """

    centre_um: np.ndarray
    arms: tuple[Arm, ...]
    core_radius_um: float
    maturity: float
    bipolarity: float
    angle_rad: float
    frame: int

    def extent_um(self) -> float:
        """Radius (um) of a sphere around the centre that holds the whole envelope (with a little slack)."""
        reach = [self.core_radius_um] + [max(a.length_um, a.radius_um) + 0.3 * a.radius_um for a in self.arms]
        return 1.15 * max(reach)

    def half_extent_um(self, grow: float = HALO_F / (1 - PERTURB_MAX)) -> np.ndarray:
        """Half-widths (x, y, z) um of a box around the centre holding everything with f < ``grow``: per arm
        the bounding box of a cylinder from the centre past the pole, radius = arm radius."""
        half = np.full(3, self.core_radius_um * grow)
        for arm in self.arms:
            perp = np.sqrt(np.clip(1.0 - arm.direction**2, 0.0, 1.0)) * arm.radius_um * grow
            half = np.maximum(half, np.abs(arm.direction) * arm.length_um * grow + perp)
        return half


def arm_frame(direction: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(across, up): two unit vectors perpendicular to ``direction`` and to each other; ``across`` lies in the
    x-y plane unless the direction is (nearly) along z."""
    across = np.array([-direction[1], direction[0], 0.0])
    if np.linalg.norm(across) < 1e-6:
        across = np.array([1.0, 0.0, 0.0])
    across = unit(across)
    return across, np.cross(direction, across)


def envelope_f2(state: SpindleState, px, py, pz) -> tuple[np.ndarray, np.ndarray]:
    """Squared envelope coordinate f^2 (before the outline perturbation) and the arm index (-1: the central
    ball) on a grid of positions (um) relative to the spindle centre; px, py, pz broadcast against each other
    ((Z,1,1), (1,Y,1), (1,1,X) grids avoid full-size temporaries). Squares avoid square roots on the grid."""
    r2 = (px * px + py * py) + pz * pz  # squared distance from the centre
    f2 = r2 / np.float32(state.core_radius_um**2)
    which = np.full(f2.shape, -1, np.int8)
    for k, arm in enumerate(state.arms):
        d = arm.direction.astype(np.float32)
        s = (px * d[0] + py * d[1]) + pz * d[2]
        uu = s / np.float32(arm.length_um)
        radius2 = np.square(arm.radius_at(uu), dtype=np.float32)
        fk2 = np.maximum((r2 - s * s) / np.maximum(radius2, np.float32(1e-6)), uu * uu)
        fk2[uu < 0] = np.inf
        closer = fk2 < f2
        np.copyto(f2, fk2, where=closer)
        which[closer] = k
    return f2, which


def perturbed_f(state: SpindleState, f2_sub: np.ndarray, p: np.ndarray, cube: np.ndarray, amplitude: float) -> np.ndarray:
    """f at positions ``p`` (n, 3) um relative to the centre, from their unperturbed f^2: a smooth noise field
    ``cube`` (12^3, unit std) attached to the spindle (it rotates with the first arm) scales f by at most
    PERTURB_MAX, with typical size ``amplitude``: an irregular outline."""
    ref = state.arms[0]
    local = p @ np.stack([ref.direction, ref.across, ref.up], axis=1).astype(np.float32)
    span = max(state.extent_um(), 1e-3)
    coords = ((local / np.float32(span) + 1.0) * 0.5 * (cube.shape[0] - 1)).T
    pert = ndimage.map_coordinates(cube, coords, order=1, mode="nearest")
    return (np.sqrt(f2_sub) * (1.0 + PERTURB_MAX * np.tanh(amplitude / PERTURB_MAX * pert))).astype(np.float32)


@dataclass(frozen=True)
class Grid:
    """Voxel-centre positions (um, relative to the field centre) of an image of ``shape_zyx`` voxels."""

    shape_zyx: tuple[int, int, int]
    spacing_um_xyz: tuple[float, float, float]

    def axis_um(self, axis_xyz: int) -> np.ndarray:
        n = self.shape_zyx[2 - axis_xyz]
        return ((np.arange(n) - (n - 1) / 2) * self.spacing_um_xyz[axis_xyz]).astype(np.float32)

    @property
    def voxel_volume_um3(self) -> float:
        return float(np.prod(self.spacing_um_xyz))


def draw_direction(rng: np.random.Generator, max_elevation_deg: float) -> tuple[float, float]:
    """(azimuth, elevation) rad of a spindle axis: azimuth uniform, elevation uniform on the sphere's band
    |elevation| <= max_elevation_deg (sin(elevation) uniform), so steep axes are as likely as on a sphere."""
    s = math.sin(math.radians(max_elevation_deg))
    return float(rng.uniform(0, 2 * np.pi)), float(math.asin(rng.uniform(-s, s)))


def direction_vector(azimuth: float, elevation: float) -> np.ndarray:
    return np.array([math.cos(elevation) * math.cos(azimuth), math.cos(elevation) * math.sin(azimuth),
                     math.sin(elevation)])


@dataclass(frozen=True)
class GeometryRanges:
    """Ranges the randomized scenes draw from (um, at a size factor of 1; frames).

    size_factor scales the whole spindle (0.6-1.5x the mouse metaphase I spindle of ~30 um pole to pole);
    elongation scales the arm length against the radius; max_elevation_deg bounds the spindle axis' tilt
    out of the x-y plane (90: any orientation); centre_offset_um / centre_offset_z_um: how far the spindle sits
    from the field centre laterally / axially (a tracking microscope keeps it near); gvbd_frame: the first frame
    with a spindle, drawn per oocyte from (lo, hi) and kept below the series' length (None: 1 to min(3, n_frames //
    4), the draw every set so far was made with; a wider range gives training more frames before GVBD, where a
    model must find nothing)."""

    size_factor: tuple[float, float] = (0.6, 1.5)
    elongation: tuple[float, float] = (0.75, 1.35)
    pole_fraction: tuple[float, float] = (0.12, 0.6)
    max_elevation_deg: float = 90.0
    centre_offset_um: float = 7.0
    centre_offset_z_um: float = 6.0
    # The cell around the spindle (an oocyte by default; a smaller mitotic cell for other samples): its radius, how
    # far its centre is from the spindle's, its germinal vesicle (nucleus) radius, and a neighbouring cell's
    # radius and distance from the field centre.
    cell_radius_um: tuple[float, float] = (34.0, 42.0)
    cell_offset_um: tuple[float, float] = (0.0, 25.0)
    gv_radius_um: tuple[float, float] = (10.0, 14.0)
    neighbour_radius_um: tuple[float, float] = (8.0, 20.0)
    neighbour_distance_um: tuple[float, float] = (24.0, 34.0)
    phenotype_weights: tuple[float, float, float, float] = (0.55, 0.15, 0.15, 0.15)  # order of PHENOTYPES
    gvbd_frame: tuple[int, int] | None = None


DEFAULT_GEOMETRY = GeometryRanges()


class OocyteScene:
    """One oocyte's geometry over ``n_frames`` frames: GVBD, the spindle's growth from a ball into its final
    phenotype's shape, its drift and rotation, the germinal vesicle before GVBD, and the positions of the things
    around it that a renderer may draw (chromosome plate, aMTOCs, the oocyte's edge, a neighbouring cell,
    aggregates). Deterministic in ``rng``'s draws; nothing here knows about optics or cameras."""

    def __init__(self, rng: np.random.Generator, n_frames: int, ranges: GeometryRanges = DEFAULT_GEOMETRY):
        if n_frames < 1:
            raise ValueError(f"n_frames must be >= 1, found {n_frames}")
        self.n_frames = n_frames
        self.ranges = ranges
        lo = min(1, n_frames - 1)
        self.gvbd_frame = int(rng.integers(lo, max(lo, min(3, n_frames // 4)) + 1))
        if ranges.gvbd_frame is not None:
            # drawn from a spawned generator after the default draw, so that every other draw (shape, phenotype,
            # path, neighbours) is the one the default range gives: the same scenes, with more frames before GVBD
            lo, hi = (int(f) for f in ranges.gvbd_frame)
            if not 0 <= lo <= hi or lo > n_frames - 1:
                raise ValueError(f"gvbd_frame range ({lo}, {hi}): needs 0 <= lo <= hi and lo below the series' "
                                 f"{n_frames} frames (the last frame must hold a spindle)")
            self.gvbd_frame = int(rng.spawn(1)[0].integers(lo, min(hi, n_frames - 1) + 1))
        self.frames_to_metaphase = float(rng.uniform(0.45, 0.8) * max(n_frames - self.gvbd_frame, 1))
        w = np.asarray(ranges.phenotype_weights, float)
        self.phenotype = PHENOTYPES[int(rng.choice(len(PHENOTYPES), p=w / w.sum()))]
        size = float(rng.uniform(*ranges.size_factor))
        elong = float(rng.uniform(*ranges.elongation))
        q = float(rng.uniform(*ranges.pole_fraction))
        p = self.phenotype
        if p in ("bipolar", "short"):
            half = (15.0 if p == "bipolar" else 8.5) * elong
            radius = 7.7 if p == "bipolar" else 6.7
            arms = [(0.0, half * rng.uniform(0.93, 1.07), radius, q, 1.0), (np.pi, half, radius, q, 1.0)]
            core = 0.8 * radius
        elif p == "monopolar":
            radius = 7.2
            arms = [(0.0, 13.5 * elong, radius, 0.6 * q, 1.0), (np.pi, 0.6 * radius, radius, 0.0, 0.0)]
            core = 0.8 * radius
        else:
            n_poles = int(rng.integers(3, 5))
            arms = [(2 * np.pi * k / n_poles + rng.uniform(-0.3, 0.3), rng.uniform(9.0, 12.5) * elong,
                     rng.uniform(5.0, 6.5), q, 1.0) for k in range(n_poles)]
            core = float(rng.uniform(5.5, 6.5))
        # (angle in the spindle's plane rad, length um, radius um, pole fraction, barrel) per arm
        self.final_arms = [(a, length * size, r * size, pf, b) for a, length, r, pf, b in arms]
        self.final_core_um = core * size
        self.r_ball_um = (float(rng.uniform(4.0, 4.8)) * size, float(rng.uniform(5.5, 6.5)) * size)
        self.azimuth0, self.elevation = draw_direction(rng, ranges.max_elevation_deg)
        self.angular_speed = float(rng.uniform(-0.05, 0.05))  # rad per frame, about the optical axis
        self.roll = float(rng.uniform(0, 2 * np.pi))  # turns the plane of a multipolar spindle's arms
        c = ranges.centre_offset_um
        cz = ranges.centre_offset_z_um
        self.centre0_um = rng.uniform([-c, -c, -cz], [c, c, cz])
        self.drift_amp_um = rng.uniform([0.5, 0.5, 0.2], [1.5, 1.5, 0.8])
        self.drift_period = rng.uniform(12, 40, size=3)
        self.drift_phase = rng.uniform(0, 2 * np.pi, size=3)
        self.perturb_amplitude = float(rng.uniform(0.03, 0.07))
        self.perturb_cube = smooth_noise(rng, (12, 12, 12), 1.5)
        # Around the spindle: germinal vesicle (before GVBD), aMTOC directions, the oocyte, a neighbour.
        self.gv_radius_um = float(rng.uniform(*ranges.gv_radius_um))
        self.mtoc_directions = np.array([unit(v) for v in rng.standard_normal((int(rng.integers(12, 30)), 3))])
        self.oocyte_radius_um = float(rng.uniform(*ranges.cell_radius_um))
        toward = unit(np.append(rng.standard_normal(2), 0.0))
        # The oocyte's centre: the spindle sits 0-25 um off it (off-centre in meiosis I), so the edge, cortex
        # and zona cross the field in some oocytes and not in others.
        self.oocyte_centre_um = self.centre0_um + toward * rng.uniform(*ranges.cell_offset_um)
        away = unit(np.append(rng.standard_normal(2), rng.uniform(-0.3, 0.3)))
        self.neighbour_radius_um = float(rng.uniform(*ranges.neighbour_radius_um))
        self.neighbour_centre_um = away * (rng.uniform(*ranges.neighbour_distance_um) + self.neighbour_radius_um * 0.3)
        n_agg = int(rng.integers(0, 12))
        self.aggregate_centres_um = rng.uniform([-28, -28, -25], [28, 28, 25], size=(n_agg, 3))
        self.aggregate_radii_um = rng.uniform(0.5, 2.0, size=n_agg)

    def maturity(self, frame: int) -> float:
        """Developmental progress: <0 before GVBD, 0 at GVBD, 1 at the final shape."""
        return (frame - self.gvbd_frame) / self.frames_to_metaphase

    def centre_um(self, frame: int) -> np.ndarray:
        return self.centre0_um + self.drift_amp_um * np.sin(2 * np.pi * frame / self.drift_period + self.drift_phase)

    def gv_centre_um(self) -> np.ndarray:
        """The germinal vesicle sits where the spindle will form."""
        return self.centre_um(self.gvbd_frame)

    def spindle_state(self, frame: int) -> SpindleState | None:
        """The spindle at ``frame``, or None before GVBD."""
        x = self.maturity(frame)
        if x < 0:
            return None
        e = float(smoothstep((x - 0.2) / 0.7))  # elongation / bipolarisation
        r0, r1 = self.r_ball_um
        r_ball = r0 + (r1 - r0) * float(smoothstep(x / 0.35))
        azimuth = self.azimuth0 + self.angular_speed * frame
        axis = direction_vector(azimuth, self.elevation)
        side, normal = arm_frame(axis)
        # The arms lie in the plane spanned by the axis and ``side`` turned by ``roll`` about the axis.
        in_plane = math.cos(self.roll) * side + math.sin(self.roll) * normal
        arms = []
        for k, (a, length, radius, q, barrel) in enumerate(self.final_arms):
            d = unit(math.cos(a) * axis + math.sin(a) * in_plane)
            across, up = arm_frame(d)
            bipolar_pair = len(self.final_arms) == 2 and k == 1
            arms.append(Arm(direction=d, across=across, up=up, length_um=r_ball * (1 - e) + length * e,
                            radius_um=r_ball * (1 - e) + radius * e, pole_fraction=q, barrel=e * barrel,
                            texture_sign=-1.0 if bipolar_pair else 1.0,
                            texture_turn=0.0 if len(self.final_arms) == 2 else 2.1 * k))
        return SpindleState(centre_um=self.centre_um(frame), arms=tuple(arms),
                            core_radius_um=r_ball * (1 - e) + self.final_core_um * e, maturity=x, bipolarity=e,
                            angle_rad=azimuth, frame=frame)

    def envelope_f(self, state: SpindleState, px, py, pz) -> tuple[np.ndarray, np.ndarray]:
        """Perturbed f and arm index on a grid of positions (um) relative to the spindle centre (broadcast
        shapes as in ``envelope_f2``); f is +inf where it exceeds the halo's reach."""
        f2, which = envelope_f2(state, px, py, pz)
        f = np.full(f2.shape, np.inf, np.float32)
        idx = np.flatnonzero(f2 < np.float32((HALO_F / (1 - PERTURB_MAX)) ** 2))
        if idx.size:
            zz, yy, xx = np.unravel_index(idx, f2.shape)
            px_, py_, pz_ = (np.broadcast_to(a, f2.shape) for a in (px, py, pz))
            p = np.stack([px_[zz, yy, xx], py_[zz, yy, xx], pz_[zz, yy, xx]], axis=1)
            f.ravel()[idx] = perturbed_f(state, f2.ravel()[idx], p, self.perturb_cube, self.perturb_amplitude)
        return f, which

    def true_mask(self, frame: int, grid: Grid) -> np.ndarray:
        """(Z, Y, X) uint8 mask on ``grid``: 1 where the voxel centre has f <= 1; all zero before GVBD."""
        out = np.zeros(grid.shape_zyx, np.uint8)
        state = self.spindle_state(frame)
        if state is None:
            return out
        sl = box_slices(grid, state.centre_um, state.half_extent_um())
        if sl is None:
            return out
        px, py, pz = local_grids(grid, sl, state.centre_um)
        f, _ = self.envelope_f(state, px, py, pz)
        out[sl] = f <= 1.0
        return out


def box_slices(grid: Grid, centre_um: Sequence[float], half_um: Sequence[float]) -> tuple[slice, slice, slice] | None:
    """(z, y, x) index slices of the voxels of ``grid`` within ``half_um`` (x, y, z) of ``centre_um``; None if
    the box misses the grid."""
    out = []
    for axis in (2, 1, 0):
        n = grid.shape_zyx[2 - axis]
        d = grid.spacing_um_xyz[axis]
        lo = int(np.clip(math.floor((centre_um[axis] - half_um[axis]) / d + (n - 1) / 2), 0, n))
        hi = int(np.clip(math.ceil((centre_um[axis] + half_um[axis]) / d + (n - 1) / 2) + 1, 0, n))
        if hi <= lo:
            return None
        out.append(slice(lo, hi))
    return tuple(out)


def local_grids(grid: Grid, sl: tuple[slice, slice, slice], centre_um: Sequence[float]):
    """Broadcastable (Z,1,1), (1,Y,1), (1,1,X) float32 positions (um) relative to ``centre_um`` on ``sl``."""
    pz = (grid.axis_um(2)[sl[0]] - np.float32(centre_um[2]))[:, None, None]
    py = (grid.axis_um(1)[sl[1]] - np.float32(centre_um[1]))[None, :, None]
    px = (grid.axis_um(0)[sl[2]] - np.float32(centre_um[0]))[None, None, :]
    return px, py, pz
