"""Numeric outputs for order-sensitivity studies (Shen, Mishra & Khashabi, ICML 2024, Theorem 1).

Every function evaluates one demo set under O orderings at once: demos come as X (O, n, d),
y (O, n) — typically :func:`permute_demos` of one set — and test inputs Xq (I, d) shared by all
orderings; outputs are (O, I, 1), the layout :func:`iclgd.properties.order.refute_equivalence`
takes. The model read by the update algorithms is linear, M_w(x_q) = wᵀx_q, from w₀ = 0 by default.

- ICL maps: residual linear self-attention stacks with or without a causal mask (:func:`lsa_outputs`),
  von Oswald et al.'s one-step-GD weights (:func:`gd_construction`);
- update algorithms on ℓ_i(w) = ½(y_i − wᵀx_i)²: full-batch GD (:func:`gd_outputs`), SGD with batch 1
  in demo order (:func:`sgd_outputs`), sequential Adam (:func:`adam_outputs`), prefix-GD
  (:func:`prefix_gd_outputs`, what a causal GD-construction stack implements).

``absolute=True`` runs the same arithmetic on |inputs| with every subtraction turned into an
addition: Higham's p̃(|x|), the magnitude in the rounding bound |fl(p) − p| ≤ γ_N p̃(|x|) that
:func:`iclgd.properties.order.float_tolerance` turns into a tolerance. (For Adam, whose update
divides, the shadow accumulates |Δw_t| — a first-order magnitude, not a bound.)
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import torch


def _t(a, device, dtype) -> torch.Tensor:
    return torch.as_tensor(a, device=device, dtype=dtype)


def permute_demos(X, y, orders, *, device=None, dtype=torch.float64):
    """One demo set (X (n, d), y (n,)) listed in each of O orders (O, n) -> X (O, n, d), y (O, n)."""
    X, y = _t(X, device, dtype), _t(y, device, dtype)
    idx = torch.as_tensor(np.asarray(orders), device=X.device, dtype=torch.long)  # (O, n)
    if idx.ndim != 2 or idx.shape[1] != X.shape[0]:
        raise ValueError(f"orders: expected shape (O, {X.shape[0]}), got {tuple(idx.shape)}")
    if not torch.equal(idx.sort(dim=1).values, torch.arange(X.shape[0], device=X.device).expand_as(idx)):
        raise ValueError("orders: every row must be a permutation of range(n)")
    return X[idx], y[idx]


def _demos(X, y, Xq, device, dtype, absolute):
    X, y, Xq = _t(X, device, dtype), _t(y, device, dtype), _t(Xq, device, dtype)
    if X.ndim != 3 or y.shape != X.shape[:2]:
        raise ValueError(f"X, y: expected (O, n, d) and (O, n), got {tuple(X.shape)}, {tuple(y.shape)}")
    if Xq.ndim != 2 or Xq.shape[1] != X.shape[2]:
        raise ValueError(f"Xq: expected (I, {X.shape[2]}), got {tuple(Xq.shape)}")
    if absolute:
        X, y, Xq = X.abs(), y.abs(), Xq.abs()
    return X, y, Xq


# ---- ICL: residual linear self-attention ---------------------------------------------------
def gd_construction(d: int, lr: float, *, device=None, dtype=torch.float64):
    """von Oswald et al. (2023), Prop. 1 with W₀ = 0: W_Q = W_K = [[I, 0], [0, 0]], W_V = lr·[[0, 0], [0, −1]].

    Returns (W_Q, W_K, W_V), each (d+1, d+1), in the column convention e ↦ W e.
    """
    P = torch.zeros(d + 1, d + 1, device=device, dtype=dtype)
    P[:d, :d] = torch.eye(d, device=device, dtype=dtype)
    V = torch.zeros(d + 1, d + 1, device=device, dtype=dtype)
    V[d, d] = -lr
    return P, P.clone(), V


def lsa_outputs(X, y, Xq, WQ, WK, WV, *, h=None, causal: bool = False, device=None,
                dtype=torch.float64, absolute: bool = False) -> torch.Tensor:
    """ICL outputs hᵀ e_q of a residual LSA stack, for every ordering and test input.

    e_j ← e_j + (1/n) Σ_{i∈keys(j)} (e_iᵀ W_Kᵀ W_Q e_j) W_V e_i, with tokens e_i = (x_i, y_i),
    e_q = (x_q, 0); keys are the demo tokens (position ≤ j with ``causal``). W_* are (D, D) for one
    layer or (L, D, D) for L layers, D = d+1; h (D,) defaults to −e_D (minus the query's label
    slot). X (O, n, d), y (O, n), Xq (I, d) -> (O, I, 1). The same arithmetic as
    :func:`iclgd.theory.order.lsa_readout`.
    """
    X, y, Xq = _demos(X, y, Xq, device, dtype, absolute)
    O, n, d = X.shape
    I, D = Xq.shape[0], d + 1
    Ws = [_t(W, X.device, dtype) for W in (WQ, WK, WV)]
    Ws = [W.unsqueeze(0) if W.ndim == 2 else W for W in Ws]  # (L, D, D)
    if any(W.shape[1:] != (D, D) for W in Ws) or len({W.shape[0] for W in Ws}) != 1:
        raise ValueError(f"WQ, WK, WV: expected (D, D) or (L, D, D) with D={D}")
    if absolute:
        Ws = [W.abs() for W in Ws]
    hv = torch.zeros(D, device=X.device, dtype=dtype) if h is None else _t(h, X.device, dtype)
    if h is None:
        hv[d] = -1.0
    if absolute:
        hv = hv.abs()
    demos = torch.cat([X, y.unsqueeze(-1)], -1)  # (O, n, D)
    query = torch.cat([Xq, torch.zeros(I, 1, device=X.device, dtype=dtype)], -1)  # (I, D)
    Z = torch.cat([demos.unsqueeze(1).expand(O, I, n, D), query.expand(O, I, D).unsqueeze(2)], 2)  # (O, I, n+1, D)
    pos = torch.arange(n + 1, device=X.device)
    mask = (pos[None, :n] <= pos[:, None]) if causal else torch.ones(n + 1, n, dtype=torch.bool, device=X.device)
    mask = mask.to(dtype)  # (n+1, n): query/demo position j × demo key i
    for WQl, WKl, WVl in zip(*Ws):
        q = Z @ WQl.mT  # (O, I, n+1, D)
        k = Z[..., :n, :] @ WKl.mT  # (O, I, n, D)
        v = Z[..., :n, :] @ WVl.mT  # (O, I, n, D)
        scores = (q @ k.mT) * mask  # (O, I, n+1, n)
        Z = Z + scores @ v / n
    return (Z[..., n, :] @ hv).unsqueeze(-1)  # (O, I, 1)


# ---- update algorithms on ½(y − wᵀx)² ----------------------------------------------------
def _w0(w0, O, d, device, dtype, absolute):
    w = torch.zeros(O, d, device=device, dtype=dtype) if w0 is None else _t(w0, device, dtype).expand(O, d).clone()
    return w.abs() if absolute else w


def _read(w, Xq):
    return (w @ Xq.mT).unsqueeze(-1)  # (O, d) @ (d, I) -> (O, I, 1)


def gd_outputs(X, y, Xq, *, lr: float, steps: int = 1, w0=None, device=None, dtype=torch.float64,
               absolute: bool = False) -> torch.Tensor:
    """k steps of full-batch GD on (1/n) Σ_i ℓ_i: w ← w + (lr/n) Xᵀ(y − Xw). (O, I, 1)."""
    X, y, Xq = _demos(X, y, Xq, device, dtype, absolute)
    n, s = X.shape[1], (1.0 if absolute else -1.0)
    w = _w0(w0, X.shape[0], X.shape[2], X.device, dtype, absolute)  # (O, d)
    for _ in range(steps):
        r = y + s * (X @ w.unsqueeze(-1)).squeeze(-1)  # (O, n) residuals y − Xw
        w = w + (abs(lr) if absolute else lr) / n * (X.mT @ r.unsqueeze(-1)).squeeze(-1)  # (O, d)
    return _read(w, Xq)


def sgd_outputs(X, y, Xq, *, lr: float, epochs: int = 1, w0=None, device=None, dtype=torch.float64,
                absolute: bool = False) -> torch.Tensor:
    """SGD with batch size 1, demos in each ordering's order: w ← w + lr (y_i − wᵀx_i) x_i. (O, I, 1)."""
    X, y, Xq = _demos(X, y, Xq, device, dtype, absolute)
    s = 1.0 if absolute else -1.0
    w = _w0(w0, X.shape[0], X.shape[2], X.device, dtype, absolute)  # (O, d)
    for _ in range(epochs):
        for i in range(X.shape[1]):
            r = y[:, i] + s * (X[:, i] * w).sum(-1)  # (O,)
            w = w + (abs(lr) if absolute else lr) * r.unsqueeze(-1) * X[:, i]
    return _read(w, Xq)


def adam_outputs(X, y, Xq, *, lr: float, betas=(0.9, 0.999), eps: float = 1e-8, epochs: int = 1, w0=None,
                 device=None, dtype=torch.float64, absolute: bool = False) -> torch.Tensor:
    """Adam (Kingma & Ba 2015, Algorithm 1), one step per demo in each ordering's order. (O, I, 1).

    ``absolute=True`` returns x_qᵀ-read |w₀| + Σ_t |Δw_t|, a first-order magnitude of the computation.
    """
    X, y, Xq = _demos(X, y, Xq, device, dtype, False)
    b1, b2 = betas
    w = _w0(w0, X.shape[0], X.shape[2], X.device, dtype, False)  # (O, d)
    shadow = w.abs()
    m = torch.zeros_like(w)
    v = torch.zeros_like(w)
    t = 0
    for _ in range(epochs):
        for i in range(X.shape[1]):
            t += 1
            g = -(y[:, i] - (X[:, i] * w).sum(-1)).unsqueeze(-1) * X[:, i]  # (O, d)
            m = b1 * m + (1 - b1) * g
            v = b2 * v + (1 - b2) * g * g
            step = lr * (m / (1 - b1**t)) / ((v / (1 - b2**t)).sqrt() + eps)
            w = w - step
            shadow = shadow + step.abs()
    return _read(shadow, Xq.abs()) if absolute else _read(w, Xq)


def prefix_gd_outputs(X, y, Xq, *, lr: float, rounds: int = 1, device=None, dtype=torch.float64,
                      absolute: bool = False) -> torch.Tensor:
    """Prefix-GD from w₀ = 0 (:func:`iclgd.theory.order.prefix_gd`): each round w ← w + (lr/n) Σ_i r_i x_i
    and r_i ← r_i − (lr/n) Σ_{k≤i} r_k x_kᵀx_i. (O, I, 1)."""
    X, y, Xq = _demos(X, y, Xq, device, dtype, absolute)
    O, n, d = X.shape
    s, a = (1.0, abs(lr)) if absolute else (-1.0, lr)
    G = X @ X.mT  # (O, n, n): G[k, i] = x_kᵀ x_i
    prefix = torch.triu(torch.ones(n, n, device=X.device, dtype=dtype))  # [k, i] = 1 if k ≤ i
    w = torch.zeros(O, d, device=X.device, dtype=dtype)
    r = y  # (O, n)
    for _ in range(rounds):
        w = w + a / n * (X.mT @ r.unsqueeze(-1)).squeeze(-1)
        r = r + s * a / n * (r.unsqueeze(-2) @ (G * prefix)).squeeze(-2)
    return _read(w, Xq)


def across_orderings(fn, X, y, Xq, orders: Sequence[Sequence[int]], *, device=None, dtype=torch.float64,
                     **kw) -> torch.Tensor:
    """``fn`` (one of the functions above) on one demo set X (n, d), y (n,) under each order. (O, I, 1)."""
    Xo, yo = permute_demos(X, y, orders, device=device, dtype=dtype)
    return fn(Xo, yo, Xq, device=device, dtype=dtype, **kw)


def fit_lsa(d: int, n: int, *, generator: torch.Generator, steps: int = 300, batch: int = 256,
            lr: float = 0.05, sigma2: float = 0.0, device=None, dtype=torch.float64,
            init: Optional[float] = 0.1):
    """Train a one-layer (non-causal) LSA on the M1 law with Adam, returning (W_Q, W_K, W_V, h).

    Only used to obtain *trained* weights whose order invariance is then checked; all randomness
    comes from ``generator``.
    """
    from .sampling import sample_prompts

    D = d + 1
    kw = dict(device=device, dtype=dtype)
    params = [(init * torch.randn(D, D, generator=generator, **kw)).requires_grad_() for _ in range(3)]
    h = torch.zeros(D, **kw)
    h[d] = -1.0
    opt = torch.optim.Adam(params, lr=lr)
    for _ in range(steps):
        P = sample_prompts(batch, n, d, generator=generator, sigma2=sigma2, device=device, dtype=dtype)
        X, y, Xq = P.X[:, :n], P.y[:, :n], P.X[:, n]  # (B, n, d), (B, n), (B, d)
        # each prompt is its own "ordering" row; its query is the single test input of that row
        out = _lsa_diag(X, y, Xq, *params, h)
        loss = ((out - P.y[:, n]) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return tuple(p.detach() for p in params) + (h,)


def _lsa_diag(X, y, Xq, WQ, WK, WV, h):
    """One-layer non-causal LSA read-out of B prompts with one query each: (B,)."""
    n = X.shape[1]
    E = torch.cat([X, y.unsqueeze(-1)], -1)  # (B, n, D)
    eq = torch.cat([Xq, torch.zeros_like(Xq[:, :1])], -1)  # (B, D)
    S = E.mT @ (E @ WV.mT) / n  # (B, D, D): Σ_i e_i (W_V e_i)ᵀ / n
    attn = ((eq @ WQ.mT).unsqueeze(1) @ WK @ S).squeeze(1)  # (B, D): (1/n) Σ_i (e_iᵀW_KᵀW_Q e_q) W_V e_i
    return (eq + attn) @ h
