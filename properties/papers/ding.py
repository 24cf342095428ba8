"""Checks of Ding-causal (:mod:`iclgd.theory.papers.ding`).

Exact routes (no code shared with the prediction):

- the stack itself on a drawn prompt (X, y, x_q from ``numpy.random.default_rng(crc32(setting))``: deterministic
  per setting): the layer acts on the label column u ∈ R^{n+1} as u ← (I − η N⁻¹ (K ⊙ mask)) u with K the Gram
  matrix of the tokens' x (the query row attends to the n examples, never to itself); its limit over 2^k layers
  by k squarings of that matrix (k = 60 causal; prefix: the fewest that take the slowest non-null mode below 1e-16), the read-out −u_q, against x_qᵀX⁺y (prefix) and x_qᵀw_n from the claim's
  recursion (causal), for a step η at 0.9 of each stack's convergence bound;
- the risks by second-moment *matrices*: A_j = E[e_j e_jᵀ], C_j = E[w e_jᵀ] through
  E[(I − P) M (I − P)] = M − 2M/d + (2M + tr M · I)/(d(d + 2)) (the sphere's fourth moments) and
  E[xxᵀ/‖x‖⁴] = E‖x‖⁻² I/d with E‖x‖⁻² a SymPy integral of the χ²_d density, in exact rationals; least squares'
  σ² d E[1/χ²_{n−d+1}] (Schur complement of XᵀX, SymPy integral); the n → ∞ limit as the fixed point of the
  matrix map (SymPy solve).

Monte Carlo: the causal recursion (check-side torch code) and min-norm least squares on 40 000 prompts, squared
error on the query, under the replicate rule. Heavy tails (E‖x‖⁻⁴ = ∞ for d ≤ 4, E tr(XᵀX)⁻² = ∞ for n ≤ d + 3)
keep noisy Monte Carlo settings at d ≥ 7, n ≥ d + 4; single-replicate false-alarm rates:
scripts/false_alarm.py.
"""
from __future__ import annotations

import zlib
from functools import lru_cache

import numpy as np
import sympy as sp
import torch
from hypothesis import strategies as st

from iclgd.empirics.predictors import ols_loss, sample_general
from iclgd.empirics.sampling import generator
from iclgd.properties.checks import check, make_check
from iclgd.properties.spec import (FalseAlarmCorner, Refutation, Spec, monte_carlo_mean_check,
    register_spec, relative_tolerance)
from iclgd.properties.strategies import noise_levels
from iclgd.properties.stats import mean_se
from iclgd.theory import Setting, get_claim
from iclgd.theory.papers.ding import causal_limit_weights

CLAIM = "Ding-causal"
N_PROMPTS = 40_000
EXACT_WHY = "float64 recursion vs exact rationals of the second-moment matrices: relative 1e-9"
STACK_WHY = ("2^k layers by k squarings of the layer's (n+1)-matrix (causal: k = 60; prefix: the fewest k that take "
             "the slowest non-null mode below 1e-16), float64 rounding of the squarings: relative 1e-7")


@st.composite
def settings(draw, max_d=None, max_n=None, mc=False):
    """Noiseless: d ≤ 4, n ≤ 10. Noisy: d ≥ 3, n ≥ d + 2 (d ≥ 7, n ≥ d + 4 for Monte Carlo: finite variances)."""
    k = draw(st.sampled_from((0, 1)), label="normalisation")
    if draw(st.booleans(), label="noisy"):
        d = draw(st.integers(7, 8) if mc else st.integers(3, 4), label="d")
        n = draw(st.integers(d + (4 if mc else 2), d + (6 if mc else 8)), label="n")
        s2 = draw(noise_levels().filter(lambda v: v > 0), label="σ²")
    else:
        d = draw(st.integers(1, 4), label="d")
        n = draw(st.integers(1, 10), label="n")
        s2 = 0.0
    return Setting(d, n, s2, extra=(("normalisation", k),))


def _k(s: Setting) -> int:
    return int(dict(s.extra).get("normalisation", 0))


# ---- the stack on a drawn prompt ---------------------------------------------------------------------
def drawn_prompt(s: Setting):
    """X (n, d), y (n,), x_q (d,) from a generator seeded by the setting itself (replayable from the record)."""
    rng = np.random.default_rng(zlib.crc32(repr((s.d, s.n, s.sigma2, s.extra)).encode()))
    X = rng.standard_normal((s.n, s.d))
    w = rng.standard_normal(s.d)
    return X, X @ w + np.sqrt(s.sigma2) * rng.standard_normal(s.n), rng.standard_normal(s.d)


def stack_limit(X: np.ndarray, y: np.ndarray, xq: np.ndarray, causal: bool, normalisation: int) -> float:
    """Read-out −u_q after 2^k layers u ← (I − η N⁻¹(K ⊙ mask)) u, u₀ = (y, 0) (k: see ``STACK_WHY``)."""
    n = len(y)
    Z = np.vstack([X, xq])  # (n+1, d): token x's, the query last
    K = Z @ Z.T  # (n+1, n+1)
    mask = np.zeros((n + 1, n + 1))
    mask[:, :n] = 1.0  # every token attends to the n examples (the query never to itself)
    if causal:
        mask[:n, :n] = np.tril(np.ones((n, n)))  # example j attends to i ≤ j
    N = np.full(n + 1, float(n)) if not (causal and normalisation) else np.append(np.arange(1, n + 1), n).astype(float)
    A = (K * mask) / N[:, None]  # (n+1, n+1)
    squarings = 60
    if causal:
        eta = 0.9 * np.min(N[:n] / np.diag(K)[:n])  # diagonal of the triangular context block in [0.1, 1)
    else:
        lam = np.linalg.eigvalsh(X.T @ X)  # (d,): the non-zero eigenvalues of the context Gram block
        eta = 0.9 * n / lam.max()  # eigenvalues 1 − ηλ/n in [0.1, 1], and exactly 1 on null(Xᵀ)
        slowest = 1 - eta * lam[lam > lam.max() * 1e-12].min() / n
        # the fewest squarings that take the slowest non-null mode below 1e-16: more would let float64's
        # rounding of the null modes' eigenvalue 1 (±1e-16 per layer) accumulate
        squarings = min(60, int(np.ceil(np.log2(np.log(1e-16) / np.log(slowest)))) + 1) if slowest > 0 else 1
    T = np.eye(n + 1) - eta * A
    for _ in range(squarings):
        T = T @ T
    return float(-(T @ np.append(y, 0.0))[n])


# ---- the risks by second-moment matrices ---------------------------------------------------------------
@lru_cache(maxsize=None)
def inverse_chi2_mean(k: int) -> sp.Expr:
    """E[1/χ²_k] by SymPy's integral of the density (∞ for k ≤ 2)."""
    t = sp.Symbol("t", positive=True)
    dens = t ** sp.Rational(k - 2, 2) * sp.exp(-t / 2) / (2 ** sp.Rational(k, 2) * sp.gamma(sp.Rational(k, 2)))
    return sp.integrate(dens / t, (t, 0, sp.oo))


def _project_out(M: sp.Matrix, d: int) -> sp.Matrix:
    """E[(I − P) M (I − P)], P = xxᵀ/‖x‖², x isotropic (sphere fourth moments), M symmetric."""
    return M - 2 * M / d + (2 * M + M.trace() * sp.eye(d)) / (d * (d + 2))


@lru_cache(maxsize=None)
def causal_risk_exact(d: int, n: int, sigma2: sp.Rational, k: int) -> sp.Expr:
    """σ² + tr A_n from the matrix recursion of the module docstring."""
    I = sp.eye(d)
    noise = sigma2 * inverse_chi2_mean(d) * I / d if sigma2 else sp.zeros(d)
    A, C = sp.Matrix(I), sp.Matrix(I)  # e_0 = w
    for j in range(1, n + 1):
        if k:
            Evv = I / j ** 2 + sp.Rational(j - 1, j ** 2) * (C + C.T) + sp.Rational(j - 1, j) ** 2 * A
            Ewv = I / j + sp.Rational(j - 1, j) * C
        else:
            Evv, Ewv = A, C
        A, C = _project_out(Evv, d) + noise, Ewv * (1 - sp.Rational(1, d))
    return sigma2 + A.trace()


def causal_limit_exact(d: int, sigma2: sp.Rational) -> sp.Expr:
    """σ² + tr of the fixed point of A ↦ E[(I − P)A(I − P)] + σ² E‖x‖⁻² I/d (A = mI, m solved by SymPy)."""
    if sigma2 == 0:
        return sp.Integer(0)
    m = sp.Symbol("m")
    A = m * sp.eye(d)
    sol = sp.solve(sp.Eq(_project_out(A, d)[0, 0] + sigma2 * inverse_chi2_mean(d) / d, m), m)[0]
    return sigma2 + d * sol


def ls_risk_exact(d: int, n: int, sigma2: sp.Rational) -> sp.Expr:
    """Min-norm least squares: σ² + σ² d E[1/χ²_{n−d+1}] (n ≥ d + 2; Schur complement), (d − n)⁺ noiseless."""
    if sigma2 == 0:
        return sp.Integer(max(d - n, 0))
    return sigma2 + sigma2 * d * inverse_chi2_mean(n - d + 1)


def _f(v) -> float:
    return float(sp.N(v, 30))


def exact_checks(s: Setting):
    pred = get_claim(CLAIM).predict(s, exact=False)
    where = s.to_json()
    X, y, xq = drawn_prompt(s)
    k = _k(s)
    out = []
    for causal, reference, what in [(False, float(xq @ np.linalg.pinv(X) @ y), "x_qᵀX⁺y (least squares)"),
                                    (True, float(xq @ causal_limit_weights(X, y, k)), "x_qᵀw_n (the recursion)")]:
        got = stack_limit(X, y, xq, causal, k)
        out.append(check(CLAIM, f"{'causal' if causal else 'prefix'} stack's read-out after 2^k layers vs {what}",
                         reference, got, 1e-7 * max(1.0, abs(reference), float(np.abs(y).max())), STACK_WHY,
                         {**where, "prompt": "numpy default_rng(crc32(setting))"}))
    s2 = s.sigma2_exact
    for q, v, p in [("causal limit's risk: loss", causal_risk_exact(s.d, s.n, s2, k), pred.loss),
                    ("causal limit's risk: causal_limit_risk", causal_risk_exact(s.d, s.n, s2, k),
                     pred.values["causal_limit_risk"]),
                    ("prefix limit's risk: prefix_limit_risk", ls_risk_exact(s.d, s.n, s2),
                     pred.values["prefix_limit_risk"]),
                    ("causal risk as n → ∞: causal_risk_n_infinity", causal_limit_exact(s.d, s2),
                     pred.values["causal_risk_n_infinity"])]:
        out.append(check(CLAIM, q, _f(v), p, relative_tolerance(_f(v)), EXACT_WHY, where))
    return out


# ---- Monte Carlo -----------------------------------------------------------------------------------------
def causal_squared_errors(X: torch.Tensor, y: torch.Tensor, normalisation: int) -> torch.Tensor:
    """(y_q − w_nᵀx_q)² per prompt for the causal recursion run on X (B, n+1, d), y (B, n+1)."""
    n = X.shape[1] - 1
    w = torch.zeros(X.shape[0], X.shape[2], dtype=X.dtype)  # (B, d)
    for j in range(1, n + 1):
        x = X[:, j - 1]  # (B, d)
        base = w * ((j - 1) / j) if normalisation else w
        w = base + x * ((y[:, j - 1] - (base * x).sum(-1)) / x.square().sum(-1))[:, None]
    return (y[:, n] - (w * X[:, n]).sum(-1)) ** 2  # (B,)


def mc_checks(s: Setting, seed: int):
    pred = get_claim(CLAIM).predict(s, exact=False)
    where = {**s.to_json(), "seed": seed, "n_prompts": N_PROMPTS}

    def draw(j):
        return sample_general(N_PROMPTS, s.n, s.d, generator=generator(seed + 7919 * j), sigma2=s.sigma2)

    def causal(j):
        sq = causal_squared_errors(*(lambda p: (p.X, p.y))(draw(j)), _k(s))
        return mean_se(sq)

    out = [monte_carlo_mean_check(CLAIM, "causal recursion's squared error (Monte Carlo) vs causal_limit_risk",
                                  pred.values["causal_limit_risk"], causal, where)]
    if s.sigma2 > 0 or s.n < s.d:  # noiseless n ≥ d: least squares is exact (error 0 up to rounding)
        out.append(monte_carlo_mean_check(CLAIM, "least squares' squared error (Monte Carlo) vs prefix_limit_risk",
                                          pred.values["prefix_limit_risk"], lambda j: ols_loss(draw(j)), where))
    return out


# ---- over-generalisation: the causal stack converges to least squares too --------------------------------
@st.composite
def ls_settings(draw):
    """Noiseless, d ≥ 2, n ≥ d (least squares then recovers w exactly)."""
    d = draw(st.integers(2, 4), label="d")
    return Setting(d, draw(st.integers(d, 8), label="n"), 0.0,
                   extra=(("normalisation", draw(st.sampled_from((0, 1)), label="normalisation")),))


def _ls_exact(s: Setting):
    X, y, xq = drawn_prompt(s)
    ls = float(xq @ np.linalg.pinv(X) @ y)
    got = stack_limit(X, y, xq, True, _k(s))
    return make_check("Ding-causal-LS", "causal stack's read-out after 2^k layers vs x_qᵀX⁺y (claimed equal)", ls,
                      got, 1e-7 * max(1.0, abs(ls), float(np.abs(y).max())), STACK_WHY,
                      {**s.to_json(), "prompt": "numpy default_rng(crc32(setting))"}, expect="refute")


def _ls_confirm(s: Setting, seed: int):
    def causal(j):
        p = sample_general(N_PROMPTS, s.n, s.d, generator=generator(seed + 7919 * j))
        sq = causal_squared_errors(p.X, p.y, _k(s))
        return mean_se(sq)

    return monte_carlo_mean_check("Ding-causal-LS", "causal recursion's squared error (Monte Carlo) vs least "
                                  "squares' risk 0 (noiseless, n ≥ d; claimed equal)", 0.0, causal,
                                  {**s.to_json(), "seed": seed}, expect="refute")


# single-replicate false-alarm corners (scripts/false_alarm.py): the smallest d and n, both normalisations, and the
# strategy's noisy corner
FALSE_ALARM = (FalseAlarmCorner(Setting(1, 1, 0.0, extra=(("normalisation", 0),))),
               FalseAlarmCorner(Setting(3, 2, 0.0, extra=(("normalisation", 1),))),
               FalseAlarmCorner(Setting(6, 2, 2.0, extra=(("normalisation", 0),))),  # heavier than the strategy draws
               FalseAlarmCorner(Setting(7, 11, 2.0, extra=(("normalisation", 0),))),
               FalseAlarmCorner(Setting(7, 11, 2.0, extra=(("normalisation", 1),))))


register_spec(Spec(
    claim=CLAIM, settings=settings, exact=exact_checks, monte_carlo=mc_checks,
    false_alarm=FALSE_ALARM,
    refutations=(Refutation(
        name="the causal-masked stack converges to least squares too",
        breaks="the prefix mask (Σ_i u_i x_i = 0 over all n examples, the normal equations)",
        settings=ls_settings, exact=_ls_exact, confirm=_ls_confirm, claim="Ding-causal-LS"),),
))
