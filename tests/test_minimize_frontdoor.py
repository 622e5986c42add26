"""The scipy-compatible front door: dispatch, pass-through and input errors."""

import numpy as np
import pytest
import scipy.optimize
from scipy.optimize import OptimizeResult, OptimizeWarning, rosen, rosen_der

import soptim
from soptim._common import CallbackRunner
from soptim.optimize._common import ObjectiveFunction
from soptim.optimize._minimize import SCIPY_METHODS


@pytest.mark.parametrize("method", ["BFGS", "L-BFGS-B", "Nelder-Mead", "CG"])
def test_scipy_methods_pass_through(method):
    ours = soptim.minimize(rosen, [-1.2, 1.0], method=method, jac=None if method == "Nelder-Mead"
                           else rosen_der)
    theirs = scipy.optimize.minimize(rosen, [-1.2, 1.0], method=method,
                                     jac=None if method == "Nelder-Mead" else rosen_der)
    assert isinstance(ours, OptimizeResult)
    np.testing.assert_array_equal(ours.x, theirs.x)
    assert ours.nit == theirs.nit


def test_default_without_curvature_is_scipy_default():
    ours = soptim.minimize(rosen, [-1.2, 1.0], jac=rosen_der)
    theirs = scipy.optimize.minimize(rosen, [-1.2, 1.0], jac=rosen_der)
    np.testing.assert_array_equal(ours.x, theirs.x)


def test_unknown_method_lists_available():
    with pytest.raises(ValueError, match="Unknown solver 'nope'.*gns.*sketched-alm.*bfgs"):
        soptim.minimize(rosen, [0.0, 0.0], method="nope")


def test_scipy_method_list_matches_scipy():
    # every name we pass through must be one scipy accepts, and give scipy's answer
    derivative_free = {"nelder-mead", "powell", "cobyla", "cobyqa"}
    second_order = {"newton-cg", "dogleg", "trust-ncg", "trust-exact", "trust-krylov",
                    "trust-constr"}
    for m in SCIPY_METHODS:
        kw = {} if m in derivative_free else {"jac": lambda x: 2 * x}
        if m in second_order:
            kw["hess"] = lambda x: 2 * np.eye(2)
        res = soptim.minimize(lambda x: float(x @ x), [1.0, 1.0], method=m, **kw)
        assert np.linalg.norm(res.x) < 1e-3, m


@pytest.mark.parametrize("bad, exc, msg", [
    (np.ones((2, 2)), ValueError, "x0 must be 1-D"),
    ([np.nan, 1.0], ValueError, "x0 contains NaN"),
    (["a", "b"], TypeError, "x0 must be a real numeric"),
])
def test_bad_x0(bad, exc, msg):
    with pytest.raises(exc, match=msg):
        soptim.minimize(rosen, bad, method="gns", jac=rosen_der)


def test_noncallable_fun():
    with pytest.raises(TypeError, match="fun must be callable"):
        soptim.minimize(3.0, [1.0], method="gns")
    with pytest.raises(TypeError, match="callback must be callable"):
        soptim.minimize(rosen, [1.0, 1.0], method="gns", callback=1)


def test_constraints_rejected_by_unconstrained_method():
    with pytest.raises(ValueError, match="does not handle constraints.*sketched-alm"):
        soptim.minimize(rosen, [1.0, 1.0], method="gns",
                        constraints={"type": "eq", "fun": lambda x: x[0]})
    with pytest.raises(ValueError, match="does not handle bounds"):
        soptim.minimize(rosen, [1.0, 1.0], method="gns", bounds=[(0, 1), (0, 1)])


def test_objective_function_modes_agree():
    x = np.array([-1.2, 1.0, 0.3])
    exact = rosen_der(x)
    of_call = ObjectiveFunction(rosen, rosen_der)
    of_pair = ObjectiveFunction(lambda z: (rosen(z), rosen_der(z)), True)
    of_fd = ObjectiveFunction(rosen, None)
    of_fd2 = ObjectiveFunction(rosen, "2-point")
    for of in (of_call, of_pair):
        f, g = of.value_and_grad(x)
        assert f == rosen(x)
        np.testing.assert_array_equal(g, exact)
    np.testing.assert_allclose(of_fd.grad(x), exact, rtol=1e-8)
    np.testing.assert_allclose(of_fd2.grad(x), exact, rtol=1e-5)
    # cached: a second value/grad at the same point costs nothing
    n = of_pair.nfev
    of_pair.value(x), of_pair.grad(x)
    assert of_pair.nfev == n
    # central differences: two calls per coordinate, f(x) itself not needed
    assert of_fd.nfev == 2 * x.size
    # forward differences: f(x) once (cached) and one call per coordinate
    assert of_fd2.nfev == 1 + x.size


def test_objective_function_errors():
    with pytest.raises(TypeError, match="scalar"):
        ObjectiveFunction(lambda x: "a").value(np.ones(2))
    with pytest.raises(TypeError, match="pair"):
        ObjectiveFunction(lambda x: 1.0, True).value(np.ones(2))
    with pytest.raises(ValueError, match="jac must return an array of shape"):
        ObjectiveFunction(rosen, lambda x: np.ones(3)).grad(np.ones(2))


def test_callback_runner_forms():
    seen = []

    def new(intermediate_result):
        seen.append(("new", intermediate_result.fun))

    def legacy(xk):
        seen.append(("old", xk.sum()))

    def stopper(xk):
        raise StopIteration

    x = np.ones(2)
    assert CallbackRunner(new)(x, fun=3.0) is False
    assert CallbackRunner(legacy)(x, fun=3.0) is False
    assert CallbackRunner(stopper)(x) is True
    assert CallbackRunner(None)(x) is False
    assert seen == [("new", 3.0), ("old", 2.0)]


# -- 'gns' accepts what scipy's Hessian methods accept (issue 13) -------------------------------

def _quadratic():
    A = np.array([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.0]])
    b = np.array([1.0, -2.0, 0.5])
    return (lambda x: 0.5 * x @ A @ x - b @ x), (lambda x: A @ x - b), A, np.linalg.solve(A, b)


@pytest.mark.parametrize("strategy", [scipy.optimize.BFGS, scipy.optimize.SR1])
def test_gns_takes_a_hessian_update_strategy(strategy):
    res = soptim.minimize(rosen, [-1.2, 1.0], method="gns", jac=rosen_der, hess=strategy(),
                          tol=1e-8)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, 1.0, atol=1e-6)
    assert res.nhev == 0  # no Hessian evaluated: quasi-Newton updates only


@pytest.mark.parametrize("scheme", ["2-point", "3-point", "cs"])
def test_gns_finite_difference_hessians(scheme):
    f, g, A, xstar = _quadratic()
    res = soptim.minimize(f, np.zeros(3), method="gns", jac=g, hess=scheme, tol=1e-10)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, xstar, atol=1e-8)
    with pytest.raises(ValueError, match="hess='cs' needs a callable jac"):
        soptim.minimize(f, np.zeros(3), method="gns", hess="cs")


@pytest.mark.parametrize("wrap", [np.array, lambda v: np.array([v]), lambda v: np.array([[v]])])
def test_gns_objective_as_size_one_array(wrap):
    f, g, A, xstar = _quadratic()
    res = soptim.minimize(lambda x: wrap(f(x)), np.zeros(3), method="gns", jac=g,
                          hess=lambda x: A, tol=1e-10)
    assert res.success and isinstance(res.fun, np.floating)
    np.testing.assert_allclose(res.x, xstar, atol=1e-10)
    with pytest.raises(TypeError, match="scalar.*shape \\(2,\\)"):
        soptim.minimize(lambda x: np.ones(2), np.zeros(3), method="gns", jac=g)


def test_gns_return_all_like_trust_exact():
    kw = dict(jac=rosen_der, hess=scipy.optimize.rosen_hess, options={"return_all": True})
    res = soptim.minimize(rosen, [-1.2, 1.0], method="gns", **kw)
    ref = scipy.optimize.minimize(rosen, [-1.2, 1.0], method="trust-exact", **kw)
    for r in (res, ref):
        assert len(r.allvecs) == r.nit + 1
        np.testing.assert_array_equal(r.allvecs[0], [-1.2, 1.0])
        np.testing.assert_array_equal(r.allvecs[-1], r.x)


def test_gns_result_fields_like_scipys_second_order_methods():
    f, g, A, xstar = _quadratic()
    res = soptim.minimize(f, np.zeros(3), method="gns", jac=g, hess=lambda x: A)
    ref = scipy.optimize.minimize(f, np.zeros(3), method="trust-exact", jac=g,
                                  hess=lambda x: A)
    common = {"x", "fun", "jac", "nit", "nfev", "njev", "nhev", "status", "success", "message"}
    assert common <= set(res) and common <= set(ref)
    assert type(res.fun) is type(ref.fun) or isinstance(res.fun, np.floating)
    assert res.status == ref.status == 0 and res.success
    # a quadratic is solved by the Newton step: 1 iteration, as Newton methods do
    assert res.nit == 1 and res.nhev == 1
    with pytest.warns(OptimizeWarning, match="Maximum number of iterations"):
        out = soptim.minimize(rosen, [-1.2, 1.0], method="gns", jac=rosen_der,
                              hess=scipy.optimize.rosen_hess, options={"maxiter": 2})
    assert out.status == 1 and not out.success and out.nit == 2


def test_exact_hessian_option_without_hess_warns_and_uses_differences():
    f, g, A, xstar = _quadratic()
    with pytest.warns(RuntimeWarning, match="hessian='exact'.*without hess"):
        res = soptim.minimize(f, np.zeros(3), method="gns", jac=g,
                              options={"hessian": "exact"}, tol=1e-9)
    assert res.success
    np.testing.assert_allclose(res.x, xstar, atol=1e-7)


def test_method_none_with_gns_options_is_scipy():
    # a curvature option alone no longer switches the method: scipy warns about it
    with pytest.warns(OptimizeWarning, match="Unknown solver options: residuals"):
        res = soptim.minimize(rosen, [-1.2, 1.0], jac=rosen_der,
                              options={"residuals": lambda x: np.eye(2)})
    ref = scipy.optimize.minimize(rosen, [-1.2, 1.0], jac=rosen_der)
    np.testing.assert_array_equal(res.x, ref.x)


def test_show_options_like_scipy():
    text = soptim.show_options("minimize", "gns", disp=False)
    assert text.startswith("Options\n-------\n")
    for opt in ("gtol : float", "maxiter : int", "return_all : bool", "newton : bool"):
        assert opt in text
    for arg in ("fun :", "x0 :", "hessp :", "callback :", "unknown_options"):
        assert arg not in text  # minimize's own arguments are not options
    assert "tol : float" in soptim.show_options("minimize", "sketched-alm", disp=False)
    # scipy's names give scipy's text, and the full listing has both
    assert (soptim.show_options("minimize", "BFGS", disp=False)
            == scipy.optimize.show_options("minimize", "BFGS", disp=False))
    everything = soptim.show_options(disp=False)
    assert "minimize : gns (soptim)" in everything and "\nhybr\n====" in everything
    assert soptim.show_options("minimize", "gns") is None
    with pytest.raises(ValueError):
        soptim.show_options("minimize", "nope", disp=False)


# -- host/device rule: scipy's methods refuse GPU arrays (checked with stand-in GPU arrays) --

class _FakeCupyArray:
    """Looks like a CuPy array to the backend's test (its module), and, like one, refuses
    numpy.asarray."""

    shape = (2,)

    def __array__(self, *a, **k):
        raise TypeError("Implicit conversion to a NumPy array is not allowed")


_FakeCupyArray.__module__ = "cupy._core.core"


class _CudaArray:
    __cuda_array_interface__ = {"shape": (2,), "typestr": "<f8", "data": (0, False),
                                "version": 3}


@pytest.mark.parametrize("method", ["BFGS", "l-bfgs-b", "trust-constr", None,
                                    lambda fun, x0, **kw: None])
@pytest.mark.parametrize("x0", [_FakeCupyArray(), _CudaArray()], ids=["cupy", "cuda-interface"])
def test_scipy_methods_refuse_gpu_x0(method, x0):
    with pytest.raises(TypeError, match=r"x0 is a GPU array .* is scipy's and runs on the host "
                                        r"only.*cupy\.asnumpy.*'gns'"):
        soptim.minimize(rosen, x0, method=method, jac=rosen_der)
    if isinstance(method, str):
        with pytest.raises(TypeError, match=f"method {method!r}"):
            soptim.minimize(rosen, x0, method=method, jac=rosen_der)


def test_host_x0_still_passes_through_after_the_device_check():
    res = soptim.minimize(rosen, np.array([-1.2, 1.0]), method="BFGS", jac=rosen_der)
    assert res.success and np.allclose(res.x, 1.0, atol=1e-5)
