"""Checks of Li-H3-weighting and Li-RAG (:mod:`iclgd.theory.papers.li_rawat_oymak`).

Exact route (shares no code with the prediction, which conditions on ‖x_q‖² ~ χ²_d): the risk as a
polynomial in independent standard normal coordinates (w, x_q, z_1, z_2, ε_1), expanded in a sparse
polynomial ring and integrated monomial by monomial (E z^k = (k − 1)!! for even k, 0 for odd), for a
general Γ (d ≤ 2: every entry a variable) or Γ = ηI (d = 3); the optimum by solving the stationarity
equations in exact Fractions. For H3, the per-position quadratic form in the weights ω is minimised by an
exact n×n solve. The float64 prediction must match to relative 1e-9.

Monte Carlo: prompts of the claims' laws (40 000 per replicate), squared errors of the predicted
predictors, under the replicate rule (:func:`spec.monte_carlo_mean_check`); false-alarm rates measured
by scripts/false_alarm.py.
"""
from __future__ import annotations

import math
from fractions import Fraction
from functools import lru_cache

import numpy as np
import torch
from hypothesis import strategies as st
from sympy import QQ
from sympy.polys.rings import ring

from iclgd.empirics.sampling import generator
from iclgd.properties.checks import check, make_check
from iclgd.properties.spec import (FalseAlarmCorner, Refutation, Spec, monte_carlo_mean_check,
    register_spec, relative_tolerance)
from iclgd.properties.strategies import context_lengths, dims, noise_levels
from iclgd.properties.stats import mean_se
from iclgd.theory import Setting, get_claim

N_PROMPTS = 40_000
N_CONFIRM = 200_000  # a refutation's paired confirmation: ≥ 5 % effects at the heaviest corner give z ≳ 12
EXACT_WHY = "float64 closed form vs exact Gaussian-monomial integration and an exact solve: relative 1e-9"
FULL_GAMMA_D_MAX = 2  # a general Γ (d² unknowns) up to this d; Γ = ηI beyond


# ---- the exact route: Gaussian monomials ---------------------------------------------------------------
def _double_factorial_moment(k: int) -> int:
    return 0 if k % 2 else math.prod(range(k - 1, 0, -2))


@lru_cache(maxsize=None)
def engine(d: int, full_gamma: bool):
    """E_same = E[y_1² u_1²], E_cross = E[(wᵀx_1) u_1 (wᵀx_2) u_2], E_lin = E[y_1 u_1 (wᵀx_q)], c0 = E[(wᵀx_q)²],
    u_i = x_iᵀΓx_q, x_i = αx_q + ρ z_i, y_1 = wᵀx_1 + σε_1: each a dict {(exponents of α, ρ, σ, Γ's
    variables): rational}, integrated over the Gaussian coordinates monomial by monomial."""
    g_names = [f"g{k}{l}" for k in range(d) for l in range(d)] if full_gamma else ["eta"]
    gauss = [f"{v}{i}" for v in "wqab" for i in range(d)] + ["e1"]
    R, *gens = ring(gauss + ["al", "rh", "sg"] + g_names, QQ)
    w, q, z1, z2 = (gens[k * d:(k + 1) * d] for k in range(4))
    e1, al, rh, sg = gens[4 * d:4 * d + 4]
    G = gens[4 * d + 4:]
    x1 = [al * q[i] + rh * z1[i] for i in range(d)]
    x2 = [al * q[i] + rh * z2[i] for i in range(d)]

    def dot(u, v):
        return sum((u[i] * v[i] for i in range(d)), R(0))

    def u(x):
        if full_gamma:
            return sum((x[k] * G[k * d + l] * q[l] for k in range(d) for l in range(d)), R(0))
        return G[0] * dot(x, q)

    y1, u1, u2 = dot(w, x1) + sg * e1, u(x1), u(x2)
    polys = {"same": y1**2 * u1**2, "cross": dot(w, x1) * u1 * dot(w, x2) * u2, "lin": y1 * u1 * dot(w, q),
             "c0": dot(w, q) ** 2}
    ng = len(gauss)
    out = {}
    for name, p in polys.items():
        acc: dict = {}
        for exps, c in p.terms():
            m = math.prod(_double_factorial_moment(k) for k in exps[:ng])
            if m:
                acc[exps[ng:]] = acc.get(exps[ng:], 0) + Fraction(int(c.numerator), int(c.denominator)) * m
        out[name] = {k: v for k, v in acc.items() if v}
    return out


def _at(poly: dict, alpha: Fraction, rho2: Fraction, sigma2: Fraction) -> dict:
    """Collapse (α, ρ, σ) to numbers: only even powers of ρ and σ occur (odd ones integrate to 0)."""
    acc: dict = {}
    for (ea, er, es, *eg), c in poly.items():
        assert er % 2 == 0 and es % 2 == 0, "odd power of ρ or σ survived the integration"
        acc[tuple(eg)] = acc.get(tuple(eg), 0) + c * alpha**ea * rho2 ** (er // 2) * sigma2 ** (es // 2)
    return acc


def rag_optimum(d: int, n: int, sigma2: Fraction, alpha: Fraction, rho2: Fraction):
    """(Γ*, L*, L(η I) as a function of η) from the engine: L(Γ) = σ² + c0 − 2E_lin + ((n−1)/n)E_cross + E_same/n."""
    full = d <= FULL_GAMMA_D_MAX
    e = engine(d, full)
    k = d * d if full else 1
    terms: dict = {(0,) * k: sigma2}
    for name, coef in (("c0", 1), ("lin", -2), ("cross", Fraction(n - 1, n)), ("same", Fraction(1, n))):
        for mono, c in _at(e[name], alpha, rho2, sigma2).items():
            terms[mono] = terms.get(mono, 0) + coef * c
    # L = c + bᵀg + gᵀQg (Q symmetric): stationarity 2Qg = −b
    Q = np.full((k, k), Fraction(0), dtype=object)
    b = np.full(k, Fraction(0), dtype=object)
    const = Fraction(0)
    for mono, c in terms.items():
        idx = [i for i, ex in enumerate(mono) for _ in range(ex)]
        if len(idx) == 0:
            const += c
        elif len(idx) == 1:
            b[idx[0]] += c
        else:
            i, j = idx
            Q[i, j] += c / 2 if i != j else c
            if i != j:
                Q[j, i] += c / 2
    g = _solve(2 * Q, -b)
    loss = const + b.dot(g) + g.dot(Q.dot(g))

    def loss_at_eta(eta: Fraction) -> Fraction:
        v = np.array([eta if (full and i // d == i % d) or not full else Fraction(0) for i in range(k)], dtype=object)
        return const + b.dot(v) + v.dot(Q.dot(v))
    return (g.reshape(d, d) if full else g[0] * _eye(d)), loss, loss_at_eta


def h3_optimum(d: int, sigma2s: list):
    """(ω*, R(ω*), ω_u, R(ω_u)) of R(ω) = c0 − 2bΣω + Σ_{i≠j} ω_iω_j a_× + Σ ω_i² a(σ_i²), the coefficients from the
    engine at α = 0, ρ = 1, Γ = ηI (the η, η² coefficients); risk against the noiseless wᵀx_q."""
    e = engine(d, False)
    one, zero = Fraction(1), Fraction(0)
    c0 = _at(e["c0"], zero, one, zero)[(0,)]
    b = _at(e["lin"], zero, one, zero)[(1,)]
    a_x = _at(e["cross"], zero, one, zero)[(2,)]
    a_same = [_at(e["same"], zero, one, Fraction(v))[(2,)] for v in sigma2s]
    n = len(sigma2s)
    A = np.array([[a_same[i] if i == j else a_x for j in range(n)] for i in range(n)], dtype=object)
    rhs = np.array([b] * n, dtype=object)
    w = _solve(A, rhs)
    risk = c0 - 2 * b * sum(w) + w.dot(A.dot(w))
    total = n * (n - 1) * a_x + sum(a_same)
    wu = b * n / total
    return w, risk, wu, c0 - (b * n) ** 2 / total


def _eye(d):
    return np.array([[Fraction(int(i == j)) for j in range(d)] for i in range(d)], dtype=object)


def _solve(A: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """A⁻¹ rhs in exact Fractions (Gauss–Jordan; A invertible)."""
    n = A.shape[0]
    T = np.concatenate([A.astype(object), rhs.reshape(n, 1).astype(object)], axis=1)
    for c in range(n):
        piv = next(r for r in range(c, n) if T[r, c] != 0)
        T[[c, piv]] = T[[piv, c]]
        T[c] = T[c] / T[c, c]
        for r in range(n):
            if r != c and T[r, c] != 0:
                T[r] = T[r] - T[r, c] * T[c]
    return T[:, n]


def _fr(x: float) -> Fraction:
    return Fraction(repr(float(x)))


# ---- strategies ----------------------------------------------------------------------------------------
STEPS = (0.0, 0.5, 1.0, 0.25, 2.0)  # δ of σ_i² = σ² + δ(i − 1)
ALPHAS = (0.0, 0.5, 1.0, -0.5, 0.25, 2.0)


@st.composite
def h3_settings(draw, max_d=None, max_n=None, mc=False, unequal=False):
    d = draw(dims(min(max_d or 3, 3)), label="d")
    n = draw(st.integers(2 if unequal else 1, min(max_n or 16, 12)), label="n")
    step = draw(st.sampled_from(STEPS[1:] if unequal else STEPS), label="δ")
    return Setting(d, n, draw(noise_levels(), label="σ²"), extra=(("noise_step", step),))


@st.composite
def rag_settings(draw, max_d=None, max_n=None, mc=False, correlated=False):
    """Both conventions: ρ² = 1 (x_i = αx_q + z, z standard) and ρ² = 1 − α² (x_i ~ N(0, I), |α| < 1)."""
    d = draw(dims(min(max_d or 3, 3)), label="d")
    n = draw(context_lengths(min(max_n or 16, 16)), label="n")
    alpha = draw(st.sampled_from(ALPHAS[1:] if correlated else ALPHAS), label="α")
    unit_marginal = abs(alpha) < 1 and draw(st.booleans(), label="x_i ~ N(0, I)")
    rho2 = 1 - alpha * alpha if unit_marginal else 1.0
    return Setting(d, n, draw(noise_levels(), label="σ²"),
                   extra=(("retrieval_alpha", alpha), ("retrieval_noise", rho2)))


# ---- exact checks --------------------------------------------------------------------------------------
def h3_exact(s: Setting):
    pred = get_claim("Li-H3-weighting").predict(s, exact=False)
    step = dict(s.extra).get("noise_step", 0.0)
    sig = [_fr(s.sigma2) + _fr(step) * i for i in range(s.n)]
    w, r, wu, ru = h3_optimum(s.d, sig)
    wf = np.array([float(v) for v in w])
    where = s.to_json()
    v = pred.values
    out = [check("Li-H3-weighting", "ω* (stated) vs exact solve of the Gaussian-monomial quadratic form", wf,
                 v["weights"], relative_tolerance(wf), EXACT_WHY, where)]
    for q, exact_v, p in (("risk of ω*: loss", r, pred.loss), ("risk of ω*: risk_weighted", r, v["risk_weighted"]),
                          ("best uniform weight: uniform_weight", wu, v["uniform_weight"]),
                          ("its risk: risk_uniform", ru, v["risk_uniform"]), ("gap: risk_uniform − risk_weighted",
                                                                             ru - r, v["gap"])):
        out.append(check("Li-H3-weighting", q, float(exact_v), p, relative_tolerance(float(exact_v)), EXACT_WHY,
                         where))
    equal = step == 0 or s.n == 1
    out.append(check("Li-H3-weighting", "gap = 0 iff all σ_i² are equal (exact sign)", 0.0, float(ru - r), 0.0,
                     "exact rationals: gap == 0 when δ = 0 or n = 1, > 0 otherwise", where,
                     error=0.0 if (ru - r == 0) == equal and ru - r >= 0 else 1.0))
    return out


def rag_exact(s: Setting):
    pred = get_claim("Li-RAG").predict(s, exact=False)
    ex = dict(s.extra)
    a, r2 = _fr(ex.get("retrieval_alpha", 0.0)), _fr(ex.get("retrieval_noise", 1.0))
    G, L, L_eta = rag_optimum(s.d, s.n, _fr(s.sigma2), a, r2)
    Gf = G.astype(float)
    eta_iid = Fraction(s.n) / (s.n + s.d + 1 + _fr(s.sigma2))
    where = s.to_json()
    out = [check("Li-RAG", "Γ* = η*I (stated) vs exact stationary point" + (" over all Γ" if s.d <= FULL_GAMMA_D_MAX
                                                                              else " over Γ = ηI"),
                 Gf, pred.gamma, relative_tolerance(Gf), EXACT_WHY, where)]
    for q, v, p in (("L* (stated) vs exact minimum", L, pred.loss),
                    ("η_M1 = n/(n+d+1+σ²): eta_iid", eta_iid, pred.values["eta_iid"]),
                    ("risk of the IID step: risk_iid_step", L_eta(eta_iid), pred.values["risk_iid_step"])):
        out.append(check("Li-RAG", q, float(v), p, relative_tolerance(float(v)), EXACT_WHY, where))
    return out


# ---- Monte Carlo -----------------------------------------------------------------------------------------
def h3_replicate(s: Setting, weights, seed: int):
    """replicate(j) → (mean, SE) of (Σ ω_i y_i x_iᵀx_q − wᵀx_q)², ``weights`` (n,)."""
    step = dict(s.extra).get("noise_step", 0.0)
    sd = torch.tensor([math.sqrt(s.sigma2 + step * i) for i in range(s.n)], dtype=torch.float64)  # (n,)
    om = torch.as_tensor(np.asarray(weights, float))  # (n,)

    def replicate(j):
        gen = generator(seed + 7919 * j)
        X = torch.randn(N_PROMPTS, s.n + 1, s.d, generator=gen, dtype=torch.float64)  # (B, n+1, d)
        w = torch.randn(N_PROMPTS, s.d, generator=gen, dtype=torch.float64)  # (B, d)
        f = X @ w[:, :, None]  # (B, n+1, 1)
        y = f[:, :s.n, 0] + sd * torch.randn(N_PROMPTS, s.n, generator=gen, dtype=torch.float64)  # (B, n)
        pred = ((om * y)[:, :, None] * X[:, :s.n]).sum(1).mul(X[:, s.n]).sum(-1)  # (B,)
        sq = (pred - f[:, s.n, 0]) ** 2
        return mean_se(sq)
    return replicate


def h3_mc(s: Setting, seed: int):
    pred = get_claim("Li-H3-weighting").predict(s, exact=False)
    v, where = pred.values, {**s.to_json(), "seed": seed, "n_prompts": N_PROMPTS}
    return [monte_carlo_mean_check("Li-H3-weighting", "risk of ω* (Monte Carlo) vs risk_weighted", v["risk_weighted"],
                                   h3_replicate(s, v["weights"], seed), where),
            monte_carlo_mean_check("Li-H3-weighting", "risk of the uniform weight (Monte Carlo) vs risk_uniform",
                                   v["risk_uniform"], h3_replicate(s, [v["uniform_weight"]] * s.n, seed + 1), where)]


def _rag_prompts(s: Setting, gen, B: int = N_PROMPTS):
    ex = dict(s.extra)
    a, rho = ex.get("retrieval_alpha", 0.0), math.sqrt(ex.get("retrieval_noise", 1.0))
    xq = torch.randn(B, s.d, generator=gen, dtype=torch.float64)  # (B, d)
    X = a * xq[:, None, :] + rho * torch.randn(B, s.n, s.d, generator=gen, dtype=torch.float64)  # (B, n, d)
    w = torch.randn(B, s.d, generator=gen, dtype=torch.float64)  # (B, d)
    sd = math.sqrt(s.sigma2)
    y = (X @ w[:, :, None])[..., 0] + sd * torch.randn(B, s.n, generator=gen, dtype=torch.float64)  # (B, n)
    yq = (xq * w).sum(-1) + sd * torch.randn(B, generator=gen, dtype=torch.float64)  # (B,)
    gx = ((y[:, :, None] * X).mean(1) * xq).sum(-1)  # (B,) gᵀx_q
    return gx, yq


def rag_replicate(s: Setting, eta: float, seed: int, paired_with: float | None = None, B: int = N_PROMPTS):
    """replicate(j) → (mean, SE) of (η gᵀx_q − y_q)², or with ``paired_with`` = η' of the per-prompt difference
    (η' gᵀx_q − y_q)² − (η gᵀx_q − y_q)² on the same prompts."""
    def replicate(j):
        gx, yq = _rag_prompts(s, generator(seed + 7919 * j), B)
        sq = (eta * gx - yq) ** 2
        if paired_with is not None:
            sq = (paired_with * gx - yq) ** 2 - sq
        return mean_se(sq)
    return replicate


def rag_mc(s: Setting, seed: int):
    pred = get_claim("Li-RAG").predict(s, exact=False)
    where = {**s.to_json(), "seed": seed, "n_prompts": N_PROMPTS}
    return [monte_carlo_mean_check("Li-RAG", "risk of η*gᵀx_q (Monte Carlo) vs L*", pred.loss,
                                   rag_replicate(s, pred.eta, seed), where),
            monte_carlo_mean_check("Li-RAG", "risk of the IID step (Monte Carlo) vs risk_iid_step",
                                   pred.values["risk_iid_step"], rag_replicate(s, pred.values["eta_iid"], seed + 1),
                                   where)]


# ---- refutations ------------------------------------------------------------------------------------------
MARGIN = 0.05  # relative excess the refutations require: a gap the paired Monte Carlo confirmation resolves


def _iid_exact(s: Setting):
    ex = dict(s.extra)
    _, L, L_eta = rag_optimum(s.d, s.n, _fr(s.sigma2), _fr(ex["retrieval_alpha"]), _fr(ex["retrieval_noise"]))
    eta_iid = Fraction(s.n) / (s.n + s.d + 1 + _fr(s.sigma2))
    return make_check("Li-RAG-iid-step", "risk of the IID step vs the optimal risk L* (claimed equal)", float(L),
                      float(L_eta(eta_iid)), MARGIN, f"exact rationals; refuted when the relative excess exceeds "
                      f"{MARGIN:g}", s.to_json(), error=float((L_eta(eta_iid) - L) / L), expect="refute")


def _iid_confirm(s: Setting, seed: int):
    pred = get_claim("Li-RAG").predict(s, exact=False)
    return monte_carlo_mean_check("Li-RAG-iid-step", "paired risk difference IID step − η* (Monte Carlo; claimed 0)",
                                  0.0, rag_replicate(s, pred.eta, seed, paired_with=pred.values["eta_iid"], B=N_CONFIRM),
                                  {**s.to_json(), "seed": seed}, expect="refute")


def _uniform_exact(s: Setting):
    step = dict(s.extra)["noise_step"]
    _, r, _, ru = h3_optimum(s.d, [_fr(s.sigma2) + _fr(step) * i for i in range(s.n)])
    return make_check("Li-H3-uniform", "risk of the best uniform weight vs the best per-example weights (claimed "
                      "equal)", float(r), float(ru), MARGIN, f"exact rationals; refuted when the relative excess "
                      f"exceeds {MARGIN:g}", s.to_json(), error=float((ru - r) / r), expect="refute")


def _uniform_confirm(s: Setting, seed: int):
    v = get_claim("Li-H3-weighting").predict(s, exact=False).values
    wts, wu = np.asarray(v["weights"]), v["uniform_weight"]
    step = dict(s.extra)["noise_step"]
    sd = torch.tensor([math.sqrt(s.sigma2 + step * i) for i in range(s.n)], dtype=torch.float64)

    def replicate(j):  # paired: the same prompts under both weightings
        gen, B = generator(seed + 7919 * j), N_CONFIRM
        X = torch.randn(B, s.n + 1, s.d, generator=gen, dtype=torch.float64)  # (B, n+1, d)
        w = torch.randn(B, s.d, generator=gen, dtype=torch.float64)  # (B, d)
        f = (X @ w[:, :, None])[..., 0]  # (B, n+1)
        y = f[:, :s.n] + sd * torch.randn(B, s.n, generator=gen, dtype=torch.float64)  # (B, n)
        k = (X[:, :s.n] * X[:, s.n:]).sum(-1) * y  # (B, n): y_i x_iᵀx_q
        e_u = (wu * k.sum(-1) - f[:, s.n]) ** 2
        e_w = (k @ torch.as_tensor(wts) - f[:, s.n]) ** 2
        diff = e_u - e_w
        return mean_se(diff)
    return monte_carlo_mean_check("Li-H3-uniform", "paired risk difference uniform − weighted (Monte Carlo; claimed 0)",
                                  0.0, replicate, {**s.to_json(), "seed": seed}, expect="refute")


# single-replicate false-alarm corners (scripts/false_alarm.py): d = n = 1, σ² = 0 (products of Gaussians), and the
# largest noise step
H3_FALSE_ALARM = (FalseAlarmCorner(Setting(1, 1, 0.0, extra=(("noise_step", 0.0),))),
                  FalseAlarmCorner(Setting(1, 2, 0.0, extra=(("noise_step", 2.0),))))


register_spec(Spec(
    claim="Li-H3-weighting", settings=h3_settings, exact=h3_exact, monte_carlo=h3_mc,
    false_alarm=H3_FALSE_ALARM,
    refutations=(Refutation(
        name="one-layer LSA's uniform weight is as good as H3's per-example weights under unequal noise",
        breaks="all σ_i² equal (Cauchy–Schwarz: Σ 1/c_i ≥ n²/Σ c_i with equality iff the c_i are equal)",
        settings=lambda: h3_settings(unequal=True), exact=_uniform_exact, confirm=_uniform_confirm,
        claim="Li-H3-uniform"),),
))
# single-replicate false-alarm corners (scripts/false_alarm.py): d = n = 1, σ² = 0, the largest |α| and α = 0
RAG_FALSE_ALARM = (FalseAlarmCorner(Setting(1, 1, 0.0, extra=(("retrieval_alpha", 2.0), ("retrieval_noise", 1.0)))),
                   FalseAlarmCorner(Setting(1, 1, 0.0, extra=(("retrieval_alpha", 0.0), ("retrieval_noise", 1.0)))))


register_spec(Spec(
    claim="Li-RAG", settings=rag_settings, exact=rag_exact, monte_carlo=rag_mc,
    false_alarm=RAG_FALSE_ALARM,
    refutations=(Refutation(
        name="the IID-optimal step n/(n+d+1+σ²) stays optimal with retrieved demonstrations",
        breaks="α = 0 (independent demonstrations)", settings=lambda: rag_settings(correlated=True),
        exact=_iid_exact, confirm=_iid_confirm, claim="Li-RAG-iid-step"),),
))
