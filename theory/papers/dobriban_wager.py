"""DW-optridge (Dobriban & Wager, Ann. Statist. 2018; isotropic case): x ~ N(0, I_p), w ~ N(0, (r²/p) I_p), noise σ²,
p/n → γ, ridge β̂ = (XᵀX/n + λI)⁻¹Xᵀy/n. Derived here: the excess risk at λ tends to
R(λ) = ∫ (λ² r² + γσ² x)/(x + λ)² dF_γ(x) over the Marchenko–Pastur law F_γ of XᵀX/n; each integrand's λ-derivative
is 2x(λr² − γσ²)/(x + λ)³, so λ* = γσ²/r² for every x, and there the integrand is γσ²/(x + λ*):
R(λ*) = γσ² m_γ(−λ*), m_γ(z) = ∫ dF_γ(x)/(x − z) the Stieltjes transform, the root of γz m² − (1 − γ − z) m + 1 = 0:
m_γ(−λ) = [−(1 − γ + λ) + √((1 − γ + λ)² + 4γλ)]/(2γλ). Ridgeless (λ → 0) has the Hastie-ridgeless limit, larger
whenever σ², r² > 0 (DW-ridgeless-optimal, registered to be refuted).
"""
from __future__ import annotations

import math

from iclgd.theory.claims import Citation, Claim, Part, Prediction, register
from iclgd.theory.errors import SettingError
from iclgd.theory.papers.bayes_ridge import isotropic_only
from iclgd.theory.papers.hastie import GAMMA, POLE_GAP, ridgeless_limit
from iclgd.theory.papers.nakkiran import R2
from iclgd.theory.setting import Setting

DW = dict(
    authors="Edgar Dobriban and Stefan Wager",
    title="High-Dimensional Asymptotics of Prediction: Ridge Regression and Classification",
    venue="Annals of Statistics", year=2018, url="https://arxiv.org/abs/1507.03003", bibkey="dobriban2018high")


def mp_stieltjes(gamma: float, lam: float) -> float:
    """m_γ(−λ) for λ > 0, the positive root, written without cancellation: 2/[(1 − γ + λ) + √((1 − γ + λ)² + 4γλ)]."""
    b = 1 - gamma + lam
    return 2 / (b + math.sqrt(b * b + 4 * gamma * lam)) if b >= 0 else \
        (-b + math.sqrt(b * b + 4 * gamma * lam)) / (2 * gamma * lam)


def _validate(s: Setting) -> None:
    isotropic_only("DW-optridge", "w ~ N(0, (r²/p) I) with r² = --r2")(s)
    if s.sigma2 == 0:
        raise SettingError("sigma2", "DW-optridge needs noise σ² > 0 (at σ² = 0 the optimal λ* = 0 is ridgeless)")
    CLAIM.param(s, "gamma")


def _predict(s: Setting, exact: bool) -> Prediction:
    g, r2 = CLAIM.param(s, "gamma"), CLAIM.param(s, "r2")
    lam = g * s.sigma2 / r2
    m = mp_stieltjes(g, lam)
    excess = g * s.sigma2 * m
    ridgeless = ridgeless_limit(g, r2, s.sigma2)[0] if abs(g - 1) >= POLE_GAP else None  # a pole at γ = 1
    return Prediction(gamma=None, eta=None, loss=s.sigma2 + excess, values={
        "lambda_opt": lam, "stieltjes_m": m, "excess_risk_limit": excess, "risk_limit": s.sigma2 + excess,
        "ridgeless_excess_limit": ridgeless})


CLAIM = register(Claim(
    id="DW-optridge",
    citation=Citation(**DW, theorem="optimally tuned ridge, isotropic case (theorem number not read)"),
    tag="[paper]",
    statement="x ~ N(0, I_p), w ~ N(0, (r²/p) I), noise σ² > 0, p/n → γ: ridge (XᵀX/n + λI)⁻¹Xᵀy/n is optimal at "
    "λ* = γσ²/r² and its excess risk tends to γσ² m_γ(−λ*), m_γ the Marchenko–Pastur Stieltjes transform; ridgeless "
    "(λ → 0) is worse.",
    assumptions=("x_j, x_q ~ N(0, I_p) i.i.d.", "w ~ N(0, (r²/p) I_p), r² = --r2 (default 1)",
                 "y_j = wᵀx_j + ε_j, ε_j ~ N(0, σ²), σ² > 0", "p/n → γ = --gamma > 0 (--d, --n are not read)"),
    parts=(
        Part("the optimal ridge λ* = γσ²/α² and its limiting risk through the Marchenko–Pastur law", "paper",
             "isotropic case (theorem number not read)"),
        Part("R(λ*) = γσ² m_γ(−λ*) and m_γ's closed form (per-eigenvalue derivative, MP self-consistency)", "derived"),
        Part("ridge normalised as (XᵀX/n + λI)⁻¹Xᵀy/n (the unnormalised λ is n λ* = pσ²/r²)", "convention"),
    ),
    kind="theorem", predict_fn=_predict, validate_fn=_validate, params=(GAMMA, R2),
))

register(Claim(
    id="DW-ridgeless-optimal",
    citation=Citation(**DW, theorem="over-generalisation (not the paper's statement)"),
    tag="[derived]",
    statement="Over-generalisation, expected refuted: ridgeless least squares (λ → 0) attains the optimally tuned "
    "ridge's limiting risk.",
    assumptions=("x ~ N(0, I_p)", "w ~ N(0, (r²/p) I)", "σ² > 0", "p/n → γ ≠ 1"),
    parts=(Part("lim_{λ→0} R(λ) = R(λ*)", "derived"),),
    kind="overgeneralisation", params=(GAMMA, R2),
))
