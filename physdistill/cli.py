"""The ``physdistill`` command.

Each domain adds its subcommands through a ``register(subparsers)`` function in its own
``cli`` module; the parsers are built without importing torch, so ``--help`` is instant, and each
subcommand imports what it needs when it runs. A :class:`PhysDistillError` is printed as one
line (``error: ...``) with exit status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from physdistill import __version__
from physdistill.errors import PhysDistillError

# modules with a ``register(subparsers)`` function, in the order their commands are listed
_COMMAND_MODULES = ("physdistill.nbody.cli", "physdistill.nbody.pipeline_cli",
                    "physdistill.report", "physdistill.heat.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="physdistill",
        description="Train GNNs and PINNs, distil them into equations, compare with known laws.",
    )
    parser.add_argument("--version", action="version", version=f"physdistill {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except PhysDistillError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
