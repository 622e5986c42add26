"""soptim.approx: the Tucker cross of ChebTucker.fit (sampling='cross'), the domain object,
maxvol and the executor option. Errors are measured on random points of the box, relative
to max |f|, never on the sampling grid or the cross's own check points."""

import itertools
import warnings
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest

from soptim.approx import ChebTucker, ResolutionWarning
from soptim.approx._cross import maxvol
from soptim.approx._domain import Box
from soptim.approx._examples import erf_over_r, gauss10, shifted_newton

CUBE = [(-1.0, 1.0)] * 3


def rel_max_error(ct, f, d, n=20000, seed=7):
    P = np.random.default_rng(seed).uniform(-1.0, 1.0, (n, d))
    exact = f(*P.T)
    return float(np.abs(ct.evaluate(P) - exact).max() / np.abs(exact).max())


class Counting:
    """f with a count of the points it was asked for (to check n_evaluations)."""

    def __init__(self, f):
        self.f, self.points = f, 0

    def __call__(self, *x):
        self.points += int(np.broadcast(*x).size)
        return self.f(*x)


def _centers(k, d, seed):
    return np.random.default_rng(seed).uniform(-0.5, 0.5, (k, d))


def mixture6(*x):
    """Five Gaussians exp(-4 |x - c_j|^2) in 6-D: Tucker ranks 5 along every axis."""
    c = _centers(5, 6, 3)
    return sum(np.exp(-4.0 * sum((xi - c[j, i]) ** 2 for i, xi in enumerate(x)))
               for j in range(5))


def rational5(*x):
    """1 / (1 + sum_i (i + 1) x_i^2 / 2) in 5-D: not separable, moderate ranks."""
    return 1.0 / (1.0 + sum(0.5 * (i + 1) * xi**2 for i, xi in enumerate(x)))


# ----------------------------------------------------------------------------- against the grid


@pytest.mark.parametrize("f, ranks", [
    (lambda x, y, z: np.cos(x + 2 * y + z), (2, 2, 2)),            # cos(a+b) expansions
    (lambda x, y, z: np.exp(x) * np.sin(y) + z**3 * np.cos(x), (2, 2, 2)),
    (gauss10, (1, 1, 1)),
])
def test_cross_matches_grid_on_functions_of_known_rank(f, ranks):
    grid = ChebTucker.fit(f, CUBE, tol=1e-10, sampling="grid")
    cross = ChebTucker.fit(f, CUBE, tol=1e-10, sampling="cross")
    assert grid.method == "grid" and cross.method == "cross"
    assert grid.ranks == ranks and cross.ranks == ranks
    assert cross.converged and "cross: resolved" in cross.message
    P = np.random.default_rng(1).uniform(-1, 1, (5000, 3))
    np.testing.assert_allclose(cross.evaluate(P), grid.evaluate(P), atol=1e-9, rtol=0)
    assert rel_max_error(cross, f, 3) <= 1e-9
    # the degrees are chopped after the fibers' doubling: below the next doubling level
    # (the cross keeps more where chopping would push its check above tol / 8)
    assert all(b - 4 <= a < 2 * b for a, b in zip(cross.degrees, grid.degrees))


def test_erf_over_r_needs_few_evaluations_and_counts_them():
    f = Counting(erf_over_r(10.0))
    ct = ChebTucker.fit(f, CUBE, tol=1e-6)  # 'auto': the first grid does not resolve it
    assert ct.method == "cross"
    assert ct.n_evaluations == ct.nfev == f.points  # every value of f is counted
    # the full grid takes 129^3 = 2,146,689 values; the goal is <= 100,000
    assert ct.n_evaluations <= 60_000
    err = rel_max_error(ct, f.f, 3)
    assert err <= 1e-6 and err <= ct.error_estimate
    assert ct.error_estimate <= 1e-5  # honest, but not vacuous
    assert max(ct.degrees) <= 80 and max(ct.ranks) <= 12


def test_auto_keeps_the_grid_for_small_problems():
    # 17^3 points resolve it: the grid is cheaper than any cross with its checks
    ct = ChebTucker.fit(shifted_newton, CUBE, tol=1e-6)
    assert ct.method == "grid" and ct.nfev == 17**3
    two = ChebTucker.fit(lambda x, y: np.exp(-((x - 0.3) ** 2 + y**2) * 30), [(-1, 1)] * 2,
                         tol=1e-10)
    assert two.method == "grid"  # d <= 2: always the grid


# ----------------------------------------------------------------------------- 5-D and 6-D


def test_five_dimensional_function_at_1e6():
    ct = ChebTucker.fit(rational5, [(-1, 1)] * 5, tol=1e-6)
    assert ct.method == "cross" and ct.converged
    err = rel_max_error(ct, rational5, 5, n=10000)
    assert err <= 1e-6 and err <= ct.error_estimate
    assert ct.n_evaluations <= 5e5  # the grid at these degrees needs > 10^8


def test_six_dimensional_gaussian_mixture_at_1e6():
    ct = ChebTucker.fit(mixture6, [(-1, 1)] * 6, tol=1e-6)
    assert ct.method == "cross" and ct.converged
    assert ct.ranks == (5,) * 6
    err = rel_max_error(ct, mixture6, 6, n=10000)
    assert err <= 1e-6 and err <= ct.error_estimate
    assert min(ct.degrees) >= 16  # the degree ~20 the full grid cannot afford in 6-D
    assert ct.n_evaluations <= 1e5  # instead of 21^6 = 8.6e7


# ----------------------------------------------------------------------------- missed features


def _bump(width):
    def f(x, y, z):
        return np.exp(-(x**2 + y**2 + z**2)) + np.exp(
            -((x - 0.6) ** 2 + (y + 0.5) ** 2 + (z - 0.3) ** 2) / width**2)
    return f


@pytest.mark.parametrize("width", [0.1, 0.05])
def test_narrow_feature_is_resolved_or_reported(width):
    f = _bump(width)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        ct = ChebTucker.fit(f, CUBE, tol=1e-6, sampling="cross")
    err = rel_max_error(ct, f, 3, n=50000)
    warned = any(issubclass(x.category, ResolutionWarning) for x in w)
    # never a silent wrong answer: accurate and converged, or not converged with a warning
    if ct.converged:
        assert err <= 1e-6 and not warned
    else:
        assert warned and "missed a feature" in ct.message
    assert err <= ct.error_estimate or not ct.converged
    if width == 0.1:  # fibers through the worst check points find this one
        assert ct.converged and ct.ranks == (2, 2, 2)


def test_cross_reports_a_degree_cap():
    with pytest.warns(ResolutionWarning, match="not resolved"):
        ct = ChebTucker.fit(lambda x, y, z: np.abs(x) + y * z, CUBE, tol=1e-8,
                            sampling="cross", max_degree=32)
    assert not ct.converged and ct.error_estimate > 1e-8
    fixed = ChebTucker.fit(erf_over_r(5.0), CUBE, tol=1e-6, sampling="cross", degree=48)
    assert fixed.degrees == (48,) * 3 or max(fixed.degrees) <= 48
    assert rel_max_error(fixed, erf_over_r(5.0), 3, n=5000) <= 1e-6


def test_one_dimensional_cross_is_the_univariate_interpolant():
    ct = ChebTucker.fit(np.exp, (-1.0, 2.0), tol=1e-12, sampling="cross")
    x = np.linspace(-1, 2, 101)
    np.testing.assert_allclose(ct(x), np.exp(x), atol=1e-12 * np.exp(2.0), rtol=0)
    assert ct.ranks == (1,) and ct.method == "cross"


# ----------------------------------------------------------------------------- building blocks


def test_maxvol_finds_a_dominant_submatrix():
    U = np.linalg.qr(np.random.default_rng(2).standard_normal((12, 3)))[0]
    idx = maxvol(U)
    assert len(set(idx.tolist())) == 3
    assert np.abs(U @ np.linalg.inv(U[idx])).max() <= 1.05 + 1e-12
    best = max(abs(np.linalg.det(U[list(c)])) for c in itertools.combinations(range(12), 3))
    assert abs(np.linalg.det(U[idx])) >= best / 1.05**3


def test_box_maps_like_numpy_polynomial_mapparms():
    from numpy.polynomial import Chebyshev

    box = Box([(0.0, 2.0), (-3.0, 5.0)])
    for l, (a, b) in enumerate(box.intervals):
        assert box.mapparms(l) == pytest.approx(Chebyshev([1], domain=[a, b]).mapparms())
        x = np.linspace(a, b, 7)
        np.testing.assert_allclose(box.from_unit(l, box.to_unit(l, x)), x, rtol=1e-15)
    assert box.has_samedomain(Box([(0, 2), (-3, 5)]))
    assert not box.has_samedomain(Box([(0, 2), (-3, 5.001)]))
    assert not box.has_samedomain(Box([(0, 2)]))
    with pytest.raises(ValueError, match="a < b"):
        Box([(1.0, 1.0)])
    ct = ChebTucker.fit(lambda x, y: x * y, [(0, 2), (-3, 5)])
    other = ChebTucker.fit(lambda x, y: x + y, [(0, 2), (-3, 5.5)])
    with pytest.raises(ValueError, match="same box"):
        ct + other


def test_sampling_option_is_checked():
    with pytest.raises(ValueError, match="sampling"):
        ChebTucker.fit(gauss10, CUBE, sampling="sparse")
    with pytest.raises(TypeError, match="executor"):
        ChebTucker.fit(gauss10, CUBE, executor=4)


# ----------------------------------------------------------------------------- executor


@pytest.mark.parametrize("sampling", ["cross", "grid"])
def test_executor_results_equal_serial(sampling):
    import threading

    serial = ChebTucker.fit(shifted_newton, CUBE, tol=1e-8, sampling=sampling)
    names = set()

    def f(x, y, z):
        names.add(threading.current_thread().name)
        return shifted_newton(x, y, z)

    with ThreadPoolExecutor(2, thread_name_prefix="soptim-test") as ex:
        threads = ChebTucker.fit(f, CUBE, tol=1e-8, sampling=sampling, executor=ex)
    assert any(n.startswith("soptim-test") for n in names)  # the pool did the sampling
    with ProcessPoolExecutor(2) as ex:  # shifted_newton is module level: it pickles
        procs = ChebTucker.fit(shifted_newton, CUBE, tol=1e-8, sampling=sampling,
                               executor=ex)
    for other in (threads, procs):
        assert other.nfev == serial.nfev and other.ranks == serial.ranks
        np.testing.assert_allclose(other.coefficients(), serial.coefficients(),
                                   atol=1e-12, rtol=0)


# ----------------------------------------------------------------------------- from_cp


def test_from_cp_cross_matches_rhosvd_and_counts_points():
    a = np.linspace(1.0, 20.0, 30)  # 30 Gaussians exp(-a_k |x|^2): Tucker ranks ~8 at 1e-8
    seen = []

    def u(x):
        seen.append(np.asarray(x).shape[0])
        return np.exp(-np.outer(np.asarray(x) ** 2, a))

    w = np.ones(30)
    ref = ChebTucker.from_cp(w, [u] * 3, domain=CUBE, tol=1e-8)
    seen.clear()
    ct = ChebTucker.from_cp(w, [u] * 3, domain=CUBE, tol=1e-8, sampling="cross")
    assert ref.method == "cp" and ct.method == "cp-cross" and ct.converged
    assert ct.n_evaluations == sum(seen) // 3  # each point evaluates the 3 axes' vectors
    assert ct.ranks == ref.ranks
    P = np.random.default_rng(3).uniform(-1, 1, (5000, 3))
    exact = (u(P[:, 0]) * u(P[:, 1]) * u(P[:, 2])) @ w
    err = float(np.abs(ct.evaluate(P) - exact).max() / np.abs(exact).max())
    assert err <= ct.error_estimate <= 1e-8
    np.testing.assert_allclose(ct.evaluate(P), ref.evaluate(P), atol=1e-7 * 30, rtol=0)
    # array factors on a grid go through the same splines as the rhosvd route
    g = np.linspace(-1.0, 1.0, 201)
    arr = ChebTucker.from_cp(w, [u(g)] * 3, [g] * 3, tol=1e-6, sampling="cross")
    assert arr.method == "cp-cross" and arr.converged
    assert np.abs(arr.evaluate(P) - exact).max() / np.abs(exact).max() <= 1e-5
    with pytest.raises(ValueError, match="sampling"):
        ChebTucker.from_cp(w, [u] * 3, domain=CUBE, sampling="grid")
    with pytest.raises(ValueError, match=r"factors\[1\]"):
        ChebTucker.from_cp(w, [u, lambda x: u(x)[:, :2], u], domain=CUBE, sampling="cross")
