"""Experiment tracking: `run evaluating ... --tracking mlflow` logs the summary metrics, the run's settings and the
reports into one MLflow run (scripts/tracking.py), and without mlflow the run stops saying how to install it.

The MLflow tests are skipped when mlflow is not installed (it is optional: pip install -r requirements-mlflow.txt).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import BUNDLE_DIR, bundle_configs
from monai.bundle import run as bundle_run
from scripts.cli import UnknownSettingError, check_command_line, readable_error
from scripts.tracking import (
    TrackingDependencyError,
    keep_run_open,
    log_evaluation,
    metric_name,
    require_mlflow,
    summary_metrics,
)

EVALUATE = bundle_configs("inference", "evaluate")
MONAI_MAIN = "/venv/lib/python3.11/site-packages/monai/bundle/__main__.py"  # what sys.argv[0] looks like there
INSTALL_HINT = "pip install -r requirements-mlflow.txt"


def run_tracked(dataset_dir, output_dir, model_path, **overrides):
    """The `evaluating` run in-process with --tracking mlflow, crop shrunk to the phantom, the fast baseline."""
    settings = {"dataset_dir": str(dataset_dir), "output_dir": str(output_dir), "model_path": str(model_path),
                "crop_size": [48, 48, -1], "num_workers": 0, "montage_tiles": 2, "progress_bar": False,
                "baseline_method": "otsu", "precision": "fp32"}
    settings.update(overrides)
    bundle_run(run_id="evaluating", config_file=EVALUATE, tracking="mlflow", **settings)


def sqlite_uri(path: Path) -> str:
    from monai.utils import path_to_sqlite_uri

    return path_to_sqlite_uri(str(path))


@pytest.fixture(scope="module")
def tracked(tiny_phantom, random_model, tmp_path_factory):
    """(output folder, MLflow client of its default store) of one tracked evaluation."""
    mlflow = pytest.importorskip("mlflow", reason="mlflow is optional: pip install -r requirements-mlflow.txt")
    out = tmp_path_factory.mktemp("tracked")
    run_tracked(tiny_phantom, out, random_model)
    return out, mlflow.MlflowClient(tracking_uri=sqlite_uri(out / "mlruns.db"))


def runs_of(client, experiment_name: str = "monai_experiment"):
    experiment = client.get_experiment_by_name(experiment_name)
    assert experiment is not None, f"no MLflow experiment {experiment_name!r}"
    return client.search_runs([experiment.experiment_id], order_by=["attribute.start_time ASC"])


def artifact_paths(client, run_id: str, path: str | None = None) -> set[str]:
    found = set()
    for info in client.list_artifacts(run_id, path):
        found.add(info.path)
        if info.is_dir:
            found |= artifact_paths(client, run_id, info.path)
    return found


def test_one_run_holds_the_summary_metrics_settings_and_reports(tracked, random_model):
    out, client = tracked
    runs = runs_of(client)
    assert len(runs) == 1
    run = runs[0]
    assert run.info.status == "FINISHED"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["methods"] == ["network", "baseline"]
    # metrics: every numeric column of every per-experiment row (exp1 and ALL) of both methods, equal to summary.json
    expected = summary_metrics(summary)
    metrics = run.data.metrics
    assert {k: v for k, v in metrics.items() if "/" in k} == pytest.approx(expected)
    rows = {(r["method"], r["experiment"]): r for r in summary["per_experiment"]}
    assert set(rows) == {("network", "exp1"), ("network", "ALL"), ("baseline", "exp1"), ("baseline", "ALL")}
    assert metrics["network/ALL/mean_dice"] == pytest.approx(rows["network", "ALL"]["mean_dice"])
    assert metrics["baseline/exp1/median_abs_rel_volume_error"] == pytest.approx(
        rows["baseline", "exp1"]["median_abs_rel_volume_error"])
    assert metrics["network/ALL/n_frames"] == 8
    # params: run_settings, the model, the bundle version
    params = run.data.params
    version = json.loads((BUNDLE_DIR / "configs" / "metadata.json").read_text())["version"]
    assert params["bundle_version"] == version
    assert params["model_path"] == str(random_model)
    assert params["model_sha256"] == json.loads((out / "model.json").read_text())["sha256"]
    assert params["crop_size"] == "[48, 48, -1]" and params["channel"] == "1" and params["precision"] == "fp32"
    assert params["reference_masks"] == "true" and json.loads(params["baseline"])[0] == "otsu"
    # artifacts: the tables, plots and QC montages (and MONAI's executed config), never the masks
    artifacts = artifact_paths(client, run.info.run_id)
    assert {"volumes.csv", "summary.json", "summary_per_oocyte.csv", "summary_per_experiment.csv",
            "plots/exp1_oocyte01.png", "plots/exp1_oocyte02.png", "qc/exp1_oocyte01.png"} <= artifacts
    assert any(a.startswith("config_") and a.endswith(".json") for a in artifacts)
    assert not any(a.startswith(("masks", "oocytes")) or a.endswith(".tif") for a in artifacts)


def test_a_rerun_with_nothing_left_to_evaluate_still_logs_a_run_of_its_own(tracked, tiny_phantom, random_model):
    out, client = tracked
    run_tracked(tiny_phantom, out, random_model, run_name="resumed", experiment_name="spindle")
    runs = runs_of(client, "spindle")
    assert [r.info.run_name for r in runs] == ["resumed"] and runs[0].info.status == "FINISHED"
    summary = json.loads((out / "summary.json").read_text())
    assert runs[0].data.metrics["network/ALL/mean_dice"] == pytest.approx(summary_metrics(summary)["network/ALL/mean_dice"])
    assert "summary.json" in artifact_paths(client, runs[0].info.run_id)
    assert len(runs_of(client)) == 1  # the first experiment is untouched


def test_without_an_mlflow_handler_nothing_is_logged(tmp_path):
    handlers = [object()]
    keep_run_open(handlers)
    assert log_evaluation(handlers, tmp_path, {"channel": 1}) is None  # tracking off, or a torchrun rank > 0
    assert not any(tmp_path.iterdir())


def test_metric_names_are_mlflow_legal():
    assert metric_name("network", "ALL", "mean_dice") == "network/ALL/mean_dice"
    assert metric_name("network", "exp#1 (día 2)", "mae_um3") == "network/exp_1 _d_a 2_/mae_um3"
    assert metric_name("baseline", "..", "n_frames") == "baseline/_/n_frames"


# ---------------------------------------------------------------------------------------------------- without mlflow
def test_tracking_settings_are_known_on_the_command_line_only_with_tracking(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # `import mlflow` fails, as when it is not installed
    argv = [MONAI_MAIN, "run", "evaluating", "--config_file", repr(EVALUATE), "--dataset_dir", "d"]
    with pytest.raises(UnknownSettingError, match=r"--tracking_uri"):
        check_command_line([*argv, "--tracking_uri", "sqlite:///x.db"])
    with pytest.raises(UnknownSettingError, match=r"--tracking_url: .*did you mean --tracking_uri"):
        check_command_line([*argv, "--tracking", "mlflow", "--tracking_url", "sqlite:///x.db"])
    with pytest.raises(TrackingDependencyError):  # the names pass; then mlflow is missing
        check_command_line([*argv, "--tracking", "mlflow", "--tracking_uri", "sqlite:///x.db", "--experiment_name",
                            "e", "--run_name", "r"])


def test_tracking_without_mlflow_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)
    with pytest.raises(TrackingDependencyError) as raised:
        require_mlflow()
    lines = readable_error(raised.value).splitlines()
    assert INSTALL_HINT in lines[-1] and "mlflow" in lines[-1] and "TrackingDependencyError" in lines[-2]


def test_the_command_line_without_mlflow_stops_before_any_work_with_the_install_command(random_model, tmp_path):
    """`run evaluating ... --tracking mlflow` in a Python where mlflow cannot be imported (a stand-in package on
    PYTHONPATH that raises ImportError): the last line of the output is the install command."""
    fake = tmp_path / "no_mlflow" / "mlflow"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ModuleNotFoundError(\"No module named 'mlflow'\", name='mlflow')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake.parent), str(BUNDLE_DIR)])}
    command = [sys.executable, "-m", "monai.bundle", "run", "evaluating", "--config_file", repr(EVALUATE),
               "--dataset_dir", str(tmp_path / "data"), "--output_dir", str(tmp_path / "out"),
               "--model_path", str(random_model), "--tracking", "mlflow"]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert INSTALL_HINT in last and last.startswith("--tracking mlflow needs MLflow"), result.stderr[-2000:]
    assert not (tmp_path / "out" / "volumes.csv").exists()


@pytest.mark.slow
def test_two_torchrun_processes_log_one_run_from_rank_0(tiny_phantom, random_model, tmp_path):
    mlflow = pytest.importorskip("mlflow", reason="mlflow is optional: pip install -r requirements-mlflow.txt")
    env = {**os.environ, "PYTHONPATH": str(BUNDLE_DIR), "OMP_NUM_THREADS": "1"}
    configs = repr(bundle_configs("inference", "evaluate", "multi_gpu_evaluate"))
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_port=29547",
               "-m", "monai.bundle", "run", "evaluating", "--config_file", configs,
               "--dataset_dir", str(tiny_phantom), "--output_dir", str(tmp_path / "out"),
               "--model_path", str(random_model), "--crop_size", "[48,48,-1]", "--num_workers", "0",
               "--progress_bar", "false", "--baseline_method", "otsu", "--tracking", "mlflow", "--run_name", "ddp"]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-5000:]
    client = mlflow.MlflowClient(tracking_uri=sqlite_uri(tmp_path / "out" / "mlruns.db"))
    runs = runs_of(client)
    assert [r.info.run_name for r in runs] == ["ddp"] and runs[0].info.status == "FINISHED"
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert {k: v for k, v in runs[0].data.metrics.items() if "/" in k} == pytest.approx(summary_metrics(summary))
