"""The documentation's napari figure: a series opened with the plugin's reader, the widget run on it, a screenshot.

    xvfb-run -a .venv/bin/python napari-spindle/docs_figure.py DATASET_DIR/EXPERIMENT/OOCYTE.tif OUT.png [MODEL]

(e.g. an oocyte of `make demo`'s dataset; the shipped weights unless MODEL is given).
"""

from __future__ import annotations

import sys
import tempfile

import napari
from qtpy.QtWidgets import QApplication


def main(image: str, out: str, model: str | None = None) -> None:
    from napari_spindle._widget import WEIGHTS_FILE_CHOICE, SpindleVolumeWidget

    viewer = napari.Viewer(show=True)
    layers = viewer.open(image, plugin="napari-spindle")
    microtubules = next(layer for layer in layers if layer.metadata["microtubule_channel"])
    widget = SpindleVolumeWidget(viewer)
    viewer.window.add_dock_widget(widget, name="Spindle volume")
    widget.image_picker.value = microtubules
    widget.output_edit.setText(tempfile.mkdtemp())
    if model:  # a weights file instead of the standard shipped model
        widget.model_choice.setCurrentText(WEIGHTS_FILE_CHOICE)
        widget.model_edit.setText(model)
    widget.run()
    while widget.worker is not None:
        QApplication.processEvents()
    viewer.dims.ndisplay = 2
    widget.go_to_frame(len(widget.rows) - 1)
    viewer.dims.set_current_step(1, microtubules.data.shape[1] // 2)
    viewer.reset_view()
    QApplication.processEvents()
    screenshot = viewer.screenshot(path=out, canvas_only=False, flash=False)
    print(f"{out}: {screenshot.shape}, status: {widget.status.text()}")
    viewer.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
    sys.exit(0)
