"""Time-series TIFF / NIfTI input and calibrated, atomic TIFF output.

Axis convention (see ``scripts/__init__.py``): arrays handed to MONAI are channel-first with
spatial axes (x, y, z); spacing is (x, y, z) in um. On disk, TIFF frames are ZYX (ImageJ order).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import tifffile


@contextlib.contextmanager
def atomic_path(final_path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``final_path``; rename it into place only if the block succeeds.

    A crash or a failing write (disk full) leaves any earlier file at ``final_path`` untouched
    and no half-written file under the final name.
    """
    final_path = Path(final_path)
    final_path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final_path.name}.", suffix=".part", dir=final_path.parent)
    os.close(fd)
    tmp_path = Path(tmp_name)
    try:
        yield tmp_path
        os.replace(tmp_path, final_path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_imagej_hyperstack(
    path: str | os.PathLike,
    array: np.ndarray,
    axes: str,
    spacing_um_xyz: Sequence[float],
    frame_interval_min: float | None = None,
) -> Path:
    """Write ``array`` (axes a sub-sequence of 'TZCYX', e.g. 'TZYX' or 'TZCYX') as a calibrated ImageJ hyperstack.

    The file opens in Fiji as a hyperstack with pixel width/height ``spacing_um_xyz[0:2]`` um and voxel
    depth ``spacing_um_xyz[2]`` um. Written atomically (temporary file + rename).
    """
    axes = axes.upper()
    if array.ndim != len(axes) or "".join(a for a in "TZCYX" if a in axes) != axes:
        raise ValueError(f"{path}: axes {axes!r} do not describe an array of shape {array.shape} in TZCYX order")
    spacing_x_um, spacing_y_um, spacing_z_um = (float(s) for s in spacing_um_xyz)
    metadata: dict = {"axes": axes, "unit": "um", "spacing": spacing_z_um}
    if frame_interval_min is not None:
        metadata["finterval"] = float(frame_interval_min) * 60.0  # ImageJ stores the frame interval in seconds
    with atomic_path(path) as tmp_path:
        tifffile.imwrite(
            tmp_path,
            array,
            imagej=True,
            resolution=(1.0 / spacing_x_um, 1.0 / spacing_y_um),
            metadata=metadata,
        )
    return Path(path)


def write_mask_hyperstack(
    path: str | os.PathLike,
    masks_tzyx: np.ndarray,
    spacing_um_xyz: Sequence[float],
    frame_interval_min: float | None = None,
) -> Path:
    """Write binary masks of shape (T, Z, Y, X) as a uint8 ImageJ hyperstack (0 background, 1 spindle)."""
    masks_tzyx = np.asarray(masks_tzyx)
    if masks_tzyx.ndim != 4:
        raise ValueError(f"{path}: expected masks of shape (T, Z, Y, X), found shape {masks_tzyx.shape}")
    return write_imagej_hyperstack(
        path, (masks_tzyx > 0).astype(np.uint8), "TZYX", spacing_um_xyz, frame_interval_min
    )
