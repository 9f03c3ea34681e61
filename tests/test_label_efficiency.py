"""benchmarks/label_efficiency.py: which frames a lab's N labels are and how a run's test frames are scored (the
fine-tuning runs themselves are the benchmark's, minutes to hours each)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from label_efficiency import band_scores, pick_labels, scores_by_stage  # noqa: E402


def _pool(oocytes=3, frames=8):
    return [{"experiment": "heldout_psf1", "oocyte": f"oocyte{o:02d}", "frame": f} for o in range(1, oocytes + 1)
            for f in range(frames)]


def test_labels_spread_over_oocytes_first_then_over_time():
    pool = _pool()
    three = pick_labels(pool, 3)
    assert sorted(p["oocyte"] for p in three) == ["oocyte01", "oocyte02", "oocyte03"]  # one per oocyte
    ten = pick_labels(pool, 10)
    counts = {o: sum(p["oocyte"] == o for p in ten) for o in ("oocyte01", "oocyte02", "oocyte03")}
    assert sorted(counts.values()) == [3, 3, 4]
    assert len({(p["oocyte"], p["frame"]) for p in ten}) == 10  # no frame twice
    assert pick_labels(pool, 10) == ten  # deterministic: the curve's points are reproducible
    assert [p["frame"] for p in pick_labels(pool, 1)] == [p["frame"] for p in ten[:1]]  # N labels extend N - 1
    with pytest.raises(ValueError, match="30 labels"):
        pick_labels(pool[:20], 30)


def test_even_labels_start_at_gvbd_and_spread_over_each_series():
    pool = _pool()[::-1]  # the pool's order does not matter: each series is taken in frame order
    for item in pool:
        item["minutes_since_gvbd"] = 10.0 * item["frame"]
    ten = pick_labels(pool, 10, choice="even")
    frames = {o: sorted(p["frame"] for p in ten if p["oocyte"] == o) for o in ("oocyte01", "oocyte02", "oocyte03")}
    assert frames == {"oocyte01": [0, 2, 4, 6], "oocyte02": [0, 3, 5], "oocyte03": [0, 3, 5]}
    assert [p["frame"] for p in ten[:3]] == [0, 0, 0]  # the first round labels every recording's first spindle
    assert pick_labels(pool, 10, choice="even") == ten
    assert len(pick_labels(pool, 24, choice="even")) == 24  # every frame of the pool
    uneven = [p for p in _pool() if p["oocyte"] != "oocyte01" or p["frame"] < 2]  # oocyte01 has two frames
    nine = pick_labels(uneven, 9, choice="even")
    counts = {o: sum(p["oocyte"] == o for p in nine) for o in ("oocyte01", "oocyte02", "oocyte03")}
    assert counts == {"oocyte01": 2, "oocyte02": 4, "oocyte03": 3}  # a short series' share goes to the others
    with pytest.raises(ValueError, match="25 labels"):
        pick_labels(pool, 25, choice="even")
    with pytest.raises(ValueError, match="label choice 'first'"):
        pick_labels(pool, 3, choice="first")


def test_scores_by_stage_split_the_first_frame_with_a_spindle_from_the_rest(tmp_path):
    header = "experiment,oocyte,frame,minutes_since_gvbd,has_label,dice,rel_volume_error\n"
    rows = ["lab,o1,0,-10.0,1,,", "lab,o1,1,0.0,1,0.0,-0.99", "lab,o1,2,10.0,1,0.9,0.1", "lab,o1,3,20.0,0,,",
            "lab,o2,1,0.0,1,0.8,0.3", "lab,o2,2,10.0,1,0.96,-0.02", "lab,o2,3,20.0,1,0.93,0.05"]
    (tmp_path / "volumes.csv").write_text(header + "\n".join(rows) + "\n")
    stages = scores_by_stage(tmp_path)
    assert stages["at_gvbd_frames"] == 2 and stages["after_gvbd_frames"] == 3
    assert stages["at_gvbd_dice"] == pytest.approx(0.4) and stages["at_gvbd_volume_error"] == pytest.approx(0.645)
    assert stages["after_gvbd_dice"] == pytest.approx(0.93) and stages["after_gvbd_volume_error"] == pytest.approx(0.05)


def test_band_scores_count_the_frames_whose_band_covers_the_true_volume(tmp_path):
    header = "experiment,oocyte,frame,has_label,ref_volume_um3,volume_um3,volume_lo_um3,volume_hi_um3\n"
    rows = ["lab,o1,0,1,0,0,0,5",  # before GVBD: no spindle, not counted
            "lab,o1,1,1,100,90,80,110", "lab,o1,2,1,200,150,140,180", "lab,o1,3,0,,300,280,320",
            "lab,o2,1,1,400,400,360,440", "lab,o2,2,1,500,520,480,560"]
    (tmp_path / "volumes.csv").write_text(header + "\n".join(rows) + "\n")
    (tmp_path / "oocytes" / "lab").mkdir(parents=True)
    for oocyte in ("o1", "o2"):
        settings = {"band_calibration": {"file_sha256": "ab" * 32, "quantile": 0.331}}
        (tmp_path / "oocytes" / "lab" / f"{oocyte}.json").write_text(json.dumps({"settings": settings}))
    band = band_scores(tmp_path)
    assert band["band_frames"] == 4 and band["band_coverage"] == pytest.approx(0.75)  # 200 lies above 140-180
    assert band["band_width"] == pytest.approx(np.median([0.3, 0.2, 0.16])) and band["band"] == "calibrated (Q 0.33)"
    (tmp_path / "oocytes" / "lab" / "o2.json").write_text(json.dumps({"settings": {"band_calibration": None}}))
    assert band_scores(tmp_path)["band"] == "calibrated (Q 0.33) and raw (not calibrated)"  # says both


def test_a_lab_is_split_by_oocyte_into_label_pool_and_test_recordings(tmp_path):
    sys.path.insert(0, str(REPO / "bundle"))
    from label_efficiency import LAB_POOL_OOCYTES, lab_items
    from scripts.randomized import generate_randomized_dataset

    generate_randomized_dataset(tmp_path, ("heldout_psf",), n_experiments=1, n_oocytes=LAB_POOL_OOCYTES + 2,
                                n_frames=3, shape_xyz=(64, 64, 16), spacing_um_xyz=(1.0, 1.0, 4.0), seed=1,
                                one_look_per_experiment=True)
    pool, test, look = lab_items(tmp_path, "heldout_psf1")
    assert {i["oocyte"] for i in pool} == {f"oocyte{k:02d}" for k in range(1, LAB_POOL_OOCYTES + 1)}
    assert {i["oocyte"] for i in test} == {f"oocyte{k:02d}" for k in (LAB_POOL_OOCYTES + 1, LAB_POOL_OOCYTES + 2)}
    assert look["family"] == "heldout_psf"
    for item in pool + test:  # frames from GVBD on, each with its true mask
        assert (tmp_path / item["label"]).is_file() and item["minutes_since_gvbd"] >= 0
    with pytest.raises(ValueError, match="no lab"):
        lab_items(tmp_path, "heldout_camera1")


def test_pools_of_different_sizes_are_scored_on_the_same_test_recordings(tmp_path):
    sys.path.insert(0, str(REPO / "bundle"))
    from label_efficiency import ensure_labs, lab_items
    from scripts.randomized import generate_randomized_dataset

    generate_randomized_dataset(tmp_path, ("heldout_texture",), n_experiments=1, n_oocytes=7, n_frames=3,
                                shape_xyz=(64, 64, 16), spacing_um_xyz=(1.0, 1.0, 4.0), seed=1,
                                one_look_per_experiment=True)
    small_pool, test, _ = lab_items(tmp_path, "heldout_texture1", pool_oocytes=2, test_oocytes=3)
    large_pool, same_test, _ = lab_items(tmp_path, "heldout_texture1", pool_oocytes=4, test_oocytes=3)
    assert {i["oocyte"] for i in small_pool} == {"oocyte01", "oocyte02"}
    assert {i["oocyte"] for i in large_pool} == {"oocyte01", "oocyte02", "oocyte03", "oocyte04"}
    assert same_test == test and {i["oocyte"] for i in test} == {"oocyte05", "oocyte06", "oocyte07"}
    with pytest.raises(ValueError, match="7 oocytes: 5 labelled and 3 test"):
        lab_items(tmp_path, "heldout_texture1", pool_oocytes=5, test_oocytes=3)  # they would share a recording
    with pytest.raises(ValueError, match="labs of 7 oocytes, not 8"):
        ensure_labs(tmp_path)  # an existing folder of another size is not silently reused


def test_fine_tuning_runs_the_documented_recipe_unless_told_otherwise(tmp_path, monkeypatch):
    """Without --epochs / --epoch_length the benchmark passes none, so what it measures is finetune.yaml's own
    recipe; given, they (and --set overrides) reach the command line."""
    import subprocess

    import label_efficiency

    commands = []

    def fake_run(cmd, **kwargs):
        commands.append(cmd)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(label_efficiency.subprocess, "run", fake_run)
    args = (tmp_path, tmp_path / "dl.json", tmp_path / "out", tmp_path / "model.pt")
    label_efficiency.fine_tune(*args, None, None)
    assert "finetune.yaml" in commands[-1][commands[-1].index("--config_file") + 1]
    assert "--epochs" not in commands[-1] and "--epoch_length" not in commands[-1]
    label_efficiency.fine_tune(*args, 6, 20, settings=["lr=2e-4"])
    cmd = commands[-1]
    assert cmd[cmd.index("--epochs") + 1] == "6" and cmd[cmd.index("--epoch_length") + 1] == "20"
    assert cmd[cmd.index("--lr") + 1] == "2e-4"
    assert cmd[cmd.index("--init_weights") + 1] == str(tmp_path / "model.pt")


def test_a_lab_folder_holds_the_labelled_recordings_and_one_mask_file_per_label(tmp_path):
    """--split finetune: the labels as a lab has them, which finetune.yaml's own split then takes whole."""
    sys.path.insert(0, str(REPO / "bundle"))
    from label_efficiency import lab_dataset, lab_items, pick_labels
    from scripts.datalist import build_datalist
    from scripts.io import read_mask
    from scripts.randomized import generate_randomized_dataset

    generate_randomized_dataset(tmp_path / "labs", ("heldout_camera",), n_experiments=1, n_oocytes=4, n_frames=4,
                                shape_xyz=(32, 32, 8), spacing_um_xyz=(1.0, 1.0, 4.0), seed=2,
                                one_look_per_experiment=True)
    pool, _, _ = lab_items(tmp_path / "labs", "heldout_camera1", pool_oocytes=2, test_oocytes=2)
    labels = pick_labels(pool, 3)
    folder = lab_dataset(tmp_path / "labs", labels, tmp_path / "lab")
    datalist = build_datalist(folder, test_oocytes_per_experiment=0)
    keys = {(i["oocyte"], i["frame"]) for i in datalist["training"] + datalist["validation"]}
    assert keys == {(i["oocyte"], i["frame"]) for i in labels} and len(datalist["validation"]) == 1
    for item in datalist["training"] + datalist["validation"]:  # each label is the recording's true mask of the frame
        written, meta = read_mask(folder / item["label"])
        truth, _ = read_mask(tmp_path / "labs" / f"ground_truth_masks/heldout_camera1/{item['oocyte']}.tif",
                             item["frame"])
        assert np.array_equal(written, truth) and meta["spacing_um"] == pytest.approx([1.0, 1.0, 4.0])
        assert item["minutes_since_gvbd"] == next(i for i in labels if (i["oocyte"], i["frame"]) ==
                                                  (item["oocyte"], item["frame"]))["minutes_since_gvbd"]
    assert lab_dataset(tmp_path / "labs", labels[:1], folder) == folder  # written afresh: one label now
    assert len(list(folder.rglob("t*.tif"))) == 1
