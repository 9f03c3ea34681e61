"""The shipped model on real spindle z-stacks from other microscopes, against a published classical tool.

    .venv/bin/python benchmarks/real_spindles.py [--model_path M] [--set int8=true precision=fp32 ...]
        [--xy_spacings 0.17 0.34 ...] [--out FILE.md] [--figure MASKS.png]

The stacks and their reference measurements are ``../shared/realdata/spindles`` (read its PROVENANCE.txt):
confocal / spinning-disk z-stacks of single mitotic spindles in mouse stem cells, 0.225-0.27 um in x-y and
0.3-0.75 um in z, measured by Spindle3D (volume, pole-to-pole length, width). Nothing here was seen in training.

Each stack is run through the shipped path of ``configs/inference.yaml`` (reader, standardisation, padding, network,
threshold, largest component) in two ways, to decide how files of other voxel sizes should be handled:

- ``native``: on the file's own voxel grid (the network sees z voxels 3-7x finer than in training);
- ``resampled``: resampled (trilinear) to the training voxel size ``default_spacing_um`` (0.17 x 0.17 x 2.0 um),
  segmented there, and the mask mapped back onto the file's grid (nearest neighbour, MONAI ``Invertd``).

The volume is counted on the file's own grid; length (pole to pole) and average width are Spindle3D's definitions,
measured on the mask with the stack's tubulin and DNA (``scripts.morphometry``, as volumes.csv reports them). The
table gives them against the reference, with the relative volume error. A second table checks our implementation of the
classical method (``scripts.spindle3d``, the evaluator's default baseline) against the published tool's own numbers
(targets: volumes within 15 %, lengths within 10 %). ``--xy_spacings`` adds a third: each stack resampled in x-y
only to those pixel sizes before the network sees it (z and the grid the volume is counted on stay the file's), so
that it shows how much the answer depends on the pixel size rather than on the spindle. Accuracy, not speed: no
timings.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
BUNDLE_DIR = REPO_DIR / "bundle"
if str(BUNDLE_DIR) not in sys.path:  # the bundle's plugin is imported as `scripts`, as its configs do
    sys.path.insert(0, str(BUNDLE_DIR))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from monai.bundle import ConfigParser  # noqa: E402
from monai.transforms import AsDiscreted, Compose, Invertd, Spacingd  # noqa: E402
from scripts.metrics import shape_descriptors, spacing_from_meta  # noqa: E402
from scripts.morphometry import measure_mask  # noqa: E402
from scripts.postprocessing import KeepLargestComponentd  # noqa: E402

SPINDLES_DIR = REPO_DIR.parent / "shared" / "realdata" / "spindles"
MODES = ("native", "resampled")


def shipped_parts(model_path: Path, settings: dict[str, str] | None = None) -> ConfigParser:
    """configs/inference.yaml with the given weights and ``settings`` (its keys, e.g. int8 or precision): its
    network, inferer and preprocessing pieces."""
    config = ConfigParser()
    config.read_config(str(BUNDLE_DIR / "configs" / "inference.yaml"))
    config.update({"model_path": str(model_path), "device": "$torch.device('cpu')", **(settings or {})})
    return config


def segment(config: ConfigParser, ref: dict, mode: str, xy_um: float | None = None) -> dict:
    """Segment one reference.csv row's stack in ``mode``; return the volume, centroid and morphometry of the mask on
    the file's own grid. ``xy_um``: resample x-y only to this pixel size (z stays the file's) before the network
    sees the stack (the pixel-size sweep); the mask is mapped back onto the file's grid all the same."""
    from scripts.io import LoadFramed

    path = SPINDLES_DIR / ref["file"]
    load = LoadFramed(keys="image", channel=int(ref["tubulin_channel"]))
    original = load({"image": str(path), "frame": 0})["image"]
    spacing = spacing_from_meta(original)
    steps = [load]
    if mode == "resampled":
        steps.append(Spacingd(keys="image", pixdim=config.get_parsed_content("default_spacing_um"), mode="bilinear"))
    elif xy_um is not None:
        steps.append(Spacingd(keys="image", pixdim=(xy_um, xy_um, spacing[2]), mode="bilinear"))
    steps += [config.get_parsed_content("standardisation"), config.get_parsed_content("pad")]
    preprocessing = Compose(steps)
    data = preprocessing({"image": str(path), "frame": 0})
    network, inferer = config.get_parsed_content("network"), config.get_parsed_content("inferer")
    with torch.no_grad():
        data["pred"] = inferer(data["image"][None], network)[0]
    # the shipped postprocessing's logit threshold, so that `--set postprocessing#transforms#1#threshold=L` moves it
    logit_threshold = float(config.get_parsed_content("postprocessing#transforms#1#threshold"))  # --set gives a str
    data = Compose([AsDiscreted(keys="pred", threshold=logit_threshold),
                    Invertd(keys="pred", orig_keys="image", transform=preprocessing, nearest_interp=True)])(data)
    thresholded = np.asarray(data["pred"][0]) > 0.5  # every component, before the spindle's is chosen
    data = KeepLargestComponentd(keys="pred", rule=config.get_parsed_content("spindle_component"),
                                 min_size_fraction=config.get_parsed_content("spindle_component_min_fraction"))(data)
    mask = np.asarray(data["pred"][0]) > 0.5
    assert mask.shape == tuple(original.shape[1:]), (mask.shape, original.shape)
    tubulin_zyx, dna_zyx, _ = read_channels(ref)
    shape = shape_descriptors(mask, spacing)
    return {**{k: shape[k] for k in ("volume_um3", "centroid_x_um", "centroid_y_um", "centroid_z_um")},
            **measure_mask(mask.transpose(2, 1, 0), spacing, tubulin_zyx, dna_zyx),
            "mask_xyz": mask, "thresholded_xyz": thresholded}


def read_channels(ref: dict) -> tuple[np.ndarray, np.ndarray, tuple[float, float, float]]:
    """(tubulin, DNA) ZYX arrays and the spacing (x, y, z) um of one reference.csv row's stack, read with the bundle's
    reader. The DNA is the first channel that is not the tubulin's (gt_01's third channel is gamma-tubulin)."""
    from scripts.io import read_frame

    tubulin_channel = int(ref["tubulin_channel"])
    tubulin, meta = read_frame(SPINDLES_DIR / ref["file"], 0, tubulin_channel)
    dna, _ = read_frame(SPINDLES_DIR / ref["file"], 0, 0 if tubulin_channel != 0 else 1)
    return tubulin.transpose(2, 1, 0), dna.transpose(2, 1, 0), tuple(meta["spacing_um"])


def classical_table() -> str:
    """scripts.spindle3d (our Spindle3D implementation) against Spindle3D's measurements in reference.csv."""
    from scripts.spindle3d import measure
    from scripts.visibility import spindle_contrast_to_noise

    lines = ["### Our implementation of the classical method (scripts/spindle3d.py) against Spindle3D's own numbers", "",
             "| file | reference volume (um^3) | ours (um^3) | rel. error | reference length (um) | ours (um) | "
             "reference width (um) | ours: avg / min / max width (um) | contrast-to-noise (scripts.visibility, our mask) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    with open(SPINDLES_DIR / "reference.csv") as f:
        references = list(csv.DictReader(f))
    for ref in references:
        tubulin_zyx, dna_zyx, spacing_um = read_channels(ref)
        r = measure(tubulin_zyx, dna_zyx, spacing_um)
        # how plainly the spindle stands out, on the scale of the renderer families' (benchmarks/visibility.py)
        cnr = spindle_contrast_to_noise(tubulin_zyx.transpose(2, 1, 0), r.mask.transpose(2, 1, 0), spacing_um)
        ref_volume = _number(ref["volume_um3"])
        rel = (r.volume_um3 - ref_volume) / ref_volume if np.isfinite(ref_volume) else float("nan")
        lines.append(f"| {ref['file']} | {ref['volume_um3'] or '-'} | {r.volume_um3:.0f} | "
                     f"{f'{100 * rel:+.0f} %' if np.isfinite(rel) else '-'} | {ref['length_um'] or '-'} | "
                     f"{r.length_um:.1f} | {ref['width_um'] or '-'} | "
                     f"{r.width_avg_um:.1f} / {r.width_min_um:.1f} / {r.width_max_um:.1f} | {cnr:.1f} |")
        print(lines[-1], flush=True)
    return "\n".join(lines) + "\n"


def _number(value: str) -> float:
    return float(value) if value else float("nan")


def mask_figure(native: list[tuple[dict, dict]], title: str, path: Path) -> None:
    """Each stack's tubulin as maximum projections over z (x-y) and over y (x-z, drawn to scale in um), with the
    native mask's outline (yellow: the component kept as the spindle, whose volume the table reports) and every
    thresholded component (dashed cyan: what the network marked, neighbours and haze included). Where a volume is
    off, this shows whether the network took a neighbour, haze below the spindle, or too little of it."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 3.2 * len(native)), dpi=80)
    axes = fig.subplots(len(native), 2, squeeze=False)
    for row, (ref, result) in enumerate(native):
        tubulin_zyx, _, spacing = read_channels(ref)
        tubulin_xyz = tubulin_zyx.transpose(2, 1, 0)
        ref_volume = _number(ref["volume_um3"])
        reference = f" (Spindle3D {ref_volume:.0f})" if np.isfinite(ref_volume) else ""
        # (projected axis, the image's vertical axis, label): x is always horizontal
        for ax, (axis, vertical, label) in zip(axes[row], ((2, 1, "x-y (max over z)"), (1, 2, "x-z (max over y)")),
                                                strict=True):
            width_um, height_um = tubulin_xyz.shape[0] * spacing[0], tubulin_xyz.shape[vertical] * spacing[vertical]
            ax.imshow(tubulin_xyz.max(axis=axis).T, cmap="gray", extent=[0, width_um, height_um, 0])
            x_um = (np.arange(tubulin_xyz.shape[0]) + 0.5) * spacing[0]  # voxel centres, on imshow's axes
            v_um = (np.arange(tubulin_xyz.shape[vertical]) + 0.5) * spacing[vertical]
            for key, style in (("thresholded_xyz", {"colors": "c", "linestyles": "dashed"}),
                               ("mask_xyz", {"colors": "y"})):
                projection = result[key].max(axis=axis).T.astype(float)
                if projection.any():
                    ax.contour(x_um, v_um, projection, [0.5], linewidths=0.8, **style)
            ax.set_title(f"{ref['file']} {label}: {result['volume_um3']:.0f} um^3{reference}", fontsize=7)
            ax.set_xlabel("x (um)", fontsize=6)
            ax.tick_params(labelsize=6)
    fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def run(model_path: Path, settings: dict[str, str] | None = None, figure: Path | None = None) -> str:
    config = shipped_parts(model_path, settings)
    native: list[tuple[dict, dict]] = []
    lines = [
        f"### Real spindle stacks (Spindle3D references), model {model_path.name}"
        + "".join(f", {key} {value}" for key, value in (settings or {}).items()),
        "",
        "| file | reference volume (um^3) | " + " | ".join(f"{m} volume (um^3) | {m} rel. error" for m in MODES)
        + " | reference length (um) | " + " | ".join(f"{m} length (um)" for m in MODES)
        + " | reference width (um) | " + " | ".join(f"{m} avg. width (um)" for m in MODES) + " |",
        "| --- | --- | " + " | ".join("--- | ---" for _ in MODES) + " | --- | " + " | ".join("---" for _ in MODES)
        + " | --- | " + " | ".join("---" for _ in MODES) + " |",
    ]
    errors: dict[str, list[float]] = {m: [] for m in MODES}
    with open(SPINDLES_DIR / "reference.csv") as f:
        references = list(csv.DictReader(f))
    for ref in references:
        results = {m: segment(config, ref, m) for m in MODES}
        native.append((ref, results["native"]))
        ref_volume, ref_length, ref_width = (_number(ref[k]) for k in ("volume_um3", "length_um", "width_um"))
        cells = [ref["file"], f"{ref_volume:.0f}" if np.isfinite(ref_volume) else "-"]
        for m in MODES:
            volume = results[m]["volume_um3"]
            rel = (volume - ref_volume) / ref_volume if np.isfinite(ref_volume) else float("nan")
            if np.isfinite(rel):
                errors[m].append(abs(rel))
            cells += [f"{volume:.0f}", f"{100 * rel:+.0f} %" if np.isfinite(rel) else "-"]
        cells.append(f"{ref_length:.1f}" if np.isfinite(ref_length) else "-")
        cells += [f"{results[m]['length_um']:.1f}" for m in MODES]
        cells.append(f"{ref_width:.1f}" if np.isfinite(ref_width) else "-")
        cells += [f"{results[m]['width_avg_um']:.1f}" for m in MODES]
        lines.append("| " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    lines.append("")
    for m in MODES:
        lines.append(f"- {m}: median |relative volume error| {100 * np.median(errors[m]):.0f} % over {len(errors[m])} "
                     f"stacks with a reference volume (target: every one within 25 %, median <= 15 %)")
    if figure is not None:
        mask_figure(native, f"native masks of {model_path}", figure)
        lines.append(f"- figure of the native masks: {figure}")
    return "\n".join(lines) + "\n"


def pixel_size_table(model_path: Path, xy_spacings_um: list[float], settings: dict[str, str] | None = None) -> str:
    """The volume and length of each stack when the network sees it at other x-y pixel sizes (z, and the grid they
    are measured on, stay the file's): a model that measures spindles, not pixels, gives one answer per row."""
    config = shipped_parts(model_path, settings)
    lines = [f"### The same stacks at other x-y pixel sizes, model {model_path.name}: volume (um^3) and length (um), "
             "rel. errors against Spindle3D's", "",
             "| file | reference volume (um^3) / length (um) | native x-y (um) | native | "
             + " | ".join(f"x-y {xy:g} um" for xy in xy_spacings_um) + " |",
             "| --- | --- | --- | --- | " + " | ".join("---" for _ in xy_spacings_um) + " |"]
    with open(SPINDLES_DIR / "reference.csv") as f:
        references = list(csv.DictReader(f))

    def cell(measured: float, reference: float, unit: str) -> str:
        text = f"{measured:.0f}" if unit == "um^3" else f"{measured:.1f}"
        return text + (f" ({100 * (measured - reference) / reference:+.0f} %)" if np.isfinite(reference) else "")

    for ref in references:
        ref_volume, ref_length = _number(ref["volume_um3"]), _number(ref["length_um"])
        results = [segment(config, ref, "native")] + [segment(config, ref, "native", xy) for xy in xy_spacings_um]
        native_xy = read_channels(ref)[2][0]
        cells = [ref["file"], (f"{ref_volume:.0f}" if np.isfinite(ref_volume) else "-") + " / "
                 + (f"{ref_length:.1f}" if np.isfinite(ref_length) else "-"), f"{native_xy:.3f}"]
        cells += [cell(r["volume_um3"], ref_volume, "um^3") + " / " + cell(r["length_um"], ref_length, "um")
                  for r in results]
        lines.append("| " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_path", default=str(BUNDLE_DIR / "models" / "model.pt"))
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", dest="settings",
                        help="inference.yaml settings, e.g. int8=true precision=fp32 (the int8 path of AVX2 CPUs)")
    parser.add_argument("--xy_spacings", type=float, nargs="*", default=[],
                        help="also segment every stack resampled in x-y to these pixel sizes (um), e.g. 0.17 0.34")
    parser.add_argument("--out", default=None, help="also write the markdown table to this file")
    parser.add_argument("--figure", type=Path, default=None,
                        help="also draw every stack's native mask over its tubulin (x-y and x-z) into this PNG")
    args = parser.parse_args(argv)
    settings = dict(setting.partition("=")[::2] for setting in args.settings)
    if not (SPINDLES_DIR / "reference.csv").is_file():
        print(f"{SPINDLES_DIR}: not found (../shared must be beside the repository)", file=sys.stderr)
        return 2
    table = run(Path(args.model_path), settings, args.figure) + "\n" + classical_table()
    if args.xy_spacings:
        table += "\n" + pixel_size_table(Path(args.model_path), args.xy_spacings, settings)
    print(table)
    if args.out:
        Path(args.out).write_text(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
