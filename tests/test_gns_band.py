"""Band factorization of dense Hessians in 'gns', and the growth rule of gamma."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import rosen, rosen_der, rosen_hess

import soptim
from soptim.backend import get_backend
from soptim.optimize._band import band_cholesky_solve, band_storage, bandwidth
from soptim.optimize._curvature import DenseCurvature, Metric
from soptim.optimize._gns import _grown_gamma


def banded_spd(n, kd, seed=0, shift=None):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, n))
    A = A + A.T
    i, j = np.indices((n, n))
    A[np.abs(i - j) > kd] = 0.0
    # diagonally dominant: positive definite
    A[np.diag_indices(n)] = np.abs(A).sum(axis=1) + (1.0 if shift is None else shift)
    return A


# -- band storage and solves -------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 40), kd=st.integers(0, 12), seed=st.integers(0, 2**16),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_band_storage_matches_the_definition(n, kd, seed, dtype):
    kd = min(kd, n - 1)
    A = banded_spd(n, kd, seed).astype(dtype)
    assert bandwidth(A, n) == kd
    ab = band_storage(A, n)
    assert ab.shape == (kd + 1, n) and ab.dtype == dtype
    for i in range(n):
        for j in range(max(0, i - kd), i + 1):
            assert ab[i - j, j] == A[i, j]
    # a band wider than allowed is refused
    assert kd == 0 or band_storage(A, kd - 1) is None


@pytest.mark.parametrize("where", [(19, 2), (2, 19), (19, 0), (0, 19), (10, 0)])
def test_bandwidth_sees_every_far_entry(where):
    A = np.eye(20)
    A[where] = np.nan  # NaN counts as nonzero
    kd = abs(where[0] - where[1])
    assert bandwidth(A, 20) == kd
    assert bandwidth(A, kd - 1) == -1


def test_bandwidth_of_a_dense_matrix_is_refused_early():
    A = np.random.default_rng(0).standard_normal((300, 300))
    assert bandwidth(A, 75) == -1
    assert bandwidth(np.zeros((5, 5)), 1) == 0


@pytest.mark.parametrize("n,kd", [(16, 0), (50, 1), (64, 3), (100, 8), (120, 30)])
@pytest.mark.parametrize("vector_shift", [False, True])
def test_band_cholesky_solve_against_dense_solve(n, kd, vector_shift):
    A = banded_spd(n, kd, seed=n)
    ab = band_storage(A, n)
    ab0 = ab.copy()
    rng = np.random.default_rng(1)
    rhs = rng.standard_normal(n)
    shift = rng.uniform(0.1, 2.0, n) if vector_shift else 0.7
    d = band_cholesky_solve(ab, shift, rhs)
    np.testing.assert_allclose(d, np.linalg.solve(A + np.diag(np.broadcast_to(shift, n)), rhs),
                               rtol=1e-10, atol=1e-12)
    assert np.array_equal(ab, ab0)  # ab left unchanged


def test_band_cholesky_solve_reports_indefinite():
    n = 30
    A = np.diag(np.r_[np.ones(10), -1.0, np.ones(19)]) + np.diag(np.full(n - 1, 0.1), -1)
    ab = band_storage(A, n)
    assert band_cholesky_solve(ab, 0.0, np.ones(n)) is None
    assert band_cholesky_solve(ab, 2.0, np.ones(n)) is not None


# -- the dense curvature model -----------------------------------------------------------------

def _model(H, metric=None):
    be = get_backend(H)
    return DenseCurvature(H, Metric(metric, H.shape[0], be, H.dtype))


@pytest.mark.parametrize("metric", [None, "diagonal"])
@pytest.mark.parametrize("n,kd", [(40, 1), (100, 2), (100, 25)])
def test_dense_model_uses_the_band_and_solves_the_same_system(metric, n, kd):
    H = banded_spd(n, kd, seed=kd, shift=-0.5)
    B = None if metric is None else np.linspace(0.5, 2.0, n)
    model = _model(H, B)
    assert model.bandwidth == kd
    rhs = np.random.default_rng(0).standard_normal(n)
    lam = 0.7
    Bm = np.eye(n) if B is None else np.diag(B)
    np.testing.assert_allclose(model.solve(rhs, lam), np.linalg.solve(H + lam * Bm, rhs),
                               rtol=1e-10, atol=1e-12)


def test_dense_model_skips_wide_bands_and_dense_metrics():
    n = 64
    assert _model(banded_spd(n, n // 4 + 1)).bandwidth == -1  # too wide: dense Cholesky
    assert _model(banded_spd(n, 1), metric=np.eye(n) + 0.1).bandwidth == -1  # B fills the band
    assert _model(banded_spd(8, 1)).bandwidth == -1  # small: dense is as cheap


def test_indefinite_band_falls_back_to_absolute_eigenvalues():
    n = 40
    H = banded_spd(n, 1)
    H[5, 5] = -50.0  # one strongly negative curvature direction
    model = _model(H)
    assert model.bandwidth == 1
    g = np.random.default_rng(2).standard_normal(n)
    d = model.solve(-g, 1.0)
    assert model.used_eig and g @ d < 0  # descent direction through |H|
    w, V = np.linalg.eigh(H)
    np.testing.assert_allclose(d, V @ ((V.T @ -g) / (np.abs(w) + 1.0)), rtol=1e-10, atol=1e-12)


# -- through minimize --------------------------------------------------------------------------

def chained_quartic(n, kd=2, seed=0):
    """f = (x - x*)^T A (x - x*) / 2 + sum((x - x*)^4) / 4 with A banded SPD: minimizer x*."""
    A = banded_spd(n, kd, seed)
    xstar = np.random.default_rng(seed + 1).uniform(-1, 1, n)

    def fg(x):
        r = x - xstar
        return 0.5 * r @ A @ r + 0.25 * np.sum(r**4), A @ r + r**3

    def hess(x):
        return A + np.diag(3.0 * (x - xstar) ** 2)

    return fg, hess, xstar


@pytest.mark.parametrize("metric", [None, "diagonal"])
def test_banded_problem_reaches_its_minimizer(metric):
    fg, hess, xstar = chained_quartic(120)
    B = None if metric is None else np.linspace(1.0, 3.0, 120)
    res = soptim.minimize(fg, np.zeros(120), method="gns", jac=True, hess=hess, tol=1e-10,
                          options={"metric": B})
    assert res.success, res.message
    np.testing.assert_allclose(res.x, xstar, atol=1e-9, rtol=0)


def test_band_and_dense_paths_give_the_same_iterates(monkeypatch):
    # Rosenbrock's Hessian is tridiagonal: the band path must not change the method.
    x0 = np.full(30, -1.0)
    x0[::2] = -1.2
    band = soptim.minimize(rosen, x0, method="gns", jac=rosen_der, hess=rosen_hess, tol=1e-10)
    monkeypatch.setattr(DenseCurvature, "_detect_band", lambda self: -1)
    dense = soptim.minimize(rosen, x0, method="gns", jac=rosen_der, hess=rosen_hess, tol=1e-10)
    assert band.success and dense.success
    assert (band.nit, band.ntrials) == (dense.nit, dense.ntrials)
    np.testing.assert_allclose(band.x, dense.x, atol=1e-12, rtol=0)


# -- growth of gamma ---------------------------------------------------------------------------

def test_gamma_grows_by_2_then_4_without_rejections():
    inf = math.inf
    assert _grown_gamma(1.0, 1, inf, 1e20) == 2.0
    assert _grown_gamma(1.0, 2, inf, 1e20) == 4.0
    assert _grown_gamma(1.0, 5, inf, 8.0) == 4.0
    assert _grown_gamma(4.0, 5, inf, 8.0) == 8.0  # ceiling


def test_gamma_growth_stops_short_of_a_rejected_value():
    # a rejected 0.5: from 0.25 the next try is sqrt(0.25 * 0.5), not 0.5 again
    assert _grown_gamma(0.25, 1, 0.5, 1e20) == pytest.approx(math.sqrt(0.125))
    # never a decrease
    assert _grown_gamma(0.25, 1, 0.2, 1e20) == 0.25
    # a rejection far above does not cap the growth
    assert _grown_gamma(0.25, 1, 10.0, 1e20) == 0.5


def _paper_rule_counts(fg, hess, x, gtol):
    """(iterations, trials) of the step and gamma search exactly as written in [1]."""
    f, g = fg(x)
    gamma, nit, ntrials = 1.0, 0, 0
    while np.linalg.norm(g) > gtol:
        H = hess(x)
        while True:
            ntrials += 1
            lam = np.linalg.norm(g) / gamma
            w, V = np.linalg.eigh(H)
            x_new = x - V @ ((V.T @ g) / (np.abs(w) + lam))
            f_new, g_new = fg(x_new)
            if f - f_new >= g_new @ g_new / (8 * lam):
                x, f, g, gamma = x_new, f_new, g_new, 2 * gamma
                break
            gamma /= 2
        nit += 1
    return nit, ntrials


def test_rosenbrock_100_needs_fewer_iterations_and_trials_than_the_paper_rule():
    # The paper's rule (double gamma after every acceptance) re-proposes the gamma that
    # was just rejected; bracketing it must save both iterations and trials on this chain.
    x0 = np.full(100, -1.0)
    x0[::2] = -1.2
    nit, ntrials = _paper_rule_counts(lambda x: (rosen(x), rosen_der(x)), rosen_hess, x0, 1e-8)
    res = soptim.minimize(rosen, x0, method="gns", jac=rosen_der, hess=rosen_hess, tol=1e-8)
    assert res.success
    assert res.nit < 0.9 * nit and res.ntrials < 0.7 * ntrials


# -- larger radii on the same model ------------------------------------------------------------

def _accepted_steps(fg, x0, **kw):
    """Run gns and return its result and the (f, ||g||, lam) of every accepted iterate."""
    steps = [(fg(x0)[0], None, None, None)]

    def callback(intermediate_result):
        r = intermediate_result
        steps.append((r.fun, float(np.linalg.norm(r.jac)), r.lam, r.accepted_by))

    res = soptim.minimize(fg, x0, method="gns", jac=True, callback=callback, **kw)
    return res, steps


@pytest.mark.parametrize("problem", ["logistic", "rosenbrock"])
def test_every_accepted_step_passes_the_acceptance_test(problem):
    if problem == "logistic":
        from soptim.optimize._gns_examples import synthetic_logistic

        p = synthetic_logistic(2000, 50, cond_exponent=3, alpha=1e-6)
        fg, hess, x0 = p["fg"], p["hess"], p["x0"]
    else:
        def fg(x):
            return rosen(x), rosen_der(x)

        hess, x0 = rosen_hess, np.full(30, -1.0)
    res, steps = _accepted_steps(fg, x0, hess=hess, tol=1e-8)
    assert res.success
    eps = np.finfo(float).eps
    for (f0, *_), (f1, g1, lam, how) in zip(steps[:-1], steps[1:]):
        slack = 4 * eps * (abs(f0) + abs(f1))
        assert how in ("newton", "test (*)", "ratio")
        assert (lam == 0.0) == (how == "newton")
        if how == "test (*)":  # test (*) of [1], with the documented rounding allowance
            assert f0 - f1 + slack >= g1**2 / (8 * lam)
        else:  # a Newton or ratio-test step (added to [1]): f fell
            assert f1 < f0 + slack
    assert any(s[3] == "newton" for s in steps[1:])  # the Newton phase was reached
    if problem == "rosenbrock":  # both tests accept steps in the valley
        assert {"test (*)", "ratio"} <= {s[3] for s in steps[1:]}


def test_ratio_test_accepts_steps_in_curved_valleys(monkeypatch):
    # Rosenbrock from 10x the classic start: test (*) alone rejects the steps along the
    # parabola (the gradient across the valley is large right next to it); the ratio test
    # accepts them, and the run needs far fewer iterations
    from soptim.optimize import _gns

    x0 = 10 * np.array([-1.2, 1.0])
    kw = dict(method="gns", jac=rosen_der, hess=rosen_hess, tol=1e-8,
              options={"maxiter": 2000})
    res = soptim.minimize(rosen, x0, **kw)
    monkeypatch.setattr(_gns, "_RATIO_ACCEPT", np.inf)  # test (*) (and Newton steps) only
    monkeypatch.setattr(_gns, "_RATIO_GOOD", np.inf)
    ref = soptim.minimize(rosen, x0, **kw)
    assert res.success and ref.success
    np.testing.assert_allclose(res.x, 1.0, rtol=1e-7)
    assert 3 * res.nit < ref.nit, (res.nit, ref.nit)  # measured: 79 against 460


def test_larger_radii_save_models_on_ill_conditioned_logistic(monkeypatch):
    from soptim.optimize import _gns
    from soptim.optimize._gns_examples import synthetic_logistic

    p = synthetic_logistic(2000, 50, cond_exponent=3, alpha=1e-6)
    # without Newton steps, to measure the extrapolation alone
    kw = dict(method="gns", jac=True, hess=p["hess"], tol=1e-9, options={"newton": False})
    res = soptim.minimize(p["fg"], p["x0"], **kw)
    monkeypatch.setattr(_gns, "_BINDING", np.inf)  # never extrapolate: the rule of [1]
    ref = soptim.minimize(p["fg"], p["x0"], **kw)
    assert res.success and ref.success
    assert res.nhev < ref.nhev  # fewer Hessians
    assert abs(res.fun - ref.fun) <= 1e-12 * abs(ref.fun)
