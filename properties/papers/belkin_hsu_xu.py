"""Spec of BHX-minnorm (theory/papers/belkin_hsu_xu.py) and the refutation of BHX-more-features.

Exact: (s², variance, bias) and their sum against ..ridge_routes.minnorm_risk_parts (dropped features as noise,
Bartlett's decomposition with E[1/χ²_k] integrated by SymPy, E P = (n/p) I), in exact rationals; at p = D the
risk against the OLS claim's. Monte Carlo: min-norm least squares on the first p coordinates with one fixed
β = (1, …, 1) (‖β_T‖² = p, ‖β_Tᶜ‖² = D − p: the paper's fixed-β form), |p − n| ≥ 4 or s² = 0 (finite variance of
the squared error), under the replicate rule.
Refutation: more features can hurt: risk(p + 1) > 1.1·risk(p) below the interpolation threshold (p + 1 ≤ n − 5),
from the same exact route, confirmed by Monte Carlo at p + 1 against risk(p) (one-sided, one replicate).
"""
from __future__ import annotations

import torch
from hypothesis import strategies as st

from iclgd.empirics.sampling import generator
from iclgd.theory import Setting, get_claim
from iclgd.theory.setting import exact

from ..checks import check, make_check
from ..ridge_routes import fixed_beta_prompts, minnorm_risk_parts, ridge_squared_errors
from ..stats import mean_se
from ..spec import FalseAlarmCorner, Refutation, Spec, monte_carlo_mean_check, register_spec
from ..stats import per_check_alpha, z_crit
from ..strategies import noise_levels

CLAIM = "BHX-minnorm"
MORE = "BHX-more-features"
MC_PROMPTS = 40_000
Z_CONFIRM = z_crit(1, per_check_alpha("monte-carlo"))  # ≈ 5.6, one replicate
EXACT_WHY = "float64 closed form vs exact rationals: relative 1e-12"


def _with_p(s_d: int, n: int, sigma2: float, p: int) -> Setting:
    return Setting(s_d, n, sigma2, extra=(("p", p),))


@st.composite
def settings(draw, max_d=None, max_n=None, mc=False):
    """D ≤ 6, n ≤ 12, p ≤ D with |p − n| ≥ 2 (exact) or ≥ 4 (Monte Carlo: finite variance), or s² = 0."""
    gap = 4 if mc else 2
    D = draw(st.integers(1, min(max_d or 6, 6)), label="D")
    n = draw(st.integers(1, min(max_n or 12, 12)), label="n")
    sigma2 = draw(noise_levels(), label="σ²")
    p = draw(st.integers(1, D), label="p")
    if abs(p - n) < gap and not (p == D and sigma2 == 0):
        n = p + gap  # move n out of the peak (n ≤ 10)
    return _with_p(D, n, sigma2, p)


def exact_checks(s: Setting) -> list:
    pred = get_claim(CLAIM).predict(s, exact=False)
    p = get_claim(CLAIM).param(s, "p")
    s2, var, bias = minnorm_risk_parts(p, s.n, p, s.d - p, s.sigma2_exact)
    risk = s2 + var + bias
    where, v = s.to_json(), pred.values
    out = [check(CLAIM, f"{key} vs the derivation from the data law (exact)", val, float(truth),
                 1e-12 * max(1.0, float(truth)), EXACT_WHY, where)
           for key, val, truth in (("loss", pred.loss, risk), ("risk_minnorm", v["risk_minnorm"], risk),
                                   ("effective_noise", v["effective_noise"], s2),
                                   ("variance_term", v["variance_term"], var), ("bias_term", v["bias_term"], bias))]
    if p == s.d and (s.sigma2 == 0 or s.n > s.d + 1):
        ols = get_claim("OLS").predict(Setting(s.d, s.n, s.sigma2), exact=False).loss
        out.append(check(CLAIM, "at p = D: the OLS claim's risk", ols, pred.loss, 1e-12 * max(1.0, ols),
                         "two float64 closed forms: relative 1e-12", where))
    return out


def monte_carlo_checks(s: Setting, seed: int) -> list:
    pred = get_claim(CLAIM).predict(s, exact=False)
    p = get_claim(CLAIM).param(s, "p")
    beta = torch.ones(s.d, dtype=torch.float64)  # (D,)

    def replicate(j):
        X, y = fixed_beta_prompts(MC_PROMPTS, s.n, beta, s.sigma2, generator(seed + 7919 * j))
        return mean_se(ridge_squared_errors(X, y, 0.0, features=p))

    return [monte_carlo_mean_check(CLAIM, "risk of min-norm LS on p of D coordinates, β = 1 (Monte Carlo)", pred.loss,
                                   replicate, {**s.to_json(), "seed": seed})]


# ---- refutation: more features never hurt ------------------------------------------------------
MATERIAL = 0.10  # an increase by > 10 %: the squared error near the peak is heavy-tailed, so the confirmation needs it


@st.composite
def more_settings(draw):
    """D ∈ [6, 12], p + 1 ≤ min(D, n − 5) (finite second moments at p + 1, with a margin), σ² ∈ [2, 8]."""
    D = draw(st.integers(6, 12), label="D")
    n = draw(st.integers(7, 20), label="n")
    p = draw(st.integers(1, min(D, n - 5) - 1), label="p")
    return _with_p(D, n, draw(st.floats(2.0, 8.0).map(lambda v: round(v, 2)), label="σ²"), p)


def _risk(s: Setting, p: int) -> float:
    return float(sum(minnorm_risk_parts(p, s.n, p, s.d - p, exact(s.sigma2))))


def more_exact(s: Setting):
    p = get_claim(MORE).param(s, "p")
    now, nxt = _risk(s, p), _risk(s, p + 1)
    return make_check(MORE, "min-norm risk with p + 1 features vs with p (exact)", now, nxt, MATERIAL,
                      "a material increase (relative 10 %), which the Monte Carlo confirmation resolves", s.to_json(),
                      error=(nxt - now) / now, expect="refute")


def more_confirm(s: Setting, seed: int):
    p = get_claim(MORE).param(s, "p")
    X, y = fixed_beta_prompts(MC_PROMPTS, s.n, torch.ones(s.d, dtype=torch.float64), s.sigma2, generator(seed))
    mean, se = mean_se(ridge_squared_errors(X, y, 0.0, features=p + 1))
    now = _risk(s, p)
    return check(MORE, "Monte Carlo risk with p + 1 features − the risk with p, in SE (one-sided)", now, mean, Z_CONFIRM,
                 f"one replicate of {MC_PROMPTS} prompts, z ≤ {Z_CONFIRM:.2f} (the run budget's per-check level)",
                 {**s.to_json(), "seed": seed, "se": se}, error=(mean - now) / se, expect="refute")


# single-replicate false-alarm corners (scripts/false_alarm.py): |p − n| at the strategy's smallest gap (4), the
# largest noise
FALSE_ALARM = (FalseAlarmCorner(Setting(6, 1, 2.0, extra=(("p", 5),))),
               FalseAlarmCorner(Setting(6, 5, 2.0, extra=(("p", 1),))))


register_spec(Spec(
    claim=CLAIM, settings=settings, exact=exact_checks, monte_carlo=monte_carlo_checks,
    false_alarm=FALSE_ALARM,
    refutations=(Refutation(
        "regressing on more features never increases the min-norm risk",
        "p ↦ s²(1 + p/(n − p − 1)) increases toward the peak at p = n although s² = D − p + σ² falls",
        more_settings, more_exact, more_confirm, claim=MORE),),
))
