"""Images for the convolution chapters, and a stratified split for labelled data.

:func:`digits` loads scikit-learn's handwritten digits (1,797 images of 8 x 8 pixels, classes
0-9), which ship with scikit-learn, so nothing is downloaded. :func:`stratified_split` splits any
labelled data set into train / validation / test index arrays with every class in every part in
(almost exactly) its overall proportion.

Readers who have image files of their own can load them with :func:`read_idx` (MNIST's IDX
format), :func:`read_cifar10` (CIFAR-10's python batches, read without running pickle code) and
:func:`image_folder` (one folder of images per class). :func:`augment` applies random shears,
zooms, rotations and flips to a batch through :func:`affine`, on any device, without torchvision.
"""

from __future__ import annotations

import gzip
import io
import math
import os
import pickle
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from seqnets.utils import check_bool, check_number, check_positive_int, check_tensor

__all__ = [
    "digits",
    "stratified_split",
    "read_idx",
    "IDX_MAX_BYTES",
    "read_cifar10",
    "image_folder",
    "IMAGE_SUFFIXES",
    "affine",
    "augment",
]


def digits(as_tensors: bool = True) -> tuple[Any, Any]:
    """scikit-learn's handwritten digits as images in ``[0, 1]`` and integer labels.

    The data are 1,797 grey-scale images of 8 x 8 pixels, each pixel a count from 0 to 16 (the
    number of "on" pixels in a 4 x 4 block of a 32 x 32 bitmap); this function divides by 16.
    Classes 0-9 have between 174 and 183 images each. (This is the UCI "optical recognition of
    handwritten digits" test set, not MNIST.)

    Parameters
    ----------
    as_tensors : bool
        ``True`` (default): return ``torch.Tensor``s; ``False``: NumPy arrays.

    Returns
    -------
    images : float32, shape (1797, 1, 8, 8)
        Channel-first, ready for ``nn.Conv2d``; values in ``[0, 1]``.
    labels : int64, shape (1797,)
        The digit shown, 0-9.
    """
    check_bool(as_tensors, "as_tensors")
    from sklearn.datasets import load_digits  # heavy import: only when asked

    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)[:, None]  # (N, 1, 8, 8)
    labels = bunch.target.astype(np.int64)  # (N,)
    if as_tensors:
        return torch.from_numpy(images), torch.from_numpy(labels)
    return images, labels


def stratified_split(
    labels: Any,
    test: float = 0.2,
    val: float = 0.0,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split indices into train, validation and test parts, class by class.

    The indices of each class are shuffled (with a generator seeded by ``seed``) and cut: the
    first ``round(test * n_c)`` go to test, the next ``round(val * n_c)`` to validation, the rest
    to training, where ``n_c`` is the class's size and halves round up. A split with a fraction
    above zero gets at least one example of every class, and training always keeps at least one.
    Each part therefore holds every class in nearly its overall proportion, which a plain random
    split does not guarantee for small classes.

    Parameters
    ----------
    labels : array_like of int, shape (N,)
        Class labels (NumPy array, list or tensor).
    test, val : float
        Fractions in ``[0, 1)``, with ``test + val < 1``.
    seed : int
        Seed of the shuffle; the same seed gives the same split.

    Returns
    -------
    train, val, test : np.ndarray of int64
        Sorted indices into ``labels``; disjoint, and together ``0..N-1``. ``val`` is empty when
        ``val=0``.

    Examples
    --------
    >>> labels = np.array([0] * 10 + [1] * 5)
    >>> train, val, test = stratified_split(labels, test=0.2)
    >>> np.bincount(labels[test]).tolist(), len(val)
    ([2, 1], 0)
    """
    if isinstance(labels, torch.Tensor):
        labels = labels.detach().cpu().numpy()
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"labels: expected a 1-D array of class labels, got shape {y.shape}")
    if y.shape[0] == 0:
        raise ValueError("labels: expected at least one label, got none")
    if y.dtype == bool or not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"labels: expected integer class labels, got dtype {y.dtype}")
    test = check_number(test, "test", low=0, high=1, high_open=True)
    val = check_number(val, "val", low=0, high=1, high_open=True)
    if test + val >= 1.0:
        raise ValueError(f"test, val: expected test + val < 1, got {test} + {val} = {test + val}")
    seed = check_positive_int(seed, "seed", minimum=0)

    def share(fraction: float, n: int) -> int:
        k = int(np.floor(fraction * n + 0.5))  # round half up
        return max(k, 1) if fraction > 0 else k

    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {"train": [], "val": [], "test": []}
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        n_test, n_val = share(test, idx.size), share(val, idx.size)
        if n_test + n_val >= idx.size:
            raise ValueError(
                f"labels: class {c} has {idx.size} example(s), too few for test={test} and val={val} "
                "with at least one example of it in every part"
            )
        parts["test"].append(idx[:n_test])
        parts["val"].append(idx[n_test : n_test + n_val])
        parts["train"].append(idx[n_test + n_val :])
    train, val_idx, test_idx = (np.sort(np.concatenate(parts[k])).astype(np.int64) for k in ("train", "val", "test"))
    return train, val_idx, test_idx


# --- Loaders for image files readers may have: MNIST IDX, CIFAR-10 batches, a folder per class ---

#: IDX type codes (third byte of the magic number) and the big-endian NumPy dtypes they denote.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


#: Default cap on the bytes an IDX file may declare (MNIST's largest file declares 47 MB).
IDX_MAX_BYTES = 1 << 30

#: Largest single read from an IDX stream: memory grows with the bytes that arrive, never with the
#: size a header declares (``stream.read(n)`` would allocate ``n`` bytes before finding out).
_READ_CHUNK = 1 << 20


def _truncated(path: Path, what: str, needed: int, found: int) -> ValueError:
    return ValueError(f"{path}: truncated IDX {what}: needs {needed} bytes, found {found}")


def _read_exactly(stream: Any, n: int, path: Path, what: str) -> bytearray:
    """Read ``n`` bytes from ``stream`` (raw or gzip) in chunks of at most ``_READ_CHUNK``.

    Raises a ValueError naming ``what`` if the stream ends first, or if gzip data are corrupt.
    """
    data = bytearray()
    try:
        while len(data) < n:
            chunk = stream.read(min(_READ_CHUNK, n - len(data)))
            if not chunk:
                break
            data += chunk
    except (OSError, EOFError, zlib.error) as err:
        raise ValueError(f"{path}: corrupt gzip data ({err})") from None
    if len(data) < n:
        raise _truncated(path, what, n, len(data))
    return data


def read_idx(path: str | os.PathLike, *, max_bytes: int = IDX_MAX_BYTES) -> np.ndarray:
    """Read an IDX file (the format of the MNIST and Fashion-MNIST files), gzipped or not.

    An IDX file is a 4-byte magic number ``0x00 0x00 <type> <ndim>``, then ``ndim`` big-endian
    unsigned 32-bit sizes, then the values in row-major order, big-endian. MNIST's image files
    have magic ``0x00000803`` (``uint8``, 3-D: ``(N, 28, 28)``) and its label files
    ``0x00000801`` (``uint8``, 1-D). Type codes: ``0x08`` uint8, ``0x09`` int8, ``0x0B`` int16,
    ``0x0C`` int32, ``0x0D`` float32, ``0x0E`` float64. A file that starts with the gzip magic
    bytes ``1f 8b`` is decompressed first, whatever its name.

    The file is read as a stream: the header is read first, and no more than the data size it
    declares (plus one byte, to detect trailing data) is ever read or decompressed. A header that
    declares more than ``max_bytes`` is refused before anything is allocated, so a small gzip
    file that would expand to gigabytes (a "gzip bomb") costs nothing. Below that cap, memory
    grows only with bytes that exist: an uncompressed file whose declared size differs from the
    bytes it holds is refused before its data are read, and gzip data are decompressed in chunks
    of at most 1 MiB, so a short file that declares 1 GiB costs about a megabyte, not a gigabyte.

    Parameters
    ----------
    path : str or PathLike
    max_bytes : int
        Largest data size accepted, in bytes (default 1 GiB); raise it for larger files.

    Returns
    -------
    numpy.ndarray
        The array, with the shape in the header, in native byte order.

    Raises
    ------
    ValueError
        Naming the file, if the magic number, the type code or the sizes are wrong, the declared
        size exceeds ``max_bytes``, or the data are truncated or followed by extra bytes.
    """
    path = Path(path)
    max_bytes = check_positive_int(max_bytes, "max_bytes")
    with path.open("rb") as raw_file:
        gzipped = raw_file.read(2) == _GZIP_MAGIC
        raw_file.seek(0)
        stream: Any = gzip.GzipFile(fileobj=raw_file, mode="rb") if gzipped else raw_file
        magic = _read_exactly(stream, 4, path, "file: the magic number")
        if magic[0] != 0 or magic[1] != 0:
            raise ValueError(
                f"{path}: not an IDX file: expected a magic number 0x0000TTDD (two zero bytes, type, "
                f"dimensions), got 0x{magic.hex()}"
            )
        code, ndim = magic[2], magic[3]
        if code not in _IDX_DTYPES:
            known = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
            raise ValueError(f"{path}: unknown IDX type code 0x{code:02X} (known: {known})")
        if ndim == 0:
            raise ValueError(f"{path}: IDX header declares 0 dimensions; expected at least 1")
        sizes = _read_exactly(stream, 4 * ndim, path, f"header: {ndim} dimensions")
        shape = tuple(int.from_bytes(sizes[i : i + 4], "big") for i in range(0, 4 * ndim, 4))
        dtype = np.dtype(_IDX_DTYPES[code])
        expected = math.prod(shape) * dtype.itemsize  # exact: Python integers do not wrap
        if expected > max_bytes:
            raise ValueError(
                f"{path}: the IDX header declares shape {shape} of {dtype.name}, {expected} bytes, more than "
                f"max_bytes={max_bytes}; pass a larger max_bytes if the file is genuine"
            )
        what = f"data: shape {shape} of {dtype.name}"
        if not gzipped:  # the file's size says how many data bytes there are: compare first
            available = os.fstat(raw_file.fileno()).st_size - raw_file.tell()
            if available < expected:
                raise _truncated(path, what, expected, available)
        data = _read_exactly(stream, expected, path, what)
        try:
            extra = stream.read(1)
        except (OSError, EOFError, zlib.error) as err:
            raise ValueError(f"{path}: corrupt gzip data after the IDX data ({err})") from None
    if extra:
        raise ValueError(f"{path}: unexpected bytes after the IDX data of shape {shape}")
    array = np.frombuffer(data, dtype=dtype).reshape(shape)
    return array.astype(dtype.newbyteorder("="))  # native byte order, writable copy


def _numpy_reconstruct() -> Any:
    import importlib

    try:  # NumPy >= 2 keeps it in numpy._core; numpy.core is a deprecated alias
        module = importlib.import_module("numpy._core.multiarray")
    except ImportError:  # pragma: no cover - NumPy 1.x
        module = importlib.import_module("numpy.core.multiarray")
    return module._reconstruct


class _NdarrayName:
    """Stands for ``numpy.ndarray`` inside a pickle: an argument of ``_reconstruct``, never called.

    Calling ``numpy.ndarray(shape, dtype)`` itself would allocate any shape the pickle names.
    """

    def __init__(self, path: Path) -> None:
        self._path = path

    def __call__(self, *args: Any) -> None:
        raise pickle.UnpicklingError(
            f"{self._path}: refusing to call numpy.ndarray{args!r}: a pickle could ask it for any amount "
            "of memory (real arrays are rebuilt from the file's bytes by _reconstruct)"
        )


def _array_shape(shape: Any, path: Path) -> tuple[int, ...]:
    """``shape`` (an int or a sequence of them) as a tuple of non-negative ints, or refuse it."""
    sizes = tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)
    if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in sizes):
        raise pickle.UnpicklingError(f"{path}: invalid array shape {shape!r}")
    return sizes


class _ByteBudget:
    """The bytes that all the arrays of one pickle may still claim; shared, and only ever spent."""

    def __init__(self, path: Path, total: int) -> None:
        self.path, self.total, self.left = path, total, total

    def charge(self, nbytes: int, shape: tuple[int, ...]) -> None:
        if nbytes > self.left:
            raise pickle.UnpicklingError(
                f"{self.path}: the pickle asks for an array of shape {shape}, {nbytes} bytes, more than the "
                f"{self.left} bytes left of the file's {self.total}-byte budget for all its arrays; "
                "refusing to allocate it"
            )
        self.left -= nbytes


class _LoadedArray(np.ndarray):
    """The arrays the unpickler builds; their ``__setstate__`` refuses object dtypes.

    For any other dtype NumPy checks that the raw bytes in the pickle match the shape, and the
    array's size is charged to the pickle's byte budget (``_budget``, set by ``_reconstruct``)
    before NumPy may copy them, so the arrays together never hold more than the file's size.
    """

    _budget: _ByteBudget

    def __setstate__(self, state: Any) -> None:
        # (version, shape, dtype, is_fortran, data), or the older form without the version
        dtype = state[-3] if isinstance(state, tuple) and len(state) in (4, 5) else None
        if not isinstance(dtype, np.dtype) or dtype.hasobject:
            raise pickle.UnpicklingError(f"refusing an array of dtype {dtype!r}: only plain numeric arrays are allowed")
        sizes = _array_shape(state[-4], self._budget.path)
        self._budget.charge(math.prod(sizes) * dtype.itemsize, sizes)
        super().__setstate__(state)


class _FileBytes(io.BytesIO):
    """A file's bytes, for the unpickler: a read asking for more bytes than remain is an error."""

    def __init__(self, data: bytes, path: Path) -> None:
        super().__init__(data)
        self._path, self._size = path, len(data)

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        if size is not None and len(data) < size:
            end = self.tell() - len(data) + size
            raise pickle.UnpicklingError(
                f"{self._path}: truncated or corrupt pickle: it declares data up to byte {end}, "
                f"but the file has {self._size} bytes"
            )
        return data


class _ArrayPickleUnpickler(pickle._Unpickler):
    """Unpickler for data-only pickles: dicts, lists, bytes, numbers and NumPy arrays.

    Unpickling runs code: a pickle names callables (``module.name``) and the arguments to call
    them with, and ``pickle.load`` imports and calls them. Here :meth:`find_class`, the only way
    a pickle can reach a callable, answers from a fixed table of the four names a pickled
    ``ndarray`` needs: ``numpy.core.multiarray._reconstruct`` (NumPy 1.x spelling, used by the
    real CIFAR-10 files), ``numpy._core.multiarray._reconstruct`` (NumPy 2), ``numpy.ndarray``
    and ``numpy.dtype``. Everything else, ``os.system`` included, raises before it is called.

    Memory is bounded too: ``numpy.ndarray`` is answered with a placeholder that cannot be
    called, and all the arrays of one pickle share one budget of ``budget`` bytes (the file's
    size): every ``_reconstruct`` call and every array's ``__setstate__`` (which may copy its
    data, e.g. to swap bytes) is charged the bytes it asks for, and a call that would overdraw
    the budget is refused before it allocates. A pickle can repeat a call as often as it likes
    (reusing a memoized argument costs a few bytes of file), so a budget per call would not bound the
    total. Real pickles ask ``_reconstruct`` for an empty array and fill it from bytes the file
    contains, which stays within budget. Arrays of Python objects are refused.

    It is the standard library's pure-Python unpickler (``pickle._Unpickler``), reading the file's
    bytes from memory (:class:`_FileBytes`), not the file. CPython's C unpickler (Python 3.11)
    acts on sizes written in the pickle before it reads the data: it grows its memo table to any
    index a ``PUT`` names (a 9-byte pickle makes it zero-fill hundreds of megabytes) and allocates
    the length a ``BINBYTES8`` declares before it finds the data missing (CPython issue
    gh-115952, since fixed upstream). The pure-Python unpickler keeps its memo in a dict,
    and a read returns at most the bytes the file has left (and refuses the file if that is fewer
    than it declares), so a declared length never costs more than the file holds. Its one
    instruction that allocates the size it declares before reading, ``BYTEARRAY8`` (protocol 5;
    real batches have none), is refused.
    """

    def _refuse_bytearray8(self: Any) -> None:  # Any: typeshed types the table's entries loosely
        raise self._fail("refusing BYTEARRAY8 (pickle protocol 5), which allocates the size it declares")

    dispatch = {**pickle._Unpickler.dispatch, pickle.BYTEARRAY8[0]: _refuse_bytearray8}

    def __init__(self, data: _FileBytes, path: Path, budget: int) -> None:
        super().__init__(data, encoding="bytes")  # the real batches were written by Python 2
        self._path = path
        self._budget = _ByteBudget(path, budget)
        self._ndarray = _NdarrayName(path)
        self._allowed = {
            ("numpy.core.multiarray", "_reconstruct"): self._reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): self._reconstruct,
            ("numpy", "ndarray"): self._ndarray,
            ("numpy", "dtype"): self._dtype,
        }

    def _fail(self, message: str) -> pickle.UnpicklingError:
        return pickle.UnpicklingError(f"{self._path}: {message}")

    def _dtype(self, *args: Any) -> np.dtype:
        dtype = np.dtype(*args)
        if dtype.hasobject:
            raise self._fail(f"refusing dtype {dtype}: a CIFAR-10 batch holds only plain numeric arrays")
        return dtype

    def _reconstruct(self, subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
        if subtype is not self._ndarray:
            raise self._fail(f"refusing to reconstruct an array of type {subtype!r}")
        sizes = _array_shape(shape, self._path)
        self._budget.charge(math.prod(sizes) * self._dtype(dtype).itemsize, sizes)
        array = _numpy_reconstruct()(_LoadedArray, sizes, dtype)
        array._budget = self._budget  # charged again by __setstate__, which may bring new bytes
        return array

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise self._fail(
                f"refusing to load the global {module}.{name}: a CIFAR-10 batch holds only "
                "dicts, lists, bytes, numbers and a uint8 numpy array, and loading anything else could run code"
            ) from None


def _batch_entry(batch: dict, key: str, path: Path) -> Any:
    for k in (key.encode(), key):
        if k in batch:
            return batch[k]
    raise ValueError(f"{path}: not a CIFAR-10 batch: no {key!r} entry (keys: {sorted(map(repr, batch))})")


def read_cifar10(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read one batch file of CIFAR-10's "python version" (``data_batch_1`` ... ``test_batch``).

    Each batch is a pickled dict whose ``b"data"`` entry is a ``(N, 3072)`` ``uint8`` array, one
    row per image: 1024 red, then 1024 green, then 1024 blue values, each a 32 x 32 image in
    row-major order; ``b"labels"`` is a list of ``N`` integers in ``0..9``.

    The file is read **without running any code it might contain**: the pickle is loaded by an
    unpickler that can construct only NumPy arrays and dtypes (see ``_ArrayPickleUnpickler``),
    and all the arrays it builds *together* are bounded by the file's size: a 300-byte pickle that
    asks for a 30 GB array is refused before anything is allocated, and so is a small pickle that
    asks for many arrays, each within the file's size. The pickle is read from the file's bytes
    in memory by the pure-Python unpickler, so no length or memo index written in the pickle makes
    it allocate more than the file holds. That is the safety decision, and its remaining risk: the
    NumPy reconstruction functions are trusted to build arrays from the bytes they are given and
    nothing more. Memory grows in proportion to the file's size: about three times it for a real
    batch (the file's bytes, the array, the transposed copy returned), more for a hostile pickle
    made of many small Python objects (an empty set is one byte of pickle and about 200 bytes of
    memory). Arrays pickled with protocol 5 (``numpy._core.numeric._frombuffer``) are refused;
    re-save such a file with protocol 4.

    Returns
    -------
    images : numpy.ndarray
        ``uint8``, shape ``(N, 32, 32, 3)`` (height, width, RGB).
    labels : numpy.ndarray
        ``int64``, shape ``(N,)``.

    Raises
    ------
    ValueError
        Naming the file, if it is not such a batch, is truncated, or the pickle names anything
        but the NumPy array constructors.
    """
    path = Path(path)
    raw = path.read_bytes()
    try:
        batch = _ArrayPickleUnpickler(_FileBytes(raw, path), path, budget=len(raw)).load()
    except pickle.UnpicklingError as err:
        message = str(err)  # either one of the unpickler's refusals, which name the file, or a broken stream
        raise ValueError(
            message if message.startswith(str(path)) else f"{path}: truncated or corrupt pickle ({err})"
        ) from None
    except (
        EOFError,
        struct.error,
        ValueError,
        TypeError,
        KeyError,
        IndexError,
        AttributeError,
        MemoryError,
        OverflowError,
    ) as err:
        raise ValueError(f"{path}: truncated or corrupt pickle ({type(err).__name__}: {err})") from None
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: not a CIFAR-10 batch: expected a pickled dict, got {type(batch).__name__}")
    data = _batch_entry(batch, "data", path)
    labels = _batch_entry(batch, "labels", path)
    if isinstance(data, np.ndarray):
        data = data.view(np.ndarray)
    if isinstance(labels, np.ndarray):
        labels = labels.view(np.ndarray)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        got = f"{data.dtype} array of shape {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise ValueError(f"{path}: 'data' entry: expected a uint8 array of shape (N, 3072), got {got}")
    labels = np.asarray(labels)
    if labels.shape != (data.shape[0],) or labels.dtype.kind not in "iu":
        raise ValueError(
            f"{path}: 'labels' entry: expected {data.shape[0]} integers, got shape {labels.shape} of {labels.dtype}"
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise ValueError(f"{path}: 'labels' entry: expected classes 0..9, got {labels.min()}..{labels.max()}")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # (N, 3, H, W) -> (N, H, W, 3)
    return np.ascontiguousarray(images), labels.astype(np.int64)


#: File suffixes :func:`image_folder` reads; other files (a README, ``.DS_Store``) are skipped.
IMAGE_SUFFIXES = (".png", ".pgm", ".ppm", ".pbm", ".pnm", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")


def image_folder(
    root: str | os.PathLike,
    size: int | tuple[int, int] | None = None,
    grayscale: bool = False,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Read a labelled image collection stored one folder per class.

    ``root/<class name>/<any name>.png`` (or PGM, PPM, JPEG, ...: see :data:`IMAGE_SUFFIXES`):
    class names are the sub-folder names in sorted order and a label is the index of its folder.
    Images are decoded with Pillow (a dependency of matplotlib). Hidden files and files with other
    suffixes are skipped.

    Parameters
    ----------
    root : path
        Folder holding one sub-folder per class.
    size : int or (height, width), optional
        Resize every image to this size (bilinear). Without it all images must share one size.
    grayscale : bool
        Convert to one luminance channel; otherwise to RGB.

    Returns
    -------
    images : numpy.ndarray
        ``uint8``, shape ``(N, H, W, C)`` with ``C`` 1 (grayscale) or 3.
    labels : numpy.ndarray
        ``int64``, shape ``(N,)``.
    class_names : list of str

    Raises
    ------
    ValueError
        If ``root`` has no class folders, a class folder has no images, an image cannot be
        decoded (naming the file), or sizes differ and ``size`` is not given.
    """
    from PIL import Image, UnidentifiedImageError

    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"root: expected a folder with one sub-folder per class, {str(root)!r} is not a folder")
    check_bool(grayscale, "grayscale")
    if size is not None:
        pair = (size, size) if isinstance(size, (int, np.integer)) and not isinstance(size, bool) else size
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
            raise TypeError(f"size: expected an int or a (height, width) pair, got {size!r}")
        size = (check_positive_int(pair[0], "size[0]"), check_positive_int(pair[1], "size[1]"))
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise ValueError(f"root: {str(root)!r} has no class sub-folders; expected root/<class>/<image files>")
    images: list[np.ndarray] = []
    labels: list[int] = []
    for label, class_dir in enumerate(class_dirs):
        files = sorted(
            p
            for p in class_dir.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
        )
        if not files:
            raise ValueError(f"{class_dir}: class folder holds no image files ({', '.join(IMAGE_SUFFIXES)})")
        for file in files:
            try:
                with Image.open(file) as img:
                    img = img.convert("L" if grayscale else "RGB")
                    if size is not None:
                        img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)  # PIL wants (W, H)
                    array = np.asarray(img, dtype=np.uint8)
            except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as err:
                raise ValueError(f"{file}: cannot read image ({type(err).__name__}: {err})") from None
            array = array[..., None] if array.ndim == 2 else array  # (H, W) -> (H, W, 1)
            if images and array.shape != images[0].shape:
                raise ValueError(
                    f"{file}: image of shape {array.shape[:2]} differs from the first image's "
                    f"{images[0].shape[:2]}; pass size=(height, width) to resize"
                )
            images.append(array)
            labels.append(label)
    return np.stack(images), np.asarray(labels, dtype=np.int64), [d.name for d in class_dirs]


# --- Data augmentation: random affine transforms of a batch ---


_PADDING_MODES = ("zeros", "border", "reflection")


def affine(images: torch.Tensor, matrices: torch.Tensor, *, padding_mode: str = "zeros") -> torch.Tensor:
    """Apply a linear map about the image centre to each image of a batch, with bilinear sampling.

    Positions are pixel coordinates ``(x, y)`` measured from the image centre, ``x`` along the
    width (to the right) and ``y`` along the height (downwards, as rows are numbered). Output pixel
    ``p`` takes the input's value at :math:`A^{-1} p`, interpolated bilinearly, so the content moves
    by :math:`A`: ``diag(-1, 1)`` mirrors left-right, ``2 I`` doubles the size. Pixel centres map to
    pixel centres exactly when :math:`A` permutes or mirrors the axes (flips, 90-degree rotations of
    square images), so those are exact.

    Parameters
    ----------
    images : torch.Tensor
        Floating point, ``(B, C, H, W)``.
    matrices : torch.Tensor
        ``(B, 2, 2)``, one invertible map per image, or ``(2, 2)`` for all of them.
    padding_mode : {"zeros", "border", "reflection"}
        Value of positions sampled outside the input: 0, the nearest border pixel, or a reflection.

    Returns
    -------
    torch.Tensor
        ``(B, C, H, W)``, same dtype and device as ``images``.
    """
    check_tensor(images, "images", ndim=4, floating=True)
    check_tensor(matrices, "matrices", ndim=(2, 3), floating=True)
    batch, _, height, width = images.shape
    if matrices.dim() == 2:
        matrices = matrices.expand(batch, 2, 2)
    if matrices.shape != (batch, 2, 2):
        raise ValueError(f"matrices: expected shape ({batch}, 2, 2) or (2, 2), got {tuple(matrices.shape)}")
    if padding_mode not in _PADDING_MODES:
        raise ValueError(f"padding_mode: expected one of {_PADDING_MODES}, got {padding_mode!r}")
    if batch == 0:
        return images.clone()
    forward = matrices.detach().to(device="cpu", dtype=torch.float64)
    if bool((torch.linalg.det(forward).abs() < 1e-12).any()):
        raise ValueError("matrices: expected invertible 2 x 2 maps, got a singular one")
    # affine_grid works in coordinates normalised to [-1, 1] along each axis (align_corners=False:
    # -1 and 1 are the outer edges of the border pixels). Converting from centred pixels with
    # D = diag(W/2, H/2) keeps angles true on non-square images: the sampling map is D^-1 A^-1 D.
    half = torch.tensor([width / 2.0, height / 2.0], dtype=torch.float64)
    sampling = torch.linalg.inv(forward) * half[None, :] / half[:, None]  # (B, 2, 2)
    theta = torch.cat([sampling, torch.zeros(batch, 2, 1, dtype=torch.float64)], dim=2)  # (B, 2, 3)
    theta = theta.to(device=images.device, dtype=images.dtype)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)  # (B, H, W, 2)
    return F.grid_sample(images, grid, mode="bilinear", padding_mode=padding_mode, align_corners=False)


def augment(
    images: torch.Tensor,
    *,
    shear: float = 0.0,
    zoom: float = 0.0,
    flip: bool = False,
    rotate: float = 0.0,
    padding_mode: str = "zeros",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Apply an independent random affine transform to each image of a batch.

    Each image gets its own draw: a shear angle :math:`\\phi` uniform in ``[-shear, shear]``
    degrees (along the width), a scale factor :math:`s` uniform in ``[1 - zoom, 1 + zoom]`` (above
    1 enlarges), a rotation angle :math:`\\theta` uniform in ``[-rotate, rotate]`` degrees and, if
    ``flip``, a left-right mirror with probability 1/2. The map, in centred pixel coordinates, is

    .. math::

        A = R(\\theta)\\, \\begin{pmatrix} 1 & \\tan\\phi \\\\ 0 & 1 \\end{pmatrix}\\, s\\, M,
        \\qquad M = \\operatorname{diag}(\\pm 1, 1),

    applied by :func:`affine` (bilinear sampling with :func:`torch.nn.functional.grid_sample`; no
    torchvision needed). With every range zero the images come back unchanged, and a flip is an
    exact mirror.

    Parameters
    ----------
    images : torch.Tensor
        Floating point, ``(B, C, H, W)``.
    shear, rotate : float
        Largest absolute angle, in degrees; ``shear`` must be below 90.
    zoom : float
        Largest relative change of scale, in ``[0, 1)``.
    flip : bool
        Mirror left-right with probability 1/2.
    padding_mode : {"zeros", "border", "reflection"}
        See :func:`affine`.
    generator : torch.Generator, optional
        Source of randomness; the same seed gives the same transforms. ``None`` uses torch's
        global generator.

    Returns
    -------
    torch.Tensor
        ``(B, C, H, W)``, same dtype and device as ``images``.
    """
    check_tensor(images, "images", ndim=4, floating=True)
    shear = check_number(shear, "shear", low=0, high=90, high_open=True)
    zoom = check_number(zoom, "zoom", low=0, high=1, high_open=True)
    rotate = check_number(rotate, "rotate", low=0)
    check_bool(flip, "flip")
    if padding_mode not in _PADDING_MODES:
        raise ValueError(f"padding_mode: expected one of {_PADDING_MODES}, got {padding_mode!r}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator: expected a torch.Generator or None, got {type(generator).__name__}")
    batch = images.shape[0]

    def uniform(half_width: float) -> torch.Tensor:  # (B,) draws in [-half_width, half_width]
        u = torch.rand(batch, generator=generator, dtype=torch.float64)
        return (2.0 * u - 1.0) * half_width

    phi = torch.deg2rad(uniform(shear))
    scale = 1.0 + uniform(zoom)
    theta = torch.deg2rad(uniform(rotate))
    mirror = torch.ones(batch, dtype=torch.float64)
    if flip:
        mirror = torch.where(torch.rand(batch, generator=generator) < 0.5, -1.0, 1.0).to(torch.float64)

    cos, sin = torch.cos(theta), torch.sin(theta)
    rotation = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)  # (B, 2, 2)
    shearing = torch.eye(2, dtype=torch.float64).repeat(batch, 1, 1)
    shearing[:, 0, 1] = torch.tan(phi)
    mirroring = torch.diag_embed(torch.stack([mirror, torch.ones_like(mirror)], -1))  # (B, 2, 2)
    matrices = (rotation @ shearing) * scale[:, None, None] @ mirroring  # (B, 2, 2)
    return affine(images, matrices, padding_mode=padding_mode)
