import pytest
import torch

from seqnets.data.synthetic import adding_problem


def test_adding_problem_marks_one_number_in_each_half_and_sums_them():
    x, y = adding_problem(500, 20, torch.Generator().manual_seed(0))
    assert x.shape == (500, 20, 2) and y.shape == (500, 1)
    values, markers = x[..., 0], x[..., 1]
    assert torch.equal(markers[:, :10].sum(1), torch.ones(500))
    assert torch.equal(markers[:, 10:].sum(1), torch.ones(500))
    assert torch.allclose(y[:, 0], (values * markers).sum(1))
    assert ((values >= 0) & (values < 1)).all()
    # predicting the mean (1) gives MSE near 1/6, the task's baseline
    assert abs(((y - 1) ** 2).mean().item() - 1 / 6) < 0.03


def test_adding_problem_repeats_with_a_seeded_generator_and_leaves_global_state():
    state = torch.random.get_rng_state()
    a = adding_problem(8, 10, torch.Generator().manual_seed(3))
    b = adding_problem(8, 10, torch.Generator().manual_seed(3))
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert torch.equal(state, torch.random.get_rng_state())


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n": 0, "length": 10}, ValueError, "n: expected an integer >= 1, got 0"),
        ({"n": 4, "length": 1}, ValueError, "length: expected an integer >= 2, got 1"),
        ({"n": 4, "length": 10.0}, TypeError, "length"),
        ({"n": 4, "length": 10, "generator": 0}, TypeError, "generator: expected a torch.Generator"),
    ],
)
def test_adding_problem_rejects_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        adding_problem(**kwargs)
