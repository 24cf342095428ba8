"""Spec of Wu-length (Wu et al. 2024; theory/papers/wu_et_al.py).

Exact: Γ_N* against the engine's optimum at Σ_w = ψ² I, and R_M(Γ_N*) against the engine's risk at length
M. Monte Carlo: the risk of Γ_N* on prompts of length M. Refutation: drop w ~ N(0, ψ² I) — with an
anisotropic prior Σ_w (ψ² read as tr Σ_w / d) Γ_N* is not the optimum. The reading of R_M for ŷ = gᵀΓx_q
(Γ → Γᵀ) is a convention, demonstrated by a plumbing test, not a refutation."""
from __future__ import annotations

import numpy as np
import sympy as sp
from hypothesis import strategies as st

from iclgd.empirics import predictors as emp
from iclgd.theory import Setting, get_claim
from iclgd.theory import derivations_linear as D
from iclgd.theory.derivation import derived_moments_numeric
from iclgd.theory.papers.wu_et_al import gamma_wu, psi2_of
from iclgd.theory.setting import exact
from iclgd.theory.validators import length_at_test

from .. import linear_checks as L
from ..profile import scale
from ..spec import FalseAlarmCorner, Refutation, Spec, register_spec
from ..strategies import context_lengths, dims, noise_levels, prior_scales, rounded_spd


@st.composite
def settings(draw, max_d=None, max_n=None, mc=False):
    d = draw(dims(min(max_d or 3, 3)), label="d")
    max_n = min(max_n or scale().n_max, 12)
    return Setting(d, draw(context_lengths(max_n), label="N"), draw(noise_levels(), label="σ²"),
                   cov=draw(rounded_spd(d), label="H"), prior_scale=draw(prior_scales(), label="ψ²"),
                   test_n=draw(st.integers(1, 4 * max_n), label="M"))


def law(s: Setting) -> dict:
    return dict(Sigma=s.Sigma, Sigma_w=psi2_of(s) * np.eye(s.d), sigma2=s.sigma2)


def exact_checks(s: Setting):
    Sw = exact(psi2_of(s)) * sp.eye(s.d)
    G = D.optimum_exact(s.Sigma_exact, Sw, s.n, s.sigma2_exact)
    return L.exact_checks("Wu-length", s, get_claim("Wu-length").predict(s, exact=False), gamma=G,
                          loss=D.risk_at_length_exact(s.Sigma_exact, Sw, length_at_test(s), s.sigma2_exact, G))


def monte_carlo_checks(s: Setting, seed: int):
    pred = get_claim("Wu-length").predict(s, exact=False)
    return [L.risk_check("Wu-length", "risk of Γ_N* at length M (Monte Carlo) vs R_M", pred.loss, s, seed, law(s),
                         length_at_test(s), L.gamma_risk(pred.gamma))]


@st.composite
def anisotropic_prior(draw):
    """Σ_w diagonal with entries in {1/4, 4}, not all equal: an anisotropy the confirmation resolves."""
    d = draw(st.integers(2, 3), label="d")
    diag = draw(st.lists(st.sampled_from([0.25, 4.0]), min_size=d, max_size=d).filter(lambda v: len(set(v)) > 1),
                label="diag Σ_w (dropped: Σ_w = ψ² I)")
    return Setting(d, draw(st.integers(1, 8), label="N"), draw(noise_levels(), label="σ²"),
                   cov=draw(rounded_spd(d), label="H"), cov_w=np.diag(diag))


def _stated_gamma(s: Setting):
    return gamma_wu(s.Sigma, float(np.trace(s.Sigma_w)) / s.d, s.sigma2, s.n)


def anisotropic_exact(s: Setting):
    E_gg, E_gw = derived_moments_numeric(s.Sigma, s.Sigma_w, s.n, s.sigma2)
    return L.refute("Wu-length", "Γ_N* (ψ² = tr Σ_w / d) is the optimum for an anisotropic prior", s,
                    _stated_gamma(s), np.linalg.solve(E_gg, E_gw))


def anisotropic_confirm(s: Setting, seed: int):
    E_gg, E_gw = derived_moments_numeric(s.Sigma, s.Sigma_w, s.n, s.sigma2)
    n_prompts = 200_000
    p = L.sample(s, dict(Sigma=s.Sigma, Sigma_w=s.Sigma_w, sigma2=s.sigma2), s.n, n_prompts, seed)
    diff, se = emp.paired_gamma_losses(p, _stated_gamma(s), np.linalg.solve(E_gg, E_gw))
    return L.confirm_check("Wu-length", "Γ_N*'s risk − the derived optimum's risk = 0 (paired Monte Carlo)", 0.0,
                           diff, se, s, seed, n_prompts)


# single-replicate false-alarm corners (scripts/false_alarm.py): d = n = M = 1, the largest prior scale noiseless, the
# smallest with the largest noise
FALSE_ALARM = (FalseAlarmCorner(Setting(1, 1, 0.0, cov=[[1.0]], prior_scale=4.0, test_n=1)),
               FalseAlarmCorner(Setting(1, 1, 2.0, cov=[[1.0]], prior_scale=0.25, test_n=1)))


register_spec(Spec(
    claim="Wu-length", settings=settings, exact=exact_checks, monte_carlo=monte_carlo_checks,
    false_alarm=FALSE_ALARM,
    refutations=(Refutation("Γ_N* is the optimum for an anisotropic prior too",
                            "w ~ N(0, ψ² I): with Σ_w ≠ ψ² I the optimum is M2g's, not a function of tr Σ_w",
                            anisotropic_prior, anisotropic_exact, anisotropic_confirm),),
))
