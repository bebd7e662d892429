"""Tests of the image loaders and augmentation in seqnets.data.images, on files the tests write."""

from __future__ import annotations

import gzip
import os
import pathlib
import pickle
import struct
import tracemalloc

import numpy as np
import pytest
import torch

from seqnets.data.images import affine, augment, image_folder, read_cifar10, read_idx


def refused_with_peak_memory(loader, path, match):
    """Call ``loader(path)``, expect a ValueError matching ``match``; return it and the peak of
    Python-tracked memory (NumPy's allocations included) during the call, in bytes."""
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=match) as info:
            loader(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return info, peak


# ----------------------------------------------------------------------------- read_idx


def write_idx(path, array, code):
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    big_endian = array.astype(array.dtype.newbyteorder(">"))
    path.write_bytes(header + big_endian.tobytes())
    return path


@pytest.mark.parametrize(
    "code,dtype",
    [(0x08, np.uint8), (0x09, np.int8), (0x0B, np.int16), (0x0C, np.int32), (0x0D, np.float32), (0x0E, np.float64)],
)
def test_read_idx_every_type(tmp_path, code, dtype):
    rng = np.random.default_rng(0)
    array = (rng.normal(size=(3, 4, 5)) * 100).astype(dtype)
    out = read_idx(write_idx(tmp_path / "x.idx", array, code))
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    np.testing.assert_array_equal(out, array)
    out[0, 0, 0] = 1  # writable


def test_read_idx_mnist_layout_and_gzip(tmp_path):
    images = np.arange(2 * 28 * 28, dtype=np.uint8).reshape(2, 28, 28)
    labels = np.array([7, 2], dtype=np.uint8)
    raw = write_idx(tmp_path / "images", images, 0x08).read_bytes()
    assert raw[:4] == bytes.fromhex("00000803")  # MNIST's image magic number
    assert write_idx(tmp_path / "labels", labels, 0x08).read_bytes()[:4] == bytes.fromhex("00000801")
    gz = tmp_path / "train-images-idx3-ubyte.gz"
    gz.write_bytes(gzip.compress(raw))
    np.testing.assert_array_equal(read_idx(gz), images)
    plain_name = tmp_path / "no-suffix"  # gzip is recognised by its magic bytes, not the name
    plain_name.write_bytes(gzip.compress(raw))
    np.testing.assert_array_equal(read_idx(plain_name), images)
    np.testing.assert_array_equal(read_idx(str(tmp_path / "labels")), labels)


def test_read_idx_errors_name_the_file(tmp_path):
    good = write_idx(tmp_path / "good", np.zeros((2, 3), np.uint8), 0x08).read_bytes()
    cases = {
        "magic": (b"\x01\x00" + good[2:], "not an IDX file"),
        "dtype": (good[:2] + b"\x0a" + good[3:], "unknown IDX type code 0x0A"),
        "data": (good[:-1], r"truncated IDX data: shape \(2, 3\) of uint8: needs 6 bytes, found 5"),
        "header": (good[:6], "truncated IDX header"),
        "tiny": (b"\x00\x00", "truncated IDX file"),
        "extra": (good + b"\x00", "unexpected bytes after the IDX data"),
        "zero": (b"\x00\x00\x08\x00", "0 dimensions"),
        "gzip": (b"\x1f\x8b" + b"garbage", "corrupt gzip"),
    }
    for name, (content, match) in cases.items():
        path = tmp_path / f"bad-{name}"
        path.write_bytes(content)
        with pytest.raises(ValueError, match=match) as info:
            read_idx(path)
        assert str(path) in str(info.value)
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "missing")


def test_read_idx_sizes_use_exact_integers_and_a_cap(tmp_path):
    """Three dimensions of 2^32 - 1 declare about 7.9e28 bytes: an int64 product wraps around, an
    exact one is refused against max_bytes, naming the file."""
    path = tmp_path / "huge-header"
    path.write_bytes(struct.pack(">BBBB3I", 0, 0, 0x08, 3, *(3 * [2**32 - 1])) + b"\x00" * 16)
    with pytest.raises(ValueError, match=r"declares shape \(4294967295, 4294967295, 4294967295\).*max_bytes") as info:
        read_idx(path)
    assert str(path) in str(info.value)
    small = write_idx(tmp_path / "small", np.zeros((4, 4), np.uint8), 0x08)
    with pytest.raises(ValueError, match="16 bytes, more than max_bytes=10"):
        read_idx(small, max_bytes=10)
    assert read_idx(small, max_bytes=16).shape == (4, 4)


def test_read_idx_never_decompresses_a_gzip_bomb(tmp_path):
    """A 1 MB array followed by 2 GB of zeros, gzipped into about 2 MB (gzip members can be
    concatenated). The reader stops one byte after the declared data: it never inflates the rest."""
    array = np.zeros((1024, 1024), np.uint8)
    header = struct.pack(">BBBB2I", 0, 0, 0x08, 2, 1024, 1024)
    member = gzip.compress(b"\x00" * (16 << 20))  # 16 MB of zeros in about 16 kB
    path = tmp_path / "bomb.gz"
    path.write_bytes(gzip.compress(header + array.tobytes()) + member * 128)
    assert path.stat().st_size < 4 << 20
    info, peak = refused_with_peak_memory(read_idx, path, "unexpected bytes after the IDX data")
    assert str(path) in str(info.value)
    assert peak < 64 << 20, f"read_idx held {peak / 2**20:.0f} MB while reading a 1 MB array"


def test_read_idx_memory_grows_only_with_bytes_that_exist(tmp_path):
    """A 24-byte file whose header declares 1 GiB (exactly the default max_bytes, so the cap does
    not stop it): refused as truncated, raw or gzipped, without allocating the declared size."""
    header = struct.pack(">BBBB3I", 0, 0, 0x08, 3, 2**14, 2**8, 2**8)  # 2^30 bytes of uint8
    raw = tmp_path / "short-idx3-ubyte"
    raw.write_bytes(header + bytes(8))
    assert raw.stat().st_size == 24
    gz = tmp_path / "short-idx3-ubyte.gz"
    gz.write_bytes(gzip.compress(header + bytes(8)))
    for path, limit in ((raw, 1 << 20), (gz, 4 << 20)):  # gzip: one 1 MiB chunk and zlib's state
        info, peak = refused_with_peak_memory(read_idx, path, "truncated IDX data: .* needs 1073741824 bytes, found 8")
        assert str(path) in str(info.value)
        assert peak < limit, f"{path.name}: {peak / 2**20:.1f} MiB for a file of {path.stat().st_size} bytes"


def test_read_idx_reads_data_larger_than_one_chunk(tmp_path):
    array = np.random.default_rng(0).integers(0, 256, size=(3, 1024, 1024 + 5), dtype=np.uint8)  # > 3 MiB
    raw = write_idx(tmp_path / "big", array, 0x08)
    np.testing.assert_array_equal(read_idx(raw), array)
    gz = tmp_path / "big.gz"
    gz.write_bytes(gzip.compress(raw.read_bytes(), compresslevel=1))
    np.testing.assert_array_equal(read_idx(gz), array)


# ----------------------------------------------------------------------------- read_cifar10


def cifar_batch(n=5, seed=0):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)
    labels = [int(v) for v in rng.integers(0, 10, size=n)]
    return data, labels


def python2_pickle(data, labels):
    """The bytes Python 2's cPickle (protocol 2) writes for a CIFAR-10 batch, built opcode by opcode.

    The real files were written this way: ``str`` values (``SHORT_BINSTRING``/``BINSTRING``) and
    NumPy 1.x's ``numpy.core.multiarray._reconstruct``.
    """

    def string(b):
        return (b"U" + bytes([len(b)]) + b) if len(b) < 256 else (b"T" + struct.pack("<I", len(b)) + b)

    def integer(v):
        return b"K" + bytes([v]) if 0 <= v < 256 else b"J" + struct.pack("<i", v)

    dtype = b"cnumpy\ndtype\n" + string(b"u1") + integer(0) + integer(1) + b"\x87R"
    dtype += b"(" + integer(3) + string(b"|") + b"NNN" + integer(-1) + integer(-1) + integer(0) + b"tb"
    array = b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n" + integer(0) + b"\x85" + string(b"b") + b"\x87R"
    shape = b"(" + integer(data.shape[0]) + b"M" + struct.pack("<H", data.shape[1]) + b"t"
    array += b"(" + integer(1) + shape + dtype + b"\x89" + string(data.tobytes()) + b"tb"
    items = string(b"batch_label") + string(b"testing batch 1 of 1")
    items += string(b"labels") + b"](" + b"".join(integer(v) for v in labels) + b"e"
    items += string(b"data") + array
    items += string(b"filenames") + b"](" + b"".join(string(f"img_{i}.png".encode()) for i in range(len(labels))) + b"e"
    return b"\x80\x02}(" + items + b"u."


def check_images(images, labels, data, expected_labels):
    assert images.shape == (data.shape[0], 32, 32, 3) and images.dtype == np.uint8
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, expected_labels)
    # pixel (row 2, column 5) of image 1: red at 2*32+5, green 1024 later, blue 2048 later
    np.testing.assert_array_equal(images[1, 2, 5], data[1, [69, 1024 + 69, 2048 + 69]])
    np.testing.assert_array_equal(images.transpose(0, 3, 1, 2).reshape(len(data), -1), data)


def test_read_cifar10_python3_batch(tmp_path):
    data, labels = cifar_batch()
    path = tmp_path / "data_batch_1"
    with path.open("wb") as f:  # what pickle.dump writes today (protocol 4)
        pickle.dump(
            {
                b"batch_label": b"training batch 1 of 5",
                b"labels": labels,
                b"data": data,
                b"filenames": [b"a.png"] * len(labels),
            },
            f,
        )
    check_images(*read_cifar10(path), data, labels)


def test_read_cifar10_python2_batch(tmp_path):
    data, labels = cifar_batch(n=3, seed=1)
    path = tmp_path / "test_batch"
    path.write_bytes(python2_pickle(data, labels))
    check_images(*read_cifar10(path), data, labels)


def test_read_cifar10_str_keys(tmp_path):
    data, labels = cifar_batch(n=2)
    path = tmp_path / "b"
    path.write_bytes(pickle.dumps({"data": data, "labels": labels}, protocol=4))
    check_images(*read_cifar10(path), data, labels)


class TouchOnLoad:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.target),))


class SystemOnLoad:
    def __init__(self, target):
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


@pytest.mark.parametrize("payload", [TouchOnLoad, SystemOnLoad])
def test_read_cifar10_refuses_code_without_side_effect(tmp_path, payload):
    data, labels = cifar_batch(n=2)
    # the payload is live: the ordinary unpickler runs it
    proof = tmp_path / "proof"
    pickle.loads(pickle.dumps({b"data": data, b"x": payload(proof)}, protocol=2))
    assert proof.exists(), "the payload should create a file when unpickled normally"
    target = tmp_path / "pwned"
    path = tmp_path / "data_batch_evil"
    path.write_bytes(pickle.dumps({b"data": data, b"labels": labels, b"x": payload(target)}, protocol=2))
    with pytest.raises(ValueError, match="refusing to load the global") as info:
        read_cifar10(path)
    assert str(path) in str(info.value)
    assert not target.exists(), "the malicious pickle ran code"


class AllocateOnLoad:
    """Unpickles as ``constructor(shape, dtype)``: an uninitialised array of any size."""

    def __init__(self, constructor, shape, dtype="u1"):
        self.constructor, self.shape, self.dtype = constructor, shape, dtype

    def __reduce__(self):
        return (self.constructor, (self.shape, np.dtype(self.dtype)))


@pytest.mark.parametrize("rows", [10**7, 50_000])
def test_read_cifar10_memory_is_bounded_by_the_file_size(tmp_path, rows):
    """A pickle of a few hundred bytes whose 'data' is numpy.ndarray((rows, 3072)) called
    directly: 30 GB (or 150 MB, which an unbounded loader would silently allocate and copy)."""
    path = tmp_path / "data_batch_huge"
    batch = {b"data": AllocateOnLoad(np.ndarray, (rows, 3072)), b"labels": AllocateOnLoad(np.ndarray, (rows,))}
    path.write_bytes(pickle.dumps(batch, protocol=4))
    assert path.stat().st_size < 400
    info, peak = refused_with_peak_memory(read_cifar10, path, r"refusing to call numpy.ndarray\(\(")
    assert str(path) in str(info.value)
    assert peak < 1 << 20, f"read_cifar10 allocated {peak / 2**20:.0f} MB for a {path.stat().st_size}-byte file"


def test_read_cifar10_reconstruct_cannot_allocate_more_than_the_file(tmp_path):
    from numpy._core.multiarray import _reconstruct

    class ReconstructHuge:
        def __reduce__(self):
            return (_reconstruct, (np.ndarray, (10**7, 3072), b"B"))

    path = tmp_path / "data_batch_reconstruct"
    path.write_bytes(pickle.dumps({b"data": ReconstructHuge(), b"labels": [0]}, protocol=4))
    with pytest.raises(ValueError, match=r"asks for an array of shape \(10000000, 3072\).*refusing to allocate"):
        read_cifar10(path)


class ReconstructOnLoad:
    """Unpickles as ``_reconstruct(ndarray, shape, "b")``, optionally followed by ``__setstate__``."""

    def __init__(self, args, state=None):
        self.args, self.state = args, state

    def __reduce__(self):
        from numpy._core.multiarray import _reconstruct

        return (_reconstruct, self.args) if self.state is None else (_reconstruct, self.args, self.state)


def test_read_cifar10_one_budget_for_all_arrays(tmp_path):
    """Each array within the file's size, but thousands of them: the arguments are memoized, so each
    repeat costs a few bytes of file. A budget per array would let an 18 kB file allocate 30 MB; the
    shared budget refuses the second array. The same for arrays filled by __setstate__ from one
    memoized bytes object, in a byte order that makes NumPy copy the data for every array."""
    args = (np.ndarray, (10_000,), b"b")  # one tuple object: pickled once, then referenced
    empty = (np.ndarray, (0,), b"b")
    state = (1, (1250,), np.dtype(">f8"), False, bytes(10_000))  # big-endian: copied on load
    for name, items in {
        "reconstruct": [ReconstructOnLoad(args) for _ in range(3000)],
        "setstate": [ReconstructOnLoad(empty, state) for _ in range(3000)],
    }.items():
        path = tmp_path / f"data_batch_{name}"
        path.write_bytes(pickle.dumps({b"data": items, b"labels": [0]}, protocol=4))
        assert 10_000 < path.stat().st_size < 40_000
        info, peak = refused_with_peak_memory(
            read_cifar10, path, "bytes left of the file's .*-byte budget for all its arrays"
        )
        assert str(path) in str(info.value)
        assert peak < 1 << 20, f"{name}: {peak / 2**20:.1f} MiB for a {path.stat().st_size}-byte file"


@pytest.mark.parametrize(
    "blob",
    [
        b"\x80\x04}r" + struct.pack("<I", 1 << 24) + b".",  # {} memoized at index 2**24 (LONG_BINPUT)
        b"\x80\x02}p16777216\n.",  # the same with the text opcode PUT
    ],
    ids=["LONG_BINPUT", "PUT"],
)
def test_read_cifar10_memo_index_costs_no_memory(tmp_path, blob):
    """CPython's C unpickler grows its memo table to the index a PUT names: 268 MB traced for the
    9-byte file. The loader's memo is a dict, so the file costs kilobytes and is refused as what
    it is, a dict without 'data'."""
    path = tmp_path / "data_batch_memo"
    path.write_bytes(blob)
    assert path.stat().st_size <= 16
    _, peak = refused_with_peak_memory(read_cifar10, path, "no 'data' entry")
    assert peak < 64 << 10, f"{peak / 2**20:.1f} MiB for a {len(blob)}-byte file"


@pytest.mark.parametrize(
    "opcode,length",
    [
        (b"\x8e", struct.pack("<Q", 1 << 28)),  # BINBYTES8
        (b"\x8d", struct.pack("<Q", 1 << 28)),  # BINUNICODE8
        (b"\x95", struct.pack("<Q", 1 << 28)),  # FRAME
        (b"B", struct.pack("<I", 1 << 28)),  # BINBYTES
        (b"T", struct.pack("<i", 1 << 28)),  # BINSTRING
        (b"\x8b", struct.pack("<i", 1 << 28)),  # LONG4
    ],
    ids=["BINBYTES8", "BINUNICODE8", "FRAME", "BINBYTES", "BINSTRING", "LONG4"],
)
def test_read_cifar10_declared_lengths_cost_no_memory(tmp_path, opcode, length):
    """A length field declaring 256 MiB, followed by 8 bytes: the C unpickler allocates the declared
    size (BINBYTES8) or asks the file for all of it before it learns the data are missing. The
    loader reads from the file's bytes, refuses the short read and allocates nothing."""
    path = tmp_path / "data_batch_length"
    path.write_bytes(b"\x80\x04" + opcode + length + b"x" * 8)
    if opcode == b"\x8e":
        assert path.stat().st_size == 19
    info, peak = refused_with_peak_memory(read_cifar10, path, "declares data up to byte")
    assert f"but the file has {path.stat().st_size} bytes" in str(info.value)
    assert peak < 64 << 10, f"{peak / 2**20:.1f} MiB for a {path.stat().st_size}-byte file"


def test_read_cifar10_refuses_bytearray8(tmp_path):
    """BYTEARRAY8 (protocol 5) allocates the size it declares before reading, in either unpickler."""
    path = tmp_path / "data_batch_bytearray"
    path.write_bytes(b"\x80\x05\x96" + struct.pack("<Q", 1 << 28) + b"x" * 8)
    _, peak = refused_with_peak_memory(read_cifar10, path, "refusing BYTEARRAY8")
    assert peak < 64 << 10
    path.write_bytes(pickle.dumps({b"data": bytearray(3), b"labels": [0]}, protocol=5))
    with pytest.raises(ValueError, match="refusing BYTEARRAY8"):
        read_cifar10(path)


def test_read_cifar10_budget_admits_a_batch_with_two_arrays(tmp_path):
    """Labels stored as an array as well: both arrays' bytes are in the file, so both fit."""
    data, labels = cifar_batch(n=4)
    path = tmp_path / "data_batch_arrays"
    path.write_bytes(pickle.dumps({b"data": data, b"labels": np.array(labels, dtype=np.int64)}, protocol=4))
    check_images(*read_cifar10(path), data, labels)


def test_read_cifar10_refuses_object_arrays(tmp_path):
    path = tmp_path / "data_batch_objects"
    path.write_bytes(pickle.dumps({b"data": np.array([1, "a"], dtype=object), b"labels": [0]}, protocol=4))
    with pytest.raises(ValueError, match="refusing dtype object"):
        read_cifar10(path)


def test_read_cifar10_refuses_protocol5_and_other_numpy_globals(tmp_path):
    data, labels = cifar_batch(n=2)
    path = tmp_path / "p5"
    path.write_bytes(pickle.dumps({b"data": data, b"labels": labels}, protocol=5))
    with pytest.raises(ValueError, match="_frombuffer"):
        read_cifar10(path)
    path.write_bytes(pickle.dumps({b"data": data, b"labels": labels, b"f": np.load}, protocol=4))
    with pytest.raises(ValueError, match="numpy.*load"):
        read_cifar10(path)


@pytest.mark.parametrize(
    "content,match",
    [
        (pickle.dumps([1, 2, 3]), "expected a pickled dict, got list"),
        (pickle.dumps({b"labels": [1]}), "no 'data' entry"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}), "expected a uint8 array"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}), "expected 2 integers"),
        (pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}), r"classes 0\.\.9"),
        (b"not a pickle at all", "truncated or corrupt pickle"),
    ],
)
def test_read_cifar10_bad_batches(tmp_path, content, match):
    path = tmp_path / "batch"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match) as info:
        read_cifar10(path)
    assert str(path) in str(info.value)


def test_read_cifar10_truncated(tmp_path):
    data, labels = cifar_batch()
    path = tmp_path / "cut"
    path.write_bytes(pickle.dumps({b"data": data, b"labels": labels}, protocol=4)[:-200])
    with pytest.raises(ValueError, match="truncated or corrupt") as info:
        read_cifar10(path)
    assert str(path) in str(info.value)


# ----------------------------------------------------------------------------- image_folder


def save(path, array):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_image_folder_reads_classes_and_formats(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, size=(4, 6, 5, 3), dtype=np.uint8)
    save(tmp_path / "cat" / "a.png", rgb[0])
    save(tmp_path / "cat" / "b.ppm", rgb[1])
    save(tmp_path / "dog" / "c.png", rgb[2])
    save(tmp_path / "dog" / "d.pgm", rgb[3, ..., 0])  # a gray image in an RGB collection
    (tmp_path / "dog" / "README.txt").write_text("not an image")  # skipped
    (tmp_path / ".cache").mkdir()  # hidden folder: not a class
    images, labels, names = image_folder(tmp_path)
    assert names == ["cat", "dog"]
    assert images.shape == (4, 6, 5, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(labels, [0, 0, 1, 1])
    np.testing.assert_array_equal(images[:3], rgb[:3])
    np.testing.assert_array_equal(images[3], np.repeat(rgb[3, ..., :1], 3, axis=-1))

    gray, _, _ = image_folder(tmp_path, grayscale=True)
    assert gray.shape == (4, 6, 5, 1)
    np.testing.assert_array_equal(gray[3, ..., 0], rgb[3, ..., 0])
    small, _, _ = image_folder(tmp_path, size=(3, 4))
    assert small.shape == (4, 3, 4, 3)
    square, _, _ = image_folder(tmp_path, size=2, grayscale=True)
    assert square.shape == (4, 2, 2, 1)


def test_image_folder_errors(tmp_path):
    with pytest.raises(ValueError, match="is not a folder"):
        image_folder(tmp_path / "missing")
    with pytest.raises(ValueError, match="no class sub-folders"):
        image_folder(tmp_path)
    save(tmp_path / "a" / "x.png", np.zeros((4, 4), np.uint8))
    (tmp_path / "b").mkdir()
    with pytest.raises(ValueError, match="class folder holds no image files") as info:
        image_folder(tmp_path)
    assert str(tmp_path / "b") in str(info.value)
    broken = tmp_path / "b" / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a png")
    with pytest.raises(ValueError, match="cannot read image") as info:
        image_folder(tmp_path)
    assert str(broken) in str(info.value)
    broken.unlink()
    save(tmp_path / "b" / "big.png", np.zeros((5, 4), np.uint8))
    with pytest.raises(ValueError, match="differs from the first image's") as info:
        image_folder(tmp_path)
    assert "big.png" in str(info.value)
    assert image_folder(tmp_path, size=(4, 4))[0].shape == (2, 4, 4, 3)
    with pytest.raises(TypeError, match="size"):
        image_folder(tmp_path, size=(4, 4, 4))
    with pytest.raises(ValueError, match="size"):
        image_folder(tmp_path, size=0)


# ----------------------------------------------------------------------------- augment


def batch(b=6, c=2, h=7, w=9):
    return torch.rand(b, c, h, w, generator=torch.Generator().manual_seed(0))


def test_augment_identity_when_all_zero():
    x = batch()
    torch.testing.assert_close(augment(x), x, atol=1e-6, rtol=0)
    torch.testing.assert_close(augment(x, generator=torch.Generator().manual_seed(3)), x, atol=1e-6, rtol=0)


def test_augment_flip_is_exact_mirror():
    x = batch(b=64)
    out = augment(x, flip=True, generator=torch.Generator().manual_seed(0))
    mirrored = torch.isclose(out, x.flip(-1), atol=1e-6, rtol=0).flatten(1).all(1)
    unchanged = torch.isclose(out, x, atol=1e-6, rtol=0).flatten(1).all(1)
    assert bool((mirrored | unchanged).all()), "every image is either mirrored or left as it was"
    assert 16 < int(mirrored.sum()) < 48, "about half of the images are mirrored"


def test_augment_shapes_dtype_and_effect():
    x = batch(b=5, c=3, h=8, w=12)
    for kwargs in ({"shear": 20.0}, {"zoom": 0.3}, {"rotate": 30.0}, {"shear": 10.0, "zoom": 0.2, "flip": True}):
        out = augment(x, **kwargs, generator=torch.Generator().manual_seed(1))
        assert out.shape == x.shape and out.dtype == x.dtype
        assert not torch.allclose(out, x, atol=1e-3), kwargs
    assert augment(x.double(), zoom=0.1).dtype == torch.float64
    assert augment(x[:0], zoom=0.1).shape == (0, 3, 8, 12)


def test_affine_exact_maps():
    x = batch(b=3, c=2, h=6, w=6)
    torch.testing.assert_close(affine(x, torch.eye(2)), x, atol=1e-6, rtol=0)
    torch.testing.assert_close(affine(x, torch.diag(torch.tensor([-1.0, 1.0]))), x.flip(-1), atol=1e-6, rtol=0)
    torch.testing.assert_close(affine(x, torch.diag(torch.tensor([1.0, -1.0]))), x.flip(-2), atol=1e-6, rtol=0)
    # x right, y down: (1, 0) -> (0, 1) sends the right edge to the bottom, i.e. clockwise on screen
    quarter = torch.tensor([[0.0, -1.0], [1.0, 0.0]])
    torch.testing.assert_close(affine(x, quarter), torch.rot90(x, k=-1, dims=(-2, -1)), atol=1e-6, rtol=0)
    per_image = torch.stack([torch.eye(2), quarter, torch.diag(torch.tensor([-1.0, 1.0]))])
    out = affine(x, per_image)
    torch.testing.assert_close(out[1], torch.rot90(x[1], k=-1, dims=(-2, -1)), atol=1e-6, rtol=0)
    torch.testing.assert_close(out[2], x[2].flip(-1), atol=1e-6, rtol=0)


def test_affine_zoom_in_by_two_samples_between_pixels():
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    out = affine(x, 2 * torch.eye(2), padding_mode="border")
    # the central 2 x 2 block is enlarged: output pixel (1, 1) reads input position (1.25, 1.25)
    assert torch.isclose(out[0, 0, 1, 1], torch.tensor(0.75 * 0.75 * 5 + 0.75 * 0.25 * (6 + 9) + 0.25 * 0.25 * 10))


def test_affine_bad_arguments():
    x = batch()
    with pytest.raises(ValueError, match=r"matrices: expected shape \(6, 2, 2\)"):
        affine(x, torch.eye(2).repeat(5, 1, 1))
    with pytest.raises(ValueError, match="singular"):
        affine(x, torch.zeros(2, 2))
    with pytest.raises(TypeError, match="matrices: expected a floating-point tensor"):
        affine(x, torch.eye(2, dtype=torch.long))
    with pytest.raises(ValueError, match="padding_mode"):
        affine(x, torch.eye(2), padding_mode="wrap")


def test_augment_keeps_the_centre_pixel():
    """Every transform is linear about the image centre, so an odd-sized image keeps its centre pixel."""
    x = batch(b=16, c=1, h=9, w=11)
    out = augment(x, shear=30.0, zoom=0.4, rotate=45.0, flip=True, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(out[..., 4, 5], x[..., 4, 5], atol=1e-5, rtol=0)
    assert not torch.allclose(out, x, atol=1e-2)


def test_augment_is_deterministic_with_a_generator():
    x = batch()
    kwargs = {"shear": 15.0, "zoom": 0.2, "rotate": 10.0, "flip": True}
    a = augment(x, **kwargs, generator=torch.Generator().manual_seed(7))
    b = augment(x, **kwargs, generator=torch.Generator().manual_seed(7))
    c = augment(x, **kwargs, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        ({"shear": -1.0}, ValueError, r"shear: expected a number in \[0, 90\)"),
        ({"shear": 90.0}, ValueError, "shear"),
        ({"zoom": 1.0}, ValueError, r"zoom: expected a number in \[0, 1\)"),
        ({"rotate": "5"}, TypeError, "rotate"),
        ({"flip": 1}, TypeError, "flip: expected a bool"),
        ({"padding_mode": "wrap"}, ValueError, "padding_mode"),
        ({"generator": 3}, TypeError, "generator"),
    ],
)
def test_augment_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        augment(batch(), **kwargs)


def test_augment_bad_images():
    with pytest.raises(ValueError, match=r"images: expected a 4-D tensor"):
        augment(torch.zeros(3, 8, 8))
    with pytest.raises(TypeError, match="images: expected a floating-point tensor"):
        augment(torch.zeros(1, 1, 8, 8, dtype=torch.uint8))
