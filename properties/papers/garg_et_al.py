"""Specs of GD-average and OLS (Garg et al. 2022's baselines; theory/papers/garg_et_al.py).

GD-average — exact: the engine's L(Γ = I) for x, w ~ N(0, I_d), d symbolic; Monte Carlo: the risk of
ŷ = gᵀx_q; refutation: drop x ~ N(0, I) (the engine's L(Γ = I) at Σ ≠ I).
OLS — exact: with noise σ²(1 + d E[1/χ²_{n−d+1}]) by SymPy's integral, noiseless ψ² tr(I − X⁺X) on a
Gaussian instance in exact rationals (:func:`iclgd.theory.derivations_linear.ols_noiseless_instance`);
Monte Carlo: the risk of X⁺y; refutation: drop w ~ N(0, I) (a prior ψ² I, noiseless, n < d)."""
from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from iclgd.empirics import predictors as emp
from iclgd.theory import Setting, get_claim
from iclgd.theory import derivations_linear as D
from iclgd.theory.derivation import d_sym, derived_moments_numeric, n_sym, s2_sym
from iclgd.theory.papers.garg_et_al import risk_gd_average, risk_ols
from iclgd.theory.setting import exact

from .. import linear_checks as L
from ..profile import scale
from ..spec import FalseAlarmCorner, Refutation, Spec, register_spec
from ..strategies import context_lengths, dims, noise_levels, rounded_spd


# ---- GD-average ---------------------------------------------------------------------------------
@st.composite
def gd_average_settings(draw, max_d=None, max_n=None, mc=False):
    return Setting(draw(dims(max_d), label="d"), draw(context_lengths(max_n), label="n"),
                   draw(noise_levels(), label="σ²"))


def gd_average_exact(s: Setting):
    loss = D.derive_gd_average().subs({d_sym: s.d, n_sym: s.n, s2_sym: s.sigma2_exact})
    return L.exact_checks("GD-average", s, get_claim("GD-average").predict(s, exact=False), loss=loss)


def gd_average_mc(s: Setting, seed: int):
    pred = get_claim("GD-average").predict(s, exact=False)
    return [L.risk_check("GD-average", "risk of ŷ = gᵀx_q (Monte Carlo) vs predicted", pred.loss, s, seed,
                         dict(sigma2=s.sigma2), s.n, L.gamma_risk(np.eye(s.d)))]


@st.composite
def anisotropic_x(draw):
    d = draw(st.integers(1, 3), label="d")
    S = draw(rounded_spd(d).filter(lambda S: not np.array_equal(S, np.eye(d))), label="Σ (dropped: Σ = I)")
    return Setting(d, draw(st.integers(1, 10), label="n"), draw(noise_levels(), label="σ²"), cov=S)


def _loss_at_identity(s: Setting) -> float:
    E_gg, E_gw = derived_moments_numeric(s.Sigma, np.eye(s.d), s.n, s.sigma2)
    S = s.Sigma
    return float(s.sigma2 + np.trace(S) - 2 * np.trace(S @ E_gw) + np.trace(S @ E_gg))


def anisotropic_exact(s: Setting):
    return L.refute("GD-average", "averaging risk σ² + d(d + 1 + σ²)/n for x ~ N(0, Σ), Σ ≠ I", s,
                    float(risk_gd_average(s.n, s.d, s.sigma2)), _loss_at_identity(s))


def anisotropic_confirm(s: Setting, seed: int):
    p = L.sample(s, dict(Sigma=s.Sigma, sigma2=s.sigma2), s.n, L.MC_PROMPTS, seed)
    mean, se = emp.gamma_loss(p, np.eye(s.d))
    return L.confirm_check("GD-average", "the isotropic risk formula vs the Monte Carlo risk at Σ ≠ I",
                           float(risk_gd_average(s.n, s.d, s.sigma2)), mean, se, s, seed, L.MC_PROMPTS)


# single-replicate false-alarm corners (scripts/false_alarm.py): d = n = 1, σ² = 0
GD_AVERAGE_FALSE_ALARM = (FalseAlarmCorner(Setting(1, 1, 0.0)),)


register_spec(Spec(
    claim="GD-average", settings=gd_average_settings, exact=gd_average_exact, monte_carlo=gd_average_mc,
    false_alarm=GD_AVERAGE_FALSE_ALARM,
    refutations=(Refutation("the averaging risk holds for anisotropic x", "x ~ N(0, I): at Σ the risk is "
                            "σ² + tr Σ − 2 tr Σ² + tr(Σ E[ggᵀ]), not a function of d alone",
                            anisotropic_x, anisotropic_exact, anisotropic_confirm),),
))


# ---- OLS ------------------------------------------------------------------------------------------
@st.composite
def ols_settings(draw, max_d=None, max_n=None, mc=False):
    """Noisy settings need n > d + 1 (finite risk); Monte Carlo ones n ≥ d + 4 (finite fourth moment of
    the per-prompt error)."""
    d = draw(dims(max_d), label="d")
    max_n = max_n or scale().n_max
    s2 = draw(noise_levels(), label="σ²")
    lo = 1 if s2 == 0 else d + (4 if mc else 2)
    return Setting(d, draw(st.integers(lo, lo + max_n), label="n"), s2)


def ols_exact(s: Setting):
    if s.sigma2 == 0:
        loss = D.ols_noiseless_instance(s.d, s.n)
    else:
        loss = D.derive_ols_noisy().subs({d_sym: s.d, n_sym: s.n, s2_sym: s.sigma2_exact})
    return L.exact_checks("OLS", s, get_claim("OLS").predict(s, exact=False), loss=loss)


def ols_mc(s: Setting, seed: int):
    pred = get_claim("OLS").predict(s, exact=False)
    return [L.risk_check("OLS", "risk of minimum-norm least squares (Monte Carlo) vs predicted", pred.loss, s, seed,
                         dict(sigma2=s.sigma2), s.n, emp.ols_loss, n_prompts=20_000)]


@st.composite
def scaled_prior(draw):
    d = draw(st.integers(2, 4), label="d")
    return Setting(d, draw(st.integers(1, d - 1), label="n"), 0.0,
                   prior_scale=draw(st.sampled_from([0.25, 4.0]), label="ψ² (dropped: ψ² = 1)"))


def scaled_prior_exact(s: Setting):
    return L.refute("OLS", "noiseless OLS risk d − n for w ~ N(0, ψ² I)", s, float(risk_ols(s.n, s.d, 0)),
                    float(D.ols_noiseless_instance(s.d, s.n, exact(s.prior_scale))))


def scaled_prior_confirm(s: Setting, seed: int):
    p = L.sample(s, dict(Sigma_w=s.prior_scale * np.eye(s.d)), s.n, L.MC_PROMPTS, seed)
    mean, se = emp.ols_loss(p)
    return L.confirm_check("OLS", "noiseless d − n vs the Monte Carlo risk under w ~ N(0, ψ² I)",
                           float(risk_ols(s.n, s.d, 0)), mean, se, s, seed, L.MC_PROMPTS)


# single-replicate false-alarm corners (scripts/false_alarm.py): n = d + 4 (the smallest n the Monte Carlo strategy
# draws with noise), and n < d noiseless
OLS_FALSE_ALARM = (FalseAlarmCorner(Setting(1, 5, 2.0)), FalseAlarmCorner(Setting(2, 1, 0.0)))


register_spec(Spec(
    claim="OLS", settings=ols_settings, exact=ols_exact, monte_carlo=ols_mc,
    false_alarm=OLS_FALSE_ALARM,
    refutations=(Refutation("the noiseless OLS risk d − n holds for w ~ N(0, ψ² I)",
                            "w ~ N(0, I): the risk is ψ² tr(I − X⁺X) = ψ²(d − n)", scaled_prior,
                            scaled_prior_exact, scaled_prior_confirm),),
))
