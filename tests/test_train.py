"""Tests of seqnets.train: fit, evaluate, predict and History."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from seqnets.train import History, evaluate, fit, predict


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny models run fastest on one thread, and much faster when other processes share the CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def linear_data(n: int = 128, seed: int = 0, slope: float = 2.0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, generator=g)
    y = x @ torch.tensor([[slope], [-1.0], [0.5]]) + 0.3
    return x, y


def state_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def states_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def snapshot_metric(store: list[dict[str, torch.Tensor]], model: nn.Module):
    """A 'metric' that records the model's weights each time fit validates (once per epoch)."""

    def fn(targets, outputs):
        store.append(state_copy(model))
        return 0.0

    return fn


# --------------------------------------------------------------------------------------------
# Learning
# --------------------------------------------------------------------------------------------


def test_fit_reduces_loss_on_regression():
    torch.manual_seed(0)
    x, y = linear_data()
    model = nn.Linear(3, 1)
    before = evaluate(model, (x, y), loss_fn=nn.MSELoss())["loss"]
    history = fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=40, lr=0.05, batch_size=16, progress=False, seed=0)
    after = evaluate(model, (x, y), loss_fn=nn.MSELoss())["loss"]
    assert isinstance(history, History)
    assert len(history.train_loss) == history.epochs_run == 40
    assert history.val_loss == [] and history.best_epoch == 40
    assert history.stop_reason == "completed all 40 epochs"
    assert after < 1e-3 * before, (before, after)
    assert history.train_loss[-1] < 1e-2 * history.train_loss[0]
    assert torch.allclose(model.weight, torch.tensor([[2.0, -1.0, 0.5]]), atol=1e-2)
    assert history.elapsed > 0


@pytest.mark.parametrize("optimizer, lr", [("adam", 0.1), ("adamw", 0.1), ("sgd", 0.02), ("SGD", 0.02)])
def test_named_optimizers_learn(optimizer, lr):
    torch.manual_seed(0)
    x, y = linear_data()
    model = nn.Linear(3, 1)
    history = fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=10, lr=lr, optimizer=optimizer, progress=False)
    assert history.train_loss[-1] < 0.2 * history.train_loss[0]


def test_optimizer_callable_and_instance_are_used():
    torch.manual_seed(0)
    x, y = linear_data()
    model = nn.Linear(3, 1)
    made = []

    def factory(params):
        made.append(torch.optim.RMSprop(params, lr=0.01))
        return made[-1]

    history = fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=2, optimizer=factory, progress=False)
    assert len(made) == 1 and made[0].state, "the optimizer the callable returned must take the steps"
    assert history.lr == [0.01, 0.01]
    opt = torch.optim.SGD(model.parameters(), lr=0.001)
    history = fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=1, optimizer=opt, progress=False)
    assert history.lr == [0.001]


def test_an_optimizer_over_another_model_is_refused_before_training():
    x, y = linear_data()
    old, model = nn.Linear(3, 1), nn.Linear(3, 1)
    before = state_copy(old)
    for optimizer in (torch.optim.SGD(old.parameters(), lr=0.1), lambda params: torch.optim.SGD(old.parameters())):
        with pytest.raises(
            ValueError, match=r"optimizer: expected an optimizer over the model's parameters.*none of its 2"
        ):
            fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=2, optimizer=optimizer, progress=False, device="meta")
    assert states_equal(state_copy(old), before), "the other model must not have been trained"
    assert model.weight.device.type == "cpu", "a refused call must not move the model to `device`"


def test_an_optimizer_over_some_of_the_parameters_trains_only_those():
    x, y = linear_data()
    model = nn.Linear(3, 1)
    before = state_copy(model)
    fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=2, optimizer=torch.optim.SGD([model.bias], lr=0.1), progress=False)
    assert torch.equal(model.weight, before["weight"]) and not torch.equal(model.bias, before["bias"])


def test_dataloader_input_and_evaluate_agree_with_tuple():
    torch.manual_seed(0)
    x, y = linear_data(100)
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)
    model = nn.Linear(3, 1)
    history = fit(
        model,
        loader,
        loss_fn=nn.MSELoss(),
        epochs=30,
        lr=0.05,
        val_data=DataLoader(TensorDataset(x, y), batch_size=7),
        progress=False,
        seed=1,
    )
    assert history.train_loss[-1] < 0.01 * history.train_loss[0]
    from_loader = evaluate(model, DataLoader(TensorDataset(x, y), batch_size=7), loss_fn=nn.MSELoss())["loss"]
    from_tuple = evaluate(model, (x, y), loss_fn=nn.MSELoss(), batch_size=1000)["loss"]
    assert from_loader == pytest.approx(from_tuple, rel=1e-5)
    assert history.val_loss[history.best_epoch - 1] == pytest.approx(min(history.val_loss))


def test_multi_input_models_get_a_tuple():
    class Sum(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(2, 1), nn.Linear(3, 1)

        def forward(self, u, v):
            return self.a(u) + self.b(v)

    torch.manual_seed(0)
    u, v = torch.randn(64, 2), torch.randn(64, 3)
    y = u.sum(1, keepdim=True) - v.sum(1, keepdim=True)
    model = Sum()
    history = fit(model, ((u, v), y), loss_fn=nn.MSELoss(), epochs=20, lr=0.1, batch_size=16, progress=False)
    assert history.train_loss[-1] < 0.01 * history.train_loss[0]
    out = predict(model, (u, v), batch_size=10)
    assert out.shape == (64, 1)
    model.eval()
    assert torch.allclose(out, model(u, v).detach())


def test_evaluate_averages_over_samples_not_batches():
    model = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(0.0)
    x = torch.ones(5, 1)
    y = torch.tensor([[1.0], [1.0], [1.0], [1.0], [11.0]])  # batches of 4 and 1 with batch_size=4
    result = evaluate(model, (x, y), loss_fn=nn.MSELoss(), batch_size=4)
    per_sample = (4 * 1.0 + 121.0) / 5  # 25.0; averaging the two batch means would give 61.0
    assert result["loss"] == pytest.approx(per_sample)


def test_evaluate_metrics_use_the_whole_set():
    x = torch.arange(10.0).unsqueeze(1)
    model = nn.Identity()
    calls = []

    def count(targets, outputs):
        calls.append(len(outputs))
        return float((outputs == targets).float().mean())

    result = evaluate(model, (x, x.clone()), metrics={"match": count}, batch_size=3)
    assert result == {"match": 1.0} and calls == [10]


def test_metrics_and_lr_recorded_each_epoch_with_scheduler():
    torch.manual_seed(0)
    x, y = linear_data()
    model = nn.Linear(3, 1)
    history = fit(
        model,
        (x, y),
        loss_fn=nn.MSELoss(),
        epochs=4,
        lr=0.04,
        val_data=(x, y),
        metrics={"mae": lambda t, o: (o - t).abs().mean()},
        scheduler=lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5),
        progress=False,
    )
    assert history.lr == pytest.approx([0.04, 0.02, 0.01, 0.005])
    assert len(history.metrics["mae"]) == len(history.val_loss) == 4
    assert all(isinstance(v, float) for v in history.metrics["mae"])
    assert history.metrics["mae"][-1] < history.metrics["mae"][0]


def test_train_mode_for_training_eval_mode_for_validation_and_mode_restored():
    class Recorder(nn.Linear):
        def __init__(self):
            super().__init__(3, 1)
            self.modes: list[bool] = []

        def forward(self, x):
            self.modes.append(self.training)
            return super().forward(x)

    x, y = linear_data(20)
    model = Recorder()
    model.eval()
    fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=2, batch_size=10, val_data=(x, y), progress=False)
    # per epoch: two training batches, then one validation batch
    assert model.modes == [True, True, False, True, True, False]
    assert not model.training, "fit must give the model back in the mode it came in"
    model.train()
    predict(model, x)
    assert model.modes[-1] is False and model.training


# --------------------------------------------------------------------------------------------
# Gradient clipping
# --------------------------------------------------------------------------------------------


def _one_sgd_step(clip):
    """One full-batch step of plain SGD with lr=1: the update equals minus the (clipped) gradient."""
    torch.manual_seed(0)
    x, y = linear_data(32)
    model = nn.Linear(3, 1)
    reference = copy.deepcopy(model)
    nn.MSELoss()(reference(x), 100 * y).backward()
    grad = torch.cat([p.grad.flatten() for p in reference.parameters()])
    before = torch.cat([p.detach().flatten() for p in model.parameters()])
    fit(
        model,
        (x, 100 * y),
        loss_fn=nn.MSELoss(),
        epochs=1,
        batch_size=32,
        shuffle=False,
        optimizer=lambda p: torch.optim.SGD(p, lr=1.0),
        clip_grad_norm=clip,
        progress=False,
    )
    after = torch.cat([p.detach().flatten() for p in model.parameters()])
    return before - after, grad


def test_clip_grad_norm_bounds_the_update():
    update, grad = _one_sgd_step(clip=0.5)
    assert grad.norm() > 10, "the test needs a gradient far above the clipping threshold"
    assert update.norm() == pytest.approx(0.5, rel=1e-4)
    assert torch.allclose(update / update.norm(), grad / grad.norm(), atol=1e-5), "clipping must keep the direction"


def test_without_clipping_the_update_is_the_full_gradient():
    update, grad = _one_sgd_step(clip=None)
    assert torch.allclose(update, grad, rtol=1e-4)


# --------------------------------------------------------------------------------------------
# Early stopping
# --------------------------------------------------------------------------------------------


def test_early_stopping_stops_and_restores_the_best_weights():
    # Train towards slope 2 from slope 0 while validating against slope 1: the validation loss falls
    # while the fitted slope approaches 1 and rises after it passes.
    torch.manual_seed(0)
    x, y = linear_data(64, slope=2.0)
    xv, yv = linear_data(64, seed=1, slope=1.0)
    model = nn.Linear(3, 1)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.0, -1.0, 0.5]]))
        model.bias.fill_(0.3)
    snapshots: list[dict[str, torch.Tensor]] = []
    history = fit(
        model,
        (x, y),
        loss_fn=nn.MSELoss(),
        epochs=100,
        lr=0.01,
        batch_size=16,
        optimizer="sgd",
        val_data=(xv, yv),
        patience=3,
        metrics={"snap": snapshot_metric(snapshots, model)},
        progress=False,
        seed=0,
    )
    best = history.best_epoch
    assert 1 < best < history.epochs_run < 100
    assert history.epochs_run == best + 3
    assert "early stopping" in history.stop_reason and f"epoch {best}" in history.stop_reason
    assert history.val_loss[best - 1] == min(history.val_loss)
    assert history.best_val_loss == min(history.val_loss)
    assert states_equal(state_copy(model), snapshots[best - 1])
    assert not states_equal(state_copy(model), snapshots[-1]), "the last epoch's weights must differ from the best"


def test_restore_best_false_keeps_the_last_weights():
    torch.manual_seed(0)
    x, y = linear_data(64, slope=2.0)
    xv, yv = linear_data(64, seed=1, slope=1.0)
    model = nn.Linear(3, 1)
    snapshots: list[dict[str, torch.Tensor]] = []
    history = fit(
        model,
        (x, y),
        loss_fn=nn.MSELoss(),
        epochs=20,
        lr=0.01,
        optimizer="sgd",
        val_data=(xv, yv),
        metrics={"snap": snapshot_metric(snapshots, model)},
        restore_best=False,
        progress=False,
    )
    assert history.best_epoch < 20
    assert states_equal(state_copy(model), snapshots[-1])


# --------------------------------------------------------------------------------------------
# Non-finite guard
# --------------------------------------------------------------------------------------------


class NaNAfter(nn.Module):
    """A linear model whose training forward passes return NaN from call ``bad_call`` on."""

    def __init__(self, bad_call: int):
        super().__init__()
        self.linear = nn.Linear(3, 1)
        self.bad_call = bad_call
        self.calls = 0

    def forward(self, x):
        out = self.linear(x)
        if self.training:
            self.calls += 1
            if self.calls >= self.bad_call:
                return out * float("nan")
        return out


def test_nan_loss_stops_warns_and_restores_best_weights():
    torch.manual_seed(0)
    x, y = linear_data(64)
    model = NaNAfter(bad_call=11)  # 4 batches per epoch: epoch 3, batch 3
    snapshots: list[dict[str, torch.Tensor]] = []
    with pytest.warns(RuntimeWarning, match=r"epoch 3, batch 3 of 4") as record:
        history = fit(
            model,
            (x, y),
            loss_fn=nn.MSELoss(),
            epochs=10,
            lr=0.05,
            batch_size=16,
            val_data=(x, y),
            metrics={"snap": snapshot_metric(snapshots, model)},
            progress=False,
        )
    message = str(record[0].message)
    assert history.stop_reason == message
    assert "nan" in message and "lr=0.05" in message and "clip_grad_norm" in message
    assert "Restored the weights of epoch 2." in message
    assert history.epochs_run == 2 and history.best_epoch == 2 and len(history.train_loss) == 2
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert states_equal(state_copy(model), snapshots[1])


def test_infinite_loss_without_validation_keeps_last_finished_epoch():
    torch.manual_seed(0)
    x, y = linear_data(64)
    model = nn.Linear(3, 1)
    calls = {"n": 0}
    epoch_ends: list[dict[str, torch.Tensor]] = []

    def loss_fn(out, target):
        calls["n"] += 1
        if calls["n"] % 2 == 1 and calls["n"] > 1:  # first batch of each epoch after the first
            epoch_ends.append(state_copy(model))
        loss = nn.functional.mse_loss(out, target)
        return loss * float("inf") if calls["n"] == 6 else loss

    with pytest.warns(RuntimeWarning, match=r"epoch 3, batch 2 of 2: the training loss is inf"):
        history = fit(model, (x, y), loss_fn=loss_fn, epochs=5, batch_size=32, progress=False)
    assert history.best_epoch == 2 and history.epochs_run == 2
    assert states_equal(state_copy(model), epoch_ends[1])


def test_nan_in_first_epoch_restores_initial_weights():
    torch.manual_seed(0)
    x, y = linear_data(64)
    model = NaNAfter(bad_call=2)
    initial = state_copy(model)
    with pytest.warns(RuntimeWarning, match="Restored the initial weights"):
        history = fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=3, lr=0.1, batch_size=16, progress=False)
    assert history.best_epoch is None and history.epochs_run == 0 and history.train_loss == []
    assert states_equal(state_copy(model), initial)


def test_nan_gradient_with_finite_loss_is_caught():
    class SqrtAtZero(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(3, 1)
            self.z = nn.Parameter(torch.zeros(()))

        def forward(self, x):
            return self.linear(x) + 0.0 * torch.sqrt(self.z)  # d sqrt(z)/dz = inf at 0, times 0: nan

    x, y = linear_data(16)
    model = SqrtAtZero()
    initial = state_copy(model)
    with pytest.warns(RuntimeWarning, match="gradient norm is nan"):
        history = fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=2, progress=False)
    assert history.epochs_run == 0
    assert states_equal(state_copy(model), initial)


def test_nan_validation_loss_stops_and_keeps_the_last_good_epoch():
    torch.manual_seed(0)
    x, y = linear_data(32)
    xv = x.clone()
    model = nn.Linear(3, 1)
    initial = state_copy(model)
    xv[5, 0] = float("nan")
    with pytest.warns(
        RuntimeWarning, match=r"stopped at epoch 1, the validation loss is nan; .* Restored the initial weights"
    ):
        history = fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=3, val_data=(xv, y), progress=False)
    assert history.epochs_run == 1 and history.best_epoch is None
    assert states_equal(state_copy(model), initial)


def test_exploding_lr_is_stopped_with_finite_weights():
    torch.manual_seed(0)
    x, y = linear_data(64)
    model = nn.Sequential(nn.Linear(3, 8), nn.Linear(8, 1))
    with pytest.warns(RuntimeWarning, match="lower learning rate"):
        history = fit(
            model, (x, 1e3 * y), loss_fn=nn.MSELoss(), epochs=50, lr=10.0, optimizer="sgd", batch_size=8, progress=False
        )
    assert history.epochs_run < 50
    assert all(torch.isfinite(p).all() for p in model.parameters())


# --------------------------------------------------------------------------------------------
# Reproducibility
# --------------------------------------------------------------------------------------------


def test_seeded_runs_repeat_exactly_and_leave_global_rng_alone():
    torch.manual_seed(0)
    x, y = linear_data(96)
    base = nn.Sequential(nn.Linear(3, 16), nn.Dropout(0.3), nn.Tanh(), nn.Linear(16, 1))

    def run(seed):
        model = copy.deepcopy(base)
        history = fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=3, batch_size=10, seed=seed, progress=False)
        return history, state_copy(model)

    rng_before = torch.get_rng_state()
    h1, s1 = run(7)
    assert torch.equal(torch.get_rng_state(), rng_before), "fit(seed=...) must restore the global generator"
    h2, s2 = run(7)
    h3, s3 = run(8)
    assert h1.train_loss == h2.train_loss and states_equal(s1, s2)
    assert h1.train_loss != h3.train_loss and not states_equal(s1, s3)


def test_seed_also_fixes_dataloader_shuffling():
    x, y = linear_data(40)
    base = nn.Linear(3, 1)
    losses = []
    for seed in (5, 5, 6):
        loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True)
        losses.append(
            fit(copy.deepcopy(base), loader, loss_fn=nn.MSELoss(), epochs=2, seed=seed, progress=False).train_loss
        )
    assert losses[0] == losses[1] and losses[0] != losses[2]


def test_shuffle_false_is_order_independent_of_seed():
    x, y = linear_data(40)
    base = nn.Linear(3, 1)
    states = []
    for seed in (1, 2):
        model = copy.deepcopy(base)
        fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=2, batch_size=8, shuffle=False, seed=seed, progress=False)
        states.append(state_copy(model))
    assert states_equal(*states)


# --------------------------------------------------------------------------------------------
# Progress bar, History
# --------------------------------------------------------------------------------------------


def test_progress_bar_shows_losses_and_can_be_disabled(capsys):
    x, y = linear_data(16)
    fit(nn.Linear(3, 1), (x, y), loss_fn=nn.MSELoss(), epochs=2, val_data=(x, y), progress=True)
    err = capsys.readouterr().err
    assert "fit" in err and "2/2" in err and "train_loss=" in err and "val_loss=" in err
    fit(nn.Linear(3, 1), (x, y), loss_fn=nn.MSELoss(), epochs=2, progress=False)
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""


def test_progress_bar_counts_the_epoch_that_stopped_early(capsys):
    x, y = linear_data(16)
    xv, yv = linear_data(16, seed=1, slope=-2.0)  # validation that training makes worse at once
    history = fit(nn.Linear(3, 1), (x, y), loss_fn=nn.MSELoss(), epochs=50, lr=0.1, val_data=(xv, yv), patience=2)
    assert history.epochs_run < 50
    final = capsys.readouterr().err.split("\r")[-1]
    assert f"{history.epochs_run}/50" in final, final


def test_history_repr_is_short_and_informative():
    history = History(
        train_loss=[1.0, 0.5], val_loss=[1.2, 0.7], best_epoch=2, epochs_run=2, stop_reason="completed all 2 epochs"
    )
    text = repr(history)
    assert "best_epoch=2" in text and "val_loss=0.7" in text and "completed all 2 epochs" in text
    assert "\n" not in text and len(text) < 200


# --------------------------------------------------------------------------------------------
# predict
# --------------------------------------------------------------------------------------------


def test_predict_batches_in_eval_mode_without_grad():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 8), nn.Dropout(0.5), nn.Linear(8, 2))
    x = torch.randn(23, 3)
    out = predict(model, x, batch_size=5)
    assert out.shape == (23, 2) and out.device.type == "cpu" and not out.requires_grad
    model.eval()
    assert torch.allclose(out, model(x))
    assert not model.training
    with pytest.raises(TypeError, match="x: expected a torch.Tensor, got ndarray"):
        predict(model, np.zeros((3, 3)))


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


@pytest.fixture
def setup():
    x, y = linear_data(16)
    return nn.Linear(3, 1), x, y


def test_bad_epochs_and_numbers(setup):
    model, x, y = setup
    with pytest.raises(ValueError, match=r"epochs: expected an integer >= 1, got 0"):
        fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=0)
    with pytest.raises(TypeError, match="epochs"):
        fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=2.5)
    with pytest.raises(ValueError, match="lr: expected a number > 0"):
        fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=1, lr=0)
    with pytest.raises(ValueError, match="clip_grad_norm"):
        fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=1, clip_grad_norm=-1.0)
    with pytest.raises(ValueError, match="batch_size"):
        fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=1, batch_size=0)


def test_bad_data(setup):
    model, x, y = setup
    with pytest.raises(ValueError, match=r"train_data: x and y must have the same number of samples .* 16 and 15"):
        fit(model, (x, y[:15]), loss_fn=nn.MSELoss(), epochs=1)
    with pytest.raises(
        TypeError, match=r"train_data x: expected a torch.Tensor, got ndarray; convert it with torch.as_tensor"
    ):
        fit(model, (x.numpy(), y), loss_fn=nn.MSELoss(), epochs=1)
    with pytest.raises(TypeError, match="train_data: expected a DataLoader or a tuple"):
        fit(model, x, loss_fn=nn.MSELoss(), epochs=1)
    with pytest.raises(TypeError, match="val_data: expected a DataLoader or a tuple"):
        fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=1, val_data=(x, y, y))
    with pytest.raises(
        ValueError, match=r"train_data x: the tensors have different numbers of samples \(first dimensions \[16, 15\]\)"
    ):
        fit(model, ((x, x[:15]), y), loss_fn=nn.MSELoss(), epochs=1)
    with pytest.raises(TypeError, match=r"train_data x\[1\]: expected a torch.Tensor, got list"):
        fit(model, ((x, [1]), y), loss_fn=nn.MSELoss(), epochs=1)
    with pytest.raises(ValueError, match="at least one sample"):
        fit(model, (x[:0], y[:0]), loss_fn=nn.MSELoss(), epochs=1)
    bad_loader = DataLoader(TensorDataset(x, y, y), batch_size=4)
    with pytest.raises(TypeError, match=r"must yield \(inputs, targets\) pairs"):
        fit(model, bad_loader, loss_fn=nn.MSELoss(), epochs=1, progress=False)


def test_bad_options(setup):
    model, x, y = setup
    with pytest.raises(ValueError, match="optimizer: expected one of .*'adam'.* got 'adamm'"):
        fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=1, optimizer="adamm")
    with pytest.raises(TypeError, match="optimizer: the callable must return a torch.optim.Optimizer"):
        fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=1, optimizer=lambda p: None)
    with pytest.raises(ValueError, match="patience: .* needs val_data"):
        fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=1, patience=2)
    with pytest.raises(ValueError, match="metrics: .* need val_data"):
        fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=1, metrics={"m": lambda t, o: 0.0})
    with pytest.raises(TypeError, match="model: expected a torch.nn.Module"):
        fit(lambda v: v, (x, y), loss_fn=nn.MSELoss(), epochs=1)
    with pytest.raises(TypeError, match="loss_fn: expected a callable"):
        fit(model, (x, y), loss_fn="mse", epochs=1)
    with pytest.raises(ValueError, match="evaluate: give loss_fn, metrics or both"):
        evaluate(model, (x, y))


def test_model_returning_a_tuple_is_refused(setup):
    _, x, y = setup

    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(3, 1, batch_first=True)

        def forward(self, x):
            return self.rnn(x.unsqueeze(1))

    with pytest.raises(TypeError, match=r"return a single tensor, got tuple.*out, _ = self.rnn"):
        fit(Pair(), (x, y), loss_fn=nn.MSELoss(), epochs=1, progress=False)


def test_bad_loss_values(setup):
    model, x, y = setup
    with pytest.raises(TypeError, match="loss_fn: expected a scalar tensor .* shape \\(16, 1\\)"):
        fit(model, (x, y), loss_fn=nn.MSELoss(reduction="none"), epochs=1, batch_size=16, progress=False)
    with pytest.raises(ValueError, match="does not depend on the model's parameters"):
        fit(model, (x, y), loss_fn=lambda o, t: nn.functional.mse_loss(o.detach(), t), epochs=1, progress=False)
    assert math.isfinite(float(model.weight.detach().sum()))


def test_metrics_take_targets_first_like_seqnets_metrics():
    """fit's metrics use the (y_true, y_pred) order of seqnets.metrics and scikit-learn."""
    from seqnets.metrics import accuracy

    torch.manual_seed(0)
    x = torch.randn(64, 3)
    y = (x[:, 0] > 0).long()
    model = nn.Linear(3, 2)
    history = fit(
        model,
        (x, y),
        loss_fn=nn.CrossEntropyLoss(),
        epochs=30,
        lr=0.1,
        val_data=(x, y),
        metrics={"accuracy": accuracy},
        progress=False,
        seed=0,
    )
    assert history.metrics["accuracy"][-1] > 0.9


# --------------------------------------------------------------------------------------------
# Branches that a chapter rarely exercises
# --------------------------------------------------------------------------------------------


class PoisonLastStep(torch.optim.SGD):
    """SGD whose ``poison_at``-th step writes inf into the weights (an overflowing update)."""

    def __init__(self, params, poison_at: int):
        super().__init__(params, lr=0.01)
        self.poison_at, self.steps = poison_at, 0

    def step(self, closure=None):
        self.steps += 1
        super().step(closure)
        if self.steps == self.poison_at:
            with torch.no_grad():
                for group in self.param_groups:
                    for p in group["params"]:
                        p.fill_(float("inf"))


def test_non_finite_weights_are_never_taken_as_best():
    """Without validation data, the last step of an epoch may overflow the weights while the epoch's
    loss (computed before that step) is finite; those weights must not become the best ones."""
    torch.manual_seed(0)
    x, y = linear_data(64)
    model = nn.Linear(3, 1)
    # 4 batches per epoch: the 8th step is the last of epoch 2
    with pytest.warns(RuntimeWarning, match="weights became NaN or infinite") as record:
        history = fit(
            model,
            (x, y),
            loss_fn=nn.MSELoss(),
            epochs=3,
            batch_size=16,
            optimizer=lambda p: PoisonLastStep(p, poison_at=8),
            progress=False,
        )
    assert history.best_epoch == 1
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert "Restored the weights of epoch 1" in str(record[0].message)


def test_cuda_seed_goes_to_the_training_device(monkeypatch):
    """fit(seed=...) on cuda:1 seeds cuda:1's generator, not the current device's (cuda:0)."""
    from seqnets import train

    class FakeGenerator:
        def __init__(self):
            self.seed = None

        def manual_seed(self, seed):
            self.seed = seed

    generators = [FakeGenerator(), FakeGenerator()]
    monkeypatch.setattr(torch.cuda, "default_generators", generators)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    monkeypatch.setattr(torch.cuda, "manual_seed", lambda seed: generators[0].manual_seed(seed))
    train._seed_device(torch.device("cuda:1"), 7)
    assert generators[1].seed == 7 and generators[0].seed is None
    train._seed_device(torch.device("cuda"), 3)  # no index: the current device
    assert generators[0].seed == 3
    train._seed_device(torch.device("cpu"), 5)  # nothing to do
    assert generators[1].seed == 7


def test_fit_device_argument_moves_the_model_and_validates():
    x, y = linear_data(32)
    model = nn.Linear(3, 1).to(torch.float32)
    history = fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=2, device=torch.device("cpu"), progress=False)
    assert history.epochs_run == 2 and next(model.parameters()).device.type == "cpu"
    fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=1, device="cpu", progress=False)
    with pytest.raises(RuntimeError):
        fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=1, device="no_such_device", progress=False)


def test_fit_trains_on_the_meta_device_path_of_to():
    """The device argument really is used: a model on the CPU asked to train on 'meta' is moved
    there (meta tensors carry shapes only, so the loss cannot be read and fit fails loudly)."""
    x, y = linear_data(8)
    model = nn.Linear(3, 1)
    with pytest.raises((RuntimeError, NotImplementedError)):
        fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=1, device="meta", progress=False)
    assert next(model.parameters()).device.type == "meta"


def test_plateau_scheduler_gets_the_monitored_loss():
    """ReduceLROnPlateau is stepped with the validation loss: a model that cannot get near its
    validation targets has its learning rate cut after each flat epoch."""
    x, y = linear_data(32)
    model = nn.Linear(3, 1)
    model.weight.requires_grad_(False)
    frozen_bias = nn.Parameter(torch.zeros(1))
    model.bias = frozen_bias
    seen: list[float] = []

    class Recording(torch.optim.lr_scheduler.ReduceLROnPlateau):
        def step(self, metrics, *args, **kwargs):
            seen.append(float(metrics))
            return super().step(metrics, *args, **kwargs)

    xv, yv = x, torch.zeros_like(y) + 100.0  # far from anything a bias in a few steps reaches
    history = fit(
        model,
        (x, y),
        loss_fn=nn.MSELoss(),
        epochs=4,
        lr=1e-6,
        val_data=(xv, yv),
        progress=False,
        scheduler=lambda opt: Recording(opt, mode="min", factor=0.5, patience=0, threshold=0.5),
    )
    assert seen == pytest.approx(history.val_loss)
    # epoch 1 sets the best; each later flat epoch halves the rate for the next one
    assert history.lr == pytest.approx([1e-6, 1e-6, 0.5e-6, 0.25e-6])


def test_min_delta_ignores_small_improvements():
    """With min_delta larger than every epoch's improvement, no epoch after the first counts as
    better, so patience runs out and the first epoch's weights are kept."""
    torch.manual_seed(0)
    x, y = linear_data(64)
    model = nn.Linear(3, 1)
    snapshots: list[dict[str, torch.Tensor]] = []
    history = fit(
        model,
        (x, y),
        loss_fn=nn.MSELoss(),
        epochs=20,
        lr=1e-3,
        val_data=(x, y),
        patience=2,
        min_delta=1e6,
        metrics={"snap": snapshot_metric(snapshots, model)},
        progress=False,
    )
    assert history.val_loss[1] < history.val_loss[0], "the loss did improve, by less than min_delta"
    assert history.best_epoch == 1 and history.epochs_run == 3
    assert states_equal(state_copy(model), snapshots[0])
    plain = fit(
        nn.Linear(3, 1), (x, y), loss_fn=nn.MSELoss(), epochs=3, lr=1e-3, val_data=(x, y), patience=2, progress=False
    )
    assert plain.best_epoch == 3, "without min_delta the same small improvements count"


def test_eval_batch_size_sets_the_validation_batches():
    class Sizes(nn.Linear):
        def __init__(self):
            super().__init__(3, 1)
            self.eval_sizes: list[int] = []

        def forward(self, x):
            if not self.training:
                self.eval_sizes.append(x.shape[0])
            return super().forward(x)

    x, y = linear_data(50)
    model = Sizes()
    fit(
        model,
        (x, y),
        loss_fn=nn.MSELoss(),
        epochs=1,
        batch_size=10,
        val_data=(x, y),
        eval_batch_size=20,
        progress=False,
    )
    assert model.eval_sizes == [20, 20, 10]
    model.eval_sizes.clear()
    fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=1, batch_size=10, val_data=(x, y), progress=False)
    assert model.eval_sizes == [50], "default: max(batch_size, 256) samples per validation batch"
    with pytest.raises(ValueError, match="eval_batch_size"):
        fit(model, (x, y), loss_fn=nn.MSELoss(), epochs=1, val_data=(x, y), eval_batch_size=0, progress=False)
