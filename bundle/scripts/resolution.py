"""The model's pixel size: files with other x-y pixels seen by the network at the size it was trained at.

A network learns how many voxels a spindle spans. A file with 0.1 or 0.3 um pixels shows it 1.7x larger or 1.8x
smaller than the 0.17 um frames it was trained on, and the volumes move with the pixel size, not with the spindle
(docs/README.md, "Real spindle stacks"). With ``resample_xy`` (configs/inference.yaml) evaluation keeps two grids:

- the FILE's grid for everything a biologist reads: the crop window covers the same field in um on every file
  (``crop_size`` voxels of ``model_pixel_size_um``: ``ModelFieldCropd``, ``crop_size_on_file_grid``), and the
  classical baseline, the DNA and aMTOC channels, the masks written and the volumes counted on them stay there;
- the MODEL's grid for the network alone: ``to_model_grid`` resamples the standardised crop in x-y to
  ``model_pixel_size_um`` (per z slice, bilinear with antialiasing, so a fine file is averaged rather than
  subsampled), pads it to the network's stride, and returns the function that brings the logits back onto the
  crop's own grid (bilinear), where they are thresholded. z is never resampled: its 2 um sampling is the
  light-sheet's and the network's anisotropy is built for it.

A file at the model's pixel size (within ``SAME_PIXEL_SIZE_TOLERANCE``) is not touched: the result is bit for bit
the one without resampling.

Which pixel size is the model's: the shipped weights were trained on the house phantom's 0.17 um; weights trained
or fine-tuned on a lab's own frames (configs/train.yaml, finetune.yaml) learnt the lab's pixels, which the run
records in the provenance.json beside them (``trained_pixel_size_um``), so evaluating them does not resample the
lab's own files to a size they were never trained at.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from monai.config import KeysCollection
from monai.transforms import CenterSpatialCropd

from scripts.config import as_bool, is_null
from scripts.metrics import spacing_from_meta

SAME_PIXEL_SIZE_TOLERANCE = 1e-3  # relative: a calibration written with 4-6 digits is the same pixel size
PROVENANCE_FILE = "provenance.json"  # beside trained weights (scripts.training.write_provenance)


def training_pixel_size_um(items: Iterable[Mapping]) -> float | None:
    """The median x-y pixel size (um; the geometric mean of x and y per file) of the datalist items' image files,
    read from their headers; None where no file states one (the reader then uses ``default_spacing_um``)."""
    from scripts.io import xy_pixel_sizes_um

    sizes = list(xy_pixel_sizes_um(items).values())
    return round(float(statistics.median(sizes)), 6) if sizes else None  # 0.17, not 0.16999999999999998


def model_provenance(model_path: Any) -> dict:
    """The provenance.json beside the weights at ``model_path`` as a dict; {} where there is none (the shipped
    weights)."""
    path = Path(str(model_path)).parent / PROVENANCE_FILE
    if not path.is_file():
        return {}
    try:
        record = json.loads(path.read_text())
        if not isinstance(record, dict):
            raise ValueError(f"a JSON {type(record).__name__}, not an object")
    except ValueError as error:
        raise ValueError(f"{path}: not the JSON object a training run writes beside its weights ({error}); "
                         "repair or remove it, or set --model_pixel_size_um") from error
    return record


def _positive_um(record: Mapping, key: str, model_path: Any) -> float | None:
    """``record[key]`` as a positive float, None where it is missing or null; refused otherwise."""
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        path = Path(str(model_path)).parent / PROVENANCE_FILE
        raise ValueError(f"{path}: {key} must be a positive number of um, found {value!r}")
    return float(value)


def trained_pixel_size_um(model_path: Any, default_um: float) -> float:
    """The x-y pixel size (um) the weights at ``model_path`` were trained at: ``pixel_size_um`` of the
    provenance.json beside them (written by a training or fine-tuning run: the lab's own pixels), else
    ``default_um`` (the shipped weights: the house phantom's pixels)."""
    value = _positive_um(model_provenance(model_path), "pixel_size_um", model_path)
    return float(default_um) if value is None else value


def trained_network_pixel_size_um(model_path: Any) -> float | None:
    """The x-y pixel size (um) the network of the weights at ``model_path`` saw its training crops at, where a run
    resampled them (train.yaml ``network_pixel_size_um``: ``pixel_size_um`` differs from ``file_pixel_size_um`` in
    the provenance.json beside them); None where the network saw the files' own pixels or there is no record (the
    0.4 weights). Fine-tuning such weights (finetune.yaml) keeps showing the network that pixel size: its filters
    were learnt at that scale."""
    record = model_provenance(model_path)
    network_um = _positive_um(record, "pixel_size_um", model_path)
    files_um = _positive_um(record, "file_pixel_size_um", model_path)
    if network_um is None or files_um is None or _scale(files_um, network_um) is None:
        return None
    return network_um


def trained_crop_size(model_path: Any, default_crop_size: Sequence[int]) -> list[int]:
    """The centre crop (x, y, z; voxels of the model's pixel size, inference.yaml ``crop_size``) that shows the
    network the field of view its training crops had. A run with ``network_pixel_size_um`` (train.yaml) cut its
    crops in the files' voxels (``file_pixel_size_um`` in its provenance.json) and showed them to the network at
    ``pixel_size_um``: 352 voxels of 0.17-um files are 176 of a 0.34-um network, and a 352-voxel crop at
    inference would show it a field four times as large as any it was trained on. The training crop is the
    provenance's ``settings.crop_size`` where recorded, else ``default_crop_size``; weights trained on the files'
    own pixels (or without a provenance.json: the shipped ones) get it unscaled. z and -1 (the whole axis) as
    they are."""
    record = model_provenance(model_path)
    crop = [int(n) for n in (record.get("settings") or {}).get("crop_size") or default_crop_size]
    network_um = trained_network_pixel_size_um(model_path)
    if network_um is None:
        return crop
    files_um = _positive_um(record, "file_pixel_size_um", model_path)
    return [max(1, int(round(n * files_um / network_um))) if axis < 2 and n > 0 else n
            for axis, n in enumerate(crop)]


def _scale(file_pixel_um: float, model_pixel_um: float) -> float | None:
    """File voxels per model voxel along one axis; None where the two pixel sizes are the same."""
    ratio = float(model_pixel_um) / float(file_pixel_um)
    return None if abs(ratio - 1.0) <= SAME_PIXEL_SIZE_TOLERANCE else ratio


def crop_size_on_file_grid(crop_size: Sequence[int], spacing_um_xyz: Sequence[float],
                           model_pixel_size_um: float | None) -> list[int]:
    """The centre crop in the file's voxels (x, y, z) that covers ``crop_size`` voxels of ``model_pixel_size_um``
    in x and y (the same field of view in um on every file); z and non-positive sizes (-1: the whole axis) as given.
    ``model_pixel_size_um`` None: ``crop_size`` itself (the crop is in the file's voxels)."""
    sizes = [int(n) for n in crop_size]
    if model_pixel_size_um is None:
        return sizes
    for axis in (0, 1):
        scale = _scale(spacing_um_xyz[axis], model_pixel_size_um)
        if sizes[axis] > 0 and scale is not None:
            sizes[axis] = max(1, int(round(sizes[axis] * scale)))
    return sizes


def checked_model_pixel_size(resample_xy: Any, model_pixel_size_um: Any) -> float | None:
    """The pixel size the network should see (um), or None: the configs' ``resample_xy`` switch (a bool, or its
    command-line string) and their ``model_pixel_size_um``, which resampling needs."""
    if not as_bool(resample_xy):
        return None
    if is_null(model_pixel_size_um) or not float(model_pixel_size_um) > 0:
        raise ValueError(f"resample_xy needs model_pixel_size_um, the x-y pixel size (um) the weights were trained at; "
                         f"found {model_pixel_size_um!r}")
    return float(model_pixel_size_um)


class ModelFieldCropd(CenterSpatialCropd):
    """MONAI's ``CenterSpatialCropd`` whose x-y size is ``roi_size`` voxels of ``model_pixel_size_um``, expressed in
    each file's own voxels (``crop_size_on_file_grid``, from the first key's spacing); every key gets the same
    window. ``model_pixel_size_um`` None: exactly ``CenterSpatialCropd(keys, roi_size)``. Invertible as MONAI's crop
    (``Invertd`` puts a mask made on the crop back onto the full frame)."""

    def __init__(self, keys: KeysCollection, roi_size: Sequence[int], model_pixel_size_um: float | None = None,
                 allow_missing_keys: bool = False) -> None:
        super().__init__(keys, roi_size, allow_missing_keys=allow_missing_keys)
        self.crop_size = [int(n) for n in roi_size]
        self.model_pixel_size_um = model_pixel_size_um

    def __call__(self, data, lazy: bool | None = None):
        if self.model_pixel_size_um is not None:
            present = list(self.key_iterator(dict(data)))
            if present:
                spacing = spacing_from_meta(data[present[0]])
                # the cropper keeps no other state: its inverse reads what it cut from the item's own trace
                self.cropper.roi_size = crop_size_on_file_grid(self.crop_size, spacing, self.model_pixel_size_um)
        return super().__call__(data, lazy=lazy)


def xy_pixel_size_um(inputs: Any) -> tuple[float, float]:
    """The (x, y) pixel size in um of a (batch of) MetaTensor(s), from the affine (which every resampling updates;
    the reader's ``spacing_um`` would not follow one). All items of a batch must share it."""
    affine = getattr(inputs, "affine", None)
    if affine is None:
        raise ValueError("resampling to the model's pixel size needs the input's pixel size: a MetaTensor with an "
                         "affine (the bundle's reader gives one)")
    affines = np.asarray(affine.detach().cpu() if isinstance(affine, torch.Tensor) else affine, dtype=float)
    affines = affines.reshape(-1, *affines.shape[-2:])
    sizes = {tuple(np.round(np.linalg.norm(a[:3, :2], axis=0), 9)) for a in affines}
    if len(sizes) != 1:
        raise ValueError(f"a batch of crops with different pixel sizes {sorted(sizes)}: resample one file at a time")
    x_um, y_um = sizes.pop()
    if not (x_um > 0 and y_um > 0):
        raise ValueError(f"the input's affine gives no x-y pixel size ({x_um}, {y_um})")
    return float(x_um), float(y_um)


def resize_xy(x: torch.Tensor, size_xy: Sequence[int]) -> torch.Tensor:
    """(N, C, X, Y, Z) resized in x and y to ``size_xy``, each z slice on its own: bilinear, antialiased when it
    shrinks (a finer grid is averaged down, not subsampled)."""
    n, c, _, _, z = x.shape
    slices = x.permute(0, 4, 1, 2, 3).reshape(n * z, c, *x.shape[2:4]).float()
    slices = F.interpolate(slices, size=tuple(int(s) for s in size_xy), mode="bilinear", align_corners=False,
                           antialias=True)
    return slices.reshape(n, z, c, *slices.shape[2:]).permute(0, 2, 3, 4, 1).contiguous().to(x.dtype)


def to_model_grid(x: torch.Tensor, file_pixel_um_xy: Sequence[float], model_pixel_size_um: float,
                  divisor_xy: Sequence[int] = (16, 16)) -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """``x`` (N, C, X, Y, Z, standardised) resampled in x-y to ``model_pixel_size_um`` and zero-padded (the
    standardised mean, as the preprocessing pads) symmetrically to multiples of ``divisor_xy``; and the function
    that takes the network's output on that grid back to ``x``'s (unpad, then bilinear resize). Where the file's
    pixel size is the model's, ``x`` itself and the identity."""
    scales = [_scale(p, model_pixel_size_um) for p in file_pixel_um_xy]
    if all(s is None for s in scales):
        return x, lambda y: y
    file_size = [int(n) for n in x.shape[2:4]]
    model_size = [max(1, int(round(n / s))) if s is not None else n for n, s in zip(file_size, scales, strict=True)]
    resized = resize_xy(x, model_size)
    padded_size = [-(-n // int(d)) * int(d) for n, d in zip(model_size, divisor_xy, strict=True)]
    before = [(p - n) // 2 for p, n in zip(padded_size, model_size, strict=True)]
    after = [p - n - b for p, n, b in zip(padded_size, model_size, before, strict=True)]
    resized = F.pad(resized, (0, 0, before[1], after[1], before[0], after[0]))  # F.pad: last axis (z) first

    def back(y: torch.Tensor) -> torch.Tensor:
        y = y[:, :, before[0]:before[0] + model_size[0], before[1]:before[1] + model_size[1]]
        return resize_xy(y, file_size)

    return resized, back
