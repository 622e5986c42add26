"""soptim.linalg.sketch_solve: input handling, faults, and peers (lsqr, lstsq)."""

import pathlib
import re

import numpy as np
import pytest
import scipy.sparse as sps
from scipy.optimize import OptimizeWarning
from scipy.sparse.linalg import aslinearoperator, lsqr

import soptim.linalg
from soptim._common import STATUS_MAXITER, STATUS_NONFINITE, STATUS_SUCCESS
from soptim.linalg import SKETCHES, _kernels, sketch_solve
from soptim.linalg._sketch import SketchProjector


def _system(n=8, seed=0):
    rng = np.random.default_rng(seed)
    K = rng.standard_normal((n, n)) + 4.0 * np.eye(n)  # well conditioned, nonsymmetric
    x = rng.standard_normal(n)
    return K, K @ x, x


# -- options go through the validation helpers, naming the user's argument -------------

@pytest.mark.parametrize("kwargs, exc, match", [
    ({"rtol": "a"}, TypeError, "rtol must be a real number"),
    ({"rtol": "1e-8"}, TypeError, "rtol must be a real number"),
    ({"rtol": np.nan}, ValueError, "rtol must be >= 0"),
    ({"atol": "0"}, TypeError, "atol must be a real number"),
    ({"atol": -1e-3}, ValueError, "atol must be >= 0"),
    ({"atol": 1j}, TypeError, "atol must be real"),
    ({"maxiter": 1.5}, TypeError, "maxiter must be an integer"),
    ({"maxiter": True}, TypeError, "maxiter must be an integer"),
    ({"maxiter": "100"}, TypeError, "maxiter must be an integer"),
    ({"maxiter": 0}, ValueError, "maxiter must be >= 1"),
    ({"block_size": True}, TypeError, "block_size must be an integer"),
    ({"accel": 1.0}, TypeError, "accel must be an integer"),
    ({"accel": -1}, ValueError, "accel must be >= 0"),
    ({"sketch": None}, ValueError, "sketch must be one of"),
    ({"sketch": ["block"]}, ValueError, "sketch must be one of"),
    ({"row_sampling": 0}, ValueError, "row_sampling must be one of"),
    ({"blocks": [[0.0, 1.5]]}, TypeError, "blocks must hold integer row indices"),
    ({"rng": 1.5}, TypeError, "rng must be"),
])
def test_bad_options_name_the_argument(kwargs, exc, match):
    K, r, _ = _system()
    with pytest.raises(exc, match=match):
        sketch_solve(K, r, **kwargs)


def test_numpy_integer_options_are_accepted():
    K, r, x = _system()
    res = sketch_solve(K, r, maxiter=np.int64(10_000), block_size=np.int32(3),
                       accel=np.int8(2), rtol=np.float32(1e-6), rng=0)
    assert res.success and res.status == STATUS_SUCCESS
    np.testing.assert_allclose(res.x, x, rtol=1e-4)


# -- every scipy sparse format --------------------------------------------------------

_FORMATS = ["csr", "csc", "coo", "lil", "dok", "bsr", "dia"]


@pytest.mark.parametrize("array_class", [False, True], ids=["matrix", "array"])
@pytest.mark.parametrize("fmt", _FORMATS)
@pytest.mark.parametrize("sketch", SKETCHES)
def test_every_sparse_format(sketch, fmt, array_class):
    K, r, x = _system(10)
    K[np.abs(K) < 0.8] = 0.0  # some structure; stays nonsingular (diagonal dominance)
    K += 6.0 * np.eye(10)
    r = K @ x
    S = (sps.csr_array(K) if array_class else sps.csr_matrix(K)).asformat(fmt)
    assert S.format == fmt
    res = sketch_solve(S, r, sketch=sketch, rng=0, rtol=1e-12)
    assert res.success, res.message
    np.testing.assert_allclose(res.x, np.linalg.solve(K, r), atol=1e-9)


def test_integer_sparse_and_dense_inputs_become_float():
    K = np.array([[2, 1], [1, 3]])
    r = np.array([3, 4])
    for Kin in (K, sps.coo_matrix(K), sps.csr_array(K), K.tolist()):
        res = sketch_solve(Kin, r, rng=0, rtol=1e-12)
        assert res.success
        np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-12)


def test_sparse_input_is_not_modified():
    K, r, _ = _system(6)
    S = sps.coo_matrix(K * 1e300)  # also rescaled internally
    before = S.toarray().copy()
    sketch_solve(S, r, rng=0)
    np.testing.assert_array_equal(S.toarray(), before)


# -- entries near the float64 range ---------------------------------------------------

@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("sketch", SKETCHES)
@pytest.mark.parametrize("scale_K, scale_r", [(1e300, 1e300), (1e300, 1.0), (1e-300, 1e-300),
                                              (1e200, 1e-100)])
def test_huge_and_tiny_entries(sketch, sparse, scale_K, scale_r):
    # row norms squared of 1e300 entries overflow: formerly "probabilities contain NaN"
    K, r, x = _system(6)
    Ks = sps.csr_matrix(K * scale_K) if sparse else K * scale_K
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # no overflow inside
        res = sketch_solve(Ks, r * scale_r, sketch=sketch, rng=0, rtol=1e-10)
    assert res.success and res.status == STATUS_SUCCESS, res.message
    want = x * (scale_r / scale_K)
    np.testing.assert_allclose(res.x, want, rtol=1e-7, atol=1e-7 * np.abs(want).max())
    assert np.isfinite(res.residual) and res.rel_residual <= 1e-10


def test_solution_beyond_float64_fails_clearly():
    K, r, _ = _system(4)
    with pytest.warns(OptimizeWarning, match="overflow"):
        res = sketch_solve(K * 1e-300, r * 1e300, rng=0)
    assert not res.success and res.status == STATUS_NONFINITE
    assert "rescale" in res.message


def test_operator_with_overflowing_rows_is_a_clear_error():
    K, r, _ = _system(4)
    with np.errstate(over="ignore"), pytest.raises(ValueError, match="row norms of K overflow"):
        sketch_solve(aslinearoperator(K * 1e300), r, sketch="kaczmarz", rng=0)


# -- complex input is refused before any kernel runs -------------------------------------

@pytest.fixture
def no_kernels(monkeypatch):
    def fail(*args):
        raise AssertionError("a kernel ran on complex input")

    for name in ("_kaczmarz_sweep_numba", "_kaczmarz_sweep_numpy", "_gaussian_steps_numba",
                 "_gaussian_steps_numpy"):
        monkeypatch.setattr(_kernels, name, fail)


@pytest.mark.parametrize("sketch", SKETCHES)
@pytest.mark.parametrize("kind", ["dense", "csr", "coo", "csc_array", "operator"])
def test_complex_K_rejected(no_kernels, sketch, kind):
    K, r, _ = _system(5)
    Kc = K + 1j * np.eye(5)
    Kin = {"dense": Kc, "csr": sps.csr_matrix(Kc), "coo": sps.coo_matrix(Kc),
           "csc_array": sps.csc_array(Kc), "operator": aslinearoperator(Kc)}[kind]
    with pytest.raises(TypeError, match="K must be real"):
        sketch_solve(Kin, r, sketch=sketch, rng=0)


@pytest.mark.parametrize("sketch", ["kaczmarz", "gaussian"])
def test_complex_r_and_x0_rejected(no_kernels, sketch):
    K, r, _ = _system(5)
    S = sps.csr_matrix(K)
    with pytest.raises(TypeError, match="r must be real"):
        sketch_solve(S, r + 1j, sketch=sketch)
    with pytest.raises(TypeError, match="x0 must be real"):
        sketch_solve(S, r, x0=np.zeros(5, complex), sketch=sketch)


def test_projector_rejects_complex():
    with pytest.raises(TypeError, match="K must be real"):
        SketchProjector(sps.csr_matrix(np.eye(3, dtype=complex)), sketch="kaczmarz")


# -- non-convergence -----------------------------------------------------------------------

@pytest.mark.parametrize("sketch", SKETCHES)
def test_non_convergence_warns_and_says_what_to_try(sketch):
    # inconsistent: rows 0 and 1 contradict each other
    K = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])
    r = np.array([1.0, 2.0, 0.5])
    with pytest.warns(OptimizeWarning, match="sketch_solve: Maximum number of sketch steps"):
        res = sketch_solve(K, r, sketch=sketch, rng=0, maxiter=200)
    assert not res.success and res.status == STATUS_MAXITER
    assert "maxiter=200" in res.message and "inconsistent" in res.message
    assert "lsqr" in res.message
    assert np.isfinite(res.x).all() and res.residual > 0.1


def test_success_does_not_warn():
    import warnings

    K, r, _ = _system()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = sketch_solve(K, r, rng=0)
    assert res.success and res.status == STATUS_SUCCESS and np.isfinite(res.x).all()


# -- peers: scipy.sparse.linalg.lsqr and numpy.linalg.lstsq ------------------------------------

@pytest.mark.parametrize("sketch", SKETCHES)
def test_overdetermined_consistent_matches_lstsq(sketch):
    rng = np.random.default_rng(3)
    A = rng.standard_normal((40, 7))
    r = A @ rng.standard_normal(7)
    res = sketch_solve(A, r, sketch=sketch, rng=0, rtol=1e-12)
    assert res.success, res.message
    ref = np.linalg.lstsq(A, r, rcond=None)[0]
    np.testing.assert_allclose(res.x, ref, atol=1e-9)


@pytest.mark.parametrize("sketch", SKETCHES)
def test_rank_deficient_sparse_min_norm_matches_lsqr(sketch):
    # consistent, rank 15 < 30 columns: from x0 = 0 sketch-and-project stays in the row
    # space, so it must find the min-norm solution, which lsqr (from 0) also returns
    rng = np.random.default_rng(4)
    B = sps.random(20, 15, density=0.3, random_state=4, format="csr") + sps.eye(20, 15)
    C = sps.random(15, 30, density=0.3, random_state=5, format="csr") + sps.eye(15, 30)
    K = (B @ C).tocsr()
    r = K @ rng.standard_normal(30)
    res = sketch_solve(K, r, sketch=sketch, rng=0, rtol=1e-12, maxiter=2_000_000)
    assert res.success, res.message
    ref = lsqr(K, r, atol=1e-15, btol=1e-15, iter_lim=10_000)[0]
    np.testing.assert_allclose(res.x, ref, atol=1e-7)
    np.testing.assert_allclose(res.x, np.linalg.pinv(K.toarray()) @ r, atol=1e-7)


def test_underdetermined_operator_matches_lsqr():
    rng = np.random.default_rng(6)
    A = rng.standard_normal((6, 15))
    r = A @ rng.standard_normal(15)
    res = sketch_solve(aslinearoperator(A), r, sketch="block", block_size=3, rng=0,
                       rtol=1e-12)
    assert res.success, res.message
    ref = lsqr(A, r, atol=1e-15, btol=1e-15)[0]
    np.testing.assert_allclose(res.x, ref, atol=1e-8)


# -- one module knows NumPy from CuPy --------------------------------------------------------

def test_linalg_has_no_numpy_cupy_branches():
    # the project's grep, spelled in pieces so that this file does not match it itself
    gpu, flag = "cu" + "py", "is_" + "gpu"
    pattern = re.compile(rf"{flag}|xp is (not )?np|import {gpu}|from {gpu}|{gpu}x")
    root = pathlib.Path(soptim.linalg.__file__).parent
    hits = [f"{p.name}:{i}: {line.strip()}" for p in sorted(root.glob("*.py"))
            for i, line in enumerate(p.read_text().splitlines(), 1)
            if pattern.search(line) and "require_host" not in line]
    assert not hits, hits
