"""The evaluation run of a dataset: which frames, the output folder's state, and progress on the terminal.

``configs/inference.yaml`` (and the ``evaluate.yaml`` overlay) use, in this order:

- ``prepare_output_dir(output_dir, model_path, skip_finished)`` in ``initialize``, when the run starts: removes
  the partial files of killed runs and checks that the folder's finished oocytes came from the same weights
  (``model.json``), so that a rerun never mixes two models' volumes;
- ``evaluation_items(dataset_dir, output_dir, ...)``: the frames to evaluate (the datalist's ``inference`` list
  or a scan of the dataset, ``scripts.datalist.scan_frame_items``), in (experiment, oocyte, frame) order, without
  the oocytes a previous run finished;
- ``FrameProgressBar``: frames done of the total, oocyte by oocyte (tqdm, switchable);
- then ``scripts.recording.TimeSeriesWriter`` records every frame and ``scripts.reports.write_reports`` writes the
  folder-wide tables.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ignite.engine import Engine, Events
from tqdm import tqdm

from scripts.datalist import scan_frame_items
from scripts.io import atomic_path, remove_abandoned_partial_files
from scripts.reports import as_float, finished_oocytes

logger = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------ output folder
MODEL_RECORD = "model.json"  # which weights produced the finished oocytes of an output folder


def _sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_model_record(output_dir: str | Path, model_path: str | Path, finished: set[tuple[str, str]]) -> None:
    """Refuse to add results of one model to an output folder whose finished oocytes came from another.

    A rerun skips finished oocytes; after retraining, that would silently mix the old model's volumes with the
    new one's. The folder records the weights' SHA-256 in ``model.json``; a different model with finished oocytes
    raises ``ValueError`` naming both. With no finished oocytes the record is (re)written.
    """
    output_dir, model_path = Path(output_dir), Path(model_path)
    if not model_path.is_file():
        return  # load_network reports the missing file, with the advice
    record_path = output_dir / MODEL_RECORD
    current = {"model_path": str(model_path.resolve()), "sha256": _sha256(model_path)}
    if finished and record_path.is_file():
        previous = json.loads(record_path.read_text())
        if previous.get("sha256") != current["sha256"]:
            raise ValueError(
                f"output_dir {output_dir} holds {len(finished)} finished oocytes of another model "
                f"({previous.get('model_path')}, sha256 {str(previous.get('sha256'))[:12]}...), not of {model_path} "
                f"(sha256 {current['sha256'][:12]}...): a rerun would mix the two models' volumes. Choose a new "
                "--output_dir, delete this one, or pass --skip_finished false to evaluate every oocyte again")
        return
    with atomic_path(record_path) as tmp:
        tmp.write_text(json.dumps(current, indent=1) + "\n")


def prepare_output_dir(output_dir: str | Path, model_path: str | Path, skip_finished: bool = True) -> None:
    """What a run does to its output folder before the first frame: tidy up, then check whose results it holds.

    Removes the hidden ``.part`` files of runs that were killed (never those of a live writer), then, with
    ``skip_finished``, refuses a folder whose finished oocytes came from other weights (``check_model_record``).
    Without ``skip_finished`` every oocyte is evaluated again and the record is rewritten.
    """
    for path in remove_abandoned_partial_files(output_dir):
        logger.info(f"removed {path}: a partial file of an earlier run that was killed")
    check_model_record(output_dir, model_path, finished_oocytes(output_dir) if skip_finished else set())


# -------------------------------------------------------------------------------------------------------- items
def evaluation_items(
    dataset_dir: str | Path,
    output_dir: str | Path,
    datalist_file: str | Path | None = None,
    subset: str = "inference",
    skip_finished: bool = True,
    frame_interval_min: float = 10.0,
) -> list[dict]:
    """The frames to evaluate, one datalist item per frame, sorted by (experiment, oocyte, frame).

    From ``datalist_file`` (default ``<dataset_dir>/datalist.json`` when it exists) its ``subset`` list (the
    ``inference`` list: every frame of the test oocytes); without a datalist, every frame of every oocyte in
    ``dataset_dir`` (``scripts.datalist.scan_frame_items``; ``frame_interval_min`` for files that state no frame
    interval). Paths become absolute (datalist paths are relative to ``dataset_dir``); ``time_min`` and
    ``minutes_since_gvbd`` become floats (NaN when unknown); each item gets ``index``, its position in the
    returned list. With ``skip_finished``, oocytes whose row file exists in ``output_dir`` are left out, so an
    interrupted run resumes where it stopped (``prepare_output_dir`` has checked they came from the same weights).
    Reads only: nothing in ``output_dir`` is changed.
    """
    dataset_dir = Path(dataset_dir)
    if not dataset_dir.is_dir():
        raise FileNotFoundError(f"dataset_dir {dataset_dir} is not a folder (expected EXPERIMENT/OOCYTE.tif files and gvbd.csv)")
    datalist_path = Path(datalist_file) if datalist_file else dataset_dir / "datalist.json"
    if datalist_path.is_file():
        with open(datalist_path) as f:
            datalist = json.load(f)
        if subset not in datalist:
            raise KeyError(f"{datalist_path}: no {subset!r} list in the datalist (found {sorted(datalist)})")
        raw_items = datalist[subset]
        source = f"{datalist_path} [{subset}]"
    elif datalist_file:
        raise FileNotFoundError(f"datalist_file {datalist_path} does not exist")
    else:
        raw_items = scan_frame_items(dataset_dir, frame_interval_min)
        source = f"a scan of {dataset_dir}"
    finished = finished_oocytes(output_dir) if skip_finished else set()
    items = []
    for raw in raw_items:
        item = dict(raw)
        if (item["experiment"], item["oocyte"]) in finished:
            continue
        for key in ("image", "label"):
            if item.get(key):
                item[key] = str(dataset_dir / item[key])
            else:
                item.pop(key, None)
        item["frame"] = int(item.get("frame", 0))
        item["time_min"] = as_float(item.get("time_min"))
        item["minutes_since_gvbd"] = as_float(item.get("minutes_since_gvbd"))
        items.append(item)
    items.sort(key=lambda it: (it["experiment"], it["oocyte"], it["frame"]))
    for index, item in enumerate(items):
        item["index"] = index
    n_oocytes = len({(i["experiment"], i["oocyte"]) for i in items})
    logger.info(f"evaluating {len(items)} frames of {n_oocytes} oocytes from {source}; "
                f"{len(finished)} oocytes already finished in {output_dir} are skipped")
    return items




# ----------------------------------------------------------------------------------------------------- progress
class FrameProgressBar:
    """Ignite handler: a tqdm bar per oocyte on stderr, frames done of the oocyte's total, and the run's total.

    ``items`` are the evaluated items (``evaluation_items``) in the loader's order; each batch item's ``index``
    points into them. The bar's label reads ``exp1/oocyte02 (2/4 oocytes, 17/48 frames)``; a finished oocyte's
    bar stays on the terminal, so the output lists what was done. ``enabled`` False attaches nothing.
    """

    def __init__(self, items: Sequence[Mapping[str, Any]], enabled: bool = True) -> None:
        self.items = list(items)
        self.enabled = bool(enabled)
        self._frames_per_oocyte: dict[tuple[str, str], int] = {}
        for item in self.items:
            key = (item["experiment"], item["oocyte"])
            self._frames_per_oocyte[key] = self._frames_per_oocyte.get(key, 0) + 1
        self._oocyte_order = list(self._frames_per_oocyte)
        self._bar: tqdm | None = None
        self._oocyte: tuple[str, str] | None = None
        self.frames_done = 0

    def attach(self, engine: Engine) -> None:
        if not self.enabled or not self.items:
            return
        engine.add_event_handler(Events.ITERATION_COMPLETED, self.iteration_completed)
        engine.add_event_handler(Events.COMPLETED, self.close)
        engine.add_event_handler(Events.EXCEPTION_RAISED, self.close)

    def iteration_completed(self, engine: Engine) -> None:
        batch = engine.state.batch
        for batch_item in batch if isinstance(batch, list) else [batch]:
            self.advance(self.items[int(batch_item["index"])])

    def advance(self, item: Mapping[str, Any]) -> None:
        """Count one finished frame of ``item``'s oocyte."""
        key = (item["experiment"], item["oocyte"])
        if key != self._oocyte:
            self.close()
            self._oocyte = key
            self._bar = tqdm(total=self._frames_per_oocyte[key], unit="frame", file=sys.stderr, leave=True,
                             dynamic_ncols=True)
        self.frames_done += 1
        n_oocyte = self._oocyte_order.index(key) + 1
        self._bar.set_description_str(f"{key[0]}/{key[1]} ({n_oocyte}/{len(self._oocyte_order)} oocytes, "
                                      f"{self.frames_done}/{len(self.items)} frames)", refresh=False)
        self._bar.update(1)

    def close(self, *_: Any) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            self._oocyte = None
