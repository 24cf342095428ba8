"""Checks of ZFB-covshift and ZFB-queryshift (:mod:`iclgd.theory.papers.zfb_shift`).

Exact route (shares no code with the prediction): Γ_Z from the Isserlis engine's optimum at the
training length N (``derivation.gradient_moments``: E[g gᵀ]⁻¹E[g wᵀ]), the engine's moments E[g gᵀ], E[g wᵀ] of the
*prompt* covariance at test length M, and the engine's loss L(Γ) with the *query* covariance
(``derivation.loss_expr``), derived once with d, M symbolic and read at concrete rational matrices in
exact ``Fraction`` arithmetic; the M → ∞ limit as 2R(2) − R(1) (the engine's error is affine in 1/M,
asserted symbolically in tests/cover/test_zfb_shift.py). The float64 prediction must match to relative 1e-9.

Monte Carlo: prompts x_j ~ N(0, P), a query x_q ~ N(0, Q), w ~ N(0, I), the squared error of gᵀΓ_Zx_q
against wᵀx_q (40 000 prompts per replicate), under the replicate rule (:func:`spec.monte_carlo_mean_check`);
single-replicate false-alarm rate measured by scripts/false_alarm.py.
"""
from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import math

import numpy as np
import sympy as sp
import torch
from hypothesis import strategies as st

from iclgd.empirics.sampling import generator
from iclgd.properties.checks import check, make_check
from iclgd.properties.profile import scale
from iclgd.properties.spec import (FalseAlarmCorner, Refutation, Spec, monte_carlo_mean_check,
    register_spec, relative_tolerance)
from iclgd.properties.strategies import context_lengths, dims, spd_matrices
from iclgd.properties.stats import mean_se
from iclgd.theory import Setting, get_claim
from iclgd.theory.derivation import Moments, d_sym, gradient_moments, loss_expr, simplify_matrix
from iclgd.theory.setting import exact

N_PROMPTS = 40_000
M_SYM = sp.Symbol("M", positive=True, integer=True)
EXACT_WHY = "float64 evaluation of the closed form vs the exact rational from the Isserlis engine: relative 1e-9"
SCALES = (1.0, 0.5, 2.0, 0.25, 3.0)  # c of Θ = cΛ + rI; 1 first (shrinks toward no scaling)
RIDGES = (0.0, 0.5, 1.0, 0.25)


def rounded_spd(d: int):
    """SPD Λ (κ ≤ 10, smallest eigenvalue ≥ 0.5) rounded to 3 decimals: still SPD, short rationals."""
    return spd_matrices(d, 10.0).map(lambda S: np.round(S, 3))


@st.composite
def settings(draw, max_d=None, max_n=None, mc=False, shifted=False):
    """d ≤ 3, Λ rounded SPD (κ ≤ 10), N ≥ 1, M ≥ 1 (≤ 24 for Monte Carlo), Θ = cΛ + rI."""
    d = draw(dims(min(max_d or 3, 3)), label="d")
    N = draw(context_lengths(min(max_n or scale().n_max, 16)), label="N")
    M = draw(st.integers(1, 24 if mc else 64), label="M")
    c = draw(st.sampled_from(SCALES), label="c")
    r = draw(st.sampled_from(RIDGES), label="r")
    if shifted and c == 1.0 and r == 0.0:
        c = 2.0
    return Setting(d, N, 0.0, cov=draw(rounded_spd(d), label="Λ"), test_n=M,
                   extra=(("shift_ridge", r), ("shift_scale", c)))


def _theta_exact(s: Setting) -> sp.Matrix:
    ex = dict(s.extra)
    return exact(ex.get("shift_scale", 1.0)) * s.Sigma_exact + exact(ex.get("shift_ridge", 0.0)) * sp.eye(s.d)


@lru_cache(maxsize=None)
def engine_loss():
    """The Isserlis engine's L(Γ) for prompts x_j ~ N(0, P), query x_q ~ N(0, Q), w ~ N(0, I), σ² = 0, M
    demonstrations (P, Q, Γ d×d MatrixSymbols, d and M symbolic), and its E[g gᵀ], E[g wᵀ] — derived
    once; :func:`evaluate` then reads them at concrete rational matrices (exact ``Fraction`` arithmetic)."""
    P, Q, G = (sp.MatrixSymbol(k, d_sym, d_sym) for k in "PQG")
    mom = gradient_moments(P, sp.Identity(d_sym), M_SYM, 0, d_sym)
    E_gg, E_gw = simplify_matrix(mom.E_gg), simplify_matrix(mom.E_gw)
    return (P, Q, G), loss_expr(Moments(E_gg, E_gw, sp.Identity(d_sym)), Q, G, 0), E_gg, E_gw


def evaluate(expr, env: dict, d: int):
    """A matrix/scalar expression of MatrixSymbols, Identity, Trace, Transpose, sums, products and integer
    powers, at ``env`` (symbol → Fraction or d×d object array of Fractions): exact, no SymPy arithmetic."""
    if expr in env:
        return env[expr]
    if isinstance(expr, sp.Identity):
        return np.array([[Fraction(int(i == j)) for j in range(d)] for i in range(d)], dtype=object)
    if isinstance(expr, sp.Rational):
        return Fraction(int(expr.p), int(expr.q))
    if isinstance(expr, sp.Transpose):
        return evaluate(expr.arg, env, d).T
    if isinstance(expr, sp.Trace):
        return sum(np.diagonal(evaluate(expr.arg, env, d)), Fraction(0))
    args = [evaluate(a, env, d) for a in expr.args]
    if isinstance(expr, (sp.MatAdd, sp.Add)):
        return sum(args[1:], args[0])
    if isinstance(expr, (sp.MatMul, sp.Mul)):
        out = args[0]
        for a in args[1:]:
            out = out.dot(a) if isinstance(out, np.ndarray) and isinstance(a, np.ndarray) else out * a
        return out
    if isinstance(expr, (sp.MatPow, sp.Pow)):
        base, k = args[0], int(expr.args[1])
        if not isinstance(base, np.ndarray):
            return base ** k
        out = evaluate(sp.Identity(d), env, d)
        for _ in range(k):
            out = out.dot(base)
        return out
    raise ValueError(f"evaluate: cannot read {type(expr).__name__}: {expr}")


def solve(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """A⁻¹B by Gauss–Jordan elimination in exact Fractions (A invertible)."""
    n = A.shape[0]
    T = np.concatenate([A, B], axis=1).astype(object)
    for c in range(n):
        piv = next(r for r in range(c, n) if T[r, c] != 0)
        T[[c, piv]] = T[[piv, c]]
        T[c] = T[c] / T[c, c]
        for r in range(n):
            if r != c:
                T[r] = T[r] - T[r, c] * T[c]
    return T[:, n:]


def _frac(M: sp.Matrix) -> np.ndarray:
    return np.array([[Fraction(int(v.p), int(v.q)) for v in M.row(i)] for i in range(M.shape[0])], dtype=object)


def optimum(Lam: np.ndarray, N: int) -> np.ndarray:
    """The trained Γ at length N from the engine: E[g gᵀ]⁻¹ E[g wᵀ] (stationary point of the convex loss)."""
    (P, _, _), _, E_gg, E_gw = engine_loss()
    env = {P: Lam, M_SYM: Fraction(N)}
    return solve(evaluate(E_gg, env, len(Lam)), evaluate(E_gw, env, len(Lam)))


def loss(Pm: np.ndarray, Qm: np.ndarray, Gm: np.ndarray, m) -> Fraction:
    """The engine's L(Γ) at prompt covariance Pm, query covariance Qm, Γ = Gm, length m (exact)."""
    (P, Q, G), L, _, _ = engine_loss()
    return evaluate(L, {P: Pm, Q: Qm, G: Gm, M_SYM: Fraction(m)}, len(Pm))


def derived(s: Setting, query_only: bool) -> dict:
    """Exact Γ_Z (engine optimum at N), R_M, R_∞ and ‖PΓ_Z − I‖²_F from the engine (P = prompt covariance).
    R_∞ = 2 R(2) − R(1): the engine's E[g gᵀ] is affine in 1/M (asserted in tests/cover/test_zfb_shift.py),
    so R(M) = a + b/M."""
    Lam, Th = _frac(s.Sigma_exact), _frac(_theta_exact(s))
    P = Lam if query_only else Th
    G = optimum(Lam, s.n)
    M = s.n if s.test_n is None else s.test_n
    out = {"gamma": G, "risk": loss(P, Th, G, M), "limit": 2 * loss(P, Th, G, 2) - loss(P, Th, G, 1)}
    E = P.dot(G) - evaluate(sp.Identity(s.d), {}, s.d)
    out["residual2"] = sum(v * v for v in E.ravel())
    if query_only:
        out["unshifted"] = loss(Lam, Lam, G, M)
    return out


def _f(v) -> float:
    return float(v)


def exact_checks(claim_id: str, query_only: bool):
    def run(s: Setting):
        pred = get_claim(claim_id).predict(s, exact=False)
        der = derived(s, query_only)
        where = s.to_json()
        G = der["gamma"].astype(float)
        out = [check(claim_id, "Γ_Z (stated) vs engine optimum at N (exact)", G, pred.gamma, relative_tolerance(G),
                     EXACT_WHY, where)]
        pairs = [("error at length M: loss", der["risk"], pred.loss),
                 ("error at length M: risk_at_test_n", der["risk"], pred.values["risk_at_test_n"]),
                 ("M → ∞ limit: risk_limit (engine: 2R(2) − R(1))", der["limit"],
                  pred.values["risk_limit"]),
                 ("‖PΓ_Z − I‖_F: shift_residual", math.sqrt(der["residual2"]), pred.values["shift_residual"])]
        if query_only:
            pairs.append(("unshifted error at M: risk_unshifted", der["unshifted"], pred.values["risk_unshifted"]))
        for q, v, p in pairs:
            out.append(check(claim_id, q, _f(v), p, relative_tolerance(_f(v)), EXACT_WHY, where))
        return out
    return run


def error_replicate(s: Setting, query_only: bool, gamma: np.ndarray, seed: int, limit: bool = False):
    """replicate(j) → (mean, SE) of (gᵀΓx_q − wᵀx_q)² over ``N_PROMPTS`` prompts (``limit``: g = P w, M = ∞)."""
    ex = dict(s.extra)
    Lam = torch.as_tensor(s.Sigma)
    Th = ex.get("shift_scale", 1.0) * Lam + ex.get("shift_ridge", 0.0) * torch.eye(s.d, dtype=Lam.dtype)
    P = Lam if query_only else Th
    Lp, Lq = torch.linalg.cholesky(P), torch.linalg.cholesky(Th)
    G = torch.as_tensor(gamma)
    M = s.n if s.test_n is None else s.test_n

    def replicate(j):
        gen = generator(seed + 7919 * j)
        w = torch.randn(N_PROMPTS, s.d, generator=gen, dtype=torch.float64)  # (B, d)
        xq = torch.randn(N_PROMPTS, s.d, generator=gen, dtype=torch.float64) @ Lq.T  # (B, d)
        if limit:
            g = w @ P  # (B, d): the M → ∞ limit of g
        else:
            X = torch.randn(N_PROMPTS, M, s.d, generator=gen, dtype=torch.float64) @ Lp.T  # (B, M, d)
            y = X @ w[:, :, None]  # (B, M, 1)
            g = (X * y).mean(1)  # (B, d)
        sq = ((g @ G * xq).sum(-1) - (w * xq).sum(-1)) ** 2  # (B,)
        return mean_se(sq)
    return replicate


def mc_checks(claim_id: str, query_only: bool):
    def run(s: Setting, seed: int):
        pred = get_claim(claim_id).predict(s, exact=False)
        return [monte_carlo_mean_check(claim_id, "error at length M (Monte Carlo) vs risk_at_test_n",
                                       pred.values["risk_at_test_n"], error_replicate(s, query_only, pred.gamma, seed),
                                       {**s.to_json(), "seed": seed, "n_prompts": N_PROMPTS})]
    return run


# ---- refutations ----------------------------------------------------------------------------------
def _vanishes_exact(s: Setting):
    lim = _f(derived(s, False)["limit"])
    return make_check("ZFB-covshift-vanishes", "M → ∞ error under covariate shift (claimed 0) vs exact limit", 0.0,
                      lim, 1e-12, "exact rational limit; claimed 0, any positive value refutes (1e-12: float)",
                      s.to_json(), expect="refute")


def _vanishes_confirm(s: Setting, seed: int):
    G = get_claim("ZFB-covshift").predict(s, exact=False).gamma
    return monte_carlo_mean_check("ZFB-covshift-vanishes", "error of the M = ∞ predictor (g = Θw, Monte Carlo) vs 0",
                                  0.0, error_replicate(s, False, G, seed, limit=True),
                                  {**s.to_json(), "seed": seed}, expect="refute")


def _invariant_exact(s: Setting):
    der = derived(s, True)
    r, u = _f(der["risk"]), _f(der["unshifted"])
    return make_check("ZFB-queryshift-invariant", "error at M under query shift vs unshifted (claimed equal)", u, r,
                      relative_tolerance(u), "exact rationals; any difference beyond float rounding refutes",
                      s.to_json(), expect="refute")


def _invariant_confirm(s: Setting, seed: int):
    G = get_claim("ZFB-queryshift").predict(s, exact=False).gamma
    u = _f(derived(s, True)["unshifted"])
    return monte_carlo_mean_check("ZFB-queryshift-invariant", "error under query shift (Monte Carlo) vs the unshifted "
                                  "exact error (claimed equal)", u, error_replicate(s, True, G, seed),
                                  {**s.to_json(), "seed": seed}, expect="refute")


def _shift_corner(d: int, ridge: float, scale: float) -> Setting:
    """n = M = 1, σ² = 0, Λ = I/2: the heaviest tails the strategy reaches at dimension d."""
    return Setting(d, 1, 0.0, cov=(0.5 * np.eye(d)).tolist(), test_n=1,
                   extra=(("shift_ridge", ridge), ("shift_scale", scale)))


# single-replicate false-alarm corners (scripts/false_alarm.py): d = n = M = 1 at the largest shift, and d = 3 with
# the shift ridge
COVSHIFT_FALSE_ALARM = (FalseAlarmCorner(_shift_corner(1, 0.0, 1.0)), FalseAlarmCorner(_shift_corner(3, 1.0, 0.25)))


register_spec(Spec(
    claim="ZFB-covshift", settings=settings, exact=exact_checks("ZFB-covshift", False),
    false_alarm=COVSHIFT_FALSE_ALARM,
    monte_carlo=mc_checks("ZFB-covshift", False),
    refutations=(Refutation(
        name="the trained LSA's error vanishes as M → ∞ under covariate shift (as OLS's does)",
        breaks="Γ_Z Θ = I (needed for R_∞ = tr(Θ(ΘΓ_Z − I)ᵀ(ΘΓ_Z − I)) = 0)",
        settings=lambda: settings(mc=True), exact=_vanishes_exact, confirm=_vanishes_confirm,
        claim="ZFB-covshift-vanishes"),),
))
# single-replicate false-alarm corners (scripts/false_alarm.py): d = n = M = 1 at the largest shift, and d = 3 with
# the shift ridge
QUERYSHIFT_FALSE_ALARM = (FalseAlarmCorner(_shift_corner(1, 0.0, 3.0)), FalseAlarmCorner(_shift_corner(3, 1.0, 0.25)))


register_spec(Spec(
    claim="ZFB-queryshift", settings=settings, exact=exact_checks("ZFB-queryshift", True),
    false_alarm=QUERYSHIFT_FALSE_ALARM,
    monte_carlo=mc_checks("ZFB-queryshift", True),
    refutations=(Refutation(
        name="a query shift leaves the error at length M unchanged",
        breaks="Θ = Λ (R_M is linear in the query covariance Θ)",
        settings=lambda: settings(mc=True, shifted=True), exact=_invariant_exact, confirm=_invariant_confirm,
        claim="ZFB-queryshift-invariant"),),
))
