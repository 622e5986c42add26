"""Univariate Chebyshev tools and Tucker truncation, against numpy.polynomial / closed forms."""

import numpy as np
import pytest
import scipy.fft
from numpy.polynomial import chebyshev as npcheb

from soptim.approx import TuckerTensor, chebpts
from soptim.approx import _chebyshev as cb
from soptim.approx import _tucker as tk
from soptim.backend import Backend


@pytest.mark.parametrize("m", [1, 2, 5, 16, 33])
def test_second_kind_values_coeffs_roundtrip(m):
    rng = np.random.default_rng(m)
    c = rng.standard_normal((m, 3))
    x = cb.chebpts2(m)
    vals = npcheb.chebval(x, c)  # shape (3, m)
    np.testing.assert_allclose(cb.vals2coeffs2(vals.T), c, atol=1e-13)
    np.testing.assert_allclose(cb.coeffs2vals2(c), vals.T, atol=1e-13)


@pytest.mark.parametrize("m", [1, 4, 17])
def test_first_kind_values_coeffs_roundtrip(m):
    rng = np.random.default_rng(m)
    c = rng.standard_normal((m, 2))
    x = cb.chebpts1(m)
    np.testing.assert_allclose(np.sort(np.cos(np.pi * (np.arange(m) + 0.5) / m)), x, atol=1e-15)
    vals = npcheb.chebval(x, c).T
    np.testing.assert_allclose(cb.vals2coeffs1(vals), c, atol=1e-13)
    np.testing.assert_allclose(cb.coeffs2vals1(c), vals, atol=1e-13)


def test_second_kind_points_are_numpy_chebpts2_and_symmetric():
    np.testing.assert_allclose(cb.chebpts2(9), npcheb.chebpts2(9), atol=1e-15)
    x = cb.chebpts2(10)
    assert np.array_equal(x, -x[::-1])
    np.testing.assert_allclose(chebpts(5, (1.0, 3.0)), 2.0 + npcheb.chebpts2(5), atol=1e-15)


def _device_route():
    """The GPU's code path on the host: a backend named 'cupy' over NumPy and scipy.

    ``be.dct`` then takes the mirrored real FFT for the DCT-I (the device has no
    DCT-I) and ``be.use_numba`` is False, as on the GPU.
    """
    import scipy

    return Backend("cupy", np, scipy)


@pytest.mark.parametrize("n", [2, 3, 8, 17])
def test_device_route_dct1_is_scipy_dct1(n, monkeypatch):
    y = np.random.default_rng(n).standard_normal((n, 4))
    be = _device_route()
    calls = []
    rfft = np.fft.rfft
    monkeypatch.setattr(np.fft, "rfft", lambda *a, **k: calls.append(1) or rfft(*a, **k))
    np.testing.assert_allclose(cb.dct1(y, axis=0, be=be), scipy.fft.dct(y, type=1, axis=0),
                               atol=1e-12)
    np.testing.assert_allclose(cb.dct1(y.T, axis=1, be=be), scipy.fft.dct(y.T, type=1, axis=1),
                               atol=1e-12)
    assert len(calls) == 2  # the mirrored FFT ran, not scipy's DCT-I
    # and the coefficient round trip through it
    c = cb.vals2coeffs2(y, axis=0, be=be)
    np.testing.assert_allclose(c, cb.vals2coeffs2(y, axis=0), atol=1e-13)
    np.testing.assert_allclose(cb.coeffs2vals2(c, axis=0, be=be), y, atol=1e-12)


def test_clenshaw_vander_der_integral_match_numpy():
    rng = np.random.default_rng(0)
    c = rng.standard_normal((12, 3))
    x = rng.uniform(-1, 1, 50)
    np.testing.assert_allclose(cb.clenshaw(x, c), npcheb.chebval(x, c).T, atol=1e-12)
    np.testing.assert_allclose(cb.chebvander(x, 12), npcheb.chebvander(x, 11), atol=1e-12)
    np.testing.assert_allclose(cb.chebder(c, scale=2.5), 2.5 * npcheb.chebder(c, axis=0),
                               atol=1e-12)
    assert cb.chebder(c[:1]).shape == (1, 3) and not cb.chebder(c[:1]).any()
    exact = [npcheb.chebval(1.0, npcheb.chebint(c[:, j])) - npcheb.chebval(-1.0,
             npcheb.chebint(c[:, j])) for j in range(3)]
    np.testing.assert_allclose(cb.integral_weights(12) @ c, exact, atol=1e-12)


def test_tail_estimates_on_known_decay():
    k = np.arange(33, dtype=float)
    geometric = 0.5**k
    # true tail beyond 33 coefficients: sum_{k>=33} 0.5^k = 0.5^32
    est = cb.extrapolated_tail(geometric)
    assert 0.5 * 0.5**32 <= est <= 2 * 0.5**32
    algebraic = 1.0 / (k + 1) ** 3
    true_tail = sum(1.0 / j**3 for j in range(34, 100000))
    assert true_tail / 3 <= cb.extrapolated_tail(algebraic) <= 3 * true_tail
    # an odd function: zero even coefficients must not look converged
    odd = np.where(k % 2 == 1, 0.5**k, 0.0)
    assert 0.5 * 0.5**33 <= cb.extrapolated_tail(odd) <= 4 * 0.5**33
    assert cb.chop_length(geometric, 0.0, 1e-6) == int(np.ceil(np.log2(2e6)))
    assert cb.chop_length(np.ones(4), 0.0, 0.5) == 4


# ----------------------------------------------------------------------------- Tucker


def _lowrank_plus_noise(shape, ranks, noise, seed):
    rng = np.random.default_rng(seed)
    core = rng.standard_normal(ranks)
    U = [np.linalg.qr(rng.standard_normal((n, r)))[0] for n, r in zip(shape, ranks)]
    return tk.tucker_full(core, U) + noise * rng.standard_normal(shape)


@pytest.mark.parametrize("tol", [1e-1, 1e-3, 1e-6, 1e-12])
def test_hosvd_eps_rule_bound(tol):
    C = _lowrank_plus_noise((12, 10, 9), (3, 4, 2), 1e-4, seed=1)
    core, V, s = tk.hosvd(C, eps=tol)
    Cr = tk.tucker_full(core, V)
    assert np.linalg.norm(C - Cr) <= tol * np.linalg.norm(C)
    for l, Vl in enumerate(V):
        np.testing.assert_allclose(Vl.T @ Vl, np.eye(Vl.shape[1]), atol=1e-12)
        # the rank is the smallest one meeting the per-mode rule
        r = Vl.shape[1]
        thresh = tol * np.linalg.norm(C) / np.sqrt(3)
        assert np.sqrt(np.sum(s[l][r:] ** 2)) <= thresh
        if r > 1:
            assert np.sqrt(np.sum(s[l][r - 1:] ** 2)) > thresh


def test_hosvd_recovers_exact_ranks():
    C = _lowrank_plus_noise((8, 9, 10), (2, 3, 2), 0.0, seed=2)
    core, V, _ = tk.hosvd(C, eps=1e-10)
    assert core.shape == (2, 3, 2)


def test_hooi_never_increases_error():
    C = _lowrank_plus_noise((10, 11, 12), (4, 4, 4), 0.3, seed=3)
    for ranks in [(1, 1, 1), (2, 3, 2), (3, 3, 4)]:
        core, V, _ = tk.hosvd(C, ranks=ranks)
        e0 = np.linalg.norm(C - tk.tucker_full(core, V))
        prev = e0
        for sweeps in (1, 2, 5):
            core2, V2, _ = tk.hooi(C, V, max_sweeps=sweeps, rtol=0.0)
            e = np.linalg.norm(C - tk.tucker_full(core2, V2))
            assert e <= prev * (1 + 1e-12)
            prev = e
        assert prev < e0  # a noisy tensor: HOOI improves on the HOSVD


@pytest.mark.parametrize("tol", [1e-2, 1e-6, 1e-10])
def test_rhosvd_bound_without_full_tensor(tol):
    rng = np.random.default_rng(4)
    R, shape = 25, (14, 15, 16)
    w = rng.standard_normal(R)
    # smooth, strongly correlated canonical vectors (Gaussians of varying width)
    factors = [np.exp(-rng.uniform(1, 20, R) * np.linspace(-1, 1, n)[:, None] ** 2)
               for n in shape]
    core, V, norm = tk.rhosvd(w, factors, tol)
    full = np.einsum("k,ak,bk,ck->abc", w, *factors)
    assert norm == pytest.approx(np.linalg.norm(full), rel=1e-10)
    assert np.linalg.norm(full - tk.tucker_full(core, V)) <= tol * np.linalg.norm(full)
    assert max(core.shape) < min(shape)


def test_recompress_and_tucker_tensor():
    rng = np.random.default_rng(5)
    core = rng.standard_normal((2, 3))
    U = [rng.standard_normal((6, 2)), rng.standard_normal((7, 3))]
    small, V = tk.recompress(core, U, 1e-14)
    np.testing.assert_allclose(tk.tucker_full(small, V), U[0] @ core @ U[1].T, atol=1e-12)
    t = TuckerTensor(core, U)
    assert t.shape == (6, 7) and t.ranks == (2, 3) and t.ndim == 2
    np.testing.assert_allclose(t.full(), U[0] @ core @ U[1].T)
    with pytest.raises(ValueError, match="factors"):
        TuckerTensor(core, [U[0], U[0]])
    with pytest.raises(ValueError, match="core has"):
        TuckerTensor(core, U[:1])
