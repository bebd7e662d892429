"""Small utilities every chapter uses: seeds, devices, parameter counts, shape checks, timing.

The ``check_*`` helpers are how the rest of the package validates its inputs: each raises a
``TypeError`` or ``ValueError`` that names the argument, says what was expected and what came.
"""

from __future__ import annotations

import math
import numbers
import os
import random
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "seed_everything",
    "pick_device",
    "count_parameters",
    "check_shape",
    "check_tensor",
    "check_channels",
    "check_module",
    "check_positive_int",
    "check_number",
    "training_mode",
    "check_bool",
    "Timer",
]


def check_positive_int(value: Any, name: str, *, minimum: int = 1) -> int:
    """Return ``value`` as an ``int`` if it is an integer ``>= minimum``, else raise.

    ``bool`` is refused even though it is a subclass of ``int``: ``epochs=True`` is a bug.
    """
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer >= {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value}")
    return int(value)


def check_bool(value: Any, name: str) -> bool:
    """Return ``value`` if it is a ``bool``, else raise: ``flip=1`` or ``bias="no"`` are bugs."""
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected a bool, got {type(value).__name__} {value!r}")
    return value


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is None and high is None:
        return "a finite number"
    if high is None:
        return f"a number {'>' if low_open else '>='} {low:g}"
    if low is None:
        return f"a number {'<' if high_open else '<='} {high:g}"
    return f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def check_number(
    value: Any,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a finite ``float`` in the interval from ``low`` to ``high``, else raise.

    The package's one validator for real-valued arguments: a learning rate is
    ``check_number(lr, "lr", low=0, low_open=True)``, a dropout rate
    ``check_number(p, "dropout", low=0, high=1, high_open=True)``. ``None`` bounds are absent;
    ``*_open`` excludes the bound. ``bool`` is refused (``lr=True`` is a bug).

    Raises
    ------
    TypeError
        ``value`` is not a real number (Python or NumPy).
    ValueError
        ``value`` is NaN, infinite or outside the interval.

    Examples
    --------
    >>> check_number(0.1, "dropout", low=0, high=1, high_open=True)
    0.1
    >>> check_number(1, "dropout", low=0, high=1, high_open=True)
    Traceback (most recent call last):
    ...
    ValueError: dropout: expected a number in [0, 1), got 1
    """
    want = _interval(low, high, low_open, high_open)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected {want}, got {type(value).__name__} {value!r}")
    number = float(value)
    below = low is not None and (number <= low if low_open else number < low)
    above = high is not None and (number >= high if high_open else number > high)
    if not math.isfinite(number) or below or above:
        raise ValueError(f"{name}: expected {want}, got {value}")
    return number


def check_tensor(
    x: Any,
    name: str,
    ndim: int | Sequence[int] | None = None,
    floating: bool = False,
) -> torch.Tensor:
    """Check that ``x`` is a tensor with one of the allowed numbers of dimensions.

    Parameters
    ----------
    x : torch.Tensor
    name : str
        Argument name used in the error message.
    ndim : int or sequence of int, optional
        Allowed ``x.dim()`` values.
    floating : bool
        Require a floating-point dtype.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if x.dim() not in allowed:
            want = " or ".join(f"{d}-D" for d in allowed)
            raise ValueError(f"{name}: expected a {want} tensor, got shape {tuple(x.shape)}")
    if floating and not x.is_floating_point():
        raise TypeError(f"{name}: expected a floating-point tensor, got dtype {x.dtype}")
    return x


def check_module(model: Any, name: str = "model") -> nn.Module:
    """Return ``model`` if it is a ``torch.nn.Module``, else raise a ``TypeError`` naming it."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"{name}: expected a torch.nn.Module, got {type(model).__name__}")
    return model


def check_channels(x: Any, name: str, ndim: int, channels: int, layout: str) -> torch.Tensor:
    """Check that ``x`` is a floating ``ndim``-D tensor with ``channels`` channels in dimension 1.

    ``layout`` names the dimensions for the error message, e.g. ``"(batch, channels, time)"``.
    """
    check_tensor(x, name, ndim=ndim, floating=True)
    if x.shape[1] != channels:
        raise ValueError(f"{name}: expected {channels} channels {layout}, got shape {tuple(x.shape)}")
    return x


def check_shape(x: Any, shape: Sequence[int | None], name: str = "x") -> torch.Tensor:
    """Check that tensor ``x`` has ``shape``, a sequence of sizes where ``None`` matches any size.

    Returns ``x`` so the check can wrap an expression: ``h = check_shape(cell(x), (B, H), "h")``.
    Raises ``ValueError`` naming ``name`` when the shape differs.

    Examples
    --------
    >>> check_shape(torch.zeros(4, 10, 3), (4, None, 3), "x").shape
    torch.Size([4, 10, 3])
    """
    check_tensor(x, name)
    if not isinstance(shape, Sequence) or not all(
        s is None or (isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 0) for s in shape
    ):
        raise TypeError(f"shape: expected a sequence of sizes (non-negative ints or None), got {shape!r}")
    shape = tuple(shape)
    got = tuple(x.shape)
    if len(got) != len(shape) or any(s is not None and s != g for s, g in zip(shape, got, strict=True)):
        want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
        raise ValueError(f"{name}: expected shape {want}, got {got}")
    return x


def seed_everything(seed: int) -> None:
    """Seed the global generators of Python, NumPy and PyTorch (CPU and CUDA) with ``seed``.

    With the same seed, library versions, machine and thread count, a CPU run then repeats exactly.
    Generators made afterwards (``np.random.default_rng()``, ``torch.Generator()``) are not seeded,
    and GPU kernels may still differ from run to run. ``seed`` must fit NumPy's range,
    ``0 <= seed < 2**32``; it is checked before any generator is touched.
    """
    seed = check_positive_int(seed, "seed", minimum=0)
    if seed >= 2**32:
        raise ValueError(f"seed: expected an int in [0, 2**32) (NumPy's range), got {seed}")
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (the legacy global generator is what old code draws from)
    torch.manual_seed(seed)  # also seeds CUDA generators
    os.environ["PYTHONHASHSEED"] = str(seed)  # for subprocesses; this interpreter's is fixed at start


def pick_device(prefer: str | torch.device | None = None) -> torch.device:
    """Return the device to compute on: ``prefer`` if given, else CUDA, else MPS, else CPU.

    Raises ``ValueError`` if ``prefer`` names a device type this machine does not have.
    """
    if prefer is not None:
        device = torch.device(prefer)
        available = {
            "cpu": True,
            "cuda": torch.cuda.is_available(),
            "mps": getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available(),
        }
        if device.type == "cuda" and device.index is not None and available["cuda"]:
            available["cuda"] = device.index < torch.cuda.device_count()
        if not available.get(device.type, False):
            raise ValueError(f"prefer: device {str(device)!r} is not available on this machine")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of scalar parameters in ``model`` (only those with ``requires_grad`` by default)."""
    check_module(model)
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@contextmanager
def training_mode(model: nn.Module, training: bool) -> Iterator[nn.Module]:
    """Put ``model`` in train (``True``) or eval (``False``) mode; restore its modes on exit.

    The mode of every submodule is restored, so a layer deliberately left in eval mode inside a
    model in train mode (a frozen batch norm, say) is in eval mode again afterwards.

    >>> model = nn.Dropout(0.5)
    >>> with training_mode(model, False):
    ...     model.training
    False
    >>> model.training
    True
    """
    modes = [(m, m.training) for m in model.modules()]
    model.train(training)
    try:
        yield model
    finally:
        for module, mode in modes:
            module.training = mode


class Timer:
    """Wall-clock timer used as a context manager; ``elapsed`` is in seconds.

    >>> with Timer() as t:
    ...     _ = sum(range(1000))
    >>> t.elapsed >= 0
    True
    """

    def __init__(self) -> None:
        self.start: float | None = None
        self.elapsed: float = 0.0

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self.start is not None
        self.elapsed = time.perf_counter() - self.start

    def __repr__(self) -> str:
        return f"Timer(elapsed={self.elapsed:.4f} s)"
