"""Experiment tracking with MLflow: ``monai.bundle run evaluating ... --tracking mlflow`` logs the evaluation.

MONAI's ``--tracking mlflow`` appends an ``MLFlowHandler`` to the evaluator's handlers (the config id ``handlers``)
and adds the settings ``tracking_uri`` (default: a SQLite file ``<output_dir>/mlruns.db``, artifacts under
``<output_dir>/mlruns``), ``experiment_name``, ``run_name`` and ``save_execute_config`` where the config lacks them.
That handler logs the engine's metrics, but the evaluation's results are computed by
``scripts.reports.write_reports`` AFTER the evaluator has run, so on its own it would log none. The ``evaluating``
list of configs/inference.yaml therefore calls, around the evaluator and the reports:

- ``keep_run_open(handlers)`` before the evaluator runs: the handler leaves its MLflow run open when the evaluator
  completes (MONAI's default settings close it there), so that the summary goes into the same run;
- ``log_evaluation(handlers, output_dir, params)`` after ``write_reports``: into that run (or a new run with the
  handler's tracking URI, experiment and run name, when the evaluator did not run, e.g. every oocyte was finished
  by an earlier run), the summary metrics of ``summary.json`` (every method, every experiment and ``ALL``), the
  run's settings as params, and the reports as artifacts (not the masks, which are large); then it closes the run.

Both do nothing when no ``MLFlowHandler`` is among the handlers: tracking is off, or this is a torchrun process of
rank > 0 (MONAI's settings disable the handler there). mlflow is optional: this module imports it only when
tracking is on, and ``require_mlflow`` (called by ``scripts.cli`` for ``--tracking mlflow``) says how to install it.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from scripts.reports import ALL_EXPERIMENTS, SUMMARY_COLUMNS

logger = logging.getLogger(__name__)

REQUIREMENTS_FILE = "requirements-mlflow.txt"
# what the local SQLite store (MONAI's default tracking_uri) needs besides mlflow itself
_TRACKING_MODULES = ("mlflow", "sqlalchemy", "alembic")
# the reports logged as artifacts (names in the output folder); masks/ and oocytes/ stay out
REPORT_FILES = ("volumes.csv", "summary_per_oocyte.csv", "summary_per_experiment.csv", "summary.json")
REPORT_FOLDERS = ("plots", "qc")
# the numeric columns of a summary row, logged as metrics
METRIC_COLUMNS = tuple(c for c in SUMMARY_COLUMNS if c not in ("method", "experiment", "oocyte"))
_MAX_METRICS_PER_BATCH = 1000  # MLflow's limits for one log_batch call
_MAX_PARAMS_PER_BATCH = 100


class TrackingDependencyError(ImportError):
    """``--tracking mlflow`` without the optional MLflow packages."""


def require_mlflow() -> None:
    """Raise ``TrackingDependencyError`` (one line: what is missing and the install command) unless MLflow and its
    local SQLite store can be imported."""
    missing = []
    for name in _TRACKING_MODULES:
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    if missing:
        raise TrackingDependencyError(
            f"--tracking mlflow needs MLflow, and {', '.join(missing)} cannot be imported in this Python: "
            f"pip install -r {REQUIREMENTS_FILE} (in the project's root folder), or run without --tracking")


def mlflow_handlers(handlers: Iterable[Any] | None) -> list[Any]:
    """The ``MLFlowHandler``s among an engine's handlers (none: tracking is off or disabled in this process)."""
    try:
        from monai.handlers import MLFlowHandler
    except ImportError:  # pragma: no cover - monai always has it; it imports mlflow lazily
        return []
    return [h for h in handlers or () if isinstance(h, MLFlowHandler)]


def keep_run_open(handlers: Iterable[Any] | None) -> None:
    """Before the evaluator is built: its MLflow handlers leave their run open when it completes, so that
    ``log_evaluation`` adds the summary to the same run (and closes it). No handler: nothing to do."""
    for handler in mlflow_handlers(handlers):
        handler.close_on_complete = False


def metric_name(*parts: str) -> str:
    """An MLflow-legal metric or param name: the parts joined by '/', every character other than letters, digits,
    ``_ - . space`` replaced by '_' (experiment names are folder names; '.' and '..' parts would not be legal)."""
    clean = []
    for part in parts:
        part = re.sub(r"[^A-Za-z0-9_\-. ]", "_", str(part)).strip()
        clean.append(part if part.strip(".") else "_")
    return "/".join(clean)


def summary_metrics(summary: Mapping[str, Any]) -> dict[str, float]:
    """``{"<method>/<experiment>/<column>": value}`` of ``summary.json``'s per-experiment rows (experiment ``ALL``
    pools every frame), numeric columns only, without the empty (NaN) ones."""
    metrics: dict[str, float] = {}
    for row in summary.get("per_experiment", []):
        for column in METRIC_COLUMNS:
            value = row.get(column)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                name = metric_name(row["method"], row["experiment"] or ALL_EXPERIMENTS, column)
                if name in metrics:
                    logger.warning(f"MLflow metric {name}: two experiments share this name once made MLflow-legal; "
                                   "only the first is logged")
                    continue
                metrics[name] = float(value)
    return metrics


def param_value(value: Any) -> str:
    """A setting as an MLflow param value: strings as they are, anything else as JSON (lists, null, true)."""
    return value if isinstance(value, str) else json.dumps(value, default=str)


def bundle_version(bundle_root: str | Path) -> str:
    """The bundle's version from ``<bundle_root>/configs/metadata.json`` ("" when it cannot be read)."""
    try:
        return str(json.loads((Path(bundle_root) / "configs" / "metadata.json").read_text())["version"])
    except (OSError, ValueError, KeyError):
        return ""


def run_params(output_dir: str | Path, params: Mapping[str, Any]) -> dict[str, str]:
    """The params to log: ``params`` (the config's run settings, model path, bundle version ...) as MLflow-legal
    names and strings, plus the SHA-256 of the weights that produced the folder's results (its ``model.json``)."""
    logged = {metric_name(k): param_value(v) for k, v in params.items()}
    try:
        sha = json.loads((Path(output_dir) / "model.json").read_text()).get("sha256")
    except (OSError, ValueError):
        sha = None
    if sha:
        logged["model_sha256"] = sha
    return logged


def _open_run(handler: Any) -> Any:
    """The handler's run, or a new one in its experiment (as its ``start`` would create it) when it has none."""
    if handler.cur_run is None:
        handler._set_experiment()  # the handler's own way to get (or create) its experiment
        run_name = handler.run_name or f"run_{time.strftime('%Y%m%d_%H%M%S')}"
        handler.cur_run = handler.client.create_run(experiment_id=handler.experiment.experiment_id, run_name=run_name)
    return handler.cur_run


# "<output_dir> + '/config_<time>.json'": MONAI 1.6.1 (patch_bundle_tracking) builds the executed config's path by
# appending that text to the output_dir setting, an expression only when output_dir is one; a plain path (what
# --output_dir gives) leaves a literal string that names no file, so the handler logs no config
_LITERAL_CONFIG_PATH = re.compile(r"^(?P<folder>.+) \+ '/(?P<name>[^'/]+)'$")


def executed_configs(handler: Any) -> list[Path]:
    """The executed config file(s) that MONAI saved for this run (``save_execute_config``), also where MONAI's
    path is the literal ``"<output_dir> + '/config_<time>.json'"`` (``_LITERAL_CONFIG_PATH``)."""
    files = []
    for artifact in handler.artifacts:
        if not artifact:
            continue
        path = Path(str(artifact))
        match = _LITERAL_CONFIG_PATH.match(str(artifact))
        if not path.is_file() and match:
            path = Path(match["folder"]) / match["name"]
        if path.is_file():
            files.append(path)
    return files


def _batches(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    return (items[i:i + size] for i in range(0, len(items), size))


def log_evaluation(handlers: Iterable[Any] | None, output_dir: str | Path, params: Mapping[str, Any]) -> str | None:
    """After ``write_reports``: log the evaluation into each MLflow handler's run, then close it; return the run id
    (None when tracking is off, i.e. no ``MLFlowHandler`` among ``handlers``).

    Metrics: ``summary_metrics`` of ``output_dir/summary.json`` (step 0). Params: ``run_params`` (a param the run
    already holds is left as it is: MLflow params cannot change). Artifacts: ``REPORT_FILES`` at the top, the
    ``plots/`` and ``qc/`` PNGs in folders of the same names, and MONAI's executed config (``executed_configs``).
    """
    run_id = None
    for handler in mlflow_handlers(handlers):
        from mlflow.entities import Metric, Param

        client = handler.client
        run_id = _open_run(handler).info.run_id
        output_dir = Path(output_dir)
        summary = json.loads((output_dir / "summary.json").read_text())
        now = int(time.time() * 1000)
        metrics = [Metric(k, v, now, 0) for k, v in summary_metrics(summary).items()]
        held = client.get_run(run_id).data.params
        new_params = {}
        for k, v in run_params(output_dir, params).items():
            if k not in held:
                new_params[k] = v
            elif held[k] != v:
                logger.warning(f"MLflow run {run_id} already holds param {k}={held[k]!r}; not logged again as {v!r}")
        for batch in _batches(metrics, _MAX_METRICS_PER_BATCH):
            client.log_batch(run_id, metrics=batch)
        for batch in _batches([Param(k, v) for k, v in new_params.items()], _MAX_PARAMS_PER_BATCH):
            client.log_batch(run_id, params=batch)
        for name in REPORT_FILES:
            if (output_dir / name).is_file():
                client.log_artifact(run_id, str(output_dir / name))
        for name in REPORT_FOLDERS:
            if (output_dir / name).is_dir() and any((output_dir / name).iterdir()):
                client.log_artifacts(run_id, str(output_dir / name), artifact_path=name)
        for path in executed_configs(handler):
            client.log_artifact(run_id, str(path))
        logger.info(f"MLflow: {len(metrics)} metrics, {len(new_params)} params and the reports logged to run "
                    f"{run_id} of experiment {handler.experiment_name!r} ({client.tracking_uri})")
        handler.close()  # FINISHED, and the SQLite store released
    return run_id
