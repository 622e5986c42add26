"""The command line (``soptim`` / ``python -m soptim``) and the demo's runner.

The runner is tested on small fake parts (a module object with ``TITLE``,
``STEPS`` and a ``rows()`` generator), so streaming, exit codes, warnings and
the compile notice are checked in milliseconds; one real part (gns, ~0.5 s)
goes through the whole command line.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest

import soptim
from soptim import _demos, backend
from soptim.__main__ import main
from soptim._demos import (
    COMPILE_NOTICE,
    WIDTH,
    Check,
    DemoRow,
    Untimed,
    format_row,
    header_lines,
    iter_rows,
    part_names,
    resolve_parts,
    run_demo,
)

ROOT = Path(__file__).resolve().parents[1]


class Recorder(io.StringIO):
    """A text stream that remembers what had been flushed (what a terminal would show)."""

    def __init__(self) -> None:
        super().__init__()
        self.flushed = ""

    def flush(self) -> None:
        super().flush()
        self.flushed = self.getvalue()


def fake_part(name: str, rows, title: str = "a fake part", steps: str = "iterations"):
    mod = types.ModuleType(f"soptim._demos.{name}")
    mod.TITLE, mod.STEPS = title, steps
    mod.rows = rows
    return mod


def row(problem: str = "p", error: float = 0.0, tol: float = 1.0, **kw) -> DemoRow:
    return DemoRow(problem, "m", 0.01, (Check("abs. error", error, tol),), steps="1", **kw)


def widest(text: str) -> int:
    return max(len(line) for line in text.splitlines())


# ------------------------------------------------------------------------- --version


def test_version_in_process(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"soptim {soptim.__version__}"


def test_version_python_m():
    env = dict(os.environ, PYTHONPATH=str(ROOT))  # this checkout, not an installed copy
    out = subprocess.run([sys.executable, "-m", "soptim", "--version"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"soptim {soptim.__version__}"


def test_console_script_is_main(capsys):
    # the `soptim` console script is the entry point pyproject.toml declares
    tomllib = pytest.importorskip("tomllib")
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, func = scripts["soptim"].split(":")
    entry = getattr(__import__(module, fromlist=[func]), func)
    assert entry is main
    with pytest.raises(SystemExit) as exc:
        entry(["--version"])
    assert exc.value.code == 0
    assert soptim.__version__ in capsys.readouterr().out


# --------------------------------------------------------------------------- --only


def test_unknown_part_is_a_usage_error_listing_the_parts(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--only", "bogus"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "bogus" in err and "usage:" in err
    for part in part_names():
        assert part.replace("_", "-") in err


def test_only_needs_a_part(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["demo", "--only"])
    assert exc.value.code == 2


@pytest.mark.parametrize("part", part_names())
def test_every_spelling_of_every_part(part):
    for spelling in (part, part.replace("_", "-"), part.upper(), part.replace("_", "-").title()):
        assert resolve_parts([spelling]) == [part]


def test_sketched_alm_spellings_and_commas(monkeypatch):
    seen = []
    monkeypatch.setattr(_demos, "run_demo", lambda parts: seen.append(parts) or 0)
    assert main(["demo", "--only", "sketched-alm"]) == 0
    assert main(["demo", "--only", "sketched_alm"]) == 0
    # parts come in tour order whatever the order asked, and commas separate too
    assert main(["demo", "--only", "approx,gns", "sketched-alm"]) == 0
    assert seen == [["sketched_alm"], ["sketched_alm"], ["gns", "sketched_alm", "approx"]]


def test_list_names_every_part(capsys):
    assert main(["demo", "--list"]) == 0
    out = capsys.readouterr().out
    for part in part_names():
        assert part.replace("_", "-") in out
    assert _demos.SOURCE in out


# ------------------------------------------------------------------------- streaming


def test_rows_stream_before_the_run_ends():
    out = Recorder()
    shown = []  # what the terminal showed when the next solve started

    def rows():
        yield row("first solve")
        shown.append(out.flushed)
        yield row("second solve")
        shown.append(out.flushed)

    assert run_demo([fake_part("stream", rows)], out=out, err=io.StringIO()) == 0
    assert "first solve" in shown[0] and "second solve" not in shown[0]
    assert "second solve" in shown[1]
    assert "[stream] a fake part" in shown[0]  # the part's header came first


def test_iter_rows_is_lazy():
    log = []

    def rows():
        log.append("solve 1")
        yield row("a")
        log.append("solve 2")
        yield row("b")

    events = iter_rows([fake_part("lazy", rows)])
    assert next(events)[0] == "part" and log == []
    kind, r = next(events)
    assert (kind, r.problem, log) == ("row", "a", ["solve 1"])


# ------------------------------------------------------------------------ exit codes


def test_exit_codes():
    ok = fake_part("good", lambda: iter([row("fine")]))
    miss = fake_part("bad", lambda: iter([row("missed", error=2.0, tol=1.0)]))
    nan = fake_part("nan", lambda: iter([row("nan", error=float("nan"))]))

    def broken():
        yield row("before the crash")
        raise RuntimeError("part blew up")

    crash = fake_part("crash", broken)
    quiet = io.StringIO()
    assert run_demo([ok], out=io.StringIO(), err=quiet) == 0
    out = io.StringIO()
    assert run_demo([ok, miss], out=out, err=quiet) == 1
    assert "1 of 2 solves missed their known answers: missed" in out.getvalue()
    assert run_demo([nan], out=io.StringIO(), err=quiet) == 1  # NaN never passes
    out, err = io.StringIO(), io.StringIO()
    assert run_demo([crash, ok], out=out, err=err) == 1
    text = out.getvalue()
    # the rows before the crash and the next part still show; the traceback goes to stderr
    assert "before the crash" in text and "fine" in text and "crash FAILED" in text
    assert "RuntimeError: part blew up" in err.getvalue()
    out = io.StringIO()
    assert run_demo([], out=out, err=quiet) == 1  # an empty tour proves nothing
    assert "no solve ran" in out.getvalue()


def test_main_returns_the_demo_status(monkeypatch, capsys):
    monkeypatch.setattr(_demos, "run_demo", lambda parts: 1)
    assert main(["demo", "--only", "gns"]) == 1


def test_a_row_needs_a_known_answer():
    with pytest.raises(ValueError, match="known answer"):
        DemoRow("p", "m", 0.0, ())
    r = DemoRow("p", "m", 0.0, (Check("a", 0.0, 1.0), Check("b", 3.0, 1.0)))
    assert not r.ok  # every check must pass, not only the first


# ----------------------------------------------------------------------------- width


def test_worst_case_lines_fit():
    long = "x" * 60
    r = DemoRow(long, long, 123.456, (Check(long, 1e-300, 1e-300), Check(long, 1e200, 1.0)),
                steps="123456+7890123", note=" ".join([long] * 5))
    r.compiled = True
    r.warned = (long * 3,)
    lines = header_lines() + format_row(r)
    assert max(map(len, lines)) <= WIDTH
    text = "\n".join(lines)
    # cut cells are given in full in the note
    assert "problem: " + long in text.replace("\n    ", " ")


def test_real_part_through_the_command_line(capsys):
    # gns: five rows in ~0.5 s; the whole table, notes and summary fit in 100 columns
    assert main(["demo", "--only", "gns"]) == 0
    out = capsys.readouterr().out
    assert widest(out) <= WIDTH
    assert "Rosenbrock n=100" in out and "all 5 solves reached their known answers" in out
    assert _demos.SOURCE in out and "steps = iterations" in out


def test_columns_are_honest():
    # a fit has no iteration count: its degree goes in the note, not the steps column
    r = DemoRow("fit", "ChebTucker.fit cross", 0.1, (Check("rel. max", 1e-7, 2e-6),),
                note="degree 42")
    line, note = format_row(r)
    assert line.split()[3] == "-" and "degree 42" in note
    # one solve with three checks is one row: the extra checks are in its note, untimed
    r = DemoRow("toy", "lv-hba", 0.5, (Check("rel. x", 1e-6, 1e-3), Check("F = 5", 1e-5, 1e-3),
                                        Check("multiplier", 2e-7, 1e-3)), steps="34")
    lines = format_row(r)
    assert len(lines) == 2 and lines[0].count("0.500") == 1
    assert "F = 5 1.0e-05 (tol 1e-3, ok)" in lines[1]


# ------------------------------------------------------------- warnings and compiling


def test_warnings_are_shown_under_their_row():
    def rows():
        warnings.warn("step damped", RuntimeWarning, stacklevel=1)
        yield row("warned")
        yield row("clean")

    out = io.StringIO()
    assert run_demo([fake_part("warn", rows)], out=out, err=io.StringIO()) == 0
    lines = out.getvalue().splitlines()
    i = next(k for k, line in enumerate(lines) if line.startswith("warned"))
    assert "warning: RuntimeWarning: step damped" in lines[i + 1]
    assert "warning" not in "".join(line for line in lines if line.startswith("clean"))


def _uncached_kernel(tmp_path):
    # what announce_compilation inspects: no signature yet and no index in the disk cache
    cache_file = types.SimpleNamespace(_index_path=str(tmp_path / "absent.nbi"))
    return types.SimpleNamespace(signatures=[], _cache=types.SimpleNamespace(
        _cache_file=cache_file))


@pytest.mark.skipif(not backend.HAS_NUMBA, reason="needs numba")
def test_one_compile_notice_for_all_kernel_groups(tmp_path):
    kernel = _uncached_kernel(tmp_path)
    numba = pytest.importorskip("numba")
    jitted = numba.njit(lambda v: v + 1)  # no cache: this really compiles

    def rows():
        yield row("before")
        backend.announce_compilation(f"test_cli group A {tmp_path}", kernel)
        backend.announce_compilation(f"test_cli group B {tmp_path}", kernel)
        yield row("announced")
        assert jitted(1) == 2
        yield row("compiled by numba")
        yield Untimed("warm-up", 0.0)
        yield row("after")

    out, err = io.StringIO(), io.StringIO()
    assert run_demo([fake_part("compile", rows)], out=out, err=err) == 0
    assert jitted.signatures  # numba really ran
    text = err.getvalue()
    assert text.count(" ".join(COMPILE_NOTICE.split()[:5])) == 1  # ONE notice
    assert "compiling numba kernels for" not in text  # the backend's lines were replaced
    table = {line.split()[0]: line for line in out.getvalue().splitlines()
             if line.split() and line.split()[0] in ("before", "announced", "compiled", "after")}
    assert "*" not in table["before"] and "*" not in table["after"]
    assert "0.010*" in table["announced"] and "0.010*" in table["compiled"]
    assert "includes numba compiling" in out.getvalue()
    assert sys.stderr is not None and not isinstance(sys.stderr, _demos._CompileWatch)


def test_other_stderr_lines_pass_through():
    def rows():
        print("a line of the solver", file=sys.stderr)
        yield row("r")

    err = io.StringIO()
    run_demo([fake_part("stderr", rows)], out=io.StringIO(), err=err)
    assert err.getvalue() == "a line of the solver\n"


def test_formatting_of_numbers():
    assert _demos._tol(0.0106) == "1.1e-2" and _demos._tol(1e-8) == "1e-8"
    assert _demos._sci(np.float64(3.3e-10)) == "3.3e-10" and _demos._sci(np.inf) == "inf"
    assert len(_demos._sci(1e250)) <= 7


def test_a_part_that_cannot_import_fails_alone(monkeypatch):
    def missing(part):
        raise ImportError(f"no module for {part}")

    monkeypatch.setattr(_demos, "_load", missing)
    ok = fake_part("good", lambda: iter([row("fine")]))
    out, err = io.StringIO(), io.StringIO()
    assert run_demo(["gns", ok], out=out, err=err) == 1
    assert "part gns FAILED: ImportError: no module for gns" in out.getvalue()
    assert "fine" in out.getvalue() and "ImportError" in err.getvalue()
