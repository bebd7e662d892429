"""Tests of seqnets.metrics, checked against scikit-learn and hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from seqnets.metrics import (
    accuracy,
    bits_per_char,
    char_error_rate,
    confusion_matrix,
    edit_distance,
    mae,
    perplexity,
    precision_recall_f1,
    rmse,
)


def random_labels(seed: int, n: int = 200, k: int = 6, absent=(4,)):
    """True and predicted labels in 0..k-1; classes in ``absent`` never occur as true labels."""
    rng = np.random.default_rng(seed)
    allowed = np.array([c for c in range(k) if c not in absent])
    y_true = rng.choice(allowed, size=n)
    y_pred = np.where(rng.random(n) < 0.6, y_true, rng.integers(0, k, size=n))
    return y_true, y_pred


# --------------------------------------------------------------------------------------------
# Classification
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_accuracy_matches_sklearn(seed):
    y_true, y_pred = random_labels(seed)
    expected = skm.accuracy_score(y_true, y_pred)
    assert accuracy(y_true, y_pred) == pytest.approx(expected)
    assert accuracy(torch.as_tensor(y_true), torch.as_tensor(y_pred)) == pytest.approx(expected)
    assert accuracy(list(y_true), list(y_pred)) == pytest.approx(expected)


def test_accuracy_from_scores_and_sequences():
    scores = torch.tensor([[0.1, 2.0, -1.0], [3.0, 0.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    assert accuracy(torch.tensor([1, 0, 2, 2]), scores) == 0.75
    # (batch, time) labels with (batch, time, classes) scores, e.g. a language model
    labels = torch.tensor([[0, 1], [2, 2]])
    logits = torch.nn.functional.one_hot(torch.tensor([[0, 1], [2, 0]]), 3).float()
    assert accuracy(labels, logits) == 0.75
    assert accuracy(labels, logits, ignore_index=0) == pytest.approx(2 / 3)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("average", ["macro", "micro", "weighted", None])
def test_precision_recall_f1_matches_sklearn_default_labels(seed, average):
    y_true, y_pred = random_labels(seed)
    expected = skm.precision_recall_fscore_support(y_true, y_pred, average=average, zero_division=0)[:3]
    got = precision_recall_f1(y_true, y_pred, average=average)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, atol=1e-12)
    if average is not None:
        assert all(isinstance(v, float) for v in got)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("average", ["macro", "micro", "weighted", None])
def test_precision_recall_f1_with_num_classes_includes_absent_classes(seed, average):
    # class 4 never occurs as a true label; class 7 occurs nowhere
    y_true, y_pred = random_labels(seed, k=6, absent=(4,))
    labels = list(range(8))
    expected = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, average=average, zero_division=0)[:3]
    got = precision_recall_f1(torch.as_tensor(y_true), torch.as_tensor(y_pred), average=average, num_classes=8)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(g, e, atol=1e-12)
    if average is None:
        assert got[0].shape == (8,) and got[1][7] == 0 and got[2][4] == 0


def test_precision_recall_f1_hand_example():
    # class 0: tp=1 fp=1 fn=1; class 1: tp=1 fp=0 fn=1; class 2: tp=0 fp=1 fn=0
    y_true = [0, 0, 1, 1]
    y_pred = [0, 2, 1, 0]
    p, r, f = precision_recall_f1(y_true, y_pred, average=None)
    np.testing.assert_allclose(p, [0.5, 1.0, 0.0])
    np.testing.assert_allclose(r, [0.5, 0.5, 0.0])
    np.testing.assert_allclose(f, [0.5, 2 / 3, 0.0])
    assert precision_recall_f1(y_true, y_pred, average="micro") == pytest.approx((0.5, 0.5, 0.5))


@pytest.mark.parametrize("seed", range(5))
def test_confusion_matrix_matches_sklearn(seed):
    y_true, y_pred = random_labels(seed)
    cm = confusion_matrix(y_true, y_pred, num_classes=7)
    expected = skm.confusion_matrix(y_true, y_pred, labels=list(range(7)))
    assert cm.dtype == np.int64 and cm.shape == (7, 7)
    np.testing.assert_array_equal(cm, expected)
    assert cm[4].sum() == 0 and cm[6].sum() == 0 and cm[:, 6].sum() == 0
    np.testing.assert_array_equal(confusion_matrix(torch.as_tensor(y_true), torch.as_tensor(y_pred)), expected[:6, :6])


def test_confusion_matrix_rows_are_true_classes():
    cm = confusion_matrix([0, 0, 0, 1], [1, 1, 0, 1], num_classes=2)
    np.testing.assert_array_equal(cm, [[1, 2], [0, 1]])


def test_classification_bad_inputs():
    with pytest.raises(ValueError, match=r"y_pred: expected labels of shape \(3,\)"):
        accuracy([0, 1, 2], [0, 1])
    with pytest.raises(ValueError, match="y_true: expected integer class labels"):
        accuracy([0.5, 1.0], [0, 1])
    with pytest.raises(ValueError, match="y_true: expected class labels >= 0, got -1"):
        confusion_matrix([0, -1], [0, 1], num_classes=2)
    with pytest.raises(ValueError, match=r"y_pred: label 3 is out of range for num_classes=3"):
        confusion_matrix([0, 1], [0, 3], num_classes=3)
    with pytest.raises(ValueError, match="average: expected 'macro', 'micro', 'weighted' or None, got 'binary'"):
        precision_recall_f1([0, 1], [0, 1], average="binary")
    with pytest.raises(ValueError, match="y_true: expected at least one label"):
        accuracy([], [])
    with pytest.raises(TypeError, match="y_true: expected an array, list or tensor of numbers, got str"):
        accuracy("01", [0, 1])
    with pytest.raises(TypeError, match="y_pred: expected numbers"):
        accuracy([0, 1], ["a", "b"])
    with pytest.raises(ValueError, match="num_classes"):
        confusion_matrix([0], [0], num_classes=0)


# --------------------------------------------------------------------------------------------
# Regression
# --------------------------------------------------------------------------------------------


def test_rmse_and_mae_match_sklearn():
    rng = np.random.default_rng(0)
    y, yhat = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    assert rmse(y, yhat) == pytest.approx(math.sqrt(skm.mean_squared_error(y.ravel(), yhat.ravel())))
    assert mae(y, yhat) == pytest.approx(skm.mean_absolute_error(y.ravel(), yhat.ravel()))
    assert rmse(torch.as_tensor(y), torch.as_tensor(yhat, dtype=torch.float32)) == pytest.approx(
        rmse(y, yhat), rel=1e-6
    )
    assert rmse([1.0, 2.0], [1.0, 4.0]) == pytest.approx(math.sqrt(2.0))
    assert mae([1.0, 2.0], [1.0, 4.0]) == 1.0
    assert isinstance(rmse(y, yhat), float)


def test_regression_refuses_shape_mismatch():
    with pytest.raises(ValueError, match=r"y_pred: expected the shape of y_true \(4,\), got \(4, 1\)"):
        rmse(np.zeros(4), np.zeros((4, 1)))
    with pytest.raises(ValueError, match="at least one value"):
        mae([], [])


# --------------------------------------------------------------------------------------------
# Language models
# --------------------------------------------------------------------------------------------


def test_perplexity_and_bits_per_char():
    assert perplexity(math.log(10)) == pytest.approx(10.0)
    assert perplexity(torch.tensor(0.0)) == 1.0
    assert bits_per_char(math.log(2)) == pytest.approx(1.0)
    # a uniform model over 256 bytes costs 8 bits per character
    logits = torch.zeros(10, 256)
    nll = torch.nn.functional.cross_entropy(logits, torch.randint(0, 256, (10,)))
    assert bits_per_char(nll) == pytest.approx(8.0)
    assert perplexity(nll) == pytest.approx(256.0, rel=1e-5)
    assert perplexity(1e4) == math.inf
    with pytest.raises(ValueError, match="did you pass the log-likelihood"):
        perplexity(-0.5)
    with pytest.raises(ValueError, match="nll: expected a scalar"):
        bits_per_char(torch.ones(3))
    with pytest.raises(TypeError, match="nll: expected a number"):
        perplexity("1.0")


# --------------------------------------------------------------------------------------------
# Edit distance and character error rate
# --------------------------------------------------------------------------------------------


def reference_levenshtein(a, b):
    """Full-table dynamic programme, written independently of the two-row version under test."""
    d = np.zeros((len(a) + 1, len(b) + 1), dtype=int)
    d[:, 0] = np.arange(len(a) + 1)
    d[0, :] = np.arange(len(b) + 1)
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            d[i, j] = min(d[i - 1, j] + 1, d[i, j - 1] + 1, d[i - 1, j - 1] + (a[i - 1] != b[j - 1]))
    return int(d[-1, -1])


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ("kitten", "sitting", 3),
        ("", "abc", 3),
        ("abc", "", 3),
        ("", "", 0),
        ("flaw", "lawn", 2),
        ("abc", "abc", 0),
        ("ab", "ba", 2),
    ],
)
def test_edit_distance_known_cases(a, b, expected):
    assert edit_distance(a, b) == expected
    assert edit_distance(b, a) == expected


def test_edit_distance_random_against_full_table_and_other_sequence_types():
    rng = np.random.default_rng(0)
    for _ in range(50):
        a = "".join(rng.choice(list("abc"), size=rng.integers(0, 9)))
        b = "".join(rng.choice(list("abc"), size=rng.integers(0, 9)))
        assert edit_distance(a, b) == reference_levenshtein(a, b)
    assert edit_distance("the cat sat".split(), "the cat sat down".split()) == 1
    assert edit_distance(torch.tensor([1, 2, 3]), np.array([1, 3])) == 1
    with pytest.raises(ValueError, match="a: expected a 1-D sequence"):
        edit_distance(torch.zeros(2, 2), [0])
    with pytest.raises(TypeError, match="b: expected a string, list"):
        edit_distance("ab", 12)


def test_char_error_rate_pools_over_pairs():
    refs = ["hello", "world!"]
    hyps = ["hallo", "word"]
    assert char_error_rate(refs, hyps) == pytest.approx((1 + 2) / 11)
    assert char_error_rate(["abc"], ["abc"]) == 0.0
    assert char_error_rate(["a"], ["xyz"]) == 3.0
    with pytest.raises(ValueError, match=r"hypotheses: expected as many strings as references \(2\), got 1"):
        char_error_rate(refs, ["x"])
    with pytest.raises(TypeError, match="references: expected a list of strings, got a single str"):
        char_error_rate("hello", "hallo")
    with pytest.raises(TypeError, match=r"hypotheses\[1\]: expected a str, got int"):
        char_error_rate(refs, ["a", 1])
    with pytest.raises(ValueError, match="total reference length is 0"):
        char_error_rate([""], ["a"])
