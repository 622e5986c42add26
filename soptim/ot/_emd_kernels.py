"""Network simplex for the dense transportation problem (numba kernel).

The pivoting rules and the spanning-tree bookkeeping (parent/thread/successor
lists, block-search pricing) are those of LEMON's ``NetworkSimplex``, the code
POT's ``ot.emd`` wraps (Kovacs, "Minimum-cost flow algorithms: an experimental
evaluation", 2015). Specialized here to the complete bipartite graph: arcs are
not stored, arc ``e = i * m + j`` goes from source ``i`` to sink ``n + j`` with
cost ``M[i, j]``, capacities are infinite (every non-tree arc sits at its lower
bound), and the ``n + m`` artificial arcs of the starting tree follow the
``n * m`` real ones.

Added to LEMON's rules: a candidate-list warm-up. The block search first runs
over a short list -- the few cheapest entries of every row and column, the
likely support -- and a full pricing pass over all ``n * m`` entries is made
only when the list holds no improving entry; it appends the most negative
reduced cost of every row and column. From the second pass on, a pass that
finds improving entries in more than half of the rows and columns -- the list
misses much of the support -- hands over to LEMON's own block search over all
entries (POT's rule) from the current tree; the solve
ends when a full pass finds no improving entry, which is exactly LEMON's
optimality test.

Why the hand-over: the cheapest entries are the support only when the two
clouds overlap. For shifted clouds (squared distances between N(0, 1) and
N(1, 1) samples, 3-D, 1500 x 1200, non-uniform masses) the list-only rule
needed 151,570 pivots and 18 passes against POT's 39,129; with the hand-over
at the second pass, 42,501 in all, of which 38,262 in the block search. On
2-D/3-D/10-D Gaussian clouds (n x m = 500 x 500, 1500 x 1200, 1000 x 2000,
shifted or not, uniform or not) the block-search pivots were 0-1.03x POT's and
all pivots 0.41-1.29x; random costs and overlapping 3-D/10-D clouds never hand
over. The list keeps its own copy of the costs, so its search reads memory in
order.

When the list cannot be the support, the warm-up is skipped (added in the third
sitting): if the rows' cheapest entries reach fewer than :data:`MIN_COVERAGE` of
the columns, or the columns' fewer than that of the rows (counted on the first
list, O(list)), LEMON's block search starts from the artificial tree at once.
On shifted 3-D clouds the warm-up's ~4k list pivots, its two full pricing passes
and the list's start cost 10-13% of the solve and saved ~1% of the block-search
pivots.

Per-pivot cost (third sitting; cycle counters in an instrumented copy, shifted
3-D clouds, non-uniform masses, 1000 x 1500 and 2000^2, 34k and 57k pivots,
POT's count): before, the block search took 60-65% of the time, the potentials'
update 19-24%, the tree update 9-10%, the join and leaving arc 7-8%; the search
scanned 1.5 blocks (1.8k-3.2k entries) per pivot at 4.4 ns per entry -- a
branch per entry, and numba's wraparound of signed indices (~10 integer
instructions per access). Now (:func:`_search_dense`): row segments cut into
64-entry chunks, a branch-free minimum of ``(M + pi_i - pi_j) * state``
(LEMON's form) with unsigned indices, and only the winning chunk searched again
for its entry: 1.1-1.8 ns per entry, the same entering arcs and pivots as
LEMON's loop (tests compare it with an entry-by-entry reference). The potentials
move on the smaller side of the tree (the complement by ``-sigma`` when the
subtree holds more than half of the nodes: 312 instead of 432 nodes per pivot
on 1000 x 1500; 4-8% of the time), with the root rebased to 0 when it drifts past
``max |M|`` (0.1-0.5% of the pivots) and at the end; rounding on tree arcs' reduced
costs grows from <= 5.7e-14 to <= 3.4e-13 of ``max |M|`` (measured on 18 problems,
pivots unchanged; the certificate's tolerance is 1e-9). Kernel time on shifted
3-D 1000 x 1500 / 2000^2: 0.35 / 0.97 s before, 0.20 / 0.55-0.62 s after (load 1.3-2);
the split after: search 43-45%, potentials 25-27%, tree update 16-17%, join and
leaving arc 13-14%. Interleaved against POT (load ~2, best of 3, shifted 3-D clouds,
n = 1000-2000, n x n, n x 3n/2, n x 2n/3): POT / this kernel 1.62-2.68, against
0.90-1.52 for the kernel before these changes in the same run.
Not taken (measured): LEMON's block larger (x1.5 / 2 / 3: 3-50% slower), chunks of
32 or 128 entries and four partial minima (within noise). LLVM vectorizes none of
these minima (numba's select-based minimum is not recognized as a reduction); the
loop runs at ~2.6 cycles per entry whether ``M`` sits in L2 or not, so SIMD
minima are the next step, not a smaller cost type.

Tuning measured on non-uniform clouds (2-core VM, load 6-8, best of 2-3,
kernel only): LEMON's block of ``sqrt(n * m)`` entries stays (factor 0.5 / 1 /
2 on shifted 3-D clouds 1000 x 1500: 40.6k / 34.0k / 29.4k block-search pivots
in 1.49 / 1.29 / 2.08 s; overlapping 2-D clouds 1000^2: 0.78 / 0.74 / 0.76 s);
the warm-up's settings (5 candidates, one pass, hand-over at 50%) against 3 or
10 candidates, no warm-up and a hand-over at the first pass were within the
load's noise (0.65-1.03x POT on shifted 3-D clouds 1000 x 1500 and 1500^2,
1.2-2.2x on 2-D clouds 1500 x 2250), and on shifted clouds every variant makes
33.9k-34.4k block-search pivots (POT's rule alone: 34.4k), so the time there is
the pivot's cost (see the per-pivot notes above for what changed it).

Work outside the pivots is fused into the kernel: the first pass over ``M``
finds ``max |M|`` and rejects NaN/inf (no separate validation pass), the real
arcs' flows live in the caller's zeroed plan (no flow array, no copy), and the
full pricing pass that proves optimality also returns the minimum reduced cost
over all entries (the certificate's dual-feasibility number; a pass of its own
only when LEMON's block search, which stops at the first improving block, or
the budget ended the solve); the rest of the certificate is O(n + m) on the
tree's support (:func:`support_certificate`).

First-use compilation after the third sitting's per-pivot changes (same call,
process CPU time, interleaved with the code before them, load ~2, best of 2-3):
9.6-10.2 s against 8.6-9.4 s (single runs vary by 2-3 s at this load); the second
process still compiles nothing (0.35 s). Earlier measurements:

First-use compilation (numba, ``cache=True``; measured on the 2-core VM with an
empty ``NUMBA_CACHE_DIR``, first ``emd2`` call on 30 x 30, load ~2, before and
after interleaved, two runs of 3 rounds): 11.4-15.2 s before (best 11.4 and 13.8),
6.6-8.7 s after these rules (best 6.6 and 6.8); a second process loads every kernel
from the disk cache in 0.27-0.45 s and compiles none (``python -m benchmarks.bench_emd
compile``). Of the 6.8 s: the simplex's own body ~4 s (typing ~1.3 s, LLVM ~2 s),
the list's start and the pricing pass ~0.9 s each, the two searches and the
certificate 0.25-0.45 s each. Rules that got there: one signature per kernel (the caller passes
C-contiguous float64 arrays and int64 counts; no literal ``0`` argument, which numba
types as ``Literal[int](0)`` in its first inference round and compiled two kernels
twice); loops instead of ``np.full``, ``np.ones`` and slice assignments (``out[:k] =
x`` alone compiled for ~5 s: its shape check formats an error message); the plan
passed raveled (no ``reshape``); few kernels, since each costs a fixed ~0.3 s (the
pricing pass, its append to the list, the list's growth and the final minimum are
one kernel, the flow accessors are inlined). The certificate stays a kernel of its
own (:func:`support_certificate`), independent of the solver it checks, and the
full-matrix :func:`certificate` compiles only when a call needs it (zero masses).

Pivot budget (``max_iter``, POT's ``numItermax``): it counts the pivots of
the block-search phase, POT's pivots; the warm-up's pivots are capped by the
same number on their own (reaching it hands over, it never stops the solve),
so the default budget is at least as effective as POT's on the problems
measured (see ``tests/test_ot_emd.py`` and ``benchmarks/bench_emd.py``).
"""

from __future__ import annotations

import math

import numpy as np

from ..backend import njit

__all__ = ["network_simplex", "OPTIMAL", "INFEASIBLE", "UNBOUNDED", "MAX_ITER_REACHED",
           "NONFINITE", "BLOCK_FACTOR", "LIST_PASSES", "HANDOVER", "MIN_COVERAGE", "certificate",
           "support_certificate"]

#: Block length of the candidate-list search, times ``sqrt(list length)`` (measured:
#: 0.3 and 3 need more time on random costs at n = 1000-2000).
BLOCK_FACTOR = 1.0
#: Block length of LEMON's block search over all entries, times ``sqrt(n * m)`` (LEMON's
#: and POT's ``BLOCK_SIZE_FACTOR``).
DENSE_BLOCK_FACTOR = 1.0
#: Full pricing passes that always extend the candidate list; a later pass that finds
#: improving entries in more than ``HANDOVER * (n + m)`` rows and columns hands over to
#: LEMON's block search over all entries (see the module notes).
LIST_PASSES = 1
#: Fraction of rows and columns with an improving entry outside the list at which the
#: list is judged to miss the support (measured at the second pass: random costs 1%,
#: overlapping 3-D clouds 48%, shifted clouds 84-90%, 2-D clouds 1000 x 2000 68%).
HANDOVER = 0.5
#: Fraction of the columns (rows) that the rows' (columns') cheapest entries in the first
#: candidate list must reach for the warm-up to run; below it the list is not the support
#: and LEMON's block search starts at once. Measured (5 candidates, columns / rows): random
#: costs 0.97 / 1.00, overlapping 2-D, 3-D and 5-D clouds 0.94-0.95 / 0.99-1.00; clouds
#: N(0, 1) vs N(1, 1): 1-D 0.75-0.85 / 0.83-0.91, 2-D 0.63-0.71 / 0.71-0.75, 3-D 0.49-0.59 /
#: 0.63-0.69, 5-D 0.42 / 0.56. Skipping saved 5-14% of the time on 3-D shifted clouds
#: and was a wash on 2-D ones; on 1-D uniform ones the warm-up cut the block-search
#: pivots from 149.6k to 98.3k at 2000 x 2000 (below POT's default budget of 100k,
#: which POT meets), so 1-D keeps it.
MIN_COVERAGE = 0.75
#: POT's result codes.
INFEASIBLE, OPTIMAL, UNBOUNDED, MAX_ITER_REACHED = 0, 1, 2, 3
#: The kernel's code for a cost matrix with a NaN or infinite entry (checked in its
#: first pass over ``M``, which also finds ``max |M|``: no separate validation pass).
NONFINITE = -1


@njit(cache=True)
def network_simplex(M, a, b, max_iter, flow, pi, support, n_candidates, max_list_passes,
                    handover, min_coverage):  # pragma: no cover
    """Solve ``min <M, P>`` s.t. ``P 1 = a``, ``P^T 1 = b``, ``P >= 0``.

    ``flow`` (n * m,), zero on entry, holds the flows of the real arcs during the
    solve: it is the plan, raveled (the caller reshapes it to (n, m); no separate
    flow array, no copy at the end); ``pi``
    (n + m + 1) receives the node potentials (reduced cost of entry (i, j):
    ``M[i, j] + pi[i] - pi[n + j]``) and ``support`` (n + m) the tree's real arcs
    ``i * m + j`` (-1 for an artificial one): every nonzero of ``plan`` is one of
    them (an arc leaves the tree with its flow set to exactly 0).
    ``n_candidates > 0``: candidate-list warm-up, starting from the
    ``n_candidates`` cheapest entries of every row and column, handing over at a
    full pricing pass after the first ``max_list_passes`` that finds improving
    entries in more than ``handover * (n + m)`` rows and columns, or after
    ``max_iter`` pivots; 0: LEMON's
    block search over all entries from the start. ``max_iter`` bounds the pivots
    of the block-search phase. Returns ``(result_code, block_search_pivots,
    full_pricing_passes, warm_up_pivots, max_abs_M, min_reduced_cost)``: the last
    is the minimum of the reduced cost over *all* ``n * m`` entries at the
    returned potentials (the certificate's dual-feasibility number), taken in
    the full pass that proved optimality, or in a pass of its own when the solve
    stopped otherwise. ``result_code`` is :data:`NONFINITE` (and nothing is
    solved) when ``M`` has a NaN or an infinite entry.
    """
    n, m = M.shape
    nm = n * m
    N = n + m
    root = N
    inf = np.inf
    maxc = 0.0
    nonfinite = False
    for i in range(n):
        for j in range(m):
            c = abs(M[i, j])
            if c > maxc:
                maxc = c
            elif not c < inf:  # NaN (every comparison false) or infinite
                nonfinite = True
    if nonfinite or maxc == inf:
        return NONFINITE, 0, 0, 0, maxc, 0.0
    art = (maxc + 1.0) * N
    # potentials are shifted back to pi[root] = 0 when the root's drifts past this
    rebase = maxc
    # pricing tolerance: reduced costs above -eps count as nonnegative
    eps = 1e-13 * max(maxc, 1e-300)
    parent = np.empty(N + 1, np.int64)
    pred = np.empty(N + 1, np.int64)
    pred_dir = np.empty(N + 1, np.int64)
    thread = np.empty(N + 1, np.int64)
    rev_thread = np.empty(N + 1, np.int64)
    succ_num = np.empty(N + 1, np.int64)
    last_succ = np.empty(N + 1, np.int64)
    dirty = np.empty(N + 1, np.int64)
    aflow = np.empty(N)  # artificial arcs' flows (arc nm + u), set below
    state = np.empty(nm, np.int8)  # 1: at lower bound (eligible), 0: in the tree
    for e in range(nm):
        state[e] = 1

    parent[root] = -1
    pred[root] = -1
    thread[root] = 0
    rev_thread[0] = root
    succ_num[root] = N + 1
    last_succ[root] = root - 1
    pi[root] = 0.0
    for u in range(N):
        e = nm + u
        parent[u] = root
        pred[u] = e
        thread[u] = u + 1
        rev_thread[u + 1] = u
        succ_num[u] = 1
        last_succ[u] = u
        s = a[u] if u < n else -b[u - n]
        if s >= 0:
            pred_dir[u] = 1
            pi[u] = 0.0
            aflow[u] = s
        else:
            pred_dir[u] = -1
            pi[u] = art
            aflow[u] = -s

    block = max(int(math.ceil(DENSE_BLOCK_FACTOR * math.sqrt(nm))), 10)
    # np.int64(0), not 0: a literal 0 passed to a kernel is typed Literal[int](0) in
    # numba's first inference round and compiles that kernel a second time
    next_arc = np.int64(0)
    next_pos = np.int64(0)
    full_scans = 0
    kr = min(n_candidates, m)
    kc = min(n_candidates, n)
    cand_i, cand_j, cand_c, n_cand = _initial_candidates(M, kr, kc)
    row_best = np.empty(n, np.int64)
    col_best = np.empty(m, np.int64)
    if n_cand > 0 and min_coverage > 0:
        # the list is the likely support only if the rows' cheapest entries reach most
        # columns and the columns' most rows; else LEMON's block search from the start
        # (row_best / col_best mark what is reached; the pricing passes overwrite them)
        for i in range(n):
            row_best[i] = 0
        for j in range(m):
            col_best[j] = 0
        n_col = 0
        n_row = 0
        for t in range(n * kr):
            j = cand_j[t]
            if col_best[j] == 0:
                col_best[j] = 1
                n_col += 1
        for t in range(n * kr, n_cand):
            i = cand_i[t]
            if row_best[i] == 0:
                row_best[i] = 1
                n_row += 1
        if n_col < min_coverage * m or n_row < min_coverage * n:
            n_cand = 0
    pivots = 0
    list_pivots = 0
    code = OPTIMAL
    rmin = inf
    proven = False  # a full pass of the list phase found no improving entry
    while True:
        if n_cand > 0 and list_pivots >= max_iter:
            n_cand = 0  # the warm-up's own budget is spent: hand over, never stop here
        if n_cand > 0:
            # --- block search over the candidate list; a full pricing pass over all
            # n*m entries only when the list holds no improving entry
            in_arc = -1
            while in_arc < 0:
                in_arc, next_pos = _search_candidates(pi, state, n, m, cand_i, cand_j,
                                                      cand_c, n_cand, next_pos, eps)
                if in_arc >= 0:
                    break
                full_scans += 1
                shift = pi[root]  # the pass's minimum is taken at LEMON's potentials
                for w in range(N + 1):
                    pi[w] -= shift
                n_new, rmin, cand_i, cand_j, cand_c, n_after = _price_all(
                    M, pi, state, eps, row_best, col_best, cand_i, cand_j, cand_c, n_cand)
                if n_new == 0:
                    proven = True
                    break
                if full_scans > max_list_passes and n_new > handover * (n + m):
                    # the list misses much of the support: hand over to LEMON's block
                    # search; the pass just made found improving entries, so it finds one
                    n_cand = 0
                    in_arc, next_arc = _search_dense(M, pi, state, n, m, next_arc, block, eps)
                    break
                n_cand = n_after  # the list with the pass's entries appended
                next_pos = np.int64(0)
        else:
            in_arc, next_arc = _search_dense(M, pi, state, n, m, next_arc, block, eps)
        if in_arc < 0:
            break
        if n_cand > 0:
            list_pivots += 1
        else:
            if pivots >= max_iter:
                code = MAX_ITER_REACHED
                break
            pivots += 1
        first = in_arc // m
        second = n + (in_arc - first * m)
        # --- join node (deepest common ancestor)
        u = first
        v = second
        while u != v:
            if succ_num[u] < succ_num[v]:
                u = parent[u]
            else:
                v = parent[v]
        join = u
        # --- leaving arc: smallest flow on the arcs the cycle empties
        delta = inf
        result = 0
        u_out = -1
        u = first
        # (flows read and written in place: arc e < nm is real, flow[e], else artificial,
        # aflow[e - nm]; small helper kernels cost ~0.25 s of first-use compilation each)
        while u != join:
            d = inf
            if pred_dir[u] == 1:
                e = pred[u]
                d = flow[e] if e < nm else aflow[e - nm]
            if d < delta:
                delta = d
                u_out = u
                result = 1
            u = parent[u]
        u = second
        while u != join:
            d = inf
            if pred_dir[u] == -1:
                e = pred[u]
                d = flow[e] if e < nm else aflow[e - nm]
            if d <= delta:
                delta = d
                u_out = u
                result = 2
            u = parent[u]
        if result == 0:
            code = UNBOUNDED
            break
        if result == 1:
            u_in = first
            v_in = second
        else:
            u_in = second
            v_in = first
        # --- augment along the cycle
        if delta > 0:
            flow[in_arc] += delta
            u = first
            while u != join:
                e = pred[u]
                if e < nm:
                    flow[e] -= pred_dir[u] * delta
                else:
                    aflow[e - nm] -= pred_dir[u] * delta
                u = parent[u]
            u = second
            while u != join:
                e = pred[u]
                if e < nm:
                    flow[e] += pred_dir[u] * delta
                else:
                    aflow[e - nm] += pred_dir[u] * delta
                u = parent[u]
        state[in_arc] = 0
        e_out = pred[u_out]
        if e_out < nm:
            state[e_out] = 1
        # --- update the spanning tree
        old_rev_thread = rev_thread[u_out]
        old_succ_num = succ_num[u_out]
        old_last_succ = last_succ[u_out]
        v_out = parent[u_out]
        in_dir = 1 if u_in == first else -1
        if u_in == u_out:
            parent[u_in] = v_in
            pred[u_in] = in_arc
            pred_dir[u_in] = in_dir
            if thread[v_in] != u_out:
                after = thread[old_last_succ]
                thread[old_rev_thread] = after
                rev_thread[after] = old_rev_thread
                after = thread[v_in]
                thread[v_in] = u_out
                rev_thread[u_out] = v_in
                thread[old_last_succ] = after
                rev_thread[after] = old_last_succ
        else:
            thread_continue = thread[old_last_succ] if old_rev_thread == v_in else thread[v_in]
            stem = u_in
            par_stem = v_in
            last = last_succ[u_in]
            after = thread[last]
            thread[v_in] = u_in
            nd = 0
            dirty[nd] = v_in
            nd += 1
            while stem != u_out:
                next_stem = parent[stem]
                thread[last] = next_stem
                dirty[nd] = last
                nd += 1
                before = rev_thread[stem]
                thread[before] = after
                rev_thread[after] = before
                parent[stem] = par_stem
                par_stem = stem
                stem = next_stem
                if last_succ[stem] == last_succ[par_stem]:
                    last = rev_thread[par_stem]
                else:
                    last = last_succ[stem]
                after = thread[last]
            parent[u_out] = par_stem
            thread[last] = thread_continue
            rev_thread[thread_continue] = last
            last_succ[u_out] = last
            if old_rev_thread != v_in:
                thread[old_rev_thread] = after
                rev_thread[after] = old_rev_thread
            for k in range(nd):
                w = dirty[k]
                rev_thread[thread[w]] = w
            tmp_sc = 0
            tmp_ls = last_succ[u_out]
            w = u_out
            p = parent[w]
            while w != u_in:
                pred[w] = pred[p]
                pred_dir[w] = -pred_dir[p]
                tmp_sc += succ_num[w] - succ_num[p]
                succ_num[w] = tmp_sc
                last_succ[p] = tmp_ls
                w = p
                p = parent[w]
            pred[u_in] = in_arc
            pred_dir[u_in] = in_dir
            succ_num[u_in] = old_succ_num
        up_limit_out = join if last_succ[join] == v_in else -1
        last_succ_out = last_succ[u_out]
        w = v_in
        while w != -1 and last_succ[w] == v_in:
            last_succ[w] = last_succ_out
            w = parent[w]
        if join != old_rev_thread and v_in != old_rev_thread:
            w = v_out
            while w != up_limit_out and last_succ[w] == old_last_succ:
                last_succ[w] = old_rev_thread
                w = parent[w]
        elif last_succ_out != old_last_succ:
            w = v_out
            while w != up_limit_out and last_succ[w] == old_last_succ:
                last_succ[w] = last_succ_out
                w = parent[w]
        w = v_in
        while w != join:
            succ_num[w] += old_succ_num
            w = parent[w]
        w = v_out
        while w != join:
            succ_num[w] -= old_succ_num
            w = parent[w]
        # --- potentials of the moved subtree
        if in_dir == 1:
            sigma = pi[v_in] - pi[u_in] - M[first, second - n]
        else:
            sigma = pi[v_in] - pi[u_in] + M[first, second - n]
        end = thread[last_succ[u_in]]
        # (walks indexed by unsigned integers: no wraparound arithmetic on the chain of
        # dependent loads)
        if 2 * succ_num[u_in] <= N + 1:
            wu = np.uint64(u_in)
            endu = np.uint64(end)
            while wu != endu:
                pi[wu] += sigma
                wu = np.uint64(thread[wu])
        else:
            # the smaller side (added to LEMON): every other node, root included, moves
            # by -sigma; reduced costs are differences, so they are LEMON's up to
            # rounding (tree arcs' reduced costs: <= 3.4e-13 max|M| measured, 5.7e-14
            # with the subtree alone; the certificate's tolerance is 1e-9)
            wu = np.uint64(end)
            endu = np.uint64(u_in)
            while wu != endu:
                pi[wu] -= sigma
                wu = np.uint64(thread[wu])
            if abs(pi[root]) > rebase:
                # the root's drift would grow every potential, and its rounding
                shift = pi[root]
                for w in range(N + 1):
                    pi[w] -= shift

    # potentials with pi[root] = 0, as LEMON's
    shift = pi[root]
    for w in range(N + 1):
        pi[w] -= shift
    if not proven:
        # LEMON's search, which stops at the first improving block, ended the solve (or
        # the budget did): one pass of its own. Tracking the minimum inside that search
        # made its hot loop 10-20% slower on point clouds. The list pass is reused (its
        # appends go to an emptied list with room for them): one kernel less to compile.
        rmin = _price_all(M, pi, state, eps, row_best, col_best, cand_i, cand_j, cand_c,
                          np.int64(0))[1]
    for u in range(N):
        e = pred[u]
        support[u] = e if e < nm else -1
    if code == OPTIMAL:
        mass = 0.0
        for u in range(n):
            mass += a[u]
        for u in range(N):
            if abs(aflow[u]) > 1e-12 * mass:
                code = INFEASIBLE
    return code, pivots, full_scans, list_pivots, maxc, rmin


#: numba fastmath flags of the block search: no NaN (``M`` is checked finite, the
#: potentials stay finite) and no signed zeros let LLVM vectorize its minimum over a row
#: segment; no reassociation, so every reduced cost is computed as in the scalar code.
_SEARCH_FLAGS = {"nnan", "nsz"}
#: Entries per chunk of the block search's minimum (the winning chunk is searched again
#: for its entry, so it stays short).
_CHUNK = 64


@njit(cache=True, fastmath=_SEARCH_FLAGS)
def _search_dense(M, pi, state, n, m, next_arc, block, eps):  # pragma: no cover - compiled
    """LEMON's block search: the most negative reduced cost of the first block
    (of ``block`` entries, from ``next_arc`` on, cyclically) that has one.

    Same blocks, same entering arc and same stopping place as LEMON's loop
    (followed), organized by row segments and chunks of :data:`_CHUNK` entries
    (added): a chunk's minimum of ``(M[i, j] + pi[i] - pi[n + j]) * state`` is a
    branch-free loop (LEMON's multiplication by the arc state, 0 in the tree,
    replaces the test), and only the winning chunk is searched again for its
    entry. Measured on a 1000 x 1500 matrix: 4.4 ns per entry for the entry-by-entry
    loop, 1.2-1.9 ns for this one (memory bound); on shifted 3-D clouds the search
    was 62% of the solve's time, 55% after (see the module notes).
    """
    nm = n * m
    nu = np.uint64(n)
    best = -eps
    bi = -1
    bj0 = 0
    bj1 = 0
    i = next_arc // m
    j = next_arc - i * m
    cnt = block
    left = nm
    while left > 0:
        j1 = min(m, j + min(cnt, left))
        pii = pi[i]
        # unsigned column indices (every operand unsigned: a mixed sum is a float): a
        # signed index is wrapped around when negative, ~10 integer instructions per
        # entry that halved the loop's speed
        base = np.uint64(i * m)
        for c0 in range(j, j1, _CHUNK):
            c1 = min(c0 + _CHUNK, j1)
            lo = 0.0
            for jj in range(np.uint64(c0), np.uint64(c1)):
                c = (M[i, jj] + pii - pi[nu + jj]) * state[base + jj]
                lo = c if c < lo else lo
            if lo < best:
                best = lo
                bi = i
                bj0 = c0
                bj1 = c1
        k = j1 - j
        left -= k
        cnt -= k
        if j1 == m:
            j = 0
            i += 1
            if i == n:
                i = 0
        else:
            j = j1
        if cnt == 0:
            if bi >= 0:
                break
            cnt = block
    if bi < 0:
        return -1, i * m + j
    # the entry of the winning chunk (the first of its minimum, as LEMON's loop)
    in_arc = -1
    best = -eps
    pii = pi[bi]
    for jj in range(bj0, bj1):
        c = M[bi, jj] + pii - pi[n + jj]
        if c < best and state[bi * m + jj] != 0:
            best = c
            in_arc = bi * m + jj
    return in_arc, i * m + j


@njit(cache=True)
def _search_candidates(pi, state, n, m, cand_i, cand_j, cand_c, n_cand, next_pos,
                       eps):  # pragma: no cover - compiled
    """Block search restricted to the candidate list (blocks of ~sqrt(length)).

    The list keeps its own copy of the costs (``cand_c``) and the tree-state test
    runs only for an improving entry: reading ``M`` and ``state`` at scattered
    places missed the cache on every entry and made a pivot ~20x slower.
    """
    block = max(int(BLOCK_FACTOR * math.sqrt(n_cand)), 10)
    in_arc = -1
    best = -eps
    k = next_pos
    cnt = block
    for _ in range(n_cand):
        i = cand_i[k]
        j = cand_j[k]
        c = cand_c[k] + pi[i] - pi[n + j]
        if c < best and state[i * m + j] != 0:
            best = c
            in_arc = i * m + j
        k += 1
        if k == n_cand:
            k = 0
        cnt -= 1
        if cnt == 0:
            if in_arc >= 0:
                break
            cnt = block
    return in_arc, k


@njit(cache=True)
def _price_all(M, pi, state, eps, row_best, col_best, cand_i, cand_j, cand_c,
               n_cand):  # pragma: no cover - compiled
    """Full pricing pass: the most negative reduced cost of every row and column
    (entry index in ``row_best`` / ``col_best``, or -1 where none is below ``-eps``),
    appended to the candidate list's first ``n_cand`` entries (the list grows when
    full). Returns ``(found, minimum reduced cost over all entries, cand_i, cand_j,
    cand_c, new length)``.

    One kernel for the pass, the append and the growth (they were three): every
    kernel costs a fixed ~0.3-0.7 s of first-use compilation; loops, not
    ``np.full`` or slice assignments (``out[:k] = x`` compiled for ~5 s: its shape
    check formats an error message).
    """
    n, m = M.shape
    col_val = np.empty(m)
    for j in range(m):
        col_val[j] = -eps
        col_best[j] = -1
    found = 0
    lo = np.inf
    for i in range(n):
        pii = pi[i]
        best = -eps
        bj = -1
        for j in range(m):
            c = M[i, j] + pii - pi[n + j]
            if c < lo:
                lo = c
            if c < best and state[i * m + j] != 0:
                best = c
                bj = j
            if c < col_val[j] and state[i * m + j] != 0:
                col_val[j] = c
                col_best[j] = i
        row_best[i] = bj
        if bj >= 0:
            found += 1
    for j in range(m):
        if col_best[j] >= 0:
            found += 1
    if found == 0:
        return found, lo, cand_i, cand_j, cand_c, n_cand
    if n_cand + found > cand_i.shape[0]:
        cap = max(2 * cand_i.shape[0], n_cand + found)
        ci = np.empty(cap, np.int64)
        cj = np.empty(cap, np.int64)
        cc = np.empty(cap)
        for k in range(n_cand):
            ci[k] = cand_i[k]
            cj[k] = cand_j[k]
            cc[k] = cand_c[k]
        cand_i, cand_j, cand_c = ci, cj, cc
    for i in range(n):
        if row_best[i] >= 0:
            cand_i[n_cand] = i
            cand_j[n_cand] = row_best[i]
            cand_c[n_cand] = M[i, row_best[i]]
            n_cand += 1
    for j in range(m):
        i = col_best[j]
        if i >= 0 and row_best[i] != j:
            cand_i[n_cand] = i
            cand_j[n_cand] = j
            cand_c[n_cand] = M[i, j]
            n_cand += 1
    return found, lo, cand_i, cand_j, cand_c, n_cand


@njit(cache=True)
def _initial_candidates(M, kr, kc):  # pragma: no cover - compiled
    """The first candidate list ``(cand_i, cand_j, cand_c, length)``: the ``kr``
    cheapest entries of every row and ``kc`` cheapest of every column (insertion into
    small sorted buffers, one pass over ``M``), with room for ``length + 2 (n + m)``
    more; an empty list (room for ``n + m``) when ``kr`` or ``kc`` is 0."""
    n, m = M.shape
    if kr <= 0 or kc <= 0:
        kr = 0
        kc = 0
    length = n * kr + m * kc
    cap = 2 * length + n + m
    ci = np.empty(cap, np.int64)
    cj = np.empty(cap, np.int64)
    cc = np.empty(cap)
    if length == 0:
        return ci, cj, cc, length
    # the columns' sorted buffers, column j at [j * kc, (j + 1) * kc)
    cval = np.empty(m * kc)
    cidx = np.empty(m * kc, np.int64)
    for t in range(m * kc):
        cval[t] = np.inf
        cidx[t] = 0
    rval = np.empty(kr)
    ridx = np.empty(kr, np.int64)
    t = 0
    for i in range(n):
        for q in range(kr):
            rval[q] = np.inf
            ridx[q] = 0
        for j in range(m):
            c = M[i, j]
            if c < rval[kr - 1]:
                q = kr - 1
                while q > 0 and rval[q - 1] > c:
                    rval[q] = rval[q - 1]
                    ridx[q] = ridx[q - 1]
                    q -= 1
                rval[q] = c
                ridx[q] = j
            o = j * kc
            if c < cval[o + kc - 1]:
                q = kc - 1
                while q > 0 and cval[o + q - 1] > c:
                    cval[o + q] = cval[o + q - 1]
                    cidx[o + q] = cidx[o + q - 1]
                    q -= 1
                cval[o + q] = c
                cidx[o + q] = i
        for q in range(kr):
            ci[t] = i
            cj[t] = ridx[q]
            cc[t] = rval[q]
            t += 1
    for j in range(m):
        for q in range(kc):
            ci[t] = cidx[j * kc + q]
            cj[t] = j
            cc[t] = cval[j * kc + q]
            t += 1
    return ci, cj, cc, length


@njit(cache=True)
def certificate(M, P, u, v, a, b):  # pragma: no cover - compiled
    """One pass over ``M`` and ``P``: ``(max|M|, dual violation, gap, cost, L1 marginal
    error)`` with reduced costs ``R = M - u - v``, dual violation ``max(0, -min R)``,
    gap ``<P, R>`` and cost ``<P, M>`` (the NumPy twin is ``soptim.ot._emd._certify``)."""
    n, m = M.shape
    scale = 0.0
    rmin = 0.0
    gap = 0.0
    cost = 0.0
    marg = 0.0
    col = np.zeros(m)
    for i in range(n):
        row = 0.0
        ui = u[i]
        for j in range(m):
            c = M[i, j]
            p = P[i, j]
            r = c - ui - v[j]
            scale = max(scale, abs(c))
            rmin = min(rmin, r)
            gap += p * r
            cost += p * c
            row += p
            col[j] += p
        marg += abs(row - a[i])
    for j in range(m):
        marg += abs(col[j] - b[j])
    return scale, -rmin, gap, cost, marg


@njit(cache=True)
def support_certificate(M, P, support, u, v, a, b):  # pragma: no cover - compiled
    """``(gap, cost, L1 marginal error)`` of a plan whose nonzeros all lie on
    ``support`` (the tree arcs :func:`network_simplex` returns): O(n + m) work, the
    part of :func:`certificate` that needs ``P``; its dual-feasibility part is the
    kernel's ``min_reduced_cost``."""
    n, m = M.shape
    gap = 0.0
    cost = 0.0
    row = np.empty(n)  # np.empty and loops: np.zeros is one more compiled routine
    col = np.empty(m)
    for i in range(n):
        row[i] = 0.0
    for j in range(m):
        col[j] = 0.0
    for k in range(support.shape[0]):
        e = support[k]
        if e < 0:
            continue
        i = e // m
        j = e - i * m
        p = P[i, j]
        c = M[i, j]
        gap += p * (c - u[i] - v[j])
        cost += p * c
        row[i] += p
        col[j] += p
    marg = 0.0
    for i in range(n):
        marg += abs(row[i] - a[i])
    for j in range(m):
        marg += abs(col[j] - b[j])
    return gap, cost, marg
