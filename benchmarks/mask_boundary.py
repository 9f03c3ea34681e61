"""Where does a mask's edge sit on the intensity profile? The real stacks' Spindle3D masks against the renderer's truth.

    .venv/bin/python benchmarks/mask_boundary.py

For a mask and its image, both resampled to 0.25 um isotropic voxels: (median intensity on the mask's inner boundary
- cytoplasm) / (interior - cytoplasm), with the cytoplasm the median of a shell 3-6 voxels outside the mask and the
interior the median 3 voxels inside. On the real stacks of ``../shared/realdata/spindles`` the mask is our
Spindle3D implementation's (it reproduces the published tool's volumes within 5 %); on randomized frames rendered at
the real stacks' voxel size (gt_01's 0.225 x 0.225 x 0.3 um, mitotic-cell scenes, bipolar) it is the scene's true
mask. Similar fractions mean the synthetic truth puts the spindle's edge where the published method does, so a
model trained on it should not under- or over-segment real spindles for that reason. Accuracy, not speed.
"""

from __future__ import annotations

import csv
import sys
from dataclasses import replace
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
if str(REPO_DIR / "bundle") not in sys.path:
    sys.path.insert(0, str(REPO_DIR / "bundle"))

import numpy as np  # noqa: E402
from real_spindles import SPINDLES_DIR, read_channels  # noqa: E402  (benchmarks/ is this script's folder)
from scipy import ndimage  # noqa: E402
from scripts.randomized import SMALL_CELLS, RandomizedOocyte  # noqa: E402
from scripts.scene import DEFAULT_GEOMETRY  # noqa: E402
from scripts.spindle3d import measure, resample_isotropic  # noqa: E402

VOXEL_UM = 0.25


def boundary_fraction(image_zyx: np.ndarray, mask_zyx: np.ndarray) -> float:
    inner = mask_zyx & ~ndimage.binary_erosion(mask_zyx)
    core = ndimage.binary_erosion(mask_zyx, iterations=3)
    shell = ndimage.binary_dilation(mask_zyx, iterations=6) & ~ndimage.binary_dilation(mask_zyx, iterations=3)
    cytoplasm, interior = np.median(image_zyx[shell]), np.median(image_zyx[core])
    return float((np.median(image_zyx[inner]) - cytoplasm) / (interior - cytoplasm))


def on_iso_grid(image_zyx: np.ndarray, mask_zyx: np.ndarray, spacing_um_xyz) -> tuple[np.ndarray, np.ndarray]:
    return (resample_isotropic(image_zyx, spacing_um_xyz, VOXEL_UM),
            resample_isotropic(mask_zyx.astype(np.float32), spacing_um_xyz, VOXEL_UM) > 0.5)


def main() -> int:
    with open(SPINDLES_DIR / "reference.csv") as f:
        references = list(csv.DictReader(f))
    for ref in references:
        tubulin, dna, spacing = read_channels(ref)
        result = measure(tubulin, dna, spacing)
        fraction = boundary_fraction(*on_iso_grid(tubulin.astype(np.float32), result.mask, spacing))
        print(f"real {ref['file']}: Spindle3D mask edge at {fraction:.2f} of the interior contrast")
    geometry = replace(DEFAULT_GEOMETRY, size_factor=(0.3, 0.6), phenotype_weights=(1, 0, 0, 0), **SMALL_CELLS)
    spacing = (0.225, 0.225, 0.3)
    for k in range(4):
        oocyte = RandomizedOocyte("train", 10, seed=7, oocyte_index=k, shape_xyz=(110, 110, 83), spacing_um_xyz=spacing,
                                  geometry=geometry)
        image = oocyte.render_frame(9)[:, 1].astype(np.float32)
        fraction = boundary_fraction(*on_iso_grid(image, oocyte.true_mask(9) > 0, spacing))
        look = oocyte.look
        print(f"rendered oocyte {k} ({look.texture}, PSF sigma {look.psf_xy_um:.2f} / {look.psf_z_um:.2f} um): "
              f"true mask edge at {fraction:.2f} of the interior contrast")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
