"""Session 33: does OpenVINO run the shipped ensemble faster with two streams of one thread (two crops in flight)
than with one request on both cores? Alternated rounds (the VM drifts), int8 and f32, the evaluation's crop shape.
usage from the project root: .venv/bin/python training_state/s33/streams.py"""
import sys
import time
from pathlib import Path

import numpy as np
import openvino

sys.path.insert(0, "bundle")
sys.path.insert(0, "benchmarks")
from common import default_network  # noqa: E402
from scripts.inference import load_network  # noqa: E402
from scripts.openvino_runtime import _converted, compile_config  # noqa: E402

SHAPE = [1, 1, 176, 176, 32]
CROPS = 6
core = openvino.Core()
weights = Path("bundle/models/model.pt")
models = {"int8": core.read_model("bundle/models/model_int8.xml"),
          "f32": _converted(load_network(default_network(), weights, channels_last=False).eval())}
x = {0: np.random.default_rng(0).normal(size=SHAPE).astype(np.float32)}


def latency(model) -> float:
    m = model.clone()
    m.reshape(SHAPE)
    request = core.compile_model(m, "CPU", compile_config("fp32", 2)).create_infer_request()
    request.infer(x)
    start = time.perf_counter()
    for _ in range(CROPS):
        request.infer(x)
    return (time.perf_counter() - start) / CROPS


def two_streams(model) -> float:
    m = model.clone()
    m.reshape(SHAPE)
    config = {"PERFORMANCE_HINT": "THROUGHPUT", "NUM_STREAMS": 2, "INFERENCE_NUM_THREADS": 2,
              "INFERENCE_PRECISION_HINT": "f32"}
    queue = openvino.AsyncInferQueue(core.compile_model(m, "CPU", config), 2)
    for _ in range(2):
        queue.start_async(x)
    queue.wait_all()
    start = time.perf_counter()
    for _ in range(CROPS):
        queue.start_async(x)
    queue.wait_all()
    return (time.perf_counter() - start) / CROPS


for round_index in range(3):
    for name, model in models.items():
        a, b = latency(model), two_streams(model)
        print(f"round {round_index + 1} {name}: one request {a:.2f} s per crop, two streams {b:.2f} s per crop "
              f"({a / b:.2f}x)", flush=True)
