"""Tests of Spindle3D's morphometry for any mask (scripts.morphometry): hand-checkable ellipsoids on the light-sheet
grid and on an isotropic one, agreement with the classical method's own measurements, and the values that must
not depend on the intensity scale."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import SYNTHETIC_CELL_SPACING_UM, synthetic_cell
from scripts.morphometry import MORPHOMETRY_COLUMNS, measure_mask
from scripts.spindle3d import measure

LIGHT_SHEET_SPACING = (0.17, 0.17, 2.0)


def ellipsoid(spacing_um_xyz, shape_zyx, half_length_um=12.0, radius_um=4.0, tilt_deg=0.0, yaw_deg=30.0):
    """(Z, Y, X) bool: voxel centres inside a spheroid centred in the volume, its long axis turned ``yaw_deg`` in the
    x-y plane and raised ``tilt_deg`` towards z."""
    z, y, x = ((np.arange(n) - (n - 1) / 2) * s for n, s in zip(shape_zyx, spacing_um_xyz[::-1], strict=True))
    zz, yy, xx = np.meshgrid(z, y, x, indexing="ij")
    t, p = math.radians(tilt_deg), math.radians(yaw_deg)
    axis = (math.cos(t) * math.cos(p), math.cos(t) * math.sin(p), math.sin(t))
    along = xx * axis[0] + yy * axis[1] + zz * axis[2]
    across2 = xx**2 + yy**2 + zz**2 - along**2
    return (along / half_length_um) ** 2 + across2 / radius_um**2 <= 1


@pytest.mark.parametrize(("spacing", "shape", "tilt_deg"), [
    (LIGHT_SHEET_SPACING, (20, 200, 200), 0.0),
    (LIGHT_SHEET_SPACING, (20, 200, 200), 20.0),
    ((0.25, 0.25, 0.25), (80, 120, 120), 45.0),
])
def test_ellipsoid_length_width_angle(spacing, shape, tilt_deg):
    mask = ellipsoid(spacing, shape, tilt_deg=tilt_deg)
    values = measure_mask(mask, spacing)
    # a 24 x 8 x 8 um spindle: poles at its tips (found within a 0.25 um voxel), diameters of 8 um within the
    # coarse 2 um slices' rounding, its axis raised tilt_deg from the coverslip
    assert values["length_um"] == pytest.approx(24.0, abs=1.0)
    assert values["width_avg_um"] == pytest.approx(8.0, abs=1.0)
    assert values["width_min_um"] <= values["width_avg_um"] <= values["width_max_um"]
    assert values["aspect_ratio"] == pytest.approx(values["length_um"] / values["width_avg_um"])
    assert values["angle_deg"] == pytest.approx(tilt_deg, abs=3.0)
    assert math.isnan(values["plate_width_um"])  # no DNA given


def test_agrees_with_the_classical_method_on_its_own_mask():
    """Given Spindle3D's own mask, tubulin and DNA, the morphometry reproduces Spindle3D's numbers: the same code
    measures both, only the axis comes from the mask's shape instead of the chromosome plate."""
    tubulin, dna, _ = synthetic_cell(tilt_deg=35.0)
    classical = measure(tubulin, dna, SYNTHETIC_CELL_SPACING_UM)
    ours = measure_mask(classical.mask, SYNTHETIC_CELL_SPACING_UM, tubulin, dna)
    assert ours["length_um"] == pytest.approx(classical.length_um, rel=0.08)
    assert ours["width_avg_um"] == pytest.approx(classical.width_avg_um, rel=0.10)
    assert ours["angle_deg"] == pytest.approx(classical.angle_deg, abs=5.0)
    # the plate is 1 um thick (before the blur): between the DNA profile's steepest rise and fall along the axis
    assert ours["plate_width_um"] == pytest.approx(1.0, abs=0.5)


def test_intensity_scale_and_offset_do_not_change_the_numbers():
    tubulin, dna, truth = synthetic_cell()
    raw = measure_mask(truth, SYNTHETIC_CELL_SPACING_UM, tubulin, dna)
    scaled = measure_mask(truth, SYNTHETIC_CELL_SPACING_UM, 3.0 * tubulin + 500.0, 0.5 * dna + 100.0)
    for column in MORPHOMETRY_COLUMNS:
        assert scaled[column] == pytest.approx(raw[column], abs=1e-6), column


def test_masks_that_cannot_be_measured_give_nan():
    assert all(math.isnan(v) for v in measure_mask(np.zeros((5, 20, 20), bool), LIGHT_SHEET_SPACING).values())
    one_voxel = np.zeros((5, 20, 20), bool)
    one_voxel[2, 10, 10] = True
    assert all(math.isnan(v) for v in measure_mask(one_voxel, LIGHT_SHEET_SPACING).values())
