"""Small pieces configs/train.yaml needs that MONAI does not have: resumable state and the datalist on demand.

- :func:`ensure_datalist`: the dataset's ``datalist.json``, written by :mod:`scripts.datalist` if missing and kept
  in step with the masks in the dataset folder afterwards.
- :class:`BestWeightsSaver`: the best weights by a validation metric as a plain ``state_dict``
  (``torch.load(path, weights_only=True)`` loads it straight into the network), and it remembers the
  best score across a resume.
- :class:`LatestCheckpointSaver`: every epoch, everything needed to resume (network, optimizer, LR
  scheduler, trainer state, best score, early-stopping counter) to one fixed file, atomically.
- :class:`ResumableEarlyStopHandler`: MONAI's EarlyStopHandler whose counter survives a resume.
- :class:`TimeBudget`: ends the run before an epoch would end past a wall-time budget (the fine-tuning recipe's
  "30 minutes on 2 CPU cores", whatever the CPU).
- :class:`WeightAverage`: an exponential moving average of the network's weights over the training steps, which
  validation judges and the best-weights file keeps instead of the last step's weights (``weight_average_decay``).

Resuming: ``--resume_from models/checkpoint.pt`` makes MONAI's ``CheckpointLoader`` (configured in
train.yaml) restore that file at the trainer's start; the run continues at the next epoch with the
saved learning rate, optimizer moments and scheduler / early-stopping state.
Only the main process (rank 0) writes files under DDP.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch
from ignite.engine import Engine, Events
from monai.handlers import CheckpointLoader, EarlyStopHandler
from monai.transforms import MapTransform

from scripts.config import is_null, required_dataset_dir
from scripts.datalist import build_datalist, update_datalist, write_datalist
from scripts.inference import load_network
from scripts.io import atomic_path, file_sha256

logger = logging.getLogger(__name__)

__all__ = [
    "BestWeightsSaver",
    "PatchFitsd",
    "LatestCheckpointSaver",
    "ResumableEarlyStopHandler",
    "TimeBudget",
    "TrainerCheckpointLoader",
    "WeightAverage",
    "ema_update_",
    "ensure_datalist",
    "frozen_copy",
    "save_atomic",
    "unwrap",
]

TRAINER_KEY = "trainer"  # the trainer's own state (epoch, iteration) in a resumable checkpoint


def _is_main_process() -> bool:
    return not (torch.distributed.is_available() and torch.distributed.is_initialized()) or (
        torch.distributed.get_rank() == 0
    )


def unwrap(network: torch.nn.Module) -> torch.nn.Module:
    """The plain network inside a DistributedDataParallel / DataParallel wrapper (or the network itself)."""
    if isinstance(network, (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)):
        return network.module
    return network


def save_atomic(obj: object, path: Path) -> None:
    # a crash or a full disk during the write leaves the previous file intact
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def training_network(network: torch.nn.Module, device: str | torch.device, channels_last: bool,
                     init_weights: str | os.PathLike = "") -> torch.nn.Module:
    """``network`` on ``device`` (channels_last_3d on request) in training mode, optionally started from weights.

    ``init_weights`` names a weights-only state dict (a ``models/model.pt``, or a resumable checkpoint's
    weights): fine-tuning the shipped model on a lab's own frames, or a new schedule from a finished run.
    Unlike ``resume_from`` it restores only the weights, so optimizer, learning rate and epochs start afresh.
    Same clear errors as evaluation for a missing file or weights of another network. The weights of an ensemble
    (scripts.ensemble) need ``network`` built for them (``scripts.network.network_for_weights``, train.yaml's
    ``network_def``): its members are then trained together, on the loss of their averaged output.
    """
    if init_weights:
        loaded = load_network(network, init_weights, device, channels_last)
        if loaded is not network:  # the optimizer, checkpoints and saved weights all follow the configured network
            raise ValueError(
                f"init_weights {init_weights} holds an ensemble of {len(loaded.members)} runs (scripts.ensemble) but "
                "the configured network is a single one: build network_def with scripts.network.network_for_weights "
                "(as train.yaml does), which makes it an ensemble of as many networks")
        network = loaded
        logger.info(f"network initialised from {init_weights}")
    else:
        network = network.to(device)
        if channels_last:
            network = network.to(memory_format=torch.channels_last_3d)
    return network.train()


def ensure_datalist(
    dataset_dir: str | os.PathLike, datalist_file: str | os.PathLike = "", seed: int = 0, val_fraction: float = 0.2,
    frame_interval_min: float = 10.0, test_oocytes_per_experiment: int = 1,
) -> str:
    """Return the datalist path, ``dataset_dir/datalist.json`` when ``datalist_file`` is empty.

    If the file does not exist it is built from ``dataset_dir`` by :func:`scripts.datalist.build_datalist`
    (split drawn with ``seed``; ``frame_interval_min`` for files that state no frame interval;
    ``test_oocytes_per_experiment`` 1 or 0) and written atomically, marked ``"follows_dataset": true``. A datalist
    so marked follows the dataset on every later run (:func:`scripts.datalist.update_datalist`): frames labelled
    since join the split, frames whose mask is gone leave it, and every frame it held keeps its side. Any other
    datalist (written with ``python -m scripts.datalist``, merged, or by hand) is used as it is.
    """
    path = Path(datalist_file) if str(datalist_file) else required_dataset_dir(dataset_dir) / "datalist.json"
    if not path.exists():
        if not required_dataset_dir(dataset_dir).is_dir():
            raise FileNotFoundError(f"dataset_dir {dataset_dir} does not exist (needed to build {path})")
        datalist = build_datalist(dataset_dir, seed=seed, val_fraction=val_fraction,
                                  default_frame_interval_min=frame_interval_min,
                                  test_oocytes_per_experiment=int(test_oocytes_per_experiment))
        _write_datalist(datalist, path)
        logger.info(
            f"wrote {path}: {len(datalist['training'])} training, {len(datalist['validation'])} validation frames"
        )
    else:
        _follow_dataset(path, dataset_dir, frame_interval_min)
    return str(path)


def _write_datalist(datalist: dict, path: Path) -> None:
    try:
        write_datalist({**datalist, "follows_dataset": True}, path)
    except OSError as exc:
        raise OSError(exc.errno, f"cannot write the datalist {path} ({exc.strerror or exc}): the dataset folder may "
                                 "be read-only; pass --datalist_file with a path you can write to") from exc


def _follow_dataset(path: Path, dataset_dir: str | os.PathLike, frame_interval_min: float) -> None:
    """Bring a datalist that ``ensure_datalist`` wrote in step with the masks now in ``dataset_dir``."""
    try:
        datalist = json.loads(path.read_text())
    except (OSError, ValueError):
        return  # not ours to judge here: loading it names what is wrong with it
    if not isinstance(datalist, dict) or datalist.get("follows_dataset") is not True:
        return
    updated, added, removed = update_datalist(datalist, required_dataset_dir(dataset_dir), frame_interval_min)
    if updated == datalist:
        return
    _write_datalist(updated, path)
    if added or removed:
        logger.warning(f"{path}: {len(added)} frame(s) labelled since the datalist was written joined it"
                       + (f" (e.g. {', '.join(added[:3])})" if added else "")
                       + f", {len(removed)} whose mask is gone left it"
                       + (f" (e.g. {', '.join(removed[:3])})" if removed else "")
                       + f"; now {len(updated['training'])} training, {len(updated['validation'])} validation frames "
                         "(the frames it held keep their side)")


def validation_items(datalist_file: str | os.PathLike, dataset_dir: str | os.PathLike, min_frames: int = 1) -> list[dict]:
    """The datalist's ``validation`` items; with fewer than ``min_frames`` of them (a lab with 1-4 labelled frames:
    the split leaves none or one for validation), the ``training`` items instead, with a warning: the best weights
    are then those that fit the labelled frames best, a check of the fit, not of generalization."""
    from scripts.datalist import load_datalist

    items = load_datalist(datalist_file, "validation", dataset_dir, allow_empty=True)
    if len(items) >= max(int(min_frames), 1):
        return items
    training = load_datalist(datalist_file, "training", dataset_dir)
    logger.warning(f"{datalist_file}: {len(items)} validation frame(s), fewer than {min_frames}: validating on the "
                   f"{len(training)} training frames instead (model selection then follows the fit to the labelled "
                   "frames; label more frames to validate on frames the model has not seen)")
    return training


def training_files_pixel_size_um(network_pixel_size_um: float | None, dataset_dir, datalist_file, split_seed: int,
                                 val_fraction: float, frame_interval_min: float,
                                 test_oocytes_per_experiment: int = 1) -> float | None:
    """The training files' x-y pixel size (um, median over the files) where the network is to see their crops at
    another one (``network_pixel_size_um``, train.yaml), else None without touching the data: the configs are also
    built without a dataset. The datalist is the one ``ensure_datalist`` gives the run."""
    if network_pixel_size_um is None:
        return None
    from scripts.datalist import load_datalist
    from scripts.resolution import training_pixel_size_um

    datalist = ensure_datalist(dataset_dir, datalist_file, split_seed, val_fraction, frame_interval_min,
                               test_oocytes_per_experiment)
    return training_pixel_size_um(load_datalist(datalist, "training", dataset_dir))


def write_provenance(ckpt_dir: str | os.PathLike, init_weights: str | os.PathLike, dataset_dir: str | os.PathLike,
                     datalist_file: str | os.PathLike, settings: Mapping[str, object],
                     network_pixel_size_um: float | None = None) -> Path:
    """``ckpt_dir/provenance.json``: what a trained or fine-tuned model came from (the starting weights and their sha256, the
    dataset, the number of labelled training / validation frames, the x-y pixel size of the training files, the
    settings), written when the run starts so that the model file beside it is never without it. Evaluating the
    model reads its ``pixel_size_um`` (``scripts.resolution.trained_pixel_size_um``): the weights learnt the lab's
    pixels, or ``network_pixel_size_um`` where the run showed the network its crops resampled to that (train.yaml);
    ``file_pixel_size_um`` keeps the files' own. Returns its path."""
    import datetime
    import json

    from scripts.datalist import load_datalist
    from scripts.resolution import training_pixel_size_um

    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    training_items = load_datalist(datalist_file, "training", dataset_dir)
    file_pixel_size_um = training_pixel_size_um(training_items)  # x-y, median over the training files
    record = {
        "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "init_weights": str(Path(init_weights).resolve()) if init_weights else None,
        "init_weights_sha256": file_sha256(init_weights) if init_weights else None,
        "dataset_dir": str(Path(dataset_dir).resolve()),
        "datalist": str(Path(datalist_file).resolve()),
        "n_training_frames": len(training_items),
        "n_validation_frames": len(load_datalist(datalist_file, "validation", dataset_dir, allow_empty=True)),
        # x-y pixel size the network learnt: the files' (median) or the one their crops were resampled to
        "pixel_size_um": network_pixel_size_um if network_pixel_size_um is not None else file_pixel_size_um,
        "file_pixel_size_um": file_pixel_size_um,
        "settings": {k: v for k, v in settings.items()},
    }
    path = ckpt_dir / "provenance.json"
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=1, default=str) + "\n")
    return path


class BestWeightsSaver:
    """Save the network's weights whenever the validation metric ``metric_name`` improves (higher is better).

    Attach to the evaluator (``validate#handlers``). The file is a plain ``state_dict`` of the unwrapped
    network, loadable with ``torch.load(path, weights_only=True)``. ``best_metric`` / ``best_epoch``
    (trainer epoch of the best validation) are part of :meth:`state_dict`, so a resumed run only
    overwrites the file with a better model.
    """

    def __init__(self, network: torch.nn.Module, path: str | os.PathLike, metric_name: str = "val_mean_dice") -> None:
        self.network = network
        self.path = Path(path)
        self.metric_name = metric_name
        self.best_metric = -float("inf")
        self.best_epoch = -1

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        score = float(engine.state.metrics[self.metric_name])
        if not score > self.best_metric:
            return
        self.best_metric, self.best_epoch = score, int(engine.state.epoch)
        if _is_main_process():
            state = {k: v.detach().cpu().contiguous() for k, v in unwrap(self.network).state_dict().items()}
            save_atomic(state, self.path)
            logger.info(f"saved {self.path}: best {self.metric_name} {score:.4f} at epoch {self.best_epoch}")

    def state_dict(self) -> dict:
        return {"best_metric": self.best_metric, "best_epoch": self.best_epoch}

    def load_state_dict(self, state: Mapping) -> None:
        self.best_metric = float(state["best_metric"])
        self.best_epoch = int(state["best_epoch"])


class LatestCheckpointSaver:
    """Write ``{name: obj.state_dict()}`` for every object in ``save_dict``, plus the trainer it is attached
    to under ``"trainer"``, to ``path`` every ``save_interval`` epochs.

    Attach to the trainer *after* the ValidationHandler (handlers run in list order), so the file holds
    the LR scheduler, best metric and early-stopping state of this epoch's validation. ``path`` is
    overwritten atomically; DDP/DP-wrapped networks are saved unwrapped. The file loads with
    ``torch.load(weights_only=True)``; :class:`TrainerCheckpointLoader` restores it. Entries that are None (an
    option switched off, e.g. the weight average) are left out.
    (The trainer is not in ``save_dict`` because the config builds the trainer from this handler.)
    """

    def __init__(self, path: str | os.PathLike, save_dict: Mapping[str, object], save_interval: int = 1) -> None:
        if save_interval < 1:
            raise ValueError(f"save_interval must be >= 1 epoch, got {save_interval}")
        if TRAINER_KEY in save_dict:
            raise ValueError(f"save_dict must not contain {TRAINER_KEY!r}: the trainer is added by attach()")
        self.path = Path(path)
        self.save_dict = present_objects(save_dict)
        self.save_interval = int(save_interval)

    def attach(self, engine: Engine) -> None:
        engine.add_event_handler(Events.EPOCH_COMPLETED(every=self.save_interval), self)

    def __call__(self, engine: Engine) -> None:
        if not _is_main_process():
            return
        state = {TRAINER_KEY: engine.state_dict()}
        for name, obj in self.save_dict.items():
            obj = unwrap(obj) if isinstance(obj, torch.nn.Module) else obj
            state[name] = obj.state_dict()
        save_atomic(state, self.path)
        logger.info(f"saved resumable checkpoint {self.path} (epoch {engine.state.epoch})")


def present_objects(objects: Mapping[str, object]) -> dict[str, object]:
    """The checkpoint's objects without the None entries (options switched off in the config)."""
    return {name: obj for name, obj in objects.items() if obj is not None}


class TrainerCheckpointLoader(CheckpointLoader):
    """MONAI's ``CheckpointLoader`` that also restores the trainer it is attached to (key ``"trainer"``).

    Loads a :class:`LatestCheckpointSaver` file at the trainer's start: the run continues at the epoch after
    the saved one, with the saved optimizer (learning rate, Adam moments) and the other objects of
    ``load_dict``. ``max_epochs`` stays the configured one, so a resumed run may also train longer.
    Entries of ``load_dict`` that are None (an option switched off) are left out, as the saver leaves them out.
    """

    def attach(self, engine: Engine) -> None:
        self.load_dict = {**present_objects(self.load_dict), TRAINER_KEY: engine}
        super().attach(engine)


class ResumableEarlyStopHandler(EarlyStopHandler):
    """``monai.handlers.EarlyStopHandler`` whose counter and best score are saved and restored with the checkpoint.

    The trainer is usually set after construction (``set_trainer``) because the evaluator that this
    handler is attached to is itself built for the trainer's ValidationHandler. Patience counts
    validations (one every ``val_interval`` epochs).
    """

    def __init__(
        self,
        patience: int,
        score_function: Callable,
        trainer: Engine | None = None,
        min_delta: float = 0.0,
        cumulative_delta: bool = False,
        epoch_level: bool = True,
    ) -> None:
        super().__init__(patience, score_function, trainer, min_delta, cumulative_delta, epoch_level)
        self._pending_state: dict | None = None

    def set_trainer(self, trainer: Engine) -> None:
        super().set_trainer(trainer)
        if self._pending_state is not None:
            self.load_state_dict(self._pending_state)

    def state_dict(self) -> dict:
        if self._handler is None:
            if self._pending_state is None:
                raise RuntimeError("ResumableEarlyStopHandler: call set_trainer() before saving its state")
            return dict(self._pending_state)
        return dict(self._handler.state_dict())

    def load_state_dict(self, state: Mapping) -> None:
        state = dict(state)
        if self._handler is None:
            self._pending_state = state
        else:
            self._handler.load_state_dict(state)


class TimeBudget:
    """End training before an epoch would end past ``minutes`` of wall time (None: no budget).

    Checked after each epoch, once its validation and checkpoint are done (attach it after them): when the epochs
    of this run have taken ``elapsed`` minutes, ``elapsed / epochs`` each, the run stops if one more would end past
    the budget, so the best weights and the resumable checkpoint are those of a finished epoch. The clock starts
    when the trainer starts (a resumed run gets the budget afresh); ``clock`` (seconds, monotonic) is for tests.
    """

    def __init__(self, minutes: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        try:
            self.minutes = None if is_null(minutes) else float(minutes)
        except ValueError:
            self.minutes = math.nan
        if self.minutes is not None and not (math.isfinite(self.minutes) and self.minutes > 0):
            raise ValueError(f"time_budget_min must be a positive number of minutes or null, found {minutes!r}")
        self.clock = clock
        self._start_s: float | None = None
        self._start_epoch = 0

    def attach(self, engine: Engine) -> None:
        if self.minutes is None:
            return
        engine.add_event_handler(Events.STARTED, self._started)
        engine.add_event_handler(Events.EPOCH_COMPLETED, self)

    def _started(self, engine: Engine) -> None:
        self._start_s, self._start_epoch = self.clock(), engine.state.epoch

    def __call__(self, engine: Engine) -> None:
        epochs = engine.state.epoch - self._start_epoch
        elapsed_min = (self.clock() - self._start_s) / 60.0
        stop = epochs > 0 and elapsed_min + elapsed_min / epochs > self.minutes
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            # every rank must stop at the same epoch (or the others wait for it forever): rank 0's clock decides
            nccl = torch.distributed.get_backend() == "nccl"
            flag = torch.tensor([float(stop)], device=torch.device("cuda", torch.cuda.current_device()) if nccl else "cpu")
            torch.distributed.broadcast(flag, src=0)
            stop = bool(flag.item())
        if stop and engine.state.epoch < engine.state.max_epochs:
            logger.info(f"time budget: {epochs} epochs took {elapsed_min:.1f} min; another would end past "
                        f"{self.minutes:g} min (time_budget_min): training ends after epoch {engine.state.epoch}")
            engine.terminate()


def frozen_copy(network: torch.nn.Module) -> torch.nn.Module:
    """A copy of the plain network (unwrapped from DDP / DataParallel) in eval mode without gradients: the start of
    an average of its weights."""
    copied = copy.deepcopy(unwrap(network)).eval()
    for p in copied.parameters():
        p.requires_grad_(False)
    return copied


@torch.no_grad()
def ema_update_(average: torch.nn.Module, network: torch.nn.Module, decay: float) -> None:
    """In place: ``average``'s parameters = decay x themselves + (1 - decay) x ``network``'s; its buffers (batch-norm
    running statistics, with ``norm: batch``) copied from ``network``."""
    network = unwrap(network)
    for a, n in zip(average.parameters(), network.parameters(), strict=True):
        a.mul_(decay).add_(n.detach(), alpha=1.0 - decay)
    for a, n in zip(average.buffers(), network.buffers(), strict=True):
        a.copy_(n)


class WeightAverage:
    """An exponential moving average of the network's weights, updated after every training step (``decay`` per
    step, so it spans about ``1 / (1 - decay)`` steps); decay 0 switches it off.

    Why: with strong augmentation (shot noise) or few labels the validation Dice of the live weights swings from one
    validation to the next, and the best-weights file keeps whichever step happened to validate well. The average
    (Polyak averaging, as the mean teacher's EMA) removes those swings; it does not stop a decline that the data
    cause (both measured: docs/README.md, "Generalization" and "Adapting the model"). In train.yaml the validator,
    the best-weights saver and the early stopping see :attr:`network` (the average when on, the live network when
    off), and the resumable checkpoint holds the average under ``weight_average``. Attach it to the trainer.
    """

    def __init__(self, network: torch.nn.Module, decay: float = 0.0) -> None:
        try:
            self.decay = float(decay)
        except (TypeError, ValueError):
            self.decay = math.nan
        if not 0.0 <= self.decay < 1.0:
            raise ValueError(f"weight_average_decay must be in [0, 1) (0: off; e.g. 0.98 averages ~50 steps), "
                             f"found {decay!r}")
        if self.enabled:
            self.network = frozen_copy(network)
        else:
            self.network = network  # validation and the best weights use the live network, as without this class

    @property
    def enabled(self) -> bool:
        return self.decay > 0.0

    def attach(self, engine: Engine) -> None:
        if self.enabled:
            engine.add_event_handler(Events.ITERATION_COMPLETED, self)

    def __call__(self, engine: Engine) -> None:
        ema_update_(self.network, engine.network, self.decay)

    def checkpoint_object(self) -> torch.nn.Module | None:
        """What the resumable checkpoint holds of it: the averaged network, or None (left out) when off."""
        return self.network if self.enabled else None


class PatchFitsd(MapTransform):
    """Refuse a frame smaller than the training patch, naming the file, the sizes and the settings to change.

    Patch mode samples ``patch_size`` (x, y, z voxels) patches from the cropped, padded frame; from a smaller frame
    MONAI's sampler fails with a message that names neither the frame nor ``patch_size``. Passes the data through.
    """

    def __init__(self, keys: str | Sequence[str], patch_size: Sequence[int], allow_missing_keys: bool = False) -> None:
        super().__init__(keys, allow_missing_keys)
        self.patch_size = [int(n) for n in patch_size]

    def __call__(self, data: Mapping) -> Mapping:
        for key in self.key_iterator(data):
            shape = [int(n) for n in data[key].shape[1:]]
            if any(n < p for n, p in zip(shape, self.patch_size, strict=True)):
                meta = getattr(data[key], "meta", {})
                raise ValueError(f"{meta.get('filename_or_obj', key)} (frame {data.get('frame')}): the cropped frame "
                                 f"(x, y, z) = {tuple(shape)} voxels is smaller than patch_size "
                                 f"{tuple(self.patch_size)}: set --patch_size to at most the frame's size (multiples "
                                 "of 16, 16, 2) or train on whole crops (--patch_mode false)")
        return data
