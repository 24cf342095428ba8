"""Li, Rawat & Oymak (NeurIPS 2024), "Fine-grained Analysis of In-context Linear Estimation": what the
abstract states — H3's convolution implements sample weighting and so outperforms linear attention;
retrieval-augmented (query-correlated) demonstrations improve the sample complexity — made exact for
x, w ~ N(0, I_d) in the convention ŷ = gᵀΓx_q, g = (1/n) Σ y_i x_i (derived here, not read from the paper).

Li-H3-weighting: y_i = wᵀx_i + ε_i, ε_i ~ N(0, σ_i²) with σ_i² = σ² + δ(i − 1) (``--sigma2`` σ²,
``--noise-step`` δ: a convention; H3 may weight each position, LSA weighs all alike). For
ŷ = Σ ω_i y_i x_iᵀx_q, with c_i = d + 1 + σ_i², H = Σ 1/c_i, C = Σ c_i (E_w[(wᵀx)²] = ‖x‖², E‖x‖⁴ = d(d+2)):

    E(ŷ − wᵀx_q)² = d[(Σω)² + Σ ω_i² c_i − 2Σω + 1],
    optimal ω_i* = 1/(c_i(1 + H)), risk d/(1 + H);  best uniform ω = n/(n² + C), risk dC/(n² + C),

equal iff all c_i are equal (Cauchy–Schwarz: H ≥ n²/C), i.e. iff all σ_i² are equal (δ = 0 or n = 1).

Li-RAG: x_q ~ N(0, I), x_i = α x_q + z_i, z_i ~ N(0, ρ² I) i.i.d. (``--retrieval-alpha`` α,
``--retrieval-noise`` ρ²; the model could not be confirmed offline: ρ² = 1 is x_i = αx_q + z_i with
standard z, ρ² = 1 − α² keeps x_i ~ N(0, I); both are instances), w ~ N(0, I), noise σ² on every label.
With s = ‖x_q‖² ~ χ²_d (E s = d, E s² = d(d+2), E s³ = d(d+2)(d+4)), B = E[gᵀx_q wᵀx_q] = α²E s² + ρ²E s and
A = E(gᵀx_q)² = ((n−1)/n) E[(α²s + ρ²)² s] + (1/n) E[s(α⁴s² + 6α²ρ²s + 3ρ⁴) + (d−1)ρ²s(α²s + ρ²) + σ²s(α²s + ρ²)];
the optimum over Γ is η*I (rotation invariance), η* = B/A, L* = σ² + d − B²/A. α = 0, ρ² = 1 is M1.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp

from iclgd.theory.claims import Citation, Claim, Param, Part, Prediction, register
from iclgd.theory.errors import SettingError
from iclgd.theory.setting import Setting, exact

PAPER = dict(
    authors="Yingcong Li and Ankit Singh Rawat and Samet Oymak",
    title="Fine-grained Analysis of In-context Linear Estimation: Data, Architecture, and Beyond",
    venue="Advances in Neural Information Processing Systems (NeurIPS)", year=2024,
    url="https://arxiv.org/abs/2407.10005", bibkey="li2024finegrained")

H3_N_MAX = 100_000  # one weight per position in the output
H3_EXACT_N_MAX = 64  # exact rational weights (their digits grow with n) up to this n

d_, n_, s2_, a_, r2_, sq_ = sp.symbols("d n sigma2 alpha rho2 s", positive=True)


def _chi2_moment(k: int, d):
    """E s^k for s ~ χ²_d: d(d + 2)…(d + 2k − 2)."""
    out = sp.Integer(1)
    for j in range(k):
        out *= d + 2 * j
    return out


def _expect_s(poly, d):
    """E over s ~ χ²_d of a polynomial in s (term by term)."""
    p = sp.Poly(sp.expand(poly), sq_)
    return sp.Add(*(c * _chi2_moment(m[0], d) for m, c in p.terms()))


@lru_cache(maxsize=None)
def rag_moments():
    """(A, B) of the docstring as SymPy expressions in d, n, σ², α, ρ² (derived by conditioning on x_q)."""
    s, a, r2 = sq_, a_, r2_
    cross = (a**2 * s + r2) ** 2 * s
    same = s * (a**4 * s**2 + 6 * a**2 * r2 * s + 3 * r2**2) + (d_ - 1) * r2 * s * (a**2 * s + r2) \
        + s2_ * s * (a**2 * s + r2)
    A = (n_ - 1) / n_ * _expect_s(cross, d_) + _expect_s(same, d_) / n_
    B = _expect_s((a**2 * s + r2) * s, d_)
    return sp.simplify(A), sp.simplify(B)


def rag_closed_form(d, n, sigma2, alpha, rho2):
    """(η*, L*, L(η_M1), η_M1) at numbers (floats) or exact rationals."""
    A, B = rag_moments()
    sub = {d_: d, n_: n, s2_: sigma2, a_: alpha, r2_: rho2}
    if all(isinstance(v, (int, sp.Rational)) for v in sub.values()):
        Av, Bv = A.subs(sub), B.subs(sub)
    else:
        f = _rag_numeric()
        Av, Bv = f(d, n, sigma2, alpha, rho2)
    eta = Bv / Av
    loss = sigma2 + d - Bv * Bv / Av
    eta_iid = n / (n + d + 1 + sigma2)
    loss_iid = sigma2 + d - 2 * eta_iid * Bv + eta_iid**2 * Av
    return eta, loss, loss_iid, eta_iid


@lru_cache(maxsize=None)
def _rag_numeric():
    A, B = rag_moments()
    return sp.lambdify((d_, n_, s2_, a_, r2_), (A, B), modules="math")


def h3_closed_form(d, sigma2s):
    """(ω*, risk of ω*, best uniform ω, its risk) for per-position noise variances ``sigma2s`` (numbers or
    rationals): c_i = d + 1 + σ_i², H = Σ 1/c_i, C = Σ c_i."""
    c = [d + 1 + v for v in sigma2s]
    n = len(c)
    H = sum(1 / ci for ci in c)
    C = sum(c)
    weights = [1 / (ci * (1 + H)) for ci in c]
    return weights, d / (1 + H), n / (n * n + C), d * C / (n * n + C)


def noise_levels(s: Setting, claim: Claim, exact_: bool = False) -> list:
    """σ_i² = σ² + δ(i − 1), i = 1..n (δ = ``--noise-step``)."""
    step = claim.param(s, "noise_step")
    if exact_:
        return [s.sigma2_exact + exact(step) * i for i in range(s.n)]
    return [s.sigma2 + step * i for i in range(s.n)]


def _isotropic(claim_id: str, n_max: int | None = None):
    def v(s: Setting) -> None:
        if n_max is not None and s.n > n_max:
            raise SettingError("n", f"{claim_id} reports one weight per position: n ≤ {n_max}, got {s.n}")
        if s.cov is not None:
            raise SettingError("cov", f"{claim_id} assumes x ~ N(0, I)")
        if s.cov_w is not None:
            raise SettingError("cov_w", f"{claim_id} assumes w ~ N(0, I)")
        if s.target != "linear":
            raise SettingError("target", f"{claim_id} assumes linear responses y = wᵀx + ε")
    return v


def _predict_h3(s: Setting, exact_: bool) -> Prediction:
    claim = CLAIMS["Li-H3-weighting"]
    w, r, wu, ru = h3_closed_form(s.d, noise_levels(s, claim))
    ex = None
    if exact_ and s.n <= H3_EXACT_N_MAX:
        we, re, wue, rue = h3_closed_form(s.d, noise_levels(s, claim, True))
        ex = {"gamma": None, "eta": None, "loss": str(re), "weights": [str(v) for v in we],
              "uniform_weight": str(wue), "risk_uniform": str(rue), "gap": str(sp.simplify(rue - re))}
    return Prediction(None, None, float(r), ex, values={
        "weights": np.array(w, float), "risk_weighted": float(r), "uniform_weight": float(wu),
        "risk_uniform": float(ru), "gap": float(ru - r)})


def _predict_rag(s: Setting, exact_: bool) -> Prediction:
    claim = CLAIMS["Li-RAG"]
    alpha, rho2 = claim.param(s, "retrieval_alpha"), claim.param(s, "retrieval_noise")
    eta, loss, loss_iid, eta_iid = rag_closed_form(s.d, s.n, s.sigma2, alpha, rho2)
    ex = None
    if exact_:
        e = rag_closed_form(s.d, s.n, s.sigma2_exact, exact(alpha), exact(rho2))
        ex = {"gamma": f"({e[0]})*I", "eta": str(e[0]), "loss": str(e[1]), "risk_iid_step": str(e[2]),
              "eta_iid": str(e[3])}
    return Prediction(eta * np.eye(s.d), float(eta), float(loss), ex, values={
        "eta_iid": float(eta_iid), "risk_iid_step": float(loss_iid)})


ASSUME_ISO = ("x_i, x_q ~ N(0, I_d) i.i.d.", "w ~ N(0, I_d)")
CLAIMS: dict[str, Claim] = {}
CLAIMS["Li-H3-weighting"] = register(Claim(
    id="Li-H3-weighting", citation=Citation(**PAPER, theorem="H3 sample weighting (abstract)"), tag="[derived]",
    statement="x, w ~ N(0, I_d), label noise σ_i² per position: the best per-example weights of ŷ = Σ ω_i y_i x_iᵀx_q "
    "(what H3's convolution can express) are ω_i* = 1/(c_i(1 + H)), c_i = d + 1 + σ_i², H = Σ 1/c_i, with risk "
    "E(ŷ − wᵀx_q)² = d/(1 + H); the best uniform weight (one-layer LSA) is n/(n² + C), C = Σ c_i, risk dC/(n² + C); "
    "the two risks are equal iff all σ_i² are equal.",
    assumptions=(*ASSUME_ISO, "y_i = wᵀx_i + ε_i, ε_i ~ N(0, σ_i²) independent, σ_i² = σ² + δ(i − 1) "
                 "(--sigma2, --noise-step)", "risk against the noiseless target wᵀx_q"),
    parts=(Part("H3 implements sample weighting and outperforms linear attention", "paper", "abstract"),
           Part("the optimal weights, both risks in closed form, equality iff all σ_i² are equal", "derived"),
           Part("per-position noise σ_i² = σ² + δ(i − 1); risk against wᵀx_q; ŷ = gᵀΓx_q convention", "convention")),
    predict_fn=_predict_h3, validate_fn=_isotropic("Li-H3-weighting", H3_N_MAX),
    params=(Param("noise_step", "δ ≥ 0: label-noise variance σ_i² = σ² + δ(i − 1) at position i", lo=0.0, hi=1e6,
                  default=0.0),),
))
CLAIMS["Li-RAG"] = register(Claim(
    id="Li-RAG", citation=Citation(**PAPER, theorem="retrieval-augmented demonstrations (abstract)"), tag="[derived]",
    statement="x_q ~ N(0, I_d), demonstrations retrieved near the query, x_i = αx_q + z_i, z_i ~ N(0, ρ²I), w ~ N(0, I), "
    "noise σ²: the optimal one-layer Γ is η*I, η* = B/A, L* = σ² + d − B²/A with B = α²d(d+2) + ρ²d and A as in "
    "iclgd.theory.papers.li_rawat_oymak (exact at finite n); the IID step n/(n+d+1+σ²) is worse for α ≠ 0; "
    "α = 0, ρ² = 1 is M1.",
    assumptions=("x_q ~ N(0, I_d); x_i = αx_q + z_i, z_i ~ N(0, ρ²I_d) i.i.d. given x_q (--retrieval-alpha, "
                 "--retrieval-noise)", "w ~ N(0, I_d)", "y = wᵀx + ε, ε ~ N(0, σ²) on demonstrations and query"),
    parts=(Part("query-correlated (retrieved) demonstrations improve the sample complexity of ICL", "paper", "abstract"),
           Part("x_i = αx_q + z_i with z_i ~ N(0, ρ²I): ρ² = 1 (standard z) and ρ² = 1 − α² (x_i ~ N(0, I)) both "
                "checked", "convention"),
           Part("η*, L* exact at finite n; the IID step's risk; α = 0, ρ² = 1 gives M1", "derived")),
    predict_fn=_predict_rag, validate_fn=_isotropic("Li-RAG"),
    params=(Param("retrieval_alpha", "α of retrieved demonstrations x_i = αx_q + z_i", lo=-100.0, hi=100.0, default=0.0),
            Param("retrieval_noise", "ρ² > 0: z_i ~ N(0, ρ²I) (1: standard; 1 − α²: x_i ~ N(0, I))", lo=0.0, hi=1e6,
                  lo_open=True, default=1.0)),
))
register(Claim(
    id="Li-RAG-iid-step", citation=Citation(**PAPER, theorem="over-generalisation of the IID optimum"), tag="[derived]",
    statement="Over-generalisation, expected to be refuted: with retrieved demonstrations (α ≠ 0) the IID-optimal step "
    "η = n/(n + d + 1 + σ²) is still the optimal one-layer step.",
    assumptions=CLAIMS["Li-RAG"].assumptions, kind="overgeneralisation",
    parts=(Part("M1's step stays optimal when demonstrations correlate with the query", "derived"),),
))
register(Claim(
    id="Li-H3-uniform", citation=Citation(**PAPER, theorem="over-generalisation: LSA matches H3"), tag="[derived]",
    statement="Over-generalisation, expected to be refuted: with unequal per-position noise the best uniform weight "
    "(one-layer LSA) is as good as the best per-example weights (H3).",
    assumptions=CLAIMS["Li-H3-weighting"].assumptions, kind="overgeneralisation",
    parts=(Part("sample weighting gains nothing under heteroscedastic positions", "derived"),),
))
