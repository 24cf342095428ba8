"""Bayes-ridge (Akyürek et al., ICLR 2023; Raventós et al., NeurIPS 2023): for w ~ N(0, τ² I) and
y = Xw + N(0, σ² I) the posterior mean is ridge regression with λ = σ²/τ², for any design; under x ~ N(0, I)
its ICL risk at length n is σ² + σ² E tr((XᵀX + λI)⁻¹), the Bayes risk no predictor beats.

Derivation (here): Gaussian conditioning gives E[w | X, y] = τ² Xᵀ(τ² XXᵀ + σ² I)⁻¹ y = (XᵀX + λI)⁻¹Xᵀy
(push-through identity; n < d included) and Cov[w | X, y] = σ²(XᵀX + λI)⁻¹, so for an independent query
x_q ~ N(0, I) the squared error of x_qᵀ E[w | ·] is σ² + E tr Cov = σ² + σ² E tr((XᵀX + λI)⁻¹). The
expectation over the design is taken deterministically by :func:`iclgd.theory.wishart.ridge_trace` (a
Pfaffian of Gauss–Legendre quadratures over the real-Wishart eigenvalue law, with a stated error).
σ² = 0 is the limit λ → 0: the posterior mean is the minimum-norm interpolant and the risk τ² max(d − n, 0).
"""
from __future__ import annotations

import numpy as np

from iclgd.theory.claims import Citation, Claim, Part, Prediction, register
from iclgd.theory.errors import SettingError
from iclgd.theory.setting import Setting
from iclgd.theory.wishart import M_MAX, ridge_trace

AKYUREK = dict(
    authors="Ekin Akyürek and Dale Schuurmans and Jacob Andreas and Tengyu Ma and Denny Zhou",
    title="What learning algorithm is in-context learning? Investigations with linear models",
    venue="International Conference on Learning Representations (ICLR)", year=2023,
    url="https://arxiv.org/abs/2211.15661", bibkey="akyurek2023what")
RAVENTOS = "Raventós, Paul, Chen, Ganguli, NeurIPS 2023 (arXiv:2306.15063): ridge as the Bayes predictor of a Gaussian task prior"
MAX_REL_ERROR = 1e-6  # refuse when the quadrature route cannot state the risk this accurately


def tau2(s: Setting) -> float:
    """τ², the prior variance per coordinate (``--prior-scale``; default 1)."""
    return 1.0 if s.prior_scale is None else s.prior_scale


def isotropic_only(claim: str, law: str):
    """A validator refusing what an isotropic Gaussian claim does not take: Σ, Σ_w, a non-linear target."""
    def validate(s: Setting) -> None:
        if s.cov is not None:
            raise SettingError("cov", f"{claim} assumes x ~ N(0, I) ({law})")
        if s.cov_w is not None:
            raise SettingError("cov_w", f"{claim} fixes the task law ({law})")
        if s.target != "linear":
            raise SettingError("target", f"{claim} takes linear responses only, got {s.target!r}")
    return validate


def bayes_excess(d: int, n: int, sigma2: float, t2: float, flag_n: str = "n", flag_d: str = "d") -> tuple[float, float]:
    """(σ² E tr((XᵀX + λI)⁻¹), error bound), λ = σ²/τ²; σ² = 0: τ² max(d − n, 0) exactly. Refuses
    (SettingError naming the smaller of n, d) where the quadrature route cannot reach MAX_REL_ERROR."""
    if sigma2 == 0:
        return t2 * max(d - n, 0), 0.0
    small = flag_n if n <= d else flag_d
    if min(n, d) > M_MAX:
        raise SettingError(small, f"the Bayes risk is computed by a Pfaffian of min(n, d) × min(n, d) quadratures in "
                           f"float64, exact to 1e-6 only for min(n, d) ≤ {M_MAX}; got n={n}, d={d}")
    lam = sigma2 / t2
    if not 0 < lam < float("inf"):
        raise SettingError("sigma2", f"λ = σ²/τ² = {sigma2:g}/{t2:g} leaves float64's range")
    tr, err = ridge_trace(d, n, lam)
    if not err <= MAX_REL_ERROR * tr:
        raise SettingError(small, f"at n={n}, d={d}, λ={lam:g} the quadrature route states relative error "
                           f"{err / tr:.2g} > {MAX_REL_ERROR:g} (its monomial basis is ill-conditioned here)")
    return sigma2 * tr, sigma2 * err


def _validate(s: Setting) -> None:
    isotropic_only("Bayes-ridge", "w ~ N(0, τ² I): τ² is --prior-scale")(s)
    bayes_excess(s.d, s.n, s.sigma2, tau2(s))


def _predict(s: Setting, exact: bool) -> Prediction:
    t2 = tau2(s)
    excess, err = bayes_excess(s.d, s.n, s.sigma2, t2)
    lam = s.sigma2 / t2
    ex = None
    if exact and s.sigma2 == 0:
        from iclgd.theory.setting import exact as rational
        ex = {"gamma": None, "eta": None, "loss": str(rational(t2) * max(s.d - s.n, 0)), "lambda": "0"}
    return Prediction(gamma=None, eta=None, loss=s.sigma2 + excess, exact=ex, error=err,
                      values={"ridge_lambda": lam, "bayes_risk": s.sigma2 + excess, "bayes_excess_risk": excess})


register(Claim(
    id="Bayes-ridge",
    citation=Citation(**AKYUREK, theorem="Bayes predictor of a Gaussian prior = ridge (abstract)"),
    tag="[paper]",
    statement="w ~ N(0, τ² I), y_j = wᵀx_j + N(0, σ²): for any design X (n < d included) the posterior mean "
    "E[w | X, y] is ridge regression (XᵀX + λI)⁻¹Xᵀy with λ = σ²/τ²; for x ~ N(0, I) its ICL risk at length n is "
    "σ² + σ² E tr((XᵀX + λI)⁻¹) (σ² = 0: τ² max(d − n, 0)), the Bayes risk: no predictor (no trained model, "
    "no Γ-predictor, not OLS) has a lower risk.",
    assumptions=("x_j, x_q ~ N(0, I_d) i.i.d. (the risk; the posterior-mean identity holds for any design)",
                 "w ~ N(0, τ² I_d), τ² > 0 (--prior-scale, default 1)",
                 "y_j = wᵀx_j + ε_j, ε_j ~ N(0, σ²) i.i.d., independent of x and w",
                 f"min(n, d) ≤ {M_MAX} (the deterministic route's range)"),
    parts=(
        Part("the Bayes predictor of a Gaussian prior is ridge regression with λ = σ²/τ²", "paper",
             "Akyürek et al. 2023 (abstract); " + RAVENTOS + " (theorem numbers not read)"),
        Part("posterior mean = (XᵀX + λI)⁻¹Xᵀy for any design, n < d included (push-through identity)", "derived"),
        Part("Bayes risk σ² + σ² E tr((XᵀX + λI)⁻¹), σ² = 0: τ² max(d − n, 0)", "derived"),
        Part("E tr((XᵀX + λI)⁻¹) by de Bruijn's Pfaffian over the real-Wishart eigenvalue law, Gauss–Legendre "
             "quadrature, stated error (iclgd.theory.wishart)", "derived"),
        Part("x ~ N(0, I) and τ² given by --prior-scale (default 1): the suite's isotropic Gaussian law", "convention"),
    ),
    kind="theorem", predict_fn=_predict, validate_fn=_validate, reads=("prior_scale",),
))
register(Claim(
    id="Bayes-ridge-any-law",
    citation=Citation(**AKYUREK, theorem="over-generalisation of the Bayes-ridge risk (not the paper's statement)"),
    tag="[derived]",
    statement="Over-generalisation, expected refuted: the Bayes risk σ² + σ² E tr((XᵀX + λI)⁻¹) with the Gaussian-design "
    "expectation holds for any law of x with E xxᵀ = I (e.g. i.i.d. U(−√3, √3) coordinates).",
    assumptions=("x_j, x_q i.i.d. with E xxᵀ = I (Gaussianity dropped)", "w ~ N(0, I_d)",
                 "y_j = wᵀx_j + ε_j, ε_j ~ N(0, σ²) i.i.d."),
    parts=(Part("the Gaussian-design Bayes risk for any unit-covariance law of x", "derived"),),
    kind="overgeneralisation", reads=("x_dist",),
))
