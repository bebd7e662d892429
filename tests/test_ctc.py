"""Tests of seqnets.models.ctc: collapsing CTC paths and greedy decoding, on hand-made frames."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from seqnets.models.ctc import ctc_collapse, ctc_greedy_decode


def frames(*labels: int, num_labels: int = 4) -> torch.Tensor:
    """Log-probabilities ``(T, C)`` whose best label at frame ``t`` is ``labels[t]``."""
    probs = torch.full((len(labels), num_labels), 0.1)
    probs[torch.arange(len(labels)), torch.tensor(labels)] = 0.7
    return probs.log()


# ----------------------------------------------------------------------------- ctc_collapse


@pytest.mark.parametrize(
    "path, expected",
    [
        ([1, 1, 0, 2, 2, 0, 0, 2], [1, 2, 2]),  # "a a - b b - - b"
        ([0, 1, 0], [1]),  # blanks around a symbol
        ([1, 1, 1], [1]),  # a run is one symbol
        ([1, 0, 1], [1, 1]),  # a blank separates a repeat
        ([1, 2, 1], [1, 2, 1]),  # different neighbours need no blank
        ([0, 0, 0], []),  # all blank
        ([], []),  # no frames
        ([3, 3, 0, 0, 3, 1], [3, 3, 1]),
    ],
)
def test_collapse_merges_runs_then_drops_blanks(path, expected):
    assert ctc_collapse(path) == expected
    assert ctc_collapse(torch.tensor(path, dtype=torch.long)) == expected
    assert ctc_collapse(tuple(path)) == expected


def test_collapse_accepts_numpy_labels():
    path = np.array([1, 1, 0, 2], dtype=np.int64)
    assert ctc_collapse(path) == [1, 2]
    assert ctc_collapse(list(path)) == [1, 2]  # NumPy integers one by one
    assert ctc_collapse(np.array([3, 3, 1], dtype=np.uint8), blank=3) == [1]


def test_collapse_with_another_blank_index():
    # blank 3: label 0 is an ordinary symbol
    assert ctc_collapse([0, 0, 3, 0, 2, 3, 3], blank=3) == [0, 0, 2]


@pytest.mark.parametrize(
    "path, blank, error, match",
    [
        ([1.0, 2.0], 0, TypeError, r"path\[0\]: expected an int label, got float"),
        ([1, True], 0, TypeError, r"path\[1\]: expected an int label, got bool"),
        ([1, -3, 2], 0, ValueError, r"path\[1\]: expected a label >= 0, got -3"),
        (np.array([2, -1]), 0, ValueError, r"path\[1\]: expected a label >= 0, got -1"),
        ("abc", 0, TypeError, "path: expected a sequence of int"),
        (5, 0, TypeError, "path: expected a sequence of int"),
        (torch.tensor([0.5, 1.0]), 0, TypeError, r"path\[0\]: expected an int label, got float"),
        (np.array([0.5, 1.0]), 0, TypeError, r"path\[0\]: expected an int label, got float"),
        (torch.tensor([True, False]), 0, TypeError, r"path\[0\]: expected an int label, got bool"),
        ([torch.tensor(True), 1], 0, TypeError, r"path\[0\]: expected an int label, got Tensor tensor\(True\)"),
        ([1, torch.tensor([2])], 0, TypeError, r"path\[1\]: expected an int label, got Tensor tensor\(\[2\]\)"),
        (torch.zeros(2, 3, dtype=torch.long), 0, ValueError, "path: expected a 1-D tensor or array"),
        ([1, 2], -1, ValueError, "blank: expected an integer >= 0"),
    ],
)
def test_collapse_rejects_bad_input(path, blank, error, match):
    with pytest.raises(error, match=match):
        ctc_collapse(path, blank=blank)


# ----------------------------------------------------------------------------- ctc_greedy_decode


def test_greedy_decode_on_hand_made_frames():
    batch = torch.stack(
        [
            frames(1, 1, 0, 1, 2),  # repeat separated by a blank, then another symbol
            frames(0, 0, 0, 0, 0),  # all blank
            frames(3, 3, 3, 3, 3),  # one long symbol
            frames(2, 0, 0, 1, 1),
        ]
    )  # (B=4, T=5, C=4)
    assert ctc_greedy_decode(batch) == [[1, 1, 2], [], [3], [2, 1]]


def test_greedy_decode_ignores_frames_beyond_each_length():
    batch = torch.stack([frames(1, 0, 1, 2, 2), frames(3, 1, 1, 1, 1)])
    lengths = torch.tensor([3, 1])
    assert ctc_greedy_decode(batch, lengths) == [[1, 1], [3]]
    assert ctc_greedy_decode(batch, torch.tensor([0, 5])) == [[], [3, 1]]


def test_greedy_decode_accepts_probabilities_or_logits_and_another_blank():
    log_probs = torch.stack([frames(0, 0, 2, 3, 3)])
    # Only the order within a frame matters: probabilities and shifted logits decode alike.
    for scores in (log_probs, log_probs.exp(), log_probs + 5.0):
        assert ctc_greedy_decode(scores, blank=3) == [[0, 2]]


def test_greedy_decode_is_the_most_probable_path():
    # Frames are independent, so the per-frame argmax is the single most probable path.
    torch.manual_seed(0)
    log_probs = torch.randn(1, 4, 3).log_softmax(-1)  # (1, T=4, C=3)
    best = max(
        itertools.product(range(3), repeat=4),
        key=lambda p: log_probs[0, torch.arange(4), torch.tensor(p)].sum().item(),
    )
    assert ctc_greedy_decode(log_probs) == [ctc_collapse(list(best))]


def test_best_path_need_not_give_the_most_probable_transcript():
    probs = torch.tensor([[[0.6, 0.4], [0.6, 0.4]]])  # two frames: p(blank) 0.6, p(a) 0.4
    assert ctc_greedy_decode(probs) == [[]]
    # Paths that read "a": a a, a -, - a -> 0.16 + 0.24 + 0.24 = 0.64 > 0.36 for "".
    p_a = sum(probs[0, 0, i] * probs[0, 1, j] for i, j in [(1, 1), (1, 0), (0, 1)])
    assert p_a.item() == pytest.approx(0.64)


def test_greedy_decode_handles_an_empty_batch_and_lengths_as_other_int_types():
    assert ctc_greedy_decode(torch.zeros(0, 5, 3)) == []
    batch = torch.stack([frames(1, 2, 2)])
    assert ctc_greedy_decode(batch, torch.tensor([2], dtype=torch.int32)) == [[1, 2]]


@pytest.mark.parametrize(
    "log_probs, lengths, blank, error, match",
    [
        (torch.zeros(5, 3), None, 0, ValueError, r"log_probs: expected a 3-D tensor"),
        (torch.zeros(1, 5, 3, dtype=torch.long), None, 0, TypeError, "log_probs: expected a floating-point"),
        (torch.zeros(2, 5, 3), torch.tensor([5]), 0, ValueError, r"lengths: expected shape \(2,\)"),
        (torch.zeros(2, 5, 3), torch.tensor([5, 6]), 0, ValueError, r"lengths: expected values in 0\.\.5 \(frames\)"),
        (torch.zeros(2, 5, 3), torch.tensor([5, -1]), 0, ValueError, r"lengths: expected values in 0\.\.5 \(frames\)"),
        (torch.zeros(2, 5, 3), torch.tensor([5.0, 5.0]), 0, TypeError, "lengths: expected an integer tensor"),
        (torch.zeros(2, 5, 3), [5, 5], 0, TypeError, "lengths: expected a torch.Tensor"),
        (torch.zeros(2, 5, 3), None, 3, ValueError, "blank: expected an index below the number of labels 3"),
    ],
)
def test_greedy_decode_rejects_bad_input(log_probs, lengths, blank, error, match):
    with pytest.raises(error, match=match):
        ctc_greedy_decode(log_probs, lengths, blank=blank)


def test_greedy_decode_refuses_nan_in_valid_frames_only():
    batch = torch.stack([frames(1, 0, 2), frames(2, 2, 1)])  # (2, 3, 3)
    batch[1, 2, 0] = float("nan")  # a diverged model's score, in the last frame of clip 1
    with pytest.raises(ValueError, match=r"log_probs: expected no NaN, got NaN in 1 valid frame"):
        ctc_greedy_decode(batch)
    assert ctc_greedy_decode(batch, torch.tensor([3, 2])) == [[1, 2], [2]]  # NaN in padding: ignored
