"""scripts.recording: per-frame values, streamed mask hyperstacks, and oocytes recorded from evaluated frames."""

import json
import math

import numpy as np
import pytest
import tifffile
import torch
from scripts.io import LoadFramed
from scripts.recording import (
    MaskStreamWriter,
    OocyteRecorder,
    TimeSeriesWriter,
    _montage_frames,
    crop_window_xy,
    flag_volume_jumps,
    touches_window_border,
)
from scripts.reports import read_rows, review_reason, write_reports
from scripts.timeseries import evaluation_items

SPACING = (0.17, 0.17, 2.0)


def test_crop_window_is_the_centre_crop_clipped_to_the_frame():
    assert crop_window_xy((750, 750, 31), (352, 352, -1)) == (slice(199, 551), slice(199, 551))
    assert crop_window_xy((128, 100, 12), (352, 352, -1)) == (slice(0, 128), slice(0, 100))


def test_touches_window_border():
    mask = np.zeros((20, 20, 3), dtype=bool)
    window = (slice(5, 15), slice(5, 15))
    mask[8:12, 8:12, 1] = True
    assert not touches_window_border(mask, window)
    mask[14, 10, 1] = True  # last x column of the window
    assert touches_window_border(mask, window)


def test_volume_jumps_are_flagged_against_neighbours():
    volumes = [100, 110, 120, 400, 130, 140, 150]
    assert flag_volume_jumps(volumes, rel_threshold=0.5, min_abs_um3=50) == [False, False, False, True, False, False, False]
    # tiny volumes before GVBD: big relative change, below the absolute floor
    assert not any(flag_volume_jumps([0.0, 2.0, 0.5, 3.0], rel_threshold=0.5, min_abs_um3=50))
    assert flag_volume_jumps([500.0]) == [False]
    # a step (the spindle appearing at GVBD, then growing) is biology, not an outlier
    assert not any(flag_volume_jumps([0.0, 0.0, 0.0, 200.0, 210.0, 220.0, 230.0]))
    # a one-frame dip in a steady series is flagged
    assert flag_volume_jumps([1000.0, 1010.0, 1020.0, 300.0, 1040.0, 1050.0]) == [False, False, False, True, False, False]


def test_montage_frames_spread_over_the_series_and_prefer_labelled_ones():
    assert _montage_frames(list(range(30)), 6) == {0, 6, 12, 17, 23, 29}
    # labels every sixth frame from GVBD at frame 4: the picks move to 4, 10, 16, 22, 28 where close
    assert _montage_frames(list(range(30)), 6, labelled=[4, 10, 16, 22, 28]) == {0, 4, 10, 16, 22, 28}
    assert _montage_frames(list(range(3)), 6) == {0, 1, 2}


# ---------------------------------------------------------------------------------------------------- masks file
def test_mask_stream_writer_writes_a_calibrated_tzyx_hyperstack(tmp_path):
    rng = np.random.default_rng(0)
    frames = [rng.random((40, 30, 5)) > 0.8 for _ in range(3)]  # (X, Y, Z)
    writer = MaskStreamWriter(tmp_path / "m.tif", n_frames=3, spacing_um_xyz=(0.2, 0.25, 1.5), frame_interval_min=10.0)
    for frame in frames:
        writer.write(frame)
        assert not (tmp_path / "m.tif").exists()  # nothing under the final name before the last frame
    writer.close()
    with tifffile.TiffFile(tmp_path / "m.tif") as tif:
        data, ij = tif.asarray(), tif.imagej_metadata
        x_res = tif.pages[0].tags["XResolution"].value
        y_res = tif.pages[0].tags["YResolution"].value
    assert data.shape == (3, 5, 30, 40) and data.dtype == np.uint8
    assert (data == np.stack([f.transpose(2, 1, 0) for f in frames])).all()
    assert ij["frames"] == 3 and ij["slices"] == 5 and ij["unit"] == "um"
    assert ij["spacing"] == pytest.approx(1.5) and ij["finterval"] == pytest.approx(600.0)
    assert x_res[1] / x_res[0] == pytest.approx(0.2) and y_res[1] / y_res[0] == pytest.approx(0.25)
    assert [p.name for p in tmp_path.iterdir()] == ["m.tif"]


def test_mask_stream_writer_abort_and_short_series_leave_nothing(tmp_path):
    writer = MaskStreamWriter(tmp_path / "a.tif", n_frames=3, spacing_um_xyz=SPACING)
    writer.write(np.ones((8, 8, 2), dtype=bool))
    writer.abort()
    short = MaskStreamWriter(tmp_path / "b.tif", n_frames=3, spacing_um_xyz=SPACING)
    short.write(np.ones((8, 8, 2), dtype=bool))
    with pytest.raises(ValueError, match="expected 3 frames"):
        short.close()
    assert list(tmp_path.iterdir()) == []  # no final file and no temporary left over


# ---------------------------------------------------------------------------------------------------- metric path
def feed_frames(writer, items, mask_of):
    """Run items through LoadFramed and the writer as the evaluator would, with ``mask_of(item)`` as every method's mask."""
    load = LoadFramed(keys=["image", "label"], channel=1, allow_missing_keys=True)
    for item in items:
        data = load(item)
        mask = torch.from_numpy(mask_of(item)[None].astype(np.float32))
        writer.add({"image": data["image"], "label": data.get("label"), "pred": mask, "baseline": mask}, item["index"])


def test_perfect_prediction_reproduces_ground_truth_volumes_exactly(tiny_phantom, tiny_phantom_truth, tmp_path):
    items = evaluation_items(tiny_phantom, tmp_path, skip_finished=False)
    truth_masks = {}

    def true_mask(item):  # the phantom's true mask of every frame, as (X, Y, Z)
        key = (item["experiment"], item["oocyte"])
        if key not in truth_masks:
            truth_masks[key] = tifffile.imread(tiny_phantom / "ground_truth_masks" / key[0] / f"{key[1]}.tif")
        return truth_masks[key][item["frame"]].transpose(2, 1, 0) > 0

    writer = TimeSeriesWriter(tmp_path, items, {"network": "pred", "baseline": "baseline"}, crop_size=[48, 48, -1],
                              montage_tiles=2)
    feed_frames(writer, items, true_mask)
    write_reports(tmp_path)

    rows = read_rows(tmp_path / "volumes.csv")
    expected = tiny_phantom_truth
    assert len(rows) == len(expected) == 8  # every frame of every oocyte
    for row in rows:
        # the truth file rounds to 4 decimals; a voxel is 0.0578 um^3, so this is exact voxel for voxel
        assert row["volume_um3"] == pytest.approx(expected[(row["experiment"], row["oocyte"], row["frame"])], abs=1e-4)
        if row["has_label"] == 1:
            assert row["ref_volume_um3"] == row["volume_um3"]
            assert row["dice"] == 1.0 and row["abs_volume_error_um3"] == 0.0
        else:
            assert math.isnan(row["dice"]) and math.isnan(row["ref_volume_um3"])
    summary = json.loads((tmp_path / "summary.json").read_text())
    overall = {r["method"]: r for r in summary["per_experiment"] if r["experiment"] == "ALL"}
    assert overall["network"]["mean_dice"] == 1.0 and overall["network"]["mae_um3"] == 0.0
    assert overall["network"]["n_frames"] == 8 and overall["network"]["n_labelled"] == sum(r["has_label"] for r in rows)


def test_interrupted_oocyte_leaves_no_partial_output(tiny_phantom, tmp_path):
    items = evaluation_items(tiny_phantom, tmp_path, skip_finished=False)
    writer = TimeSeriesWriter(tmp_path, items, {"network": "pred"}, crop_size=[48, 48, -1])
    feed_frames(writer, items[:2], lambda item: np.zeros((64, 64, 8), dtype=bool))
    with pytest.raises(RuntimeError, match="disk full"):
        writer.exception_raised(None, RuntimeError("disk full"))
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    assert evaluation_items(tiny_phantom, tmp_path)[0]["oocyte"] == "oocyte01"  # so a rerun starts the oocyte again


def test_touching_the_crop_border_allows_for_the_networks_margin_and_a_reference_beyond_the_crop():
    window = (slice(10, 30), slice(10, 30))
    mask = np.zeros((40, 40, 3), dtype=bool)
    mask[14:26, 14:26, 1] = True
    assert not touches_window_border(mask, window)  # 4 voxels from every edge
    mask[12, 20, 1] = True  # 2 voxels from the x edge: where the network's masks stop at a cut spindle
    assert touches_window_border(mask, window)
    assert not touches_window_border(mask, window, margin_vox=1)
    reference = np.zeros((40, 40, 3), dtype=bool)
    reference[5:35, 18:22, 1] = True  # longer than the crop is wide
    assert touches_window_border(reference, window)
    assert not touches_window_border(np.zeros((40, 40, 3), dtype=bool), window)


def test_a_crop_smaller_than_the_spindle_is_flagged_on_every_frame_with_one(tiny_phantom, tmp_path):
    items = evaluation_items(tiny_phantom, tmp_path, skip_finished=False)
    truth = {o: tifffile.imread(tiny_phantom / "ground_truth_masks" / "exp1" / f"{o}.tif") for o in ("oocyte01", "oocyte02")}

    def centre_only(item):  # what a network sees of the spindle through a 16 x 16 crop
        mask = truth[item["oocyte"]][item["frame"]].transpose(2, 1, 0) > 0
        cut = np.zeros_like(mask)
        cut[26:38, 26:38] = mask[26:38, 26:38]  # 2 voxels inside the 24:40 window
        return cut

    writer = TimeSeriesWriter(tmp_path, items, {"network": "pred"}, crop_size=[16, 16, -1], montage_tiles=0)
    feed_frames(writer, items, centre_only)
    write_reports(tmp_path)
    rows = read_rows(tmp_path / "volumes.csv")

    def cut_off(row) -> bool:  # the true spindle reaches outside the 24:40 x 24:40 window
        inside = np.zeros((64, 64), dtype=bool)
        inside[24:40, 24:40] = True
        return bool((truth[row["oocyte"]][row["frame"]].max(axis=0).T > 0)[~inside].any())

    cut = [r for r in rows if cut_off(r)]
    assert len(cut) >= 2 and all(r["touches_crop_border"] == 1 for r in cut)
    # ... and each of them is a frame to review, with the reason
    assert all("touches crop border" in r["review"] for r in cut)
    assert not any(isinstance(r["review"], str) and "touches crop border" in r["review"]
                   for r in rows if r["touches_crop_border"] == 0)


def test_review_reasons():
    assert review_reason(1000.0, 900.0, 1100.0, False) == ""
    assert review_reason(1000.0, 300.0, 1200.0, False) == "wide volume band"  # 900 > half of 1000
    assert review_reason(40.0, 0.0, 45.0, False) == ""  # narrower than 50 um^3: a small ball is not flagged
    assert review_reason(1000.0, float("nan"), float("nan"), True) == "volume jump"
    assert review_reason(1000.0, 300.0, 1200.0, True, True) == "volume jump, wide volume band, touches crop border"


def test_frames_with_a_wide_band_are_flagged_and_shown_in_the_montage(tmp_path):
    image = tmp_path / "oocyte01.tif"  # the provenance records the input's size and time; the tiles use the crops
    image.write_bytes(b"")
    items = [{"experiment": "exp1", "oocyte": "oocyte01", "frame": t, "index": t, "image": str(image),
              "time_min": 10.0 * t, "minutes_since_gvbd": 10.0 * t} for t in range(5)]
    recorder = OocyteRecorder(tmp_path / "out", items, ["network"], crop_size=[32, 32, -1], montage_tiles=2,
                              band_probability=0.2)
    mask = np.zeros((32, 32, 4), bool)
    mask[6:26, 6:26, :] = True  # 92 um^3
    for t in range(5):
        probability = np.where(mask, 0.95, 0.0).astype(np.float32)
        if t == 2:  # the network is unsure of most of the spindle on this frame
            probability[mask] = 0.6
        recorder.add_frame({"network": mask}, None, SPACING, image_crop_xyz=np.ones((32, 32, 4), np.float32),
                           probability_crop_xyz=probability)
    recorder.finish()
    rows = read_rows(tmp_path / "out" / "oocytes" / "exp1" / "oocyte01.csv")
    assert [r["review"] if isinstance(r["review"], str) else "" for r in rows] == ["", "", "wide volume band", "", ""]
    assert rows[2]["volume_lo_um3"] == 0.0 and rows[2]["volume_hi_um3"] == rows[2]["volume_um3"]
    # the montage shows its two evenly spread frames (first, last) and the frame to review, in time order
    assert [t["frame"] for t in recorder.tiles] == [0, 2, 4]
    assert [t["review"] for t in recorder.tiles] == ["", "wide volume band", ""]
