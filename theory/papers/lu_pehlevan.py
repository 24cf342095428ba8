"""Lu, Letey, Zavatone-Veth, Maiti & Pehlevan (PNAS 2025), "Asymptotic theory of in-context learning by linear
attention" (arXiv:2405.11751; abstract read, full text not at hand). The paper gives the ICL error of linear
attention pretrained by ridge regression as d → ∞ with context length ℓ = αd, task diversity k = κd and
pretraining set n = τd², and finds a double descent at τ = 1. That full formula is *not* encoded here (its
derivation needs the paper's random-matrix computation; the suite could not confirm it offline).

Lu-kappa, encoded: with unlimited task diversity and pretraining data (κ, τ → ∞) the pretrained Γ is the
population optimum, M1's Γ* = ηI (Mahankali et al., Thm 1), so the ICL error tends to M1's proportional limit.
Along the ray n = αd, σ² = ρd through the Setting (M1's normalisation x, w ~ N(0, I), so the per-dimension error
L*/d matches Lu et al.'s x ~ N(0, I/d) with unit signal and noise ρ — a convention):

    L*/d = ρ + (1 + 1/d + ρ)/(α + 1 + 1/d + ρ)  →  e_∞(α, ρ) = ρ + (1 + ρ)/(1 + α + ρ),   η → α/(1 + α + ρ),

at rate O(1/d) (derived). ``excess_limit`` drops the noise floor ρ (the other convention for "ICL error").
"""
from __future__ import annotations

import sympy as sp

from iclgd.theory.claims import Citation, Claim, Part, Prediction, register
from iclgd.theory.errors import SettingError
from iclgd.theory.setting import Setting

PAPER = dict(
    authors="Yue M. Lu and Mary I. Letey and Jacob A. Zavatone-Veth and Anindita Maiti and Cengiz Pehlevan",
    title="Asymptotic theory of in-context learning by linear attention",
    venue="Proceedings of the National Academy of Sciences (PNAS)",
    year=2025,
    url="https://arxiv.org/abs/2405.11751",
    bibkey="lu2025asymptotic",
)


def limit_error(alpha, rho):
    """e_∞(α, ρ) = ρ + (1 + ρ)/(1 + α + ρ) and η_∞ = α/(1 + α + ρ) (derived)."""
    return rho + (1 + rho) / (1 + alpha + rho), alpha / (1 + alpha + rho)


def _validate(s: Setting) -> None:
    if s.cov is not None or s.cov_w is not None:
        raise SettingError("cov" if s.cov is not None else "cov_w", "Lu-kappa assumes x, w ~ N(0, I)")
    if s.target != "linear":
        raise SettingError("target", "Lu-kappa assumes linear responses y = wᵀx + ε")


def _predict(s: Setting, exact_values: bool) -> Prediction:
    alpha, rho = s.n / s.d, s.sigma2 / s.d
    e, eta = limit_error(alpha, rho)
    finite = (s.sigma2 + s.d * (s.d + 1 + s.sigma2) / (s.n + s.d + 1 + s.sigma2)) / s.d
    ex = None
    if exact_values:
        a, r = sp.Rational(s.n, s.d), s.sigma2_exact / s.d
        ee, eeta = limit_error(a, r)
        ex = {"loss": str(sp.simplify(ee)), "icl_error_limit": str(sp.simplify(ee)), "eta_limit": str(sp.simplify(eeta))}
    return Prediction(gamma=None, eta=None, loss=e, exact=ex, error=1e-15 * max(1.0, e),
                      values={"alpha": alpha, "rho": rho, "icl_error_limit": e, "excess_limit": e - rho,
                              "eta_limit": eta, "finite_d_error": finite, "finite_d_gap": finite - e})


register(Claim(
    id="Lu-kappa",
    citation=Citation(**PAPER, theorem="κ, τ → ∞ limit of the asymptotic ICL error (abstract); M1 limit derived"),
    tag="[derived]",
    statement="With unlimited task diversity and pretraining data (κ, τ → ∞), linear attention's asymptotic ICL error "
    "is M1's proportional limit e_∞(α, ρ) = ρ + (1 + ρ)/(1 + α + ρ), α = n/d, ρ = σ²/d, reached at rate O(1/d).",
    assumptions=("x, w ~ N(0, I_d), y = wᵀx + ε, ε ~ N(0, σ²)", "n = αd, σ² = ρd, d → ∞",
                 "the pretrained Γ is the population optimum (κ, τ → ∞)"),
    parts=(
        Part("the ICL error of linear attention has an asymptotic closed form in (α, κ, τ, ρ) with a double descent "
             "at τ = 1", "paper", "abstract"),
        Part("as κ, τ → ∞ it equals M1's proportional limit ρ + (1 + ρ)/(1 + α + ρ); η → α/(1 + α + ρ); the finite-d "
             "error L*/d approaches it at O(1/d)", "derived"),
        Part("per-dimension error L*/d in M1's normalisation (x, w ~ N(0, I)) ≡ Lu et al.'s x ~ N(0, I/d); the noise "
             "floor ρ included (icl_error_limit) or not (excess_limit)", "convention"),
    ),
    predict_fn=_predict, validate_fn=_validate,
))

register(Claim(
    id="Lu-kappa-finite-d",
    citation=Citation(**PAPER, theorem="over-generalisation of the asymptotic formula (derived)"),
    tag="[derived]",
    statement="Over-generalisation, expected to be refuted: the proportional-limit error ρ + (1 + ρ)/(1 + α + ρ) is "
    "the ICL error at finite d too.",
    assumptions=("x, w ~ N(0, I_d)", "finite d"),
    parts=(Part("at finite d the optimum's error is ρ + (1 + 1/d + ρ)/(α + 1 + 1/d + ρ), above the limit", "derived"),),
    kind="overgeneralisation",
))
