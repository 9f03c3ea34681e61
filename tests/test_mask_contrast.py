"""benchmarks/mask_contrast.py: the predicted mask's contrast-to-noise per frame, and what a contrast rule would do."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy.ndimage import binary_dilation

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from mask_contrast import frame_records, main  # noqa: E402
from scripts.phantom import generate_dataset  # noqa: E402


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, Path]:
    """A phantom oocyte (frame 0 before GVBD) and a 'prediction': the truth, plus a false blob in the dark corner of
    frame 0 (68 um^3) and a frame-3 mask grown far beyond its spindle."""
    root = tmp_path_factory.mktemp("contrast")
    dataset = root / "dataset"
    generate_dataset(dataset, n_experiments=1, n_oocytes=1, n_frames=6, shape_xyz=(64, 64, 8), seed=4,
                     write_true_masks=True)
    predicted = root / "eval" / "masks" / "exp1" / "oocyte01.tif"
    predicted.parent.mkdir(parents=True)
    shutil.copy(dataset / "ground_truth_masks" / "exp1" / "oocyte01.tif", predicted)
    masks_tzyx = tifffile.imread(predicted).copy()
    assert masks_tzyx[0].sum() == 0 and masks_tzyx[3].sum() > 0
    masks_tzyx[0, 1:7, :14, :14] = 1  # 6 x 14 x 14 voxels of 0.17 x 0.17 x 2 um: 68 um^3 of background
    masks_tzyx[3] = binary_dilation(masks_tzyx[3], iterations=4)
    tifffile.imwrite(predicted, masks_tzyx.astype(np.uint8), imagej=True)
    return dataset, root / "eval"


def test_each_frame_gets_its_kind_and_the_false_blob_reads_dim(run):
    dataset, eval_dir = run
    records = {r["frame"]: r for r in frame_records(dataset, eval_dir)}
    assert sorted(records) == [0, 1, 2, 3, 4, 5]
    assert records[0]["kind"] == "false before GVBD" and records[0]["volume_um3"] == pytest.approx(68.0, abs=0.5)
    assert records[3]["kind"] == "wrong"
    assert {records[t]["kind"] for t in (1, 2, 4, 5)} == {"right"}
    assert all(r["family"] == "exp" and np.isfinite(r["mask_cnr"]) for r in records.values())
    # the spindle is brighter than its surroundings; a box of background is not, and a mask grown into the
    # cytoplasm is dimmer than the spindle's own
    right = [records[t]["mask_cnr"] for t in (1, 2, 4, 5)]
    assert records[0]["mask_cnr"] < 1.0 < min(right)
    assert records[3]["mask_cnr"] < min(right)


def test_the_report_counts_what_a_contrast_rule_would_remove(run, tmp_path):
    dataset, eval_dir = run
    out, frames_csv = tmp_path / "contrast.md", tmp_path / "frames.csv"
    assert main(["--dataset_dir", str(dataset), "--eval_dir", str(eval_dir), "--out", str(out),
                 "--frames_csv", str(frames_csv)]) == 0
    text = out.read_text()
    row = next(line for line in text.splitlines() if line.startswith("| exp |"))
    assert row.split(" | ")[1].startswith("1: ") and row.split(" | ")[2].startswith("4: ")
    # c = 1: the dim false blob removed, no right frame lost
    rule = next(line for line in text.splitlines() if line.startswith("| 1 |"))
    assert rule.split(" | ")[1].startswith("100 % / 0 % / ")
    assert len(frames_csv.read_text().splitlines()) == 7


def test_an_evaluation_without_masks_is_refused_naming_the_folder(run, tmp_path):
    dataset, _ = run
    with pytest.raises(SystemExit, match="no predicted masks"):
        main(["--dataset_dir", str(dataset), "--eval_dir", str(tmp_path)])
