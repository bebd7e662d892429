"""Real time series, windows for supervised learning, time-ordered splits and standardisation.

The two series come with statsmodels, so nothing is downloaded:

* :func:`sunspots` -- yearly mean sunspot numbers, 1700-2008 (309 values);
* :func:`co2` -- monthly mean atmospheric CO2 at Mauna Loa, March 1958 - December 2001.

:func:`sliding_windows` turns a series into ``(inputs, targets)`` pairs, :func:`time_split` cuts it
into train / validation / test blocks that respect time order, and :class:`Standardizer` rescales
with statistics fitted on the training block only.

The array functions take and return NumPy arrays. To train a PyTorch model on their output, wrap it
once: ``torch.from_numpy(X).float()`` (shares memory, then casts to float32) or
``torch.as_tensor(X, dtype=torch.float32)``. :func:`time_split` and :class:`Standardizer` also
accept tensors directly.
"""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np
import torch

from seqnets.utils import check_number, check_positive_int

__all__ = [
    "sunspots",
    "co2",
    "check_series",
    "sliding_windows",
    "time_split",
    "Standardizer",
]

ArrayOrTensor = TypeVar("ArrayOrTensor", np.ndarray, torch.Tensor)


# --------------------------------------------------------------------------------------------
# Data sets
# --------------------------------------------------------------------------------------------


def sunspots() -> tuple[np.ndarray, np.ndarray]:
    """Yearly mean sunspot numbers, 1700-2008, from ``statsmodels.datasets.sunspots``.

    These are the (version 1) Wolf / Zurich numbers that Yule (1927) modelled with an AR(2).

    Returns
    -------
    years : np.ndarray of int64, shape (309,)
        1700, 1701, ..., 2008.
    values : np.ndarray of float64, shape (309,)
        Yearly mean sunspot number (a count-based index, no unit).
    """
    from statsmodels.datasets import sunspots as _sunspots  # heavy import: only when asked

    frame = _sunspots.load_pandas().data
    years = frame["YEAR"].to_numpy().astype(np.int64)
    values = frame["SUNACTIVITY"].to_numpy(dtype=np.float64).copy()
    return years, values


def co2() -> tuple[np.ndarray, np.ndarray]:
    """Monthly mean atmospheric CO2 at Mauna Loa, March 1958 - December 2001 (526 months).

    ``statsmodels.datasets.co2`` holds *weekly* readings (2284 weeks, 59 of them missing). This
    function averages the weeks of each calendar month; the 5 months with no reading at all
    (1958-06, 1958-10, 1964-02/03/04) are then filled by linear interpolation in time, so the result
    has no gaps. Keep that in mind before reading anything into those months.

    Returns
    -------
    months : np.ndarray of datetime64[M], shape (526,)
        First month 1958-03, last 2001-12.
    values : np.ndarray of float64, shape (526,)
        CO2 mole fraction in parts per million (ppm).
    """
    from statsmodels.datasets import co2 as _co2  # heavy import: only when asked

    weekly = _co2.load_pandas().data["co2"]
    monthly = weekly.resample("MS").mean().interpolate(method="time")
    months = monthly.index.to_numpy().astype("datetime64[M]")
    values = monthly.to_numpy(dtype=np.float64).copy()
    return months, values


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


def check_series(
    x: Any,
    name: str,
    ndim: int | tuple[int, ...] = (1, 2),
    min_length: int = 1,
) -> np.ndarray:
    """Return ``x`` as a finite float64 NumPy array with time on axis 0, or raise.

    Accepts NumPy arrays and array-likes (lists, tuples) of real numbers. A ``torch.Tensor`` is
    refused with a hint (``x.detach().cpu().numpy()``), because these functions work in NumPy.

    Parameters
    ----------
    x : array_like
        The series: ``(T,)`` or ``(T, D)``.
    name : str
        Argument name used in error messages.
    ndim : int or tuple of int
        Allowed numbers of dimensions.
    min_length : int
        Smallest allowed ``T``.

    Raises
    ------
    TypeError
        If ``x`` is a tensor, or not numeric.
    ValueError
        If ``x`` has the wrong number of dimensions, is too short, or holds NaN or inf.
    """
    if isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a NumPy array, got a torch.Tensor; pass {name}.detach().cpu().numpy()")
    try:
        arr = np.asarray(x)
    except Exception as err:  # ragged lists and the like
        raise TypeError(f"{name}: expected an array of numbers, got {type(x).__name__}") from err
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{name}: expected real numbers, got dtype {arr.dtype}")
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if arr.ndim not in allowed:
        want = " or ".join(f"{d}-D" for d in allowed)
        raise ValueError(f"{name}: expected a {want} array (time first), got shape {arr.shape}")
    if arr.shape[0] < min_length:
        raise ValueError(f"{name}: expected at least {min_length} time steps, got {arr.shape[0]}")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise ValueError(f"{name}: expected finite values, got {bad} NaN or inf")
    return arr


# --------------------------------------------------------------------------------------------
# Windows and splits
# --------------------------------------------------------------------------------------------


def sliding_windows(
    series: Any,
    window: int,
    horizon: int = 1,
    stride: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut a series into (input window, following targets) pairs for supervised learning.

    Pair ``i`` starts at ``s = i * stride``: its input is ``series[s : s + window]`` and its target
    the next ``horizon`` values ``series[s + window : s + window + horizon]``. Only pairs whose
    target ends inside the series are returned, so no window runs past the end; there are
    ``N = (T - window - horizon) // stride + 1`` of them.

    Parameters
    ----------
    series : array_like, shape (T,) or (T, D)
        Time on axis 0; ``D`` features (channels) on axis 1 if present.
    window : int
        Length of each input window (>= 1).
    horizon : int
        Number of target steps after each window (>= 1).
    stride : int
        Step between the starts of consecutive windows (>= 1).

    Returns
    -------
    X : np.ndarray of float64, shape (N, window) or (N, window, D)
    Y : np.ndarray of float64, shape (N, horizon) or (N, horizon, D)
        New arrays (not views of ``series``). For PyTorch use
        ``torch.from_numpy(X).float()``; add a feature axis to 1-D windows with ``X[..., None]``
        to get the batch-first ``(batch, time, features)`` layout.

    Examples
    --------
    >>> X, Y = sliding_windows(np.arange(6), window=3, horizon=2)
    >>> X
    array([[0., 1., 2.],
           [1., 2., 3.]])
    >>> Y
    array([[3., 4.],
           [4., 5.]])
    """
    window = check_positive_int(window, "window")
    horizon = check_positive_int(horizon, "horizon")
    stride = check_positive_int(stride, "stride")
    arr = check_series(series, "series", ndim=(1, 2))
    T = arr.shape[0]
    if T < window + horizon:
        raise ValueError(f"series: expected at least window + horizon = {window + horizon} time steps, got {T}")
    n = (T - window - horizon) // stride + 1
    starts = np.arange(n) * stride  # (N,)
    x_idx = starts[:, None] + np.arange(window)  # (N, window)
    y_idx = starts[:, None] + window + np.arange(horizon)  # (N, horizon)
    return arr[x_idx], arr[y_idx]  # fancy indexing copies; (N, window[, D]), (N, horizon[, D])


def _split_size(value: Any, total: int, name: str) -> int:
    """Turn a fraction in [0, 1) or a count >= 0 into a number of time steps."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return check_positive_int(value, name, minimum=0)  # a count
    if isinstance(value, (float, np.floating)):
        fraction = check_number(value, name, low=0, high=1, high_open=True)
        return int(np.floor(fraction * total + 0.5))  # round half up
    raise TypeError(f"{name}: expected a fraction in [0, 1) or an integer count, got {type(value).__name__} {value!r}")


def time_split(
    series: ArrayOrTensor,
    val: float | int = 0.15,
    test: float | int = 0.15,
) -> tuple[ArrayOrTensor, ArrayOrTensor, ArrayOrTensor]:
    """Split a series into contiguous train, validation and test blocks, in time order.

    Never shuffle a time series before splitting: the model would see the future it is asked to
    predict. Here the training block comes first, then validation, then test.

    Parameters
    ----------
    series : np.ndarray or torch.Tensor, shape (T, ...)
        Time on axis 0. Lists are converted to NumPy arrays.
    val, test : float or int
        Size of the validation and test blocks: a fraction of ``T`` in ``[0, 1)`` (rounded to
        the nearest step, halves up) or a number of steps ``>= 0``.

    Returns
    -------
    train, val, test
        Views (slices) of ``series`` along axis 0, of lengths ``T - n_val - n_test``, ``n_val``
        and ``n_test``; same type as ``series``.

    Examples
    --------
    >>> train, val, test = time_split(np.arange(10), val=0.2, test=3)
    >>> train, val, test
    (array([0, 1, 2, 3, 4]), array([5, 6]), array([7, 8, 9]))
    """
    if not isinstance(series, (np.ndarray, torch.Tensor)):
        if isinstance(series, (list, tuple)):
            series = np.asarray(series)
        else:
            raise TypeError(f"series: expected a NumPy array or torch.Tensor, got {type(series).__name__}")
    if series.ndim < 1:
        raise ValueError(f"series: expected at least 1-D (time first), got shape {tuple(series.shape)}")
    T = int(series.shape[0])
    n_val = _split_size(val, T, "val")
    n_test = _split_size(test, T, "test")
    n_train = T - n_val - n_test
    if n_train < 1:
        raise ValueError(
            f"val, test: they take {n_val} + {n_test} of {T} time steps, leaving {n_train} for training; "
            "expected at least 1"
        )
    return series[:n_train], series[n_train : n_train + n_val], series[n_train + n_val :]


# --------------------------------------------------------------------------------------------
# Standardisation
# --------------------------------------------------------------------------------------------


class Standardizer:
    """Rescale data to zero mean and unit variance with statistics fitted once.

    ``transform(x) = (x - mean_) / std_`` and ``inverse_transform(z) = z * std_ + mean_``. For a
    1-D series the statistics are scalars; for ``(..., D)`` data they are per feature (computed
    over every axis but the last), shape ``(D,)``. ``std_`` is the population standard deviation
    (``ddof=0``). Fit on the training block only, then apply the same statistics to validation
    and test data; fitting on everything leaks the future into training.

    NumPy arrays and torch tensors are both accepted; the output has the input's type (and, for
    tensors, its dtype and device). ``mean_`` and ``std_`` are stored as float64 NumPy arrays.

    Examples
    --------
    >>> scaler = Standardizer().fit(np.array([1.0, 2.0, 3.0]))
    >>> scaler.transform(np.array([2.0, 4.0]))
    array([0.        , 2.44948974])
    """

    def __init__(self) -> None:
        self.mean_: np.ndarray | None = None
        self.std_: np.ndarray | None = None

    def __repr__(self) -> str:
        if self.mean_ is None:
            return "Standardizer(unfitted)"
        return f"Standardizer(mean_={self.mean_!r}, std_={self.std_!r})"

    @staticmethod
    def _check_input(x: Any, name: str) -> np.ndarray | torch.Tensor:
        if isinstance(x, torch.Tensor):
            if not x.is_floating_point():
                x = x.double()
            if x.dim() < 1 or x.shape[0] == 0:
                raise ValueError(
                    f"{name}: expected a non-empty array with at least 1 dimension, got shape {tuple(x.shape)}"
                )
            if not bool(torch.isfinite(x).all()):
                raise ValueError(f"{name}: expected finite values, got NaN or inf")
            return x
        if isinstance(x, (list, tuple)):
            x = np.asarray(x)
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{name}: expected a NumPy array or torch.Tensor, got {type(x).__name__}")
        if x.ndim < 1 or x.shape[0] == 0:
            raise ValueError(f"{name}: expected a non-empty array with at least 1 dimension, got shape {x.shape}")
        return check_series(x, name, ndim=x.ndim)

    def fit(self, x: Any) -> Standardizer:
        """Compute ``mean_`` and ``std_`` from ``x`` (the training data); returns ``self``.

        Raises ``ValueError`` if a feature is constant (zero standard deviation): dividing by it
        would produce inf or NaN.
        """
        x = self._check_input(x, "x")
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().double().numpy()
        axes = 0 if x.ndim == 1 else tuple(range(x.ndim - 1))
        mean = np.asarray(x.mean(axis=axes), dtype=np.float64)
        std = np.asarray(x.std(axis=axes), dtype=np.float64)
        if np.any(std == 0):
            which = "" if std.ndim == 0 else f" (features {np.flatnonzero(std == 0).tolist()})"
            raise ValueError(f"x: standard deviation is zero{which}; cannot standardise a constant series")
        self.mean_, self.std_ = mean, std
        return self

    def _stats_like(self, x: np.ndarray | torch.Tensor, name: str) -> tuple[Any, Any]:
        if self.mean_ is None or self.std_ is None:
            raise RuntimeError("Standardizer: call fit(x) (or fit_transform) before transform / inverse_transform")
        if self.mean_.ndim == 1:
            d = self.mean_.shape[0]
            if x.ndim < 2 or x.shape[-1] != d:
                raise ValueError(
                    f"{name}: expected a last axis of {d} features (as fitted), got shape {tuple(x.shape)}"
                )
        if isinstance(x, torch.Tensor):
            return (
                torch.as_tensor(self.mean_, dtype=x.dtype, device=x.device),
                torch.as_tensor(self.std_, dtype=x.dtype, device=x.device),
            )
        return self.mean_, self.std_

    def transform(self, x: ArrayOrTensor) -> ArrayOrTensor:
        """Return ``(x - mean_) / std_``."""
        checked = self._check_input(x, "x")
        mean, std = self._stats_like(checked, "x")
        return (checked - mean) / std

    def inverse_transform(self, z: ArrayOrTensor) -> ArrayOrTensor:
        """Return ``z * std_ + mean_``: undo :meth:`transform` (e.g. on a model's predictions)."""
        checked = self._check_input(z, "z")
        mean, std = self._stats_like(checked, "z")
        return checked * std + mean

    def fit_transform(self, x: ArrayOrTensor) -> ArrayOrTensor:
        """``fit(x)`` then ``transform(x)``."""
        return self.fit(x).transform(x)
