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
