"""Recurrent cells written from their equations, and a loop that runs any of them over time.

The job of a *cell* is to take one time step of input ``x_t`` and the previous state and return
the next state. :class:`RNNCell`, :class:`LSTMCell` and :class:`GRUCell` use exactly the
parameter names, shapes, gate order and initialisation of ``torch.nn.RNNCell``,
``torch.nn.LSTMCell`` and ``torch.nn.GRUCell``, so a cell can load the ``state_dict`` of its
PyTorch twin and compute the same numbers::

    mine = GRUCell(3, 5)
    mine.load_state_dict(torch.nn.GRUCell(3, 5).state_dict())

Every cell has the same two affine maps, one of the input and one of the previous hidden state,

.. math::

    a^x_t = W_{ih} x_t + b_{ih}, \\qquad a^h_t = W_{hh} h_{t-1} + b_{hh},

stacked for all its gates (1 for the Elman RNN, 4 for the LSTM, 3 for the GRU: ``weight_ih`` has
shape ``(gates * hidden_size, input_size)``). The cells differ only in what they do with
:math:`a^x_t` and :math:`a^h_t`. :class:`Recurrent` unrolls a cell over a sequence.

These modules are for reading and checking, not for speed: ``torch.nn.RNN``, ``nn.LSTM`` and
``nn.GRU`` run the same recurrences with fused kernels.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from seqnets.utils import check_bool, check_positive_int, check_tensor

__all__ = ["RNNCell", "LSTMCell", "LayerNormLSTMCell", "GRUCell", "Recurrent"]

#: What a cell's ``forward`` returns: ``h`` for the RNN and GRU, ``(h, c)`` for the LSTM.
State = Tensor | tuple[Tensor, Tensor]


class _Cell(nn.Module):
    """Parameters, initialisation, input checks and the two affine maps shared by all cells.

    Subclasses set ``num_gates`` and implement ``forward``.
    """

    num_gates: int = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        self.input_size = check_positive_int(input_size, "input_size")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        check_bool(bias, "bias")
        self.bias = bias
        rows = self.num_gates * self.hidden_size
        self.weight_ih = nn.Parameter(torch.empty(rows, self.input_size))  # (G*H, I)
        self.weight_hh = nn.Parameter(torch.empty(rows, self.hidden_size))  # (G*H, H)
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(rows))  # (G*H,)
            self.bias_hh = nn.Parameter(torch.empty(rows))  # (G*H,)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Draw every weight and bias from ``U(-1/sqrt(H), 1/sqrt(H))``, as PyTorch does."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        return s if self.bias else s + ", bias=False"

    # -- checks ---------------------------------------------------------------------------------

    def _check_input(self, x: Any) -> Tensor:
        x = check_tensor(x, "x", floating=True)
        if x.dim() != 2 or x.shape[1] != self.input_size:
            raise ValueError(
                f"x: expected shape (batch, {self.input_size}) (input_size={self.input_size}), got {tuple(x.shape)}"
            )
        return x

    def _check_hidden(self, h: Any, x: Tensor, name: str) -> Tensor:
        """``h`` if given, else zeros; must be ``(B, H)`` with ``x``'s batch size."""
        if h is None:
            return x.new_zeros(x.shape[0], self.hidden_size)
        h = check_tensor(h, name, floating=True)
        if tuple(h.shape) != (x.shape[0], self.hidden_size):
            raise ValueError(
                f"{name}: expected shape (batch, hidden_size) = ({x.shape[0]}, {self.hidden_size}), "
                f"got {tuple(h.shape)}"
            )
        return h

    # -- the shared arithmetic -----------------------------------------------------------------

    def _affine(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """Return ``(W_ih x + b_ih, W_hh h + b_hh)``, each ``(B, G*H)`` for the ``G`` gates."""
        return F.linear(x, self.weight_ih, self.bias_ih), F.linear(h, self.weight_hh, self.bias_hh)


class RNNCell(_Cell):
    """The Elman cell: one affine map of input and state, then a nonlinearity.

    .. math::

        h_t = \\phi(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh}),
        \\qquad \\phi = \\tanh \\text{ or } \\operatorname{ReLU}.

    Parameters
    ----------
    input_size, hidden_size : int
    bias : bool
        Whether to learn ``bias_ih`` and ``bias_hh`` (shape ``(H,)`` each).
    nonlinearity : {"tanh", "relu"}

    Shapes: ``x`` ``(B, input_size)``, ``h`` ``(B, hidden_size)``; ``weight_ih`` ``(H, I)``,
    ``weight_hh`` ``(H, H)``. ``forward(x, h=None)`` returns the new ``h``.
    """

    num_gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh") -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, bias)

    def extra_repr(self) -> str:
        s = super().extra_repr()
        return s if self.nonlinearity == "tanh" else s + f", nonlinearity={self.nonlinearity!r}"

    def forward(self, x: Tensor, state: Tensor | None = None) -> Tensor:
        x = self._check_input(x)  # (B, I)
        h = self._check_hidden(state, x, "state")  # (B, H)
        ax, ah = self._affine(x, h)  # (B, H) each
        if self.nonlinearity == "tanh":
            return torch.tanh(ax + ah)
        return torch.relu(ax + ah)


class LSTMCell(_Cell):
    """Long short-term memory cell (Hochreiter & Schmidhuber, 1997; with a forget gate).

    The stacked affine maps are split into four gates, in PyTorch's order i, f, g, o:

    .. math::

        \\begin{aligned}
        i_t &= \\sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi}) &&\\text{input gate}\\\\
        f_t &= \\sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf}) &&\\text{forget gate}\\\\
        g_t &= \\tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}) &&\\text{candidate}\\\\
        o_t &= \\sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho}) &&\\text{output gate}\\\\
        c_t &= f_t \\odot c_{t-1} + i_t \\odot g_t\\\\
        h_t &= o_t \\odot \\tanh(c_t)
        \\end{aligned}

    Shapes: ``x`` ``(B, I)``; ``h``, ``c`` ``(B, H)``; ``weight_ih`` ``(4H, I)``, ``weight_hh``
    ``(4H, H)``, biases ``(4H,)``. ``forward(x, state=None)`` takes and returns ``(h, c)``;
    ``None`` means both zero.
    """

    num_gates = 4

    def _check_state(self, state: Any, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(h, c)``, each ``(B, H)``, from ``state`` (``None``: zeros)."""
        if state is None:
            h = c = None
        elif isinstance(state, (tuple, list)) and len(state) == 2:
            h, c = state
            if h is None or c is None:
                raise TypeError("state: expected (h, c) with two tensors or None for both, got a None inside")
        else:
            raise TypeError(f"state: expected a tuple (h, c) of two tensors, got {type(state).__name__}")
        return self._check_hidden(h, x, "state[0] (h)"), self._check_hidden(c, x, "state[1] (c)")

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        x = self._check_input(x)  # (B, I)
        h, c = self._check_state(state, x)  # (B, H) each
        ax, ah = self._affine(x, h)  # (B, 4H) each
        i, f, g, o = (ax + ah).chunk(4, dim=1)  # (B, H) each
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g
        h = o * torch.tanh(c)
        return h, c


class LayerNormLSTMCell(LSTMCell):
    """LSTM cell with layer normalisation (Ba, Kiros & Hinton, 2016).

    Each of the two affine maps is normalised over its ``4H`` gate pre-activations before the
    biases are added, and the cell state is normalised before the output nonlinearity:

    .. math::

        \\begin{aligned}
        (a^i_t, a^f_t, a^g_t, a^o_t) &= \\operatorname{LN}_{ih}(W_{ih} x_t) + b_{ih}
            + \\operatorname{LN}_{hh}(W_{hh} h_{t-1}) + b_{hh}\\\\
        c_t &= \\sigma(a^f_t) \\odot c_{t-1} + \\sigma(a^i_t) \\odot \\tanh(a^g_t)\\\\
        h_t &= \\sigma(a^o_t) \\odot \\tanh(\\operatorname{LN}_c(c_t)),
        \\end{aligned}

    where :math:`\\operatorname{LN}(a) = \\alpha \\odot (a - \\mu) / \\sqrt{\\sigma^2 + \\epsilon}
    \\,(+ \\beta)` uses the mean :math:`\\mu` and variance :math:`\\sigma^2` of the vector's own
    entries, one example at a time. ``norm_ih`` and ``norm_hh`` have gains only: the paper's shifts
    would duplicate the biases. ``norm_c`` has a gain and a shift.

    Normalising :math:`W_{ih} x_t` discards the scale of :math:`x_t`: with a single input feature,
    :math:`\\operatorname{LN}(W_{ih} x_t)` depends on the sign of :math:`x_t` only, and the cell
    warns (``UserWarning``) when built that way. For inputs with few features,
    ``normalize_input=False`` leaves the input map affine, :math:`W_{ih} x_t + b_{ih}`, and
    normalises the recurrent map and the cell state only.

    The parameters of :class:`LSTMCell` keep their names, shapes and initialisation (the gains start
    at 1, the shift at 0), so ``cell.load_state_dict(lstm_cell.state_dict(), strict=False)`` loads
    an LSTM cell's weights; the outputs differ, since normalising changes the function.

    Parameters
    ----------
    input_size, hidden_size : int
    normalize_input : bool
        Normalise the input map (``True``, as in the paper) or leave it affine (``False``, and then
        ``norm_ih`` is ``None``).

    Shapes: ``x`` ``(B, I)``; ``h``, ``c`` ``(B, H)``. ``forward(x, state=None)`` takes and returns
    ``(h, c)``, and :class:`Recurrent` runs it over a sequence like any cell.
    """

    def __init__(self, input_size: int, hidden_size: int, normalize_input: bool = True) -> None:
        check_bool(normalize_input, "normalize_input")
        super().__init__(input_size, hidden_size)
        if normalize_input and self.input_size == 1:
            warnings.warn(
                "LayerNormLSTMCell: with input_size=1 and normalize_input=True, LN(W_ih x) keeps "
                "only the sign of x and discards its size; pass normalize_input=False to keep it",
                UserWarning,
                stacklevel=2,
            )
        gates = self.num_gates * self.hidden_size
        self.norm_ih = nn.LayerNorm(gates, bias=False) if normalize_input else None
        self.norm_hh = nn.LayerNorm(gates, bias=False)
        self.norm_c = nn.LayerNorm(self.hidden_size)

    def reset_parameters(self) -> None:
        """Weights and biases as :class:`LSTMCell`; gains 1 and shift 0 for the normalisations."""
        super().reset_parameters()
        for norm in self.children():  # none yet when _Cell.__init__ calls this method
            if isinstance(norm, nn.LayerNorm):
                norm.reset_parameters()

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        return s if self.norm_ih is not None else s + ", normalize_input=False"

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        x = self._check_input(x)  # (B, I)
        h, c = self._check_state(state, x)  # (B, H) each
        ax = F.linear(x, self.weight_ih)  # (B, 4H)
        if self.norm_ih is not None:
            ax = self.norm_ih(ax)
        ax = ax + self.bias_ih
        ah = self.norm_hh(F.linear(h, self.weight_hh)) + self.bias_hh  # (B, 4H)
        i, f, g, o = (ax + ah).chunk(4, dim=1)  # (B, H) each
        i, f, g, o = torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)
        c = f * c + i * g
        h = o * torch.tanh(self.norm_c(c))
        return h, c


class GRUCell(_Cell):
    """Gated recurrent unit cell (Cho et al., 2014), with PyTorch's gate order r, z, n.

    .. math::

        \\begin{aligned}
        r_t &= \\sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}) &&\\text{reset gate}\\\\
        z_t &= \\sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}) &&\\text{update gate}\\\\
        n_t &= \\tanh(W_{in} x_t + b_{in} + r_t \\odot (W_{hn} h_{t-1} + b_{hn})) &&\\text{candidate}\\\\
        h_t &= (1 - z_t) \\odot n_t + z_t \\odot h_{t-1}
        \\end{aligned}

    Note where :math:`b_{hn}` sits: inside the reset gate's product, as in PyTorch (and cuDNN).
    That is why the input and hidden affine maps are kept apart here instead of summed.

    Shapes: ``x`` ``(B, I)``, ``h`` ``(B, H)``; ``weight_ih`` ``(3H, I)``, ``weight_hh``
    ``(3H, H)``, biases ``(3H,)``. ``forward(x, h=None)`` returns the new ``h``.
    """

    num_gates = 3

    def forward(self, x: Tensor, state: Tensor | None = None) -> Tensor:
        x = self._check_input(x)  # (B, I)
        h = self._check_hidden(state, x, "state")  # (B, H)
        ax, ah = self._affine(x, h)  # (B, 3H) each
        ax_r, ax_z, ax_n = ax.chunk(3, dim=1)  # (B, H) each
        ah_r, ah_z, ah_n = ah.chunk(3, dim=1)
        r = torch.sigmoid(ax_r + ah_r)
        z = torch.sigmoid(ax_z + ah_z)
        n = torch.tanh(ax_n + r * ah_n)
        return (1 - z) * n + z * h


class Recurrent(nn.Module):
    """Run a cell over every step of a sequence: the recurrence, unrolled in time.

    .. math::

        s_t = \\operatorname{cell}(x_t, s_{t-1}), \\quad t = 1, \\dots, T,

    where the state ``s_t`` is ``h_t`` (RNN, GRU) or ``(h_t, c_t)`` (LSTM) and ``s_0`` is the
    given ``state`` (zeros if ``None``). The output at step ``t`` is ``h_t``.

    Parameters
    ----------
    cell : RNNCell, LSTMCell or GRUCell
        Any module with this package's cell interface.
    batch_first : bool
        ``True`` (default): ``x`` is ``(B, T, I)`` and outputs are ``(B, T, H)``. ``False``:
        ``(T, B, I)`` and ``(T, B, H)``, as in ``nn.RNN``'s default.

    ``forward(x, state=None)`` returns ``(outputs, final_state)``; ``final_state`` has the cell's
    state form (``h`` ``(B, H)``, or ``(h, c)``). For a one-layer, unidirectional ``nn.RNN`` /
    ``nn.LSTM`` / ``nn.GRU`` with ``batch_first=True`` the outputs are the same; note that those
    modules return their final state with a leading layer axis, ``(1, B, H)``.
    """

    def __init__(self, cell: _Cell, batch_first: bool = True) -> None:
        super().__init__()
        if not isinstance(cell, _Cell):
            raise TypeError(
                f"cell: expected an RNNCell, LSTMCell or GRUCell from seqnets.models.scratch, got {type(cell).__name__}"
            )
        check_bool(batch_first, "batch_first")
        self.cell = cell
        self.batch_first = batch_first

    def extra_repr(self) -> str:
        return f"batch_first={self.batch_first}"

    def forward(self, x: Tensor, state: State | None = None) -> tuple[Tensor, State]:
        layout = "(batch, time, features)" if self.batch_first else "(time, batch, features)"
        x = check_tensor(x, "x", floating=True)
        if x.dim() != 3:
            raise ValueError(f"x: expected a 3-D tensor {layout}, got shape {tuple(x.shape)}")
        if x.shape[2] != self.cell.input_size:
            raise ValueError(
                f"x: expected {self.cell.input_size} features on the last axis (input_size), got shape {tuple(x.shape)}"
            )
        if not self.batch_first:
            x = x.transpose(0, 1)  # (B, T, I)
        if x.shape[1] == 0:
            raise ValueError(f"x: expected at least one time step, got shape {tuple(x.shape)}")
        outputs = []
        for t in range(x.shape[1]):
            state = self.cell(x[:, t], state)  # h (B, H) or (h, c)
            outputs.append(state[0] if isinstance(state, tuple) else state)
        assert state is not None  # for the type checker: the loop ran at least once
        out = torch.stack(outputs, dim=1)  # (B, T, H)
        if not self.batch_first:
            out = out.transpose(0, 1)  # (T, B, H)
        return out, state
