"""scripts.cli: misspelt command-line settings are refused, and a failing run ends with the causing error's message."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import bundle_configs
from scripts.cli import (
    UnknownSettingError,
    check_settings,
    command_line_settings,
    readable_error,
    root_cause,
    started_from_the_bundle_cli,
)
from scripts.io import SpindleDataError

MONAI_MAIN = "/venv/lib/python3.11/site-packages/monai/bundle/__main__.py"
EVALUATE = "['" + "','".join(bundle_configs("inference", "evaluate")) + "']"


def test_only_the_bundle_command_line_is_guarded():
    assert started_from_the_bundle_cli([MONAI_MAIN, "run", "evaluating", "--config_file", "x.yaml"])
    assert started_from_the_bundle_cli([MONAI_MAIN, "run_workflow", "--config_file", "x.yaml"])
    assert not started_from_the_bundle_cli([MONAI_MAIN, "verify_net_in_out", "network_def"])
    assert not started_from_the_bundle_cli(["/usr/bin/pytest", "run", "-q"])  # tests calling monai.bundle.run


def test_command_line_settings_reads_pairs_equals_and_flags():
    argv = ["evaluating", "--config_file", "['a.yaml','b.yaml']", "--crop_size", "[48,48,-1]", "--flip_tta",
            "--channel=0", "--train#dataloader#num_workers", "2"]
    assert command_line_settings(argv) == {"config_file": "['a.yaml','b.yaml']", "crop_size": "[48,48,-1]",
                                           "flip_tta": None, "channel": "0", "train#dataloader#num_workers": "2"}


def test_unknown_settings_are_refused_with_the_nearest_names():
    known = ["channel", "dataset_dir", "output_dir", "train"]
    check_settings(["channel", "dataset_dir", "train#dataloader#num_workers", "logging_file"], known, ["t.yaml"])
    with pytest.raises(UnknownSettingError, match=r"unknown setting --chanel: .*did you mean --channel\?"):
        check_settings(["chanel"], known, ["t.yaml"])
    with pytest.raises(UnknownSettingError, match=r"--dataset_dri: .*did you mean --dataset_dir\?"):
        check_settings(["dataset_dri"], known, ["t.yaml"])
    with pytest.raises(UnknownSettingError, match=r"--colour: it is not a setting of t.yaml MONAI would ignore"):
        check_settings(["colour"], known, ["t.yaml"])


def test_readable_error_is_the_innermost_message():
    try:
        try:
            raise SpindleDataError("oocyte.tif (frame 3): channel out of range: expected 0 <= channel < 2")
        except SpindleDataError as inner:
            raise RuntimeError("Failed to evaluate ConfigExpression: ...") from inner
    except RuntimeError as outer:
        assert isinstance(root_cause(outer), SpindleDataError)
        lines = readable_error(outer).splitlines()
    assert lines[-1] == "oocyte.tif (frame 3): channel out of range: expected 0 <= channel < 2"
    assert "SpindleDataError" in lines[-2]


def test_readable_error_of_a_dataloader_worker_takes_the_first_exception_of_its_traceback():
    worker_text = ("Caught RuntimeError in DataLoader worker process 0.\nOriginal Traceback (most recent call last):\n"
                   '  File "io.py", line 616, in _frame_index\n'
                   "scripts.io.SpindleDataError: a.tif (frame 0): channel out of range\n\n"
                   "The above exception was the direct cause of the following exception:\n\n"
                   "RuntimeError: applying transform <LoadFramed>\n")
    lines = readable_error(RuntimeError(worker_text)).splitlines()
    assert lines[-1] == "a.tif (frame 0): channel out of range" and "SpindleDataError" in lines[-2]


def _evaluate(tmp_path, *settings: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "monai.bundle", "run", "evaluating", "--config_file", EVALUATE, *settings]
    return subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)


def test_a_misspelt_setting_stops_the_run_and_says_so_last(tiny_phantom, random_model, tmp_path):
    result = _evaluate(tmp_path, "--dataset_dir", str(tiny_phantom), "--output_dir", str(tmp_path / "out"),
                       "--model_path", str(random_model), "--chanel", "0")
    assert result.returncode != 0
    assert "unknown setting --chanel" in result.stderr.strip().splitlines()[-1]
    assert "did you mean --channel" in result.stderr.strip().splitlines()[-1]
    assert not (tmp_path / "out" / "volumes.csv").exists()


def test_a_data_error_in_the_loader_is_the_last_line(tiny_phantom, random_model, tmp_path):
    result = _evaluate(tmp_path, "--dataset_dir", str(tiny_phantom), "--output_dir", str(tmp_path / "out"),
                       "--model_path", str(random_model), "--channel", "7", "--progress_bar", "false",
                       "--crop_size", "[48,48,-1]")
    assert result.returncode != 0
    last = result.stderr.strip().splitlines()[-1]
    assert "channel out of range" in last and "found channel 7" in last and "--channel" in last


def test_values_that_cannot_work_are_refused_naming_the_setting(monkeypatch):
    import torch
    from scripts.cli import SettingValueError, check_values

    check_values({"crop_size": "[352,352,-1]", "channel": "0", "default_spacing_um": "[0.2,0.2,1.5]", "device": "cpu"})
    with pytest.raises(SettingValueError, match=r"--crop_size \[352,352\]: expected 3 numbers \(x, y, z\), e\.g\. "
                                                r"--crop_size '\[352,352,-1\]'"):
        check_values({"crop_size": "[352,352]"})
    with pytest.raises(SettingValueError, match=r"--channel -1: expected the microtubule channel's index"):
        check_values({"channel": "-1"})
    check_values({"dna_channel": "2", "baseline_method": "Otsu"})
    with pytest.raises(SettingValueError, match=r"--dna_channel x: expected the DNA channel's index"):
        check_values({"dna_channel": "x"})
    with pytest.raises(SettingValueError, match=r"--baseline_method watershed: expected spindle3d .* or otsu"):
        check_values({"baseline_method": "watershed"})
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(SettingValueError, match=r"--device cuda: PyTorch sees no CUDA GPU.*leave --device out"):
        check_values({"device": "cuda"})


def test_a_run_without_a_dataset_says_so_instead_of_evaluating_the_demo(random_model, tmp_path):
    result = _evaluate(tmp_path, "--output_dir", str(tmp_path / "out"), "--model_path", str(random_model))
    assert result.returncode != 0
    assert "no dataset given: pass --dataset_dir DIR" in result.stderr.strip().splitlines()[-1]


def test_the_plugins_own_message_wins_over_the_library_error_it_wraps(tmp_path):
    import torch
    from scripts.inference import load_network
    from scripts.network import AnisotropicAttentionUNet

    weights = tmp_path / "baseline.pt"
    torch.save(AnisotropicAttentionUNet(variant="baseline").state_dict(), weights)
    try:
        try:
            load_network(AnisotropicAttentionUNet(), weights, channels_last=False)  # ValueError from torch's RuntimeError
        except ValueError as ours:
            raise RuntimeError("Failed to evaluate ConfigExpression: ...") from ours
    except RuntimeError as outer:
        last = readable_error(outer).splitlines()[-1]
    assert "does not match the configured network" in last and "set the network parameters" in last


def test_the_message_written_for_the_user_wins_over_the_builtin_error_under_it(tmp_path):
    from scripts.datalist import read_gvbd_table, scan_dataset
    from scripts.phantom import generate_dataset

    generate_dataset(tmp_path, n_experiments=1, n_oocytes=1, n_frames=2, shape_xyz=(32, 32, 4), seed=0)
    (tmp_path / "gvbd.csv").write_text("experiment,oocyte,gvbd_frame\nexp1,oocyte01,ten\n")
    try:
        try:
            read_gvbd_table(tmp_path, scan_dataset(tmp_path))  # SpindleDataError from int()'s ValueError
        except SpindleDataError as ours:
            raise RuntimeError("Failed to evaluate ConfigExpression: ...") from ours
    except RuntimeError as outer:
        last = readable_error(outer).splitlines()[-1]
    assert "gvbd.csv line 2: expected experiment,oocyte,gvbd_frame with an integer frame" in last
