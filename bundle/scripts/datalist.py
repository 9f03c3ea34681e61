"""Scan a dataset folder into a datalist with the thesis' stratified split.

Dataset layout (either per oocyte, both may be mixed within a dataset)::

    DATASET/gvbd.csv                          experiment,oocyte,gvbd_frame
    DATASET/EXPERIMENT/OOCYTE.tif             TZCYX hyperstack (ImageJ or OME-TIFF)
    DATASET/EXPERIMENT/OOCYTE/t0000.tif       or one ZCYX / ZYX file per frame
    DATASET/EXPERIMENT/OOCYTE_masks/t0012.tif spindle mask of frame 12 (or t0012.nii.gz)

``ground_truth_volumes.csv`` and ``ground_truth_masks/`` (written by the phantom) are ignored.

The scan reads every image and mask header (never pixels; a few ms per file) and refuses, naming the file
and frame: series without 3D frames or with unknown axes, complex pixels, absurd calibration; per-frame
files of one oocyte that differ in shape, channels or calibration, or that hold several time points; masks
whose header does not describe the image's (X, Y, Z) grid. Errors and what to do: docs/README.md, "Troubleshooting".

Split (thesis, chapter 5): the test set is one oocyte per experiment, drawn with ``seed``; an oocyte's
frames are never on both sides. The labelled frames of all other oocytes are split ``1 - val_fraction``
: ``val_fraction`` into training and validation at frame level. Lists written:

- ``training`` / ``validation``: labelled frames of the non-test oocytes;
- ``testing``: labelled frames of the test oocytes;
- ``inference``: every frame of the test oocytes (with ``label`` where one exists).

Item: ``{"image": "exp1/oocyte03.tif", "frame": 42, "label": "exp1/oocyte03_masks/t0042.tif",
"experiment": "exp1", "oocyte": "oocyte03", "time_min": 420.0, "minutes_since_gvbd": 120.0}``, paths
relative to the dataset folder. Load lists with :func:`load_datalist`, not MONAI's
``load_decathlon_datalist``: the latter turns any value naming an existing path (an experiment called
``exp1`` is a folder) into a path.

CLI: ``python -m scripts.datalist --dataset_dir DIR --out datalist.json [--seed 0] [--val_fraction 0.2]
[--dense_labels_dir ground_truth_masks]``
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import unicodedata
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scripts.io import (
    NIFTI_SUFFIXES,
    TIFF_SUFFIXES,
    ImageInfo,
    SpindleDataError,
    atomic_path,
    check_image_info,
    inspect_image,
    spatial_shape_xyz,
)

GVBD_TABLE = "gvbd.csv"
IGNORED_ENTRIES = {"ground_truth_masks", "ground_truth_volumes.csv", GVBD_TABLE}
MASK_DIR_SUFFIX = "_masks"
_FRAME_FILE = re.compile(r"^t(\d+)\.(" + "|".join(re.escape(s) for s in TIFF_SUFFIXES + NIFTI_SUFFIXES) + r")$",
                         re.IGNORECASE)
_SERIES_FILE = re.compile(r"^(.+?)\.(" + "|".join(re.escape(s) for s in TIFF_SUFFIXES) + r")$", re.IGNORECASE)


@dataclass
class OocyteSeries:
    """One oocyte's time series as found on disk (paths relative to the dataset folder)."""

    experiment: str
    oocyte: str
    images: dict[int, str]  # frame -> image file (the hyperstack for every frame, or the frame's own file)
    labels: dict[int, str] = field(default_factory=dict)  # frame -> mask file
    frame_interval_min: float | None = None  # from the file's metadata, None if it has none
    shape_xyz: tuple[int, int, int] | None = None  # (X, Y, Z) voxels of every frame, from the headers


# Relative tolerance for "the same calibration" across the per-frame files of one oocyte (float rounding
# of resolution rationals, not a different microscope setting).
SPACING_RTOL = 1e-3


def _check_same_layout(first: ImageInfo, other: ImageInfo, frame: int, first_frame: int) -> None:
    """Per-frame files of one oocyte must agree on frame shape, channels and calibration: the network, the
    crop and the volume (um^3) assume one voxel grid per oocyte. Header-only."""
    where = f"{other.path} (frame {frame})"
    ref = f"as in {first.path.name} (frame {first_frame}) of the same oocyte"
    if spatial_shape_xyz(other) != spatial_shape_xyz(first):
        raise SpindleDataError(f"{where}: frame shape differs within one oocyte: expected (X, Y, Z) = "
                               f"{spatial_shape_xyz(first)} {ref}, found {spatial_shape_xyz(other)}")
    if other.n_channels != first.n_channels:
        raise SpindleDataError(f"{where}: number of channels differs within one oocyte: expected "
                               f"{first.n_channels} {ref}, found {other.n_channels} (axes {other.axes!r})")
    for axis, a, b in zip("xyz", first.spacing_um, other.spacing_um, strict=True):
        same = (a is None and b is None) or (a is not None and b is not None and abs(a - b) <= SPACING_RTOL * abs(a))
        if not same:
            raise SpindleDataError(f"{where}: calibration differs within one oocyte: expected {axis} spacing "
                                   f"{a} um {ref}, found {b} um")


def _check_mask_header(mask_path: Path, frame: int, image_shape_xyz: tuple[int, int, int],
                       image_layout: Sequence[str] = ()) -> None:
    """A mask's header must describe the image's voxel grid; a reversed shape hints at an XYZ/ZYX mix-up, and
    ``image_layout`` (``implausible_layout`` of the image) at an image whose axes are mixed up."""
    info = inspect_image(mask_path)
    try:
        found = spatial_shape_xyz(info, mask=True)
    except SpindleDataError as exc:
        raise SpindleDataError(f"{mask_path} (frame {frame}): not a 3D mask: {exc}") from exc
    if "C" in info.axes and info.n_channels > 1:
        raise SpindleDataError(f"{mask_path} (frame {frame}): a mask must have one channel, found axes "
                               f"{info.axes!r} shape {info.shape}")
    if found != tuple(image_shape_xyz):
        hint = (" (the mask's axes look reversed: save it as ZYX, as ImageJ does, or NIfTI as XYZ)"
                if found == tuple(image_shape_xyz)[::-1] else "")
        if image_layout:
            hint += (f"; the IMAGE's axes look mixed up ({'; '.join(image_layout)}): fix them in Fiji (Image > "
                     "Hyperstacks > Re-order Hyperstack, then save)")
        raise SpindleDataError(f"{mask_path} (frame {frame}): mask shape differs from the image: expected "
                               f"(X, Y, Z) = {tuple(image_shape_xyz)}, found {found}{hint}")


def _frame_files(folder: Path) -> dict[int, Path]:
    """{frame: path} of the tNNNN.* files in ``folder``; two files for one frame is an error."""
    frames: dict[int, Path] = {}
    for path in sorted(folder.iterdir()):
        match = _FRAME_FILE.match(path.name)
        if not match:
            continue
        frame = int(match.group(1))
        if frame in frames:
            raise SpindleDataError(f"{folder}: two files for frame {frame}: {frames[frame].name} and {path.name}")
        frames[frame] = path
    return frames


# fewer z slices than this, in a series of many frames, is more likely a time series saved with T and Z swapped
# than a z-stack (a light-sheet oocyte frame has ~31 slices; a spindle spans 10-30 um)
FEW_Z_SLICES = 8
# folder names a lab may give masks that are not the expected OOCYTE_masks/
_MASK_LIKE_DIR = re.compile(r"^(.+?)[_-]?(mask|masks|label|labels|seg|segmentation)$", re.IGNORECASE)


def implausible_layout(info: ImageInfo) -> list[str]:
    """Reasons why a series' axes look mixed up for a spindle recording ([] when they look right). Header only.

    ImageJ stores the channel / slice / frame counts in its header; a stack saved with C and Z (or T and Z)
    swapped reads without error and gives volume 0 on every frame, or a "time series" of a few slices.
    """
    shape_xyz = info.spatial_shape_xyz
    if shape_xyz is None:
        return []
    n_z, reasons = shape_xyz[2], []
    dz = info.spacing_um[2]
    extent = f", a z extent of {n_z * dz:g} um" if dz is not None else ""
    if info.n_channels > n_z:
        reasons.append(f"more channels ({info.n_channels}) than z slices ({n_z}{extent}): C and Z may be swapped")
    if n_z < FEW_Z_SLICES and info.n_frames > 2 * n_z:
        reasons.append(f"few z slices ({n_z}{extent}) and many more time points ({info.n_frames}): T and Z may be "
                       "swapped")
    return reasons


def _warn_implausible(info: ImageInfo) -> list[str]:
    reasons = implausible_layout(info)
    if reasons:
        warnings.warn(f"{info.path}: implausible for a spindle recording: {'; '.join(reasons)} (axes {info.axes!r}, "
                      f"shape {info.shape}). If the axes are mixed up, fix them in Fiji (Image > Hyperstacks > "
                      "Re-order Hyperstack, then save) before trusting any volume", stacklevel=3)
    return reasons


def _check_no_gaps(folder: Path, frames: Sequence[int]) -> None:
    """Per-frame files must number every frame: the mask hyperstack (one page per frame) would otherwise shift
    every later frame in time when Fiji shows it beside the images."""
    missing = sorted(set(range(min(frames), max(frames) + 1)) - set(frames))
    if missing:
        names = ", ".join(f"t{t:04d}" for t in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise SpindleDataError(f"{folder}: per-frame files t{min(frames):04d}..t{max(frames):04d} with frames missing: "
                               f"{names}; expected one file per frame (frame numbers give the time): add the missing "
                               "frames, or number the files consecutively and set the frame interval")


def _scan_experiment(root: Path, experiment_dir: Path) -> list[OocyteSeries]:
    series: dict[str, OocyteSeries] = {}
    experiment = unicodedata.normalize("NFC", experiment_dir.name)
    unknown: list[str] = []  # files and folders that match no expected name
    layouts: dict[str, list[str]] = {}  # oocyte -> implausible_layout of its image

    def add(oocyte: str, images: dict[int, str], info: ImageInfo, source: Path) -> None:
        if oocyte in series:
            raise SpindleDataError(f"{source}: oocyte {experiment}/{oocyte} found twice (expected either "
                                   f"{oocyte}.tif or a folder {oocyte}/ of per-frame files, not both)")
        layouts[oocyte] = _warn_implausible(info)
        series[oocyte] = OocyteSeries(experiment, unicodedata.normalize("NFC", oocyte), images,
                                      frame_interval_min=info.frame_interval_min, shape_xyz=spatial_shape_xyz(info))

    stems = {m.group(1) for e in experiment_dir.iterdir() if (m := _SERIES_FILE.match(e.name))} | {
        e.name for e in experiment_dir.iterdir() if e.is_dir()}
    for entry in sorted(experiment_dir.iterdir()):
        if entry.name.startswith(".") or entry.name.endswith(MASK_DIR_SUFFIX):
            continue
        if entry.is_file() and (match := _SERIES_FILE.match(entry.name)):
            info = inspect_image(entry)  # metadata only
            check_image_info(info)  # 3D frames, numeric pixels, plausible calibration
            rel = entry.relative_to(root).as_posix()
            add(match.group(1), dict.fromkeys(range(info.n_frames), rel), info, entry)
        elif entry.is_dir():
            mask_like = _MASK_LIKE_DIR.match(entry.name)
            if mask_like and mask_like.group(1) in stems and mask_like.group(1) != entry.name:
                raise SpindleDataError(f"{entry}: looks like the masks of {experiment}/{mask_like.group(1)}, but mask "
                                       f"folders must be named {mask_like.group(1)}{MASK_DIR_SUFFIX}/ (it would be "
                                       "read as an oocyte of its own): rename it")
            frames = {t: p for t, p in _frame_files(entry).items() if _SERIES_FILE.match(p.name)}
            unknown += [f"{entry.name}/{p.name}" for p in sorted(entry.iterdir())
                        if not p.name.startswith(".") and not _FRAME_FILE.match(p.name)]
            if not frames:
                unknown.append(f"{entry.name}/")
            if frames:
                _check_no_gaps(entry, sorted(frames))
                first_frame = min(frames)
                first = inspect_image(frames[first_frame])
                for frame, path in sorted(frames.items()):  # headers only: a few ms per file
                    info = first if frame == first_frame else inspect_image(path)
                    check_image_info(info)
                    if info.n_frames > 1:
                        raise SpindleDataError(f"{path} (frame {frame}): a per-frame file must hold one frame, "
                                               f"found {info.n_frames} time points (axes {info.axes!r})")
                    _check_same_layout(first, info, frame, first_frame)
                add(entry.name, {t: p.relative_to(root).as_posix() for t, p in frames.items()}, first, entry)
        elif entry.is_file():
            unknown.append(entry.name)
    for oocyte, item in series.items():
        mask_dir = experiment_dir / f"{oocyte}{MASK_DIR_SUFFIX}"
        if not mask_dir.is_dir():
            continue
        unknown += [f"{mask_dir.name}/{p.name}" for p in sorted(mask_dir.iterdir())
                    if not p.name.startswith(".") and not _FRAME_FILE.match(p.name)]
        for frame, path in _frame_files(mask_dir).items():
            if frame not in item.images:
                raise SpindleDataError(f"{path} (frame {frame}): a mask for a frame the image does not have: "
                                       f"expected frames {min(item.images)}..{max(item.images)}, found {frame}")
            _check_mask_header(path, frame, item.shape_xyz, layouts.get(oocyte, ()))
            item.labels[frame] = path.relative_to(root).as_posix()
    orphans = [p.name for p in experiment_dir.glob(f"*{MASK_DIR_SUFFIX}")
               if p.name[: -len(MASK_DIR_SUFFIX)] not in series]
    if orphans:
        raise SpindleDataError(f"{experiment_dir}: mask folders {orphans} have no image series "
                               f"(expected OOCYTE.tif or OOCYTE/ beside OOCYTE{MASK_DIR_SUFFIX}/)")
    if unknown:
        warnings.warn(f"{experiment_dir}: {len(unknown)} entries match no expected name and are ignored: "
                      f"{unknown[:10]}{' ...' if len(unknown) > 10 else ''}. Expected OOCYTE.tif (a TZCYX hyperstack), "
                      f"OOCYTE/tNNNN.tif (one file per frame) and OOCYTE{MASK_DIR_SUFFIX}/tNNNN.tif or .nii.gz (the mask "
                      "of frame NNNN)", stacklevel=3)
    return list(series.values())


def scan_dataset(dataset_dir: str | os.PathLike) -> list[OocyteSeries]:
    """All oocyte series under ``dataset_dir`` (sorted by experiment, oocyte). Reads file metadata only."""
    root = Path(dataset_dir)
    if not root.is_dir():
        raise SpindleDataError(f"{root}: dataset folder not found")
    found: list[OocyteSeries] = []
    for entry in sorted(root.iterdir()):
        if entry.is_dir() and entry.name not in IGNORED_ENTRIES and not entry.name.startswith("."):
            found.extend(_scan_experiment(root, entry))
    if not found:
        raise SpindleDataError(f"{root}: empty dataset: expected EXPERIMENT/OOCYTE.tif hyperstacks or "
                               f"EXPERIMENT/OOCYTE/t0000.tif per-frame files, found none")
    return found


def read_gvbd_table(dataset_dir: str | os.PathLike, series: Sequence[OocyteSeries]) -> dict[tuple[str, str], int]:
    """{(experiment, oocyte): GVBD frame} from DATASET/gvbd.csv; every scanned oocyte must have a row and
    every row must name a scanned oocyte."""
    path = Path(dataset_dir) / GVBD_TABLE
    if not path.is_file():
        raise SpindleDataError(f"{path}: GVBD table not found (expected columns experiment,oocyte,gvbd_frame)")
    columns = ("experiment", "oocyte", "gvbd_frame")
    try:
        # utf-8-sig: a spreadsheet's byte-order mark must not become part of the first column's name
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            fieldnames = [name.strip() for name in reader.fieldnames or ()]
            if not set(columns) <= set(fieldnames):
                raise SpindleDataError(f"{path}: expected a comma-separated header with columns "
                                       f"experiment,oocyte,gvbd_frame, found {reader.fieldnames}")
            reader.fieldnames = fieldnames
            rows = list(enumerate(reader, start=2))
    except UnicodeDecodeError as exc:
        raise SpindleDataError(f"{path}: expected a UTF-8 text table (CSV), found undecodable bytes ({exc})") from exc
    table: dict[tuple[str, str], int] = {}
    for line, row in rows:
        values = [(row.get(c) or "").strip() for c in columns]
        if not any(values):
            continue  # a blank line (e.g. ",," written by a spreadsheet)
        experiment, oocyte, frame_text = values
        experiment, oocyte = (unicodedata.normalize("NFC", n) for n in (experiment, oocyte))
        try:
            if not experiment or not oocyte:
                raise ValueError("empty name")
            gvbd_frame = int(frame_text)
        except ValueError as exc:
            raise SpindleDataError(f"{path} line {line}: expected experiment,oocyte,gvbd_frame with an integer "
                                   f"frame, found {[row.get(c) for c in columns]}") from exc
        key = (experiment, oocyte)
        if key in table and table[key] != gvbd_frame:
            raise SpindleDataError(f"{path} line {line}: oocyte {experiment}/{oocyte} listed twice with different "
                                   f"GVBD frames: expected one row per oocyte, found {table[key]} and {gvbd_frame}")
        table[key] = gvbd_frame
    known = {(s.experiment, s.oocyte) for s in series}
    unknown = sorted(set(table) - known)
    if unknown:
        raise SpindleDataError(f"{path}: names oocytes that are not in the dataset: "
                               f"{['/'.join(k) for k in unknown]}; found oocytes {['/'.join(k) for k in sorted(known)]}")
    missing = sorted(known - set(table))
    if missing:
        raise SpindleDataError(f"{path}: no GVBD frame for oocytes {['/'.join(k) for k in missing]}")
    for s in series:
        gvbd_frame, first, last = table[(s.experiment, s.oocyte)], min(s.images), max(s.images)
        if not first <= gvbd_frame <= last:
            where = "before the first" if gvbd_frame < first else "after the last"
            warnings.warn(f"{path}: GVBD frame {gvbd_frame} of {s.experiment}/{s.oocyte} lies {where} frame of its "
                          f"series (frames {first}..{last}): every frame is counted as "
                          f"{'after' if gvbd_frame < first else 'before'} GVBD. Right if GVBD happened outside the "
                          "recording; otherwise correct gvbd.csv (frames count from 0)", stacklevel=2)
    return table


def frame_item(series: OocyteSeries, frame: int, gvbd_frame: int | None, default_frame_interval_min: float) -> dict:
    """The datalist item of one frame: the rules that turn a file into times, in one place.

    ``time_min`` = frame x the file's frame interval, or x ``default_frame_interval_min`` where the file states
    none; ``minutes_since_gvbd`` = (frame - ``gvbd_frame``) x the same interval, None when GVBD is unknown.
    ``label`` only where the frame has a mask. Paths are relative to the dataset folder.
    """
    interval = series.frame_interval_min if series.frame_interval_min is not None else default_frame_interval_min
    item = {"image": series.images[frame], "frame": frame}
    if frame in series.labels:
        item["label"] = series.labels[frame]
    item.update(experiment=series.experiment, oocyte=series.oocyte, time_min=round(frame * interval, 6),
                minutes_since_gvbd=None if gvbd_frame is None else round((frame - gvbd_frame) * interval, 6))
    return item


def scan_frame_items(dataset_dir: str | os.PathLike, default_frame_interval_min: float = 10.0) -> list[dict]:
    """Every frame of every oocyte in ``dataset_dir`` as datalist items (``frame_item``), for evaluation.

    Unlike the split lists of ``build_datalist`` this covers all oocytes, and ``gvbd.csv`` is optional: new
    recordings without it get ``minutes_since_gvbd`` None.
    """
    series = scan_dataset(dataset_dir)
    gvbd = read_gvbd_table(dataset_dir, series) if (Path(dataset_dir) / GVBD_TABLE).is_file() else {}
    return [frame_item(s, frame, gvbd.get((s.experiment, s.oocyte)), default_frame_interval_min)
            for s in series for frame in sorted(s.images)]


def build_datalist(
    dataset_dir: str | os.PathLike,
    seed: int = 0,
    val_fraction: float = 0.2,
    default_frame_interval_min: float = 10.0,
    dense_labels_dir: str | None = None,
    test_oocytes_per_experiment: int = 1,
) -> dict:
    """Scan ``dataset_dir``, join gvbd.csv and split (see the module docstring). ``time_min`` is frame x
    the file's frame interval, or x ``default_frame_interval_min`` where the file has none.

    ``test_oocytes_per_experiment``: 1 (the thesis' split) or 0: no test oocytes, every labelled frame goes to
    training or validation (fine-tuning on a lab's few labels, which are checked on other recordings afterwards).

    ``dense_labels_dir`` (the phantom's ``ground_truth_masks``: one TZYX mask hyperstack per oocyte,
    ``DIR/EXPERIMENT/OOCYTE.tif``, every frame labelled) makes ``training`` every frame of the non-test oocytes
    but the validation frames, each labelled from that hyperstack, frames before GVBD (empty masks) included.
    Test oocytes, validation and testing lists are the same as without it (same seed, same draws): a lab's data
    has a label on every sixth frame only, a phantom has one on every frame, and its frames are free.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), found {val_fraction}")
    if test_oocytes_per_experiment not in (0, 1):
        raise ValueError(f"test_oocytes_per_experiment must be 0 or 1, found {test_oocytes_per_experiment!r}")
    all_series = scan_dataset(dataset_dir)
    gvbd = read_gvbd_table(dataset_dir, all_series)
    rng = random.Random(seed)

    by_experiment: dict[str, list[OocyteSeries]] = {}
    for s in all_series:
        by_experiment.setdefault(s.experiment, []).append(s)
    test = ({(exp, rng.choice(members).oocyte) for exp, members in sorted(by_experiment.items())}
            if test_oocytes_per_experiment else set())

    def items(series: OocyteSeries, labelled_only: bool) -> list[dict]:
        frames = sorted(series.labels) if labelled_only else sorted(series.images)
        return [frame_item(series, t, gvbd[(series.experiment, series.oocyte)], default_frame_interval_min)
                for t in frames]

    development = [i for s in all_series if (s.experiment, s.oocyte) not in test for i in items(s, True)]
    rng.shuffle(development)
    n_val = round(val_fraction * len(development))
    if val_fraction > 0 and n_val == 0 and len(development) >= 2:
        n_val = 1  # a validation set of one frame beats none
    order = {"experiment": 0, "oocyte": 1, "frame": 2}

    def by_key(item: dict) -> tuple:
        return tuple(item[k] for k in order)

    training = development[n_val:]
    if dense_labels_dir:
        training = _dense_training_items(dataset_dir, dense_labels_dir, all_series, test, development[:n_val], gvbd,
                                         default_frame_interval_min)
    test_series = [s for s in all_series if (s.experiment, s.oocyte) in test]
    if not any(s.labels for s in all_series):
        warnings.warn(f"{dataset_dir}: no labelled frames (no EXPERIMENT/OOCYTE{MASK_DIR_SUFFIX}/tNNNN.tif masks): "
                      f"the training, validation and testing lists are empty; only inference can run", stacklevel=2)
    return {
        "seed": seed,
        "val_fraction": val_fraction,
        "test_oocytes_per_experiment": test_oocytes_per_experiment,
        "test_oocytes": [{"experiment": e, "oocyte": o} for e, o in sorted(test)],
        "training": sorted(training, key=by_key),
        "validation": sorted(development[:n_val], key=by_key),
        "testing": [i for s in test_series for i in items(s, True)],
        "inference": [i for s in test_series for i in items(s, False)],
    }


def _frame_key(item: dict) -> tuple[str, str, int]:
    return item["experiment"], item["oocyte"], int(item["frame"])


def update_datalist(datalist: dict, dataset_dir: str | os.PathLike,
                    default_frame_interval_min: float = 10.0) -> tuple[dict, list[str], list[str]]:
    """``datalist`` (a split of ``build_datalist``) brought in step with the masks now in ``dataset_dir``: a lab
    labels more frames between runs (napari's "Save labels", Fiji) or deletes a wrong mask.

    Every frame the datalist already holds keeps its side (training, validation or testing), so runs before and
    after compare like with like; frames labelled since go to testing where their oocyte is a test oocyte, else
    ``val_fraction`` of them (drawn with the datalist's seed) to validation and the rest to training; frames whose
    mask is gone are dropped. Items are rebuilt from the scan (a changed gvbd.csv moves ``minutes_since_gvbd``).
    Returns (the new datalist, the labels added, the labels removed), label paths relative to the dataset."""
    seed = int(datalist.get("seed", 0))
    val_fraction = float(datalist.get("val_fraction", 0.2))
    all_series = scan_dataset(dataset_dir)
    gvbd = read_gvbd_table(dataset_dir, all_series)
    test = {(t["experiment"], t["oocyte"]) for t in datalist.get("test_oocytes", [])}
    labelled = {(s.experiment, s.oocyte, t): frame_item(s, t, gvbd[(s.experiment, s.oocyte)],
                                                        default_frame_interval_min)
                for s in all_series for t in sorted(s.labels)}
    side = {_frame_key(item): key for key in ("training", "validation", "testing") for item in datalist.get(key, [])}
    removed = sorted(datalist_item["label"] for key in ("training", "validation", "testing")
                     for datalist_item in datalist.get(key, []) if _frame_key(datalist_item) not in labelled)
    new = [k for k in sorted(labelled) if k not in side]
    development = [k for k in new if k[:2] not in test]
    random.Random(seed).shuffle(development)
    n_val = round(val_fraction * len(development))
    for k in new:
        side[k] = "testing" if k[:2] in test else None
    for i, k in enumerate(development):
        side[k] = "validation" if i < n_val else "training"
    updated = {**datalist}
    for key in ("training", "validation", "testing"):
        updated[key] = [labelled[k] for k in sorted(labelled) if side.get(k) == key]
    updated["inference"] = [frame_item(s, t, gvbd[(s.experiment, s.oocyte)], default_frame_interval_min)
                            for s in all_series if (s.experiment, s.oocyte) in test for t in sorted(s.images)]
    return updated, [labelled[k]["label"] for k in new], removed


def _dense_training_items(dataset_dir: str | os.PathLike, dense_labels_dir: str, all_series: Sequence[OocyteSeries],
                          test: set[tuple[str, str]], validation: Sequence[dict], gvbd: dict[tuple[str, str], int],
                          default_frame_interval_min: float) -> list[dict]:
    """Every frame of the non-test oocytes except ``validation``'s, labelled from DIR/EXPERIMENT/OOCYTE.tif (TZYX)."""
    held_out = {(i["experiment"], i["oocyte"], i["frame"]) for i in validation}
    items = []
    for s in all_series:
        if (s.experiment, s.oocyte) in test:
            continue
        label = f"{dense_labels_dir}/{s.experiment}/{s.oocyte}.tif"
        if not (Path(dataset_dir) / label).is_file():
            raise SpindleDataError(f"{Path(dataset_dir) / label}: no dense mask hyperstack for {s.experiment}/{s.oocyte} "
                                   f"(expected TZYX masks of every frame, as the phantom's --true-masks writes)")
        for t in sorted(s.images):
            if (s.experiment, s.oocyte, t) not in held_out:
                items.append({**frame_item(s, t, gvbd[(s.experiment, s.oocyte)], default_frame_interval_min), "label": label})
    return items


def write_datalist(datalist: dict, out: str | os.PathLike) -> Path:
    """Write the datalist as JSON, atomically (a crash never leaves a half-written file)."""
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(datalist, indent=1) + "\n")
    return Path(out)


def load_datalist(datalist_file: str | os.PathLike, key: str = "training",
                  dataset_dir: str | os.PathLike | None = None, allow_empty: bool = False) -> list[dict]:
    """Items of list ``key`` with ``image`` / ``label`` joined to ``dataset_dir`` (default: the datalist's folder).

    Unlike MONAI's load_decathlon_datalist this resolves only ``image`` and ``label``, so an experiment
    named like a folder stays a name. SpindleDataError for a missing or unreadable file, a missing list, an
    empty list (unless ``allow_empty``: a run on no data is a mistake, e.g. a dataset without masks), and
    items whose files do not exist (checked up front, once per file, so that a run does not fail hours in)."""
    datalist_file = Path(datalist_file)
    base = Path(dataset_dir) if dataset_dir is not None else datalist_file.parent
    try:
        with open(datalist_file) as fh:
            data = json.load(fh)
    except FileNotFoundError as exc:
        raise SpindleDataError(f"{datalist_file}: datalist not found (make one with python -m scripts.datalist "
                               f"--dataset_dir DIR --out {datalist_file})") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SpindleDataError(f"{datalist_file}: not a readable JSON datalist ({exc}); write it again with "
                               f"python -m scripts.datalist") from exc
    lists = sorted(k for k, v in data.items() if isinstance(v, list)) if isinstance(data, dict) else []
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise SpindleDataError(f"{datalist_file}: no list {key!r}; found {lists}")
    if not data[key] and not allow_empty:
        raise SpindleDataError(f"{datalist_file}: empty datalist: list {key!r} has no items (lists found: "
                               + ", ".join(f"{k} {len(data[k])}" for k in lists)
                               + "); training, validation and testing need labelled frames "
                                 f"(EXPERIMENT/OOCYTE{MASK_DIR_SUFFIX}/tNNNN.tif)")
    items = [{k: str(base / v) if k in ("image", "label") else v for k, v in item.items()} for item in data[key]]
    missing = sorted({item[k] for item in items for k in ("image", "label") if k in item} - _existing(items))
    if missing:
        raise SpindleDataError(f"{datalist_file}: list {key!r} names {len(missing)} files that do not exist under "
                               f"{base}, e.g. {missing[:3]}; expected the dataset folder the datalist was made "
                               f"from (pass --dataset_dir)")
    return items


def merge_datalists(parts: Sequence[tuple[str | os.PathLike, int]], out: str | os.PathLike) -> dict:
    """One datalist from several datasets' datalists, for training on a mix (e.g. the house phantom and the
    randomized renderer families). ``parts``: (datalist file, keep every n-th training item); every list of each
    part is taken (training thinned), its image / label paths rewritten relative to ``out``'s folder, which is
    then the dataset folder to pass with the merged datalist (``--dataset_dir``)."""
    base = Path(out).resolve().parent
    merged: dict = {"merged_from": [], "test_oocytes": []}
    for path, every in parts:
        path = Path(path).resolve()
        data = json.loads(path.read_text())
        prefix = Path(os.path.relpath(path.parent, base)).as_posix()
        merged["merged_from"].append({"datalist": Path(os.path.relpath(path, base)).as_posix(),
                                      "training_every": int(every)})
        merged["test_oocytes"] += [{**t, "dataset": prefix} for t in data.get("test_oocytes", [])]
        for key, items in data.items():
            if not isinstance(items, list) or key == "test_oocytes":
                continue
            if key == "training":
                items = items[::max(int(every), 1)]
            merged.setdefault(key, []).extend(
                {k: f"{prefix}/{v}" if k in ("image", "label") else v for k, v in item.items()} for item in items)
    return merged


def _existing(items: list[dict]) -> set[str]:
    """The image / label paths of ``items`` that exist, each path checked once (hyperstack items repeat it)."""
    paths = {item[k] for item in items for k in ("image", "label") if k in item}
    return {p for p in paths if os.path.isfile(p)}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Scan a spindle dataset folder into datalist.json (stratified split).")
    parser.add_argument("--dataset_dir", help="dataset folder (gvbd.csv, EXPERIMENT/OOCYTE.tif, ...)")
    parser.add_argument("--out", required=True, help="output JSON file")
    parser.add_argument("--seed", type=int, default=0, help="seed of the test-oocyte draw and the train/val split")
    parser.add_argument("--val_fraction", type=float, default=0.2, help="fraction of labelled frames for validation")
    parser.add_argument("--default_frame_interval_min", type=float, default=10.0,
                        help="minutes per frame for files that carry no frame interval")
    parser.add_argument("--dense_labels_dir", default=None,
                        help="train on every frame of the non-test oocytes, labelled from DIR/EXPERIMENT/OOCYTE.tif "
                             "(TZYX, relative to the dataset; the phantom's ground_truth_masks)")
    parser.add_argument("--merge", nargs="+", default=None, metavar="DATALIST[:N]",
                        help="instead of scanning a dataset: merge these datalists (keeping every N-th training item "
                             "of one given as FILE:N) into --out, paths relative to --out's folder")
    args = parser.parse_args(argv)
    if args.merge:
        parts = [(p.rsplit(":", 1)[0], int(p.rsplit(":", 1)[1])) if re.fullmatch(r".+:\d+", p) else (p, 1)
                 for p in args.merge]
        out = write_datalist(merge_datalists(parts, args.out), args.out)
        print(f"{out}: merged {len(parts)} datalists")
        return
    if not args.dataset_dir:
        parser.error("--dataset_dir is required (or --merge)")
    datalist = build_datalist(args.dataset_dir, args.seed, args.val_fraction, args.default_frame_interval_min,
                              args.dense_labels_dir)
    out = write_datalist(datalist, args.out)
    counts = ", ".join(f"{k} {len(datalist[k])}" for k in ("training", "validation", "testing", "inference"))
    tests = ", ".join(f"{t['experiment']}/{t['oocyte']}" for t in datalist["test_oocytes"])
    print(f"{out}: {counts} items; test oocytes: {tests}")


if __name__ == "__main__":
    main()
