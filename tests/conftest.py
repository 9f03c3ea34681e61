"""Shared fixtures: tiny calibrated hyperstacks, per-frame files, masks and datasets; a tiny phantom and model.

The small files are written with tifffile / nibabel directly (no dependency on scripts.phantom), small
enough that a test using them runs in well under a second. Arrays are returned in the file's own axis
order (TZCYX / ZYX) so tests can compare against hand-made slices. ``tiny_phantom`` (one experiment, two
oocytes x four frames of 64 x 64 x 8 voxels, with the phantom's true masks) and ``random_model`` (the
default network's randomly initialised weights) serve the evaluation tests; ``bundle_configs`` gives the
configs' absolute paths, so that every workflow runs from the repository root as the Model Zoo CI runs it.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import tifffile
import torch
from scipy import ndimage

BUNDLE_DIR = Path(__file__).resolve().parents[1] / "bundle"
SPACING_UM = (0.17, 0.17, 2.0)  # (x, y, z) um, the lab's calibration
FRAME_INTERVAL_MIN = 10.0
SHAPE_TZCYX = (4, 6, 3, 12, 10)  # small, and every axis a different size so a mix-up shows


def random_series(shape, seed: int = 0, dtype=np.uint16) -> np.ndarray:
    """Random integer data: every voxel differs, so a wrong frame, channel or axis order is detected."""
    return np.random.default_rng(seed).integers(0, 60000, size=shape, dtype=dtype)


def write_imagej(path: Path, array: np.ndarray, axes: str, spacing_um=SPACING_UM,
                 frame_interval_min: float | None = FRAME_INTERVAL_MIN) -> Path:
    """A calibrated ImageJ hyperstack, written as ImageJ / Fiji would (unit 'um', spacing, finterval in s)."""
    metadata = {"axes": axes, "unit": "um", "spacing": spacing_um[2]}
    if frame_interval_min is not None:
        metadata["finterval"] = frame_interval_min * 60.0
    path.parent.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(path, array, imagej=True, metadata=metadata,
                     resolution=(1 / spacing_um[0], 1 / spacing_um[1]))
    return path


def box_mask_zyx(shape_zyx, frame: int) -> np.ndarray:
    """A box-shaped 'spindle' near the centre whose x-extent grows with the frame (ZYX uint8, 0/1).

    Voxel count = 2 * 4 * (2 + frame % 4): hand-checkable volumes for the fingerprint tests.
    """
    mask = np.zeros(shape_zyx, np.uint8)
    z0, y0, x0 = shape_zyx[0] // 2 - 1, shape_zyx[1] // 2 - 2, shape_zyx[2] // 2 - 2
    mask[z0:z0 + 2, y0:y0 + 4, x0:x0 + 2 + frame % 4] = 1
    return mask


def write_dataset(
    root: Path,
    n_experiments: int = 2,
    n_oocytes: int = 3,
    n_frames: int = 7,
    shape_zcyx=(4, 3, 16, 18),
    layout: str = "hyperstack",
    mask_format: str = "tif",
    gvbd_frame: int = 1,
    label_every: int = 3,
    seed: int = 0,
) -> Path:
    """Write a tiny dataset in the canonical layout (see notes/common.md) and return its root.

    layout 'hyperstack': EXP/OOCYTE.tif (TZCYX); 'per_frame': EXP/OOCYTE/t0000.tif (ZCYX).
    Masks EXP/OOCYTE_masks/tNNNN.{tif,nii.gz} on frames gvbd_frame, gvbd_frame + label_every, ...
    Also writes gvbd.csv, and ground_truth_volumes.csv + ground_truth_masks/ like the phantom does
    (which the datalist must ignore).
    """
    rng_seed = seed
    rows = []
    for e in range(n_experiments):
        experiment = f"exp{e + 1}"
        for o in range(n_oocytes):
            oocyte = f"oocyte{o + 1:02d}"
            series = random_series((n_frames, *shape_zcyx), seed=rng_seed)
            rng_seed += 1
            if layout == "hyperstack":
                write_imagej(root / experiment / f"{oocyte}.tif", series, "TZCYX")
            elif layout == "per_frame":
                for t in range(n_frames):
                    write_imagej(root / experiment / oocyte / f"t{t:04d}.tif", series[t], "ZCYX")
            else:
                raise ValueError(layout)
            for t in range(gvbd_frame, n_frames, label_every):
                mask = box_mask_zyx((shape_zcyx[0], shape_zcyx[2], shape_zcyx[3]), t)
                mask_dir = root / experiment / f"{oocyte}_masks"
                mask_dir.mkdir(parents=True, exist_ok=True)
                if mask_format == "tif":
                    tifffile.imwrite(mask_dir / f"t{t:04d}.tif", mask, imagej=True, metadata={"axes": "ZYX"})
                else:
                    nib.save(nib.Nifti1Image(mask.transpose(2, 1, 0), np.diag([*SPACING_UM, 1.0])),
                             mask_dir / f"t{t:04d}.nii.gz")
            rows.append((experiment, oocyte, gvbd_frame))
    with open(root / "gvbd.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["experiment", "oocyte", "gvbd_frame"])
        writer.writerows(rows)
    (root / "ground_truth_volumes.csv").write_text("experiment,oocyte,frame,volume_um3\nexp1,oocyte01,0,1.0\n")
    gt = root / "ground_truth_masks" / "exp1"
    gt.mkdir(parents=True)
    tifffile.imwrite(gt / "oocyte01.tif", np.zeros((2, 4, 16, 18), np.uint8), imagej=True, metadata={"axes": "TZYX"})
    return root


@pytest.fixture
def imagej_hyperstack(tmp_path) -> tuple[Path, np.ndarray]:
    """(path, TZCYX array) of a calibrated ImageJ hyperstack: 0.17 x 0.17 x 2.0 um, 10 min per frame."""
    array = random_series(SHAPE_TZCYX)
    return write_imagej(tmp_path / "oocyte.tif", array, "TZCYX"), array


@pytest.fixture
def ome_hyperstack(tmp_path) -> tuple[Path, np.ndarray]:
    """(path, TZCYX array) of an OME-TIFF stored in TCZYX order, x/y size in nm, z in um, 600 s per frame."""
    array = random_series(SHAPE_TZCYX, seed=1)
    path = tmp_path / "oocyte.ome.tif"
    tifffile.imwrite(path, array.transpose(0, 2, 1, 3, 4), ome=True, metadata={
        "axes": "TCZYX",
        "PhysicalSizeX": 170.0, "PhysicalSizeXUnit": "nm",
        "PhysicalSizeY": 170.0, "PhysicalSizeYUnit": "nm",
        "PhysicalSizeZ": 2.0, "PhysicalSizeZUnit": "µm",
        "TimeIncrement": 600.0, "TimeIncrementUnit": "s",
    })
    return path, array


@pytest.fixture
def dataset_factory(tmp_path):
    """Call with write_dataset's keyword arguments; writes under tmp_path/'dataset' and returns the root."""
    def make(**kwargs) -> Path:
        return write_dataset(tmp_path / "dataset", **kwargs)
    return make


# ------------------------------------------------------------------------------------------- phantom and model
@pytest.fixture(scope="session")
def tiny_phantom(tmp_path_factory) -> Path:
    """1 experiment, 2 oocytes x 4 frames of 64 x 64 x 8 voxels, with ground_truth_masks/ of every frame."""
    from scripts.phantom import generate_dataset

    root = tmp_path_factory.mktemp("phantom")
    generate_dataset(root, n_experiments=1, n_oocytes=2, n_frames=4, shape_xyz=(64, 64, 8), seed=0,
                     write_true_masks=True)
    return root


@pytest.fixture(scope="session")
def tiny_phantom_truth(tiny_phantom) -> dict[tuple[str, str, int], float]:
    """{(experiment, oocyte, frame): true spindle volume in um^3} of ``tiny_phantom``."""
    with open(tiny_phantom / "ground_truth_volumes.csv") as f:
        return {(r["experiment"], r["oocyte"], int(r["frame"])): float(r["volume_um3"]) for r in csv.DictReader(f)}


@pytest.fixture(scope="session")
def random_model(tmp_path_factory) -> Path:
    """Randomly initialised weights of the default network (the configs' network_def), as a weights-only file."""
    from scripts.network import AnisotropicAttentionUNet

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "model.pt"
    torch.save(AnisotropicAttentionUNet().state_dict(), path)
    return path


@pytest.fixture(scope="session")
def shipped_member_model(tmp_path_factory) -> Path:
    """The first member of the shipped ensemble as a model of its own (float32, with the shipped provenance: the
    pixel size and crop it was trained at): the trained network at a sixth of the ensemble's cost, for runs that
    exercise code rather than measure the shipped model."""
    from scripts.network import ensemble_size, read_state_dict
    from scripts.resolution import PROVENANCE_FILE, model_provenance

    shipped = BUNDLE_DIR / "models" / "model.pt"
    state = read_state_dict(shipped)
    assert ensemble_size(state) >= 2, "the shipped model is no longer an ensemble: use it directly"
    member = {k.split(".", 2)[2]: v.float() if v.is_floating_point() else v
              for k, v in state.items() if k.startswith("members.0.")}
    record = {k: v for k, v in model_provenance(shipped).items() if k not in ("ensemble_members", "weights_dtype")}
    path = tmp_path_factory.mktemp("member") / "model.pt"
    torch.save(member, path)
    (path.parent / PROVENANCE_FILE).write_text(json.dumps(record, indent=1) + "\n")
    return path


def bundle_configs(*names: str) -> str | list[str]:
    """Absolute paths of bundle/configs/<name>.yaml: one path, or the list a Model Zoo overlay is run with."""
    paths = [str(BUNDLE_DIR / "configs" / f"{name}.yaml") for name in names]
    return paths[0] if len(paths) == 1 else paths


# a spindle with its chromosome plate, hand-checkable: tests of the classical method and of the morphometry
SYNTHETIC_CELL_SPACING_UM = (0.2, 0.2, 0.5)  # x y z


def synthetic_cell(half_length_um=6.0, radius_um=4.0, tilt_deg=0.0, shape_zyx=(48, 128, 128)):
    """(tubulin, dna, spindle) ZYX: an ellipsoidal spindle (semi-axes radius, radius, half_length along an axis tilted
    by ``tilt_deg`` from z towards x) of tubulin 100 (brighter towards the poles) over a cytoplasm of 20, a DNA plate (radius 5 um, wider than the
    spindle as in mitosis, 1 um thick) across its equator that excludes tubulin, blurred by a small PSF (which fills
    the plate's 1-um gap in the tubulin); the true spindle is the ellipsoid."""
    z, y, x = (np.arange(n) - (n - 1) / 2 for n in shape_zyx)
    sx, sy, sz = SYNTHETIC_CELL_SPACING_UM
    zz, yy, xx = np.meshgrid(z * sz, y * sy, x * sx, indexing="ij")
    t = math.radians(tilt_deg)
    along = zz * math.cos(t) + xx * math.sin(t)
    across_x = -zz * math.sin(t) + xx * math.cos(t)
    inside = (across_x / radius_um) ** 2 + (yy / radius_um) ** 2 + (along / half_length_um) ** 2 <= 1
    plate = (np.abs(along) <= 0.5) & (across_x**2 + yy**2 <= 5.0**2)
    tubulin = np.where(inside, 100.0 + 50.0 * (along / half_length_um) ** 4, 20.0)  # fibres converge at the poles
    tubulin[plate] = 40.0
    dna = np.where(plate, 200.0, 10.0)
    sigma = (0.6 / sz, 0.25 / sy, 0.25 / sx)
    rng = np.random.default_rng(0)
    tubulin = ndimage.gaussian_filter(tubulin, sigma) + rng.normal(0, 2, tubulin.shape)
    dna = ndimage.gaussian_filter(dna, sigma) + rng.normal(0, 2, dna.shape)
    return tubulin.astype(np.float32), dna.astype(np.float32), inside
