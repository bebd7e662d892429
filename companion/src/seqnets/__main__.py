"""``python -m seqnets``: the command line (see :mod:`seqnets.cli`)."""

from seqnets.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
