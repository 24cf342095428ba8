"""Monte Carlo losses of the predictors the claims compare (no theory imported).

Prompt laws (through :func:`iclgd.empirics.sampling.sample_prompts`, which draws them for the
trainer too): x with i.i.d. U(−a, a) coordinates, and a task prior with a mean, w ~ N(β, Σ_w).
Predictors: the Γ-predictor gᵀΓx_q, GD from β, minimum-norm least squares; each returns (mean,
standard error) of the squared error against y_q; the posterior mean under a Gaussian prior and
noise returns its per-prompt predictions. And Newton's iteration for S⁻¹ run by a linear-attention stack (Fu-Newton).
"""
from __future__ import annotations

import torch

from .sampling import Prompts, sample_prompts


def sample_general(batch: int, n: int, d: int, *, generator: torch.Generator, Sigma=None, Sigma_w=None, mean=None,
                   sigma2: float = 0.0, x_uniform: float | None = None, device=None,
                   dtype: torch.dtype = torch.float64) -> Prompts:
    """``batch`` prompts of ``n`` demonstrations and a query: x ~ N(0, Σ) (or i.i.d. U(−a, a)
    coordinates with ``x_uniform`` = a), w ~ N(mean, Σ_w), y = wᵀx + N(0, σ²) — the linear laws of
    :func:`iclgd.empirics.sampling.sample_prompts` (one sampler; the same random stream)."""
    return sample_prompts(batch, n, d, generator=generator, Sigma=None if x_uniform is not None else Sigma,
                          Sigma_w=Sigma_w, sigma2=sigma2, x_uniform=x_uniform, mean=mean, device=device, dtype=dtype)


def _mean_se(sq: torch.Tensor) -> tuple[float, float]:
    return float(sq.mean()), float(sq.std() / sq.numel() ** 0.5)


def gamma_loss(p: Prompts, gamma) -> tuple[float, float]:
    """(mean, SE) of (y_q − gᵀΓx_q)², g = (1/n) Σ_j y_j x_j over the prompt's n demonstrations."""
    n = p.n
    g = torch.einsum("bi,bia->ba", p.y[:, :n], p.X[:, :n]) / n  # (B, d)
    pred = torch.einsum("ba,ac,bc->b", g, torch.as_tensor(gamma).to(g), p.X[:, n])  # (B,)
    return _mean_se((p.y[:, n] - pred) ** 2)


def gd_from_beta_loss(p: Prompts, beta, gamma) -> tuple[float, float]:
    """(mean, SE) of (y_q − βᵀx_q − g_βᵀΓx_q)², g_β = (1/n) Σ_j (y_j − βᵀx_j) x_j."""
    n = p.n
    b = torch.as_tensor(beta).to(p.X)  # (d,)
    r = p.y[:, :n] - p.X[:, :n] @ b  # (B, n) residuals at β
    g = torch.einsum("bi,bia->ba", r, p.X[:, :n]) / n  # (B, d)
    pred = p.X[:, n] @ b + torch.einsum("ba,ac,bc->b", g, torch.as_tensor(gamma).to(g), p.X[:, n])
    return _mean_se((p.y[:, n] - pred) ** 2)


def ols_loss(p: Prompts) -> tuple[float, float]:
    """(mean, SE) of (y_q − ŵᵀx_q)² for the minimum-norm least-squares ŵ = X⁺y: (XᵀX)⁻¹Xᵀy for
    n ≥ d, Xᵀ(XXᵀ)⁻¹y for n < d (Cholesky; X has full rank almost surely)."""
    n, d = p.n, p.X.shape[-1]
    X, y = p.X[:, :n], p.y[:, :n, None]  # (B, n, d), (B, n, 1)
    if n >= d:
        w_hat = torch.cholesky_solve(X.mT @ y, torch.linalg.cholesky(X.mT @ X))[..., 0]  # (B, d)
    else:
        w_hat = (X.mT @ torch.cholesky_solve(y, torch.linalg.cholesky(X @ X.mT)))[..., 0]
    return _mean_se((p.y[:, n] - torch.einsum("bd,bd->b", w_hat, p.X[:, n])) ** 2)


def posterior_mean_predictions(X: torch.Tensor, y: torch.Tensor, Sigma_w, mean, sigma2: float) -> torch.Tensor:
    """x_qᵀ E[w | context] for w ~ N(β, Σ_w), y_j = wᵀx_j + N(0, σ²), σ² > 0 (the Bayes predictor
    under squared loss, whatever the law of x): E[w | ·] = β + (σ² Σ_w⁻¹ + XᵀX)⁻¹ Xᵀ(y − Xβ).
    X (B, n+1, d), y (B, n+1); row n is the query (its y is not read). Returns (B,)."""
    if not sigma2 > 0:
        raise ValueError(f"sigma2: the posterior mean needs noise, got {sigma2}")
    n, d = X.shape[-2] - 1, X.shape[-1]
    Xc, yc, xq = X[:, :n], y[:, :n], X[:, n]
    Sw = torch.eye(d, dtype=X.dtype, device=X.device) if Sigma_w is None else torch.as_tensor(Sigma_w).to(X)
    b = torch.zeros(d, dtype=X.dtype, device=X.device) if mean is None else torch.as_tensor(mean).to(X)
    A = sigma2 * torch.linalg.inv(Sw) + Xc.mT @ Xc  # (B, d, d)
    r = yc - Xc @ b  # (B, n)
    w_post = b + torch.linalg.solve(A, (Xc.mT @ r[..., None]))[..., 0]  # (B, d)
    return (w_post * xq).sum(-1)


# ---- Fu-Newton -----------------------------------------------------------------------------------
def newton_reference(S: torch.Tensor, alpha: float, k: int) -> torch.Tensor:
    """M_k of M₀ = αS, M_{j+1} = M_j (2I − S M_j); S (..., d, d)."""
    I2 = 2 * torch.eye(S.shape[-1], dtype=S.dtype, device=S.device)
    M = alpha * S
    for _ in range(k):
        M = M @ (I2 - S @ M)
    return M


def newton_transformer(X: torch.Tensor, alpha: float, k: int) -> torch.Tensor:
    """A linear-attention stack computing u_j = M_k x_j for S = (1/n) Σ_i x_i x_iᵀ, X (B, n, d).

    Tokens h_j = (x_j, u_j). Layer 0 (one head, V: h → (0, x), K = Q: h → x, scale α) writes
    u_j = α S x_j = M₀ x_j. Each Newton layer (V: h → (0, u), K: h → u, Q: h → x) adds
    −(1/n) Σ_i u_i u_iᵀ x_j = −M S M x_j (M is a polynomial in S, so symmetric and commuting with S) to
    a residual stream whose u-block is scaled by 2: u ← 2u − M S M x = M(2I − S M) x. (Our own
    construction: one head plus a linear map of the residual per iteration; Fu et al.'s weights were
    not available to us.) Returns the u-block (B, n, d); M_k is read off as U = X M_k."""
    B, n, d = X.shape
    H = torch.cat([X, torch.zeros_like(X)], -1)  # (B, n, 2d)
    Z = torch.zeros(d, d, dtype=X.dtype, device=X.device)
    I = torch.eye(d, dtype=X.dtype, device=X.device)
    Px, Pu = torch.cat([I, Z], 0), torch.cat([Z, I], 0)  # (2d, d) selectors of the x / u blocks

    def attention(H, WV, WK, WQ, scale):  # (1/n) Σ_i (W_V h_i)(W_K h_i)ᵀ (W_Q h_j)
        V, K, Q = H @ WV, H @ WK, H @ WQ  # (B, n, ·)
        return scale * (Q @ (K.mT @ V)) / n  # (B, n, 2d)

    H = H + attention(H, Px @ Pu.T, Px, Px, alpha)  # u = α S x
    skip = torch.block_diag(I, 2 * I)  # residual map: x kept, u doubled
    for _ in range(k):
        H = H @ skip - attention(H, Pu @ Pu.T, Pu, Px, 1.0)
    return H[..., d:]


def paired_gamma_losses(p: Prompts, gamma_a, gamma_b) -> tuple[float, float]:
    """(mean, SE) of the paired difference (y_q − gᵀΓ_a x_q)² − (y_q − gᵀΓ_b x_q)² on the same prompts."""
    n = p.n
    g = torch.einsum("bi,bia->ba", p.y[:, :n], p.X[:, :n]) / n  # (B, d)
    err = [p.y[:, n] - torch.einsum("ba,ac,bc->b", g, torch.as_tensor(G).to(g), p.X[:, n]) for G in (gamma_a, gamma_b)]
    return _mean_se(err[0] ** 2 - err[1] ** 2)
