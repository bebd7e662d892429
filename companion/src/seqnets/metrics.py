"""Evaluation metrics for classification, regression, language models and transcription.

Every function accepts NumPy arrays, Python lists or PyTorch tensors (moved to the CPU) and
returns plain Python floats (or NumPy arrays where a value per class is asked for).

* Classification: :func:`accuracy`, :func:`precision_recall_f1`, :func:`confusion_matrix`.
  Labels are integers ``0 .. num_classes - 1``; ``y_pred`` may instead hold scores (logits or
  probabilities) with one extra trailing dimension, which is reduced with ``argmax``.
* Regression: :func:`rmse`, :func:`mae`.
* Language models: :func:`perplexity` and :func:`bits_per_char` of a mean negative log-likelihood.
* Sequences: :func:`edit_distance` (Levenshtein) and :func:`char_error_rate`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch

from seqnets.utils import check_positive_int

__all__ = [
    "accuracy",
    "precision_recall_f1",
    "confusion_matrix",
    "rmse",
    "mae",
    "perplexity",
    "bits_per_char",
    "edit_distance",
    "char_error_rate",
]

Average = Literal["macro", "micro", "weighted"]


# --------------------------------------------------------------------------------------------
# Input conversion
# --------------------------------------------------------------------------------------------


def _as_array(x: Any, name: str) -> np.ndarray:
    """``x`` as a NumPy array (tensors are detached and copied to the CPU)."""
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if isinstance(x, (str, bytes)) or x is None or isinstance(x, dict):
        raise TypeError(f"{name}: expected an array, list or tensor of numbers, got {type(x).__name__}")
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name}: expected an array, list or tensor of numbers ({err})") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name}: expected numbers, got an array of dtype {arr.dtype}")
    return arr


def _labels(y: Any, name: str) -> np.ndarray:
    """Check that ``y`` holds non-negative integer class labels; return them as int64."""
    arr = _as_array(y, name)
    if arr.dtype == bool:
        return arr.astype(np.int64)
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
            raise ValueError(
                f"{name}: expected integer class labels, got non-integer values of dtype {arr.dtype} "
                "(pass scores with one extra trailing dimension, or take argmax first; metrics take "
                "(y_true, y_pred): are the arguments swapped?)"
            )
    arr = arr.astype(np.int64)
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name}: expected class labels >= 0, got {arr.min()}")
    return arr


def _label_pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Flattened ``(true, predicted)`` labels; ``y_pred`` scores are reduced with argmax."""
    true = _labels(y_true, "y_true")
    pred = _as_array(y_pred, "y_pred")
    if pred.ndim == true.ndim + 1:
        if pred.shape[-1] == 0:
            raise ValueError(f"y_pred: scores need at least one class, got shape {pred.shape}")
        pred = pred.argmax(axis=-1)
    else:
        pred = _labels(pred, "y_pred")
    if pred.shape != true.shape:
        raise ValueError(
            f"y_pred: expected labels of shape {true.shape} (like y_true) or scores of shape "
            f"{true.shape + ('C',)}, got shape {_as_array(y_pred, 'y_pred').shape}"
        )
    if true.size == 0:
        raise ValueError("y_true: expected at least one label, got none")
    return true.reshape(-1), pred.reshape(-1).astype(np.int64)


def _resolve_classes(true: np.ndarray, pred: np.ndarray, num_classes: int | None) -> int:
    largest = int(max(true.max(), pred.max()))
    if num_classes is None:
        return largest + 1
    num_classes = check_positive_int(num_classes, "num_classes")
    if largest >= num_classes:
        which = "y_true" if true.max() >= num_classes else "y_pred"
        raise ValueError(
            f"{which}: label {largest} is out of range for num_classes={num_classes} (labels 0..{num_classes - 1})"
        )
    return num_classes


# --------------------------------------------------------------------------------------------
# Classification
# --------------------------------------------------------------------------------------------


def accuracy(y_true: Any, y_pred: Any, *, ignore_index: int | None = None) -> float:
    """Fraction of predictions equal to the true label.

    Parameters
    ----------
    y_true : array-like of int, shape (N, ...)
        True class labels.
    y_pred : array-like, shape (N, ...) or (N, ..., C)
        Predicted labels, or scores per class (then the argmax over the last axis is the prediction).
    ignore_index : int, optional
        Positions whose true label equals this value (padding, say) are left out.

    Returns
    -------
    float
        In [0, 1].
    """
    true, pred = (
        _label_pair(y_true, y_pred) if ignore_index is None else _label_pair_ignoring(y_true, y_pred, ignore_index)
    )
    return float(np.mean(true == pred))


def _label_pair_ignoring(y_true: Any, y_pred: Any, ignore_index: int) -> tuple[np.ndarray, np.ndarray]:
    arr = _as_array(y_true, "y_true")
    if isinstance(ignore_index, bool) or not isinstance(ignore_index, (int, np.integer)):
        raise TypeError(f"ignore_index: expected an integer or None, got {type(ignore_index).__name__}")
    keep = arr != ignore_index
    pred = _as_array(y_pred, "y_pred")
    if pred.shape[: arr.ndim] != arr.shape:
        raise ValueError(f"y_pred: expected leading shape {arr.shape} (like y_true), got shape {pred.shape}")
    if not keep.any():
        raise ValueError(f"y_true: every label equals ignore_index={ignore_index}; nothing to score")
    return _label_pair(arr[keep], pred[keep])


def confusion_matrix(y_true: Any, y_pred: Any, num_classes: int | None = None) -> np.ndarray:
    """Counts of (true, predicted) label pairs: ``cm[i, j]`` = samples of class ``i`` predicted ``j``.

    Parameters
    ----------
    y_true : array-like of int, shape (N, ...)
    y_pred : array-like, shape (N, ...) or (N, ..., C)
        Labels or scores, as in :func:`accuracy`.
    num_classes : int, optional
        Size of the matrix; by default the largest label seen plus one. Classes that never occur
        get rows and columns of zeros.

    Returns
    -------
    np.ndarray of int64, shape (num_classes, num_classes)
        Rows are true classes, columns predicted classes.
    """
    true, pred = _label_pair(y_true, y_pred)
    k = _resolve_classes(true, pred, num_classes)
    return np.bincount(true * k + pred, minlength=k * k).reshape(k, k).astype(np.int64)


def precision_recall_f1(
    y_true: Any,
    y_pred: Any,
    average: Average | None = "macro",
    num_classes: int | None = None,
) -> tuple[float, float, float] | tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""Precision, recall and F1 score, per class or averaged.

    For class :math:`c` with :math:`TP_c` true positives, :math:`FP_c` false positives and
    :math:`FN_c` false negatives,

    .. math::

        P_c = \frac{TP_c}{TP_c + FP_c}, \qquad R_c = \frac{TP_c}{TP_c + FN_c}, \qquad
        F_{1,c} = \frac{2 P_c R_c}{P_c + R_c} = \frac{2\,TP_c}{2\,TP_c + FP_c + FN_c}.

    A ratio whose denominator is zero counts as 0 (scikit-learn's ``zero_division=0``).

    Parameters
    ----------
    y_true, y_pred : array-like
        Labels (``y_pred`` may be scores), as in :func:`accuracy`.
    average : {"macro", "micro", "weighted"} or None
        ``"macro"``: unweighted mean over classes; ``"weighted"``: mean weighted by each class's
        number of true samples (support); ``"micro"``: computed from the total counts, which for
        single-label classification makes all three equal to the accuracy; ``None``: per class.
    num_classes : int, optional
        Classes ``0 .. num_classes - 1`` are scored, including ones that never occur (their scores
        are 0 and count in a macro average). By default only the labels that occur in ``y_true``
        or ``y_pred`` are scored, as scikit-learn does.

    Returns
    -------
    (precision, recall, f1)
        Floats, or with ``average=None`` arrays with one value per scored class (in label order).
    """
    if average not in ("macro", "micro", "weighted", None):
        raise ValueError(f"average: expected 'macro', 'micro', 'weighted' or None, got {average!r}")
    true, pred = _label_pair(y_true, y_pred)
    k = _resolve_classes(true, pred, num_classes)
    cm = np.bincount(true * k + pred, minlength=k * k).reshape(k, k)
    if num_classes is None:  # score only the labels that occur, like scikit-learn
        present = np.union1d(true, pred)
        cm = cm[np.ix_(present, present)]
    tp = np.diag(cm).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)  # TP + FP
    support = cm.sum(axis=1).astype(np.float64)  # TP + FN

    def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        return np.divide(num, den, out=np.zeros_like(num), where=den > 0)

    if average == "micro":
        p = ratio(tp.sum(keepdims=True), predicted.sum(keepdims=True))[0]
        r = ratio(tp.sum(keepdims=True), support.sum(keepdims=True))[0]
        f = ratio(2 * tp.sum(keepdims=True), (predicted + support).sum(keepdims=True))[0]
        return float(p), float(r), float(f)
    precision = ratio(tp, predicted)
    recall = ratio(tp, support)
    f1 = ratio(2 * tp, predicted + support)
    if average is None:
        return precision, recall, f1
    weights = support / support.sum() if average == "weighted" else np.full(len(tp), 1.0 / len(tp))
    return float(precision @ weights), float(recall @ weights), float(f1 @ weights)


# --------------------------------------------------------------------------------------------
# Regression
# --------------------------------------------------------------------------------------------


def _regression_pair(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    true = _as_array(y_true, "y_true").astype(np.float64)
    pred = _as_array(y_pred, "y_pred").astype(np.float64)
    if true.shape != pred.shape:
        raise ValueError(
            f"y_pred: expected the shape of y_true {true.shape}, got {pred.shape} "
            "(no broadcasting: a (N,) vs (N, 1) mix-up would silently give a wrong error)"
        )
    if true.size == 0:
        raise ValueError("y_true: expected at least one value, got none")
    return true, pred


def rmse(y_true: Any, y_pred: Any) -> float:
    r"""Root mean squared error :math:`\sqrt{\frac1N \sum_i (y_i - \hat y_i)^2}` over all elements.

    ``y_true`` and ``y_pred`` must have the same shape. NaN in either gives NaN.
    """
    true, pred = _regression_pair(y_true, y_pred)
    return float(np.sqrt(np.mean((true - pred) ** 2)))


def mae(y_true: Any, y_pred: Any) -> float:
    r"""Mean absolute error :math:`\frac1N \sum_i |y_i - \hat y_i|` over all elements.

    ``y_true`` and ``y_pred`` must have the same shape. NaN in either gives NaN.
    """
    true, pred = _regression_pair(y_true, y_pred)
    return float(np.mean(np.abs(true - pred)))


# --------------------------------------------------------------------------------------------
# Language models
# --------------------------------------------------------------------------------------------


def _nll(nll: Any) -> float:
    if isinstance(nll, torch.Tensor):
        if nll.numel() != 1:
            raise ValueError(f"nll: expected a scalar (the mean negative log-likelihood), got shape {tuple(nll.shape)}")
        nll = nll.item()
    if isinstance(nll, np.ndarray):
        if nll.size != 1:
            raise ValueError(f"nll: expected a scalar (the mean negative log-likelihood), got shape {nll.shape}")
        nll = nll.item()
    if isinstance(nll, bool) or not isinstance(nll, (int, float, np.number)):
        raise TypeError(f"nll: expected a number, got {type(nll).__name__}")
    value = float(nll)
    if math.isnan(value) or value < 0:
        raise ValueError(
            f"nll: expected a mean negative log-likelihood >= 0 (in nats), got {value}"
            + (" -- did you pass the log-likelihood instead of its negative?" if value < 0 else "")
        )
    return value


def perplexity(nll: Any) -> float:
    r"""Perplexity :math:`e^{\mathrm{NLL}}` of a mean negative log-likelihood in nats per token.

    It is the size of a uniform distribution that would be as uncertain as the model. The mean
    cross-entropy of ``nn.CrossEntropyLoss`` is such an NLL.
    """
    value = _nll(nll)
    return math.exp(value) if value < 709.0 else math.inf


def bits_per_char(nll: Any) -> float:
    r"""Bits per character :math:`\mathrm{NLL} / \ln 2` of a mean NLL in nats per character."""
    return _nll(nll) / math.log(2.0)


# --------------------------------------------------------------------------------------------
# Sequences
# --------------------------------------------------------------------------------------------


def _as_sequence(x: Any, name: str) -> Sequence[Any]:
    if isinstance(x, torch.Tensor):
        if x.dim() != 1:
            raise ValueError(f"{name}: expected a 1-D sequence, got a tensor of shape {tuple(x.shape)}")
        return x.tolist()
    if isinstance(x, np.ndarray):
        if x.ndim != 1:
            raise ValueError(f"{name}: expected a 1-D sequence, got an array of shape {x.shape}")
        return x.tolist()
    if isinstance(x, (str, bytes, list, tuple, range)):
        return x
    raise TypeError(f"{name}: expected a string, list, tuple, 1-D array or tensor, got {type(x).__name__}")


def edit_distance(a: Any, b: Any) -> int:
    """Levenshtein distance: the fewest insertions, deletions and substitutions turning ``a`` into ``b``.

    Works on any sequences whose elements compare with ``==``: strings (characters), lists of
    words or tokens, 1-D arrays or tensors of ids. Dynamic programming in O(len(a) * len(b)) time
    and O(min(len(a), len(b))) memory.

    >>> edit_distance("kitten", "sitting")
    3
    """
    a = _as_sequence(a, "a")
    b = _as_sequence(b, "b")
    if len(a) < len(b):
        a, b = b, a  # keep the row (over b) short
    previous = list(range(len(b) + 1))  # distance from a[:0] to b[:j]
    for i, item in enumerate(a, start=1):
        current = [i]
        for j, other in enumerate(b, start=1):
            current.append(
                min(
                    previous[j] + 1,  # delete a[i-1]
                    current[j - 1] + 1,  # insert b[j-1]
                    previous[j - 1] + (item != other),  # substitute (or match)
                )
            )
        previous = current
    return previous[-1]


def char_error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float:
    r"""Character error rate: total edit distance over total reference length.

    .. math:: \mathrm{CER} = \frac{\sum_k \mathrm{edit}(r_k, h_k)}{\sum_k |r_k|}

    Pooling over all pairs (rather than averaging per-pair rates) weights long references more,
    as speech-recognition toolkits do. It can exceed 1 when hypotheses are longer than references.

    Parameters
    ----------
    references, hypotheses : list of str
        The same number of strings, paired in order.
    """
    for name, value in (("references", references), ("hypotheses", hypotheses)):
        if isinstance(value, str):
            raise TypeError(f"{name}: expected a list of strings, got a single str; wrap it in a list: [{name[:-1]}]")
        if not isinstance(value, Sequence):
            raise TypeError(f"{name}: expected a list of strings, got {type(value).__name__}")
        for i, s in enumerate(value):
            if not isinstance(s, str):
                raise TypeError(f"{name}[{i}]: expected a str, got {type(s).__name__}")
    if len(references) != len(hypotheses):
        raise ValueError(
            f"hypotheses: expected as many strings as references ({len(references)}), got {len(hypotheses)}"
        )
    total = sum(len(r) for r in references)
    if total == 0:
        raise ValueError("references: the total reference length is 0, so the error rate is undefined")
    return sum(edit_distance(r, h) for r, h in zip(references, hypotheses, strict=True)) / total
