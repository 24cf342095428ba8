"""Checks of Vlad-mixed-noise (:mod:`iclgd.theory.papers.vladymyrov`): a Monte Carlo ordering.

Per replicate, 20 000 prompts with the noise level drawn per prompt; on the same prompts the oracle ridge
(λ = the prompt's σ_k²), the Bayes predictor (posterior-weighted ridges; p(k | prompt) from the Gaussian
marginal likelihood y ~ N(0, XXᵀ + σ_k²I), by Woodbury) and the best single ridge. The single λ: d = 1, the
quadrature minimiser of the exact 1-d risk; d > 1, the minimiser on a 25-point grid in [σ_a², σ_b²] of the
Monte Carlo risk on an independent calibration batch (no selection bias on the tested prompts; any λ gives
a valid check, since Bayes ≤ ridge_λ for every λ). Ordering checks: one-sided paired differences under the
replicate rule (:mod:`._orderings`); at d = 1 the oracle and single-ridge risks also against the quadrature
(two-sided, :func:`spec.monte_carlo_mean_check`).
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from hypothesis import strategies as st

from iclgd.empirics.sampling import generator
from iclgd.properties.checks import make_check
from iclgd.properties.spec import FalseAlarmCorner, Refutation, Spec, monte_carlo_mean_check, register_spec
from iclgd.properties.strategies import dims
from iclgd.theory import Setting, get_claim
from iclgd.theory.papers import vladymyrov as T

from ._orderings import ordering_check, paired
from ..stats import mean_se

N_PROMPTS = 20_000
N_CONFIRM = 100_000
LOWS, HIGHS, PROBS = (0.1, 0.25, 0.5), (1.0, 2.0, 4.0), (0.5, 0.25, 0.75)


@st.composite
def settings(draw, max_d=None, max_n=None, mc=False, d_max=3):
    d = draw(dims(min(max_d or d_max, d_max)), label="d")
    n = draw(st.integers(1, min(max_n or 10, 10)), label="n")
    return Setting(d, n, 0.0, extra=(("noise_high", draw(st.sampled_from(HIGHS), label="σ_b²")),
                                     ("noise_low", draw(st.sampled_from(LOWS), label="σ_a²")),
                                     ("noise_prob", draw(st.sampled_from(PROBS), label="π_b"))))


def _levels(s: Setting):
    return T.levels(s, get_claim("Vlad-mixed-noise"))


@lru_cache(maxsize=256)
def _quadrature(n: int, sig: tuple, prob: tuple) -> tuple:
    """(λ*, single-ridge risk at λ*, oracle-ridge risk), d = 1, by quadrature."""
    lam = T.best_lambda_1d(n, list(sig), list(prob))
    oracle = sum(p * T.ridge_risk_1d(n, s2, s2) for s2, p in zip(sig, prob))
    return lam, T.mixed_ridge_risk_1d(n, lam, list(sig), list(prob)), oracle


def _draw(s: Setting, gen, B: int):
    sig, prob = _levels(s)
    k = (torch.rand(B, generator=gen, dtype=torch.float64) < prob[1]).long()  # (B,) level index
    s2 = torch.tensor(sig, dtype=torch.float64)[k]  # (B,)
    X = torch.randn(B, s.n + 1, s.d, generator=gen, dtype=torch.float64)  # (B, n+1, d)
    w = torch.randn(B, s.d, generator=gen, dtype=torch.float64)  # (B, d)
    y = (X @ w[:, :, None])[..., 0] + s2.sqrt()[:, None] * torch.randn(B, s.n + 1, generator=gen, dtype=torch.float64)
    return X[:, :s.n], y[:, :s.n], X[:, s.n], y[:, s.n], s2  # (B,n,d) (B,n) (B,d) (B,) (B,)


def _ridge(X, y, lam):
    """(ŵ (B, d), log N(y; 0, XXᵀ + λI) up to −(n/2) log 2π) for λ a float or a (B,) tensor."""
    B, n, d = X.shape
    lam = torch.as_tensor(lam, dtype=X.dtype).expand(B)  # (B,)
    A = X.mT @ X + lam[:, None, None] * torch.eye(d, dtype=X.dtype)  # (B, d, d)
    L = torch.linalg.cholesky(A)
    Xy = (X.mT @ y[..., None])  # (B, d, 1)
    w = torch.cholesky_solve(Xy, L)[..., 0]  # (B, d)
    quad = ((y * y).sum(-1) - (Xy[..., 0] * w).sum(-1)) / lam  # yᵀ(XXᵀ + λI)⁻¹y (Woodbury)
    logdet = 2 * torch.log(torch.diagonal(L, dim1=-2, dim2=-1)).sum(-1) + (n - d) * torch.log(lam)
    return w, -0.5 * (quad + logdet)


def errors(s: Setting, gen, B: int, lam_single: float) -> dict:
    """Per-prompt squared errors against y_q of the oracle ridge, the Bayes predictor, ridge at ``lam_single``."""
    sig, prob = _levels(s)
    X, y, xq, yq, s2 = _draw(s, gen, B)
    w_or, _ = _ridge(X, y, s2)
    fits = [_ridge(X, y, v) for v in sig]
    logp = torch.stack([ll + math.log(p) for (_, ll), p in zip(fits, prob)], -1)  # (B, K)
    post = torch.softmax(logp, -1)  # (B, K)
    w_bayes = sum(post[:, k, None] * fits[k][0] for k in range(len(sig)))  # (B, d)
    w_one, _ = _ridge(X, y, lam_single)
    return {k: ((v * xq).sum(-1) - yq) ** 2 for k, v in (("oracle", w_or), ("bayes", w_bayes), ("single", w_one))}


@lru_cache(maxsize=256)
def single_lambda(s: Setting, seed: int) -> float:
    """d = 1: the quadrature λ*; d > 1: the grid minimiser on an independent calibration batch (seed + 999 983)."""
    sig, prob = _levels(s)
    if s.d == 1:
        return _quadrature(s.n, tuple(sig), tuple(prob))[0]
    grid = np.geomspace(sig[0], sig[1], 25) if sig[1] > sig[0] else np.array([sig[0]])
    X, y, xq, yq, _ = _draw(s, generator(seed + 999_983), N_PROMPTS)
    risks = [float((((_ridge(X, y, float(v))[0] * xq).sum(-1) - yq) ** 2).mean()) for v in grid]
    return float(grid[int(np.argmin(risks))])


def mc_checks(s: Setting, seed: int):
    lam = single_lambda(s, seed)
    where = {**s.to_json(), "seed": seed, "n_prompts": N_PROMPTS, "lambda_single": lam}
    cache: dict = {}

    def errs(j):
        if j not in cache:
            cache[j] = errors(s, generator(seed + 7919 * j), N_PROMPTS, lam)
        return cache[j]

    out = [ordering_check("Vlad-mixed-noise", "oracle ridge ≤ Bayes (paired Monte Carlo: oracle − Bayes)",
                          lambda j: paired(errs(j)["oracle"], errs(j)["bayes"]), where),
           ordering_check("Vlad-mixed-noise", "Bayes ≤ best single ridge (paired Monte Carlo: Bayes − single)",
                          lambda j: paired(errs(j)["bayes"], errs(j)["single"]), where)]
    if s.d == 1:
        sig, prob = _levels(s)
        _, single_q, oracle_q = _quadrature(s.n, tuple(sig), tuple(prob))
        out += [monte_carlo_mean_check("Vlad-mixed-noise", "oracle ridge risk (Monte Carlo) vs quadrature (d = 1)",
                                       oracle_q, lambda j: mean_se(errs(j)["oracle"]), where, floor=1e-9),
                monte_carlo_mean_check("Vlad-mixed-noise", "single ridge risk at λ* (Monte Carlo) vs quadrature (d = 1)",
                                       single_q, lambda j: mean_se(errs(j)["single"]), where, floor=1e-9)]
    return out


# ---- refutation: one tuned λ matches the oracle -----------------------------------------------------------
MARGIN = 0.02


def _single_exact(s: Setting):
    sig, prob = _levels(s)
    _, single_q, oracle_q = _quadrature(s.n, tuple(sig), tuple(prob))
    return make_check("Vlad-single-ridge", "best single ridge vs oracle ridge risk (d = 1 quadrature; claimed equal)",
                      oracle_q, single_q, MARGIN, f"quadrature to ~1e-15; refuted when the relative excess exceeds "
                      f"{MARGIN:g}", s.to_json(), error=(single_q - oracle_q) / oracle_q, expect="refute")


def _single_confirm(s: Setting, seed: int):
    lam = single_lambda(s, seed)
    return ordering_check("Vlad-single-ridge", "paired Monte Carlo: single ridge − oracle ridge (claimed ≤ 0)",
                          lambda j: paired(*(lambda e: (e["single"], e["oracle"]))(
                              errors(s, generator(seed + 7919 * j), N_CONFIRM, lam))),
                          {**s.to_json(), "seed": seed, "lambda_single": lam}, expect="refute")


# single-replicate false-alarm corners (scripts/false_alarm.py): d = n = 1, the widest spread of noise levels
FALSE_ALARM = (FalseAlarmCorner(Setting(1, 1, 0.0, extra=(("noise_high", 4.0), ("noise_low", 0.1),
                                                  ("noise_prob", 0.5)))),)


register_spec(Spec(
    claim="Vlad-mixed-noise", settings=settings, monte_carlo=mc_checks,
    false_alarm=FALSE_ALARM,
    refutations=(Refutation(
        name="one tuned ridge λ is as good as the oracle ridge under mixed noise levels",
        breaks="a single noise level (σ_a² = σ_b²)", settings=lambda: settings(d_max=1), exact=_single_exact,
        confirm=_single_confirm, claim="Vlad-single-ridge"),),
))
