"""scikit-learn digits as images, and the stratified split."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqnets.data.images import digits, stratified_split

CLASS_SIZES = [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_digits_tensors() -> None:
    x, y = digits()
    assert isinstance(x, torch.Tensor) and isinstance(y, torch.Tensor)
    assert x.shape == (1797, 1, 8, 8) and x.dtype == torch.float32
    assert y.shape == (1797,) and y.dtype == torch.int64
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    # scaled by exactly 1/16: every pixel is a multiple of 1/16
    torch.testing.assert_close(x * 16, torch.round(x * 16))
    assert torch.bincount(y).tolist() == CLASS_SIZES


def test_digits_numpy_matches_sklearn() -> None:
    from sklearn.datasets import load_digits

    x, y = digits(as_tensors=False)
    assert isinstance(x, np.ndarray) and x.dtype == np.float32 and y.dtype == np.int64
    ref = load_digits()
    np.testing.assert_allclose(x.reshape(len(x), 64) * 16, ref.data)
    np.testing.assert_array_equal(y, ref.target)


def test_digits_rejects_non_bool() -> None:
    with pytest.raises(TypeError, match="as_tensors: expected a bool"):
        digits(as_tensors="yes")


def test_stratified_split_counts_on_digits() -> None:
    _, y = digits(as_tensors=False)
    train, val, test = stratified_split(y, test=0.2)
    # round(0.2 * n_c), halves up, class by class
    assert np.bincount(y[test]).tolist() == [36, 36, 35, 37, 36, 36, 36, 36, 35, 36]
    assert len(test) == 359 and len(train) == 1797 - 359 and len(val) == 0
    assert val.dtype == np.int64


def test_stratified_split_is_a_partition_and_stratified() -> None:
    rng = np.random.default_rng(3)
    y = rng.integers(0, 4, size=500)
    train, val, test = stratified_split(y, test=0.2, val=0.1, seed=7)
    together = np.concatenate([train, val, test])
    assert sorted(together.tolist()) == list(range(500))  # disjoint and complete
    for part in (train, val, test):
        assert np.all(np.diff(part) > 0)  # sorted
    for c in range(4):
        n_c = int(np.sum(y == c))
        assert np.sum(y[test] == c) == int(np.floor(0.2 * n_c + 0.5))
        assert np.sum(y[val] == c) == int(np.floor(0.1 * n_c + 0.5))


def test_stratified_split_seed() -> None:
    y = np.repeat(np.arange(3), 20)
    a = stratified_split(y, test=0.25, seed=1)
    b = stratified_split(torch.from_numpy(y), test=0.25, seed=1)  # tensors accepted
    c = stratified_split(y, test=0.25, seed=2)
    for p, q in zip(a, b, strict=True):
        np.testing.assert_array_equal(p, q)
    assert not np.array_equal(a[2], c[2])


def test_every_class_in_every_part() -> None:
    y = np.array([0] * 50 + [1] * 3)  # 0.1 * 3 rounds to 0, but class 1 still gets one test example
    train, val, test = stratified_split(y, test=0.1, val=0.1)
    for part in (train, val, test):
        assert set(y[part].tolist()) == {0, 1}


def test_stratified_split_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="labels: expected a 1-D array"):
        stratified_split(np.zeros((3, 2), dtype=int))
    with pytest.raises(TypeError, match="labels: expected integer class labels, got dtype float64"):
        stratified_split(np.zeros(10))
    with pytest.raises(ValueError, match=r"test: expected a number in \[0, 1\), got 1.5"):
        stratified_split(np.zeros(10, dtype=int), test=1.5)
    with pytest.raises(ValueError, match="test, val: expected test \\+ val < 1"):
        stratified_split(np.zeros(10, dtype=int), test=0.5, val=0.5)
    with pytest.raises(ValueError, match="labels: class 1 has 2 example"):
        stratified_split(np.array([0] * 10 + [1] * 2), test=0.2, val=0.2)
    with pytest.raises(ValueError, match="seed"):
        stratified_split(np.zeros(10, dtype=int), seed=-1)
