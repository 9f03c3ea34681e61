"""Tests of the mean-teacher option (scripts.semi_supervised, configs/semi_supervised.yaml).

In-process: which frames count as unlabelled, the ramp, the strong view, the teacher's moving average, and one
training step that adds the consistency loss and moves the teacher. CLI (slow): the overlay trains on a tiny
phantom, writes teacher.pt and a checkpoint holding the teacher, and resumes.
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from monai.engines import SupervisedTrainer
from scripts.network import AnisotropicAttentionUNet
from scripts.phantom import generate_dataset
from scripts.semi_supervised import (
    MeanTeacherTrainer,
    StrongPerturbation,
    Teacher,
    consistency_ramp,
    probabilities,
    unlabelled_items,
)
from scripts.training import ensure_datalist

BUNDLE = Path(__file__).resolve().parents[1] / "bundle"
CONFIGS = BUNDLE / "configs"
N_FRAMES = 14


@pytest.fixture(scope="module")
def phantom(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("semi_phantom")
    generate_dataset(out, n_experiments=1, n_oocytes=3, n_frames=N_FRAMES, shape_xyz=(128, 128, 11), seed=0)
    return out


def _labelled(datalist: dict, *keys: str) -> set[tuple[str, int]]:
    return {(Path(i["image"]).name, int(i["frame"])) for k in keys for i in datalist.get(k, [])}


def test_unlabelled_frames_are_the_training_series_minus_every_labelled_frame(phantom, tmp_path):
    path = Path(ensure_datalist(phantom, tmp_path / "dl.json", seed=0))
    datalist = json.loads(path.read_text())
    # make one training frame's oocyte also hold a "testing" label: that frame must not come back either
    probe = datalist["training"][0]
    datalist["testing"] = [{**probe, "frame": probe["frame"] + 1}]
    path.write_text(json.dumps(datalist))
    items = unlabelled_items(path, phantom)
    series = {i["image"] for i in datalist["training"]}
    assert {Path(i["image"]).name for i in items} == {Path(s).name for s in series}
    got = {(Path(i["image"]).name, i["frame"]) for i in items}
    assert not got & _labelled(datalist, "training", "validation", "testing")
    every = {(Path(s).name, t) for s in series for t in range(N_FRAMES)}
    assert got == every - _labelled(datalist, "training", "validation", "testing")
    assert all(Path(i["image"]).is_absolute() and i["oocyte"] for i in items)
    # at most k per oocyte, spread over the series (first and late frames both present)
    few = unlabelled_items(path, phantom, max_per_oocyte=3)
    per_series = {}
    for i in few:
        per_series.setdefault(i["image"], []).append(i["frame"])
    assert all(len(v) == 3 and max(v) - min(v) >= 6 for v in per_series.values())


def test_no_unlabelled_frame_is_a_clear_error(phantom, tmp_path):
    path = Path(ensure_datalist(phantom, tmp_path / "dl.json", seed=0))
    datalist = json.loads(path.read_text())
    image = datalist["training"][0]["image"]
    label = datalist["training"][0]["label"]
    datalist["training"] = [{"image": image, "label": label, "frame": t} for t in range(N_FRAMES)]
    datalist["validation"] = []
    path.write_text(json.dumps(datalist))
    with pytest.raises(ValueError, match="no unlabelled frames"):
        unlabelled_items(path, phantom)


def test_consistency_ramp_rises_from_near_zero_to_one():
    assert consistency_ramp(0, 100) == pytest.approx(math.exp(-5))
    assert consistency_ramp(50, 100) == pytest.approx(math.exp(-1.25))
    assert consistency_ramp(100, 100) == consistency_ramp(500, 100) == 1.0
    assert consistency_ramp(0, 0) == 1.0
    values = [consistency_ramp(i, 100) for i in range(0, 101, 10)]
    assert values == sorted(values)


def test_probabilities_of_one_and_two_channel_logits():
    logits = torch.randn(2, 1, 4, 4, 2)
    assert torch.equal(probabilities(logits), torch.sigmoid(logits))
    two = probabilities(torch.randn(2, 2, 4, 4, 2))
    assert torch.allclose(two.sum(dim=1), torch.ones(2, 4, 4, 2))


def test_strong_view_is_standardised_changes_intensities_and_keeps_geometry():
    torch.manual_seed(0)
    x = torch.randn(3, 1, 32, 32, 8) * 0.3
    x[:, :, 10:16, 20:26, 3:5] += 4.0  # a bright block: where it is must not move
    x = (x - x.mean()) / x.std()
    y = StrongPerturbation()(x)
    assert y.shape == x.shape
    for n in range(3):
        assert float(y[n].mean()) == pytest.approx(0.0, abs=1e-4)
        assert float(y[n].std()) == pytest.approx(1.0, abs=1e-3)
        assert not torch.allclose(y[n], x[n], atol=1e-2)
        inside = y[n, 0, 10:16, 20:26, 3:5].mean()
        assert inside > y[n].mean() + 2.0  # the block stays where it was and stays bright
    # samples get their own draws
    assert not torch.allclose(y[0] - x[0], y[1] - x[1], atol=1e-2)


def test_teacher_is_a_moving_average_in_eval_mode():
    torch.manual_seed(0)
    student = AnisotropicAttentionUNet(variant="AD", dropout=0.5)
    teacher = Teacher(student, ema_decay=0.9)
    teacher.train()
    assert not teacher.network.training and not any(p.requires_grad for p in teacher.parameters())
    before = [p.clone() for p in teacher.network.parameters()]
    with torch.no_grad():
        for p in student.parameters():
            p.add_(1.0)
    teacher.update(student)
    for t, b, s in zip(teacher.network.parameters(), before, student.parameters(), strict=True):
        assert torch.allclose(t, 0.9 * b + 0.1 * s, atol=1e-6)
    # no dropout in the teacher: the same input gives the same output
    x = torch.randn(1, 1, 32, 32, 4)
    assert torch.equal(teacher(x), teacher(x))
    state = teacher.state_dict()
    fresh = Teacher(AnisotropicAttentionUNet(variant="AD", dropout=0.5), ema_decay=0.9)
    fresh.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(fresh.parameters(), teacher.parameters(), strict=True))
    with pytest.raises(ValueError, match="ema_decay"):
        Teacher(student, ema_decay=1.0)


def _step(trainer_cls, **extra):
    """One iteration of ``trainer_cls`` on a tiny network; returns (trainer, its output)."""
    from monai.losses import DiceFocalLoss

    torch.manual_seed(0)
    net = AnisotropicAttentionUNet(variant="AD")
    image = torch.randn(2, 1, 32, 32, 4)
    label = (image > 1.0).float()
    batch = [{"image": image[i], "label": label[i]} for i in range(2)]
    loader = torch.utils.data.DataLoader(batch, batch_size=2)
    kwargs = dict(device=torch.device("cpu"), max_epochs=1, train_data_loader=loader, network=net,
                  optimizer=torch.optim.Adam(net.parameters(), 1e-3),
                  loss_function=DiceFocalLoss(sigmoid=True, batch=True), decollate=False)
    if trainer_cls is MeanTeacherTrainer:
        # its own random streams, so that the supervised forward draws the same dropout masks as MONAI's trainer
        data = torch.Generator().manual_seed(1)
        unlabelled = torch.utils.data.DataLoader([{"image": torch.randn(1, 32, 32, 4, generator=data)}
                                                  for _ in range(3)], batch_size=1, generator=data)
        kwargs.update(unlabelled_loader=unlabelled, teacher=Teacher(net, 0.5), **extra)
    trainer = trainer_cls(**kwargs)
    trainer.run()
    return trainer, trainer.state.output


def test_a_step_adds_the_consistency_loss_and_moves_the_teacher():
    trainer, out = _step(MeanTeacherTrainer, consistency_weight=10.0, ramp_up_iterations=0)
    assert {"image", "label", "pred", "loss", "supervised_loss", "consistency_loss"} <= set(out)
    assert out["consistency_loss"] > 0
    assert float(out["loss"]) == pytest.approx(out["supervised_loss"] + 10.0 * out["consistency_loss"], rel=1e-5)
    # the same step without the unlabelled term gives MONAI's supervised loss (same seed, same batch)
    _, plain = _step(SupervisedTrainer)
    assert float(plain["loss"]) == pytest.approx(out["supervised_loss"], rel=1e-5)
    # the teacher followed the student's step half way (ema 0.5) and is no longer its starting copy
    torch.manual_seed(0)
    start = AnisotropicAttentionUNet(variant="AD")  # the weights _step started from
    moved = [not torch.equal(t, s) for t, s in zip(trainer.teacher.network.parameters(), start.parameters(),
                                                      strict=True)]
    assert any(moved)
    with pytest.raises(ValueError, match="consistency_weight"):
        _step(MeanTeacherTrainer, consistency_weight=-1.0)


def _run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(BUNDLE)}
    proc = subprocess.run([sys.executable, "-m", "monai.bundle", "run", "training", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    return proc


@pytest.mark.slow
def test_cli_overlay_trains_writes_the_teacher_and_resumes(phantom, tmp_path):
    configs = [str(CONFIGS / "train.yaml"), str(CONFIGS / "semi_supervised.yaml")]
    args = ["--config_file", repr(configs), "--logging_file", str(CONFIGS / "logging.conf"),
            "--dataset_dir", str(phantom), "--datalist_file", str(tmp_path / "dl.json"),
            "--ckpt_dir", str(tmp_path / "models"), "--output_dir", str(tmp_path / "runs"),
            "--crop_size", "[64,64,-1]", "--batch_size", "2", "--progress_bar", "false", "--num_workers", "0",
            "--ramp_up_iterations", "2", "--epoch_length", "1"]
    log = _run_cli([*args, "--epochs", "1"], cwd=tmp_path)
    text = log.stdout + log.stderr
    # 2 training oocytes (the third is the test oocyte) x (14 frames - their labelled ones)
    assert re.search(r"2[0-9] unlabelled frames from 2 training series", text) and "Epoch[1] Metrics" in text
    teacher_path = tmp_path / "models" / "teacher.pt"
    AnisotropicAttentionUNet().load_state_dict(torch.load(teacher_path, weights_only=True))
    ckpt = torch.load(tmp_path / "models" / "checkpoint.pt", weights_only=True)
    assert "teacher" in ckpt and ckpt["trainer"]["iteration"] == ckpt["trainer"]["epoch_length"]  # one epoch
    first = torch.load(teacher_path, weights_only=True)
    log = _run_cli([*args, "--epochs", "2", "--resume_from", str(tmp_path / "models" / "checkpoint.pt")], cwd=tmp_path)
    assert "Epoch[2] Metrics" in log.stdout + log.stderr and "Epoch[1] Metrics" not in log.stdout + log.stderr
    second = torch.load(teacher_path, weights_only=True)
    assert any(not torch.equal(first[k], second[k]) for k in first)  # the resumed run moved the teacher on
