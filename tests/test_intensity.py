"""Tests of the robust standardisation (scripts.intensity): what a few extreme voxels can and cannot do."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from monai.data import MetaTensor
from scripts.intensity import RobustStandardised, robust_percentiles, robust_standardise


def _frame(seed: int = 0) -> np.ndarray:
    """(X, Y, Z) camera-like frame: cytoplasm ~300 counts with noise and a bright 'spindle' of 1 % of the voxels."""
    rng = np.random.default_rng(seed)
    image = rng.normal(300.0, 20.0, size=(64, 64, 16))
    image[28:36, 26:38, 6:10] += 600.0
    return image.astype(np.float32)


def test_hot_pixels_do_not_squash_the_image():
    clean = _frame()
    hot = clean.copy()
    hot.ravel()[np.random.default_rng(1).choice(hot.size, 10, replace=False)] = 20000.0  # 0.015 % hot pixels
    spindle = np.zeros(clean.shape, bool)
    spindle[28:36, 26:38, 6:10] = True
    robust_clean, robust_hot = robust_standardise(clean), robust_standardise(hot)
    # the spindle stays several standard deviations above the cytoplasm: hot pixels are clipped, not the scale setters
    assert robust_hot[spindle].mean() - robust_hot[~spindle].mean() > 5.0
    np.testing.assert_allclose(robust_hot[spindle].mean(), robust_clean[spindle].mean(), rtol=0.02)
    # plain standardisation squashes it: the ten voxels take most of the variance
    plain = (hot - hot.mean()) / hot.std()
    robust_contrast = robust_hot[spindle].mean() - robust_hot[~spindle].mean()
    assert plain[spindle].mean() - plain[~spindle].mean() < 0.5 * robust_contrast


@pytest.mark.parametrize("offset,gain", [(0.0, 1.0), (2000.0, 1.0), (-1000.0, 1.0), (100.0, 0.5), (400.0, 4.0)])
def test_camera_offset_and_gain_change_nothing(offset, gain):
    frame = _frame()
    np.testing.assert_allclose(robust_standardise(frame * gain + offset), robust_standardise(frame), atol=2e-4)


def test_constant_image_and_the_transform_keeps_meta():
    assert (robust_standardise(np.full((4, 4, 4), 7.0)) == 0).all()


def test_result_is_float32_whatever_the_input():
    for dtype in (np.uint16, np.float32, np.float64):
        assert robust_standardise(_frame().astype(dtype)).dtype == np.float32
    image = MetaTensor(torch.from_numpy(_frame()[None]), meta={"spacing_um": [0.17, 0.17, 2.0]})
    out = RobustStandardised(keys="image")({"image": image})["image"]
    assert isinstance(out, MetaTensor) and out.meta["spacing_um"] == [0.17, 0.17, 2.0]
    assert out.dtype == torch.float32 and abs(float(out.mean())) < 1e-5 and float(out.std()) == pytest.approx(1.0, abs=1e-3)
    assert float(image.mean()) > 100  # the input was not changed in place
    with pytest.raises(ValueError, match="percentiles must be"):
        RobustStandardised(keys="image", percentiles=(99.0, 1.0))


def test_a_cropped_camera_frame_standardises_as_its_float32_copy():
    """The loaders keep the file's dtype and the reader's strided view until the standardisation: the result must be
    the one of converting the whole frame to float32 first (what the shipped weights were trained with)."""
    rng = np.random.default_rng(5)
    counts = rng.poisson(300.0, size=(7, 60, 50)) + rng.integers(0, 3, size=(7, 60, 50)) * 1000  # Z Y X
    for frame_zyx in (counts.astype(np.uint16), (counts - 900).astype(np.int16), counts.astype(np.float64) + 0.25):
        crop_xyz = frame_zyx.transpose(2, 1, 0)[10:40, 5:55]
        expected = robust_standardise(np.ascontiguousarray(crop_xyz, dtype=np.float32))
        np.testing.assert_array_equal(robust_standardise(crop_xyz), expected)
        out = RobustStandardised(keys="image")({"image": MetaTensor(torch.as_tensor(crop_xyz[None]))})["image"]
        assert out.dtype == torch.float32
        np.testing.assert_array_equal(out[0].numpy(), expected)


@pytest.mark.parametrize("case", ["uint16 wide", "uint16 narrow", "uint8", "uint16 constant", "uint16 one voxel",
                                  "uint16 tiny values"])
def test_camera_counts_standardise_as_their_float32_copy(case):
    """uint8 / uint16 images take their clip values, mean and standard deviation from one histogram (Session 37:
    3x faster per crop): every voxel must come out as in the voxel-by-voxel float32 path the weights were trained
    with, to the last bit, over the ranges cameras write (12-bit and 16-bit spans, 8-bit, flat, dim)."""
    rng = np.random.default_rng(11)
    shape = (37, 41, 9)
    image = {
        "uint16 wide": np.concatenate([rng.integers(0, 65536, size=1000),
                                       rng.gamma(2.0, 900.0, size=int(np.prod(shape)) - 1000)]).astype(np.uint16),
        "uint16 narrow": rng.poisson(105.0, size=shape).astype(np.uint16),
        "uint8": rng.integers(0, 256, size=shape).astype(np.uint8),
        "uint16 constant": np.full(shape, 412, np.uint16),
        "uint16 one voxel": np.array([[[3]]], np.uint16),
        "uint16 tiny values": rng.integers(0, 3, size=shape).astype(np.uint16),
    }[case].reshape(-1)
    image = image.reshape(shape) if image.size == np.prod(shape) else image.reshape(1, 1, -1)
    for percentiles in ((0.1, 99.9), (0.0, 100.0), (2.5, 97.5)):
        expected = _float32_path(image, percentiles)
        np.testing.assert_array_equal(robust_standardise(image, percentiles), expected)


def _float32_path(image: np.ndarray, percentiles) -> np.ndarray:
    """robust_standardise as it was before the histogram statistics, voxel by voxel on the float32 copy."""
    values = np.ascontiguousarray(image, dtype=np.float32)
    low, high = np.percentile(values, percentiles)
    out = np.clip(values, np.float32(low), np.float32(high))
    out -= np.float32(out.mean(dtype=np.float64))
    std = float(out.std(dtype=np.float64))
    if std > 0:
        out /= np.float32(std)
    return out


def _percentile_cases():
    """Images whose percentiles are counted (integer counts as uint16, int32, float32, with offsets, tiny and one
    voxel) and images that go to np.percentile (fractional, huge float values, NaN, infinities, a wide span)."""
    rng = np.random.default_rng(3)
    counts = rng.poisson(300.0, size=(40, 30, 7)) + rng.integers(0, 3, size=(40, 30, 7)) * 1000
    yield counts.astype(np.uint16)
    yield counts.astype(np.uint16).transpose(2, 1, 0)[:, 5:25]  # a crop of a reader's (X, Y, Z) view: strided
    yield (counts - 5000).astype(np.int32)
    yield (counts + 0.0).astype(np.float32)
    yield np.array([7.0], np.float32)
    yield np.array([3, 3, 3, 4], np.uint8)
    yield rng.normal(size=500).astype(np.float32)
    yield (counts + 2.0 ** 25).astype(np.float32)
    yield np.array([1.0, np.nan, 3.0], np.float32)
    yield np.array([1.0, np.inf, 3.0])
    yield np.array([0, 1 << 22, 5], np.int64)
    yield np.array([2 ** 64 - 3, 2 ** 64 - 1, 2 ** 64 - 2], np.uint64)


@pytest.mark.parametrize("image", list(_percentile_cases()), ids=lambda a: f"{a.dtype}{a.shape}")
def test_percentiles_are_numpys_to_the_last_bit(image):
    for percentiles in ((0.1, 99.9), (0.0, 100.0), (50.0, 2.5), (33.3, 66.6)):
        expected = [float(v) for v in np.percentile(image, percentiles)]
        np.testing.assert_array_equal(robust_percentiles(image, percentiles), expected)
