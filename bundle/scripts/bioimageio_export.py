"""Export the shipped model as a BioImage.IO model package (spec 0.5), for deepImageJ, ilastik and bioimageio.core.

    python -m scripts.bioimageio_export --out DIR [--zip PACKAGE.zip] [--model_path models/model.pt]

writes DIR/rdf.yaml and everything it names: the weights in three formats (pytorch_state_dict with the network's
source file, torchscript and onnx, the last two converted from the first and checked against it), a test input
and output tensor, a cover image and docs. ``--zip`` also writes the zip archive that the BioImage.IO website and
deepImageJ install. The package is then tested with bioimageio.core (every weight format reproduces the test
output); ``--no_test`` skips that. Needs the BioImage.IO extra: ``pip install -r requirements-bioimageio.txt``.

What the package does is what the bundle does to one crop, but for one step: the microtubule channel of a frame
(x, y, z; the network's axes) standardised to zero mean and unit variance (``zero_mean_unit_variance``), the
network, and a sigmoid: the output is the spindle probability per voxel (> 0.5 is spindle). The bundle clips the
crop to its own 0.1 / 99.9 percentiles before standardising (scripts/intensity.py: a few hot pixels otherwise
squash the image), and the spec cannot say that: bioimageio.core computes every statistic on the raw input before
the first step, so a ``clip`` followed by ``zero_mean_unit_variance`` standardises with the unclipped mean and
variance. The package therefore states the plain standardisation the weights were trained with, and the export
measures how far its mask is from the bundle's on the test image (``dice_vs_bundle``; docs: remove hot pixels
first). The bundle's own parts stay outside the package: the 352 x 352 centre crop, the choice of the spindle's
connected component, the mapping back onto the full frame and the volumes.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from scripts.io import SpindleDataError, file_sha256
from scripts.network import ProbabilityEnsemble

BUNDLE_DIR = Path(__file__).resolve().parents[1]
INFERENCE_CONFIG = BUNDLE_DIR / "configs" / "inference.yaml"
METADATA = BUNDLE_DIR / "configs" / "metadata.json"
NETWORK_SOURCE = BUNDLE_DIR / "scripts" / "network.py"  # torch-only: loads by file path in any consumer
ARCHITECTURE_KEYS = ("in_channels", "out_channels", "filters", "variant", "attention_levels", "dropout", "bottleneck_dropout", "norm")
ONNX_OPSET = 17
COVER_MAX_BYTES = 500_000  # the BioImage.IO website's limit for a cover image
MISSING_EXTRA = "the BioImage.IO export needs its extra: pip install -r requirements-bioimageio.txt"


class ExportError(RuntimeError):
    """A package that cannot be written as asked (the message says why)."""


def inference_settings(config_file: Path = INFERENCE_CONFIG, model_path: Path | None = None) -> dict:
    """What the package must reproduce, read from the inference config (never a second copy of it) for the weights
    at ``model_path`` (default: the config's, the shipped ones): the network's architecture keyword arguments, the
    channel, the standardisation's clip percentiles, the voxel size (x, y, z) um the network sees (x-y: the pixel
    size the weights were trained at, from the provenance.json beside them; z: the default), the crop (voxels of
    that pixel size) and the network's total stride (x, y, z) voxels."""
    from monai.bundle import ConfigParser

    parser = ConfigParser()
    parser.read_config(str(config_file))
    if model_path is not None:  # crop_size and model_pixel_size_um follow the weights' provenance
        parser["model_path"] = str(Path(model_path).resolve())
    network_def = parser.get_parsed_content("network_def", instantiate=True)
    model_pixel_um = float(parser.get_parsed_content("model_pixel_size_um"))
    return {
        "architecture": {key: _plain(parser.get_parsed_content(f"network_def#{key}")) for key in ARCHITECTURE_KEYS},
        "channel": int(parser.get_parsed_content("channel")),
        "clip_percentiles": [float(p) for p in parser.get_parsed_content("clip_percentiles")],
        "spacing_um_xyz": [model_pixel_um, model_pixel_um, float(parser.get_parsed_content("default_spacing_um")[2])],
        "crop_size": [int(s) for s in parser.get_parsed_content("crop_size")],
        "total_stride": [int(s) for s in network_def.total_stride],
    }


def _plain(value):
    """Config values as YAML-safe Python types (lists, not tuples)."""
    return [_plain(v) for v in value] if isinstance(value, (list, tuple)) else value


def load_network(model_path: Path, architecture: dict) -> torch.nn.Module:
    from scripts.network import AnisotropicAttentionUNet, AttentionUNetEnsemble, ensemble_size, read_state_dict

    try:
        state = read_state_dict(model_path)  # ValueError naming the file when it holds no weights
        members = ensemble_size(state)  # several runs' weights (scripts.ensemble): one network that averages them
        network = AttentionUNetEnsemble(members, architecture) if members else AnisotropicAttentionUNet(**architecture)
        network.load_state_dict(state)
    except (RuntimeError, ValueError) as error:
        raise ExportError(f"{model_path}: not the weights of this network ({error})") from error
    return network.eval()


def to_pixel_size(image_xyz: np.ndarray, spacing_um_xyz: Sequence[float], pixel_size_um: float) -> np.ndarray:
    """``image_xyz`` resampled in x-y to ``pixel_size_um`` (z untouched), as the bundle shows a file to the network
    (``resample_xy``: bilinear, antialiased when it shrinks)."""
    from scripts.resolution import resize_xy

    size_xy = [max(1, int(round(n * s / pixel_size_um))) for n, s in zip(image_xyz.shape[:2], spacing_um_xyz[:2],
                                                                          strict=True)]
    if size_xy == list(image_xyz.shape[:2]):
        return np.ascontiguousarray(image_xyz, dtype=np.float32)
    resized = resize_xy(torch.from_numpy(np.asarray(image_xyz, dtype=np.float32))[None, None], size_xy)
    return np.ascontiguousarray(resized[0, 0].numpy())


def phantom_test_image(shape_xyz: Sequence[int], channel: int, pixel_size_um: float | None = None,
                       seed: int = 7) -> np.ndarray:
    """(X, Y, Z) float32 test image: the microtubule channel of a metaphase frame of the house phantom at
    ``pixel_size_um`` in x-y (default: the phantom's own), the ``shape_xyz`` box around its spindle (a frame of the
    data the model was trained on, so the test output shows a spindle; it says nothing about accuracy on other
    microscopes)."""
    from scripts.phantom import ExperimentParams, OocytePhantom

    phantom = OocytePhantom(ExperimentParams.draw(seed, 0), experiment_index=0, oocyte_index=0, n_frames=24, seed=seed)
    frame = phantom.n_frames - 1
    image_zcyx, truth = phantom.render_frame(frame)
    image_xyz = np.ascontiguousarray(image_zcyx[:, channel].transpose(2, 1, 0), dtype=np.float32)
    if truth is None:
        raise ExportError(f"phantom seed {seed}: frame {frame} has no spindle")
    box, mask_zyx = truth
    centre_zyx = [s.start + float(np.mean(index)) for s, index in zip(box.slices, np.nonzero(mask_zyx), strict=True)]
    centre_xyz = list(reversed(centre_zyx))
    if pixel_size_um is not None:
        spacing = phantom.spacing_um_xyz
        image_xyz = to_pixel_size(image_xyz, spacing, pixel_size_um)
        centre_xyz = [c * s / pixel_size_um if axis < 2 else c
                      for axis, (c, s) in enumerate(zip(centre_xyz, spacing, strict=True))]
    return _crop_around(image_xyz, [int(round(c)) for c in centre_xyz], shape_xyz)


def _crop_around(image_xyz: np.ndarray, centre_xyz: Sequence[int], shape_xyz: Sequence[int]) -> np.ndarray:
    index = []
    for axis, (size, want, centre) in enumerate(zip(image_xyz.shape, shape_xyz, centre_xyz, strict=True)):
        if want > size:
            raise ExportError(f"test crop {list(shape_xyz)} larger than the image {list(image_xyz.shape)} on axis {axis}")
        start = min(max(int(centre) - want // 2, 0), size - want)
        index.append(slice(start, start + want))
    return np.ascontiguousarray(image_xyz[tuple(index)])


def file_test_image(path: Path, frame: int, channel: int, shape_xyz: Sequence[int],
                    pixel_size_um: float | None = None) -> np.ndarray:
    """(X, Y, Z) float32 test image from a file the bundle reads (scripts.io): the frame's microtubule channel at
    ``pixel_size_um`` in x-y (default: the file's own), its centre ``shape_xyz`` box, as the bundle crops it."""
    from scripts.io import read_frame

    image_xyz, meta = read_frame(path, frame=frame, channel=channel)
    image_xyz = np.asarray(image_xyz, dtype=np.float32)
    if pixel_size_um is not None:
        image_xyz = to_pixel_size(image_xyz, meta["spacing_um"], pixel_size_um)
    return _crop_around(image_xyz, [s // 2 for s in image_xyz.shape], shape_xyz)


def standardise(image_xyz: np.ndarray) -> np.ndarray:
    """The package's preprocessing, as bioimageio.core computes ``zero_mean_unit_variance`` (eps 1e-6)."""
    image = np.asarray(image_xyz, dtype=np.float64)
    return ((image - image.mean()) / (image.std() + 1e-6)).astype(np.float32)


def predict_probability(network: torch.nn.Module, standardised_xyz: np.ndarray) -> np.ndarray:
    """(1, 1, X, Y, Z) float32 spindle probability of a standardised image."""
    with torch.inference_mode():
        return torch.sigmoid(network(torch.from_numpy(standardised_xyz)[None, None]).float()).numpy()


def dice_vs_bundle(network: torch.nn.Module, image_xyz: np.ndarray, probability: np.ndarray,
                   percentiles: Sequence[float]) -> float:
    """Dice between the package's mask and the bundle's (robust standardisation) on the same image."""
    from scripts.intensity import robust_standardise

    package, bundle = probability > 0.5, predict_probability(network, robust_standardise(image_xyz, percentiles)) > 0.5
    total = int(package.sum()) + int(bundle.sum())
    return 1.0 if total == 0 else 2.0 * int((package & bundle).sum()) / total


def check_test_shape(shape_xyz: Sequence[int], stride_xyz: Sequence[int]) -> None:
    if len(shape_xyz) != 3 or any(s <= 0 or s % k for s, k in zip(shape_xyz, stride_xyz, strict=False)):
        raise ExportError(f"--test_crop {list(shape_xyz)}: each of x, y, z must be a positive multiple of the "
                          f"network's total stride {list(stride_xyz)}")


def write_converted_weights(network: torch.nn.Module, example: torch.Tensor, work_dir: Path) -> dict[str, Path]:
    """TorchScript (traced) and ONNX (dynamic batch and spatial axes) of the same network; both are checked
    against eager PyTorch on an input of ANOTHER size than the one they were converted with, so that a shape
    baked into the conversion is caught here rather than in a user's Fiji.

    The converted graphs pool with one max-pool operation each (``scripts.network.with_native_pooling``, same
    values): the strided-view maximum that PyTorch's bf16 CPU path prefers is up to eight slices and seven maxima
    per pool in another runtime's graph (deepImageJ, ilastik and bioimageio.core run these files in fp32)."""
    from scripts.network import with_native_pooling

    network = with_native_pooling(network)
    torchscript_path, onnx_path = work_dir / "weights_torchscript.pt", work_dir / "weights.onnx"
    with torch.inference_mode():
        traced = torch.jit.trace(network, example, check_trace=False)
    traced.save(str(torchscript_path))
    dynamic = {0: "batch", 2: "x", 3: "y", 4: "z"}
    torch.onnx.export(network, (example,), str(onnx_path), dynamo=False, opset_version=ONNX_OPSET,
                      input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": dynamic, "output": dynamic})
    other = torch.randn(1, 1, *(s + k for s, k in zip(example.shape[2:], (16, 32, 2), strict=True)), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        expected = network(other).numpy()
        scripted = torch.jit.load(str(torchscript_path))(other).numpy()
    import onnxruntime

    session = onnxruntime.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    onnx_out = session.run(None, {"input": other.numpy()})[0]
    for name, out in (("torchscript", scripted), ("onnx", onnx_out)):
        error = float(np.max(np.abs(out - expected)))
        if out.shape != expected.shape or error > 1e-2:
            raise ExportError(f"{name} weights disagree with PyTorch on a {list(other.shape)} input: "
                              f"shape {list(out.shape)}, max |logit difference| {error:.3g}")
    return {"torchscript": torchscript_path, "onnx": onnx_path}


def write_cover(image_xyz: np.ndarray, probability_xyz: np.ndarray, spacing_um_xyz: Sequence[float], path: Path) -> Path:
    """Two panels: the input's maximum projection along z with the predicted spindle's outline, and the
    probability's maximum projection; under the website's 500 KB."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    extent = [0, image_xyz.shape[0] * spacing_um_xyz[0], image_xyz.shape[1] * spacing_um_xyz[1], 0]
    image_yx, probability_yx = image_xyz.max(axis=2).T, probability_xyz.max(axis=2).T
    low, high = np.percentile(image_yx, [1, 99.8])
    figure, axes = plt.subplots(1, 2, figsize=(6.4, 3.3), dpi=100)
    axes[0].imshow(image_yx, cmap="gray", vmin=low, vmax=high, extent=extent)
    x_um = (np.arange(image_yx.shape[1]) + 0.5) * spacing_um_xyz[0]  # voxel centres, on imshow's axes
    y_um = (np.arange(image_yx.shape[0]) + 0.5) * spacing_um_xyz[1]
    if (probability_yx > 0.5).any():
        axes[0].contour(x_um, y_um, (probability_yx > 0.5).astype(np.float32), levels=[0.5], colors="#ff3b30",
                        linewidths=1.2)
    axes[0].set_title("microtubules (max. projection)\nand the spindle found", fontsize=9)
    axes[1].imshow(probability_yx, cmap="magma", vmin=0, vmax=1, extent=extent)
    axes[1].set_title("spindle probability\n(max. projection)", fontsize=9)
    for axis in axes:
        axis.set_xlabel("x (um)", fontsize=8)
        axis.tick_params(labelsize=7)
    axes[0].set_ylabel("y (um)", fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    if path.stat().st_size > COVER_MAX_BYTES:
        raise ExportError(f"{path}: cover image of {path.stat().st_size} bytes, over the {COVER_MAX_BYTES} limit")
    return path


def write_documentation(path: Path, settings: dict, metadata: dict, test_shape_xyz: Sequence[int]) -> Path:
    sx, sy, sz = settings["spacing_um_xyz"]
    kx, ky, kz = settings["total_stride"]
    low, high = settings["clip_percentiles"]
    cx, cy, _ = settings["crop_size"]
    dice = settings["dice_vs_bundle"]
    metrics = metadata.get("eval_metrics", {})
    path.write_text(f"""# {metadata['name']}

{metadata['description']}

Version {metadata['version']} of the MONAI bundle, exported with `python -m scripts.bioimageio_export`.

## Input
One 3D image, axes (batch, channel, x, y, z): the **microtubule (tubulin) channel** of one frame, voxels of
{sx} x {sy} x {sz} um (x, y, z; light-sheet: z is ~{sz / sx:.0f}x coarser). x and y must be multiples of {kx},
z of {kz} (the network's total stride); the bundle runs it on the {cx} x {cy} voxel centre crop of a frame with
every z slice. Preprocessing (in the package): zero mean and unit variance over x, y, z. The bundle first clips
the image to its own {low} / {high} percentiles (hot pixels and cosmic rays otherwise squash the contrast), which
the package cannot state; on the test image the two masks agree with Dice {dice:.3f}. Remove hot pixels first
(Fiji: Process > Noise > Remove Outliers) when a camera has them. The weights were trained at {sx} um pixels in
x-y: the bundle (`resample_xy`, on by default) shows the network every file at that pixel size and brings its
answer back to the file's grid; here, scale a file of other pixels in x-y to {sx} um first (Fiji: Image > Scale,
z unchanged) and the mask back to the file's size afterwards, or its volumes follow the pixel size.

## Output
The spindle probability per voxel (sigmoid of the network's logit), same axes and size as the input. A voxel
> 0.5 is spindle. The spindle volume is the number of spindle voxels times the voxel volume
({sx * sy * sz:.4f} um^3 at the training voxel size); the bundle also keeps one connected component: the one
nearest the field's centre among those of at least a quarter of the largest one's size.

## How to run it
- **deepImageJ** (Fiji): install the zip (DeepImageJ Install Model, "Private model": the zip file), open one
  frame's microtubule channel as a z-stack (Image > Duplicate the channel, one time point), set the voxel size,
  and run DeepImageJ Run with this model. Crop x-y to about {cx} x {cy} voxels around the spindle first: the
  standardisation uses the whole image's statistics, as in training.
- **ilastik** (1.4.1+, Neural Network Classification workflow): load the zip or its address, then the image.
- **Python**: `bioimageio predict rdf.yaml --inputs input.npy` or `bioimageio.core.predict`; `bioimageio test
  rdf.yaml` checks the package.
- **The full product** (every frame of a time series, volumes per oocyte and experiment, QC, the classical
  baseline): the MONAI bundle itself, `python -m monai.bundle run evaluating --config_file
  "['configs/inference.yaml','configs/evaluate.yaml']" --dataset_dir DIR`.

## Accuracy and limits
Trained on synthetic images only ({metadata.get('data_source', '')}). Its figures name their data: {metrics.get('data', '')}
Test Dice on the phantom's held-out oocytes {metrics.get('test_mean_dice', 'n/a')}; mean Dice on held-out renderer
families {json.dumps(metrics.get('heldout_renderer_families_mean_dice', {}))}; median |relative volume error| on
three real confocal stacks {metrics.get('real_stacks_median_abs_rel_volume_error', 'n/a')}. On a new microscope,
check the masks and fine-tune on a few annotated frames (the bundle's configs/finetune.yaml) before trusting its
volumes. Research use only; not for clinical use.

The test tensors are a {' x '.join(str(s) for s in test_shape_xyz)} voxel box of a phantom frame.
""")
    return path


def build_description(work_dir: Path, settings: dict, metadata: dict, files: dict[str, Path], test_shape_xyz):
    """The spec-0.5 model description of the files in ``work_dir`` (validated as it is built)."""
    from bioimageio.spec.model import v0_5 as spec

    # in nanometres: whole numbers, so that the spec's check of the output size, size * input scale / output
    # scale, is exact (in micrometres 224 * 0.17 / 0.17 = 224.00000000000003 fails it)
    sx, sy, sz = (round(1000.0 * s, 6) for s in settings["spacing_um_xyz"])
    kx, ky, kz = settings["total_stride"]
    space = spec.AxisId("x"), spec.AxisId("y"), spec.AxisId("z")
    input_id, output_id = spec.TensorId("raw"), spec.TensorId("probability")
    input_axes = [spec.BatchAxis(), spec.ChannelAxis(channel_names=[spec.Identifier("microtubules")])] + [
        spec.SpaceInputAxis(id=axis, size=spec.ParameterizedSize(min=step, step=step), scale=scale, unit="nanometer")
        for axis, step, scale in zip(space, (kx, ky, kz), (sx, sy, sz), strict=True)]
    output_axes = [spec.BatchAxis(), spec.ChannelAxis(channel_names=[spec.Identifier("spindle")])] + [
        spec.SpaceOutputAxis(id=axis, size=spec.SizeReference(tensor_id=input_id, axis_id=axis), scale=scale,
                             unit="nanometer")
        for axis, scale in zip(space, (sx, sy, sz), strict=True)]
    inputs = spec.InputTensorDescr(
        id=input_id, axes=input_axes, test_tensor=spec.FileDescr(source=files["test_input"]),
        description="microtubule channel of one 3D frame, any camera counts",
        data=spec.IntervalOrRatioDataDescr(type="float32"),
        preprocessing=[
            spec.EnsureDtypeDescr(kwargs=spec.EnsureDtypeKwargs(dtype="float32")),
            spec.ZeroMeanUnitVarianceDescr(kwargs=spec.ZeroMeanUnitVarianceKwargs(axes=list(space))),
        ])
    outputs = spec.OutputTensorDescr(
        id=output_id, axes=output_axes, test_tensor=spec.FileDescr(source=files["test_output"]),
        description="spindle probability per voxel (> 0.5: spindle)",
        data=spec.IntervalOrRatioDataDescr(type="float32", range=(0.0, 1.0)),
        postprocessing=[spec.SigmoidDescr()])
    torch_version = spec.Version(torch.__version__.split("+")[0])
    weights = spec.WeightsDescr(
        pytorch_state_dict=spec.PytorchStateDictWeightsDescr(
            source=files["state_dict"], pytorch_version=torch_version,
            architecture=spec.ArchitectureFromFileDescr(source=files["architecture"], callable=spec.Identifier(
                settings.get("architecture_callable", "AnisotropicAttentionUNet")), kwargs=settings["architecture"])),
        torchscript=spec.TorchscriptWeightsDescr(source=files["torchscript"], pytorch_version=torch_version,
                                                 parent="pytorch_state_dict"),
        onnx=spec.OnnxWeightsDescr(source=files["onnx"], opset_version=ONNX_OPSET, parent="pytorch_state_dict"))
    return spec.ModelDescr(
        name="Meiotic spindle 3D segmentation in light-sheet oocytes",
        description=("3D anisotropic attention U-Net: the meiotic spindle in the microtubule channel of one "
                     "light-sheet frame of a mouse oocyte ("
                     + " x ".join(f"{s:g}" for s in settings["spacing_um_xyz"]) + " um voxels); output the spindle "
                     "probability per voxel. Exported from the MONAI bundle that reports spindle volume over time."),
        version=metadata["version"],
        authors=[spec.Author(name=metadata["authors"])],
        cite=[
            spec.CiteEntry(text="Ronneberger, Fischer, Brox. U-Net: Convolutional Networks for Biomedical Image "
                                "Segmentation. MICCAI 2015", doi=spec.Doi("10.1007/978-3-319-24574-4_28")),
            spec.CiteEntry(text="Cicek et al. 3D U-Net: Learning Dense Volumetric Segmentation from Sparse "
                                "Annotation. MICCAI 2016", doi=spec.Doi("10.1007/978-3-319-46723-8_49")),
            spec.CiteEntry(text="Oktay et al. Attention U-Net: Learning Where to Look for the Pancreas. MIDL 2018",
                           url=spec.HttpUrl("https://arxiv.org/abs/1804.03999")),
        ],
        license=spec.LicenseId("Apache-2.0"),
        tags=["3d", "light-sheet", "fluorescence-light-microscopy", "oocyte", "meiotic-spindle", "microtubules",
              "semantic-segmentation", "unet", "pytorch", "monai"],
        documentation=spec.FileDescr(source=files["documentation"]),
        covers=[spec.FileDescr(source=files["cover"])],
        inputs=[inputs],
        outputs=[outputs],
        weights=weights,
        config={"bioimageio": {"reproducibility_tolerance": [
            {"relative_tolerance": 1e-3, "absolute_tolerance": 1e-3, "mismatched_elements_per_million": 200}]}},
    )


def export_package(out_dir: Path, model_path: Path, test_shape_xyz: Sequence[int] | None = None,
                   test_image: Path | None = None, test_frame: int = 0, zip_path: Path | None = None,
                   run_test: bool = True, config_file: Path = INFERENCE_CONFIG) -> dict:
    """Write the package folder (and zip), test it with bioimageio.core; returns a summary dict."""
    try:
        import bioimageio.spec  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as error:
        raise ExportError(f"{MISSING_EXTRA} ({error})") from error
    from bioimageio.spec import save_bioimageio_package, save_bioimageio_package_as_folder

    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ExportError(f"{out_dir}: the output folder exists and is not empty (choose a new one)")
    settings = inference_settings(config_file, model_path)
    metadata = json.loads(METADATA.read_text())
    if test_shape_xyz is None:  # the bundle's x-y crop; every z slice of a phantom frame, cut to the stride
        from scripts.phantom import DEFAULT_SHAPE_XYZ

        cx, cy, _ = settings["crop_size"]
        kz = settings["total_stride"][2]
        test_shape_xyz = [cx, cy, DEFAULT_SHAPE_XYZ[2] // kz * kz]
    test_shape_xyz = [int(s) for s in test_shape_xyz]
    check_test_shape(test_shape_xyz, settings["total_stride"])
    network = load_network(model_path, settings["architecture"])
    if isinstance(network, ProbabilityEnsemble):  # several runs' weights: the package builds their ensemble
        settings["architecture_callable"] = "AttentionUNetEnsemble"
        settings["architecture"] = {"members": len(network.members), "architecture": settings["architecture"]}
    pixel_size_um = settings["spacing_um_xyz"][0]  # the package's input: x-y at the weights' pixel size
    image_xyz = (phantom_test_image(test_shape_xyz, settings["channel"], pixel_size_um) if test_image is None
                 else file_test_image(test_image, test_frame, settings["channel"], test_shape_xyz, pixel_size_um))
    standardised = standardise(image_xyz)
    probability = predict_probability(network, standardised)
    settings["dice_vs_bundle"] = dice_vs_bundle(network, image_xyz, probability, settings["clip_percentiles"])

    work_dir = out_dir.with_name(out_dir.name + ".parts")  # the package appears complete or not at all
    shutil.rmtree(work_dir, ignore_errors=True)
    work_dir.mkdir(parents=True)
    files = {"state_dict": work_dir / "weights.pt", "architecture": work_dir / "network.py",
             "test_input": work_dir / "test_input.npy", "test_output": work_dir / "test_output.npy"}
    torch.save(network.state_dict(), files["state_dict"])
    shutil.copyfile(NETWORK_SOURCE, files["architecture"])
    np.save(files["test_input"], image_xyz[None, None])
    np.save(files["test_output"], probability)
    files.update(write_converted_weights(network, torch.from_numpy(standardised)[None, None], work_dir))
    files["cover"] = write_cover(image_xyz, probability[0, 0], settings["spacing_um_xyz"], work_dir / "cover.png")
    files["documentation"] = write_documentation(work_dir / "README.md", settings, metadata, test_shape_xyz)

    description = build_description(work_dir, settings, metadata, files, test_shape_xyz)
    save_bioimageio_package_as_folder(description, output_path=work_dir / "package")
    if out_dir.exists():
        out_dir.rmdir()
    (work_dir / "package").rename(out_dir)
    shutil.rmtree(work_dir)
    summary = {"package": str(out_dir), "rdf": str(out_dir / "rdf.yaml"), "test_shape_xyz": test_shape_xyz,
               "spindle_voxels_in_test_output": int((probability > 0.5).sum()),
               "dice_vs_bundle": round(settings["dice_vs_bundle"], 4), "test": "skipped"}
    if run_test:
        summary["test"] = test_package(out_dir / "rdf.yaml")
    if zip_path is not None:
        save_bioimageio_package(out_dir / "rdf.yaml", output_path=Path(zip_path))
        summary["zip"] = str(zip_path)
        summary["zip_sha256"] = file_sha256(zip_path)
    return summary


def test_package(rdf_path: Path) -> str:
    """bioimageio.core's test of every weight format on the package's test tensors; raises when one fails."""
    from bioimageio.core import test_model

    result = test_model(str(rdf_path))
    if result.status != "passed":
        failed = [f"{d.name}: {e.msg}" for d in result.details if d.status == "failed" for e in d.errors]
        raise ExportError(f"{rdf_path}: bioimageio test {result.status}: " + "; ".join(failed[:5]))
    return result.status


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.bioimageio_export", description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path, help="package folder to write (new or empty)")
    parser.add_argument("--zip", type=Path, default=None, help="also write the zip archive here")
    parser.add_argument("--model_path", type=Path, default=BUNDLE_DIR / "models" / "model.pt")
    parser.add_argument("--test_crop", type=int, nargs=3, default=None, metavar=("X", "Y", "Z"),
                        help="test tensor size in voxels, multiples of (16, 16, 2); default the bundle's x-y crop and "
                        "every z slice the stride allows")
    parser.add_argument("--test_image", type=Path, default=None,
                        help="a frame file or hyperstack the bundle reads; default a house phantom frame")
    parser.add_argument("--test_frame", type=int, default=0, help="frame of --test_image")
    parser.add_argument("--no_test", action="store_true", help="skip bioimageio.core's test of the package")
    args = parser.parse_args(argv)
    try:
        summary = export_package(args.out, args.model_path, args.test_crop, args.test_image, args.test_frame,
                                 args.zip, run_test=not args.no_test)
    except (ExportError, SpindleDataError) as error:  # the last line says what is wrong, and with which file
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
