"""Single-replicate false-alarm rates of the Monte Carlo checks of the architecture claims (Softmax-limit,
Ding-causal, Gatmiry-loop, Ahn-L2, Cheng-fGD-RBF, Lu-kappa; Lu-ICL has no Monte Carlo family), measured at each
claim's heaviest-tailed corners with the specs' own code.

Each Monte Carlo check is refuted only when all R replicates exceed 3.89 (``spec.monte_carlo_mean_check``);
its false-alarm probability is p^R with p the single-replicate exceedance rate, which this script measures:
the spec's ``monte_carlo`` is run with one replicate (``closed_form.REPLICATES = 1``) for ``--reps`` seeds
(from 10⁹, away from test seeds) per corner, under the correct closed form; it prints, per corner and check,
the exceedances, p̂ and its exact (Clopper–Pearson) 95 % upper bound.

    python scripts/false_alarm_architectures.py [--reps 1000] [--claims Softmax-limit,...] [--corners 3,4] [--json]

Exit 0 when every 95 % upper bound is ≤ P_REPLICATE_MAX (1e-2, what the replicate rule assumes), else 1.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

from iclgd.properties import closed_form as cf
from iclgd.properties import spec as S
from iclgd.properties.stats import _betainc
from iclgd.theory import Setting


def _corners() -> dict:
    """claim -> [Setting]: smallest d, n, σ² = 0 and the largest noise, the largest parameter the Monte
    Carlo strategy draws (heaviest tails)."""
    sm = lambda d, s2: Setting(d, 1, s2, extra=(("inverse_temperature", 0.13), ("score_scale", 0)))  # noqa: E731
    return {
        "Softmax-limit": [sm(1, 0.0), sm(3, 0.0), sm(3, 2.0)],
        "Ding-causal": [Setting(1, 1, 0.0, extra=(("normalisation", 0),)),
                        Setting(3, 2, 0.0, extra=(("normalisation", 1),)),
                        Setting(6, 2, 2.0, extra=(("normalisation", 0),)),  # heavier than the strategy draws
                        Setting(7, 11, 2.0, extra=(("normalisation", 0),)),  # the strategy's noisy corner
                        Setting(7, 11, 2.0, extra=(("normalisation", 1),))],
        "Gatmiry-loop": [Setting(2, 4, 0.0, extra=(("layers", 2),)), Setting(2, 4, 2.0, extra=(("layers", 2),)),
                         Setting(4, 4, 0.0, extra=(("layers", 2),)), Setting(2, 4, 0.0, extra=(("layers", 1),))],
        "Ahn-L2": [Setting(2, 4, 0.0), Setting(2, 4, 2.0), Setting(4, 4, 0.0)],
        "Lu-kappa": [Setting(1, 1, 0.0), Setting(1, 1, 2.0), Setting(4, 12, 0.0)],
        "Cheng-fGD-RBF": [Setting(1, 1, 0.25, extra=(("lengthscale", 1.0),)),
                          Setting(1, 8, 1.0, extra=(("lengthscale", 5.0),)),
                          Setting(3, 8, 0.25, extra=(("lengthscale", 1.0),))],
    }


def upper95(k: int, n: int) -> float:
    """Clopper–Pearson 95 % upper bound of a binomial rate from k successes in n trials (bisection)."""
    if k >= n:
        return 1.0
    lo, hi = 0.0, 1.0
    for _ in range(80):
        mid = (lo + hi) / 2
        # P(X ≤ k | p = mid) = I_{1-mid}(n − k, k + 1)
        if _betainc(n - k, k + 1, 1 - mid) > 0.025:
            lo = mid
        else:
            hi = mid
    return hi


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--claims", default="")
    ap.add_argument("--corners", default="", help="indices into each claim's corner list (default: all)")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if a.reps < 1:
        print("false_alarm_architectures: error: --reps: must be >= 1", file=sys.stderr)
        return 2
    specs = S.load()
    corners = _corners()
    wanted = [c for c in (a.claims.split(",") if a.claims else corners) if c]
    unknown = [c for c in wanted if c not in corners or c not in specs]
    if unknown:
        print(f"false_alarm_architectures: error: --claims: no corner or spec for {', '.join(unknown)}", file=sys.stderr)
        return 2
    cf.REPLICATES = 1
    rows, worst = [], 0.0
    pick = [int(i) for i in a.corners.split(",") if i] if a.corners else None
    for claim in wanted:
        for s in [c for i, c in enumerate(corners[claim]) if pick is None or i in pick]:
            t0 = time.time()
            counts: dict[str, int] = {}
            for k in range(a.reps):
                for c in specs[claim].monte_carlo(s, 10**9 + k):
                    counts[c.quantity] = counts.get(c.quantity, 0) + (c.error > c.tolerance)
                if sys.stderr.isatty() and not a.json:
                    print(f"\r{claim} {s.d=} {s.n=} {s.sigma2=}: {k + 1}/{a.reps}", end="", file=sys.stderr)
            for q, k in counts.items():
                ub = upper95(k, a.reps)
                worst = max(worst, ub)
                rows.append({"claim": claim, "setting": s.to_json(), "check": q, "exceed": k, "reps": a.reps,
                             "rate": k / a.reps, "upper95": ub, "seconds": round(time.time() - t0, 1)})
            if sys.stderr.isatty() and not a.json:
                print(file=sys.stderr)
    if a.json:
        print(json.dumps({"rows": rows, "worst_upper95": worst, "assumed": cf.P_REPLICATE_MAX}, indent=1))
    else:
        for r in rows:
            s = r["setting"]
            print(f"{r['claim']:<14} d={s['d']} n={s['n']} σ²={s['sigma2']} {dict(s['extra'])}  {r['check'][:60]:<60} "
                  f"{r['exceed']}/{r['reps']}  p̂={r['rate']:.2g}  95% ≤ {r['upper95']:.2g}")
        print(f"worst 95 % upper bound {worst:.3g} (the replicate rule assumes ≤ {cf.P_REPLICATE_MAX})")
    return 0 if worst <= cf.P_REPLICATE_MAX else 1


if __name__ == "__main__":
    sys.exit(main())
