"""The GPU suite: every public entry point and option family on CuPy, against NumPy.

Each test solves one problem on the host and on the device (the ``cp`` fixture from
``tests/conftest.py``: skipped without CuPy or a CUDA device), checks that device inputs
give device outputs, and compares the two results. The problems are written once against
the backend of their argument (``get_backend(x).xp``), so host and device run the same
code. Run: ``pytest tests/test_gpu.py -rs``.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sps
from scipy.optimize import Bounds, LinearConstraint

import soptim
from soptim import ot as sot
from soptim.approx import ChebTucker
from soptim.backend import get_backend, to_numpy
from soptim.bilevel import minimize as bilevel_minimize
from soptim.linalg import SKETCHES, sketch_solve

pytestmark = pytest.mark.gpu


def _host(a):
    """A result as a NumPy array (device arrays copied back)."""
    return np.asarray(to_numpy(a))


def _device(cp):
    """The device backend (``be.xp`` the GPU array module, ``be.scipy`` its scipy)."""
    return get_backend(cp.zeros(1))


# -- soptim.ot ---------------------------------------------------------------------------------

def _ot_problem(n=40, m=30, seed=0):
    rng = np.random.default_rng(seed)
    X, Y = rng.random((n, 2)), rng.random((m, 2))
    a = rng.random(n) + 0.1
    b = rng.random(m) + 0.1
    return a / a.sum(), b / b.sum(), sot.dist(X, Y), X, Y


def test_ot_solve_and_sinkhorn_methods(cp):
    a, b, M, _, _ = _ot_problem()
    ref = sot.solve(M, a, b, 0.05, tol=1e-10)
    res = sot.solve(cp.asarray(M), cp.asarray(a), cp.asarray(b), 0.05, tol=1e-10)
    assert res.success and isinstance(res.plan, cp.ndarray)
    assert isinstance(res.potentials[0], cp.ndarray)
    np.testing.assert_allclose(_host(res.plan), ref.plan, atol=1e-10)
    assert abs(float(res.value) - float(ref.value)) <= 1e-9 * abs(float(ref.value))
    for method in ("sns", "sinkhorn", "sinkhorn_log"):
        P = sot.sinkhorn(a, b, M, 0.05, method=method, stopThr=1e-10)
        Pg = sot.sinkhorn(cp.asarray(a), cp.asarray(b), cp.asarray(M), 0.05, method=method,
                          stopThr=1e-10)
        assert isinstance(Pg, cp.ndarray)
        np.testing.assert_allclose(_host(Pg), P, atol=1e-10)
    w = sot.sinkhorn2(a, b, M, 0.05, stopThr=1e-10)
    wg = sot.sinkhorn2(cp.asarray(a), cp.asarray(b), cp.asarray(M), 0.05, stopThr=1e-10)
    assert abs(float(wg) - float(w)) <= 1e-9 * abs(float(w))


def test_ot_kernel_domain_newton_on_device(cp, monkeypatch):
    # SNS at small reg: the Newton plans are scaled from a reference kernel on the device
    # (the array-module twin of the numba pass), same iterates as on the host
    from soptim.ot import _problem as PR

    a, b, M, _, _ = _ot_problem()
    calls = []
    scaled = PR.scaled_plan_marginals

    def counting(K0, *args, **kw):
        calls.append(type(K0))
        return scaled(K0, *args, **kw)

    monkeypatch.setattr(PR, "scaled_plan_marginals", counting)
    ref = sot.solve(M, a, b, 2e-3, tol=1e-10)
    res = sot.solve(cp.asarray(M), cp.asarray(a), cp.asarray(b), 2e-3, tol=1e-10)
    assert res.success and res.n_newton > 0 and isinstance(res.plan, cp.ndarray)
    assert cp.ndarray in calls  # scaled plans ran on the device
    assert res.n_newton == ref.n_newton
    np.testing.assert_allclose(_host(res.plan), ref.plan, atol=1e-12)


def test_ot_batched_b_zero_masses_and_list_masses(cp):
    a, b, M, _, _ = _ot_problem(seed=1)
    B = np.random.default_rng(2).random((b.size, 3)) + 0.05
    B /= B.sum(axis=0)
    costs = sot.sinkhorn(a, B, M, 0.05, stopThr=1e-10)
    costs_g = sot.sinkhorn(cp.asarray(a), cp.asarray(B), cp.asarray(M), 0.05, stopThr=1e-10)
    assert isinstance(costs_g, cp.ndarray) and costs_g.shape == (3,)
    np.testing.assert_allclose(_host(costs_g), costs, rtol=1e-9)
    np.testing.assert_allclose(_host(sot.sinkhorn2(cp.asarray(a), cp.asarray(B), cp.asarray(M),
                                                   0.05, stopThr=1e-10)),
                               sot.sinkhorn2(a, B, M, 0.05, stopThr=1e-10), rtol=1e-9)
    # zero masses: their rows / columns of the plan are zero on both backends
    az, bz = a.copy(), b.copy()
    az[[0, 5]] = 0.0
    bz[[3]] = 0.0
    az, bz = az / az.sum(), bz / bz.sum()
    P = sot.sinkhorn(az, bz, M, 0.05, stopThr=1e-10)
    Pg = sot.sinkhorn(cp.asarray(az), cp.asarray(bz), cp.asarray(M), 0.05, stopThr=1e-10)
    np.testing.assert_allclose(_host(Pg), P, atol=1e-10)
    assert not _host(Pg)[[0, 5]].any() and not _host(Pg)[:, 3].any()
    # masses given as lists with a device cost, as POT accepts them
    Pl = sot.sinkhorn(a.tolist(), b.tolist(), cp.asarray(M), 0.05, stopThr=1e-10)
    assert isinstance(Pl, cp.ndarray)
    np.testing.assert_allclose(_host(Pl), sot.sinkhorn(a, b, M, 0.05, stopThr=1e-10),
                               atol=1e-10)


def test_ot_warmstart(cp):
    a, b, M, _, _ = _ot_problem(seed=3)
    _, log = sot.sinkhorn(a, b, M, 0.05, stopThr=1e-10, log=True)
    _, log_g = sot.sinkhorn(cp.asarray(a), cp.asarray(b), cp.asarray(M), 0.05, stopThr=1e-10,
                            log=True)
    assert isinstance(log_g["log_u"], cp.ndarray)
    np.testing.assert_allclose(_host(log_g["log_u"]) - _host(log_g["log_v"]).mean(),
                               log["log_u"] - log["log_v"].mean(), atol=1e-8)
    ws = (log["log_u"], log["log_v"])
    P, warm = sot.sinkhorn(a, b, M, 0.05, stopThr=1e-10, log=True, warmstart=ws)
    Pg, warm_g = sot.sinkhorn(cp.asarray(a), cp.asarray(b), cp.asarray(M), 0.05, stopThr=1e-10,
                              log=True, warmstart=tuple(cp.asarray(w) for w in ws))
    np.testing.assert_allclose(_host(Pg), P, atol=1e-10)
    # started at the solution: (almost) no work on either backend
    assert warm_g["niter"] <= max(2, warm["niter"] + 1)
    res = sot.solve(cp.asarray(M), cp.asarray(a), cp.asarray(b), 0.05, tol=1e-10,
                    warmstart=tuple(cp.asarray(w) for w in ws))
    assert res.success and isinstance(res.plan, cp.ndarray)


def test_ot_exact_1d_dist_unif_and_duals(cp):
    a, b, M, X, Y = _ot_problem(20, 15, seed=4)
    P, log = sot.emd(cp.asarray(a), cp.asarray(b), cp.asarray(M), log=True)
    assert isinstance(P, cp.ndarray)
    np.testing.assert_allclose(_host(P), sot.emd(a, b, M), atol=1e-12)
    assert abs(float(sot.emd2(cp.asarray(a), cp.asarray(b), cp.asarray(M)))
               - float(sot.emd2(a, b, M))) <= 1e-12
    x, y = X[:, 0], Y[:, 0]
    G = sot.emd_1d(cp.asarray(x), cp.asarray(y), cp.asarray(a), cp.asarray(b))
    assert isinstance(G, cp.ndarray)
    np.testing.assert_allclose(_host(G), sot.emd_1d(x, y, a, b), atol=1e-14)
    assert np.isclose(float(sot.wasserstein_1d(cp.asarray(x), cp.asarray(y), cp.asarray(a),
                                               cp.asarray(b), p=2)),
                      float(sot.wasserstein_1d(x, y, a, b, p=2)), rtol=1e-12)
    Mg = sot.dist(cp.asarray(X), cp.asarray(Y))
    assert isinstance(Mg, cp.ndarray)
    np.testing.assert_allclose(_host(Mg), M, rtol=1e-12, atol=1e-14)
    u = sot.unif(7, type_as=cp.zeros(1))
    assert isinstance(u, cp.ndarray) and np.allclose(_host(u), 1 / 7)
    f, g = np.linspace(-0.1, 0.1, a.size), np.linspace(0.05, -0.05, b.size)
    dev = [cp.asarray(v) for v in (a, b, M, f, g)]
    assert np.isclose(float(sot.dual_value(*dev, 0.1)), float(sot.dual_value(a, b, M, f, g, 0.1)),
                      rtol=1e-12)
    for got, want in zip(sot.dual_gradient(*dev, 0.1), sot.dual_gradient(a, b, M, f, g, 0.1)):
        np.testing.assert_allclose(_host(got), want, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(_host(sot.plan_from_potentials(dev[2], dev[3], dev[4], 0.1)),
                               sot.plan_from_potentials(M, f, g, 0.1), rtol=1e-12)
    H = sot.dual_hessian(dev[2], dev[3], dev[4], 0.1)
    Hh = sot.dual_hessian(M, f, g, 0.1)
    np.testing.assert_allclose(_host(get_backend(H).densify(H)),
                               get_backend(Hh).densify(Hh), rtol=1e-10, atol=1e-14)


def test_ot_wasserstein_and_pairwise_distances(cp):
    a, b, M, X, Y = _ot_problem(25, 25, seed=5)
    w, _ = sot.wasserstein(a, b, X, Y, reg=0.05)
    wg, res = sot.wasserstein(cp.asarray(a), cp.asarray(b), cp.asarray(X), cp.asarray(Y),
                              reg=0.05)
    assert isinstance(res.plan, cp.ndarray)
    assert np.isclose(float(wg), float(w), rtol=1e-8)
    rng = np.random.default_rng(6)
    H = rng.random((4, 25)) + 0.1
    H /= H.sum(axis=1, keepdims=True)
    S = sot.dist(X, X)  # histograms on one support: a symmetric cost
    D = sot.pairwise_distances(H, M=S, reg=0.05)
    Dg = sot.pairwise_distances(cp.asarray(H), M=cp.asarray(S), reg=0.05)
    assert isinstance(Dg, cp.ndarray)
    np.testing.assert_allclose(_host(Dg), D, rtol=1e-8, atol=1e-12)


# -- soptim.minimize(method='gns') ----------------------------------------------------------------

def _logistic(A, y, alpha):
    """L2-regularized logistic regression on the backend of ``A``: fun, jac, hess, residuals."""
    xp = get_backend(A).xp

    def weights(x):
        s = 1.0 / (1.0 + xp.exp(-y * (A @ x)))
        return s * (1.0 - s)

    def fun(x):
        return float(xp.logaddexp(0.0, -y * (A @ x)).sum() + 0.5 * alpha * (x @ x))

    def jac(x):
        return A.T @ (-y / (1.0 + xp.exp(y * (A @ x)))) + alpha * x

    def hess(x):
        return A.T @ (weights(x)[:, None] * A) + alpha * xp.eye(A.shape[1])

    def residuals(x):
        return A, weights(x)

    return fun, jac, hess, residuals


def _logistic_data(m, n, seed=0):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n)) / np.sqrt(n)
    y = np.sign(A @ rng.standard_normal(n) + 0.3 * rng.standard_normal(m))
    return A, y


def _gns_variant(A, y, variant):
    """``(jac, hess, hessp, options)`` of one gns option family, on the backend of ``A``."""
    be = get_backend(A)
    alpha = 0.1
    fun, jac, hess, residuals = _logistic(A, y, alpha)
    n = A.shape[1]
    if variant == "dense":
        return fun, dict(jac=jac, hess=hess)
    if variant == "sparse":
        return fun, dict(jac=jac, hess=lambda x: be.scipy.sparse.csr_matrix(hess(x)))
    if variant == "linear-operator":
        def op(x):
            H = hess(x)
            return be.linear_operator((n, n), lambda p: H @ p, dtype=np.float64)
        return fun, dict(jac=jac, hess=op)
    if variant == "hessp":
        return fun, dict(jac=jac, hessp=lambda x, p: hess(x) @ p)
    if variant in ("gauss-newton", "woodbury"):
        return fun, dict(jac=jac, options={"residuals": residuals, "hess_diag": alpha})
    if variant == "metric":
        d = be.asarray(np.linspace(0.5, 2.0, n))
        return fun, dict(jac=jac, hess=hess, options={"metric": d})
    if variant == "metric-hessian":
        return fun, dict(jac=jac, hess=hess, options={"metric": "hessian"})
    if variant == "fd-hessp":
        return fun, dict(jac=jac)  # finite-difference Hessian-vector products of jac
    if variant == "fd-gradient":
        return fun, dict(hess=hess)  # finite-difference gradient
    raise AssertionError(variant)


@pytest.mark.parametrize("variant", ["dense", "sparse", "linear-operator", "hessp",
                                     "gauss-newton", "woodbury", "metric", "metric-hessian",
                                     "fd-hessp", "fd-gradient"])
def test_gns_option_families(cp, variant):
    m, n = (20, 50) if variant == "woodbury" else (120, 15)  # m < n: the Woodbury side
    A, y = _logistic_data(m, n)
    tol = 1e-5 if variant == "fd-gradient" else 1e-8
    fun, kw = _gns_variant(A, y, variant)
    ref = soptim.minimize(fun, np.zeros(n), method="gns", tol=tol, **kw)
    fun_g, kw_g = _gns_variant(cp.asarray(A), cp.asarray(y), variant)
    res = soptim.minimize(fun_g, cp.zeros(n), method="gns", tol=tol, **kw_g)
    assert ref.success, ref.message
    assert res.success, res.message
    assert isinstance(res.x, cp.ndarray) and isinstance(res.jac, cp.ndarray)
    np.testing.assert_allclose(_host(res.x), ref.x, atol=1e-4 if variant == "fd-gradient"
                               else 1e-6)
    assert abs(res.fun - ref.fun) <= 1e-8 * max(1.0, abs(ref.fun))


def test_scipy_methods_refuse_device_x0(cp):
    A, y = _logistic_data(30, 5)
    fun, jac, _, _ = _logistic(cp.asarray(A), cp.asarray(y), 0.1)
    with pytest.raises(TypeError, match=r"x0 is a GPU array.*'BFGS'"):
        soptim.minimize(fun, cp.zeros(5), method="BFGS", jac=jac)
    with pytest.raises(TypeError, match="x0 is a GPU array"):
        soptim.minimize(fun, cp.zeros(5), jac=jac)


# -- soptim.minimize(method='sketched-alm') ------------------------------------------------------

def _eq_problem(n=400, m=150, seed=0):
    """min 1/2 ||x - c||^2 + 1/40 sum x^4 s.t. A x = b with sparse A: n + m = 550 > 500 (the
    random-block sketch path)."""
    rng = np.random.default_rng(seed)
    A = sps.random(m, n, density=0.03, random_state=seed, format="csr") + sps.eye(m, n)
    b = A @ rng.standard_normal(n)
    c = rng.standard_normal(n)
    return A.tocsr(), b, c


def _eq_funcs(c):
    be = get_backend(c)

    def fun(x):
        return float(0.5 * ((x - c) @ (x - c)) + 0.025 * (x ** 4).sum())

    def jac(x):
        return x - c + 0.1 * x ** 3

    def hess(x):
        return be.scipy.sparse.diags([1.0 + 0.3 * x ** 2], [0], format="csr")

    return fun, jac, hess


@pytest.mark.parametrize("form", ["linear-constraint", "dict-device-sparse-jac"])
def test_sketched_alm_sparse_constraints_large(cp, form):
    A, b, c = _eq_problem()
    fun, jac, hess = _eq_funcs(c)
    opts = {"rng": 0}
    ref = soptim.minimize(fun, np.zeros(c.size), method="sketched-alm", jac=jac, hess=hess,
                          constraints=LinearConstraint(A, b, b), options=opts)
    be = _device(cp)
    fun_g, jac_g, hess_g = _eq_funcs(cp.asarray(c))
    if form == "linear-constraint":  # scipy's object with a host sparse matrix, as users write
        cons = LinearConstraint(A, b, b)
    else:  # a dict whose jac returns the device's sparse matrix
        Ag, bg = be.to_device(A), cp.asarray(b)
        cons = {"type": "eq", "fun": lambda x: Ag @ x - bg, "jac": lambda x: Ag}
    res = soptim.minimize(fun_g, cp.zeros(c.size), method="sketched-alm", jac=jac_g, hess=hess_g,
                          constraints=cons, options=opts)
    assert ref.success, ref.message
    assert res.success, res.message
    assert isinstance(res.x, cp.ndarray)
    np.testing.assert_allclose(_host(res.x), ref.x, atol=1e-6)
    assert np.abs(A @ _host(res.x) - b).max() <= 1e-6


def test_sketched_alm_hessp_operator_kkt(cp):
    # B known through products only: the KKT matrix is the backend's LinearOperator
    A, b, c = _eq_problem(60, 20, seed=2)
    fun, jac, _ = _eq_funcs(c)
    ref = soptim.minimize(fun, np.zeros(60), method="sketched-alm", jac=jac,
                          hessp=lambda x, p: (1.0 + 0.3 * x ** 2) * p,
                          constraints=LinearConstraint(A, b, b), options={"rng": 0})
    fun_g, jac_g, _ = _eq_funcs(cp.asarray(c))
    res = soptim.minimize(fun_g, cp.zeros(60), method="sketched-alm", jac=jac_g,
                          hessp=lambda x, p: (1.0 + 0.3 * x ** 2) * p,
                          constraints=LinearConstraint(A, b, b), options={"rng": 0})
    assert ref.success and res.success, res.message
    assert isinstance(res.x, cp.ndarray)
    np.testing.assert_allclose(_host(res.x), ref.x, atol=1e-6)


def test_sketched_alm_gaussian_sketch_and_fd_hessian(cp):
    A, b, c = _eq_problem(60, 20, seed=1)
    fun, jac, _ = _eq_funcs(c)
    opts = {"sketch": "gaussian", "rng": 0}
    ref = soptim.minimize(fun, np.zeros(60), method="sketched-alm", jac=jac,
                          constraints=LinearConstraint(A, b, b), options=opts)
    fun_g, jac_g, _ = _eq_funcs(cp.asarray(c))
    res = soptim.minimize(fun_g, cp.zeros(60), method="sketched-alm", jac=jac_g,
                          constraints=LinearConstraint(A, b, b), options=opts)
    assert ref.success and res.success, res.message
    np.testing.assert_allclose(_host(res.x), ref.x, atol=1e-6)


# -- soptim.linalg.sketch_solve -------------------------------------------------------------------

def _spd(n=30, seed=0):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    K = Q @ np.diag(np.linspace(1.0, 10.0, n)) @ Q.T
    x = rng.standard_normal(n)
    return K, K @ x, x


def _laplacian_like(n, seed=0):
    K = sps.random(n, n, density=0.01, random_state=seed, format="csr")
    K = K + K.T + sps.diags(4.0 + np.abs(K).sum(axis=1).A.ravel())
    x = np.random.default_rng(seed).standard_normal(n)
    return K.tocsr(), K @ x, x


@pytest.mark.parametrize("sketch, kind", [(s, k) for s in SKETCHES for k in ("dense", "sparse")]
                         + [("block", "sparse-large")])  # 600 rows: 256-row sparse-LU blocks
def test_sketch_solve_every_sketch(cp, sketch, kind):
    if kind == "dense":
        K, r, x = _spd()
    else:
        K, r, x = _laplacian_like(200 if kind == "sparse" else 600)
    ref = sketch_solve(K, r, sketch=sketch, rng=0, rtol=1e-10)
    Kg = cp.asarray(K) if kind == "dense" else _device(cp).to_device(K)
    res = sketch_solve(Kg, cp.asarray(r), sketch=sketch, rng=0, rtol=1e-10)
    assert ref.success, ref.message
    assert res.success, res.message
    assert isinstance(res.x, cp.ndarray)
    np.testing.assert_allclose(_host(res.x), x, atol=1e-7)
    np.testing.assert_allclose(_host(res.x), ref.x, atol=1e-7)
    # same seed, same result on the device
    again = sketch_solve(Kg, cp.asarray(r), sketch=sketch, rng=0, rtol=1e-10)
    np.testing.assert_array_equal(_host(again.x), _host(res.x))


@pytest.mark.parametrize("sketch", SKETCHES)
def test_sketch_solve_device_linear_operator(cp, sketch):
    # the GPU's LinearOperator (not a scipy subclass): rows and sketches by device products
    K, r, x = _spd(20)
    Kg = cp.asarray(K)
    op = _device(cp).linear_operator(K.shape, lambda v: Kg @ v, rmatvec=lambda v: Kg.T @ v,
                                     matmat=lambda V: Kg @ V, rmatmat=lambda V: Kg.T @ V)
    ref = sketch_solve(K, r, sketch=sketch, rng=0, rtol=1e-10)
    res = sketch_solve(op, cp.asarray(r), sketch=sketch, rng=0, rtol=1e-10)
    assert ref.success and res.success, res.message
    assert isinstance(res.x, cp.ndarray)
    np.testing.assert_allclose(_host(res.x), x, atol=1e-8)


def test_sketch_solve_indefinite_gram_and_rescaling(cp):
    # a rank-deficient consistent system (singular blocks: the Cholesky refuses, eigh is used)
    rng = np.random.default_rng(3)
    B = rng.standard_normal((12, 4))
    K = B @ B.T
    r = K @ rng.standard_normal(12)
    ref = sketch_solve(K, r, rng=0, rtol=1e-10)
    res = sketch_solve(cp.asarray(K * 1e300), cp.asarray(r * 1e300), rng=0, rtol=1e-10)
    assert ref.success and res.success, res.message
    np.testing.assert_allclose(_host(res.x), ref.x, atol=1e-8)


def test_backend_cholesky_refuses_indefinite_on_device(cp):
    be = _device(cp)
    assert be.cholesky(cp.asarray([[1.0, 2.0], [2.0, 1.0]])) is None
    assert be.cholesky(cp.asarray(np.diag([1.0, -1e-3, 2.0]))) is None
    A = np.array([[4.0, 2.0], [2.0, 3.0]])
    L = be.cholesky(cp.asarray(A))
    np.testing.assert_allclose(_host(L), np.linalg.cholesky(A), rtol=1e-14)
    g1 = be.random_generator(np.random.default_rng(0)).standard_normal((5, 3))
    g2 = be.random_generator(np.random.default_rng(0)).standard_normal((5, 3))
    assert isinstance(g1, cp.ndarray) and np.array_equal(_host(g1), _host(g2))


# -- soptim.approx.ChebTucker ------------------------------------------------------------------

def _gauss3(x, y, z):
    xp = get_backend(x).xp
    return xp.exp(-(x ** 2 + 2 * y ** 2 + 0.5 * z ** 2))


def _bump3(x, y, z):
    xp = get_backend(x).xp
    return 1.0 / (1.0 + x ** 2 + y ** 2 + z ** 2) + 0.1 * xp.cos(x)


CUBE = [(-1.0, 1.0)] * 3


def test_chebtucker_fit_arithmetic_derivative_integral(cp):
    g, h = (ChebTucker.fit(f, CUBE, tol=1e-10, sampling="grid") for f in (_gauss3, _bump3))
    gd, hd = (ChebTucker.fit(f, CUBE, tol=1e-10, sampling="grid", backend="cupy")
              for f in (_gauss3, _bump3))
    assert isinstance(gd.core, cp.ndarray) and gd.ranks == g.ranks and gd.degrees == g.degrees
    P = np.random.default_rng(0).uniform(-1, 1, (500, 3))
    Pd = cp.asarray(P)
    pairs = [(g + h, gd + hd), (g - 2.0, gd - 2.0), (3.0 * g, 3.0 * gd), (g / 4.0, gd / 4.0),
             (-h, -hd), (g.derivative(1), gd.derivative(1))]
    for host, dev in pairs:
        out = dev.evaluate(Pd)
        assert isinstance(out, cp.ndarray)
        np.testing.assert_allclose(_host(out), host.evaluate(P), atol=1e-9)
    assert np.isclose(float(gd.integrate()), float(g.integrate()), rtol=1e-12)


def test_chebtucker_from_cp(cp):
    widths = np.array([1.0, 4.0])

    def u(x):  # canonical vectors exp(-w_k x^2), on the backend of x
        xp = get_backend(x).xp
        x = xp.asarray(x)
        return xp.exp(-x[:, None] ** 2 * xp.asarray(widths)[None, :])

    host = ChebTucker.from_cp(np.ones(2), [u] * 3, domain=CUBE, tol=1e-10)
    dev = ChebTucker.from_cp(cp.ones(2), [u] * 3, domain=CUBE, tol=1e-10)
    assert isinstance(dev.core, cp.ndarray) and dev.ranks == host.ranks
    grid = [np.linspace(-1, 1, 41)] * 3
    vals = [u(gr) for gr in grid]
    host_arr = ChebTucker.from_cp(np.ones(2), vals, grid=grid, tol=1e-8)
    dev_arr = ChebTucker.from_cp(cp.ones(2), [cp.asarray(v) for v in vals], grid=grid, tol=1e-8)
    P = np.random.default_rng(1).uniform(-1, 1, (300, 3))
    for h, d in ((host, dev), (host_arr, dev_arr)):
        np.testing.assert_allclose(_host(d.evaluate(cp.asarray(P))), h.evaluate(P), atol=1e-9)


# -- soptim.bilevel.minimize ----------------------------------------------------------------------

def _toy_bilevel(n):
    """Upper level 1/2||x - 1||^2 + 1/2||y - 2||^2; lower level 1/2||y - x||^2 (inside a box
    for y, its solution is x clipped to the box)."""

    def F(x, y):
        xp = get_backend(x).xp
        return 0.5 * float(xp.sum((x - 1.0) ** 2)) + 0.5 * float(xp.sum((y - 2.0) ** 2))

    def f(x, y):
        xp = get_backend(x).xp
        return 0.5 * float(xp.sum((y - x) ** 2))

    def jac_F(x, y):
        return x - 1.0, y - 2.0

    def jac_f(x, y):
        return x - y, y - x

    return F, f, jac_F, jac_f


def test_bilevel_with_boxes(cp):
    n = 3
    F, f, jac_F, jac_f = _toy_bilevel(n)
    bx = Bounds(np.full(n, -1.0), np.array([0.5, 2.0, 1.2]))
    by = Bounds(np.full(n, -2.0), np.full(n, 1.0))
    ref = bilevel_minimize(F, f, np.zeros(n), np.zeros(n), jac_F=jac_F, jac_f=jac_f,
                           bounds_x=bx, bounds_y=by)
    res = bilevel_minimize(F, f, cp.zeros(n), cp.zeros(n), jac_F=jac_F, jac_f=jac_f,
                           bounds_x=bx, bounds_y=by)
    assert ref.success, ref.message
    assert res.success, res.message
    assert isinstance(res.x, cp.ndarray) and isinstance(res.y, cp.ndarray)
    np.testing.assert_allclose(_host(res.x), ref.x, atol=1e-5)
    np.testing.assert_allclose(_host(res.y), ref.y, atol=1e-5)
    # the boxes hold on the device result
    assert (_host(res.x) <= bx.ub + 1e-10).all() and (_host(res.y) <= by.ub + 1e-10).all()
