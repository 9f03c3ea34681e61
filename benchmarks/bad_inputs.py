"""The bad-input campaign: realistic mistakes and damaged inputs against the command line, with a verdict for each.

    .venv/bin/python benchmarks/bad_inputs.py [--out FILE.md] [--only NAME ...] [--workers 2] [--fresh_processes]

Every case builds its own small inputs (a 1-experiment, 2-oocyte, 4-frame phantom of 64 x 64 x 8 voxels and a
randomly initialised network: plumbing, not accuracy), runs ``python -m monai.bundle run ...`` exactly as a user
types it, from a folder that is not bundle/, and classifies the outcome:

- ``clear error``: the run failed and its LAST lines say what is wrong (the phrases the case expects);
- ``handled``: the run succeeded and the outputs are right (the case's check), after a warning where one is due;
- ``unclear``: the run failed, but its last lines do not say why;
- ``silent wrong``: the run succeeded with wrong or missing results, or without the warning that was due.

Cases run ``--workers`` at a time (default 2), every run with one compute thread so that they neither stall each other
nor compute other masks than the clean case's. Most of a fresh run is importing torch and MONAI (~8 s), so each run
is forked from a Python that has imported them once (benchmarks/prestarted_cli.py: still its own process, folder,
output and exit status); ``--fresh_processes`` starts every run as a new process instead.
The table ends with the count of each verdict; the target is 0 unclear and 0 silent wrong. ``tests/test_bad_inputs.py``
runs the campaign and asserts that.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
BUNDLE_DIR = REPO_DIR / "bundle"
if str(BUNDLE_DIR) not in sys.path:  # the bundle's plugin is imported as `scripts`, as its configs do
    sys.path.insert(0, str(BUNDLE_DIR))

import numpy as np  # noqa: E402
import tifffile  # noqa: E402
import torch  # noqa: E402
from prestarted_cli import PrestartedCli, limit_file_size  # noqa: E402

CONFIGS = {name: str(BUNDLE_DIR / "configs" / f"{name}.yaml") for name in ("inference", "evaluate", "train", "analyze")}
EVALUATE = f"['{CONFIGS['inference']}','{CONFIGS['evaluate']}']"
VERDICTS = ("clear error", "handled", "unclear", "silent wrong")


@dataclass
class Result:
    returncode: int
    output: str  # stdout + stderr
    last_lines: str  # the last 3 non-empty lines of stderr
    output_dir: Path


@dataclass
class Case:
    """One mistake: ``prepare(work)`` returns the command-line arguments after ``run``; ``expect`` is "error" (fail,
    ``phrases`` in the last lines), "warn" (succeed, ``phrases`` somewhere in the output, ``check`` true) or "ok"
    (succeed, ``check`` true)."""

    name: str
    what: str
    prepare: Callable[[Path], list[str]]
    expect: str
    phrases: list[str] = field(default_factory=list)
    check: Callable[[Result], bool] | None = None
    before: Callable[[Path, list[str]], None] | None = None  # e.g. an earlier run into the same folder
    file_size_limit_bytes: int | None = None  # simulates a full disk: larger writes fail (RLIMIT_FSIZE)


# ----------------------------------------------------------------------------------------------------- inputs
def make_inputs(root: Path) -> dict[str, Path]:
    """The clean dataset and a random model every case starts from."""
    from scripts.network import AnisotropicAttentionUNet
    from scripts.phantom import generate_dataset

    dataset = root / "dataset"
    generate_dataset(dataset, n_experiments=1, n_oocytes=2, n_frames=4, shape_xyz=(64, 64, 8), seed=0)
    torch.manual_seed(0)
    model = root / "model.pt"
    torch.save(AnisotropicAttentionUNet().state_dict(), model)
    other = root / "other_variant.pt"
    torch.save(AnisotropicAttentionUNet(variant="baseline").state_dict(), other)
    return {"dataset": dataset, "model": model, "other_variant": other}


def copy_dataset(inputs: dict[str, Path], work: Path) -> Path:
    target = work / "dataset"
    shutil.copytree(inputs["dataset"], target)
    return target


def evaluate_args(dataset: Path, work: Path, model: Path, *extra: str) -> list[str]:
    return ["evaluating", "--config_file", EVALUATE, "--dataset_dir", str(dataset), "--output_dir", str(work / "out"),
            "--model_path", str(model), "--crop_size", "[48,48,-1]", "--progress_bar", "false", *extra]


def rows(result: Result) -> list[dict]:
    from scripts.reports import read_rows

    path = result.output_dir / "volumes.csv"
    return read_rows(path) if path.is_file() else []


# one compute thread per run: cases run side by side, and every run computes the same masks as the clean case's
RUN_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# Prestarted Pythons (benchmarks/prestarted_cli.py), one per worker thread, while a campaign runs with them; None:
# every run is a plain `python -m monai.bundle run` process.
PRESTARTED: queue.Queue[PrestartedCli] | None = None


def run_cli(args: list[str], work: Path, timeout: float = 600.0, file_size_limit_bytes: int | None = None) -> Result:
    if PRESTARTED is not None:
        cli = PRESTARTED.get()
        try:
            returncode, stdout, stderr = cli.run(["run", *args], work, timeout, file_size_limit_bytes)
        finally:
            PRESTARTED.put(cli)
    else:
        command = [sys.executable, "-m", "monai.bundle", "run", *args]
        limit = (lambda: limit_file_size(file_size_limit_bytes)) if file_size_limit_bytes else None
        proc = subprocess.run(command, cwd=work, capture_output=True, text=True, timeout=timeout, preexec_fn=limit,
                              env=RUN_ENV)
        returncode, stdout, stderr = proc.returncode, proc.stdout, proc.stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    return Result(returncode, stdout + stderr, "\n".join(lines[-3:]), work / "out")


def verdict(case: Case, result: Result) -> str:
    if case.expect == "error":
        if result.returncode == 0:
            return "silent wrong"
        return "clear error" if all(p in result.last_lines for p in case.phrases) else "unclear"
    if result.returncode != 0:
        return "unclear"  # a run that should have worked failed
    warned = all(p in result.output for p in case.phrases)
    return "handled" if warned and (case.check is None or case.check(result)) else "silent wrong"


# ----------------------------------------------------------------------------------------------------- cases
def cases(inputs: dict[str, Path]) -> list[Case]:
    data, model = inputs["dataset"], inputs["model"]

    def clean(*extra: str):
        return lambda work: evaluate_args(data, work, model, *extra)

    def edited(edit: Callable[[Path], None], *extra: str):
        def prepare(work: Path) -> list[str]:
            dataset = copy_dataset(inputs, work)
            edit(dataset)
            return evaluate_args(dataset, work, model, *extra)
        return prepare

    def n_rows(n: int):
        return lambda result: len(rows(result)) == n

    def write_series(dataset: Path, name: str, array: np.ndarray, axes: str = "TZCYX"):
        from scripts.io import write_imagej_hyperstack

        write_imagej_hyperstack(dataset / "exp1" / name, array, axes, (0.17, 0.17, 2.0), 10.0)

    def series(dataset: Path) -> np.ndarray:
        return tifffile.imread(dataset / "exp1" / "oocyte01.tif")

    def truncate(dataset: Path):
        path = dataset / "exp1" / "oocyte01.tif"
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    def per_frame_with_gap(dataset: Path):
        from scripts.io import write_imagej_hyperstack

        frames = series(dataset)
        (dataset / "exp1" / "oocyte01.tif").unlink()
        for t in (0, 1, 3):  # t0002 is missing
            write_imagej_hyperstack(dataset / "exp1" / "oocyte01" / f"t{t:04d}.tif", frames[t], "ZCYX",
                                    (0.17, 0.17, 2.0))

    def rename_masks(dataset: Path, new: str):
        (dataset / "exp1" / "oocyte01_masks").rename(dataset / "exp1" / new)

    def two_series(dataset: Path):
        frames = series(dataset)
        (dataset / "exp1" / "oocyte01.tif").unlink()
        with tifffile.TiffWriter(dataset / "exp1" / "oocyte01.ome.tif", ome=True) as writer:
            writer.write(frames, metadata={"axes": "TZCYX"})
            writer.write(frames, metadata={"axes": "TZCYX"})

    def swap_c_and_z(dataset: Path):
        frames = series(dataset)  # T, Z(8), C(3), Y, X -> saved as 3 slices of 8 channels
        write_series(dataset, "oocyte01.tif", np.ascontiguousarray(frames.transpose(0, 2, 1, 3, 4)))

    def odd_mask_name(dataset: Path):
        masks = sorted((dataset / "exp1" / "oocyte01_masks").iterdir())
        masks[0].rename(masks[0].with_name(masks[0].stem + "_mask.tif"))

    def gvbd(text: str):
        return lambda dataset: (dataset / "gvbd.csv").write_text(text)

    def offset(dataset: Path):
        write_series(dataset, "oocyte01.tif", (series(dataset).astype(np.int64) + 2000).astype(np.uint16))
        write_series(dataset, "oocyte02.tif", (tifffile.imread(dataset / "exp1" / "oocyte02.tif").astype(np.int64)
                                               + 2000).astype(np.uint16))

    def datalist_left_by_training(dataset: Path):
        from scripts.datalist import build_datalist, write_datalist

        write_datalist(build_datalist(dataset), dataset / "datalist.json")

    def datalist_naming_missing(work: Path) -> list[str]:
        listed = work / "list.json"
        listed.write_text(json.dumps({"inference": [{"image": "exp1/oocyte09.tif", "frame": 0, "experiment": "exp1",
                                                     "oocyte": "oocyte09", "time_min": 0.0}]}))
        return evaluate_args(data, work, model, "--datalist_file", str(listed))

    def rgb(dataset: Path):
        frames = series(dataset)  # T, Z, C, Y, X -> T, Z, Y, X, S (8-bit colour)
        (dataset / "exp1" / "oocyte01.tif").unlink()
        colour = (frames.transpose(0, 1, 3, 4, 2) // 256).astype(np.uint8)
        tifffile.imwrite(dataset / "exp1" / "oocyte01.tif", colour, imagej=True, photometric="rgb",
                         metadata={"axes": "TZYXS"})

    def nan_frame(dataset: Path):
        frames = series(dataset).astype(np.float32)
        frames[2, 4, 1, 30, 30] = np.nan
        write_series(dataset, "oocyte01.tif", frames)

    def output_is_a_file(work: Path) -> list[str]:
        (work / "out").write_text("")
        return evaluate_args(data, work, model)

    def earlier_run(*extra: str):
        def before(work: Path, args: list[str]) -> None:
            run_cli(evaluate_args(Path(args[args.index("--dataset_dir") + 1]), work, model, *extra), work)
        return before

    def same_masks_as_clean(result: Result) -> bool:
        clean_masks = REFERENCE.get("masks")
        found = tifffile.imread(result.output_dir / "masks" / "exp1" / "oocyte01.tif")
        return clean_masks is not None and np.array_equal(found, clean_masks)

    def redone_with_channel_0(result: Result) -> bool:
        record = json.loads((result.output_dir / "oocytes" / "exp1" / "oocyte01.json").read_text())
        return record["settings"]["channel"] == 0 and len(rows(result)) == 8

    def no_partial_files(result: Result) -> bool:
        return len(rows(result)) == 8 and not list(result.output_dir.rglob("*.part"))

    def killed_run(work: Path, args: list[str]) -> None:
        command = [sys.executable, "-m", "monai.bundle", "run", *args]
        victim = subprocess.Popen(command, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=RUN_ENV)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and victim.poll() is None:
            if list((work / "out").rglob("*.part")) or (work / "out" / "oocytes").is_dir():
                break  # writing has started
            time.sleep(0.2)
        victim.send_signal(signal.SIGKILL)
        victim.wait()

    def first_mask(dataset: Path) -> Path:
        return sorted((dataset / "exp1" / "oocyte01_masks").iterdir())[0]

    def mask_values_255(dataset: Path):
        path = first_mask(dataset)
        tifffile.imwrite(path, tifffile.imread(path) * 255, imagej=True, metadata={"axes": "ZYX"})

    def mask_other_shape(dataset: Path):
        path = first_mask(dataset)
        tifffile.imwrite(path, tifffile.imread(path)[:, :32, :32], imagej=True, metadata={"axes": "ZYX"})

    def mask_beyond_series(dataset: Path):
        shutil.copy(first_mask(dataset), dataset / "exp1" / "oocyte01_masks" / "t0009.tif")

    def uncalibrated(dataset: Path):
        tifffile.imwrite(dataset / "exp1" / "oocyte01.tif", series(dataset), imagej=True, metadata={"axes": "TZCYX"})

    def spacing_in_nm(dataset: Path):
        from scripts.io import write_imagej_hyperstack

        write_imagej_hyperstack(dataset / "exp1" / "oocyte01.tif", series(dataset), "TZCYX", (170.0, 170.0, 2.0), 10.0)

    def two_d(dataset: Path):
        tifffile.imwrite(dataset / "exp1" / "oocyte01.tif", series(dataset)[0, 4], imagej=True, metadata={"axes": "CYX"})

    def empty_dataset(dataset: Path):
        shutil.rmtree(dataset / "exp1")

    def constant_frame(dataset: Path):
        frames = series(dataset)
        frames[1] = 100
        write_series(dataset, "oocyte01.tif", frames)

    def per_frame(dataset: Path, spacing=lambda t: (0.17, 0.17, 2.0), frame_of=lambda frames, t: frames[t]):
        from scripts.io import write_imagej_hyperstack

        frames = series(dataset)
        (dataset / "exp1" / "oocyte01.tif").unlink()
        for t in range(len(frames)):
            data = frame_of(frames, t)
            write_imagej_hyperstack(dataset / "exp1" / "oocyte01" / f"t{t:04d}.tif", data,
                                    "TZCYX"[5 - data.ndim:], spacing(t))

    def both_layouts(dataset: Path):
        from scripts.io import write_imagej_hyperstack

        write_imagej_hyperstack(dataset / "exp1" / "oocyte01" / "t0000.tif", series(dataset)[0], "ZCYX",
                                (0.17, 0.17, 2.0))

    def two_files_one_frame(dataset: Path):
        per_frame(dataset)
        shutil.copy(dataset / "exp1" / "oocyte01" / "t0001.tif", dataset / "exp1" / "oocyte01" / "t0001.tiff")

    def retyped(dtype):
        def edit(dataset: Path):
            for name in ("oocyte01.tif", "oocyte02.tif"):
                frames = tifffile.imread(dataset / "exp1" / name)
                write_series(dataset, name, (frames // 256).astype(dtype) if dtype == np.uint8 else frames.astype(dtype))
        return edit

    def nifti_masks(dataset: Path):
        import nibabel as nib

        for path in sorted((dataset / "exp1" / "oocyte01_masks").iterdir()):
            mask_xyz = tifffile.imread(path).transpose(2, 1, 0)
            nib.save(nib.Nifti1Image(mask_xyz, np.diag([0.17, 0.17, 2.0, 1.0])), path.with_name(path.stem + ".nii.gz"))
            path.unlink()

    def no_labels(dataset: Path):
        for oocyte in ("oocyte01", "oocyte02"):
            shutil.rmtree(dataset / "exp1" / f"{oocyte}_masks")

    def training_args(dataset: Path, work: Path, *extra: str) -> list[str]:
        return ["training", "--config_file", CONFIGS["train"], "--dataset_dir", str(dataset), "--ckpt_dir",
                str(work / "models"), "--output_dir", str(work / "runs"), "--epochs", "1", "--crop_size", "[48,48,-1]",
                "--progress_bar", "false", *extra]

    def unknown_subset(work: Path) -> list[str]:
        dataset = copy_dataset(inputs, work)
        datalist_left_by_training(dataset)
        return evaluate_args(dataset, work, model, "--datalist_file", str(dataset / "datalist.json"),
                             "--datalist_subset", "tests")

    def two_frame_datalist(work: Path) -> str:
        """One labelled frame for training and one for validation: enough for training to start."""
        from scripts.datalist import scan_frame_items

        labelled = [i for i in scan_frame_items(data) if i.get("label")]
        path = work / "datalist.json"
        path.write_text(json.dumps({"training": labelled[:1], "validation": labelled[1:2]}))
        return str(path)

    def concurrent(work: Path, args: list[str]) -> None:
        command = [sys.executable, "-m", "monai.bundle", "run", *args]
        BACKGROUND[work] = subprocess.Popen(command, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                            env=RUN_ENV)

    def both_runs_complete(result: Result) -> bool:
        other = BACKGROUND.pop(result.output_dir.parent)
        return other.wait(timeout=600) == 0 and no_partial_files(result)

    def baseline_off(result: Result) -> bool:
        found = rows(result)
        return len(found) == 8 and "baseline_volume_um3" not in found[0]

    def times_from_default_interval(result: Result) -> bool:
        return [r["time_min"] for r in rows(result) if r["oocyte"] == "oocyte01"] == [0.0, 10.0, 20.0, 30.0]

    def no_gvbd(result: Result) -> bool:
        found = rows(result)
        return len(found) == 8 and all(r["minutes_since_gvbd"] != r["minutes_since_gvbd"] for r in found)  # NaN

    return [
        Case("clean", "a correct run (the reference for the other cases)", clean("--precision", "fp32"), "ok",
             check=n_rows(8)),
        Case("misspelt setting", "--chanel 0", clean("--chanel", "0"), "error", ["unknown setting --chanel",
                                                                                "did you mean --channel"]),
        Case("misspelt dataset", "--dataset_dri DIR instead of --dataset_dir",
             lambda work: ["evaluating", "--config_file", EVALUATE, "--dataset_dri", str(data), "--output_dir",
                           str(work / "out"), "--model_path", str(model)], "error", ["did you mean --dataset_dir"]),
        Case("no dataset", "--dataset_dir forgotten",
             lambda work: ["evaluating", "--config_file", EVALUATE, "--output_dir", str(work / "out"), "--model_path",
                           str(model)], "error", ["no dataset given", "--dataset_dir"]),
        Case("channel out of range", "--channel 7 on a 3-channel series", clean("--channel", "7"), "error",
             ["channel out of range", "found channel 7"]),
        Case("negative channel", "--channel -1", clean("--channel", "-1"), "error", ["--channel -1", "index"]),
        Case("2-value crop", "--crop_size '[352,352]'", clean("--crop_size", "[352,352]"), "error",
             ["--crop_size", "expected 3 numbers"]),
        Case("cuda without GPU", "--device cuda on a CPU-only machine", clean("--device", "cuda"),
             "error" if not torch.cuda.is_available() else "ok", ["--device cuda", "no CUDA GPU"],
             check=n_rows(8)),
        Case("output is a file", "--output_dir names a file", output_is_a_file, "error", ["is a file"]),
        Case("missing dataset folder", "--dataset_dir that does not exist",
             lambda work: evaluate_args(work / "nowhere", work, model), "error", ["nowhere", "is not a folder"]),
        Case("missing model", "--model_path that does not exist",
             lambda work: evaluate_args(data, work, work / "nomodel.pt"), "error", ["nomodel.pt", "not found"]),
        Case("weights of another network", "a model of variant 'baseline' with the default AD network",
             lambda work: evaluate_args(data, work, inputs["other_variant"]), "error",
             ["does not match the configured network"]),
        Case("truncated hyperstack", "half a file (interrupted copy)", edited(truncate), "error",
             ["oocyte01.tif", "truncated"]),
        Case("missing per-frame file", "t0002 missing in a per-frame folder", edited(per_frame_with_gap), "error",
             ["frames missing: t0002"]),
        Case("mask folder misnamed", "oocyte01_mask/ instead of oocyte01_masks/",
             edited(lambda d: rename_masks(d, "oocyte01_mask")), "error", ["looks like the masks of exp1/oocyte01"]),
        Case("OME with two series", "two positions in one OME-TIFF", edited(two_series), "error", ["2 image series"]),
        Case("RGB hyperstack", "a Fiji RGB hyperstack (colour samples, not channels)", edited(rgb), "error",
             ["RGB image", "Make Composite"]),
        Case("NaN in a frame", "a float series with a NaN voxel", edited(nan_frame), "error", ["oocyte01.tif", "NaN"]),
        Case("gvbd names unknown oocyte", "gvbd.csv lists an oocyte that is not in the dataset",
             edited(gvbd("experiment,oocyte,gvbd_frame\nexp1,oocyte01,1\nexp1,oocyte02,1\nexp1,oocyte03,1\n")),
             "error", ["oocyte03", "not in the dataset"]),
        Case("datalist names missing file", "--datalist_file naming an oocyte that is gone", datalist_naming_missing,
             "error", ["oocyte09", "does not exist"]),
        Case("C and Z swapped", "a labelled hyperstack saved with C and Z swapped", edited(swap_c_and_z), "error",
             ["mask shape differs from the image", "C and Z may be swapped"]),
        Case("C and Z swapped, no labels", "an unlabelled hyperstack saved with C and Z swapped",
             edited(lambda d: (swap_c_and_z(d), shutil.rmtree(d / "exp1" / "oocyte01_masks"))), "warn",
             ["C and Z may be swapped"], check=n_rows(8)),
        Case("mask under another name", "t0001_mask.tif in the masks folder", edited(odd_mask_name), "warn",
             ["match no expected name", "t0001_mask.tif"], check=n_rows(8)),
        Case("GVBD after the series", "gvbd.csv puts GVBD after the last frame",
             edited(gvbd("experiment,oocyte,gvbd_frame\nexp1,oocyte01,40\nexp1,oocyte02,1\n")), "warn",
             ["lies after the last frame"], check=n_rows(8)),
        Case("datalist left by training", "datalist.json in the dataset folder", edited(datalist_left_by_training),
             "warn", ["is not used"], check=n_rows(8)),
        Case("crop smaller than spindle", "--crop_size '[16,16,-1]'", clean("--crop_size", "[16,16,-1]"), "warn",
             ["reaches the edge of the 16 x 16 crop"],
             check=n_rows(8)),
        Case("camera offset", "+2000 counts on every voxel (fp32)", edited(offset, "--precision", "fp32"), "ok",
             check=same_masks_as_clean),
        Case("rerun with corrected channel", "a rerun into the same folder with --channel 0",
             clean("--channel", "0"), "warn", ["channel 1 -> 0", "evaluated again"], check=redone_with_channel_0,
             before=earlier_run()),
        Case("rerun with other weights", "a rerun into a folder finished by another model",
             lambda work: evaluate_args(data, work, inputs["other_variant"], "--variant", "baseline"), "error",
             ["finished oocytes of another model"], before=earlier_run()),
        Case("killed run, rerun", "SIGKILL during the first run, then the same command", clean(), "ok",
             check=no_partial_files, before=killed_run),
        Case("mask values 0/255", "a mask saved with 255 for the spindle", edited(mask_values_255), "error",
             ["mask values outside {0, 1}"]),
        Case("mask of another shape", "a mask cropped to 32 x 32", edited(mask_other_shape), "error",
             ["mask shape differs from the image"]),
        Case("mask beyond the series", "t0009.tif for a 4-frame series", edited(mask_beyond_series), "error",
             ["a mask for a frame the image does not have"]),
        Case("uncalibrated file", "a hyperstack without pixel size", edited(uncalibrated), "warn",
             ["no calibration for axes", "default"], check=n_rows(8)),
        Case("spacing in nm", "x-y pixel size 170 'um' (nanometres stored as um)", edited(spacing_in_nm), "error",
             ["implausible x spacing"]),
        Case("2D image", "one z slice saved as the series", edited(two_d), "error", ["wrong number of dimensions"]),
        Case("empty dataset", "a dataset folder with no oocytes", edited(empty_dataset), "error", ["empty dataset"]),
        Case("gvbd not an integer", "gvbd.csv with 'ten' as a frame",
             edited(gvbd("experiment,oocyte,gvbd_frame\nexp1,oocyte01,ten\nexp1,oocyte02,1\n")), "error",
             ["line 2", "integer frame"]),
        Case("gvbd listed twice", "gvbd.csv with two different rows for one oocyte",
             edited(gvbd("experiment,oocyte,gvbd_frame\nexp1,oocyte01,1\nexp1,oocyte01,2\nexp1,oocyte02,1\n")),
             "error", ["listed twice"]),
        Case("gvbd missing an oocyte", "gvbd.csv without oocyte02",
             edited(gvbd("experiment,oocyte,gvbd_frame\nexp1,oocyte01,1\n")), "error",
             ["no GVBD frame for oocytes", "oocyte02"]),
        Case("gvbd from a spreadsheet", "gvbd.csv with a byte-order mark and CRLF line ends",
             edited(lambda d: (d / "gvbd.csv").write_bytes(b"\xef\xbb\xbfexperiment,oocyte,gvbd_frame\r\n"
                                                           b"exp1,oocyte01,1\r\nexp1,oocyte02,1\r\n")), "ok",
             check=n_rows(8)),
        Case("no gvbd table", "new recordings without gvbd.csv", edited(lambda d: (d / "gvbd.csv").unlink()), "ok",
             check=no_gvbd),
        Case("constant frame", "a blank frame (laser off)", edited(constant_frame), "warn", ["constant frame"],
             check=n_rows(8)),
        Case("per-frame files", "one ZCYX file per frame instead of a hyperstack", edited(per_frame), "ok",
             check=n_rows(8)),
        Case("per-frame shapes differ", "one per-frame file cropped smaller",
             edited(lambda d: per_frame(d, frame_of=lambda f, t: f[t][:, :, :48, :48] if t == 2 else f[t])), "error",
             ["frame shape differs within one oocyte"]),
        Case("per-frame calibration differs", "one per-frame file with another pixel size",
             edited(lambda d: per_frame(d, spacing=lambda t: (0.2, 0.2, 2.0) if t == 2 else (0.17, 0.17, 2.0))),
             "error", ["calibration differs within one oocyte"]),
        Case("per-frame file with a series", "a per-frame file holding two time points",
             edited(lambda d: per_frame(d, frame_of=lambda f, t: f[t:t + 2] if t == 1 else f[t])), "error",
             ["a per-frame file must hold one frame"]),
        Case("oocyte twice", "both oocyte01.tif and oocyte01/t0000.tif", edited(both_layouts), "error",
             ["found twice"]),
        Case("two files for one frame", "t0001.tif and t0001.tiff", edited(two_files_one_frame), "error",
             ["two files for frame 1"]),
        Case("8-bit data", "a uint8 hyperstack", edited(retyped(np.uint8)), "ok", check=n_rows(8)),
        Case("float data", "a float32 hyperstack (same values, fp32)", edited(retyped(np.float32), "--precision", "fp32"),
             "ok", check=same_masks_as_clean),
        Case("NIfTI masks", "masks as tNNNN.nii.gz", edited(nifti_masks), "ok",
             check=lambda r: sum(row["has_label"] == 1 for row in rows(r)) == 2),
        Case("unknown datalist subset", "--datalist_subset tests (the list is called testing)", unknown_subset,
             "error", ["no 'tests' list in the datalist", "testing"]),
        # the limit applies to every file of the process, shared memory too: the loader in the main process
        Case("disk full", "the disk fills up while writing the results (file size limit 20 kB)",
             clean("--num_workers", "0"), "error",
             ["cannot write", "File too large"], file_size_limit_bytes=20_000),
        Case("two runs at once", "two evaluating runs into the same folder at the same time", clean(), "ok",
             check=both_runs_complete, before=concurrent),
        Case("rerun everything", "a rerun with --skip_finished false", clean("--skip_finished", "false"), "ok",
             check=no_partial_files, before=earlier_run()),
        Case("baseline off", "--baseline false", clean("--baseline", "false"), "ok", check=baseline_off),
        Case("no frame interval", "files without a frame interval", edited(uncalibrated), "ok",
             check=times_from_default_interval),
        Case("inference config", "the inference config alone", lambda work: ["--config_file", CONFIGS["inference"],
             "--dataset_dir", str(data), "--output_dir", str(work / "out"), "--model_path", str(model), "--crop_size",
             "[48,48,-1]", "--progress_bar", "false"], "ok", check=n_rows(8)),
        Case("training without labels", "run training on a dataset without masks",
             lambda work: training_args(copy_dataset_edited(inputs, work, no_labels), work), "error",
             ["has no items", "labelled frames"]),
        Case("training: patch larger than the frame", "--patch_mode true with 128-voxel patches on 48-voxel crops",
             lambda work: training_args(data, work, "--patch_mode", "true", "--datalist_file", two_frame_datalist(work)),
             "error", ["smaller than patch_size", "--patch_size"]),
        Case("analyzing without dataset", "run analyzing with no --dataset_dir",
             lambda work: ["analyzing", "--config_file", CONFIGS["analyze"]], "error", ["no dataset given"]),
        Case("training: misspelt setting", "run training --epoch 2",
             lambda work: ["training", "--config_file", CONFIGS["train"], "--dataset_dir", str(data), "--epoch", "2"],
             "error", ["unknown setting --epoch", "did you mean --epochs"]),
    ]


REFERENCE: dict[str, np.ndarray] = {}
BACKGROUND: dict[Path, subprocess.Popen] = {}  # runs started beside a case's own run, by work folder


def copy_dataset_edited(inputs: dict[str, Path], work: Path, edit: Callable[[Path], None]) -> Path:
    dataset = copy_dataset(inputs, work)
    edit(dataset)
    return dataset


def run_case(case: Case, root: Path) -> tuple[str, str]:
    """Run one case in its own folder under ``root``; (verdict, the table row)."""
    work = root / re.sub(r"\W+", "_", case.name)
    work.mkdir()
    args = case.prepare(work)
    if case.before is not None:
        case.before(work, args)
    result = run_cli(args, work, file_size_limit_bytes=case.file_size_limit_bytes)
    if case.name == "clean" and result.returncode == 0:
        REFERENCE["masks"] = tifffile.imread(result.output_dir / "masks" / "exp1" / "oocyte01.tif")
    found = verdict(case, result)
    last = result.last_lines.splitlines()[-1] if result.last_lines else ""
    last = last.replace(str(root), "TMP").replace("|", "\\|")[:160]
    row = f"| {case.name} | {case.what} | {case.expect} | {found} | {last} |"
    print(row, flush=True)
    return found, row


def run_campaign(only: list[str] | None = None, workers: int = 2, prestarted: bool = True
                 ) -> tuple[str, dict[str, int]]:
    """Run every case (or those named in ``only``), the clean case first (others compare with its masks) and the
    rest ``workers`` at a time; return the markdown table (in the cases' order) and the count of each verdict.
    ``prestarted``: runs fork from prestarted Pythons (benchmarks/prestarted_cli.py) instead of starting afresh."""
    if not prestarted:
        return _run_cases(only, workers)
    with prestarted_runs(workers):
        return _run_cases(only, workers)


@contextlib.contextmanager
def prestarted_runs(workers: int = 1) -> Iterator[None]:
    """Within it, ``run_cli`` forks its runs from ``workers`` prestarted Pythons (one per worker thread)."""
    global PRESTARTED
    PRESTARTED = queue.Queue()
    for _ in range(max(1, workers)):
        PRESTARTED.put(PrestartedCli(RUN_ENV))
    try:
        yield
    finally:
        while not PRESTARTED.empty():
            PRESTARTED.get().close()
        PRESTARTED = None


def _run_cases(only: list[str] | None, workers: int) -> tuple[str, dict[str, int]]:
    counts = dict.fromkeys(VERDICTS, 0)
    lines = ["| case | what | expected | verdict | last line |", "| --- | --- | --- | --- | --- |"]
    with tempfile.TemporaryDirectory(prefix="bad_inputs_") as tmp:
        root = Path(tmp)
        inputs = make_inputs(root)
        chosen = [c for c in cases(inputs) if not only or c.name in only or c.name == "clean"]
        clean = [c for c in chosen if c.name == "clean"]
        results = [run_case(c, root) for c in clean]
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            results += list(pool.map(lambda c: run_case(c, root), [c for c in chosen if c.name != "clean"]))
        for found, row in results:
            counts[found] += 1
            lines.append(row)
    lines.append("")
    lines.append(", ".join(f"{n} {v}" for v, n in counts.items()) + f" ({sum(counts.values())} cases)")
    return "\n".join(lines) + "\n", counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None, help="also write the table to this markdown file")
    parser.add_argument("--only", nargs="*", default=None, help="case names to run (the clean case always runs)")
    parser.add_argument("--workers", type=int, default=2, help="cases run at a time")
    parser.add_argument("--fresh_processes", action="store_true",
                        help="start every run as a new `python -m monai.bundle` process (exactly as a user types it) "
                             "instead of forking it from a Python that has torch and MONAI imported (faster)")
    args = parser.parse_args(argv)
    table, counts = run_campaign(args.only, args.workers, prestarted=not args.fresh_processes)
    print(table)
    if args.out:
        Path(args.out).write_text(table)
    return 0 if counts["unclear"] == 0 and counts["silent wrong"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
