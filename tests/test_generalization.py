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
from generalization import (  # noqa: E402
    LOOK_COLUMNS,
    band_kind,
    blur_sigma,
    ensure_families,
    family_scores,
    oocyte_frame_scores,
    per_oocyte_table,
    summarise,
    write_blurred_oocytes,
)
from scipy.ndimage import binary_dilation  # noqa: E402
from scripts.io import inspect_image  # noqa: E402
from scripts.phantom import generate_dataset  # noqa: E402
from scripts.randomized import generate_randomized_dataset  # noqa: E402


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


@pytest.fixture(scope="module")
def families(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("families")
    generate_randomized_dataset(root, ("train",), n_experiments=1, n_oocytes=2, n_frames=4, shape_xyz=(64, 64, 16),
                                spacing_um_xyz=(1.0, 1.0, 4.0), seed=3)
    return root


def write_predictions(families: Path, out: Path, review: str) -> None:
    """oocyte01 predicted exactly; oocyte02 as its truth grown by 2 voxels (far more than 25 % too large), every
    frame's `review` cell set to ``review`` in volumes.csv."""
    (out / "masks" / "train1").mkdir(parents=True)
    rows = []
    for oocyte in ("oocyte01", "oocyte02"):
        truth = tifffile.imread(families / "ground_truth_masks" / "train1" / f"{oocyte}.tif")
        predicted = truth if oocyte == "oocyte01" else np.stack([binary_dilation(f > 0, iterations=2) for f in truth])
        tifffile.imwrite(out / "masks" / "train1" / f"{oocyte}.tif", predicted.astype(np.uint8))
        rows += [{"experiment": "train1", "oocyte": oocyte, "frame": t, "review": review} for t in range(len(truth))]
    with open(out / "volumes.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_silent_wrong_volumes_count_only_unflagged_non_empty_frames_far_off(families, tmp_path):
    gvbd = {r["oocyte"]: int(r["gvbd_frame"]) for r in csv.DictReader(open(families / "gvbd.csv"))}
    post_gvbd = {o: 4 - g for o, g in gvbd.items()}
    write_predictions(families, tmp_path / "unflagged", review="")
    s = family_scores(families, tmp_path / "unflagged")["train"]
    assert s["silent_wrong"] == pytest.approx(post_gvbd["oocyte02"] / sum(post_gvbd.values()))
    write_predictions(families, tmp_path / "flagged", review="volume jump")
    assert family_scores(families, tmp_path / "flagged")["train"]["silent_wrong"] == 0.0


def test_the_per_oocyte_table_lists_the_worst_first_beside_its_look(families, tmp_path):
    write_predictions(families, tmp_path / "run", review="")
    lines = per_oocyte_table(families, tmp_path / "run")
    header = [c.strip() for c in lines[0].strip("|").split("|")]
    assert header[:2] == ["oocyte", "mean Dice"] and header[-len(LOOK_COLUMNS):] == list(LOOK_COLUMNS)
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in lines[2:]]
    assert [r[0] for r in rows] == ["train1/oocyte02", "train1/oocyte01"]
    assert float(rows[1][1]) == pytest.approx(1.0) and float(rows[0][1]) < 0.9
    ratio = header.index("median predicted / true volume")
    assert float(rows[1][ratio]) == pytest.approx(1.0) and float(rows[0][ratio]) > 1.25  # the grown masks
    looks = {o["oocyte"]: o["look"] for o in json.loads((families / "randomized.json").read_text())["oocytes"]}
    assert rows[1][header.index("texture")] == looks["oocyte01"]["texture"]


def test_volumes_use_each_oocytes_own_voxel_size(tmp_path):
    """A randomized dataset with drawn voxel sizes (rand_small's kind): pre-GVBD false volumes in um^3 follow each
    oocyte's spacing, not one for the whole dataset."""
    data = tmp_path / "drawn"
    summary = generate_randomized_dataset(data, ("train",), n_experiments=1, n_oocytes=2, n_frames=3,
                                          shape_xyz=(48, 48, 8), seed=5, spacing_ranges_um=((0.5, 1.5), (2.0, 4.0)))
    spacings = {o["oocyte"]: o["spacing_um_xyz"] for o in summary["oocytes"]}
    assert spacings["oocyte01"] != spacings["oocyte02"]
    (tmp_path / "run" / "masks" / "train1").mkdir(parents=True)
    for oocyte in spacings:  # every frame predicted as a 10-voxel block, also before GVBD
        frames = tifffile.imread(data / "ground_truth_masks" / "train1" / f"{oocyte}.tif")
        predicted = np.zeros_like(frames, dtype=np.uint8)
        predicted[:, 0, 0, :10] = 1
        tifffile.imwrite(tmp_path / "run" / "masks" / "train1" / f"{oocyte}.tif", predicted)
    checked = 0
    for r in oocyte_frame_scores(data, tmp_path / "run"):
        for volume in r["pre_false_um3"]:
            assert volume == pytest.approx(10 * np.prod(spacings[r["oocyte"]]))
            checked += 1
    assert checked >= 2  # frames before GVBD of both oocytes


def test_the_volume_ratio_says_which_way_the_volumes_are_off(families, tmp_path):
    """Exact masks give predicted / true volume 1 on every frame from GVBD, grown ones more than 1 (too large), and
    |ratio - 1| is the relative volume error."""
    write_predictions(families, tmp_path / "run", review="")
    by_oocyte = {r["oocyte"]: r for r in oocyte_frame_scores(families, tmp_path / "run")}
    assert by_oocyte["oocyte01"]["ratio"] and all(q == pytest.approx(1.0) for q in by_oocyte["oocyte01"]["ratio"])
    assert all(q > 1.25 for q in by_oocyte["oocyte02"]["ratio"])
    for r in by_oocyte.values():
        np.testing.assert_allclose(np.abs(np.array(r["ratio"]) - 1), r["rel"])
    s = family_scores(families, tmp_path / "run")["train"]
    assert s["median_volume_ratio"] == pytest.approx(np.median(by_oocyte["oocyte01"]["ratio"]
                                                               + by_oocyte["oocyte02"]["ratio"]))


def test_the_visible_spindle_column_averages_the_frames_a_person_can_see(families, tmp_path):
    """Every frame from GVBD gets its true spindle's contrast-to-noise (scripts.visibility, from the frame's image),
    and the visible column is the mean Dice over the frames at >= 1, beside (not instead of) the mean over all."""
    from scripts.visibility import VISIBLE_CNR

    write_predictions(families, tmp_path / "run", review="")
    rows = oocyte_frame_scores(families, tmp_path / "run")
    assert all(len(r["cnr"]) == len(r["dice"]) and all(np.isfinite(r["cnr"])) for r in rows)
    s = summarise(rows)
    visible = [d for r in rows for d, c in zip(r["dice"], r["cnr"], strict=True) if c >= VISIBLE_CNR]
    assert s["visible_frames"] == len(visible) and s["frames"] == sum(len(r["dice"]) for r in rows)
    # hand-made frames: one visible spindle found, one invisible spindle missed
    frame = {"rel": [0.0, 1.0], "ratio": [1.0, 0.0], "pre_false_um3": [], "covered": [], "silent_wrong": [False] * 2}
    s = summarise([{**frame, "dice": [0.9, 0.1], "cnr": [3.0, 0.4]}])
    assert s["mean_dice_visible"] == pytest.approx(0.9) and s["visible_frames"] == 1
    assert s["mean_dice"] == pytest.approx(0.5)


def test_the_visibility_report_counts_every_spindle_frame_per_family(families, tmp_path):
    """benchmarks/visibility.py: one contrast-to-noise per frame from GVBD with a spindle, the hidden ones counted
    per family, and the figure written."""
    import visibility

    rows = visibility.frame_visibility(families)
    truth = {o: tifffile.imread(families / "ground_truth_masks" / "train1" / f"{o}.tif") for o in ("oocyte01", "oocyte02")}
    gvbd = {r["oocyte"]: int(r["gvbd_frame"]) for r in csv.DictReader(open(families / "gvbd.csv"))}
    assert len(rows) == sum(int(m[t].any()) for o, m in truth.items() for t in range(gvbd[o], len(m)))
    out, png = tmp_path / "visibility.md", tmp_path / "visibility.png"
    assert visibility.main(["--families_dir", str(families), "--out", str(out), "--png", str(png)]) == 0
    row = next(line for line in out.read_text().splitlines() if line.startswith("| train |"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    cnr = np.array([r["cnr"] for r in rows])
    assert int(cells[1]) == len(rows) and cells[3].startswith(f"{int((cnr < 1).sum())} (")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_families_dir_holding_another_dataset_is_evaluated_as_it_is(house, monkeypatch):
    """--families_dir naming a dataset without randomized.json (e.g. house scenes rendered for a diagnosis) must not
    get the default test set written into it (Session 26 mixed the two that way)."""
    import scripts.randomized

    def refuse(*args, **kwargs):
        raise AssertionError("the default families were written into an existing dataset")

    monkeypatch.setattr(scripts.randomized, "generate_randomized_dataset", refuse)
    before = sorted(p.name for p in house.iterdir())
    assert ensure_families(house) == house
    assert sorted(p.name for p in house.iterdir()) == before
    with pytest.raises(AssertionError, match="default families"):
        ensure_families(house / "not_yet")  # a missing folder is where the default set goes


def test_a_dataset_without_randomized_json_is_scored_with_its_files_calibration(house, tmp_path):
    perfect = tmp_path / "perfect"
    shutil.copytree(house / "ground_truth_masks", perfect / "masks")  # a prediction equal to the truth
    grown = tmp_path / "grown"
    shutil.copytree(house / "ground_truth_masks", grown / "masks")
    for path in (grown / "masks").glob("*/*.tif"):
        masks = tifffile.imread(path)
        masks[0, 0, 0, :7] = 1  # 7 false voxels in the first frame (before GVBD)
        tifffile.imwrite(path, masks)
    assert family_scores(house, perfect)["exp"]["mean_dice"] == pytest.approx(1.0)
    voxel_um3 = float(np.prod(inspect_image(house / "exp1" / "oocyte01.tif").spacing_um))
    assert family_scores(house, grown)["exp"]["max_pre_gvbd_volume_um3"] == pytest.approx(7 * voxel_um3)
    rows = per_oocyte_table(house, perfect)[2:]  # no drawn looks to show: their cells say so
    assert len(rows) == 2 and all(row.rstrip(" |").endswith(" | ".join(["-"] * len(LOOK_COLUMNS))) for row in rows)


def test_the_report_says_whether_the_volume_band_was_calibrated(tmp_path):
    """An evaluation whose calibration belonged to other weights leaves the band raw (it warns): the report must say
    so, or a raw band's coverage reads as the calibrated one's (Session 32's family reports did)."""
    def record(run: str, oocyte: str, calibration) -> Path:
        path = tmp_path / run / "oocytes" / "train1" / f"{oocyte}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"inputs": [], "frames": [], "settings": {"band_probability": 0.2,
                                                                            "band_calibration": calibration}}))
        return path

    calibrated = {"file_sha256": "845b", "quantile": 0.6119886}
    record("calibrated", "oocyte01", calibrated)
    record("calibrated", "oocyte02", calibrated)
    record("raw", "oocyte01", None)
    record("mixed", "oocyte01", calibrated)
    record("mixed", "oocyte02", None)
    assert band_kind(tmp_path / "calibrated") == "calibrated (Q 0.61)"
    assert band_kind(tmp_path / "raw") == "raw (not calibrated)"
    assert band_kind(tmp_path / "mixed") == "calibrated (Q 0.61) and raw (not calibrated)"
    assert band_kind(tmp_path / "nothing") == "none recorded"
