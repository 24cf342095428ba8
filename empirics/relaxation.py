"""Monte Carlo least squares over *all* one-layer LSA features (shared/THEORY.md, "Reduction").

The LSA read-out is linear in the features M_ab · x_{q,c} (M = (1/n) Σ_i v_i v_iᵀ, v_i = (x_i, y_i),
a ≤ b ≤ d+1, c ≤ d), so the population least-squares fit over these features upper-bounds what any
one-layer LSA can do. Its coefficients on M_{a,d+1} x_{q,c} = g_a x_{q,c} form Γ; the others are the
nuisance terms. Normal equations are accumulated over chunks of prompts generated on the device;
standard errors are heteroscedasticity-robust (HC3 sandwich: residuals scaled by 1/(1 − leverage), MacKinnon &
White 1985), from a second pass over the same chunks. HC3 rather than HC0 because the features are
products of up to six Gaussians: single prompts reach leverage ≈ 0.5 at N = 40 000 (d = n = 1), and
HC0 then underestimates the spread (E[z²] ≈ 1.2–1.35 measured; HC3 ≈ 1.1; tests/test_relaxation.py).
A rank-deficient Gram matrix (fewer prompts than features, collinear features) is an error, not a
pseudo-inverse: the coefficients would not be identified, and Γ̂ would then mean nothing. For the
claims' laws (n ≥ 1, σ² ≥ 0, including n < d and σ² = 0) the features are linearly independent
functions — the task w varies across prompts — so the population Gram matrix is non-singular.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from .sampling import Prompts


@dataclass
class Relaxation:
    gamma: torch.Tensor  # (d, d) coefficients of g_a x_{q,c}
    gamma_se: torch.Tensor  # (d, d) their HC3 standard errors
    nuisance: torch.Tensor  # (K - d²,) all other coefficients
    nuisance_se: torch.Tensor  # (K - d²,)
    n_prompts: int
    condition: float  # condition number of the normalised Gram matrix


def feature_index(d: int):
    """(pairs, is_gamma): the (a, b) with a ≤ b of M in feature order, and which are Γ features."""
    D = d + 1
    pairs = [(a, b) for a in range(D) for b in range(a, D)]
    return pairs, [b == d and a < d for a, b in pairs]


def lsa_features(p: Prompts) -> torch.Tensor:
    """(B, K) features M_ab x_{q,c}; the first d² are the Γ features (row a of Γ, column c)."""
    B, n1, d = p.X.shape
    n = n1 - 1
    V = torch.cat([p.X[:, :n], p.y[:, :n, None]], dim=2)  # (B, n, d+1) demo tokens
    M = V.mT @ V / n  # (B, d+1, d+1)
    pairs, is_gamma = feature_index(d)
    order = [k for k, g in enumerate(is_gamma) if g] + [k for k, g in enumerate(is_gamma) if not g]
    a = torch.tensor([pairs[k][0] for k in order], device=M.device)
    b = torch.tensor([pairs[k][1] for k in order], device=M.device)
    Mab = M[:, a, b]  # (B, P)
    return (Mab[:, :, None] * p.X[:, n, None, :]).reshape(B, -1)  # (B, P·d)


def fit(sample: Callable[[int], Prompts], n_chunks: int) -> Relaxation:
    """Least squares of y_q on :func:`lsa_features` over ``n_chunks`` chunks; ``sample(k)`` must
    return chunk k deterministically (it is called twice per chunk: normal equations, then HC3)."""
    FtF = Fty = None
    count = 0
    for k in range(n_chunks):
        p = sample(k)
        F, y = lsa_features(p), p.y[:, -1]
        FtF = F.mT @ F if FtF is None else FtF + F.mT @ F  # (K, K)
        Fty = F.mT @ y if Fty is None else Fty + F.mT @ y  # (K,)
        count += F.shape[0]
    K = FtF.shape[0]
    scale = FtF.diagonal().sqrt()
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # an all-zero feature stays a zero row
    G = FtF / scale[:, None] / scale[None, :]  # unit-diagonal Gram (equilibrated)
    lam, U = torch.linalg.eigh(G)  # (K,), (K, K)
    rank = int((lam > K * torch.finfo(G.dtype).eps * lam[-1]).sum())
    if rank < K:  # e.g. fewer prompts than features, or a target that makes features collinear
        raise ValueError(f"features: the {K} LSA features have a rank-{rank} Gram matrix over {count} prompts, "
                         "so the relaxation's coefficients are not identified (use more prompts than features; "
                         "check the response is not identically 0)")
    cond = float(lam[-1] / lam[0])
    Ginv = (U / lam) @ U.mT  # (K, K)
    beta = (Ginv @ (Fty / scale)) / scale
    bread = Ginv / scale[:, None] / scale[None, :]  # (FᵀF)⁻¹
    meat = torch.zeros_like(FtF)
    for k in range(n_chunks):
        p = sample(k)
        F = lsa_features(p)
        r = p.y[:, -1] - F @ beta  # (B,)
        h = torch.einsum("bk,kl,bl->b", F, bread, F)  # (B,) leverages f_iᵀ(FᵀF)⁻¹f_i
        Fr = F * (r / (1 - h))[:, None]  # HC3: residuals inflated by 1/(1 − h_i)
        meat += Fr.mT @ Fr
    se = (bread @ meat @ bread).diagonal().clamp_min(0).sqrt()
    d = p.X.shape[2]
    return Relaxation(beta[: d * d].reshape(d, d), se[: d * d].reshape(d, d), beta[d * d:], se[d * d:], count, cond)


def mc_loss(p: Prompts, gamma: torch.Tensor) -> tuple[float, float]:
    """(mean, standard error) of (y_q − gᵀ Γ x_q)² over the prompts."""
    n = p.n
    g = torch.einsum("bi,bia->ba", p.y[:, :n], p.X[:, :n]) / n  # (B, d)
    pred = torch.einsum("ba,ac,bc->b", g, gamma.to(g), p.X[:, n])  # (B,)
    sq = (p.y[:, n] - pred) ** 2
    return float(sq.mean()), float(sq.std() / sq.numel() ** 0.5)


def ridge_bayes_risk(p: Prompts, Sigma_w: torch.Tensor, sigma2: float) -> tuple[float, float]:
    """Monte Carlo Bayes risk of the posterior mean (ridge) with its standard error:
    E[y_q − E(y_q | D)]² = σ² + E[x_qᵀ Cov(w | D) x_q], Cov(w | D) = Σ_w − Σ_w Xᵀ(X Σ_w Xᵀ + σ² I)⁺ X Σ_w."""
    n = p.n
    X, xq = p.X[:, :n], p.X[:, n]  # (B, n, d), (B, d)
    Sw = Sigma_w.to(X)
    K = X @ Sw @ X.mT + sigma2 * torch.eye(n, dtype=X.dtype, device=X.device)  # (B, n, n)
    u = xq @ Sw  # (B, d): Σ_w x_q
    v = torch.einsum("bnd,bd->bn", X, u)  # (B, n): X Σ_w x_q
    if sigma2 > 0:  # K ≻ 0: Cholesky
        sol = torch.cholesky_solve(v[..., None], torch.linalg.cholesky(K))[..., 0]  # (B, n)
    else:  # K may be singular (n > d): pseudo-inverse
        sol = (torch.linalg.pinv(K, hermitian=True) @ v[..., None])[..., 0]
    quad = torch.einsum("bd,bd->b", xq, u) - torch.einsum("bn,bn->b", v, sol)
    risk = sigma2 + quad
    return float(risk.mean()), float(risk.std() / risk.numel() ** 0.5)
