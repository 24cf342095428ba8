"""Eight claims beyond the seed papers (shared/CLAIMS_MORE.md): the *stated* closed forms.

Only ZFB defines a ``distribution`` (what `iclgd train` trains on): the others predict a risk that is
not the training optimum at the training length (test-length risks, baselines), or have a law the
Gaussian trainer cannot sample (uniform x, a prior mean), so `iclgd train` refuses them.

ZFB, ZFB-length (Zhang, Frei & Bartlett 2024), Wu-length (Wu et al. 2024), GD-average and OLS
(Garg et al. 2022's baselines), vO-uniform (von Oswald et al. 2023's data law), Fu-Newton (Fu et al.
2024) and M2m (after Zhang, Wu & Bartlett 2024). Convention (THEORY.md): ŷ = gᵀ Γ x_q,
g = (1/n) Σ_j y_j x_j. :mod:`iclgd.theory.more_derivation` re-derives each from the data law (the
Isserlis engine, direct moments of U(−a, a), χ² integrals, non-commutative matrix algebra) without
reading this module, and the tests hold the two against each other.

Each formula below is written once for NumPy arrays and SymPy matrices (``_Np`` / ``_Sp``), so the
float prediction and the exact rational one are the same expression.
"""
from __future__ import annotations

from dataclasses import fields

import numpy as np
import sympy as sp

from .claims import Citation, Claim, Distribution, Prediction, register
from .errors import SettingError
from .lsa import EXACT_D_MAX, eta_if_scaled, gamma_loss_m2g, gamma_loss_m2g_exact
from .setting import Setting, exact, uniform_half_width

ZFB_PAPER = dict(
    authors="Ruiqi Zhang and Spencer Frei and Peter L. Bartlett",
    title="Trained Transformers Learn Linear Models In-Context",
    venue="Journal of Machine Learning Research (JMLR)", year=2024,
    url="https://arxiv.org/abs/2306.09927", bibkey="zhang2024trained")
WU_PAPER = dict(
    authors="Jingfeng Wu and Difan Zou and Zixiang Chen and Vladimir Braverman and Quanquan Gu and Peter L. Bartlett",
    title="How Many Pretraining Tasks Are Needed for In-Context Learning of Linear Regression?",
    venue="International Conference on Learning Representations (ICLR)", year=2024,
    url="https://arxiv.org/abs/2310.08391", bibkey="wu2024howmany")
GARG_PAPER = dict(
    authors="Shivam Garg and Dimitris Tsipras and Percy Liang and Gregory Valiant",
    title="What Can Transformers Learn In-Context? A Case Study of Simple Function Classes",
    venue="Advances in Neural Information Processing Systems (NeurIPS)", year=2022,
    url="https://arxiv.org/abs/2208.01066", bibkey="garg2022what")
VON_OSWALD_PAPER = dict(
    authors="Johannes von Oswald and Eyvind Niklasson and Ettore Randazzo and João Sacramento and "
    "Alexander Mordvintsev and Andrey Zhmoginov and Max Vladymyrov",
    title="Transformers Learn In-Context by Gradient Descent",
    venue="International Conference on Machine Learning (ICML)", year=2023,
    url="https://arxiv.org/abs/2212.07677", bibkey="vonoswald2023transformers")
FU_PAPER = dict(
    authors="Deqing Fu and Tian-Qi Chen and Robin Jia and Vatsal Sharan",
    title="Transformers Learn Higher-Order Optimization Methods for In-Context Learning: A Study with Linear Models",
    venue="Advances in Neural Information Processing Systems (NeurIPS)", year=2024,
    url="https://arxiv.org/abs/2310.17086", bibkey="fu2024transformers")
ZWB_PAPER = dict(
    authors="Ruiqi Zhang and Jingfeng Wu and Peter L. Bartlett",
    title="In-Context Learning of a Linear Transformer Block: Benefits of the MLP Component and "
    "One-Step GD Initialization",
    venue="Advances in Neural Information Processing Systems (NeurIPS)", year=2024,
    url="https://arxiv.org/abs/2402.14951", bibkey="zhang2024incontext")

FU_EXACT_K_MAX = 6  # exact M_k up to this many Newton iterations (entry sizes double per step)


class _Np:
    inv, eye, tr = staticmethod(np.linalg.inv), staticmethod(np.eye), staticmethod(np.trace)

    @staticmethod
    def frac(p, q):
        return p / q


class _Sp:
    eye = staticmethod(sp.eye)

    @staticmethod
    def frac(p, q):
        return sp.Rational(p, q) if isinstance(p, int) and isinstance(q, int) else sp.sympify(p) / q

    @staticmethod
    def inv(a):
        return a.inv()

    @staticmethod
    def tr(a):
        return a.trace()


def _lib(a):
    return _Sp if isinstance(a, sp.MatrixBase) else _Np


# ---- ZFB and ZFB-length ---------------------------------------------------------------------
def gamma_zfb(Lam, N):
    """Γ_Z = [(1 + 1/N) Λ + (tr Λ / N) I]⁻¹ (Zhang, Frei & Bartlett's gradient-flow limit)."""
    X = _lib(Lam)
    return X.inv((1 + X.frac(1, N)) * Lam + X.tr(Lam) / N * X.eye(Lam.shape[0]))


def risk_zfb_length(Lam, N, M):
    """E(ŷ − wᵀx_q)² of Γ_Z (trained at N) on prompts of length M, noiseless, w ~ N(0, I):
    (1/M) tr(A S) + (1/N²) tr(B A B), A = Γ_Z Λ Γ_Z, S = tr(Λ) Λ + Λ², B = Λ + tr(Λ) I."""
    X = _lib(Lam)
    G, t = gamma_zfb(Lam, N), X.tr(Lam)
    A, S, B = G @ Lam @ G, t * Lam + Lam @ Lam, Lam + t * X.eye(Lam.shape[0])
    return X.tr(A @ S) * X.frac(1, M) + X.tr(B @ A @ B) * X.frac(1, N * N)


def risk_zfb_limit(Lam, N):
    """The M → ∞ limit of :func:`risk_zfb_length`: (1/N²) tr(B A B)."""
    X = _lib(Lam)
    G, t = gamma_zfb(Lam, N), X.tr(Lam)
    B = Lam + t * X.eye(Lam.shape[0])
    return X.tr(B @ G @ Lam @ G @ B) * X.frac(1, N * N)


# ---- Wu-length ----------------------------------------------------------------------------------
def gamma_wu(H, psi2, sigma2, N):
    """Γ_N* = [(1 + 1/N) H + ((tr H + σ²/ψ²)/N) I]⁻¹ (Wu et al.)."""
    X = _lib(H)
    return X.inv((1 + X.frac(1, N)) * H + (X.tr(H) + sigma2 / psi2) / N * X.eye(H.shape[0]))


def risk_wu(H, psi2, sigma2, M, Gamma):
    """Wu et al.'s R_M(Γ) = σ² + ψ² tr H − 2ψ² tr(Γ H²) + tr(Γᵀ H Γ A_M),
    A_M = ψ²(1 + 1/M) H² + (ψ² tr H + σ²) H / M — as the sheet states it (see the Wu-length claim:
    this is the risk of ŷ = x_qᵀ Γ g; for ŷ = gᵀ Γ x_q it needs Γ → Γᵀ)."""
    X = _lib(H)
    A = psi2 * (1 + X.frac(1, M)) * H @ H + (psi2 * X.tr(H) + sigma2) * X.frac(1, M) * H
    return sigma2 + psi2 * X.tr(H) - 2 * psi2 * X.tr(Gamma @ H @ H) + X.tr(Gamma.T @ H @ Gamma @ A)


# ---- GD-average, OLS ----------------------------------------------------------------------------
def risk_gd_average(n, d, sigma2):
    """Risk of ŷ = gᵀx_q for x, w ~ N(0, I): σ² + d(d + 1 + σ²)/n."""
    return sigma2 + d * (d + 1 + sigma2) / (sp.sympify(n) if isinstance(sigma2, sp.Basic) else n)


def risk_ols(n, d, sigma2):
    """Minimum-norm least squares, x, w ~ N(0, I): noiseless max(d − n, 0) (d − n for n < d, 0 for
    n ≥ d); with noise and n > d + 1, σ²(1 + d/(n − d − 1))."""
    if sigma2 == 0:
        return max(d - n, 0)
    if n <= d + 1:
        raise SettingError("n", f"OLS with noise needs n > d + 1 (finite risk); got n={n}, d={d}")
    return sigma2 * (1 + (sp.sympify(d) if isinstance(sigma2, sp.Basic) else d) / (n - d - 1))


# ---- vO-uniform -----------------------------------------------------------------------------------
def uniform_moments(a):
    """(s², m₄) of U(−a, a): a²/3, a⁴/5 (the sheet's values)."""
    return a**2 / 3, a**4 / 5


def eta_uniform(n, d, a, sigma2=0):
    """η* = s² n / (m₄ + (n + d − 2) s⁴ + σ² s²) (σ² = 0: the sheet's formula)."""
    s2, m4 = uniform_moments(a)
    return s2 * n / (m4 + (n + d - 2) * s2**2 + sigma2 * s2)


def loss_uniform(n, d, a, sigma2=0):
    """L(η*) = σ² + d s² (1 − η* s²)."""
    s2, _ = uniform_moments(a)
    return sigma2 + d * s2 * (1 - eta_uniform(n, d, a, sigma2) * s2)


# ---- Fu-Newton ----------------------------------------------------------------------------------
def newton_iterates(S, alpha, k):
    """M₀ = αS, M_{j+1} = M_j (2I − S M_j); returns [M₀, …, M_k]."""
    X = _lib(S)
    I2 = 2 * X.eye(S.shape[0])
    Ms = [alpha * S]
    for _ in range(k):
        Ms.append(Ms[-1] @ (I2 - S @ Ms[-1]))
    return Ms


def newton_residual_closed_form(S, alpha, k):
    """The claim: I − S M_k = (I − αS²)^{2^k}."""
    X = _lib(S)
    E = X.eye(S.shape[0]) - alpha * S @ S
    for _ in range(k):
        E = E @ E
    return E


def default_alpha(S):
    """α = 1 / tr(S²) ≤ 1/λ_max²: then 0 ≤ I − αS² ≺ I, so the iteration converges (rational for
    rational S)."""
    return 1 / _lib(S).tr(S @ S)


# ---- M2m -------------------------------------------------------------------------------------------
def gamma_loss_m2m(Sigma, Sigma_w, beta, n, sigma2):
    """(Γ_Γ, L_Γ, L_β): the best Γ-predictor for w ~ N(β, Σ_w) is M2g with the prior's second
    moment Ω = Σ_w + ββᵀ; GD from β has the centred M2g loss L_β = M2g(Σ, Σ_w); gap = L_Γ − L_β."""
    beta = np.asarray(beta, float)
    G, L_gamma = gamma_loss_m2g(Sigma, Sigma_w + np.outer(beta, beta), n, sigma2)
    _, L_beta = gamma_loss_m2g(Sigma, Sigma_w, n, sigma2)
    return G, L_gamma, L_beta


# ---- validation ---------------------------------------------------------------------------------
_DEFAULTS = {f.name: f.default for f in fields(Setting)}
_FLAG = {"sigma2": "σ²", "cov": "Σ", "cov_w": "Σ_w", "target": "a target", "test_n": "a test length",
         "prior_scale": "a prior scale", "x_dist": "a non-Gaussian x", "mean": "a prior mean", "extra": "extras"}


def _only(s: Setting, claim: str, allowed: set, why: dict | None = None) -> None:
    """Reject every Setting field that differs from its default and the claim does not use."""
    for name, default in _DEFAULTS.items():
        if name in ("d", "n") or name in allowed:
            continue
        if getattr(s, name) != default:
            msg = (why or {}).get(name) or f"{claim} takes no {_FLAG.get(name, name)}"
            raise SettingError(name, msg)


def _is_identity(m) -> bool:
    return m is None or np.array_equal(np.array(m), np.eye(len(m)))


def _noiseless(s: Setting, claim: str) -> None:
    if s.sigma2 != 0:
        raise SettingError("sigma2", f"{claim} assumes noiseless labels (σ² = 0), got {s.sigma2}")


def test_length(s: Setting) -> int:
    """M: ``test_n``, or the training length n when not given."""
    return s.n if s.test_n is None else s.test_n


def prior_psi2(s: Setting) -> float:
    """ψ² of w ~ N(0, ψ² I): ``prior_scale``, or a ``cov_w`` that is a multiple of I, or 1."""
    if s.prior_scale is not None:
        if s.cov_w is not None:
            raise SettingError("prior_scale", "give either --prior-scale or --cov-w, not both")
        return s.prior_scale
    if s.cov_w is None:
        return 1.0
    Sw = s.Sigma_w
    c = float(Sw[0, 0])
    if not np.array_equal(Sw, c * np.eye(s.d)):
        raise SettingError("cov_w", "Wu-length assumes w ~ N(0, ψ² I): Σ_w must be a multiple of I")
    return c


def _exact_ok(s: Setting) -> bool:
    return s.d <= EXACT_D_MAX


def _mat_str(G) -> list:
    return [[str(v) for v in G.row(i)] for i in range(G.shape[0])]


# ---- ZFB ---------------------------------------------------------------------------------------
def _validate_zfb(s: Setting):
    _noiseless(s, "ZFB")
    _only(s, "ZFB", {"cov"}, {"cov_w": "ZFB assumes w ~ N(0, I)", "mean": "ZFB assumes w ~ N(0, I)",
                              "x_dist": "ZFB assumes x ~ N(0, Λ)"})


def _validate_zfb_length(s: Setting):
    _noiseless(s, "ZFB-length")
    _only(s, "ZFB-length", {"cov", "test_n"}, {"cov_w": "ZFB-length assumes w ~ N(0, I)",
                                               "mean": "ZFB-length assumes w ~ N(0, I)"})


def _predict_zfb_family(s: Setting, exact_: bool, M: int) -> Prediction:
    Lam = s.Sigma
    G = gamma_zfb(Lam, s.n)
    G = (G + G.T) / 2
    ex = None
    if exact_ and _exact_ok(s):
        Ge = gamma_zfb(s.Sigma_exact, s.n)
        ex = {"gamma": _mat_str(Ge), "loss": str(sp.nsimplify(risk_zfb_length(s.Sigma_exact, s.n, M))),
              "eta": None}
    return Prediction(G, eta_if_scaled(G, Lam), float(risk_zfb_length(Lam, s.n, M)), ex)


def _dist_zfb(s: Setting) -> Distribution:
    return Distribution(s.Sigma, np.eye(s.d), 0.0, "linear")


# ---- Wu-length ---------------------------------------------------------------------------------
def _validate_wu(s: Setting):
    _only(s, "Wu-length", {"cov", "cov_w", "sigma2", "test_n", "prior_scale"},
          {"mean": "Wu-length assumes a centred prior w ~ N(0, ψ² I)", "x_dist": "Wu-length assumes x ~ N(0, H)"})
    prior_psi2(s)


def _predict_wu(s: Setting, exact_: bool) -> Prediction:
    H, psi2, M = s.Sigma, prior_psi2(s), test_length(s)
    G = gamma_wu(H, psi2, s.sigma2, s.n)
    G = (G + G.T) / 2
    ex = None
    if exact_ and _exact_ok(s):
        He, p2 = s.Sigma_exact, exact(psi2)
        Ge = gamma_wu(He, p2, s.sigma2_exact, s.n)
        ex = {"gamma": _mat_str(Ge), "loss": str(sp.nsimplify(risk_wu(He, p2, s.sigma2_exact, M, Ge))), "eta": None}
    return Prediction(G, eta_if_scaled(G, H), float(risk_wu(H, psi2, s.sigma2, M, G)), ex)


# ---- GD-average, OLS ----------------------------------------------------------------------------
def _validate_isotropic(claim: str, extra_allowed=()):
    def v(s: Setting):
        _only(s, claim, {"sigma2", *extra_allowed})
    return v


def _predict_gd_average(s: Setting, exact_: bool) -> Prediction:
    ex = None
    if exact_:
        ex = {"gamma": "I", "eta": "1", "loss": str(risk_gd_average(s.n, s.d, s.sigma2_exact))}
    return Prediction(np.eye(s.d), 1.0, float(risk_gd_average(s.n, s.d, s.sigma2)), ex)


def _validate_ols(s: Setting):
    _only(s, "OLS", {"sigma2"})
    if s.sigma2 > 0 and s.n <= s.d + 1:
        raise SettingError("n", f"OLS with noise (σ² = {s.sigma2}) needs n > d + 1 = {s.d + 1} for a finite "
                                f"risk; got n={s.n}")


def _predict_ols(s: Setting, exact_: bool) -> Prediction:
    """OLS is not a Γ-predictor: ``gamma`` is empty (0×0), ``eta`` None; ``loss`` is its risk."""
    ex = {"gamma": None, "eta": None, "loss": str(risk_ols(s.n, s.d, s.sigma2_exact))} if exact_ else None
    return Prediction(np.zeros((0, 0)), None, float(risk_ols(s.n, s.d, s.sigma2)), ex)


# ---- vO-uniform ------------------------------------------------------------------------------------
def _validate_uniform(s: Setting):
    _only(s, "vO-uniform", {"x_dist", "sigma2"},
          {"cov": "vO-uniform fixes x's law: i.i.d. U(−a, a) coordinates (use --x-dist uniform:a)",
           "cov_w": "vO-uniform assumes w ~ N(0, I)", "mean": "vO-uniform assumes w ~ N(0, I)"})
    if uniform_half_width(s.x_dist) is None:
        raise SettingError("x_dist", "vO-uniform needs --x-dist uniform:a (i.i.d. U(−a, a) coordinates)")


def _predict_uniform(s: Setting, exact_: bool) -> Prediction:
    a = uniform_half_width(s.x_dist)
    eta = float(eta_uniform(s.n, s.d, a, s.sigma2))
    ex = None
    if exact_:
        ae = exact(a)
        e = sp.nsimplify(eta_uniform(s.n, s.d, ae, s.sigma2_exact))
        ex = {"eta": str(e), "gamma": f"({e})*I", "loss": str(sp.nsimplify(loss_uniform(s.n, s.d, ae, s.sigma2_exact)))}
    return Prediction(eta * np.eye(s.d), eta, float(loss_uniform(s.n, s.d, a, s.sigma2)), ex)


def _dist_uniform(s: Setting) -> Distribution:
    return Distribution(np.eye(s.d), np.eye(s.d), s.sigma2, "linear", x_dist=s.x_dist)


# ---- Fu-Newton --------------------------------------------------------------------------------------
def fu_alpha(s: Setting):
    """α from ``extra`` ("alpha", value), else :func:`default_alpha` of S = cov (exact when rational)."""
    ex = dict(s.extra)
    return ex["alpha"] if "alpha" in ex else None


def _validate_fu(s: Setting):
    _only(s, "Fu-Newton", {"cov", "extra"}, {"sigma2": "Fu-Newton is a matrix iteration: no label noise"})
    alpha = fu_alpha(s)
    if alpha is not None:
        S = s.Sigma
        rho = float(np.abs(np.linalg.eigvalsh(np.eye(s.d) - alpha * S @ S)).max())
        if not (alpha > 0 and rho < 1):
            raise SettingError("alpha", f"needs ‖I − αS²‖ < 1 for convergence; got α={alpha}, ‖I − αS²‖={rho:.4g}")


def _predict_fu(s: Setting, exact_: bool) -> Prediction:
    """Setting: S = cov, k = n Newton iterations. gamma = M_k, eta = α, loss = ‖I − S M_k‖_F²
    = tr((I − αS²)^{2^{k+1}}) (rational for rational S, α)."""
    S, k = s.Sigma, s.n
    alpha = fu_alpha(s)
    alpha = float(default_alpha(S)) if alpha is None else float(alpha)
    E = newton_residual_closed_form(S, alpha, k)
    Mk = np.linalg.solve(S, np.eye(s.d) - E)  # M_k = S⁻¹ (I − E_k)
    ex = None
    if exact_ and _exact_ok(s) and k <= FU_EXACT_K_MAX:
        Se = s.Sigma_exact
        ae = default_alpha(Se) if fu_alpha(s) is None else exact(fu_alpha(s))
        Ee = newton_residual_closed_form(Se, ae, k)
        ex = {"gamma": _mat_str(Se.inv() * (sp.eye(s.d) - Ee)), "eta": str(ae), "loss": str((Ee * Ee).trace())}
    return Prediction((Mk + Mk.T) / 2, alpha, float(np.sum(E * E)), ex)


# ---- M2m -----------------------------------------------------------------------------------------------
def _validate_m2m(s: Setting):
    _only(s, "M2m", {"cov", "cov_w", "sigma2", "mean"}, {"x_dist": "M2m assumes x ~ N(0, Σ)"})


def m2m_beta(s: Setting) -> np.ndarray:
    return np.zeros(s.d) if s.mean is None else np.array(s.mean)


def _predict_m2m(s: Setting, exact_: bool) -> Prediction:
    """gamma, loss: the best Γ-predictor and its loss L_Γ; exact["loss_gd_beta"], ["gap"]: GD from β."""
    beta = m2m_beta(s)
    G, L_gamma, L_beta = gamma_loss_m2m(s.Sigma, s.Sigma_w, beta, s.n, s.sigma2)
    ex = None
    if exact_ and _exact_ok(s):
        be = sp.Matrix([exact(v) for v in beta])
        Ge, Lg = gamma_loss_m2g_exact(s.Sigma_exact, s.Sigma_w_exact + be * be.T, s.n, s.sigma2_exact)
        _, Lb = gamma_loss_m2g_exact(s.Sigma_exact, s.Sigma_w_exact, s.n, s.sigma2_exact)
        ex = {"gamma": _mat_str(Ge), "loss": str(Lg), "eta": None, "loss_gd_beta": str(Lb),
              "gap": str(sp.simplify(Lg - Lb))}
    return Prediction(G, eta_if_scaled(G, s.Sigma), L_gamma, ex)


def _dist_m2m(s: Setting) -> Distribution:
    return Distribution(s.Sigma, s.Sigma_w, s.sigma2, "linear", mean=tuple(m2m_beta(s)))


# ---- registrations ----------------------------------------------------------------------------------
_NOISE = "y_j = wᵀx_j + ε_j, ε_j ~ N(0, σ²) i.i.d., independent of x and w"
register(Claim(
    id="ZFB", citation=Citation(**ZFB_PAPER, theorem="gradient-flow limit (main theorem)"), tag="[paper]",
    statement="For x ~ N(0, Λ), w ~ N(0, I), noiseless, prompt length N: gradient flow on the one-layer LSA loss "
    "from their initialisation converges to Γ_Z = [(1 + 1/N) Λ + (tr Λ / N) I]⁻¹ (= M2g at Σ = Λ, Σ_w = I, σ² = 0).",
    assumptions=("x_j, x_q ~ N(0, Λ) i.i.d., Λ SPD", "w ~ N(0, I)", "σ² = 0", "their initialisation"),
    predict_fn=lambda s, e: _predict_zfb_family(s, e, s.n), distribution_fn=_dist_zfb, validate_fn=_validate_zfb,
    conditioning="cov-and-prior",
))
register(Claim(
    id="ZFB-length", citation=Citation(**ZFB_PAPER, theorem="prediction error at test length M"), tag="[paper]",
    statement="Γ_Z trained at length N, tested at length M (noiseless, w ~ N(0, I)): E(ŷ − wᵀx_q)² = (1/M) tr(A S) "
    "+ (1/N²) tr(B A B), A = Γ_Z Λ Γ_Z, S = tr(Λ) Λ + Λ², B = Λ + tr(Λ) I; M → ∞: (1/N²) tr(B A B).",
    assumptions=("x_j, x_q ~ N(0, Λ) i.i.d., Λ SPD", "w ~ N(0, I)", "σ² = 0", "test prompts of length M ≥ 1"),
    predict_fn=lambda s, e: _predict_zfb_family(s, e, test_length(s)), validate_fn=_validate_zfb_length,
    reads=("test_n",), conditioning="cov-and-prior",
))
register(Claim(
    id="Wu-length", citation=Citation(**WU_PAPER, theorem="optimal one-step GD and its risk at another length"),
    tag="[paper]",
    statement="x ~ N(0, H), w ~ N(0, ψ² I), noise σ²: Γ_N* = [(1 + 1/N) H + ((tr H + σ²/ψ²)/N) I]⁻¹ (M2g at Σ_w = ψ² I) "
    "and R_M(Γ) = σ² + ψ² tr H − 2ψ² tr(ΓH²) + tr(Γᵀ H Γ A_M), A_M = ψ²(1 + 1/M) H² + (ψ² tr H + σ²) H / M, "
    "for ŷ = x_qᵀ Γ g (for ŷ = gᵀ Γ x_q read Γᵀ for Γ; the two agree on Γ_N*); R_M(Γ_M*) ≤ R_M(Γ_N*).",
    assumptions=("x_j, x_q ~ N(0, H) i.i.d., H SPD", "w ~ N(0, ψ² I), ψ² > 0", _NOISE, "test prompts of length M ≥ 1"),
    predict_fn=_predict_wu, validate_fn=_validate_wu, reads=("test_n", "prior_scale"), conditioning="cov-and-prior",
))
register(Claim(
    id="GD-average", citation=Citation(**GARG_PAPER, theorem="averaging baseline"), tag="[derived]",
    statement="x, w ~ N(0, I): ŷ = gᵀ x_q (one GD step from 0 with η = 1) has risk σ² + d(d + 1 + σ²)/n, the M1 "
    "loss at Γ = I.",
    assumptions=("x_j, x_q ~ N(0, I_d) i.i.d.", "w ~ N(0, I_d)", _NOISE),
    predict_fn=_predict_gd_average, validate_fn=_validate_isotropic("GD-average"),
))
register(Claim(
    id="OLS", citation=Citation(**GARG_PAPER, theorem="least-squares baseline"), tag="[derived]",
    statement="x, w ~ N(0, I): the minimum-norm least-squares predictor has risk d − n when noiseless and n < d "
    "(0 for n ≥ d), and σ²(1 + d/(n − d − 1)) with noise and n > d + 1.",
    assumptions=("x_j, x_q ~ N(0, I_d) i.i.d.", "w ~ N(0, I_d)", _NOISE, "σ² > 0 ⇒ n > d + 1"),
    predict_fn=_predict_ols, validate_fn=_validate_ols,
))
register(Claim(
    id="vO-uniform", citation=Citation(**VON_OSWALD_PAPER, theorem="U(−a, a) data law"), tag="[derived]",
    statement="Coordinates of x i.i.d. U(−a, a) (s² = a²/3, m₄ = a⁴/5), w ~ N(0, I): the optimal step of "
    "ŷ = η gᵀx_q is η* = s² n / (m₄ + (n + d − 2) s⁴ + σ² s²) (σ² = 0: the sheet's formula), Γ* = η* I, "
    "L* = σ² + d s² (1 − η* s²).",
    assumptions=("x_j, x_q with i.i.d. U(−a, a) coordinates, a > 0", "w ~ N(0, I_d)", _NOISE),
    predict_fn=_predict_uniform, distribution_fn=_dist_uniform, validate_fn=_validate_uniform, reads=("x_dist",),
))
register(Claim(
    id="Fu-Newton", citation=Citation(**FU_PAPER, theorem="Newton iteration for S⁻¹"), tag="[paper]",
    statement="For SPD S and M₀ = αS, M_{k+1} = M_k (2I − S M_k) satisfies I − S M_k = (I − αS²)^{2^k} exactly, hence "
    "converges to S⁻¹ quadratically when ‖I − αS²‖ < 1. (Setting: S = cov, k = n, α = 1/tr(S²) by default.)",
    assumptions=("S symmetric positive definite", "M₀ = αS with ‖I − αS²‖ < 1"),
    predict_fn=_predict_fu, validate_fn=_validate_fu, conditioning="cov-and-prior",
    kind="identity",  # the Newton–Schulz identity holds for any S, α: the suite's construction, not Fu et al.'s claim
))
register(Claim(
    id="M2m", citation=Citation(**ZWB_PAPER, theorem="non-zero prior mean: linear attention vs GD from β"),
    tag="[derived]",
    statement="x ~ N(0, Σ), w ~ N(β, Σ_w): the best Γ-predictor gᵀΓx_q is M2g with Σ_w + ββᵀ (loss L_Γ); GD from β, "
    "ŷ = βᵀx_q + g_βᵀΓx_q, attains the centred M2g loss L_β; the gap L_Γ − L_β is > 0 for β ≠ 0.",
    assumptions=("x_j, x_q ~ N(0, Σ) i.i.d., Σ SPD", "w ~ N(β, Σ_w), Σ_w SPD", _NOISE),
    predict_fn=_predict_m2m, distribution_fn=_dist_m2m, validate_fn=_validate_m2m, reads=("mean",),
    conditioning="cov-and-prior",
))


register(Claim(
    id="M2m-LSA", citation=Citation(**ZWB_PAPER, theorem="non-zero prior mean, full one-layer LSA"), tag="[derived]",
    statement="Over-generalisation, expected to be refuted: with w ~ N(β, Σ_w), β ≠ 0, the optimum over all one-layer "
    "LSA weights is still the best Γ-predictor (the nuisance terms are useless, as the parity argument shows for β = 0).",
    assumptions=("x ~ N(0, Σ)", "w ~ N(β, Σ_w) with β ≠ 0 (the parity w → −w is broken)"),
    kind="overgeneralisation",
))
