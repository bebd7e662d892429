"""Tests of seqnets.data.series: the two real series, windows, time-ordered splits, Standardizer."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from seqnets.data.series import Standardizer, check_series, co2, sliding_windows, sunspots, time_split

# --------------------------------------------------------------------------------------------
# data sets
# --------------------------------------------------------------------------------------------


def test_sunspots_years_and_values():
    years, values = sunspots()
    assert years.dtype == np.int64 and values.dtype == np.float64
    assert years.shape == values.shape == (309,)
    assert years[0] == 1700 and years[-1] == 2008
    assert np.all(np.diff(years) == 1)
    assert np.all(np.isfinite(values)) and values.min() >= 0
    # spot values of the published series
    assert values[0] == 5.0 and values[years.tolist().index(1957)] == 190.2


def test_co2_is_monthly_gap_free_and_matches_weekly_means():
    months, values = co2()
    assert months.dtype == np.dtype("datetime64[M]")
    assert months.shape == values.shape == (526,)
    assert str(months[0]) == "1958-03" and str(months[-1]) == "2001-12"
    assert np.all(np.diff(months).astype(int) == 1), "one value per calendar month, no month skipped"
    assert np.all(np.isfinite(values)), "gaps must be interpolated"
    # a month with readings equals the mean of its weekly values
    from statsmodels.datasets import co2 as sm_co2

    weekly = sm_co2.load_pandas().data["co2"]
    jan_1990 = weekly["1990-01-01":"1990-01-31"].mean()
    assert values[months == np.datetime64("1990-01")].item() == pytest.approx(jan_1990)
    # 1964-02..04 have no readings: interpolated values lie between the neighbouring months
    i = int(np.flatnonzero(months == np.datetime64("1964-02"))[0])
    lo, hi = sorted((values[i - 1], values[i + 3]))
    assert np.all((values[i : i + 3] >= lo) & (values[i : i + 3] <= hi))


# --------------------------------------------------------------------------------------------
# check_series
# --------------------------------------------------------------------------------------------


def test_check_series_accepts_lists_and_ints():
    out = check_series([1, 2, 3], "y")
    assert out.dtype == np.float64 and out.tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    "bad, err, match",
    [
        (torch.zeros(5), TypeError, r"y: expected a NumPy array, got a torch.Tensor"),
        (np.array(["a", "b"]), TypeError, r"y: expected real numbers"),
        (np.array([True, False]), TypeError, r"y: expected real numbers"),
        (np.zeros((2, 2, 2)), ValueError, r"y: expected a 1-D or 2-D array .*got shape \(2, 2, 2\)"),
        (np.array([1.0, np.nan]), ValueError, r"y: expected finite values, got 1 NaN or inf"),
        (np.array([]), ValueError, r"y: expected at least 1 time steps, got 0"),
    ],
)
def test_check_series_rejects(bad, err, match):
    with pytest.raises(err, match=match):
        check_series(bad, "y")


# --------------------------------------------------------------------------------------------
# sliding_windows
# --------------------------------------------------------------------------------------------


def test_sliding_windows_1d_values():
    X, Y = sliding_windows(np.arange(10.0), window=4, horizon=2)
    assert X.shape == (5, 4) and Y.shape == (5, 2)
    np.testing.assert_array_equal(X[0], [0, 1, 2, 3])
    np.testing.assert_array_equal(Y[0], [4, 5])
    np.testing.assert_array_equal(X[-1], [4, 5, 6, 7])
    np.testing.assert_array_equal(Y[-1], [8, 9])  # the last target ends at the last value


def test_sliding_windows_2d_and_stride():
    series = np.arange(20.0).reshape(10, 2)  # (T=10, D=2)
    X, Y = sliding_windows(series, window=3, horizon=1, stride=3)
    assert X.shape == (3, 3, 2) and Y.shape == (3, 1, 2)
    np.testing.assert_array_equal(X[1], series[3:6])
    np.testing.assert_array_equal(Y[2], series[9:10])


def test_sliding_windows_returns_copies():
    series = np.arange(6.0)
    X, _ = sliding_windows(series, 3)
    X[0, 0] = 100.0
    assert series[0] == 0.0


def test_sliding_windows_to_torch():
    X, Y = sliding_windows(np.sin(np.arange(50.0)), window=10)
    x = torch.from_numpy(X).float()[..., None]  # (N, 10, 1), batch-first
    assert x.shape == (40, 10, 1) and x.dtype == torch.float32


@settings(max_examples=60, deadline=None)
@given(
    T=st.integers(2, 40),
    window=st.integers(1, 20),
    horizon=st.integers(1, 5),
    stride=st.integers(1, 7),
)
def test_sliding_windows_property(T, window, horizon, stride):
    series = np.arange(T, dtype=float)
    if T < window + horizon:
        with pytest.raises(ValueError, match="series: expected at least window \\+ horizon"):
            sliding_windows(series, window, horizon, stride)
        return
    X, Y = sliding_windows(series, window, horizon, stride)
    n = (T - window - horizon) // stride + 1
    assert X.shape == (n, window) and Y.shape == (n, horizon)
    # each target continues its window, and no window crosses the end
    np.testing.assert_array_equal(Y[:, 0], X[:, -1] + 1)
    assert Y.max() <= T - 1
    # windows start every `stride` steps; one more would not fit
    np.testing.assert_array_equal(X[:, 0], np.arange(n) * stride)
    assert n * stride + window + horizon > T


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        (dict(window=0), ValueError, r"window: expected an integer >= 1, got 0"),
        (dict(window=2.0), TypeError, r"window: expected an integer"),
        (dict(window=2, horizon=0), ValueError, r"horizon: expected an integer >= 1"),
        (dict(window=2, stride=-1), ValueError, r"stride: expected an integer >= 1"),
        (dict(window=5, horizon=2), ValueError, r"series: expected at least window \+ horizon = 7 time steps, got 6"),
    ],
)
def test_sliding_windows_bad_arguments(kwargs, err, match):
    with pytest.raises(err, match=match):
        sliding_windows(np.arange(6.0), **kwargs)


# --------------------------------------------------------------------------------------------
# time_split
# --------------------------------------------------------------------------------------------


def test_time_split_fractions_are_contiguous_and_ordered():
    series = np.arange(100)
    train, val, test = time_split(series, val=0.15, test=0.15)
    assert (len(train), len(val), len(test)) == (70, 15, 15)
    np.testing.assert_array_equal(np.concatenate([train, val, test]), series)
    assert train.max() < val.min() and val.max() < test.min()


def test_time_split_counts_rounding_and_zero():
    train, val, test = time_split(np.arange(10), val=0.25, test=3)  # 2.5 rounds up to 3
    assert (len(train), len(val), len(test)) == (4, 3, 3)
    train, val, test = time_split(np.arange(10), val=0, test=0.0)
    assert (len(train), len(val), len(test)) == (10, 0, 0)


def test_time_split_tensor_and_2d():
    x = torch.arange(40.0).reshape(20, 2)
    train, val, test = time_split(x, val=4, test=4)
    assert isinstance(train, torch.Tensor) and train.shape == (12, 2) and test.shape == (4, 2)
    assert torch.equal(torch.cat([train, val, test]), x)


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        (dict(val=1.0), ValueError, r"val: expected a number in \[0, 1\), got 1.0"),
        (dict(test=-0.1), ValueError, r"test: expected a number in \[0, 1\)"),
        (dict(test=-2), ValueError, r"test: expected an integer >= 0, got -2"),
        (dict(val="10%"), TypeError, r"val: expected a fraction in \[0, 1\) or an integer count, got str"),
        (dict(val=True), TypeError, r"val: expected a fraction"),
        (dict(val=0.5, test=0.5), ValueError, r"val, test: they take 5 \+ 5 of 10 time steps, leaving 0"),
        (dict(val=6, test=6), ValueError, r"leaving -2 for training"),
    ],
)
def test_time_split_bad_sizes(kwargs, err, match):
    with pytest.raises(err, match=match):
        time_split(np.arange(10), **kwargs)


def test_time_split_bad_series():
    with pytest.raises(TypeError, match="series: expected a NumPy array or torch.Tensor, got int"):
        time_split(5)
    with pytest.raises(ValueError, match="series: expected at least 1-D"):
        time_split(np.array(3.0))


# --------------------------------------------------------------------------------------------
# Standardizer
# --------------------------------------------------------------------------------------------


def test_standardizer_1d_roundtrip():
    rng = np.random.default_rng(0)
    x = rng.normal(5.0, 3.0, size=500)
    s = Standardizer()
    z = s.fit_transform(x)
    assert s.mean_ == pytest.approx(x.mean()) and s.std_ == pytest.approx(x.std())
    assert z.mean() == pytest.approx(0.0, abs=1e-12) and z.std() == pytest.approx(1.0)
    np.testing.assert_allclose(s.inverse_transform(z), x)


def test_standardizer_per_feature_and_new_data():
    rng = np.random.default_rng(1)
    train = rng.normal([0.0, 10.0, -3.0], [1.0, 5.0, 0.1], size=(300, 3))  # (T, D)
    s = Standardizer().fit(train)
    assert s.mean_.shape == (3,) and s.std_.shape == (3,)
    test = rng.normal(size=(7, 4, 3))  # (N, T, D): same features, more leading axes
    np.testing.assert_allclose(s.transform(test), (test - train.mean(0)) / train.std(0))
    windows = np.stack([train[:10], train[10:20]])  # (2, 10, 3) fitted directly
    s3 = Standardizer().fit(windows)
    np.testing.assert_allclose(s3.mean_, train[:20].mean(0))


def test_standardizer_torch_keeps_dtype_and_matches_numpy():
    rng = np.random.default_rng(2)
    x = rng.normal(2.0, 4.0, size=(50, 2))
    s_np = Standardizer().fit(x)
    xt = torch.tensor(x, dtype=torch.float32)
    s_t = Standardizer().fit(xt)
    np.testing.assert_allclose(s_t.mean_, s_np.mean_, rtol=1e-6)
    z = s_t.transform(xt)
    assert isinstance(z, torch.Tensor) and z.dtype == torch.float32
    np.testing.assert_allclose(z.numpy(), s_np.transform(x), atol=1e-5)
    assert torch.allclose(s_t.inverse_transform(z), xt, atol=1e-5)


def test_standardizer_refuses_before_fit():
    with pytest.raises(RuntimeError, match=r"call fit\(x\)"):
        Standardizer().transform(np.ones(3))
    with pytest.raises(RuntimeError, match=r"call fit\(x\)"):
        Standardizer().inverse_transform(torch.ones(3))


def test_standardizer_refuses_constant_and_bad_input():
    with pytest.raises(ValueError, match="x: standard deviation is zero"):
        Standardizer().fit(np.full(10, 3.0))
    with pytest.raises(ValueError, match=r"standard deviation is zero \(features \[1\]\)"):
        Standardizer().fit(np.column_stack([np.arange(5.0), np.ones(5)]))
    with pytest.raises(ValueError, match="x: expected finite values"):
        Standardizer().fit(np.array([1.0, np.inf]))
    with pytest.raises(ValueError, match="x: expected finite values"):
        Standardizer().fit(torch.tensor([1.0, float("nan")]))
    with pytest.raises(TypeError, match="x: expected a NumPy array or torch.Tensor, got str"):
        Standardizer().fit("abc")
    s = Standardizer().fit(np.random.default_rng(0).normal(size=(10, 3)))
    with pytest.raises(ValueError, match=r"x: expected a last axis of 3 features \(as fitted\), got shape \(10, 2\)"):
        s.transform(np.zeros((10, 2)))
