"""Single-replicate false-alarm rates of the Monte Carlo checks of the linear-regression paper Specs
(properties/papers: ZFB, ZFB-length, Wu-length, GD-average, OLS, vO-uniform, M2m) at their heaviest-tailed
corners (smallest d, n, M; σ² = 0 or the largest noise; the largest prior mean), measured with the Specs' own
code: ``Spec.monte_carlo`` with the replicate rule set to one replicate, so each check's statistic is its
single-replicate |z|; the rate is the fraction of seeds where it exceeds 3.89, with a Clopper–Pearson 95 %
upper bound. The replicate rule (closed_form.REPLICATES independent replicates, all must exceed) then gives a
false-alarm probability ≤ P_rep^R per check.

    .venv/bin/python scripts/false_alarm_linear_papers.py --reps 1000 [--json]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time

from iclgd.properties import closed_form as cf
from iclgd.properties import spec as S
from iclgd.theory import Setting

CORNERS = [
    ("ZFB", Setting(1, 1, 0.0, cov=[[1.0]])),
    ("ZFB-length", Setting(1, 1, 0.0, cov=[[1.0]], test_n=1)),
    ("Wu-length", Setting(1, 1, 0.0, cov=[[1.0]], prior_scale=4.0, test_n=1)),
    ("Wu-length", Setting(1, 1, 2.0, cov=[[1.0]], prior_scale=0.25, test_n=1)),
    ("GD-average", Setting(1, 1, 0.0)),
    ("OLS", Setting(1, 5, 2.0)),  # n = d + 4, the smallest n the Monte Carlo strategy draws with noise
    ("OLS", Setting(2, 1, 0.0)),
    ("vO-uniform", Setting(1, 1, 0.0, x_dist="uniform:3.0")),
    ("M2m", Setting(1, 1, 0.0, mean=[2.0])),
    ("M2m", Setting(1, 1, 2.0, mean=[2.0])),
]


def cp_upper(x: int, n: int, level: float = 0.95) -> float:
    """Clopper–Pearson one-sided upper bound by bisection on the binomial tail."""
    if x >= n:
        return 1.0
    lo, hi = x / n, 1.0
    for _ in range(60):
        p = (lo + hi) / 2
        tail = sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(x + 1))
        lo, hi = (p, hi) if tail > 1 - level else (lo, p)
    return hi


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--only", help="comma-separated corner indices")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    S.load()
    cf.REPLICATES = 1  # monte_carlo_mean_check reads it: one replicate, statistic = its |z|
    only = None if a.only is None else {int(i) for i in a.only.split(",")}
    rows = []
    for i, (claim, s) in enumerate(CORNERS):
        if only is not None and i not in only:
            continue
        t0 = time.time()
        counts: dict[str, int] = {}
        for seed in range(a.reps):
            for c in S.SPECS[claim].monte_carlo(s, 1_000_003 * seed + 17):
                counts[c.quantity] = counts.get(c.quantity, 0) + (c.error > cf.LOSS_Z)
        for q, x in counts.items():
            rows.append({"corner": i, "claim": claim, "setting": s.to_json(), "check": q, "exceed": x, "reps": a.reps,
                         "rate": x / a.reps, "upper95": cp_upper(x, a.reps), "seconds": round(time.time() - t0, 1)})
            if not a.json:
                print(f"[{i}] {claim:11s} {q[:60]:60s} {x:4d}/{a.reps}  rate {x / a.reps:.2e}  95% upper "
                      f"{cp_upper(x, a.reps):.2e}", file=sys.stderr if a.json else sys.stdout, flush=True)
    if a.json:
        print(json.dumps({"rows": rows, "threshold": cf.LOSS_Z}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
