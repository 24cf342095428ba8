"""Mahankali, Hashimoto & Ma (ICLR 2024), "One Step of Gradient Descent is Provably the Optimal In-Context
Learner with One Layer of Linear Self-Attention": M1 (Theorem 1), M2 (Theorem 2), M2g (M2's setting for
any Gaussian prior, derived), M3 (Theorem 3), and the two over-generalisations the trained tier files its
evidence under: M1-trained (training reaches the optimum) and softmax-1L (softmax attention is one-step
GD too). The closed forms live in :mod:`iclgd.theory.lsa` and :mod:`iclgd.theory.nonlinear`; their
derivations in :mod:`iclgd.theory.derivation`; their checks in ``properties/papers/mahankali.py``.
"""
from __future__ import annotations

from ..claims import MAHANKALI, Citation, Claim, Part, Curve, register, register_curve
from ..lsa import (dist_m1, dist_m2, dist_m2g, predict_m1, predict_m2, predict_m2g, validate_m1, validate_m2,
                   validate_m2g)
from ..nonlinear import dist_m3, predict_m3, validate_m3
from ..setting import Setting

_ASSUME_NOISE = "y_i = wᵀx_i + ε_i, ε_i ~ N(0, σ²) i.i.d., independent of x and w"
M1 = register(Claim(
    id="M1",
    citation=Citation(**MAHANKALI, theorem="Theorem 1"),
    tag="[paper]",
    statement="For x ~ N(0, I), w ~ N(0, I), every global minimizer of the one-layer LSA pre-training "
    "loss implements one step of GD with step size η = n/(n+d+1+σ²).",
    assumptions=("x_i, x_q ~ N(0, I_d) i.i.d.", "w ~ N(0, I_d)", _ASSUME_NOISE),
    predict_fn=predict_m1, distribution_fn=dist_m1, validate_fn=validate_m1,
    parts=(Part("x, w ~ N(0, I): every global minimizer of the one-layer LSA pre-training loss implements one step of "
                "GD on least squares", "paper", "Theorem 1"),
           Part("Γ* = η I, η = n/(n+d+1+σ²), L* = σ² + d(d+1+σ²)/(n+d+1+σ²)", "derived")),
))
M2 = register(Claim(
    id="M2",
    citation=Citation(**MAHANKALI, theorem="Theorem 2"),
    tag="[paper]",
    statement="For x ~ N(0, Σ) and w ~ N(0, Σ⁻¹), the global minimizer implements one step of "
    "preconditioned GD, Γ* = η Σ⁻¹ with the M1 step size and the M1 optimal loss.",
    assumptions=("x_i, x_q ~ N(0, Σ) i.i.d., Σ SPD", "w ~ N(0, Σ⁻¹)", _ASSUME_NOISE),
    predict_fn=predict_m2, distribution_fn=dist_m2, validate_fn=validate_m2,
    parts=(Part("x ~ N(0, Σ), w ~ N(0, Σ⁻¹): the global minimizer implements one step of preconditioned GD", "paper",
                "Theorem 2"),
           Part("Γ* = η Σ⁻¹ with M1's η and L*", "derived")),
    conditioning="cov", rescale="prior-inverse",
))
M2G = register(Claim(
    id="M2g",
    citation=Citation(**MAHANKALI, theorem="Theorem 2 (generalised to any Gaussian prior)"),
    tag="[derived]",
    statement="For x ~ N(0, Σ), w ~ N(0, Σ_w): Γ* = Σ^{-1/2} B C⁻¹ Σ^{-1/2}, B = Σ^{1/2}Σ_wΣ^{1/2}, "
    "C = ((n+1)/n) B + ((tr B + σ²)/n) I, L* = σ² + tr B − tr(B² C⁻¹).",
    assumptions=("x_i, x_q ~ N(0, Σ) i.i.d., Σ SPD", "w ~ N(0, Σ_w), Σ_w SPD", _ASSUME_NOISE),
    predict_fn=predict_m2g, distribution_fn=dist_m2g, validate_fn=validate_m2g,
    parts=(Part("Γ* and L* for any Gaussian prior N(0, Σ_w) (M2's setting generalised)", "derived"),),
    conditioning="cov-and-prior", rescale="independent",
))

M3 = register(Claim(
    id="M3",
    citation=Citation(**MAHANKALI, theorem="Theorem 3"),
    tag="[paper]",
    statement="For x ~ N(0, I) and nonlinear responses y = f(x) + ε from a rotation-invariant family, "
    "the global minimizer is one step of plain GD, Γ* = η I with η = nμ/((n−1)μ + ν + dσ²).",
    assumptions=(
        "x_i, x_q ~ N(0, I_d) i.i.d.",
        "f ∘ U has the law of f for every orthogonal U (sufficient form of Assumption 1)",
        "finite fourth moments; ε ~ N(0, σ²) independent",
    ),
    predict_fn=lambda s, exact: predict_m3(s, exact, strict=True),
    distribution_fn=dist_m3,
    validate_fn=lambda s: validate_m3(s, strict=True),
    parts=(Part("x ~ N(0, I), nonlinear responses from a family satisfying Assumption 1: the global minimizer is one "
                "step of plain (unpreconditioned) GD", "paper", "Theorem 3"),
           Part("f ∘ U has the law of f for every orthogonal U as a sufficient form of Assumption 1", "convention"),
           Part("Γ* = η I, η = nμ/((n−1)μ + ν + dσ²), μ, ν from Gaussian integrals of the family", "derived")),
    exact_bytes_per_entry=1000,
))

register(Claim(
    id="M1-trained",
    citation=Citation(**MAHANKALI, theorem="Theorem 1 (global minimiser) — reachability by training is not claimed"),
    tag="[derived]",
    statement="Over-generalisation, expected to be refuted (the reachability claim): gradient training of a "
    "linear-attention model from a random initialisation always reaches the global optimum that the theorem "
    "for its data law names (M1, M2, M2g, M3; Ahn et al.'s L-layer model at least the one-layer L*). Every "
    "trained run that stays above the optimum is filed here as `not-reached`, never under the theorem.",
    assumptions=("the data law of M1, M2, M2g or M3", "Adam on fresh prompts from a random initialisation"),
    kind="overgeneralisation",
))
register(Claim(
    id="softmax-1L",
    citation=Citation(**MAHANKALI, theorem="Theorem 1, applied outside its linear-attention assumption"),
    tag="[derived]",
    statement="Over-generalisation, expected to be refuted: a trained one-layer *softmax* attention model reaches "
    "the one-step-GD optimum L* and is a Γ-predictor gᵀΓx_q.",
    assumptions=("M1 data law", "softmax attention instead of linear attention"),
    kind="overgeneralisation",
))


# the ids the trained tier (properties/trained.py) files its reachability and model-kind checks under
REACHABILITY, SOFTMAX_ONE_LAYER = "M1-trained", "softmax-1L"


register_curve(Curve("risk_vs_n_baselines.png", "one-step GD, optimal η (M1)", "M1", tuple(range(1, 41)),
                     lambda m: Setting(3, m, 0.25), "context length n (d = 3, σ² = 0.25)", "o-"))
