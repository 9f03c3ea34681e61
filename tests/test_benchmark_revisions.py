"""benchmarks/revisions.py: how two runs' answers are compared and the frames/s it reports (the runs themselves are
the benchmark's, minutes each)."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from revisions import compare_outputs, marginal_frames_per_s, parse_overrides, variant_overrides  # noqa: E402


def _run(folder: Path, volumes: list[str], mask: np.ndarray) -> Path:
    (folder / "masks" / "exp1").mkdir(parents=True)
    with (folder / "volumes.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, ["frame", "volume_um3", "polarity"])
        writer.writeheader()
        writer.writerows({"frame": i, "volume_um3": v, "polarity": "bipolar"} for i, v in enumerate(volumes))
    tifffile.imwrite(folder / "masks" / "exp1" / "oocyte01.tif", mask)
    return folder


def test_identical_answers_are_reported_identical_and_differences_named(tmp_path):
    mask = np.zeros((3, 4, 5), np.uint8)
    mask[1, 1:3, 2:4] = 1
    a = _run(tmp_path / "a", ["100.0", "", "250.5"], mask)
    assert compare_outputs(a, _run(tmp_path / "b", ["100.0", "", "250.5"], mask)) == \
        "volumes.csv identical; masks identical (1 files)"
    other = mask.copy()
    other[0, 0, 0] = 1
    text = compare_outputs(a, _run(tmp_path / "c", ["100.0", "", "251.0"], other))
    assert "differs in volume_um3 (largest volume difference 0.199 %)" in text
    assert "masks differ: masks/exp1/oocyte01.tif" in text


def test_marginal_rate_leaves_out_start_up_and_first_frame(tmp_path):
    timing = tmp_path / "t.json"
    timing.write_text(json.dumps({"frames": [{"end": t} for t in (5.0, 6.0, 6.5, 7.0, 7.5)]}))
    assert marginal_frames_per_s(timing) == pytest.approx(2.0)  # 3 frames in the 1.5 s after the second
    assert parse_overrides(["baseline=false", "num_workers=1", "precision=bf16"]) == {
        "baseline": False, "num_workers": 1, "precision": "bf16"}


def test_variants_are_named_settings_of_the_working_tree_compared_with_the_first():
    assert variant_overrides([["shipped"], ["pair", "model_path=/m/pair.pt", "int8=false"]]) == {
        "shipped": {}, "pair": {"model_path": "/m/pair.pt", "int8": False}}
    with pytest.raises(SystemExit, match="two or more"):
        variant_overrides([["shipped"]])
    with pytest.raises(SystemExit, match="given twice"):
        variant_overrides([["a"], ["a", "int8=false"]])
    with pytest.raises(SystemExit, match="the first word is the variant's name"):
        variant_overrides([["int8=false"], ["b"]])
