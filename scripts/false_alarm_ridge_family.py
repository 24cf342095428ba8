"""Measure the single-replicate false-alarm rate of the ridge-family Monte Carlo checks (Bayes-ridge,
Nakkiran-monotone, BHX-minnorm, Hastie-ridgeless, Wu-near-Bayes) at their heaviest-tailed corners.

Each check is ``spec.monte_carlo_mean_check``: refuted only if all REPLICATES independent replicates exceed 3.89, so
its false-alarm probability is p^REPLICATES with p the single-replicate exceedance rate. This script runs each
check's own code (the Spec's ``monte_carlo`` with ``monte_carlo_mean_check`` intercepted to capture the predicted
value and the replicate function) for R seeds (from 10⁹, away from test seeds), takes replicate 0's statistic
(|mean − predicted| − 1e-10·max(1, |predicted|))⁺/SE, and reports the exceedances x, p̂ = x/R, the exact
(Clopper–Pearson) 95 % upper bound p95 and p95^REPLICATES.

    python scripts/false_alarm_ridge_family.py [--reps R] [--json] [--only 0,3]

Exit 0 when every p95 ≤ P_REPLICATE_MAX (the bound the replicate rule assumes), 1 otherwise, 2 on bad input.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from false_alarm import cp_upper  # noqa: E402  (the same exact binomial bound as scripts/false_alarm.py)

from iclgd.properties import closed_form as cf  # noqa: E402
from iclgd.properties import spec as S  # noqa: E402
from iclgd.theory import Setting  # noqa: E402

# (claim, setting): the smallest n, d, σ² → 0 or the largest σ², the largest prior scale, |p − n| at the Monte
# Carlo strategies' smallest gap (4), where the squared error's tails are heaviest
CORNERS = [
    ("Bayes-ridge", Setting(1, 1, 0.001)),
    ("Bayes-ridge", Setting(3, 1, 0.0, prior_scale=2.0)),
    ("Bayes-ridge", Setting(3, 3, 0.05, prior_scale=2.0)),
    ("Nakkiran-monotone", Setting(3, 1, 0.0, extra=(("r2", 2.0),))),
    ("Nakkiran-monotone", Setting(1, 1, 2.0, extra=(("r2", 0.5),))),
    ("BHX-minnorm", Setting(6, 1, 2.0, extra=(("p", 5),))),
    ("BHX-minnorm", Setting(6, 5, 2.0, extra=(("p", 1),))),
    ("Hastie-ridgeless", Setting(8, 2, 2.0, extra=(("gamma", 4.0), ("r2", 2.0)))),
    ("Hastie-ridgeless", Setting(2, 8, 2.0, extra=(("gamma", 0.25), ("r2", 0.5)))),
    ("Wu-near-Bayes", Setting(1, 1, 0.01)),
    ("Wu-near-Bayes", Setting(3, 5, 0.01, prior_scale=2.0)),
]
SEED0 = 10**9


def captured(claim: str, s: Setting, seed: int) -> list[tuple[str, float, object]]:
    """(quantity, predicted, replicate) of every Monte Carlo check the claim's Spec builds at (s, seed)."""
    sp = S.load()[claim]
    module = sys.modules[sp.monte_carlo.__module__]
    out = []

    def capture(claim_, quantity, predicted, replicate, setting, **kw):
        out.append((quantity, predicted, replicate))

    original = module.monte_carlo_mean_check
    module.monte_carlo_mean_check = capture
    try:
        sp.monte_carlo(s, seed)
    finally:
        module.monte_carlo_mean_check = original
    return out


def measure(claim: str, s: Setting, reps: int, progress) -> list[dict]:
    stats: dict[str, list[float]] = {}
    t0 = time.time()
    for r in range(reps):
        for quantity, predicted, replicate in captured(claim, s, SEED0 + r):
            mean, se = replicate(0)
            z = max(0.0, abs(mean - predicted) - 1e-10 * max(1.0, abs(predicted))) / max(se, 1e-300)
            stats.setdefault(quantity, []).append(z)
        progress(r + 1, reps, time.time() - t0)
    rows = []
    for quantity, zs in stats.items():
        x = sum(z > cf.LOSS_Z for z in zs)
        p95 = cp_upper(x, len(zs))
        rows.append(dict(claim=claim, setting=s.to_json(), check=quantity, R=len(zs), crit=cf.LOSS_Z, x=x,
                         p_hat=x / len(zs), p95=p95, p95_pow=p95 ** cf.REPLICATES, max_z=max(zs),
                         seconds=time.time() - t0))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=1000, help="seeds per corner (default 1000)")
    ap.add_argument("--only", default="", help="only these corners (comma-separated indices into CORNERS)")
    ap.add_argument("--json", action="store_true", help="print the measurements as JSON")
    a = ap.parse_args(argv)
    if a.reps < 1:
        print("--reps: must be >= 1", file=sys.stderr)
        return 2
    try:
        corners = [CORNERS[int(i)] for i in a.only.split(",")] if a.only else CORNERS
    except (ValueError, IndexError):
        print(f"--only: expected indices in 0..{len(CORNERS) - 1}, got {a.only!r}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    tty = sys.stderr.isatty()
    rows = []
    for i, (claim, s) in enumerate(corners):
        label = f"[{i + 1}/{len(corners)}] {claim} d={s.d} n={s.n} σ²={s.sigma2} {dict(s.extra) or ''}"

        def progress(r, R, t, label=label):
            if tty and (r % 10 == 0 or r == R):
                print(f"\r{label}: {r}/{R} seeds, {t:.0f} s", end="" if r < R else "\n", file=sys.stderr, flush=True)

        new = measure(claim, s, a.reps, progress)
        rows += new
        if not a.json:
            for r in new:
                st = r["setting"]
                print(f"{r['claim']:18} d={st['d']} n={st['n']} σ²={st['sigma2']:<6g} {str(st['extra'] or st['prior_scale'] or ''):28} "
                      f"{r['check'][:40]:40} R={r['R']} x={r['x']} p̂={r['p_hat']:.2e} p95={r['p95']:.2e} "
                      f"p95^{cf.REPLICATES}={r['p95_pow']:.1e} max z={r['max_z']:.2f} ({r['seconds']:.0f} s)", flush=True)
    if a.json:
        print(json.dumps(dict(rows=rows, replicates=cf.REPLICATES, p_replicate_max=cf.P_REPLICATE_MAX), indent=1))
    return 0 if all(r["p95"] <= cf.P_REPLICATE_MAX for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
