"""Spec of vO-uniform (von Oswald et al. 2023's data law; theory/papers/von_oswald_et_al.py).

Exact: Γ* and L* against E[g gᵀ]⁻¹E[g wᵀ] from the U(−a, a) moments integrated by SymPy
(:func:`iclgd.theory.derivations_linear.uniform_moments_exact`). Monte Carlo: the risk of η* gᵀx_q on
uniform prompts. Refutation: drop the uniform law — η* (with the uniform m₄ = a⁴/5) on Gaussian x of the same
variance s² (m₄ = 3s⁴) is not the engine's optimum; confirmed by a paired Monte Carlo. Trained: the law and the
exact loss of any Γ under it."""
from __future__ import annotations

import math

import numpy as np
import sympy as sp
from hypothesis import strategies as st

from iclgd.empirics import predictors as emp
from iclgd.theory import Setting, get_claim
from iclgd.theory import derivations_linear as D
from iclgd.theory.derivation import derived_moments_numeric
from iclgd.theory.papers.von_oswald_et_al import eta_uniform
from iclgd.theory.setting import exact, uniform_half_width

from .. import linear_checks as L
from ..laws import linear_law_args, sampler_args
from ..profile import scale
from ..spec import FalseAlarmCorner, Refutation, Spec, TrainedHooks, register_spec
from ..strategies import context_lengths, dims, half_widths, noise_levels


@st.composite
def settings(draw, max_d=None, max_n=None, mc=False):
    return Setting(draw(dims(min(max_d or 3, 3)), label="d"), draw(context_lengths(min(max_n or scale().n_max, 12)),
                                                                    label="n"),
                   draw(noise_levels(), label="σ²"), x_dist=f"uniform:{draw(half_widths(), label='a')!r}")


def _moments(s: Setting):
    return D.uniform_moments_exact(s.d, s.n, exact(uniform_half_width(s.x_dist)), s.sigma2_exact)


def exact_checks(s: Setting):
    mom = _moments(s)
    G = sp.simplify(mom.E_gg.inv() * mom.E_gw)
    return L.exact_checks("vO-uniform", s, get_claim("vO-uniform").predict(s, exact=False), gamma=G,
                          loss=D.loss_from_moments(mom, mom.E_gw, G, s.sigma2_exact))  # E[x xᵀ] = E[g wᵀ]


def monte_carlo_checks(s: Setting, seed: int):
    pred = get_claim("vO-uniform").predict(s, exact=False)
    return [L.risk_check("vO-uniform", "risk of η* gᵀx_q on uniform x (Monte Carlo) vs L*", pred.loss, s, seed,
                         linear_law_args("vO-uniform", s), s.n, L.gamma_risk(pred.gamma))]


@st.composite
def gaussian_x(draw):
    """x ~ N(0, s² I) with s² = a²/3 (the uniform law's variance): the dropped assumption U(−a, a)."""
    s = draw(settings(max_d=3, max_n=8))
    a = uniform_half_width(s.x_dist)
    return Setting(s.d, s.n, s.sigma2, cov=(a * a / 3) * np.eye(s.d))


def _stated_step(s: Setting) -> float:
    """vO-uniform's η* at the a whose uniform law has the Setting's variance s² = a²/3."""
    return float(eta_uniform(s.n, s.d, math.sqrt(3 * s.Sigma[0, 0]), s.sigma2))


def _gaussian_optimum(s: Setting) -> np.ndarray:
    """The engine's optimum E[ggᵀ]⁻¹E[gwᵀ] for x ~ N(0, Σ), w ~ N(0, I) (float64)."""
    E_gg, E_gw = derived_moments_numeric(s.Sigma, np.eye(s.d), s.n, s.sigma2)
    return np.linalg.solve(E_gg, E_gw)


def gaussian_x_exact(s: Setting):
    return L.refute("vO-uniform", "η* = s²n/(m₄ + (n+d−2)s⁴ + σ²s²) is optimal for Gaussian x of variance s² too", s,
                    _stated_step(s) * np.eye(s.d), _gaussian_optimum(s))


def gaussian_x_confirm(s: Setting, seed: int):
    n_prompts = 200_000
    p = L.sample(s, dict(Sigma=s.Sigma, sigma2=s.sigma2), s.n, n_prompts, seed)
    diff, se = emp.paired_gamma_losses(p, _stated_step(s) * np.eye(s.d), _gaussian_optimum(s))
    return L.confirm_check("vO-uniform", "η* I's risk − the Gaussian optimum's risk = 0 on Gaussian x (paired Monte "
                           "Carlo)", 0.0, diff, se, s, seed, n_prompts)


def exact_loss(s: Setting, Gamma) -> float:
    """L(Γ) under the uniform law from the integrated moments (no sampling)."""
    mom = _moments(s)
    G = sp.Matrix(np.asarray(Gamma, float).tolist())
    return float(D.loss_from_moments(mom, mom.E_gw, G, s.sigma2_exact))  # E[x xᵀ] = E[g wᵀ] = s² I


# single-replicate false-alarm corners (scripts/false_alarm.py): d = n = 1, σ² = 0, the widest uniform law
FALSE_ALARM = (FalseAlarmCorner(Setting(1, 1, 0.0, x_dist="uniform:3.0")),)


register_spec(Spec(
    claim="vO-uniform", settings=settings, exact=exact_checks, monte_carlo=monte_carlo_checks,
    false_alarm=FALSE_ALARM,
    refutations=(Refutation("η* holds for Gaussian x of the same variance too",
                            "x_j with i.i.d. U(−a, a) coordinates (m₄ = a⁴/5 = (9/5) s⁴): Gaussian x has m₄ = 3s⁴",
                            gaussian_x, gaussian_x_exact, gaussian_x_confirm),),
    trained=TrainedHooks(law=lambda s: sampler_args("vO-uniform", s), exact_loss=exact_loss),
))
