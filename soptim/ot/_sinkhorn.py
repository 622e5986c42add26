"""Log-domain Sinkhorn: exact block-coordinate ascent on the dual.

``f_i <- reg*log a_i - reg*logsumexp_j((g_j - M_ij)/reg)``, then the same for
``g``. Nothing is exponentiated outside a max-shifted logsumexp, so it is
stable for any ``reg`` (no ``exp(-M/reg)`` kernel that underflows).

The marginal error comes for free: after a column update the columns are
exact, and the next row update gives the rows of the current plan as
``r_i = a_i exp((f_i - f_i^new)/reg)``.

Kernel-domain fast path (added to the log-domain scheme; POT's
``sinkhorn_stabilized`` idea): the sweeps are run as scaling updates
``u = a / (K v)``, ``v = b / (K^T u)`` on the *stabilized* kernel
``K_ij = exp((f_i + g_j - M_ij)/reg)`` formed once at the current potentials, so a
sweep costs two BLAS mat-vecs instead of ``2 n m`` exponentials. When a scaling
leaves ``[1/TAU, TAU]`` it is absorbed into the potentials (``f += reg log u``) and the
kernel is rebuilt. When that happens too often (small ``reg``: the potentials move by
many ``reg`` per sweep) or a scaling stops being finite, the sweeps go on in the log
domain from the last absorbed potentials: the choice is automatic, and both paths
compute the same iterates up to rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ._kernels import LOG_FLOOR, hist_window
from ._problem import Workspace

__all__ = ["sinkhorn_sweeps", "slowdown_switch", "kernel_sweeps", "TAU"]

#: Scalings outside [1/TAU, TAU] are absorbed into the potentials (POT's default tau).
TAU = 1e3
#: Kernel mode is left for the log domain once absorptions exceed this fraction of the
#: sweeps (plus a few): each one costs an exponential pass, so a kernel rebuilt every
#: few sweeps is no cheaper than log-domain sweeps.
ABSORB_RATIO = 0.25
#: Kernel-domain sweeps hand over to Newton when more than this many are predicted.
CHEAP_SWEEPS = 60
#: Kernel row/column sums below this (times the length, times TAU) hand over to the log
#: domain: entries floored at exp(LOG_FLOOR) would be more than 1e-12 of such a sum.
_FLOOR_SUM = 1e12 * float(np.exp(LOG_FLOOR))


def sinkhorn_sweeps(ws: Workspace, a: Any, loga: Any, logb: Any, f: Any, g: Any | None,
                    max_sweeps: int, tol: float, history: list[float],
                    switch: Callable[[list[float]], bool] | None = None,
                    kernel: bool = True, b: Any = None):
    """Run Sinkhorn sweeps from ``f`` (and ``g``; None: start with a column update).

    The error of each iterate (the L1 row violation, columns being exact) is
    appended to ``history``. Stops when it is ``<= tol`` (returns that iterate),
    when ``switch(errors of this call)`` is True (returns the iterate with the rows just
    updated, the better warm start), or after ``max_sweeps``.

    ``kernel``: try the kernel-domain fast path first (needs ``b``; see the module
    docstring); it hands over to the log-domain loop when it stops paying off.

    Returns
    -------
    f, g : arrays
        Potentials.
    sweeps : int
        Number of sweeps (row updates) performed, one ``history`` entry each.
    converged : bool
        Whether the error reached ``tol``.
    """
    xp = ws.be.xp
    reg = ws.reg
    start = len(history)
    done = 0
    if kernel and b is not None and max_sweeps > 0:
        # the kernel path makes the first column update itself (v = b / K^T 1)
        f, g, done, state = kernel_sweeps(ws, a, b, f, g, max_sweeps, tol, history, switch,
                                          start)
        if state is not None:
            return f, g, done, state
        g = None
    if g is None:
        g = ws.update_g(f, logb)
    for k in range(done, max_sweeps):
        f_new = ws.update_f(g, loga)
        err = float(xp.sum(a * xp.abs(xp.expm1((f - f_new) / reg))))
        history.append(err)
        if err <= tol:
            return f, g, k + 1, True
        if switch is not None and switch(history[start:]):
            return f_new, g, k + 1, False
        f = f_new
        g = ws.update_g(f, logb)
    return f, g, max_sweeps, False


def slowdown_switch(min_sweeps: int, ratio: float, switch_tol: float, max_sweeps: int,
                    tol: float = 0.0):
    """Rule for leaving the Sinkhorn warm start: Sinkhorn has stopped paying off.

    True after ``min_sweeps`` sweeps once the error falls below ``switch_tol``
    or its per-sweep decrease factor ``err_k / err_{k-1}`` exceeds ``ratio``
    (linear convergence has slowed to a crawl), and always at ``max_sweeps``.

    Called with ``cheap=True`` by the kernel-domain sweeps (two mat-vecs each, several
    times cheaper than a Newton step's exponential passes), ``switch_tol`` is not used:
    the switch happens only when the observed rate predicts more than
    :data:`CHEAP_SWEEPS` further sweeps to reach ``tol``.
    """

    def switch(history: list[float], cheap: bool = False) -> bool:
        k = len(history)
        if k >= max_sweeps:
            return True
        if k < max(min_sweeps, 1):
            return False
        rate = history[-1] / history[-2] if k >= 2 and history[-2] > 0 else 0.0
        if rate > ratio:
            return True
        if not cheap:
            return history[-1] <= switch_tol
        if rate <= 0.0 or history[-1] <= tol:
            return False
        return math.log(tol / history[-1]) / math.log(rate) > CHEAP_SWEEPS

    return switch


def kernel_sweeps(ws: Workspace, a: Any, b: Any, f: Any, g: Any, max_sweeps: int, tol: float,
                  history: list[float], switch: Callable[[list[float]], bool] | None,
                  start: int):
    """Sinkhorn sweeps as scaling updates on the stabilized kernel.

    ``g`` None: the first update is the column update (from ``g = 0``); otherwise the
    columns are exact at entry (``g`` was just updated). Same iterates and ``history``
    entries as the log-domain loop. Returns
    ``(f, g, sweeps, converged)`` when it stopped (tolerance, ``switch``, ``max_sweeps``),
    or ``(f, g, sweeps, None)`` to hand over to the log domain (too many absorptions,
    non-finite scalings, kernel sums near the floor); ``f, g`` then are the last
    trustworthy potentials (``g`` None: recompute it). The workspace buffer holds the
    kernel (it is the plan buffer); on convergence it is scaled into the plan.
    """
    xp = ws.be.xp
    reg = ws.reg
    window = hist_window(a, b)
    first = g is None  # no g yet: the first update below is the column update
    if first:
        g = xp.zeros(ws.shape[1])
    K = ws.kernel(f, g, window)
    u = xp.ones_like(f)
    v = xp.ones_like(g)
    KTu = b  # column sums of the current plan (exact when g is a column update)
    if first:
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            KTu = u @ K
            v = b / KTu
        if not ws.be.all_finite(v) or bool(xp.min(KTu) < _FLOOR_SUM * max(ws.shape) * TAU):
            return f, None, 0, None
    absorbed = 0
    # kernel entries are floored at exp(LOG_FLOOR) ~ 1e-304: a row or column sum this
    # small is mostly floor, not kernel (tiny masses, far rows): the log domain is exact
    safe = _FLOOR_SUM * max(ws.shape) * TAU
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        for k in range(max_sweeps):
            Kv = K @ v
            err = float(xp.abs(u * Kv - a).sum())
            u_new = a / Kv
            if not np.isfinite(err) or not ws.be.all_finite(u_new) \
                    or bool(xp.min(Kv) < safe):
                return f + reg * xp.log(u), g + reg * xp.log(v), k, None
            history.append(err)
            if err <= tol:
                f, g = f + reg * xp.log(u), g + reg * xp.log(v)
                # the buffer becomes the plan at (f, g); its marginals are known:
                # rows u * Kv, columns exact since the last column update
                K *= u[:, None]
                K *= v[None, :]
                r = u * Kv
                ws.keep_plan(f, g, r, v * KTu, float(r.sum()))
                return f, g, k + 1, True
            if switch is not None and switch(history[start:], cheap=True):
                return f + reg * xp.log(u_new), g + reg * xp.log(v), k + 1, False
            u = u_new
            KTu = u @ K
            v_new = b / KTu
            if not ws.be.all_finite(v_new) or bool(xp.min(KTu) < safe):
                return f + reg * xp.log(u), g + reg * xp.log(v), k + 1, None
            v = v_new
            if _out_of_range(xp, u) or _out_of_range(xp, v):
                f, g = f + reg * xp.log(u), g + reg * xp.log(v)
                absorbed += 1
                if absorbed > 2 + ABSORB_RATIO * (k + 1):
                    return f, g, k + 1, None
                KTu = v * KTu  # column sums of the rebuilt kernel (u = v = 1)
                K = ws.kernel(f, g, window)
                u = xp.ones_like(f)
                v = xp.ones_like(g)
    return f + reg * xp.log(u), g + reg * xp.log(v), max_sweeps, False


def _out_of_range(xp: Any, s: Any) -> bool:
    return bool(xp.max(s) > TAU) or bool(xp.min(s) < 1.0 / TAU)
