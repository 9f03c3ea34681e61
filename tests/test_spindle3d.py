"""Tests of the classical baseline (scripts.spindle3d, Spindle3D's method): hand-checkable synthetic spindles, the
frames it must refuse, and agreement with the published tool's own measurements on real stacks."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import SYNTHETIC_CELL_SPACING_UM, synthetic_cell
from monai.data import MetaTensor
from scripts.baseline import Spindle3DBaselined
from scripts.spindle3d import Spindle3DFailure, measure, otsu_threshold, resample_isotropic

SPINDLES_DIR = Path(__file__).resolve().parents[2] / "shared" / "realdata" / "spindles"
SPACING = SYNTHETIC_CELL_SPACING_UM


@pytest.mark.parametrize("tilt_deg", [0.0, 35.0])
def test_synthetic_spindle_volume_length_width(tilt_deg):
    tubulin, dna, truth = synthetic_cell(tilt_deg=tilt_deg)
    result = measure(tubulin, dna, SPACING)
    true_volume = np.count_nonzero(truth) * np.prod(SPACING)  # 4/3 pi 4 4 6 = 402 um^3
    assert result.volume_um3 == pytest.approx(true_volume, rel=0.15)
    assert result.length_um == pytest.approx(12.0, rel=0.12)  # pole to pole
    assert result.width_avg_um == pytest.approx(8.0, rel=0.15)
    assert result.width_min_um <= result.width_avg_um <= result.width_max_um
    assert result.aspect_ratio == pytest.approx(result.length_um / result.width_avg_um)
    assert result.plate_length_um == pytest.approx(10.0, abs=2.0)
    # angle to the coverslip (x-y) plane: 90 deg for a spindle along z, 90 - tilt when tilted towards x
    assert result.angle_deg == pytest.approx(90.0 - tilt_deg, abs=8.0)
    assert result.mask.shape == tubulin.shape
    dice = 2 * np.count_nonzero(result.mask & truth) / (result.mask.sum() + truth.sum())
    assert dice > 0.85


def test_frames_without_a_usable_plate_are_refused():
    tubulin, dna, _ = synthetic_cell()
    with pytest.raises(Spindle3DFailure, match="no usable DNA signal"):
        measure(tubulin, np.full_like(dna, 10.0), SPACING)
    at_border = np.full_like(dna, 10.0)
    at_border[:, :, :20] = 200.0  # the only DNA touches the x-y border (a neighbouring cell)
    with pytest.raises(Spindle3DFailure, match="touches the image border"):
        measure(tubulin, at_border, SPACING)
    flooded = np.full_like(tubulin, 100.0) + np.random.default_rng(1).normal(0, 5, tubulin.shape).astype(np.float32)
    with pytest.raises(Spindle3DFailure, match="spreads"):  # bright everywhere: no spindle around the DNA
        measure(flooded, dna, SPACING)


def test_resampling_and_otsu():
    volume = np.zeros((10, 40, 40), np.float32)
    volume[4:6, 10:30, 10:30] = 1.0
    iso = resample_isotropic(volume, (0.2, 0.2, 0.5), 0.25)
    assert iso.shape == (20, 32, 32)  # same physical extent at 0.25 um
    assert iso.sum() * 0.25**3 == pytest.approx(volume.sum() * 0.2 * 0.2 * 0.5, rel=0.05)
    values = np.concatenate([np.full(100, 10.0), np.full(50, 50.0)])
    assert 10.0 < otsu_threshold(values) < 50.0
    with pytest.raises(Spindle3DFailure):
        otsu_threshold(np.ones(10))


def test_baseline_transform_adds_a_mask_or_a_note():
    tubulin, dna, _ = synthetic_cell()
    meta = {"spacing_um": np.array(SPACING), "pixdim": np.array([1.0, *SPACING])}
    as_xyz = lambda a: MetaTensor(torch.from_numpy(np.ascontiguousarray(a.transpose(2, 1, 0))[None]), meta=dict(meta))  # noqa: E731
    out = Spindle3DBaselined(frames="all")({"image": as_xyz(tubulin), "dna": as_xyz(dna)})
    assert out["baseline"].shape == (1, 128, 128, 48) and out["baseline"].dtype == torch.uint8
    assert "baseline_note" not in out
    refused = Spindle3DBaselined(frames="all")({"image": as_xyz(tubulin), "dna": as_xyz(np.full_like(dna, 10.0))})
    assert "baseline" not in refused and "no usable DNA signal" in refused["baseline_note"]
    skipped = Spindle3DBaselined(frames="labelled")({"image": as_xyz(tubulin), "dna": as_xyz(dna)})
    assert "baseline" not in skipped and "baseline_note" not in skipped


@pytest.mark.skipif(not (SPINDLES_DIR / "reference.csv").is_file(), reason="../shared/realdata/spindles not present")
def test_agrees_with_the_published_tool_on_real_stacks():
    """Volumes within 15 % and lengths within 10 % of Spindle3D's own measurements (reference.csv)."""
    with open(SPINDLES_DIR / "reference.csv") as fh:
        references = list(csv.DictReader(fh))
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from real_spindles import read_channels  # the benchmark's reader: the bundle's, the DNA = the other channel

    for ref in references:
        result = measure(*read_channels(ref))
        if ref["volume_um3"]:
            assert result.volume_um3 == pytest.approx(float(ref["volume_um3"]), rel=0.15), ref["file"]
        if ref["length_um"]:
            assert result.length_um == pytest.approx(float(ref["length_um"]), rel=0.10), ref["file"]
