"""benchmarks/bad_inputs.py: the campaign of realistic mistakes gives no silent wrong answer and no unclear error."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import bad_inputs  # noqa: E402


def test_verdicts_follow_the_last_lines_and_the_checks(tmp_path):
    error = bad_inputs.Case("x", "x", lambda w: [], "error", ["channel out of range"])
    failed = bad_inputs.Result(1, "...", "traceback\nERROR (SpindleDataError; ...):\na.tif: channel out of range", tmp_path)
    assert bad_inputs.verdict(error, failed) == "clear error"
    buried = bad_inputs.Result(1, "a.tif: channel out of range\n...", "RuntimeError: Failed to evaluate", tmp_path)
    assert bad_inputs.verdict(error, buried) == "unclear"
    assert bad_inputs.verdict(error, bad_inputs.Result(0, "", "", tmp_path)) == "silent wrong"
    warn = bad_inputs.Case("y", "y", lambda w: [], "warn", ["is not used"], check=lambda r: True)
    assert bad_inputs.verdict(warn, bad_inputs.Result(0, "datalist.json is not used", "", tmp_path)) == "handled"
    assert bad_inputs.verdict(warn, bad_inputs.Result(0, "no warning", "", tmp_path)) == "silent wrong"


@pytest.mark.slow
def test_the_campaign_has_no_silent_wrong_answer_and_no_unclear_error():
    table, counts = bad_inputs.run_campaign()
    assert sum(counts.values()) >= 60
    assert counts["silent wrong"] == 0 and counts["unclear"] == 0, table


@pytest.mark.slow
def test_a_prestarted_run_ends_as_a_fresh_process_does(tmp_path):
    """The campaign forks its runs from a Python with torch and MONAI imported: exit status, output and the last lines
    must be those of `python -m monai.bundle run` started afresh, for a clear error and for a misspelt setting."""
    commands = [["analyzing", "--config_file", bad_inputs.CONFIGS["analyze"]],
                ["training", "--config_file", bad_inputs.CONFIGS["train"], "--dataset_dir", str(tmp_path),
                 "--epoch", "2"]]
    fresh = [bad_inputs.run_cli(args, tmp_path) for args in commands]
    with bad_inputs.prestarted_runs():
        forked = [bad_inputs.run_cli(args, tmp_path) for args in commands]
    for a, b in zip(fresh, forked, strict=True):
        assert a.returncode == b.returncode != 0
        assert a.last_lines == b.last_lines and a.last_lines
    assert "no dataset given" in forked[0].last_lines and "did you mean --epochs" in forked[1].last_lines
