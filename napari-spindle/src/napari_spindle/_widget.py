"""The "Spindle volume" widget: run the bundle on the oocyte shown in napari and see its masks and volume curve.

Pick the microtubule image layer of a series opened with this plugin's reader (its metadata names the file), an
output folder, and Run. The bundle's own inference (``configs/inference.yaml``: the same crop, network, threshold and
outputs as the command line) runs in a background thread, frame by frame with a progress bar; Cancel stops it after
the current frame (a cancelled oocyte leaves no partial output). When it is done the masks appear as a Labels layer
on the image (same scale), and the volume over time as a plot: clicking a point moves the viewer to that frame;
frames flagged for review (volume jump, wide volume band) are circled in red. The output folder holds exactly what
the command line writes (volumes.csv, summaries, masks, plots). "Save labels" writes the current frame of the Labels
layer, as corrected by hand, into the dataset layout (``OOCYTE_masks/tNNNN.tif`` beside the recording), ready for
fine-tuning. Qt objects are touched on the main thread only; the worker reports through Qt signals.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import QComboBox, QLabel, QLineEdit, QProgressBar, QPushButton, QVBoxLayout, QWidget

from napari_spindle._bundle import bundle_dir, import_bundle_scripts

EXPERIMENT = "napari"  # the one-oocyte dataset the widget evaluates: napari/<file stem>.tif


class _Progress(QObject):
    advanced = Signal(int, int)  # frames done, frames in all


def oocyte_dataset(image_path: str | Path, folder: Path) -> Path:
    """A dataset folder holding only ``image_path`` (linked, or copied where links are not allowed), so that the
    bundle evaluates exactly that oocyte."""
    image_path = Path(image_path)
    target = folder / EXPERIMENT / image_path.name
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        try:
            os.symlink(image_path.resolve(), target)
        except OSError:
            shutil.copy2(image_path, target)
    return folder


def run_bundle(dataset_dir: Path, output_dir: Path, progress=None, cancelled=lambda: False,
               overrides: dict | None = None) -> Path:
    """The bundle's inference on ``dataset_dir`` into ``output_dir`` (the command line's outputs); ``progress(done,
    total)`` after every frame; ``cancelled()`` stops it after the current frame. Returns ``output_dir``, or None
    when cancelled."""
    from ignite.engine import Events
    from monai.bundle import ConfigParser

    scripts = import_bundle_scripts()
    parser = ConfigParser()
    parser.read_config(str(bundle_dir() / "configs" / "inference.yaml"))
    parser.update({"dataset_dir": str(dataset_dir), "output_dir": str(output_dir), "progress_bar": False,
                   "num_workers": 0, **(overrides or {})})
    parser.get_parsed_content("initialize")
    total = len(parser.get_parsed_content("datalist"))
    if total:
        evaluator = parser.get_parsed_content("evaluator")

        def step(engine):
            if progress is not None:
                progress(engine.state.iteration, total)
            if cancelled():
                engine.terminate()

        evaluator.add_event_handler(Events.ITERATION_COMPLETED, step)
        try:
            evaluator.run()
        except RuntimeError:
            if cancelled():  # the writer refuses to finish an oocyte cut short: nothing of it was written
                return None
            raise
    scripts.reports.write_reports(output_dir)
    return Path(output_dir)


# the widget's model choices -> the bundle's `model` setting (its shipped models), or the weights file typed below
WEIGHTS_FILE_CHOICE = "weights file below (e.g. fine-tuned)"
MODEL_CHOICES = {"standard model (six networks)": "standard",
                 "fast model (two networks, ~2x faster on CPUs without bf16)": "fast",
                 WEIGHTS_FILE_CHOICE: None}


def model_settings(choice: str, weights_file: str) -> dict:
    """The bundle settings for the widget's model choice: a shipped model by name (its own int8 model and band
    calibration come with it), or a weights file."""
    shipped = MODEL_CHOICES[choice]
    return {"model": shipped} if shipped else {"model_path": weights_file}


class SpindleVolumeWidget(QWidget):
    def __init__(self, napari_viewer):
        super().__init__()
        from magicgui.widgets import create_widget
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure
        from napari.layers import Image

        self.viewer = napari_viewer
        self.image_picker = create_widget(annotation=Image, label="microtubule image")
        self.viewer.layers.events.inserted.connect(self.image_picker.reset_choices)
        self.viewer.layers.events.removed.connect(self.image_picker.reset_choices)
        self.output_edit = QLineEdit(str(Path(tempfile.gettempdir()) / "spindle_volume"))
        self.model_choice = QComboBox()
        self.model_choice.addItems(list(MODEL_CHOICES))
        self.model_edit = QLineEdit(str(bundle_dir() / "models" / "model.pt"))  # or a fine-tuned model.pt
        self.model_choice.currentTextChanged.connect(
            lambda choice: self.model_edit.setEnabled(MODEL_CHOICES[choice] is None))
        self.model_edit.setEnabled(False)
        self.overrides: dict = {}  # further bundle settings (e.g. crop_size), as on the command line
        self.run_button, self.cancel_button = QPushButton("Run"), QPushButton("Cancel")
        self.save_button = QPushButton("Save labels of this frame")
        self.cancel_button.setEnabled(False)
        self.progress_bar = QProgressBar()
        self.status = QLabel("")
        self.figure = Figure(figsize=(4, 3), dpi=100)
        self.canvas = FigureCanvasQTAgg(self.figure)
        layout = QVBoxLayout(self)
        for widget in (self.image_picker.native, QLabel("output folder"), self.output_edit, QLabel("model"),
                       self.model_choice, self.model_edit, self.run_button,
                       self.cancel_button, self.progress_bar, self.status, self.canvas, self.save_button):
            layout.addWidget(widget)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.save_button.clicked.connect(self.save_labels)
        self.canvas.mpl_connect("pick_event", self._on_pick)
        self._progress = _Progress()
        self._progress.advanced.connect(self._show_progress)
        self._cancel_requested = False
        self.worker = None
        self.rows: list[dict] = []
        self.labels_layer = None

    # ---------------------------------------------------------------------------------------------- running
    def run(self) -> None:
        from napari.qt.threading import thread_worker

        layer = self.image_picker.value
        if layer is None or "path" not in layer.metadata:
            self.status.setText("pick an image layer opened with the spindle reader (its file is needed)")
            return
        output_dir = Path(self.output_edit.text())
        dataset_dir = oocyte_dataset(layer.metadata["path"], output_dir / "dataset")
        self._cancel_requested = False
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText(f"running the bundle on {Path(layer.metadata['path']).name} ...")
        worker = thread_worker(run_bundle)(dataset_dir, output_dir / "results", self._progress.advanced.emit,
                                           lambda: self._cancel_requested,
                                           {**model_settings(self.model_choice.currentText(),
                                                             self.model_edit.text()), **self.overrides})
        worker.returned.connect(lambda out: self._show_results(out, layer))
        worker.errored.connect(self._failed)
        worker.finished.connect(self._finished)
        self.worker = worker
        worker.start()

    def cancel(self) -> None:
        self._cancel_requested = True
        self.status.setText("cancelling after the current frame ...")

    def _show_progress(self, done: int, total: int) -> None:
        self.progress_bar.setMaximum(total)
        self.progress_bar.setValue(done)

    def _failed(self, exc: Exception) -> None:
        self.status.setText(f"failed: {exc}")

    def _finished(self) -> None:
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.worker = None

    # ---------------------------------------------------------------------------------------------- results
    def _show_results(self, output_dir: Path, layer) -> None:
        import tifffile

        scripts = import_bundle_scripts()
        if output_dir is None:
            self.status.setText("cancelled: nothing written for this oocyte")
            return
        stem = Path(layer.metadata["path"]).stem
        masks_path = output_dir / "masks" / EXPERIMENT / f"{stem}.tif"
        rows_path = output_dir / "oocytes" / EXPERIMENT / f"{stem}.csv"
        masks = tifffile.imread(masks_path)  # (T, Z, Y, X) uint8
        if masks.ndim == 3:
            masks = masks[None]
        name = f"{stem} spindle"
        if name in self.viewer.layers:
            self.viewer.layers.remove(name)
        self.labels_layer = self.viewer.add_labels(masks.astype(np.uint8), name=name, scale=layer.scale,
                                                   metadata={"path": layer.metadata["path"]})
        self.rows = scripts.reports.read_rows(rows_path)
        self._plot()
        self.status.setText(f"done: {len(self.rows)} frames; outputs in {output_dir}")

    def _plot(self) -> None:
        self.figure.clear()
        ax = self.figure.subplots()
        since = np.array([r["minutes_since_gvbd"] for r in self.rows], float)
        x = since if np.isfinite(since).any() else np.array([r["time_min"] for r in self.rows], float)
        volume = np.array([r["volume_um3"] for r in self.rows], float)
        ax.plot(x, volume, "-", color="tab:blue")
        ax.plot(x, volume, "o", color="tab:blue", ms=4, picker=5)
        review = np.array([isinstance(r.get("review"), str) and bool(r["review"]) for r in self.rows])
        if review.any():
            ax.plot(x[review], volume[review], "o", mfc="none", mec="red", ms=9, label="review")
            ax.legend(fontsize=7)
        ax.set_xlabel("minutes since GVBD" if np.isfinite(since).any() else "time (min)")
        ax.set_ylabel("volume (um³)")
        self.figure.tight_layout()
        self.canvas.draw_idle()

    def _on_pick(self, event) -> None:
        index = int(event.ind[0])
        self.go_to_frame(int(self.rows[index]["frame"]))

    def go_to_frame(self, frame: int) -> None:
        self.viewer.dims.set_current_step(0, frame)

    def save_labels(self) -> Path | None:
        """The Labels layer's current frame, as painted, as a label of the dataset (``OOCYTE_masks/tNNNN.tif``)."""
        if self.labels_layer is None:
            self.status.setText("run the bundle first (or add a Labels layer from it)")
            return None
        scripts = import_bundle_scripts()
        frame = int(self.viewer.dims.current_step[0])
        image_path = Path(self.labels_layer.metadata["path"])
        target = image_path.parent / f"{image_path.stem}_masks" / f"t{frame:04d}.tif"
        mask_zyx = (np.asarray(self.labels_layer.data[frame]) > 0).astype(np.uint8)
        spacing_xyz = tuple(float(s) for s in self.labels_layer.scale[:0:-1])
        replaced = target.is_file()
        target.parent.mkdir(parents=True, exist_ok=True)
        scripts.io.write_imagej_hyperstack(target, mask_zyx, "ZYX", spacing_xyz)
        volume = mask_zyx.sum() * math.prod(spacing_xyz)
        self.status.setText(f"{'replaced' if replaced else 'saved'} {target} ({volume:.0f} um³) for fine-tuning")
        return target
