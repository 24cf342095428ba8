"""Vladymyrov, von Oswald, Sandler & Ge (NeurIPS 2024), "Linear Transformers are Versatile In-Context
Learners": regression whose label-noise level is drawn per prompt from a finite set. The abstract states
that linear transformers trained on it surpass or match reasonable baselines (tuned ridge among them).

Vlad-mixed-noise (derived): x, w ~ N(0, I_d), σ² = σ_k² with probability π_k (two levels here:
``--noise-low`` σ_a², ``--noise-high`` σ_b², ``--noise-prob`` π_b). The Bayes predictor is the
posterior-weighted ridge Σ_k p(k | prompt) ridge_{λ = σ_k²}; its risk lies between the oracle ridge's (which
knows each prompt's σ_k²: more information) and the best single ridge's (one member of the predictor class
the Bayes predictor minimises over). No closed form at finite n for d > 1: a Monte Carlo ordering
(``iclgd verify --claims Vlad-mixed-noise``). For d = 1 the ridge risks are one-dimensional integrals over
S = Σ x_i² ~ χ²_n (derived): R(λ; σ²) = σ² + E_S[(λ² + σ²S)/(S + λ)²], evaluated here by quadrature
(the trapezoid rule in log S).
"""
from __future__ import annotations

import math

import numpy as np

from iclgd.theory.claims import Citation, Claim, Param, Part, register
from iclgd.theory.errors import SettingError
from iclgd.theory.setting import Setting

PAPER = dict(
    authors="Max Vladymyrov and Johannes von Oswald and Mark Sandler and Rong Ge",
    title="Linear Transformers are Versatile In-Context Learners",
    venue="Advances in Neural Information Processing Systems (NeurIPS)", year=2024,
    url="https://arxiv.org/abs/2402.14180", bibkey="vladymyrov2024linear")

PARAMS = (
    Param("noise_low", "σ_a² > 0, the lower label-noise variance of the mixture", lo=0.0, hi=1e4, lo_open=True,
          default=0.1),
    Param("noise_high", "σ_b² ≥ σ_a², the higher label-noise variance", lo=0.0, hi=1e4, lo_open=True, default=1.0),
    Param("noise_prob", "π_b ∈ (0, 1), the probability of the higher level", lo=0.0, hi=1.0, lo_open=True,
          hi_open=True, default=0.5),
)


def levels(s: Setting, claim: Claim) -> tuple[list, list]:
    """([σ_a², σ_b²], [1 − π_b, π_b])."""
    lo, hi, p = (claim.param(s, k) for k in ("noise_low", "noise_high", "noise_prob"))
    return [lo, hi], [1 - p, p]


_V = np.linspace(-90.0, 7.5, 6001)  # log S: e^{-90} to e^{7.5} ≈ 1800 (S ~ χ²_n, n ≤ 100: the tail is < 1e-300)


def _chi2_expect(n: int, g) -> np.ndarray:
    """(k,) E g(S) for S ~ χ²_n, g mapping an (N, 1) array of S to (N, k), by the trapezoid rule in v = log S:
    the integrand e^{v n/2} e^{−e^v/2} g(e^v) (up to the χ² normaliser) is analytic and decays doubly
    exponentially at +∞, like e^{vn/2} at −∞, so the rule converges geometrically (to float64 rounding on this
    grid)."""
    S = np.exp(_V)
    logw = 0.5 * n * _V - S / 2 - (0.5 * n * np.log(2) + math.lgamma(n / 2))
    wts = np.exp(logw) * (_V[1] - _V[0])
    return np.broadcast_to(g(S[:, None]), (len(S), np.size(g(S[:1, None])))).T @ wts


def ridge_risk_1d(n: int, lam, sigma2: float):
    """d = 1, x, w ~ N(0, 1): R(λ; σ²) = σ² + E_S[(λ² + σ²S)/(S + λ)²], S ~ χ²_n (ŵ − w = (−λw + Σ x_iε_i)/(S + λ));
    ``lam`` a float or an array of λ."""
    lam = np.atleast_1d(np.asarray(lam, float))
    out = sigma2 + _chi2_expect(n, lambda S: (lam**2 + sigma2 * S) / (S + lam) ** 2)
    return out if out.size > 1 else float(out[0])


def mixed_ridge_risk_1d(n: int, lam, sig: list, prob: list):
    return sum(p * ridge_risk_1d(n, lam, s2) for s2, p in zip(sig, prob))


def best_lambda_1d(n: int, sig: list, prob: list) -> float:
    """argmin_λ Σ_k π_k R(λ; σ_k²) (d = 1): each R(·; σ_k²) falls below σ_k² and rises above it, so the minimiser
    lies in [min σ², max σ²]; a 401-point log grid there, then golden-section refinement between the neighbours."""
    a, b = min(sig), max(sig)
    if a == b:
        return a
    grid = np.geomspace(a, b, 401)
    i = int(np.argmin(mixed_ridge_risk_1d(n, grid, sig, prob)))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    g = (5**0.5 - 1) / 2
    for _ in range(40):  # the bracket shrinks by 0.618⁴⁰ ≈ 4e-9
        c, d = hi - g * (hi - lo), lo + g * (hi - lo)
        if mixed_ridge_risk_1d(n, c, sig, prob) < mixed_ridge_risk_1d(n, d, sig, prob):
            hi = d
        else:
            lo = c
    return (lo + hi) / 2


def _validate(claim_id: str):
    def v(s: Setting) -> None:
        for f, why in (("cov", "x ~ N(0, I)"), ("cov_w", "w ~ N(0, I)")):
            if getattr(s, f) is not None:
                raise SettingError(f, f"{claim_id} assumes {why}")
        if s.sigma2 != 0:
            raise SettingError("sigma2", f"{claim_id} draws the noise level per prompt: give --noise-low, --noise-high "
                               "(and --noise-prob), not --sigma2")
        if s.target != "linear":
            raise SettingError("target", f"{claim_id} assumes linear responses")
        ex = dict(s.extra)
        if float(ex.get("noise_high", 1.0)) < float(ex.get("noise_low", 0.1)):
            raise SettingError("--noise-high", "must be ≥ --noise-low")
    return v


_ASSUME = ("x_i, x_q ~ N(0, I_d) i.i.d.", "w ~ N(0, I_d)",
           "per prompt σ² = σ_a² w.p. 1 − π_b, σ_b² w.p. π_b (--noise-low, --noise-high, --noise-prob); "
           "y = wᵀx + N(0, σ²) on demonstrations and query")
register(Claim(
    id="Vlad-mixed-noise", citation=Citation(**PAPER, theorem="mixed noise levels (abstract)"), tag="[derived]",
    statement="Noise level drawn per prompt from {σ_a², σ_b²}: the Bayes predictor Σ_k p(k | prompt) ridge_{σ_k²} has risk "
    "between the oracle ridge's (λ = the prompt's own σ_k²) and the best single ridge's (one λ for all prompts).",
    assumptions=_ASSUME, kind="theorem", validate_fn=_validate("Vlad-mixed-noise"), params=PARAMS,
    parts=(Part("linear transformers trained on mixed noise levels surpass or match reasonable baselines", "paper",
                "abstract"),
           Part("the Bayes predictor is the posterior-weighted ridge; oracle ridge ≤ Bayes ≤ best single ridge", "derived"),
           Part("two noise levels; w ~ N(0, I); the query carries its prompt's noise", "convention")),
))
register(Claim(
    id="Vlad-single-ridge", citation=Citation(**PAPER, theorem="over-generalisation: one tuned ridge suffices"),
    tag="[derived]",
    statement="Over-generalisation, expected to be refuted: with noise levels mixed across prompts, the best single "
    "ridge is as good as the oracle ridge that knows each prompt's level (tuning λ once loses nothing).",
    assumptions=_ASSUME, kind="overgeneralisation", validate_fn=_validate("Vlad-single-ridge"), params=PARAMS,
    parts=(Part("a single tuned λ matches per-prompt tuning when σ² varies across prompts", "derived"),),
))
