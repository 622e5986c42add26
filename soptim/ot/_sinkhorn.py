"""Log-domain Sinkhorn: exact block-coordinate ascent on the dual.

``f_i <- reg*log a_i - reg*logsumexp_j((g_j - M_ij)/reg)``, then the same for
``g``. Nothing is exponentiated outside a max-shifted logsumexp, so it is
stable for any ``reg`` (no ``exp(-M/reg)`` kernel that underflows).

The marginal error comes for free: after a column update the columns are
exact, and the next row update gives the rows of the current plan as
``r_i = a_i exp((f_i - f_i^new)/reg)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._problem import Workspace

__all__ = ["sinkhorn_sweeps", "slowdown_switch"]


def sinkhorn_sweeps(ws: Workspace, a: Any, loga: Any, logb: Any, f: Any, g: Any | None,
                    max_sweeps: int, tol: float, history: list[float],
                    switch: Callable[[list[float]], bool] | None = None):
    """Run Sinkhorn sweeps from ``f`` (and ``g``; None: start with a column update).

    The error of each iterate (the L1 row violation, columns being exact) is
    appended to ``history``. Stops when it is ``<= tol`` (returns that iterate),
    when ``switch(errors of this call)`` is True (returns the iterate with the rows just
    updated, the better warm start), or after ``max_sweeps``.

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
    if g is None:
        g = ws.update_g(f, logb)
    start = len(history)
    for k in range(max_sweeps):
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


def slowdown_switch(min_sweeps: int, ratio: float, switch_tol: float, max_sweeps: int):
    """Rule for leaving the Sinkhorn warm start: Sinkhorn has stopped paying off.

    True after ``min_sweeps`` sweeps once the error falls below ``switch_tol``
    or its per-sweep decrease factor ``err_k / err_{k-1}`` exceeds ``ratio``
    (linear convergence has slowed to a crawl), and always at ``max_sweeps``.
    """

    def switch(history: list[float]) -> bool:
        k = len(history)
        if k >= max_sweeps:
            return True
        if k < max(min_sweeps, 1):
            return False
        if history[-1] <= switch_tol:
            return True
        return k >= 2 and history[-2] > 0 and history[-1] / history[-2] > ratio

    return switch
