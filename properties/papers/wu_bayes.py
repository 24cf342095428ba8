"""Spec of Wu-near-Bayes (theory/papers/wu_bayes.py) and the refutation of Wu-near-Bayes-uniform.

Exact, on routes sharing no code with ``Claim.predict``:
- lsa_risk (= loss) against the M2g claim's optimum at Σ = I, Σ_w = τ² I (a matrix closed form);
- bayes_risk against ..ridge_routes.bayes_risk_route (30-digit quadrature, min(n, d) ≤ 2);
- excess_ratio against the two routes' ratio (min(n, d) ≤ 2) and, for n > d + 1, inside the squeeze
  (L* − σ²)(n − d − 1)/(σ²d) ≤ ρ ≤ (L* − σ²)(n + σ²/τ²)/(σ²d) (Jensen; the inverse-Wishart mean);
- excess_ratio_limit against SymPy: L(η) from the Isserlis moments E[ggᵀ] = (τ²(n + 1 + d) + σ²)/n · I, E[gwᵀ] = τ²I,
  minimised over η, then lim n·(L* − σ²)/(σ²d) as n → ∞ (the squeeze gives n(R_Bayes − σ²) → σ²d).
Monte Carlo: the risk of ŷ = η* gᵀx_q and of the posterior mean on prompts of the law, under the replicate rule.
Refutation: for σ² → 0 the squeeze's lower bound on ρ exceeds twice the over-generalisation's constant (a rigorous
counterexample with a margin), confirmed by Monte Carlo: the Bayes risk is below σ² + (L* − σ²)/C (one-sided, one replicate).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp
from hypothesis import strategies as st

from iclgd.empirics import predictors as emp
from iclgd.empirics.sampling import generator
from iclgd.theory import Setting, get_claim
from iclgd.theory.papers.wu_bayes import UNIFORM_C
from iclgd.theory.papers.bayes_ridge import tau2
from iclgd.theory.setting import exact

from ..checks import check, make_check
from ..ridge_routes import bayes_risk_route
from ..spec import FalseAlarmCorner, Refutation, Spec, monte_carlo_mean_check, register_spec
from ..stats import per_check_alpha, z_crit
from .bayes_ridge import MC_PROMPTS, PRIOR_SCALES, bayes_replicate

CLAIM = "Wu-near-Bayes"
UNIFORM = "Wu-near-Bayes-uniform"
Z_CONFIRM = z_crit(1, per_check_alpha("monte-carlo"))  # ≈ 5.6, one replicate
n_sym, eta_sym = sp.symbols("n eta", positive=True)



def _lsa_route(s: Setting) -> float:
    return get_claim("M2g").predict(Setting(s.d, s.n, s.sigma2, cov_w=tau2(s) * np.eye(s.d)), exact=False).loss


@lru_cache(maxsize=1)
def _ratio_limit_symbolic() -> tuple[sp.Expr, tuple]:
    """lim_{n→∞} n (L* − σ²)/(σ² d) for symbolic (d, σ², τ²), L* = min_η L(η),
    L(η) = σ² + τ²d − 2ητ²d + η² d (τ²(n + 1 + d) + σ²)/n."""
    d, s2, t2 = sp.symbols("d sigma2 tau2", positive=True)
    L = s2 + t2 * d - 2 * eta_sym * t2 * d + eta_sym**2 * d * (t2 * (n_sym + 1 + d) + s2) / n_sym
    eta_star = sp.solve(sp.diff(L, eta_sym), eta_sym)[0]
    excess = sp.simplify(L.subs(eta_sym, eta_star) - s2)
    return sp.limit(n_sym * excess / (s2 * d), n_sym, sp.oo), (d, s2, t2)


def ratio_limit_route(d, sigma2, t2) -> sp.Expr:
    """:func:`_ratio_limit_symbolic` at (d, σ², τ²) (numbers or symbols)."""
    expr, syms = _ratio_limit_symbolic()
    return sp.simplify(expr.subs(dict(zip(syms, (d, sigma2, t2))), simultaneous=True))


@st.composite
def settings(draw, max_d=None, max_n=None, mc=False):
    """d ≤ 3, n ≤ 10, σ² ∈ [0.01, 2]; where min(n, d) = 3 (no quadrature route) n > d + 1 (the squeeze applies)."""
    d = draw(st.integers(1, min(max_d or 3, 3)), label="d")
    n = draw(st.integers(1, min(max_n or 10, 10)), label="n")
    if min(n, d) > 2 and n <= d + 1:
        n = d + 2
    return Setting(d, n, draw(st.floats(0.01, 2.0).map(lambda v: round(v, 3)), label="σ²"),
                   prior_scale=draw(PRIOR_SCALES, label="τ²"))


def exact_checks(s: Setting) -> list:
    pred = get_claim(CLAIM).predict(s, exact=False)
    v, where, t2 = pred.values, s.to_json(), tau2(s)
    lsa = _lsa_route(s)
    out = [check(CLAIM, f"{key} vs the M2g optimum at Σ = I, Σ_w = τ² I", lsa, val, 1e-12 * max(1.0, lsa),
                 "two float64 closed forms: relative 1e-12", where)
           for key, val in (("lsa_risk", v["lsa_risk"]), ("loss", pred.loss))]
    tol = 1e-9
    if min(s.n, s.d) <= 2:
        bayes = bayes_risk_route(s.d, s.n, s.sigma2, t2)
        out.append(check(CLAIM, "bayes_risk vs the eigenvalue quadrature", bayes, v["bayes_risk"],
                         tol * max(1.0, bayes) + pred.error, "30-digit quadrature vs float64: relative 1e-9", where))
        ratio = (lsa - s.sigma2) / (bayes - s.sigma2)
        out.append(check(CLAIM, "excess_ratio vs the routes' ratio", ratio, v["excess_ratio"],
                         tol * max(1.0, ratio) + 1e3 * pred.error * ratio, "relative 1e-9 of two routes", where))
    if s.n > s.d + 1:
        lo = (lsa - s.sigma2) * (s.n - s.d - 1) / (s.sigma2 * s.d)
        hi = (lsa - s.sigma2) * (s.n + s.sigma2 / t2) / (s.sigma2 * s.d)
        r = v["excess_ratio"]
        out.append(check(CLAIM, "excess_ratio within the Jensen / inverse-Wishart squeeze", [lo, hi], r,
                         1e-9 * hi, "bounds in float64: relative 1e-9", where, error=max(0.0, lo - r, r - hi)))
        b = v["bayes_risk"] - s.sigma2
        out.append(check(CLAIM, "bayes_risk − σ² within σ²d/(n + σ²/τ²) ≤ · ≤ σ²d/(n − d − 1)",
                         [s.sigma2 * s.d / (s.n + s.sigma2 / t2), s.sigma2 * s.d / (s.n - s.d - 1)], b, 1e-9 * max(1.0, b),
                         "bounds in float64: relative 1e-9", where,
                         error=max(0.0, s.sigma2 * s.d / (s.n + s.sigma2 / t2) - b, b - s.sigma2 * s.d / (s.n - s.d - 1))))
    lim = float(ratio_limit_route(s.d, s.sigma2_exact, exact(t2)))
    out.append(check(CLAIM, "excess_ratio_limit vs SymPy's lim n·(L* − σ²)/(σ²d) (η minimised symbolically)", lim,
                     v["excess_ratio_limit"], 1e-12 * max(1.0, lim), "exact limit vs float64: relative 1e-12", where))
    return out


def monte_carlo_checks(s: Setting, seed: int) -> list:
    pred = get_claim(CLAIM).predict(s, exact=False)
    t2 = tau2(s)
    eta = get_claim("M2g").predict(Setting(s.d, s.n, s.sigma2, cov_w=t2 * np.eye(s.d)), exact=False).gamma
    Sw = None if t2 == 1.0 else t2 * np.eye(s.d)

    def lsa_replicate(j):
        p = emp.sample_general(MC_PROMPTS, s.n, s.d, generator=generator(seed + 7919 * j), Sigma_w=Sw, sigma2=s.sigma2)
        return emp.gamma_loss(p, eta)

    where = {**s.to_json(), "seed": seed}
    return [monte_carlo_mean_check(CLAIM, "risk of the best ŷ = gᵀΓx_q (Monte Carlo) vs lsa_risk", pred.values["lsa_risk"],
                                   lsa_replicate, where),
            monte_carlo_mean_check(CLAIM, "risk of the posterior mean (Monte Carlo) vs bayes_risk",
                                   pred.values["bayes_risk"], bayes_replicate(s, seed + 1), where)]


# ---- refutation: a σ²-free constant ---------------------------------------------------------------
@st.composite
def uniform_settings(draw):
    """d ≤ 3, n ∈ [d + 2, d + 8], σ² ∈ [0.001, 1], τ² = 1."""
    d = draw(st.integers(1, 3), label="d")
    n = draw(st.integers(d + 2, d + 8), label="n")
    return Setting(d, n, draw(st.floats(0.001, 1.0).map(lambda v: round(v, 3)), label="σ²"))


def uniform_exact(s: Setting):
    lsa = _lsa_route(s)
    lower = (lsa - s.sigma2) * (s.n - s.d - 1) / (s.sigma2 * s.d)  # ≤ the ratio (R_Bayes − σ² ≤ σ²d/(n − d − 1))
    return make_check(UNIFORM, "lower bound (L* − σ²)(n − d − 1)/(σ²d) on the excess-risk ratio vs the constant",
                      UNIFORM_C, lower, 2 * UNIFORM_C, "twice the over-generalisation's constant: a rigorous lower bound "
                      "above it is a counterexample with a margin the Monte Carlo confirmation resolves", s.to_json(),
                      error=lower, expect="refute")


def uniform_confirm(s: Setting, seed: int):
    lsa = _lsa_route(s)
    bound = s.sigma2 + (lsa - s.sigma2) / UNIFORM_C  # the Bayes risk the over-generalisation implies at least
    mean, se = bayes_replicate(s, seed)(0)
    return check(UNIFORM, "Monte Carlo Bayes risk below σ² + (L* − σ²)/C, in SE (one-sided)", bound, mean, Z_CONFIRM,
                 f"one replicate of {MC_PROMPTS} prompts, z ≤ {Z_CONFIRM:.2f} (the run budget's per-check level)",
                 {**s.to_json(), "seed": seed, "se": se}, error=(bound - mean) / se, expect="refute")


# single-replicate false-alarm corners (scripts/false_alarm.py): the smallest n and d, σ² → 0, the largest prior scale
FALSE_ALARM = (FalseAlarmCorner(Setting(1, 1, 0.01)), FalseAlarmCorner(Setting(3, 5, 0.01, prior_scale=2.0)))


register_spec(Spec(
    claim=CLAIM, settings=settings, exact=exact_checks, monte_carlo=monte_carlo_checks,
    false_alarm=FALSE_ALARM,
    refutations=(Refutation(
        f"the one-layer LSA optimum is within a factor {UNIFORM_C:g} of the Bayes excess risk for every σ²",
        "σ² bounded away from 0 dropped: the ratio tends to (d + 1 + σ²)/σ², unbounded as σ² → 0",
        uniform_settings, uniform_exact, uniform_confirm, claim=UNIFORM),),
))
