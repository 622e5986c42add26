"""Command line: ``python -m soptim demo`` runs a short tour of every solver."""

from __future__ import annotations

import argparse
import sys
import warnings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m soptim",
                                     description="soptim command line")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="solve a problem of each kind and print a table")
    demo.add_argument("--only", nargs="*", default=None,
                      help="run only these parts (gns, sketched_alm, ot, bilevel, approx)")
    args = parser.parse_args(argv)

    if args.command == "demo":
        import numpy as np

        import soptim
        from soptim._demos import format_table, run

        print(f"soptim {soptim.__version__} (numpy {np.__version__}) -- a tour: each row "
              "solves a problem with a known answer\n")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=DeprecationWarning)
            rows = run(args.only)
        print(format_table(rows))
        bad = [r.problem for r in rows if not r.ok]
        if bad:
            print(f"\n{len(bad)} problem(s) missed the known answer: {', '.join(bad)}")
            return 1
        print(f"\nall {len(rows)} problems reached their known answers")
        return 0
    return 2  # pragma: no cover


if __name__ == "__main__":
    sys.exit(main())
