"""The napari plugin (napari-spindle/): its lazy reader and its manifest. napari is an extra for bundle users;
`make test` installs it (requirements-napari.txt), so in CI these tests must run, never skip."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import FRAME_INTERVAL_MIN, SHAPE_TZCYX, SPACING_UM, random_series, write_imagej

REPO = Path(__file__).resolve().parents[1]
if not os.environ.get("CI"):
    pytest.importorskip("napari", reason="the napari extra is not installed (make test installs it)")
sys.path.insert(0, str(REPO / "napari-spindle" / "src"))  # the plugin as installed by `pip install -e`

from napari_spindle._reader import napari_get_reader  # noqa: E402


def test_reader_gives_one_lazy_calibrated_layer_per_channel(tmp_path):
    series = random_series(SHAPE_TZCYX)  # T Z C Y X
    path = write_imagej(tmp_path / "oocyte01.tif", series, "TZCYX")
    reader = napari_get_reader(str(path))
    assert reader is not None
    layers = reader(str(path))
    assert [kwargs["name"] for _, kwargs, _ in layers] == ["oocyte01 microtubules", "oocyte01 chromosomes",
                                                           "oocyte01 aMTOC"]
    t, z, c, y, x = SHAPE_TZCYX
    for data, kwargs, kind in layers:
        assert kind == "image" and data.shape == (t, z, y, x)
        assert type(data).__module__.startswith("dask")  # nothing read yet
        assert kwargs["scale"] == pytest.approx((FRAME_INTERVAL_MIN, SPACING_UM[2], SPACING_UM[1], SPACING_UM[0]))
        assert kwargs["axis_labels"] == ("t", "z", "y", "x")
        channel = kwargs["metadata"]["channel"]
        # one frame computed = that frame of that channel in the file, in (Z, Y, X)
        assert np.array_equal(np.asarray(data[2]), series[2, :, channel])
    assert layers[0][1]["metadata"]["microtubule_channel"] and layers[0][1]["metadata"]["channel"] == 1


def test_reader_declines_what_it_cannot_read(tmp_path):
    (tmp_path / "notes.txt").write_text("not an image")
    assert napari_get_reader(str(tmp_path / "notes.txt")) is None
    (tmp_path / "broken.tif").write_bytes(b"II*\x00garbage")
    assert napari_get_reader(str(tmp_path / "broken.tif")) is None
    assert napari_get_reader([str(tmp_path / "a.tif"), str(tmp_path / "b.tif")]) is None


def test_manifest_is_valid():
    npe2 = pytest.importorskip("npe2") if not os.environ.get("CI") else __import__("npe2")
    manifest = npe2.PluginManifest.from_file(REPO / "napari-spindle" / "src" / "napari_spindle" / "napari.yaml")
    manifest.validate_imports()
    assert [r.command for r in manifest.contributions.readers] == ["napari-spindle.get_reader"]


def test_the_model_choices_are_the_bundles_shipped_models_or_a_weights_file():
    from napari_spindle._widget import MODEL_CHOICES, WEIGHTS_FILE_CHOICE, model_settings
    from scripts.config import SHIPPED_MODELS

    assert {name for name in MODEL_CHOICES.values() if name} == set(SHIPPED_MODELS)
    fast = next(choice for choice, name in MODEL_CHOICES.items() if name == "fast")
    assert model_settings(fast, "ignored.pt") == {"model": "fast"}
    assert model_settings(WEIGHTS_FILE_CHOICE, "/lab/model.pt") == {"model_path": "/lab/model.pt"}


def test_widget_runs_the_bundle_shows_masks_and_curve_and_saves_labels(make_napari_viewer, qtbot, tiny_phantom,
                                                                          random_model, tmp_path):
    import shutil

    import tifffile
    from napari_spindle._widget import WEIGHTS_FILE_CHOICE, SpindleVolumeWidget

    viewer = make_napari_viewer(show=True)
    image_path = tmp_path / "data" / "exp1" / "oocyte01.tif"  # a copy: the saved label goes beside it
    image_path.parent.mkdir(parents=True)
    shutil.copy2(tiny_phantom / "exp1" / "oocyte01.tif", image_path)
    layers = viewer.open(str(image_path), plugin="napari-spindle")  # through the manifest, as a user opens it
    microtubules = next(layer for layer in layers if layer.metadata["microtubule_channel"])
    widget = SpindleVolumeWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.image_picker.value = microtubules
    widget.output_edit.setText(str(tmp_path / "out"))
    assert not widget.model_edit.isEnabled()  # the standard model by default: its file is not typed
    widget.model_choice.setCurrentText(WEIGHTS_FILE_CHOICE)
    assert widget.model_edit.isEnabled()
    widget.model_edit.setText(str(random_model))
    widget.overrides = {"crop_size": [48, 48, -1], "band_probability": 0.2}
    widget.run()
    widget.cancel()  # stops after the first frame: the oocyte is not written, nothing half-done is left
    qtbot.waitUntil(lambda: widget.worker is None, timeout=180_000)
    assert widget.status.text().startswith("cancelled") and widget.labels_layer is None, widget.status.text()
    assert not list((tmp_path / "out" / "results").rglob("oocyte01.csv"))
    widget.run()
    qtbot.waitUntil(lambda: widget.worker is None, timeout=180_000)
    assert widget.labels_layer is not None, widget.status.text()
    masks = tifffile.imread(tmp_path / "out" / "results" / "masks" / "napari" / "oocyte01.tif")
    assert np.array_equal(widget.labels_layer.data, masks)  # the CLI's masks file, on the image's grid
    assert tuple(widget.labels_layer.scale) == tuple(microtubules.scale)
    assert (tmp_path / "out" / "results" / "volumes.csv").is_file()
    assert [r["frame"] for r in widget.rows] == [0, 1, 2, 3]
    widget._on_pick(type("PickEvent", (), {"ind": [3]})())  # a click on the curve's last point
    assert viewer.dims.current_step[0] == 3
    # a correction painted into frame 3 goes into the dataset layout as that frame's label
    widget.labels_layer.data[3] = 0
    widget.labels_layer.data[3][2:4, 20:30, 20:30] = 1
    saved = widget.save_labels()
    assert saved == image_path.parent / "oocyte01_masks" / "t0003.tif"
    assert tifffile.imread(saved).sum() == 2 * 10 * 10
    screenshot = viewer.screenshot(canvas_only=False, flash=False)
    assert screenshot.shape[-1] in (3, 4) and screenshot[..., :3].max() > 0  # the viewer drew something
    tifffile.imwrite(tmp_path / "viewer.tif", screenshot)
