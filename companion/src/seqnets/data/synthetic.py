"""Generated tasks with known answers, for testing what a sequence model can remember.

The memory tasks (:func:`adding_problem`, :func:`copy_memory`) return batch-first tensors
``(inputs (N, T, F), targets)``; :func:`number_words` spells numbers in English words for the
translation chapter; :func:`dtmf_clips` (defined in :mod:`seqnets.data.audio`) generates
touch-tone recordings for the speech chapter. Each draws its randomness from an optional
``torch.Generator`` (``dtmf_clips``: a ``seed``), so a seeded call repeats exactly and leaves the
global random state alone.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from seqnets.data.audio import dtmf_clips  # generated audio; defined with the WAV code
from seqnets.utils import check_positive_int

__all__ = [
    "adding_problem",
    "copy_memory",
    "copy_memory_baseline",
    "COPY_DIGITS",
    "number_words",
    "NUMBER_WORDS_LIMIT",
    "dtmf_clips",
]

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


#: ``number_words`` spells numbers below this bound (up to "nine hundred ninety nine thousand ...").
NUMBER_WORDS_LIMIT = 1_000_000

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
).split()
_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")


def _below_thousand(n: int) -> list[str]:
    """Words of ``1 <= n <= 999``: ``[ones "hundred"] [tens] [ones or a teen]``."""
    hundreds, rest = divmod(n, 100)
    words = [_ONES[hundreds], "hundred"] if hundreds else []
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(_TENS[tens])
        if ones:
            words.append(_ONES[ones])
    elif rest:
        words.append(_ONES[rest])
    return words


def _spell(n: int) -> str:
    if n == 0:
        return "zero"
    thousands, rest = divmod(n, 1000)
    words = _below_thousand(thousands) + ["thousand"] if thousands else []
    if rest:
        words += _below_thousand(rest)
    return " ".join(words)


def number_words(
    numbers: int | Sequence[int] | torch.Tensor,
    *,
    low: int = 0,
    high: int = NUMBER_WORDS_LIMIT,
    generator: torch.Generator | None = None,
) -> tuple[list[str], list[str]]:
    """English words and decimal digits of whole numbers: a small translation task.

    The words are American English without "and" and without hyphens, so that every word is a
    token: 342107 is ``"three hundred forty two thousand one hundred seven"``. There are 30
    distinct words (``zero`` to ``nineteen``, the eight tens, ``hundred``, ``thousand``) and
    a sentence has 1 to 9 of them; the digits have no leading zeros (``"0"`` for zero).

    Parameters
    ----------
    numbers : int, sequence of int or 1-D integer tensor
        The numbers to spell; or, given as a single ``int``, how many *distinct* numbers to draw
        uniformly from ``[low, high)`` (a seeded random permutation of the range, cut short).
    low, high : int
        The numbers allowed: ``0 <= low < high <= 1_000_000``.
    generator : torch.Generator, optional
        Source of randomness for a drawn count; ``None`` uses torch's global generator.

    Returns
    -------
    words : list of str
        The numbers in words, tokens separated by single spaces.
    digits : list of str
        The same numbers in digits (``int(digits[i])`` is the number).

    Examples
    --------
    >>> number_words([0, 15, 342107])
    (['zero', 'fifteen', 'three hundred forty two thousand one hundred seven'], ['0', '15', '342107'])

    Drawn numbers are distinct, so slices of one draw never share a number: a held-out set that
    training never saw.

    >>> words, digits = number_words(1000, generator=torch.Generator().manual_seed(0))
    >>> train, test = set(digits[:900]), set(digits[900:])
    >>> len(train) + len(test), train & test
    (1000, set())
    """
    low = check_positive_int(low, "low", minimum=0)
    high = check_positive_int(high, "high", minimum=1)
    if not low < high <= NUMBER_WORDS_LIMIT:
        raise ValueError(f"low, high: expected 0 <= low < high <= {NUMBER_WORDS_LIMIT}, got low={low}, high={high}")
    _check_generator(generator)
    if isinstance(numbers, torch.Tensor):
        if numbers.dim() != 1 or numbers.is_floating_point() or numbers.is_complex() or numbers.dtype == torch.bool:
            raise TypeError(
                f"numbers: expected a 1-D integer tensor, got {numbers.dtype} of shape {tuple(numbers.shape)}"
            )
        numbers = numbers.tolist()
    if isinstance(numbers, (int, np.integer)) and not isinstance(numbers, bool):
        count = check_positive_int(numbers, "numbers")
        if count > high - low:
            raise ValueError(
                f"numbers: cannot draw {count} distinct numbers from [{low}, {high}), which holds {high - low}"
            )
        numbers = (torch.randperm(high - low, generator=generator)[:count] + low).tolist()
    elif isinstance(numbers, (str, bytes)) or not isinstance(numbers, Sequence):
        raise TypeError(f"numbers: expected a count (int) or a sequence of integers, got {type(numbers).__name__}")
    for i, n in enumerate(numbers):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
            raise TypeError(f"numbers[{i}]: expected an integer, got {type(n).__name__} {n!r}")
        if not low <= n < high:
            raise ValueError(f"numbers[{i}]: expected an integer in [{low}, {high}), got {n}")
    return [_spell(int(n)) for n in numbers], [str(int(n)) for n in numbers]
