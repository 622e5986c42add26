"""soptim._numdiff against scipy.optimize's finite differences and exact derivatives."""

import numpy as np
import pytest
from scipy.optimize import approx_fprime, rosen, rosen_der, rosen_hess
from scipy.optimize._numdiff import approx_derivative

from soptim import _numdiff


@pytest.mark.parametrize("method", ["2-point", "3-point"])
def test_jacobian_matches_scipy_approx_derivative(method):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(6) * np.array([1e-3, 1, 10, 100, -5, 0])

    def fun(z):
        return np.array([np.sin(z).sum(), (z ** 2).prod(), np.exp(z[0]) * z[1]])

    J = _numdiff.approx_jacobian(fun, x, method=method)
    J_ref = approx_derivative(fun, x, method=method)
    np.testing.assert_allclose(J, J_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("method,tol", [("2-point", 1e-6), ("3-point", 1e-9)])
def test_gradient_and_hessp_of_rosenbrock(method, tol):
    x = np.array([-1.2, 1.0, 0.3, 2.0])
    g = _numdiff.approx_gradient(rosen, x, method=method)
    np.testing.assert_allclose(g, rosen_der(x), rtol=tol * 100, atol=tol * 100)
    p = np.array([0.5, -1.0, 2.0, 0.1])
    hp = _numdiff.approx_hessp(rosen_der, x, p, method=method)
    np.testing.assert_allclose(hp, rosen_hess(x) @ p, rtol=tol * 100, atol=tol * 1000)
    op = _numdiff.hessp_operator(rosen_der, x, method=method)
    np.testing.assert_allclose(op(p), hp, rtol=1e-12)
    assert not np.any(_numdiff.approx_hessp(rosen_der, x, np.zeros(4)))


def test_steps_follow_scipy_convention():
    x = np.array([0.0, 3.0, -7.0])
    eps = np.finfo(float).eps
    h = _numdiff.coordinate_steps(x, "2-point")
    np.testing.assert_allclose(h, np.sqrt(eps) * np.array([1.0, 3.0, -7.0]), rtol=1e-6)
    h32 = _numdiff.coordinate_steps(x.astype(np.float32), "3-point")
    np.testing.assert_allclose(h32[0], np.finfo(np.float32).eps ** (1 / 3), rtol=1e-6)
    # the forward difference of approx_fprime with the same absolute steps agrees
    g = _numdiff.approx_gradient(rosen, x, method="2-point")
    np.testing.assert_allclose(g, approx_fprime(x, rosen, np.abs(h)) * 1, rtol=1e-4)


def test_bad_method_and_step():
    with pytest.raises(ValueError, match="method"):
        _numdiff.approx_gradient(rosen, np.ones(2), method="5-point")
    with pytest.raises(ValueError, match="finite_diff_rel_step"):
        _numdiff.approx_gradient(rosen, np.ones(2), rel_step=-1.0)


def test_float32_jacobian_keeps_dtype():
    x = np.array([1.0, 2.0], dtype=np.float32)
    J = _numdiff.approx_jacobian(lambda z: z ** 2, x)
    assert J.dtype == np.float32
    np.testing.assert_allclose(J, np.diag([2.0, 4.0]), rtol=1e-2)


@pytest.mark.parametrize("method", ["2-point", "3-point"])
def test_function_returning_its_argument(method):
    # fun hands back its own (perturbed) input: the quotient must not alias the work buffer
    J = _numdiff.approx_jacobian(lambda v: v, np.array([1.0, 2.0]), method=method)
    np.testing.assert_allclose(J, np.eye(2), rtol=1e-8)


@pytest.mark.parametrize("method", ["2-point", "3-point"])
def test_values_are_differenced_once_and_copied_to_the_backend_once(monkeypatch, method):
    """Host scalars from fun: one host array, one copy to the backend (not 2n scalar copies)."""
    import scipy

    from soptim.backend import Backend

    copies = []

    class DeviceLike(Backend):
        def to_device(self, a, dtype=None):
            copies.append(np.shape(a))
            return super().to_device(a, dtype)

    monkeypatch.setattr(_numdiff, "get_backend", lambda *a: DeviceLike("cupy", np, scipy))
    calls = []

    def f(z):
        calls.append(1)
        return float(rosen(z))  # a Python float, as ObjectiveFunction passes values

    x = np.array([-1.2, 1.0, 0.3, 2.0])
    f0 = f(x) if method == "2-point" else None
    calls.clear()
    g = _numdiff.approx_gradient(f, x, method=method, f0=f0)
    np.testing.assert_allclose(g, rosen_der(x), rtol=1e-6 if method == "3-point" else 1e-4)
    assert copies == [(1, 4)]
    assert len(calls) == (2 if method == "3-point" else 1) * x.size

