"""Lu, Letey, Zavatone-Veth, Maiti & Pehlevan (PNAS 2025), "Asymptotic theory of in-context learning by linear
attention" (arXiv:2405.11751; abstract read, full text not at hand). The paper gives the ICL error of linear
attention pretrained by ridge regression as d → ∞ with context length ℓ = αd, task diversity k = κd and
pretraining set n = τd², and finds a double descent at τ = 1. That full formula is *not* encoded here (its
derivation needs the paper's random-matrix computation).

Lu-ICL, encoded from the authors' public code (github.com/mletey/incontext-cleanup, theory_runs/common.py,
``ridgeless_icl``; the paper's text was not at hand, so its equation number is not cited): the ridgeless ICL
error, with x* = (1 + ρ)/α, M_κ(x) = 2/((x + 1 − 1/κ) + √((x + 1 − 1/κ)² + 4x/κ)), m* = M_κ(x*), μ* = x* M_{κ/τ}(x*):

    τ < 1:  e = τ(1 + x*)/(1 − τ) · (1 − τ(1 − μ*)² − μ*(x* − ρ)/x*) − 2τ(1 − μ*) + 1 + ρ,
    τ > 1:  e = (k* − 1/(τ − 1))(1 + x*)(x* m*)² + (3 − 2τ)/(τ − 1) · m* x*² + ((1 + ρ) m*/(τ − 1) + 1) x*
                + ρ m*/(τ − 1) + ρ,   k* = 1/(1 − κ(m*/(κ + m*))²),

which diverges as τ → 1 from either side (the double descent). Derived here: as κ, τ → ∞, m* → 1/(1 + x*),
k* → 1 and e → x*/(1 + x*) + ρ = ρ + (1 + ρ)/(1 + α + ρ), Lu-kappa's value (M1's proportional limit); as τ → 0,
e → 1 + ρ (no pretraining: the null predictor).

Lu-kappa, encoded: with unlimited task diversity and pretraining data (κ, τ → ∞) the pretrained Γ is the
population optimum, M1's Γ* = ηI (Mahankali et al., Thm 1), so the ICL error tends to M1's proportional limit.
Along the ray n = αd, σ² = ρd through the Setting (M1's normalisation x, w ~ N(0, I), so the per-dimension error
L*/d matches Lu et al.'s x ~ N(0, I/d) with unit signal and noise ρ — a convention):

    L*/d = ρ + (1 + 1/d + ρ)/(α + 1 + 1/d + ρ)  →  e_∞(α, ρ) = ρ + (1 + ρ)/(1 + α + ρ),   η → α/(1 + α + ρ),

at rate O(1/d) (derived). ``excess_limit`` drops the noise floor ρ (the other convention for "ICL error").
"""
from __future__ import annotations

import math

import sympy as sp

from iclgd.theory.claims import REGISTRY, Citation, Claim, Param, Part, Prediction, register
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


def _M(x, kappa):
    """M_κ(x), the Stieltjes-type function of the formula (SymPy or float)."""
    sqrt = sp.sqrt if isinstance(x, sp.Basic) or isinstance(kappa, sp.Basic) else math.sqrt
    u = x + 1 - 1 / kappa
    return 2 / (u + sqrt(u ** 2 + 4 * x / kappa))


def ridgeless_icl_error(alpha, kappa, tau, rho):
    """e_ICL(α, κ, τ, ρ) of the module docstring (τ ≠ 1); SymPy or float."""
    x = (1 + rho) / alpha
    m, mu = _M(x, kappa), x * _M(x, kappa / tau)
    if tau < 1:
        return tau * (1 + x) / (1 - tau) * (1 - tau * (1 - mu) ** 2 - mu * (x - rho) / x) - 2 * tau * (1 - mu) + 1 + rho
    k = 1 / (1 - kappa * (m / (kappa + m)) ** 2)
    return ((k - 1 / (tau - 1)) * (1 + x) * (x * m) ** 2 + (3 - 2 * tau) / (tau - 1) * m * x ** 2
            + ((1 + rho) * m / (tau - 1) + 1) * x + rho * m / (tau - 1) + rho)


LU_PARAMS = (
    Param("alpha", "context length over dimension, α = ℓ/d", lo=0.0, hi=1e6, lo_open=True, default=2.0),
    Param("kappa", "task diversity over dimension, κ = k/d", lo=0.0, hi=1e6, lo_open=True, default=1.0),
    Param("tau", "pretraining prompts over d², τ = n/d² (≠ 1: the pole of the double descent)", lo=0.0, hi=1e6,
          lo_open=True, default=2.0),
    Param("rho", "label-noise variance ρ (unit signal)", lo=0.0, hi=1e6, default=0.25),
)


def _lu_params(s: Setting):
    c = REGISTRY["Lu-ICL"]
    return tuple(c.param(s, k) for k in ("alpha", "kappa", "tau", "rho"))


def _lu_validate(s: Setting) -> None:
    _validate(s)
    if s.sigma2 != 0:
        raise SettingError("sigma2", "Lu-ICL takes its noise as --rho (unit signal); leave --sigma2 at 0")
    alpha, kappa, tau, rho = _lu_params(s)
    if abs(tau - 1) < 1e-9:
        raise SettingError("--tau", "τ = 1 is the pole of the double descent: the ridgeless error is infinite")


def _lu_predict(s: Setting, exact_values: bool) -> Prediction:
    alpha, kappa, tau, rho = _lu_params(s)
    e = float(ridgeless_icl_error(alpha, kappa, tau, rho))
    lim, _ = limit_error(alpha, rho)
    return Prediction(gamma=None, eta=None, loss=e, error=1e-12 * max(1.0, abs(e)),
                      values={"icl_error": e, "icl_error_kappa_tau_infinity": lim, "null_error": 1 + rho})


register(Claim(
    id="Lu-ICL",
    citation=Citation(**PAPER, theorem="ridgeless ICL error e_ICL(α, κ, τ, ρ) (abstract; formula from the authors' "
                      "code)"),
    tag="[paper]",
    statement="Linear attention pretrained by ridgeless regression on n = τd² prompts from k = κd tasks, context "
    "ℓ = αd, noise ρ, d → ∞: the ICL error e_ICL(α, κ, τ, ρ) in closed form (via M_κ), with a double descent (a pole) "
    "at τ = 1; it tends to ρ + (1 + ρ)/(1 + α + ρ) as κ, τ → ∞ and to 1 + ρ as τ → 0.",
    assumptions=("x ~ N(0, I/d), task vectors of norm √d, y = wᵀx + ε, ε ~ N(0, ρ)", "d → ∞ with ℓ = αd, k = κd, "
                 "n = τd²", "ridgeless (λ → 0) pretraining of Γ", "τ ≠ 1"),
    parts=(
        Part("sharp asymptotics of the ICL learning curve; a double descent in the number of pretraining examples",
             "paper", "abstract"),
        Part("the ridgeless e_ICL formula (both sides of τ = 1)", "paper", "authors' code, ridgeless_icl"),
        Part("its κ, τ → ∞ limit equals M1's proportional limit; its τ → 0 limit is 1 + ρ", "derived"),
        Part("task vectors drawn Gaussian in the suite's checks (the authors' code normalises them to norm √d: the "
             "same d → ∞ limit)", "convention"),
    ),
    predict_fn=_lu_predict, validate_fn=_lu_validate, params=LU_PARAMS,
))

register(Claim(
    id="Lu-ICL-monotone",
    citation=Citation(**PAPER, theorem="over-generalisation: more pretraining data never hurts (derived)"),
    tag="[derived]",
    statement="Over-generalisation, expected to be refuted: the ICL error never increases with the number of "
    "pretraining prompts τ (refuted by the double descent approaching τ = 1 from below).",
    assumptions=("the asymptotic regime of Lu-ICL",),
    parts=(Part("e_ICL increases towards the pole at τ = 1", "derived"),),
    kind="overgeneralisation",
))
