"""Domain-randomised renderer families: the scenes of ``scripts.scene`` drawn with looks from wide ranges.

The shipped model learned the house phantom's look (``scripts.phantom``), not spindles. Following SynthSeg
(Billot et al., MedIA 2023) and AnyStar (Dey et al., WACV 2024), this renderer draws every oocyte's look
from wide ranges, some deliberately beyond realistic, so that a network trained on it must rely on shape:
spindle-to-cytoplasm contrast, fibre texture, PSF widths in x-y and z drawn independently, haze, smooth bias
fields, light-sheet stripes and shadows, bleaching, the camera (photon budget with Poisson noise, read noise,
offset, gain, hot pixels; sCMOS or EMCCD), a non-linear response, x-y resolution loss; and distractors a real
field has (the oocyte's edge with cortex and zona, a neighbouring cell, bright aggregates, free asters).

Families (``FAMILIES``) are regions of these ranges. ``train`` is what training samples; the ``heldout_*``
families each hold one region that ``train`` never samples (a texture, a PSF range, a camera model), so a
model's score on them measures generalization to a look it has not seen.

The spindle is rendered on a z grid 5x finer than the image's before the axial blur, so a tilted spindle is
blurred like a real one rather than like a rotation of 2-um slices. The ground truth is the scene's
(``OocyteScene.true_mask``): it does not depend on the look.

Command line (the dataset layout of ``scripts.phantom.generate_dataset``; experiments are named
``<family><n>``)::

    python -m scripts.randomized --out data/rand_train --families train --experiments 6 --oocytes 4 --frames 12
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np
from scipy import ndimage
from scipy.special import expit

from scripts.io import atomic_path, write_imagej_hyperstack
from scripts.phantom import (
    CHANNEL_NAMES,
    MICROTUBULE_CHANNEL,
    label_frames,
    run_jobs,
    write_dataset_tables,
    write_hyperstack_frames,
)
from scripts.scene import (
    DEFAULT_GEOMETRY,
    HALO_F,
    GeometryRanges,
    Grid,
    OocyteScene,
    box_slices,
    local_grids,
    smooth_noise,
)

DEFAULT_SHAPE_XYZ = (352, 352, 31)
DEFAULT_SPACING_UM_XYZ = (0.17, 0.17, 2.0)
# The spindle is drawn on a z grid this many times finer than the image's before the axial blur; odd, so that
# every image slice centre is a fine sample (the fine grid is centred like the image's).
FINE_Z = 5
TEXTURES = ("fibres", "granular", "smooth", "ridged")
# Geometry of a mitotic cell (e.g. the stem cells of confocal test stacks) instead of an oocyte: GeometryRanges fields.
SMALL_CELLS = dict(cell_radius_um=(7.0, 13.0), cell_offset_um=(0.0, 3.0), gv_radius_um=(3.5, 6.0),
                   neighbour_radius_um=(6.0, 12.0), neighbour_distance_um=(12.0, 20.0), centre_offset_um=3.0)
CAMERAS = ("scmos", "emccd")
# spawn_key slot of a lab's shared look (``draw_lab_look``): apart from the oocyte indices, which are small
LAB_LOOK_KEY = 10_000


@dataclass(frozen=True)
class FamilyRanges:
    """Ranges one renderer family draws an oocyte's look from (lo, hi); see the module docstring.

    contrast: spindle interior / cytoplasm intensity; photons_e: cytoplasm photo-electrons per voxel;
    psf_*_um: Gaussian PSF sigma; haze: wide-blurred copy of the spindle's signal, relative; bias: amplitude
    (natural log) of a smooth multiplicative field; stripes: light-sheet stripe amplitude; gamma: exponent of
    the detector response (< 1 compresses bright signal); xy_lowres: x-y resolution loss factor (1 = none);
    edge_um: width of the spindle's fall-off at its envelope (um of f x radius). The distractors a naive model takes
    for a spindle, relative to the cytoplasm: cortex and zona (the oocyte's edge), neighbour (a neighbouring cell
    at the field's edge), aggregates (the peak of each bright spot), asters (times the spindle's contrast);
    neighbour_probability (p, p): the chance that the neighbouring cell is in the field. Changing it changes the
    later draws of the oocytes that gain or lose a neighbour (the defaults draw as before these became ranges)."""

    textures: tuple[str, ...]
    camera: str
    contrast: tuple[float, float] = (1.3, 8.0)
    photons_e: tuple[float, float] = (4.0, 300.0)
    psf_xy_um: tuple[float, float] = (0.15, 0.6)
    psf_z_um: tuple[float, float] = (0.7, 3.0)
    haze: tuple[float, float] = (0.0, 0.6)
    bias: tuple[float, float] = (0.0, 0.6)
    stripes: tuple[float, float] = (0.0, 0.45)
    gamma: tuple[float, float] = (0.6, 1.5)
    xy_lowres: tuple[float, float] = (1.0, 2.5)
    read_noise_e: tuple[float, float] = (0.5, 8.0)
    offset_adu: tuple[float, float] = (0.0, 2000.0)
    gain_adu_per_e: tuple[float, float] = (0.3, 5.0)
    hot_pixel_fraction: tuple[float, float] = (0.0, 2e-4)
    bleach_per_frame: tuple[float, float] = (0.0, 0.03)
    cortex: tuple[float, float] = (0.0, 1.5)
    zona: tuple[float, float] = (0.0, 1.0)
    neighbour: tuple[float, float] = (0.5, 2.5)
    neighbour_probability: tuple[float, float] = (0.5, 0.5)
    aggregates: tuple[float, float] = (0.5, 4.0)
    asters: tuple[float, float] = (0.0, 1.5)


FAMILIES: dict[str, FamilyRanges] = {
    "train": FamilyRanges(textures=("fibres", "granular", "smooth"), camera="scmos"),
    # Held out: a texture never sampled in training (multi-octave ridged noise, Perlin-like) ...
    "heldout_texture": FamilyRanges(textures=("ridged",), camera="scmos"),
    # ... PSFs beyond the training range (axially and laterally) ...
    "heldout_psf": FamilyRanges(textures=("fibres", "granular", "smooth"), camera="scmos", psf_xy_um=(0.6, 0.9),
                                psf_z_um=(3.0, 4.5)),
    # ... and an EMCCD camera (multiplication noise, clock-induced charge) at photon counts below training's.
    "heldout_camera": FamilyRanges(textures=("fibres", "granular", "smooth"), camera="emccd", photons_e=(1.0, 4.0),
                                   read_noise_e=(0.05, 0.3)),
}


@dataclass(frozen=True)
class Look:
    """One oocyte's drawn look (every field one value from its family's range); saved with the dataset."""

    family: str
    texture: str
    camera: str
    contrast: float
    photons_e: float
    psf_xy_um: float
    psf_z_um: float
    haze: float
    bias: float
    stripes: float
    gamma: float
    xy_lowres: float
    read_noise_e: float
    offset_adu: float
    gain_adu_per_e: float
    hot_pixel_fraction: float
    bleach_per_frame: float
    edge_um: float
    halo: float
    cytoplasm_texture: float  # relative amplitude of the cytoplasm's granular texture
    medium: float  # intensity outside the oocyte, relative to the cytoplasm
    cortex: float
    zona: float
    neighbour: float  # 0: no neighbouring cell in the field
    aggregates: float
    asters: float

    @classmethod
    def draw(cls, rng: np.random.Generator, family: str, look_ranges: Mapping[str, tuple[float, float]] | None = None
             ) -> Look:
        """A look from ``family``'s ranges; ``look_ranges`` replaces some of them ({FamilyRanges field: (lo, hi)}),
        e.g. a dimmer photon budget. Every field takes the same random draws either way, so an override changes
        that field's value only."""
        r = family_ranges(family, look_ranges)

        def u(lo_hi):
            return float(rng.uniform(*lo_hi))

        def log_u(lo_hi):  # scale parameters spread evenly over their decades
            return float(math.exp(rng.uniform(math.log(lo_hi[0]), math.log(lo_hi[1]))))

        return cls(
            family=family, texture=str(rng.choice(r.textures)), camera=r.camera, contrast=log_u(r.contrast),
            photons_e=log_u(r.photons_e), psf_xy_um=u(r.psf_xy_um), psf_z_um=u(r.psf_z_um), haze=u(r.haze),
            bias=u(r.bias), stripes=u(r.stripes), gamma=u(r.gamma), xy_lowres=u(r.xy_lowres),
            read_noise_e=u(r.read_noise_e), offset_adu=u(r.offset_adu), gain_adu_per_e=log_u(r.gain_adu_per_e),
            hot_pixel_fraction=u(r.hot_pixel_fraction), bleach_per_frame=u(r.bleach_per_frame),
            edge_um=float(rng.uniform(0.15, 1.2)), halo=float(rng.uniform(0.0, 0.25)),
            cytoplasm_texture=float(rng.uniform(0.05, 0.35)), medium=float(rng.uniform(0.0, 0.4)),
            cortex=u(r.cortex), zona=u(r.zona),
            neighbour=u(r.neighbour) if rng.random() < r.neighbour_probability[0] else 0.0,
            aggregates=u(r.aggregates), asters=u(r.asters),
        )


def family_ranges(family: str, look_ranges: Mapping[str, tuple[float, float]] | None = None) -> FamilyRanges:
    """``FAMILIES[family]`` with the numeric ranges in ``look_ranges`` replaced (checked: known names, lo <= hi)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown renderer family {family!r}; expected one of {sorted(FAMILIES)}")
    if not look_ranges:
        return FAMILIES[family]
    numeric = [f.name for f in fields(FamilyRanges) if f.name not in ("textures", "camera")]
    for name, lo_hi in look_ranges.items():
        if name not in numeric:
            raise ValueError(f"unknown look range {name!r}; expected one of {numeric}")
        if len(lo_hi) != 2 or not lo_hi[0] <= lo_hi[1]:
            raise ValueError(f"look range {name}: expected (lo, hi) with lo <= hi, found {tuple(lo_hi)}")
        if name == "neighbour_probability" and not (lo_hi[0] == lo_hi[1] and 0 <= lo_hi[0] <= 1):
            raise ValueError(f"look range {name}: a probability, given as P P with 0 <= P <= 1, found {tuple(lo_hi)}")
    return replace(FAMILIES[family], **{name: (float(lo), float(hi)) for name, (lo, hi) in look_ranges.items()})


# ------------------------------------------------------------------------------------------- textures
def _texture(look: Look, rng: np.random.Generator, state, arm_index: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Microtubule density (~0.2..1.3, mean ~0.8) at positions ``p`` (n, 3) um relative to the spindle centre,
    whose nearest arm is ``arm_index`` (-1: the central ball)."""
    n = len(p)
    if look.texture == "smooth":
        cube = smooth_noise(rng, (16, 16, 16), 2.0)
        return (0.85 + 0.12 * ndimage.map_coordinates(cube, (p / np.float32(3.0)).T, order=1, mode="grid-wrap")
                ).astype(np.float32)
    if look.texture == "granular":
        cube = smooth_noise(rng, (48, 48, 48), 0.8)
        grain = float(rng.uniform(0.25, 0.6))  # um per texture voxel
        g = ndimage.map_coordinates(cube, (p / np.float32(grain)).T, order=1, mode="grid-wrap")
        return np.clip(0.75 + 0.35 * g, 0.2, 1.4).astype(np.float32)
    if look.texture == "ridged":  # multi-octave ridged noise: thin bright sheets and filaments, no fibre order
        out = np.zeros(n, np.float32)
        for octave, (scale_um, weight) in enumerate(((2.0, 0.6), (0.9, 0.3), (0.45, 0.1))):
            cube = smooth_noise(rng, (40, 40, 40), 1.3)
            g = ndimage.map_coordinates(cube, (p / np.float32(scale_um) + 7.0 * octave).T, order=1, mode="grid-wrap")
            out += np.float32(weight) * np.exp(-(g * g) / np.float32(0.3))
        return (0.25 + 1.0 * out).astype(np.float32)
    # fibres: bundles that run pole to pole: a random cross-section pattern extruded along each arm (coordinates
    # normalised by the local radius, so the bundles converge at the poles).
    m = 128
    cross = np.zeros((m, m), np.float32)
    for count, width_px in ((int(rng.integers(30, 90)), float(rng.uniform(2.0, 4.0))),
                            (int(rng.integers(60, 160)), float(rng.uniform(1.0, 2.0)))):
        layer = np.zeros((m, m), np.float32)
        ang = rng.uniform(0, 2 * np.pi, count)
        rad = 1.2 * np.sqrt(rng.uniform(0, 1, count))
        ix = ((rad * np.cos(ang) / 1.3 + 1) * 0.5 * (m - 1)).astype(int)
        iy = ((rad * np.sin(ang) / 1.3 + 1) * 0.5 * (m - 1)).astype(int)
        np.add.at(layer, (iy, ix), rng.uniform(0.4, 1.0, count).astype(np.float32))
        cross += ndimage.gaussian_filter(layer, width_px) * width_px**2
    cross /= max(float(np.percentile(cross, 99.0)), 1e-6)
    cross = 0.2 + 0.9 * np.clip(cross, 0, 1.2)
    out = np.empty(n, np.float32)
    for k in range(-1, len(state.arms)):
        sel = np.flatnonzero(arm_index == k)
        if sel.size == 0:
            continue
        arm = state.arms[max(k, 0)]
        q = p[sel]
        s = q @ arm.direction.astype(np.float32)
        radius = np.maximum(arm.radius_at(s / np.float32(arm.length_um)).astype(np.float32), np.float32(0.3))
        xi = (q @ arm.across.astype(np.float32)) / radius * np.float32(arm.texture_sign)
        eta = (q @ arm.up.astype(np.float32)) / radius
        coords = np.stack([(eta / 1.3 + 1) * 0.5 * (m - 1), (xi / 1.3 + 1) * 0.5 * (m - 1)])
        out[sel] = ndimage.map_coordinates(cross, coords, order=1, mode="mirror")
    # Disordered early ball: fibres align as the spindle becomes bipolar.
    w = np.float32(0.3 + 0.7 * state.bipolarity)
    if w < 1:
        cube = smooth_noise(rng, (40, 40, 40), 1.2)
        ridges = 0.3 + 0.9 * np.exp(-np.square(ndimage.map_coordinates(cube, (p / np.float32(0.35)).T, order=1,
                                                                       mode="grid-wrap")) / 0.25)
        out = w * out + (1 - w) * ridges.astype(np.float32)
    return out


# ------------------------------------------------------------------------------------------- rendering
class RandomizedOocyte:
    """One oocyte: a scene (``scripts.scene.OocyteScene``) and a look drawn from ``family``; renders frames.

    Randomness: ``SeedSequence(seed, spawn_key=(experiment_index, oocyte_index, i))`` with i = 0 for the scene,
    1 for the look and the static fields, (2, frame) for a frame: an oocyte and each frame are the same whichever
    others are rendered."""

    def __init__(self, family: str, n_frames: int, seed: int = 0, experiment_index: int = 0, oocyte_index: int = 0,
                 shape_xyz: Sequence[int] = DEFAULT_SHAPE_XYZ, spacing_um_xyz: Sequence[float] = DEFAULT_SPACING_UM_XYZ,
                 geometry: GeometryRanges = DEFAULT_GEOMETRY, look: Look | None = None,
                 look_ranges: Mapping[str, tuple[float, float]] | None = None):
        self.key = (experiment_index, oocyte_index)
        self.seed = seed
        self.n_frames = n_frames
        X, Y, Z = (int(v) for v in shape_xyz)
        self.grid = Grid((Z, Y, X), tuple(float(v) for v in spacing_um_xyz))
        # A thin stack (a confocal's fine z steps) keeps the spindle's centre well inside it.
        field_z_um = Z * self.grid.spacing_um_xyz[2]
        geometry = replace(geometry, centre_offset_z_um=min(geometry.centre_offset_z_um, 0.2 * field_z_um))
        self.scene = OocyteScene(self._rng(0), n_frames, geometry)
        rng = self._rng(1)
        # drawn even when a look is given, so the static fields' draws stay the same
        drawn = Look.draw(rng, family, look_ranges)
        self.look = look if look is not None else drawn
        self._build_static(rng)

    def _rng(self, *key: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(*self.key, *key)))

    def _build_static(self, rng: np.random.Generator) -> None:
        """Fields that do not change over the series: cytoplasm with its edge, cortex, zona and the medium; the
        neighbour; the illumination (bias field x stripes); hot pixels. Relative intensity, cytoplasm = 1."""
        Z, Y, X = self.grid.shape_zyx
        sc, look = self.scene, self.look
        z = self.grid.axis_um(2)[:, None, None]
        y = self.grid.axis_um(1)[None, :, None]
        x = self.grid.axis_um(0)[None, None, :]
        oc = sc.oocyte_centre_um
        r = np.sqrt((x - np.float32(oc[0])) ** 2 + (y - np.float32(oc[1])) ** 2 + (z - np.float32(oc[2])) ** 2)
        ro = np.float32(sc.oocyte_radius_um)
        inside = expit((ro - r) / np.float32(0.7))
        cortex = np.exp(-np.square((r - ro + 0.8) / np.float32(1.0)))
        zona = np.exp(-np.square((r - ro - 4.5) / np.float32(1.8)))
        grain_um = float(rng.uniform(0.2, 0.8))
        granular = smooth_noise(rng, (Z, Y, X), (0.3, grain_um / self.grid.spacing_um_xyz[1],
                                                 grain_um / self.grid.spacing_um_xyz[0]))
        cyto = inside * (1.0 + np.float32(look.cytoplasm_texture) * granular)
        static = np.float32(look.medium) * (1 - inside) + cyto + look.cortex * cortex + look.zona * zona
        if look.neighbour > 0:  # a neighbouring cell filled with a bright, blotchy interphase microtubule network
            nc = sc.neighbour_centre_um
            rn = np.sqrt((x - np.float32(nc[0])) ** 2 + (y - np.float32(nc[1])) ** 2 + (z - np.float32(nc[2])) ** 2)
            cell = expit((np.float32(sc.neighbour_radius_um) - rn) / np.float32(0.8))
            net = np.clip(1.0 + 0.8 * smooth_noise(rng, (Z, Y, X), (0.5, 4.0, 4.0)), 0.0, None)
            static = static * (1 - cell) + np.float32(look.neighbour) * cell * net
        self._static = np.maximum(static, 0.0).astype(np.float32)
        # Illumination: smooth bias field x light-sheet stripes along x (from x = 0, growing downstream).
        bias = smooth_noise(rng, (Z, max(Y // 16, 4), max(X // 16, 4)), (1.5, 2.0, 2.0))
        bias = ndimage.zoom(bias, (1, Y / bias.shape[1], X / bias.shape[2]), order=1)[:, :Y, :X]
        stripes = np.tanh(smooth_noise(rng, (Z, Y), (0.7, float(rng.uniform(3, 20)))) / 1.5)
        ramp = np.linspace(0.3, 1.0, X, dtype=np.float32)
        self._illumination = (np.exp(np.float32(look.bias) * bias) *
                              (1.0 + np.float32(look.stripes) * stripes[:, :, None] * ramp[None, None, :])
                              ).astype(np.float32)
        n_hot = int(round(look.hot_pixel_fraction * Z * Y * X))
        self._hot_index = rng.choice(Z * Y * X, size=n_hot, replace=False) if n_hot else np.zeros(0, np.intp)
        self._hot_level = rng.uniform(0.2, 1.0, n_hot) * 65535 * 0.3  # 4,000-20,000 counts above the signal

    # ------------------------------------------------------------------ per frame
    def _spindle(self, frame: int, rng: np.random.Generator):
        """(spindle density drawn on the fine z grid, blurred axially and sampled at the image's slices; its index
        slices in the image; the spindle state), or None before GVBD or when the spindle is outside the field."""
        state = self.scene.spindle_state(frame)
        if state is None:
            return None
        Z, Y, X = self.grid.shape_zyx
        dx, dy, dz = self.grid.spacing_um_xyz
        fine = Grid((Z * FINE_Z, Y, X), (dx, dy, dz / FINE_Z))
        reach = 3.0 * self.look.psf_z_um
        sl = box_slices(fine, state.centre_um, state.half_extent_um() + np.array([0.0, 0.0, reach]))
        if sl is None:
            return None
        px, py, pz = local_grids(fine, sl, state.centre_um)
        f, which = self.scene.envelope_f(state, px, py, pz)
        idx = np.flatnonzero(np.isfinite(f))
        density = np.zeros(f.shape, np.float32)
        if idx.size:
            zz, yy, xx = np.unravel_index(idx, f.shape)
            p = np.stack([px[0, 0, xx], py[0, yy, 0], pz[zz, 0, 0]], axis=1)
            tex = _texture(self.look, rng, state, which.ravel()[idx], p)
            fs = f.ravel()[idx]
            # Half density at the envelope (f = 1), fall-off over edge_um of the local size; a faint astral halo.
            width = np.float32(self.look.edge_um / max(state.core_radius_um, 1.0))
            edge = 1.0 / (1.0 + np.exp((fs - 1.0) / width))
            halo = np.where(fs < HALO_F, np.float32(self.look.halo) * np.exp(-np.maximum(fs - 1.0, 0) / 0.1), 0.0)
            density.ravel()[idx] = tex * edge + halo
        # Axial PSF on the fine grid, then keep the fine samples that are image slice centres.
        density = ndimage.gaussian_filter1d(density, self.look.psf_z_um / fine.spacing_um_xyz[2], axis=0, truncate=3.0)
        z_fine = fine.axis_um(2)[sl[0]]
        z_img = self.grid.axis_um(2)
        keep = [i for i, zf in enumerate(z_fine) if np.min(np.abs(z_img - zf)) < 1e-3]
        if not keep:
            return None
        first = int(np.argmin(np.abs(z_img - z_fine[keep[0]])))
        return density[keep], (slice(first, first + len(keep)), sl[1], sl[2]), state

    def render_frame(self, frame: int) -> np.ndarray:
        """(Z, C, Y, X) uint16 camera image of ``frame`` (channels ``CHANNEL_NAMES``)."""
        if not 0 <= frame < self.n_frames:
            raise ValueError(f"frame {frame} outside 0..{self.n_frames - 1}")
        rng = self._rng(2, frame)
        look, sc = self.look, self.scene
        Z, Y, X = self.grid.shape_zyx
        dx, dy, dz = self.grid.spacing_um_xyz
        mt = self._static.copy()  # everything but the spindle, drawn on the image grid
        dna = np.zeros((Z, Y, X), np.float32)
        mtoc = np.zeros((Z, Y, X), np.float32)
        spindle = self._spindle(frame, rng)
        state = None if spindle is None else spindle[2]
        if state is not None:
            self._draw_plate(dna, state)
            for arm in state.arms:  # aMTOCs cluster at the poles
                self._spot(mtoc, state.centre_um + arm.pole_um * 0.95, 1.0, 3.0)
        else:  # before GVBD: the germinal vesicle excludes microtubules; chromatin inside, aMTOCs around it
            gv = sc.gv_centre_um()
            px, py, pz = local_grids(self.grid, (slice(None),) * 3, gv)
            inside = expit((np.float32(sc.gv_radius_um) - np.sqrt(px * px + py * py + pz * pz)) / np.float32(0.6))
            mt *= 1.0 - 0.7 * inside
            dna += 0.15 * inside
            for d in sc.mtoc_directions:
                self._spot(mtoc, gv + d * (sc.gv_radius_um + 2.0), 0.6, 2.0)
        # Free asters and bright aggregates: compact bright things a naive model takes for spindle.
        for d in sc.mtoc_directions[:: 3]:
            where = (state.centre_um if state is not None else sc.gv_centre_um()) + d * rng.uniform(12, 24)
            self._spot(mt, where, 1.2, look.asters * look.contrast)
        for c, radius in zip(sc.aggregate_centres_um, sc.aggregate_radii_um, strict=True):
            self._spot(mt, c, radius, look.aggregates)
        # Optics. Axial PSF: on the image grid for everything but the spindle, whose fine-z render has it already.
        sig_z = look.psf_z_um / dz
        mt = ndimage.gaussian_filter1d(mt, sig_z, axis=0, truncate=3.0)
        if state is not None:
            density, sl, _ = spindle
            mt[sl] += np.float32(look.contrast - 1.0) * density
            # Haze: the spindle's signal spread widely (out-of-focus light), added around it.
            hz = np.zeros_like(mt)
            hz[sl] = density
            mt += np.float32(look.haze * (look.contrast - 1.0)) * ndimage.gaussian_filter(
                hz, (3.0 / dz, 3.0 / dy, 3.0 / dx), truncate=2.0)
        out = np.empty((Z, 3, Y, X), np.uint16)
        bleach = math.exp(-look.bleach_per_frame * frame)
        for c, img in enumerate((dna, mt, mtoc)):
            if c != MICROTUBULE_CHANNEL:  # their own stain over autofluorescence, with the full PSF
                img = ndimage.gaussian_filter1d(img * np.float32(3.0) + np.float32(0.3) * self._static, sig_z, axis=0,
                                                truncate=3.0)
            # Lateral PSF, then x-y resolution loss.
            img = ndimage.gaussian_filter(img, (0.0, look.psf_xy_um / dy, look.psf_xy_um / dx), truncate=3.0)
            if look.xy_lowres > 1.05:
                low = ndimage.zoom(img, (1, 1 / look.xy_lowres, 1 / look.xy_lowres), order=1, grid_mode=True,
                                   mode="nearest")
                img = ndimage.zoom(low, (1, Y / low.shape[1], X / low.shape[2]), order=1, grid_mode=True,
                                   mode="nearest")[:, :Y, :X]
            img = np.maximum(img * self._illumination, 0.0)
            # Non-linear response, normalised so that the cytoplasm level stays ~1.
            img = np.power(img, np.float32(look.gamma))
            out[:, c] = self._camera(img * np.float32(look.photons_e * bleach), rng)
        return out

    def _draw_plate(self, dna: np.ndarray, state) -> None:
        """Chromosomes: a disc at the spindle's equator across the first arm's axis."""
        a0 = state.arms[0]
        radius = 0.6 * min(arm.radius_um for arm in state.arms)
        half = np.full(3, radius + 2.0)
        sl = box_slices(self.grid, state.centre_um, half)
        if sl is None:
            return
        px, py, pz = local_grids(self.grid, sl, state.centre_um)
        d = a0.direction.astype(np.float32)
        s = (px * d[0] + py * d[1]) + pz * d[2]
        r2 = (px * px + py * py + pz * pz) - s * s
        dna[sl] += np.exp(-np.square(s / np.float32(1.0))) / (1.0 + np.exp((np.sqrt(np.maximum(r2, 0)) - radius) / 0.5))

    def _spot(self, target: np.ndarray, centre_um, sigma_um: float, amplitude: float) -> None:
        """Add a Gaussian spot (sigma in um, isotropic before the PSF) to ``target``."""
        if amplitude <= 0:
            return
        sl = box_slices(self.grid, centre_um, np.full(3, 3.0 * sigma_um))
        if sl is None:
            return
        px, py, pz = local_grids(self.grid, sl, centre_um)
        target[sl] += np.float32(amplitude) * np.exp(-(px * px + py * py + pz * pz) / np.float32(2 * sigma_um**2))

    def _camera(self, photons: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Photo-electron means -> uint16 counts: Poisson shot noise; sCMOS: Gaussian read noise; EMCCD: the
        multiplication register's excess noise (a gamma-distributed gain per electron count) and clock-induced
        charge; then gain, offset, hot pixels, saturation."""
        look = self.look
        electrons = rng.poisson(photons).astype(np.float32)
        if look.camera == "emccd":
            em_gain = 100.0
            electrons += (rng.random(electrons.shape) < 0.005).astype(np.float32)  # clock-induced charge
            amplified = np.zeros_like(electrons)
            pos = electrons > 0
            amplified[pos] = rng.gamma(electrons[pos], em_gain).astype(np.float32)
            electrons = amplified / np.float32(em_gain)  # in input-referred electrons: excess noise factor sqrt(2)
        electrons += rng.standard_normal(electrons.shape, dtype=np.float32) * np.float32(look.read_noise_e)
        adu = electrons * np.float32(look.gain_adu_per_e) + np.float32(look.offset_adu)
        flat = adu.reshape(-1)
        flat[self._hot_index] += self._hot_level.astype(np.float32)
        return np.clip(np.rint(adu), 0, 65535).astype(np.uint16)

    def true_mask(self, frame: int) -> np.ndarray:
        return self.scene.true_mask(frame, self.grid)

    def true_volume_um3(self, frame: int) -> float:
        return int(self.true_mask(frame).sum()) * self.grid.voxel_volume_um3


# ------------------------------------------------------------------------------------------- datasets
def _generate_oocyte(out_dir: Path, family: str, experiment: str, kwargs: dict, frame_interval_min: float) -> dict:
    oocyte = RandomizedOocyte(family, **kwargs)
    Z, Y, X = oocyte.grid.shape_zyx
    spacing = oocyte.grid.spacing_um_xyz
    name = f"oocyte{kwargs['oocyte_index'] + 1:02d}"
    labelled = set(label_frames(oocyte.scene.gvbd_frame, oocyte.n_frames))
    masks = [oocyte.true_mask(t) for t in range(oocyte.n_frames)]
    for t in labelled:
        write_imagej_hyperstack(out_dir / experiment / f"{name}_masks" / f"t{t:04d}.tif", masks[t], "ZYX", spacing)

    def frames() -> Iterator[np.ndarray]:
        for t in range(oocyte.n_frames):
            yield oocyte.render_frame(t)

    write_hyperstack_frames(out_dir / experiment / f"{name}.tif", frames(), (oocyte.n_frames, Z, 3, Y, X), np.uint16,
                            "TZCYX", spacing, frame_interval_min)
    write_hyperstack_frames(out_dir / "ground_truth_masks" / experiment / f"{name}.tif", iter(masks),
                            (oocyte.n_frames, Z, Y, X), np.uint8, "TZYX", spacing, frame_interval_min)
    return {"experiment": experiment, "oocyte": name, "image": f"{experiment}/{name}.tif", "family": family,
            "phenotype": oocyte.scene.phenotype, "gvbd_frame": oocyte.scene.gvbd_frame,
            "spacing_um_xyz": list(spacing),
            "label_frames": sorted(labelled), "look": asdict(oocyte.look),
            "volumes_um3": [int(m.sum()) * oocyte.grid.voxel_volume_um3 for m in masks]}


def _generate_oocyte_job(args) -> dict:
    return _generate_oocyte(Path(args[0]), *args[1:])


def draw_spacing(rng: np.random.Generator, xy_um: tuple[float, float], z_um: tuple[float, float]) -> tuple[float, float, float]:
    """Voxel size (x, y, z) um, log-uniform in each range: other microscopes' files (a confocal's 0.1-0.3 um pixels
    and 0.3-1 um z steps) make the same spindle a different number of voxels."""
    xy = float(math.exp(rng.uniform(math.log(xy_um[0]), math.log(xy_um[1]))))
    return xy, xy, float(math.exp(rng.uniform(math.log(z_um[0]), math.log(z_um[1]))))


def draw_lab_look(seed: int, family: str, experiment_index: int,
                  look_ranges: Mapping[str, tuple[float, float]] | None = None) -> Look:
    """The one look every oocyte of an experiment shares when the experiment stands for a lab (one microscope,
    one stain, one camera): drawn from ``family`` with its own random stream, apart from the oocytes' streams."""
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(experiment_index, LAB_LOOK_KEY)))
    return Look.draw(rng, family, look_ranges)


def generate_randomized_dataset(out_dir, families: Sequence[str] = ("train",), n_experiments: int = 2,
                                n_oocytes: int = 2, n_frames: int = 12,
                                shape_xyz: Sequence[int] = DEFAULT_SHAPE_XYZ,
                                spacing_um_xyz: Sequence[float] = DEFAULT_SPACING_UM_XYZ, seed: int = 0,
                                frame_interval_min: float = 10.0, workers: int = 1,
                                geometry: GeometryRanges = DEFAULT_GEOMETRY,
                                spacing_ranges_um: tuple[tuple[float, float], tuple[float, float]] | None = None,
                                one_look_per_experiment: bool = False,
                                look_ranges: Mapping[str, tuple[float, float]] | None = None) -> dict:
    """Write ``n_experiments`` experiments per family (``<family><n>``, ``n_oocytes`` oocytes each) in the
    canonical dataset layout (see ``scripts.phantom.generate_dataset``), true masks of every frame included;
    ``randomized.json`` records every oocyte's family, phenotype, voxel size and drawn look.

    spacing_ranges_um: ((x-y lo, hi), (z lo, hi)) um: each oocyte's voxel size drawn from them (``draw_spacing``)
    instead of ``spacing_um_xyz``.
    one_look_per_experiment: every experiment is a lab: its oocytes share one look (``draw_lab_look``) instead of
    each drawing its own; the scenes (geometry, timing, phenotype) still differ.
    look_ranges: {FamilyRanges field: (lo, hi)} replacing those of every family written (``Look.draw``); the
    experiments keep their family's name, and randomized.json records the override and every drawn value."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = []
    for f_index, family in enumerate(families):
        family_ranges(family, look_ranges)  # unknown family or ranges: fail before anything is written
        for e in range(n_experiments):
            for k in range(n_oocytes):
                spacing = tuple(spacing_um_xyz)
                if spacing_ranges_um is not None:
                    spacing = draw_spacing(np.random.default_rng(np.random.SeedSequence(
                        seed, spawn_key=(1000 * f_index + e, k, 3))), *spacing_ranges_um)
                kwargs = dict(n_frames=n_frames, seed=seed, experiment_index=1000 * f_index + e, oocyte_index=k,
                              shape_xyz=tuple(shape_xyz), spacing_um_xyz=spacing, geometry=geometry,
                              look_ranges=look_ranges)
                if one_look_per_experiment:
                    kwargs["look"] = draw_lab_look(seed, family, 1000 * f_index + e, look_ranges)
                jobs.append((str(out_dir), family, f"{family}{e + 1}", kwargs, frame_interval_min))
    records = run_jobs(_generate_oocyte_job, jobs, workers)
    write_dataset_tables(out_dir, records)
    summary = {"families": list(families), "n_experiments": n_experiments, "n_oocytes": n_oocytes,
               "n_frames": n_frames, "shape_xyz": list(shape_xyz), "spacing_um_xyz": list(spacing_um_xyz),
               "seed": seed, "frame_interval_min": frame_interval_min, "channels": list(CHANNEL_NAMES),
               "spacing_ranges_um": spacing_ranges_um, "geometry": asdict(geometry),
               "one_look_per_experiment": one_look_per_experiment,
               "look_ranges": {k: list(v) for k, v in (look_ranges or {}).items()}, "oocytes": records}
    with atomic_path(out_dir / "randomized.json") as tmp:
        tmp.write_text(json.dumps(summary, indent=1))
    return {**summary, "out_dir": str(out_dir), "seconds": round(time.perf_counter() - started, 2)}


def draw_family_montage(png_path, seed: int = 0, per_family: int = 3, n_frames: int = 10) -> Path:
    """PNG: ``per_family`` oocytes of every family (columns grouped by family), the microtubule channel at the
    spindle's central slice (top) and an x-z section through it (bottom, z stretched to true aspect), true mask
    outline in yellow, at the last frame. Grey levels: 0.5 / 99.8 percentiles of each panel."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [(family, k) for family in FAMILIES for k in range(per_family)]
    fig, axes = plt.subplots(2, len(columns), figsize=(1.6 * len(columns), 3.6))
    for j, (family, k) in enumerate(columns):
        oocyte = RandomizedOocyte(family, n_frames, seed=seed, oocyte_index=k)
        t = n_frames - 1
        image = oocyte.render_frame(t)[:, MICROTUBULE_CHANNEL].astype(np.float32)
        mask = oocyte.true_mask(t)
        z = int(np.argmax(mask.sum(axis=(1, 2)))) if mask.any() else image.shape[0] // 2
        x = int(np.argmax(mask.sum(axis=(0, 1)))) if mask.any() else image.shape[2] // 2
        stretch = int(round(oocyte.grid.spacing_um_xyz[2] / oocyte.grid.spacing_um_xyz[0]))
        panels = ((image[z], mask[z]), (np.repeat(image[:, :, x], stretch, axis=0), np.repeat(mask[:, :, x], stretch, axis=0)))
        for i, (panel, outline) in enumerate(panels):
            lo, hi = np.percentile(panel, [0.5, 99.8])
            axes[i, j].imshow(panel, cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            if outline.any():
                axes[i, j].contour(outline, [0.5], colors="yellow", linewidths=0.6)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
        look = oocyte.look
        axes[0, j].set_title(f"{family}\n{look.texture}, {look.camera}\ncontrast {look.contrast:.1f}, "
                             f"psf z {look.psf_z_um:.1f} um", fontsize=5)
    fig.tight_layout(pad=0.3)
    png_path = Path(png_path)
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, dpi=80, format="png")
    plt.close(fig)
    return png_path


def main(argv: Sequence[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m scripts.randomized", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", help="dataset folder to write")
    ap.add_argument("--montage", default=None, metavar="PNG", help="instead: draw a figure of every family")
    ap.add_argument("--families", nargs="+", default=["train"], choices=sorted(FAMILIES))
    ap.add_argument("--experiments", type=int, default=2, help="experiments per family")
    ap.add_argument("--oocytes", type=int, default=2, help="oocytes per experiment")
    ap.add_argument("--frames", type=int, default=12)
    ap.add_argument("--size", type=int, nargs=3, default=list(DEFAULT_SHAPE_XYZ), metavar=("X", "Y", "Z"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--spacing_xy", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                    help="draw each oocyte's x-y voxel size (um) from this range (with --spacing_z)")
    ap.add_argument("--spacing_z", type=float, nargs=2, default=None, metavar=("LO", "HI"))
    ap.add_argument("--size_factor", type=float, nargs=2, default=None, metavar=("LO", "HI"),
                    help="spindle size relative to a mouse metaphase I spindle (default 0.6 1.5)")
    ap.add_argument("--gvbd_frame", type=int, nargs=2, default=None, metavar=("LO", "HI"),
                    help="draw each oocyte's GVBD frame (its frames before it hold no spindle) from LO-HI, at most "
                         "the last frame (default 1 to min(3, frames / 4)); e.g. 3 8 of 12 frames gives training "
                         "about half its frames without a spindle")
    ap.add_argument("--small_cells", action="store_true",
                    help="mitotic-cell-sized cells (radius 7-13 um) with neighbours close by, instead of oocytes")
    ap.add_argument("--one_look_per_experiment", action="store_true",
                    help="every experiment is a lab: its oocytes share one drawn look (one microscope)")
    ap.add_argument("--look_range", nargs=3, action="append", default=[], metavar=("NAME", "LO", "HI"),
                    help="replace one of the families' look ranges (a FamilyRanges field, e.g. photons_e 1 300 for "
                         "dimmer cameras); repeatable")
    args = ap.parse_args(argv)
    try:
        look_ranges = {name: (float(lo), float(hi)) for name, lo, hi in args.look_range}
        family_ranges(args.families[0], look_ranges)
    except ValueError as err:
        ap.error(f"--look_range: {err}")
    if args.montage:
        print(draw_family_montage(args.montage, seed=args.seed))
        return {}
    if not args.out:
        ap.error("--out is required (or --montage)")
    if (args.spacing_xy is None) != (args.spacing_z is None):
        ap.error("--spacing_xy and --spacing_z go together")
    geometry = DEFAULT_GEOMETRY
    if args.size_factor is not None:
        geometry = replace(geometry, size_factor=tuple(args.size_factor))
    if args.small_cells:
        geometry = replace(geometry, **SMALL_CELLS)
    if args.gvbd_frame is not None:
        lo, hi = args.gvbd_frame
        if not 0 <= lo <= hi or lo > args.frames - 1:
            ap.error(f"--gvbd_frame {lo} {hi}: needs 0 <= LO <= HI and LO below --frames {args.frames}")
        geometry = replace(geometry, gvbd_frame=(lo, hi))
    summary = generate_randomized_dataset(
        args.out, args.families, args.experiments, args.oocytes, args.frames, shape_xyz=args.size, seed=args.seed,
        workers=args.workers, geometry=geometry,
        spacing_ranges_um=None if args.spacing_xy is None else (tuple(args.spacing_xy), tuple(args.spacing_z)),
        one_look_per_experiment=args.one_look_per_experiment, look_ranges=look_ranges)
    print(f"{args.out}: {len(summary['oocytes'])} oocytes x {args.frames} frames of {', '.join(args.families)} "
          f"in {summary['seconds']:.0f} s")
    return summary


if __name__ == "__main__":
    main()

