"""Example in-context learners to check with `iclgd check` (or the pytest plugin's `check_model`).

Each is f(X, y, x_q) -> y_hat with X (B, n, d), y (B, n), x_q (B, d), y_hat (B,): B prompts of n
demonstrations (x_j, y_j) and a query x_q. Plain functions receive NumPy float64 arrays; nn.Modules
receive tensors on the device (in their parameters' dtype). They are written for M1 at σ² = 0.5
(x, w ~ N(0, I), y = wᵀx + N(0, σ²)): a model you trained would have learned what they hard-code.

    iclgd check --model examples/byo_model/gd_model.py:one_step_gd --claim M1 --d 5 --n 20 --sigma2 0.5
"""
import numpy as np
import torch
from torch import nn

SIGMA2 = 0.5  # the label noise these models were "trained" for


def _g(X, y):
    """g = (1/n) Σ_j y_j x_j, (B, d): the one-step-GD direction from w = 0."""
    return np.einsum("bn,bnd->bd", y, X) / X.shape[1]


def one_step_gd(X, y, x_q):
    """One step of GD from w = 0 at the optimal step η = n/(n + d + 1 + σ²) (Mahankali et al. 2024, Thm 1)."""
    n, d = X.shape[1], X.shape[2]
    eta = n / (n + d + 1 + SIGMA2)
    return eta * np.einsum("bd,bd->b", _g(X, y), x_q)


def one_step_gd_short(X, y, x_q):
    """The same step at 0.9 η: inside the class, above its optimum (a model that did not get there)."""
    return 0.9 * one_step_gd(X, y, x_q)


def ridge_posterior_mean(X, y, x_q):
    """The Bayes predictor of M1's law: x_qᵀ(XᵀX + σ² I)⁻¹Xᵀy (ridge at λ = σ² for w ~ N(0, I)). Not one
    layer of linear attention: it beats the class optimum L* without refuting anything."""
    d = X.shape[2]
    A = np.einsum("bnd,bne->bde", X, X) + SIGMA2 * np.eye(d)
    w = np.linalg.solve(A, np.einsum("bnd,bn->bd", X, y)[..., None])[..., 0]
    return np.einsum("bd,bd->b", w, x_q)


class GammaPredictor(nn.Module):
    """ŷ = gᵀ Γ x_q with a learnable Γ (d, d): a one-layer linear-attention read-out (Γ = η I at the
    optimum). Declares its class, so a result below L* would be a counterexample, not a better model."""

    iclgd_class = "lsa"

    def __init__(self, d: int = 5, eta: float = 0.0):
        super().__init__()
        self.gamma = nn.Parameter(eta * torch.eye(d))

    def forward(self, X, y, x_q):
        g = torch.einsum("bn,bnd->bd", y, X) / X.shape[1]  # (B, d)
        return torch.einsum("ba,ac,bc->b", g, self.gamma, x_q)  # (B,)


class LSA(nn.Module):
    """One layer of linear self-attention in Mahankali et al.'s parameterisation (eq. 2):
    ŷ = hᵀ W_V [(1/n) Σ_i v_i v_iᵀ] W_Kᵀ W_Q v_q, v_i = (x_i, y_i), v_q = (x_q, 0). Its weights W_K, W_Q,
    W_V, h are read by the checker (effective Γ = u_y G_x + u_x g_yᵀ)."""

    def __init__(self, d: int = 5, eta: float = 0.0):
        super().__init__()
        D = d + 1
        W_KQ = torch.zeros(D, D)
        W_KQ[:d, :d] = eta * torch.eye(d)  # W_Kᵀ W_Q = [[η I, 0], [0, 0]]
        self.W_K = nn.Parameter(torch.eye(D))
        self.W_Q = nn.Parameter(W_KQ)
        self.W_V = nn.Parameter(torch.eye(D))
        self.h = nn.Parameter(torch.eye(D)[d].clone())  # read the y slot: u = W_Vᵀh = e_{d+1}

    def forward(self, X, y, x_q):
        V = torch.cat([X, y[..., None]], -1)  # (B, n, d+1)
        S = V.mT @ V / X.shape[1]  # (B, d+1, d+1)
        vq = torch.cat([x_q, torch.zeros_like(x_q[:, :1])], -1)  # (B, d+1)
        a = vq @ (self.W_K.T @ self.W_Q).T  # (B, d+1) = W_Kᵀ W_Q v_q
        u = self.W_V.T @ self.h  # (d+1,)
        return ((S @ a[..., None])[..., 0] * u).sum(-1)  # (B,)


def optimal_eta(d: int = 5, n: int = 20) -> float:
    return n / (n + d + 1 + SIGMA2)


# an instance at the optimal η for d = 5, n = 20: `--model examples/byo_model/gd_model.py:gd_module`
gd_module = GammaPredictor(5, optimal_eta(5, 20))
