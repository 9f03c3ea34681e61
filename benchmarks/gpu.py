"""GPU figures (issue 20): forward per crop, a training step and end-to-end ``evaluating``, time and peak GPU memory.

    python benchmarks/gpu.py --out training_state/gpu_h200.md [--frames 40] [--quick]

Needs a CUDA GPU (it exits with a message otherwise); the project never depends on one. Rows:
- forward on one 352 x 352 x 32 crop (batch 1 and 4) in fp32 (TF32 convolutions, PyTorch's default), fp16 autocast
  and bf16, each in the default and the channels_last_3d layout (the shipped path on CUDA: fp16 autocast +
  channels_last_3d, ``precision: auto``, ``channels_last`` auto), with the peak GPU memory of each
  (torch.cuda.max_memory_allocated after a reset);
- a training step (forward, AD loss, backward, Adam) at the full crop (batch 2) and in patch mode
  (192 x 192 x 32, batch 4 and 16) in fp32, under fp16 AMP, and under fp16 AMP with channels_last_3d (the
  trainer's path on CUDA);
- ``evaluating`` on a full-size (750 x 750 x 31, 3 channels) phantom oocyte, each run its own process
  (``eval_child.py``): the shipped path (num_workers auto = 1 on a GPU) and plain fp32 as the reference whose
  masks the fast path must reproduce (Dice >= 0.995, volumes within 1 %: ``accuracy.py``). The classical baseline
  is off (it costs seconds of CPU per labelled frame and measures nothing about the GPU).
- ``evaluating`` split by oocyte over 1, 4, 8, 12 processes sharing the GPU (torchrun + multi_gpu_evaluate.yaml;
  ``--processes``): one process is bound by its CPU work, so the frames/s of a lab's many oocytes scale with the
  processes until the cores run out.
Every ratio is measured in this one run.
"""

from __future__ import annotations

import argparse
import copy
import csv
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmark modules

import accuracy  # noqa: E402
import pipeline  # noqa: E402
import torch  # noqa: E402
from common import (  # noqa: E402
    BUNDLE_DIR,
    DEFAULT_CACHE_DIR,
    Table,
    count_forward_flops,
    count_network_flops,
    default_network,
    fmt_gb,
    fmt_s,
    gemm_peak_gflops,
    time_call,
)
from scripts.inference import AutocastInferer, load_network  # noqa: E402
from training_step import make_step, random_batch, train_components  # noqa: E402


def peak_memory(fn, device: torch.device) -> int:
    """Peak GPU bytes allocated while ``fn()`` runs once (after a reset of the allocator's peak counter)."""
    if device.type != "cuda":  # --device cpu: a check of this script's code paths, not a measurement
        fn()
        return 0
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device)


def forward_rows(table: Table, device: torch.device, model_path: Path, crop: tuple[int, int, int], peaks: dict) -> None:
    flops = count_forward_flops(crop, model_path=model_path)
    for batch in (1, 4):
        section = f"forward {batch}x1x{'x'.join(map(str, crop))}"
        x = torch.randn(batch, 1, *crop, device=device)
        reference = None
        for precision, channels_last in (("fp32", False), ("fp16", False), ("bf16", False), ("fp32", True),
                                         ("fp16", True), ("bf16", True)):
            network = load_network(default_network(model_path), model_path, device, channels_last=channels_last)
            inferer = AutocastInferer(precision=precision, channels_last=channels_last)

            def call(inferer=inferer, x=x, network=network) -> torch.Tensor:
                return inferer(x, network)

            with torch.inference_mode():
                seconds = time_call(call, device, repeats=5, warmup=2)
                memory = peak_memory(call, device)
                out = call().float()
            if reference is None:
                reference = out
            agree = float(((out > 0) == (reference > 0)).float().mean())
            rate = batch * flops / seconds / 1e9
            shipped = " (shipped: precision auto on CUDA)" if (precision, channels_last) == ("fp16", True) else ""
            layout = " + channels_last_3d" if channels_last else ""
            table.add(section, f"{precision}{layout}{shipped}", f"{fmt_s(seconds / batch)} per crop",
                      f"{batch / seconds:.1f} crops/s; {rate:.0f} GFLOP/s = {100 * rate / peaks[precision]:.0f}% of "
                      f"the {precision} GEMM peak; peak GPU memory {fmt_gb(memory)}; voxels with the fp32 sign "
                      f"{100 * agree:.3f}% (random input)")


def training_rows(table: Table, device: torch.device, peaks: dict, full_crop: tuple[int, int, int],
                  patch: tuple[int, int, int]) -> None:
    network, loss_fn, lr = train_components()
    for name, crop, batch_size in (("full crop", full_crop, 2), ("patch mode", patch, 4), ("patch mode", patch, 16)):
        section = f"training step, {name} {'x'.join(map(str, crop))}, batch {batch_size}"
        flops = count_network_flops(network, crop, batch=batch_size, backward=True)
        batch, label = random_batch(batch_size, crop, device)
        for precision, channels_last in (("fp32", False), ("fp16", False), ("fp16", True)):
            step = make_step(copy.deepcopy(network).to(device), loss_fn, lr, batch, label, precision, channels_last)
            seconds = time_call(step, device, repeats=5, warmup=2)
            memory = peak_memory(step, device)
            rate = flops / seconds / 1e9
            name = {("fp32", False): "fp32", ("fp16", False): "fp16 AMP",
                    ("fp16", True): "fp16 AMP + channels_last_3d (the trainer's path on CUDA)"}[(precision, channels_last)]
            table.add(section, name, f"{fmt_s(seconds)} per step",
                      f"{batch_size / seconds:.1f} samples/s; {rate:.0f} GFLOP/s = "
                      f"{100 * rate / peaks[precision]:.0f}% of the {precision} GEMM peak; peak GPU memory {fmt_gb(memory)}")


def evaluating_rows(table: Table, cache_dir: Path, model_path: Path, n_frames: int, shape: tuple[int, int, int],
                    crop_xy: tuple[int, int] = (352, 352)) -> None:
    dataset_dir = pipeline.ensure_phantom(cache_dir, n_frames, shape)
    work = cache_dir / "gpu_runs"
    datalist = pipeline.write_first_frames_datalist(dataset_dir, n_frames, work / f"datalist_t{n_frames}.json")
    base = {"dataset_dir": str(dataset_dir), "datalist_file": str(datalist), "model_path": str(model_path),
            "skip_finished": False, "baseline": False, "crop_size": [*crop_xy, -1]}
    section = f"evaluating {'x'.join(map(str, shape))}, 3 channels, {n_frames} frames (baseline off)"
    outputs = {}
    plan = [("fast", "precision auto (fp16 autocast + channels_last_3d), num_workers auto (1)", {}),
            ("fp32", "precision fp32, default layout (the reference)", {"precision": "fp32", "channels_last": False})]
    for key, name, extra in plan:
        out_dir = work / key
        res = pipeline.run_evaluating({**base, **extra, "output_dir": str(out_dir)}, work / f"timing_{key}.json")
        outputs[key] = out_dir
        fps = pipeline.steady_fps(res["frames"])
        cuda_peak = res.get("cuda_peak_bytes")
        table.add(section, name, f"{fps:.2f} frames/s",
                  f"target >= 50 frames/s on an H100-class GPU: {'met' if fps >= 50 else 'NOT met'}; median stages "
                  f"{pipeline.stage_summary(res['frames'])}; wall {res['wall_s']:.0f} s incl. {res['setup_s']:.0f} s "
                  f"start-up; peak GPU memory {fmt_gb(cuda_peak) if cuda_peak else 'n/a'}; peak host memory "
                  f"{fmt_gb(res['peak_pss_tree'])} PSS")
    accuracy.run(table, outputs["fast"], outputs["fp32"], dataset_dir, True, "fp16 autocast + channels_last_3d on CUDA")


def many_oocytes_dataset(source_dir: Path, n_oocytes: int, out_dir: Path) -> Path:
    """A dataset of ``n_oocytes`` oocytes that are all the one oocyte of ``source_dir`` (symbolic links to its
    recording and masks): many oocytes to share between processes without writing gigabytes of frames."""
    if (out_dir / "gvbd.csv").is_file():
        return out_dir
    with (source_dir / "gvbd.csv").open() as handle:
        experiment, oocyte, gvbd_frame = list(csv.reader(handle))[1]
    (out_dir / experiment).mkdir(parents=True, exist_ok=True)
    rows = ["experiment,oocyte,gvbd_frame"]
    for index in range(1, n_oocytes + 1):
        name = f"oocyte{index:02d}"
        (out_dir / experiment / f"{name}.tif").symlink_to((source_dir / experiment / f"{oocyte}.tif").resolve())
        masks = source_dir / experiment / f"{oocyte}_masks"
        if masks.is_dir():
            (out_dir / experiment / f"{name}_masks").symlink_to(masks.resolve(), target_is_directory=True)
        rows.append(f"{experiment},{name},{gvbd_frame}")
    (out_dir / "gvbd.csv").write_text("\n".join(rows) + "\n")
    return out_dir


def multiprocess_rows(table: Table, cache_dir: Path, model_path: Path, phantom_frames: int, n_frames: int,
                      shape: tuple[int, int, int], n_oocytes: int, process_counts: list[int],
                      crop_xy: tuple[int, int] = (352, 352)) -> None:
    """``evaluating`` split by oocyte over N processes (torchrun + multi_gpu_evaluate.yaml; all N on the GPU(s) they
    share, process i on GPU i modulo the GPU count): one GPU process is bound by its CPU work (reading,
    standardisation, inversion, recording), so N processes should multiply the frames/s until the cores or the GPU
    run out. The data: ``n_oocytes`` copies (links) of the ``phantom_frames``-frame phantom oocyte of the evaluating
    rows, its first ``n_frames`` frames each.

    Frames/s two ways: all frames over the slowest process's run (start-up excluded, first-frame warm-up included:
    a lower bound) and the sum of the processes' steady rates (after each one's first frame)."""
    import json
    import subprocess

    source_dir = pipeline.ensure_phantom(cache_dir, phantom_frames, shape)
    work = cache_dir / "gpu_runs" / "multiprocess"
    dataset_dir = many_oocytes_dataset(source_dir, n_oocytes, work / f"oocytes_{n_oocytes}")
    datalist = pipeline.write_first_frames_datalist(dataset_dir, n_frames, work / f"datalist_{n_oocytes}x{n_frames}.json")
    configs = [str(BUNDLE_DIR / "configs" / name)
               for name in ("inference.yaml", "evaluate.yaml", "multi_gpu_evaluate.yaml")]
    section = (f"evaluating on N processes, {n_oocytes} oocytes x {n_frames} frames of {'x'.join(map(str, shape))}, "
               "3 channels (baseline off)")
    total = n_oocytes * n_frames
    single = None
    for processes in process_counts:
        out_dir = work / f"out_{processes}"
        overrides = {"dataset_dir": str(dataset_dir), "datalist_file": str(datalist), "model_path": str(model_path),
                     "skip_finished": False, "baseline": False, "crop_size": [*crop_xy, -1],
                     "output_dir": str(out_dir), "progress_bar": False}
        for old in work.glob(f"timing_{processes}_*.json"):
            old.unlink()
        cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nnodes=1",
               f"--nproc_per_node={processes}", str(pipeline.CHILD), "--config_file", *configs,
               "--overrides", json.dumps(overrides), "--timing_json", str(work / f"timing_{processes}_{{rank}}.json")]
        started = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - started
        if proc.returncode != 0:
            table.add(section, f"{processes} processes", "failed", (proc.stdout + proc.stderr)[-300:].replace("\n", " "))
            continue
        timings = [json.loads(path.read_text()) for path in sorted(work.glob(f"timing_{processes}_*.json"))]
        frames = sum(len(t["frames"]) for t in timings)
        run_fps = frames / max(t["run_s"] for t in timings)
        steady = sum(pipeline.steady_fps(t["frames"]) for t in timings if t["frames"])
        single = single or run_fps
        table.add(section, f"{processes} process{'es' if processes > 1 else ''}", f"{run_fps:.1f} frames/s",
                  f"{run_fps / single:.2f}x of the first row; sum of steady rates {steady:.1f} frames/s; "
                  f"{frames} of {total} frames; wall {wall:.0f} s incl. start-up; target >= 50 frames/s: "
                  f"{'met' if run_fps >= 50 else 'NOT met'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--model_path", type=Path, default=BUNDLE_DIR / "models" / "model.pt")
    parser.add_argument("--cache_dir", type=Path, default=DEFAULT_CACHE_DIR)
    parser.add_argument("--frames", type=int, default=40, help="frames of the evaluating runs")
    parser.add_argument("--skip", nargs="*", default=[], choices=["forward", "training", "evaluating", "multiprocess"])
    parser.add_argument("--processes", type=int, nargs="+", default=None,
                        help="process counts of the multi-process evaluating rows (default 1 4 8 12, at most the cores)")
    parser.add_argument("--oocytes", type=int, default=24, help="oocytes of the multi-process evaluating rows")
    parser.add_argument("--frames_per_oocyte", type=int, default=5, help="frames per oocyte in those rows")
    parser.add_argument("--quick", action="store_true", help="small crops and a small phantom: a smoke run")
    parser.add_argument("--device", default="cuda", help="cuda; cpu only to check this script's code (with --quick)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("benchmarks/gpu.py measures a CUDA GPU: PyTorch sees none here")
    started = time.perf_counter()
    table = Table(f"GPU benchmark ({time.strftime('%Y-%m-%d %H:%M')})")
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        table.add("machine", "GPU", torch.cuda.get_device_name(device),
                  f"{props.total_memory / 2**30:.0f} GiB, {props.multi_processor_count} SMs; torch {torch.__version__}, "
                  f"CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")
    gemm_n = 512 if args.quick else 8192
    peaks = {}
    for name, dtype in (("fp32", torch.float32), ("fp16", torch.float16), ("bf16", torch.bfloat16)):
        peaks[name] = gemm_peak_gflops(dtype, gemm_n, device)
        table.add("machine", f"GEMM peak {name}", f"{peaks[name]:.0f} GFLOP/s", f"torch.mm {gemm_n}^2, best of 3")
    if "forward" not in args.skip:
        forward_rows(table, device, args.model_path, (96, 96, 32) if args.quick else (352, 352, 32), peaks)
    if "training" not in args.skip:
        training_rows(table, device, peaks, *(((64, 64, 16), (32, 32, 16)) if args.quick
                                              else ((352, 352, 32), (192, 192, 32))))
    if "evaluating" not in args.skip:
        if args.quick:
            evaluating_rows(table, args.cache_dir.resolve(), args.model_path, 4, (160, 160, 31), (96, 96))
        else:
            evaluating_rows(table, args.cache_dir.resolve(), args.model_path, args.frames, (750, 750, 31))
    if "multiprocess" not in args.skip:
        counts = args.processes or ([1, 2] if args.quick else [n for n in (1, 4, 8, 12) if n <= (os.cpu_count() or 1)])
        if args.quick:
            multiprocess_rows(table, args.cache_dir.resolve(), args.model_path, 4, 3, (160, 160, 31), 4, counts, (96, 96))
        else:
            multiprocess_rows(table, args.cache_dir.resolve(), args.model_path, args.frames, min(args.frames, args.frames_per_oocyte),
                              (750, 750, 31), args.oocytes, counts)
    table.notes.append(f"load average at the end {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    table.notes.append(f"benchmark wall time {(time.perf_counter() - started) / 60:.1f} min")
    text = table.markdown()
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
