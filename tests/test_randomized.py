"""Tests of the scene / renderer split (scripts.scene, scripts.randomized): the truth does not depend on the look,
each knob of the look changes the image the way its name says, and the held-out families are really held out.

Fields are coarse (64 x 64 x 16 voxels of 1 x 1 x 4 um: the 64-um field of a real crop) so that a frame renders in
a fraction of a second."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import tifffile
from scipy import ndimage
from scripts.datalist import build_datalist, merge_datalists, write_datalist
from scripts.randomized import FAMILIES, FINE_Z, TEXTURES, Look, RandomizedOocyte, generate_randomized_dataset
from scripts.scene import GeometryRanges, Grid, OocyteScene

SMALL = dict(shape_xyz=(64, 64, 16), spacing_um_xyz=(1.0, 1.0, 4.0))
N_FRAMES = 8


def _oocyte(family="train", look=None, oocyte_index=0, **kwargs) -> RandomizedOocyte:
    return RandomizedOocyte(family, N_FRAMES, seed=3, oocyte_index=oocyte_index, look=look, **SMALL, **kwargs)


def _clean_look(**changes) -> Look:
    """A plain look (one texture, no haze / bias / stripes / distractors, many photons) to vary one knob at a time."""
    base = Look(family="train", texture="smooth", camera="scmos", contrast=4.0, photons_e=2000.0, psf_xy_um=0.3,
                psf_z_um=1.0, haze=0.0, bias=0.0, stripes=0.0, gamma=1.0, xy_lowres=1.0, read_noise_e=1.0,
                offset_adu=100.0, gain_adu_per_e=1.0, hot_pixel_fraction=0.0, bleach_per_frame=0.0, edge_um=0.3,
                halo=0.0, cytoplasm_texture=0.0, medium=0.2, cortex=0.0, zona=0.0, neighbour=0.0, aggregates=0.0,
                asters=0.0)
    return dataclasses.replace(base, **changes)


def _spindle_frame(o: RandomizedOocyte) -> int:
    return N_FRAMES - 1


def test_truth_does_not_depend_on_the_renderer():
    looks = [_oocyte(family) for family in FAMILIES] + [_oocyte(look=_clean_look(psf_z_um=4.0, contrast=1.5))]
    t = _spindle_frame(looks[0])
    masks = [o.true_mask(t) for o in looks]
    assert masks[0].sum() > 50
    for m in masks[1:]:
        np.testing.assert_array_equal(m, masks[0])
    images = [o.render_frame(t)[:, 1] for o in looks]
    assert all(not np.array_equal(images[0], im) for im in images[1:])  # ... while the images differ


def test_no_spindle_before_gvbd_and_one_after():
    o = _oocyte()
    gvbd = o.scene.gvbd_frame
    assert 1 <= gvbd < N_FRAMES
    assert all(o.true_mask(t).sum() == 0 for t in range(gvbd))
    assert all(o.true_mask(t).sum() > 0 for t in range(gvbd, N_FRAMES))
    assert o.true_volume_um3(N_FRAMES - 1) > o.true_volume_um3(gvbd)  # it grows


def test_mask_is_the_envelope_f_le_1_on_the_voxel_centres():
    scene = OocyteScene(np.random.default_rng(5), N_FRAMES)
    grid = Grid((16, 64, 64), (1.0, 1.0, 4.0))
    state = scene.spindle_state(N_FRAMES - 1)
    z, y, x = (grid.axis_um(a) for a in (2, 1, 0))
    pz, py, px = z[:, None, None] - state.centre_um[2], y[None, :, None] - state.centre_um[1], x[None, None, :] - state.centre_um[0]
    f, _ = scene.envelope_f(state, px, py, pz)
    np.testing.assert_array_equal(scene.true_mask(N_FRAMES - 1, grid), (f <= 1).astype(np.uint8))


def test_fine_z_render_lands_on_the_image_slices():
    """The spindle is drawn on a fine z grid and sampled at the image's slice centres: with a tiny PSF and a sharp
    edge, the rendered spindle (above half its contrast) must coincide with the true mask, tilted or not."""
    assert FINE_Z % 2 == 1
    for elevation in (0.0, 70.0):
        geometry = GeometryRanges(max_elevation_deg=elevation, phenotype_weights=(1, 0, 0, 0))
        o = _oocyte(look=_clean_look(psf_z_um=0.05, psf_xy_um=0.05, edge_um=0.05, photons_e=1e5), geometry=geometry)
        t = N_FRAMES - 1
        density, sl, _ = o._spindle(t, np.random.default_rng(0))
        rendered = np.zeros(o.grid.shape_zyx, bool)
        rendered[sl] = density > 0.5 * 0.85  # the smooth texture is 0.85 +- 0.12
        truth = o.true_mask(t) > 0
        dice = 2 * np.count_nonzero(rendered & truth) / (rendered.sum() + truth.sum())
        assert dice > 0.9, (elevation, dice)


def test_tilted_spindles_span_more_slices():
    flat = _oocyte(geometry=GeometryRanges(max_elevation_deg=0.0, phenotype_weights=(1, 0, 0, 0)))
    steep = [_oocyte(oocyte_index=k, geometry=GeometryRanges(max_elevation_deg=90.0, phenotype_weights=(1, 0, 0, 0)))
             for k in range(6)]
    assert abs(flat.scene.elevation) < 1e-9
    slices = [np.count_nonzero(o.true_mask(N_FRAMES - 1).any(axis=(1, 2))) for o in steep]
    assert max(abs(o.scene.elevation) for o in steep) > np.radians(30)
    assert max(slices) > np.count_nonzero(flat.true_mask(N_FRAMES - 1).any(axis=(1, 2)))


QUIET = dict(photons_e=1e5, gain_adu_per_e=0.02)  # shot noise ~0.3 %: differences are the optics'


def _in_out(o: RandomizedOocyte, look: Look) -> tuple[float, float, np.ndarray]:
    """Mean inside the true mask, median outside (offset removed) and the image, of the same scene with ``look``
    (a new oocyte: the look's static fields are built with it)."""
    o = _oocyte(look=look, oocyte_index=o.key[1])
    t = N_FRAMES - 1
    image = o.render_frame(t)[:, 1].astype(np.float64) - look.offset_adu
    mask = o.true_mask(t) > 0
    return float(image[mask].mean()), float(np.median(image[~mask])), image


@pytest.fixture(scope="module")
def oocyte():
    return _oocyte(look=_clean_look())


def test_contrast_gain_and_offset(oocyte):
    inside, outside, _ = _in_out(oocyte, _clean_look())
    inside_hi, outside_hi, _ = _in_out(oocyte, _clean_look(contrast=8.0))
    assert inside_hi / outside_hi > 1.5 * inside / outside
    _, _, doubled = _in_out(oocyte, _clean_look(gain_adu_per_e=2.0))
    _, _, single = _in_out(oocyte, _clean_look())
    assert np.median(doubled) == pytest.approx(2 * np.median(single), rel=0.05)
    raw = oocyte.render_frame(N_FRAMES - 1)[:, 1]
    oocyte.look = _clean_look(offset_adu=1500.0)
    assert np.median(oocyte.render_frame(N_FRAMES - 1)[:, 1]) == pytest.approx(np.median(raw) + 1400, abs=30)


def test_gamma_below_one_compresses_the_spindle(oocyte):
    inside, outside, _ = _in_out(oocyte, _clean_look())
    inside_g, outside_g, _ = _in_out(oocyte, _clean_look(gamma=0.6))
    assert inside_g / outside_g < 0.8 * inside / outside


def test_axial_psf_blurs_along_z_only(oocyte):
    sharp = _in_out(oocyte, _clean_look(psf_z_um=0.7, **QUIET))[2]
    blurred = _in_out(oocyte, _clean_look(psf_z_um=4.0, **QUIET))[2]
    near = ndimage.binary_dilation(oocyte.true_mask(N_FRAMES - 1) > 0, iterations=3)  # around the spindle
    dz = lambda im: np.abs(np.diff(im, axis=0))[near[1:]].mean()  # noqa: E731
    dx = lambda im: np.abs(np.diff(im, axis=2))[near[:, :, 1:]].mean()  # noqa: E731
    assert dz(blurred) < 0.8 * dz(sharp)
    assert dx(blurred) > 0.5 * dx(sharp)  # lateral detail mostly stays (some is out-of-focus light)


def test_lateral_resolution_loss_removes_fine_detail(oocyte):
    look = _clean_look(cytoplasm_texture=0.4, texture="granular", psf_xy_um=0.05, **QUIET)
    fine = _in_out(oocyte, look)[2]
    coarse = _in_out(oocyte, dataclasses.replace(look, xy_lowres=2.5))[2]
    assert np.abs(np.diff(coarse, axis=2)).mean() < 0.8 * np.abs(np.diff(fine, axis=2)).mean()


def test_noise_knobs(oocyte):
    """Fewer photons = more relative noise; EMCCD multiplication doubles the shot-noise variance; hot pixels."""
    def rel_noise(look):
        a = _in_out(oocyte, look)[2]
        return float(np.std(np.diff(a, axis=2)) / np.mean(a))
    assert rel_noise(_clean_look(photons_e=5.0)) > 3 * rel_noise(_clean_look(photons_e=500.0))
    assert rel_noise(_clean_look(photons_e=5.0, camera="emccd", read_noise_e=0.1)) > 1.2 * rel_noise(
        _clean_look(photons_e=5.0, read_noise_e=0.1))
    clean = _in_out(oocyte, _clean_look())[2]
    hot = _in_out(oocyte, _clean_look(hot_pixel_fraction=1e-3))[2]
    assert np.count_nonzero(hot > clean.max()) >= 0.5 * 1e-3 * hot.size


def test_illumination_knobs_vary_the_background(oocyte):
    """Stripes and the bias field multiply the image by a smooth field: uneven / flat varies by several %."""
    flat = _in_out(oocyte, _clean_look(**QUIET))[2]
    lit = flat > np.median(flat)
    again = _in_out(oocyte, _clean_look(**QUIET))[2]
    assert np.std(again[lit] / flat[lit]) < 0.01  # the same look twice: only shot noise differs
    for knob in (dict(stripes=0.45), dict(bias=0.6)):
        uneven = _in_out(oocyte, _clean_look(**knob, **QUIET))[2]
        assert np.std(uneven[lit] / flat[lit]) > 0.05, knob


def test_distractors_add_bright_things_outside_the_spindle(oocyte):
    plain = _in_out(oocyte, _clean_look())[2]
    for knob in (dict(aggregates=4.0), dict(neighbour=2.0), dict(cortex=1.5, zona=1.0)):
        o = _oocyte(look=_clean_look(**knob))
        if knob.get("aggregates"):
            assert len(o.scene.aggregate_radii_um) > 0
        busy = _in_out(o, _clean_look(**knob))[2]
        mask = o.true_mask(N_FRAMES - 1) > 0
        assert busy[~mask].max() > 1.2 * plain[~mask].max() or np.abs(busy - plain)[~mask].sum() > 0.05 * np.abs(
            plain[~mask]).sum(), knob


def test_heldout_families_hold_out_a_region_training_never_samples():
    train = FAMILIES["train"]
    assert set(FAMILIES["heldout_texture"].textures).isdisjoint(train.textures)
    assert set(TEXTURES) == set(train.textures) | set(FAMILIES["heldout_texture"].textures)
    psf = FAMILIES["heldout_psf"]
    assert psf.psf_z_um[0] >= train.psf_z_um[1] and psf.psf_xy_um[0] >= train.psf_xy_um[1]
    camera = FAMILIES["heldout_camera"]
    assert camera.camera != train.camera and camera.photons_e[1] <= train.photons_e[0]
    rng = np.random.default_rng(0)
    for family, ranges in FAMILIES.items():
        for _ in range(20):
            look = Look.draw(rng, family)
            assert look.texture in ranges.textures and look.camera == ranges.camera
            for name in ("contrast", "photons_e", "psf_xy_um", "psf_z_um", "gamma", "offset_adu"):
                lo, hi = getattr(ranges, name)
                assert lo <= getattr(look, name) <= hi, (family, name)
    with pytest.raises(ValueError, match="unknown renderer family"):
        Look.draw(rng, "nonsense")


def test_dataset_layout_and_merged_datalist(tmp_path):
    out = tmp_path / "rand"
    summary = generate_randomized_dataset(out, ("train", "heldout_psf"), n_experiments=1, n_oocytes=2, n_frames=4,
                                          shape_xyz=(64, 64, 16), spacing_um_xyz=(1.0, 1.0, 4.0), seed=1)
    assert [r["experiment"] for r in summary["oocytes"]] == ["train1", "train1", "heldout_psf1", "heldout_psf1"]
    with tifffile.TiffFile(out / "train1" / "oocyte01.tif") as tif:
        assert tif.series[0].axes == "TZCYX" and tif.series[0].shape == (4, 16, 3, 64, 64)
    truth = tifffile.imread(out / "ground_truth_masks" / "heldout_psf1" / "oocyte02.tif")
    record = summary["oocytes"][3]
    assert [int(m.sum()) for m in truth] == [round(v / 4.0) for v in record["volumes_um3"]]
    saved = json.loads((out / "randomized.json").read_text())
    assert saved["oocytes"][0]["look"]["family"] == "train"
    # The datalist tools read it like any dataset, and a merge with another dataset keeps every path valid.
    write_datalist(build_datalist(out, dense_labels_dir="ground_truth_masks"), out / "datalist.json")
    other = tmp_path / "other"
    generate_randomized_dataset(other, ("train",), n_experiments=1, n_oocytes=3, n_frames=4,
                                shape_xyz=(64, 64, 16), spacing_um_xyz=(1.0, 1.0, 4.0), seed=2)
    write_datalist(build_datalist(other, dense_labels_dir="ground_truth_masks"), other / "datalist.json")
    merged = merge_datalists([(out / "datalist.json", 1), (other / "datalist.json", 2)], tmp_path / "mixed.json")
    a, b = (json.loads((d / "datalist.json").read_text()) for d in (out, other))
    assert len(merged["training"]) == len(a["training"]) + len(b["training"][::2])
    assert len(merged["validation"]) == len(a["validation"]) + len(b["validation"])
    for item in merged["training"] + merged["validation"]:
        assert (tmp_path / item["image"]).is_file() and (tmp_path / item["label"]).is_file()


def test_other_voxel_sizes_and_small_cells():
    """Files from other microscopes: each oocyte's voxel size drawn from ranges (the mask is measured on its own
    grid, so the volume in um^3 does not depend on it), and mitotic-cell-sized scenes."""
    from dataclasses import replace

    from scripts.randomized import SMALL_CELLS, draw_spacing
    from scripts.scene import DEFAULT_GEOMETRY

    rng = np.random.default_rng(0)
    for _ in range(20):
        x, y, z = draw_spacing(rng, (0.12, 0.3), (0.3, 1.0))
        assert x == y and 0.12 <= x <= 0.3 and 0.3 <= z <= 1.0
    geometry = replace(DEFAULT_GEOMETRY, size_factor=(0.3, 0.6), **SMALL_CELLS)
    o = RandomizedOocyte("train", N_FRAMES, seed=3, shape_xyz=(96, 96, 24), spacing_um_xyz=(0.25, 0.25, 0.5),
                         geometry=geometry)
    assert 7.0 <= o.scene.oocyte_radius_um <= 13.0
    assert abs(o.scene.centre0_um[2]) <= 0.2 * 24 * 0.5  # a thin stack keeps the spindle inside it
    coarse = RandomizedOocyte("train", N_FRAMES, seed=3, shape_xyz=(48, 48, 12), spacing_um_xyz=(0.5, 0.5, 1.0),
                              geometry=geometry)
    t = N_FRAMES - 1
    fine_volume, coarse_volume = o.true_volume_um3(t), coarse.true_volume_um3(t)
    assert 50 < fine_volume < 1500
    assert coarse_volume == pytest.approx(fine_volume, rel=0.2)
    assert o.render_frame(t).shape == (24, 3, 96, 96)


def test_generalization_benchmark_scores_frames_against_the_truth(tmp_path):
    """benchmarks/generalization.py's scoring: a perfect prediction scores Dice 1 and no volume error on the frames
    from GVBD, an empty one Dice ~0 and 100 %; a false spindle before GVBD is reported in um^3."""
    import shutil
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from generalization import family_scores

    data = tmp_path / "families"
    generate_randomized_dataset(data, ("heldout_psf",), n_experiments=1, n_oocytes=1, n_frames=4,
                                shape_xyz=(64, 64, 16), spacing_um_xyz=(1.0, 1.0, 4.0), seed=1)
    perfect = tmp_path / "perfect" / "masks"
    shutil.copytree(data / "ground_truth_masks", perfect)
    scores = family_scores(data, perfect.parent)["heldout_psf"]
    assert scores["mean_dice"] == pytest.approx(1.0) and scores["median_abs_rel_volume_error"] == 0.0
    assert scores["max_pre_gvbd_volume_um3"] == 0.0
    assert np.isnan(scores["band_coverage"])  # no volumes.csv with a band
    # a band around the true volume on two of the frames from GVBD, beside it on the others
    import csv

    true_volumes = {int(r["frame"]): float(r["volume_um3"]) for r in csv.DictReader(open(data / "ground_truth_volumes.csv"))}
    with open(perfect.parent / "volumes.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["experiment", "oocyte", "frame", "volume_lo_um3", "volume_hi_um3"])
        for i, (frame, v) in enumerate(sorted(true_volumes.items())):
            writer.writerow(["heldout_psf1", "oocyte01", frame, v - 1, v + 1] if i % 2 else
                            ["heldout_psf1", "oocyte01", frame, v + 1, v + 2])
    with_band = family_scores(data, perfect.parent)["heldout_psf"]
    from_gvbd = [i % 2 == 1 for i, (f, v) in enumerate(sorted(true_volumes.items())) if v > 0]
    assert with_band["band_coverage"] == pytest.approx(np.mean(from_gvbd))
    truth = tifffile.imread(perfect / "heldout_psf1" / "oocyte01.tif")
    wrong = np.zeros_like(truth)
    wrong[0, 8, 30:34, 30:34] = 1  # 16 voxels of 4 um^3 before GVBD, nothing after
    tifffile.imwrite(perfect / "heldout_psf1" / "oocyte01.tif", wrong, imagej=True, metadata={"axes": "TZYX"})
    scores = family_scores(data, perfect.parent)["heldout_psf"]
    assert scores["mean_dice"] < 1e-3 and scores["median_abs_rel_volume_error"] == 1.0
    assert scores["max_pre_gvbd_volume_um3"] == pytest.approx(64.0)


def test_one_look_per_experiment_makes_each_experiment_a_lab(tmp_path):
    """A lab is one microscope: with one_look_per_experiment every oocyte of an experiment has the same look (drawn
    from its family), experiments differ, and the scenes (geometry, timing) still differ between oocytes."""
    summary = generate_randomized_dataset(tmp_path / "labs", ("heldout_camera",), n_experiments=2, n_oocytes=2,
                                          n_frames=3, seed=5, one_look_per_experiment=True, **SMALL)
    looks = {(r["experiment"], r["oocyte"]): r["look"] for r in summary["oocytes"]}
    lab1 = looks[("heldout_camera1", "oocyte01")]
    assert looks[("heldout_camera1", "oocyte02")] == lab1
    assert looks[("heldout_camera2", "oocyte01")] == looks[("heldout_camera2", "oocyte02")] != lab1
    assert lab1["family"] == "heldout_camera" and lab1["camera"] == "emccd"
    assert summary["one_look_per_experiment"] is True
    volumes = [r["volumes_um3"] for r in summary["oocytes"] if r["experiment"] == "heldout_camera1"]
    assert volumes[0] != volumes[1]
    # the same oocytes without a shared look: each draws its own; the scenes are the same as with it
    own = generate_randomized_dataset(tmp_path / "own", ("heldout_camera",), n_experiments=2, n_oocytes=2,
                                      n_frames=3, seed=5, **SMALL)
    assert own["oocytes"][0]["look"] != own["oocytes"][1]["look"]
    assert [r["volumes_um3"] for r in own["oocytes"]] == [r["volumes_um3"] for r in summary["oocytes"]]


def test_look_ranges_replace_one_range_and_nothing_else(tmp_path):
    """--look_range photons_e 1 4: every oocyte's photon budget is drawn from the new range, every other drawn value
    (and the scene) stays what it was; randomized.json records the override; unknown names and lo > hi are refused."""
    from scripts.randomized import main

    plain = [RandomizedOocyte("train", N_FRAMES, seed=7, oocyte_index=k).look for k in range(6)]
    dim = [RandomizedOocyte("train", N_FRAMES, seed=7, oocyte_index=k, look_ranges={"photons_e": (1.0, 4.0)}).look
           for k in range(6)]
    for a, b in zip(plain, dim, strict=True):
        assert 1.0 <= b.photons_e <= 4.0 and a.photons_e != b.photons_e
        assert {**vars(a), "photons_e": 0} == {**vars(b), "photons_e": 0}
    summary = main(["--out", str(tmp_path / "dim"), "--experiments", "1", "--oocytes", "2", "--frames", "2",
                    "--size", "48", "48", "8", "--look_range", "photons_e", "1", "4"])
    assert summary["look_ranges"] == {"photons_e": [1.0, 4.0]}
    assert all(1.0 <= r["look"]["photons_e"] <= 4.0 for r in summary["oocytes"])
    for bad in (["contrast_ratio", "1", "2"], ["photons_e", "4", "1"], ["camera", "1", "2"]):
        with pytest.raises(SystemExit):
            main(["--out", str(tmp_path / "bad"), "--look_range", *bad])
    assert not (tmp_path / "bad").exists()


def test_distractor_ranges_draw_as_before_by_default_and_can_be_made_strong():
    """The distractors' brightness (cortex, zona, neighbour, aggregates, asters) and the chance of a neighbouring cell
    are family ranges: by default they draw exactly what the fixed ranges before them drew (the values below were
    written by that code: every data set regenerates the same), a look range moves them, neighbour_probability 1 / 0
    puts a neighbouring cell into every field / none, and a brighter cortex brightens the rendered edge."""
    default = [RandomizedOocyte("train", N_FRAMES, seed=7, oocyte_index=k).look for k in range(4)]
    assert [(round(look.neighbour, 6), round(look.cortex, 6), round(look.aggregates, 6)) for look in default] == [
        (0.0, 0.65775, 1.509981), (0.0, 0.526046, 2.352742), (1.997273, 1.031315, 2.92602), (0.0, 1.18518, 1.053023)]
    strong = {"cortex": (2.0, 3.0), "neighbour": (3.0, 4.0), "neighbour_probability": (1.0, 1.0),
              "aggregates": (5.0, 6.0)}
    looks = [RandomizedOocyte("train", N_FRAMES, seed=7, oocyte_index=k, look_ranges=strong).look for k in range(8)]
    assert all(2.0 <= look.cortex <= 3.0 and 3.0 <= look.neighbour <= 4.0 for look in looks)
    assert all(5.0 <= look.aggregates <= 6.0 for look in looks)
    none = [RandomizedOocyte("train", N_FRAMES, seed=7, oocyte_index=k, look_ranges={"neighbour_probability": (0, 0)})
            .look for k in range(8)]
    assert all(look.neighbour == 0.0 for look in none)
    # the same scene and look but for the cortex: the field is brighter at the oocyte's edge, the truth the same
    dim = RandomizedOocyte("train", N_FRAMES, seed=7, oocyte_index=2, look_ranges={"cortex": (0.0, 0.0)}, **SMALL)
    bright = RandomizedOocyte("train", N_FRAMES, seed=7, oocyte_index=2, look_ranges={"cortex": (3.0, 3.0)}, **SMALL)
    frame = N_FRAMES - 1
    assert np.array_equal(dim.true_mask(frame), bright.true_mask(frame))
    assert bright.render_frame(frame).astype(np.float64).mean() > dim.render_frame(frame).astype(np.float64).mean()
    for bad in ((0.2, 0.8), (1.5, 1.5)):
        with pytest.raises(ValueError, match="neighbour_probability"):
            RandomizedOocyte("train", N_FRAMES, seed=7, oocyte_index=0, look_ranges={"neighbour_probability": bad})


def test_a_gvbd_frame_range_gives_more_frames_without_a_spindle_and_the_same_scenes(tmp_path):
    """GeometryRanges.gvbd_frame / --gvbd_frame LO HI: every oocyte's GVBD frame is drawn from the range (never past
    the last frame) and its frames before it hold no spindle; every other draw of the scene is the default's (a
    controlled set: the same scenes with more frames before GVBD); the default draw is the one every set so far was
    written with; ranges that leave no frame with a spindle are refused."""
    from scripts.randomized import main

    n = 12
    default = [OocyteScene(np.random.default_rng(s), n) for s in range(40)]
    late = [OocyteScene(np.random.default_rng(s), n, GeometryRanges(gvbd_frame=(5, 9))) for s in range(40)]
    assert {s.gvbd_frame for s in default} == {1, 2, 3}  # 1 to min(3, n // 4)
    assert {s.gvbd_frame for s in late} == set(range(5, 10))
    for a, b in zip(default, late, strict=True):
        assert a.phenotype == b.phenotype and a.final_arms == b.final_arms
        np.testing.assert_array_equal(a.centre0_um, b.centre0_um)
        np.testing.assert_array_equal(a.neighbour_centre_um, b.neighbour_centre_um)
    capped = [OocyteScene(np.random.default_rng(s), n, GeometryRanges(gvbd_frame=(9, 30))).gvbd_frame for s in range(40)]
    assert set(capped) == {9, 10, 11}
    for bad in ((12, 14), (4, 2), (-1, 3)):
        with pytest.raises(ValueError, match="gvbd_frame"):
            OocyteScene(np.random.default_rng(0), n, GeometryRanges(gvbd_frame=bad))

    o = RandomizedOocyte("train", N_FRAMES, seed=3, oocyte_index=0, geometry=GeometryRanges(gvbd_frame=(5, 6)), **SMALL)
    gvbd = o.scene.gvbd_frame
    assert gvbd in (5, 6)
    assert all(o.true_mask(t).sum() == 0 for t in range(gvbd)) and o.true_mask(gvbd).sum() > 0

    summary = main(["--out", str(tmp_path / "late"), "--experiments", "1", "--oocytes", "3", "--frames", "6",
                    "--size", "48", "48", "8", "--gvbd_frame", "4", "5"])
    assert all(r["gvbd_frame"] in (4, 5) for r in summary["oocytes"])
    table = (tmp_path / "late" / "gvbd.csv").read_text().splitlines()[1:]
    assert sorted(int(line.split(",")[2]) for line in table) == sorted(r["gvbd_frame"] for r in summary["oocytes"])
    with pytest.raises(SystemExit):
        main(["--out", str(tmp_path / "bad"), "--frames", "6", "--gvbd_frame", "6", "8"])
    assert not (tmp_path / "bad").exists()
