"""The entropic OT dual ("Lyapunov potential") in the notation of the SNS paper.

For potentials ``f`` (size n) and ``g`` (size m) the plan is
``P_ij = exp((f_i + g_j - M_ij) / reg)`` and the concave dual is

    L(f, g) = <a, f> + <b, g> - reg * sum_ij P_ij,

with gradient ``(a - P 1, b - P^T 1)`` (the marginal violation) and Hessian
``-(1/reg) [[diag(P 1), P], [P^T, diag(P^T 1)]]``, negative semidefinite and
singular along ``(1, -1)``. These dense formulas serve the tests and small
problems; the solvers use the fused kernels of :mod:`._kernels`.
"""

from __future__ import annotations

from typing import Any

from ..backend import get_backend

__all__ = ["plan_from_potentials", "dual_value", "dual_gradient", "dual_hessian",
           "marginal_error", "primal_value"]


def plan_from_potentials(M: Any, f: Any, g: Any, reg: float) -> Any:
    """Plan of the potentials: ``P_ij = exp((f_i + g_j - M_ij) / reg)`` (dense).

    Parameters
    ----------
    M : array, shape (n, m)
        Cost matrix.
    f, g : arrays, shapes (n,) and (m,)
        Dual potentials (``OTResult.potentials``).
    reg : float
        Entropic regularization.

    Returns
    -------
    P : array, shape (n, m)

    Examples
    --------
    >>> import numpy as np
    >>> from soptim.ot import plan_from_potentials
    >>> plan_from_potentials(np.zeros((1, 2)), np.zeros(1), np.log([0.25, 0.75]), 1.0)
    array([[0.25, 0.75]])
    """
    xp = get_backend(M, f, g).xp
    return xp.exp((f[:, None] + g[None, :] - M) / reg)


def dual_value(a: Any, b: Any, M: Any, f: Any, g: Any, reg: float) -> float:
    """Dual objective ``L(f, g) = <a, f> + <b, g> - reg * sum(P)`` (concave).

    At the optimum it equals the entropic cost ``OTResult.reg_cost``.

    Parameters
    ----------
    a, b : arrays, shapes (n,) and (m,)
        Marginals.
    M : array, shape (n, m)
        Cost matrix.
    f, g : arrays, shapes (n,) and (m,)
        Dual potentials.
    reg : float
        Entropic regularization.

    Returns
    -------
    float
    """
    P = plan_from_potentials(M, f, g, reg)
    return float(a @ f + b @ g - reg * P.sum())


def dual_gradient(a: Any, b: Any, M: Any, f: Any, g: Any, reg: float) -> tuple[Any, Any]:
    """Gradient of the dual: ``(a - P 1, b - P^T 1)``, the marginal violation.

    Parameters are those of :func:`dual_value`.

    Returns
    -------
    grad_f, grad_g : arrays, shapes (n,) and (m,)
    """
    P = plan_from_potentials(M, f, g, reg)
    return a - P.sum(axis=1), b - P.sum(axis=0)


def dual_hessian(M: Any, f: Any, g: Any, reg: float) -> Any:
    """Dense Hessian of the dual: ``-(1/reg) [[diag(P 1), P], [P^T, diag(P^T 1)]]``.

    Negative semidefinite, singular along ``(1, -1)``. SNS never forms it: it keeps
    the diagonal blocks and the largest entries of ``P``.

    Parameters
    ----------
    M : array, shape (n, m)
        Cost matrix.
    f, g : arrays, shapes (n,) and (m,)
        Dual potentials.
    reg : float
        Entropic regularization.

    Returns
    -------
    H : array, shape (n + m, n + m)
    """
    xp = get_backend(M, f, g).xp
    P = plan_from_potentials(M, f, g, reg)
    n, m = P.shape
    H = xp.zeros((n + m, n + m), dtype=P.dtype)
    H[:n, :n] = xp.diag(P.sum(axis=1))
    H[n:, n:] = xp.diag(P.sum(axis=0))
    H[:n, n:] = P
    H[n:, :n] = P.T
    return -H / reg


def marginal_error(P: Any, a: Any, b: Any) -> float:
    """L1 marginal violation ``||P 1 - a||_1 + ||P^T 1 - b||_1``."""
    xp = get_backend(P, a, b).xp
    return float(xp.abs(P.sum(axis=1) - a).sum() + xp.abs(P.sum(axis=0) - b).sum())


def primal_value(M: Any, P: Any, reg: float) -> float:
    """``<M, P> + reg * sum P_ij (log P_ij - 1)`` with ``0 log 0 = 0``."""
    xp = get_backend(M, P).xp
    logP = xp.log(xp.where(P > 0, P, 1.0))
    return float((M * P).sum() + reg * (P * (logP - 1.0)).sum())
