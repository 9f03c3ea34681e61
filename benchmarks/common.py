"""Shared pieces of the benchmarks: the machine, its measured GEMM peak, timing, FLOP counting, the result table.

Every benchmark module adds rows to one ``Table``; ``run_all.py`` prints it as markdown. Times are in seconds
(best of N repeats after a warm-up: on a shared machine the minimum is the least contaminated estimate), rates
in GFLOP/s (1e9 floating-point operations per second, a multiply-add counting as 2) and frames/s.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
BUNDLE_DIR = REPO_DIR / "bundle"
if str(BUNDLE_DIR) not in sys.path:  # the bundle's plugin is imported as `scripts`, as its configs do
    sys.path.insert(0, str(BUNDLE_DIR))

import torch  # noqa: E402
from scripts.network import AnisotropicAttentionUNet  # noqa: E402
from scripts.precision import cpu_has_native_bf16, resolve_precision, use_channels_last  # noqa: E402

DEFAULT_CACHE_DIR = REPO_DIR / "data" / "bench"
GB = 1024**3


# ----------------------------------------------------------------------------------------------------- table
@dataclass
class Table:
    """Rows of (section, what, value, note) rendered as one markdown table."""

    title: str
    rows: list[tuple[str, str, str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, section: str, what: str, value: str, note: str = "") -> None:
        self.rows.append((section, what, value, note))
        print(f"  [{section}] {what}: {value}  {note}", file=sys.stderr, flush=True)

    def markdown(self) -> str:
        lines = [f"### {self.title}", "", "| section | measurement | value | comparison / note |", "| --- | --- | --- | --- |"]
        previous = None
        for section, what, value, note in self.rows:
            lines.append(f"| {section if section != previous else ''} | {what} | {value} | {note} |")
            previous = section
        if self.notes:
            lines.append("")
            lines.extend(f"- {n}" for n in self.notes)
        return "\n".join(lines) + "\n"


def parse_overrides(pairs: list[str]) -> dict:
    """``["baseline=false", "num_workers=2"]`` -> ``{"baseline": False, "num_workers": 2}`` (JSON values, else strings)."""
    overrides = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise SystemExit(f"--set expects ID=VALUE, got {pair!r}")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    return overrides


def print_report(lines: list[str], out: Path | None) -> str:
    """The markdown lines as one text (newline-terminated): printed, and written to ``out`` when given."""
    text = "\n".join(lines) + "\n"
    print(text)
    if out:
        out.write_text(text)
    return text


def fmt_s(seconds: float) -> str:
    """Seconds with 3 significant digits."""
    return f"{seconds:.3g} s"


def fmt_gb(nbytes: float) -> str:
    return f"{nbytes / GB:.2f} GB"


# ----------------------------------------------------------------------------------------------------- machine
def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_vector_isa() -> str:
    """The widest vector instruction sets the CPU flags report (what oneDNN can use)."""
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return "unknown"
    wanted = ("avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "avx_vnni", "amx_bf16", "amx_tile")
    return ", ".join(f for f in wanted if f in flags) or "no AVX2"


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return cpu_model()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_call(fn: Callable[[], object], device: torch.device, repeats: int = 3, warmup: int = 1,
              reduce: Callable[[list[float]], float] = min) -> float:
    """Wall time of ``fn()`` in seconds over ``repeats`` calls after ``warmup`` untimed ones: the best by default."""
    for _ in range(warmup):
        fn()
    synchronize(device)
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        seconds.append(time.perf_counter() - start)
    return reduce(seconds)


def gemm_peak_gflops(dtype: torch.dtype, n: int, device: torch.device, repeats: int = 3) -> float:
    """Measured GFLOP/s of an (n x n) @ (n x n) matrix product in ``dtype`` (2 n^3 FLOP), the machine's practical peak."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    seconds = time_call(lambda: torch.mm(a, b), device, repeats=repeats)
    return 2 * n**3 / seconds / 1e9


# ----------------------------------------------------------------------------------------------------- network
def default_network(model_path: str | os.PathLike | None = None) -> AnisotropicAttentionUNet:
    """configs/inference.yaml's network_def (variant AD, filters 8..128, anisotropic pooling) for the weights at
    ``model_path`` (default: the shipped ones): one U-Net, or an ensemble of as many as the file holds members."""
    from monai.bundle import ConfigParser

    config = ConfigParser()
    config.read_config(str(BUNDLE_DIR / "configs" / "inference.yaml"))
    if model_path is not None:
        config["model_path"] = str(model_path)
    return config.get_parsed_content("network_def")


def count_forward_flops(crop_xyz: Sequence[int], batch: int = 1, backward: bool = False,
                        filters: Sequence[int] | None = None, model_path: str | os.PathLike | None = None) -> int:
    """FLOPs of the default network's forward (and backward) on a (batch, 1, X, Y, Z) input, for the weights at
    ``model_path`` (default: the shipped ones; ``filters``: one network of these widths instead).

    Counted by ``torch.utils.flop_counter.FlopCounterMode`` on the meta device: nothing is computed, so this
    takes a second even for the full crop.
    """
    with torch.device("meta"):
        net = AnisotropicAttentionUNet(filters=filters) if filters else default_network(model_path)
    return count_network_flops(net, crop_xyz, batch, backward)


def count_network_flops(network: torch.nn.Module, crop_xyz: Sequence[int], batch: int = 1,
                        backward: bool = False) -> int:
    """FLOPs of ``network``'s forward (and backward) on a (batch, 1, X, Y, Z) input, counted on a copy of it on the
    meta device (nothing is computed)."""
    import copy

    from torch.utils.flop_counter import FlopCounterMode

    net = copy.deepcopy(network).to("meta")
    x = torch.empty(batch, 1, *crop_xyz, device="meta", requires_grad=False)
    counter = FlopCounterMode(display=False)
    if backward:
        net.train()
        with counter:
            net(x).sum().backward()
    else:
        net.eval()
        with counter, torch.inference_mode():
            net(x)
    return int(counter.get_total_flops())


def fast_path(device: torch.device) -> tuple[str, bool]:
    """(precision, channels_last) of ``precision: auto`` on ``device``, exactly as the configs resolve it."""
    return resolve_precision("auto", device), use_channels_last(device)


def describe_path(precision: str, channels_last: bool, runtime: str = "torch") -> str:
    if runtime == "openvino":
        return f"OpenVINO {precision}"
    return precision + (" + channels_last_3d" if channels_last else " (default layout)")


def shipped_runtime(device: torch.device) -> str:
    """``runtime: auto`` on ``device``, exactly as inference.yaml resolves it (OpenVINO on a CPU, else PyTorch)."""
    from scripts.openvino_runtime import resolve_runtime

    return resolve_runtime("auto", device)


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 runs natively: CUDA with bf16 support, or a CPU with AVX512-BF16 / AMX."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return cpu_has_native_bf16()


def threads_summary() -> str:
    return f"{torch.get_num_threads()} torch threads, {os.cpu_count()} logical CPUs"
