"""soptim.ot.solve: SNS and log-domain Sinkhorn vs POT, closed forms and the dual calculus."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import OptimizeWarning

import soptim.ot as ot_front
from soptim.ot import (
    OTResult,
    dual_gradient,
    dual_hessian,
    dual_value,
    plan_from_potentials,
    solve,
)

ot = pytest.importorskip("ot")


def _problem(n, m, seed=0, uniform=False):
    rng = np.random.default_rng(seed)
    M = rng.random((n, m))
    if uniform:
        return np.full(n, 1 / n), np.full(m, 1 / m), M
    a = rng.random(n) + 0.1
    b = rng.random(m) + 0.1
    return a / a.sum(), b / b.sum(), M


def _l1_error(P, a, b):
    return np.abs(P.sum(1) - a).sum() + np.abs(P.sum(0) - b).sum()


# ---------------------------------------------------------------- dual calculus
def test_dual_gradient_and_hessian_match_finite_differences():
    a, b, M = _problem(4, 5, seed=1)
    reg = 0.3
    rng = np.random.default_rng(2)
    f, g = 0.1 * rng.standard_normal(4), 0.1 * rng.standard_normal(5)
    x = np.concatenate([f, g])

    def L(z):
        return dual_value(a, b, M, z[:4], z[4:], reg)

    def grad(z):
        return np.concatenate(dual_gradient(a, b, M, z[:4], z[4:], reg))

    h = 1e-5
    E = np.eye(9)
    fd_grad = np.array([(L(x + h * e) - L(x - h * e)) / (2 * h) for e in E])
    np.testing.assert_allclose(grad(x), fd_grad, rtol=1e-7, atol=1e-9)
    fd_hess = np.array([(grad(x + h * e) - grad(x - h * e)) / (2 * h) for e in E]).T
    H = dual_hessian(M, f, g, reg)
    np.testing.assert_allclose(H, fd_hess, rtol=1e-6, atol=1e-8)
    # negative semidefinite, singular along (1, -1)
    assert np.linalg.eigvalsh(H).max() < 1e-12
    np.testing.assert_allclose(H @ np.r_[np.ones(4), -np.ones(5)], 0, atol=1e-12)


def test_optimal_potentials_zero_the_gradient_and_match_primal():
    a, b, M = _problem(6, 7, seed=3)
    res = solve(a, b, M, 0.2, tol=1e-12)
    f, g = res.potentials
    for part in dual_gradient(a, b, M, f, g, 0.2):
        assert np.abs(part).sum() < 1e-11
    np.testing.assert_allclose(plan_from_potentials(M, f, g, 0.2), res.plan, atol=1e-15)
    P = res.plan
    primal = (M * P).sum() + 0.2 * (P * (np.log(P) - 1)).sum()
    np.testing.assert_allclose(res.reg_cost, primal, rtol=1e-10)
    np.testing.assert_allclose(res.reg_cost, dual_value(a, b, M, f, g, 0.2), rtol=1e-10)
    np.testing.assert_allclose(res.cost, (M * P).sum(), rtol=1e-14)


# ---------------------------------------------------------------- against POT
@pytest.mark.parametrize("shape", [(30, 30), (25, 40)])
def test_sns_plan_equals_pot_sinkhorn_log_and_own_sinkhorn(shape):
    a, b, M = _problem(*shape, seed=4)
    reg = 0.1
    P_pot = ot.sinkhorn(a, b, M, reg, method="sinkhorn_log", stopThr=1e-13,
                        numItermax=100000)
    sns = solve(a, b, M, reg, method="sns", tol=1e-12)
    snk = solve(a, b, M, reg, method="sinkhorn", tol=1e-12)
    assert isinstance(sns, OTResult) and sns.success and snk.success
    np.testing.assert_allclose(sns.plan, P_pot, rtol=0, atol=1e-8)
    np.testing.assert_allclose(snk.plan, P_pot, rtol=0, atol=1e-8)
    np.testing.assert_allclose(sns.plan, snk.plan, rtol=0, atol=1e-10)
    assert sns.marginal_error == pytest.approx(_l1_error(sns.plan, a, b), abs=1e-15)
    assert sns.marginal_error <= 1e-12


def test_random_assignment_n500_paper_case():
    # the SNS paper's random-assignment problem: eta = 1/reg = 1200, costs U[0, 1]
    n = 500
    a, b, M = _problem(n, n, seed=0, uniform=True)
    reg = 1 / 1200
    res = solve(a, b, M, reg, tol=1e-10)
    assert res.success, res.message
    assert _l1_error(res.plan, a, b) <= 1e-10
    assert res.marginal_error <= 1e-10
    assert res.n_newton < 100
    assert res.nit == res.n_sinkhorn + res.n_newton
    assert len(res.history) >= res.nit and res.history[-1] == pytest.approx(
        res.marginal_error, rel=1e-6)
    exact = ot.emd2(a, b, M)
    assert exact <= res.cost <= exact + reg * np.log(n * n)
    assert np.isfinite(res.plan).all()
    # no stall near 1e-12: the kept density adapts
    tight = solve(a, b, M, reg, tol=1e-13)
    assert tight.success and _l1_error(tight.plan, a, b) <= 1e-13
    assert tight.n_newton < 100


def test_non_square_non_uniform_small_reg_against_pot():
    a, b, M = _problem(40, 70, seed=5)
    reg = 0.02
    res = solve(a, b, M, reg, tol=1e-11)
    P_pot = ot.sinkhorn(a, b, M, reg, method="sinkhorn_log", stopThr=1e-12,
                        numItermax=200000)
    assert res.success and res.plan.shape == (40, 70)
    np.testing.assert_allclose(res.plan, P_pot, atol=1e-9)


def test_batched_b_solves_each_column():
    a, _, M = _problem(20, 30, seed=6)
    rng = np.random.default_rng(7)
    B = rng.random((30, 3)) + 0.05
    B /= B.sum(0)
    res = solve(a, B, M, 0.05, tol=1e-11)
    assert res.success
    assert res.plan.shape == (20, 30, 3) and res.cost.shape == (3,)
    for k in range(3):
        one = solve(a, B[:, k], M, 0.05, tol=1e-11)
        np.testing.assert_allclose(res.plan[..., k], one.plan, atol=1e-12)
        assert res.cost[k] == pytest.approx(one.cost, rel=1e-10)
        assert res.potentials[0].shape == (20, 3)


def test_zero_masses_are_dropped_and_restored_without_nan():
    a, b, M = _problem(12, 15, seed=8)
    a[[0, 5]] = 0.0
    b[[3, 14]] = 0.0
    a, b = a / a.sum(), b / b.sum()
    res = solve(a, b, M, 0.05, tol=1e-11)
    assert res.success
    assert np.isfinite(res.plan).all()
    assert np.all(res.plan[[0, 5]] == 0) and np.all(res.plan[:, [3, 14]] == 0)
    f, g = res.potentials
    assert np.isfinite(f).all() and np.isfinite(g).all()
    ia, ib = a > 0, b > 0
    sub = solve(a[ia], b[ib], M[ia][:, ib], 0.05, tol=1e-11)
    np.testing.assert_allclose(res.plan[ia][:, ib], sub.plan, atol=1e-13)
    assert _l1_error(res.plan, a, b) <= 1e-11


def test_tiny_reg_has_no_underflow_nan():
    # exp(-M/reg) underflows to 0 for every entry here; the log domain does not care
    a, b, M = _problem(30, 30, seed=9)
    res = solve(a, b, 100 * M, reg=1e-3, tol=1e-9)
    assert res.success, res.message
    assert np.isfinite(res.plan).all() and np.isfinite(res.cost)


def test_deterministic_for_any_rng():
    a, b, M = _problem(15, 15, seed=10)
    r1 = solve(a, b, M, 0.01, rng=0)
    r2 = solve(a, b, M, 0.01, rng=np.random.default_rng(123))
    np.testing.assert_array_equal(r1.plan, r2.plan)


# ---------------------------------------------------------------- bad input / failures
@pytest.mark.parametrize("kwargs, name", [
    (dict(a=np.array([0.5, -0.1, 0.6])), "a"),
    (dict(b=np.array([0.2, 0.2, 0.2, 0.3])), r"same total mass.*sum\(a\) = 1, sum\(b\) = 0.9;"),
    (dict(b=np.full((4, 2), 0.5)), r"sum\(b\) = \[2\. 2\.\]"),
    (dict(M=np.array([[0, 1, np.nan, 1]] * 3, dtype=float)), "M"),
    (dict(M=np.array([[0, 1, np.inf, 1]] * 3, dtype=float)), "M"),
    (dict(M=np.ones((3, 5))), "b"),
    (dict(a=np.ones(4) / 4), "a"),
    (dict(reg=0.0), "reg"),
    (dict(reg=-1.0), "reg"),
    (dict(tol=0.0), "tol"),
    (dict(method="bogus"), "method"),
])
def test_bad_inputs_raise_value_error_naming_argument(kwargs, name):
    args = dict(a=np.ones(3) / 3, b=np.ones(4) / 4, M=np.ones((3, 4)), reg=0.1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=name):
        solve(**args)


def test_non_convergence_reports_and_warns():
    a, b, M = _problem(50, 50, seed=11)
    with pytest.warns(OptimizeWarning, match="did not converge"):
        res = solve(a, b, M, 1e-3, method="sinkhorn", max_iter=5)
    assert not res.success and res.status == 1
    assert "max_iter" in res.message
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = solve(a, b, M, 1e-3, method="sns", max_iter=3, warn=False)
    assert not res.success and np.isfinite(res.plan).all()


def test_unreachable_tolerance_stops_with_a_reason():
    a, b, M = _problem(30, 40, seed=15)
    with pytest.warns(OptimizeWarning, match="rounding"):
        res = solve(a, b, M, 0.005, tol=1e-19)
    assert not res.success and res.status == 2
    assert res.marginal_error < 1e-13 and np.isfinite(res.plan).all()


def test_totals_within_tolerance_are_rescaled():
    a, b, M = _problem(6, 8, seed=16)
    res = solve(a, b * (1 + 1e-9), M, 0.1)
    assert res.success
    np.testing.assert_allclose(res.plan.sum(0), b, atol=1e-9)


@settings(max_examples=12, deadline=None)
@given(n=st.integers(1, 12), m=st.integers(1, 12), seed=st.integers(0, 10**6),
       logreg=st.floats(-3, 0))
def test_property_marginals_and_cost_bounds(n, m, seed, logreg):
    a, b, M = _problem(n, m, seed=seed)
    reg = 10.0**logreg
    res = solve(a, b, M, reg, tol=1e-10)
    assert res.success, res.message
    assert (res.plan >= 0).all() and _l1_error(res.plan, a, b) <= 1e-10
    exact = ot.emd2(a, b, M)
    assert exact - 1e-9 <= res.cost <= exact + reg * np.log(n * m) + 1e-9


def test_unknown_option_warns():
    a, b, M = _problem(5, 5)
    with pytest.warns(OptimizeWarning, match="Unknown solver options"):
        solve(a, b, M, 0.1, bogus=1)


# ---------------------------------------------------------------- numba vs numpy
def test_numpy_fallback_gives_the_same_result(monkeypatch):
    from soptim.ot import _kernels as K

    a, b, M = _problem(60, 45, seed=12)
    reg = 0.005
    monkeypatch.setattr(K, "COMPILE_MIN_SIZE", 0)  # small problems run the twins otherwise
    fast = solve(a, b, M, reg, tol=1e-11)
    assert K._nb_plan.signatures and K._nb_newton_direction.signatures
    monkeypatch.setenv("SOPTIM_DISABLE_NUMBA", "1")
    slow = solve(a, b, M, reg, tol=1e-11)
    assert fast.success and slow.success
    np.testing.assert_allclose(fast.plan, slow.plan, atol=1e-11)
    assert fast.n_newton == slow.n_newton and fast.n_sinkhorn == slow.n_sinkhorn


def test_numba_kernels_agree_with_numpy(monkeypatch):
    from soptim.backend import get_backend
    from soptim.ot import _kernels as K

    a, b, M = _problem(30, 20, seed=13)
    rng = np.random.default_rng(0)
    f, g = 0.01 * rng.standard_normal(30), 0.01 * rng.standard_normal(20)
    reg = 0.02
    be = get_backend(M)
    window = K.hist_window(a, b)

    def run():
        X = np.empty_like(M)
        fnew = K.row_softmin_update(M, g, np.log(a), reg, be, X)
        r, c, tot, counts = K.plan_marginals(M, f, g, reg, be, X, window)
        P = X.copy()
        Ps = K.select_entries(P, np.quantile(P, 0.8), be)
        df, dg, it = K.newton_direction(Ps, r, c, a - r, b - c, 1e-8, 1e-12, 500, be)
        return fnew, r, c, tot, np.asarray(counts), P, Ps.nnz, df, dg

    fast = run()
    # the numba kernels really ran (serial variants at this size)
    for kernel in (K._nb_softmin, K._nb_plan, K._nb_select, K._nb_newton_direction):
        assert kernel.signatures
    monkeypatch.setenv("SOPTIM_DISABLE_NUMBA", "1")
    assert not get_backend(M).use_numba
    slow = run()
    for x, y in zip(fast, slow):
        np.testing.assert_allclose(x, y, rtol=1e-9, atol=1e-14)
    # the direction solves the sparsified Newton system
    P = fast[5]
    r, c = fast[1], fast[2]
    keep = P >= np.minimum(np.quantile(P, 0.8), P.max(1))[:, None]
    Ps = np.where(keep, P, 0.0)
    K_s = np.block([[np.diag(r), Ps], [Ps.T, np.diag(c + 1e-8)]])
    np.testing.assert_allclose(K_s @ np.r_[fast[7], fast[8]], np.r_[a - r, b - c],
                               atol=1e-12)


def test_vectorized_exp_is_accurate_to_an_ulp():
    from soptim.ot._kernels import _exp_row

    x = np.concatenate([np.linspace(-700, 700, 20001), [0.0, -1e-300, 1e-12, -0.5, 0.5]])
    out = np.empty_like(x)
    _exp_row(x, out, np.empty(x.size, dtype=np.int64))
    np.testing.assert_allclose(out, np.exp(x), rtol=3e-16, atol=0)


def test_one_pass_selection_equals_two_pass():
    from soptim.backend import get_backend
    from soptim.ot import _kernels as K

    P = np.random.default_rng(18).random((90, 70)) ** 8
    be = get_backend(P)
    thresh = np.quantile(P, 0.9)
    ref = K.select_entries(P, thresh, be)
    keep = P >= np.minimum(thresh, P.max(1))[:, None]
    assert ref.nnz == keep.sum()
    for hint in (5, ref.nnz, 10 * ref.nnz):  # 5: buffers overflow, two-pass fallback
        got = K.select_entries(P, thresh, be, nnz_hint=hint)
        for name in ("indptr", "indices", "data", "tindptr", "tindices", "tdata"):
            np.testing.assert_array_equal(getattr(got, name), getattr(ref, name))


def test_parallel_hessian_products_give_the_same_direction(monkeypatch):
    from soptim.backend import get_backend
    from soptim.ot import _kernels as K

    rng = np.random.default_rng(17)
    P = rng.random((80, 60)) ** 6 / 4800
    r, c = P.sum(1), P.sum(0)
    g1, g2 = 1e-3 * rng.standard_normal(80) * r, 1e-3 * rng.standard_normal(60) * c
    g2 += (g1.sum() - g2.sum()) / 60
    be = get_backend(P)
    Ps = K.select_entries(P, np.quantile(P, 0.6), be)
    serial = K.newton_direction(Ps, r, c, g1, g2, 1e-9, 1e-12, 500, be)
    monkeypatch.setattr(K, "PARALLEL_MIN_NNZ", 0)  # the path of > 2^20 kept entries
    parallel = K.newton_direction(Ps, r, c, g1, g2, 1e-9, 1e-12, 500, be)
    assert serial[2] == parallel[2]
    np.testing.assert_allclose(parallel[0], serial[0], rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(parallel[1], serial[1], rtol=1e-10, atol=1e-14)


# ---------------------------------------------------------------- GPU
@pytest.mark.gpu
def test_cupy_arrays_in_cupy_arrays_out(cp):
    a, b, M = _problem(40, 30, seed=14)
    res = solve(cp.asarray(a), cp.asarray(b), cp.asarray(M), 0.01, tol=1e-10)
    ref = solve(a, b, M, 0.01, tol=1e-10)
    assert isinstance(res.plan, cp.ndarray) and isinstance(res.potentials[0], cp.ndarray)
    assert res.success
    np.testing.assert_allclose(cp.asnumpy(res.plan), ref.plan, atol=1e-10)


def test_parallel_kernel_variants_agree_with_serial(monkeypatch):
    from soptim.backend import get_backend
    from soptim.ot import _kernels as K

    a, b, M = _problem(70, 50, seed=19)
    rng = np.random.default_rng(1)
    f, g = 0.01 * rng.standard_normal(70), 0.01 * rng.standard_normal(50)
    be = get_backend(M)
    window = K.hist_window(a, b)

    def run():
        X = np.empty_like(M)
        fnew = K.row_softmin_update(M, g, np.log(a), 0.02, be, X)
        r, c, tot, counts = K.plan_marginals(M, f, g, 0.02, be, X, window)
        P = X.copy()
        Ps = K.select_entries(P, np.quantile(P, 0.7), be, nnz_hint=P.size // 3)
        Pt = K.select_entries(P, np.quantile(P, 0.7), be)
        return (fnew, r, c, tot, counts, P, K.transpose(M, be), Ps.indptr, Ps.indices,
                Ps.data, Ps.tindptr, Ps.tindices, Ps.tdata, Pt.indices, Pt.tdata)

    serial = run()
    monkeypatch.setattr(K, "PARALLEL_MIN_SIZE", 0)  # the path of >= 2^18 plan entries
    assert K.use_parallel(be, M.size)
    parallel = run()
    for kernel in (K._nb_softmin_par, K._nb_plan_par, K._nb_transpose_dense,
                   K._nb_select_onepass, K._nb_select_count, K._nb_transpose):
        assert kernel.signatures
    for x, y in zip(serial, parallel):
        np.testing.assert_allclose(y, x, rtol=1e-13, atol=1e-300)
    # and a whole solve on the parallel path
    res_p = solve(a, b, M, 0.01, tol=1e-11)
    monkeypatch.setattr(K, "PARALLEL_MIN_SIZE", 1 << 18)
    res_s = solve(a, b, M, 0.01, tol=1e-11)
    np.testing.assert_allclose(res_p.plan, res_s.plan, atol=1e-12)


@pytest.mark.parametrize("reg", [0.5, 0.05, 0.002])
@pytest.mark.parametrize("method", ["sinkhorn", "sns"])
def test_kernel_domain_path_matches_log_domain(method, reg):
    # the BLAS scaling sweeps (with absorption and hand-over to the log domain at small
    # reg) define the same iterates as the log-domain sweeps (kernel=False)
    a, b, M = _problem(40, 30, seed=21)
    fast = solve(a, b, M, reg, method=method, tol=1e-10, max_iter=20000)
    slow = solve(a, b, M, reg, method=method, tol=1e-10, max_iter=20000, kernel=False)
    assert fast.success and slow.success
    np.testing.assert_allclose(fast.plan, slow.plan, atol=1e-10)
    if method == "sinkhorn":  # same iterates: same count
        assert abs(fast.n_sinkhorn - slow.n_sinkhorn) <= 1
    else:  # cheap sweeps: SNS switches to Newton only when many more would be needed
        assert fast.n_newton <= slow.n_newton
    np.testing.assert_allclose(fast.plan.sum(1), a, atol=1e-9)


def test_kernel_domain_hands_over_when_the_kernel_underflows():
    # reg far below the cost spread: exp(-M/reg) underflows, the sweeps fall back to the
    # log domain and still converge without NaN
    a, b, M = _problem(30, 30, seed=22)
    res = solve(a, b, 1000 * M, 0.5, method="sinkhorn", tol=1e-9, max_iter=100000)
    assert res.success and np.isfinite(res.plan).all()
    np.testing.assert_allclose(res.plan.sum(0), b, atol=1e-8)


# ---------------------------------------------------------------- batches, lists, policy
def _cloud(n, m, seed):
    rng = np.random.default_rng(seed)
    x, y = rng.random((n, 2)), rng.random((m, 2))
    M = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
    return M / M.max()


@pytest.mark.parametrize("method, reg", [("sinkhorn", 0.05), ("sns", 0.05), ("sns", 0.002)])
def test_batched_b_runs_one_kernel_and_matches_per_column_solves(monkeypatch, method, reg):
    # one kernel and GEMMs for the k problems, then each goes on alone: the same iterates,
    # decisions and plans as k separate solves
    from soptim.ot import _solve as S

    calls = []

    def spy(*args, **kwargs):
        out = batch_kernel_sweeps(*args, **kwargs)
        calls.append(out)
        return out

    batch_kernel_sweeps = S.batch_kernel_sweeps
    monkeypatch.setattr(S, "batch_kernel_sweeps", spy)
    rng = np.random.default_rng(5)
    M = _cloud(40, 30, seed=6)
    a = np.full(40, 1 / 40)
    B = rng.random((30, 3)) + 0.1
    B /= B.sum(axis=0)
    res = solve(M, a, B, reg, method=method, tol=1e-11, max_iter=20000)
    assert len(calls) == 1 and calls[0] is not None  # the batch path ran
    assert res.plan.shape == (40, 30, 3) and res.success
    for j in range(3):
        one = solve(M, a, B[:, j], reg, method=method, tol=1e-11, max_iter=20000)
        np.testing.assert_allclose(res.plan[..., j], one.plan, rtol=1e-9, atol=1e-15)
        assert res.n_sinkhorn[j] == one.n_sinkhorn and res.n_newton[j] == one.n_newton
        np.testing.assert_allclose(res.history[j], one.history, rtol=1e-8, atol=1e-14)
        np.testing.assert_allclose(res.marginals[0][:, j], one.plan.sum(1), atol=1e-15)
    assert len(calls) == 1  # single problems do not take the batch path


def test_batched_b_with_zero_masses_and_tiny_reg_matches_per_column():
    # zero target masses or a kernel exp(-M/reg) near the floor: no shared kernel, the
    # problems are solved one by one (same answers)
    M = _cloud(30, 20, seed=7)
    a = np.full(30, 1 / 30)
    B = np.full((20, 2), 1 / 20)
    B[:4, 1], B[4:, 1] = 0.0, 1 / 16
    for reg in (0.05, 1e-3):
        res = solve(M, a, B, reg, tol=1e-10)
        for j in range(2):
            one = solve(M, a, B[:, j], reg, tol=1e-10)
            np.testing.assert_allclose(res.plan[..., j], one.plan, atol=1e-14)
    assert np.all(res.plan[:4, :, 1] == 0.0) or np.all(res.plan[:, :4, 1] == 0.0)


def test_list_masses_take_the_backend_of_the_cost():
    a, b, M = _problem(6, 5, seed=8)
    res = solve(M, list(a), tuple(b), 0.1)
    ref = solve(M, a, b, 0.1)
    np.testing.assert_array_equal(res.plan, ref.plan)
    P = ot_front.sinkhorn(list(a), list(b), M, 0.1)
    np.testing.assert_allclose(P, ref.plan, atol=1e-12)


@pytest.mark.gpu
def test_list_masses_with_a_cupy_cost_go_to_the_gpu(cp):
    a, b, M = _problem(6, 5, seed=8)
    Mg = cp.asarray(M)
    res = solve(Mg, list(a), list(b), 0.1)
    assert isinstance(res.plan, cp.ndarray)
    np.testing.assert_allclose(cp.asnumpy(res.plan), solve(M, a, b, 0.1).plan, atol=1e-10)
    P = ot_front.sinkhorn(list(a), list(b), Mg, 0.1)
    assert isinstance(P, cp.ndarray)


def test_cheap_sweeps_leave_for_newton_only_when_many_more_are_predicted():
    from soptim.ot._sinkhorn import CHEAP_SWEEPS, RATE_WINDOW, slowdown_switch

    sw = slowdown_switch(5, 0.95, 1e-3, 200, tol=1e-12)
    fast = [0.5 ** k for k in range(12)]  # 1e-12 in ~28 more sweeps: keep sweeping
    slow = [0.99 ** k for k in range(12)]  # thousands more: Newton
    assert not sw(fast, cheap=True) and sw(slow, cheap=True)
    # the log-domain rule (no cheap flag) switches on the last ratio alone
    assert sw(slow) and not sw(fast[:3])
    # the rate is measured over the window: one sweep on a plateau (a last ratio of 0.999
    # alone predicts ~20000 sweeps) does not send a fast Sinkhorn to Newton
    jumpy = fast + [fast[-1] * 0.999]
    rate = (jumpy[-1] / jumpy[-1 - RATE_WINDOW]) ** (1 / RATE_WINDOW)
    assert np.log(1e-12 / jumpy[-1]) / np.log(rate) < CHEAP_SWEEPS
    assert not sw(jumpy, cheap=True)
    assert not sw(slow[:RATE_WINDOW], cheap=True)  # too few sweeps to tell
    assert sw(slow * 100, cheap=True)  # the cap: CHEAP_MAX_FACTOR * 200 sweeps


def test_sns_keeps_kernel_sweeps_when_they_converge_soon():
    # moderate reg on a point cloud: a few hundred kernel sweeps converge; no Newton step
    M = _cloud(60, 50, seed=9)
    a, b = np.full(60, 1 / 60), np.full(50, 1 / 50)
    sns = solve(M, a, b, 0.02, tol=1e-9)
    sk = solve(M, a, b, 0.02, method="sinkhorn", tol=1e-9)
    assert sns.success and sns.n_newton == 0 and sns.n_sinkhorn == sk.n_sinkhorn
    assert 60 < sk.n_sinkhorn < 300  # more than the old rule (60) allowed


# ---------------------------------------------------------------- per-solve overhead
def test_scaling_checks_from_bounds_equal_the_entrywise_checks():
    # kernel_sweeps decides hand-over and absorption from min/max of K v (two reductions)
    # instead of reading every scaling: the decisions must be exactly the entrywise ones
    from soptim.backend import NUMPY
    from soptim.ot._sinkhorn import TAU, _out_of_range, _Scaling

    rng = np.random.default_rng(5)
    safe = 1e-200
    for trial in range(300):
        w = rng.random(20) + 0.05
        w /= w.sum()
        d = np.exp(rng.normal(scale=rng.choice([1.0, 40.0, 120.0]), size=20))
        if trial % 50 == 0:
            d[3] = np.nan
        elif trial % 50 == 1:
            d[7] = 1e-250  # below safe
        q, ok, in_range = _Scaling(NUMPY, w, safe).divide(d)
        np.testing.assert_array_equal(q, w / d)
        expect_ok = bool(np.isfinite(q).all()) and bool(d.min() >= safe)
        assert ok == expect_ok
        if ok:
            assert in_range == (not _out_of_range(np, q))
            assert in_range == bool(q.max() <= TAU and q.min() >= 1 / TAU)


def test_kernel_floors_only_when_an_exponent_can_reach_the_floor(monkeypatch):
    # the NumPy twin's floor pass is skipped when -max M / reg (cold) or
    # (min f + min g - max M) / reg (warm) is above LOG_FLOOR; the kernel equals the
    # floored exponential either way
    from soptim.backend import NUMPY
    from soptim.ot._kernels import LOG_FLOOR
    from soptim.ot._problem import Workspace

    monkeypatch.setenv("SOPTIM_DISABLE_NUMBA", "1")
    assert not NUMPY.use_numba
    rng = np.random.default_rng(6)
    M = rng.random((30, 20))
    zf, zg = np.zeros(30), np.zeros(20)
    f, g = rng.normal(size=30), rng.normal(size=20)
    for scale, reg in ((1.0, 0.1), (1.0, 1e-3), (1e3, 0.5)):
        ws = Workspace(scale * M, reg, NUMPY)
        for ff, gg in ((zf, zg), (f, g)):
            if ff is zf:  # the kernel's own order of operations: the same rounding
                X = (scale * M) * (-1.0 / reg)
            else:
                X = ((ff[:, None] - scale * M) + gg[None, :]) * (1.0 / reg)
            with np.errstate(over="ignore"):  # inf entries at reg 1e-3: the sweeps hand over
                want = np.exp(np.maximum(X, LOG_FLOOR))
            np.testing.assert_array_equal(ws.kernel(ff, gg, (0.0, 1.0)), want)


def test_nonfinite_cost_is_refused_through_its_bounds():
    # the finiteness check of M reads min and max (which also give the reg schedule's
    # spread); NaN anywhere and +-inf must still be refused
    for bad in (np.nan, np.inf, -np.inf):
        M = np.random.default_rng(7).random((6, 5))
        M[4, 2] = bad
        with pytest.raises(ValueError, match="M contains NaN or inf"):
            solve(M, reg=0.1)
    with pytest.raises(ValueError, match="b must have a positive total mass"):
        solve(np.ones((3, 2)), np.ones(3) / 3, np.zeros(2), reg=0.1)


def test_kernel_without_histogram_is_the_plan(monkeypatch):
    # the numba kernel build skips the log-histogram (only the Newton plans need it)
    from soptim.backend import NUMPY
    from soptim.ot import _kernels as K
    from soptim.ot._kernels import hist_window, plan_marginals

    if not NUMPY.use_numba:
        pytest.skip("numba disabled")
    rng = np.random.default_rng(8)
    M = rng.random((40, 30))
    f, g = rng.normal(size=40) * 0.1, rng.normal(size=30) * 0.1
    a, b = np.full(40, 1 / 40), np.full(30, 1 / 30)
    X1, X2 = np.empty_like(M), np.empty_like(M)
    r1, c1, t1, counts = plan_marginals(M, f, g, 0.05, NUMPY, X1, hist_window(a, b))
    r2, c2, t2, none = plan_marginals(M, f, g, 0.05, NUMPY, X2, hist_window(a, b),
                                      histogram=False)
    assert K._nb_plan.signatures and none is None and counts.sum() == M.size
    np.testing.assert_array_equal(X1, X2)
    np.testing.assert_array_equal(r1, r2)
    np.testing.assert_array_equal(c1, c2)
    monkeypatch.setenv("SOPTIM_DISABLE_NUMBA", "1")
    assert not NUMPY.use_numba
    r3, c3, t3, none = plan_marginals(M, f, g, 0.05, NUMPY, X2, hist_window(a, b),
                                      histogram=False)
    assert none is None
    np.testing.assert_allclose(X2, X1, rtol=1e-14)


@pytest.mark.parametrize("n, w1, w2", [(16, 0.06, 0.1), (64, 0.05, 0.05)])
def test_sns_converges_on_histograms_with_tiny_masses(n, w1, w2):
    # Gaussian histograms carry masses down to 1e-28..1e-300; after a reg decrease
    # their plan rows sum many orders below their mass, and Newton (linear in the
    # scalings) asked for steps of 1e20 that every line-search trial rejected.
    # Sinkhorn converged there: SNS must too, to the same plan.
    t = (np.arange(n) + 0.5) / n
    a = np.exp(-((t - 0.3) / w1) ** 2 / 2)
    a /= a.sum()
    b = np.exp(-((t - 0.65) / w2) ** 2 / 2)
    b /= b.sum()
    assert a.min() < 1e-20
    M = (t[:, None] - t[None, :]) ** 2
    reg = 1e-3 * M.max()
    res = ot_front.solve(M, a, b, reg, method="sns")
    ref = ot_front.solve(M, a, b, reg, method="sinkhorn")
    assert res.success and ref.success, res.message
    assert res.marginal_error <= 1e-9
    assert res.n_newton > 0
    np.testing.assert_allclose(res.value, ref.value, rtol=1e-7)


def test_numba_plan_pass_overflows_like_numpy(monkeypatch):
    # exponents above 709 (a trial step, or a kernel at potentials far from the plan's):
    # the numba plan pass gave a clamped finite exp(709) ~ 8e307 where NumPy's exp gives
    # inf, so the kernel sweeps did not hand over to the log domain and went on with a
    # wrong kernel (the Gaussian problem below failed as "potentials overflowed")
    from soptim.backend import get_backend
    from soptim.ot import _kernels as K

    M = np.zeros((3, 6))
    f = np.zeros(3)
    g = np.array([700.0, 709.2, 709.7, 709.9, 800.0, 0.5])
    window = K.hist_window(np.full(3, 1 / 3), np.full(6, 1 / 6))
    expect = np.exp(np.broadcast_to(g, M.shape))
    assert np.isinf(expect).sum() == 6  # 709.9 and 800 overflow in every row

    def run():
        be = get_backend(M)
        X = np.empty_like(M)
        r, c, tot, _ = K.plan_marginals(M, f, g, 1.0, be, X, window)
        return X, r, c, be.use_numba

    X, r, c, used = run()
    assert used and K._nb_plan.signatures  # the numba kernel ran
    np.testing.assert_allclose(X, expect, rtol=1e-14)
    np.testing.assert_allclose(r, expect.sum(1), rtol=1e-14)
    np.testing.assert_allclose(c, expect.sum(0), rtol=1e-14)
    monkeypatch.setenv("SOPTIM_DISABLE_NUMBA", "1")
    Xs, rs, cs, used = run()
    assert not used
    np.testing.assert_array_equal(Xs, X)


def test_numba_solve_where_the_kernel_overflows(monkeypatch):
    # regression of the lead's 24 x 24 grid reproducer, at 12 x 12: two truncated 2-D
    # Gaussian histograms at reg 1e-4; the numba path failed ("potentials overflowed"),
    # the NumPy twins converged
    from soptim.ot import _kernels as K

    def gauss(mean, cov, X):
        d = X - np.asarray(mean)
        w = np.exp(-0.5 * np.einsum("...i,ij,...j", d, np.linalg.inv(cov), d))
        w = np.where(w < 1e-16 * w.max(), 0.0, w)
        return w / w.sum()

    c = (np.arange(12) + 0.5) / 12
    X = np.stack(np.meshgrid(c, c, indexing="ij"), -1)
    a = gauss([0.38, 0.4], [[0.005, 0.002], [0.002, 0.003]], X)
    b = gauss([0.6, 0.62], [[0.0025, -0.001], [-0.001, 0.006]], X)
    monkeypatch.setattr(K, "COMPILE_MIN_SIZE", 0)  # run numba at this size
    d_fast, fast = ot_front.wasserstein(a, b, p=2, reg=1e-4)
    assert K._nb_plan.signatures
    monkeypatch.setenv("SOPTIM_DISABLE_NUMBA", "1")
    d_slow, slow = ot_front.wasserstein(a, b, p=2, reg=1e-4)
    assert fast.success and slow.success and np.isfinite(fast.plan).all()
    np.testing.assert_allclose(fast.plan, slow.plan, atol=1e-9)
    np.testing.assert_allclose(d_fast, d_slow, rtol=1e-8)
    np.testing.assert_allclose(fast.plan.sum(1), a.ravel(), atol=1e-9)


def test_scaled_plan_pass_equals_the_exponential_pass(monkeypatch):
    # the kernel-domain Newton plans diag(e^lu) K0 diag(e^lv): the same plan, marginals
    # and threshold histogram as the exponential pass at (f0 + reg lu, g0 + reg lv), on
    # the numba kernel and on its array-module twin
    # 900 x 700: the parallel kernel, every 2nd row histogrammed; 300 x 200: serial, all
    for n, m in ((900, 700), (300, 200)):
        _check_scaled_pass(monkeypatch, n, m)


def _check_scaled_pass(monkeypatch, n, m):
    from soptim.backend import get_backend
    from soptim.ot import _kernels as K

    reg = 0.02
    rng = np.random.default_rng(11)
    M = rng.random((n, m))
    f0, g0 = rng.normal(size=n) * 0.05, rng.normal(size=m) * 0.05
    a, b = np.full(n, 1 / n), np.full(m, 1 / m)
    window = K.hist_window(a, b)
    lu, lv = rng.normal(size=n) * 3, rng.normal(size=m) * 3
    s = K.hist_stride(M.shape)

    def run():
        be = get_backend(M)
        K0 = np.empty_like(M)
        K.plan_marginals(M, f0, g0, reg, be, K0, window, floor=-600.0)
        L = np.maximum((f0[::s, None] + g0[None, :] - M[::s]) / reg, -600.0)
        X = np.empty_like(M)
        got = K.scaled_plan_marginals(K0, L, lu, lv, be, X, window)
        Y = np.empty_like(M)
        want = K.plan_marginals(M, f0 + reg * lu, g0 + reg * lv, reg, be, Y, window,
                                floor=-600.0)
        return X, Y, got, want, be.use_numba

    for numba_on in (True, False):
        monkeypatch.setenv("SOPTIM_DISABLE_NUMBA", "0" if numba_on else "1")
        X, Y, got, want, used = run()
        np.testing.assert_allclose(X, Y, rtol=1e-12)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-12)
        assert got[2] == pytest.approx(want[2], rel=1e-12)
        # bins of a log-value on a bin edge may differ by one in rounding
        assert got[3].sum() == want[3].sum()
        assert np.abs(np.asarray(got[3]) - np.asarray(want[3])).sum() <= 1e-3 * M.size
        if numba_on:  # the numba kernel ran
            kernel = K._nb_scaled_plan_par if M.size >= K.PARALLEL_MIN_SIZE else \
                K._nb_scaled_plan
            assert used and kernel.signatures
        else:
            assert not used
    monkeypatch.delenv("SOPTIM_DISABLE_NUMBA")


@pytest.mark.parametrize("kind", ["random", "cloud"])
def test_kernel_domain_newton_gives_the_exponential_newton_iterates(monkeypatch, kind):
    # build item 5 of issue 11: the Newton plans scaled from a reference kernel follow the
    # same iterates as exponential plan passes (same steps, errors, plan to rounding)
    from soptim.ot import _problem as PR

    rng = np.random.default_rng(5)
    n = 120
    if kind == "random":
        M = rng.random((n, n + 30))
    else:
        x, y = rng.random((n, 2)), rng.random((n + 30, 2))
        M = ((x[:, None] - y[None]) ** 2).sum(-1)
    a = rng.random(n) + 0.1
    a /= a.sum()
    b = rng.random(n + 30) + 0.1
    b /= b.sum()
    calls = []
    scaled = PR.scaled_plan_marginals

    def counting(*args, **kw):
        calls.append(1)
        return scaled(*args, **kw)

    monkeypatch.setattr(PR, "scaled_plan_marginals", counting)
    res = ot_front.solve(M, a, b, 2e-3, method="sns", tol=1e-10)
    assert calls and res.n_newton > 0  # plans were scaled
    monkeypatch.setattr(PR, "SCALED_MAX_ENTRIES", 0)
    n_calls = len(calls)
    ref = ot_front.solve(M, a, b, 2e-3, method="sns", tol=1e-10)
    assert len(calls) == n_calls  # the exponential passes only
    assert res.success and ref.success
    assert res.n_newton == ref.n_newton and res.n_sinkhorn == ref.n_sinkhorn
    np.testing.assert_allclose(res.history, ref.history, rtol=1e-6, atol=1e-13)
    np.testing.assert_allclose(res.plan, ref.plan, rtol=1e-9, atol=1e-15)
    assert res.value == pytest.approx(ref.value, rel=1e-12)


def test_newton_plan_makes_a_new_reference_for_long_steps():
    # a scaling exponent beyond SCALED_MAX_LOG: an exponential pass, the new reference;
    # within it: a scaled plan into the other buffer; end_newton leaves the plan in X
    from soptim.backend import NUMPY
    from soptim.ot import _problem as PR
    from soptim.ot._kernels import hist_window, plan_marginals

    rng = np.random.default_rng(2)
    M = rng.random((30, 20))
    reg = 0.01
    ws = PR.Workspace(M, reg, NUMPY)
    a, b = np.full(30, 1 / 30), np.full(20, 1 / 20)
    win = hist_window(a, b)
    f, g = np.zeros(30), np.zeros(20)
    ws.begin_newton()
    ws.newton_plan(f, g, win)
    first = ws.P
    assert ws._ref[0] is first
    f1 = f + 0.3 * reg  # in range: scaled from the reference
    r1, *_ = ws.newton_plan(f1, g, win)
    assert ws.P is not first and ws._ref[0] is first
    f2 = f + (PR.SCALED_MAX_LOG + 1) * reg * np.linspace(0, 1, 30)  # out of range
    r2, *_ = ws.newton_plan(f2, g, win)
    assert ws._ref[0] is ws.P and ws._ref[1] is f2
    Y = np.empty_like(M)
    rr, *_ = plan_marginals(M, f2, g, reg, NUMPY, Y, win, floor=PR.NEWTON_LOG_FLOOR)
    np.testing.assert_array_equal(r2, rr)
    last = ws.P.copy()
    ws.end_newton()
    np.testing.assert_array_equal(ws.X, last)
    assert ws._ref is None and ws.P is ws.X


def test_sns_converges_on_truncated_gaussians_on_a_coarse_grid():
    # 2-D Gaussian histograms on a 10 x 10 grid, tails truncated at 1e-16 (masses down to
    # 5e-17), reg 3e-5: SNS stopped at 5e-6 ("no ascent step") where Sinkhorn converges;
    # tiny-mass rows are now rebalanced before every step and no potential moves by more
    # than max_log_step * reg
    def gauss(mean, cov, X):
        d = X - np.asarray(mean)
        w = np.exp(-0.5 * np.einsum("...i,ij,...j", d, np.linalg.inv(cov), d))
        w = np.where(w < 1e-16 * w.max(), 0.0, w)
        return (w / w.sum()).ravel()

    c = (np.arange(10) + 0.5) / 10
    X = np.stack(np.meshgrid(c, c, indexing="ij"), -1)
    a = gauss([0.38, 0.4], [[0.005, 0.002], [0.002, 0.003]], X)
    b = gauss([0.6, 0.62], [[0.0025, -0.001], [-0.001, 0.006]], X)
    pts = X.reshape(-1, 2)
    M = ((pts[:, None] - pts[None]) ** 2).sum(-1)
    res = ot_front.solve(M, a, b, 3e-5, method="sns")
    ref = ot_front.solve(M, a, b, 3e-5, method="sinkhorn", max_iter=20000)
    assert res.success and ref.success, res.message
    assert res.n_newton > 0
    np.testing.assert_allclose(res.plan, ref.plan, atol=1e-8)
    np.testing.assert_allclose(res.value, ref.value, rtol=1e-7)
    with pytest.raises(ValueError, match="max_log_step"):
        ot_front.solve(M, a, b, 3e-5, method="sns", max_log_step=0.0)
