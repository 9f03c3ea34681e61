"""The evaluation run of a dataset: which frames, the output folder's state, and progress on the terminal.

``configs/inference.yaml`` (and the ``evaluate.yaml`` overlay) use, in this order:

- ``prepare_output_dir(output_dir, model_path, skip_finished)`` in ``initialize``, when the run starts: removes
  the partial files of killed runs and checks that the folder's finished oocytes came from the same weights
  (``model.json``), so that a rerun never mixes two models' volumes;
- ``evaluation_items(dataset_dir, output_dir, ...)``: the frames to evaluate (every frame of every oocyte,
  ``scripts.datalist.scan_frame_items``, or a named datalist's list), in (experiment, oocyte, frame) order, without
  the oocytes a previous run finished from the same inputs and settings (``oocyte_provenance``, stored by the
  recorder beside each finished oocyte's rows; changed ones are evaluated again);
- ``FrameProgressBar``: frames done of the total, oocyte by oocyte (tqdm, switchable);
- then ``scripts.recording.TimeSeriesWriter`` records every frame and ``scripts.reports.write_reports`` writes the
  folder-wide tables.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ignite.engine import Engine, Events
from tqdm import tqdm

from scripts.config import required_dataset_dir
from scripts.datalist import scan_frame_items
from scripts.io import atomic_path, file_sha256, remove_abandoned_partial_files
from scripts.reports import OOCYTE_ROWS_DIR, as_float, finished_oocytes, json_ready

logger = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------------------ output folder
MODEL_RECORD = "model.json"  # which weights produced the finished oocytes of an output folder


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
    current = {"model_path": str(model_path.resolve()), "sha256": file_sha256(model_path)}
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
    if Path(output_dir).exists() and not Path(output_dir).is_dir():
        raise NotADirectoryError(f"output_dir {output_dir} is a file, expected a folder for the results: choose "
                                 "another --output_dir")
    for path in remove_abandoned_partial_files(output_dir):
        logger.info(f"removed {path}: a partial file of an earlier run that was killed")
    check_model_record(output_dir, model_path, finished_oocytes(output_dir) if skip_finished else set())


def oocyte_record_path(output_dir: str | Path, experiment: str, oocyte: str) -> Path:
    """Where a finished oocyte's provenance is kept: beside its row file, ``oocytes/<experiment>/<oocyte>.json``."""
    return Path(output_dir) / OOCYTE_ROWS_DIR / experiment / f"{oocyte}.json"


def oocyte_provenance(items: Sequence[Mapping[str, Any]], settings: Mapping[str, Any]) -> dict[str, Any]:
    """What produced an oocyte's results: its input files, frames and times, and the settings that change them.

    ``items`` are the oocyte's evaluation items (absolute paths); every image and label file is identified by its
    resolved path, size and modification time (reading the pixels of a 10 GB series again would cost minutes).
    ``settings`` are the values that change the answer (channel, crop, spacing, precision, ...; the configs'
    ``run_settings``). JSON-ready: what ``OocyteRecorder`` stores and a rerun compares.
    """
    paths = sorted({str(Path(it[key]).resolve()) for it in items for key in ("image", "label") if it.get(key)})
    inputs = []
    for path in paths:
        stat = Path(path).stat()
        inputs.append({"path": path, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns})
    frames = [[int(it["frame"]), json_ready(as_float(it.get("time_min"))),
               json_ready(as_float(it.get("minutes_since_gvbd")))]
              for it in sorted(items, key=lambda it: int(it["frame"]))]
    return json.loads(json.dumps({"inputs": inputs, "frames": frames, "settings": dict(settings)}))


def provenance_changes(stored: Mapping[str, Any] | None, current: Mapping[str, Any]) -> list[str]:
    """What differs between a finished oocyte's stored provenance and the current run's, in words ([] = same)."""
    if stored is None:
        return ["no provenance record (finished by an older version)"]
    changes = []
    old_settings, new_settings = stored.get("settings", {}), current["settings"]
    for key in sorted(set(old_settings) | set(new_settings)):
        if old_settings.get(key) != new_settings.get(key):
            changes.append(f"{key} {old_settings.get(key)!r} -> {new_settings.get(key)!r}")
    old_inputs = {i["path"]: i for i in stored.get("inputs", [])}
    new_inputs = {i["path"]: i for i in current["inputs"]}
    changed = sorted(p for p in set(old_inputs) | set(new_inputs) if old_inputs.get(p) != new_inputs.get(p))
    if changed:
        changes.append(f"{len(changed)} input files differ (path, size or modification time), e.g. {changed[0]}")
    if stored.get("frames") != current["frames"]:
        changes.append("frames or their times differ (frame list, frame interval or GVBD)")
    return changes


def read_oocyte_provenance(output_dir: str | Path, experiment: str, oocyte: str) -> dict[str, Any] | None:
    path = oocyte_record_path(output_dir, experiment, oocyte)
    return json.loads(path.read_text()) if path.is_file() else None


# -------------------------------------------------------------------------------------------------------- items
def evaluation_items(
    dataset_dir: str | Path,
    output_dir: str | Path,
    datalist_file: str | Path | None = None,
    subset: str = "inference",
    skip_finished: bool = True,
    frame_interval_min: float = 10.0,
    settings: Mapping[str, Any] | None = None,
) -> list[dict]:
    """The frames to evaluate, one datalist item per frame, sorted by (experiment, oocyte, frame).

    Every frame of every oocyte in ``dataset_dir`` (``scripts.datalist.scan_frame_items``; ``frame_interval_min``
    for files that state no frame interval), or, when ``datalist_file`` is given, its ``subset`` list (e.g. the
    ``inference`` list: every frame of the test oocytes). A ``datalist.json`` that training left in the dataset
    folder is not used unless named: it would silently restrict the run to the test oocytes. Paths become absolute (datalist paths are relative to ``dataset_dir``); ``time_min`` and
    ``minutes_since_gvbd`` become floats (NaN when unknown); each item gets ``index``, its position in the
    returned list. With ``skip_finished``, oocytes whose row file exists in ``output_dir`` are left out, so an
    interrupted run resumes where it stopped (``prepare_output_dir`` has checked they came from the same weights).
    Given ``settings`` (the configs' ``run_settings``), a finished oocyte is skipped only if its stored provenance
    (``oocyte_provenance``: input files, frames, settings) is the current one; otherwise it is evaluated again, with
    a warning saying what changed. Reads only: nothing in ``output_dir`` is changed.
    """
    dataset_dir = required_dataset_dir(dataset_dir)
    if not dataset_dir.is_dir():
        raise FileNotFoundError(f"dataset_dir {dataset_dir} is not a folder (expected EXPERIMENT/OOCYTE.tif files and gvbd.csv)")
    if datalist_file:
        datalist_path = Path(datalist_file)
        if not datalist_path.is_file():
            raise FileNotFoundError(f"datalist_file {datalist_path} does not exist")
        with open(datalist_path) as f:
            datalist = json.load(f)
        if subset not in datalist:
            raise ValueError(f"{datalist_path}: no {subset!r} list in the datalist (found {sorted(datalist)}); "
                             "set --datalist_subset to one of them")
        raw_items = datalist[subset]
        source = f"{datalist_path} [{subset}]"
    else:
        raw_items = scan_frame_items(dataset_dir, frame_interval_min)
        source = f"a scan of {dataset_dir} (every frame of every oocyte)"
        if (dataset_dir / "datalist.json").is_file():
            logger.warning(f"{dataset_dir / 'datalist.json'} is not used: every frame of every oocyte is evaluated; "
                           f"pass --datalist_file {dataset_dir / 'datalist.json'} to evaluate its {subset!r} list")
    items = []
    for raw in raw_items:
        item = dict(raw)
        for key in ("image", "label"):
            if item.get(key):
                item[key] = str(dataset_dir / item[key])
                if not Path(item[key]).is_file():
                    raise FileNotFoundError(f"{source} names {item['experiment']}/{item['oocyte']} frame {item.get('frame')} "
                                            f"with {key} {item[key]}, which does not exist: the dataset changed since "
                                            "the datalist was written; write it again (python -m scripts.datalist)")
            else:
                item.pop(key, None)
        item["frame"] = int(item.get("frame", 0))
        item["time_min"] = as_float(item.get("time_min"))
        item["minutes_since_gvbd"] = as_float(item.get("minutes_since_gvbd"))
        items.append(item)
    finished = _still_valid(finished_oocytes(output_dir), items, output_dir, settings) if skip_finished else set()
    items = [it for it in items if (it["experiment"], it["oocyte"]) not in finished]
    items.sort(key=lambda it: (it["experiment"], it["oocyte"], it["frame"]))
    for index, item in enumerate(items):
        item["index"] = index
    n_oocytes = len({(i["experiment"], i["oocyte"]) for i in items})
    logger.info(f"evaluating {len(items)} frames of {n_oocytes} oocytes from {source}; "
                f"{len(finished)} oocytes already finished in {output_dir} are skipped")
    return items


def oocyte_shard(items: Sequence[Mapping[str, Any]], rank: int, world_size: int) -> list[Mapping[str, Any]]:
    """The items of process ``rank`` of ``world_size``: every frame of oocytes rank, rank + world_size, ... in
    (experiment, oocyte) order, in the items' own order, each with its ``index`` in the share (the writer's and
    the progress bar's key); so each oocyte stays with one process."""
    oocytes = sorted({(item["experiment"], item["oocyte"]) for item in items})
    mine = set(oocytes[rank::world_size])
    share = [item for item in items if (item["experiment"], item["oocyte"]) in mine]
    return [{**item, "index": index} for index, item in enumerate(share)]


def _still_valid(finished: set[tuple[str, str]], items: Sequence[Mapping[str, Any]], output_dir: str | Path,
                 settings: Mapping[str, Any] | None) -> set[tuple[str, str]]:
    """The finished oocytes whose results still hold: same input files, frames and settings (``settings`` None:
    all of them, by name)."""
    if settings is None:
        return finished
    by_oocyte: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for item in items:
        by_oocyte.setdefault((item["experiment"], item["oocyte"]), []).append(item)
    valid = set()
    for key in sorted(finished):
        if key not in by_oocyte:
            valid.add(key)  # not part of this run: left as it is
            continue
        changes = provenance_changes(read_oocyte_provenance(output_dir, *key), oocyte_provenance(by_oocyte[key], settings))
        if changes:
            logger.warning(f"{key[0]}/{key[1]} was finished in {output_dir} from other inputs or settings "
                           f"({'; '.join(changes)}): it is evaluated again")
        else:
            valid.add(key)
    return valid




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
