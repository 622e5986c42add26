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
def test_cupy_backend():
    cp = pytest.importorskip("cupy")
    if not backend.cupy_available():
        pytest.skip("no CUDA device")
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
