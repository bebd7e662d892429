"""Tests of the text-classification loaders in seqnets.data.text, on files the tests write.

``text_folder`` reads one folder per label; ``docstring_topics`` labels standard-library
docstrings by module family (tested on a small fake library and once on the real one);
``word_tokens`` splits text into words.
"""

from __future__ import annotations

import re
import textwrap
import warnings

import pytest
import torch

from seqnets.data.text import DOCSTRING_FAMILIES, docstring_topics, text_folder, word_tokens

# ----------------------------------------------------------------------------- word_tokens


def test_word_tokens_splits_on_punctuation_and_underscores():
    text = "Don't call get_event_loop() -- it's deprecated since 3.12!"
    words = ["don't", "call", "get", "event", "loop", "it's", "deprecated", "since", "3", "12"]
    assert word_tokens(text) == words
    assert word_tokens("Café naïve Größe 東京") == ["café", "naïve", "größe", "東京"]
    assert word_tokens("Email.Message", lowercase=False) == ["Email", "Message"]
    assert word_tokens(" -- ... ") == [] and word_tokens("") == []


def test_word_tokens_keeps_combining_marks_and_typographic_apostrophes():
    # Devanagari vowel signs and the virama are combining marks (category M), not letters.
    assert word_tokens("हिन्दी भाषा, नमस्ते!") == ["हिन्दी", "भाषा", "नमस्ते"]
    # An accent typed after its letter (NFD) gives the same word as the precomposed letter.
    assert word_tokens("cafe\u0301 nai\u0308ve") == word_tokens("café naïve") == ["café", "naïve"]
    # U+2019 inside a word is an apostrophe (normalised to '); around a word it is a quote.
    assert word_tokens("Don\u2019t \u2018quote\u2019 it\u2019s") == ["don't", "quote", "it's"]
    # A word starts with a letter or digit: a combining mark after a separator is dropped.
    assert word_tokens("a \u0301b \u0301") == ["a", "b"]


def test_word_tokens_refuses_bytes():
    with pytest.raises(TypeError, match="text: expected a str, got bytes"):
        word_tokens(b"bytes are not text")


# ----------------------------------------------------------------------------- text_folder


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_bytes(data.encode("utf-8"))
    else:
        path.write_bytes(data)
    return path


@pytest.fixture
def reviews(tmp_path):
    root = tmp_path / "train"
    write(root / "pos" / "b.txt", "Loved it.\r\nWould watch again.")
    write(root / "pos" / "a.txt", "Wunderschön!")
    write(root / "neg" / "1.txt", "Dull.")
    return root


def test_text_folder_reads_labels_in_sorted_order(reviews):
    texts, labels, names = text_folder(reviews)
    assert names == ["neg", "pos"]
    # files in sorted order, line endings kept
    assert texts == ["Dull.", "Wunderschön!", "Loved it.\r\nWould watch again."]
    assert labels.dtype == torch.long and labels.tolist() == [0, 1, 1]


def test_text_folder_label_names_select_and_order(reviews):
    write(reviews / "unsup" / "x.txt", "no label")
    texts, labels, names = text_folder(reviews, label_names=["pos", "neg"])
    assert names == ["pos", "neg"] and labels.tolist() == [0, 0, 1] and "no label" not in texts
    for bad in (["pos", "unsup2"], ["pos", "pos"], []):
        with pytest.raises(ValueError, match="label_names: expected distinct names among"):
            text_folder(reviews, label_names=bad)


def test_text_folder_keeps_empty_files_with_a_warning(reviews):
    write(reviews / "neg" / "0.txt", b"")
    with pytest.warns(UserWarning, match=r"kept 1 empty file\(s\) as ''.*0\.txt"):
        texts, labels, _ = text_folder(reviews)
    assert texts[0] == "" and labels.tolist() == [0, 0, 1, 1]


def test_text_folder_names_the_file_and_byte_of_bad_utf8(reviews):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        text_folder(reviews, errors="replace")  # valid files: nothing to report
    bad = write(reviews / "neg" / "2.txt", b"caf\xe9 au lait")  # Latin-1 e-acute
    with pytest.raises(ValueError, match=rf"{re.escape(str(bad))}: not valid utf-8 at byte 3"):
        text_folder(reviews)
    write(reviews / "pos" / "c.txt", b"\xffne")
    for errors, text in (("replace", "caf\ufffd au lait"), ("ignore", "caf au lait")):
        match = rf"2 file\(s\) not valid utf-8, read with errors='{errors}' \(the first: .*2\.txt"
        with pytest.warns(UserWarning, match=match):
            texts, _, _ = text_folder(reviews, errors=errors)
        assert text in texts
    assert "café au lait" in text_folder(reviews, encoding="latin-1")[0]


def test_text_folder_keeps_a_label_without_files(tmp_path):
    write(tmp_path / "b_pos" / "1.txt", "good")
    (tmp_path / "a_neutral").mkdir()
    match = r"a_neutral: no \.txt files; label 0 \('a_neutral'\) is kept"
    with pytest.warns(UserWarning, match=match):
        texts, labels, names = text_folder(tmp_path)
    assert names == ["a_neutral", "b_pos"] and texts == ["good"] and labels.tolist() == [1]


def test_text_folder_warns_about_skipped_entries_and_ignores_hidden_ones(reviews):
    write(reviews / "pos" / "notes.md", "not a review")
    write(reviews / "pos" / "deeper" / "c.txt", "nested")
    write(reviews / "pos" / ".hidden.txt", "hidden")
    write(reviews / "pos" / "UPPER.TXT", "Upper case suffix.")
    write(reviews / "README.txt", "about the data set")  # directly in root: not a text
    with pytest.warns(UserWarning, match="pos: skipped 2 entries that are not .txt files"):
        texts, labels, _ = text_folder(reviews)
    assert texts == [
        "Dull.",
        "Upper case suffix.",
        "Wunderschön!",
        "Loved it.\r\nWould watch again.",
    ]
    assert labels.tolist() == [0, 1, 1, 1]
    with pytest.warns(UserWarning, match="skipped 1 entry that is not .md/.txt files"):
        texts, _, _ = text_folder(reviews, suffixes=(".md", ".txt"))
    assert "not a review" in texts


def test_text_folder_byte_order_mark(tmp_path):
    write(tmp_path / "x" / "bom.txt", b"\xef\xbb\xbfhello")
    assert text_folder(tmp_path)[0] == ["\ufeffhello"]
    assert text_folder(tmp_path, encoding="utf-8-sig")[0] == ["hello"]


def test_text_folder_clear_errors(tmp_path, reviews):
    with pytest.raises(ValueError, match="does not exist"):
        text_folder(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="is a file"):
        text_folder(write(tmp_path / "file.txt", "x"))
    (tmp_path / "flat").mkdir()
    write(tmp_path / "flat" / "1.txt", "no label folder")
    with pytest.raises(ValueError, match="no label folders in"):
        text_folder(tmp_path / "flat")
    with pytest.raises(ValueError, match="encoding, errors"):
        text_folder(reviews, encoding="no-such-codec")
    with pytest.raises(ValueError, match="encoding, errors"):
        text_folder(reviews, errors="skip")
    for bad in ("txt", (), (".txt", 3)):
        with pytest.raises(ValueError, match="suffixes: expected file-name endings"):
            text_folder(reviews, suffixes=bad)


# ----------------------------------------------------------------------------- docstring_topics


def module(n, tag, extra=""):
    """Source of a module whose every docstring names ``tag`` (the file) and a counter."""
    body = f"of {tag} does one thing well here."
    functions = "\n".join(f'def f{i}():\n    """Function {i} {body}"""\n' for i in range(n))
    return f'"""Module {tag} has a docstring of enough words."""\n{extra}\n{functions}'


@pytest.fixture
def library(tmp_path):
    """A fake standard library: family 'net' (package ``net``, 4 files) and 'text' (3 modules)."""
    root = tmp_path / "lib"
    write(root / "net" / "__init__.py", module(2, "netinit"))
    write(root / "net" / "big.py", module(9, "netbig"))
    write(root / "net" / "mid.py", module(5, "netmid"))
    write(
        root / "net" / "small.py",
        module(
            2,
            "netsmall",
            extra=textwrap.dedent(
                '''
                class Client:
                    """Class Client of netsmall keeps a connection open."""

                    async def read(self):
                        """Method read of netsmall waits for bytes."""

                    def short(self):
                        """Too short."""
                '''
            ),
        ),
    )
    write(root / "net" / "tests" / "test_big.py", module(3, "nettest"))
    write(root / "net" / "test_more.py", module(3, "nettestmore"))
    for name, n in (("texta", 6), ("textb", 3), ("textc", 2)):
        write(root / f"{name}.py", module(n, name))
    # A module whose import would have a side effect; docstring_topics must only parse it.
    marker = tmp_path / "imported"
    write(root / "textc.py", module(2, "textc", extra=f"open({str(marker)!r}, 'w').close()"))
    # The same docstring again, in another family's file: only the first copy is kept.
    write(root / "textd.py", '"""Module netbig has a docstring of enough words."""\n')
    return root


# The family 'text' has docstrings in three files, so the tests split it with min_files=1.
FAMILIES = {"text": ("texta", "textb", "textc", "textd"), "net": ("net",)}


def file_tag(text):
    """The file a docstring of the fake library comes from: every docstring names it."""
    return next(word for word in text.split() if word.startswith(("net", "text")))


def test_docstring_topics_reads_labels_and_docstrings(library):
    parts = {s: docstring_topics(s, FAMILIES, root=library, min_files=1) for s in ("train", "val", "test")}
    texts = [t for s in parts for t in parts[s][0]]
    assert parts["train"][2] == ["net", "text"]  # sorted family names
    assert not (library.parent / "imported").exists(), "the module was imported, not parsed"
    # net: __init__ 3, big 10, mid 6, small 5 (a class and an async method; "Too short." is
    # dropped); text: a 7, b 4, c 3 (textd only repeats a docstring of net/big); no tests.
    assert len(texts) == len(set(texts)) == 3 + 10 + 6 + 5 + 7 + 4 + 3
    assert "Class Client of netsmall keeps a connection open." in texts
    assert "Method read of netsmall waits for bytes." in texts
    assert not any("nettest" in t or "Too short" in t for t in texts)
    for part_texts, labels, _ in parts.values():
        assert labels.dtype == torch.long and len(labels) == len(part_texts)
        for text, label in zip(part_texts, labels.tolist(), strict=True):
            assert label == (0 if file_tag(text).startswith("net") else 1), text


def test_docstring_topics_splits_by_file(library):
    where = {}
    for s in ("train", "val", "test"):
        texts, labels, _ = docstring_topics(s, FAMILIES, root=library, min_files=1)
        assert set(labels.tolist()) == {0, 1}, f"{s}: every family in every part"
        for text in texts:
            where.setdefault(file_tag(text), set()).add(s)
    assert all(len(parts) == 1 for parts in where.values()), f"a file in two parts: {where}"
    # Largest file first, each to the part furthest below its share (0.6, 0.2, 0.2) of the
    # family's 24 docstrings: big (10) -> train, mid (6) -> val, small (5) -> test, then
    # init (3) -> train.
    assert where["netbig"] == where["netinit"] == {"train"}
    assert where["netmid"] == {"val"} and where["netsmall"] == {"test"}
    first, again = (docstring_topics("test", FAMILIES, root=library, min_files=1)[0] for _ in range(2))
    assert first == again, "the split is fixed"


def test_docstring_topics_with_files(library):
    seen: dict[str, str] = {}
    for s in ("train", "val", "test"):
        texts, labels, names, files = docstring_topics(s, FAMILIES, root=library, min_files=1, with_files=True)
        plain = docstring_topics(s, FAMILIES, root=library, min_files=1)
        assert texts == plain[0] and labels.tolist() == plain[1].tolist() and names == plain[2]
        assert len(files) == len(texts)
        for text, file in zip(texts, files, strict=True):
            # net/big.py holds the docstrings tagged "netbig", texta.py those tagged "texta"
            stem = file.replace("/", "").removesuffix(".py").replace("__init__", "init")
            assert stem == file_tag(text), file
            assert seen.setdefault(file, s) == s, f"{file} in two parts"
    with pytest.raises(TypeError, match="with_files: expected a bool"):
        docstring_topics("train", FAMILIES, root=library, min_files=1, with_files=1)


def test_docstring_topics_never_leaves_a_part_without_min_files_files(library):
    # Three files of 5 docstrings: "each to the part furthest below its share" alone would put two
    # in train (still 4 below its 9 after the first) and the third in validation, leaving the test
    # part empty. A part with fewer than min_files files takes the next file first.
    for name in ("eqa", "eqb", "eqc"):
        write(library / f"{name}.py", module(4, name))
    for least in (1, 2):
        families = {"eq": ("eqa", "eqb", "eqc"), "net": ("net",)}
        if least == 2:
            for name, n in (("eqd", 3), ("eqe", 2), ("eqf", 1)):
                write(library / f"{name}.py", module(n, name))
            families["eq"] += ("eqd", "eqe", "eqf")
            families["net"] = ("net", "texta", "textb")  # 4 + 2 files: enough for 2 per part
        for s in ("train", "val", "test"):
            _, labels, names, files = docstring_topics(s, families, root=library, min_files=least, with_files=True)
            for label, name in enumerate(names):
                in_part = {f for f, k in zip(files, labels.tolist(), strict=True) if k == label}
                assert len(in_part) >= least, f"{name} has {sorted(in_part)} in {s}"
    match = r"families\['net'\]: docstrings in 4 file\(s\), 6 needed for min_files=2"
    with pytest.raises(ValueError, match=match):
        docstring_topics("train", FAMILIES, root=library)  # min_files=2 by default


def test_docstring_topics_refuses_families_that_share_a_module(library):
    families = {"a": ("texta", "textb", "textc"), "b": ("net", "textb")}
    with pytest.raises(ValueError, match="expected disjoint families, 'textb' is in 'a' and 'b'"):
        docstring_topics("train", families, root=library, min_files=1)


def test_docstring_topics_min_words(library):
    long = docstring_topics("train", FAMILIES, root=library, min_files=1, min_words=9)[0]
    assert long and all(len(word_tokens(t)) >= 9 for t in long)
    assert len(long) < len(docstring_topics("train", FAMILIES, root=library, min_files=1)[0])


def test_docstring_topics_clear_errors(library):
    with pytest.raises(ValueError, match="split: expected one of"):
        docstring_topics("validation", FAMILIES, root=library, min_files=1)
    with pytest.raises(ValueError, match="no package or module 'nothere'"):
        docstring_topics("train", {"x": ("nothere",), **FAMILIES}, root=library, min_files=1)
    match = r"families\['few'\]: docstrings in 2 file\(s\), 3 needed for min_files=1"
    with pytest.raises(ValueError, match=match):
        docstring_topics("train", {"few": ("textb", "textc"), "net": ("net",)}, root=library, min_files=1)
    with pytest.raises(TypeError, match=r"families\['net'\]: expected module names"):
        docstring_topics("train", {"net": "net"}, root=library, min_files=1)
    with pytest.raises(TypeError, match="families: expected a mapping of labels"):
        docstring_topics("train", ["net"], root=library, min_files=1)
    match = r"families: expected str label names, got keys of type\(s\) \['int', 'str'\]"
    with pytest.raises(TypeError, match=match):
        docstring_topics("train", {1: ("net",), "b": ("textb",)}, root=library, min_files=1)
    with pytest.raises(TypeError, match="fractions: expected a sequence of three shares.*generator"):
        fractions = (f for f in (0.6, 0.2, 0.2))
        docstring_topics("train", FAMILIES, root=library, min_files=1, fractions=fractions)
    with pytest.raises(ValueError, match="fractions: expected three shares summing to 1"):
        docstring_topics("train", FAMILIES, root=library, min_files=1, fractions=(0.5, 0.2, 0.2))
    with pytest.raises(ValueError, match=r"fractions \(val\)"):
        docstring_topics("train", FAMILIES, root=library, min_files=1, fractions=(0.8, 0.0, 0.2))
    with pytest.raises(ValueError, match="root: expected a folder"):
        docstring_topics("train", FAMILIES, root=library / "missing", min_files=1)


def test_docstring_topics_on_this_python():
    parts = {s: docstring_topics(s, with_files=True) for s in ("train", "val", "test")}
    names = parts["train"][2]
    assert names == sorted(DOCSTRING_FAMILIES)
    seen = set()
    for s, (texts, labels, _, files) in parts.items():
        counts = torch.bincount(labels, minlength=len(names))
        assert (counts >= 20).all(), f"{s}: {counts.tolist()} per family, expected >= 20"
        for label, name in enumerate(names):
            in_part = {f for f, k in zip(files, labels.tolist(), strict=True) if k == label}
            assert len(in_part) >= 2, f"{name}: {sorted(in_part)} only in {s}"
        assert seen.isdisjoint(texts), f"{s} shares a docstring with another part"
        seen.update(texts)
