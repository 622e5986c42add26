"""Sketch-and-project solvers for consistent linear systems ``K z = r``.

One step of sketch-and-project (Gower & Richtárik 2015) with a random sketch
``S`` projects the iterate onto the solutions of the sketched system
``S^T K z = S^T r``::

    z <- z - K^T S (S^T K K^T S)^+ S^T (K z - r).

The sketches are randomized Kaczmarz (``S = e_i``), a Gaussian vector or
block, row blocks (``S = [e_i, i in I]``, a small dense or sparse solve per
block), and CountSketch blocks. The residual ``K z - r`` is kept up to date
incrementally after every step (and recomputed only to confirm convergence),
``K`` may be dense, sparse or a ``LinearOperator`` and is never densified
when sparse; the row-action sweeps run in numba kernels
(:mod:`soptim.linalg._kernels`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.sparse as sps
from scipy.optimize import OptimizeResult

from .._common import STATUS_MAXITER, STATUS_NONFINITE, STATUS_SUCCESS, warn_not_converged
from .._validation import (
    as_float_array,
    as_generator,
    check_choice,
    check_count,
    check_positive,
    reject_complex,
)
from ..backend import NUMPY, get_backend, is_linear_operator
from . import _kernels

__all__ = ["sketch_solve", "SketchProjector", "SKETCHES", "default_block_size"]

#: The sketch families.
SKETCHES = ("block", "kaczmarz", "gaussian", "countsketch")

#: Up to this many rows, the default 'block' sketch is one block: the whole system.
FULL_BLOCK_LIMIT = 500
#: Default block size of the 'block' sketch on larger systems.
LARGE_BLOCK_SIZE = 256
#: A dense row block is projected with its SVD when b^2 N is at most this.
SVD_FLOPS = 50_000_000
#: Sparse row blocks up to this many rows use a dense Gram matrix; larger ones a sparse LU.
DENSE_GRAM_ROWS = 128
#: Kaczmarz on a LinearOperator keeps extracted rows up to this many floats (128 MiB).
OPERATOR_ROW_CACHE = 2**24


def default_block_size(sketch: str, M: int) -> int:
    """The default sketch dimension for ``sketch`` on a system with ``M`` rows.

    'block': ``M`` (one block, an exact min-norm solve) when ``M <= 500``,
    otherwise 256 rows; 'gaussian': 1 (a Gaussian vector); 'countsketch':
    ``max(ceil(sqrt(M)), min(M, 8))``; 'kaczmarz': 1.
    """
    if sketch == "block":
        return M if M <= FULL_BLOCK_LIMIT else LARGE_BLOCK_SIZE
    if sketch == "countsketch":
        return max(min(M, 8), math.isqrt(M - 1) + 1 if M > 1 else 1)
    return 1


def _is_operator(K: Any) -> bool:
    # scipy's LinearOperator and the GPU's (not a subclass of scipy's)
    return is_linear_operator(K)


def _is_sparse(K: Any) -> bool:
    # the backend's test knows both scipy's and the GPU's sparse classes (without importing CuPy)
    return NUMPY.issparse(K)


class SketchProjector:
    """Sketch-and-project steps on a fixed matrix ``K``, reusable across right-hand sides.

    Holds what does not change between solves with the same ``K``: its CSR
    forms for the kernels, row norms, and the factorizations of the blocks of
    a fixed row paving. :func:`sketch_solve` is the public front; the
    augmented-Lagrangian method uses this class directly so that a sketch can
    be continued from the current iterate after a failed descent test.

    Parameters
    ----------
    K : ndarray, sparse matrix or LinearOperator, shape (M, N)
    sketch : {'block', 'kaczmarz', 'gaussian', 'countsketch'}
    block_size : int, optional
        Sketch dimension (rows per block, Gaussian or CountSketch columns).
    blocks : sequence of int arrays, optional
        A fixed row paving for ``sketch='block'``; each step projects onto
        one block, the blocks taken in a random order each sweep, and the
        factorization of each block is computed once.
    rng : None, int or Generator
    row_sampling : {'norm', 'uniform'}
        Kaczmarz row probabilities: proportional to squared row norms, or uniform.
    accel : int
        Window of the minimal-residual extrapolation of the sweeps (0: none).
    """

    def __init__(self, K: Any, *, sketch: str = "block", block_size: int | None = None,
                 blocks: Any = None, rng: Any = None, row_sampling: str = "norm",
                 accel: int = 0):
        reject_complex("K", K)  # before any kernel sees it: the imaginary part would be dropped
        self.K = K
        self.accel = int(accel)
        self.M, self.N = K.shape
        self.sketch = sketch
        self.rng = as_generator(rng)
        self.row_sampling = row_sampling
        self.operator = _is_operator(K)
        self.sparse = _is_sparse(K)
        # an operator's backend is its class's (scipy's: NumPy; the GPU's: CuPy)
        self.be = get_backend(K)
        self.xp = self.be.xp
        # the row-action kernels (numba, or their NumPy twins) work on scipy CSR matrices in
        # host memory: an optional fast path wherever the matrix lives on the host
        self.host_csr = not self.operator and self.be.on_host
        self.block_size = (default_block_size(sketch, self.M) if block_size is None
                           else int(block_size))
        self._cache: dict[int, Any] = {}
        self.singular_blocks: set[int] = set()
        if blocks is not None:
            self.blocks = [np.asarray(b, dtype=np.int64) for b in blocks]
        elif sketch == "block" and self.block_size >= self.M:
            self.blocks = [np.arange(self.M)]
        else:
            self.blocks = None
        if self.host_csr and sketch in ("kaczmarz", "gaussian"):
            Kc = sps.csr_matrix(K, dtype=np.float64) if not self.sparse else K.tocsr()
            Kc = Kc.astype(np.float64, copy=False)
            Kc.sum_duplicates()
            Kc.sort_indices()
            self._csr = Kc
            self._csr_t = Kc.T.tocsr()
            self._csr_t.sum_duplicates()
            self._csr_t.sort_indices()
            self._rownorm2 = np.asarray(Kc.multiply(Kc).sum(axis=1)).ravel()
        if sketch == "kaczmarz":
            rn2 = (self._rownorm2 if self.host_csr else
                   self.be.to_numpy(self._row_norms2_generic()))
            total = float(rn2.sum())
            if not np.isfinite(total):
                # sketch_solve rescales dense and sparse K first; a LinearOperator cannot be
                raise ValueError("the squared row norms of K overflow float64 (entries near "
                                 "1e154 or larger): scale K and r down by the same factor")
            self._probs = (rn2 / total if (row_sampling == "norm" and total > 0)
                           else np.full(self.M, 1.0 / self.M))
            self._rownorm2_host = rn2
            if self.sparse and not self.host_csr:
                # the row steps read row i as (indices, data)[indptr[i]:indptr[i+1]] on the
                # device; duplicate column entries would make the in-place update drop terms
                Kc = K if getattr(K, "has_canonical_format", False) else K.copy()
                if Kc is not K:
                    Kc.sum_duplicates()
                self._row_csr = Kc
                self._indptr_host = self.be.to_numpy(Kc.indptr)
        self._drng = None
        self._op_rows: dict = {}

    # -- products with K ---------------------------------------------------
    def matvec(self, z):
        return self.K @ z

    def _row_norms2_generic(self):
        xp = self.xp
        if self.operator:
            # rows of K as columns of K^T E for blocks of unit vectors (on K's backend)
            out = xp.empty(self.M)
            step = 256
            for s in range(0, self.M, step):
                idx = np.arange(s, min(s + step, self.M))
                R = xp.asarray(self.K.rmatmat(self._unit_columns(idx)))
                out[s:s + idx.size] = (R * R).sum(axis=0)
            return out
        if self.sparse:
            return xp.asarray(self.K.multiply(self.K).sum(axis=1)).ravel()
        return (self.K * self.K).sum(axis=1)

    def _rows(self, I):
        """Rows ``K[I]`` (sparse when K is sparse, dense otherwise)."""
        if self.operator:
            return self.xp.asarray(self.K.rmatmat(self._unit_columns(I))).T
        return self.K[self.be.to_device(I)]

    def _unit_columns(self, I):
        """The columns ``e_i, i in I`` of the M x M identity, on K's backend."""
        E = self.xp.zeros((self.M, len(I)))
        E[self.be.to_device(np.asarray(I)), self.xp.arange(len(I))] = 1.0
        return E

    def _sketched(self):
        """A random ``S``: returns (S^T K, function v -> S^T v) for gaussian/countsketch."""
        b, M = self.block_size, self.M
        if self.sketch == "gaussian":
            # drawn where K lives (cuRAND on the GPU, no host copy per sketch); on the host
            # this is self.rng itself, so NumPy draws are those of the seed
            if self._drng is None:
                self._drng = self.be.random_generator(self.rng)
            Sx = self._drng.standard_normal((M, b))
            if self.operator:
                A = self.xp.asarray(self.K.rmatmat(Sx)).T
            elif self.sparse:
                A = (self.K.T @ Sx).T
            else:
                A = (Sx.T @ self.K)
            return A, (lambda v: Sx.T @ v)
        # CountSketch: row i goes to bucket h(i) with sign s(i)
        h = self.rng.integers(0, b, size=M)
        s = self.rng.choice(np.array([-1.0, 1.0]), size=M)
        P = sps.csr_matrix((s, (h, np.arange(M))), shape=(b, M))
        P = self.be.to_device(P)
        if self.operator:
            A = self.xp.asarray(self.K.rmatmat(P.T.toarray())).T
        else:
            # one sparse product, on the backend of K (dense K gives a dense A)
            A = P @ self.K
            if self.be.issparse(A):
                A = A.tocsr()
        return A, (lambda v: P @ v)

    # -- the min-norm solve of one sketched system ---------------------------
    def _minnorm(self, A, key: int | None = None):
        """Return ``v -> A^+ v`` (the min-norm solution of ``A dz = v``), cached under ``key``."""
        if key is not None and key in self._cache:
            return self._cache[key]
        xp, be = self.xp, self.be
        b = A.shape[0]
        eps = np.finfo(np.float64).eps
        if not _is_sparse(A) and b == 1:
            # one dense row a (a Gaussian vector sketch): A^+ v = a v / ||a||^2, kept as
            # (a / ||a||) (v / ||a||) so that tiny or huge ||a|| neither under- nor overflows
            a = xp.asarray(A).reshape(-1)
            amax = be.item(xp.abs(a).max()) if a.size else 0.0
            k = 1 if amax > 0.0 else 0
            if k:  # ||a|| = amax ||a / amax||, without squaring tiny or huge entries
                nrm = amax * be.norm(a / amax)
                u, inv = a / nrm, 1.0 / nrm
            else:
                u, inv = xp.zeros_like(a), 0.0

            def solve(v):
                return u * (v[0] * inv)
        elif not _is_sparse(A) and b * b * A.shape[1] <= SVD_FLOPS:
            # small dense block: SVD of the block itself (no squaring of its condition)
            U, s, Vt = xp.linalg.svd(xp.asarray(A), full_matrices=False)
            keep = s > (float(s[0]) if s.size else 0.0) * eps * max(A.shape)
            k = int(keep.sum())
            Uc, sc, Vc = U[:, :k], s[:k], Vt[:k]

            def solve(v):
                return Vc.T @ ((Uc.T @ v) / sc)
        elif not _is_sparse(A) or b <= DENSE_GRAM_ROWS:
            # moderate block: the b x b Gram matrix A A^T, by Cholesky when it is safely
            # positive definite, else by a pseudo-inverse (eigh)
            gram = A @ A.T
            gram = gram.toarray() if _is_sparse(gram) else xp.asarray(gram)
            gram = 0.5 * (gram + gram.T)
            AT = A.T.tocsr() if _is_sparse(A) else A.T
            L = _safe_cholesky(be, gram, eps * b * 10)
            k = b
            if L is not None:
                def solve(v):
                    return AT @ be.cho_solve(L, v)
            else:
                w, V = xp.linalg.eigh(gram)
                wmax = float(xp.abs(w).max()) if w.size else 0.0
                keep = w > wmax * eps * b * 10
                k = int(keep.sum())
                Vk, wk = V[:, keep], w[keep]

                def solve(v):
                    return AT @ (Vk @ ((Vk.T @ v) / wk))
        else:
            # large sparse block: sparse LU of the Gram matrix
            gram = (A @ A.T).tocsc()
            spl = self.be.scipy.sparse.linalg
            k = b
            try:
                lu = _spd_splu(be, spl, gram)
            except RuntimeError:  # exactly singular block: a tiny Tikhonov shift
                k = b - 1
                scale = float(abs(gram).max()) if gram.nnz else 1.0
                eye = self.be.scipy.sparse.identity(b, format="csc")
                lu = _spd_splu(be, spl, (gram + 1e-12 * scale * eye).tocsc())
            AT = A.T.tocsr()

            def solve(v):
                return AT @ lu.solve(v)
        if key is not None and k < b:
            self.singular_blocks.add(key)
        if key is not None:
            self._cache[key] = solve
        return solve

    # -- the sweep ------------------------------------------------------------
    def run(self, z, res, r, target: float, maxiter: int) -> tuple[Any, Any, int, bool]:
        """Sketch from ``z`` (with ``res = K z - r``) until ``||res|| <= target``.

        Returns ``(z, res, steps, converged)``; ``z`` and ``res`` are updated
        in place when they are host arrays.

        With ``accel = q > 0`` each random sweep (a sequence of sketches) is
        drawn once and applied ``q + 1`` times, so that within such a cycle the
        sweeps are one fixed affine map; the iterates of the cycle are then
        combined by minimal-residual (Anderson / reduced-rank) extrapolation,
        and the next cycle draws a new sweep.
        """
        norm = self.be.norm
        nit = 0
        checked = False
        hist: list = []
        plan, uses = None, 0
        while True:
            rn = norm(res)
            if rn <= target:
                if checked:
                    return z, res, nit, True
                # confirm on the exact residual (the incremental one drifts)
                res = self.matvec(z) - r
                checked = True
                continue
            checked = False
            if nit >= maxiter or not np.isfinite(rn):
                return z, res, nit, False
            if plan is None or uses > self.accel:
                plan, uses = self._draw_sweep(maxiter - nit), 0
                hist = [(z.copy(), res.copy())] if self.accel else []
            uses += 1
            nit += self._sweep(plan, z, res, r, target)
            if self.accel:
                hist.append((z.copy(), res.copy()))
                z, res = self._extrapolate(hist)

    def _extrapolate(self, hist: list):
        """Minimal-residual (Anderson, reduced-rank) extrapolation of a cycle's iterates.

        The residual is affine in z, so the combination ``z = sum_i c_i z_i``
        (``sum_i c_i = 1``) of the stored iterates has residual
        ``sum_i c_i res_i``: choose ``c`` to minimize its norm (a small least-
        squares problem). For a fixed sweep map this is GMRES-like on its
        Krylov space, and recovers the components along near-null directions of
        K that single-row sketches reduce only at rate
        ``1 - sigma_min^2 / ||K||_F^2``. Kept only when it lowers the residual.
        """
        xp, norm = self.xp, self.be.norm
        z_last, r_last = hist[-1]
        R = xp.stack([h[1] - r_last for h in hist[:-1]], axis=1)
        Z = xp.stack([h[0] - z_last for h in hist[:-1]], axis=1)
        # residual differences at the rounding level of the residuals carry no information
        # (only noise, in any direction of z): drop them instead of amplifying them
        floor = 1e3 * np.finfo(np.float64).eps * max(norm(h[1]) for h in hist)
        # min ||r_last + R gamma|| through the small k x k Gram matrix of R, by einsum
        # (no BLAS on the host: tiny BLAS calls stall when threads are oversubscribed)
        G = xp.einsum("ij,ik->jk", R, R)
        rhs = -xp.einsum("ij,i->j", R, r_last)
        w, V = xp.linalg.eigh(0.5 * (G + G.T))
        keep = w > floor * floor
        if not bool(keep.any()):
            return z_last, r_last
        Vk = V[:, keep]
        gamma = Vk @ ((Vk.T @ rhs) / w[keep])
        r_new = r_last + xp.einsum("ij,j->i", R, gamma)
        if not norm(r_new) < norm(r_last):
            return z_last, r_last
        z_new = z_last + xp.einsum("ij,j->i", Z, gamma)
        hist[-1] = (z_new.copy(), r_new.copy())
        return z_new, r_new

    def _draw_sweep(self, budget: int) -> tuple:
        """Draw the random sketches of one sweep."""
        M = self.M
        if self.sketch == "kaczmarz" and self.host_csr:
            nb = min(budget, max(M, 1024))
            if self.row_sampling == "norm":
                rows = self.rng.choice(M, size=nb, p=self._probs)
            else:
                rows = self.rng.integers(0, M, size=nb)
            return ("rows", rows.astype(np.int64))
        if self.sketch == "gaussian" and self.block_size == 1 and self.host_csr:
            nb = max(1, min(budget, max(M, 1024), 4_000_000 // M))
            return ("gauss", self.rng.standard_normal((nb, M)))
        if self.sketch == "block":
            if self.blocks is not None:
                order = self.rng.permutation(len(self.blocks))
                return ("blocks", [(int(k), self.blocks[k]) for k in order])
            perm = self.rng.permutation(M)
            return ("blocks", [(None, perm[s:s + self.block_size])
                               for s in range(0, M, self.block_size)])
        if self.sketch == "kaczmarz":  # generic path (GPU arrays or LinearOperator)
            nb = min(budget, max(M, 1024))
            rows = (self.rng.choice(M, size=nb, p=self._probs) if self.row_sampling == "norm"
                    else self.rng.integers(0, M, size=nb))
            rows = rows.astype(np.int64)
            distinct = np.unique(rows)
            if self.operator:
                return ("rowsteps", (rows, self._operator_rows(distinct)))
            # views of K's storage (no copies)
            return ("rowsteps", (rows, {int(i): self._kaczmarz_row(int(i)) for i in distinct}))
        count = max(1, min(budget, max(-(-M // self.block_size), 16)))
        return ("sketches", [[*self._sketched(), None] for _ in range(count)])

    def _operator_rows(self, distinct) -> dict:
        """Rows of a ``LinearOperator`` for the row steps, extracted 256 at a time.

        One ``rmatmat`` per block of rows instead of one product per row; the rows
        are kept across sweeps (they do not change) while they fit in
        ``OPERATOR_ROW_CACHE`` floats, and extracted per sweep beyond that.
        """
        cache = self._op_rows
        missing = [int(i) for i in distinct if int(i) not in cache]
        keep = (len(cache) + len(missing)) * self.N <= OPERATOR_ROW_CACHE
        out = cache if keep else {int(i): cache[int(i)] for i in distinct if int(i) in cache}
        for s in range(0, len(missing), 256):
            I = missing[s:s + 256]
            R = self._rows(np.asarray(I))
            for k, i in enumerate(I):
                out[i] = (R[k], None, float(self._rownorm2_host[i]))
        return out

    def _kaczmarz_row(self, i: int) -> tuple:
        """Row ``i`` of ``K`` for the row steps: ``(values, columns or None, ||k_i||^2)``.

        Dense ``K``: a view of the row (columns None); sparse ``K``: views of its
        CSR data and indices (operators: :meth:`_operator_rows`).
        """
        rn2 = float(self._rownorm2_host[i])
        if self.sparse:
            Kc, p = self._row_csr, self._indptr_host
            s, e = int(p[i]), int(p[i + 1])
            return Kc.data[s:e], Kc.indices[s:e], rn2
        return self.K[i], None, rn2

    def _row_steps(self, rows, cache: dict, z, r) -> None:
        """Kaczmarz steps ``z <- z - k_i (k_i . z - r_i) / ||k_i||^2`` in place, row by row.

        Each step reads and writes only row ``i``'s support: the row residual is
        computed from ``z`` (no incremental ``res -= K dz``, a full product per
        step) and the step is the closed-form projection (no SVD of the 1 x N
        row). The coefficient stays a 0-d array of the backend, so a GPU sweep
        never synchronises with the host.
        """
        for i in rows:
            vals, cols, rn2 = cache[int(i)]
            if rn2 == 0.0:
                continue
            if cols is None:
                alpha = (vals @ z - r[i]) / rn2
                z -= alpha * vals
            else:
                alpha = (vals @ z[cols] - r[i]) / rn2
                z[cols] -= alpha * vals

    def _sweep(self, plan: tuple, z, res, r, target: float) -> int:
        """Apply one sweep in place; return the number of sketch steps taken."""
        kind, data = plan
        if kind == "rowsteps":
            rows, cache = data
            self._row_steps(rows, cache, z, r)
            res[...] = self.matvec(z) - r  # one product per sweep of >= M steps
            return rows.shape[0]
        if kind == "rows":
            _kernels.kaczmarz_sweep(self._csr, self._csr_t, self._rownorm2, data, z, res,
                                    self.be)
            return data.shape[0]
        if kind == "gauss":
            _kernels.gaussian_steps(self._csr, self._csr_t, data, z, res, self.be)
            return data.shape[0]
        norm = self.be.norm
        taken = 0
        if kind == "blocks":
            for key, I in data:
                rI = res[self.be.to_device(I)]
                if norm(rI) == 0.0:
                    continue  # already on this block's solution set: a no-op projection
                solve = self._minnorm(self._rows(I), key)
                self._apply(z, res, solve(rI))
                taken += 1
                if norm(res) <= target:
                    break
            return max(taken, 1)
        for item in data:  # sketched systems (A = S^T K, v -> S^T v), solver cached
            if item[2] is None:
                item[2] = self._minnorm(item[0])
            self._apply(z, res, item[2](item[1](res)))
            taken += 1
        return taken

    def _apply(self, z, res, dz) -> None:
        """``z -= dz`` and the incremental residual update ``res -= K dz``."""
        z -= dz
        res -= self.matvec(dz)


def _spd_splu(be, spl, gram):
    """Sparse LU of a symmetric positive (semi)definite Gram matrix.

    With host SuperLU (an optional fast path, taken when the data is in host
    memory): a symmetric fill-reducing ordering of ``A + A^T`` with diagonal
    pivots (SuperLU's symmetric mode), which on the Gram matrices of KKT row
    blocks has about 4x less fill than the default COLAMD column ordering.
    Otherwise the backend's ``splu`` with its defaults.
    """
    if be.on_host:
        return spl.splu(gram, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0,
                        options={"SymmetricMode": True})
    return spl.splu(gram)


def _safe_cholesky(be, gram, rel: float):
    """Lower Cholesky factor of an SPD ``gram``, or None if it is (numerically) singular.

    ``be.cholesky`` answers "positive definite in floating point"; a factor whose
    squared diagonal ratio is below ``rel`` is refused too (the Gram matrix is then
    singular to working precision and the pseudo-inverse path is the safe one).
    """
    L = be.cholesky(gram)
    if L is None:
        return None
    d = be.xp.abs(be.xp.diag(L))
    if d.size == 0:
        return None
    dmin, dmax = float(d.min()), float(d.max())
    if dmax == 0.0 or (dmin / dmax) ** 2 <= rel:
        return None
    return L


def sketch_solve(
    K: Any,
    r: Any,
    *,
    x0: Any = None,
    sketch: str = "block",
    block_size: int | None = None,
    blocks: Any = None,
    rng: Any = None,
    rtol: float = 1e-8,
    atol: float = 0.0,
    maxiter: int | None = None,
    row_sampling: str = "norm",
    accel: int = 8,
) -> OptimizeResult:
    """Solve a consistent linear system ``K z = r`` by randomized sketch-and-project.

    Each step projects the iterate onto the solutions of a random sketch
    ``S^T K z = S^T r`` of the system:
    ``z <- z - K^T S (S^T K K^T S)^+ S^T (K z - r)``. From ``x0 = 0`` the
    iterates converge (linearly in expectation) to the min-norm solution for
    any consistent system, at a rate set by the conditioning of ``K``.

    Parameters
    ----------
    K : ndarray, sparse matrix or scipy.sparse.linalg.LinearOperator, shape (M, N)
        The matrix (dense or sparse matrices of the GPU backend run on the
        GPU). A sparse ``K`` of any format (COO, CSC, LIL, DOK, BSR, DIA, the
        sparse array classes) is converted to CSR, never densified; a
        ``LinearOperator`` needs ``rmatvec``/``rmatmat`` for the row sketches.
        Entries of any magnitude are accepted: dense and sparse ``K`` and ``r``
        far from 1 (beyond about 1e77 or below 1e-77) are rescaled by powers of
        two, exactly, so that squared row norms cannot overflow.
    r : array_like, shape (M,)
        Right-hand side.
    x0 : array_like, shape (N,), optional
        Starting point (default zeros).
    sketch : {'block', 'kaczmarz', 'gaussian', 'countsketch'}, optional
        ``'kaczmarz'``: one row ``S = e_i`` a step, rows sampled with
        probability proportional to their squared norms (``row_sampling``);
        ``'gaussian'``: ``S`` with ``block_size`` i.i.d. normal columns (a
        Gaussian vector by default); ``'block'`` (default): a block of
        ``block_size`` rows, a fresh random row partition each sweep, or the
        fixed paving ``blocks``; ``'countsketch'``: ``S`` a CountSketch with
        ``block_size`` columns (each row hashed to one column with a random
        sign).
    block_size : int, optional
        Sketch dimension. Default: for ``'block'``, the whole system (one
        exact min-norm solve, a direct method) when ``M <= 500`` and 256 rows
        otherwise; ``max(ceil(sqrt(M)), min(M, 8))`` for ``'countsketch'``; 1 for
        ``'gaussian'``.
    blocks : sequence of int arrays, optional
        A fixed row paving for ``sketch='block'`` (e.g. the two row blocks of
        a KKT matrix); each block's factorization is computed once.
    rng : None, int or numpy.random.Generator, optional
        Randomness; the same seed gives the same iterates.
    rtol, atol : float, optional
        Stop when ``||K z - r|| <= max(rtol * ||r||, atol)``.
    maxiter : int, optional
        Maximum number of sketch steps (default ``1000 * M`` for
        ``'kaczmarz'`` and Gaussian vectors, ``1000 * ceil(M / block_size)``
        otherwise).
    row_sampling : {'norm', 'uniform'}, optional
        Kaczmarz row distribution.
    accel : int, optional
        Window of the minimal-residual (Anderson) extrapolation (default 8):
        each random sweep of sketches is applied ``accel + 1`` times and the
        resulting iterates are combined to minimize the residual norm, which
        recovers the slow near-null components that single-row sketches reduce
        at rate ``1 - sigma_min^2 / ||K||_F^2``. ``0`` gives plain
        sketch-and-project with a fresh sketch every step.

    Returns
    -------
    OptimizeResult
        ``x`` (the solution), ``residual`` (``||K x - r||``),
        ``rel_residual``, ``nit`` (sketch steps), ``success``, ``status``
        (0 converged, 1 ``maxiter`` reached, 3 non-finite values), ``message``
        (on failure: why, and what to try), ``sketch`` and ``block_size``.

    Raises
    ------
    ValueError
        Shapes that do not match, NaN or inf in ``K``, ``r`` or ``x0``, an
        unknown sketch or row sampling, a block size, ``maxiter`` or tolerance
        out of range, a ``LinearOperator`` whose squared row norms overflow.
    TypeError
        ``K`` is not an array, sparse matrix or LinearOperator; complex ``K``,
        ``r`` or ``x0``; an option of the wrong type (``rtol='a'``,
        ``maxiter=1.5``, float ``blocks``).

    Warns
    -----
    OptimizeWarning
        When the solve stops without converging (``success=False``).

    References
    ----------
    .. [1] R. M. Gower, P. Richtárik. "Randomized Iterative Methods for Linear
       Systems." SIAM J. Matrix Anal. Appl. 36(4), 2015.
    .. [2] T. Strohmer, R. Vershynin. "A randomized Kaczmarz algorithm with
       exponential convergence." J. Fourier Anal. Appl. 15, 2009.
    .. [3] I. Hong, S. Na, M. W. Mahoney, M. Kolar. "Constrained Optimization via
       Exact Augmented Lagrangian and Randomized Iterative Sketching." ICML 2023.

    Examples
    --------
    >>> import numpy as np
    >>> from soptim.linalg import sketch_solve
    >>> K = np.array([[4.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 2.0]])
    >>> r = K @ np.array([1.0, -2.0, 0.5])
    >>> res = sketch_solve(K, r, sketch='kaczmarz', rng=0, rtol=1e-12)
    >>> res.success, np.round(res.x, 8)
    (True, array([ 1. , -2. ,  0.5]))
    """
    K, be = _system_matrix(K)
    xp = be.xp
    M, N = K.shape
    r = as_float_array("r", r, shape=(M,), xp=xp, dtype=np.float64)
    z = (xp.zeros(N) if x0 is None
         else as_float_array("x0", x0, shape=(N,), xp=xp, dtype=np.float64).copy())
    sketch = check_choice("sketch", sketch, SKETCHES)
    row_sampling = check_choice("row_sampling", row_sampling, ("norm", "uniform"))
    if block_size is not None:
        block_size = min(check_count("block_size", block_size), M)
    if blocks is not None:
        if sketch != "block":
            raise ValueError("blocks (a fixed row paving) is only used with sketch='block'")
        blocks = [_as_row_block(b) for b in blocks]
        allrows = np.concatenate(blocks) if blocks else np.empty(0, np.int64)
        if allrows.size == 0 or allrows.min() < 0 or allrows.max() >= M:
            raise ValueError(f"blocks must hold row indices in [0, {M})")
    rtol = check_positive("rtol", rtol, allow_zero=True)
    atol = check_positive("atol", atol, allow_zero=True)
    if maxiter is not None:
        maxiter = check_count("maxiter", maxiter)
    accel = check_count("accel", accel, minimum=0)
    rng = as_generator(rng)

    # Entries beyond ~1e154 overflow the squared row norms, Gram matrices and residual
    # norms. Sketch-and-project commutes with scaling K and r, so far-out magnitudes are
    # brought near 1 by powers of two (exact: the iterates are those of the unscaled
    # problem, without overflow) and the solution is scaled back.
    eK = 0 if _is_operator(K) else _pow2_exponent(_max_abs(K, be))
    er = _pow2_exponent(_max_abs(r, be))
    if eK:
        K = _ldexp_matrix(K, -eK, be)
    if er:
        r = xp.ldexp(r, -er)
    if eK != er:
        with np.errstate(over="ignore", under="ignore"):
            z = xp.ldexp(z, eK - er)
    atol_s = math.ldexp(atol, -er) if atol else 0.0

    proj = SketchProjector(K, sketch=sketch, block_size=block_size, blocks=blocks, rng=rng,
                           row_sampling=row_sampling, accel=accel)
    if maxiter is None:
        if sketch == "kaczmarz" or (sketch == "gaussian" and proj.block_size == 1):
            maxiter = 1000 * M
        else:
            maxiter = 1000 * (len(proj.blocks) if proj.blocks is not None
                              else -(-M // proj.block_size))
    rnorm = be.norm(r)
    target = max(rtol * rnorm, atol_s)
    res = proj.matvec(z) - r
    z, res, nit, ok = proj.run(z, res, r, target, maxiter)
    rn = be.norm(res)
    if er != eK:
        with np.errstate(over="ignore", under="ignore"):
            z = xp.ldexp(z, er - eK)
    with np.errstate(over="ignore", under="ignore"):
        residual = float(np.ldexp(rn, er))  # ||K x - r|| in the units of the input
    if not (np.isfinite(rn) and be.all_finite(z)):
        status = STATUS_NONFINITE
        msg = ("Non-finite residual or solution: the iterates overflowed float64 (K is "
               "numerically singular for this r, or the solution is beyond 1e308); check "
               "that K x = r has a solution and rescale K, r or x0.")
    elif ok:
        status, msg = STATUS_SUCCESS, "Converged: ||K x - r|| <= max(rtol ||r||, atol)."
    else:
        status = STATUS_MAXITER
        with np.errstate(over="ignore", under="ignore"):
            goal = float(np.ldexp(target, er))
        tips = ("raise maxiter or use a larger block_size" if accel
                else "set accel > 0 (extrapolated sweeps), raise maxiter or use a larger "
                     "block_size")
        msg = (f"Maximum number of sketch steps (maxiter={maxiter}) reached with "
               f"||K x - r|| = {residual:.3e} > max(rtol ||r||, atol) = {goal:.3e}: the "
               "system may be inconsistent (no exact solution: use a least-squares solver "
               f"such as scipy.sparse.linalg.lsqr) or ill-conditioned; {tips}.")
    if status != STATUS_SUCCESS:
        warn_not_converged(f"sketch_solve: {msg}", stacklevel=3)
    return OptimizeResult(x=z, residual=residual, rel_residual=rn / rnorm if rnorm > 0 else rn,
                          nit=nit, success=status == STATUS_SUCCESS, status=status,
                          message=msg, sketch=sketch, block_size=proj.block_size)


#: Magnitudes beyond 2**+-256 (about 1e77) are rescaled: their squares and sums of squares
#: stay far from float64's overflow (1e308) and underflow.
_SCALE_EXPONENT = 256


def _system_matrix(K: Any) -> tuple[Any, Any]:
    """``K`` as the solvers use it, with its backend.

    Dense input becomes a real floating array; every sparse format (COO, CSC,
    LIL, DOK, BSR, DIA and the sparse array classes) becomes CSR, which has the
    row slicing and ``.data`` the sketches need; complex input of any kind is
    refused (``TypeError`` naming ``K``) before any kernel sees it.
    """
    if _is_operator(K):
        reject_complex("K", K)
        be = get_backend(K)  # scipy's operator: NumPy; the GPU's: CuPy
    elif _is_sparse(K):
        reject_complex("K", K)
        if K.dtype.kind not in "biuf":
            raise TypeError(f"K must be a real sparse matrix, got dtype {K.dtype}")
        if len(K.shape) != 2:
            raise ValueError(f"K must be 2-D, got shape {tuple(K.shape)}")
        be = get_backend(K)
        K = K.tocsr()
        if K.dtype.kind != "f":
            K = K.astype(np.float64)
        if K.nnz and not be.all_finite(K.data):
            raise ValueError("K contains NaN or inf")
    else:
        if not hasattr(K, "shape") and not isinstance(K, (list, tuple)):
            raise TypeError("K must be an array, a sparse matrix or a LinearOperator, got "
                            f"{type(K).__name__}")
        K = as_float_array("K", K, ndim=2)
        be = get_backend(K)
    if len(K.shape) != 2:
        raise ValueError(f"K must be 2-D, got shape {tuple(K.shape)}")
    if K.shape[0] == 0 or K.shape[1] == 0:
        raise ValueError(f"K must not be empty, got shape {tuple(K.shape)}")
    return K, be


def _as_row_block(b: Any) -> np.ndarray:
    """One block of a row paving as int64 host indices (floats would be truncated silently)."""
    arr = np.asarray(NUMPY.to_numpy(b)).ravel()
    if arr.size and arr.dtype.kind not in "iu":
        raise TypeError(f"blocks must hold integer row indices, got dtype {arr.dtype}")
    return arr.astype(np.int64)


def _max_abs(a: Any, be: Any) -> float:
    """Largest magnitude of the entries of a dense or sparse ``a`` (0 when it has none)."""
    data = a.data if _is_sparse(a) else a
    if data.size == 0:
        return 0.0
    return max(be.item(data.max()), -be.item(data.min()))


def _pow2_exponent(amax: float) -> int:
    """The exponent ``e`` with ``amax / 2**e`` in [0.5, 1) when ``amax`` is far from 1, else 0."""
    if amax == 0.0 or not math.isfinite(amax):
        return 0
    e = math.frexp(amax)[1]
    return e if abs(e) > _SCALE_EXPONENT else 0


def _ldexp_matrix(K: Any, e: int, be: Any) -> Any:
    """``K * 2**e`` for a dense or CSR ``K`` (exact, a new matrix; ``2.0**e`` itself may
    not be representable, so the exponent is applied entrywise)."""
    if _is_sparse(K):
        return type(K)((be.xp.ldexp(K.data, e), K.indices, K.indptr), shape=K.shape)
    return be.xp.ldexp(K, e)
