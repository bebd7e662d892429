r"""Connectionist temporal classification (CTC): from per-frame scores to a transcript.

A CTC model (Graves et al. 2006) emits, at each of its ``T`` frames, a distribution over the
``C - 1`` symbols of the alphabet and one extra label, the *blank*. A *path* (one label per
frame) becomes a transcript by the collapse :math:`\mathcal B`: merge runs of the same label,
then drop the blanks, so that ``a a - b b - - b`` (``-`` the blank) reads ``abb``. A symbol that
follows itself in the transcript needs a blank between its two runs. Training with
``torch.nn.CTCLoss`` maximises the probability of the transcript, the sum over every path that
collapses to it; decoding looks for a likely transcript.

:func:`ctc_greedy_decode` takes the most likely label at each frame and collapses the result.
Because CTC takes the labels of different frames to be independent given the input, the path of
per-frame maxima is the most probable *path* (Graves et al. call this best-path decoding); it need
not collapse to the most probable *transcript*, which sums over many paths (prefix beam search
approximates that).
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from seqnets.utils import check_positive_int, check_tensor

__all__ = ["ctc_collapse", "ctc_greedy_decode"]


def _check_blank(blank: int, num_labels: int | None = None) -> int:
    blank = check_positive_int(blank, "blank", minimum=0)
    if num_labels is not None and blank >= num_labels:
        want = f"an index below the number of labels {num_labels}"
        raise ValueError(f"blank: expected {want}, got {blank}")
    return blank


def _label(item: Any, name: str) -> int:
    """``item`` as an int label ``>= 0``: a Python, NumPy or 0-d tensor integer, not a bool."""
    is_bool = isinstance(item, (bool, np.bool_))
    if isinstance(item, torch.Tensor):  # operator.index takes True and tensor([2]) as well
        is_bool = is_bool or item.dtype == torch.bool or item.ndim != 0
    try:
        label = None if is_bool else operator.index(item)
    except TypeError:  # float, str, ...
        label = None
    if label is None:
        raise TypeError(f"{name}: expected an int label, got {type(item).__name__} {item!r}")
    if label < 0:
        raise ValueError(f"{name}: expected a label >= 0, got {label}")
    return label


def ctc_collapse(path: Sequence[int] | torch.Tensor | np.ndarray, blank: int = 0) -> list[int]:
    """Collapse a CTC path: merge runs of repeated labels, then remove the blanks.

    Parameters
    ----------
    path : sequence of int, or 1-D integer tensor or array
        One label ``>= 0`` per frame: Python or NumPy integers, or 0-d integer tensors (bools
        are refused).
    blank : int
        The index of the blank label.

    Returns
    -------
    list of int
        The transcript, as label indices.

    Examples
    --------
    >>> ctc_collapse([1, 1, 0, 2, 2, 0, 0, 2])  # "a a - b b - - b"
    [1, 2, 2]
    >>> ctc_collapse([1, 1, 1])  # repeats without a blank between them merge
    [1]
    """
    blank = _check_blank(blank)
    if isinstance(path, (torch.Tensor, np.ndarray)):
        if path.ndim != 1:
            raise ValueError(f"path: expected a 1-D tensor or array, got shape {tuple(path.shape)}")
        labels = path.tolist()
    elif isinstance(path, (str, bytes)) or not isinstance(path, Sequence):
        got = type(path).__name__
        raise TypeError(f"path: expected a sequence of int, a 1-D tensor or array, got {got}")
    else:
        labels = list(path)
    out: list[int] = []
    previous = None
    for i, item in enumerate(labels):
        label = _label(item, f"path[{i}]")
        if label != previous and label != blank:
            out.append(label)
        previous = label
    return out


def ctc_greedy_decode(
    log_probs: torch.Tensor, lengths: torch.Tensor | None = None, *, blank: int = 0
) -> list[list[int]]:
    """Greedy (best-path) CTC decoding of a batch: the most likely label per frame, collapsed.

    Parameters
    ----------
    log_probs : torch.Tensor
        ``(B, T, C)`` scores per frame, batch first: log-probabilities, probabilities or logits
        (only their order within a frame matters). A NaN in a valid frame, the mark of a
        diverged model, raises a ``ValueError`` instead of decoding to a plausible transcript.
    lengths : torch.Tensor, optional
        ``(B,)`` integer number of valid frames of each sequence, in ``0..T``; frames beyond it
        are padding and ignored. ``None``: all ``T`` frames are valid.
    blank : int
        The index of the blank label, in ``0..C-1``.

    Returns
    -------
    list of list of int
        The ``B`` transcripts, as label indices (the blank never appears).

    Examples
    --------
    >>> scores = torch.tensor([[[0.1, 0.9, 0.0], [0.2, 0.8, 0.0], [0.9, 0.1, 0.0],
    ...                         [0.1, 0.9, 0.0], [0.1, 0.1, 0.8]]])  # (1, 5, 3)
    >>> ctc_greedy_decode(scores)  # best path 1 1 0 1 2
    [[1, 1, 2]]
    >>> ctc_greedy_decode(scores, torch.tensor([2]))  # only the first two frames count
    [[1]]
    """
    check_tensor(log_probs, "log_probs", ndim=3, floating=True)
    batch, frames, labels = log_probs.shape
    blank = _check_blank(blank, labels)
    if lengths is None:
        lengths = torch.full((batch,), frames)
    check_tensor(lengths, "lengths", ndim=1)
    if lengths.is_floating_point() or lengths.is_complex() or lengths.dtype == torch.bool:
        raise TypeError(f"lengths: expected an integer tensor, got dtype {lengths.dtype}")
    if lengths.shape[0] != batch:
        shape = tuple(lengths.shape)
        raise ValueError(f"lengths: expected shape ({batch},), one per sequence, got {shape}")
    if batch and (lengths.min() < 0 or lengths.max() > frames):
        values = lengths.tolist()
        raise ValueError(f"lengths: expected values in 0..{frames} (frames), got {values}")
    valid = torch.arange(frames, device=log_probs.device) < lengths.to(log_probs.device)[:, None]
    nan_frames = int((log_probs.isnan().any(dim=-1) & valid).sum())  # (B, T) -> count
    if nan_frames:
        raise ValueError(f"log_probs: expected no NaN, got NaN in {nan_frames} valid frame(s)")
    best = log_probs.argmax(dim=-1).cpu()  # (B, T): the best label of each frame
    return [ctc_collapse(best[b, : int(n)], blank) for b, n in enumerate(lengths.tolist())]
