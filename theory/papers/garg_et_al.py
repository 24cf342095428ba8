"""Garg, Tsipras, Liang & Valiant (NeurIPS 2022), "What Can Transformers Learn In-Context? A Case Study of
Simple Function Classes": the risks of two of their baselines for x, w ~ N(0, I) — the averaging estimator
ŷ = gᵀx_q (GD-average) and minimum-norm least squares (OLS). The paper compares against these baselines
empirically; the closed-form risks are the suite's (tag [derived])."""
from __future__ import annotations

import numpy as np
import sympy as sp

from ..claims import Citation, Claim, Part, Prediction, Curve, register, register_curve
from ..errors import SettingError
from ..setting import Setting
from ..validators import only

PAPER = dict(
    authors="Shivam Garg and Dimitris Tsipras and Percy Liang and Gregory Valiant",
    title="What Can Transformers Learn In-Context? A Case Study of Simple Function Classes",
    venue="Advances in Neural Information Processing Systems (NeurIPS)", year=2022,
    url="https://arxiv.org/abs/2208.01066", bibkey="garg2022what")
NOISE = "y_j = wᵀx_j + ε_j, ε_j ~ N(0, σ²) i.i.d., independent of x and w"


def risk_gd_average(n, d, sigma2):
    """Risk of ŷ = gᵀx_q for x, w ~ N(0, I): σ² + d(d + 1 + σ²)/n."""
    return sigma2 + d * (d + 1 + sigma2) / (sp.sympify(n) if isinstance(sigma2, sp.Basic) else n)


def risk_ols(n, d, sigma2):
    """Minimum-norm least squares, x, w ~ N(0, I): noiseless max(d − n, 0); with noise and n > d + 1,
    σ²(1 + d/(n − d − 1))."""
    if sigma2 == 0:
        return max(d - n, 0)
    if n <= d + 1:
        raise SettingError("n", f"OLS with noise needs n > d + 1 (finite risk); got n={n}, d={d}")
    return sigma2 * (1 + (sp.sympify(d) if isinstance(sigma2, sp.Basic) else d) / (n - d - 1))


def _predict_gd_average(s: Setting, exact_: bool) -> Prediction:
    ex = {"gamma": "I", "eta": "1", "loss": str(risk_gd_average(s.n, s.d, s.sigma2_exact))} if exact_ else None
    return Prediction(np.eye(s.d), 1.0, float(risk_gd_average(s.n, s.d, s.sigma2)), ex)


def _validate_ols(s: Setting):
    only(s, "OLS", {"sigma2"})
    if s.sigma2 > 0 and s.n <= s.d + 1:
        raise SettingError("n", f"OLS with noise (σ² = {s.sigma2}) needs n > d + 1 = {s.d + 1} for a finite "
                                f"risk; got n={s.n}")


def _predict_ols(s: Setting, exact_: bool) -> Prediction:
    """OLS is not a Γ-predictor: ``gamma`` is empty (0×0), ``eta`` None; ``loss`` is its risk."""
    ex = {"gamma": None, "eta": None, "loss": str(risk_ols(s.n, s.d, s.sigma2_exact))} if exact_ else None
    return Prediction(np.zeros((0, 0)), None, float(risk_ols(s.n, s.d, s.sigma2)), ex)


ISOTROPIC = ("x_j, x_q ~ N(0, I_d) i.i.d.", "w ~ N(0, I_d)", NOISE)
register(Claim(
    id="GD-average", citation=Citation(**PAPER, theorem="averaging baseline"), tag="[derived]",
    statement="x, w ~ N(0, I): ŷ = gᵀ x_q (one GD step from 0 with η = 1) has risk σ² + d(d + 1 + σ²)/n, the M1 "
    "loss at Γ = I.",
    assumptions=ISOTROPIC,
    parts=(Part("the averaging estimator ŷ = gᵀx_q is a baseline of in-context linear regression", "paper"),
           Part("its risk is σ² + d(d + 1 + σ²)/n (M1's loss at Γ = I)", "derived")),
    predict_fn=_predict_gd_average, validate_fn=lambda s: only(s, "GD-average", {"sigma2"}),
))
register(Claim(
    id="OLS", citation=Citation(**PAPER, theorem="least-squares baseline"), tag="[derived]",
    statement="x, w ~ N(0, I): the minimum-norm least-squares predictor has risk d − n when noiseless and n < d "
    "(0 for n ≥ d), and σ²(1 + d/(n − d − 1)) with noise and n > d + 1.",
    assumptions=ISOTROPIC + ("σ² > 0 ⇒ n > d + 1",),
    parts=(Part("minimum-norm least squares is a baseline of in-context linear regression", "paper"),
           Part("its risk is max(d − n, 0) noiseless and σ²(1 + d/(n − d − 1)) with noise, n > d + 1", "derived")),
    predict_fn=_predict_ols, validate_fn=_validate_ols,
))


for _claim, _label in (("OLS", "OLS"), ("GD-average", "GD-average (Γ = I)")):
    register_curve(Curve("risk_vs_n_baselines.png", _label, _claim, tuple(range(1, 41)), lambda m: Setting(3, m, 0.25),
                         "context length n (d = 3, σ² = 0.25)", "o-"))
