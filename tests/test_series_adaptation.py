"""benchmarks/series_adaptation.py (issue 17, adaptation without labels): the losses, the patches and one short
adaptation on tiny data (the measurement itself is the benchmark's, minutes per lab)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from series_adaptation import adapt, flip_xy, load_crops, random_patches, self_training_loss  # noqa: E402


def test_pseudo_labels_use_only_the_confident_voxels_and_weigh_both_classes_alike():
    teacher = torch.tensor([0.95, 0.5, 0.02, 0.02, 0.02, 0.02]).view(1, 1, 6, 1, 1)
    right = torch.tensor([5.0, -3.0, -5.0, -5.0, -5.0, -5.0]).view(1, 1, 6, 1, 1)
    wrong_on_the_unsure_voxel = right.clone()
    wrong_on_the_unsure_voxel[0, 0, 1] = 3.0  # the teacher said 0.5 there: ignored
    assert torch.isclose(self_training_loss("pseudo_label", right, teacher),
                         self_training_loss("pseudo_label", wrong_on_the_unsure_voxel, teacher))
    # one spindle voxel against four background voxels: missing it costs as much as missing all the background
    miss_spindle = right.clone()
    miss_spindle[0, 0, 0] = -5.0
    miss_background = right.clone()
    miss_background[0, 0, 2:] = 5.0
    assert torch.isclose(self_training_loss("pseudo_label", miss_spindle, teacher),
                         self_training_loss("pseudo_label", miss_background, teacher), rtol=1e-4)
    assert self_training_loss("pseudo_label", right, teacher) < 0.02
    assert self_training_loss("mean_teacher", torch.logit(teacher), teacher) < 1e-10
    with pytest.raises(ValueError, match="method must be one of"):
        self_training_loss("entropy", right, teacher)


def test_the_flip_view_is_its_own_inverse_and_leaves_z_alone():
    batch = torch.arange(2 * 3 * 4 * 5, dtype=torch.float32).view(1, 2, 3, 4, 5)
    assert torch.equal(flip_xy(flip_xy(batch)), batch)
    assert torch.equal(flip_xy(batch)[0, :, 0, 0, :], batch[0, :, 2, 3, :])


def test_patches_keep_z_in_place_and_come_from_the_crops():
    crops = torch.arange(2 * 8 * 8 * 4, dtype=torch.float32).view(2, 1, 8, 8, 4)
    patches = random_patches(crops, 5, torch.Generator().manual_seed(0))
    assert patches.shape == (5, 1, 8, 8, 4)  # the crops are smaller than a patch: whole crops
    for patch in patches:
        # flips and quarter turns move voxels within a z slice, never between slices
        frame = int(patch.flatten()[0]) // (8 * 8 * 4)
        for z in range(4):
            assert sorted(patch[0, :, :, z].flatten().tolist()) == sorted(crops[frame, 0, :, :, z].flatten().tolist())


@pytest.mark.slow
@pytest.mark.parametrize("perturbation", ["strong", "flip"])
def test_a_short_adaptation_changes_the_weights_and_writes_the_teacher(perturbation, tiny_phantom, random_model,
                                                                      tmp_path):
    crops = load_crops([{"image": "exp1/oocyte01.tif", "frame": t} for t in range(4)], tiny_phantom)
    assert crops.shape == (4, 1, 64, 64, 8)
    out = tmp_path / "adapted.pt"
    seconds = adapt(random_model, crops, "pseudo_label", steps=2, lr=1e-3, out_path=out, perturbation=perturbation)
    assert seconds > 0
    before, after = torch.load(random_model, weights_only=True), torch.load(out, weights_only=True)
    assert before.keys() == after.keys()
    assert any(not torch.equal(before[k], after[k]) for k in before)
