"""The command line: ``python -m seqnets`` (or the ``seqnets`` script installed with the package).

``seqnets bench`` trains one model on one of the long-range memory tasks (:mod:`seqnets.bench`)
at any scale, on a CPU or a GPU, in one process or, launched by ``torchrun``, in many::

    python -m seqnets bench --task adding --model tcn --length 600 --device cuda --out runs/adding-tcn
    torchrun --nproc-per-node 4 -m seqnets bench --task copy --model lstm --length 1000 --out runs/copy-lstm
    python -m seqnets bench --task copy --model lstm --length 1000 --epochs 80 --out runs/copy-lstm --resume

Bad arguments print the usage and exit with status 2; a run stopped with Ctrl-C or SIGTERM (a
job's time limit) keeps the checkpoint of its last finished epoch (exit status 130) and continues
with ``--resume``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any

from seqnets import __version__

__all__ = ["main", "make_parser"]

_EPILOG = """\
defaults: the paper's length T and parameter budget (adding T=600 and copy T=1000 with
about 70,000 and 16,000 parameters, digits with about 70,000), and the epochs, batch size,
learning rate, optimiser and TCN kernel size of the authors' code for each task.

files in --out: results.json (settings, per-epoch metrics, test metric, versions),
checkpoint.safetensors (weights and optimiser state after the last epoch, for --resume),
best.safetensors (weights of the epoch with the lowest validation loss).

distributed: under torchrun, every process trains on its share of each global batch
(--batch-size is the global batch) with DistributedDataParallel; gloo on CPUs, NCCL on GPUs.
Without dropout the result does not depend on the number of processes (up to rounding); with
it, it does (each process draws its own masks). --resume across machines needs --out on a
shared file system.

examples:
  python -m seqnets bench --task adding --model tcn --length 200 --samples 5000 --epochs 3 --out runs/a
  torchrun --nproc-per-node 2 -m seqnets bench --task adding --model tcn --length 200 --out runs/b
  python -m seqnets bench --task pixel --model lstm --data ~/mnist --device cuda --out runs/mnist-lstm
"""


def _argument(convert: Callable[[str], Any], ok: Callable[[Any], bool], expected: str) -> Callable[[str], Any]:
    """An argparse ``type``: ``convert`` the text, then check it, with a message naming what was expected."""
    kind = "an integer" if convert is int else "a number"

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {kind}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text}")
        return value

    return parse


_positive_int = _argument(int, lambda v: v >= 1, "an integer >= 1")
_natural = _argument(int, lambda v: v >= 0, "an integer >= 0")
_positive_float = _argument(float, lambda v: 0 < v < float("inf"), "a finite number > 0")  # NaN fails too
_probability = _argument(float, lambda v: 0 <= v < 1, "a number in [0, 1)")


def make_parser() -> argparse.ArgumentParser:
    """The parser of ``python -m seqnets`` and its subcommands."""
    from seqnets.bench import MODELS, TASKS

    parser = argparse.ArgumentParser(
        prog="seqnets",
        description="Companion command line of the course 'Autoregressive, Convolutional and Recurrent Networks'.",
    )
    parser.add_argument("--version", action="version", version=f"seqnets {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    bench = commands.add_parser(
        "bench",
        help="train one model on a long-range memory task (Bai et al. 2018)",
        description="Train one model on one long-range memory task of Bai et al. (2018); "
        "write results.json and checkpoints to --out.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    what = bench.add_argument_group("task and model")
    what.add_argument(
        "--task",
        required=True,
        choices=TASKS,
        help="adding problem, copy memory, or digits read pixel by pixel (in order or permuted)",
    )
    what.add_argument("--model", required=True, choices=MODELS, help="Elman RNN, GRU, LSTM or TCN")
    what.add_argument("--length", type=_positive_int, help="T of the adding and copy tasks (default: 600 and 1000)")
    what.add_argument(
        "--data",
        metavar="DIR",
        help="folder with MNIST's four IDX files (pixel, permuted); default: scikit-learn's 8x8 digits",
    )
    size = what.add_mutually_exclusive_group()
    size.add_argument(
        "--hidden", type=_positive_int, metavar="H", help="hidden units (RNNs) or channels per level (TCN)"
    )
    size.add_argument(
        "--params",
        type=_positive_int,
        metavar="N",
        help="choose the width that gives about N parameters (default: the paper's size)",
    )
    what.add_argument("--layers", type=_positive_int, default=1, help="stacked recurrent layers (default: 1)")
    what.add_argument(
        "--levels",
        type=_positive_int,
        help="TCN levels (default: the fewest whose receptive field covers the sequence)",
    )
    what.add_argument(
        "--kernel-size", type=_positive_int, help="TCN kernel size (default: 7 for adding and digits, 8 for copy)"
    )
    what.add_argument(
        "--weight-norm", action="store_true", help="TCN: weight normalisation on every convolution, as the authors' TCN"
    )
    what.add_argument("--dropout", type=_probability, default=0.0, help="dropout probability (default: 0)")
    how = bench.add_argument_group("training")
    how.add_argument("--epochs", type=_positive_int, help="epochs to train (with --resume: the new total)")
    how.add_argument(
        "--samples",
        type=_positive_int,
        metavar="N",
        help="training-set size (default: 50,000 adding, 10,000 copy, all digits)",
    )
    how.add_argument("--batch-size", type=_positive_int, help="global batch size, shared among the processes")
    how.add_argument("--lr", type=_positive_float, help="learning rate")
    how.add_argument(
        "--optimizer", choices=("adam", "rmsprop", "sgd"), help="optimiser (default: the authors' for the task)"
    )
    how.add_argument(
        "--clip",
        type=_positive_float,
        metavar="NORM",
        help="clip the gradients' global norm to NORM (default: no clipping)",
    )
    how.add_argument(
        "--seed", type=_natural, default=0, help="seed of the weights, batch order and dropout (default: 0)"
    )
    run = bench.add_argument_group("run")
    run.add_argument("--device", help="cpu, cuda, cuda:1, mps (default: cuda if available, else mps, else cpu)")
    run.add_argument(
        "--out", metavar="DIR", help="folder for results.json and the checkpoints (default: nothing is written)"
    )
    run.add_argument("--resume", action="store_true", help="continue the run in --out from its last finished epoch")
    run.add_argument("--quiet", action="store_true", help="no progress bar, no per-epoch lines")
    bench.set_defaults(handler=_bench, subparser=bench)  # errors print this usage
    return parser


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _bench(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from seqnets import bench

    if args.resume and args.out is None:
        parser.error("--resume needs --out, the folder of the run to continue")
    config = bench.Config(
        task=args.task, model=args.model, length=args.length, hidden=args.hidden, params=args.params,
        layers=args.layers, levels=args.levels, kernel_size=args.kernel_size, weight_norm=args.weight_norm,
        dropout=args.dropout,
        epochs=args.epochs, samples=args.samples, batch_size=args.batch_size, lr=args.lr,
        optimizer=args.optimizer, clip=args.clip, seed=args.seed, data=args.data,
    )  # fmt: skip
    rank0 = os.environ.get("RANK", "0") == "0"
    signal.signal(signal.SIGTERM, _interrupt)  # a scheduler's time limit ends the run as Ctrl-C does
    try:
        results = bench.run(
            config, out=args.out, resume=args.resume, device=args.device,
            progress=not args.quiet and sys.stderr.isatty(), log=not args.quiet,
        )  # fmt: skip
    except (ValueError, TypeError, FileNotFoundError, FileExistsError) as err:
        parser.error(str(err))  # exits with status 2
    except KeyboardInterrupt:
        if rank0:
            print(
                "interrupted: the checkpoint of the last finished epoch is kept; continue with --resume",
                file=sys.stderr,
            )
        return 130
    if rank0 and not args.quiet:
        test = results["test"] or {}
        scores = "  ".join(f"test_{k} {v:.5g}" for k, v in test.items())
        print(
            f"{results['status']}: {results['model']} on {results['task']} (T={results['length']}, "
            f"{results['parameters']} parameters, {results['world_size']} process(es)), best epoch "
            f"{results['best_epoch']}: {scores}  [baseline loss {results['baseline']:.4g}]"
        )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = make_parser()
    args = parser.parse_args(argv)
    return int(args.handler(args, args.subparser))
