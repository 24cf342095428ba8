"""Spec of Hastie-ridgeless (theory/papers/hastie.py) and the refutation of Hastie-overparam-monotone.

Exact (no code shared with ``Claim.predict``):
- excess_risk_finite at (p, n) = (d, n) against ..ridge_routes.minnorm_risk_parts (every feature used) in rationals;
- the limit and the rate from the data law in SymPy: along p = γn (γ = a/b, n = bk symbolic) the finite excess risk
  σ² m E[1/χ²_{M−m+1}] + r²(1 − n/p)⁺ with E[1/χ²_k] = 1/(k − 2) (tests/cover/test_belkin_hsu_xu.py derives it),
  then sp.limit as k → ∞ of it (the limit) and of n·(it − that limit) (the rate constant).
Monte Carlo: min-norm least squares at (d, n) with one fixed β of norm r (direction from the seed), |d − n| ≥ 4
(finite variance), against σ² + excess_risk_finite, under the replicate rule.
Refutation: the limit at 2γ exceeds the limit at γ > 1 where r² dominates (exact SymPy limits, tolerance 0: any strict
increase). No Monte Carlo confirmation (a limit; the finite-n formula's own Monte Carlo check covers the law).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp
import torch
from hypothesis import strategies as st

from iclgd.empirics.sampling import generator
from iclgd.theory import Setting, get_claim
from iclgd.theory.setting import exact

from ..checks import check, make_check
from ..ridge_routes import fixed_beta_prompts, minnorm_risk_parts, ridge_squared_errors
from ..stats import mean_se
from ..spec import FalseAlarmCorner, Refutation, Spec, monte_carlo_mean_check, register_spec
from ..strategies import noise_levels

CLAIM = "Hastie-ridgeless"
OVER = "Hastie-overparam-monotone"
MC_PROMPTS = 40_000
DIRECTION_OFFSET = 104_729  # β's direction is drawn from seed + this (the replicates use seed + 7919 j)
RATIOS = ((1, 4), (1, 3), (1, 2), (2, 3), (3, 2), (2, 1), (3, 1), (4, 1))  # γ = a/b
R2S = st.sampled_from([0.5, 1.0, 2.0])
k_sym = sp.Symbol("k", positive=True)


@lru_cache(maxsize=1024)
def limit_route(gamma: sp.Rational, r2, sigma2) -> tuple[sp.Expr, sp.Expr]:
    """(lim excess, lim n·(excess − lim)) along n = b·k, p = a·k, k → ∞, from the finite-n excess risk
    σ² m/(M − m − 1) + r²(1 − n/p)⁺ (m = min, M = max of p, n; E tr W⁻¹ = m E[1/χ²_{M−m+1}] = m/(M − m − 1))."""
    a, b = sp.fraction(sp.Rational(gamma))
    n, p = b * k_sym, a * k_sym
    m, M = (p, n) if a < b else (n, p)
    finite = sigma2 * m / (M - m - 1) + (r2 * (1 - n / p) if a > b else 0)
    lim = sp.limit(finite, k_sym, sp.oo)
    return lim, sp.limit(n * (finite - lim), k_sym, sp.oo)


@st.composite
def settings(draw, max_d=None, max_n=None, mc=False):
    """γ = a/b from RATIOS, (d, n) = (ak, bk) with the smallest k giving |d − n| ≥ 2 (exact) or ≥ 4 (Monte Carlo)."""
    a, b = draw(st.sampled_from(RATIOS), label="γ = a/b")
    gap = 4 if mc else 2
    k = -(-gap // abs(a - b))
    return Setting(a * k, b * k, draw(noise_levels(), label="σ²"),
                   extra=(("gamma", a / b), ("r2", draw(R2S, label="r²"))))


def exact_checks(s: Setting) -> list:
    c = get_claim(CLAIM)
    pred = c.predict(s, exact=False)
    g, r2 = exact(c.param(s, "gamma")), exact(c.param(s, "r2"))
    v, where = pred.values, s.to_json()
    _, var, bias = minnorm_risk_parts(s.d, s.n, r2, 0, s.sigma2_exact)
    finite = float(var + bias)
    out = [check(CLAIM, "excess_risk_finite vs the data-law route at (p, n) = (d, n) (exact)", finite,
                 v["excess_risk_finite"], 1e-12 * max(1.0, finite), "float64 vs exact rationals: relative 1e-12", where)]
    lim, rate = (float(x) for x in limit_route(g, r2, s.sigma2_exact))
    for key, val, truth in (("excess_risk_limit", v["excess_risk_limit"], lim),
                            ("risk_limit − σ²", v["risk_limit"] - s.sigma2, lim), ("loss − σ²", pred.loss - s.sigma2, lim),
                            ("rate_constant", v["rate_constant"], rate)):
        out.append(check(CLAIM, f"{key} vs SymPy's limit of the finite-n route along p = γn", truth, val,
                         1e-9 * max(1.0, abs(truth)), "float64 closed form vs an exact limit: relative 1e-9 (σ² + L "
                         "then − σ² rounds)", where))
    return out


def monte_carlo_checks(s: Setting, seed: int) -> list:
    c = get_claim(CLAIM)
    pred = c.predict(s, exact=False)
    u = torch.randn(s.d, generator=generator(seed + DIRECTION_OFFSET), dtype=torch.float64)  # not a replicate's stream
    beta = u / u.norm() * float(np.sqrt(c.param(s, "r2")))  # (p,) one fixed direction per check

    def replicate(j):
        X, y = fixed_beta_prompts(MC_PROMPTS, s.n, beta, s.sigma2, generator(seed + 7919 * j))
        return mean_se(ridge_squared_errors(X, y, 0.0))

    return [monte_carlo_mean_check(CLAIM, "risk of min-norm LS at (p, n) = (d, n), one fixed β (Monte Carlo) vs "
                                   "σ² + excess_risk_finite", s.sigma2 + pred.values["excess_risk_finite"], replicate,
                                   {**s.to_json(), "seed": seed, "beta": beta.tolist()})]


# ---- refutation: more over-parametrisation always helps ----------------------------------------
@st.composite
def over_settings(draw):
    """γ > 1 (from RATIOS) and 2γ; r² ∈ {0.5, 1, 2, 4}, σ² ∈ {0, 0.5, 1, 2} (few distinct limits to take)."""
    a, b = draw(st.sampled_from([r for r in RATIOS if r[0] > r[1]]), label="γ = a/b > 1")
    r2 = draw(st.sampled_from([0.5, 1.0, 2.0, 4.0]), label="r²")
    return Setting(1, 1, draw(st.sampled_from([0.0, 0.5, 1.0, 2.0]), label="σ²"), extra=(("gamma", a / b), ("r2", r2)))


def over_exact(s: Setting):
    c = get_claim(OVER)
    g, r2 = exact(c.param(s, "gamma")), exact(c.param(s, "r2"))
    now, later = (limit_route(x, r2, s.sigma2_exact)[0] for x in (g, 2 * g))
    return make_check(OVER, "ridgeless limiting excess risk at 2γ vs at γ > 1 (exact SymPy limits)", float(now),
                      float(later), 0.0, "exact rationals: any strict increase refutes", s.to_json(),
                      error=float(later - now), expect="refute")


# single-replicate false-alarm corners (scripts/false_alarm.py): the extreme aspect ratios, the largest noise
FALSE_ALARM = (FalseAlarmCorner(Setting(8, 2, 2.0, extra=(("gamma", 4.0), ("r2", 2.0)))),
               FalseAlarmCorner(Setting(2, 8, 2.0, extra=(("gamma", 0.25), ("r2", 0.5)))))


register_spec(Spec(
    claim=CLAIM, settings=settings, exact=exact_checks, monte_carlo=monte_carlo_checks,
    false_alarm=FALSE_ALARM,
    refutations=(Refutation(
        "beyond the interpolation threshold, more over-parametrisation always lowers the ridgeless risk",
        "d/dγ [r²(1 − 1/γ) + σ²/(γ − 1)] = r²/γ² − σ²/(γ − 1)² > 0 once the signal dominates: the risk tends to r²",
        over_settings, over_exact, claim=OVER),),
))
