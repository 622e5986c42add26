"""Method 'gns' of soptim.minimize: known answers, curvature sources, scipy compatibility."""

import warnings

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sps
import scipy.sparse.linalg as spla
from scipy.optimize import (
    OptimizeResult,
    OptimizeWarning,
    rosen,
    rosen_der,
    rosen_hess,
    rosen_hess_prod,
)

import soptim
from soptim.optimize._gns_examples import (
    breast_cancer_logistic,
    digits_softmax,
    logsumexp_problem,
    quartic_problem,
    rosen_hess_sparse,
)


def rosen_x0(n):
    x0 = np.full(n, -1.0)
    x0[::2] = -1.2
    return x0


def gns(fun, x0, **kw):
    return soptim.minimize(fun, x0, method="gns", **kw)


# -- Rosenbrock: x* = 1 ---------------------------------------------------------------------

@pytest.mark.parametrize("curv", ["hess", "hessp", "sparse", "linop", "fd", "2-point"])
def test_rosenbrock_2d_from_minus2_2(curv):
    kw = {"hess": dict(hess=rosen_hess), "hessp": dict(hessp=rosen_hess_prod),
          "sparse": dict(hess=rosen_hess_sparse),
          "linop": dict(hess=lambda x: spla.aslinearoperator(rosen_hess(x))),
          "fd": {}, "2-point": dict(hess="2-point")}[curv]
    fcalls = [0]

    def fun(x):
        fcalls[0] += 1
        return rosen(x)

    seen = []  # (nit, ntrials) after every accepted step, reported by the callback
    res = gns(fun, np.array([-2.0, 2.0]), jac=rosen_der, tol=1e-10,
              callback=lambda intermediate_result: seen.append(
                  (intermediate_result.nit, intermediate_result.ntrials)), **kw)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, 1.0, atol=1e-8, rtol=0)
    assert np.linalg.norm(rosen_der(res.x)) <= 1e-10
    # the spec: about 50 iterations (gradient descent needs thousands)
    assert res.nit <= 100
    # every iteration spends at least one trial, and the callback's counts are the result's
    assert [k for k, _ in seen] == list(range(1, res.nit + 1))
    assert all(b > a for (_, a), (_, b) in zip([(0, 0)] + seen, seen))
    assert seen[-1][1] == res.ntrials and res.nfev == fcalls[0]
    # fun is called at x0 and at every trial point with a step (jac gives the gradients), so
    # the trial count bounds the evaluations; the dense model always returns a step
    if curv == "hess":
        assert res.nfev == 1 + res.ntrials
    else:
        assert res.nfev <= 1 + res.ntrials
    assert res.status == 0 and isinstance(res, OptimizeResult)


@pytest.mark.parametrize("n", [10, 100])
def test_rosenbrock_nd(n):
    res = gns(rosen, rosen_x0(n), jac=rosen_der, hess=rosen_hess, tol=1e-10)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, 1.0, atol=1e-8, rtol=0)
    assert res.nhev == res.nit  # one Hessian per iteration
    assert res.nfev == res.ntrials + 1  # one f per trial (+ x0)


def test_rosenbrock_10d_hessp_counts_products():
    res = gns(rosen, rosen_x0(10), jac=rosen_der, hessp=rosen_hess_prod, tol=1e-10)
    assert res.success
    np.testing.assert_allclose(res.x, 1.0, atol=1e-8, rtol=0)
    assert res.nhev > res.nit  # several Hessian-vector products per CG solve


# -- LogSumExp and the quartic ||Ax-b||^4/4 --------------------------------------------------

@pytest.mark.parametrize("approx", [False, True], ids=["exact", "weighted-gauss-newton"])
def test_logsumexp(approx):
    fg, hess, gn, fstar = logsumexp_problem()
    x0 = np.random.default_rng(1).standard_normal(100)
    kw = dict(options={"residuals": gn}) if approx else dict(hess=hess)
    res = gns(fg, x0, jac=True, tol=1e-9, **kw)
    assert res.success, res.message
    assert abs(res.fun - fstar) <= 1e-12 * abs(fstar)
    np.testing.assert_allclose(res.x, 0.0, atol=1e-5)  # x* = 0 (unique)
    assert res.nit <= 200


@pytest.mark.parametrize("approx", [False, True], ids=["exact", "fisher-term-sherman-morrison"])
def test_quartic_consistent(approx):
    fg, hess, fisher, xstar = quartic_problem()
    kw = dict(options={"per_sample_grads": fisher}) if approx else dict(hess=hess)
    res = gns(fg, np.zeros(xstar.size), jac=True, tol=1e-12, **kw)
    assert res.success, res.message
    assert res.fun <= 1e-16  # f* = 0
    np.testing.assert_allclose(res.x, xstar, atol=1e-4)  # f ~ ||x - x*||^4
    assert res.nit <= 150  # spec: about 100 iterations


# -- machine learning problems vs scipy L-BFGS-B ----------------------------------------------

@pytest.fixture(scope="module")
def logistic():
    prob = breast_cancer_logistic()
    ref = scipy.optimize.minimize(prob["fg"], np.zeros(prob["d"]), jac=True, method="L-BFGS-B",
                                  options=dict(gtol=1e-14, ftol=0, maxiter=100000,
                                               maxfun=100000))
    return prob, ref


@pytest.mark.parametrize("curv", ["exact", "hessp", "gauss-newton", "fisher"])
def test_logistic_breast_cancer_matches_lbfgsb(logistic, curv):
    prob, ref = logistic
    alpha = prob["alpha"]
    kw = {"exact": dict(hess=prob["hess"]), "hessp": dict(hessp=prob["hessp"]),
          "gauss-newton": dict(options=dict(residuals=prob["gauss_newton"], hess_diag=alpha)),
          "fisher": dict(options=dict(per_sample_grads=prob["per_sample_grads"],
                                      hess_diag=alpha))}[curv]
    res = gns(prob["fg"], np.zeros(prob["d"]), jac=True, tol=1e-8, **kw)
    assert res.success, res.message
    assert abs(res.fun - ref.fun) <= 1e-10 * abs(ref.fun)
    np.testing.assert_allclose(res.x, ref.x, atol=1e-5)
    if curv in ("exact", "gauss-newton"):
        assert res.nit <= 20  # Newton: a handful of iterations


@pytest.fixture(scope="module")
def softmax_digits():
    prob = digits_softmax()
    ref = scipy.optimize.minimize(prob["fg"], np.zeros(prob["n"]), jac=True, method="L-BFGS-B",
                                  options=dict(gtol=1e-13, ftol=0, maxiter=100000,
                                               maxfun=100000))
    return prob, ref


@pytest.mark.parametrize("curv", ["exact", "gauss-newton", "fisher"])
def test_softmax_digits_matches_lbfgsb(softmax_digits, curv):
    prob, ref = softmax_digits
    alpha = prob["alpha"]
    kw = {"exact": dict(hess=prob["hess"]),
          "gauss-newton": dict(options=dict(residuals=prob["gauss_newton"], hess_diag=alpha)),
          "fisher": dict(options=dict(per_sample_grads=prob["per_sample_grads"],
                                      hess_diag=alpha))}[curv]
    res = gns(prob["fg"], np.zeros(prob["n"]), jac=True, tol=1e-8, **kw)
    assert res.success, res.message
    assert abs(res.fun - ref.fun) <= 1e-10 * abs(ref.fun)


# -- non-convex: indefinite Hessians ----------------------------------------------------------

def double_well(x):
    """sum_i (x_i^4/4 - x_i^2/2) + 0.5 * sum_i (x_i - x_{i+1})^2 / 4: minima at +-1 (not unique)."""
    f = np.sum(x ** 4 / 4 - x ** 2 / 2) + 0.125 * np.sum(np.diff(x) ** 2)
    g = x ** 3 - x
    dx = np.diff(x)
    g[:-1] -= 0.25 * dx
    g[1:] += 0.25 * dx
    return f, g


def double_well_hess(x):
    n = x.size
    H = np.diag(3 * x ** 2 - 1)
    L = 0.25 * (2 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1))
    L[0, 0] = L[-1, -1] = 0.25
    return H + L


@pytest.mark.parametrize("kind", ["dense", "sparse", "hessp"])
def test_nonconvex_indefinite_hessian_decreases_and_converges(kind):
    x0 = np.array([0.01, -0.02, 0.03, 0.0, 0.05])  # near the saddle 0: H ~ -I + L
    assert np.linalg.eigvalsh(double_well_hess(x0)).min() < -0.5
    kw = {"dense": dict(hess=double_well_hess),
          "sparse": dict(hess=lambda x: sps.csr_matrix(double_well_hess(x))),
          "hessp": dict(hessp=lambda x, p: double_well_hess(x) @ p)}[kind]
    fs = []
    res = gns(double_well, x0, jac=True, tol=1e-10,
              callback=lambda intermediate_result: fs.append(intermediate_result.fun), **kw)
    assert res.success, res.message
    # every accepted step decreases f (up to the rounding allowance of the test)
    assert np.all(np.diff([double_well(x0)[0]] + fs) <= 1e-15)
    assert fs[-1] < -1.0
    # converged to a local minimizer: zero gradient and PSD Hessian
    assert np.linalg.norm(double_well(res.x)[1]) <= 1e-10
    assert np.linalg.eigvalsh(double_well_hess(res.x)).min() > 0
    # the minimizers of this coupled double well: all coordinates at the same well
    np.testing.assert_allclose(np.abs(res.x), 1.0, atol=1e-8)


def test_indefinite_dense_uses_absolute_eigenvalues():
    from soptim.backend import get_backend
    from soptim.optimize._curvature import DenseCurvature, Metric

    H = np.diag([-2.0, 1.0, 3.0])
    model = DenseCurvature(H, Metric(None, 3, get_backend(H), np.float64))
    rhs = np.array([1.0, 1.0, 1.0])
    d = model.solve(rhs, 0.5)  # H + 0.5 I indefinite: Cholesky fails -> |H| + lam I
    assert model.used_eig
    np.testing.assert_allclose(d, rhs / np.array([2.5, 1.5, 3.5]))
    d = model.solve(rhs, 4.0)  # now PD: the plain regularized Newton step
    np.testing.assert_allclose(d, rhs / np.array([2.0, 5.0, 7.0]))


def test_krylov_negative_curvature_truncates_like_cg():
    from soptim.backend import get_backend
    from soptim.optimize._curvature import KrylovCurvature, Metric

    H = np.diag([-1.0, 2.0])
    m = Metric(None, 2, get_backend(H), np.float64)
    rhs = np.array([1.0, 1.0])
    # T_1 = q^T H q = 0.5 > -lam, but T_2 + lam I is indefinite: keep the 1-step solution
    d = KrylovCurvature(lambda v: H @ v, m, rtol=1e-12, maxiter=10).solve(rhs, 0.5)
    np.testing.assert_allclose(d, [1.0, 1.0])
    assert rhs @ d > 0  # a descent direction for g = -rhs
    # negative curvature at the first step: no direction, the trial is rejected
    minus_i = KrylovCurvature(lambda v: -v, m, rtol=1e-12, maxiter=10)
    assert minus_i.solve(rhs, 0.1) is None


# -- other curvature options ----------------------------------------------------------------

def test_user_solve_option():
    calls = []

    def solve(x, rhs, lam):
        calls.append(lam)
        return np.linalg.solve(rosen_hess(x) + lam * np.eye(x.size), rhs)

    res = gns(rosen, np.array([-2.0, 2.0]), jac=rosen_der, tol=1e-10, options={"solve": solve})
    assert res.success
    np.testing.assert_allclose(res.x, 1.0, atol=1e-8)
    assert len(calls) == res.ntrials
    # same iterates as the built-in dense model without its Newton steps (a user solver
    # has no lam = 0 factorization to offer)
    ref = gns(rosen, np.array([-2.0, 2.0]), jac=rosen_der, hess=rosen_hess, tol=1e-10,
              options={"newton": False})
    assert ref.nit == res.nit


def test_user_solve_with_args():
    def solve(x, rhs, lam, scale):
        return np.linalg.solve(scale * np.eye(x.size) + lam * np.eye(x.size), rhs)

    res = soptim.minimize(lambda x, s: 0.5 * s * x @ x, np.ones(3), args=(2.0,), method="gns",
                          jac=lambda x, s: s * x, tol=1e-12, options={"solve": solve})
    assert "ntrials" in res and res.success
    np.testing.assert_allclose(res.x, 0.0, atol=1e-12)


@pytest.mark.parametrize("metric", ["diag", "dense"])
def test_metric_option(metric):
    rng = np.random.default_rng(0)
    Q = rng.standard_normal((6, 6))
    A = Q @ Q.T + np.diag(np.logspace(0, 3, 6))
    b = rng.standard_normal(6)
    B = np.diag(A).copy() if metric == "diag" else A + np.eye(6)
    res = gns(lambda x: 0.5 * x @ A @ x - b @ x, np.zeros(6), jac=lambda x: A @ x - b,
              hess=lambda x: A, tol=1e-12, options={"metric": B})
    assert res.success
    np.testing.assert_allclose(res.x, np.linalg.solve(A, b), rtol=1e-10)
    # gtol applies to the dual norm sqrt(g^T B^{-1} g)
    g = A @ res.x - b
    assert np.sqrt(g @ np.linalg.solve(np.diag(B) if metric == "diag" else B, g)) <= 1e-12


def test_metric_with_woodbury_and_cg():
    fg, hess, fisher, xstar = quartic_problem(m=60, n=20)
    B = np.linspace(1.0, 3.0, 20)
    Bd = np.diag(B) + 0.1 * np.ones((20, 20))  # dense metric: CG per trial
    for kw in (dict(options={"per_sample_grads": fisher, "metric": B}),
               dict(hessp=lambda x, p: hess(x) @ p, options={"metric": B}),
               dict(hessp=lambda x, p: hess(x) @ p, options={"metric": Bd}),
               dict(options={"per_sample_grads": fisher, "metric": Bd})):
        res = gns(fg, np.zeros(20), jac=True, tol=1e-12, **kw)
        assert res.success, res.message
        assert res.fun <= 1e-16


def test_gauss_newton_woodbury_few_residuals():
    # nonlinear least squares with fewer residuals than unknowns (Woodbury on the m side)
    rng = np.random.default_rng(3)
    m, n = 5, 40
    A = rng.standard_normal((m, n))
    c = rng.standard_normal(m)

    def r(x):
        return A @ x + 0.1 * np.sin(A @ x) - c

    def J(x):
        return (1 + 0.1 * np.cos(A @ x))[:, None] * A

    def fg(x):
        rx = r(x)
        return 0.5 * rx @ rx, J(x).T @ rx

    res = gns(fg, np.zeros(n), jac=True, tol=1e-12, options={"residuals": J})
    assert res.success, res.message
    np.testing.assert_allclose(r(res.x), 0.0, atol=1e-10)  # zero-residual problem: f* = 0


def test_sparse_gauss_newton():
    fg, hess, gn, fstar = logsumexp_problem(m=120, n=40)

    def gn_sparse(x):
        A, w = gn(x)
        return sps.csr_matrix(A), w

    res = gns(fg, np.ones(40), jac=True, tol=1e-9, options={"residuals": gn_sparse})
    assert res.success, res.message
    assert abs(res.fun - fstar) <= 1e-12 * abs(fstar)


# -- scipy compatibility ----------------------------------------------------------------------

def test_default_method_is_scipys_even_with_hess():
    # method=None is exactly scipy's choice (BFGS here, with its warning about hess)
    kw = dict(jac=rosen_der, hess=rosen_hess, options={"maxiter": 5})
    with pytest.warns(RuntimeWarning, match="does not use Hessian"):
        res = soptim.minimize(rosen, [-2.0, 2.0], **kw)
    with pytest.warns(RuntimeWarning, match="does not use Hessian"):
        ref = scipy.optimize.minimize(rosen, [-2.0, 2.0], **kw)
    assert "ntrials" not in res and "hess_inv" in res
    np.testing.assert_array_equal(res.x, ref.x)
    assert res.nit == ref.nit == 5


def test_jac_forms_agree():
    x0 = np.array([-2.0, 2.0])
    r1 = gns(rosen, x0, jac=rosen_der, hess=rosen_hess, tol=1e-10)
    r2 = gns(lambda x: (rosen(x), rosen_der(x)), x0, jac=True, hess=rosen_hess, tol=1e-10)
    r3 = gns(rosen, x0, hess=rosen_hess, tol=1e-10)  # finite-difference gradient
    np.testing.assert_array_equal(r1.x, r2.x)
    assert r1.nit == r2.nit and r1.nfev == r2.nfev
    assert r2.njev == r2.nfev  # jac=True: one call gives both
    assert r3.success
    np.testing.assert_allclose(r3.x, 1.0, atol=1e-7)
    assert r3.nfev > r1.nfev  # finite differences cost function evaluations


def test_tol_maps_to_gtol():
    x0 = np.array([-2.0, 2.0])
    a = gns(rosen, x0, jac=rosen_der, hess=rosen_hess, tol=1e-3)
    b = gns(rosen, x0, jac=rosen_der, hess=rosen_hess, options={"gtol": 1e-3})
    assert a.nit == b.nit and np.linalg.norm(a.jac) <= 1e-3
    c = gns(rosen, x0, jac=rosen_der, hess=rosen_hess, tol=1e-10)
    assert c.nit > a.nit


def test_callbacks_both_forms_and_stop_iteration():
    x0 = np.array([-2.0, 2.0])
    seen_new, seen_old = [], []

    def new(intermediate_result):
        seen_new.append((intermediate_result.nit, intermediate_result.fun,
                         intermediate_result.gamma))

    def old(xk):
        seen_old.append(xk.copy())

    res = gns(rosen, x0, jac=rosen_der, hess=rosen_hess, callback=new, tol=1e-10)
    assert [s[0] for s in seen_new] == list(range(1, res.nit + 1))
    assert seen_new[-1][1] == res.fun
    res2 = gns(rosen, x0, jac=rosen_der, hess=rosen_hess, callback=old, tol=1e-10)
    assert len(seen_old) == res2.nit
    np.testing.assert_array_equal(seen_old[-1], res2.x)

    def stop(intermediate_result):
        if intermediate_result.nit == 3:
            raise StopIteration

    res3 = gns(rosen, x0, jac=rosen_der, hess=rosen_hess, callback=stop)
    assert res3.status == 99 and not res3.success and res3.nit == 3
    assert res3.fun == rosen(res3.x)  # the returned point is an accepted iterate


def test_result_fields_and_disp(capsys):
    res = gns(rosen, np.array([-2.0, 2.0]), jac=rosen_der, hess=rosen_hess,
              options={"disp": True})
    for key in ("x", "fun", "jac", "nit", "nfev", "njev", "nhev", "status", "success",
                "message", "ntrials", "gamma"):
        assert key in res
    assert res.fun == rosen(res.x)
    np.testing.assert_array_equal(res.jac, rosen_der(res.x))
    out = capsys.readouterr().out
    assert "gamma" in out and "trials" in out and "terminated successfully" in out
    assert len(out.splitlines()) >= res.nit + 2


def test_unknown_option_warns():
    with pytest.warns(OptimizeWarning, match="Unknown solver options.*bogus"):
        gns(rosen, np.array([-2.0, 2.0]), jac=rosen_der, hess=rosen_hess,
            options={"bogus": 1})


# -- honest termination -----------------------------------------------------------------------

def test_maxiter_reports_failure_and_warns():
    with pytest.warns(OptimizeWarning, match="Maximum number of iterations"):
        res = gns(rosen, np.array([-2.0, 2.0]), jac=rosen_der, hess=rosen_hess,
                  options={"maxiter": 5})
    assert res.status == 1 and not res.success and res.nit == 5
    assert "increase maxiter" in res.message


def test_wrong_gradient_fails_without_applying_steps():
    def bad_jac(x):
        return -rosen_der(x)  # ascent direction: no trial can pass the test

    x0 = np.array([-2.0, 2.0])
    with pytest.warns(OptimizeWarning, match="acceptable step"):
        res = gns(rosen, x0, jac=bad_jac, hess=lambda x: np.eye(2), options={"max_trials": 20})
    assert res.status == 2 and not res.success
    assert res.nit == 0 and res.ntrials == 20
    np.testing.assert_array_equal(res.x, x0)  # never applies a step that was not accepted
    assert "jac" in res.message


def test_gamma_floor_ends_the_search():
    with pytest.warns(OptimizeWarning, match="gamma reached its floor"):
        res = gns(rosen, np.array([-2.0, 2.0]), jac=lambda x: -rosen_der(x),
                  hess=lambda x: np.eye(2), options={"gamma_min": 1e-3})
    assert res.status == 2 and res.gamma == 1e-3 and res.ntrials <= 12


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_nonfinite_at_x0_gives_a_failed_result(value):
    # scipy's methods return a result here, not an exception
    with pytest.warns(OptimizeWarning, match="not finite at x0"):
        res = gns(lambda x: value, np.ones(2), jac=lambda x: np.ones(2),
                  hess=lambda x: np.eye(2))
    assert not res.success and res.status == 3 and res.nit == 0
    np.testing.assert_array_equal(res.x, np.ones(2))
    with pytest.warns(OptimizeWarning, match="gradient is not finite at x0"):
        res = gns(lambda x: 1.0, np.ones(2), jac=lambda x: np.array([np.nan, 1.0]),
                  hess=lambda x: np.eye(2))
    assert not res.success and res.status == 3


def test_nan_trial_points_are_rejected():
    # f = x - log(x): NaN for x < 0, where an unregularized Newton step from x0 = 3 lands
    def f(x):
        with np.errstate(invalid="ignore"):
            return float(np.sum(x - np.log(x)))

    res = gns(f, np.array([3.0]), jac=lambda x: 1 - 1 / x, hess=lambda x: np.diag(1 / x ** 2),
              tol=1e-12, options={"gamma0": 1e6})
    assert res.success
    np.testing.assert_allclose(res.x, 1.0, rtol=1e-10)
    assert res.ntrials > res.nit  # some trials were rejected


def test_nan_hessian_later_reports_nonfinite():
    calls = [0]

    def hess(x):
        calls[0] += 1
        return rosen_hess(x) if calls[0] < 3 else np.full((2, 2), np.nan)

    with pytest.warns(OptimizeWarning, match="NaN or inf"):
        res = gns(rosen, np.array([-2.0, 2.0]), jac=rosen_der, hess=hess)
    assert res.status == 3 and not res.success and res.nit == 2
    assert np.all(np.isfinite(res.x)) and res.fun == rosen(res.x)


def test_unreachable_tolerance_stops_honestly():
    # gtol far below what float32 can resolve: the run must end with success=False
    c = np.random.default_rng(0).uniform(0.5, 3.0, 50).astype(np.float32)
    x0 = np.zeros(50, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OptimizeWarning)
        res = gns(lambda x: np.sum(np.exp(x) - c * x), x0, jac=lambda x: np.exp(x) - c,
                  hess=lambda x: np.diag(np.exp(x)), tol=1e-30, options={"maxiter": 500})
    assert not res.success and res.status == 2 and "attainable accuracy" in res.message
    assert res.nit < 100  # stopped by the stall test, not by maxiter
    assert res.x.dtype == np.float32
    np.testing.assert_allclose(res.x, np.log(c), rtol=1e-5)  # still at the minimizer


# -- bad inputs -------------------------------------------------------------------------------

@pytest.mark.parametrize("options, exc, match", [
    ({"gtol": -1.0}, ValueError, "gtol"),
    ({"maxiter": 2.5}, TypeError, "maxiter"),
    ({"max_trials": 0}, ValueError, "max_trials"),
    ({"gamma0": 0.0}, ValueError, "gamma0"),
    ({"gamma0": 1.0, "gamma_min": 2.0}, ValueError, "gamma_min"),
    ({"metric": np.array([1.0, -1.0])}, ValueError, "metric"),
    ({"metric": np.array([[1.0, 2.0], [2.0, 1.0]])}, ValueError, "positive definite"),
    ({"metric": np.array([[1.0, 0.5], [0.0, 1.0]])}, ValueError, "symmetric"),
    ({"metric": np.ones(3)}, ValueError, "metric must have shape"),
    ({"hessian": "bfgs"}, ValueError, "hessian must be one of"),
    ({"hessian": "fisher"}, ValueError, "per_sample_grads"),
    ({"residuals": 3}, TypeError, "residuals must be callable"),
    ({"residuals": lambda x: np.eye(2), "per_sample_grads": lambda x: np.eye(2)},
     ValueError, "several curvature options"),
    ({"hess_diag": 1.0}, ValueError, "hess_diag"),
    ({"residuals": lambda x: np.eye(2), "hess_diag": -1.0}, ValueError, "nonnegative"),
    ({"cg_rtol": 0.0}, ValueError, "cg_rtol"),
])
def test_bad_options(options, exc, match):
    with pytest.raises(exc, match=match):
        gns(rosen, np.array([-2.0, 2.0]), jac=rosen_der, hess=rosen_hess, options=options)


@pytest.mark.parametrize("kw, match", [
    (dict(hess=lambda x: np.eye(3)), "hess must return a matrix of shape"),
    (dict(hess=5), "hess must be callable"),
    (dict(hessp=lambda x, p: np.ones(3)), "hessp must return an array of shape"),
    (dict(options={"residuals": lambda x: np.ones((4, 3))}), "residuals must return"),
    (dict(options={"residuals": lambda x: (np.ones((4, 2)), np.ones(3))}), "weights"),
    (dict(options={"residuals": lambda x: (np.ones((4, 2)), -np.ones(4))}), "nonnegative"),
    (dict(options={"solve": lambda x, r, lam: np.ones(5)}), "solve'] must return"),
])
def test_bad_curvature_callables(kw, match):
    with pytest.raises((ValueError, TypeError), match=match):
        gns(rosen, np.array([-2.0, 2.0]), jac=rosen_der, **kw)


# -- GPU (CuPy) -------------------------------------------------------------------------------

@pytest.mark.gpu
def test_cupy_rosenbrock_and_fisher(cp):
    def f(x):
        return float(cp.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))

    def g(x):
        return cp.asarray(rosen_der(cp.asnumpy(x)))

    def h(x):
        return cp.asarray(rosen_hess(cp.asnumpy(x)))

    x0 = cp.asarray(rosen_x0(10))
    for kw in (dict(hess=h), dict(hessp=lambda x, p: h(x) @ p)):
        res = gns(f, x0, jac=g, tol=1e-10, **kw)
        assert isinstance(res.x, cp.ndarray) and res.success
        np.testing.assert_allclose(cp.asnumpy(res.x), 1.0, atol=1e-8)
    fg, hess, fisher, xstar = quartic_problem(m=60, n=20)
    res = gns(lambda x: fg(cp.asnumpy(x))[0], cp.zeros(20), jac=lambda x: cp.asarray(
        fg(cp.asnumpy(x))[1]), tol=1e-12,
        options={"per_sample_grads": lambda x: cp.asarray(fisher(cp.asnumpy(x)))})
    assert isinstance(res.x, cp.ndarray) and res.success and res.fun <= 1e-16
