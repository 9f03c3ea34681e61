"""Where the bundle is, and its plugin package (``scripts``) importable from here.

The napari plugin reads files with the bundle's own reader (``scripts.io``: the formats, calibration and checks
that evaluating uses) and takes the microtubule channel from the bundle's ``configs/inference.yaml``. The bundle is
the folder named by ``SPINDLE_BUNDLE_DIR``, else the ``bundle/`` folder of the repository this plugin was installed
from (``pip install -e napari-spindle``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def bundle_dir() -> Path:
    candidates = [Path(os.environ["SPINDLE_BUNDLE_DIR"])] if os.environ.get("SPINDLE_BUNDLE_DIR") else []
    candidates.append(Path(__file__).resolve().parents[3] / "bundle")
    for candidate in candidates:
        if (candidate / "configs" / "inference.yaml").is_file():
            return candidate
    raise RuntimeError(f"the spindle bundle was not found at {', '.join(map(str, candidates))}: set "
                       "SPINDLE_BUNDLE_DIR to the bundle folder (the one holding configs/ and models/)")


def import_bundle_scripts():
    """The bundle's ``scripts`` package (its folder put on sys.path first)."""
    folder = str(bundle_dir())
    if folder not in sys.path:
        sys.path.insert(0, folder)
    import scripts.io

    return scripts


def bundle_setting(name: str):
    """A plain value of the bundle's configs/inference.yaml (e.g. ``channel``, ``default_spacing_um``)."""
    import yaml

    with open(bundle_dir() / "configs" / "inference.yaml") as f:
        return yaml.safe_load(f)[name]
