"""fit(scheduler=..., scheduler_interval=...): when the learning-rate scheduler steps."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from seqnets.train import fit

LR, N, BATCH = 0.04, 128, 32  # 4 optimizer steps per epoch


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def linear_data(n: int = N) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(n, 3, generator=g)
    return x, x @ torch.tensor([[2.0], [-1.0], [0.5]]) + 0.3


def recording_sgd(seen: list[float]):
    """An ``optimizer`` argument for fit: SGD that records the rate each step uses."""

    def make(params):
        opt = torch.optim.SGD(params, lr=LR)
        opt.register_step_pre_hook(lambda o, args, kwargs: seen.append(o.param_groups[0]["lr"]))
        return opt

    return make


def halving(opt):
    return torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)


@pytest.mark.parametrize("loader", [False, True])
def test_step_interval_steps_the_scheduler_after_every_optimizer_step(loader: bool) -> None:
    x, y = linear_data()
    data = DataLoader(TensorDataset(x, y), batch_size=BATCH) if loader else (x, y)
    seen: list[float] = []
    history = fit(
        nn.Linear(3, 1),
        data,
        loss_fn=nn.MSELoss(),
        epochs=2,
        batch_size=BATCH,
        optimizer=recording_sgd(seen),
        scheduler=halving,
        scheduler_interval="step",
        progress=False,
    )
    assert seen == pytest.approx([LR * 0.5**k for k in range(8)])
    # the rate at each epoch's end: after its 4th and 8th scheduler step
    assert history.lr == pytest.approx([LR * 0.5**4, LR * 0.5**8])


def test_epoch_interval_is_the_default_and_keeps_the_rate_within_an_epoch() -> None:
    x, y = linear_data()
    seen: list[float] = []
    history = fit(
        nn.Linear(3, 1),
        (x, y),
        loss_fn=nn.MSELoss(),
        epochs=2,
        batch_size=BATCH,
        optimizer=recording_sgd(seen),
        scheduler=halving,
        progress=False,
    )
    assert seen == pytest.approx([LR] * 4 + [LR / 2] * 4)
    assert history.lr == pytest.approx([LR, LR / 2])


def test_one_cycle_over_all_steps_runs_to_its_end() -> None:
    """OneCycleLR refuses to step past total_steps: fit must step it exactly once per batch."""
    x, y = linear_data()
    epochs, steps = 3, 3 * (N // BATCH)
    seen: list[float] = []

    def one_cycle(opt):
        return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=steps)

    history = fit(
        nn.Linear(3, 1),
        (x, y),
        loss_fn=nn.MSELoss(),
        epochs=epochs,
        batch_size=BATCH,
        optimizer=recording_sgd(seen),
        scheduler=one_cycle,
        scheduler_interval="step",
        progress=False,
    )
    assert history.stop_reason == f"completed all {epochs} epochs"
    assert len(seen) == steps
    assert seen[0] == pytest.approx(0.1 / 25)  # OneCycleLR starts at max_lr / div_factor
    assert 0.09 < max(seen) <= 0.1  # the peak, near 30 % of the steps (pct_start)
    assert seen[-1] < 1e-4


def test_plateau_scheduler_refuses_the_step_interval() -> None:
    x, y = linear_data()
    with pytest.raises(ValueError, match="scheduler_interval: ReduceLROnPlateau.*expected 'epoch'"):
        fit(
            nn.Linear(3, 1),
            (x, y),
            loss_fn=nn.MSELoss(),
            epochs=1,
            scheduler=lambda opt: torch.optim.lr_scheduler.ReduceLROnPlateau(opt),
            scheduler_interval="step",
            progress=False,
        )


@pytest.mark.parametrize("bad", ["batch", "Step", 1, None])
def test_unknown_interval_is_refused(bad) -> None:
    x, y = linear_data()
    expected = r"scheduler_interval: expected one of \('epoch', 'step'\)"
    with pytest.raises(ValueError, match=expected):
        fit(
            nn.Linear(3, 1),
            (x, y),
            loss_fn=nn.MSELoss(),
            epochs=1,
            scheduler_interval=bad,
            progress=False,
        )


def test_step_interval_without_scheduler_trains_as_usual() -> None:
    x, y = linear_data()
    a, b = nn.Linear(3, 1), nn.Linear(3, 1)
    b.load_state_dict(a.state_dict())
    common = dict(loss_fn=nn.MSELoss(), epochs=2, progress=False, seed=0)
    h_a = fit(a, (x, y), **common)
    h_b = fit(b, (x, y), scheduler_interval="step", **common)
    assert h_a.train_loss == h_b.train_loss and h_a.lr == h_b.lr


def test_a_skipped_step_does_not_step_the_scheduler() -> None:
    """The third batch has a NaN target: fit stops before that batch's optimizer step, so the
    scheduler has stepped after the first two only."""
    x, y = linear_data()
    y[2 * BATCH] = float("nan")
    made = []

    def scheduler(opt):
        made.append(halving(opt))
        return made[-1]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        history = fit(
            nn.Linear(3, 1),
            (x, y),
            loss_fn=nn.MSELoss(),
            epochs=2,
            batch_size=BATCH,
            shuffle=False,
            optimizer="sgd",
            lr=LR,
            scheduler=scheduler,
            scheduler_interval="step",
            progress=False,
        )
    assert "batch 3 of 4" in history.stop_reason
    assert made[0].last_epoch == 2
