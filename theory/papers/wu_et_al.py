"""Wu, Zou, Chen, Braverman, Gu & Bartlett (ICLR 2024), "How Many Pretraining Tasks Are Needed for
In-Context Learning of Linear Regression?": the optimal one-step-GD Γ_N* at training length N and its risk
R_M at test length M, x ~ N(0, H), w ~ N(0, ψ² I), noise σ² (Wu-length).

Convention: the source's risk R_M(Γ) is that of ŷ = x_qᵀ Γ g; the suite's Γ-predictor is ŷ = gᵀ Γ x_q,
so for a non-symmetric Γ the formula is read with Γᵀ (the two agree on the symmetric Γ_N*). That this
reading is needed is a plumbing test (tests/cover/test_wu_et_al.py) and a note, not a refutation of
Wu et al."""
from __future__ import annotations

import sympy as sp

from ..claims import Citation, Claim, Part, Prediction, Curve, register, register_curve
from ..dual import lib
from ..lsa import eta_if_scaled
from ..setting import Setting, exact
from ..validators import exact_ok, mat_str, only, prior_psi2, length_at_test

PAPER = dict(
    authors="Jingfeng Wu and Difan Zou and Zixiang Chen and Vladimir Braverman and Quanquan Gu and Peter L. Bartlett",
    title="How Many Pretraining Tasks Are Needed for In-Context Learning of Linear Regression?",
    venue="International Conference on Learning Representations (ICLR)", year=2024,
    url="https://arxiv.org/abs/2310.08391", bibkey="wu2024howmany")


def gamma_wu(H, psi2, sigma2, N):
    """Γ_N* = [(1 + 1/N) H + ((tr H + σ²/ψ²)/N) I]⁻¹."""
    X = lib(H)
    return X.inv((1 + X.frac(1, N)) * H + (X.tr(H) + sigma2 / psi2) / N * X.eye(H.shape[0]))


def risk_wu(H, psi2, sigma2, M, Gamma):
    """R_M(Γ) = σ² + ψ² tr H − 2ψ² tr(Γ H²) + tr(Γᵀ H Γ A_M), A_M = ψ²(1 + 1/M) H² + (ψ² tr H + σ²) H / M:
    the risk of ŷ = x_qᵀ Γ g (for ŷ = gᵀ Γ x_q pass Γᵀ)."""
    X = lib(H)
    A = psi2 * (1 + X.frac(1, M)) * H @ H + (psi2 * X.tr(H) + sigma2) * X.frac(1, M) * H
    return sigma2 + psi2 * X.tr(H) - 2 * psi2 * X.tr(Gamma @ H @ H) + X.tr(Gamma.T @ H @ Gamma @ A)


def _validate(s: Setting):
    only(s, "Wu-length", {"cov", "cov_w", "sigma2", "test_n", "prior_scale"},
         {"mean": "Wu-length assumes a centred prior w ~ N(0, ψ² I)", "x_dist": "Wu-length assumes x ~ N(0, H)"})
    prior_psi2(s, "Wu-length")


def psi2_of(s: Setting) -> float:
    return prior_psi2(s, "Wu-length")


def _predict(s: Setting, exact_: bool) -> Prediction:
    H, psi2, M = s.Sigma, psi2_of(s), length_at_test(s)
    G = gamma_wu(H, psi2, s.sigma2, s.n)
    G = (G + G.T) / 2
    ex = None
    if exact_ and exact_ok(s):
        He, p2 = s.Sigma_exact, exact(psi2)
        Ge = gamma_wu(He, p2, s.sigma2_exact, s.n)
        ex = {"gamma": mat_str(Ge), "loss": str(sp.nsimplify(risk_wu(He, p2, s.sigma2_exact, M, Ge.T))), "eta": None}
    return Prediction(G, eta_if_scaled(G, H), float(risk_wu(H, psi2, s.sigma2, M, G.T)), ex)


register(Claim(
    id="Wu-length", citation=Citation(**PAPER, theorem="optimal one-step GD and its risk at another length"),
    tag="[paper]",
    statement="x ~ N(0, H), w ~ N(0, ψ² I), noise σ²: Γ_N* = [(1 + 1/N) H + ((tr H + σ²/ψ²)/N) I]⁻¹ (M2g at Σ_w = ψ² I) "
    "and R_M(Γ) = σ² + ψ² tr H − 2ψ² tr(ΓH²) + tr(Γᵀ H Γ A_M), A_M = ψ²(1 + 1/M) H² + (ψ² tr H + σ²) H / M "
    "for ŷ = x_qᵀ Γ g; R_M(Γ_M*) ≤ R_M(Γ_N*).",
    assumptions=("x_j, x_q ~ N(0, H) i.i.d., H SPD", "w ~ N(0, ψ² I), ψ² > 0",
                 "y_j = wᵀx_j + ε_j, ε_j ~ N(0, σ²) i.i.d., independent of x and w", "test prompts of length M ≥ 1"),
    parts=(Part("the optimal one-step-GD parameter at training length N is Γ_N* = [(1 + 1/N) H + ((tr H + σ²/ψ²)/N) I]⁻¹",
                "paper"),
           Part("its risk at test length M is R_M(Γ) = σ² + ψ² tr H − 2ψ² tr(ΓH²) + tr(Γᵀ H Γ A_M)", "paper"),
           Part("R_M is the risk of ŷ = x_qᵀ Γ g; for the suite's ŷ = gᵀ Γ x_q it is read with Γᵀ", "convention"),
           Part("Γ_N* is M2g at Σ = H, Σ_w = ψ² I; R_M(Γ_M*) ≤ R_M(Γ_N*) for every N", "derived")),
    predict_fn=_predict, validate_fn=_validate, reads=("test_n", "prior_scale"), conditioning="cov-and-prior",
))


register_curve(Curve("risk_vs_test_length.png", "Wu-length (σ² = 0.25)", "Wu-length", tuple(range(1, 61)),
                     lambda m: Setting(3, 10, 0.25, test_n=m), "test prompt length M (trained at n = 10, d = 3)",
                     vline=10))
