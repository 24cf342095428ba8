"""Closed forms of Mahankali, Hashimoto & Ma (ICLR 2024), Theorems 1–2, and their generalisation M2g.

Convention (shared/THEORY.md): ŷ = gᵀ Γ x_q with g = (1/n) Σ_i y_i x_i. These are the *stated*
formulas; :mod:`iclgd.theory.derivation` re-derives each from Gaussian moments and the tests hold
the two against each other, so a wrong constant here fails the suite.
"""
from __future__ import annotations

import numpy as np
import sympy as sp

from .claims import Distribution, Prediction
from .errors import SettingError
from .setting import Setting

EXACT_D_MAX = 12  # exact SymPy values are produced up to this dimension


def eta_m1(n, d, sigma2):
    """M1 step size η = n / (n + d + 1 + σ²) (Theorem 1)."""
    return n / (n + d + 1 + sigma2)


def loss_m1(n, d, sigma2):
    """M1 optimal loss L* = σ² + d (d + 1 + σ²) / (n + d + 1 + σ²)."""
    return sigma2 + d * (d + 1 + sigma2) / (n + d + 1 + sigma2)


def _sqrtm_spd(S: np.ndarray) -> np.ndarray:
    lam, U = np.linalg.eigh(S)
    return (U * np.sqrt(lam)) @ U.T


def gamma_loss_m2g(Sigma: np.ndarray, Sigma_w: np.ndarray, n: int, sigma2: float):
    """M2g: B = Σ^½ Σ_w Σ^½, C = ((n+1)/n) B + ((tr B + σ²)/n) I,
    Γ* = Σ^{-½} B C⁻¹ Σ^{-½}, L* = σ² + tr B − tr(B² C⁻¹)."""
    d = Sigma.shape[0]
    R = _sqrtm_spd(Sigma)
    Ri = np.linalg.inv(R)
    B = R @ Sigma_w @ R
    C = (n + 1) / n * B + (np.trace(B) + sigma2) / n * np.eye(d)
    BCi = np.linalg.solve(C, B)  # C and B commute, so C⁻¹B = B C⁻¹
    gamma = Ri @ BCi @ Ri
    loss = sigma2 + np.trace(B) - np.trace(B @ BCi)
    return (gamma + gamma.T) / 2, float(loss)


def gamma_loss_m2g_exact(Sigma: sp.Matrix, Sigma_w: sp.Matrix, n, sigma2):
    """The square-root-free form of M2g, exact over the rationals:
    Γ* = Σ_w Σ (a Σ_w Σ + c I)⁻¹ Σ⁻¹ with a = (n+1)/n, c = (tr(Σ Σ_w) + σ²)/n;
    L* = σ² + tr(Σ Σ_w) − tr(Σ_w Σ (a Σ_w Σ + c I)⁻¹ Σ_w Σ)."""
    d = Sigma.shape[0]
    A = Sigma_w * Sigma
    c = ((Sigma * Sigma_w).trace() + sigma2) / n
    K = (sp.Rational(n + 1, n) * A + c * sp.eye(d)).inv()
    gamma = sp.simplify(A * K * Sigma.inv())
    loss = sp.nsimplify(sigma2 + A.trace() - (A * K * A).trace())
    return gamma, sp.simplify(loss)


def _exact_ok(s: Setting) -> bool:
    return s.d <= EXACT_D_MAX


def _is_identity(m) -> bool:
    return m is None or np.array_equal(np.array(m), np.eye(len(m)))


# ---- M1 ------------------------------------------------------------------------------------
def validate_m1(s: Setting):
    if not _is_identity(s.cov):
        raise SettingError("cov", "M1 assumes isotropic covariates x ~ N(0, I); use M2 or M2g")
    if not _is_identity(s.cov_w):
        raise SettingError("cov_w", "M1 assumes w ~ N(0, I); use M2g for another prior")
    if s.target != "linear":
        raise SettingError("target", "M1 assumes linear responses; use M3 for nonlinear targets")


def predict_m1(s: Setting, exact: bool) -> Prediction:
    eta = eta_m1(s.n, s.d, s.sigma2)
    ex = None
    if exact:
        e = eta_m1(sp.Integer(s.n), sp.Integer(s.d), s.sigma2_exact)
        L = loss_m1(sp.Integer(s.n), sp.Integer(s.d), s.sigma2_exact)
        ex = {"eta": str(e), "loss": str(sp.nsimplify(L)), "gamma": f"({e})*I"}
    return Prediction(eta * np.eye(s.d), float(eta), float(loss_m1(s.n, s.d, s.sigma2)), ex)


def dist_m1(s: Setting) -> Distribution:
    return Distribution(np.eye(s.d), np.eye(s.d), s.sigma2, "linear")


# ---- M2 ------------------------------------------------------------------------------------
def validate_m2(s: Setting):
    if s.cov_w is not None:
        raise SettingError("cov_w", "M2 fixes the prior w ~ N(0, Σ⁻¹); use M2g for another prior")
    if s.target != "linear":
        raise SettingError("target", "M2 assumes linear responses")


def predict_m2(s: Setting, exact: bool) -> Prediction:
    eta = eta_m1(s.n, s.d, s.sigma2)
    ex = None
    if exact and _exact_ok(s):
        e = eta_m1(sp.Integer(s.n), sp.Integer(s.d), s.sigma2_exact)
        G = e * s.Sigma_exact.inv()
        ex = {"eta": str(e), "loss": str(loss_m1(sp.Integer(s.n), sp.Integer(s.d), s.sigma2_exact)),
              "gamma": [[str(v) for v in G.row(i)] for i in range(s.d)]}
    return Prediction(eta * np.linalg.inv(s.Sigma), float(eta), float(loss_m1(s.n, s.d, s.sigma2)), ex)


def dist_m2(s: Setting) -> Distribution:
    return Distribution(s.Sigma, np.linalg.inv(s.Sigma), s.sigma2, "linear")


# ---- M2g -----------------------------------------------------------------------------------
def validate_m2g(s: Setting):
    if s.target != "linear":
        raise SettingError("target", "M2g assumes linear responses")


def predict_m2g(s: Setting, exact: bool) -> Prediction:
    gamma, loss = gamma_loss_m2g(s.Sigma, s.Sigma_w, s.n, s.sigma2)
    ex = None
    if exact and _exact_ok(s):
        G, L = gamma_loss_m2g_exact(s.Sigma_exact, s.Sigma_w_exact, s.n, s.sigma2_exact)
        ex = {"gamma": [[str(v) for v in G.row(i)] for i in range(s.d)], "loss": str(L), "eta": None}
    return Prediction(gamma, eta_if_scaled(gamma, s.Sigma), loss, ex)


def eta_if_scaled(gamma: np.ndarray, Sigma: np.ndarray, rtol: float = 1e-10):
    """η when Γ = η I or Γ = η Σ⁻¹ (to rtol), else None."""
    for base in (np.eye(len(gamma)), np.linalg.inv(Sigma)):
        eta = float(np.trace(gamma) / np.trace(base))
        if np.linalg.norm(gamma - eta * base) <= rtol * np.linalg.norm(gamma):
            return eta
    return None


def dist_m2g(s: Setting) -> Distribution:
    return Distribution(s.Sigma, s.Sigma_w, s.sigma2, "linear")



