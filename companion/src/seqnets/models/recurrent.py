"""Task heads over a sequence backbone: classify a sequence, or regress one or many values from it.

A *backbone* reads a batch-first sequence ``(B, T, F)`` and summarises it in one feature vector
per sequence ``(B, D)``; a linear *head* maps that vector to logits or to regression outputs:

.. math::

    s = \\operatorname{summary}(\\operatorname{backbone}(x_{1:T})), \\qquad
    \\hat y = W s + b .

The summary of a causal backbone (``"rnn"``, ``"lstm"``, ``"gru"`` and ``"tcn"``) is its output
at the last time step, which has read the whole sequence. A bidirectional recurrent backbone
concatenates the forward direction's output at the last step with the backward direction's output
at the first step: each of them has read every step.

:class:`CharLM` is a language model over the same causal backbones: it embeds token ids and
applies its head at every step, ``(B, T) -> (B, T, V)``, so that the output at step ``t`` scores
the token at step ``t + 1``.

:class:`SequenceClassifier` and :class:`SequenceRegressor` differ only in the size and meaning of
the head, so both are thin subclasses of :class:`SequenceHead`, which builds the backbone.
:class:`SequenceTagger` applies the head at every step instead, ``(B, T, F) -> (B, T, C)``: one
answer per step, as the copy-memory task asks.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from seqnets.models import scratch
from seqnets.models.conv import TCN
from seqnets.utils import (
    check_bool,
    check_channels,
    check_module,
    check_number,
    check_positive_int,
    check_tensor,
)

__all__ = [
    "BACKBONES",
    "SequenceHead",
    "SequenceClassifier",
    "SequenceRegressor",
    "SequenceTagger",
    "CharLM",
    "CRNN",
    "init_recurrent_",
]

#: Names accepted by the ``backbone`` argument.
BACKBONES = ("rnn", "lstm", "gru", "tcn")

_RECURRENT = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


def _build_backbone(
    input_size: int,
    hidden_size: int,
    backbone: str,
    num_layers: int,
    bidirectional: bool,
    dropout: float,
    levels: int | None,
    kernel_size: int | None,
    weight_norm: bool,
) -> tuple[nn.Module, int]:
    """Return ``(module, feature_size)`` for one of :data:`BACKBONES`.

    The module maps ``(B, T, input_size)`` to ``(B, T, feature_size)`` (the recurrent modules
    return a tuple whose first item is that tensor).
    """
    if not isinstance(backbone, str) or backbone not in BACKBONES:
        raise ValueError(f"backbone: expected one of {BACKBONES}, got {backbone!r}")
    check_bool(bidirectional, "bidirectional")
    check_bool(weight_norm, "weight_norm")
    if backbone == "tcn":
        if bidirectional:
            raise ValueError("bidirectional: a TCN is causal by construction; expected False for backbone='tcn'")
        levels = num_layers if levels is None else check_positive_int(levels, "levels")
        kernel_size = 3 if kernel_size is None else check_positive_int(kernel_size, "kernel_size")
        tcn = TCN(input_size, hidden_size, levels, kernel_size=kernel_size, dropout=dropout, weight_norm=weight_norm)
        return tcn, hidden_size
    given = [name for name, value in (("levels", levels), ("kernel_size", kernel_size)) if value is not None]
    if weight_norm:
        given.append("weight_norm")
    if given:
        raise ValueError(f"{', '.join(given)}: only backbone='tcn' uses them, got backbone={backbone!r}")
    rnn = _RECURRENT[backbone](
        input_size,
        hidden_size,
        num_layers=num_layers,
        batch_first=True,
        bidirectional=bidirectional,
        # PyTorch applies this dropout between stacked layers only (and warns if there are none).
        dropout=dropout if num_layers > 1 else 0.0,
    )
    return rnn, hidden_size * (2 if bidirectional else 1)


class SequenceHead(nn.Module):
    """The job of a ``SequenceHead`` is to map a whole sequence to one output vector.

    Parameters
    ----------
    input_size : int
        Features per time step, ``F``.
    output_size : int
        Size of the output vector, ``O``.
    hidden_size : int
        Hidden size of the recurrent layers, or channels of the TCN.
    backbone : {"lstm", "gru", "rnn", "tcn"}
        ``"rnn"`` is the Elman RNN with :math:`\\tanh`; ``"tcn"`` is :class:`seqnets.models.conv.TCN`.
    num_layers : int
        Stacked recurrent layers; for the TCN, the number of residual levels unless ``levels`` is
        given.
    bidirectional : bool
        Read the sequence in both directions (recurrent backbones only).
    dropout : float
        Dropout probability between stacked recurrent layers, inside the TCN's blocks, and on the
        summary vector fed to the head.
    levels, kernel_size, weight_norm
        Residual levels (default ``num_layers``), kernel size (default 3) and weight normalisation
        of the TCN; backbone ``"tcn"`` only (a ``ValueError`` otherwise).

    Shape
    -----
    ``x``: ``(B, T, F)``; ``lengths`` (optional): ``(B,)`` integers in ``[1, T]``; output: ``(B, O)``.
    """

    def __init__(
        self,
        input_size: int,
        output_size: int,
        hidden_size: int = 64,
        backbone: str = "lstm",
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        *,
        levels: int | None = None,
        kernel_size: int | None = None,
        weight_norm: bool = False,
    ) -> None:
        super().__init__()
        self.input_size = check_positive_int(input_size, "input_size")
        self.output_size = check_positive_int(output_size, "output_size")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        self.num_layers = check_positive_int(num_layers, "num_layers")
        dropout = check_number(dropout, "dropout", low=0, high=1, high_open=True)
        self.backbone_name = backbone
        self.bidirectional = bidirectional
        self.backbone, self.feature_size = _build_backbone(
            self.input_size,
            self.hidden_size,
            backbone,
            self.num_layers,
            bidirectional,
            dropout,
            levels,
            kernel_size,
            weight_norm,
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.feature_size, self.output_size)

    def _check_inputs(self, x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor | None:
        check_tensor(x, "x", ndim=3, floating=True)
        if x.shape[-1] != self.input_size:
            raise ValueError(
                f"x: expected shape (batch, time, {self.input_size}), {self.input_size} features per step, "
                f"got {tuple(x.shape)}"
            )
        if x.shape[1] == 0:
            raise ValueError(f"x: expected at least one time step, got shape {tuple(x.shape)}")
        if lengths is None:
            return None
        check_tensor(lengths, "lengths", ndim=1)
        if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
            raise TypeError(f"lengths: expected an integer tensor, got dtype {lengths.dtype}")
        if lengths.shape[0] != x.shape[0]:
            raise ValueError(
                f"lengths: expected shape ({x.shape[0]},) to match the batch of x, got {tuple(lengths.shape)}"
            )
        if bool((lengths < 1).any()) or bool((lengths > x.shape[1]).any()):
            raise ValueError(
                f"lengths: expected integers in [1, {x.shape[1]}], got min {int(lengths.min())}, max {int(lengths.max())}"
            )
        return lengths.to(device=x.device, dtype=torch.long)

    def features(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Summary vector of each sequence, ``(B, T, F) -> (B, D)``.

        ``lengths[b]`` is the number of real steps of sequence ``b``; the steps after it are
        padding and do not influence the result. ``None`` means every step is real.
        """
        lengths = self._check_inputs(x, lengths)
        batch, steps, _ = x.shape
        if lengths is None:
            last = torch.full((batch,), steps - 1, dtype=torch.long, device=x.device)
        else:
            last = lengths - 1
        if isinstance(self.backbone, TCN):
            out = self.backbone(x)  # (B, T, H); causal, so out[:, t] has read x[:, :t+1] only
            return out[torch.arange(batch, device=x.device), last]  # (B, H)
        sequence: torch.Tensor | nn.utils.rnn.PackedSequence = x
        if lengths is not None:
            # Packing makes each direction stop (forward) or start (backward) at the real last step.
            sequence = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, state = self.backbone(sequence)
        h_n = state[0] if isinstance(state, tuple) else state  # (layers * directions, B, H)
        if self.bidirectional:
            # Last layer: forward direction's state after the last step, backward's after the first.
            return torch.cat([h_n[-2], h_n[-1]], dim=-1)  # (B, 2H)
        return h_n[-1]  # (B, H)

    def steps(self, x: torch.Tensor) -> torch.Tensor:
        """Output of the backbone at every step, ``(B, T, F) -> (B, T, D)``.

        For a causal backbone, ``steps(x)[:, t]`` has read ``x[:, : t + 1]`` only.
        """
        self._check_inputs(x, None)
        out = self.backbone(x)
        return out[0] if isinstance(out, tuple) else out  # recurrent modules return (out, state)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, T, F) -> (B, O)``; see :meth:`features` for ``lengths``."""
        return self.head(self.dropout(self.features(x, lengths)))  # (B, O)

    def extra_repr(self) -> str:
        return f"backbone={self.backbone_name!r}, output_size={self.output_size}"


class SequenceClassifier(SequenceHead):
    """Classify a sequence: ``(B, T, F) -> (B, C)`` logits (unnormalised log-probabilities).

    Train with :class:`torch.nn.CrossEntropyLoss`; ``logits.argmax(-1)`` is the predicted class.
    See :class:`SequenceHead` for the arguments; ``num_classes`` is the output size.

    Examples
    --------
    >>> model = SequenceClassifier(input_size=8, num_classes=10, hidden_size=16, backbone="gru")
    >>> model(torch.zeros(4, 8, 8)).shape
    torch.Size([4, 10])
    """

    def __init__(
        self,
        input_size: int,
        num_classes: int,
        hidden_size: int = 64,
        backbone: str = "lstm",
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        *,
        levels: int | None = None,
        kernel_size: int | None = None,
        weight_norm: bool = False,
    ) -> None:
        num_classes = check_positive_int(num_classes, "num_classes", minimum=2)
        super().__init__(
            input_size,
            num_classes,
            hidden_size,
            backbone,
            num_layers,
            bidirectional,
            dropout,
            levels=levels,
            kernel_size=kernel_size,
            weight_norm=weight_norm,
        )

    @property
    def num_classes(self) -> int:
        """The number of classes, the size of the output."""
        return self.output_size

    def extra_repr(self) -> str:
        return f"backbone={self.backbone_name!r}, num_classes={self.num_classes}"


class SequenceRegressor(SequenceHead):
    """Regress ``output_size`` real values from a sequence: ``(B, T, F) -> (B, output_size)``.

    With ``output_size=1`` it is a one-step-ahead forecaster; with ``output_size=h`` it forecasts
    the next ``h`` values at once (the *direct* multi-step strategy). Train with
    :class:`torch.nn.MSELoss`. See :class:`SequenceHead` for the arguments.

    Examples
    --------
    >>> model = SequenceRegressor(input_size=1, output_size=30, hidden_size=16, backbone="tcn", levels=3)
    >>> model(torch.zeros(4, 10, 1)).shape
    torch.Size([4, 30])
    """

    def __init__(
        self,
        input_size: int,
        output_size: int = 1,
        hidden_size: int = 64,
        backbone: str = "lstm",
        num_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.0,
        *,
        levels: int | None = None,
        kernel_size: int | None = None,
        weight_norm: bool = False,
    ) -> None:
        super().__init__(
            input_size,
            output_size,
            hidden_size,
            backbone,
            num_layers,
            bidirectional,
            dropout,
            levels=levels,
            kernel_size=kernel_size,
            weight_norm=weight_norm,
        )


class SequenceTagger(SequenceClassifier):
    """Answer at every step: ``(B, T, F) -> (B, T, C)`` logits, one distribution per step.

    A :class:`SequenceClassifier` whose head is applied to the backbone's output at each step
    (:meth:`SequenceHead.steps`) instead of to a summary, so with a causal backbone the answer at
    step ``t`` depends on the steps up to ``t`` only. Train with
    :class:`torch.nn.CrossEntropyLoss` on ``logits.flatten(0, 1)`` and ``targets.flatten()``. The
    arguments are :class:`SequenceClassifier`'s.

    Examples
    --------
    >>> model = SequenceTagger(input_size=10, num_classes=10, hidden_size=8, backbone="tcn", levels=2)
    >>> model(torch.zeros(4, 30, 10)).shape
    torch.Size([4, 30, 10])
    """

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, T, F) -> (B, T, C)``. ``lengths`` is not supported: mask padded steps in the loss."""
        if lengths is not None:
            raise ValueError(
                "lengths: SequenceTagger answers at every step; give it None and mask the padded steps in the loss"
            )
        return self.head(self.dropout(self.steps(x)))  # (B, T, C)


# ----------------------------------------------------------------------------------------------
# A language model: embed tokens, run a causal backbone, score the next token at every step
# ----------------------------------------------------------------------------------------------


class CharLM(nn.Module):
    r"""The job of a CharLM is to give, at every step of a token sequence, the next token's scores.

    .. math::

        \mathbf e_t = E[x_t], \qquad
        \mathbf h_t = \operatorname{backbone}(\mathbf e_1, \dots, \mathbf e_t), \qquad
        p(x_{t+1} \mid x_{\le t}) = \operatorname{softmax}(W \mathbf h_t + \mathbf b) .

    The backbone is causal (``"rnn"``, ``"lstm"``, ``"gru"`` or ``"tcn"``; no bidirectional
    option), so the logits at step ``t`` depend on ``x[:, : t + 1]`` only, and one forward pass
    scores every position of a window at once (teacher forcing). Train it with a cross-entropy
    between the logits and the inputs shifted by one step, for example with
    :func:`seqnets.train.fit` and
    ``loss_fn=lambda logits, y: F.cross_entropy(logits.flatten(0, 1), y.flatten())``.
    Despite the name nothing is specific to characters: tokens are any ids ``0 .. V - 1``.

    :meth:`step` advances the model from a state, which is how :func:`seqnets.generate.generate`
    extends a text one token at a time without re-reading it.

    Parameters
    ----------
    vocab_size : int
        Number of token ids ``V`` (at least 2).
    hidden_size : int
        Hidden size of the recurrent layers, or channels of the TCN.
    backbone : {"lstm", "gru", "rnn", "tcn"}
    embedding_dim : int
        Size of the learnt token embedding ``E``.
    num_layers : int
        Stacked recurrent layers; for the TCN the number of levels unless ``levels`` is given.
    dropout : float
        Dropout between stacked recurrent layers, inside the TCN's blocks, and before the head.
    levels, kernel_size, weight_norm
        TCN only (a ``ValueError`` otherwise); see :class:`seqnets.models.conv.TCN`.

    Shape
    -----
    ``x``: ``(B, T)`` integer ids in ``[0, V)``; output: ``(B, T, V)`` logits.

    Examples
    --------
    >>> model = CharLM(vocab_size=30, hidden_size=16, backbone="gru")
    >>> model(torch.randint(30, (4, 12))).shape
    torch.Size([4, 12, 30])
    """

    def __init__(
        self,
        vocab_size: int,
        hidden_size: int = 128,
        *,
        backbone: str = "lstm",
        embedding_dim: int = 32,
        num_layers: int = 1,
        dropout: float = 0.0,
        levels: int | None = None,
        kernel_size: int | None = None,
        weight_norm: bool = False,
    ) -> None:
        super().__init__()
        self.vocab_size = check_positive_int(vocab_size, "vocab_size", minimum=2)
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        embedding_dim = check_positive_int(embedding_dim, "embedding_dim")
        num_layers = check_positive_int(num_layers, "num_layers")
        dropout = check_number(dropout, "dropout", low=0, high=1, high_open=True)
        self.backbone_name = backbone
        self.embedding = nn.Embedding(self.vocab_size, embedding_dim)
        self.backbone, _ = _build_backbone(
            embedding_dim,
            self.hidden_size,
            backbone,
            num_layers,
            False,  # a language model must not read ahead: no bidirectional backbone
            dropout,
            levels,
            kernel_size,
            weight_norm,
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(self.hidden_size, self.vocab_size)

    @property
    def receptive_field(self) -> int | None:
        """How many tokens one output can see (the TCN's receptive field); ``None`` means unbounded."""
        return self.backbone.receptive_field if isinstance(self.backbone, TCN) else None

    def _check_ids(self, x: torch.Tensor, name: str) -> torch.Tensor:
        """Check ``(B, T)`` integer ids in ``[0, V)``; return them as int64 for the embedding."""
        check_tensor(x, name, ndim=2)
        if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
            raise TypeError(f"{name}: expected integer token ids (batch, time), got {x.dtype}")
        if x.numel() and bool(((x < 0) | (x >= self.vocab_size)).any()):
            raise ValueError(
                f"{name}: expected token ids in [0, {self.vocab_size - 1}], "
                f"got values in {int(x.min())}..{int(x.max())}"
            )
        return x.long()

    def _check_state(self, state: Any, batch: int) -> None:
        """Check a recurrent state: ``h``, or ``(h, c)`` for the LSTM, each ``(layers, B, H)``."""
        shape = (self.backbone.num_layers, batch, self.hidden_size)
        lstm = isinstance(self.backbone, nn.LSTM)
        want = f"{'a tuple (h, c) of tensors' if lstm else 'a tensor'} of shape {shape}"
        parts = state if lstm and isinstance(state, tuple) and len(state) == 2 else (state,)
        if len(parts) != (2 if lstm else 1) or not all(isinstance(p, torch.Tensor) for p in parts):
            got = type(state).__name__ + (f" of {len(state)}" if isinstance(state, tuple) else "")
            raise TypeError(f"state: expected {want} or None, got {got}")
        if any(tuple(p.shape) != shape for p in parts):
            got = ", ".join(str(tuple(p.shape)) for p in parts)
            raise ValueError(f"state: expected {want} (layers, batch, hidden), got shape {got}")
        weight = self.head.weight
        for p in parts:
            if p.dtype != weight.dtype or p.device != weight.device:
                raise TypeError(
                    f"state: expected tensors of dtype {weight.dtype} on {weight.device} like "
                    f"the model's parameters, got dtype {p.dtype} on {p.device}"
                )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` ids -> ``(B, T, V)`` logits; ``logits[:, t]`` scores the id after ``x[:, t]``.

        Validation happens once, in :meth:`step`.
        """
        return self.step(x)[0]

    def step(self, x: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """Read ``x`` after the tokens summarised by ``state``; return ``(logits, new state)``.

        ``step(x)`` with no state starts from the beginning, so ``step(x)[0] == forward(x)``, and
        ``step(b, step(a)[1])[0]`` equals the last ``b.shape[1]`` steps of ``forward(cat(a, b))``:
        reading a text in pieces gives the same scores as reading it at once.

        The state is the recurrent layer's (``h``, or ``(h, c)`` for the LSTM, each
        ``(num_layers, B, H)``). For the TCN it is the last ``receptive_field - 1`` tokens read,
        ``(B, <= r - 1)``: the only past an output can see, which the TCN reads again each step.

        Shape
        -----
        ``x``: ``(B, T)`` ids, ``T >= 1``, of any integer dtype; logits: ``(B, T, V)``.
        """
        x = self._check_ids(x, "x")
        if x.shape[1] == 0:
            raise ValueError(f"x: expected at least one time step, got shape {tuple(x.shape)}")
        if isinstance(self.backbone, TCN):
            if state is not None:
                state = self._check_ids(state, "state")
                if state.shape[0] != x.shape[0]:
                    got = tuple(state.shape)
                    raise ValueError(f"state: expected {x.shape[0]} rows like x, got {got}")
            context = x if state is None else torch.cat([state, x], dim=1)  # (B, <= r - 1 + T)
            out = self.backbone(self.embedding(context))[:, -x.shape[1] :]  # (B, T, H)
            keep = self.backbone.receptive_field - 1
            state = context[:, context.shape[1] - min(keep, context.shape[1]) :]  # (B, <= r - 1)
        else:
            if state is not None:
                self._check_state(state, x.shape[0])
            out, state = self.backbone(self.embedding(x), state)  # (B, T, H)
        return self.head(self.dropout(out)), state  # (B, T, V)

    def extra_repr(self) -> str:
        return f"backbone={self.backbone_name!r}, vocab_size={self.vocab_size}"


# ----------------------------------------------------------------------------------------------
# CNN + RNN: a convolutional feature extractor read as a sequence (CRNN)
# ----------------------------------------------------------------------------------------------


class CRNN(nn.Module):
    """The job of a CRNN is to read an image left to right: CNN features, then a GRU over columns.

    Convolutions turn the image ``(B, C_in, H, W)`` into a feature map ``(B, C, H', W')``; each of
    its ``W'`` columns, flattened to a vector of ``C H'`` features, becomes one time step, and a
    (by default bidirectional) GRU reads the columns left to right; a linear layer maps its summary
    to class logits (Shi, Bai & Yao 2017, who read lines of text this way). The convolutions share
    weights across the image; the GRU carries what it has seen from column to column.

    Each block is ``Conv2d(3x3, padding 1) -> BatchNorm2d -> ReLU -> MaxPool2d``; the first block
    pools 2x2, later blocks pool 2x1 (height only), so the sequence keeps ``W' = W // 2`` columns.

    Parameters
    ----------
    height : int
        Image height ``H``, needed to size the GRU's input.
    num_classes : int
    in_channels : int
        Image channels (1 for grey).
    channels : sequence of int
        Output channels of each convolutional block.
    hidden_size : int
        Hidden size of the GRU, per direction.
    bidirectional : bool
        Read the columns in both directions.

    Shape
    -----
    ``(B, in_channels, height, W) -> (B, num_classes)`` for any ``W >= 2``.
    """

    def __init__(
        self,
        height: int,
        num_classes: int,
        in_channels: int = 1,
        channels: tuple[int, ...] = (16, 32),
        hidden_size: int = 64,
        bidirectional: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels = check_positive_int(in_channels, "in_channels")
        self.height = check_positive_int(height, "height")
        if not isinstance(channels, (tuple, list)) or not channels:
            raise TypeError(f"channels: expected a non-empty sequence of ints, got {channels!r}")
        channels = tuple(check_positive_int(c, "channels") for c in channels)
        out_height = self.height // 2 // 2 ** (len(channels) - 1)
        if out_height < 1:
            raise ValueError(
                f"height: {len(channels)} blocks halve the height {len(channels)} times; expected height >= "
                f"{2 ** len(channels)}, got {height}"
            )
        blocks: list[nn.Module] = []
        previous = self.in_channels
        for i, c in enumerate(channels):
            pool = (2, 2) if i == 0 else (2, 1)
            blocks += [nn.Conv2d(previous, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(pool)]
            previous = c
        self.cnn = nn.Sequential(*blocks)
        self.rnn = SequenceClassifier(
            previous * out_height, num_classes, hidden_size, backbone="gru", bidirectional=bidirectional
        )

    def columns(self, x: torch.Tensor) -> torch.Tensor:
        """The sequence the GRU reads: ``(B, C_in, H, W) -> (B, W', C H')``."""
        check_channels(x, "x", 4, self.in_channels, "(batch, channels, height, width)")
        if x.shape[2] != self.height or x.shape[3] < 2:
            raise ValueError(
                f"x: expected height {self.height} and width >= 2 (batch, channels, height, width), got shape {tuple(x.shape)}"
            )
        features = self.cnn(x)  # (B, C, H', W')
        return features.flatten(1, 2).transpose(1, 2)  # (B, C H', W') -> (B, W', C H')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(self.columns(x))  # (B, num_classes)


# ----------------------------------------------------------------------------------------------
# Initialisation of recurrent layers: orthogonal recurrent weights, a bias towards remembering
# ----------------------------------------------------------------------------------------------

_LSTMS = (nn.LSTM, nn.LSTMCell, scratch.LSTMCell)  # gates i, f, g, o
_GRUS = (nn.GRU, nn.GRUCell, scratch.GRUCell)  # gates r, z, n
_RNNS = (nn.RNN, nn.RNNCell, scratch.RNNCell)


def init_recurrent_(
    module: nn.Module,
    *,
    orthogonal: bool = True,
    forget_bias: float | None = 1.0,
) -> nn.Module:
    """Initialise every recurrent layer in ``module`` in place: orthogonal ``W_hh``, gate biases.

    Applies to ``nn.RNN``, ``nn.LSTM``, ``nn.GRU``, their ``*Cell`` versions and the cells of
    :mod:`seqnets.models.scratch`, wherever they sit inside ``module`` (a
    :class:`SequenceClassifier` or :class:`CharLM`, say); other parameters are left alone,
    including the input weights ``W_ih`` (and an LSTM's projection ``weight_hr``).

    * ``orthogonal``: each gate's block of every ``weight_hh*`` becomes a random orthogonal
      matrix (Saxe et al., 2014), whose singular values are all 1, so that at the start the
      recurrent map neither shrinks nor stretches a vector. A block is ``H x H`` for a layer of
      ``H`` units, or ``H x P`` for an ``nn.LSTM`` with ``proj_size=P`` (then its ``P`` columns
      are orthonormal).
    * ``forget_bias``: for every LSTM and GRU layer, every ``bias_ih*`` and ``bias_hh*`` is set
      to 0, except the bias of the gate that keeps the old state: the LSTM's forget gate (Gers et
      al., 2000; a bias of 1 as Jozefowicz et al., 2015 recommend) and the GRU's update gate
      :math:`z` in :math:`h_t = (1 - z_t) n_t + z_t h_{t-1}`, which plays the same part. It is
      put in ``bias_ih`` (the gate sees ``bias_ih + bias_hh``). An Elman RNN has no such gate,
      and a layer built with ``bias=False`` has no bias to set: for a module containing either,
      pass ``forget_bias=None``, which leaves all biases as they are.

    Parameters
    ----------
    module : nn.Module
        A recurrent layer or cell, or a model that contains at least one.
    orthogonal : bool
        Draw the recurrent weights as orthogonal blocks (torch's global generator).
    forget_bias : float or None
        Initial bias of the keep gate, so its initial value is about :math:`\\sigma(b)`
        (0.73 for ``b = 1``) instead of about 0.5.

    Returns
    -------
    nn.Module
        ``module`` itself.

    Raises
    ------
    ValueError
        If ``module`` contains no recurrent layer, or if ``forget_bias`` is given and ``module``
        contains an Elman RNN or a layer without biases (nothing is changed then).

    Examples
    --------
    >>> lstm = init_recurrent_(nn.LSTM(3, 8, batch_first=True))
    >>> lstm.bias_ih_l0[8:16].tolist() == [1.0] * 8, lstm.bias_hh_l0.abs().max().item()
    (True, 0.0)
    >>> w = lstm.weight_hh_l0[:8]  # the input gate's block
    >>> torch.allclose(w.T @ w, torch.eye(8), atol=1e-5)
    True
    >>> rnn = init_recurrent_(nn.RNN(3, 8), forget_bias=None)  # no gate: biases left alone
    """
    check_module(module, "module")
    check_bool(orthogonal, "orthogonal")
    if forget_bias is not None:
        forget_bias = check_number(forget_bias, "forget_bias")
    layers = [m for m in module.modules() if isinstance(m, _LSTMS + _GRUS + _RNNS)]
    if not layers:
        raise ValueError(
            "module: expected an RNN, LSTM or GRU layer or cell (torch's or "
            "seqnets.models.scratch's), or a model containing one; found none in "
            f"{type(module).__name__}"
        )
    if forget_bias is not None:  # check every layer before changing any
        for layer in layers:
            kind = type(layer).__name__
            if isinstance(layer, _RNNS):
                raise ValueError(
                    f"forget_bias: an Elman RNN ({kind}) has no gate that keeps the old state; "
                    f"got forget_bias={forget_bias}, pass forget_bias=None"
                )
            if not layer.bias:
                raise ValueError(
                    f"forget_bias: this {kind} was built with bias=False, so it has no bias to "
                    f"set; got forget_bias={forget_bias}, pass forget_bias=None"
                )
    with torch.no_grad():
        for layer in layers:
            gates = 4 if isinstance(layer, _LSTMS) else 3 if isinstance(layer, _GRUS) else 1
            for name, p in layer.named_parameters(recurse=False):
                if name.startswith("weight_hh") and orthogonal:
                    for block in p.chunk(gates):  # (H, H) or (H, P) views, one per gate
                        nn.init.orthogonal_(block)
                elif name.startswith("bias_") and forget_bias is not None:
                    p.zero_()
                    if name.startswith("bias_ih"):
                        p.chunk(gates)[1].fill_(forget_bias)  # f (LSTM) or z (GRU)
    return module
