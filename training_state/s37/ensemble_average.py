"""Session 37 (issue 20): what the six's probability average costs in OpenVINO bf16, and what a cheaper formula saves.
The shipped average (scripts.network.ProbabilityEnsemble, here LogSpaceEnsemble) works in log space: logit(mean p)
from log p_i = -softplus(-z_i) and log(1 - p_i) = -softplus(z_i). The candidate (SigmoidMeanEnsemble; not taken: ONNX
Runtime's sigmoid is 0 below about -17, which made the exported ensemble's logits infinite) averages the sigmoids
themselves, p_i = sigmoid(z_i) and 1 - p_i = sigmoid(-z_i) (each precise where it is small), with the logits clamped
to +-60 so that neither mean underflows to 0. Both graphs are timed interleaved on a standardised 176 x 176 x 32 crop
of a benchmark frame (resampled as the evaluation does), and their logits compared.

    .venv/bin/python training_state/s37/ensemble_average.py > training_state/s37/ensemble_average.log 2>&1
"""

import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bundle"))
sys.path.insert(0, str(ROOT / "benchmarks"))
import openvino  # noqa: E402
from common import cpu_model, default_network  # noqa: E402
from scripts.inference import load_network  # noqa: E402
from scripts.intensity import robust_standardise  # noqa: E402
from scripts.io import read_frame  # noqa: E402
from scripts.openvino_runtime import _converted, compile_config  # noqa: E402
from scripts.resolution import resize_xy  # noqa: E402

LOGIT_CLAMP = 60.0  # sigmoid(-60) = 9e-27: far above float32's smallest normal number, so no mean is 0


class LogSpaceEnsemble(nn.Module):
    def __init__(self, ensemble):
        super().__init__()
        self.members = ensemble.members

    @staticmethod
    def softplus(x):
        return torch.relu(x) + torch.log1p(torch.exp(-torch.abs(x)))

    @staticmethod
    def log_mean_exp(values):
        largest = values.amax(0)
        return largest + torch.log(torch.exp(values - largest).mean(0))

    def forward(self, x):
        logits = torch.stack([member(x).float() for member in self.members])
        return self.log_mean_exp(-self.softplus(-logits)) - self.log_mean_exp(-self.softplus(logits))


class SigmoidMeanEnsemble(nn.Module):
    def __init__(self, ensemble):
        super().__init__()
        self.members = ensemble.members

    def forward(self, x):
        logits = torch.stack([member(x).float() for member in self.members]).clamp(-LOGIT_CLAMP, LOGIT_CLAMP)
        return torch.log(torch.sigmoid(logits).mean(0)) - torch.log(torch.sigmoid(-logits).mean(0))


def benchmark_crop() -> np.ndarray:
    """Frame 12 of the full-size benchmark oocyte: the centre 352 x 352 crop, standardised, z padded to 32, resampled
    to 176 x 176 (0.34 um), as (1, 1, X, Y, Z)."""
    path = ROOT / "data" / "bench" / "phantom_750x750x31_t20" / "exp1" / "oocyte01.tif"
    frame, _ = read_frame(path, 12, 1)
    crop = robust_standardise(frame[199:551, 199:551])
    crop = np.pad(crop, ((0, 0), (0, 0), (0, 1)))
    return resize_xy(torch.from_numpy(crop)[None, None], (176, 176)).numpy()


def main():
    weights = ROOT / "bundle" / "models" / "model.pt"
    ensemble = load_network(default_network(weights), weights, channels_last=False).eval()
    crop = benchmark_crop()
    print(f"{cpu_model()}, {torch.get_num_threads()} threads, OpenVINO {openvino.__version__.split('-')[0]}, bf16, "
          f"crop {crop.shape[2:]}, {time.strftime('%Y-%m-%d %H:%M')}")
    with torch.no_grad():
        log_space_f32 = LogSpaceEnsemble(ensemble)(torch.from_numpy(crop)).numpy()
        candidate_f32 = SigmoidMeanEnsemble(ensemble)(torch.from_numpy(crop)).numpy()
    inside = np.abs(log_space_f32) < LOGIT_CLAMP / 2
    print(f"PyTorch f32: max |logit difference| where |logit| < {LOGIT_CLAMP / 2:.0f}: "
          f"{float(np.abs(log_space_f32 - candidate_f32)[inside].max()):.3g}; voxels whose sign differs: "
          f"{int(((log_space_f32 > 0) != (candidate_f32 > 0)).sum())} of {log_space_f32.size}")
    core = openvino.Core()
    outputs, times = {}, {"log space": [], "sigmoid mean": []}
    requests = {}
    for name, network in (("log space", LogSpaceEnsemble(ensemble).eval()),
                          ("sigmoid mean", SigmoidMeanEnsemble(ensemble).eval())):
        model = _converted(network)
        model.reshape(list(crop.shape))
        requests[name] = core.compile_model(model, "CPU", compile_config("bf16", torch.get_num_threads())
                                            ).create_infer_request()
        requests[name].infer({0: crop})
    for _ in range(6):  # interleaved
        for name, request in requests.items():
            start = time.perf_counter()
            request.infer({0: crop})
            times[name].append(time.perf_counter() - start)
            outputs[name] = request.get_output_tensor(0).data.copy()
    for name, seconds in times.items():
        print(f"OpenVINO bf16 {name}: {1000 * min(seconds):.0f} ms best, {1000 * float(np.median(seconds)):.0f} ms median "
              f"of {len(seconds)}")
    ratio = float(np.median(times["log space"]) / np.median(times["sigmoid mean"]))
    signs = int(((outputs["log space"] > 0) != (outputs["sigmoid mean"] > 0)).sum())
    print(f"median ratio log space / sigmoid mean: {ratio:.3f}x; OpenVINO voxels whose sign differs: {signs} of "
          f"{outputs['log space'].size}; voxels > 0: {int((outputs['log space'] > 0).sum())}")


if __name__ == "__main__":
    main()
