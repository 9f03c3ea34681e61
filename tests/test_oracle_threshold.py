"""benchmarks/oracle_threshold.py: the per-frame oracle threshold finds a spindle that is the brightest thing in the
field, and fails where a brighter distractor is."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from oracle_threshold import oracle_dice  # noqa: E402


def _field(distractor: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    z, y, x = np.mgrid[:16, :96, :96]
    truth = ((x - 40) ** 2 + (y - 48) ** 2) / 15.0**2 + (z - 8) ** 2 / 3.0**2 <= 1.0
    distractor_ball = ((x - 80) ** 2 + (y - 20) ** 2) / 12.0**2 + (z - 8) ** 2 / 3.0**2 <= 1.0
    image = 100.0 + 100.0 * truth + distractor * distractor_ball + rng.normal(0, 10, truth.shape)
    return image.astype(np.float32), truth.astype(np.uint8)


def test_the_brightest_spindle_is_found_and_a_brighter_distractor_defeats_the_threshold():
    image, truth = _field(distractor=0.0)
    assert oracle_dice(image, truth, (0.2, 0.2, 2.0)) > 0.9
    image, truth = _field(distractor=400.0)  # brighter than the spindle and about as large: any threshold takes it
    assert oracle_dice(image, truth, (0.2, 0.2, 2.0)) < 0.8
