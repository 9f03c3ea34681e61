"""Forward pass of the default network on one crop: fp32 eager against the fast path we ship, and candidates.

Rows (seconds per (1, 1, X, Y, Z) crop, speed-up over fp32 eager, achieved GFLOP/s as a fraction of the
measured GEMM peak of the dtype that does the arithmetic, largest |logit| difference from fp32 eager):

- fp32 eager, default (contiguous) layout: the reference.
- the shipped fast path, ``precision: auto`` through ``scripts.inference.load_network`` + ``AutocastInferer``
  exactly as ``configs/evaluate.yaml`` builds them (here: fp32 + channels_last_3d on an AVX2-only CPU, bf16 +
  channels_last_3d on CPUs with native bf16, fp16 AMP on CUDA).
- bf16 + channels_last_3d where bf16 is native and not already the fast path; skipped where it is emulated.
- TorchScript freeze + ``optimize_for_inference`` (oneDNN weight pre-packing; CPU only; not shipped).
- ``torch.compile`` (inductor with freezing), when asked for: its compile time is reported separately.
- the same weights in OpenVINO (the evaluation's default runtime on a CPU: bf16 where native, and f32) and in ONNX
  Runtime (when installed: requirements-bioimageio.txt brings it), through an ONNX export.
"""

from __future__ import annotations

import importlib.util
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
from common import (
    Table,
    count_forward_flops,
    default_network,
    describe_path,
    fast_path,
    fmt_s,
    native_bf16,
    shipped_runtime,
    time_call,
)
from scripts.inference import AutocastInferer, load_network
from scripts.precision import resolve_precision


def _row_note(seconds: float, reference_s: float, flops: int, peak_gflops: float | None, peak_name: str,
              max_diff: float | None) -> str:
    gflops = flops / seconds / 1e9
    note = f"{reference_s / seconds:.2f}x; {gflops:.1f} GFLOP/s"
    if peak_gflops:
        note += f" = {100 * gflops / peak_gflops:.0f}% of {peak_name} GEMM peak"
    if max_diff is not None:
        note += f"; max |dlogit| vs fp32 {max_diff:.1e}"
    return note


def other_runtimes(table: Table, section: str, network: torch.nn.Module, x: torch.Tensor,
                   add_variant: Callable[..., float]) -> None:
    """The same weights in OpenVINO (``scripts.openvino_runtime.OpenVINONetwork``, as the evaluation builds it: bf16
    where the CPU has it natively, and f32) and in ONNX Runtime (CPU EP, through an ONNX export; when installed)."""
    import tempfile

    from scripts.openvino_runtime import OpenVINONetwork, openvino_available

    if openvino_available():
        import openvino

        version = openvino.__version__.split("-")[0]
        for precision in (("bf16", "fp32") if native_bf16(x.device) else ("fp32",)):
            compiled = OpenVINONetwork(network, precision)
            shipped = "shipped: runtime auto" if precision == resolve_precision("auto", x.device) else "not shipped here"
            add_variant(f"OpenVINO {version} {compiled.inference_precision} ({shipped})", lambda c=compiled: c(x),
                        "bf16" if precision == "bf16" else "fp32")
            if precision == resolve_precision("auto", x.device):  # what compiling per input shape gains
                dynamic = OpenVINONetwork(network, precision, static_shapes=False)
                add_variant(f"OpenVINO {version} {dynamic.inference_precision}, one dynamic-shape compilation (not "
                            "shipped: each shape is compiled as a static model)", lambda c=dynamic: c(x),
                            "bf16" if precision == "bf16" else "fp32")
    else:
        table.add(section, "OpenVINO", "not installed", "requirements.txt pins it: pip install -r requirements.txt")
    if importlib.util.find_spec("onnxruntime") is None or importlib.util.find_spec("onnx") is None:
        table.add(section, "ONNX Runtime", "not tried", "not installed (requirements-bioimageio.txt brings it)")
        return
    import onnxruntime

    with tempfile.TemporaryDirectory() as tmp:
        onnx_path = str(Path(tmp) / "network.onnx")
        with torch.inference_mode():
            torch.onnx.export(network, (x,), onnx_path, dynamo=False, opset_version=17, input_names=["input"],
                              output_names=["output"])
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = onnxruntime.InferenceSession(onnx_path, options, providers=["CPUExecutionProvider"])
        array = x.cpu().numpy()
        add_variant(f"ONNX Runtime {onnxruntime.__version__} fp32 (CPU EP; not shipped)",
                    lambda: torch.from_numpy(session.run(None, {"input": array})[0]), "fp32")


def run(table: Table, device: torch.device, crop_xyz: tuple[int, int, int], model_path: Path, peaks: dict,
        repeats: int = 3, try_compile: bool = False, try_script: bool = True) -> dict:
    """Time the forward variants on one crop; add rows to ``table``; return the shipped path's seconds per crop."""
    section = f"forward 1x1x{'x'.join(map(str, crop_xyz))}"
    flops = count_forward_flops(crop_xyz, model_path=model_path)
    table.add(section, "FLOPs per crop (FlopCounterMode)", f"{flops / 1e9:.1f} GFLOP",
              "SPEC quotes 223 GFLOP for the full crop" if tuple(crop_xyz) == (352, 352, 32) else "smaller crop (--quick)")
    torch.manual_seed(0)
    x = torch.randn(1, 1, *crop_xyz, device=device)

    def network(channels_last: bool) -> torch.nn.Module:
        return load_network(default_network(model_path), model_path, device, channels_last)

    def timed(fn: Callable[[], torch.Tensor]) -> tuple[float, torch.Tensor]:
        with torch.inference_mode():
            seconds = time_call(fn, device, repeats=repeats)
            return seconds, fn()

    # reference: fp32, default layout, no autocast
    eager_net = network(channels_last=False)
    eager = AutocastInferer(precision="fp32", channels_last=False)
    eager_s, reference = timed(lambda: eager(x, eager_net))
    table.add(section, "fp32 eager (default layout)", fmt_s(eager_s),
              _row_note(eager_s, eager_s, flops, peaks.get("fp32"), "fp32", None))

    def add_variant(name: str, fn: Callable[[], torch.Tensor], peak_name: str, extra: str = "") -> float:
        seconds, out = timed(fn)
        diff = float((out.float() - reference).abs().max())
        table.add(section, name, fmt_s(seconds),
                  _row_note(seconds, eager_s, flops, peaks.get(peak_name), peak_name, diff) + extra)
        return seconds

    precision, channels_last = fast_path(device)
    fast_net = network(channels_last)
    fast = AutocastInferer(precision=precision, channels_last=channels_last)
    fast_s = add_variant(f"{describe_path(precision, channels_last)}: PyTorch fast path (runtime torch, precision auto)",
                         lambda: fast(x, fast_net), "bf16" if precision == "bf16" else "fp32")

    if precision != "bf16":
        if native_bf16(device) and device.type == "cpu":
            bf16 = AutocastInferer(precision="bf16", channels_last=True)
            add_variant("bf16 + channels_last_3d", lambda: bf16(x, fast_net), "bf16")
        elif device.type == "cpu":
            table.add(section, "bf16 + channels_last_3d", "emulated, skipped",
                      "no native bf16 on this CPU: oneDNN emulates it ~100x slower than fp32")

    if try_script and device.type == "cpu":
        start = time.perf_counter()
        with torch.inference_mode():
            scripted = torch.jit.optimize_for_inference(torch.jit.freeze(torch.jit.script(network(False).eval())))
        build_s = time.perf_counter() - start
        add_variant("fp32 TorchScript freeze + optimize_for_inference (not shipped)", lambda: scripted(x), "fp32",
                    f"; build {build_s:.1f} s")

    if try_compile:
        try:
            import torch._inductor.config as inductor_config

            # the opt-in --torch_compile path: the shipped precision and layout, compiled
            compiled = torch.compile(network(channels_last))
            start = time.perf_counter()
            # freezing folds the weights into the graph so oneDNN can pre-pack them (inference only)
            with inductor_config.patch(freezing=True), torch.inference_mode():
                fast(x, compiled)
            compile_s = time.perf_counter() - start
            add_variant(f"{describe_path(precision, channels_last)} torch.compile (inductor, freezing; "
                        "opt-in: --torch_compile true)", lambda: fast(x, compiled), "bf16" if precision == "bf16" else "fp32",
                        f"; compile {compile_s:.0f} s (first call)")
        except Exception as exc:  # a missing compiler or an inductor bug is a result to report, not a crash
            table.add(section, "torch.compile (inductor)", "failed", f"{type(exc).__name__}: {str(exc)[:120]}")
    else:
        table.add(section, "torch.compile (inductor)", "not run", "run without --no-compile to try it (minutes of compile)")

    if device.type == "cpu":
        other_runtimes(table, section, network(False), x, add_variant)
    runtime = shipped_runtime(device)
    if runtime == "openvino":  # what `runtime: auto` evaluates with: the pipeline's bare-forward reference
        from scripts.openvino_runtime import OpenVINONetwork

        shipped_net = OpenVINONetwork(network(False), precision)
        shipped_s = time_call(lambda: shipped_net(x), device, repeats=repeats)
    else:
        shipped_net, shipped_s = fast_net, fast_s

    def time_fast_path() -> float:
        """The shipped path's median seconds per crop now: the pipeline section's reference, timed beside each run."""
        with torch.inference_mode():
            if runtime == "openvino":
                return time_call(lambda: shipped_net(x), device, repeats=repeats, reduce=statistics.median)
            return time_call(lambda: fast(x, fast_net), device, repeats=repeats, reduce=statistics.median)

    return {"fast_s": shipped_s, "eager_s": eager_s, "flops": flops, "path": describe_path(precision, channels_last, runtime),
            "time_fast_path": time_fast_path}
