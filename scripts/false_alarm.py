"""Measure the false-alarm rate of every Monte Carlo check family of the closed forms under a
correct claim, at the heaviest-tailed corners the strategies reach (issue 11, item 5).

Each family's check is refuted only when all ``REPLICATES`` independent replicates exceed the
single-replicate critical value (properties/closed_form.py), so its false-alarm probability is
p^REPLICATES, p = the single-replicate exceedance rate. This script measures p by simulation with
the checks' own code (``relaxation_fit``, ``loss_statistics``) at each corner, R independent
replicates each, and reports p̂, its exact (Clopper–Pearson) 95 % upper bound, and the bound on the
check's and the run's false-alarm rate that follows. Seeds start at 10⁹, away from test seeds.

    python scripts/false_alarm.py [--json] [--reps R] [--families relaxation,general,loss] [--corners 3]
    python scripts/false_alarm.py --power FITS [--json]      # the power table instead (README, "Power")

Exit 0 when every measured 95 % upper bound is ≤ P_REPLICATE_MAX (the bound the checks assume), 1 when
one is not (a tail heavier than assumed, or too few replicates to show it), 2 on bad input.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

import numpy as np
import torch

from iclgd.properties import closed_form as cf
from iclgd.properties.stats import FAMILY_ALPHA, MAX_CHECKS, _betainc, per_check_alpha, z_crit
from iclgd.theory import Setting

ROT3 = [[1.75, 0.95, -0.6], [0.95, 3.0, -1.9], [-0.6, -1.9, 1.75]]  # a rotated SPD Σ (κ ≈ 10 after scaling)


def _kappa10(S):
    """Rescale the spectrum of S to exactly [1, 10] (the strategies' largest condition number)."""
    lam, U = np.linalg.eigh(np.asarray(S, float))
    lam = 10 ** ((lam - lam[0]) / (lam[-1] - lam[0]))
    return ((U * lam) @ U.T).round(12).tolist()


SIGMA3 = _kappa10(ROT3)
SIGMA2 = [[5.5, 4.5], [4.5, 5.5]]  # eigenvalues 1 and 10, rotated 45°

# (family, claim, Setting, extra keyword arguments): the corners — smallest n, d, σ² = 0, largest κ,
# largest noise, the largest K the relaxation tests reach (d = 3), every M3 family.
CORNERS = [
    ("relaxation", "M1", Setting(1, 1, 0.0), {}),
    ("relaxation", "M1", Setting(2, 1, 0.0), {}),
    ("relaxation", "M1", Setting(3, 1, 0.0), {}),
    ("relaxation", "M1", Setting(1, 1, 2.0), {}),
    ("relaxation", "M1", Setting(3, 12, 0.0), {}),
    ("relaxation", "M2", Setting(3, 1, 0.0, cov=SIGMA3), {}),
    ("relaxation", "M2g", Setting(2, 1, 0.0, cov=SIGMA2, cov_w=[[1.0, 0.0], [0.0, 5.0]]), {}),
    ("relaxation", "M3", Setting(1, 1, 0.0, target="relu"), {}),
    ("relaxation", "M3", Setting(1, 1, 0.0, target="relu-sum:4"), {}),
    ("relaxation", "M3", Setting(1, 1, 0.0, target="tanh"), {}),
    ("general", "M3", Setting(2, 1, 0.0, target="relu-aniso:0.0,0.5"), {}),
    ("general", "M3", Setting(3, 1, 0.0, target="relu-aniso:0.0,0.0,2.0"), {}),
    ("loss", "M1", Setting(1, 1, 0.0), {}),
    ("loss", "M1", Setting(4, 1, 0.0), {}),
    ("loss", "M1", Setting(1, 12, 2.0), {}),
    ("loss", "M2", Setting(2, 1, 0.0, cov=SIGMA2), {}),
    ("loss", "M2g", Setting(2, 1, 0.0, cov=SIGMA2, cov_w=[[1.0, 0.0], [0.0, 5.0]]), {}),
    ("loss", "M3", Setting(1, 1, 0.0, target="relu"), {}),
    ("loss", "M3", Setting(4, 1, 0.0, target="relu-sum:4"), {}),
    ("loss", "M3", Setting(1, 1, 0.0, target="tanh"), {}),
]


def cp_upper(x: int, R: int, level: float = 0.95) -> float:
    """Exact (Clopper–Pearson) one-sided upper bound on a binomial p after x successes in R trials."""
    if x >= R:
        return 1.0
    lo, hi = x / R, 1.0
    for _ in range(100):  # P(X ≤ x | p) = 1 − I_p(x + 1, R − x), decreasing in p
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if 1 - _betainc(x + 1, R - x, mid) > 1 - level else (lo, mid)
    return hi


def statistics(family: str, claim: str, s: Setting, seed: int):
    """Single-replicate statistics of the corner's checks (names, values, critical values, old ones)."""
    if family in ("relaxation", "general"):
        if family == "relaxation":
            gamma, law, mrs = cf.get_claim(claim).predict(s, exact=False).gamma, "claim", 0.03
        else:  # the general optimum M⁻¹P for a non-invariant family (tests/cover/test_mahankali.py)
            gamma, law, mrs = cf.isotropy_misfit(s)[1], None, 0.1
        _, zg, zn = cf.relaxation_fit(claim, s, seed, gamma=gamma, law_of=law, max_rel_se=mrs)
        K = s.d * (s.d + 1) * (s.d + 2) // 2
        zc, old = cf.relaxation_z_crit(s.d), z_crit(K, 1e-6)
        return {"gamma max|z|": (zg, zc, old), "nuisance max|z|": (zn, zc, old)}
    (zl, zr), _ = cf.loss_statistics(claim, s, seed)
    out = {"loss |z|": (zl, cf.LOSS_Z, 6.0)}
    if s.target == "linear":  # ridge is the Bayes predictor (closed_form.loss_statistics)
        out["ridge z"] = (zr, cf.RIDGE_Z, 6.0)
    return out


def measure(corner, reps: int, progress) -> list[dict]:
    family, claim, s, _ = corner
    values: dict[str, list] = {}
    crit = {}
    t0 = time.perf_counter()
    for r in range(reps):
        for name, (v, zc, old) in statistics(family, claim, s, 10**9 + r).items():
            values.setdefault(name, []).append(v)
            crit[name] = (zc, old)
        progress(r + 1, reps, time.perf_counter() - t0)
    rows = []
    for name, v in values.items():
        v = np.array(v)
        zc, old = crit[name]
        x = int((v > zc).sum())
        up = cp_upper(x, reps)
        rows.append(dict(family=family, claim=claim, setting=s.to_json(), check=name, reps=reps,
                         critical=zc, exceed=x, rate=x / reps, rate_upper95=up,
                         check_bound=up ** cf.REPLICATES, old_critical=old, old_exceed=int((v > old).sum()),
                         quantiles={q: float(np.quantile(v, q)) for q in (0.5, 0.9, 0.99)}, max=float(v.max()),
                         seconds=round(time.perf_counter() - t0, 1)))
    return rows


# ---- power: the smallest relative perturbation ε of a closed form (Γ*, η, L* × (1 + ε)) refuted ----
EPS = (1e-12, 1e-10, 1e-8, 1e-6, 1e-4, 1e-3, 3e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5)
POWER_SETTINGS = [
    ("M1", Setting(1, 1, 0.0)), ("M1", Setting(2, 4, 0.5)), ("M1", Setting(3, 12, 0.0)),
    ("M2", Setting(3, 1, 0.0, cov=SIGMA3)), ("M2", Setting(2, 6, 0.5, cov=SIGMA2)),
    ("M2g", Setting(2, 1, 0.0, cov=SIGMA2, cov_w=[[1.0, 0.0], [0.0, 5.0]])), ("M2g", Setting(3, 8, 1.0, cov=SIGMA3, cov_w=[[2.0, 0, 0], [0, 1.0, 0], [0, 0, 0.5]])),
    ("M3", Setting(1, 1, 0.0, target="relu")), ("M3", Setting(3, 8, 0.5, target="tanh")), ("M3", Setting(2, 4, 0.0, target="relu-sum:3")),
]


def power(fits: int, progress) -> list[dict]:
    """Per setting: the smallest ε of EPS that the exact family refutes (deterministic), and the ε at
    which each Monte Carlo family refutes with probability ≥ 0.9 under the replicate rule
    (single-replicate detection rate p₁(ε) over ``fits`` null fits, shifted exactly: Γ̂ does not
    depend on the claimed Γ; power ≈ p₁^REPLICATES)."""
    import os

    from iclgd.empirics import relaxation
    from iclgd.empirics.sampling import generator, sample_prompts

    out = []
    for i, (claim, s) in enumerate(POWER_SETTINGS):
        row = dict(claim=claim, setting=s.to_json())
        exact = None
        for eps in EPS:
            os.environ["ICLGD_PERTURB"] = f"{claim}:{eps}"
            try:
                if not all(c.holds for c in cf.optimality_checks(claim, s, np.eye(s.d) * 0.1)):
                    exact = eps
                    break
            finally:
                del os.environ["ICLGD_PERTURB"]
        row["exact"] = exact
        pred = cf.get_claim(claim).predict(s, exact=False)
        zc = cf.relaxation_z_crit(s.d)
        hits = {e: [0, 0] for e in EPS}  # ε -> [relaxation detections, loss detections]
        for f in range(fits):
            fit, _, _ = cf.relaxation_fit(claim, s, 2 * 10**9 + f, gamma=pred.gamma)
            G, SE = fit.gamma.cpu().numpy(), fit.gamma_se.cpu().numpy()
            p = sample_prompts(100_000, s.n, s.d, generator=generator(3 * 10**9 + f), **cf.sampler_args(claim, s))
            for e in EPS:
                hits[e][0] += float(np.abs((G - (1 + e) * pred.gamma) / SE).max()) > zc
                mean, se = relaxation.mc_loss(p, torch.as_tensor((1 + e) * pred.gamma))
                hits[e][1] += max(0.0, abs(mean - (1 + e) * pred.loss) - pred.error) / se > cf.LOSS_Z
            progress(f + 1, fits, i)
        for k, name in enumerate(("relaxation", "loss")):
            ok = [e for e in EPS if (hits[e][k] / fits) ** cf.REPLICATES >= 0.9]
            row[name] = ok[0] if ok else None
        out.append(row)
    return out


def _row(r: dict) -> str:
    st = r["setting"]
    return (f"{r['family']:10} {r['claim']:4} {st['d']:>2} {st['n']:>2} {st['sigma2']:>4} {st['target'][:22]:22} "
            f"{r['check']:16} {r['reps']:>5} {r['critical']:5.2f} {r['exceed']:>3} {r['rate']:8.2e} "
            f"{r['rate_upper95']:8.2e} {r['check_bound']:8.1e} {r['old_critical']:8.2f} {r['old_exceed']:>5} {r['max']:6.2f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print the measurements as JSON")
    ap.add_argument("--reps", type=int, default=600, help="independent replicates per corner (default 600)")
    ap.add_argument("--families", default="relaxation,general,loss", help="comma-separated subset")
    ap.add_argument("--corners", type=int, default=None, help="only the first N corners of each family")
    ap.add_argument("--only", default="", help="only these corners (comma-separated indices into CORNERS)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: a shared machine)")
    ap.add_argument("--power", type=int, default=0, metavar="FITS",
                    help="instead: the power table (smallest refuted perturbation per family), FITS null fits per setting")
    a = ap.parse_args(argv)
    if a.reps < 1:
        print("--reps: must be >= 1", file=sys.stderr)
        return 2
    torch.set_num_threads(a.threads)
    tty = sys.stderr.isatty()
    if a.power:
        def progress(f, F, i):
            if tty:
                print(f"\rpower: setting {i + 1}/{len(POWER_SETTINGS)}, fit {f}/{F}", end="", file=sys.stderr, flush=True)

        rows = power(a.power, progress)
        if tty:
            print(file=sys.stderr)
        if a.json:
            print(json.dumps(dict(power=rows, eps_grid=EPS, replicates=cf.REPLICATES), indent=1))
        else:
            print(f"{'claim':4} {'d':>2} {'n':>2} {'σ²':>4} {'target':12} {'exact':>8} {'relaxation':>10} {'loss':>8}")
            for r in rows:
                st = r["setting"]
                print(f"{r['claim']:4} {st['d']:>2} {st['n']:>2} {st['sigma2']:>4} {st['target'][:12]:12} "
                      + " ".join(f"{'>0.5' if r[k] is None else f'{r[k]:g}':>{w}}" for k, w in
                                 (("exact", 8), ("relaxation", 10), ("loss", 8))))
        return 0
    fams = a.families.split(",")
    corners = [c for c in CORNERS if c[0] in fams]
    if a.corners is not None:
        corners = [c for f in fams for c in [c for c in corners if c[0] == f][: a.corners]]
    if a.only:
        corners = [CORNERS[int(i)] for i in a.only.split(",")]
    header = (f"{'family':10} {'claim':4} {'d':>2} {'n':>2} {'σ²':>4} {'target':22} {'check':16} {'R':>5} "
              f"{'crit':>5} {'x':>3} {'p̂':>8} {'p95':>8} {'p95^k':>8} {'old crit':>8} {'old x':>5} {'max':>6}")
    if not a.json:
        print(header, flush=True)
    rows = []
    for i, c in enumerate(corners):
        label = f"[{i + 1}/{len(corners)}] {c[0]} {c[1]} d={c[2].d} n={c[2].n} σ²={c[2].sigma2} {c[2].target}"

        def progress(r, R, t, label=label):
            if tty and (r % 10 == 0 or r == R):
                print(f"\r{label}: {r}/{R} replicates, {t:.0f} s", end="" if r < R else "\n", file=sys.stderr, flush=True)

        new = measure(c, a.reps, progress)
        rows += new
        if not a.json:
            for r in new:
                print(_row(r), flush=True)
    worst = max(r["check_bound"] for r in rows)
    summary = dict(replicates_per_check=cf.REPLICATES, p_replicate_max=cf.P_REPLICATE_MAX,
                   worst_rate_upper95=max(r["rate_upper95"] for r in rows), worst_check_bound=worst,
                   per_check_alpha=per_check_alpha("monte-carlo"), max_checks=MAX_CHECKS["monte-carlo"],
                   run_bound=worst * MAX_CHECKS["monte-carlo"], family_alpha=FAMILY_ALPHA["monte-carlo"],
                   within_budget=bool(max(r["rate_upper95"] for r in rows) <= cf.P_REPLICATE_MAX))
    if a.json:
        print(json.dumps(dict(rows=rows, summary=summary), indent=1))
    else:
        print(json.dumps(summary, indent=1))
    return 0 if summary["within_budget"] else 1


if __name__ == "__main__":
    sys.exit(main())
