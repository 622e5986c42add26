"""soptim.bilevel (LV-HBA) against the published fixed-step LV-HBA loop on the paper's toy.

The toy (Yao et al. 2024, lower level with an equality constraint coupling x and y, not
strongly convex in y2) has the solution x* = -0.3 (all components), F* = n/20. The
reference is the published single loop with the published constants (alpha = 0.005,
beta = 0.002, eta = 0.03, gamma1 = gamma2 = 10, c_k = (k+1)^0.3), written here; it runs to a cap
(5000 iterations for n = 100, 20000 for n = 2000) and reports the iteration from which the
relative error in x stays below 1e-3 (its error oscillates), or the error at the cap.

Run ``python benchmarks/bench_bilevel.py`` for the ratios in one run.
"""

import time

import numpy as np

from soptim.bilevel import minimize
from soptim.bilevel._examples import lower_constrained_toy

TARGET = 1e-3
CAPS = {100: 5000, 2000: 20000}


def toy(n):
    p = lower_constrained_toy(n)
    return p["F"], p["f"], p["jac_F"], p["jac_f"], p["h"], p["jac_h"]


def rel_error(x):
    return float(np.linalg.norm(x + 0.3) / (0.3 * np.sqrt(x.size)))


def published_loop(n, maxiter, target=TARGET, alpha=0.005, beta=0.002, eta=0.03,
                   gamma1=10.0, gamma2=10.0, p=0.3, r=1000.0, alternating=False):
    """The published LV-HBA iteration (one step on theta/lam, (x, y) and z per iteration).

    As in the research code, the multipliers lam and z of the equality are kept in [-r, r]
    (r = 1000): the simultaneous theta/lam step is unstable for this coupling (||J_y||^2 = 2n)
    and the clip is what keeps the published loop bounded.

    ``alternating=True`` takes the lam step at the new theta (Gauss-Seidel), a stabilized
    variant that is not in the paper, reported for a fairer comparison.

    Runs ``maxiter`` iterations; returns (iterations from which the relative error in x
    stays <= target, or maxiter; the final relative error; whether the target was reached).
    Each iteration costs one gradient of F and three of f."""
    _, _, jac_F, jac_f, h, _ = toy(n)
    x, y = np.zeros(n), np.zeros(2 * n)
    theta, lam, z = np.zeros(2 * n), np.zeros(1), np.zeros(1)
    Jx, Jy = np.ones((1, n)), np.ones((1, 2 * n))
    K = np.hstack([Jx, Jy])
    KKt = float(K[0] @ K[0])

    def proj_C(w):  # {1.x + 1.y = 0}: closed form
        return w - K[0] * (float(K[0] @ w) / KKt)

    err = rel_error(x)
    last_bad = 0  # the error must stay below the target (it oscillates and can cross it)
    for k in range(maxiter):
        ck = (k + 1) ** p
        # (a) one gradient step on the proximal lower-level saddle problem (lam free for h)
        d_theta = jac_f(x, theta)[1] + Jy.T @ lam + (theta - y) / gamma1
        theta_new = theta - eta * d_theta
        d_lam = -h(x, theta_new if alternating else theta) + (lam - z) / gamma2
        theta, lam = theta_new, np.clip(lam - eta * d_lam, -r, r)
        # (b) projected step on F/c_k + f - v
        gFx, gFy = jac_F(x, y)
        gfx, gfy = jac_f(x, y)
        d_x = gFx / ck + gfx - jac_f(x, theta)[0] - Jx.T @ lam
        d_y = gFy / ck + gfy - (y - theta) / gamma1
        w = proj_C(np.concatenate([x - alpha * d_x, y - alpha * d_y]))
        x, y = w[:n], w[n:]
        # (c) ascent step on the auxiliary multiplier z (free for an equality)
        z = np.clip(z + beta * (lam - z) / gamma2, -r, r)
        err = rel_error(x)
        if not np.isfinite(err):
            return maxiter, err, False
        if err > target:
            last_bad = k + 1
    reached = err <= target
    return (last_bad + 1 if reached else maxiter), err, reached


def soptim_solve(n, **options):
    F, f, jac_F, jac_f, h, jac_h = toy(n)
    return minimize(F, f, np.zeros(n), np.zeros(2 * n), jac_F=jac_F, jac_f=jac_f, h=h,
                    jac_h=jac_h, options=options or None)


class BilevelToy:
    """Time and iterations to relative error 1e-3 (or the error reached at the cap)."""

    params = [100, 2000]
    param_names = ["n"]
    timeout = 300

    def setup(self, n):
        self.n = n

    def time_soptim(self, n):
        soptim_solve(n)

    def time_soptim_gap_tol_1e6(self, n):
        soptim_solve(n, gap_tol=1e-6)  # stops at c = 1e3: rel. error ~3e-4 (< 1e-3)

    def track_soptim_iterations(self, n):
        return soptim_solve(n).nit

    def track_soptim_rel_error(self, n):
        return rel_error(soptim_solve(n).x)

    def time_published_loop(self, n):
        published_loop(n, CAPS[n])

    def track_published_iterations(self, n):
        return published_loop(n, CAPS[n])[0]

    def track_published_rel_error(self, n):
        return published_loop(n, CAPS[n])[1]

    def time_published_loop_alternating(self, n):
        published_loop(n, CAPS[n], alternating=True)

    def track_published_alternating_rel_error(self, n):
        return published_loop(n, CAPS[n], alternating=True)[1]


def main():
    print("LV-HBA toy: soptim vs the published fixed-step loop (target rel. error 1e-3)")
    for n in (100, 2000):
        t0 = time.perf_counter()
        res = soptim_solve(n)
        t_ours = time.perf_counter() - t0
        print(f"n={n:5d} soptim: {res.nit} it ({res.inner_nit} inner, {res.njev} gradients), "
              f"{t_ours:.3f} s, rel err {rel_error(res.x):.2e}, success={res.success}")
        t0 = time.perf_counter()
        loose = soptim_solve(n, gap_tol=1e-6)
        t_loose = time.perf_counter() - t0
        print(f"        soptim gap_tol=1e-6: {loose.nit} it ({loose.njev} gradients), "
              f"{t_loose:.3f} s, rel err {rel_error(loose.x):.2e}")
        for alternating in (False, True):
            t0 = time.perf_counter()
            it_pub, err_pub, reached = published_loop(n, CAPS[n], alternating=alternating)
            t_pub = (time.perf_counter() - t0) * it_pub / CAPS[n]  # time to the target
            name = "published (alternating)" if alternating else "published"
            print(f"        {name}: {it_pub} it ({4 * it_pub} gradients)"
                  f"{'' if reached else ' (cap, target not reached)'}, {t_pub:.3f} s, "
                  f"rel err at cap {err_pub:.2e}; published/soptim: iterations "
                  f"{it_pub / res.nit:.0f}x, gradients {4 * it_pub / res.njev:.1f}x, "
                  f"time {t_pub / t_ours:.1f}x")


if __name__ == "__main__":
    main()
