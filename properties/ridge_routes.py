"""Independent routes and Monte Carlo risks for the ridge-family claims (properties/papers: bayes_ridge,
nakkiran, belkin_hsu_xu, hastie, dobriban_wager, wu_bayes). Nothing here reads a claim's closed form.

Routes (exact or 30-digit):
- :func:`eigen_resolvent_sum`: E Σ_{i≤m} 1/(ν_i + λ) over a real Wishart W_m(M, I), m ∈ {1, 2}, by another
  parametrisation of the eigenvalue law than theory.wishart's Pfaffian: m = 1 by the Laplace transform
  E 1/(χ²_M + λ) = ∫ e^{−λt}(1 + 2t)^{−M/2} dt; m = 2 by ν = s(1 ± √u)/2 with s ~ χ²_{2M} independent of
  u ~ Beta(1, (M − 1)/2) (the 2 × 2 Jacobian), the u-integral in closed form, 2F1(1, 1; 1 + (M − 1)/2; ·);
- :func:`inverse_chi2_mean`: E[1/χ²_k] by SymPy's integral of the χ² density (exact rational);
- :func:`minnorm_risk_route`: the min-norm least-squares risk on p isotropic features from the data law:
  Bartlett's decomposition gives 1/(W⁻¹)_ii ~ χ²_{M−m+1} for W ~ W_m(M, I), so E tr W⁻¹ = m E[1/χ²_{M−m+1}];
  the projection onto the row space of an n × p Gaussian design has E P = (n/p) I by rotation invariance.
Monte Carlo: :func:`fixed_beta_prompts` and :func:`ridge_squared_errors` (batched solves, min-norm at λ = 0).
"""
from __future__ import annotations

import math
from functools import lru_cache

import mpmath as mp
import sympy as sp
import torch


def eigen_resolvent_sum(m: int, M: int, lam) -> mp.mpf:
    """E Σ_{i≤m} 1/(ν_i + λ) over the eigenvalues of a real Wishart W_m(M, I), m ∈ {1, 2}, λ > 0, 30 digits."""
    with mp.workdps(30):
        L = mp.mpf(lam)
        if m == 1:  # E e^{−tχ²_M} = (1 + 2t)^{−M/2}
            return mp.quad(lambda t: mp.exp(-L * t) * (1 + 2 * t) ** (-mp.mpf(M) / 2), [0, 1 / L, mp.inf])
        if m != 2:
            raise ValueError(f"m must be 1 or 2, got {m}")
        b = mp.mpf(M - 1) / 2

        def given_s(s):  # E_u[(s + 2λ)/(A² − (s/2)² u)], A = s/2 + λ, u ~ Beta(1, b)
            A = s / 2 + L
            return (s + 2 * L) / A**2 * mp.hyp2f1(1, 1, 1 + b, (s / 2) ** 2 / A**2)

        def density(s):  # χ²_{2M}
            return s ** (M - 1) * mp.exp(-s / 2) / (2**M * mp.gamma(M))

        return mp.quad(lambda s: given_s(s) * density(s), [0, mp.mpf(M) / 2, 2 * M, 4 * M, mp.inf])


def bayes_risk_route(d: int, n: int, sigma2: float, t2: float) -> float:
    """σ² + σ²[(d − m)/λ + E Σ_{i≤m} 1/(ν_i + λ)], λ = σ²/τ², m = min(n, d) ≤ 2 (σ² = 0: the posterior
    variance τ²(d − rank X), rank X = min(n, d) almost surely)."""
    if sigma2 == 0:
        return t2 * (d - min(n, d))
    lam = mp.mpf(sigma2) / t2
    m, M = min(n, d), max(n, d)
    return float(sigma2 * (1 + (d - m) / lam + eigen_resolvent_sum(m, M, lam)))


@lru_cache(maxsize=256)
def inverse_chi2_mean(k: int) -> sp.Rational:
    """E[1/χ²_k] (k ≥ 3) by integrating the χ²_k density against 1/x in SymPy."""
    x = sp.symbols("x", positive=True)
    density = x ** (sp.Rational(k, 2) - 1) * sp.exp(-x / 2) / (2 ** sp.Rational(k, 2) * sp.gamma(sp.Rational(k, 2)))
    return sp.nsimplify(sp.simplify(sp.integrate(density / x, (x, 0, sp.oo))))


def minnorm_risk_parts(p: int, n: int, used2, dropped2, sigma2) -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """(s², variance, bias) of min-norm least squares on p of the isotropic features (β̂ zero elsewhere), whose risk
    E(y_q − x_qᵀβ̂)² is their sum: the used part of β has ‖β_T‖² = used2, the dropped part ‖β_Tᶜ‖² = dropped2, which
    acts as noise of variance s² = dropped2 + σ² independent of the used features; variance s² E tr (X_TᵀX_T)⁻¹
    (p ≤ n − 2) or s² E tr (X_TX_Tᵀ)⁻¹ (p ≥ n + 2), sympy.oo in between unless s² = 0; bias
    ‖β_T‖²(1 − E tr P/p) = ‖β_T‖²(1 − n/p) for p > n, else 0. Exact for rational inputs."""
    s2 = sp.nsimplify(dropped2) + sp.nsimplify(sigma2)
    bias = sp.nsimplify(used2) * (1 - sp.Rational(n, p)) if p > n else sp.Integer(0)
    m, M = min(n, p), max(n, p)
    if s2 == 0:
        variance = sp.Integer(0)
    elif abs(p - n) <= 1:
        variance = sp.oo
    else:
        variance = s2 * m * inverse_chi2_mean(M - m + 1)
    return s2, variance, bias


def minnorm_risk_route(p: int, n: int, used2, dropped2, sigma2) -> sp.Expr:
    """The risk, the sum of :func:`minnorm_risk_parts`."""
    return sum(minnorm_risk_parts(p, n, used2, dropped2, sigma2))


# ---- Monte Carlo ---------------------------------------------------------------------------------
def fixed_beta_prompts(batch: int, n: int, beta: torch.Tensor, sigma2: float, gen: torch.Generator):
    """x_j, x_q ~ N(0, I) (rows 0..n−1: the context, row n: the query), y = xᵀβ + N(0, σ²) with one fixed β.
    Returns X (B, n+1, D), y (B, n+1)."""
    D = beta.numel()
    X = torch.randn(batch, n + 1, D, generator=gen, dtype=torch.float64)  # (B, n+1, D)
    y = X @ beta.to(X) + math.sqrt(sigma2) * torch.randn(batch, n + 1, generator=gen, dtype=torch.float64)  # (B, n+1)
    return X, y


def ridge_squared_errors(X: torch.Tensor, y: torch.Tensor, lam: float, features: int | None = None) -> torch.Tensor:
    """(y_q − x_qᵀβ̂)² with β̂ = ridge (λ > 0) or min-norm least squares (λ = 0) on the first ``features``
    coordinates (all by default), fitted on rows 0..n−1. X (B, n+1, D), y (B, n+1); returns (B,)."""
    n = X.shape[1] - 1
    Xt = X[:, :, :features] if features is not None else X  # (B, n+1, p)
    Xc, yc, xq = Xt[:, :n], y[:, :n, None], Xt[:, n]
    p = Xc.shape[-1]
    if lam > 0 or n >= p:
        A = Xc.mT @ Xc + lam * torch.eye(p, dtype=X.dtype)  # (B, p, p)
        bhat = torch.linalg.solve(A, Xc.mT @ yc)[..., 0]  # (B, p)
    else:  # min-norm: Xᵀ(XXᵀ)⁻¹y
        bhat = (Xc.mT @ torch.linalg.solve(Xc @ Xc.mT, yc))[..., 0]
    return (y[:, n] - (bhat * xq).sum(-1)) ** 2
