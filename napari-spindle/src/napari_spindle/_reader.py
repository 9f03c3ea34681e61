"""napari reader for the bundle's time series: one image layer per channel, lazy, calibrated.

A 10 GB series (100 frames x 3 channels x 31 x 750 x 750 uint16) is never loaded whole: each layer is a dask
array of one chunk per frame, and a frame is read from disk (by the bundle's reader, ``scripts.io.read_frame``:
only that frame's planes) when napari shows it. Layers carry the voxel size in um and the frame interval in
minutes as their scale, the axis names t z y x, and the file and channel in their metadata; the microtubule
channel (the bundle's ``channel`` setting) is named and shown first, the others are additive overlays.
"""

from __future__ import annotations

from pathlib import Path

import dask
import dask.array as da
import numpy as np

from napari_spindle._bundle import bundle_setting, import_bundle_scripts

CONTRACT_CHANNEL_NAMES = ("chromosomes", "microtubules", "aMTOC")  # the data contract's three channels, in order
COLOURS = {"chromosomes": "magenta", "microtubules": "green", "aMTOC": "yellow"}
TIFF_SUFFIXES = (".tif", ".tiff")


def napari_get_reader(path):
    """The reader for a TIFF time series or z-stack the bundle can read; None for anything else."""
    if isinstance(path, list):
        if len(path) != 1:
            return None
        path = path[0]
    if not str(path).lower().endswith(TIFF_SUFFIXES):
        return None
    scripts = import_bundle_scripts()
    try:
        info = scripts.io.inspect_image(path)
    except (ValueError, OSError):
        return None
    return read_series if info.spatial_shape_xyz is not None else None


def _frame_zyx(path: str, frame: int, channel: int | None) -> np.ndarray:
    scripts = import_bundle_scripts()
    return np.ascontiguousarray(scripts.io.read_frame(path, frame, channel)[0].transpose(2, 1, 0))


def read_series(path) -> list[tuple]:
    """[(data (T, Z, Y, X) dask array, layer kwargs, "image")] per channel of the file at ``path``."""
    path = str(path[0] if isinstance(path, list) else path)
    scripts = import_bundle_scripts()
    info = scripts.io.inspect_image(path)
    x, y, z = info.spatial_shape_xyz
    default_spacing = bundle_setting("default_spacing_um")
    spacing = [s if s is not None else d for s, d in zip(info.spacing_um, default_spacing, strict=True)]
    interval_min = info.frame_interval_min or float(bundle_setting("frame_interval_min"))
    microtubule_channel = int(bundle_setting("channel")) if info.n_channels > 1 else 0
    names = (CONTRACT_CHANNEL_NAMES if info.n_channels == len(CONTRACT_CHANNEL_NAMES)
             else [f"channel {c}" for c in range(info.n_channels)])
    order = [microtubule_channel] + [c for c in range(info.n_channels) if c != microtubule_channel]
    layers = []
    for c in order:
        frames = [da.from_delayed(dask.delayed(_frame_zyx)(path, t, c if info.n_channels > 1 else None),
                                  shape=(z, y, x), dtype=info.dtype) for t in range(info.n_frames)]
        name = names[c] if c != microtubule_channel else "microtubules"
        layers.append((da.stack(frames), {
            "name": f"{Path(path).stem} {name}",
            "scale": (interval_min, spacing[2], spacing[1], spacing[0]),
            "axis_labels": ("t", "z", "y", "x"),
            "units": ("minute", "micrometer", "micrometer", "micrometer"),
            "colormap": COLOURS.get(name, "gray") if info.n_channels > 1 else "gray",
            "blending": "translucent" if c == microtubule_channel else "additive",
            "metadata": {"path": path, "channel": c, "microtubule_channel": c == microtubule_channel,
                         "spacing_um_xyz": tuple(spacing), "frame_interval_min": interval_min},
        }, "image"))
    return layers
