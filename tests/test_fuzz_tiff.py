"""Fuzz-style test of scripts.io.read_frame over corrupted and odd TIFFs (issue 8).

Cases, all from a fixed seed: truncations of valid ImageJ and OME hyperstacks (uncompressed and zlib) at
many offsets, random byte flips in their headers (IFD entries, tag values, the 8-byte file header), pixel
types (float64, float16, int8, bool, uint32, int64, complex), 6D files, headers announcing 10^6 x 10^6
pixels, empty files and non-TIFF files named .tif.

Every read runs in a worker process (forkserver) with a time limit (a hang is a failure, and the worker is
replaced) and a cap on its address space (an attempt to allocate a huge announced image fails there with
MemoryError instead of swapping the machine). Allowed outcomes:

- ``strict`` cases: SpindleDataError naming the file, or an array equal to the source frame;
- ``refuse`` cases: SpindleDataError naming the file, with no MemoryError behind it (the reader must refuse
  a huge announced size before allocating it, and must refuse complex pixels and 6D data);
- ``flip`` cases: SpindleDataError naming the file, or a well-formed frame (3D, native byte order). A
  flipped byte in an offset or a size field can make any reader return other bytes without a way to
  notice, so equality is not required there; a bare traceback or a hang is never allowed.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import resource
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import tifffile
from conftest import random_series
from scripts.io import MAX_FRAME_BYTES, SpindleDataError, read_frame, read_mask

# A deeper run: SPINDLE_FUZZ_SCALE=20 SPINDLE_FUZZ_SEED=7 pytest tests/test_fuzz_tiff.py (CI uses the defaults).
SEED = int(os.environ.get("SPINDLE_FUZZ_SEED", "20261125"))
SCALE = int(os.environ.get("SPINDLE_FUZZ_SCALE", "1"))
CASE_TIMEOUT_S = 10.0  # one read of a tiny file takes milliseconds; 10 s only trips on a real hang
STARTUP_TIMEOUT_S = 300.0  # a fresh reader process imports NumPy, tifffile and the bundle: seconds, minutes on a busy slow VM
# a worker may map one maximal frame plus 512 MiB more than it had when it started: reading what the reader
# accepts works, allocating a larger announced size fails with MemoryError, which the test reports
WORKER_EXTRA_ADDRESS_SPACE = MAX_FRAME_BYTES + (1 << 29)
SHAPE_TZCYX = (3, 4, 2, 16, 12)
FRAME, CHANNEL = 2, 1
N_TRUNCATIONS = 100 * SCALE  # per source file
N_FLIPS = 120 * SCALE  # per source file
SOURCES = ["imagej", "imagej_zlib", "ome", "ome_zlib", "ome_bigtiff", "shaped", "per_frame_zcyx", "mask_bare",
           "mask_imagej_zlib"]


@dataclass
class Case:
    name: str
    kind: str  # 'strict', 'refuse' or 'flip' (see the module docstring)
    path: Path
    expected_xyz: np.ndarray | None = None
    frame: int = FRAME
    channel: int = CHANNEL
    mask: bool = False  # read with read_mask instead of read_frame


# ---- worker: reads one case at a time, reports what happened --------------------------------------

def _vm_size_bytes() -> int:
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmSize"))


def _attempt(case: Case) -> dict:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # missing calibration etc.: warnings are not under test here
            if case.mask:
                data, _ = read_mask(case.path, case.frame)
            else:
                data, _ = read_frame(case.path, case.frame, case.channel)
    except Exception as exc:  # reported to the parent, which judges the type
        chain, cause = [], exc
        while cause is not None and len(chain) < 10:
            chain.append(type(cause).__name__)
            cause = cause.__cause__ or cause.__context__
        return {"outcome": "error", "spindle": isinstance(exc, SpindleDataError), "message": str(exc),
                "chain": chain}
    expected = case.expected_xyz
    return {"outcome": "ok", "ndim": data.ndim, "native": data.dtype.isnative, "shape": data.shape,
            "equal": expected is not None and data.shape == expected.shape and bool(np.array_equal(data, expected))}


def _serve(conn) -> None:
    try:
        limit = _vm_size_bytes() + WORKER_EXTRA_ADDRESS_SPACE
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (OSError, ValueError):
        pass  # no cap where the platform refuses it; the time limit still applies
    conn.send("ready")  # the imports are done: from here on, the time limit measures reads only
    while (case := conn.recv()) is not None:
        conn.send(_attempt(case))


class _Worker:
    """A reader process; ``run`` returns its report or {'outcome': 'hang'} after the time limit."""

    def __init__(self):
        # forkserver, not fork: forking the test process itself, which holds PyTorch / OpenVINO thread pools from
        # earlier tests, can deadlock the child (a clean-clone CI run reported one such "hang", not reproducible alone)
        self.context = multiprocessing.get_context("forkserver")
        self._start()

    def _start(self) -> None:
        self.conn, child = self.context.Pipe()
        self.process = self.context.Process(target=_serve, args=(child,), daemon=True)
        self.process.start()
        # the start-up is not part of any case: on a slow, busy 2-core VM it can take longer than the 10 s case
        # limit, and every restart after a "hang" would pay it again
        if not self.conn.poll(STARTUP_TIMEOUT_S) or self.conn.recv() != "ready":
            self.process.kill()
            raise RuntimeError(f"the reader process did not start within {STARTUP_TIMEOUT_S:.0f} s")

    def run(self, case: Case) -> dict:
        self.conn.send(case)
        if self.conn.poll(CASE_TIMEOUT_S):
            try:
                return self.conn.recv()
            except EOFError:  # the worker died (a crash in C code)
                self._restart()
                return {"outcome": "crash"}
        self._restart()
        return {"outcome": "hang"}

    def _restart(self) -> None:
        self.process.kill()
        self.process.join()
        self._start()

    def close(self) -> None:
        self.conn.send(None)
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.kill()


@pytest.fixture(scope="module")
def worker():
    w = _Worker()
    yield w
    w.close()


def judge(case: Case, report: dict) -> str | None:
    """None if the outcome is allowed for the case's kind, else a one-line description of the failure."""
    outcome = report["outcome"]
    if outcome in ("hang", "crash"):
        return f"{case.name}: {outcome}"
    if outcome == "error":
        if not report["spindle"]:
            return f"{case.name}: bare {report['chain']} {report['message'][:300]}"
        if case.path.name not in report["message"]:
            return f"{case.name}: message does not name the file: {report['message'][:300]}"
        if "MemoryError" in report["chain"]:
            return f"{case.name}: tried to allocate the announced size: {report['message'][:300]}"
        return None
    if case.kind == "refuse":
        return f"{case.name}: expected SpindleDataError, read a frame of shape {report['shape']}"
    if case.kind == "strict" and not report["equal"]:
        return f"{case.name}: read a frame that differs from the source (shape {report['shape']})"
    if case.kind == "flip" and not (report["ndim"] == 3 and report["native"]):
        return f"{case.name}: malformed frame (ndim {report['ndim']}, native {report['native']})"
    return None


def run_cases(worker: _Worker, cases: list[Case]) -> dict[str, int]:
    failures, counts = [], {"error": 0, "ok": 0}
    for case in cases:
        report = worker.run(case)
        counts[report["outcome"]] = counts.get(report["outcome"], 0) + 1
        if (failure := judge(case, report)) is not None:
            failures.append(failure)
    assert not failures, f"{len(failures)} of {len(cases)} cases failed:\n" + "\n".join(failures[:20])
    return counts


# ---- source files -----------------------------------------------------------------------------------

def xyz(zyx: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(zyx.transpose(2, 1, 0))


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, tuple[Path, np.ndarray]]:
    """name -> (path, expected (X, Y, Z) frame FRAME channel CHANNEL) of valid, calibrated files: ImageJ
    hyperstacks (contiguous: memory-mapped path; zlib: page-wise path), OME-TIFF in TCZYX order (classic,
    zlib, BigTIFF), a tifffile 'shaped' file (axes in a JSON description), a per-frame ZCYX file, and two
    masks (frame FRAME's mask as expected): a bare ZYX array (axes unknown to tifffile) and a zlib ImageJ one."""
    folder = tmp_path_factory.mktemp("fuzz_sources")
    tzcyx = random_series(SHAPE_TZCYX, seed=5)
    expected = xyz(tzcyx[FRAME, :, CHANNEL])
    imagej_metadata = {"axes": "TZCYX", "unit": "um", "spacing": 2.0, "finterval": 600.0}
    ome_metadata = {"axes": "TCZYX", "PhysicalSizeX": 0.17, "PhysicalSizeY": 0.17, "PhysicalSizeZ": 2.0}
    tczyx = tzcyx.transpose(0, 2, 1, 3, 4)
    writers = {
        "imagej": ("imagej.tif", tzcyx, {"imagej": True, "metadata": imagej_metadata}),
        "imagej_zlib": ("imagej_zlib.tif", tzcyx, {"imagej": True, "metadata": imagej_metadata,
                                                   "compression": "zlib"}),
        "ome": ("plain.ome.tif", tczyx, {"ome": True, "metadata": ome_metadata}),
        "ome_zlib": ("zlib.ome.tif", tczyx, {"ome": True, "metadata": ome_metadata, "compression": "zlib"}),
        "ome_bigtiff": ("big.ome.tif", tczyx, {"ome": True, "metadata": ome_metadata, "bigtiff": True}),
        "shaped": ("shaped.tif", tzcyx, {"metadata": {"axes": "TZCYX"}}),
        "per_frame_zcyx": ("t0002.tif", tzcyx[FRAME], {"imagej": True, "metadata": {"axes": "ZCYX"}}),
    }
    mask_zyx = (random_series(SHAPE_TZCYX[1:2] + SHAPE_TZCYX[3:], seed=6) > 40000).astype(np.uint8)
    writers["mask_bare"] = ("t0002_mask.tif", mask_zyx, {})
    writers["mask_imagej_zlib"] = ("t0002_mask_ij.tif", mask_zyx, {"imagej": True, "metadata": {"axes": "ZYX"},
                                                                   "compression": "zlib"})
    out = {}
    for name, (filename, array, kwargs) in writers.items():
        path = folder / filename
        tifffile.imwrite(path, array, resolution=(1 / 0.17, 1 / 0.17), photometric="minisblack", **kwargs)
        out[name] = (path, xyz(mask_zyx) if name.startswith("mask") else expected)
    return out


def header_regions(path: Path) -> list[tuple[int, int]]:
    """[start, stop) byte ranges of the file header, the IFDs of the first three pages and their tag values
    stored outside the IFD (descriptions, offsets, byte counts): everything but pixel data."""
    regions = [(0, 8)]
    with tifffile.TiffFile(path) as tif:
        fmt = tif.tiff  # classic or BigTIFF entry sizes
        for page in list(tif.pages)[:3]:
            regions.append((page.offset, page.offset + fmt.tagnosize + fmt.tagsize * len(page.tags) + fmt.offsetsize))
            for tag in page.tags:
                size = tag.count * struct.calcsize("<" + tag.dataformat[-1])
                if size > fmt.tagoffsetthreshold:  # values stored outside the IFD entry
                    regions.append((tag.valueoffset, tag.valueoffset + size))
    return regions


def tag_value_offset(path: Path, name: str) -> tuple[int, int]:
    """(IFD entry offset, value offset) of the first page's tag ``name``."""
    with tifffile.TiffFile(path) as tif:
        tag = tif.pages.first.tags[name]
        return tag.offset, tag.valueoffset


def set_long_tag(data: bytearray, entry_offset: int, value: int) -> None:
    """Rewrite a little-endian classic-TIFF IFD entry in place as type LONG, count 1, ``value``."""
    struct.pack_into("<HII", data, entry_offset + 2, 4, 1, value)


# ---- the cases ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("source", SOURCES)
def test_truncated_hyperstacks_fail_cleanly_or_read_correctly(worker, sources, tmp_path, source):
    path, expected = sources[source]
    full = path.read_bytes()
    rng = random.Random(f"{SEED}-truncate-{source}")
    with tifffile.TiffFile(path) as tif:
        data_offset = tif.pages.first.dataoffsets[0]
    offsets = {0, 1, 4, 7, 8, 9, data_offset - 1, data_offset, data_offset + 1, len(full) - 1}
    offsets |= {rng.randrange(1, len(full)) for _ in range(N_TRUNCATIONS)}
    cases = []
    for offset in sorted(offsets):
        cut = tmp_path / f"cut{offset}_{path.name}"
        cut.write_bytes(full[:offset])
        cases.append(Case(f"{source} cut at {offset} of {len(full)}", "strict", cut, expected,
                          mask=source.startswith("mask")))
    counts = run_cases(worker, cases)
    assert counts["error"] >= len(offsets) // 2  # most cuts remove data that frame 2 needs


@pytest.mark.parametrize("source", SOURCES)
def test_flipped_header_bytes_fail_cleanly_or_read_a_wellformed_frame(worker, sources, tmp_path, source):
    path, _ = sources[source]
    full = path.read_bytes()
    regions = header_regions(path)
    rng = random.Random(f"{SEED}-flip-{source}")
    cases = []
    for i in range(N_FLIPS):
        data = bytearray(full)
        flipped = []
        for _ in range(rng.randint(1, 3)):
            start, stop = rng.choice(regions)
            position = rng.randrange(start, min(stop, len(data)))
            data[position] ^= 1 << rng.randrange(8) if rng.random() < 0.5 else rng.randrange(1, 256)
            flipped.append(position)
        corrupt = tmp_path / f"flip{i}_{path.name}"
        corrupt.write_bytes(bytes(data))
        cases.append(Case(f"{source} bytes {flipped} flipped", "flip", corrupt, mask=source.startswith("mask")))
    run_cases(worker, cases)


@pytest.mark.parametrize("dtype", ["float64", "float16", "int8", "bool", "uint32", "int64", "complex64", "complex128"])
def test_pixel_types_read_exactly_or_complex_is_refused(worker, tmp_path, dtype):
    rng = np.random.default_rng(SEED)
    zyx = (rng.normal(size=(4, 16, 12)) * 100).astype(dtype) if dtype != "bool" else rng.random((4, 16, 12)) > 0.5
    if dtype.startswith("complex"):
        zyx = zyx + 1j * zyx
    path = tmp_path / f"{dtype}.tif"
    tifffile.imwrite(path, zyx, metadata={"axes": "ZYX"}, photometric="minisblack")
    kind = "refuse" if dtype.startswith("complex") else "strict"
    run_cases(worker, [Case(f"{dtype} ZYX", kind, path, xyz(zyx), frame=0)])


def test_six_dimensional_files_are_refused_unless_the_extra_axis_is_length_one(worker, tmp_path):
    six = random_series((2, 2, 3, 2, 8, 8), seed=2)
    named = tmp_path / "six_named.tif"
    tifffile.imwrite(named, six, metadata={"axes": "ATZCYX"})  # an angle axis, as some light-sheets write
    unnamed = tmp_path / "six_unnamed.tif"
    tifffile.imwrite(unnamed, six)  # tifffile: axes 'QQQQYX'
    singleton = tmp_path / "six_singleton.tif"
    tifffile.imwrite(singleton, six[:1], metadata={"axes": "ATZCYX"})  # length-1 extra axis: squeezed away
    run_cases(worker, [
        Case("6D named", "refuse", named),
        Case("6D unnamed", "refuse", unnamed),
        Case("6D singleton extra axis", "strict", singleton, xyz(six[0, 1, :, 1]), frame=1, channel=1),
    ])


@pytest.mark.parametrize("source", ["imagej", "ome", "ome_zlib"])
def test_huge_declared_size_is_refused_without_allocating_it(worker, sources, tmp_path, source):
    path, _ = sources[source]
    cases = []
    for tags in (("ImageWidth",), ("ImageLength",), ("ImageWidth", "ImageLength")):
        data = bytearray(path.read_bytes())
        for name in tags:
            entry, _ = tag_value_offset(path, name)
            set_long_tag(data, entry, 10**6)
        huge = tmp_path / f"huge_{'_'.join(tags)}_{path.name}"
        huge.write_bytes(bytes(data))
        cases.append(Case(f"{source} {tags} = 10^6", "refuse", huge))
    if source == "imagej":  # the ImageJ header announcing 10^9 images of which the file holds 24
        text = path.read_bytes().replace(b"images=24", b"images=999999999")
        huge = tmp_path / f"images_{path.name}"
        huge.write_bytes(text)
        cases.append(Case("imagej images=10^9", "refuse", huge))
    run_cases(worker, cases)


@pytest.mark.parametrize("content", [
    b"", b"II", b"II*\x00", b"II*\x00\x08\x00\x00\x00", b"MM\x00*\x00\x00\x00\x08" + bytes(64),
    b"II+\x00\x08\x00\x00\x00" + bytes(16), b"\x89PNG\r\n\x1a\n" + bytes(100), b"\xff\xd8\xff\xe0" + bytes(100),
    b"experiment,oocyte,gvbd_frame\nexp1,oocyte01,3\n", b"II*\x00\xff\xff\xff\x7f" + bytes(32),
], ids=["empty", "II", "magic-only", "no-ifd", "mm-zeros", "bigtiff-cut", "png", "jpeg", "csv", "ifd-beyond-eof"])
def test_empty_and_non_tiff_files_are_refused(worker, tmp_path, content):
    path = tmp_path / "not_a_tiff.tif"
    path.write_bytes(content)
    run_cases(worker, [Case(f"{content[:12]!r}", "refuse", path)])


def test_circular_ifd_chain_is_cut_not_followed_forever(worker, tmp_path):
    """Regression (found by the flips above): an ImageJ file whose ImageJ header tifffile rejects (here
    images=0), so that tifffile falls back to its generic parser, and whose last page's next-IFD offset
    points back to the first page. tifffile's page-by-page walk there followed the chain forever."""
    zcyx = random_series((4, 2, 16, 12), seed=3)
    path = tmp_path / "circular.tif"
    tifffile.imwrite(path, zcyx, imagej=True, metadata={"axes": "ZCYX"}, photometric="minisblack")
    data = bytearray(path.read_bytes().replace(b"images=8", b"images=0"))
    with tifffile.TiffFile(path) as tif:
        first, last = tif.pages[0], tif.pages[-1]
        struct.pack_into("<I", data, last.offset + 2 + 12 * len(last.tags), first.offset)
    path.write_bytes(bytes(data))
    run_cases(worker, [Case("IFD chain loops back to the first page", "strict", path, xyz(zcyx[:, 1]))])
