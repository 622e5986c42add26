"""Property-based tests (hypothesis) for method 'gns' and its curvature models."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import OptimizeWarning

import soptim
from soptim.backend import get_backend
from soptim.optimize._curvature import (
    DenseCurvature,
    KrylovCurvature,
    LowRankCurvature,
    Metric,
    OperatorCurvature,
)

SETTINGS = settings(max_examples=25, deadline=None)


def _quadratic(n, log_scale, seed, dtype):
    rng = np.random.default_rng(seed)
    Q = rng.standard_normal((n, n))
    A = (Q @ Q.T / n + np.eye(n)) * 10.0 ** log_scale
    b = rng.standard_normal(n) * 10.0 ** log_scale
    return A.astype(dtype), b.astype(dtype)


@SETTINGS
@given(n=st.integers(1, 12), log_scale=st.floats(-3, 3), seed=st.integers(0, 10 ** 6),
       dtype=st.sampled_from([np.float32, np.float64]),
       source=st.sampled_from(["hess", "hessp", "residuals", "per_sample_grads", "solve"]))
def test_quadratic_minimizer_all_sources(n, log_scale, seed, dtype, source):
    """min 0.5 x^T A x - b^T x = A^{-1} b for every curvature source, scale and dtype."""
    A, b = _quadratic(n, log_scale, seed, dtype)
    L = np.linalg.cholesky(A.astype(np.float64)).astype(dtype)  # A = L L^T = J^T J, J = L^T
    kw = {"hess": dict(hess=lambda x: A),
          "hessp": dict(hessp=lambda x, p: A @ p),
          "residuals": dict(options={"residuals": lambda x: L.T}),
          "per_sample_grads": dict(options={"per_sample_grads": lambda x: np.sqrt(n) * L.T}),
          "solve": dict(options={"solve": lambda x, r, lam: np.linalg.solve(
              A + lam * np.eye(n, dtype=dtype), r)})}[source]
    eps = np.finfo(dtype).eps
    gtol = 100 * eps ** 0.5 * np.linalg.norm(b) if dtype == np.float32 else (
        1e-10 * np.linalg.norm(b))
    x0 = np.zeros(n, dtype=dtype)
    res = soptim.minimize(lambda x: 0.5 * x @ A @ x - b @ x, x0, method="gns",
                          jac=lambda x: A @ x - b, tol=gtol, **kw)
    assert res.success, res.message
    assert res.x.dtype == dtype
    xstar = np.linalg.solve(A.astype(np.float64), b.astype(np.float64))
    # ||x - x*|| <= ||A^{-1}|| * gtol
    bound = gtol / np.linalg.eigvalsh(A.astype(np.float64)).min()
    assert np.linalg.norm(res.x - xstar) <= 2 * bound + 100 * eps * np.linalg.norm(xstar)


@SETTINGS
@given(k=st.integers(1, 8), n=st.integers(1, 12), lam=st.floats(1e-4, 1e4),
       seed=st.integers(0, 10 ** 6), with_d=st.booleans(), metric=st.booleans())
def test_woodbury_matches_dense_solve(k, n, lam, seed, with_d, metric):
    rng = np.random.default_rng(seed)
    V = rng.standard_normal((k, n))
    D = rng.uniform(0, 2, n) if with_d else None
    bdiag = rng.uniform(0.5, 2.0, n) if metric else None
    be = get_backend(V)
    m = Metric(bdiag, n, be, np.float64)
    rhs = rng.standard_normal(n)
    d = LowRankCurvature(V, D, m).solve(rhs, lam)
    M = V.T @ V + np.diag(D if with_d else np.zeros(n)) + lam * np.diag(
        bdiag if metric else np.ones(n))
    np.testing.assert_allclose(M @ d, rhs, rtol=1e-7, atol=1e-9 * np.linalg.norm(rhs))


@SETTINGS
@given(n=st.integers(1, 10), lam=st.floats(1e-3, 1e3), seed=st.integers(0, 10 ** 6),
       metric=st.sampled_from(["identity", "diagonal", "dense"]), psd=st.booleans())
def test_step_length_bounded_by_gamma(n, lam, seed, metric, psd):
    """For PSD H: ||(H + lam B)^{-1} g||_B <= ||g||_* / lam = gamma (the trust-radius bound).

    Indefinite H goes through |H| when Cholesky fails, where the bound holds too.
    """
    rng = np.random.default_rng(seed)
    Q = rng.standard_normal((n, n))
    H = Q @ Q.T if psd else Q + Q.T
    B = {"identity": None, "diagonal": rng.uniform(0.5, 2, n),
         "dense": np.eye(n) + 0.1 * (lambda R: R @ R.T)(rng.standard_normal((n, n)))}[metric]
    m = Metric(B, n, get_backend(H), np.float64)
    g = rng.standard_normal(n)
    model = DenseCurvature(H, m)
    d = model.solve(-g, lam)
    Bm = np.eye(n) if B is None else (np.diag(B) if B.ndim == 1 else B)
    step_norm = np.sqrt(d @ Bm @ d)
    assert g @ d < 0  # descent direction
    if psd or model.used_eig:
        assert step_norm <= m.dual_norm(g) / lam * (1 + 1e-8)


@SETTINGS
@given(n=st.integers(1, 15), lam=st.floats(1e-2, 1e2), seed=st.integers(0, 10 ** 6))
def test_cg_model_matches_dense(n, lam, seed):
    rng = np.random.default_rng(seed)
    Q = rng.standard_normal((n, n))
    H = Q @ Q.T
    m = Metric(None, n, get_backend(H), np.float64)
    rhs = rng.standard_normal(n)
    d_cg = OperatorCurvature(lambda v: H @ v, m, rtol=1e-12, maxiter=10 * n).solve(rhs, lam)
    d = DenseCurvature(H, m).solve(rhs, lam)
    np.testing.assert_allclose(d_cg, d, rtol=1e-7, atol=1e-9 * np.linalg.norm(d))


@SETTINGS
@given(c=st.floats(1e-4, 1e4), shift=st.floats(-1e3, 1e3))
def test_invariant_to_affine_changes_of_f(c, shift):
    """Scaling f by c > 0 and adding a constant does not change the minimizer."""
    from scipy.optimize import rosen, rosen_der, rosen_hess

    x0 = np.array([-1.2, 1.0, -0.5])
    with warnings.catch_warnings():
        warnings.simplefilter("error", OptimizeWarning)
        res = soptim.minimize(lambda x: c * rosen(x) + shift, x0, method="gns",
                              jac=lambda x: c * rosen_der(x), hess=lambda x: c * rosen_hess(x),
                              tol=1e-9 * c)
    assert res.success
    np.testing.assert_allclose(res.x, 1.0, atol=1e-7)


@SETTINGS
@given(n=st.integers(1, 15), seed=st.integers(0, 10 ** 6), diag=st.booleans(),
       lams=st.lists(st.floats(1e-2, 1e2), min_size=1, max_size=4))
def test_krylov_model_matches_dense_for_every_trial(n, seed, diag, lams):
    """One Lanczos basis answers several lam (trials) like a dense solve of each."""
    rng = np.random.default_rng(seed)
    Q = rng.standard_normal((n, n))
    H = Q @ Q.T
    B = rng.uniform(0.5, 2.0, n) if diag else None
    m = Metric(B, n, get_backend(H), np.float64)
    rhs = rng.standard_normal(n)
    products = []
    model = KrylovCurvature(lambda v: products.append(1) or H @ v, m, rtol=1e-12,
                            maxiter=10 * n)
    dense = DenseCurvature(H, m)
    for lam in lams:
        np.testing.assert_allclose(model.solve(rhs, lam), dense.solve(rhs, lam), rtol=1e-6,
                                   atol=1e-8 * np.linalg.norm(rhs) / lam)
    assert len(products) <= n  # the basis is shared: at most n products in all


# -- metric='hessian': the Hessian-diagonal scaling ---------------------------------------------

@settings(max_examples=10, deadline=None)
@given(st.lists(st.floats(-1.5, 1.5), min_size=4, max_size=4))
def test_hessian_metric_is_invariant_to_diagonal_rescaling(log_scales):
    # x = S y: with metric='hessian' the iterates in y are those in x divided by S, step by
    # step (the stopping test is on the Euclidean gradient, so only the path is compared)
    from scipy.optimize import rosen, rosen_der, rosen_hess

    S = 10.0 ** np.asarray(log_scales)
    x0 = np.array([-1.2, 1.0, -1.2, 1.0])

    def path(fun, jac, hess, z0):
        out = []
        soptim.minimize(fun, z0, method="gns", jac=jac, hess=hess, tol=1e-10,
                        options={"metric": "hessian", "maxiter": 15},
                        callback=lambda intermediate_result: out.append(intermediate_result.x))
        return np.array(out)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)  # maxiter=15 on purpose
        px = path(rosen, rosen_der, rosen_hess, x0)
        py = path(lambda y: rosen(S * y), lambda y: S * rosen_der(S * y),
                  lambda y: S[:, None] * rosen_hess(S * y) * S[None, :], x0 / S)
    assert px.shape == py.shape == (15, 4)
    np.testing.assert_allclose(py * S, px, rtol=1e-8, atol=1e-10)


def test_hessian_metric_with_every_formed_model():
    # dense, sparse and Gauss-Newton curvature accept metric='hessian' and solve the problem
    import scipy.sparse as sps
    from scipy.optimize import rosen, rosen_der, rosen_hess

    x0 = np.array([-1.2, 1.0, 0.5])
    for hess in (rosen_hess, lambda x: sps.csr_matrix(rosen_hess(x))):
        res = soptim.minimize(rosen, x0, method="gns", jac=rosen_der, hess=hess, tol=1e-8,
                              options={"metric": "hessian"})
        assert res.success, res.message
        np.testing.assert_allclose(res.x, 1.0, rtol=1e-6)
    rng = np.random.default_rng(1)
    A = rng.standard_normal((30, 5)) * np.array([1e-2, 1.0, 10.0, 1e2, 1.0])
    c = rng.standard_normal(30)
    res = soptim.minimize(lambda x: (0.5 * np.sum((A @ x - c) ** 2), A.T @ (A @ x - c)),
                          np.zeros(5), method="gns", jac=True, tol=1e-10,
                          options={"metric": "hessian", "residuals": lambda x: A})
    assert res.success, res.message
    np.testing.assert_allclose(res.x, np.linalg.lstsq(A, c, rcond=None)[0], rtol=1e-8)
    # a metric name that does not exist is refused, naming the option
    with pytest.raises(ValueError, match="metric"):
        soptim.minimize(rosen, x0, method="gns", jac=rosen_der, hess=rosen_hess,
                        options={"metric": "hessain"})
