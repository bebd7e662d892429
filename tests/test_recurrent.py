"""Tests of seqnets.models.recurrent: shapes, validation, padding, the bidirectional summary, training."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqnets.models.recurrent import BACKBONES, CRNN, SequenceClassifier, SequenceRegressor

RECURRENT = ("rnn", "lstm", "gru")


def make(cls, backbone, **kwargs):
    torch.manual_seed(0)
    extra = {"levels": 3} if backbone == "tcn" else {}
    extra.update(kwargs)
    if cls is SequenceClassifier:
        return SequenceClassifier(3, 5, hidden_size=8, backbone=backbone, **extra)
    return SequenceRegressor(3, output_size=7, hidden_size=8, backbone=backbone, **extra)


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("cls,out", [(SequenceClassifier, 5), (SequenceRegressor, 7)])
def test_output_shape_every_backbone(cls, out, backbone):
    model = make(cls, backbone)
    assert model(torch.randn(4, 11, 3)).shape == (4, out)
    assert model(torch.randn(1, 1, 3)).shape == (1, out)  # one sequence of one step


@pytest.mark.parametrize("backbone", RECURRENT)
def test_bidirectional_and_stacked_shapes(backbone):
    model = SequenceClassifier(3, 5, hidden_size=8, backbone=backbone, num_layers=2, bidirectional=True, dropout=0.1)
    assert model.feature_size == 16
    assert model(torch.randn(4, 6, 3)).shape == (4, 5)


def test_regressor_default_output_is_one_step():
    assert SequenceRegressor(2, hidden_size=4)(torch.randn(3, 5, 2)).shape == (3, 1)


def test_tcn_levels_default_to_num_layers():
    a = SequenceRegressor(1, 1, hidden_size=4, backbone="tcn", num_layers=4)
    b = SequenceRegressor(1, 1, hidden_size=4, backbone="tcn", levels=4)
    assert sum(p.numel() for p in a.parameters()) == sum(p.numel() for p in b.parameters())
    c = SequenceRegressor(1, 1, hidden_size=4, backbone="tcn", num_layers=2)
    assert sum(p.numel() for p in c.parameters()) < sum(p.numel() for p in a.parameters())


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"backbone": "transformer"}, ValueError, "backbone: expected one of"),
        ({"backbone": "tcn", "bidirectional": True}, ValueError, "bidirectional: a TCN is causal"),
        ({"backbone": "lstm", "levels": 3}, ValueError, "levels: only backbone='tcn'"),
        ({"backbone": "gru", "kernel_size": 5, "weight_norm": True}, ValueError, "kernel_size, weight_norm: only"),
        ({"backbone": "tcn", "dilation": 2}, TypeError, "unexpected keyword"),
        ({"backbone": "lstm", "hiden_size": 8}, TypeError, "unexpected keyword argument 'hiden_size'"),
        ({"backbone": "tcn", "levels": 0}, ValueError, "levels: expected an integer >= 1"),
        ({"hidden_size": 0}, ValueError, "hidden_size: expected an integer >= 1"),
        ({"hidden_size": 8.0}, TypeError, "hidden_size: expected an integer"),
        ({"num_layers": 0}, ValueError, "num_layers"),
        ({"dropout": 1.0}, ValueError, r"dropout: expected a number in \[0, 1\)"),
        ({"dropout": "0.1"}, TypeError, "dropout"),
        ({"bidirectional": 1}, TypeError, "bidirectional: expected a bool"),
    ],
)
def test_bad_constructor_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        SequenceClassifier(3, 5, **kwargs)


def test_bad_sizes():
    with pytest.raises(ValueError, match="num_classes: expected an integer >= 2"):
        SequenceClassifier(3, 1)
    with pytest.raises(ValueError, match="input_size"):
        SequenceRegressor(0, 1)
    with pytest.raises(ValueError, match="output_size"):
        SequenceRegressor(3, 0)


@pytest.mark.parametrize(
    "x,lengths,error,match",
    [
        (torch.randn(4, 3), None, ValueError, r"x: expected a 3-D tensor, got shape \(4, 3\)"),
        (torch.randn(4, 6, 2), None, ValueError, r"x: expected shape \(batch, time, 3\)"),
        (torch.zeros(4, 6, 3, dtype=torch.long), None, TypeError, "x: expected a floating-point tensor"),
        (torch.randn(4, 0, 3), None, ValueError, "at least one time step"),
        ([[0.0] * 3], None, TypeError, "x: expected a torch.Tensor"),
        (torch.randn(4, 6, 3), torch.tensor([6, 6, 6]), ValueError, r"lengths: expected shape \(4,\)"),
        (torch.randn(4, 6, 3), torch.tensor([6, 0, 6, 6]), ValueError, r"lengths: expected integers in \[1, 6\]"),
        (torch.randn(4, 6, 3), torch.tensor([6, 7, 6, 6]), ValueError, r"lengths: expected integers in \[1, 6\]"),
        (torch.randn(4, 6, 3), torch.full((4,), 6.0), TypeError, "lengths: expected an integer tensor"),
    ],
)
@pytest.mark.parametrize("backbone", ["gru", "tcn"])
def test_bad_forward_inputs(backbone, x, lengths, error, match):
    model = make(SequenceClassifier, backbone)
    with pytest.raises(error, match=match):
        model(x, lengths)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_last_step_ignores_padding_you_do_not_feed(backbone):
    """Sequences of different lengths padded with garbage give the outputs of the unpadded ones."""
    model = make(SequenceRegressor, backbone).eval()
    torch.manual_seed(1)
    lengths = torch.tensor([9, 4, 1, 6])
    x = torch.randn(4, 9, 3)
    padded = x.clone()
    for b, n in enumerate(lengths):
        padded[b, n:] = 100.0 * torch.randn(9 - n, 3)  # garbage after the real steps
    with torch.no_grad():
        batched = model(padded, lengths)
        one_by_one = torch.cat([model(x[b : b + 1, :n]) for b, n in enumerate(lengths)])
        # and the garbage really would change the answer if it were read
        unmasked = model(padded)
    torch.testing.assert_close(batched, one_by_one, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(unmasked[1:], one_by_one[1:], atol=1e-3)


@pytest.mark.parametrize("backbone", RECURRENT)
def test_bidirectional_padding_and_summary(backbone):
    torch.manual_seed(0)
    model = SequenceClassifier(3, 5, hidden_size=8, backbone=backbone, bidirectional=True).eval()
    x = torch.randn(3, 7, 3)
    with torch.no_grad():
        out, _ = model.backbone(x)  # (B, T, 2H)
        expected = torch.cat([out[:, -1, :8], out[:, 0, 8:]], dim=-1)
        torch.testing.assert_close(model.features(x), expected)
        lengths = torch.tensor([7, 3, 5])
        padded = x.clone()
        padded[1, 3:] = 50.0
        padded[2, 5:] = -50.0
        batched = model(padded, lengths)
        one_by_one = torch.cat([model(x[b : b + 1, :n]) for b, n in enumerate(lengths)])
    torch.testing.assert_close(batched, one_by_one, atol=1e-5, rtol=1e-5)


def test_dropout_only_in_training_mode():
    torch.manual_seed(0)
    model = SequenceRegressor(3, 4, hidden_size=32, backbone="gru", dropout=0.5)
    x = torch.randn(8, 5, 3)
    model.train()
    assert not torch.equal(model(x), model(x))
    model.eval()
    assert torch.equal(model(x), model(x))


@pytest.mark.parametrize("backbone", BACKBONES)
def test_classifier_overfits_a_small_batch(backbone):
    """A tiny batch with labels that depend on an early step must be memorised."""
    torch.manual_seed(0)
    x = torch.randn(32, 6, 3)
    y = (x[:, 1, 0] > 0).long() + 2 * (x[:, 4, 1] > 0).long()  # 4 classes, read two different steps
    model = SequenceClassifier(3, 4, hidden_size=16, backbone=backbone, **({"levels": 2} if backbone == "tcn" else {}))
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(200):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    accuracy = (model(x).argmax(-1) == y).float().mean().item()
    assert accuracy == 1.0, f"{backbone}: train accuracy {accuracy}, loss {loss.item():.3f}"


def test_regressor_learns_direct_multistep_targets():
    torch.manual_seed(0)
    x = torch.randn(64, 5, 1)
    y = x[:, -1, :].repeat(1, 3) * torch.tensor([1.0, -1.0, 0.5])  # three outputs at once
    model = SequenceRegressor(1, output_size=3, hidden_size=16, backbone="lstm")
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    start = nn.functional.mse_loss(model(x), y).item()
    for _ in range(200):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
    assert loss.item() < 0.01 * start, f"MSE fell from {start:.3f} to {loss.item():.4f} only"


# ----------------------------------------------------------------------------- CRNN


def test_crnn_shapes_and_columns():
    torch.manual_seed(0)
    model = CRNN(height=8, num_classes=10, channels=(4, 8), hidden_size=8)
    x = torch.randn(5, 1, 8, 8)
    assert model.columns(x).shape == (5, 4, 8 * 2)  # W' = 8 // 2 columns of C * H' = 8 * 2 features
    assert model(x).shape == (5, 10)
    assert model(torch.randn(2, 1, 8, 20)).shape == (2, 10)  # any width
    rgb = CRNN(height=32, num_classes=3, in_channels=3, channels=(4, 4, 4), bidirectional=False, hidden_size=4)
    assert rgb.columns(torch.randn(1, 3, 32, 16)).shape == (1, 8, 4 * 4)


def test_crnn_reads_columns_left_to_right():
    """Changing the rightmost image columns leaves the left feature columns, and the GRU's state
    after reading them, unchanged; the final output changes."""
    torch.manual_seed(0)
    model = CRNN(height=8, num_classes=4, channels=(4,), hidden_size=8, bidirectional=False).eval()
    x = torch.randn(1, 1, 8, 12)
    y = x.clone()
    y[..., 8:] = torch.randn(1, 1, 8, 4)  # image columns 8-11
    with torch.no_grad():
        cx, cy = model.columns(x), model.columns(y)
        # feature column 3 pools image columns 6-7, and the 3x3 kernel at column 7 reads column 8
        torch.testing.assert_close(cx[:, :3], cy[:, :3])
        assert not torch.allclose(cx[:, 3:], cy[:, 3:])
        # the GRU reads left to right: its outputs at the first three columns ignore the later ones
        out_x, _ = model.rnn.backbone(cx)  # (1, W', H)
        out_y, _ = model.rnn.backbone(cy)
        torch.testing.assert_close(out_x[:, :3], out_y[:, :3])
        assert not torch.allclose(out_x[:, 3:], out_y[:, 3:])
        assert not torch.allclose(model(x), model(y))


def test_crnn_bad_inputs():
    with pytest.raises(ValueError, match="height"):
        CRNN(3, 10, channels=(4, 4))
    with pytest.raises(TypeError, match="channels"):
        CRNN(8, 10, channels=())
    model = CRNN(8, 10, channels=(4,), hidden_size=4)
    with pytest.raises(ValueError, match="expected height 8"):
        model(torch.randn(2, 1, 9, 8))
    with pytest.raises(ValueError, match="expected 1 channels"):
        model(torch.randn(2, 3, 8, 8))
    with pytest.raises(ValueError, match="4-D"):
        model(torch.randn(2, 8, 8))


# --------------------------------------------------------------------------------------------
# SequenceTagger: one answer per step
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backbone", ["rnn", "gru", "lstm", "tcn"])
def test_tagger_answers_every_step_and_is_causal(backbone):
    from seqnets.models.recurrent import SequenceTagger

    torch.manual_seed(0)
    options = {"levels": 3, "kernel_size": 2} if backbone == "tcn" else {}
    model = SequenceTagger(3, 5, hidden_size=6, backbone=backbone, **options).eval()
    x = torch.randn(2, 12, 3)
    out = model(x)
    assert out.shape == (2, 12, 5)
    changed = x.clone()
    changed[:, 7:] += 1.0  # the future of step 6
    moved = (model(changed) - out).abs().amax(dim=(0, 2))  # (T,)
    assert (moved[:7] == 0).all(), "answers up to step 6 must not read later steps"
    assert (moved[7:] > 0).all()


def test_tagger_refuses_lengths_and_a_single_class():
    from seqnets.models.recurrent import SequenceTagger

    model = SequenceTagger(3, 5, hidden_size=4, backbone="gru")
    with pytest.raises(ValueError, match="lengths: SequenceTagger answers at every step"):
        model(torch.zeros(2, 4, 3), torch.tensor([4, 2]))
    with pytest.raises(ValueError, match="num_classes: expected an integer >= 2"):
        SequenceTagger(3, 1)
    with pytest.raises(ValueError, match=r"x: expected shape \(batch, time, 3\)"):
        model(torch.zeros(2, 4, 2))
