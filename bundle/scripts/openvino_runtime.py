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

On CPUs without native bf16 (``int8: auto``, the default; ``true`` anywhere) it runs the int8 model that
``scripts.quantize`` made from the same weights (``models/model_int8.xml``) instead: 1.36x faster end to end than f32
there, volumes within 0.44 % of f32 on the house phantom and +2.4 / -0.4 / 0 / 0 % on the real stacks
(``resolve_int8_model``; docs/README.md). The conversion pools with OpenVINO's own max-pool
(``scripts.network.with_native_pooling``): the strided-view maximum that is fastest in PyTorch bf16 made OpenVINO
slower and gave the int8 model a quantizer per view, which made real stacks' masks up to 12 % larger.
"""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scripts.network import with_native_pooling

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


def compile_config(precision: str, num_threads: int) -> dict[str, Any]:
    """OpenVINO's CPU settings for the evaluation: one crop at a time on ``num_threads`` threads (latency hint), in
    ``precision`` (``scripts.precision``'s name: bf16, fp32 or fp16)."""
    return {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": OPENVINO_PRECISION[precision],
            "INFERENCE_NUM_THREADS": int(num_threads)}


def _converted(network: torch.nn.Module):
    """``network`` as an OpenVINO model through the PyTorch frontend (TorchScript trace on a tiny input; every
    axis stays dynamic), its max-pools as OpenVINO pooling operations (``scripts.network.with_native_pooling``)."""
    from openvino.frontend import FrontEndManager
    from openvino.frontend.pytorch.ts_decoder import TorchScriptPythonDecoder

    network = with_native_pooling(network)
    with torch.no_grad(), warnings.catch_warnings():
        # the trace keeps the network's own input check for the traced shape only; the evaluation pads every
        # crop to the total stride before it reaches the network
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        decoder = TorchScriptPythonDecoder(network, example_input=(torch.zeros(TRACE_SHAPE),))
    frontend = FrontEndManager().load_by_framework("pytorch")
    return frontend.convert(frontend.load(decoder))


class OpenVINONetwork(torch.nn.Module):
    """``network`` (a PyTorch module on the CPU, eval mode) compiled by OpenVINO for the CPU in ``precision``
    (``bf16``, ``fp32`` or ``fp16``, as ``scripts.precision.resolve_precision`` names them).

    Called like the network: a float (N, C, X, Y, Z) tensor in, float32 logits of the same layout out.
    ``num_threads`` (default: PyTorch's thread count, so that OMP_NUM_THREADS / torch.set_num_threads limit
    both runtimes alike) sets OpenVINO's inference threads. ``static_shapes`` (default) compiles each input shape
    it meets as a static model; False runs every shape through one dynamic-shape compilation (the benchmark's
    comparison). ``int8_model`` (an .xml written by ``scripts.quantize`` for these weights) runs that model
    instead of converting ``network``: its int8 convolutions in int8, the rest in ``precision``.
    """

    def __init__(self, network: torch.nn.Module, precision: str = "fp32", num_threads: int | None = None,
                 static_shapes: bool = True, int8_model: str | None = None) -> None:
        super().__init__()
        import openvino

        if precision not in OPENVINO_PRECISION:
            raise ValueError(f"OpenVINONetwork: precision must be one of {sorted(OPENVINO_PRECISION)}, found {precision!r}")
        network = network.eval()
        parameter = next(network.parameters(), None)
        if parameter is not None and parameter.device.type != "cpu":
            raise ValueError(f"OpenVINONetwork: the network is on {parameter.device}; OpenVINO runs it on the CPU")
        self._core = openvino.Core()
        self.int8_model = None if int8_model is None else str(int8_model)
        # every axis dynamic: reshaped per input shape
        self._model = self._core.read_model(self.int8_model) if self.int8_model else _converted(network)
        self.precision = precision
        self.num_threads = int(num_threads or torch.get_num_threads())
        self._config: dict[str, Any] = compile_config(precision, self.num_threads)
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
    def model(self):
        """The OpenVINO model (dynamic shapes) that each input shape's compilation starts from."""
        return self._model

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


INT8_SETTINGS = ("auto", "true", "false")


def resolve_int8_model(setting: Any, int8_model_path: Any, model_path: Any, runtime: str, precision_setting: Any,
                       device: torch.device | str) -> str | None:
    """The int8 model (.xml of ``scripts.quantize``) the evaluation runs, or None for the floating-point network.

    ``false``: never (the floating-point network everywhere). ``auto`` (inference.yaml's default): on a CPU without
    native bf16 (where OpenVINO would run f32), with ``runtime`` openvino, ``precision`` auto and an int8 model made
    from the weights in use (its record holds their sha256): 1.36x faster end to end there, volumes within 0.44 % of
    f32 on the house phantom, +2.4 / -0.4 / 0 / 0 % on the real stacks. An int8 model made from other weights (a fine-tuned model beside the
    shipped int8 file) is not used, with a warning saying how to make one. With native bf16 the bf16 path is as
    fast and closer to full precision, so auto keeps it. ``true``: the int8 model, or an error saying why not."""
    from scripts.config import is_null
    from scripts.precision import cpu_has_native_bf16

    setting = str(setting).strip().lower()
    if setting not in INT8_SETTINGS:
        raise ValueError(f"--int8 {setting!r}: choose one of {', '.join(INT8_SETTINGS)}")
    if setting == "false":
        return None
    if setting == "auto" and (runtime != "openvino" or str(precision_setting).strip().lower() != "auto"
                              or torch.device(device).type != "cpu" or cpu_has_native_bf16()):
        return None
    if runtime != "openvino":
        raise ValueError(f"--int8 true needs the OpenVINO runtime, but the runtime is {runtime}: use --runtime auto "
                         "or openvino on a CPU")
    problem = _int8_model_problem(None if is_null(int8_model_path) else Path(str(int8_model_path)), Path(str(model_path)))
    if problem is None:
        return str(int8_model_path)
    if setting == "true":
        raise ValueError(f"--int8 true: {problem}")
    if not is_null(int8_model_path) and Path(str(int8_model_path)).is_file():
        warnings.warn(f"{problem}: running the f32 network", stacklevel=2)
    return None


def _int8_model_problem(int8_model_path: Path | None, model_path: Path) -> str | None:
    """Why ``int8_model_path`` cannot stand in for the weights ``model_path`` (None: it can)."""
    from scripts.io import file_sha256
    from scripts.quantize import int8_model_record

    make_one = f"python -m scripts.quantize --dataset_dir DIR --model_path {model_path} makes one"
    if int8_model_path is None or not int8_model_path.is_file():
        return f"no int8 model {int8_model_path or ''} ({make_one})"
    if not int8_model_path.with_suffix(".bin").is_file():
        return f"int8 model {int8_model_path} has no {int8_model_path.with_suffix('.bin').name} beside it"
    record = int8_model_record(int8_model_path)
    if record is None or "model_sha256" not in record:
        return f"int8 model {int8_model_path} does not say which weights it was made from ({make_one})"
    if not model_path.is_file() or file_sha256(model_path) != record["model_sha256"]:
        return (f"int8 model {int8_model_path} was made from other weights (sha256 {record['model_sha256'][:12]}...) "
                f"than {model_path} ({make_one})")
    return None


def int8_identity(int8_model: str | None) -> str | None:
    """What a run's masks depend on besides the weights: the int8 model's .bin sha256 (None: no int8 model)."""
    from scripts.io import file_sha256

    return None if int8_model is None else file_sha256(Path(int8_model).with_suffix(".bin"))


def network_for_runtime(network: torch.nn.Module, runtime: str, precision: str, torch_compile: bool = False,
                        int8_model: str | None = None) -> torch.nn.Module:
    """What the evaluator runs: OpenVINO's compiled network for ``runtime`` openvino (``int8_model`` from
    ``resolve_int8_model`` instead of the converted network when given), else the PyTorch network (through
    ``torch.compile`` when asked; ``scripts.inference.compile_for_inference``)."""
    from scripts.inference import compile_for_inference

    if runtime == "openvino":
        if torch_compile:
            raise ValueError("--torch_compile true compiles the PyTorch network: use it with --runtime torch")
        return OpenVINONetwork(network, precision, int8_model=int8_model)
    if int8_model is not None:
        raise ValueError("an int8 model runs in OpenVINO only: use --runtime auto or openvino")
    return compile_for_inference(network, torch_compile)
