"""`make bench`: speed, memory and accuracy of the spindle bundle on this machine, as ONE markdown table.

    .venv/bin/python benchmarks/run_all.py [--quick] [--out benchmarks/results.md]     (from any folder)

Every figure is measured in the same run on the same machine: the machine's GEMM peak, the forward pass per
crop (fp32 eager against the shipped fast path and candidates), end-to-end ``evaluating`` throughput against
the bare forward pass, its peak memory on a short and a long oocyte, training step times, and the fast path's
accuracy against fp32. ``--quick`` shrinks every size (a smoke run of a minute or two); the default is the real
thing (full 352x352x32 crop, full-size 750x750x31 phantom oocytes of 20 and 100 frames; the 100-frame one is
~10 GB, generated once into --cache_dir and reused; about 20-30 minutes on a quiet 2-core machine).
Run it on a quiet machine: other processes contaminate every timing (the table shows the load average).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling benchmark modules

import accuracy  # noqa: E402
import forward  # noqa: E402
import pipeline  # noqa: E402
import torch  # noqa: E402
import training_step  # noqa: E402
from common import (  # noqa: E402
    BUNDLE_DIR,
    DEFAULT_CACHE_DIR,
    REPO_DIR,
    Table,
    cpu_vector_isa,
    describe_path,
    device_name,
    fast_path,
    gemm_peak_gflops,
    native_bf16,
    parse_overrides,
    shipped_runtime,
    threads_summary,
)

FULL = {
    "crop": (352, 352, 32), "phantom_shape": (750, 750, 31), "n_short": 20, "n_long": 100,
    "train_sizes": {"full crop": (352, 352, 32), "patch mode": (128, 128, 32)},
    "gemm_n": 2048, "gemm_n_emulated": 256, "repeats": 3, "train_repeats": 1,
}
QUICK = {
    "crop": (96, 96, 32), "phantom_shape": (160, 160, 31), "n_short": 3, "n_long": 6,
    "train_sizes": {"full crop": (64, 64, 16), "patch mode": (32, 32, 16)},
    "gemm_n": 1024, "gemm_n_emulated": 128, "repeats": 2, "train_repeats": 1,
}


def model_weights(model_path: str | None, cache_dir: Path) -> tuple[Path, bool]:
    """(weights file, trained?): --model_path, else bundle/models/model.pt, else seeded random weights."""
    if model_path:
        return Path(model_path).resolve(), True
    trained = BUNDLE_DIR / "models" / "model.pt"
    if trained.is_file():
        return trained, True
    path = cache_dir / "random_weights.pt"
    torch.manual_seed(0)
    cache_dir.mkdir(parents=True, exist_ok=True)
    torch.save(forward.default_network().state_dict(), path)
    return path, False


def machine_rows(table: Table, device: torch.device, sizes: dict) -> dict:
    section = "machine"
    table.add(section, "device", device_name(device), f"{threads_summary()}; torch {torch.__version__}")
    if device.type == "cpu":
        table.add(section, "vector ISA", cpu_vector_isa(), "what oneDNN's convolutions can use")
    bf16 = native_bf16(device)
    table.add(section, "native bf16", "yes" if bf16 else "no", f"precision auto = {describe_path(*fast_path(device))}")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    busy = load > 0.5 * (os.cpu_count() or 1)
    table.add(section, "load average (1 min) at start", f"{load:.1f}",
              "BUSY: other processes contaminate these timings" if busy else "quiet")
    peaks = {"fp32": gemm_peak_gflops(torch.float32, sizes["gemm_n"], device)}
    table.add(section, "GEMM peak fp32", f"{peaks['fp32']:.0f} GFLOP/s", f"torch.mm {sizes['gemm_n']}^2, best of 3")
    n_bf16 = sizes["gemm_n"] if bf16 else sizes["gemm_n_emulated"]
    peaks["bf16"] = gemm_peak_gflops(torch.bfloat16, n_bf16, device)
    table.add(section, "GEMM peak bf16", f"{peaks['bf16']:.0f} GFLOP/s",
              f"torch.mm {n_bf16}^2" + ("" if bf16 else ", emulated (small size so it finishes)"))
    return peaks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and few frames: a smoke run")
    parser.add_argument("--out", default=str(REPO_DIR / "benchmarks" / "results.md"), help="markdown file to write")
    parser.add_argument("--cache_dir", default=str(DEFAULT_CACHE_DIR), help="phantom datasets (generated once)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--model_path", default=None, help="trained weights (default bundle/models/model.pt if any)")
    parser.add_argument("--compile", dest="compile", action="store_true", default=None,
                        help="try torch.compile (default: on in the full run, off with --quick)")
    parser.add_argument("--no-compile", dest="compile", action="store_false")
    parser.add_argument("--skip", nargs="*", default=[], choices=["forward", "pipeline", "training"],
                        help="leave sections out (pipeline also carries the accuracy check)")
    parser.add_argument("--set", nargs="*", default=[], metavar="ID=VALUE",
                        help="evaluate.yaml overrides for the evaluating runs, VALUE as JSON (e.g. baseline=false)")
    args = parser.parse_args(argv)

    sizes = QUICK if args.quick else FULL
    device = torch.device(args.device)
    cache_dir = Path(args.cache_dir).resolve()
    try_compile = (not args.quick) if args.compile is None else args.compile
    started = time.perf_counter()
    table = Table(f"Spindle bundle benchmark ({'quick smoke run' if args.quick else 'full'}, {time.strftime('%Y-%m-%d %H:%M')})")
    model_path, trained = model_weights(args.model_path, cache_dir)
    peaks = machine_rows(table, device, sizes)

    time_bare_forward = None
    path_name = describe_path(*fast_path(device), shipped_runtime(device))
    if "forward" not in args.skip:
        fwd = forward.run(table, device, sizes["crop"], model_path, peaks, repeats=sizes["repeats"],
                          try_compile=try_compile)
        time_bare_forward = fwd["time_fast_path"]
    if "pipeline" not in args.skip:
        if time_bare_forward is None:
            raise SystemExit("the pipeline section compares with the bare forward pass: do not skip 'forward'")
        if device.type != "cpu":
            table.notes.append(f"evaluating runs on the config's default device ({device.type} when available)")
        res = pipeline.run(table, cache_dir, model_path, sizes["phantom_shape"], sizes["crop"], sizes["n_short"],
                           sizes["n_long"], time_bare_forward, path_name, parse_overrides(args.set),
                           try_compile=try_compile)
        accuracy.run(table, res["outputs"]["fast"], res["outputs"]["fp32"], res["dataset_dir"], trained, path_name)
        pipeline.cleanup(cache_dir)
    if "training" not in args.skip:
        training_step.run(table, device, peaks, sizes["train_sizes"], repeats=sizes["train_repeats"])

    table.notes.append(f"times are the best of {sizes['repeats']} after a warm-up call (training: best of "
                       f"{sizes['train_repeats']} step, after a warm-up step only up to 128x128x32); "
                       f"benchmark wall time {(time.perf_counter() - started) / 60:.1f} min")
    text = table.markdown()
    print(text)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(f"written to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
