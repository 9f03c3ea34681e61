"""Guard rails for ``python -m monai.bundle run ...``: misspelt settings refused, the actionable error printed last.

The configs call ``guard_command_line()`` first thing in ``initialize``. Only in a process started as the MONAI
bundle command line (``python -m monai.bundle run|run_workflow ...``, also under torchrun) does it do anything:

- every ``--name value`` on the command line must name a setting of the config files given (or one of
  ``monai.bundle run``'s own arguments, or with ``--tracking`` one of the settings tracking adds, such as
  ``--tracking_uri``): MONAI adds unknown names silently, so ``--chanel 0`` used to run on
  channel 1 and ``--dataset_dri X`` on the demo data. An unknown name stops the run with the nearest valid names.
- ``--tracking mlflow`` without the optional MLflow packages stops the run before any work, saying how to install
  them (``scripts.tracking.require_mlflow``).
  Values that would fail deep inside the run with a message that does not name them are refused up front: a
  crop, patch or spacing without 3 values, a negative or non-integer channel, ``--device cuda`` without a GPU.
- an exception that ends the run prints its full traceback as usual, then, as the LAST lines, the message of the
  error that caused it (MONAI wraps every failure in ``RuntimeError: Failed to evaluate ConfigExpression`` after up
  to hundreds of traceback lines; the message that says which file and what to do was buried in the middle).
"""

from __future__ import annotations

import ast
import difflib
import re
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

# monai.bundle run's own arguments (not config settings)
RUN_ARGUMENTS = ("config_file", "meta_file", "logging_file", "run_id", "init_id", "final_id", "tracking", "args_file",
                 "workflow_name", "workflow_type", "properties_path")  # the last three: run_workflow's
_RUN_COMMANDS = ("run", "run_workflow")


class UnknownSettingError(ValueError):
    """A command-line ``--name`` that is no setting of the configs (a typo would otherwise be ignored)."""


def started_from_the_bundle_cli(argv: Sequence[str] | None = None) -> bool:
    """True in a process started as ``python -m monai.bundle run ...`` (not in tests or other callers)."""
    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] not in _RUN_COMMANDS:
        return False
    main = Path(argv[0])
    return main.name == "__main__.py" and main.parent.name == "bundle" and main.parent.parent.name == "monai"


def command_line_settings(argv: Sequence[str]) -> dict[str, str | None]:
    """``{name: value}`` of the ``--name value`` / ``--name=value`` pairs of a command line (value None for a flag)."""
    settings: dict[str, str | None] = {}
    tokens = list(argv)
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token.startswith("--") and len(token) > 2:
            name, equals, value = token[2:].partition("=")
            if not equals and i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
                value = tokens[i + 1]
                i += 1
            settings[name] = value if (equals or value) else None
        i += 1
    return settings


def _config_files(value: str) -> list[str]:
    value = value.strip()
    if value.startswith("["):
        return [str(f) for f in ast.literal_eval(value)]
    return [f.strip() for f in value.split(",") if f.strip()]


def check_settings(names: Sequence[str], known: Sequence[str], config_files: Sequence[str]) -> None:
    """Raise ``UnknownSettingError`` for a name (its first ``#`` / ``::`` part) that is neither a key of the
    configs (``known``) nor a ``monai.bundle run`` argument, naming the closest valid settings."""
    valid = set(known) | set(RUN_ARGUMENTS)
    for name in names:
        top = name.replace("::", "#").split("#")[0]
        if top in valid:
            continue
        close = difflib.get_close_matches(top, sorted(valid), n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join('--' + c for c in close)}?" if close else ""
        raise UnknownSettingError(
            f"unknown setting --{name}: it is not a setting of {', '.join(config_files)}{hint} MONAI would ignore it "
            f"and run with the default (e.g. a misspelt --channel runs on channel 1). The settings are the names at "
            f"the top of the config files")


class SettingValueError(ValueError):
    """A command-line value that cannot work (e.g. a 2-value crop size, a GPU on a machine without one)."""


# settings that take one value per axis (x, y, z), and what each means
_THREE_VALUES = {
    "crop_size": "'[352,352,-1]' (voxels; -1 keeps every z slice)",
    "patch_size": "'[128,128,32]' (voxels)",
    "default_spacing_um": "'[0.17,0.17,2.0]' (um)",
}


def _literal(value: str | None):
    try:
        return ast.literal_eval(value) if value is not None else None
    except (ValueError, SyntaxError):
        return value  # a plain string such as cpu or labelled


def check_values(settings: dict[str, str | None]) -> None:
    """Refuse command-line values that would fail deep inside the run with a message that does not name them."""
    for name, example in _THREE_VALUES.items():
        if name in settings:
            value = _literal(settings[name])
            if not (isinstance(value, (list, tuple)) and len(value) == 3
                    and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
                raise SettingValueError(f"--{name} {settings[name]}: expected 3 numbers (x, y, z), e.g. --{name} {example}")
    for name, what in (("channel", "the microtubule channel's index"), ("dna_channel", "the DNA channel's index"),
                       ("amtoc_channel", "the aMTOC channel's index (or null: none)")):
        if name in settings:
            value = _literal(settings[name])
            if name == "amtoc_channel" and value in (None, "null", "None"):
                continue
            if not (isinstance(value, int) and not isinstance(value, bool) and value >= 0):
                raise SettingValueError(f"--{name} {settings[name]}: expected {what}, an integer from 0 (channels "
                                        "count from 0 in the order of the file)")
    if "baseline_method" in settings and str(settings["baseline_method"]).strip().lower() not in ("spindle3d", "otsu"):
        raise SettingValueError(f"--baseline_method {settings['baseline_method']}: expected spindle3d (Spindle3D's "
                                "method, needs the DNA channel) or otsu (tubulin channel only)")
    device = str(_literal(settings.get("device")) or "")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise SettingValueError(f"--device {device}: PyTorch sees no CUDA GPU on this machine (torch "
                                    f"{torch.__version__}); leave --device out to run on the CPU")


def tracking_settings(tracking: str) -> list[str]:
    """The settings that ``--tracking NAME`` adds to the configs (``tracking_uri``, ``experiment_name``, ``run_name``
    ... for MONAI's mlflow; the top-level ``configs`` of a tracking settings file), which may be given as --name."""
    from monai.bundle import ConfigParser
    from monai.bundle.utils import DEFAULT_EXP_MGMT_SETTINGS

    if tracking in DEFAULT_EXP_MGMT_SETTINGS:
        settings = DEFAULT_EXP_MGMT_SETTINGS[tracking]
    else:
        try:
            settings = ConfigParser.load_config_files(tracking)
        except Exception:  # monai.bundle reports an unreadable settings file itself
            return []
    return [str(k) for k in settings.get("configs", {})]


def check_command_line(argv: Sequence[str] | None = None) -> None:
    """Refuse command-line names that no config file given defines (``check_settings``), values that cannot work
    (``check_values``) and ``--tracking mlflow`` without mlflow installed; bundle CLI only."""
    from monai.bundle import ConfigParser

    argv = list(sys.argv if argv is None else argv)
    if not started_from_the_bundle_cli(argv):
        return
    settings = command_line_settings(argv[2:])
    files = _config_files(settings.get("config_file") or "")
    if not files:
        return  # monai.bundle reports the missing --config_file itself
    known = list(ConfigParser.load_config_files(files))
    tracking = settings.get("tracking")
    if tracking:
        known += tracking_settings(tracking)
    check_settings([n for n in settings if n not in RUN_ARGUMENTS], known, files)
    check_values(settings)
    if tracking == "mlflow":
        from scripts.tracking import require_mlflow

        require_mlflow()


PLUGIN_DIR = Path(__file__).resolve().parent


def _raised_by_the_plugin(error: BaseException) -> bool:
    """Whether ``error`` was raised in this plugin's code (whose messages are written for the user)."""
    tb = error.__traceback__
    if tb is None:
        return False
    while tb.tb_next is not None:
        tb = tb.tb_next
    return Path(tb.tb_frame.f_code.co_filename).resolve().parent == PLUGIN_DIR


def root_cause(error: BaseException) -> BaseException:
    """The exception of ``error``'s chain (``raise ... from`` or raised while handling another) that says what went
    wrong: the outermost one raised in this plugin's code (the message written for the user; what it wraps, such as
    int()'s ValueError or torch's RuntimeError, is a detail, and what wraps it is MONAI's "Failed to evaluate"),
    else the innermost one."""
    chain, seen = [error], {id(error)}
    while True:
        nxt = chain[-1].__cause__ or (None if chain[-1].__suppress_context__ else chain[-1].__context__)
        if nxt is None or id(nxt) in seen:
            break
        seen.add(id(nxt))
        chain.append(nxt)
    ours = [e for e in chain if _raised_by_the_plugin(e)]
    return ours[0] if ours else chain[-1]


# an exception line of a printed traceback: "scripts.io.SpindleDataError: <message>" (not indented)
_EXCEPTION_LINE = re.compile(r"^((?:[A-Za-z_]\w*\.)*[A-Za-z_]\w*(?:Error|Exception)): (.+)$")


def readable_error(error: BaseException) -> str:
    """The lines to end the output with: what went wrong, in the words of the error that caused the failure.

    An error in a DataLoader worker reaches the main process as a RuntimeError whose message is the worker's
    printed traceback; there the first exception line of that text (the innermost error of the chain) is used.
    """
    cause = root_cause(error)
    kind, message = type(cause).__name__, str(cause).strip() or type(cause).__name__
    if "Original Traceback" in message:
        found = [m for m in map(_EXCEPTION_LINE.match, message.splitlines()) if m]
        if found:
            kind, message = found[0].group(1).rsplit(".", 1)[-1], found[0].group(2)
    return f"{'=' * 100}\nERROR ({kind}; the full traceback is above):\n{message}"


def _print_traceback_then_error(kind, error, tb) -> None:
    traceback.print_exception(kind, error, tb)
    if not isinstance(error, KeyboardInterrupt):
        print(readable_error(error), file=sys.stderr, flush=True)


def install_readable_errors() -> None:
    """Make an exception that ends the process print its traceback, then the causing error's message last."""
    sys.excepthook = _print_traceback_then_error


def guard_command_line() -> None:
    """What the configs run first in ``initialize``: readable errors, then the command line's names checked."""
    if started_from_the_bundle_cli():
        install_readable_errors()
        check_command_line()
