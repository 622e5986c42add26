"""Projections onto the coupled set C (soptim.bilevel._projection) against scipy."""

import numpy as np
import pytest
import scipy.optimize

from soptim.bilevel._projection import (
    AffineProjector,
    InfeasibleSetError,
    NonlinearProjector,
    active_set_qp,
)


def scipy_projection(w, lb, ub, A=None, b=None, G=None, d=None):
    cons = []
    if A is not None:
        cons.append(scipy.optimize.LinearConstraint(A, b, b))
    if G is not None:
        cons.append(scipy.optimize.LinearConstraint(G, -np.inf, d))
    res = scipy.optimize.minimize(lambda z: 0.5 * np.sum((z - w) ** 2), np.clip(w, lb, ub),
                                  jac=lambda z: z - w, method="SLSQP",
                                  bounds=scipy.optimize.Bounds(lb, ub), constraints=cons,
                                  options={"ftol": 1e-15, "maxiter": 1000})
    return res.x


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("case", ["eq", "ineq", "box+eq+ineq", "rowbox"])
def test_affine_projection_matches_scipy(seed, case):
    rng = np.random.default_rng(seed)
    N = 8
    w = 3 * rng.standard_normal(N)
    z0 = rng.uniform(-0.5, 0.5, N)  # a point of the set, so it is not empty
    lb, ub = np.full(N, -np.inf), np.full(N, np.inf)
    A = b = G = d = None
    if case in ("eq", "box+eq+ineq"):
        A = rng.standard_normal((2, N))
        b = A @ z0
    if case in ("ineq", "box+eq+ineq"):
        G = rng.standard_normal((5, N))
        d = G @ z0 + rng.uniform(0, 0.5, 5)
    if case == "box+eq+ineq":
        lb, ub = np.full(N, -1.0), np.full(N, 1.0)
    if case == "rowbox":
        G = np.vstack([np.eye(N)[:5] * 2.0, -np.eye(N)[3:]])  # 2 z_j <= d_j, -z_j <= d_j
        d = rng.uniform(0.1, 1.0, G.shape[0])
        lb[0] = -0.2
    P = AffineProjector(lb, ub, A_eq=A, A_in=G)
    assert P.kind == {"eq": "affine-equality", "rowbox": "row-box"}.get(case, "active-set")
    z, nu, mu = P.project(w, b if b is not None else np.zeros(0),
                          d if d is not None else np.zeros(0))
    ref = scipy_projection(w, lb, ub, A, b, G, d)
    np.testing.assert_allclose(z, ref, atol=1e-6)
    # KKT of the projection: w - z = A^T nu + G^T mu + (box part), mu >= 0, complementarity
    assert np.all(mu >= -1e-12)
    if G is not None:
        assert np.all(G @ z <= d + 1e-10)
        np.testing.assert_allclose(mu * (G @ z - d), 0.0, atol=1e-9)
    if A is not None:
        np.testing.assert_allclose(A @ z, b, atol=1e-10)
    if case in ("eq", "ineq"):  # no box: the multipliers reproduce w - z exactly
        r = w - z - (A.T @ nu if A is not None else 0) - (G.T @ mu if G is not None else 0)
        np.testing.assert_allclose(r, 0.0, atol=1e-9)


def test_active_set_qp_matches_nnls():
    rng = np.random.default_rng(1)
    B = rng.standard_normal((12, 6))
    t = rng.standard_normal(12)
    u, _, ok = active_set_qp(B.T @ B, B.T @ t, 0)
    ref, _ = scipy.optimize.nnls(B, t)
    assert ok
    np.testing.assert_allclose(u, ref, atol=1e-10)


def test_empty_sets_are_reported():
    with pytest.raises(InfeasibleSetError):
        AffineProjector(np.full(2, -np.inf), np.full(2, np.inf),
                        A_eq=np.ones((2, 2)) * [[1], [1]]).project(np.zeros(2), [0.0, 1.0])
    G = np.array([[1.0, 0.0], [-1.0, 0.0]])
    with pytest.raises(InfeasibleSetError):  # z0 <= -1 and z0 >= 1
        AffineProjector(np.full(2, -np.inf), np.full(2, np.inf), A_in=G).project(
            np.zeros(2), np.zeros(0), [-1.0, -1.0])


def test_nonlinear_projection_onto_a_ball():
    P = NonlinearProjector(np.full(3, -np.inf), np.full(3, np.inf),
                           g=lambda z: np.array([z @ z - 1.0]),
                           jac_g=lambda z: 2 * z[None, :])
    w = np.array([3.0, -4.0, 0.0])
    z = P.project(w)[0]
    np.testing.assert_allclose(z, w / 5.0, atol=1e-8)
    assert z @ z <= 1.0 + 1e-12
    inside = np.array([0.1, 0.2, 0.3])
    np.testing.assert_array_equal(P.project(inside)[0], inside)
