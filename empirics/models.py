"""Attention models whose trained weights the theorems speak about, as ensembles of R independent
replicas in one module (weights carry a leading replica axis, so R seeds train in one vectorised run
and their spread measures the trainer's noise floor).

- :class:`LSA` — one layer of linear self-attention, Mahankali, Hashimoto & Ma (ICLR 2024), §2:
  ŷ = hᵀ W_V [(1/n) Σ_i v_i v_iᵀ] W_Kᵀ W_Q v_q, tokens v_i = (x_i, y_i), query v_q = (x_q, 0); the
  query may be included in the sum (still divided by n). :func:`lsa_readout` reduces the weights to
  the effective Γ (ŷ = gᵀ Γ x_q + nuisance) of shared/THEORY.md "Reduction".
- :class:`LinearTransformer` — L residual linear-attention layers in the layout of Ahn, Cheng,
  Daneshmand & Sra (NeurIPS 2023), eq. (4): Z ← Z + (1/n) P Z M Zᵀ Q Z with mask M = diag(I_n, 0) and
  read-out ŷ = −[Z_L]_{d+1, n+1}; "sparse" keeps their P = [[B, 0], [0, 1]], Q = [[−A, 0], [0, 0]].
- :class:`SoftmaxAttention` — the same one-layer weights with softmax scores, where the one-step-GD
  form need not hold; :func:`fit_gamma` measures how far any predictor is from a Γ-predictor.

Shapes: prompts X (R, B, n+1, d), y (R, B, n+1) (row n is the query; its label is never read), or
without the replica axis, which broadcasts one batch to every replica. Outputs ŷ (R, B).
"""
from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn


def tokens(X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Z = [x_i, y_i] with the query's label slot set to 0: (..., n+1, d) (..., n+1) -> (..., n+1, d+1)."""
    if X.shape[:-1] != y.shape:
        raise ValueError(f"X, y: expected (..., n+1, d) and (..., n+1), got {tuple(X.shape)}, {tuple(y.shape)}")
    yz = torch.cat([y[..., :-1], torch.zeros_like(y[..., -1:])], dim=-1)  # (..., n+1)
    return torch.cat([X, yz.unsqueeze(-1)], dim=-1)


def _replicate(Z: torch.Tensor, R: int) -> torch.Tensor:
    """Give a batch without a replica axis one: (B, n+1, D) -> (R, B, n+1, D)."""
    if Z.ndim == 3:
        return Z.unsqueeze(0).expand(R, *Z.shape)
    if Z.ndim != 4 or Z.shape[0] != R:
        raise ValueError(f"X: expected (B, n+1, d) or ({R}, B, n+1, d), got {tuple(Z.shape)}")
    return Z


def _param(shape, std: float, generator, device, dtype) -> nn.Parameter:
    return nn.Parameter(std * torch.randn(*shape, generator=generator, device=device, dtype=dtype))


class _Ensemble(nn.Module):
    """R independent models (replica axis first) of covariate dimension d."""

    def __init__(self, d: int, replicas: int):
        super().__init__()
        if d < 1:
            raise ValueError(f"d: must be >= 1, got {d}")
        if replicas < 1:
            raise ValueError(f"replicas: must be >= 1, got {replicas}")
        self.d, self.replicas = d, replicas

    def _Z(self, X, y):
        Z = tokens(X, y)
        if Z.shape[-1] != self.d + 1:
            raise ValueError(f"X: last axis {Z.shape[-1] - 1} does not match d={self.d}")
        return _replicate(Z, self.replicas)  # (R, B, n+1, D)


class LSA(_Ensemble):
    """One-layer linear self-attention with the full (W_K, W_Q, W_V, h) parameterisation
    (Mahankali et al. 2024, eq. (2)); each weight has a leading replica axis R.

    ``init_std``: entries are N(0, init_std²/(d+1)) — small enough that the nuisance terms start
    small, large enough that training leaves the saddle at 0 at once.
    """

    def __init__(self, d: int, *, replicas: int = 1, include_query: bool = False, init_std: float = 0.5,
                 generator: Optional[torch.Generator] = None, device=None, dtype=torch.float32):
        super().__init__(d, replicas)
        self.include_query = include_query
        D, R, s = d + 1, replicas, init_std / math.sqrt(d + 1)
        kw = dict(generator=generator, device=device, dtype=dtype)
        self.W_K = _param((R, D, D), s, **kw)
        self.W_Q = _param((R, D, D), s, **kw)
        self.W_V = _param((R, D, D), s, **kw)
        self.h = _param((R, D), s, **kw)

    def forward(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        Z = self._Z(X, y)  # (R, B, n+1, D)
        n = Z.shape[-2] - 1
        ctx = Z if self.include_query else Z[..., :n, :]
        S = ctx.mT @ ctx / n  # (R, B, D, D)
        u = (self.W_V.mT @ self.h.unsqueeze(-1)).squeeze(-1)  # (R, D)
        M = self.W_K.mT @ self.W_Q  # (R, D, D)
        a = (Z[..., n, :].unsqueeze(-2) @ M.mT.unsqueeze(1)).squeeze(-2)  # (R, B, D) = M v_q
        return ((S @ a.unsqueeze(-1)).squeeze(-1) * u.unsqueeze(1)).sum(-1)  # (R, B)

    @property
    def linear_in_query(self) -> bool:
        """ŷ = cᵀ x_q with c independent of x_q (not when the query is among the keys: then cubic)."""
        return not self.include_query

    def query_weights(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """c (R, B, d) with ŷ = cᵀ x_q: c = Gᵀ S u, G the first d columns of W_Kᵀ W_Q, u = W_Vᵀ h.
        Reads only the context rows of X (..., n+1, d), y (..., n+1); needs ``linear_in_query``."""
        if not self.linear_in_query:
            raise ValueError("include_query: the prediction is not linear in x_q")
        Z = self._Z(X, y)[..., :-1, :]  # (R, B, n, D) the context tokens
        u = (self.W_V.mT @ self.h.unsqueeze(-1)).squeeze(-1)  # (R, D)
        Su = (Z * (Z @ u[:, None, :, None])).mean(-2)  # (R, B, D) = S u without forming S
        G = (self.W_K.mT @ self.W_Q)[..., : self.d]  # (R, D, d)
        return Su @ G  # (R, B, d)

    def readout(self) -> dict:
        return lsa_readout(self.W_K, self.W_Q, self.W_V, self.h)


def lsa_readout(W_K, W_Q, W_V, h) -> dict:
    """Effective Γ and nuisance coefficients of one-layer LSA weights (shared/THEORY.md, Reduction).

    u = W_Vᵀ h, G = first d columns of W_Kᵀ W_Q, split G = [G_x; g_yᵀ], u = (u_x, u_y):
    ŷ = gᵀ Γ x_q + u_xᵀ S_xx G_x x_q + u_y s_yy g_yᵀ x_q with Γ = u_y G_x + u_x g_yᵀ.
    The nuisance functions are fixed by T_abc = sym_ab(u_a G_bc) (S_xx is symmetric) and t = u_y g_y;
    all three are invariant under the rescaling (u, G) -> (c u, G / c). Computed in float64.
    Returns gamma (R, d, d), nuisance_xx (R, d, d, d), nuisance_yy (R, d), nuisance_norm (R,).
    """
    W_K, W_Q, W_V, h = (t.detach().to(torch.float64) for t in (W_K, W_Q, W_V, h))
    d = W_K.shape[-1] - 1
    u = (W_V.mT @ h.unsqueeze(-1)).squeeze(-1)  # (R, D)
    G = (W_K.mT @ W_Q)[..., :d]  # (R, D, d)
    ux, uy, Gx, gy = u[..., :d], u[..., d], G[..., :d, :], G[..., d, :]
    gamma = uy[:, None, None] * Gx + ux.unsqueeze(-1) * gy.unsqueeze(-2)  # (R, d, d)
    T = ux[:, :, None, None] * Gx[:, None, :, :]  # (R, d, d, d): u_a G_bc
    T = (T + T.transpose(1, 2)) / 2
    t = uy.unsqueeze(-1) * gy  # (R, d)
    norm = (T.square().sum((1, 2, 3)) + t.square().sum(-1)).sqrt()
    return {"gamma": gamma, "nuisance_xx": T, "nuisance_yy": t, "nuisance_norm": norm}


class SoftmaxAttention(LSA):
    """The one-layer weights of :class:`LSA` with softmax scores over the context,
    ŷ = hᵀ W_V Σ_i softmax_i((W_K v_i)ᵀ W_Q v_q) v_i — no 1/n, no Γ read-off (use :func:`fit_gamma`)."""

    def forward(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        Z = self._Z(X, y)  # (R, B, n+1, D)
        n = Z.shape[-2] - 1
        ctx = Z if self.include_query else Z[..., :n, :]
        M = self.W_K.mT @ self.W_Q  # (R, D, D)
        q = (Z[..., n, :].unsqueeze(-2) @ M.mT.unsqueeze(1)).squeeze(-2)  # (R, B, D)
        att = torch.softmax((ctx @ q.unsqueeze(-1)).squeeze(-1), dim=-1)  # (R, B, n or n+1)
        u = (self.W_V.mT @ self.h.unsqueeze(-1)).squeeze(-1)  # (R, D)
        return ((ctx @ u[:, None, :, None]).squeeze(-1) * att).sum(-1)  # (R, B)

    @property
    def linear_in_query(self) -> bool:
        return False

    def readout(self) -> dict:
        return {}


class LinearTransformer(_Ensemble):
    """L-layer residual linear transformer, Ahn et al. (2023) eq. (4), with R replicas.

    ``layout="sparse"``: P_ℓ = [[B_ℓ, 0], [0, 1]] and Q_ℓ = [[−A_ℓ, 0], [0, 0]] (their Theorems 3–4;
    ``value_block=False`` fixes B_ℓ = 0, plain preconditioned GD); ``"full"``: P_ℓ, Q_ℓ unconstrained.
    With B_ℓ = 0 the read-out after ℓ layers is x_qᵀ w_ℓ for w_{ℓ+1} = w_ℓ − A_ℓ ∇R(w_ℓ), w_0 = 0, R the
    least-squares risk (1/2n) Σ (y_i − wᵀx_i)², i.e. L steps of preconditioned GD.
    """

    def __init__(self, d: int, layers: int, *, replicas: int = 1, layout: str = "sparse",
                 value_block: bool = True, init_std: float = 0.1, generator: Optional[torch.Generator] = None,
                 device=None, dtype=torch.float32):
        super().__init__(d, replicas)
        if layers < 1:
            raise ValueError(f"layers: must be >= 1, got {layers}")
        if layout not in ("sparse", "full"):
            raise ValueError(f"layout: expected 'sparse' or 'full', got {layout!r}")
        self.layers, self.layout, self.value_block = layers, layout, value_block
        R, L, D = replicas, layers, d + 1
        kw = dict(generator=generator, device=device, dtype=dtype)
        s = init_std / math.sqrt(d)
        if layout == "sparse":
            self.A = _param((R, L, d, d), s, **kw)
            self.B = _param((R, L, d, d), s, **kw) if value_block else None
        else:
            self.P = _param((R, L, D, D), s, **kw)
            self.Q = _param((R, L, D, D), s, **kw)

    def matrices(self) -> tuple[torch.Tensor, torch.Tensor]:
        """P, Q of every layer, (R, L, d+1, d+1) each."""
        if self.layout == "full":
            return self.P, self.Q
        e = torch.zeros(self.d + 1, self.d + 1, device=self.A.device, dtype=self.A.dtype)
        e[self.d, self.d] = 1
        B = self.B if self.B is not None else torch.zeros_like(self.A)
        return F.pad(B, (0, 1, 0, 1)) + e, F.pad(-self.A, (0, 1, 0, 1))

    def forward(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        Z = self._Z(X, y)  # (R, B, n+1, D)
        n = Z.shape[-2] - 1
        P, Q = self.matrices()
        for l in range(self.layers):
            ctx = Z[..., :n, :]  # mask diag(I_n, 0): the query is no key/value
            S = torch.einsum("rbid,rbie->rbde", ctx, ctx) / n  # (R, B, D, D)
            M = torch.einsum("rde,rbef,rgf->rbdg", Q[:, l], S, P[:, l])  # (R, B, D, D) = Q S Pᵀ
            Z = Z + Z @ M  # row i gains (1/n) Σ_j (z_iᵀ Q z_j) P z_j
        return -Z[..., n, self.d]  # (R, B)

    def readout(self) -> dict:
        """Per-layer blocks in float64: preconditioners A (R, L, d, d) and value blocks B (sparse),
        or P, Q (full). For L = 1 the effective Γ is Aᵀ (no nuisance in the sparse layout)."""
        if self.layout == "full":
            return {"P": self.P.detach().double(), "Q": self.Q.detach().double()}
        out = {"A": self.A.detach().double()}
        if self.B is not None:
            out["B"] = self.B.detach().double()
        if self.layers == 1:
            out["gamma"] = out["A"][:, 0].mT
        return out


@torch.no_grad()
def fit_gamma(yhat: torch.Tensor, X: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Least-squares projection of predictions onto Γ-predictors: Γ̂ = argmin Σ_b (ŷ_b − g_bᵀ Γ x_{q,b})².

    yhat (..., B), X (..., B, n+1, d), y (..., B, n+1) -> Γ̂ (..., d, d) and the unexplained fraction
    Σ (ŷ − gᵀΓ̂x_q)² / Σ ŷ² (0 for an exact Γ-predictor such as LSA without nuisance). float64.
    """
    yhat, X, y = yhat.double(), X.double(), y.double()
    n, d = X.shape[-2] - 1, X.shape[-1]
    g = (y[..., :n, None] * X[..., :n, :]).mean(-2)  # (..., B, d)
    F = (g.unsqueeze(-1) * X[..., n, None, :]).flatten(-2)  # (..., B, d*d): features g_a x_{q,c}
    coef = torch.linalg.lstsq(F, yhat.unsqueeze(-1)).solution.squeeze(-1)  # (..., d*d)
    resid = yhat - (F @ coef.unsqueeze(-1)).squeeze(-1)
    frac = resid.square().sum(-1) / yhat.square().sum(-1).clamp_min(torch.finfo(torch.float64).tiny)
    return coef.unflatten(-1, (d, d)), frac
