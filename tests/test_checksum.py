"""Tests of seqnets.data.checksum: streamed SHA-256 digests and their verification."""

from __future__ import annotations

import hashlib

import pytest

from seqnets.data.checksum import sha256_file, verify_sha256

MIB = 1 << 20  # sha256_file's default chunk size
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"  # SHA-256 of no bytes


@pytest.mark.parametrize(
    ("size", "chunk_size"),
    [(0, 1), (1, 1), (1000, 1), (1000, 7), (1000, MIB), (MIB + 3, 7), (MIB + 3, MIB)],
)
def test_digest_equals_hashlib_of_the_whole_file(tmp_path, size, chunk_size):
    path = tmp_path / "data.bin"
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    path.write_bytes(data)
    assert sha256_file(path, chunk_size=chunk_size) == hashlib.sha256(data).hexdigest()


def test_known_digests(tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"")
    assert sha256_file(path) == EMPTY
    path.write_bytes(b"abc")  # FIPS 180-2's example
    abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert sha256_file(str(path)) == abc


def test_verify_accepts_the_recorded_digest_in_either_case(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"some data")
    digest = sha256_file(path)
    assert verify_sha256(path, digest) == path
    assert verify_sha256(str(path), digest.upper()) == path


def test_one_changed_byte_is_caught_and_named(tmp_path):
    path = tmp_path / "images.idx"
    data = bytearray(range(256)) * 4
    path.write_bytes(data)
    recorded = sha256_file(path)
    data[500] ^= 1  # one bit of one byte
    path.write_bytes(data)
    actual = sha256_file(path)
    assert actual != recorded
    with pytest.raises(ValueError) as info:
        verify_sha256(path, recorded)
    message = str(info.value)
    assert str(path) in message and recorded in message and actual in message


def test_invalid_arguments(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(b"x")
    with pytest.raises(ValueError, match="expected: expected 64 hexadecimal digits"):
        verify_sha256(path, "abc")
    with pytest.raises(ValueError, match="expected: expected 64 hexadecimal digits"):
        verify_sha256(path, "g" * 64)
    with pytest.raises(TypeError, match="expected: expected a str"):
        verify_sha256(path, b"0" * 64)
    with pytest.raises(ValueError, match="chunk_size: expected an integer >= 1, got 0"):
        sha256_file(path, chunk_size=0)
    with pytest.raises(FileNotFoundError, match="missing"):
        sha256_file(tmp_path / "missing")
    with pytest.raises(ValueError, match="is not a regular file"):
        sha256_file(tmp_path)
    with pytest.raises(TypeError, match="path: expected a str or PathLike"):
        sha256_file(3)
