"""method='sketched-alm' with inequalities and bounds (issue 15): HS optima, peers, errors."""

import warnings

import numpy as np
import pytest
import scipy.optimize
from scipy.optimize import Bounds, LinearConstraint, NonlinearConstraint, OptimizeWarning

import soptim
from soptim.optimize._hs_ineq import HS_INEQ_PROBLEMS


def _solve(p, **opts):
    return soptim.minimize(p.f, np.array(p.x0), method="sketched-alm", jac=p.g,
                           bounds=p.bounds, constraints=p.constraints(), options=opts)


@pytest.mark.parametrize("name", sorted(HS_INEQ_PROBLEMS))
def test_hock_schittkowski_published_optimum(name):
    p = HS_INEQ_PROBLEMS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error", OptimizeWarning)  # a success warns nothing
        res = _solve(p)
    assert res.success, res.message
    assert res.optimality <= 1e-8
    if p.fstar == 0:
        assert abs(res.fun) <= 1e-8
    else:
        assert abs(res.fun - p.fstar) <= 1e-6 * abs(p.fstar)
    x = res.x
    if p.bounds is not None:  # the iterates stay in the box: the bounds hold exactly
        lo = np.array([-np.inf if a is None else a for a, _ in p.bounds])
        hi = np.array([np.inf if b is None else b for _, b in p.bounds])
        assert np.all(x >= lo) and np.all(x <= hi)
    if p.ineq is not None:
        assert p.ineq(x).min() >= -1e-8
        assert np.all(res.v[0] <= 1e-12)  # 'ineq' dicts: v = -mu <= 0 (trust-constr's sign)
    # trust-constr's convention: grad f + sum_i J_i^T v_i (+ v_bounds) = lagrangian_grad ~ 0
    lag = p.g(x).copy()
    k = 0
    if p.ineq is not None:
        lag += p.ineq_jac(x).T @ res.v[k]
        k += 1
    if p.eq is not None:
        lag += p.eq_jac(x).T @ res.v[k]
        k += 1
    if p.bounds is not None:
        lag += res.v[k]
    np.testing.assert_allclose(res.lagrangian_grad, lag, atol=1e-12)
    assert np.abs(lag).max() <= 1e-7
    if p.xstar is not None and name not in ("HS3", "HS1", "HS38"):
        np.testing.assert_allclose(x, p.xstar, atol=1e-5)


def _lbfgsb_case(n, seed):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n, n))
    H = M @ M.T / n + 0.1 * np.eye(n)
    b = 2 * rng.standard_normal(n)
    lo, hi = -0.5 * np.ones(n), np.r_[np.full(n // 2, 0.3), np.full(n - n // 2, np.inf)]
    fun = lambda x: 0.5 * x @ H @ x - b @ x  # noqa: E731
    jac = lambda x: H @ x - b  # noqa: E731
    return fun, jac, H, lo, hi


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bound_constrained_quadratic_matches_lbfgsb(seed):
    n = 12
    fun, jac, H, lo, hi = _lbfgsb_case(n, seed)
    x0 = np.zeros(n)
    ref = scipy.optimize.minimize(fun, x0, jac=jac, method="L-BFGS-B", bounds=Bounds(lo, hi),
                                  options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000})
    res = soptim.minimize(fun, x0, method="sketched-alm", jac=jac, hess=lambda x: H,
                          bounds=Bounds(lo, hi))
    assert res.success, res.message
    assert res.fun <= ref.fun + 1e-9 * abs(ref.fun)
    np.testing.assert_allclose(res.x, ref.x, atol=1e-5)
    # some bounds are active, on both sides
    assert np.any(np.isclose(res.x, lo)) and np.any(np.isclose(res.x, hi))


def test_rosenbrock_with_bounds_matches_lbfgsb_and_pairs_with_none():
    lo = np.array([-np.inf, 1.5, -np.inf, 0.0])
    ref = scipy.optimize.minimize(scipy.optimize.rosen, np.full(4, 2.0),
                                  jac=scipy.optimize.rosen_der, method="L-BFGS-B",
                                  bounds=Bounds(lo, np.inf),
                                  options={"ftol": 1e-15, "gtol": 1e-12})
    res = soptim.minimize(scipy.optimize.rosen, np.full(4, 2.0), method="sketched-alm",
                          jac=scipy.optimize.rosen_der, hess=scipy.optimize.rosen_hess,
                          bounds=[(None, None), (1.5, None), (None, None), (0.0, None)])
    assert res.success, res.message
    assert res.fun == pytest.approx(ref.fun, rel=1e-7)
    np.testing.assert_allclose(res.x, ref.x, atol=1e-5)
    assert res.x[1] == 1.5
    assert len(res.v) == 1 and res.v[0][1] < 0  # the bound pushes x1 up: v = -z_lower


# -- every constraint form ------------------------------------------------------------
# min (x0 - 2)^2 + (x1 - 1)^2 + x2^2 with x0 + x1 <= 2 and x0 - x2 = 0.5: x = (7, 5, 4) / 6
def _f(x):
    return (x[0] - 2) ** 2 + (x[1] - 1) ** 2 + x[2] ** 2


def _g(x):
    return np.array([2 * (x[0] - 2), 2 * (x[1] - 1), 2 * x[2]])


_XSTAR = np.array([7.0, 5.0, 4.0]) / 6.0
_FORMS = {
    "dicts": [{"type": "ineq", "fun": lambda x: 2 - x[0] - x[1]},
              {"type": "eq", "fun": lambda x: x[0] - x[2] - 0.5}],
    "nonlinear-upper": [NonlinearConstraint(lambda x: x[0] + x[1], -np.inf, 2.0),
                        NonlinearConstraint(lambda x: x[0] - x[2], 0.5, 0.5)],
    "linear-range": [LinearConstraint([[1.0, 1.0, 0.0]], -10.0, 2.0),
                     LinearConstraint([[1.0, 0.0, -1.0]], 0.5, 0.5)],
    "one-linear-mixed": LinearConstraint([[1.0, 1.0, 0.0], [1.0, 0.0, -1.0]],
                                         [-np.inf, 0.5], [2.0, 0.5]),
    "nonlinear-lower": [NonlinearConstraint(lambda x: -x[0] - x[1], -2.0, np.inf,
                                            jac=lambda x: np.array([[-1.0, -1.0, 0.0]])),
                        {"type": "eq", "fun": lambda x: x[0] - x[2] - 0.5}],
}


@pytest.mark.parametrize("form", sorted(_FORMS))
def test_every_constraint_form_same_solution_and_trust_constr_multipliers(form):
    cons = _FORMS[form]
    res = soptim.minimize(_f, np.zeros(3), method="sketched-alm", jac=_g, constraints=cons)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, _XSTAR, atol=1e-8)
    ref = scipy.optimize.minimize(_f, np.zeros(3), jac=_g, method="trust-constr",
                                  constraints=cons, options={"gtol": 1e-12, "xtol": 1e-14})
    for v, vr in zip(res.v, ref.v):
        np.testing.assert_allclose(v, vr, atol=1e-5)
    np.testing.assert_allclose(res.lagrangian_grad, 0.0, atol=1e-8)


def test_bounds_object_and_pairs_agree_and_x0_outside_box_is_projected():
    p = HS_INEQ_PROBLEMS["HS21"]  # x0 = (-1, -1) violates x0 >= 2
    a = soptim.minimize(p.f, np.array(p.x0), method="sketched-alm", jac=p.g,
                        bounds=p.bounds, constraints=p.constraints())
    b = soptim.minimize(p.f, np.array(p.x0), method="sketched-alm", jac=p.g,
                        bounds=Bounds([2.0, -50.0], [50.0, 50.0]), constraints=p.constraints())
    assert a.success and b.success
    np.testing.assert_array_equal(a.x, b.x)
    assert a.x[0] == 2.0


def test_degenerate_active_set_more_active_than_variables():
    # x >= 0, y >= 0, x + y <= 0 ... min (x - 1)^2 + (y - 1)^2: three constraints active
    # at the origin in two variables (LICQ fails, multipliers not unique)
    res = soptim.minimize(lambda x: (x[0] - 1) ** 2 + (x[1] - 1) ** 2, np.array([0.5, 0.2]),
                          method="sketched-alm", jac=lambda x: 2 * (x - 1),
                          constraints=[{"type": "ineq", "fun": lambda x: -x[0] - x[1]}],
                          bounds=[(0, None), (0, None)])
    assert res.success, res.message
    np.testing.assert_allclose(res.x, 0.0, atol=1e-10)
    np.testing.assert_allclose(res.lagrangian_grad, 0.0, atol=1e-8)


# -- infeasible problems --------------------------------------------------------------
def test_infeasible_inequalities_fail_and_say_so():
    cons = [{"type": "ineq", "fun": lambda x: x[0] - 1.0},
            {"type": "ineq", "fun": lambda x: -x[0] - 1.0}]  # x >= 1 and x <= -1
    with pytest.warns(OptimizeWarning, match="infeasible"):
        res = soptim.minimize(lambda x: x @ x, np.array([0.3, 0.0]), method="sketched-alm",
                              jac=lambda x: 2 * x, constraints=cons)
    assert not res.success
    assert "infeasible" in res.message and "phase-1 LP" in res.message
    assert res.constr_violation > 0.5


def test_infeasible_with_bounds_fail_and_say_so():
    # x in [0, 1]^2 and x0 + x1 >= 3: no point satisfies both
    with pytest.warns(OptimizeWarning, match="infeasible"):
        res = soptim.minimize(lambda x: x @ x, np.array([0.5, 0.5]), method="sketched-alm",
                              jac=lambda x: 2 * x, bounds=[(0, 1), (0, 1)],
                              constraints=LinearConstraint([[1.0, 1.0]], 3.0, np.inf))
    assert not res.success and "infeasible" in res.message and "phase-1 LP" in res.message
    assert np.all(res.x >= 0) and np.all(res.x <= 1)


def test_empty_box_is_an_error_naming_bounds():
    with pytest.raises(ValueError, match="bounds.*lo > hi"):
        soptim.minimize(lambda x: x @ x, np.zeros(2), method="sketched-alm",
                        bounds=[(0, 1), (2, 1)])


@pytest.mark.parametrize("bounds, match", [
    ([(0, 1)], "one \\(lo, hi\\) pair per variable"),
    ([(0, 1), (np.nan, 1)], "NaN"),
    ([(0, 1), 3.0], "pair"),
    (Bounds([0, 0, 0], 1), "shape"),
])
def test_bad_bounds_are_errors(bounds, match):
    with pytest.raises(ValueError, match=match):
        soptim.minimize(lambda x: x @ x, np.zeros(2), method="sketched-alm", bounds=bounds)


def test_bad_constraint_sides_are_errors():
    with pytest.raises(ValueError, match="lb > ub"):
        soptim.minimize(lambda x: x @ x, np.zeros(2), method="sketched-alm",
                        constraints=LinearConstraint([[1.0, 1.0]], 2.0, 1.0))


def test_equality_only_path_unchanged():
    res = soptim.minimize(lambda x: x @ x, np.array([1.0, 2.0]), method="sketched-alm",
                          jac=lambda x: 2 * x,
                          constraints=LinearConstraint([[1.0, 1.0]], 1.0, 1.0))
    assert res.success and "active" not in res  # the equality path answered
    np.testing.assert_allclose(res.x, [0.5, 0.5])


def test_sketched_newton_solves_on_an_inequality_problem():
    p = HS_INEQ_PROBLEMS["HS76"]
    res = _solve(p, sketch="kaczmarz", rng=0)
    assert res.success, res.message
    assert abs(res.fun - p.fstar) <= 1e-6 * abs(p.fstar)
    assert res.n_sketch_iter > res.nit  # the Newton systems were sketched, step by step


def test_callback_stops_and_maxiter_reports():
    p = HS_INEQ_PROBLEMS["HS100"]

    def cb(x):
        raise StopIteration

    res = soptim.minimize(p.f, np.array(p.x0), method="sketched-alm", jac=p.g,
                          constraints=p.constraints(), callback=cb)
    assert not res.success and res.status == 99 and res.nit == 1
    with pytest.warns(OptimizeWarning, match="maxiter"):
        res = _solve(p, maxiter=2)
    assert not res.success and res.status == 1


@pytest.mark.gpu
def test_inequality_problem_on_cupy(cp):
    # HS35 written with array operations (its f* = 1/9): device arrays end to end
    H = cp.asarray([[4.0, 2.0, 2.0], [2.0, 4.0, 0.0], [2.0, 0.0, 2.0]])
    q = cp.asarray([8.0, 6.0, 4.0])
    res = soptim.minimize(lambda x: 9.0 - q @ x + 0.5 * x @ H @ x, cp.full(3, 0.5),
                          method="sketched-alm", jac=lambda x: H @ x - q,
                          hess=lambda x: H,
                          constraints=LinearConstraint(np.array([[-1.0, -1.0, -2.0]]), -3.0,
                                                       np.inf),
                          bounds=[(0.0, None)] * 3)
    assert res.success, res.message
    assert isinstance(res.x, cp.ndarray)
    assert abs(float(res.fun) - 1.0 / 9.0) <= 1e-6 / 9.0
    np.testing.assert_allclose(cp.asnumpy(res.x), [4 / 3, 7 / 9, 4 / 9], atol=1e-7)


@pytest.mark.parametrize("constraints, bounds, xstar", [
    ({"type": "ineq", "fun": lambda x: x[0] - 0.5}, None, [0.5, 0.0]),
    (NonlinearConstraint(lambda x: x[0], 0.5, 1), None, [0.5, 0.0]),
    (LinearConstraint([[1.0, 1.0]], -np.inf, -1), None, [-0.5, -0.5]),
    ([{"type": "eq", "fun": lambda x: x[0] - 1}, {"type": "ineq", "fun": lambda x: x[1] - 1}],
     None, [1.0, 1.0]),
    ({"type": "eq", "fun": lambda x: x[0] - 1}, [(0, 1), (0.25, 1)], [1.0, 0.25]),
])
def test_what_the_equality_path_refused_is_solved(constraints, bounds, xstar):
    # the inputs that 'sketched-alm' answered with a ValueError naming trust-constr before
    res = soptim.minimize(lambda x: x @ x, [1.0, 2.0], method="sketched-alm",
                          jac=lambda x: 2 * x, constraints=constraints, bounds=bounds)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, xstar, atol=1e-9)
    np.testing.assert_allclose(res.lagrangian_grad, 0.0, atol=1e-8)


def test_pde_control_with_bounded_control_sparse_path_satisfies_kkt():
    # n = 512, m = 256: the sparse KKT path; the problem is convex, so the KKT conditions
    # checked here from the problem's data make x the global minimizer
    from soptim.optimize._test_problems import pde_control_problem

    N = 16
    prob = pde_control_problem(N)
    n2 = prob["m"]
    x_free, _ = prob["kkt_solution"]()
    zlo = 0.5 * x_free[n2:].min()
    lo = np.r_[np.full(n2, -np.inf), np.full(n2, zlo)]
    A = prob["A"]
    res = soptim.minimize(prob["fun"], prob["x0"], method="sketched-alm", jac=prob["jac"],
                          hess=prob["hess"], constraints=LinearConstraint(A, 0.0, 0.0),
                          bounds=Bounds(lo, np.inf), options={"tol": 1e-9})
    assert res.success, res.message
    x, (v_eq, v_b) = res.x, res.v
    active = x[n2:] == zlo
    assert active.sum() > n2 // 10  # the bound matters
    np.testing.assert_allclose(A @ x, 0.0, atol=1e-9)
    np.testing.assert_allclose(prob["jac"](x) + A.T @ v_eq + v_b, 0.0, atol=1e-8)
    assert np.all(v_b[n2:][active] <= 1e-12) and np.all(v_b[:n2] == 0)
    assert np.all(v_b[n2:][~active] == 0)
    assert res.fun > prob["fun"](x_free)  # the bound costs something


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_random_convex_qp_with_inequalities_matches_slsqp(seed):
    # strictly convex QP, 12 random linear inequalities A x <= b on 8 variables (x = 0
    # strictly feasible) and a linear equality: a unique minimizer, found by SLSQP too
    rng = np.random.default_rng(seed)
    n = 8
    M = rng.standard_normal((n, n))
    H = M @ M.T + np.eye(n)
    q = 5 * rng.standard_normal(n)
    A, b = rng.standard_normal((12, n)), rng.uniform(0.5, 1.5, 12)
    fun = lambda x: 0.5 * x @ H @ x + q @ x  # noqa: E731
    jac = lambda x: H @ x + q  # noqa: E731
    cons = [LinearConstraint(A, -np.inf, b), LinearConstraint(np.ones((1, n)), 0.0, 0.0)]
    ref = scipy.optimize.minimize(fun, np.zeros(n), jac=jac, method="SLSQP",
                                  constraints=cons, options={"ftol": 1e-12, "maxiter": 500})
    res = soptim.minimize(fun, np.zeros(n), method="sketched-alm", jac=jac,
                          hess=lambda x: H, constraints=cons)
    assert res.success, res.message
    x = res.x
    assert np.all(A @ x <= b + 1e-9) and abs(x.sum()) <= 1e-9
    # the KKT conditions from the data (convex: x is the minimizer), trust-constr's signs
    v_in, v_eq = res.v
    assert np.all(v_in >= -1e-12) and np.all(np.abs(v_in * (A @ x - b)) <= 1e-9)
    np.testing.assert_allclose(jac(x) + A.T @ v_in + v_eq[0], 0.0, atol=1e-8)
    # SLSQP (its own precision, it may stop early) reaches no lower value
    assert res.fun <= ref.fun + 1e-8 * max(1.0, abs(ref.fun))
    assert np.abs(x - ref.x).max() <= 1e-4


def _tight_box_qp(n, m, seed):
    rng = np.random.default_rng(seed)
    M = rng.standard_normal((n, n))
    H = M @ M.T + np.eye(n)
    q = 5 * rng.standard_normal(n)
    A, b = rng.standard_normal((m, n)), rng.uniform(0.5, 1.5, m)
    return H, q, A, b, (lambda x: 0.5 * x @ H @ x + q @ x), (lambda x: H @ x + q)


# (8, 12, 1.0): the case; before, 4 of its 12 seeds and every seed of (30, 40, 0.3)
# stopped with a false 'infeasible' (x = 0 is feasible, the QP strictly convex)
_TIGHT = [(8, 12, 1.0, seed) for seed in range(12)] + [
    (8, 12, 0.3, 7), (8, 12, 0.3, 9), (8, 12, 3.0, 1), (5, 8, 0.3, 2), (15, 25, 0.3, 0),
    (15, 25, 1.0, 5), (30, 40, 0.3, 1),
    # (5, 8, 1.0, 1) stopped with a false 'infeasible' (the exchange rounds cycled); now
    # the exact QP step (Goldfarb-Idnani) solves it, and its neighbours stay solved
    (5, 8, 1.0, 1), (5, 8, 1.0, 0), (5, 8, 1.0, 2), (5, 8, 0.3, 1), (5, 8, 3.0, 1)]


@pytest.mark.parametrize("n, m, width, seed", _TIGHT)
def test_random_convex_qp_with_tight_bounds_satisfies_kkt(n, m, width, seed):
    # the bounds' fixed set is refined with the inequality set on the linearized problem
    H, q, A, b, fun, jac = _tight_box_qp(n, m, seed)
    cons = [LinearConstraint(A, -np.inf, b), LinearConstraint(np.ones((1, n)), 0.0, 0.0)]
    box = Bounds(np.full(n, -width), np.full(n, width))
    res = soptim.minimize(fun, np.zeros(n), method="sketched-alm", jac=jac,
                          hess=lambda x: H, constraints=cons, bounds=box)
    assert res.success, res.message
    x = res.x
    v_in, v_eq, v_b = res.v
    assert np.all(A @ x <= b + 1e-9) and abs(x.sum()) <= 1e-9
    assert np.all(np.abs(x) <= width)
    # the KKT conditions from the data (convex: x is the minimizer), trust-constr's signs:
    # bound multipliers <= 0 at the lower bound, >= 0 at the upper, 0 inside
    assert np.all(v_in >= -1e-12) and np.all(np.abs(v_in * (A @ x - b)) <= 1e-8)
    assert np.all(v_b[x > -width + 1e-7] >= -1e-12)
    assert np.all(v_b[x < width - 1e-7] <= 1e-12)
    np.testing.assert_allclose(H @ x + q + A.T @ v_in + v_eq[0] + v_b, 0.0, atol=1e-7)
    ref = scipy.optimize.minimize(fun, np.zeros(n), jac=jac, method="SLSQP", bounds=box,
                                  constraints=cons, options={"ftol": 1e-14, "maxiter": 1000})
    assert res.fun <= ref.fun + 1e-8 * max(1.0, abs(ref.fun))  # SLSQP reaches no lower


@pytest.mark.parametrize("name", ["HS34", "HS44", "HS38", "HS71", "HS100"])
def test_without_host_lapack_same_steps_as_with_it(name, monkeypatch):
    # the GPU's path (no host LAPACK), simulated on NumPy: the reduced-Hessian Cholesky
    # test replaces the LDL^T inertia, with the same shift rule. HS44 (a nonconvex QP with
    # several KKT points) stopped at f = -3 and HS34 did not converge before
    p = HS_INEQ_PROBLEMS[name]
    ref = _solve(p)
    from soptim.backend import Backend
    monkeypatch.setattr(Backend, "lapack", lambda self, routine, a: None)
    res = _solve(p)
    assert res.success, res.message
    assert abs(res.fun - p.fstar) <= 1e-6 * max(1.0, abs(p.fstar))
    assert res.nit == ref.nit
    np.testing.assert_allclose(res.x, ref.x, atol=1e-8)


# -- the exact QP step and the phase-1 verdict ---------------------------------------------
def test_dense_qp_goldfarb_idnani_solves_random_strictly_convex_qps():
    from soptim.optimize._active_set import _dense_qp
    for seed in range(40):
        rng = np.random.default_rng(seed)
        n, me, mi = int(rng.integers(2, 12)), int(rng.integers(0, 3)), int(rng.integers(0, 25))
        M = rng.standard_normal((n, n))
        G, a = M @ M.T + 0.1 * np.eye(n), 5 * rng.standard_normal(n)
        CE, bE = rng.standard_normal((me, n)), np.zeros(me)
        w = rng.choice([0.3, 1.0, 3.0])  # x = 0 strictly feasible, box rows included
        CI = np.vstack([rng.standard_normal((mi, n)), np.eye(n), -np.eye(n)])
        bI = np.r_[-rng.uniform(0.1, 1.5, mi), -w * np.ones(2 * n)]
        x, uE, uI, status = _dense_qp(G, a, CE, bE, CI, bI)
        assert status == "optimal"
        # the KKT conditions from the data (strictly convex: x is the unique minimizer)
        np.testing.assert_allclose(G @ x + a - CE.T @ uE - CI.T @ uI, 0.0, atol=1e-8)
        assert np.abs(CE @ x - bE).max(initial=0.0) <= 1e-9
        assert (CI @ x - bI).min() >= -1e-9 and uI.min() >= -1e-12
        assert np.abs(uI * (CI @ x - bI)).max() <= 1e-8


def test_dense_qp_dependent_equalities_and_infeasible_constraints():
    from soptim.optimize._active_set import _dense_qp
    G, a, none = np.eye(2), np.zeros(2), (np.zeros((0, 2)), np.zeros(0))
    x, uE, _uI, status = _dense_qp(G, a, np.array([[1.0, 1.0], [2.0, 2.0]]),
                                   np.array([1.0, 2.0]), *none)  # the same row twice
    assert status == "optimal"
    np.testing.assert_allclose(x, [0.5, 0.5])
    np.testing.assert_allclose(G @ x - np.array([[1.0, 1.0], [2.0, 2.0]]).T @ uE, 0.0,
                               atol=1e-12)
    assert _dense_qp(G, a, np.array([[1.0, 1.0], [2.0, 2.0]]), np.array([1.0, 3.0]),
                     *none)[3] == "infeasible"
    assert _dense_qp(G, a, *none, np.array([[1.0, 0.0], [-1.0, 0.0]]),
                     np.array([1.0, 0.0]))[3] == "infeasible"  # x0 >= 1 and x0 <= 0
    assert _dense_qp(-G, a, *none, *none)[3] == "not-pd"


def test_phase1_violation_of_the_linearization():
    from soptim.optimize._active_set import _phase1_violation
    inf = np.full(2, np.inf)
    # d0 >= 1 (g = 1 - d0 <= 0) within d0 <= 0.25: least l1 violation 0.75
    v = _phase1_violation(np.zeros((0, 2)), np.zeros(0), np.array([[-1.0, 0.0]]),
                          np.array([1.0]), -inf, np.array([0.25, np.inf]))
    assert v == pytest.approx(0.75)
    # an equality and an inequality that can be met together: 0
    v = _phase1_violation(np.array([[1.0, 1.0]]), np.array([-2.0]), np.array([[1.0, -1.0]]),
                          np.array([0.5]), -inf, inf)
    assert v == pytest.approx(0.0, abs=1e-12)


def _cycling_qp_case():
    H, q, A, b, fun, jac = _tight_box_qp(5, 8, 1)
    cons = [LinearConstraint(A, -np.inf, b), LinearConstraint(np.ones((1, 5)), 0.0, 0.0)]
    return fun, jac, (lambda x: H), cons, Bounds(-np.ones(5), np.ones(5))


def test_exact_qp_step_is_taken_when_the_exchange_rounds_cycle(monkeypatch):
    from soptim.optimize import _active_set
    calls = []
    orig = _active_set._ActiveSetALM._exact_qp_step

    def counted(self, s):
        out = orig(self, s)
        calls.append(out is not None)
        return out
    monkeypatch.setattr(_active_set._ActiveSetALM, "_exact_qp_step", counted)
    fun, jac, hess, cons, box = _cycling_qp_case()
    res = soptim.minimize(fun, np.zeros(5), method="sketched-alm", jac=jac, hess=hess,
                          constraints=cons, bounds=box)
    assert res.success, res.message
    assert calls and all(calls)  # the rounds cycled and the exact step was used
    assert res.nit == 1  # a linear-constraint convex QP: the exact step solves it


def test_failed_active_set_iteration_on_a_feasible_problem_is_not_called_infeasible(
        monkeypatch):
    # without the exact QP step the exchange rounds cycle on this feasible QP (x = 0 is
    # feasible): the run fails, and must say that the iteration did not settle, since
    # the phase-1 LP meets the linearized constraints (it said 'infeasible' before)
    from soptim.optimize import _active_set
    monkeypatch.setattr(_active_set._ActiveSetALM, "_exact_qp_step", lambda self, s: None)
    fun, jac, hess, cons, box = _cycling_qp_case()
    with pytest.warns(OptimizeWarning, match="did not settle"):
        res = soptim.minimize(fun, np.zeros(5), method="sketched-alm", jac=jac, hess=hess,
                              constraints=cons, bounds=box)
    assert not res.success and res.status == 2
    assert "infeasible" not in res.message.replace("need not be infeasible", "")
    assert "phase-1 LP meets" in res.message and "Try" in res.message


def test_nonlinear_infeasible_problem_verdict_comes_from_phase1():
    # the unit disc and x0 >= 2 do not meet: the iterates stop at a stationary point of
    # the violation, where the linearization is inconsistent too
    cons = [NonlinearConstraint(lambda x: x @ x, -np.inf, 1.0, jac=lambda x: 2 * x),
            {"type": "ineq", "fun": lambda x: x[0] - 2.0}]
    with pytest.warns(OptimizeWarning, match="infeasible"):
        res = soptim.minimize(lambda x: (x[1] - 1) ** 2, np.array([0.5, 0.5]),
                              method="sketched-alm", jac=lambda x: np.array([0.0, 2 * (x[1] - 1)]),
                              constraints=cons)
    assert not res.success and "phase-1 LP" in res.message
    assert res.constr_violation > 0.1
