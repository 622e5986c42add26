"""soptim.bilevel.minimize (LV-HBA) against known bilevel solutions and independent solvers."""

import warnings

import numpy as np
import pytest
import scipy.optimize
from scipy.optimize import Bounds, OptimizeWarning

from soptim.bilevel import BilevelResult, minimize
from soptim.bilevel._examples import lower_constrained_toy


# -- the lower-level-constrained toy of the LV-HBA paper -------------------------------------
def toy(n):
    return lower_constrained_toy(n)


def toy_solution(n):
    p = lower_constrained_toy(n)
    return p["x_star"], p["y1_star"], p["y2_star"], p["F_star"]


def solve_toy(n, **kw):
    p = toy(n)
    return minimize(p["F"], p["f"], np.zeros(n), np.zeros(2 * n), jac_F=p["jac_F"],
                    jac_f=p["jac_f"], h=p["h"], jac_h=p["jac_h"], **kw)


def test_toy_n100_matches_known_solution():
    n = 100
    res = solve_toy(n)
    xs, y1s, y2s, Fs = toy_solution(n)
    assert isinstance(res, BilevelResult)
    assert res.success, res.message
    rel = np.linalg.norm(res.x - xs) / np.linalg.norm(xs)
    assert rel <= 1e-3  # the bar (the published loop: 2.5 %)
    assert rel <= 1e-4  # what the default tolerances actually give
    np.testing.assert_allclose(res.y[:n], y1s, atol=1e-4)
    np.testing.assert_allclose(res.y[n:], y2s, atol=1e-4)
    np.testing.assert_allclose(res.multipliers["lam_h"], [-1.0], atol=1e-5)
    np.testing.assert_allclose(res.multipliers["z_h"], [-1.0], atol=1e-5)
    assert abs(res.fun - Fs) <= 1e-4 * Fs
    # the gap certificate, checked independently: the lower-level value at x in closed form
    # (eliminate y2 with the constraint; the minimum over y1 is at y1 = x + 1)
    y1 = res.x + 1
    v = 0.5 * y1 @ y1 - res.x @ y1 - res.x.sum() - y1.sum()
    assert 0 <= res.lower_fun - v <= 1e-6
    assert res.lower_gap <= 1e-6
    assert abs(res.x.sum() + res.y.sum()) <= 1e-9  # iterates stay in C
    np.testing.assert_allclose(res.theta, res.y, atol=1e-4)
    assert res.nit < 200


def test_toy_tighter_gap_gives_smaller_error():
    n = 20
    loose = solve_toy(n, options={"gap_tol": 1e-6})
    tight = solve_toy(n, options={"gap_tol": 1e-12})
    xs = toy_solution(n)[0]
    e_loose = np.linalg.norm(loose.x - xs) / np.linalg.norm(xs)
    e_tight = np.linalg.norm(tight.x - xs) / np.linalg.norm(xs)
    assert loose.success and tight.success
    assert e_tight < e_loose / 10
    assert tight.penalty > loose.penalty


# -- strongly convex lower level with a closed-form y*(x) ------------------------------------
def test_strongly_convex_lower_level_matches_reduced_problem():
    rng = np.random.default_rng(3)
    n, m = 3, 4
    R = rng.standard_normal((m, m))
    Q = R @ R.T + m * np.eye(m)
    B = rng.standard_normal((m, n))
    b = rng.standard_normal(m)
    t = rng.standard_normal(m)
    s = np.array([2.0, -1.0, 0.5])

    def F(x, y):
        return np.sum(np.log1p((y - t) ** 2)) + 0.5 * np.sum((x - s) ** 2)

    def jac_F(x, y):
        return x - s, 2 * (y - t) / (1 + (y - t) ** 2)

    def f(x, y):
        return 0.5 * y @ Q @ y - y @ (B @ x + b)

    def jac_f(x, y):
        return -B.T @ y, Q @ y - B @ x - b

    bounds = ([-1.0, -1.0, -1.0], [1.0, 1.0, 1.0])
    res = minimize(F, f, np.zeros(n), np.zeros(m), jac_F=jac_F, jac_f=jac_f, bounds_x=bounds)
    assert res.success, res.message

    def y_star(x):
        return np.linalg.solve(Q, B @ x + b)

    def reduced(x):
        return F(x, y_star(x))

    def reduced_grad(x):
        gx, gy = jac_F(x, y_star(x))
        return gx + B.T @ np.linalg.solve(Q, gy)

    ref = scipy.optimize.minimize(reduced, np.zeros(n), jac=reduced_grad, method="L-BFGS-B",
                                  bounds=list(zip(*bounds)), options={"ftol": 1e-15,
                                                                       "gtol": 1e-12})
    np.testing.assert_allclose(res.x, ref.x, atol=1e-5)
    np.testing.assert_allclose(res.y, y_star(res.x), atol=1e-5)  # y - y*(x) = O(1/c)
    # the upper objective at the exact lower-level response to our x matches scipy's optimum
    assert abs(reduced(res.x) - ref.fun) <= 1e-7 * (1 + abs(ref.fun))
    assert np.isclose(res.x[0], 1.0)  # the bound is active at the solution


# -- inequality-coupled lower levels ----------------------------------------------------------
def test_affine_inequality_coupling_active():
    # lower: min 1/2||y - 3||^2 s.t. y <= x  ->  y*(x) = min(x, 3), multiplier 3 - y;
    # upper: 1/2||x - 1||^2 + 1/2||y - 2||^2 over x < 3 gives x = y = 1.5, lam = 1.5.
    n = 5

    def F(x, y):
        return 0.5 * np.sum((x - 1) ** 2) + 0.5 * np.sum((y - 2) ** 2)

    res = minimize(F, lambda x, y: 0.5 * np.sum((y - 3) ** 2), np.zeros(n), np.zeros(n),
                   jac_F=lambda x, y: (x - 1, y - 2), jac_f=lambda x, y: (0 * x, y - 3),
                   g=lambda x, y: y - x, jac_g=lambda x, y: (-np.eye(n), np.eye(n)))
    assert res.success, res.message
    np.testing.assert_allclose(res.x, 1.5, atol=1e-4)
    np.testing.assert_allclose(res.y, 1.5, atol=1e-4)
    np.testing.assert_allclose(res.multipliers["lam_g"], 1.5, atol=1e-4)
    assert np.all(res.y - res.x <= 1e-9)  # g <= 0 active, never violated
    assert res.lower_gap <= 1e-8


def test_augmented_lagrangian_path_agrees_with_projection_path():
    # the same affine-inequality problem, once with exact projections, once treated as a
    # nonlinear constraint (SLSQP projection of C, augmented-Lagrangian inner solve)
    n = 3

    def solve(kind):
        return minimize(lambda x, y: 0.5 * np.sum((x - 1) ** 2) + 0.5 * np.sum((y - 2) ** 2),
                        lambda x, y: 0.5 * np.sum((y - 3) ** 2), np.zeros(n), np.zeros(n),
                        jac_F=lambda x, y: (x - 1, y - 2), jac_f=lambda x, y: (0 * x, y - 3),
                        g=lambda x, y: y - x, jac_g=lambda x, y: (-np.eye(n), np.eye(n)),
                        options={"constraints": kind})

    exact, al = solve("affine"), solve("nonlinear")
    assert exact.success and al.success, al.message
    np.testing.assert_allclose(al.x, exact.x, atol=1e-5)
    np.testing.assert_allclose(al.y, exact.y, atol=1e-5)
    np.testing.assert_allclose(al.multipliers["lam_g"], exact.multipliers["lam_g"], atol=1e-4)


def test_spectral_and_quasi_newton_outer_steps_agree():
    plain = solve_toy(30, options={"lbfgs_memory": 0})
    qn = solve_toy(30)
    assert plain.success and qn.success
    np.testing.assert_allclose(plain.x, qn.x, atol=1e-5)
    np.testing.assert_allclose(qn.x, -0.3, atol=1e-4)


def test_nonlinear_convex_inequality_with_linear_lower_level():
    # lower: min -1.y s.t. ||y||^2 <= x (linear objective: not strongly convex), so
    # y*(x) = sqrt(x/m) 1 with lam = 1/(2 sqrt(x/m)); upper: x^2/2 - 1.y reduces to
    # x^2/2 - sqrt(m x), minimal at x = (m/4)^(1/3): for m = 4, x = 1, y = 0.5, lam = 1.
    m = 4
    res = minimize(lambda x, y: 0.5 * x[0] ** 2 - y.sum(), lambda x, y: -y.sum(),
                   [2.0], np.zeros(m),
                   jac_F=lambda x, y: (x.copy(), -np.ones(m)),
                   jac_f=lambda x, y: (np.zeros(1), -np.ones(m)),
                   g=lambda x, y: np.array([y @ y - x[0]]),
                   jac_g=lambda x, y: (-np.ones((1, 1)), 2 * y[None, :]),
                   bounds_x=([0.01], [10.0]))
    assert res.success, res.message
    np.testing.assert_allclose(res.x, [1.0], atol=1e-4)
    np.testing.assert_allclose(res.y, 0.5, atol=1e-4)
    np.testing.assert_allclose(res.multipliers["lam_g"], [1.0], atol=1e-4)
    np.testing.assert_allclose(res.fun, -1.5, atol=1e-6)
    assert res.y @ res.y - res.x[0] <= 1e-12  # y stays feasible (the gap needs it)


# -- hyperparameter selection on a scikit-learn dataset ---------------------------------------
@pytest.mark.parametrize("whiten", [True, False])
def test_hyperparameter_box_radius_beats_grid_search(whiten):
    """Least squares whose weights are boxed by the hyperparameter, |w_j| <= x (a coupled
    inequality lower-level constraint), tuned on validation loss (diabetes data). Raw
    features make the lower level ill-conditioned (condition number ~ 1e3); whitened ones
    make it perfectly conditioned."""
    datasets = pytest.importorskip("sklearn.datasets")
    X, t = datasets.load_diabetes(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    t = (t - t.mean()) / t.std()
    idx = np.random.default_rng(0).permutation(len(t))
    tr, va = idx[:40], idx[40:240]
    A, b, Av, bv = X[tr], t[tr], X[va], t[va]
    if whiten:
        mu = A.mean(0)
        _, S, Vt = np.linalg.svd(A - mu, full_matrices=False)
        W = Vt.T / S * np.sqrt(len(tr))
        A, Av = (A - mu) @ W, (Av - mu) @ W
    d, Ntr, Nv = A.shape[1], len(tr), len(va)

    def lower_exact(r):
        return scipy.optimize.lsq_linear(A / np.sqrt(Ntr), b / np.sqrt(Ntr), bounds=(-r, r),
                                         method="bvls", tol=1e-12).x

    def val(w):
        return 0.5 * np.sum((Av @ w - bv) ** 2) / Nv

    grid = np.geomspace(1e-3, 3.0, 60)
    best_grid = min(val(lower_exact(r)) for r in grid)

    eye = np.eye(d)
    res = minimize(lambda x, w: val(w), lambda x, w: 0.5 * np.sum((A @ w - b) ** 2) / Ntr,
                   [0.05], np.zeros(d),
                   jac_F=lambda x, w: (np.zeros(1), Av.T @ (Av @ w - bv) / Nv),
                   jac_f=lambda x, w: (np.zeros(1), A.T @ (A @ w - b) / Ntr),
                   g=lambda x, w: np.concatenate([w - x[0], -w - x[0]]),
                   jac_g=lambda x, w: (-np.ones((2 * d, 1)), np.vstack([eye, -eye])),
                   bounds_x=([0.0], [np.inf]))
    assert res.success, res.message
    # judged at the exact lower-level solution for the returned hyperparameter
    ours = val(lower_exact(res.x[0]))
    assert ours <= best_grid + 1e-9
    np.testing.assert_allclose(res.y, lower_exact(res.x[0]), atol=1e-4)
    assert np.all(res.multipliers["lam_g"] >= 0)


# -- bad inputs, infeasibility, failures --------------------------------------------------------
def _simple(**kw):
    args = dict(jac_F=lambda x, y: (x - 1, y - 1), jac_f=lambda x, y: (0 * x, y - x))
    args.update(kw)
    return minimize(lambda x, y: 0.5 * np.sum((x - 1) ** 2 + (y - 1) ** 2),
                    lambda x, y: 0.5 * np.sum((y - x) ** 2), args.pop("x0", np.zeros(2)),
                    args.pop("y0", np.zeros(2)), **args)


def test_unconstrained_simple_problem():
    res = _simple()
    assert res.success
    np.testing.assert_allclose(res.x, 1.0, atol=1e-5)
    np.testing.assert_allclose(res.y, 1.0, atol=1e-5)


@pytest.mark.parametrize("kw, match", [
    (dict(jac_F=lambda x, y: (np.zeros(3), y - 1)), "jac_F.*grad_x.*shape"),
    (dict(jac_f=lambda x, y: (0 * x, np.zeros(5))), "jac_f.*grad_y.*shape"),
    (dict(g=lambda x, y: y - x, jac_g=lambda x, y: (-np.eye(2), np.eye(3))), "jac_g.*J_y"),
    (dict(h=lambda x, y: np.array([y.sum()]), jac_h=lambda x, y: (np.zeros((2, 2)),
                                                                np.ones((1, 2)))), "jac_h.*J_x"),
    (dict(x0=np.array([0.0, np.nan])), "x0 contains NaN"),
    (dict(y0=np.zeros((2, 2))), "y0 must have 1"),
    (dict(bounds_y=[(0.0, 1.0), (2.0, 1.0)]), "bounds_y is infeasible"),
    (dict(bounds_y=Bounds([0.0, 2.0], [1.0, 1.0])), "bounds_y is infeasible"),
    (dict(bounds_x=([0.0], [1.0])), "bounds_x must have 2"),
    (dict(options={"gtol": -1.0}), "gtol"),
    (dict(options={"constraints": "quadratic"}), "constraints"),
    (dict(method="bfgs"), "Unknown method"),
    (dict(options={"maxiter": 0}), "maxiter"),
    (dict(options={"penalty_growth": 1.0}), "penalty_growth"),
])
def test_bad_inputs_raise_clear_errors(kw, match):
    with pytest.raises(ValueError, match=match):
        _simple(**kw)


def test_non_callable_and_wrong_types():
    with pytest.raises(TypeError, match="F must be callable"):
        minimize(None, lambda x, y: 0.0, [0.0], [0.0], jac_F=None, jac_f=None)
    with pytest.raises(TypeError, match="jac_F.*pair"):
        _simple(jac_F=lambda x, y: 1.0)
    with pytest.raises(TypeError, match="options"):
        _simple(options=[1])
    with pytest.raises(TypeError, match="method must be a string"):
        _simple(method=None)
    with pytest.raises(TypeError, match="jac_f must be callable"):
        _simple(jac_f=3)


def test_nan_at_start_raises():
    with pytest.raises(ValueError, match="F\\(x0, y0\\) is not finite"):
        minimize(lambda x, y: np.nan, lambda x, y: 0.0, [0.0], [0.0],
                 jac_F=lambda x, y: (x, y), jac_f=lambda x, y: (x, y))


def test_objective_returning_a_vector_is_rejected():
    with pytest.raises(TypeError, match="F\\(x, y\\) must return a scalar.*shape \\(2,\\)"):
        minimize(lambda x, y: x + y, lambda x, y: 0.0, np.zeros(2), np.zeros(2),
                 jac_F=lambda x, y: (x, y), jac_f=lambda x, y: (x, y))


def test_nan_outside_the_domain_is_backtracked_not_returned():
    # F = -log(2 - x) + (x - 3)^2 / 2 is NaN for x > 2; its minimum over y = x is inside
    def F(x, y):
        with np.errstate(invalid="ignore", divide="ignore"):
            return float(-np.log(2 - x[0]) + 0.5 * (y[0] - 3) ** 2)

    def jac_F(x, y):
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.array([1 / (2 - x[0])]), y - 3

    res = minimize(F, lambda x, y: 0.5 * (y[0] - x[0]) ** 2, [0.0], [0.0], jac_F=jac_F,
                   jac_f=lambda x, y: (x - y, y - x))
    assert res.success, res.message
    # reduced problem: -log(2 - x) + (x - 3)^2/2, stationary at (3 - x)(2 - x) = 1
    x_star = (5 - np.sqrt(5)) / 2
    np.testing.assert_allclose(res.x, [x_star], atol=1e-4)
    assert np.isfinite(res.fun)


def test_nonlinear_constraint_declared_affine_raises():
    with pytest.raises(ValueError, match="not affine"):
        _simple(g=lambda x, y: np.array([y @ y - 1]),
                jac_g=lambda x, y: (np.zeros((1, 2)), 2 * y[None, :]),
                options={"constraints": "affine"})


def test_unknown_option_warns():
    with pytest.warns(OptimizeWarning, match="Unknown solver options.*alpha"):
        res = _simple(options={"alpha": 0.005})
    assert res.success


def test_infeasible_lower_level_equality_and_bounds():
    # y = x with x in [2, 3] and y in [0, 1]: C is empty
    with pytest.warns(OptimizeWarning, match="infeasible"):
        res = _simple(h=lambda x, y: y - x, jac_h=lambda x, y: (-np.eye(2), np.eye(2)),
                      bounds_x=Bounds([2, 2], [3, 3]), bounds_y=Bounds([0, 0], [1, 1]))
    assert not res.success
    assert res.status == 2
    assert "infeasible" in res.message


def test_infeasible_lower_level_inequalities():
    # y <= -1 and y >= 1
    with pytest.warns(OptimizeWarning, match="infeasible"):
        res = _simple(g=lambda x, y: np.concatenate([y + 1, 1 - y]),
                      jac_g=lambda x, y: (np.zeros((4, 2)), np.vstack([np.eye(2), -np.eye(2)])))
    assert not res.success and "infeasible" in res.message


def test_inconsistent_equalities_are_infeasible():
    with pytest.warns(OptimizeWarning, match="infeasible"):
        res = _simple(h=lambda x, y: np.array([y.sum(), y.sum() - 1]),
                      jac_h=lambda x, y: (np.zeros((2, 2)), np.ones((2, 2))))
    assert not res.success and "infeasible" in res.message


def test_iteration_limit_reports_failure():
    with pytest.warns(OptimizeWarning, match="maximum number of iterations"):
        res = solve_toy(10, options={"maxiter": 3})
    assert not res.success and res.status == 1
    assert np.isfinite(res.fun) and np.all(np.isfinite(res.x))


def test_finite_differences_warn_with_cost_and_still_solve():
    with pytest.warns(OptimizeWarning, match=r"2 \(n \+ m\) = 8 evaluations of F"):
        res = _simple(jac_F=None)
    assert res.success
    np.testing.assert_allclose(res.x, 1.0, atol=1e-4)


def test_callback_forms_and_stop():
    seen = []

    def cb(intermediate_result):
        seen.append(intermediate_result.lower_gap)
        if len(seen) == 3:
            raise StopIteration

    res = solve_toy(10, callback=cb)
    assert res.status == 99 and not res.success and len(seen) == 3
    xs = []
    res = solve_toy(10, callback=lambda xk: xs.append(xk))
    assert res.success and 0 < len(xs) <= res.nit  # once per accepted step
    assert all(x.shape == (10,) for x in xs)
    np.testing.assert_allclose(xs[-1], res.x)


def test_no_warning_on_success():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = solve_toy(10)
    assert res.success


@pytest.mark.gpu
def test_toy_on_cupy(cp):
    n = 100

    def F(x, y):
        return 0.5 * cp.sum((x - y[n:]) ** 2) + 0.5 * cp.sum((y[:n] - 1) ** 2)

    def f(x, y):
        return 0.5 * y[:n] @ y[:n] - x @ y[:n] + y[n:].sum()

    res = minimize(F, f, cp.zeros(n), cp.zeros(2 * n),
                   jac_F=lambda x, y: (x - y[n:], cp.concatenate([y[:n] - 1, y[n:] - x])),
                   jac_f=lambda x, y: (-y[:n], cp.concatenate([y[:n] - x, cp.ones(n)])),
                   h=lambda x, y: cp.asarray([x.sum() + y.sum()]),
                   jac_h=lambda x, y: (cp.ones((1, n)), cp.ones((1, 2 * n))))
    assert res.success, res.message
    assert isinstance(res.x, cp.ndarray) and isinstance(res.y, cp.ndarray)
    assert float(cp.abs(res.x + 0.3).max()) <= 1e-4
    assert float(cp.abs(res.y[:n] - 0.7).max()) <= 1e-4
    assert float(cp.abs(res.y[n:] + 0.4).max()) <= 1e-4
    assert abs(float(res.multipliers["lam_h"][0]) + 1.0) <= 1e-5
    assert abs(res.fun - n / 20.0) <= 1e-4 * n / 20.0
