"""benchmarks/label_efficiency.py: which frames a lab's N labels are (the fine-tuning runs themselves are the
benchmark's, minutes to hours each)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))
from label_efficiency import pick_labels  # noqa: E402


def _pool(oocytes=3, frames=8):
    return [{"experiment": "heldout_psf1", "oocyte": f"oocyte{o:02d}", "frame": f} for o in range(1, oocytes + 1)
            for f in range(frames)]


def test_labels_spread_over_oocytes_first_then_over_time():
    pool = _pool()
    three = pick_labels(pool, 3)
    assert sorted(p["oocyte"] for p in three) == ["oocyte01", "oocyte02", "oocyte03"]  # one per oocyte
    ten = pick_labels(pool, 10)
    counts = {o: sum(p["oocyte"] == o for p in ten) for o in ("oocyte01", "oocyte02", "oocyte03")}
    assert sorted(counts.values()) == [3, 3, 4]
    assert len({(p["oocyte"], p["frame"]) for p in ten}) == 10  # no frame twice
    assert pick_labels(pool, 10) == ten  # deterministic: the curve's points are reproducible
    assert [p["frame"] for p in pick_labels(pool, 1)] == [p["frame"] for p in ten[:1]]  # N labels extend N - 1
    with pytest.raises(ValueError, match="30 labels"):
        pick_labels(pool[:20], 30)
