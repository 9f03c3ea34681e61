"""The BioImage.IO export (scripts/bioimageio_export.py): a spec-0.5 package that `bioimageio test` passes offline.

Needs the BioImage.IO extra (requirements-bioimageio.txt; `make test` installs it): skipped without it on a
developer's machine, required in CI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

if not os.environ.get("CI"):
    pytest.importorskip("bioimageio.core", reason="the BioImage.IO extra is not installed (make test installs it)")
    pytest.importorskip("onnxruntime", reason="the BioImage.IO extra is not installed (make test installs it)")

from scripts import bioimageio_export as export  # noqa: E402

BUNDLE_DIR = Path(__file__).resolve().parents[1] / "bundle"
TEST_CROP = [128, 128, 16]  # small: the package is what is tested; 16 z slices (of the 30 a frame has) because 8
# leave a network little of the spindle to find (0.4.13's weights: 252 voxels; on the whole 352 x 352 x 30 crop 62,877)
SHIPPED = BUNDLE_DIR / "models" / "model.pt"


def _shipped_members() -> int:
    """How many networks the shipped weights hold: 0 for one U-Net, N for an ensemble (scripts.ensemble)."""
    import torch
    from scripts.network import ensemble_size

    return ensemble_size(torch.load(SHIPPED, map_location="cpu", weights_only=True))


def _shipped_pixel_size_um() -> float:
    from scripts.resolution import trained_pixel_size_um

    return trained_pixel_size_um(SHIPPED, 0.17)  # its provenance.json's, else the house phantom's


def _offline_env(tmp_path: Path) -> dict:
    """Environment in which any HTTP(S) request fails at once (a proxy on a closed port): the test proves the
    package is tested from its own files, as on a lab machine without network."""
    env = dict(os.environ)
    env.update({"HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "",
                "http_proxy": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "no_proxy": "",
                "BIOIMAGEIO_CACHE_PATH": str(tmp_path / "bioimageio_cache")})
    return env


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    out = tmp_path_factory.mktemp("bioimageio") / "spindle_model"
    summary = export.export_package(out, BUNDLE_DIR / "models" / "model.pt", test_shape_xyz=TEST_CROP,
                                    zip_path=out.with_suffix(".zip"), run_test=False)
    return out, summary


def test_package_holds_what_the_spec_asks(package):
    out, summary = package
    rdf = yaml.safe_load((out / "rdf.yaml").read_text())
    assert rdf["format_version"].startswith("0.5") and rdf["type"] == "model"
    assert rdf["version"] == json.loads((BUNDLE_DIR / "configs" / "metadata.json").read_text())["version"]
    assert set(rdf["weights"]) == {"pytorch_state_dict", "torchscript", "onnx"}
    settings = export.inference_settings()
    members = _shipped_members()
    expected_kwargs = {"members": members, "architecture": settings["architecture"]} if members else settings["architecture"]
    assert rdf["weights"]["pytorch_state_dict"]["architecture"]["kwargs"] == expected_kwargs
    for weights in rdf["weights"].values():
        assert (out / weights["source"]).is_file()
    # one pooling operation per max-pool (scripts.network.with_native_pooling), not a graph of strided slices
    import onnx

    operations = [node.op_type for node in onnx.load(str(out / rdf["weights"]["onnx"]["source"])).graph.node]
    assert operations.count("MaxPool") == 4 * max(1, members) and "Max" not in operations
    (raw,), (probability,) = rdf["inputs"], rdf["outputs"]
    space = {a["id"]: a for a in raw["axes"] if a["type"] == "space"}
    assert [a["type"] for a in raw["axes"]] == ["batch", "channel", "space", "space", "space"]
    xy_nm = round(1000 * _shipped_pixel_size_um(), 3)
    assert {k: (a["scale"], a["unit"], a["size"]["step"]) for k, a in space.items()} == {
        "x": (xy_nm, "nanometer", 16), "y": (xy_nm, "nanometer", 16), "z": (2000.0, "nanometer", 2)}
    assert [p["id"] for p in raw["preprocessing"]][:2] == ["ensure_dtype", "zero_mean_unit_variance"]
    assert [p["id"] for p in probability["postprocessing"]][0] == "sigmoid"
    test_input, test_output = np.load(out / "test_input.npy"), np.load(out / "test_output.npy")
    assert test_input.shape == test_output.shape == (1, 1, *TEST_CROP)
    assert 0.0 <= test_output.min() and test_output.max() <= 1.0
    assert summary["spindle_voxels_in_test_output"] > 1000  # the test crop shows a spindle, and the model finds it
    assert summary["dice_vs_bundle"] > 0.95  # the package's plain standardisation vs the bundle's robust one
    cover = out / rdf["covers"][0]["source"]
    assert cover.stat().st_size < 500_000
    assert "deepImageJ" in (out / rdf["documentation"]["source"]).read_text()
    assert Path(summary["zip"]).stat().st_size > 1_000_000


def test_bioimageio_test_passes_offline(package, tmp_path):
    out, _ = package
    command = Path(sys.executable).with_name("bioimageio")
    result = subprocess.run([str(command), "test", str(out / "rdf.yaml")], capture_output=True, text=True,
                            env=_offline_env(tmp_path), timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    for weights in ("pytorch_state_dict", "torchscript", "onnx"):
        assert f"weights.{weights}" in result.stdout  # every format was run on the test tensors


def test_converted_weights_are_checked_against_pytorch(tmp_path):
    """write_converted_weights refuses a conversion that does not reproduce eager PyTorch."""
    import torch

    class ShapeBaked(torch.nn.Module):  # a model whose trace bakes the input size in: wrong on other sizes
        def forward(self, x):
            return x * float(x.shape[2])

    example = torch.ones(1, 1, 16, 16, 2)
    with pytest.raises(export.ExportError, match="torchscript weights disagree"):
        export.write_converted_weights(ShapeBaked().eval(), example, tmp_path)


def test_bad_requests_say_what_is_wrong(tmp_path):
    with pytest.raises(export.ExportError, match=r"multiple of the network's total stride \[16, 16, 2\]"):
        export.check_test_shape([100, 128, 8], [16, 16, 2])
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("finished work")
    code = export.main(["--out", str(occupied), "--test_crop", *map(str, TEST_CROP), "--no_test"])
    assert code == 1 and (occupied / "keep.txt").read_text() == "finished work"
    with pytest.raises(export.ExportError, match="not the weights of this network"):
        (tmp_path / "junk.pt").write_bytes(b"not a state dict")
        export.load_network(tmp_path / "junk.pt", export.inference_settings()["architecture"])


def test_missing_extra_names_the_requirements_file(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "bioimageio.spec", None)  # `import bioimageio.spec` raises ImportError
    with pytest.raises(export.ExportError, match="pip install -r requirements-bioimageio.txt"):
        export.export_package(tmp_path / "p", BUNDLE_DIR / "models" / "model.pt", TEST_CROP, run_test=False)


def test_weights_trained_at_a_coarser_pixel_size_are_packaged_at_it(tmp_path):
    """A model trained with network_pixel_size_um (its provenance.json says 0.34 um) is packaged with 340-nm
    input axes and a test image at 0.34 um: the package's input is what that network was trained on, and a Fiji
    user scaling a file to the stated pixel size gives it the field it expects."""
    import shutil

    weights = tmp_path / "lab" / "model.pt"
    weights.parent.mkdir()
    shutil.copyfile(BUNDLE_DIR / "models" / "model.pt", weights)
    (weights.parent / "provenance.json").write_text(json.dumps(
        {"pixel_size_um": 0.34, "file_pixel_size_um": 0.17, "settings": {"crop_size": [352, 352, -1]}}))
    shipped, coarse = export.inference_settings(), export.inference_settings(model_path=weights)
    assert shipped["spacing_um_xyz"] == [_shipped_pixel_size_um(), _shipped_pixel_size_um(), 2.0]
    assert coarse["spacing_um_xyz"] == [0.34, 0.34, 2.0] and coarse["crop_size"][:2] == [176, 176]
    fine = export.phantom_test_image([128, 128, 16], shipped["channel"])
    half = export.phantom_test_image([64, 64, 16], shipped["channel"], pixel_size_um=0.34)
    assert half.shape == (64, 64, 16)
    # the same box of the same frame: the 0.34-um image is the 0.17-um one averaged 2 x 2 in x-y
    binned = fine.reshape(64, 2, 64, 2, 16).mean(axis=(1, 3))
    assert np.corrcoef(binned.ravel(), half.ravel())[0, 1] > 0.95
    summary = export.export_package(tmp_path / "package", weights, test_shape_xyz=[64, 64, 16], run_test=False)
    rdf = yaml.safe_load((tmp_path / "package" / "rdf.yaml").read_text())
    (raw,) = rdf["inputs"]
    assert [a["scale"] for a in raw["axes"] if a["type"] == "space"] == [340.0, 340.0, 2000.0]
    assert "0.34 x 0.34 x 2 um voxels" in rdf["description"]
    assert summary["test_shape_xyz"] == [64, 64, 16]
