"""Tests of seqnets.checkpoint: safetensors round trips, and refusing pickles without running them."""

from __future__ import annotations

import json
import os
import pathlib
import pickle
import stat

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from seqnets.checkpoint import FORMAT_VERSION, load, load_metadata, save


class Small(nn.Module):
    """Parameters, a float buffer, an integer buffer (BatchNorm) and a non-contiguous buffer."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 3)
        self.norm = nn.BatchNorm1d(3)
        self.register_buffer("table", torch.arange(12.0).reshape(3, 4).t())  # a transposed view

    def forward(self, x):
        return self.norm(self.linear(x))


class Tied(nn.Module):
    """An embedding and an output layer sharing one weight matrix, as language models often do."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(5, 3)
        self.out = nn.Linear(3, 5, bias=False)
        self.out.weight = self.embed.weight


def trained_small(seed: int = 0) -> Small:
    torch.manual_seed(seed)
    model = Small()
    model(torch.randn(8, 4))  # updates the running statistics and num_batches_tracked
    return model


def assert_same_state(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert sa[k].dtype == sb[k].dtype, k
        assert torch.equal(sa[k], sb[k]), k


# --------------------------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------------------------


def test_saved_file_has_the_permissions_of_any_new_file(tmp_path):
    old = os.umask(0o022)
    try:
        path = save(trained_small(), tmp_path / "m.safetensors")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644, "mode 0666 less the umask, as open() gives"
    assert [p.name for p in tmp_path.iterdir()] == ["m.safetensors"], "no temporary file is left"


def test_round_trip_with_metadata(tmp_path):
    model = trained_small(0)
    metadata = {
        "hidden": 3,
        "lr": 1e-3,
        "name": "small",
        "history": {"loss": [1.0, 0.5]},
        "pair": (1, 2),
        "ok": True,
        "none": None,
    }
    path = save(model, tmp_path / "small.safetensors", metadata=metadata)
    assert path == tmp_path / "small.safetensors" and path.is_file()
    fresh = trained_small(1)
    assert not torch.equal(fresh.linear.weight, model.linear.weight)
    got = load(fresh, path)
    assert_same_state(model, fresh)
    assert got == {**metadata, "pair": [1, 2]}
    assert load_metadata(str(path)) == got
    assert list(tmp_path.iterdir()) == [path], "the temporary file must be renamed, not left behind"


def test_header_holds_json_metadata_and_version(tmp_path):
    path = save(nn.Linear(2, 2), tmp_path / "m.safetensors", metadata={"a": 1})
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    assert header["__metadata__"]["format_version"] == FORMAT_VERSION
    assert json.loads(header["__metadata__"]["seqnets"]) == {"a": 1}
    assert set(header) == {"__metadata__", "weight", "bias"}


def test_nan_in_metadata_round_trips(tmp_path):
    path = save(nn.Linear(2, 2), tmp_path / "m.safetensors", metadata={"val_loss": [0.5, float("nan")]})
    values = load_metadata(path)["val_loss"]
    assert values[0] == 0.5 and np.isnan(values[1])


def test_tied_weights_are_stored_once_and_restored(tmp_path):
    torch.manual_seed(0)
    model = Tied()
    path = save(model, tmp_path / "tied.safetensors")
    raw = path.read_bytes()
    header = json.loads(raw[8 : 8 + int.from_bytes(raw[:8], "little")])
    assert set(header) - {"__metadata__"} == {"embed.weight"}
    torch.manual_seed(1)
    fresh = Tied()
    load(fresh, path)
    assert_same_state(model, fresh)
    assert fresh.out.weight is fresh.embed.weight


def test_tensors_sharing_memory_but_not_identical_are_copied(tmp_path):
    class Views(nn.Module):
        def __init__(self):
            super().__init__()
            base = torch.arange(10.0)
            self.register_buffer("first", base[:5])
            self.register_buffer("second", base[5:])

    model = Views()
    path = save(model, tmp_path / "views.safetensors")
    fresh = Views()
    fresh.first.zero_()
    fresh.second.zero_()
    load(fresh, path)
    assert torch.equal(fresh.first, torch.arange(5.0)) and torch.equal(fresh.second, torch.arange(5.0, 10.0))


def test_a_safetensors_file_from_elsewhere_loads(tmp_path):
    model = nn.Linear(2, 2)
    path = tmp_path / "other.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path), metadata={"origin": "elsewhere"})
    fresh = nn.Linear(2, 2)
    assert load(fresh, path) == {"origin": "elsewhere"}
    assert_same_state(model, fresh)


# --------------------------------------------------------------------------------------------
# Mismatches and bad arguments
# --------------------------------------------------------------------------------------------


def test_missing_and_unexpected_keys_raise(tmp_path):
    path = save(nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2)), tmp_path / "two.safetensors")
    with pytest.raises(
        ValueError, match=r"does not match the model: missing keys \[\], unexpected keys \['1.bias', '1.weight'\]"
    ):
        load(nn.Sequential(nn.Linear(2, 2)), path)
    with pytest.raises(ValueError, match=r"missing keys \['2.bias', '2.weight'\]"):
        load(nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2), nn.Linear(2, 2)), path)
    partial = nn.Sequential(nn.Linear(2, 2))
    load(partial, path, strict=False)  # loads the keys both have
    with pytest.raises(ValueError, match=r"shapes: 0.weight: checkpoint \(2, 2\) vs model \(3, 2\)"):
        load(nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 2)), path, strict=False)


def test_metadata_must_be_json(tmp_path):
    model = nn.Linear(2, 2)
    target = tmp_path / "m.safetensors"
    with pytest.raises(
        TypeError, match=r"metadata\['epochs'\]: int64 is not JSON-serialisable; convert it with .item\(\)"
    ):
        save(model, target, metadata={"epochs": np.int64(3)})
    with pytest.raises(
        TypeError, match=r"metadata\['w'\]\[1\]: Tensor is not JSON-serialisable; convert it with .tolist\(\)"
    ):
        save(model, target, metadata={"w": [1, torch.ones(2)]})
    with pytest.raises(TypeError, match="keys must be strings"):
        save(model, target, metadata={1: "a"})
    with pytest.raises(TypeError, match="metadata: expected a dict or None, got list"):
        save(model, target, metadata=[1])
    with pytest.raises(TypeError, match="set is not JSON-serialisable"):
        save(model, target, metadata={"s": {1}})
    assert list(tmp_path.iterdir()) == [], "a refused save must write nothing"


def test_save_and_load_argument_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save(nn.Linear(2, 2), tmp_path / "missing_dir" / "m.safetensors")
    with pytest.raises(TypeError, match="model: expected a torch.nn.Module"):
        save({"w": torch.ones(1)}, tmp_path / "m.safetensors")
    with pytest.raises(FileNotFoundError, match="checkpoint file not found"):
        load(nn.Linear(2, 2), tmp_path / "nope.safetensors")
    with pytest.raises(TypeError, match="path: expected a str or PathLike"):
        load(nn.Linear(2, 2), 3)


# --------------------------------------------------------------------------------------------
# Refusing pickles without running them
# --------------------------------------------------------------------------------------------


class Payload:
    """Unpickling this creates the file ``target``: a harmless stand-in for arbitrary code."""

    def __init__(self, target: pathlib.Path):
        self.target = target

    def __reduce__(self):
        return (pathlib.Path.touch, (self.target,))


def test_the_payload_really_runs_when_unpickled(tmp_path):
    # Control: proves the files below would be dangerous, so refusing them is a real test.
    proof = tmp_path / "created_by_unpickling"
    pickle.loads(pickle.dumps(Payload(proof)))
    assert proof.exists()


def test_pickle_file_is_refused_and_never_unpickled(tmp_path):
    target = tmp_path / "pwned"
    path = tmp_path / "model.safetensors"
    with path.open("wb") as f:
        pickle.dump({"weight": Payload(target)}, f, protocol=pickle.HIGHEST_PROTOCOL)
    with pytest.raises(
        ValueError,
        match=r"model.safetensors' is not a safetensors checkpoint: it looks like a Python pickle \(protocol 5\)",
    ):
        load(nn.Linear(2, 2), path)
    with pytest.raises(ValueError, match="Python pickle"):
        load_metadata(path)
    assert not target.exists()


@pytest.mark.parametrize("zipfile", [True, False])
def test_torch_save_file_is_refused_and_never_unpickled(tmp_path, zipfile):
    target = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    torch.save({"weight": torch.ones(2), "evil": Payload(target)}, path, _use_new_zipfile_serialization=zipfile)
    expected = "a zip archive, the format torch.save writes" if zipfile else "a Python pickle"
    with pytest.raises(ValueError, match=r"model.pt' is not a safetensors checkpoint: it looks like " + expected):
        load(nn.Linear(2, 2), path)
    assert not target.exists()


def test_truncated_and_corrupt_files_are_refused(tmp_path):
    good = save(nn.Linear(4, 4), tmp_path / "good.safetensors", metadata={"a": 1})
    raw = good.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    cases = {
        "tail.safetensors": (raw[:-3], r"tail.safetensors' is truncated or corrupt: tensor"),
        "header.safetensors": (
            raw[: 8 + n // 2],
            r"header.safetensors' is truncated or not a safetensors checkpoint: its header claims",
        ),
        "tiny.safetensors": (raw[:5], r"tiny.safetensors' is not a safetensors checkpoint: only 5 bytes"),
        "empty.safetensors": (b"", r"only 0 bytes"),
        "longer.safetensors": (raw + b"\0" * 4, r"is corrupt: the tensors use"),
        "garbage.safetensors": (raw[:8] + b"\xff" * n + raw[8 + n :], r"the header is not valid JSON"),
        "list.safetensors": ((2).to_bytes(8, "little") + b"[]", r"its header is a JSON list, not an object"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ValueError, match=message):
            load(nn.Linear(4, 4), path)
    # a header entry that lies about its size is refused before safetensors sees it
    header = json.loads(raw[8 : 8 + n])
    header["weight"]["shape"] = [4, 5]
    body = json.dumps(header).encode()
    bad = tmp_path / "shape.safetensors"
    bad.write_bytes(len(body).to_bytes(8, "little") + body + raw[8 + n :])
    with pytest.raises(ValueError, match=r"tensor 'weight' of dtype F32 and shape \[4, 5\] does not fit its 64 bytes"):
        load(nn.Linear(4, 4), bad)


def write_header(path, header: dict | str, data: bytes) -> None:
    body = (header if isinstance(header, str) else json.dumps(header)).encode()
    path.write_bytes(len(body).to_bytes(8, "little") + body + data)


def test_hostile_headers_get_a_value_error_naming_the_file(tmp_path):
    """Recursion, size, overlapping or gapped tensors, duplicate keys, a wrong alias table: each is
    refused by the header check with a ValueError, before safetensors or json can fail otherwise."""
    f32 = {"dtype": "F32", "shape": [2]}
    cases = {
        "deep": ("[" * 100_000 + "]" * 100_000, b"", "nested too deeply"),
        "overlap": (
            {"a": {**f32, "data_offsets": [0, 8]}, "b": {**f32, "data_offsets": [4, 12]}},
            bytes(12),
            r"tensor 'b' \(bytes 4..12\) overlaps the tensor before it",
        ),
        "gap": (
            {"a": {**f32, "data_offsets": [0, 8]}, "b": {**f32, "data_offsets": [12, 20]}},
            bytes(20),
            r"leaves a gap at byte 8",
        ),
        "duplicate": (
            '{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, '
            '"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}',
            bytes(8),
            "key 'a' twice",
        ),
        "bool-shape": (
            {"a": {"dtype": "F32", "shape": [True, 2], "data_offsets": [0, 8]}},
            bytes(8),
            "not a valid tensor description",
        ),
        "aliases-type": (
            {"__metadata__": {"seqnets": "{}", "seqnets_aliases": "[1, 2]"}, "a": {**f32, "data_offsets": [0, 8]}},
            bytes(8),
            "table of tied weights must map",
        ),
        "aliases-target": (
            {
                "__metadata__": {"seqnets": "{}", "seqnets_aliases": '{"b": "missing"}'},
                "a": {**f32, "data_offsets": [0, 8]},
            },
            bytes(8),
            "table of tied weights must map",
        ),
        "metadata-deep": (
            {"__metadata__": {"seqnets": "[" * 100_000 + "]" * 100_000}, "a": {**f32, "data_offsets": [0, 8]}},
            bytes(8),
            "seqnets metadata is nested too deeply",
        ),
    }
    for name, (header, data, message) in cases.items():
        path = tmp_path / f"{name}.safetensors"
        write_header(path, header, data)
        with pytest.raises(ValueError, match=message) as info:
            load_metadata(path)
        assert str(path) in str(info.value), name


def test_header_larger_than_the_cap_is_refused_before_it_is_parsed(tmp_path):
    from seqnets.checkpoint import MAX_HEADER_BYTES

    path = tmp_path / "big.safetensors"
    filler = " " * (MAX_HEADER_BYTES + 1 - 2)
    write_header(path, "{" + filler + "}", b"")
    with pytest.raises(ValueError, match=f"header claims {MAX_HEADER_BYTES + 1} bytes, more than"):
        load_metadata(path)


def test_load_reads_tensors_to_map_location(tmp_path, monkeypatch):
    """map_location reaches safetensors (the tensors are read there) and the weights arrive."""
    import seqnets.checkpoint as checkpoint

    model = trained_small()
    path = save(model, tmp_path / "m.safetensors")
    seen: list[str] = []
    real_load_file = checkpoint.load_file

    def recording_load_file(filename, device="cpu"):
        seen.append(device)
        return real_load_file(filename, device=device)

    monkeypatch.setattr(checkpoint, "load_file", recording_load_file)
    fresh = Small()
    load(fresh, path, map_location=torch.device("cpu"))
    assert seen == ["cpu"]
    assert_same_state(model, fresh)
    with pytest.raises(RuntimeError):
        load(Small(), path, map_location="no_such_device")


# --------------------------------------------------------------------------------------------
# Optimiser state
# --------------------------------------------------------------------------------------------


def _trained(seed, optimizer_cls=torch.optim.Adam):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
    opt = optimizer_cls(model.parameters(), lr=0.01)
    for _ in range(3):
        opt.zero_grad()
        model(torch.randn(16, 4)).pow(2).mean().backward()
        opt.step()
    return model, opt


@pytest.mark.parametrize("optimizer_cls", [torch.optim.Adam, torch.optim.RMSprop, torch.optim.SGD])
def test_optimizer_state_round_trips_so_training_continues_identically(tmp_path, optimizer_cls):
    model, opt = _trained(0, optimizer_cls)
    save(model, tmp_path / "c.safetensors", {"epoch": 3}, optimizer=opt)
    twin, twin_opt = _trained(1, optimizer_cls)  # other weights, other state, same structure
    assert load(twin, tmp_path / "c.safetensors", optimizer=twin_opt) == {"epoch": 3}
    batch = torch.randn(16, 4)
    for m, o in ((model, opt), (twin, twin_opt)):
        o.zero_grad()
        m(batch).pow(2).mean().backward()
        o.step()
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        assert torch.equal(a, b), "one more step after loading must equal one more step before saving"


def test_model_only_load_ignores_the_optimizer_and_optimizer_errors_are_clear(tmp_path):
    model, opt = _trained(0)
    save(model, tmp_path / "with.safetensors", optimizer=opt)
    save(model, tmp_path / "without.safetensors")
    fresh, _ = _trained(1)
    load(fresh, tmp_path / "with.safetensors")  # strict: the optimizer entries are not model keys
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), fresh.parameters(), strict=True))
    other, _ = _trained(2)
    before = [p.detach().clone() for p in other.parameters()]
    with pytest.raises(ValueError, match="holds no optimizer state"):
        load(other, tmp_path / "without.safetensors", optimizer=torch.optim.Adam(other.parameters()))
    with pytest.raises(ValueError, match="state of an optimizer of class Adam, not SGD"):
        load(other, tmp_path / "with.safetensors", optimizer=torch.optim.SGD(other.parameters(), lr=0.1))
    unchanged = all(torch.equal(a, b) for a, b in zip(before, other.parameters(), strict=True))
    assert unchanged, "a refused optimizer state must leave the model's weights as they were"
    wider = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1), nn.Linear(1, 1))
    wider_opt = torch.optim.Adam(wider.parameters())
    with pytest.raises(ValueError, match="does not fit this optimizer"):
        load(wider, tmp_path / "with.safetensors", strict=False, optimizer=wider_opt)
    with pytest.raises(TypeError, match="optimizer: expected a torch.optim.Optimizer"):
        save(model, tmp_path / "x.safetensors", optimizer="adam")
