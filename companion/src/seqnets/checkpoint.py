"""Save and load model weights as safetensors files, with JSON metadata; never unpickle.

``torch.save`` writes a pickle (inside a zip archive), and ``torch.load`` of an untrusted file
can run arbitrary code while unpickling it. A safetensors file is a JSON header followed by raw
tensor bytes, so loading one only ever creates tensors:

.. code-block:: text

    bytes 0..7      N, the header length (unsigned 64-bit little-endian)
    bytes 8..8+N    JSON object: {"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets"}, ...}
    bytes 8+N..     the tensors' bytes, back to back

:func:`load` reads and checks that header itself before handing the file to ``safetensors``, and
refuses anything else -- a pickle, a ``torch.save`` zip archive, a truncated file -- with a
``ValueError`` that names the file and says what it looks like.

Metadata (a JSON-serialisable dict: hyper-parameters, the training history, a vocabulary) travels
in the header's ``__metadata__`` under the key ``"seqnets"``, next to ``"format_version"``.

An optimiser's state can travel in the same file (``save(..., optimizer=opt)``), so that training
resumes exactly where it stopped: its tensors (Adam's moments, step counts) are stored under names
that begin with ``"__optimizer__."`` and the rest of its ``state_dict`` (hyper-parameters of each
parameter group) as JSON under ``"seqnets_optimizer"``.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import stat
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from seqnets.utils import check_module

__all__ = ["save", "load", "load_metadata", "FORMAT_VERSION", "MAX_HEADER_BYTES"]

#: Written into every checkpoint's header as ``format_version``, so a later format can be told apart.
FORMAT_VERSION = "1"
_META_KEY = "seqnets"
_ALIAS_KEY = "seqnets_aliases"
_VERSION_KEY = "format_version"
_OPTIMIZER_KEY = "seqnets_optimizer"
_OPTIMIZER_PREFIX = "__optimizer__."
#: Largest header accepted, in bytes. safetensors allows 100 MB, but parsed JSON takes 10-20 times
#: its size in memory; 16 MiB describes about 100,000 tensors plus generous metadata.
MAX_HEADER_BYTES = 16 << 20
_DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8, "C64": 8,
}  # fmt: skip


# --------------------------------------------------------------------------------------------
# Metadata
# --------------------------------------------------------------------------------------------


def _check_json(value: Any, where: str) -> None:
    """Raise a TypeError naming the first value under ``where`` that JSON cannot represent."""
    if value is None or isinstance(value, (str, bool, int)):
        return
    if isinstance(value, float):  # NaN and inf are written as Python's json writes them, and read back
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where}: keys must be strings (JSON objects), got {type(key).__name__} {key!r}")
            _check_json(item, f"{where}[{key!r}]")
        return
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_json(item, f"{where}[{i}]")
        return
    hint = ""
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        hint = "; convert it with .item()"
    elif hasattr(value, "tolist"):
        hint = "; convert it with .tolist()"
    raise TypeError(f"{where}: {type(value).__name__} is not JSON-serialisable{hint}")


def _encode_metadata(
    metadata: dict[str, Any] | None, aliases: dict[str, str], optimizer: str | None = None
) -> dict[str, str]:
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        raise TypeError(f"metadata: expected a dict or None, got {type(metadata).__name__}")
    _check_json(metadata, "metadata")
    header = {_VERSION_KEY: FORMAT_VERSION, _META_KEY: json.dumps(metadata)}
    if aliases:
        header[_ALIAS_KEY] = json.dumps(aliases)
    if optimizer is not None:
        header[_OPTIMIZER_KEY] = optimizer
    return header


# --------------------------------------------------------------------------------------------
# save
# --------------------------------------------------------------------------------------------


def _storage_key(t: torch.Tensor) -> tuple[Any, ...]:
    return (t.device, t.untyped_storage().data_ptr())


def _flatten_state(model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors to write, plus ``alias -> kept name`` for entries that are the same tensor.

    safetensors refuses tensors that share memory. Tied weights (the same tensor under two names)
    are written once and re-created from the alias table on loading; other tensors that share
    memory with one already kept (views, slices) are copied.
    """
    tensors: dict[str, torch.Tensor] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple[Any, ...], str] = {}  # exact view -> kept name
    storages: set[tuple[Any, ...]] = set()
    for name, value in model.state_dict(keep_vars=False).items():
        if not isinstance(value, torch.Tensor):
            raise TypeError(
                f"model: state_dict entry {name!r} is a {type(value).__name__}, not a tensor; only tensors can be saved"
            )
        value = value.detach()
        if value.numel() == 0:
            tensors[name] = value.cpu().contiguous().clone()
            continue
        view = (*_storage_key(value), value.storage_offset(), tuple(value.shape), value.stride(), value.dtype)
        if view in seen:
            aliases[name] = seen[view]
            continue
        shared = _storage_key(value) in storages
        storages.add(_storage_key(value))
        seen[view] = name
        value = value.to("cpu").contiguous()
        if shared or value.untyped_storage().nbytes() != value.numel() * value.element_size():
            value = value.clone()  # own, exactly sized storage
        tensors[name] = value
    return tensors, aliases


def _optimizer_entries(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], str]:
    """Tensors of ``optimizer.state_dict()`` under prefixed names, and everything else as JSON."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer: expected a torch.optim.Optimizer or None, got {type(optimizer).__name__}")
    state = optimizer.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    other: dict[str, dict[str, Any]] = {}
    for index, values in state["state"].items():
        for key, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{_OPTIMIZER_PREFIX}{index}.{key}"] = value.detach().to("cpu").contiguous().clone()
            else:
                other.setdefault(str(index), {})[key] = value
    info = {"class": type(optimizer).__name__, "param_groups": state["param_groups"], "state": other}
    _check_json(info, "optimizer.state_dict()")
    return tensors, json.dumps(info)


def save(
    model: nn.Module,
    path: str | os.PathLike[str],
    metadata: dict[str, Any] | None = None,
    *,
    optimizer: torch.optim.Optimizer | None = None,
) -> Path:
    """Write the weights (``state_dict``) of ``model`` and ``metadata`` to a safetensors file.

    The file is written to a temporary name beside ``path`` and then renamed, so an interrupted
    save never leaves a half-written checkpoint under ``path``.

    Parameters
    ----------
    model : nn.Module
        Its parameters and buffers are saved (on the CPU, contiguous). Tied weights are stored once.
    path : str or PathLike
        Destination; ``.safetensors`` is the customary suffix. The folder must exist.
    metadata : dict, optional
        Anything JSON can hold (str keys; str, int, float, bool, None, lists, dicts). Tuples come
        back as lists; NaN and infinities round-trip as Python's ``json`` writes them. A value JSON
        cannot represent (a NumPy integer, a tensor, a set) raises a ``TypeError`` naming it.
    optimizer : torch.optim.Optimizer, optional
        Also save its ``state_dict()``, for :func:`load` ``(..., optimizer=...)`` to restore.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    check_module(model)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a str or PathLike, got {type(path).__name__}")
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"path: folder {str(path.parent)!r} does not exist")
    tensors, aliases = _flatten_state(model)
    optimizer_json = None
    if optimizer is not None:
        optimizer_tensors, optimizer_json = _optimizer_entries(optimizer)
        tensors.update(optimizer_tensors)
    header = _encode_metadata(metadata, aliases, optimizer_json)
    # Written to a new file beside the target, then renamed over it: a reader never sees a
    # half-written file. safetensors creates files with mode 0600; the file gets the mode any new
    # file gets (0666 less the umask), read from a file created first under the same name.
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    mode = stat.S_IMODE(os.fstat(fd).st_mode)
    os.close(fd)
    try:
        save_file(tensors, str(tmp), metadata=header)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


# --------------------------------------------------------------------------------------------
# load
# --------------------------------------------------------------------------------------------


def _describe(start: bytes) -> str:
    """What a file that is not safetensors looks like, judged from its first bytes."""
    if start[:1] == b"\x80" and len(start) > 1:
        return (
            f"a Python pickle (protocol {start[1]}); unpickling can run arbitrary code, so seqnets never "
            "loads pickles. If you trust its source, convert it once with "
            "torch.load(path, weights_only=True) on PyTorch >= 2.10 (earlier versions of that loader have "
            "known flaws) and seqnets.checkpoint.save"
        )
    if start[:4] == b"PK\x03\x04":
        return (
            "a zip archive, the format torch.save writes (pickled Python objects inside); seqnets never "
            "unpickles. If you trust its source, convert it once with torch.load(path, weights_only=True) "
            "on PyTorch >= 2.10 (earlier versions of that loader have known flaws) and seqnets.checkpoint.save"
        )
    if start[:2] == b"\x1f\x8b":
        return "a gzip file"
    if start[:1] in (b"{", b"["):
        return "a JSON text file"
    return f"an unknown format (first bytes {start[:8]!r})"


def _parse_json(raw: bytes | str, path: Path, what: str) -> Any:
    """JSON with clear errors: too deep a nesting and duplicate keys are refused, not crashed on."""

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        if len(set(keys)) != len(keys):
            duplicate = next(k for k in keys if keys.count(k) > 1)
            raise ValueError(f"{str(path)!r}: {what} has the key {duplicate!r} twice")
        return dict(pairs)

    try:
        return json.loads(raw, object_pairs_hook=no_duplicates)
    except RecursionError:
        raise ValueError(f"{str(path)!r}: {what} is nested too deeply to be a checkpoint header") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"{str(path)!r}: {what} is not valid JSON ({err})") from None


def _check_tensor_entries(header: dict[str, Any], path: Path, data_size: int) -> None:
    """Every tensor entry is well formed, and the entries tile the data section exactly.

    safetensors requires the byte ranges to follow each other with no gap and no overlap; checked
    here so that a crafted file gets a ValueError naming it, not an error from inside the library.
    """
    ranges = []
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        ok = (
            isinstance(entry, dict)
            and entry.get("dtype") in _DTYPE_BYTES
            and isinstance(entry.get("shape"), list)
            and all(type(d) is int and d >= 0 for d in entry["shape"])
            and isinstance(entry.get("data_offsets"), list)
            and len(entry["data_offsets"]) == 2
            and all(type(o) is int for o in entry["data_offsets"])
        )
        if not ok:
            raise ValueError(
                f"{str(path)!r}: header entry {name!r} is not a valid tensor description: {str(entry)[:200]}"
            )
        begin, end = entry["data_offsets"]
        if not 0 <= begin <= end or end > data_size:
            raise ValueError(
                f"{str(path)!r} is truncated or corrupt: tensor {name!r} needs bytes {begin}..{end} of the data "
                f"section, which has {data_size} bytes"
            )
        if end - begin != math.prod(entry["shape"]) * _DTYPE_BYTES[entry["dtype"]]:
            raise ValueError(
                f"{str(path)!r} is corrupt: tensor {name!r} of dtype {entry['dtype']} and shape {entry['shape']} "
                f"does not fit its {end - begin} bytes"
            )
        ranges.append((begin, end, name))
    position = 0
    for begin, end, name in sorted(ranges):
        if begin != position:
            problem = "overlaps the tensor before it" if begin < position else f"leaves a gap at byte {position}"
            raise ValueError(f"{str(path)!r} is corrupt: tensor {name!r} (bytes {begin}..{end}) {problem}")
        position = end
    if position != data_size:
        raise ValueError(
            f"{str(path)!r} is corrupt: the tensors use {position} bytes but the data section has {data_size}"
        )


def _read_header(path: Path) -> dict[str, Any]:
    """Parse and validate the safetensors header of ``path`` without trusting anything in it."""
    if not isinstance(path, Path):
        raise TypeError(f"path: expected a str or PathLike, got {type(path).__name__}")
    if not path.exists():
        raise FileNotFoundError(f"checkpoint file not found: {str(path)!r}")
    if not path.is_file():
        raise ValueError(f"{str(path)!r} is not a regular file")
    size = path.stat().st_size
    with path.open("rb") as f:
        start = f.read(8)
        if len(start) < 8:
            raise ValueError(f"{str(path)!r} is not a safetensors checkpoint: only {size} bytes, truncated or empty")
        n = int.from_bytes(start, "little")
        not_safetensors = f"{str(path)!r} is not a safetensors checkpoint: it looks like "
        if start[:1] == b"\x80" or start[:4] == b"PK\x03\x04" or n < 2:
            raise ValueError(not_safetensors + _describe(start))
        if 8 + n > size:
            if n > MAX_HEADER_BYTES:  # not a length field at all: some other kind of file
                raise ValueError(not_safetensors + _describe(start))
            raise ValueError(
                f"{str(path)!r} is truncated or not a safetensors checkpoint: its header claims {n} bytes "
                f"but the file has {size - 8} after the length field"
            )
        if n > MAX_HEADER_BYTES:
            raise ValueError(
                f"{str(path)!r}: its header claims {n} bytes, more than the {MAX_HEADER_BYTES} a seqnets checkpoint "
                "may have (parsing it could take gigabytes of memory)"
            )
        raw = f.read(n)
    header = _parse_json(raw, path, "the header")
    if not isinstance(header, dict):
        raise ValueError(
            f"{str(path)!r} is not a safetensors checkpoint: its header is a JSON {type(header).__name__}, not an object"
        )
    meta = header.get("__metadata__", {})
    if not isinstance(meta, dict) or not all(isinstance(v, str) for v in meta.values()):
        raise ValueError(f"{str(path)!r}: header __metadata__ must map strings to strings")
    _check_tensor_entries(header, path, size - 8 - n)
    return header


def _decode_metadata(header: dict[str, Any], path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    raw = header.get("__metadata__") or {}
    if _META_KEY not in raw:  # a safetensors file written by another program: hand back its metadata
        return dict(raw), {}
    metadata = _parse_json(raw[_META_KEY], path, "the seqnets metadata")
    aliases = _parse_json(raw.get(_ALIAS_KEY, "{}"), path, "the table of tied weights")
    if not isinstance(metadata, dict):
        raise ValueError(f"{str(path)!r}: the seqnets metadata is a JSON {type(metadata).__name__}, expected an object")
    tensors = set(header) - {"__metadata__"}
    if not isinstance(aliases, dict) or not all(
        isinstance(alias, str) and alias not in tensors and kept in tensors for alias, kept in aliases.items()
    ):
        raise ValueError(
            f"{str(path)!r}: the table of tied weights must map new names to tensors stored in the file, "
            f"got {str(aliases)[:200]}"
        )
    return metadata, aliases


def load_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read only the metadata of a checkpoint written by :func:`save` (no tensors are loaded)."""
    path = Path(path) if isinstance(path, (str, os.PathLike)) else path
    return _decode_metadata(_read_header(path), path)[0]


def _load_optimizer(
    optimizer: torch.optim.Optimizer, state: dict[str, torch.Tensor], header: dict[str, Any], path: Path
) -> None:
    """Restore ``optimizer`` from the entries :func:`_optimizer_entries` wrote."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer: expected a torch.optim.Optimizer or None, got {type(optimizer).__name__}")
    raw = (header.get("__metadata__") or {}).get(_OPTIMIZER_KEY)
    if raw is None:
        raise ValueError(f"{str(path)!r} holds no optimizer state (it was saved without optimizer=...)")
    info = _parse_json(raw, path, "the optimizer state")
    if not (
        isinstance(info, dict)
        and isinstance(info.get("param_groups"), list)
        and isinstance(info.get("state"), dict)
        and all(isinstance(v, dict) for v in info["state"].values())
    ):
        raise ValueError(f"{str(path)!r}: the optimizer state is not an object with param_groups and state")
    if info.get("class") != type(optimizer).__name__:
        raise ValueError(
            f"{str(path)!r} holds the state of an optimizer of class {info.get('class')}, "
            f"not {type(optimizer).__name__}"
        )
    per_param: dict[int, dict[str, Any]] = {}
    try:
        for index, values in info["state"].items():
            per_param.setdefault(int(index), {}).update(values)
        for name, tensor in state.items():
            if name.startswith(_OPTIMIZER_PREFIX):
                index, key = name[len(_OPTIMIZER_PREFIX) :].split(".", 1)
                per_param.setdefault(int(index), {})[key] = tensor
        optimizer.load_state_dict({"state": per_param, "param_groups": info["param_groups"]})
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{str(path)!r}: the optimizer state does not fit this optimizer ({err})") from None


def load(
    model: nn.Module,
    path: str | os.PathLike[str],
    strict: bool = True,
    map_location: str | torch.device = "cpu",
    *,
    optimizer: torch.optim.Optimizer | None = None,
) -> dict[str, Any]:
    """Load weights saved by :func:`save` into ``model``; return the metadata.

    The header is validated here first; pickles, ``torch.save`` archives and truncated or corrupt
    files are refused with a ``ValueError`` and are never unpickled.

    Parameters
    ----------
    model : nn.Module
        Receives the weights (``load_state_dict``), in place.
    path : str or PathLike
    strict : bool
        Require the checkpoint's names to match the model's exactly. Shapes must always match.
    map_location : str or torch.device
        Device the tensors are read to before being copied into the model.
    optimizer : torch.optim.Optimizer, optional
        Restore its state too (``load_state_dict``); the file must have been saved with one of the
        same class, built over parameters of the same shapes.

    Returns
    -------
    dict
        The ``metadata`` given to :func:`save` (for a safetensors file written by another program,
        its raw ``__metadata__``).

    Raises
    ------
    FileNotFoundError
        ``path`` does not exist.
    ValueError
        The file is not a valid safetensors file, or its tensors do not fit the model.
    """
    check_module(model)
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a str or PathLike, got {type(path).__name__}")
    path = Path(path)
    header = _read_header(path)
    metadata, aliases = _decode_metadata(header, path)
    everything = load_file(str(path), device=str(torch.device(map_location)))
    state = {k: v for k, v in everything.items() if not k.startswith(_OPTIMIZER_PREFIX)}
    for alias, kept in aliases.items():
        state[alias] = state[kept]

    expected = model.state_dict()
    missing = sorted(k for k in expected if k not in state)
    unexpected = sorted(k for k in state if k not in expected)
    if strict and (missing or unexpected):
        raise ValueError(
            f"{str(path)!r} does not match the model: missing keys {missing}, unexpected keys {unexpected} "
            "(load with strict=False to load the keys both have)"
        )
    wrong = [
        f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    if wrong:
        raise ValueError(f"{str(path)!r} does not match the model's shapes: " + "; ".join(wrong))
    if optimizer is not None:  # before the weights: a refused optimizer state leaves the model as it was
        _load_optimizer(optimizer, everything, header, path)
    model.load_state_dict({k: v for k, v in state.items() if k in expected}, strict=strict)
    return metadata
