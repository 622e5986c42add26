"""soptim.linalg.sketch_solve: every sketch against a direct solve, kernels, errors."""

import numpy as np
import pytest
import scipy.sparse as sps
from scipy.optimize import OptimizeWarning
from scipy.sparse.linalg import aslinearoperator

from soptim._common import STATUS_MAXITER
from soptim.backend import NUMPY, numba_available
from soptim.linalg import SKETCHES, _kernels, sketch_solve

needs_numba = pytest.mark.skipif(not numba_available(), reason="numba is not available")


def _spd_system(n=40, seed=0):
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    K = Q @ np.diag(np.linspace(1.0, 10.0, n)) @ Q.T  # condition number 10
    x = rng.standard_normal(n)
    return K, K @ x, x


def _sparse_system(n=300, seed=0):
    # a 2-D Laplacian-like, diagonally dominant sparse matrix (well conditioned)
    rng = np.random.default_rng(seed)
    K = sps.random(n, n, density=0.01, random_state=seed, format="csr")
    K = K + K.T + sps.diags(4.0 + np.abs(K).sum(axis=1).A.ravel())
    x = rng.standard_normal(n)
    return K.tocsr(), K @ x, x


@pytest.mark.parametrize("accel", [0, 8])
@pytest.mark.parametrize("sketch", SKETCHES)
def test_dense_solution_matches_direct_solve(sketch, accel):
    K, r, x = _spd_system()
    res = sketch_solve(K, r, sketch=sketch, rng=0, rtol=1e-12, accel=accel)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, np.linalg.solve(K, r), atol=1e-9)
    assert res.residual == pytest.approx(np.linalg.norm(K @ res.x - r), abs=1e-12)
    assert res.residual <= 1e-12 * np.linalg.norm(r)


@pytest.mark.parametrize("sketch", SKETCHES)
def test_sparse_solution_matches_spsolve(sketch):
    from scipy.sparse.linalg import spsolve

    K, r, _ = _sparse_system()
    res = sketch_solve(K, r, sketch=sketch, rng=1, rtol=1e-10, block_size=None)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, spsolve(K.tocsc(), r), atol=1e-8)


@pytest.mark.parametrize("sketch, block_size", [("block", 7), ("gaussian", 5),
                                                ("countsketch", 6), ("kaczmarz", None)])
def test_linear_operator(sketch, block_size):
    K, r, x = _spd_system(20)
    res = sketch_solve(aslinearoperator(K), r, sketch=sketch, block_size=block_size, rng=0,
                       rtol=1e-10)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, x, atol=1e-8)


def test_min_norm_solution_of_underdetermined_system():
    rng = np.random.default_rng(2)
    A = rng.standard_normal((5, 12))
    r = A @ rng.standard_normal(12)
    for sketch in SKETCHES:
        res = sketch_solve(A, r, sketch=sketch, rng=0, rtol=1e-12)
        assert res.success
        # from x0 = 0, sketch-and-project stays in the row space: the min-norm solution
        np.testing.assert_allclose(res.x, np.linalg.pinv(A) @ r, atol=1e-9)


def test_kkt_paving_blocks():
    from scipy.sparse.linalg import spsolve

    from soptim.optimize._test_problems import pde_control_problem

    prob = pde_control_problem(10)
    n, m = prob["n"], prob["m"]
    K = sps.bmat([[prob["hess"](None), prob["A"].T], [prob["A"], None]], format="csr")
    r = np.r_[prob["wstar"], np.zeros(n - m), np.zeros(m)]
    res = sketch_solve(K, r, blocks=[np.arange(n), np.arange(n, n + m)], rng=0, rtol=1e-10)
    assert res.success
    np.testing.assert_allclose(res.x, spsolve(K.tocsc(), r), atol=1e-8)


def test_extrapolation_resolves_ill_conditioned_systems():
    # condition number 1e5: plain Kaczmarz stalls, the extrapolated sweeps do not
    rng = np.random.default_rng(1)
    Q, _ = np.linalg.qr(rng.standard_normal((6, 6)))
    K = Q @ np.diag([1.0, -0.5, 2.0, 3.0, -1.0, 1e-5]) @ Q.T
    r = rng.standard_normal(6)
    with pytest.warns(OptimizeWarning, match="accel > 0"):
        plain = sketch_solve(K, r, sketch="kaczmarz", rng=0, rtol=1e-10, accel=0,
                             maxiter=100_000)
    fast = sketch_solve(K, r, sketch="kaczmarz", rng=0, rtol=1e-10, maxiter=100_000)
    assert not plain.success
    assert fast.success
    np.testing.assert_allclose(fast.x, np.linalg.solve(K, r), rtol=1e-6)


def test_same_seed_same_result_different_seed_different_path():
    K, r, _ = _spd_system(30)
    a = sketch_solve(K, r, sketch="kaczmarz", rng=5, rtol=1e-3)
    b = sketch_solve(K, r, sketch="kaczmarz", rng=5, rtol=1e-3)
    c = sketch_solve(K, r, sketch="kaczmarz", rng=6, rtol=1e-3)
    np.testing.assert_array_equal(a.x, b.x)
    assert a.nit == b.nit
    assert not np.array_equal(a.x, c.x)


def test_uniform_row_sampling_and_x0():
    K, r, x = _spd_system(15)
    res = sketch_solve(K, r, sketch="kaczmarz", row_sampling="uniform", x0=x + 1e-3, rng=0,
                       rtol=1e-12)
    assert res.success
    np.testing.assert_allclose(res.x, x, atol=1e-9)


def test_inconsistent_system_reports_failure():
    K = np.array([[1.0, 0.0], [1.0, 0.0]])
    r = np.array([1.0, 2.0])
    with pytest.warns(OptimizeWarning, match="maxiter=5000"):
        res = sketch_solve(K, r, sketch="kaczmarz", rng=0, maxiter=5000)
    assert not res.success and res.status == STATUS_MAXITER and res.nit >= 5000
    assert "maxiter" in res.message and "lsqr" in res.message and np.isfinite(res.x).all()


def _random_csr(M, N, seed):
    K = sps.random(M, N, density=0.2, random_state=seed, format="csr") + sps.eye(M, N)
    K = K.tocsr()
    K.sum_duplicates()
    K.sort_indices()
    return K, K.T.tocsr()


class _Spy:
    """Wraps a kernel (numba dispatcher or NumPy twin) and counts its calls."""

    def __init__(self, fn):
        self.fn, self.calls = fn, 0

    def __call__(self, *args):
        self.calls += 1
        return self.fn(*args)


def _run_both(monkeypatch, numba_name, numpy_name, run):
    """``run()`` with numba on, then with SOPTIM_DISABLE_NUMBA=1; assert which kernel ran."""
    numba_kernel = getattr(_kernels, numba_name)
    numba_spy, numpy_spy = _Spy(numba_kernel), _Spy(getattr(_kernels, numpy_name))
    monkeypatch.setattr(_kernels, numba_name, numba_spy)
    monkeypatch.setattr(_kernels, numpy_name, numpy_spy)
    monkeypatch.delenv("SOPTIM_DISABLE_NUMBA", raising=False)
    fast = run()
    assert numba_spy.calls > 0 and numpy_spy.calls == 0
    assert numba_kernel.signatures, "the numba kernel did not compile"
    monkeypatch.setenv("SOPTIM_DISABLE_NUMBA", "1")
    assert not NUMPY.use_numba
    before = numba_spy.calls
    slow = run()
    assert numpy_spy.calls > 0 and numba_spy.calls == before
    return fast, slow


@needs_numba
def test_kaczmarz_kernel_numba_matches_numpy(monkeypatch):
    K, KT = _random_csr(30, 30, 0)
    rng = np.random.default_rng(0)
    r = rng.standard_normal(30)
    rows = rng.integers(0, 30, 500).astype(np.int64)
    rn2 = np.asarray(K.multiply(K).sum(axis=1)).ravel()

    def run():
        z = np.zeros(30)
        res = -r.copy()
        _kernels.kaczmarz_sweep(K, KT, rn2, rows, z, res, NUMPY)
        # the incremental residual is the true residual
        np.testing.assert_allclose(res, K @ z - r, atol=1e-10)
        return z

    fast, slow = _run_both(monkeypatch, "_kaczmarz_sweep_numba", "_kaczmarz_sweep_numpy", run)
    assert np.linalg.norm(fast) > 0.1  # the sweep moved
    np.testing.assert_allclose(fast, slow, atol=1e-12)


@needs_numba
def test_gaussian_kernel_numba_matches_numpy(monkeypatch):
    K, KT = _random_csr(25, 20, 1)
    rng = np.random.default_rng(1)
    r = K @ rng.standard_normal(20)
    S = rng.standard_normal((200, 25))

    def run():
        z = np.zeros(20)
        res = -r.copy()
        _kernels.gaussian_steps(K, KT, S, z, res, NUMPY)
        np.testing.assert_allclose(res, K @ z - r, atol=1e-10)
        return z

    fast, slow = _run_both(monkeypatch, "_gaussian_steps_numba", "_gaussian_steps_numpy", run)
    assert np.linalg.norm(fast) > 0.1
    np.testing.assert_allclose(fast, slow, atol=1e-12)


@needs_numba
@pytest.mark.parametrize("sketch, numba_name, numpy_name", [
    ("kaczmarz", "_kaczmarz_sweep_numba", "_kaczmarz_sweep_numpy"),
    ("gaussian", "_gaussian_steps_numba", "_gaussian_steps_numpy"),
])
def test_numpy_fallback_end_to_end(monkeypatch, sketch, numba_name, numpy_name):
    K, r, x = _spd_system(12)

    def run():
        return sketch_solve(K, r, sketch=sketch, rng=0, rtol=1e-10)

    a, b = _run_both(monkeypatch, numba_name, numpy_name, run)
    assert a.success and b.success
    np.testing.assert_allclose(a.x, x, atol=1e-8)
    # the same random steps in both paths: the same iterates up to rounding
    assert a.nit == b.nit
    np.testing.assert_allclose(a.x, b.x, atol=1e-9)


@pytest.mark.parametrize("kwargs, exc, match", [
    ({"K": np.ones((3, 3)), "r": np.ones(4)}, ValueError, r"r must have shape \(3,\)"),
    ({"K": np.ones(3), "r": np.ones(3)}, ValueError, "K must have 2"),
    ({"K": np.array([[np.nan, 1.0], [1.0, 1.0]]), "r": np.ones(2)}, ValueError, "K contains NaN"),
    ({"K": sps.csr_matrix(np.array([[np.inf, 1.0], [1.0, 1.0]])), "r": np.ones(2)}, ValueError,
     "K contains NaN"),
    ({"K": np.eye(2), "r": np.array([1.0, np.nan])}, ValueError, "r contains NaN"),
    ({"K": np.eye(2), "r": np.ones(2), "x0": np.ones(3)}, ValueError, r"x0 must have shape"),
    ({"K": np.eye(2), "r": np.ones(2), "sketch": "srht"}, ValueError, "sketch must be one of"),
    ({"K": np.eye(2), "r": np.ones(2), "block_size": 0}, ValueError, "block_size must be >= 1"),
    ({"K": np.eye(2), "r": np.ones(2), "block_size": 1.5}, TypeError, "block_size must be an int"),
    ({"K": np.eye(2), "r": np.ones(2), "blocks": [[0, 5]]}, ValueError, "row indices in"),
    ({"K": np.eye(2), "r": np.ones(2), "blocks": [[0], [1]], "sketch": "kaczmarz"}, ValueError,
     "only used with sketch='block'"),
    ({"K": np.eye(2), "r": np.ones(2), "rtol": -1.0}, ValueError, "rtol must be >= 0"),
    ({"K": np.eye(2), "r": np.ones(2), "row_sampling": "rows"}, ValueError, "row_sampling"),
    ({"K": "matrix", "r": np.ones(2)}, TypeError, "K must be"),
    ({"K": np.eye(2), "r": np.ones(2), "rng": "seed"}, TypeError, "rng must be"),
    ({"K": np.eye(2), "r": np.ones(2), "accel": -2}, ValueError, "accel must be"),
])
def test_bad_input(kwargs, exc, match):
    K, r = kwargs.pop("K"), kwargs.pop("r")
    with pytest.raises(exc, match=match):
        sketch_solve(K, r, **kwargs)


@pytest.mark.gpu
@pytest.mark.parametrize("sketch", SKETCHES)
def test_cupy_dense(cp, sketch):
    K, r, x = _spd_system(20)
    res = sketch_solve(cp.asarray(K), cp.asarray(r), sketch=sketch, rng=0, rtol=1e-10)
    assert isinstance(res.x, cp.ndarray) and res.success, res.message
    np.testing.assert_allclose(cp.asnumpy(res.x), x, atol=1e-8)


@pytest.mark.gpu
@pytest.mark.parametrize("sketch", SKETCHES)
def test_cupy_sparse(cp, sketch):
    from soptim.backend import backend_named

    K, r, x = _sparse_system(200)
    Kg = backend_named("cupy").to_device(K)  # the GPU's CSR matrix
    res = sketch_solve(Kg, cp.asarray(r), sketch=sketch, rng=0, rtol=1e-10)
    assert isinstance(res.x, cp.ndarray) and res.success, res.message
    np.testing.assert_allclose(cp.asnumpy(res.x), x, atol=1e-7)


@pytest.mark.gpu
def test_cupy_large_sparse_blocks_and_rescaling(cp):
    # 600 rows: 256-row sparse blocks (the sparse LU path); entries near 1e300 rescaled
    from soptim.backend import backend_named

    K, r, x = _sparse_system(600)
    Kg = backend_named("cupy").to_device(K * 1e300)
    res = sketch_solve(Kg, cp.asarray(r * 1e300), rng=0, rtol=1e-10)
    assert res.success, res.message
    np.testing.assert_allclose(cp.asnumpy(res.x), x, atol=1e-7)


# -- the device code paths, run on the host through a backend that reports "not on host" --

def _device_like(monkeypatch, calls=None):
    """A Backend named 'cupy' over NumPy/SciPy: on_host is False, so sketch_solve takes the
    paths it takes on the GPU (row steps, device RNG), which can then be checked here."""
    import scipy

    from soptim.backend import Backend
    from soptim.linalg import _sketch

    class DeviceLike(Backend):
        def random_generator(self, rng):
            if calls is not None:
                calls.append("random_generator")
            return super().random_generator(rng)

    be = DeviceLike("cupy", np, scipy)
    monkeypatch.setattr(_sketch, "get_backend", lambda *a: be)
    return be


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_device_kaczmarz_row_steps_without_full_products_or_svd(monkeypatch, kind):
    from soptim.linalg import _sketch

    K, r, x = _spd_system(30) if kind == "dense" else _sparse_system(120)
    host = sketch_solve(K, r, sketch="kaczmarz", rng=3, rtol=1e-10)
    _device_like(monkeypatch)
    products = []
    orig = _sketch.SketchProjector.matvec
    monkeypatch.setattr(_sketch.SketchProjector, "matvec",
                        lambda self, z: products.append(1) or orig(self, z))

    def no_kernel(*a, **k):
        raise AssertionError("the host CSR kernels must not run on the device path")

    def no_svd(*a, **k):
        raise AssertionError("no SVD per Kaczmarz row")

    monkeypatch.setattr(_kernels, "kaczmarz_sweep", no_kernel)
    monkeypatch.setattr(np.linalg, "svd", no_svd)
    dev = sketch_solve(K, r, sketch="kaczmarz", rng=3, rtol=1e-10)
    assert dev.success, dev.message
    np.testing.assert_allclose(dev.x, x, atol=1e-8)
    np.testing.assert_allclose(dev.x, host.x, atol=1e-9)
    # one product per sweep of max(M, 1024) row steps (plus the start and the final check)
    M = K.shape[0]
    assert len(products) <= dev.nit // max(M, 1024) + 4


def test_device_kaczmarz_unsorted_duplicate_sparse_entries(monkeypatch):
    # duplicate (i, j) entries: the row steps must see their sum, not the last one
    K, r, x = _sparse_system(60)
    coo = K.tocoo()
    half = sps.csr_matrix((np.concatenate([coo.data / 2, coo.data / 2]),
                           (np.concatenate([coo.row, coo.row]),
                            np.concatenate([coo.col, coo.col]))), shape=K.shape)
    half.has_canonical_format = False
    _device_like(monkeypatch)
    res = sketch_solve(half, r, sketch="kaczmarz", rng=0, rtol=1e-10)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, x, atol=1e-8)


def test_device_gaussian_sketches_draw_on_the_backend(monkeypatch):
    K, r, x = _spd_system(25)
    calls: list = []
    _device_like(monkeypatch, calls)
    a = sketch_solve(K, r, sketch="gaussian", rng=7, rtol=1e-10)
    b = sketch_solve(K, r, sketch="gaussian", rng=7, rtol=1e-10)
    c = sketch_solve(K, r, sketch="gaussian", block_size=4, rng=7, rtol=1e-10)
    assert a.success and b.success and c.success
    np.testing.assert_allclose(a.x, x, atol=1e-8)
    np.testing.assert_allclose(c.x, x, atol=1e-8)
    # same seed, same iterates on the same backend; one device generator per solve
    np.testing.assert_array_equal(a.x, b.x)
    assert a.nit == b.nit
    assert calls == ["random_generator"] * 3


def test_single_row_sketch_solve_is_the_projection():
    from soptim.linalg._sketch import SketchProjector

    rng = np.random.default_rng(4)
    A = rng.standard_normal((1, 9)) * 1e-160  # tiny: ||a||^2 underflows, ||a|| does not
    v = np.array([3e-160])
    solve = SketchProjector(np.eye(9), sketch="gaussian")._minnorm(A)
    np.testing.assert_allclose(solve(v), np.linalg.pinv(A * 1e160) @ (v * 1e160), rtol=1e-12)
    assert not solve(np.zeros(1)).any()
    zero = SketchProjector(np.eye(9), sketch="gaussian")._minnorm(np.zeros((1, 9)))
    assert not zero(np.ones(1)).any()


def test_operator_kaczmarz_extracts_rows_in_blocks_once():
    from scipy.sparse.linalg import LinearOperator

    K, r, x = _spd_system(100)
    calls = {"rmatmat": 0, "rmatvec": 0, "rows": 0}

    def rmatmat(V):
        calls["rmatmat"] += 1
        calls["rows"] += V.shape[1]
        return K.T @ V

    def rmatvec(v):
        calls["rmatvec"] += 1
        return K.T @ v

    op = LinearOperator(K.shape, matvec=lambda v: K @ v, rmatvec=rmatvec, rmatmat=rmatmat,
                        dtype=np.float64)
    res = sketch_solve(op, r, sketch="kaczmarz", rng=0, rtol=1e-8)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, x, atol=1e-6)
    assert res.nit > 2 * 1024  # several sweeps ...
    # ... but each row was read once for the norms and at most once for the steps, in blocks
    # of up to 256 (one product per row before)
    assert calls["rows"] <= 2 * 100 and calls["rmatmat"] <= 6 and calls["rmatvec"] == 0
