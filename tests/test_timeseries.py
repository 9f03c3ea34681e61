"""The per-oocyte time-series evaluator: frame rows, streamed masks, reports, and the evaluating workflow.

A tiny phantom (1 experiment, 2 oocytes x 4 frames of 64 x 64 x 8 voxels) is generated once per module;
the workflow tests use a small randomly initialised network (plumbing) and the classical baseline.
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
import torch
from monai.bundle import run as bundle_run
from scripts.io import LoadFramed, write_imagej_hyperstack
from scripts.network import AnisotropicAttentionUNet
from scripts.phantom import generate_dataset
from scripts.timeseries import (
    AutocastInferer,
    MaskStreamWriter,
    TimeSeriesWriter,
    crop_window_xy,
    evaluation_items,
    flag_volume_jumps,
    read_rows,
    touches_window_border,
    volume_csv_columns,
    write_reports,
)

BUNDLE = Path(__file__).resolve().parents[1] / "bundle"
CONFIG = str(BUNDLE / "configs" / "evaluate.yaml")
SPACING = (0.17, 0.17, 2.0)
SMALL_NET = {"filters": [4, 8, 8, 16, 16]}  # same topology as the default, a fraction of the compute (unit tests)


# ---------------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    root = tmp_path_factory.mktemp("phantom")
    generate_dataset(root, n_experiments=1, n_oocytes=2, n_frames=4, shape_xyz=(64, 64, 8), seed=0,
                     write_true_masks=True)
    return root


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """Randomly initialised weights of the default network (evaluate.yaml builds train.yaml's network_def)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "model.pt"
    torch.save(AnisotropicAttentionUNet().state_dict(), path)
    return path


def run_evaluating(dataset_dir, output_dir, model_path, **overrides):
    """The `evaluating` run in-process from bundle/ (its macros name configs/train.yaml), crop shrunk to the phantom."""
    settings = {"dataset_dir": str(dataset_dir), "output_dir": str(output_dir), "model_path": str(model_path),
                "crop_size": [48, 48, -1], "num_workers": 0, "montage_tiles": 2}
    settings.update(overrides)
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(BUNDLE)
        bundle_run(run_id="evaluating", config_file=CONFIG, **settings)


def truth(phantom):
    with open(phantom / "ground_truth_volumes.csv") as f:
        return {(r["experiment"], r["oocyte"], int(r["frame"])): float(r["volume_um3"]) for r in csv.DictReader(f)}


# ---------------------------------------------------------------------------------------------------- units
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


def test_autocast_inferer_fp32_channels_last_matches_the_plain_forward_and_keeps_meta():
    from monai.data import MetaTensor

    torch.manual_seed(0)
    net = AnisotropicAttentionUNet(**SMALL_NET).eval()
    x = MetaTensor(torch.randn(1, 1, 32, 32, 4), meta={"spacing_um": (0.17, 0.17, 2.0)})
    with torch.no_grad():
        reference = net(x.as_tensor())
        fast = AutocastInferer(amp=False, channels_last=True)(x, net.to(memory_format=torch.channels_last_3d))
    assert fast.dtype == torch.float32 and fast.shape == (1, 1, 32, 32, 4)
    assert fast.meta["spacing_um"] == (0.17, 0.17, 2.0)
    assert torch.allclose(fast.as_tensor(), reference, atol=1e-5 * reference.abs().max().item())


def test_flip_tta_averages_the_probabilities_of_the_four_flips():
    torch.manual_seed(0)
    net = AnisotropicAttentionUNet(**SMALL_NET).eval()
    x = torch.randn(1, 1, 32, 48, 4)
    with torch.no_grad():
        probabilities = [torch.sigmoid(torch.flip(net(torch.flip(x, d)), d)) for d in ((), (2,), (3,), (2, 3))]
        expected = torch.logit(sum(probabilities) / 4)
        tta = AutocastInferer(amp=False, channels_last=False, flip_tta=True)(x, net)
        plain = AutocastInferer(amp=False, channels_last=False)(x, net)
    assert torch.allclose(tta, expected, atol=1e-4)
    assert not torch.allclose(tta, plain, atol=1e-3)  # a random network is not flip-symmetric: TTA changes something
    # a flip-equivariant network (a 1x1x1 convolution) gives the same logits with and without TTA
    pointwise = torch.nn.Conv3d(1, 1, 1).eval()
    with torch.no_grad():
        assert torch.allclose(AutocastInferer(amp=False, channels_last=False, flip_tta=True)(x, pointwise),
                              pointwise(x), atol=1e-4)


def test_flip_tta_switch_reaches_the_evaluate_inferer(monkeypatch):
    from monai.bundle import ConfigParser

    monkeypatch.chdir(BUNDLE)  # the config's macros name configs/train.yaml
    config = ConfigParser()
    config.read_config(CONFIG)
    config.update({"bundle_root": str(BUNDLE), "flip_tta": "true"})
    assert config.get_parsed_content("inferer").flip_tta is True
    config.update({"flip_tta": False})
    assert config.get_parsed_content("inferer", lazy=False).flip_tta is False


def test_montage_frames_spread_over_the_series_and_prefer_labelled_ones():
    from scripts.timeseries import _montage_frames

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


def test_perfect_prediction_reproduces_ground_truth_volumes_exactly(phantom, tmp_path):
    items = evaluation_items(phantom, tmp_path, skip_finished=False)
    truth_masks = {}

    def true_mask(item):  # the phantom's true mask of every frame, as (X, Y, Z)
        key = (item["experiment"], item["oocyte"])
        if key not in truth_masks:
            truth_masks[key] = tifffile.imread(phantom / "ground_truth_masks" / key[0] / f"{key[1]}.tif")
        return truth_masks[key][item["frame"]].transpose(2, 1, 0) > 0

    writer = TimeSeriesWriter(tmp_path, items, {"network": "pred", "baseline": "baseline"}, crop_size=[48, 48, -1],
                              montage_tiles=2)
    feed_frames(writer, items, true_mask)
    write_reports(tmp_path)

    rows = read_rows(tmp_path / "volumes.csv")
    expected = truth(phantom)
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


def test_interrupted_oocyte_leaves_no_partial_output(phantom, tmp_path):
    items = evaluation_items(phantom, tmp_path, skip_finished=False)
    writer = TimeSeriesWriter(tmp_path, items, {"network": "pred"}, crop_size=[48, 48, -1])
    feed_frames(writer, items[:2], lambda item: np.zeros((64, 64, 8), dtype=bool))
    with pytest.raises(RuntimeError, match="disk full"):
        writer.exception_raised(None, RuntimeError("disk full"))
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
    assert evaluation_items(phantom, tmp_path)[0]["oocyte"] == "oocyte01"  # so a rerun starts the oocyte again


def test_a_rerun_with_other_weights_refuses_to_mix_models(phantom, tmp_path):
    first, second = tmp_path / "first.pt", tmp_path / "second.pt"
    first.write_bytes(b"weights of the first model")
    second.write_bytes(b"weights of a retrained model")
    out = tmp_path / "eval"
    n_frames = len(evaluation_items(phantom, out, model_path=first))  # nothing finished: records the model
    (out / "oocytes" / "exp1").mkdir(parents=True)
    (out / "oocytes" / "exp1" / "oocyte01.csv").write_text("finished\n")  # as a finished oocyte leaves it
    assert len(evaluation_items(phantom, out, model_path=first)) < n_frames  # same weights: resume, skip it
    with pytest.raises(ValueError, match="finished oocytes of another model.*first.pt"):
        evaluation_items(phantom, out, model_path=second)
    # evaluating everything again is allowed, and the folder then belongs to the new model
    assert len(evaluation_items(phantom, out, skip_finished=False, model_path=second)) == n_frames
    assert len(evaluation_items(phantom, out, model_path=second)) < n_frames


def test_a_rerun_removes_what_a_killed_run_left_half_written(phantom, tmp_path):
    import subprocess
    import sys

    killed = subprocess.Popen([sys.executable, "-c", "pass"])
    killed.wait()
    leftover = tmp_path / "masks" / "exp1" / f".oocyte01.tif.pid{killed.pid}.a1b2c3.part"
    leftover.parent.mkdir(parents=True)
    leftover.write_bytes(b"\0" * 1000)  # SIGKILL gives atomic_path no chance to clean up
    assert evaluation_items(phantom, tmp_path)[0]["oocyte"] == "oocyte01"
    assert not leftover.exists()


# ---------------------------------------------------------------------------------------------------- workflow
@pytest.fixture(scope="module")
def evaluated(phantom, small_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("eval")
    run_evaluating(phantom, out, small_model)
    return out


def test_workflow_writes_a_row_for_every_frame_and_all_outputs(evaluated, phantom):
    rows = read_rows(evaluated / "volumes.csv")
    assert sorted((r["experiment"], r["oocyte"], r["frame"]) for r in rows) == sorted(truth(phantom))
    assert all(math.isfinite(r["volume_um3"]) for r in rows)
    # the baseline (baseline_frames: labelled by default) is measured exactly where a reference exists
    assert any(r["has_label"] == 1 for r in rows) and any(r["has_label"] == 0 for r in rows)
    assert all(math.isfinite(r["baseline_volume_um3"]) == (r["has_label"] == 1) for r in rows)
    with open(phantom / "gvbd.csv") as f:
        gvbd = {r["oocyte"]: int(r["gvbd_frame"]) for r in csv.DictReader(f)}
    assert all(r["minutes_since_gvbd"] == 10.0 * (r["frame"] - gvbd[r["oocyte"]]) for r in rows)
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


def test_the_baseline_on_every_frame_when_asked(phantom, small_model, tmp_path):
    run_evaluating(phantom, tmp_path, small_model, baseline_frames="all")
    rows = read_rows(tmp_path / "volumes.csv")
    assert rows and all(math.isfinite(r["baseline_volume_um3"]) for r in rows)


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
    assert baseline_all["n_labelled"] >= 1 and baseline_all["median_dice"] is not None


def test_rerun_skips_finished_oocytes_and_redoes_unfinished_ones(evaluated, phantom, small_model):
    finished_mask = evaluated / "masks" / "exp1" / "oocyte01.tif"
    stamp = finished_mask.stat().st_mtime_ns
    (evaluated / "oocytes" / "exp1" / "oocyte02.csv").unlink()  # as if the run had died inside oocyte02
    assert [i["oocyte"] for i in evaluation_items(phantom, evaluated)] == ["oocyte02"] * 4
    run_evaluating(phantom, evaluated, small_model)
    assert finished_mask.stat().st_mtime_ns == stamp  # oocyte01 was not evaluated again
    assert (evaluated / "oocytes" / "exp1" / "oocyte02.csv").is_file()
    assert len(read_rows(evaluated / "volumes.csv")) == 8  # the report still covers both oocytes
    stamp2 = (evaluated / "masks" / "exp1" / "oocyte02.tif").stat().st_mtime_ns
    run_evaluating(phantom, evaluated, small_model)  # nothing left to do: only the reports are rebuilt
    assert (evaluated / "masks" / "exp1" / "oocyte02.tif").stat().st_mtime_ns == stamp2
    assert len(read_rows(evaluated / "volumes.csv")) == 8


def test_unlabelled_data_gives_volumes_and_plots_without_metrics(phantom, small_model, tmp_path):
    data = tmp_path / "unlabelled"
    shutil.copytree(phantom, data, ignore=shutil.ignore_patterns("*_masks", "ground_truth*"))
    (data / "gvbd.csv").unlink()  # new recordings may come without GVBD times too
    out = tmp_path / "out"
    run_evaluating(data, out, small_model, baseline=False, keep_largest_cc=False)
    rows = read_rows(out / "volumes.csv")
    assert len(rows) == 8
    assert all(r["has_label"] == 0 and math.isnan(r["dice"]) and math.isnan(r["rel_volume_error"]) for r in rows)
    assert all(math.isnan(r["minutes_since_gvbd"]) and r["volume_um3"] >= 0 for r in rows)
    assert "baseline_volume_um3" not in rows[0]
    assert (out / "plots" / "exp1_oocyte01.png").is_file()
    network_all = next(r for r in read_rows(out / "summary_per_experiment.csv") if r["experiment"] == "ALL")
    assert network_all["n_labelled"] == 0 and math.isnan(network_all["mean_dice"])


def test_per_frame_files_without_gvbd_table_and_the_baseline_finds_a_bright_box(small_model, tmp_path):
    # one oocyte stored as one ZCYX file per frame; the microtubule channel (1) holds a bright 20 x 12 x 4 box
    data = tmp_path / "data"
    rng = np.random.default_rng(0)
    for t in range(2):
        frame = rng.normal(200, 5, size=(6, 3, 64, 64)).clip(0).astype(np.uint16)  # Z, C, Y, X
        frame[2:6, 1, 26:38, 22:42] += 800
        write_imagej_hyperstack(data / "exp1" / "oocyte01" / f"t{t:04d}.tif", frame, "ZCYX", (0.2, 0.2, 1.5))
    out = tmp_path / "out"
    run_evaluating(data, out, small_model, baseline_sigma_vox=[0, 0, 0], crop_size=[64, 64, -1], baseline_frames="all")
    rows = read_rows(out / "volumes.csv")
    assert [r["frame"] for r in rows] == [0, 1]
    box_um3 = 20 * 12 * 4 * 0.2 * 0.2 * 1.5  # the file's own calibration, not the 0.17 / 2.0 default
    assert [r["baseline_volume_um3"] for r in rows] == pytest.approx([box_um3, box_um3])
    # physical extents: z 4 x 1.5 = 6 um is the longest axis, then x 20 x 0.2 = 4 um
    assert rows[0]["baseline_length_um"] == pytest.approx(6.0) and rows[0]["baseline_width_um"] == pytest.approx(4.0)
    assert rows[0]["baseline_n_components"] == 1
    with tifffile.TiffFile(out / "masks" / "exp1" / "oocyte01.tif") as tif:
        assert tif.series[0].shape == (2, 6, 64, 64) and tif.imagej_metadata["spacing"] == pytest.approx(1.5)


def test_datalist_file_selects_its_inference_list(phantom, tmp_path):
    datalist = {"inference": [{"image": "exp1/oocyte02.tif", "frame": 3, "experiment": "exp1", "oocyte": "oocyte02",
                               "time_min": 30.0, "minutes_since_gvbd": 20.0}]}
    (tmp_path / "datalist.json").write_text(json.dumps(datalist))
    items = evaluation_items(phantom, tmp_path / "out", datalist_file=tmp_path / "datalist.json")
    assert items == [{**datalist["inference"][0], "image": str(phantom / "exp1" / "oocyte02.tif"), "index": 0}]


@pytest.mark.slow
def test_command_line_exactly_as_documented(phantom, small_model, tmp_path):
    command = [sys.executable, "-m", "monai.bundle", "run", "evaluating", "--config_file", "configs/evaluate.yaml",
               "--dataset_dir", str(phantom), "--output_dir", str(tmp_path), "--model_path", str(small_model),
               "--crop_size", "[48,48,-1]"]
    subprocess.run(command, cwd=BUNDLE, check=True, capture_output=True, timeout=600)
    assert len(read_rows(tmp_path / "volumes.csv")) == 8


def test_reports_merge_oocytes_evaluated_with_and_without_the_baseline(tmp_path):
    def oocyte_rows(oocyte, methods):
        row = {"experiment": "exp1", "oocyte": oocyte, "frame": 0, "time_min": 0.0, "minutes_since_gvbd": 0.0,
               "has_label": True, "ref_volume_um3": 10.0}
        for i, method in enumerate(methods):
            prefix = "" if i == 0 else f"{method}_"
            row.update({f"{prefix}volume_um3": 12.0, f"{prefix}abs_volume_error_um3": 2.0,
                        f"{prefix}rel_volume_error": 0.2, f"{prefix}dice": 0.9})
        return volume_csv_columns(methods), [row]

    from scripts.timeseries import _write_csv

    _write_csv(tmp_path / "oocytes" / "exp1" / "a.csv", *oocyte_rows("a", ["network", "baseline"]))
    _write_csv(tmp_path / "oocytes" / "exp1" / "b.csv", *oocyte_rows("b", ["network"]))
    report = write_reports(tmp_path)
    rows = read_rows(tmp_path / "volumes.csv")
    assert [r["oocyte"] for r in rows] == ["a", "b"]
    assert rows[0]["baseline_volume_um3"] == 12.0 and math.isnan(rows[1]["baseline_volume_um3"])
    overall = {r["method"]: r for r in report["per_experiment"] if r["experiment"] == "ALL"}
    assert overall["network"]["n_frames"] == 2 and overall["baseline"]["n_frames"] == 1
    assert overall["network"]["mae_um3"] == 2.0 and overall["network"]["median_abs_rel_volume_error"] == 0.2


def test_load_network_refuses_a_checkpoint_of_another_network_clearly(tmp_path):
    from scripts.network import AnisotropicAttentionUNet
    from scripts.timeseries import load_network

    trained_without_attention = tmp_path / "baseline_variant.pt"
    torch.save(AnisotropicAttentionUNet(variant="baseline").state_dict(), trained_without_attention)
    with pytest.raises(ValueError, match=r"(?s)baseline_variant.pt does not match the configured network .*Missing key.*variant"):
        load_network(AnisotropicAttentionUNet(variant="AD"), trained_without_attention, channels_last=False)


def test_load_network_refuses_a_pickled_object_clearly(tmp_path):
    from scripts.network import AnisotropicAttentionUNet
    from scripts.timeseries import load_network

    not_weights = tmp_path / "whole_model.pt"
    torch.save({"weights": object()}, not_weights)
    with pytest.raises(ValueError, match=r"whole_model.pt cannot be loaded as weights only"):
        load_network(AnisotropicAttentionUNet(), not_weights, channels_last=False)
