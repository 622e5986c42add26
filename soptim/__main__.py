"""Command line: ``soptim demo`` (or ``python -m soptim demo``) runs a short tour of every solver.

``soptim --version`` prints the version; ``soptim demo --only PART ...`` runs
some parts of the tour (``soptim demo --list`` names them); the exit status is
0 when every row reached its known answer, 1 when one missed it and 2 for a
usage error.
"""

from __future__ import annotations

import argparse
import os
import sys


def _prog() -> str:
    # `python -m soptim` runs this file as __main__.py; the console script is `soptim`
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "soptim"
    return "python -m soptim" if name in ("__main__.py", "-m", "-c", "") else name


def _parser() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    import soptim
    from soptim._demos import SOURCE, display_name, part_names

    parts = ", ".join(display_name(p) for p in part_names())
    parser = argparse.ArgumentParser(prog=_prog(), description="soptim command line")
    parser.add_argument("--version", action="version", version=f"soptim {soptim.__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    demo = sub.add_parser(
        "demo", help="solve a problem of each kind and check it against its known answer",
        description="A tour of the solvers: each row solves one problem with a known answer "
                    "and prints as soon as it finishes. Exit status 1 if a row misses its "
                    "answer.",
        epilog=f"The tour's source: {SOURCE} (one module per part).")
    demo.add_argument("--only", nargs="+", metavar="PART", default=None,
                      help=f"run only these parts ({parts}; '-' or '_' alike; commas also "
                           "separate)")
    demo.add_argument("--list", action="store_true", help="list the parts and exit")
    return parser, demo


def _list_parts() -> None:
    import importlib

    from soptim._demos import SOURCE, display_name, part_names

    for part in part_names():
        mod = importlib.import_module(f"soptim._demos.{part}")
        print(f"{display_name(part):14s}{getattr(mod, 'TITLE', '')}")
    print(f"source: {SOURCE}")


def main(argv: list[str] | None = None) -> int:
    """Run the command line with ``argv`` (default ``sys.argv[1:]``); return the exit status."""
    parser, demo = _parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        from soptim._demos import resolve_parts, run_demo

        if args.list:
            _list_parts()
            return 0
        only = None
        if args.only is not None:
            only = [name for arg in args.only for name in arg.split(",") if name.strip()]
        try:
            parts = resolve_parts(only)
        except ValueError as exc:
            demo.error(f"argument --only: {exc}")  # usage and exit status 2, like argparse
        try:
            return run_demo(parts)
        except KeyboardInterrupt:
            print("\ninterrupted", file=sys.stderr)
            return 130
        except BrokenPipeError:  # `soptim demo | head`: the reader left; no traceback
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())  # Python's recipe: the exit flush is silent
            return 1
    parser.error(f"unknown command {args.command!r}")  # pragma: no cover (argparse checks)
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
