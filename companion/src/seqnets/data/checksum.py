"""SHA-256 checksums of data files: detect a file that differs from the one you meant to use.

A checksum recorded when a data set was published (or first downloaded) and checked before every
use catches a truncated download, a corrupted disk block and a file replaced on purpose alike:
changing any byte changes the digest, and no one knows how to make a different file with a given
SHA-256 digest. It protects only as well as the recorded digest is kept: it must come from a
source the attacker cannot also change (pinned in code, published separately).

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "data.txt"
>>> _ = path.write_bytes(b"abc")
>>> sha256_file(path)
'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'
"""

from __future__ import annotations

import hashlib
import os
import string
from pathlib import Path

from seqnets.utils import check_positive_int

__all__ = ["sha256_file", "verify_sha256"]


def sha256_file(path: str | os.PathLike[str], *, chunk_size: int = 1 << 20) -> str:
    """The SHA-256 digest of a file's bytes, as 64 lowercase hexadecimal digits.

    The file is read in chunks of ``chunk_size`` bytes, so memory stays constant however large the
    file is. The result equals ``hashlib.sha256(Path(path).read_bytes()).hexdigest()``.

    Parameters
    ----------
    path : str or PathLike
        A regular file.
    chunk_size : int
        Bytes read at a time (default 1 MiB).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        ``path`` is not a regular file (a folder, say).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a str or PathLike, got {type(path).__name__}")
    chunk_size = check_positive_int(chunk_size, "chunk_size")
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"path: file not found: {str(path)!r}")
    if not path.is_file():
        raise ValueError(f"path: {str(path)!r} is not a regular file")
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def verify_sha256(path: str | os.PathLike[str], expected: str) -> Path:
    """Check that the file at ``path`` has the SHA-256 digest ``expected``; return its path.

    Returning the path lets a check wrap a loader:
    ``read_idx(verify_sha256(path, "9fb629c4..."))``. The check and the loader open the file
    separately, so whoever can write to the file in between can replace it after it was checked
    (a time-of-check to time-of-use race). Where that matters, verify and load a copy that only
    you can write to, or read the bytes once, compare ``hashlib.sha256(data).hexdigest()`` and
    parse those same bytes.

    Parameters
    ----------
    path : str or PathLike
    expected : str
        64 hexadecimal digits, in either case.

    Raises
    ------
    ValueError
        The digests differ (the message names the file, the expected and the actual digest), or
        ``expected`` is not 64 hexadecimal digits.
    """
    if not isinstance(expected, str):
        what = type(expected).__name__
        raise TypeError(f"expected: expected a str of 64 hexadecimal digits, got {what}")
    want = expected.strip().lower()
    if len(want) != 64 or not set(want) <= set(string.hexdigits):
        raise ValueError(f"expected: expected 64 hexadecimal digits (SHA-256), got {expected!r}")
    actual = sha256_file(path)
    if actual != want:
        raise ValueError(
            f"{str(path)!r} has SHA-256 {actual}, expected {want}: "
            "the file is not the one recorded (corrupted, truncated or replaced)"
        )
    return Path(path)
