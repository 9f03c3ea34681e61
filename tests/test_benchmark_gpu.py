"""benchmarks/gpu.py's multi-process evaluating rows (issue 20), run on the CPU: a lent GPU machine is minutes long,
so the code a lease runs is checked here first (the figures it prints on a CPU measure nothing about a GPU)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from gpu import main, many_oocytes_dataset  # noqa: E402


def test_many_oocytes_are_links_to_the_one_recording(tmp_path):
    source = tmp_path / "source"
    (source / "exp1" / "oocyte01_masks").mkdir(parents=True)
    (source / "exp1" / "oocyte01.tif").write_bytes(b"frames")
    (source / "gvbd.csv").write_text("experiment,oocyte,gvbd_frame\nexp1,oocyte01,3\n")
    out = many_oocytes_dataset(source, 3, tmp_path / "many")
    with (out / "gvbd.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["oocyte"], r["gvbd_frame"]) for r in rows] == [("oocyte01", "3"), ("oocyte02", "3"), ("oocyte03", "3")]
    for name in ("oocyte01", "oocyte02", "oocyte03"):
        assert (out / "exp1" / f"{name}.tif").read_bytes() == b"frames"
        assert (out / "exp1" / f"{name}_masks").resolve() == (source / "exp1" / "oocyte01_masks").resolve()
    assert many_oocytes_dataset(source, 3, out) == out  # made once


@pytest.mark.slow
def test_the_multiprocess_rows_run_every_frame_on_one_and_on_two_processes(tmp_path):
    out = tmp_path / "gpu.md"
    assert main(["--device", "cpu", "--quick", "--skip", "forward", "training", "evaluating",
                 "--cache_dir", str(tmp_path / "cache"), "--out", str(out)]) == 0
    rows = [line for line in out.read_text().splitlines() if "process" in line and "frames/s" in line]
    assert len(rows) == 2, out.read_text()
    assert "| 1 process |" in rows[0] and "| 2 processes |" in rows[1]
    assert all("12 of 12 frames" in row for row in rows), rows
    outputs = tmp_path / "cache" / "gpu_runs" / "multiprocess"
    volumes = [(outputs / f"out_{n}" / "volumes.csv").read_text() for n in (1, 2)]
    assert volumes[0] == volumes[1]  # the split changes who computes, not what
