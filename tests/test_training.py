"""Tests for scripts.training and the training configs (train.yaml, multi_gpu_train.yaml).

Fast tests check the resumable-state handlers and the config's transforms in-process. The CLI runs
(`python -m monai.bundle run training ...` with the configs' paths, from a folder that is not bundle/) train for 1-2 epochs on a tiny
phantom: 1 experiment x 3 oocytes x 14 frames of 128 x 128 x 11 voxels (labels on 2 frames per oocyte:
3 training + 1 validation frame), centre-cropped to 64 x 64 and padded in z to 12.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from ignite.engine import Engine, Events
from monai.bundle import ConfigParser
from monai.data import MetaTensor
from scipy import ndimage
from scripts.config import as_bool
from scripts.io import file_sha256
from scripts.network import AnisotropicAttentionUNet, ensemble_size, network_for_weights
from scripts.phantom import generate_dataset
from scripts.resolution import model_provenance, trained_network_pixel_size_um
from scripts.training import (
    BestWeightsSaver,
    LatestCheckpointSaver,
    ResumableEarlyStopHandler,
    TrainerCheckpointLoader,
    WeightAverage,
    ensure_datalist,
    training_network,
)

BUNDLE = Path(__file__).resolve().parents[1] / "bundle"
TRAIN_YAML = BUNDLE / "configs" / "train.yaml"
MULTI_GPU_YAML = BUNDLE / "configs" / "multi_gpu_train.yaml"
# the CLI overrides that make a run tiny: 64 x 64 crops, whole-crop batches of 2, no progress bar in logs
TINY = ["--crop_size", "[64,64,-1]", "--batch_size", "2", "--progress_bar", "false", "--num_workers", "0"]


@pytest.fixture(scope="module")
def phantom(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("phantom")
    generate_dataset(out, n_experiments=1, n_oocytes=3, n_frames=14, shape_xyz=(128, 128, 11), seed=0)
    return out


# ------------------------------------------------------------------------------------------- datalist on demand
def test_ensure_datalist_builds_once_and_then_keeps_the_split(phantom, tmp_path):
    target = tmp_path / "lists" / "datalist.json"
    path = ensure_datalist(phantom, target, seed=0)
    assert path == str(target)
    data = json.loads(target.read_text())
    assert len(data["training"]) == 3 and len(data["validation"]) == 1 and data["follows_dataset"] is True
    stamp = target.stat().st_mtime_ns
    ensure_datalist(phantom, target, seed=1)  # nothing changed on disk: the file is left alone, seed and all
    assert target.stat().st_mtime_ns == stamp
    # a datalist it did not write (python -m scripts.datalist, a benchmark's, by hand) is used as it is, even if it
    # differs from what a scan would give
    del data["follows_dataset"]
    data["validation"] = []
    target.write_text(json.dumps(data))
    ensure_datalist(phantom, target, seed=1)
    assert json.loads(target.read_text())["validation"] == []
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ensure_datalist(tmp_path / "missing", tmp_path / "x.json")


def test_a_datalist_it_wrote_follows_the_labels_added_and_removed_later(tmp_path, caplog):
    """The fine-tuning loop: label, fine-tune, correct a few masks in napari or Fiji, fine-tune again: the new
    labels must not be silently left out by the split the first run wrote."""
    generate_dataset(tmp_path / "lab", n_experiments=1, n_oocytes=2, n_frames=8, shape_xyz=(32, 32, 5), seed=3)
    lab = tmp_path / "lab"
    target = tmp_path / "finetuned" / "datalist.json"
    first = json.loads(Path(ensure_datalist(lab, target, test_oocytes_per_experiment=0)).read_text())
    assert first["test_oocytes"] == [] and first["testing"] == []
    assert {(i["oocyte"], i["frame"]) for key in ("training", "validation") for i in first[key]} == {
        ("oocyte01", 2), ("oocyte02", 1), ("oocyte02", 7)}  # the phantom's labels: every oocyte trains or validates
    masks = lab / "exp1"
    (masks / "oocyte01_masks" / "t0007.tif").write_bytes((masks / "oocyte01_masks" / "t0002.tif").read_bytes())
    (masks / "oocyte02_masks" / "t0007.tif").unlink()  # a wrong mask deleted
    with caplog.at_level("WARNING"):
        ensure_datalist(lab, target, test_oocytes_per_experiment=0)
    second = json.loads(target.read_text())
    assert {(i["oocyte"], i["frame"]) for key in ("training", "validation") for i in second[key]} == {
        ("oocyte01", 2), ("oocyte01", 7), ("oocyte02", 1)}
    assert "1 frame(s) labelled since the datalist was written joined it" in caplog.text
    assert "oocyte01_masks/t0007.tif" in caplog.text and "1 whose mask is gone left it" in caplog.text
    for key in ("training", "validation"):  # the frames it held keep their side
        assert ({(i["oocyte"], i["frame"]) for i in first[key]} - {("oocyte02", 7)}
                <= {(i["oocyte"], i["frame"]) for i in second[key]})


# ------------------------------------------------------------------------------------------- handlers
def _evaluator_with_scores(scores):
    """An engine whose epoch e reports val_mean_dice = scores[e - 1]."""
    engine = Engine(lambda e, b: None)

    @engine.on(Events.EPOCH_STARTED)
    def _set(e):
        e.state.metrics["val_mean_dice"] = scores[e.state.epoch - 1]

    return engine


def test_best_weights_saver_writes_plain_state_dict_only_on_improvement(tmp_path):
    torch.manual_seed(0)
    net = AnisotropicAttentionUNet(variant="baseline")
    path = tmp_path / "model.pt"
    saver = BestWeightsSaver(net, path)
    engine = _evaluator_with_scores([0.2, 0.5, 0.4])
    saver.attach(engine)
    weights_at_best = {}

    @engine.on(Events.EPOCH_COMPLETED)
    def _perturb(e):  # change the weights every epoch so that the file tells which epoch it came from
        if e.state.epoch == 2:
            weights_at_best.update({k: v.clone() for k, v in net.state_dict().items()})
        with torch.no_grad():
            net.head.bias += 1.0

    engine.run([0], max_epochs=3)
    assert (saver.best_metric, saver.best_epoch) == (0.5, 2)
    state = torch.load(path, weights_only=True)
    fresh = AnisotropicAttentionUNet(variant="baseline")
    fresh.load_state_dict(state)  # a plain state_dict: loads straight into the network
    torch.testing.assert_close(state["head.bias"], weights_at_best["head.bias"])

    # a resumed saver remembers the best score: a worse validation does not overwrite the file
    resumed = BestWeightsSaver(net, path)
    resumed.load_state_dict(saver.state_dict())
    mtime = path.stat().st_mtime_ns
    engine2 = _evaluator_with_scores([0.45])
    resumed.attach(engine2)
    engine2.run([0], max_epochs=1)
    assert path.stat().st_mtime_ns == mtime and resumed.best_metric == 0.5


def test_early_stop_counter_survives_a_resume():
    scores = iter([0.5, 0.4, 0.3, 0.2])
    trainer = Engine(lambda e, b: None)
    stop = ResumableEarlyStopHandler(patience=3, score_function=lambda e: next(scores))
    stop.set_trainer(trainer)
    evaluator = Engine(lambda e, b: None)
    stop.attach(evaluator)
    evaluator.run([0], max_epochs=2)  # best 0.5, then one bad validation
    state = stop.state_dict()
    assert state["counter"] == 1 and state["best_score"] == 0.5

    restored = ResumableEarlyStopHandler(patience=3, score_function=lambda e: next(scores))
    restored.load_state_dict(state)  # before set_trainer, as when the checkpoint is read first
    restored.set_trainer(trainer)
    assert restored.state_dict()["counter"] == 1
    evaluator2 = Engine(lambda e, b: None)
    restored.attach(evaluator2)
    evaluator2.run([0], max_epochs=2)  # two more bad validations: 3 = patience, the trainer is told to stop
    assert restored.state_dict()["counter"] == 3 and trainer.should_terminate


def test_checkpoint_saver_and_loader_resume_epoch_optimizer_and_lr(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Linear(2, 1)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=0)

    def step(engine, batch):
        opt.zero_grad()
        net(torch.ones(1, 2)).sum().backward()
        opt.step()

    trainer = Engine(step)
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda e: sched.step(1.0))  # constant loss: LR halves
    path = tmp_path / "checkpoint.pt"
    objects = {"model": net, "optimizer": opt, "lr_scheduler": sched}
    LatestCheckpointSaver(path, objects).attach(trainer)
    trainer.run([0, 1, 2], max_epochs=3)
    saved = torch.load(path, weights_only=True)
    assert saved["trainer"]["iteration"] == 9 and saved["trainer"]["epoch_length"] == 3
    lr_at_3 = opt.param_groups[0]["lr"]
    assert lr_at_3 == pytest.approx(1e-3 * 0.5**2)  # epoch 1 sets the best, epochs 2 and 3 halve

    net2 = torch.nn.Linear(2, 1)
    opt2 = torch.optim.Adam(net2.parameters(), lr=1e-3)
    sched2 = torch.optim.lr_scheduler.ReduceLROnPlateau(opt2, factor=0.5, patience=0)
    epochs_run = []
    trainer2 = Engine(lambda e, b: epochs_run.append(e.state.epoch))
    TrainerCheckpointLoader(
        load_path=str(path), load_dict={"model": net2, "optimizer": opt2, "lr_scheduler": sched2}
    ).attach(trainer2)
    trainer2.run([0, 1, 2], max_epochs=5)
    assert sorted(set(epochs_run)) == [4, 5] and trainer2.state.iteration == 15
    assert opt2.param_groups[0]["lr"] == lr_at_3
    assert opt2.state_dict()["state"][0]["step"] == 9  # Adam moments continue
    torch.testing.assert_close(net2.weight, net.weight)
    assert sched2.best == sched.best and sched2.num_bad_epochs == sched.num_bad_epochs


def test_checkpoint_saver_refuses_a_trainer_in_save_dict(tmp_path):
    with pytest.raises(ValueError, match="trainer"):
        LatestCheckpointSaver(tmp_path / "c.pt", {"trainer": Engine(lambda e, b: None)})


def _linear_trainer(net: torch.nn.Module, opt: torch.optim.Optimizer) -> Engine:
    def step(engine, batch):
        opt.zero_grad()
        net(torch.ones(1, 2)).sum().backward()
        opt.step()

    trainer = Engine(step)
    trainer.network = net  # as MONAI's SupervisedTrainer holds it
    return trainer


def test_weight_average_follows_the_steps_as_an_exponential_moving_average():
    torch.manual_seed(0)
    net = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    average = WeightAverage(net, decay=0.75)
    expected = net.weight.detach().clone()
    trainer = _linear_trainer(net, opt)
    average.attach(trainer)
    trainer.add_event_handler(Events.ITERATION_COMPLETED,
                              lambda e: expected.mul_(0.75).add_(net.weight.detach(), alpha=0.25))
    trainer.run([0, 1, 2, 3], max_epochs=2)
    torch.testing.assert_close(average.network.weight, expected)
    # a separate copy, out of the autograd graph and in eval mode: the live weights moved further than the average
    assert average.network is not net and not average.network.weight.requires_grad and not average.network.training
    assert not torch.allclose(average.network.weight, net.weight)
    assert average.checkpoint_object() is average.network


def test_weight_average_switched_off_is_the_live_network_and_left_out_of_the_checkpoint(tmp_path):
    net = torch.nn.Linear(2, 1)
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    average = WeightAverage(net, decay=0.0)
    trainer = _linear_trainer(net, opt)
    average.attach(trainer)
    trainer.run([0, 1], max_epochs=1)
    assert average.network is net and average.checkpoint_object() is None
    path = tmp_path / "checkpoint.pt"
    LatestCheckpointSaver(path, {"model": net, "weight_average": average.checkpoint_object()}).attach(trainer)
    trainer.run([0, 1], max_epochs=2)
    assert set(torch.load(path, weights_only=True)) == {"trainer", "model"}
    # and the loader, given the same None entry, restores the rest
    net2 = torch.nn.Linear(2, 1)
    resumed = _linear_trainer(net2, torch.optim.SGD(net2.parameters(), lr=0.1))
    TrainerCheckpointLoader(load_path=str(path), load_dict={"model": net2, "weight_average": None}).attach(resumed)
    resumed.run([0, 1], max_epochs=2)
    torch.testing.assert_close(net2.weight, net.weight)


def test_weight_average_is_restored_by_a_resume(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Linear(2, 1)
    average = WeightAverage(net, decay=0.75)
    trainer = _linear_trainer(net, torch.optim.SGD(net.parameters(), lr=0.1))
    average.attach(trainer)
    path = tmp_path / "checkpoint.pt"
    LatestCheckpointSaver(path, {"model": net, "weight_average": average.checkpoint_object()}).attach(trainer)
    trainer.run([0, 1, 2], max_epochs=2)

    net2 = torch.nn.Linear(2, 1)
    average2 = WeightAverage(net2, decay=0.75)  # a fresh copy of other weights until the checkpoint is loaded
    assert not torch.allclose(average2.network.weight, average.network.weight)
    resumed = _linear_trainer(net2, torch.optim.SGD(net2.parameters(), lr=0.1))
    average2.attach(resumed)
    TrainerCheckpointLoader(load_path=str(path), load_dict={"model": net2,
                                                            "weight_average": average2.checkpoint_object()}).attach(resumed)
    resumed.run([0, 1, 2], max_epochs=2)  # the checkpoint is at epoch 2: no step, only the restore
    torch.testing.assert_close(average2.network.weight, average.network.weight)
    torch.testing.assert_close(average2.network.bias, average.network.bias)
    assert not torch.allclose(average2.network.weight, net2.weight)  # the average, not a copy of the live weights


@pytest.mark.parametrize("decay", [1.0, -0.1, "often"])
def test_weight_average_refuses_a_decay_outside_0_1(decay):
    with pytest.raises(ValueError, match="weight_average_decay"):
        WeightAverage(torch.nn.Linear(2, 1), decay=decay)


# ------------------------------------------------------------------------------------------- the config itself
def _parser(*overrides: dict, files=(TRAIN_YAML,)) -> ConfigParser:
    parser = ConfigParser()
    parser.read_config([str(f) for f in files])
    for override in overrides:
        for k, v in override.items():
            parser[k] = v
    parser.parse()
    return parser


def test_train_yaml_holds_the_thesis_hyper_parameters():
    p = _parser()
    assert (p["epochs"], p["lr"], p["lr_factor"], p["lr_patience"], p["min_lr"]) == (250, 5e-5, 0.5, 15, 1e-6)
    assert p["crop_size"] == [352, 352, -1] and p["patch_size"] == [128, 128, 32]
    assert p.get_parsed_content("pad_divisor") == [16, 16, 2]  # the network's total stride
    loss = p.get_parsed_content("loss")
    assert (loss.lambda_dice, loss.lambda_focal, loss.focal.gamma) == (0.5, 0.5, 2.0)
    net = p.get_parsed_content("network_def")
    assert net.variant == "AD" and net.total_stride == [16, 16, 2]


def test_validation_and_the_best_weights_use_the_weight_average_when_it_is_on():
    off = _parser({"device": "$torch.device('cpu')"})
    assert off["weight_average_decay"] == 0.0
    live = off.get_parsed_content("network")
    assert off.get_parsed_content("validated_network") is live
    assert off.get_parsed_content("validate#best_saver").network is live
    assert off.get_parsed_content("checkpoint_objects")["weight_average"] is None

    on = _parser({"device": "$torch.device('cpu')", "weight_average_decay": 0.98})
    average = on.get_parsed_content("weight_average").network
    assert average is not on.get_parsed_content("network")
    assert on.get_parsed_content("validated_network") is average
    assert on.get_parsed_content("validate#best_saver").network is average
    assert on.get_parsed_content("checkpoint_objects")["weight_average"] is average
    assert on.get_parsed_content("provenance_settings")["weight_average_decay"] == 0.98
    # the evaluator (built only with a dataset) validates the same network; the average is updated every step
    assert on["validate"]["evaluator"]["network"] == "@validated_network"
    assert any(step.startswith("$@weight_average.attach(") for step in on["training"])


def _random_transform_names(p: ConfigParser) -> list[str]:
    return [type(t).__name__ for t in p.get_parsed_content("train#random_transforms")]


def _transform(p: ConfigParser, name: str, section: str = "train#random_transforms"):
    """The first transform of class ``name`` in a list of the config."""
    return next(t for t in p.get_parsed_content(section) if type(t).__name__ == name)


GEOMETRY = ["RandAffined", "RandFlipd", "RandFlipd", "RandRotate90d"]
APPEARANCE = ["RandSpindleHeterogeneityd", "RandAdjacentDistractord", "RandGaussianSmoothd", "RandLowResolutionXYd",
              "RandAdjustContrastd", "RandAdjustContrastd", "RandBiasFieldd", "RandGaussianNoised", "RandPhotonNoised"]


@pytest.mark.parametrize(
    "value, expected",
    [
        (True, True),
        ("false", False),
        ("False", False),
        ("TRUE", True),
        ("yes", True),
        ("off", False),
        (0, False),
        (1, True),
    ],
)
def test_as_bool_reads_switches_as_the_command_line_gives_them(value, expected):
    assert as_bool(value) is expected


@pytest.mark.parametrize("value", ["flase", 2, None, ""])
def test_as_bool_refuses_anything_else(value):
    with pytest.raises(ValueError, match="switch"):
        as_bool(value)


def test_random_part_appearance_then_standardise_and_pad_then_geometry():
    default = APPEARANCE + ["RobustStandardised", "DivisiblePadd"] + GEOMETRY
    assert _random_transform_names(_parser()) == default
    # `--patch_mode false` on the command line arrives as a string: it must not switch patches on
    assert _random_transform_names(_parser({"patch_mode": "false"})) == default
    plain = _parser({"appearance_augmentation": "false"})  # the thesis' augmentation only
    assert _random_transform_names(plain) == ["DivisiblePadd", "RandFlipd", "RandFlipd", "RandRotate90d"]
    patched = _parser({"patch_mode": "true"})
    names = _random_transform_names(patched)
    assert names[len(default) - 3:len(default) - 1] == ["PatchFitsd", "RandCropByPosNegLabeld"]  # after the affine
    assert list(_transform(patched, "RandCropByPosNegLabeld").cropper.spatial_size) == [128, 128, 32]
    assert _transform(patched, "RandCropByPosNegLabeld").cropper.pos_ratio == 0.5  # half the patches on a spindle
    # the command line gives the fraction as a string; nnU-Net's third of the patches on the foreground
    third = _parser({"patch_mode": "true", "patch_spindle_fraction": "0.33"})
    assert _transform(third, "RandCropByPosNegLabeld").cropper.pos_ratio == pytest.approx(0.33)
    with pytest.raises(RuntimeError) as refused:  # MONAI's config error, raised from ours
        _transform(_parser({"patch_mode": "true", "patch_spindle_fraction": "1.5"}), "RandCropByPosNegLabeld")
    assert "patch_spindle_fraction must lie between 0 and 1, found '1.5'" in str(refused.value.__cause__)


def test_dice_loss_share_splits_the_loss_between_soft_dice_and_focal():
    focal_only = _parser({"dice_loss_share": "0"})  # the command line gives it as a string
    loss = focal_only.get_parsed_content("loss")
    assert (loss.lambda_dice, loss.lambda_focal) == (0.0, 1.0)
    assert focal_only.get_parsed_content("provenance_settings")["dice_loss_share"] == 0.0
    mostly_dice = _parser({"dice_loss_share": 0.8}).get_parsed_content("loss")
    assert (mostly_dice.lambda_dice, mostly_dice.lambda_focal) == pytest.approx((0.8, 0.2))
    with pytest.raises(RuntimeError) as refused:
        _parser({"dice_loss_share": "-0.1"}).get_parsed_content("loss")
    assert "dice_loss_share must lie between 0 and 1, found '-0.1'" in str(refused.value.__cause__)


def test_a_frame_smaller_than_the_patch_is_refused_naming_file_and_settings():
    from monai.data import MetaTensor
    from scripts.training import PatchFitsd

    check = PatchFitsd(keys="image", patch_size=[128, 128, 32])
    fits = {"image": MetaTensor(torch.zeros(1, 128, 160, 32)), "frame": 3}
    assert check(fits) is fits
    small = {"image": MetaTensor(torch.zeros(1, 64, 64, 32), meta={"filename_or_obj": "exp1/oocyte01.tif"}), "frame": 3}
    with pytest.raises(ValueError, match=r"exp1/oocyte01\.tif \(frame 3\): the cropped frame \(x, y, z\) = "
                                         r"\(64, 64, 32\) voxels is smaller than patch_size \(128, 128, 32\): set "
                                         r"--patch_size"):
        check(small)


def _smooth_volume(seed: int = 0, shape=(1, 40, 36, 8)) -> torch.Tensor:
    """A standardised, spatially smooth random image (1, X, Y, Z): what the cached part hands on."""
    from scipy import ndimage

    noise = ndimage.gaussian_filter(np.random.default_rng(seed).normal(size=shape[1:]), (2, 2, 1))
    noise = (noise - noise.mean()) / noise.std()
    return torch.from_numpy(noise[None].astype(np.float32))


def test_each_appearance_augmentation_changes_the_image_and_not_the_label():
    p = _parser()
    label = torch.zeros(1, 40, 36, 8, dtype=torch.uint8)
    label[:, 10:30, 12:24, 2:6] = 1
    image = _smooth_volume()
    image[label.bool()] += 2.0  # a spindle brighter than its surroundings (what RandSpindleHeterogeneityd dims)
    for transform in p.get_parsed_content("train#appearance_transforms"):
        transform.prob = 1.0
        transform.set_random_state(3)
        out = transform({"image": image.clone(), "label": label.clone()})
        changed = float((torch.as_tensor(out["image"]) - image).abs().mean())
        assert changed > 0.01, f"{type(transform).__name__} left the image (nearly) unchanged: {changed}"
        assert torch.equal(torch.as_tensor(out["label"]), label), f"{type(transform).__name__} changed the label"


def test_appearance_augmented_input_is_standardised_again():
    p = _parser()
    transforms = p.get_parsed_content("train#appearance_transforms")
    for transform in transforms:
        transform.prob = 1.0
        transform.set_random_state(5)
    data = {"image": _smooth_volume(seed=1) * 3.0 + 2.0}
    for transform in [*transforms, p.get_parsed_content("standardisation")]:
        data = transform(data)
    image = torch.as_tensor(data["image"])
    assert float(image.mean()) == pytest.approx(0.0, abs=1e-4) and float(image.std()) == pytest.approx(1.0, abs=1e-2)


def test_in_plane_affine_never_moves_content_between_z_slices():
    affine = _transform(_parser(), "RandAffined")
    affine.prob = 1.0
    image = torch.zeros(1, 48, 48, 6)
    image[:, 8:40, 8:40, 3] = 1.0  # one bright slice
    label = (image > 0).to(torch.uint8)
    for seed in range(5):
        affine.set_random_state(seed)
        out = affine({"image": image.clone(), "label": label.clone()})
        moved = torch.as_tensor(out["image"])
        assert float(moved[..., 3].sum()) > 0.5 * float(image.sum())  # rotated / scaled within its slice ...
        assert float(moved[..., [0, 1, 2, 4, 5]].abs().max()) == 0.0  # ... and nowhere else: no z tilt, no z zoom
        assert float(torch.as_tensor(out["label"])[..., [0, 1, 2, 4, 5]].max()) == 0.0


def test_the_affine_scaling_range_and_rate_are_settings():
    default = _transform(_parser(), "RandAffined")
    assert default.rand_affine.rand_affine_grid.scale_range == (0.15, 0.15, 0.0) and default.prob == 0.2
    wide = _transform(_parser({"affine_scale_range": 0.5, "affine_prob": 0.5}), "RandAffined")
    assert wide.rand_affine.rand_affine_grid.scale_range == (0.5, 0.5, 0.0) and wide.prob == 0.5  # z never scaled


def test_rot90_draws_each_quarter_turn_with_probability_one_quarter():
    rot = _transform(_parser(), "RandRotate90d")
    rot.set_random_state(0)
    ks = []
    for _ in range(4000):
        rot.randomize()
        ks.append(rot._rand_k % 4 if rot._do_transform else 0)
    freq = np.bincount(ks, minlength=4) / len(ks)
    np.testing.assert_allclose(freq, [0.25] * 4, atol=0.03)


def test_deterministic_transforms_crop_pad_and_standardise(phantom):
    p = _parser({"dataset_dir": str(phantom), "crop_size": [64, 64, -1]})
    items = p.get_parsed_content("validate#dataset").data
    out = p.get_parsed_content("validate#preprocessing")(items[0])
    image, label = out["image"], out["label"]
    assert tuple(image.shape) == tuple(label.shape) == (1, 64, 64, 12)  # z 11 padded to a multiple of 2
    data = image[..., :11]  # standardised before padding: the padded slice is not in the statistics ...
    assert float(data.mean()) == pytest.approx(0.0, abs=1e-4) and float(data.std()) == pytest.approx(1.0, abs=1e-2)
    assert float(image[..., 11].abs().max()) == 0.0  # ... and sits at the mean
    assert label.dtype == torch.uint8 and set(np.unique(label.numpy())) <= {0, 1} and label.sum() > 0
    assert out["frame"] == items[0]["frame"]


def test_init_weights_starts_training_from_a_model_file_with_a_fresh_optimizer(tmp_path):
    source = AnisotropicAttentionUNet(in_channels=1, out_channels=1, variant="AD")
    torch.manual_seed(7)
    for parameter in source.parameters():
        torch.nn.init.normal_(parameter)
    torch.save(source.state_dict(), tmp_path / "model.pt")

    p = _parser({"init_weights": str(tmp_path / "model.pt"), "lr": 3e-4})
    network = p.get_parsed_content("network")
    assert network.training  # evaluation's loader returns eval mode; training must not inherit it
    for name, value in source.state_dict().items():
        torch.testing.assert_close(network.state_dict()[name], value, msg=name)
    assert p.get_parsed_content("optimizer").param_groups[0]["lr"] == 3e-4

    fresh = _parser().get_parsed_content("network")  # default: random initialisation
    first = next(iter(source.state_dict()))
    assert not torch.equal(fresh.state_dict()[first], source.state_dict()[first])


def test_init_weights_of_another_network_is_refused_naming_the_file(tmp_path):
    other = AnisotropicAttentionUNet(in_channels=1, out_channels=2, variant="AD")
    torch.save(other.state_dict(), tmp_path / "two_channel.pt")
    one_channel = AnisotropicAttentionUNet(in_channels=1, out_channels=1, variant="AD")
    with pytest.raises(ValueError, match="two_channel.pt does not match"):
        training_network(one_channel, "cpu", True, tmp_path / "two_channel.pt")
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        training_network(one_channel, "cpu", True, tmp_path / "missing.pt")


def test_multi_gpu_override_adds_distributed_samplers():
    merged = ConfigParser()
    merged.read_config([str(TRAIN_YAML), str(MULTI_GPU_YAML)])
    assert merged["train#dataloader#sampler"] == "@train#sampler"
    assert merged["train#sampler"]["_target_"] == "DistributedSampler"
    assert "gloo" in " ".join(merged["initialize"]) and "nccl" in " ".join(merged["initialize"])
    assert "LOCAL_RANK" in merged["device"]


# ------------------------------------------------------------------------------------------- CLI runs
def _run_cli(args: list[str], cwd: Path, timeout: int = 600, torchrun: int = 0) -> subprocess.CompletedProcess:
    """``monai.bundle run training`` from ``cwd`` (not bundle/), with the bundle on PYTHONPATH as documented."""
    env = {
        **os.environ,
        "PYTHONPATH": str(BUNDLE),
        "OMP_NUM_THREADS": "1" if torchrun else os.environ.get("OMP_NUM_THREADS", "2"),
    }
    if torchrun:
        launcher = [
            sys.executable,
            "-m",
            "torch.distributed.run",
            f"--nproc_per_node={torchrun}",
            "--master_port=29533",
        ]
    else:
        launcher = [sys.executable]
    cmd = [*launcher, "-m", "monai.bundle", "run", "training", *args]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (
        f"{' '.join(cmd)}\n--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-6000:]}"
    )
    return proc


def _train_args(phantom: Path, out: Path, epochs: int, *extra: str) -> list[str]:
    return [
        "--config_file",
        str(TRAIN_YAML),
        "--logging_file",
        str(BUNDLE / "configs" / "logging.conf"),
        "--dataset_dir",
        str(phantom),
        "--ckpt_dir",
        str(out / "models"),
        "--output_dir",
        str(out / "runs"),
        "--epochs",
        str(epochs),
        *TINY,
        *extra,
    ]


@pytest.mark.slow
def test_cli_two_epochs_write_model_and_resumable_checkpoint(phantom, tmp_path):
    proc = _run_cli(_train_args(phantom, tmp_path, 2), cwd=tmp_path)
    log = proc.stdout + proc.stderr
    assert "Epoch[2] Metrics" in log and "val_mean_dice" in log and "val_volume_error" in log
    state = torch.load(tmp_path / "models" / "model.pt", weights_only=True)
    AnisotropicAttentionUNet().load_state_dict(state)  # default network = the config's network
    ckpt = torch.load(tmp_path / "models" / "checkpoint.pt", weights_only=True)
    assert set(ckpt) == {"trainer", "model", "optimizer", "lr_scheduler", "best_model", "early_stop"}
    # 3 training frames in batches of 2: 2 iterations per epoch
    assert ckpt["trainer"]["iteration"] == 4 and ckpt["trainer"]["epoch_length"] == 2
    assert ckpt["optimizer"]["state"][0]["step"] == 4
    assert 1 <= ckpt["best_model"]["best_epoch"] <= 2
    assert any(f.name.startswith("events.out.tfevents") for f in (tmp_path / "runs").iterdir())


@pytest.mark.slow
def test_cli_interrupted_run_resumes_at_the_next_epoch_with_saved_lr(phantom, tmp_path):
    _run_cli(_train_args(phantom, tmp_path, 1), cwd=tmp_path)  # the "interrupted" run: stopped after epoch 1
    ckpt_path = tmp_path / "models" / "checkpoint.pt"
    first = torch.load(ckpt_path, weights_only=True)
    assert first["trainer"]["iteration"] == 2
    # pretend the scheduler had already halved the LR twice: the resumed run must keep 1.25e-5, not the config's 5e-5
    for group in first["optimizer"]["param_groups"]:
        group["lr"] = 1.25e-5
    first["lr_scheduler"]["_last_lr"] = [1.25e-5]
    saved = tmp_path / "interrupted.pt"
    torch.save(first, saved)
    shutil.copy(saved, ckpt_path)

    proc = _run_cli(_train_args(phantom, tmp_path, 2, "--resume_from", str(saved)), cwd=tmp_path)
    log = proc.stdout + proc.stderr
    assert "Restored all variables from" in log and "Epoch[1] Metrics" not in log and "Epoch[2] Metrics" in log
    last = torch.load(ckpt_path, weights_only=True)
    assert last["trainer"]["iteration"] == 4  # epoch 2 only: 2 more iterations
    assert last["optimizer"]["state"][0]["step"] == 4  # Adam moments continued from the checkpoint
    lr = last["optimizer"]["param_groups"][0]["lr"]
    assert lr <= 1.25e-5 and lr != 5e-5
    assert last["lr_scheduler"]["last_epoch"] == first["lr_scheduler"]["last_epoch"] + 1


@pytest.mark.slow
def test_cli_weight_average_is_validated_saved_and_resumed(phantom, tmp_path):
    _run_cli(_train_args(phantom, tmp_path, 1, "--weight_average_decay", "0.5"), cwd=tmp_path)
    ckpt_path = tmp_path / "models" / "checkpoint.pt"
    first = torch.load(ckpt_path, weights_only=True)
    assert set(first) == {"trainer", "model", "optimizer", "lr_scheduler", "best_model", "early_stop", "weight_average"}
    model = torch.load(tmp_path / "models" / "model.pt", weights_only=True)  # epoch 1 is the best so far
    for name, tensor in model.items():
        torch.testing.assert_close(tensor, first["weight_average"][name])
    assert any(not torch.equal(model[k], first["model"][k]) for k in model)  # the average, not the live weights
    saved = tmp_path / "epoch1.pt"
    shutil.copy(ckpt_path, saved)

    proc = _run_cli(_train_args(phantom, tmp_path, 2, "--weight_average_decay", "0.5", "--resume_from", str(saved)),
                    cwd=tmp_path)
    assert "Restored all variables from" in proc.stdout + proc.stderr
    last = torch.load(ckpt_path, weights_only=True)
    assert last["trainer"]["iteration"] == 4 and "weight_average" in last
    # (that the loader restores the average itself, not a fresh copy: test_weight_average_is_restored_by_a_resume)


def test_network_pixel_size_resamples_the_crops_for_the_network_and_the_logits_back(phantom, tmp_path):
    plain = _parser({"device": "$torch.device('cpu')", "dataset_dir": str(phantom),
                     "datalist_file": str(tmp_path / "dl.json")})
    inferer = plain.get_parsed_content("train#inferer")
    assert inferer.model_pixel_size_um is None and plain.get_parsed_content("file_pixel_um") is None

    coarse = _parser({"device": "$torch.device('cpu')", "dataset_dir": str(phantom),
                      "datalist_file": str(tmp_path / "dl.json"), "network_pixel_size_um": "0.34"})
    inferer = coarse.get_parsed_content("train#inferer")
    assert inferer.model_pixel_size_um == pytest.approx(0.34)
    assert inferer.input_pixel_size_um == pytest.approx(0.17)  # the phantom files'
    assert coarse.get_parsed_content("provenance_settings")["network_pixel_size_um"] == pytest.approx(0.34)
    # the crop is recorded, so that evaluating shows the network the same field (scripts.resolution.trained_crop_size)
    assert coarse.get_parsed_content("provenance_settings")["crop_size"] == coarse.get_parsed_content("crop_size")

    seen = []
    conv = torch.nn.Conv3d(1, 1, 3, padding=1)

    def network(x):
        seen.append(tuple(x.shape))
        return conv(x)

    crops = MetaTensor(torch.randn(2, 1, 64, 64, 32))
    crops.affine = torch.diag(torch.tensor([0.2, 0.15, 2.0, 1.0])).double()  # as a scale augmentation leaves it
    logits = inferer(crops, network)
    assert seen == [(2, 1, 32, 32, 32)]  # half the x-y voxels: 0.17 -> 0.34 um, whatever the affine says
    assert tuple(logits.shape) == (2, 1, 64, 64, 32)  # the loss is taken on the files' grid
    logits.sum().backward()
    assert conv.weight.grad is not None and conv.weight.grad.abs().sum() > 0

    with pytest.raises(RuntimeError) as refused:  # MONAI wraps the config expression's error
        _parser({"network_pixel_size_um": "-1"}).get_parsed_content("network_pixel_um")
    assert "network_pixel_size_um must be a positive number" in str(refused.value.__cause__)


def test_provenance_records_the_pixel_size_the_network_learnt(phantom, tmp_path):
    from scripts.resolution import trained_pixel_size_um
    from scripts.training import write_provenance

    datalist = ensure_datalist(phantom, tmp_path / "dl.json")
    path = write_provenance(tmp_path / "run", None, phantom, datalist, {}, network_pixel_size_um=0.34)
    record = json.loads(path.read_text())
    assert record["pixel_size_um"] == 0.34 and record["file_pixel_size_um"] == pytest.approx(0.17)
    assert trained_pixel_size_um(tmp_path / "run" / "model.pt", 0.17) == 0.34  # evaluating resamples files to it
    record = json.loads(write_provenance(tmp_path / "run2", None, phantom, datalist, {}).read_text())
    assert record["pixel_size_um"] == record["file_pixel_size_um"] == pytest.approx(0.17)


@pytest.mark.slow
def test_cli_training_at_a_coarser_network_pixel_size(phantom, tmp_path):
    proc = _run_cli(_train_args(phantom, tmp_path, 1, "--network_pixel_size_um", "0.34", "--patch_mode", "true",
                                "--patch_size", "[32,32,12]"), cwd=tmp_path)
    assert "Epoch[1] Metrics" in proc.stdout + proc.stderr
    AnisotropicAttentionUNet().load_state_dict(torch.load(tmp_path / "models" / "model.pt", weights_only=True))
    assert json.loads((tmp_path / "models" / "provenance.json").read_text())["pixel_size_um"] == 0.34


@pytest.mark.slow
def test_cli_ddp_two_gloo_processes_on_cpu(phantom, tmp_path):
    files = f"['{TRAIN_YAML}','{MULTI_GPU_YAML}']"
    args = _train_args(phantom, tmp_path, 1)
    args[1] = files
    proc = _run_cli(args, cwd=tmp_path, torchrun=2)
    log = proc.stdout + proc.stderr
    assert "Epoch[1] Metrics" in log
    ckpt = torch.load(tmp_path / "models" / "checkpoint.pt", weights_only=True)
    # 3 training frames padded to 4 and split over 2 processes: 2 frames, one batch of 2, per process
    assert ckpt["trainer"]["iteration"] == 1
    assert not any(k.startswith("module.") for k in ckpt["model"])  # saved unwrapped from DDP
    AnisotropicAttentionUNet().load_state_dict(torch.load(tmp_path / "models" / "model.pt", weights_only=True))


def _epoch(checkpoint: dict) -> int:
    return checkpoint["trainer"]["iteration"] // checkpoint["trainer"]["epoch_length"]


@pytest.mark.slow
def test_training_killed_with_sigkill_resumes_with_its_state(phantom, tmp_path):
    """A run killed with SIGKILL mid-run continues from its last checkpoint: epoch, optimizer, LR, best metric."""
    import signal
    import time

    env = {**os.environ, "PYTHONPATH": str(BUNDLE), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")}
    cmd = [sys.executable, "-m", "monai.bundle", "run", "training", *_train_args(phantom, tmp_path, 50)]
    ckpt_path = tmp_path / "models" / "checkpoint.pt"
    victim = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 600
        # wait for the checkpoint of epoch 2 (written atomically after each epoch), then kill without warning
        while time.monotonic() < deadline and victim.poll() is None:
            if ckpt_path.exists() and _epoch(torch.load(ckpt_path, weights_only=True)) >= 2:
                break
            time.sleep(0.5)
        assert victim.poll() is None, "the run ended before it could be killed"
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=60)
    finally:
        if victim.poll() is None:
            victim.kill()
    killed = torch.load(ckpt_path, weights_only=True)  # still loadable: never half-written
    killed_epoch = _epoch(killed)
    assert killed_epoch >= 2
    saved = tmp_path / "killed.pt"
    shutil.copy(ckpt_path, saved)

    proc = _run_cli(_train_args(phantom, tmp_path, killed_epoch + 1, "--resume_from", str(saved)), cwd=tmp_path)
    log = proc.stdout + proc.stderr
    assert f"Epoch[{killed_epoch + 1}] Metrics" in log and f"Epoch[{killed_epoch}] Metrics" not in log
    last = torch.load(ckpt_path, weights_only=True)
    assert _epoch(last) == killed_epoch + 1
    assert last["optimizer"]["state"][0]["step"] == killed["optimizer"]["state"][0]["step"] + 2  # 2 steps per epoch
    assert last["lr_scheduler"]["last_epoch"] == killed["lr_scheduler"]["last_epoch"] + 1
    assert last["best_model"]["best_metric"] >= killed["best_model"]["best_metric"]


def test_a_read_only_dataset_folder_names_the_datalist_and_the_fix(phantom, tmp_path, monkeypatch):
    import errno

    import scripts.training

    def refuse(datalist, path):  # simulated: tests may run as root, for whom file permissions do not apply
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(scripts.training, "write_datalist", refuse)
    with pytest.raises(PermissionError, match=r"cannot write the datalist .*datalist\.json .*read-only; pass "
                                              r"--datalist_file"):
        ensure_datalist(phantom, tmp_path / "datalist.json")


def test_low_resolution_in_x_y_leaves_z_alone():
    from scripts.augmentation import RandLowResolutionXYd

    image = torch.zeros(1, 32, 32, 4)
    image[0, ::2, :, :] = 1.0  # one-voxel stripes in x: detail a coarser x-y grid cannot hold
    image[0, :, :, 3] += 5.0  # ... and slices of different brightness in z
    transform = RandLowResolutionXYd(keys="image", prob=1.0, zoom_range=(0.5, 0.5))
    transform.set_random_state(0)
    out = transform({"image": image.clone()})["image"]
    assert out.shape == image.shape
    assert float(out[0, :, :, :3].std()) < 0.1 * float(image[0, :, :, :3].std())  # the stripes are gone
    for z in range(4):  # every z slice keeps its own mean: nothing leaks between slices
        assert float(out[0, :, :, z].mean()) == pytest.approx(float(image[0, :, :, z].mean()), abs=1e-4)
    with pytest.raises(ValueError, match="zoom_range"):
        RandLowResolutionXYd(keys="image", zoom_range=(0.5, 2.0))


def test_photon_noise_grows_with_the_signal_and_with_fewer_photons():
    from scripts.augmentation import RandPhotonNoised

    image = torch.zeros(1, 64, 64, 8)  # x: 16 columns of no signal (the floor), 24 dim, 24 four times brighter
    image[0, 16:40] = 1.0
    image[0, 40:] = 4.0
    image = image - 1.5  # standardised data: the zero of the values is not the camera's

    def noisy(photons: float) -> torch.Tensor:
        transform = RandPhotonNoised(keys="image", prob=1.0, photons_range=(photons, photons), floor_percentile=0.0)
        transform.set_random_state(7)
        return transform({"image": image.clone()})["image"]

    out = noisy(10.0)
    assert out.shape == image.shape and out.dtype == image.dtype
    floor, dim, bright = out[0, :16], out[0, 16:40], out[0, 40:]
    assert torch.equal(floor, image[0, :16])  # no signal, no photons, no noise
    assert float(dim.mean()) == pytest.approx(-0.5, abs=0.02) and float(bright.mean()) == pytest.approx(2.5, abs=0.04)
    # 10 photons for the mean signal (1.875 above the floor): the dim part gets 5.33 photons per voxel, std
    # sqrt(5.33) photons = 0.433 in the image's units; the bright part's variance is four times that
    per_photon = 1.875 / 10.0
    assert float(dim.std()) == pytest.approx(np.sqrt(1.0 / per_photon) * per_photon, rel=0.05)
    assert float(bright.std() / dim.std()) == pytest.approx(2.0, rel=0.05)
    assert float(noisy(2.0)[0, 16:40].std()) > 2.0 * float(dim.std())  # fewer photons, more noise
    with pytest.raises(ValueError, match="photons_range"):
        RandPhotonNoised(keys="image", photons_range=(0.0, 5.0))


def _spindle_block(seed: int = 0):
    """A standardised-looking crop: noise of std 0.3 everywhere, a labelled block 3 brighter in the middle."""
    rng = np.random.default_rng(seed)
    image = torch.from_numpy(rng.normal(0.0, 0.3, (1, 64, 64, 8)).astype(np.float32))
    label = torch.zeros(1, 64, 64, 8)
    label[0, 16:48, 16:48, 2:6] = 1.0
    image[0, 16:48, 16:48, 2:6] += 3.0
    return image, label


def _heterogeneous(image, label, seed: int = 3, **ranges):
    from scripts.augmentation import RandSpindleHeterogeneityd

    transform = RandSpindleHeterogeneityd(keys="image", prob=1.0, **ranges)
    transform.set_random_state(seed)
    out = transform({"image": image.clone(), "label": label.clone()})
    assert torch.equal(out["label"], label)  # the dim parts are still spindle
    return out["image"]


def _detail(image: torch.Tensor) -> np.ndarray:
    """The noise: the image minus its local mean."""
    values = image[0].numpy()
    return values - ndimage.uniform_filter(values, (5, 5, 1))


def test_spindle_heterogeneity_dims_gaps_inside_the_label_and_keeps_the_noise():
    image, label = _spindle_block()
    out = _heterogeneous(image, label, gap_fraction_range=(0.5, 0.5), gap_depth_range=(0.8, 0.8))
    inside = torch.from_numpy(label[0].numpy() > 0)
    assert out.shape == image.shape and out.dtype == image.dtype
    assert torch.equal(out[0][~inside], image[0][~inside])  # nothing changes outside the spindle
    drop = (image[0] - out[0])[inside].numpy()
    # half the spindle loses up to 80 % of its 3 above the cytoplasm (less near the edge): on average about 1
    assert 0.6 < float(drop.mean()) < 1.5 and float(drop.max()) > 2.0 and float(np.percentile(drop, 10)) < 0.3
    core = np.zeros(inside.shape, bool)
    core[20:44, 20:44, 3:5] = True
    assert float(_detail(out)[core].std()) == pytest.approx(float(_detail(image)[core].std()), rel=0.15)


def test_spindle_heterogeneity_keeps_the_visible_edge_where_the_label_is():
    image, label = _spindle_block()
    out = _heterogeneous(image, label, gap_fraction_range=(1.0, 1.0), gap_depth_range=(0.8, 0.8))
    drop = (image[0] - out[0]).numpy()
    assert np.all(drop[16, 16:48, 2:6] == 0) and np.all(drop[47, 16:48, 2:6] == 0)  # the label's edge columns
    assert float(drop[28:36, 28:36, 3].mean()) > 2.0  # 12 voxels in: 80 % of the 3 is gone


def test_spindle_heterogeneity_leaves_a_frame_without_spindle_and_refuses_bad_ranges():
    from scripts.augmentation import RandSpindleHeterogeneityd

    image, label = _spindle_block()
    assert torch.equal(_heterogeneous(image, torch.zeros_like(label)), image)
    no_label = RandSpindleHeterogeneityd(keys="image", prob=1.0)
    assert torch.equal(no_label({"image": image.clone()})["image"], image)  # an unlabelled crop
    with pytest.raises(ValueError, match="gap_depth_range"):
        RandSpindleHeterogeneityd(keys="image", gap_depth_range=(0.5, 1.5))
    with pytest.raises(ValueError, match="gap_sigma_px"):
        RandSpindleHeterogeneityd(keys="image", gap_sigma_px=(0.0, 2.0))


def _with_distractor(image, label, seed: int = 0, **settings):
    from scripts.augmentation import RandAdjacentDistractord

    transform = RandAdjacentDistractord(keys="image", prob=1.0, **settings)
    transform.set_random_state(seed)
    out = transform({"image": image.clone(), "label": label.clone()})
    assert torch.equal(out["label"], label)  # what touches the spindle is not spindle
    return out["image"], transform


def test_adjacent_distractor_in_z_lies_against_the_spindle_above_or_below_it():
    image, label = _spindle_block()  # the block: z slices 2-5 of 8, 3 above the cytoplasm
    image, label = torch.cat([image, image], dim=3), torch.cat([label, torch.zeros_like(label)], dim=3)  # room below
    found_sides = set()
    for seed in range(8):
        out, transform = _with_distractor(image, label, seed, z_side_probability=1.0, gap_range=(0.0, 0.0),
                                          brightness_range=(0.5, 0.5), texture_range=(0.0, 0.0))
        added = (out - image)[0].numpy()
        per_slice = added[16:48, 16:48].max(axis=(0, 1))
        side = transform._draw["direction"][2]
        found_sides.add(side)
        beyond = per_slice[6:] if side > 0 else per_slice[:2]
        if side < 0:
            assert float(beyond.max()) > 0.9  # room for it above the spindle: slices 0-1
        else:
            assert float(beyond.max()) > 1.2  # about half the spindle's 3, the object touching slice 5
            assert float(per_slice[6]) > 0.75  # no gap: the slice next to the spindle holds the object
        inside = added[label[0].numpy() > 0]
        assert float(inside.mean()) < 0.1  # only the object's blurred edge reaches into the label
        assert float(np.abs(added[:, :, 3]).max()) < 0.2 or side < 0  # the spindle's middle slice untouched
    assert found_sides == {1.0, -1.0}


def test_adjacent_distractor_in_x_y_lies_beside_the_spindle_in_its_slices():
    image, label = _spindle_block()
    out, transform = _with_distractor(image, label, 2, z_side_probability=0.0, gap_range=(0.0, 0.0),
                                      size_range=(0.5, 0.5), brightness_range=(1.0, 1.0), texture_range=(0.0, 0.0))
    added = (out - image)[0].numpy()
    inside = label[0].numpy() > 0
    assert float(added[~inside].max()) > 2.0  # as bright as the spindle's 3 above the cytoplasm, less the blur
    assert float(added[inside].mean()) < 0.1
    where = np.argwhere(added > 1.0)
    assert where[:, 2].min() >= 2 and where[:, 2].max() <= 5  # in the spindle's slices (its half-extent in z)
    # beyond the block's edge on the drawn side
    direction = np.array(transform._draw["direction"][:2])
    offsets = (where[:, :2] - 31.5) @ direction
    assert float(offsets.min()) > 14.0


def test_adjacent_distractor_leaves_what_it_cannot_place_and_refuses_bad_ranges():
    from scripts.augmentation import RandAdjacentDistractord

    image, label = _spindle_block()
    assert torch.equal(_with_distractor(image, torch.zeros_like(label))[0], image)  # no spindle
    flat = torch.zeros_like(image)
    assert torch.equal(_with_distractor(flat, label)[0], flat)  # a spindle no brighter than around it
    assert torch.equal(RandAdjacentDistractord(keys="image", prob=1.0)({"image": image.clone()})["image"], image)
    full = torch.ones_like(label)  # the label fills the crop: no room outside it
    assert torch.equal(_with_distractor(image, full)[0], image)
    for name, bad in (("size_range", (0.0, 1.0)), ("gap_range", (-0.1, 0.5)), ("brightness_range", (1.0, 0.5)),
                      ("z_side_probability", 1.5)):
        with pytest.raises(ValueError, match=name):
            RandAdjacentDistractord(keys="image", **{name: bad})


def test_adjacent_distractor_probability_is_a_config_key_off_by_default():
    assert _transform(_parser(), "RandAdjacentDistractord").prob == 0.0
    assert _transform(_parser({"adjacent_distractor_prob": 0.3}), "RandAdjacentDistractord").prob == 0.3


# ------------------------------------------------------------------------------------------- fine-tuning overlay
FINETUNE_YAML = BUNDLE / "configs" / "finetune.yaml"


FAST_MODEL = BUNDLE / "models" / "fast" / "model.pt"


def test_finetune_overlay_starts_from_the_shipped_fast_model_and_writes_beside_the_data():
    p = _parser({"dataset_dir": "/data/lab"}, files=(TRAIN_YAML, FINETUNE_YAML))
    assert p.get_parsed_content("init_weights") == str(FAST_MODEL)
    assert p.get_parsed_content("ckpt_dir") == "/data/lab/finetuned"
    assert p.get_parsed_content("model_path") == "/data/lab/finetuned/model.pt"
    # the lab's split beside the model, every label in training or validation (no test oocyte)
    assert p.get_parsed_content("datalist_file") == "/data/lab/finetuned/datalist.json"
    assert p.get_parsed_content("test_oocytes_per_experiment") == 0
    assert p["lr"] == 5.0e-5
    # everything else is train.yaml's: the same preprocessing and network
    base = _parser({"dataset_dir": "/data/lab"})
    assert p["standardisation"] == base["standardisation"] and p["network_def"] == base["network_def"]


def test_finetune_recipe_is_the_one_measured_on_the_held_out_labs():
    """The settings Sessions 36-40 measured on the three held-out renderer labs (docs, "Adapting the model to your
    microscope"; training_state/s40/camera_distractor_full.sh passed them as overrides), now the overlay's own."""
    p = _parser({"dataset_dir": "/data/lab"}, files=(TRAIN_YAML, FINETUNE_YAML))
    assert p.get_parsed_content("use_patches") is True and p.get_parsed_content("patch_size") == [192, 192, 32]
    assert p.get_parsed_content("weight_average_decay") == 0.98
    assert (p.get_parsed_content("epochs"), p.get_parsed_content("epoch_length")) == (60, 50)
    assert p.get_parsed_content("time_budget_min") == 30 and p.get_parsed_content("early_stop_patience") == 10
    assert p.get_parsed_content("network_pixel_um") == pytest.approx(0.34)  # the fast model's, from its provenance
    assert _transform(p, "RandAdjacentDistractord").prob == 0.3
    # what a run records of it
    settings = p.get_parsed_content("provenance_settings")
    assert settings["patch_size"] == [192, 192, 32] and settings["adjacent_distractor_prob"] == 0.3
    assert settings["early_stop_patience"] == 10 and settings["weight_average_decay"] == 0.98
    # the command line still decides
    whole = _parser({"dataset_dir": "/data/lab", "patch_mode": "false", "adjacent_distractor_prob": 0.0},
                    files=(TRAIN_YAML, FINETUNE_YAML))
    assert whole.get_parsed_content("use_patches") is False and _transform(whole, "RandAdjacentDistractord").prob == 0


def test_finetuning_keeps_the_pixel_size_the_starting_network_was_trained_at(tmp_path):
    """Weights whose network saw 0.34-um crops of 0.17-um files are fine-tuned at 0.34 um; weights without that
    record (the 0.4 ones) or trained on their files' own pixels at the lab files' own pixels."""
    weights = tmp_path / "coarse" / "model.pt"
    weights.parent.mkdir()
    shipped = model_provenance(FAST_MODEL)  # the overlay's start; {} for the 0.4 weights
    resampled = shipped.get("pixel_size_um") != shipped.get("file_pixel_size_um")
    assert _parser({"dataset_dir": "/data/lab"}, files=(TRAIN_YAML, FINETUNE_YAML)).get_parsed_content(
        "network_pixel_um") == (shipped["pixel_size_um"] if resampled else None)  # the shipped weights as they are
    record = {"pixel_size_um": 0.17, "file_pixel_size_um": 0.17}
    (weights.parent / "provenance.json").write_text(json.dumps(record))
    overrides = {"dataset_dir": "/data/lab", "init_weights": str(weights)}
    assert _parser(overrides, files=(TRAIN_YAML, FINETUNE_YAML)).get_parsed_content("network_pixel_um") is None
    (weights.parent / "provenance.json").write_text(json.dumps({**record, "pixel_size_um": 0.34}))
    assert _parser(overrides, files=(TRAIN_YAML, FINETUNE_YAML)).get_parsed_content(
        "network_pixel_um") == pytest.approx(0.34)
    overrides["network_pixel_size_um"] = "0.17"  # the command line still decides
    assert _parser(overrides, files=(TRAIN_YAML, FINETUNE_YAML)).get_parsed_content(
        "network_pixel_um") == pytest.approx(0.17)


def test_finetuning_validates_the_starting_weights_first():
    def exec_at_start(files):
        parser = ConfigParser()
        parser.read_config([str(f) for f in files])
        parser["dataset_dir"] = "/data/lab"
        handler = next(h for h in parser["train"]["handlers"] if h["_target_"] == "ValidationHandler")
        return parser.get_parsed_content("validate_at_start"), handler["exec_at_start"]

    assert exec_at_start([TRAIN_YAML]) == (False, "$scripts.config.as_bool(@validate_at_start)")
    assert exec_at_start([TRAIN_YAML, FINETUNE_YAML])[0] is True


def test_validation_falls_back_to_the_training_frames_with_too_few_labels(phantom, tmp_path, caplog):
    from scripts.training import validation_items

    datalist = json.loads((Path(ensure_datalist(phantom, tmp_path / "dl.json"))).read_text())
    assert validation_items(tmp_path / "dl.json", phantom) == [
        {**i, "image": str(phantom / i["image"]), "label": str(phantom / i["label"])} for i in datalist["validation"]]
    with caplog.at_level("WARNING"):
        fallback = validation_items(tmp_path / "dl.json", phantom, min_frames=len(datalist["validation"]) + 1)
    assert len(fallback) == len(datalist["training"]) and "validating on the" in caplog.text


# the recipe's patch mode on the tiny phantom's 64 x 64 x 12 crops (its 192 x 192 x 32 patches need real frames)
FINETUNE_PATCH = ["--patch_size", "[64,64,12]"]


@pytest.mark.slow
def test_cli_finetune_writes_model_provenance_and_resumes(phantom, tmp_path):
    shipped = FAST_MODEL
    stamp = shipped.stat().st_mtime_ns
    args = ["--config_file", repr([str(TRAIN_YAML), str(FINETUNE_YAML)]), "--logging_file",
            str(BUNDLE / "configs" / "logging.conf"), "--dataset_dir", str(phantom), "--epochs", "1",
            "--epoch_length", "1", *FINETUNE_PATCH, *TINY]
    _run_cli(args + ["--calibrate_band", "false"], cwd=tmp_path)  # calibrated after the resumed run, below
    out = phantom / "finetuned"
    try:
        assert not (out / "band_calibration.json").exists()
        assert shipped.stat().st_mtime_ns == stamp  # the shipped weights are never written
        # the shipped network's kind (one U-Net or an ensemble of as many), its weights loading strictly
        tuned_state, shipped_state = (torch.load(path, weights_only=True) for path in (out / "model.pt", shipped))
        assert ensemble_size(tuned_state) == ensemble_size(shipped_state) and tuned_state.keys() == shipped_state.keys()
        network_for_weights(out / "model.pt").load_state_dict(tuned_state)
        record = json.loads((out / "provenance.json").read_text())
        assert record["init_weights"] == str(shipped.resolve()) and len(record["init_weights_sha256"]) == 64
        assert record["n_training_frames"] >= 1 and record["settings"]["lr"] == 5.0e-5
        assert record["settings"]["time_budget_min"] == 30 and record["settings"]["patch_size"] == [64, 64, 12]
        assert record["settings"]["adjacent_distractor_prob"] == 0.3 and record["settings"]["early_stop_patience"] == 10
        # what evaluating the model resamples to: the shipped network's pixel size where it has one, else the phantom's
        assert record["pixel_size_um"] == pytest.approx(trained_network_pixel_size_um(shipped) or 0.17)
        proc = _run_cli(args[:-len(TINY)] + ["--epochs", "2", "--resume_from", str(out / "checkpoint.pt"), *TINY,
                                             "--band_coverage", "0.7"], cwd=tmp_path)  # 0.7: 6 frames are enough
        assert "Epoch[2] Metrics" in proc.stdout + proc.stderr
        assert _epoch(torch.load(out / "checkpoint.pt", weights_only=True)) == 2
        # the volume band of the weights the resumed run ended with, calibrated on the labelled frames (1
        # validation frame held out: too few, so every labelled frame of the run); evaluating them applies it
        calibration = json.loads((out / "band_calibration.json").read_text())
        assert calibration["model_sha256"] == file_sha256(out / "model.pt")
        # (the in-sample coverage, 0.9, needs 9 frames: the fit asks band_coverage of these 6: the phantom's 3
        # oocytes x 2 labels, all in the fine-tuning's split, 5 training and 1 validation)
        assert calibration["fitted_on"]["frames"] == "training and validation" and calibration["coverage"] == 0.7
        assert (out / "band_calibration_eval" / "volumes.csv").is_file()
    finally:
        shutil.rmtree(out, ignore_errors=True)  # the module's phantom is shared with other tests


@pytest.mark.slow
def test_cli_finetune_keeps_the_starting_weights_when_no_epoch_beats_them(phantom, tmp_path):
    shipped = FAST_MODEL
    args = ["--config_file", repr([str(TRAIN_YAML), str(FINETUNE_YAML)]), "--logging_file",
            str(BUNDLE / "configs" / "logging.conf"), "--dataset_dir", str(phantom), "--epochs", "1",
            "--epoch_length", "1", "--lr", "0", *FINETUNE_PATCH, *TINY]  # lr 0: the epoch ends where it started
    # (and the phantom's 6 labels, too few to calibrate the band for 90 %: it stays raw, with a warning)
    proc = _run_cli(args + ["--band_coverage", "0.9"], cwd=tmp_path)
    out = phantom / "finetuned"
    try:
        assert "best val_mean_dice" in proc.stdout + proc.stderr and "at epoch 0" in proc.stdout + proc.stderr
        assert ("is not calibrated: 6 labelled training and validation frame(s), 9 needed"
                in proc.stdout + proc.stderr)
        assert not (out / "band_calibration.json").exists()
        kept = torch.load(out / "model.pt", weights_only=True)
        start = torch.load(shipped, weights_only=True)
        assert kept.keys() == start.keys() and all(torch.equal(kept[k], start[k]) for k in start)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def test_time_budget_ends_training_before_an_epoch_would_end_past_it():
    from scripts.training import TimeBudget

    now = [0.0]

    def run(minutes, epoch_s, max_epochs=10):
        trainer = Engine(lambda engine, batch: now.__setitem__(0, now[0] + epoch_s / 4))  # 4 iterations per epoch
        TimeBudget(minutes, clock=lambda: now[0]).attach(trainer)
        trainer.run(range(4), max_epochs=max_epochs)
        return trainer.state.epoch

    assert run(30, 7 * 60) == 4       # 4 epochs take 28 min; a 5th would end at 35
    assert run(30, 5 * 60) == 6       # 6 x 5 min = 30: the 7th would end past it
    assert run(30, 40 * 60) == 1      # one epoch always runs
    assert run(None, 60 * 60, max_epochs=3) == 3  # no budget
    assert run(30, 10 * 60, max_epochs=2) == 2
    for bad in (0, -5, "soon", float("inf")):
        with pytest.raises(ValueError, match="time_budget_min must be a positive number of minutes or null"):
            TimeBudget(bad)
    assert TimeBudget("null").minutes is None


def test_time_budget_is_in_the_training_handlers_and_the_finetune_recipe():
    parser = ConfigParser()
    parser.read_config([str(TRAIN_YAML), str(BUNDLE / "configs" / "finetune.yaml")])
    assert parser["time_budget_min"] == 30
    handlers = [h["_target_"] for h in parser["train"]["handlers"]]
    assert handlers.index("scripts.training.TimeBudget") > handlers.index("scripts.training.LatestCheckpointSaver")
