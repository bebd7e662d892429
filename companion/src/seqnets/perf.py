"""Measuring speed: the fastest of repeated runs, and a profile of one training step.

:func:`min_time` times a function the way the book times everything: a few untimed warm-up
calls (which pay for lazy initialisation, memory allocation and caches), then several timed
repeats, of which it returns the *minimum*. Other processes, interrupts and the garbage
collector can only add time to a run, never remove it, so the fastest run is the one closest to
the cost of the work itself; the mean and the median mix that cost with the machine's noise.
It is a best case (warm caches, the highest clock rate the CPU reached), so compare two pieces
of code by the ratio of their minima, measured in the same cell.

:func:`profile_step` runs forward pass, backward pass and optimizer step under
:mod:`torch.profiler` and returns a :class:`StepProfile`: where the time of a training step
goes, operator by operator and phase by phase, as rows a notebook can print and assert on,
with the fastest profiled and unprofiled steps to compare. It profiles CPU models only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.profiler import ProfilerActivity, RecordScope, profile, record_function

from seqnets.train import _loss_value
from seqnets.utils import (
    check_bool,
    check_module,
    check_number,
    check_positive_int,
    training_mode,
)

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
        seconds: a short call then gets many chances to run undisturbed. A repeat that takes no
        time on ``timer`` (too short for its resolution) ends the repeating after ``repeats``,
        since no later one can be faster; raise ``number`` then.
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
    best, spent, done = float("inf"), 0.0, 0
    while done < repeats or (spent < budget and best > 0):
        start = timer()
        for _ in range(number):
            fn()
        elapsed = timer() - start
        best, spent, done = min(best, elapsed), spent + elapsed, done + 1
    return best / number


class ProfileRow(NamedTuple):
    """One operator of a :class:`StepProfile`: its name, self CPU time and calls, per step.

    With ``record_shapes=True``, ``shapes`` holds the shapes of the operator's tensor arguments
    (``[]`` for a non-tensor argument), and each distinct combination of shapes is a row of its
    own; otherwise it is ``None``.
    """

    name: str
    self_ms: float
    calls: float
    shapes: list[list[int]] | None = None


@dataclass(frozen=True)
class StepProfile:
    """Where the time of one training step goes: operators averaged, steps and phases fastest.

    Attributes
    ----------
    rows : list of ProfileRow
        The ``row_limit`` operators with the largest *self* CPU time (time inside the operator
        but not inside the operators it calls), largest first, in milliseconds and calls per
        step. Only operators (``aten::mm``, ``quantized::linear_dynamic``, ...): the phases
        below, annotations such as ``Optimizer.step#Adam.step`` and the autograd engine's own
        events (``autograd::engine::evaluate_function: ...`` and backward nodes such as
        ``AddmmBackward0``) are left out; their self time is the engine's bookkeeping.
    operator_ms : float
        Self CPU time of *all* operators per step, shown or not: the time spent inside PyTorch's
        kernels and their dispatch. ``sum(r.self_ms for r in rows) <= operator_ms``.
    phases : dict[str, float]
        Milliseconds of the fastest ``"forward"`` (model and loss), ``"backward"`` and, with an
        optimizer, ``"optimizer step"`` among the profiled steps, each including the operators
        it runs.
    wall_ms : float
        Wall-clock milliseconds of the fastest *profiled* step. The profiler adds a cost to
        every operator it records, so a step with many small operators is slower under it.
    step_ms : float
        Wall-clock milliseconds of the fastest *unprofiled* step: the cost to compare with, and
        the denominator for shares of the real step (``rows``, ``operator_ms`` and ``phases``
        are measured under the profiler and include some of its cost).
    steps : int
        Number of profiled steps.

    ``rows`` and ``operator_ms`` are means over the profiled steps (the profiler sums each
    operator's time over all of them); ``phases``, ``wall_ms`` and ``step_ms`` are minima, so
    compare them with each other, each the fastest of its kind.
    """

    rows: list[ProfileRow]
    operator_ms: float
    phases: dict[str, float]
    wall_ms: float
    step_ms: float
    steps: int

    def table(self, limit: int | None = None) -> str:
        """The profile as text: the first ``limit`` rows (all by default), then the totals."""
        if limit is not None:
            limit = check_positive_int(limit, "limit", minimum=0)
        rows = self.rows[:limit]
        width = max([len("unprofiled step (fastest)"), *(len(r.name) for r in rows)])
        shapes = any(r.shapes is not None for r in rows)
        header = f"{'operator':<{width}}  self ms  share  calls" + ("  input shapes" if shapes else "")
        lines = [header, "-" * len(header)]
        for r in rows:
            share = r.self_ms / self.operator_ms if self.operator_ms > 0 else 0.0
            line = f"{r.name:<{width}}  {r.self_ms:7.3f}  {share:5.1%}  {r.calls:5g}"
            lines.append(line + (f"  {r.shapes}" if shapes else ""))
        lines.append("-" * len(header))
        lines.append(f"{'all operators':<{width}}  {self.operator_ms:7.3f}")
        for name, ms in self.phases.items():
            lines.append(f"{name + ' (phase)':<{width}}  {ms:7.3f}")
        lines.append(f"{'profiled step (fastest)':<{width}}  {self.wall_ms:7.3f}")
        lines.append(f"{'unprofiled step (fastest)':<{width}}  {self.step_ms:7.3f}")
        lines.append(f"(ms; operators: mean per step of {self.steps} profiled steps; phases, steps: fastest)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


_PHASES = ("forward", "backward", "optimizer step")


def _is_operator(event: Any) -> bool:
    """Whether a profiler event is an operator, not an annotation or the autograd engine's."""
    return (
        event.scope == RecordScope.FUNCTION.value
        and not event.is_user_annotation
        and not event.key.startswith("autograd::")
    )


def _check_on_cpu(tensors: Iterable[tuple[str, torch.Tensor]], label: str) -> None:
    for name, tensor in tensors:
        if tensor.device.type != "cpu":
            raise ValueError(
                f"{label}: expected tensors on the CPU (profile_step measures CPU time only), "
                f"got {name} on {tensor.device}"
            )


def profile_step(
    model: nn.Module,
    inputs: torch.Tensor | tuple[torch.Tensor, ...],
    targets: Any,
    loss_fn: Callable[[torch.Tensor, Any], torch.Tensor],
    *,
    optimizer: torch.optim.Optimizer | None = None,
    steps: int = 3,
    warmup: int = 1,
    repeats: int = 3,
    row_limit: int = 10,
    record_shapes: bool = False,
) -> StepProfile:
    """Profile training steps of ``model`` on one batch with :mod:`torch.profiler` (CPU).

    Each step zeroes the gradients, computes ``loss = loss_fn(model(inputs), targets)``
    ("forward"), calls ``loss.backward()`` ("backward") and, if ``optimizer`` is given, takes
    ``optimizer.step()`` ("optimizer step"). First ``warmup`` steps run untimed, so that
    one-time costs (allocating the optimizer's state, say) do not count; then ``repeats`` steps
    run without the profiler and the fastest gives :attr:`StepProfile.step_ms`; then ``steps``
    steps run under the profiler: the operators' times are averaged over them, and the fastest
    step and the fastest of each phase are kept.

    Parameters
    ----------
    model : nn.Module
        On the CPU; run in train mode (its modes are restored afterwards); must return a
        single tensor.
    inputs : torch.Tensor or tuple of tensors
        One batch, on the CPU; a (non-empty) tuple is passed as ``model(*inputs)``.
    targets
        Passed to ``loss_fn`` as its second argument.
    loss_fn : callable
        ``loss_fn(outputs, targets) -> scalar tensor``.
    optimizer : torch.optim.Optimizer, optional
        Stepped after every backward pass, so the model's weights change
        (``warmup + repeats + steps`` updates). Without it only the forward and backward
        passes run and the weights are left as they were (their gradients are not: they hold
        the last step's).
    steps : int
        Profiled steps (at least 1).
    warmup : int
        Untimed, unprofiled steps before all others (0 for none).
    repeats : int
        Timed, unprofiled steps (at least 1).
    row_limit : int
        Operators listed in :attr:`StepProfile.rows`.
    record_shapes : bool
        Record the shapes of the operators' tensor arguments, with one row per operator and
        combination of shapes (the profiler then costs more).

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
    if isinstance(inputs, (tuple, list)):
        if not inputs:
            raise ValueError(f"inputs: expected a tensor or a non-empty tuple of tensors, got {inputs!r}")
        named_inputs = [(f"inputs[{i}]", part) for i, part in enumerate(inputs)]
    else:
        named_inputs = [("inputs", inputs)]
    for label, part in named_inputs:
        if not isinstance(part, torch.Tensor):
            raise TypeError(f"{label}: expected a torch.Tensor, got {type(part).__name__}")
    _check_on_cpu([*model.named_parameters(), *model.named_buffers()], "model")
    _check_on_cpu(named_inputs, "inputs")
    steps = check_positive_int(steps, "steps")
    warmup = check_positive_int(warmup, "warmup", minimum=0)
    repeats = check_positive_int(repeats, "repeats")
    row_limit = check_positive_int(row_limit, "row_limit")
    record_shapes = check_bool(record_shapes, "record_shapes")

    def step() -> None:
        model.zero_grad(set_to_none=True)
        with record_function(_PHASES[0]):
            outputs = model(*inputs) if isinstance(inputs, (tuple, list)) else model(inputs)
            if not isinstance(outputs, torch.Tensor):
                raise TypeError(
                    "model: profile_step expects the model to return a single tensor, got "
                    f"{type(outputs).__name__}; wrap it in a module whose forward returns only "
                    "the outputs (for nn.LSTM/nn.GRU: `out, _ = self.rnn(x)`)"
                )
            loss = _loss_value(loss_fn(outputs, targets))
        with record_function(_PHASES[1]):
            loss.backward()
        if optimizer is not None:
            with record_function(_PHASES[2]):
                optimizer.step()

    with training_mode(model, True):
        step_s = min_time(step, repeats=repeats, warmup=warmup)
        with profile(activities=[ProfilerActivity.CPU], record_shapes=record_shapes) as prof:
            profiled_s = min_time(step, repeats=steps, warmup=0)
    events = prof.key_averages(group_by_input_shape=record_shapes)
    operators = sorted(filter(_is_operator, events), key=lambda e: e.self_cpu_time_total, reverse=True)
    per_step = 1e3 * steps  # the profiler counts microseconds; we report milliseconds per step
    rows = [
        ProfileRow(
            e.key,
            e.self_cpu_time_total / per_step,
            e.count / steps,
            e.input_shapes if record_shapes else None,
        )
        for e in operators
    ]
    phases: dict[str, float] = {}  # the fastest occurrence of each phase, in milliseconds
    for event in prof.events():
        if event.name in _PHASES:
            ms = event.cpu_time_total / 1e3
            phases[event.name] = min(ms, phases.get(event.name, ms))
    return StepProfile(
        rows=rows[:row_limit],
        operator_ms=sum(row.self_ms for row in rows),
        phases={name: phases[name] for name in _PHASES if name in phases},
        wall_ms=1e3 * profiled_s,
        step_ms=1e3 * step_s,
        steps=steps,
    )
