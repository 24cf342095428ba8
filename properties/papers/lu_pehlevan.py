"""Checks of Lu-kappa (:mod:`iclgd.theory.papers.lu_pehlevan`).

Exact route: M1's optimal loss typed from Mahankali et al., Thm 1 (L* = σ² + d(d + 1 + σ²)/(n + d + 1 + σ²), η =
n/(n + d + 1 + σ²)) with d a SymPy symbol D, n = αD, σ² = ρD (α = n/d, ρ = σ²/d as exact rationals), and
``sympy.limit`` of L*/D and η as D → ∞; the finite-d value at D = d in exact rationals.

Monte Carlo (default tier): the finite-d error of Γ = ηI on 40 000 prompts of the setting's law, divided by d, vs
finite_d_error. The limit itself is checked by Monte Carlo only in the gpu tier
(tests/nocover/test_lu_pehlevan_gpu.py: d up to 128 along the ray, extrapolated in 1/d).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp
from hypothesis import strategies as st

from iclgd.empirics.predictors import gamma_loss, sample_general
from iclgd.empirics.sampling import generator
from iclgd.properties.checks import check, make_check
from iclgd.properties.spec import (FalseAlarmCorner, Refutation, Spec, monte_carlo_mean_check,
    register_spec, relative_tolerance)
from iclgd.properties.strategies import noise_levels
from iclgd.theory import Setting, get_claim

CLAIM = "Lu-kappa"
N_PROMPTS = 40_000
EXACT_WHY = "float64 closed form vs SymPy's exact limit / rational: relative 1e-9"
D = sp.Symbol("D", positive=True)


@st.composite
def settings(draw, max_d=None, max_n=None, mc=False):
    d = draw(st.integers(1, 4 if mc else 8), label="d")
    return Setting(d, draw(st.integers(1, 12 if mc else 24), label="n"), draw(noise_levels(), label="σ²"))


def derived(s: Setting) -> dict:
    alpha, rho = sp.Rational(s.n, s.d), s.sigma2_exact / s.d
    n, s2 = alpha * D, rho * D
    L = s2 + D * (D + 1 + s2) / (n + D + 1 + s2)  # Mahankali et al., Thm 1
    eta = n / (n + D + 1 + s2)
    lim = sp.limit(L / D, D, sp.oo)
    return {"alpha": alpha, "rho": rho, "icl_error_limit": lim, "excess_limit": lim - rho,
            "eta_limit": sp.limit(eta, D, sp.oo), "finite_d_error": (L / D).subs(D, s.d),
            "finite_d_gap": (L / D).subs(D, s.d) - lim}


def exact_checks(s: Setting):
    pred = get_claim(CLAIM).predict(s, exact=False)
    der = derived(s)
    where = s.to_json()
    out = [check(CLAIM, "icl_error_limit: loss", float(der["icl_error_limit"]), pred.loss,
                 relative_tolerance(float(der["icl_error_limit"])), EXACT_WHY, where)]
    for k, v in der.items():
        v = float(v)
        # finite_d_gap is a difference of two O(1) values: its float error scales with them
        tol = relative_tolerance(float(der["finite_d_error"]) if k == "finite_d_gap" else v)
        out.append(check(CLAIM, f"{k} vs SymPy (limit of M1's L*/d along n = αd, σ² = ρd)", v, pred.values[k], tol,
                         EXACT_WHY, where))
    return out


def finite_d_replicate(s: Setting, seed: int):
    eta = s.n / (s.n + s.d + 1 + s.sigma2)  # M1's optimum at this d (the law's Γ; the claim's value is the error)

    def replicate(j):
        p = sample_general(N_PROMPTS, s.n, s.d, generator=generator(seed + 7919 * j), sigma2=s.sigma2)
        m, se = gamma_loss(p, eta * np.eye(s.d))
        return m / s.d, se / s.d
    return replicate


def mc_checks(s: Setting, seed: int):
    pred = get_claim(CLAIM).predict(s, exact=False)
    return [monte_carlo_mean_check(CLAIM, "error/d of Γ = ηI at finite d (Monte Carlo) vs finite_d_error",
                                   pred.values["finite_d_error"], finite_d_replicate(s, seed),
                                   {**s.to_json(), "seed": seed, "n_prompts": N_PROMPTS})]


def _finite_exact(s: Setting):
    der = derived(s)
    lim, fin = float(der["icl_error_limit"]), float(der["finite_d_error"])
    return make_check("Lu-kappa-finite-d", "limit formula vs the exact finite-d error L*/d (claimed equal)", lim, fin,
                      relative_tolerance(lim), "exact rationals; any gap beyond float rounding refutes", s.to_json(),
                      expect="refute")


def _finite_confirm(s: Setting, seed: int):
    lim = float(derived(s)["icl_error_limit"])
    return monte_carlo_mean_check("Lu-kappa-finite-d", "error/d at finite d (Monte Carlo) vs the limit formula "
                                  "(claimed equal)", lim, finite_d_replicate(s, seed), {**s.to_json(), "seed": seed},
                                  expect="refute")


# single-replicate false-alarm corners (scripts/false_alarm.py): d = n = 1 with σ² = 0 and the largest noise, and the
# largest d
FALSE_ALARM = (FalseAlarmCorner(Setting(1, 1, 0.0)),
               FalseAlarmCorner(Setting(1, 1, 2.0)),
               FalseAlarmCorner(Setting(4, 12, 0.0)))


register_spec(Spec(
    claim=CLAIM, settings=settings, exact=exact_checks, monte_carlo=mc_checks,
    false_alarm=FALSE_ALARM,
    refutations=(Refutation(
        name="the proportional-limit error is the ICL error at finite d too",
        breaks="d → ∞ (L*/d = ρ + (1 + 1/d + ρ)/(α + 1 + 1/d + ρ))",
        settings=lambda: st.builds(lambda d, n: Setting(d, n, 0.0), st.integers(2, 3), st.integers(2, 6)),
        exact=_finite_exact, confirm=_finite_confirm, claim="Lu-kappa-finite-d"),),
))


# ---- Lu-ICL ----------------------------------------------------------------------------------------------
# Exact route: a SymPy transcription of the ridgeless formula (written apart from the prediction's float code,
# evaluated at 30 digits with the inputs as exact rationals), and SymPy limits of it: κ = τ = K → ∞ must give
# Lu-kappa's M1 limit ρ + (1 + ρ)/(1 + α + ρ), τ → 0⁺ the null predictor's 1 + ρ. The formula itself (the paper's
# random-matrix result) is checked against finite-d pretraining only where d ≳ 100 is affordable: not in this tier.
LU = "Lu-ICL"
K_SYM, T_SYM = sp.Symbol("K", positive=True), sp.Symbol("t", positive=True)


def _m_sym(x, kappa):
    u = x + 1 - 1 / kappa
    return 2 / (u + sp.sqrt(u ** 2 + 4 * x / kappa))


def e_below_one(alpha, kappa, tau, rho):
    """τ < 1 branch (SymPy)."""
    x = (1 + rho) / alpha
    mu = x * _m_sym(x, kappa / tau)
    return tau * (1 + x) / (1 - tau) * (1 - tau * (1 - mu) ** 2 - mu * (x - rho) / x) - 2 * tau * (1 - mu) + 1 + rho


def e_above_one(alpha, kappa, tau, rho):
    """τ > 1 branch (SymPy)."""
    x = (1 + rho) / alpha
    m = _m_sym(x, kappa)
    k = 1 / (1 - kappa * m ** 2 / (kappa + m) ** 2)
    c = 1 / (tau - 1)
    return ((k - c) * (1 + x) * x ** 2 * m ** 2 + (3 - 2 * tau) * c * m * x ** 2 + ((1 + rho) * m * c + 1) * x
            + rho * m * c + rho)


LU_ALPHA, LU_KAPPA, LU_TAU, LU_RHO = (2.0, 0.5, 4.0), (1.0, 0.5, 8.0), (2.0, 0.25, 0.5, 4.0, 0.9), (0.25, 1.0)


@st.composite
def lu_settings(draw, max_d=None, max_n=None, mc=False):
    """(α, κ, τ, ρ) from a few rationals on both sides of τ = 1 (d, n are not read)."""
    extra = tuple((k, draw(st.sampled_from(v), label=k)) for k, v in
                  (("alpha", LU_ALPHA), ("kappa", LU_KAPPA), ("tau", LU_TAU), ("rho", LU_RHO)))
    return Setting(1, 1, 0.0, extra=extra)


def _lu_exact_inputs(s: Setting):
    ex = dict(s.extra)
    return tuple(sp.Rational(repr(float(ex[k]))) for k in ("alpha", "kappa", "tau", "rho"))


def lu_exact_checks(s: Setting):
    pred = get_claim(LU).predict(s, exact=False)
    a, k, t, r = _lu_exact_inputs(s)
    e = (e_below_one if t < 1 else e_above_one)(a, k, t, r)
    lim, null = _limits(a, k, r)
    where, why = s.to_json(), "float64 formula vs its SymPy transcription / SymPy limits at 30 digits: relative 1e-9"
    out = []
    for q, v, p in [("e_ICL at (α, κ, τ, ρ): loss", e, pred.loss), ("e_ICL: icl_error", e, pred.values["icl_error"]),
                    ("κ = τ → ∞ limit of the formula (SymPy) vs icl_error_kappa_tau_infinity (M1's limit)", lim,
                     pred.values["icl_error_kappa_tau_infinity"]),
                    ("τ → 0⁺ limit of the formula (SymPy) vs null_error (1 + ρ)", null, pred.values["null_error"])]:
        v = float(sp.N(v, 30))
        out.append(check(LU, q, v, p, relative_tolerance(v), why, where))
    return out


@lru_cache(maxsize=None)
def _below_values(a, k, r):
    return tuple(float(sp.N(e_below_one(a, k, t, r), 30)) for t in (sp.Rational(1, 2), sp.Rational(9, 10)))


@lru_cache(maxsize=None)
def _limits(a, k, r):
    """(κ = τ = K → ∞ limit, τ → 0⁺ limit) of the SymPy transcription."""
    return (sp.limit(e_above_one(a, K_SYM, K_SYM, r), K_SYM, sp.oo),
            sp.limit(e_below_one(a, k, T_SYM, r), T_SYM, 0, "+"))


def _monotone_exact(s: Setting):
    a, k, _, r = _lu_exact_inputs(s)
    lo, hi = _below_values(a, k, r)
    return make_check("Lu-ICL-monotone", "e_ICL at τ = 9/10 minus at τ = 1/2 (claimed ≤ 0: more data never hurts)", 0.0,
                      hi - lo, relative_tolerance(lo), "exact SymPy evaluation; a positive difference refutes",
                      {**s.to_json(), "e_half": lo, "e_nine_tenths": hi}, error=max(0.0, hi - lo), expect="refute")


register_spec(Spec(
    claim=LU, settings=lu_settings, exact=lu_exact_checks,
    refutations=(Refutation(
        name="more pretraining prompts never raise the ICL error",
        breaks="τ away from the interpolation threshold τ = 1 (e_ICL has a pole there)",
        settings=lambda: st.sampled_from(LU_ALPHA).map(lambda a: Setting(1, 1, 0.0, extra=(
            ("alpha", a), ("kappa", 1.0), ("tau", 2.0), ("rho", 0.25)))),
        exact=_monotone_exact, claim="Lu-ICL-monotone"),),
))
