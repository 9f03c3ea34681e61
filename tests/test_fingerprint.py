"""scripts.fingerprint and configs/analyze.yaml: datastats against hand-computed values, crop warnings."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
import yaml
from scripts.fingerprint import DataAnalyzer, bounding_box_xyz, centred_crop_window

BUNDLE = Path(__file__).resolve().parents[1] / "bundle"
VOXEL_UM3 = 0.17 * 0.17 * 2.0


@pytest.fixture
def small_dataset(dataset_factory):
    """1 experiment x 2 oocytes x 7 frames, frames (X, Y, Z) = (18, 16, 4); labels on frames 1 and 4:
    boxes of 3 x 4 x 2 voxels (frame 1) and 2 x 4 x 2 voxels (frame 4) starting at voxel (7, 6, 1)."""
    return dataset_factory(n_experiments=1, n_oocytes=2, n_frames=7, shape_zcyx=(4, 3, 16, 18))


def test_crop_window_and_bounding_box():
    assert centred_crop_window(750, 352) == (199, 551)  # MONAI CenterSpatialCrop: 375 - 176
    assert centred_crop_window(31, 352) == (0, 31)
    mask = np.zeros((8, 9, 5), np.uint8)
    mask[2:5, 3, 1:4] = 1
    assert bounding_box_xyz(mask) == ((2, 4), (3, 3), (1, 3))
    assert bounding_box_xyz(np.zeros((2, 2, 2))) is None


def test_datastats_match_hand_computed_values(small_dataset):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # inside the default 352 x 352 crop: no warning
        stats = DataAnalyzer(small_dataset, channel=1).analyze()
    summary = stats["stats_summary"]
    assert (summary["n_oocytes"], summary["n_frames"], summary["n_labelled_frames"]) == (2, 14, 4)
    assert summary["image"]["shape_xyz"] == [{"value": [18, 16, 4], "frames": 4}]
    assert summary["image"]["spacing_um"] == [{"value": [0.17, 0.17, 2.0], "frames": 4}]
    volume = summary["label"]["volume_um3"]
    assert volume["count"] == 4
    assert volume["min"] == pytest.approx(16 * VOXEL_UM3) and volume["max"] == pytest.approx(24 * VOXEL_UM3)
    assert volume["mean"] == pytest.approx(20 * VOXEL_UM3)
    extent = summary["label"]["extent_um"]
    assert extent["x"]["min"] == pytest.approx(2 * 0.17) and extent["x"]["max"] == pytest.approx(3 * 0.17)
    assert extent["y"]["median"] == pytest.approx(4 * 0.17) and extent["z"]["median"] == pytest.approx(2 * 2.0)
    assert summary["label"]["outside_crop"] == []
    # intensity of channel 1 over the 4 labelled frames, read independently with tifffile
    frames = [tifffile.imread(small_dataset / "exp1" / f"oocyte{o:02d}.tif")[t, :, 1] for o in (1, 2) for t in (1, 4)]
    pooled = np.concatenate([f.ravel() for f in frames]).astype(np.float64)
    intensity = summary["intensity_by_experiment"]["exp1"]
    assert intensity["frame"]["count"] == pooled.size == 4 * 18 * 16 * 4
    assert intensity["frame"]["mean"] == pytest.approx(pooled.mean())
    assert intensity["frame"]["std"] == pytest.approx(pooled.std())
    assert intensity["frame"]["percentile_50"] == pytest.approx(np.percentile(pooled, 50))  # all voxels sampled
    assert intensity["spindle"]["count"] == 2 * (24 + 16)
    case = next(c for c in stats["stats_by_case"] if (c["oocyte"], c["frame"]) == ("oocyte01", 1))
    assert case["bbox_xyz"] == [[7, 9], [6, 9], [1, 2]] and case["inside_crop"]


def test_warns_when_a_spindle_reaches_outside_the_crop(small_dataset):
    # a 2-voxel centred crop in x keeps x = 8..9 only; every box starts at x = 7
    with pytest.warns(UserWarning, match=r"oocyte01_masks/t0001\.tif \(frame 1\): the spindle.*outside the centred crop"):
        stats = DataAnalyzer(small_dataset, crop=(2, 16)).analyze()
    assert stats["stats_summary"]["label"]["outside_crop"] == [
        "exp1/oocyte01 frame 1", "exp1/oocyte01 frame 4", "exp1/oocyte02 frame 1", "exp1/oocyte02 frame 4"]


def test_unlabelled_oocyte_is_sampled_with_a_stride(small_dataset):
    shutil.rmtree(small_dataset / "exp1" / "oocyte02_masks")
    stats = DataAnalyzer(small_dataset, unlabelled_frame_stride=3).analyze()
    analysed = [(c["oocyte"], c["frame"]) for c in stats["stats_by_case"]]
    assert analysed == [("oocyte01", 1), ("oocyte01", 4), ("oocyte02", 0), ("oocyte02", 3), ("oocyte02", 6)]


def test_analyze_config_runs_and_writes_datastats(small_dataset, tmp_path):
    from monai.bundle import run

    out = tmp_path / "stats" / "datastats.json"
    run("analyzing", config_file=str(BUNDLE / "configs" / "analyze.yaml"), dataset_dir=str(small_dataset),
        output_path=str(out), channel=2)
    stats = json.loads(out.read_text())
    assert stats["stats_summary"]["channel"] == 2 and stats["stats_summary"]["n_labelled_frames"] == 4
    with open(BUNDLE / "configs" / "analyze.yaml") as fh:
        config = yaml.safe_load(fh)
    assert config["crop_size"] == [352, 352, -1] and config["channel"] == 1  # the flat defaults the docs promise


def test_a_read_only_dataset_names_the_datastats_file_and_output_path(tmp_path, monkeypatch):
    import errno
    import tempfile

    from scripts.fingerprint import write_datastats

    def refuse(*args, **kwargs):  # simulated: tests may run as root, for whom file permissions do not apply
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError, match=r"datastats\.yaml cannot be written; pass --output_path"):
        write_datastats({"stats_summary": {}}, tmp_path / "datastats.yaml")
