"""Tucker tensors and their truncation: HOSVD (eps rule), HOOI, reduced HOSVD.

All functions take the :class:`~soptim.backend.Backend` ``be`` of their arrays
(NumPy by default).

References
----------
L. De Lathauwer, B. De Moor, J. Vandewalle, "A multilinear singular value
decomposition", SIAM J. Matrix Anal. Appl. 21 (2000); "On the best rank-1 and
rank-(R1, ..., RN) approximation of higher-order tensors", ibid.
B. N. Khoromskij, V. Khoromskaia, "Multigrid accelerated tensor approximation
of function related multidimensional arrays", SIAM J. Sci. Comput. 31 (2009)
(the reduced HOSVD of canonical input).
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..backend import NUMPY, Backend, get_backend, to_numpy

__all__ = [
    "TuckerTensor",
    "mode_product",
    "tucker_full",
    "unfold",
    "eps_rank",
    "hosvd",
    "hooi",
    "cp_norm",
    "rhosvd",
    "recompress",
]


def mode_product(tensor: Any, matrix: Any, axis: int, be: Backend = NUMPY) -> Any:
    """``tensor x_axis matrix``: contract ``tensor``'s ``axis`` with ``matrix``'s columns."""
    xp = be.xp
    out = xp.tensordot(matrix, tensor, axes=(1, axis))
    return xp.moveaxis(out, 0, axis)


def tucker_full(core: Any, factors: Sequence[Any], be: Backend = NUMPY) -> Any:
    """The full tensor ``core x_1 U_1 ... x_d U_d``."""
    out = core
    for l, U in enumerate(factors):
        out = mode_product(out, U, l, be)
    return out


def unfold(tensor: Any, axis: int, be: Backend = NUMPY) -> Any:
    """Mode-``axis`` unfolding: a matrix with ``tensor.shape[axis]`` rows."""
    xp = be.xp
    return xp.moveaxis(tensor, axis, 0).reshape(tensor.shape[axis], -1)


class TuckerTensor:
    """A tensor in Tucker format ``core x_1 U_1 x_2 U_2 ... x_d U_d``.

    Parameters
    ----------
    core : array, shape (r_1, ..., r_d)
        The core tensor.
    factors : sequence of arrays, shapes (n_l, r_l)
        The factor matrices.

    Examples
    --------
    >>> import numpy as np
    >>> from soptim.approx import TuckerTensor
    >>> t = TuckerTensor(np.ones((1, 1)), [np.ones((2, 1)), np.arange(3.0)[:, None]])
    >>> t.shape, t.ranks
    ((2, 3), (1, 1))
    >>> t.full()
    array([[0., 1., 2.],
           [0., 1., 2.]])
    """

    def __init__(self, core: Any, factors: Sequence[Any]) -> None:
        factors = list(factors)
        if core.ndim != len(factors):
            raise ValueError(
                f"core has {core.ndim} dimensions but {len(factors)} factors were given"
            )
        for l, U in enumerate(factors):
            if U.ndim != 2 or U.shape[1] != core.shape[l]:
                raise ValueError(
                    f"factors[{l}] must have shape (n, {core.shape[l]}), got {tuple(U.shape)}"
                )
        self.core = core
        self.factors = factors

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the full tensor."""
        return tuple(int(U.shape[0]) for U in self.factors)

    @property
    def ranks(self) -> tuple[int, ...]:
        """Tucker ranks (the core's shape)."""
        return tuple(int(s) for s in self.core.shape)

    @property
    def ndim(self) -> int:
        """Number of dimensions."""
        return len(self.factors)

    def full(self) -> Any:
        """The full tensor (an array of shape ``self.shape``)."""
        return tucker_full(self.core, self.factors, get_backend(self.core))

    def __repr__(self) -> str:
        return f"TuckerTensor(shape={self.shape}, ranks={self.ranks})"


def eps_rank(s: np.ndarray, threshold: float) -> int:
    """Smallest ``r >= 1`` with ``sqrt(sum_{i >= r} s_i^2) <= threshold``."""
    tail = np.sqrt(np.concatenate([np.cumsum(s[::-1] ** 2)[::-1], [0.0]]))
    ok = np.nonzero(tail[1:] <= threshold)[0]
    return int(ok[0]) + 1 if ok.size else len(s)


def _left_singular(matrix: Any, be: Backend) -> tuple[Any, np.ndarray]:
    """Left singular vectors and singular values of a (typically wide) matrix.

    A wide unfolding ``A`` (m x M, M >> m) is first reduced by a QR of ``A^T``
    (``A = R^T Q^T``, backward stable), so the SVD acts on the m x m ``R^T``.
    """
    xp = be.xp
    if matrix.shape[1] > 2 * matrix.shape[0]:
        matrix = xp.linalg.qr(matrix.T, mode="r").T
    U, s, _ = xp.linalg.svd(matrix, full_matrices=False)
    return U, np.asarray(to_numpy(s), dtype=float)


def hosvd(
    tensor: Any,
    eps: float | None = None,
    ranks: Sequence[int] | None = None,
    be: Backend = NUMPY,
) -> tuple[Any, list[Any], list[np.ndarray]]:
    """Truncated HOSVD with the eps rule or fixed ranks.

    With ``eps``, mode ``l`` keeps the smallest ``r_l`` whose singular-value
    tail of the mode-``l`` unfolding is at most ``eps ||C||_F / sqrt(d)``;
    since the truncation error is at most the root of the sum of the squared
    tails, ``||C - C_r||_F <= eps ||C||_F``.

    Returns
    -------
    core : array
        ``C x_1 V_1^T ... x_d V_d^T``.
    factors : list of arrays
        ``V_l`` with orthonormal columns.
    singular_values : list of ndarray
        The singular values of each unfolding (host arrays).
    """
    xp = be.xp
    d = tensor.ndim
    norm = float(xp.linalg.norm(tensor.reshape(-1)))
    threshold = 0.0 if eps is None else eps * norm / np.sqrt(d)
    factors, svals = [], []
    for l in range(d):
        U, s = _left_singular(unfold(tensor, l, be), be)
        r = int(ranks[l]) if ranks is not None else eps_rank(s, threshold)
        r = max(1, min(r, U.shape[1]))
        factors.append(U[:, :r])
        svals.append(s)
    core = tensor
    for l, V in enumerate(factors):
        core = mode_product(core, V.T, l, be)
    return core, factors, svals


def hooi(
    tensor: Any,
    factors: Sequence[Any],
    *,
    max_sweeps: int = 10,
    rtol: float = 1e-6,
    be: Backend = NUMPY,
) -> tuple[Any, list[Any], int]:
    """Higher-order orthogonal iteration (ALS) at the ranks of ``factors``.

    Each update makes ``V_l`` the leading left singular vectors of the
    unfolding of ``C x_{k != l} V_k^T``, which maximizes the core norm over
    ``V_l`` with the other factors fixed; since the error of the projection
    is ``sqrt(||C||^2 - ||core||^2)``, a sweep never increases it. Sweeps stop
    when the core norm grows by less than ``rtol`` times the remaining error.

    Returns
    -------
    core, factors, sweeps
    """
    xp = be.xp
    d = tensor.ndim
    factors = list(factors)
    norm2 = float(xp.linalg.norm(tensor.reshape(-1))) ** 2
    core = tucker_full(tensor, [V.T for V in factors], be)
    core2 = float(xp.linalg.norm(core.reshape(-1))) ** 2
    sweeps = 0
    for sweeps in range(1, max_sweeps + 1):  # noqa: B007 - the count is returned
        for l in range(d):
            Y = tensor
            for k in range(d):
                if k != l:
                    Y = mode_product(Y, factors[k].T, k, be)
            U, _ = _left_singular(unfold(Y, l, be), be)
            factors[l] = U[:, : factors[l].shape[1]]
        core = tucker_full(tensor, [V.T for V in factors], be)
        new2 = float(xp.linalg.norm(core.reshape(-1))) ** 2
        gain = new2 - core2
        core2 = new2
        if gain <= rtol * max(norm2 - new2, 0.0) + 1e-15 * norm2:
            break
    return core, factors, sweeps


def cp_norm(weights: Any, factors: Sequence[Any], be: Backend = NUMPY) -> float:
    """Frobenius norm of ``sum_k w_k u_k^(1) o ... o u_k^(d)`` from Gram matrices."""
    xp = be.xp
    G = xp.ones((weights.shape[0], weights.shape[0]))
    for U in factors:
        G = G * (U.T @ U)
    val = float(weights @ (G @ weights))
    return float(np.sqrt(max(val, 0.0)))


def _cp_core(weights: Any, projected: Sequence[Any], be: Backend) -> Any:
    """Dense ``sum_k w_k p_k^(1) o ... o p_k^(d)`` for small projected factors."""
    xp = be.xp
    d = len(projected)
    letters = string.ascii_letters[: d + 1]
    k = letters[d]
    spec = k + "," + ",".join(letters[l] + k for l in range(d)) + "->" + letters[:d]
    return xp.einsum(spec, weights, *projected)


def rhosvd(
    weights: Any,
    factors: Sequence[Any],
    eps: float,
    be: Backend = NUMPY,
) -> tuple[Any, list[Any], float]:
    """Reduced HOSVD of canonical input, never forming the full tensor.

    ``C = sum_k w_k u_k^(1) o ... o u_k^(d)`` with ``U_l = [u_1^(l) ...]``.
    Columns are normalized into the weights, each ``U_l`` is replaced by its
    leading left singular vectors ``Q_l`` (the RHOSVD of Khoromskij &
    Khoromskaia; dropping singular values ``s`` costs at most
    ``||w||_2 * sqrt(sum s_dropped^2)`` per mode), the core
    ``sum_k w_k (Q_1^T u_k^(1)) o ...`` is formed in the small space, and a
    HOSVD of that core finishes the eps rule. Half of ``eps ||C||_F`` goes to
    each stage, so ``||C - C_r||_F <= eps ||C||_F`` as for :func:`hosvd`.

    Returns
    -------
    core, factors, norm
        ``norm`` is ``||C||_F``.
    """
    xp = be.xp
    d = len(factors)
    w = xp.asarray(weights, dtype=float).copy()
    normalized = []
    for U in factors:
        cn = xp.linalg.norm(U, axis=0)
        safe = xp.where(cn > 0, cn, 1.0)
        normalized.append(U / safe)
        w = w * cn
    norm = cp_norm(w, normalized, be)
    if norm == 0.0:
        return (xp.zeros((1,) * d), [xp.eye(U.shape[0], 1) for U in factors], 0.0)
    wnorm = float(xp.linalg.norm(w))
    stage = 0.5 * eps * norm / (d * wnorm)
    Q = []
    for U in normalized:
        Ul, s = _left_singular(U, be)
        Q.append(Ul[:, : eps_rank(s, stage)])
    core = _cp_core(w, [Ql.T @ U for Ql, U in zip(Q, normalized)], be)
    small, V, _ = hosvd(core, eps=0.5 * eps * norm / max(float(xp.linalg.norm(core)), 1e-300),
                        be=be)
    return small, [Ql @ Vl for Ql, Vl in zip(Q, V)], norm


def recompress(core: Any, factors: Sequence[Any], eps: float,
               be: Backend = NUMPY) -> tuple[Any, list]:
    """Re-orthonormalize non-orthonormal Tucker factors and truncate with the eps rule.

    QR of each factor (``U_l = Q_l R_l``), ``R_l`` absorbed into the core, then
    :func:`hosvd` of the small core: the result has orthonormal factors and
    ``||T - T_r||_F <= eps ||T||_F``.
    """
    xp = be.xp
    Qs = []
    for l, U in enumerate(factors):
        Q, R = xp.linalg.qr(U)
        Qs.append(Q)
        core = mode_product(core, R, l, be)
    small, V, _ = hosvd(core, eps=eps, be=be)
    return small, [Q @ Vl for Q, Vl in zip(Qs, V)]
