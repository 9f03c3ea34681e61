"""Time-series TIFF / NIfTI input and calibrated, atomic TIFF output.

Axis convention (see ``scripts/__init__.py``): arrays handed to MONAI are channel-first with
spatial axes (x, y, z); spacing is (x, y, z) in um. On disk, TIFF frames are ZYX (ImageJ order);
NIfTI voxel axes (i, j, k) are taken as (x, y, z) as they are.

Reading (``read_frame``, ``read_mask``, ``TimeSeriesTiffReader``, ``LoadFramed``):

- Axes come from the file's metadata (tifffile's series axes for ImageJ hyperstacks, OME-TIFF and
  tifffile's own 'shaped' files), never from the array's shape. Supported: any subset of TZCYX that
  contains Z, Y and X. A file without T is one frame (the requested frame is ignored), a file without C
  is one channel (the requested channel is ignored). Only the first series (OME image) is read.
- Only the selected frame and channel are read: contiguous data are memory-mapped and sliced, other
  layouts (compressed, interleaved OME) are read page by page.
- Calibration in um from the file: ImageJ X/YResolution + ``spacing`` in the header's ``unit``, OME
  PhysicalSizeX/Y/Z with their units, NIfTI zooms. Axes the file does not calibrate take the configured
  default, with a warning naming the file. ImageJ unit 'pixel' with values other than 1 is read as um,
  with a warning (see ``_imagej_calibration``).
- A calibration the file states but no light microscope produces (zero, negative, NaN, outside
  ``PLAUSIBLE_SPACING_UM``: usually nm or m stored as um) is refused for images (``check_spacing``); a
  mask's own calibration is not checked, since a mask takes its image's.
- Before pixels are read: numeric pixel types only (complex refused), a frame of at most ``MAX_FRAME_BYTES``
  (a damaged header announcing a huge image is refused before allocating it), and in page-wise files each
  page's size and strip / tile table checked against the first page and the file's length.
- After a frame is read: NaN / Inf intensities are refused, a constant frame is let through with a warning
  (``check_intensities``).
- Bad input raises ``SpindleDataError`` (a ValueError) naming the file, the frame, expected vs found; the
  messages and what to do about each are listed in docs/README.md ("Troubleshooting"). tests/test_fuzz_tiff.py
  checks that corrupted files give that error (or a correct frame), never another exception or a hang.
"""

from __future__ import annotations

import contextlib
import copy
import math
import os
import re
import tempfile
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

import nibabel as nib
import numpy as np
import tifffile
import torch
from monai.config import DtypeLike, KeysCollection
from monai.data import ImageReader, MetaTensor
from monai.transforms import MapTransform
from monai.utils import MetaKeys, SpaceKeys

from scripts.config import is_null


def _current_umask() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return umask


def file_sha256(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in 1 MiB blocks (which weights made a result)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def atomic_path(final_path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``final_path``; rename it into place only if the block succeeds.

    A crash or a failing write (disk full) leaves any earlier file at ``final_path`` untouched
    and no half-written file under the final name.
    """
    final_path = Path(final_path)
    try:
        final_path.parent.mkdir(parents=True, exist_ok=True)
        # the writer's PID in the name lets a later run tell an abandoned file from one being written right now
        fd, tmp_name = tempfile.mkstemp(prefix=f".{final_path.name}.pid{os.getpid()}.", suffix=".part",
                                        dir=final_path.parent)
    except OSError as exc:  # a read-only or full folder: name the output, not a temporary file
        raise type(exc)(exc.errno, f"cannot write {final_path}: {exc.strerror or exc}") from exc
    os.close(fd)
    tmp_path = Path(tmp_name)
    # mkstemp creates the file readable by its owner only; outputs in a lab's shared folder must get the
    # permissions any new file would get (0666 less the umask), like a plain open() would give them
    tmp_path.chmod(0o666 & ~_current_umask())
    try:
        yield tmp_path
        os.replace(tmp_path, final_path)
    except OSError as exc:  # disk full, read-only folder: the message names the temporary file, not the output
        if str(final_path) in str(exc):
            raise
        raise type(exc)(exc.errno, f"cannot write {final_path}: {exc.strerror or exc}") from exc
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


_PARTIAL_FILE = re.compile(r"^\..+\.pid(\d+)\.[^.]*\.part$")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def remove_abandoned_partial_files(folder: str | os.PathLike) -> list[Path]:
    """Delete the hidden ``.part`` files that killed writers left under ``folder``; return what was deleted.

    Only files of :func:`atomic_path` whose writing process no longer exists are removed (a run killed with
    SIGKILL or by the machine cannot clean up after itself), so a run writing into the same folder right now
    keeps its files. Finished outputs are never touched. The check is by PID on this machine: do not point runs
    on several machines at one shared output folder at the same time.
    """
    removed = []
    folder = Path(folder)
    if not folder.is_dir():
        return removed
    for path in folder.rglob(".*.part"):
        match = _PARTIAL_FILE.match(path.name)
        if match and not _process_alive(int(match.group(1))):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def write_imagej_hyperstack(
    path: str | os.PathLike,
    data: np.ndarray | Iterable[np.ndarray],
    axes: str,
    spacing_um_xyz: Sequence[float],
    frame_interval_min: float | None = None,
    shape: Sequence[int] | None = None,
    dtype: np.dtype | type | None = None,
    compression: str | None = None,
    compression_level: int | None = None,
) -> Path:
    """Write a calibrated ImageJ hyperstack (axes a sub-sequence of 'TZCYX', e.g. 'TZYX' or 'TZCYX'), atomically.

    The one place that turns a calibration into ImageJ metadata: the file opens in Fiji as a hyperstack with
    pixel width/height ``spacing_um_xyz[0:2]`` um, voxel depth ``spacing_um_xyz[2]`` um and, where given, the
    frame interval (minutes; ImageJ stores seconds). ``data`` is the whole array, or an iterable of frames or
    pages that is consumed while writing (then ``shape`` and ``dtype`` of the whole hyperstack are required), so
    a long series never has to be in memory. ``compression`` "zlib" (Fiji reads it) with ``compression_level``,
    or None. The file appears under ``path`` only when complete (temporary file + rename); an exception raised
    by the iterable leaves nothing behind.
    """
    axes = axes.upper()
    if shape is None:
        if not isinstance(data, np.ndarray):
            raise ValueError(f"{path}: frames given one at a time need the hyperstack's shape and dtype")
        shape = data.shape
    if len(shape) != len(axes) or "".join(a for a in "TZCYX" if a in axes) != axes:
        raise ValueError(f"{path}: axes {axes!r} do not describe an array of shape {tuple(shape)} in TZCYX order")
    spacing_x_um, spacing_y_um, spacing_z_um = (float(s) for s in spacing_um_xyz)
    metadata: dict = {"axes": axes, "unit": "um", "spacing": spacing_z_um}
    if frame_interval_min is not None and math.isfinite(float(frame_interval_min)):
        metadata["finterval"] = float(frame_interval_min) * 60.0  # ImageJ stores the frame interval in seconds
    compressionargs = {"level": int(compression_level)} if compression and compression_level is not None else None
    with atomic_path(path) as tmp_path:
        tifffile.imwrite(
            tmp_path,
            data,
            shape=None if isinstance(data, np.ndarray) else tuple(shape),
            dtype=None if isinstance(data, np.ndarray) else dtype,
            imagej=True,
            resolution=(1.0 / spacing_x_um, 1.0 / spacing_y_um),
            metadata=metadata,
            compression=compression or None,
            compressionargs=compressionargs,
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


# --------------------------------------------------------------------------------------------------
# Reading: one frame, one channel of a time series, without loading the series.
# --------------------------------------------------------------------------------------------------

DEFAULT_SPACING_UM: tuple[float, float, float] = (0.17, 0.17, 2.0)
"""Fallback voxel size (x, y, z) in um, used only for files that carry no calibration (with a warning).
Configs pass their own value; this is the default of the functions' ``default_spacing_um`` argument."""

PLAUSIBLE_SPACING_UM: tuple[tuple[float, float], ...] = ((0.001, 50.0), (0.001, 50.0), (0.001, 100.0))
"""(low, high) voxel size in um for x, y, z that a light microscope can produce (light-sheet: about 0.05 to
10 um), with a wide margin. A calibration the file states outside it is damaged or in the wrong unit (nm or m
stored as um) and is refused: a volume computed from it would be off by orders of magnitude."""

MAX_FRAME_BYTES = 2 * 2**30
"""Largest frame (one channel: Z x Y x X x bytes per voxel) the reader accepts, 2 GiB: 60 times a
750 x 750 x 31 uint16 frame (e.g. 2048 x 2048 x 256 uint16 still passes). A larger size announced by a
header is almost always a damaged header (one flipped bit in ImageLength announces 67 million rows); it is
refused before anything is allocated. Frames that really are larger must be cropped or binned first: the
network sees 352 x 352 x 32 voxels."""

TIFF_SUFFIXES = ("tif", "tiff", "ome.tif", "ome.tiff")
NIFTI_SUFFIXES = ("nii", "nii.gz")

# Length units as they appear in ImageJ descriptions, OME-XML and NIfTI headers -> factor to um.
_UM_PER_UNIT = {
    "um": 1.0, "µm": 1.0, "micron": 1.0, "microns": 1.0, "micrometer": 1.0, "micrometre": 1.0,
    "nm": 1e-3, "nanometer": 1e-3, "å": 1e-4, "angstrom": 1e-4, "pm": 1e-6,
    "mm": 1e3, "millimeter": 1e3, "cm": 1e4, "centimeter": 1e4, "m": 1e6, "meter": 1e6, "inch": 25400.0,
}
# Unit strings that mean "no physical unit" (ImageJ writes 'pixel' for an uncalibrated image).
_NO_UNIT = {"", "pixel", "pixels", "px", "unknown", "none"}
# Time units -> factor to minutes (ImageJ 'tunit', OME TimeIncrementUnit).
_MIN_PER_TIME_UNIT = {
    "s": 1 / 60, "sec": 1 / 60, "second": 1 / 60, "seconds": 1 / 60,
    "ms": 1 / 60000, "msec": 1 / 60000,
    "min": 1.0, "minute": 1.0, "minutes": 1.0,
    "h": 60.0, "hr": 60.0, "hour": 60.0, "hours": 60.0,
}


class SpindleDataError(ValueError):
    """Input data that the bundle cannot use as it is; the message names the file, the frame and
    what was expected versus what was found, so that a user can fix the file."""


def _error(path, frame, problem: str) -> SpindleDataError:
    where = f"{path}" if frame is None else f"{path} (frame {frame})"
    return SpindleDataError(f"{where}: {problem}")


MICROTUBULE_CHANNEL_HINT = "set the channel parameter (--channel) to the microtubule channel's index in this file"


class ChannelOutOfRangeError(SpindleDataError):
    """The file has no channel of the index asked for; the message ends with what to set (the hint). Built with
    ``about``; the plain one-message constructor stays, as the data loader re-raises a worker's error with it."""

    @classmethod
    def about(cls, path, frame, problem: str, hint: str = MICROTUBULE_CHANNEL_HINT) -> ChannelOutOfRangeError:
        error = cls(str(_error(path, frame, f"{problem}; {hint}")))
        error.path, error.frame, error.problem = path, frame, problem
        return error


def _normalise_unit(unit) -> str:
    """'\\u00B5m', 'μm' (Greek mu) and 'µm' (micro sign) all become 'µm'; lower case, no blanks."""
    text = str(unit if unit is not None else "").strip().lower()
    return text.replace("\\u00b5", "µ").replace("μ", "µ")


def _um_per_unit(unit, path) -> float | None:
    """Factor from ``unit`` to um; None for 'pixel' / no unit; SpindleDataError for a unit we do not know."""
    text = _normalise_unit(unit)
    if text in _NO_UNIT:
        return None
    if text not in _UM_PER_UNIT:
        raise _error(path, None, f"unknown length unit {unit!r} in the file's calibration; expected one of "
                                 f"{sorted(_UM_PER_UNIT)} or 'pixel'")
    return _UM_PER_UNIT[text]


def _positive(value) -> float | None:
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) and value > 0 else None


def _stated(value) -> float | None:
    """A calibration value as the file states it (0, negative or NaN included, checked later by
    ``check_spacing``); None when the file has no such entry, NaN when the entry is not a number."""
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def checked_default_spacing(value, owner: str) -> tuple[float, float, float]:
    """A configured ``default_spacing_um`` as three positive finite floats (x, y, z) um; ValueError naming
    ``owner`` (the class or function it was given to) otherwise."""
    try:
        spacing = tuple(float(s) for s in value)
    except (TypeError, ValueError):
        spacing = ()
    if len(spacing) != 3 or not all(np.isfinite(s) and s > 0 for s in spacing):
        raise ValueError(f"{owner}: default_spacing_um must be three positive numbers (x, y, z) in um, "
                         f"found {value!r}")
    return spacing


def _is_suffix(path, suffixes: Sequence[str]) -> bool:
    name = str(path).lower()
    return any(name.endswith("." + s) for s in suffixes)


@dataclass
class ImageInfo:
    """What a file's metadata says about it, read without touching the pixel data.

    ``axes`` / ``shape`` are the file's own (tifffile's series axes, length-1 axes squeezed, e.g. 'TZCYX';
    NIfTI: 'XYZ' or 'XYZT'). ``spacing_um`` is (x, y, z) in um, each entry None where the file has no value.
    """

    path: Path
    axes: str
    shape: tuple[int, ...]
    dtype: np.dtype
    spacing_um: tuple[float | None, float | None, float | None]
    spacing_note: str = ""
    frame_interval_min: float | None = None

    @property
    def n_frames(self) -> int:
        """Number of time points (1 for a file without a T axis)."""
        return self.shape[self.axes.index("T")] if "T" in self.axes else 1

    @property
    def n_channels(self) -> int:
        """Number of channels (1 for a file without a C axis)."""
        return self.shape[self.axes.index("C")] if "C" in self.axes else 1

    @property
    def spatial_shape_xyz(self) -> tuple[int, int, int] | None:
        """(X, Y, Z) size of one frame in voxels; None when the file has no Z axis (2D)."""
        if not all(a in self.axes for a in "XYZ"):
            return None
        return tuple(self.shape[self.axes.index(a)] for a in "XYZ")


# ---- TIFF metadata --------------------------------------------------------------------------------

class _IndexedTiffFile(tifffile.TiffFile):
    """TiffFile whose generic series parser indexes the whole IFD chain first.

    tifffile walks the chain page by page there, a walk that does not check for circular references (the
    full indexing behind ``len(pages)`` does): a damaged next-IFD offset pointing back to an earlier page
    made it loop forever (found by tests/test_fuzz_tiff.py). The generic parser reads every page anyway,
    so indexing first costs nothing extra; ImageJ hyperstacks keep their fast path (first page only)."""

    def _series_generic(self):
        len(self.pages)  # indexes all IFD offsets, cutting a circular chain
        return super()._series_generic()


def _open_tiff(path) -> tifffile.TiffFile:
    path = Path(path)
    if not path.is_file():
        raise _error(path, None, "file not found (expected an existing TIFF file)")
    try:
        return _IndexedTiffFile(path)
    except OSError as exc:  # the system refused the read (permissions, a network drive gone), not the format
        if exc.errno is None:
            raise _error(path, None, f"not a readable TIFF file, it is corrupt or truncated ({exc})") from exc
        raise _error(path, None, f"cannot be read from disk ({exc}): check the file's permissions and that its "
                                 f"drive is reachable") from exc
    except Exception as exc:  # tifffile raises TiffFileError, ValueError, struct.error, ... on broken files
        raise _error(path, None, f"not a readable TIFF file, it is corrupt or truncated ({exc})") from exc


def _tiff_axes(tif: tifffile.TiffFile, series) -> str:
    """Semantic axes of the series from the file's metadata: ImageJ 'I' (a plain stack, which ImageJ
    itself opens as z-slices) becomes 'Z'; other letters are kept as tifffile reports them."""
    axes = series.axes
    if tif.is_imagej and "I" in axes and "Z" not in axes:
        axes = axes.replace("I", "Z")
    return axes


def _check_complete(tif: tifffile.TiffFile, series, path) -> None:
    """Refuse a truncated file early: tifffile falls back to reading the first page alone when an
    ImageJ file is cut short, which would otherwise look like a valid 2D image."""
    if "S" in series.axes and series.shape[series.axes.index("S")] > 1 and "Q" not in series.axes:
        # an RGB (or RGBA) stack: colour samples per pixel, not intensities per microscope channel
        raise _error(path, None, f"RGB image (axes {series.axes!r}, shape {tuple(series.shape)}): expected one "
                                 "intensity value per voxel and channel, found colour samples; in Fiji convert it "
                                 "with Image > Color > Make Composite (or Image > Type > 16-bit per channel), then save")
    ij = tif.imagej_metadata or {}
    n_planes = int(np.prod(series.shape)) // max(1, int(np.prod(series.shape[-2:])))
    if "images" in ij and int(ij["images"]) != n_planes:
        raise _error(path, None, f"truncated or corrupt TIFF: the ImageJ header announces {ij['images']} images, "
                                 f"found {n_planes} readable")
    if _is_suffix(path, ("ome.tif", "ome.tiff")) and not tif.is_ome:
        raise _error(path, None, "corrupt or truncated OME-TIFF: expected OME-XML in the first image "
                                 "description, found none readable")
    size = path.stat().st_size
    if series.dataoffset is not None and series.dataoffset + series.nbytes > size:
        raise _error(path, None, f"truncated TIFF: expected at least {series.dataoffset + series.nbytes} bytes, "
                                 f"found {size}")


def _ome_calibration(tif, path) -> tuple[list, str, float | None]:
    """PhysicalSizeX/Y/Z (with their units, default um) and TimeIncrement of the first OME image."""
    root = ElementTree.fromstring(tif.ome_metadata)
    pixels = next((el for el in root.iter() if el.tag.endswith("}Pixels") or el.tag == "Pixels"), None)
    if pixels is None:
        return [None, None, None], "OME-XML without Pixels", None
    spacing = []
    for axis in "XYZ":
        value = _stated(pixels.get(f"PhysicalSize{axis}"))
        factor = _um_per_unit(pixels.get(f"PhysicalSize{axis}Unit", "µm"), path)
        spacing.append(value * factor if value is not None and factor is not None else None)
    interval = _positive(pixels.get("TimeIncrement"))
    unit = pixels.get("TimeIncrementUnit", "s").strip().lower()
    interval_min = interval * _MIN_PER_TIME_UNIT[unit] if interval is not None and unit in _MIN_PER_TIME_UNIT else None
    return spacing, "OME PhysicalSize", interval_min


def _resolution_um(page, tag: str, factor: float | None) -> float | None:
    """Pixel size in um from an X/YResolution tag (pixels per unit) and a unit factor. A zero numerator or
    denominator is an unset rational (some writers put 0/0 there), not a calibration: None."""
    if tag not in page.tags or factor is None:
        return None
    value = page.tags[tag].value
    try:
        if isinstance(value, tuple):
            pixels_per_unit = value[0] / value[1] if value[0] and value[1] else 0.0
        else:
            pixels_per_unit = float(value)
    except (TypeError, ValueError, IndexError):
        return None
    size = _positive(1.0 / pixels_per_unit) if pixels_per_unit else None
    return size * factor if size is not None else None


def _imagej_calibration(tif, path) -> tuple[list, str, float | None]:
    """Pixel size from the X/YResolution tags, slice spacing from the description's ``spacing``, both in
    the description's ``unit`` (``yunit`` / ``zunit`` where given); frame interval from ``finterval``.

    Decision for unit 'pixel' (or no unit) with a real calibration: Bio-Formats / ZEN exports (e.g.
    realdata/napari_lattice/multich_multi_time.tif: unit 'pixel', XResolution = 0.145 um, which matches
    the ZEN metadata 1.4499e-07 m) keep the numbers but lose the unit string. Microscopy calibrations are
    in um, so values other than 1 are read as um, with a warning. Values of exactly 1 with unit 'pixel'
    are ImageJ's "uncalibrated" and count as missing.
    """
    ij = tif.imagej_metadata or {}
    page = tif.pages.first
    notes = []
    spacing = []
    for axis, key, tag in (("x", "unit", "XResolution"), ("y", "yunit", "YResolution"), ("z", "zunit", None)):
        unit = ij.get(key, ij.get("unit", ""))
        factor = _um_per_unit(unit, path)
        if axis == "z":
            raw = _stated(ij.get("spacing"))
        else:
            raw = _resolution_um(page, tag, 1.0)
        if raw is not None and factor is None:
            if raw == 1.0:
                raw = None  # ImageJ's uncalibrated default
            else:
                factor = 1.0
                notes.append(f"{axis} in unit {unit!r} read as um")
        spacing.append(raw * factor if raw is not None and factor is not None else None)
    interval = _positive(ij.get("finterval"))
    tunit = _normalise_unit(ij.get("tunit", "sec"))
    interval_min = interval * _MIN_PER_TIME_UNIT[tunit] if interval is not None and tunit in _MIN_PER_TIME_UNIT else None
    source = "ImageJ resolution/spacing" + (f" ({'; '.join(notes)})" if notes else "")
    if notes:
        warnings.warn(f"{path}: calibration unit is {ij.get('unit', '')!r} but the values are not 1; "
                      f"reading them as um ({'; '.join(notes)})", stacklevel=3)
    return spacing, source, interval_min


def _plain_tiff_calibration(tif, path) -> tuple[list, str, float | None]:
    """Non-ImageJ, non-OME TIFF: X/YResolution with ResolutionUnit inch or cm; no z spacing.
    Pixels larger than a light microscope makes (over PLAUSIBLE_SPACING_UM, e.g. the 72 / 96 / 300 dpi that
    image editors write, 28.35 pixels per cm) are a print-resolution placeholder, not a calibration: missing."""
    page = tif.pages.first
    try:
        unit = int(page.tags["ResolutionUnit"].value) if "ResolutionUnit" in page.tags else 1
    except (TypeError, ValueError):
        unit = 1
    factor = {2: _UM_PER_UNIT["inch"], 3: _UM_PER_UNIT["cm"]}.get(unit)
    xy = [_resolution_um(page, "XResolution", factor), _resolution_um(page, "YResolution", factor)]
    if any(v is not None and v > PLAUSIBLE_SPACING_UM[i][1] for i, v in enumerate(xy)):
        xy = [None, None]
    return [*xy, None], "TIFF resolution tags", None


def _checked_tiff_info(tif: tifffile.TiffFile, path: Path) -> ImageInfo:
    """The file's ImageInfo after the completeness check; tifffile's own errors on a damaged IFD
    structure (met lazily, when the series is first parsed) become SpindleDataError."""
    try:
        _check_complete(tif, tif.series[0], path)
        return _tiff_info(tif, path)
    except SpindleDataError:
        raise
    except Exception as exc:
        raise _error(path, None, f"corrupt or truncated TIFF, its structure cannot be parsed ({exc})") from exc


def _tiff_info(tif: tifffile.TiffFile, path: Path) -> ImageInfo:
    if tif.is_ome and len(tif.series) > 1:
        # several positions (oocytes) in one OME file: reading the first only would drop the others silently
        shapes = ", ".join(str(tuple(s.shape)) for s in tif.series[:4]) + (" ..." if len(tif.series) > 4 else "")
        raise _error(path, None, f"OME-TIFF with {len(tif.series)} image series (shapes {shapes}): expected one series, "
                                 "one oocyte, per file; save each series as its own file (Fiji: File > Import > "
                                 "Bio-Formats with 'Open all series', then save each as EXPERIMENT/OOCYTE.tif)")
    series = tif.series[0]
    if tif.is_ome:
        spacing, source, interval = _ome_calibration(tif, path)
    elif tif.is_imagej:
        spacing, source, interval = _imagej_calibration(tif, path)
    else:
        spacing, source, interval = _plain_tiff_calibration(tif, path)
    return ImageInfo(path, _tiff_axes(tif, series), tuple(series.shape), np.dtype(series.dtype),
                     tuple(spacing), source, interval)


# ---- NIfTI ----------------------------------------------------------------------------------------

def _nifti_load(path):
    path = Path(path)
    if not path.is_file():
        raise _error(path, None, "file not found (expected an existing NIfTI file)")
    try:
        return nib.load(str(path))
    except Exception as exc:  # nibabel raises ImageFileError, EOFError, gzip errors, ...
        raise _error(path, None, f"not a readable NIfTI file, it is corrupt or truncated ({exc})") from exc


def _nifti_axis_order(img) -> tuple[int, int, int]:
    """For world x, y and z, the voxel axis of ``img`` that runs along each, from its affine.

    (0, 1, 2) for the usual (i, j, k) = (x, y, z) and whenever the affine says nothing usable. A mask written with
    its axes swapped (e.g. (Y, X, Z) by a tool that records the swap in the affine) is thereby read in the image's
    (X, Y, Z) order instead of silently transposed. Flips (e.g. ITK's LPS) are left as stored: the mask was drawn on
    the image's voxel grid, which has no orientation of its own.
    """
    try:
        world_of_axis = nib.orientations.io_orientation(img.affine)[:3, 0]
    except Exception:
        return (0, 1, 2)
    if np.isnan(world_of_axis).any() or sorted(int(w) for w in world_of_axis) != [0, 1, 2]:
        return (0, 1, 2)
    return tuple(int(np.flatnonzero(world_of_axis == w)[0]) for w in range(3))


def _nifti_info(img, path: Path) -> ImageInfo:
    """NIfTI voxel axes are read as (x, y, z[, t]), the bundle's tensor order: (i, j, k) unless the affine says
    they run along other axes (``_nifti_axis_order``). Spacing from the zooms in the header's unit ('unknown' is
    read as um when not 1)."""
    order = _nifti_axis_order(img)
    shape = tuple(int(s) for s in img.shape)
    if len(shape) >= 3:
        shape = tuple(shape[a] for a in order) + shape[3:]
    axes = "XYZT"[: len(shape)] if len(shape) <= 4 else "XYZT" + "Q" * (len(shape) - 4)
    space_unit, time_unit = img.header.get_xyzt_units()
    factor = {"micron": 1.0, "mm": 1e3, "meter": 1e6}.get(space_unit, 1.0)
    zooms = img.header.get_zooms()
    spacing = [_stated(zooms[order[i]]) * factor if order[i] < len(zooms) else None for i in range(3)]
    interval = None
    if len(shape) >= 4 and len(zooms) >= 4 and _positive(zooms[3]):
        interval = zooms[3] * {"sec": 1 / 60, "msec": 1 / 60000, "usec": 1 / 6e7}.get(time_unit, 1 / 60)
    return ImageInfo(path, axes, shape, np.dtype(img.get_data_dtype()), tuple(spacing),
                     f"NIfTI zooms ({space_unit})", interval)


def inspect_image(path: str | os.PathLike) -> ImageInfo:
    """Axes, shape, dtype, calibration and frame interval of a TIFF (ImageJ, OME, plain) or NIfTI file,
    read from its metadata only (no pixel data). Raises SpindleDataError for missing or broken files."""
    path = Path(path)
    if _is_suffix(path, NIFTI_SUFFIXES):
        return _nifti_info(_nifti_load(path), path)
    with _open_tiff(path) as tif:
        return _checked_tiff_info(tif, path)


def xy_pixel_sizes_um(items: Iterable[Mapping]) -> dict[str, float]:
    """{image file: its x-y pixel size in um (the geometric mean of x and y)} for each distinct ``image`` of the
    datalist items whose header states an x-y calibration (header reads only)."""
    sizes = {}
    for path in dict.fromkeys(str(item["image"]) for item in items if item.get("image")):
        x_um, y_um, _ = inspect_image(path).spacing_um
        if x_um is not None and y_um is not None:
            sizes[path] = math.sqrt(x_um * y_um)
    return sizes


def pixel_size_warnings(items: Iterable[Mapping], model_pixel_size_um: float | None,
                        tolerance: float | None = 0.15) -> list[str]:
    """One warning per image file (datalist items' ``image``) whose x-y pixel size differs from the model's
    training pixel size by more than ``tolerance`` (a fraction), issued with ``warnings.warn`` and returned.

    Why: the network's masks are not a property of the spindle alone. Resampled in x-y only and seen at its own
    pixels, one real stack gave 0.4.x's weights 406 um^3 at 0.12 um pixels and 182 at 0.34 um (docs/README.md,
    "Real spindle stacks"). Called only with ``resample_xy`` off (with it on the network sees the model's pixel
    size whatever the file's). Header reads only. Files without an x-y calibration are left to the
    reader's own warning (they take ``default_spacing_um``). ``model_pixel_size_um`` or ``tolerance`` None: no
    check (a model fine-tuned on the lab's own pixel size)."""
    if is_null(model_pixel_size_um) or is_null(tolerance):
        return []
    model_pixel_size_um, tolerance = float(model_pixel_size_um), float(tolerance)
    if not model_pixel_size_um > 0 or not tolerance >= 0:
        raise ValueError(f"model_pixel_size_um must be > 0 and pixel_size_tolerance >= 0, found "
                         f"{model_pixel_size_um} and {tolerance}")
    messages = []
    for path, pixel_um in xy_pixel_sizes_um(items).items():
        if abs(pixel_um / model_pixel_size_um - 1.0) > tolerance:
            messages.append(f"{path}: x-y pixel size {pixel_um:.3g} um is {pixel_um / model_pixel_size_um:.2f}x the "
                            f"{model_pixel_size_um:g} um the weights were trained at and resample_xy is off: the "
                            "volumes change with the pixel size (docs/README.md, 'Real spindle stacks'); turn "
                            "resample_xy on, check a few frames against hand labels, or fine-tune on your own "
                            "('Adapting the model to your microscope')")
            warnings.warn(messages[-1], stacklevel=2)
    return messages


# ---- pixel data -----------------------------------------------------------------------------------

def _semantic_axes(info: ImageInfo, mask: bool) -> str:
    """The file's axes, where for masks a single unnamed leading axis ('Q', tifffile's "unknown", as written
    by tools that save a bare 3D array) is taken as Z."""
    axes = info.axes
    if mask and len(axes) == 3 and axes[0] in "QS" and axes[1:] == "YX":
        axes = "Z" + axes[1:]
    return axes


def _checked_axes(info: ImageInfo, frame, mask: bool) -> str:
    """The semantic axes, after refusing axes other than TZCYX (of size > 1) and files without Z, Y and X."""
    axes, shape, path = _semantic_axes(info, mask), info.shape, info.path
    unknown = [a for a, n in zip(axes, shape, strict=True) if a not in "TZCYX" and n > 1]
    if "Q" in unknown:  # tifffile's letter for an axis the file does not name (the S it guesses with them too)
        raise _error(path, frame, f"no axis metadata: the file does not say which of its axes (shape {shape}) are "
                                  "time, z, channel, y and x; expected an ImageJ hyperstack or an OME-TIFF that names "
                                  "them: save it from Fiji (Image > Hyperstacks > Stack to Hyperstack, then save), or "
                                  "write it with tifffile.imwrite(path, data, imagej=True, metadata={'axes': 'TZCYX'})")
    if unknown:
        raise _error(path, frame, f"unsupported axes {info.axes!r} shape {shape}: expected a subset of 'TZCYX' "
                                  f"(axes {unknown} are not time, z, channel, y or x)")
    if not all(a in axes for a in "ZYX"):
        raise _error(path, frame, f"wrong number of dimensions: expected a 3D frame with axes Z, Y, X "
                                  f"(optionally T and C), found axes {info.axes!r} with shape {shape}")
    return axes


def spatial_shape_xyz(info: ImageInfo, mask: bool = False) -> tuple[int, int, int]:
    """(X, Y, Z) voxels of one frame, from the header; SpindleDataError for files without Z, Y, X or with
    axes other than TZCYX. ``mask=True`` reads a bare 3D array (axes 'QYX') as ZYX, as ``read_mask`` does."""
    axes = _checked_axes(info, None, mask)
    return tuple(int(info.shape[axes.index(a)]) for a in "XYZ")


def _check_pixels(info: ImageInfo, frame, mask: bool) -> None:
    """Refuse, before reading, a pixel type that is not a number we can standardise (complex, strings, ...)
    and a frame larger than MAX_FRAME_BYTES (a damaged header announcing a huge image)."""
    path = info.path
    if info.dtype.kind not in "biuf":
        raise _error(path, frame, f"unsupported pixel type {info.dtype}: expected integer or floating-point "
                                  f"{'mask values' if mask else 'intensities'} (e.g. uint8, uint16, float32)")
    shape_xyz = spatial_shape_xyz(info, mask)
    frame_bytes = int(np.prod(shape_xyz, dtype=np.float64) * info.dtype.itemsize)
    if frame_bytes > MAX_FRAME_BYTES:
        raise _error(path, frame, f"frame too large: the header announces (X, Y, Z) = {shape_xyz} voxels of "
                                  f"{info.dtype} ({frame_bytes / 2**30:.3g} GiB per frame and channel), expected at "
                                  f"most {MAX_FRAME_BYTES / 2**30:g} GiB; the header is probably damaged")


def check_spacing(info: ImageInfo) -> None:
    """Refuse a calibration the file states but that no light microscope produces: zero, negative or not a
    number, or outside PLAUSIBLE_SPACING_UM (x, y, z um). Axes without a value (None) are not checked: they
    take the configured default, with a warning."""
    for axis, value, (low, high) in zip("xyz", info.spacing_um, PLAUSIBLE_SPACING_UM, strict=True):
        if value is None:
            continue
        fix = ("fix the calibration (Fiji: Image > Properties, pixel width / height / voxel depth in micron, "
               "then save) or convert the file again from the microscope's original")
        if not np.isfinite(value) or value <= 0:
            raise _error(info.path, None, f"invalid {axis} spacing {value:g} um in the file's calibration "
                                          f"({info.spacing_note}): expected a positive voxel size; {fix}")
        if not low <= value <= high:
            raise _error(info.path, None, f"implausible {axis} spacing {value:g} um in the file's calibration "
                                          f"({info.spacing_note}): expected {low:g} to {high:g} um for a light "
                                          f"microscope (nm or m stored as um?); {fix}")


def check_image_info(info: ImageInfo) -> None:
    """Header-only checks of an image (not a mask) that ``read_frame`` also makes before reading pixels:
    axes a subset of TZCYX with Z, Y and X; a numeric pixel type; a frame of sane size; a plausible
    calibration. Raises SpindleDataError naming the file."""
    _check_pixels(info, None, mask=False)
    check_spacing(info)


def _frame_index(info: ImageInfo, frame: int, channel: int | None, mask: bool) -> tuple:
    """Index into the squeezed series array that selects ZYX of one frame and one channel.

    A file without a T axis is one frame: ``frame`` is ignored. A file without a C axis is one channel:
    ``channel`` is ignored. For masks a single unnamed leading axis ('Q', tifffile's "unknown", as written
    by tools that save a bare 3D array) is taken as Z; the mask's shape is then checked against the image.
    """
    axes, shape, path = _checked_axes(info, frame, mask), info.shape, info.path
    index = []
    for axis, size in zip(axes, shape, strict=True):
        if axis == "T":
            if not 0 <= frame < size:
                raise _error(path, frame, f"frame out of range: expected 0 <= frame < {size} (axes {info.axes!r} "
                                          f"shape {shape}), found frame {frame}")
            index.append(frame)
        elif axis == "C" and not mask:
            if channel is None or not 0 <= channel < size:
                raise ChannelOutOfRangeError.about(path, frame, f"channel out of range: expected 0 <= channel < {size} "
                                                     f"(axes {info.axes!r} shape {shape}), found channel {channel}")
            index.append(channel)
        elif axis == "C":
            raise _error(path, frame, f"a mask must have one channel, found axes {info.axes!r} shape {shape}")
        elif axis in "ZYX":
            index.append(slice(None))
        else:
            index.append(0)
    return tuple(index)


def _read_tiff_zyx(tif: tifffile.TiffFile, index: tuple, path: Path, frame) -> np.ndarray:
    """Read only the planes that ``index`` selects, as a ZYX array in native byte order.

    Contiguous uncompressed data (ImageJ hyperstacks, also ImageJ files over 4 GB whose IFDs tifffile
    does not list) is memory-mapped and sliced, which touches only the selected planes. Otherwise the
    selected pages are read one by one (compressed or interleaved OME-TIFF).
    """
    series = tif.series[0]
    try:
        if series.dataoffset is not None:
            dtype = np.dtype(series.dtype).newbyteorder(tif.byteorder)
            mapped = np.memmap(tif.filehandle.path, dtype=dtype, mode="r", offset=series.dataoffset,
                               shape=tuple(series.shape))
            try:
                data = np.array(mapped[index])
            finally:
                del mapped
        else:
            data = _read_pages(series, index, path, frame)
    except SpindleDataError:
        raise
    except Exception as exc:
        raise _error(path, frame, f"corrupt or truncated TIFF, the selected planes cannot be read ({exc})") from exc
    return data.astype(data.dtype.newbyteorder("="), copy=False)


def _check_segments(page, page_index, path: Path, frame) -> None:
    """Before decoding a page: its strips / tiles must be as many as its size needs, lie inside the file and,
    uncompressed, hold the whole plane. Otherwise tifffile pads the missing segments, which for a header
    whose image size was damaged means zero-filling (and slowly iterating over) millions of segments."""
    key = page.keyframe
    expected = int(np.prod(key.chunked))
    offsets, counts = page.dataoffsets, page.databytecounts
    if len(offsets) != expected or len(counts) != expected:
        raise _error(path, frame, f"corrupt TIFF: page {page_index} of shape {key.shape} needs {expected} strips or "
                                  f"tiles, its header lists {len(offsets)}")
    size = page.parent.filehandle.size
    if any(o + c > size for o, c in zip(offsets, counts, strict=True)):
        raise _error(path, frame, f"truncated TIFF: page {page_index} has data beyond the end of the file "
                                  f"({size} bytes)")
    plane_bytes = int(np.prod(key.shape)) * key.dtype.itemsize
    if key.compression == 1 and sum(counts) < plane_bytes:  # 1: uncompressed
        raise _error(path, frame, f"corrupt TIFF: page {page_index} holds {sum(counts)} bytes of uncompressed "
                                  f"data, expected {plane_bytes} for shape {key.shape} {key.dtype}")


def _read_pages(series, index: tuple, path: Path, frame) -> np.ndarray:
    """Page-wise read of the squeezed-index selection: map it onto the unsqueezed page grid."""
    full_axes, full_shape = series.get_axes(False), series.get_shape(False)
    if not full_axes.endswith("YXS") or full_shape[-1] != 1 or series.keyframe.imagedepth != 1:
        raise _error(path, frame, f"unsupported TIFF page layout: expected one sample per pixel and 2D pages, "
                                  f"found axes {full_axes!r} shape {full_shape}")
    page_shape = full_shape[:-3]
    if len(series.pages) != int(np.prod(page_shape)):
        raise _error(path, frame, f"corrupt or truncated TIFF: expected {int(np.prod(page_shape))} pages, "
                                  f"found {len(series.pages)}")
    # tifffile's squeezed axes are the page-grid axes of size > 1 followed by Y, X, in the same order,
    # so the squeezed index entries map one to one onto the page-grid axes of size > 1.
    entries = iter(index)
    selection = [0 if size == 1 else next(entries) for size in page_shape]
    z_axis = next((i for i, s in enumerate(selection) if isinstance(s, slice)), None)
    z_size = page_shape[z_axis] if z_axis is not None else 1
    planes = []
    for z in range(z_size):
        page_index = tuple(z if i == z_axis else s for i, s in enumerate(selection))
        page = series.pages[int(np.ravel_multi_index(page_index, page_shape))]
        if page is None:
            raise _error(path, frame, f"corrupt or truncated TIFF: page {page_index} of the series is missing")
        # a damaged page header can describe another (huge) image size: check it before decoding the page
        plane_shape = tuple(full_shape[-3:-1])
        if tuple(page.shape) != plane_shape or page.dtype != series.keyframe.dtype:
            raise _error(path, frame, f"corrupt TIFF: page {page_index} describes an image of shape {page.shape} "
                                      f"{page.dtype}, expected (Y, X) = {plane_shape} {series.keyframe.dtype} like the "
                                      f"first page")
        _check_segments(page, page_index, path, frame)
        plane = page.asarray()
        if plane.shape != plane_shape:
            raise _error(path, frame, f"corrupt TIFF: page {page_index} decodes to shape {plane.shape}, "
                                      f"expected (Y, X) = {plane_shape}")
        planes.append(plane)
    return np.stack(planes)


def _usable_spacing(value: float | None, axis: int) -> float | None:
    low, high = PLAUSIBLE_SPACING_UM[axis]
    return value if value is not None and np.isfinite(value) and low <= value <= high else None


def _spacing_with_default(info: ImageInfo, default_spacing_um: Sequence[float], image: bool = True
                          ) -> tuple[np.ndarray, str]:
    """The file's (x, y, z) spacing in um; axes the file does not calibrate take the default.

    Images: a stated but unusable calibration is refused (``check_spacing``) and a default is used with a
    warning. Masks: an unusable value counts as missing and the default is used silently, since a mask
    takes its image's calibration (``LoadFramed``)."""
    if image:
        check_spacing(info)
    stated = [_usable_spacing(v, i) for i, v in enumerate(info.spacing_um)]
    missing = [axis for axis, value in zip("xyz", stated, strict=True) if value is None]
    spacing = np.array([v if v is not None else float(d)
                        for v, d in zip(stated, default_spacing_um, strict=True)], dtype=np.float64)
    if not missing:
        return spacing, info.spacing_note
    if image:
        warnings.warn(f"{info.path}: no calibration for axes {missing} in the file; using the configured default "
                      f"spacing {tuple(float(d) for d in default_spacing_um)} um for them", stacklevel=3)
    return spacing, f"{info.spacing_note}; default for {''.join(missing)}" if len(missing) < 3 else "default"


def _meta(info: ImageInfo, spatial_shape_xyz, spacing_um: np.ndarray, spacing_source: str, frame: int,
          channel: int | None) -> dict:
    """Meta dict in MONAI's conventions plus the bundle's keys (units in the names)."""
    affine = np.diag([*spacing_um, 1.0])
    meta = {
        "filename_or_obj": str(info.path),
        "spacing_um": spacing_um.copy(),
        "spacing_source": spacing_source,
        "pixdim": np.array([1.0, *spacing_um, 1.0, 1.0, 1.0, 1.0]),
        MetaKeys.AFFINE: affine,
        MetaKeys.ORIGINAL_AFFINE: affine.copy(),
        MetaKeys.SPATIAL_SHAPE: np.array(spatial_shape_xyz),
        "original_spatial_shape": np.array(spatial_shape_xyz),
        MetaKeys.ORIGINAL_CHANNEL_DIM: float("nan"),  # the array is (X, Y, Z): no channel axis
        MetaKeys.SPACE: SpaceKeys.RAS,
        "axes": info.axes,
        "frame": int(frame),
        "channel": -1 if channel is None else int(channel),  # -1: the file has a single channel
        "n_frames": info.n_frames,
        "n_channels": info.n_channels,
    }
    if info.frame_interval_min is not None:
        meta["frame_interval_min"] = float(info.frame_interval_min)
        if "T" in info.axes:
            meta["time_min"] = float(frame) * float(info.frame_interval_min)
    return meta


def _read_nifti_xyz(path: Path, frame: int) -> tuple[np.ndarray, ImageInfo]:
    """An (X, Y, Z) NIfTI volume, or frame ``frame`` of an (X, Y, Z, T) series, in native byte order."""
    img = _nifti_load(path)
    info = _nifti_info(img, path)
    if len(info.shape) not in (3, 4):
        raise _error(path, frame, f"wrong number of dimensions: expected a NIfTI volume (X, Y, Z) or a "
                                  f"series (X, Y, Z, T), found shape {info.shape}")
    t = 0
    if len(info.shape) == 4 and info.shape[3] > 1:
        if not 0 <= frame < info.shape[3]:
            raise _error(path, frame, f"frame out of range: expected 0 <= frame < {info.shape[3]} "
                                      f"(shape {info.shape}), found frame {frame}")
        t = frame
    _check_pixels(info, frame, mask=False)
    try:
        data = np.asarray(img.dataobj[..., t] if len(info.shape) == 4 else img.dataobj[...])
    except Exception as exc:  # nibabel / gzip / numpy errors on a cut or damaged file
        raise _error(path, frame, f"corrupt or truncated NIfTI, the data cannot be read ({exc})") from exc
    order = _nifti_axis_order(img)
    if order != (0, 1, 2):
        data = np.ascontiguousarray(data.transpose(order))  # the voxel axes the affine says run along x, y, z
    return data.astype(data.dtype.newbyteorder("="), copy=False), info


def _read_zyx(path: Path, frame: int, channel: int | None, mask: bool) -> tuple[np.ndarray, ImageInfo, int | None]:
    """One frame (and channel) of a TIFF or NIfTI file as (X, Y, Z) in native dtype, plus its info."""
    if _is_suffix(path, NIFTI_SUFFIXES):
        return (*_read_nifti_xyz(path, frame), None)
    with _open_tiff(path) as tif:
        info = _checked_tiff_info(tif, path)
        index = _frame_index(info, frame, channel, mask)
        _check_pixels(info, frame, mask)
        used_channel = channel if "C" in info.axes and not mask else None
        zyx = _read_tiff_zyx(tif, index, path, frame)
    expected_zyx = spatial_shape_xyz(info, mask)[::-1]
    if zyx.shape != expected_zyx:  # the pixel data disagrees with the header: a damaged file
        raise _error(path, frame, f"corrupt TIFF: the planes read have shape {zyx.shape}, expected (Z, Y, X) = "
                                  f"{expected_zyx} from the file's header")
    xyz = zyx.transpose(2, 1, 0)
    # an image stays a view: the bundle's pipelines crop it and convert only the crop to float32 (LoadFramed
    # image_dtype None; a transposing copy of the whole frame was ~40 ms per channel of a 750 x 750 x 31 frame, three
    # channels per frame, for the ~22 % of it the crop keeps). A mask keeps its dtype, so a view would be the file's
    # whole frame behind every cached crop of it: it is made contiguous here.
    return (np.ascontiguousarray(xyz) if mask else xyz), info, used_channel


def read_frame(
    path: str | os.PathLike,
    frame: int = 0,
    channel: int | None = 1,
    default_spacing_um: Sequence[float] = DEFAULT_SPACING_UM,
) -> tuple[np.ndarray, dict]:
    """Read frame ``frame`` (0-based), channel ``channel`` of a time series as an (X, Y, Z) array.

    Accepts a TZCYX hyperstack (ImageJ or OME-TIFF; axes from the file's metadata), a per-frame ZCYX or
    ZYX TIFF (``frame`` is ignored when the file has no T axis, ``channel`` when it has no C axis), or a
    NIfTI volume. Only the planes of that frame and channel are read. The array keeps the file's dtype
    (native byte order). The meta dict holds ``spacing_um`` (x, y, z, um), ``affine`` (diagonal spacing),
    ``spatial_shape`` / ``original_spatial_shape`` (X, Y, Z voxels), ``frame``, ``channel``, ``axes``,
    ``filename_or_obj`` and, where the file has a frame interval, ``frame_interval_min`` and ``time_min``.
    Raises SpindleDataError for missing, corrupt or unsuitable files.
    """
    path = Path(path)
    data, info, used_channel = _read_zyx(path, int(frame), channel, mask=False)
    spacing, source = _spacing_with_default(info, default_spacing_um, image=True)
    check_intensities(data, path, frame)
    return data, _meta(info, data.shape, spacing, source, int(frame), used_channel)


def check_intensities(data: np.ndarray, path, frame) -> None:
    """Refuse NaN / Inf intensities (a float frame from a failed processing step: standardisation and the
    network would turn the whole frame into NaN); warn about a constant frame (every voxel equal, e.g. a
    blank frame while the laser was off), which is let through: standardisation (MONAI NormalizeIntensity
    guards a zero std) maps it to zeros and the volume found there will be about 0. Two passes (min, max),
    no temporary array of the frame's size."""
    if data.size == 0:
        raise _error(path, frame, f"empty frame: expected voxels, found shape {data.shape}")
    low, high = data.min(), data.max()
    if data.dtype.kind == "f" and not (np.isfinite(low) and np.isfinite(high)):
        n_nan = int(np.isnan(data).sum())
        n_inf = int(np.isinf(data).sum())
        raise _error(path, frame, f"non-finite intensities: expected finite values, found {n_nan} NaN and "
                                  f"{n_inf} Inf voxels of {data.size}; replace them in the file (e.g. Fiji: "
                                  f"Process > Math > Remove NaNs) or export the frame again")
    if low == high:
        warnings.warn(f"{path} (frame {frame}): constant frame, every voxel is {low.item()!r}; it is used as it "
                      f"is (standardised to zeros), expect no spindle in it", stacklevel=3)


def check_mask(mask_xyz: np.ndarray, path, frame, image_shape_xyz: Sequence[int] | None = None) -> None:
    """Raise SpindleDataError unless the mask's shape equals the image's (X, Y, Z) and its values are in {0, 1}."""
    if image_shape_xyz is not None and tuple(mask_xyz.shape) != tuple(int(s) for s in image_shape_xyz):
        raise _error(path, frame, f"mask shape differs from the image: expected (X, Y, Z) = "
                                  f"{tuple(int(s) for s in image_shape_xyz)}, found {tuple(mask_xyz.shape)}")
    if ((mask_xyz == 0) | (mask_xyz == 1)).all():  # cheap on a full frame; np.unique only for the message
        return
    values = np.unique(mask_xyz)
    raise _error(path, frame, f"mask values outside {{0, 1}}: expected a binary mask (0 background, "
                              f"1 spindle), found values {values[:10].tolist()}{' ...' if values.size > 10 else ''}")


def read_mask(
    path: str | os.PathLike,
    frame: int = 0,
    image_shape_xyz: Sequence[int] | None = None,
    default_spacing_um: Sequence[float] = DEFAULT_SPACING_UM,
) -> tuple[np.ndarray, dict]:
    """Read a binary spindle mask (TIFF ZYX, a TZYX mask hyperstack at ``frame``, or NIfTI (X, Y, Z)) as an
    (X, Y, Z) uint8 array and a meta dict with the file's calibration (default without a warning, since a
    mask normally takes its calibration from its image; LoadFramed does that). Checks values in {0, 1} and,
    if given, the image's (X, Y, Z) shape."""
    path = Path(path)
    data, info, _ = _read_zyx(path, int(frame), None, mask=True)
    check_mask(data, path, frame, image_shape_xyz)
    spacing, source = _spacing_with_default(info, default_spacing_um, image=False)
    return data.astype(np.uint8, copy=False), _meta(info, data.shape, spacing, source, int(frame), None)


class TimeSeriesTiffReader(ImageReader):
    """MONAI ImageReader for one frame and one channel of a time-series TIFF (ImageJ / OME) or NIfTI file.

    ``LoadImaged(keys, reader=TimeSeriesTiffReader(frame=0, channel=1), ensure_channel_first=True)`` gives
    (1, X, Y, Z) MetaTensors with the file's spacing (um) in ``affine``. ``read(path, frame=.., channel=..)``
    overrides the instance's frame / channel for one call (use :class:`LoadFramed` for a per-item frame).
    With ``mask=True`` the reader reads binary masks (values checked to be in {0, 1}).
    """

    def __init__(self, frame: int = 0, channel: int | None = 1,
                 default_spacing_um: Sequence[float] = DEFAULT_SPACING_UM, mask: bool = False):
        super().__init__()
        self.frame = int(frame)
        self.channel = channel
        self.default_spacing_um = checked_default_spacing(default_spacing_um, type(self).__name__)
        self.mask = mask

    def verify_suffix(self, filename: Sequence[os.PathLike] | os.PathLike) -> bool:
        names = [filename] if isinstance(filename, (str, os.PathLike)) else list(filename)
        return all(_is_suffix(name, TIFF_SUFFIXES + NIFTI_SUFFIXES) for name in names)

    def read(self, data: Sequence[os.PathLike] | os.PathLike, frame: int | None = None,
             channel: int | None = None, **kwargs) -> list[tuple[np.ndarray, dict]]:
        """Read the frame of each file now (only that frame is loaded); returns [(array_xyz, meta), ...]."""
        if kwargs:
            raise TypeError(f"TimeSeriesTiffReader.read: unexpected arguments {sorted(kwargs)}")
        frame = self.frame if frame is None else int(frame)
        channel = self.channel if channel is None else channel
        names = [data] if isinstance(data, (str, os.PathLike)) else list(data)
        if self.mask:
            return [read_mask(name, frame, None, self.default_spacing_um) for name in names]
        return [read_frame(name, frame, channel, self.default_spacing_um) for name in names]

    def get_data(self, img) -> tuple[np.ndarray, dict]:
        """One file: the (X, Y, Z) array and its meta. Several files: stacked as channels (C, X, Y, Z)."""
        arrays, metas = zip(*img, strict=True)
        if len(arrays) == 1:
            return arrays[0], dict(metas[0])
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1:
            raise SpindleDataError(f"{[m['filename_or_obj'] for m in metas]}: expected equal frame shapes to "
                                   f"stack as channels, found {sorted(shapes)}")
        meta = dict(metas[0])
        meta[MetaKeys.ORIGINAL_CHANNEL_DIM] = 0
        return np.stack(arrays), meta


# Meta entries a mask copies from its image: calibration and time.
_GRID_META_KEYS = ("spacing_um", "spacing_source", "pixdim", MetaKeys.AFFINE, MetaKeys.ORIGINAL_AFFINE,
                   "time_min", "frame_interval_min")


class LoadFramed(MapTransform):
    """Load the item's frame of each key into a (1, X, Y, Z) MetaTensor.

    The datalist item names its frame (``item[frame_key]``, default 0 when absent). Image keys read
    channel ``channel`` of that frame; ``label_keys`` are binary masks (TIFF ZYX / TZYX or NIfTI) that must
    match the image's shape (checked when an image key is loaded first) and values in {0, 1}, and that
    carry the image's calibration. Meta: ``spacing_um`` (x, y, z, um), ``pixdim``, ``affine``,
    ``filename_or_obj``, ``frame``, ``original_spatial_shape`` (full frame before any crop, X, Y, Z).
    ``image_dtype`` None keeps the file's dtype (and the reader's view of the frame): a pipeline that crops next
    converts only the crop (the bundle's standardisation, or a ``CastToTyped`` after the crop), not the whole frame.
    """

    def __init__(
        self,
        keys: KeysCollection,
        channel: int | None = 1,
        frame_key: str = "frame",
        default_spacing_um: Sequence[float] = DEFAULT_SPACING_UM,
        label_keys: Sequence[str] = ("label",),
        image_dtype: DtypeLike | None = np.float32,
        label_dtype: DtypeLike = np.float32,
        allow_missing_keys: bool = False,
        channel_hint: str = MICROTUBULE_CHANNEL_HINT,
    ):
        super().__init__(keys, allow_missing_keys)
        self.channel = channel
        self.channel_hint = channel_hint  # what to set when a file lacks the channel (which setting this loader reads)
        self.frame_key = frame_key
        self.default_spacing_um = checked_default_spacing(default_spacing_um, type(self).__name__)
        self.label_keys = set(label_keys)
        self.image_dtype = image_dtype
        self.label_dtype = label_dtype

    def __call__(self, data: Mapping) -> dict:
        d = dict(data)
        frame = int(d.get(self.frame_key, 0))
        image_meta: dict | None = None  # meta of the last image key read, for the masks that follow it
        for key in self.key_iterator(d):
            if key in self.label_keys:
                shape = image_meta[MetaKeys.SPATIAL_SHAPE] if image_meta is not None else None
                array, meta = read_mask(d[key], frame, shape, self.default_spacing_um)
                if image_meta is not None:  # a mask lives on its image's voxel grid and takes its calibration
                    meta.update({name: value for name, value in image_meta.items() if name in _GRID_META_KEYS})
                dtype = self.label_dtype
            else:
                try:
                    array, meta = read_frame(d[key], frame, self.channel, self.default_spacing_um)
                except ChannelOutOfRangeError as exc:
                    raise ChannelOutOfRangeError.about(exc.path, exc.frame, exc.problem, self.channel_hint) from None
                image_meta = copy.deepcopy(meta)
                dtype = self.image_dtype
            array = (array if dtype is None else array.astype(dtype, copy=False))[None]
            affine = torch.as_tensor(meta.pop(MetaKeys.AFFINE))  # given once: MetaTensor warns if meta has it too
            d[key] = MetaTensor(torch.as_tensor(array), affine=affine, meta=meta)
        return d


class ContiguousCopyd(MapTransform):
    """Give each key's tensor (or array) its own memory when it is a view into a larger one.

    A crop is a view of the frame it was cut from, so a cache that keeps the crop keeps the whole frame: a 352 x 352
    crop of a 750 x 750 frame pinned 4.5x its own bytes (training's cached labels: the standardisation already
    copies the image). Values, meta and trace are unchanged.
    """

    def __call__(self, data: Mapping) -> dict:
        d = dict(data)
        for key in self.key_iterator(d):
            value = d[key]
            if isinstance(value, torch.Tensor):
                if value.untyped_storage().nbytes() > value.numel() * value.element_size() or not value.is_contiguous():
                    d[key] = value.clone(memory_format=torch.contiguous_format)
            elif isinstance(value, np.ndarray) and value.base is not None:
                d[key] = value.copy()  # C order, its own memory
        return d
