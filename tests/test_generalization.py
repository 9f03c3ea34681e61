"""benchmarks/generalization.py's blur rows: the house test oocytes blurred in x-y only, scored against their truth."""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from generalization import blur_sigma, family_scores, write_blurred_oocytes  # noqa: E402
from scripts.io import inspect_image  # noqa: E402
from scripts.phantom import generate_dataset  # noqa: E402


@pytest.fixture(scope="module")
def house(tmp_path_factory) -> Path:
    """Two experiments with an oocyte of the same name in each (as the house phantom's test oocytes are)."""
    root = tmp_path_factory.mktemp("house")
    generate_dataset(root, n_experiments=2, n_oocytes=1, n_frames=3, shape_xyz=(48, 48, 6), seed=4,
                     write_true_masks=True)
    testing = [{"experiment": e, "oocyte": "oocyte01", "frame": 2} for e in ("exp1", "exp2")]
    (root / "datalist.json").write_text(json.dumps({"testing": testing}))
    return root


def test_blurred_copies_are_blurred_in_x_y_only_and_keep_their_truth(house, tmp_path):
    out = tmp_path / "blurred"
    voxel_um3 = write_blurred_oocytes(house, out, [0.0, 1.5])
    source = house / "exp1" / "oocyte01.tif"
    info = inspect_image(source)
    assert voxel_um3 == pytest.approx(np.prod(info.spacing_um))
    original = tifffile.imread(source).astype(np.float64)
    unblurred = tifffile.imread(out / "blur0px_exp1" / "oocyte01.tif")
    blurred = tifffile.imread(out / "blur1.5px_exp1" / "oocyte01.tif").astype(np.float64)
    assert np.array_equal(unblurred, original) and unblurred.dtype == tifffile.imread(source).dtype
    assert inspect_image(out / "blur1.5px_exp1" / "oocyte01.tif").spacing_um == pytest.approx(info.spacing_um)
    x, z = info.axes.index("X"), info.axes.index("Z")
    assert np.abs(np.diff(blurred, axis=x)).mean() < 0.6 * np.abs(np.diff(original, axis=x)).mean()
    # nothing moves between z slices: each slice keeps its own mean (up to the border and the rounding)
    slice_means = [np.moveaxis(a, z, 0).reshape(original.shape[z], -1).mean(axis=1) for a in (original, blurred)]
    np.testing.assert_allclose(slice_means[1], slice_means[0], rtol=0.05)
    # both same-named oocytes, each with its own truth and GVBD row
    for experiment in ("exp1", "exp2"):
        assert np.array_equal(tifffile.imread(out / "ground_truth_masks" / f"blur1.5px_{experiment}" / "oocyte01.tif"),
                              tifffile.imread(house / "ground_truth_masks" / experiment / "oocyte01.tif"))
    rows = list(csv.DictReader(open(out / "gvbd.csv")))
    assert sorted(r["experiment"] for r in rows) == ["blur0px_exp1", "blur0px_exp2", "blur1.5px_exp1",
                                                     "blur1.5px_exp2"]


def test_the_blur_rows_group_both_oocytes_per_sigma(house, tmp_path):
    out = tmp_path / "blurred"
    voxel_um3 = write_blurred_oocytes(house, out, [0.0, 0.7])
    perfect = tmp_path / "perfect"
    shutil.copytree(out / "ground_truth_masks", perfect / "masks")  # a prediction equal to the truth
    scores = family_scores(out, perfect, voxel_um3)
    assert sorted(scores, key=blur_sigma) == ["blur0px_exp", "blur0.7px_exp"]
    assert [blur_sigma(name) for name in sorted(scores, key=blur_sigma)] == [0.0, 0.7]
    for s in scores.values():
        assert s["oocytes"] == 2 and s["mean_dice"] == pytest.approx(1.0) and s["max_pre_gvbd_volume_um3"] == 0.0
