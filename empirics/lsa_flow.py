"""Gradient flow of one linear self-attention layer on ALL its weights, on the exact population loss
(Zhang, Frei & Bartlett, JMLR 2024, §3.2: f(E) = E + W^{PV} E · (Eᵀ W^{KQ} E) / N, ŷ = [f(E)]_{d+1, N+1}).

Prompt E = [[x_1 … x_N, x_q], [y_1 … y_N, 0]] ((D, N+1), D = d+1); the query column is inside
S = E Eᵀ / N, as in ZFB (the same model as :class:`iclgd.empirics.models.LSA` with ``include_query=True``,
W_V = W^{PV}, h = e_D, W_Kᵀ W_Q = W^{KQ}). Law: x_i, x_q ~ N(0, Λ) i.i.d., w ~ N(β, I), y_i = wᵀx_i
(ZFB: β = 0; β ≠ 0 breaks the symmetry w → −w that makes their manifold invariant).

ŷ = e_Dᵀ W^{PV} S W^{KQ} (x_q, 0) = ⟨T, φ⟩ with features φ_abc = S_ab x_q,c and weights
T_abc = W^{PV}_{D,a} W^{KQ}_{b,c} (c ≤ d; the other rows of W^{PV} and the last column of W^{KQ} never
reach ŷ, so their gradient is 0 by the model's form). Hence L = E(ŷ − y_q)² = Tᵀ F T − 2 Tᵀ c + E y_q²
with F = E[φ φᵀ], c = E[φ y_q] — exact Gaussian moments (Isserlis, and Stein's identity for β), no sampling.
The loss is the suite's E(ŷ − y)² (ZFB's has a factor ½: the same flow at half the speed).

The moments are built from integer-valued moment tensors of (1, w) and from the query's covariance, whose
label row is exactly 0, so at β = 0 every moment that is odd in w is exactly 0.0 in float64 (IEEE x·0 = 0):
rounding alone cannot move a weight the symmetry keeps at 0. No theory is imported.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np


def gaussian_moment(mu: np.ndarray, Q: np.ndarray, k: int) -> np.ndarray:
    """E[X_{i1} ⋯ X_{ik}] for X ~ N(mu, Q), as a k-index tensor, by Stein's identity
    E[X_1 f(X)] = mu_1 E f + Σ_j Q_1j E[∂_j f]."""
    if k == 0:
        return np.array(1.0)
    if k == 1:
        return np.array(mu, dtype=float)
    out = np.multiply.outer(mu, gaussian_moment(mu, Q, k - 1))  # (n,)*k: the mean of X_1
    lower = np.multiply.outer(Q, gaussian_moment(mu, Q, k - 2))  # (n,)*k: X_1 paired with X_2
    for j in range(1, k):
        out = out + np.moveaxis(lower, 1, j)  # X_1 paired with X_{j+1}
    return out


@dataclass(frozen=True)
class FeatureMoments:
    F: np.ndarray  # (D²d, D²d) E[φ φᵀ], φ = vec(S_ab x_q,c) in (a, b, c) order
    c: np.ndarray  # (D²d,) E[φ y_q]
    y2: float  # E y_q²
    d: int

    def weights(self, W_PV: np.ndarray, W_KQ: np.ndarray) -> np.ndarray:
        """T_abc = W^{PV}_{D,a} W^{KQ}_{b,c}, flattened (D²d,): the only form in which the weights reach ŷ."""
        return np.outer(W_PV[-1], W_KQ[:, : self.d]).ravel()

    def loss(self, W_PV: np.ndarray, W_KQ: np.ndarray) -> float:
        T = self.weights(W_PV, W_KQ)
        return float(T @ self.F @ T - 2 * T @ self.c + self.y2)

    def dL_dT(self, W_PV: np.ndarray, W_KQ: np.ndarray) -> np.ndarray:
        """∂L/∂T = 2 (F T − c), shaped (D, D, d)."""
        D = self.d + 1
        return (2 * (self.F @ self.weights(W_PV, W_KQ) - self.c)).reshape(D, D, self.d)

    def grad(self, W_PV: np.ndarray, W_KQ: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(∂L/∂W^{PV}, ∂L/∂W^{KQ}), each (D, D); zero where an entry never reaches ŷ."""
        d, D = self.d, self.d + 1
        R = self.dL_dT(W_PV, W_KQ).reshape(D, D * d)
        g_PV, g_KQ = np.zeros((D, D)), np.zeros((D, D))
        g_PV[-1] = R @ W_KQ[:, :d].ravel()
        g_KQ[:, :d] = (W_PV[-1] @ R).reshape(D, d)
        return g_PV, g_KQ

    def hessian(self, W_PV: np.ndarray, W_KQ: np.ndarray) -> np.ndarray:
        """∂²L over (p, vec K) — the entries that reach ŷ — ((D + Dd), (D + Dd)): 2 Jᵀ F J + the coupling
        ∂²T_abc/∂p_a∂K_bc = 1 weighted by ∂L/∂T_abc, J = ∂T/∂(p, vec K)."""
        d, D = self.d, self.d + 1
        p, K = W_PV[-1], W_KQ[:, :d]
        Jp = np.einsum("ae,bc->abce", np.eye(D), K).reshape(D * D * d, D)  # ∂T/∂p
        JK = np.einsum("a,bf,cg->abcfg", p, np.eye(D), np.eye(d)).reshape(D * D * d, D * d)  # ∂T/∂vec K
        J = np.hstack([Jp, JK])
        H = 2 * J.T @ self.F @ J
        R = self.dL_dT(W_PV, W_KQ).reshape(D, D * d)
        H[:D, D:] += R
        H[D:, :D] += R.T
        return H

    def index(self, rows, cols) -> np.ndarray:
        """Positions in φ of the features φ_abc with a ∈ rows, b ∈ cols (all c), in (a, b, c) order."""
        D = self.d + 1
        return np.ravel_multi_index(np.ix_(np.atleast_1d(rows), np.atleast_1d(cols), np.arange(self.d)),
                                    (D, D, self.d)).ravel()

    def block(self, rows, cols) -> tuple[np.ndarray, np.ndarray]:
        """(F, c) restricted to :meth:`index`'s features."""
        idx = self.index(rows, cols)
        return self.F[np.ix_(idx, idx)], self.c[idx]


def feature_moments(Lam, N: int, mean=None) -> FeatureMoments:
    """F = E[φφᵀ], c = E[φ y_q], E y_q² for x ~ N(0, Λ), w ~ N(β, I) (``mean`` = β, None = 0), prompts of N
    demonstrations and the query inside S. Given w, z_i = A x_i with A = [I; wᵀ], so z_i ~ N(0, C), C = AΛAᵀ
    quadratic in ŵ = (1, w); z_q = (x_q, 0) does not depend on w:
    E[S_ab S_a'b' x_c x_c'] = N⁻²[(N² E[C_ab C_a'b'] + N E[C_aa' C_bb' + C_ab' C_ba']) Λ_cc'
                               + N E[C_ab] E[z_a' z_b' x_c x_c'] + N E[C_a'b'] E[z_a z_b x_c x_c'] + E[z_a z_b z_a' z_b' x_c x_c']]."""
    Lam = np.asarray(Lam, dtype=float)
    d = Lam.shape[0]
    if Lam.shape != (d, d) or N < 1:
        raise ValueError(f"Lam, N: expected a (d, d) matrix and N >= 1, got {Lam.shape}, {N}")
    D = d + 1
    beta = np.zeros(d) if mean is None else np.asarray(mean, dtype=float)
    if beta.shape != (d,):
        raise ValueError(f"mean: expected {d} entries, got shape {beta.shape}")
    # ŵ = (1, w): mean (1, β), covariance diag(0, I)
    mw, Qw = np.concatenate([[1.0], beta]), np.diag(np.concatenate([[0.0], np.ones(d)]))
    M2, M3, M4 = (gaussian_moment(mw, Qw, k) for k in (2, 3, 4))  # (D,)*k
    Abar = np.zeros((D, d, D))  # A_ak = Σ_r Abar[a, k, r] ŵ_r
    Abar[np.arange(d), np.arange(d), 0] = 1.0
    Abar[d, np.arange(d), 1 + np.arange(d)] = 1.0
    Chat = np.einsum("akr,kl,bls->abrs", Abar, Lam, Abar)  # (D, D, D, D): C_ab = Σ Chat_abrs ŵ_r ŵ_s
    EC = np.einsum("abrs,rs->ab", Chat, M2)  # (D, D)
    ECC = np.einsum("abrs,rstu,eftu->abef", Chat, M4, Chat, optimize=True)  # (D, D, D, D)
    ECw = np.einsum("abrs,rst->abt", Chat, M3)[..., 1:]  # (D, D, d): E[C_ab w_e]
    J = np.vstack([np.eye(d), np.zeros((1, d)), np.eye(d)])  # (D+d, d): (z_q, x_q) = J x_q
    Qq = J @ Lam @ J.T  # (D+d, D+d), row/column d (the label slot) exactly 0
    z, x = slice(0, D), slice(D, D + d)
    M4q = gaussian_moment(np.zeros(D + d), Qq, 4)[z, z, x, x]  # (D, D, d, d)
    M6q = gaussian_moment(np.zeros(D + d), Qq, 6)[z, z, z, z, x, x]  # (D, D, D, D, d, d)
    ctx = N * N * ECC + N * (np.einsum("aebf->abef", ECC) + np.einsum("afbe->abef", ECC))  # (a, b, a', b')
    F = (np.einsum("abef,cg->abcefg", ctx, Lam) + N * np.einsum("ab,efcg->abcefg", EC, M4q)
         + N * np.einsum("ef,abcg->abcefg", EC, M4q) + np.einsum("abefcg->abcefg", M6q)) / (N * N)  # (D, D, d, D, D, d)
    c = np.einsum("abe,ce->abc", ECw, Lam) + np.einsum("e,abce->abc", beta, M4q) / N  # (D, D, d)
    y2 = float(np.sum(M2[1:, 1:] * Lam))
    m = D * D * d
    return FeatureMoments(F.reshape(m, m), c.reshape(m), y2, d)


@dataclass(frozen=True)
class FlowResult:
    W_PV: np.ndarray  # (D, D) end point
    W_KQ: np.ndarray  # (D, D)
    steps: int
    watched_max: float  # max over steps 0..steps of the largest |entry| under the watch masks
    term_path: float  # Σ_t h s_t, s_t ≥ the sum of |terms| of any gradient entry at step t
    finite: bool  # False: an entry overflowed and the flow was stopped
    seconds: float


def gradient_flow(mom: FeatureMoments, W_PV, W_KQ, step: float, *, watch: tuple, stop_grad: float,
                  stop_block: tuple, max_steps: int, check_every: int = 64) -> FlowResult:
    """Gradient descent θ ← θ − h ∇L(θ) on every entry of (W^{PV}, W^{KQ}) (the Euler scheme of the flow).

    Only the last row p of W^{PV} and the first d columns K of W^{KQ} reach ŷ; every other entry has ∂L ≡ 0
    (the model's form; :meth:`FeatureMoments.grad`) and W − h·0 = W exactly, so the loop moves (p, K) and the
    result is bit for bit the flow on all 2D² entries. ``watch`` = (mask_PV, mask_KQ): boolean (D, D) masks
    whose entries' largest |value| is tracked at every step, the initial point included. Stops after
    ``max_steps``, once ‖∂L/∂T‖_F on the features of ``stop_block`` = (rows, cols)
    (:meth:`FeatureMoments.block`) is ≤ ``stop_grad``, or when an entry is no longer finite (both tested every
    ``check_every`` steps). ``term_path`` scales what float64 rounding could add to an entry, unamplified:
    γ Σ_t h s_t, γ the rounding constant of a gradient entry's operations, s_t = (max|2F| ‖p‖₁‖K‖₁ + max|2c|)
    · max(‖p‖₁, ‖K‖₁) ≥ the sum of |terms| in any gradient entry."""
    W_PV, W_KQ = np.array(W_PV, dtype=float), np.array(W_KQ, dtype=float)  # (D, D) each
    m_PV, m_KQ = (np.asarray(m, dtype=bool) for m in watch)
    d, D = mom.d, mom.d + 1
    theta = np.concatenate([W_PV[-1], W_KQ[:, :d].ravel()])  # (D + D·d,) = (p, vec K)
    p, K = theta[:D], theta[D:]  # views
    moving_PV, moving_KQ = np.zeros((D, D), bool), np.zeros((D, D), bool)
    moving_PV[-1], moving_KQ[:, :d] = True, True
    fixed = max(np.abs(W_PV[m_PV & ~moving_PV]).max(initial=0.0), np.abs(W_KQ[m_KQ & ~moving_KQ]).max(initial=0.0))
    widx = np.flatnonzero(np.concatenate([m_PV[-1], m_KQ[:, :d].ravel()]))
    idx = mom.index(*stop_block)
    F2, c2 = 2 * mom.F, 2 * mom.c  # ∂L/∂T = F2 T − c2
    F_max, c_max = np.abs(F2).max(), np.abs(c2).max()
    g = np.empty_like(theta)
    watched = max(fixed, np.abs(theta[widx]).max(initial=0.0))
    path, steps, finite, t0 = 0.0, 0, True, time.perf_counter()
    while steps < max_steps:
        if steps % check_every == 0:
            finite = bool(np.isfinite(theta).all())
            if not finite or np.linalg.norm((F2 @ np.outer(p, K).ravel() - c2)[idx]) <= stop_grad:
                break
        R = (F2 @ np.outer(p, K).ravel() - c2).reshape(D, D * d)  # ∂L/∂T
        np.matmul(R, K, out=g[:D])  # ∂L/∂p
        np.matmul(p, R, out=g[D:])  # ∂L/∂vec K
        p1, K1 = np.abs(p).sum(), np.abs(K).sum()
        path += step * (F_max * p1 * K1 + c_max) * max(p1, K1)
        theta -= step * g
        watched = max(watched, np.abs(theta[widx]).max(initial=0.0))
        steps += 1
    finite = finite and bool(np.isfinite(theta).all())
    W_PV[-1], W_KQ[:, :d] = p, K.reshape(D, d)
    return FlowResult(W_PV, W_KQ, steps, float(watched), float(path), finite, time.perf_counter() - t0)
