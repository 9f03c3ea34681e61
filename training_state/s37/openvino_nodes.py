"""Session 37 (issue 20): OpenVINO's per-node profile of the shipped six in bf16 on a 176 x 176 x 32 crop, summed by
kernel and by U-Net level (encoders.0 and decoders.3 are the full-resolution level, 8 channels), then the six's
forward with the members' first convolutions merged into one 1 -> 48-channel convolution (the same arithmetic) timed
against the shipped graph, interleaved.

    .venv/bin/python training_state/s37/openvino_nodes.py > training_state/s37/openvino_nodes.log 2>&1
"""

import collections
import re
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
from scripts.network import _log_mean_exp, _softplus  # noqa: E402
from scripts.openvino_runtime import _converted, compile_config  # noqa: E402

CROP = (1, 1, 176, 176, 32)


class MergedFirstConvolutions(nn.Module):
    """The ensemble with its members' first convolutions computed as one (they all read the same crop)."""

    def __init__(self, ensemble):
        super().__init__()
        self.ensemble = ensemble
        firsts = [member.encoders[0].conv[0] for member in ensemble.members]
        self.width = firsts[0].out_channels
        self.first = nn.Conv3d(1, self.width * len(firsts), 3, padding=1)
        with torch.no_grad():
            self.first.weight.copy_(torch.cat([c.weight for c in firsts]))
            self.first.bias.copy_(torch.cat([c.bias for c in firsts]))

    @staticmethod
    def member_from_first_convolution(member, features):
        encoder = member.encoders[0]
        for layer in list(encoder.conv)[1:]:
            features = layer(features)
        skips, x = [features], encoder.pool(encoder.dropout(features))
        for encoder in member.encoders[1:]:
            skip, x = encoder(x)
            skips.append(skip)
        x = member.bottleneck(x)
        for i, decoder in enumerate(member.decoders):
            x = decoder(x, skips[len(skips) - 1 - i])
        return member.head(x)

    def forward(self, x):
        merged = self.first(x)
        logits = torch.stack([self.member_from_first_convolution(m, merged[:, self.width * i:self.width * (i + 1)]).float()
                              for i, m in enumerate(self.ensemble.members)])
        return _log_mean_exp(-_softplus(-logits)) - _log_mean_exp(-_softplus(logits))


def main():
    weights = ROOT / "bundle" / "models" / "model.pt"
    ensemble = load_network(default_network(weights), weights, channels_last=False).eval()
    core = openvino.Core()
    crop = np.random.default_rng(0).standard_normal(CROP).astype(np.float32)
    print(f"{cpu_model()}, {torch.get_num_threads()} threads, OpenVINO {openvino.__version__.split('-')[0]}, "
          f"bf16, crop {CROP[2:]}, {time.strftime('%Y-%m-%d %H:%M')}")

    model = _converted(ensemble)
    model.reshape(list(CROP))
    profiled = core.compile_model(model, "CPU", {**compile_config("bf16", torch.get_num_threads()), "PERF_COUNT": True})
    request = profiled.create_infer_request()
    for _ in range(3):
        request.infer({0: crop})
    nodes = request.get_profiling_info()
    total = sum(n.real_time.total_seconds() for n in nodes)
    print(f"\nprofiled total {1000 * total:.1f} ms; the 12 most expensive nodes:")
    for n in sorted(nodes, key=lambda n: -n.real_time.total_seconds())[:12]:
        print(f"  {1000 * n.real_time.total_seconds():6.2f} ms  {n.node_type} / {n.exec_type}  {n.node_name[:70]}")
    by_kernel, by_level = collections.Counter(), collections.Counter()
    for n in nodes:
        by_kernel[f"{n.node_type} / {n.exec_type}"] += n.real_time.total_seconds()
        level = re.search(r"members\.\d+\.(encoders|decoders|bottleneck|head)\.?(\d*)", n.node_name)
        by_level[f"{level.group(1)} {level.group(2)}".strip() if level else "ensemble average"] += n.real_time.total_seconds()
    print("\nby kernel:")
    for name, seconds in by_kernel.most_common(8):
        print(f"  {1000 * seconds:7.1f} ms  {seconds / total:4.0%}  {name}")
    print("\nby level (six members together):")
    for name, seconds in by_level.most_common():
        print(f"  {1000 * seconds:7.1f} ms  {seconds / total:4.0%}  {name}")

    print("\nshipped graph against merged first convolutions, latency per crop (best / median of 5), interleaved:")
    outputs = {}
    for name, network in [("shipped", ensemble), ("merged", MergedFirstConvolutions(ensemble).eval())] * 2:
        model = _converted(network)
        model.reshape(list(CROP))
        request = core.compile_model(model, "CPU", compile_config("bf16", torch.get_num_threads())).create_infer_request()
        request.infer({0: crop})
        times = []
        for _ in range(5):
            start = time.perf_counter()
            request.infer({0: crop})
            times.append(time.perf_counter() - start)
        outputs.setdefault(name, request.get_output_tensor(0).data.copy())
        print(f"  {name}: {1000 * min(times):.0f} / {1000 * sorted(times)[2]:.0f} ms")
    print(f"  logits: max |shipped - merged| {float(np.abs(outputs['shipped'] - outputs['merged']).max()):.3g}")


if __name__ == "__main__":
    main()
