"""Derivations of the closed forms from the model's definition (Mahankali et al., Thms 1–2; M2g).

Prediction ŷ = gᵀ Γ x_q, g = (1/n) Σ_i y_i x_i, y = wᵀx + ε. Conditioning on (w, g), the query
gives L(Γ) = σ² + E[(w − Γᵀg)ᵀ Σ (w − Γᵀg)]
          = σ² + tr(Σ Σ_w) − 2 tr(Σ Γᵀ E[g wᵀ]) + tr(Σ Γᵀ E[g gᵀ] Γ),
a convex quadratic in Γ with Hessian 2 (Σ ⊗ E[g gᵀ]); its stationary point Γ* = E[g gᵀ]⁻¹ E[g wᵀ]
is the global minimum of the Γ class. E[g gᵀ] and E[g wᵀ] come from the Isserlis engine
(:mod:`iclgd.theory.moments`); nothing here reads the closed forms of :mod:`iclgd.theory.lsa`.

Also here: the reduction of full LSA weights (W_K, W_Q, W_V, h) to (Γ, nuisance) and the parity
argument that makes the nuisance uncorrelated with the Γ term (shared/THEORY.md, "Reduction").
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import sympy as sp
from sympy import Identity, MatrixSymbol, Trace

from .moments import SLOT_L, SLOT_R, Lin, Term, expect_w, isserlis, simplify_matrix
from .setting import Setting

n_sym = sp.Symbol("n", positive=True, integer=True)
d_sym = sp.Symbol("d", positive=True, integer=True)
s2_sym = sp.Symbol("sigma2", nonnegative=True)


@dataclass(frozen=True)
class Moments:
    E_gg: sp.MatrixExpr  # E[g gᵀ]  (d, d)
    E_gw: sp.MatrixExpr  # E[g wᵀ]  (d, d)
    E_ww: sp.MatrixExpr  # E[w wᵀ] = Σ_w


def gradient_moments(Sigma, Sigma_w, n, sigma2, d) -> Moments:
    """E[g gᵀ], E[g wᵀ] for x ~ N(0, Σ), w ~ N(0, Σ_w), y = wᵀx + ε, by Isserlis.

    E[g gᵀ | w] = (1/n²)[Σ_{i≠j} E[y_i x_i] E[y_j x_j]ᵀ + Σ_i E[y_i² x_i x_iᵀ]], and
    E[y² x xᵀ | w] = E[(wᵀx)² x xᵀ] + σ² E[x xᵀ] (the cross term is odd in ε).
    """
    I = Identity(d)
    first = isserlis([Lin(I), SLOT_L], Sigma)  # E[(wᵀx) x] = Σ w
    (m,) = first
    cross = [Term(sp.Rational(1) * (n - 1) / n, L=m.L, R=m.L.T)]  # i ≠ j: (Σw)(Σw)ᵀ
    same = isserlis([Lin(I), Lin(I), SLOT_L, SLOT_R], Sigma, coef=1 / sp.sympify(n))
    noise = isserlis([SLOT_L, SLOT_R], Sigma, coef=sigma2 / sp.sympify(n))
    E_gg = expect_w(cross + same + noise, Sigma_w, d)
    E_gw = expect_w([Term(1, L=m.L, R=I)], Sigma_w, d)  # E[E[g|w] wᵀ] = E[Σ w wᵀ]
    return Moments(E_gg, E_gw, Sigma_w)


def loss_expr(mom: Moments, Sigma, Gamma, sigma2):
    """L(Γ) = σ² + tr(Σ Σ_w) − 2 tr(Σ Γᵀ E[g wᵀ]) + tr(Σ Γᵀ E[g gᵀ] Γ)."""
    return sigma2 + Trace(Sigma * mom.E_ww) - 2 * Trace(Sigma * Gamma.T * mom.E_gw) + Trace(
        Sigma * Gamma.T * mom.E_gg * Gamma
    )


# ---- symbolic dimension ----------------------------------------------------------------------
@dataclass(frozen=True)
class Derived:
    E_gg: sp.MatrixExpr
    gamma: sp.MatrixExpr  # Γ* = E[g gᵀ]⁻¹ E[g wᵀ]
    eta: sp.Expr  # Γ* = η · base
    base: sp.MatrixExpr  # I (M1) or Σ⁻¹ (M2)
    loss: sp.Expr  # L(Γ*)
    curvature: sp.Expr  # κ with E[g gᵀ] = κ · (Σ-shaped base); > 0 ⇒ Hessian PD
    stationarity_residual: sp.MatrixExpr  # E[g gᵀ] Γ* − E[g wᵀ]; ZeroMatrix ⇔ ∇L(Γ*) = 0


@lru_cache(maxsize=None)
def derive_m1() -> Derived:
    """Theorem 1 with d symbolic: Σ = Σ_w = I_d gives E[g gᵀ] = κ I, κ = (n+d+1+σ²)/n."""
    d, n, s2 = d_sym, n_sym, s2_sym
    I = Identity(d)
    mom = gradient_moments(I, I, n, s2, d)
    E_gg = simplify_matrix(mom.E_gg)
    kappa = _scalar_multiple(E_gg, I)
    eta = sp.simplify(1 / kappa)
    gamma = eta * I
    loss = sp.simplify(loss_expr(mom, I, gamma, s2).doit())
    resid = simplify_matrix(E_gg * gamma - mom.E_gw)
    return Derived(E_gg, gamma, eta, I, loss, sp.simplify(kappa), resid)


@lru_cache(maxsize=None)
def derive_m2() -> Derived:
    """Theorem 2 with d symbolic and Σ a generic SPD MatrixSymbol, w ~ N(0, Σ⁻¹):
    E[g gᵀ] = κ Σ with the M1 κ, so Γ* = κ⁻¹ Σ⁻¹ and the Hessian 2κ (Σ ⊗ Σ) is PD."""
    d, n, s2 = d_sym, n_sym, s2_sym
    S = MatrixSymbol("Sigma", d, d)
    mom = gradient_moments(S, S.I, n, s2, d)
    sym = {S.T: S, S.I.T: S.I}  # Σ is symmetric
    mom = Moments(*(simplify_matrix(m.subs(sym)).subs(sym) for m in (mom.E_gg, mom.E_gw, mom.E_ww)))
    E_gg = simplify_matrix(mom.E_gg)
    kappa = _scalar_multiple(E_gg, S)
    eta = sp.simplify(1 / kappa)
    gamma = eta * S.I
    loss = sp.simplify(sp.expand(loss_expr(mom, S, gamma, s2).doit().subs(sym)).doit())
    resid = simplify_matrix(E_gg * gamma - mom.E_gw)
    return Derived(E_gg, gamma, eta, S.I, loss, sp.simplify(kappa), resid)


def _scalar_multiple(expr: sp.MatrixExpr, base: sp.MatrixExpr) -> sp.Expr:
    """κ such that expr = κ · base, or raise (E[g gᵀ] must be a multiple of the base)."""
    expr = expr.doit()
    terms = expr.args if isinstance(expr, sp.MatAdd) else (expr,)
    kappa = sp.Integer(0)
    for t in terms:
        coeff, mat = t.as_coeff_mmul()
        mat = mat.doit()
        if mat != base:
            raise ValueError(f"E[g gᵀ] term {t} is not a multiple of {base}")
        kappa += coeff
    return sp.simplify(kappa)


# ---- concrete dimension, exact rationals ---------------------------------------------------------
@dataclass(frozen=True)
class ExactOptimum:
    gamma: sp.Matrix  # Γ* solved from ∇L = 0
    loss: sp.Expr  # L(Γ*)
    hessian: sp.Matrix  # ∂²L/∂vec(Γ)², constant
    hessian_pd: bool
    E_gg: sp.Matrix
    E_gw: sp.Matrix


def exact_optimum(Sigma: sp.Matrix, Sigma_w: sp.Matrix, n, sigma2) -> ExactOptimum:
    """Solve the stationarity equations of L(Γ) over all d×d Γ exactly and test the Hessian."""
    d = Sigma.shape[0]
    S, Sw = sp.ImmutableMatrix(Sigma), sp.ImmutableMatrix(Sigma_w)
    mom = gradient_moments(S, Sw, n, sigma2, d)
    E_gg, E_gw = sp.Matrix(mom.E_gg.doit()), sp.Matrix(mom.E_gw.doit())
    G = sp.Matrix(d, d, lambda i, j: sp.Symbol(f"G_{i}{j}"))
    L = sp.expand(sp.sympify(loss_expr(Moments(E_gg, E_gw, Sw), S, G, sigma2).doit()))
    vars_ = list(G)
    sol = sp.solve([sp.diff(L, v) for v in vars_], vars_, dict=True)
    if len(sol) != 1:
        raise ArithmeticError(f"stationarity has {len(sol)} solutions; expected exactly one")
    gamma = G.subs(sol[0])
    H = sp.hessian(L, vars_)
    return ExactOptimum(gamma, sp.nsimplify(L.subs(sol[0])), H, bool(H.is_positive_definite), E_gg, E_gw)


# ---- numeric evaluation of the derived loss (for property checks) ----------------------------
def derived_moments_numeric(Sigma: np.ndarray, Sigma_w: np.ndarray, n: int, sigma2: float):
    """(E[g gᵀ], E[g wᵀ]) evaluated from the derived symbolic expressions (not the closed forms)."""
    (S, Sw), mom = _symbolic_moments()
    env = {S: np.asarray(Sigma, float), Sw: np.asarray(Sigma_w, float), n_sym: n, s2_sym: sigma2,
           d_sym: len(Sigma)}
    return _evaluate(mom.E_gg, env), _evaluate(mom.E_gw, env)


@lru_cache(maxsize=None)
def _symbolic_moments():
    S, Sw = MatrixSymbol("S", d_sym, d_sym), MatrixSymbol("Sw", d_sym, d_sym)
    return (S, Sw), gradient_moments(S, Sw, n_sym, s2_sym, d_sym)


def _evaluate(e, env):
    """Evaluate a SymPy matrix/scalar expression tree numerically with NumPy."""
    if e in env:
        return env[e]
    if isinstance(e, sp.Identity):
        return np.eye(int(_evaluate(e.rows, env)))
    if isinstance(e, sp.ZeroMatrix):
        k = int(_evaluate(e.rows, env))
        return np.zeros((k, k))
    if isinstance(e, sp.Number):
        return float(e)
    if isinstance(e, (sp.MatAdd, sp.Add)):
        return sum(_evaluate(a, env) for a in e.args)
    if isinstance(e, (sp.MatMul, sp.Mul)):
        out = 1.0
        for a in e.args:
            v = _evaluate(a, env)
            out = out @ v if isinstance(out, np.ndarray) and isinstance(v, np.ndarray) else out * v
        return out
    if isinstance(e, sp.Pow):
        return _evaluate(e.base, env) ** _evaluate(e.exp, env)
    if isinstance(e, sp.Transpose):
        return _evaluate(e.arg, env).T
    if isinstance(e, sp.Inverse):
        return np.linalg.inv(_evaluate(e.arg, env))
    if isinstance(e, Trace):
        return float(np.trace(_evaluate(e.arg, env)))
    raise TypeError(f"cannot evaluate {type(e).__name__}: {e}")


def loss_pieces(setting: Setting):
    """(Σ, E[g gᵀ], E[g wᵀ] (or P), tr(ΣΣ_w) (or E f²)): the coefficients of the quadratic L(Γ)."""
    from .nonlinear import moments
    from .targets import parse_target

    target = parse_target(setting.target, setting.d)
    if target.kind == "linear" and setting.target == "linear":
        Sigma, Sigma_w = setting.Sigma, setting.Sigma_w
        E_gg, E_gw = derived_moments_numeric(Sigma, Sigma_w, setting.n, setting.sigma2)
        return Sigma, E_gg, E_gw, float(np.trace(Sigma @ Sigma_w))
    # nonlinear family with x ~ N(0, I): E[g wᵀ]-role is played by P, E f² by tr-free constant
    P, Q, Ef2 = moments(target, setting.d)
    P, Q = np.array(P, dtype=float), np.array(Q, dtype=float)
    n = setting.n
    E_gg = ((n - 1) * P + Q + setting.sigma2 * np.eye(setting.d)) / n
    return np.eye(setting.d), E_gg, P, float(Ef2)


def population_loss(setting: Setting, Gamma: np.ndarray) -> float:
    """Exact population loss L(Γ) of the Γ-predictor, from derived moments (any Setting target).

    For targets y = f(x), x ~ N(0, I), the roles are E[g wᵀ] → P and tr(ΣΣ_w) → E f²
    (see :mod:`iclgd.theory.nonlinear`). ``setting.cov_w`` is the prior as given (None = I).
    """
    Gamma = np.asarray(Gamma, float)
    if Gamma.shape != (setting.d, setting.d):
        raise ValueError(f"Gamma: shape {Gamma.shape} does not match d={setting.d}")
    Sigma, E_gg, E_gw, const = loss_pieces(setting)
    return float(
        setting.sigma2 + const - 2 * np.trace(Sigma @ Gamma.T @ E_gw) + np.trace(Sigma @ Gamma.T @ E_gg @ Gamma)
    )


def population_loss_grad(setting: Setting, Gamma: np.ndarray) -> np.ndarray:
    """∂L/∂Γ = 2 (E[g gᵀ] Γ − E[g wᵀ]) Σ."""
    Sigma, E_gg, E_gw, _ = loss_pieces(setting)
    return 2 * (E_gg @ np.asarray(Gamma, float) - E_gw) @ Sigma


# ---- LSA weights → (Γ, nuisance), and the parity argument ----------------------------------
def lsa_readout(WK, WQ, WV, h, tokens_moment, xq):
    """ŷ = hᵀ W_V M W_Kᵀ W_Q v_q, M = (1/n) Σ v_i v_iᵀ ((d+1)×(d+1)), v_q = (x_q, 0)."""
    vq = sp.Matrix.vstack(sp.Matrix(xq), sp.zeros(1, 1))
    return (sp.Matrix(h).T * WV * tokens_moment * WK.T * WQ * vq)[0, 0]


def reduce_weights(WK, WQ, WV, h):
    """(Γ, u_x, u_y, G_x, g_y) with u = W_Vᵀh, G = (W_KᵀW_Q)[:, :d] = [G_x; g_yᵀ],
    Γ = u_y G_x + u_x g_yᵀ (THEORY.md, Reduction)."""
    d = WK.shape[0] - 1
    u = WV.T * sp.Matrix(h)
    G = (WK.T * WQ)[:, :d]
    u_x, u_y, G_x, g_y = u[:d, :], u[d, 0], G[:d, :], G[d, :].T
    return u_y * G_x + u_x * g_y.T, u_x, u_y, G_x, g_y


def reduced_readout(WK, WQ, WV, h, tokens_moment, xq):
    """gᵀΓx_q + [u_xᵀ S_xx G_x x_q + u_y s_yy g_yᵀ x_q]: the Γ term and the nuisance bracket."""
    d = WK.shape[0] - 1
    Gamma, u_x, u_y, G_x, g_y = reduce_weights(WK, WQ, WV, h)
    xq = sp.Matrix(xq)
    S_xx, g, s_yy = tokens_moment[:d, :d], tokens_moment[:d, d], tokens_moment[d, d]
    gamma_term = (g.T * Gamma * xq)[0, 0]
    nuisance = (u_x.T * S_xx * G_x * xq)[0, 0] + u_y * s_yy * (g_y.T * xq)[0, 0]
    return gamma_term, nuisance


def weights_for(Gamma: sp.Matrix):
    """LSA weights attaining the Γ-predictor with zero nuisance: W_K = W_V = I, h = e_{d+1},
    W_Q = diag(Γ, 0). So the Γ-class optimum is attained, and is the optimum over all weights."""
    d = Gamma.shape[0]
    WQ = sp.zeros(d + 1, d + 1)
    WQ[:d, :d] = Gamma
    h = sp.zeros(d + 1, 1)
    h[d, 0] = 1
    return sp.eye(d + 1), WQ, sp.eye(d + 1), h
