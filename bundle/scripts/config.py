"""Small helpers the configs call on their parameters: command-line switches and the bundle's own folder."""

from __future__ import annotations

from pathlib import Path

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def as_bool(value: object) -> bool:
    """A config switch as a bool. ``monai.bundle run --patch_mode false`` hands the config the *string* 'false'
    (truthy in Python); this accepts bools, 0/1 and the strings true/false, yes/no, on/off (any case)."""
    if isinstance(value, (bool, int)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ValueError(f"expected a switch (true/false), found {value!r}")


def choice(value: object, allowed: tuple[str, ...], name: str) -> str:
    """A config setting that takes one of a few words (any case); a clear error naming the setting otherwise."""
    word = str(value).strip().lower()
    if word not in allowed:
        raise ValueError(f"{name} must be one of {', '.join(allowed)}; found {value!r}")
    return word


def bundle_root() -> str:
    """The bundle folder (the one holding configs/, models/ and this plugin), wherever the command runs from.

    The configs' default ``bundle_root``: MONAI's convention "." only works from inside the bundle, and a config
    cannot know its own file's location, but the plugin it imports can. ``--bundle_root DIR`` still overrides it.
    """
    return str(Path(__file__).resolve().parent.parent)


# the bundle's shipped models: each a folder of model.pt, provenance.json, model_int8.xml / .bin, band_calibration.json
SHIPPED_MODELS = {"standard": "models", "fast": "models/fast"}


def shipped_model_dir(root: str | Path, model: object) -> str:
    """The folder of the shipped model the ``model`` setting names, under the bundle folder ``root``: ``standard``
    (models/, six networks) or ``fast`` (models/fast/, two of the six: a third of the compute, for CPUs that cannot
    keep up with the six; docs/README.md, "The fast model")."""
    return str(Path(root) / SHIPPED_MODELS[choice(model, tuple(SHIPPED_MODELS), "model")])


def required_dataset_dir(value: object) -> Path:
    """The ``dataset_dir`` setting as a path; a clear error when it was not given.

    The configs have no default dataset: a default pointing at the demo data made a run with a misspelt or
    forgotten ``--dataset_dir`` evaluate the demo instead, and exit 0.
    """
    if value is None or not str(value).strip():
        raise ValueError("no dataset given: pass --dataset_dir DIR, the folder with gvbd.csv and EXPERIMENT/OOCYTE.tif "
                         "(or EXPERIMENT/OOCYTE/t0000.tif) files; `make demo` generates one and shows the whole run")
    return Path(str(value))


def is_null(value: object) -> bool:
    """Whether a config or command-line value means "none": None, or the strings "", null, none (any case)."""
    return value is None or str(value).strip().lower() in ("", "null", "none")


def optional_index(value: object) -> int | None:
    """An optional channel index from a config or the command line: None for null / None / "" (the data have no such
    channel), else the integer."""
    if is_null(value):
        return None
    return int(value)


def optional_probability(value: object, name: str) -> float | None:
    """An optional probability in (0, 0.5) from a config or the command line; None for null / None / ""."""
    if is_null(value):
        return None
    number = float(value)
    if not 0.0 < number < 0.5:
        raise ValueError(f"{name} must lie between 0 and 0.5 (or be null), found {value!r}")
    return number


def _number_or_nan(value: object) -> float:
    """A config or command-line value (on the command line a string) as a float; NaN where it is none, so that
    every range check refuses it."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def optional_positive(value: object, name: str) -> float | None:
    """An optional positive number from a config or the command line; None for null / None / ""."""
    if is_null(value):
        return None
    number = _number_or_nan(value)
    if not number > 0.0:  # NaN fails too
        raise ValueError(f"{name} must be a positive number (or null), found {value!r}")
    return number


def fraction(value: object, name: str) -> float:
    """A fraction in [0, 1] from a config or the command line (where it arrives as a string)."""
    number = _number_or_nan(value)
    if not 0.0 <= number <= 1.0:  # NaN fails too
        raise ValueError(f"{name} must lie between 0 and 1, found {value!r}")
    return number


def loader_workers(value: object, device, heavy_loader: bool = False) -> int:
    """The data loader's worker processes for the ``num_workers`` setting: a count (0 = load in the main process),
    or ``auto``: 1 on a GPU, or when the loader itself is heavy (``heavy_loader``: the classical baseline computed
    beside each frame's loading), else 0.

    Why 0 on a CPU: the forward pass there runs on every core (OpenVINO's or PyTorch's threads wait for each other
    at every layer), so a worker reading the next frame meanwhile stalls both threads, not one. Reading the frame
    between two forward passes, while the previous frame is recorded on the other core, measured 1.03-1.11x the
    frames/s of a loader process (OpenVINO bf16, 2-core Xeon, house phantom oocytes; benchmarks/runtime_pipeline.py).
    """
    import torch

    if str(value).strip().lower() == "auto":
        return 1 if torch.device(device).type == "cuda" or heavy_loader else 0
    try:
        count = int(str(value).strip())
    except ValueError:
        count = -1
    if count < 0:
        raise ValueError(f"num_workers must be auto or a count of loader processes (0 = the main process), found {value!r}")
    return count


def local_device():
    """This process's device under torchrun: where CUDA is available, GPU LOCAL_RANK modulo the number of GPUs (so
    several evaluating processes may share one GPU), else the CPU.

    Why share: on a GPU the network takes ~5 ms of a frame and the CPU work around it (reading, standardisation,
    inversion to the full frame, recording) the rest, on one process's few threads; N processes per GPU run N
    oocytes' CPU work side by side. Training keeps one process per GPU (multi_gpu_train.yaml: DDP's NCCL
    refuses two ranks on one GPU).
    """
    import os

    import torch

    if torch.cuda.is_available():
        return torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0)) % torch.cuda.device_count()}")
    return torch.device("cpu")
