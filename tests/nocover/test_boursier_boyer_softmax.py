"""Softmax-limit on the softmax read-out itself (slow; gpu variant at longer prompts, tiny on CPU with
ICLGD_GPU_ON_CPU=1): n·E(ŷ_n − c wᵀx_q)² measured at several n and extrapolated to n = ∞ by weighted least
squares in 1/n (the delta method's expansion n·MSE = V + b/n + O(1/n²); the O(1/n²) term is taken as negligible
at n ≥ 64 for c² ≤ 1/10, an assumption of this check) — the intercept must match n_mse_limit within 3.89 of its
standard error."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from iclgd.empirics.sampling import generator, sample_prompts
from iclgd.properties.checks import check
from iclgd.theory import Setting, get_claim

CLAIM = "Softmax-limit"


def n_mse(n: int, d: int, c: float, sigma2: float, prompts: int, seed: int, device, chunk: int = 4096):
    """(mean, SE) of n·(ŷ_n − c wᵀx_q)² with ŷ_n = Σ softmax(c x_iᵀx_q) y_i over n keys (the query no key)."""
    vals = []
    gen = generator(seed, device)
    for start in range(0, prompts, chunk):
        b = min(chunk, prompts - start)
        p = sample_prompts(b, n, d, generator=gen, sigma2=sigma2, device=device)
        X, y, xq, w = p.X[:, :n], p.y[:, :n], p.X[:, n], p.w[:, 0]  # (B, n, d), (B, n), (B, d), (B, d)
        att = torch.softmax(c * (X @ xq[:, :, None])[..., 0], dim=-1)  # (B, n)
        vals.append(n * ((att * y).sum(-1) - c * (w * xq).sum(-1)) ** 2)
    v = torch.cat(vals).double().cpu()
    return float(v.mean()), float(v.std() / len(v) ** 0.5)


def extrapolate(ns, means, ses):
    """Weighted least squares of mean = V + b/n: (V, SE of V)."""
    F = np.stack([np.ones(len(ns)), 1.0 / np.asarray(ns, float)], 1)
    W = np.diag(1.0 / np.asarray(ses) ** 2)
    cov = np.linalg.inv(F.T @ W @ F)
    return float((cov @ F.T @ W @ np.asarray(means))[0]), float(np.sqrt(cov[0, 0]))


def _run(s: Setting, ns, prompts, device):
    V = get_claim(CLAIM).predict(s, exact=False).values["n_mse_limit"]
    c = dict(s.extra)["inverse_temperature"]
    stats = [n_mse(n, s.d, c, s.sigma2, prompts, 1000 + k, device) for k, n in enumerate(ns)]
    est, se = extrapolate(ns, [m for m, _ in stats], [e for _, e in stats])
    return check(CLAIM, "n·MSE of the softmax read-out, extrapolated in 1/n (WLS over n), vs n_mse_limit", V, est,
                 3.89 * se, "3.89 × the intercept's standard error (two-sided, per-check level 1e-4); assumes the "
                 "O(1/n²) term negligible at these n", {**s.to_json(), "ns": list(ns), "prompts": prompts,
                                                      "per_n": stats, "se": se}, error=abs(est - V))


@pytest.mark.slow
@pytest.mark.claim(CLAIM)
def test_softmax_n_mse_extrapolates_to_the_limit():
    s = Setting(2, 1, 0.5, extra=(("inverse_temperature", 0.3),))
    c = _run(s, (64, 128, 256, 512), 40_000, "cpu")
    print(c.summary(), c.setting["per_n"])
    assert c.holds, c.summary()


@pytest.mark.gpu
@pytest.mark.claim(CLAIM)
def test_softmax_n_mse_at_long_prompts(device):
    """n up to 8192 and d = 8 on CUDA; on CPU (ICLGD_GPU_ON_CPU=1) n ≤ 128, d = 2, few prompts."""
    tiny = device.type == "cpu"
    s = Setting(2 if tiny else 8, 1, 0.5, extra=(("inverse_temperature", 0.3 if tiny else 0.2),))
    ns = (32, 64, 128) if tiny else (512, 1024, 2048, 4096, 8192)
    c = _run(s, ns, 4_000 if tiny else 200_000, device)
    print(c.summary())
    assert c.holds, c.summary()
