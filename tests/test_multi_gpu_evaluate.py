"""configs/multi_gpu_evaluate.yaml: evaluation split by oocyte over processes (2 gloo processes on the CPU) gives
the same outputs as one process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile
from conftest import BUNDLE_DIR, bundle_configs
from scripts.reports import read_rows
from scripts.timeseries import oocyte_shard


def test_shards_keep_every_oocyte_with_one_process_and_cover_all():
    items = [{"experiment": e, "oocyte": o, "frame": f, "index": i}
             for i, (e, o, f) in enumerate((e, o, f) for e in ("exp1", "exp2") for o in ("o1", "o2", "o3") for f in range(3))]
    shards = [oocyte_shard(items, rank, 4) for rank in range(4)]
    assert sorted(len(s) for s in shards) == [3, 3, 6, 6]  # 6 oocytes over 4 processes
    seen = [(it["experiment"], it["oocyte"], it["frame"]) for s in shards for it in s]
    assert sorted(seen) == sorted((it["experiment"], it["oocyte"], it["frame"]) for it in items)
    for shard in shards:
        assert [it["index"] for it in shard] == list(range(len(shard)))  # the writer's key into its own share
        oocytes = {(it["experiment"], it["oocyte"]) for it in shard}
        assert all(not oocytes & {(it["experiment"], it["oocyte"]) for it in other} for other in shards if other is not shard)


def _evaluate(args: list[str], cwd: Path, processes: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(BUNDLE_DIR), "OMP_NUM_THREADS": "1"}  # torchrun's default per process
    launcher = [sys.executable]
    configs = ["inference", "evaluate"]
    if processes > 1:
        launcher += ["-m", "torch.distributed.run", f"--nproc_per_node={processes}", "--master_port=29541"]
        configs.append("multi_gpu_evaluate")
    cmd = [*launcher, "-m", "monai.bundle", "run", "evaluating", "--config_file", repr(bundle_configs(*configs)), *args]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"


@pytest.mark.slow
def test_two_processes_give_the_outputs_of_one(tiny_phantom, random_model, tmp_path):
    common = ["--dataset_dir", str(tiny_phantom), "--model_path", str(random_model), "--crop_size", "[48, 48, -1]",
              "--num_workers", "0", "--progress_bar", "false", "--precision", "fp32", "--baseline_frames", "all"]
    _evaluate([*common, "--output_dir", str(tmp_path / "one")], tmp_path, processes=1)
    _evaluate([*common, "--output_dir", str(tmp_path / "two")], tmp_path, processes=2)
    one, two = (read_rows(tmp_path / name / "volumes.csv") for name in ("one", "two"))
    assert len(one) == len(two) == 8
    for a, b in zip(one, two, strict=True):
        for column, value in a.items():
            same = (value == b[column]) or (isinstance(value, float) and np.isnan(value) and np.isnan(b[column]))
            assert same, (a["oocyte"], a["frame"], column, value, b[column])
    for oocyte in ("oocyte01", "oocyte02"):
        masks = [tifffile.imread(tmp_path / name / "masks" / "exp1" / f"{oocyte}.tif") for name in ("one", "two")]
        assert np.array_equal(*masks)
    assert (tmp_path / "two" / "summary_per_oocyte.csv").read_text() == (tmp_path / "one" / "summary_per_oocyte.csv").read_text()
