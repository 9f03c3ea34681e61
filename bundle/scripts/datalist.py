"""Scan a dataset folder into a datalist with the thesis' stratified split.

Dataset layout (either per oocyte, both may be mixed within a dataset)::

    DATASET/gvbd.csv                          experiment,oocyte,gvbd_frame
    DATASET/EXPERIMENT/OOCYTE.tif             TZCYX hyperstack (ImageJ or OME-TIFF)
    DATASET/EXPERIMENT/OOCYTE/t0000.tif       or one ZCYX / ZYX file per frame
    DATASET/EXPERIMENT/OOCYTE_masks/t0012.tif spindle mask of frame 12 (or t0012.nii.gz)

``ground_truth_volumes.csv`` and ``ground_truth_masks/`` (written by the phantom) are ignored.

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

CLI: ``python -m scripts.datalist --dataset_dir DIR --out datalist.json [--seed 0] [--val_fraction 0.2]``
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scripts.io import NIFTI_SUFFIXES, TIFF_SUFFIXES, SpindleDataError, atomic_path, inspect_image

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


def _scan_experiment(root: Path, experiment_dir: Path) -> list[OocyteSeries]:
    series: dict[str, OocyteSeries] = {}
    experiment = experiment_dir.name

    def add(oocyte: str, images: dict[int, str], interval, source: Path) -> None:
        if oocyte in series:
            raise SpindleDataError(f"{source}: oocyte {experiment}/{oocyte} found twice (expected either "
                                   f"{oocyte}.tif or a folder {oocyte}/ of per-frame files, not both)")
        series[oocyte] = OocyteSeries(experiment, oocyte, images, frame_interval_min=interval)

    for entry in sorted(experiment_dir.iterdir()):
        if entry.name.startswith(".") or entry.name.endswith(MASK_DIR_SUFFIX):
            continue
        if entry.is_file() and (match := _SERIES_FILE.match(entry.name)):
            info = inspect_image(entry)  # metadata only
            if info.spatial_shape_xyz is None:
                raise SpindleDataError(f"{entry}: expected a TZCYX time series of 3D frames, found axes "
                                       f"{info.axes!r} with shape {info.shape}")
            rel = entry.relative_to(root).as_posix()
            add(match.group(1), dict.fromkeys(range(info.n_frames), rel), info.frame_interval_min, entry)
        elif entry.is_dir():
            frames = {t: p for t, p in _frame_files(entry).items() if _SERIES_FILE.match(p.name)}
            if frames:
                interval = inspect_image(frames[min(frames)]).frame_interval_min
                add(entry.name, {t: p.relative_to(root).as_posix() for t, p in frames.items()}, interval, entry)
    for oocyte, item in series.items():
        mask_dir = experiment_dir / f"{oocyte}{MASK_DIR_SUFFIX}"
        if not mask_dir.is_dir():
            continue
        for frame, path in _frame_files(mask_dir).items():
            if frame not in item.images:
                raise SpindleDataError(f"{path} (frame {frame}): a mask for a frame the image does not have: "
                                       f"expected frames {min(item.images)}..{max(item.images)}, found {frame}")
            item.labels[frame] = path.relative_to(root).as_posix()
    orphans = [p.name for p in experiment_dir.glob(f"*{MASK_DIR_SUFFIX}")
               if p.name[: -len(MASK_DIR_SUFFIX)] not in series]
    if orphans:
        raise SpindleDataError(f"{experiment_dir}: mask folders {orphans} have no image series "
                               f"(expected OOCYTE.tif or OOCYTE/ beside OOCYTE{MASK_DIR_SUFFIX}/)")
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
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if not {"experiment", "oocyte", "gvbd_frame"} <= set(reader.fieldnames or ()):
            raise SpindleDataError(f"{path}: expected columns experiment,oocyte,gvbd_frame, found {reader.fieldnames}")
        table = {}
        for line, row in enumerate(reader, start=2):
            try:
                table[(row["experiment"].strip(), row["oocyte"].strip())] = int(row["gvbd_frame"])
            except (TypeError, ValueError) as exc:
                raise SpindleDataError(f"{path} line {line}: expected an integer gvbd_frame, "
                                       f"found {row['gvbd_frame']!r}") from exc
    known = {(s.experiment, s.oocyte) for s in series}
    unknown = sorted(set(table) - known)
    if unknown:
        raise SpindleDataError(f"{path}: names oocytes that are not in the dataset: "
                               f"{['/'.join(k) for k in unknown]}; found oocytes {['/'.join(k) for k in sorted(known)]}")
    missing = sorted(known - set(table))
    if missing:
        raise SpindleDataError(f"{path}: no GVBD frame for oocytes {['/'.join(k) for k in missing]}")
    return table


def _item(series: OocyteSeries, frame: int, gvbd_frame: int, default_interval_min: float) -> dict:
    interval = series.frame_interval_min if series.frame_interval_min is not None else default_interval_min
    item = {"image": series.images[frame], "frame": frame}
    if frame in series.labels:
        item["label"] = series.labels[frame]
    item.update(experiment=series.experiment, oocyte=series.oocyte, time_min=round(frame * interval, 6),
                minutes_since_gvbd=round((frame - gvbd_frame) * interval, 6))
    return item


def build_datalist(
    dataset_dir: str | os.PathLike,
    seed: int = 0,
    val_fraction: float = 0.2,
    default_frame_interval_min: float = 10.0,
) -> dict:
    """Scan ``dataset_dir``, join gvbd.csv and split (see the module docstring). ``time_min`` is frame x
    the file's frame interval, or x ``default_frame_interval_min`` where the file has none."""
    if not 0.0 <= val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1), found {val_fraction}")
    all_series = scan_dataset(dataset_dir)
    gvbd = read_gvbd_table(dataset_dir, all_series)
    rng = random.Random(seed)

    by_experiment: dict[str, list[OocyteSeries]] = {}
    for s in all_series:
        by_experiment.setdefault(s.experiment, []).append(s)
    test = {(exp, rng.choice(members).oocyte) for exp, members in sorted(by_experiment.items())}

    def items(series: OocyteSeries, labelled_only: bool) -> list[dict]:
        frames = sorted(series.labels) if labelled_only else sorted(series.images)
        return [_item(series, t, gvbd[(series.experiment, series.oocyte)], default_frame_interval_min)
                for t in frames]

    development = [i for s in all_series if (s.experiment, s.oocyte) not in test for i in items(s, True)]
    rng.shuffle(development)
    n_val = round(val_fraction * len(development))
    if val_fraction > 0 and n_val == 0 and len(development) >= 2:
        n_val = 1  # a validation set of one frame beats none
    order = {"experiment": 0, "oocyte": 1, "frame": 2}

    def by_key(item: dict) -> tuple:
        return tuple(item[k] for k in order)

    test_series = [s for s in all_series if (s.experiment, s.oocyte) in test]
    return {
        "seed": seed,
        "val_fraction": val_fraction,
        "test_oocytes": [{"experiment": e, "oocyte": o} for e, o in sorted(test)],
        "training": sorted(development[n_val:], key=by_key),
        "validation": sorted(development[:n_val], key=by_key),
        "testing": [i for s in test_series for i in items(s, True)],
        "inference": [i for s in test_series for i in items(s, False)],
    }


def write_datalist(datalist: dict, out: str | os.PathLike) -> Path:
    """Write the datalist as JSON, atomically (a crash never leaves a half-written file)."""
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps(datalist, indent=1) + "\n")
    return Path(out)


def load_datalist(datalist_file: str | os.PathLike, key: str = "training",
                  dataset_dir: str | os.PathLike | None = None) -> list[dict]:
    """Items of list ``key`` with ``image`` / ``label`` joined to ``dataset_dir`` (default: the datalist's folder).

    Unlike MONAI's load_decathlon_datalist this resolves only ``image`` and ``label``, so an experiment
    named like a folder stays a name."""
    datalist_file = Path(datalist_file)
    base = Path(dataset_dir) if dataset_dir is not None else datalist_file.parent
    with open(datalist_file) as fh:
        data = json.load(fh)
    if key not in data:
        raise SpindleDataError(f"{datalist_file}: no list {key!r}; found {sorted(k for k, v in data.items() if isinstance(v, list))}")
    return [{k: str(base / v) if k in ("image", "label") else v for k, v in item.items()} for item in data[key]]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Scan a spindle dataset folder into datalist.json (stratified split).")
    parser.add_argument("--dataset_dir", required=True, help="dataset folder (gvbd.csv, EXPERIMENT/OOCYTE.tif, ...)")
    parser.add_argument("--out", required=True, help="output JSON file")
    parser.add_argument("--seed", type=int, default=0, help="seed of the test-oocyte draw and the train/val split")
    parser.add_argument("--val_fraction", type=float, default=0.2, help="fraction of labelled frames for validation")
    parser.add_argument("--default_frame_interval_min", type=float, default=10.0,
                        help="minutes per frame for files that carry no frame interval")
    args = parser.parse_args(argv)
    datalist = build_datalist(args.dataset_dir, args.seed, args.val_fraction, args.default_frame_interval_min)
    out = write_datalist(datalist, args.out)
    counts = ", ".join(f"{k} {len(datalist[k])}" for k in ("training", "validation", "testing", "inference"))
    tests = ", ".join(f"{t['experiment']}/{t['oocyte']}" for t in datalist["test_oocytes"])
    print(f"{out}: {counts} items; test oocytes: {tests}")


if __name__ == "__main__":
    main()
