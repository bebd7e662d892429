"""Tests of seqnets.models.seq2seq, seqnets.data.synthetic.number_words and plot_attention."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

from seqnets.data.synthetic import NUMBER_WORDS_LIMIT, number_words
from seqnets.models.seq2seq import (
    AdditiveAttention,
    Encoder,
    Seq2Seq,
    beam_search,
    greedy_decode,
    sequence_log_prob,
)
from seqnets.plot import plot_attention
from seqnets.train import fit

# --------------------------------------------------------------------------------------------
# number_words
# --------------------------------------------------------------------------------------------

ONES = "zero one two three four five six seven eight nine".split()
TEENS = "ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen".split()
TENS = "twenty thirty forty fifty sixty seventy eighty ninety".split()


def parse(words: str) -> int:
    """Words back to a number, written independently of the package's speller."""
    total, current = 0, 0
    for word in words.split():
        if word in ONES:
            current += ONES.index(word)
        elif word in TEENS:
            current += 10 + TEENS.index(word)
        elif word in TENS:
            current += 20 + 10 * TENS.index(word)
        elif word == "hundred":
            current *= 100
        elif word == "thousand":
            total, current = current * 1000, 0
        else:
            raise AssertionError(f"unexpected word {word!r}")
    return total + current


@pytest.mark.parametrize(
    "n, words",
    [
        (0, "zero"),
        (7, "seven"),
        (10, "ten"),
        (19, "nineteen"),
        (20, "twenty"),
        (42, "forty two"),
        (100, "one hundred"),
        (105, "one hundred five"),
        (110, "one hundred ten"),
        (1000, "one thousand"),
        (1001, "one thousand one"),
        (20_000, "twenty thousand"),
        (110_011, "one hundred ten thousand eleven"),
        (342_107, "three hundred forty two thousand one hundred seven"),
        (999_999, "nine hundred ninety nine thousand nine hundred ninety nine"),
    ],
)
def test_number_words_spells_in_american_english_without_hyphens(n, words):
    assert number_words([n]) == ([words], [str(n)])


def test_number_words_round_trips_and_uses_thirty_words_of_at_most_nine_tokens():
    numbers = list(range(0, 2000)) + list(range(NUMBER_WORDS_LIMIT - 1000, NUMBER_WORDS_LIMIT))
    numbers += torch.randint(0, NUMBER_WORDS_LIMIT, (5000,), generator=torch.Generator().manual_seed(0)).tolist()
    words, digits = number_words(numbers)
    assert [parse(w) for w in words] == numbers
    assert [int(d) for d in digits] == numbers and all(d == str(int(d)) for d in digits)  # no leading zeros
    assert len({token for w in words for token in w.split()}) == 30
    assert max(len(w.split()) for w in words) == 9
    assert all(w == " ".join(w.split()) for w in words)  # tokens separated by single spaces


def test_number_words_draws_distinct_numbers_repeatably_and_leaves_global_state():
    state = torch.random.get_rng_state()
    words, digits = number_words(500, low=1000, high=3000, generator=torch.Generator().manual_seed(1))
    assert torch.equal(state, torch.random.get_rng_state())
    numbers = [int(d) for d in digits]
    assert len(set(numbers)) == 500 and all(1000 <= n < 3000 for n in numbers)
    assert [parse(w) for w in words] == numbers
    again = number_words(500, low=1000, high=3000, generator=torch.Generator().manual_seed(1))
    assert again == (words, digits)
    other = number_words(500, low=1000, high=3000, generator=torch.Generator().manual_seed(2))
    assert other[1] != digits
    # the whole range: a permutation of it
    assert sorted(int(d) for d in number_words(10, high=10)[1]) == list(range(10))


def test_number_words_accepts_a_range_and_an_integer_tensor():
    assert number_words(range(3)) == (["zero", "one", "two"], ["0", "1", "2"])
    assert number_words(torch.tensor([5, 12])) == (["five", "twelve"], ["5", "12"])
    assert number_words([np.int64(21)]) == (["twenty one"], ["21"])


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        ((11,), {"high": 10}, ValueError, r"numbers: cannot draw 11 distinct numbers from \[0, 10\)"),
        ((0,), {}, ValueError, "numbers: expected an integer >= 1, got 0"),
        ((True,), {}, TypeError, "numbers: expected a count"),
        ((3.0,), {}, TypeError, "numbers: expected a count"),
        (("12",), {}, TypeError, "numbers: expected a count"),
        (([1, 2.5],), {}, TypeError, r"numbers\[1\]: expected an integer, got float"),
        (([1, -2],), {}, ValueError, r"numbers\[1\]: expected an integer in \[0, 1000000\), got -2"),
        (([5],), {"low": 10, "high": 20}, ValueError, r"numbers\[0\]: expected an integer in \[10, 20\)"),
        (([1_000_000],), {}, ValueError, r"numbers\[0\]"),
        ((5,), {"low": 5, "high": 5}, ValueError, "low, high: expected 0 <= low < high <= 1000000"),
        ((5,), {"high": 2_000_000}, ValueError, "low, high"),
        ((5,), {"low": -1}, ValueError, "low: expected an integer >= 0"),
        ((torch.zeros(2, 2, dtype=torch.long),), {}, TypeError, "numbers: expected a 1-D integer tensor"),
        ((torch.tensor([1.0]),), {}, TypeError, "numbers: expected a 1-D integer tensor"),
        ((5,), {"generator": 0}, TypeError, "generator: expected a torch.Generator"),
    ],
)
def test_number_words_rejects_bad_input(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        number_words(*args, **kwargs)


# --------------------------------------------------------------------------------------------
# plot_attention
# --------------------------------------------------------------------------------------------


def new_axes():
    return Figure(figsize=(6, 4)).add_subplot()


def test_plot_attention_labels_rows_with_targets_and_columns_with_sources():
    weights = torch.tensor([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1]])
    ax = plot_attention(weights, ["forty", "two", "thousand"], ["4", "2"], ax=new_axes(), title="t", annotate=True)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["forty", "two", "thousand"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["4", "2"]
    image = ax.get_images()[0]
    assert np.allclose(image.get_array(), weights.numpy()) and image.get_clim() == (0.0, 1.0)
    assert ax.get_title() == "t" and ax.get_xlabel() == "source token" and ax.get_ylabel() == "output token"
    assert len(ax.texts) == 6
    ax.figure.savefig(io.BytesIO(), format="png")  # draws without error


@pytest.mark.parametrize(
    "weights, source, target, error, match",
    [
        ([[0.5, 0.5]], ["a"], ["x"], ValueError, r"weights: expected shape \(1, 1\)"),
        ([[0.5, 0.5]], ["a", "b"], ["x", "y"], ValueError, r"weights: expected shape \(2, 2\)"),
        ([0.5, 0.5], ["a", "b"], ["x"], ValueError, "weights: expected a non-empty 2-D array"),
        ([[np.nan, 1.0]], ["a", "b"], ["x"], ValueError, "weights: expected finite values"),
        ([[0.5, 0.5]], "ab", ["x"], TypeError, "source_tokens: expected a sequence of tokens"),
        ([[0.5, 0.5]], ["a", "b"], None, TypeError, "target_tokens: expected a sequence of tokens"),
        ([["a", "b"]], ["a", "b"], ["x"], TypeError, "weights: expected a 2-D array of numbers"),
    ],
)
def test_plot_attention_rejects_bad_input(weights, source, target, error, match):
    with pytest.raises(error, match=match):
        plot_attention(weights, source, target, ax=new_axes())


# --------------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------------

PAD, BOS, EOS = 0, 1, 2


def tiny_model(seed=0, source_vocab=12, target_vocab=8, hidden=8, scale=1.0):
    torch.manual_seed(seed)
    model = Seq2Seq(source_vocab, target_vocab, embedding_size=6, hidden_size=hidden, attention_size=7)
    with torch.no_grad():  # sharper distributions than the default initialisation gives
        model.decoder.output.weight.mul_(scale)
    return model.eval()


def batch(seed=0, lengths=(5, 3, 1, 4), vocab=12):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths)
    src = torch.randint(1, vocab, (len(lengths), int(lengths.max())), generator=g)
    src[torch.arange(src.shape[1]) >= lengths.unsqueeze(1)] = PAD
    return src, lengths


def test_encoder_ignores_padding_and_zeroes_the_memory_there():
    torch.manual_seed(0)
    encoder = Encoder(12, 6, 8)
    src, lengths = batch()
    memory, summary = encoder(src, lengths)
    assert memory.shape == (4, 5, 16) and summary.shape == (4, 16)
    longer = F.pad(src, (0, 3), value=PAD)  # three more padding columns
    memory2, summary2 = encoder(longer, lengths)
    assert torch.allclose(memory2[:, :5], memory, atol=1e-6) and torch.allclose(summary2, summary, atol=1e-6)
    assert (memory2[:, 5:] == 0).all() and (memory[2, 1:] == 0).all()
    # each sequence on its own gives the same memory: batching does not mix sequences
    for b, n in enumerate(lengths.tolist()):
        alone, summary_alone = encoder(src[b : b + 1, :n], lengths[b : b + 1])
        assert torch.allclose(alone[0], memory[b, :n], atol=1e-6)
        assert torch.allclose(summary_alone[0], summary[b], atol=1e-6)
    # the summary is the forward state at the last real token beside the backward state at the first
    assert torch.allclose(summary[:, :8], memory[torch.arange(4), lengths - 1, :8], atol=1e-6)
    assert torch.allclose(summary[:, 8:], memory[:, 0, 8:], atol=1e-6)


def test_additive_attention_follows_its_equations_and_masks_padding():
    torch.manual_seed(0)
    attention = AdditiveAttention(query_size=3, memory_size=4, attention_size=5)
    query, memory = torch.randn(2, 3), torch.randn(2, 6, 4)
    mask = torch.tensor([[True] * 6, [True, True, False, False, False, False]])
    context, weights = attention(query, attention.project(memory), memory, mask)
    W_s, W_h = attention.query_proj.weight, attention.memory_proj.weight
    b, v = attention.memory_proj.bias, attention.score.weight[0]
    energy = torch.tanh((query @ W_s.T)[:, None, :] + memory @ W_h.T + b) @ v  # (2, 6)
    expected = torch.softmax(energy.masked_fill(~mask, -torch.inf), dim=1)
    assert torch.allclose(weights, expected, atol=1e-6)
    assert torch.allclose(context, (expected[:, :, None] * memory).sum(1), atol=1e-6)
    assert (weights[1, 2:] == 0).all() and torch.allclose(weights.sum(1), torch.ones(2))
    with pytest.raises(ValueError, match=r"mask: expected a bool tensor of shape \(2, 6\)"):
        attention(query, attention.project(memory), memory, mask.float())
    with pytest.raises(ValueError, match=r"query: expected shape \(2, 3\)"):
        attention(query[:, :2], attention.project(memory), memory, mask)
    # keys that would broadcast against the projected query are refused
    keys = attention.project(memory)
    with pytest.raises(ValueError, match=r"keys: expected shape \(2, 6, 5\) to match memory, got \(2, 6, 1\)"):
        attention(query, keys[:, :, :1], memory, mask)
    with pytest.raises(ValueError, match="keys: expected a 3-D tensor"):
        attention(query, keys[:, 0], memory, mask)
    # a row with nothing to attend to would give NaN weights
    with pytest.raises(ValueError, match=r"mask: expected at least one True per row, got none in rows \[1\]"):
        attention(query, keys, memory, torch.tensor([[True] * 6, [False] * 6]))
    with pytest.raises(TypeError, match="mask: expected a torch.Tensor, got list"):
        attention(query, keys, memory, mask.tolist())
    # a dtype other than the parameters' is named, before it reaches a matrix product
    for name, args in [
        ("query", (query.double(), keys, memory)),
        ("keys", (query, keys.double(), memory)),
        ("memory", (query, keys, memory.double())),
    ]:
        with pytest.raises(TypeError, match=f"{name}: expected dtype torch.float32, the dtype of the parameters"):
            attention(*args, mask)
    attention.double()
    context64, _ = attention(query.double(), attention.project(memory.double()), memory.double(), mask)
    assert context64.dtype == torch.float64 and torch.allclose(context64.float(), context, atol=1e-6)


def test_decoder_step_follows_the_equations_of_the_module_docstring():
    """Attention, GRU cell and output layer written out from the parameters, not called."""
    model = tiny_model()
    src, lengths = batch()
    memory, state = model.encode(src, lengths)
    token = torch.tensor([BOS, 3, 4, 5])
    log_probs, new_state, weights = model.decoder.step(token, state, memory)
    d, a = model.decoder, model.decoder.attention
    h = memory.values  # (4, 5, 16)
    assert torch.allclose(memory.keys, h @ a.memory_proj.weight.T + a.memory_proj.bias, atol=1e-6)
    e = torch.tanh((state @ a.query_proj.weight.T)[:, None] + memory.keys) @ a.score.weight[0]  # (4, 5)
    alpha = torch.softmax(e.masked_fill(~memory.mask, -torch.inf), dim=1)
    c = (alpha[:, :, None] * h).sum(1)  # (4, 16)
    x = torch.cat([d.embedding.weight[token], c], 1)  # [E y_{t-1}; c_t]
    W_ir, W_iz, W_in = d.cell.weight_ih.chunk(3)  # GRU gates: reset, update, candidate
    W_hr, W_hz, W_hn = d.cell.weight_hh.chunk(3)
    b_ir, b_iz, b_in = d.cell.bias_ih.chunk(3)
    b_hr, b_hz, b_hn = d.cell.bias_hh.chunk(3)
    r = torch.sigmoid(x @ W_ir.T + b_ir + state @ W_hr.T + b_hr)
    z = torch.sigmoid(x @ W_iz.T + b_iz + state @ W_hz.T + b_hz)
    n = torch.tanh(x @ W_in.T + b_in + r * (state @ W_hn.T + b_hn))
    s = (1 - z) * n + z * state
    logits = torch.cat([s, c, d.embedding.weight[token]], 1) @ d.output.weight.T + d.output.bias
    assert torch.allclose(weights, alpha, atol=1e-6) and torch.allclose(new_state, s, atol=1e-6)
    assert torch.allclose(log_probs, torch.log_softmax(logits, 1), atol=1e-5)
    assert torch.allclose(state, torch.tanh(d.bridge(model.encoder(src, lengths)[1])), atol=1e-6)


@pytest.mark.parametrize(
    "token, error, match",
    [
        (torch.tensor([1.0, 3.0, 4.0, 5.0]), TypeError, "token: expected an integer tensor of target token ids"),
        (torch.tensor([BOS, 3, 4, 8]), ValueError, r"token: expected target token ids in \[0, 7\], got min 1, max 8"),
        (torch.tensor([[BOS, 3, 4, 5]]), ValueError, "token: expected a 1-D tensor"),
    ],
)
def test_decoder_step_rejects_bad_tokens(token, error, match):
    model = tiny_model()
    memory, state = model.encode(*batch())
    with pytest.raises(error, match=match):
        model.decoder.step(token, state, memory)


def test_decoder_step_rejects_a_state_or_memory_of_another_dtype():
    model = tiny_model()
    memory, state = model.encode(*batch())
    token = torch.tensor([BOS, 3, 4, 5])
    with pytest.raises(TypeError, match="state: expected dtype torch.float32, the dtype of the parameters"):
        model.decoder.step(token, state.double(), memory)
    with pytest.raises(TypeError, match="memory: expected dtype torch.float32"):
        model.decoder.step(token, state, memory._replace(values=memory.values.double()))


def test_teacher_forced_forward_equals_decoding_step_by_step():
    model = tiny_model()
    src, lengths = batch()
    tgt_in = torch.tensor([[BOS, 3, 4, 5], [BOS, 6, 2, 0], [BOS, 7, 7, 2], [BOS, 2, 0, 0]])
    logits, attention = model.forward_with_attention(src, lengths, tgt_in)
    assert logits.shape == (4, 4, 8) and attention.shape == (4, 4, 5)
    assert torch.equal(model(src, lengths, tgt_in), logits)
    memory, state = model.encode(src, lengths)
    for t in range(4):
        log_probs, state, weights = model.decoder.step(tgt_in[:, t], state, memory)
        assert torch.allclose(log_probs, torch.log_softmax(logits[:, t], 1), atol=1e-6)
        assert torch.allclose(weights, attention[:, t], atol=1e-6)
    for b, n in enumerate(lengths.tolist()):
        assert (attention[b, :, n:] == 0).all() and torch.allclose(attention[b].sum(1), torch.ones(4))


def test_fit_trains_the_model_and_greedy_decoding_reads_it_back():
    """A round trip through the whole pipeline: words -> ids -> fit -> greedy -> digits."""
    words, digits = number_words(range(100))
    src_vocab = ["<pad>", "<unk>"] + sorted({w for s in words for w in s.split()})
    tgt_vocab = ["<pad>", "<bos>", "<eos>", *"0123456789"]
    src_rows = [torch.tensor([src_vocab.index(w) for w in s.split()]) for s in words]
    tgt_rows = [torch.tensor([BOS] + [tgt_vocab.index(c) for c in d] + [EOS]) for d in digits]
    src = torch.nn.utils.rnn.pad_sequence(src_rows, batch_first=True)
    lengths = torch.tensor([len(r) for r in src_rows])
    tgt = torch.nn.utils.rnn.pad_sequence(tgt_rows, batch_first=True)
    torch.manual_seed(0)
    model = Seq2Seq(len(src_vocab), len(tgt_vocab), embedding_size=16, hidden_size=32)

    def loss_fn(logits, targets):
        return F.cross_entropy(logits.transpose(1, 2), targets, ignore_index=PAD)

    history = fit(
        model,
        ((src, lengths, tgt[:, :-1]), tgt[:, 1:]),
        loss_fn=loss_fn,
        epochs=60,
        batch_size=20,
        lr=1e-2,
        progress=False,
        seed=0,
    )
    assert history.train_loss[-1] < 0.05 * history.train_loss[0]
    tokens, _ = greedy_decode(model, src, lengths, max_len=4, bos=BOS, eos=EOS)
    written = ["".join(tgt_vocab[i] for i in row if i > EOS) for row in tokens.tolist()]
    assert written == digits
    assert model.training  # decoding put the model back in the mode it was in


def test_greedy_decoding_stops_at_the_end_token_and_writes_no_padding_or_start():
    model = tiny_model(scale=3.0)
    src, lengths = batch()
    tokens, attention = greedy_decode(model, src, lengths, max_len=6, bos=BOS, eos=EOS)
    assert tokens.shape[0] == 4 and tokens.shape[1] <= 6 and attention.shape == (*tokens.shape, 5)
    for row, weights in zip(tokens.tolist(), attention, strict=True):
        end = row.index(EOS) + 1 if EOS in row else len(row)
        assert all(t not in (PAD, BOS) for t in row[:end]) and all(t == PAD for t in row[end:])
        assert torch.allclose(weights[:end].sum(1), torch.ones(end)) and (weights[end:] == 0).all()
    # each source decoded on its own gives the same output
    for b, n in enumerate(lengths.tolist()):
        alone, _ = greedy_decode(model, src[b : b + 1, :n], lengths[b : b + 1], max_len=6, bos=BOS, eos=EOS)
        assert alone[0].tolist() == tokens[b, : alone.shape[1]].tolist()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_search_with_one_beam_is_greedy_decoding(seed):
    model = tiny_model(seed, scale=3.0)
    src, lengths = batch(seed)
    tokens, attention = greedy_decode(model, src, lengths, max_len=7, bos=BOS, eos=EOS)
    for alpha in (0.0, 1.0):
        result = beam_search(model, src, lengths, beam_size=1, max_len=7, bos=BOS, eos=EOS, length_penalty=alpha)
        assert torch.equal(result.tokens[:, 0], tokens)
        assert torch.allclose(result.attention[:, 0], attention)
    assert torch.allclose(
        result.log_probs[:, 0], sequence_log_prob(model, src, lengths, tokens, bos=BOS, eos=EOS), atol=1e-5
    )


def all_outputs(writable, max_len, eos):
    """Every output a decoder can write: ended by eos within max_len tokens, or cut at max_len."""
    outputs = set()
    for sequence in itertools.product(writable, repeat=max_len):
        cut = sequence.index(eos) + 1 if eos in sequence else max_len
        outputs.add(sequence[:cut])
    return sorted(outputs)


@pytest.mark.parametrize("alpha, eos_bias", [(0.0, 0.0), (1.0, 0.0), (0.0, -4.0), (1.0, -4.0)])
def test_beam_search_wide_enough_is_exhaustive_search(alpha, eos_bias):
    """With beam_size >= (writable tokens) ** max_len no hypothesis is dropped.

    The ranking is exhaustive search's: finished outputs by score, then the ones cut at max_len.
    A negative bias on the end token makes some cut prefixes more probable than every finished
    output, so that the rule "finished first" is tested.
    """
    target_vocab, max_len = 6, 3  # pad, bos, eos and three more; 4 writable tokens
    model = tiny_model(target_vocab=target_vocab, scale=2.0)
    with torch.no_grad():
        model.decoder.output.bias[EOS] += eos_bias
    src, lengths = batch(lengths=(4, 2, 3))
    outputs = all_outputs([EOS, 3, 4, 5], max_len, EOS)
    assert len(outputs) == 1 + 3 + 9 + 27  # ended after 1, 2 or 3 tokens, or cut after 3
    padded = torch.tensor([list(o) + [PAD] * (max_len - len(o)) for o in outputs])  # (N, L)
    finished = torch.tensor([EOS in o for o in outputs])
    result = beam_search(
        model, src, lengths, beam_size=4**max_len, max_len=max_len, bos=BOS, eos=EOS, length_penalty=alpha
    )
    cut_wins = []
    for b in range(3):
        n = len(outputs)
        log_p = sequence_log_prob(
            model, src[b : b + 1].expand(n, -1), lengths[b : b + 1].expand(n), padded, bos=BOS, eos=EOS
        )
        score = log_p / torch.tensor([float(len(o)) for o in outputs]) ** alpha
        best = int(score.masked_fill(~finished, -torch.inf).argmax())
        assert tuple(t for t in result.tokens[b, 0].tolist() if t != PAD) == outputs[best]
        assert torch.isclose(result.scores[b, 0], score[best], atol=1e-5)
        cut_wins.append(bool(score[~finished].max() > score[best]))
        # and every hypothesis it kept, in order, with its score: finished ones first
        kept = torch.isfinite(result.log_probs[b])
        assert int(kept.sum()) == n
        expected = torch.cat(
            [score[finished].sort(descending=True).values, score[~finished].sort(descending=True).values]
        )
        assert torch.allclose(result.scores[b, kept], expected, atol=1e-5)
        assert kept[:n].all()  # the unused slots come last
    if eos_bias:  # the rule decided the ranking: a cut prefix scored higher than the output returned
        assert all(cut_wins)


def test_beam_search_returns_clean_hypotheses_and_leaves_unused_slots_empty():
    """More slots than outputs: the unused ones hold padding and zero attention."""
    model = tiny_model(target_vocab=6, scale=2.0)
    src, lengths = batch(lengths=(4, 2, 3))
    result = beam_search(model, src, lengths, beam_size=50, max_len=3, bos=BOS, eos=EOS)
    unused = torch.isinf(result.log_probs)
    assert int(unused.sum()) == 3 * (50 - 40)
    assert (result.tokens[unused] == PAD).all() and (result.attention[unused] == 0).all()
    for row, weights in zip(result.tokens[~unused].tolist(), result.attention[~unused], strict=True):
        end = row.index(EOS) + 1 if EOS in row else len(row)
        assert all(t not in (PAD, BOS) for t in row[:end]) and all(t == PAD for t in row[end:])
        assert torch.allclose(weights[:end].sum(1), torch.ones(end)) and (weights[end:] == 0).all()


def test_beam_search_attention_is_the_attention_each_hypothesis_was_written_with():
    """For K > 1 the attention follows each hypothesis through the reordering of the beam."""
    model = tiny_model(scale=2.0)
    src, lengths = batch()
    k = 4
    result = beam_search(model, src, lengths, beam_size=k, max_len=6, bos=BOS, eos=EOS)
    tokens = result.tokens.flatten(0, 1)  # (B*K, L)
    tgt_in = torch.cat([torch.full_like(tokens[:, :1], BOS), tokens[:, :-1]], dim=1)
    _, attention = model.forward_with_attention(src.repeat_interleave(k, 0), lengths.repeat_interleave(k), tgt_in)
    written = (tokens != PAD).unsqueeze(2)  # (B*K, L, 1): each hypothesis up to its end token
    expected = attention.masked_fill(~written, 0.0).view(result.attention.shape)
    assert torch.allclose(result.attention, expected, atol=1e-5)
    assert len({tuple(row) for row in result.tokens[0].tolist()}) == k  # K different hypotheses


def test_beam_search_of_a_batch_equals_beam_search_of_each_source_alone():
    """Batching mixes neither the hypotheses of different sources nor their padding."""
    model = tiny_model(scale=2.0)
    src, lengths = batch()
    args = {"beam_size": 3, "max_len": 6, "bos": BOS, "eos": EOS, "length_penalty": 0.5}
    together = beam_search(model, src, lengths, **args)
    for b, n in enumerate(lengths.tolist()):
        alone = beam_search(model, src[b : b + 1, :n], lengths[b : b + 1], **args)
        width = alone.tokens.shape[2]
        assert torch.equal(alone.tokens[0], together.tokens[b, :, :width])
        assert (together.tokens[b, :, width:] == PAD).all()
        assert torch.allclose(alone.log_probs[0], together.log_probs[b], atol=1e-5)
        assert torch.allclose(alone.scores[0], together.scores[b], atol=1e-5)
        assert torch.allclose(alone.attention[0], together.attention[b, :, :width, :n], atol=1e-5)
        assert (together.attention[b, :, :, n:] == 0).all()


def test_beam_search_ranks_finished_hypotheses_with_the_length_penalty():
    model = tiny_model(scale=2.0)
    src, lengths = batch()
    result = beam_search(model, src, lengths, beam_size=5, max_len=6, bos=BOS, eos=EOS, length_penalty=0.7)
    assert result.tokens.shape[:2] == (4, 5) and result.attention.shape[:3] == result.tokens.shape
    length = (result.tokens != PAD).sum(2).float()
    assert torch.allclose(result.scores, result.log_probs / length**0.7, atol=1e-6)
    finished = (result.tokens == EOS).any(2)  # (4, 5); the others were cut at max_len
    assert (finished[:, :-1] >= finished[:, 1:]).all() and not finished.all()  # finished ones first
    same = finished[:, :-1] == finished[:, 1:]
    assert (result.scores[:, :-1] >= result.scores[:, 1:])[same].all()  # each group by score
    flat = result.tokens.flatten(0, 1)
    log_p = sequence_log_prob(model, src.repeat_interleave(5, 0), lengths.repeat_interleave(5), flat, bos=BOS, eos=EOS)
    assert torch.allclose(log_p.view(4, 5), result.log_probs, atol=1e-5)


# --------------------------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, error, match",
    [
        (lambda s, n, t: (s.float(), n, t), TypeError, "src: expected an integer tensor of token ids"),
        (lambda s, n, t: (s[0], n, t), ValueError, "src: expected a 2-D tensor"),
        (lambda s, n, t: (s + 12, n, t), ValueError, r"src: expected token ids in \[0, 11\]"),
        (lambda s, n, t: (s, n[:3], t), ValueError, r"src_lengths: expected shape \(4,\)"),
        (lambda s, n, t: (s, n * 0, t), ValueError, r"src_lengths: expected lengths in \[1, 5\], got min 0"),
        (lambda s, n, t: (s, n + 1, t), ValueError, r"src_lengths: expected lengths in \[1, 5\], got min 2, max 6"),
        (lambda s, n, t: (s, n.float(), t), TypeError, "src_lengths: expected an integer tensor of lengths"),
        (lambda s, n, t: (s, n, t[:2]), ValueError, r"tgt_in: expected shape \(4, T\)"),
        (lambda s, n, t: (s, n, t + 8), ValueError, r"tgt_in: expected token ids in \[0, 7\]"),
        (lambda s, n, t: (s, n, t[:, :0]), ValueError, r"tgt_in: expected shape \(4, T\) with T >= 1"),
    ],
)
def test_model_rejects_bad_input_with_a_clear_message(change, error, match):
    model = tiny_model()
    src, lengths = batch()
    tgt_in = torch.full((4, 3), BOS)
    with pytest.raises(error, match=match):
        model(*change(src, lengths, tgt_in))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"max_len": 0}, ValueError, "max_len: expected an integer >= 1, got 0"),
        ({"bos": 8}, ValueError, r"bos: expected a target token id in \[0, 8\)"),
        ({"eos": BOS}, ValueError, "bos, eos: expected ids distinct from each other and from pad_id"),
        ({"eos": PAD}, ValueError, "bos, eos: expected ids distinct"),
        ({"beam_size": 0}, ValueError, "beam_size: expected an integer >= 1, got 0"),
        ({"beam_size": 2.0}, TypeError, "beam_size: expected an integer"),
        ({"length_penalty": -1.0}, ValueError, "length_penalty: expected a number >= 0"),
    ],
)
def test_decoders_reject_bad_arguments(kwargs, error, match):
    model = tiny_model()
    src, lengths = batch()
    args = {"max_len": 5, "bos": BOS, "eos": EOS, "beam_size": 2, **kwargs}
    with pytest.raises(error, match=match):
        beam_search(model, src, lengths, **args)
    if "beam_size" not in kwargs and "length_penalty" not in kwargs:
        args.pop("beam_size")
        with pytest.raises(error, match=match):
            greedy_decode(model, src, lengths, **args)


def test_decoders_refuse_a_model_that_is_not_a_seq2seq():
    src, lengths = batch()
    with pytest.raises(TypeError, match="model: expected a seqnets.models.seq2seq.Seq2Seq, got Linear"):
        greedy_decode(torch.nn.Linear(2, 2), src, lengths, max_len=3, bos=BOS, eos=EOS)
    with pytest.raises(TypeError, match="model: expected a torch.nn.Module, got str"):
        beam_search("model", src, lengths, beam_size=2, max_len=3, bos=BOS, eos=EOS)
    with pytest.raises(ValueError, match=r"pad_id: expected an id in \[0, 5\)"):
        Seq2Seq(5, 5, pad_id=5)


@pytest.mark.parametrize(
    "change, error, match",
    [
        ({"bos": 50}, ValueError, r"bos: expected a target token id in \[0, 8\), got 50"),
        ({"bos": PAD}, ValueError, "bos, eos: expected ids distinct from each other and from pad_id"),
        ({"eos": BOS}, ValueError, "bos, eos: expected ids distinct"),
        ({"tokens": torch.tensor([[3, EOS]] * 3)}, ValueError, r"tokens: expected shape \(4, L\) with L >= 1"),
        ({"tokens": torch.tensor([[3.0, 2.0]] * 4)}, TypeError, "tokens: expected an integer tensor"),
        ({"tokens": torch.tensor([[3, EOS, 4]] * 4)}, ValueError, "tokens: expected each row to be an output"),
        ({"tokens": torch.tensor([[3, PAD, 4]] * 4)}, ValueError, "tokens: expected each row to be an output"),
        ({"tokens": torch.tensor([[BOS, 3, EOS]] * 4)}, ValueError, "tokens: expected each row to be an output"),
    ],
)
def test_sequence_log_prob_names_the_argument_at_fault(change, error, match):
    model = tiny_model()
    src, lengths = batch()
    args = {"tokens": torch.tensor([[3, 4, EOS]] * 4), "bos": BOS, "eos": EOS, **change}
    with pytest.raises(error, match=match):
        sequence_log_prob(model, src, lengths, args.pop("tokens"), **args)
