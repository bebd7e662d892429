"""Tests of seqnets.perf: min_time's counting and arithmetic, profile_step's rows and phases.

No test asserts how fast anything runs: min_time gets a fake clock, and profile_step is checked
for what it counts (calls, phases, updates) and for sums that must hold on any machine.
"""

from __future__ import annotations

import os

import pytest
import torch
from torch import nn

from seqnets.perf import ProfileRow, StepProfile, min_time, profile_step

# keep the profiler's start/stop log lines out of the output
os.environ.setdefault("KINETO_LOG_LEVEL", "6")


class FakeClock:
    """A clock that only moves when a call to the timed function moves it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.calls = 0
        self.reads = 0

    def __call__(self) -> float:
        self.reads += 1
        return self.now

    def work(self, seconds: float) -> None:
        self.calls += 1
        self.now += seconds


def test_min_time_returns_the_fastest_timed_call_and_skips_the_warmup():
    clock = FakeClock()
    # call k takes k seconds: the warm-up calls 1 and 2 are the fastest, so timing them would show
    best = min_time(lambda: clock.work(clock.calls + 1), repeats=3, warmup=2, timer=clock)
    assert clock.calls == 5
    assert best == 3.0
    assert clock.reads == 2 * 3  # one start and one stop per repeat, none for the warm-up


def test_min_time_takes_the_minimum_not_the_mean():
    clock = FakeClock()
    durations = iter([9.0, 2.0, 7.0, 5.0])
    assert min_time(lambda: clock.work(next(durations)), repeats=4, warmup=0, timer=clock) == 2.0


def test_min_time_divides_by_number_of_calls_per_repeat():
    clock = FakeClock()
    best = min_time(lambda: clock.work(0.5), repeats=2, warmup=1, number=4, timer=clock)
    assert clock.calls == 1 + 2 * 4
    assert best == pytest.approx(0.5)


def test_min_time_budget_adds_repeats_until_spent():
    clock = FakeClock()
    min_time(lambda: clock.work(1.0), repeats=2, warmup=0, budget=10, timer=clock)
    assert clock.calls == 10
    clock = FakeClock()
    min_time(lambda: clock.work(1.0), repeats=12, warmup=0, budget=10, timer=clock)
    assert clock.calls == 12  # repeats is a minimum too


def test_min_time_with_the_real_clock():
    assert min_time(lambda: sum(range(100)), repeats=3) > 0


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"fn": 3}, TypeError, "fn: expected a callable"),
        ({"repeats": 0}, ValueError, "repeats: expected an integer >= 1, got 0"),
        ({"repeats": True}, TypeError, "repeats: expected an integer"),
        ({"warmup": -1}, ValueError, "warmup: expected an integer >= 0, got -1"),
        ({"number": 1.5}, TypeError, "number: expected an integer"),
        ({"budget": -1.0}, ValueError, "budget: expected a number >= 0, got -1"),
        ({"timer": "perf_counter"}, TypeError, "timer: expected a callable"),
    ],
)
def test_min_time_validates_its_arguments(kwargs, error, message):
    args = {"fn": lambda: None, **kwargs}
    fn = args.pop("fn")
    with pytest.raises(error, match=message):
        min_time(fn, **args)


# ----------------------------------------------------------------------------------------------
# profile_step
# ----------------------------------------------------------------------------------------------


def linear_batch(seed: int = 0) -> tuple[nn.Linear, torch.Tensor, torch.Tensor]:
    torch.manual_seed(seed)
    return nn.Linear(4, 3), torch.randn(8, 4), torch.randn(8, 3)


def test_profile_step_counts_calls_per_step():
    model, x, y = linear_batch()
    report = profile_step(model, x, y, nn.MSELoss(), steps=3, row_limit=100)
    calls = {row.name: row.calls for row in report.rows}
    assert calls["aten::addmm"] == 1.0  # one linear layer: one addmm per forward pass
    assert calls["aten::mse_loss"] == 1.0
    assert report.steps == 3
    assert all(isinstance(row, ProfileRow) for row in report.rows)


def test_profile_step_rows_are_sorted_limited_and_sum_to_at_most_the_total():
    model = nn.Sequential(nn.Linear(4, 16), nn.Tanh(), nn.Linear(16, 3))
    x, y = torch.randn(8, 4), torch.randn(8, 3)
    full = profile_step(model, x, y, nn.MSELoss(), steps=2, row_limit=1000)
    times = [row.self_ms for row in full.rows]
    assert times == sorted(times, reverse=True)
    assert sum(times) == pytest.approx(full.operator_ms, rel=1e-6)  # every operator listed
    short = profile_step(model, x, y, nn.MSELoss(), steps=2, row_limit=3)
    assert len(short.rows) == 3
    assert sum(row.self_ms for row in short.rows) <= short.operator_ms
    # user annotations (the phases, Optimizer.step#...) are not operators
    assert not {row.name for row in full.rows} & {"forward", "backward", "optimizer step"}


def test_profile_step_phases_fit_in_the_wall_clock_time():
    model, x, y = linear_batch()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    report = profile_step(model, x, y, nn.MSELoss(), optimizer=opt, steps=3)
    assert list(report.phases) == ["forward", "backward", "optimizer step"]
    assert all(ms > 0 for ms in report.phases.values())
    # one thread records them one after another, inside the timed loop
    assert sum(report.phases.values()) <= report.wall_ms
    assert report.operator_ms <= report.wall_ms
    assert "optimizer step" not in profile_step(model, x, y, nn.MSELoss()).phases


def test_profile_step_takes_warmup_plus_steps_optimizer_updates():
    model, x, _ = linear_batch()
    bias = model.bias.detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    # d(sum of outputs)/d(bias) = batch size for every bias entry, in every step
    profile_step(model, x, None, lambda out, _: out.sum(), optimizer=opt, steps=3, warmup=2)
    assert torch.allclose(model.bias, bias - 5 * 0.01 * 8)


def test_profile_step_without_optimizer_leaves_the_weights():
    model, x, y = linear_batch()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    profile_step(model, x, y, nn.MSELoss())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


class Recorder(nn.Module):
    """Adds two inputs and records the train/eval mode of every call."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(2, 1)
        self.modes: list[bool] = []

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        self.modes.append(self.training)
        return self.linear(a + b)


def test_profile_step_trains_in_train_mode_passes_tuples_and_restores_the_mode():
    model = Recorder().eval()
    a, b = torch.randn(4, 2), torch.randn(4, 2)
    profile_step(model, (a, b), torch.zeros(4, 1), nn.MSELoss(), steps=2, warmup=1)
    assert model.modes == [True, True, True]
    assert not model.training


def test_profile_step_prints_a_table():
    model, x, y = linear_batch()
    report = profile_step(model, x, y, nn.MSELoss(), row_limit=2)
    assert isinstance(report, StepProfile)
    text = str(report)
    lines = text.splitlines()
    assert lines[0].split() == ["operator", "self", "ms", "share", "calls"]
    assert report.rows[0].name in lines[2]
    assert "all operators" in text and "forward (phase)" in text and "wall clock" in text


def test_profile_step_needs_a_single_tensor_output():
    with pytest.raises(TypeError, match="return a single tensor"):
        lstm = nn.LSTM(2, 3, batch_first=True)
        profile_step(lstm, torch.randn(1, 4, 2), None, lambda out, _: out.sum())


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"model": "lstm"}, TypeError, "model: expected a torch.nn.Module"),
        ({"inputs": [[1.0, 2.0]]}, TypeError, r"inputs\[0\]: expected a torch.Tensor"),
        ({"inputs": 3.0}, TypeError, "inputs: expected a torch.Tensor"),
        ({"loss_fn": "mse"}, TypeError, "loss_fn: expected a callable"),
        ({"optimizer": "adam"}, TypeError, "optimizer: expected a torch.optim.Optimizer or None"),
        ({"steps": 0}, ValueError, "steps: expected an integer >= 1, got 0"),
        ({"warmup": -1}, ValueError, "warmup: expected an integer >= 0, got -1"),
        ({"row_limit": 0}, ValueError, "row_limit: expected an integer >= 1, got 0"),
    ],
)
def test_profile_step_validates_its_arguments(kwargs, error, message):
    model, x, y = linear_batch()
    args = {"model": model, "inputs": x, "targets": y, "loss_fn": nn.MSELoss(), **kwargs}
    positional = [args.pop(k) for k in ("model", "inputs", "targets", "loss_fn")]
    with pytest.raises(error, match=message):
        profile_step(*positional, **args)
