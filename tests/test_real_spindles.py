"""benchmarks/real_spindles.py: the shipped model on the real spindle stacks of ../shared/realdata/spindles.

An accuracy report, not a test of accuracy (the targets of the generalization work are not met yet and are
reported, not asserted): this checks that the report runs on every stack in both modes, measures on each file's
own voxel grid, and that the two modes really differ in the grid the network sees.
"""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
import real_spindles  # noqa: E402

pytestmark = pytest.mark.skipif(not (real_spindles.SPINDLES_DIR / "reference.csv").is_file(),
                                reason=f"{real_spindles.SPINDLES_DIR} not found (../shared beside the clone)")


def test_the_report_has_a_row_per_stack_and_both_modes(tmp_path):
    figure = tmp_path / "masks.png"
    table = real_spindles.run(REPO / "bundle" / "models" / "model.pt", figure=figure)
    assert figure.stat().st_size > 10_000 and f"figure of the native masks: {figure}" in table
    rows = [line for line in table.splitlines() if line.startswith("| ") and ".tif" in line]
    assert [r.split("|")[1].strip() for r in rows] == ["gt_01.tif", "svt00.tif", "width_small.tif", "homogenous.tif"]
    for row in rows:
        native_volume, resampled_volume = float(row.split("|")[3]), float(row.split("|")[5])
        # the model finds something in every stack as evaluating shows it (native: the file's z, x-y at the model's
        # pixel size); resampled to 2-um z slices, the models trained on finer z (0.5.0) may not (gt_01: 0 um^3)
        assert native_volume > 0 and resampled_volume >= 0
    assert "native: median |relative volume error|" in table and "resampled: median" in table


def test_resampling_changes_the_grid_the_network_sees_but_not_where_the_mask_is_measured():
    config = real_spindles.shipped_parts(REPO / "bundle" / "models" / "model.pt")
    with open(real_spindles.SPINDLES_DIR / "reference.csv") as f:
        svt00 = next(r for r in csv.DictReader(f) if r["file"] == "svt00.tif")  # 0.2662 x 0.2662 x 0.75 um: resampling
    native = real_spindles.segment(config, svt00, "native")                    # changes every axis
    resampled = real_spindles.segment(config, svt00, "resampled")
    # the kept spindle is one of the thresholded components, and the volume is counted on it
    assert native["mask_xyz"].any() and not (native["mask_xyz"] & ~native["thresholded_xyz"]).any()
    assert resampled["mask_xyz"].any()
    voxel_um3 = math.prod(real_spindles.read_channels(svt00)[2])
    assert abs(native["mask_xyz"].sum() * voxel_um3 - native["volume_um3"]) < 0.01 * native["volume_um3"]
    assert native["volume_um3"] != resampled["volume_um3"]
    # both centroids in um on the file's own grid: the same spindle, within a few um
    for axis in "xyz":
        assert abs(native[f"centroid_{axis}_um"] - resampled[f"centroid_{axis}_um"]) < 3.0


def test_the_pixel_size_sweep_resamples_x_y_only_and_measures_on_the_file_grid():
    config = real_spindles.shipped_parts(REPO / "bundle" / "models" / "model.pt")
    with open(real_spindles.SPINDLES_DIR / "reference.csv") as f:
        svt00 = next(r for r in csv.DictReader(f) if r["file"] == "svt00.tif")  # 0.2662 x 0.2662 x 0.75 um
    native = real_spindles.segment(config, svt00, "native")
    same = real_spindles.segment(config, svt00, "native", xy_um=0.2662)  # resampled onto (almost) its own grid
    coarser = real_spindles.segment(config, svt00, "native", xy_um=0.5)
    assert abs(same["volume_um3"] - native["volume_um3"]) < 0.05 * native["volume_um3"]
    assert coarser["volume_um3"] != native["volume_um3"]  # the network saw another grid
    for axis in "xyz":  # the mask is mapped back: the same spindle, measured in um on the file's grid
        assert abs(coarser[f"centroid_{axis}_um"] - native[f"centroid_{axis}_um"]) < 3.0
    table = real_spindles.pixel_size_table(REPO / "bundle" / "models" / "model.pt", [0.5])
    rows = [line for line in table.splitlines() if line.startswith("| ") and ".tif" in line]
    assert len(rows) == 4 and all(len(r.split("|")) == 7 for r in rows)  # file, reference, native x-y, 2 results
    gt_01 = next(r for r in rows if "gt_01" in r).split("|")
    assert gt_01[2].strip() == "292 / 10.6"  # Spindle3D's volume / length
    assert all(" um^3" not in c and c.count("/") == 1 and c.count("%") == 2 for c in gt_01[4:6])  # volume / length


def test_the_threshold_of_the_shipped_postprocessing_can_be_moved_with_set():
    with open(real_spindles.SPINDLES_DIR / "reference.csv") as f:
        svt00 = next(r for r in csv.DictReader(f) if r["file"] == "svt00.tif")
    model = REPO / "bundle" / "models" / "model.pt"
    at_half = real_spindles.segment(real_spindles.shipped_parts(model), svt00, "native")
    # probability 0.9 = logit 2.1972, given as on the command line (a string)
    at_09 = real_spindles.segment(real_spindles.shipped_parts(model, {"postprocessing#transforms#1#threshold": "2.1972"}),
                                  svt00, "native")
    assert 0 < at_09["volume_um3"] < at_half["volume_um3"]


def test_a_real_spindle_stands_out_far_more_plainly_than_the_hidden_ones_of_the_renderer_families():
    """The contrast-to-noise of the classical table (scripts.visibility on our classical mask), on one stack (the
    table runs all four in ~25 s): the real spindles are plain to see, on the scale where the renderer families'
    hidden spindles fall below 1."""
    from scripts.spindle3d import measure
    from scripts.visibility import spindle_contrast_to_noise

    with open(real_spindles.SPINDLES_DIR / "reference.csv") as f:
        svt00 = next(r for r in csv.DictReader(f) if r["file"] == "svt00.tif")
    tubulin_zyx, dna_zyx, spacing_um = real_spindles.read_channels(svt00)
    mask_zyx = measure(tubulin_zyx, dna_zyx, spacing_um).mask
    cnr = spindle_contrast_to_noise(tubulin_zyx.transpose(2, 1, 0), mask_zyx.transpose(2, 1, 0), spacing_um)
    assert cnr > 2.0
