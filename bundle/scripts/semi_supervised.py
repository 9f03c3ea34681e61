"""Learning from the unlabelled frames: a mean teacher (Tarvainen & Valpola, NeurIPS 2017) for configs/train.yaml.

A lab labels every sixth frame at best; the five in between carry no label. ``configs/semi_supervised.yaml``
(an overlay on train.yaml, and on finetune.yaml too) adds, to every training step on labelled frames, a step on
unlabelled frames of the same oocytes:

- the *teacher* (an exponential moving average of the network's weights, ``ema_decay`` per step) predicts the
  unlabelled crop as the loader gives it (the weak view: the geometric augmentation only);
- the network (the *student*) predicts a strongly perturbed copy of the same crop (``StrongPerturbation``: another
  brightness, contrast, gamma and noise; the geometry is the same, so the two outputs compare voxel by voxel);
- the consistency loss is the mean squared difference of their probabilities, weighted by
  ``consistency_weight`` times a ramp-up from 0 over the first ``ramp_up_iterations`` steps (the teacher's early
  predictions are poor), and added to the supervised loss.

The unlabelled frames (``unlabelled_items``) are every frame of the training oocytes that carries no label in the
datalist (test and validation oocytes are never used). The teacher is saved in the resumable checkpoint and,
after every epoch, beside the model as ``teacher.pt``; the best weights by validation Dice are still the student's
(``model.pt``), as in supervised training.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator, Mapping
from pathlib import Path

import torch
from ignite.engine import Events
from monai.engines import SupervisedTrainer
from monai.engines.utils import IterationEvents
from monai.utils.enums import CommonKeys as Keys

from scripts.io import inspect_image
from scripts.training import ema_update_, frozen_copy, save_atomic

logger = logging.getLogger(__name__)

__all__ = ["MeanTeacherTrainer", "StrongPerturbation", "Teacher", "consistency_ramp", "probabilities",
           "save_teacher", "unlabelled_items"]


def unlabelled_items(datalist_file: str | Path, dataset_dir: str | Path | None = None,
                     max_per_oocyte: int | None = None) -> list[dict]:
    """One item (``image``, ``frame``, ``experiment``, ``oocyte``) per frame of the datalist's training oocytes that
    no list of it (``training``, ``validation``, ``testing``) labels, in file and frame order. Only the training
    lists' series are used: a test oocyte's frames never enter training, labelled or not.

    ``max_per_oocyte`` keeps that many frames per oocyte, spread evenly over its series (None: all)."""
    from scripts.datalist import load_datalist

    labelled = load_datalist(datalist_file, "training", dataset_dir)
    raw = json.loads(Path(datalist_file).read_text())
    others = [item for key in ("validation", "testing") if raw.get(key)
              for item in load_datalist(datalist_file, key, dataset_dir)]
    taken: dict[str, set[int]] = {}
    for item in [*labelled, *others]:
        taken.setdefault(str(item["image"]), set()).add(int(item.get("frame", 0)))
    series = {str(item["image"]): item for item in labelled}
    items = []
    for image in sorted(series):
        frames = [t for t in range(inspect_image(image).n_frames) if t not in taken[image]]
        if max_per_oocyte is not None and len(frames) > max_per_oocyte:
            step = len(frames) / max_per_oocyte
            frames = [frames[int(i * step)] for i in range(max_per_oocyte)]
        items += [{"image": image, "frame": t, "experiment": series[image].get("experiment", ""),
                   "oocyte": series[image].get("oocyte", "")} for t in frames]
    if not items:
        raise ValueError(f"{datalist_file}: no unlabelled frames: every frame of the training oocytes is labelled "
                         "(the semi-supervised overlay needs series with frames between the labelled ones)")
    logger.info(f"{len(items)} unlabelled frames from {len(series)} training series for the consistency loss")
    return items


def consistency_ramp(iteration: int, ramp_up_iterations: int) -> float:
    """exp(-5 (1 - t)^2) for t = iteration / ramp_up_iterations in [0, 1] (Laine & Aila, ICLR 2017): ~0.007 at the
    start, 1 from ``ramp_up_iterations`` on."""
    if ramp_up_iterations <= 0:
        return 1.0
    t = min(max(iteration / ramp_up_iterations, 0.0), 1.0)
    return math.exp(-5.0 * (1.0 - t) ** 2)


def probabilities(logits: torch.Tensor) -> torch.Tensor:
    """Sigmoid of a one-channel logit map, softmax over the channels of a two-channel one (``out_channels``)."""
    return torch.sigmoid(logits) if logits.shape[1] == 1 else torch.softmax(logits, dim=1)


class StrongPerturbation:
    """The student's view of a standardised crop (N, C, X, Y, Z): per sample a random gamma (on the crop rescaled to
    [0, 1], 0.7-1.5), contrast (x 0.75-1.25 about the mean), brightness (+-0.25) and Gaussian noise (sigma 0-0.2),
    then standardised again (zero mean, unit variance) as every input the network sees. Geometry untouched."""

    def __init__(self, gamma=(0.7, 1.5), contrast=(0.75, 1.25), brightness=0.25, noise_std=(0.0, 0.2)) -> None:
        self.gamma, self.contrast, self.brightness, self.noise_std = gamma, contrast, float(brightness), noise_std

    def _uniform(self, lo_hi, n: int, like: torch.Tensor) -> torch.Tensor:
        lo, hi = lo_hi
        return (lo + (hi - lo) * torch.rand(n, device=like.device, dtype=like.dtype)).view(n, 1, 1, 1, 1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        dims = tuple(range(1, x.dim()))
        lo, hi = x.amin(dim=dims, keepdim=True), x.amax(dim=dims, keepdim=True)
        span = (hi - lo).clamp_min(1e-6)
        y = ((x - lo) / span).clamp(0, 1) ** self._uniform(self.gamma, n, x) * span + lo
        mean = y.mean(dim=dims, keepdim=True)
        y = (y - mean) * self._uniform(self.contrast, n, x) + mean
        y = y + self._uniform((-self.brightness, self.brightness), n, x)
        y = y + torch.randn_like(y) * self._uniform(self.noise_std, n, x)
        std = y.std(dim=dims, keepdim=True).clamp_min(1e-6)
        return (y - y.mean(dim=dims, keepdim=True)) / std


class Teacher(torch.nn.Module):
    """An exponential moving average of a network's weights (buffers copied), always in eval mode (no dropout):
    the mean teacher. ``state_dict`` / ``load_state_dict`` make it part of a resumable checkpoint."""

    def __init__(self, student: torch.nn.Module, ema_decay: float = 0.99) -> None:
        super().__init__()
        if not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"ema_decay must be in [0, 1), found {ema_decay}")
        self.network = frozen_copy(student)
        self.ema_decay = float(ema_decay)

    def train(self, mode: bool = True) -> Teacher:  # noqa: ARG002 - the teacher never trains its dropout
        return super().train(False)

    @torch.no_grad()
    def update(self, student: torch.nn.Module) -> None:
        ema_update_(self.network, student, self.ema_decay)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)


class MeanTeacherTrainer(SupervisedTrainer):
    """MONAI's SupervisedTrainer with a consistency step on unlabelled frames (module docstring).

    Extra arguments: ``unlabelled_loader`` (a DataLoader of unlabelled crops, cycled), ``teacher``
    (:class:`Teacher` of ``network``), ``consistency_weight``, ``ramp_up_iterations``, ``perturbation``
    (default :class:`StrongPerturbation`). ``engine.state.output`` also holds ``supervised_loss`` and
    ``consistency_loss`` (floats) for the logs. fp16 AMP on CUDA uses the trainer's GradScaler as MONAI does.
    ``teacher_path``: where the teacher's weights are written after every epoch (main process only; None: not)."""

    def __init__(self, *args, unlabelled_loader, teacher: Teacher, consistency_weight: float = 1.0,
                 ramp_up_iterations: int = 100, perturbation=None, teacher_path: str | None = None,
                 main_process: bool = True, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if consistency_weight < 0:
            raise ValueError(f"consistency_weight must be >= 0, found {consistency_weight}")
        self.unlabelled_loader = unlabelled_loader
        self.teacher = teacher
        self.consistency_weight = float(consistency_weight)
        self.ramp_up_iterations = int(ramp_up_iterations)
        self.perturbation = perturbation if perturbation is not None else StrongPerturbation()
        self._unlabelled: Iterator | None = None
        if teacher_path and main_process:
            self.add_event_handler(Events.EPOCH_COMPLETED, lambda _: save_teacher(self.teacher, teacher_path))

    def _next_unlabelled(self) -> torch.Tensor:
        for _ in range(2):  # a fresh pass when the loader is exhausted (it reshuffles)
            if self._unlabelled is None:
                self._unlabelled = iter(self.unlabelled_loader)
            try:
                batch = next(self._unlabelled)
                break
            except StopIteration:
                self._unlabelled = None
        else:
            raise RuntimeError("the unlabelled DataLoader yields no batches")
        image = batch[Keys.IMAGE] if isinstance(batch, Mapping) else batch
        image = image.as_tensor() if hasattr(image, "as_tensor") else image
        return image.to(self.state.device, non_blocking=self.non_blocking)

    def _iteration(self, engine: MeanTeacherTrainer, batchdata: dict[str, torch.Tensor]) -> dict:
        if batchdata is None:
            raise ValueError("Must provide batch data for current iteration.")
        batch = engine.prepare_batch(batchdata, engine.state.device, engine.non_blocking, **engine.to_kwargs)
        inputs, targets = batch[0], batch[1]
        unlabelled = engine._next_unlabelled()
        engine.state.output = {Keys.IMAGE: inputs, Keys.LABEL: targets}
        weight = engine.consistency_weight * consistency_ramp(engine.state.iteration - 1, engine.ramp_up_iterations)

        def compute_loss() -> torch.Tensor:
            pred = engine.inferer(inputs, engine.network)
            engine.state.output[Keys.PRED] = pred
            engine.fire_event(IterationEvents.FORWARD_COMPLETED)
            supervised = engine.loss_function(pred, targets).mean()
            with torch.no_grad():
                target_prob = probabilities(engine.inferer(unlabelled, engine.teacher))
            student_prob = probabilities(engine.inferer(engine.perturbation(unlabelled), engine.network))
            consistency = torch.mean((student_prob - target_prob) ** 2)
            engine.state.output["supervised_loss"] = float(supervised.detach())
            engine.state.output["consistency_loss"] = float(consistency.detach())
            loss = supervised + weight * consistency
            engine.state.output[Keys.LOSS] = loss
            engine.fire_event(IterationEvents.LOSS_COMPLETED)
            return loss

        engine.network.train()
        engine.optimizer.zero_grad(set_to_none=engine.optim_set_to_none)
        if engine.amp and engine.scaler is not None:
            with torch.autocast("cuda", **engine.amp_kwargs):
                loss = compute_loss()
            engine.scaler.scale(loss).backward()
            engine.fire_event(IterationEvents.BACKWARD_COMPLETED)
            engine.scaler.step(engine.optimizer)
            engine.scaler.update()
        else:
            loss = compute_loss()
            loss.backward()
            engine.fire_event(IterationEvents.BACKWARD_COMPLETED)
            engine.optimizer.step()
        engine.teacher.update(engine.network)
        engine.fire_event(IterationEvents.MODEL_COMPLETED)
        return engine.state.output


def save_teacher(teacher: Teacher, path: str | Path) -> Path:
    """The teacher's weights as a plain state_dict (loadable like model.pt), written atomically."""
    save_atomic(teacher.network.state_dict(), Path(path))
    return Path(path)
