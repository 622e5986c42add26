"""The Lanczos-shared matrix-free solver of 'gns' (KrylovCurvature) against direct solves and CG."""

import numpy as np
import pytest

from soptim.backend import get_backend
from soptim.optimize._curvature import KrylovCurvature, Metric, conjugate_gradient


def _krylov(H, rtol=1e-12, metric=None):
    n = H.shape[0]
    be = get_backend(H)
    return KrylovCurvature(lambda v: H @ v, Metric(metric, n, be, H.dtype), rtol, 2 * n)


def _spd(n, seed=0):
    A = np.random.default_rng(seed).standard_normal((n, n))
    return A @ A.T / n + 0.1 * np.eye(n)


@pytest.mark.parametrize("metric", [None, "diagonal"])
def test_solves_match_the_direct_solve_for_every_lam(metric):
    n = 40
    H = _spd(n)
    B = None if metric is None else np.linspace(0.5, 3.0, n)
    model = _krylov(H, metric=B)
    rhs = np.random.default_rng(1).standard_normal(n)
    Bm = np.eye(n) if B is None else np.diag(B)
    for lam in (10.0, 1.0, 1e-2):  # decreasing lam: the basis only grows
        np.testing.assert_allclose(model.solve(rhs, lam), np.linalg.solve(H + lam * Bm, rhs),
                                   rtol=1e-8, atol=1e-10)


def test_a_larger_lam_reuses_the_basis():
    H = _spd(60)
    model = _krylov(H, rtol=1e-6)
    rhs = np.ones(60)
    model.solve(rhs, 1e-3)
    products = model.cg_iterations
    model.solve(rhs, 1.0)  # better conditioned: the existing basis suffices
    assert model.cg_iterations == products


def test_negative_curvature_stops_like_cg():
    # H with one negative eigenvalue: CG on H + lam I stops when it meets it.
    n = 30
    w = np.r_[np.linspace(1.0, 2.0, n - 1), -5.0]
    Q = np.linalg.qr(np.random.default_rng(3).standard_normal((n, n)))[0]
    H = (Q * w) @ Q.T
    rhs = np.random.default_rng(4).standard_normal(n)
    lam = 0.5
    d = _krylov(H).solve(rhs, lam)
    ref, info = conjugate_gradient(lambda v: H @ v + lam * v, rhs, 1e-12, 2 * n, np)
    assert info == "negative curvature"
    np.testing.assert_allclose(d, ref, rtol=1e-6, atol=1e-8)
    assert rhs @ d > 0  # a descent direction for g = -rhs


def test_negative_curvature_at_the_first_step_rejects_the_trial():
    H = -np.eye(20)
    assert _krylov(H).solve(np.ones(20), 0.5) is None
