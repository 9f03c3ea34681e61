"""scripts.io: one frame / one channel reading with calibration, MONAI integration, errors, memory, writers."""

from __future__ import annotations

import sys
import tracemalloc
import warnings

import nibabel as nib
import numpy as np
import pytest
import tifffile
import torch
from conftest import SHAPE_TZCYX, SPACING_UM, random_series, write_imagej
from monai.data import DataLoader, Dataset
from monai.transforms import LoadImaged
from scripts.io import (
    ContiguousCopyd,
    LoadFramed,
    SpindleDataError,
    TimeSeriesTiffReader,
    inspect_image,
    pixel_size_warnings,
    read_frame,
    read_mask,
    write_mask_hyperstack,
)


def xyz(zyx: np.ndarray) -> np.ndarray:
    """The bundle's (X, Y, Z) order of a ZYX array."""
    return zyx.transpose(2, 1, 0)


# ---- reading the right voxels with the right calibration -----------------------------------------

def test_imagej_hyperstack_frame_and_channel(imagej_hyperstack):
    path, array = imagej_hyperstack
    data, meta = read_frame(path, frame=2, channel=1)
    np.testing.assert_array_equal(data, xyz(array[2, :, 1]))
    assert data.dtype == np.uint16 and data.shape == (10, 12, 6)
    np.testing.assert_allclose(meta["spacing_um"], SPACING_UM, rtol=1e-6)
    np.testing.assert_allclose(np.diag(meta["affine"]), [*SPACING_UM, 1.0], rtol=1e-6)
    assert tuple(meta["original_spatial_shape"]) == (10, 12, 6)
    assert meta["axes"] == "TZCYX" and meta["frame"] == 2 and meta["channel"] == 1
    assert meta["time_min"] == pytest.approx(20.0)  # finterval 600 s -> 2 frames = 20 min


def test_ome_hyperstack_in_tczyx_order_with_units(ome_hyperstack):
    path, array = ome_hyperstack
    data, meta = read_frame(path, frame=3, channel=2)
    np.testing.assert_array_equal(data, xyz(array[3, :, 2]))
    np.testing.assert_allclose(meta["spacing_um"], (0.17, 0.17, 2.0), rtol=1e-9)  # 170 nm -> 0.17 um
    assert meta["time_min"] == pytest.approx(30.0)  # 600 s per frame
    info = inspect_image(path)
    assert (info.n_frames, info.n_channels, info.spatial_shape_xyz) == (4, 3, (10, 12, 6))


def test_per_frame_zcyx_ignores_frame_and_zyx_ignores_channel(tmp_path):
    zcyx = random_series((6, 3, 12, 10))
    zcyx_path = write_imagej(tmp_path / "t0007.tif", zcyx, "ZCYX", frame_interval_min=None)
    data, meta = read_frame(zcyx_path, frame=7, channel=2)
    np.testing.assert_array_equal(data, xyz(zcyx[:, 2]))
    assert meta["frame"] == 7 and "time_min" not in meta  # per-frame file: the datalist owns the time
    zyx_path = write_imagej(tmp_path / "t0008.tif", zcyx[:, 0], "ZYX", frame_interval_min=None)
    data, meta = read_frame(zyx_path, frame=8, channel=1)
    np.testing.assert_array_equal(data, xyz(zcyx[:, 0]))
    assert meta["channel"] == -1  # single-channel file: the channel setting does not apply


def test_plain_imagej_stack_is_read_as_z(tmp_path):
    """ImageJ opens a stack whose header has no slices/frames/channels ('images=n') as z-slices; so do we."""
    zyx = random_series((5, 12, 10))
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, zyx, resolution=(1 / 0.2, 1 / 0.2), metadata=None,
                     description="ImageJ=1.54f\nimages=5\nunit=micron\nspacing=1.5\nloop=false\n")
    assert inspect_image(path).axes == "ZYX"  # tifffile reports 'IYX'
    data, meta = read_frame(path, channel=1)
    np.testing.assert_array_equal(data, xyz(zyx))
    np.testing.assert_allclose(meta["spacing_um"], (0.2, 0.2, 1.5), rtol=1e-6)


def test_uncalibrated_file_takes_default_spacing_with_warning_naming_the_file(tmp_path):
    path = tmp_path / "uncalibrated.tif"
    tifffile.imwrite(path, random_series((5, 12, 10)), metadata={"axes": "ZYX"})
    with pytest.warns(UserWarning, match="uncalibrated.tif"):
        _, meta = read_frame(path, default_spacing_um=(0.3, 0.3, 4.0))
    np.testing.assert_allclose(meta["spacing_um"], (0.3, 0.3, 4.0))
    assert meta["spacing_source"] == "default"


def test_imagej_pixel_unit_with_values_is_read_as_um_with_warning(tmp_path):
    """The napari_lattice case: unit 'pixel' but real resolution/spacing values (see io._imagej_calibration)."""
    path = tmp_path / "pixelunit.tif"
    tifffile.imwrite(path, random_series((5, 12, 10)), imagej=True, resolution=(1 / 0.145, 1 / 0.145),
                     metadata={"axes": "ZYX", "unit": "pixel", "spacing": 0.3})
    with pytest.warns(UserWarning, match="pixelunit.tif.*read as um"):
        _, meta = read_frame(path)
    np.testing.assert_allclose(meta["spacing_um"], (0.145, 0.145, 0.3), rtol=1e-6)


def test_imagej_file_over_4gb_style_truncated_ifds(tmp_path):
    """ImageJ writes a single IFD for hyperstacks over 4 GB; tifffile's truncate=True writes the same layout."""
    array = random_series(SHAPE_TZCYX)
    path = tmp_path / "big_style.tif"
    tifffile.imwrite(path, array, imagej=True, truncate=True, metadata={"axes": "TZCYX", "unit": "um", "spacing": 2.0},
                     resolution=(1 / 0.17, 1 / 0.17))
    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == 1  # the layout under test
    data, meta = read_frame(path, frame=3, channel=0)
    np.testing.assert_array_equal(data, xyz(array[3, :, 0]))
    np.testing.assert_allclose(meta["spacing_um"], SPACING_UM, rtol=1e-6)


@pytest.mark.parametrize("compressed", [False, True], ids=["memory-mapped", "page-wise"])
def test_reading_a_frame_costs_about_one_frame_of_memory(tmp_path, compressed):
    """40 frames x 2 channels x 16 x 256 x 256 uint16 = 168 MB; reading frame 33 must stay near one frame.

    Two measures: tracemalloc peak (every numpy/Python allocation during the read) and the rise of the
    process's peak RSS (VmHWM, reset through /proc/self/clear_refs), which also counts pages of a
    memory-mapped file that the read touches. Thresholds: 2 frames (tracemalloc) and 5 frames (RSS) of
    all channels, i.e. 8 MB / 21 MB against a 168 MB series.
    """
    n_frames, shape_zcyx = 40, (16, 2, 256, 256)
    series = np.empty((n_frames, *shape_zcyx), np.uint16)
    series[:] = np.arange(n_frames, dtype=np.uint16)[:, None, None, None, None]  # voxel value = frame index
    path = tmp_path / "long.tif"
    kwargs = {"compression": "zlib", "compressionargs": {"level": 1}} if compressed else {}
    tifffile.imwrite(path, series, imagej=True, metadata={"axes": "TZCYX", "unit": "um", "spacing": 2.0},
                     resolution=(1 / 0.17, 1 / 0.17), **kwargs)
    series_bytes, frame_bytes = series.nbytes, series[0].nbytes
    del series

    def peak_rss_bytes() -> int:
        with open("/proc/self/status") as fh:
            return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM"))

    try:
        with open("/proc/self/clear_refs", "w") as fh:  # reset the peak RSS to the current RSS
            fh.write("5")
        rss_before = peak_rss_bytes()
    except OSError:
        rss_before = None
    tracemalloc.start()
    try:
        data, _ = read_frame(path, frame=33, channel=1)
        _, traced_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert data.shape == (256, 256, 16) and np.all(data == 33)
    assert traced_peak < 2 * frame_bytes < series_bytes / 10, (traced_peak, frame_bytes)
    if rss_before is not None:
        rss_rise = peak_rss_bytes() - rss_before
        assert rss_rise < 5 * frame_bytes, (rss_rise, frame_bytes, series_bytes)


# ---- masks ----------------------------------------------------------------------------------------

def test_mask_tiff_and_nifti_read_as_xyz(tmp_path):
    mask_zyx = np.zeros((6, 12, 10), np.uint8)
    mask_zyx[2:4, 3:9, 1:5] = 1
    tif_path = tmp_path / "t0001.tif"
    tifffile.imwrite(tif_path, mask_zyx)  # a bare array (axes unknown to tifffile): z is the leading axis
    nii_path = tmp_path / "t0001.nii.gz"
    nib.save(nib.Nifti1Image(xyz(mask_zyx).copy(), np.eye(4)), nii_path)
    for path in (tif_path, nii_path):
        mask, _ = read_mask(path, image_shape_xyz=(10, 12, 6))
        np.testing.assert_array_equal(mask, xyz(mask_zyx))
        assert mask.dtype == np.uint8 and int(mask.sum()) == 2 * 6 * 4
    # a mask is its own contiguous array: a crop of it cached for training must not keep the whole frame alive
    # (images are read as a view of the file's planes; their float32 conversion makes the copy)
    mask, _ = read_mask(tif_path, image_shape_xyz=(10, 12, 6))
    assert mask.flags.c_contiguous


def test_nifti_volume_series_and_calibration(tmp_path):
    series_xyzt = random_series((10, 12, 6, 3))
    img = nib.Nifti1Image(series_xyzt, np.diag([0.17, 0.17, 2.0, 1.0]))
    img.header.set_xyzt_units("micron", "sec")
    img.header.set_zooms((0.17, 0.17, 2.0, 600.0))
    path = tmp_path / "series.nii.gz"
    nib.save(img, path)
    data, meta = read_frame(path, frame=2)
    np.testing.assert_array_equal(data, series_xyzt[..., 2])
    np.testing.assert_allclose(meta["spacing_um"], SPACING_UM, rtol=1e-6)
    assert meta["frame_interval_min"] == pytest.approx(10.0)


def test_loadframed_label_alone_and_missing_label(tmp_path, imagej_hyperstack):
    path, _ = imagej_hyperstack
    label = tmp_path / "t0003.tif"
    tifffile.imwrite(label, np.ones((6, 12, 10), np.uint8), imagej=True, metadata={"axes": "ZYX"})
    out = LoadFramed(keys=["label"])({"label": label, "frame": 3})
    assert out["label"].shape == (1, 10, 12, 6) and float(out["label"].sum()) == 720.0
    out = LoadFramed(keys=["image", "label"], allow_missing_keys=True)({"image": path, "frame": 3})
    assert "label" not in out and out["image"].shape == (1, 10, 12, 6)  # an unlabelled frame


@pytest.mark.parametrize("mask_format", ["tif", "nii.gz"])
def test_loadframed_image_and_label(imagej_hyperstack, mask_format):
    path, array = imagej_hyperstack
    mask_zyx = np.zeros((6, 12, 10), np.uint8)
    mask_zyx[1:3, 4:8, 2:7] = 1
    label_path = path.parent / f"t0002.{mask_format}"
    if mask_format == "tif":
        tifffile.imwrite(label_path, mask_zyx, imagej=True, metadata={"axes": "ZYX"})
    else:
        nib.save(nib.Nifti1Image(xyz(mask_zyx).copy(), np.eye(4)), label_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # calibrated file, one affine: nothing to warn about
        out = LoadFramed(keys=["image", "label"], channel=2)({"image": str(path), "label": str(label_path), "frame": 2})
    image, label = out["image"], out["label"]
    assert image.shape == (1, 10, 12, 6) and label.shape == (1, 10, 12, 6)
    assert image.dtype == torch.float32 and label.dtype == torch.float32
    np.testing.assert_array_equal(image[0].numpy(), xyz(array[2, :, 2]).astype(np.float32))
    np.testing.assert_array_equal(label[0].numpy(), xyz(mask_zyx))
    np.testing.assert_allclose(image.pixdim.numpy(), SPACING_UM, rtol=1e-6)
    np.testing.assert_allclose(label.pixdim.numpy(), SPACING_UM, rtol=1e-6)  # the image's calibration
    assert image.meta["frame"] == 2 and image.meta["filename_or_obj"] == str(path)
    assert tuple(image.meta["original_spatial_shape"]) == (10, 12, 6)
    # image_dtype None (the bundle's configs): the file's dtype, converted only after the crop
    raw = LoadFramed(keys=["image"], channel=2, image_dtype=None)({"image": str(path), "frame": 2})["image"]
    assert raw.dtype == torch.from_numpy(array[:1, :1, 0, :1, :1]).dtype and raw.dtype != torch.float32
    np.testing.assert_array_equal(raw[0].numpy(), xyz(array[2, :, 2]))
    assert raw.pixdim.tolist() == image.pixdim.tolist()


def test_a_cached_crop_does_not_keep_its_whole_frame():
    from monai.data import MetaTensor
    from monai.transforms import CenterSpatialCropd

    frame = MetaTensor(torch.arange(40 * 30 * 4, dtype=torch.int32).reshape(1, 40, 30, 4).to(torch.uint8),
                       meta={"spacing_um": [0.17, 0.17, 2.0]})
    crop = CenterSpatialCropd("label", (10, 12, -1))({"label": frame})["label"]
    assert crop.untyped_storage().nbytes() == frame.numel()  # the view keeps the whole frame
    own = ContiguousCopyd("label")({"label": crop})["label"]
    assert own.untyped_storage().nbytes() == own.numel() == 10 * 12 * 4 and own.is_contiguous()
    assert torch.equal(own, crop) and own.meta["spacing_um"] == [0.17, 0.17, 2.0]
    assert own.applied_operations[-1]["class"] == "CenterSpatialCrop"  # the crop's trace goes with it
    assert ContiguousCopyd("label")({"label": own})["label"] is own  # nothing to copy
    view = np.zeros((6, 5, 4))[1:4]
    copied = ContiguousCopyd("x")({"x": view})["x"]
    assert copied.base is None and copied.shape == (3, 5, 4)


def test_loadframed_items_collate_into_a_batch(imagej_hyperstack):
    path, array = imagej_hyperstack
    items = [{"image": str(path), "frame": t, "experiment": "exp1", "time_min": 10.0 * t} for t in (0, 3)]
    batch = next(iter(DataLoader(Dataset(items, LoadFramed(keys=["image"], channel=0)), batch_size=2)))
    assert batch["image"].shape == (2, 1, 10, 12, 6) and batch["frame"].tolist() == [0, 3]
    np.testing.assert_array_equal(batch["image"][1, 0].numpy(), xyz(array[3, :, 0]))
    np.testing.assert_allclose(batch["image"].meta["spacing_um"].numpy(), [SPACING_UM] * 2, rtol=1e-6)


def test_reader_works_with_monai_loadimaged(imagej_hyperstack):
    path, array = imagej_hyperstack
    loader = LoadImaged(keys=["image"], reader=TimeSeriesTiffReader(frame=1, channel=0), ensure_channel_first=True)
    image = loader({"image": str(path)})["image"]
    assert image.shape == (1, 10, 12, 6)
    np.testing.assert_array_equal(image[0].numpy(), xyz(array[1, :, 0]).astype(np.float32))
    np.testing.assert_allclose(image.pixdim.numpy(), SPACING_UM, rtol=1e-6)
    reader = TimeSeriesTiffReader(frame=0, channel=1)
    data, meta = reader.get_data(reader.read(path, frame=3, channel=2))  # per-call override
    np.testing.assert_array_equal(data, xyz(array[3, :, 2]))
    assert reader.verify_suffix("a/b.ome.tif") and reader.verify_suffix("m.nii.gz") and not reader.verify_suffix("x.png")


# ---- bad input: one test per case, each message names the file, the frame, expected vs found -------

def test_error_missing_file(tmp_path):
    with pytest.raises(SpindleDataError, match=r"nope\.tif.*file not found"):
        read_frame(tmp_path / "nope.tif", frame=4)


def test_error_corrupt_tiff(tmp_path):
    path = tmp_path / "garbage.tif"
    path.write_bytes(b"this is not a TIFF file" * 20)
    with pytest.raises(SpindleDataError, match=r"garbage\.tif.*corrupt or truncated"):
        read_frame(path, frame=0)


@pytest.mark.parametrize("kind", ["imagej", "ome-compressed", "nifti"])
def test_error_truncated_file(tmp_path, imagej_hyperstack, kind):
    """Cut in half: inside the pixel data (ImageJ, memory-mapped path), inside the IFD chain of a
    compressed OME-TIFF (page-wise path), inside a NIfTI's data block."""
    if kind == "imagej":
        path = imagej_hyperstack[0]
    elif kind == "ome-compressed":
        path = tmp_path / "full.ome.tif"
        tifffile.imwrite(path, random_series(SHAPE_TZCYX), ome=True, metadata={"axes": "TZCYX"}, compression="zlib")
    else:
        path = tmp_path / "full.nii"
        nib.save(nib.Nifti1Image(np.ones((10, 12, 6), np.uint8), np.eye(4)), path)
    cut = path.with_name("cut" + "".join(path.suffixes))
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(SpindleDataError, match=r"cut\.(tif|ome\.tif|nii).*(corrupt or truncated|truncated)"):
        read_frame(cut, frame=1)


def test_error_frame_out_of_range(imagej_hyperstack):
    path, _ = imagej_hyperstack
    with pytest.raises(SpindleDataError, match=r"oocyte\.tif \(frame 4\): frame out of range: expected 0 <= frame < 4"):
        read_frame(path, frame=4)


def test_error_channel_out_of_range(imagej_hyperstack):
    path, _ = imagej_hyperstack
    with pytest.raises(SpindleDataError, match=r"oocyte\.tif \(frame 0\): channel out of range.*< 3.*found channel 3"):
        read_frame(path, frame=0, channel=3)


def test_a_missing_channel_names_the_setting_that_asked_for_it(imagej_hyperstack):
    from scripts.io import LoadFramed

    path, _ = imagej_hyperstack
    with pytest.raises(SpindleDataError, match=r"found channel 3; set the channel parameter \(--channel\)"):
        LoadFramed(keys="image", channel=3)({"image": str(path), "frame": 0})
    hint = "set --amtoc_channel to the aMTOC channel's index in this file, or --amtoc_channel null if it has none"
    with pytest.raises(SpindleDataError) as raised:
        LoadFramed(keys="amtoc", channel=3, channel_hint=hint)({"amtoc": str(path), "frame": 0})
    assert str(raised.value).endswith("found channel 3; " + hint) and str(raised.value).startswith(str(path))


def test_error_2d_image_is_not_a_3d_frame(tmp_path):
    path = write_imagej(tmp_path / "cyx.tif", random_series((3, 12, 10)), "CYX", frame_interval_min=None)
    with pytest.raises(SpindleDataError, match=r"cyx\.tif \(frame 0\): wrong number of dimensions.*found axes 'CYX'"):
        read_frame(path, frame=0)


def test_error_mask_shape_differs_from_image(imagej_hyperstack):
    path, _ = imagej_hyperstack
    label = path.parent / "t0001.tif"
    tifffile.imwrite(label, np.zeros((6, 12, 11), np.uint8), imagej=True, metadata={"axes": "ZYX"})
    with pytest.raises(SpindleDataError, match=r"t0001\.tif \(frame 1\): mask shape.*expected .* \(10, 12, 6\), found \(11, 12, 6\)"):
        LoadFramed(keys=["image", "label"])({"image": path, "label": label, "frame": 1})


def test_error_mask_values_outside_0_1(tmp_path):
    label = tmp_path / "t0005.tif"
    mask = np.zeros((6, 12, 10), np.uint8)
    mask[2, 3:5, 3:5] = 255  # Fiji's usual binary mask: 0/255
    tifffile.imwrite(label, mask, imagej=True, metadata={"axes": "ZYX"})
    with pytest.raises(SpindleDataError, match=r"t0005\.tif \(frame 5\): mask values outside \{0, 1\}.*found values \[0, 255\]"):
        read_mask(label, frame=5)


# ---- writers: masks open in Fiji with the lab's calibration --------------------------------------

def test_mask_hyperstack_reads_back_calibrated_as_fiji_would(tmp_path):
    masks = np.zeros((3, 6, 12, 10), np.uint8)
    masks[1, 2:4, 3:9, 1:5] = 1
    path = write_mask_hyperstack(tmp_path / "masks.tif", masks, SPACING_UM, frame_interval_min=10.0)
    with tifffile.TiffFile(path) as tif:  # what Fiji reads: ImageJ hyperstack header + resolution tags
        ij = tif.imagej_metadata
        assert tif.series[0].axes == "TZYX" and ij["hyperstack"] and ij["unit"] == "um"
        assert ij["spacing"] == pytest.approx(2.0) and ij["frames"] == 3 and ij["slices"] == 6
        x_res = tif.pages.first.tags["XResolution"].value
        assert x_res[1] / x_res[0] == pytest.approx(0.17, rel=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # fully calibrated: no default-spacing warning
        info = inspect_image(path)
        mask, meta = read_mask(path, frame=1)
    assert info.axes == "TZYX" and info.frame_interval_min == pytest.approx(10.0)
    np.testing.assert_allclose(info.spacing_um, SPACING_UM, rtol=1e-6)
    np.testing.assert_allclose(meta["spacing_um"], SPACING_UM, rtol=1e-6)
    np.testing.assert_array_equal(mask, xyz(masks[1]))


def test_plain_tiff_resolution_in_cm_and_72_dpi_placeholder(tmp_path):
    """tifffile 'shaped' files: axes from the JSON description; x/y from resolution tags, z has no tag."""
    zyx = random_series((5, 12, 10))
    calibrated = tmp_path / "cm.tif"
    tifffile.imwrite(calibrated, zyx, metadata={"axes": "ZYX"}, resolution=(1e4 / 0.25, 1e4 / 0.25),
                     resolutionunit="CENTIMETER")  # 0.25 um pixels
    placeholder = tmp_path / "dpi72.tif"
    tifffile.imwrite(placeholder, zyx, metadata={"axes": "ZYX"}, resolution=(72, 72), resolutionunit="INCH")
    np.testing.assert_allclose(inspect_image(calibrated).spacing_um[:2], (0.25, 0.25), rtol=1e-6)
    assert inspect_image(calibrated).spacing_um[2] is None
    assert inspect_image(placeholder).spacing_um == (None, None, None)
    with pytest.warns(UserWarning, match=r"cm\.tif: no calibration for axes \['z'\]"):
        _, meta = read_frame(calibrated)
    np.testing.assert_allclose(meta["spacing_um"], (0.25, 0.25, 2.0), rtol=1e-6)


def test_atomic_writes_get_the_permissions_of_a_plain_new_file(tmp_path):
    import os

    from scripts.io import atomic_path

    old_umask = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "out.csv") as tmp:
            tmp.write_text("a,b\n")
    finally:
        os.umask(old_umask)
    assert (tmp_path / "out.csv").stat().st_mode & 0o777 == 0o644


def test_a_failing_write_leaves_the_earlier_file_intact_and_no_partial_file(tmp_path):
    import errno

    from scripts.io import atomic_path

    target = tmp_path / "volumes.csv"
    target.write_text("finished work\n")
    with pytest.raises(OSError, match=r"cannot write .*volumes\.csv: No space left") as info:
        with atomic_path(target) as tmp:
            tmp.write_text("half of the new conte")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert info.value.errno == errno.ENOSPC  # the output's path in the message, the system's error code kept
    assert target.read_text() == "finished work\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["volumes.csv"]


def test_a_folder_that_cannot_be_written_is_named_not_a_temporary_file(tmp_path, monkeypatch):
    import errno
    import tempfile

    from scripts.io import atomic_path

    def refuse(*args, **kwargs):  # simulated: tests may run as root, for whom file permissions do not apply
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / ".x.pid1.abc.part"))

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    with pytest.raises(PermissionError, match=r"cannot write .*summary\.json: Permission denied"):
        with atomic_path(tmp_path / "summary.json"):
            pass


def test_partial_files_of_killed_writers_are_removed_and_live_ones_kept(tmp_path):
    import subprocess

    from scripts.io import atomic_path, remove_abandoned_partial_files

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a finished child: its PID names no running process (until reused, which only keeps a file)
    (tmp_path / "masks" / "exp1").mkdir(parents=True)
    abandoned = tmp_path / "masks" / "exp1" / f".oocyte01.tif.pid{dead.pid}.k3j2h1.part"
    abandoned.write_bytes(b"half a mask")
    finished = tmp_path / "masks" / "exp1" / "oocyte02.tif"
    finished.write_bytes(b"a finished mask")
    unrelated = tmp_path / ".notes.part"  # not written by atomic_path: not ours to delete
    unrelated.write_text("keep")
    with atomic_path(tmp_path / "volumes.csv") as live:  # being written by this (running) process
        live.write_text("in progress")
        assert remove_abandoned_partial_files(tmp_path) == [abandoned]
        assert live.exists()
    assert not abandoned.exists() and finished.exists() and unrelated.exists()
    assert remove_abandoned_partial_files(tmp_path / "missing") == []


def test_a_nifti_mask_whose_affine_swaps_x_and_y_is_read_in_the_images_order(tmp_path):
    """A mask stored as (Y, X, Z) on a square image has the image's shape: only the affine tells the swap."""
    from scripts.io import read_mask

    mask_xyz = np.zeros((12, 12, 4), np.uint8)
    mask_xyz[2:9, 5:7, 1:3] = 1  # long in x, narrow in y: a transposition shows
    swapped = np.array([[0.0, 0.17, 0, 0], [0.17, 0, 0, 0], [0, 0, 2.0, 0], [0, 0, 0, 1]])  # voxel i runs along y
    nib.save(nib.Nifti1Image(mask_xyz.transpose(1, 0, 2), swapped), tmp_path / "swapped.nii.gz")
    nib.save(nib.Nifti1Image(mask_xyz, np.diag([-0.17, -0.17, 2.0, 1.0])), tmp_path / "lps.nii.gz")  # ITK's flips
    for name in ("swapped.nii.gz", "lps.nii.gz"):
        data, meta = read_mask(tmp_path / name, image_shape_xyz=(12, 12, 4))
        assert np.array_equal(data, mask_xyz), name  # flips stay as stored: drawn on the image's voxel grid
        np.testing.assert_allclose(meta["spacing_um"], (0.17, 0.17, 2.0), rtol=1e-5)


def test_a_file_of_another_pixel_size_gets_one_warning_naming_it(tmp_path):
    array = np.zeros((2, 4, 8, 8), np.uint16)  # TZYX
    near = write_imagej(tmp_path / "near.tif", array, "TZYX", spacing_um=(0.18, 0.18, 2.0))  # 6 % off: fine
    far = write_imagej(tmp_path / "far.tif", array, "TZYX", spacing_um=(0.27, 0.27, 0.75))
    items = [{"image": str(path), "frame": f} for path in (near, far) for f in (0, 1)]
    with pytest.warns(UserWarning, match=r"far\.tif: x-y pixel size 0\.27 um is 1\.59x the 0\.17 um") as caught:
        messages = pixel_size_warnings(items, 0.17, 0.15)
    assert len(messages) == 1 and len([w for w in caught if "pixel size" in str(w.message)]) == 1  # once per file
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no check at all: nothing is said
        assert pixel_size_warnings(items, 0.17, "null") == [] and pixel_size_warnings(items, None, 0.15) == []
    with pytest.warns(UserWarning, match=r"near\.tif"):  # a model trained at 0.27 um: the other file is off
        assert len(pixel_size_warnings(items, 0.27, 0.15)) == 1
    with pytest.raises(ValueError, match="model_pixel_size_um must be > 0"):
        pixel_size_warnings(items, 0.0, 0.15)
