"""Soak test: evaluating oocytes of 100+ frames keeps memory flat and writes every output completely."""

import subprocess
import sys
from pathlib import Path

import pytest
import tifffile
import torch
from conftest import bundle_configs
from scripts.network import AnisotropicAttentionUNet
from scripts.phantom import generate_dataset
from scripts.reports import read_rows

CONFIGS = "['" + "','".join(bundle_configs("inference", "evaluate")) + "']"
FRAMES_PER_OOCYTE = 104


# A fresh wrapper process whose only child is the evaluating run, so that its RUSAGE_CHILDREN peak is that
# run's own peak (pytest's own children, e.g. other tests' subprocesses, would otherwise be mixed in).
PEAK_RSS_WRAPPER = (
    "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def _evaluate_in_child(dataset_dir: Path, output_dir: Path, model_path: Path) -> int:
    """Run the documented evaluating command (loader in the main process) and return its peak RSS in KiB."""
    command = [sys.executable, "-m", "monai.bundle", "run", "evaluating", "--config_file", CONFIGS,
               "--dataset_dir", str(dataset_dir), "--output_dir", str(output_dir), "--model_path", str(model_path),
               "--crop_size", "[48,48,-1]", "--num_workers", "0", "--montage_tiles", "2", "--progress_bar", "false"]
    result = subprocess.run([sys.executable, "-c", PEAK_RSS_WRAPPER, *command], cwd=output_dir.parent, check=True,
                            capture_output=True, text=True, timeout=1200)
    return int(result.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_long_oocytes_keep_memory_flat_and_every_output_complete(tmp_path):
    torch.manual_seed(0)
    model_path = tmp_path / "model.pt"
    torch.save(AnisotropicAttentionUNet().state_dict(), model_path)
    short = tmp_path / "short"
    long = tmp_path / "long"
    generate_dataset(short, n_experiments=1, n_oocytes=1, n_frames=8, shape_xyz=(64, 64, 8), seed=3)
    generate_dataset(long, n_experiments=1, n_oocytes=3, n_frames=FRAMES_PER_OOCYTE, shape_xyz=(64, 64, 8), seed=3)

    short_peak_kib = _evaluate_in_child(short, tmp_path / "eval_short", model_path)
    long_peak_kib = _evaluate_in_child(long, tmp_path / "eval_long", model_path)
    # 312 frames against 8: memory must not grow with the number of frames (allow 15 % for allocator noise)
    assert long_peak_kib <= 1.15 * short_peak_kib, (short_peak_kib, long_peak_kib)

    rows = read_rows(tmp_path / "eval_long" / "volumes.csv")
    assert len(rows) == 3 * FRAMES_PER_OOCYTE
    for oocyte in ("oocyte01", "oocyte02", "oocyte03"):
        frames = sorted(r["frame"] for r in rows if r["oocyte"] == oocyte)
        assert frames == list(range(FRAMES_PER_OOCYTE))
        with tifffile.TiffFile(tmp_path / "eval_long" / "masks" / "exp1" / f"{oocyte}.tif") as tif:
            assert tif.series[0].axes == "TZYX"
            assert tif.series[0].shape == (FRAMES_PER_OOCYTE, 8, 64, 64)
        assert (tmp_path / "eval_long" / "plots" / f"exp1_{oocyte}.png").stat().st_size > 0
    assert not list((tmp_path / "eval_long").rglob("*.part")), "a temporary file was left behind"
