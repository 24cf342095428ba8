"""Hastie-ridgeless (Hastie, Montanari, Rosset, Tibshirani, Ann. Statist. 2022; isotropic features): min-norm least
squares ("ridgeless") with p/n → γ, x ~ N(0, I_p), a fixed β with ‖β‖² = r², noise σ²: the excess risk
E(x_qᵀ(β̂ − β))² tends to
  γ < 1: σ² γ/(1 − γ);     γ > 1: r²(1 − 1/γ) + σ²/(γ − 1)      (a pole at γ = 1).
Derived here: the exact finite-n excess risk (BHX-minnorm's formula with every feature used) is
σ² p/(n − p − 1) (p ≤ n − 2) and r²(1 − n/p) + σ² n/(p − n − 1) (p ≥ n + 2); along p = γn it converges at O(1/n),
n·(finite − limit) → σ² γ/(1 − γ)² (γ < 1) or σ²/(γ − 1)² (γ > 1) (the bias term has no 1/n correction).
"""
from __future__ import annotations

from iclgd.theory.claims import Citation, Claim, Param, Part, Prediction, register
from iclgd.theory.errors import SettingError
from iclgd.theory.papers.bayes_ridge import isotropic_only
from iclgd.theory.papers.nakkiran import R2
from iclgd.theory.setting import Setting

HASTIE = dict(
    authors="Trevor Hastie and Andrea Montanari and Saharon Rosset and Ryan J. Tibshirani",
    title="Surprises in High-Dimensional Ridgeless Least Squares Interpolation",
    venue="Annals of Statistics", year=2022, url="https://arxiv.org/abs/1903.08560", bibkey="hastie2022surprises")
GAMMA = Param("gamma", "the limiting ratio γ = p/n (Hastie-ridgeless refuses the pole γ = 1)", lo=0.0, lo_open=True,
              hi=1e6)
POLE_GAP = 1e-6  # |γ − 1| below this is the pole


def ridgeless_limit(gamma: float, r2: float, sigma2: float) -> tuple[float, float]:
    """(excess-risk limit, n·(finite − limit) → rate constant) at p/n → γ."""
    if gamma < 1:
        return sigma2 * gamma / (1 - gamma), sigma2 * gamma / (1 - gamma) ** 2
    return r2 * (1 - 1 / gamma) + sigma2 / (gamma - 1), sigma2 / (gamma - 1) ** 2


def ridgeless_finite(p: int, n: int, r2: float, sigma2: float) -> float | None:
    """The exact finite-n excess risk (None for |p − n| ≤ 1 with noise: infinite)."""
    bias = r2 * (1 - n / p) if p > n else 0.0
    if sigma2 == 0:
        return bias
    if abs(p - n) <= 1:
        return None
    m, M = min(n, p), max(n, p)
    return bias + sigma2 * m / (M - m - 1)


def _validate(s: Setting) -> None:
    isotropic_only("Hastie-ridgeless", "a fixed β with ‖β‖² = --r2")(s)
    g = CLAIM.param(s, "gamma")
    if abs(g - 1) < POLE_GAP:
        raise SettingError("--gamma", f"γ = 1 is the interpolation threshold, where the limit has a pole; got {g!r}")


def _predict(s: Setting, exact: bool) -> Prediction:
    g, r2 = CLAIM.param(s, "gamma"), CLAIM.param(s, "r2")
    limit, rate = ridgeless_limit(g, r2, s.sigma2)
    return Prediction(gamma=None, eta=None, loss=s.sigma2 + limit, values={
        "excess_risk_limit": limit, "risk_limit": s.sigma2 + limit, "rate_constant": rate,
        "excess_risk_finite": ridgeless_finite(s.d, s.n, r2, s.sigma2)})


CLAIM = register(Claim(
    id="Hastie-ridgeless",
    citation=Citation(**HASTIE, theorem="isotropic ridgeless limit (theorem number not read)"),
    tag="[paper]",
    statement="x ~ N(0, I_p), a fixed β with ‖β‖² = r², noise σ², p/n → γ: the min-norm least-squares excess risk tends "
    "to σ²γ/(1 − γ) for γ < 1 and r²(1 − 1/γ) + σ²/(γ − 1) for γ > 1; the exact finite-n risk at (p, n) = (--d, --n) "
    "(excess_risk_finite) converges to it at O(1/n) along p = γn, n·(finite − limit) → rate_constant.",
    assumptions=("x_j, x_q ~ N(0, I_p) i.i.d. (p = --d)", "β fixed, ‖β‖² = r² (--r2, default 1)",
                 "y_j = βᵀx_j + ε_j, ε_j ~ N(0, σ²) i.i.d.", "γ = --gamma > 0, γ ≠ 1"),
    parts=(
        Part("the isotropic ridgeless limit on each side of γ = 1", "paper", "isotropic case (theorem number not read)"),
        Part("the exact finite-n risk and the 1/n rate constant along p = γn", "derived"),
        Part("β fixed with ‖β‖² = r² (a prior w ~ N(0, (r²/p) I) gives the same risk: it is quadratic in β)",
             "convention"),
    ),
    kind="theorem", predict_fn=_predict, validate_fn=_validate, params=(GAMMA, R2),
))

register(Claim(
    id="Hastie-overparam-monotone",
    citation=Citation(**HASTIE, theorem="over-generalisation (not the paper's statement)"),
    tag="[derived]",
    statement="Over-generalisation, expected refuted: beyond the interpolation threshold (γ > 1) the ridgeless limiting "
    "risk decreases as γ grows (more over-parametrisation always helps).",
    assumptions=("x ~ N(0, I_p)", "‖β‖² = r²", "noise σ²", "γ > 1"),
    parts=(Part("r²(1 − 1/γ) + σ²/(γ − 1) is non-increasing on γ > 1", "derived"),),
    kind="overgeneralisation", params=(GAMMA, R2),
))
