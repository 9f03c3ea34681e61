"""Per-series adaptation without labels (issue 17): can a lab's recordings teach the model about themselves?

    .venv/bin/python benchmarks/series_adaptation.py [--labs heldout_texture1 ...] [--model_path M]
        [--methods mean_teacher pseudo_label] [--perturbation strong|flip] [--steps 60] [--lr 5e-5]
        [--work_dir DIR] [--out FILE.md]

The labs are ``benchmarks/label_efficiency.py``'s (``data/labs``: one microscope look per held-out renderer family;
oocytes 5-8 are a lab's test recordings). For each lab and method the weights are adapted on the lab's test
recordings themselves, every frame, with no label (transductive: what a user could do with the series they want
measured, before measuring it), and ``run evaluating`` scores them on those recordings' frames from GVBD against
the scenes' true masks, beside the unadapted weights (``none``).

Both methods follow the semi-supervised overlay (``scripts.semi_supervised``): a *teacher*, the moving average of
the weights (``ema_decay`` per step), predicts a patch as loaded (random 192 x 192 x 32 patch, flips and quarter
turns); the network predicts a perturbed copy, ``--perturbation strong`` (``StrongPerturbation``: brightness,
contrast, gamma, noise; same geometry, as the overlay) or ``flip`` (the same patch mirrored in x and y, its output
mirrored back: only the network's own lack of symmetry and its dropout differ); only the loss differs:

- ``mean_teacher``: the mean squared difference of their probabilities (the overlay's consistency loss, here
  without a supervised term);
- ``pseudo_label``: the teacher's confident voxels as labels (probability >= 0.9: spindle, <= 0.1: background,
  the rest ignored), binary cross-entropy averaged over each class separately and summed (the spindle is a few
  per cent of a patch).

The teacher's weights are what is evaluated (the smoother of the two). Nothing anchors either loss to the truth:
the question is whether agreement with itself under perturbation moves the model towards the spindle or away.
Accuracy, not speed; the adaptation's wall time is reported with the CPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parent.parent
BUNDLE_DIR = REPO_DIR / "bundle"
if str(BUNDLE_DIR) not in sys.path:
    sys.path.insert(0, str(BUNDLE_DIR))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from common import cpu_model, print_report  # noqa: E402
from generalization import run_evaluating  # noqa: E402
from label_efficiency import ensure_labs, lab_items, scores  # noqa: E402

METHODS = ("mean_teacher", "pseudo_label")
PATCH_XYZ = (192, 192, 32)


def series_items(labs_dir: Path, test_items: list[dict]) -> list[dict]:
    """Every frame (pre-GVBD ones too) of the oocytes in ``test_items``: what adaptation may see, with no label."""
    record = json.loads((labs_dir / "randomized.json").read_text())
    wanted = {(i["experiment"], i["oocyte"]) for i in test_items}
    return [{"image": o["image"], "frame": t} for o in record["oocytes"] if (o["experiment"], o["oocyte"]) in wanted
            for t in range(record["n_frames"])]


def load_crops(items: list[dict], dataset_dir: Path) -> torch.Tensor:
    """The frames as inference.yaml preprocesses them (read, centre crop, robust standardisation, pad): (N, 1, X, Y, Z)."""
    from monai.bundle import ConfigParser

    config = ConfigParser()
    config.read_config(str(BUNDLE_DIR / "configs" / "inference.yaml"))
    preprocessing = config.get_parsed_content("preprocessing")
    crops = []
    for item in items:
        image = Path(item["image"])
        image = image if image.is_absolute() else dataset_dir / image
        crops.append(torch.as_tensor(np.asarray(preprocessing({"image": str(image), "frame": item["frame"]})["image"])))
    return torch.stack(crops)


def random_patches(crops: torch.Tensor, batch_size: int, generator: torch.Generator) -> torch.Tensor:
    """``batch_size`` random PATCH_XYZ patches of random frames, each flipped in x / y and turned about z at random
    (train.yaml's geometry; never a z flip)."""
    n, _, sx, sy, sz = crops.shape
    px, py, pz = (min(p, s) for p, s in zip(PATCH_XYZ, (sx, sy, sz), strict=True))
    patches = []
    for _ in range(batch_size):
        i = int(torch.randint(n, (1,), generator=generator))
        x0, y0, z0 = (int(torch.randint(s - p + 1, (1,), generator=generator)) for s, p in ((sx, px), (sy, py), (sz, pz)))
        patch = crops[i, :, x0:x0 + px, y0:y0 + py, z0:z0 + pz]
        for axis in (1, 2):
            if torch.rand(1, generator=generator) < 0.5:
                patch = patch.flip(axis)
        if px == py:
            patch = torch.rot90(patch, int(torch.randint(4, (1,), generator=generator)), dims=(1, 2))
        patches.append(patch)
    return torch.stack(patches).contiguous()


def self_training_loss(method: str, student_logits: torch.Tensor, teacher_prob: torch.Tensor,
                       confident: float = 0.9) -> torch.Tensor:
    """The adaptation loss of ``method`` (module docstring) between the network's logits and the teacher's
    probabilities (one-channel maps)."""
    from scripts.semi_supervised import probabilities

    student_logits = student_logits.float()
    if method == "mean_teacher":
        return torch.mean((probabilities(student_logits) - teacher_prob) ** 2)
    if method != "pseudo_label":
        raise ValueError(f"method must be one of {METHODS}, found {method!r}")
    bce = torch.nn.functional.binary_cross_entropy_with_logits(student_logits, (teacher_prob >= 0.5).float(),
                                                               reduction="none")
    loss = student_logits.new_zeros(())
    for selected in (teacher_prob >= confident, teacher_prob <= 1 - confident):
        if selected.any():
            loss = loss + bce[selected].mean()
    return loss


def flip_xy(batch: torch.Tensor) -> torch.Tensor:
    """(N, C, X, Y, Z) mirrored in x and y (its own inverse)."""
    return batch.flip(2, 3)


def adapt(model_path: Path, crops: torch.Tensor, method: str, steps: int, lr: float, out_path: Path,
          batch_size: int = 2, ema_decay: float = 0.95, seed: int = 0, perturbation: str = "strong") -> float:
    """Adapt ``model_path``'s weights on ``crops`` for ``steps`` steps; write the teacher's weights to ``out_path``;
    return the wall time (s). bf16 autocast where the CPU has it natively (the training recipe's precision)."""
    from monai.bundle import ConfigParser
    from scripts.precision import resolve_precision
    from scripts.semi_supervised import StrongPerturbation, Teacher, probabilities
    from scripts.training import save_atomic, training_network

    config = ConfigParser()
    config.read_config(str(BUNDLE_DIR / "configs" / "inference.yaml"))
    config["model_path"] = str(model_path)  # the network those weights fill (one U-Net or an ensemble of them)
    device = torch.device("cpu")
    network = training_network(config.get_parsed_content("network_def"), device, True, str(model_path))
    teacher = Teacher(network, ema_decay)
    optimizer = torch.optim.Adam(network.parameters(), lr=lr)
    perturb = StrongPerturbation()
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    precision = resolve_precision("auto", device)
    autocast = torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
    start = time.perf_counter()
    for step in range(steps):
        weak = random_patches(crops, batch_size, generator).to(memory_format=torch.channels_last_3d)
        other = perturb(weak) if perturbation == "strong" else flip_xy(weak)
        other = other.contiguous(memory_format=torch.channels_last_3d)
        with torch.no_grad(), autocast:
            teacher_prob = probabilities(teacher(weak).float())
        with autocast:
            student_logits = network(other)
        if perturbation == "flip":
            student_logits = flip_xy(student_logits)
        loss = self_training_loss(method, student_logits, teacher_prob)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        teacher.update(network)
        if step % 10 == 0 or step == steps - 1:
            print(f"  {method} step {step + 1}/{steps}: loss {float(loss.detach()):.4f}, teacher spindle fraction "
                  f"{float((teacher_prob >= 0.5).float().mean()):.4f}", flush=True)
    save_atomic(teacher.network.state_dict(), out_path)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labs", nargs="+", default=None, help="default: every lab of data/labs")
    parser.add_argument("--model_path", type=Path, default=BUNDLE_DIR / "models" / "model.pt")
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--perturbation", choices=["strong", "flip"], default="strong")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--lr", type=float, default=5e-5, help="finetune.yaml's learning rate")
    parser.add_argument("--labs_dir", type=Path, default=REPO_DIR / "data" / "labs")
    parser.add_argument("--work_dir", type=Path, default=REPO_DIR / "data" / "series_adaptation")
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown table here")
    parser.add_argument("--reuse_adapted", action="store_true",
                        help="evaluate adapted weights already in work_dir again instead of adapting anew")
    args = parser.parse_args(argv)
    labs_dir = ensure_labs(args.labs_dir.resolve())
    work_dir = args.work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    record = json.loads((labs_dir / "randomized.json").read_text())
    rows = []
    for lab in args.labs or sorted({o["experiment"] for o in record["oocytes"]}):
        _, test, look = lab_items(labs_dir, lab)
        test_list = work_dir / f"{lab}_datalist_test.json"
        test_list.write_text(json.dumps({"testing": test}, indent=1))
        crops = load_crops(series_items(labs_dir, test), labs_dir)
        for method in ["none", *args.methods]:
            model_path, seconds = args.model_path.resolve(), 0.0
            if method != "none":
                model_path = work_dir / f"{lab}_{method}_{args.perturbation}_{args.steps}_steps.pt"
            if method != "none" and args.reuse_adapted and model_path.is_file():
                seconds = float("nan")  # adapted by an earlier run: its log has the time
            elif method != "none":
                print(f"{lab}: adapting with {method} on {len(crops)} frames", flush=True)
                seconds = adapt(args.model_path.resolve(), crops, method, args.steps, args.lr, model_path,
                                perturbation=args.perturbation)
            output_dir = work_dir / (f"eval_{lab}_{method}" + ("" if method == "none" else f"_{args.perturbation}"))
            run_evaluating(labs_dir, output_dir, model_path, overlay=True,
                           extra=["--datalist_file", str(test_list), "--datalist_subset", "testing",
                                  "--baseline", "false", "--amtoc_channel", "null", "--skip_finished", "false"])
            s = scores(output_dir)
            rows.append({"lab": lab, "look": f"{look['texture']}, {look['camera']}, {look['photons_e']:.0f} photons",
                         "method": method, "frames": s["n_labelled"], "dice": s["mean_dice"],
                         "volume_error": s["median_abs_rel_volume_error"], "seconds": seconds})
            print(rows[-1], flush=True)
    lines = [f"### Per-series adaptation without labels ({cpu_model()}; {args.steps} steps of 2 patches, lr "
             f"{args.lr:g}, {args.perturbation} perturbation; weights {args.model_path})", "",
             "| lab | look | adaptation | test frames | mean Dice | median abs. rel. volume error | adaptation wall time |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['lab']} | {r['look']} | {r['method']} | {r['frames']} | {r['dice']:.3f} | "
                     f"{100 * r['volume_error']:.1f} % | "
                     + ("an earlier run's" if r["seconds"] != r["seconds"] else f"{r['seconds'] / 60:.1f} min") + " |")
    print_report(lines, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
