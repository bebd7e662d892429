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

import os
import random
import sysconfig
import tokenize
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from seqnets.utils import check_number, check_positive_int, check_tensor

__all__ = [
    "PAD",
    "UNK",
    "Vocab",
    "CharVocab",
    "pad_sequences",
    "next_token_windows",
    "Corpus",
    "python_corpus",
]

PAD = "<pad>"
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
