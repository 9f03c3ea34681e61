"""Model Zoo checks of the bundle as shipped: inference.yaml's ids, verify_net_in_out, and ckpt_export -> TorchScript."""

import subprocess
import sys
from pathlib import Path

import torch
from monai.bundle import ConfigParser
from monai.bundle.properties import InferProperties

BUNDLE_DIR = Path(__file__).resolve().parents[1] / "bundle"


def _bundle_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "monai.bundle", *args], cwd=BUNDLE_DIR, capture_output=True,
                          text=True, timeout=600)


def test_inference_config_has_every_required_inference_property(monkeypatch):
    monkeypatch.chdir(BUNDLE_DIR)  # the configs' % macros name files relative to bundle/, as users run them
    parser = ConfigParser()
    parser.read_config("configs/inference.yaml")
    for spec in InferProperties.values():
        if spec["required"]:
            assert spec["id"] in parser, f"inference.yaml lacks the required id {spec['id']!r}"
    assert "output_dir" in parser
    net = parser.get_parsed_content("network_def")
    assert net.__class__.__name__ == "AnisotropicAttentionUNet"


def test_verify_net_in_out_passes():
    result = _bundle_cli("verify_net_in_out", "network_def", "--meta_file", "configs/metadata.json",
                         "--config_file", "configs/inference.yaml", "--device", "cpu")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "verified with no error" in result.stdout + result.stderr


def test_ckpt_export_writes_torchscript_equal_to_eager(tmp_path, monkeypatch):
    monkeypatch.chdir(BUNDLE_DIR)
    parser = ConfigParser()
    parser.read_config("configs/inference.yaml")
    torch.manual_seed(0)
    eager = parser.get_parsed_content("network_def").eval()
    ckpt = tmp_path / "model.pt"
    torch.save(eager.state_dict(), ckpt)
    exported = tmp_path / "model.ts"
    result = _bundle_cli("ckpt_export", "network_def", "--filepath", str(exported), "--ckpt_file", str(ckpt),
                         "--meta_file", "configs/metadata.json", "--config_file", "configs/inference.yaml")
    assert result.returncode == 0, result.stderr[-3000:]
    scripted = torch.jit.load(str(exported))
    image = torch.randn(1, 1, 64, 48, 8)  # divisible by the total stride (16, 16, 2)
    with torch.inference_mode():
        expected, found = eager(image), scripted(image)
    assert found.shape == (1, 1, 64, 48, 8)
    torch.testing.assert_close(found, expected, rtol=1e-5, atol=1e-5)
