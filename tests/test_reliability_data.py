"""Issue 8, data side: every bad input a lab's folder can hold gets an actionable error (file, frame,
expected vs found), found as early and as cheaply as possible. One test per case.

Cases already covered elsewhere (not repeated here): missing file, corrupt / truncated TIFF and NIfTI,
frame or channel index out of range, 2D image, mask shape / values (tests/test_io.py); empty dataset,
GVBD table naming unknown oocytes or missing one, mask for a frame the series lacks
(tests/test_datalist.py); random corruptions (tests/test_fuzz_tiff.py).
"""

from __future__ import annotations

import inspect
import struct
import warnings

import nibabel as nib
import numpy as np
import pytest
import tifffile
from conftest import SPACING_UM, random_series, write_imagej
from monai.bundle import ConfigParser
from monai.transforms import Compose
from scripts import datalist as datalist_module
from scripts import fingerprint as fingerprint_module
from scripts import io as io_module
from scripts.datalist import build_datalist, load_datalist, write_datalist
from scripts.fingerprint import DataAnalyzer
from scripts.intensity import RobustStandardised
from scripts.io import LoadFramed, SpindleDataError, TimeSeriesTiffReader, inspect_image, read_frame


def xyz(zyx: np.ndarray) -> np.ndarray:
    return zyx.transpose(2, 1, 0)


# ---- a file the system will not let us read -------------------------------------------------------

def test_error_file_that_cannot_be_read_from_disk(imagej_hyperstack, monkeypatch):
    """Permissions or a network drive that went away: an OSError with an errno, told apart from a corrupt file.
    (Simulated: tests may run as root, for whom file permissions do not apply.)"""
    path, _ = imagej_hyperstack

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(io_module, "_IndexedTiffFile", refuse)
    with pytest.raises(SpindleDataError, match=r"oocyte\.tif: cannot be read from disk \(\[Errno 13\] Permission "
                                               r"denied.*check the file's permissions and that its drive is reachable"):
        read_frame(path)


# ---- wrong axes ---------------------------------------------------------------------------------------

def test_error_time_series_of_2d_images_has_no_z(tmp_path):
    path = write_imagej(tmp_path / "tcyx.tif", random_series((3, 2, 12, 10)), "TCYX")
    with pytest.raises(SpindleDataError, match=r"tcyx\.tif \(frame 1\): wrong number of dimensions: expected a 3D "
                                               r"frame.*found axes 'TCYX' with shape \(3, 2, 12, 10\)"):
        read_frame(path, frame=1)


def test_error_datalist_refuses_a_series_without_z_from_its_header(tmp_path):
    root = tmp_path / "ds"
    write_imagej(root / "exp1" / "a.tif", random_series((3, 2, 12, 10)), "TCYX")
    (root / "gvbd.csv").write_text("experiment,oocyte,gvbd_frame\nexp1,a,0\n")
    with pytest.raises(SpindleDataError, match=r"a\.tif: wrong number of dimensions.*found axes 'TCYX'"):
        build_datalist(root)


def test_error_unexpected_extra_axis(tmp_path):
    path = tmp_path / "angles.tif"  # a multi-view light-sheet file: an angle axis before T
    tifffile.imwrite(path, random_series((2, 3, 4, 2, 12, 10)), metadata={"axes": "ATZCYX"})
    with pytest.raises(SpindleDataError, match=r"angles\.tif \(frame 0\): unsupported axes 'ATZCYX' shape "
                                               r"\(2, 3, 4, 2, 12, 10\): expected a subset of 'TZCYX' \(axes \['A'\]"):
        read_frame(path, frame=0)


# ---- channel and pixel type ---------------------------------------------------------------------------

def test_error_missing_microtubule_channel_names_the_setting(tmp_path):
    path = write_imagej(tmp_path / "two_channels.tif", random_series((2, 5, 2, 12, 10)), "TZCYX")
    with pytest.raises(SpindleDataError, match=r"two_channels\.tif \(frame 1\): channel out of range: expected "
                                               r"0 <= channel < 2.*found channel 2; set the channel parameter "
                                               r"\(--channel\)"):
        read_frame(path, frame=1, channel=2)


def test_error_complex_pixels_are_refused_before_reading(tmp_path):
    path = tmp_path / "fft.tif"
    tifffile.imwrite(path, np.ones((5, 12, 10), np.complex64), metadata={"axes": "ZYX"}, photometric="minisblack")
    with pytest.raises(SpindleDataError, match=r"fft\.tif \(frame 0\): unsupported pixel type complex64: expected "
                                               r"integer or floating-point intensities"):
        read_frame(path)


def test_error_header_announcing_a_huge_frame_is_refused_before_allocating(tmp_path):
    path = tmp_path / "huge.tif"  # compressed, so the size is not caught as a truncation first
    tifffile.imwrite(path, np.zeros((200, 12, 10), np.uint16), imagej=True, metadata={"axes": "ZYX"},
                     compression="zlib")
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:  # ImageWidth 10 -> 10^6 in every page: 200 x 12 x 10^6 x 2 B
        for page in tif.pages:
            struct.pack_into("<HII", data, page.tags["ImageWidth"].offset + 2, 4, 1, 10**6)  # LONG, count 1
    path.write_bytes(bytes(data))
    with pytest.raises(SpindleDataError, match=r"huge\.tif \(frame 0\): frame too large: the header announces "
                                               r"\(X, Y, Z\) = \(1000000, 12, 200\).*\(4.47 GiB.*expected at most 2 GiB"):
        read_frame(path)


# ---- spacing: missing -> default with a warning (tests/test_io.py); stated but absurd -> refused -------

@pytest.mark.parametrize("description, match", [
    ("spacing=0", r"invalid z spacing 0 um.*expected a positive voxel size"),
    ("spacing=-2.0", r"invalid z spacing -2 um.*expected a positive voxel size"),
    ("spacing=nan", r"invalid z spacing nan um"),
    ("spacing=250", r"implausible z spacing 250 um.*expected 0.001 to 100 um"),
], ids=["zero", "negative", "nan", "over-100um"])
def test_error_absurd_z_spacing_is_refused(tmp_path, description, match):
    path = tmp_path / "bad_z.tif"
    tifffile.imwrite(path, random_series((5, 12, 10)), resolution=(1 / 0.17, 1 / 0.17), metadata=None,
                     description=f"ImageJ=1.54f\nimages=5\nslices=5\nunit=micron\n{description}\nloop=false\n")
    with pytest.raises(SpindleDataError, match=r"bad_z\.tif: " + match + r".*Image > Properties"):
        read_frame(path)


@pytest.mark.parametrize("size, unit, match", [
    (170.0, "µm", r"implausible x spacing 170 um.*expected 0.001 to 50 um.*\(nm or m stored as um\?\)"),
    (1.7e-7, "µm", r"implausible x spacing 1.7e-07 um"),
    (0.17, "mm", r"implausible x spacing 170 um"),
], ids=["nm-as-um", "m-as-um", "mm"])
def test_error_absurd_xy_spacing_is_refused(tmp_path, size, unit, match):
    path = tmp_path / "bad_x.ome.tif"
    tifffile.imwrite(path, random_series((5, 12, 10)), ome=True, metadata={
        "axes": "ZYX", "PhysicalSizeX": size, "PhysicalSizeXUnit": unit, "PhysicalSizeY": size,
        "PhysicalSizeYUnit": unit, "PhysicalSizeZ": 2.0})
    with pytest.raises(SpindleDataError, match=r"bad_x\.ome\.tif: " + match):
        read_frame(path)


def test_light_sheet_range_edges_are_accepted(tmp_path):
    path = tmp_path / "fine.tif"
    write_imagej(path, random_series((5, 12, 10)), "ZYX", spacing_um=(0.05, 0.05, 10.0), frame_interval_min=None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, meta = read_frame(path)
    np.testing.assert_allclose(meta["spacing_um"], (0.05, 0.05, 10.0), rtol=1e-6)


def test_print_resolution_of_a_plain_tiff_is_a_placeholder_not_a_calibration(tmp_path):
    """300 dpi (84.7 um pixels) from an image editor: not refused, read as 'no calibration'."""
    path = tmp_path / "dpi300.tif"
    tifffile.imwrite(path, random_series((5, 12, 10)), metadata={"axes": "ZYX"}, resolution=(300, 300),
                     resolutionunit="INCH")
    with pytest.warns(UserWarning, match=r"dpi300\.tif: no calibration for axes \['x', 'y', 'z'\]"):
        _, meta = read_frame(path)
    np.testing.assert_allclose(meta["spacing_um"], SPACING_UM)


def test_error_datalist_refuses_absurd_spacing_from_the_header(tmp_path):
    root = tmp_path / "ds"
    write_imagej(root / "exp1" / "a.tif", random_series((3, 5, 2, 12, 10)), "TZCYX", spacing_um=(0.17, 0.17, 0.0))
    (root / "gvbd.csv").write_text("experiment,oocyte,gvbd_frame\nexp1,a,0\n")
    with pytest.raises(SpindleDataError, match=r"a\.tif: invalid z spacing 0 um"):
        build_datalist(root)


def test_mask_calibration_is_not_checked_it_takes_the_image_calibration(tmp_path, imagej_hyperstack):
    """A NIfTI mask written in 'mm' by a medical tool (0.17 mm = 170 um) is not refused: the mask lives on
    its image's grid and LoadFramed gives it the image's spacing."""
    path, _ = imagej_hyperstack
    mask = np.zeros((10, 12, 6), np.uint8)
    mask[2:4, 2:4, 1:3] = 1
    img = nib.Nifti1Image(mask, np.diag([0.17, 0.17, 2.0, 1.0]))
    img.header.set_xyzt_units("mm")
    nib.save(img, tmp_path / "t0001.nii.gz")
    out = LoadFramed(keys=["image", "label"])({"image": path, "label": tmp_path / "t0001.nii.gz", "frame": 1})
    np.testing.assert_allclose(out["label"].pixdim.numpy(), SPACING_UM, rtol=1e-6)
    assert float(out["label"].sum()) == 8.0


@pytest.mark.parametrize("owner", [LoadFramed, TimeSeriesTiffReader, DataAnalyzer])
def test_error_configured_default_spacing_must_be_three_positive_numbers(owner, tmp_path):
    args = {"keys": ["image"]} if owner is LoadFramed else {"dataset_dir": tmp_path} if owner is DataAnalyzer else {}
    with pytest.raises(ValueError, match=rf"{owner.__name__}: default_spacing_um must be three positive numbers "
                                         r"\(x, y, z\) in um, found \[0.17, 0.17, 0\]"):
        owner(**args, default_spacing_um=[0.17, 0.17, 0])


# ---- NaN / Inf refused, constant frame warned and let through ------------------------------------------

@pytest.mark.parametrize("bad, counts", [(np.nan, "1 NaN and 0 Inf"), (np.inf, "0 NaN and 1 Inf"),
                                         (-np.inf, "0 NaN and 1 Inf")], ids=["nan", "inf", "-inf"])
def test_error_non_finite_intensities(tmp_path, bad, counts):
    tzyx = np.random.default_rng(0).random((2, 5, 12, 10)).astype(np.float32)
    tzyx[1, 3, 4, 5] = bad  # only frame 1 is damaged
    path = write_imagej(tmp_path / "float.tif", tzyx, "TZYX")
    data, _ = read_frame(path, frame=0)  # another frame of the same file reads fine
    np.testing.assert_array_equal(data, xyz(tzyx[0]))
    with pytest.raises(SpindleDataError, match=rf"float\.tif \(frame 1\): non-finite intensities: expected finite "
                                               rf"values, found {counts} voxels of 600"):
        read_frame(path, frame=1)


def test_constant_frame_warns_and_standardises_to_zeros(tmp_path):
    path = write_imagej(tmp_path / "blank.tif", np.full((2, 5, 12, 10), 100, np.uint16), "TZYX")
    transform = Compose([LoadFramed(keys=["image"]), RobustStandardised(keys="image")])
    with pytest.warns(UserWarning, match=r"blank\.tif \(frame 1\): constant frame, every voxel is 100"):
        out = transform({"image": str(path), "frame": 1})
    assert out["image"].shape == (1, 10, 12, 5)
    assert bool((out["image"] == 0).all())  # the zero std is guarded: zeros, not NaN


# ---- per-frame layout: frames of one oocyte must agree (header-only, when the datalist is built) --------

def overwrite_frame(root, frame: int, array, axes="ZCYX", spacing_um=SPACING_UM):
    return write_imagej(root / "exp1" / "oocyte01" / f"t{frame:04d}.tif", array, axes, spacing_um=spacing_um,
                        frame_interval_min=None)


def test_error_frames_of_different_shapes_within_one_oocyte(dataset_factory):
    root = dataset_factory(layout="per_frame", n_experiments=1, n_oocytes=2, shape_zcyx=(4, 3, 16, 18))
    overwrite_frame(root, 3, random_series((4, 3, 16, 20)))
    with pytest.raises(SpindleDataError, match=r"oocyte01/t0003\.tif \(frame 3\): frame shape differs within one "
                                               r"oocyte: expected \(X, Y, Z\) = \(18, 16, 4\) as in t0000\.tif "
                                               r"\(frame 0\) of the same oocyte, found \(20, 16, 4\)"):
        build_datalist(root)


def test_error_frames_with_different_channel_counts_within_one_oocyte(dataset_factory):
    root = dataset_factory(layout="per_frame", n_experiments=1, n_oocytes=2, shape_zcyx=(4, 3, 16, 18))
    overwrite_frame(root, 5, random_series((4, 2, 16, 18)))
    with pytest.raises(SpindleDataError, match=r"t0005\.tif \(frame 5\): number of channels differs within one "
                                               r"oocyte: expected 3 as in t0000\.tif.*found 2"):
        build_datalist(root)


def test_error_frames_with_different_calibration_within_one_oocyte(dataset_factory):
    root = dataset_factory(layout="per_frame", n_experiments=1, n_oocytes=2, shape_zcyx=(4, 3, 16, 18))
    overwrite_frame(root, 2, random_series((4, 3, 16, 18)), spacing_um=(0.17, 0.17, 1.0))
    with pytest.raises(SpindleDataError, match=r"t0002\.tif \(frame 2\): calibration differs within one oocyte: "
                                               r"expected z spacing 2\.0 um as in t0000\.tif.*found 1\.0 um"):
        build_datalist(root)


def test_error_per_frame_file_holding_several_time_points(dataset_factory):
    root = dataset_factory(layout="per_frame", n_experiments=1, n_oocytes=2, shape_zcyx=(4, 3, 16, 18))
    overwrite_frame(root, 4, random_series((2, 4, 3, 16, 18)), axes="TZCYX")
    with pytest.raises(SpindleDataError, match=r"t0004\.tif \(frame 4\): a per-frame file must hold one frame, "
                                               r"found 2 time points"):
        build_datalist(root)


# ---- masks that do not match their image (header-only, when the datalist is built) -------------------

def write_mask(root, frame: int, mask_zyx, axes="ZYX"):
    path = root / "exp1" / "oocyte01_masks" / f"t{frame:04d}.tif"
    tifffile.imwrite(path, mask_zyx, imagej=True, metadata={"axes": axes})
    return path


def test_error_mask_shape_differs_from_its_image_at_datalist_build(dataset_factory):
    root = dataset_factory(n_experiments=1, n_oocytes=2, shape_zcyx=(4, 3, 16, 18))  # labels on frames 1, 4
    write_mask(root, 4, np.zeros((5, 16, 18), np.uint8))  # one z-slice too many (a padded prediction)
    with pytest.raises(SpindleDataError, match=r"oocyte01_masks/t0004\.tif \(frame 4\): mask shape differs from "
                                               r"the image: expected \(X, Y, Z\) = \(18, 16, 4\), found \(18, 16, 5\)$"):
        build_datalist(root)


def test_error_mask_with_reversed_axes_gets_a_hint(dataset_factory):
    root = dataset_factory(n_experiments=1, n_oocytes=2, shape_zcyx=(4, 3, 16, 18))
    write_mask(root, 1, np.zeros((18, 16, 4), np.uint8))  # saved as XYZ
    with pytest.raises(SpindleDataError, match=r"t0001\.tif \(frame 1\): mask shape differs.*found \(4, 16, 18\) "
                                               r"\(the mask's axes look reversed"):
        build_datalist(root)


def test_error_2d_mask(dataset_factory):
    root = dataset_factory(n_experiments=1, n_oocytes=2, shape_zcyx=(4, 3, 16, 18))
    write_mask(root, 1, np.zeros((16, 18), np.uint8), axes="YX")
    with pytest.raises(SpindleDataError, match=r"t0001\.tif \(frame 1\): not a 3D mask:.*wrong number of "
                                               r"dimensions.*found axes 'YX'"):
        build_datalist(root)


# ---- empty or stale datalists ------------------------------------------------------------------------

def test_error_empty_datalist_list(dataset_factory, tmp_path):
    root = dataset_factory(n_experiments=1, n_oocytes=2)
    out = write_datalist(build_datalist(root, val_fraction=0.0), tmp_path / "datalist.json")
    with pytest.raises(SpindleDataError, match=r"datalist\.json: empty datalist: list 'validation' has no items "
                                               r"\(lists found: inference 7, test_oocytes 1, testing 2, training 2, validation 0\)"):
        load_datalist(out, "validation", dataset_dir=root)
    assert load_datalist(out, "validation", dataset_dir=root, allow_empty=True) == []


def test_dataset_without_masks_warns_that_only_inference_can_run(dataset_factory):
    root = dataset_factory(n_experiments=1, n_oocytes=2, label_every=100, gvbd_frame=50)  # no frame labelled
    with pytest.warns(UserWarning, match=r"no labelled frames.*only inference can run"):
        dl = build_datalist(root)
    assert (len(dl["training"]), len(dl["testing"]), len(dl["inference"])) == (0, 0, 7)


def test_error_datalist_file_missing_or_not_json(tmp_path):
    with pytest.raises(SpindleDataError, match=r"nope\.json: datalist not found \(make one with python -m "
                                               r"scripts\.datalist"):
        load_datalist(tmp_path / "nope.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"training": [{"image": "a.tif"')  # cut short, e.g. by a full disk
    with pytest.raises(SpindleDataError, match=r"broken\.json: not a readable JSON datalist"):
        load_datalist(broken)


def test_error_datalist_naming_files_that_do_not_exist(dataset_factory, tmp_path):
    root = dataset_factory(n_experiments=1, n_oocytes=2)
    out = write_datalist(build_datalist(root), tmp_path / "datalist.json")
    with pytest.raises(SpindleDataError, match=r"list 'training' names 2 files that do not exist under .*moved.*"
                                               r"expected the dataset folder the datalist was made from"):
        load_datalist(out, "training", dataset_dir=tmp_path / "moved")


# ---- GVBD table ----------------------------------------------------------------------------------------

def test_error_gvbd_table_with_conflicting_rows(dataset_factory):
    root = dataset_factory(n_experiments=1, n_oocytes=2)
    with open(root / "gvbd.csv", "a") as fh:
        fh.write("exp1,oocyte01,3\n")
    with pytest.raises(SpindleDataError, match=r"gvbd\.csv line 4: oocyte exp1/oocyte01 listed twice with different "
                                               r"GVBD frames: expected one row per oocyte, found 1 and 3"):
        build_datalist(root)


def test_error_gvbd_table_short_row(dataset_factory):
    root = dataset_factory(n_experiments=1, n_oocytes=2)
    (root / "gvbd.csv").write_text("experiment,oocyte,gvbd_frame\nexp1,oocyte01,1\nexp1,oocyte02\n")
    with pytest.raises(SpindleDataError, match=r"gvbd\.csv line 3: expected experiment,oocyte,gvbd_frame with an "
                                               r"integer frame, found \['exp1', 'oocyte02', None\]"):
        build_datalist(root)


def test_error_gvbd_table_separated_by_semicolons(dataset_factory):
    root = dataset_factory(n_experiments=1, n_oocytes=2)
    (root / "gvbd.csv").write_text("experiment;oocyte;gvbd_frame\nexp1;oocyte01;1\nexp1;oocyte02;1\n")
    with pytest.raises(SpindleDataError, match=r"gvbd\.csv: expected a comma-separated header with columns "
                                               r"experiment,oocyte,gvbd_frame, found \['experiment;oocyte;gvbd_frame'\]"):
        build_datalist(root)


def test_gvbd_table_from_a_spreadsheet_byte_order_mark_blanks_and_empty_lines(dataset_factory):
    root = dataset_factory(n_experiments=1, n_oocytes=2, gvbd_frame=1)
    (root / "gvbd.csv").write_bytes("\ufeffexperiment, oocyte ,gvbd_frame\r\nexp1, oocyte01,2\r\n,,\r\n"
                                    "exp1,oocyte02 , 3\r\n".encode())
    dl = build_datalist(root)
    item = next(i for i in dl["inference"] if i["frame"] == 4)
    assert item["minutes_since_gvbd"] == {"oocyte01": 20.0, "oocyte02": 10.0}[item["oocyte"]]


# ---- unknown parameters to our plugin classes -----------------------------------------------------

@pytest.mark.parametrize("target, args", [
    ("scripts.io.LoadFramed", {"keys": ["image"], "chanel": 1}),
    ("scripts.io.TimeSeriesTiffReader", {"frame": 0, "chanel": 1}),
    ("scripts.fingerprint.DataAnalyzer", {"dataset_dir": ".", "chanel": 1}),
], ids=["LoadFramed", "TimeSeriesTiffReader", "DataAnalyzer"])
def test_error_config_typo_names_the_class_and_the_argument(target, args):
    """MONAI's ConfigParser calls the class with the config's keys; an explicit signature makes a typo a
    TypeError naming the class and the argument, which MONAI re-raises as 'Failed to instantiate' (from it)."""
    parser = ConfigParser({"component": {"_target_": target, **args}})
    with pytest.raises(RuntimeError, match=rf"Failed to instantiate component '{target}'") as info:
        parser.get_parsed_content("component")
    cause = info.value.__cause__
    assert isinstance(cause, TypeError)
    assert f"{target.split('.')[-1]}.__init__() got an unexpected keyword argument 'chanel'" in str(cause)


def test_plugin_classes_take_no_catch_all_arguments():
    """No **kwargs in the constructors of the plugin's public classes (a typo in a config would vanish into them)."""
    import importlib

    other_modules = [importlib.import_module(f"scripts.{name}") for name in
                     ("network", "metrics", "inference", "recording", "reports", "timeseries", "baseline", "training",
                      "phantom", "augmentation")]
    classes = [obj for module in (io_module, datalist_module, fingerprint_module, *other_modules)
               for _, obj in inspect.getmembers(module, inspect.isclass)
               if obj.__module__ == module.__name__ and not obj.__name__.startswith("_")
               and not issubclass(obj, Exception)]
    assert {"LoadFramed", "TimeSeriesTiffReader", "DataAnalyzer", "AnisotropicAttentionUNet", "SpindleVolumeHandler",
            "TimeSeriesWriter", "OtsuBaselined", "AutocastInferer", "MaskStreamWriter", "OocyteRecorder",
            "FrameProgressBar", "RandLowResolutionXYd", "PatchFitsd"} <= {c.__name__ for c in classes}
    catch_all = [c.__name__ for c in classes
                 if any(p.kind is p.VAR_KEYWORD for p in inspect.signature(c.__init__).parameters.values())]
    assert catch_all == []


def test_reader_read_refuses_unknown_arguments(imagej_hyperstack):
    path, _ = imagej_hyperstack
    with pytest.raises(TypeError, match=r"TimeSeriesTiffReader\.read: unexpected arguments \['chanel'\]"):
        TimeSeriesTiffReader().read(path, chanel=1)



def test_an_ome_tiff_with_several_series_is_refused_with_the_count(tmp_path):
    path = tmp_path / "two_positions.ome.tif"
    with tifffile.TiffWriter(path, ome=True) as writer:  # two positions (oocytes) in one file
        writer.write(random_series((3, 2, 16, 16)), metadata={"axes": "ZCYX"})
        writer.write(random_series((3, 2, 16, 16), seed=1), metadata={"axes": "ZCYX"})
    with pytest.raises(SpindleDataError, match=r"two_positions\.ome\.tif: OME-TIFF with 2 image series .*one series, "
                                               r"one oocyte, per file"):
        inspect_image(path)


def test_an_rgb_hyperstack_is_refused_as_rgb_not_as_corrupt(tmp_path):
    path = tmp_path / "rgb.tif"  # a Fiji RGB hyperstack: colour samples, not channels
    tifffile.imwrite(path, np.zeros((2, 4, 16, 16, 3), np.uint8), imagej=True, photometric="rgb",
                     metadata={"axes": "TZYXS"})
    with pytest.raises(SpindleDataError, match=r"rgb\.tif: RGB image \(axes 'TZYXS'.*Make Composite"):
        inspect_image(path)


@pytest.mark.parametrize("shape", [(2, 4, 5, 16, 16), (2, 4, 3, 16, 16)])  # the second one tifffile takes for RGB
def test_a_file_without_axis_metadata_gets_advice_that_fits(tmp_path, shape):
    from scripts.io import check_image_info

    path = tmp_path / "plain5d.tif"
    tifffile.imwrite(path, np.zeros(shape, np.uint16))  # no imagej=True, no axes: tifffile's own shape record only
    with pytest.raises(SpindleDataError, match=r"plain5d\.tif: no axis metadata: .*imagej=True, metadata=\{'axes'"):
        check_image_info(inspect_image(path))
