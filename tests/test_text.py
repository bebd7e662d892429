"""Vocabularies, padding, language-model windows and the standard-library corpus."""

import json

import pytest
import torch

from seqnets.data.text import PAD, UNK, CharVocab, Corpus, Vocab, next_token_windows, pad_sequences, python_corpus


def test_vocab_orders_specials_then_by_count_then_first_appearance():
    v = Vocab("b a c a b a".split())
    assert v.itos == [PAD, UNK, "a", "b", "c"]
    assert (v.pad_id, v.unk_id) == (0, 1)
    assert v.stoi["c"] == 4 and "c" in v and "z" not in v and len(v) == 5


def test_vocab_min_count_and_max_size_send_rare_tokens_to_unk():
    v = Vocab("a a a b b c".split(), min_count=2)
    assert v.itos == [PAD, UNK, "a", "b"]
    assert v.encode(["c", "a"]).tolist() == [1, 2]
    assert Vocab("a a a b b c".split(), max_size=3).itos == [PAD, UNK, "a"]


def test_vocab_round_trip_and_decode_options():
    v = Vocab("x y z".split(), specials=(PAD, UNK, "<bos>", "<eos>"))
    ids = v.encode(["<bos>", "x", "q", "<eos>"])
    assert ids.dtype == torch.long
    assert v.decode(ids) == ["<bos>", "x", UNK, "<eos>"]
    assert v.decode(ids, skip_specials=True) == ["x"]
    assert v.decode([4, 5]) == ["x", "y"]


def test_vocab_to_dict_is_json_safe_and_rebuilds_the_same_ids():
    for v in (Vocab("one two two three".split()), CharVocab("hello, world")):
        back = type(v).from_dict(json.loads(json.dumps(v.to_dict())))
        assert type(back) is type(v)
        assert back.itos == v.itos and back.stoi == v.stoi and back.specials == v.specials
    with pytest.raises(ValueError, match="itos"):
        Vocab.from_dict({"itos": ["a"]})
    with pytest.raises(ValueError, match="start with"):
        Vocab.from_dict({"itos": ["a", PAD, UNK], "specials": [PAD, UNK]})


@pytest.mark.parametrize("text", ["", "abc", "tabs\tand\nnewlines", "unicode: αβγ → ✓"])
def test_char_vocab_round_trips_the_text_it_was_built_from(text):
    v = CharVocab(text)
    assert v.decode(v.encode(text)) == text
    assert v.encode(text).shape == (len(text),)


def test_char_vocab_unknown_and_padding_in_decode():
    v = CharVocab(["ab", "ba"])
    ids = v.encode("abz")
    assert ids.tolist() == [2, 3, 1]
    assert v.decode(ids) == "ab" + UNK
    assert v.decode(ids, skip_specials=True) == "ab"
    assert v.decode([2, 0, 0]) == "a"  # padding never shows


@pytest.mark.parametrize(
    ("make", "error", "match"),
    [
        (lambda: Vocab("abc"), None, None),  # a string is an iterable of one-character tokens
        (lambda: Vocab([1, 2]), TypeError, "str tokens"),
        (lambda: Vocab(b"abc"), TypeError, "iterable of str"),
        (lambda: Vocab(["a"], specials=("<unk>", "<pad>")), ValueError, "specials"),
        (lambda: Vocab(["a"], specials=(PAD, UNK, PAD)), ValueError, "distinct"),
        (lambda: Vocab(["a"], min_count=0), ValueError, "min_count"),
        (lambda: Vocab(["a"], max_size=1), ValueError, "max_size"),
        (lambda: CharVocab(["ok", 3]), TypeError, "text"),
        (lambda: CharVocab("ab").encode(["a", "b"]), TypeError, "expected a str"),
        (lambda: CharVocab("ab").decode([9]), ValueError, r"\[0, 3\]"),
        (lambda: CharVocab("ab").decode(torch.tensor([1.0])), ValueError, "integer"),
        (lambda: CharVocab("ab").decode(torch.zeros(2, 2, dtype=torch.long)), ValueError, "1-D"),
    ],
)
def test_vocab_errors_name_what_was_expected(make, error, match):
    if error is None:
        make()
    else:
        with pytest.raises(error, match=match):
            make()


def test_pad_sequences_pads_truncates_and_reports_lengths():
    seqs = [torch.tensor([1, 2, 3]), torch.tensor([], dtype=torch.long), torch.tensor([4])]
    x, n = pad_sequences(seqs, pad_id=9)
    assert x.tolist() == [[1, 2, 3], [9, 9, 9], [4, 9, 9]] and n.tolist() == [3, 0, 1]
    x, n = pad_sequences(seqs, max_len=2)
    assert x.tolist() == [[1, 2], [0, 0], [4, 0]] and n.tolist() == [2, 0, 1]
    assert x.dtype == n.dtype == torch.long


@pytest.mark.parametrize(
    ("seqs", "kwargs", "error", "match"),
    [
        ([], {}, ValueError, "non-empty"),
        (torch.zeros(2, 3, dtype=torch.long), {}, ValueError, "sequence of 1-D"),
        ([torch.zeros(2, 2, dtype=torch.long)], {}, ValueError, r"seqs\[0\]"),
        ([torch.tensor([1.5])], {}, TypeError, "integer ids"),
        ([torch.tensor([1])], {"pad_id": -1}, ValueError, "pad_id"),
        ([torch.tensor([1])], {"max_len": 0}, ValueError, "max_len"),
    ],
)
def test_pad_sequences_rejects_bad_input(seqs, kwargs, error, match):
    with pytest.raises(error, match=match):
        pad_sequences(seqs, **kwargs)


def test_next_token_windows_targets_are_inputs_shifted_by_one():
    ids = torch.arange(20)
    x, y = next_token_windows(ids, 4)
    assert x.shape == y.shape == (4, 4)
    assert torch.equal(y[:, :-1], x[:, 1:])
    assert torch.equal(y[:, -1], x[:, -1] + 1)
    x, _ = next_token_windows(ids, 4, stride=2)
    assert x[:, 0].tolist() == list(range(0, 16, 2))
    x[0, 0] = 99  # a copy: the stream is untouched
    assert ids[0] == 0


def test_next_token_windows_rejects_bad_input():
    with pytest.raises(ValueError, match="at least length"):
        next_token_windows(torch.arange(4), 4)
    with pytest.raises(TypeError, match="integer"):
        next_token_windows(torch.rand(10), 2)
    with pytest.raises(ValueError, match="1-D"):
        next_token_windows(torch.zeros(2, 5, dtype=torch.long), 2)
    with pytest.raises(ValueError, match="stride"):
        next_token_windows(torch.arange(10), 2, stride=0)


@pytest.fixture
def library(tmp_path):
    """A small library folder: 6 modules, a package, tests and a latin-1 file."""
    for name in ("a", "b", "c", "d"):
        (tmp_path / f"{name}.py").write_text(f"# module {name}\nx = '{name}'\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "core.py").write_text("def f():\n    return 1\n")
    (tmp_path / "old.py").write_bytes(b"# -*- coding: latin-1 -*-\ns = '\xe9'\n")
    for skipped in ("test", "site-packages", "pydoc_data"):
        (tmp_path / skipped).mkdir()
        (tmp_path / skipped / "x.py").write_text("skipped = True\n")
    (tmp_path / "test_a.py").write_text("skipped = True\n")
    return tmp_path


def test_python_corpus_splits_by_file_without_overlap(library):
    c = python_corpus(root=library, fractions=(0.5, 0.25, 0.25))
    parts = [set(c.train), set(c.val), set(c.test)]
    assert sum(map(len, parts)) == len(set.union(*parts)) == 7
    assert "pkg/core.py" in set.union(*parts)
    assert not any("skipped" in text for part in (c.train, c.val, c.test) for text in part.values())
    assert "s = 'é'" in {**c.train, **c.val, **c.test}["old.py"]  # declared encoding honoured
    assert c.text("train") == "\n".join(c.train.values())
    assert "files" in repr(c) and isinstance(c, Corpus)


def test_python_corpus_is_seeded_and_filters(library):
    assert python_corpus(root=library, seed=1) == python_corpus(root=library, seed=1)
    splits = {tuple(python_corpus(root=library, seed=s).test) for s in range(10)}
    assert len(splits) > 1
    c = python_corpus(root=library, packages=["pkg", "a", "b"])
    assert set(c.train) | set(c.val) | set(c.test) == {"pkg/__init__.py", "pkg/core.py", "a.py", "b.py"}
    assert sum(len(p) for p in (c.train, c.val, c.test)) == 4
    assert sum(len(p) for p in python_corpus(root=library, max_files=3).__dict__.values()) == 3


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"packages": ["nope"]}, ValueError, "not found"),
        ({"packages": ["a"]}, ValueError, "at least 3"),
        ({"fractions": (0.5, 0.5)}, ValueError, "three shares"),
        ({"fractions": (1.2, -0.1, -0.1)}, ValueError, "fractions"),
        ({"max_files": 2}, ValueError, "max_files"),
        ({"part": "dev"}, ValueError, "part"),
    ],
)
def test_python_corpus_rejects_bad_arguments(library, kwargs, error, match):
    with pytest.raises(error, match=match):
        if "part" in kwargs:
            python_corpus(root=library).text(kwargs["part"])
        else:
            python_corpus(root=library, **kwargs)


def test_python_corpus_rejects_a_missing_root(tmp_path):
    with pytest.raises(ValueError, match="folder"):
        python_corpus(root=tmp_path / "missing")


def test_python_corpus_reads_this_interpreters_library():
    c = python_corpus(packages=["json"])
    files = set(c.train) | set(c.val) | set(c.test)
    assert "json/decoder.py" in files and all(f.startswith("json/") for f in files)
