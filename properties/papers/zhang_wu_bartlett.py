"""Specs after Zhang, Wu & Bartlett (2024): M2m, a task prior with a non-zero mean
(theory/papers/zhang_wu_bartlett.py). M2m-LSA, the over-generalisation that the one-layer LSA optimum is
still the best Γ-predictor, is refuted by the trained tier (TrainedHooks.gamma_class_only) and by the
all-LSA-feature relaxation (tests/cover/test_zhang_wu_bartlett.py).

Exact: Γ_Γ, L_Γ, L_β (``values["loss_gd_beta"]``) and the gap against the engine's terms with a non-centred
prior (:func:`iclgd.theory.derivations_linear.m2m_exact`), the gap's sign, and that no engine term is odd
in w. Monte Carlo: the risks of the best Γ-predictor and of GD from β, and their paired gap. Refutation, filed
under the over-generalisation M2m-no-mean: "β does not matter" (the centred M2g optimum L* for the Γ class
under β ≠ 0)."""
from __future__ import annotations


import numpy as np
import sympy as sp
import torch
from hypothesis import strategies as st

from iclgd.empirics import predictors as emp
from iclgd.theory import Setting, get_claim
from iclgd.theory import derivations_linear as D
from iclgd.theory.derivation import derived_moments_numeric
from iclgd.theory.lsa import gamma_loss_m2g
from iclgd.theory.papers.zhang_wu_bartlett import beta_of
from iclgd.theory.setting import exact

from .. import linear_checks as L
from ..checks import check
from ..laws import linear_law_args, sampler_args
from ..profile import scale
from ..stats import mean_se
from ..spec import FalseAlarmCorner, Refutation, Spec, TrainedHooks, monte_carlo_mean_check, register_spec
from ..strategies import context_lengths, dims, means, noise_levels, priors, rounded_spd


@st.composite
def settings(draw, max_d=None, max_n=None, mc=False):
    d = draw(dims(min(max_d or 3, 3)), label="d")
    Sigma = draw(rounded_spd(d, 5.0), label="Σ")
    Sw = draw(priors(Sigma), label="prior")[1]
    return Setting(d, draw(context_lengths(min(max_n or scale().n_max, 12)), label="n"), draw(noise_levels(), label="σ²"),
                   cov=Sigma, cov_w=None if Sw is None else np.round(Sw, 3), mean=draw(means(d), label="β"))


def exact_checks(s: Setting):
    beta = sp.Matrix([exact(v) for v in beta_of(s)])
    G, L_gamma, L_beta, odd = D.m2m_exact(s.Sigma_exact, s.Sigma_w_exact, beta, s.n, s.sigma2_exact)
    gap = sp.nsimplify(L_gamma - L_beta)
    where = s.to_json()
    out = L.exact_checks("M2m", s, get_claim("M2m").predict(s, exact=False), gamma=G, loss=L_gamma,
                         values={"loss_gd_beta": L_beta, "gap": gap})
    out.append(check("M2m", "gap L_Γ − L_β > 0 (exact, derived)", 0.0, float(gap), 0.0,
                     "exact sign of the derived gap; β ≠ 0 on every drawn setting", where, error=0.0 if gap > 0 else 1.0))
    out.append(check("M2m", "no odd-in-w engine terms (the Γ class sees only Σ_w + ββᵀ)", 0, odd, 0.0, "exact count",
                     where, error=float(odd)))
    return out


def _errors(p, beta, G, Gb):
    """Per-prompt squared errors (B,) of the Γ-predictor gᵀΓx_q and of GD from β, βᵀx_q + g_βᵀΓ_βx_q."""
    n = p.n
    X, y, xq = p.X[:, :n], p.y[:, :n], p.X[:, n]
    b = torch.as_tensor(beta).to(X)
    g = torch.einsum("bi,bia->ba", y, X) / n  # (B, d)
    gb = torch.einsum("bi,bia->ba", y - X @ b, X) / n  # (B, d) gradient at β
    e1 = p.y[:, n] - torch.einsum("ba,ac,bc->b", g, torch.as_tensor(G).to(g), xq)
    e2 = p.y[:, n] - xq @ b - torch.einsum("ba,ac,bc->b", gb, torch.as_tensor(Gb).to(g), xq)
    return e1**2, e2**2


def monte_carlo_checks(s: Setting, seed: int):
    pred = get_claim("M2m").predict(s, exact=False)
    Gb, _ = gamma_loss_m2g(s.Sigma, s.Sigma_w, s.n, s.sigma2)  # GD from β uses the centred optimum's Γ
    law, where = linear_law_args("M2m", s), {**s.to_json(), "seed": seed}

    def stat(k):
        def replicate(j):
            sq = _errors(L.sample(s, law, s.n, L.MC_PROMPTS, seed + 7919 * j + 104_729 * k), beta_of(s), pred.gamma, Gb)
            v = sq[0] if k == 0 else sq[1] if k == 1 else sq[0] - sq[1]
            return mean_se(v)
        return replicate

    return [monte_carlo_mean_check("M2m", "risk of the best Γ-predictor (Monte Carlo) vs L_Γ", pred.loss, stat(0), where),
            monte_carlo_mean_check("M2m", "risk of GD from β (Monte Carlo) vs L_β", pred.values["loss_gd_beta"], stat(1),
                                   where),
            monte_carlo_mean_check("M2m", "gap L_Γ − L_β (paired Monte Carlo)", pred.values["gap"], stat(2), where)]


@st.composite
def large_mean(draw):
    s = draw(settings(max_d=3, max_n=8))
    beta = draw(st.lists(st.sampled_from([0, 1, -1, 2]), min_size=s.d, max_size=s.d).filter(any), label="β")
    return s.replace(mean=[float(b) for b in beta])


def _best_gamma_loss_under_beta(s: Setting) -> float:
    """The engine's optimal Γ-class loss under w ~ N(β, Σ_w), in float64 (E[g gᵀ] is linear in Ω = Σ_w + ββᵀ)."""
    Om = s.Sigma_w + np.outer(beta_of(s), beta_of(s))
    E_gg, E_gw = derived_moments_numeric(s.Sigma, Om, s.n, s.sigma2)
    G = np.linalg.solve(E_gg, E_gw)
    S = s.Sigma
    return float(s.sigma2 + np.trace(S @ Om) - 2 * np.trace(S @ G.T @ E_gw) + np.trace(S @ G.T @ E_gg @ G))


def no_beta_exact(s: Setting):
    _, L0 = gamma_loss_m2g(s.Sigma, s.Sigma_w, s.n, s.sigma2)
    return L.refute("M2m-no-mean", "the best Γ-predictor's loss does not depend on β", s, L0, _best_gamma_loss_under_beta(s))


def no_beta_confirm(s: Setting, seed: int):
    _, L0 = gamma_loss_m2g(s.Sigma, s.Sigma_w, s.n, s.sigma2)
    p = L.sample(s, linear_law_args("M2m", s), s.n, L.MC_PROMPTS, seed)
    mean, se = emp.gamma_loss(p, get_claim("M2m").predict(s, exact=False).gamma)
    return L.confirm_check("M2m-no-mean", "the best Γ-predictor's Monte Carlo risk under β vs the β = 0 optimum L*", L0,
                           mean, se, s, seed, L.MC_PROMPTS)


def exact_loss(s: Setting, Gamma) -> float:
    """L_Γ(Γ) under w ~ N(β, Σ_w) from the engine's moment formulas (no sampling)."""
    return D.m2m_loss_numeric(s.Sigma, s.Sigma_w, beta_of(s), s.n, s.sigma2, np.asarray(Gamma, float))[0]


# single-replicate false-alarm corners (scripts/false_alarm.py): d = n = 1, the largest prior mean, σ² = 0 and the
# largest noise
FALSE_ALARM = (FalseAlarmCorner(Setting(1, 1, 0.0, mean=[2.0])), FalseAlarmCorner(Setting(1, 1, 2.0, mean=[2.0])))


register_spec(Spec(
    claim="M2m", settings=settings, exact=exact_checks, monte_carlo=monte_carlo_checks,
    false_alarm=FALSE_ALARM,
    refutations=(Refutation("β does not matter: the Γ class attains the centred optimum",
                            "E[w] = 0: with β ≠ 0 the Γ class sees Σ_w + ββᵀ, so L_Γ > L*(Σ_w)",
                            large_mean, no_beta_exact, no_beta_confirm, claim="M2m-no-mean"),),
    trained=TrainedHooks(law=lambda s: sampler_args("M2m", s), exact_loss=exact_loss, gamma_class_only=True,
                         lsa_claim="M2m-LSA"),
))
