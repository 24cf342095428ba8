"""Zhang, Frei & Bartlett (JMLR 2024), "Trained Transformers Learn Linear Models In-Context": the
gradient-flow limit Γ_Z of a one-layer LSA on x ~ N(0, Λ), w ~ N(0, I), noiseless (ZFB), and its
prediction error at another prompt length M (ZFB-length). Convention (THEORY.md): ŷ = gᵀ Γ x_q,
g = (1/n) Σ_j y_j x_j. :mod:`iclgd.theory.derivations_linear` re-derives both from the data law (the
Isserlis engine) without reading this module."""
from __future__ import annotations

import numpy as np
import sympy as sp

from ..claims import Citation, Claim, Distribution, Part, Prediction, Curve, register, register_curve
from ..dual import lib
from ..lsa import eta_if_scaled
from ..setting import Setting
from ..validators import exact_ok, mat_str, noiseless, only, length_at_test

PAPER = dict(
    authors="Ruiqi Zhang and Spencer Frei and Peter L. Bartlett",
    title="Trained Transformers Learn Linear Models In-Context",
    venue="Journal of Machine Learning Research (JMLR)", year=2024,
    url="https://arxiv.org/abs/2306.09927", bibkey="zhang2024trained")


def gamma_zfb(Lam, N):
    """Γ_Z = [(1 + 1/N) Λ + (tr Λ / N) I]⁻¹."""
    X = lib(Lam)
    return X.inv((1 + X.frac(1, N)) * Lam + X.tr(Lam) / N * X.eye(Lam.shape[0]))


def risk_zfb_length(Lam, N, M):
    """E(ŷ − wᵀx_q)² of Γ_Z (trained at N) on prompts of length M, noiseless, w ~ N(0, I):
    (1/M) tr(A S) + (1/N²) tr(B A B), A = Γ_Z Λ Γ_Z, S = tr(Λ) Λ + Λ², B = Λ + tr(Λ) I."""
    X = lib(Lam)
    G, t = gamma_zfb(Lam, N), X.tr(Lam)
    A, S, B = G @ Lam @ G, t * Lam + Lam @ Lam, Lam + t * X.eye(Lam.shape[0])
    return X.tr(A @ S) * X.frac(1, M) + X.tr(B @ A @ B) * X.frac(1, N * N)


def risk_zfb_limit(Lam, N):
    """The M → ∞ limit of :func:`risk_zfb_length`: (1/N²) tr(B A B)."""
    X = lib(Lam)
    G, t = gamma_zfb(Lam, N), X.tr(Lam)
    B = Lam + t * X.eye(Lam.shape[0])
    return X.tr(B @ G @ Lam @ G @ B) * X.frac(1, N * N)


def _validate_zfb(s: Setting):
    noiseless(s, "ZFB")
    only(s, "ZFB", {"cov"}, {"cov_w": "ZFB assumes w ~ N(0, I)", "mean": "ZFB assumes w ~ N(0, I)",
                             "x_dist": "ZFB assumes x ~ N(0, Λ)"})


def _validate_zfb_length(s: Setting):
    noiseless(s, "ZFB-length")
    only(s, "ZFB-length", {"cov", "test_n"}, {"cov_w": "ZFB-length assumes w ~ N(0, I)",
                                              "mean": "ZFB-length assumes w ~ N(0, I)"})


def _predict(s: Setting, exact_: bool, M: int) -> Prediction:
    Lam = s.Sigma
    G = gamma_zfb(Lam, s.n)
    G = (G + G.T) / 2
    ex = None
    if exact_ and exact_ok(s):
        ex = {"gamma": mat_str(gamma_zfb(s.Sigma_exact, s.n)),
              "loss": str(sp.nsimplify(risk_zfb_length(s.Sigma_exact, s.n, M))), "eta": None}
    return Prediction(G, eta_if_scaled(G, Lam), float(risk_zfb_length(Lam, s.n, M)), ex)


def _dist(s: Setting) -> Distribution:
    return Distribution(s.Sigma, np.eye(s.d), 0.0, "linear")


ASSUME = ("x_j, x_q ~ N(0, Λ) i.i.d., Λ SPD", "w ~ N(0, I)", "σ² = 0")
register(Claim(
    id="ZFB", citation=Citation(**PAPER, theorem="gradient-flow limit of a one-layer LSA (main result)"), tag="[paper]",
    statement="For x ~ N(0, Λ), w ~ N(0, I), noiseless, prompt length N: gradient flow on the one-layer LSA loss "
    "from their initialisation converges to Γ_Z = [(1 + 1/N) Λ + (tr Λ / N) I]⁻¹ (= M2g at Σ = Λ, Σ_w = I, σ² = 0).",
    assumptions=ASSUME + ("their initialisation",),
    parts=(Part("gradient flow on the one-layer LSA loss from their initialisation converges to a global minimum "
                "whose prediction is ŷ = gᵀΓ_Z x_q, Γ_Z = [(1 + 1/N) Λ + (tr Λ / N) I]⁻¹", "paper"),
           Part("Γ_Z is the minimiser of the Γ-predictor loss and equals M2g at Σ = Λ, Σ_w = I, σ² = 0", "derived"),
           Part("the loss at Γ_Z is ZFB-length's risk at M = N", "derived")),
    predict_fn=lambda s, e: _predict(s, e, s.n), distribution_fn=_dist, validate_fn=_validate_zfb,
    conditioning="cov-and-prior",
))
register(Claim(
    id="ZFB-length", citation=Citation(**PAPER, theorem="prediction error at test length M"), tag="[paper]",
    statement="Γ_Z trained at length N, tested at length M (noiseless, w ~ N(0, I)): E(ŷ − wᵀx_q)² = (1/M) tr(A S) "
    "+ (1/N²) tr(B A B), A = Γ_Z Λ Γ_Z, S = tr(Λ) Λ + Λ², B = Λ + tr(Λ) I; M → ∞: (1/N²) tr(B A B).",
    assumptions=ASSUME + ("test prompts of length M ≥ 1",),
    parts=(Part("the prediction error of Γ_Z at test length M is (1/M) tr(A S) + (1/N²) tr(B A B)", "paper"),
           Part("its M → ∞ limit is (1/N²) tr(B A B)", "derived")),
    predict_fn=lambda s, e: _predict(s, e, length_at_test(s)), validate_fn=_validate_zfb_length,
    reads=("test_n",), conditioning="cov-and-prior",
))


register_curve(Curve("risk_vs_test_length.png", "ZFB-length (σ² = 0)", "ZFB-length", tuple(range(1, 61)),
                     lambda m: Setting(3, 10, 0.0, test_n=m), "test prompt length M (trained at n = 10, d = 3)",
                     vline=10))
