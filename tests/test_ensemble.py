"""Several runs' weights in one file, evaluated as the mean of their probabilities (scripts.ensemble,
scripts.network.ProbabilityEnsemble): what each loader makes of it, and what it refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from scripts.ensemble import main, select_members, write_ensemble
from scripts.inference import load_network
from scripts.network import (
    AnisotropicAttentionUNet,
    AttentionUNetEnsemble,
    ProbabilityEnsemble,
    ensemble_size,
    network_for_weights,
)
from scripts.resolution import trained_crop_size, trained_network_pixel_size_um, trained_pixel_size_um

SMALL = {"filters": [4, 8, 16, 32, 64], "dropout": 0.0}


def _network(seed: int, out_channels: int = 1, **kwargs) -> AnisotropicAttentionUNet:
    torch.manual_seed(seed)
    network = AnisotropicAttentionUNet(out_channels=out_channels, **{**SMALL, **kwargs}).eval()
    with torch.no_grad():  # a zero-initialised head would make every member say the same
        for parameter in network.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    return network


def _run(tmp_path: Path, name: str, seed: int, provenance: dict | None = None, **kwargs) -> Path:
    path = tmp_path / name / "model.pt"
    path.parent.mkdir(parents=True)
    torch.save(_network(seed, **kwargs).state_dict(), path)
    if provenance is not None:
        (path.parent / "provenance.json").write_text(json.dumps(provenance))
    return path


AT_034 = {"pixel_size_um": 0.34, "file_pixel_size_um": 0.17, "settings": {"crop_size": [352, 352, -1], "seed": 1}}
X = torch.randn(1, 1, 32, 32, 4)


def test_the_ensemble_outputs_the_logit_of_the_mean_probability():
    members = [_network(1), _network(2), _network(3)]
    with torch.no_grad():
        expected = torch.stack([torch.sigmoid(m(X)) for m in members]).mean(0)
        out = ProbabilityEnsemble(members)(X)
    assert out.shape == expected.shape and not torch.allclose(torch.sigmoid(members[0](X)), expected, atol=1e-3)
    assert torch.allclose(torch.sigmoid(out), expected, atol=1e-5)


class _Constant(torch.nn.Module):
    def __init__(self, logits: torch.Tensor) -> None:
        super().__init__()
        self.logits = logits

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits


def test_the_logit_keeps_its_digits_where_the_members_are_sure():
    """Members that agree on a confident voxel (|logit| 10-60) give the float64 logit of their mean probability to
    1e-4, not a value rounded where 1 - p underflows in float32 (the export checks compare logits to 1e-2)."""
    first = torch.tensor([-60.0, -20.0, -12.0, -3.0, 0.0, 3.0, 12.0, 20.0, 60.0]).reshape(1, 1, 9, 1, 1)
    second = first * 0.8 + 1.0
    ensemble = ProbabilityEnsemble([_Constant(first), _Constant(second)])
    mean = (torch.sigmoid(first.double()) + torch.sigmoid(second.double())) / 2
    log_p = torch.log((torch.exp(torch.nn.functional.logsigmoid(first.double()))
                       + torch.exp(torch.nn.functional.logsigmoid(second.double()))) / 2)
    log_not_p = torch.log((torch.exp(torch.nn.functional.logsigmoid(-first.double()))
                           + torch.exp(torch.nn.functional.logsigmoid(-second.double()))) / 2)
    expected = log_p - log_not_p
    out = ensemble(torch.zeros(1))
    assert out.dtype == torch.float32 and torch.isfinite(out).all()
    assert torch.allclose(out.double(), expected, atol=1e-4, rtol=1e-6)
    assert torch.equal(out > 0, mean > 0.5)


def test_two_class_members_average_their_softmax():
    members = [_network(1, out_channels=2), _network(2, out_channels=2)]
    with torch.no_grad():
        expected = torch.stack([torch.softmax(m(X), 1) for m in members]).mean(0)
        out = ProbabilityEnsemble(members)(X)
    assert torch.allclose(torch.softmax(out, 1), expected, atol=1e-5)


def test_an_ensemble_needs_two_members():
    with pytest.raises(ValueError, match="at least 2 members"):
        ProbabilityEnsemble([_network(1)])


def test_a_written_ensemble_loads_as_one_network_with_its_members_provenance(tmp_path):
    paths = [_run(tmp_path, f"run{s}", s, {**AT_034, "settings": {**AT_034["settings"], "seed": s}}) for s in (1, 2)]
    model_path = write_ensemble(paths, tmp_path / "ensemble")
    state = torch.load(model_path, weights_only=True)
    assert ensemble_size(state) == 2 and all(k.startswith(("members.0.", "members.1.")) for k in state)
    network = load_network(AnisotropicAttentionUNet(**SMALL), model_path, channels_last=False)
    assert isinstance(network, ProbabilityEnsemble) and not network.training
    members = [load_network(AnisotropicAttentionUNet(**SMALL), p, channels_last=False) for p in paths]
    with torch.no_grad():
        assert torch.allclose(network(X), ProbabilityEnsemble(members)(X), atol=1e-5)
    # evaluating shows the ensemble its files as its members were trained: 0.34-um pixels, a 176-voxel crop
    assert trained_pixel_size_um(model_path, 0.17) == 0.34 and trained_network_pixel_size_um(model_path) == 0.34
    assert trained_crop_size(model_path, [352, 352, -1]) == [176, 176, -1]
    record = json.loads((model_path.parent / "provenance.json").read_text())
    assert [m["provenance"]["settings"]["seed"] for m in record["ensemble_members"]] == [1, 2]
    assert record["ensemble_members"][0]["weights"] == str(paths[0].resolve())


def test_single_weights_still_load_as_the_configured_network(tmp_path):
    network = AnisotropicAttentionUNet(**SMALL)
    assert load_network(network, _run(tmp_path, "run", 1), channels_last=False) is network


@pytest.mark.parametrize("case, message", [
    ("one member", "at least 2 members"),
    ("other architecture", "not the architecture of"),
    ("other pixel size", "trained with other pixel_size_um"),
    ("other crop", "trained with other settings.crop_size"),
    ("nested ensemble", "already an ensemble"),
])
def test_members_that_cannot_be_averaged_are_refused_naming_the_file(tmp_path, case, message):
    first = _run(tmp_path, "first", 1, AT_034)
    if case == "one member":
        members = [first]
    elif case == "other architecture":
        members = [first, _run(tmp_path, "wide", 2, AT_034, filters=[8, 16, 32, 64, 128])]
    elif case == "other pixel size":
        members = [first, _run(tmp_path, "fine", 2, {**AT_034, "pixel_size_um": 0.17})]
    elif case == "other crop":
        members = [first, _run(tmp_path, "small", 2, {**AT_034, "settings": {"crop_size": [256, 256, -1]}})]
    else:
        nested = write_ensemble([first, _run(tmp_path, "second", 2, AT_034)], tmp_path / "ensemble")
        members = [first, nested]
    with pytest.raises(ValueError, match=message) as error:
        write_ensemble(members, tmp_path / "out")
    if len(members) > 1:
        assert str(members[-1]) in str(error.value)
    assert not (tmp_path / "out" / "model.pt").exists()


def test_the_command_line_writes_the_ensemble_and_exits_2_on_bad_members(tmp_path, capsys):
    paths = [str(_run(tmp_path, f"run{s}", s)) for s in (1, 2)]
    assert main([*paths, "--out", str(tmp_path / "ens")]) == 0
    assert "ensemble of 2 members" in capsys.readouterr().out
    (tmp_path / "junk.pt").write_bytes(b"not torch")
    with pytest.raises(SystemExit) as exit_info:
        main([paths[0], str(tmp_path / "junk.pt"), "--out", str(tmp_path / "bad")])
    assert exit_info.value.code == 2 and "junk.pt cannot be loaded as weights only" in capsys.readouterr().err


def test_selected_members_are_a_smaller_ensemble_that_computes_those_members_mean(tmp_path):
    """--select (how models/fast is made from models/model.pt): the chosen members in the order given, stored as
    they were, the record listing only them and naming the source; refusals exit 2 and write nothing."""
    paths = [_run(tmp_path, f"run{s}", s, {**AT_034, "settings": {**AT_034["settings"], "seed": s}}) for s in (1, 2, 3)]
    three = write_ensemble(paths, tmp_path / "three", weights_dtype="float16")
    assert main(["--select", "2", "0", "--out", str(tmp_path / "pair"), str(three)]) == 0
    pair = tmp_path / "pair" / "model.pt"
    state = torch.load(pair, weights_only=True)
    assert ensemble_size(state) == 2 and {v.dtype for v in state.values()} == {torch.float16}
    network = load_network(AnisotropicAttentionUNet(**SMALL), pair, channels_last=False)
    members = [load_network(AnisotropicAttentionUNet(**SMALL), three, channels_last=False).members[i] for i in (2, 0)]
    with torch.no_grad():
        assert torch.equal(network(X), ProbabilityEnsemble(members)(X))
    record = json.loads((tmp_path / "pair" / "provenance.json").read_text())
    assert [m["provenance"]["settings"]["seed"] for m in record["ensemble_members"]] == [3, 1]
    assert record["subset_of"]["members"] == [2, 0] and record["subset_of"]["weights"] == str(three.resolve())
    assert trained_crop_size(pair, [352, 352, -1]) == [176, 176, -1]  # evaluated as the source is: 0.34 um
    for members_chosen, message in (([1], "two or more distinct members of 0..2"), ([0, 0], "distinct"),
                                    ([0, 3], "of 0..2")):
        with pytest.raises(ValueError, match=message):
            select_members(three, members_chosen, tmp_path / "bad")
    with pytest.raises(ValueError, match="not an ensemble"):
        select_members(paths[0], [0, 1], tmp_path / "bad")
    with pytest.raises(SystemExit) as exit_info:
        main(["--select", "0", "1", "--out", str(tmp_path / "bad"), str(paths[0]), str(paths[1])])
    assert exit_info.value.code == 2 and not (tmp_path / "bad").exists()


def test_float16_storage_halves_the_file_and_runs_as_float32(tmp_path):
    """--weights_dtype float16 (how the shipped ensemble is stored, under the Model Zoo's 25 MB per file): the
    file is half the size, loads strictly into the float32 network and gives its output to float16's precision."""
    paths = [_run(tmp_path, f"run{s}", s) for s in (1, 2)]
    full = write_ensemble(paths, tmp_path / "f32")
    half = write_ensemble(paths, tmp_path / "f16", weights_dtype="float16")
    assert half.stat().st_size < 0.6 * full.stat().st_size
    assert json.loads((half.parent / "provenance.json").read_text())["weights_dtype"] == "float16"
    assert {v.dtype for v in torch.load(half, weights_only=True).values()} == {torch.float16}
    networks = [load_network(network_for_weights(p, **SMALL), p, channels_last=False) for p in (full, half)]
    assert all(p.dtype == torch.float32 for p in networks[1].parameters())
    with torch.no_grad():
        out_full, out_half = (net(X) for net in networks)
    # (these toy members' random weights give logits up to 1e10: the difference is judged relative to them)
    relative = ((out_half - out_full).abs() / out_full.abs().clamp_min(1.0)).median()
    assert not torch.equal(out_full, out_half) and relative < 0.01
    assert ((out_full > 0) == (out_half > 0)).float().mean() > 0.98


def test_openvino_runs_the_ensemble_and_int8_keeps_each_members_float_operations(tmp_path):
    from scripts.openvino_runtime import OpenVINONetwork
    from scripts.quantize import FLOAT_OPERATIONS, members_operations

    ensemble = ProbabilityEnsemble([_network(1), _network(2)])
    compiled = OpenVINONetwork(ensemble, "fp32")
    x = torch.randn(1, 1, 32, 32, 4)
    with torch.no_grad():
        expected = ensemble(x)
    assert torch.allclose(compiled(x), expected, atol=1e-3 * max(float(expected.abs().max()), 1.0))
    names = members_operations(ensemble, FLOAT_OPERATIONS)
    known = {op.get_friendly_name() for op in compiled.model.get_ordered_ops()}
    assert len(names) == 2 * len(FLOAT_OPERATIONS) and set(names) <= known
    assert members_operations(_network(1), FLOAT_OPERATIONS) == list(FLOAT_OPERATIONS)


def test_the_configs_network_is_an_ensemble_exactly_when_the_weights_are(tmp_path):
    single, other = _run(tmp_path, "run1", 1), _run(tmp_path, "run2", 2)
    model_path = write_ensemble([single, other], tmp_path / "ensemble")
    (tmp_path / "junk.pt").write_bytes(b"not torch")
    assert type(network_for_weights(model_path, **SMALL)) is AttentionUNetEnsemble
    assert len(network_for_weights(model_path, **SMALL).members) == 2
    for weights in (single, "", None, tmp_path / "missing.pt", tmp_path / "junk.pt"):
        assert type(network_for_weights(weights, **SMALL)) is AnisotropicAttentionUNet


def test_training_from_an_ensemble_trains_its_members_together(tmp_path):
    from scripts.training import training_network

    model_path = write_ensemble([_run(tmp_path, f"run{s}", s) for s in (1, 2)], tmp_path / "ensemble")
    network_def = network_for_weights(model_path, **SMALL)
    network = training_network(network_def, "cpu", False, model_path)
    assert network is network_def and network.training  # the object the optimizer and checkpoints hold
    optimizer = torch.optim.SGD(network.parameters(), lr=0.1)
    before = [p.detach().clone() for p in network.members[1].parameters()]
    network(X).mean().backward()
    optimizer.step()
    assert any(not torch.equal(b, p) for b, p in zip(before, network.members[1].parameters(), strict=True))
    with pytest.raises(ValueError, match="holds an ensemble of 2 runs.*network_for_weights"):
        training_network(AnisotropicAttentionUNet(**SMALL), "cpu", False, model_path)


def test_the_bioimageio_package_of_an_ensemble_builds_it_from_its_own_files(tmp_path):
    """The package's pytorch_state_dict entry names the ensemble class and its member count, so a consumer that
    builds the network from the package's network.py and kwargs loads weights.pt into it and gets its output."""
    pytest.importorskip("bioimageio.spec", reason="the BioImage.IO extra is not installed (make test installs it)")
    import importlib.util

    import numpy as np
    import yaml
    from scripts import bioimageio_export as export

    paths = []
    for seed in (1, 2):  # the shipped architecture, which the export reads from inference.yaml
        path = tmp_path / f"run{seed}" / "model.pt"
        path.parent.mkdir()
        torch.manual_seed(seed)
        torch.save(AnisotropicAttentionUNet().state_dict(), path)
        paths.append(path)
    model_path = write_ensemble(paths, tmp_path / "ensemble")
    export.export_package(tmp_path / "package", model_path, test_shape_xyz=[64, 64, 16], run_test=False)
    rdf = yaml.safe_load((tmp_path / "package" / "rdf.yaml").read_text())
    entry = rdf["weights"]["pytorch_state_dict"]
    assert entry["architecture"]["callable"] == "AttentionUNetEnsemble"
    assert entry["architecture"]["kwargs"]["members"] == 2
    spec = importlib.util.spec_from_file_location("packaged_network", tmp_path / "package" / entry["architecture"]["source"])
    packaged = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(packaged)
    network = getattr(packaged, entry["architecture"]["callable"])(**entry["architecture"]["kwargs"]).eval()
    network.load_state_dict(torch.load(tmp_path / "package" / entry["source"], weights_only=True))
    test_input = np.load(tmp_path / "package" / rdf["inputs"][0]["test_tensor"]["source"])
    expected = np.load(tmp_path / "package" / rdf["outputs"][0]["test_tensor"]["source"])
    x = torch.from_numpy(test_input).float()
    with torch.no_grad():
        probability = torch.sigmoid(network((x - x.mean()) / x.std())).numpy()
    assert np.abs(probability - expected).max() < 1e-3


def test_the_configs_evaluate_and_train_an_ensemble_at_its_members_pixel_size(tmp_path):
    from conftest import bundle_configs
    from monai.bundle import ConfigParser

    paths = []
    for seed in (1, 2):  # the configs' own architecture
        path = tmp_path / f"run{seed}" / "model.pt"
        path.parent.mkdir()
        torch.manual_seed(seed)
        torch.save(AnisotropicAttentionUNet().state_dict(), path)
        (path.parent / "provenance.json").write_text(json.dumps(AT_034))
        paths.append(path)
    model_path = write_ensemble(paths, tmp_path / "ensemble")
    inference = ConfigParser()
    inference.read_config(bundle_configs("inference"))
    inference.update({"device": "$torch.device('cpu')", "model_path": str(model_path), "runtime": "torch",
                      "precision": "fp32"})
    assert type(inference.get_parsed_content("network_def")) is AttentionUNetEnsemble
    assert inference.get_parsed_content("crop_size") == [176, 176, -1]
    assert inference.get_parsed_content("network_pixel_size_um") == 0.34
    network = inference.get_parsed_content("network")
    x = torch.randn(1, 1, 32, 32, 4)
    members = [load_network(AnisotropicAttentionUNet(), p, channels_last=False) for p in paths]
    with torch.no_grad():
        assert torch.allclose(network(x), ProbabilityEnsemble(members)(x), atol=1e-4)
    train = ConfigParser()
    train.read_config(bundle_configs("train"))
    train.update({"init_weights": str(model_path)})
    assert type(train.get_parsed_content("network_def")) is AttentionUNetEnsemble
    train.update({"init_weights": str(paths[0])})
    assert type(train.get_parsed_content("network_def")) is AnisotropicAttentionUNet
