"""soptim.ot.pairwise_distances: OT distance matrices, serially and on executors.

Serial, thread, process and dask results must agree to 1e-12 (the blocks do
not depend on the executor); the entries are checked against single-pair
solves and POT, and every argument is checked by name.
"""

import warnings
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest
from scipy.optimize import OptimizeWarning

import soptim.ot as sot
from soptim.ot import _pairwise

REG = 0.05


def _problem(nx=5, ny=4, n=12, seed=0):
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 1.0, n)
    M = (x[:, None] - x[None, :]) ** 2
    X = rng.random((nx, n)) ** 2 + 1e-3
    Y = rng.random((ny, n)) ** 2 + 1e-3
    return X / X.sum(1, keepdims=True), Y / Y.sum(1, keepdims=True), M


@pytest.fixture(scope="module")
def serial():
    X, Y, M = _problem()
    return X, Y, M, sot.pairwise_distances(X, M=M, reg=REG), sot.pairwise_distances(
        X, Y, M=M, reg=REG)


@pytest.fixture(scope="module")
def dask_client():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        yield client


def test_entries_are_single_pair_costs(serial):
    X, Y, M, _, D = serial
    assert D.shape == (5, 4)
    for i in range(5):
        for j in range(4):
            assert D[i, j] == pytest.approx(sot.sinkhorn2(X[i], Y[j], M, REG), abs=1e-10)
    ot = pytest.importorskip("ot")
    ref = np.array([ot.sinkhorn2(X[i], Y.T, M, REG, stopThr=1e-12, numItermax=10000)
                    for i in range(5)])
    np.testing.assert_allclose(D, ref, rtol=0, atol=1e-8)


def test_symmetric_solves_half_the_pairs(monkeypatch, serial):
    X, _, M, Dsym, _ = serial
    solved = []
    real = _pairwise.sinkhorn2

    def counting(a, b, *args, **kwargs):
        if np.ndim(b) == 2:  # the blocks (the option check solves a 1-D problem)
            solved.append(np.shape(b)[1])
        return real(a, b, *args, **kwargs)

    monkeypatch.setattr(_pairwise, "sinkhorn2", counting)
    D, info = sot.pairwise_distances(X, M=M, reg=REG, log=True)
    assert sum(solved) == 5 * 4 // 2
    np.testing.assert_array_equal(D, Dsym)
    np.testing.assert_array_equal(D, D.T)
    np.testing.assert_array_equal(np.diag(D), 0.0)
    assert (D[~np.eye(5, dtype=bool)] > 0).all()
    assert info["success"].all() and (np.diag(info["nit"]) == 0).all()
    assert (info["nit"][~np.eye(5, dtype=bool)] > 0).all()
    assert info["marginal_error"].max() <= 1e-9
    # the lower triangle is the transposed problem: equal to the solver tolerance
    full = sot.pairwise_distances(X, X, M=M, reg=REG)
    off = ~np.eye(5, dtype=bool)
    np.testing.assert_allclose(full[off], D[off], rtol=1e-7)
    assert np.all(np.diag(full) > 0)  # entropic self-cost: why the symmetric diagonal is 0


def test_blocks_do_not_change_results(serial):
    X, Y, M, Dsym, D = serial
    for bs in (1, 3, 7, 1000):
        np.testing.assert_allclose(sot.pairwise_distances(X, Y, M=M, reg=REG, batch_size=bs),
                                   D, rtol=0, atol=1e-12)
        np.testing.assert_allclose(sot.pairwise_distances(X, M=M, reg=REG, batch_size=bs),
                                   Dsym, rtol=0, atol=1e-12)


def test_threads_equal_serial(serial):
    X, Y, M, Dsym, D = serial
    with ThreadPoolExecutor(2) as ex:
        got = sot.pairwise_distances(X, Y, M=M, reg=REG, executor=ex, batch_size=3)
        got_sym = sot.pairwise_distances(X, M=M, reg=REG, executor=ex)
    np.testing.assert_allclose(got, D, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got_sym, Dsym, rtol=0, atol=1e-12)


def test_processes_equal_serial(serial):
    X, Y, M, Dsym, D = serial
    with ProcessPoolExecutor(2) as ex:
        got = sot.pairwise_distances(X, Y, M=M, reg=REG, executor=ex, batch_size=3)
        got_sym = sot.pairwise_distances(X, M=M, reg=REG, executor=ex, batch_size=2)
    np.testing.assert_allclose(got, D, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got_sym, Dsym, rtol=0, atol=1e-12)


def test_dask_cluster_equals_serial(serial, dask_client):
    X, Y, M, Dsym, D = serial
    got = sot.pairwise_distances(X, Y, M=M, reg=REG, executor=dask_client, batch_size=3)
    got_sym, info = sot.pairwise_distances(X, M=M, reg=REG, executor=dask_client, log=True)
    np.testing.assert_allclose(got, D, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got_sym, Dsym, rtol=0, atol=1e-12)
    assert info["success"].all()
    # the same data again: its scattered copy must not collide with the first call's
    again = sot.pairwise_distances(X, Y, M=M, reg=REG, executor=dask_client, batch_size=3)
    np.testing.assert_array_equal(again, got)


def test_non_convergence_warns_and_reports():
    X, Y, M = _problem()
    with pytest.warns(OptimizeWarning, match=r"pairs did not reach stopThr.*numItermax"):
        D, info = sot.pairwise_distances(X, Y, M=M, reg=1e-3, method="sinkhorn",
                                         numItermax=2, log=True)
    assert not info["success"].any()
    assert np.isfinite(D).all()
    assert (info["marginal_error"] > 1e-9).all()
    assert "did not reach" in info["message"]


def test_warn_false_is_quiet():
    X, Y, M = _problem()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        D, info = sot.pairwise_distances(X, Y, M=M, reg=1e-3, method="sinkhorn",
                                         numItermax=2, warn=False, log=True)
    assert not info["success"].all()


def test_empty_and_single_row():
    X, Y, M = _problem()
    assert sot.pairwise_distances(X[:0], Y, M=M, reg=REG).shape == (0, 4)
    np.testing.assert_array_equal(sot.pairwise_distances(X[:1], M=M, reg=REG), [[0.0]])


def test_options_reach_the_solver():
    X, Y, M = _problem()
    # Sinkhorn's iteration count grows as stopThr shrinks
    loose = sot.pairwise_distances(X, Y, M=M, reg=REG, method="sinkhorn", stopThr=1e-3,
                                   log=True)[1]
    tight = sot.pairwise_distances(X, Y, M=M, reg=REG, method="sinkhorn", stopThr=1e-12,
                                   log=True)[1]
    assert (loose["nit"] < tight["nit"]).all()
    assert 1e-12 < loose["marginal_error"].min() and loose["marginal_error"].max() <= 1e-3
    assert tight["marginal_error"].max() <= 1e-12
    sk = sot.pairwise_distances(X, Y, M=M, reg=REG, method="sinkhorn_log")
    np.testing.assert_allclose(sk, sot.pairwise_distances(X, Y, M=M, reg=REG), atol=1e-8)


def test_unknown_option_warns_once():
    X, Y, M = _problem()
    with pytest.warns(OptimizeWarning, match="not_an_option") as rec:
        sot.pairwise_distances(X, Y, M=M, reg=REG, not_an_option=3)
    assert sum("not_an_option" in str(w.message) for w in rec) >= 1


def _bad_cases():
    X, Y, M = _problem()
    Xneg = X.copy()
    Xneg[1, 2] = -0.1
    Xnan = X.copy()
    Xnan[0, 0] = np.nan
    Yheavy = Y.copy()
    Yheavy[2] *= 2
    Xzero = X.copy()
    Xzero[3] = 0.0
    Masym = M.copy()
    Masym[0, 1] += 0.5
    Mdiag = M + 0.1
    return [
        (dict(X=X[0]), ValueError, "X"),
        (dict(X=Xneg), ValueError, "X"),
        (dict(X=Xnan), ValueError, "X"),
        (dict(X=X + 1j), TypeError, "X"),
        (dict(Y=Y[:, :5]), ValueError, r"M must have shape \(X.shape\[1\], Y.shape\[1\]\)"),
        (dict(Y=Yheavy), ValueError, r"Y\[2\] sums to"),
        (dict(Y=None, X=Xzero), ValueError, r"X\[3\] has zero total mass"),
        (dict(Y=None, M=Masym), ValueError, "M must be symmetric when Y is None"),
        (dict(Y=None, M=Mdiag), ValueError, "M must have a zero diagonal"),
        (dict(Y=None, M=M[:, :5], X=X[:, :12]), ValueError, "M must have shape"),
        (dict(M=np.where(M > 0.5, np.inf, M)), ValueError, "M"),
        (dict(reg=0.0), ValueError, "reg"),
        (dict(reg="0.05"), (TypeError, ValueError), "reg"),
        (dict(method="emd"), ValueError, "method"),
        (dict(method=3), TypeError, "method"),
        (dict(executor=4), TypeError, "executor must be"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(batch_size=2.5), TypeError, "batch_size"),
        (dict(log="yes"), TypeError, "log"),
        (dict(warn="no"), TypeError, "warn"),
        (dict(warmstart=(np.zeros(12), np.zeros(12))), TypeError, "warmstart"),
        (dict(stopThr=-1.0), ValueError, "stopThr"),
        (dict(numItermax=0), ValueError, "numItermax"),
    ]


@pytest.mark.parametrize("change,exc,match", _bad_cases())
def test_bad_arguments_are_named(change, exc, match):
    X, Y, M = _problem()
    kwargs = dict(X=X, Y=Y, M=M, reg=REG)
    kwargs.update(change)
    with pytest.raises(exc, match=match):
        sot.pairwise_distances(kwargs.pop("X"), kwargs.pop("Y"), **kwargs)


@pytest.mark.gpu
def test_gpu_arrays_stay_on_the_device(cp, serial):
    X, Y, M, Dsym, D = serial
    got = sot.pairwise_distances(cp.asarray(X), cp.asarray(Y), M=cp.asarray(M), reg=REG)
    assert isinstance(got, cp.ndarray)
    np.testing.assert_allclose(cp.asnumpy(got), D, rtol=0, atol=1e-10)
    got_sym = sot.pairwise_distances(cp.asarray(X), M=cp.asarray(M), reg=REG)
    np.testing.assert_allclose(cp.asnumpy(got_sym), Dsym, rtol=0, atol=1e-10)
