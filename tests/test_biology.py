"""Tests of the biology read from a segmented series (scripts.biology): the GVBD estimate, aMTOC pole counts and the
per-oocyte phenotype call, on hand-made series and spindles whose answers are known."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from scripts.biology import (
    MIN_SPINDLE_VOLUME_UM3,
    count_poles,
    estimate_gvbd,
    oocyte_phenotype,
    polarity_state,
    within_distance,
)

SPACING = (0.17, 0.17, 2.0)  # x y z um, the light-sheet grid
SHAPE_ZYX = (16, 240, 240)


def test_gvbd_is_the_step_from_no_spindle_to_spindle():
    volumes = [0, 3, 1, 320, 450, 900, 1500, 2400, 3000, 3100]
    assert estimate_gvbd(volumes) == (3, 1.0)
    # a stray false detection before GVBD and a dropped frame after it do not move the step; they lower the confidence
    noisy = [0, 250, 1, 2, 320, 450, 40, 1500, 2400, 3000]
    frame, confidence = estimate_gvbd(noisy)
    assert frame == 4 and confidence == pytest.approx(8 / 10)
    # frames not measured (NaN) count as neither
    assert estimate_gvbd([0, float("nan"), 0, 400, 800]) == (3, 1.0)
    # a series that starts after GVBD or ends before it has no step inside it
    assert estimate_gvbd([300, 500, 900])[0] is None
    assert estimate_gvbd([0, 1, 2])[0] is None
    assert estimate_gvbd([MIN_SPINDLE_VOLUME_UM3 - 1, MIN_SPINDLE_VOLUME_UM3])[0] == 1


def _spindle_and_amtocs(pole_directions_xy, centre_yx=(120, 120), arm_um=10.0, arm_radius_um=3.0):
    """(mask, aMTOC) ZYX: a spindle made of arms from the centre along the given x-y directions, and at each arm's
    tip a cluster of 8 aMTOC spots spread over 2 um, on a noisy background."""
    z, y, x = np.meshgrid(*(np.arange(n) for n in SHAPE_ZYX), indexing="ij")
    pz, py, px = (z - SHAPE_ZYX[0] / 2) * SPACING[2], (y - centre_yx[0]) * SPACING[1], (x - centre_yx[1]) * SPACING[0]
    mask = np.zeros(SHAPE_ZYX, bool)
    rng = np.random.default_rng(1)
    amtoc = rng.normal(100.0, 3.0, SHAPE_ZYX)
    for dx, dy in pole_directions_xy:
        d = np.array([dx, dy]) / np.hypot(dx, dy)
        along = px * d[0] + py * d[1]
        across = np.sqrt(np.maximum(px**2 + py**2 + pz**2 - along**2, 0))
        mask |= (along >= 0) & (along <= arm_um) & (across <= arm_radius_um * (1 - 0.5 * along / arm_um))
        tip = d * (arm_um - 0.5)
        for spot in rng.normal(0, 1.0, (8, 2)):
            sx, sy = tip + spot
            amtoc += 300.0 * np.exp(-((px - sx) ** 2 + (py - sy) ** 2) / (2 * 0.4**2) - pz**2 / (2 * 1.0**2))
    return mask, amtoc.astype(np.float32)


@pytest.mark.parametrize(("directions", "poles", "state"), [
    ([(1, 0), (-1, 0)], 2, "bipolar"),
    ([(1, 0)], 1, "monopolar"),
    ([(1, 0), (-0.5, 0.87), (-0.5, -0.87)], 3, "multipolar"),
])
def test_poles_are_the_amtoc_clusters_at_the_spindle(directions, poles, state):
    mask, amtoc = _spindle_and_amtocs(directions)
    assert count_poles(mask, amtoc, SPACING) == poles
    assert polarity_state(count_poles(mask, amtoc, SPACING)) == state
    # the counts do not depend on the camera's offset and gain
    assert count_poles(mask, 3.0 * amtoc + 400.0, SPACING) == poles


@pytest.mark.parametrize("spacing_zyx, radius_um", [
    ((2.0, 0.17, 0.17), 2.0),     # the light-sheet grid, the pole search (z neighbours at exactly the radius)
    ((2.0, 0.17, 0.17), 1.0),     # a radius below the z step: in-slice only
    ((0.5, 0.2, 0.3), 1.6),       # finer z, anisotropic x-y: several slices within the radius
    ((0.15, 0.3, 0.3), 1.3),      # a radius reaching over most of the box in z
])
def test_within_distance_is_the_thresholded_3d_distance_transform(spacing_zyx, radius_um):
    rng = np.random.default_rng(4)
    binary = rng.random((9, 40, 50)) < 0.002
    binary[3] = False  # an empty slice between occupied ones
    expected = ndimage.distance_transform_edt(~binary, sampling=spacing_zyx) <= radius_um
    assert binary.any() and not expected.all()
    np.testing.assert_array_equal(within_distance(binary, spacing_zyx, radius_um), expected)
    # a strided view (the recorder passes transposed crops) gives the same
    np.testing.assert_array_equal(within_distance(np.asfortranarray(binary), spacing_zyx, radius_um), expected)
    assert not within_distance(np.zeros_like(binary), spacing_zyx, radius_um).any()


def test_aster_far_from_the_spindle_is_not_a_pole():
    mask, amtoc = _spindle_and_amtocs([(1, 0), (-1, 0)])
    amtoc[:, 20:30, 20:30] += 2000.0  # a bright free aster 15 um away from the spindle
    assert count_poles(mask, amtoc, SPACING) == 2


def test_no_spindle_or_no_amtoc_signal_has_no_poles():
    _, amtoc = _spindle_and_amtocs([(1, 0), (-1, 0)])
    assert count_poles(np.zeros(SHAPE_ZYX, bool), amtoc, SPACING) == 0
    mask, _ = _spindle_and_amtocs([(1, 0), (-1, 0)])
    assert count_poles(mask, np.full(SHAPE_ZYX, 100.0, np.float32), SPACING) == 0
    assert polarity_state(0) == "none" and polarity_state(5) == "multipolar"
    speck = np.zeros(SHAPE_ZYX, bool)
    speck[8, 100:110, 100:110] = True  # 5.8 um^3 before GVBD, beside the aMTOCs: not a spindle
    _, amtoc_at_speck = _spindle_and_amtocs([(1, 0)], centre_yx=(100, 100), arm_um=1.0)
    assert count_poles(speck, amtoc_at_speck, SPACING) == 0


def test_phenotype_is_the_most_frequent_state_of_the_assembled_spindle():
    volumes = [0, 0, 300, 600, 1200, 2500, 3000, 3100, 3000, 2900]
    states = ["none", "none", "multipolar", "multipolar", "multipolar", "bipolar", "bipolar", "bipolar",
              "monopolar", "bipolar"]
    # frames >= 80 % of the plateau (90th percentile, 3010 um^3): the last five; aMTOC sorting before does not count
    assert oocyte_phenotype(volumes, states) == ("bipolar", pytest.approx(4 / 5))
    assert oocyte_phenotype([0, 0], ["none", "none"]) == ("none", 0.0)
