"""Tests of seqnets.bench (the long-range benchmarks) and of its command line, python -m seqnets."""

from __future__ import annotations

import gzip
import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from seqnets import bench
from seqnets.cli import main
from seqnets.models.conv import receptive_field

TINY = {"samples": 64, "epochs": 2, "batch_size": 16, "lr": 0.003, "params": 600}
LENGTH = {"adding": 12, "copy": 6}


def run_cpu(config, **options):
    """bench.run on the CPU: its default device is CUDA where there is one, and these tests pin numbers."""
    return bench.run(config, device="cpu", **options)


def tiny(task, model, **extra):
    options = {**TINY, **({"length": LENGTH[task]} if task in LENGTH else {}), **extra}
    return bench.Config(task=task, model=model, **options)


# --------------------------------------------------------------------------------------------
# Tasks and models
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, x_shape, y_shape, baseline",
    [
        ("adding", (64, 12, 2), (64, 1), 1 / 6),
        ("copy", (64, 26), (64, 26), 10 * math.log(8) / 26),
        ("pixel", (64, 64, 1), (64,), math.log(10)),
        ("permuted", (64, 64, 1), (64,), math.log(10)),
    ],
)
def test_tasks_have_the_documented_shapes_and_baselines(name, x_shape, y_shape, baseline):
    task = bench.load_task(name, LENGTH.get(name), samples=64)
    assert task.train[0].shape == x_shape and task.train[1].shape == y_shape
    assert task.baseline == pytest.approx(baseline)
    assert task.metric == bench.PAPER[name]["metric"]
    if name in LENGTH:
        assert len(task.val[0]) == len(task.test[0]) == 1000
    else:
        assert len(task.val[0]) + len(task.test[0]) + len(bench.load_task(name).train[0]) == 1797


def test_task_data_do_not_depend_on_anything_but_the_task():
    a, b = bench.load_task("copy", 8, samples=32), bench.load_task("copy", 8, samples=32)
    assert torch.equal(a.train[0], b.train[0]) and torch.equal(a.test[1], b.test[1])
    assert not torch.equal(a.train[0][:32], a.val[0][:32]), "train, validation and test are different draws"


def test_permuted_digits_are_the_same_pixels_in_one_fixed_order():
    pixel, permuted = bench.load_task("pixel"), bench.load_task("permuted")
    assert torch.equal(pixel.train[1], permuted.train[1])
    a, b = pixel.train[0][..., 0], permuted.train[0][..., 0]  # (N, 64)
    assert not torch.equal(a, b)
    assert torch.equal(a.sort(dim=1).values, b.sort(dim=1).values), "each image keeps its pixels"
    # one permutation for every image: each column of b equals a column of a over the whole set
    match = (a.T[:, None, :] == b.T[None, :, :]).all(-1)  # (64, 64): a[:, i] == b[:, j]
    assert match.any(0).all()


def _write_idx(path, array, gz):
    codes = {np.dtype(np.uint8): 0x08}
    header = bytes([0, 0, codes[array.dtype], array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    data = header + array.tobytes()
    path.write_bytes(gzip.compress(data) if gz else data)


def test_mnist_is_read_from_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    names = ["train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
    arrays = [rng.integers(0, 256, (50, 4, 4), dtype=np.uint8), rng.integers(0, 10, 50, dtype=np.uint8),
              rng.integers(0, 256, (20, 4, 4), dtype=np.uint8), rng.integers(0, 10, 20, dtype=np.uint8)]  # fmt: skip
    for i, (name, array) in enumerate(zip(names, arrays, strict=True)):
        _write_idx(tmp_path / (name + (".gz" if i % 2 else "")), array, gz=bool(i % 2))
    task = bench.load_task("pixel", data=tmp_path)
    assert task.length == 16 and len(task.train[0]) == 45 and len(task.val[0]) == 5 and len(task.test[0]) == 20
    assert torch.equal(task.test[1], torch.from_numpy(arrays[3].astype(np.int64)))
    assert task.train[0].mean().abs() < 1e-5, "standardised with the training statistics"
    (tmp_path / names[2]).unlink()
    with pytest.raises(FileNotFoundError, match="has no t10k-images-idx3-ubyte"):
        bench.load_task("pixel", data=tmp_path)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"name": "mnist"}, ValueError, "task: expected one of"),
        ({"name": "pixel", "length": 100}, ValueError, "images have 64 pixels, got length=100"),
        ({"name": "adding", "data": "somewhere"}, ValueError, "only the pixel and permuted tasks read files"),
        ({"name": "pixel", "samples": 5000}, ValueError, "training set has 1259 sequences"),
        ({"name": "pixel", "data": "/no/such/folder"}, FileNotFoundError, "is not a folder"),
        ({"name": "copy", "length": 0}, ValueError, "length"),
    ],
)
def test_load_task_rejects_bad_input(kwargs, error, match):
    with pytest.raises(error, match=match):
        bench.load_task(**kwargs)


@pytest.mark.parametrize("task", bench.TASKS)
@pytest.mark.parametrize("model", bench.MODELS)
def test_models_fit_their_task_and_the_tcn_sees_the_whole_sequence(task, model):
    data = bench.load_task(task, LENGTH.get(task), samples=16)
    net = bench.build_model(data, model, 5)
    x = data.train[0][:3]
    out = net(x)
    expected = {"adding": (3, 1), "copy": (3, 26, 10), "pixel": (3, 10), "permuted": (3, 10)}[task]
    assert out.shape == expected
    if model == "tcn":
        tcn = net[1].backbone if task == "copy" else net.backbone
        steps = x.shape[1]
        assert tcn.receptive_field >= steps, "the last output reads the first step"
        assert tcn.levels == 1 or receptive_field(tcn.kernel_size, tcn.levels - 1) < steps, "no level too many"


def test_hidden_for_params_picks_the_closest_width():
    data = bench.load_task("adding", 20, samples=16)
    for model in bench.MODELS:
        build = lambda h, m=model: bench.build_model(data, m, h)  # noqa: E731
        h = bench.hidden_for_params(build, 5000)
        counts = [sum(p.numel() for p in build(w).parameters()) for w in (h - 1, h, h + 1)]
        assert abs(counts[1] - 5000) <= min(abs(counts[0] - 5000), abs(counts[2] - 5000))
    with pytest.raises(ValueError, match="even width 8 gives fewer than"):
        bench.hidden_for_params(lambda h: torch.nn.Linear(1, h), 100, largest=8)


def test_config_resolves_the_task_defaults_and_rejects_bad_values():
    cfg = bench.Config(task="copy", model="lstm").resolved()
    assert (cfg.params, cfg.epochs, cfg.batch_size, cfg.lr, cfg.optimizer) == (16_000, 50, 32, 5e-4, "rmsprop")
    assert bench.Config(task="adding", model="gru", hidden=10).resolved().params is None
    with pytest.raises(ValueError, match="not both"):
        bench.Config(task="adding", model="gru", hidden=10, params=100).resolved()
    with pytest.raises(ValueError, match="model: expected one of"):
        bench.Config(task="adding", model="transformer").resolved()
    with pytest.raises(ValueError, match="lr"):
        bench.Config(task="adding", model="gru", lr=0.0).resolved()
    with pytest.raises(ValueError, match="only the TCN uses them"):
        run_cpu(tiny("adding", "lstm", kernel_size=3), progress=False)


# --------------------------------------------------------------------------------------------
# Runs
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("task", bench.TASKS)
@pytest.mark.parametrize("model", bench.MODELS)
def test_every_task_and_model_runs_tiny_and_writes_its_results(tmp_path, task, model):
    results = run_cpu(tiny(task, model), out=tmp_path, progress=False)
    on_disk = json.loads((tmp_path / "results.json").read_text())
    assert on_disk == json.loads(json.dumps(results))
    assert results["format"] == bench.RESULTS_FORMAT and results["status"] == "finished"
    assert (results["task"], results["model"], results["world_size"], results["device"]) == (task, model, 1, "cpu")
    assert results["paper"]["value"] == bench.PAPER[task][model]
    assert [row["epoch"] for row in results["history"]] == [1, 2]
    assert all(math.isfinite(row["train_loss"]) and row["seconds"] > 0 for row in results["history"])
    assert set(results["test"]) == ({"loss"} if task == "adding" else {"loss", "accuracy"})
    assert results["best_epoch"] == 1 + int(np.argmin([row["val_loss"] for row in results["history"]]))
    assert results["versions"]["torch"] == torch.__version__
    assert abs(results["parameters"] - 600) < 0.5 * 600
    assert {"checkpoint.safetensors", "best.safetensors", "results.json"} <= {p.name for p in tmp_path.iterdir()}
    _, model_back = bench.load_run(tmp_path)
    saved = load_file(tmp_path / "checkpoint.safetensors")
    assert all(torch.equal(v, saved[k]) for k, v in model_back.state_dict().items())


def test_test_metric_is_that_of_the_best_epoch(tmp_path):
    results = run_cpu(tiny("adding", "gru", epochs=3), out=tmp_path, progress=False)
    _, best = bench.load_run(tmp_path, which="best")
    task = bench.load_task("adding", 12, samples=64)
    with torch.no_grad():
        mse = torch.nn.functional.mse_loss(best(task.test[0]), task.test[1]).item()
    assert results["test"]["loss"] == pytest.approx(mse, rel=1e-5)


def test_resume_equals_an_uninterrupted_run_bit_for_bit(tmp_path):
    cfg = tiny("copy", "tcn", epochs=4, dropout=0.1)  # dropout: the random state must be restored too
    straight = run_cpu(cfg, out=tmp_path / "straight", progress=False)
    run_cpu(tiny("copy", "tcn", epochs=2, dropout=0.1), out=tmp_path / "split", progress=False)
    resumed = run_cpu(cfg, out=tmp_path / "split", resume=True, progress=False)
    a, b = (load_file(tmp_path / name / "checkpoint.safetensors") for name in ("straight", "split"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    strip = lambda h: [{k: v for k, v in row.items() if k != "seconds"} for row in h]  # noqa: E731
    assert strip(straight["history"]) == strip(resumed["history"]) and straight["test"] == resumed["test"]


def test_a_run_is_never_overwritten_and_resume_needs_the_same_settings(tmp_path):
    run_cpu(tiny("adding", "rnn"), out=tmp_path, progress=False)
    before = (tmp_path / "checkpoint.safetensors").read_bytes()
    with pytest.raises(FileExistsError, match="already holds a run"):
        run_cpu(tiny("adding", "rnn"), out=tmp_path, progress=False)
    with pytest.raises(ValueError, match=r"other settings: lr 0.003 -> 0.01"):
        run_cpu(tiny("adding", "rnn", lr=0.01), out=tmp_path, resume=True, progress=False)
    assert (tmp_path / "checkpoint.safetensors").read_bytes() == before
    with pytest.raises(FileNotFoundError, match="has no checkpoint"):
        run_cpu(tiny("adding", "rnn"), out=tmp_path / "empty", resume=True, progress=False)


def test_ctrl_c_keeps_the_last_finished_epoch(tmp_path, monkeypatch):
    calls = {"n": 0}
    original = bench._evaluate

    def interrupt_in_epoch_2(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    monkeypatch.setattr(bench, "_evaluate", interrupt_in_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        run_cpu(tiny("adding", "lstm", epochs=3), out=tmp_path, progress=False)
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["status"] == "interrupted" and results["epochs_run"] == 1
    monkeypatch.setattr(bench, "_evaluate", original)
    resumed = run_cpu(tiny("adding", "lstm", epochs=3), out=tmp_path, resume=True, progress=False)
    assert resumed["status"] == "finished" and [r["epoch"] for r in resumed["history"]] == [1, 2, 3]


def test_a_diverging_run_stops_and_says_so():
    results = run_cpu(tiny("adding", "rnn", lr=1e6, optimizer="sgd", epochs=5), progress=False)
    assert results["status"] == "diverged" and results["epochs_run"] < 5


# --------------------------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------------------------

ARGS = ["bench", "--task", "adding", "--model", "tcn", "--length", "12", "--samples", "64", "--epochs", "2",
        "--batch-size", "16", "--lr", "0.003", "--params", "600", "--device", "cpu"]  # fmt: skip


def test_help_is_complete(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["bench", "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for option in ("--task", "--model", "--length", "--hidden", "--params", "--levels", "--device", "--epochs",
                   "--samples", "--batch-size", "--lr", "--clip", "--seed", "--out", "--resume", "--data", "torchrun"):  # fmt: skip
        assert option in text, option
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0 and "bench" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        ([], "the following arguments are required: COMMAND"),
        (["bench", "--model", "tcn"], "the following arguments are required: --task"),
        (["bench", "--task", "mnist", "--model", "tcn"], "invalid choice: 'mnist'"),
        (ARGS + ["--epochs", "0"], "expected an integer >= 1, got 0"),
        (ARGS + ["--lr", "nan"], "expected a finite number > 0"),
        (ARGS + ["--epochs", "two"], "expected an integer, got 'two'"),
        (ARGS + ["--hidden", "8"], "not allowed with argument --params"),
        (ARGS + ["--resume"], "--resume needs --out"),
        (["bench", "--task", "pixel", "--model", "rnn", "--length", "9"], "images have 64 pixels"),
        (ARGS + ["--batch-size", "1000"], "larger than the training set"),
        (ARGS + ["--dropout", "1"], r"expected a number in \[0, 1\)"),
    ],
)
def test_bad_arguments_exit_2_with_a_usage_message(capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "usage: seqnets" in err
    assert re.search(message, err), err


def test_the_command_line_runs_what_bench_run_runs(tmp_path, capsys):
    assert main(ARGS + ["--out", str(tmp_path / "cli")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("epoch 1/2  train_loss") and lines[-1].startswith("finished: tcn on adding")
    from_cli = json.loads((tmp_path / "cli" / "results.json").read_text())
    direct = run_cpu(tiny("adding", "tcn"), progress=False)
    assert from_cli["test"] == direct["test"] and from_cli["argv"]
    with pytest.raises(SystemExit) as exit_:  # the same --out again: refused, nothing overwritten
        main(ARGS + ["--out", str(tmp_path / "cli")])
    assert exit_.value.code == 2 and "already holds a run" in capsys.readouterr().err


def _run_module(args, tmp_path, launcher):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(launcher + ["-m", "seqnets", *args], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_torchrun_with_two_processes_equals_one_process(tmp_path):
    _run_module(ARGS + ["--quiet", "--out", str(tmp_path / "one")], tmp_path, [sys.executable])
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    _run_module(ARGS + ["--out", str(tmp_path / "two")], tmp_path, torchrun)
    one, two = (json.loads((tmp_path / d / "results.json").read_text()) for d in ("one", "two"))
    assert (one["world_size"], two["world_size"], two["backend"]) == (1, 2, "gloo")
    for a, b in zip(one["history"], two["history"], strict=True):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
        assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-5)
    wa, wb = (load_file(tmp_path / d / "checkpoint.safetensors") for d in ("one", "two"))
    assert all(torch.allclose(wa[k], wb[k], atol=1e-5) for k in wa), "same global batches, same weights"
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())


def test_the_console_script_is_installed():
    script = os.path.join(os.path.dirname(sys.executable), "seqnets")
    assert os.access(script, os.X_OK), "pip install puts a `seqnets` script beside python"
    result = subprocess.run([script, "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.startswith("seqnets ")


def test_run_seeds_do_not_share_the_order_of_their_epochs():
    """The sampler shuffles with seed + epoch; run seeds must be spread so s + 1 is not s shifted."""
    orders = {}
    for seed in (0, 1):
        task = bench.load_task("adding", 12, samples=64)
        order = []
        for epoch in (1, 2):
            sampler = torch.utils.data.DistributedSampler(
                torch.utils.data.TensorDataset(*task.train), num_replicas=1, rank=0, shuffle=True,
                seed=seed * bench._SEED_STRIDE, drop_last=True,
            )  # fmt: skip
            sampler.set_epoch(epoch)
            order.append(list(sampler))
        orders[seed] = order
    assert orders[0][1] != orders[1][0], "seed 0's second epoch must not be seed 1's first"


def test_resume_recovers_the_best_weights_if_the_run_died_between_two_writes(tmp_path):
    results = run_cpu(tiny("adding", "gru", epochs=2), out=tmp_path, progress=False)
    assert results["best_epoch"] == 2, "this tiny run improves in its last epoch"
    (tmp_path / "best.safetensors").unlink()  # as if killed after the checkpoint, before best
    resumed = run_cpu(tiny("adding", "gru", epochs=2), out=tmp_path, resume=True, progress=False)
    assert resumed["test"] == results["test"] and (tmp_path / "best.safetensors").is_file()
    # a stale best file (from an earlier epoch) is replaced the same way
    from seqnets import checkpoint

    _, model = bench.load_run(tmp_path)
    torch.nn.init.zeros_(next(model.parameters()))
    checkpoint.save(model, tmp_path / "best.safetensors", {"epoch": 1})
    again = run_cpu(tiny("adding", "gru", epochs=2), out=tmp_path, resume=True, progress=False)
    assert again["test"] == results["test"]
    assert checkpoint.load_metadata(tmp_path / "best.safetensors") == {"epoch": 2}


def test_sigterm_stops_the_command_line_like_ctrl_c(tmp_path):
    args = [sys.executable, "-m", "seqnets", "bench", "--task", "adding", "--model", "gru", "--length", "12",
            "--samples", "512", "--epochs", "500", "--params", "600", "--out", str(tmp_path)]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    child = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert child.stdout is not None
    for line in child.stdout:  # wait for the first finished epoch
        if line.startswith("epoch 1/500"):
            break
    child.send_signal(15)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130, err
    assert "interrupted: the checkpoint of the last finished epoch is kept" in err
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["status"] == "interrupted" and results["epochs_run"] >= 1


def test_weight_norm_is_a_tcn_option_that_trains_and_resumes(tmp_path):
    task = bench.load_task("adding", 12, samples=16)
    plain, normed = bench.build_model(task, "tcn", 5), bench.build_model(task, "tcn", 5, weight_norm=True)
    assert not any("parametrizations" in k for k in plain.state_dict())
    assert any(k.endswith("parametrizations.weight.original0") for k in normed.state_dict())
    with pytest.raises(ValueError, match="only the TCN uses them"):
        bench.build_model(task, "gru", 5, weight_norm=True)
    cfg = tiny("adding", "tcn", epochs=2, weight_norm=True)
    straight = run_cpu(cfg, out=tmp_path / "a", progress=False)
    run_cpu(tiny("adding", "tcn", epochs=1, weight_norm=True), out=tmp_path / "b", progress=False)
    resumed = run_cpu(cfg, out=tmp_path / "b", resume=True, progress=False)
    assert straight["test"] == resumed["test"] and straight["config"]["weight_norm"] is True
    assert main([*ARGS, "--weight-norm", "--quiet", "--out", str(tmp_path / "cli")]) == 0
    assert json.loads((tmp_path / "cli" / "results.json").read_text())["config"]["weight_norm"] is True


def test_more_processes_than_gpus_is_refused_with_a_clear_message(monkeypatch):
    """torchrun --nproc-per-node 2 on a machine with one GPU: say so, instead of CUDA's ordinal error."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match=r"process 1 of this machine wants its own GPU, but CUDA sees 1"):
        bench._join_world("cuda")
