"""Pieces for training recurrent networks: init_recurrent_ and the layer-normalised LSTM cell."""

from __future__ import annotations

import math
import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqnets.models import scratch
from seqnets.models.recurrent import SequenceClassifier, init_recurrent_
from seqnets.models.scratch import LayerNormLSTMCell, LSTMCell, Recurrent

I, H, B, T = 3, 6, 4, 5  # noqa: E741 (the input size, as in the equations)

# module, number of gates
LAYERS = {
    "nn.LSTM": (lambda: nn.LSTM(I, H, num_layers=2, bidirectional=True), 4),
    "nn.GRU": (lambda: nn.GRU(I, H, num_layers=2), 3),
    "nn.RNN": (lambda: nn.RNN(I, H), 1),
    "nn.LSTMCell": (lambda: nn.LSTMCell(I, H), 4),
    "nn.GRUCell": (lambda: nn.GRUCell(I, H), 3),
    "nn.RNNCell": (lambda: nn.RNNCell(I, H), 1),
    "scratch.LSTMCell": (lambda: scratch.LSTMCell(I, H), 4),
    "scratch.GRUCell": (lambda: scratch.GRUCell(I, H), 3),
    "scratch.RNNCell": (lambda: scratch.RNNCell(I, H), 1),
    "LayerNormLSTMCell": (lambda: LayerNormLSTMCell(I, H), 4),
}


def params(module: nn.Module, prefix: str) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in module.named_parameters() if n.startswith(prefix)}


@pytest.mark.parametrize("kind", list(LAYERS))
def test_init_recurrent_sets_orthogonal_blocks_and_the_keep_gate_bias(kind: str) -> None:
    make, gates = LAYERS[kind]
    torch.manual_seed(0)
    layer = make()
    w_ih, b_before = params(layer, "weight_ih"), params(layer, "bias_")
    forget_bias = 1.5 if gates > 1 else None  # an Elman RNN has no keep gate
    assert init_recurrent_(layer, forget_bias=forget_bias) is layer
    weights = params(layer, "weight_hh")
    assert weights, "every recurrent layer has a weight_hh"
    for w in weights.values():
        for block in w.chunk(gates):  # (H, H), one per gate
            assert torch.allclose(block.T @ block, torch.eye(H), atol=1e-5)
    for name, b in params(layer, "bias_").items():
        want = torch.zeros(gates, H)
        if gates == 1:
            want = b_before[name].view(gates, H)  # forget_bias=None: left alone
        elif name.startswith("bias_ih"):
            want[1] = 1.5  # f of i, f, g, o; z of r, z, n
        assert torch.equal(b.view(gates, H), want), name
    unchanged = all(torch.equal(w_ih[n], p) for n, p in params(layer, "weight_ih").items())
    assert unchanged, "W_ih is left alone"


def test_init_recurrent_with_a_projection_gives_orthonormal_columns() -> None:
    torch.manual_seed(0)
    lstm = nn.LSTM(I, H, proj_size=2)
    w_hr = lstm.weight_hr_l0.detach().clone()
    init_recurrent_(lstm)
    for block in lstm.weight_hh_l0.detach().chunk(4):  # (H, P), one per gate
        assert block.shape == (H, 2)
        torch.testing.assert_close(block.T @ block, torch.eye(2))
    assert torch.equal(lstm.weight_hr_l0, w_hr), "the projection is left alone"


def test_options_leave_the_other_parameters_alone() -> None:
    torch.manual_seed(0)
    lstm = nn.LSTM(I, H)
    before = params(lstm, "")
    init_recurrent_(lstm, forget_bias=None)
    after = params(lstm, "")
    assert all(torch.equal(before[n], after[n]) for n in before if not n.startswith("weight_hh"))
    assert not torch.equal(before["weight_hh_l0"], after["weight_hh_l0"])
    before = after
    init_recurrent_(lstm, orthogonal=False)
    after = params(lstm, "")
    assert all(torch.equal(before[n], after[n]) for n in before if not n.startswith("bias"))
    assert after["bias_ih_l0"][H : 2 * H].eq(1.0).all()


KEEP_CELLS = {
    "nn.LSTMCell": lambda: nn.LSTMCell(I, H),
    "nn.GRUCell": lambda: nn.GRUCell(I, H),
    "scratch.LSTMCell": lambda: scratch.LSTMCell(I, H),
    "scratch.GRUCell": lambda: scratch.GRUCell(I, H),
    "LayerNormLSTMCell": lambda: LayerNormLSTMCell(I, H),
    "LayerNormLSTMCell, affine input": lambda: LayerNormLSTMCell(I, H, normalize_input=False),
}


@pytest.mark.parametrize("kind", list(KEEP_CELLS))
def test_the_keep_gate_keeps_sigmoid_of_the_bias(kind: str) -> None:
    """With zero input and zero recurrent weights only the biases act: the LSTM's cell state and
    the GRU's hidden state are multiplied by sigma(forget_bias) in one step."""
    b = 2.0
    torch.manual_seed(0)
    cell = KEEP_CELLS[kind]()
    init_recurrent_(cell, forget_bias=b)
    with torch.no_grad():
        cell.weight_hh.zero_()  # (a layer norm of zeros is zero, up to its epsilon)
    x = torch.zeros(B, I)
    old = torch.randn(B, H)
    if "LSTM" in kind:
        _, new = cell(x, (torch.randn(B, H), old))  # c' = f c + i g, with g = tanh(0) = 0
    else:
        new = cell(x, old)  # h' = (1 - z) n + z h, with n = tanh(0) = 0
    torch.testing.assert_close(new, torch.sigmoid(torch.tensor(b)) * old)


def test_init_recurrent_finds_the_layers_inside_a_model() -> None:
    torch.manual_seed(0)
    model = SequenceClassifier(I, 5, hidden_size=H, backbone="lstm", num_layers=2)
    head = params(model, "head")
    init_recurrent_(model)
    assert model.backbone.bias_ih_l1[H : 2 * H].eq(1.0).all()
    assert all(torch.equal(head[n], p) for n, p in params(model, "head").items())
    rec = Recurrent(LayerNormLSTMCell(I, H))
    init_recurrent_(rec, forget_bias=0.5)
    assert rec.cell.bias_ih[H : 2 * H].eq(0.5).all()


@pytest.mark.parametrize(
    ("module", "kwargs", "error", "match"),
    [
        (
            nn.Linear(3, 3),
            {},
            ValueError,
            "module: expected an RNN, LSTM or GRU .* found none in Linear",
        ),
        ("lstm", {}, TypeError, "module: expected a torch.nn.Module, got str"),
        (
            nn.LSTM(3, 3),
            {"forget_bias": math.inf},
            ValueError,
            "forget_bias: expected a finite number",
        ),
        (nn.LSTM(3, 3), {"forget_bias": "1"}, TypeError, "forget_bias"),
        (nn.LSTM(3, 3), {"orthogonal": 1}, TypeError, "orthogonal: expected a bool"),
        (
            nn.LSTM(3, 3, bias=False),
            {},
            ValueError,
            r"forget_bias: this LSTM was built with bias=False, .* pass forget_bias=None",
        ),
        (
            nn.GRUCell(3, 3, bias=False),
            {"forget_bias": 2.0},
            ValueError,
            "forget_bias: this GRUCell was built with bias=False",
        ),
        (
            nn.RNN(3, 3),
            {},
            ValueError,
            r"forget_bias: an Elman RNN \(RNN\) has no gate .* pass forget_bias=None",
        ),
    ],
)
def test_init_recurrent_validates(module, kwargs, error, match) -> None:
    before = params(module, "") if isinstance(module, nn.Module) else {}
    with pytest.raises(error, match=match):
        init_recurrent_(module, **kwargs)
    after = params(module, "") if isinstance(module, nn.Module) else {}
    assert all(torch.equal(before[n], after[n]) for n in before), "nothing was changed"


def test_init_recurrent_refuses_a_forget_bias_for_a_model_with_an_elman_layer() -> None:
    model = nn.ModuleDict({"lstm": nn.LSTM(I, H), "rnn": nn.RNN(H, H)})
    bias = model["lstm"].bias_ih_l0.detach().clone()
    with pytest.raises(ValueError, match="Elman RNN"):
        init_recurrent_(model)
    assert torch.equal(model["lstm"].bias_ih_l0, bias), "checked before anything changed"
    init_recurrent_(model, forget_bias=None)  # orthogonal W_hh only: fine


# -- the layer-normalised LSTM cell ------------------------------------------------------------


def reference_step(cell: LayerNormLSTMCell, x, h, c):
    """Ba et al.'s equations written out with F.layer_norm, gains and shift passed explicitly;
    with ``cell.norm_ih`` None (``normalize_input=False``) the input map stays affine."""
    g = 4 * H
    ax = x @ cell.weight_ih.T
    if cell.norm_ih is not None:
        ax = F.layer_norm(ax, (g,), cell.norm_ih.weight, None, 1e-5)
    ah = F.layer_norm(h @ cell.weight_hh.T, (g,), cell.norm_hh.weight, None, 1e-5)
    i, f, gg, o = (ax + cell.bias_ih + ah + cell.bias_hh).chunk(4, dim=1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(gg)
    normed_c = F.layer_norm(c, (H,), cell.norm_c.weight, cell.norm_c.bias, 1e-5)
    h = torch.sigmoid(o) * torch.tanh(normed_c)
    return h, c


def trained_looking_cell(normalize_input: bool = True) -> LayerNormLSTMCell:
    """A cell whose gains and shifts are not at their initial values, so each one is tested."""
    torch.manual_seed(0)
    cell = LayerNormLSTMCell(I, H, normalize_input=normalize_input).double()
    with torch.no_grad():
        for norm in (cell.norm_ih, cell.norm_hh, cell.norm_c):
            if norm is not None:
                norm.weight.uniform_(0.5, 1.5)
        cell.norm_c.bias.uniform_(-0.5, 0.5)
    return cell


@pytest.mark.parametrize("normalize_input", [True, False])
def test_layer_norm_cell_follows_the_equations(normalize_input: bool) -> None:
    cell = trained_looking_cell(normalize_input)
    x = torch.randn(B, I, dtype=torch.float64)
    h, c = torch.randn(B, H, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    for got, want in zip(cell(x, (h, c)), reference_step(cell, x, h, c), strict=True):
        torch.testing.assert_close(got, want)
    zero = torch.zeros(B, H, dtype=torch.float64)
    for got, want in zip(cell(x), reference_step(cell, x, zero, zero), strict=True):
        torch.testing.assert_close(got, want)


def test_layer_norm_cell_without_input_normalisation_keeps_the_input_scale() -> None:
    """normalize_input=False: no norm_ih, a repr that says so, and the input map stays affine,
    so scaling W_ih changes the output (it would not with normalize_input=True)."""
    cell = trained_looking_cell(normalize_input=False)
    assert cell.norm_ih is None and "norm_ih.weight" not in cell.state_dict()
    assert cell.extra_repr() == f"{I}, {H}, normalize_input=False"
    assert "normalize_input=False" in repr(cell) and "norm_ih" not in repr(cell)
    x, h, c = (torch.randn(B, n, dtype=torch.float64) for n in (I, H, H))
    before = cell(x, (h, c))[0]
    with torch.no_grad():
        cell.weight_ih.mul_(10.0)
    assert not torch.allclose(cell(x, (h, c))[0], before, atol=1e-2)
    with pytest.raises(TypeError, match="normalize_input: expected a bool"):
        LayerNormLSTMCell(I, H, normalize_input=0)


def test_layer_norm_cell_ignores_the_scale_of_its_weights() -> None:
    """Normalising each affine map makes the cell invariant to rescaling W_ih or W_hh."""
    cell = trained_looking_cell()
    x, h, c = (torch.randn(B, n, dtype=torch.float64) for n in (I, H, H))
    before = cell(x, (h, c))
    with torch.no_grad():
        cell.weight_ih.mul_(10.0)
        cell.weight_hh.mul_(3.0)
    after = cell(x, (h, c))
    for a, b in zip(before, after, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-4)  # up to LayerNorm's epsilon
    with torch.no_grad():
        cell.norm_hh.weight.mul_(3.0)  # the gains are not normalised away
    assert not torch.allclose(cell(x, (h, c))[0], after[0], atol=1e-2)


def test_layer_norm_cell_shares_lstm_cell_names_and_init() -> None:
    cell, lstm = LayerNormLSTMCell(I, H), LSTMCell(I, H)
    result = cell.load_state_dict(lstm.state_dict(), strict=False)
    assert result.unexpected_keys == []
    assert sorted(result.missing_keys) == [
        "norm_c.bias",
        "norm_c.weight",
        "norm_hh.weight",
        "norm_ih.weight",
    ]
    assert torch.equal(cell.weight_hh, lstm.weight_hh)
    with torch.no_grad():
        for p in cell.parameters():
            p.fill_(3.0)
    cell.reset_parameters()
    bound = 1 / math.sqrt(H)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        assert getattr(cell, name).abs().max() <= bound
    assert cell.norm_ih.weight.eq(1).all() and cell.norm_hh.weight.eq(1).all()
    assert cell.norm_c.weight.eq(1).all() and cell.norm_c.bias.eq(0).all()
    assert cell.extra_repr() == f"{I}, {H}"  # no "bias=False": the cell has its biases


@pytest.mark.parametrize("normalize_input", [True, False])
def test_layer_norm_cell_runs_over_a_sequence_and_learns(normalize_input: bool) -> None:
    """Shapes over a sequence, a gradient for every parameter, and 30 Adam steps that fit a
    small regression (the sum of each sequence's inputs) far better than at the start."""
    torch.manual_seed(0)
    rec = Recurrent(LayerNormLSTMCell(I, H, normalize_input=normalize_input))
    x = torch.randn(B, T, I)
    out, (h, c) = rec(x)
    assert out.shape == (B, T, H) and h.shape == c.shape == (B, H)
    torch.testing.assert_close(out[:, -1], h)
    out.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in rec.parameters())

    head = nn.Linear(H, 1)
    x = torch.randn(32, T, I)
    y = x.sum(dim=(1, 2)).unsqueeze(1) / math.sqrt(T * I)  # (32, 1), variance 1
    opt = torch.optim.Adam([*rec.parameters(), *head.parameters()], lr=3e-2)
    losses = []
    for _ in range(30):
        loss = F.mse_loss(head(rec(x)[0][:, -1]), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.3 * losses[0], losses


def test_layer_norm_cell_warns_when_it_would_keep_only_the_sign_of_one_input() -> None:
    with pytest.warns(UserWarning, match="keeps only the sign of x"):
        cell = LayerNormLSTMCell(1, H)
    pixel = torch.tensor([[1.0], [3.0]])
    h = cell(pixel)[0]
    torch.testing.assert_close(h[0], h[1], rtol=0, atol=1e-3)  # what the warning says
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # none of these warns
        LayerNormLSTMCell(1, H, normalize_input=False)
        LayerNormLSTMCell(2, H)


def test_layer_norm_cell_checks_its_inputs() -> None:
    cell = LayerNormLSTMCell(I, H)
    with pytest.raises(ValueError, match=rf"x: expected shape \(batch, {I}\)"):
        cell(torch.zeros(B, I + 1))
    with pytest.raises(ValueError, match=r"state\[1\] \(c\): expected shape"):
        cell(torch.zeros(B, I), (torch.zeros(B, H), torch.zeros(B, H + 1)))
    with pytest.raises(TypeError, match="state: expected a tuple"):
        cell(torch.zeros(B, I), torch.zeros(B, H))
    with pytest.raises(ValueError, match="hidden_size: expected an integer >= 1"):
        LayerNormLSTMCell(I, 0)
