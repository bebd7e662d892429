"""The long-range memory benchmarks of Bai et al. (2018), at any scale, on one process or many.

Four tasks test how far back a sequence model can remember; four models are compared on them:

=============  ==========================================  =================  ===============
task           input -> target                              paper's length     headline metric
=============  ==========================================  =================  ===============
``adding``     ``(T, 2)`` numbers and marks -> their sum    T = 600            test MSE
``copy``       ``T + 20`` tokens -> the same, 10 recalled   T = 1000           test loss per step
``pixel``      an image read pixel by pixel -> its digit    784 (MNIST)        test accuracy
``permuted``   the same, pixels in a fixed random order     784 (MNIST)        test accuracy
=============  ==========================================  =================  ===============

Models (:data:`MODELS`): the Elman ``rnn``, ``gru``, ``lstm`` (one layer unless ``layers`` says
otherwise) and ``tcn`` (:class:`seqnets.models.conv.TCN`, by default the fewest levels whose
receptive field covers the sequence), sized by a width or by a parameter budget, as the paper
compares them at about equal numbers of parameters.

:func:`run` trains one model on one task and is what ``python -m seqnets bench`` calls. Every
random choice is seeded: the data sets are fixed for a task and length, ``seed`` sets the
initial weights, the order of the batches and dropout, each epoch reseeded from ``(seed, epoch,
rank)``. Together with the optimiser state saved after every epoch, that makes a resumed run equal
to an uninterrupted one, bit for bit on a CPU. Under ``torchrun`` (environment variables ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK``) the model is wrapped in
:class:`~torch.nn.parallel.DistributedDataParallel` and each process reads its share of every
global batch through a :class:`~torch.utils.data.DistributedSampler`; the global batch, and so
(without dropout) the result up to floating-point rounding, does not depend on the number of
processes. Dropout masks are drawn per process, so with dropout the result depends on it.

Files written to ``out`` (by rank 0 only): ``results.json`` (after every epoch; its ``status`` is
``"running"``, ``"finished"``, ``"interrupted"`` or ``"diverged"``), ``checkpoint.safetensors``
(weights and optimiser state after the last finished epoch) and ``best.safetensors`` (weights of
the epoch with the lowest validation loss, on which the test metric is computed).
"""

from __future__ import annotations

import copy
import json
import math
import os
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset
from tqdm import tqdm

from seqnets import checkpoint
from seqnets.data.images import digits, read_idx, stratified_split
from seqnets.data.synthetic import COPY_DIGITS, adding_problem, copy_memory, copy_memory_baseline
from seqnets.models.recurrent import SequenceClassifier, SequenceHead, SequenceRegressor, SequenceTagger
from seqnets.train import _make_optimizer, _snapshot
from seqnets.utils import check_bool, check_number, check_positive_int, count_parameters, pick_device

__all__ = [
    "TASKS",
    "MODELS",
    "PAPER",
    "Config",
    "Task",
    "load_task",
    "build_model",
    "hidden_for_params",
    "run",
    "load_run",
    "RESULTS_FORMAT",
]

#: The four tasks, by the name ``--task`` takes.
TASKS = ("adding", "copy", "pixel", "permuted")
#: The four models, by the name ``--model`` takes.
MODELS = ("rnn", "gru", "lstm", "tcn")
#: The ``format`` field of every ``results.json`` this version writes.
RESULTS_FORMAT = "seqnets-bench/1"

#: The headline test metric of each model (and the models' size) in Table 1 of Bai et al. (2018).
PAPER: dict[str, dict[str, Any]] = {
    "pixel": {"metric": "accuracy", "length": 784, "size": 70_000,
              "lstm": 0.872, "gru": 0.962, "rnn": 0.215, "tcn": 0.990},
    "permuted": {"metric": "accuracy", "length": 784, "size": 70_000,
                 "lstm": 0.857, "gru": 0.873, "rnn": 0.253, "tcn": 0.972},
    "adding": {"metric": "mse", "length": 600, "size": 70_000,
               "lstm": 0.164, "gru": 5.3e-5, "rnn": 0.177, "tcn": 5.8e-5},
    "copy": {"metric": "loss", "length": 1000, "size": 16_000,
             "lstm": 0.0204, "gru": 0.0197, "rnn": 0.0202, "tcn": 3.5e-5},
}  # fmt: skip


@dataclass(frozen=True)
class _TaskDefaults:
    """Defaults of a task: the paper's length and size; epochs, batch, lr and kernel of the authors' code."""

    length: int
    params: int
    samples: int
    epochs: int
    batch_size: int
    lr: float
    kernel_size: int
    optimizer: str


_DEFAULTS = {
    "adding": _TaskDefaults(600, 70_000, 50_000, 10, 32, 4e-3, 7, "adam"),
    "copy": _TaskDefaults(1000, 16_000, 10_000, 50, 32, 5e-4, 8, "rmsprop"),
    "pixel": _TaskDefaults(784, 70_000, 54_000, 20, 64, 2e-3, 7, "adam"),
    "permuted": _TaskDefaults(784, 70_000, 54_000, 20, 64, 2e-3, 7, "adam"),
}
#: kind, input size (features or token values), output size (per sequence or per step), of each task
_SHAPES = {
    "adding": ("regression", 2, 1),
    "copy": ("tagging", 10, 10),
    "pixel": ("classification", 1, 10),
    "permuted": ("classification", 1, 10),
}
_OPTIMIZERS = ("adam", "rmsprop", "sgd")  # "sgd" with momentum 0.9, as seqnets.train.fit makes it
_VAL_SAMPLES = 1_000  # generated tasks: validation and test sets of 1,000 sequences each
_DATA_SEED = 20180403  # the data of a task are the same for every model and every seed


# --------------------------------------------------------------------------------------------
# Tasks
# --------------------------------------------------------------------------------------------


@dataclass
class Task:
    """The data of one benchmark task, split three ways, and what to measure on it.

    Attributes
    ----------
    name : str
        One of :data:`TASKS`.
    length : int
        ``T`` as the task defines it (the copy task's sequences have ``T + 20`` steps).
    train, val, test : tuple[torch.Tensor, torch.Tensor]
        ``(inputs, targets)``; inputs ``(N, steps, features)`` float, or ``(N, steps)`` int64
        tokens for ``copy``.
    kind : str
        ``"regression"`` or ``"classification"`` (one output per sequence: a number or a class),
        or ``"tagging"`` (one class per step).
    input_size, output_size : int
        Features (or token values) per step, and outputs per sequence or step.
    baseline : float
        The loss of the best answer that remembers nothing: 1/6 for adding (predict 1),
        ``10 ln 8 / (T + 20)`` for copy, ``ln 10`` for the digits (a uniform guess).
    """

    name: str
    length: int
    train: tuple[torch.Tensor, torch.Tensor]
    val: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    kind: str
    input_size: int
    output_size: int
    baseline: float

    @property
    def metric(self) -> str:
        """The paper's headline metric, ``"mse"``, ``"loss"`` (per step) or ``"accuracy"``."""
        return PAPER[self.name]["metric"]

    def __repr__(self) -> str:
        sizes = ", ".join(f"{part} {len(getattr(self, part)[0])}" for part in ("train", "val", "test"))
        return f"Task({self.name!r}, length={self.length}, {sizes}, baseline={self.baseline:.4g})"


def _check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name}: expected one of {choices}, got {value!r}")
    return value


def _subset_size(total: int, samples: int | None, name: str) -> int:
    if samples is None:
        return total
    samples = check_positive_int(samples, "samples")
    if samples > total:
        raise ValueError(f"samples: the {name} training set has {total} sequences, got samples={samples}")
    return samples


def _mnist(data: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """MNIST's four IDX files from ``data`` (gzipped or not): train images, labels, test images, labels."""
    if not data.is_dir():
        raise FileNotFoundError(f"data: {str(data)!r} is not a folder with MNIST's IDX files")
    arrays = []
    for stem in (
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ):
        found = [data / name for name in (stem, stem + ".gz", stem.replace("-idx", ".idx")) if (data / name).is_file()]
        if not found:
            raise FileNotFoundError(f"data: {str(data)!r} has no {stem} (or {stem}.gz), one of MNIST's four files")
        arrays.append(read_idx(found[0]))
    images, labels, test_images, test_labels = arrays
    for what, x, y in (("train", images, labels), ("t10k", test_images, test_labels)):
        if x.ndim != 3 or y.ndim != 1 or len(x) != len(y):
            raise ValueError(
                f"data: MNIST {what} images must be (N, H, W) and labels (N,), got {x.shape} and {y.shape}"
            )
    return images, labels, test_images, test_labels


def _digit_parts(data: str | os.PathLike | None) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Train, validation and test ``(images (N, pixels), labels (N,))`` in [0, 1], before scaling."""
    if data is None:
        images, labels = digits()  # (1797, 1, 8, 8), (1797,)
        flat = images.reshape(len(images), -1)  # (N, 64)
        return [(flat[i], labels[i]) for i in stratified_split(labels, test=0.2, val=0.1, seed=0)]
    train_images, train_labels, test_images, test_labels = _mnist(Path(data))

    def tensors(images: np.ndarray, labels: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        flat = images.reshape(len(images), -1).astype(np.float32) / 255.0  # (N, H W)
        return torch.from_numpy(flat), torch.from_numpy(labels.astype(np.int64))

    x, y = tensors(train_images, train_labels)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(_DATA_SEED))
    n_val = len(x) // 10  # 6,000 of MNIST's 60,000 training images for validation
    return [
        (x[order[n_val:]], y[order[n_val:]]),
        (x[order[:n_val]], y[order[:n_val]]),
        tensors(test_images, test_labels),
    ]


def _digit_task(name: str, samples: int | None, data: str | os.PathLike | None) -> Task:
    """Pixel-by-pixel digits: scikit-learn's 8x8 digits, or MNIST when ``data`` names its folder."""
    parts = _digit_parts(data)
    steps = parts[0][0].shape[1]
    train_x, train_y = parts[0]
    keep = _subset_size(len(train_x), samples, name)
    if keep < len(train_x):  # a seeded subset, the same for every model
        subset = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(_DATA_SEED))[:keep]
        parts[0] = (train_x[subset], train_y[subset])
    mean, std = parts[0][0].mean(), parts[0][0].std()  # training statistics only
    pixels = torch.arange(steps)
    if name == "permuted":  # one fixed permutation of the pixels, the same for every run
        pixels = torch.randperm(steps, generator=torch.Generator().manual_seed(_DATA_SEED + 1))
    split = [(((x - mean) / std)[:, pixels].unsqueeze(-1).contiguous(), y) for x, y in parts]  # (N, steps, 1), (N,)
    return _task(name, steps, split, baseline=math.log(10))


def load_task(
    name: str,
    length: int | None = None,
    samples: int | None = None,
    data: str | os.PathLike | None = None,
) -> Task:
    """Make (or read) the data of a benchmark task.

    Parameters
    ----------
    name : {"adding", "copy", "pixel", "permuted"}
    length : int, optional
        ``T`` of the generated tasks (default: the paper's, 600 and 1000). The digit tasks have the
        length of their images (64 for the 8x8 digits, 784 for MNIST); giving another is an error.
    samples : int, optional
        Size of the training set (default: 50,000 sequences for adding and 10,000 for copy, as in
        the authors' code; all training images for the digits).
    data : str or PathLike, optional
        Digit tasks only: a folder with MNIST's IDX files (``train-images-idx3-ubyte`` and the
        three others, gzipped or not). Without it, scikit-learn's 1,797 8x8 digits are used, split
        70 / 10 / 20 % (stratified).

    Returns
    -------
    Task
        The generated tasks have validation and test sets of 1,000 sequences. Their data depend
        on ``name``, ``length`` and ``samples`` only, never on a run's seed.
    """
    name = _check_choice(name, "task", TASKS)
    if name in ("pixel", "permuted"):
        task = _digit_task(name, samples, data)
        if length is not None and check_positive_int(length, "length") != task.length:
            raise ValueError(f"length: the {name} task's images have {task.length} pixels, got length={length}")
        return task
    if data is not None:
        raise ValueError(f"data: only the pixel and permuted tasks read files; the {name} task is generated")
    length = _DEFAULTS[name].length if length is None else check_positive_int(length, "length", minimum=2)
    n_train = _DEFAULTS[name].samples if samples is None else check_positive_int(samples, "samples")
    make = adding_problem if name == "adding" else copy_memory
    split = [
        make(n, length, torch.Generator().manual_seed(_DATA_SEED + part))
        for part, n in enumerate((n_train, _VAL_SAMPLES, _VAL_SAMPLES))
    ]
    return _task(name, length, split, baseline=1 / 6 if name == "adding" else copy_memory_baseline(length))


def _task(name: str, length: int, split: list[tuple[torch.Tensor, torch.Tensor]], baseline: float) -> Task:
    kind, input_size, output_size = _SHAPES[name]
    train, val, test = split
    return Task(name, length, train, val, test, kind, input_size, output_size, baseline)


# --------------------------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------------------------


class _OneHot(nn.Module):
    """The job of ``_OneHot`` is to turn tokens into vectors: ``(B, T)`` int64 -> ``(B, T, V)`` float."""

    def __init__(self, num_values: int) -> None:
        super().__init__()
        self.num_values = num_values

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return F.one_hot(tokens, self.num_values).float()

    def extra_repr(self) -> str:
        return f"num_values={self.num_values}"


def _tcn_levels(steps: int, kernel_size: int) -> int:
    """The fewest levels whose receptive field ``1 + 2 (k - 1) (2^L - 1)`` covers ``steps``."""
    levels = 1
    while 1 + 2 * (kernel_size - 1) * (2**levels - 1) < steps:
        levels += 1
    return levels


def _steps(task: Task) -> int:
    return task.length + 2 * COPY_DIGITS if task.name == "copy" else task.length


def build_model(
    task: Task,
    model: str,
    hidden: int,
    *,
    layers: int = 1,
    levels: int | None = None,
    kernel_size: int | None = None,
    weight_norm: bool = False,
    dropout: float = 0.0,
) -> nn.Module:
    """The model ``model`` for ``task``: a regressor, a classifier or a per-step tagger.

    Parameters
    ----------
    task : Task
    model : {"rnn", "gru", "lstm", "tcn"}
    hidden : int
        Hidden units of the recurrent layer, or channels of every TCN level.
    layers : int
        Stacked recurrent layers (recurrent models only).
    levels, kernel_size : int, optional
        TCN only: residual levels (default: the fewest whose receptive field covers the sequence)
        and kernel size (default: the authors' choice for the task, 7 or 8).
    weight_norm : bool
        TCN only: weight normalisation on every convolution, as in the authors' TCN.
    dropout : float

    Returns
    -------
    nn.Module
        ``(B, steps, features) -> (B, 1)`` (adding), ``(B, 10)`` logits (digits), or
        ``(B, T + 20)`` tokens ``-> (B, T + 20, 10)`` logits (copy).
    """
    if not isinstance(task, Task):
        raise TypeError(f"task: expected a Task (from load_task), got {type(task).__name__}")
    model = _check_choice(model, "model", MODELS)
    options: dict[str, Any] = {}
    if model == "tcn":
        if layers != 1:
            raise ValueError(f"layers: the TCN's depth is set by levels, got layers={layers}")
        k = _DEFAULTS[task.name].kernel_size if kernel_size is None else check_positive_int(kernel_size, "kernel_size")
        levels = _tcn_levels(_steps(task), k) if levels is None else levels
        options = {"levels": levels, "kernel_size": k, "weight_norm": weight_norm}
    elif levels is not None or kernel_size is not None or weight_norm:
        raise ValueError(f"levels, kernel_size, weight_norm: only the TCN uses them, got model={model!r}")
    head: type[SequenceHead] = {
        "regression": SequenceRegressor, "classification": SequenceClassifier, "tagging": SequenceTagger
    }[task.kind]  # fmt: skip
    net = head(task.input_size, task.output_size, hidden, model, layers, dropout=dropout, **options)
    return nn.Sequential(_OneHot(task.input_size), net) if task.kind == "tagging" else net


def hidden_for_params(build: Callable[[int], nn.Module], params: int, largest: int = 4096) -> int:
    """The width ``h`` for which ``build(h)`` has the number of parameters closest to ``params``.

    ``build`` must give models whose parameter count grows with the width (a binary search finds
    the crossing point). Ties go to the smaller width.

    >>> hidden_for_params(lambda h: nn.Linear(10, h), 110)
    10
    """
    params = check_positive_int(params, "params")
    largest = check_positive_int(largest, "largest")
    low, high = 1, 1
    while count_parameters(build(high)) < params:  # double the width until it is enough
        if high >= largest:
            raise ValueError(f"params: even width {largest} gives fewer than {params} parameters")
        low, high = high + 1, min(2 * high, largest)
    while low < high:  # smallest width with at least `params` parameters
        middle = (low + high) // 2
        if count_parameters(build(middle)) >= params:
            high = middle
        else:
            low = middle + 1
    if low > 1 and params - count_parameters(build(low - 1)) <= count_parameters(build(low)) - params:
        return low - 1
    return low


# --------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------


@dataclass
class Config:
    """Everything that defines a run; ``None`` fields take the task's default (see :func:`run`)."""

    task: str
    model: str
    length: int | None = None
    hidden: int | None = None
    params: int | None = None
    layers: int = 1
    levels: int | None = None
    kernel_size: int | None = None
    weight_norm: bool = False
    dropout: float = 0.0
    epochs: int | None = None
    samples: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    optimizer: str | None = None
    clip: float | None = None
    seed: int = 0
    data: str | None = None

    def resolved(self) -> Config:
        """A copy with the task's defaults filled in and every value checked."""
        task = _check_choice(self.task, "task", TASKS)
        _check_choice(self.model, "model", MODELS)
        d = _DEFAULTS[task]
        if self.hidden is not None and self.params is not None:
            raise ValueError("hidden, params: give the width or a parameter budget, not both")
        out = Config(**asdict(self))
        out.hidden = None if self.hidden is None else check_positive_int(self.hidden, "hidden")
        out.params = d.params if self.hidden is None and self.params is None else self.params
        if out.params is not None:
            out.params = check_positive_int(out.params, "params")
        out.layers = check_positive_int(self.layers, "layers")
        out.weight_norm = check_bool(self.weight_norm, "weight_norm")
        out.dropout = check_number(self.dropout, "dropout", low=0, high=1, high_open=True)
        out.epochs = check_positive_int(d.epochs if self.epochs is None else self.epochs, "epochs")
        out.batch_size = check_positive_int(d.batch_size if self.batch_size is None else self.batch_size, "batch_size")
        out.lr = check_number(d.lr if self.lr is None else self.lr, "lr", low=0, low_open=True)
        out.optimizer = _check_choice(
            d.optimizer if self.optimizer is None else self.optimizer, "optimizer", _OPTIMIZERS
        )
        if self.clip is not None:
            out.clip = check_number(self.clip, "clip", low=0, low_open=True)
        out.seed = check_positive_int(self.seed, "seed", minimum=0)
        out.data = None if self.data is None else str(self.data)
        return out


# --------------------------------------------------------------------------------------------
# Processes: one, or many under torchrun
# --------------------------------------------------------------------------------------------


@dataclass
class _World:
    rank: int = 0
    size: int = 1
    backend: str | None = None
    owned: bool = False  # whether run() created the process group (and so destroys it)

    def all_sum(self, values: list[float], device: torch.device) -> list[float]:
        """Sum ``values`` over all processes (one collective call)."""
        if self.size == 1:
            return values
        t = torch.tensor(values, dtype=_sum_dtype(device), device=device)
        dist.all_reduce(t)
        return t.tolist()


def _join_world(device: str | torch.device | None) -> tuple[_World, torch.device]:
    """Read torchrun's environment; start the process group if there is more than one process."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size == 1:
        return _World(), pick_device(device)
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    wanted = pick_device(device)
    if wanted.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise ValueError(
                f"device: process {local_rank} of this machine wants its own GPU, but CUDA sees "
                f"{torch.cuda.device_count()}; start at most that many processes per machine "
                "(torchrun --nproc-per-node) or train on the CPU with --device cpu"
            )
        wanted = torch.device("cuda", local_rank)  # one process per GPU
        torch.cuda.set_device(wanted)
    backend = "nccl" if wanted.type == "cuda" else "gloo"
    owned = not dist.is_initialized()
    if owned:
        dist.init_process_group(backend)
    return _World(rank, size, backend, owned), wanted


# --------------------------------------------------------------------------------------------
# Training and evaluation
# --------------------------------------------------------------------------------------------


def _loss_and_hits(task: Task, out: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean loss of the batch, and the number of correct answers (0 for regression)."""
    if task.kind == "regression":
        return F.mse_loss(out, targets), torch.zeros((), device=out.device)
    if task.kind == "tagging":  # every step counts in the loss; accuracy on the 10 recalled digits
        loss = F.cross_entropy(out.flatten(0, 1), targets.flatten())
        hits = (out[:, -COPY_DIGITS:].argmax(-1) == targets[:, -COPY_DIGITS:]).sum()
        return loss, hits
    return F.cross_entropy(out, targets), (out.argmax(-1) == targets).sum()


def _sum_dtype(device: torch.device) -> torch.dtype:
    """Sums are kept on the device (no host synchronisation per batch); MPS has no float64."""
    return torch.float32 if device.type == "mps" else torch.float64


def _answers(task: Task, n: int) -> int:
    return n * COPY_DIGITS if task.kind == "tagging" else n


def _evaluate(
    model: nn.Module,
    task: Task,
    part: tuple[torch.Tensor, torch.Tensor],
    world: _World,
    device: torch.device,
    batch: int,
) -> dict[str, float]:
    """Loss and accuracy on ``part``; each process takes every ``size``-th sequence, then sums."""
    x, y = part[0][world.rank :: world.size], part[1][world.rank :: world.size]
    loss_sum = torch.zeros((), dtype=_sum_dtype(device), device=device)
    hits = torch.zeros((), dtype=_sum_dtype(device), device=device)
    model.eval()
    with torch.no_grad():
        for start in range(0, len(x), batch):
            xb, yb = x[start : start + batch].to(device), y[start : start + batch].to(device)
            loss, correct = _loss_and_hits(task, model(xb), yb)
            loss_sum += loss.to(loss_sum.dtype) * len(xb)
            hits += correct
    total_loss, total_hits = world.all_sum([float(loss_sum), float(hits)], device)
    n = len(part[0])
    result = {"loss": total_loss / n}
    if task.kind != "regression":
        result["accuracy"] = total_hits / _answers(task, n)
    return result


_SEED_STRIDE = 1_000_003  # a prime larger than any number of epochs


def _epoch_seed(seed: int, epoch: int, rank: int) -> int:
    """One seed per (run seed, epoch, rank): dropout masks differ between ranks and epochs."""
    return (seed * _SEED_STRIDE + epoch * 10_007 + rank) % (2**63)


def _versions() -> dict[str, str]:
    from seqnets import __version__

    return {"seqnets": __version__, "torch": torch.__version__, "python": platform.python_version()}


@dataclass
class _State:
    """What a checkpoint carries besides weights: enough to continue a run exactly."""

    epoch: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None
    best_val_loss: float = math.inf
    seconds: float = 0.0


def _results(
    cfg: Config, task: Task, hidden: int, parameters: int, world: _World, device: torch.device
) -> dict[str, Any]:
    return {
        "format": RESULTS_FORMAT,
        "status": "running",
        "task": cfg.task,
        "model": cfg.model,
        "length": task.length,
        "steps": _steps(task),
        "train_size": len(task.train[0]),
        "hidden": hidden,
        "parameters": parameters,
        "metric": task.metric,
        "baseline": task.baseline,
        "paper": {"length": PAPER[cfg.task]["length"], "value": PAPER[cfg.task][cfg.model]},
        "config": asdict(cfg),
        "history": [],
        "best_epoch": None,
        "test": None,
        "epochs_run": 0,
        "seconds": 0.0,
        "device": str(device),
        "world_size": world.size,
        "backend": world.backend,
        "versions": _versions(),
        "argv": [Path(sys.argv[0]).name, *sys.argv[1:]],  # the program without its folder
    }


def _write_json(path: Path, value: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(value, indent=2) + "\n")
    os.replace(tmp, path)


def _prepare_out(
    out: Path, cfg: Config, net: nn.Module, optimizer: torch.optim.Optimizer, resume: bool, device: torch.device
) -> tuple[_State, dict[str, torch.Tensor] | None]:
    """Refuse to overwrite a run; or, to resume one, load its weights, optimiser and state."""
    results, last = out / "results.json", out / "checkpoint.safetensors"
    if not resume:
        if results.exists() or last.exists():
            raise FileExistsError(
                f"out: {str(out)!r} already holds a run; resume it (--resume) or choose another folder"
            )
        out.mkdir(parents=True, exist_ok=True)
        return _State(), None
    if not last.is_file() or not results.is_file():
        raise FileNotFoundError(f"resume: {str(out)!r} has no checkpoint.safetensors and results.json to resume from")
    saved = json.loads(results.read_text())["config"]
    differ = [
        f"{key} {saved.get(key)!r} -> {value!r}"
        for key, value in asdict(cfg).items()
        if key != "epochs" and saved.get(key) != value
    ]
    if differ:
        raise ValueError(f"resume: {str(out)!r} holds a run with other settings: {'; '.join(differ)}")
    state = _State(**checkpoint.load(net, last, map_location=device, optimizer=optimizer))
    if state.best_epoch is None:
        return state, None
    best_file = out / "best.safetensors"
    if best_file.is_file() and checkpoint.load_metadata(best_file).get("epoch") == state.best_epoch:
        twin = copy.deepcopy(net)
        checkpoint.load(twin, best_file)
        return state, _snapshot(twin)
    if state.best_epoch == state.epoch:  # stopped between the two writes: the checkpoint is the best
        checkpoint.save(net, best_file, {"epoch": state.epoch})
        return state, _snapshot(net)
    raise ValueError(
        f"resume: {str(best_file)!r} does not hold the weights of epoch {state.best_epoch}, the best one "
        "according to checkpoint.safetensors"
    )


def run(
    config: Config | None = None,
    *,
    out: str | os.PathLike | None = None,
    resume: bool = False,
    device: str | torch.device | None = None,
    progress: bool = True,
    log: bool = False,
    **options: Any,
) -> dict[str, Any]:
    """Train one model on one task; return (and write to ``out``) the results.

    Parameters
    ----------
    config : Config, optional
        The run; or give its fields as keyword arguments: ``run(task="adding", model="tcn",
        length=200, params=10_000, epochs=5)``. Defaults (``None`` fields) come from the task:
        the paper's length and parameter budget, and the authors' epochs, batch size, learning
        rate, optimiser and kernel size. ``batch_size`` is the *global* batch: under ``torchrun``
        each of ``W`` processes takes ``batch_size / W`` sequences of it.
    out : str or PathLike, optional
        Folder for ``results.json``, ``checkpoint.safetensors`` and ``best.safetensors``
        (created if needed). A folder that already holds a run is refused unless ``resume``.
    resume : bool
        Continue the run in ``out`` from its last finished epoch, to ``epochs`` (which may be
        larger than before; every other setting must be the same). Every process reads the
        checkpoint, so a run across machines needs ``out`` on a shared file system.
    device : str or torch.device, optional
        Default: CUDA if available, else the CPU (see :func:`seqnets.utils.pick_device`). Under
        torchrun on CUDA, process ``LOCAL_RANK`` uses GPU ``LOCAL_RANK``.
    progress : bool
        A progress bar over the batches of each epoch (process 0 only).
    log : bool
        Print one results line per epoch (process 0 only), as the command line does.

    Returns
    -------
    dict
        The contents of ``results.json``: ``task``, ``model``, ``length``, ``train_size``, ``parameters``,
        ``metric``, ``baseline``, ``paper``, ``config``, ``history`` (one dict per epoch:
        ``epoch``, ``train_loss``, ``val_loss``, ``val_accuracy`` for classification tasks,
        ``seconds``), ``best_epoch``, ``test`` (``loss``, and ``accuracy`` for classification
        tasks, of the best epoch's weights), ``status``, ``seconds``, ``device``, ``world_size``,
        ``backend``, ``versions``, ``argv`` (the command line, its program named without its folder).
    """
    if config is None:
        config = Config(**options)
    elif options:
        raise TypeError(f"run: give a Config or keyword options, not both (got {sorted(options)})")
    if not isinstance(config, Config):
        raise TypeError(f"config: expected a seqnets.bench.Config, got {type(config).__name__}")
    cfg = config.resolved()
    if resume and out is None:
        raise ValueError("resume: needs out, the folder of the run to continue")
    world, dev = _join_world(device)
    try:
        return _run(cfg, None if out is None else Path(out), resume, dev, world, progress, log)
    finally:
        if world.owned:
            dist.destroy_process_group()


def _line(row: dict[str, float], epochs: int) -> str:
    """One results line per epoch, as the command line prints it."""
    values = "  ".join(f"{k} {v:.5g}" for k, v in row.items() if k not in ("epoch", "seconds"))
    return f"epoch {int(row['epoch'])}/{epochs}  {values}  ({row['seconds']:.1f} s)"


def _run(
    cfg: Config, out: Path | None, resume: bool, device: torch.device, world: _World, progress: bool, log: bool
) -> dict[str, Any]:
    assert cfg.epochs is not None and cfg.batch_size is not None and cfg.lr is not None and cfg.optimizer is not None
    if cfg.batch_size % world.size:
        raise ValueError(
            f"batch_size: the global batch {cfg.batch_size} must divide evenly among {world.size} processes"
        )
    task = load_task(cfg.task, cfg.length, cfg.samples, cfg.data)
    if len(task.train[0]) < cfg.batch_size:
        raise ValueError(f"batch_size: {cfg.batch_size} is larger than the training set ({len(task.train[0])})")

    def build(hidden: int) -> nn.Module:
        return build_model(task, cfg.model, hidden, layers=cfg.layers, levels=cfg.levels,
                           kernel_size=cfg.kernel_size, weight_norm=cfg.weight_norm, dropout=cfg.dropout)  # fmt: skip

    hidden = cfg.hidden if cfg.hidden is not None else hidden_for_params(build, cfg.params or 1)
    torch.manual_seed(cfg.seed)  # the same initial weights in every process
    net = build(hidden).to(device)
    optimizer = _make_optimizer(cfg.optimizer, list(net.parameters()), cfg.lr, weight_decay=0.0)
    state, best = _State(), None
    if out is not None:
        state, best = _prepare_out(out, cfg, net, optimizer, resume, device)
    writer = out is not None and world.rank == 0
    record = _results(cfg, task, hidden, count_parameters(net), world, device)
    model: nn.Module = net
    if world.size > 1:
        model = nn.parallel.DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)

    per_rank = cfg.batch_size // world.size
    train_set = TensorDataset(*task.train)
    # The same sampler with one process or many: each epoch a seeded shuffle, dealt out to the
    # processes in turn, so that the global batches do not depend on the number of processes.
    # The sampler shuffles with the seed ``seed + epoch``: spread the run seeds far apart so that
    # runs with seeds s and s + 1 do not share the orders of their epochs.
    sampler: DistributedSampler = DistributedSampler(train_set, num_replicas=world.size, rank=world.rank, shuffle=True,
                                                     seed=cfg.seed * _SEED_STRIDE, drop_last=True)  # fmt: skip
    loader = DataLoader(train_set, batch_size=per_rank, sampler=sampler, drop_last=True)
    talk = world.rank == 0
    status = "finished"

    def save_record() -> None:
        record.update(history=state.history, best_epoch=state.best_epoch, epochs_run=state.epoch,
                      seconds=state.seconds, status=status)  # fmt: skip
        if writer:
            assert out is not None
            _write_json(out / "results.json", record)

    try:
        for epoch in range(state.epoch + 1, cfg.epochs + 1):
            started = time.perf_counter()
            sampler.set_epoch(epoch)
            torch.manual_seed(_epoch_seed(cfg.seed, epoch, world.rank))  # dropout masks
            model.train()
            loss_sum = torch.zeros((), dtype=_sum_dtype(device), device=device)
            bar = tqdm(loader, desc=f"{cfg.model} {cfg.task}, epoch {epoch}/{cfg.epochs}", unit="batch",
                       leave=False, disable=not (progress and talk))  # fmt: skip
            for xb, yb in bar:
                xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
                loss, _ = _loss_and_hits(task, model(xb), yb)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()  # under DDP the gradients are averaged over the processes here
                if cfg.clip is not None:
                    nn.utils.clip_grad_norm_(net.parameters(), cfg.clip)
                optimizer.step()
                loss_sum += loss.detach().to(loss_sum.dtype) * len(xb)
            total, count = world.all_sum([float(loss_sum), float(len(sampler) // per_rank * per_rank)], device)
            val = _evaluate(net, task, task.val, world, device, 4 * per_rank)
            row = {"epoch": epoch, "train_loss": total / count, "val_loss": val["loss"]}
            if "accuracy" in val:
                row["val_accuracy"] = val["accuracy"]
            row["seconds"] = time.perf_counter() - started
            state.history.append(row)
            state.epoch, state.seconds = epoch, state.seconds + row["seconds"]
            if log and talk:
                tqdm.write(_line(row, cfg.epochs))
            if not (math.isfinite(row["train_loss"]) and math.isfinite(row["val_loss"])):
                status = "diverged"  # the checkpoint of the last finite epoch stays as it is
                break
            improved = row["val_loss"] < state.best_val_loss
            if improved:
                state.best_epoch, state.best_val_loss = epoch, row["val_loss"]
                best = _snapshot(net)
            if writer:
                assert out is not None
                # The checkpoint first: if the run dies before best.safetensors is written, the
                # checkpoint's own weights are the best ones, and resuming recovers them.
                checkpoint.save(net, out / "checkpoint.safetensors", asdict(state), optimizer=optimizer)
                if improved:
                    checkpoint.save(net, out / "best.safetensors", {"epoch": epoch})
            status = "running" if epoch < cfg.epochs else "finished"
            save_record()
    except KeyboardInterrupt:
        status = "interrupted"  # checkpoint.safetensors holds the last finished epoch
        save_record()
        raise
    if best is not None:  # the test metric is that of the best epoch's weights
        final = _snapshot(net)
        net.load_state_dict(best)
        record["test"] = _evaluate(net, task, task.test, world, device, 4 * per_rank)
        net.load_state_dict(final)
    save_record()
    return record


def load_run(out: str | os.PathLike, which: str = "final") -> tuple[dict[str, Any], nn.Module]:
    """Read a run that :func:`run` wrote: its results and its model, on the CPU.

    Parameters
    ----------
    out : str or PathLike
        The run's folder.
    which : {"final", "best"}
        The weights after the last finished epoch, or those of the best validation epoch.

    Returns
    -------
    results : dict
        The contents of ``results.json``.
    model : nn.Module
        Built as the run built it, holding the chosen weights, in eval mode.
    """
    which = _check_choice(which, "which", ("final", "best"))
    folder = Path(out)
    path = folder / "results.json"
    if not path.is_file():
        raise FileNotFoundError(f"out: {str(folder)!r} has no results.json; is it the folder of a seqnets bench run?")
    results = json.loads(path.read_text())
    if not isinstance(results, dict) or results.get("format") != RESULTS_FORMAT:
        raise ValueError(f"{str(path)!r} is not a {RESULTS_FORMAT} results file")
    cfg = Config(**results["config"])
    empty = (torch.empty(0), torch.empty(0))
    shell = _task(cfg.task, results["length"], [empty, empty, empty], results["baseline"])
    model = build_model(shell, cfg.model, results["hidden"], layers=cfg.layers, levels=cfg.levels,
                        kernel_size=cfg.kernel_size, weight_norm=cfg.weight_norm, dropout=cfg.dropout)  # fmt: skip
    checkpoint.load(model, folder / ("checkpoint.safetensors" if which == "final" else "best.safetensors"))
    return results, model.eval()
