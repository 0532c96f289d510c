"""The ``physdistill`` command.

Each domain adds its subcommands through a ``register(subparsers)`` function in its own
``cli`` module; the parsers are built without importing torch, so ``--help`` is instant, and each
subcommand imports what it needs when it runs. Every failure is printed as one line
(``error: ...``) with exit status 2: a :class:`PhysDistillError` as it is, anything else (a full
disk, a corrupt file that got past the checks, a bug) through :func:`describe_failure`.
``--debug`` (anywhere on the line) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import sys
from collections.abc import Sequence

from physdistill import __version__
from physdistill.errors import PhysDistillError

# modules with a ``register(subparsers)`` function, in the order their commands are listed
_COMMAND_MODULES = ("physdistill.nbody.cli", "physdistill.nbody.pipeline_cli",
                    "physdistill.report", "physdistill.heat.cli", "physdistill.pde.cli",
                    "physdistill.transformer.cli")


#: options whose value may start with a minus sign: formulas (``--potential "-m1*m2/r**2"``,
#: ``--ic``, ``--pde``) and pairs (``--domain -1,1``, ``--bc``, ``--bc-values``). argparse reads
#: such a value as an option ("expected one argument"), so :func:`join_dash_values` writes it as
#: ``--option=value`` before every parse
DASH_VALUE_OPTIONS = ("--potential", "--ic", "--pde", "--domain", "--bc", "--bc-values")


class _Parser(argparse.ArgumentParser):
    """An :class:`argparse.ArgumentParser` that joins :data:`DASH_VALUE_OPTIONS` to their values
    before parsing. Its subcommands' parsers are of this class too (argparse builds them with
    the parent's class), so every command accepts such values, whichever parser is called."""

    def parse_known_args(self, args: Sequence[str] | None = None,
                         namespace: argparse.Namespace | None = None
                         ) -> tuple[argparse.Namespace, list[str]]:
        argv = sys.argv[1:] if args is None else args
        return super().parse_known_args(join_dash_values(argv), namespace)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="physdistill",
        description="Train GNNs and PINNs, distil them into equations, compare with known laws.",
    )
    parser.add_argument("--version", action="version", version=f"physdistill {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of a failure (anywhere on the line)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def join_dash_values(argv: Sequence[str]) -> list[str]:
    """``[..., "--potential", "-m1/r", ...]`` -> ``[..., "--potential=-m1/r", ...]`` for every
    option of :data:`DASH_VALUE_OPTIONS` whose value starts with one ``-`` (tokens after ``--``
    are left alone; joining twice changes nothing)."""
    out: list[str] = []
    it = iter(argv)
    for tok in it:
        if tok == "--":
            out.append(tok)
            out.extend(it)
            break
        if tok in DASH_VALUE_OPTIONS:
            value = next(it, None)
            if value is None:
                out.append(tok)
            elif value.startswith("-") and not value.startswith("--"):
                out.append(f"{tok}={value}")
            else:
                out.extend((tok, value))
            continue
        out.append(tok)
    return out


def describe_failure(exc: BaseException) -> str:
    """The one ``error:`` line for a failure that is not a :class:`PhysDistillError`."""
    errno_ = getattr(exc, "errno", None)
    text = str(exc)
    if isinstance(exc, OSError) and errno_ == errno.ENOSPC or "os error 28" in text \
            or "No space left" in text:
        where = getattr(exc, "filename", None)
        return (f"no space left on the device{f' writing {where}' if where else ''}; nothing "
                "was half-written: free some space or choose another --out, then rerun")
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
        return (f"{exc.strerror or text}{where} ({type(exc).__name__}); check the path and its "
                "permissions")
    if isinstance(exc, RecursionError):
        return ("an input is nested too deeply to read (RecursionError); the file is corrupt or "
                "not one of ours")
    if isinstance(exc, MemoryError):
        return "out of memory; use smaller settings (fewer systems, a smaller batch)"
    return (f"unexpected {type(exc).__name__}: {text[:300]} (rerun with --debug for the "
            "traceback, and please report it)")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv[:argv.index("--")] if "--" in argv else "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 1
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except PhysDistillError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # every failure is one line unless --debug
        if debug:
            raise
        print(f"error: {describe_failure(exc)}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
