"""Fu, Chen, Jia & Sharan (NeurIPS 2024), "Transformers Learn Higher-Order Optimization Methods for
In-Context Learning: A Study with Linear Models": Newton's iteration for S⁻¹, M₀ = αS,
M_{k+1} = M_k (2I − S M_k). Registered as an identity (Fu-Newton): I − S M_k = (I − αS²)^{2^k} holds for any
S and α, so its checks cannot fail by construction. The paper's claim that trained multi-layer linear
transformers track these iterates layer by layer is Fu-trained-Newton (kind "empirical"), measured on trained
models by properties/papers/fu_et_al.py with the spectral filters below. Setting: S = cov, k = n, and
α = 1/tr(S²) — the suite's choice (rational for rational S); Fu et al.'s code normalises by ‖SSᵀ‖_F."""
from __future__ import annotations

import numpy as np
import sympy as sp

from ..claims import Citation, Claim, Param, Part, Prediction, register
from ..dual import lib
from ..setting import Setting
from ..errors import SettingError
from ..validators import exact_ok, mat_str, only

PAPER = dict(
    authors="Deqing Fu and Tian-Qi Chen and Robin Jia and Vatsal Sharan",
    title="Transformers Learn Higher-Order Optimization Methods for In-Context Learning: A Study with Linear Models",
    venue="Advances in Neural Information Processing Systems (NeurIPS)", year=2024,
    url="https://arxiv.org/abs/2310.17086", bibkey="fu2024transformers")
EXACT_K_MAX = 6  # exact M_k up to this many Newton iterations (entry sizes double per step)


def newton_iterates(S, alpha, k):
    """M₀ = αS, M_{j+1} = M_j (2I − S M_j); returns [M₀, …, M_k]."""
    X = lib(S)
    I2 = 2 * X.eye(S.shape[0])
    Ms = [alpha * S]
    for _ in range(k):
        Ms.append(Ms[-1] @ (I2 - S @ Ms[-1]))
    return Ms


def newton_residual_closed_form(S, alpha, k):
    """The identity: I − S M_k = (I − αS²)^{2^k}."""
    X = lib(S)
    E = X.eye(S.shape[0]) - alpha * S @ S
    for _ in range(k):
        E = E @ E
    return E


def default_alpha(S):
    """α = 1 / tr(S²) ≤ 1/λ_max²: then 0 ≤ I − αS² ≺ I, so the iteration converges."""
    return 1 / lib(S).tr(S @ S)


def _validate(s: Setting):
    only(s, "Fu-Newton", {"cov"}, {"sigma2": "Fu-Newton is a matrix iteration: no label noise"})


def _predict(s: Setting, exact_: bool) -> Prediction:
    """gamma = M_k, eta = α, loss = ‖I − S M_k‖_F² = tr((I − αS²)^{2^{k+1}})."""
    S, k = s.Sigma, s.n
    alpha = float(default_alpha(S))
    E = newton_residual_closed_form(S, alpha, k)
    Mk = np.linalg.solve(S, np.eye(s.d) - E)  # M_k = S⁻¹ (I − E_k)
    ex = None
    if exact_ and exact_ok(s) and k <= EXACT_K_MAX:
        Se = s.Sigma_exact
        ae = default_alpha(Se)
        Ee = newton_residual_closed_form(Se, ae, k)
        ex = {"gamma": mat_str(Se.inv() * (sp.eye(s.d) - Ee)), "eta": str(ae), "loss": str((Ee * Ee).trace())}
    return Prediction((Mk + Mk.T) / 2, alpha, float(np.sum(E * E)), ex)


register(Claim(
    id="Fu-Newton", citation=Citation(**PAPER, theorem="Newton iteration for S⁻¹"), tag="[paper]",
    statement="For SPD S and M₀ = αS, M_{k+1} = M_k (2I − S M_k) satisfies I − S M_k = (I − αS²)^{2^k} exactly, hence "
    "converges to S⁻¹ quadratically when ‖I − αS²‖ < 1. (Setting: S = cov, k = n, α = 1/tr(S²).)",
    assumptions=("S symmetric positive definite", "M₀ = αS with ‖I − αS²‖ < 1"),
    parts=(Part("trained multi-layer linear transformers implement iterations of Newton's method for S⁻¹ "
                "(not tested by this identity: Fu-trained-Newton, on trained models)", "paper"),
           Part("I − S M_k = (I − αS²)^{2^k} for any S, α (an identity: its checks cannot fail)", "derived"),
           Part("α = 1/tr(S²) (Fu et al.'s code normalises by ‖SSᵀ‖_F)", "convention")),
    predict_fn=_predict, validate_fn=_validate, conditioning="cov-and-prior",
    kind="identity",
))


# ---- Fu-trained-Newton: k-step predictors as spectral filters (numpy; the trained check reads them) --------
def newton_filter(lam, alpha, k):
    """Eigenvalue of M_k at eigenvalue λ of S: (1 − (1 − αλ²)^{2^k}) / λ (Fu-Newton's identity)."""
    lam = np.asarray(lam, float)
    return (1 - (1 - alpha * lam**2) ** (2**k)) / lam


def gd_filter(lam, eta, k):
    """k steps of GD on (1/2n)‖y − Xw‖² from w₀ = 0 with step η: w_k = S⁻¹(I − (I − ηS)^k) g, i.e. the
    eigenvalue (1 − (1 − ηλ)^k) / λ."""
    lam = np.asarray(lam, float)
    return (1 - (1 - eta * lam) ** k) / lam


def filter_predictions(lam, U, g, xq, f):
    """ŷ = x_qᵀ U diag(f(λ)) Uᵀ g for prompts with S = U diag(λ) Uᵀ: lam (N, d), U (N, d, d), g, xq (N, d),
    f (..., N, d) -> (..., N)."""
    qu, gu = np.einsum("nd,nde->ne", xq, U), np.einsum("nd,nde->ne", g, U)  # (N, d) in S's eigenbasis
    return np.einsum("nd,...nd,nd->...n", qu, f, gu)


def _validate_trained(s: Setting):
    only(s, "Fu-trained-Newton", {"extra"}, {"sigma2": "Fu et al.'s linear-regression prompts are noiseless"})
    if s.n < s.d:
        raise SettingError("n", f"Fu-trained-Newton needs n >= d context examples (S invertible), got n={s.n} < d={s.d}")


register(Claim(
    id="Fu-trained-Newton", citation=Citation(**PAPER, theorem="trained linear transformers vs Newton and GD, layer by layer (section not confirmed)"),
    tag="[paper]",
    statement="An L-layer linear transformer trained on noiseless linear regression with ill-conditioned x ~ N(0, Σ), "
    "w ~ N(0, I) makes, after layer ℓ, predictions closest to Newton's k-step predictor x_qᵀM_k g with k growing "
    "linearly in ℓ, and closer to Newton than to GD at the same layer (GD would need exponentially many steps).",
    assumptions=("noiseless y = wᵀx, w ~ N(0, I)", "x ~ N(0, Σ), Σ ill-conditioned",
                 "linear transformer trained end to end on the last layer's prediction"),
    parts=(Part("predictions from successive layers match Newton's iterations linearly, each middle layer roughly "
                "computing 3 iterations", "paper", "abstract (the only text read; the figures and code were not)"),
           Part("exponentially more GD steps are needed to match an additional layer", "paper", "abstract"),
           Part("tested as: k_N grows at every layer (L ≤ 3 cannot tell linear from faster growth) and Newton is "
                "closer than GD at every layer, by sign tests over held-out prompts", "convention"),
           Part("read-out after layer ℓ: −[Z_ℓ]_{d+1, n+1} of Ahn et al.'s layout (full P_ℓ, Q_ℓ); best k by the mean "
                "squared difference of predictions on fresh prompts", "convention"),
           Part("Σ = Q diag(κ^{−j/(d−1)}) Qᵀ with Q Haar-random per prompt (an ill-conditioned Σ that no fixed "
                "preconditioner inverts); Newton α = c/λ_max(S)², GD η = c/λ_max(S), c tuned on a grid per (ℓ, k)",
                "convention"),
           Part("M_k = S⁻¹(I − (I − αS²)^{2^k}) and GD's w_k = S⁻¹(I − (I − ηS)^k) g as spectral filters", "derived")),
    validate_fn=_validate_trained, kind="empirical",
    params=(Param("kappa", "condition number κ of Σ", lo=1.0, default=10.0),
            Param("layers", "transformer layers L", lo=1, hi=8, integer=True, default=3)),
))
