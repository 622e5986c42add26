"""soptim.ot as a drop-in for POT's everyday calls: what POT's own tests check.

Written from reading POT's test/test_bregman.py, test_utils.py and test_solvers.py
(behaviour, not code): method names, stopThr/numItermax/warn semantics and warnings,
log keys and types, dtypes, empty and batched marginals, ``solve``'s signature and
result attributes, ``dist`` and ``unif``.
"""

import warnings

import numpy as np
import pytest

import soptim.ot as sot

ot = pytest.importorskip("ot")

POT_METHODS = ["sinkhorn", "sinkhorn_knopp", "sinkhorn_log", "sinkhorn_stabilized",
               "sinkhorn_epsilon_scaling", "greenkhorn", "sns"]


def _problem(n=30, m=25, seed=0):
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((n, 2)), rng.standard_normal((m, 2)) + 1.0
    a = rng.random(n) + 0.2
    b = rng.random(m) + 0.2
    return a / a.sum(), b / b.sum(), ot.dist(x, y)


@pytest.mark.parametrize("method", POT_METHODS)
def test_every_pot_method_name_gives_pots_plan(method):
    a, b, M = _problem()
    reg = 1.0
    ref = ot.sinkhorn(a, b, M, reg, method="sinkhorn_log", stopThr=1e-14, numItermax=100000)
    P = sot.sinkhorn(a, b, M, reg, method=method, stopThr=1e-12, numItermax=100000)
    np.testing.assert_allclose(P, ref, atol=1e-10)
    W = sot.sinkhorn2(a, b, M, reg, method=method, stopThr=1e-12, numItermax=100000)
    assert W == pytest.approx(float(np.sum(ref * M)), rel=1e-8)


def test_stopthr_zero_runs_numitermax_and_warns():
    a, b, M = _problem()
    with pytest.warns(UserWarning, match="Sinkhorn did not converge"):
        P, log = sot.sinkhorn(a, b, M, 1.0, method="sinkhorn", stopThr=0, numItermax=37,
                              log=True)
    assert log["niter"] == 37 and isinstance(log["niter"], int)
    assert np.isfinite(P).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # warn=False: silent, as in POT
        sot.sinkhorn(a, b, M, 1.0, method="sinkhorn", stopThr=0, numItermax=5, warn=False)


def test_log_keys_and_types_like_pot():
    a, b, M = _problem()
    _, log_pot = ot.sinkhorn(a, b, M, 1.0, method="sinkhorn_log", log=True)
    P, log = sot.sinkhorn(a, b, M, 1.0, method="sinkhorn", log=True, stopThr=1e-10)
    assert set(log_pot) <= set(log)
    assert isinstance(log["niter"], int) and isinstance(log["err"], list)
    # err sampled every 10 iterations as POT does, the last one included
    assert len(log["err"]) == (log["niter"] - 1) // 10 + 1 + bool((log["niter"] - 1) % 10)
    assert log["err"][-1] <= 1e-10 and log["err"][0] == log["history"][0]
    np.testing.assert_allclose(log["u"][:, None] * np.exp(-M / 1.0) * log["v"][None], P,
                               atol=1e-14)


def test_batched_b_log_has_int_niter_and_flat_err():
    a, _, M = _problem()
    rng = np.random.default_rng(1)
    B = rng.random((M.shape[1], 3)) + 0.1
    B /= B.sum(0)
    W, log = sot.sinkhorn2(a, B, M, 1.0, log=True, stopThr=1e-10)
    ref = ot.sinkhorn2(a, B, M, 1.0, method="sinkhorn_log", stopThr=1e-13)
    np.testing.assert_allclose(W, ref, rtol=1e-8)
    assert isinstance(log["niter"], int)
    assert all(isinstance(e, float) for e in log["err"])
    assert log["log_u"].shape == (M.shape[0], 3)


@pytest.mark.parametrize("method", ["sinkhorn", "sns"])
def test_float32_in_float32_out(method):
    a, b, M = (x.astype(np.float32) for x in _problem())
    P, log = sot.sinkhorn(a, b, M, 1.0, method=method, log=True, stopThr=1e-6)
    assert P.dtype == np.float32 and log["u"].dtype == np.float32
    assert sot.sinkhorn2(a, b, M, 1.0, method=method, stopThr=1e-6).dtype == np.float32
    assert sot.dist(M[:4].copy()).dtype == np.float32
    # float64 (or list) inputs keep float64
    assert sot.sinkhorn([], [], M.astype(np.float64), 1.0).dtype == np.float64


def test_empty_marginals_are_uniform_like_pot():
    _, _, M = _problem()
    np.testing.assert_allclose(sot.sinkhorn([], [], M, 1.0, stopThr=1e-12),
                               ot.sinkhorn([], [], M, 1.0, method="sinkhorn_log",
                                           stopThr=1e-14), atol=1e-10)


def test_solve_has_pots_signature_and_attributes():
    a, b, M = _problem()
    reg = 0.5
    for reg_type in ("KL", "entropy"):
        ref = ot.solve(M, a, b, reg=reg, reg_type=reg_type, tol=1e-13, max_iter=100000)
        res = sot.solve(M, a, b, reg=reg, reg_type=reg_type, tol=1e-12)
        np.testing.assert_allclose(res.plan, ref.plan, atol=1e-10)
        assert res.value == pytest.approx(float(ref.value), rel=1e-7)
        assert res.value_linear == pytest.approx(float(ref.value_linear), rel=1e-8)
        # POT's potentials are (log_u, log_v): the plan they define is POT's plan
        lu, lv = res.potentials
        np.testing.assert_allclose(np.exp(lu[:, None] + lv[None] - M / reg), ref.plan,
                                   atol=1e-10)
        f, g = res.dual_potentials
        np.testing.assert_allclose(f, reg * lu)
    # uniform default masses and keyword use
    assert sot.solve(M, reg=1.0).plan.sum() == pytest.approx(1.0)


def test_solve_keeps_soptims_earlier_argument_order():
    a, b, M = _problem()
    new = sot.solve(M, a, b, 0.5, tol=1e-11)
    old = sot.solve(a, b, M, 0.5, tol=1e-11)
    np.testing.assert_allclose(old.plan, new.plan, atol=1e-14)
    np.testing.assert_allclose(old.potentials[0], new.dual_potentials[0])


def test_solve_exact_ot_with_reg_none():
    a, b, M = _problem(12, 9)
    res = sot.solve(M, a, b)
    assert res.value == pytest.approx(float(ot.solve(M, a, b).value), rel=1e-10)
    assert res.value_linear == res.value and res.success


@pytest.mark.parametrize("kwargs, name", [
    (dict(unbalanced=1.0), "unbalanced"),
    (dict(reg_type="L2"), "reg_type"),
    (dict(c=np.ones((3, 4))), "c"),
    (dict(plan_init=np.ones((3, 4))), "plan_init"),
    (dict(method="foo"), "method"),
])
def test_solve_rejects_what_it_does_not_solve(kwargs, name):
    M = np.random.default_rng(0).random((3, 4))
    with pytest.raises(ValueError, match=name):
        sot.solve(M, reg=0.1, **kwargs)


def test_dist_like_pot():
    rng = np.random.default_rng(3)
    x, y = rng.random((7, 3)) + 1e3, rng.random((5, 3))
    for metric in ("sqeuclidean", "euclidean", "cityblock", "cosine", "minkowski"):
        np.testing.assert_allclose(sot.dist(x, y, metric=metric, p=3),
                                   ot.dist(x, y, metric=metric, p=3), rtol=1e-9, atol=1e-9)
    # keyword names x1, x2, w (POT passes w to the weighted minkowski)
    w = rng.random(3)
    np.testing.assert_allclose(sot.dist(x1=x, x2=y, metric="minkowski", p=3, w=w),
                               ot.dist(x1=x, x2=y, metric="minkowski", p=3, w=w))
    # exact zeros on the diagonal, for x2 None and x2 is x1
    for M in (sot.dist(x), sot.dist(x, x), sot.dist(x, metric="euclidean")):
        assert np.all(np.diag(M) == 0.0)
    assert sot.dist(np.arange(4)).dtype == np.float64  # integers: float64 costs
    assert sot.dist(x, backend="auto", use_tensor=True).shape == (7, 7)  # POT's keywords


def test_unif_like_pot():
    np.testing.assert_array_equal(sot.unif(7), ot.unif(7))
    assert sot.unif(3, type_as=np.zeros(2, dtype=np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match="n"):
        sot.unif(0)
