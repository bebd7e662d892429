"""Tests of seqnets.attacks: FGSM and PGD in the L-infinity ball, and accuracy under attack."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqnets.attacks import fgsm, pgd, robust_accuracy


def small_cnn(seed: int = 0) -> nn.Module:
    """A convolution, batch norm and dropout: every piece whose behaviour depends on the mode."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(4 * 6 * 6, 3),
    )


def batch(n: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, 6, 6, generator=g), torch.randint(0, 3, (n,), generator=g)


@pytest.fixture(scope="module")
def trained() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A small MLP fitted to points in [0, 1]^2 labelled by whether they lie in a central disc.

    The boundary is curved, so one step along the gradient's sign can overshoot where several
    smaller steps follow it: PGD is then strictly stronger than FGSM, not merely equal.
    """
    g = torch.Generator().manual_seed(0)
    x = torch.rand(400, 2, generator=g)
    y = (((x - 0.5) ** 2).sum(1) < 0.08).long()
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(2, 32),
        nn.Tanh(),
        nn.Linear(32, 32),
        nn.Tanh(),
        nn.Linear(32, 2),
    )
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(500):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    return model, x, y


@pytest.mark.parametrize("attack", [fgsm, pgd])
@pytest.mark.parametrize("eps", [0.05, 0.3])
def test_perturbation_stays_within_eps_and_the_clamp(attack, eps):
    model = small_cnn()
    x, y = batch()
    x_adv = attack(model, x, y, eps)
    assert x_adv.shape == x.shape and x_adv.dtype == x.dtype
    assert not x_adv.requires_grad
    assert (x_adv - x).abs().max() <= eps + 1e-6
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0
    assert (x_adv - x).abs().max() > eps / 2, "the attack should use its budget"
    x_wide = attack(model, x, y, eps, clamp=(-1.0, 2.0))
    assert x_wide.min() >= -1.0 and x_wide.max() <= 2.0


def test_without_clamp_fgsm_moves_every_value_by_eps():
    model = small_cnn()
    x, y = batch()
    x_adv = fgsm(model, x, y, 0.1, clamp=None)
    grad_zero = x_adv == x  # only where the gradient is exactly zero
    moved = (x_adv - x).abs()[~grad_zero]
    assert torch.allclose(moved, torch.full_like(moved, 0.1), atol=1e-6)
    assert grad_zero.float().mean() < 0.5


@pytest.mark.parametrize("attack", [fgsm, pgd])
def test_eps_zero_returns_the_input(attack):
    model = small_cnn()
    x, y = batch()
    assert torch.equal(attack(model, x, y, 0.0), x)


def test_fgsm_raises_the_loss_of_a_linear_model_for_every_sample():
    """Cross-entropy of a linear model is convex in x, so a step along the gradient's sign raises it
    by at least eps * |grad|_1 > 0, sample by sample."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(36, 3))
    x, y = batch(32)
    x_adv = fgsm(model, x, y, 0.05, clamp=None)
    with torch.no_grad():
        before = F.cross_entropy(model(x), y, reduction="none")
        after = F.cross_entropy(model(x_adv), y, reduction="none")
    assert (after > before).all()


def test_pgd_is_at_least_as_strong_as_fgsm_on_a_trained_model(trained):
    model, x, y = trained
    clean = robust_accuracy(model, x, y, fgsm, eps=0.0)
    one_step = robust_accuracy(model, x, y, fgsm, eps=0.2)
    gen = torch.Generator().manual_seed(0)
    many = robust_accuracy(model, x, y, pgd, eps=0.2, steps=20, generator=gen)
    assert clean > 0.95
    assert one_step < clean - 0.1, "FGSM lowers the accuracy"
    assert many <= one_step, f"PGD {many} should not be weaker than FGSM {one_step}"
    with torch.no_grad():
        loss_fgsm = F.cross_entropy(model(fgsm(model, x, y, 0.2)), y)
        loss_pgd = F.cross_entropy(model(pgd(model, x, y, 0.2, steps=20, generator=gen)), y)
    assert loss_pgd > loss_fgsm


def test_pgd_random_start_repeats_with_a_generator_and_can_be_switched_off():
    model = small_cnn()
    x, y = batch()
    a = pgd(model, x, y, 0.1, steps=3, generator=torch.Generator().manual_seed(1))
    b = pgd(model, x, y, 0.1, steps=3, generator=torch.Generator().manual_seed(1))
    c = pgd(model, x, y, 0.1, steps=3, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    # without a random start, one step of size eps is FGSM
    one = pgd(model, x, y, 0.1, steps=1, step_size=0.1, random_start=False)
    assert torch.equal(one, fgsm(model, x, y, 0.1))


@pytest.mark.parametrize("attack", [fgsm, pgd])
def test_model_parameters_grads_buffers_and_mode_are_untouched(attack):
    model = small_cnn()
    model.train()
    model[4].eval()  # a submodule deliberately in eval mode stays so
    for p in model.parameters():
        p.grad = torch.full_like(p, 7.0)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    x, y = batch()
    attack(model, x, y, 0.1)
    assert model.training and not model[4].training and model[1].training
    for (
        k,
        v,
    ) in model.state_dict().items():  # batch-norm statistics too: the attack ran in eval mode
        assert torch.equal(v, state[k]), k
    assert all(torch.equal(p.grad, torch.full_like(p, 7.0)) for p in model.parameters())


def test_attack_is_computed_in_eval_mode():
    """With dropout active the gradient would be random; in eval mode two calls agree exactly."""
    model = small_cnn().train()
    x, y = batch()
    assert torch.equal(fgsm(model, x, y, 0.1), fgsm(model, x, y, 0.1))


def test_attack_works_inside_no_grad():
    """An evaluation loop often runs under torch.no_grad(); the attack still needs its gradient."""
    model = small_cnn()
    x, y = batch()
    with torch.no_grad():
        inside = pgd(model, x, y, 0.1, steps=2, random_start=False)
    assert torch.equal(inside, pgd(model, x, y, 0.1, steps=2, random_start=False))
    assert not torch.equal(inside, x)


def test_float64_inputs_and_a_custom_loss():
    model = small_cnn().double()
    x, y = batch()
    x = x.double()
    target = torch.zeros(len(x), 3, dtype=torch.float64)
    x_adv = pgd(model, x, target, 0.1, steps=2, loss_fn=F.mse_loss)
    assert x_adv.dtype == torch.float64 and x_adv.shape == x.shape


def test_robust_accuracy_does_not_depend_on_the_batch_size(trained):
    model, x, y = trained
    whole = robust_accuracy(model, x, y, fgsm, eps=0.1, batch_size=1000)
    assert robust_accuracy(model, x, y, fgsm, eps=0.1, batch_size=7) == whole
    logits = model(fgsm(model, x, y, 0.1))
    assert whole == (logits.argmax(1) == y).sum().item() / len(y)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"eps": -0.1}, ValueError, r"eps: expected a number >= 0, got -0.1"),
        ({"eps": float("nan")}, ValueError, "eps"),
        (
            {"eps": 0.1, "clamp": (1.0, 0.0)},
            ValueError,
            r"clamp: expected low < high, got \(1, 0\)",
        ),
        ({"eps": 0.1, "clamp": (0.0,)}, TypeError, "clamp: expected a pair"),
        ({"eps": 0.1, "clamp": (0.0, 0.5)}, ValueError, r"x: expected values in clamp=\(0, 0.5\)"),
        ({"eps": 0.1, "loss_fn": "mse"}, TypeError, "loss_fn: expected a callable"),
    ],
)
@pytest.mark.parametrize("attack", [fgsm, pgd])
def test_invalid_arguments_are_named(attack, kwargs, error, match):
    x, y = batch()
    with pytest.raises(error, match=match):
        attack(small_cnn(), x, y, **kwargs)


def test_invalid_tensors_and_pgd_settings_are_named():
    model = small_cnn()
    x, y = batch()
    with pytest.raises(TypeError, match="model: expected a torch.nn.Module"):
        fgsm(lambda t: t, x, y, 0.1)
    with pytest.raises(TypeError, match="x: expected a floating-point tensor"):
        fgsm(model, (x * 255).long(), y, 0.1)
    with pytest.raises(ValueError, match=r"y: expected one target per input, first dimension 16"):
        fgsm(model, x, y[:-1], 0.1)
    with pytest.raises(ValueError, match="steps: expected an integer >= 1, got 0"):
        pgd(model, x, y, 0.1, steps=0)
    with pytest.raises(ValueError, match="step_size"):
        pgd(model, x, y, 0.1, step_size=0.0)
    with pytest.raises(TypeError, match="random_start: expected a bool"):
        pgd(model, x, y, 0.1, random_start=1)
    with pytest.raises(TypeError, match="generator: expected a torch.Generator"):
        pgd(model, x, y, 0.1, generator=0)
    with pytest.raises(ValueError, match="x, y: expected the same number of samples"):
        robust_accuracy(model, x, y[:-1], eps=0.1)
    with pytest.raises(TypeError, match="attack: expected a callable"):
        robust_accuracy(model, x, y, "fgsm", eps=0.1)


@pytest.mark.parametrize("attack", [fgsm, pgd])
def test_non_scalar_loss_is_named(attack):
    x, y = batch()
    per_sample = lambda out, target: F.cross_entropy(out, target, reduction="none")  # noqa: E731
    with pytest.raises(TypeError, match="loss_fn: expected a scalar tensor"):
        attack(small_cnn(), x, y, 0.1, loss_fn=per_sample)


@pytest.mark.parametrize("attack", [fgsm, pgd])
def test_zero_dimensional_x_and_y_are_named(attack):
    model = nn.Linear(1, 3)
    with pytest.raises(ValueError, match="x: expected a batch .* got a 0-D tensor"):
        attack(model, torch.tensor(0.5), torch.tensor(1), 0.1)
    with pytest.raises(ValueError, match=r"y: expected one target per input, first dimension 4, got shape \(\)"):
        attack(model, torch.rand(4, 1), torch.tensor(1), 0.1)


@pytest.mark.parametrize("attack", [fgsm, pgd])
@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_inputs_are_refused(attack, bad):
    """NaN compares false with both ends of the range, so the range check alone would let it pass
    and the attack would return NaN."""
    x, y = batch()
    x[3, 0, 2, 2] = bad
    with pytest.raises(ValueError, match="x: expected finite values, got NaN or infinity"):
        attack(small_cnn(), x, y, 0.1)
    with pytest.raises(ValueError, match="x: expected finite values"):
        attack(small_cnn(), x, y, 0.1, clamp=None)


class Constant(nn.Module):
    """Logits that ignore the input: a trained bias, or a constant without any parameter."""

    def __init__(self, trainable: bool) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(3), requires_grad=trainable)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bias.expand(len(x), 3)


@pytest.mark.parametrize("attack", [fgsm, pgd])
@pytest.mark.parametrize("trainable", [True, False])
def test_a_model_that_ignores_its_input_is_named(attack, trainable):
    x, y = batch()
    with pytest.raises(ValueError, match="model: expected outputs that depend on x"):
        attack(Constant(trainable), x, y, 0.1)


@pytest.mark.parametrize("fill", [0.0, 1.0])
def test_pgd_random_start_at_the_ends_of_the_range(fill):
    """Inputs exactly at 0 or 1: half the noise points out of the range and is clipped back."""
    model = small_cnn()
    x = torch.full((16, 1, 6, 6), fill)
    _, y = batch()
    start = pgd(model, x, y, 0.2, steps=1, step_size=1e-9, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(start).all()
    assert start.min() >= 0.0 and start.max() <= 1.0
    assert (start - x).abs().max() <= 0.2 + 1e-6
    on_the_end = (start - x).abs() < 1e-6
    assert 0.4 < on_the_end.float().mean() < 0.6, "about half the values start on the end"
    x_adv = pgd(model, x, y, 0.2, generator=torch.Generator().manual_seed(0))
    assert x_adv.min() >= 0.0 and x_adv.max() <= 1.0 and (x_adv - x).abs().max() <= 0.2 + 1e-6


@pytest.mark.parametrize("attack", [fgsm, pgd])
def test_x_is_not_modified_in_place(attack):
    x, y = batch()
    x.requires_grad_(True)  # an input that is itself part of a graph
    before = x.detach().clone()
    x_adv = attack(small_cnn(), x, y, 0.1)
    assert torch.equal(x.detach(), before) and x.grad is None
    assert not torch.equal(x_adv, before) and not x_adv.requires_grad
