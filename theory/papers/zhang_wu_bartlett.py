"""After Zhang, Wu & Bartlett (NeurIPS 2024), "In-Context Learning of a Linear Transformer Block: Benefits of
the MLP Component and One-Step GD Initialization": a task prior with a non-zero mean, w ~ N(β, Σ_w). The
best Γ-predictor is M2g with the prior's second moment Σ_w + ββᵀ (loss L_Γ); GD from β attains the centred
M2g loss L_β; both and their gap are the suite's derivation (M2m). Two over-generalisations are registered to
be refuted: M2m-LSA, "the one-layer LSA optimum is still the best Γ-predictor", and M2m-no-mean, "the prior's
mean does not matter" (the Γ class attains the centred optimum)."""
from __future__ import annotations

import numpy as np
import sympy as sp

from ..claims import Citation, Claim, Distribution, Part, Prediction, register
from ..lsa import eta_if_scaled, gamma_loss_m2g, gamma_loss_m2g_exact
from ..setting import Setting, exact
from ..validators import exact_ok, mat_str, only

PAPER = dict(
    authors="Ruiqi Zhang and Jingfeng Wu and Peter L. Bartlett",
    title="In-Context Learning of a Linear Transformer Block: Benefits of the MLP Component and "
    "One-Step GD Initialization",
    venue="Advances in Neural Information Processing Systems (NeurIPS)", year=2024,
    url="https://arxiv.org/abs/2402.14951", bibkey="zhang2024incontext")


def gamma_loss_m2m(Sigma, Sigma_w, beta, n, sigma2):
    """(Γ_Γ, L_Γ, L_β): M2g at Ω = Σ_w + ββᵀ, and the centred M2g loss (GD from β)."""
    beta = np.asarray(beta, float)
    G, L_gamma = gamma_loss_m2g(Sigma, Sigma_w + np.outer(beta, beta), n, sigma2)
    _, L_beta = gamma_loss_m2g(Sigma, Sigma_w, n, sigma2)
    return G, L_gamma, L_beta


def beta_of(s: Setting) -> np.ndarray:
    return np.zeros(s.d) if s.mean is None else np.array(s.mean)


def _validate(s: Setting):
    only(s, "M2m", {"cov", "cov_w", "sigma2", "mean"}, {"x_dist": "M2m assumes x ~ N(0, Σ)"})


def _predict(s: Setting, exact_: bool) -> Prediction:
    """gamma, loss: the best Γ-predictor and L_Γ; values: ``loss_gd_beta`` = L_β, ``gap`` = L_Γ − L_β."""
    G, L_gamma, L_beta = gamma_loss_m2m(s.Sigma, s.Sigma_w, beta_of(s), s.n, s.sigma2)
    ex = None
    if exact_ and exact_ok(s):
        be = sp.Matrix([exact(v) for v in beta_of(s)])
        Ge, Lg = gamma_loss_m2g_exact(s.Sigma_exact, s.Sigma_w_exact + be * be.T, s.n, s.sigma2_exact)
        _, Lb = gamma_loss_m2g_exact(s.Sigma_exact, s.Sigma_w_exact, s.n, s.sigma2_exact)
        ex = {"gamma": mat_str(Ge), "loss": str(Lg), "eta": None, "loss_gd_beta": str(Lb),
              "gap": str(sp.simplify(Lg - Lb))}
    return Prediction(G, eta_if_scaled(G, s.Sigma), L_gamma, ex,
                      values={"loss_gd_beta": float(L_beta), "gap": float(L_gamma - L_beta)})


def _dist(s: Setting) -> Distribution:
    return Distribution(s.Sigma, s.Sigma_w, s.sigma2, "linear", mean=tuple(beta_of(s)))


register(Claim(
    id="M2m", citation=Citation(**PAPER, theorem="non-zero prior mean: linear attention vs GD from β"),
    tag="[derived]",
    statement="x ~ N(0, Σ), w ~ N(β, Σ_w): the best Γ-predictor gᵀΓx_q is M2g with Σ_w + ββᵀ (loss L_Γ); GD from β, "
    "ŷ = βᵀx_q + g_βᵀΓx_q, attains the centred M2g loss L_β; the gap L_Γ − L_β is > 0 for β ≠ 0.",
    assumptions=("x_j, x_q ~ N(0, Σ) i.i.d., Σ SPD", "w ~ N(β, Σ_w), Σ_w SPD",
                 "y_j = wᵀx_j + ε_j, ε_j ~ N(0, σ²) i.i.d., independent of x and w"),
    parts=(Part("with a non-zero task mean, linear attention alone has an irreducible error that one step of GD "
                "from a learned starting point removes", "paper"),
           Part("best Γ-predictor: M2g at Σ_w + ββᵀ (L_Γ); GD from β: the centred M2g loss L_β; L_Γ − L_β > 0", "derived")),
    predict_fn=_predict, distribution_fn=_dist, validate_fn=_validate, reads=("mean",),
    conditioning="cov-and-prior",
))
register(Claim(
    id="M2m-LSA", citation=Citation(**PAPER, theorem="non-zero prior mean, full one-layer LSA"), tag="[derived]",
    statement="Over-generalisation, expected to be refuted: with w ~ N(β, Σ_w), β ≠ 0, the optimum over all one-layer "
    "LSA weights is still the best Γ-predictor (the nuisance terms are useless, as the parity argument shows for β = 0).",
    assumptions=("x ~ N(0, Σ)", "w ~ N(β, Σ_w) with β ≠ 0 (the parity w → −w is broken)"),
    kind="overgeneralisation",
))
register(Claim(
    id="M2m-no-mean", citation=Citation(**PAPER, theorem="non-zero prior mean, Γ class"), tag="[derived]",
    statement="Over-generalisation, expected to be refuted: the prior's mean does not matter — with w ~ N(β, Σ_w) the "
    "best Γ-predictor still attains the centred M2g optimum L*(Σ, Σ_w).",
    assumptions=("x ~ N(0, Σ)", "w ~ N(β, Σ_w) with β ≠ 0"),
    kind="overgeneralisation",
))
