"""Spindle volume, shape and the MONAI metric / ignite handler, against hand-built masks with known answers."""

import math

import numpy as np
import pytest
import torch
from ignite.engine import Engine
from monai.data import MetaTensor
from scripts.metrics import (
    FRAME_METRIC_COLUMNS,
    SpindleVolumeHandler,
    SpindleVolumeMetric,
    bounding_box,
    dice_score,
    frame_metrics,
    largest_component,
    relative_volume_error,
    shape_descriptors,
    spacing_from_meta,
    spindle_volume_um3,
    volume_band_um3,
)

SPACING = (0.17, 0.17, 2.0)
VOXEL_UM3 = 0.17 * 0.17 * 2.0  # 0.0578 um^3


def box_mask(shape, lo, hi):
    mask = np.zeros(shape, dtype=np.uint8)
    mask[lo[0]:hi[0], lo[1]:hi[1], lo[2]:hi[2]] = 1
    return mask


def test_box_volume_is_voxel_count_times_voxel_volume():
    mask = box_mask((40, 40, 12), (5, 5, 2), (15, 15, 7))  # 10 x 10 x 5 voxels
    assert spindle_volume_um3(mask, SPACING) == pytest.approx(500 * 0.0578, rel=1e-12)
    # channel-first tensors, bool masks and 0/255 masks give the same volume
    assert spindle_volume_um3(torch.from_numpy(mask)[None], SPACING) == pytest.approx(28.9)
    assert spindle_volume_um3(mask.astype(bool), SPACING) == pytest.approx(28.9)
    assert spindle_volume_um3(mask * 255, SPACING) == pytest.approx(28.9)


def test_volume_uses_the_given_spacing_not_a_default():
    mask = box_mask((8, 8, 8), (0, 0, 0), (2, 3, 4))  # 24 voxels
    assert spindle_volume_um3(mask, (0.5, 0.25, 1.0)) == pytest.approx(24 * 0.125)
    with pytest.raises(ValueError, match="spacing"):
        spindle_volume_um3(mask, (0.17, 0.17))


def test_elongated_box_length_width_and_centroid_in_um():
    # 30 voxels along y (5.1 um), 2 slices along z (4.0 um), 10 along x (1.7 um): length along y, width along z.
    mask = box_mask((40, 50, 10), (10, 5, 3), (20, 35, 5))
    shape = shape_descriptors(mask, SPACING)
    assert shape["length_um"] == pytest.approx(30 * 0.17)
    assert shape["width_um"] == pytest.approx(2 * 2.0)
    assert shape["centroid_x_um"] == pytest.approx(14.5 * 0.17)
    assert shape["centroid_y_um"] == pytest.approx(19.5 * 0.17)
    assert shape["centroid_z_um"] == pytest.approx(3.5 * 2.0)
    assert shape["volume_um3"] == pytest.approx(600 * VOXEL_UM3)
    assert shape["n_components"] == 1


def test_anisotropic_spacing_decides_the_major_axis():
    # 20 voxels along x (3.4 um) but 4 slices along z at 2 um (8 um): the pole-to-pole axis is z.
    mask = box_mask((30, 30, 10), (5, 10, 2), (25, 12, 6))
    shape = shape_descriptors(mask, SPACING)
    assert shape["length_um"] == pytest.approx(8.0)
    assert shape["width_um"] == pytest.approx(3.4)


def test_rotated_ellipsoid_principal_lengths():
    # Isotropic 0.2 um voxels; semi-axes 8 um and 3 um, major axis at 30 degrees in the x-y plane.
    spacing = (0.2, 0.2, 0.2)
    n = 101
    grid = (np.indices((n, n, 41)).astype(float) - np.array([50, 50, 20])[:, None, None, None]) * 0.2
    angle = math.radians(30.0)
    u = grid[0] * math.cos(angle) + grid[1] * math.sin(angle)
    v = -grid[0] * math.sin(angle) + grid[1] * math.cos(angle)
    mask = (u / 8.0) ** 2 + (v / 3.0) ** 2 + (grid[2] / 3.0) ** 2 <= 1.0
    shape = shape_descriptors(mask, spacing)
    # Discretisation adds at most about one voxel footprint (<= 0.28 um) to a 16 um / 6 um extent.
    assert shape["length_um"] == pytest.approx(16.0, abs=0.35)
    assert shape["width_um"] == pytest.approx(6.0, abs=0.35)
    assert shape["centroid_x_um"] == pytest.approx(50 * 0.2, abs=1e-9)
    assert shape["volume_um3"] == pytest.approx(4 / 3 * math.pi * 8 * 3 * 3, rel=0.02)


def test_two_blobs_are_two_components_and_diagonal_neighbours_are_one():
    mask = box_mask((30, 30, 6), (2, 2, 1), (6, 6, 3)) | box_mask((30, 30, 6), (20, 20, 1), (24, 24, 3))
    assert shape_descriptors(mask, SPACING)["n_components"] == 2
    diagonal = np.zeros((4, 4, 4), dtype=bool)
    diagonal[0, 0, 0] = diagonal[1, 1, 1] = True  # touch at a corner: one component under 26-connectivity
    assert shape_descriptors(diagonal, SPACING)["n_components"] == 1


def test_empty_mask_shape():
    shape = shape_descriptors(np.zeros((5, 5, 5)), SPACING)
    assert shape["volume_um3"] == 0.0 and shape["length_um"] == 0.0 and shape["n_components"] == 0
    assert math.isnan(shape["centroid_x_um"])


def test_dice_and_relative_error_hand_values():
    ref = box_mask((20, 20, 4), (0, 0, 0), (10, 10, 1))  # 100 voxels
    pred = box_mask((20, 20, 4), (0, 5, 0), (10, 15, 1))  # 100 voxels, 50 shared
    assert dice_score(pred, ref) == pytest.approx(0.5)
    assert dice_score(np.zeros_like(ref), np.zeros_like(ref)) == 1.0
    assert relative_volume_error(12.0, 10.0) == pytest.approx(0.2)
    assert relative_volume_error(0.0, 0.0) == 0.0
    assert math.isnan(relative_volume_error(1.0, 0.0))
    row = frame_metrics(pred[:, :8], ref[:, :8], SPACING)  # pred keeps 30 voxels, ref 80, 30 shared
    assert row["volume_um3"] == pytest.approx(30 * VOXEL_UM3)
    assert row["ref_volume_um3"] == pytest.approx(80 * VOXEL_UM3)
    assert row["abs_volume_error_um3"] == pytest.approx(50 * VOXEL_UM3)
    assert row["rel_volume_error"] == pytest.approx(-50 / 80)
    assert row["dice"] == pytest.approx(60 / 110)
    unlabelled = frame_metrics(pred, None, SPACING)
    assert unlabelled["volume_um3"] == pytest.approx(100 * VOXEL_UM3) and math.isnan(unlabelled["dice"])


def test_spacing_from_meta_prefers_spacing_um_then_pixdim_then_affine():
    data = torch.zeros(1, 4, 4, 4)
    assert spacing_from_meta(MetaTensor(data, meta={"spacing_um": (0.2, 0.3, 1.5)})) == pytest.approx((0.2, 0.3, 1.5))
    pixdim = [1.0, 0.1, 0.1, 3.0, 1, 1, 1, 1]
    assert spacing_from_meta(MetaTensor(data, meta={"pixdim": pixdim})) == pytest.approx((0.1, 0.1, 3.0))
    affine = torch.diag(torch.tensor([0.4, 0.5, 2.5, 1.0], dtype=torch.float64))
    assert spacing_from_meta(MetaTensor(data, affine=affine)) == pytest.approx((0.4, 0.5, 2.5))
    with pytest.raises(ValueError, match="no spacing"):
        spacing_from_meta(torch.zeros(1, 4, 4, 4))


def _labelled_pair(spacing):
    ref = torch.from_numpy(box_mask((20, 20, 4), (0, 0, 0), (10, 10, 1))).float()[None]  # 100 voxels
    pred = torch.from_numpy(box_mask((20, 20, 4), (0, 5, 0), (10, 15, 1))).float()[None]
    meta = {"spacing_um": spacing, "filename_or_obj": "exp1/oocyte01.tif"}
    return MetaTensor(pred, meta=dict(meta)), MetaTensor(ref, meta=dict(meta))


def test_metric_reads_spacing_per_item_and_buffers_one_row_per_frame():
    pred_a, ref_a = _labelled_pair((0.17, 0.17, 2.0))
    pred_b, ref_b = _labelled_pair((0.1, 0.1, 1.0))
    metric = SpindleVolumeMetric(summary="mae_um3")
    metric([pred_a, pred_b], [ref_a, ref_b])
    buffer = metric.get_buffer()
    assert buffer.shape == (2, len(FRAME_METRIC_COLUMNS))
    assert buffer[0, 0].item() == pytest.approx(100 * VOXEL_UM3)
    assert buffer[1, 0].item() == pytest.approx(100 * 0.01)
    assert buffer[:, 4].tolist() == pytest.approx([0.5, 0.5])
    assert metric.aggregate().item() == pytest.approx(0.0)  # same voxel count: no volume error


def test_metric_on_one_hot_batch_and_median_summary():
    pred, ref = _labelled_pair(SPACING)
    one_hot_pred = torch.cat([1 - pred.as_tensor(), pred.as_tensor()])[None]  # (1, 2, X, Y, Z)
    bigger = torch.zeros_like(ref.as_tensor())
    bigger[0, :10, :12, 0] = 1  # 120 voxels: +20 % against the 100-voxel reference
    metric = SpindleVolumeMetric(summary="median_abs_rel_volume_error", spacing_um_xyz=SPACING)
    metric(one_hot_pred, ref.as_tensor()[None])
    metric(bigger[None], ref.as_tensor()[None])
    metric(bigger[None], None)  # unlabelled frame: counted in the buffer, left out of the error summary
    assert metric.get_buffer().shape[0] == 3
    assert metric.aggregate().item() == pytest.approx(0.1)  # median of |0.0| and |0.2|


def test_ignite_handler_reports_mean_dice_and_details():
    pred, ref = _labelled_pair(SPACING)
    frames = [{"pred": pred, "label": ref}, {"pred": ref, "label": ref}]
    engine = Engine(lambda engine, batch: [batch])
    SpindleVolumeHandler(summary="mean_dice").attach(engine, "val_mean_dice")
    engine.run(frames)
    assert engine.state.metrics["val_mean_dice"] == pytest.approx(0.75)  # (0.5 + 1.0) / 2
    assert engine.state.metric_details["val_mean_dice"].shape == (2, len(FRAME_METRIC_COLUMNS))


def test_metric_reads_spacing_from_a_collated_batch():
    from monai.data import list_data_collate

    pred_a, _ = _labelled_pair((0.17, 0.17, 2.0))
    pred_b, _ = _labelled_pair((0.1, 0.1, 1.0))
    batch = list_data_collate([{"pred": pred_a}, {"pred": pred_b}])["pred"]  # (2, 1, X, Y, Z), batched meta
    assert spacing_from_meta(batch, index=1) == pytest.approx((0.1, 0.1, 1.0))
    metric = SpindleVolumeMetric(summary="mean_volume_um3")
    metric(batch, None)
    assert metric.get_buffer()[:, 0].tolist() == pytest.approx([100 * VOXEL_UM3, 100 * 0.01])


def _point_cloud_shape(mask, spacing):
    """The definition of length / width / centroid, written directly on the list of voxel centres (slow, plain)."""
    points = np.argwhere(mask) * np.asarray(spacing)
    centred = points - points.mean(axis=0)
    _, axes = np.linalg.eigh(centred.T @ centred / len(points))
    extents = []
    for direction in (axes[:, -1], axes[:, -2]):
        projection = centred @ direction
        extents.append(projection.max() - projection.min() + np.abs(direction) @ np.asarray(spacing))
    return extents, points.mean(axis=0)


@pytest.mark.parametrize("seed", range(6))
def test_shape_from_projections_equals_the_point_cloud_definition(seed):
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    shape = tuple(int(n) for n in rng.integers(6, 40, 3))
    mask = ndimage.gaussian_filter(rng.random(shape), 2.0) > 0.5  # irregular blobs, holes, several components
    mask[0, 0, 0] = True  # at least one voxel
    spacing = tuple(float(s) for s in rng.uniform(0.1, 3.0, 3))
    (length, width), centroid = _point_cloud_shape(mask, spacing)
    got = shape_descriptors(mask, spacing)
    assert got["length_um"] == pytest.approx(length, rel=1e-9)
    assert got["width_um"] == pytest.approx(width, rel=1e-9)
    assert [got["centroid_x_um"], got["centroid_y_um"], got["centroid_z_um"]] == pytest.approx(list(centroid), rel=1e-9)
    assert got["volume_um3"] == pytest.approx(mask.sum() * np.prod(spacing))


def test_largest_component_on_the_bounding_box_equals_monai():
    from monai.transforms import KeepLargestConnectedComponent
    from scipy import ndimage

    rng = np.random.default_rng(3)
    mask = np.zeros((60, 50, 12), dtype=bool)
    mask[10:40, 5:45, 2:10] = ndimage.gaussian_filter(rng.random((30, 40, 8)), 1.5) > 0.5  # many blobs
    expected = KeepLargestConnectedComponent(applied_labels=[1])(torch.from_numpy(mask[None]).float())[0].numpy() > 0
    kept = largest_component(mask)
    assert ndimage.label(mask, structure=np.ones((3, 3, 3)))[1] > 2  # the case is not trivial
    assert np.array_equal(kept, expected)
    assert not largest_component(np.zeros((4, 4, 4), dtype=bool)).any()


def test_keep_largest_component_transform_keeps_meta_and_dtype():
    from scripts.postprocessing import KeepLargestComponentd

    mask = torch.zeros(1, 20, 20, 6)
    mask[0, 2:10, 2:10, 1:4] = 1  # 192 voxels: kept
    mask[0, 15:17, 15:17, 1:3] = 1  # 8 voxels: dropped
    image = MetaTensor(mask, meta={"spacing_um": (0.17, 0.17, 2.0)})
    out = KeepLargestComponentd(keys="pred")({"pred": image})["pred"]
    assert isinstance(out, MetaTensor) and out.dtype == mask.dtype and out.meta["spacing_um"] == (0.17, 0.17, 2.0)
    assert out.sum() == 192 and out[0, 15, 15, 1] == 0
    with pytest.raises(ValueError, match="binary mask"):
        KeepLargestComponentd(keys="pred")({"pred": torch.zeros(2, 4, 4, 4)})


def test_volume_band_counts_the_sure_core_and_the_possible_rim_touching_the_mask():
    probability = np.zeros((20, 20, 4), np.float32)
    probability[5:15, 5:15, :] = 0.6   # uncertain rim: in the mask, not sure
    probability[7:13, 7:13, :] = 0.95  # sure core
    probability[15:17, 5:15, :] = 0.3  # possible extension touching the mask
    probability[0:2, 0:2, :] = 0.9     # a separate blob that does not touch the mask: not part of this spindle
    mask = probability[..., :] >= 0.5
    mask[0:2, 0:2, :] = False          # the final mask kept the largest component only
    voxel = 0.17 * 0.17 * 2.0
    low, high = volume_band_um3(mask, probability, 0.2, SPACING)
    assert low == pytest.approx(6 * 6 * 4 * voxel)
    assert high == pytest.approx((10 * 10 + 2 * 10) * 4 * voxel)
    assert low <= np.count_nonzero(mask) * voxel <= high
    assert volume_band_um3(np.zeros_like(mask), probability, 0.2, SPACING)[1] == 0.0


def test_the_central_rule_takes_the_centred_blob_unless_another_is_much_larger():
    from scripts.metrics import spindle_component

    def field(corner_size: int, centre_size: int) -> np.ndarray:
        mask = np.zeros((64, 64, 8), dtype=bool)
        mask[2:2 + corner_size, 2:12, 2:6] = True  # a neighbouring cell's edge, off-centre
        mask[30:30 + centre_size, 28:36, 2:6] = True  # the spindle, at the centre of the field
        return mask

    similar = field(10, 8)  # 400 voxels off-centre against 256 at the centre
    assert spindle_component(similar, "largest")[2:12, 2:12, 2:6].all()
    central = spindle_component(similar, "central")
    assert central[30:38, 28:36, 2:6].all() and central.sum() == 256
    assert np.array_equal(spindle_component(similar), spindle_component(similar, "largest"))
    much_larger = field(20, 4)  # 800 voxels against 128: below half of the largest, so the largest wins
    assert spindle_component(much_larger, "central").sum() == 800
    assert spindle_component(much_larger, "central", min_size_fraction=0.1).sum() == 128
    one = field(10, 0)
    assert np.array_equal(spindle_component(one, "central"), one)
    assert not spindle_component(np.zeros((4, 4, 2), bool), "central").any()
    with pytest.raises(ValueError, match="must be one of"):
        spindle_component(similar, "brightest")
    with pytest.raises(ValueError, match="min_size_fraction"):
        spindle_component(similar, "central", min_size_fraction=0.0)


def test_the_component_transform_works_on_the_box_and_leaves_its_input_alone():
    from scripts.metrics import spindle_component
    from scripts.postprocessing import KeepLargestComponentd

    mask = np.zeros((1, 96, 80, 6), np.uint8)
    mask[0, 44:52, 36:44, 1:5] = 1  # the centred spindle
    mask[0, 60:80, 2:14, 0:6] = 1  # a larger neighbour, off-centre (a separate box corner)
    mask[0, 90:92, 70:72, 5] = 1  # a speck
    image = MetaTensor(torch.from_numpy(mask.copy()), meta={"spacing": (0.17, 0.17, 2.0)})
    for rule in ("central", "largest"):
        out = KeepLargestComponentd(keys="pred", rule=rule, min_size_fraction=0.25)({"pred": image})["pred"]
        assert isinstance(out, MetaTensor) and out.meta["spacing"] == (0.17, 0.17, 2.0) and out.dtype == torch.uint8
        assert np.array_equal(out[0].numpy() > 0, spindle_component(mask[0], rule, 0.25))
    assert out[0].numpy().sum() == 20 * 12 * 6  # largest: the neighbour
    assert np.array_equal(image.numpy(), mask)  # the input is not changed in place


def test_bounding_box_of_views_as_they_lie_in_memory():
    """bounding_box reduces transposed, cropped and reversed views where they lie (no copy): the box must be the one
    of the voxels' own index extremes in the view's axes, and None for an empty view."""
    rng = np.random.default_rng(4)
    frame = np.zeros((30, 40, 9), bool)
    frame[tuple(rng.integers(5, 25, size=(3, 12)) % np.array(frame.shape)[:, None])] = True
    frame[4, 7, 2] = frame[12, 7, 5] = frame[4, 20, 8] = True  # something in the 2D slices below
    views = [frame, frame.transpose(2, 1, 0), frame[3:27, 10:35], frame[3:27, 10:35].transpose(2, 1, 0),
             frame[::-1, :, ::2], frame.transpose(1, 0, 2)[:, ::-1], frame[:, 7], frame[4], frame[4, 7]]
    for view in views:
        hits = np.argwhere(view)
        assert len(hits) > 0
        expected = tuple(slice(int(lo), int(hi) + 1) for lo, hi in zip(hits.min(axis=0), hits.max(axis=0), strict=True))
        assert bounding_box(view) == expected
    assert bounding_box(frame[:, :, :0]) is None
    assert bounding_box(np.zeros((4, 5, 6), bool).transpose(2, 0, 1)) is None
