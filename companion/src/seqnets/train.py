"""Training loop: :func:`fit` a model, :func:`evaluate` it, :func:`predict` with it.

One function per job rather than a trainer class. :func:`fit` runs mini-batch gradient descent with
the pieces every chapter needs, each of which does what it says and is tested:

* a text progress bar over epochs that shows the training and validation loss;
* gradient clipping by global norm, applied after ``backward()`` and before ``step()``;
* early stopping on the validation loss, and restoring the weights of the best epoch;
* a learning-rate scheduler stepped after every epoch or after every optimizer step;
* a guard that stops at the first non-finite loss or gradient, restores the best weights so far
  and says what happened (a ``RuntimeWarning`` and :attr:`History.stop_reason`).

Data is either a :class:`torch.utils.data.DataLoader` that yields ``(inputs, targets)`` batches or
a tuple of tensors ``(x, y)`` whose first dimension indexes the samples. ``x`` (or ``y``) may itself
be a tuple of tensors: the model is then called as ``model(*x)`` (and ``loss_fn(outputs, y)`` gets
the tuple). The model must return a single tensor; wrap a module that returns ``(outputs, state)``
(``nn.LSTM``, for instance) in one that returns ``outputs`` only.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm import tqdm

from seqnets.utils import Timer, check_module, check_number, check_positive_int, training_mode

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

__all__ = ["History", "fit", "evaluate", "predict"]

Batch = torch.Tensor | tuple[torch.Tensor, ...]
Data = DataLoader | tuple[Batch, Batch]
LossFn = Callable[[torch.Tensor, Any], torch.Tensor]
MetricFn = Callable[[torch.Tensor, Any], float]
OptimizerSpec = str | torch.optim.Optimizer | Callable[[Any], torch.optim.Optimizer]

_OPTIMIZERS = ("adam", "adamw", "rmsprop", "sgd")
_SCHEDULER_INTERVALS = ("epoch", "step")


# --------------------------------------------------------------------------------------------
# History
# --------------------------------------------------------------------------------------------


@dataclass
class History:
    """What happened during :func:`fit`, one entry per completed epoch.

    Epochs are numbered from 1, as the progress bar shows them: the loss of epoch ``e`` is
    ``train_loss[e - 1]``.

    Attributes
    ----------
    train_loss : list of float
        Mean training loss of each epoch, averaged over samples (weights change during the epoch).
    val_loss : list of float
        Validation loss after each epoch (empty without validation data).
    metrics : dict[str, list[float]]
        Each validation metric after each epoch.
    lr : list of float
        Learning rate of the first parameter group at the end of each epoch: the rate the epoch
        trained with if the scheduler steps per epoch (or there is none), the rate after the
        epoch's last scheduler step if it steps per optimizer step.
    best_epoch : int or None
        The epoch with the lowest validation loss or, without validation data, the last epoch that
        finished with a finite loss; :func:`fit` leaves its weights in the model (unless called with
        ``restore_best=False``). ``None`` if no epoch finished (the initial weights were restored).
    stop_reason : str
        Why training stopped, in words.
    epochs_run : int
        Number of epochs that finished.
    elapsed : float
        Wall-clock seconds spent in :func:`fit`.
    """

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    lr: list[float] = field(default_factory=list)
    best_epoch: int | None = None
    stop_reason: str = ""
    epochs_run: int = 0
    elapsed: float = 0.0

    @property
    def best_val_loss(self) -> float | None:
        """Validation loss at :attr:`best_epoch` (``None`` without validation data)."""
        if self.best_epoch is None or not self.val_loss:
            return None
        return self.val_loss[self.best_epoch - 1]

    def plot(self, ax: Axes | None = None) -> Axes:
        """Plot the losses per epoch; see :func:`seqnets.plot.plot_history`."""
        from seqnets.plot import plot_history  # matplotlib is imported only when plotting

        return plot_history(self, ax=ax)

    def __repr__(self) -> str:
        parts = [f"epochs_run={self.epochs_run}", f"best_epoch={self.best_epoch}"]
        if self.train_loss:
            parts.append(f"train_loss={self.train_loss[-1]:.4g}")
        if self.val_loss:
            best = self.best_val_loss
            parts.append(f"val_loss={self.val_loss[-1]:.4g}" + (f" (best {best:.4g})" if best is not None else ""))
        for name, values in self.metrics.items():
            if values:
                parts.append(f"{name}={values[-1]:.4g}")
        parts.append(f"elapsed={self.elapsed:.1f} s")
        parts.append(f"stop_reason={self.stop_reason!r}")
        return "History(" + ", ".join(parts) + ")"


# --------------------------------------------------------------------------------------------
# Data: a DataLoader, or a tuple (x, y) of tensors batched here
# --------------------------------------------------------------------------------------------


def _check_part(part: Any, name: str) -> int:
    """Check that ``part`` is a tensor or a tuple of tensors; return its number of samples."""
    tensors = part if isinstance(part, (tuple, list)) else (part,)
    if len(tensors) == 0:
        raise ValueError(f"{name}: expected a tensor or a tuple of tensors, got an empty {type(part).__name__}")
    sizes = []
    for i, t in enumerate(tensors):
        label = f"{name}[{i}]" if isinstance(part, (tuple, list)) else name
        if not isinstance(t, torch.Tensor):
            hint = "; convert it with torch.as_tensor(...)" if hasattr(t, "__array__") else ""
            raise TypeError(f"{label}: expected a torch.Tensor, got {type(t).__name__}{hint}")
        if t.dim() == 0:
            raise ValueError(f"{label}: expected a tensor whose first dimension indexes samples, got a 0-D tensor")
        sizes.append(t.shape[0])
    if len(set(sizes)) > 1:
        raise ValueError(f"{name}: the tensors have different numbers of samples (first dimensions {sizes})")
    return sizes[0]


def _check_data(data: Any, name: str) -> Data:
    """Validate ``data``: a DataLoader, or a pair ``(x, y)`` of tensors with equal lengths."""
    if isinstance(data, DataLoader):
        return data
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        what = (
            f"a {type(data).__name__} of length {len(data)}" if isinstance(data, (tuple, list)) else type(data).__name__
        )
        raise TypeError(f"{name}: expected a DataLoader or a tuple (x, y) of tensors, got {what}")
    x, y = data
    n_x = _check_part(x, f"{name} x")
    n_y = _check_part(y, f"{name} y")
    if n_x != n_y:
        raise ValueError(f"{name}: x and y must have the same number of samples (first dimension), got {n_x} and {n_y}")
    if n_x == 0:
        raise ValueError(f"{name}: expected at least one sample, got 0")
    return (x, y)


def _select(part: Batch, index: torch.Tensor | slice) -> Batch:
    if isinstance(part, (tuple, list)):
        return tuple(t[index] for t in part)
    return part[index]


def _to(part: Any, device: torch.device) -> Any:
    if isinstance(part, torch.Tensor):
        # Asynchronous only host -> GPU; a GPU -> host copy must finish before the CPU reads it.
        return part.to(device, non_blocking=device.type == "cuda")
    if isinstance(part, (tuple, list)):
        return type(part)(_to(p, device) for p in part)
    return part


def _num_samples(part: Any) -> int:
    first = part[0] if isinstance(part, (tuple, list)) and part else part
    if not isinstance(first, torch.Tensor) or first.dim() == 0:
        raise TypeError(
            f"batch: expected inputs as a tensor (or tuple of tensors) with a sample dimension, got {type(first).__name__}"
        )
    return int(first.shape[0])


def _num_batches(data: Data, batch_size: int) -> int | None:
    if isinstance(data, DataLoader):
        try:
            return len(data)
        except TypeError:  # an IterableDataset without __len__
            return None
    return math.ceil(_num_samples(data[0]) / batch_size)


def _batches(data: Data, batch_size: int, shuffle: bool, name: str) -> Iterator[tuple[Batch, Any, int]]:
    """Yield ``(inputs, targets, number_of_samples)`` for each batch of ``data``."""
    if isinstance(data, DataLoader):
        for batch in data:
            if not isinstance(batch, (tuple, list)) or len(batch) != 2:
                what = (
                    f"a {type(batch).__name__} of length {len(batch)}"
                    if isinstance(batch, (tuple, list))
                    else type(batch).__name__
                )
                raise TypeError(f"{name}: the DataLoader must yield (inputs, targets) pairs, got {what}")
            yield batch[0], batch[1], _num_samples(batch[0])
        return
    x, y = data
    n = _num_samples(x)
    # The permutation comes from torch's global generator, which fit(seed=...) seeds.
    order = torch.randperm(n) if shuffle else None
    for start in range(0, n, batch_size):
        index = order[start : start + batch_size] if order is not None else slice(start, start + batch_size)
        yield _select(x, index), _select(y, index), min(batch_size, n - start)


# --------------------------------------------------------------------------------------------
# Small checks shared by fit, evaluate and predict
# --------------------------------------------------------------------------------------------


def _resolve_device(model: nn.Module, device: str | torch.device | None) -> torch.device:
    """``device`` if given (the model is moved there), else the device of the model's parameters."""
    if device is not None:
        device = torch.device(device)
        model.to(device)
        return device
    for tensor in (*model.parameters(), *model.buffers()):
        return tensor.device
    return torch.device("cpu")


def _forward(model: nn.Module, inputs: Batch) -> torch.Tensor:
    out = model(*inputs) if isinstance(inputs, (tuple, list)) else model(inputs)
    if not isinstance(out, torch.Tensor):
        raise TypeError(
            f"model: fit, evaluate and predict expect the model to return a single tensor, got "
            f"{type(out).__name__}; wrap it in a module whose forward returns only the outputs "
            "(for nn.LSTM/nn.GRU: `out, _ = self.rnn(x)`)"
        )
    return out


def _loss_value(loss: Any) -> torch.Tensor:
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        what = f"a tensor of shape {tuple(loss.shape)}" if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise TypeError(
            f"loss_fn: expected a scalar tensor (mean loss of the batch), got {what}; "
            "use reduction='mean' or call .mean() on the result"
        )
    return loss.reshape(())


def _check_metrics(metrics: Any) -> dict[str, MetricFn]:
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        raise TypeError(f"metrics: expected a dict name -> fn(targets, outputs), got {type(metrics).__name__}")
    for key, fn in metrics.items():
        if not isinstance(key, str):
            raise TypeError(f"metrics: names must be strings, got {type(key).__name__} {key!r}")
        if key == "loss":
            raise ValueError("metrics: the name 'loss' is reserved for the loss")
        if not callable(fn):
            raise TypeError(
                f"metrics[{key!r}]: expected a callable fn(targets, outputs) -> float, got {type(fn).__name__}"
            )
    return dict(metrics)


def _concat(parts: list[Any]) -> Any:
    """Concatenate per-batch tensors (or tuples of tensors) along the sample dimension."""
    if isinstance(parts[0], (tuple, list)):
        return tuple(_concat([p[i] for p in parts]) for i in range(len(parts[0])))
    try:
        return torch.cat(parts)
    except RuntimeError as err:
        raise ValueError(
            f"metrics: cannot concatenate the batches to compute metrics on the whole set ({err})"
        ) from err


def _metric_value(name: str, value: Any) -> float:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise TypeError(f"metrics[{name!r}]: expected a scalar, got a tensor of shape {tuple(value.shape)}")
        return float(value.item())
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"metrics[{name!r}]: expected a float, got {type(value).__name__}") from None


def _check_holds(optimizer: torch.optim.Optimizer, params: list[nn.Parameter]) -> torch.optim.Optimizer:
    """Refuse an optimizer that holds none of ``params``: its steps would not change the model."""
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    if not any(id(p) in held for p in params):
        raise ValueError(
            "optimizer: expected an optimizer over the model's parameters, got one that holds "
            f"none of its {len(params)} trainable tensors (built over another model?), so "
            "training would not change the model"
        )
    return optimizer


def _make_optimizer(
    optimizer: OptimizerSpec, params: list[torch.nn.Parameter], lr: float, weight_decay: float
) -> torch.optim.Optimizer:
    if isinstance(optimizer, torch.optim.Optimizer):
        return _check_holds(optimizer, params)
    if isinstance(optimizer, str):
        name = optimizer.lower()
        if name == "adam":
            return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
        if name == "adamw":
            return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
        if name == "rmsprop":
            return torch.optim.RMSprop(params, lr=lr, weight_decay=weight_decay)
        if name == "sgd":
            return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
        raise ValueError(
            f"optimizer: expected one of {_OPTIMIZERS} or a callable params -> Optimizer, got {optimizer!r}"
        )
    if callable(optimizer):
        made = optimizer(params)
        if not isinstance(made, torch.optim.Optimizer):
            raise TypeError(f"optimizer: the callable must return a torch.optim.Optimizer, got {type(made).__name__}")
        return _check_holds(made, params)
    raise TypeError(
        f"optimizer: expected one of {_OPTIMIZERS}, a torch.optim.Optimizer or a callable params -> Optimizer, "
        f"got {type(optimizer).__name__}"
    )


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    """A copy of the weights on the CPU, so that keeping the best epoch costs no device memory."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _all_finite(model: nn.Module) -> bool:
    """Whether every parameter and floating buffer is finite (one host synchronisation)."""
    tensors = [t for t in (*model.parameters(), *model.buffers()) if t.is_floating_point()]
    return not tensors or bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all())


def _seed_device(device: torch.device, seed: int) -> None:
    """Seed the generator of the accelerator ``device`` itself (not the current CUDA device)."""
    if device.type == "cuda":
        torch.cuda.default_generators[_cuda_index(device)].manual_seed(seed)


def _run_eval(
    model: nn.Module,
    data: Data,
    device: torch.device,
    batch_size: int,
    loss_fn: LossFn | None,
    metrics: dict[str, MetricFn],
    name: str,
) -> dict[str, float]:
    """Loss (averaged over samples) and metrics (on the whole set) in eval mode without gradients."""
    # Summed on the device, so there is no host synchronisation per batch (MPS has no float64).
    total = torch.zeros((), dtype=torch.float32 if device.type == "mps" else torch.float64, device=device)
    count = 0
    outputs, targets = [], []
    with training_mode(model, False), torch.no_grad():
        for xb, yb, n in _batches(data, batch_size, shuffle=False, name=name):
            xb, yb = _to(xb, device), _to(yb, device)
            out = _forward(model, xb)
            if loss_fn is not None:
                total += _loss_value(loss_fn(out, yb)).to(total.dtype) * n
            count += n
            if metrics:
                outputs.append(out.detach().cpu())
                targets.append(_to(yb, torch.device("cpu")))
    if count == 0:
        raise ValueError(f"{name}: contains no samples")
    result: dict[str, float] = {}
    if loss_fn is not None:
        result["loss"] = float(total) / count
    if metrics:
        all_out, all_tgt = _concat(outputs), _concat(targets)
        for key, fn in metrics.items():
            result[key] = _metric_value(key, fn(all_tgt, all_out))
    return result


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _postfix(history: History) -> dict[str, str]:
    """Latest losses and metrics for the progress bar."""
    postfix = {"train_loss": _fmt(history.train_loss[-1])}
    if history.val_loss:
        postfix["val_loss"] = _fmt(history.val_loss[-1])
    for key, values in history.metrics.items():
        postfix[key] = _fmt(values[-1])
    return postfix


def _train_epoch(
    model: nn.Module,
    data: Data,
    loss_fn: LossFn,
    opt: torch.optim.Optimizer,
    params: list[torch.nn.Parameter],
    clip_grad_norm: float | None,
    batch_size: int,
    shuffle: bool,
    device: torch.device,
    after_step: Callable[[], object] | None = None,
) -> tuple[float, str]:
    """One pass over ``data`` in train mode; ``after_step()`` is called after each optimizer step.

    Returns ``(mean loss over samples, "")``, or ``(nan, description)`` as soon as a batch's loss
    or gradient norm is not finite; that batch's step (and ``after_step``) is not taken. The loss
    and the gradient norm reach the host together, in one synchronisation per batch.
    """
    model.train()
    n_batches = _num_batches(data, batch_size)
    total, count = 0.0, 0
    for b, (xb, yb, n) in enumerate(_batches(data, batch_size, shuffle, "train_data"), start=1):
        xb, yb = _to(xb, device), _to(yb, device)
        loss = _loss_value(loss_fn(_forward(model, xb), yb))
        if not loss.requires_grad:
            raise ValueError(
                "loss_fn: the loss does not depend on the model's parameters (no gradient); "
                "do not detach the outputs or convert them to numbers inside loss_fn"
            )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        # Clip after backward() has produced the gradients and before step() uses them.
        if clip_grad_norm is not None:
            norm = torch.nn.utils.clip_grad_norm_(params, clip_grad_norm)
        else:
            norm = torch.nn.utils.get_total_norm([p.grad for p in params if p.grad is not None])
        value, norm_value = torch.stack([loss.detach().float(), norm.float().to(loss.device)]).tolist()
        if not (math.isfinite(value) and math.isfinite(norm_value)):
            where = f"batch {b}" + (f" of {n_batches}" if n_batches else "")
            what = f"the training loss is {value}" if not math.isfinite(value) else f"the gradient norm is {norm_value}"
            return math.nan, f"{where}: {what}" + ("" if not math.isfinite(value) else f" (loss {value:.4g})")
        opt.step()
        if after_step is not None:
            after_step()
        total += value * n
        count += n
    if count == 0:
        raise ValueError("train_data: contains no samples")
    return total / count, ""


@dataclass(frozen=True)
class _FitOptions:
    """The numbers of one :func:`fit` call, validated."""

    epochs: int
    batch_size: int
    eval_batch_size: int
    lr: float
    weight_decay: float
    min_delta: float
    clip_grad_norm: float | None
    patience: int | None
    seed: int | None

    @classmethod
    def checked(
        cls,
        loss_fn: Any,
        epochs: Any,
        batch_size: Any,
        eval_batch_size: Any,
        lr: Any,
        weight_decay: Any,
        min_delta: Any,
        clip_grad_norm: Any,
        patience: Any,
        seed: Any,
    ) -> _FitOptions:
        if not callable(loss_fn):
            raise TypeError(
                f"loss_fn: expected a callable loss_fn(outputs, targets) -> tensor, got {type(loss_fn).__name__}"
            )
        batch_size = check_positive_int(batch_size, "batch_size")
        return cls(
            epochs=check_positive_int(epochs, "epochs"),
            batch_size=batch_size,
            eval_batch_size=max(batch_size, 256)
            if eval_batch_size is None
            else check_positive_int(eval_batch_size, "eval_batch_size"),
            lr=check_number(lr, "lr", low=0, low_open=True),
            weight_decay=check_number(weight_decay, "weight_decay", low=0),
            min_delta=check_number(min_delta, "min_delta", low=0),
            clip_grad_norm=None
            if clip_grad_norm is None
            else check_number(clip_grad_norm, "clip_grad_norm", low=0, low_open=True),
            patience=None if patience is None else check_positive_int(patience, "patience"),
            seed=None if seed is None else check_positive_int(seed, "seed", minimum=0),
        )


@dataclass
class _Best:
    """The best epoch so far: its monitored loss and a CPU copy of its weights."""

    state: dict[str, torch.Tensor]
    value: float = math.inf
    epoch: int | None = None
    bad_epochs: int = 0

    def update(self, model: nn.Module, epoch: int, monitored: float, min_delta: float, always: bool) -> None:
        """Take ``epoch`` as the best if it improved on the best by more than ``min_delta``
        (or ``always``, without validation data)."""
        if always or monitored < self.value - min_delta:
            self.value, self.epoch, self.bad_epochs = monitored, epoch, 0
            self.state = _snapshot(model)
        else:
            self.bad_epochs += 1


def _end_epoch(
    model: nn.Module,
    history: History,
    epoch: int,
    train_loss: float,
    opt: torch.optim.Optimizer,
    val_data: Data | None,
    device: torch.device,
    eval_batch_size: int,
    loss_fn: LossFn,
    metric_fns: dict[str, MetricFn],
) -> tuple[float, str]:
    """Record a finished epoch; return ``(monitored loss, problem)``, ``problem`` empty if all is well.

    The monitored loss is the validation loss, or the training loss without validation data. A
    problem is non-finite weights (which must never become the "best" ones) or validation loss.
    """
    history.train_loss.append(train_loss)
    history.lr.append(float(opt.param_groups[0]["lr"]))
    history.epochs_run = epoch
    if not _all_finite(model):
        return math.nan, "the weights became NaN or infinite in the last optimizer step"
    if val_data is None:
        return train_loss, ""
    result = _run_eval(model, val_data, device, eval_batch_size, loss_fn, metric_fns, "val_data")
    history.val_loss.append(result["loss"])
    for key in metric_fns:
        history.metrics[key].append(result[key])
    if not math.isfinite(result["loss"]):
        return math.nan, f"the validation loss is {result['loss']}; check the validation inputs and targets"
    return result["loss"], ""


def _failure_message(epoch: int, problem: str, best_epoch: int | None, hint: str) -> str:
    kept = (
        f"the weights of epoch {best_epoch}"
        if best_epoch is not None
        else "the initial weights (no epoch finished cleanly)"
    )
    return (
        f"stopped at epoch {epoch}, {problem}. Restored {kept}. {hint}gradient clipping "
        "(clip_grad_norm=1.0), or check the inputs and targets for NaN/inf."
    )


def _cuda_index(device: torch.device) -> int:
    return device.index if device.index is not None else torch.cuda.current_device()


# --------------------------------------------------------------------------------------------
# fit
# --------------------------------------------------------------------------------------------


def fit(
    model: nn.Module,
    train_data: Data,
    *,
    loss_fn: LossFn,
    epochs: int,
    batch_size: int = 64,
    lr: float = 1e-3,
    optimizer: OptimizerSpec = "adam",
    weight_decay: float = 0.0,
    val_data: Data | None = None,
    metrics: Mapping[str, MetricFn] | None = None,
    clip_grad_norm: float | None = None,
    patience: int | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    seed: int | None = None,
    shuffle: bool = True,
    scheduler: Callable[[torch.optim.Optimizer], Any] | None = None,
    scheduler_interval: str = "epoch",
    min_delta: float = 0.0,
    restore_best: bool = True,
    eval_batch_size: int | None = None,
) -> History:
    """Train ``model`` on ``train_data`` by mini-batch gradient descent; return its :class:`History`.

    Each epoch puts the model in train mode and, for every batch, computes
    ``loss = loss_fn(model(x), y)``, calls ``loss.backward()``, clips the gradients to a global
    2-norm of at most ``clip_grad_norm`` (if given) and takes an optimizer step. Then, with
    ``val_data``, it puts the model in eval mode and computes the validation loss and ``metrics``.

    At the end the model holds the weights of :attr:`History.best_epoch`: the epoch with the lowest
    validation loss or, without validation data, the last epoch that finished with a finite loss.
    The model is then put back in the mode (train or eval) it was in when ``fit`` was called.

    Parameters
    ----------
    model : nn.Module
        Must return a single tensor (not a tuple such as ``(outputs, state)``).
    train_data : DataLoader or tuple (x, y)
        A DataLoader yielding ``(inputs, targets)`` batches (then ``batch_size`` and ``shuffle`` are
        the DataLoader's business), or tensors ``x``, ``y`` with equal first dimension (samples).
        ``x`` may be a tuple of tensors, passed to the model as ``model(*x)``.
    loss_fn : callable
        ``loss_fn(outputs, targets) -> scalar tensor``, the *mean* loss of a batch, e.g.
        ``nn.MSELoss()`` or ``nn.CrossEntropyLoss()``.
    epochs : int
        Maximum number of passes over ``train_data``.
    batch_size : int
        Samples per batch when ``train_data`` is a tuple; the last batch may be smaller.
    lr, weight_decay : float
        Learning rate and L2 penalty (decoupled for ``"adamw"``) of the named optimizers.
    optimizer : {"adam", "adamw", "rmsprop", "sgd"}, Optimizer or callable
        ``"sgd"`` uses momentum 0.9. A callable ``params -> torch.optim.Optimizer`` (for example
        ``lambda p: torch.optim.RMSprop(p, lr=1e-2)``) or a ready Optimizer instance is used as is,
        and then ``lr`` and ``weight_decay`` are ignored.
    val_data : DataLoader or tuple (x, y), optional
        Evaluated after every epoch; needed for ``patience`` and ``metrics``.
    metrics : dict of str to callable, optional
        ``fn(targets, outputs) -> float`` on the whole validation set (outputs of all batches,
        concatenated on the CPU), recorded in :attr:`History.metrics` each epoch. The argument
        order is scikit-learn's and :mod:`seqnets.metrics`' (``y_true, y_pred``), so
        ``metrics={"accuracy": seqnets.metrics.accuracy}`` works as it is.
    clip_grad_norm : float, optional
        Maximum global 2-norm of the gradients (``torch.nn.utils.clip_grad_norm_``).
    patience : int, optional
        Stop when the validation loss has not improved (by more than ``min_delta``) for this many
        epochs in a row.
    device : str or torch.device, optional
        Where to train; the model is moved there. By default the device of the model's parameters.
    progress : bool
        Show a text progress bar (tqdm) over epochs with the latest losses.
    seed : int, optional
        Seeds torch's generator for the duration of ``fit`` (shuffling, dropout, DataLoader
        shuffling), so the same call on the same initial model repeats exactly on CPU. The global
        generator's state is restored afterwards. ``None`` uses the global generator as it is.
    shuffle : bool
        Shuffle the samples each epoch (tuple data only).
    scheduler : callable, optional
        ``optimizer -> learning-rate scheduler``, for example
        ``lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)``.
    scheduler_interval : {"epoch", "step"}
        When the scheduler steps: ``"epoch"`` (default) once after every epoch, ``"step"`` after
        every optimizer step (so a schedule's length is counted in batches, as for
        ``OneCycleLR(opt, max_lr, total_steps=epochs * batches_per_epoch)``). A
        ``ReduceLROnPlateau`` steps per epoch only, given the validation loss (or the training
        loss without validation data).
    min_delta : float
        Smallest decrease of the validation loss that counts as an improvement.
    restore_best : bool
        Load the weights of the best epoch at the end (default). If False the model keeps its last
        weights, except after a non-finite loss, where the best weights are always restored.
    eval_batch_size : int, optional
        Batch size for the validation pass on tuple data; default ``max(batch_size, 256)``.

    Returns
    -------
    History
        Losses, metrics and learning rates per epoch, ``best_epoch`` and ``stop_reason``.

    Warns
    -----
    RuntimeWarning
        When a loss or gradient becomes NaN or infinite; training stops at that batch, the best
        weights so far are restored and :attr:`History.stop_reason` says what happened.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> x = torch.linspace(-1, 1, 64).unsqueeze(1); y = 3 * x + 1
    >>> model = nn.Linear(1, 1)
    >>> history = fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=50, lr=0.1, progress=False, seed=0)
    >>> history.train_loss[-1] < history.train_loss[0]
    True
    """
    model = check_module(model)
    o = _FitOptions.checked(
        loss_fn, epochs, batch_size, eval_batch_size, lr, weight_decay, min_delta, clip_grad_norm, patience, seed
    )
    train_data = _check_data(train_data, "train_data")
    val_data = None if val_data is None else _check_data(val_data, "val_data")
    metric_fns = _check_metrics(metrics)
    if val_data is None and o.patience is not None:
        raise ValueError("patience: early stopping watches the validation loss, so it needs val_data")
    if val_data is None and metric_fns:
        raise ValueError("metrics: they are computed on the validation set, so they need val_data")
    if scheduler is not None and not callable(scheduler):
        raise TypeError(f"scheduler: expected a callable optimizer -> scheduler, got {type(scheduler).__name__}")
    if not isinstance(scheduler_interval, str) or scheduler_interval not in _SCHEDULER_INTERVALS:
        want, got = _SCHEDULER_INTERVALS, scheduler_interval
        raise ValueError(f"scheduler_interval: expected one of {want}, got {got!r}")

    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("model: has no trainable parameters (none with requires_grad=True)")
    opt = _make_optimizer(optimizer, params, o.lr, o.weight_decay)
    sched = scheduler(opt) if scheduler is not None else None
    step_scheduler = sched.step if sched is not None and scheduler_interval == "step" else None
    if step_scheduler is not None and isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
        raise ValueError(
            "scheduler_interval: ReduceLROnPlateau reacts to the loss of whole epochs; "
            "expected 'epoch' for it, got 'step'"
        )
    # Moved only now that every argument has passed (moving keeps the parameter objects, so the
    # optimizer made above still holds them).
    device = _resolve_device(model, device)
    history = History(metrics={key: [] for key in metric_fns})
    best = _Best(_snapshot(model))  # the initial weights, in case the first epoch fails
    hint = f"Try a lower learning rate{f' (lr={o.lr:g} now)' if isinstance(optimizer, str) else ''}, "
    stop_reason, failed = f"completed all {o.epochs} epochs", False
    # fork_rng restores the global generators afterwards; only the training device's are forked.
    forked = [_cuda_index(device)] if device.type == "cuda" else []
    with Timer() as timer, torch.random.fork_rng(devices=forked, enabled=o.seed is not None):
        if o.seed is not None:
            torch.random.default_generator.manual_seed(o.seed)
            _seed_device(device, o.seed)
        # counted by hand, not by iterating over the bar, so an epoch that ends in early stopping counts
        bar = tqdm(total=o.epochs, desc="fit", unit="epoch", disable=not progress, mininterval=0.5, leave=True)
        with bar, training_mode(model, model.training):  # the caller's mode comes back at the end
            for epoch in range(1, o.epochs + 1):
                train_loss, problem = _train_epoch(
                    model,
                    train_data,
                    loss_fn,
                    opt,
                    params,
                    o.clip_grad_norm,
                    o.batch_size,
                    shuffle,
                    device,
                    after_step=step_scheduler,
                )
                if not problem:
                    monitored, problem = _end_epoch(
                        model, history, epoch, train_loss, opt, val_data, device, o.eval_batch_size, loss_fn, metric_fns
                    )
                if problem:
                    stop_reason, failed = _failure_message(epoch, problem, best.epoch, hint), True
                    break
                bar.set_postfix(_postfix(history), refresh=False)
                bar.update()
                best.update(model, epoch, monitored, o.min_delta, always=val_data is None)
                if isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau):
                    sched.step(monitored)
                elif sched is not None and step_scheduler is None:
                    sched.step()
                if o.patience is not None and best.bad_epochs >= o.patience:
                    stop_reason = (
                        f"early stopping after epoch {epoch}: the validation loss has not improved for {o.patience} "
                        f"epoch{'s' if o.patience > 1 else ''} (best {_fmt(best.value)} at epoch {best.epoch})"
                    )
                    break
            if restore_best or failed:
                model.load_state_dict(best.state)
    history.best_epoch = best.epoch
    history.stop_reason = stop_reason
    history.elapsed = timer.elapsed
    if failed:
        warnings.warn(stop_reason, RuntimeWarning, stacklevel=2)
    return history


# --------------------------------------------------------------------------------------------
# evaluate and predict
# --------------------------------------------------------------------------------------------


def evaluate(
    model: nn.Module,
    data: Data,
    *,
    loss_fn: LossFn | None = None,
    metrics: Mapping[str, MetricFn] | None = None,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> dict[str, float]:
    """Loss and metrics of ``model`` on ``data``, in eval mode and without gradients.

    Parameters
    ----------
    model : nn.Module
        Must return a single tensor.
    data : DataLoader or tuple (x, y)
        As in :func:`fit`.
    loss_fn : callable, optional
        ``loss_fn(outputs, targets) -> scalar`` mean loss of a batch. The result ``"loss"`` is
        averaged over samples (each batch weighted by its size), not over batches.
    metrics : dict of str to callable, optional
        ``fn(targets, outputs) -> float`` (``y_true, y_pred``, as in :mod:`seqnets.metrics`),
        computed once on the outputs of all batches.
    batch_size : int
        Samples per batch for tuple data.
    device : str or torch.device, optional
        Where to compute; the model is moved there. By default the device of its parameters.

    Returns
    -------
    dict of str to float
        ``{"loss": ..., name: ...}``; ``"loss"`` only if ``loss_fn`` is given.
    """
    model = check_module(model)
    if loss_fn is not None and not callable(loss_fn):
        raise TypeError(f"loss_fn: expected a callable or None, got {type(loss_fn).__name__}")
    metric_fns = _check_metrics(metrics)
    if loss_fn is None and not metric_fns:
        raise ValueError("evaluate: give loss_fn, metrics or both; there is nothing to compute")
    batch_size = check_positive_int(batch_size, "batch_size")
    data = _check_data(data, "data")
    device = _resolve_device(model, device)
    return _run_eval(model, data, device, batch_size, loss_fn, metric_fns, "data")


def predict(
    model: nn.Module,
    x: Batch,
    *,
    batch_size: int = 256,
    device: str | torch.device | None = None,
) -> torch.Tensor:
    """Outputs of ``model`` for inputs ``x``, computed in batches in eval mode without gradients.

    Parameters
    ----------
    model : nn.Module
        Must return a single tensor.
    x : torch.Tensor or tuple of tensors
        Inputs whose first dimension indexes samples; a tuple is passed as ``model(*x)``.
    batch_size : int
        Samples per forward pass.
    device : str or torch.device, optional
        Where to compute; the model is moved there. By default the device of its parameters.

    Returns
    -------
    torch.Tensor
        Outputs of all batches concatenated along the first dimension, on the CPU. The model is
        left in the mode (train or eval) it was in.
    """
    model = check_module(model)
    batch_size = check_positive_int(batch_size, "batch_size")
    n = _check_part(x, "x")
    device = _resolve_device(model, device)
    outputs = []
    with training_mode(model, False), torch.no_grad():
        for start in range(0, n, batch_size):
            xb = _to(_select(x, slice(start, start + batch_size)), device)
            outputs.append(_forward(model, xb).cpu())
    if not outputs:
        raise ValueError("x: expected at least one sample, got 0")
    return torch.cat(outputs)
