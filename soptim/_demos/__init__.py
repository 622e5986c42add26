"""The tour behind ``python -m soptim demo``.

Each public module of this package is one *part* of the tour. A part has

- ``TITLE``: one line saying what it shows,
- ``STEPS``: what its ``steps`` column counts (iterations, Sinkhorn + Newton
  steps, ...), printed in the part's header because the counts of different
  solvers are different things,
- ``rows()``: a generator that solves its problems one by one and yields a
  :class:`DemoRow` after each solve (and :class:`Untimed` after preparatory
  work that no row's time includes, such as compiling kernels).

The runner (:func:`run_demo`) prints every row as soon as its generator yields
it, so a slow part never hides the finished ones. It also

- says ONCE, when the first numba compile starts, that kernels are being
  compiled on first use: the backend's notices (one per kernel group, printed
  by :func:`soptim.backend.announce_compilation` just before a compile) are
  replaced by that one line, and numba's own compile events catch kernels no
  notice covers; times that include compiling are marked with ``*``;
- records the warnings a solve raises and prints them under its row instead of
  hiding them;
- exits with 1 when any row misses its known answer (or a part fails).

Every row is checked against a known answer (a closed form, a published
optimum or an independent solver); the table states the measure and the
tolerance of each check.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import pkgutil
import sys
import textwrap
import time
import traceback
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import IO, Any

__all__ = ["Check", "DemoRow", "Untimed", "ORDER", "WIDTH", "SOURCE", "BACKEND_NOTICE",
           "COMPILE_NOTICE", "part_names", "display_name", "resolve_parts", "iter_rows", "run",
           "run_demo", "format_row", "header_lines"]

#: Order of the tour; modules not listed come after, alphabetically.
ORDER = ("gns", "sketched_alm", "ot", "bilevel", "approx")
#: The widest line the tour prints (a test measures it).
WIDTH = 100
#: Where the tour's source lives (printed in its header).
SOURCE = os.path.dirname(os.path.abspath(__file__))

#: How :func:`soptim.backend.announce_compilation` starts its notice.
BACKEND_NOTICE = "soptim: compiling numba kernels"
#: The tour's one notice in its place.
COMPILE_NOTICE = ("soptim demo: numba is compiling kernels on their first use on this machine "
                  "(once: they are cached on disk for later runs). Times marked * include "
                  "compiling.")


@dataclass(frozen=True)
class Check:
    """One comparison with a known answer: ``error`` (named by ``measure``) <= ``tolerance``."""

    measure: str
    error: float
    tolerance: float

    @property
    def ok(self) -> bool:
        # NaN compares False: a NaN error never passes
        return bool(self.error <= self.tolerance)


@dataclass
class DemoRow:
    """One solve: what, how, how many steps, how long, and its checks against known answers.

    ``checks[0]`` fills the table's error columns; further checks of the same
    solve (not timed again) are printed in the note under the row. ``steps``
    is a string because parts count different things (the part's ``STEPS``
    says what); ``'-'`` where nothing iterates (a fit).
    """

    problem: str
    method: str
    seconds: float
    checks: tuple[Check, ...]
    steps: str = "-"
    note: str = ""
    #: set by the runner: numba compiled kernels while this row was produced
    compiled: bool = False
    #: set by the runner: the warnings this row's solve raised
    warned: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        self.checks = tuple(self.checks)
        if not self.checks:
            raise ValueError(f"demo row {self.problem!r} has no check: every row needs a "
                             "known answer")

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


@dataclass
class Untimed:
    """Preparatory work of a part that no row's time includes (e.g. a kernel warm-up)."""

    what: str
    seconds: float


# ----------------------------------------------------------------------------- parts


def part_names() -> list[str]:
    """The parts of the tour in their order (module names, with underscores)."""
    found = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    return [m for m in ORDER if m in found] + sorted(m for m in found if m not in ORDER)


def display_name(part: str) -> str:
    """A part's name as the command line shows it (``sketched-alm``, like the method)."""
    return part.replace("_", "-")


def resolve_parts(names: Iterable[str] | None) -> list[str]:
    """Module names of the requested parts in tour order (all parts for ``None``).

    Any spelling with ``-`` or ``_`` (and any case) names a part; an unknown
    name raises ``ValueError`` listing the parts.
    """
    parts = part_names()
    if names is None:
        return parts
    wanted = []
    for name in names:
        key = str(name).strip().lower().replace("-", "_")
        if key not in parts:
            raise ValueError(f"unknown part {name!r}; the parts are: "
                             + ", ".join(display_name(p) for p in parts))
        wanted.append(key)
    return [p for p in parts if p in wanted]


def _load(part: str) -> ModuleType:
    return importlib.import_module(f"{__name__}.{part}")


def _part_label(mod: ModuleType) -> str:
    return display_name(mod.__name__.rsplit(".", 1)[-1])


# ----------------------------------------------------------------------- compile notices


class _CompileWatch:
    """Knows when numba compiles during the tour and says so ONCE.

    Two sources tell it: numba's own ``"numba:compile"`` event (numba's event
    API; it fires only for real compiles, not for loads from the disk cache,
    and for every kernel, also those a solver does not announce), and the
    backend's notice lines (:func:`soptim.backend.announce_compilation`
    prints one per kernel group just before a compile). While installed as
    ``sys.stderr`` it replaces the backend's lines by :data:`COMPILE_NOTICE`,
    printed once at the first compile, and passes every other line through.
    ``fired`` counts the compiles and notices seen, so the runner can mark the
    rows whose time includes compiling.
    """

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream
        self._buffer = ""
        self.fired = 0

    def compiling(self) -> None:
        """Record a compile; the first one prints the tour's notice."""
        self.fired += 1
        if self.fired == 1:
            self._stream.write(textwrap.fill(COMPILE_NOTICE, WIDTH) + "\n")
            self._stream.flush()

    @contextlib.contextmanager
    def installed(self) -> Iterator[_CompileWatch]:
        """Listen to numba's compile events and stand in for ``sys.stderr``."""
        saved = sys.stderr
        with contextlib.ExitStack() as stack:
            try:
                from numba.core import event
            except ImportError:  # no numba: nothing compiles
                pass
            else:
                watch = self

                class _Listener(event.Listener):
                    def on_start(self, ev) -> None:
                        watch.compiling()

                    def on_end(self, ev) -> None:
                        pass

                stack.enter_context(event.install_listener("numba:compile", _Listener()))
            sys.stderr = self
            try:
                yield self
            finally:
                self.flush()
                sys.stderr = saved

    # the file interface of sys.stderr
    def write(self, text: str) -> int:
        self._buffer += text
        while "\n" in self._buffer:
            line, self._buffer = self._buffer.split("\n", 1)
            if line.startswith(BACKEND_NOTICE):
                self.compiling()
            else:
                self._stream.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        if self._buffer:
            self._stream.write(self._buffer)
            self._buffer = ""
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:  # isatty, encoding, fileno, ...
        return getattr(self._stream, name)


# ------------------------------------------------------------------------- the runner


def _next_item(gen: Iterator[Any]) -> tuple[Any, list[str]]:
    """The generator's next item and the warnings raised while computing it."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        item = next(gen)
    texts = []
    for w in caught:
        text = f"{w.category.__name__}: {w.message}"
        if text not in texts:
            texts.append(text)
    return item, texts


def iter_rows(parts: Sequence[str | ModuleType] | None = None,
              watch: _CompileWatch | None = None) -> Iterator[tuple[str, Any]]:
    """Run the parts one solve at a time; yield ``(kind, payload)`` events as they happen.

    Events: ``('part', module)`` before a part's first solve,
    ``('row', DemoRow)`` after each solve (``compiled`` and ``warned`` filled
    in), ``('untimed', (Untimed, compiled))`` after preparatory work, and
    ``('failed', (module, text))`` when a part raises (its traceback is
    printed to stderr; the tour goes on with the next part).
    """
    if parts is None:
        parts = resolve_parts(None)
    names = [p if isinstance(p, ModuleType) else resolve_parts([p])[0] for p in parts]
    for part in names:
        if isinstance(part, ModuleType):
            mod = part
        else:
            try:
                mod = _load(part)
            except Exception as exc:  # a part that cannot import must not stop the others
                traceback.print_exc()
                yield "failed", (ModuleType(f"{__name__}.{part}"),
                                 f"{type(exc).__name__}: {exc}")
                continue
        yield "part", mod
        gen = None
        while True:
            before = watch.fired if watch is not None else 0
            try:
                if gen is None:
                    gen = iter(mod.rows())
                item, warned = _next_item(gen)
            except StopIteration:
                break
            except Exception as exc:  # a broken part must not hide the others' rows
                traceback.print_exc()
                yield "failed", (mod, f"{type(exc).__name__}: {exc}")
                break
            compiled = watch is not None and watch.fired > before
            if isinstance(item, DemoRow):
                item.compiled = item.compiled or compiled
                item.warned = tuple(warned)
                yield "row", item
            elif isinstance(item, Untimed):
                yield "untimed", (item, compiled)
            else:
                raise TypeError(f"part {_part_label(mod)} yielded {type(item).__name__}; "
                                "parts yield DemoRow or Untimed")


def run(only: Iterable[str] | None = None) -> list[DemoRow]:
    """Run the tour (optionally only the named parts) and return its rows, printing nothing."""
    return [payload for kind, payload in iter_rows(resolve_parts(only)) if kind == "row"]


# ---------------------------------------------------------------------------- layout

#: (header, width, alignment) of the table's columns; the widths add up to <= WIDTH
_COLUMNS = (("problem", 26, "<"), ("method", 21, "<"), ("steps", 6, ">"),
            ("seconds", 7, ">"), ("error", 7, ">"), ("tol", 6, ">"), ("measure", 10, "<"),
            ("ok", 2, "<"))
_GAP = "  "


def _sci(v: float) -> str:
    """Seven characters at most: 1.2e-05, 0.0e+00, inf, nan, >1e+99."""
    v = float(v)
    if math.isnan(v) or math.isinf(v):
        return str(v)
    if abs(v) >= 1e99:
        return ">1e+99"
    return f"{v:.1e}"


def _tol(v: float) -> str:
    """A tolerance in six characters at most: 1e-8, 2e-3, 1.1e-2 (always in powers of ten)."""
    v = float(v)
    if not math.isfinite(v) or v == 0:
        return str(v)
    mant, exp = f"{v:.1e}".split("e")
    return f"{mant.removesuffix('.0')}e{int(exp)}"


def _seconds(v: float, compiled: bool) -> str:
    text = f"{v:.3f}" if v < 100 else f"{v:.0f}"
    return text + ("*" if compiled else "")


def _join(cells: Sequence[str]) -> str:
    out = []
    for text, (_, width, align) in zip(cells, _COLUMNS):
        out.append(text.ljust(width) if align == "<" else text.rjust(width))
    return _GAP.join(out).rstrip()


def header_lines() -> list[str]:
    """The table's column headers and rule."""
    head = _join([h for h, _, _ in _COLUMNS])
    return [head, "-" * len(head)]


def _wrap(text: str, indent: str = "    ") -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=indent, subsequent_indent=indent,
                         break_on_hyphens=False)


def format_row(row: DemoRow) -> list[str]:
    """A row as one table line, then its note lines (further checks, warnings, long cells).

    Every line fits in :data:`WIDTH` columns: a cell longer than its column
    is cut (ending in ``~``) and given in full in the note.
    """
    first = row.checks[0]
    cells = [row.problem, row.method, row.steps, _seconds(row.seconds, row.compiled),
             _sci(first.error), _tol(first.tolerance), first.measure,
             "ok" if row.ok else "NO"]
    notes = []
    for i, (text, (name, width, _)) in enumerate(zip(cells, _COLUMNS)):
        if len(text) > width:
            notes.append(f"{name}: {text}")
            cells[i] = text[: width - 1] + "~"
    for c in row.checks[1:]:
        notes.append(f"{c.measure} {_sci(c.error)} (tol {_tol(c.tolerance)}, "
                     f"{'ok' if c.ok else 'NO'})")
    if row.note:
        notes.append(row.note)
    notes += [f"warning: {w}" for w in row.warned]
    lines = [_join(cells)]
    if notes:
        lines += _wrap("; ".join(notes))
    return lines


def _part_header(mod: ModuleType) -> list[str]:
    label = _part_label(mod)
    file = os.path.basename(getattr(mod, "__file__", None) or f"{label}.py")
    title = getattr(mod, "TITLE", "")
    steps = getattr(mod, "STEPS", "")
    lines = _wrap(f"[{label}] {title}", indent="")
    lines += _wrap(f"{file}; steps = {steps}" if steps else file, indent="    ")
    return lines


def _intro() -> list[str]:
    import numpy
    import scipy

    import soptim
    from soptim import backend

    numba = ", no numba"
    if backend.HAS_NUMBA:
        numba = f", numba {sys.modules['numba'].__version__}"
        if not backend.NUMPY.use_numba:
            numba += " off (SOPTIM_DISABLE_NUMBA)"
    text = (f"soptim {soptim.__version__} (numpy {numpy.__version__}, scipy "
            f"{scipy.__version__}{numba}): a tour of the solvers. Each row is one solve of a "
            "problem with a known answer; ok means error <= tol. Seconds are of the solve "
            "alone (references and set-up untimed).")
    return _wrap(text, indent="") + _wrap(f"Source of this tour: {SOURCE}", indent="")


def run_demo(parts: Sequence[str | ModuleType] | None = None, out: IO[str] | None = None,
             err: IO[str] | None = None) -> int:
    """Run the tour, printing each row as it finishes; return the exit status.

    0 when every row reached its known answer, 1 when a row missed it or a
    part failed. ``out`` and ``err`` default to ``sys.stdout`` and
    ``sys.stderr``; compile notices are collapsed on ``err`` (see
    :class:`_CompileWatch`).
    """
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err

    def emit(lines: Iterable[str]) -> None:
        for line in lines:
            out.write(line + "\n")
        out.flush()  # rows appear as they finish, also when out is a pipe

    emit(_intro() + [""] + header_lines())
    watch = _CompileWatch(err)
    rows: list[DemoRow] = []
    failed: list[str] = []
    t0 = time.perf_counter()
    with watch.installed():
        for kind, payload in iter_rows(parts, watch):
            if kind == "part":
                emit(_part_header(payload))
            elif kind == "row":
                rows.append(payload)
                emit(format_row(payload))
            elif kind == "untimed":
                item, compiled = payload
                if compiled:  # only worth a line when it took long: a compile
                    emit(_wrap(f"({item.what}: {item.seconds:.1f} s including compiling, "
                               "in no row's time)"))
            else:
                mod, text = payload
                failed.append(_part_label(mod))
                emit(_wrap(f"part {_part_label(mod)} FAILED: {text} (traceback on stderr)",
                           indent=""))
    total = time.perf_counter() - t0

    bad = [r.problem for r in rows if not r.ok]
    if not rows and not failed:  # an empty tour proves nothing: not a success
        emit(["", "no solve ran."])
        return 1
    summary = []
    if any(r.compiled for r in rows):
        summary.append("* the time includes numba compiling kernels (their first use on this "
                       "machine); a second run shows the solve alone.")
    if bad or failed:
        what = [f"{len(bad)} of {len(rows)} solves missed their known answers"
                + (": " + ", ".join(bad) if bad else "")]
        if failed:
            what.append("part(s) failed: " + ", ".join(failed))
        summary.append("; ".join(what) + f" ({total:.1f} s in all).")
        emit([""] + [line for s in summary for line in _wrap(s, indent="")])
        return 1
    summary.append(f"all {len(rows)} solves reached their known answers ({total:.1f} s in all).")
    emit([""] + [line for s in summary for line in _wrap(s, indent="")])
    return 0
