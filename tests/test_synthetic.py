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


# --------------------------------------------------------------------------------------------
# copy memory
# --------------------------------------------------------------------------------------------

from seqnets.data.synthetic import copy_memory, copy_memory_baseline  # noqa: E402


def test_copy_memory_layout_follows_bai_et_al():
    T = 15
    x, y = copy_memory(200, T, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (200, T + 20) and x.dtype == y.dtype == torch.long
    digits = x[:, :10]
    assert ((digits >= 1) & (digits <= 8)).all()
    assert (x[:, 10 : T + 9] == 0).all(), "T - 1 blanks"
    assert (x[:, T + 9 :] == 9).all(), "the marker, then 10 more 9s"
    assert (y[:, : T + 10] == 0).all() and torch.equal(y[:, T + 10 :], digits)
    assert set(digits.unique().tolist()) == set(range(1, 9))


def test_copy_memory_baseline_is_the_best_memoryless_cross_entropy():
    # the memoryless predictor: blank with certainty until the marker, then uniform over 1..8
    T = 30
    _, y = copy_memory(50, T, torch.Generator().manual_seed(1))
    logits = torch.full((50, T + 20, 10), -1e9)
    logits[:, : T + 10, 0] = 0.0
    logits[:, T + 10 :, 1:9] = 0.0
    ce = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten()).item()
    assert ce == pytest.approx(copy_memory_baseline(T), rel=1e-6)
    assert copy_memory_baseline(1000) == pytest.approx(10 * torch.log(torch.tensor(8.0)).item() / 1020)


def test_copy_memory_is_seeded_and_rejects_bad_input():
    a = copy_memory(4, 5, torch.Generator().manual_seed(2))
    b = copy_memory(4, 5, torch.Generator().manual_seed(2))
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    with pytest.raises(ValueError, match="length: expected an integer >= 1, got 0"):
        copy_memory(4, 0)
    with pytest.raises(TypeError, match="generator"):
        copy_memory(4, 5, generator=3)
    with pytest.raises(TypeError, match="length"):
        copy_memory_baseline(2.5)
