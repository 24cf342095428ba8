"""Ahn, Cheng, Daneshmand & Sra (NeurIPS 2023), "Transformers learn to implement preconditioned gradient descent
for in-context learning" (arXiv:2306.00297): for L-layer linear transformers (their sparse layout, no value
block) the layers implement preconditioned GD, w_{ℓ+1} = w_ℓ + A_ℓ (g − S w_ℓ) (as ``LinearTransformer`` reads).

Ahn-L2, two layers, x, w ~ N(0, I), coefficients derived here: with A_ℓ = a_ℓ I the loss is the quadratic of
:mod:`iclgd.theory.papers.gatmiry` in P(s) = (1 − a₁s)(1 − a₂s) = 1 + p₁s + p₂s², whose minimiser p* = −H⁻¹b
gives the steps a₁ + a₂ = −p₁, a₁a₂ = p₂ (either order) when real; at high noise they are complex and the best
real steps are equal (the looped optimum, :func:`~iclgd.theory.papers.gatmiry.real_unshared_optimum`). By rotation invariance (X → XU, w → Uᵀw) the gradient
of the full matrix loss at A_ℓ = a_ℓ I commutes with every rotation, so it is a multiple of I — the scalar
stationarity conditions make (a₁ I, a₂ I) a stationary point of the loss over all matrices A₁, A₂. The
one-layer optimum η₁ = n/(n + d + 1 + σ²) (M1) used in both layers is worse.
"""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import sympy as sp

from iclgd.theory.claims import AHN, Citation, Claim, Part, Prediction, register
from iclgd.theory.papers.gatmiry import _validate, real_unshared_optimum, steps_loss, unshared_optimum
from iclgd.theory.setting import Setting, exact


def _predict(s: Setting, exact_values: bool) -> Prediction:
    s2 = Fraction(str(exact(s.sigma2)))
    (a1, a2), L2 = real_unshared_optimum(s.d, s.n, s2, 2)
    p, _ = unshared_optimum(s.d, s.n, s2, 2)
    eta1 = s.n / (s.n + s.d + 1 + s.sigma2)
    twice = steps_loss(s.d, s.n, s.sigma2, (eta1, eta1))
    ex = None
    if exact_values:
        t = sp.Symbol("t")
        roots = sp.solve(p[1] * t ** 2 + p[0] * t + 1, t)  # P(t) = 1 + p₁t + p₂t²: steps are 1/roots
        ex = {"loss": str(L2), "steps": [str(sp.simplify(1 / r)) for r in roots]} if all(r.is_real for r in roots) \
            else {"loss": str(L2), "steps": "equal: the looped optimum (complex roots)"}
    L2 = float(sp.N(L2, 30))
    return Prediction(gamma=None, eta=None, loss=L2, exact=ex, error=1e-12 * max(1.0, L2),
                      values={"step_1": float(a1), "step_2": float(a2), "loss_two_layer": L2,
                              "one_layer_step": eta1, "loss_one_layer_step_twice": twice})


register(Claim(
    id="Ahn-L2",
    citation=Citation(**AHN, theorem="L-layer linear transformers implement preconditioned GD (abstract); "
                      "two-layer isotropic coefficients derived"),
    tag="[derived]",
    statement="Two-layer linear transformer (A_ℓ = a_ℓ I, no value block), x, w ~ N(0, I): the optimal per-layer steps "
    "are the reciprocal roots of P* = argmin over 1 + p₁s + p₂s² of σ² + E tr P(S)² + (σ²/n) E tr(Q(S)²S) "
    "(Wishart moments) where real (equal steps where complex, at high noise), a stationary point of the full matrix "
    "loss; the one-layer optimum used twice is worse.",
    assumptions=("x, w ~ N(0, I_d), y = wᵀx + ε, ε ~ N(0, σ²)", "sparse layout without value block (B_ℓ = 0)"),
    parts=(
        Part("trained L-layer linear transformers implement L steps of preconditioned gradient descent", "paper",
             "abstract"),
        Part("the two-layer loss polynomial, its optimal steps (a₁, a₂) and the loss of η₁ used twice", "derived"),
        Part("(a₁I, a₂I) is a stationary point of the loss over all matrices (rotation invariance)", "derived"),
    ),
    predict_fn=_predict, validate_fn=_validate("Ahn-L2", False),
))

register(Claim(
    id="Ahn-L2-one-step-twice",
    citation=Citation(**AHN, theorem="over-generalisation of the one-layer optimum (derived)"),
    tag="[derived]",
    statement="Over-generalisation, expected to be refuted: the one-layer optimum η₁ = n/(n + d + 1 + σ²) used in "
    "both layers is the optimal two-layer linear transformer.",
    assumptions=("x, w ~ N(0, I_d)", "two layers, A_ℓ = a_ℓ I"),
    parts=(Part("the two-layer optimum has distinct steps, so (η₁, η₁) is not it", "derived"),),
    kind="overgeneralisation",
))
