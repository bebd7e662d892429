"""Sequence to sequence with attention: an encoder reads the source, a decoder writes the target.

The :class:`Encoder` (an embedding and a bidirectional GRU) turns a padded batch of source tokens
into a *memory*, one vector :math:`h_j` per source token that has read the whole source. The
:class:`AttentionDecoder` writes the target one token at a time. Before each token it looks at
the memory through :class:`AdditiveAttention` (Bahdanau et al. 2015), with its previous state
:math:`s_{t-1}` as the query:

.. math::

    e_{tj} = v^\\top \\tanh(W_s s_{t-1} + W_h h_j + b), \\qquad
    \\alpha_{tj} = \\frac{\\exp e_{tj}}{\\sum_k \\exp e_{tk}}, \\qquad
    c_t = \\sum_j \\alpha_{tj} h_j ,

    s_t = \\operatorname{GRU}([E y_{t-1}; c_t], s_{t-1}), \\qquad
    p(y_t \\mid y_{<t}, x) = \\operatorname{softmax}(W_o [s_t; c_t; E y_{t-1}] + b_o) .

Padding positions get :math:`\\alpha_{tj} = 0`. :class:`Seq2Seq` joins the two parts; its
``forward`` is *teacher-forced* (it reads the true previous target tokens) and returns logits, so
:func:`seqnets.train.fit` trains it with a cross-entropy that ignores padding.
:func:`greedy_decode` and :func:`beam_search` write outputs from the model alone, and
:func:`sequence_log_prob` scores given outputs. Both decoders never write the padding or the
start token.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from seqnets.utils import check_module, check_number, check_positive_int, check_tensor, training_mode

__all__ = [
    "Encoder",
    "AdditiveAttention",
    "Memory",
    "AttentionDecoder",
    "Seq2Seq",
    "BeamResult",
    "greedy_decode",
    "beam_search",
    "sequence_log_prob",
]


def _check_integers(x: torch.Tensor, name: str, ndim: int, low: int, high: int, what: str) -> torch.Tensor:
    """Check that ``x`` is an ``ndim``-D integer tensor with values in ``[low, high]``."""
    check_tensor(x, name, ndim=ndim)
    if x.is_floating_point() or x.is_complex() or x.dtype == torch.bool:
        raise TypeError(f"{name}: expected an integer tensor of {what}, got dtype {x.dtype}")
    if x.numel() and (int(x.min()) < low or int(x.max()) > high):
        raise ValueError(f"{name}: expected {what} in [{low}, {high}], got min {int(x.min())}, max {int(x.max())}")
    return x


def _check_dtype(x: torch.Tensor, name: str, module: nn.Module) -> torch.Tensor:
    """Check that the floating tensor ``x`` has the dtype of ``module``'s parameters."""
    dtype = next(module.parameters()).dtype
    if x.dtype != dtype:
        raise TypeError(f"{name}: expected dtype {dtype}, the dtype of the parameters, got {x.dtype}")
    return x


def _check_source(src: torch.Tensor, src_lengths: torch.Tensor, vocab_size: int) -> None:
    _check_integers(src, "src", 2, 0, vocab_size - 1, "token ids")
    if src.shape[0] == 0 or src.shape[1] == 0:
        raise ValueError(f"src: expected at least one sequence of at least one token, got shape {tuple(src.shape)}")
    _check_integers(src_lengths, "src_lengths", 1, 1, src.shape[1], "lengths")
    if src_lengths.shape[0] != src.shape[0]:
        raise ValueError(
            f"src_lengths: expected shape ({src.shape[0]},), one length per sequence of src, "
            f"got {tuple(src_lengths.shape)}"
        )


# --------------------------------------------------------------------------------------------
# The three parts
# --------------------------------------------------------------------------------------------


class Encoder(nn.Module):
    """The job of the ``Encoder`` is to give each source token a vector that has read the whole source.

    An embedding and a one-layer bidirectional GRU. The sequences are packed by their lengths, so
    padding changes nothing: the forward direction stops at the last real token and the backward
    direction starts there.

    Parameters
    ----------
    vocab_size : int
        Number of source token ids.
    embedding_size : int
        Size of the token embeddings.
    hidden_size : int
        Size of each direction's state, ``H``; the memory has ``2H`` features.
    pad_id : int
        Id of the padding token (its embedding is zero and not trained).

    Shape
    -----
    ``src`` ``(B, S)`` token ids and ``src_lengths`` ``(B,)`` in ``[1, S]`` ->
    ``memory`` ``(B, S, 2H)`` (zeros after each sequence's end) and ``summary`` ``(B, 2H)``, the
    forward direction's state after the last token beside the backward one's after the first.
    """

    def __init__(self, vocab_size: int, embedding_size: int, hidden_size: int, *, pad_id: int = 0) -> None:
        super().__init__()
        vocab_size = check_positive_int(vocab_size, "vocab_size", minimum=2)
        pad_id = check_positive_int(pad_id, "pad_id", minimum=0)
        if pad_id >= vocab_size:
            raise ValueError(f"pad_id: expected an id in [0, {vocab_size}), got {pad_id}")
        embedding_size = check_positive_int(embedding_size, "embedding_size")
        hidden_size = check_positive_int(hidden_size, "hidden_size")
        self.embedding = nn.Embedding(vocab_size, embedding_size, pad_id)
        self.rnn = nn.GRU(embedding_size, hidden_size, batch_first=True, bidirectional=True)

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, S)`` ids, ``(B,)`` lengths -> ``memory (B, S, 2H)``, ``summary (B, 2H)``."""
        _check_source(src, src_lengths, self.embedding.num_embeddings)
        packed = nn.utils.rnn.pack_padded_sequence(
            self.embedding(src), src_lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        out, h_n = self.rnn(packed)  # h_n: (2, B, H), the two directions' final states
        memory, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=src.shape[1])  # (B, S, 2H)
        return memory, torch.cat([h_n[0], h_n[1]], dim=-1)  # (B, S, 2H), (B, 2H)


class AdditiveAttention(nn.Module):
    """Additive (Bahdanau) attention: score each memory vector against a query, average by the scores.

    ``e_j = v^T tanh(W_s q + W_h h_j + b)``; the weights are ``softmax(e)`` over the unmasked
    positions and the context is ``sum_j alpha_j h_j``. The projections ``W_h h_j + b`` (the
    *keys*) do not depend on the query: :meth:`project` computes them once per source.

    Parameters
    ----------
    query_size, memory_size, attention_size : int
        Sizes of the query ``q``, of a memory vector ``h_j`` and of the space they meet in.
    """

    def __init__(self, query_size: int, memory_size: int, attention_size: int) -> None:
        super().__init__()
        self.query_size = check_positive_int(query_size, "query_size")
        self.memory_size = check_positive_int(memory_size, "memory_size")
        self.attention_size = attention_size = check_positive_int(attention_size, "attention_size")
        self.query_proj = nn.Linear(query_size, attention_size, bias=False)  # W_s
        self.memory_proj = nn.Linear(memory_size, attention_size)  # W_h and b
        self.score = nn.Linear(attention_size, 1, bias=False)  # v

    def project(self, memory: torch.Tensor) -> torch.Tensor:
        """The keys ``W_h h_j + b``: ``(B, S, memory_size) -> (B, S, attention_size)``."""
        return self.memory_proj(memory)

    def forward(
        self, query: torch.Tensor, keys: torch.Tensor, memory: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Context and attention weights for one query per sequence.

        Parameters
        ----------
        query : torch.Tensor
            ``(B, query_size)``.
        keys : torch.Tensor
            ``(B, S, attention_size)``, from :meth:`project` of ``memory``.
        memory : torch.Tensor
            ``(B, S, memory_size)``.
        mask : torch.Tensor
            ``(B, S)`` bool, True at the positions that may be attended to (at least one per row).

        Returns
        -------
        context : torch.Tensor
            ``(B, memory_size)``.
        weights : torch.Tensor
            ``(B, S)``, non-negative, zero where ``mask`` is False, each row summing to 1.
        """
        for x, name, ndim in ((query, "query", 2), (keys, "keys", 3), (memory, "memory", 3)):
            _check_dtype(check_tensor(x, name, ndim=ndim, floating=True), name, self)
        check_tensor(mask, "mask", ndim=2)
        batch, steps, _ = memory.shape
        if query.shape != (batch, self.query_size):
            raise ValueError(f"query: expected shape ({batch}, {self.query_size}), got {tuple(query.shape)}")
        if memory.shape[2] != self.memory_size:
            raise ValueError(f"memory: expected shape (B, S, {self.memory_size}), got {tuple(memory.shape)}")
        if keys.shape != (batch, steps, self.attention_size):
            raise ValueError(
                f"keys: expected shape ({batch}, {steps}, {self.attention_size}) to match memory, "
                f"got {tuple(keys.shape)}"
            )
        if mask.dtype != torch.bool or mask.shape != (batch, steps):
            raise ValueError(
                f"mask: expected a bool tensor of shape ({batch}, {steps}), got {mask.dtype} {tuple(mask.shape)}"
            )
        empty = (~mask.any(dim=1)).nonzero().flatten()
        if empty.numel():
            raise ValueError(f"mask: expected at least one True per row, got none in rows {empty.tolist()}")
        energy = self.score(torch.tanh(keys + self.query_proj(query).unsqueeze(1))).squeeze(2)  # (B, S)
        weights = torch.softmax(energy.masked_fill(~mask, float("-inf")), dim=1)  # (B, S)
        context = torch.bmm(weights.unsqueeze(1), memory).squeeze(1)  # (B, 1, S) @ (B, S, M) -> (B, M)
        return context, weights


class Memory(NamedTuple):
    """What the decoder attends to: the encoder's outputs, their keys and the padding mask."""

    values: torch.Tensor  #: (B, S, M), the encoder's outputs h_j
    keys: torch.Tensor  #: (B, S, A), their projections by the attention
    mask: torch.Tensor  #: (B, S) bool, True at real (not padding) tokens

    def repeat_interleave(self, repeats: int) -> Memory:
        """Each sequence's memory ``repeats`` times in a row (for the hypotheses of a beam)."""
        return Memory(*(t.repeat_interleave(repeats, dim=0) for t in self))


class AttentionDecoder(nn.Module):
    """The job of the ``AttentionDecoder`` is to write the next token, having looked at the memory.

    One :meth:`step` reads the previous token ``y_{t-1}`` and state ``s_{t-1}``, attends to the
    memory with ``s_{t-1}`` as the query (context ``c_t``), updates the state with a GRU cell on
    ``[E y_{t-1}; c_t]`` and predicts ``y_t`` from ``[s_t; c_t; E y_{t-1}]``.

    Parameters
    ----------
    vocab_size : int
        Number of target token ids, ``V``.
    embedding_size : int
        Size of the target token embeddings.
    memory_size : int
        Features of the encoder's memory (``2H`` for :class:`Encoder`).
    hidden_size : int
        Size of the decoder state, ``D``.
    attention_size : int
        Size of the attention's hidden layer.
    pad_id : int
        Id of the padding token.
    """

    def __init__(
        self,
        vocab_size: int,
        embedding_size: int,
        memory_size: int,
        hidden_size: int,
        attention_size: int,
        *,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        self.vocab_size = check_positive_int(vocab_size, "vocab_size", minimum=2)
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        embedding_size = check_positive_int(embedding_size, "embedding_size")
        memory_size = check_positive_int(memory_size, "memory_size")
        pad_id = check_positive_int(pad_id, "pad_id", minimum=0)
        if pad_id >= vocab_size:
            raise ValueError(f"pad_id: expected an id in [0, {vocab_size}), got {pad_id}")
        self.embedding = nn.Embedding(vocab_size, embedding_size, pad_id)
        self.attention = AdditiveAttention(hidden_size, memory_size, attention_size)
        self.bridge = nn.Linear(memory_size, hidden_size)  # encoder summary -> s_0
        self.cell = nn.GRUCell(embedding_size + memory_size, hidden_size)
        self.output = nn.Linear(hidden_size + memory_size + embedding_size, vocab_size)

    def start(self, summary: torch.Tensor) -> torch.Tensor:
        """The first state ``s_0 = tanh(W summary + b)``: ``(B, memory_size) -> (B, D)``."""
        return torch.tanh(self.bridge(summary))

    def logits(
        self, token: torch.Tensor, state: torch.Tensor, memory: Memory
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`step` before the softmax: ``(logits (B, V), state (B, D), attention (B, S))``."""
        _check_integers(token, "token", 1, 0, self.vocab_size - 1, "target token ids")
        _check_dtype(check_tensor(state, "state", ndim=2, floating=True), "state", self)
        if state.shape != (token.shape[0], self.hidden_size):
            raise ValueError(f"state: expected shape ({token.shape[0]}, {self.hidden_size}), got {tuple(state.shape)}")
        embedded = self.embedding(token)  # (B, E)
        context, weights = self.attention(state, memory.keys, memory.values, memory.mask)  # (B, M), (B, S)
        state = self.cell(torch.cat([embedded, context], dim=1), state)  # (B, D)
        logits = self.output(torch.cat([state, context, embedded], dim=1))  # (B, V)
        return logits, state, weights

    def step(
        self, token: torch.Tensor, state: torch.Tensor, memory: Memory
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One token: previous token ``(B,)`` and state ``(B, D)`` -> ``(log_probs (B, V), state, attention (B, S))``."""
        logits, state, weights = self.logits(token, state, memory)
        return F.log_softmax(logits, dim=1), state, weights


class Seq2Seq(nn.Module):
    """An encoder-decoder with additive attention, for token sequences in and token sequences out.

    Parameters
    ----------
    source_vocab_size, target_vocab_size : int
        Numbers of source and target token ids.
    embedding_size : int
        Size of the token embeddings (source and target).
    hidden_size : int
        State size of each encoder direction and of the decoder.
    attention_size : int, optional
        Size of the attention's hidden layer; default ``hidden_size``.
    pad_id : int
        Id of the padding token, the same in both vocabularies.

    Shape
    -----
    ``forward(src (B, S), src_lengths (B,), tgt_in (B, T)) -> logits (B, T, V)``: ``tgt_in`` is the
    target shifted right (start token first); ``logits[:, t]`` predicts target token ``t``.

    Examples
    --------
    >>> model = Seq2Seq(30, 14, embedding_size=8, hidden_size=16)
    >>> src, lengths = torch.randint(2, 30, (4, 9)), torch.tensor([9, 5, 1, 7])
    >>> model(src, lengths, torch.randint(2, 14, (4, 6))).shape
    torch.Size([4, 6, 14])
    """

    def __init__(
        self,
        source_vocab_size: int,
        target_vocab_size: int,
        *,
        embedding_size: int = 32,
        hidden_size: int = 64,
        attention_size: int | None = None,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        self.pad_id = check_positive_int(pad_id, "pad_id", minimum=0)
        attention_size = hidden_size if attention_size is None else attention_size
        self.encoder = Encoder(source_vocab_size, embedding_size, hidden_size, pad_id=pad_id)
        self.decoder = AttentionDecoder(
            target_vocab_size, embedding_size, 2 * hidden_size, hidden_size, attention_size, pad_id=pad_id
        )

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> tuple[Memory, torch.Tensor]:
        """Read the source: ``(Memory, first decoder state (B, D))``."""
        values, summary = self.encoder(src, src_lengths)  # (B, S, 2H), (B, 2H)
        positions = torch.arange(src.shape[1], device=src.device)
        mask = positions < src_lengths.to(src.device).unsqueeze(1)  # (B, S)
        return Memory(values, self.decoder.attention.project(values), mask), self.decoder.start(summary)

    def forward_with_attention(
        self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Teacher-forced pass: ``(logits (B, T, V), attention (B, T, S))``."""
        memory, state = self.encode(src, src_lengths)  # checks src and src_lengths
        _check_integers(tgt_in, "tgt_in", 2, 0, self.decoder.vocab_size - 1, "token ids")
        if tgt_in.shape[0] != src.shape[0] or tgt_in.shape[1] == 0:
            raise ValueError(
                f"tgt_in: expected shape ({src.shape[0]}, T) with T >= 1, one row per source, got {tuple(tgt_in.shape)}"
            )
        logits, weights = [], []
        for t in range(tgt_in.shape[1]):  # the true previous token, whatever the model predicted
            step_logits, state, step_weights = self.decoder.logits(tgt_in[:, t], state, memory)
            logits.append(step_logits)
            weights.append(step_weights)
        return torch.stack(logits, dim=1), torch.stack(weights, dim=1)  # (B, T, V), (B, T, S)

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits ``(B, T, V)``; see the class docstring."""
        return self.forward_with_attention(src, src_lengths, tgt_in)[0]


# --------------------------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------------------------


def _check_model(model: object) -> Seq2Seq:
    if not isinstance(model, Seq2Seq):
        check_module(model)
        raise TypeError(f"model: expected a seqnets.models.seq2seq.Seq2Seq, got {type(model).__name__}")
    return model


def _check_special_ids(model: Seq2Seq, bos: int, eos: int) -> tuple[int, int]:
    vocab = model.decoder.vocab_size
    for name, value in (("bos", bos), ("eos", eos)):
        if check_positive_int(value, name, minimum=0) >= vocab:
            raise ValueError(f"{name}: expected a target token id in [0, {vocab}), got {value}")
    if len({bos, eos, model.pad_id}) < 3:
        raise ValueError(
            f"bos, eos: expected ids distinct from each other and from pad_id, got {bos}, {eos}, {model.pad_id}"
        )
    return bos, eos


def _check_decoding(model: Seq2Seq, max_len: int, bos: int, eos: int) -> tuple[int, int, int]:
    _check_model(model)
    return check_positive_int(max_len, "max_len"), *_check_special_ids(model, bos, eos)


def _never_write(log_probs: torch.Tensor, *ids: int) -> torch.Tensor:
    """A decoder writes neither padding nor the start token: their log-probabilities become -inf."""
    return log_probs.index_fill(-1, torch.tensor(ids, device=log_probs.device), float("-inf"))


@torch.no_grad()
def greedy_decode(
    model: Seq2Seq, src: torch.Tensor, src_lengths: torch.Tensor, *, max_len: int, bos: int, eos: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Write each output by taking the most probable token at every step, in eval mode.

    Parameters
    ----------
    model : Seq2Seq
    src, src_lengths : torch.Tensor
        ``(B, S)`` source token ids and ``(B,)`` lengths.
    max_len : int
        At most this many tokens are written per sequence, the end token included.
    bos, eos : int
        Target ids of the start token (fed first) and of the end token (ends a sequence).

    Returns
    -------
    tokens : torch.Tensor
        ``(B, L)`` int64 with ``L <= max_len``: each output up to and including its end token,
        then ``model.pad_id``. An output without an end token was cut at ``max_len``.
    attention : torch.Tensor
        ``(B, L, S)``: the attention weights with which each token was written (zero rows after
        the end).
    """
    max_len, bos, eos = _check_decoding(model, max_len, bos, eos)
    with training_mode(model, False):
        memory, state = model.encode(src, src_lengths)
        token = torch.full((src.shape[0],), bos, dtype=torch.long, device=src.device)
        finished = torch.zeros_like(token, dtype=torch.bool)
        tokens, weights = [], []
        for _ in range(max_len):
            log_probs, state, step_weights = model.decoder.step(token, state, memory)
            token = _never_write(log_probs, model.pad_id, bos).argmax(dim=1).masked_fill(finished, model.pad_id)
            tokens.append(token)
            weights.append(step_weights.masked_fill(finished.unsqueeze(1), 0.0))
            finished = finished | (token == eos)
            if bool(finished.all()):
                break
    return torch.stack(tokens, dim=1), torch.stack(weights, dim=1)  # (B, L), (B, L, S)


class BeamResult(NamedTuple):
    """The hypotheses of :func:`beam_search`, best first along dimension 1."""

    tokens: torch.Tensor  #: (B, K, L) int64, each up to its end token, then padding; all padding if unused
    log_probs: torch.Tensor  #: (B, K) log p(tokens | source), -inf for an unused slot
    scores: torch.Tensor  #: (B, K) log_probs / length ** length_penalty, the ranking
    attention: torch.Tensor  #: (B, K, L, S) the attention weights of each written token


@torch.no_grad()
def beam_search(
    model: Seq2Seq,
    src: torch.Tensor,
    src_lengths: torch.Tensor,
    *,
    beam_size: int,
    max_len: int,
    bos: int,
    eos: int,
    length_penalty: float = 0.0,
) -> BeamResult:
    """Keep the ``beam_size`` most probable partial outputs at every step; return them ranked.

    At each step every unfinished hypothesis is extended by every token, and the ``beam_size``
    extensions with the highest total log-probability survive. A hypothesis that has written the
    end token is finished: it keeps its place and its log-probability, competing with the
    others. The search stops when every hypothesis is finished or after ``max_len`` tokens. The
    survivors are ranked by ``log_prob / length ** length_penalty``, where ``length`` counts the
    tokens written, the end token included: ``0`` ranks by probability (which favours short
    outputs), ``1`` by log-probability per token. A hypothesis cut at ``max_len`` without an end
    token ranks after every finished one, whatever its score: its log-probability is that of a
    prefix, which is higher than that of any complete output that starts with it. With
    ``beam_size=1`` the result is that of :func:`greedy_decode`; with
    ``beam_size >= V ** max_len`` no hypothesis is ever dropped and the search is exhaustive.

    Parameters
    ----------
    model, src, src_lengths, max_len, bos, eos
        As in :func:`greedy_decode`.
    beam_size : int
        Hypotheses kept per source, ``K``.
    length_penalty : float
        Exponent ``>= 0`` of the length normalisation of the final ranking.

    Returns
    -------
    BeamResult
        ``tokens (B, K, L)``, ``log_probs (B, K)``, ``scores (B, K)``, ``attention (B, K, L, S)``,
        best first: the finished hypotheses sorted by ``scores``, then the cut ones sorted by
        ``scores``. Slots that no hypothesis could fill (when fewer than ``K`` outputs exist) come
        last, with log-probability ``-inf``, padding for tokens and zero attention.
    """
    max_len, bos, eos = _check_decoding(model, max_len, bos, eos)
    k = check_positive_int(beam_size, "beam_size")
    alpha = check_number(length_penalty, "length_penalty", low=0)
    batch, steps = src.shape[0], src.shape[1]
    vocab, pad = model.decoder.vocab_size, model.pad_id
    with training_mode(model, False):
        memory, state = model.encode(src, src_lengths)
        memory, state = memory.repeat_interleave(k), state.repeat_interleave(k, dim=0)  # (B*K, ...)
        device = state.device
        log_prob = torch.full((batch, k), float("-inf"), device=device)
        log_prob[:, 0] = 0.0  # one hypothesis (the empty output) to start from
        finished = torch.zeros(batch, k, dtype=torch.bool, device=device)
        length = torch.zeros(batch, k, dtype=torch.long, device=device)
        tokens = torch.zeros(batch, k, 0, dtype=torch.long, device=device)
        weights = torch.zeros(batch, k, 0, steps, device=device)
        token = torch.full((batch * k,), bos, dtype=torch.long, device=device)
        stay = torch.full((vocab,), float("-inf"), device=device)
        stay[pad] = 0.0  # a finished hypothesis "writes" padding, at no cost
        for _ in range(max_len):
            step_lp, state, step_weights = model.decoder.step(token, state, memory)  # (B*K, V), ..., (B*K, S)
            step_lp = _never_write(step_lp, pad, bos).view(batch, k, vocab)
            step_lp = torch.where(finished.unsqueeze(2), stay, step_lp)
            log_prob, index = (log_prob.unsqueeze(2) + step_lp).view(batch, k * vocab).topk(k, dim=1)  # (B, K)
            parent, new = index // vocab, index % vocab  # which hypothesis, extended by which token
            was_finished = finished.gather(1, parent)
            length = length.gather(1, parent) + (~was_finished).long()
            finished = was_finished | (new == eos)
            tokens = torch.cat([tokens.gather(1, parent.unsqueeze(2).expand_as(tokens)), new.unsqueeze(2)], dim=2)
            step_weights = step_weights.view(batch, k, steps).gather(1, parent.unsqueeze(2).expand(-1, -1, steps))
            step_weights = step_weights.masked_fill(was_finished.unsqueeze(2), 0.0)
            weights = weights.gather(1, parent[:, :, None, None].expand_as(weights))
            weights = torch.cat([weights, step_weights.unsqueeze(2)], dim=2)  # (B, K, t, S)
            rows = (parent + torch.arange(batch, device=device).unsqueeze(1) * k).view(-1)
            state, token = state[rows], new.view(-1)  # (B*K, D), (B*K,)
            if bool((finished | torch.isinf(log_prob)).all()):
                break
    unused = torch.isinf(log_prob)  # (B, K)
    tokens = tokens.masked_fill(unused.unsqueeze(2), pad)
    weights = weights.masked_fill(unused[:, :, None, None], 0.0)
    scores = log_prob / length.clamp(min=1).to(log_prob.dtype) ** alpha
    order = scores.argsort(dim=1, descending=True, stable=True)
    cut = (~finished | unused).gather(1, order)  # in the order of the scores
    order = order.gather(1, cut.long().argsort(dim=1, stable=True))  # finished first, by score
    return BeamResult(
        tokens.gather(1, order.unsqueeze(2).expand_as(tokens)),
        log_prob.gather(1, order),
        scores.gather(1, order),
        weights.gather(1, order[:, :, None, None].expand_as(weights)),
    )


@torch.no_grad()
def sequence_log_prob(
    model: Seq2Seq, src: torch.Tensor, src_lengths: torch.Tensor, tokens: torch.Tensor, *, bos: int, eos: int
) -> torch.Tensor:
    """Log-probability that ``model`` writes ``tokens`` for ``src``, in eval mode: ``(B,)``.

    The sum runs over the teacher-forced log-probabilities of the tokens up to and including each
    row's end token; the padding after it is not scored. For an output without an end token (cut
    at ``max_len``) it is the log-probability of a *prefix*, that the model's output starts with
    these tokens, which is not comparable with that of a complete output.

    Parameters
    ----------
    model : Seq2Seq
    src, src_lengths : torch.Tensor
        ``(B, S)`` source token ids and ``(B,)`` lengths, as for :func:`greedy_decode`.
    tokens : torch.Tensor
        ``(B, L)`` integer target ids, ``L >= 1``, one output per source as :func:`greedy_decode`
        returns them: each up to its first end token, then ``model.pad_id``; no start token and no
        padding before the end.
    bos, eos : int
        Target ids of the start token (fed before the first token) and of the end token; distinct
        from each other and from ``model.pad_id``.

    Returns
    -------
    torch.Tensor
        ``(B,)`` the log-probability of each row of ``tokens``.
    """
    _check_model(model)
    bos, eos = _check_special_ids(model, bos, eos)
    check_tensor(src, "src", ndim=2)
    _check_integers(tokens, "tokens", 2, 0, model.decoder.vocab_size - 1, "token ids")
    if tokens.shape[0] != src.shape[0] or tokens.shape[1] == 0:
        raise ValueError(
            f"tokens: expected shape ({src.shape[0]}, L) with L >= 1, one row per source, got {tuple(tokens.shape)}"
        )
    is_eos = (tokens == eos).long()
    after_end = (is_eos.cumsum(dim=1) - is_eos) > 0  # (B, L), True after each row's first eos
    if bool((tokens == bos).any()) or not torch.equal(tokens == model.pad_id, after_end):
        raise ValueError(
            f"tokens: expected each row to be an output up to its first eos ({eos}), then padding "
            f"({model.pad_id}) only, with no bos ({bos}) and no padding before the end"
        )
    start = torch.full_like(tokens[:, :1], bos)
    with training_mode(model, False):
        logits = model(src, src_lengths, torch.cat([start, tokens[:, :-1]], dim=1))  # (B, L, V)
    picked = F.log_softmax(logits, dim=2).gather(2, tokens.unsqueeze(2)).squeeze(2)  # (B, L)
    return picked.masked_fill(after_end, 0.0).sum(dim=1)
