"""Cheng, Chen & Sra (ICML 2024), "Transformers Implement Functional Gradient Descent to Learn Non-Linear Functions
In Context" (arXiv:2312.06528; abstract read, full text not at hand): with a non-linear attention whose kernel
matches the data's, one layer implements one step of functional gradient descent in that kernel's RKHS.

Cheng-fGD-RBF, the instance derived here: f ~ GP(0, K), K(x, x') = exp(−‖x − x'‖²/(2ℓ²)), x ~ N(0, I_d),
y = f(x) + ε, ε ~ N(0, σ²); the matched layer's read-out, one functional-GD step from f₀ = 0,

    ŷ = (η/n) Σ_i K(x_q, x_i) y_i,

has risk R(η) = 1 + σ² − 2ηA + (η²/n)(A(1 + σ²) + (n − 1)B), with (c = 1/ℓ², Gaussian quadratic forms:
E exp(−½ vᵀMv) = det(I + M)^{−1/2} per coordinate, M the graph Laplacian of the pair / triangle over c)

    A = E K(x, x')² = (1 + 4c)^{−d/2},   B = E K(x_q, x₁) K(x_q, x₂) K(x₁, x₂) = (1 + 3c)^{−d},

so η* = nA/(A(1 + σ²) + (n − 1)B) and R* = 1 + σ² − nA²/(A(1 + σ²) + (n − 1)B). Linear attention (the kernel
xᵀx', M1's predictor) on the same GP data has cross moment A_lin = E[x_qᵀx₁ K(x_q, x₁)] = d c (1 + 2c)^{−d/2−1},
E(x_qᵀx₁)² = d and E[x_qᵀx₁ x_qᵀx₂ K(x₁, x₂)] = d c (1 + 2c)^{−d/2−1}, hence its best risk
1 + σ² − nA_lin²/(d(1 + σ²) + (n − 1)A_lin): larger, so the non-linearity matters (the over-generalisation
Cheng-fGD-kernel-free). The GP posterior mean is the Bayes predictor: its risk is below R* (Monte Carlo).
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from iclgd.theory.claims import REGISTRY, Citation, Claim, Param, Part, Prediction, register
from iclgd.theory.errors import SettingError
from iclgd.theory.setting import Setting, exact

PAPER = dict(
    authors="Xiang Cheng and Yuxin Chen and Suvrit Sra",
    title="Transformers Implement Functional Gradient Descent to Learn Non-Linear Functions In Context",
    venue="International Conference on Machine Learning (ICML)",
    year=2024,
    url="https://arxiv.org/abs/2312.06528",
    bibkey="cheng2024functional",
)

PARAMS = (Param("lengthscale", "ℓ of the RBF kernel exp(−‖x − x'‖²/(2ℓ²)) of the GP prior and of the attention",
                lo=0.0, hi=1e3, lo_open=True, default=1.0),)


def one_step(d: int, n: int, sigma2, c):
    """(η*, R*, A, B) of the matched one-step read-out (c = 1/ℓ²; SymPy or float)."""
    A = (1 + 4 * c) ** (-sp.Rational(d, 2) if isinstance(c, sp.Basic) else -d / 2)
    B = (1 + 3 * c) ** (-d)
    Q = A * (1 + sigma2) + (n - 1) * B
    return n * A / Q, 1 + sigma2 - n * A ** 2 / Q, A, B


def linear_attention(d: int, n: int, sigma2, c):
    """(η_lin, R_lin) of ŷ = (η/n) Σ x_qᵀx_i y_i on the same GP data (derived)."""
    half = sp.Rational(d, 2) if isinstance(c, sp.Basic) else d / 2
    a = d * c * (1 + 2 * c) ** (-half - 1)
    Q = d * (1 + sigma2) + (n - 1) * a
    return n * a / Q, 1 + sigma2 - n * a ** 2 / Q


def _validate(s: Setting) -> None:
    if s.cov is not None or s.cov_w is not None:
        raise SettingError("cov" if s.cov is not None else "cov_w", "Cheng-fGD-RBF assumes x ~ N(0, I) and a GP prior "
                           "(no task covariance)")
    if s.target != "linear":
        raise SettingError("target", "Cheng-fGD-RBF draws f from the GP prior; --target does not apply")


def _predict(s: Setting, exact_values: bool) -> Prediction:
    ell = REGISTRY["Cheng-fGD-RBF"].param(s, "lengthscale")
    c = 1.0 / ell ** 2
    eta, risk, _, _ = one_step(s.d, s.n, s.sigma2, c)
    _, lin = linear_attention(s.d, s.n, s.sigma2, c)
    ex = None
    if exact_values:
        ce = 1 / exact(ell) ** 2
        e_eta, e_risk, _, _ = one_step(s.d, s.n, s.sigma2_exact, ce)
        ex = {"eta": str(sp.simplify(e_eta)), "loss": str(sp.simplify(e_risk))}
    return Prediction(gamma=None, eta=float(eta), loss=float(risk), exact=ex, error=1e-13 * max(1.0, float(risk)),
                      values={"optimal_step": float(eta), "one_step_risk": float(risk),
                              "linear_attention_risk": float(lin)})


register(Claim(
    id="Cheng-fGD-RBF",
    citation=Citation(**PAPER, theorem="one layer of matched attention = one step of functional GD (abstract); "
                      "RBF/GP instance derived"),
    tag="[derived]",
    statement="f ~ GP(0, RBF ℓ), x ~ N(0, I): the matched RBF attention layer ŷ = (η/n)Σ K(x_q, x_i) y_i (one step of "
    "functional GD) has optimal step η* = nA/(A(1 + σ²) + (n − 1)B) and risk 1 + σ² − nA²/(A(1 + σ²) + (n − 1)B), "
    "A = (1 + 4/ℓ²)^{−d/2}, B = (1 + 3/ℓ²)^{−d}; the GP posterior mean is lower, linear attention higher.",
    assumptions=("x ~ N(0, I_d)", "f ~ GP(0, K), K(x, x') = exp(−‖x − x'‖²/(2ℓ²)), the attention's kernel the same",
                 "y = f(x) + ε, ε ~ N(0, σ²)", "one functional-GD step from f₀ = 0, average over the n examples"),
    parts=(
        Part("one layer of attention with a non-linearity matched to the kernel implements one step of functional "
             "gradient descent in its RKHS", "paper", "abstract"),
        Part("the risk of that step on GP data, its optimal step and risk via Gaussian quadratic forms", "derived"),
        Part("linear attention's optimal risk on the same data is higher; the GP posterior mean's is lower",
             "derived"),
        Part("K normalised to K(x, x) = 1 with exp(−‖x − x'‖²/(2ℓ²)); the step averages over n (1/n)", "convention"),
    ),
    predict_fn=_predict, validate_fn=_validate, params=PARAMS,
))

register(Claim(
    id="Cheng-fGD-kernel-free",
    citation=Citation(**PAPER, theorem="over-generalisation: the attention's non-linearity (derived)"),
    tag="[derived]",
    statement="Over-generalisation, expected to be refuted: the attention non-linearity does not matter — linear "
    "attention reaches the matched RBF layer's optimal risk on GP(0, RBF) data.",
    assumptions=("x ~ N(0, I_d)", "f ~ GP(0, RBF ℓ)"),
    parts=(Part("linear attention's best risk exceeds the matched layer's", "derived"),),
    kind="overgeneralisation",
))
