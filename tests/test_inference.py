"""scripts.inference: loading weights, the autocast / channels_last forward pass, flip test-time augmentation."""

import pytest
import torch
from conftest import BUNDLE_DIR, bundle_configs
from monai.bundle import ConfigParser
from scripts.inference import AutocastInferer, load_network
from scripts.network import AnisotropicAttentionUNet

SMALL_NET = {"filters": [4, 8, 8, 16, 16]}  # same topology as the default, a fraction of the compute (unit tests)


def test_autocast_inferer_fp32_channels_last_matches_the_plain_forward_and_keeps_meta():
    from monai.data import MetaTensor

    torch.manual_seed(0)
    net = AnisotropicAttentionUNet(**SMALL_NET).eval()
    x = MetaTensor(torch.randn(1, 1, 32, 32, 4), meta={"spacing_um": (0.17, 0.17, 2.0)})
    with torch.no_grad():
        reference = net(x.as_tensor())
        fast = AutocastInferer(precision="fp32", channels_last=True)(x, net.to(memory_format=torch.channels_last_3d))
    assert fast.dtype == torch.float32 and fast.shape == (1, 1, 32, 32, 4)
    assert fast.meta["spacing_um"] == (0.17, 0.17, 2.0)
    assert torch.allclose(fast.as_tensor(), reference, atol=1e-5 * reference.abs().max().item())


def test_flip_tta_averages_the_probabilities_of_the_four_flips():
    torch.manual_seed(0)
    net = AnisotropicAttentionUNet(**SMALL_NET).eval()
    x = torch.randn(1, 1, 32, 48, 4)
    with torch.no_grad():
        probabilities = [torch.sigmoid(torch.flip(net(torch.flip(x, d)), d)) for d in ((), (2,), (3,), (2, 3))]
        expected = torch.logit(sum(probabilities) / 4)
        tta = AutocastInferer(precision="fp32", channels_last=False, flip_tta=True)(x, net)
        plain = AutocastInferer(precision="fp32", channels_last=False)(x, net)
    assert torch.allclose(tta, expected, atol=1e-4)
    assert not torch.allclose(tta, plain, atol=1e-3)  # a random network is not flip-symmetric: TTA changes something
    # a flip-equivariant network (a 1x1x1 convolution) gives the same logits with and without TTA
    pointwise = torch.nn.Conv3d(1, 1, 1).eval()
    with torch.no_grad():
        assert torch.allclose(AutocastInferer(precision="fp32", channels_last=False, flip_tta=True)(x, pointwise),
                              pointwise(x), atol=1e-4)


def test_the_inferer_needs_a_resolved_precision():
    for precision in ("auto", "fp64"):
        with pytest.raises(ValueError, match="resolved precision"):
            AutocastInferer(precision=precision)


def test_flip_tta_switch_reaches_the_inference_and_evaluate_inferers():
    for files in (bundle_configs("inference"), bundle_configs("inference", "evaluate")):
        config = ConfigParser()
        config.read_config(files)
        config.update({"bundle_root": str(BUNDLE_DIR), "flip_tta": "true"})
        assert config.get_parsed_content("inferer").flip_tta is True
        config.update({"flip_tta": False})
        assert config.get_parsed_content("inferer", lazy=False).flip_tta is False


def test_load_network_refuses_a_checkpoint_of_another_network_clearly(tmp_path):
    trained_without_attention = tmp_path / "baseline_variant.pt"
    torch.save(AnisotropicAttentionUNet(variant="baseline").state_dict(), trained_without_attention)
    with pytest.raises(ValueError, match=r"baseline_variant.pt does not match the configured network AnisotropicAttentionUNet "
                                         r"\(5 weights missing, e.g. decoders.0.gate.theta_x.weight\): set the network "
                                         r"parameters \(filters, variant, "):
        load_network(AnisotropicAttentionUNet(variant="AD"), trained_without_attention, channels_last=False)


def test_load_network_refuses_a_pickled_object_clearly(tmp_path):
    not_weights = tmp_path / "whole_model.pt"
    torch.save({"weights": object()}, not_weights)
    with pytest.raises(ValueError, match=r"whole_model.pt cannot be loaded as weights only"):
        load_network(AnisotropicAttentionUNet(), not_weights, channels_last=False)
