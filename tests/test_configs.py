"""The configs as the Model Zoo CI and users meet them: from any folder, self-contained, and in agreement.

- no config names another config file (``%configs/x.yaml#id`` resolves against the working directory) or a
  list index (``#3``): overlays refer to named ids only;
- train / inference / evaluate / analyze agree on channel, spacing, crop, frame interval, pad divisor,
  standardisation and network, so the copies cannot drift;
- every config with a run id has a ``run`` alias;
- the Model Zoo CI's checks (``ci/verify_bundle.py``: metadata schema, ``verify_net_in_out``, TorchScript export
  of the shipped weights) and ``check_properties`` pass from a folder that is not bundle/.
"""

import json
import re
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch
from conftest import BUNDLE_DIR, bundle_configs
from monai.bundle import ConfigParser, ConfigWorkflow
from scripts.resolution import trained_pixel_size_um

CONFIG_DIR = BUNDLE_DIR / "configs"
SCHEMA = BUNDLE_DIR.parents[1] / "shared" / "schemas" / "meta_schema_20240725.json"


def parsed(*names: str) -> ConfigParser:
    parser = ConfigParser()
    parser.read_config(bundle_configs(*names))
    return parser


# ---------------------------------------------------------------------------------------------------- self-contained
@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.yaml")), ids=lambda p: p.name)
def test_no_config_refers_to_another_config_file_or_a_list_index(path):
    text = "\n".join(line.split(" #")[0] for line in path.read_text().splitlines())  # YAML comments may say anything
    assert not re.search(r"%[\w./-]*\.(yaml|yml|json)", text), f"{path.name} refers to another config file"
    references = re.findall(r"[@%][\w#:]+", text)
    indexed = [r for r in references if re.search(r"(#|::)\d+", r)]
    assert not indexed, f"{path.name} refers to list items by index: {indexed} (name the item instead)"


def test_every_config_with_a_run_id_has_a_run_alias():
    for files, run_id in (("train", "training"), ("inference", "evaluating"), ("analyze", "analyzing"),
                          (("inference", "evaluate"), "evaluating"), (("train", "multi_gpu_train"), "training"),
                          (("inference", "evaluate", "multi_gpu_evaluate"), "evaluating")):
        parser = parsed(*([files] if isinstance(files, str) else files))
        assert run_id in parser and parser["run"] == f"@{run_id}", f"{files}: run should be @{run_id}"


def test_run_without_a_run_id_evaluates(tiny_phantom, random_model, tmp_path):
    from monai.bundle import run as bundle_run

    bundle_run(config_file=bundle_configs("inference"), dataset_dir=str(tiny_phantom), output_dir=str(tmp_path),
               model_path=str(random_model), crop_size=[48, 48, -1], num_workers=0, progress_bar=False)
    assert len((tmp_path / "volumes.csv").read_text().splitlines()) == 1 + 8


def test_evaluating_warns_of_files_whose_pixels_the_model_was_not_trained_at(tiny_phantom, random_model, tmp_path):
    from monai.bundle import run as bundle_run

    with pytest.warns(UserWarning, match=r"oocyte01\.tif: x-y pixel size 0\.17 um is 1\.70x the 0\.1 um"):
        bundle_run(config_file=bundle_configs("inference"), dataset_dir=str(tiny_phantom), output_dir=str(tmp_path),
                   model_path=str(random_model), crop_size=[48, 48, -1], num_workers=0, progress_bar=False,
                   model_pixel_size_um=0.1,  # as if the weights had been trained at 0.1 um pixels
                   resample_xy=False)  # the network sees the file's pixels: the volumes depend on them
    assert len((tmp_path / "volumes.csv").read_text().splitlines()) == 1 + 8  # a warning, not a refusal


def test_evaluating_resamples_files_of_other_pixels_without_a_warning(tiny_phantom, random_model, tmp_path):
    from monai.bundle import run as bundle_run

    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*pixel size")  # resample_xy (the default) handles them
        bundle_run(config_file=bundle_configs("inference"), dataset_dir=str(tiny_phantom), output_dir=str(tmp_path),
                   model_path=str(random_model), crop_size=[48, 48, -1], num_workers=0, progress_bar=False,
                   model_pixel_size_um=0.1)
    assert len((tmp_path / "volumes.csv").read_text().splitlines()) == 1 + 8  # every frame evaluated


def test_bundle_root_defaults_to_the_bundle_folder_wherever_the_command_runs():
    for names in (("train",), ("inference",), ("inference", "evaluate"), ("analyze",)):
        parser = parsed(*names)
        assert Path(parser.get_parsed_content("bundle_root")) == BUNDLE_DIR
    assert Path(parsed("inference").get_parsed_content("model_path")) == BUNDLE_DIR / "models" / "model.pt"


def test_the_model_setting_picks_a_shipped_model_folder_and_its_own_files():
    """--model fast: the fast model's weights, int8 model and band calibration (each made for those weights: the int8
    model is taken and the band calibrated); a word that names no shipped model stops the run naming the setting."""
    from scripts.calibrate_band import load_band_calibration

    parser = parsed("inference", "evaluate")
    parser["model"] = "fast"
    folder = BUNDLE_DIR / "models" / "fast"
    for key, name in (("model_path", "model.pt"), ("int8_model_path", "model_int8.xml"),
                      ("band_calibration", "band_calibration.json")):
        assert Path(parser.get_parsed_content(key)) == folder / name
    assert load_band_calibration(folder / "band_calibration.json", folder / "model.pt", 0.2) is not None
    assert parser.get_parsed_content("crop_size") == [176, 176, -1]  # the members' 0.34-um field, as the six's
    parser = parsed("inference")
    parser["model"] = "fastest"
    with pytest.raises(Exception) as failure:
        parser.get_parsed_content("model_path")
    assert "model must be one of standard, fast; found 'fastest'" in str(failure.value.__cause__ or failure.value)


# ---------------------------------------------------------------------------------------------------- agreement
def test_train_inference_evaluate_and_analyze_agree_on_the_data_and_the_network():
    train, inference, evaluate, analyze = parsed("train"), parsed("inference"), parsed("inference", "evaluate"), parsed("analyze")
    for key in ("channel", "default_spacing_um"):
        values = [p.get_parsed_content(key) for p in (train, inference, evaluate, analyze)]
        assert all(v == values[0] for v in values), f"{key} differs between the configs: {values}"
    # the same field of view: training and the fingerprint count the crop in the files' voxels (the house data's
    # default spacing), inference in voxels of the model's pixel size (resample_xy)
    assert train.get_parsed_content("crop_size") == analyze.get_parsed_content("crop_size")
    assert inference.get_parsed_content("crop_size") == evaluate.get_parsed_content("crop_size")
    file_um, model_um = train.get_parsed_content("default_spacing_um")[0], inference.get_parsed_content("model_pixel_size_um")
    train_crop, inference_crop = train.get_parsed_content("crop_size"), inference.get_parsed_content("crop_size")
    assert [round(n * file_um, 3) for n in train_crop[:2]] == [round(n * model_um, 3) for n in inference_crop[:2]]
    assert train_crop[2] == inference_crop[2] == -1
    assert train["frame_interval_min"] == inference["frame_interval_min"] == evaluate["frame_interval_min"]
    assert train.get_parsed_content("pad_divisor") == inference.get_parsed_content("pad_divisor") == [16, 16, 2]
    # the transforms use those values: channel and spacing of the reader, crop window, pad divisor
    for parser in (train, inference, evaluate):
        load = parser.get_parsed_content("load_frame")
        assert load.channel == parser.get_parsed_content("channel")
        assert list(parser.get_parsed_content("crop").cropper.roi_size) == parser.get_parsed_content("crop_size")
        assert list(parser.get_parsed_content("pad").padder.k) == parser.get_parsed_content("pad_divisor")
        assert parser["standardisation"] == train["standardisation"]
    assert train["standardisation"]["_target_"] == "scripts.intensity.RobustStandardised"
    assert train["clip_percentiles"] == inference["clip_percentiles"] == [0.1, 99.9]
    # the network: the same definition, parameter for parameter, built for the weights each config loads (one U-Net,
    # or an ensemble of as many as they hold)
    assert {**train["network_def"], "weights": "@model_path"} == inference["network_def"]
    assert train["network_def"]["weights"] == "@init_weights"
    train["init_weights"] = str(BUNDLE_DIR / "models" / "model.pt")  # training on from the shipped weights
    networks = [p.get_parsed_content("network_def") for p in (train, inference, evaluate)]
    assert len({repr(net) for net in networks}) == 1
    for key in ("filters", "variant", "attention_levels", "dropout", "bottleneck_dropout", "norm", "out_channels"):
        assert train[key] == inference[key], f"{key}: train {train[key]!r}, inference {inference[key]!r}"


def test_training_caches_crops_in_their_own_memory():
    names = [type(t).__name__ for t in parsed("train").get_parsed_content("train#deterministic_transforms")]
    assert names == ["LoadFramed", "CenterSpatialCropd", "ContiguousCopyd", "RobustStandardised"]


def test_validation_preprocesses_as_training_and_as_inference():
    train = parsed("train")
    validate = train.get_parsed_content("validate#preprocessing").transforms
    inference = parsed("inference").get_parsed_content("preprocessing").transforms
    assert [type(t).__name__ for t in validate] == [
        "LoadFramed", "CenterSpatialCropd", "RobustStandardised", "DivisiblePadd"]
    # inference's crop is MONAI's with the crop in the model's pixels (resample_xy, on by default; training's frames
    # are at the model's pixel size, where the two crops are the same)
    assert [type(t).__name__ for t in inference] == [
        "LoadFramed", "ModelFieldCropd", "RobustStandardised", "DivisiblePadd"]
    shipped_um = trained_pixel_size_um(BUNDLE_DIR / "models" / "model.pt", 0.17)  # its provenance.json, or 0.17
    assert isinstance(inference[1], type(validate[1])) and inference[1].model_pixel_size_um == shipped_um
    assert parsed("inference").get_parsed_content("network_pixel_size_um") == shipped_um


def test_evaluate_adds_reference_masks_and_the_baseline_to_inference():
    inference, evaluate = parsed("inference"), parsed("inference", "evaluate")
    assert list(inference.get_parsed_content("load_frame").keys) == ["image"]
    assert list(evaluate.get_parsed_content("load_frame").keys) == ["image", "label"]
    names = [type(t).__name__ for t in evaluate.get_parsed_content("preprocessing").transforms]
    # the default baseline, Spindle3D's method, reads the DNA channel and measures the raw crop before standardising;
    # the DNA crop goes on to the writer (the plate width of every method's spindle), as does the aMTOC channel's
    # (poles and polarity)
    assert names == ["CopyItemsd", "CopyItemsd", "LoadFramed", "LoadFramed", "LoadFramed", "ModelFieldCropd",
                     "Spindle3DBaselined", "RobustStandardised", "CastToTyped", "DivisiblePadd"]
    assert list(evaluate.get_parsed_content("crop").keys) == ["image", "dna", "amtoc"]
    # every channel is read in the file's dtype and only its crop converted: the DNA and aMTOC crops by to_float
    assert {evaluate.get_parsed_content(k).image_dtype for k in ("load_frame", "load_dna", "load_amtoc")} == {None}
    assert list(evaluate.get_parsed_content("to_float").keys) == ["dna", "amtoc"]
    assert evaluate.get_parsed_content("handlers#0#dna_key") == "dna"
    assert evaluate.get_parsed_content("handlers#0#amtoc_key") == "amtoc"
    assert "dna_key" not in inference["handlers"][0]  # inference alone reads no DNA: no plate width
    assert list(evaluate.get_parsed_content("pad").keys) == ["image", "baseline"]
    assert evaluate.get_parsed_content("methods") == {"network": "pred", "baseline": "baseline"}
    otsu = parsed("inference", "evaluate")
    otsu["baseline_method"] = "Otsu"
    otsu["amtoc_channel"] = "null"  # as typed on the command line: no aMTOC channel
    assert [type(t).__name__ for t in otsu.get_parsed_content("preprocessing").transforms] == [
        "LoadFramed", "ModelFieldCropd", "RobustStandardised", "DivisiblePadd", "OtsuBaselined"]
    evaluate["baseline"] = "false"
    evaluate["amtoc_channel"] = None
    assert [type(t).__name__ for t in evaluate.get_parsed_content("preprocessing", lazy=False).transforms] == [
        "LoadFramed", "ModelFieldCropd", "RobustStandardised", "DivisiblePadd"]
    assert inference.get_parsed_content("methods") == {"network": "pred"}
    wrong = parsed("inference", "evaluate")
    wrong["baseline_method"] = "watershed"
    with pytest.raises(RuntimeError) as raised:
        wrong.get_parsed_content("preprocessing")
    assert "baseline_method must be one of spindle3d, otsu; found 'watershed'" in str(raised.value.__cause__)


# ---------------------------------------------------------------------------------------------------- Model Zoo
@pytest.mark.parametrize("workflow_type,files", [
    ("train", ("train",)), ("infer", ("inference",)), ("infer", ("inference", "evaluate")),
])
def test_check_properties(workflow_type, files, dataset_factory, tmp_path):
    # check_properties instantiates the datasets: a real dataset folder, and every file written goes to tmp_path
    # (training writes its datalist on demand; evaluation scans the folder)
    dataset = dataset_factory()
    written = {"datalist_file": str(tmp_path / "datalist.json"), "ckpt_dir": str(tmp_path / "models")} if workflow_type == "train" else {}
    workflow = ConfigWorkflow(config_file=bundle_configs(*files), meta_file=str(CONFIG_DIR / "metadata.json"),
                              logging_file=str(CONFIG_DIR / "logging.conf"), workflow_type=workflow_type,
                              dataset_dir=str(dataset), output_dir=str(tmp_path / "out"), **written)
    workflow.initialize()
    assert workflow.check_properties() == []
    assert not (dataset / "datalist.json").exists()  # the dataset folder is left alone


def test_model_zoo_ci_full_mode_passes_from_another_folder(tmp_path):
    """What the Model Zoo's ci/verify_bundle.py does, with bundle_root set, run from a folder that is not bundle/."""
    if not SCHEMA.exists():
        pytest.skip(f"{SCHEMA} not found (../shared is not beside this clone)")
    shutil.copy(SCHEMA, tmp_path / "schema.json")  # verify_metadata downloads the schema unless it exists
    script = textwrap.dedent(f"""
        import os, torch
        from monai.bundle import ckpt_export, verify_metadata, verify_net_in_out
        bundle = {str(BUNDLE_DIR)!r}
        verify_metadata(meta_file=os.path.join(bundle, "configs/metadata.json"), filepath="schema.json")
        for config in ("configs/inference.yaml", ["configs/inference.yaml", "configs/evaluate.yaml"]):
            config_file = [os.path.join(bundle, c) for c in config] if isinstance(config, list) else os.path.join(bundle, config)
            verify_net_in_out(net_id="network_def", meta_file=os.path.join(bundle, "configs/metadata.json"),
                              config_file=config_file, bundle_root=bundle, device="cpu")
            print("shape check passed:", config)
        ckpt_export(net_id="network_def", filepath="verify_model.ts", ckpt_file=os.path.join(bundle, "models/model.pt"),
                    meta_file=os.path.join(bundle, "configs/metadata.json"),
                    config_file=os.path.join(bundle, "configs/inference.yaml"), bundle_root=bundle)
        torch.jit.load("verify_model.ts")
        print("MODEL ZOO CHECKS PASSED")
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "MODEL ZOO CHECKS PASSED" in result.stdout
    assert result.stdout.count("shape check passed:") == 2  # verify_net_in_out raises on a mismatch


def test_ckpt_export_writes_torchscript_equal_to_eager(tmp_path):
    torch.manual_seed(0)
    eager = parsed("inference").get_parsed_content("network_def").eval()
    ckpt = tmp_path / "model.pt"
    torch.save(eager.state_dict(), ckpt)
    exported = tmp_path / "model.ts"
    command = [sys.executable, "-m", "monai.bundle", "ckpt_export", "network_def", "--filepath", str(exported),
               "--ckpt_file", str(ckpt), "--meta_file", str(CONFIG_DIR / "metadata.json"),
               "--config_file", bundle_configs("inference"), "--bundle_root", str(BUNDLE_DIR)]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    scripted = torch.jit.load(str(exported))
    image = torch.randn(1, 1, 64, 48, 8)  # divisible by the total stride (16, 16, 2)
    with torch.inference_mode():
        expected, found = eager(image), scripted(image)
    assert found.shape == (1, 1, 64, 48, 8)
    torch.testing.assert_close(found, expected, rtol=1e-5, atol=1e-5)


def test_metadata_describes_the_network_as_it_is():
    meta = json.loads((CONFIG_DIR / "metadata.json").read_text())
    data_format = meta["network_data_format"]
    assert data_format["inputs"]["image"]["spatial_shape"] == ["16*n", "16*n", "2*n"]
    assert parsed("inference").get_parsed_content("pad_divisor") == [16, 16, 2]  # the same multiples
    assert data_format["outputs"]["pred"]["format"] == "logits" and data_format["outputs"]["pred"]["value_range"] == []
    assert data_format["post_processed_outputs"]["pred"]["value_range"] == [0, 1]
    assert "tqdm" in meta["required_packages_version"]  # the evaluating progress bar


def test_the_volume_band_is_switchable_and_checked():
    from scripts.config import optional_probability

    assert optional_probability("null", "band_probability") is None and optional_probability("0.2", "b") == 0.2
    with pytest.raises(ValueError, match="between 0 and 0.5"):
        optional_probability(0.7, "band_probability")
    inference = parsed("inference")
    assert [type(t).__name__ for t in inference.get_parsed_content("postprocessing").transforms][0] == "CopyItemsd"
    inference["band_probability"] = "null"
    assert "CopyItemsd" not in [type(t).__name__ for t in inference.get_parsed_content("postprocessing").transforms]


def test_loader_workers_auto_loads_between_forward_passes_on_a_cpu():
    from scripts.config import loader_workers

    assert loader_workers("auto", "cpu") == 0 and loader_workers("AUTO", torch.device("cuda")) == 1
    assert loader_workers("auto", "cpu", heavy_loader=True) == 1  # the baseline beside the network
    assert loader_workers(2, "cpu") == 2 and loader_workers("0", "cuda") == 0
    for bad in ("-1", "many", 1.5):
        with pytest.raises(ValueError, match="num_workers must be auto or a count"):
            loader_workers(bad, "cpu")
    inference, evaluate = parsed("inference"), parsed("inference", "evaluate")
    for config in (inference, evaluate):
        config["device"] = "$torch.device('cpu')"
    assert inference.get_parsed_content("dataloader#num_workers") == 0
    assert evaluate.get_parsed_content("dataloader#num_workers") == 1  # Spindle3D's baseline in the loader
    evaluate["baseline"] = False
    assert evaluate.get_parsed_content("dataloader#num_workers") == 0
    inference["num_workers"] = 3
    assert inference.get_parsed_content("dataloader#num_workers") == 3


def test_evaluating_processes_share_the_gpus_round_robin(monkeypatch):
    """torchrun --nproc_per_node may exceed the GPUs for evaluating (multi_gpu_evaluate.yaml): process i gets GPU i
    modulo the GPU count, and the processes meet over gloo, which (unlike NCCL) allows two ranks on one GPU."""
    from scripts.config import local_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    found = []
    for local_rank in range(5):
        monkeypatch.setenv("LOCAL_RANK", str(local_rank))
        found.append(str(local_device()))
    assert found == ["cuda:0", "cuda:1", "cuda:0", "cuda:1", "cuda:0"]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert local_device() == torch.device("cpu")
    text = (BUNDLE_DIR / "configs" / "multi_gpu_evaluate.yaml").read_text()
    assert "init_process_group(backend='gloo')" in text and "nccl" not in text.split("initialize:")[1]


def test_the_spindle_component_rule_is_a_setting_checked_when_the_config_is_read():
    from scripts.cli import readable_error

    inference = parsed("inference")
    keep = [t for t in inference.get_parsed_content("postprocessing").transforms
            if type(t).__name__ == "KeepLargestComponentd"]
    assert [(t.rule, t.min_size_fraction) for t in keep] == [("central", 0.25)]
    assert inference.get_parsed_content("run_settings")["spindle_component"] == ["central", 0.25]
    for key, bad, message in (("spindle_component", "brightest", "must be one of"),
                              ("spindle_component_min_fraction", 1.5, "min_size_fraction")):
        config = parsed("inference")
        config[key] = bad
        with pytest.raises(Exception) as info:  # MONAI wraps it; the command line prints the cause last
            config.get_parsed_content("postprocessing")
        assert message in readable_error(info.value)
