"""The tour behind ``python -m soptim demo``.

Each module in this package solves problems of one kind and exposes
``rows() -> list[DemoRow]``; the runner times nothing itself, it prints the
rows as a table and fails if any row misses its known answer.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass

__all__ = ["DemoRow", "run", "format_table", "ORDER"]

#: Order of the tour; modules not listed come after, alphabetically.
ORDER = ("gns", "sketched_alm", "ot", "bilevel", "approx")


@dataclass
class DemoRow:
    """One solved problem: what, how, how long, and how close to the known answer."""

    problem: str
    method: str
    iterations: int
    seconds: float
    error: float  # distance to the known answer (measure named in `measure`)
    tolerance: float  # the row passes when error <= tolerance
    measure: str = "rel. error"

    @property
    def ok(self) -> bool:
        return bool(self.error <= self.tolerance)


def _modules() -> list[str]:
    found = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    return [m for m in ORDER if m in found] + sorted(m for m in found if m not in ORDER)


def run(only: list[str] | None = None) -> list[DemoRow]:
    """Run the tour (optionally only the named modules) and return its rows."""
    rows: list[DemoRow] = []
    for name in _modules():
        if only and name not in only:
            continue
        mod = importlib.import_module(f"{__name__}.{name}")
        rows.extend(mod.rows())
    return rows


def format_table(rows: list[DemoRow]) -> str:
    """Render rows as a plain-text table."""
    head = ("problem", "method", "iters", "time [s]", "error", "measure", "ok")
    body = [(r.problem, r.method, str(r.iterations), f"{r.seconds:.3f}", f"{r.error:.2e}",
             r.measure, "yes" if r.ok else "NO") for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h)
              for i, h in enumerate(head)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(head, widths)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(b, widths)) for b in body]
    return "\n".join(out)
