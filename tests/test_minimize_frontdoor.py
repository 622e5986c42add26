"""The scipy-compatible front door: dispatch, pass-through and input errors."""

import numpy as np
import pytest
import scipy.optimize
from scipy.optimize import OptimizeResult, rosen, rosen_der

import soptim
from soptim.optimize._common import CallbackRunner, ObjectiveFunction
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
