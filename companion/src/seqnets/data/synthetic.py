"""Generated tasks with known answers, for testing what a sequence model can remember.

Each task returns batch-first tensors ``(inputs (N, T, F), targets)`` and draws its randomness
from an optional ``torch.Generator``, so a seeded call repeats exactly and leaves the global
random state alone.
"""

from __future__ import annotations

import math

import torch

from seqnets.utils import check_positive_int

__all__ = ["adding_problem", "copy_memory", "copy_memory_baseline", "COPY_DIGITS"]

#: Number of digits the copy-memory task asks a model to remember.
COPY_DIGITS = 10


def _check_generator(generator: object) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator or None, got {type(generator).__name__}")


def adding_problem(n: int, length: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The adding problem (Hochreiter & Schmidhuber 1997): add the two marked numbers.

    Channel 0 of each sequence holds numbers drawn from ``U(0, 1)``; channel 1 marks two
    positions with a 1, one in each half of the sequence. The target is the sum of the two marked
    numbers. Predicting the mean, 1, for every sequence gives a mean squared error of 1/6 (about
    0.167). Remembering only the second marked number, which lies in the second half, and
    predicting it plus 0.5 gives 1/12 (about 0.083): a model gets below 1/12 only if it carries
    the first marked number to the end, across at least ``T // 2`` steps.

    Parameters
    ----------
    n : int
        Number of sequences.
    length : int
        Sequence length ``T`` (at least 2).
    generator : torch.Generator, optional
        Source of randomness; ``None`` uses torch's global generator.

    Returns
    -------
    inputs : torch.Tensor
        ``(n, T, 2)`` float32: numbers, markers.
    targets : torch.Tensor
        ``(n, 1)`` float32.
    """
    n = check_positive_int(n, "n")
    length = check_positive_int(length, "length", minimum=2)
    _check_generator(generator)
    values = torch.rand(n, length, generator=generator)  # (N, T)
    first = torch.randint(0, length // 2, (n,), generator=generator)  # one mark in each half
    second = torch.randint(length // 2, length, (n,), generator=generator)
    markers = torch.zeros(n, length)  # (N, T)
    rows = torch.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    targets = (values * markers).sum(dim=1, keepdim=True)  # (N, 1)
    return torch.stack([values, markers], dim=2), targets  # (N, T, 2), (N, 1)


def copy_memory(n: int, length: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The copy-memory task (Arjovsky et al. 2016; Bai et al. 2018): recall 10 digits after a gap.

    Each input sequence has ``T + 20`` integer tokens: 10 digits drawn uniformly from 1..8, then
    ``T - 1`` blanks (0), then 11 copies of the marker 9, the first of which says "now repeat".
    The target is 0 at the first ``T + 10`` steps and the 10 digits, in order, at the last 10. A
    model that answers at step ``T + 10 + i`` must have carried digit ``i`` across ``T + 10``
    steps. This is the layout of Bai et al.'s experiments.

    A model without memory can at best predict the blank with certainty at the first ``T + 10``
    steps and a uniform guess over the 8 digits at the last 10, a cross-entropy per step of
    :func:`copy_memory_baseline` ``(T) = 10 ln 8 / (T + 20)``.

    Parameters
    ----------
    n : int
        Number of sequences.
    length : int
        The gap ``T`` (at least 1); the sequences have ``T + 20`` steps.
    generator : torch.Generator, optional
        Source of randomness; ``None`` uses torch's global generator.

    Returns
    -------
    inputs : torch.Tensor
        ``(n, T + 20)`` int64 tokens in ``0..9``.
    targets : torch.Tensor
        ``(n, T + 20)`` int64 tokens in ``0..8``.

    Examples
    --------
    >>> x, y = copy_memory(1, 3, torch.Generator().manual_seed(0))
    >>> x.shape, y.shape
    (torch.Size([1, 23]), torch.Size([1, 23]))
    >>> bool((x[0, :10] == y[0, -10:]).all()), x[0, 10:].tolist()
    (True, [0, 0, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9])
    """
    n = check_positive_int(n, "n")
    length = check_positive_int(length, "length")
    _check_generator(generator)
    digits = torch.randint(1, 9, (n, COPY_DIGITS), generator=generator)  # (N, 10), values 1..8
    blanks = torch.zeros(n, length - 1, dtype=torch.long)
    markers = torch.full((n, COPY_DIGITS + 1), 9, dtype=torch.long)
    inputs = torch.cat([digits, blanks, markers], dim=1)  # (N, T + 20)
    silent = torch.zeros(n, length + COPY_DIGITS, dtype=torch.long)
    targets = torch.cat([silent, digits], dim=1)  # (N, T + 20)
    return inputs, targets


def copy_memory_baseline(length: int) -> float:
    """Cross-entropy per step of the best memoryless answer to :func:`copy_memory`: ``10 ln 8 / (T + 20)``.

    >>> round(copy_memory_baseline(1000), 4)
    0.0204
    """
    length = check_positive_int(length, "length")
    return COPY_DIGITS * math.log(8) / (length + 2 * COPY_DIGITS)
