"""scripts/visibility.py: the spindle's contrast-to-noise against its surroundings, and the datalist filter."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from conftest import box_mask_zyx
from scripts.datalist import scan_frame_items, write_datalist
from scripts.visibility import filter_datalist, main, spindle_contrast_to_noise

SPACING_UM = (0.17, 0.17, 2.0)


def _frame(brightness: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(image, mask) in (X, Y, Z): Gaussian noise (mean 100, std 10) with an ellipsoidal spindle ``brightness``
    above it."""
    x, y, z = np.meshgrid(np.arange(96), np.arange(96), np.arange(9), indexing="ij")
    mask = ((x - 48) / 25.0) ** 2 + ((y - 48) / 12.0) ** 2 + ((z - 4) / 2.0) ** 2 <= 1
    image = np.random.default_rng(seed).normal(100.0, 10.0, mask.shape) + brightness * mask
    return image.astype(np.float32), mask.astype(np.uint8)


def test_contrast_to_noise_grows_with_brightness_and_ignores_offset_and_gain():
    cnr = [spindle_contrast_to_noise(*_frame(b), SPACING_UM) for b in (0.0, 3.0, 10.0, 30.0)]
    assert abs(cnr[0]) < 0.5  # a spindle as bright as its surroundings is not visible
    assert cnr[0] < cnr[1] < cnr[2] < cnr[3]
    assert cnr[2] > 1.0  # one noise std brighter, smoothed over ~3 pixels: plain to see
    image, mask = _frame(10.0)
    # an offset and a gain carry no biology: the same visibility
    assert spindle_contrast_to_noise(3.0 * image + 1000.0, mask, SPACING_UM) == pytest.approx(cnr[2], rel=1e-4)


def test_contrast_to_noise_ignores_hot_pixels_and_is_nan_without_a_spindle():
    image, mask = _frame(10.0)
    clean = spindle_contrast_to_noise(image, mask, SPACING_UM)
    hot = image.copy()
    rng = np.random.default_rng(1)
    hot[rng.integers(0, 96, 20), rng.integers(0, 96, 20), rng.integers(0, 9, 20)] = 60000.0
    assert spindle_contrast_to_noise(hot, mask, SPACING_UM) == pytest.approx(clean, rel=0.1)
    assert np.isnan(spindle_contrast_to_noise(image, np.zeros_like(mask), SPACING_UM))


def _photon_frame(photons_e: float, gain_adu_per_e: float, contrast: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """(image, mask) in (X, Y, Z) as a camera writes it: Poisson photo-electrons (``photons_e`` per voxel around the
    spindle, ``1 + contrast`` times that inside), a little read noise, times the gain, rounded to whole counts."""
    x, y, z = np.meshgrid(np.arange(128), np.arange(128), np.arange(9), indexing="ij")
    mask = ((x - 64) / 30.0) ** 2 + ((y - 64) / 14.0) ** 2 + ((z - 4) / 2.0) ** 2 <= 1
    rng = np.random.default_rng(0)
    electrons = rng.poisson(photons_e * (1.0 + contrast * mask)) + rng.normal(0.0, 0.2, mask.shape)
    return np.round(electrons * gain_adu_per_e + 100.0).astype(np.float32), mask.astype(np.uint8)


def test_contrast_to_noise_of_a_dim_spindle_does_not_depend_on_the_camera_gain():
    # A few photons per voxel written with few counts per electron are small integers: a 3 x 3 median of every voxel
    # made the surroundings nearly constant there and the contrast-to-noise read several times too high (infinite
    # at 0.5 photons and 0.3 counts per electron). The visibility of the same photons must not depend on the gain.
    for photons_e in (0.5, 1.0, 2.0):
        coarse = spindle_contrast_to_noise(*_photon_frame(photons_e, 0.3), SPACING_UM)
        fine = spindle_contrast_to_noise(*_photon_frame(photons_e, 3.0), SPACING_UM)
        assert np.isfinite(coarse) and coarse == pytest.approx(fine, rel=0.15), photons_e
    # and it follows the shot noise: 16 times the photons, about 4 times the contrast-to-noise
    ratio = (spindle_contrast_to_noise(*_photon_frame(16.0, 1.0), SPACING_UM)
             / spindle_contrast_to_noise(*_photon_frame(1.0, 1.0), SPACING_UM))
    assert 3.0 < ratio < 5.0
    invisible = spindle_contrast_to_noise(*_photon_frame(1.0, 0.3, contrast=0.0), SPACING_UM)
    assert abs(invisible) < 0.5


def _set_spindles(path, shape_zcyx, spindle_value: int) -> None:
    """Set the microtubule channel's voxels inside the dataset's box mask to ``spindle_value`` on every frame
    (the rest clipped to 0-20000): 65000 makes the spindle plain to see, 0 a dark hole where none is seen."""
    series = tifffile.imread(path)
    for t in range(series.shape[0]):
        mask = box_mask_zyx((shape_zcyx[0], shape_zcyx[2], shape_zcyx[3]), t).astype(bool)
        channel = np.clip(series[t, :, 1], 0, 20000)
        channel[mask] = spindle_value
        series[t, :, 1] = channel
    tifffile.imwrite(path, series, imagej=True, metadata={"axes": "TZCYX", "unit": "um", "spacing": 2.0},
                     resolution=(1 / 0.17, 1 / 0.17))


def test_filter_drops_only_training_frames_whose_spindle_is_not_visible(dataset_factory, tmp_path, capsys):
    shape_zcyx = (4, 3, 24, 26)
    root = dataset_factory(n_experiments=1, n_oocytes=3, n_frames=7, shape_zcyx=shape_zcyx)
    _set_spindles(root / "exp1" / "oocyte01.tif", shape_zcyx, 65000)  # plain to see
    for oocyte in ("oocyte02", "oocyte03"):
        _set_spindles(root / "exp1" / f"{oocyte}.tif", shape_zcyx, 0)  # nothing bright to see
    # a labelled frame without a spindle (before GVBD): nothing to see, and it stays
    tifffile.imwrite(root / "exp1" / "oocyte02_masks" / "t0000.tif", np.zeros((4, 24, 26), np.uint8),
                     imagej=True, metadata={"axes": "ZYX"})
    labelled = [item for item in scan_frame_items(root) if "label" in item]
    datalist = {"training": labelled, "validation": labelled[:2], "testing": labelled[-1:]}  # lists never filtered
    source = write_datalist(datalist, root / "datalist.json")
    out = tmp_path / "visible.json"
    filtered = main(["--datalist", str(source), "--out", str(out)])
    assert json.loads(out.read_text()) == filtered
    kept = {(item["oocyte"], item["frame"]) for item in filtered["training"]}
    before = {(item["oocyte"], item["frame"]) for item in datalist["training"]}
    visible = {(o, t) for o, t in before if o == "oocyte01" or t == 0}
    assert kept == visible and len(before) > len(kept)
    assert len(filtered["visibility"]["dropped"]) == len(before) - len(kept)
    assert filtered["testing"] == datalist["testing"] and filtered["validation"] == datalist["validation"]
    assert "dropped (spindle contrast-to-noise < 1)" in capsys.readouterr().out
    # nothing is dropped below a threshold no spindle is under
    assert filter_datalist(source, tmp_path / "all.json", min_cnr=-np.inf)["training"] == datalist["training"]
