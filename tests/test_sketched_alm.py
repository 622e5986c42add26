"""method='sketched-alm': published Hock–Schittkowski optima, peers, the PDE problem, errors."""


import warnings

import numpy as np
import pytest
import scipy.optimize
import scipy.sparse as sps
from scipy.optimize import LinearConstraint, NonlinearConstraint, OptimizeWarning

import soptim
from soptim.optimize._test_problems import HS_PROBLEMS, hs_constraint, pde_control_problem

SKETCHES = ["block", "kaczmarz", "gaussian", "countsketch"]


def _solve_hs(p, sketch, **opts):
    return soptim.minimize(p.f, np.array(p.x0), method="sketched-alm", jac=p.g,
                           constraints=hs_constraint(p),
                           options={"sketch": sketch, "rng": 0, **opts})


@pytest.mark.parametrize("sketch", SKETCHES)
@pytest.mark.parametrize("name", sorted(HS_PROBLEMS))
def test_hock_schittkowski_published_optimum(name, sketch):
    p = HS_PROBLEMS[name]
    res = _solve_hs(p, sketch)
    assert res.success, res.message
    assert res.optimality <= 1e-8
    if p.fstar == 0:
        assert abs(res.fun) <= 1e-8
    else:
        assert abs(res.fun - p.fstar) <= 1e-6 * abs(p.fstar)
    # the reported residual is the true one
    c = p.c(res.x)
    gL = p.g(res.x) + p.J(res.x).T @ res.v[0]
    assert np.hypot(np.linalg.norm(gL), np.linalg.norm(c)) == pytest.approx(res.optimality,
                                                                            abs=1e-12)
    assert np.isfinite(res.x).all()
    if p.xstar is not None and name not in ("HS8",):
        np.testing.assert_allclose(res.x, p.xstar, atol=2e-3 if name == "HS26" else 1e-6)


def test_pde_control_matches_direct_kkt_solve():
    prob = pde_control_problem(16)
    x_ref, lam_ref = prob["kkt_solution"]()
    A = prob["A"]
    con = LinearConstraint(A, np.zeros(prob["m"]), np.zeros(prob["m"]))
    res = soptim.minimize(prob["fun"], prob["x0"], method="sketched-alm", jac=prob["jac"],
                          hess=prob["hess"], constraints=con, options={"rng": 0})
    assert res.success, res.message
    assert res.optimality <= 1e-8
    np.testing.assert_allclose(res.x, x_ref, rtol=0, atol=1e-8 * np.abs(x_ref).max())
    np.testing.assert_allclose(res.v[0], lam_ref, rtol=0, atol=1e-8 * np.abs(lam_ref).max())


@pytest.mark.parametrize("curvature", ["hessp", "finite-differences"])
def test_pde_control_with_hessian_products(curvature):
    prob = pde_control_problem(16)
    x_ref, _ = prob["kkt_solution"]()
    H = prob["hess"](None)
    kw = {"hessp": lambda x, p: H @ p} if curvature == "hessp" else {}
    res = soptim.minimize(prob["fun"], prob["x0"], method="sketched-alm", jac=prob["jac"],
                          constraints=LinearConstraint(prob["A"], 0, 0), options={"rng": 0},
                          **kw)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, x_ref, rtol=0, atol=1e-8 * np.abs(x_ref).max())


# -- constrained logistic regression against scipy's trust-constr -------------------------

def _logistic_problem():
    from scipy.special import expit
    from sklearn.datasets import load_breast_cancer

    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(0)) / X.std(0)
    yy = 2.0 * y - 1
    n = X.shape[1]
    rng = np.random.default_rng(0)
    A = rng.standard_normal((10, n))
    u = rng.standard_normal(n)
    b = A @ (u / np.linalg.norm(u))  # consistent with ||x|| = 1

    def f(x):
        return float(np.mean(np.logaddexp(0, -yy * (X @ x))))

    def g(x):
        return -(X.T @ (yy * expit(-yy * (X @ x)))) / X.shape[0]

    def h(x):
        m = yy * (X @ x)
        return (X.T * (expit(m) * expit(-m))) @ X / X.shape[0]

    cons = [LinearConstraint(A, b, b),
            NonlinearConstraint(lambda x: x @ x, 1, 1, jac=lambda x: 2 * x[None, :],
                                hess=lambda x, v: 2 * v[0] * np.eye(n))]
    return f, g, h, cons, np.ones(n)


def test_constrained_logistic_regression_matches_trust_constr():
    f, g, h, cons, x0 = _logistic_problem()
    ours = soptim.minimize(f, x0, method="sketched-alm", jac=g, hess=h, constraints=cons,
                           options={"rng": 0})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = scipy.optimize.minimize(f, x0, method="trust-constr", jac=g, hess=h,
                                      constraints=cons,
                                      options={"gtol": 1e-12, "xtol": 1e-15, "maxiter": 3000})
    assert ours.success, ours.message
    assert ref.optimality < 1e-10
    np.testing.assert_allclose(ours.x, ref.x, rtol=0, atol=1e-6)
    assert ours.fun == pytest.approx(ref.fun, rel=1e-8)
    for v_ours, v_ref in zip(ours.v, ref.v):  # same sign convention as trust-constr
        np.testing.assert_allclose(v_ours, v_ref, rtol=0, atol=1e-6)
    assert abs(ours.x @ ours.x - 1) <= 1e-8  # within the KKT tolerance


# -- every scipy constraint form, Hessians given or not -------------------------------------

def _hs(name):
    return HS_PROBLEMS[name]


def _hs42_forms():
    p = _hs("HS42")
    A = np.array([[1.0, 0, 0, 0]])
    quad = NonlinearConstraint(lambda x: x[2] ** 2 + x[3] ** 2, 2, 2,
                               jac=lambda x: np.array([[0, 0, 2 * x[2], 2 * x[3]]]),
                               hess=lambda x, v: v[0] * np.diag([0.0, 0, 2, 2]))
    quad_nohess = NonlinearConstraint(lambda x: x[2] ** 2 + x[3] ** 2, 2, 2,
                                      jac=lambda x: np.array([[0, 0, 2 * x[2], 2 * x[3]]]))
    quad_fd = NonlinearConstraint(lambda x: x[2] ** 2 + x[3] ** 2, 2, 2)  # jac '2-point'
    return p, {
        "dict": hs_constraint(p),
        "dict-no-jac": {"type": "eq", "fun": p.c},
        "linear+nonlinear-hess": [LinearConstraint(A, 2, 2), quad],
        "linear-sparse+nonlinear": [LinearConstraint(sps.csr_matrix(A), [2], [2]), quad_nohess],
        "dict+nonlinear-fd": [{"type": "eq", "fun": lambda x: x[0] - 2,
                               "jac": lambda x: A}, quad_fd],
    }


@pytest.mark.parametrize("form", ["dict", "dict-no-jac", "linear+nonlinear-hess",
                                  "linear-sparse+nonlinear", "dict+nonlinear-fd"])
def test_constraint_forms_give_the_published_optimum(form):
    p, forms = _hs42_forms()
    res = soptim.minimize(p.f, np.array(p.x0), method="sketched-alm", jac=p.g,
                          constraints=forms[form], options={"rng": 0})
    assert res.success, res.message
    assert res.optimality <= 1e-8
    assert res.fun == pytest.approx(p.fstar, rel=1e-8)
    np.testing.assert_allclose(res.x, [2, 2, 0.6 * np.sqrt(2), 0.8 * np.sqrt(2)], atol=1e-7)
    assert sum(len(v) for v in res.v) == 2
    if form == "linear+nonlinear-hess":
        assert res.constr_nhev > 0  # the NonlinearConstraint's own hess(x, v) was used
    else:
        assert res.constr_nhev == 0  # finite differences of J^T v instead


@pytest.mark.parametrize("curvature", ["hess-dense", "hess-sparse", "hess-operator", "hessp",
                                       "none", "no-gradient"])
def test_objective_curvature_forms(curvature):
    from scipy.sparse.linalg import LinearOperator

    p = _hs("HS61")
    H = np.diag([8.0, 4.0, 4.0])
    calls = dict.fromkeys(["f", "g", "c", "J", "H"], 0)

    def counted(name, fn):
        def wrapped(*a):
            calls[name] += 1
            return fn(*a)
        return wrapped

    kw = {"jac": counted("g", p.g)}
    if curvature == "hess-dense":
        kw["hess"] = counted("H", lambda x: H)
    elif curvature == "hess-sparse":
        kw["hess"] = counted("H", lambda x: sps.csr_matrix(H))
    elif curvature == "hess-operator":
        kw["hess"] = counted("H", lambda x: LinearOperator((3, 3), matvec=lambda v: H @ v))
    elif curvature == "hessp":
        kw["hessp"] = counted("H", lambda x, v: H @ v)
    elif curvature == "no-gradient":
        kw["jac"] = None
    con = {"type": "eq", "fun": counted("c", p.c), "jac": counted("J", p.J)}
    res = soptim.minimize(counted("f", p.f), np.zeros(3), method="sketched-alm",
                          constraints=con, options={"rng": 0}, **kw)
    assert res.success, res.message
    assert res.fun == pytest.approx(p.fstar, rel=1e-6)
    # every call of every user callable is counted, and only those
    assert (res.nfev, res.njev, res.nhev) == (calls["f"], calls["g"], calls["H"])
    assert (res.constr_nfev, res.constr_njev) == (calls["c"], calls["J"])
    assert res.nit >= 1 and calls["J"] >= res.nit
    if curvature in ("none", "no-gradient"):  # finite differences: no Hessian calls
        assert res.nhev == 0
    else:
        assert res.nhev >= res.nit
    if curvature == "no-gradient":  # central differences: 2n calls of f per gradient
        assert res.njev == 0 and res.nfev >= 2 * 3 * (res.nit + 1)


def test_result_fields():
    p = _hs("HS40")
    res = _solve_hs(p, "block")
    for key in ("x", "fun", "jac", "v", "constr_violation", "optimality", "nit", "nfev", "njev",
                "nhev", "n_sketch_iter", "mu", "nu", "status", "success", "message"):
        assert key in res
    np.testing.assert_allclose(res.jac, p.g(res.x))
    assert res.constr_violation == pytest.approx(np.abs(p.c(res.x)).max())
    assert res.status == 0 and res.mu >= 1.0 and res.nu <= 0.1


# -- reproducibility -------------------------------------------------------------------------

def _iterates(sketch, seed):
    p = _hs("HS39")
    xs = []
    soptim.minimize(p.f, np.array(p.x0), method="sketched-alm", jac=p.g,
                    constraints=hs_constraint(p), callback=lambda xk: xs.append(xk),
                    options={"sketch": sketch, "rng": seed})
    return np.array(xs)


@pytest.mark.parametrize("sketch", ["kaczmarz", "countsketch"])
def test_same_seed_same_iterates(sketch):
    a, b = _iterates(sketch, 7), _iterates(sketch, 7)
    assert a.shape == b.shape
    np.testing.assert_array_equal(a, b)
    c = _iterates(sketch, 8)
    assert c.shape != a.shape or not np.array_equal(a, c)  # the seed matters ...
    np.testing.assert_allclose(c[-1], a[-1], atol=1e-7)  # ... not the answer


@pytest.mark.parametrize("name", ["HS27", "HS40", "HS61"])
def test_different_sketches_same_solution(name):
    p = _hs(name)
    sols = [_solve_hs(p, sk).x for sk in SKETCHES]
    for x in sols[1:]:
        np.testing.assert_allclose(x, sols[0], atol=1e-7)


@pytest.mark.parametrize("name", ["HS39", "HS61"])
def test_uniform_row_sampling(name):
    p = _hs(name)
    res = _solve_hs(p, "kaczmarz", row_sampling="uniform")
    assert res.success and res.fun == pytest.approx(p.fstar, rel=1e-6)


def test_generator_rng_accepted():
    p = _hs("HS28")
    res = _solve_hs(p, "gaussian", rng=None)
    assert res.success
    res = soptim.minimize(p.f, np.array(p.x0), method="sketched-alm", jac=p.g,
                          constraints=hs_constraint(p),
                          options={"sketch": "gaussian", "rng": np.random.default_rng(3)})
    assert res.success


# -- degenerate input and errors ---------------------------------------------------------------

def test_dependent_consistent_constraints_succeed_with_a_note():
    # issue 14: rank-deficient but consistent constraints at a KKT point are a success
    p = _hs("HS48")
    c2 = {"type": "eq", "fun": lambda x: p.c(x).sum(keepdims=True),
          "jac": lambda x: p.J(x).sum(axis=0, keepdims=True)}
    with warnings.catch_warnings():
        warnings.simplefilter("error", OptimizeWarning)
        res = soptim.minimize(p.f, np.array(p.x0), method="sketched-alm", jac=p.g,
                              constraints=[hs_constraint(p), c2], options={"rng": 0})
    assert res.success and res.status == 0, res.message
    assert "LICQ" in res.message and "not unique" in res.message
    assert res.optimality <= 1e-8 and abs(res.fun - p.fstar) <= 1e-8
    for arr in (res.x, np.concatenate(res.v), res.jac):
        assert np.isfinite(arr).all()


def test_dependent_sparse_constraints_succeed_with_a_note():
    prob = pde_control_problem(12)
    x_ref, _ = prob["kkt_solution"]()
    A = prob["A"]
    A2 = sps.vstack([A, A[:3]], format="csr")  # three constraints repeated
    con = LinearConstraint(A2, 0, 0)
    res = soptim.minimize(prob["fun"], prob["x0"], method="sketched-alm", jac=prob["jac"],
                          hess=prob["hess"], constraints=con, options={"rng": 0})
    assert res.success and "LICQ" in res.message
    np.testing.assert_allclose(res.x, x_ref, rtol=0, atol=1e-7 * np.abs(x_ref).max())
    assert np.isfinite(np.concatenate(res.v)).all()


def test_overdetermined_consistent_constraints_succeed():
    # issue 14: three equalities in two variables, consistent, x* = (1, 1)
    def cfun(x):
        return np.array([x[0] - 1.0, x[1] - 1.0, x[0] * x[1] - 1.0])

    def cjac(x):
        return np.array([[1.0, 0.0], [0.0, 1.0], [x[1], x[0]]])

    res = soptim.minimize(lambda x: float(x @ x), np.array([2.0, 0.5]), method="sketched-alm",
                          jac=lambda x: 2 * x,
                          constraints={"type": "eq", "fun": cfun, "jac": cjac},
                          options={"rng": 0})
    assert res.success and res.status == 0, res.message
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-10)
    assert res.optimality <= 1e-8


# Inequalities and bounds, which this path once refused, are solved by the active-set method:
# tests/test_sketched_alm_ineq.py::test_what_the_equality_path_refused_is_solved.


def test_no_constraints_is_an_error():
    with pytest.raises(ValueError, match="at least one equality constraint"):
        soptim.minimize(lambda x: x @ x, [1.0, 2.0], method="sketched-alm", constraints=[])


@pytest.mark.parametrize("con, exc, match", [
    ({"type": "eq", "fun": lambda x: np.array([x[0], x[1]]),
      "jac": lambda x: np.ones((3, 2))}, ValueError, r"jac returned shape \(3, 2\)"),
    ({"type": "eq", "fun": lambda x: np.ones((2, 2))}, ValueError, "1-D"),
    ({"type": "eq", "fun": lambda x: np.array([np.nan])}, ValueError, "NaN or inf at x0"),
    ({"type": "eq", "fun": lambda x: x[0], "jac": lambda x: np.array([[np.inf, 0.0]])},
     ValueError, "jac returned NaN"),
    ({"type": "eq", "fun": 3}, TypeError, "'fun' must be callable"),
    ({"type": "equal", "fun": lambda x: x[0]}, ValueError, "'type' must be 'eq'"),
    (LinearConstraint(np.ones((1, 3)), 1, 1), ValueError, r"shape \(m, 2\)"),
    (LinearConstraint([[np.nan, 1.0]], 1, 1), ValueError, "NaN"),
    ("x = 0", TypeError, "constraint 0 must be"),
])
def test_bad_constraints(con, exc, match):
    with pytest.raises(exc, match=match):
        soptim.minimize(lambda x: x @ x, [1.0, 2.0], method="sketched-alm", constraints=con)


@pytest.mark.parametrize("options, exc, match", [
    ({"sketch": "srht"}, ValueError, "sketch must be one of"),
    ({"rho": 0.5}, ValueError, r"rho must be in \(1.0, inf\)"),
    ({"beta": 1.5}, ValueError, "beta must be in"),
    ({"mu0": -1.0}, ValueError, "mu0 must be > 0"),
    ({"tol": np.nan}, ValueError, "tol must be > 0"),
    ({"maxiter": 0}, ValueError, "maxiter must be >= 1"),
    ({"block_size": 0}, ValueError, "block_size must be >= 1"),
    ({"accel": -1}, ValueError, "accel must be >= 0"),
    ({"row_sampling": "rows"}, ValueError, "row_sampling must be"),
    ({"lam0": [1.0, 2.0]}, ValueError, r"lam0 must have shape \(1,\)"),
    ({"lam0": [np.nan]}, ValueError, "lam0 contains NaN"),
])
def test_bad_options(options, exc, match):
    p = _hs("HS6")
    with pytest.raises(exc, match=match):
        soptim.minimize(p.f, np.array(p.x0), method="sketched-alm", jac=p.g,
                        constraints=hs_constraint(p), options=options)


def test_bad_x0_and_hessians():
    p = _hs("HS6")
    with pytest.raises(ValueError, match="x0 contains NaN"):
        soptim.minimize(p.f, [np.nan, 1.0], method="sketched-alm", constraints=hs_constraint(p))
    with pytest.raises(ValueError, match="x0 must be 1-D"):
        soptim.minimize(p.f, np.ones((2, 2)), method="sketched-alm",
                        constraints=hs_constraint(p))
    with pytest.raises(TypeError, match="hess must be"):
        soptim.minimize(p.f, np.array(p.x0), method="sketched-alm", jac=p.g,
                        hess=scipy.optimize.BFGS(), constraints=hs_constraint(p))
    with pytest.raises(ValueError, match=r"hess must return shape \(2, 2\)"):
        soptim.minimize(p.f, np.array(p.x0), method="sketched-alm", jac=p.g,
                        hess=lambda x: np.eye(3), constraints=hs_constraint(p))
    with pytest.raises(ValueError, match="fun is not finite at x0"):
        soptim.minimize(lambda x: np.nan, np.array(p.x0), method="sketched-alm",
                        constraints=hs_constraint(p))


def test_unknown_option_warns():
    p = _hs("HS28")
    with pytest.warns(OptimizeWarning, match="Unknown solver options.*frobnicate"):
        _solve_hs(p, "block", frobnicate=1)


def test_maxiter_reached_warns_and_fails_cleanly():
    p = _hs("HS7")
    with pytest.warns(OptimizeWarning, match="Maximum number of iterations"):
        res = _solve_hs(p, "block", maxiter=2)
    assert not res.success and res.status == 1 and res.nit == 2
    assert np.isfinite(res.x).all() and "maxiter" in res.message


def test_starved_sketch_fails_with_advice():
    # plain Kaczmarz (no extrapolation) with a tiny budget cannot solve HS27's KKT systems
    p = _hs("HS27")
    with pytest.warns(OptimizeWarning, match="max_sketch_iter"):
        res = _solve_hs(p, "kaczmarz", accel=0, max_sketch_iter=200)
    assert not res.success and res.status == 2
    assert "sketch='block'" in res.message
    assert np.isfinite(res.x).all() and np.isfinite(res.fun) and res.mu < 1e6


def test_nan_during_line_search_is_backtracked():
    # f is NaN for x1 > 1.5, which the first full Newton step from x0 visits
    p = _hs("HS6")

    def f(x):
        return np.nan if x[0] > 1.5 else p.f(x)

    res = soptim.minimize(f, np.array(p.x0), method="sketched-alm", jac=p.g,
                          constraints=hs_constraint(p), options={"rng": 0})
    assert res.success and abs(res.fun) < 1e-8


def test_callback_stop_iteration():
    p = _hs("HS7")
    seen = []

    def cb(intermediate_result):
        seen.append(intermediate_result.optimality)
        if len(seen) == 3:
            raise StopIteration

    res = soptim.minimize(p.f, np.array(p.x0), method="sketched-alm", jac=p.g,
                          constraints=hs_constraint(p), callback=cb)
    assert res.status == 99 and not res.success and res.nit == 3 and len(seen) == 3


def test_disp_prints_table(capsys):
    _solve_hs(_hs("HS28"), "block", disp=True)
    out = capsys.readouterr().out
    assert "kkt" in out and "terminated successfully" in out


def test_numpy_fallback_matches_numba(monkeypatch):
    from soptim.backend import HAS_NUMBA
    from soptim.linalg import _kernels

    if not HAS_NUMBA:
        pytest.skip("numba is not installed")
    ran = {"numba": 0, "numpy": 0}

    def spy(name, kernel):
        def wrapped(*a):
            ran[name] += 1
            return kernel(*a)
        return wrapped

    numba_kernel = _kernels._kaczmarz_sweep_numba
    monkeypatch.setattr(_kernels, "_kaczmarz_sweep_numba", spy("numba", numba_kernel))
    monkeypatch.setattr(_kernels, "_kaczmarz_sweep_numpy",
                        spy("numpy", _kernels._kaczmarz_sweep_numpy))
    p = _hs("HS39")
    monkeypatch.delenv("SOPTIM_DISABLE_NUMBA", raising=False)
    a = _solve_hs(p, "kaczmarz")
    assert a.success and ran["numba"] > 0 and ran["numpy"] == 0
    assert numba_kernel.signatures  # the compiled kernel really ran
    monkeypatch.setenv("SOPTIM_DISABLE_NUMBA", "1")
    b = _solve_hs(p, "kaczmarz")
    assert b.success and ran["numpy"] > 0  # the NumPy twin ran this time
    np.testing.assert_allclose(a.x, b.x, atol=1e-8)


@pytest.mark.gpu
def test_cupy_input_gives_cupy_output(cp):
    p = _hs("HS28")
    res = soptim.minimize(lambda x: float(p.f(cp.asnumpy(x))), cp.asarray(p.x0),
                          method="sketched-alm",
                          jac=lambda x: cp.asarray(p.g(cp.asnumpy(x))),
                          constraints={"type": "eq",
                                       "fun": lambda x: cp.asarray(p.c(cp.asnumpy(x))),
                                       "jac": lambda x: cp.asarray(p.J(cp.asnumpy(x)))},
                          options={"sketch": "gaussian", "rng": 0})
    assert isinstance(res.x, cp.ndarray)
    assert res.success and abs(res.fun) < 1e-8


def test_pde_control_is_one_exact_sparse_newton_step(monkeypatch):
    # a QP with linear constraints: the exact (sparse) KKT solve ends it in one iteration; the
    # Hessian is diagonal, so the factored matrix is the m x m Schur complement J D^-1 J^T
    import scipy.sparse.linalg as spla

    prob = pde_control_problem(20)
    x_ref, lam_ref = prob["kkt_solution"]()
    shapes = []
    real = spla.splu

    def spy(A, *a, **k):
        shapes.append(A.shape)
        return real(A, *a, **k)
    monkeypatch.setattr(spla, "splu", spy)
    res = soptim.minimize(prob["fun"], prob["x0"], method="sketched-alm", jac=prob["jac"],
                          hess=prob["hess"], constraints=LinearConstraint(prob["A"], 0, 0),
                          options={"rng": 0})
    assert res.success and res.nit == 1 and res.n_sketch_iter == 1, res.message
    assert res.optimality <= 1e-10  # the one step is exact up to rounding
    assert shapes == [(prob["m"], prob["m"])]
    np.testing.assert_allclose(res.x, x_ref, rtol=0, atol=1e-8 * np.abs(x_ref).max())
    np.testing.assert_allclose(res.v[0], lam_ref, rtol=0, atol=1e-8 * np.abs(lam_ref).max())


def test_sparse_qp_with_indefinite_hessian_is_one_exact_step():
    # B sparse, not diagonal, indefinite, but positive definite on the null space of A (the
    # constraints fix the coordinates of negative curvature): one LU of the whole KKT matrix
    n, m = 600, 60
    rng = np.random.default_rng(3)
    neg = rng.choice(n, 20, replace=False)
    keep = np.ones(n)
    keep[neg] = 0.0
    T = sps.diags([np.ones(n - 1), np.full(n, 4.0), np.ones(n - 1)], [-1, 0, 1])
    H = (sps.diags(keep) @ T @ sps.diags(keep) - sps.diags(1.0 - keep)).tocsr()
    H.eliminate_zeros()
    q = rng.standard_normal(n)
    E = sps.csr_matrix((np.ones(20), (np.arange(20), neg)), shape=(20, n))
    A = sps.vstack([E, sps.random(m - 20, n, density=0.02, random_state=1)], format="csr")
    b = rng.standard_normal(m)
    res = soptim.minimize(lambda x: 0.5 * x @ (H @ x) - q @ x, np.zeros(n),
                          method="sketched-alm", jac=lambda x: H @ x - q, hess=lambda x: H,
                          constraints=LinearConstraint(A, b, b), options={"rng": 0})
    assert res.success and res.nit == 1, (res.nit, res.message)
    K = sps.bmat([[H, A.T], [A, None]], format="csc")
    sol = sps.linalg.spsolve(K, np.r_[q, b])
    np.testing.assert_allclose(res.x, sol[:n], atol=1e-9 * np.abs(sol[:n]).max())
    assert np.abs(A @ res.x - b).max() <= 1e-9


def test_operator_kkt_matrix_applies_blocks_of_columns_in_one_product():
    # The sketch reads blocks of rows of K through rmatmat; K's matmat must equal the
    # dense KKT matrix and use B's matmat once per block (not one matvec per column).
    import scipy.sparse.linalg as sla

    from soptim.backend import NUMPY
    from soptim.optimize._sketched_alm import _kkt_matrix

    rng = np.random.default_rng(0)
    n, m = 7, 3
    H = rng.standard_normal((n, n))
    H = H + H.T
    J = rng.standard_normal((m, n))
    calls = {"matvec": 0, "matmat": 0}

    def mv(p):
        calls["matvec"] += 1
        return H @ p

    def mm(P):
        calls["matmat"] += 1
        return H @ P

    B = sla.LinearOperator((n, n), matvec=mv, matmat=mm, dtype=float)
    K = _kkt_matrix(B, J, 0.5, NUMPY, False)
    Kd = np.block([[H + 0.5 * np.eye(n), J.T], [J, np.zeros((m, m))]])
    V = rng.standard_normal((n + m, 4))
    np.testing.assert_allclose(K.rmatmat(V), Kd.T @ V, atol=1e-13)
    np.testing.assert_allclose(K.matmat(V), Kd @ V, atol=1e-13)
    assert calls == {"matvec": 0, "matmat": 2}
