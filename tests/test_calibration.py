"""The calibrated volume band (scripts/calibrate_band.py): the split-conformal fit, its coverage, the command, the
config switch and what a rerun does with another calibration.

The maths on hand-built numbers (known scores, the (n + 1) rank, empty frames), coverage on exchangeable synthetic
frames (~ the target) and on frames that are not like the calibration frames (no guarantee: it fails), the command
on a hand-written evaluation folder, clear errors for a missing or corrupt file, the `evaluating` run on the
tiny phantom switching it on, off and to another calibration, and the calibration a training run writes beside its
weights (which frames, too few of them, the file evaluating then applies).
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import BUNDLE_DIR, bundle_configs
from monai.bundle import ConfigParser
from monai.bundle import run as bundle_run
from scripts.calibrate_band import (
    KIND,
    apply_band_calibration,
    band_calibration_for,
    band_coverage,
    calibrate_trained_model,
    calibration_identity,
    calibration_items,
    conformal_quantile,
    fit_quantile,
    load_band_calibration,
    main,
    nonconformity_scores,
)
from scripts.config import SHIPPED_MODELS
from scripts.io import file_sha256
from scripts.reports import read_rows


# ------------------------------------------------------------------------------------------------------ the maths
def test_scores_on_hand_built_frames():
    # lo 90, hi 110, volume 100: scale = max(20, 0.1 * 100, 10) = 20 um^3, the raw band's width
    assert nonconformity_scores([90], [110], [100], [130]).tolist() == pytest.approx([1.0])   # 20 above hi
    assert nonconformity_scores([90], [110], [100], [100]).tolist() == pytest.approx([-0.5])  # inside: negative
    assert nonconformity_scores([90], [110], [100], [40]).tolist() == pytest.approx([2.5])    # 50 below lo
    # a wide raw band (scale = its width 400) and a large volume (scale = 10 % of 1000 = 100)
    assert nonconformity_scores([800], [1200], [1000], [1400]).tolist() == pytest.approx([0.5])
    assert nonconformity_scores([990], [1010], [1000], [1210]).tolist() == pytest.approx([2.0])
    # a missed spindle (empty mask, reference 300 um^3) is scored against the 10 um^3 floor
    assert nonconformity_scores([0], [0], [0], [300]).tolist() == pytest.approx([30.0])
    assert nonconformity_scores([0], [0], [0], [300], floor_um3=50.0).tolist() == pytest.approx([6.0])


def test_the_quantile_is_the_n_plus_one_rank_not_the_plain_quantile():
    scores = np.arange(1.0, 11.0)  # n = 10: rank ceil(11 * 0.8) = 9, where the plain 80 % quantile would be 8
    assert conformal_quantile(scores[::-1], 0.8) == 9.0
    assert conformal_quantile(np.arange(1.0, 10.0), 0.8) == 8.0  # n = 9: rank ceil(10 * 0.8) = 8 exactly
    assert conformal_quantile([3.0, 1.0, 4.0, 2.0], 0.8) == 4.0  # n = 4: rank 4, the largest
    with pytest.raises(ValueError, match="3 scored frames are too few for 80% coverage.*at least 4"):
        conformal_quantile([1.0, 2.0, 3.0], 0.8)
    with pytest.raises(ValueError, match="coverage must lie between 0 and 1"):
        conformal_quantile(scores, 80)


def test_empty_frames_before_gvbd_are_left_out_of_the_fit():
    # 5 frames with a spindle, scores 1.0, 2.5, 2.0, 0.5, -0.5 -> rank ceil(6 * 0.8) = 5: Q = 2.5
    lo, hi, volume, ref = [90, 90, 990, 800, 90], [110, 110, 1010, 1200, 110], [100, 100, 1000, 1000, 100], \
        [130, 40, 1210, 1400, 100]
    fit = fit_quantile(lo, hi, volume, ref)
    assert (fit["quantile"], fit["n_frames"], fit["n_empty_frames_left_out"], fit["rank"]) == (2.5, 5, 0, 5)
    assert fit["raw_band_coverage"] == pytest.approx(0.2)
    empty = fit_quantile(lo + [0] * 20, hi + [0] * 20, volume + [0] * 20, ref + [0] * 20)
    assert (empty["quantile"], empty["n_frames"], empty["n_empty_frames_left_out"]) == (2.5, 5, 20)
    # counted, the 20 always-covered frames (score 0) would have pulled Q down to the rank-21 score of 25: 0
    assert conformal_quantile(nonconformity_scores(lo + [0] * 20, hi + [0] * 20, volume + [0] * 20, ref + [0] * 20),
                              0.8) == 0.0
    # a false spindle before GVBD (a mask, an empty reference) counts: lo 60 above V = 0, scale 20 -> 3.0, and
    # with n = 6 the rank is ceil(7 * 0.8) = 6
    false = fit_quantile(lo + [60], hi + [80], volume + [70], ref + [0])
    assert false["n_frames"] == 6 and false["quantile"] == pytest.approx(3.0)


def test_the_calibrated_band():
    calibration = {"quantile": 2.0, "rel_scale": 0.1, "floor_um3": 10.0}
    assert apply_band_calibration(90.0, 110.0, 100.0, calibration) == (50.0, 150.0)  # scale 20: +-40
    assert apply_band_calibration(990.0, 1010.0, 1000.0, calibration) == (790.0, 1210.0)  # scale 100: +-200
    assert apply_band_calibration(10.0, 30.0, 20.0, calibration) == (0.0, 70.0)  # clipped at 0
    assert apply_band_calibration(0.0, 0.0, 0.0, calibration) == (0.0, 20.0)  # an empty mask: up to Q * floor
    assert apply_band_calibration(90.0, 110.0, 100.0, None) == (90.0, 110.0)
    lo, hi = apply_band_calibration(math.nan, math.nan, 100.0, calibration)  # no band (baseline): none
    assert math.isnan(lo) and math.isnan(hi)
    # a negative fitted quantile (the raw band over-covers) is not applied: Q >= 0 keeps lo <= volume <= hi
    fit = fit_quantile([0, 0, 0, 0, 0], [500] * 5, [100] * 5, [100] * 5)
    assert fit["raw_quantile"] < 0 and fit["quantile"] == 0.0


def _synthetic_frames(rng, n, error_sd=0.15):
    """Frames like a network's: true volumes 100-1500 um^3, the mask's volume off by ~error_sd, a raw band of +-3 %
    (overconfident), some empty frames before GVBD."""
    ref = np.where(rng.random(n) < 0.2, 0.0, rng.uniform(100, 1500, n))
    volume = np.where(ref > 0, ref * np.exp(rng.normal(0, error_sd, n)), 0.0)
    return 0.97 * volume, 1.03 * volume, volume, ref


def test_coverage_on_exchangeable_frames_is_the_target_and_fails_on_other_frames():
    rng = np.random.default_rng(0)
    on_like, on_unlike, raw = [], [], []
    for _ in range(100):
        fit = fit_quantile(*_synthetic_frames(rng, 100))
        on_like.append(band_coverage(*_synthetic_frames(rng, 400), fit)["coverage_spindle_frames"])
        on_unlike.append(band_coverage(*_synthetic_frames(rng, 400, error_sd=0.45), fit)["coverage_spindle_frames"])
        raw.append(fit["raw_band_coverage"])
    # split conformal: mean coverage in [0.8, 0.8 + 1 / (n + 1)] over calibration draws (here n ~ 80 spindle frames)
    assert 0.79 < np.mean(on_like) < 0.83
    assert np.mean(raw) < 0.25  # the raw band was far from it
    assert np.mean(on_unlike) < 0.5  # frames with 3x larger errors than the calibration frames: no guarantee
    # empty frames (both empty) are covered, so the coverage over all frames is higher still
    fit = fit_quantile(*_synthetic_frames(rng, 100))
    assert band_coverage(*_synthetic_frames(rng, 400), fit)["coverage"] > 0.8


# ---------------------------------------------------------------------------------------------------- the command
def _evaluation_folder(folder: Path, rows, settings=None, sha="ab" * 32) -> Path:
    """An evaluation folder as `run evaluating` leaves it, as far as the fit reads it."""
    (folder / "oocytes" / "exp1").mkdir(parents=True)
    (folder / "model.json").write_text(json.dumps({"model_path": "model.pt", "sha256": sha}))
    settings = {"band_probability": 0.2, "flip_tta": False, "precision": "bf16", **(settings or {})}
    (folder / "oocytes" / "exp1" / "oocyte01.json").write_text(json.dumps({"settings": settings}))
    columns = ["experiment", "oocyte", "frame", "has_label", "ref_volume_um3", "volume_um3", "volume_lo_um3",
               "volume_hi_um3"]
    lines = [",".join(columns)] + [",".join(str(r.get(c, "")) for c in columns) for r in rows]
    (folder / "volumes.csv").write_text("\n".join(lines) + "\n")
    return folder / "volumes.csv"


HAND_ROWS = [  # the five frames of test_empty_frames_before_gvbd_are_left_out_of_the_fit, an empty one, an unlabelled one
    {"experiment": "exp1", "oocyte": "oocyte01", "frame": t, "has_label": 1, "ref_volume_um3": ref,
     "volume_um3": v, "volume_lo_um3": lo, "volume_hi_um3": hi}
    for t, (lo, hi, v, ref) in enumerate([(90, 110, 100, 130), (90, 110, 100, 40), (990, 1010, 1000, 1210),
                                          (800, 1200, 1000, 1400), (90, 110, 100, 100), (0, 0, 0, 0)])
] + [{"experiment": "exp2", "oocyte": "oocyte01", "frame": 0, "has_label": 0, "volume_um3": 100,
      "volume_lo_um3": 90, "volume_hi_um3": 110}]


def test_the_command_fits_and_records_what_it_was_fitted_on(tmp_path, capsys):
    volumes_csv = _evaluation_folder(tmp_path / "eval", HAND_ROWS)
    out = tmp_path / "band_calibration.json"
    assert main(["--volumes_csv", str(volumes_csv), "--out", str(out), "--description", "hand-built frames"]) == 0
    calibration = json.loads(out.read_text())
    assert calibration["kind"] == KIND and calibration["quantile"] == 2.5 and calibration["coverage"] == 0.8
    assert (calibration["n_frames"], calibration["n_empty_frames_left_out"]) == (5, 1)
    assert calibration["model_sha256"] == "ab" * 32 and calibration["band_probability"] == 0.2
    assert calibration["fitted_on"]["description"] == "hand-built frames"
    assert calibration["fitted_on"]["sources"] == [{"volumes_csv": str(volumes_csv), "frames_read": 7}]
    assert calibration["date"] and calibration["command"].startswith("python -m scripts.calibrate_band --volumes_csv")
    assert "max(lo - V, V - hi)" in calibration["score"]
    assert "Q = 2.500 from 5 frames" in capsys.readouterr().out
    # only some experiments: exp2 has no label, so nothing is left to fit on
    assert main(["--volumes_csv", str(volumes_csv), "--out", str(out), "--experiments", "exp2"]) == 1
    assert "no labelled frame with a volume band" in capsys.readouterr().err


def test_the_command_refuses_a_band_that_is_already_calibrated_or_absent(tmp_path, capsys):
    calibrated = _evaluation_folder(tmp_path / "a", HAND_ROWS, {"band_calibration": {"quantile": 1.0}})
    assert main(["--volumes_csv", str(calibrated), "--out", str(tmp_path / "c.json")]) == 1
    assert "already calibrated" in capsys.readouterr().err and not (tmp_path / "c.json").exists()
    no_band = _evaluation_folder(tmp_path / "b", HAND_ROWS, {"band_probability": None})
    assert main(["--volumes_csv", str(no_band), "--out", str(tmp_path / "c.json")]) == 1
    assert "no volume band" in capsys.readouterr().err
    (tmp_path / "lone").mkdir()
    (tmp_path / "lone" / "volumes.csv").write_text("experiment\n")
    assert main(["--volumes_csv", str(tmp_path / "lone" / "volumes.csv"), "--out", str(tmp_path / "c.json")]) == 1
    assert "model.json is missing" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------------- loading
def _calibration_file(path: Path, model_path: Path, quantile: float = 2.0, **extra) -> Path:
    record = {"kind": KIND, "quantile": quantile, "rel_scale": 0.1, "floor_um3": 10.0, "coverage": 0.8,
              "band_probability": 0.2, "flip_tta": False, "model_sha256": file_sha256(model_path), **extra}
    path.write_text(json.dumps(record))
    return path


def test_a_missing_or_corrupt_calibration_is_an_error_naming_the_file(tmp_path):
    model = tmp_path / "model.pt"
    model.write_bytes(b"weights")
    with pytest.raises(FileNotFoundError, match=r"band_calibration .*nowhere\.json does not exist.*null"):
        load_band_calibration(tmp_path / "nowhere.json", model, 0.2)
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"kind": "spindle volume band')
    with pytest.raises(ValueError, match=r"band_calibration .*corrupt\.json is not a volume-band calibration"):
        load_band_calibration(corrupt, model, 0.2)
    incomplete = tmp_path / "incomplete.json"
    incomplete.write_text(json.dumps({"kind": KIND, "quantile": 1.0}))
    with pytest.raises(ValueError, match=r"incomplete\.json is not a volume-band calibration \(keys .*rel_scale"):
        load_band_calibration(incomplete, model, 0.2)
    negative = _calibration_file(tmp_path / "negative.json", model, quantile="-1")
    with pytest.raises(ValueError, match=r"negative\.json .*quantile '-1' is not a finite number >= 0"):
        load_band_calibration(negative, model, 0.2)


def test_a_calibration_applies_only_to_what_it_was_fitted_for(tmp_path, caplog):
    model, other = tmp_path / "model.pt", tmp_path / "other.pt"
    model.write_bytes(b"weights")
    other.write_bytes(b"other weights")
    path = _calibration_file(tmp_path / "cal.json", model)
    calibration = load_band_calibration(path, model, 0.2, False)
    assert calibration["quantile"] == 2.0 and calibration_identity(calibration) == {
        "file_sha256": file_sha256(path), "quantile": 2.0}
    assert load_band_calibration("null", model, 0.2) is None and load_band_calibration(None, model, 0.2) is None
    assert load_band_calibration(path, model, None) is None  # no band, nothing to calibrate
    assert calibration_identity(None) is None
    with caplog.at_level("WARNING", logger="scripts.calibrate_band"):
        assert load_band_calibration(path, other, 0.2) is None
        assert load_band_calibration(path, model, 0.05) is None
        assert load_band_calibration(path, model, 0.2, flip_tta=True) is None
    assert caplog.text.count("is not applied, the volume band stays raw") == 3
    assert "other weights" in caplog.text and "band_probability 0.2, this run uses 0.05" in caplog.text


# ---------------------------------------------------------------------------------------------------- the configs
@pytest.mark.parametrize("model", sorted(SHIPPED_MODELS))
def test_the_config_switches_the_shipped_calibration_on_and_off(model):
    for names in (("inference",), ("inference", "evaluate")):
        parser = ConfigParser()
        parser.read_config(bundle_configs(*names))
        parser["model"] = model
        folder = BUNDLE_DIR / SHIPPED_MODELS[model]
        assert Path(parser.get_parsed_content("band_calibration")) == folder / "band_calibration.json"
        shipped = parser.get_parsed_content("band_calibration_fit")
        assert shipped is not None and shipped["quantile"] > 0  # fitted for the shipped weights: applied
        assert parser.get_parsed_content("run_settings")["band_calibration"] == calibration_identity(shipped)
        assert parser["handlers"][0]["band_calibration"] == "@band_calibration_fit"  # the writer applies it
        parser = ConfigParser()
        parser.read_config(bundle_configs(*names))
        parser["model"] = model
        parser["band_calibration"] = "null"  # as typed on the command line
        assert parser.get_parsed_content("band_calibration_fit") is None
        assert parser.get_parsed_content("run_settings")["band_calibration"] is None


@pytest.mark.parametrize("folder", sorted(SHIPPED_MODELS.values()))
def test_the_shipped_calibration_says_what_it_was_fitted_on(folder):
    calibration = json.loads((BUNDLE_DIR / folder / "band_calibration.json").read_text())
    assert calibration["model_sha256"] == file_sha256(BUNDLE_DIR / folder / "model.pt")
    assert calibration["band_probability"] == 0.2 and calibration["flip_tta"] is False
    assert calibration["fitted_on"]["description"] and calibration["n_frames"] >= 4 and calibration["date"]


def test_a_rerun_with_another_calibration_recomputes_the_band(tiny_phantom, random_model, tmp_path):
    out = tmp_path / "eval"
    settings = {"dataset_dir": str(tiny_phantom), "output_dir": str(out), "model_path": str(random_model),
                "crop_size": [48, 48, -1], "num_workers": 0, "montage_tiles": 0, "progress_bar": False,
                "baseline": False, "amtoc_channel": "null"}

    def run(calibration) -> list[dict]:
        bundle_run(run_id="evaluating", config_file=bundle_configs("inference", "evaluate"),
                   band_calibration=str(calibration) if calibration else "null", **settings)
        return read_rows(out / "volumes.csv")

    raw = run(None)
    records = [json.loads(p.read_text())["settings"] for p in sorted((out / "oocytes").glob("*/*.json"))]
    assert records and all(r["band_calibration"] is None for r in records)
    for quantile in (2.0, 5.0):  # a calibration, then another: the finished oocytes are evaluated again
        path = _calibration_file(tmp_path / f"cal_{quantile}.json", random_model, quantile)
        rows = run(path)
        assert len(rows) == len(raw)
        for r, r0 in zip(rows, raw, strict=True):
            expected = apply_band_calibration(r0["volume_lo_um3"], r0["volume_hi_um3"], r0["volume_um3"],
                                              {"quantile": quantile, "rel_scale": 0.1, "floor_um3": 10.0})
            assert (r["volume_lo_um3"], r["volume_hi_um3"]) == pytest.approx(expected)
            assert r["volume_um3"] == r0["volume_um3"]  # the masks do not change
        records = [json.loads(p.read_text())["settings"] for p in sorted((out / "oocytes").glob("*/*.json"))]
        assert all(r["band_calibration"] == {"file_sha256": file_sha256(path), "quantile": quantile} for r in records)


def test_the_calibration_benchmark_reuses_an_evaluation_only_with_the_same_weights_and_settings(tmp_path, monkeypatch):
    """benchmarks/band_calibration.py --set model=fast: an evaluation left in its work folder by other settings (the
    f32 network instead of the int8 model the fitted band will be used with) is run again, not reused."""
    import sys

    sys.path.insert(0, str(BUNDLE_DIR.parent / "benchmarks"))
    import band_calibration

    weights = tmp_path / "model.pt"
    weights.write_bytes(b"weights")
    calls = []

    def fake_run_evaluating(dataset_dir, output_dir, model_path, overlay, extra):
        calls.append(extra)
        output_dir.mkdir(parents=True)
        (output_dir / "volumes.csv").write_text("frame\n")
        (output_dir / "model.json").write_text(json.dumps({"sha256": file_sha256(model_path)}))
        return 1.0

    monkeypatch.setattr(band_calibration, "run_evaluating", fake_run_evaluating)
    out = tmp_path / "eval"
    for settings in (None, {}, {"model": "fast"}, {"model": "fast"}, None):
        band_calibration.evaluate(tmp_path, tmp_path / "list.json", out, weights, settings)
    assert len(calls) == 3  # plain, (plain reused), fast, (fast reused), plain again
    assert calls[1][-2:] == ["--model", "fast"] and "--model" not in calls[2]
    weights.write_bytes(b"other weights")
    band_calibration.evaluate(tmp_path, tmp_path / "list.json", out, weights)
    assert len(calls) == 4


# ------------------------------------------------------------------------------------------ after a training run
def _frame_items(phantom: Path, n: int) -> list[dict]:
    """Datalist items (paths relative to the dataset) of the first ``n`` frames of the tiny phantom, true masks."""
    items = []
    for oocyte in ("oocyte01", "oocyte02"):
        for frame in range(4):
            items.append({"image": f"exp1/{oocyte}.tif", "frame": frame, "experiment": "exp1", "oocyte": oocyte,
                          "label": f"ground_truth_masks/exp1/{oocyte}.tif"})
    return items[:n]


def test_the_weights_own_calibration_is_the_default_and_the_shipped_one_otherwise(tmp_path):
    model = tmp_path / "finetuned" / "model.pt"
    model.parent.mkdir()
    model.write_bytes(b"weights")
    shipped_dir = BUNDLE_DIR / "models"
    assert Path(band_calibration_for(model, shipped_dir)) == shipped_dir / "band_calibration.json"
    own = _calibration_file(model.parent / "band_calibration.json", model, quantile=3.0)
    assert Path(band_calibration_for(model, shipped_dir)) == own
    parser = ConfigParser()
    parser.read_config(bundle_configs("inference", "evaluate"))
    parser["model_path"] = str(model)
    assert Path(parser.get_parsed_content("band_calibration")) == own
    assert parser.get_parsed_content("band_calibration_fit")["quantile"] == 3.0  # fitted for these weights: applied


def test_a_run_calibrates_on_its_validation_frames_or_else_its_training_frames(tmp_path):
    items = _frame_items(Path("unused"), 8)
    datalist = tmp_path / "datalist.json"
    datalist.write_text(json.dumps({"training": items[:3], "validation": items[3:8]}))
    assert calibration_items(datalist, tmp_path) == (items[3:8], "validation")
    datalist.write_text(json.dumps({"training": items[:4], "validation": items[4:8]}))  # 4 held out: too few
    assert calibration_items(datalist, tmp_path) == (items[:8], "training and validation")  # every label of the run
    datalist.write_text(json.dumps({"training": items[:4]}))
    assert calibration_items(datalist, tmp_path) == (items[:4], "training")


def test_too_few_labelled_frames_leave_the_band_raw_and_remove_an_old_calibration(tiny_phantom, tmp_path, caplog):
    model = tmp_path / "model.pt"
    model.write_bytes(b"weights")
    stale = _calibration_file(tmp_path / "band_calibration.json", model)  # from an earlier run into this folder
    datalist = tmp_path / "datalist.json"
    datalist.write_text(json.dumps({"training": _frame_items(tiny_phantom, 3), "validation": []}))
    with caplog.at_level("WARNING"):
        assert calibrate_trained_model(model, tiny_phantom, datalist) is None
    assert not stale.exists() and not (tmp_path / "band_calibration_eval").exists()
    assert "is not calibrated: 3 labelled training frame(s), 4 needed for 80% coverage" in caplog.text


@pytest.mark.slow
def test_a_trained_model_gets_a_calibration_that_evaluating_applies(tiny_phantom, shipped_member_model, tmp_path):
    model = tmp_path / "run" / "model.pt"
    model.parent.mkdir()
    for name in ("model.pt", "provenance.json"):
        (model.parent / name).write_bytes((shipped_member_model.parent / name).read_bytes())
    datalist = tmp_path / "datalist.json"
    datalist.write_text(json.dumps({"training": _frame_items(tiny_phantom, 2), "validation":
                                    _frame_items(tiny_phantom, 8)[2:]}))  # 6 held out: the validation frames
    path = calibrate_trained_model(model, tiny_phantom, datalist, coverage=0.7)
    assert path == model.parent / "band_calibration.json"
    calibration = json.loads(path.read_text())
    assert calibration["model_sha256"] == file_sha256(model) and calibration["fitted_on"]["frames"] == "validation"
    assert calibration["evaluation_seconds"] > 0 and calibration["coverage"] == calibration["target_coverage"] == 0.7
    # the fit is the command's on the evaluation it left beside the weights: 6 frames, those empty in both left out
    rows = read_rows(model.parent / "band_calibration_eval" / "volumes.csv")
    assert len(rows) == 6 and all(r["has_label"] == 1 for r in rows)
    fit = fit_quantile(*(np.array([r[k] for r in rows], dtype=float) for k in
                         ("volume_lo_um3", "volume_hi_um3", "volume_um3", "ref_volume_um3")), coverage=0.7)
    assert calibration["quantile"] == pytest.approx(fit["quantile"])
    assert calibration["n_frames"] + calibration["n_empty_frames_left_out"] == 6
    parser = ConfigParser()
    parser.read_config(bundle_configs("inference", "evaluate"))
    parser["model_path"] = str(model)
    assert parser.get_parsed_content("band_calibration_fit")["quantile"] == pytest.approx(fit["quantile"])
    # only training frames (a lab's few labels): the fit asks the in-sample coverage of them
    datalist.write_text(json.dumps({"training": _frame_items(tiny_phantom, 8)[2:], "validation": []}))
    calibrate_trained_model(model, tiny_phantom, datalist, coverage=0.7, in_sample_coverage=0.75)
    calibration = json.loads(path.read_text())
    assert calibration["fitted_on"]["frames"] == "training" and calibration["coverage"] == 0.75
    assert calibration["target_coverage"] == 0.7
    assert calibration["quantile"] == pytest.approx(fit_quantile(*(np.array([r[k] for r in rows], dtype=float) for k in
                                                                   ("volume_lo_um3", "volume_hi_um3", "volume_um3",
                                                                    "ref_volume_um3")), coverage=0.75)["quantile"])
