"""scripts.resolution and ``resample_xy``: the network sees every file at the model's x-y pixel size, while the crop
window, the masks and the volumes stay on the file's grid."""

import json
import math

import numpy as np
import pytest
import tifffile
import torch
from conftest import bundle_configs
from monai.bundle import run as bundle_run
from monai.data import MetaTensor
from monai.transforms import CenterSpatialCropd, Compose, Invertd
from scipy import ndimage
from scripts.inference import AutocastInferer
from scripts.reports import read_rows
from scripts.resolution import (
    ModelFieldCropd,
    checked_model_pixel_size,
    crop_size_on_file_grid,
    to_model_grid,
    trained_crop_size,
    trained_pixel_size_um,
    training_pixel_size_um,
    xy_pixel_size_um,
)


def _at(array: torch.Tensor, x_um: float, y_um: float | None = None, z_um: float = 2.0) -> MetaTensor:
    return MetaTensor(array, affine=torch.diag(torch.tensor([x_um, y_um or x_um, z_um, 1.0], dtype=torch.float64)))


def test_the_crop_covers_the_same_field_in_um_on_every_file():
    assert crop_size_on_file_grid([352, 352, -1], (0.17, 0.17, 2.0), 0.17) == [352, 352, -1]
    assert crop_size_on_file_grid([352, 352, -1], (0.1, 0.1, 2.0), 0.17) == [598, 598, -1]  # 59.84 um / 0.1 um
    assert crop_size_on_file_grid([352, 352, 16], (0.34, 0.2, 1.0), 0.17) == [176, 299, 16]  # z stays in voxels
    assert crop_size_on_file_grid([352, 352, -1], (0.34, 0.34, 2.0), None) == [352, 352, -1]  # off: file voxels


def test_the_switch_needs_the_model_pixel_size():
    assert checked_model_pixel_size(False, 0.17) is None and checked_model_pixel_size("false", None) is None
    assert checked_model_pixel_size("true", 0.17) == 0.17
    with pytest.raises(ValueError, match="resample_xy needs model_pixel_size_um"):
        checked_model_pixel_size(True, None)


def test_pixel_size_comes_from_the_affine_and_must_be_shared_by_a_batch():
    assert xy_pixel_size_um(_at(torch.zeros(1, 4, 4, 2), 0.12, 0.13)) == pytest.approx((0.12, 0.13))
    batch = MetaTensor(torch.zeros(2, 1, 4, 4, 2), affine=torch.stack([torch.diag(torch.tensor([p, p, 2.0, 1.0]))
                                                                       for p in (0.12, 0.2)]))
    with pytest.raises(ValueError, match="different pixel sizes"):
        xy_pixel_size_um(batch)
    with pytest.raises(ValueError, match="needs the input's pixel size"):
        xy_pixel_size_um(torch.zeros(1, 1, 4, 4, 2))


def test_model_grid_shapes_padding_and_the_way_back():
    rng = np.random.default_rng(0)
    x = torch.tensor(ndimage.gaussian_filter(rng.normal(size=(1, 1, 96, 80, 6)), (0, 0, 4, 4, 0)), dtype=torch.float32)
    x /= x.std()
    same, back = to_model_grid(x, (0.17, 0.17), 0.17)
    assert same is x and back(x) is x  # at the model's pixel size nothing is touched
    model, back = to_model_grid(x, (0.12, 0.085), 0.17, (16, 16))
    # 96 x 0.12 / 0.17 = 67.8 -> 68, padded to 80; 80 x 0.085 / 0.17 = 40 -> 48; z is never resampled
    assert model.shape == (1, 1, 80, 48, 6)
    assert float(model[:, :, :6].abs().max()) == 0.0 and float(model[:, :, :, :4].abs().max()) == 0.0  # the padding
    assert float(model[:, :, 6:74, 4:44].abs().mean()) > 0.3
    restored = back(model)
    assert restored.shape == x.shape
    assert float((restored - x).abs().max()) < 0.1 * float(x.abs().max())  # smooth data survives the round trip
    # each z slice is resampled on its own: slices do not mix
    x[..., 3] = 0.0
    assert float(back(to_model_grid(x, (0.12, 0.085), 0.17)[0])[..., 3].abs().max()) == 0.0


def test_the_inferer_runs_the_network_on_the_model_grid_and_returns_the_input_grid():
    seen = []

    class Recorder(torch.nn.Module):
        def forward(self, x):
            seen.append(tuple(x.shape))
            return x - 0.5

    x = torch.zeros(1, 1, 64, 64, 4)
    x[:, :, 16:48, 16:48] = 1.0
    for pixel_um, network_xy in ((0.17, (64, 64)), (0.085, (32, 32)), (0.34, (128, 128))):
        logits = AutocastInferer("fp32", channels_last=False, model_pixel_size_um=0.17)(_at(x, pixel_um), Recorder())
        assert seen[-1][2:4] == network_xy
        assert isinstance(logits, MetaTensor) and logits.shape == x.shape
        assert abs(float((logits > 0).sum()) - float(x.sum())) <= 0.05 * float(x.sum())
    assert torch.equal(AutocastInferer("fp32", channels_last=False, model_pixel_size_um=0.17)(_at(x, 0.17), Recorder()),
                       AutocastInferer("fp32", channels_last=False)(_at(x, 0.17), Recorder()))


def test_the_crop_is_in_model_pixels_and_inverts_onto_the_full_frame():
    frame = _at(torch.arange(300 * 200 * 3, dtype=torch.float32).reshape(1, 300, 200, 3), 0.1)
    crop = ModelFieldCropd("image", (100, 100, -1), model_pixel_size_um=0.17)
    data = crop({"image": frame})
    assert data["image"].shape == (1, 170, 170, 3)  # 100 x 0.17 um = 17 um = 170 pixels of 0.1 um
    assert torch.equal(data["image"].as_tensor(), frame.as_tensor()[:, 65:235, 15:185])
    data["pred"] = data["image"] * 0 + 1
    pred = Invertd("pred", orig_keys="image", transform=Compose([crop]), nearest_interp=True)(data)["pred"]
    assert pred.shape == frame.shape and int(pred.sum()) == 170 * 170 * 3
    plain = CenterSpatialCropd("image", (100, 100, -1))({"image": frame})["image"]
    assert torch.equal(ModelFieldCropd("image", (100, 100, -1))({"image": frame})["image"], plain)  # off: as MONAI's


# ---------------------------------------------------------------------------------------------------- end to end
def _ellipsoid_series(pixel_um: float, field_um: float = 40.0, n_z: int = 9) -> np.ndarray:
    """TZCYX float32: two frames of one smooth ellipsoid (semi-axes 7 x 4 x 5 um, edge 1 um wide), placed off the
    frame's centre on a dim background, rendered from its formula at ``pixel_um``: the same scene on every grid."""
    n = int(round(field_um / pixel_um))
    centres = (np.arange(n) - (n - 1) / 2) * pixel_um
    z = (np.arange(n_z) - (n_z - 1) / 2) * 2.0
    zz, yy, xx = np.meshgrid(z, centres, centres, indexing="ij")
    r = np.sqrt(((xx - 3.0) / 7.0) ** 2 + ((yy + 2.0) / 4.0) ** 2 + (zz / 5.0) ** 2)
    volume = 100.0 + 400.0 / (1.0 + np.exp((r - 1.0) / 0.15))
    return np.stack([volume[:, None]] * 2).astype(np.float32)


def _evaluate(tmp_path, name, series, pixel_um, random_model, **settings):
    from scripts.io import write_imagej_hyperstack

    data = tmp_path / f"data_{name}"
    write_imagej_hyperstack(data / "exp1" / "oocyte01.tif", series, "TZCYX", (pixel_um, pixel_um, 2.0), 10.0)
    out = tmp_path / f"out_{name}"
    # the network is the identity: logits = the standardised crop, the mask = voxels above the crop's mean. What it
    # covers then depends only on the crop's field of view and the resampling, which is what is tested here
    bundle_run(run_id="evaluating", config_file=bundle_configs("inference"), dataset_dir=str(data), output_dir=str(out),
               model_path=str(random_model), network="$torch.nn.Identity()", channel=0, crop_size=[160, 160, -1],
               num_workers=0, montage_tiles=1, progress_bar=False, precision="fp32", band_probability=None,
               **settings)
    return read_rows(out / "volumes.csv"), tifffile.imread(out / "masks" / "exp1" / "oocyte01.tif")


def test_resampling_makes_the_volume_a_property_of_the_scene_not_of_the_pixel_size(random_model, tmp_path):
    """The same scene written at 0.12, 0.17 and 0.25 um: with resample_xy the crop covers the same 27 um and the
    volumes agree; masks are written on each file's own grid. Without it the 160-voxel crop covers 19-40 um and
    the 'same' measurement gives other volumes (what the switch is for)."""
    volumes, volumes_off = {}, {}
    for pixel_um in (0.12, 0.17, 0.25):
        series = _ellipsoid_series(pixel_um)
        rows, masks = _evaluate(tmp_path, f"{pixel_um}", series, pixel_um, random_model, resample_xy=True)
        assert masks.shape == (2, 9, *series.shape[-2:])  # TZYX on the file's grid
        volumes[pixel_um] = rows[0]["volume_um3"]
        assert not rows[0]["touches_crop_border"]  # the window is the 27-um field on this grid
        rows_off, _ = _evaluate(tmp_path, f"{pixel_um}_off", series, pixel_um, random_model, resample_xy=False)
        volumes_off[pixel_um] = rows_off[0]["volume_um3"]
    reference = volumes[0.17]
    assert reference > 0 and math.isclose(volumes_off[0.17], reference)  # at the model's pixel size: no change
    for pixel_um, volume in volumes.items():
        assert abs(volume / reference - 1.0) < 0.03, (pixel_um, volumes)
    assert max(abs(v / reference - 1.0) for v in volumes_off.values()) > 0.1, volumes_off


def test_fine_tuned_weights_are_seen_at_the_pixels_they_were_trained_at(tmp_path):
    """A lab fine-tunes on its own 0.266 um files: evaluating those weights must not resample its files to 0.17."""
    from conftest import write_imagej

    frames = np.zeros((1, 4, 8, 8), np.uint16)  # TZYX
    lab = [write_imagej(tmp_path / f"lab{i}.tif", frames, "TZYX", spacing_um=(0.266, 0.266, 0.75)) for i in range(3)]
    odd = write_imagej(tmp_path / "odd.tif", frames, "TZYX", spacing_um=(0.2, 0.18, 0.75))
    items = [{"image": str(path), "frame": 0} for path in lab + [odd]] + [{"image": str(lab[0]), "frame": 1}]
    assert training_pixel_size_um(items) == pytest.approx(0.266)  # the median over files, each file once
    assert training_pixel_size_um([]) is None

    weights = tmp_path / "finetuned" / "model.pt"
    weights.parent.mkdir()
    assert trained_pixel_size_um(weights, 0.17) == 0.17  # no provenance (the shipped weights): the default
    (weights.parent / "provenance.json").write_text(json.dumps({"pixel_size_um": None}))
    assert trained_pixel_size_um(weights, 0.17) == 0.17  # a fine-tuning run on uncalibrated files
    (weights.parent / "provenance.json").write_text(json.dumps({"pixel_size_um": 0.266}))
    assert trained_pixel_size_um(weights, 0.17) == 0.266
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(bundle_configs("inference"))
    parser["model_path"] = str(weights)
    assert parser.get_parsed_content("model_pixel_size_um") == 0.266
    assert parser.get_parsed_content("crop").model_pixel_size_um == 0.266  # the lab's files are not resampled
    (weights.parent / "provenance.json").write_text(json.dumps({"pixel_size_um": "0.266 um"}))
    with pytest.raises(ValueError, match="pixel_size_um must be a positive number"):
        trained_pixel_size_um(weights, 0.17)
    (weights.parent / "provenance.json").write_text("{not json")
    with pytest.raises(ValueError, match="provenance.json: not the JSON object"):
        trained_pixel_size_um(weights, 0.17)
    (weights.parent / "provenance.json").write_text("[0.266]")
    with pytest.raises(ValueError, match="provenance.json: not the JSON object"):
        trained_pixel_size_um(weights, 0.17)


def test_a_network_trained_at_a_coarser_pixel_size_sees_its_training_field_at_inference(tmp_path):
    """352 voxels of 0.17-um files shown at 0.34 um were 176 network voxels: the default crop follows the record."""
    weights = tmp_path / "coarse" / "model.pt"
    weights.parent.mkdir()
    assert trained_crop_size(weights, [352, 352, -1]) == [352, 352, -1]  # the shipped weights: no provenance
    record = {"pixel_size_um": 0.17, "file_pixel_size_um": 0.17, "settings": {}}
    (weights.parent / "provenance.json").write_text(json.dumps(record))
    assert trained_crop_size(weights, [352, 352, -1]) == [352, 352, -1]  # trained on the files' own pixels
    record.update(pixel_size_um=0.34, settings={"crop_size": [352, 352, -1]})
    (weights.parent / "provenance.json").write_text(json.dumps(record))
    assert trained_crop_size(weights, [352, 352, -1]) == [176, 176, -1]
    record["settings"]["crop_size"] = [256, 320, 24]  # a run with its own crop: that field, z in voxels
    (weights.parent / "provenance.json").write_text(json.dumps(record))
    assert trained_crop_size(weights, [352, 352, -1]) == [128, 160, 24]
    del record["settings"]  # a run from before the crop was recorded: train.yaml's default crop
    (weights.parent / "provenance.json").write_text(json.dumps(record))
    assert trained_crop_size(weights, [352, 352, -1]) == [176, 176, -1]

    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(bundle_configs("inference"))
    parser["model_path"] = str(weights)
    assert parser.get_parsed_content("crop_size") == [176, 176, -1]
    assert list(parser.get_parsed_content("crop").cropper.roi_size) == [176, 176, -1]
    parser = ConfigParser()
    parser.read_config(bundle_configs("inference"))
    parser["model_path"] = str(weights)
    parser["crop_size"] = [96, 96, -1]  # --crop_size still overrides
    assert parser.get_parsed_content("crop_size") == [96, 96, -1]
    (weights.parent / "provenance.json").write_text(json.dumps({**record, "file_pixel_size_um": "0.17"}))
    with pytest.raises(ValueError, match="file_pixel_size_um must be a positive number"):
        trained_crop_size(weights, [352, 352, -1])
