"""Per-oocyte time-series evaluation: volumes for every frame, summaries, plots, QC montages and mask hyperstacks.

``configs/evaluate.yaml`` runs a MONAI ``SupervisedEvaluator`` over every frame of every oocyte (one frame per
iteration, oocytes one after the other) and attaches ``TimeSeriesWriter``, which streams each frame's masks into
per-oocyte recorders. The pieces, in the order a run uses them:

- ``evaluation_items(dataset_dir, output_dir, ...)``: the frames to evaluate (the datalist's ``inference`` list
  or a scan of the dataset), in (experiment, oocyte, frame) order, without the oocytes a previous run finished.
- ``load_network(network, model_path, device, channels_last)`` and ``AutocastInferer``: the fast forward pass
  (bf16 autocast + channels_last_3d by default; a switch forces fp32).
- ``TimeSeriesWriter`` (ignite handler) -> ``OocyteRecorder`` per oocyte: per-frame rows (volume, shape, errors
  where a label exists) for the network and the classical baseline, the mask hyperstack streamed frame by frame
  (``MaskStreamWriter``), then at the oocyte's last frame its volume plot, QC montage and row file.
- ``write_reports(output_dir)``: ``volumes.csv`` and the per-oocyte / per-experiment summaries (CSV + JSON)
  rebuilt from all finished oocytes, including those of earlier runs.

Output folder (every file appears under its final name only when complete):
    volumes.csv                       one row per frame (columns: ``volume_csv_columns``)
    summary_per_oocyte.csv            one row per (method, experiment, oocyte)
    summary_per_experiment.csv        one row per (method, experiment), plus experiment "ALL"
    summary.json                      both summary tables
    plots/<experiment>_<oocyte>.png   volume vs minutes since GVBD, reference points, relative-error panel
    qc/<experiment>_<oocyte>.png      a few frames: max projection with mask outlines
    masks/<experiment>/<oocyte>.tif   TZYX uint8 ImageJ hyperstack, full frame size, calibrated
    oocytes/<experiment>/<oocyte>.csv the oocyte's rows; written last, it marks the oocyte as finished

Units: volumes in um^3, lengths in um, times in minutes, relative errors as fractions ((pred - ref) / ref).
Arrays follow the plugin's axis convention: channel-first, spatial (x, y, z).
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import math
import queue
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
import torch
from ignite.engine import Engine, Events
from matplotlib.figure import Figure
from monai.data import MetaTensor
from monai.inferers import Inferer
from monai.transforms import CenterSpatialCrop

from scripts.io import atomic_path, read_frame, remove_abandoned_partial_files
from scripts.metrics import binary_foreground, bounding_box, frame_metrics, shape_descriptors, spacing_from_meta

logger = logging.getLogger(__name__)

ID_COLUMNS = ("experiment", "oocyte", "frame", "time_min", "minutes_since_gvbd")
REFERENCE_COLUMNS = ("has_label", "ref_volume_um3")
# Per-method columns; the primary method (the network) has them unprefixed, others as "<method>_<column>".
METHOD_COLUMNS = (
    "volume_um3", "length_um", "width_um", "n_components", "touches_crop_border", "volume_jump",
    "centroid_x_um", "centroid_y_um", "centroid_z_um", "abs_volume_error_um3", "rel_volume_error", "dice",
)
SUMMARY_COLUMNS = (
    "method", "experiment", "oocyte", "n_oocytes", "n_frames", "n_labelled", "mean_dice", "median_dice",
    "median_abs_rel_volume_error", "mean_abs_rel_volume_error", "mae_um3", "mean_volume_um3",
    "n_volume_jumps", "n_touches_crop_border",
)
ALL_EXPERIMENTS = "ALL"
_OOCYTE_ROWS_DIR = "oocytes"


# ----------------------------------------------------------------------------------------------------------- items
def _oocyte_rows_path(output_dir: str | Path, experiment: str, oocyte: str) -> Path:
    return Path(output_dir) / _OOCYTE_ROWS_DIR / experiment / f"{oocyte}.csv"


def finished_oocytes(output_dir: str | Path) -> set[tuple[str, str]]:
    """(experiment, oocyte) pairs whose row file exists, i.e. whose masks, plot and montage are complete."""
    root = Path(output_dir) / _OOCYTE_ROWS_DIR
    return {(p.parent.name, p.stem) for p in root.glob("*/*.csv")} if root.is_dir() else set()


MODEL_RECORD = "model.json"  # which weights produced the finished oocytes of an output folder


def _sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_model_record(output_dir: str | Path, model_path: str | Path, finished: set[tuple[str, str]]) -> None:
    """Refuse to add results of one model to an output folder whose finished oocytes came from another.

    A rerun skips finished oocytes; after retraining, that would silently mix the old model's volumes with the
    new one's. The folder records the weights' SHA-256 in ``model.json``; a different model with finished oocytes
    raises ``ValueError`` naming both. With no finished oocytes the record is (re)written.
    """
    output_dir, model_path = Path(output_dir), Path(model_path)
    if not model_path.is_file():
        return  # load_network reports the missing file, with the advice
    record_path = output_dir / MODEL_RECORD
    current = {"model_path": str(model_path.resolve()), "sha256": _sha256(model_path)}
    if finished and record_path.is_file():
        previous = json.loads(record_path.read_text())
        if previous.get("sha256") != current["sha256"]:
            raise ValueError(
                f"output_dir {output_dir} holds {len(finished)} finished oocytes of another model "
                f"({previous.get('model_path')}, sha256 {str(previous.get('sha256'))[:12]}...), not of {model_path} "
                f"(sha256 {current['sha256'][:12]}...): a rerun would mix the two models' volumes. Choose a new "
                "--output_dir, delete this one, or pass --skip_finished false to evaluate every oocyte again")
        return
    with atomic_path(record_path) as tmp:
        tmp.write_text(json.dumps(current, indent=1) + "\n")


def _as_float(value: Any) -> float:
    """A datalist number as float; None or empty (e.g. no GVBD known) becomes NaN, which collates and plots cleanly."""
    if value is None or value == "":
        return math.nan
    return float(value)


def scan_items(dataset_dir: str | Path, default_frame_interval_min: float = 10.0) -> list[dict]:
    """Every frame of every oocyte found in ``dataset_dir`` as datalist items (paths relative to it).

    Unlike the datalist's split lists this covers all oocytes, and ``gvbd.csv`` is optional: new recordings
    without it get ``minutes_since_gvbd`` None. ``time_min`` = frame x the file's frame interval (or
    ``default_frame_interval_min`` where the file has none).
    """
    from scripts.datalist import GVBD_TABLE, read_gvbd_table, scan_dataset  # imported here: only a scan needs them

    series = scan_dataset(dataset_dir)
    gvbd = read_gvbd_table(dataset_dir, series) if (Path(dataset_dir) / GVBD_TABLE).is_file() else {}
    items = []
    for s in series:
        interval = s.frame_interval_min if s.frame_interval_min is not None else default_frame_interval_min
        gvbd_frame = gvbd.get((s.experiment, s.oocyte))
        for frame in sorted(s.images):
            item = {"image": s.images[frame], "frame": frame, "experiment": s.experiment, "oocyte": s.oocyte,
                    "time_min": frame * interval,
                    "minutes_since_gvbd": None if gvbd_frame is None else (frame - gvbd_frame) * interval}
            if frame in s.labels:
                item["label"] = s.labels[frame]
            items.append(item)
    return items


def evaluation_items(
    dataset_dir: str | Path,
    output_dir: str | Path,
    datalist_file: str | Path | None = None,
    subset: str = "inference",
    skip_finished: bool = True,
    model_path: str | Path | None = None,
) -> list[dict]:
    """The frames to evaluate, one datalist item per frame, sorted by (experiment, oocyte, frame).

    From ``datalist_file`` (default ``<dataset_dir>/datalist.json`` when it exists) its ``subset`` list (the
    ``inference`` list: every frame of the test oocytes); without a datalist, every frame of every oocyte in
    ``dataset_dir`` (``scan_items``). Paths become absolute (datalist paths are relative to ``dataset_dir``);
    ``time_min`` and ``minutes_since_gvbd`` become floats (NaN when unknown); each item gets ``index``, its
    position in the returned list. With ``skip_finished``, oocytes whose row file exists in ``output_dir``
    are left out, so an interrupted run resumes where it stopped; given ``model_path``, only when they came from
    the same weights (``check_model_record``).
    """
    dataset_dir = Path(dataset_dir)
    if not dataset_dir.is_dir():
        raise FileNotFoundError(f"dataset_dir {dataset_dir} is not a folder (expected EXPERIMENT/OOCYTE.tif files and gvbd.csv)")
    datalist_path = Path(datalist_file) if datalist_file else dataset_dir / "datalist.json"
    if datalist_path.is_file():
        with open(datalist_path) as f:
            datalist = json.load(f)
        if subset not in datalist:
            raise KeyError(f"{datalist_path}: no {subset!r} list in the datalist (found {sorted(datalist)})")
        raw_items = datalist[subset]
        source = f"{datalist_path} [{subset}]"
    elif datalist_file:
        raise FileNotFoundError(f"datalist_file {datalist_path} does not exist")
    else:
        raw_items = scan_items(dataset_dir)
        source = f"a scan of {dataset_dir}"
    for path in remove_abandoned_partial_files(output_dir):
        logger.info(f"removed {path}: a partial file of an earlier run that was killed")
    finished = finished_oocytes(output_dir) if skip_finished else set()
    if model_path:
        check_model_record(output_dir, model_path, finished)
    items = []
    for raw in raw_items:
        item = dict(raw)
        if (item["experiment"], item["oocyte"]) in finished:
            continue
        for key in ("image", "label"):
            if item.get(key):
                item[key] = str(dataset_dir / item[key])
            else:
                item.pop(key, None)
        item["frame"] = int(item.get("frame", 0))
        item["time_min"] = _as_float(item.get("time_min"))
        item["minutes_since_gvbd"] = _as_float(item.get("minutes_since_gvbd"))
        items.append(item)
    items.sort(key=lambda it: (it["experiment"], it["oocyte"], it["frame"]))
    for index, item in enumerate(items):
        item["index"] = index
    n_oocytes = len({(i["experiment"], i["oocyte"]) for i in items})
    logger.info(f"evaluating {len(items)} frames of {n_oocytes} oocytes from {source}; "
                f"{len(finished)} oocytes already finished in {output_dir} are skipped")
    return items


# ----------------------------------------------------------------------------------------------- fast inference
def load_network(network: torch.nn.Module, model_path: str | Path, device: str | torch.device = "cpu",
                 channels_last: bool = True) -> torch.nn.Module:
    """Load a weights-only state dict (``torch.load(weights_only=True)``) into ``network``; move it to ``device``.

    With ``channels_last`` the weights are stored channels_last_3d, the layout oneDNN's fast 3D convolutions use
    on CPU. Raises FileNotFoundError naming the path when there is no model file.
    """
    model_path = Path(model_path)
    if not model_path.is_file():
        raise FileNotFoundError(f"model file {model_path} not found: train first (configs/train.yaml) or pass --model_path")
    try:
        state = torch.load(model_path, map_location="cpu", weights_only=True)
    except Exception as error:  # pickle of arbitrary objects, a truncated download, not a torch file at all
        raise ValueError(f"model file {model_path} cannot be loaded as weights only (torch.load(weights_only=True)): "
                         f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}; expected the "
                         "state dict that training writes to models/model.pt") from error
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]  # a resumable training checkpoint holds the weights under "model"
    try:
        network.load_state_dict(state)  # strict: every weight must match, or the masks would be silently wrong
    except RuntimeError as error:
        raise ValueError(f"model file {model_path} does not match the configured network "
                         f"{type(network).__name__}: {error}. Set the network parameters (variant, attention_levels, "
                         "norm, out_channels) to those the model was trained with") from error
    network = network.to(device)
    if channels_last:
        network = network.to(memory_format=torch.channels_last_3d)
    return network.eval()


class AutocastInferer(Inferer):
    """Whole-crop forward pass under autocast (default bf16) with channels_last_3d input; logits out as float32.

    The network runs on the plain tensor (no per-operation meta bookkeeping); a MetaTensor input gives a
    MetaTensor output carrying a copy of the input's meta and applied operations.

    ``amp=False`` is plain fp32. Which precision is fast where is decided by ``scripts.precision``
    (``resolve_precision``; the configs pass ``amp`` / ``amp_dtype`` from it): bf16 autocast only pays on CPUs
    with native bf16, and channels_last_3d pays on CPU even in fp32 (0.85 s against 1.7 s per 96 x 96 x 12 crop
    here). Input (N, C, X, Y, Z); output (N, out_channels, X, Y, Z) float32.

    ``flip_tta`` (test-time augmentation, as nnU-Net's mirroring): the crop also runs flipped along x, y and both
    (4 forward passes: 4x the time), the outputs are flipped back and their probabilities averaged (sigmoid for
    one output channel, softmax for two); the result is returned as logits again (log-odds of the mean
    probability, log of the mean for softmax), so thresholds and argmax downstream are unchanged. Only the flips
    of training's augmentation are used (no z flip).
    """

    def __init__(self, amp: bool = True, amp_dtype: str | torch.dtype = "bfloat16", channels_last: bool = True,
                 flip_tta: bool = False) -> None:
        super().__init__()
        self.amp = bool(amp)
        self.amp_dtype = getattr(torch, amp_dtype) if isinstance(amp_dtype, str) else amp_dtype
        self.channels_last = bool(channels_last)
        self.flip_tta = bool(flip_tta)

    def _forward(self, x: torch.Tensor, network: torch.nn.Module, *args: Any, **kwargs: Any) -> torch.Tensor:
        if self.channels_last and x.dim() == 5:
            x = x.contiguous(memory_format=torch.channels_last_3d)
        with torch.autocast(device_type=x.device.type, dtype=self.amp_dtype, enabled=self.amp):
            return network(x, *args, **kwargs).float().contiguous()

    def __call__(self, inputs: torch.Tensor, network: torch.nn.Module, *args: Any, **kwargs: Any) -> torch.Tensor:
        x = inputs.as_tensor() if hasattr(inputs, "as_tensor") else inputs  # plain tensor: no meta bookkeeping per op
        if not self.flip_tta:
            logits = self._forward(x, network, *args, **kwargs)
        else:
            probabilities = None
            for dims in ((), (2,), (3,), (2, 3)):  # (N, C, X, Y, Z): flip x, y, both
                flipped = torch.flip(x, dims) if dims else x
                out = self._forward(flipped, network, *args, **kwargs)
                out = torch.flip(out, dims) if dims else out
                p = torch.sigmoid(out) if out.shape[1] == 1 else torch.softmax(out, dim=1)
                probabilities = p if probabilities is None else probabilities + p
            mean = (probabilities / 4.0).clamp(1e-7, 1.0 - 1e-7)
            logits = (torch.logit(mean) if mean.shape[1] == 1 else torch.log(mean)).contiguous()
        if isinstance(inputs, MetaTensor):
            # as a MetaTensor forward would: the prediction carries a copy of the input's meta (and trace)
            logits = MetaTensor(logits)
            logits.copy_meta_from(inputs, copy_attr=True)
        return logits


# ------------------------------------------------------------------------------------------------- mask streaming
class _Aborted(Exception):
    """Raised inside the writer thread's page iterator when a recorder is aborted."""


class MaskStreamWriter:
    """Write binary masks as a TZYX uint8 ImageJ hyperstack one frame at a time (``write``), atomically.

    The file is written by a background thread that pulls pages from a queue of at most two frames, so memory
    stays at about two frames whatever the number of frames, compression overlaps the next forward pass, and the
    frame count ``n_frames`` is fixed up front (ImageJ stores the hyperstack's shape in its header). The file
    appears under ``path`` only after ``close()`` once all frames are in; ``abort()`` leaves nothing behind.
    Calibration as ``scripts.io.write_mask_hyperstack``: pixel size x/y and voxel depth from ``spacing_um_xyz``
    (um), frame interval in minutes. ``compression`` "zlib" (Fiji reads it; a mask compresses ~100x) or None;
    zlib level 1 compresses a mostly empty full frame in ~0.1 s where level 6 takes ~0.3 s, for a file still
    a few KB per slice.
    """

    def __init__(self, path: str | Path, n_frames: int, spacing_um_xyz: Sequence[float],
                 frame_interval_min: float | None = None, compression: str | None = "zlib",
                 compression_level: int = 1) -> None:
        self.path = Path(path)
        self.n_frames = int(n_frames)
        self.spacing_um_xyz = tuple(float(s) for s in spacing_um_xyz)
        self.frame_interval_min = frame_interval_min
        self.compression = compression or None
        self.compression_level = int(compression_level)
        self._queue: queue.Queue = queue.Queue(maxsize=2)
        self._thread: threading.Thread | None = None
        self._atomic = None
        self._error: BaseException | None = None
        self._shape_zyx: tuple[int, ...] | None = None
        self.frames_written = 0

    def write(self, mask_xyz: np.ndarray) -> None:
        """Append one frame, a boolean or 0/1 (X, Y, Z) mask."""
        mask_xyz = np.asarray(mask_xyz) > 0
        # transpose only the mask's bounding box into a zeroed (Z, Y, X) frame: a full 750 x 750 x 31 transpose
        # costs ~0.2 s per frame, the box a few ms
        frame_zyx = np.zeros(mask_xyz.shape[::-1], dtype=np.uint8)
        box = bounding_box(mask_xyz)
        if box is not None:
            frame_zyx[box[::-1]] = mask_xyz[box].transpose(2, 1, 0)
        if self.frames_written >= self.n_frames:
            raise ValueError(f"{self.path}: all {self.n_frames} frames are already written")
        if self._thread is None:
            self._start(frame_zyx.shape)
        elif frame_zyx.shape != self._shape_zyx:
            raise ValueError(f"{self.path}: frame {self.frames_written} has shape (Z, Y, X) {frame_zyx.shape}, "
                             f"expected {self._shape_zyx} like the first frame")
        self._put(frame_zyx)
        self.frames_written += 1

    def _start(self, shape_zyx: tuple[int, ...]) -> None:
        self._shape_zyx = shape_zyx
        self._atomic = atomic_path(self.path)
        tmp_path = self._atomic.__enter__()
        self._thread = threading.Thread(target=self._run, args=(tmp_path,), name=f"masks:{self.path.name}", daemon=True)
        self._thread.start()

    def _pages(self):
        for _ in range(self.n_frames):
            frame = self._queue.get()
            if frame is None:
                raise _Aborted
            yield from frame  # a (Z, Y, X) frame is Z pages of (Y, X)

    def _run(self, tmp_path: Path) -> None:
        metadata: dict = {"axes": "TZYX", "unit": "um", "spacing": self.spacing_um_xyz[2]}
        if self.frame_interval_min is not None and math.isfinite(self.frame_interval_min):
            metadata["finterval"] = float(self.frame_interval_min) * 60.0  # ImageJ stores seconds
        try:
            tifffile.imwrite(
                tmp_path, data=self._pages(), shape=(self.n_frames, *self._shape_zyx), dtype=np.uint8, imagej=True,
                resolution=(1.0 / self.spacing_um_xyz[0], 1.0 / self.spacing_um_xyz[1]), metadata=metadata,
                compression=self.compression,
                compressionargs={"level": self.compression_level} if self.compression == "zlib" else None,
            )
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
        """Finish the file and move it into place; raises if fewer than ``n_frames`` frames were written."""
        if self.frames_written != self.n_frames:
            self.abort()
            raise ValueError(f"{self.path}: expected {self.n_frames} frames, {self.frames_written} were written")
        self._thread.join()
        if self._error is not None:
            self.abort()
            raise RuntimeError(f"{self.path}: writing the mask hyperstack failed: {self._error!r}") from self._error
        self._atomic.__exit__(None, None, None)
        self._atomic = None
        return self.path

    def abort(self) -> None:
        """Stop writing and remove the temporary file; the final path is never created."""
        if self._thread is not None and self._thread.is_alive():
            while True:  # make room for the stop marker, then wait for the thread to end
                try:
                    self._queue.put_nowait(None)
                    break
                except queue.Full:
                    self._queue.get_nowait()
            self._thread.join()
        if self._atomic is not None:
            reason = _Aborted(f"{self.path}: aborted")
            self._atomic.__exit__(_Aborted, reason, None)
            self._atomic = None


# -------------------------------------------------------------------------------------------------- frame level
def crop_window_xy(frame_shape_xyz: Sequence[int], crop_size: Sequence[int]) -> tuple[slice, slice]:
    """The (x, y) slices of the full frame that the network's centre crop covers, clipped to the frame.

    Uses MONAI's ``CenterSpatialCrop`` so the window is the one the preprocessing cut (352 of 750 -> 199:551).
    """
    slices = CenterSpatialCrop(roi_size=list(crop_size)).compute_slices(tuple(int(n) for n in frame_shape_xyz))
    return tuple(slice(max(s.start, 0), min(s.stop, int(n))) for s, n in zip(slices[:2], frame_shape_xyz, strict=False))


def touches_window_border(mask_xyz: np.ndarray, window_xy: tuple[slice, slice]) -> bool:
    """True when the mask has a voxel on the x or y edge of the crop window (the spindle may be cut off there)."""
    sx, sy = window_xy
    inside = mask_xyz[sx, sy]
    if inside.size == 0:
        return False
    return bool(inside[0].any() or inside[-1].any() or inside[:, 0].any() or inside[:, -1].any())


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


def method_frame_values(mask_xyz: np.ndarray | None, label_xyz: np.ndarray | None, spacing_um_xyz: Sequence[float],
                        window_xy: tuple[slice, slice]) -> dict[str, Any]:
    """One method's per-frame values (``METHOD_COLUMNS`` but ``volume_jump``) plus ``ref_volume_um3``.

    A method that did not segment this frame (``mask_xyz`` None: the baseline on an unlabelled frame) gets NaN
    values, which the CSV leaves empty and the summaries leave out.
    """
    if mask_xyz is None:
        return {c: math.nan for c in METHOD_COLUMNS if c != "volume_jump"}
    values: dict[str, Any] = dict(shape_descriptors(mask_xyz, spacing_um_xyz))
    errors = frame_metrics(mask_xyz, label_xyz, spacing_um_xyz)
    values.update({k: errors[k] for k in ("ref_volume_um3", "abs_volume_error_um3", "rel_volume_error", "dice")})
    values["touches_crop_border"] = touches_window_border(mask_xyz, window_xy)
    return values


def volume_csv_columns(methods: Sequence[str]) -> list[str]:
    """Columns of volumes.csv: ids, reference, then ``METHOD_COLUMNS`` for each method (first one unprefixed)."""
    columns = list(ID_COLUMNS) + list(REFERENCE_COLUMNS)
    for i, method in enumerate(methods):
        columns += [c if i == 0 else f"{method}_{c}" for c in METHOD_COLUMNS]
    return columns


def _method_key(methods: Sequence[str], method: str, column: str) -> str:
    return column if method == methods[0] else f"{method}_{column}"


# --------------------------------------------------------------------------------------------------- CSV helpers
def _format(value: Any) -> str:
    """CSV cell: NaN/None empty, bools 0/1, floats at full precision (so volumes read back exactly)."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return "" if not math.isfinite(float(value)) else repr(float(value))
    return str(value)


def _write_csv(path: Path, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_format(row.get(c)) for c in columns])


def _parse(value: str) -> Any:
    if value == "":
        return math.nan
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a CSV written here, with numbers parsed (empty cells -> NaN; experiment/oocyte stay strings)."""
    with open(path, newline="") as f:
        return [{k: (v if k in ("experiment", "oocyte", "method") else _parse(v)) for k, v in row.items()}
                for row in csv.DictReader(f)]


# ------------------------------------------------------------------------------------------------------ plotting
def plot_oocyte_volumes(rows: Sequence[Mapping[str, Any]], methods: Sequence[str], path: str | Path, title: str) -> Path:
    """Volume over time (thesis figures 6.7 / 6.8): lines per method, reference points, relative-error panel.

    The x axis is minutes since GVBD where GVBD is known (a dotted line marks GVBD), else minutes since the
    start. Frames flagged as volume jumps are circled in red. The relative-error panel appears only when
    some frame has a reference.
    """
    since_gvbd = np.array([r["minutes_since_gvbd"] for r in rows], dtype=float)
    use_gvbd = bool(np.isfinite(since_gvbd).any())
    x = since_gvbd if use_gvbd else np.array([r["time_min"] for r in rows], dtype=float)
    if not np.isfinite(x).any():
        x = np.array([r["frame"] for r in rows], dtype=float)
    ref = np.array([r["ref_volume_um3"] for r in rows], dtype=float)
    labelled = np.isfinite(ref)
    colours = ["tab:blue", "tab:orange", "tab:purple", "tab:brown"]

    fig = Figure(figsize=(8, 6 if labelled.any() else 4), dpi=100)
    if labelled.any():
        ax_vol, ax_err = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    else:
        ax_vol, ax_err = fig.subplots(1, 1), None
    for i, method in enumerate(methods):
        volume = np.array([r[_method_key(methods, method, "volume_um3")] for r in rows], dtype=float)
        style = "-" if i == 0 else "--"
        measured = np.isfinite(volume)
        # a method measured on some frames only (the baseline on labelled frames) is drawn through its points
        marker = "" if measured.all() else "^"
        ax_vol.plot(x[measured], volume[measured], style + marker, color=colours[i % len(colours)],
                    lw=1.6 if i == 0 else 1.1, ms=4, label=method)
        jumps = np.array([bool(r[_method_key(methods, method, "volume_jump")]) for r in rows])
        if jumps.any():
            ax_vol.plot(x[jumps], volume[jumps], "o", mfc="none", mec="red", ms=9,
                        label=f"{method}: volume jump" if i == 0 else None)
        if ax_err is not None:
            rel = np.array([r[_method_key(methods, method, "rel_volume_error")] for r in rows], dtype=float)
            ax_err.plot(x[labelled], 100.0 * rel[labelled], style + "o", color=colours[i % len(colours)], ms=4, label=method)
    if labelled.any():
        ax_vol.plot(x[labelled], ref[labelled], "ks", ms=5, label="reference")
        ax_err.axhline(0.0, color="0.5", lw=0.8)
        ax_err.set_ylabel("relative error (%)")
        ax_err.grid(alpha=0.3)
        # scale the error axis to the primary method: a poor baseline (errors of 1000s of %) would flatten it
        primary_rel = np.array([r["rel_volume_error"] for r in rows], dtype=float)[labelled]
        primary_rel = primary_rel[np.isfinite(primary_rel)]
        limit = max(10.0, 1.3 * 100.0 * float(np.abs(primary_rel).max())) if len(primary_rel) else 100.0
        ax_err.set_ylim(-limit, limit)
        ax_err.legend(loc="upper right", fontsize=8, title="beyond the axis: off scale", title_fontsize=7)
    for ax in (ax_vol, ax_err):
        if ax is not None and use_gvbd:
            ax.axvline(0.0, color="0.4", ls=":", lw=1)
    # scale the volume axis to the primary method and the reference, as the error axis: a baseline that takes
    # the whole cytoplasm (100x the spindle's volume) would otherwise flatten the curve a biologist reads
    primary_volume = np.array([r["volume_um3"] for r in rows], dtype=float)
    shown = np.concatenate([primary_volume[np.isfinite(primary_volume)], ref[labelled]])
    if len(shown) and float(shown.max()) > 0:
        ax_vol.set_ylim(0.0, 1.3 * float(shown.max()))
    ax_vol.set_ylabel("spindle volume (um³)")
    ax_vol.set_title(title)
    ax_vol.grid(alpha=0.3)
    ax_vol.legend(loc="upper left", fontsize=8)
    (ax_err or ax_vol).set_xlabel("minutes since GVBD" if use_gvbd else "time (min)")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


def plot_qc_montage(tiles: Sequence[Mapping[str, Any]], methods: Sequence[str], path: str | Path, title: str) -> Path:
    """A row of frames: maximum intensity projection over z of the crop window, with mask outlines.

    Each tile holds ``image`` (X, Y) projection, ``masks`` {method: (X, Y) bool projection}, optional
    ``reference`` (X, Y) bool projection and a ``label`` string. Outlines: network cyan, baseline orange
    (dashed), reference green.
    """
    n = max(len(tiles), 1)
    fig = Figure(figsize=(2.6 * n, 3.0), dpi=100)
    axes = np.atleast_1d(fig.subplots(1, n))
    colours = ["cyan", "orange", "magenta", "yellow"]
    for ax, tile in zip(axes, tiles, strict=False):
        image = tile["image"]
        lo, hi = np.percentile(image, [1, 99.8]) if image.size else (0, 1)
        ax.imshow(image.T, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1, interpolation="nearest")
        if tile.get("reference") is not None and tile["reference"].any():
            ax.contour(tile["reference"].T.astype(float), levels=[0.5], colors="lime", linewidths=1.0)
        for i, method in enumerate(methods):
            mask = tile["masks"].get(method)
            if mask is not None and mask.any():
                ax.contour(mask.T.astype(float), levels=[0.5], colors=colours[i % len(colours)], linewidths=0.9,
                           linestyles="solid" if i == 0 else "dashed")
        ax.set_title(tile["label"], fontsize=8)
        ax.set_axis_off()
    for ax in axes[len(tiles):]:
        ax.set_axis_off()
    legend = ", ".join(f"{m} {colours[i % len(colours)]}" for i, m in enumerate(methods)) + ", reference green"
    fig.suptitle(f"{title}  (max projection over z; {legend})", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.9))  # leave the top tenth to the title
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


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
    projections; masks of the primary method go straight to disk (``MaskStreamWriter``).
    """

    def __init__(self, output_dir: str | Path, items: Sequence[Mapping[str, Any]], methods: Sequence[str],
                 crop_size: Sequence[int], channel: int | None = 1, montage_tiles: int = 6,
                 mask_compression: str | None = "zlib", jump_rel_threshold: float = 0.5,
                 jump_min_um3: float = 50.0, jump_half_window: int = 3) -> None:
        self.output_dir = Path(output_dir)
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
        times = np.array([_as_float(it.get("time_min")) for it in self.items], dtype=float)
        frames = np.array([int(it["frame"]) for it in self.items], dtype=float)
        ok = np.isfinite(times)
        if ok.sum() < 2:
            return None
        return float(np.median(np.diff(times[ok]) / np.diff(frames[ok])))

    def add_frame(self, masks: Mapping[str, np.ndarray], label: np.ndarray | None, spacing_um_xyz: Sequence[float],
                  image_crop_xyz: np.ndarray | None = None) -> dict[str, Any]:
        """Record the next frame (in the order of ``items``); returns its row.

        A secondary method may be missing from ``masks`` or None on a frame it did not segment; the primary may not.
        """
        item = self.items[len(self.rows)]
        primary = masks.get(self.methods[0])
        if primary is None:
            raise ValueError(f"{item.get('image')}: frame {item['frame']}: no mask of the primary method {self.methods[0]!r}")
        if label is not None and label.shape != primary.shape:
            raise ValueError(f"{item.get('label')}: frame {item['frame']}: reference mask shape (X, Y, Z) {label.shape} "
                             f"differs from the image's {primary.shape}")
        window = crop_window_xy(primary.shape, self.crop_size)
        row: dict[str, Any] = {c: item.get(c) for c in ID_COLUMNS}
        row["has_label"] = label is not None
        for method in self.methods:
            values = method_frame_values(masks.get(method), label, spacing_um_xyz, window)
            ref_volume = values.pop("ref_volume_um3", math.nan)
            if method == self.methods[0]:
                row["ref_volume_um3"] = ref_volume
            row.update({_method_key(self.methods, method, k): v for k, v in values.items()})
        if self.masks is None:
            self.masks = MaskStreamWriter(self.output_dir / "masks" / self.experiment / f"{self.oocyte}.tif",
                                          len(self.items), spacing_um_xyz, self._frame_interval_min(),
                                          self.mask_compression)
        self.masks.write(primary)
        if int(item["frame"]) in self.montage_frames:
            self.tiles.append(self._tile(item, row, masks, label, window, image_crop_xyz))
        self.rows.append(row)
        return row

    def _tile(self, item, row, masks, label, window, image_crop_xyz) -> dict[str, Any]:
        sx, sy = window
        mip = {m: masks[m][sx, sy].any(axis=2) for m in self.methods if masks.get(m) is not None}
        shape_xy = mip[self.methods[0]].shape
        if image_crop_xyz is not None:
            image = image_crop_xyz.max(axis=2)
            # the crop may be padded beyond a small frame: take its centre so image and masks line up
            ox, oy = (max(0, (a - b) // 2) for a, b in zip(image.shape, shape_xy, strict=True))
            image = image[ox:ox + shape_xy[0], oy:oy + shape_xy[1]]
        else:
            image = read_frame(item["image"], int(item["frame"]), self.channel)[0][sx, sy].max(axis=2).astype(np.float32)
        volume = row["volume_um3"]
        text = f"frame {item['frame']}"
        if math.isfinite(_as_float(item.get("minutes_since_gvbd"))):
            text += f" ({item['minutes_since_gvbd']:+.0f} min)"
        text += f"\nV = {volume:.0f} um³"
        if math.isfinite(_as_float(row.get("dice"))):
            text += f", Dice {row['dice']:.2f}"
        return {"image": image, "masks": mip, "reference": None if label is None else label[sx, sy].any(axis=2),
                "label": text}

    def finish(self) -> list[dict[str, Any]]:
        """Flag volume jumps, close the masks file, write plot and montage, and last the row file (the done marker)."""
        if not self.complete:
            raise ValueError(f"{self.name}: expected {len(self.items)} frames, received {len(self.rows)}")
        for method in self.methods:
            volumes = [r[_method_key(self.methods, method, "volume_um3")] for r in self.rows]
            for row, flag in zip(self.rows, flag_volume_jumps(volumes, **self.jump), strict=True):
                row[_method_key(self.methods, method, "volume_jump")] = flag
        self.masks.close()
        title = f"{self.experiment} / {self.oocyte}"
        plot_oocyte_volumes(self.rows, self.methods, self.output_dir / "plots" / f"{self.name}.png", title)
        plot_qc_montage(self.tiles, self.methods, self.output_dir / "qc" / f"{self.name}.png", title)
        _write_csv(_oocyte_rows_path(self.output_dir, self.experiment, self.oocyte), volume_csv_columns(self.methods),
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
        label_key / image_key: keys of the reference mask (full frame) and of the network's input crop.
        channel: the image channel, for QC tiles read from disk when no input crop is in the output.
        montage_tiles, mask_compression, jump_rel_threshold, jump_min_um3, jump_half_window: see ``OocyteRecorder``.

    An exception in the run aborts the open oocyte (no partial file) and is re-raised.
    """

    def __init__(self, output_dir: str | Path, items: Sequence[Mapping[str, Any]], methods: Mapping[str, str],
                 crop_size: Sequence[int], label_key: str = "label", image_key: str = "image", channel: int | None = 1,
                 montage_tiles: int = 6, mask_compression: str | None = "zlib", jump_rel_threshold: float = 0.5,
                 jump_min_um3: float = 50.0, jump_half_window: int = 3) -> None:
        self.output_dir = Path(output_dir)
        self.items = list(items)
        self.methods = dict(methods)
        if not self.methods:
            raise ValueError("TimeSeriesWriter needs at least one method, e.g. {'network': 'pred'}")
        self.label_key, self.image_key = label_key, image_key
        self.recorder_args = {
            "methods": list(self.methods), "crop_size": list(crop_size), "channel": channel,
            "montage_tiles": montage_tiles, "mask_compression": mask_compression,
            "jump_rel_threshold": jump_rel_threshold, "jump_min_um3": jump_min_um3, "jump_half_window": jump_half_window,
        }
        self._groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
        for item in self.items:
            self._groups.setdefault((item["experiment"], item["oocyte"]), []).append(item)
        self.recorder: OocyteRecorder | None = None
        self.finished: list[tuple[str, str]] = []

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
            self.add({**batch_item, **out}, int(batch_item["index"]))

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
        label = out.get(self.label_key)
        label_xyz = binary_foreground(label) if isinstance(label, (torch.Tensor, np.ndarray)) else None
        image = out.get(self.image_key)
        image_crop = image.detach().cpu().float().numpy()[0] if isinstance(image, torch.Tensor) else None
        # the loader's image carries the file's calibration; a bare mask (tests, custom pipelines) may carry its own
        spacing = spacing_from_meta(image if image is not None else out[next(iter(self.methods.values()))])
        self.recorder.add_frame(masks, label_xyz, spacing, image_crop)
        if self.recorder.complete:
            self.recorder.finish()
            logger.info(_oocyte_log_line(self.recorder))
            self.finished.append(key)
            self.recorder = None

    def completed(self, engine: Engine | None = None) -> None:
        if self.recorder is not None:
            name, got, expected = self.recorder.name, len(self.recorder.rows), len(self.recorder.items)
            self.recorder.abort()
            self.recorder = None
            raise RuntimeError(f"{name}: the run ended after {got} of {expected} frames; the oocyte was not written")

    def exception_raised(self, engine: Engine, exc: BaseException) -> None:
        if self.recorder is not None:
            self.recorder.abort()
            self.recorder = None
        raise exc


def _oocyte_log_line(recorder: OocyteRecorder) -> str:
    rows = recorder.rows
    line = f"{recorder.name}: {len(rows)} frames, median volume {np.median([r['volume_um3'] for r in rows]):.1f} um^3"
    dice = [r["dice"] for r in rows if math.isfinite(_as_float(r.get("dice")))]
    if dice:
        line += f", mean Dice {np.mean(dice):.3f} over {len(dice)} labelled frames"
    return line


# ----------------------------------------------------------------------------------------------------- reports
def _methods_of(columns: Sequence[str], primary: str = "network") -> list[str]:
    """Method names in a volumes table: the primary one (unprefixed columns) first, then those prefixing ``volume_um3``."""
    others = [c[: -len("_volume_um3")] for c in columns if c.endswith("_volume_um3") and c not in ("volume_um3", "ref_volume_um3")]
    return [primary, *others]


def summarise(rows: Sequence[Mapping[str, Any]], methods: Sequence[str], method: str) -> dict[str, Any]:
    """Summary of one method over ``rows`` (frames pooled): Dice, |relative volume error|, MAE in um^3, flags.

    Frames without a volume for ``method`` (oocytes evaluated without it) are left out. Error statistics use the
    labelled frames only; NaN when there are none. ``n_oocytes`` counts distinct oocytes.
    """
    rows = [r for r in rows if math.isfinite(_as_float(r.get(_method_key(methods, method, "volume_um3"))))]

    def column(name: str) -> np.ndarray:
        return np.array([_as_float(r.get(_method_key(methods, method, name))) for r in rows], dtype=float)

    def stat(fn, values: np.ndarray) -> float:
        values = values[np.isfinite(values)]
        return float(fn(values)) if len(values) else math.nan

    labelled = np.array([bool(_as_float(r.get("has_label")) == 1) for r in rows], dtype=bool)
    dice, rel, abs_err = column("dice")[labelled], np.abs(column("rel_volume_error")[labelled]), column("abs_volume_error_um3")[labelled]
    return {
        "method": method,
        "n_oocytes": len({(r["experiment"], r["oocyte"]) for r in rows}),
        "n_frames": len(rows),
        "n_labelled": int(labelled.sum()),
        "mean_dice": stat(np.mean, dice),
        "median_dice": stat(np.median, dice),
        "median_abs_rel_volume_error": stat(np.median, rel),
        "mean_abs_rel_volume_error": stat(np.mean, rel),
        "mae_um3": stat(np.mean, abs_err),
        "mean_volume_um3": stat(np.mean, column("volume_um3")),
        "n_volume_jumps": int(np.nansum(column("volume_jump"))),
        "n_touches_crop_border": int(np.nansum(column("touches_crop_border"))),
    }


def _json_ready(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN
    if isinstance(value, (np.integer, np.floating)):
        return _json_ready(value.item())
    return value


def write_reports(output_dir: str | Path, primary: str = "network") -> dict[str, Any]:
    """Rebuild ``volumes.csv`` and the summaries from every finished oocyte's row file in ``output_dir``.

    Oocytes finished by earlier runs are included, so a resumed run reports the whole dataset. Every method
    (the network and the baseline) gets its rows in ``summary_per_oocyte.csv`` and ``summary_per_experiment.csv``
    (experiment "ALL" pools every frame); ``summary.json`` holds both tables. ``primary`` names the method whose
    columns are unprefixed (the first of ``TimeSeriesWriter``'s methods). Returns the JSON content.
    """
    output_dir = Path(output_dir)
    row_files = sorted((output_dir / _OOCYTE_ROWS_DIR).glob("*/*.csv"))
    # oocytes finished by runs with other methods (e.g. --baseline false later) may lack some columns: the
    # table takes the union, in first-seen order, and leaves the missing cells empty
    columns: list[str] = []
    for path in row_files:
        with open(path, newline="") as rf:
            columns += [c for c in next(csv.reader(rf)) if c not in columns]
    columns = columns or volume_csv_columns([primary])
    per_oocyte, by_experiment = [], {}
    with atomic_path(output_dir / "volumes.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        for path in row_files:
            with open(path, newline="") as rf:
                reader = csv.DictReader(rf)
                writer.writerows(reader)
                header = reader.fieldnames
            rows = read_rows(path)
            if not rows:
                continue
            methods = _methods_of(header, primary)
            for method in methods:
                summary = summarise(rows, methods, method)
                per_oocyte.append({**summary, "experiment": rows[0]["experiment"], "oocyte": rows[0]["oocyte"]})
            # pooled statistics need the frames, but only a few numbers per frame: memory stays small
            by_experiment.setdefault(rows[0]["experiment"], []).extend(rows)
    methods = _methods_of(columns, primary)
    per_experiment = []
    for method in methods:
        for experiment in sorted(by_experiment):
            per_experiment.append({**summarise(by_experiment[experiment], methods, method), "experiment": experiment, "oocyte": ""})
        all_rows = [r for rows in by_experiment.values() for r in rows]
        if all_rows:
            per_experiment.append({**summarise(all_rows, methods, method), "experiment": ALL_EXPERIMENTS, "oocyte": ""})
    _write_csv(output_dir / "summary_per_oocyte.csv", SUMMARY_COLUMNS, per_oocyte)
    _write_csv(output_dir / "summary_per_experiment.csv", SUMMARY_COLUMNS, per_experiment)
    report = {
        "methods": methods,
        "units": {"volume": "um^3", "time": "min", "rel_volume_error": "fraction (pred - ref) / ref"},
        "per_oocyte": [{k: _json_ready(r[k]) for k in SUMMARY_COLUMNS} for r in per_oocyte],
        "per_experiment": [{k: _json_ready(r[k]) for k in SUMMARY_COLUMNS} for r in per_experiment],
    }
    with atomic_path(output_dir / "summary.json") as tmp, open(tmp, "w") as f:
        json.dump(report, f, indent=2)
    for row in per_experiment:
        if row["experiment"] == ALL_EXPERIMENTS:
            logger.info(f"{row['method']}: {row['n_frames']} frames of {row['n_oocytes']} oocytes; "
                        f"mean Dice {row['mean_dice']:.3f}, median |rel. volume error| "
                        f"{row['median_abs_rel_volume_error']:.3f}, MAE {row['mae_um3']:.1f} um^3 "
                        f"over {row['n_labelled']} labelled frames")
    return report
