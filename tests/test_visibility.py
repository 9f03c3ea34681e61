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
