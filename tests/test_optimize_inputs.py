"""soptim.optimize: faults and bad input end clearly; shared foundations are really used.

NaN/inf from the curvature mid-run -> status 3 with a warning, while a user's own
exception propagates unchanged; complex values are refused naming the argument;
finite differences come from soptim._numdiff with every call counted; option
checks go through soptim._validation; no module of the area branches on NumPy/CuPy.
"""

import pathlib
import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sps
import scipy.sparse.linalg as spla
from scipy.optimize import LinearConstraint, OptimizeWarning, rosen, rosen_der, rosen_hess

import soptim
from soptim._common import STATUS_NONFINITE
from soptim._numdiff import approx_gradient, approx_hessp, approx_jacobian
from soptim.optimize._common import ObjectiveFunction
from soptim.optimize._eq_constraints import EqualityConstraints


def gns(fun, x0, **kw):
    return soptim.minimize(fun, x0, method="gns", **kw)


X0 = np.array([-2.0, 2.0])


# -- gns: non-finite curvature mid-run ---------------------------------------------------------

def _nan_after(k, good):
    """A callable returning ``good(*a)`` for the first ``k`` calls and NaNs afterwards."""
    calls = [0]

    def f(*a):
        calls[0] += 1
        out = good(*a)
        return out if calls[0] <= k else np.full_like(np.asarray(out, dtype=float), np.nan)

    return f, calls


def _assert_nonfinite_result(res):
    assert res.status == STATUS_NONFINITE and not res.success
    assert "NaN or inf" in res.message and "check it there" in res.message
    assert res.nit >= 1  # it failed mid-run, after accepted steps
    assert np.isfinite(res.x).all() and res.fun == rosen(res.x)


def test_nan_from_hessp_mid_run_is_status_3():
    hessp, calls = _nan_after(6, lambda x, p: rosen_hess(x) @ p)
    with pytest.warns(OptimizeWarning, match="NaN or inf in a Hessian-vector product"):
        res = gns(rosen, X0, jac=rosen_der, hessp=hessp)
    _assert_nonfinite_result(res)
    assert calls[0] == res.nhev  # every product was counted, the last one gave NaN


def test_inf_from_hess_linear_operator_mid_run_is_status_3():
    calls = [0]

    def hess(x):
        calls[0] += 1
        H = rosen_hess(x) if calls[0] < 3 else np.full((2, 2), np.inf)
        return spla.aslinearoperator(H)

    with pytest.warns(OptimizeWarning, match="NaN or inf"):
        res = gns(rosen, X0, jac=rosen_der, hess=hess)
    _assert_nonfinite_result(res)
    assert res.nit == 2 and res.nhev == 3


@pytest.mark.parametrize("kind", ["dense", "sparse"])
def test_nan_from_hess_matrix_mid_run_is_status_3(kind):
    wrap = sps.csr_matrix if kind == "sparse" else np.asarray
    hess, calls = _nan_after(2, lambda x: rosen_hess(x))
    with pytest.warns(OptimizeWarning, match="the Hessian contains NaN or inf"):
        res = gns(rosen, X0, jac=rosen_der, hess=lambda x: wrap(hess(x)))
    _assert_nonfinite_result(res)
    assert res.nit == 2 and calls[0] == 3


class _UserError(Exception):
    pass


@pytest.mark.parametrize("exc", [FloatingPointError, _UserError, ZeroDivisionError])
@pytest.mark.parametrize("where", ["hess", "hessp", "hess-operator"])
def test_user_exception_from_curvature_propagates_unchanged(where, exc):
    calls = [0]

    def boom(*a):
        calls[0] += 1
        if calls[0] > 2:
            raise exc("raised by the user's callable")
        return a

    if where == "hess":
        kw = dict(hess=lambda x: (boom(), rosen_hess(x))[1])
    elif where == "hessp":
        kw = dict(hessp=lambda x, p: (boom(), rosen_hess(x) @ p)[1])
    else:
        kw = dict(hess=lambda x: spla.LinearOperator(
            (2, 2), matvec=lambda p: (boom(), rosen_hess(x) @ p)[1]))
    with pytest.raises(exc, match="raised by the user's callable"):
        gns(rosen, X0, jac=rosen_der, **kw)


# -- complex values are refused, naming the argument ------------------------------------------

def test_complex_objective_value_is_a_type_error_naming_fun():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning on the way
        with pytest.raises(TypeError, match="fun must be real"):
            gns(lambda x: rosen(x) + 0j, X0, jac=rosen_der, hess=rosen_hess)
        with pytest.raises(TypeError, match="fun must be real"):
            gns(lambda x: np.complex128(rosen(x)), X0, jac=rosen_der, hess=rosen_hess)
        with pytest.raises(TypeError, match="fun must be real"):
            gns(lambda x: (rosen(x) + 1j, rosen_der(x)), X0, jac=True, hess=rosen_hess)


@pytest.mark.parametrize("x0", [np.array([-2.0 + 0j, 2.0]), [1j, 2.0]])
def test_complex_x0_is_a_type_error_naming_x0(x0):
    with pytest.raises(TypeError, match="x0 must be real"):
        gns(rosen, x0, jac=rosen_der, hess=rosen_hess)


@pytest.mark.parametrize("kw, name", [
    (dict(jac=lambda x: rosen_der(x) + 0j, hess=rosen_hess), "jac"),
    (dict(jac=rosen_der, hess=lambda x: rosen_hess(x) + 0j), "hess"),
    (dict(jac=rosen_der, hessp=lambda x, p: rosen_hess(x) @ p + 0j), "hessp"),
    (dict(jac=rosen_der, options={"residuals": lambda x: np.eye(2) + 0j}), "residuals"),
    (dict(jac=rosen_der, options={"metric": np.ones(2) + 0j}), "metric"),
    (dict(jac=rosen_der, options={"residuals": lambda x: np.eye(2),
                                  "hess_diag": np.ones(2) + 0j}), "hess_diag"),
])
def test_complex_derivatives_and_options_are_type_errors(kw, name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TypeError, match=f"{re.escape(name)} must be real"):
            gns(rosen, X0, **kw)


# -- finite differences: soptim._numdiff, every call counted ------------------------------------

def _counted(f):
    calls = [0]

    def g(*a):
        calls[0] += 1
        return f(*a)

    return g, calls


@pytest.mark.parametrize("mode", [None, "2-point", "3-point"])
def test_objective_fd_gradient_is_numdiff_and_counts_every_call(mode):
    x = np.array([-1.2, 0.0, 0.3, -7.0])
    fun, calls = _counted(rosen)
    of = ObjectiveFunction(fun, mode)
    g = of.grad(x)
    method = mode or "3-point"
    np.testing.assert_array_equal(g, approx_gradient(rosen, x, method=method))
    assert of.nfev == calls[0] == (2 * x.size if method == "3-point" else 1 + x.size)
    of.value(x)  # 2-point reused f(x); 3-point evaluates it now
    assert of.nfev == calls[0] == (2 * x.size + 1 if method == "3-point" else 1 + x.size)


def test_gns_without_gradient_counts_every_function_call():
    fun, calls = _counted(rosen)
    res = gns(fun, X0, hess=rosen_hess, tol=1e-6)
    assert res.success and res.njev == 0
    assert res.nfev == calls[0]
    # central differences: 2n calls per gradient, at x0 and at each accepted point at least
    assert res.nfev >= 1 + res.nit + 2 * X0.size * (res.nit + 1)


def test_gns_fd_curvature_counts_gradient_calls():
    jac, calls = _counted(rosen_der)
    res = gns(rosen, X0, jac=jac, tol=1e-8)  # hessian='fd': forward differences of jac
    assert res.success and res.njev == calls[0]


def test_equality_constraints_fd_jacobian_and_hessp_are_numdiff():
    x = np.array([0.7, -1.3, 2.0])

    def c(z):
        return np.array([z[0] * z[1] - z[2], np.sin(z[0]) + z[2] ** 2])

    cfun, calls = _counted(c)
    cons = EqualityConstraints({"type": "eq", "fun": cfun}, x)
    calls[0] = cons.nfev = 0  # drop the checks at x0
    J = cons.jac(x)
    np.testing.assert_array_equal(J, approx_jacobian(c, x, method="3-point"))
    assert cons.nfev == calls[0] == 2 * x.size
    v, p = np.array([0.5, -2.0]), np.array([1.0, 0.0, -1.0])
    (hvp,) = cons.hess_terms(x, v)
    ref = approx_hessp(lambda z: approx_jacobian(c, z).T @ v, x, p, method="3-point")
    np.testing.assert_allclose(hvp(p), ref, rtol=1e-12, atol=1e-12)
    H = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]) * v[0]
    H[0, 0] -= v[1] * np.sin(x[0])
    H[2, 2] += 2.0 * v[1]
    np.testing.assert_allclose(hvp(p), H @ p, atol=1e-5)


def test_sparse_and_dense_constraint_blocks_stack_as_sparse():
    x = np.array([1.0, 2.0, 3.0])
    A = sps.csr_matrix(np.array([[1.0, 0.0, 2.0]]))
    cons = EqualityConstraints([LinearConstraint(A, 1.0, 1.0),
                                {"type": "eq", "fun": lambda z: z[0] * z[1],
                                 "jac": lambda z: np.array([[z[1], z[0], 0.0]])}], x)
    J = cons.jac(x)
    assert sps.issparse(J) and J.format == "csr"
    np.testing.assert_array_equal(J.toarray(), [[1.0, 0.0, 2.0], [2.0, 1.0, 0.0]])
    np.testing.assert_array_equal(cons.fun(x), [6.0, 2.0])


# -- option checks through soptim._validation ----------------------------------------------------

@pytest.mark.parametrize("options, exc, match", [
    ({"gtol": "0.05"}, TypeError, "gtol must be a real number"),
    ({"gamma0": 1j}, TypeError, "gamma0 must be real"),
    ({"max_trials": 2.0}, TypeError, "max_trials must be an integer"),
    ({"hessian": 3}, ValueError, "hessian must be one of"),
    ({"hessian": "FD"}, None, None),  # case-insensitive, as before
    ({"solve": 3}, TypeError, "solve must be callable"),
    ({"residuals": lambda x: np.eye(2), "hess_diag": [np.nan, 1.0]}, ValueError,
     "hess_diag contains NaN"),
])
def test_gns_option_checks(options, exc, match):
    if exc is None:
        assert gns(rosen, X0, jac=rosen_der, options=options).success
        return
    with pytest.raises(exc, match=match):
        gns(rosen, X0, jac=rosen_der, hess=rosen_hess, options=options)


@pytest.mark.parametrize("options, exc, match", [
    ({"tol": "1e-8"}, TypeError, "tol must be a real number"),
    ({"maxiter": 2.5}, TypeError, "maxiter must be an integer"),
    ({"accel": True}, TypeError, "accel must be an integer"),
    ({"beta": 0.0}, ValueError, r"beta must be in \(0.0, 1.0\)"),
    ({"sketch": None}, ValueError, "sketch must be one of"),
])
def test_sketched_alm_option_checks(options, exc, match):
    con = {"type": "eq", "fun": lambda x: x[0] + x[1] - 1.0}
    with pytest.raises(exc, match=match):
        soptim.minimize(lambda x: x @ x, [1.0, 2.0], method="sketched-alm", constraints=con,
                        options=options)


# -- one module knows NumPy from CuPy ------------------------------------------------------------

def test_optimize_has_no_numpy_cupy_branches():
    root = pathlib.Path(soptim.__file__).parent / "optimize"
    # the project's grep, assembled from pieces so that this file does not match it itself
    gpu, cu = "is_" + "gpu", "cu" + "py"
    pattern = re.compile("|".join([gpu, r"xp is (not )?np", "import " + cu, "from " + cu,
                                   cu + "x"]))
    hits = [f"{p.name}:{i}: {line.strip()}"
            for p in sorted(root.glob("*.py"))
            for i, line in enumerate(p.read_text().splitlines(), 1) if pattern.search(line)]
    assert hits == []


# -- GPU: the same paths on the device backend ---------------------------------------------------

@pytest.mark.gpu
def test_cupy_constraint_blocks_stay_on_the_device(cp):
    x = cp.asarray([1.0, 2.0, 3.0])
    A = sps.csr_matrix(np.array([[1.0, 0.0, 2.0]]))
    cons = EqualityConstraints([LinearConstraint(A, 1.0, 1.0),
                                {"type": "eq", "fun": lambda z: z[0] * z[1],
                                 "jac": lambda z: cp.stack([z[1], z[0], 0.0 * z[2]])[None]}], x)
    J = cons.jac(x)
    assert type(J).__module__.startswith("cu" + "pyx.scipy.sparse") and J.format == "csr"
    np.testing.assert_array_equal(J.toarray().get(), [[1.0, 0.0, 2.0], [2.0, 1.0, 0.0]])
    c = cons.fun(x)
    assert isinstance(c, cp.ndarray)
    np.testing.assert_array_equal(c.get(), [6.0, 2.0])


@pytest.mark.gpu
def test_cupy_dense_curvature_matches_numpy(cp):
    from soptim.backend import get_backend
    from soptim.optimize._curvature import DenseCurvature, Metric

    n = 40
    H = np.diag(np.full(n, 4.0)) + np.diag(np.ones(n - 1), 1) + np.diag(np.ones(n - 1), -1)
    rhs = np.linspace(-1.0, 1.0, n)
    host = DenseCurvature(H, Metric(None, n, get_backend(H), H.dtype))
    dev = DenseCurvature(cp.asarray(H), Metric(None, n, get_backend(cp.asarray(H)), H.dtype))
    assert host.bandwidth == 1 and dev.bandwidth == -1  # band LAPACK on the host only
    np.testing.assert_allclose(dev.solve(cp.asarray(rhs), 0.5).get(), host.solve(rhs, 0.5),
                               rtol=1e-12)


@pytest.mark.parametrize("con, match", [
    ({"type": "eq", "fun": lambda x: np.array([x[0] + x[1] - 1.0 + 0j])},
     "constraint 0: fun must be real"),
    ({"type": "eq", "fun": lambda x: x[0] + x[1] - 1.0,
      "jac": lambda x: np.array([[1.0 + 0j, 1.0]])}, "constraint 0: jac must be real"),
])
def test_complex_constraint_values_are_type_errors(con, match):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(TypeError, match=match):
            soptim.minimize(lambda x: x @ x, [1.0, 2.0], method="sketched-alm",
                            constraints=con)
