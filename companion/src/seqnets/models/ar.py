r"""Linear autoregressive models, AR(p), fitted by ordinary least squares.

An AR(p) model predicts each value from the ``p`` values before it:

.. math::

    y_t = c + \phi_1 y_{t-1} + \phi_2 y_{t-2} + \dots + \phi_p y_{t-p} + \varepsilon_t,
    \qquad \varepsilon_t \sim \text{white noise with variance } \sigma^2.

:func:`fit_ar` estimates ``c`` and ``phi`` by least squares on the conditional likelihood (the
first ``p`` values are conditioned on, not modelled), exactly as statsmodels'
``AutoReg(y, p).fit()`` does, and returns an :class:`ARModel`. :func:`select_order` picks ``p``
by AIC or BIC, like ``statsmodels.tsa.ar_model.ar_select_order``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqnets.data.series import check_series
from seqnets.utils import check_positive_int

__all__ = ["ARModel", "fit_ar", "select_order", "information_criteria"]


def _lag_matrix(y: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Design matrix and targets of an AR(p) regression with intercept.

    Row ``k`` predicts ``y[p + k]`` from ``[1, y[p+k-1], ..., y[k]]``: column 0 is ones, column
    ``j`` (1..p) is lag ``j``. Shapes: ``X`` (T - p, 1 + p), ``target`` (T - p,).
    """
    T = y.shape[0]
    X = np.empty((T - p, 1 + p))  # (T - p, 1 + p)
    X[:, 0] = 1.0
    for j in range(1, p + 1):
        X[:, j] = y[p - j : T - j]  # y[t - j] for t = p .. T-1
    return X, y[p:]


def _gaussian_ic(rss: float, nobs: int, p: int) -> tuple[float, float]:
    """AIC and BIC of an AR(p) regression with Gaussian noise, ``sigma2 = rss / nobs`` (the MLE).

    ``k = p + 2`` parameters are counted: the intercept, ``p`` lag weights and the noise variance.
    This is the count behind statsmodels' ``AutoRegResults.aic`` / ``.bic``.
    """
    sigma2 = rss / nobs
    llf = -0.5 * nobs * (np.log(2.0 * np.pi * sigma2) + 1.0)
    k = p + 2
    return -2.0 * llf + 2.0 * k, -2.0 * llf + np.log(nobs) * k


class ARModel:
    """A fitted AR(p) model: ``y_t = intercept + sum_j coef[j-1] * y_{t-j} + noise``.

    Made by :func:`fit_ar`; you rarely build one by hand.

    Attributes
    ----------
    intercept : float
        The constant ``c``. (The process mean, if stationary, is ``c / (1 - sum(coef))``.)
    coef : np.ndarray
        Lag weights, shape ``(p,)``; ``coef[0]`` multiplies ``y[t-1]``, ``coef[p-1]``
        multiplies ``y[t-p]``.
    p : int
        The order.
    sigma2 : float
        Residual variance ``RSS / nobs`` (maximum-likelihood estimate, as statsmodels reports it).
    nobs : int
        Number of targets the fit used (``T - p``).
    history : np.ndarray
        The series the model was fitted on, shape ``(T,)``; :meth:`forecast` continues from its
        end by default.
    """

    def __init__(
        self,
        intercept: float,
        coef: np.ndarray,
        sigma2: float,
        nobs: int,
        history: np.ndarray,
    ) -> None:
        self.coef = check_series(coef, "coef", ndim=1)
        self.p = int(self.coef.shape[0])
        self.intercept = float(intercept)
        self.sigma2 = float(sigma2)
        if not (np.isfinite(self.intercept) and np.isfinite(self.sigma2) and self.sigma2 >= 0):
            raise ValueError(
                f"intercept, sigma2: expected finite values and sigma2 >= 0, got {intercept!r}, {sigma2!r}"
            )
        self.nobs = check_positive_int(nobs, "nobs")
        self.history = check_series(history, "history", ndim=1, min_length=self.p)

    def __repr__(self) -> str:
        coef = np.array2string(self.coef, precision=4, separator=", ")
        return f"ARModel(p={self.p}, intercept={self.intercept:.4f}, coef={coef}, sigma2={self.sigma2:.4f})"

    @property
    def params(self) -> np.ndarray:
        """``[intercept, coef[0], ..., coef[p-1]]``: the order statsmodels' ``params`` uses."""
        return np.concatenate([[self.intercept], self.coef])

    @property
    def aic(self) -> float:
        """Akaike information criterion ``-2 log L + 2 k``, ``k = p + 2``, on this fit's ``nobs`` targets.

        ``log L`` is the Gaussian log-likelihood at ``sigma2``; ``k`` counts the intercept, the ``p``
        lag weights and the noise variance. Equals statsmodels' ``AutoReg(y, p).fit().aic``. Fits of
        different orders use different targets, so compare them with :func:`select_order` instead.
        """
        return _gaussian_ic(self.sigma2 * self.nobs, self.nobs, self.p)[0]

    @property
    def bic(self) -> float:
        """Bayesian information criterion ``-2 log L + ln(nobs) k``, ``k = p + 2``; see :attr:`aic`."""
        return _gaussian_ic(self.sigma2 * self.nobs, self.nobs, self.p)[1]

    def predict(self, y: Any) -> np.ndarray:
        """One-step-ahead predictions of ``y[t]`` for ``t = p, ..., T-1``, from the true past values.

        Parameters
        ----------
        y : array_like, shape (T,)
            Any series (the training series, or new data such as a holdout with its
            ``p`` preceding values prepended). ``T`` must exceed ``p``.

        Returns
        -------
        np.ndarray, shape (T - p,)
            Entry ``k`` predicts ``y[p + k]`` from ``y[k : p + k]``.
        """
        y = check_series(y, "y", ndim=1, min_length=self.p + 1)
        X, _ = _lag_matrix(y, self.p)  # (T - p, 1 + p)
        return X @ self.params

    def forecast(self, steps: int, history: Any = None) -> np.ndarray:
        """Recursive (iterated) multi-step forecast from the end of ``history``.

        Each forecast is fed back as if it were an observation: the forecast for step ``h`` uses the
        forecasts for steps ``1..h-1``. For a stationary model it decays towards the process mean
        as ``h`` grows.

        Parameters
        ----------
        steps : int
            Number of future values (>= 1).
        history : array_like, shape (T,), optional
            Past values, oldest first; only the last ``p`` are used. Defaults to the series the
            model was fitted on.

        Returns
        -------
        np.ndarray, shape (steps,)
            Forecasts of ``y[T], ..., y[T + steps - 1]``.
        """
        steps = check_positive_int(steps, "steps")
        past = self.history if history is None else check_series(history, "history", ndim=1, min_length=self.p)
        window = list(past[len(past) - self.p :][::-1])  # newest first: window[j-1] = y[T-j]
        out = np.empty(steps)
        for h in range(steps):
            nxt = self.intercept + float(np.dot(self.coef, window))
            out[h] = nxt
            window = [nxt] + window[:-1]
        return out


def _check_order(y: np.ndarray, p: Any, name: str) -> int:
    p = check_positive_int(p, name)
    if 2 * p >= y.shape[0]:
        raise ValueError(f"{name}: expected an order below len(y) / 2 = {y.shape[0] / 2:g}, got {p}")
    return p


def fit_ar(y: Any, p: int) -> ARModel:
    """Fit an AR(p) model with intercept by ordinary least squares.

    Builds the design matrix ``X`` with rows ``[1, y[t-1], ..., y[t-p]]`` for ``t = p..T-1`` and
    solves ``min_b ||X b - y[p:]||^2`` with ``np.linalg.lstsq`` (numerically safer than forming the
    normal equations ``X^T X b = X^T y``, which give the same answer).

    Parameters
    ----------
    y : array_like, shape (T,)
        A finite 1-D series.
    p : int
        Order, ``1 <= p < T / 2``.

    Returns
    -------
    ARModel
        ``params`` equal ``statsmodels.tsa.ar_model.AutoReg(y, p).fit().params``.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = np.zeros(2000)
    >>> for t in range(1, 2000):
    ...     y[t] = 1.0 + 0.5 * y[t - 1] + rng.normal()
    >>> model = fit_ar(y, 1)
    >>> print(f"{model.coef[0]:.1f} {model.intercept:.1f}")
    0.5 1.0
    """
    y = check_series(y, "y", ndim=1, min_length=3)
    p = _check_order(y, p, "p")
    X, target = _lag_matrix(y, p)  # (T - p, 1 + p), (T - p,)
    params, _, rank, _ = np.linalg.lstsq(X, target, rcond=None)
    if rank < X.shape[1]:
        raise ValueError(f"y: the lag matrix of order {p} is rank-deficient (is the series constant?)")
    resid = target - X @ params
    nobs = target.shape[0]
    return ARModel(params[0], params[1:], float(resid @ resid) / nobs, nobs, y.copy())


def select_order(y: Any, max_p: int, criterion: str = "aic") -> int:
    """Choose the AR order ``p`` in ``0..max_p`` that minimises AIC or BIC.

    All orders are fitted to the *same* targets ``y[max_p:]`` (the first ``max_p`` values are held
    back as lags), so their criteria are comparable. This is what
    ``statsmodels.tsa.ar_model.ar_select_order(y, max_p, ic=criterion)`` does, and the answers agree.
    ``p = 0`` (a constant mean, no autoregression) is a candidate too; a result of 0 says the lags
    do not earn their parameters.

    Parameters
    ----------
    y : array_like, shape (T,)
    max_p : int
        Largest order tried, ``1 <= max_p < T / 2``.
    criterion : {"aic", "bic"}
        AIC penalises each parameter by 2, BIC by ``ln(T - max_p)``, so BIC picks smaller or equal
        orders once ``T - max_p > e^2 ~ 7.4``.

    Returns
    -------
    int
        The chosen order (refit it with ``fit_ar(y, p)`` to use all the data).
    """
    if criterion not in ("aic", "bic"):
        raise ValueError(f"criterion: expected 'aic' or 'bic', got {criterion!r}")
    return int(np.argmin(information_criteria(y, max_p)[criterion]))


def information_criteria(y: Any, max_p: int) -> dict[str, np.ndarray]:
    """AIC and BIC of AR(p) for ``p = 0..max_p``, all fitted to the same targets ``y[max_p:]``.

    The criteria count ``p + 2`` parameters, as :attr:`ARModel.aic` does. statsmodels'
    ``ar_select_order`` counts ``p + 1`` (it leaves out the noise variance), so its ``aic`` values
    are 2 lower and its ``bic`` values ``ln(T - max_p)`` lower than these, for every ``p``: a
    constant shift that changes no ranking.

    Returns
    -------
    dict
        ``{"aic": array of shape (max_p + 1,), "bic": ...}``; entry ``p`` is the order-``p`` model.
    """
    y = check_series(y, "y", ndim=1, min_length=3)
    max_p = _check_order(y, max_p, "max_p")
    X_full, target = _lag_matrix(y, max_p)  # (T - max_p, 1 + max_p)
    nobs = target.shape[0]
    aic = np.empty(max_p + 1)
    bic = np.empty(max_p + 1)
    for p in range(max_p + 1):
        X = X_full[:, : p + 1]  # intercept and lags 1..p
        b, *_ = np.linalg.lstsq(X, target, rcond=None)
        r = target - X @ b
        aic[p], bic[p] = _gaussian_ic(float(r @ r), nobs, p)
    return {"aic": aic, "bic": bic}
