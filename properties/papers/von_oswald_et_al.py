"""Spec of vO-uniform (von Oswald et al. 2023's data law; theory/papers/von_oswald_et_al.py).

Exact: Γ* and L* against E[g gᵀ]⁻¹E[g wᵀ] from the U(−a, a) moments integrated by SymPy
(:func:`iclgd.theory.derivations_linear.uniform_moments_exact`). Monte Carlo: the risk of η* gᵀx_q on
uniform prompts. Refutation: M1's Gaussian step at the same covariance (drop the Gaussian fourth moment
3s⁴; the uniform law has m₄ = a⁴/5). Trained: the law and the exact loss of any Γ under it."""
from __future__ import annotations

import numpy as np
import sympy as sp
from hypothesis import strategies as st

from iclgd.empirics import more as emp
from iclgd.theory import Setting, get_claim
from iclgd.theory import derivations_linear as D
from iclgd.theory.setting import exact, uniform_half_width

from .. import linear_checks as L
from ..laws import linear_law_args, sampler_args
from ..profile import scale
from ..spec import Refutation, Spec, TrainedHooks, register_spec
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


def gaussian_step(s: Setting) -> float:
    """M1's step for x ~ N(0, s² I) (whitening: η = n / (s²(n + d + 1) + σ²))."""
    var = uniform_half_width(s.x_dist) ** 2 / 3
    return s.n / (var * (s.n + s.d + 1) + s.sigma2)


def gaussian_step_exact(s: Setting):
    mom = _moments(s)
    return L.refute("vO-uniform", "M1's Gaussian step n/(s²(n+d+1) + σ²) is optimal for uniform x", s,
                    gaussian_step(s), float((mom.E_gg.inv() * mom.E_gw)[0, 0]))


def gaussian_step_confirm(s: Setting, seed: int):
    n_prompts = 200_000
    p = L.sample(s, linear_law_args("vO-uniform", s), s.n, n_prompts, seed)
    best = get_claim("vO-uniform").predict(s, exact=False).gamma
    diff, se = emp.paired_gamma_losses(p, gaussian_step(s) * np.eye(s.d), best)
    return L.confirm_check("vO-uniform", "the Gaussian step's risk − η*'s risk = 0 (paired Monte Carlo)", 0.0, diff,
                           se, s, seed, n_prompts)


def exact_loss(s: Setting, Gamma) -> float:
    """L(Γ) under the uniform law from the integrated moments (no sampling)."""
    mom = _moments(s)
    G = sp.Matrix(np.asarray(Gamma, float).tolist())
    return float(D.loss_from_moments(mom, mom.E_gw, G, s.sigma2_exact))  # E[x xᵀ] = E[g wᵀ] = s² I


register_spec(Spec(
    claim="vO-uniform", settings=settings, exact=exact_checks, monte_carlo=monte_carlo_checks,
    refutations=(Refutation("M1's Gaussian step is optimal for uniform x too",
                            "Gaussian x (Isserlis, m₄ = 3s⁴): the uniform law has m₄ = a⁴/5 = (9/5) s⁴",
                            lambda: settings(max_d=3, max_n=8), gaussian_step_exact, gaussian_step_confirm),),
    trained=TrainedHooks(law=lambda s: sampler_args("vO-uniform", s), exact_loss=exact_loss),
))
