"""How long the demo takes, cold and warm: ``python -m soptim._demos._timing [rounds] [part ...]``.

Each round runs ``python -m soptim demo`` twice in fresh processes sharing a
new, empty ``NUMBA_CACHE_DIR``: first cold (numba compiles every kernel), then
warm (numba loads them from that cache). It prints, per run, the wall time,
the time until the first row appeared (the demo streams its rows, so this is
how long a new user waits for output), the time until the compile notice and
the widest line, then the best of the rounds. Not a test: timings depend on
the machine and its load (the table prints ``os.getloadavg()``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

from . import BACKEND_NOTICE, COMPILE_NOTICE, header_lines


def _one(cache: str, parts: list[str]) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "soptim", "demo"] + (["--only", *parts] if parts else [])
    rule = header_lines()[1]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    first_row = notice = None
    after_rule = False
    widest = 0
    notices = 0
    assert proc.stdout is not None
    for line in proc.stdout:
        now = time.perf_counter() - t0
        line = line.rstrip("\n")
        widest = max(widest, len(line))
        if line.startswith(COMPILE_NOTICE[:30]) or line.startswith(BACKEND_NOTICE):
            notices += 1
            notice = now if notice is None else notice
            continue
        if after_rule and first_row is None and line and not line.startswith(("[", " ")):
            first_row = now
        after_rule = after_rule or line == rule
    rc = proc.wait()
    return {"wall": time.perf_counter() - t0, "first_row": first_row, "notice": notice,
            "notices": notices, "widest": widest, "rc": rc}


def _fmt(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def main(argv: list[str]) -> None:
    rounds = int(argv[0]) if argv and argv[0].isdigit() else 3
    parts = argv[1:] if argv and argv[0].isdigit() else argv
    print(f"python -m soptim demo {' '.join(parts)}: {rounds} rounds, cold then warm each "
          f"(load {os.getloadavg()[0]:.1f})")
    print(f"{'round':>5}  {'run':4}  {'wall s':>7}  {'1st row s':>9}  {'notice s':>8}  "
          f"{'notices':>7}  {'widest':>6}  rc")
    best: dict[str, list[dict]] = {"cold": [], "warm": []}
    for r in range(1, rounds + 1):
        with tempfile.TemporaryDirectory() as cache:
            for kind in ("cold", "warm"):
                res = _one(cache, parts)
                best[kind].append(res)
                print(f"{r:>5}  {kind:4}  {res['wall']:7.1f}  {_fmt(res['first_row']):>9}  "
                      f"{_fmt(res['notice']):>8}  {res['notices']:>7}  {res['widest']:>6}  "
                      f"{res['rc']}", flush=True)
    for kind, runs in best.items():
        b = min(runs, key=lambda x: x["wall"])
        print(f"best {kind}: wall {b['wall']:.1f} s, first row after {_fmt(b['first_row'])} s "
              f"(load {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main(sys.argv[1:])
