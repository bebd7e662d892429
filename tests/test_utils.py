"""Tests of seqnets.utils: seeds, devices, parameter counts, shape and value checks, timing."""

from __future__ import annotations

import random
import time

import numpy as np
import pytest
import torch
from torch import nn

from seqnets.utils import (
    Timer,
    check_positive_int,
    check_shape,
    check_tensor,
    count_parameters,
    pick_device,
    seed_everything,
)


def draw():
    return random.random(), float(np.random.rand())  # noqa: NPY002 (the global generator seed_everything seeds), float(torch.rand(()))


def test_seed_everything_repeats_python_numpy_and_torch():
    seed_everything(123)
    first = draw()
    seed_everything(123)
    assert draw() == first
    seed_everything(124)
    assert all(a != b for a, b in zip(draw(), first, strict=True))


def test_seed_everything_makes_model_init_and_dropout_repeat():
    def run():
        seed_everything(0)
        model = nn.Sequential(nn.Linear(4, 8), nn.Dropout(0.5))
        return model(torch.ones(2, 4))

    assert torch.equal(run(), run())


def test_seed_everything_bad_seed():
    with pytest.raises(ValueError, match="seed: expected an integer >= 0, got -1"):
        seed_everything(-1)
    with pytest.raises(TypeError, match="seed: expected an integer"):
        seed_everything("0")
    state = random.getstate()
    with pytest.raises(ValueError, match=r"seed: expected an int in \[0, 2\*\*32\)"):
        seed_everything(2**32)
    assert random.getstate() == state, "a refused seed must not reseed any generator"


def test_pick_device():
    assert pick_device("cpu") == torch.device("cpu")
    assert isinstance(pick_device(), torch.device)
    if torch.cuda.is_available():
        assert pick_device().type == "cuda"
        with pytest.raises(ValueError, match="not available"):
            pick_device(f"cuda:{torch.cuda.device_count()}")
    else:
        with pytest.raises(ValueError, match=r"prefer: device 'cuda' is not available on this machine"):
            pick_device("cuda")
    with pytest.raises(RuntimeError):
        pick_device("not-a-device")


def test_count_parameters_trainable_and_all():
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))  # 16 + 10
    assert count_parameters(model) == 26
    for p in model[0].parameters():
        p.requires_grad_(False)
    assert count_parameters(model) == 10
    assert count_parameters(model, trainable_only=False) == 26
    rnn = nn.LSTM(5, 7)  # 4 gates * (7*5 + 7*7 + 7 + 7)
    assert count_parameters(rnn) == 4 * (35 + 49 + 14)
    with pytest.raises(TypeError, match="model: expected a torch.nn.Module"):
        count_parameters([torch.zeros(3)])


def test_check_shape():
    x = torch.zeros(4, 10, 3)
    assert check_shape(x, (4, None, 3), "x") is x
    with pytest.raises(ValueError, match=r"x: expected shape \(4, \*, 2\), got \(4, 10, 3\)"):
        check_shape(x, (4, None, 2), "x")
    with pytest.raises(ValueError, match=r"h: expected shape \(4, 10\), got \(4, 10, 3\)"):
        check_shape(x, (4, 10), "h")
    with pytest.raises(TypeError, match="x: expected a torch.Tensor, got ndarray"):
        check_shape(np.zeros((4, 10, 3)), (4, 10, 3))
    for bad in (3, (4, 10.0, 3), (4, "10", 3), (4, -1, 3)):
        with pytest.raises(TypeError, match="shape: expected a sequence of sizes"):
            check_shape(x, bad)


def test_check_tensor():
    x = torch.zeros(2, 3)
    assert check_tensor(x, "x", ndim=2) is x
    assert check_tensor(x, "x", ndim=(2, 3), floating=True) is x
    with pytest.raises(ValueError, match=r"x: expected a 3-D tensor, got shape \(2, 3\)"):
        check_tensor(x, "x", ndim=3)
    with pytest.raises(ValueError, match="x: expected a 1-D or 3-D tensor"):
        check_tensor(x, "x", ndim=[1, 3])
    with pytest.raises(TypeError, match="x: expected a floating-point tensor, got dtype torch.int64"):
        check_tensor(torch.zeros(2, dtype=torch.long), "x", floating=True)
    with pytest.raises(TypeError, match="y: expected a torch.Tensor, got list"):
        check_tensor([1.0], "y")


def test_check_positive_int():
    assert check_positive_int(3, "n") == 3
    assert check_positive_int(np.int64(3), "n") == 3 and type(check_positive_int(np.int64(3), "n")) is int
    assert check_positive_int(0, "n", minimum=0) == 0
    with pytest.raises(ValueError, match="epochs: expected an integer >= 1, got 0"):
        check_positive_int(0, "epochs")
    with pytest.raises(TypeError, match="epochs: expected an integer >= 1, got bool True"):
        check_positive_int(True, "epochs")
    with pytest.raises(TypeError, match="epochs: expected an integer >= 1, got float 2.0"):
        check_positive_int(2.0, "epochs")


def test_timer_measures_elapsed_time():
    with Timer() as t:
        time.sleep(0.02)
    assert 0.015 < t.elapsed < 2.0
    assert "elapsed=" in repr(t)


@pytest.mark.parametrize(
    "value,bounds,error,match",
    [
        (1.0, dict(low=0, high=1, high_open=True), ValueError, r"dropout: expected a number in \[0, 1\), got 1.0"),
        (-0.1, dict(low=0, high=1, high_open=True), ValueError, r"in \[0, 1\), got -0.1"),
        (0, dict(low=0, low_open=True), ValueError, r"expected a number > 0, got 0"),
        (float("nan"), {}, ValueError, "expected a finite number, got nan"),
        (float("inf"), dict(low=0), ValueError, "expected a number >= 0, got inf"),
        (2.5, dict(high=2), ValueError, "expected a number <= 2, got 2.5"),
        (1.0, dict(low=0, high=1, low_open=True), None, None),
        ("0.1", {}, TypeError, "dropout: expected a finite number, got str '0.1'"),
        (True, dict(low=0), TypeError, "got bool True"),
        (np.bool_(True), {}, TypeError, "got bool"),
        (torch.tensor(0.5), {}, TypeError, "got Tensor"),
    ],
)
def test_check_number(value, bounds, error, match):
    from seqnets.utils import check_number

    if error is None:
        assert check_number(value, "dropout", **bounds) == value
        return
    with pytest.raises(error, match=match):
        check_number(value, "dropout", **bounds)


def test_check_number_accepts_numpy_scalars_and_returns_float():
    from seqnets.utils import check_number

    out = check_number(np.float32(0.25), "p", low=0, high=1)
    assert type(out) is float and out == 0.25
    assert check_number(np.int64(3), "n", low=0) == 3.0


def test_training_mode_restores_the_mode_even_after_an_error():
    from seqnets.utils import training_mode

    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5)).eval()
    with pytest.raises(RuntimeError):
        with training_mode(model, True):
            assert model.training and model[1].training
            raise RuntimeError("boom")
    assert not model.training and not model[1].training


def test_training_mode_restores_each_submodules_own_mode():
    from seqnets.utils import training_mode

    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2), nn.Dropout(0.5))
    model[1].eval()  # a frozen batch norm inside a model that trains
    for inner in (True, False):
        with training_mode(model, inner):
            assert all(m.training is inner for m in model.modules())
        assert model.training and not model[1].training and model[2].training


def test_check_bool():
    from seqnets.utils import check_bool

    assert check_bool(False, "flip") is False
    with pytest.raises(TypeError, match="flip: expected a bool, got int 1"):
        check_bool(1, "flip")
