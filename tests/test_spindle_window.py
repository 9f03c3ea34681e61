"""The spindle window (scripts/spindle_window.py) and the inferer that uses it: where the network runs, and that the
masks are the whole crop's."""

from __future__ import annotations

import pytest
import torch
from monai.data import MetaTensor
from scripts.inference import AutocastInferer
from scripts.spindle_window import BACKGROUND_LOGIT, SpindleWindow, foreground_box_xy

CROP_XY = (352, 352)


def _mask_with_box(x0, x1, y0, y1, shape=(*CROP_XY, 8)) -> torch.Tensor:
    mask = torch.zeros(shape, dtype=torch.bool)
    mask[x0:x1, y0:y1, 2:5] = True
    return mask


def test_window_follows_the_previous_spindle_with_a_margin():
    window = SpindleWindow(margin_vox=48, multiple_vox=32, edge_vox=16)
    key = ("exp1/oocyte01.tif", 5)
    assert window.window(key, CROP_XY) is None  # an oocyte's first frame: the whole crop
    window.remember(key, _mask_with_box(150, 210, 160, 190), windowed=False)
    wx, wy = window.window(("exp1/oocyte01.tif", 6), CROP_XY)
    for s, (low, high) in ((wx, (150, 210)), (wy, (160, 190))):
        assert (s.stop - s.start) % 32 == 0
        assert s.start <= low - 48 and s.stop >= high + 48  # the margin on both sides
        assert 0 <= s.start and s.stop <= 352
    assert (wx.stop - wx.start) * (wy.stop - wy.start) < 0.5 * 352 * 352
    # another oocyte, a gap of 3 frames, or the same frame again: the whole crop
    assert window.window(("exp1/oocyte02.tif", 6), CROP_XY) is None
    assert window.window(("exp1/oocyte01.tif", 8), CROP_XY) is None
    assert window.window(("exp1/oocyte01.tif", 5), CROP_XY) is None


def test_window_at_the_crop_edge_and_a_whole_crop_window():
    window = SpindleWindow(margin_vox=48, multiple_vox=32)
    window.remember(("a", 0), _mask_with_box(0, 40, 300, 352), windowed=False)
    wx, wy = window.window(("a", 1), CROP_XY)
    assert wx.start == 0 and wy.stop == 352  # shifted inside the crop
    window.remember(("b", 0), _mask_with_box(10, 340, 10, 340), windowed=False)
    assert window.window(("b", 1), CROP_XY) is None  # a window as big as the crop is the crop


def test_empty_frame_forgets_and_refresh_every_n_windowed_frames():
    window = SpindleWindow(refresh_every_frames=3)
    window.remember(("a", 0), _mask_with_box(150, 200, 150, 200), windowed=False)
    window.remember(("a", 1), torch.zeros((*CROP_XY, 8), dtype=torch.bool), windowed=True)
    assert window.window(("a", 2), CROP_XY) is None  # no spindle in the last frame: look everywhere
    window.remember(("a", 2), _mask_with_box(150, 200, 150, 200), windowed=False)
    for frame in (3, 4, 5):
        assert window.window(("a", frame), CROP_XY) is not None
        window.remember(("a", frame), _mask_with_box(150, 200, 150, 200), windowed=True)
    assert window.window(("a", 6), CROP_XY) is None  # 3 windowed frames in a row: the whole crop again


def test_trusted_only_when_the_mask_stays_clear_of_inner_edges():
    window = SpindleWindow(edge_vox=16)
    inner = (slice(96, 288), slice(96, 288))
    shape = (192, 192, 8)
    assert window.trusted(_mask_with_box(40, 150, 40, 150, shape), inner, CROP_XY)
    assert not window.trusted(_mask_with_box(5, 150, 40, 150, shape), inner, CROP_XY)  # near the left edge
    assert not window.trusted(_mask_with_box(40, 150, 40, 185, shape), inner, CROP_XY)  # near the far y edge
    assert not window.trusted(torch.zeros(shape, dtype=torch.bool), inner, CROP_XY)  # lost
    at_crop_edge = (slice(0, 192), slice(96, 288))
    assert window.trusted(_mask_with_box(0, 150, 40, 150, shape), at_crop_edge, CROP_XY)  # the crop's own edge


def test_settings_are_checked():
    with pytest.raises(ValueError, match="edge_vox"):
        SpindleWindow(margin_vox=8, edge_vox=16)
    with pytest.raises(ValueError, match="multiple_vox >= 1"):
        SpindleWindow(multiple_vox=0)


def test_oocyte_key_for_hyperstacks_and_per_frame_files():
    assert SpindleWindow.oocyte_key({"filename_or_obj": "/d/exp1/o1.tif", "frame": 3, "n_frames": 24}) == ("/d/exp1/o1.tif", 3)
    assert SpindleWindow.oocyte_key({"filename_or_obj": ["/d/exp1/o1/t0003.tif"], "frame": torch.tensor([0]),
                                     "n_frames": torch.tensor([1])}) == ("/d/exp1/o1", 0)
    assert SpindleWindow.oocyte_key({"filename_or_obj": None, "frame": 3}) is None


class PointwiseNet(torch.nn.Module):
    """A network whose output at a voxel depends only on that voxel: the window's logits must then equal the
    whole crop's exactly, which isolates the window logic from the U-Net's edge effects."""

    def forward(self, x):
        return 10.0 * x - 5.0


def _frame(centre_x: int, frame: int, shape=(*CROP_XY, 8)) -> MetaTensor:
    image = torch.zeros((1, 1, *shape))
    image[0, 0, centre_x - 30:centre_x + 30, 150:190, 2:6] = 1.0
    image[0, 0, 20:24, 20:24, 0] = 0.3  # a faint speck far from the spindle: logit -2, background
    return MetaTensor(image, meta={"filename_or_obj": "/d/exp1/o1.tif", "frame": frame, "n_frames": 10})


def test_windowed_inferer_gives_the_whole_crops_mask_near_the_spindle_and_saves_work():
    whole = AutocastInferer(precision="fp32", channels_last=False)
    windowed = AutocastInferer(precision="fp32", channels_last=False, window=SpindleWindow(margin_vox=48))
    network = PointwiseNet()
    centres = [170, 174, 178, 183, 187, 300]  # the spindle drifts, then jumps beyond the window's reach
    for frame, centre in enumerate(centres):
        image = _frame(centre, frame)
        a, b = whole(image, network), windowed(image, network)
        assert isinstance(b, MetaTensor) and b.shape == a.shape
        spindle = slice(centre - 30, centre + 30), slice(150, 190)
        assert torch.equal(a[0, 0][spindle] > 0, b[0, 0][spindle] > 0)
        assert foreground_box_xy(b[0, 0] > 0) is not None
    counts = windowed.window.counts
    # frame 0 whole; 1-4 windowed; frame 5 jumped: the window came back empty (rejected), so the whole crop ran
    assert counts == {"whole": 2, "window": 4, "window_rejected": 1}
    # outside the window: a confident background instead of the network's own (the speck's -2)
    fresh = AutocastInferer(precision="fp32", channels_last=False, window=SpindleWindow(margin_vox=48))
    fresh(_frame(170, 0), network)
    out = fresh(_frame(172, 1), network)
    assert fresh.window.counts["window"] == 1
    assert float(out[0, 0, 21, 21, 0]) == BACKGROUND_LOGIT and float(whole(_frame(172, 1), network)[0, 0, 21, 21, 0]) == -2.0
