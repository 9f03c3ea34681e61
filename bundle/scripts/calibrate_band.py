"""A calibrated volume band: split conformal prediction on labelled frames (conformalized quantile regression style).

    python -m scripts.calibrate_band --volumes_csv EVAL/volumes.csv [EVAL2/volumes.csv ...] [--coverage 0.8]
        [--experiments EXP ...] [--description "what the frames are"] --out models/band_calibration.json

The raw band of volumes.csv (``volume_lo_um3`` .. ``volume_hi_um3``, ``scripts.metrics.volume_band_um3``) is read
off the network's probabilities and is overconfident: it misses the true volume on most frames. Given frames with
a reference volume V (an ``evaluating`` run on labelled data: ``ref_volume_um3`` and the raw band in its
volumes.csv), each frame gets the nonconformity score

    s = max(lo - V, V - hi) / scale,   scale = max(hi - lo, rel_scale * v, floor_um3)

(v = the mask's volume ``volume_um3``, known at inference time like lo and hi; s <= 0 where the raw band covers
V). Q is the ceil((n + 1) * coverage)-th smallest of the n scores, and the calibrated band of a new frame is

    [max(0, lo - Q * scale), hi + Q * scale].

If the new frame and the n calibration frames are exchangeable (drawn alike: same model, same kind of images,
same part of the series), its band covers its true volume with probability >= coverage (split conformal
prediction; Romano et al. 2019 for the quantile-band form). Nothing holds for frames unlike the calibration frames:
a calibration fitted on the house phantom says nothing about another microscope.

Choices:
- ``scale``: the raw band's width where the network is unsure; ``rel_scale`` (0.1) of the mask's volume where
  the raw band is narrow (errors grow with the spindle: ~0 before GVBD, ~1500 um^3 at the plateau, and a median
  relative error of ~7-11 % on the house phantom); ``floor_um3`` (10 um^3, ~170 voxels of 0.17 x 0.17 x 2 um,
  far below a spindle at GVBD, ~300 um^3) only for an empty mask or a speck, so that the score of a missed
  spindle is finite and the band of an empty frame is [0, Q * 10 um^3]: narrow enough (below the 50 um^3 of
  ``scripts.reports.review_reason``) that frames before GVBD are not all flagged as "wide volume band".
- Frames whose mask AND reference are both empty (before GVBD) are left out of the fit: their band [0, 0] covers
  V = 0 whatever Q is, so they carry no information about Q; counting them would lower Q and move the missing
  coverage onto the frames with a spindle. Leaving them out keeps the guarantee for the other frames (they are
  exchangeable among themselves) and makes it 100 % for these. An empty mask with a spindle in the reference
  (missed) or a mask where the reference is empty (false spindle) are scored like any frame.
- Q is never negative: a band that already covers more than asked is left as it is, so lo <= volume <= hi holds.
- At least ceil(1 / (1 - coverage)) - 1 scored frames are needed (4 for 80 %), else Q would be infinite.

The calibration is a property of one set of weights, one ``band_probability`` and one ``flip_tta`` setting: its
JSON records them (from the evaluation folder's model.json and provenance) and ``load_band_calibration`` applies it
only to the same; for other weights it warns and leaves the band raw (fit one for them with this command).

Weights trained or fine-tuned by the bundle get theirs at the end of the run (``calibrate_trained_model``, train.yaml
``calibrate_band``; on by default in finetune.yaml): ``band_calibration.json`` beside their ``model.pt``, which
inference.yaml uses by default for weights given by ``--model_path`` (``band_calibration_for``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import math
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scripts.config import is_null

logger = logging.getLogger(__name__)

DEFAULT_COVERAGE = 0.8
DEFAULT_REL_SCALE = 0.1
DEFAULT_FLOOR_UM3 = 10.0
KIND = "spindle volume band, split conformal"
SCORE = "s = max(lo - V, V - hi) / max(hi - lo, rel_scale * volume, floor_um3); band [max(0, lo - Q*scale), hi + Q*scale]"
REQUIRED_KEYS = ("kind", "quantile", "rel_scale", "floor_um3", "coverage", "band_probability", "model_sha256")


# ------------------------------------------------------------------------------------------------------ the maths
def band_scale(lo, hi, volume, rel_scale: float = DEFAULT_REL_SCALE, floor_um3: float = DEFAULT_FLOOR_UM3):
    """The per-frame unit of the band's widening (um^3): max(hi - lo, rel_scale * volume, floor_um3)."""
    lo, hi, volume = (np.asarray(a, dtype=float) for a in (lo, hi, volume))
    return np.maximum(np.maximum(hi - lo, rel_scale * volume), floor_um3)


def nonconformity_scores(lo, hi, volume, ref, rel_scale: float = DEFAULT_REL_SCALE,
                         floor_um3: float = DEFAULT_FLOOR_UM3) -> np.ndarray:
    """s = max(lo - ref, ref - hi) / scale per frame: how many scales the band must grow to cover the reference."""
    lo, hi, ref = (np.asarray(a, dtype=float) for a in (lo, hi, ref))
    return np.maximum(lo - ref, ref - hi) / band_scale(lo, hi, volume, rel_scale, floor_um3)


def trivially_covered(volume, ref) -> np.ndarray:
    """Frames with an empty mask and an empty reference (before GVBD): covered by any band, left out of the fit."""
    return (np.asarray(volume, dtype=float) <= 0) & (np.asarray(ref, dtype=float) <= 0)


def conformal_rank(n: int, coverage: float) -> int:
    """The rank k = ceil((n + 1) * coverage) of the split-conformal quantile among n scores (1-based)."""
    # the small tolerance keeps e.g. (9 + 1) * 0.8 = 8.000000000000002 at rank 8
    return math.ceil((n + 1) * coverage - 1e-9)


def min_calibration_frames(coverage: float) -> int:
    """The fewest scored frames whose conformal quantile for ``coverage`` is finite (4 for 80 %)."""
    return math.ceil(coverage / (1 - coverage) - 1e-9)


def conformal_quantile(scores: Sequence[float], coverage: float = DEFAULT_COVERAGE) -> float:
    """The k-th smallest score, k = ceil((n + 1) * coverage): the split-conformal quantile for ``coverage``."""
    if not 0.0 < coverage < 1.0:
        raise ValueError(f"coverage must lie between 0 and 1 (e.g. 0.8), found {coverage!r}")
    scores = np.sort(np.asarray(scores, dtype=float))
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite (a frame without a band or a reference volume?)")
    k = conformal_rank(len(scores), coverage)
    if k > len(scores):
        raise ValueError(f"{len(scores)} scored frames are too few for {coverage:.0%} coverage: the conformal "
                         f"quantile needs at least {min_calibration_frames(coverage)} (frames with an "
                         "empty mask and an empty reference do not count); label more frames")
    return float(scores[k - 1])


def apply_band_calibration(lo: float, hi: float, volume: float,
                           calibration: Mapping[str, Any] | None) -> tuple[float, float]:
    """The calibrated band (lo', hi') of one frame from its raw band and mask volume; unchanged without a
    calibration (None). NaN stays NaN (a frame or method without a band)."""
    if calibration is None or not (math.isfinite(lo) and math.isfinite(hi)):
        return lo, hi
    scale = float(band_scale(lo, hi, volume, calibration["rel_scale"], calibration["floor_um3"]))
    widen = float(calibration["quantile"]) * scale
    return max(0.0, lo - widen), hi + widen


def calibration_identity(calibration: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """What identifies a calibration in a run's settings (``run_settings``): a rerun with another one recomputes."""
    if calibration is None:
        return None
    return {"file_sha256": calibration.get("file_sha256"), "quantile": calibration["quantile"]}


# ----------------------------------------------------------------------------------------------- fit from frames
def frame_arrays(rows: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """The labelled frames of volumes.csv rows that have a raw band: lo, hi, volume, ref (um^3), as arrays."""
    from scripts.reports import as_float

    keep = [r for r in rows if all(math.isfinite(as_float(r.get(k))) for k in
                                   ("ref_volume_um3", "volume_um3", "volume_lo_um3", "volume_hi_um3"))]
    return {name: np.array([as_float(r.get(key)) for r in keep], dtype=float)
            for name, key in (("lo", "volume_lo_um3"), ("hi", "volume_hi_um3"), ("volume", "volume_um3"),
                              ("ref", "ref_volume_um3"))} | {"keys": [(r["experiment"], r["oocyte"], r["frame"])
                                                                       for r in keep]}


def fit_quantile(lo, hi, volume, ref, coverage: float = DEFAULT_COVERAGE, rel_scale: float = DEFAULT_REL_SCALE,
                 floor_um3: float = DEFAULT_FLOOR_UM3) -> dict[str, Any]:
    """Q and the fit's counts from labelled frames (arrays of raw band, mask volume and reference volume)."""
    lo, hi, volume, ref = (np.asarray(a, dtype=float) for a in (lo, hi, volume, ref))
    trivial = trivially_covered(volume, ref)
    scores = nonconformity_scores(lo[~trivial], hi[~trivial], volume[~trivial], ref[~trivial], rel_scale, floor_um3)
    raw_q = conformal_quantile(scores, coverage)
    return {"quantile": max(0.0, raw_q), "raw_quantile": raw_q, "rank": conformal_rank(len(scores), coverage),
            "n_frames": int(len(scores)), "n_empty_frames_left_out": int(trivial.sum()),
            "raw_band_coverage": float(np.mean(scores <= 0)), "coverage": coverage, "rel_scale": rel_scale,
            "floor_um3": floor_um3}


def band_coverage(lo, hi, volume, ref, calibration: Mapping[str, Any] | None) -> dict[str, Any]:
    """Coverage and width of the (calibrated) band on labelled frames: all frames, and the frames with a spindle
    in the reference; median relative width (hi - lo) / V over the covered frames with V > 0."""
    lo, hi, volume, ref = (np.asarray(a, dtype=float) for a in (lo, hi, volume, ref))
    bands = np.array([apply_band_calibration(a, b, v, calibration) for a, b, v in zip(lo, hi, volume, strict=True)],
                     dtype=float).reshape(-1, 2)
    covered = (bands[:, 0] <= ref) & (ref <= bands[:, 1])
    spindle = ref > 0
    rel_width = (bands[:, 1] - bands[:, 0])[covered & spindle] / ref[covered & spindle]
    return {"n_frames": int(len(ref)), "coverage": float(covered.mean()) if len(ref) else math.nan,
            "n_spindle_frames": int(spindle.sum()),
            "coverage_spindle_frames": float(covered[spindle].mean()) if spindle.any() else math.nan,
            "median_rel_width_covered": float(np.median(rel_width)) if len(rel_width) else math.nan,
            "median_width_um3": float(np.median(bands[:, 1] - bands[:, 0])) if len(ref) else math.nan}


def evaluation_record(volumes_csv: Path) -> dict[str, Any]:
    """What produced an evaluation folder's bands: the weights' sha256 (model.json) and the run settings of its
    finished oocytes (band_probability, flip_tta, precision, band_calibration); all oocytes must agree."""
    folder = volumes_csv.parent
    model_json = folder / "model.json"
    if not model_json.is_file():
        raise FileNotFoundError(f"{model_json} is missing: give the volumes.csv of an evaluation folder as `run "
                                "evaluating` writes it (model.json and oocytes/ beside it tell which weights and "
                                "band settings made the band)")
    settings = [json.loads(p.read_text()).get("settings", {}) for p in sorted((folder / "oocytes").glob("*/*.json"))]
    if not settings:
        raise FileNotFoundError(f"{folder / 'oocytes'} holds no finished oocyte's record: is {volumes_csv} from a "
                                "finished `run evaluating`?")
    record = {"model_sha256": json.loads(model_json.read_text())["sha256"]}
    for key in ("band_probability", "flip_tta", "precision", "band_calibration"):
        values = {json.dumps(s.get(key)) for s in settings}
        if len(values) > 1:
            raise ValueError(f"{folder}: the oocytes were evaluated with different {key} ({sorted(values)}); "
                             "evaluate them with one setting")
        record[key] = json.loads(values.pop())
    if record["band_probability"] is None:
        raise ValueError(f"{volumes_csv}: the run wrote no volume band (band_probability null): evaluate with a band")
    if record["band_calibration"] is not None:
        raise ValueError(f"{volumes_csv}: its band is already calibrated ({record['band_calibration']}); the fit "
                         "needs the raw band: evaluate again with --band_calibration null")
    return record


def fit_band_calibration(volumes_csvs: Sequence[str | Path], coverage: float = DEFAULT_COVERAGE,
                         rel_scale: float = DEFAULT_REL_SCALE, floor_um3: float = DEFAULT_FLOOR_UM3,
                         experiments: Sequence[str] | None = None, description: str = "") -> dict[str, Any]:
    """The calibration (a JSON-ready dict) fitted on the labelled frames of one or more evaluation runs."""
    from scripts.reports import read_rows

    rows, records, sources = [], [], []
    for path in map(Path, volumes_csvs):
        if not path.is_file():
            raise FileNotFoundError(f"volumes_csv {path} does not exist")
        records.append(evaluation_record(path))
        these = [r for r in read_rows(path) if not experiments or r["experiment"] in set(experiments)]
        rows += these
        sources.append({"volumes_csv": str(path), "frames_read": len(these)})
    for key in ("model_sha256", "band_probability", "flip_tta"):
        if len({json.dumps(r[key]) for r in records}) > 1:
            raise ValueError(f"the evaluation runs differ in {key}: fit one calibration per model and band setting")
    frames = frame_arrays(rows)
    if not len(frames["ref"]):
        raise ValueError(f"no labelled frame with a volume band in {', '.join(map(str, volumes_csvs))}"
                         + (f" (experiments {list(experiments)})" if experiments else "")
                         + ": evaluate labelled data with evaluate.yaml (ref_volume_um3 and volume_lo/hi_um3)")
    fit = fit_quantile(frames["lo"], frames["hi"], frames["volume"], frames["ref"], coverage, rel_scale, floor_um3)
    oocytes = sorted({(e, o) for e, o, _ in frames["keys"]})
    return {
        "kind": KIND, "score": SCORE, **fit,
        "model_sha256": records[0]["model_sha256"], "band_probability": records[0]["band_probability"],
        "flip_tta": records[0]["flip_tta"], "precision": records[0]["precision"],
        "fitted_on": {"description": description, "sources": sources, "experiments": sorted({e for e, _ in oocytes}),
                      "n_oocytes": len(oocytes), "n_labelled_frames": int(len(frames["ref"]))},
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }


# ---------------------------------------------------------------------------------------------------- loading
def load_band_calibration(path: str | Path | None, model_path: str | Path | None = None,
                          band_probability: float | None = None, flip_tta: bool | None = None) -> dict | None:
    """The calibration to apply (``configs/inference.yaml``'s ``band_calibration``), read once at config time.

    None (the raw band) for a null / "" / "none" path, or when the run writes no band (``band_probability``
    None). A missing or unreadable file is an error naming it. A calibration fitted for other weights (sha256 of
    ``model_path``), another ``band_probability`` or ``flip_tta`` setting is not applied: a warning says so and the
    band stays raw. The returned dict carries ``file_sha256`` (``calibration_identity``).
    """
    if is_null(path):
        return None
    if band_probability is None:
        return None
    from scripts.io import file_sha256

    path = Path(str(path))
    fix = ("fit one with `python -m scripts.calibrate_band --volumes_csv EVAL/volumes.csv --out FILE` or pass "
           "--band_calibration null for the raw band")
    if not path.is_file():
        raise FileNotFoundError(f"band_calibration {path} does not exist: {fix}")
    try:
        calibration = json.loads(path.read_text())
        missing = [k for k in REQUIRED_KEYS if k not in calibration]
        if missing:
            raise ValueError(f"keys {missing} are missing")
        if calibration["kind"] != KIND:
            raise ValueError(f"kind is {calibration['kind']!r}, expected {KIND!r}")
        for key in ("quantile", "rel_scale", "floor_um3"):
            number = float(calibration[key])
            if not (math.isfinite(number) and number >= 0):
                raise ValueError(f"{key} {calibration[key]!r} is not a finite number >= 0")
            calibration[key] = number
        if calibration["floor_um3"] <= 0:
            raise ValueError("floor_um3 must be > 0")
    except (ValueError, TypeError, UnicodeDecodeError) as exc:  # json.JSONDecodeError is a ValueError
        raise ValueError(f"band_calibration {path} is not a volume-band calibration ({exc}): {fix}") from exc
    calibration["file_sha256"] = file_sha256(path)
    mismatches = []
    if model_path is not None and Path(str(model_path)).is_file() and file_sha256(model_path) != calibration["model_sha256"]:
        mismatches.append(f"it was fitted for other weights (sha256 {calibration['model_sha256'][:12]}...) than "
                          f"{model_path}")
    if not math.isclose(float(calibration["band_probability"]), float(band_probability)):
        mismatches.append(f"it was fitted for band_probability {calibration['band_probability']}, this run uses "
                          f"{band_probability}")
    if flip_tta is not None and bool(calibration.get("flip_tta", False)) != bool(flip_tta):
        mismatches.append(f"it was fitted with flip_tta {calibration.get('flip_tta')}, this run uses {flip_tta}")
    if mismatches:
        logger.warning(f"band_calibration {path} is not applied, the volume band stays raw (not calibrated): "
                       f"{'; '.join(mismatches)}. To calibrate it, {fix.split(' or pass')[0]} from an evaluation of "
                       "labelled frames with these settings")
        return None
    return calibration


def band_calibration_for(model_path: str | Path, model_dir: str | Path) -> str:
    """inference.yaml's default ``band_calibration``: ``band_calibration.json`` beside the weights (written with them
    by a training or fine-tuning run), else the shipped model's (``model_dir``), which ``load_band_calibration``
    applies to the shipped weights only."""
    beside = Path(str(model_path)).parent / "band_calibration.json"
    return str(beside if beside.is_file() else Path(str(model_dir)) / "band_calibration.json")


# ----------------------------------------------------------------------------------------- after a training run
MIN_VALIDATION_FRAMES = 5
IN_SAMPLE_COVERAGE = 0.9


def calibration_items(datalist_file: str | Path, dataset_dir: str | Path,
                      min_validation_frames: int = MIN_VALIDATION_FRAMES) -> tuple[list[dict], str]:
    """(items, which) of the labelled frames a trained model's band is calibrated on: the run's validation frames
    (never trained on) when there are at least ``min_validation_frames``, else every labelled frame of the run, its
    training frames with those few validation ones (a lab's 10 labels split 8:2 give 10 frames: enough for the
    in-sample 90 % that ``calibrate_trained_model`` then asks, as measured with 10 trained-on labels).
    Items as stored in the datalist (paths relative to the dataset folder)."""
    with open(datalist_file) as f:
        datalist = json.load(f)
    validation = datalist.get("validation") or []
    if len(validation) >= min_validation_frames:
        return validation, "validation"
    training = datalist.get("training") or []
    return (training + validation, "training and validation") if validation else (training, "training")


def calibrate_trained_model(model_path: str | Path, dataset_dir: str | Path, datalist_file: str | Path,
                            channel: int = 1, default_spacing_um: Sequence[float] = (0.17, 0.17, 2.0),
                            coverage: float = DEFAULT_COVERAGE, in_sample_coverage: float = IN_SAMPLE_COVERAGE,
                            min_validation_frames: int = MIN_VALIDATION_FRAMES) -> Path | None:
    """``band_calibration.json`` beside a run's best weights ``model_path``: ``run evaluating`` of those weights on
    the labelled frames of ``calibration_items`` (inference.yaml + evaluate.yaml, raw band, in the folder
    ``band_calibration_eval`` beside them: its volumes.csv and QC show how the model does on them), then the split-
    conformal fit, for ``coverage`` on validation frames. On training frames the fit asks ``in_sample_coverage``
    (where they are enough for it, else ``coverage``): the weights have fitted those frames, so a band that covers
    80 % of them covers less of new recordings (measured on the held-out renderer labs after fine-tuning on 10
    labels: 79 % pooled, 50-91 % per lab and test set, against 84 %, 74-94 %, asking 90 %; training_state/s39/
    band_rule.md). Returns the file, or None where the frames are too few for ``coverage`` (a warning; any older
    calibration there is removed, so the band of these weights stays raw). In a multi-process run only the first
    process calibrates."""
    import os
    import shutil
    import subprocess
    import time

    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_rank() != 0:
        return None
    model_path, dataset_dir = Path(model_path), Path(dataset_dir)
    target = model_path.parent / "band_calibration.json"
    items, which = calibration_items(datalist_file, dataset_dir, min_validation_frames)
    needed = min_calibration_frames(coverage)
    if len(items) < needed:
        target.unlink(missing_ok=True)
        logger.warning(f"the volume band of {model_path} is not calibrated: {len(items)} labelled {which} "
                       f"frame(s), {needed} needed for {coverage:.0%} coverage (label more frames; its band stays raw)")
        return None
    eval_dir = model_path.parent / "band_calibration_eval"
    shutil.rmtree(eval_dir, ignore_errors=True)  # an earlier run's frames must not enter this fit
    eval_dir.mkdir(parents=True)
    frames_list = eval_dir / "calibration_datalist.json"
    frames_list.write_text(json.dumps({"calibration": items}, indent=1) + "\n")
    bundle = Path(__file__).resolve().parent.parent
    configs = [str(bundle / "configs" / "inference.yaml"), str(bundle / "configs" / "evaluate.yaml")]
    cmd = [sys.executable, "-m", "monai.bundle", "run", "evaluating", "--config_file", repr(configs),
           "--logging_file", str(bundle / "configs" / "logging.conf"), "--dataset_dir", str(dataset_dir),
           "--datalist_file", str(frames_list), "--datalist_subset", "calibration",
           "--model_path", str(model_path), "--output_dir", str(eval_dir), "--band_calibration", "null",
           "--channel", str(int(channel)), "--default_spacing_um", repr([float(v) for v in default_spacing_um]),
           "--baseline", "false", "--amtoc_channel", "null", "--skip_finished", "false", "--progress_bar", "false"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(bundle), os.environ.get("PYTHONPATH", "")])}
    logger.info(f"calibrating the volume band of {model_path} on its {len(items)} labelled {which} frames")
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{(proc.stdout + proc.stderr)[-3000:]}\nthe trained weights {model_path} are "
                           f"complete; calibrating their volume band failed (above; command: {shlex.join(cmd)})")
    description = (f"the {len(items)} labelled {which} frames of the run that trained these weights "
                   f"({'held out from training' if which == 'validation' else 'mostly trained on: in-sample'})")
    asked = [coverage] if which == "validation" else [in_sample_coverage, coverage]
    calibration = None
    for fit_coverage in asked:
        try:
            calibration = fit_band_calibration([eval_dir / "volumes.csv"], fit_coverage, description=description)
            break
        except ValueError as exc:  # too few frames (those empty in mask and reference are left out)
            error = exc
    if calibration is None:
        target.unlink(missing_ok=True)
        logger.warning(f"the volume band of {model_path} is not calibrated ({error}); its band stays raw")
        return None
    calibration["fitted_on"]["frames"] = which
    calibration["target_coverage"] = coverage
    calibration["evaluation_seconds"] = round(seconds, 1)
    write_calibration(calibration, target)
    logger.info(f"{target}: Q = {calibration['quantile']:.3f} for {calibration['coverage']:.0%} of "
                f"{calibration['n_frames']} {which} frames (evaluated in {seconds:.0f} s); `run evaluating "
                f"--model_path {model_path}` applies it")
    return target


def write_calibration(calibration: Mapping[str, Any], path: str | Path) -> None:
    from scripts.io import atomic_path

    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(calibration, indent=1) + "\n")


# ---------------------------------------------------------------------------------------------------- command
def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--volumes_csv", nargs="+", required=True,
                        help="volumes.csv of one or more `run evaluating` folders on labelled frames, with the raw band")
    parser.add_argument("--out", required=True, help="the calibration JSON to write (inference.yaml: --band_calibration)")
    parser.add_argument("--coverage", type=float, default=DEFAULT_COVERAGE, help="target coverage (default 0.8)")
    parser.add_argument("--experiments", nargs="+", default=None, help="fit on these experiments only")
    parser.add_argument("--rel_scale", type=float, default=DEFAULT_REL_SCALE,
                        help="scale floor as a fraction of the mask's volume (default 0.1)")
    parser.add_argument("--floor_um3", type=float, default=DEFAULT_FLOOR_UM3, help="smallest scale in um^3 (10)")
    parser.add_argument("--description", default="", help="what the calibration frames are, stored in the JSON")
    args = parser.parse_args(argv)
    try:
        if args.rel_scale < 0 or args.floor_um3 <= 0:
            raise ValueError("--rel_scale must be >= 0 and --floor_um3 > 0")
        calibration = fit_band_calibration(args.volumes_csv, args.coverage, args.rel_scale, args.floor_um3,
                                           args.experiments, args.description)
        calibration["command"] = "python -m scripts.calibrate_band " + shlex.join(
            sys.argv[1:] if argv is None else argv)
    except (OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    write_calibration(calibration, args.out)
    print(f"{args.out}: Q = {calibration['quantile']:.3f} from {calibration['n_frames']} frames "
          f"({calibration['n_empty_frames_left_out']} empty frames left out); the raw band covered "
          f"{calibration['raw_band_coverage']:.0%} of them, the calibrated one covers >= {args.coverage:.0%} of new "
          "frames like them")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
