"""seqnets.schedules: warm-up + cosine in closed form, and listing a schedule's rates."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch import nn
from torch.optim import lr_scheduler

from seqnets.schedules import learning_rates, warmup_cosine
from seqnets.train import fit


def optimizer(lr: float = 1.0) -> torch.optim.Optimizer:
    return torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)


def ours(w: int, t: int, m: float):
    return lambda opt: warmup_cosine(opt, warmup_steps=w, total_steps=t, min_factor=m)


def torch_chain(opt, w: int, t: int, m: float):
    """The same schedule from torch's pieces: LinearLR, then CosineAnnealingLR at step w."""
    lr = opt.param_groups[0]["lr"]
    cosine = lr_scheduler.CosineAnnealingLR(opt, T_max=t - w, eta_min=m * lr)
    if w == 0:
        return cosine
    warm = lr_scheduler.LinearLR(opt, start_factor=1 / (w + 1), total_iters=w)
    return lr_scheduler.SequentialLR(opt, [warm, cosine], milestones=[w])


@pytest.mark.parametrize(("w", "t", "m"), [(0, 10, 0.0), (3, 10, 0.0), (5, 40, 0.1), (9, 10, 0.5)])
def test_warmup_cosine_equals_linear_then_cosine_annealing(w: int, t: int, m: float) -> None:
    closed_form = learning_rates(ours(w, t, m), t + 1, lr=0.3)
    chained = learning_rates(lambda o: torch_chain(o, w, t, m), t + 1, lr=0.3)
    assert closed_form == pytest.approx(chained, rel=1e-9, abs=1e-12)


def test_warmup_cosine_parts_from_the_chain_after_total_steps() -> None:
    """Equal up to step T; then ours stays at the floor while CosineAnnealingLR rises again."""
    w, t, m, lr = 3, 10, 0.1, 0.3
    closed_form = learning_rates(ours(w, t, m), t + 6, lr=lr)
    chained = learning_rates(lambda o: torch_chain(o, w, t, m), t + 6, lr=lr)
    assert closed_form[: t + 1] == pytest.approx(chained[: t + 1], rel=1e-9, abs=1e-12)
    assert closed_form[t:] == pytest.approx([m * lr] * 6)
    assert all(a < b for a, b in itertools.pairwise(chained[t:]))


def test_warmup_cosine_landmarks() -> None:
    w, t, m, lr = 4, 20, 0.05, 0.2
    rates = learning_rates(ours(w, t, m), 30, lr=lr)
    assert rates[0] == pytest.approx(lr / (w + 1))  # the first step already learns
    assert all(a < b for a, b in itertools.pairwise(rates[: w + 1]))  # rising during the warm-up
    assert rates[w] == pytest.approx(lr) and max(rates) == pytest.approx(lr)  # the peak at step w
    assert all(a > b for a, b in itertools.pairwise(rates[w : t + 1]))  # then down to the floor
    mid = (w + t) // 2
    assert rates[mid] == pytest.approx(m * lr + (1 - m) * lr / 2)  # half-way down the cosine
    assert rates[t:] == pytest.approx([m * lr] * (30 - t))  # and staying there (torch's would rise)


def test_warmup_cosine_scales_each_parameter_group_by_its_own_rate() -> None:
    opt = torch.optim.SGD(
        [
            {"params": [torch.zeros(1, requires_grad=True)], "lr": 1.0},
            {"params": [torch.zeros(1, requires_grad=True)]},
        ],
        lr=0.1,
    )
    sched = warmup_cosine(opt, warmup_steps=1, total_steps=3)
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([0.5, 0.05])
    opt.step()
    sched.step()
    assert [g["lr"] for g in opt.param_groups] == pytest.approx([1.0, 0.1])


def test_warmup_cosine_through_fit_per_step() -> None:
    """fit(scheduler_interval="step") makes every optimizer step use the listed rate."""
    torch.set_num_threads(1)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=g)
    y = x.sum(dim=1, keepdim=True)
    seen: list[float] = []

    def make_opt(params):
        opt = torch.optim.Adam(params, lr=0.05)
        opt.register_step_pre_hook(lambda o, args, kwargs: seen.append(o.param_groups[0]["lr"]))
        return opt

    def schedule(opt):
        return warmup_cosine(opt, warmup_steps=3, total_steps=12)

    fit(
        nn.Linear(3, 1),
        (x, y),
        loss_fn=nn.MSELoss(),
        epochs=3,
        batch_size=16,
        optimizer=make_opt,
        scheduler=schedule,
        scheduler_interval="step",
        progress=False,
    )
    assert seen == pytest.approx(learning_rates(schedule, 12, lr=0.05))


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (
            dict(warmup_steps=10, total_steps=10),
            ValueError,
            "total_steps: expected more than warmup_steps=10, got 10",
        ),
        (
            dict(warmup_steps=-1, total_steps=10),
            ValueError,
            "warmup_steps: expected an integer >= 0, got -1",
        ),
        (dict(warmup_steps=0, total_steps=0), ValueError, "total_steps: expected an integer >= 1"),
        (dict(warmup_steps=1.5, total_steps=10), TypeError, "warmup_steps: expected an integer"),
        (
            dict(warmup_steps=0, total_steps=10, min_factor=1.5),
            ValueError,
            r"min_factor: expected a number in \[0, 1\]",
        ),
        (dict(warmup_steps=0, total_steps=10, min_factor=math.nan), ValueError, "min_factor"),
    ],
)
def test_warmup_cosine_validates_its_arguments(kwargs, error, match) -> None:
    with pytest.raises(error, match=match):
        warmup_cosine(optimizer(), **kwargs)


def test_warmup_cosine_needs_an_optimizer() -> None:
    with pytest.raises(TypeError, match="optimizer: expected a torch.optim.Optimizer, got list"):
        warmup_cosine([torch.zeros(1)], warmup_steps=0, total_steps=5)


def test_learning_rates_lists_one_cycle_to_its_last_step() -> None:
    steps = 50

    def one_cycle(opt):
        return lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=steps)

    rates = learning_rates(one_cycle, steps)
    assert len(rates) == steps
    assert rates[0] == pytest.approx(0.1 / 25)  # starts at max_lr / div_factor
    assert max(rates) == pytest.approx(0.1) and rates.index(max(rates)) == round(0.3 * steps) - 1
    assert rates[-1] == pytest.approx(0.1 / 25 / 1e4)  # ends at initial_lr / final_div_factor


def test_learning_rates_leaves_no_trace_and_repeats() -> None:
    make = lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=0.1)  # noqa: E731
    assert learning_rates(make, 5, lr=1.0) == pytest.approx([1.0, 1.0, 0.1, 0.1, 0.01])
    assert learning_rates(make, 5, lr=1.0) == learning_rates(make, 5, lr=1.0)


@pytest.mark.parametrize(
    ("make", "steps", "error", "match"),
    [
        (
            lambda o: lr_scheduler.ReduceLROnPlateau(o),
            3,
            TypeError,
            "make: ReduceLROnPlateau follows a loss",
        ),
        (
            lambda o: None,
            3,
            TypeError,
            "make: expected it to return a learning-rate scheduler, got NoneType",
        ),
        ("cosine", 3, TypeError, "make: expected a callable optimizer -> scheduler, got str"),
        (
            lambda o: lr_scheduler.StepLR(o, 1),
            0,
            ValueError,
            "steps: expected an integer >= 1, got 0",
        ),
    ],
)
def test_learning_rates_validates_its_arguments(make, steps, error, match) -> None:
    with pytest.raises(error, match=match):
        learning_rates(make, steps)


def test_learning_rates_refuses_a_bad_lr() -> None:
    with pytest.raises(ValueError, match=r"lr: expected a number > 0, got 0"):
        learning_rates(lambda o: lr_scheduler.StepLR(o, 1), 3, lr=0)
