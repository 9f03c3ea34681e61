"""A Python process that imports torch and MONAI once, then forks a fresh ``python -m monai.bundle run ...`` per request.

The bad-input campaign runs ~60 short command lines. Each would spend ~8 s importing torch, MONAI and ignite before
~1-3 s of work. A child forked from this process starts with those libraries loaded and otherwise runs as the
command does: its own process, working directory, stdout and stderr, exit status, and the interpreter's own exit
path (an uncaught exception is printed by ``sys.excepthook`` and exits 1; atexit handlers run; non-daemon threads
are joined). The project's own package (``scripts``) is not preloaded: every run imports it as the configs say.

    with PrestartedCli(env) as cli:
        returncode, stdout, stderr = cli.run(["run", "evaluating", "--config_file", ...], cwd=work)

Protocol between the two (one JSON object per line): the client writes ``{"args", "cwd", "stdout", "stderr",
"file_size_limit_bytes", "timeout_s"}``, this process answers ``{"returncode"}`` once the child has ended
(negative: killed by that signal, as ``subprocess`` reports it; a child past its timeout is killed).
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# the third-party imports that dominate a run's start-up; nothing of the project's own
PRELOAD = ("numpy", "scipy.ndimage", "tifffile", "torch", "monai", "monai.bundle", "monai.transforms", "monai.data",
           "monai.networks", "ignite.engine", "fire")


def limit_file_size(limit_bytes: int) -> None:
    """In this process: a write past ``limit_bytes`` fails with EFBIG, as on a full disk, instead of killing it."""
    import resource

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit_bytes, limit_bytes))


def _become_the_command(request: dict) -> None:
    """In the forked child: turn into ``python -m monai.bundle run ARGS``. Never returns: the run ends in SystemExit
    or an exception, which unwinds out of ``serve`` to the interpreter's normal exit."""
    os.chdir(request["cwd"])
    stdin = os.open(os.devnull, os.O_RDONLY)
    stdout = os.open(request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    stderr = os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    for source, target in ((stdin, 0), (stdout, 1), (stderr, 2)):
        os.dup2(source, target)
        os.close(source)
    if request.get("file_size_limit_bytes"):
        limit_file_size(int(request["file_size_limit_bytes"]))
    import runpy

    sys.argv = ["-m", *request["args"]]  # runpy puts monai/bundle/__main__.py in argv[0], as `python -m` does
    runpy.run_module("monai.bundle", run_name="__main__", alter_sys=True)
    raise SystemExit(0)


def _wait(pid: int, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        time.sleep(0.02)


def serve() -> None:
    for name in PRELOAD:
        importlib.import_module(name)
    for line in sys.stdin:
        request = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _become_the_command(request)
        returncode = _wait(pid, float(request.get("timeout_s", 600.0)))
        sys.stdout.write(json.dumps({"returncode": returncode}) + "\n")
        sys.stdout.flush()


class PrestartedCli:
    """Client: one prestarted process that runs one command line at a time (use one per worker thread)."""

    def __init__(self, env: dict[str, str] | None = None):
        self._process = subprocess.Popen([sys.executable, str(Path(__file__).resolve())], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, text=True, env=env)

    def run(self, args: list[str], cwd: Path, timeout_s: float = 600.0,
            file_size_limit_bytes: int | None = None) -> tuple[int, str, str]:
        """Run ``python -m monai.bundle ARGS`` (ARGS = ``["run", ...]``) in ``cwd``: (returncode, stdout, stderr)."""
        with tempfile.TemporaryDirectory(prefix="prestarted_cli_") as tmp:
            out, err = Path(tmp) / "stdout", Path(tmp) / "stderr"
            request = {"args": list(args), "cwd": str(cwd), "stdout": str(out), "stderr": str(err),
                       "file_size_limit_bytes": file_size_limit_bytes, "timeout_s": timeout_s}
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
            answer = self._process.stdout.readline()
            if not answer:
                raise RuntimeError(f"the prestarted Python exited (status {self._process.wait()}) before answering")
            return (json.loads(answer)["returncode"], out.read_text(errors="replace"),
                    err.read_text(errors="replace"))

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.stdin.close()
            self._process.wait(timeout=60)

    def __enter__(self) -> PrestartedCli:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


if __name__ == "__main__":
    serve()
