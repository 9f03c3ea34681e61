"""Tests of the synthetic light-sheet phantom (scripts.phantom).

Datasets are tiny (128 x 128 x 12 voxels, a few frames); the full-size checks (750 x 750 x 31) use only
the ground-truth geometry, which needs no image rendering.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from scipy import ndimage
from scripts import phantom
from scripts.io import read_frame, read_mask, write_imagej_hyperstack
from scripts.phantom import (
    CROP_XY_PX,
    ExperimentParams,
    OocytePhantom,
    generate_dataset,
    label_frames,
    write_hyperstack_frames,
)

BUNDLE_DIR = Path(__file__).resolve().parents[1] / "bundle"
SPACING_UM = (0.17, 0.17, 2.0)
VOXEL_UM3 = 0.17 * 0.17 * 2.0  # 0.0578 um^3
SMALL = dict(n_experiments=2, n_oocytes=2, n_frames=8, shape_xyz=(128, 128, 12), spacing_um_xyz=SPACING_UM)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("phantom") / "ds"
    return out, generate_dataset(out, seed=0, write_true_masks=True, **SMALL)


def _csv_rows(path: Path) -> list[dict]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_label_frames_every_sixth_from_gvbd():
    assert label_frames(2, 14) == [2, 8]
    assert label_frames(0, 13) == [0, 6, 12]
    assert label_frames(5, 5) == []


def test_layout_shapes_dtype_axes(dataset):
    out, summary = dataset
    gvbd = _csv_rows(out / "gvbd.csv")
    assert [(r["experiment"], r["oocyte"]) for r in gvbd] == [
        ("exp1", "oocyte01"), ("exp1", "oocyte02"), ("exp2", "oocyte01"), ("exp2", "oocyte02")]
    for row in gvbd:
        with tifffile.TiffFile(out / row["experiment"] / f"{row['oocyte']}.tif") as tif:
            series = tif.series[0]
            assert tif.is_imagej
            assert series.axes == "TZCYX"
            assert series.shape == (8, 12, 3, 128, 128)
            assert series.dtype == np.uint16
        with tifffile.TiffFile(out / "ground_truth_masks" / row["experiment"] / f"{row['oocyte']}.tif") as tif:
            assert tif.series[0].axes == "TZYX"
            assert tif.series[0].shape == (8, 12, 128, 128)
            assert tif.series[0].dtype == np.uint8
    # Control strain in experiment 1, Aurka-deficient phenotypes in experiment 2.
    phenotypes = {(r["experiment"], r["oocyte"]): r["phenotype"] for r in summary["oocytes"]}
    assert {phenotypes[("exp1", "oocyte01")], phenotypes[("exp1", "oocyte02")]} == {"bipolar"}
    assert {phenotypes[("exp2", "oocyte01")], phenotypes[("exp2", "oocyte02")]} <= {"short", "monopolar",
                                                                                     "multipolar"}
    recorded = json.loads((out / "phantom.json").read_text())
    assert [r["phenotype"] for r in recorded["oocytes"]] == [r["phenotype"] for r in summary["oocytes"]]
    assert recorded["shape_xyz"] == [128, 128, 12] and "out_dir" not in recorded


def test_calibration_read_back_through_the_reader(dataset):
    out, _ = dataset
    image, meta = read_frame(out / "exp1" / "oocyte01.tif", frame=5, channel=1)
    assert image.shape == (128, 128, 12)  # (X, Y, Z)
    assert image.dtype == np.uint16
    np.testing.assert_allclose(meta["spacing_um"], SPACING_UM, rtol=1e-6)
    assert meta["frame_interval_min"] == pytest.approx(10.0)
    assert meta["time_min"] == pytest.approx(50.0)
    # The reader's frame 5, channel 1 is exactly the hyperstack's [5, :, 1] in (X, Y, Z) order.
    raw = tifffile.imread(out / "exp1" / "oocyte01.tif")
    np.testing.assert_array_equal(image, raw[5, :, 1].transpose(2, 1, 0))
    gvbd = int(_csv_rows(out / "gvbd.csv")[0]["gvbd_frame"])
    mask, mask_meta = read_mask(out / "exp1" / "oocyte01_masks" / f"t{gvbd:04d}.tif")
    assert mask.shape == (128, 128, 12)
    assert set(np.unique(mask)) == {0, 1}
    np.testing.assert_allclose(mask_meta["spacing_um"], SPACING_UM, rtol=1e-6)


def test_masks_only_on_every_sixth_frame_from_gvbd(dataset):
    out, _ = dataset
    for row in _csv_rows(out / "gvbd.csv"):
        gvbd = int(row["gvbd_frame"])
        files = sorted(p.name for p in (out / row["experiment"] / f"{row['oocyte']}_masks").iterdir())
        assert files == [f"t{t:04d}.tif" for t in range(gvbd, 8, 6)]
        assert 1 <= gvbd <= 2  # at least one frame before GVBD; in the first quarter of the 8 frames


def test_ground_truth_volumes_equal_mask_voxels_times_voxel_volume(dataset):
    out, _ = dataset
    volumes = _csv_rows(out / "ground_truth_volumes.csv")
    assert len(volumes) == 4 * 8
    gvbd = {(r["experiment"], r["oocyte"]): int(r["gvbd_frame"]) for r in _csv_rows(out / "gvbd.csv")}
    for (exp, oocyte), g in gvbd.items():
        true_masks = tifffile.imread(out / "ground_truth_masks" / exp / f"{oocyte}.tif")
        rows = [r for r in volumes if (r["experiment"], r["oocyte"]) == (exp, oocyte)]
        assert [int(r["frame"]) for r in rows] == list(range(8))
        for r in rows:
            t = int(r["frame"])
            assert float(r["volume_um3"]) == pytest.approx(int(true_masks[t].sum()) * VOXEL_UM3, abs=1e-3)
            assert (float(r["volume_um3"]) > 0) == (t >= g)  # no spindle before GVBD, one from GVBD on
        # The lab's labels are the true masks of those frames.
        for t in label_frames(g, 8):
            label = tifffile.imread(out / exp / f"{oocyte}_masks" / f"t{t:04d}.tif")
            np.testing.assert_array_equal(label, true_masks[t])
        # The spindle grows after GVBD (small scene: the 128-px field scales it down).
        v = [float(r["volume_um3"]) for r in rows]
        assert v[-1] > 2.5 * v[g]


def test_spindle_is_bright_fibrous_and_the_gv_dark(dataset):
    out, _ = dataset
    image = tifffile.imread(out / "exp1" / "oocyte01.tif")[:, :, 1].astype(np.float32)  # T, Z, Y, X
    masks = tifffile.imread(out / "ground_truth_masks" / "exp1" / "oocyte01.tif").astype(bool)
    t = 7
    inside = image[t][masks[t]]
    shell = ndimage.binary_dilation(masks[t], iterations=6) & ~ndimage.binary_dilation(masks[t], iterations=3)
    assert inside.mean() - 100 > 1.5 * (image[t][shell].mean() - 100)  # above the camera offset of 100
    # Fibrous, not flat: the spread inside the spindle exceeds what the noise alone gives (CV of Poisson).
    assert inside.std() / (inside.mean() - 100) > 0.15
    # Before GVBD (frame 0) the germinal vesicle at the field centre excludes microtubules: darker than the
    # cytoplasm 7-9 um (40-55 px at this scene's scale of 0.36) from the centre.
    yy, xx = np.mgrid[:128, :128]
    r = np.hypot(yy - 63.5, xx - 63.5)
    mid = image[0][4:7]
    assert (mid[:, r < 10].mean() - 100) < 0.6 * (mid[:, (r > 40) & (r < 55)].mean() - 100)


def test_determinism_and_per_oocyte_seeds(dataset, tmp_path):
    out, _ = dataset
    # Same seed, only one oocyte of one experiment generated: byte-identical to the same oocyte of the
    # 2 x 2 dataset (per-oocyte sub-seeds), masks included.
    single = tmp_path / "single"
    generate_dataset(single, seed=0, **{**SMALL, "n_experiments": 1, "n_oocytes": 1})
    assert (single / "exp1" / "oocyte01.tif").read_bytes() == (out / "exp1" / "oocyte01.tif").read_bytes()
    assert (single / "exp1" / "oocyte01_masks" / "t0001.tif").read_bytes() == \
        (out / "exp1" / "oocyte01_masks" / "t0001.tif").read_bytes()
    other = tmp_path / "other"
    generate_dataset(other, seed=1, **{**SMALL, "n_experiments": 1, "n_oocytes": 1})
    a = tifffile.imread(other / "exp1" / "oocyte01.tif")
    b = tifffile.imread(out / "exp1" / "oocyte01.tif")
    assert a.shape == b.shape and not np.array_equal(a, b)
    # Different oocytes of one seed differ too.
    assert not np.array_equal(b, tifffile.imread(out / "exp1" / "oocyte02.tif"))


def test_parallel_workers_give_the_same_bytes(dataset, tmp_path):
    out, _ = dataset
    generate_dataset(tmp_path / "par", seed=0, workers=2, **{**SMALL, "n_experiments": 1})
    for name in ("oocyte01.tif", "oocyte02.tif"):
        assert (tmp_path / "par" / "exp1" / name).read_bytes() == (out / "exp1" / name).read_bytes()


def test_difficulty_knobs(tmp_path):
    kw = dict(experiment=ExperimentParams.draw(0, 0), experiment_index=0, oocyte_index=0, n_frames=4,
              shape_xyz=(96, 96, 8))
    base, _ = OocytePhantom(**kw).render_frame(3)
    noisy, _ = OocytePhantom(**kw, noise=2.0).render_frame(3)
    faint, _ = OocytePhantom(**kw, contrast=0.5).render_frame(3)
    mask = OocytePhantom(**kw).true_mask(3).astype(bool)
    mt = [img[:, 1].astype(np.float32) - 100 for img in (base, noisy, faint)]
    # Same grey levels (noise=2 means a quarter of the photons at 4x the gain), twice the relative noise.
    background = ~mask
    assert mt[1][background].mean() == pytest.approx(mt[0][background].mean(), rel=0.05)
    smooth = [img - np.roll(img, 1, axis=2) for img in mt[:2]]  # neighbour differences: noise dominated
    ratio = smooth[1][background].std() / smooth[0][background].std()
    assert 1.7 < ratio < 2.6
    # Half the contrast: the spindle's excess over the cytoplasm around it halves.
    shell = ndimage.binary_dilation(mask, iterations=10) & ~ndimage.binary_dilation(mask, iterations=5)
    excess = [m[mask].mean() - m[shell].mean() for m in (mt[0], mt[2])]
    assert excess[1] == pytest.approx(0.5 * excess[0], rel=0.15)
    # A wider fall-off around the same envelope: the same truth, intensity moved from inside its boundary to outside.
    soft = OocytePhantom(**kw, edge_width_f=0.1)
    assert np.array_equal(soft.true_mask(3).astype(bool), mask)
    soft_mt = soft.render_frame(3)[0][:, 1].astype(np.float32) - 100
    xy = np.zeros((1, 3, 3), bool)
    xy[0] = True  # rings in x-y only: a 2-um slice apart is far beyond the fall-off
    inner = mask & ~ndimage.binary_erosion(mask, xy, iterations=2)
    outer = ndimage.binary_dilation(mask, xy, iterations=2) & ~mask
    assert soft_mt[inner].mean() < mt[0][inner].mean() and soft_mt[outer].mean() > mt[0][outer].mean()
    # the step across the boundary flattens (this tiny field's PSF already blurs most of it: 47 -> 42 counts)
    step = [m[inner].mean() - m[outer].mean() for m in (mt[0], soft_mt)]
    assert step[1] < 0.95 * step[0]


@pytest.mark.parametrize("shape_xyz", [(64, 64, 8), (48, 40, 6), (128, 128, 12)])
def test_tiny_fields_still_hold_a_spindle_from_gvbd_on(shape_xyz):
    """Small fields scale the scene down (tests use them); the spindle must still cover voxels at GVBD."""
    for e in range(2):
        for k in range(3):
            ph = OocytePhantom(ExperimentParams.draw(0, e), e, k, n_frames=6, shape_xyz=shape_xyz, seed=e + k)
            assert ph.scale < 1
            assert ph.true_volume_um3(ph.gvbd_frame - 1) == 0.0
            volumes = [ph.true_volume_um3(t) for t in range(ph.gvbd_frame, 6)]
            assert min(volumes) > 0, (shape_xyz, e, k, volumes)
            box, mask = ph.true_mask_box(5)
            zz, yy, xx = np.nonzero(mask)  # inside the field, off its edges
            assert box.y0 + yy.min() > 0 and box.y0 + yy.max() < shape_xyz[1] - 1
            assert box.x0 + xx.min() > 0 and box.x0 + xx.max() < shape_xyz[0] - 1


def test_invalid_arguments_are_named():
    with pytest.raises(ValueError, match="n_frames"):
        OocytePhantom(ExperimentParams.draw(0, 0), 0, 0, n_frames=0)
    ph = OocytePhantom(ExperimentParams.draw(0, 0), 0, 0, n_frames=2, shape_xyz=(32, 32, 4))
    with pytest.raises(ValueError, match="frame 2 outside 0..1"):
        ph.render_frame(2)


def test_full_size_spindle_inside_centre_crop_and_volumes_plausible():
    """Full size (750 x 750 x 31): the spindle stays inside the 352 x 352 centre crop with room to spare, and
    away from the first and last slices; volumes: a few hundred um^3 at GVBD, a few thousand at metaphase."""
    lo = (750 - CROP_XY_PX) // 2 + 15  # 15 px (2.5 um) margin inside the crop
    hi = lo - 15 + CROP_XY_PX - 15
    metaphase = {}
    for e in range(3):  # control, Aurka- and Aurkc-deficient strains
        experiment = ExperimentParams.draw(0, e)
        for k in range(max(2, len(experiment.phenotypes))):  # every phenotype of the strain
            ph = OocytePhantom(experiment, e, k, n_frames=60)
            assert ph.scale == 1.0
            g, dev = ph.gvbd_frame, ph.frames_to_metaphase
            assert ph.true_mask_box(g - 1) is None
            v_gvbd = ph.true_volume_um3(g)
            assert 200 < v_gvbd < 800, (ph.phenotype, v_gvbd)
            for t in (g, int(g + 0.5 * dev), int(g + 1.2 * dev), 59):
                box, mask = ph.true_mask_box(t)
                zz, yy, xx = np.nonzero(mask)
                assert lo <= box.y0 + yy.min() and box.y0 + yy.max() < hi, (ph.phenotype, t)
                assert lo <= box.x0 + xx.min() and box.x0 + xx.max() < hi, (ph.phenotype, t)
                assert 2 <= box.z0 + zz.min() and box.z0 + zz.max() <= 28, (ph.phenotype, t)
            metaphase[(e, k, ph.phenotype)] = ph.true_volume_um3(int(g + 1.2 * dev))
    for (_, _, phenotype), volume in metaphase.items():
        low, high = {"bipolar": (2500, 7000), "short": (900, 3000), "monopolar": (1000, 4000),
                     "multipolar": (1000, 5000)}[phenotype]
        assert low < volume < high, (phenotype, volume)
    # Short spindles really are smaller than the controls' bipolar ones.
    assert {p for (_, _, p) in metaphase} == {"bipolar", "short", "monopolar", "multipolar"}
    short = [v for (_, _, p), v in metaphase.items() if p == "short"]
    control = [v for (e, _, _), v in metaphase.items() if e == 0]
    assert short and max(short) < min(control)


def test_streaming_writer_matches_io_writer(tmp_path):
    data = np.random.default_rng(0).integers(0, 60000, size=(3, 4, 2, 8, 6), dtype=np.uint16)
    streamed = write_hyperstack_frames(tmp_path / "s.tif", iter(data), data.shape, np.uint16, "TZCYX",
                                       SPACING_UM, 10.0)
    whole = write_imagej_hyperstack(tmp_path / "w.tif", data, "TZCYX", SPACING_UM, 10.0)
    with tifffile.TiffFile(streamed) as a, tifffile.TiffFile(whole) as b:
        np.testing.assert_array_equal(a.asarray(), b.asarray())
        assert a.imagej_metadata == b.imagej_metadata
        assert a.pages[0].tags["XResolution"].value == b.pages[0].tags["XResolution"].value
    assert not list(tmp_path.glob(".*.part"))  # no temporary file left behind


def test_cli_via_subprocess(tmp_path):
    out = tmp_path / "cli"
    result = subprocess.run(
        [sys.executable, "-m", "scripts.phantom", "--out", str(out), "--experiments", "1", "--oocytes", "2",
         "--frames", "3", "--size", "64", "48", "6", "--seed", "5", "--true-masks"],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "wrote 2 oocytes x 3 frames" in result.stdout
    assert tifffile.imread(out / "exp1" / "oocyte02.tif").shape == (3, 6, 3, 48, 64)
    assert tifffile.imread(out / "ground_truth_masks" / "exp1" / "oocyte01.tif").shape == (3, 6, 48, 64)
    assert len(_csv_rows(out / "ground_truth_volumes.csv")) == 2 * 3


def test_montage_png(tmp_path):
    png = phantom.draw_montage(tmp_path / "m.png", shape_xyz=(128, 128, 12), n_frames=12, zoom_px=64)
    header = png.read_bytes()[:8]
    assert header == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size > 20_000
