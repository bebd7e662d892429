"""Tests of seqnets.models.conv: causality (property-based), receptive fields, masks, PixelCNN, errors."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from seqnets.models.conv import (
    TCN,
    CausalConv1d,
    GatedActivation,
    MaskedConv2d,
    PixelCNN,
    TemporalBlock,
    receptive_field,
)

FAST = settings(max_examples=30, deadline=None)


def future_leaks(layer, x: torch.Tensor, t: int, time_dim: int) -> bool:
    """Whether perturbing ``x`` after time ``t`` changes any output at times ``<= t``."""
    with torch.no_grad():
        y = layer(x)
        x2 = x.clone()
        future = x2.narrow(time_dim, t + 1, x.shape[time_dim] - t - 1)  # a view: edits x2
        future.add_(10.0 * torch.randn_like(future))
        y2 = layer(x2)
    return not torch.allclose(y.narrow(time_dim, 0, t + 1), y2.narrow(time_dim, 0, t + 1), atol=1e-6, rtol=0)


# ---------------------------------------------------------------------------------------------
# CausalConv1d
# ---------------------------------------------------------------------------------------------


@FAST
@given(
    k=st.integers(1, 5),
    dilation=st.integers(1, 4),
    c_in=st.integers(1, 3),
    c_out=st.integers(1, 3),
    length=st.integers(2, 30),
    data=st.data(),
)
def test_causal_conv_is_causal(k, dilation, c_in, c_out, length, data):
    t = data.draw(st.integers(0, length - 2), label="t")
    torch.manual_seed(k * 100 + dilation * 10 + length)
    conv = CausalConv1d(c_in, c_out, k, dilation)
    x = torch.randn(2, c_in, length)
    assert conv(x).shape == (2, c_out, length)
    assert not future_leaks(conv, x, t, time_dim=2)


def test_causality_check_can_fail():
    """The same check flags an ordinary 'same'-padded convolution, which reads the future."""
    torch.manual_seed(0)
    leaky = nn.Conv1d(1, 1, 3, padding=1)
    assert future_leaks(leaky, torch.randn(1, 1, 10), 4, time_dim=2)


def test_causal_conv_equals_the_sum_formula():
    """y[t] = b + sum_j W[k-1-j] x[t - j d], with x[s] = 0 for s < 0."""
    torch.manual_seed(0)
    k, d, length = 3, 2, 9
    conv = CausalConv1d(2, 1, k, dilation=d)
    x = torch.randn(1, 2, length)
    w, b = conv.weight[0], conv.bias[0]  # (C_in, k), ()
    expected = torch.stack(
        [
            b + sum((w[:, k - 1 - j] * x[0, :, t - j * d]).sum() for j in range(k) if t - j * d >= 0)
            for t in range(length)
        ]
    )
    torch.testing.assert_close(conv(x)[0, 0], expected)


def test_causal_conv_shares_state_dict_with_conv1d():
    conv = CausalConv1d(2, 3, 4, dilation=2)
    plain = nn.Conv1d(2, 3, 4, dilation=2)
    plain.load_state_dict(conv.state_dict())
    x = torch.randn(1, 2, 12)
    # a plain convolution over the left-padded input gives the same result
    torch.testing.assert_close(conv(x), plain(nn.functional.pad(x, (conv.left_padding, 0))))


# ---------------------------------------------------------------------------------------------
# TemporalBlock, TCN and the receptive field
# ---------------------------------------------------------------------------------------------


@FAST
@given(
    k=st.integers(2, 4),
    levels=st.integers(1, 3),
    input_size=st.integers(1, 3),
    length=st.integers(2, 40),
    weight_norm=st.booleans(),
    data=st.data(),
)
def test_tcn_is_causal(k, levels, input_size, length, weight_norm, data):
    t = data.draw(st.integers(0, length - 2), label="t")
    torch.manual_seed(levels * 1000 + length)
    tcn = TCN(input_size, 4, levels, kernel_size=k, dropout=0.2, weight_norm=weight_norm).eval()
    x = torch.randn(3, length, input_size)
    assert tcn(x).shape == (3, length, 4)
    assert not future_leaks(tcn, x, t, time_dim=1)


def gradient_footprint(tcn: TCN, length: int) -> int:
    """Number of input steps with a nonzero gradient of the last output step."""
    with torch.no_grad():  # positive weights, biases and inputs: no ReLU is ever off, nothing cancels
        for p in tcn.parameters():
            p.uniform_(0.1, 1.0)
    x = torch.rand(1, length, tcn.input_size, requires_grad=True)
    tcn(x)[0, -1].sum().backward()
    return int((x.grad[0].abs().sum(dim=1) > 0).sum())


@FAST
@given(k=st.integers(2, 5), levels=st.integers(1, 4), input_size=st.integers(1, 2))
def test_receptive_field_equals_gradient_footprint(k, levels, input_size):
    r = receptive_field(k, levels)
    tcn = TCN(input_size, 3, levels, kernel_size=k)
    assert tcn.receptive_field == r
    assert gradient_footprint(tcn, r + 7) == r  # longer input: exactly r steps are read
    assert gradient_footprint(tcn, r - 1) == r - 1  # shorter: all of them


def test_receptive_field_formula():
    assert receptive_field(2, 1) == 3  # two convolutions with two taps
    assert receptive_field(3, 4) == 1 + 2 * 2 * (1 + 2 + 4 + 8)
    assert [receptive_field(2, L) for L in range(1, 6)] == [3, 7, 15, 31, 63]


def test_temporal_block_residual():
    same = TemporalBlock(4, 4, 3, dilation=1)
    wider = TemporalBlock(2, 4, 3, dilation=2)
    assert isinstance(same.residual, nn.Identity)
    assert isinstance(wider.residual, nn.Conv1d) and wider.residual.kernel_size == (1,)
    assert wider(torch.randn(2, 2, 10)).shape == (2, 4, 10)
    # zero convolutions: the block reduces to ReLU(x)
    with torch.no_grad():
        for conv in (same.conv1, same.conv2):
            conv.weight.zero_()
            conv.bias.zero_()
    x = torch.randn(2, 4, 10)
    torch.testing.assert_close(same(x), torch.relu(x))


def test_weight_norm_option_parametrises_the_convolutions():
    block = TemporalBlock(2, 3, 3, dilation=1, weight_norm=True)
    assert nn.utils.parametrize.is_parametrized(block.conv1, "weight")
    assert not nn.utils.parametrize.is_parametrized(TemporalBlock(2, 3, 3, dilation=1).conv1)


def test_tcn_dropout_is_active_only_in_training():
    torch.manual_seed(0)
    tcn = TCN(2, 8, 2, dropout=0.5)
    x = torch.randn(2, 20, 2)
    assert not torch.equal(tcn(x), tcn(x))  # two dropout masks
    tcn.eval()
    assert torch.equal(tcn(x), tcn(x))


# ---------------------------------------------------------------------------------------------
# Masked convolutions and the PixelCNN
# ---------------------------------------------------------------------------------------------


def raster_leaks(layer, x: torch.Tensor, r: int, inclusive: bool) -> bool:
    """Whether changing input pixels at raster index ``> r`` (``>= r`` if ``inclusive``)
    changes any output at raster index ``<= r``."""
    h, w = x.shape[-2:]
    index = torch.arange(h * w).reshape(h, w)
    later = (index >= r) if inclusive else (index > r)
    with torch.no_grad():
        x2 = x.clone()
        if x.is_floating_point():
            x2[..., later] += 10.0 * torch.randn_like(x2[..., later])
        else:  # integer levels: flip to another valid value
            x2[..., later] = (x2[..., later] + 1) % layer.num_values
        y, y2 = layer(x), layer(x2)
    upto = index <= r
    return not torch.allclose(y[..., upto], y2[..., upto], atol=1e-6, rtol=0)


@FAST
@given(
    mask_type=st.sampled_from(["A", "B"]),
    k=st.sampled_from([1, 3, 5]),
    c_in=st.integers(1, 3),
    size=st.integers(2, 7),
    data=st.data(),
)
def test_masked_conv_respects_raster_order(mask_type, k, c_in, size, data):
    r = data.draw(st.integers(0, size * size - 1), label="r")
    torch.manual_seed(r)
    conv = MaskedConv2d(mask_type, c_in, 2, k)
    x = torch.randn(2, c_in, size, size)
    assert conv(x).shape == (2, 2, size, size)
    # mask A: output (i, j) ignores input (i, j) and everything after it; mask B: everything after it
    assert not raster_leaks(conv, x, r, inclusive=(mask_type == "A"))


def test_mask_b_reads_the_current_pixel_and_mask_a_does_not():
    x = torch.randn(1, 1, 5, 5)
    for mask_type, reads_centre in (("A", False), ("B", True)):
        conv = MaskedConv2d(mask_type, 1, 1, 3, bias=False)
        with torch.no_grad():
            conv.weight.fill_(1.0)
        assert raster_leaks(conv, x, 12, inclusive=True) is reads_centre
    # and the check can fail: an unmasked convolution reads later pixels
    assert raster_leaks(nn.Conv2d(1, 1, 3, padding=1), x, 12, inclusive=False)


def test_mask_pattern_and_masked_weights_get_no_gradient():
    conv = MaskedConv2d("A", 1, 1, 3)
    assert conv.mask[0, 0].tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert MaskedConv2d("B", 1, 1, 3).mask[0, 0].tolist() == [[1, 1, 1], [1, 1, 0], [0, 0, 0]]
    conv(torch.randn(2, 1, 4, 4)).sum().backward()
    assert torch.all(conv.weight.grad[(conv.mask == 0).expand_as(conv.weight)] == 0)
    assert "mask" not in conv.state_dict()  # a fixed buffer, rebuilt from mask_type


@FAST
@given(levels=st.sampled_from([2, 5]), size=st.integers(2, 6), data=st.data())
def test_pixelcnn_is_autoregressive(levels, size, data):
    r = data.draw(st.integers(0, size * size - 1), label="r")
    torch.manual_seed(size)
    model = PixelCNN(num_values=levels, channels=8, layers=2, first_kernel_size=5)
    x = torch.randint(0, levels, (2, 1, size, size))
    assert model(x).shape == (2, levels, size, size)
    # the distribution of pixel r is computed from the pixels strictly before it
    assert not raster_leaks(model, x, r, inclusive=True)


def test_pixelcnn_log_prob_and_seeded_sampling():
    torch.manual_seed(0)
    model = PixelCNN(num_values=3, channels=8, layers=1)
    x = torch.randint(0, 3, (4, 1, 5, 6))
    logp = model.log_prob(x)
    manual = torch.log_softmax(model(x), dim=1).gather(1, x).flatten(1).sum(1)
    torch.testing.assert_close(logp, manual)
    samples = model.sample(3, (5, 6), seed=1)
    assert samples.shape == (3, 1, 5, 6) and samples.dtype == torch.long
    assert 0 <= int(samples.min()) and int(samples.max()) <= 2
    assert torch.equal(samples, model.sample(3, (5, 6), seed=1))
    assert model.training  # sampling restored the training flag


def test_sampling_follows_the_model():
    """A model whose logits favour level 1 everywhere draws mostly ones."""
    model = PixelCNN(num_values=2, channels=4, layers=0)
    with torch.no_grad():
        last = model.head[-1]
        last.weight.zero_()
        last.bias.copy_(torch.tensor([0.0, 3.0]))  # p(1) = sigmoid(3) = 0.95
    frac = model.sample(50, (4, 4), seed=0).float().mean().item()
    assert 0.9 < frac < 0.99


def test_gated_activation():
    x = torch.randn(2, 6, 5)
    torch.testing.assert_close(GatedActivation()(x), torch.tanh(x[:, :3]) * torch.sigmoid(x[:, 3:]))
    assert GatedActivation()(torch.randn(1, 4, 3, 3)).shape == (1, 2, 3, 3)


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make,error,match",
    [
        (lambda: CausalConv1d(0, 2, 3), ValueError, "in_channels: expected an integer >= 1"),
        (lambda: CausalConv1d(1, 2, 0), ValueError, "kernel_size: expected an integer >= 1"),
        (lambda: CausalConv1d(1, 2, 3, dilation=1.5), TypeError, "dilation: expected an integer"),
        (lambda: TemporalBlock(1, 2, 3, 1, dropout=1.0), ValueError, r"dropout: expected a number in \[0, 1\)"),
        (lambda: TCN(1, 2, 0), ValueError, "levels: expected an integer >= 1"),
        (lambda: receptive_field(3, 0), ValueError, "levels"),
        (lambda: MaskedConv2d("C", 1, 1, 3), ValueError, "mask_type: expected 'A' or 'B'"),
        (lambda: MaskedConv2d("A", 1, 1, 4), ValueError, "kernel_size: expected odd sizes"),
        (lambda: MaskedConv2d("A", 1, 1, (3, 5, 7)), ValueError, "kernel_size: expected an int or a pair"),
        (lambda: MaskedConv2d("A", 1, 1, 3, stride=2), ValueError, "stride: expected 1"),
        (lambda: MaskedConv2d("A", 1, 1, 3, padding=0), ValueError, "padding: expected"),
        (lambda: MaskedConv2d("A", 1, 1, 3, padding_mode="circular"), ValueError, "padding_mode: expected 'zeros'"),
        (lambda: PixelCNN(num_values=1), ValueError, "num_values: expected an integer >= 2"),
        (lambda: PixelCNN(kernel_size=2), ValueError, "kernel_size: expected odd"),
    ],
)
def test_constructor_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_forward_errors():
    with pytest.raises(ValueError, match=r"x: expected a 3-D tensor"):
        CausalConv1d(2, 2, 3)(torch.randn(2, 5))
    with pytest.raises(ValueError, match=r"x: expected 2 channels \(batch, channels, time\), got shape \(1, 3, 5\)"):
        CausalConv1d(2, 2, 3)(torch.randn(1, 3, 5))
    with pytest.raises(TypeError, match="x: expected a floating-point tensor"):
        CausalConv1d(1, 1, 3)(torch.ones(1, 1, 5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"x: expected shape \(batch, time, 3\) \(batch-first\)"):
        TCN(3, 4, 2)(torch.randn(2, 3, 10))  # channels-first by mistake
    with pytest.raises(ValueError, match="x: expected a 4-D tensor"):
        MaskedConv2d("A", 1, 1, 3)(torch.randn(1, 5, 5))
    with pytest.raises(ValueError, match="even number of channels"):
        GatedActivation()(torch.randn(2, 3, 4))
    model = PixelCNN(num_values=2, channels=4, layers=0)
    with pytest.raises(TypeError, match="x: expected an integer tensor of pixel levels"):
        model(torch.rand(1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"x: expected pixel values in 0..1, got values in 0..2"):
        model(torch.tensor([[[[0, 2], [1, 0]]]]))
    with pytest.raises(ValueError, match="x: expected single-channel images"):
        model(torch.zeros(1, 3, 4, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="temperature: expected a number > 0"):
        model.sample(1, seed=0, temperature=0)
    with pytest.raises(ValueError, match=r"size: expected \(height, width\)"):
        model.sample(1, size=8)


# ---------------------------------------------------------------------------------------------
# seqnets.plot.plot_receptive_field
# ---------------------------------------------------------------------------------------------


def test_plot_receptive_field_colours_exactly_the_receptive_field():
    import matplotlib.pyplot as plt

    from seqnets.plot import plot_receptive_field

    fig, ax = plt.subplots()
    try:
        dilations = [1, 1, 2, 2]  # a two-level TCN with k = 3
        plot_receptive_field(3, dilations, ax=ax)
        r = receptive_field(3, 2)
        assert f"reads {r} input steps" in ax.get_title()
        # the red dots on the input row are the receptive field: the last r steps
        reached = [c for c in ax.collections if c.get_offsets().shape[0] and (c.get_offsets()[:, 1] == 0).all()]
        red = [c for c in reached if c.get_offsets().shape[0] == r]
        assert red and sorted(red[0].get_offsets()[:, 0]) == list(range(4, r + 4))
        with pytest.raises(TypeError, match="dilations: expected a non-empty sequence"):
            plot_receptive_field(2, [], ax=ax)
        with pytest.raises(ValueError, match="dilations: expected an integer >= 1"):
            plot_receptive_field(2, [1, 0], ax=ax)
    finally:
        plt.close(fig)
