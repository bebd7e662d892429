"""Learning-rate schedules: linear warm-up then cosine decay, and a helper to look at any schedule.

``torch.optim.lr_scheduler`` has the common schedules (``CosineAnnealingLR``, ``OneCycleLR``,
``LinearLR`` chained with others by ``SequentialLR``); use them. This module adds what it lacks in
one piece: :func:`warmup_cosine`, the warm-up + cosine schedule as a single closed-form
``LambdaLR`` (the same numbers as ``LinearLR`` followed by ``CosineAnnealingLR``, with a floor
given as a fraction of the peak), and :func:`learning_rates`, which steps any scheduler on a
throw-away optimizer and returns the rate of every step, for plotting or checking a schedule
before training with it.

Schedules here count optimizer steps, so give them to :func:`seqnets.train.fit` with
``scheduler_interval="step"``::

    fit(model, data, ..., epochs=10,
        scheduler=lambda opt: warmup_cosine(opt, warmup_steps=50, total_steps=10 * batches),
        scheduler_interval="step")
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR, ReduceLROnPlateau

from seqnets.utils import check_number, check_positive_int

__all__ = ["warmup_cosine", "learning_rates"]


def warmup_cosine(
    optimizer: torch.optim.Optimizer,
    *,
    warmup_steps: int,
    total_steps: int,
    min_factor: float = 0.0,
) -> LambdaLR:
    """Raise the rate linearly for ``warmup_steps`` steps, then let it fall along a cosine.

    With peak rate :math:`\\eta` (the optimizer's ``lr``), warm-up length :math:`w`, total length
    :math:`T` and floor :math:`m` (``min_factor``), optimizer step :math:`s = 0, 1, \\dots` uses

    .. math::

        \\eta_s = \\eta \\cdot \\begin{cases}
            \\dfrac{s + 1}{w + 1} & s < w, \\\\[1ex]
            m + (1 - m)\\,\\dfrac{1 + \\cos(\\pi (s - w) / (T - w))}{2} & w \\le s < T, \\\\[1ex]
            m & s \\ge T,
        \\end{cases}

    so the rate reaches its peak at step :math:`w` and the floor :math:`m \\eta` after :math:`T`
    steps. For :math:`s \\le T` these are the rates of ``SequentialLR`` chaining
    ``LinearLR(start_factor=1 / (w + 1), total_iters=w)`` and ``CosineAnnealingLR(T_max=T - w,
    eta_min=m * lr)`` at milestone :math:`w`, computed in closed form from the step count. After
    step :math:`T` they part: this schedule stays at the floor, while ``CosineAnnealingLR``
    follows its cosine up again.

    Parameters
    ----------
    optimizer : torch.optim.Optimizer
        Every parameter group is scheduled, each relative to its own ``lr``.
    warmup_steps : int
        :math:`w \\ge 0`; 0 starts the cosine at the peak at once.
    total_steps : int
        :math:`T > w`: optimizer steps until the floor, usually ``epochs * batches_per_epoch``.
    min_factor : float
        Floor :math:`m \\in [0, 1]` as a fraction of the peak rate.

    Returns
    -------
    torch.optim.lr_scheduler.LambdaLR
        Step it after every optimizer step (``fit(..., scheduler_interval="step")``).

    Examples
    --------
    >>> rates = learning_rates(lambda o: warmup_cosine(o, warmup_steps=2, total_steps=6), 7)
    >>> [round(r, 3) for r in rates]
    [0.333, 0.667, 1.0, 0.854, 0.5, 0.146, 0.0]
    """
    if not isinstance(optimizer, torch.optim.Optimizer):
        got = type(optimizer).__name__
        raise TypeError(f"optimizer: expected a torch.optim.Optimizer, got {got}")
    w = check_positive_int(warmup_steps, "warmup_steps", minimum=0)
    t = check_positive_int(total_steps, "total_steps")
    if t <= w:
        raise ValueError(f"total_steps: expected more than warmup_steps={w}, got {t}")
    m = check_number(min_factor, "min_factor", low=0, high=1)

    def factor(step: int) -> float:
        if step < w:
            return (step + 1) / (w + 1)
        progress = min(step - w, t - w) / (t - w)  # 0 at the peak, 1 at the floor
        return m + (1 - m) * 0.5 * (1 + math.cos(math.pi * progress))

    return LambdaLR(optimizer, factor)


def learning_rates(
    make: Callable[[torch.optim.Optimizer], Any],
    steps: int,
    *,
    lr: float = 1.0,
) -> list[float]:
    """The rate each of ``steps`` optimizer steps would use under the scheduler ``make`` builds.

    ``make(optimizer)`` is called with an SGD optimizer (momentum 0.9, so momentum-cycling
    schedules such as ``OneCycleLR`` work) over one throw-away parameter, with learning rate
    ``lr``; the scheduler is stepped after each step, as :func:`seqnets.train.fit` does with
    ``scheduler_interval="step"``. No model is trained.

    Parameters
    ----------
    make : callable
        ``optimizer -> scheduler``, the same callable as ``fit(scheduler=...)`` takes.
    steps : int
        Number of optimizer steps to list.
    lr : float
        The optimizer's rate before the scheduler acts (for ``OneCycleLR`` its ``max_lr`` counts).

    Returns
    -------
    list of float
        ``rates[s]`` is the rate of the first parameter group at optimizer step ``s``.

    Examples
    --------
    >>> cosine = lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4)
    >>> [round(r, 3) for r in learning_rates(cosine, 5, lr=0.1)]
    [0.1, 0.085, 0.05, 0.015, 0.0]
    """
    if not callable(make):
        got = type(make).__name__
        raise TypeError(f"make: expected a callable optimizer -> scheduler, got {got}")
    steps = check_positive_int(steps, "steps")
    lr = check_number(lr, "lr", low=0, low_open=True)
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr, momentum=0.9)
    scheduler = make(optimizer)
    if isinstance(scheduler, ReduceLROnPlateau):
        raise TypeError("make: ReduceLROnPlateau follows a loss; its rates cannot be listed ahead")
    if not hasattr(scheduler, "step"):
        got = type(scheduler).__name__
        raise TypeError(f"make: expected it to return a learning-rate scheduler, got {got}")
    rates = []
    for s in range(steps):
        rates.append(float(optimizer.param_groups[0]["lr"]))
        optimizer.step()  # the parameter has no gradient: nothing changes, but torch sees a step
        if s < steps - 1:  # OneCycleLR refuses to step past its last step
            scheduler.step()
    return rates
