"""soptim.bilevel.minimize: bounds in every scipy form, input validation, finite differences,
and the host-only paths (chosen by the backend's capabilities, not by its name)."""

import numpy as np
import pytest
import scipy.optimize
from scipy.optimize import Bounds, OptimizeWarning

import soptim.bilevel._lvhba as lvhba
import soptim.bilevel._problem as problem
from soptim.backend import Backend
from soptim.bilevel import minimize
from soptim.bilevel._problem import BilevelProblem


def _F(x, y):
    return 0.5 * np.sum((x - 1) ** 2) + 0.5 * np.sum((y - 1) ** 2)


def _f(x, y):
    return 0.5 * np.sum((y - x) ** 2)


def _jac_F(x, y):
    return x - 1, y - 1


def _jac_f(x, y):
    return x - y, y - x


def clipped(n, **kw):
    """Lower level y = x, upper level pulls both to 1: the answer is x = y = clip(1, X)."""
    return minimize(_F, _f, np.zeros(n), np.zeros(n), jac_F=_jac_F, jac_f=_jac_f, **kw)


# -- bounds: every scipy form -------------------------------------------------------------------
def test_bounds_as_scipy_bounds_object():
    res = clipped(3, bounds_x=Bounds([-1.0, -1.0, 0.0], [0.5, 2.0, 0.25]))
    assert res.success, res.message
    np.testing.assert_allclose(res.x, [0.5, 1.0, 0.25], atol=1e-5)
    np.testing.assert_allclose(res.y, [0.5, 1.0, 0.25], atol=1e-5)


def test_bounds_as_one_pair_per_variable_with_none():
    # the form that was refused before (`bounds_x=[(0.0, 3.0)]`), with None for unbounded sides
    res = clipped(1, bounds_x=[(0.0, 3.0)])
    assert res.success, res.message
    np.testing.assert_allclose(res.x, [1.0], atol=1e-5)
    res = clipped(3, bounds_x=[(None, 0.5), (None, None), (2.0, None)])
    assert res.success, res.message
    np.testing.assert_allclose(res.x, [0.5, 1.0, 2.0], atol=1e-5)


def test_bounds_as_an_n_by_2_array():
    res = clipped(3, bounds_x=np.array([[0.0, 0.5], [-np.inf, np.inf], [2.0, 3.0]]))
    assert res.success, res.message
    np.testing.assert_allclose(res.x, [0.5, 1.0, 2.0], atol=1e-5)


def test_bounds_as_a_pair_of_arrays_or_scalars():
    res = clipped(3, bounds_x=([0.0, 0.0, 0.0], [0.5, 3.0, 0.25]))
    assert res.success, res.message
    np.testing.assert_allclose(res.x, [0.5, 1.0, 0.25], atol=1e-5)
    res = clipped(3, bounds_x=(None, 0.5))  # scalars broadcast, None: no bound
    assert res.success, res.message
    np.testing.assert_allclose(res.x, 0.5, atol=1e-5)
    res = clipped(2, bounds_y=(-1.0, 0.25))  # two scalars for two variables: not pairs
    assert res.success, res.message
    np.testing.assert_allclose(res.y, 0.25, atol=1e-5)


def test_ambiguous_bounds_are_read_as_pairs_like_scipy_minimize():
    # two pairs for two variables: x0 in [0, 0], x1 in [0.5, 3] (scipy.optimize.minimize's
    # reading), not lb = (0, 0), ub = (0.5, 3) (which would give x = (0.5, 1))
    res = clipped(2, bounds_x=([0.0, 0.0], [0.5, 3.0]))
    assert res.success, res.message
    np.testing.assert_allclose(res.x, [0.0, 1.0], atol=1e-5)
    ref = scipy.optimize.minimize(lambda x: np.sum((x - 1) ** 2), np.zeros(2),
                                  bounds=([0.0, 0.0], [0.5, 3.0]))
    np.testing.assert_allclose(res.x, ref.x, atol=1e-5)


@pytest.mark.parametrize("bounds, exc, match", [
    ([(0.0, 1.0)], ValueError, r"bounds_x has 1 entries.*2 \(lo, hi\) pairs.*accepted"),
    ([(0.0, 1.0)] * 3, ValueError, r"bounds_x has 3 entries.*Bounds"),
    (([0.0], [1.0]), ValueError, r"bounds_x must have 2 entries.*lower bounds have shape"),
    ("0, 1", TypeError, r"bounds_x must be scipy.optimize.Bounds, a sequence of one \(lo, hi\) "
                        r"pair per variable"),
    (1.0, TypeError, r"bounds_x must be scipy.optimize.Bounds.*got float"),
    ({"lb": 0}, TypeError, "bounds_x must be scipy.optimize.Bounds.*got dict"),
    ((["0"], [1.0]), TypeError, r"bounds_x: the lower bounds must be numbers"),
    ([(0.0, np.nan), (0.0, 1.0)], ValueError, "bounds_x contains NaN"),
    ([(2.0, 1.0), (0.0, 1.0)], ValueError, "bounds_x is infeasible.*index 0"),
    (([0.0, 1j], [1.0, 1.0]), TypeError, "bounds_x must be real"),
])
def test_bad_bounds_name_the_argument_and_the_accepted_forms(bounds, exc, match):
    with pytest.raises(exc, match=match):
        clipped(2, bounds_x=bounds)


def test_bad_bounds_y_is_named():
    with pytest.raises(ValueError, match=r"bounds_y has 3 entries"):
        clipped(2, bounds_y=[(0, 1)] * 3)


# -- complex input --------------------------------------------------------------------------------
@pytest.mark.parametrize("kw, match", [
    (dict(x0=np.zeros(2, dtype=complex)), "x0 must be real"),
    (dict(y0=[0.0, 1j]), "y0 must be real"),
    (dict(F=lambda x, y: _F(x, y) + 0j), r"F\(x, y\) must be real"),
    (dict(f=lambda x, y: complex(_f(x, y))), r"f\(x, y\) must be real"),
    (dict(jac_F=lambda x, y: (x - 1 + 0j, y - 1)), r"jac_F\(x, y\) grad_x must be real"),
    (dict(jac_f=lambda x, y: (x - y, [0j, 0j])), r"jac_f\(x, y\) grad_y must be real"),
    (dict(g=lambda x, y: y - x + 0j, jac_g=lambda x, y: (-np.eye(2), np.eye(2))),
     r"g\(x, y\) must be real"),
    (dict(h=lambda x, y: np.array([y.sum()]),
          jac_h=lambda x, y: (np.zeros((1, 2)), np.ones((1, 2), dtype=complex))),
     r"jac_h\(x, y\) J_y must be real"),
])
def test_complex_input_is_refused_naming_the_argument(kw, match):
    args = dict(F=_F, f=_f, x0=np.zeros(2), y0=np.zeros(2), jac_F=_jac_F, jac_f=_jac_f)
    args.update(kw)
    with pytest.raises(TypeError, match=match):
        minimize(args.pop("F"), args.pop("f"), args.pop("x0"), args.pop("y0"), **args)


# -- options --------------------------------------------------------------------------------------
@pytest.mark.parametrize("options, exc, match", [
    ({"gtol": "1e-6"}, TypeError, r"options\['gtol'\] must be a real number"),
    ({"gamma1": 0.0}, ValueError, r"options\['gamma1'\] must be > 0"),
    ({"c_max": np.inf}, ValueError, r"options\['c_max'\] must be > 0 and finite"),
    ({"gap_tol": 1e-8 + 0j}, TypeError, r"options\['gap_tol'\] must be real"),
    ({"penalty_growth": "10"}, TypeError, r"options\['penalty_growth'\]"),
    ({"penalty_growth": 0.5}, ValueError, r"options\['penalty_growth'\] must be in \(1.0, inf\)"),
    ({"maxiter": 10.5}, TypeError, r"options\['maxiter'\] must be an integer"),
    ({"inner_maxiter": True}, TypeError, r"options\['inner_maxiter'\] must be an integer"),
    ({"lbfgs_memory": -1}, ValueError, r"options\['lbfgs_memory'\] must be >= 0"),
    ({"memory": 0}, ValueError, r"options\['memory'\] must be >= 1"),
    ({"constraints": "linear"}, ValueError, r"options\['constraints'\] must be one of 'auto'"),
    ({"disp": "yes"}, TypeError, r"options\['disp'\] must be True or False"),
])
def test_bad_options_name_the_option(options, exc, match):
    with pytest.raises(exc, match=match):
        clipped(2, options=options)


def test_valid_option_types_are_accepted():
    res = clipped(2, options={"maxiter": np.int64(500), "gtol": np.float32(1e-6), "c0": 10,
                              "disp": np.bool_(False), "lbfgs_memory": 0})
    assert res.success, res.message
    np.testing.assert_allclose(res.x, 1.0, atol=1e-5)


# -- finite differences (soptim._numdiff, central, on the stacked (x, y)) ------------------------
def _problem(**kw):
    args = dict(F=lambda x, y: 0.5 * (x @ x + y @ y), f=lambda x, y: 0.5 * y @ y,
                jac_F=lambda x, y: (x.copy(), y.copy()),
                jac_f=lambda x, y: (np.zeros_like(x), y.copy()),
                g=None, jac_g=None, h=None, jac_h=None, x0=np.zeros(2), y0=np.zeros(3))
    args.update(kw)
    return BilevelProblem(**args)


def test_finite_difference_gradient_is_central_and_costs_2_n_plus_m():
    def F(x, y):
        return float(np.sin(x[0]) * x[1] + np.exp(0.3 * y).sum() + x @ x * y[0])

    def jac_F(x, y):
        gx = np.array([np.cos(x[0]) * x[1], np.sin(x[0])]) + 2 * x * y[0]
        gy = 0.3 * np.exp(0.3 * y)
        gy[0] += x @ x
        return gx, gy

    with pytest.warns(OptimizeWarning, match=r"jac_F not given.*2 \(n \+ m\) = 10"):
        prob = _problem(F=F, jac_F=None)
    x, y = np.array([0.7, -1.3]), np.array([0.2, -2.0, 5.0])
    before = prob.nfev
    gx, gy = prob.jac_F(x, y)
    assert prob.nfev - before == 2 * (2 + 3)
    ex, ey = jac_F(x, y)
    # central differences: error O(h^2) = O(eps^(2/3)) ~ 1e-10 (a forward one would be ~1e-8)
    np.testing.assert_allclose(gx, ex, rtol=0, atol=1e-9)
    np.testing.assert_allclose(gy, ey, rtol=0, atol=1e-9 * np.exp(1.5))
    # scipy's central differences on the stacked vector give the same numbers
    w = np.concatenate([x, y])
    ref = scipy.optimize.approx_fprime(w, lambda v: F(v[:2], v[2:]), 1e-6)
    np.testing.assert_allclose(np.concatenate([gx, gy]), ref, atol=1e-4)


def test_finite_difference_constraint_jacobian_even_when_g_returns_its_argument():
    # g returning (a view of) its argument must not see the next perturbation
    with pytest.warns(OptimizeWarning, match="jac_g not given"):
        prob = _problem(g=lambda x, y: y, x0=np.zeros(2), y0=np.array([1.0, 2.0, 3.0]))
    Jx, Jy = prob.jac_g(np.array([0.5, 0.5]), np.array([1.0, 2.0, 3.0]))
    np.testing.assert_allclose(Jx, np.zeros((3, 2)), atol=1e-10)
    np.testing.assert_allclose(Jy, np.eye(3), atol=1e-9)
    with pytest.warns(OptimizeWarning, match="jac_h not given"):
        prob = _problem(h=lambda x, y: np.array([x[0] * y[1] - y @ y]))
    x, y = np.array([2.0, 0.0]), np.array([1.0, -1.0, 0.5])
    Jx, Jy = prob.jac_h(x, y)
    np.testing.assert_allclose(Jx, [[y[1], 0.0]], atol=1e-9)
    np.testing.assert_allclose(Jy, [[-2 * y[0], x[0] - 2 * y[1], -2 * y[2]]], atol=1e-9)


def test_all_derivatives_by_finite_differences_solve_the_coupled_problem():
    # lower: min 1/2||y - 3||^2 s.t. y <= x; upper: 1/2||x - 1||^2 + 1/2||y - 2||^2
    # gives x = y = 1.5 with multiplier 1.5 (as with exact derivatives in test_bilevel.py)
    with pytest.warns(OptimizeWarning, match="finite differences"):
        res = minimize(lambda x, y: 0.5 * np.sum((x - 1) ** 2) + 0.5 * np.sum((y - 2) ** 2),
                       lambda x, y: 0.5 * np.sum((y - 3) ** 2), np.zeros(2), np.zeros(2),
                       g=lambda x, y: y - x)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, 1.5, atol=1e-4)
    np.testing.assert_allclose(res.y, 1.5, atol=1e-4)
    np.testing.assert_allclose(res.multipliers["lam_g"], 1.5, atol=1e-3)


# -- host-only paths: chosen by the backend's capabilities ---------------------------------------
@pytest.fixture
def device_like(monkeypatch):
    """A backend with the device backend's identity (so ``on_host`` is False and
    ``require_host`` raises, by the real methods) but NumPy's arrays, so that the
    host-only paths can be checked without a GPU."""
    be = Backend("cupy", np, scipy)
    assert not be.on_host
    with pytest.raises(TypeError, match="host only"):
        be.require_host("this")
    monkeypatch.setattr(problem, "get_backend", lambda *arrays: be)
    return be


def test_active_set_projection_requires_host_arrays(device_like):
    with pytest.raises(TypeError, match="active-set QP.*runs on the host only; pass NumPy"):
        clipped(2, g=lambda x, y: np.array([y.sum() - x.sum()]),
                jac_g=lambda x, y: (-np.ones((1, 2)), np.ones((1, 2))))


def test_slsqp_projection_requires_host_arrays(device_like):
    with pytest.raises(TypeError, match="SLSQP projection.*runs on the host only"):
        clipped(2, g=lambda x, y: np.array([y @ y - 4.0]),
                jac_g=lambda x, y: (np.zeros((1, 2)), 2 * y[None, :]))


def test_box_without_host_capability_skips_lbfgsb(device_like, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("L-BFGS-B is a host-only fast path")

    monkeypatch.setattr(lvhba, "_lbfgsb_level", refuse)
    res = clipped(2, bounds_x=(None, 0.5))  # C is a box: spectral projected gradient instead
    assert res.success, res.message
    np.testing.assert_allclose(res.x, 0.5, atol=1e-5)


def test_box_on_host_uses_lbfgsb(monkeypatch):
    calls = []
    real = lvhba._lbfgsb_level

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(lvhba, "_lbfgsb_level", spy)
    res = clipped(2, bounds_x=(None, 0.5))
    assert res.success, res.message
    assert calls
    np.testing.assert_allclose(res.x, 0.5, atol=1e-5)


@pytest.mark.gpu
def test_host_only_paths_refuse_cupy_and_box_runs_on_device(cp):
    def F(x, y):
        return 0.5 * cp.sum((x - 1) ** 2) + 0.5 * cp.sum((y - 1) ** 2)

    def f(x, y):
        return 0.5 * cp.sum((y - x) ** 2)

    kw = dict(jac_F=lambda x, y: (x - 1, y - 1), jac_f=lambda x, y: (x - y, y - x))
    with pytest.raises(TypeError, match="SLSQP projection.*host only"):
        minimize(F, f, cp.zeros(2), cp.zeros(2), g=lambda x, y: cp.asarray([y @ y - 4.0]),
                 jac_g=lambda x, y: (cp.zeros((1, 2)), 2 * y[None, :]), **kw)
    with pytest.raises(TypeError, match="active-set QP.*host only"):
        minimize(F, f, cp.zeros(2), cp.zeros(2), g=lambda x, y: cp.asarray([y.sum() - x.sum()]),
                 jac_g=lambda x, y: (-cp.ones((1, 2)), cp.ones((1, 2))), **kw)
    res = minimize(F, f, cp.zeros(2), cp.zeros(2), bounds_x=[(None, 0.5), (None, None)], **kw)
    assert res.success, res.message
    assert isinstance(res.x, cp.ndarray)
    np.testing.assert_allclose(cp.asnumpy(res.x), [0.5, 1.0], atol=1e-5)


# -- peer check: a nonlinear coupled lower level against scipy's nested solve -------------------
def test_ball_constrained_lower_level_matches_scipy_nested_solve():
    """Lower level ``min_y 1/2||y - t||^2 s.t. ||y||^2 <= x`` (t = (3, 4)): y*(x) = t sqrt(x)/5
    for x < 25. Upper ``1/2||y - 2t/5||^2 + 1/2 (x - 1)^2`` reduces to
    ``1/2 (sqrt(x) - 2)^2 + 1/2 (x - 1)^2``, stationary where ``x - x^(-1/2) - 1/2 = 0``.
    The reference solves the lower level by SLSQP inside scipy's bounded scalar search."""
    t = np.array([3.0, 4.0])
    s = 0.4 * t

    def F(x, y):
        return 0.5 * np.sum((y - s) ** 2) + 0.5 * (x[0] - 1) ** 2

    def lower_scipy(x):
        return scipy.optimize.minimize(
            lambda y: 0.5 * np.sum((y - t) ** 2), np.zeros(2), jac=lambda y: y - t,
            method="SLSQP", constraints=[{"type": "ineq", "fun": lambda y: x - y @ y,
                                          "jac": lambda y: -2 * y[None, :]}],
            options={"ftol": 1e-14, "maxiter": 200}).x

    ref = scipy.optimize.minimize_scalar(lambda x: F([x], lower_scipy(x)), bounds=(0.01, 10.0),
                                         method="bounded", options={"xatol": 1e-10})
    x_root = scipy.optimize.brentq(lambda x: x - x ** -0.5 - 0.5, 0.5, 3.0)
    assert abs(ref.x - x_root) <= 1e-5  # the nested reference is right

    res = minimize(F, lambda x, y: 0.5 * np.sum((y - t) ** 2), [2.0], np.zeros(2),
                   jac_F=lambda x, y: (x - 1, y - s), jac_f=lambda x, y: (np.zeros(1), y - t),
                   g=lambda x, y: np.array([y @ y - x[0]]),
                   jac_g=lambda x, y: (-np.ones((1, 1)), 2 * y[None, :]),
                   bounds_x=[(0.01, 10.0)])
    assert res.success, res.message
    np.testing.assert_allclose(res.x, [ref.x], atol=1e-4)
    np.testing.assert_allclose(res.y, lower_scipy(res.x[0]), atol=1e-4)
    np.testing.assert_allclose(res.fun, ref.fun, atol=1e-7)
    # multiplier of ||y||^2 <= x: from y - t + 2 lam y = 0, lam = (5 / sqrt(x) - 1) / 2
    np.testing.assert_allclose(res.multipliers["lam_g"], [(5 / np.sqrt(x_root) - 1) / 2],
                               atol=1e-4)
