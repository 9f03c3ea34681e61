"""scripts.datalist: scanning both layouts, the GVBD join, the stratified split, errors, CLI."""

from __future__ import annotations

import json

import pytest
from conftest import random_series, write_imagej
from scripts.datalist import build_datalist, load_datalist, main, scan_dataset, update_datalist
from scripts.io import SpindleDataError

LISTS = ("training", "validation", "testing", "inference")


def oocytes(items) -> set[tuple[str, str]]:
    return {(i["experiment"], i["oocyte"]) for i in items}


def test_hyperstack_layout_items_and_counts(dataset_factory):
    # 2 experiments x 3 oocytes x 7 frames, GVBD at frame 1, labels on frames 1 and 4
    root = dataset_factory()
    dl = build_datalist(root, seed=0)
    assert len(dl["testing"]) == 2 * 2 and len(dl["inference"]) == 2 * 7
    # 4 development oocytes x 2 labelled frames = 8 frames, 80:20 -> 6 training, 2 validation
    assert (len(dl["training"]), len(dl["validation"])) == (6, 2)
    test_exp, test_oocyte = dl["test_oocytes"][0]["experiment"], dl["test_oocytes"][0]["oocyte"]
    item = next(i for i in dl["testing"] if (i["experiment"], i["oocyte"], i["frame"]) == (test_exp, test_oocyte, 4))
    assert item == {
        "image": f"{test_exp}/{test_oocyte}.tif", "frame": 4, "label": f"{test_exp}/{test_oocyte}_masks/t0004.tif",
        "experiment": test_exp, "oocyte": test_oocyte, "time_min": 40.0, "minutes_since_gvbd": 30.0,
    }
    unlabelled = [i for i in dl["inference"] if i["frame"] == 0]
    assert all("label" not in i and i["minutes_since_gvbd"] == -10.0 for i in unlabelled)
    assert all((root / i["image"]).is_file() and (root / i["label"]).is_file()
               for name in ("training", "validation", "testing") for i in dl[name])


def test_per_frame_layout_with_nifti_masks(dataset_factory):
    root = dataset_factory(layout="per_frame", mask_format="nii.gz", n_experiments=1, n_oocytes=2)
    dl = build_datalist(root, seed=3)
    frame4 = next(i for i in dl["testing"] if i["frame"] == 4)
    oocyte = frame4["oocyte"]
    assert frame4["image"] == f"exp1/{oocyte}/t0004.tif" and frame4["label"] == f"exp1/{oocyte}_masks/t0004.nii.gz"
    assert [i["frame"] for i in dl["inference"]] == list(range(7))
    assert len(dl["training"]) + len(dl["validation"]) == 2  # the other oocyte's two labelled frames


@pytest.mark.parametrize("seed", range(5))
def test_split_is_by_oocyte_and_covers_every_experiment(dataset_factory, seed):
    root = dataset_factory(n_experiments=3, n_oocytes=3, n_frames=10)
    dl = build_datalist(root, seed=seed)
    test = oocytes(dl["testing"])
    assert test == oocytes(dl["inference"]) == {(t["experiment"], t["oocyte"]) for t in dl["test_oocytes"]}
    assert not test & oocytes(dl["training"] + dl["validation"])
    assert sorted(e for e, _ in test) == ["exp1", "exp2", "exp3"]  # exactly one oocyte per experiment
    keys = [(i["experiment"], i["oocyte"], i["frame"]) for i in dl["training"] + dl["validation"]]
    assert len(keys) == len(set(keys)) == 6 * 3  # 6 development oocytes x labels on frames 1, 4, 7
    assert len(dl["validation"]) == round(0.2 * 18)


def test_no_test_oocytes_puts_every_label_into_training_and_validation(dataset_factory):
    root = dataset_factory(n_experiments=2, n_oocytes=3)  # labels on frames 1 and 4
    dl = build_datalist(root, seed=0, test_oocytes_per_experiment=0)
    assert dl["test_oocytes"] == [] and dl["testing"] == [] and dl["inference"] == []
    assert oocytes(dl["training"] + dl["validation"]) == oocytes(build_datalist(root)["inference"]
                                                                 + build_datalist(root)["training"]
                                                                 + build_datalist(root)["validation"])
    assert (len(dl["training"]), len(dl["validation"])) == (10, 2)  # 12 labels, 80:20
    with pytest.raises(ValueError, match="test_oocytes_per_experiment must be 0 or 1"):
        build_datalist(root, test_oocytes_per_experiment=2)


def _key(item):
    return item["experiment"], item["oocyte"], item["frame"]


def test_update_keeps_every_frame_on_its_side_and_splits_the_new_labels(dataset_factory):
    root = dataset_factory(n_experiments=1, n_oocytes=4, n_frames=10)  # labels on frames 1, 4, 7
    old = build_datalist(root, seed=0)
    same, added, removed = update_datalist(old, root)
    assert same == old and added == removed == []  # nothing changed on disk: the same datalist
    test_oocyte = old["test_oocytes"][0]["oocyte"]
    others = sorted({i["oocyte"] for i in old["training"] + old["validation"]})
    masks = root / "exp1" / f"{others[0]}_masks"
    for frame in (0, 2, 3, 5, 6):  # a lab labels five more frames of one oocyte ...
        (masks / f"t{frame:04d}.tif").write_bytes((masks / "t0001.tif").read_bytes())
    test_masks = root / "exp1" / f"{test_oocyte}_masks"  # ... one of the test oocyte ...
    (test_masks / "t0002.tif").write_bytes((test_masks / "t0001.tif").read_bytes())
    gone = old["training"][-1]  # ... and deletes a wrong mask
    (root / gone["label"]).unlink()
    new, added, removed = update_datalist(old, root)
    assert len(added) == 6 and removed == [gone["label"]]
    for key in ("training", "validation", "testing"):  # every frame it held keeps its side
        assert {_key(i) for i in old[key]} - {_key(gone)} <= {_key(i) for i in new[key]}
    fresh = {_key(i) for key in ("training", "validation") for i in new[key]} - {_key(i) for i in old["training"]
                                                                                 + old["validation"]}
    assert fresh == {("exp1", others[0], f) for f in (0, 2, 3, 5, 6)}
    assert sum(_key(i) in fresh for i in new["validation"]) == 1  # 20 % of the five new development frames
    assert ("exp1", test_oocyte, 2) in {_key(i) for i in new["testing"]}  # a test oocyte's frame stays in testing
    assert new["test_oocytes"] == old["test_oocytes"]
    assert [_key(i) for i in new["inference"]] == [_key(i) for i in old["inference"]]  # every frame of the test oocyte
    assert next(i for i in new["inference"] if i["frame"] == 2)["label"] == f"exp1/{test_oocyte}_masks/t0002.tif"
    assert update_datalist(new, root)[1:] == ([], [])  # applied once


def test_split_is_reproducible_per_seed_and_changes_with_it(dataset_factory):
    root = dataset_factory(n_experiments=2, n_oocytes=4)
    assert build_datalist(root, seed=7) == build_datalist(root, seed=7)
    draws = {json.dumps([build_datalist(root, seed=s)[k] for k in ("test_oocytes", "validation")]) for s in range(6)}
    assert len(draws) > 1


def test_frame_interval_from_file_else_default(tmp_path):
    root = tmp_path / "ds"
    write_imagej(root / "e" / "a.tif", random_series((3, 4, 2, 8, 8)), "TZCYX", frame_interval_min=5.0)
    write_imagej(root / "e" / "b.tif", random_series((3, 4, 2, 8, 8)), "TZCYX", frame_interval_min=None)
    (root / "gvbd.csv").write_text("experiment,oocyte,gvbd_frame\ne,a,1\ne,b,2\n")
    dl = build_datalist(root, seed=0, default_frame_interval_min=7.5)
    times = {(i["oocyte"], i["frame"]): (i["time_min"], i["minutes_since_gvbd"]) for i in dl["inference"]}
    test_oocyte = dl["test_oocytes"][0]["oocyte"]
    # a: 5 min per frame from its file, GVBD frame 1; b: no interval in the file -> 7.5 min, GVBD frame 2
    expected = {"a": (10.0, 5.0), "b": (15.0, 0.0)}[test_oocyte]
    assert times[(test_oocyte, 2)] == expected


def test_ground_truth_files_are_ignored(dataset_factory):
    root = dataset_factory()
    assert (root / "ground_truth_masks").is_dir() and (root / "ground_truth_volumes.csv").is_file()
    dl = build_datalist(root)
    assert not any("ground_truth" in json.dumps(dl[k]) for k in LISTS)
    assert {s.experiment for s in scan_dataset(root)} == {"exp1", "exp2"}


def test_error_empty_dataset(tmp_path):
    (tmp_path / "empty" / "exp1").mkdir(parents=True)
    with pytest.raises(SpindleDataError, match=r"empty.*empty dataset: expected EXPERIMENT/OOCYTE\.tif.*found none"):
        build_datalist(tmp_path / "empty")


def test_error_gvbd_names_unknown_oocyte(dataset_factory):
    root = dataset_factory(n_experiments=1, n_oocytes=2)
    with open(root / "gvbd.csv", "a") as fh:
        fh.write("exp1,oocyte99,3\n")
    with pytest.raises(SpindleDataError, match=r"gvbd\.csv: names oocytes that are not in the dataset: \['exp1/oocyte99'\]"):
        build_datalist(root)


def test_error_oocyte_without_gvbd_row(dataset_factory):
    root = dataset_factory(n_experiments=1, n_oocytes=2)
    (root / "gvbd.csv").write_text("experiment,oocyte,gvbd_frame\nexp1,oocyte01,1\n")
    with pytest.raises(SpindleDataError, match=r"gvbd\.csv: no GVBD frame for oocytes \['exp1/oocyte02'\]"):
        build_datalist(root)


def test_error_mask_for_a_frame_the_series_lacks(dataset_factory):
    root = dataset_factory(n_experiments=1, n_oocytes=2)
    (root / "exp1" / "oocyte01_masks" / "t0009.tif").write_bytes(b"")
    with pytest.raises(SpindleDataError, match=r"t0009\.tif \(frame 9\): a mask for a frame.*expected frames 0\.\.6"):
        build_datalist(root)


def test_cli_writes_json_atomically_and_load_datalist_resolves_paths(dataset_factory, tmp_path, capsys):
    root = dataset_factory()
    out = tmp_path / "lists" / "datalist.json"
    main(["--dataset_dir", str(root), "--out", str(out), "--seed", "2"])
    assert json.loads(out.read_text()) == build_datalist(root, seed=2)
    assert [p.name for p in out.parent.iterdir()] == ["datalist.json"]  # no temporary file left behind
    assert "training 6, validation 2, testing 4, inference 14" in capsys.readouterr().out
    items = load_datalist(out, "testing", dataset_dir=root)
    assert items[0]["image"] == str(root / json.loads(out.read_text())["testing"][0]["image"])
    assert items[0]["experiment"] in ("exp1", "exp2")  # a name, although a folder of that name exists


def test_dense_labels_train_on_every_frame_and_keep_the_same_split(dataset_factory):
    # 2 experiments x 3 oocytes x 7 frames; a dense TZYX mask hyperstack per oocyte, as the phantom's --true-masks
    import numpy as np
    from scripts.io import inspect_image, spatial_shape_xyz, write_mask_hyperstack

    root = dataset_factory()
    for image in root.glob("exp*/oocyte*.tif"):
        shape_zyx = spatial_shape_xyz(inspect_image(image))[::-1]
        write_mask_hyperstack(root / "ground_truth_masks" / image.parent.name / image.name,
                              np.zeros((7, *shape_zyx), dtype=bool), (0.17, 0.17, 2.0), 10.0)
    sparse = build_datalist(root, seed=0)
    dense = build_datalist(root, seed=0, dense_labels_dir="ground_truth_masks")
    for name in ("validation", "testing", "inference", "test_oocytes"):
        assert dense[name] == sparse[name]
    # the 4 development oocytes' 28 frames, less the 2 validation frames
    assert len(dense["training"]) == 4 * 7 - 2
    held_out = {(i["experiment"], i["oocyte"], i["frame"]) for i in dense["validation"]}
    assert not held_out & {(i["experiment"], i["oocyte"], i["frame"]) for i in dense["training"]}
    assert not oocytes(dense["training"]) & oocytes(dense["testing"])
    assert all(i["label"] == f"ground_truth_masks/{i['experiment']}/{i['oocyte']}.tif" for i in dense["training"])
    (root / "dense.json").write_text(json.dumps(dense))
    assert len(load_datalist(root / "dense.json", "training", root)) == 26  # every named file exists
    (root / dense["training"][0]["label"]).unlink()
    with pytest.raises(SpindleDataError, match="no dense mask hyperstack"):
        build_datalist(root, seed=0, dense_labels_dir="ground_truth_masks")



# ------------------------------------------------------------------------------------------- silent wrong answers
def _no_warnings(call):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return call()


def test_axes_that_look_swapped_are_warned_about_and_a_plausible_series_is_not(tmp_path, dataset_factory):
    _no_warnings(lambda: scan_dataset(dataset_factory()))  # 4 slices x 3 channels x 7 frames: plausible
    c_and_z = tmp_path / "cz" / "exp1" / "oocyte01.tif"  # a 31-slice, 3-channel series saved as 3 slices x 31 channels
    write_imagej(c_and_z, random_series((2, 3, 31, 12, 10)), "TZCYX")
    with pytest.warns(UserWarning, match=r"oocyte01\.tif: implausible .*more channels \(31\) than z slices \(3.*"
                                         r"C and Z may be swapped.*Re-order Hyperstack"):
        scan_dataset(tmp_path / "cz")
    t_and_z = tmp_path / "tz" / "exp1" / "oocyte01.tif"  # 6 frames of 31 slices saved as 31 frames of 6 slices
    write_imagej(t_and_z, random_series((31, 6, 2, 12, 10)), "TZCYX")
    with pytest.warns(UserWarning, match=r"few z slices \(6, a z extent of 12 um\) and many more time points \(31\)"):
        scan_dataset(tmp_path / "tz")


def test_per_frame_files_with_a_missing_frame_are_refused(dataset_factory):
    root = dataset_factory(layout="per_frame", n_experiments=1, n_oocytes=1)
    (root / "exp1" / "oocyte01" / "t0003.tif").unlink()
    with pytest.raises(SpindleDataError, match=r"oocyte01: per-frame files t0000\.\.t0006 with frames missing: t0003"):
        scan_dataset(root)


def test_a_mask_folder_with_another_name_is_not_taken_for_an_oocyte(dataset_factory):
    root = dataset_factory(n_experiments=1, n_oocytes=1)
    (root / "exp1" / "oocyte01_masks").rename(root / "exp1" / "oocyte01_mask")
    with pytest.raises(SpindleDataError, match=r"oocyte01_mask: looks like the masks of exp1/oocyte01.*oocyte01_masks/"):
        scan_dataset(root)


def test_files_matching_no_expected_name_get_one_warning_listing_them(dataset_factory):
    root = dataset_factory(n_experiments=1, n_oocytes=1)
    masks = root / "exp1" / "oocyte01_masks"
    (masks / "t0001.tif").rename(masks / "t0001_mask.tif")  # a lab's own naming: silently 0 labelled frames before
    (root / "exp1" / "notes.txt").write_text("imaged on Tuesday")
    with pytest.warns(UserWarning, match=r"exp1: 2 entries match no expected name and are ignored: "
                                         r"\['notes\.txt', 'oocyte01_masks/t0001_mask\.tif'\].*tNNNN\.tif"):
        series = scan_dataset(root)
    assert sorted(series[0].labels) == [4]


def test_gvbd_outside_the_series_is_warned_about(dataset_factory):
    from scripts.datalist import read_gvbd_table

    root = dataset_factory(n_experiments=1, n_oocytes=2)
    (root / "gvbd.csv").write_text("experiment,oocyte,gvbd_frame\nexp1,oocyte01,50\nexp1,oocyte02,-2\n")
    series = scan_dataset(root)
    with pytest.warns(UserWarning) as record:
        assert read_gvbd_table(root, series) == {("exp1", "oocyte01"): 50, ("exp1", "oocyte02"): -2}
    messages = [str(w.message) for w in record]
    assert any("GVBD frame 50 of exp1/oocyte01 lies after the last frame of its series (frames 0..6)" in m
               for m in messages)
    assert any("GVBD frame -2 of exp1/oocyte02 lies before the first frame" in m for m in messages)


def test_names_match_whatever_unicode_form_the_file_system_and_the_table_use(tmp_path):
    import unicodedata

    from scripts.datalist import read_gvbd_table

    nfd = unicodedata.normalize("NFD", "oocyte_é")  # macOS file systems store names decomposed
    write_imagej(tmp_path / "exp1" / f"{nfd}.tif", random_series((3, 12, 2, 12, 10)), "TZCYX")
    (tmp_path / "gvbd.csv").write_text(f"experiment,oocyte,gvbd_frame\nexp1,{unicodedata.normalize('NFC', nfd)},1\n",
                                       encoding="utf-8")
    series = scan_dataset(tmp_path)
    assert read_gvbd_table(tmp_path, series) == {("exp1", unicodedata.normalize("NFC", nfd)): 1}
