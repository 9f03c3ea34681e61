"""Synthetic light-sheet oocyte phantom: 3-channel time series with a known spindle in every frame.

The real recordings are private, so the bundle ships this generator. It writes the canonical
dataset folder (see ``generate_dataset``) that every command of the bundle reads, with labels
the way a lab has them (a mask on every sixth frame from GVBD) plus the true volume of every
frame for evaluation.

What is simulated (lengths in um, times in frames of ``frame_interval_min`` minutes):

* Biology. Before GVBD (germinal vesicle breakdown, a per-oocyte frame) there is no spindle: the
  germinal vesicle (nucleus) excludes the cytoplasmic microtubules, its chromatin rings the
  nucleolus and aMTOCs sit around it. From GVBD a microtubule ball (a few hundred um^3) grows
  and elongates into a barrel-shaped bipolar spindle (metaphase I, ~30 um pole to pole, a few
  thousand um^3) with chromosomes congressing to the equator and aMTOCs clustering at the two
  broad poles. Phenotypes: ``bipolar`` (control), ``short``, ``monopolar`` and ``multipolar``
  (Aurka / Aurkc deficient strains, chosen per experiment). The spindle drifts a few um around
  the field centre (the microscope tracks it) and rotates in x-y. Microtubules are fibres that
  run pole to pole and converge at the poles, not a smooth blob.
* Imaging. Anisotropic Gaussian PSF (x-y sigma ~0.25 um, z sigma ~1.2-1.8 um, i.e. z much
  worse), out-of-focus haze around bright structures, cytoplasmic microtubule background with a
  granular texture, the oocyte's edge and zona, the cone-shaped test pit (its wall circle
  shrinks towards the bottom slices), light-sheet stripes along the illumination axis (x) that
  grow downstream, photobleaching over time, per-experiment brightness (camera gain), contrast
  and PSF, shot noise + read noise over a camera offset.

The ground-truth mask is the spindle's microtubule body before blurring: the voxels whose
centre lies inside the (slightly irregular) barrel / ball envelope. The image's fibre intensity
falls to half at that envelope and a faint halo of astral microtubules extends beyond it. The
envelope is computed by ``scripts.scene`` (the same definition for every renderer); this module is
the house renderer, whose geometry over time (``OocytePhantom.spindle_state``) is kept as it was so
that its datasets stay byte-identical; ``scripts.randomized`` renders ``scripts.scene`` scenes
with domain-randomised looks.

Speed (why the code looks the way it does): static backgrounds are built once per oocyte at
1/4 x-y resolution and upsampled with two small interpolation matrices; everything that moves
(spindle, chromosomes, aMTOCs, germinal vesicle) is rendered only inside a per-frame box;
frames are written one at a time, never holding the series.
Fast noise approximation: the Poisson shot noise is replaced by its Gaussian approximation
(mean m, variance m + read-noise variance, in photo-electrons), and the standard normal samples
are read from a per-oocyte bank of 8 noise planes, each z-slice taking a window at a random
offset with a random sign. Drawing ~50 million fresh Poisson or normal samples per frame
would take seconds per frame; the bank is indistinguishable for segmentation purposes.

Internal arrays are in disk order (Z, Y, X) or (Z, C, Y, X); physical positions are (x, y, z)
in um relative to the field centre.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from scripts.io import atomic_path, write_imagej_hyperstack
from scripts.scene import (
    HALO_F,
    PERTURB_MAX,
    PHENOTYPES,
    Arm,
    SpindleState,
    envelope_f2,
    perturbed_f,
    smooth_noise,
    smoothstep,
    unit,
)

CHANNEL_NAMES = ("chromosomes", "microtubules", "amtoc")
MICROTUBULE_CHANNEL = 1
LABEL_EVERY_N_FRAMES = 6
DEFAULT_SHAPE_XYZ = (750, 750, 31)
DEFAULT_SPACING_UM_XYZ = (0.17, 0.17, 2.0)
CROP_XY_PX = 352

# The scene (oocyte, spindle, drift) is designed for a field of at least this size (x, y, z) in um:
# the 352-px centre crop is 59.8 um wide and the 31 slices span 62 um. A smaller field (tests use
# 128 x 128 x 12 voxels) gets the whole scene scaled down so that it still holds a whole spindle.
REFERENCE_FIELD_UM = (60.0, 60.0, 50.0)

# Strains, cycled over experiments: phenotype mix per strain. Aurka-deficient oocytes make short,
# monopolar or multipolar spindles; Aurkc-deficient ones fail to cluster aMTOCs into two poles.
STRAINS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("control", ("bipolar",)),
    ("aurka_ko", ("short", "monopolar", "multipolar")),
    ("aurkc_ko", ("bipolar", "multipolar")),
)

_LOWRES_FACTOR = 4  # x-y downsampling of the static background fields
_NOISE_BANK_PLANES = 8
_NOISE_BANK_PAD = 48
_CAMERA_OFFSET_ADU = 100.0
_READ_NOISE_E = 1.6
_N_BIVALENTS = 20  # mouse: 20 bivalents in meiosis I
_HAZE_SIGMA_UM = np.array([3.0, 3.0, 3.5])  # out-of-focus haze kernel (x, y, z)


def _upsample_weights(n_out: int, factor: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear interpolation from a grid of block centres (block size ``factor``) back to ``n_out`` samples:
    (lower index, upper index, float32 weight of the upper one) per output sample."""
    n_low = -(-n_out // factor)
    q = np.clip((np.arange(n_out) + 0.5) / factor - 0.5, 0.0, n_low - 1.0)  # output centres in low-res units
    lo = np.floor(q).astype(np.intp)
    hi = np.minimum(lo + 1, n_low - 1)
    return lo, hi, (q - lo).astype(np.float32)


def _upsample_xy(low: np.ndarray, factor: int, shape_yx: tuple[int, int], slice_factor=None) -> np.ndarray:
    """(Z, Ylow, Xlow) -> (Z, Y, X) float32 by separable linear interpolation in y and x, slice by slice
    (no full-size temporaries); ``slice_factor(z)``, if given, returns a (Y, X) factor applied to slice z."""
    ylo, yhi, fy = _upsample_weights(shape_yx[0], factor)
    xlo, xhi, fx = _upsample_weights(shape_yx[1], factor)
    out = np.empty((low.shape[0], *shape_yx), np.float32)
    for z in range(low.shape[0]):
        rows = low[z][:, xlo] * (1.0 - fx) + low[z][:, xhi] * fx
        np.multiply(rows[ylo], (1.0 - fy)[:, None], out=out[z])
        out[z] += rows[yhi] * fy[:, None]
        if slice_factor is not None:
            out[z] *= slice_factor(z)
    return out


@dataclass(frozen=True)
class ExperimentParams:
    """Per-experiment (= per mouse strain / imaging day) settings.

    gain_adu_per_e: camera gain (brightness); contrast: spindle signal factor; psf_sigma_z_um: axial PSF;
    haze: out-of-focus haze amplitude relative to the spindle; stripes: light-sheet stripe amplitude.
    """

    name: str
    strain: str
    phenotypes: tuple[str, ...]
    gain_adu_per_e: float
    contrast: float
    psf_sigma_z_um: float
    psf_sigma_xy_um: float
    haze: float
    stripes: float
    cytoplasm: float

    @classmethod
    def draw(cls, seed: int, experiment_index: int) -> ExperimentParams:
        rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(experiment_index,)))
        strain, phenotypes = STRAINS[experiment_index % len(STRAINS)]
        return cls(
            name=f"exp{experiment_index + 1}",
            strain=strain,
            phenotypes=phenotypes,
            gain_adu_per_e=float(rng.uniform(0.8, 2.2)),
            contrast=float(rng.uniform(0.75, 1.25)),
            psf_sigma_z_um=float(rng.uniform(1.2, 1.8)),
            psf_sigma_xy_um=float(rng.uniform(0.22, 0.3)),
            haze=float(rng.uniform(0.15, 0.35)),
            stripes=float(rng.uniform(0.12, 0.3)),
            cytoplasm=float(rng.uniform(0.8, 1.25)),
        )


@dataclass(frozen=True)
class _Box:
    """Index ranges [z0, z1) x [y0, y1) x [x0, x1) inside an image of shape (Z, Y, X)."""

    z0: int
    z1: int
    y0: int
    y1: int
    x0: int
    x1: int

    @property
    def slices(self) -> tuple[slice, slice, slice]:
        return slice(self.z0, self.z1), slice(self.y0, self.y1), slice(self.x0, self.x1)

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.z1 - self.z0, self.y1 - self.y0, self.x1 - self.x0

    def union(self, other: _Box | None) -> _Box:
        if other is None:
            return self
        return _Box(min(self.z0, other.z0), max(self.z1, other.z1), min(self.y0, other.y0),
                    max(self.y1, other.y1), min(self.x0, other.x0), max(self.x1, other.x1))

    def relative(self, inner: _Box) -> tuple[slice, slice, slice]:
        """Slices of ``inner`` (which must lie inside self) in self's own index space."""
        return (slice(inner.z0 - self.z0, inner.z1 - self.z0), slice(inner.y0 - self.y0, inner.y1 - self.y0),
                slice(inner.x0 - self.x0, inner.x1 - self.x0))


@dataclass
class _Spots:
    """Gaussian spots (already PSF-blurred) to draw: centres (n, 3) um (x, y, z), sigmas (n, 3) um
    (along the in-plane angle, across it, z), in-plane angle (n,) rad, amplitude (n,) photo-electrons."""

    centres_um: np.ndarray
    sigmas_um: np.ndarray
    angles_rad: np.ndarray
    amplitudes: np.ndarray

    @classmethod
    def concat(cls, spots: Sequence[_Spots]) -> _Spots:
        return cls(*(np.concatenate([getattr(s, f) for s in spots]) for f in
                     ("centres_um", "sigmas_um", "angles_rad", "amplitudes")))


@dataclass
class _Layer:
    """One channel's change this frame: photo-electrons ``add`` on ``box`` and an optional relative change
    ``mult`` of the static background there (both box-shaped ZYX float32)."""

    box: _Box
    add: np.ndarray
    mult: np.ndarray | None = None


@dataclass
class OocytePhantom:
    """One oocyte's time series: spindle geometry per frame, ground truth and rendered frames.

    Everything random is drawn from ``SeedSequence(seed, spawn_key=(experiment_index, oocyte_index, i))``
    with i = 0 for the geometry and timing, 1 for the static background (built lazily on the first
    rendered frame, so ground-truth queries stay cheap at full size) and (2, frame) for a frame's noise and
    jitter: an oocyte, and each of its frames, is the same whichever other oocytes or frames are generated.

    shape_xyz: voxels (x, y, z); spacing_um_xyz: um; development_frames: frames from GVBD to the
    metaphase shape (None: 60% of the series, between 4 and 36 frames, i.e. at most 6 h at 10 min/frame);
    noise: relative noise factor (2 = twice the relative shot noise, i.e. 1/4 of the photons at the same
    grey levels); contrast: factor on the spindle's microtubule signal over the cytoplasm; edge_width_f: width of
    the spindle's logistic fall-off around its envelope, in units of the shape function f (the truth, f <= 1, does
    not depend on it: a wider fall-off moves intensity across the same mask boundary).
    """

    experiment: ExperimentParams
    experiment_index: int
    oocyte_index: int
    n_frames: int
    shape_xyz: tuple[int, int, int] = DEFAULT_SHAPE_XYZ
    spacing_um_xyz: tuple[float, float, float] = DEFAULT_SPACING_UM_XYZ
    seed: int = 0
    noise: float = 1.0
    contrast: float = 1.0
    development_frames: float | None = None
    edge_width_f: float = 0.035
    name: str = field(init=False)
    phenotype: str = field(init=False)
    gvbd_frame: int = field(init=False)
    frames_to_metaphase: float = field(init=False)  # this oocyte's frames from GVBD to the metaphase shape
    scale: float = field(init=False)

    def __post_init__(self) -> None:
        if self.n_frames < 1:
            raise ValueError(f"n_frames must be >= 1, found {self.n_frames}")
        if self.noise <= 0 or self.contrast <= 0 or self.edge_width_f <= 0:
            raise ValueError(f"noise, contrast and edge_width_f must be > 0, found noise={self.noise}, "
                             f"contrast={self.contrast}, edge_width_f={self.edge_width_f}")
        self.shape_xyz = tuple(int(s) for s in self.shape_xyz)
        self.spacing_um_xyz = tuple(float(s) for s in self.spacing_um_xyz)
        self.name = f"oocyte{self.oocyte_index + 1:02d}"
        rng = self._rng(0)
        X, Y, Z = self.shape_xyz
        dx, dy, dz = self.spacing_um_xyz
        field_um = (X * dx, Y * dy, Z * dz)
        self.scale = float(min(1.0, *(f / r for f, r in zip(field_um, REFERENCE_FIELD_UM, strict=True))))
        s = self.scale
        # Centre coordinates of the voxels (um, relative to the field centre).
        self._x_um = ((np.arange(X) - (X - 1) / 2) * dx).astype(np.float32)
        self._y_um = ((np.arange(Y) - (Y - 1) / 2) * dy).astype(np.float32)
        self._z_um = ((np.arange(Z) - (Z - 1) / 2) * dz).astype(np.float32)

        # Timing: GVBD in the first quarter of the series (after at least one frame of germinal vesicle).
        lo = min(1, self.n_frames - 1)
        hi = max(lo, min(12, self.n_frames // 4))
        self.gvbd_frame = int(rng.integers(lo, hi + 1))
        dev = self.development_frames
        if dev is None:
            dev = float(np.clip(round(0.6 * self.n_frames), 4, 36))
        self.frames_to_metaphase = float(dev) * float(rng.uniform(0.85, 1.15))

        # Phenotype: the strain's phenotypes cycled over oocytes from a random start (a mix in every experiment).
        start = int(np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=(self.experiment_index,)))
                    .integers(len(self.experiment.phenotypes)))
        self.phenotype = self.experiment.phenotypes[(start + self.oocyte_index) % len(self.experiment.phenotypes)]
        self._draw_shape(rng, s)

        # Motion: offset + slow wobble (um), rotation in x-y (rad), a slight tilt out of the x-y plane.
        # The base position in z is the slice nearest the field centre, so that even a heavily scaled-down
        # scene (tiny test fields) has its ball cut by a slice from GVBD on: the z offset, at most 2.6 s um,
        # stays below the ball's radius of at least 4 s um.
        self._centre0 = np.array([rng.uniform(-2, 2), rng.uniform(-2, 2), rng.uniform(-2, 2)]) * s
        self._centre0[2] += float(self._z_um[(Z - 1) // 2])
        self._drift_amp = np.array([rng.uniform(0.5, 1.5), rng.uniform(0.5, 1.5), rng.uniform(0.2, 0.6)]) * s
        self._drift_period = rng.uniform(18, 60, size=3)
        self._drift_phase = rng.uniform(0, 2 * np.pi, size=3)
        self._angle0 = rng.uniform(0, 2 * np.pi)
        self._angular_speed = rng.uniform(-0.04, 0.04)  # rad per frame
        self._tilt = rng.uniform(-0.12, 0.12)
        self._breathing = (rng.uniform(0.02, 0.04), rng.uniform(8, 20), rng.uniform(0, 2 * np.pi))
        self._r_ball0 = rng.uniform(4.0, 4.8) * s
        self._r_ball1 = rng.uniform(5.5, 6.5) * s
        self._perturb_amp = rng.uniform(0.04, 0.07)
        self._perturb_cubes = [smooth_noise(rng, (12, 12, 12), 1.5) for _ in range(2)]
        self._perturb_rate = rng.uniform(0.05, 0.15)  # rad per frame

        # Fibre textures: cross-section of the bundles (normalised transverse coords) x along-fibre variation.
        self._fibre_texture = self._make_fibre_texture(rng)
        self._ball_texture = self._make_ball_texture(rng)

        # Chromosomes, aMTOCs and the germinal vesicle.
        n = _N_BIVALENTS
        self._chromo_scatter = np.array([unit(v) for v in rng.standard_normal((n, 3))]) * rng.uniform(
            0.2, 1.0, size=(n, 1)) ** (1 / 3)
        ang = rng.uniform(0, 2 * np.pi, n)
        rad = np.sqrt(rng.uniform(0, 1, n))
        self._chromo_plate = np.stack([rad * np.cos(ang), rad * np.sin(ang)], axis=1)
        self._chromo_amp = rng.uniform(0.7, 1.3, n)
        self._chromo_karyo = np.array([unit(v) for v in rng.standard_normal((n, 3))])
        m = int(rng.integers(25, 41))
        self._mtoc_peri = np.array([unit(v * np.array([1.0, 1.0, 0.6])) for v in rng.standard_normal((m, 3))])
        self._mtoc_peri_gap = rng.uniform(1.0, 4.0, m) * s
        self._mtoc_ball = np.array([unit(v) for v in rng.standard_normal((m, 3))])
        spread_angle = rng.uniform(0, 2 * np.pi, m)
        spread_r = np.sqrt(rng.uniform(0, 1, m))
        self._mtoc_pole_spread = np.stack([spread_r * np.cos(spread_angle), spread_r * np.sin(spread_angle)], 1)
        self._mtoc_amp = rng.uniform(0.5, 1.0, m)
        self._mtoc_sigma = rng.uniform(0.35, 0.6, m)
        self._gv_radius = rng.uniform(11.5, 13.5) * s
        self._nucleolus_offset = rng.uniform(-2, 2, 3) * s
        self._nucleolus_radius = rng.uniform(4.0, 5.0) * s

        # Photon levels (photo-electrons per voxel at gain 1, before bleaching) per channel.
        photons = 1.0 / self.noise**2
        self._gain = self.experiment.gain_adu_per_e * self.noise**2
        self._spindle_e = 150.0 * photons * self.contrast * self.experiment.contrast * rng.uniform(0.85, 1.15)
        self._chromo_e = 520.0 * photons * rng.uniform(0.8, 1.2)
        self._mtoc_e = 320.0 * photons * rng.uniform(0.8, 1.2)
        self._photons = photons
        self._bleach_per_frame = rng.uniform(0.002, 0.006, size=3)

        self._background_adu: list[np.ndarray] | None = None  # built by _ensure_static()

    def _rng(self, *key: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(
            self.seed, spawn_key=(self.experiment_index, self.oocyte_index, *key)))

    def _ensure_static(self) -> None:
        if self._background_adu is None:
            self._build_static(self._rng(1))

    # ------------------------------------------------------------------ geometry over time
    def _draw_shape(self, rng: np.random.Generator, s: float) -> None:
        """Final (metaphase) arms of this oocyte's phenotype, relative to the spindle axis angle."""
        p = self.phenotype
        if p in ("bipolar", "short"):
            half = rng.uniform(14.0, 16.5) if p == "bipolar" else rng.uniform(7.5, 10.0)
            radius = rng.uniform(7.0, 8.5) if p == "bipolar" else rng.uniform(6.0, 7.5)
            q = rng.uniform(0.3, 0.45) if p == "bipolar" else rng.uniform(0.4, 0.55)
            arms = [(0.0, half * rng.uniform(0.95, 1.05), radius, q, 1.0), (np.pi, half, radius, q, 1.0)]
            core = 0.8 * radius
        elif p == "monopolar":
            radius = rng.uniform(6.5, 8.0)
            arms = [(0.0, rng.uniform(12.0, 15.0), radius, rng.uniform(0.12, 0.22), 1.0),
                    (np.pi, 0.6 * radius, radius, 0.0, 0.0)]
            core = 0.8 * radius
        elif p == "multipolar":
            n_poles = int(rng.integers(3, 5))
            arms = [(2 * np.pi * k / n_poles + rng.uniform(-0.3, 0.3), rng.uniform(9.0, 12.5),
                     rng.uniform(5.0, 6.5), rng.uniform(0.35, 0.5), 1.0) for k in range(n_poles)]
            core = rng.uniform(5.5, 6.5)
        else:  # pragma: no cover - guarded by STRAINS
            raise ValueError(f"unknown phenotype {p!r}; expected one of {PHENOTYPES}")
        # (angle rad, length um, radius um, pole fraction, barrel) per arm, in um at scale 1.
        self._final_arms = [(a, length * s, r * s, q, b) for a, length, r, q, b in arms]
        self._final_core = core * s

    def maturity(self, frame: int) -> float:
        """Developmental progress: <0 before GVBD, 0 at GVBD, 1 at the metaphase shape."""
        return (frame - self.gvbd_frame) / self.frames_to_metaphase

    def spindle_state(self, frame: int) -> SpindleState | None:
        """The spindle at ``frame``, or None before GVBD."""
        x = self.maturity(frame)
        if x < 0:
            return None
        t = float(frame)
        e = float(smoothstep((x - 0.2) / 0.7))  # elongation / bipolarisation
        r_ball = self._r_ball0 + (self._r_ball1 - self._r_ball0) * float(smoothstep(x / 0.35))
        amp, period, phase = self._breathing
        breathing = 1.0 + amp * e * math.sin(2 * math.pi * t / period + phase)
        angle = self._angle0 + self._angular_speed * t + 0.08 * math.sin(t / 7.0 + self._angle0)
        arms = []
        for k, (a, length, radius, q, barrel) in enumerate(self._final_arms):
            th = angle + a
            tilt = self._tilt * math.cos(a)
            d = np.array([math.cos(tilt) * math.cos(th), math.cos(tilt) * math.sin(th), math.sin(tilt)])
            across = unit(np.array([-d[1], d[0], 0.0]))
            up = np.cross(d, across)
            bipolar_pair = len(self._final_arms) == 2 and k == 1
            arms.append(Arm(
                direction=d, across=across, up=up,
                length_um=(r_ball * (1 - e) + length * e) * breathing,
                radius_um=(r_ball * (1 - e) + radius * e) * (2.0 - breathing),
                pole_fraction=q, barrel=e * barrel,
                texture_sign=-1.0 if bipolar_pair else 1.0,
                texture_turn=0.0 if len(self._final_arms) == 2 else 2.1 * k,
            ))
        drift = self._drift_amp * np.sin(2 * np.pi * t / self._drift_period + self._drift_phase)
        centre = self._centre0 + drift
        return SpindleState(centre_um=centre, arms=tuple(arms), core_radius_um=r_ball * (1 - e) + self._final_core * e,
                            maturity=x, bipolarity=e, angle_rad=angle, frame=frame)

    def _box_around(self, centre_um, half_um) -> _Box:
        """Index box holding the sphere/box of half-widths ``half_um`` (x, y, z) around ``centre_um``."""
        X, Y, Z = self.shape_xyz
        dx, dy, dz = self.spacing_um_xyz
        lo, hi = [], []
        for c, h, n, d in zip(centre_um, half_um, (X, Y, Z), (dx, dy, dz), strict=True):
            lo.append(int(np.clip(math.floor((c - h) / d + (n - 1) / 2), 0, n)))
            hi.append(int(np.clip(math.ceil((c + h) / d + (n - 1) / 2) + 1, 0, n)))
        return _Box(lo[2], hi[2], lo[1], hi[1], lo[0], hi[0])

    def _local_grids(self, box: _Box, centre_um):
        """Broadcastable (Z,1,1), (1,Y,1), (1,1,X) float32 grids of positions (um) relative to ``centre_um``."""
        pz = (self._z_um[box.z0:box.z1] - np.float32(centre_um[2]))[:, None, None]
        py = (self._y_um[box.y0:box.y1] - np.float32(centre_um[1]))[None, :, None]
        px = (self._x_um[box.x0:box.x1] - np.float32(centre_um[0]))[None, None, :]
        return px, py, pz

    def _envelope(self, state: SpindleState, box: _Box):
        """Envelope of the spindle on ``box``: the normalised coordinate f is <= 1 inside (f = max(distance
        from the arm's axis / local radius, distance along the arm / arm length), min over arms and the
        central ball). Returns the box shape, flat indices ``idx`` of the voxels with f < HALO_F (before
        the outline perturbation), their arm index, positions (n, 3) um relative to the centre and
        perturbed f."""
        px, py, pz = self._local_grids(box, state.centre_um)
        f2, which = envelope_f2(state, px, py, pz)
        idx = np.flatnonzero(f2 < np.float32((HALO_F / (1 - PERTURB_MAX)) ** 2))
        zz, yy, xx = np.unravel_index(idx, f2.shape)
        p = np.stack([px.ravel()[xx], py.ravel()[yy], pz.ravel()[zz]], axis=1)
        # Irregular outline: the perturbation field turns slowly over time.
        phase = self._perturb_rate * state.frame
        cube = math.cos(phase) * self._perturb_cubes[0] + math.sin(phase) * self._perturb_cubes[1]
        f_sub = perturbed_f(state, f2.ravel()[idx], p, cube, self._perturb_amp)
        return f2.shape, idx, which.ravel()[idx], p, f_sub

    def true_mask_box(self, frame: int) -> tuple[_Box, np.ndarray] | None:
        """(box, boolean ZYX mask inside the box) of the spindle at ``frame``; None before GVBD."""
        state = self.spindle_state(frame)
        if state is None:
            return None
        box = self._spindle_box(state, margin_um=0.0)
        shape, idx, _, _, f_sub = self._envelope(state, box)
        mask = np.zeros(shape, bool)
        mask.ravel()[idx[f_sub <= 1.0]] = True
        return box, mask

    def true_mask(self, frame: int) -> np.ndarray:
        """Full-size ZYX uint8 ground-truth mask (1 spindle) of ``frame``; all zero before GVBD."""
        X, Y, Z = self.shape_xyz
        out = np.zeros((Z, Y, X), np.uint8)
        boxed = self.true_mask_box(frame)
        if boxed is not None:
            out[boxed[0].slices] = boxed[1]
        return out

    @property
    def voxel_volume_um3(self) -> float:
        return float(np.prod(self.spacing_um_xyz))

    def true_volume_um3(self, frame: int) -> float:
        """Spindle volume (um^3) = mask voxels x voxel volume; 0 before GVBD."""
        boxed = self.true_mask_box(frame)
        return 0.0 if boxed is None else int(boxed[1].sum()) * self.voxel_volume_um3

    def _spindle_box(self, state: SpindleState, margin_um: float) -> _Box:
        """Index box around everything of the spindle with f < HALO_F (+ ``margin_um`` on every side): per
        arm the bounding box of a cylinder from the centre past the pole, radius = arm radius."""
        half = state.half_extent_um()
        return self._box_around(state.centre_um, half + margin_um)

    # ------------------------------------------------------------------ textures
    def _make_fibre_texture(self, rng: np.random.Generator) -> np.ndarray:
        """(n_u, n, n) float32 in [0.3, 1]: bundles in normalised cross-section coords [-1.3, 1.3]^2 (last two
        axes: xi across, eta up) with a smooth intensity variation along the fibre (first axis, u in [-1.3, 1.3])."""
        n, n_u = 160, 24
        img = np.zeros((n, n), np.float32)
        for count, width_px in ((70, 3.0), (140, 1.6)):  # thick k-fibre bundles and thinner fibres
            layer = np.zeros((n, n), np.float32)
            ang = rng.uniform(0, 2 * np.pi, count)
            rad = 1.25 * np.sqrt(rng.uniform(0, 1, count))
            ix = ((rad * np.cos(ang) / 1.3 + 1) * 0.5 * (n - 1)).astype(int)
            iy = ((rad * np.sin(ang) / 1.3 + 1) * 0.5 * (n - 1)).astype(int)
            np.add.at(layer, (iy, ix), rng.uniform(0.4, 1.0, count).astype(np.float32))
            layer = ndimage.gaussian_filter(layer, width_px) * width_px**2
            img += layer
        img /= max(float(np.percentile(img, 99.0)), 1e-6)
        along = smooth_noise(rng, (n_u, n, n), (2.0, 1.0, 1.0))
        tex = np.clip(img, 0, 1)[None] * np.clip(0.75 + 0.3 * along, 0.3, 1.3)
        return (0.2 + 0.8 * np.clip(tex, 0, 1)).astype(np.float32)

    def _make_ball_texture(self, rng: np.random.Generator) -> np.ndarray:
        """(48, 48, 48) float32 in [0.3, 1], periodic: short disordered microtubule ridges, voxel 0.35 um."""
        n = smooth_noise(rng, (48, 48, 48), 1.2)
        ridges = np.exp(-(n * n) / 0.25)  # thin bright ridges along the zero crossings of smooth noise
        return (0.3 + 0.7 * ridges).astype(np.float32)

    # ------------------------------------------------------------------ static background
    def _build_static(self, rng: np.random.Generator) -> None:
        """Per-channel background (Z, Y, X) float32 photo-electrons incl. illumination, built at low x-y
        resolution and upsampled; plus the stripe illumination factors and the noise bank."""
        X, Y, Z = self.shape_xyz
        dx, dy, dz = self.spacing_um_xyz
        s = self.scale
        f = _LOWRES_FACTOR
        # Low-res sample positions (um): centres of f x f pixel blocks.
        ylo = ((np.arange(-(-Y // f)) * f + (f - 1) / 2 - (Y - 1) / 2) * dy).astype(np.float32)
        xlo = ((np.arange(-(-X // f)) * f + (f - 1) / 2 - (X - 1) / 2) * dx).astype(np.float32)
        zz = self._z_um[:, None, None]
        yy = ylo[None, :, None].astype(np.float32)
        xx = xlo[None, None, :].astype(np.float32)

        # The oocyte (radius ~38 um) sits in a cone-shaped pit; the tracked spindle is off the oocyte's centre.
        r_o = float(rng.uniform(37, 41) * s)
        direction = rng.uniform(0, 2 * np.pi)
        off = rng.uniform(2, 8) * s
        # Python floats (not float64 arrays) keep the float32 grids in float32.
        oc = (off * math.cos(direction), off * math.sin(direction), float(rng.uniform(-3, 3) * s))
        r = np.sqrt((xx - oc[0]) ** 2 + (yy - oc[1]) ** 2 + (zz - oc[2]) ** 2)
        oocyte = 1.0 / (1.0 + np.exp(-(r_o - r) / (0.8 * s + 0.2)))
        zona = np.exp(-(((r - r_o - 4.0 * s) / (2.5 * s + 0.3)) ** 2))
        pit_c = [float(v) for v in np.asarray(oc[:2]) + rng.uniform(-4, 4, 2) * s]
        z_bottom = float(self._z_um[0])
        r_bottom = float(rng.uniform(0.75, 0.9) * r_o)
        slope = math.tan(math.radians(rng.uniform(28, 40)))
        r_pit = r_bottom + (zz - z_bottom) * slope
        rho = np.sqrt((xx - pit_c[0]) ** 2 + (yy - pit_c[1]) ** 2)
        inside_pit = 1.0 / (1.0 + np.exp(-(r_pit - rho) / 1.0))
        wall = np.exp(-(((rho - r_pit) / 1.6) ** 2))
        oocyte = oocyte * inside_pit
        zona = zona * inside_pit
        lowfreq = smooth_noise(rng, oocyte.shape, (1.5, 8, 8))
        haze = ndimage.gaussian_filter(oocyte, (4.0 * s / dz + 0.1, 4.0 / (dy * f), 4.0 / (dx * f)))
        ph = self._photons * self.experiment.cytoplasm
        plastic = 1.0 - inside_pit
        # Photo-electrons per channel: medium, cytoplasm, zona autofluorescence, pit wall and plastic, haze.
        content = {
            0: 2.0 + oocyte * (10.0 + 2.0 * lowfreq) + 5.0 * zona + 8.0 * wall + 4.0 * plastic + 4.0 * haze,
            1: 3.0 + oocyte * (40.0 + 8.0 * lowfreq) + 6.0 * zona + 14.0 * wall + 6.0 * plastic + 10.0 * haze,
            2: 2.0 + oocyte * (9.0 + 2.0 * lowfreq) + 4.0 * zona + 8.0 * wall + 4.0 * plastic + 4.0 * haze,
        }
        # Light-sheet stripes: illumination from x = 0; shadows cast along x, growing downstream.
        stripes = smooth_noise(rng, (Z, Y), (0.7, 2.5 / dy * s + 0.5))
        stripes += 0.6 * smooth_noise(rng, (Z, Y), (0.7, 0.6 / dy * s + 0.5))
        stripes = np.tanh(stripes / 1.5)
        self._stripe_zy = (self.experiment.stripes * stripes).astype(np.float32)
        xr = np.linspace(0.0, 1.0, X, dtype=np.float32)
        self._stripe_x = (0.35 + 0.65 * xr).astype(np.float32)
        self._attenuation_x = np.exp(-0.25 * xr).astype(np.float32)
        granular = smooth_noise(rng, (Z, min(Y, 256), min(X, 256)), (0.5, 1.2, 1.2))
        reps = (-(-Y // granular.shape[1]), -(-X // granular.shape[2]))

        def illumination(z):
            return self._illumination(_Box(z, z + 1, 0, Y, 0, X))[0]

        def illumination_granular(z):  # the cytoplasmic microtubule network is granular, not smooth
            return illumination(z) * (1.0 + 0.12 * np.tile(granular[z], reps)[:Y, :X])

        # Static mean and noise std per channel, in camera units (ADU above the offset).
        self._read_var_e = np.float32(_READ_NOISE_E**2)
        self._background_adu, self._std_adu, self._std_adu_max = [], [], []
        for c in range(3):
            bg = _upsample_xy((content[c] * ph).astype(np.float32), f, (Y, X),
                              illumination_granular if c == MICROTUBULE_CHANNEL else illumination)
            std = np.empty_like(bg)
            for z in range(Z):  # slice by slice: no full-size temporaries
                np.add(bg[z], self._read_var_e, out=std[z])
                np.sqrt(std[z], out=std[z])
            std *= np.float32(self._gain)
            bg *= np.float32(self._gain)
            self._background_adu.append(bg)
            self._std_adu.append(std)
            self._std_adu_max.append(float(std.max()))
        self._noise_bank = rng.standard_normal(
            (_NOISE_BANK_PLANES, Y + _NOISE_BANK_PAD, X + _NOISE_BANK_PAD), dtype=np.float32)
        self._noise_bank_absmax = float(np.abs(self._noise_bank).max())

    def _illumination(self, box: _Box) -> np.ndarray:
        """Light-sheet illumination factor (~1) on the box: stripes(z, y) growing along x, attenuation along x."""
        zs, ys, xs = box.slices
        stripe = self._stripe_zy[zs, ys][:, :, None] * self._stripe_x[None, None, xs]
        return (1.0 + stripe) * self._attenuation_x[None, None, xs]

    # ------------------------------------------------------------------ frame content
    def _spots_chromosomes(self, frame: int, state: SpindleState | None, rng) -> _Spots:
        s = self.scale
        n = _N_BIVALENTS
        jitter = rng.normal(0, 0.25 * s, (n, 3))
        if state is None:  # chromatin rim around the nucleolus inside the germinal vesicle
            gv = self._gv_centre()
            centres = gv + self._nucleolus_offset + self._chromo_karyo * self._nucleolus_radius * 1.05 + jitter
            angles = rng.uniform(0, np.pi, n)
            sig = np.array([0.9, 0.6, 0.6]) * s
            return _Spots(centres, np.tile(sig, (n, 1)), angles, 0.6 * self._chromo_e * self._chromo_amp)
        a0 = state.arms[0]
        congression = smoothstep((state.bipolarity - 0.1) / 0.8)
        if self.phenotype == "multipolar":
            congression *= 0.3  # never forms a proper metaphase plate
        scatter = self._chromo_scatter * (0.7 * state.core_radius_um + 3.0 * s * (1 - smoothstep(
            state.maturity / 0.3)))
        plate_r = 0.55 * min(arm.radius_um for arm in state.arms)
        plate = plate_r * (self._chromo_plate[:, :1] * a0.across + self._chromo_plate[:, 1:] * a0.up)
        if self.phenotype == "monopolar":  # chromosomes sit on the wide side, away from the single pole
            plate = plate - 0.35 * a0.radius_um * a0.direction
        centres = state.centre_um + (1 - congression) * scatter + congression * plate + jitter
        angles = np.full(n, state.angle_rad) + rng.normal(0, 0.3 + 0.8 * (1 - congression), n)
        sig = np.array([0.9, 0.5, 0.5]) * s
        return _Spots(centres, np.tile(sig, (n, 1)), angles, self._chromo_e * self._chromo_amp)

    def _gv_centre(self) -> np.ndarray:
        """The germinal vesicle sits where the spindle will form (the spindle's position at GVBD)."""
        return self._centre0 + self._drift_amp * np.sin(2 * np.pi * self.gvbd_frame / self._drift_period +
                                                        self._drift_phase)

    def _mtoc_positions(self, frame: int, state: SpindleState | None) -> np.ndarray:
        peri = self._gv_centre() + self._mtoc_peri * (self._gv_radius + self._mtoc_peri_gap)[:, None]
        if state is None:
            return peri
        m = len(self._mtoc_amp)
        x = state.maturity
        ball = state.centre_um + self._mtoc_ball * state.core_radius_um * 1.05
        w_ball = smoothstep(x / 0.3)
        pos = (1 - w_ball) * peri + w_ball * ball
        # Monopolar: all aMTOCs over-cluster at the single pole; otherwise they share the poles round robin.
        pole_arms = [0] if self.phenotype == "monopolar" else list(range(len(state.arms)))
        poles = np.empty((m, 3))
        for i in range(m):
            arm = state.arms[pole_arms[i % len(pole_arms)]]
            spread = arm.radius_um * max(arm.pole_fraction, 0.15) * 0.8
            poles[i] = (state.centre_um + arm.pole_um * 0.97 + spread * (self._mtoc_pole_spread[i, 0] * arm.across +
                                                                         self._mtoc_pole_spread[i, 1] * arm.up))
        w_pole = smoothstep((state.bipolarity - 0.2) / 0.7)
        return (1 - w_pole) * pos + w_pole * poles

    def _spots_mtocs(self, frame: int, state: SpindleState | None) -> _Spots:
        pos = self._mtoc_positions(frame, state)
        m = len(pos)
        sig = self._mtoc_sigma * self.scale
        return _Spots(pos, np.stack([sig, sig, sig], axis=1), np.zeros(m), self._mtoc_e * self._mtoc_amp)

    def _psf_sigmas_um(self) -> np.ndarray:
        """PSF sigma (x, y, z) um."""
        e = self.experiment
        return np.array([e.psf_sigma_xy_um, e.psf_sigma_xy_um, e.psf_sigma_z_um])

    def _draw_spots(self, target: np.ndarray, box: _Box, spots: _Spots) -> None:
        """Add PSF-blurred anisotropic Gaussian spots into ``target`` (box-shaped, ZYX)."""
        psf = self._psf_sigmas_um()
        sig = np.sqrt(spots.sigmas_um**2 + psf**2)
        for centre, sg, ang, amp in zip(spots.centres_um, sig, spots.angles_rad, spots.amplitudes, strict=True):
            half = 3.0 * np.array([max(sg[0], sg[1])] * 2 + [sg[2]])
            sub = self._box_around(centre, half)
            sub = _Box(max(sub.z0, box.z0), min(sub.z1, box.z1), max(sub.y0, box.y0), min(sub.y1, box.y1),
                       max(sub.x0, box.x0), min(sub.x1, box.x1))
            if min(sub.shape) <= 0:
                continue
            px, py, pz = self._local_grids(sub, centre)
            c, s_ = math.cos(ang), math.sin(ang)
            along = px * c + py * s_
            across = -px * s_ + py * c
            q = (along / sg[0]) ** 2 + (across / sg[1]) ** 2 + (pz / sg[2]) ** 2
            target[box.relative(sub)] += np.float32(amp) * np.exp(-0.5 * q)

    def _spindle_signal(self, state: SpindleState, box: _Box) -> tuple[np.ndarray, np.ndarray]:
        """Microtubule signal (photo-electrons, before blur) and the ground-truth mask on ``box``."""
        shape, idx, which, p, f_sub = self._envelope(state, box)
        n_sub = idx.size
        tex_al = np.empty(n_sub, np.float32)
        for k, arm in enumerate(state.arms):
            sel = np.flatnonzero(which == k) if k > 0 else np.flatnonzero(which <= 0)
            if sel.size == 0:
                continue
            q = p[sel]
            s = q @ arm.direction.astype(np.float32)
            uu = s / np.float32(arm.length_um)
            radius = np.maximum(arm.radius_at(uu).astype(np.float32), np.float32(1e-2))
            xi = (q @ arm.across.astype(np.float32)) / radius * arm.texture_sign
            eta = (q @ arm.up.astype(np.float32)) / radius
            if arm.texture_turn:
                ct, st = np.float32(math.cos(arm.texture_turn)), np.float32(math.sin(arm.texture_turn))
                xi, eta = ct * xi - st * eta, st * xi + ct * eta
            n_u, n, _ = self._fibre_texture.shape
            coords = np.stack([(uu * arm.texture_sign / 1.3 + 1) * 0.5 * (n_u - 1),
                               (eta / 1.3 + 1) * 0.5 * (n - 1),
                               (xi / 1.3 + 1) * 0.5 * (n - 1)])
            tex_al[sel] = ndimage.map_coordinates(self._fibre_texture, coords, order=1, mode="mirror")
        w = np.float32(0.3 + 0.7 * state.bipolarity)  # fibres align as the ball becomes bipolar
        tex = tex_al
        if w < 1:  # disordered ridges of the early ball
            tex_ball = ndimage.map_coordinates(self._ball_texture, (p / np.float32(0.35)).T, order=1,
                                               mode="grid-wrap")
            tex = w * tex_al + (1 - w) * tex_ball
        # Half intensity at the envelope, a faint halo of astral microtubules outside (cut at HALO_F).
        edge = 1.0 / (1.0 + np.exp((f_sub - 1.0) / np.float32(self.edge_width_f)))
        halo = np.where(f_sub < HALO_F, np.float32(0.1) * np.exp(-np.maximum(f_sub - 1.0, 0.0) / np.float32(0.12)),
                        np.float32(0.0))
        signal = np.zeros(shape, np.float32)
        signal.ravel()[idx] = np.float32(self._spindle_e) * (tex * edge + halo)
        mask = np.zeros(shape, bool)
        mask.ravel()[idx[f_sub <= 1.0]] = True
        return signal, mask

    def _spots_box(self, spots: _Spots) -> _Box:
        """Index box holding all (PSF-blurred) spots out to 3 sigma."""
        reach = 3.0 * np.sqrt(spots.sigmas_um.max(0) ** 2 + self._psf_sigmas_um() ** 2).max()
        lo = spots.centres_um.min(0) - reach
        hi = spots.centres_um.max(0) + reach
        return self._box_around((lo + hi) / 2, (hi - lo) / 2)

    def _dynamic(self, frame: int, rng) -> tuple[list[_Layer], tuple[_Box, np.ndarray] | None]:
        """What changes this frame, per channel: a box, photo-electrons added on it (before illumination and
        bleaching) and, for the microtubules before GVBD, a multiplicative change of the background (the
        germinal vesicle excludes microtubules); plus the ground truth (mask box, mask) or None before GVBD."""
        state = self.spindle_state(frame)
        psf = self._psf_sigmas_um()
        chromo = self._spots_chromosomes(frame, state, rng)
        mtocs = self._spots_mtocs(frame, state)
        # Asters: each aMTOC nucleates a small microtubule aster, visible in the microtubule channel.
        asters = _Spots(mtocs.centres_um, np.full_like(mtocs.sigmas_um, 1.0 * self.scale), mtocs.angles_rad,
                        0.12 * self._spindle_e * self._mtoc_amp)
        boxes = [self._spots_box(chromo), self._spots_box(asters), self._spots_box(mtocs)]
        truth = None
        if state is not None:
            spindle_box = self._spindle_box(state, margin_um=3 * float(psf.max()))
            haze_box = self._spindle_box(state, margin_um=2.5 * float(_HAZE_SIGMA_UM.max()) + 1.0)
            boxes[MICROTUBULE_CHANNEL] = boxes[MICROTUBULE_CHANNEL].union(haze_box)
        else:
            gv_box = self._box_around(self._gv_centre(), [self._gv_radius + 2.0] * 3)
            boxes[0] = boxes[0].union(gv_box)
            boxes[MICROTUBULE_CHANNEL] = boxes[MICROTUBULE_CHANNEL].union(gv_box)
        layers = [_Layer(b, np.zeros(b.shape, np.float32)) for b in boxes]
        mt = layers[MICROTUBULE_CHANNEL]
        if state is not None:
            signal, mask = self._spindle_signal(state, spindle_box)
            truth = (spindle_box, mask)
            # Chromosomes displace microtubules: a darker band at the metaphase plate (the mask keeps them).
            occupied = np.zeros(spindle_box.shape, np.float32)
            self._draw_spots(occupied, spindle_box, _Spots(chromo.centres_um, chromo.sigmas_um, chromo.angles_rad,
                                                           np.ones(len(chromo.amplitudes))))
            signal *= 1.0 - 0.45 * np.minimum(occupied, 1.0)
            dx, dy, dz = self.spacing_um_xyz
            blurred = ndimage.gaussian_filter(signal, (psf[2] / dz, psf[1] / dy, psf[0] / dx), truncate=3.0)
            mt.add[mt.box.relative(spindle_box)] += blurred
            self._add_haze(mt.add, mt.box, spindle_box, signal)
        else:
            px, py, pz = self._local_grids(gv_box, self._gv_centre())
            r = np.sqrt(px * px + py * py + pz * pz)
            inside = 1.0 / (1.0 + np.exp((r - self._gv_radius) / np.float32(0.6)))
            mt.mult = np.zeros(mt.box.shape, np.float32)
            mt.mult[mt.box.relative(gv_box)] = -0.65 * inside  # microtubules are excluded from the nucleus
            layers[0].add[layers[0].box.relative(gv_box)] += 0.05 * self._chromo_e * inside  # faint nucleoplasm
        self._draw_spots(layers[0].add, layers[0].box, chromo)
        self._draw_spots(mt.add, mt.box, asters)
        self._draw_spots(layers[2].add, layers[2].box, mtocs)
        return layers, truth

    def _add_haze(self, target, box: _Box, spindle_box: _Box, signal) -> None:
        """Out-of-focus haze: the spindle's signal blurred widely (computed at 1/4 x-y resolution)."""
        haze_sigma_um = _HAZE_SIGMA_UM
        dx, dy, dz = self.spacing_um_xyz
        f = 4
        zs, ys, xs = signal.shape
        pad_y, pad_x = (-ys) % f, (-xs) % f
        padded = np.pad(signal, ((0, 0), (0, pad_y), (0, pad_x)))
        low = padded.reshape(zs, (ys + pad_y) // f, f, (xs + pad_x) // f, f).mean(axis=(2, 4))
        m = (int(math.ceil(2.5 * haze_sigma_um[2] / dz)), int(math.ceil(2.5 * haze_sigma_um[1] / (dy * f))),
             int(math.ceil(2.5 * haze_sigma_um[0] / (dx * f))))
        low = np.pad(low, [(m[0], m[0]), (m[1], m[1]), (m[2], m[2])])
        low = ndimage.gaussian_filter(low, (haze_sigma_um[2] / dz, haze_sigma_um[1] / (dy * f),
                                            haze_sigma_um[0] / (dx * f)), truncate=2.5)
        up = _upsample_xy(low, f, (low.shape[1] * f, low.shape[2] * f))
        up *= np.float32(self.experiment.haze)
        # Place: the upsampled array starts m voxels (z) / m*f pixels (y, x) before the spindle box.
        z0, y0, x0 = spindle_box.z0 - m[0], spindle_box.y0 - m[1] * f, spindle_box.x0 - m[2] * f
        self._paste(target, box, up, z0, y0, x0)

    @staticmethod
    def _paste(target: np.ndarray, box: _Box, patch: np.ndarray, z0: int, y0: int, x0: int) -> None:
        """target[box] += patch placed at absolute index (z0, y0, x0), clipped to the box."""
        lo = np.array([z0, y0, x0])
        b_lo = np.array([box.z0, box.y0, box.x0])
        b_hi = np.array([box.z1, box.y1, box.x1])
        a = np.maximum(lo, b_lo)
        b = np.minimum(lo + np.array(patch.shape), b_hi)
        if np.any(b <= a):
            return
        t_sl = tuple(slice(int(i - j), int(k - j)) for i, k, j in zip(a, b, b_lo, strict=True))
        p_sl = tuple(slice(int(i - j), int(k - j)) for i, k, j in zip(a, b, lo, strict=True))
        target[t_sl] += patch[p_sl]

    def bleaching(self, frame: int) -> np.ndarray:
        """Remaining fluorescence per channel at ``frame`` (1 at frame 0)."""
        return np.exp(-self._bleach_per_frame * frame)

    def render_frame(self, frame: int, out: np.ndarray | None = None) -> tuple[np.ndarray, tuple[_Box, np.ndarray] | None]:
        """One frame: (Z, C, Y, X) uint16 camera image and the ground truth (mask box, mask) or None.

        ``out``: optional (Z, 3, Y, X) uint16 buffer to fill (reusing one buffer across frames avoids
        allocating ~100 MB per full-size frame)."""
        if not 0 <= frame < self.n_frames:
            raise ValueError(f"{self.experiment.name}/{self.name}: frame {frame} outside 0..{self.n_frames - 1}")
        self._ensure_static()
        rng = self._rng(2, frame)
        X, Y, Z = self.shape_xyz
        layers, truth = self._dynamic(frame, rng)
        if out is None:
            out = np.empty((Z, 3, Y, X), np.uint16)
        elif out.shape != (Z, 3, Y, X) or out.dtype != np.uint16:
            raise ValueError(f"out must be a (Z, 3, Y, X) = {(Z, 3, Y, X)} uint16 array, found {out.shape} {out.dtype}")
        mean = np.empty((Y, X), np.float32)
        std = np.empty((Y, X), np.float32)
        picks = rng.integers(0, (_NOISE_BANK_PLANES, _NOISE_BANK_PAD, _NOISE_BANK_PAD, 2), size=(3, Z, 4))
        gain = np.float32(self._gain)
        offset = np.float32(_CAMERA_OFFSET_ADU + 0.5)  # + 0.5: the cast to uint16 truncates
        bleach = self.bleaching(frame)
        for c, layer in enumerate(layers):
            b = np.float32(bleach[c])
            root_b = np.float32(math.sqrt(bleach[c]))
            bg_adu, std_adu = self._background_adu[c], self._std_adu[c]
            box = layer.box
            zs, ys, xs = box.slices
            # Inside the box: exact Gaussian approximation of shot + read noise around the changed mean (ADU).
            box_e = bg_adu[zs, ys, xs] / gain
            if layer.mult is not None:
                box_e *= 1.0 + layer.mult
            box_e += self._illumination(box) * layer.add
            box_e *= b
            box_std = np.sqrt(box_e + self._read_var_e) * gain
            box_e *= gain
            box_e += offset
            # Outside: static mean x bleaching + static noise std x sqrt(bleaching) (the read noise is bleached
            # along, a negligible approximation), computed as (bg sqrt(b) +- std noise) sqrt(b) + offset: four
            # array operations per slice, the last one casting to uint16. No clipping is needed where the
            # offset exceeds the largest possible noise excursion below the mean.
            clip_all = self._std_adu_max[c] * self._noise_bank_absmax * float(root_b) > float(offset)
            for z in range(Z):
                k, oy, ox, sign = picks[c, z]
                noise = self._noise_bank[k, oy:oy + Y, ox:ox + X]
                np.multiply(std_adu[z], noise, out=std)
                np.multiply(bg_adu[z], root_b, out=mean)
                if sign:
                    mean += std
                else:
                    mean -= std
                mean *= root_b
                if clip_all:
                    mean += offset
                    np.clip(mean, 0, 65535, out=mean)
                    out[z, c] = mean
                else:
                    np.add(mean, offset, out=out[z, c], casting="unsafe")
                if box.z0 <= z < box.z1:
                    nb = noise[ys, xs]
                    inside = box_e[z - box.z0] + (box_std[z - box.z0] * (nb if sign else -nb))
                    np.clip(inside, 0, 65535, out=inside)
                    out[z, c, ys, xs] = inside
        return out, truth


# ---------------------------------------------------------------------------------------------- writing
def write_hyperstack_frames(path, frames: Iterator[np.ndarray], shape: Sequence[int], dtype, axes: str,
                            spacing_um_xyz: Sequence[float], frame_interval_min: float | None) -> Path:
    """Stream a calibrated ImageJ hyperstack to ``path`` one frame at a time (atomic: temp file + rename).

    ``frames`` yields arrays of shape ``shape[1:]`` (e.g. (Z, C, Y, X) for axes 'TZCYX'); the metadata
    is ``scripts.io.write_imagej_hyperstack``'s, but the series is never held in memory.
    """
    if not axes.upper().startswith("T"):
        raise ValueError(f"{path}: axes {axes!r} must start with T")
    return write_imagej_hyperstack(path, frames, axes, spacing_um_xyz, frame_interval_min, shape=shape, dtype=dtype)


def label_frames(gvbd_frame: int, n_frames: int) -> list[int]:
    """Frames a lab labels: every sixth frame starting at GVBD."""
    return list(range(gvbd_frame, n_frames, LABEL_EVERY_N_FRAMES))


def _generate_oocyte(out_dir: Path, phantom: OocytePhantom, write_true_masks: bool,
                     frame_interval_min: float) -> dict:
    """Write one oocyte's hyperstack, its label masks and (optionally) true masks; return its record."""
    X, Y, Z = phantom.shape_xyz
    exp, name = phantom.experiment.name, phantom.name
    labelled = set(label_frames(phantom.gvbd_frame, phantom.n_frames))
    volumes: list[float] = []
    truths: list[tuple[_Box, np.ndarray] | None] = []

    def frames() -> Iterator[np.ndarray]:
        buffer = np.empty((Z, 3, Y, X), np.uint16)  # reused: tifffile writes each frame before asking for the next
        for t in range(phantom.n_frames):
            image, truth = phantom.render_frame(t, out=buffer)
            n_vox = 0 if truth is None else int(truth[1].sum())
            volumes.append(n_vox * phantom.voxel_volume_um3)
            if t in labelled:
                mask = np.zeros((Z, Y, X), np.uint8)
                if truth is not None:
                    mask[truth[0].slices] = truth[1]
                write_imagej_hyperstack(out_dir / exp / f"{name}_masks" / f"t{t:04d}.tif", mask, "ZYX",
                                        phantom.spacing_um_xyz)
            if write_true_masks:  # keep only the small boxed mask (bit-packed) until the image is written
                truths.append(None if truth is None else (truth[0], np.packbits(truth[1]), truth[1].shape))
            yield image

    image_path = out_dir / exp / f"{name}.tif"
    write_hyperstack_frames(image_path, frames(), (phantom.n_frames, Z, 3, Y, X), np.uint16, "TZCYX",
                            phantom.spacing_um_xyz, frame_interval_min)
    if write_true_masks:
        def masks() -> Iterator[np.ndarray]:
            for item in truths:
                full = np.zeros((Z, Y, X), np.uint8)
                if item is not None:
                    box, bits, shape = item
                    full[box.slices] = np.unpackbits(bits, count=int(np.prod(shape))).reshape(shape)
                yield full
        write_hyperstack_frames(out_dir / "ground_truth_masks" / exp / f"{name}.tif", masks(),
                                (phantom.n_frames, Z, Y, X), np.uint8, "TZYX", phantom.spacing_um_xyz,
                                frame_interval_min)
    return {
        "experiment": exp, "oocyte": name, "image": f"{exp}/{name}.tif", "strain": phantom.experiment.strain,
        "phenotype": phantom.phenotype, "gvbd_frame": phantom.gvbd_frame,
        "frames_to_metaphase": round(phantom.frames_to_metaphase, 3), "scene_scale": round(phantom.scale, 4),
        "label_frames": sorted(labelled), "volumes_um3": volumes,
    }


def _generate_oocyte_job(args) -> dict:
    out_dir, kwargs, write_true_masks, frame_interval_min = args
    return _generate_oocyte(Path(out_dir), OocytePhantom(**kwargs), write_true_masks, frame_interval_min)


def run_jobs(job, args: Sequence, workers: int) -> list:
    """[job(a) for a in args], in ``workers`` processes when more than one (the result does not depend on it)."""
    if workers > 1 and len(args) > 1:
        import multiprocessing

        with multiprocessing.get_context().Pool(min(workers, len(args))) as pool:
            return pool.map(job, args)
    return [job(a) for a in args]


def write_dataset_tables(out_dir: Path, records: Sequence[dict]) -> None:
    """gvbd.csv and ground_truth_volumes.csv of a synthetic dataset from its oocytes' records (``experiment``,
    ``oocyte``, ``gvbd_frame``, ``volumes_um3`` per frame)."""
    with atomic_path(out_dir / "gvbd.csv") as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["experiment", "oocyte", "gvbd_frame"])
        for r in records:
            w.writerow([r["experiment"], r["oocyte"], r["gvbd_frame"]])
    with atomic_path(out_dir / "ground_truth_volumes.csv") as tmp, open(tmp, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["experiment", "oocyte", "frame", "volume_um3"])
        for r in records:
            for t, v in enumerate(r["volumes_um3"]):
                w.writerow([r["experiment"], r["oocyte"], t, f"{v:.4f}"])


def generate_dataset(
    out_dir,
    n_experiments: int = 2,
    n_oocytes: int = 2,
    n_frames: int = 12,
    shape_xyz: Sequence[int] = DEFAULT_SHAPE_XYZ,
    spacing_um_xyz: Sequence[float] = DEFAULT_SPACING_UM_XYZ,
    seed: int = 0,
    write_true_masks: bool = False,
    noise: float = 1.0,
    contrast: float = 1.0,
    development_frames: float | None = None,
    frame_interval_min: float = 10.0,
    workers: int = 1,
) -> dict:
    """Write a synthetic dataset in the canonical layout and return a summary.

    Layout under ``out_dir``::

        gvbd.csv                                   experiment,oocyte,gvbd_frame
        ground_truth_volumes.csv                   experiment,oocyte,frame,volume_um3 (every frame; 0 before GVBD)
        phantom.json                               this summary (phenotypes, parameters)
        expN/oocyteKK.tif                          TZCYX uint16 ImageJ hyperstack, calibrated (um, frame interval)
        expN/oocyteKK_masks/tNNNN.tif              ZYX uint8 mask, only frames gvbd, gvbd+6, ...
        ground_truth_masks/expN/oocyteKK.tif       TZYX uint8 true masks of every frame (write_true_masks)

    shape_xyz: voxels (x, y, z); spacing_um_xyz: um; noise / contrast: difficulty knobs (1 = default; noise 2
    doubles the relative noise, contrast 0.5 halves the spindle's signal over the cytoplasm);
    development_frames: frames from GVBD to the metaphase shape (None: automatic, see OocytePhantom);
    workers: oocytes generated in parallel processes (the result does not depend on it).
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs = []
    for e in range(n_experiments):
        experiment = ExperimentParams.draw(seed, e)
        for k in range(n_oocytes):
            kwargs = dict(experiment=experiment, experiment_index=e, oocyte_index=k, n_frames=n_frames,
                          shape_xyz=tuple(shape_xyz), spacing_um_xyz=tuple(spacing_um_xyz), seed=seed,
                          noise=noise, contrast=contrast, development_frames=development_frames)
            jobs.append((str(out_dir), kwargs, write_true_masks, frame_interval_min))
    records = run_jobs(_generate_oocyte_job, jobs, workers)
    write_dataset_tables(out_dir, records)
    summary = {
        "out_dir": str(out_dir),
        "n_experiments": n_experiments, "n_oocytes": n_oocytes, "n_frames": n_frames,
        "shape_xyz": list(shape_xyz), "spacing_um_xyz": list(spacing_um_xyz), "seed": seed,
        "noise": noise, "contrast": contrast, "development_frames": development_frames,
        "frame_interval_min": frame_interval_min,
        "channels": list(CHANNEL_NAMES), "oocytes": records,
        "seconds": round(time.perf_counter() - started, 2),
    }
    with atomic_path(out_dir / "phantom.json") as tmp:
        tmp.write_text(json.dumps({k: v for k, v in summary.items() if k not in ("seconds", "out_dir")}, indent=1))
    return summary


# ---------------------------------------------------------------------------------------------- montage
def draw_montage(png_path, seed: int = 0, shape_xyz: Sequence[int] = DEFAULT_SHAPE_XYZ,
                 spacing_um_xyz: Sequence[float] = DEFAULT_SPACING_UM_XYZ, n_frames: int = 40,
                 zoom_px: int = 220) -> Path:
    """Draw a PNG montage of the microtubule channel with the true mask outline (yellow).

    Rows: a control oocyte before GVBD, just after GVBD, elongating, at metaphase I, then Aurka-deficient
    oocytes (short, monopolar, multipolar). Columns: the whole field at the spindle's central slice (the
    352 x 352 training crop outlined in cyan), a ``zoom_px`` square around the spindle at three slices
    (2 slices = 4 um apart), and an x-z section through the spindle at true aspect ratio (z is ~12x coarser).
    Grey levels: 0.5 and 99.9 percentiles of the slice (whole field) or of the zoomed stack (other columns).
    Renders seven full-size frames (about half a minute).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    kw = dict(n_frames=n_frames, shape_xyz=tuple(shape_xyz), spacing_um_xyz=tuple(spacing_um_xyz), seed=seed)
    wt = OocytePhantom(ExperimentParams.draw(seed, 0), 0, 0, **kw)
    dev = wt.frames_to_metaphase
    last = n_frames - 1
    rows = [(wt, max(wt.gvbd_frame - 1, 0), "control, before GVBD"),
            (wt, min(wt.gvbd_frame + 1, last), "control, just after GVBD"),
            (wt, min(wt.gvbd_frame + int(dev * 0.55), last), "control, elongating"),
            (wt, min(wt.gvbd_frame + int(dev * 1.3), last), "control, metaphase I")]
    aurka = ExperimentParams.draw(seed, 1)
    kos = sorted((OocytePhantom(aurka, 1, k, **kw) for k in range(len(aurka.phenotypes))),
                 key=lambda ph: aurka.phenotypes.index(ph.phenotype))
    rows += [(ko, min(ko.gvbd_frame + int(ko.frames_to_metaphase * 1.3), last),
              f"{aurka.strain.replace('_ko', '')}-deficient, {ko.phenotype}") for ko in kos]
    X, Y, Z = wt.shape_xyz
    dx, dy, dz = wt.spacing_um_xyz
    c = min(CROP_XY_PX, X, Y)
    cy0, cx0 = (Y - c) // 2, (X - c) // 2
    zoom = min(zoom_px, X, Y)
    fig, axes = plt.subplots(len(rows), 5, figsize=(16, 3.2 * len(rows)),
                             gridspec_kw={"width_ratios": [1, 1, 1, 1, 1.1]})
    for r, (ph, t, title) in enumerate(rows):
        image, _ = ph.render_frame(t)
        mt = image[:, MICROTUBULE_CHANNEL].astype(np.float32)
        mask = ph.true_mask(t)
        if mask.any():
            zz, yy, xx = np.nonzero(mask)
            zc, yc, xc = int(round(zz.mean())), int(round(yy.mean())), int(round(xx.mean()))
        else:
            zc, yc, xc = Z // 2, Y // 2, X // 2
        y0 = int(np.clip(yc - zoom // 2, 0, Y - zoom))
        x0 = int(np.clip(xc - zoom // 2, 0, X - zoom))
        lo, hi = np.percentile(mt[:, y0:y0 + zoom, x0:x0 + zoom], [0.5, 99.9])
        shown = dict(cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
        ax = axes[r, 0]
        ax.imshow(mt[zc], cmap="gray", vmin=np.percentile(mt[zc], 0.5), vmax=np.percentile(mt[zc], 99.9),
                  interpolation="nearest")
        ax.add_patch(Rectangle((cx0 - 0.5, cy0 - 0.5), c, c, fill=False, edgecolor="cyan", linewidth=0.8))
        ax.set_title(f"{ph.experiment.name}/{ph.name}: {title}\nframe {t} (GVBD {ph.gvbd_frame}), "
                     f"whole field, z={zc}", fontsize=8)
        for j, z in enumerate((zc - 2, zc, zc + 2)):
            z = int(np.clip(z, 0, Z - 1))
            ax = axes[r, j + 1]
            ax.imshow(mt[z, y0:y0 + zoom, x0:x0 + zoom], **shown)
            if mask[z].any():
                ax.contour(mask[z, y0:y0 + zoom, x0:x0 + zoom], levels=[0.5], colors="yellow", linewidths=0.8)
            ax.set_title(f"zoom {zoom * dx:.0f} um, z={z} ({(z - zc) * dz:+.0f} um)", fontsize=8)
        ax = axes[r, 4]
        ax.imshow(mt[:, yc, x0:x0 + zoom], aspect=dz / dx, **shown)
        if mask[:, yc].any():
            ax.contour(mask[:, yc, x0:x0 + zoom], levels=[0.5], colors="yellow", linewidths=0.8)
        ax.set_title(f"x-z section at y={yc}, true aspect ({Z} slices x {dz:g} um)", fontsize=8)
        for ax in axes[r]:
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(f"Synthetic light-sheet phantom (seed {seed}), microtubule channel; true spindle mask in yellow",
                 fontsize=11)
    fig.tight_layout()
    png_path = Path(png_path)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(png_path) as tmp:
        fig.savefig(tmp, dpi=64, format="png")
    plt.close(fig)
    return png_path


# ---------------------------------------------------------------------------------------------- CLI
def main(argv: Sequence[str] | None = None) -> dict | None:
    parser = argparse.ArgumentParser(prog="python -m scripts.phantom", description=(
        "Write a synthetic light-sheet oocyte dataset (canonical layout) and/or a montage PNG."))
    parser.add_argument("--out", help="dataset folder to write")
    parser.add_argument("--experiments", type=int, default=2)
    parser.add_argument("--oocytes", type=int, default=2, help="oocytes per experiment")
    parser.add_argument("--frames", type=int, default=12, help="frames per oocyte (10 min apart)")
    parser.add_argument("--size", type=int, nargs=3, default=list(DEFAULT_SHAPE_XYZ), metavar=("X", "Y", "Z"))
    parser.add_argument("--spacing", type=float, nargs=3, default=list(DEFAULT_SPACING_UM_XYZ),
                        metavar=("DX", "DY", "DZ"), help="voxel size in um")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--true-masks", action="store_true", help="also write ground_truth_masks/ (every frame)")
    parser.add_argument("--noise", type=float, default=1.0, help="relative noise factor (1 = default)")
    parser.add_argument("--contrast", type=float, default=1.0, help="spindle contrast factor (1 = default)")
    parser.add_argument("--development-frames", type=float, default=None,
                        help="frames from GVBD to the metaphase shape (default: automatic)")
    parser.add_argument("--workers", type=int, default=1, help="oocytes generated in parallel")
    parser.add_argument("--montage", help="also draw the montage PNG to this path")
    args = parser.parse_args(argv)
    if args.out is None and args.montage is None:
        parser.error("give --out DIR and/or --montage PNG")
    summary = None
    if args.out is not None:
        summary = generate_dataset(args.out, args.experiments, args.oocytes, args.frames, tuple(args.size),
                                   tuple(args.spacing), args.seed, args.true_masks, args.noise, args.contrast,
                                   args.development_frames, workers=args.workers)
        print(f"wrote {len(summary['oocytes'])} oocytes x {args.frames} frames to {args.out} "
              f"in {summary['seconds']:.1f} s")
    if args.montage is not None:
        print(f"wrote {draw_montage(args.montage, seed=args.seed)}")
    return summary


if __name__ == "__main__":
    main()
