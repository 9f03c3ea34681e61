"""The classical Otsu + largest-component baseline on hand-made volumes with known answers."""

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from scripts.baseline import OtsuBaselined, otsu_largest_component
from scripts.metrics import largest_component


def two_bright_boxes(seed=0):
    rng = np.random.default_rng(seed)
    image = rng.normal(100.0, 5.0, size=(48, 48, 8)).astype(np.float32)
    image[10:30, 12:24, 2:6] += 200.0  # 20 x 12 x 4 = 960 voxels: the "spindle"
    image[40:44, 40:44, 3:5] += 200.0  # 4 x 4 x 2 = 32 voxels: a bright speck elsewhere
    return image


def test_largest_component_keeps_the_biggest_blob():
    mask = np.zeros((20, 20, 4), dtype=bool)
    mask[0:5, 0:5, 0:2] = True  # 50 voxels
    mask[10:12, 10:12, 0:1] = True  # 4 voxels
    kept = largest_component(mask)
    assert kept.sum() == 50 and not kept[10, 10, 0]
    assert largest_component(np.zeros((3, 3, 3), dtype=bool)).sum() == 0


def test_otsu_finds_the_bright_box_and_drops_the_speck():
    mask = otsu_largest_component(two_bright_boxes(), smooth_sigma_vox=(0, 0, 0))
    expected = np.zeros_like(mask)
    expected[10:30, 12:24, 2:6] = True
    assert (mask == expected).all()


def test_otsu_with_blur_still_recovers_the_box_within_a_voxel_rim():
    mask = otsu_largest_component(two_bright_boxes(), smooth_sigma_vox=(1, 1, 0))
    assert mask[10:30, 12:24, 2:6].mean() > 0.9  # the box is found ...
    assert mask.sum() == pytest.approx(960, rel=0.15)  # ... and only a thin rim moves with the blur
    assert not mask[40:44, 40:44].any()


def test_multi_level_otsu_keeps_only_the_brightest_class():
    rng = np.random.default_rng(1)
    image = rng.normal(100.0, 3.0, size=(48, 48, 8)).astype(np.float32)
    image[4:44, 4:44, 1:7] += 100.0  # a bright "cytoplasm" filling most of the crop
    image[16:28, 18:30, 3:5] += 150.0  # the brighter "spindle": 12 x 12 x 2 = 288 voxels
    assert otsu_largest_component(image, (0, 0, 0), classes=2).sum() > 5000  # plain Otsu takes the cytoplasm
    spindle = otsu_largest_component(image, (0, 0, 0), classes=3)
    assert spindle.sum() == 288 and spindle[16:28, 18:30, 3:5].all()


def test_constant_image_gives_empty_mask():
    assert otsu_largest_component(np.full((8, 8, 4), 3.0)).sum() == 0


def test_transform_adds_a_channel_first_mask_with_the_image_meta():
    image = MetaTensor(torch.from_numpy(two_bright_boxes())[None], meta={"spacing_um": (0.17, 0.17, 2.0)})
    out = OtsuBaselined(keys="image", output_key="baseline", smooth_sigma_vox=(0, 0, 0))({"image": image})
    assert out["baseline"].shape == (1, 48, 48, 8) and out["baseline"].dtype == torch.uint8
    assert out["baseline"].sum().item() == 960
    assert out["image"] is image
    assert out["baseline"].meta["spacing_um"] == (0.17, 0.17, 2.0)
    with pytest.raises(ValueError, match="1-channel"):
        OtsuBaselined(keys="image")({"image": torch.zeros(2, 4, 4, 4)})


def test_labelled_frames_only_skips_frames_without_a_reference():
    image = MetaTensor(torch.from_numpy(two_bright_boxes())[None])
    only_labelled = OtsuBaselined(keys="image", smooth_sigma_vox=(0, 0, 0), frames="labelled")
    assert "baseline" not in only_labelled({"image": image})
    assert "baseline" not in only_labelled({"image": image, "label": None})
    labelled = only_labelled({"image": image, "label": torch.zeros(1, 48, 48, 8)})
    assert labelled["baseline"].sum().item() == 960
    with pytest.raises(ValueError, match="frames must be one of"):
        OtsuBaselined(keys="image", frames="some")
