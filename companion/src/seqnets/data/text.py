"""Text as tensors: vocabularies, padding, language-model windows, and text every Python carries.

* :class:`Vocab` maps tokens (words, characters, anything hashable as a string) to integer ids and
  back, with a padding token (id 0) and an unknown token (id 1) first; :class:`CharVocab` is a
  vocabulary of characters that encodes and decodes whole strings.
* :func:`pad_sequences` stacks sequences of different lengths into one ``(batch, time)`` tensor
  and returns their lengths, the form ``nn.utils.rnn.pack_padded_sequence`` and masks need.
* :func:`next_token_windows` cuts one long id stream into ``(inputs, targets)`` windows for a
  language model, the targets being the inputs shifted by one step.
* :func:`python_corpus` reads the source files of the running Python's standard library (no
  tests, no installed packages) and splits them into train / validation / test *by file*, so no
  file contributes text to two parts.
* :func:`word_tokens` splits text into words; :func:`docstring_topics` labels the standard
  library's docstrings by module family (a topic-classification set split by file), and
  :func:`text_folder` reads a labelled collection stored one folder per label.

Example
-------
>>> vocab = CharVocab("hello world")
>>> ids = vocab.encode("hello")
>>> vocab.decode(ids)
'hello'
>>> vocab.encode("hi").tolist()  # 'i' was never seen: the unknown id
[4, 1]
"""

from __future__ import annotations

import ast
import codecs
import functools
import os
import random
import re
import sys
import sysconfig
import tokenize
import unicodedata
import warnings
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, overload

import torch

from seqnets.utils import check_bool, check_number, check_positive_int, check_tensor

__all__ = [
    "PAD",
    "UNK",
    "Vocab",
    "CharVocab",
    "pad_sequences",
    "next_token_windows",
    "Corpus",
    "python_corpus",
    "word_tokens",
    "DOCSTRING_FAMILIES",
    "docstring_topics",
    "text_folder",
]

#: The padding token; a :class:`Vocab` gives it index 0 by default.
PAD = "<pad>"
#: The token that stands for anything not in the vocabulary; index 1.
UNK = "<unk>"


# --------------------------------------------------------------------------------------------
# Vocabularies
# --------------------------------------------------------------------------------------------


class Vocab:
    """A mapping between tokens and integer ids, built from the tokens of a training text.

    Ids are assigned to ``specials`` first (by default ``"<pad>"`` = 0 and ``"<unk>"`` = 1), then
    to the tokens seen at least ``min_count`` times, most frequent first, ties in order of first
    appearance -- so the same text always gives the same ids.

    Parameters
    ----------
    tokens : iterable of str
        The training tokens (a list of words, a string of characters, ...).
    min_count : int
        Tokens seen fewer times are left out and encode as ``"<unk>"``.
    max_size : int, optional
        Keep at most this many ids in all (specials included), the most frequent tokens.
    specials : sequence of str
        Reserved tokens, first ids; must start with ``"<pad>"`` and ``"<unk>"`` (add ``"<bos>"``,
        ``"<eos>"`` for sequence-to-sequence models).

    Examples
    --------
    >>> v = Vocab("the cat saw the dog".split(), specials=("<pad>", "<unk>", "<eos>"))
    >>> v.itos
    ['<pad>', '<unk>', '<eos>', 'the', 'cat', 'saw', 'dog']
    >>> v.encode(["the", "bird"]).tolist()
    [3, 1]
    """

    pad_id = 0
    unk_id = 1

    def __init__(
        self,
        tokens: Iterable[str],
        *,
        min_count: int = 1,
        max_size: int | None = None,
        specials: Sequence[str] = (PAD, UNK),
    ) -> None:
        specials = list(_check_tokens(specials, "specials"))
        if specials[:2] != [PAD, UNK] or len(set(specials)) != len(specials):
            raise ValueError(f"specials: expected distinct tokens starting with {PAD!r}, {UNK!r}, got {specials}")
        min_count = check_positive_int(min_count, "min_count")
        if max_size is not None:
            max_size = check_positive_int(max_size, "max_size", minimum=len(specials))
        counts = Counter(_check_tokens(tokens, "tokens"))  # Counter keeps first-appearance order
        kept = [t for t, c in sorted(counts.items(), key=lambda tc: -tc[1]) if c >= min_count]
        kept = [t for t in kept if t not in specials]
        itos = specials + kept
        self.itos: list[str] = itos[:max_size] if max_size is not None else itos
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}
        self.specials: tuple[str, ...] = tuple(specials)

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: object) -> bool:
        return token in self.stoi

    def __repr__(self) -> str:
        return f"{type(self).__name__}(size={len(self)}, specials={list(self.specials)})"

    def encode(self, tokens: Iterable[str]) -> torch.Tensor:
        """Token ids, ``(T,)`` int64; tokens not in the vocabulary become ``unk_id``."""
        ids = [self.stoi.get(t, self.unk_id) for t in _check_tokens(tokens, "tokens")]
        return torch.tensor(ids, dtype=torch.long)

    def _tokens(self, ids: Any, skip_specials: bool) -> list[str]:
        if isinstance(ids, torch.Tensor):
            if ids.dim() != 1 or ids.is_floating_point() or ids.is_complex():
                raise ValueError(f"ids: expected a 1-D integer tensor, got {ids.dtype} {tuple(ids.shape)}")
            ids = ids.tolist()
        out = []
        for i in ids:
            if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < len(self):
                raise ValueError(f"ids: expected integers in [0, {len(self) - 1}], got {i!r}")
            if not (skip_specials and i < len(self.specials)):
                out.append(self.itos[i])
        return out

    def decode(self, ids: torch.Tensor | Sequence[int], *, skip_specials: bool = False) -> list[str]:
        """The tokens of ``ids`` (a ``(T,)`` tensor or a list of ints), specials kept unless
        ``skip_specials``."""
        return self._tokens(ids, skip_specials)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe description; :meth:`from_dict` rebuilds the same vocabulary from it."""
        return {"class": type(self).__name__, "itos": list(self.itos), "specials": list(self.specials)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Vocab:
        """Rebuild a vocabulary saved with :meth:`to_dict` (e.g. in checkpoint metadata)."""
        if not isinstance(data, dict) or not {"itos", "specials"} <= data.keys():
            raise ValueError("data: expected the dict of Vocab.to_dict() with 'itos' and 'specials'")
        specials, itos = list(data["specials"]), list(data["itos"])
        if specials[:2] != [PAD, UNK] or itos[: len(specials)] != specials or len(set(itos)) != len(itos):
            raise ValueError("data: 'itos' must start with 'specials' and hold distinct tokens")
        vocab = cls.__new__(cls)
        vocab.itos, vocab.specials = itos, tuple(specials)
        vocab.stoi = {t: i for i, t in enumerate(itos)}
        return vocab


class CharVocab(Vocab):
    """A :class:`Vocab` of single characters that encodes and decodes strings.

    Parameters
    ----------
    text : str or iterable of str
        Training text (one string, or several that are counted together).
    min_count, max_size : see :class:`Vocab`.

    Examples
    --------
    >>> v = CharVocab(["abba", "cab"])
    >>> v.itos[2:]
    ['a', 'b', 'c']
    >>> v.decode(v.encode("cabbage"))  # 'g' and 'e' are unknown
    'cabba<unk><unk>'
    """

    def __init__(self, text: str | Iterable[str], *, min_count: int = 1, max_size: int | None = None):
        parts = [text] if isinstance(text, str) else list(text)
        for i, part in enumerate(parts):
            if not isinstance(part, str):
                raise TypeError(f"text: expected a str or strings, got {type(part).__name__} at {i}")
        super().__init__((c for part in parts for c in part), min_count=min_count, max_size=max_size)

    def encode(self, text: Iterable[str]) -> torch.Tensor:
        """Character ids of ``text``, ``(len(text),)`` int64."""
        if not isinstance(text, str):
            raise TypeError(f"text: expected a str, got {type(text).__name__}")
        return super().encode(text)

    def decode(self, ids: torch.Tensor | Sequence[int], *, skip_specials: bool = False) -> str:  # type: ignore[override]
        """The string of ``ids``; ``"<pad>"`` is always dropped, ``"<unk>"`` kept unless
        ``skip_specials``."""
        return "".join(t for t in self._tokens(ids, skip_specials) if t != PAD)


def _check_tokens(tokens: Iterable[str], name: str) -> Iterable[str]:
    if isinstance(tokens, (bytes, torch.Tensor)) or not isinstance(tokens, Iterable):
        raise TypeError(f"{name}: expected an iterable of str, got {type(tokens).__name__}")
    for i, token in enumerate(tokens):
        if not isinstance(token, str):
            raise TypeError(f"{name}: expected str tokens, got {type(token).__name__} {token!r} at {i}")
        yield token


# --------------------------------------------------------------------------------------------
# Batching
# --------------------------------------------------------------------------------------------


def pad_sequences(
    seqs: Sequence[torch.Tensor], *, pad_id: int = 0, max_len: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack 1-D id sequences of different lengths into one padded batch.

    Parameters
    ----------
    seqs : sequence of LongTensor, each ``(T_i,)``
        At least one sequence; empty sequences are allowed (length 0).
    pad_id : int
        The id written after the end of each sequence.
    max_len : int, optional
        Truncate longer sequences to this many ids (from the start).

    Returns
    -------
    padded : LongTensor ``(B, T)``
        ``T = max(lengths)``.
    lengths : LongTensor ``(B,)``
        Length of each sequence after truncation.

    Examples
    --------
    >>> x, n = pad_sequences([torch.tensor([5, 6, 7]), torch.tensor([8])])
    >>> x.tolist(), n.tolist()
    ([[5, 6, 7], [8, 0, 0]], [3, 1])
    """
    if isinstance(seqs, torch.Tensor) or not isinstance(seqs, Sequence) or len(seqs) == 0:
        raise ValueError(f"seqs: expected a non-empty sequence of 1-D tensors, got {type(seqs).__name__}")
    pad_id = check_positive_int(pad_id, "pad_id", minimum=0)
    if max_len is not None:
        max_len = check_positive_int(max_len, "max_len")
    for i, s in enumerate(seqs):
        check_tensor(s, f"seqs[{i}]", ndim=1)
        if s.is_floating_point() or s.is_complex():
            raise TypeError(f"seqs[{i}]: expected integer ids, got dtype {s.dtype}")
    clipped = [s[:max_len] for s in seqs]
    lengths = torch.tensor([len(s) for s in clipped], dtype=torch.long)
    padded = torch.full((len(clipped), int(lengths.max())), pad_id, dtype=torch.long)
    for i, s in enumerate(clipped):
        padded[i, : len(s)] = s
    return padded, lengths


def next_token_windows(
    ids: torch.Tensor, length: int, *, stride: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cut an id stream into windows for next-token prediction.

    Window ``w`` holds ``x[w] = ids[s : s + length]`` and ``y[w] = ids[s + 1 : s + length + 1]``
    with ``s = w * stride``: at every position the target is the token that follows the input.
    Tokens at the end that do not fill a whole window are dropped.

    Parameters
    ----------
    ids : LongTensor ``(N,)``
        The token stream, ``N >= length + 1``.
    length : int
        Steps per window ``T``.
    stride : int, optional
        Start-to-start distance; ``length`` (the default) makes the windows tile the stream.

    Returns
    -------
    x, y : LongTensor ``(W, T)``
        ``W = (N - 1 - length) // stride + 1`` windows (copies, not views of ``ids``).

    Examples
    --------
    >>> x, y = next_token_windows(torch.arange(8), 3)
    >>> x.tolist(), y.tolist()
    ([[0, 1, 2], [3, 4, 5]], [[1, 2, 3], [4, 5, 6]])
    """
    check_tensor(ids, "ids", ndim=1)
    if ids.is_floating_point() or ids.is_complex():
        raise TypeError(f"ids: expected integer token ids, got dtype {ids.dtype}")
    length = check_positive_int(length, "length")
    stride = length if stride is None else check_positive_int(stride, "stride")
    if len(ids) < length + 1:
        raise ValueError(f"ids: expected at least length + 1 = {length + 1} tokens, got {len(ids)}")
    windows = ids.unfold(0, length + 1, stride)  # (W, T + 1)
    return windows[:, :-1].clone(), windows[:, 1:].clone()


# --------------------------------------------------------------------------------------------
# The standard library as a corpus
# --------------------------------------------------------------------------------------------

_SKIPPED_DIRS = frozenset({"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"})
_SKIPPED_PACKAGES = frozenset({"pydoc_data"})  # generated: one dict of help text, not code


@dataclass(frozen=True)
class Corpus:
    """Texts split by file: each part maps a file's path (relative to the library) to its text."""

    train: dict[str, str]
    val: dict[str, str]
    test: dict[str, str]

    def text(self, part: str, sep: str = "\n") -> str:
        """All texts of ``part`` (``"train"``, ``"val"`` or ``"test"``) joined by ``sep``."""
        if part not in ("train", "val", "test"):
            raise ValueError(f"part: expected 'train', 'val' or 'test', got {part!r}")
        return sep.join(getattr(self, part).values())

    def __repr__(self) -> str:
        sizes = ", ".join(
            f"{p}={len(getattr(self, p))} files/{len(self.text(p)):,} chars" for p in ("train", "val", "test")
        )
        return f"Corpus({sizes})"


def _stdlib_files(root: Path) -> list[Path]:
    files = []
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED_DIRS)
        files += [Path(folder, n) for n in names if n.endswith(".py") and not n.startswith("test_")]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def python_corpus(
    *,
    packages: Iterable[str] | None = None,
    max_files: int | None = None,
    seed: int = 0,
    fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
    root: str | os.PathLike[str] | None = None,
) -> Corpus:
    """The source files of the standard library, split into train / validation / test by file.

    Every Python installation carries this text, so nothing is downloaded. Test suites
    (``test``/``tests`` folders, ``test_*.py``), installed packages and the generated
    ``pydoc_data`` are left out. Files are read with the encoding their header declares.
    Which files exist depends on the Python version, so numbers computed on this corpus are
    comparable only on the same version.

    Parameters
    ----------
    packages : iterable of str, optional
        Keep only these top-level names (``"json"`` keeps ``json/*.py``; ``"os"`` keeps ``os.py``).
    max_files : int, optional
        Keep this many files, chosen by the seeded shuffle (before splitting).
    seed : int
        Seeds the shuffle that assigns files to parts.
    fractions : (float, float, float)
        Shares of the files for train, validation and test; validation and test get at least one
        file each.
    root : path, optional
        The library folder (default: this interpreter's, ``sysconfig.get_paths()["stdlib"]``).

    Returns
    -------
    Corpus
        ``train``, ``val`` and ``test`` dicts ``{relative path: text}``, paths in sorted order.
    """
    root = Path(root if root is not None else sysconfig.get_paths()["stdlib"])
    if not root.is_dir():
        raise ValueError(f"root: expected a folder of Python files, got {str(root)!r}")
    if max_files is not None:
        max_files = check_positive_int(max_files, "max_files", minimum=3)
    if len(fractions) != 3 or abs(sum(fractions) - 1) > 1e-9:
        raise ValueError(f"fractions: expected three shares summing to 1, got {fractions}")
    for name, share in zip(("train", "val", "test"), fractions, strict=True):
        check_number(share, f"fractions ({name})", low=0, high=1, low_open=True)
    files = _stdlib_files(root)
    top = [p.relative_to(root).parts[0].removesuffix(".py") for p in files]
    wanted = None if packages is None else set(_check_tokens(packages, "packages"))
    if wanted is not None:
        missing = wanted - set(top)
        if missing:
            raise ValueError(f"packages: not found in {root}: {sorted(missing)}")
    files = [
        p for p, t in zip(files, top, strict=True) if t not in _SKIPPED_PACKAGES and (wanted is None or t in wanted)
    ]
    if len(files) < 3:
        raise ValueError(f"need at least 3 files to split, found {len(files)} under {root}")
    random.Random(seed).shuffle(files)
    files = files[:max_files]
    n_val = max(1, round(fractions[1] * len(files)))
    n_test = max(1, round(fractions[2] * len(files)))
    parts = {"val": files[:n_val], "test": files[n_val : n_val + n_test], "train": files[n_val + n_test :]}
    if not parts["train"]:
        raise ValueError(f"no file left for training out of {len(files)}: raise max_files or the train share")
    texts: dict[str, dict[str, str]] = {}
    for part, paths in parts.items():
        texts[part] = {}
        for path in sorted(paths, key=lambda p: p.relative_to(root).as_posix()):
            with tokenize.open(path) as f:  # honours the file's coding declaration
                texts[part][path.relative_to(root).as_posix()] = f.read()
    return Corpus(train=texts["train"], val=texts["val"], test=texts["test"])


# --------------------------------------------------------------------------------------------
# Words, and labelled texts for classification
# --------------------------------------------------------------------------------------------


@functools.cache
def _word_pattern() -> re.Pattern[str]:
    r"""A word: letters, digits and combining marks, with apostrophes (' or U+2019) inside.

    ``[^\W_]`` (letters and digits) misses the combining marks (Unicode category M), such as the
    vowel signs of Devanagari or an accent typed after its letter; they are listed here, once, by
    scanning every code point (a tenth of a second).
    """
    ranges: list[list[int]] = []
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code)).startswith("M"):
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    marks = "".join(f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in ranges)
    char = rf"(?:[^\W_]|[{marks}])"
    return re.compile(rf"[^\W_]{char}*(?:['\u2019]{char}+)*")  # starts with a letter or digit


def word_tokens(text: str, *, lowercase: bool = True) -> list[str]:
    r"""Split ``text`` into words: runs of letters, digits and combining marks (and apostrophes).

    Everything else (white space, punctuation, underscores) separates words, so an identifier such
    as ``get_event_loop`` gives three words and ``email.message`` two. The text is first put in
    Unicode normal form NFC, so an accent typed as a separate combining character gives the same
    word as the precomposed letter. Letters and combining marks of every script count, so accented
    and non-Latin words (``"हिन्दी"``, whose vowel signs are combining marks) stay whole. A
    typographic apostrophe (U+2019) inside a word becomes ``'``. A word starts with a letter or a
    digit: a combining mark with no letter before it (after a space, say) is dropped, as
    punctuation is. A string without letters or digits gives ``[]``.

    Examples
    --------
    >>> word_tokens("Don't call get_event_loop() -- it's deprecated since 3.12!")
    ["don't", 'call', 'get', 'event', 'loop', "it's", 'deprecated', 'since', '3', '12']
    >>> word_tokens("Don\u2019t CAFE\u0301")
    ["don't", 'café']
    """
    if not isinstance(text, str):
        raise TypeError(f"text: expected a str, got {type(text).__name__}")
    text = unicodedata.normalize("NFC", text.lower() if lowercase else text)
    return [word.replace("\u2019", "'") for word in _word_pattern().findall(text)]


#: The module families of :func:`docstring_topics`: label -> top-level standard-library names.
DOCSTRING_FAMILIES: dict[str, tuple[str, ...]] = {
    "asyncio": ("asyncio",),
    "concurrency": ("concurrent", "multiprocessing", "queue", "threading"),
    "email": ("email", "imaplib", "mailbox", "poplib", "smtplib"),
    "imports": ("importlib", "modulefinder", "pkgutil", "runpy", "zipimport"),
    "testing": ("doctest", "unittest"),
    "web": ("http", "urllib", "wsgiref"),
    "xml": ("xml", "xmlrpc"),
}

# (texts, labels, label_names): what docstring_topics and text_folder return.
_Labelled = tuple[list[str], torch.Tensor, list[str]]

_PARTS = ("train", "val", "test")
_DOCUMENTED = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)


def _docstrings(path: Path) -> list[str]:
    """Docstrings of a file's module, classes and functions (cleaned as ``inspect.cleandoc`` does),
    in source order. The file is parsed, never imported: importing runs code."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except (SyntaxError, ValueError) as err:
        raise ValueError(f"{path}: cannot parse it ({type(err).__name__}: {err})") from None
    nodes = [n for n in ast.walk(tree) if isinstance(n, _DOCUMENTED)]
    nodes.sort(key=lambda n: getattr(n, "lineno", 0))  # the module (no line number) first
    return [doc for n in nodes if (doc := ast.get_docstring(n)) is not None]


def _module_files(root: Path, name: str) -> list[Path]:
    """Files of top-level package or module ``name``, found as :func:`python_corpus` finds them."""
    if (root / name).is_dir():
        return _stdlib_files(root / name)
    if (root / f"{name}.py").is_file():
        return [root / f"{name}.py"]
    raise ValueError(f"families: no package or module {name!r} in {str(root)!r}")


@functools.lru_cache(maxsize=4)
def _docstring_records(
    families: tuple[tuple[str, tuple[str, ...]], ...], min_words: int, root: Path
) -> tuple[tuple[int, str, str], ...]:
    """``(label, file, docstring)`` of every docstring kept, in the order family, file, line."""
    seen: set[tuple[str, ...]] = set()
    records = []
    for label, (_, modules) in enumerate(families):
        paths = {p.relative_to(root).as_posix(): p for m in modules for p in _module_files(root, m)}
        for file in sorted(paths):
            for doc in _docstrings(paths[file]):
                words = tuple(word_tokens(doc))
                if len(words) >= min_words and words not in seen:  # the first of equal texts only
                    seen.add(words)
                    records.append((label, file, doc))
    return tuple(records)


def _split_by_file(sizes: Mapping[str, int], shares: Sequence[float], least: int) -> dict[str, int]:
    """Part (0, 1, 2) of each file: largest file first (ties by path), each to the part furthest
    below its share of the docstrings, except that parts with fewer than ``least`` files come first.
    With ``len(sizes) >= least * len(shares)``, every part gets ``least`` files or more."""
    total = sum(sizes.values())
    docs, files = [0] * len(shares), [0] * len(shares)
    part_of = {}
    for file in sorted(sizes, key=lambda f: (-sizes[f], f)):
        part = min(
            range(len(shares)),
            key=lambda p: (files[p] >= least, docs[p] - shares[p] * total, p),
        )
        part_of[file] = part
        docs[part] += sizes[file]
        files[part] += 1
    return part_of


@overload
def docstring_topics(
    split: str = ...,
    families: Mapping[str, Sequence[str]] | None = ...,
    *,
    min_words: int = ...,
    min_files: int = ...,
    fractions: Sequence[float] = ...,
    root: str | os.PathLike[str] | None = ...,
    with_files: Literal[False] = ...,
) -> _Labelled: ...


@overload
def docstring_topics(
    split: str = ...,
    families: Mapping[str, Sequence[str]] | None = ...,
    *,
    min_words: int = ...,
    min_files: int = ...,
    fractions: Sequence[float] = ...,
    root: str | os.PathLike[str] | None = ...,
    with_files: Literal[True],
) -> tuple[list[str], torch.Tensor, list[str], list[str]]: ...


def docstring_topics(
    split: str = "train",
    families: Mapping[str, Sequence[str]] | None = None,
    *,
    min_words: int = 5,
    min_files: int = 2,
    fractions: Sequence[float] = (0.6, 0.2, 0.2),
    root: str | os.PathLike[str] | None = None,
    with_files: bool = False,
) -> _Labelled | tuple[list[str], torch.Tensor, list[str], list[str]]:
    """Docstrings of the standard library, labelled by the family of modules each comes from.

    A topic-classification data set that every Python installation carries. A sample is one
    docstring (of a module, class, function or method), its label the family of its module. The
    default families, :data:`DOCSTRING_FAMILIES`, are seven groups of related modules, each with
    several files and a few hundred docstrings (on Python 3.10 to 3.13):

    ===========  ==================================================
    asyncio      asyncio
    concurrency  concurrent, multiprocessing, queue, threading
    email        email, imaplib, mailbox, poplib, smtplib
    imports      importlib, modulefinder, pkgutil, runpy, zipimport
    testing      doctest, unittest
    web          http, urllib, wsgiref
    xml          xml, xmlrpc
    ===========  ==================================================

    Files are found as :func:`python_corpus` finds them (no tests, no installed packages) and
    parsed with :mod:`ast`, never imported. A docstring is kept if it has at least ``min_words``
    words (:func:`word_tokens`); of docstrings with the same words only the first is kept (order:
    family, file path, line), so no text appears twice.

    The split is **by file**, within each family, and fixed: the family's files, largest first,
    each go whole to the part (train, validation, test) furthest below its share ``fractions`` of
    the family's docstrings, except that a part with fewer than ``min_files`` files of the family
    takes the next file first. So every family has at least ``min_files`` files, and docstrings,
    in every part: a part is never empty, and a score on it never rests on a single file. The
    docstrings of one file repeat each other's phrases (a method and its overrides, say); keeping
    a file on one side measures how a model does on modules it has not seen. Which docstrings
    exist depends on the Python version, and so do the numbers. The files are read once per
    ``(families, min_words, root)`` and the docstrings kept in memory for the rest of the session
    (the last few such keys): a file changed after the first call is not read again.

    Parameters
    ----------
    split : {"train", "val", "test"}
    families : mapping of str to sequence of str, optional
        Label name -> top-level module or package names; default :data:`DOCSTRING_FAMILIES`.
        Labels are numbered in sorted name order. No module may be in two families, and each
        family needs docstrings in at least ``3 * min_files`` files.
    min_words : int
        Shortest docstring kept, in words.
    min_files : int
        Fewest files of each family in each part.
    fractions : (float, float, float)
        Shares of train, validation and test, each > 0, summing to 1.
    root : path, optional
        The library folder (default: this interpreter's, as in :func:`python_corpus`).
    with_files : bool
        Also return the file of each docstring, for example to resample whole files when
        estimating the uncertainty of a test score (the docstrings of one file are not
        independent).

    Returns
    -------
    texts : list of str, length N
        Cleaned docstrings (common indentation removed), grouped by family, in file order.
    labels : LongTensor ``(N,)``
        Indices into ``label_names``.
    label_names : list of str
        The family names, sorted.
    files : list of str, length N
        Only with ``with_files=True``: the path of each docstring's file, relative to ``root``.

    Examples
    --------
    >>> texts, labels, names = docstring_topics("val")
    >>> names[:3], len(texts) == len(labels)
    (['asyncio', 'concurrency', 'email'], True)
    """
    if split not in _PARTS:
        raise ValueError(f"split: expected one of {_PARTS}, got {split!r}")
    families = DOCSTRING_FAMILIES if families is None else families
    if not isinstance(families, Mapping) or not families:
        raise TypeError(f"families: expected a mapping of labels to module names, got {families!r}")
    if not all(isinstance(name, str) for name in families):
        got = sorted({type(name).__name__ for name in families})
        raise TypeError(f"families: expected str label names, got keys of type(s) {got}")
    spec = []
    family_of: dict[str, str] = {}
    for name in sorted(families):
        modules = families[name]
        if isinstance(modules, str) or not modules or not all(isinstance(m, str) for m in modules):
            raise TypeError(f"families[{name!r}]: expected module names, got {modules!r}")
        for m in modules:
            if family_of.setdefault(m, name) != name:
                both = f"{m!r} is in {family_of[m]!r} and {name!r}"
                raise ValueError(f"families: expected disjoint families, {both}")
        spec.append((name, tuple(modules)))
    min_words = check_positive_int(min_words, "min_words")
    min_files = check_positive_int(min_files, "min_files")
    check_bool(with_files, "with_files")
    if isinstance(fractions, str) or not isinstance(fractions, Sequence):
        got = f"a {type(fractions).__name__}"
        raise TypeError(f"fractions: expected a sequence of three shares (train, val, test), got {got}")
    if len(fractions) != 3:
        raise ValueError(f"fractions: expected three shares (train, val, test), got {fractions!r}")
    shares = [
        check_number(f, f"fractions ({p})", low=0, high=1, low_open=True)
        for p, f in zip(_PARTS, fractions, strict=True)
    ]
    if abs(sum(shares) - 1) > 1e-9:
        raise ValueError(f"fractions: expected three shares summing to 1, got {fractions!r}")
    base = Path(root if root is not None else sysconfig.get_paths()["stdlib"]).resolve()
    if not base.is_dir():
        raise ValueError(f"root: expected a folder of Python files, got {str(base)!r}")

    records = _docstring_records(tuple(spec), min_words, base)
    wanted = _PARTS.index(split)
    texts: list[str] = []
    labels: list[int] = []
    files: list[str] = []
    for label, (name, _) in enumerate(spec):
        sizes = Counter(file for lab, file, _ in records if lab == label)
        if len(sizes) < min_files * len(_PARTS):
            raise ValueError(
                f"families[{name!r}]: docstrings in {len(sizes)} file(s), "
                f"{min_files * len(_PARTS)} needed for min_files={min_files}"
            )
        part_of = _split_by_file(sizes, shares, min_files)
        for lab, file, doc in records:
            if lab == label and part_of[file] == wanted:
                texts.append(doc)
                labels.append(label)
                files.append(file)
    names = [name for name, _ in spec]
    if with_files:
        return texts, torch.tensor(labels, dtype=torch.long), names, files
    return texts, torch.tensor(labels, dtype=torch.long), names


def text_folder(
    root: str | os.PathLike[str],
    *,
    label_names: Sequence[str] | None = None,
    encoding: str = "utf-8",
    errors: str = "strict",
    suffixes: str | Sequence[str] = (".txt",),
) -> _Labelled:
    """Read labelled texts stored one folder per label, one file per text.

    ``root/<label>/<any name>.txt`` is the layout of many text-classification sets (a movie-review
    set's ``train/pos/*.txt`` and ``train/neg/*.txt``, for example). Labels are the sub-folder
    names in sorted order, or those of ``label_names`` in its order; a text's label is the index of
    its folder. Files are read in sorted name order, each decoded whole (line endings kept).
    Hidden entries (names starting with ``.``) and files directly in ``root`` are ignored.

    Nothing is lost without a word:

    * an **empty file** is kept, as the text ``""``, and a ``UserWarning`` counts them (filter
      them out, or let the model see them, as you choose);
    * a file that is **not valid** ``encoding`` raises a ``ValueError`` that names the file and
      the byte offset, unless ``errors="replace"`` (each bad byte becomes U+FFFD) or ``"ignore"``
      (bad bytes are dropped) is given: then a ``UserWarning`` counts the files affected;
    * a **label folder with no files** keeps its label, so that the labels read from a ``train``
      and a ``test`` folder stay aligned, and a ``UserWarning`` names it;
    * files with other suffixes and sub-folders inside a label folder are skipped, and a
      ``UserWarning`` counts them.

    Parameters
    ----------
    root : path
        Folder holding one sub-folder per label.
    label_names : sequence of str, optional
        The sub-folders to read, in label order (``["neg", "pos"]`` leaves out a folder of
        unlabelled reviews beside them); default: every sub-folder, sorted.
    encoding, errors : str
        As in :meth:`bytes.decode`; ``encoding="utf-8-sig"`` also drops a byte-order mark.
    suffixes : str or sequence of str
        File-name endings to read, compared without regard to case.

    Returns
    -------
    texts : list of str, length N
    labels : LongTensor ``(N,)``
        Indices into ``label_names``.
    label_names : list of str

    Raises
    ------
    ValueError
        ``root`` does not exist, is a file or has no label folders; a name in ``label_names`` is
        not one of its sub-folders; a file cannot be decoded.

    Examples
    --------
    >>> train = text_folder("aclImdb/train", label_names=["neg", "pos"])  # doctest: +SKIP
    """
    root = Path(root)
    if not root.is_dir():
        what = "is a file" if root.exists() else "does not exist"
        raise ValueError(f"root: expected a folder of label folders, {str(root)!r} {what}")
    try:
        codecs.lookup(encoding)
        codecs.lookup_error(errors)
    except (LookupError, TypeError) as err:
        raise ValueError(f"encoding, errors: {err}") from None
    ends = (suffixes,) if isinstance(suffixes, str) else tuple(suffixes)
    if not ends or not all(isinstance(s, str) and s.startswith(".") for s in ends):
        raise ValueError(f"suffixes: expected file-name endings such as '.txt', got {suffixes!r}")
    wanted = tuple(s.lower() for s in ends)
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if label_names is None:
        if not folders:
            raise ValueError(f"root: no label folders in {str(root)!r} (root/<label>/<file>)")
        names = folders
    else:
        names = [label_names] if isinstance(label_names, str) else list(label_names)
        if not names or len(set(names)) != len(names) or not set(names) <= set(folders):
            raise ValueError(f"label_names: expected distinct names among {folders}, got {names}")

    kind = "/".join(ends) + " files"
    texts: list[str] = []
    labels: list[int] = []
    empty: list[Path] = []
    mended: list[Path] = []  # not valid `encoding`, decoded with `errors`
    for label, name in enumerate(names):
        entries = sorted(p for p in (root / name).iterdir() if not p.name.startswith("."))
        files = [p for p in entries if p.is_file() and p.name.lower().endswith(wanted)]
        if len(files) < len(entries):
            skipped = len(entries) - len(files)
            entries_are = "entry that is" if skipped == 1 else "entries that are"
            warnings.warn(
                f"{root / name}: skipped {skipped} {entries_are} not {kind}",
                UserWarning,
                stacklevel=2,
            )
        if not files:
            warnings.warn(
                f"{root / name}: no {kind}; label {label} ({name!r}) is kept with no texts",
                UserWarning,
                stacklevel=2,
            )
        for path in files:
            data = path.read_bytes()
            try:
                text = data.decode(encoding)
            except UnicodeDecodeError as err:
                if errors == "strict":
                    raise ValueError(
                        f"{path}: not valid {encoding} at byte {err.start} ({err.reason}); "
                        "pass errors='replace' to read it with U+FFFD for each bad byte"
                    ) from None
                text = data.decode(encoding, errors)
                mended.append(path)
            if not text:
                empty.append(path)
            texts.append(text)
            labels.append(label)
    if mended:
        read = f"read with errors={errors!r}"
        warnings.warn(
            f"{len(mended)} file(s) not valid {encoding}, {read} (the first: {mended[0]})",
            UserWarning,
            stacklevel=2,
        )
    if empty:
        warnings.warn(
            f"kept {len(empty)} empty file(s) as '' (the first: {empty[0]})",
            UserWarning,
            stacklevel=2,
        )
    return texts, torch.tensor(labels, dtype=torch.long), names
