"""Claim M3 — nonlinear responses (Mahankali, Hashimoto & Ma, ICLR 2024, Theorem 3).

For x ~ N(0, I_d), y = f(x) + ε with f from a family D, the Γ-class loss is
L(Γ) = E f² + σ² − 2 tr(Γ P) + tr(Γᵀ M Γ),  P = E_f[b_f b_fᵀ], b_f = E_x[f(x) x],
M = E[g gᵀ] = ((n−1) P + Q + σ² I)/n,  Q = E_f E_x[f(x)² x xᵀ],
so Γ* = M⁻¹ P. If D is rotation invariant, P = (μ/d) I and Q = (ν/d) I, giving the stated
η = n μ / ((n − 1) μ + ν + d σ²) and L* = E f² + σ² − η μ.

Every family here is single-index and positively 1-homogeneous, f = m^{-½} Σ_k φ(v_kᵀ x),
v_k ~ N(0, V) i.i.d., so all moments follow from four 1-D Gaussian integrals of φ
(a_0 = E φ(t), a_1 = E φ(t) t, a_2 = E φ(t)², a_4 = E φ(t)² t², t ~ N(0, 1)), which SymPy evaluates:
P = a_1² V, Q = a_2 tr(V) I + (a_4 − a_2) V + (m − 1) a_0² (tr(V) I + 2 V), E f² = a_2 tr V + (m−1) a_0² tr V.

``tanh`` is not homogeneous: with r = ‖w‖ ~ χ_d and t ~ N(0, 1), Stein's lemma gives
μ = E_r[r² (E_t tanh'(r t))²], ν = E_r E_t[tanh(r t)² (t² + d − 1)], E f² = E_r E_t[tanh(r t)²],
computed by tensor Gauss–Legendre quadrature (:func:`tanh_moments`) with a stated error.
"""
from __future__ import annotations

from functools import lru_cache
from math import lgamma, log

import numpy as np
import sympy as sp

from .claims import Distribution, Prediction
from .errors import SettingError
from .lsa import EXACT_D_MAX, _is_identity
from .setting import Setting
from .targets import Target, parse_target

t = sp.Symbol("t", real=True)
PHI = {"linear": t, "relu": sp.Max(t, 0)}


@lru_cache(maxsize=None)
def gaussian_integrals(kind: str) -> tuple:
    """(a_0, a_1, a_2, a_4) for φ = identity or ReLU, exactly (SymPy integration over N(0, 1))."""
    phi = PHI["linear" if kind == "linear" else "relu"]
    dens = sp.exp(-t**2 / 2) / sp.sqrt(2 * sp.pi)

    def E(expr):
        if kind == "linear":
            return sp.simplify(sp.integrate(expr * dens, (t, -sp.oo, sp.oo)))
        # ReLU: φ vanishes on t < 0, equals t on t > 0
        return sp.simplify(sp.integrate(expr.subs(sp.Max(t, 0), t) * dens, (t, 0, sp.oo)))

    return tuple(E(e) for e in (phi, phi * t, phi**2, phi**2 * t**2))


def family(target: Target, d: int):
    """(φ kind, m, V) of a target: f = m^{-½} Σ_k φ(v_kᵀ x), v_k ~ N(0, V)."""
    if target.kind == "relu-aniso":
        return "relu", 1, sp.diag(*[sp.Rational(repr(s)) ** 2 for s in target.scales])
    return ("linear" if target.kind == "linear" else "relu"), target.m, sp.eye(d)


def _tanh_quadrature(d: int, K: int) -> np.ndarray:
    R = np.sqrt(d) + 10.0  # P(χ_d > √d + 10) < e^{-50}
    xr, wr = np.polynomial.legendre.leggauss(K)
    r, wr = (xr + 1) * R / 2, wr * R / 2  # r ∈ [0, R]
    xt, wt = np.polynomial.legendre.leggauss(K)
    t, wt = (xt + 1) * 5, wt * 5  # t ∈ [0, 10]; the integrands are even in t, so double
    chi = np.exp(-(d / 2 - 1) * log(2) - lgamma(d / 2) + (d - 1) * np.log(r) - r * r / 2) * wr  # (K,)
    phi = 2 * np.exp(-t * t / 2) / np.sqrt(2 * np.pi) * wt  # (K,)
    T2 = np.tanh(np.outer(r, t)) ** 2  # (K, K)
    b = (1 - T2) @ phi  # E_t tanh'(r t)
    return np.array([chi @ (r * r * b * b), chi @ (T2 @ (phi * (t * t + d - 1))), chi @ (T2 @ phi)])


@lru_cache(maxsize=None)
def tanh_moments(d: int) -> tuple[float, float, float, float]:
    """(μ, ν, E f², error) for f = tanh(wᵀx). Error: 10 × |I_200 − I_400| (Gauss–Legendre converges
    geometrically here, so the finer rule is far more accurate than the difference) + 1e-15 for the
    truncated tails (mass < e^{-50})."""
    coarse, fine = _tanh_quadrature(d, 200), _tanh_quadrature(d, 400)
    err = 10 * float(np.abs(fine - coarse).max()) + 1e-15
    return (*map(float, fine), err)


@lru_cache(maxsize=256)
def moments(target: Target, d: int):
    """(P, Q, E f²) as SymPy objects for concrete d — exact except for ``tanh`` (Floats)."""
    if target.kind == "tanh":
        mu, nu, Ef2, _ = tanh_moments(d)
        return sp.Float(mu / d) * sp.eye(d), sp.Float(nu / d) * sp.eye(d), sp.Float(Ef2)
    kind, m, V = family(target, d)
    a0, a1, a2, a4 = gaussian_integrals(kind)
    I, trV = sp.eye(d), V.trace()
    P = a1**2 * V
    Q = a2 * trV * I + (a4 - a2) * V + (m - 1) * a0**2 * (trV * I + 2 * V)
    Ef2 = a2 * trV + (m - 1) * a0**2 * trV
    return P, Q, sp.simplify(Ef2)


def mu_nu_symbolic(kind: str, m, d):
    """μ = tr P and ν = tr Q for an isotropic family (V = I), with d (and m) possibly symbolic."""
    a0, a1, a2, a4 = gaussian_integrals(kind)
    mu = a1**2 * d
    nu = a2 * d * d + (a4 - a2) * d + (m - 1) * a0**2 * (d + 2) * d
    Ef2 = a2 * d + (m - 1) * a0**2 * d
    return sp.simplify(mu), sp.simplify(nu), sp.simplify(Ef2)


def eta_m3(n, d, sigma2, mu, nu):
    """Theorem 3 step size η = n μ / ((n − 1) μ + ν + d σ²)."""
    return n * mu / ((n - 1) * mu + nu + d * sigma2)


def gamma_loss_general(target: Target, d: int, n: int, sigma2):
    """Exact Γ* = M⁻¹ P and L* = E f² + σ² − tr(P M⁻¹ P) for any family (invariant or not)."""
    P, Q, Ef2 = moments(target, d)
    M = ((n - 1) * P + Q + sigma2 * sp.eye(d)) / n
    G = M.inv() * P
    return sp.simplify(G), sp.simplify(Ef2 + sigma2 - (P * G).trace())


def gamma_loss_general_numeric(target: Target, d: int, n: int, sigma2: float):
    """Float version of :func:`gamma_loss_general` (exact moments, float64 linear algebra)."""
    P, Q, Ef2 = (np.array(m, dtype=float) for m in moments(target, d))
    M = ((n - 1) * P + Q + sigma2 * np.eye(d)) / n
    G = np.linalg.solve(M, P)
    return G, float(Ef2 + sigma2 - np.trace(P @ G))


def validate_m3(s: Setting, strict: bool = True):
    if not _is_identity(s.cov):
        raise SettingError("cov", "M3 assumes x ~ N(0, I)")
    if s.cov_w is not None:
        raise SettingError("cov_w", "M3's target family fixes the law of its weights; use --target")
    if strict and not parse_target(s.target, s.d).rotation_invariant:
        raise SettingError("target", f"{s.target} is not rotation invariant: M3's assumption fails")


def predict_m3(s: Setting, exact: bool = True, strict: bool = True) -> Prediction:
    """Γ* = η I with the Theorem-3 η. ``strict=False`` applies the formula even when the family is
    not rotation invariant (μ = tr P, ν = tr Q): what the claim *would* say, for refutations."""
    validate_m3(s, strict)
    target = parse_target(s.target, s.d)
    if target.kind == "tanh":  # numeric moments: float arithmetic, quadrature error propagated
        mu, nu, Ef2, e = tanh_moments(s.d)
        eta = eta_m3(s.n, s.d, s.sigma2, mu, nu)
        corners = [(mu + a * e, nu + b * e) for a in (-1, 1) for b in (-1, 1)]
        etas = [eta_m3(s.n, s.d, s.sigma2, m_, n_) for m_, n_ in corners]
        err = max(max(abs(x - eta) for x in etas), max(abs(x * m_ - eta * mu) for x, (m_, _) in zip(etas, corners)) + e)
        return Prediction(eta * np.eye(s.d), eta, Ef2 + s.sigma2 - eta * mu, None, err)
    eta, loss, mu, nu = _m3_exact(target, s.d, s.n, s.sigma2_exact)
    ex = {"eta": str(eta), "loss": str(loss), "mu": str(mu), "nu": str(nu), "gamma": f"({eta})*I"}
    return Prediction(float(eta) * np.eye(s.d), float(eta), float(loss), ex if exact else None)


@lru_cache(maxsize=1024)
def _m3_exact(target: Target, d: int, n: int, s2):
    P, Q, Ef2 = moments(target, d)
    mu, nu = P.trace(), Q.trace()
    eta = sp.simplify(eta_m3(n, d, s2, mu, nu))
    return eta, sp.simplify(Ef2 + s2 - eta * mu), mu, nu


def dist_m3(s: Setting) -> Distribution:
    return Distribution(np.eye(s.d), np.eye(s.d), s.sigma2, s.target)




# ---- an independent route to M3's moments (for the optimality check) ---------------------------
# The prediction's moments (above) condition on w and use Stein/Hermite integrals of φ over one
# Gaussian. This route shares no code with them: it conditions on x (and a second point x'),
# integrates the weights w out in closed form through the family's kernel
#   k(x, x') = E_w φ(wᵀx) φ(wᵀx'),  m_φ(x) = E_w φ(wᵀx),  w ~ N(0, I)
# (linear: xᵀx'; ReLU: the degree-1 arc-cosine kernel ρρ'(√(1−c²) + (π − arccos c) c)/(2π),
# Cho & Saul 2009, with m_φ = ρ/√(2π)), then integrates |x|² ~ χ²_d by generalised Gauss–Laguerre and
# the cosine c between x and x' by Gauss–Legendre in the angle. For f = m^{-½} Σ_k φ(w_kᵀx):
#   E f² = E_x κ(x),  ν = tr Q = E_x κ(x) |x|²,  κ(x) = k(x, x) + (m − 1) m_φ(x)²,
#   μ = tr P = E_{x,x'} [k(x, x') + (m − 1) m_φ(x) m_φ(x')] xᵀx'      (P = E_{x,x'} E_w[f(x) f(x')] x x'ᵀ).
# tanh has no closed kernel: κ(ρ) = E_t tanh(ρt)² and μ = E_r (E_t tanh(rt) t)² with r = |w| ~ χ_d (the
# projection of x on w, without Stein's lemma), by Gauss–Legendre in the radius and in |t|.
def _gen_laguerre(alpha: float, K: int):
    """Nodes and probability weights of Gamma(α + 1, 1) (Golub–Welsch on the Laguerre recurrence)."""
    k = np.arange(K)
    J = np.diag(2 * k + alpha + 1.0) + np.diag(np.sqrt(k[1:] * (k[1:] + alpha)), 1) + np.diag(np.sqrt(k[1:] * (k[1:] + alpha)), -1)
    u, V = np.linalg.eigh(J)
    return u, V[0] ** 2


def _cosine_rule(d: int, K: int):
    """Nodes and probability weights of the cosine between two independent uniform directions in R^d
    (density ∝ sin^{d−2}θ on [0, π]; d = 1: c = ±1 with probability ½ each)."""
    if d == 1:
        return np.array([-1.0, 1.0]), np.array([0.5, 0.5])
    x, w = np.polynomial.legendre.leggauss(K)
    theta = (x + 1) * np.pi / 2
    w = w * np.sin(theta) ** (d - 2)
    return np.cos(theta), w / w.sum()


def _radial_rule(d: int, K: int):
    """Nodes and probability weights of |x| ~ χ_d on [0, √d + 9] (Gauss–Legendre; the tail beyond
    has mass < e^{-40})."""
    R = np.sqrt(d) + 9.0
    x, w = np.polynomial.legendre.leggauss(K)
    r = (x + 1) * R / 2
    w = w * np.exp((d - 1) * np.log(r) - r * r / 2)
    return r, w / w.sum()


def _half_normal_rule(K: int):
    """Nodes and weights of t ~ N(0, 1) folded to |t| on [0, 8] (for even integrands; mass beyond < e^{-32})."""
    x, w = np.polynomial.legendre.leggauss(K)
    t = (x + 1) * 4
    w = w * np.exp(-t * t / 2)
    return t, w / w.sum()


def _moments_rule(kind: str, m: int, d: int, K: int) -> np.ndarray:
    if kind == "tanh":  # integrands even in t: fold t to |t|
        rho, wr = _radial_rule(d, K)  # |x| ~ χ_d (and r = |w| ~ χ_d)
        t, wt = _half_normal_rule(K)
        T = np.tanh(np.outer(rho, t))  # (K, K)
        kappa = T**2 @ wt  # E_t tanh(ρt)²
        b = T @ (wt * t)  # E_t tanh(rt) t
        return np.array([wr @ b**2, wr @ (kappa * rho**2), wr @ kappa])
    u, wu = _gen_laguerre(d / 2 - 1, K)
    rho2 = 2 * u  # |x|² ~ χ²_d, (K,)
    c, wc = _cosine_rule(d, K)
    E_rho2 = wu @ rho2  # E|x|²
    if kind == "linear":  # k = ρρ'c, m_φ = 0
        return np.array([E_rho2**2 * (wc @ c**2), wu @ rho2**2, E_rho2])
    # ReLU: κ = ρ²/2 + (m − 1) ρ²/(2π); μ = E ρ²ρ'² c (√(1−c²) + (π − arccos c) c)/(2π) + (m − 1) E ρ²ρ'² c/(2π)
    kernel = (np.sqrt(np.clip(1 - c**2, 0, None)) + (np.pi - np.arccos(np.clip(c, -1, 1))) * c) / (2 * np.pi)
    mu = E_rho2**2 * (wc @ (c * kernel) + (m - 1) * (wc @ c) / (2 * np.pi))
    kap = (0.5 + (m - 1) / (2 * np.pi)) * rho2
    return np.array([mu, wu @ (kap * rho2), wu @ kap])


@lru_cache(maxsize=None)
def moments_by_quadrature(target: Target, d: int) -> tuple[float, float, float, float]:
    """(μ = tr P, ν = tr Q, E f², error) of a rotation-invariant family by the x-conditioned route
    above. Error: 10 × |I_K − I_2K| + 1e-13 × |I| (rounding). K = 32 for linear and ReLU, whose
    integrands are polynomial in |x|² and, in c, polynomial up to odd parts that the symmetric angle
    rule integrates to 0 (so only rounding remains); K = 150 radial and |t| nodes for tanh, where the
    rules converge geometrically, so the difference bounds the finer rule's error, + 1e-13 (1 + d) for
    the truncated tails (E[|t|; |t| > 8] = 2φ(8) ≈ 1e-14 per unit of an integrand bounded by |t|, ρ²
    or 1, with E ρ² = d; the radial tail beyond √d + 9 has mass < e^{-40})."""
    if not target.rotation_invariant:
        raise SettingError("target", f"{target.spec()}: the quadrature route assumes w ~ N(0, I)")
    kind = {"linear": "linear", "tanh": "tanh"}.get(target.kind, "relu")
    K = 150 if kind == "tanh" else 32
    coarse, fine = _moments_rule(kind, target.m, d, K), _moments_rule(kind, target.m, d, 2 * K)
    err = 10 * float(np.abs(fine - coarse).max()) + 1e-13 * float(np.abs(fine).max()) + (1e-13 * (1 + d) if kind == "tanh" else 0)
    return (*map(float, fine), err)
