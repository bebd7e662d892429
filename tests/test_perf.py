"""Tests of seqnets.perf: min_time's counting and arithmetic, profile_step's rows and phases.

No test asserts how fast anything runs: min_time gets a fake clock, and profile_step is checked
for what it counts (calls, phases, updates) and for sums that must hold on any machine.
"""

from __future__ import annotations

import os
import time

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


def test_min_time_budget_costs_time_linear_in_the_repeats():
    clock = FakeClock()
    start = time.perf_counter()
    # 100,000 repeats of 2**-10 s (exact in binary): summing all times every repeat would take
    # minutes; keeping a running total takes a fraction of a second
    min_time(lambda: clock.work(2.0**-10), repeats=1, warmup=0, budget=100_000 / 1024, timer=clock)
    assert clock.calls == 100_000
    assert time.perf_counter() - start < 5.0


def test_min_time_budget_stops_when_a_repeat_takes_no_time():
    clock = FakeClock()

    def no_time() -> None:  # the clock never advances: the budget would never be spent
        clock.work(0.0)
        if clock.calls > 100:
            raise RuntimeError("min_time keeps repeating a call that takes no time")

    assert min_time(no_time, repeats=3, warmup=0, budget=1.0, timer=clock) == 0.0
    assert clock.calls == 3  # the required repeats, then it stops


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
    assert not {row.name for row in full.rows} & {"forward", "backward"}


def test_profile_step_lists_only_operators():
    torch.manual_seed(0)
    lstm = nn.LSTM(3, 4, batch_first=True)
    model = nn.Sequential(lstm, Last(), nn.Linear(4, 2))
    x, y = torch.randn(5, 6, 3), torch.randint(0, 2, (5,))
    opt = torch.optim.Adam(model.parameters())
    report = profile_step(model, x, y, nn.CrossEntropyLoss(), optimizer=opt, row_limit=1000)
    names = [row.name for row in report.rows]
    assert "aten::mkldnn_rnn_layer_backward" in names and "aten::addmm" in names
    # not the phases, the optimizer's annotation (Optimizer.step#Adam.step), the autograd
    # engine's events (autograd::engine::evaluate_function: ...) or backward nodes (...Backward0)
    assert not {"forward", "backward", "optimizer step"} & set(names)
    assert not [n for n in names if n.startswith("Optimizer.") or "autograd" in n]
    assert not [n for n in names if n.endswith("Backward0")]


class Last(nn.Module):
    """The last time step of an nn.LSTM's outputs."""

    def forward(self, out: tuple[torch.Tensor, ...]) -> torch.Tensor:
        return out[0][:, -1]


def test_profile_step_phases_fit_in_the_wall_clock_time():
    model, x, y = linear_batch()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    report = profile_step(model, x, y, nn.MSELoss(), optimizer=opt, steps=3)
    assert list(report.phases) == ["forward", "backward", "optimizer step"]
    assert all(ms > 0 for ms in report.phases.values())
    # one thread records them one after another inside each step, so even the fastest of each
    # phase, summed, fit in the fastest profiled step
    assert sum(report.phases.values()) <= report.wall_ms
    assert report.step_ms > 0
    assert "optimizer step" not in profile_step(model, x, y, nn.MSELoss()).phases


def test_profile_step_takes_warmup_plus_repeats_plus_steps_optimizer_updates():
    model, x, _ = linear_batch()
    bias = model.bias.detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    # d(sum of outputs)/d(bias) = batch size for every bias entry, in every step
    loss_fn = lambda out, _: out.sum()  # noqa: E731
    profile_step(model, x, None, loss_fn, optimizer=opt, steps=3, warmup=2, repeats=4)
    assert torch.allclose(model.bias, bias - 9 * 0.01 * 8)


class SlowStart(nn.Module):
    """A linear layer whose first call also sleeps and runs an extra operator (cumsum)."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 3)
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == 1:
            time.sleep(0.3)
            x = x + torch.cumsum(x, dim=0)
        return self.linear(x)


class SlowSteps(nn.Module):
    """A linear layer whose forward pass sleeps for the given seconds, one entry per call."""

    def __init__(self, sleeps: list[float]) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 3)
        self.sleeps = iter(sleeps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        time.sleep(next(self.sleeps))
        return self.linear(x)


def test_profile_step_keeps_the_fastest_profiled_step_and_phase():
    # warm-up 0, one unprofiled repeat, then profiled steps sleeping 0.2, 0.02 and 0.2 s
    model = SlowSteps([0.0, 0.2, 0.02, 0.2])
    report = profile_step(model, torch.randn(8, 4), torch.randn(8, 3), nn.MSELoss(), steps=3, warmup=0, repeats=1)
    # a mean would be over 140 ms; the fastest step slept 20 ms (timing allows 100 ms of slack)
    assert 20 <= report.wall_ms < 120
    assert 20 <= report.phases["forward"] < 120 and report.phases["forward"] <= report.wall_ms


class ProfilerWatcher(nn.Module):
    """A linear layer that records, at each call, whether the profiler is recording."""

    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 3)
        self.profiled: list[bool] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.profiled.append(torch.autograd.profiler._is_profiler_enabled)
        return self.linear(x)


def test_profile_step_runs_warmup_and_repeats_without_the_profiler():
    model = ProfilerWatcher()
    profile_step(model, torch.randn(8, 4), torch.randn(8, 3), nn.MSELoss(), steps=2, warmup=2, repeats=3)
    assert model.profiled == [False] * (2 + 3) + [True] * 2


def test_profile_step_neither_profiles_nor_times_the_warmup():
    model = SlowStart()
    report = profile_step(
        model, torch.randn(8, 4), torch.randn(8, 3), nn.MSELoss(), steps=1, warmup=1, repeats=1, row_limit=1000
    )
    assert model.calls == 3
    assert "aten::cumsum" not in {row.name for row in report.rows}
    # the warm-up slept 300 ms; a profiled or timed step of a 4 x 3 layer takes far less
    assert report.wall_ms < 150 and report.step_ms < 150


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
    assert model.modes == [True] * 6  # warmup, repeats=3 (the default), steps
    assert not model.training


def test_profile_step_prints_a_table():
    model, x, y = linear_batch()
    report = profile_step(model, x, y, nn.MSELoss(), row_limit=2)
    assert isinstance(report, StepProfile)
    text = str(report)
    lines = text.splitlines()
    assert lines[0].split() == ["operator", "self", "ms", "share", "calls"]
    assert lines[1] == "-" * len(lines[0])
    assert report.rows[0].name in lines[2] and report.rows[1].name in lines[3]
    assert "all operators" in text and "forward (phase)" in text
    assert "profiled step (fastest)" in text and "unprofiled step (fastest)" in text
    short = report.table(1).splitlines()
    assert len(short) == len(lines) - 1 and report.rows[1].name not in "\n".join(short)
    assert len(report.table(0).splitlines()) == len(lines) - 2


@pytest.mark.parametrize(
    ("limit", "error", "message"),
    [(-1, ValueError, "limit: expected an integer >= 0, got -1"), (1.0, TypeError, "limit: expected an integer")],
)
def test_profile_table_validates_its_limit(limit, error, message):
    model, x, y = linear_batch()
    with pytest.raises(error, match=message):
        profile_step(model, x, y, nn.MSELoss()).table(limit)


def test_profile_step_records_shapes_on_request():
    model, x, y = linear_batch()
    report = profile_step(model, x, y, nn.MSELoss(), row_limit=1000, record_shapes=True)
    addmm = [row for row in report.rows if row.name == "aten::addmm"]
    assert [row.shapes for row in addmm] == [[[3], [8, 4], [4, 3], [], []]]  # bias, x, weight.T
    header, underline = str(report).splitlines()[:2]
    assert header.endswith("input shapes") and underline == "-" * len(header)
    assert all(row.shapes is None for row in profile_step(model, x, y, nn.MSELoss()).rows)


def test_profile_step_refuses_tensors_off_the_cpu():
    model, x, y = linear_batch()
    with pytest.raises(ValueError, match="inputs: expected tensors on the CPU.*got inputs on meta"):
        profile_step(model, x.to("meta"), y, nn.MSELoss())
    with pytest.raises(ValueError, match="model: expected tensors on the CPU.*got weight on meta"):
        profile_step(model.to("meta"), x, y, nn.MSELoss())


def test_profile_step_needs_a_single_tensor_output():
    with pytest.raises(TypeError, match="model: profile_step expects the model to return a single tensor"):
        lstm = nn.LSTM(2, 3, batch_first=True)
        profile_step(lstm, torch.randn(1, 4, 2), None, lambda out, _: out.sum())


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"model": "lstm"}, TypeError, "model: expected a torch.nn.Module"),
        ({"inputs": [[1.0, 2.0]]}, TypeError, r"inputs\[0\]: expected a torch.Tensor"),
        ({"inputs": 3.0}, TypeError, "inputs: expected a torch.Tensor"),
        ({"inputs": ()}, ValueError, "inputs: expected a tensor or a non-empty tuple"),
        ({"loss_fn": "mse"}, TypeError, "loss_fn: expected a callable"),
        ({"optimizer": "adam"}, TypeError, "optimizer: expected a torch.optim.Optimizer or None"),
        ({"steps": 0}, ValueError, "steps: expected an integer >= 1, got 0"),
        ({"warmup": -1}, ValueError, "warmup: expected an integer >= 0, got -1"),
        ({"repeats": 0}, ValueError, "repeats: expected an integer >= 1, got 0"),
        ({"row_limit": 0}, ValueError, "row_limit: expected an integer >= 1, got 0"),
        ({"record_shapes": 1}, TypeError, "record_shapes: expected"),
    ],
)
def test_profile_step_validates_its_arguments(kwargs, error, message):
    model, x, y = linear_batch()
    args = {"model": model, "inputs": x, "targets": y, "loss_fn": nn.MSELoss(), **kwargs}
    positional = [args.pop(k) for k in ("model", "inputs", "targets", "loss_fn")]
    with pytest.raises(error, match=message):
        profile_step(*positional, **args)
