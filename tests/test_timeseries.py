"""The evaluation run: which frames, the output folder's state, progress, and the evaluating workflow end to end.

The workflow tests run ``evaluating`` (configs/inference.yaml + configs/evaluate.yaml) in-process from the
repository root on ``tiny_phantom`` with ``random_model`` (plumbing) and the classical baseline.
"""

import csv
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from conftest import bundle_configs
from monai.bundle import run as bundle_run
from scripts.biology import POLARITY_STATES
from scripts.io import write_imagej_hyperstack
from scripts.reports import read_rows
from scripts.timeseries import (
    FrameProgressBar,
    evaluation_items,
    oocyte_provenance,
    prepare_output_dir,
    provenance_changes,
)

EVALUATE = bundle_configs("inference", "evaluate")


def note_of(row: dict, method: str = "baseline") -> str:
    """The method's note on a volumes.csv row ('' when empty: read_rows makes empty cells NaN)."""
    note = row.get(f"{method}_note")
    return note if isinstance(note, str) else ""


def run_evaluating(dataset_dir, output_dir, model_path, config_file=EVALUATE, **overrides):
    """The `evaluating` run in-process from the repository root, crop shrunk to the phantom."""
    settings = {"dataset_dir": str(dataset_dir), "output_dir": str(output_dir), "model_path": str(model_path),
                "crop_size": [48, 48, -1], "num_workers": 0, "montage_tiles": 2, "progress_bar": False}
    settings.update(overrides)
    bundle_run(run_id="evaluating", config_file=config_file, **settings)


# ---------------------------------------------------------------------------------------------------- output folder
def test_a_rerun_with_other_weights_refuses_to_mix_models(tiny_phantom, tmp_path):
    first, second = tmp_path / "first.pt", tmp_path / "second.pt"
    first.write_bytes(b"weights of the first model")
    second.write_bytes(b"weights of a retrained model")
    out = tmp_path / "eval"
    prepare_output_dir(out, first)  # nothing finished: records the model
    n_frames = len(evaluation_items(tiny_phantom, out))
    (out / "oocytes" / "exp1").mkdir(parents=True)
    (out / "oocytes" / "exp1" / "oocyte01.csv").write_text("finished\n")  # as a finished oocyte leaves it
    prepare_output_dir(out, first)  # same weights: resume
    assert len(evaluation_items(tiny_phantom, out)) < n_frames  # ... and skip the finished oocyte
    with pytest.raises(ValueError, match="finished oocytes of another model.*first.pt"):
        prepare_output_dir(out, second)
    # evaluating everything again is allowed, and the folder then belongs to the new model
    prepare_output_dir(out, second, skip_finished=False)
    assert len(evaluation_items(tiny_phantom, out, skip_finished=False)) == n_frames
    prepare_output_dir(out, second)


def test_a_rerun_removes_what_a_killed_run_left_half_written(tmp_path):
    killed = subprocess.Popen([sys.executable, "-c", "pass"])
    killed.wait()
    leftover = tmp_path / "masks" / "exp1" / f".oocyte01.tif.pid{killed.pid}.a1b2c3.part"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"\0" * 1000)  # SIGKILL gives atomic_path no chance to clean up
    prepare_output_dir(tmp_path, tmp_path / "no_model.pt")
    assert not leftover.exists()


def test_choosing_the_frames_changes_nothing_in_the_output_folder(tiny_phantom, tmp_path):
    killed = subprocess.Popen([sys.executable, "-c", "pass"])
    killed.wait()
    leftover = tmp_path / f".volumes.csv.pid{killed.pid}.x.part"
    leftover.write_bytes(b"half")
    items = evaluation_items(tiny_phantom, tmp_path)
    assert len(items) == 8 and [i["index"] for i in items] == list(range(8))
    assert sorted(p.name for p in tmp_path.iterdir()) == [leftover.name]  # no model record, leftover untouched


def test_frame_interval_for_files_without_one(tmp_path):
    data = tmp_path / "data"
    frame = np.zeros((4, 3, 32, 32), np.uint16)
    for t in range(3):  # ImageJ files without a frame interval
        write_imagej_hyperstack(data / "exp1" / "oocyte01" / f"t{t:04d}.tif", frame, "ZCYX", (0.2, 0.2, 1.5))
    assert [i["time_min"] for i in evaluation_items(data, tmp_path / "out")] == [0.0, 10.0, 20.0]
    items = evaluation_items(data, tmp_path / "out", frame_interval_min=7.5)
    assert [i["time_min"] for i in items] == [0.0, 7.5, 15.0]
    assert all(math.isnan(i["minutes_since_gvbd"]) for i in items)  # no gvbd.csv: no time since GVBD


def test_progress_bar_counts_frames_per_oocyte_and_in_all(capsys):
    items = [{"experiment": "e", "oocyte": o, "frame": t, "index": 3 * k + t} for k, o in enumerate("ab") for t in range(3)]
    bar = FrameProgressBar(items)
    for item in items[:4]:
        bar.advance(item)
    assert bar._bar.n == 1 and bar._bar.total == 3  # oocyte b: its first frame of three
    assert bar.frames_done == 4
    bar.close()
    err = capsys.readouterr().err
    assert "e/a (1/2 oocytes, 3/6 frames)" in err and "3/3" in err
    assert "e/b (2/2 oocytes, 4/6 frames)" in err
    silent = FrameProgressBar(items, enabled=False)

    class Engine:  # attaching a disabled bar registers nothing
        def add_event_handler(self, *args):
            raise AssertionError("a disabled progress bar attached a handler")
    silent.attach(Engine())


def test_datalist_file_selects_its_inference_list(tiny_phantom, tmp_path):
    datalist = {"inference": [{"image": "exp1/oocyte02.tif", "frame": 3, "experiment": "exp1", "oocyte": "oocyte02",
                               "time_min": 30.0, "minutes_since_gvbd": 20.0}]}
    (tmp_path / "datalist.json").write_text(json.dumps(datalist))
    items = evaluation_items(tiny_phantom, tmp_path / "out", datalist_file=tmp_path / "datalist.json")
    assert items == [{**datalist["inference"][0], "image": str(tiny_phantom / "exp1" / "oocyte02.tif"), "index": 0}]


# ---------------------------------------------------------------------------------------------------- workflow
@pytest.fixture(scope="module")
def evaluated(tiny_phantom, random_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    run_evaluating(tiny_phantom, out, random_model)
    return out


def test_workflow_writes_a_row_for_every_frame_and_all_outputs(evaluated, tiny_phantom, tiny_phantom_truth):
    rows = read_rows(evaluated / "volumes.csv")
    assert sorted((r["experiment"], r["oocyte"], r["frame"]) for r in rows) == sorted(tiny_phantom_truth)
    assert all(math.isfinite(r["volume_um3"]) for r in rows)
    # the baseline (baseline_frames: labelled by default) is measured exactly where a reference exists: a volume,
    # or a note saying why the classical method has none (e.g. no DNA plate before GVBD)
    assert any(r["has_label"] == 1 for r in rows) and any(r["has_label"] == 0 for r in rows)
    for r in rows:
        measured, note = math.isfinite(r["baseline_volume_um3"]), note_of(r)
        assert (measured or note.startswith("no classical result")) == (r["has_label"] == 1), (r["frame"], note)
        assert not (measured and note)
    with open(tiny_phantom / "gvbd.csv") as f:
        gvbd = {r["oocyte"]: int(r["gvbd_frame"]) for r in csv.DictReader(f)}
    assert all(r["minutes_since_gvbd"] == 10.0 * (r["frame"] - gvbd[r["oocyte"]]) for r in rows)
    # the aMTOC channel (2) is read: every frame has a pole count and a polarity state for the network, and each
    # oocyte its GVBD frame from the table beside the one estimated from the volumes (random weights: any answer)
    assert all(r["polarity"] in POLARITY_STATES and r["n_poles"] >= 0 for r in rows)
    # the network's volume band from its probabilities brackets its volume; the baseline has none
    assert all(r["volume_lo_um3"] <= r["volume_um3"] <= r["volume_hi_um3"] for r in rows)
    assert all(math.isnan(r["baseline_volume_lo_um3"]) for r in rows)
    assert all((r["polarity"] == "none") == (r["volume_um3"] == 0 or r["n_poles"] == 0) for r in rows)
    network = [r for r in read_rows(evaluated / "summary_per_oocyte.csv") if r["method"] == "network"]
    assert {r["oocyte"]: r["gvbd_frame"] for r in network} == gvbd
    assert all(0.0 <= r["gvbd_confidence"] <= 1.0 and r["phenotype"] in POLARITY_STATES for r in network)
    for oocyte in ("oocyte01", "oocyte02"):
        for png in (evaluated / "plots" / f"exp1_{oocyte}.png", evaluated / "qc" / f"exp1_{oocyte}.png"):
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(evaluated.rglob("*.part"))


def test_workflow_masks_are_full_frame_calibrated_and_match_the_volumes(evaluated):
    rows = [r for r in read_rows(evaluated / "volumes.csv") if r["oocyte"] == "oocyte02"]
    with tifffile.TiffFile(evaluated / "masks" / "exp1" / "oocyte02.tif") as tif:
        masks, ij = tif.asarray(), tif.imagej_metadata
        x_res = tif.pages[0].tags["XResolution"].value
    assert masks.shape == (4, 8, 64, 64)  # T, Z, Y, X: the full frame although the network saw a 48 x 48 crop
    assert ij["spacing"] == pytest.approx(2.0) and x_res[1] / x_res[0] == pytest.approx(0.17)
    assert ij["finterval"] == pytest.approx(600.0)
    voxel_um3 = 0.17 * 0.17 * 2.0
    assert [masks[t].sum() * voxel_um3 for t in range(4)] == pytest.approx([r["volume_um3"] for r in rows])
    outside = np.ones((64, 64), dtype=bool)
    outside[8:56, 8:56] = False  # (Y, X) outside the centre crop window: the network never predicts there
    assert not masks[:, :, outside].any()


def test_the_baseline_on_every_frame_when_asked(tiny_phantom, random_model, tmp_path):
    run_evaluating(tiny_phantom, tmp_path, random_model, baseline_frames="all")
    rows = read_rows(tmp_path / "volumes.csv")
    measured = [math.isfinite(r["baseline_volume_um3"]) for r in rows]
    assert rows and all(m != bool(note_of(r)) for m, r in zip(measured, rows, strict=True)) and any(measured)


def test_summaries_report_the_baseline_beside_the_network(evaluated):
    for name in ("summary_per_oocyte.csv", "summary_per_experiment.csv"):
        rows = read_rows(evaluated / name)
        assert {r["method"] for r in rows} == {"network", "baseline"}
    per_experiment = read_rows(evaluated / "summary_per_experiment.csv")
    assert {(r["method"], r["experiment"]) for r in per_experiment} == {
        (m, e) for m in ("network", "baseline") for e in ("exp1", "ALL")}
    summary = json.loads((evaluated / "summary.json").read_text())
    assert summary["methods"] == ["network", "baseline"]
    baseline_all = next(r for r in summary["per_experiment"] if r["method"] == "baseline" and r["experiment"] == "ALL")
    network_all = next(r for r in summary["per_experiment"] if r["method"] == "network" and r["experiment"] == "ALL")
    # the baseline's labelled frames are those it measured (on the tiny phantom's GVBD frames the classical method
    # finds no spindle and says so in baseline_note); the network's are all labelled frames
    rows = read_rows(evaluated / "volumes.csv")
    assert network_all["n_labelled"] == sum(r["has_label"] == 1 for r in rows) >= 1
    assert baseline_all["n_labelled"] == sum(r["has_label"] == 1 and math.isfinite(r["baseline_volume_um3"]) for r in rows)


def test_rerun_skips_finished_oocytes_and_redoes_unfinished_ones(evaluated, tiny_phantom, random_model):
    finished_mask = evaluated / "masks" / "exp1" / "oocyte01.tif"
    stamp = finished_mask.stat().st_mtime_ns
    (evaluated / "oocytes" / "exp1" / "oocyte02.csv").unlink()  # as if the run had died inside oocyte02
    assert [i["oocyte"] for i in evaluation_items(tiny_phantom, evaluated)] == ["oocyte02"] * 4
    run_evaluating(tiny_phantom, evaluated, random_model)
    assert finished_mask.stat().st_mtime_ns == stamp  # oocyte01 was not evaluated again
    assert (evaluated / "oocytes" / "exp1" / "oocyte02.csv").is_file()
    assert len(read_rows(evaluated / "volumes.csv")) == 8  # the report still covers both oocytes
    stamp2 = (evaluated / "masks" / "exp1" / "oocyte02.tif").stat().st_mtime_ns
    run_evaluating(tiny_phantom, evaluated, random_model)  # nothing left to do: only the reports are rebuilt
    assert (evaluated / "masks" / "exp1" / "oocyte02.tif").stat().st_mtime_ns == stamp2
    assert len(read_rows(evaluated / "volumes.csv")) == 8


def test_unlabelled_data_gives_volumes_and_plots_without_metrics(tiny_phantom, random_model, tmp_path):
    data = tmp_path / "unlabelled"
    shutil.copytree(tiny_phantom, data, ignore=shutil.ignore_patterns("*_masks", "ground_truth*"))
    (data / "gvbd.csv").unlink()  # new recordings may come without GVBD times too
    out = tmp_path / "out"
    run_evaluating(data, out, random_model, baseline=False, keep_largest_cc=False)
    rows = read_rows(out / "volumes.csv")
    assert len(rows) == 8
    assert all(r["has_label"] == 0 and math.isnan(r["dice"]) and math.isnan(r["rel_volume_error"]) for r in rows)
    assert all(math.isnan(r["minutes_since_gvbd"]) and r["volume_um3"] >= 0 for r in rows)
    assert "baseline_volume_um3" not in rows[0]
    assert (out / "plots" / "exp1_oocyte01.png").is_file()
    network_all = next(r for r in read_rows(out / "summary_per_experiment.csv") if r["experiment"] == "ALL")
    assert network_all["n_labelled"] == 0 and math.isnan(network_all["mean_dice"])


def test_per_frame_files_without_gvbd_table_and_the_otsu_baseline_finds_a_bright_box(random_model, tmp_path):
    # one oocyte stored as one ZCYX file per frame; the microtubule channel (1) holds a bright 20 x 12 x 4 box
    data = tmp_path / "data"
    rng = np.random.default_rng(0)
    for t in range(2):
        frame = rng.normal(200, 5, size=(6, 3, 64, 64)).clip(0).astype(np.uint16)  # Z, C, Y, X
        frame[2:6, 1, 26:38, 22:42] += 800
        write_imagej_hyperstack(data / "exp1" / "oocyte01" / f"t{t:04d}.tif", frame, "ZCYX", (0.2, 0.2, 1.5))
    out = tmp_path / "out"
    run_evaluating(data, out, random_model, baseline_method="otsu", baseline_sigma_vox=[0, 0, 0], crop_size=[64, 64, -1], baseline_frames="all")
    rows = read_rows(out / "volumes.csv")
    assert [r["frame"] for r in rows] == [0, 1]
    box_um3 = 20 * 12 * 4 * 0.2 * 0.2 * 1.5  # the file's own calibration, not the 0.17 / 2.0 default
    assert [r["baseline_volume_um3"] for r in rows] == pytest.approx([box_um3, box_um3])
    # Spindle3D's morphometry of the 4 x 2.4 x 6 um box: the axis is z (the longest); the poles are its ends (found
    # within a voxel of 0.25 um), moved inwards by up to 1 um each to the brightest blurred tubulin, which in a
    # uniform box lies away from its faces; across the axis, diameters from 2.4 (y) up to the rounded diagonal
    r = rows[0]
    assert 6.0 - 0.25 - 2 * 1.0 - 1e-6 <= r["baseline_length_um"] <= 6.0
    assert r["baseline_angle_deg"] == pytest.approx(90.0, abs=1.0)
    assert r["baseline_width_min_um"] == pytest.approx(2.4, abs=0.3)
    assert 3.75 <= r["baseline_width_max_um"] <= 4.7
    assert r["baseline_aspect_ratio"] == pytest.approx(r["baseline_length_um"] / r["baseline_width_avg_um"])
    assert math.isnan(r["baseline_plate_width_um"])  # no DNA channel read for the otsu baseline
    assert rows[0]["baseline_n_components"] == 1
    with tifffile.TiffFile(out / "masks" / "exp1" / "oocyte01.tif") as tif:
        assert tif.series[0].shape == (2, 6, 64, 64) and tif.imagej_metadata["spacing"] == pytest.approx(1.5)


def test_inference_config_alone_segments_without_reference_metrics(tiny_phantom, random_model, tmp_path):
    run_evaluating(tiny_phantom, tmp_path, random_model, config_file=bundle_configs("inference"))
    rows = read_rows(tmp_path / "volumes.csv")
    assert len(rows) == 8 and all(math.isfinite(r["volume_um3"]) for r in rows)
    assert all(r["has_label"] == 0 and math.isnan(r["dice"]) for r in rows)  # inference reads no reference masks
    assert "baseline_volume_um3" not in rows[0]


@pytest.mark.slow
def test_command_line_exactly_as_documented_from_any_folder(tiny_phantom, random_model, tmp_path):
    """The documented command with the configs' paths, run from a folder that is not bundle/, progress bar on."""
    configs = "['" + "','".join(EVALUATE) + "']"
    command = [sys.executable, "-m", "monai.bundle", "run", "evaluating", "--config_file", configs,
               "--dataset_dir", str(tiny_phantom), "--output_dir", str(tmp_path / "out"),
               "--model_path", str(random_model), "--crop_size", "[48,48,-1]"]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(read_rows(tmp_path / "out" / "volumes.csv")) == 8
    assert "exp1/oocyte02 (2/2 oocytes, 8/8 frames)" in result.stderr


def test_camera_offset_and_gain_change_no_mask(random_model, tmp_path):
    """Offsets of 0-2000 counts (or a float series shifted below 0) and gains of 0.5-4x carry no biology: the masks
    must be the same voxel for voxel.

    31 -> 32-like z padding happens here (7 -> 8 slices), the case where zero-padding before the standardisation
    let the offset into the statistics. fp32 so that 'the same' can mean identical.
    """
    from scripts.phantom import generate_dataset

    source = tmp_path / "source"
    generate_dataset(source, n_experiments=1, n_oocytes=1, n_frames=3, shape_xyz=(64, 64, 7), seed=4)
    series = tifffile.imread(source / "exp1" / "oocyte01.tif")  # TZCYX uint16
    assert series.shape[1] == 7 and int(series.max()) + 2000 <= 65535
    variants = {f"offset{o}": (series.astype(np.int64) + o).astype(np.uint16) for o in (0, 100, 400, 2000)}
    variants.update({f"gain{g}": series.astype(np.float32) * g for g in (0.5, 4.0)})
    variants["float_minus1000"] = series.astype(np.float32) - 1000.0  # float data with negative values
    masks = {}
    for name, array in variants.items():
        data = tmp_path / name
        write_imagej_hyperstack(data / "exp1" / "oocyte01.tif", array, "TZCYX", (0.17, 0.17, 2.0), 10.0)
        run_evaluating(data, tmp_path / f"out_{name}", random_model, config_file=bundle_configs("inference"),
                       precision="fp32", keep_largest_cc=False)
        masks[name] = tifffile.imread(tmp_path / f"out_{name}" / "masks" / "exp1" / "oocyte01.tif")
    reference = masks["offset0"]
    crop_voxels = 3 * 7 * 48 * 48  # the network sees the 48 x 48 centre of each frame
    assert 0 < reference.sum() < crop_voxels  # neither empty nor the whole crop, so that 'the same' means something
    for name, mask in masks.items():
        assert np.array_equal(mask, reference), f"{name}: {int((mask != reference).sum())} voxels differ from offset 0"


def test_a_rerun_with_other_settings_or_other_files_evaluates_again(tiny_phantom, random_model, tmp_path):
    """Skipping finished oocytes by name alone reported the OLD volumes after a corrected --channel or new files."""
    data = tmp_path / "data"
    shutil.copytree(tiny_phantom, data)
    out = tmp_path / "out"
    run_evaluating(data, out, random_model, baseline=False)
    masks = {o: out / "masks" / "exp1" / f"{o}.tif" for o in ("oocyte01", "oocyte02")}
    stamps = {o: m.stat().st_mtime_ns for o, m in masks.items()}
    record = json.loads((out / "oocytes" / "exp1" / "oocyte01.json").read_text())
    assert record["settings"]["channel"] == 1 and len(record["frames"]) == 4
    assert [Path(i["path"]).name for i in record["inputs"]][0] == "oocyte01.tif"

    run_evaluating(data, out, random_model, baseline=False)  # nothing changed: nothing evaluated again
    assert {o: m.stat().st_mtime_ns for o, m in masks.items()} == stamps

    run_evaluating(data, out, random_model, baseline=False, channel=0)  # the corrected channel
    assert all(m.stat().st_mtime_ns != stamps[o] for o, m in masks.items())
    assert json.loads((out / "oocytes" / "exp1" / "oocyte01.json").read_text())["settings"]["channel"] == 0

    stamps = {o: m.stat().st_mtime_ns for o, m in masks.items()}
    series = tifffile.imread(data / "exp1" / "oocyte02.tif")  # another recording under the same name
    write_imagej_hyperstack(data / "exp1" / "oocyte02.tif", series[:, :, :, ::-1], "TZCYX", (0.17, 0.17, 2.0), 10.0)
    run_evaluating(data, out, random_model, baseline=False, channel=0)
    assert masks["oocyte01"].stat().st_mtime_ns == stamps["oocyte01"]  # unchanged: skipped
    assert masks["oocyte02"].stat().st_mtime_ns != stamps["oocyte02"]  # new file: evaluated again


def test_a_datalist_in_the_dataset_folder_is_used_only_when_named(tiny_phantom, tmp_path, caplog):
    data = tmp_path / "data"
    shutil.copytree(tiny_phantom, data)
    one_frame = {"inference": [{"image": "exp1/oocyte02.tif", "frame": 3, "experiment": "exp1", "oocyte": "oocyte02",
                                "time_min": 30.0, "minutes_since_gvbd": 20.0}]}
    (data / "datalist.json").write_text(json.dumps(one_frame))  # as training leaves it
    with caplog.at_level("WARNING", logger="scripts.timeseries"):
        assert len(evaluation_items(data, tmp_path / "out")) == 8  # every frame of every oocyte
    assert "datalist.json is not used" in caplog.text and "--datalist_file" in caplog.text
    assert len(evaluation_items(data, tmp_path / "out", datalist_file=data / "datalist.json")) == 1


def test_provenance_changes_say_what_differs(tmp_path):
    image = tmp_path / "a.tif"
    image.write_bytes(b"x" * 10)
    items = [{"image": str(image), "frame": t, "time_min": 10.0 * t, "minutes_since_gvbd": None} for t in range(3)]
    stored = oocyte_provenance(items, {"channel": 1, "crop_size": [352, 352, -1]})
    assert provenance_changes(stored, oocyte_provenance(items, {"channel": 1, "crop_size": [352, 352, -1]})) == []
    assert provenance_changes(stored, oocyte_provenance(items, {"channel": 0, "crop_size": [352, 352, -1]})) == [
        "channel 1 -> 0"]
    image.write_bytes(b"y" * 11)
    assert provenance_changes(stored, oocyte_provenance(items, stored["settings"]))[0].startswith("1 input files differ")
    shifted = [{**it, "minutes_since_gvbd": 10.0 * it["frame"] - 20.0} for it in items]  # a GVBD frame added
    assert provenance_changes(oocyte_provenance(items, {}), oocyte_provenance(shifted, {}))[-1].startswith(
        "frames or their times differ")
    assert provenance_changes(None, stored) == ["no provenance record (finished by an older version)"]


def test_an_output_dir_that_is_a_file_and_a_datalist_naming_a_missing_file_are_named(tiny_phantom, tmp_path):
    not_a_folder = tmp_path / "results"
    not_a_folder.write_text("")
    with pytest.raises(NotADirectoryError, match=r"output_dir .*results is a file, expected a folder"):
        prepare_output_dir(not_a_folder, tmp_path / "model.pt")
    datalist = tmp_path / "datalist.json"
    datalist.write_text(json.dumps({"inference": [{"image": "exp1/oocyte09.tif", "frame": 0, "experiment": "exp1",
                                                   "oocyte": "oocyte09", "time_min": 0.0}]}))
    with pytest.raises(FileNotFoundError, match=r"datalist\.json \[inference\] names exp1/oocyte09 frame 0 with image "
                                                r".*oocyte09\.tif, which does not exist"):
        evaluation_items(tiny_phantom, tmp_path / "out", datalist_file=datalist)
