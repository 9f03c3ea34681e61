"""Tests for scripts.network.AnisotropicAttentionUNet (small inputs: a few seconds in all)."""

import pytest
import torch
from scripts.network import AnisotropicAttentionUNet, AttentionGate
from torch import nn

# Hand count for the default filters (8, 16, 32, 64, 128), no normalisation, 1 in / 1 out channel:
#   3x3x3 conv c_in -> c_out has 27*c_in*c_out + c_out parameters.
#   encoder + bottleneck: (1->8, 8->8) 1960; (8->16, 16->16) 10400; (16->32, 32->32) 41536;
#                         (32->64, 64->64) 166016; (64->128, 128->128) 663808            = 883720
#   decoder (up-conv kernel = stride, then 3x3x3 on the concat and 3x3x3):
#     128->64 (2,2,2): 65600 + 221248 + 110656;  64->32 (2,2,1): 8224 + 55328 + 27680;
#     32->16 (2,2,1): 2064 + 13840 + 6928;      16->8 (2,2,1): 520 + 3464 + 1736        = 517288
#   1x1x1 head 8->1: 9                                                                   -> 1401017
BASELINE_PARAMS = 1_401_017
# Attention gate on the deepest decoder level (skip 64 ch, gate 128 ch, 32 intermediate, stride (2,2,2)):
#   theta_x 64*32*8 (no bias) + phi_g 128*32+32 + psi 32+1 = 16384 + 4128 + 33
DEEPEST_GATE_PARAMS = 20_545


def n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def count(net: nn.Module, kind: type) -> int:
    return sum(isinstance(m, kind) for m in net.modules())


def test_parameter_count_matches_thesis_and_hand_count():
    assert n_params(AnisotropicAttentionUNet(variant="baseline")) == BASELINE_PARAMS
    default = AnisotropicAttentionUNet()
    assert default.variant == "AD"
    assert n_params(default) == BASELINE_PARAMS + DEEPEST_GATE_PARAMS
    assert 1_300_000 <= n_params(default) <= 1_500_000


@pytest.mark.parametrize("out_channels", [1, 2])
def test_output_shape_is_input_shape_with_out_channels(out_channels):
    net = AnisotropicAttentionUNet(out_channels=out_channels).eval()
    with torch.no_grad():
        y = net(torch.randn(2, 1, 32, 48, 4))
    assert y.shape == (2, out_channels, 32, 48, 4)
    assert y.dtype == torch.float32


def test_total_stride_is_16_16_2():
    assert AnisotropicAttentionUNet().total_stride == [16, 16, 2]


@pytest.mark.parametrize("shape", [(32, 40, 4), (40, 32, 4), (32, 32, 3)])
def test_indivisible_input_raises_clear_error(shape):
    net = AnisotropicAttentionUNet()
    with pytest.raises(ValueError, match=r"not divisible by the total stride \(16, 16, 2\)") as err:
        net(torch.randn(1, 1, *shape))
    assert "({}, {}, {})".format(*shape) in str(err.value)


def test_torchscript_matches_eager_and_keeps_the_error():
    torch.manual_seed(0)
    net = AnisotropicAttentionUNet(attention_levels=(1, 4)).eval()
    scripted = torch.jit.script(net)
    x = torch.randn(1, 1, 32, 32, 4)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), net(x), rtol=1e-5, atol=1e-5)
    with pytest.raises(Exception, match="not divisible"):
        scripted(torch.randn(1, 1, 32, 32, 3))


@pytest.mark.parametrize(
    "variant, gates, dropouts",
    # D/AD: one dropout before each of the 4 max-pools and each of the 4 transposed convs
    [("baseline", 0, 0), ("A", 1, 0), ("D", 0, 8), ("AD", 1, 8)],
)
def test_variants_differ_in_structure(variant, gates, dropouts):
    net = AnisotropicAttentionUNet(variant=variant)
    assert count(net, AttentionGate) == gates
    assert count(net, nn.Dropout) == dropouts
    assert all(m.p == 0.15 for m in net.modules() if isinstance(m, nn.Dropout))


def test_bottleneck_dropout_adds_one_layer_to_any_variant():
    net = AnisotropicAttentionUNet(variant="baseline", bottleneck_dropout=0.3)
    drops = [m for m in net.modules() if isinstance(m, nn.Dropout)]
    assert len(drops) == 1 and drops[0].p == 0.3


def test_attention_levels_are_configurable():
    all_levels = AnisotropicAttentionUNet(variant="A", attention_levels=(1, 2, 3, 4))
    assert count(all_levels, AttentionGate) == 4
    shallowest = AnisotropicAttentionUNet(variant="A", attention_levels=(4,))
    gate = shallowest.decoders[3].gate
    # the full-resolution skip has 8 channels, gated by the 16-channel decoder map one level down
    assert isinstance(gate, AttentionGate) and gate.theta_x.in_channels == 8 and gate.phi_g.in_channels == 16
    assert not isinstance(shallowest.decoders[0].gate, AttentionGate)
    # levels are ignored by the variants without attention
    assert count(AnisotropicAttentionUNet(variant="D", attention_levels=(1, 2)), AttentionGate) == 0
    with pytest.raises(ValueError, match="attention_levels"):
        AnisotropicAttentionUNet(attention_levels=(5,))


def test_attention_gate_scales_skip_by_sigmoid_coefficients():
    gate = AttentionGate(skip_channels=4, gate_channels=8, stride=(2, 2, 1))
    for conv in (gate.theta_x, gate.phi_g, gate.psi):
        nn.init.zeros_(conv.weight)
    nn.init.zeros_(gate.phi_g.bias)
    nn.init.constant_(gate.psi.bias, 0.0)  # sigmoid(0) = 0.5 everywhere
    skip, g = torch.randn(1, 4, 8, 8, 2), torch.randn(1, 8, 4, 4, 2)
    torch.testing.assert_close(gate(skip, g), 0.5 * skip)
    nn.init.constant_(gate.psi.bias, -50.0)  # sigmoid(-50) ~ 2e-22: the skip is switched off
    assert gate(skip, g).abs().max() < 1e-12


def test_dropout_is_active_only_in_training():
    torch.manual_seed(0)
    x = torch.randn(1, 1, 32, 32, 4)
    net = AnisotropicAttentionUNet(variant="D")
    net.train()
    assert not torch.equal(net(x), net(x))
    net.eval()
    assert torch.equal(net(x), net(x))


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_normalisation_is_configurable(norm):
    net = AnisotropicAttentionUNet(variant="baseline", norm=norm)
    kind = nn.BatchNorm3d if norm == "batch" else nn.InstanceNorm3d
    assert count(net, kind) == 18  # 2 per conv block: 4 encoder + bottleneck + 4 decoder
    # each norm adds a scale and a shift per channel and removes the now redundant conv bias: +1 per
    # output channel of the 18 convs, 2 * (8 + 16 + 32 + 64) + 2 * 128 + 2 * (64 + 32 + 16 + 8) = 736
    assert n_params(net) == BASELINE_PARAMS + 736
    with pytest.raises(ValueError, match="norm"):
        AnisotropicAttentionUNet(norm="group")


def test_invalid_arguments_are_refused():
    with pytest.raises(ValueError, match="variant"):
        AnisotropicAttentionUNet(variant="B")
    with pytest.raises(ValueError, match="out_channels"):
        AnisotropicAttentionUNet(out_channels=3)
    with pytest.raises(ValueError, match="strides"):
        AnisotropicAttentionUNet(strides=((2, 2, 1),) * 3)


def test_channels_last_and_bf16_autocast_give_the_same_prediction():
    torch.manual_seed(0)
    net = AnisotropicAttentionUNet().eval()
    x = torch.randn(1, 1, 32, 32, 4)
    with torch.no_grad():
        ref = net(x)
        net_cl = net.to(memory_format=torch.channels_last_3d)
        x_cl = x.contiguous(memory_format=torch.channels_last_3d)
        torch.testing.assert_close(net_cl(x_cl), ref, rtol=1e-4, atol=1e-4)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = net_cl(x_cl)
    assert low.shape == ref.shape
    # bf16 keeps ~3 significant digits; the logits stay close on this small random input
    assert (low.float() - ref).abs().max() < 0.1 * ref.abs().max()


def test_channels_last_layout_is_kept_through_every_convolution():
    # a layer that silently falls back to the default layout would pay a copy and lose the fast oneDNN path.
    # The thesis crop's 352 x 352 in x/y (z does not matter): PyTorch sends small convolutions (N*C*X*Y <= 20480)
    # to its native kernel, which returns the default layout; at 352 even the bottleneck (64 ch, 22 x 22) is oneDNN's.
    net = AnisotropicAttentionUNet(attention_levels=(1, 2, 3, 4)).eval().to(memory_format=torch.channels_last_3d)
    seen = []

    def check(module, inputs, output):
        seen.append(inputs[0].is_contiguous(memory_format=torch.channels_last_3d))

    for m in net.modules():
        if isinstance(m, (nn.Conv3d, nn.ConvTranspose3d)):
            m.register_forward_hook(check)
    with torch.no_grad():
        net(torch.randn(1, 1, 352, 352, 2).contiguous(memory_format=torch.channels_last_3d))
    assert len(seen) == 18 + 1 + 4 + 3 * 4 and all(seen)


@pytest.mark.parametrize("stride", [(2, 2, 1), (2, 2, 2), (1, 2, 1)])
def test_strided_max_pool_equals_max_pool_3d_values_and_layouts(stride):
    from scripts.network import StridedMaxPool3d

    x = torch.randn(2, 3, 16, 12, 8)
    expected = torch.nn.MaxPool3d(stride, stride)(x)
    assert torch.equal(StridedMaxPool3d(stride)(x), expected)
    channels_last = x.contiguous(memory_format=torch.channels_last_3d).to(torch.bfloat16)
    assert torch.equal(StridedMaxPool3d(stride)(channels_last).float(), torch.nn.MaxPool3d(stride, stride)(channels_last).float())


def test_with_native_pooling_is_a_copy_with_the_same_logits():
    """The copy handed to OpenVINO pools with one max-pool operation and computes the same logits; the network
    trained and run by PyTorch keeps its strided-view pooling."""
    from scripts.network import AnisotropicAttentionUNet, StridedMaxPool3d, with_native_pooling

    torch.manual_seed(0)
    network = AnisotropicAttentionUNet().eval()
    native = with_native_pooling(network)
    pools = [m for m in native.modules() if isinstance(m, StridedMaxPool3d)]
    assert len(pools) == 4 and all(m.native for m in pools)
    assert not any(m.native for m in network.modules() if isinstance(m, StridedMaxPool3d))
    x = torch.randn(1, 1, 32, 48, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(native(x), network(x))
