"""Where OpenVINO's forward pass spends its time on this CPU, and how fast this CPU could be at best.

    .venv/bin/python benchmarks/openvino_layers.py [--crop 352 352 32] [--repeats 2] [--out FILE.md]

Issue 20 asks for frames/s targets on 2-core CPUs whose speed differs ~4x between the VMs we are lent. This
script answers, for the machine it runs on, whether a target is a question of software or of arithmetic:

- the machine's measured fp32 GEMM peak (torch.mm) and the crop's FLOPs (FlopCounterMode) give the **floor**:
  the least time one crop can take at 100 % of that peak, hence the most frames/s any fp32 runtime can reach;
- each model the evaluation can run on this CPU (the f32 network as ``runtime: auto`` converts it; the int8 model
  of ``scripts.quantize`` when it belongs to the shipped weights; bf16 where the CPU has it natively), compiled as
  the evaluation compiles it (``scripts.openvino_runtime.OpenVINONetwork``'s settings, static shape), timed, and
  profiled per layer (OpenVINO's PERF_COUNT) and summed by (operation type, kernel): what the convolutions
  achieve against the peak, and which kernels int8 actually gets (``jit_avx2_I8``, ``brgconv_avx512_..._I8``);
- the same compilation with two streams of one thread each and two crops in flight (OpenVINO's THROUGHPUT hint):
  whether running two frames at once would beat one frame on both cores.

``--filters 4 8 16 32 64`` profiles a narrower network instead (seeded random weights: the time does not depend on
their values; no int8 model exists for it): what a network trained for slow CPUs would cost per crop.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from pathlib import Path

import numpy as np
import torch
from common import (
    BUNDLE_DIR,
    Table,
    count_forward_flops,
    cpu_model,
    cpu_vector_isa,
    default_network,
    gemm_peak_gflops,
    native_bf16,
    print_report,
    threads_summary,
)

DEFAULT_INT8_MODEL = BUNDLE_DIR / "models" / "model_int8.xml"
DEFAULT_WEIGHTS = BUNDLE_DIR / "models" / "model.pt"


def kernel_profile(request) -> tuple[dict[tuple[str, str], float], float]:
    """{(operation type, kernel): seconds} of the request's last inference, and their total."""
    seconds: dict[tuple[str, str], float] = collections.Counter()
    for layer in request.get_profiling_info():
        seconds[(layer.node_type, layer.exec_type)] += layer.real_time.total_seconds()
    return dict(seconds), sum(seconds.values())


def best_latency(request, inputs: dict, repeats: int) -> float:
    request.infer(inputs)  # warm-up: first-call allocations
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        request.infer(inputs)
        times.append(time.perf_counter() - start)
    return min(times)


def two_streams_seconds_per_crop(core, model, config: dict, inputs: dict, repeats: int) -> float:
    """Seconds per crop with two streams of one thread each and two crops in flight (throughput, not latency)."""
    import openvino

    streams_config = {k: v for k, v in config.items() if k not in ("PERFORMANCE_HINT", "PERF_COUNT")}
    streams_config.update({"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": 2})
    queue = openvino.AsyncInferQueue(core.compile_model(model, "CPU", streams_config), 2)
    for _ in range(2):  # warm-up: each stream's first call
        queue.start_async(inputs)
    queue.wait_all()
    crops = 2 * repeats
    start = time.perf_counter()
    for _ in range(crops):
        queue.start_async(inputs)
    queue.wait_all()
    return (time.perf_counter() - start) / crops


def models_to_profile(weights: Path, int8_model: Path, filters: list[int] | None = None) -> list[tuple[str, object, str]]:
    """(name, OpenVINO model, precision as scripts.precision names it) for each model the evaluation can run on this CPU; with
    ``filters``, the f32 (and native bf16) network of those widths, seeded random weights."""
    import openvino
    from scripts.inference import load_network
    from scripts.network import AnisotropicAttentionUNet
    from scripts.openvino_runtime import _converted, _int8_model_problem

    # seeded random weights when there are none: the timings do not depend on the weights' values
    torch.manual_seed(0)
    if filters:
        network, name = AnisotropicAttentionUNet(filters=filters), f"filters {'-'.join(map(str, filters))}: "
    else:
        network, name = default_network(weights if weights.is_file() else None), ""
        if weights.is_file():
            network = load_network(network, weights, channels_last=False)
    float_model = _converted(network.eval())
    models = [(name + "f32 network", float_model, "fp32")]
    if native_bf16(torch.device("cpu")):
        models.append((name + "bf16 network (native bf16)", float_model, "bf16"))
    if not filters and int8_model.is_file() and _int8_model_problem(int8_model, weights) is None:
        models.append(("int8 model (scripts.quantize)", openvino.Core().read_model(str(int8_model)), "fp32"))
    return models


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crop", type=int, nargs=3, default=[352, 352, 32], metavar=("X", "Y", "Z"))
    parser.add_argument("--repeats", type=int, default=2, help="timed calls after a warm-up; the best is reported")
    parser.add_argument("--model_path", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument("--int8_model", type=Path, default=DEFAULT_INT8_MODEL)
    parser.add_argument("--filters", type=int, nargs="+", default=None,
                        help="profile a network of these widths instead (random weights), e.g. 4 8 16 32 64")
    parser.add_argument("--kernels", type=int, default=6, help="kernels listed per model (the most expensive)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    import openvino
    from scripts.openvino_runtime import compile_config

    threads = torch.get_num_threads()
    table = Table(f"OpenVINO per kernel ({cpu_model()}, {time.strftime('%Y-%m-%d %H:%M')})")
    table.add("machine", "CPU", cpu_model(), f"{threads_summary()}; vector ISA {cpu_vector_isa()}; OpenVINO "
              f"{openvino.__version__.split('-')[0]}")
    peak = gemm_peak_gflops(torch.float32, 2048, torch.device("cpu"))
    flops = count_forward_flops(tuple(args.crop), filters=args.filters,
                                model_path=args.model_path if args.model_path.is_file() else None)
    floor_s = flops / (peak * 1e9)
    table.add("machine", "fp32 GEMM peak", f"{peak:.0f} GFLOP/s", "torch.mm 2048^2, best of 3")
    table.add("crop", f"FLOPs per 1x1x{'x'.join(map(str, args.crop))} crop", f"{flops / 1e9:.1f} GFLOP",
              "FlopCounterMode")
    table.add("crop", "floor at the fp32 GEMM peak", f"{floor_s:.2f} s per crop",
              f"at most {1 / floor_s:.2f} frames/s for any fp32 runtime (forward alone)")
    core = openvino.Core()
    inputs = {0: np.random.default_rng(0).standard_normal((1, 1, *args.crop)).astype(np.float32)}
    for name, model, precision in models_to_profile(args.model_path, args.int8_model, args.filters):
        model = model.clone()
        model.reshape([1, 1, *args.crop])
        config = compile_config(precision, threads)  # as the evaluation compiles it
        plain = core.compile_model(model, "CPU", config).create_infer_request()
        seconds = best_latency(plain, inputs, args.repeats)
        profiled = core.compile_model(model, "CPU", {**config, "PERF_COUNT": True}).create_infer_request()
        profiled.infer(inputs)
        profiled.infer(inputs)
        kernels, total = kernel_profile(profiled)
        convolution_s = sum(s for (kind, _), s in kernels.items() if kind.startswith("Convolution"))
        table.add(name, "seconds per crop (latency, all threads)", f"{seconds:.2f} s",
                  f"{floor_s / seconds:.0%} of the fp32 floor's speed; {flops / seconds / 1e9:.0f} GFLOP/s overall")
        table.add(name, "convolutions' share of the profiled time", f"{convolution_s / total:.0%}",
                  f"{convolution_s:.2f} of {total:.2f} s (profiled run)")
        for (kind, kernel), s in sorted(kernels.items(), key=lambda item: -item[1])[:args.kernels]:
            table.add(name, f"{kind} / {kernel}", f"{s:.3f} s", f"{s / total:.0%}")
        streams_s = two_streams_seconds_per_crop(core, model, config, inputs, args.repeats)
        table.add(name, "two streams x one thread, two crops in flight", f"{streams_s:.2f} s per crop",
                  f"{seconds / streams_s:.2f}x the latency setting's throughput")
    print_report([table.markdown()], args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
