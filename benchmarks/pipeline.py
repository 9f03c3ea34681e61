"""End-to-end ``evaluating`` throughput and peak memory on phantom oocytes, against the bare forward pass.

The phantom oocyte is generated once into the cache folder (``data/bench/``, git-ignored; the full-size
100-frame oocyte is ~10 GB) and reused by later runs. Both the short (e.g. 20-frame) and the long (100-frame)
runs read the same file: a datalist restricted to the first N frames picks them, so the two memory figures
differ only by the number of frames.

Each run is a separate process (``eval_child.py``, the config's ``evaluating`` list unchanged) whose resident
memory is polled with psutil: the main process alone and the main process plus its data-loader worker (an
upper bound: the worker shares the main process' libraries). Runs: the shipped path on the short and the long
oocyte, plain fp32 on the short one (the accuracy reference), and the shipped path without the classical
baseline (``--baseline false``) on the short one, which shows what the baseline costs the pipeline.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
from common import BUNDLE_DIR, Table, fmt_gb

CHILD = Path(__file__).resolve().parent / "eval_child.py"
PHANTOM_SEED = 7


def ensure_phantom(cache_dir: Path, n_frames: int, shape_xyz: tuple[int, int, int]) -> Path:
    """A one-oocyte phantom dataset with true masks under ``cache_dir``, generated only if not there yet.

    ``phantom.json`` is the phantom's last file, so a folder without it (an interrupted generation) is redone.
    """
    from scripts.phantom import generate_dataset

    name = f"phantom_{'x'.join(map(str, shape_xyz))}_t{n_frames}"
    dataset_dir = cache_dir / name
    if (dataset_dir / "phantom.json").is_file():
        return dataset_dir
    print(f"generating {dataset_dir} (once; later runs reuse it) ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    generate_dataset(dataset_dir, n_experiments=1, n_oocytes=1, n_frames=n_frames, shape_xyz=shape_xyz,
                     seed=PHANTOM_SEED, write_true_masks=True)
    print(f"generated in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return dataset_dir


def write_first_frames_datalist(dataset_dir: Path, n_frames: int, path: Path) -> Path:
    """A datalist whose ``inference`` list is the first ``n_frames`` frames of every oocyte in ``dataset_dir``."""
    from scripts.datalist import scan_frame_items

    items = [item for item in scan_frame_items(dataset_dir) if item["frame"] < n_frames]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"inference": items}, indent=1))
    return path


def run_evaluating(overrides: dict, timing_json: Path, poll_s: float = 0.05, pss_poll_s: float = 0.25) -> dict:
    """Run ``eval_child.py`` (inference.yaml + evaluate.yaml) with config ``overrides``; poll its memory; return timings and peaks.

    Returns: wall_s (process start to exit), setup_s, frames (per-frame stage seconds), peak_rss_main,
    peak_rss_tree and peak_pss_tree (bytes). The RSS sum over the process tree counts the pages the forked loader
    worker shares with its parent (libraries, the imported modules) twice; the PSS sum (proportional set size,
    shared pages split between the processes that map them) is the memory the run really occupies. PSS needs
    /proc/PID/smaps, so it is read less often.
    """
    configs = [str(BUNDLE_DIR / "configs" / name) for name in ("inference.yaml", "evaluate.yaml")]
    cmd = [sys.executable, str(CHILD), "--config_file", *configs, "--overrides", json.dumps(overrides),
           "--timing_json", str(timing_json)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ps = psutil.Process(proc.pid)
    peak_main = peak_tree = peak_pss = 0
    last_pss_poll = 0.0
    while proc.poll() is None:
        try:
            children = ps.children(recursive=True)
            main = ps.memory_info().rss
            tree = main + sum(c.memory_info().rss for c in children)
            if time.perf_counter() - last_pss_poll >= pss_poll_s:
                last_pss_poll = time.perf_counter()
                peak_pss = max(peak_pss, sum(p.memory_full_info().pss for p in (ps, *children)))
        except psutil.Error:  # the process (or a worker) ended between the calls
            continue
        peak_main, peak_tree = max(peak_main, main), max(peak_tree, tree)
        time.sleep(poll_s)
    wall = time.perf_counter() - start
    log = proc.stdout.read()
    if proc.returncode != 0:
        raise RuntimeError(f"evaluating failed (exit {proc.returncode}) with overrides {overrides}:\n{log[-3000:]}")
    timing = json.loads(timing_json.read_text())
    return {"wall_s": wall, "peak_rss_main": peak_main, "peak_rss_tree": peak_tree, "peak_pss_tree": peak_pss,
            **timing}


def steady_fps(frames: list[dict]) -> float:
    """Frames per second after the first frame (which carries the loader's start and the first-call warm-up)."""
    if len(frames) < 2:
        return 1.0 / frames[0]["end"]
    return (len(frames) - 1) / (frames[-1]["end"] - frames[0]["end"])


def stage_summary(frames: list[dict]) -> str:
    body = frames[1:] or frames
    return ", ".join(f"{k} {statistics.median(f[k] for f in body):.3g} s" for k in ("wait", "forward", "post", "write"))


def run(table: Table, cache_dir: Path, model_path: Path, shape_xyz: tuple[int, int, int], crop_xyz: tuple[int, int, int],
        n_short: int, n_long: int, time_bare_forward: Callable[[], float], fast_path_name: str,
        overrides: dict | None = None, try_compile: bool = True) -> dict:
    """Evaluate the short and long oocyte on the shipped path, the short one in plain fp32 and variants; add rows.

    ``time_bare_forward()`` times the shipped path's bare forward on one crop (median seconds) in this process. It
    runs just before and just after every shipped-path evaluation, and the mean of the two is that row's
    reference: this VM's speed drifts by up to 2x within minutes, so one reference timed at the start of the
    benchmark made the ratios meaningless (61 % in one run, 92 % in another, for the same code).

    Returns the output folders of the short runs ({"fast": dir, "fp32": dir}) for the accuracy check, and the
    dataset folder.
    """
    dataset_dir = ensure_phantom(cache_dir, n_long, shape_xyz)
    work = cache_dir / "runs"
    shutil.rmtree(work, ignore_errors=True)
    base = {"dataset_dir": str(dataset_dir), "model_path": str(model_path), "skip_finished": False,
            "crop_size": [crop_xyz[0], crop_xyz[1], -1], **(overrides or {})}
    shape = "x".join(map(str, shape_xyz))
    section = f"evaluating {shape}, 3 channels" + (f" ({json.dumps(overrides)})" if overrides else "")
    results, outputs, bare_timings_s = {}, {}, []
    plan = [("fast", n_short, {}), ("fast", n_long, {}), ("fp32", n_short, {"precision": "fp32", "channels_last": False, "runtime": "torch"})]
    if "baseline" not in (overrides or {}):  # what the classical baseline (computed in the loader) costs the pipeline
        plan.append(("fast_nobaseline", n_short, {"baseline": False}))
    if "num_workers" not in (overrides or {}):  # the loader in the main process: no worker competing for the cores
        plan.append(("fast_inline", n_short, {"num_workers": 0}))
    if try_compile and "torch_compile" not in (overrides or {}):  # the opt-in compiled network (its compile lands in frame 1)
        plan.append(("fast_compiled", n_short, {"torch_compile": True}))
    for path_name, n, extra in plan:
        datalist = write_first_frames_datalist(dataset_dir, n, work / f"datalist_t{n}.json")
        out_dir = work / f"{path_name}_t{n}"
        shipped_path = path_name.startswith("fast")
        bare_before_s = time_bare_forward() if shipped_path else None
        res = run_evaluating({**base, **extra, "datalist_file": str(datalist), "output_dir": str(out_dir)},
                             work / f"timing_{path_name}_t{n}.json")
        bare_after_s = time_bare_forward() if shipped_path else None
        results[(path_name, n)] = res
        if n == n_short:
            outputs[path_name] = out_dir
        fps = steady_fps(res["frames"])
        name = {"fast": fast_path_name, "fast_nobaseline": f"{fast_path_name}, --baseline false",
                "fast_inline": f"{fast_path_name}, --num_workers 0",
                "fast_compiled": f"{fast_path_name}, --torch_compile true",
                "fp32": "PyTorch fp32 eager (precision fp32, channels_last false, runtime torch)"}[path_name]
        note = f"wall {res['wall_s']:.0f} s incl. {res['setup_s']:.0f} s start-up"
        stage_note = "wait = read+crop+standardise(+baseline) not hidden by the worker"
        if shipped_path:
            bare_timings_s += [bare_before_s, bare_after_s]
            bare_s = (bare_before_s + bare_after_s) / 2
            ratio = fps * bare_s
            body = res["frames"][1:] or res["frames"]
            pipeline_forward_s = statistics.median(f["forward"] for f in body)
            # measured inside the same run, so immune to the machine's drift: how much of each frame's wall time
            # is the forward pass (the rest: loader wait, post-processing, writing)
            forward_share = fps * pipeline_forward_s
            note = (f"{100 * ratio:.0f}% of the bare forward timed just before / after it ({bare_before_s:.3f} / "
                    f"{bare_after_s:.3f} s per crop = {1 / bare_s:.3f} frames/s); target >= 90%: "
                    f"{'met' if ratio >= 0.9 else 'NOT met'}; the forward is {100 * forward_share:.0f}% of the "
                    "wall time per frame in this run; " + note)
            forward_ratio = pipeline_forward_s / bare_s
            stage_note = (f"forward in the pipeline = {forward_ratio:.2f}x the bare forward (the loader worker shares "
                          "the cores); " + stage_note)
        table.add(section, f"{name}, {n} frames", f"{fps:.3f} frames/s", note)
        table.add(section, f"  median stage times, {n} frames", stage_summary(res["frames"]), stage_note)
    table.add(section, "bare forward beside these runs", f"{min(bare_timings_s):.3f}-{max(bare_timings_s):.3f} s",
              f"the machine's speed over this section: {max(bare_timings_s) / min(bare_timings_s):.2f}x between the "
              "slowest and the fastest timing (each the median of a few calls)")

    mem = "peak memory of evaluating"
    for n in (n_short, n_long):
        res = results[("fast", n)]
        table.add(mem, f"{n} frames, shipped path", f"{fmt_gb(res['peak_pss_tree'])} PSS",
                  f"main process + loader worker, shared pages counted once; target < 2 GB: "
                  f"{'met' if res['peak_pss_tree'] < 2 * 1024**3 else 'NOT met'}; RSS: main {fmt_gb(res['peak_rss_main'])}, "
                  f"main + worker {fmt_gb(res['peak_rss_tree'])} (counts shared pages twice)")
    short, long_ = results[("fast", n_short)], results[("fast", n_long)]
    growth = long_["peak_pss_tree"] / short["peak_pss_tree"] - 1
    table.add(mem, f"{n_long} vs {n_short} frames", f"{100 * growth:+.1f}%",
              "bounded: independent of the number of frames" if abs(growth) < 0.1 else "GROWS with the number of frames")

    fps_long = steady_fps(long_["frames"])
    table.add("target 1 frame/s", f"shipped path, {n_long}-frame {shape} oocyte", f"{fps_long:.3f} frames/s",
              f"{n_long} frames in {long_['wall_s'] / 60:.1f} min; "
              + ("met" if fps_long >= 1 else f"needs {1 / fps_long:.1f}x more speed")
              + ("" if tuple(crop_xyz[:2]) == (352, 352) else " (--quick: small crop, not the real target)"))
    return {"dataset_dir": dataset_dir, "outputs": outputs, "results": results}


def cleanup(cache_dir: Path) -> None:
    """Remove the evaluation outputs; the phantom datasets stay cached."""
    shutil.rmtree(cache_dir / "runs", ignore_errors=True)


