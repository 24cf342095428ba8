"""Spec of DW-optridge (theory/papers/dobriban_wager.py) and the refutation of DW-ridgeless-optimal.

Exact, on routes sharing no code with ``Claim.predict``:
- λ*: the root in λ of ∂/∂λ (λ² r² + γσ² x)/(x + λ)², SymPy with x symbolic (free of x: every eigenvalue agrees);
- the limits by quadrature against the Marchenko–Pastur density √((b − x)(x − a))/(2πγx) on
  [a, b] = [(1 − √γ)², (1 + √γ)²] (Gauss–Legendre in θ, x = a + (b − a) sin²θ, converged to 1e-13) plus the atom 1 − 1/γ at 0 for γ > 1: m_γ(−λ*) = ∫ dF/(x + λ*), R(λ*) = ∫ (λ*² r² + γσ² x)
  /(x + λ*)² dF (the general integrand, not its simplification), the ridgeless limit R(0) = γσ² ∫ dF/x + r²(1 − 1/γ)⁺;
- the MP self-consistency γλm² + (1 − γ + λ)m − 1 = 0 at the predicted m; and R(λ*) ≤ R(0).
No Monte Carlo check: every predicted number is a p, n → ∞ limit, which no finite-n expectation equals (the finite-n
law is checked by Bayes-ridge and Hastie-ridgeless's Monte Carlo checks).
Refutation: R(0) > R(λ*) by more than the quadrature's accuracy wherever σ², r² > 0 and γ ≠ 1 (exact-only).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import sympy as sp
from hypothesis import strategies as st

from iclgd.theory import Setting, get_claim
from iclgd.theory.setting import exact

from ..checks import check, make_check
from ..spec import Refutation, Spec, register_spec

CLAIM = "DW-optridge"
OVER = "DW-ridgeless-optimal"
GAMMAS = (0.25, 0.5, 2 / 3, 1.0, 1.5, 2.0, 4.0)
QUAD_RTOL = 1e-10
QUAD_WHY = "float64 closed form vs a converged Marchenko–Pastur quadrature (200 vs 100 nodes agree to 1e-13): relative 1e-10"
x_sym, lam_sym = sp.symbols("x lambda", positive=True)


def _gauss_legendre_theta(integrand, q: int) -> float:
    """∫_0^{π/2} integrand(θ) dθ by q-node Gauss–Legendre on [0, π/4] and [π/4, π/2]."""
    x0, w0 = np.polynomial.legendre.leggauss(q)
    total = 0.0
    for lo, hi in ((0.0, np.pi / 4), (np.pi / 4, np.pi / 2)):
        t = (hi - lo) / 2 * x0 + (hi + lo) / 2
        total += float(np.sum((hi - lo) / 2 * w0 * integrand(t)))
    return total


@lru_cache(maxsize=1024)
def law_integral(gamma: float, fn_key: str, lam: float, r2: float, sigma2: float) -> float:
    """∫ g dF_γ for g = 1/(x + λ) ("stieltjes"), (λ² r² + γσ² x)/(x + λ)² ("ridge"), γσ²/x + r²·[x = 0]
    ("ridgeless"). x = a + (b − a) sin²θ makes √((b − x)(x − a)) dx = 2(b − a)² sin²θ cos²θ dθ: a smooth integrand
    on [0, π/2], 200 Gauss–Legendre nodes per half; asserted to agree with 100 nodes to 1e-13 relative."""
    g = gamma
    a, b = (1 - np.sqrt(g)) ** 2, (1 + np.sqrt(g)) ** 2
    atom = max(0.0, 1 - 1 / g)
    if fn_key == "stieltjes":
        f, at_zero = (lambda x: 1 / (x + lam)), atom / lam
    elif fn_key == "ridge":
        f, at_zero = (lambda x: (lam**2 * r2 + g * sigma2 * x) / (x + lam) ** 2), atom * r2
    else:
        f, at_zero = (lambda x: g * sigma2 / x), atom * r2

    def integrand(t):
        sn2 = np.sin(t) ** 2
        x = a + (b - a) * sn2
        return f(x) * 2 * (b - a) ** 2 * sn2 * (1 - sn2) / (2 * np.pi * g * x)

    fine, coarse = _gauss_legendre_theta(integrand, 200), _gauss_legendre_theta(integrand, 100)
    assert abs(fine - coarse) <= 1e-13 * max(1.0, abs(fine)), (fine, coarse)  # the quadrature has converged
    return fine + at_zero


@st.composite
def settings(draw, max_d=None, max_n=None, mc=False):
    """γ from GAMMAS (1 included: optimal ridge has no pole), σ² ∈ (0, 2], r² ∈ {0.5, 1, 2}; d, n are not read."""
    s2 = draw(st.floats(0.05, 2.0).map(lambda v: round(v, 2)), label="σ²")
    return Setting(1, 1, s2, extra=(("gamma", draw(st.sampled_from(GAMMAS), label="γ")),
                                    ("r2", draw(st.sampled_from([0.5, 1.0, 2.0]), label="r²"))))


@lru_cache(maxsize=1024)
def _lam_root(gamma: float, r2: float, sigma2: float) -> float:
    term = (lam_sym**2 * exact(r2) + exact(gamma) * exact(sigma2) * x_sym) / (x_sym + lam_sym) ** 2
    roots = sp.solve(sp.numer(sp.together(sp.diff(term, lam_sym))), lam_sym)
    assert len(roots) == 1 and not roots[0].has(x_sym), roots  # one stationary λ, the same for every eigenvalue
    return float(roots[0])


def exact_checks(s: Setting) -> list:
    c = get_claim(CLAIM)
    pred = c.predict(s, exact=False)
    g, r2 = c.param(s, "gamma"), c.param(s, "r2")
    v, where = pred.values, s.to_json()
    lam = _lam_root(g, r2, s.sigma2)
    m = law_integral(g, "stieltjes", lam, r2, s.sigma2)
    risk = law_integral(g, "ridge", lam, r2, s.sigma2)
    out = [check(CLAIM, "lambda_opt vs the x-free root of ∂/∂λ of the MP integrand (SymPy)", lam, v["lambda_opt"],
                 1e-12 * max(1.0, lam), "exact solve vs a float64 product: relative 1e-12", where)]
    for key, val, truth in (("stieltjes_m", v["stieltjes_m"], m), ("excess_risk_limit", v["excess_risk_limit"], risk),
                            ("risk_limit − σ²", v["risk_limit"] - s.sigma2, risk),
                            ("loss − σ²", pred.loss - s.sigma2, risk)):
        out.append(check(CLAIM, f"{key} vs the Marchenko–Pastur quadrature at λ*", truth, val,
                         QUAD_RTOL * max(1.0, abs(truth)), QUAD_WHY, where))
    pm, pl = v["stieltjes_m"], v["lambda_opt"]
    resid = g * pl * pm**2 + (1 - g + pl) * pm - 1
    out.append(check(CLAIM, "MP self-consistency γλm² + (1 − γ + λ)m − 1 = 0 at the predicted (λ*, m)", 0.0, resid,
                     1e-12, "float64 evaluation of a quadratic with O(1) terms: 1e-12", where))
    if v["ridgeless_excess_limit"] is not None:
        r0 = law_integral(g, "ridgeless", 0.0, r2, s.sigma2)
        out.append(check(CLAIM, "ridgeless_excess_limit vs the MP quadrature of γσ²/x (+ r² on the atom)", r0,
                         v["ridgeless_excess_limit"], QUAD_RTOL * max(1.0, r0), QUAD_WHY, where))
        out.append(check(CLAIM, "optimal ridge ≤ ridgeless (quadratures)", risk, r0, QUAD_RTOL * max(1.0, r0),
                         QUAD_WHY, where, error=max(0.0, risk - r0)))
    return out


@st.composite
def over_settings(draw):
    """γ ∈ {1/4, 1/2, 2, 4} (away from the ridgeless pole), σ² ∈ {0.5, 1}, r² ∈ {1, 2}: few distinct quadratures
    to take while the search shrinks."""
    g = draw(st.sampled_from([0.25, 0.5, 2.0, 4.0]), label="γ")
    return Setting(1, 1, draw(st.sampled_from([0.5, 1.0]), label="σ²"),
                   extra=(("gamma", g), ("r2", draw(st.sampled_from([1.0, 2.0]), label="r²"))))


def over_exact(s: Setting):
    c = get_claim(OVER)
    g, r2 = c.param(s, "gamma"), c.param(s, "r2")
    opt = law_integral(g, "ridge", _lam_root(g, r2, s.sigma2), r2, s.sigma2)
    r0 = law_integral(g, "ridgeless", 0.0, r2, s.sigma2)
    return make_check(OVER, "ridgeless limiting excess risk vs optimal ridge's (MP quadratures)", opt, r0,
                      QUAD_RTOL * max(1.0, opt), QUAD_WHY, s.to_json(), error=abs(r0 - opt), expect="refute")


register_spec(Spec(
    claim=CLAIM, settings=settings, exact=exact_checks,
    refutations=(Refutation(
        "ridgeless least squares attains the optimally tuned ridge's limiting risk",
        "λ = λ* dropped (λ → 0): R(0) − R(λ*) = ∫ [(γσ²/x)(…)] > 0 whenever σ², r² > 0",
        over_settings, over_exact, claim=OVER),),
))
