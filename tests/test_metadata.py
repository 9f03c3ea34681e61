"""The bundle's model card validates offline against the Model Zoo metadata schema."""

import json
import shutil
from pathlib import Path

import pytest
from monai.bundle import verify_metadata

BUNDLE_DIR = Path(__file__).resolve().parents[1] / "bundle"
SCHEMA = Path(__file__).resolve().parents[2] / "shared" / "schemas" / "meta_schema_20240725.json"
METADATA = BUNDLE_DIR / "configs" / "metadata.json"


@pytest.fixture
def offline_schema(tmp_path):
    if not SCHEMA.exists():
        pytest.skip(f"{SCHEMA} not found (../shared is not beside this clone)")
    local_copy = tmp_path / SCHEMA.name
    shutil.copy(SCHEMA, local_copy)  # verify_metadata skips the download when the file exists
    return local_copy


def test_metadata_validates_against_schema(offline_schema):
    verify_metadata(meta_file=str(METADATA), filepath=str(offline_schema))


def test_no_bundle_file_is_over_the_model_zoos_25_mb():
    """The Model Zoo refuses files over 25 MB: the shipped weights must stay below (an ensemble is stored in
    float16, scripts.ensemble --weights_dtype float16)."""
    limit_bytes = 25 * 1024 * 1024
    too_large = [f"{p.relative_to(BUNDLE_DIR)} ({p.stat().st_size / 2**20:.1f} MiB)" for p in BUNDLE_DIR.rglob("*")
                 if p.is_file() and p.stat().st_size > limit_bytes]
    assert not too_large, f"over the Model Zoo's 25 MB: {too_large}"


def test_metadata_rejects_missing_required_field(offline_schema, tmp_path):
    broken = json.loads(METADATA.read_text())
    del broken["network_data_format"]
    broken_file = tmp_path / "metadata.json"
    broken_file.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match="network_data_format"):
        verify_metadata(meta_file=str(broken_file), filepath=str(offline_schema))


def test_metadata_pins_the_installed_versions():
    import monai
    import numpy
    import torch

    meta = json.loads(METADATA.read_text())
    assert meta["monai_version"] == monai.__version__
    assert meta["pytorch_version"] == torch.__version__.split("+")[0]
    assert meta["numpy_version"] == numpy.__version__
    requirements = (BUNDLE_DIR.parent / "requirements.txt").read_text()
    for package, version in meta["required_packages_version"].items():
        assert f"{package}=={version}" in requirements, f"{package} {version} is not pinned in requirements.txt"


def test_metadata_version_is_semver_with_changelog_entry():
    meta = json.loads(METADATA.read_text())
    major, minor, patch = (int(part) for part in meta["version"].split("."))
    assert (major, minor, patch) >= (0, 0, 1)
    assert meta["version"] in meta["changelog"]
