"""Vectorised prompt samplers for the claims' data laws, generated on the target device.

x ~ N(0, Σ), y = f(x) + ε, ε ~ N(0, σ²), with f = m^{-½} Σ_k φ((D w_k)ᵀ x), w_k ~ N(0, Σ_w):
φ = identity and m = 1, D = I gives the linear model y = wᵀx + ε of M1/M2/M2g; φ = ReLU or tanh gives
the M3 families (``scales`` = diag(D) breaks rotation invariance). Two more laws (issue 13): x with
i.i.d. U(−a, a) coordinates (``x_uniform`` = a; von Oswald et al.) and a prior mean, w_k ~ N(β, Σ_w)
(``mean`` = β; M2m).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch


ACTIVATIONS = {"linear": lambda z: z, "relu": torch.relu, "tanh": torch.tanh}


@dataclass
class Prompts:
    X: torch.Tensor  # (B, n+1, d); row n is the query x_q
    y: torch.Tensor  # (B, n+1); y[:, n] is the hidden y_q (noise included)
    w: torch.Tensor  # (B, m, d) task weights (m = 1 for linear tasks)

    @property
    def n(self) -> int:
        return self.X.shape[1] - 1


def _chol(name: str, M, d: int, device, dtype) -> Optional[torch.Tensor]:
    if M is None:
        return None
    M = torch.as_tensor(M, device=device, dtype=dtype)
    if M.shape != (d, d):
        raise ValueError(f"{name}: shape {tuple(M.shape)} does not match d={d}")
    L, info = torch.linalg.cholesky_ex(M)
    if int(info) != 0:
        raise ValueError(f"{name}: not positive definite")
    return L


def sample_prompts(
    batch: int,
    n: int,
    d: int,
    *,
    generator: torch.Generator,
    Sigma=None,
    Sigma_w=None,
    sigma2: float = 0.0,
    phi: str = "linear",  # linear | relu | tanh
    m: int = 1,
    scales=None,
    x_uniform: Optional[float] = None,
    mean=None,
    device=None,
    dtype: torch.dtype = torch.float64,
) -> Prompts:
    """Draw ``batch`` independent prompts of ``n`` demonstrations and one query, with fresh tasks.

    ``Sigma``/``Sigma_w`` of None mean the identity. ``x_uniform`` = a: x has i.i.d. U(−a, a)
    coordinates instead of N(0, Σ) (``Sigma`` must then be None). ``mean`` = β: w_k ~ N(β, Σ_w) (the
    returned ``w`` includes β). ``generator`` must live on ``device``.
    """
    if batch < 1 or n < 1 or d < 1:
        raise ValueError(f"batch, n, d must be >= 1, got {batch}, {n}, {d}")
    if sigma2 < 0:
        raise ValueError(f"sigma2: must be >= 0, got {sigma2}")
    if phi not in ACTIVATIONS:
        raise ValueError(f"phi: unknown activation {phi!r}")
    device = torch.device(device) if device is not None else generator.device
    kw = dict(generator=generator, device=device, dtype=dtype)
    if x_uniform is not None:
        if Sigma is not None:
            raise ValueError("Sigma: x_uniform fixes the law of x (i.i.d. U(−a, a) coordinates); pass Sigma=None")
        if not x_uniform > 0:
            raise ValueError(f"x_uniform: must be > 0, got {x_uniform}")
        X = (2 * torch.rand(batch, n + 1, d, **kw) - 1) * x_uniform  # (B, n+1, d)
    else:
        X = torch.randn(batch, n + 1, d, **kw)  # (B, n+1, d)
        Lx = _chol("Sigma", Sigma, d, device, dtype)
        if Lx is not None:
            X = X @ Lx.mT
    w = torch.randn(batch, m, d, **kw)  # (B, m, d)
    Lw = _chol("Sigma_w", Sigma_w, d, device, dtype)
    if Lw is not None:
        w = w @ Lw.mT
    if mean is not None:
        b = torch.as_tensor(mean, device=device, dtype=dtype)
        if b.shape != (d,):
            raise ValueError(f"mean: shape {tuple(b.shape)} does not match d={d}")
        w = w + b
    v = w if scales is None else w * torch.as_tensor(scales, device=device, dtype=dtype)  # (B, m, d)
    pre = X @ v.mT  # (B, n+1, m)
    act = ACTIVATIONS[phi](pre)
    y = act.sum(-1) / m**0.5  # (B, n+1)
    if sigma2 > 0:
        y = y + sigma2**0.5 * torch.randn(batch, n + 1, **kw)
    return Prompts(X, y, w)


def query_covariance(d: int, Sigma=None, x_uniform: Optional[float] = None) -> Optional[torch.Tensor]:
    """E[x xᵀ] of the sampler's x (float64), None for the identity: Σ, or (a²/3) I for U(−a, a)."""
    if x_uniform is not None:
        return torch.eye(d, dtype=torch.float64) * (float(x_uniform) ** 2 / 3)
    return None if Sigma is None else torch.as_tensor(Sigma, dtype=torch.float64)


def generator(seed: int, device=None) -> torch.Generator:
    """A seeded generator on ``device`` (seeds come from Hypothesis, never from global state)."""
    g = torch.Generator(device=device if device is not None else "cpu")
    g.manual_seed(int(seed))
    return g
