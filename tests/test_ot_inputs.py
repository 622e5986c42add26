"""soptim.ot input handling: exact costs, clear errors with POT's argument names, mass scale."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from scipy.spatial.distance import cdist

import soptim.ot as sot
from soptim.ot import dist, sinkhorn, sinkhorn2, solve


def _problem(n, m, seed=0):
    rng = np.random.default_rng(seed)
    a, b = rng.random(n) + 0.1, rng.random(m) + 0.1
    return a / a.sum(), b / b.sum(), rng.random((n, m))


# ---------------------------------------------------------------- dist
@pytest.mark.parametrize("offset", [0.0, 1e4, 1e8])
@pytest.mark.parametrize("d", [1, 3])
def test_sqeuclidean_of_offset_points_matches_cdist(offset, d):
    rng = np.random.default_rng(1)
    X, Y = 2 * rng.random((60, d)), 2 * rng.random((45, d))
    x1, x2 = offset + X, offset + Y
    ref = cdist(x1, x2, "sqeuclidean")
    np.testing.assert_allclose(dist(x1, x2), ref, rtol=1e-12, atol=0)
    np.testing.assert_allclose(dist(x1, x2, "euclidean"), np.sqrt(ref), rtol=1e-12, atol=0)
    # coincident points give exact zeros
    assert np.all(np.diag(dist(x1[:10], x1[:10])) == 0.0)


def test_sqeuclidean_near_pairs_keep_their_digits():
    rng = np.random.default_rng(2)
    X = rng.random((40, 2))
    Y = X + 1e-7 * rng.standard_normal((40, 2))  # pairs far closer than the spread
    np.testing.assert_allclose(np.diag(dist(X, Y)), np.diag(cdist(X, Y, "sqeuclidean")),
                               rtol=1e-9)


def test_dist_overflow_raises_naming_the_points():
    rng = np.random.default_rng(3)
    x1, x2 = 1e200 * rng.random((5, 2)), -1e200 * rng.random((4, 2))
    for metric in ("sqeuclidean", "euclidean", "minkowski"):
        with pytest.raises(ValueError, match=r"overflows.*x1 and x2"):
            dist(x1, x2, metric)
    # a large offset shared by both clouds is not an overflow
    M = dist(1e200 + np.zeros((3, 1)), 1e200 + np.zeros((2, 1)))
    assert np.all(M == 0.0)


# ---------------------------------------------------------------- complex input
@pytest.mark.parametrize("name", ["a", "b", "M", "reg"])
@pytest.mark.parametrize("func", [solve, sinkhorn, sinkhorn2])
def test_complex_input_is_rejected_naming_the_argument(func, name):
    a, b, M = _problem(4, 5)
    args = {"a": a, "b": b, "M": M, "reg": 0.1}
    args[name] = args[name] + 0j if name != "reg" else 0.1 + 0j
    with pytest.raises(TypeError, match=rf"^{name} must be real"):
        func(args["a"], args["b"], args["M"], args["reg"])


@pytest.mark.parametrize("which", [0, 1])
def test_dist_rejects_complex_points(which):
    pts = [np.zeros((3, 2)), np.ones((2, 2))]
    pts[which] = pts[which] + 1j
    with pytest.raises(TypeError, match=rf"^x{which + 1} must be real"):
        dist(*pts)


# ---------------------------------------------------------------- mass scale
@pytest.mark.parametrize("func", ["solve", "sinkhorn"])
@pytest.mark.parametrize("mass", [1e-8, 1e6])
def test_tolerance_is_relative_to_the_total_mass(func, mass):
    a, b, M = _problem(30, 40, seed=4)
    if func == "solve":
        unit = solve(a, b, M, 0.05, tol=1e-9).plan
        res = solve(mass * a, mass * b, M, 0.05, tol=1e-9)
        assert res.success and res.marginal_error <= 1e-9 * mass
        P = res.plan
    else:
        unit = sinkhorn(a, b, M, 0.05, method="sinkhorn")
        P = sinkhorn(mass * a, mass * b, M, 0.05, method="sinkhorn")
    # the scaled plan is the unit plan times the mass, to the accuracy of the unit solve
    assert np.abs(P / mass - unit).sum() < 1e-8


# ---------------------------------------------------------------- reg, warmstart, options
@pytest.mark.parametrize("func", [solve, sinkhorn, sinkhorn2])
def test_string_reg_is_rejected(func):
    a, b, M = _problem(4, 5)
    with pytest.raises(TypeError, match="^reg must be a real number"):
        func(a, b, M, "0.05")


@pytest.mark.parametrize("kind", [list, tuple, np.asarray])
def test_list_and_tuple_warmstarts_are_accepted(kind):
    a, b, M = _problem(20, 15, seed=5)
    P, log = sinkhorn(a, b, M, 0.05, stopThr=1e-11, log=True)
    ws = (kind(list(log["log_u"])), kind(list(log["log_v"])))
    P2, log2 = sinkhorn(a, b, M, 0.05, stopThr=1e-10, log=True, warmstart=ws)
    assert log2["niter"] <= 1
    np.testing.assert_allclose(P2, P, atol=1e-10)
    with pytest.raises(TypeError, match="warmstart must be a pair"):
        sinkhorn(a, b, M, 0.05, warmstart=[np.zeros(20)])
    with pytest.raises(ValueError, match=r"warmstart\[0\] must have shape"):
        sinkhorn(a, b, M, 0.05, warmstart=([0.0] * 3, [0.0] * 15))


@pytest.mark.parametrize("option, value, exc", [
    ("sinkhorn_max", -5, ValueError),
    ("sinkhorn_min", 2.5, TypeError),
    ("drop0", np.nan, ValueError),
    ("drop0", 2.0, ValueError),
    ("switch_ratio", "x", TypeError),
    ("switch_ratio", -1.0, ValueError),
    ("switch_tol", np.inf, ValueError),
    ("scaling_factor", 1.0, ValueError),
    ("reg_scaling", "yes", TypeError),
    ("max_density", 0.0, ValueError),
    ("armijo", 1.0, ValueError),
    ("backtrack", 0.0, ValueError),
    ("max_backtracks", 0, ValueError),
    ("cg_maxiter", True, TypeError),
    ("shift", -1e-3, ValueError),
])
def test_option_values_are_validated(option, value, exc):
    a, b, M = _problem(4, 5)
    with pytest.raises(exc, match=f"^{option} must"):
        solve(a, b, M, 0.1, **{option: value})
    with pytest.raises(exc, match=f"^{option} must"):
        sinkhorn(a, b, M, 0.1, **{option: value})


def test_valid_options_are_used():
    a, b, M = _problem(30, 30, seed=6)
    res = solve(a, b, M, 0.01, sinkhorn_max=3, switch_ratio=0.5, drop0=0.05)
    assert res.success and res.n_sinkhorn >= 3 and res.n_newton >= 1


# ---------------------------------------------------------------- POT's names in messages
@pytest.mark.parametrize("func", [sinkhorn, sinkhorn2])
def test_errors_name_pot_arguments(func):
    a, b, M = _problem(4, 5)
    with pytest.raises(ValueError, match="^stopThr must be >= 0") as err:
        func(a, b, M, 0.1, stopThr=-1.0)  # 0 is allowed, as in POT
    assert "tol" not in str(err.value)
    with pytest.raises(ValueError, match="^numItermax must be >= 1") as err:
        func(a, b, M, 0.1, numItermax=0)
    assert "max_iter" not in str(err.value)
    with pytest.raises(TypeError, match="^numItermax must be an integer"):
        func(a, b, M, 0.1, numItermax=10.5)
    with pytest.raises(TypeError, match="^log must be True or False"):
        func(a, b, M, 0.1, log="yes")


def test_non_convergence_message_names_pot_arguments():
    a, b, M = _problem(30, 30, seed=7)
    with pytest.warns(UserWarning) as rec:
        sinkhorn(a, b, M, 1e-3, method="sinkhorn", numItermax=3, warn=True)
    msg = str(rec[0].message)
    assert "numItermax" in msg and "stopThr" in msg
    assert "max_iter" not in msg and "tol =" not in msg
    res = solve(a, b, M, 1e-3, method="sinkhorn", max_iter=3, warn=False)
    assert not res.success and "max_iter" in res.message and "tol =" in res.message


@pytest.mark.parametrize("name", ["a", "b"])
def test_scalar_marginals_name_the_argument(name):
    _, _, M = _problem(4, 5)
    args = {"a": [], "b": []}
    args[name] = np.array(1.0)
    for func in (solve, sinkhorn):
        with pytest.raises(ValueError, match=rf"^{name} must have 1 (or 2 )?dimension"):
            func(args["a"], args["b"], M, 0.1)
    with pytest.raises(ValueError, match=rf"^{name} must have 1 (or 2 )?dimension"):
        solve(**{**args, name: 2.0}, M=M, reg=0.1)


def test_results_have_no_nan_when_successful():
    a, b, M = _problem(25, 35, seed=8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = solve(a, b, 1e3 * M, 1e-3)
    assert res.success
    assert np.isfinite(res.plan).all() and np.isfinite(res.cost)
    assert all(np.isfinite(p).all() for p in res.potentials)


# ---------------------------------------------------------------- first use
_SMALL_SOLVE = """
import numpy as np, soptim.ot as ot
from soptim.ot import _kernels as K
K.COMPILE_MIN_SIZE = K.LOAD_MIN_SIZE = 0  # as if the problem were big
M = np.random.default_rng(0).random((30, 40))
ot.sinkhorn2([], [], M, 0.05)
used = sorted(n for n in dir(K) if getattr(getattr(K, n), "signatures", None))
print(",".join(used))
"""


def _run_fresh(code, cache_dir):
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache_dir)}
    env.pop("SOPTIM_DISABLE_NUMBA", None)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=300, check=True)


def test_first_use_compiles_only_serial_kernels_and_says_so_once(tmp_path):
    first = _run_fresh(_SMALL_SOLVE, tmp_path)
    notices = [ln for ln in first.stderr.splitlines() if "compiling numba kernels" in ln]
    assert notices == ["soptim: compiling numba kernels for soptim.ot (first use on this "
                       "machine; cached for later runs)"]
    used = set(first.stdout.strip().split(","))
    # a small problem runs the serial kernels only: no parallel variant is compiled
    # (at this reg the BLAS kernel-domain sweeps converge: only the plan pass is used)
    assert "_nb_plan" in used
    assert not {n for n in used if n.endswith("_par") or "onepass" in n or "dense" in n}
    # one signature per kernel (float64 contiguous inputs)
    again = _run_fresh(_SMALL_SOLVE.replace(
        'print(",".join(used))',
        'print(max(len(getattr(K, n).signatures) for n in used))'), tmp_path)
    assert "compiling" not in again.stderr  # cached: no notice the second time
    assert again.stdout.strip() == "1"


def test_public_names_of_the_package():
    assert "dist" in sot.__all__ and callable(sot.dist)


_DEFAULT_FIRST_USE = """
import numpy as np, soptim.ot as ot
from soptim.ot import _kernels as K
M = np.random.default_rng(0).random((300, 400))
w = ot.sinkhorn2([], [], M, 0.05)
print(w, sum(bool(getattr(getattr(K, n), "signatures", None)) for n in dir(K)))
"""


def test_first_small_solve_compiles_nothing(tmp_path):
    # 300 x 400 with an empty numba cache: the NumPy twins run, nothing is compiled
    out = _run_fresh(_DEFAULT_FIRST_USE, tmp_path)
    assert "compiling" not in out.stderr
    w, n_compiled = out.stdout.split()
    assert n_compiled == "0"
    M = np.random.default_rng(0).random((300, 400))
    assert float(w) == pytest.approx(sot.sinkhorn2([], [], M, 0.05), rel=1e-9)
