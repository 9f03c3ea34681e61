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


def test_a_lab_is_split_by_oocyte_into_label_pool_and_test_recordings(tmp_path):
    sys.path.insert(0, str(REPO / "bundle"))
    from label_efficiency import LAB_POOL_OOCYTES, lab_items
    from scripts.randomized import generate_randomized_dataset

    generate_randomized_dataset(tmp_path, ("heldout_psf",), n_experiments=1, n_oocytes=LAB_POOL_OOCYTES + 2,
                                n_frames=3, shape_xyz=(64, 64, 16), spacing_um_xyz=(1.0, 1.0, 4.0), seed=1,
                                one_look_per_experiment=True)
    pool, test, look = lab_items(tmp_path, "heldout_psf1")
    assert {i["oocyte"] for i in pool} == {f"oocyte{k:02d}" for k in range(1, LAB_POOL_OOCYTES + 1)}
    assert {i["oocyte"] for i in test} == {f"oocyte{k:02d}" for k in (LAB_POOL_OOCYTES + 1, LAB_POOL_OOCYTES + 2)}
    assert look["family"] == "heldout_psf"
    for item in pool + test:  # frames from GVBD on, each with its true mask
        assert (tmp_path / item["label"]).is_file() and item["minutes_since_gvbd"] >= 0
    with pytest.raises(ValueError, match="no lab"):
        lab_items(tmp_path, "heldout_camera1")


def test_pools_of_different_sizes_are_scored_on_the_same_test_recordings(tmp_path):
    sys.path.insert(0, str(REPO / "bundle"))
    from label_efficiency import ensure_labs, lab_items
    from scripts.randomized import generate_randomized_dataset

    generate_randomized_dataset(tmp_path, ("heldout_texture",), n_experiments=1, n_oocytes=7, n_frames=3,
                                shape_xyz=(64, 64, 16), spacing_um_xyz=(1.0, 1.0, 4.0), seed=1,
                                one_look_per_experiment=True)
    small_pool, test, _ = lab_items(tmp_path, "heldout_texture1", pool_oocytes=2, test_oocytes=3)
    large_pool, same_test, _ = lab_items(tmp_path, "heldout_texture1", pool_oocytes=4, test_oocytes=3)
    assert {i["oocyte"] for i in small_pool} == {"oocyte01", "oocyte02"}
    assert {i["oocyte"] for i in large_pool} == {"oocyte01", "oocyte02", "oocyte03", "oocyte04"}
    assert same_test == test and {i["oocyte"] for i in test} == {"oocyte05", "oocyte06", "oocyte07"}
    with pytest.raises(ValueError, match="7 oocytes: 5 labelled and 3 test"):
        lab_items(tmp_path, "heldout_texture1", pool_oocytes=5, test_oocytes=3)  # they would share a recording
    with pytest.raises(ValueError, match="labs of 7 oocytes, not 8"):
        ensure_labs(tmp_path)  # an existing folder of another size is not silently reused
