"""scripts.io on real microscope files (../shared/realdata, see its README.md and PROVENANCE.txt files).

Each file is opened with the axes, shape and calibration its provenance documents, and one frame read
through scripts.io must equal the same slice of tifffile's full read; the 2D file is refused clearly.
Skipped when the folder is absent (it does not ship with the project); SPINDLE_REALDATA overrides the path.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import pytest
import tifffile
from scripts.io import SpindleDataError, inspect_image, read_frame

REALDATA = Path(os.environ.get("SPINDLE_REALDATA", Path(__file__).resolve().parents[2] / "shared" / "realdata"))

pytestmark = pytest.mark.skipif(not REALDATA.is_dir(), reason=f"real microscope files not found at {REALDATA}")

# file, axes, shape (file order), dtype, spacing (x, y, z) um, frame interval min, (frame, channel) to read
CASES = [
    ("napari_lattice/multich_multi_time.tif", "TZCYX", (2, 501, 3, 11, 13), np.uint16,
     (0.144992, 0.144992, 0.3), 1 / 60, (1, 2)),
    ("sktracker/CZT_peaks.ome.tif", "TZYX", (4, 4, 48, 56), np.uint16, (0.065, 0.065, 1.0), 10 / 60, (3, 1)),
    ("sktracker/TZ_nucleus.ome.tif", "TZYX", (4, 5, 51, 73), np.uint8, (0.41513292, 0.41513292, 1.5), 3.0, (2, 1)),
    ("neubias/xyzc_16bit__dna_conf_wf.tif", "ZCYX", (45, 2, 130, 133), np.uint16,
     (0.51188, 0.51188, 0.49941), None, (0, 1)),
    ("neubias/xyz_8bit__mitotic_plate_calibrated.tif", "ZYX", (6, 263, 263), np.uint8, (0.0852, 0.0852, 3.0),
     1 / 60, (0, 1)),
    ("neubias/xyz_calibrated_16bit__golgi_bfa.tif", "ZYX", (25, 137, 147), np.uint16, (0.35144, 0.35144, 0.3876),
     59.86 / 60, (0, 1)),
]


def expected_frame_xyz(path: Path, axes: str, frame: int, channel: int) -> np.ndarray:
    full = tifffile.imread(path)
    index = tuple(frame if a == "T" else channel if a == "C" else slice(None) for a in axes)
    return full[index].transpose(2, 1, 0)


@pytest.mark.parametrize("name, axes, shape, dtype, spacing, interval, frame_channel", CASES,
                         ids=[c[0].split("/")[-1] for c in CASES])
def test_real_file_axes_shape_calibration_and_frame(name, axes, shape, dtype, spacing, interval, frame_channel):
    path = REALDATA / name
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        info = inspect_image(path)
        data, meta = read_frame(path, *frame_channel)
    assert info.axes == axes and info.shape == shape and info.dtype == dtype
    np.testing.assert_allclose(info.spacing_um, spacing, rtol=1e-4)
    np.testing.assert_allclose(meta["spacing_um"], spacing, rtol=1e-4)
    if interval is None:
        assert info.frame_interval_min is None
    else:
        assert info.frame_interval_min == pytest.approx(interval, rel=1e-6)
    np.testing.assert_array_equal(data, expected_frame_xyz(path, axes, *frame_channel))
    assert data.dtype == dtype and data.dtype.isnative  # big-endian files come back in native order for torch
    if "T" in axes:
        assert meta["time_min"] == pytest.approx(frame_channel[0] * interval, rel=1e-6)
    # the configured default is never used for a calibrated file; only the napari_lattice file warns,
    # about its 'pixel' unit (see scripts.io._imagej_calibration for that decision)
    messages = [str(w.message) for w in caught]
    assert not any("configured default" in m for m in messages)
    assert any("read as um" in m for m in messages) == name.startswith("napari_lattice")


def test_real_2d_cyx_image_is_refused_as_a_3d_frame():
    path = REALDATA / "neubias/xyc_16bit__cell_dna_mts_actin.tif"
    info = inspect_image(path)
    assert info.axes == "CYX" and info.shape == (3, 350, 350) and info.spatial_shape_xyz is None
    with pytest.raises(SpindleDataError, match=r"xyc_16bit__cell_dna_mts_actin\.tif \(frame 0\): wrong number of "
                                               r"dimensions: expected a 3D frame.*found axes 'CYX' with shape \(3, 350, 350\)"):
        read_frame(path, frame=0, channel=1)
