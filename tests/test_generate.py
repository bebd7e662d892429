"""Tests of CharLM (causality, incremental steps, training) and of seqnets.generate.generate."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from seqnets.data.text import next_token_windows
from seqnets.generate import generate
from seqnets.models.recurrent import BACKBONES, CharLM
from seqnets.train import fit

V = 11


def make(backbone: str, **kwargs) -> CharLM:
    torch.manual_seed(0)
    extra = {"levels": 3, "kernel_size": 2} if backbone == "tcn" else {}  # receptive field 15
    return CharLM(V, 12, backbone=backbone, embedding_dim=5, **extra, **kwargs).eval()


class ForwardOnly(nn.Module):
    """A CharLM seen through its forward pass only, so generate must re-read the text each step."""

    def __init__(self, model: CharLM, window: bool = True) -> None:
        super().__init__()
        self.model = model
        self.calls: list[int] = []  # length of every input generate passed in
        if window:
            self.receptive_field = model.receptive_field

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(x.shape[1])
        return self.model(x)


def first_changed_output(model: nn.Module, x: torch.Tensor, t: int) -> int | None:
    """Change every input after step t; return the first output step <= t that moved, or None."""
    other = x.clone()
    other[:, t + 1 :] = (other[:, t + 1 :] + 1 + torch.arange(other.shape[1] - t - 1)) % V
    with torch.no_grad():
        moved = (model(x) - model(other)).abs().amax(dim=(0, 2)) > 0  # (T,)
    hits = moved[: t + 1].nonzero()
    return int(hits[0]) if len(hits) else None


# --------------------------------------------------------------------------------------------
# CharLM
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("backbone", BACKBONES)
@pytest.mark.parametrize("num_layers", [1, 2])
def test_every_language_model_is_causal(backbone, num_layers):
    model = make(backbone, num_layers=num_layers)
    x = torch.randint(V, (3, 40), generator=torch.Generator().manual_seed(1))
    for t in range(0, 39, 3):
        assert first_changed_output(model, x, t) is None, f"{backbone}: an output <= {t} moved"
    # ... and the outputs after t do move, so the check compares something.
    assert (model(x)[:, 1:] != model(torch.roll(x, 1, dims=1))[:, 1:]).any()


def test_causality_check_can_fail():
    class Peeking(nn.Module):  # reads the next token: not causal
        def forward(self, x):
            return F.one_hot(torch.roll(x, -1, dims=1), V).float()

    assert first_changed_output(Peeking(), torch.randint(V, (2, 10)), 4) == 4


@pytest.mark.parametrize("backbone", BACKBONES)
def test_forward_shape_and_step_equals_forward(backbone):
    model = make(backbone)
    x = torch.randint(V, (4, 50))
    logits = model(x)
    assert logits.shape == (4, 50, V)
    pieces, state = [], None
    for start, stop in [(0, 20), (20, 21), (21, 45), (45, 50)]:  # a single step among them
        out, state = model.step(x[:, start:stop], state)
        pieces.append(out)
    torch.testing.assert_close(torch.cat(pieces, dim=1), logits, rtol=0, atol=1e-5)


def test_tcn_state_is_the_receptive_field_and_lstm_state_is_h_c():
    tcn = make("tcn")
    assert tcn.receptive_field == 1 + 2 * (2 - 1) * (2**3 - 1)
    _, state = tcn.step(torch.randint(V, (2, 40)))
    assert state.shape == (2, tcn.receptive_field - 1)
    _, short = tcn.step(torch.randint(V, (2, 3)))
    assert short.shape == (2, 3)
    lstm = make("lstm", num_layers=2)
    assert lstm.receptive_field is None
    _, (h, c) = lstm.step(torch.randint(V, (2, 5)))
    assert h.shape == c.shape == (2, 2, 12)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"vocab_size": 1}, ValueError, "vocab_size: expected an integer >= 2"),
        ({"backbone": "transformer"}, ValueError, "backbone: expected one of"),
        ({"levels": 3}, ValueError, "levels: only backbone='tcn'"),
        ({"embedding_dim": 0}, ValueError, "embedding_dim"),
        ({"dropout": 1.0}, ValueError, "dropout"),
        ({"bidirectional": True}, TypeError, "unexpected keyword"),
    ],
)
def test_bad_constructor_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        CharLM(**{"vocab_size": V, **kwargs})


def test_bad_token_inputs():
    model = make("gru")
    with pytest.raises(TypeError, match="x: expected integer token ids"):
        model(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="x: expected a 2-D tensor"):
        model(torch.zeros(5, dtype=torch.long))
    out_of_range = rf"x: expected token ids in \[0, {V - 1}\], got values in 0..{V}"
    with pytest.raises(ValueError, match=out_of_range):
        model(torch.tensor([[0, V]]))
    with pytest.raises(ValueError, match="x: expected at least one time step"):
        model(torch.zeros(2, 0, dtype=torch.long))
    with pytest.raises(ValueError, match="state: expected 2 rows like x"):
        make("tcn").step(torch.zeros(2, 3, dtype=torch.long), torch.zeros(3, 4, dtype=torch.long))


def test_bad_recurrent_states():
    x = torch.zeros(2, 3, dtype=torch.long)
    lstm, gru = make("lstm", num_layers=2), make("gru")
    h = torch.zeros(2, 2, 12)
    with pytest.raises(TypeError, match=r"state: expected a tuple \(h, c\) .* got Tensor"):
        lstm.step(x, h)
    with pytest.raises(TypeError, match="got tuple of 3"):
        lstm.step(x, (h, h, h))
    with pytest.raises(ValueError, match=r"\(2, 2, 12\).* got shape \(2, 2, 12\), \(2, 3, 12\)"):
        lstm.step(x, (h, torch.zeros(2, 3, 12)))
    with pytest.raises(TypeError, match=r"state: expected a tensor of shape \(1, 2, 12\)"):
        gru.step(x, (h[:1], h[:1]))
    with pytest.raises(ValueError, match=r"got shape \(1, 3, 12\)"):
        gru.step(x, torch.zeros(1, 3, 12))
    with pytest.raises(TypeError, match=r"state: expected tensors of dtype torch.float32 .*float64"):
        lstm.step(x, (h.double(), h.double()))
    with pytest.raises(TypeError, match="dtype torch.float32 on cpu like the model's parameters"):
        gru.step(x, h[:1].half())
    _, state = lstm.step(x)
    lstm.step(x, state)  # a state the model returned is accepted


@pytest.mark.parametrize("dtype", [torch.uint8, torch.int8, torch.int16, torch.int32])
def test_any_integer_dtype_is_read_as_int64(dtype):
    for backbone in ["lstm", "tcn"]:
        model = make(backbone)
        torch.testing.assert_close(model(PROMPT.to(dtype)), model(PROMPT), rtol=0, atol=0)
        out = generate(model, PROMPT.to(dtype), 10, seed=0)
        assert out.dtype == torch.long and torch.equal(out, generate(model, PROMPT, 10, seed=0))
    _, state = make("tcn").step(PROMPT)
    make("tcn").step(PROMPT, state.to(dtype))  # the TCN's state of ids, too


@pytest.mark.parametrize("backbone", ["lstm", "tcn"])
def test_fit_trains_a_language_model_to_continue_a_pattern(backbone):
    pattern = torch.arange(2, 7).repeat(60)  # 2 3 4 5 6 2 3 ...: every next token is certain
    x, y = next_token_windows(pattern, 20, stride=7)  # windows start at every phase
    model = make(backbone)

    def loss_fn(logits, target):
        return F.cross_entropy(logits.flatten(0, 1), target.flatten())

    history = fit(model, (x, y), loss_fn=loss_fn, epochs=40, batch_size=4, lr=2e-2, progress=False)
    assert history.train_loss[-1] < 0.05 * history.train_loss[0]
    continued = generate(model, torch.tensor([4, 5]), steps=10, temperature=0)
    assert continued.tolist() == [4, 5, 6, 2, 3, 4, 5, 6, 2, 3, 4, 5]


# --------------------------------------------------------------------------------------------
# generate
# --------------------------------------------------------------------------------------------


PROMPT = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8]])


@pytest.mark.parametrize("backbone", BACKBONES)
def test_incremental_generation_equals_rereading_the_prefix(backbone):
    model = make(backbone)
    for kwargs in [{"temperature": 0}, {"temperature": 1.0, "seed": 3}, {"top_k": 4, "seed": 4}]:
        fast = generate(model, PROMPT, 30, **kwargs)
        slow = generate(ForwardOnly(model, window=False), PROMPT, 30, **kwargs)
        assert torch.equal(fast, slow), (backbone, kwargs)


def test_rereading_is_cropped_to_the_receptive_field():
    model = make("tcn")
    wrapped = ForwardOnly(model)
    out = generate(wrapped, PROMPT, 30, seed=0)
    r = model.receptive_field
    assert wrapped.calls[0] == 4 and max(wrapped.calls) == r and len(wrapped.calls) == 30
    assert torch.equal(out, generate(model, PROMPT, 30, seed=0))  # cropping loses nothing


@pytest.mark.parametrize("backbone", ["lstm", "tcn"])
def test_a_seed_repeats_and_different_seeds_differ(backbone):
    model = make(backbone)
    a = generate(model, PROMPT, 40, seed=7)
    assert torch.equal(a, generate(model, PROMPT, 40, seed=7))
    assert torch.equal(a, generate(model, PROMPT, 40, seed=torch.Generator().manual_seed(7)))
    assert not torch.equal(a, generate(model, PROMPT, 40, seed=8))
    generate(model, PROMPT, 3, seed=2**64 - 1)  # the largest seed a generator takes
    torch.manual_seed(0)  # seed=None follows torch's global generator
    b = generate(model, PROMPT, 40)
    torch.manual_seed(0)
    assert torch.equal(b, generate(model, PROMPT, 40))


def test_a_generator_is_advanced_not_reset():
    model = make("gru")
    g = torch.Generator().manual_seed(0)
    first, second = generate(model, PROMPT, 20, seed=g), generate(model, PROMPT, 20, seed=g)
    assert not torch.equal(first, second)


@pytest.mark.parametrize("backbone", ["rnn", "tcn"])
def test_cold_and_top_1_sampling_are_greedy(backbone):
    model = make(backbone)
    greedy = generate(model, PROMPT, 40, temperature=0)
    # greedy really is the argmax of the model's logits at every step
    logits = model(greedy[:, :-1])[:, PROMPT.shape[1] - 1 :]
    assert torch.equal(greedy[:, PROMPT.shape[1] :], logits.argmax(-1))
    assert torch.equal(generate(model, PROMPT, 40, temperature=1e-6, seed=1), greedy)
    assert torch.equal(generate(model, PROMPT, 40, top_k=1, temperature=2.0, seed=2), greedy)
    assert not torch.equal(generate(model, PROMPT, 40, temperature=1.0, seed=1), greedy)


def test_top_k_draws_only_among_the_k_most_likely():
    class Fixed(nn.Module):  # the same distribution at every step: token 0 most likely, then 1, ...
        def __init__(self):
            super().__init__()
            self.logits = nn.Parameter(-torch.arange(V, dtype=torch.float32))

        def forward(self, x):
            return self.logits.expand(*x.shape, V)

    start = torch.zeros(50, 1, dtype=torch.long)
    drawn = generate(Fixed(), start, 200, top_k=3, temperature=5.0, seed=0)
    assert set(drawn[:, 1:].unique().tolist()) == {0, 1, 2}
    flat = generate(Fixed(), start, 200, temperature=5.0, seed=0)
    assert flat[:, 1:].max() > 2  # without top-k, hot sampling reaches further down


def test_sampled_frequencies_follow_the_tempered_top_k_softmax():
    z = torch.tensor([2.0, -1.0, 0.5, 1.5, 0.0, 1.0, -2.0, 0.2, -0.5, 0.8, -3.0])

    class Fixed(nn.Module):  # the same logits z at every step
        def forward(self, x):
            return z.expand(*x.shape, V)

    tau, k, start = 0.7, 4, torch.zeros(4000, 1, dtype=torch.long)
    drawn = generate(Fixed(), start, 50, temperature=tau, top_k=k, seed=0)[:, 1:]  # 200,000 draws
    freq = torch.bincount(drawn.flatten(), minlength=V).double() / drawn.numel()
    top = z.topk(k).indices
    p = torch.zeros(V, dtype=torch.double)
    p[top] = torch.softmax(z[top].double() / tau, dim=0)  # renormalised over the top k
    # 6 standard errors: at 200,000 draws a correct sampler misses this with odds ~1e-9 per token.
    tolerance = 6 * (p * (1 - p) / drawn.numel()).sqrt() + 1e-12
    assert (freq[p == 0] == 0).all()
    assert ((freq - p).abs() < tolerance).all(), (freq, p)
    # The tolerance is tight enough to tell the untempered top-k distribution apart.
    untempered = torch.zeros(V, dtype=torch.double)
    untempered[top] = torch.softmax(z[top].double(), dim=0)
    assert ((freq - untempered).abs() > tolerance).any()


@pytest.mark.parametrize("temperature", [1e-46, 5e-324, 1e-30, 1e30, 1e300, 1.7e308])
def test_extreme_temperatures_are_safe(temperature):
    # In float32 a temperature below ~1e-45 rounded to 0 (0 / 0 = NaN) and a huge one with top-k
    # gave -inf / inf: both crashed in the draw. Cold is greedy, hot is (top-k) uniform.
    model = make("gru")
    out = generate(model, PROMPT, 30, temperature=temperature, top_k=5, seed=0)
    if temperature < 1:
        assert torch.equal(out, generate(model, PROMPT, 30, temperature=0))
    else:
        assert len(out[:, PROMPT.shape[1] :].unique()) > 1


def test_shapes_dtype_and_prompt_kept():
    model = make("lstm")
    one = generate(model, torch.tensor([3, 1, 4]), 6, seed=0)
    assert one.shape == (9,) and one.dtype == torch.long and one[:3].tolist() == [3, 1, 4]
    many = generate(model, PROMPT, 5, seed=0)
    assert many.shape == (2, 9) and torch.equal(many[:, :4], PROMPT)
    calls = ForwardOnly(model)
    assert torch.equal(generate(calls, PROMPT, 0, top_k=V + 5), PROMPT)
    assert calls.calls == [], "steps=0 returns before running the model"
    assert ((many >= 0) & (many < V)).all()
    model.train()
    generate(model, PROMPT, 3, seed=0)
    assert model.training, "generate restores the model's mode"


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"prompt": torch.zeros(1, 3)}, TypeError, "prompt: expected integer token ids"),
        ({"prompt": torch.zeros(1, 1, 3).long()}, ValueError, "prompt: expected a 1-D or 2-D"),
        ({"prompt": torch.zeros(2, 0).long()}, ValueError, "prompt: expected at least one token"),
        ({"prompt": torch.tensor([1, -1])}, ValueError, "prompt: expected token ids >= 0"),
        ({"prompt": [1, 2]}, TypeError, "prompt: expected a torch.Tensor"),
        ({"steps": -1}, ValueError, "steps: expected an integer >= 0"),
        ({"steps": 2.0}, TypeError, "steps: expected an integer"),
        ({"temperature": -0.5}, ValueError, "temperature: expected a number >= 0"),
        ({"temperature": float("nan")}, ValueError, "temperature"),
        ({"top_k": 0}, ValueError, "top_k: expected an integer >= 1"),
        ({"top_k": V + 1}, ValueError, f"top_k: expected at most the vocabulary size {V}"),
        ({"seed": -1}, ValueError, "seed: expected an integer >= 0"),
        ({"seed": 2**64}, ValueError, r"seed: expected an integer below 2\*\*64"),
        ({"seed": "0"}, TypeError, "seed: expected an integer"),
        ({"model": lambda x: x}, TypeError, "model: expected a torch.nn.Module"),
        ({"model": nn.Sequential(nn.Embedding(V, 3), nn.Flatten())}, ValueError, r"\(1, 2, V\)"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    args = {"model": make("gru"), "prompt": torch.tensor([1, 2]), "steps": 3, **kwargs}
    with pytest.raises(error, match=match):
        generate(args.pop("model"), args.pop("prompt"), args.pop("steps"), **args)


def test_out_of_range_prompt_is_refused_by_the_model():
    with pytest.raises(ValueError, match=rf"x: expected token ids in \[0, {V - 1}\]"):
        generate(make("lstm"), torch.tensor([1, V]), 3)
