"""Measuring speed: the fastest of repeated runs, and a profile of one training step.

:func:`min_time` times a function the way the book times everything: a few untimed warm-up
calls (which pay for lazy initialisation, memory allocation and caches), then several timed
repeats, of which it returns the *minimum*. Other processes, interrupts and the garbage
collector can only add time to a run, never remove it, so the fastest run is the one closest to
the cost of the work itself; the mean and the median mix that cost with the machine's noise.
Compare two pieces of code by the ratio of their minima, measured in the same cell.

:func:`profile_step` runs forward pass, backward pass and optimizer step under
:mod:`torch.profiler` and returns a :class:`StepProfile`: where the time of a training step
goes, operator by operator and phase by phase, as rows a notebook can print and assert on.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.profiler import ProfilerActivity, profile, record_function

from seqnets.train import _forward, _loss_value
from seqnets.utils import check_module, check_number, check_positive_int, training_mode

__all__ = ["min_time", "ProfileRow", "StepProfile", "profile_step"]


def min_time(
    fn: Callable[[], Any],
    *,
    repeats: int = 5,
    warmup: int = 1,
    number: int = 1,
    budget: float = 0.0,
    timer: Callable[[], float] = time.perf_counter,
) -> float:
    """Seconds per call of ``fn()``: the minimum over repeated timings, after untimed warm-up calls.

    Parameters
    ----------
    fn : callable
        Called without arguments; its result is ignored.
    repeats : int
        Timed repeats (at least 1); the result is the fastest.
    warmup : int
        Untimed calls before the first timed one (0 for none).
    number : int
        Calls per timed repeat; the repeat's time is divided by it. Raise it for calls so short
        (microseconds) that the clock's resolution and overhead matter.
    budget : float
        Keep repeating, beyond ``repeats``, until the timed repeats add up to at least this many
        seconds: a short call then gets many chances to run undisturbed.
    timer : callable
        The clock, ``() -> seconds``; :func:`time.perf_counter` by default.

    Returns
    -------
    float
        The smallest time per call, in seconds.

    Notes
    -----
    Work that runs asynchronously is not waited for: on a GPU, end ``fn`` with
    ``torch.cuda.synchronize()``.

    Examples
    --------
    >>> x = torch.randn(256, 256)
    >>> min_time(lambda: x @ x, repeats=3) > 0
    True
    """
    if not callable(fn):
        raise TypeError(f"fn: expected a callable taking no arguments, got {type(fn).__name__}")
    repeats = check_positive_int(repeats, "repeats")
    warmup = check_positive_int(warmup, "warmup", minimum=0)
    number = check_positive_int(number, "number")
    budget = check_number(budget, "budget", low=0)
    if not callable(timer):
        raise TypeError(f"timer: expected a callable returning seconds, got {type(timer).__name__}")
    for _ in range(warmup):
        fn()
    times: list[float] = []
    while len(times) < repeats or sum(times) < budget:
        start = timer()
        for _ in range(number):
            fn()
        times.append(timer() - start)
    return min(times) / number


class ProfileRow(NamedTuple):
    """One operator of a :class:`StepProfile`: its name, self CPU time and calls, per step."""

    name: str
    self_ms: float
    calls: float


@dataclass(frozen=True)
class StepProfile:
    """Where the time of one training step goes, averaged over the profiled steps.

    Attributes
    ----------
    rows : list of ProfileRow
        The ``row_limit`` operators with the largest *self* CPU time (time inside the operator
        but not inside the operators it calls), largest first, in milliseconds and calls per
        step. Only operators: the phases below and PyTorch's own annotations are left out.
    operator_ms : float
        Self CPU time of *all* operators per step, shown or not: the time spent inside PyTorch's
        kernels and their dispatch. ``sum(r.self_ms for r in rows) <= operator_ms``.
    phases : dict of str to float
        Milliseconds per step inside ``"forward"`` (model and loss), ``"backward"`` and, with an
        optimizer, ``"optimizer step"``, each including the operators it runs.
    wall_ms : float
        Wall-clock milliseconds per step, profiler overhead included. ``wall_ms - operator_ms``
        is time outside operators: Python, module calls, autograd bookkeeping and the profiler.
    steps : int
        Number of profiled steps averaged over.
    """

    rows: list[ProfileRow]
    operator_ms: float
    phases: dict[str, float]
    wall_ms: float
    steps: int

    def __str__(self) -> str:
        width = max([len("operator"), *(len(r.name) for r in self.rows)])
        lines = [f"{'operator':<{width}}  self ms  share  calls", "-" * (width + 22)]
        for r in self.rows:
            share = r.self_ms / self.operator_ms if self.operator_ms > 0 else 0.0
            lines.append(f"{r.name:<{width}}  {r.self_ms:7.3f}  {share:5.1%}  {r.calls:5g}")
        lines.append("-" * (width + 22))
        lines.append(f"{'all operators':<{width}}  {self.operator_ms:7.3f}")
        for name, ms in self.phases.items():
            lines.append(f"{name + ' (phase)':<{width}}  {ms:7.3f}")
        lines.append(f"{'wall clock':<{width}}  {self.wall_ms:7.3f}")
        lines.append(f"(milliseconds and calls per step, mean of {self.steps} profiled steps)")
        return "\n".join(lines)


_PHASES = ("forward", "backward", "optimizer step")


def profile_step(
    model: nn.Module,
    inputs: torch.Tensor | tuple[torch.Tensor, ...],
    targets: Any,
    loss_fn: Callable[[torch.Tensor, Any], torch.Tensor],
    *,
    optimizer: torch.optim.Optimizer | None = None,
    steps: int = 3,
    warmup: int = 1,
    row_limit: int = 10,
) -> StepProfile:
    """Profile training steps of ``model`` on one batch with :mod:`torch.profiler` (CPU).

    Each step zeroes the gradients, computes ``loss = loss_fn(model(inputs), targets)``
    ("forward"), calls ``loss.backward()`` ("backward") and, if ``optimizer`` is given, takes
    ``optimizer.step()`` ("optimizer step"). ``warmup`` steps run first without the profiler, so
    that one-time costs (allocating the optimizer's state, say) do not count; ``steps`` more are
    profiled and averaged.

    Parameters
    ----------
    model : nn.Module
        Run in train mode (its modes are restored afterwards); must return a single tensor.
    inputs : torch.Tensor or tuple of tensors
        One batch; a tuple is passed as ``model(*inputs)``.
    targets
        Passed to ``loss_fn`` as its second argument.
    loss_fn : callable
        ``loss_fn(outputs, targets) -> scalar tensor``.
    optimizer : torch.optim.Optimizer, optional
        Stepped after every backward pass, so the model's weights change (``warmup + steps``
        updates). Without it only the forward and backward passes are profiled and the weights
        are left as they were (their gradients are not: they hold the last step's).
    steps : int
        Profiled steps (at least 1).
    warmup : int
        Unprofiled steps before them (0 for none).
    row_limit : int
        Operators listed in :attr:`StepProfile.rows`.

    Returns
    -------
    StepProfile
        Printable as a table; see its attributes.

    Notes
    -----
    The profiler's C++ library may log a line to stderr each time a profile starts and stops
    (in a notebook, into the cell's output); setting the environment variable
    ``KINETO_LOG_LEVEL=6`` before the first profile silences it.

    Examples
    --------
    >>> model = nn.Linear(4, 2)
    >>> report = profile_step(model, torch.randn(8, 4), torch.randn(8, 2), nn.MSELoss())
    >>> [r.calls for r in report.rows if r.name == "aten::addmm"]
    [1.0]
    """
    model = check_module(model)
    if not callable(loss_fn):
        got = type(loss_fn).__name__
        raise TypeError(f"loss_fn: expected a callable (outputs, targets) -> loss, got {got}")
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        got = type(optimizer).__name__
        raise TypeError(f"optimizer: expected a torch.optim.Optimizer or None, got {got}")
    parts = inputs if isinstance(inputs, (tuple, list)) else (inputs,)
    for i, part in enumerate(parts):
        if not isinstance(part, torch.Tensor):
            label = f"inputs[{i}]" if isinstance(inputs, (tuple, list)) else "inputs"
            raise TypeError(f"{label}: expected a torch.Tensor, got {type(part).__name__}")
    steps = check_positive_int(steps, "steps")
    warmup = check_positive_int(warmup, "warmup", minimum=0)
    row_limit = check_positive_int(row_limit, "row_limit")

    def step() -> None:
        model.zero_grad(set_to_none=True)
        with record_function(_PHASES[0]):
            loss = _loss_value(loss_fn(_forward(model, inputs), targets))
        with record_function(_PHASES[1]):
            loss.backward()
        if optimizer is not None:
            with record_function(_PHASES[2]):
                optimizer.step()

    with training_mode(model, True):
        for _ in range(warmup):
            step()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            start = time.perf_counter()
            for _ in range(steps):
                step()
            wall = time.perf_counter() - start
    events = prof.key_averages()
    operators = sorted(
        (e for e in events if not e.is_user_annotation),
        key=lambda e: e.self_cpu_time_total,
        reverse=True,
    )
    per_step = 1e3 * steps  # the profiler counts microseconds; we report milliseconds per step
    rows = [ProfileRow(e.key, e.self_cpu_time_total / per_step, e.count / steps) for e in operators]
    phases = {e.key: e.cpu_time_total / per_step for e in events if e.key in _PHASES}
    return StepProfile(
        rows=rows[:row_limit],
        operator_ms=sum(row.self_ms for row in rows),
        phases={name: phases[name] for name in _PHASES if name in phases},
        wall_ms=1e3 * wall / steps,
        steps=steps,
    )
