"""Published equality-constrained test problems (private: tests, demos, benchmarks).

- Twelve Hock–Schittkowski problems (Hock & Schittkowski 1981, as transcribed
  in the CUTEst SIF files) with their published optimal values.
- The PDE-constrained control problem of Hong et al. (ICML 2023):
  ``min 1/2||W - W*||^2 + 0.05||Z||^2  s.t.  Lap_h W + Z = 0`` on an N x N grid.
- Elec (COPS 3.0, Dolan, Moré & Munson 2004): ``n_e`` electrons on the unit
  sphere minimizing the Coulomb potential, the sphere constraints as equalities.
- A quadratic objective with an ellipsoid equality and a linear equality
  (the problem of issue 14 that a new user tries first).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sps

__all__ = ["HSProblem", "HS_PROBLEMS", "hs_constraint", "pde_control_problem", "elec_problem",
           "ELEC_OPTIMA", "ellipsoid_qp_problem"]


@dataclass(frozen=True)
class HSProblem:
    """One Hock–Schittkowski problem: f, grad f, c, J, x0 and the published f*."""

    name: str
    f: Callable
    g: Callable
    c: Callable
    J: Callable
    x0: tuple
    fstar: float
    xstar: tuple | None = None


def _a(*v):
    return np.array(v, dtype=float)


HS_PROBLEMS: dict[str, HSProblem] = {p.name: p for p in [
    HSProblem(
        "HS6", lambda x: (1 - x[0]) ** 2, lambda x: _a(-2 * (1 - x[0]), 0.0),
        lambda x: _a(10 * (x[1] - x[0] ** 2)), lambda x: np.array([[-20 * x[0], 10.0]]),
        (-1.2, 1.0), 0.0, (1.0, 1.0)),
    HSProblem(
        "HS7", lambda x: np.log(1 + x[0] ** 2) - x[1],
        lambda x: _a(2 * x[0] / (1 + x[0] ** 2), -1.0),
        lambda x: _a((1 + x[0] ** 2) ** 2 + x[1] ** 2 - 4),
        lambda x: np.array([[4 * x[0] * (1 + x[0] ** 2), 2 * x[1]]]),
        (2.0, 2.0), -np.sqrt(3.0), (0.0, np.sqrt(3.0))),
    HSProblem(
        "HS8", lambda x: -1.0, lambda x: _a(0.0, 0.0),
        lambda x: _a(x[0] ** 2 + x[1] ** 2 - 25, x[0] * x[1] - 9),
        lambda x: np.array([[2 * x[0], 2 * x[1]], [x[1], x[0]]]),
        (2.0, 1.0), -1.0),
    HSProblem(
        "HS26", lambda x: (x[0] - x[1]) ** 2 + (x[1] - x[2]) ** 4,
        lambda x: _a(2 * (x[0] - x[1]), -2 * (x[0] - x[1]) + 4 * (x[1] - x[2]) ** 3,
                     -4 * (x[1] - x[2]) ** 3),
        lambda x: _a((1 + x[1] ** 2) * x[0] + x[2] ** 4 - 3),
        lambda x: np.array([[1 + x[1] ** 2, 2 * x[0] * x[1], 4 * x[2] ** 3]]),
        (-2.6, 2.0, 2.0), 0.0, (1.0, 1.0, 1.0)),
    HSProblem(
        "HS27", lambda x: 0.01 * (x[0] - 1) ** 2 + (x[1] - x[0] ** 2) ** 2,
        lambda x: _a(0.02 * (x[0] - 1) - 4 * x[0] * (x[1] - x[0] ** 2),
                     2 * (x[1] - x[0] ** 2), 0.0),
        lambda x: _a(x[0] + x[2] ** 2 + 1), lambda x: np.array([[1.0, 0.0, 2 * x[2]]]),
        (2.0, 2.0, 2.0), 0.04, (-1.0, 1.0, 0.0)),
    HSProblem(
        "HS28", lambda x: (x[0] + x[1]) ** 2 + (x[1] + x[2]) ** 2,
        lambda x: _a(2 * (x[0] + x[1]), 2 * (x[0] + x[1]) + 2 * (x[1] + x[2]),
                     2 * (x[1] + x[2])),
        lambda x: _a(x[0] + 2 * x[1] + 3 * x[2] - 1), lambda x: np.array([[1.0, 2.0, 3.0]]),
        (-4.0, 1.0, 1.0), 0.0, (0.5, -0.5, 0.5)),
    HSProblem(
        "HS39", lambda x: -x[0], lambda x: _a(-1.0, 0.0, 0.0, 0.0),
        lambda x: _a(x[1] - x[0] ** 3 - x[2] ** 2, x[0] ** 2 - x[1] - x[3] ** 2),
        lambda x: np.array([[-3 * x[0] ** 2, 1.0, -2 * x[2], 0.0],
                            [2 * x[0], -1.0, 0.0, -2 * x[3]]]),
        (2.0, 2.0, 2.0, 2.0), -1.0, (1.0, 1.0, 0.0, 0.0)),
    HSProblem(
        "HS40", lambda x: -x[0] * x[1] * x[2] * x[3],
        lambda x: -_a(x[1] * x[2] * x[3], x[0] * x[2] * x[3], x[0] * x[1] * x[3],
                      x[0] * x[1] * x[2]),
        lambda x: _a(x[0] ** 3 + x[1] ** 2 - 1, x[0] ** 2 * x[3] - x[2], x[3] ** 2 - x[1]),
        lambda x: np.array([[3 * x[0] ** 2, 2 * x[1], 0.0, 0.0],
                            [2 * x[0] * x[3], 0.0, -1.0, x[0] ** 2],
                            [0.0, -1.0, 0.0, 2 * x[3]]]),
        (0.8, 0.8, 0.8, 0.8), -0.25),
    HSProblem(
        "HS42", lambda x: (x[0] - 1) ** 2 + (x[1] - 2) ** 2 + (x[2] - 3) ** 2 + (x[3] - 4) ** 2,
        lambda x: 2 * (x - _a(1, 2, 3, 4)),
        lambda x: _a(x[0] - 2, x[2] ** 2 + x[3] ** 2 - 2),
        lambda x: np.array([[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 2 * x[2], 2 * x[3]]]),
        (1.0, 1.0, 1.0, 1.0), 28 - 10 * np.sqrt(2.0)),
    HSProblem(
        "HS48", lambda x: (x[0] - 1) ** 2 + (x[1] - x[2]) ** 2 + (x[3] - x[4]) ** 2,
        lambda x: _a(2 * (x[0] - 1), 2 * (x[1] - x[2]), -2 * (x[1] - x[2]),
                     2 * (x[3] - x[4]), -2 * (x[3] - x[4])),
        lambda x: _a(x.sum() - 5, x[2] - 2 * (x[3] + x[4]) + 3),
        lambda x: np.array([[1.0, 1, 1, 1, 1], [0.0, 0, 1, -2, -2]]),
        (3.0, 5.0, -3.0, 2.0, -2.0), 0.0, (1.0,) * 5),
    HSProblem(
        "HS51",
        lambda x: (x[0] - x[1]) ** 2 + (x[1] + x[2] - 2) ** 2 + (x[3] - 1) ** 2 + (x[4] - 1) ** 2,
        lambda x: _a(2 * (x[0] - x[1]), -2 * (x[0] - x[1]) + 2 * (x[1] + x[2] - 2),
                     2 * (x[1] + x[2] - 2), 2 * (x[3] - 1), 2 * (x[4] - 1)),
        lambda x: _a(x[0] + 3 * x[1] - 4, x[2] + x[3] - 2 * x[4], x[1] - x[4]),
        lambda x: np.array([[1.0, 3, 0, 0, 0], [0.0, 0, 1, 1, -2], [0.0, 1, 0, 0, -1]]),
        (2.5, 0.5, 2.0, -1.0, 0.5), 0.0, (1.0,) * 5),
    HSProblem(
        "HS61", lambda x: 4 * x[0] ** 2 + 2 * x[1] ** 2 + 2 * x[2] ** 2 - 33 * x[0] + 16 * x[1]
        - 24 * x[2],
        lambda x: _a(8 * x[0] - 33, 4 * x[1] + 16, 4 * x[2] - 24),
        lambda x: _a(3 * x[0] - 2 * x[1] ** 2 - 7, 4 * x[0] - x[2] ** 2 - 11),
        lambda x: np.array([[3.0, -4 * x[1], 0.0], [4.0, 0.0, -2 * x[2]]]),
        (0.0, 0.0, 0.0), -143.6461422),
]}


def hs_constraint(p: HSProblem) -> dict:
    """The problem's constraints as a scipy ``{'type': 'eq'}`` dict."""
    return {"type": "eq", "fun": p.c, "jac": p.J}


def laplacian_2d(N: int, h: float) -> sps.csr_matrix:
    """5-point Laplacian ``(u_{i-1,j} + u_{i+1,j} + u_{i,j-1} + u_{i,j+1} - 4 u_ij) / h^2``
    on the N x N interior grid with zero Dirichlet boundary values (row-major order)."""
    T = sps.diags([np.ones(N - 1), -2.0 * np.ones(N), np.ones(N - 1)], [-1, 0, 1])
    I = sps.identity(N)
    return ((sps.kron(I, T) + sps.kron(T, I)) / h**2).tocsr()


def pde_control_problem(N: int) -> dict:
    """The PDE-constrained control problem of Hong et al. (2023) on an N x N grid.

    ``min_{W, Z} 1/2 ||W - W*||^2 + 0.05 ||Z||^2  s.t.  Lap_h W + Z = 0`` with
    ``h = 2 / (N + 1)`` and ``W*_ij = sin(4 + a (i - (N+1)/2)) + cos(3 + a (j - (N+1)/2))``,
    ``a = 0.1 / sqrt(15)``, ``i, j = 1..N``. Variables ``x = (W, Z)`` (n = 2 N^2),
    constraints m = N^2.

    Returns a dict with ``fun, jac, hess`` (sparse, constant), ``A`` (the sparse
    constraint matrix ``[Lap_h, I]``), ``x0`` (zeros), ``wstar`` and
    ``kkt_solution()``: the exact solution (x*, lam*) by one sparse direct
    solve of the KKT system (the problem is a QP).
    """
    h = 2.0 / (N + 1)
    L = laplacian_2d(N, h)
    i = np.arange(1, N + 1)
    a = 0.1 / np.sqrt(15.0)
    wstar = (np.sin(4 + a * (i[:, None] - (N + 1) / 2))
             + np.cos(3 + a * (i[None, :] - (N + 1) / 2))).ravel()
    n2 = N * N
    A = sps.hstack([L, sps.identity(n2)], format="csr")
    dhess = np.r_[np.ones(n2), 0.1 * np.ones(n2)]
    H = sps.diags(dhess, format="csr")

    def fun(x):
        w, z = x[:n2], x[n2:]
        d = w - wstar
        return 0.5 * float(d @ d) + 0.05 * float(z @ z)

    def jac(x):
        return np.r_[x[:n2] - wstar, 0.1 * x[n2:]]

    def hess(x):
        return H

    def kkt_solution():
        import scipy.sparse.linalg as spla

        K = sps.bmat([[H, A.T], [A, None]], format="csc")
        rhs = np.r_[np.r_[wstar, np.zeros(n2)], np.zeros(n2)]
        sol = spla.spsolve(K, rhs)
        return sol[:2 * n2], sol[2 * n2:]

    return {"fun": fun, "jac": jac, "hess": hess, "A": A, "x0": np.zeros(2 * n2),
            "wstar": wstar, "N": N, "n": 2 * n2, "m": n2, "kkt_solution": kkt_solution}


#: Best known energies of n_e unit charges on the sphere (the Thomson problem, as tabulated with the
#: COPS Elec problem); n_e = 20, 50, 100 reproduced by trust-constr and sketched-alm (benchmark).
ELEC_OPTIMA = {20: 150.881568334, 50: 1055.182314726, 100: 4448.350634331, 200: 18438.842717530}


def elec_problem(ne: int, seed: int = 0) -> dict:
    """COPS Elec: ``min sum_{i<j} 1/||x_i - x_j||  s.t.  ||x_i||^2 = 1`` (i = 1..ne).

    Variables ``x = (x_1, ..., x_ne)`` in R^3 each (n = 3 ne, m = ne, row-major).
    The start: the points of a Fibonacci spiral, perturbed by seeded Gaussian
    noise (0.2) and projected back onto the sphere (COPS starts from random
    angles; uniform random points put pairs so close together that the
    Coulomb gradients reach 1e5, a test of the start rather than the solver).
    Returns ``fun, jac, hess`` (dense, exact), the constraint ``con`` (a
    NonlinearConstraint with ``jac`` and ``hess``), ``x0`` and
    ``fstar`` (the best known value, or None).
    """
    from scipy.optimize import NonlinearConstraint

    rng = np.random.default_rng(seed)
    k = np.arange(ne) + 0.5
    z = 1.0 - 2.0 * k / ne
    phi = np.pi * (1.0 + 5.0 ** 0.5) * k
    rho = np.sqrt(1.0 - z * z)
    P = np.c_[rho * np.cos(phi), rho * np.sin(phi), z] + 0.2 * rng.standard_normal((ne, 3))
    P /= np.linalg.norm(P, axis=1, keepdims=True)
    iu = np.triu_indices(ne, 1)

    def _pairs(x):
        X = x.reshape(ne, 3)
        D = X[:, None, :] - X[None, :, :]  # D[i, j] = x_i - x_j
        r2 = (D * D).sum(axis=2)
        np.fill_diagonal(r2, 1.0)
        return X, D, r2

    def fun(x):
        _, _, r2 = _pairs(x)
        return float((1.0 / np.sqrt(r2[iu])).sum())

    def jac(x):
        _, D, r2 = _pairs(x)
        w = r2 ** -1.5
        np.fill_diagonal(w, 0.0)
        return -(w[:, :, None] * D).sum(axis=1).ravel()

    def hess(x):
        _, D, r2 = _pairs(x)
        w3 = r2 ** -1.5
        w5 = 3.0 * r2 ** -2.5
        np.fill_diagonal(w3, 0.0)
        np.fill_diagonal(w5, 0.0)
        # block (i, j), i != j: w3 I - w5 d d^T with d = x_i - x_j; (i, i): minus their sum
        blocks = (w3[:, :, None, None] * np.eye(3)
                  - w5[:, :, None, None] * D[:, :, :, None] * D[:, :, None, :])
        diag = -blocks.sum(axis=1)
        blocks[np.arange(ne), np.arange(ne)] = diag
        return blocks.transpose(0, 2, 1, 3).reshape(3 * ne, 3 * ne)

    def cfun(x):
        X = x.reshape(ne, 3)
        return (X * X).sum(axis=1)

    rows = np.repeat(np.arange(ne), 3)
    cols = np.arange(3 * ne)

    def cjac(x):
        J = np.zeros((ne, 3 * ne))
        J[rows, cols] = 2.0 * x
        return J

    def chess(x, v):
        return np.diag(2.0 * np.repeat(np.asarray(v, dtype=float), 3))

    con = NonlinearConstraint(cfun, 1.0, 1.0, jac=cjac, hess=chess)
    return {"fun": fun, "jac": jac, "hess": hess, "con": con, "x0": P.ravel(),
            "n": 3 * ne, "m": ne, "fstar": ELEC_OPTIMA.get(ne)}


def ellipsoid_qp_problem(n: int = 50, seed: int = 0) -> dict:
    """``min 1/2 x^T Q x - q^T x  s.t.  x^T D x = 1, sum(x) = 1`` from ``x0 = 1/n``.

    ``Q`` symmetric positive definite (random, condition about 100), ``D``
    diagonal with entries in [1, 2]: one nonlinear equality with ``jac`` and
    ``hess`` and one ``LinearConstraint``, as a new user would pose it.
    Returns ``fun, jac, hess, constraints, x0``.
    """
    from scipy.optimize import LinearConstraint, NonlinearConstraint

    rng = np.random.default_rng(seed)
    U, _ = np.linalg.qr(rng.standard_normal((n, n)))
    Q = (U * np.logspace(0, 2, n)) @ U.T
    Q = 0.5 * (Q + Q.T)
    q = rng.standard_normal(n)
    d = 1.0 + rng.random(n)
    ell = NonlinearConstraint(lambda x: np.array([x @ (d * x)]), 1.0, 1.0,
                              jac=lambda x: (2.0 * d * x)[None, :],
                              hess=lambda x, v: np.diag(2.0 * v[0] * d))
    lin = LinearConstraint(np.ones((1, n)), 1.0, 1.0)
    return {"fun": lambda x: 0.5 * float(x @ Q @ x) - float(q @ x),
            "jac": lambda x: Q @ x - q, "hess": lambda x: Q,
            "constraints": [ell, lin], "x0": np.full(n, 1.0 / n), "Q": Q, "q": q, "d": d}
