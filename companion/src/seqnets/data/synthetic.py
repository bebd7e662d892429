"""Generated tasks with known answers, for testing what a sequence model can remember.

Each task returns batch-first tensors ``(inputs (N, T, F), targets)`` and draws its randomness
from an optional ``torch.Generator``, so a seeded call repeats exactly and leaves the global
random state alone.
"""

from __future__ import annotations

import torch

from seqnets.utils import check_positive_int

__all__ = ["adding_problem"]


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
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator or None, got {type(generator).__name__}")
    values = torch.rand(n, length, generator=generator)  # (N, T)
    first = torch.randint(0, length // 2, (n,), generator=generator)  # one mark in each half
    second = torch.randint(length // 2, length, (n,), generator=generator)
    markers = torch.zeros(n, length)  # (N, T)
    rows = torch.arange(n)
    markers[rows, first] = 1.0
    markers[rows, second] = 1.0
    targets = (values * markers).sum(dim=1, keepdim=True)  # (N, 1)
    return torch.stack([values, markers], dim=2), targets  # (N, T, 2), (N, 1)
