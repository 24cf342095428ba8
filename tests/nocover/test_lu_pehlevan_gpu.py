"""Lu-kappa's limit by Monte Carlo at growing d along the ray n = αd, σ² = ρd (gpu tier; tiny on CPU with
ICLGD_GPU_ON_CPU=1): the per-dimension error of M1's optimum Γ = η_d I at each d, fitted by weighted least
squares as e + b/d + c/d² (the finite-d error is smooth in 1/d: test_lu_pehlevan.py shows the O(1/d) rate), and
the intercept compared with icl_error_limit within 3.89 of its standard error."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from iclgd.empirics.sampling import generator, sample_prompts
from iclgd.properties.checks import check
from iclgd.theory import Setting, get_claim

CLAIM = "Lu-kappa"


def per_dim_error(d: int, alpha: int, rho: float, prompts: int, seed: int, device, chunk: int = 2048):
    n, s2 = alpha * d, rho * d
    eta = n / (n + d + 1 + s2)
    vals, gen = [], generator(seed, device)
    for start in range(0, prompts, chunk):
        p = sample_prompts(min(chunk, prompts - start), n, d, generator=gen, sigma2=s2, device=device)
        g = (p.y[:, :n, None] * p.X[:, :n]).mean(1)  # (B, d)
        vals.append((p.y[:, n] - eta * (g * p.X[:, n]).sum(-1)) ** 2 / d)
    v = torch.cat(vals).double().cpu()
    return float(v.mean()), float(v.std() / len(v) ** 0.5)


@pytest.mark.gpu
@pytest.mark.claim(CLAIM)
def test_limit_by_extrapolation_in_one_over_d(device):
    tiny = device.type == "cpu"
    alpha, rho = 2, 0.25
    ds = (4, 8, 16) if tiny else (16, 32, 64, 128)
    stats = [per_dim_error(d, alpha, rho, 20_000 if tiny else 400_000, 77 + k, device) for k, d in enumerate(ds)]
    F = np.stack([np.ones(len(ds)), 1.0 / np.array(ds), 1.0 / np.array(ds) ** 2], 1)
    W = np.diag([1 / se ** 2 for _, se in stats])
    cov = np.linalg.inv(F.T @ W @ F)
    est = float((cov @ F.T @ W @ np.array([m for m, _ in stats]))[0])
    lim = get_claim(CLAIM).predict(Setting(ds[-1], alpha * ds[-1], rho * ds[-1]), exact=False).values["icl_error_limit"]
    c = check(CLAIM, "per-dimension error extrapolated to d = ∞ (WLS in 1/d, 1/d²) vs icl_error_limit", lim, est,
              3.89 * float(np.sqrt(cov[0, 0])), "3.89 × the intercept's standard error", {"ds": list(ds), "per_d": stats,
                                                                                       "device": str(device)},
              error=abs(est - lim))
    print(c.summary())
    assert c.holds, c.summary()
