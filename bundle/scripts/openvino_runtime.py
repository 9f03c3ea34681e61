"""The network in OpenVINO's CPU runtime: the same weights, about twice as fast as PyTorch on a CPU.

Measured on the 2-core Xeon (AVX512-BF16 + AMX; benchmarks/forward.py, one 352 x 352 x 32 crop): PyTorch's fast
path (bf16 autocast + channels_last_3d) 0.54-0.60 s, OpenVINO in bf16 0.29-0.30 s (1.8-2.1x); in fp32 OpenVINO
1.25 s against PyTorch's 2.4-2.9 s (1.9-2.3x). ``runtime: auto`` in inference.yaml therefore
runs evaluation on OpenVINO wherever the device is a CPU and OpenVINO is installed (requirements.txt pins it),
in the precision ``scripts.precision`` picked for the CPU (bf16 where it is native, else fp32); ``runtime:
torch`` keeps PyTorch. Training always runs PyTorch.

The network is converted in memory through OpenVINO's PyTorch frontend (TorchScript trace on a tiny input, all
five axes dynamic: ~1 s), not through ``openvino.convert_model`` / ovc, whose usage telemetry would try the
network; nothing is downloaded or written. The converted model keeps every axis dynamic; each input shape it meets
is compiled once as a static model (~0.5 s on its first frame) and its request kept: OpenVINO's CPU kernels for a
known shape ran the 352 x 352 x 32 crop in 0.236 s against 0.273 s for the dynamic model (2-core Xeon, bf16, best
of 6, same weights). A run usually meets one shape (the crop); files smaller than the crop bring their own, and
only the ``MAX_COMPILED_SHAPES`` most recent compilations are kept, each holding its intermediate buffers.
"""

from __future__ import annotations

import importlib.util
import warnings
from typing import Any

import numpy as np
import torch

RUNTIMES = ("auto", "torch", "openvino")
OPENVINO_PRECISION = {"bf16": "bf16", "fp32": "f32", "fp16": "f16"}  # scripts.precision name -> OpenVINO's hint
TRACE_SHAPE = (1, 1, 32, 32, 4)  # (N, C, X, Y, Z): a multiple of the total stride; the shapes stay dynamic
INSTALL_HINT = "pip install -r requirements.txt (it pins openvino)"
MAX_COMPILED_SHAPES = 4  # static compilations kept (most recently used): memory stays bounded over many file sizes


def openvino_available() -> bool:
    return importlib.util.find_spec("openvino") is not None


def resolve_runtime(runtime: str, device: torch.device | str, torch_compile: bool = False) -> str:
    """``torch`` or ``openvino`` for the ``runtime`` setting on ``device``: auto is OpenVINO on a CPU when it is
    installed, else PyTorch (CUDA always PyTorch; and PyTorch when ``torch_compile`` asks for its compiler)."""
    runtime = str(runtime).strip().lower()
    if runtime not in RUNTIMES:
        raise ValueError(f"--runtime {runtime!r}: choose one of {', '.join(RUNTIMES)}")
    device = torch.device(device)
    if runtime == "auto":
        return "openvino" if device.type == "cpu" and openvino_available() and not torch_compile else "torch"
    if runtime == "openvino":
        if device.type != "cpu":
            raise ValueError(f"--runtime openvino runs on the CPU, but --device is {device}: use --runtime torch "
                             "(or auto) on a GPU")
        if not openvino_available():
            raise ValueError(f"--runtime openvino: OpenVINO is not installed in this Python: {INSTALL_HINT}, "
                             "or use --runtime torch")
    return runtime


class OpenVINONetwork(torch.nn.Module):
    """``network`` (a PyTorch module on the CPU, eval mode) compiled by OpenVINO for the CPU in ``precision``
    (``bf16``, ``fp32`` or ``fp16``, as ``scripts.precision.resolve_precision`` names them).

    Called like the network: a float (N, C, X, Y, Z) tensor in, float32 logits of the same layout out.
    ``num_threads`` (default: PyTorch's thread count, so that OMP_NUM_THREADS / torch.set_num_threads limit
    both runtimes alike) sets OpenVINO's inference threads. ``static_shapes`` (default) compiles each input shape
    it meets as a static model; False runs every shape through one dynamic-shape compilation (the benchmark's
    comparison).
    """

    def __init__(self, network: torch.nn.Module, precision: str = "fp32", num_threads: int | None = None,
                 static_shapes: bool = True) -> None:
        super().__init__()
        import openvino
        from openvino.frontend import FrontEndManager
        from openvino.frontend.pytorch.ts_decoder import TorchScriptPythonDecoder

        if precision not in OPENVINO_PRECISION:
            raise ValueError(f"OpenVINONetwork: precision must be one of {sorted(OPENVINO_PRECISION)}, found {precision!r}")
        network = network.eval()
        parameter = next(network.parameters(), None)
        if parameter is not None and parameter.device.type != "cpu":
            raise ValueError(f"OpenVINONetwork: the network is on {parameter.device}; OpenVINO runs it on the CPU")
        with torch.no_grad(), warnings.catch_warnings():
            # the trace keeps the network's own input check for the traced shape only; the evaluation pads every
            # crop to the total stride before it reaches the network
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            decoder = TorchScriptPythonDecoder(network, example_input=(torch.zeros(TRACE_SHAPE),))
        frontend = FrontEndManager().load_by_framework("pytorch")
        self._model = frontend.convert(frontend.load(decoder))  # every axis dynamic: reshaped per input shape
        self._core = openvino.Core()
        self.precision = precision
        self.num_threads = int(num_threads or torch.get_num_threads())
        self._config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY",
                                        "INFERENCE_PRECISION_HINT": OPENVINO_PRECISION[precision],
                                        "INFERENCE_NUM_THREADS": self.num_threads}
        self.static_shapes = bool(static_shapes)
        self._requests: dict[tuple[int, ...], Any] = {}  # input shape -> infer request of its static compilation

    def _request_for(self, shape: tuple[int, ...]):
        """The infer request of the model compiled for exactly ``shape`` (compiled on first use); with
        ``static_shapes`` off, the one request of the dynamic model."""
        if not self.static_shapes:
            shape = ()
        request = self._requests.pop(shape, None)
        if request is None:
            model = self._model.clone()
            if shape:
                model.reshape(list(shape))
            request = self._core.compile_model(model, "CPU", self._config).create_infer_request()
            while len(self._requests) >= MAX_COMPILED_SHAPES:
                del self._requests[next(iter(self._requests))]  # the least recently used
        self._requests[shape] = request  # (re)inserted last: the dict's order is the order of use
        return request

    @property
    def compiled_shapes(self) -> list[tuple[int, ...]]:
        """The input shapes whose compilations are kept, least recently used first (``()``: the dynamic model)."""
        return list(self._requests)

    @property
    def inference_precision(self) -> str:
        """The precision OpenVINO computes in: ``bf16``, ``f32`` or ``f16``."""
        compiled = (next(iter(self._requests.values())).get_compiled_model() if self._requests
                    else self._core.compile_model(self._model, "CPU", self._config))
        return compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu":
            raise ValueError(f"OpenVINONetwork runs on the CPU; the input is on {x.device}")
        array = np.ascontiguousarray(x.detach().float().numpy())  # channels_last input is made plain here
        logits = self._request_for(tuple(array.shape)).infer({0: array})[0]
        return torch.from_numpy(np.array(logits, dtype=np.float32, copy=True))  # the request reuses its buffer


def network_for_runtime(network: torch.nn.Module, runtime: str, precision: str, torch_compile: bool = False) -> torch.nn.Module:
    """What the evaluator runs: OpenVINO's compiled network for ``runtime`` openvino, else the PyTorch network
    (through ``torch.compile`` when asked; ``scripts.inference.compile_for_inference``)."""
    from scripts.inference import compile_for_inference

    if runtime == "openvino":
        if torch_compile:
            raise ValueError("--torch_compile true compiles the PyTorch network: use it with --runtime torch")
        return OpenVINONetwork(network, precision)
    return compile_for_inference(network, torch_compile)
