"""Single-replicate false-alarm rates of every claim's Monte Carlo checks at the corners its Spec declares
(``Spec.false_alarm``), and the check families' power (``--power``, ``--power-exact``).

A Monte Carlo check is refuted only when each of R = closed_form.REPLICATES independent replicates exceeds its
single-replicate critical value (two-sided 3.89, one-sided 3.72, the relaxation's Bonferroni value), so its
false-alarm probability is p^R with p the single-replicate exceedance rate under a correct claim. This script
measures p with the checks' own code: at each corner it builds the checks (the Spec's ``monte_carlo``, or the
corner's own ``checks``) inside ``closed_form.one_replicate()``, so each check's error is its single-replicate
statistic, for --reps seeds (from 10⁹, away from test seeds), and prints per check the exceedances x,
p̂ = x/reps, the exact (Clopper–Pearson) one-sided 95 % upper bound p95 and p95^R. Nothing is recorded.

    python scripts/false_alarm.py [--claims M1,OLS] [--corners 0,2] [--reps 1000] [--json]
    python scripts/false_alarm.py --power 20 [--claims ...] [--json]          # per Spec.power_settings
    python scripts/false_alarm.py --power-exact 40 [--claims ...] [--json]    # over drawn settings

Exit 0 when every p95 ≤ closed_form.P_REPLICATE_MAX (what the replicate rule assumes), 1 when one is not (a
tail heavier than assumed, or too few seeds to show it), 2 on bad input.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

from iclgd.properties import closed_form as cf
from iclgd.properties import spec as S
from iclgd.properties.checks import recording, refutations
from iclgd.properties.stats import FAMILY_ALPHA, MAX_CHECKS, _betainc, per_check_alpha

SEED0 = 10**9


def cp_upper(x: int, R: int, level: float = 0.95) -> float:
    """Exact (Clopper–Pearson) one-sided upper bound on a binomial p after x successes in R trials."""
    if x >= R:
        return 1.0
    lo, hi = x / R, 1.0
    for _ in range(100):  # P(X ≤ x | p) = 1 − I_p(x + 1, R − x), decreasing in p
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if 1 - _betainc(x + 1, R - x, mid) > 1 - level else (lo, mid)
    return hi


def measure(spec: S.Spec, corner: S.FalseAlarmCorner, reps: int, progress) -> list[dict]:
    """One row per hold check built at the corner: its single-replicate statistics over ``reps`` seeds."""
    run = corner.checks or spec.monte_carlo
    stats: dict[str, list[float]] = {}
    crit: dict[str, float] = {}
    t0 = time.perf_counter()
    for r in range(reps):
        with cf.one_replicate(), recording():
            checks = run(corner.setting, SEED0 + r)
        for c in checks:
            if c.expect == "hold" and not c.inconclusive:
                stats.setdefault(c.quantity, []).append(float(c.error))
                crit[c.quantity] = float(c.tolerance)
        progress(r + 1, reps, time.perf_counter() - t0)
    rows = []
    for quantity, zs in stats.items():
        v = np.array(zs)
        x = int((v > crit[quantity]).sum())
        up = cp_upper(x, len(v))
        rows.append(dict(claim=spec.claim, package=spec.package, corner=corner.label or "monte_carlo",
                         setting=corner.setting.to_json(), check=quantity, reps=len(v), critical=crit[quantity],
                         exceed=x, rate=x / len(v), rate_upper95=up, check_bound=up ** cf.REPLICATES,
                         quantiles={q: float(np.quantile(v, q)) for q in (0.5, 0.9, 0.99)}, max=float(v.max()),
                         seconds=round(time.perf_counter() - t0, 1)))
    return rows


# ---- power: the smallest relative perturbation ε of a closed form (ICLGD_PERTURB=ID:ε) refuted ----
EPS = (1e-12, 1e-10, 1e-8, 1e-6, 1e-4, 1e-3, 3e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5)
EXACT_EPS = (1e-13, 1e-12, 1e-11, 1e-10, 1e-9, 1e-8, 1e-7, 1e-6, 1e-4, 1e-2)  # --power-exact's finer grid


def _exact_refutes(spec: S.Spec, s, eps: float) -> bool:
    """Whether the exact family refutes the claim's closed form scaled by 1 + ε at ``s``."""
    os.environ["ICLGD_PERTURB"] = f"{spec.claim}:{eps}"
    try:
        with recording():
            return bool(refutations(spec.exact(s)))
    finally:
        del os.environ["ICLGD_PERTURB"]


def power(specs: list, fits: int, progress) -> list[dict]:
    """Per ``Spec.power_settings``: the smallest ε of EPS that the exact family refutes (deterministic); for a
    claim that predicts Γ* and L* under a sampler law (the closed-form claims), the ε at which the relaxation and
    the loss families refute with probability ≥ 0.9 under the replicate rule (single-replicate detection rate
    p₁(ε) over ``fits`` null fits, shifted exactly: Γ̂ and the Monte Carlo loss do not depend on the claimed
    values; power ≈ p₁^REPLICATES)."""
    from iclgd.empirics import relaxation
    from iclgd.empirics.sampling import generator, sample_prompts

    out = []
    settings = [(sp, s) for sp in specs for s in sp.power_settings]
    for i, (sp, s) in enumerate(settings):
        row = dict(claim=sp.claim, setting=s.to_json())
        row["exact"] = next((e for e in EPS if sp.exact and _exact_refutes(sp, s, e)), None)
        pred = cf.get_claim(sp.claim).predict(s, exact=False)
        if pred.gamma is None or pred.loss is None:
            out.append(row)
            continue
        zc = cf.relaxation_z_crit(s.d)
        hits = {e: [0, 0] for e in EPS}  # ε -> [relaxation detections, loss detections]
        for f in range(fits):
            fit, _, _ = cf.relaxation_fit(sp.claim, s, 2 * 10**9 + f, gamma=pred.gamma)
            G, SE = fit.gamma.cpu().numpy(), fit.gamma_se.cpu().numpy()
            p = sample_prompts(100_000, s.n, s.d, generator=generator(3 * 10**9 + f), **cf.sampler_args(sp.claim, s))
            for e in EPS:
                hits[e][0] += float(np.abs((G - (1 + e) * pred.gamma) / SE).max()) > zc
                mean, se = relaxation.mc_loss(p, torch.as_tensor((1 + e) * pred.gamma))
                hits[e][1] += max(0.0, abs(mean - (1 + e) * pred.loss) - pred.error) / se > cf.LOSS_Z
            progress(f + 1, fits, i, len(settings))
        for k, name in enumerate(("relaxation", "loss")):
            ok = [e for e in EPS if (hits[e][k] / fits) ** cf.REPLICATES >= 0.9]
            row[name] = ok[0] if ok else None
        out.append(row)
    return out


def power_exact(specs: list, examples: int) -> list[dict]:
    """The smallest ε of EXACT_EPS for which the exact family refutes on at least one of ``examples`` settings drawn
    by the claim's strategy (as the mutation driver does, derandomized, no shrinking)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    rows = []
    for sp in specs:
        if not sp.exact:
            continue
        drawn = []

        @settings(max_examples=examples, database=None, derandomize=True, deadline=None,
                  suppress_health_check=list(HealthCheck))
        @given(st.data())
        def draw(data):
            drawn.append(data.draw(sp.settings()))

        draw()
        smallest = next((e for e in EXACT_EPS if any(_exact_refutes(sp, s, e) for s in drawn)), None)
        rows.append({"claim": sp.claim, "family": "exact", "smallest_eps_refuted": smallest, "examples": len(drawn)})
    return rows


def _row(r: dict) -> str:
    st = r["setting"]
    where = f"d={st['d']} n={st['n']} σ²={st['sigma2']:g} {st['target'] if st['target'] != 'linear' else ''}" + (
        f" {dict(st['extra'])}" if st["extra"] else "")
    return (f"{r['claim']:<18} {where:<44} {r['check'][:52]:<52} {r['exceed']:>3}/{r['reps']:<5} crit {r['critical']:5.2f} "
            f"p̂ {r['rate']:8.2e} p95 {r['rate_upper95']:8.2e} p95^{cf.REPLICATES} {r['check_bound']:7.1e} "
            f"max {r['max']:6.2f}")


def _indices(text: str, what: str) -> list[int] | None:
    if not text:
        return None
    try:
        return [int(i) for i in text.split(",") if i]
    except ValueError:
        raise SystemExit(f"false_alarm: error: {what}: expected comma-separated indices, got {text!r}") from None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--claims", default="", help="comma-separated claim ids (default: every Spec with corners)")
    ap.add_argument("--corners", default="", help="indices into each claim's corners (default: all)")
    ap.add_argument("--reps", type=int, default=1000, help="seeds per corner (default 1000)")
    ap.add_argument("--json", action="store_true", help="print the measurements as JSON")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: a shared machine)")
    ap.add_argument("--power", type=int, default=0, metavar="FITS",
                    help="instead: the smallest ε each family refutes at each Spec's power_settings, FITS null fits each")
    ap.add_argument("--power-exact", type=int, default=0, metavar="EXAMPLES",
                    help="instead: the smallest ε the exact family refutes over EXAMPLES drawn settings")
    a = ap.parse_args(argv)
    for name, v in (("--reps", a.reps), ("--threads", a.threads)):
        if v < 1:
            ap.error(f"{name}: must be >= 1")
    specs = S.load()
    wanted = [c for c in a.claims.split(",") if c] or list(specs)
    unknown = [c for c in wanted if c not in specs]
    if unknown:
        ap.error(f"--claims: no Spec for {', '.join(unknown)} (iclgd claims lists them)")
    chosen = [specs[c] for c in wanted]
    torch.set_num_threads(a.threads)
    tty = sys.stderr.isatty() and not a.json
    if a.power_exact:
        rows = power_exact(chosen, a.power_exact)
        print(json.dumps(rows, indent=1) if a.json else "\n".join(
            f"{r['claim']}: exact family refutes ε ≥ {r['smallest_eps_refuted']} ({r['examples']} settings)" for r in rows))
        return 0
    if a.power:
        def progress(f, F, i, n):
            if tty:
                print(f"\rpower: setting {i + 1}/{n}, fit {f}/{F}", end="", file=sys.stderr, flush=True)

        rows = power(chosen, a.power, progress)
        if tty:
            print(file=sys.stderr)
        if a.json:
            print(json.dumps(dict(power=rows, eps_grid=EPS, replicates=cf.REPLICATES), indent=1))
        else:
            print(f"{'claim':6} {'d':>2} {'n':>2} {'σ²':>4} {'target':12} {'exact':>8} {'relaxation':>10} {'loss':>8}")
            for r in rows:
                st = r["setting"]
                print(f"{r['claim']:6} {st['d']:>2} {st['n']:>2} {st['sigma2']:>4} {st['target'][:12]:12} " + " ".join(
                    f"{'—' if k not in r else '>0.5' if r[k] is None else f'{r[k]:g}':>{w}}"
                    for k, w in (("exact", 8), ("relaxation", 10), ("loss", 8))))
        return 0
    pick = _indices(a.corners, "--corners")
    corners = [(sp, c) for sp in chosen for i, c in enumerate(sp.false_alarm) if pick is None or i in pick]
    if not corners:
        ap.error("--claims/--corners: no false-alarm corner selected (a claim without Monte Carlo checks has none)")
    rows = []
    for i, (sp, c) in enumerate(corners):
        label = f"[{i + 1}/{len(corners)}] {sp.claim} d={c.setting.d} n={c.setting.n} σ²={c.setting.sigma2}"

        def progress(r, R, t, label=label):
            if tty and (r % 10 == 0 or r == R):
                print(f"\r{label}: {r}/{R} seeds, {t:.0f} s", end="" if r < R else "\n", file=sys.stderr, flush=True)

        new = measure(sp, c, a.reps, progress)
        rows += new
        if not a.json:
            for r in new:
                print(_row(r), flush=True)
    worst = max(r["rate_upper95"] for r in rows)
    summary = dict(replicates_per_check=cf.REPLICATES, p_replicate_max=cf.P_REPLICATE_MAX, worst_rate_upper95=worst,
                   worst_check_bound=worst ** cf.REPLICATES, per_check_alpha=per_check_alpha("monte-carlo"),
                   max_checks=MAX_CHECKS["monte-carlo"], run_bound=worst ** cf.REPLICATES * MAX_CHECKS["monte-carlo"],
                   family_alpha=FAMILY_ALPHA["monte-carlo"], within_budget=bool(worst <= cf.P_REPLICATE_MAX))
    print(json.dumps(dict(rows=rows, summary=summary) if a.json else summary, indent=1))
    return 0 if summary["within_budget"] else 1


if __name__ == "__main__":
    sys.exit(main())
