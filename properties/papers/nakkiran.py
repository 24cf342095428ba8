"""Spec of Nakkiran-monotone (theory/papers/nakkiran.py) and the refutation of Nakkiran-OLS-monotone.

Exact checks (no code shared with ``Claim.predict``):
- λ_opt: ∂/∂λ of the per-eigenvalue excess risk (λ² r²/d + σ²μ)/(μ + λ)², in SymPy with μ a free symbol, has one
  root in λ, free of μ (so the same for every eigenvalue law, every n): the predicted λ, and the normalised λ times n;
- the risk at n and at n + 1 against the Laplace / (trace, gap) quadratures of ..ridge_routes (min(n + 1, d) ≤ 2),
  and route(n + 1) ≤ route(n).
Monte Carlo: ridge at the predicted λ on prompts with one fixed β of norm r (its direction drawn from the seed: the
risk must not depend on it), under the replicate rule.
Refutation: min-norm OLS (λ = 0) is not monotone: risk(n + 1) > risk(n) by more than 5 % where the noise dominates
(d ≥ n + 5: finite second moments), from ..ridge_routes.minnorm_risk_route (Bartlett + SymPy χ² integral), confirmed by
Monte Carlo at n + 1 against the risk at n (one-sided, one replicate at the run budget's per-check z).
"""
from __future__ import annotations

import numpy as np
import sympy as sp
import torch
from hypothesis import strategies as st

from iclgd.empirics.sampling import generator
from iclgd.theory import Setting, get_claim
from iclgd.theory.setting import exact

from ..checks import check, make_check
from ..ridge_routes import bayes_risk_route, fixed_beta_prompts, minnorm_risk_route, ridge_squared_errors
from ..stats import mean_se
from ..spec import FalseAlarmCorner, Refutation, Spec, monte_carlo_mean_check, register_spec
from ..stats import per_check_alpha, z_crit
from ..strategies import noise_levels

CLAIM = "Nakkiran-monotone"
OLS_CLAIM = "Nakkiran-OLS-monotone"
MC_PROMPTS = 40_000
DIRECTION_OFFSET = 104_729  # β's direction is drawn from seed + this (the replicates use seed + 7919 j)
ROUTE_WHY = "30-digit mpmath quadrature vs the float64 Pfaffian route: relative 1e-9 + the prediction's stated error"
Z_CONFIRM = z_crit(1, per_check_alpha("monte-carlo"))  # ≈ 5.6, one replicate

mu, lam_sym = sp.symbols("mu lambda", positive=True)


def per_eigenvalue_derivative(r2, d: int, sigma2) -> sp.Expr:
    """∂/∂λ [(λ² r²/d + σ² μ)/(μ + λ)²], simplified: 2μ(λ r²/d − σ²)/(μ + λ)³."""
    return sp.simplify(sp.diff((lam_sym**2 * r2 / d + sigma2 * mu) / (mu + lam_sym) ** 2, lam_sym))


R2S = st.sampled_from([0.5, 1.0, 2.0])


def _r2(s: Setting) -> float:
    return get_claim(CLAIM).param(s, "r2")


@st.composite
def settings(draw, max_d=None, max_n=None, mc=False):
    """d ≤ 3, n ≤ 7; exact checks need min(n + 1, d) ≤ 2 (the independent route), Monte Carlo any."""
    d = draw(st.integers(1, min(max_d or 3, 3)), label="d")
    n = draw(st.integers(1, min(max_n or 7, 7)), label="n")
    if not mc and min(n + 1, d) > 2:
        n = 1
    return Setting(d, n, draw(noise_levels(), label="σ²"), extra=(("r2", draw(R2S, label="r²")),))


def exact_checks(s: Setting) -> list:
    pred = get_claim(CLAIM).predict(s, exact=False)
    r2, where = _r2(s), s.to_json()
    v = pred.values
    out = []
    roots = sp.solve(sp.numer(sp.together(per_eigenvalue_derivative(exact(r2), s.d, s.sigma2_exact))), lam_sym)
    if s.sigma2 == 0:
        roots = [sp.Integer(0)]  # σ² = 0: the derivative 2μλ r²/d/(μ + λ)³ > 0 for λ > 0; the infimum is at λ → 0
    assert len(roots) == 1 and not roots[0].has(mu), roots  # one stationary λ, the same for every eigenvalue μ
    root = float(roots[0])
    for key, lam in (("lambda_opt", v["lambda_opt"]), ("lambda_opt_normalised × n", v["lambda_opt_normalised"] * s.n)):
        out.append(check(CLAIM, f"{key} vs the λ where ∂/∂λ of every eigenvalue's excess risk vanishes (SymPy, μ "
                         "symbolic)", root, lam, 1e-12 * max(1.0, root), "exact solve vs a float64 product: relative "
                         "1e-12", where))
    t2 = r2 / s.d
    now, nxt = bayes_risk_route(s.d, s.n, s.sigma2, t2), bayes_risk_route(s.d, s.n + 1, s.sigma2, t2)
    for key, val, truth in (("risk_opt", v["risk_opt"], now), ("loss", pred.loss, now),
                            ("excess_risk_opt + σ²", v["excess_risk_opt"] + s.sigma2, now),
                            ("risk_opt_next_n", v["risk_opt_next_n"], nxt)):
        out.append(check(CLAIM, f"{key} vs the eigenvalue quadrature (ridge at dσ²/r² = Bayes at τ² = r²/d)", val,
                         truth, 1e-9 * max(1.0, abs(truth)) + pred.error, ROUTE_WHY, where))
    out.append(check(CLAIM, "risk non-increasing in n: route(n + 1) ≤ route(n)", now, nxt, 1e-12 * max(1.0, now),
                     "two 30-digit quadratures: 1e-12", where, error=max(0.0, nxt - now)))
    return out


def monte_carlo_checks(s: Setting, seed: int) -> list:
    pred = get_claim(CLAIM).predict(s, exact=False)
    r2 = _r2(s)
    u = torch.randn(s.d, generator=generator(seed + DIRECTION_OFFSET), dtype=torch.float64)  # not a replicate's stream
    beta = (u / u.norm()) * float(np.sqrt(r2))  # (d,) one fixed direction per check

    def replicate(j):
        X, y = fixed_beta_prompts(MC_PROMPTS, s.n, beta, s.sigma2, generator(seed + 7919 * j))
        return mean_se(ridge_squared_errors(X, y, pred.values["lambda_opt"]))

    return [monte_carlo_mean_check(CLAIM, "risk of ridge at λ_opt, one fixed β (Monte Carlo) vs risk_opt", pred.loss,
                                   replicate, {**s.to_json(), "seed": seed, "beta": beta.tolist()})]


# ---- refutation: OLS is not monotone -------------------------------------------------------------
MATERIAL = 0.05  # an increase by > 5 % (the Monte Carlo confirmation resolves ~1 %)


@st.composite
def ols_settings(draw):
    """d ∈ [6, 10], n + 1 ≤ d − 4 (the squared error has a finite variance), σ² > 0."""
    d = draw(st.integers(6, 10), label="d")
    n = draw(st.integers(1, d - 5), label="n")
    return Setting(d, n, draw(st.floats(0.1, 2.0).map(lambda v: round(v, 2)), label="σ²"),
                   extra=(("r2", draw(R2S, label="r²")),))


def _ols_risk(s: Setting, n: int) -> float:
    r2 = get_claim(OLS_CLAIM).param(s, "r2")
    return float(minnorm_risk_route(s.d, n, exact(r2), 0, s.sigma2_exact))


def ols_exact(s: Setting):
    now, nxt = _ols_risk(s, s.n), _ols_risk(s, s.n + 1)
    return make_check(OLS_CLAIM, "min-norm OLS risk at n + 1 vs at n (Bartlett + χ² integral)", now, nxt, MATERIAL,
                      "a material increase (relative 5 %), which the Monte Carlo confirmation resolves", s.to_json(),
                      error=(nxt - now) / now, expect="refute")


def ols_confirm(s: Setting, seed: int):
    r2 = get_claim(OLS_CLAIM).param(s, "r2")
    beta = torch.zeros(s.d, dtype=torch.float64)
    beta[0] = float(np.sqrt(r2))
    X, y = fixed_beta_prompts(MC_PROMPTS, s.n + 1, beta, s.sigma2, generator(seed))
    mean, se = mean_se(ridge_squared_errors(X, y, 0.0))
    now = _ols_risk(s, s.n)
    return check(OLS_CLAIM, "Monte Carlo OLS risk at n + 1 − the risk at n, in SE (one-sided)", now, mean, Z_CONFIRM,
                 f"one replicate of {MC_PROMPTS} prompts, z ≤ {Z_CONFIRM:.2f} (the run budget's per-check level)",
                 {**s.to_json(), "seed": seed, "se": se}, error=(mean - now) / se, expect="refute")


# single-replicate false-alarm corners (scripts/false_alarm.py): the smallest n, σ² = 0 with the largest signal, the
# largest noise with the smallest
FALSE_ALARM = (FalseAlarmCorner(Setting(3, 1, 0.0, extra=(("r2", 2.0),))),
               FalseAlarmCorner(Setting(1, 1, 2.0, extra=(("r2", 0.5),))))


register_spec(Spec(
    claim=CLAIM, settings=settings, exact=exact_checks, monte_carlo=monte_carlo_checks,
    false_alarm=FALSE_ALARM,
    refutations=(Refutation(
        "min-norm OLS (no regularisation) has a risk non-increasing in n",
        "λ = λ_opt dropped (λ → 0): σ² n/(d − n − 1) grows with n below the interpolation threshold",
        ols_settings, ols_exact, ols_confirm, claim=OLS_CLAIM),),
))
