"""Tests of seqnets.plot. Figures are matplotlib.figure.Figure objects (no GUI backend needed)."""

from __future__ import annotations

import io

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from seqnets.plot import plot_confusion, plot_forecast, plot_history
from seqnets.train import History


def new_axes():
    return Figure(figsize=(6, 4)).add_subplot()


def render(ax) -> bytes:
    """Draw the whole figure to PNG bytes: catches errors that only appear at draw time."""
    buffer = io.BytesIO()
    ax.figure.savefig(buffer, format="png")
    return buffer.getvalue()


def lines_by_label(ax):
    return {line.get_label(): line for line in ax.get_lines()}


# --------------------------------------------------------------------------------------------
# plot_history
# --------------------------------------------------------------------------------------------


def make_history(train, val=(), best=None):
    return History(train_loss=list(train), val_loss=list(val), best_epoch=best, epochs_run=len(train))


def test_plot_history_draws_both_losses_and_marks_the_best_epoch():
    history = make_history([1.0, 0.6, 0.4, 0.3], [1.1, 0.7, 0.65, 0.8], best=3)
    ax = plot_history(history, ax=new_axes())
    lines = lines_by_label(ax)
    np.testing.assert_array_equal(lines["training"].get_xdata(), [1, 2, 3, 4])
    np.testing.assert_array_equal(lines["training"].get_ydata(), [1.0, 0.6, 0.4, 0.3])
    np.testing.assert_array_equal(lines["validation"].get_ydata(), [1.1, 0.7, 0.65, 0.8])
    star = lines["best epoch (3)"]
    assert list(star.get_xdata()) == [3] and list(star.get_ydata()) == [0.65]
    assert ax.get_xlabel() == "epoch" and ax.get_ylabel() == "loss"
    assert ax.get_yscale() == "linear"
    assert {t.get_text() for t in ax.get_legend().get_texts()} == {"training", "validation", "best epoch (3)"}
    render(ax)


def test_plot_history_uses_log_scale_when_losses_span_decades():
    ax = plot_history(make_history([10.0, 1.0, 0.01], best=3), ax=new_axes())
    assert ax.get_yscale() == "log"
    star = lines_by_label(ax)["best epoch (3)"]
    assert list(star.get_ydata()) == [0.01], "without validation data the best point is on the training curve"
    assert "validation" not in lines_by_label(ax)
    render(ax)


def test_plot_history_tolerates_a_nan_epoch():
    ax = plot_history(make_history([1.0, 0.5], [1.0, float("nan")], best=1), ax=new_axes())
    assert ax.get_yscale() == "linear"
    render(ax)


def test_history_plot_delegates_and_creates_a_figure_when_no_axes():
    history = make_history([1.0, 0.5], [1.2, 0.9], best=2)
    ax = history.plot()
    try:
        assert ax.figure.number in plt.get_fignums(), "without ax, a pyplot figure (shown in notebooks) is made"
        assert {"training", "validation", "best epoch (2)"} <= set(lines_by_label(ax))
    finally:
        plt.close(ax.figure)


def test_plot_history_bad_input():
    with pytest.raises(TypeError, match="history: expected a seqnets.train.History"):
        plot_history({"train_loss": [1.0]})
    with pytest.raises(ValueError, match="no finished epoch"):
        plot_history(make_history([]), ax=new_axes())


# --------------------------------------------------------------------------------------------
# plot_forecast
# --------------------------------------------------------------------------------------------


def test_plot_forecast_truth_forecasts_and_split():
    t = np.arange(50)
    y = np.sin(t / 5)
    forecasts = {
        "AR(2)": (np.arange(40, 50), y[40:] + 0.1),
        "LSTM": (torch.arange(40, 50), torch.tensor(y[40:] - 0.1)),
        "persistence": np.full(50, y[39]),
    }
    ax = plot_forecast(t, y, forecasts, split=39.5, ax=new_axes(), xlabel="month", ylabel="ppm", title="demo")
    lines = lines_by_label(ax)
    assert to_rgba(lines["observed"].get_color()) == to_rgba("black")
    np.testing.assert_allclose(lines["observed"].get_ydata(), y)
    np.testing.assert_allclose(lines["LSTM"].get_ydata(), y[40:] - 0.1)
    styles = {(to_rgba(lines[n].get_color()), lines[n].get_linestyle()) for n in forecasts}
    assert len(styles) == 3, "each forecast needs its own colour and dash pattern"
    assert len({s[0] for s in styles} | {to_rgba("black")}) == 4
    split = lines["forecast origin"]
    assert list(split.get_xdata()) == [39.5, 39.5] and split.get_linestyle() == "--"
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("month", "ppm", "demo")
    assert "forecast origin" in {t.get_text() for t in ax.get_legend().get_texts()}
    render(ax)


def test_plot_forecast_with_dates_and_custom_split_label():
    t = np.arange("2000-01", "2002-01", dtype="datetime64[M]")
    y = np.arange(t.size, dtype=float)
    ax = plot_forecast(t, y, {"model": (t[-6:], y[-6:] + 1)}, split=t[-6], split_label="test starts", ax=new_axes())
    assert "test starts" in lines_by_label(ax)
    render(ax)


def test_plot_forecast_bad_input():
    t = np.arange(5)
    with pytest.raises(ValueError, match="y: expected 5 values"):
        plot_forecast(t, np.zeros(4), ax=new_axes())
    with pytest.raises(ValueError, match=r"forecasts\['m'\]: times and values differ in length \(3 vs 2\)"):
        plot_forecast(t, np.zeros(5), {"m": (np.arange(3), np.zeros(2))}, ax=new_axes())
    with pytest.raises(TypeError, match="forecasts: expected a dict"):
        plot_forecast(t, np.zeros(5), [np.zeros(5)], ax=new_axes())
    with pytest.raises(ValueError, match=r"t: expected a 1-D array .* got shape \(5, 2\)"):
        plot_forecast(np.zeros((5, 2)), np.zeros(5), ax=new_axes())
    with pytest.raises(TypeError, match="ax: expected a matplotlib Axes"):
        plot_forecast(t, np.zeros(5), ax="left")


# --------------------------------------------------------------------------------------------
# plot_confusion
# --------------------------------------------------------------------------------------------


def test_plot_confusion_annotates_every_cell_with_readable_text():
    cm = np.array([[50, 2, 0], [5, 40, 5], [0, 0, 10]])
    ax = plot_confusion(cm, class_names=["cat", "dog", "eel"], ax=new_axes(), title="pets")
    texts = {(round(t.get_position()[1]), round(t.get_position()[0])): t for t in ax.texts}
    assert len(texts) == 9
    assert texts[(1, 0)].get_text() == "5" and texts[(0, 0)].get_text() == "50"
    assert to_rgba(texts[(0, 0)].get_color()) == to_rgba("white"), "dark cells need light text"
    assert to_rgba(texts[(0, 2)].get_color()) == to_rgba("black")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog", "eel"]
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class" and ax.get_title() == "pets"
    np.testing.assert_array_equal(ax.images[0].get_array(), cm)
    render(ax)


def test_plot_confusion_normalized_rows_sum_to_one():
    cm = torch.tensor([[3, 1], [0, 0]])
    ax = plot_confusion(cm, normalize=True, ax=new_axes())
    shown = np.asarray(ax.images[0].get_array())
    np.testing.assert_allclose(shown, [[0.75, 0.25], [0.0, 0.0]])
    assert sorted(t.get_text() for t in ax.texts) == ["0.00", "0.00", "0.25", "0.75"]
    render(ax)


def test_plot_confusion_bad_input():
    with pytest.raises(ValueError, match=r"cm: expected a square \(K, K\) matrix, got shape \(2, 3\)"):
        plot_confusion(np.zeros((2, 3)), ax=new_axes())
    with pytest.raises(ValueError, match="class_names: expected 2 names .* got 3 names"):
        plot_confusion(np.eye(2), class_names=["a", "b", "c"], ax=new_axes())
    with pytest.raises(ValueError, match="non-negative counts"):
        plot_confusion(-np.eye(2), ax=new_axes())


def test_no_global_style_changes():
    before = dict(matplotlib.rcParams)
    ax = new_axes()
    plot_history(make_history([1.0, 0.5], [1.0, 0.4], best=2), ax=ax)
    plot_forecast(np.arange(3), np.zeros(3), {"f": np.ones(3)}, split=1, ax=new_axes())
    plot_confusion(np.eye(3), ax=new_axes())
    assert dict(matplotlib.rcParams) == before
