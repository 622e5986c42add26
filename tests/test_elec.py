"""COPS Elec and the ellipsoid QP of issue 14 with method='sketched-alm' against trust-constr."""

import warnings

import numpy as np
import pytest
import scipy.optimize

import soptim
from soptim.optimize._test_problems import ELEC_OPTIMA, elec_problem, ellipsoid_qp_problem


def _trust_constr(P, constraints):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return scipy.optimize.minimize(P["fun"], P["x0"], method="trust-constr", jac=P["jac"],
                                       hess=P["hess"], constraints=constraints)


def test_elec_20_reaches_the_published_optimum_without_n_sized_svd(monkeypatch):
    P = elec_problem(20)
    calls = {"svd": 0, "eigvalsh": 0}
    for name in calls:
        real = getattr(np.linalg, name)

        def spy(*a, _real=real, _name=name, **k):
            calls[_name] += 1
            return _real(*a, **k)
        monkeypatch.setattr(np.linalg, name, spy)
    res = soptim.minimize(P["fun"], P["x0"], method="sketched-alm", jac=P["jac"],
                          hess=P["hess"], constraints=P["con"], options={"rng": 0})
    assert res.success, res.message
    assert res.optimality <= 1e-8
    assert res.fun == pytest.approx(ELEC_OPTIMA[20], rel=1e-8)
    np.testing.assert_allclose((res.x.reshape(-1, 3) ** 2).sum(axis=1), 1.0, atol=1e-10)
    # the dense SVD/eigendecompositions per iteration are gone: one rank test at the end
    assert calls["eigvalsh"] == 0 and calls["svd"] <= 1 and res.nit > 5
    monkeypatch.undo()
    tc = _trust_constr(P, P["con"])
    assert res.fun <= tc.fun + 1e-8 * abs(tc.fun)


def test_elec_hessian_matches_finite_differences():
    P = elec_problem(6)
    x = P["x0"]
    H = P["hess"](x)
    Hfd = scipy.optimize.approx_fprime(x, P["jac"], 1e-7)
    np.testing.assert_allclose(H, Hfd, atol=1e-4 * np.abs(H).max())
    np.testing.assert_allclose(H, H.T, atol=1e-12)


def test_ellipsoid_qp_default_options_within_twice_trust_constr_iterations():
    P = ellipsoid_qp_problem(50)
    res = soptim.minimize(P["fun"], P["x0"], method="sketched-alm", jac=P["jac"],
                          hess=P["hess"], constraints=P["constraints"], options={"rng": 0})
    assert res.success, res.message
    tc = _trust_constr(P, P["constraints"])
    assert res.fun == pytest.approx(tc.fun, rel=1e-7, abs=1e-7)
    assert res.nit <= 2 * tc.nit
    x = res.x
    assert abs(x @ (P["d"] * x) - 1.0) <= 1e-9 and abs(x.sum() - 1.0) <= 1e-9


def test_qp_with_linear_constraints_takes_one_exact_newton_step():
    rng = np.random.default_rng(1)
    n = 30
    M = rng.standard_normal((n, n))
    Q = M @ M.T + n * np.eye(n)
    q = rng.standard_normal(n)
    A = rng.standard_normal((5, n))
    b = rng.standard_normal(5)
    con = scipy.optimize.LinearConstraint(A, b, b)
    res = soptim.minimize(lambda x: 0.5 * x @ Q @ x - q @ x, np.zeros(n),
                          method="sketched-alm", jac=lambda x: Q @ x - q, hess=lambda x: Q,
                          constraints=con, options={"rng": 0})
    assert res.success and res.nit == 1, (res.nit, res.message)
    K = np.block([[Q, A.T], [A, np.zeros((5, 5))]])
    sol = np.linalg.solve(K, np.r_[q, b])
    np.testing.assert_allclose(res.x, sol[:n], atol=1e-10)


def test_slow_sketch_switches_to_the_block_sketch_with_a_warning():
    P = ellipsoid_qp_problem(20)
    with pytest.warns(scipy.optimize.OptimizeWarning, match="switching to sketch='block'"):
        res = soptim.minimize(P["fun"], P["x0"], method="sketched-alm", jac=P["jac"],
                              hess=P["hess"], constraints=P["constraints"],
                              options={"rng": 0, "sketch": "kaczmarz", "accel": 0})
    assert res.success, res.message
    ref = soptim.minimize(P["fun"], P["x0"], method="sketched-alm", jac=P["jac"],
                          hess=P["hess"], constraints=P["constraints"], options={"rng": 0})
    assert res.fun == pytest.approx(ref.fun, rel=1e-8, abs=1e-10)


def test_elec_start_with_a_near_collision_is_solved():
    # two electrons 4e-4 apart: ||B|| ~ 1e10 and the reduced Hessian needs a shift ~ 1e10;
    # unscaled, the constraint rows' Schur pivots (~ ||J||^2 / shift) fell below the zero
    # tolerance of the inertia test, every shift failed it and the run stopped at iteration 0
    P = elec_problem(20)
    X = P["x0"].reshape(-1, 3).copy()
    e = np.cross(X[0], [0.0, 0.0, 1.0])
    X[1] = X[0] + 4e-4 * e / np.linalg.norm(e)
    X[1] /= np.linalg.norm(X[1])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = soptim.minimize(P["fun"], X.ravel(), method="sketched-alm", jac=P["jac"],
                              hess=P["hess"], constraints=P["con"], options={"rng": 0})
    assert res.success, res.message
    assert res.optimality <= 1e-8
    assert res.fun == pytest.approx(ELEC_OPTIMA[20], rel=1e-8)
    np.testing.assert_allclose((res.x.reshape(-1, 3) ** 2).sum(axis=1), 1.0, atol=1e-10)
