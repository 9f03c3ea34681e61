"""Data fingerprint (Auto3DSeg-style datastats) of a dataset folder, streamed one frame at a time.

What it reports (``DataAnalyzer.run()`` writes it as YAML or JSON, by the output's suffix):

- ``stats_summary.image``: spacing (x, y, z) um and frame shapes (X, Y, Z) of every series (from file
  metadata), dtypes, frame and oocyte counts;
- ``stats_summary.intensity_by_experiment``: intensity percentiles, mean and std of the analysed channel
  (the microtubule channel by default), over the whole frame and inside the spindle masks;
- ``stats_summary.label``: spindle volume (um^3), bounding-box extent (x, y, z, um), pole-to-pole length
  and width (um) distributions, and the labelled frames whose spindle reaches outside the configured
  centred crop (a warning names each);
- ``stats_by_case``: one row per analysed frame.

Frames analysed: every labelled frame; for an oocyte without labels, every ``unlabelled_frame_stride``-th
frame. Only one channel of one frame is in memory at a time, and intensities are pooled from a strided
sample of at most ``max_samples_per_frame`` voxels per frame, so the cost grows with the frames read.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import yaml

from scripts.config import required_dataset_dir
from scripts.datalist import scan_dataset
from scripts.io import DEFAULT_SPACING_UM, atomic_path, checked_default_spacing, read_frame, read_mask
from scripts.metrics import shape_descriptors

PERCENTILES = (0.5, 1.0, 5.0, 25.0, 50.0, 75.0, 95.0, 99.0, 99.5)


def centred_crop_window(size: int, crop: int) -> tuple[int, int]:
    """[start, stop) voxel range of a centred crop, with MONAI's CenterSpatialCrop convention
    (start = size // 2 - crop // 2); the full range when the crop is not smaller than the size."""
    if crop >= size:
        return 0, size
    start = size // 2 - crop // 2
    return start, start + crop


def bounding_box_xyz(mask_xyz: np.ndarray) -> tuple[tuple[int, int], ...] | None:
    """Per axis (x, y, z) the [first, last] voxel index of the mask's foreground; None when empty."""
    if not mask_xyz.any():
        return None
    box = []
    for axis in range(3):
        other = tuple(a for a in range(3) if a != axis)
        hits = np.flatnonzero(mask_xyz.any(axis=other))
        box.append((int(hits[0]), int(hits[-1])))
    return tuple(box)


def _summary(values: Sequence[float]) -> dict:
    """min / max / mean / median / std and percentiles of a list of numbers, as plain floats."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 0:
        return {"count": 0}
    out = {"count": int(array.size), "min": float(array.min()), "max": float(array.max()),
           "mean": float(array.mean()), "median": float(np.median(array)), "std": float(array.std())}
    out.update({f"percentile_{p:g}": float(v) for p, v in zip(PERCENTILES, np.percentile(array, PERCENTILES),
                                                              strict=True)})
    return out


class _IntensityPool:
    """Streaming intensity statistics: exact count/sum/sum of squares/min/max, percentiles from a sample."""

    def __init__(self, max_samples_per_frame: int):
        self.max_samples_per_frame = max_samples_per_frame
        self.samples: list[np.ndarray] = []
        self.count, self.total, self.total_sq = 0, 0.0, 0.0
        self.low, self.high = np.inf, -np.inf

    def add(self, values: np.ndarray) -> None:
        values = values.ravel()
        if values.size == 0:
            return
        self.count += values.size
        for start in range(0, values.size, 1 << 20):  # float64 in 8 MB chunks, not a full-frame copy
            chunk = values[start:start + (1 << 20)].astype(np.float64)
            self.total += float(chunk.sum())
            self.total_sq += float(np.dot(chunk, chunk))
        self.low, self.high = min(self.low, float(values.min())), max(self.high, float(values.max()))
        step = max(1, values.size // self.max_samples_per_frame)
        self.samples.append(values[::step].astype(np.float32))

    def result(self) -> dict:
        if self.count == 0:
            return {"count": 0}
        mean = self.total / self.count
        sample = np.concatenate(self.samples)
        out = {"count": self.count, "min": self.low, "max": self.high, "mean": mean,
               "std": float(np.sqrt(max(0.0, self.total_sq / self.count - mean * mean)))}
        out.update({f"percentile_{p:g}": float(v) for p, v in zip(PERCENTILES, np.percentile(sample, PERCENTILES),
                                                                  strict=True)})
        return out


class DataAnalyzer:
    """Datastats of the dataset at ``dataset_dir`` for channel ``channel``, checked against ``crop``.

    Args:
        dataset_dir: the dataset folder (canonical layout, see scripts.datalist).
        output_path: where ``run()`` writes the stats: ``.yaml`` / ``.yml`` as YAML, anything else as JSON.
        channel: channel index analysed (the microtubule channel, 1 by default).
        crop: centred crop size in voxels, (x, y) or (x, y, z); a spindle reaching outside it is reported.
        default_spacing_um: (x, y, z) um for files without calibration.
        unlabelled_frame_stride: every n-th frame of oocytes that have no label is analysed for intensity.
        max_samples_per_frame: intensity voxels sampled per frame for the percentiles.
    """

    def __init__(
        self,
        dataset_dir: str | os.PathLike,
        output_path: str | os.PathLike | None = None,
        channel: int = 1,
        crop: Sequence[int] = (352, 352),
        default_spacing_um: Sequence[float] = DEFAULT_SPACING_UM,
        unlabelled_frame_stride: int = 6,
        max_samples_per_frame: int = 100_000,
    ):
        self.dataset_dir = required_dataset_dir(dataset_dir)
        self.output_path = Path(output_path) if output_path is not None else None
        self.channel = int(channel)
        self.crop = tuple(int(c) for c in crop)
        if len(self.crop) not in (2, 3):
            raise ValueError(f"crop must be (x, y) or (x, y, z) voxels, found {crop!r}")
        self.default_spacing_um = checked_default_spacing(default_spacing_um, type(self).__name__)
        self.unlabelled_frame_stride = max(1, int(unlabelled_frame_stride))
        self.max_samples_per_frame = int(max_samples_per_frame)

    def _label_row(self, label_path: Path, frame: int, image_shape, spacing_um) -> dict:
        mask, _ = read_mask(label_path, frame, image_shape, self.default_spacing_um)
        shape = shape_descriptors(mask, spacing_um)
        row = {"volume_um3": shape["volume_um3"], "length_um": shape["length_um"], "width_um": shape["width_um"],
               "n_components": shape["n_components"], "inside_crop": True}
        box = bounding_box_xyz(mask)
        if box is not None:
            row["bbox_xyz"] = [list(b) for b in box]
            row["extent_um"] = [float((hi - lo + 1) * s) for (lo, hi), s in zip(box, spacing_um, strict=True)]
            for (lo, hi), size, crop in zip(box, image_shape, self.crop, strict=False):
                start, stop = centred_crop_window(int(size), crop)
                if lo < start or hi >= stop:
                    row["inside_crop"] = False
        return row, mask

    def analyze(self) -> dict:
        """Compute the datastats dict (nothing is written)."""
        all_series = scan_dataset(self.dataset_dir)
        cases, spacings, shapes, dtypes = [], {}, {}, set()
        pools: dict[str, dict[str, _IntensityPool]] = {}
        outside: list[str] = []
        n_frames_total = 0
        for series in all_series:
            n_frames_total += len(series.images)
            frames = sorted(series.labels) or sorted(series.images)[:: self.unlabelled_frame_stride]
            pool = pools.setdefault(series.experiment, {"frame": _IntensityPool(self.max_samples_per_frame),
                                                         "spindle": _IntensityPool(self.max_samples_per_frame)})
            for frame in frames:
                image_path = self.dataset_dir / series.images[frame]
                image, meta = read_frame(image_path, frame, self.channel, self.default_spacing_um)
                spacing = tuple(round(float(s), 6) for s in meta["spacing_um"])
                spacings[spacing] = spacings.get(spacing, 0) + 1
                shapes[tuple(image.shape)] = shapes.get(tuple(image.shape), 0) + 1
                dtypes.add(str(image.dtype))
                pool["frame"].add(image)
                case = {"experiment": series.experiment, "oocyte": series.oocyte, "frame": frame,
                        "image": series.images[frame], "spacing_um": list(spacing), "shape_xyz": list(image.shape)}
                if frame in series.labels:
                    case["label"] = series.labels[frame]
                    row, mask = self._label_row(self.dataset_dir / series.labels[frame], frame, image.shape, spacing)
                    pool["spindle"].add(image[mask > 0])
                    case.update(row)
                    if not row["inside_crop"]:
                        name = f"{series.experiment}/{series.oocyte} frame {frame}"
                        outside.append(name)
                        warnings.warn(f"{self.dataset_dir / series.labels[frame]} (frame {frame}): the spindle "
                                      f"(voxels x, y, z {row['bbox_xyz']}) reaches outside the centred crop "
                                      f"{self.crop} of the {tuple(image.shape)} frame", stacklevel=2)
                cases.append(case)
        labelled = [c for c in cases if "volume_um3" in c]
        nonempty = [c for c in labelled if "extent_um" in c]
        summary = {
            "dataset_dir": str(self.dataset_dir),
            "channel": self.channel,
            "crop": list(self.crop),
            "n_experiments": len(pools),
            "n_oocytes": len(all_series),
            "n_frames": n_frames_total,
            "n_frames_analysed": len(cases),
            "n_labelled_frames": len(labelled),
            "image": {
                "spacing_um": [{"value": list(k), "frames": v} for k, v in sorted(spacings.items())],
                "shape_xyz": [{"value": list(k), "frames": v} for k, v in sorted(shapes.items())],
                "dtype": sorted(dtypes),
            },
            "intensity_by_experiment": {exp: {name: p.result() for name, p in pool.items()}
                                        for exp, pool in sorted(pools.items())},
            "label": {
                "volume_um3": _summary([c["volume_um3"] for c in labelled]),
                "extent_um": {axis: _summary([c["extent_um"][i] for c in nonempty]) for i, axis in enumerate("xyz")},
                "length_um": _summary([c["length_um"] for c in nonempty]),
                "width_um": _summary([c["width_um"] for c in nonempty]),
                "empty_masks": len(labelled) - len(nonempty),
                "outside_crop": outside,
            },
        }
        return {"stats_summary": summary, "stats_by_case": cases}

    def run(self) -> dict:
        """Analyse and write the datastats to ``output_path`` (atomically); returns the stats."""
        stats = self.analyze()
        if self.output_path is not None:
            write_datastats(stats, self.output_path)
        return stats


def write_datastats(stats: dict, path: str | os.PathLike) -> Path:
    """YAML for .yaml/.yml, JSON otherwise; written atomically."""
    path = Path(path)
    try:
        with atomic_path(path) as tmp:
            if path.suffix.lower() in (".yaml", ".yml"):
                tmp.write_text(yaml.safe_dump(stats, sort_keys=False))
            else:
                tmp.write_text(json.dumps(stats, indent=1) + "\n")
    except OSError as exc:  # the default output goes beside the data, which may be read-only
        raise type(exc)(exc.errno, f"{exc.strerror or exc}: {path} cannot be written; pass --output_path with a "
                                   "file you can write to") from exc
    return path
