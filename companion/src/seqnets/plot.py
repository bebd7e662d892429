"""Figures the chapters share: training curves, forecasts, confusion matrices, attention maps.

Each function draws on ``ax`` if given (so figures can be composed with ``plt.subplots``), or on a
new figure otherwise, and returns the axes. Nothing here changes matplotlib's global style.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["plot_history", "plot_forecast", "plot_confusion", "plot_receptive_field", "plot_attention"]


def _new_axes(ax: Axes | None, figsize: tuple[float, float]) -> Axes:
    if ax is not None:
        from matplotlib.axes import Axes as _Axes

        if not isinstance(ax, _Axes):
            raise TypeError(f"ax: expected a matplotlib Axes or None, got {type(ax).__name__}")
        return ax
    import matplotlib.pyplot as plt

    _, new = plt.subplots(figsize=figsize, layout="constrained")
    return new


def _as_1d(values: Any, name: str) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    try:
        arr = np.asarray(values)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name}: expected a 1-D array, list or tensor ({err})") from None
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-D array (or one column), got shape {arr.shape}")
    return arr


# --------------------------------------------------------------------------------------------
# Training history
# --------------------------------------------------------------------------------------------


def _label_matrix(
    ax: Axes,
    columns: Sequence[str],
    rows: Sequence[str],
    xlabel: str,
    ylabel: str,
    title: str | None,
    rotate: bool,
) -> Axes:
    """Name every column and row of a heat map drawn with ``imshow`` (one tick per cell)."""
    ax.set_xticks(range(len(columns)))
    ax.set_xticklabels(columns, rotation=45 if rotate else 0, ha="right" if rotate else "center")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(rows)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    return ax


def plot_history(history: Any, ax: Axes | None = None, *, title: str | None = "Training history") -> Axes:
    """Training and validation loss per epoch, with the best epoch marked.

    The y axis is logarithmic when the (positive) losses span more than two decades.

    Parameters
    ----------
    history : seqnets.train.History
        Or any object with ``train_loss``, ``val_loss`` (lists) and ``best_epoch``.
    ax : matplotlib Axes, optional
    title : str or None
    """
    for attr in ("train_loss", "val_loss", "best_epoch"):
        if not hasattr(history, attr):
            raise TypeError(f"history: expected a seqnets.train.History (with .{attr}), got {type(history).__name__}")
    train = np.asarray(history.train_loss, dtype=float)
    val = np.asarray(history.val_loss, dtype=float)
    if train.size == 0:
        raise ValueError("history: has no finished epoch to plot (train_loss is empty)")
    ax = _new_axes(ax, (6.0, 3.5))
    epochs = np.arange(1, train.size + 1)
    ax.plot(epochs, train, marker="o" if train.size <= 30 else None, ms=3, label="training")
    if val.size:
        ax.plot(np.arange(1, val.size + 1), val, marker="o" if val.size <= 30 else None, ms=3, label="validation")
    best = history.best_epoch
    if best is not None and 1 <= best <= train.size:
        best_loss = val[best - 1] if val.size >= best else train[best - 1]
        ax.axvline(best, color="0.5", linestyle=":", linewidth=1)
        ax.plot([best], [best_loss], marker="*", ms=12, color="C3", linestyle="none", label=f"best epoch ({best})")
    finite = np.concatenate([train, val])
    finite = finite[np.isfinite(finite) & (finite > 0)]
    if finite.size and finite.max() / finite.min() > 100:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if train.size <= 20:
        ax.set_xticks(epochs)
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return ax


# --------------------------------------------------------------------------------------------
# Forecasts
# --------------------------------------------------------------------------------------------

_FORECAST_STYLES = ("-", "--", "-.", ":")


def plot_forecast(
    t: Any,
    y: Any,
    forecasts: Mapping[str, Any] | None = None,
    *,
    split: Any = None,
    split_label: str = "forecast origin",
    ax: Axes | None = None,
    xlabel: str = "time step",
    ylabel: str = "value",
    title: str | None = None,
) -> Axes:
    """A series and one or more forecasts of it.

    Parameters
    ----------
    t, y : array-like, shape (N,)
        Time stamps (numbers or ``datetime64``) and the true values, drawn as a black line.
    forecasts : dict of str to (t_f, y_f) or y_f
        Each forecast, drawn as its own coloured line with its own dash pattern. A value may be a
        pair ``(t_f, y_f)`` or just ``y_f`` aligned with ``t``.
    split : scalar, optional
        Where the forecast starts (or the test set begins): a dashed vertical line there.
    split_label : str
        Legend label of that line, e.g. ``"forecast origin"`` or ``"test starts"``.
    ax : matplotlib Axes, optional
    xlabel, ylabel, title : str
        Axis labels (give units) and title.
    """
    t = _as_1d(t, "t")
    y = _as_1d(y, "y")
    if t.shape != y.shape:
        raise ValueError(f"y: expected {t.size} values (one per time stamp in t), got {y.size}")
    if forecasts is None:
        forecasts = {}
    if not isinstance(forecasts, Mapping):
        raise TypeError(f"forecasts: expected a dict name -> (t_f, y_f), got {type(forecasts).__name__}")
    lines = []
    for name, value in forecasts.items():
        if isinstance(value, (tuple, list)) and len(value) == 2 and not np.isscalar(value[0]):
            t_f, y_f = _as_1d(value[0], f"forecasts[{name!r}] t"), _as_1d(value[1], f"forecasts[{name!r}] y")
        else:
            t_f, y_f = t, _as_1d(value, f"forecasts[{name!r}]")
        if t_f.shape != y_f.shape:
            raise ValueError(f"forecasts[{name!r}]: times and values differ in length ({t_f.size} vs {y_f.size})")
        lines.append((str(name), t_f, y_f))

    ax = _new_axes(ax, (8.0, 3.5))
    ax.plot(t, y, color="black", linewidth=1.2, label="observed")
    for i, (name, t_f, y_f) in enumerate(lines):
        ax.plot(
            t_f,
            y_f,
            color=f"C{i % 10}",
            linestyle=_FORECAST_STYLES[i % len(_FORECAST_STYLES)],
            linewidth=1.6,
            marker="o" if y_f.size <= 40 else None,
            ms=2.5,
            label=name,
        )
    if split is not None:
        ax.axvline(split, color="0.35", linestyle="--", linewidth=1.2, label=split_label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    return ax


# --------------------------------------------------------------------------------------------
# Confusion matrix
# --------------------------------------------------------------------------------------------


def plot_confusion(
    cm: Any,
    class_names: Sequence[str] | None = None,
    ax: Axes | None = None,
    normalize: bool = False,
    title: str | None = None,
    *,
    cmap: str = "Blues",
) -> Axes:
    """Heat map of a confusion matrix with each cell annotated; rows are true classes.

    Parameters
    ----------
    cm : array-like, shape (K, K)
        Counts, as from :func:`seqnets.metrics.confusion_matrix`.
    class_names : sequence of str, optional
        Tick labels; default ``0 .. K-1``.
    ax : matplotlib Axes, optional
    normalize : bool
        Show each row as fractions of that true class (rows with no samples stay 0).
    title : str, optional
    cmap : str
        A matplotlib colour map.
    """
    if isinstance(cm, torch.Tensor):
        cm = cm.detach().cpu().numpy()
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(f"cm: expected a square (K, K) matrix, got shape {cm.shape}")
    if not np.issubdtype(cm.dtype, np.number) or (cm.size and np.nanmin(cm) < 0):
        raise ValueError("cm: expected non-negative counts")
    k = cm.shape[0]
    if class_names is None:
        class_names = [str(i) for i in range(k)]
    elif isinstance(class_names, str) or len(class_names) != k:
        got = "a str" if isinstance(class_names, str) else f"{len(class_names)} names"
        raise ValueError(f"class_names: expected {k} names (one per row of cm), got {got}")
    values = cm.astype(float)
    if normalize:
        totals = values.sum(axis=1, keepdims=True)
        values = np.divide(values, totals, out=np.zeros_like(values), where=totals > 0)

    ax = _new_axes(ax, (max(4.0, 0.45 * k + 2.0), max(3.5, 0.45 * k + 1.5)))
    vmax = 1.0 if normalize else max(float(values.max()), 1.0)
    image = ax.imshow(values, cmap=cmap, vmin=0.0, vmax=vmax, interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class" if normalize else "count")
    if k <= 30:
        size = 9 if k <= 10 else (7 if k <= 20 else 5)
        threshold = vmax / 2
        for i in range(k):
            for j in range(k):
                v = values[i, j]
                text = f"{v:.2f}" if normalize else (f"{int(v)}" if float(v).is_integer() else f"{v:.3g}")
                ax.text(
                    j, i, text, ha="center", va="center", fontsize=size, color="white" if v > threshold else "black"
                )
    rotate = k > 6 and max(len(str(n)) for n in class_names) > 2
    return _label_matrix(ax, class_names, class_names, "predicted class", "true class", title, rotate)


# --------------------------------------------------------------------------------------------
# Receptive field of a stack of causal convolutions
# --------------------------------------------------------------------------------------------


def plot_receptive_field(
    kernel_size: int,
    dilations: Sequence[int],
    *,
    length: int | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """Draw a stack of causal convolutions as layers of dots, with the connections into one output.

    Row 0 is the input; row ``l`` is the output of the ``l``-th causal convolution, which has
    ``kernel_size`` taps spaced ``dilations[l - 1]`` apart. Starting from the last time step of the
    top row, the function follows every connection back to the input: the dots and lines that
    can influence that output are coloured, the rest are grey. The input dots reached are the
    receptive field, ``1 + (kernel_size - 1) * sum(dilations)`` steps when ``length`` allows.

    Parameters
    ----------
    kernel_size : int
        Taps per convolution.
    dilations : sequence of int
        Dilation of each convolution, bottom to top, e.g. ``[1, 2, 4, 8]`` (WaveNet) or
        ``[1, 1, 2, 2, 4, 4]`` (a three-level TCN, two convolutions per block).
    length : int, optional
        Time steps drawn; default: the receptive field plus four, so that unreached steps show.
    ax : matplotlib Axes, optional
    title : str, optional
        Default: kernel size, dilations and receptive field.
    """
    from seqnets.utils import check_positive_int

    kernel_size = check_positive_int(kernel_size, "kernel_size")
    if isinstance(dilations, (str, bytes)) or not isinstance(dilations, Sequence) or len(dilations) == 0:
        raise TypeError(f"dilations: expected a non-empty sequence of positive integers, got {dilations!r}")
    dilations = [check_positive_int(d, "dilations") for d in dilations]
    field = 1 + (kernel_size - 1) * sum(dilations)
    length = field + 4 if length is None else check_positive_int(length, "length")

    ax = _new_axes(ax, (8.0, 0.6 * len(dilations) + 1.6))
    layers = len(dilations)
    active: list[set[int]] = [set() for _ in range(layers + 1)]
    active[layers] = {length - 1}
    for layer in range(layers, 0, -1):  # follow the connections down from the chosen output
        d = dilations[layer - 1]
        for t in sorted(active[layer]):
            for j in range(kernel_size):
                s = t - j * d
                if s >= 0:
                    active[layer - 1].add(s)
                    ax.plot([s, t], [layer - 1, layer], color="C0", linewidth=1.1, alpha=0.8, zorder=1)
    steps = np.arange(length)
    for layer in range(layers + 1):
        on = np.array(sorted(active[layer]), dtype=int)
        ax.scatter(steps, np.full(length, layer), s=18, color="0.8", zorder=2)
        colour = "C3" if layer in (0, layers) else "C0"
        ax.scatter(on, np.full(on.size, layer), s=26, color=colour, zorder=3)
    reached = len(active[0])
    ax.set_yticks(range(layers + 1))
    ax.set_yticklabels(["input"] + [f"d = {d}" for d in dilations])
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("time step")
    ax.set_ylabel("layer (dilation)")
    ax.set_xlim(-0.8, length - 0.2)
    ax.set_ylim(-0.5, layers + 0.5)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if title is None:
        title = f"kernel size {kernel_size}, dilations {dilations}: the last output reads {reached} input steps"
    if title:
        ax.set_title(title)
    return ax


# --------------------------------------------------------------------------------------------
# Attention weights of a sequence-to-sequence model
# --------------------------------------------------------------------------------------------


def _tokens(tokens: Any, name: str) -> list[str]:
    if isinstance(tokens, (str, bytes)) or not isinstance(tokens, Sequence):
        raise TypeError(f"{name}: expected a sequence of tokens (e.g. a list of str), got {type(tokens).__name__}")
    return [str(token) for token in tokens]


def plot_attention(
    weights: Any,
    source_tokens: Sequence[str],
    target_tokens: Sequence[str],
    ax: Axes | None = None,
    *,
    title: str | None = None,
    cmap: str = "Greys",
    annotate: bool = False,
) -> Axes:
    """Heat map of attention weights: one row per output token, one column per source token.

    Row ``t`` shows how the decoder spread its attention over the source when it wrote
    ``target_tokens[t]``; the colour scale runs from 0 to 1.

    Parameters
    ----------
    weights : array-like, shape (T_out, T_in)
        Attention weights, e.g. ``greedy_decode(...)[1][b]`` cut to the written tokens and the
        real source tokens.
    source_tokens : sequence of str, length T_in
        Column labels.
    target_tokens : sequence of str, length T_out
        Row labels.
    ax : matplotlib Axes, optional
    title : str, optional
    cmap : str
        A matplotlib colour map.
    annotate : bool
        Write each weight (two decimals) in its cell.

    Examples
    --------
    >>> ax = plot_attention([[0.9, 0.1], [0.2, 0.8]], ["forty", "two"], ["4", "2"])
    >>> [label.get_text() for label in ax.get_xticklabels()]
    ['forty', 'two']
    """
    if isinstance(weights, torch.Tensor):
        weights = weights.detach().cpu().numpy()
    try:
        values = np.asarray(weights, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(f"weights: expected a 2-D array of numbers ({err})") from None
    source = _tokens(source_tokens, "source_tokens")
    target = _tokens(target_tokens, "target_tokens")
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"weights: expected a non-empty 2-D array (T_out, T_in), got shape {values.shape}")
    if values.shape != (len(target), len(source)):
        raise ValueError(
            f"weights: expected shape ({len(target)}, {len(source)}) (one row per target token, one column "
            f"per source token), got {values.shape}"
        )
    if not np.isfinite(values).all():
        raise ValueError("weights: expected finite values, got NaN or infinity")
    ax = _new_axes(ax, (max(4.0, 0.6 * len(source) + 2.0), max(3.0, 0.4 * len(target) + 1.5)))
    image = ax.imshow(values, cmap=cmap, vmin=0.0, vmax=1.0, aspect="auto", interpolation="nearest")
    ax.figure.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="attention weight")
    if annotate:
        for i, j in np.ndindex(values.shape):
            colour = "white" if values[i, j] > 0.5 else "black"
            ax.text(j, i, f"{values[i, j]:.2f}", ha="center", va="center", fontsize=7, color=colour)
    return _label_matrix(ax, source, target, "source token", "output token", title, rotate=True)
