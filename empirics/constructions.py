"""Peer constructions: transformer weights that implement gradient descent exactly.

- von Oswald et al. (ICML 2023), Prop. 1: one residual LSA layer with W_K = W_Q = [[I, 0], [0, 0]],
  W_V = [[0, 0], [W₀, −I]] and step η/N maps each label slot y_j to y_j − ΔW x_j, ΔW one GD step on
  (1/2N) Σ ‖W x_i − y_i‖² from W₀; the query (label 0) ends at −ΔW x_q.
- Ahn, Cheng, Daneshmand, Sra (NeurIPS 2023), Lemma 1: L residual linear-attention layers with
  P_ℓ = [[0, 0], [0, 1]], Q_ℓ = −[[A_ℓ, 0], [0, 0]] and mask diag(I_n, 0) give −[Z_L]_{d+1, n+1} =
  x_qᵀ w_L, w_{ℓ+1} = w_ℓ − A_ℓ ∇R(w_ℓ), R(w) = (1/2n) Σ (wᵀx_i − y_i)², w₀ = 0 (A_ℓ symmetric).
Batched over prompts: X (B, n, d), y (B, n), x_q (B, d).
"""
from __future__ import annotations

import torch


def von_oswald_layer(X, y, xq, W0, eta: float):
    """Updated label slots of demos (B, n) and query (B,) after the one-layer construction."""
    B, n, d = X.shape
    D = d + 1
    E = torch.cat([torch.cat([X, y[..., None]], 2), torch.cat([xq, torch.zeros_like(xq[:, :1])], 1)[:, None]], 1)  # (B, n+1, D)
    WK = torch.zeros(D, D, dtype=X.dtype, device=X.device)
    WK[:d, :d] = torch.eye(d, dtype=X.dtype, device=X.device)
    WV = torch.zeros(D, D, dtype=X.dtype, device=X.device)
    WV[d, :d], WV[d, d] = W0, -1.0
    keys = E[:, :n]  # (B, n, D): the demos are the keys and values
    attn = (keys @ WK.T) @ (E @ WK.T).mT  # (B, n, n+1): (W_K e_i)ᵀ (W_Q e_j)
    E_new = E + (eta / n) * attn.mT @ (keys @ WV.T)  # (B, n+1, D)
    return E_new[:, :n, d], E_new[:, n, d]


def gd_step(X, y, W0, eta: float):
    """ΔW (B, d) of one GD step on (1/2N) Σ (W x_i − y_i)² from W₀."""
    resid = X @ W0 - y  # (B, n)
    return -eta * torch.einsum("bn,bnd->bd", resid, X) / X.shape[1]


def ahn_transformer(X, y, xq, A):
    """Read-out −[Z_L]_{d+1, n+1} of the L-layer construction; A (L, d, d) symmetric."""
    B, n, d = X.shape
    Z = torch.cat([torch.cat([X, xq[:, None]], 1), torch.cat([y, torch.zeros_like(y[:, :1])], 1)[..., None]], 2).mT  # (B, d+1, n+1)
    mask = torch.ones(n + 1, dtype=X.dtype, device=X.device)
    mask[n] = 0
    for Al in A:
        Q = torch.zeros(d + 1, d + 1, dtype=X.dtype, device=X.device)
        Q[:d, :d] = -Al
        upd = (Z * mask) @ Z.mT @ Q @ Z / n  # (B, d+1, n+1): Z M Zᵀ Q Z / n
        Z = Z.clone()
        Z[:, d] = Z[:, d] + upd[:, d]  # P keeps only the label row
    return -Z[:, d, n]


def preconditioned_gd(X, y, xq, A):
    """x_qᵀ w_L for w_{ℓ+1} = w_ℓ − A_ℓ ∇R(w_ℓ), w₀ = 0 (the reference the construction must match)."""
    B, n, d = X.shape
    w = torch.zeros(B, d, dtype=X.dtype, device=X.device)
    for Al in A:
        grad = torch.einsum("bn,bnd->bd", torch.einsum("bnd,bd->bn", X, w) - y, X) / n  # (B, d)
        w = w - grad @ Al.T
    return torch.einsum("bd,bd->b", xq, w)
