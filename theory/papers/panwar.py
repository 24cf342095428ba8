"""Panwar, Ahuja & Goyal (ICLR 2024), "In-Context Learning through the Bayesian Prism": the abstract states that,
where Bayesian inference is tractable, high-capacity transformers trained in context mimic the Bayes predictor;
the Gaussian-mixture task prior is the issue's reading of their setting (not read offline). The claim below is
the ordering that makes that behaviour distinguishable from a linear learner (derived).

Panwar-GMM: x ~ N(0, I_d), y = wᵀx + N(0, σ²), σ² > 0, w ~ π N(μ, τ²I) + (1 − π) N(−μ, τ²I) with
μ = m·(1, …, 1)/√d (``--mixture-shift`` m = ‖μ‖, ``--mixture-var`` τ², ``--mixture-prob`` π; a convention).
The Bayes predictor Σ_k p(k | prompt)[μ_k + (XᵀX + (σ²/τ²)I)⁻¹Xᵀ(y − Xμ_k)] has risk ≤ the best predictor
affine in y given X (the linear MMSE estimator b + (XᵀX + σ²Σ_w⁻¹)⁻¹Xᵀ(y − Xb), b = (2π − 1)μ,
Σ_w = τ²I + 4π(1 − π)μμᵀ: generalised ridge with the prior's first two moments). A Monte Carlo ordering
(``iclgd verify --claims Panwar-GMM``); equality when m = 0 (a Gaussian prior).
"""
from __future__ import annotations

import numpy as np

from iclgd.theory.claims import Citation, Claim, Param, Part, register
from iclgd.theory.errors import SettingError
from iclgd.theory.setting import Setting

PAPER = dict(
    authors="Madhur Panwar and Kabir Ahuja and Navin Goyal",
    title="In-Context Learning through the Bayesian Prism",
    venue="International Conference on Learning Representations (ICLR)", year=2024,
    url="https://arxiv.org/abs/2306.04891", bibkey="panwar2024incontext")

PARAMS = (Param("mixture_shift", "m = ‖μ‖ ≥ 0: components N(±μ, τ²I), μ = m(1, …, 1)/√d", lo=0.0, hi=1e3, default=2.0),
          Param("mixture_var", "τ² > 0, the components' variance", lo=0.0, hi=1e3, lo_open=True, default=0.25),
          Param("mixture_prob", "π ∈ (0, 1), the weight of N(+μ, τ²I)", lo=0.0, hi=1.0, lo_open=True, hi_open=True,
                default=0.5))


def prior(s: Setting, claim: Claim):
    """(μ (d,), τ², π, mean b (d,), covariance Σ_w (d, d)) of the mixture."""
    m, t2, p = (claim.param(s, k) for k in ("mixture_shift", "mixture_var", "mixture_prob"))
    mu = m * np.ones(s.d) / np.sqrt(s.d)
    return mu, t2, p, (2 * p - 1) * mu, t2 * np.eye(s.d) + 4 * p * (1 - p) * np.outer(mu, mu)


def _validate(claim_id: str):
    def v(s: Setting) -> None:
        for f, why in (("cov", "x ~ N(0, I)"), ("cov_w", "the mixture prior (--mixture-*)"),
                       ("mean", "the mixture prior (--mixture-*)")):
            if getattr(s, f) is not None:
                raise SettingError(f, f"{claim_id} assumes {why}")
        if not s.sigma2 > 0:
            raise SettingError("sigma2", f"{claim_id} needs label noise σ² > 0")
        if s.target != "linear":
            raise SettingError("target", f"{claim_id} assumes linear responses")
    return v


_ASSUME = ("x_i, x_q ~ N(0, I_d) i.i.d.", "y = wᵀx + ε, ε ~ N(0, σ²), σ² > 0",
           "w ~ π N(μ, τ²I) + (1 − π) N(−μ, τ²I), μ = m(1, …, 1)/√d (--mixture-shift, --mixture-var, --mixture-prob)")
register(Claim(
    id="Panwar-GMM", citation=Citation(**PAPER, theorem="Gaussian-mixture task prior (abstract)"), tag="[derived]",
    statement="Two-component Gaussian-mixture task prior: the Bayes predictor (posterior-weighted component posterior "
    "means) has risk ≤ the best predictor affine in y (linear MMSE with the prior's mean and covariance).",
    assumptions=_ASSUME, kind="theorem", validate_fn=_validate("Panwar-GMM"), params=PARAMS,
    parts=(Part("where Bayesian inference is tractable, high-capacity transformers mimic the Bayesian predictor", "paper",
                "abstract"),
           Part("a two-component Gaussian-mixture task prior as the tractable case (the issue's reading)", "convention"),
           Part("Bayes ≤ linear MMSE (the best affine-in-y predictor) under the mixture prior", "derived"),
           Part("symmetric components ±μ along (1, …, 1)/√d with common variance τ²I", "convention")),
))
register(Claim(
    id="Panwar-linear-bayes", citation=Citation(**PAPER, theorem="over-generalisation: the Gaussian reading suffices"),
    tag="[derived]",
    statement="Over-generalisation, expected to be refuted: the linear MMSE predictor (ridge with the prior's first "
    "two moments) is Bayes-optimal for a Gaussian-mixture task prior too.",
    assumptions=_ASSUME, kind="overgeneralisation", validate_fn=_validate("Panwar-linear-bayes"), params=PARAMS,
    parts=(Part("a predictor that sees only the prior's mean and covariance is Bayes for a non-Gaussian prior",
                "derived"),),
))
