"""Boursier & Boyer (2025), "Softmax as Linear Attention in the Large-Prompt Regime: a Measure-based
Perspective" (arXiv:2512.11784; abstract read, full text not at hand).

The abstract states that for i.i.d. Gaussian inputs softmax attention converges, as the prompt grows, to a
linear operator on the token measure, with non-asymptotic concentration bounds. The suite encodes the
in-context-regression instance and derives its constants (the theorem numbers are not cited: not read).

Softmax read-out over n context tokens (keys x_i, values y_i; the query is no key):

    ŷ_n = Σ_i e_i y_i / Σ_i e_i,   e_i = exp(c · x_iᵀ x_q),   x_i, x_q ~ N(0, I_d), y_i = wᵀx_i + ε_i.

Gaussian tilt (derived): E[x e^{c xᵀx_q}] = c x_q E[e^{c xᵀx_q}], so ŷ_n → ŷ_∞ = c wᵀx_q: linear attention
with Γ = cI. Delta method on the ratio (derived): n(ŷ_n − ŷ_∞)² has conditional mean → E[e²(y − ŷ_∞)²]/(E e)²
= exp(c²‖x_q‖²)(c²(wᵀx_q)² + ‖w‖² + σ²), and with w ~ N(0, I), ‖x_q‖² ~ χ²_d (Gaussian MGFs),

    V(c) = lim n · E(ŷ_n − ŷ_∞)² = (1 − 2c²)^{−d/2} [c² d / (1 − 2c²) + d + σ²]   for c² < 1/2,

and E exp(c²‖x_q‖²) = ∞ for c² ≥ 1/2, so n · MSE has no finite limit there (no 1/n rate). The linearised error
ℓ_n = Σ_i e_i (y_i − ŷ_∞) / (n E e) has n E ℓ_n² = V at every n (its terms are i.i.d. with mean 0): what the
Monte Carlo checks measure.

Convention (not confirmable offline): scores c · x_iᵀx_q (``--score-scale 0``, default) or c · x_iᵀx_q / √d
(``--score-scale 1``, the transformer's 1/√d); with the latter every formula holds with c_eff = c/√d.
"""
from __future__ import annotations

import math

import numpy as np
import sympy as sp

from iclgd.theory.claims import REGISTRY, Citation, Claim, Param, Part, Prediction, register
from iclgd.theory.errors import SettingError
from iclgd.theory.setting import Setting, exact

PAPER = dict(
    authors="Etienne Boursier and Claire Boyer",
    title="Softmax as Linear Attention in the Large-Prompt Regime: a Measure-based Perspective",
    venue="arXiv preprint arXiv:2512.11784",
    year=2025,
    url="https://arxiv.org/abs/2512.11784",
    bibkey="boursier2025softmax",
)

PARAMS = (
    Param("inverse_temperature", "c in the softmax scores c·x_iᵀx_q (c ≥ 0; the n·MSE limit needs c_eff² < 1/2)",
          lo=0.0, hi=1e3, default=0.5),
    Param("score_scale", "0: scores c·x_iᵀx_q (the suite's convention); 1: c·x_iᵀx_q/√d (c_eff = c/√d)",
          lo=0, hi=1, integer=True, default=0),
)


def c_eff(s: Setting, claim: Claim, exact_value: bool = False):
    """The effective inverse temperature c or c/√d (``--score-scale``); a SymPy number with ``exact_value``."""
    c, k = claim.param(s, "inverse_temperature"), claim.param(s, "score_scale")
    if exact_value:
        return exact(c) / sp.sqrt(s.d) if k else exact(c)
    return c / math.sqrt(s.d) if k else c


def n_mse_limit(c2, d, sigma2):
    """V = (1 − 2c²)^{−d/2} [c² d/(1 − 2c²) + d + σ²] (derived; c² < 1/2), SymPy or float."""
    one = sp.Integer(1) if isinstance(c2, sp.Basic) else 1.0
    q = one - 2 * c2
    return q ** (-sp.Rational(d, 2) if isinstance(c2, sp.Basic) else -d / 2) * (c2 * d / q + d + sigma2)


def _validate(s: Setting) -> None:
    claim = REGISTRY["Softmax-limit"]
    if s.cov is not None:
        raise SettingError("cov", "Softmax-limit assumes x ~ N(0, I) (isotropic Gaussian keys and query)")
    if s.cov_w is not None:
        raise SettingError("cov_w", "Softmax-limit assumes w ~ N(0, I)")
    if s.target != "linear":
        raise SettingError("target", "Softmax-limit assumes linear responses y = wᵀx + ε")
    ce = c_eff(s, claim)
    if not ce * ce < 0.5:
        flag = "--inverse-temperature"
        raise SettingError(flag, f"c_eff² = {ce * ce:.6g} ≥ 1/2: E exp(c²‖x_q‖²) diverges, n·MSE has no finite "
                           "limit (no 1/n rate)")


def _predict(s: Setting, exact_values: bool) -> Prediction:
    claim = REGISTRY["Softmax-limit"]
    c = c_eff(s, claim)
    V = float(n_mse_limit(c * c, s.d, s.sigma2))
    risk = (1 - c) ** 2 * s.d + s.sigma2
    ex = None
    if exact_values:
        ce = c_eff(s, claim, True)
        ex = {"eta": str(ce), "loss": str(sp.simplify((1 - ce) ** 2 * s.d + s.sigma2_exact)),
              "n_mse_limit": str(sp.simplify(n_mse_limit(ce ** 2, s.d, s.sigma2_exact)))}
    return Prediction(gamma=c * np.eye(s.d), eta=c, loss=risk, exact=ex, error=1e-15 * max(1.0, V),
                      values={"limit_coefficient": c, "n_mse_limit": V, "limit_risk": risk})


CLAIM = register(Claim(
    id="Softmax-limit",
    citation=Citation(**PAPER, theorem="infinite-prompt limit of softmax attention (abstract)"),
    tag="[derived]",
    statement="Softmax attention with scores c·x_iᵀx_q, x ~ N(0, I): as n → ∞ its output tends to linear attention "
    "c·wᵀx_q (Γ = cI), and n·E(ŷ_n − c wᵀx_q)² → (1 − 2c²)^{−d/2}[c²d/(1 − 2c²) + d + σ²] for c² < 1/2; for "
    "c² ≥ 1/2 n·MSE has no finite limit.",
    assumptions=("keys and query x ~ N(0, I_d) i.i.d.", "w ~ N(0, I_d)", "y = wᵀx + ε, ε ~ N(0, σ²)",
                 "the query is not among the keys", "c_eff² < 1/2 for the n·MSE limit"),
    parts=(
        Part("for i.i.d. Gaussian inputs softmax attention converges in the infinite-prompt limit to a linear "
             "operator on the token measure", "paper", "abstract"),
        Part("the limit is ŷ_∞ = c wᵀx_q (Gaussian tilt: E[x e^{c xᵀx_q}] = c x_q E e^{c xᵀx_q})", "derived"),
        Part("n·E(ŷ_n − ŷ_∞)² → (1 − 2c²)^{−d/2}[c²d/(1 − 2c²) + d + σ²] (delta method, Gaussian MGFs)", "derived"),
        Part("for c² ≥ 1/2, E exp(c²‖x_q‖²) = ∞: n·MSE has no finite limit", "derived"),
        Part("scores c·x_iᵀx_q without 1/√d (--score-scale 1 gives c/√d); values are the context labels y_i",
             "convention"),
    ),
    predict_fn=_predict, validate_fn=_validate, params=PARAMS,
))
register(Claim(
    id="Softmax-limit-any-law",
    citation=Citation(**PAPER, theorem="over-generalisation of the Gaussian limit (derived)"),
    tag="[derived]",
    statement="Over-generalisation, expected to be refuted: softmax attention tends to linear attention "
    "c·wᵀE[xxᵀ]x_q for any zero-mean law of the keys, not only Gaussian (refuted by x ~ U(−a, a)^d, whose tilt "
    "gives a·coth(a c x_q,k) − 1/(c x_q,k) per coordinate).",
    assumptions=("keys x with i.i.d. U(−a, a) coordinates (--x-dist uniform:a)", "w ~ N(0, I)"),
    parts=(Part("the Gaussian tilt identity E[x e^{tᵀx}] = E[xxᵀ] t E e^{tᵀx} is special to Gaussian x", "derived"),),
    kind="overgeneralisation",
))
