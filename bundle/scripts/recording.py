"""Recording an evaluation run, oocyte by oocyte: per-frame values, mask hyperstacks, and each oocyte's outputs.

``configs/inference.yaml`` runs a MONAI ``SupervisedEvaluator`` over every frame of every oocyte (one frame per
iteration, oocytes one after the other) and attaches ``TimeSeriesWriter``, which routes each frame's masks to the
open oocyte's ``OocyteRecorder``:

- per frame: a row of values per method (volume, shape, crop-border flag, and errors where a reference mask
  exists; ``method_frame_values``) and the primary method's mask appended to the oocyte's mask hyperstack
  (``MaskStreamWriter``, a background thread: memory stays at about two frames);
- at the oocyte's last frame: volume jumps flagged (``flag_volume_jumps``), the mask file closed, the volume plot
  and QC montage drawn, and last the row file that marks the oocyte as finished (``scripts.reports``).

Arrays follow the plugin's axis convention: channel-first, spatial (x, y, z); masks on disk are TZYX (ImageJ).
"""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from ignite.engine import Engine, Events
from monai.transforms import CenterSpatialCrop

from scripts.biology import count_poles, polarity_state
from scripts.calibrate_band import apply_band_calibration
from scripts.io import atomic_path, read_frame, write_imagej_hyperstack
from scripts.metrics import (
    binary_foreground,
    bounding_box,
    frame_metrics,
    shape_descriptors,
    spacing_from_meta,
    volume_band_um3,
)
from scripts.morphometry import measure_mask
from scripts.reports import (
    ID_COLUMNS,
    METHOD_COLUMNS,
    as_float,
    method_key,
    oocyte_rows_path,
    plot_oocyte_volumes,
    plot_qc_montage,
    review_reason,
    volume_csv_columns,
    write_csv,
)
from scripts.resolution import crop_size_on_file_grid
from scripts.timeseries import oocyte_provenance, oocyte_record_path

logger = logging.getLogger(__name__)
MAX_REVIEW_TILES = 2  # QC montage tiles added for frames with a wide volume band


# ------------------------------------------------------------------------------------------------- mask streaming
class _Aborted(Exception):
    """Raised inside the writer thread's page iterator when a recorder is aborted."""


class MaskStreamWriter:
    """Write binary masks as a TZYX uint8 ImageJ hyperstack one frame at a time (``write``), atomically.

    The file is written by a background thread that pulls pages from a queue of at most two frames, so memory
    stays at about two frames whatever the number of frames, compression overlaps the next forward pass, and the
    frame count ``n_frames`` is fixed up front (ImageJ stores the hyperstack's shape in its header). The file
    appears under ``path`` only once all frames are in (``close()`` waits for it); ``abort()`` leaves nothing
    behind. Calibration by ``scripts.io.write_imagej_hyperstack``: pixel size x/y and voxel depth from
    ``spacing_um_xyz`` (um), frame interval in minutes. ``compression`` "zlib" (Fiji reads it; a mask compresses
    ~100x) or None. zlib's default level 6: on mask frames (long runs of zeros) it is as fast as level 1 or faster
    and 10-15 % smaller (imagecodecs 2026.3, 2-core Xeon: 8 against 14 ms per 400 x 400 x 31 frame, 47 ms both
    for 750 x 750 x 31).
    """

    def __init__(self, path: str | Path, n_frames: int, spacing_um_xyz: Sequence[float],
                 frame_interval_min: float | None = None, compression: str | None = "zlib",
                 compression_level: int = 6) -> None:
        self.path = Path(path)
        self.n_frames = int(n_frames)
        self.spacing_um_xyz = tuple(float(s) for s in spacing_um_xyz)
        self.frame_interval_min = frame_interval_min
        self.compression = compression or None
        self.compression_level = int(compression_level)
        self._queue: queue.Queue = queue.Queue(maxsize=2)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._shape_zyx: tuple[int, ...] | None = None
        self.frames_written = 0

    def write(self, mask_xyz: np.ndarray) -> None:
        """Append one frame, a boolean or 0/1 (X, Y, Z) mask."""
        mask_xyz = np.asarray(mask_xyz)
        mask_xyz = mask_xyz if mask_xyz.dtype == bool else mask_xyz > 0  # no copy of a full frame that is one
        # transpose only the mask's bounding box into a zeroed (Z, Y, X) frame: a full 750 x 750 x 31 transpose
        # costs ~0.2 s per frame, the box a few ms
        frame_zyx = np.zeros(mask_xyz.shape[::-1], dtype=np.uint8)
        box = bounding_box(mask_xyz)
        if box is not None:
            frame_zyx[box[::-1]] = mask_xyz[box].transpose(2, 1, 0)
        if self.frames_written >= self.n_frames:
            raise ValueError(f"{self.path}: all {self.n_frames} frames are already written")
        if self._thread is None:
            self._shape_zyx = frame_zyx.shape
            self._thread = threading.Thread(target=self._run, name=f"masks:{self.path.name}", daemon=True)
            self._thread.start()
        elif frame_zyx.shape != self._shape_zyx:
            raise ValueError(f"{self.path}: frame {self.frames_written} has shape (Z, Y, X) {frame_zyx.shape}, "
                             f"expected {self._shape_zyx} like the first frame")
        self._put(frame_zyx)
        self.frames_written += 1

    def _pages(self):
        for _ in range(self.n_frames):
            frame = self._queue.get()
            if frame is None:
                raise _Aborted
            yield from frame  # a (Z, Y, X) frame is Z pages of (Y, X)

    def _run(self) -> None:
        try:
            write_imagej_hyperstack(self.path, self._pages(), "TZYX", self.spacing_um_xyz, self.frame_interval_min,
                                    shape=(self.n_frames, *self._shape_zyx), dtype=np.uint8,
                                    compression=self.compression, compression_level=self.compression_level)
        except _Aborted:
            pass  # the temporary file is gone with the exception
        except BaseException as exc:  # handed to the main thread by _put / close
            self._error = exc

    def _put(self, item: np.ndarray | None) -> None:
        while True:
            if self._error is not None:
                raise RuntimeError(f"{self.path}: writing the mask hyperstack failed: {self._error!r}") from self._error
            try:
                self._queue.put(item, timeout=0.5)
                return
            except queue.Full:
                if not self._thread.is_alive():
                    raise RuntimeError(f"{self.path}: the mask writer stopped after {self.frames_written} frames") from self._error

    def close(self) -> Path:
        """Wait until the file is in place; raises if fewer than ``n_frames`` frames were written."""
        if self.frames_written != self.n_frames:
            self.abort()
            raise ValueError(f"{self.path}: expected {self.n_frames} frames, {self.frames_written} were written")
        self._thread.join()
        if self._error is not None:
            raise RuntimeError(f"{self.path}: writing the mask hyperstack failed: {self._error!r}") from self._error
        return self.path

    def abort(self) -> None:
        """Stop writing and remove the temporary file; the final path is not created."""
        if self._thread is not None and self._thread.is_alive():
            while True:  # make room for the stop marker, then wait for the thread to end
                try:
                    self._queue.put_nowait(None)
                    break
                except queue.Full:
                    self._queue.get_nowait()
            self._thread.join()


# -------------------------------------------------------------------------------------------------- frame level
def crop_window_xy(frame_shape_xyz: Sequence[int], crop_size: Sequence[int]) -> tuple[slice, slice]:
    """The (x, y) slices of the full frame that the network's centre crop covers, clipped to the frame.

    Uses MONAI's ``CenterSpatialCrop`` so the window is the one the preprocessing cut (352 of 750 -> 199:551).
    """
    slices = CenterSpatialCrop(roi_size=list(crop_size)).compute_slices(tuple(int(n) for n in frame_shape_xyz))
    return tuple(slice(max(s.start, 0), min(s.stop, int(n))) for s, n in zip(slices[:2], frame_shape_xyz, strict=False))


def touches_window_border(mask_xyz: np.ndarray, window_xy: tuple[slice, slice], margin_vox: int = 2) -> bool:
    """True when the mask comes within ``margin_vox`` voxels of the x or y edge of the crop window (the spindle may
    be cut off there), or reaches outside the window (a reference mask can). The network's masks stop a voxel or
    two short of the crop's edge even where the spindle goes on (its 'same' padding sees zeros there), hence the
    margin (the configs' ``crop_border_margin_vox``)."""
    mask_xyz = np.asarray(mask_xyz)
    box = bounding_box(mask_xyz if mask_xyz.dtype == bool else mask_xyz > 0)  # the mask's extremes: a few ms
    if box is None:
        return False
    margin = int(margin_vox)
    return any(b.start <= w.start + margin or b.stop >= w.stop - margin for b, w in zip(box[:2], window_xy, strict=True))


def flag_volume_jumps(volumes_um3: Sequence[float], rel_threshold: float = 0.5, min_abs_um3: float = 50.0,
                      half_window: int = 3) -> list[bool]:
    """Flag frames whose volume is a spike or a dip against BOTH of their sides.

    For frame t, L and R are the medians of the up to ``half_window`` frames before and after it. The frame is
    flagged when it lies above both or below both, by more than ``rel_threshold`` x max(L, R) and more than
    ``min_abs_um3`` um^3 on each side. A step (the spindle appearing at GVBD, a sudden but lasting change) has
    one side close to the frame and is not flagged; the absolute floor keeps tiny, noisy volumes before GVBD
    quiet. The first and last frames are judged on their one side. A series of one frame is never flagged.
    """
    volumes = np.asarray(volumes_um3, dtype=float)

    def side_median(values: np.ndarray) -> float | None:
        values = values[np.isfinite(values)]
        return float(np.median(values)) if len(values) else None

    flags = []
    for t in range(len(volumes)):
        sides = [m for m in (side_median(volumes[max(0, t - half_window):t]),
                             side_median(volumes[t + 1:t + 1 + half_window])) if m is not None]
        if not sides or not math.isfinite(volumes[t]):
            flags.append(False)
            continue
        deviations = [volumes[t] - m for m in sides]
        same_direction = all(d > 0 for d in deviations) or all(d < 0 for d in deviations)
        smallest = min(abs(d) for d in deviations)
        flags.append(bool(same_direction and smallest > rel_threshold * max(sides) and smallest > min_abs_um3))
    return flags


def centred_on_window(crop_xyz: np.ndarray | None, window_shape_xyz: Sequence[int]) -> np.ndarray | None:
    """The part of a preprocessed crop (X, Y, Z) that lies on the frame's crop window: the crop may be padded
    beyond a small frame (x-y) and to the network's stride (z), symmetrically, so its centre is the window."""
    if crop_xyz is None:
        return None
    starts = [max(0, (a - b) // 2) for a, b in zip(crop_xyz.shape, window_shape_xyz, strict=True)]
    return crop_xyz[tuple(slice(o, o + n) for o, n in zip(starts, window_shape_xyz, strict=True))]


def method_frame_values(mask_xyz: np.ndarray | None, label_xyz: np.ndarray | None, spacing_um_xyz: Sequence[float],
                        window_xy: tuple[slice, slice], border_margin_vox: int = 2,
                        tubulin_window_xyz: np.ndarray | None = None, dna_window_xyz: np.ndarray | None = None,
                        amtoc_window_xyz: np.ndarray | None = None, probability_window_xyz: np.ndarray | None = None,
                        band_probability: float | None = None,
                        band_calibration: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One method's per-frame values (``METHOD_COLUMNS`` but ``volume_jump``) plus ``ref_volume_um3``.

    Morphometry (``scripts.morphometry``) runs on the crop window, where every method's mask lies; the tubulin and
    DNA intensities of the window (or None) refine the poles and give the plate width; the aMTOC channel's (or
    None) gives the pole count and polarity (``scripts.biology``); the network's foreground probability of the
    window and ``band_probability`` (or None) give the volume band, calibrated by ``band_calibration`` (or None:
    raw; ``scripts.calibrate_band``). A method that did not
    segment this frame (``mask_xyz`` None: the baseline on an unlabelled frame) gets NaN values, which the CSV
    leaves empty and the summaries leave out.
    """
    if mask_xyz is None:
        return {c: math.nan for c in METHOD_COLUMNS if c not in ("volume_jump", "note")}
    shape = shape_descriptors(mask_xyz, spacing_um_xyz)
    values: dict[str, Any] = {k: shape[k] for k in ("volume_um3", "n_components", "centroid_x_um", "centroid_y_um",
                                                      "centroid_z_um")}
    in_window = mask_xyz[window_xy]
    values["volume_lo_um3"], values["volume_hi_um3"] = apply_band_calibration(*(
        volume_band_um3(in_window, probability_window_xyz, band_probability, spacing_um_xyz)
        if probability_window_xyz is not None and band_probability is not None else (math.nan, math.nan)),
        values["volume_um3"], band_calibration)
    values.update(measure_mask(
        in_window.transpose(2, 1, 0), spacing_um_xyz,
        None if tubulin_window_xyz is None else tubulin_window_xyz.transpose(2, 1, 0),
        None if dna_window_xyz is None else dna_window_xyz.transpose(2, 1, 0)))
    if amtoc_window_xyz is not None:
        values["n_poles"] = count_poles(in_window.transpose(2, 1, 0), amtoc_window_xyz.transpose(2, 1, 0),
                                        spacing_um_xyz)
        values["polarity"] = polarity_state(values["n_poles"])
    else:
        values["n_poles"], values["polarity"] = math.nan, ""
    errors = frame_metrics(mask_xyz, label_xyz, spacing_um_xyz)
    values.update({k: errors[k] for k in ("ref_volume_um3", "abs_volume_error_um3", "rel_volume_error", "dice")})
    # the network cannot see beyond the crop: where the reference goes past it, this frame's mask is cut off too
    values["touches_crop_border"] = touches_window_border(mask_xyz, window_xy, border_margin_vox) or (
        label_xyz is not None and touches_window_border(label_xyz, window_xy, border_margin_vox))
    return values


def _montage_frames(frames: Sequence[int], n_tiles: int, labelled: Sequence[int] = ()) -> set[int]:
    """Up to ``n_tiles`` frames spread evenly over the series (first and last included).

    Each pick moves to the nearest labelled frame within half the spacing, so the montage shows the reference
    outline wherever one is close.
    """
    if n_tiles <= 0 or not frames:
        return set()
    frames = sorted(frames)
    positions = np.unique(np.round(np.linspace(0, len(frames) - 1, min(n_tiles, len(frames)))).astype(int))
    half_spacing = (len(frames) - 1) / max(len(positions) - 1, 1) / 2
    labelled_positions = [i for i, f in enumerate(frames) if f in set(labelled)]
    chosen: set[int] = set()
    for p in positions:
        near = [q for q in labelled_positions if abs(q - p) <= half_spacing and frames[q] not in chosen]
        chosen.add(frames[min(near, key=lambda q: abs(q - p))] if near else frames[p])
    return chosen


# ---------------------------------------------------------------------------------------------------- recorder
class OocyteRecorder:
    """Collect one oocyte's frames, in time order, and write its outputs when the last frame has arrived.

    ``add_frame`` takes the full-frame masks {method: bool (X, Y, Z)}, the reference mask or None, the spacing
    (um) and, for QC, the network's input crop (X, Y, Z). Kept in memory: one small row per frame and a few 2D
    projections; masks of the primary method go straight to disk (``MaskStreamWriter``). ``crop_size`` and
    ``model_pixel_size_um`` locate the network's crop window on each frame, as ``TimeSeriesWriter`` says.
    """

    def __init__(self, output_dir: str | Path, items: Sequence[Mapping[str, Any]], methods: Sequence[str],
                 crop_size: Sequence[int], channel: int | None = 1, montage_tiles: int = 6,
                 mask_compression: str | None = "zlib", jump_rel_threshold: float = 0.5,
                 jump_min_um3: float = 50.0, jump_half_window: int = 3, crop_border_margin_vox: int = 2,
                 settings: Mapping[str, Any] | None = None, band_probability: float | None = None,
                 band_calibration: Mapping[str, Any] | None = None, model_pixel_size_um: float | None = None) -> None:
        self.output_dir = Path(output_dir)
        self.model_pixel_size_um = model_pixel_size_um
        self.settings = dict(settings or {})
        self.band_probability, self.band_calibration = band_probability, band_calibration
        self.crop_border_margin_vox = int(crop_border_margin_vox)
        self.items = list(items)
        self.experiment, self.oocyte = self.items[0]["experiment"], self.items[0]["oocyte"]
        self.methods = list(methods)
        self.crop_size = list(crop_size)
        self.channel = channel
        self.jump = {"rel_threshold": jump_rel_threshold, "min_abs_um3": jump_min_um3, "half_window": jump_half_window}
        self.mask_compression = mask_compression
        self.montage_frames = _montage_frames([int(it["frame"]) for it in self.items], montage_tiles,
                                              [int(it["frame"]) for it in self.items if it.get("label")])
        self.rows: list[dict[str, Any]] = []
        self.tiles: list[dict[str, Any]] = []
        self.masks: MaskStreamWriter | None = None

    @property
    def name(self) -> str:
        return f"{self.experiment}_{self.oocyte}"

    @property
    def complete(self) -> bool:
        return len(self.rows) == len(self.items)

    def _frame_interval_min(self) -> float | None:
        times = np.array([as_float(it.get("time_min")) for it in self.items], dtype=float)
        frames = np.array([int(it["frame"]) for it in self.items], dtype=float)
        ok = np.isfinite(times)
        if ok.sum() < 2:
            return None
        return float(np.median(np.diff(times[ok]) / np.diff(frames[ok])))

    def add_frame(self, masks: Mapping[str, np.ndarray], label: np.ndarray | None, spacing_um_xyz: Sequence[float],
                  image_crop_xyz: np.ndarray | None = None, notes: Mapping[str, str] | None = None,
                  dna_crop_xyz: np.ndarray | None = None, amtoc_crop_xyz: np.ndarray | None = None,
                  probability_crop_xyz: np.ndarray | None = None) -> dict[str, Any]:
        """Record the next frame (in the order of ``items``); returns its row.

        A secondary method may be missing from ``masks`` or None on a frame it did not segment; the primary may not.
        ``notes``: per method, why it gave no result on this frame (the ``note`` column). ``image_crop_xyz``,
        ``dna_crop_xyz``, ``amtoc_crop_xyz``: the tubulin (network input), DNA and aMTOC crops, for the morphometry
        and polarity (and the QC montage). ``probability_crop_xyz``: the primary method's foreground probability
        on the network's crop, for the volume band.
        """
        item = self.items[len(self.rows)]
        primary = masks.get(self.methods[0])
        if primary is None:
            raise ValueError(f"{item.get('image')}: frame {item['frame']}: no mask of the primary method {self.methods[0]!r}")
        if label is not None and label.shape != primary.shape:
            raise ValueError(f"{item.get('label')}: frame {item['frame']}: reference mask shape (X, Y, Z) {label.shape} "
                             f"differs from the image's {primary.shape}")
        window = crop_window_xy(primary.shape, crop_size_on_file_grid(self.crop_size, spacing_um_xyz,
                                                                      self.model_pixel_size_um))
        row: dict[str, Any] = {c: item.get(c) for c in ID_COLUMNS}
        row["has_label"] = label is not None
        window_shape = (window[0].stop - window[0].start, window[1].stop - window[1].start, primary.shape[2])
        tubulin_window = centred_on_window(image_crop_xyz, window_shape)
        dna_window = centred_on_window(dna_crop_xyz, window_shape)
        amtoc_window = centred_on_window(amtoc_crop_xyz, window_shape)
        probability_window = centred_on_window(probability_crop_xyz, window_shape)
        for method in self.methods:
            values = method_frame_values(masks.get(method), label, spacing_um_xyz, window, self.crop_border_margin_vox,
                                         tubulin_window, dna_window, amtoc_window,
                                         probability_window if method == self.methods[0] else None,
                                         self.band_probability, self.band_calibration)
            values["note"] = (notes or {}).get(method, "")
            ref_volume = values.pop("ref_volume_um3", math.nan)
            if method == self.methods[0]:
                row["ref_volume_um3"] = ref_volume
            row.update({method_key(self.methods, method, k): v for k, v in values.items()})
        if self.masks is None:
            self.masks = MaskStreamWriter(self.output_dir / "masks" / self.experiment / f"{self.oocyte}.tif",
                                          len(self.items), spacing_um_xyz, self._frame_interval_min(),
                                          self.mask_compression)
        self.masks.write(primary)
        wide_band = "wide" in review_reason(row["volume_um3"], row["volume_lo_um3"], row["volume_hi_um3"], False)
        extra_tiles = sum(t["frame"] not in self.montage_frames for t in self.tiles)
        # the montage's evenly spread frames, plus a few the network was unsure of
        if int(item["frame"]) in self.montage_frames or (wide_band and extra_tiles < MAX_REVIEW_TILES):
            self.tiles.append(self._tile(item, row, masks, label, window, tubulin_window))
        self.rows.append(row)
        return row

    def _tile(self, item, row, masks, label, window, tubulin_window_xyz) -> dict[str, Any]:
        sx, sy = window
        mip = {m: masks[m][sx, sy].any(axis=2) for m in self.methods if masks.get(m) is not None}
        if tubulin_window_xyz is not None:
            image = tubulin_window_xyz.max(axis=2)
        else:
            image = read_frame(item["image"], int(item["frame"]), self.channel)[0][sx, sy].max(axis=2).astype(np.float32)
        volume = row["volume_um3"]
        text = f"frame {item['frame']}"
        if math.isfinite(as_float(item.get("minutes_since_gvbd"))):
            text += f" ({item['minutes_since_gvbd']:+.0f} min)"
        text += f"\nV = {volume:.0f} um³"
        if math.isfinite(as_float(row.get("dice"))):
            text += f", Dice {row['dice']:.2f}"
        return {"image": image, "masks": mip, "reference": None if label is None else label[sx, sy].any(axis=2),
                "label": text, "frame": int(item["frame"])}

    def finish(self) -> list[dict[str, Any]]:
        """Flag volume jumps, close the masks file, write plot, montage and provenance, and last the row file (the
        done marker)."""
        if not self.complete:
            raise ValueError(f"{self.name}: expected {len(self.items)} frames, received {len(self.rows)}")
        for method in self.methods:
            volumes = [r[method_key(self.methods, method, "volume_um3")] for r in self.rows]
            for row, flag in zip(self.rows, flag_volume_jumps(volumes, **self.jump), strict=True):
                row[method_key(self.methods, method, "volume_jump")] = flag
                row[method_key(self.methods, method, "review")] = review_reason(
                    *(as_float(row[method_key(self.methods, method, c)])
                      for c in ("volume_um3", "volume_lo_um3", "volume_hi_um3")), flag,
                    as_float(row[method_key(self.methods, method, "touches_crop_border")]) == 1.0)
        rows_by_frame = {int(r["frame"]): r for r in self.rows}
        for tile in self.tiles:
            tile["review"] = rows_by_frame[tile["frame"]]["review"]
        self.tiles.sort(key=lambda t: t["frame"])
        self.masks.close()
        title = f"{self.experiment} / {self.oocyte}"
        plot_oocyte_volumes(self.rows, self.methods, self.output_dir / "plots" / f"{self.name}.png", title)
        plot_qc_montage(self.tiles, self.methods, self.output_dir / "qc" / f"{self.name}.png", title)
        with atomic_path(oocyte_record_path(self.output_dir, self.experiment, self.oocyte)) as tmp:
            tmp.write_text(json.dumps(oocyte_provenance(self.items, self.settings), indent=1) + "\n")
        write_csv(oocyte_rows_path(self.output_dir, self.experiment, self.oocyte), volume_csv_columns(self.methods),
                   self.rows)
        return self.rows

    def abort(self) -> None:
        """Drop the partial oocyte: no mask file, no row file (a rerun evaluates it again)."""
        if self.masks is not None:
            self.masks.abort()


# ---------------------------------------------------------------------------------------------- ignite handler
class TimeSeriesWriter:
    """Ignite handler: route each evaluated frame to its oocyte's ``OocyteRecorder`` and finish oocytes in turn.

    Args:
        output_dir: the output folder (layout in the module docstring).
        items: the evaluated items (``evaluation_items``), in the data loader's order; each batch item's
            ``index`` key points into this list.
        methods: {method name: output key of its (1, X, Y, Z) full-frame mask}; the first is the primary method
            (the network): unprefixed columns, masks file, QC montage. E.g. {"network": "pred", "baseline": "baseline"}.
        crop_size: the preprocessing's centre crop (x, y, z voxels; -1 keeps the axis), for the crop-border flag.
        model_pixel_size_um: None, or the x-y pixel size (um) ``crop_size`` is in (``resample_xy``): the crop
            window then covers the same field in um on every file (``scripts.resolution.crop_size_on_file_grid``).
        label_key / image_key: keys of the reference mask (full frame) and of the network's input crop.
        dna_key: key of the DNA channel's crop (the same window, unpadded), or None: the morphometry's plate width.
        amtoc_key: key of the aMTOC channel's crop (likewise), or None: pole count and polarity.
        logits_key / band_probability: key of the primary method's logits on the (padded) crop and the band's
            probability, or None: the volume band (``scripts.metrics.volume_band_um3``).
        band_calibration: the band's calibration (``scripts.calibrate_band.load_band_calibration``) or None (raw).
        channel: the image channel, for QC tiles read from disk when no input crop is in the output.
        montage_tiles, mask_compression, jump_rel_threshold, jump_min_um3, jump_half_window: see ``OocyteRecorder``.
        crop_border_margin_vox: a mask this close (voxels) to the crop's x-y edge counts as touching it.
        settings: the values that change the answer (the configs' ``run_settings``), stored with each finished
            oocyte's provenance (``scripts.timeseries.oocyte_provenance``) so that a rerun can tell whether its
            results still hold.

    An exception in the run aborts the open oocyte (no partial file) and is re-raised.

    Attached to an engine, each frame is recorded (measured, its mask streamed; an oocyte finished) on one background
    thread while the engine runs the next frame's forward pass: at most one frame is in flight, so the frames keep
    their order, memory stays bounded, and an error in recording a frame is raised in the engine's thread at the
    next frame (or at the end of the run). ``add`` itself records at once.
    """

    def __init__(self, output_dir: str | Path, items: Sequence[Mapping[str, Any]], methods: Mapping[str, str],
                 crop_size: Sequence[int], label_key: str = "label", image_key: str = "image",
                 dna_key: str | None = None, amtoc_key: str | None = None, channel: int | None = 1,
                 montage_tiles: int = 6, mask_compression: str | None = "zlib", jump_rel_threshold: float = 0.5,
                 jump_min_um3: float = 50.0, jump_half_window: int = 3, crop_border_margin_vox: int = 2,
                 logits_key: str | None = None, band_probability: float | None = None,
                 settings: Mapping[str, Any] | None = None, band_calibration: Mapping[str, Any] | None = None,
                 model_pixel_size_um: float | None = None) -> None:
        self.output_dir = Path(output_dir)
        self.items = list(items)
        self.logits_key = logits_key
        self.methods = dict(methods)
        if not self.methods:
            raise ValueError("TimeSeriesWriter needs at least one method, e.g. {'network': 'pred'}")
        self.label_key, self.image_key, self.dna_key, self.amtoc_key = label_key, image_key, dna_key, amtoc_key
        self.recorder_args = {
            "methods": list(self.methods), "crop_size": list(crop_size), "channel": channel,
            "montage_tiles": montage_tiles, "mask_compression": mask_compression,
            "jump_rel_threshold": jump_rel_threshold, "jump_min_um3": jump_min_um3, "jump_half_window": jump_half_window,
            "crop_border_margin_vox": crop_border_margin_vox, "settings": settings, "band_probability": band_probability,
            "band_calibration": band_calibration, "model_pixel_size_um": model_pixel_size_um,
        }
        self._groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
        for item in self.items:
            self._groups.setdefault((item["experiment"], item["oocyte"]), []).append(item)
        self.recorder: OocyteRecorder | None = None
        self.finished: list[tuple[str, str]] = []
        self._recording: ThreadPoolExecutor | None = None  # the engine's frames are recorded here, one at a time
        self._in_flight: Future | None = None

    def _wait_for_recording(self) -> None:
        """Wait for the frame being recorded; raise its error here, in the caller's thread."""
        in_flight, self._in_flight = self._in_flight, None
        if in_flight is not None:
            in_flight.result()

    def _stop_recording(self) -> None:
        if self._recording is not None:
            self._recording.shutdown(wait=True)
            self._recording = None

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.iteration_completed)
        engine.add_event_handler(Events.COMPLETED, self.completed)
        engine.add_event_handler(Events.EXCEPTION_RAISED, self.exception_raised)

    def iteration_completed(self, engine: Engine) -> None:
        batch, output = engine.state.batch, engine.state.output
        if isinstance(output, Mapping):  # not decollated: a batch of one
            batch, output = [batch], [output]
        for batch_item, out in zip(batch, output, strict=True):
            # post-processed keys that came with the batch (e.g. the baseline mask made by the loader) stay in
            # engine.state.batch; the network's stay in engine.state.output
            self._wait_for_recording()
            if self._recording is None:
                self._recording = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recording")
            self._in_flight = self._recording.submit(self.add, {**batch_item, **out}, int(batch_item["index"]))

    def add(self, out: Mapping[str, Any], index: int) -> None:
        """Record one frame: ``out`` holds the method masks (and label, input crop) of ``self.items[index]``."""
        item = self.items[index]
        key = (item["experiment"], item["oocyte"])
        if self.recorder is None or (self.recorder.experiment, self.recorder.oocyte) != key:
            if self.recorder is not None:
                raise RuntimeError(f"{self.recorder.name}: frame of {key} arrived before the oocyte was complete; "
                                   "frames must come in (experiment, oocyte, frame) order (shuffle off)")
            self.recorder = OocyteRecorder(self.output_dir, self._groups[key], **self.recorder_args)
        expected = self.recorder.items[len(self.recorder.rows)]
        if expected["index"] != item["index"]:
            raise RuntimeError(f"{self.recorder.name}: expected frame {expected['frame']}, received frame {item['frame']}")
        # a secondary method may skip frames (the baseline on unlabelled ones): no mask under its key
        masks = {method: binary_foreground(out[key_]) for method, key_ in self.methods.items() if out.get(key_) is not None}
        notes = {method: str(out[key_ + "_note"]) for method, key_ in self.methods.items() if out.get(key_ + "_note")}
        label = out.get(self.label_key)
        label_xyz = binary_foreground(label) if isinstance(label, (torch.Tensor, np.ndarray)) else None
        image = out.get(self.image_key)
        image_crop = _channel_crop(out, self.image_key)
        dna_crop, amtoc_crop = (_channel_crop(out, key) for key in (self.dna_key, self.amtoc_key))
        # the loader's image carries the file's calibration; a bare mask (tests, custom pipelines) may carry its own
        spacing = spacing_from_meta(image if image is not None else out[next(iter(self.methods.values()))])
        self.recorder.add_frame(masks, label_xyz, spacing, image_crop, notes, dna_crop, amtoc_crop,
                                _foreground_probability(out.get(self.logits_key) if self.logits_key else None))
        if self.recorder.complete:
            self.recorder.finish()
            logger.info(_oocyte_log_line(self.recorder))
            _warn_about_the_crop(self.recorder)
            self.finished.append(key)
            self.recorder = None

    def completed(self, engine: Engine | None = None) -> None:
        try:
            self._wait_for_recording()
        except BaseException:
            if self.recorder is not None:
                self.recorder.abort()
                self.recorder = None
            raise
        finally:
            self._stop_recording()
        if self.recorder is not None:
            name, got, expected = self.recorder.name, len(self.recorder.rows), len(self.recorder.items)
            self.recorder.abort()
            self.recorder = None
            raise RuntimeError(f"{name}: the run ended after {got} of {expected} frames; the oocyte was not written")

    def exception_raised(self, engine: Engine, exc: BaseException) -> None:
        try:
            self._wait_for_recording()  # let the frame in flight end before the oocyte is dropped
        except BaseException:  # the engine's own error is the one to report
            pass
        finally:
            self._stop_recording()
        if self.recorder is not None:
            self.recorder.abort()
            self.recorder = None
        raise exc


def _channel_crop(out: Mapping[str, Any], key: str | None) -> np.ndarray | None:
    """The (X, Y, Z) float32 crop of a (1, X, Y, Z) channel under ``key``; None without a key or value."""
    value = out.get(key) if key else None
    return value.detach().cpu().float().numpy()[0] if isinstance(value, torch.Tensor) else None


def _foreground_probability(logits: Any) -> np.ndarray | None:
    """(X, Y, Z) float32 foreground probability of (C, X, Y, Z) logits: sigmoid of one channel, softmax of two."""
    if not isinstance(logits, torch.Tensor):
        return None
    logits = logits.detach().cpu().float()
    probability = torch.sigmoid(logits[0]) if logits.shape[0] == 1 else torch.softmax(logits, dim=0)[1]
    return probability.numpy()


def _warn_about_the_crop(recorder: OocyteRecorder) -> None:
    """One warning per oocyte whose network masks reach the crop's edge: its spindles may be cut off."""
    flagged = sum(bool(r["touches_crop_border"]) for r in recorder.rows)
    if flagged:
        logger.warning(f"{recorder.name}: the spindle reaches the edge of the {recorder.crop_size[0]} x "
                       f"{recorder.crop_size[1]} crop on {flagged} of {len(recorder.rows)} frames (touches_crop_border "
                       "in volumes.csv): its volume may be cut off there; a larger --crop_size (multiples of 16) sees more")


def _oocyte_log_line(recorder: OocyteRecorder) -> str:
    rows = recorder.rows
    line = f"{recorder.name}: {len(rows)} frames, median volume {np.median([r['volume_um3'] for r in rows]):.1f} um^3"
    dice = [r["dice"] for r in rows if math.isfinite(as_float(r.get("dice")))]
    if dice:
        line += f", mean Dice {np.mean(dice):.3f} over {len(dice)} labelled frames"
    return line
