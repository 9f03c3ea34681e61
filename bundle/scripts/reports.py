"""The reports a biologist opens: per-frame rows, per-oocyte and per-experiment summaries, plots.

The evaluation run (``scripts.recording``) writes each finished oocyte's rows to ``oocytes/<experiment>/<oocyte>.csv``
(its done marker) with its volume plot; ``write_reports(output_dir)`` then rebuilds the folder-wide tables from
every finished oocyte, including those of earlier runs. This module owns the output folder's tables:

    volumes.csv                       one row per frame (columns: ``volume_csv_columns``)
    summary_per_oocyte.csv            one row per (method, experiment, oocyte)
    summary_per_experiment.csv        one row per (method, experiment), plus experiment "ALL"
    summary.json                      both summary tables
    plots/<experiment>_<oocyte>.png   volume vs minutes since GVBD, reference points, relative-error panel
    qc/<experiment>_<oocyte>.png      a few frames: max projection with mask outlines
    oocytes/<experiment>/<oocyte>.csv the oocyte's rows; written last, it marks the oocyte as finished

Units: volumes in um^3, lengths in um, times in minutes, relative errors as fractions ((pred - ref) / ref).
Every file appears under its final name only when complete.
"""

from __future__ import annotations

import csv
import json
import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.patches
import numpy as np
from matplotlib.figure import Figure

from scripts.biology import POLARITY_STATES, estimate_gvbd, oocyte_phenotype
from scripts.io import atomic_path

logger = logging.getLogger(__name__)

ID_COLUMNS = ("experiment", "oocyte", "frame", "time_min", "minutes_since_gvbd")
REFERENCE_COLUMNS = ("has_label", "ref_volume_um3")
# Per-method columns; the primary method (the network) has them unprefixed, others as "<method>_<column>".
# volume_lo_um3 / volume_hi_um3: the band from the network's probabilities (scripts.metrics.volume_band_um3);
# length_um ... plate_width_um: Spindle3D's morphometry (scripts.morphometry.MORPHOMETRY_COLUMNS); n_poles and
# polarity: the aMTOC poles (scripts.biology), where the aMTOC channel is read; review: why a person should look at
# the frame (``review_reason``), empty when nothing calls for it.
METHOD_COLUMNS = (
    "volume_um3", "volume_lo_um3", "volume_hi_um3",
    "length_um", "width_avg_um", "width_min_um", "width_max_um", "aspect_ratio", "angle_deg", "plate_width_um",
    "n_poles", "polarity", "n_components", "touches_crop_border", "volume_jump", "review",
    "centroid_x_um", "centroid_y_um", "centroid_z_um", "abs_volume_error_um3", "rel_volume_error", "dice",
    "note",  # why a method gave no result on this frame (e.g. the classical baseline found no DNA plate)
)
SUMMARY_COLUMNS = (
    "method", "experiment", "oocyte", "n_oocytes", "n_frames", "n_labelled", "mean_dice", "median_dice",
    "median_abs_rel_volume_error", "mean_abs_rel_volume_error", "mae_um3", "mean_volume_um3",
    "n_volume_jumps", "n_touches_crop_border",
)
# per oocyte only (scripts.biology): GVBD from the table and estimated from the volume series; the phenotype call
BIOLOGY_COLUMNS = ("gvbd_frame", "gvbd_frame_estimated", "gvbd_confidence", "phenotype", "phenotype_fraction")
OOCYTE_SUMMARY_COLUMNS = SUMMARY_COLUMNS + BIOLOGY_COLUMNS
ALL_EXPERIMENTS = "ALL"
WIDE_BAND_FRACTION = 0.5  # a volume band wider than half the volume (and than WIDE_BAND_MIN_UM3) calls for review
WIDE_BAND_MIN_UM3 = 50.0
OOCYTE_ROWS_DIR = "oocytes"



# ------------------------------------------------------------------------------------------------ output folder
def oocyte_rows_path(output_dir: str | Path, experiment: str, oocyte: str) -> Path:
    return Path(output_dir) / OOCYTE_ROWS_DIR / experiment / f"{oocyte}.csv"


def finished_oocytes(output_dir: str | Path) -> set[tuple[str, str]]:
    """(experiment, oocyte) pairs whose row file exists, i.e. whose masks, plot and montage are complete."""
    root = Path(output_dir) / OOCYTE_ROWS_DIR
    return {(p.parent.name, p.stem) for p in root.glob("*/*.csv")} if root.is_dir() else set()


def as_float(value: Any) -> float:
    """A datalist number as float; None or empty (e.g. no GVBD known) becomes NaN, which collates and plots cleanly."""
    if value is None or value == "":
        return math.nan
    return float(value)



def review_reason(volume_um3: float, low_um3: float, high_um3: float, volume_jump: bool,
                  touches_crop_border: bool = False) -> str:
    """Why a frame's result should be checked by eye: a volume jump against its neighbours, a wide volume band
    (the network unsure of a large part of the spindle), a mask that reaches the crop's edge (a spindle cut off,
    or something else taken for one: on the held-out renderer families nearly all such masks were wrong, a cell
    edge or haze); "" when none."""
    reasons = ["volume jump"] if volume_jump else []
    width = high_um3 - low_um3
    if math.isfinite(width) and width > max(WIDE_BAND_FRACTION * volume_um3, WIDE_BAND_MIN_UM3):
        reasons.append("wide volume band")
    if touches_crop_border:
        reasons.append("touches crop border")
    return ", ".join(reasons)


def volume_csv_columns(methods: Sequence[str]) -> list[str]:
    """Columns of volumes.csv: ids, reference, then ``METHOD_COLUMNS`` for each method (first one unprefixed)."""
    columns = list(ID_COLUMNS) + list(REFERENCE_COLUMNS)
    for i, method in enumerate(methods):
        columns += [c if i == 0 else f"{method}_{c}" for c in METHOD_COLUMNS]
    return columns


def method_key(methods: Sequence[str], method: str, column: str) -> str:
    """The column name of ``method``'s ``column``: unprefixed for the primary (first) method, else "<method>_<column>"."""
    return column if method == methods[0] else f"{method}_{column}"


# --------------------------------------------------------------------------------------------------- CSV helpers
def _format(value: Any) -> str:
    """CSV cell: NaN/None empty, bools 0/1, floats at full precision (so volumes read back exactly)."""
    if value is None:
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return "" if not math.isfinite(float(value)) else repr(float(value))
    return str(value)


def write_csv(path: Path, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> None:
    """``rows`` as a CSV with ``columns`` (missing values empty), written atomically."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_format(row.get(c)) for c in columns])


def _parse(value: str) -> Any:
    if value == "":
        return math.nan
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() and "." not in value and "e" not in value.lower() else number


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a CSV written here, with numbers parsed (empty cells -> NaN; experiment/oocyte stay strings)."""
    with open(path, newline="") as f:
        return [{k: (v if k in ("experiment", "oocyte", "method") else _parse(v)) for k, v in row.items()}
                for row in csv.DictReader(f)]


# ------------------------------------------------------------------------------------------------------ plotting
def plot_oocyte_volumes(rows: Sequence[Mapping[str, Any]], methods: Sequence[str], path: str | Path, title: str) -> Path:
    """Volume over time (thesis figures 6.7 / 6.8): lines per method, reference points, relative-error panel.

    The x axis is minutes since GVBD where GVBD is known (a dotted line marks GVBD), else minutes since the
    start, with the GVBD frame estimated from the volumes (``scripts.biology``) marked instead. The volume band
    (``volume_lo_um3`` to ``volume_hi_um3``) is shaded where the method has one. Frames flagged as
    volume jumps are circled in red. A strip under the curve shows each frame's polarity (where the aMTOC channel
    was read); the relative-error panel appears only when some frame has a reference.
    """
    since_gvbd = np.array([r["minutes_since_gvbd"] for r in rows], dtype=float)
    use_gvbd = bool(np.isfinite(since_gvbd).any())
    x = since_gvbd if use_gvbd else np.array([r["time_min"] for r in rows], dtype=float)
    if not np.isfinite(x).any():
        x = np.array([r["frame"] for r in rows], dtype=float)
    ref = np.array([r["ref_volume_um3"] for r in rows], dtype=float)
    labelled = np.isfinite(ref)
    colours = ["tab:blue", "tab:orange", "tab:purple", "tab:brown"]

    states = [r.get("polarity") for r in rows]
    show_polarity = all(s in POLARITY_STATES for s in states)

    panels = ["volume"] + (["polarity"] if show_polarity else []) + (["error"] if labelled.any() else [])
    ratios = {"volume": 2.0, "polarity": 0.25, "error": 1.0}
    fig = Figure(figsize=(8, 4 + (2 if labelled.any() else 0) + (0.5 if show_polarity else 0)), dpi=100)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False,
                        gridspec_kw={"height_ratios": [ratios[p] for p in panels]})[:, 0]
    ax_vol = axes[0]
    ax_err = axes[panels.index("error")] if "error" in panels else None
    if show_polarity:
        _polarity_strip(axes[panels.index("polarity")], x, states)
    for i, method in enumerate(methods):
        volume = np.array([r[method_key(methods, method, "volume_um3")] for r in rows], dtype=float)
        style = "-" if i == 0 else "--"
        measured = np.isfinite(volume)
        # a method measured on some frames only (the baseline on labelled frames) is drawn through its points
        marker = "" if measured.all() else "^"
        ax_vol.plot(x[measured], volume[measured], style + marker, color=colours[i % len(colours)],
                    lw=1.6 if i == 0 else 1.1, ms=4, label=method)
        low = np.array([as_float(r.get(method_key(methods, method, "volume_lo_um3"))) for r in rows], dtype=float)
        high = np.array([as_float(r.get(method_key(methods, method, "volume_hi_um3"))) for r in rows], dtype=float)
        banded = np.isfinite(low) & np.isfinite(high)
        if banded.any():
            ax_vol.fill_between(x[banded], low[banded], high[banded], color=colours[i % len(colours)], alpha=0.2,
                                lw=0, label=f"{method}: volume band")
        jumps = np.array([bool(r[method_key(methods, method, "volume_jump")]) for r in rows])
        if jumps.any():
            ax_vol.plot(x[jumps], volume[jumps], "o", mfc="none", mec="red", ms=9,
                        label=f"{method}: volume jump" if i == 0 else None)
        if ax_err is not None:
            rel = np.array([r[method_key(methods, method, "rel_volume_error")] for r in rows], dtype=float)
            ax_err.plot(x[labelled], 100.0 * rel[labelled], style + "o", color=colours[i % len(colours)], ms=4, label=method)
    if labelled.any():
        ax_vol.plot(x[labelled], ref[labelled], "ks", ms=5, label="reference")
        ax_err.axhline(0.0, color="0.5", lw=0.8)
        ax_err.set_ylabel("relative error (%)")
        ax_err.grid(alpha=0.3)
        # scale the error axis to the primary method: a poor baseline (errors of 1000s of %) would flatten it
        primary_rel = np.array([r["rel_volume_error"] for r in rows], dtype=float)[labelled]
        primary_rel = primary_rel[np.isfinite(primary_rel)]
        limit = max(10.0, 1.3 * 100.0 * float(np.abs(primary_rel).max())) if len(primary_rel) else 100.0
        ax_err.set_ylim(-limit, limit)
        ax_err.legend(loc="upper right", fontsize=8, title="beyond the axis: off scale", title_fontsize=7)
    gvbd_x, gvbd_label = (0.0, "GVBD") if use_gvbd else (_estimated_gvbd_x(rows, x), "GVBD (estimated)")
    for ax in axes:
        if math.isfinite(gvbd_x):
            ax.axvline(gvbd_x, color="0.4", ls=":" if use_gvbd else "-.", lw=1,
                       label=gvbd_label if ax is ax_vol else None)
    # scale the volume axis to the primary method and the reference, as the error axis: a baseline that takes
    # the whole cytoplasm (100x the spindle's volume) would otherwise flatten the curve a biologist reads
    primary_volume = np.array([r["volume_um3"] for r in rows], dtype=float)
    shown = np.concatenate([primary_volume[np.isfinite(primary_volume)], ref[labelled]])
    if len(shown) and float(shown.max()) > 0:
        ax_vol.set_ylim(0.0, 1.3 * float(shown.max()))
    ax_vol.set_ylabel("spindle volume (um³)")
    ax_vol.set_title(title)
    ax_vol.grid(alpha=0.3)
    ax_vol.legend(loc="upper left", fontsize=8)
    axes[-1].set_xlabel("minutes since GVBD" if use_gvbd else "time (min)")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path


POLARITY_COLOURS = {"none": "0.9", "monopolar": "tab:red", "bipolar": "tab:green", "multipolar": "tab:purple"}


def _polarity_strip(ax, x: np.ndarray, states: Sequence[str]) -> None:
    """One coloured cell per frame (its polarity state) on a thin axis under the volume curve."""
    half = np.diff(x).min() / 2 if len(x) > 1 and np.isfinite(np.diff(x)).all() else 0.5
    for xi, state in zip(x, states, strict=True):
        ax.axvspan(xi - half, xi + half, color=POLARITY_COLOURS[state], lw=0)
    ax.set_yticks([])
    ax.set_ylabel("poles", rotation=0, ha="right", va="center", fontsize=8)
    seen = [s for s in POLARITY_STATES if s in states]
    handles = [matplotlib.patches.Patch(color=POLARITY_COLOURS[s], label=s) for s in seen]
    ax.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=7, frameon=False)


def _estimated_gvbd_x(rows: Sequence[Mapping[str, Any]], x: np.ndarray) -> float:
    """The x position of the GVBD frame estimated from the primary method's volumes; NaN without an estimate."""
    index, _ = estimate_gvbd([as_float(r["volume_um3"]) for r in rows])
    return float(x[index]) if index is not None else math.nan


def plot_qc_montage(tiles: Sequence[Mapping[str, Any]], methods: Sequence[str], path: str | Path, title: str) -> Path:
    """A row of frames: maximum intensity projection over z of the crop window, with mask outlines.

    Each tile holds ``image`` (X, Y) projection, ``masks`` {method: (X, Y) bool projection}, optional
    ``reference`` (X, Y) bool projection, a ``label`` string and an optional ``review`` reason (titled in red).
    Outlines: network cyan, baseline orange (dashed), reference green.
    """
    n = max(len(tiles), 1)
    fig = Figure(figsize=(2.6 * n, 3.0), dpi=100)
    axes = np.atleast_1d(fig.subplots(1, n))
    colours = ["cyan", "orange", "magenta", "yellow"]
    for ax, tile in zip(axes, tiles, strict=False):
        image = tile["image"]
        lo, hi = np.percentile(image, [1, 99.8]) if image.size else (0, 1)
        ax.imshow(image.T, cmap="gray", vmin=lo, vmax=hi if hi > lo else lo + 1, interpolation="nearest")
        if tile.get("reference") is not None and tile["reference"].any():
            ax.contour(tile["reference"].T.astype(float), levels=[0.5], colors="lime", linewidths=1.0)
        for i, method in enumerate(methods):
            mask = tile["masks"].get(method)
            if mask is not None and mask.any():
                ax.contour(mask.T.astype(float), levels=[0.5], colors=colours[i % len(colours)], linewidths=0.9,
                           linestyles="solid" if i == 0 else "dashed")
        review = tile.get("review", "")
        ax.set_title(tile["label"] + (f"\nREVIEW: {review}" if review else ""), fontsize=8,
                     color="red" if review else "black")
        ax.set_axis_off()
    for ax in axes[len(tiles):]:
        ax.set_axis_off()
    legend = ", ".join(f"{m} {colours[i % len(colours)]}" for i, m in enumerate(methods)) + ", reference green"
    fig.suptitle(f"{title}  (max projection over z; {legend})", fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 0.9))  # leave the top tenth to the title
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path



# ----------------------------------------------------------------------------------------------------- reports
def _methods_of(columns: Sequence[str], primary: str = "network") -> list[str]:
    """Method names in a volumes table: the primary one (unprefixed columns) first, then those prefixing ``volume_um3``."""
    others = [c[: -len("_volume_um3")] for c in columns if c.endswith("_volume_um3") and c not in ("volume_um3", "ref_volume_um3")]
    return [primary, *others]


def summarise(rows: Sequence[Mapping[str, Any]], methods: Sequence[str], method: str) -> dict[str, Any]:
    """Summary of one method over ``rows`` (frames pooled): Dice, |relative volume error|, MAE in um^3, flags.

    Frames without a volume for ``method`` (oocytes evaluated without it) are left out. Error statistics use the
    labelled frames only; NaN when there are none. ``n_oocytes`` counts distinct oocytes.
    """
    rows = [r for r in rows if math.isfinite(as_float(r.get(method_key(methods, method, "volume_um3"))))]

    def column(name: str) -> np.ndarray:
        return np.array([as_float(r.get(method_key(methods, method, name))) for r in rows], dtype=float)

    def stat(fn, values: np.ndarray) -> float:
        values = values[np.isfinite(values)]
        return float(fn(values)) if len(values) else math.nan

    labelled = np.array([bool(as_float(r.get("has_label")) == 1) for r in rows], dtype=bool)
    dice, rel, abs_err = column("dice")[labelled], np.abs(column("rel_volume_error")[labelled]), column("abs_volume_error_um3")[labelled]
    return {
        "method": method,
        "n_oocytes": len({(r["experiment"], r["oocyte"]) for r in rows}),
        "n_frames": len(rows),
        "n_labelled": int(labelled.sum()),
        "mean_dice": stat(np.mean, dice),
        "median_dice": stat(np.median, dice),
        "median_abs_rel_volume_error": stat(np.median, rel),
        "mean_abs_rel_volume_error": stat(np.mean, rel),
        "mae_um3": stat(np.mean, abs_err),
        "mean_volume_um3": stat(np.mean, column("volume_um3")),
        "n_volume_jumps": int(np.nansum(column("volume_jump"))),
        "n_touches_crop_border": int(np.nansum(column("touches_crop_border"))),
    }


def known_gvbd_frame(rows: Sequence[Mapping[str, Any]]) -> float:
    """The GVBD frame of one oocyte's rows from the GVBD table (time minus minutes since GVBD), NaN without one."""
    for r in rows:
        since, time_min = as_float(r.get("minutes_since_gvbd")), as_float(r.get("time_min"))
        if math.isfinite(since) and math.isfinite(time_min):
            gvbd_time = time_min - since
            return float(min(rows, key=lambda q: abs(as_float(q.get("time_min")) - gvbd_time))["frame"])
    return math.nan


def oocyte_biology(rows: Sequence[Mapping[str, Any]], methods: Sequence[str], method: str) -> dict[str, Any]:
    """One oocyte's ``BIOLOGY_COLUMNS`` for ``method``: the GVBD frame from the table and as
    estimated from the method's volume series (only where it measured every frame), its phenotype call from the
    per-frame polarity (only where the aMTOC channel was read)."""
    rows = sorted(rows, key=lambda r: int(r["frame"]))
    volumes = np.array([as_float(r.get(method_key(methods, method, "volume_um3"))) for r in rows], dtype=float)
    biology: dict[str, Any] = {"gvbd_frame": known_gvbd_frame(rows), "gvbd_frame_estimated": math.nan,
                               "gvbd_confidence": math.nan, "phenotype": "", "phenotype_fraction": math.nan}
    if not np.isfinite(volumes).all():  # a method measured on some frames only (the baseline on labelled frames)
        return biology
    index, biology["gvbd_confidence"] = estimate_gvbd(volumes)
    if index is not None:
        biology["gvbd_frame_estimated"] = float(rows[index]["frame"])
    states = [r.get(method_key(methods, method, "polarity")) for r in rows]
    if all(s in POLARITY_STATES for s in states):
        biology["phenotype"], biology["phenotype_fraction"] = oocyte_phenotype(volumes, states)
    return biology


def json_ready(value: Any) -> Any:
    """A table value for JSON: NaN becomes None (JSON has no NaN), numpy scalars plain Python numbers."""
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN
    if isinstance(value, (np.integer, np.floating)):
        return json_ready(value.item())
    return value


def write_reports(output_dir: str | Path, primary: str = "network") -> dict[str, Any]:
    """Rebuild ``volumes.csv`` and the summaries from every finished oocyte's row file in ``output_dir``.

    Oocytes finished by earlier runs are included, so a resumed run reports the whole dataset. Every method
    (the network and the baseline) gets its rows in ``summary_per_oocyte.csv`` and ``summary_per_experiment.csv``
    (experiment "ALL" pools every frame); ``summary.json`` holds both tables. ``primary`` names the method whose
    columns are unprefixed (the first of ``TimeSeriesWriter``'s methods). Returns the JSON content.
    """
    output_dir = Path(output_dir)
    row_files = sorted((output_dir / OOCYTE_ROWS_DIR).glob("*/*.csv"))
    # oocytes finished by runs with other methods (e.g. --baseline false later) may lack some columns: the
    # table takes the union, in first-seen order, and leaves the missing cells empty
    columns: list[str] = []
    for path in row_files:
        with open(path, newline="") as rf:
            columns += [c for c in next(csv.reader(rf)) if c not in columns]
    columns = columns or volume_csv_columns([primary])
    per_oocyte, by_experiment = [], {}
    with atomic_path(output_dir / "volumes.csv") as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        writer.writeheader()
        for path in row_files:
            with open(path, newline="") as rf:
                reader = csv.DictReader(rf)
                writer.writerows(reader)
                header = reader.fieldnames
            rows = read_rows(path)
            if not rows:
                continue
            methods = _methods_of(header, primary)
            for method in methods:
                summary = {**summarise(rows, methods, method), **oocyte_biology(rows, methods, method)}
                per_oocyte.append({**summary, "experiment": rows[0]["experiment"], "oocyte": rows[0]["oocyte"]})
            # pooled statistics need the frames, but only a few numbers per frame: memory stays small
            by_experiment.setdefault(rows[0]["experiment"], []).extend(rows)
    methods = _methods_of(columns, primary)
    per_experiment = []
    for method in methods:
        for experiment in sorted(by_experiment):
            per_experiment.append({**summarise(by_experiment[experiment], methods, method), "experiment": experiment, "oocyte": ""})
        all_rows = [r for rows in by_experiment.values() for r in rows]
        if all_rows:
            per_experiment.append({**summarise(all_rows, methods, method), "experiment": ALL_EXPERIMENTS, "oocyte": ""})
    write_csv(output_dir / "summary_per_oocyte.csv", OOCYTE_SUMMARY_COLUMNS, per_oocyte)
    write_csv(output_dir / "summary_per_experiment.csv", SUMMARY_COLUMNS, per_experiment)
    report = {
        "methods": methods,
        "units": {"volume": "um^3", "time": "min", "rel_volume_error": "fraction (pred - ref) / ref"},
        "per_oocyte": [{k: json_ready(r[k]) for k in OOCYTE_SUMMARY_COLUMNS} for r in per_oocyte],
        "per_experiment": [{k: json_ready(r[k]) for k in SUMMARY_COLUMNS} for r in per_experiment],
    }
    with atomic_path(output_dir / "summary.json") as tmp, open(tmp, "w") as f:
        json.dump(report, f, indent=2)
    for row in per_experiment:
        if row["experiment"] == ALL_EXPERIMENTS:
            logger.info(f"{row['method']}: {row['n_frames']} frames of {row['n_oocytes']} oocytes; "
                        f"mean Dice {row['mean_dice']:.3f}, median |rel. volume error| "
                        f"{row['median_abs_rel_volume_error']:.3f}, MAE {row['mae_um3']:.1f} um^3 "
                        f"over {row['n_labelled']} labelled frames")
    return report
