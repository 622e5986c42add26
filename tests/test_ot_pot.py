"""soptim.ot's POT-compatible front doors and distances, against POT and closed forms."""

import warnings

import numpy as np
import pytest
from scipy.spatial.distance import cdist
from scipy.stats import norm

import soptim.ot as sot

ot = pytest.importorskip("ot")


def _problem(n, m, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.random(n) + 0.1
    b = rng.random(m) + 0.1
    return a / a.sum(), b / b.sum(), rng.random((n, m))


# ---------------------------------------------------------------- sinkhorn / sinkhorn2
@pytest.mark.parametrize("method", ["sns", "sinkhorn", "sinkhorn_log"])
def test_sinkhorn_same_call_as_pot(method):
    a, b, M = _problem(20, 25, seed=1)
    reg = 0.1
    P_pot, log_pot = ot.sinkhorn(a, b, M, reg, method="sinkhorn_log", stopThr=1e-13,
                                 numItermax=100000, log=True)
    P, log = sot.sinkhorn(a, b, M, reg, method=method, stopThr=1e-12, numItermax=100000,
                          log=True)
    np.testing.assert_allclose(P, P_pot, atol=1e-9)
    assert {"err", "niter", "log_u", "log_v", "u", "v"} <= set(log)
    # POT's scalings: P = exp(log_u_i + log_v_j - M_ij / reg)
    np.testing.assert_allclose(np.exp(log["log_u"][:, None] + log["log_v"][None] - M / reg),
                               P, atol=1e-15)
    assert log["niter"] >= 1 and log["err"][-1] <= 1e-12
    W = sot.sinkhorn2(a, b, M, reg, method=method, stopThr=1e-12, numItermax=100000)
    assert W == pytest.approx(ot.sinkhorn2(a, b, M, reg, method="sinkhorn_log",
                                           stopThr=1e-13, numItermax=100000), rel=1e-8)


def test_empty_marginals_mean_uniform():
    _, _, M = _problem(8, 6, seed=2)
    P = sot.sinkhorn([], [], M, 0.05)
    np.testing.assert_allclose(P.sum(1), 1 / 8, atol=1e-10)
    np.testing.assert_allclose(P.sum(0), 1 / 6, atol=1e-10)
    np.testing.assert_allclose(P, ot.sinkhorn([], [], M, 0.05, method="sinkhorn_log",
                                              stopThr=1e-13, numItermax=10000), atol=1e-9)


def test_batched_b_returns_costs_like_pot():
    a, _, M = _problem(15, 12, seed=3)
    rng = np.random.default_rng(4)
    B = rng.random((12, 4)) + 0.1
    B /= B.sum(0)
    reg = 0.1
    ref = ot.sinkhorn2(a, B, M, reg, method="sinkhorn_log", stopThr=1e-13, numItermax=100000)
    W = sot.sinkhorn2(a, B, M, reg, stopThr=1e-12)
    W1, log = sot.sinkhorn(a, B, M, reg, stopThr=1e-12, log=True)
    assert W.shape == (4,)
    np.testing.assert_allclose(W, ref, rtol=1e-8)
    np.testing.assert_allclose(W1, W, rtol=1e-14)
    assert log["log_u"].shape == (15, 4) and log["log_v"].shape == (12, 4)


def test_warmstart_from_own_solution_converges_at_once():
    a, b, M = _problem(10, 10, seed=5)
    P, log = sot.sinkhorn(a, b, M, 0.05, method="sinkhorn", log=True, stopThr=1e-12)
    P2, log2 = sot.sinkhorn(a, b, M, 0.05, method="sinkhorn", log=True, stopThr=1e-10,
                            warmstart=(log["log_u"], log["log_v"]))
    assert log2["niter"] <= 1
    np.testing.assert_allclose(P2, P, atol=1e-11)


def test_non_convergence_warns_userwarning_unless_warn_false():
    a, b, M = _problem(30, 30, seed=6)
    with pytest.warns(UserWarning, match="numItermax"):
        sot.sinkhorn(a, b, M, 1e-3, method="sinkhorn", numItermax=3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sot.sinkhorn2(a, b, M, 1e-3, method="sinkhorn", numItermax=3)  # POT: warn=False


def test_front_door_rejects_bad_method_and_input():
    a, b, M = _problem(4, 4)
    with pytest.raises(ValueError, match="method"):
        sot.sinkhorn(a, b, M, 0.1, method="bogus")
    with pytest.raises(ValueError, match="reg"):
        sot.sinkhorn2(a, b, M, -0.1)
    with pytest.raises(ValueError, match="M"):
        sot.sinkhorn(a, b, M[:3], 0.1)


def test_verbose_prints_errors(capsys):
    a, b, M = _problem(5, 5)
    sot.sinkhorn(a, b, M, 0.1, verbose=True)
    assert "L1 err" in capsys.readouterr().out


# ---------------------------------------------------------------- dist
@pytest.mark.parametrize("metric", ["sqeuclidean", "euclidean", "cityblock"])
def test_dist_matches_pot_and_scipy(metric):
    rng = np.random.default_rng(7)
    x, y = rng.random((9, 3)), rng.random((7, 3))
    np.testing.assert_allclose(sot.dist(x, y, metric), cdist(x, y, metric), atol=1e-12)
    np.testing.assert_allclose(sot.dist(x, y, metric), ot.dist(x, y, metric), atol=1e-12)
    np.testing.assert_allclose(sot.dist(x, y, "minkowski", p=3),
                               cdist(x, y, "minkowski", p=3), atol=1e-12)
    np.testing.assert_allclose(sot.dist(x, y, "chebyshev"), cdist(x, y, "chebyshev"))
    with pytest.raises(ValueError, match="same dimension"):
        sot.dist(x, y[:, :2])


# ---------------------------------------------------------------- wasserstein
def test_w1_between_1d_histograms_equals_cdf_formula():
    n = 120
    rng = np.random.default_rng(8)
    a, b = rng.random(n), rng.random(n)
    a, b = a / a.sum(), b / b.sum()
    x = (np.arange(n) + 0.5) / n
    exact = np.abs(np.cumsum(a) - np.cumsum(b)).sum() / n  # int |CDF_a - CDF_b|
    reg = 1e-3
    d, res = sot.wasserstein(a, b, p=1, reg=reg)
    assert res.success
    bias = reg * np.ptp(x) * np.log(n * n)
    assert abs(d - exact) <= bias
    assert abs(d - ot.emd2(a, b, np.abs(x[:, None] - x[None]))) <= bias


def test_w2_between_discretized_gaussians_matches_closed_form():
    n = 300
    x = np.linspace(-1, 2, n)
    m1, s1, m2, s2 = 0.3, 0.1, 0.8, 0.15
    a, b = norm.pdf(x, m1, s1), norm.pdf(x, m2, s2)
    a, b = a / a.sum(), b / b.sum()
    exact = np.sqrt((m1 - m2) ** 2 + (s1 - s2) ** 2)
    d, res = sot.wasserstein(a, b, p=2, reg=1e-4, grid=x)
    assert res.success
    assert abs(d - exact) / exact < 2e-3


def test_w2_2d_grid_translation_and_point_clouds():
    k = 16
    g = (np.arange(k) + 0.5) / k
    X, Y = np.meshgrid(g, g, indexing="ij")
    a = np.exp(-((X - 0.35) ** 2 + (Y - 0.4) ** 2) / 0.02)
    b = np.exp(-((X - 0.35 - 4 / k) ** 2 + (Y - 0.4 - 2 / k) ** 2) / 0.02)
    # shifted by exactly (4, 2) cells; both are negligible at the border
    a, b = a / a.sum(), b / b.sum()
    d, res = sot.wasserstein(a, b, p=2, reg=1e-4)
    exact = np.hypot(4 / k, 2 / k)
    assert res.success
    assert abs(d - exact) / exact < 2e-2
    pts = np.stack([X.ravel(), Y.ravel()], 1)
    d2, _ = sot.wasserstein(a.ravel(), b.ravel(), x=pts, y=pts, p=2, reg=1e-4)
    assert d2 == pytest.approx(d, rel=1e-10)


def test_w2_point_clouds_against_emd():
    rng = np.random.default_rng(9)
    x, y = rng.random((60, 2)), rng.random((45, 2)) + 0.2
    M = ot.dist(x, y)
    exact = ot.emd2([], [], M)
    d, res = sot.wasserstein(None, None, x=x, y=y, p=2, reg=1e-3)
    assert exact <= d**2 <= exact + 1e-3 * M.max() * np.log(60 * 45)


def test_wasserstein_bad_input():
    with pytest.raises(ValueError, match="p must be >= 1"):
        sot.wasserstein([1.0], [1.0], p=0.5)
    with pytest.raises(ValueError, match="same shape"):
        sot.wasserstein(np.ones(3) / 3, np.ones(4) / 4)
    with pytest.raises(ValueError, match="grid"):
        sot.wasserstein(np.ones(3) / 3, np.ones(3) / 3, grid=[np.arange(3), np.arange(3)])
    with pytest.raises(ValueError, match="x and y"):
        sot.wasserstein(None, None, x=np.ones((3, 1)))
