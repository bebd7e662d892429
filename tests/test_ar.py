"""Tests of seqnets.models.ar against statsmodels and against known AR processes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from statsmodels.tsa.ar_model import AutoReg, ar_select_order

from seqnets.data.series import sunspots
from seqnets.models.ar import ARModel, fit_ar, information_criteria, select_order


@pytest.fixture(scope="module")
def spots() -> np.ndarray:
    return sunspots()[1]


def simulate_ar(coef, intercept, T, seed, burn=200):
    """Simulate y_t = intercept + sum_j coef[j-1] y_{t-j} + N(0, 1), dropping a burn-in."""
    rng = np.random.default_rng(seed)
    p = len(coef)
    y = np.zeros(T + burn)
    e = rng.normal(size=T + burn)
    for t in range(p, T + burn):
        y[t] = intercept + np.dot(coef, y[t - p : t][::-1]) + e[t]
    return y[burn:]


# --------------------------------------------------------------------------------------------
# agreement with statsmodels
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("p", range(1, 11))
def test_fit_ar_matches_autoreg_on_sunspots(spots, p):
    model = fit_ar(spots, p)
    ref = AutoReg(spots, p).fit()
    np.testing.assert_allclose(model.params, ref.params, rtol=0, atol=1e-8)
    assert model.intercept == pytest.approx(ref.params[0], abs=1e-8)
    assert model.coef[0] == pytest.approx(ref.params[1], abs=1e-8), "coef[0] is the lag-1 weight"
    assert model.sigma2 == pytest.approx(ref.sigma2, rel=1e-10)
    assert model.nobs == ref.nobs == len(spots) - p
    assert model.aic == pytest.approx(ref.aic, rel=1e-12)
    assert model.bic == pytest.approx(ref.bic, rel=1e-12)


@pytest.mark.parametrize("seed, p", [(0, 1), (1, 3), (2, 7)])
def test_fit_ar_matches_autoreg_on_random_data(seed, p):
    y = np.random.default_rng(seed).normal(size=150).cumsum() * 0.1 + 3.0  # not even stationary
    np.testing.assert_allclose(fit_ar(y, p).params, AutoReg(y, p).fit().params, rtol=0, atol=1e-8)


def test_predict_and_forecast_match_autoreg(spots):
    model = fit_ar(spots, 9)
    ref = AutoReg(spots, 9).fit()
    np.testing.assert_allclose(model.predict(spots), ref.fittedvalues, atol=1e-8)
    np.testing.assert_allclose(model.forecast(30), ref.forecast(30), atol=1e-8)


def test_predict_is_one_step_from_true_past(spots):
    model = fit_ar(spots, 2)
    pred = model.predict(spots[:10])
    assert pred.shape == (8,)
    t = 5
    expected = model.intercept + model.coef[0] * spots[t - 1] + model.coef[1] * spots[t - 2]
    assert pred[t - 2] == pytest.approx(expected)


@pytest.mark.parametrize("criterion", ["aic", "bic"])
@pytest.mark.parametrize("max_p", [5, 15])
def test_select_order_matches_ar_select_order(spots, criterion, max_p):
    ref = ar_select_order(spots, max_p, ic=criterion)
    assert select_order(spots, max_p, criterion) == len(ref.ar_lags)


def test_information_criteria_differ_from_ar_select_order_by_a_constant(spots):
    # statsmodels' ar_select_order leaves the noise variance out of the parameter count;
    # AutoRegResults (and we) count it. The shift is the same for every order.
    max_p = 15
    ref = ar_select_order(spots, max_p, ic="aic")
    ours = information_criteria(spots, max_p)
    for lags, value in ref.aic.items():
        p = 0 if lags == 0 else len(lags)
        assert ours["aic"][p] - value == pytest.approx(2.0, abs=1e-8)
    for lags, value in ref.bic.items():
        p = 0 if lags == 0 else len(lags)
        assert ours["bic"][p] - value == pytest.approx(np.log(len(spots) - max_p), abs=1e-8)


def test_select_order_uses_a_common_sample(spots):
    # comparing each order on its own sample (what fitting separately gives) is a different,
    # wrong-footed comparison; the common-sample criterion is what select_order minimises
    ic = information_criteria(spots, 12)["aic"]
    for p in (1, 4, 9):
        refit = fit_ar(spots[12 - p :], p)  # same targets spots[12:]
        assert refit.aic == pytest.approx(ic[p], rel=1e-12)


def test_select_order_recovers_true_order():
    y = simulate_ar([0.6, -0.3, 0.25], intercept=0.5, T=3000, seed=3)
    assert select_order(y, 10, "bic") == 3


def test_select_order_can_choose_zero_for_white_noise():
    y = np.random.default_rng(4).normal(size=2000)
    assert select_order(y, 5, "bic") == 0


# --------------------------------------------------------------------------------------------
# behaviour on known processes
# --------------------------------------------------------------------------------------------


def test_fit_recovers_ar2_parameters():
    y = simulate_ar([1.3, -0.6], intercept=2.0, T=5000, seed=5)
    model = fit_ar(y, 2)
    np.testing.assert_allclose(model.coef, [1.3, -0.6], atol=0.03)
    assert model.sigma2 == pytest.approx(1.0, rel=0.05)


def test_ar1_forecast_decays_to_mean():
    phi, c = 0.8, 1.0
    mean = c / (1 - phi)  # 5.0
    model = ARModel(intercept=c, coef=np.array([phi]), sigma2=1.0, nobs=100, history=np.array([15.0]))
    f = model.forecast(60)
    # exact path: mean + phi^h (y_T - mean)
    np.testing.assert_allclose(f, mean + phi ** np.arange(1, 61) * (15.0 - mean))
    assert np.all(np.diff(np.abs(f - mean)) < 0), "distance to the mean shrinks every step"
    assert abs(f[-1] - mean) < 1e-4


def test_fitted_ar1_forecast_decays_to_its_mean():
    y = simulate_ar([0.7], intercept=3.0, T=2000, seed=6)
    model = fit_ar(y, 1)
    mean = model.intercept / (1 - model.coef[0])
    assert mean == pytest.approx(10.0, abs=0.3)
    f = model.forecast(100, history=[mean + 8.0])
    assert abs(f[-1] - mean) < 1e-8 and f[0] > f[1] > f[2] > mean


def test_forecast_default_history_is_training_series(spots):
    model = fit_ar(spots, 3)
    np.testing.assert_array_equal(model.forecast(5), model.forecast(5, history=spots[-3:]))
    assert model.forecast(1)[0] == pytest.approx(model.predict(np.append(spots[-3:], 0.0))[0])


def test_repr_mentions_order():
    assert "p=2" in repr(fit_ar(simulate_ar([0.5, 0.2], 0.0, 200, 7), 2))


# --------------------------------------------------------------------------------------------
# bad input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "y, p, err, match",
    [
        (np.arange(20.0), 0, ValueError, r"p: expected an integer >= 1, got 0"),
        (np.arange(20.0), 1.5, TypeError, r"p: expected an integer"),
        (np.arange(20.0), 10, ValueError, r"p: expected an order below len\(y\) / 2 = 10, got 10"),
        (np.r_[np.arange(10.0), np.nan, np.arange(10.0)], 2, ValueError, r"y: expected finite values, got 1 NaN"),
        (np.zeros((20, 2)), 2, ValueError, r"y: expected a 1-D array \(time first\), got shape \(20, 2\)"),
        (torch.arange(20.0), 2, TypeError, r"y: expected a NumPy array, got a torch.Tensor"),
        (np.ones(2), 1, ValueError, r"y: expected at least 3 time steps, got 2"),
        (np.full(20, 4.0), 2, ValueError, r"y: the lag matrix of order 2 is rank-deficient"),
    ],
)
def test_fit_ar_bad_input(y, p, err, match):
    with pytest.raises(err, match=match):
        fit_ar(y, p)


def test_select_order_bad_input(spots):
    with pytest.raises(ValueError, match=r"criterion: expected 'aic' or 'bic', got 'hqic'"):
        select_order(spots, 5, "hqic")
    with pytest.raises(ValueError, match=r"max_p: expected an integer >= 1, got 0"):
        select_order(spots, 0)
    with pytest.raises(ValueError, match=r"max_p: expected an order below len\(y\) / 2"):
        select_order(spots[:20], 10)
    with pytest.raises(ValueError, match=r"y: expected a 1-D array"):
        select_order(spots[:, None], 3)


def test_predict_and_forecast_bad_input(spots):
    model = fit_ar(spots, 3)
    with pytest.raises(ValueError, match=r"y: expected at least 4 time steps, got 3"):
        model.predict(spots[:3])
    with pytest.raises(ValueError, match=r"steps: expected an integer >= 1, got 0"):
        model.forecast(0)
    with pytest.raises(ValueError, match=r"history: expected at least 3 time steps, got 2"):
        model.forecast(5, history=[1.0, 2.0])
    with pytest.raises(ValueError, match=r"history: expected finite values"):
        model.forecast(5, history=[1.0, np.nan, 2.0])


def test_armodel_constructor_validates():
    with pytest.raises(ValueError, match=r"history: expected at least 2 time steps, got 1"):
        ARModel(intercept=0.0, coef=[0.5, 0.1], sigma2=1.0, nobs=10, history=[1.0])
    with pytest.raises(ValueError, match=r"sigma2 >= 0"):
        ARModel(intercept=0.0, coef=[0.5], sigma2=-1.0, nobs=10, history=[1.0])
    with pytest.raises(ValueError, match=r"coef: expected finite values"):
        ARModel(intercept=0.0, coef=[np.nan], sigma2=1.0, nobs=10, history=[1.0])
