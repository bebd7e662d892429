"""The from-scratch cells equal PyTorch's, value for value and gradient for gradient."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from seqnets.models.scratch import GRUCell, LSTMCell, Recurrent, RNNCell

I, H, B, T = 3, 5, 4, 7  # noqa: E741 (the input size, as in the equations)

# (ours, torch cell, torch layer, extra kwargs)
KINDS = {
    "rnn_tanh": (RNNCell, nn.RNNCell, nn.RNN, {}),
    "rnn_relu": (RNNCell, nn.RNNCell, nn.RNN, {"nonlinearity": "relu"}),
    "lstm": (LSTMCell, nn.LSTMCell, nn.LSTM, {}),
    "gru": (GRUCell, nn.GRUCell, nn.GRU, {}),
}


def make_pair(kind: str, bias: bool = True, dtype: torch.dtype = torch.float32):
    ours_cls, theirs_cls, _, kw = KINDS[kind]
    torch.manual_seed(0)
    theirs = theirs_cls(I, H, bias=bias, **kw).to(dtype)
    ours = ours_cls(I, H, bias=bias, **kw).to(dtype)
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def random_state(kind: str, dtype: torch.dtype = torch.float32):
    g = torch.Generator().manual_seed(1)
    if kind == "lstm":
        return (torch.randn(B, H, generator=g, dtype=dtype), torch.randn(B, H, generator=g, dtype=dtype))
    return torch.randn(B, H, generator=g, dtype=dtype)


def flat(state) -> list[torch.Tensor]:
    return list(state) if isinstance(state, tuple) else [state]


@pytest.mark.parametrize("kind", list(KINDS))
def test_parameter_names_shapes_and_init_match_torch(kind: str) -> None:
    ours_cls, theirs_cls, _, kw = KINDS[kind]
    ours, theirs = ours_cls(I, H, **kw), theirs_cls(I, H, **kw)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in theirs.state_dict().items()}
    bound = 1 / H**0.5
    big = ours_cls(I, 400, **kw)  # enough draws to see the whole interval
    for p in big.parameters():
        assert p.abs().max() <= 1 / 400**0.5
        assert p.abs().max() > 0.9 / 400**0.5
    for p in ours.parameters():
        assert p.abs().max() <= bound


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", list(KINDS))
def test_cell_matches_torch_cell(kind: str, bias: bool) -> None:
    ours, theirs = make_pair(kind, bias)
    x = torch.randn(B, I)
    state = random_state(kind)
    for got, want in zip(flat(ours(x, state)), flat(theirs(x, state)), strict=True):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=0)
    # state=None means zeros
    for got, want in zip(flat(ours(x)), flat(theirs(x)), strict=True):
        torch.testing.assert_close(got, want, atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind", list(KINDS))
def test_cell_gradients_match_torch(kind: str) -> None:
    ours, theirs = make_pair(kind, dtype=torch.float64)
    x = torch.randn(B, I, dtype=torch.float64, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    state = random_state(kind, torch.float64)
    w = torch.randn(B, H, dtype=torch.float64)
    sum((s * w).sum() for s in flat(ours(x, state))).backward()
    sum((s * w).sum() for s in flat(theirs(x2, state))).backward()
    torch.testing.assert_close(x.grad, x2.grad, atol=1e-10, rtol=0)
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters(), strict=True):
        torch.testing.assert_close(p.grad, q.grad, atol=1e-10, rtol=0, msg=name)


def torch_layer_and_ours(kind: str, bias: bool = True, dtype: torch.dtype = torch.float32):
    ours_cls, _, layer_cls, kw = KINDS[kind]
    torch.manual_seed(0)
    layer = layer_cls(I, H, num_layers=1, bias=bias, batch_first=True, **kw).to(dtype)
    cell = ours_cls(I, H, bias=bias, **kw).to(dtype)
    cell.load_state_dict({k.removesuffix("_l0"): v for k, v in layer.state_dict().items()})
    return Recurrent(cell), layer


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", list(KINDS))
def test_recurrent_matches_torch_layer(kind: str, bias: bool) -> None:
    ours, layer = torch_layer_and_ours(kind, bias)
    x = torch.randn(B, T, I)
    state = random_state(kind)
    torch_state = tuple(s[None] for s in flat(state))  # torch wants (num_layers, B, H)
    out, final = ours(x, state)
    want_out, want_final = layer(x, torch_state if kind == "lstm" else torch_state[0])
    assert out.shape == (B, T, H)
    torch.testing.assert_close(out, want_out, atol=1e-6, rtol=0)
    for got, want in zip(flat(final), flat(want_final), strict=True):
        torch.testing.assert_close(got, want[0], atol=1e-6, rtol=0)
    # zero initial state
    out0, _ = ours(x)
    torch.testing.assert_close(out0, layer(x)[0], atol=1e-6, rtol=0)


@pytest.mark.parametrize("kind", list(KINDS))
def test_recurrent_gradients_match_torch_layer(kind: str) -> None:
    ours, layer = torch_layer_and_ours(kind, dtype=torch.float64)
    x = torch.randn(B, T, I, dtype=torch.float64, requires_grad=True)
    x2 = x.detach().clone().requires_grad_(True)
    w = torch.randn(B, T, H, dtype=torch.float64)
    (ours(x)[0] * w).sum().backward()
    (layer(x2)[0] * w).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad, atol=1e-10, rtol=0)
    theirs = dict(layer.named_parameters())
    for name, p in ours.cell.named_parameters():
        torch.testing.assert_close(p.grad, theirs[name + "_l0"].grad, atol=1e-10, rtol=0, msg=name)


@pytest.mark.parametrize("kind", list(KINDS))
def test_state_passing_splits_a_sequence(kind: str) -> None:
    """Running 0..T in one go equals running 0..k, then k..T from the state reached at k."""
    ours, _ = torch_layer_and_ours(kind)
    x = torch.randn(B, T, I)
    whole, final = ours(x)
    first, mid = ours(x[:, :3])
    second, final2 = ours(x[:, 3:], mid)
    torch.testing.assert_close(torch.cat([first, second], dim=1), whole)
    for a, b in zip(flat(final), flat(final2), strict=True):
        torch.testing.assert_close(a, b)
    # the state really is used: a different start gives different outputs
    other, _ = ours(x[:, 3:], random_state(kind))
    assert not torch.allclose(other, second)


def test_recurrent_time_major() -> None:
    cell = GRUCell(I, H)
    x = torch.randn(B, T, I)
    out_bf, h_bf = Recurrent(cell)(x)
    out_tm, h_tm = Recurrent(cell, batch_first=False)(x.transpose(0, 1))
    assert out_tm.shape == (T, B, H)
    torch.testing.assert_close(out_tm.transpose(0, 1), out_bf)
    torch.testing.assert_close(h_tm, h_bf)


def test_final_state_is_last_output() -> None:
    out, (h, c) = Recurrent(LSTMCell(I, H))(torch.randn(B, T, I))
    torch.testing.assert_close(out[:, -1], h)
    assert c.shape == (B, H)


def test_bias_false_has_no_bias_parameters() -> None:
    cell = LSTMCell(I, H, bias=False)
    assert cell.bias_ih is None and cell.bias_hh is None
    assert sorted(n for n, _ in cell.named_parameters()) == ["weight_hh", "weight_ih"]
    assert "bias=False" in repr(cell)


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", [RNNCell, LSTMCell, GRUCell])
def test_cell_rejects_bad_input(cls) -> None:
    cell = cls(I, H)
    with pytest.raises(ValueError, match=r"x: expected shape \(batch, 3\)"):
        cell(torch.randn(B, I + 1))
    with pytest.raises(ValueError, match=r"x: expected shape \(batch, 3\).*got \(4, 2, 3\)"):
        cell(torch.randn(B, 2, I))
    with pytest.raises(TypeError, match="x: expected a torch.Tensor"):
        cell([[0.0] * I])
    with pytest.raises(TypeError, match="x: expected a floating-point tensor"):
        cell(torch.ones(B, I, dtype=torch.long))


def test_cell_rejects_bad_state() -> None:
    with pytest.raises(ValueError, match=r"state: expected shape \(batch, hidden_size\) = \(4, 5\), got \(4, 6\)"):
        RNNCell(I, H)(torch.randn(B, I), torch.randn(B, H + 1))
    with pytest.raises(ValueError, match=r"state: expected shape .* got \(1, 4, 5\)"):
        GRUCell(I, H)(torch.randn(B, I), torch.randn(1, B, H))
    with pytest.raises(TypeError, match=r"state: expected a tuple \(h, c\)"):
        LSTMCell(I, H)(torch.randn(B, I), torch.randn(B, H))
    with pytest.raises(ValueError, match=r"state\[1\] \(c\): expected shape"):
        LSTMCell(I, H)(torch.randn(B, I), (torch.randn(B, H), torch.randn(B + 1, H)))


def test_constructors_reject_bad_arguments() -> None:
    with pytest.raises(ValueError, match="hidden_size: expected an integer >= 1, got 0"):
        RNNCell(I, 0)
    with pytest.raises(TypeError, match="input_size"):
        GRUCell(3.0, H)
    with pytest.raises(ValueError, match="nonlinearity: expected 'tanh' or 'relu', got 'sigmoid'"):
        RNNCell(I, H, nonlinearity="sigmoid")
    with pytest.raises(TypeError, match="bias: expected a bool"):
        LSTMCell(I, H, bias=1)
    with pytest.raises(TypeError, match="cell: expected an RNNCell, LSTMCell or GRUCell"):
        Recurrent(nn.GRUCell(I, H))


def test_recurrent_rejects_bad_input() -> None:
    rec = Recurrent(RNNCell(I, H))
    with pytest.raises(ValueError, match=r"x: expected a 3-D tensor \(batch, time, features\), got shape \(4, 3\)"):
        rec(torch.randn(B, I))
    with pytest.raises(ValueError, match=r"x: expected 3 features on the last axis"):
        rec(torch.randn(B, T, I + 2))
    with pytest.raises(ValueError, match="x: expected at least one time step"):
        rec(torch.randn(B, 0, I))
    with pytest.raises(ValueError, match=r"x: expected a 3-D tensor \(time, batch, features\)"):
        Recurrent(RNNCell(I, H), batch_first=False)(torch.randn(T, I))
