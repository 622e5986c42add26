import numpy as np
import pytest

from soptim import backend
from soptim._validation import as_float_array, as_generator, check_callable, check_positive


def test_numpy_backend():
    be = backend.get_backend(np.ones(3), None, 2.0)
    assert be.name == "numpy" and be.xp is np and not be.is_gpu
    import scipy

    assert be.scipy is scipy
    assert backend.to_numpy(np.arange(3)).tolist() == [0, 1, 2]


def test_numba_flag(monkeypatch):
    monkeypatch.setenv("SOPTIM_DISABLE_NUMBA", "1")
    assert not backend.numba_available()
    assert not backend.get_backend(np.ones(2)).use_numba
    monkeypatch.delenv("SOPTIM_DISABLE_NUMBA")
    assert backend.numba_available() == backend.HAS_NUMBA


def test_njit_has_cache_and_works():
    @backend.njit
    def add(a, b):
        return a + b

    assert add(1.0, 2.0) == 3.0


@pytest.mark.gpu
def test_cupy_backend(cp):
    be = backend.get_backend(cp.ones(3))
    assert be.name == "cupy" and be.xp is cp and be.is_gpu
    with pytest.raises(TypeError, match="mix CuPy"):
        backend.get_backend(cp.ones(3), np.ones(3))


def test_as_generator_reproducible():
    assert as_generator(3).random() == as_generator(3).random()
    g = np.random.default_rng(1)
    assert as_generator(g) is g
    with pytest.raises(TypeError, match="rng"):
        as_generator("seed")


def test_validation_errors_name_the_argument():
    with pytest.raises(ValueError, match="M contains NaN"):
        as_float_array("M", [[1.0, np.nan]])
    with pytest.raises(ValueError, match="a must be nonnegative"):
        as_float_array("a", [1.0, -1.0], nonnegative=True)
    with pytest.raises(ValueError, match=r"b must have shape \(3,\)"):
        as_float_array("b", np.ones(2), shape=(3,))
    with pytest.raises(ValueError, match="x must have 1 dimension"):
        as_float_array("x", np.ones((2, 2)), ndim=1)
    with pytest.raises(TypeError, match="f must be callable"):
        check_callable("f", 3)
    with pytest.raises(ValueError, match="reg must be > 0"):
        check_positive("reg", 0.0)
    assert as_float_array("a", [1, 2]).dtype == np.float64
    assert as_float_array("a", np.ones(2, np.float32)).dtype == np.float32


def test_check_count():
    from soptim._validation import check_count

    assert check_count("maxiter", 3) == 3
    assert check_count("maxiter", 0, minimum=0) == 0
    with pytest.raises(TypeError, match="maxiter must be an integer"):
        check_count("maxiter", 2.5)
    with pytest.raises(TypeError, match="maxiter must be an integer"):
        check_count("maxiter", True)
    with pytest.raises(ValueError, match="max_trials must be >= 1"):
        check_count("max_trials", 0)


# -- the backend operations the solvers use (NumPy side; the CuPy side runs in the gpu tests) --


def test_cholesky_reports_failure_as_none():
    be = backend.NUMPY
    A = np.array([[4.0, 2.0], [2.0, 3.0]])
    L = be.cholesky(A)
    np.testing.assert_allclose(L @ L.T, A)
    assert np.allclose(np.triu(L, 1), 0.0)
    assert be.cholesky(np.array([[1.0, 2.0], [2.0, 1.0]])) is None
    b = np.array([1.0, -1.0])
    np.testing.assert_allclose(be.cho_solve(L, b), np.linalg.solve(A, b))
    np.testing.assert_allclose(be.solve_triangular(L, b, lower=True), np.linalg.solve(L, b))
    np.testing.assert_allclose(be.solve_triangular(L, b, lower=True, trans=True),
                               np.linalg.solve(L.T, b))
    # integer matrices take the generic path (no LAPACK routine for them)
    assert be.lapack("potrf", np.eye(2, dtype=int)) is None
    assert be.cholesky(np.eye(2, dtype=np.int64)) is not None


def test_sparse_operations():
    import scipy.sparse as sps

    be = backend.NUMPY
    M = sps.random(30, 30, density=0.1, random_state=0, format="coo") + 10 * sps.eye(30)
    assert be.issparse(M) and not be.issparse(np.eye(2))
    assert be.solver_format(M).format == "csc"
    b = np.arange(30.0)
    np.testing.assert_allclose(be.spsolve(M, b), np.linalg.solve(M.toarray(), b), rtol=1e-10)
    np.testing.assert_array_equal(be.densify(M), M.toarray())
    assert be.to_device(M) is M
    assert be.index_dtype(10) == np.int32 and be.index_dtype(2**33) == np.int64


def test_dct_matches_scipy_and_mirrored_form():
    import scipy.fft

    be = backend.NUMPY
    y = np.random.default_rng(1).standard_normal((9, 4))
    for t in (1, 2, 3):
        np.testing.assert_allclose(be.dct(y, type=t, axis=0), scipy.fft.dct(y, type=t, axis=0))


def test_require_host_and_names():
    be = backend.NUMPY
    be.require_host("SLSQP")  # no error on the host
    assert be.on_host and backend.backend_named(None) is be and backend.backend_named("numpy") is be
    with pytest.raises(ValueError, match="backend must be"):
        backend.backend_named("torch")
    assert be.norm(np.array([3.0, 4.0])) == 5.0
    assert be.all_finite(np.ones(3)) and not be.all_finite(np.array([1.0, np.nan]))


def test_announce_compilation_prints_once(tmp_path, capsys):
    backend._ANNOUNCED.discard("test-group")

    class FakeKernel:
        signatures: list = []

        class _cache:  # noqa: N801 - mimics numba's FunctionCache layout
            class _cache_file:  # noqa: N801
                _index_path = str(tmp_path / "missing.nbi")

    backend.announce_compilation("test-group", FakeKernel)
    backend.announce_compilation("test-group", FakeKernel)
    err = capsys.readouterr().err
    if backend.HAS_NUMBA:
        assert err.count("compiling numba kernels for test-group") == 1
    else:
        assert err == ""


def test_numba_cached_sees_a_stale_index(tmp_path, capsys):
    # an index written for another version of the source file: numba recompiles, so the
    # kernel is not cached and the compile is announced (an existing file alone said
    # "cached" and the recompile after an upgrade went unannounced)
    backend._ANNOUNCED.discard("stale-group")
    index = tmp_path / "kernel.nbi"
    index.write_bytes(b"stale")
    loads = []

    class FakeKernel:
        signatures: list = []

        class _cache:  # noqa: N801 - mimics numba's FunctionCache layout
            class _cache_file:  # noqa: N801
                _index_path = str(index)

                @staticmethod
                def _load_index():
                    loads.append(1)
                    return fresh[0]

    fresh = [{}]  # what numba's loader returns for a stale stamp
    assert backend.numba_cached(FakeKernel) is False and loads
    backend.announce_compilation("stale-group", FakeKernel)
    assert "compiling numba kernels for stale-group" in capsys.readouterr().err or \
        not backend.HAS_NUMBA
    fresh[0] = {"sig": "entry"}
    assert backend.numba_cached(FakeKernel) is True
    assert backend.numba_cached(object()) is None
    if backend.HAS_NUMBA:  # a real kernel: its index is fresh once it has compiled
        from soptim.ot import _kernels as K

        assert backend.numba_cached(K._sum_range) in (True, False)
        K._sum_range(np.arange(3), 0, 3)
        assert backend.numba_cached(K._sum_range) is True


# -- the GPU-side operations, their wiring checked on the host ---------------------------------

def test_gpu_cholesky_runs_under_linalg_raise(monkeypatch):
    """The device Cholesky asks CuPy to raise on failure (its default returns a garbage factor).

    A stand-in ``cupy`` module whose cholesky returns a finite wrong factor for an
    indefinite matrix unless the stand-in ``cupyx.errstate(linalg='raise')`` is active.
    """
    import contextlib
    import sys
    import types

    import scipy

    state = {"linalg": "ignore"}

    @contextlib.contextmanager
    def errstate(*, linalg=None):
        old = state["linalg"]
        state["linalg"] = linalg
        try:
            yield
        finally:
            state["linalg"] = old

    def cholesky(M):
        L = np.linalg.cholesky(M + 10 * np.eye(M.shape[0]))  # finite, wrong for indefinite M
        if np.linalg.eigvalsh(M).min() <= 0 and state["linalg"] == "raise":
            raise np.linalg.LinAlgError("devInfo > 0")
        return L

    fake_cupy = types.ModuleType("cupy")
    fake_cupy.linalg = types.SimpleNamespace(cholesky=cholesky)
    fake_cupy.isfinite = np.isfinite
    fake_cupyx = types.ModuleType("cupyx")
    fake_cupyx.errstate = errstate
    monkeypatch.setitem(sys.modules, "cupyx", fake_cupyx)
    be = backend.Backend("cupy", fake_cupy, scipy)
    assert be.lapack("potrf", np.eye(2)) is None  # the device path, not LAPACK
    assert be.cholesky(np.array([[1.0, 2.0], [2.0, 1.0]])) is None
    A = np.array([[4.0, 2.0], [2.0, 3.0]])
    np.testing.assert_allclose(be.cholesky(A), np.linalg.cholesky(A + 10 * np.eye(2)))
    assert state["linalg"] == "ignore"  # restored after the call


def test_random_generator_per_backend():
    import scipy

    g = np.random.default_rng(5)
    assert backend.NUMPY.random_generator(g) is g  # host draws are the seed's own
    dev = backend.Backend("cupy", np, scipy)  # a device-like backend over NumPy's RandomState
    a = dev.random_generator(np.random.default_rng(5)).standard_normal((3, 2))
    b = dev.random_generator(np.random.default_rng(5)).standard_normal((3, 2))
    c = dev.random_generator(np.random.default_rng(6)).standard_normal((3, 2))
    np.testing.assert_array_equal(a, b)
    assert a.shape == (3, 2) and not np.array_equal(a, c)


def test_is_device_array():
    class FakeCupyArray:
        pass

    FakeCupyArray.__module__ = "cupy._core.core"

    class CudaInterface:
        __cuda_array_interface__ = {"shape": (2,), "typestr": "<f8", "data": (0, False),
                                    "version": 3}

    class HostTensor:  # a host tensor of a library that defines the property and raises
        @property
        def __cuda_array_interface__(self):
            raise AttributeError("not on a CUDA device")

    assert backend.is_device_array(FakeCupyArray()) and backend.is_device_array(CudaInterface())
    assert not backend.is_device_array(np.ones(2)) and not backend.is_device_array(HostTensor())
    assert not backend.is_device_array([1.0, 2.0])


def test_is_linear_operator_knows_both_backends():
    from scipy.sparse.linalg import aslinearoperator

    class LinearOperator:  # the GPU's class: not a subclass of scipy's
        shape = (2, 2)

        def matvec(self, v):
            return v

    LinearOperator.__module__ = "cupyx.scipy.sparse.linalg._interface"

    class Custom(LinearOperator):
        pass

    Custom.__module__ = "cupyx.scipy.sparse.linalg._interface"
    assert backend.is_linear_operator(aslinearoperator(np.eye(2)))
    assert backend.is_linear_operator(Custom())
    assert not backend.is_linear_operator(np.eye(2))
    op = backend.NUMPY.linear_operator((2, 2), lambda v: 2 * v, rmatvec=lambda v: 2 * v,
                                       rmatmat=lambda V: 3 * V)
    np.testing.assert_array_equal(op.rmatmat(np.eye(2)), 3 * np.eye(2))
