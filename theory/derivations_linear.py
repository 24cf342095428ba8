"""Derivations from the data laws of the linear-regression claims in theory/papers (ZFB, ZFB-length,
Wu-length, GD-average, OLS, vO-uniform, Fu-Newton, M2m), not from their stated formulas (nothing here imports
:mod:`iclgd.theory.papers`): the routes their exact checks compare against.

- Length claims (ZFB, ZFB-length, Wu-length): the Γ-predictor's risk at test length M is
  L_M(Γ) = σ² + tr(ΣΣ_w) − 2 tr(Σ Γᵀ E[g wᵀ]) + tr(Σ Γᵀ E_M[g gᵀ] Γ) with E_M[g gᵀ] from the Isserlis
  engine at n = M. For Σ_w = ψ² I every moment is a function of Σ = Λ, so the risk is a sum over Λ's
  eigenvalues of one scalar function of (λ, t = tr Λ) — symbolic in d (:func:`length_spectral`).
- GD-average: L(Γ = I) from the engine with d symbolic.
- OLS: noiseless, ψ² tr(I − X⁺X) on one Gaussian instance of X in exact rationals (the value is the same
  for almost every X); with noise, σ²(1 + tr E[(XᵀX)⁻¹]) where
  each diagonal entry of (XᵀX)⁻¹ is 1/χ²_{n−d+1} (Schur complement of a Wishart matrix, Muirhead
  1982, Thm 3.2.10), whose mean SymPy integrates against the χ² density.
- vO-uniform: moments of U(−a, a) integrated by SymPy; E[‖x‖² x xᵀ] by independence of the
  coordinates (Isserlis does not apply), concrete d in exact rationals and symbolic d.
- Fu-Newton: I − S M_{k+1} = (I − S M_k)² in the free (non-commutative) algebra, hence by induction
  I − S M_k = (I − αS²)^{2^k}.
- M2m: the engine's terms with a non-centred prior w ~ N(β, Σ_w): odd terms in w would see β; the
  moments E[g gᵀ], E[g wᵀ] have none, so they depend on the prior only through Ω = Σ_w + ββᵀ.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp
from sympy import Identity, MatrixSymbol, Trace

from .derivation import Moments, d_sym, gradient_moments, loss_expr, n_sym, s2_sym, simplify_matrix
from .moments import SLOT_L, SLOT_R, Lin, Term, isserlis

lam_sym = sp.Symbol("lambda", positive=True)  # an eigenvalue of Λ
t_sym = sp.Symbol("t", positive=True)  # tr Λ
M_sym = sp.Symbol("M", positive=True, integer=True)  # test length
psi2_sym = sp.Symbol("psi2", positive=True)


def tidy(x):
    """``x`` simplified, unless it is already rational (a number or a matrix of numbers): exact rational
    arithmetic needs no simplification, and SymPy's is slow."""
    if isinstance(x, sp.MatrixBase):
        return x if all(v.is_Rational for v in x) else sp.simplify(x)
    x = sp.sympify(x)
    return x if x.is_Rational else sp.simplify(x)


# ---- spectral reduction --------------------------------------------------------------------
def spectral(expr, S: MatrixSymbol, lam=lam_sym, t=t_sym):
    """The scalar f(λ) of a matrix expression f(Λ) built from Λ = S, I, scalars and tr Λ (→ t)."""
    if expr == S or expr == S.T:
        return lam
    if isinstance(expr, Identity):
        return sp.Integer(1)
    if isinstance(expr, sp.ZeroMatrix):
        return sp.Integer(0)
    if isinstance(expr, Trace):
        if expr.arg in (S, S.T):
            return t
        raise ValueError(f"spectral: trace of {expr.arg} is not tr Λ")
    if isinstance(expr, sp.Transpose):
        return spectral(expr.arg, S, lam, t)
    if isinstance(expr, sp.Inverse):
        return 1 / spectral(expr.arg, S, lam, t)
    if isinstance(expr, (sp.MatAdd, sp.Add)):
        return sp.Add(*(spectral(a, S, lam, t) for a in expr.args))
    if isinstance(expr, (sp.MatMul, sp.Mul)):
        return sp.Mul(*(spectral(a, S, lam, t) for a in expr.args))
    if isinstance(expr, (sp.MatPow, sp.Pow)):
        return spectral(expr.args[0], S, lam, t) ** expr.args[1]
    if isinstance(expr, sp.Expr) and not expr.free_symbols & {lam}:
        if isinstance(expr, sp.MatrixExpr):
            raise ValueError(f"spectral: cannot reduce {expr}")
        return expr
    raise ValueError(f"spectral: cannot reduce {type(expr).__name__}: {expr}")


@dataclass(frozen=True)
class LengthSpectral:
    """Per-eigen-direction pieces for x ~ N(0, Λ), w ~ N(0, ψ² I): E_n[g gᵀ] ↦ e_gg(λ; n), E[g wᵀ] ↦
    e_gw(λ), Γ_N* ↦ γ_N(λ) = e_gw/e_gg(λ; N), and the risk at length M of any spectral Γ, γ(λ):
    R_M = σ² + Σ_i r_M(λ_i, γ(λ_i)), r_M = ψ²λ − 2λγ e_gw + λγ² e_gg(λ; M)."""

    e_gg: sp.Expr  # in λ, t, n, ψ², σ²
    e_gw: sp.Expr
    gamma_N: sp.Expr  # in λ, t, N(= n), ψ², σ²

    def r(self, gamma, M):
        lam = lam_sym
        return sp.simplify(psi2_sym * lam - 2 * lam * gamma * self.e_gw + lam * gamma**2 * self.e_gg.subs(n_sym, M))


@lru_cache(maxsize=None)
def length_spectral() -> LengthSpectral:
    """The engine's E[g gᵀ], E[g wᵀ] for Σ = Λ (symbolic d), Σ_w = ψ² I, reduced spectrally."""
    d = d_sym
    S = MatrixSymbol("Lambda", d, d)
    mom = gradient_moments(S, psi2_sym * Identity(d), n_sym, s2_sym, d)
    e_gg = sp.simplify(spectral(simplify_matrix(mom.E_gg), S))
    e_gw = sp.simplify(spectral(simplify_matrix(mom.E_gw), S))
    return LengthSpectral(e_gg, e_gw, sp.simplify(e_gw / e_gg))


def spectral_total(f, lams):
    """Σ_i f(λ_i) with t = Σ λ_i (f a SymPy expression in λ, t)."""
    t = sum(lams)
    return sp.Add(*(f.subs({lam_sym: l, t_sym: t}) for l in lams))


# ---- concrete matrices, exact -----------------------------------------------------------------
def moments_exact(Sigma: sp.Matrix, Sigma_w: sp.Matrix, n, sigma2) -> Moments:
    """E[g gᵀ], E[g wᵀ], Σ_w as explicit matrices from the engine (concrete d)."""
    S, Sw = sp.ImmutableMatrix(Sigma), sp.ImmutableMatrix(Sigma_w)
    mom = gradient_moments(S, Sw, n, sigma2, Sigma.shape[0])
    return Moments(sp.Matrix(mom.E_gg.doit()), sp.Matrix(mom.E_gw.doit()), sp.Matrix(Sw))


def optimum_exact(Sigma, Sigma_w, n, sigma2) -> sp.Matrix:
    """Γ* = E[g gᵀ]⁻¹ E[g wᵀ] (the stationary point of the convex L(Γ); Hessian 2 Σ ⊗ E[g gᵀ])."""
    mom = moments_exact(Sigma, Sigma_w, n, sigma2)
    return tidy(mom.E_gg.inv() * mom.E_gw)


def risk_at_length_exact(Sigma, Sigma_w, M, sigma2, Gamma) -> sp.Expr:
    """L_M(Γ) for ŷ = gᵀ Γ x_q, g averaged over M test demonstrations (engine moments at n = M)."""
    mom = moments_exact(Sigma, Sigma_w, M, sigma2)
    return tidy(sp.expand(sp.sympify(loss_expr(mom, sp.ImmutableMatrix(Sigma), sp.ImmutableMatrix(Gamma),
                                                       sigma2).doit())))


# ---- GD-average -----------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def derive_gd_average() -> sp.Expr:
    """L(Γ = I) for x, w ~ N(0, I_d), d symbolic."""
    d = d_sym
    I = Identity(d)
    mom = gradient_moments(I, I, n_sym, s2_sym, d)
    return sp.simplify(sp.sympify(loss_expr(mom, I, I, s2_sym).doit()))


# ---- OLS ---------------------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def inverse_chi2_mean() -> sp.Expr:
    """E[1/χ²_k] = ∫ x⁻¹ p_k(x) dx, k symbolic (finite for k > 2)."""
    x, k = sp.Symbol("x", positive=True), sp.Symbol("k", positive=True)
    density = x ** (k / 2 - 1) * sp.exp(-x / 2) / (2 ** (k / 2) * sp.gamma(k / 2))
    return sp.simplify(sp.integrate(density / x, (x, 0, sp.oo), conds="none")), k


@lru_cache(maxsize=None)
def derive_ols_noisy() -> sp.Expr:
    """Risk of minimum-norm least squares with noise, n > d + 1, d and n symbolic, x, w ~ N(0, I).

    ŵ − w = (XᵀX)⁻¹Xᵀε (w drops out), so the risk is σ² + σ² tr E[(XᵀX)⁻¹] = σ²(1 + d·E[1/χ²_{n−d+1}])."""
    mean, k = inverse_chi2_mean()
    return sp.simplify(s2_sym * (1 + d_sym * mean.subs(k, n_sym - d_sym + 1)))


def ols_noiseless_instance(d: int, n: int, psi2=1, seed: int = 0) -> sp.Expr:
    """Noiseless risk of minimum-norm least squares for x ~ N(0, I), w ~ N(0, ψ² I), computed on one instance.

    y = Xw gives ŵ = X⁺Xw, and x_q ~ N(0, I), w independent of X, so the risk is E‖(I − X⁺X)w‖² =
    ψ² E tr(I − X⁺X). I − X⁺X projects onto ker X, whose dimension is the same for almost every Gaussian X;
    so the expectation is the value at one Gaussian draw (6 decimals, seeded), computed here in exact
    rationals by SymPy's pseudo-inverse. Nothing about rank is assumed: a draw of lower rank would show."""
    rng = np.random.default_rng([seed, d, n])
    X = sp.Matrix(n, d, [sp.Rational(round(v * 10**6), 10**6) for v in rng.standard_normal(n * d)])
    P = X.pinv() * X
    return sp.nsimplify(psi2) * (sp.eye(d) - P).trace()


# ---- vO-uniform -----------------------------------------------------------------------------------
a_sym = sp.Symbol("a", positive=True)


@lru_cache(maxsize=None)
def uniform_moment(p: int, a=a_sym) -> sp.Expr:
    """E[x^p] for x ~ U(−a, a), by integration."""
    x = sp.Symbol("x", real=True)
    return sp.simplify(sp.integrate(x**p / (2 * a), (x, -a, a)))


def _product_moment(powers: dict, a) -> sp.Expr:
    """E[∏_i x_i^{p_i}] for independent U(−a, a) coordinates."""
    out = sp.Integer(1)
    for p in powers.values():
        out *= uniform_moment(p, a)
    return out


def uniform_moments_exact(d: int, n, a, sigma2=0) -> Moments:
    """E[g gᵀ], E[g wᵀ] for x with i.i.d. U(−a, a) coordinates, w ~ N(0, I), concrete d.

    E[g gᵀ] = ((n−1)/n) E[x xᵀ] E[w wᵀ] E[x xᵀ] + (1/n) E[(wᵀx)² x xᵀ] + (σ²/n) E[x xᵀ], and
    E_w[(wᵀx)²] = ‖x‖² (w ~ N(0, I)), so E[(wᵀx)² x xᵀ]_{ik} = Σ_j E[x_i x_k x_j²] by independence."""
    C = sp.Matrix(d, d, lambda i, k: _product_moment(_powers(i, k), a))  # E[x xᵀ]
    Q = sp.zeros(d, d)
    for i in range(d):
        for k in range(d):
            Q[i, k] = sum(_product_moment(_powers(i, k, j, j), a) for j in range(d))
    E_gg = (sp.sympify(n) - 1) / n * C * C + Q / n + sigma2 / sp.sympify(n) * C
    return Moments(tidy(E_gg), C, sp.eye(d))


def _powers(*idx) -> dict:
    out: dict = {}
    for i in idx:
        out[i] = out.get(i, 0) + 1
    return out


@lru_cache(maxsize=None)
def derive_uniform_symbolic() -> tuple[sp.Expr, sp.Expr]:
    """(η*, L*) with d symbolic: E[x xᵀ] = s² I, E[‖x‖² x xᵀ] = (m₄ + (d − 1) s⁴) I (off-diagonal
    terms contain an odd power of some coordinate: 0), so E[g gᵀ] = κ I and Γ* = (s²/κ) I."""
    d, n, s2 = d_sym, n_sym, s2_sym
    var, m4 = uniform_moment(2), uniform_moment(4)
    kappa = ((n - 1) * var**2 + m4 + (d - 1) * var**2 + s2 * var) / n
    eta = sp.simplify(var / kappa)
    loss = sp.simplify(s2 + d * var - 2 * eta * d * var**2 + eta**2 * d * var * kappa)  # σ² + E‖w − ηg‖²_{s²I}
    return eta, loss


def loss_from_moments(mom: Moments, Sigma: sp.Matrix, Gamma: sp.Matrix, sigma2) -> sp.Expr:
    """L(Γ) = σ² + tr(Σ E[wwᵀ]) − 2 tr(Σ Γᵀ E[g wᵀ]) + tr(Σ Γᵀ E[g gᵀ] Γ) — valid for any law of x
    with covariance Σ, independent query (conditioning on (w, g))."""
    return tidy(sigma2 + (Sigma * mom.E_ww).trace() - 2 * (Sigma * Gamma.T * mom.E_gw).trace()
                       + (Sigma * Gamma.T * mom.E_gg * Gamma).trace())


# ---- Fu-Newton ------------------------------------------------------------------------------------
def newton_step_identity() -> sp.Expr:
    """(I − S M(2I − S M)) − (I − S M)² in the free algebra (S, M non-commuting): 0 proves
    I − S M_{k+1} = (I − S M_k)² for every d; with M₀ = αS, I − S M₀ = I − αS²."""
    S, M = sp.symbols("S M", commutative=False)
    return sp.expand((1 - S * M * (2 - S * M)) - (1 - S * M) ** 2)


# ---- M2m ------------------------------------------------------------------------------------------
def gradient_terms(Sigma, n, sigma2, d):
    """The engine's Terms of E[g gᵀ | w] and E[g | w] (before the expectation over w)."""
    I = Identity(d) if isinstance(d, sp.Symbol) else sp.ImmutableMatrix(sp.eye(d))
    (m,) = isserlis([Lin(I), SLOT_L], Sigma)  # E[(wᵀx) x | w] = Σ w
    cross = [Term(sp.Rational(1) * (n - 1) / n, L=m.L, R=m.L.T)]
    same = isserlis([Lin(I), Lin(I), SLOT_L, SLOT_R], Sigma, coef=1 / sp.sympify(n))
    noise = isserlis([SLOT_L, SLOT_R], Sigma, coef=sigma2 / sp.sympify(n))
    return cross + same + noise, [Term(1, L=m.L, R=I)], m


def expect_w_mean(terms, Sigma_w: sp.Matrix, beta: sp.Matrix) -> sp.Matrix:
    """E_w over w ~ N(β, Σ_w) of Terms of degree ≤ 2 (odd degrees included: E[w] = β)."""
    d = Sigma_w.shape[0]
    Om = Sigma_w + beta * beta.T  # E[w wᵀ]
    total = sp.zeros(d, d)
    for t in terms:
        if t.mid is not None:
            scal = (sp.Matrix(t.quads[0]) * Om).trace() if t.quads else 1
            total += t.coef * scal * sp.Matrix(t.mid)
        elif t.L is not None and t.R is not None:
            total += t.coef * sp.Matrix(t.L) * Om * sp.Matrix(t.R)
        elif t.L is not None:  # L w (a column) times a constant row: never produced by the engine
            raise ValueError("expect_w_mean: a lone left factor needs its partner")
    return total


def m2m_exact(Sigma: sp.Matrix, Sigma_w: sp.Matrix, beta: sp.Matrix, n, sigma2):
    """(Γ_Γ, L_Γ, L_β, odd): the best Γ-predictor for w ~ N(β, Σ_w) and its loss; the optimal loss
    of GD from β (the residual task w − β ~ N(0, Σ_w), so the centred engine); ``odd`` counts
    engine terms of odd degree in w (0 ⇒ the Γ class sees only Ω = Σ_w + ββᵀ)."""
    d = Sigma.shape[0]
    S = sp.ImmutableMatrix(Sigma)
    terms, gw_terms, _ = gradient_terms(S, n, sigma2, d)
    odd = sum((2 * len(t.quads) + (t.L is not None) + (t.R is not None)) % 2 for t in terms)
    E_gg = expect_w_mean(terms, Sigma_w, beta)
    E_gw = sp.Matrix(S) * (Sigma_w + beta * beta.T)  # E[E[g | w] wᵀ] = Σ E[w wᵀ]
    mom = Moments(E_gg, E_gw, Sigma_w + beta * beta.T)
    G = tidy(E_gg.inv() * E_gw)
    L_gamma = loss_from_moments(mom, sp.Matrix(S), G, sigma2)
    centred = moments_exact(Sigma, Sigma_w, n, sigma2)
    Gb = centred.E_gg.inv() * centred.E_gw
    L_beta = loss_from_moments(centred, sp.Matrix(S), Gb, sigma2)
    return G, L_gamma, L_beta, odd


def m2m_loss_numeric(Sigma: np.ndarray, Sigma_w: np.ndarray, beta: np.ndarray, n: int, sigma2: float,
                     Gamma: np.ndarray) -> tuple[float, float]:
    """(loss of gᵀΓx_q, loss of βᵀx_q + g_βᵀΓx_q) for w ~ N(β, Σ_w), from the engine's moment
    formulas evaluated numerically (E[g gᵀ] linear in the second moment of the prior)."""
    from .derivation import derived_moments_numeric

    Om = Sigma_w + np.outer(beta, beta)
    out = []
    for P in (Om, Sigma_w):
        E_gg, E_gw = derived_moments_numeric(Sigma, P, n, sigma2)
        out.append(float(sigma2 + np.trace(Sigma @ P) - 2 * np.trace(Sigma @ Gamma.T @ E_gw)
                         + np.trace(Sigma @ Gamma.T @ E_gg @ Gamma)))
    return out[0], out[1]
