"""Training step time (forward, loss, backward, Adam step) at the full crop and in patch mode, fp32 against the fast path.

The network and the loss come from ``configs/train.yaml`` (``network_def``, ``loss``: AD variant, 0.5 focal +
0.5 soft Dice) and the forward runs through the trainer's ``AutocastInferer``, so the step is the one
``SupervisedTrainer`` takes, without the data loading. Inputs are random standardised crops with a box-shaped
"spindle" label. Paths: fp32 in the default layout; the shipped ``precision: auto`` path (fp32 +
channels_last_3d on an AVX2-only CPU, bf16 + channels_last_3d with native bf16, fp16 AMP on CUDA); bf16 where it
is native but not already the shipped path, and reported as skipped where it would be emulated.
"""

from __future__ import annotations

import copy

import torch
from common import BUNDLE_DIR, Table, count_network_flops, describe_path, fast_path, fmt_s, native_bf16, time_call
from scripts.inference import AutocastInferer


def train_components() -> tuple[torch.nn.Module, torch.nn.Module, float]:
    """(network, loss, learning rate) exactly as configs/train.yaml defines them."""
    from monai.bundle import ConfigParser

    config = ConfigParser()
    config.read_config(str(BUNDLE_DIR / "configs" / "train.yaml"))
    config.update({"bundle_root": str(BUNDLE_DIR)})
    return config.get_parsed_content("network_def"), config.get_parsed_content("loss"), float(config["lr"])


def random_batch(batch_size: int, crop: tuple[int, int, int], device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """(random standardised crops, a label with a centred box-shaped "spindle"), seeded: a training step's input."""
    torch.manual_seed(0)
    batch = torch.randn(batch_size, 1, *crop, device=device)
    label = torch.zeros_like(batch)
    x, y, z = crop
    label[:, :, x // 4: 3 * x // 4, y // 3: 2 * y // 3, z // 4: 3 * z // 4] = 1
    return batch, label


def make_step(network: torch.nn.Module, loss_fn: torch.nn.Module, lr: float, batch: torch.Tensor, label: torch.Tensor,
              precision: str, channels_last: bool):
    """A closure running one optimisation step on (batch, label) in ``precision`` (resolved) and layout."""
    device = batch.device
    if channels_last:
        network = network.to(memory_format=torch.channels_last_3d)
    network.train()
    optimizer = torch.optim.Adam(network.parameters(), lr=lr)
    inferer = AutocastInferer(precision=precision, channels_last=channels_last)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    def step() -> float:
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(inferer(batch, network), label)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        return float(loss.detach())

    return step


def conv_gradient_split(crop: tuple[int, int, int], device: torch.device, batch_size: int = 2, channels: int = 16,
                        repeats: int = 1) -> dict[str, float]:
    """Seconds of one 3x3x3 ``channels``->``channels`` conv3d on (batch, channels, X, Y, Z): forward, input and weight gradient.

    The network's second conv of level 2 has this shape at half the crop's x/y; its three costs show where a training
    step's time goes (on AVX2 CPUs oneDNN computes 3D weight gradients through im2col + GEMM, far below peak).
    """
    x = torch.randn(batch_size, channels, *crop, device=device)
    w = torch.randn(channels, channels, 3, 3, 3, device=device)
    out = torch.nn.functional.conv3d(x, w, padding=1)
    grad = torch.randn_like(out)

    def backward(mask):
        return lambda: torch.ops.aten.convolution_backward(grad, x, w, [channels], [1, 1, 1], [1, 1, 1], [1, 1, 1], False,
                                                           [0, 0, 0], 1, mask)

    return {
        "forward": time_call(lambda: torch.nn.functional.conv3d(x, w, padding=1), device, repeats=repeats),
        "input gradient": time_call(backward([True, False, False]), device, repeats=repeats),
        "weight gradient": time_call(backward([False, True, False]), device, repeats=repeats),
    }


def run(table: Table, device: torch.device, peaks: dict, sizes: dict[str, tuple[int, int, int]], batch_size: int = 2,
        repeats: int = 2) -> dict:
    """Time one step per size (``{"full crop": (352, 352, 32), ...}``) and path; add rows; return seconds."""
    network, loss_fn, lr = train_components()
    precision, channels_last = fast_path(device)
    paths = [("fp32 (default layout)", "fp32", False), (describe_path(precision, channels_last) + ": shipped", precision,
                                                        channels_last)]
    bf16_skipped = False
    if precision != "bf16" and device.type == "cpu":
        if native_bf16(device):
            paths.append(("bf16 + channels_last_3d", "bf16", True))
        else:
            bf16_skipped = True
    results = {}
    for size_name, crop in sizes.items():
        section = f"training step, batch {batch_size}, {size_name} {'x'.join(map(str, crop))}"
        flops = count_network_flops(network, crop, batch=batch_size, backward=True)
        batch, label = random_batch(batch_size, crop, device)
        reference = None
        for name, prec, cl in paths:
            step = make_step(copy.deepcopy(network).to(device), loss_fn, lr, batch, label, prec, cl)
            # a full-crop CPU step takes minutes (weight gradients, see below): one untimed step only for small inputs
            warmup = 1 if batch.numel() <= batch_size * 128 * 128 * 32 or device.type == "cuda" else 0
            seconds = time_call(step, device, repeats=repeats, warmup=warmup)
            reference = reference or seconds
            gflops = flops / seconds / 1e9
            peak = peaks.get("bf16" if prec == "bf16" else "fp32")
            note = f"{reference / seconds:.2f}x; {gflops:.1f} GFLOP/s (fwd+bwd {flops / 1e9:.0f} GFLOP)"
            if peak:
                note += f" = {100 * gflops / peak:.0f}% of {'bf16' if prec == 'bf16' else 'fp32'} GEMM peak"
            table.add(section, name, fmt_s(seconds), note)
            results[(size_name, name)] = seconds
        if bf16_skipped:
            table.add(section, "bf16 + channels_last_3d", "emulated, skipped", "no native bf16 on this CPU")
    # where the step's time goes: one mid-sized conv3d, forward against its two gradients
    crop = sizes[list(sizes)[-1]]
    half = (crop[0] // 2, crop[1] // 2, crop[2])
    split = conv_gradient_split(half, device, batch_size)
    table.add(f"training step, batch {batch_size}, {list(sizes)[-1]} {'x'.join(map(str, crop))}",
              f"one conv3d 16->16 3x3x3 at {'x'.join(map(str, half))}: forward / input grad / weight grad",
              " / ".join(fmt_s(v) for v in split.values()),
              f"weight gradient = {split['weight gradient'] / split['forward']:.0f}x the forward")
    return results
