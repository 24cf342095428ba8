"""Checks of the eight claims of shared/CLAIMS_MORE.md (issue 13).

Predictions always come through ``Claim.predict`` (so ``ICLGD_PERTURB`` mutations reach them);
measurements come from :mod:`iclgd.theory.more_derivation` (exact, derived from the data law) or
from :mod:`iclgd.empirics.more` (Monte Carlo on sampled prompts) — never from the stated formulas.

Tolerances:
- exact checks: the float64 prediction against the exact rational derived value, relative
  ``FLOAT_RTOL`` = 1e-9 (the stated formulas invert matrices of condition ≤ 1e3 in float64:
  relative error ≲ 1e3·d·2⁻⁵² < 1e-11, so 1e-9 leaves a factor ≥ 100);
- Monte Carlo checks: ``z`` standard errors of the mean of the per-prompt squared error, z the
  two-sided normal quantile at the per-check level of the run-wide false-alarm budget
  (:func:`iclgd.properties.stats.per_check_alpha`); valid by the CLT since every per-prompt error
  has finite fourth moments on the strategies' settings (OLS with noise: n ≥ d + 4).
"""
from __future__ import annotations

import math

import numpy as np
import sympy as sp
import torch

from iclgd.empirics import more as emp
from iclgd.empirics.sampling import generator
from iclgd.theory import Setting, get_claim
from iclgd.theory import more as T
from iclgd.theory import more_derivation as D
from iclgd.theory.derivation import d_sym, n_sym, s2_sym
from iclgd.theory.setting import exact, uniform_half_width

from .checks import Check, check
from .stats import per_check_alpha, z_crit

FLOAT_RTOL = 1e-9
Z_MC = z_crit(1, per_check_alpha("monte-carlo"))  # ≈ 5.6
FLOAT_FLOOR = 1e-10  # float64 rounding of a predictor's squared error: ≤ (κ ε)² |y|² ≪ 1e-10 on the strategies
EXACT_WHY = "float64 evaluation of the stated formula vs the exact derived rational: relative 1e-9 (≥ 100× rounding)"


def _where(s: Setting, **extra) -> dict:
    return {**s.to_json(), **extra}


def _rel_tol(v) -> float:
    return FLOAT_RTOL * max(1.0, float(np.abs(np.asarray(v, float)).max(initial=0.0)))


def _f(m) -> np.ndarray:
    return np.array(sp.Matrix(m).evalf(30).tolist(), dtype=float)


# ---- 1. exact: the stated closed form vs the derivation --------------------------------------------
def derived_exact(claim_id: str, s: Setting) -> dict:
    """Exact derived values {"gamma": sympy Matrix or None, "loss": sympy number} for ``s``."""
    if claim_id in ("ZFB", "ZFB-length"):
        Lam, M = s.Sigma_exact, T.test_length(s) if claim_id == "ZFB-length" else s.n
        G = D.optimum_exact(Lam, sp.eye(s.d), s.n, 0)
        return {"gamma": G, "loss": D.risk_at_length_exact(Lam, sp.eye(s.d), M, 0, G)}
    if claim_id == "Wu-length":
        Sw = exact(T.prior_psi2(s)) * sp.eye(s.d)
        G = D.optimum_exact(s.Sigma_exact, Sw, s.n, s.sigma2_exact)
        return {"gamma": G, "loss": D.risk_at_length_exact(s.Sigma_exact, Sw, T.test_length(s), s.sigma2_exact, G)}
    if claim_id == "GD-average":
        return {"gamma": sp.eye(s.d), "loss": D.derive_gd_average().subs({d_sym: s.d, n_sym: s.n, s2_sym: s.sigma2_exact})}
    if claim_id == "OLS":
        noiseless, noisy = D.derive_ols()
        if s.sigma2 == 0:
            loss = noiseless.subs({d_sym: s.d, n_sym: s.n}) if s.n < s.d else sp.Integer(0)  # n ≥ d: ŵ = w
        else:
            loss = noisy.subs({d_sym: s.d, n_sym: s.n, s2_sym: s.sigma2_exact})
        return {"gamma": None, "loss": loss}
    if claim_id == "vO-uniform":
        a = exact(uniform_half_width(s.x_dist))
        mom = D.uniform_moments_exact(s.d, s.n, a, s.sigma2_exact)
        G = sp.simplify(mom.E_gg.inv() * mom.E_gw)
        return {"gamma": G, "loss": D.loss_from_moments(mom, mom.E_gw, G, s.sigma2_exact)}  # E[x xᵀ] = E[g wᵀ]
    if claim_id == "Fu-Newton":
        S = s.Sigma_exact
        alpha = 1 / (S * S).trace() if T.fu_alpha(s) is None else exact(T.fu_alpha(s))
        Mk = alpha * S
        for _ in range(s.n):  # the iteration itself, not the claimed closed form
            Mk = Mk * (2 * sp.eye(s.d) - S * Mk)
        E = sp.eye(s.d) - S * Mk
        return {"gamma": Mk, "loss": (E * E.T).trace()}
    if claim_id == "M2m":
        beta = sp.Matrix([exact(v) for v in T.m2m_beta(s)])
        G, L_gamma, L_beta, odd = D.m2m_exact(s.Sigma_exact, s.Sigma_w_exact, beta, s.n, s.sigma2_exact)
        return {"gamma": G, "loss": L_gamma, "loss_gd_beta": L_beta, "odd_terms": odd}
    raise ValueError(f"claim_id: no derivation for {claim_id!r}")


def exact_checks(claim_id: str, s: Setting) -> list[Check]:
    """Γ and the loss of ``Claim.predict`` against the exact derivation (plus M2m's gap > 0)."""
    pred = get_claim(claim_id).predict(s, exact=False)
    der = derived_exact(claim_id, s)
    where = _where(s)
    out = []
    if der["gamma"] is not None:
        G = _f(der["gamma"])
        out.append(check(claim_id, "Γ (stated) vs Γ (derived, exact)", G, pred.gamma, _rel_tol(G), EXACT_WHY, where))
    L = float(der["loss"])
    out.append(check(claim_id, "risk (stated) vs risk (derived, exact)", L, pred.loss, _rel_tol(L), EXACT_WHY, where))
    if claim_id == "M2m":
        Lb = float(der["loss_gd_beta"])
        _, _, Lb_stated = T.gamma_loss_m2m(s.Sigma, s.Sigma_w, T.m2m_beta(s), s.n, s.sigma2)
        out.append(check(claim_id, "GD-from-β loss (stated) vs derived", Lb, Lb_stated, _rel_tol(Lb), EXACT_WHY, where))
        gap = sp.nsimplify(der["loss"] - der["loss_gd_beta"])
        out.append(check(claim_id, "gap L_Γ − L_β > 0 (exact)", 0.0, float(gap), 0.0,
                         "exact sign of the derived gap; β ≠ 0 on every drawn setting", where,
                         error=0.0 if gap > 0 else 1.0))
        out.append(check(claim_id, "no odd-in-w engine terms (Γ class sees only Σ_w + ββᵀ)", 0, der["odd_terms"], 0.0,
                         "exact count", where, error=float(der["odd_terms"])))
    return out


# ---- 2. Monte Carlo -----------------------------------------------------------------------------------
def sampler_kwargs(claim_id: str, s: Setting) -> dict:
    """The claim's data law as :func:`iclgd.empirics.more.sample_general` keywords, and the prompt
    length the risk is measured at (M for the length claims)."""
    if claim_id in ("ZFB", "ZFB-length"):
        return dict(Sigma=s.Sigma, length=T.test_length(s) if claim_id == "ZFB-length" else s.n)
    if claim_id == "Wu-length":
        return dict(Sigma=s.Sigma, Sigma_w=T.prior_psi2(s) * np.eye(s.d), sigma2=s.sigma2, length=T.test_length(s))
    if claim_id in ("GD-average", "OLS"):
        return dict(sigma2=s.sigma2, length=s.n)
    if claim_id == "vO-uniform":
        return dict(x_uniform=uniform_half_width(s.x_dist), sigma2=s.sigma2, length=s.n)
    if claim_id == "M2m":
        return dict(Sigma=s.Sigma, Sigma_w=s.Sigma_w, mean=T.m2m_beta(s), sigma2=s.sigma2, length=s.n)
    raise ValueError(f"claim_id: {claim_id!r} has no Monte Carlo law")


def mc_checks(claim_id: str, s: Setting, seed: int, *, n_prompts: int = 100_000, law: dict | None = None,
              expect: str = "hold", device=None) -> list[Check]:
    """The predicted risk against the Monte Carlo risk of the predicted predictor on prompts of the
    claim's law (``law`` overrides it: refutations sample outside the assumptions)."""
    pred = get_claim(claim_id).predict(s, exact=False)
    kw = dict(sampler_kwargs(claim_id, s) if law is None else law)
    length = kw.pop("length")
    p = emp.sample_general(n_prompts, length, s.d, generator=generator(seed, device), device=device, **kw)
    if claim_id == "OLS":
        mean, se = emp.ols_loss(p)
    else:
        mean, se = emp.gamma_loss(p, torch.as_tensor(pred.gamma))
    where = _where(s, seed=seed, n_prompts=n_prompts, prompt_length=length)
    why = (f"z = {Z_MC:.2f} (two-sided, per-check α = {per_check_alpha('monte-carlo'):.0e}) × SE of the Monte Carlo "
           f"mean, N = {n_prompts}; + {FLOAT_FLOOR:.0e}·max(1, risk) for float64 rounding (a zero risk has SE 0)")
    floor = FLOAT_FLOOR * max(1.0, abs(pred.loss))
    out = [check(claim_id, "risk (Monte Carlo) vs predicted", pred.loss, mean, Z_MC * se + floor, why, where,
                 expect=expect)]
    if claim_id == "M2m" and law is None:
        beta = T.m2m_beta(s)
        Gb, Lb = T.gamma_loss_m2g(s.Sigma, s.Sigma_w, s.n, s.sigma2)
        mb, seb = emp.gd_from_beta_loss(p, beta, torch.as_tensor(Gb))
        out.append(check(claim_id, "GD-from-β risk (Monte Carlo) vs L_β", Lb, mb, Z_MC * seb, why, where))
        # the gap, paired on the same prompts: Var of the difference of the two squared errors
        out.append(check(claim_id, "gap L_Γ − L_β (Monte Carlo, both on the same prompts) > 0", 0.0, mean - mb,
                         Z_MC * math.hypot(se, seb), "one-sided: the measured gap must not be below 0 by more than "
                         "z·(SE₁ + SE₂ in quadrature; conservative for positively correlated errors)", where,
                         error=max(0.0, mb - mean)))
    return out


# ---- 3. Fu-Newton: the identity, convergence order, the transformer construction --------------------
def newton_checks(s: Setting, seed: int) -> list[Check]:
    """Float64: the closed-form residual against the iterated one; ‖E_{k+1}‖₂ = ‖E_k‖₂² (quadratic
    convergence, exact for symmetric E_k); the linear-attention stack vs the Newton iterates."""
    pred = get_claim("Fu-Newton").predict(s, exact=False)
    S = torch.as_tensor(s.Sigma)
    alpha, k, d = float(pred.eta), s.n, s.d
    Mk = emp.newton_reference(S, alpha, k)
    where = _where(s, seed=seed)
    cond = float(np.linalg.cond(s.Sigma))
    tol = 8 * (k + 1) * d * cond**2 * np.finfo(float).eps * max(1.0, float(np.abs(pred.gamma).max()))
    why = "float64 rounding of k Newton steps: 8 (k+1) d κ(S)² ε |M_k|"
    out = [check("Fu-Newton", "M_k (closed form) vs iterated", Mk.numpy(), pred.gamma, tol, why, where)]
    E = [torch.linalg.matrix_norm(torch.eye(d, dtype=S.dtype) - S @ emp.newton_reference(S, alpha, j), ord=2)
         for j in range(k + 1)]
    sq = max(abs(float(E[j + 1] - E[j] ** 2)) for j in range(k))
    out.append(check("Fu-Newton", "‖E_{j+1}‖₂ = ‖E_j‖₂² (quadratic convergence)", 0.0, sq,
                     8 * (k + 1) * d * cond**2 * np.finfo(float).eps, why, where, error=sq))
    X = torch.randn(4, 3 * d + 2, d, dtype=torch.float64, generator=generator(seed))  # (B, n, d) in-context data
    Sx = X.mT @ X / X.shape[1]  # (B, d, d)
    ax = float(1 / (Sx @ Sx).diagonal(dim1=-2, dim2=-1).sum(-1).max())
    U = emp.newton_transformer(X, ax, k)  # (B, n, d)
    ref = X @ emp.newton_reference(Sx, ax, k)
    condx = float(torch.linalg.cond(Sx).max())
    tol_t = 16 * (k + 1) * X.shape[1] * d * condx**2 * np.finfo(float).eps * max(1.0, float(ref.abs().max()))
    out.append(check("Fu-Newton", "linear-attention stack (one layer per Newton step) vs M_k x_j", ref.numpy(), U.numpy(),
                     tol_t, "float64 rounding: 16 (k+1) n d κ(S)² ε |M_k x|", where))
    return out


# ---- 4. cross-claim identities and orderings ---------------------------------------------------------
def m2g_special_case_checks(claim_id: str, s: Setting) -> list[Check]:
    """ZFB = M2g at Σ = Λ, Σ_w = I, σ² = 0; Wu-length's Γ_N* = M2g at Σ = H, Σ_w = ψ² I."""
    G = get_claim(claim_id).predict(s, exact=False).gamma
    Sw = None if claim_id == "ZFB" else T.prior_psi2(s) * np.eye(s.d)
    m2g = get_claim("M2g").predict(Setting(s.d, s.n, s.sigma2, cov=s.cov, cov_w=Sw), exact=False)
    tol = 1e-9 * max(1.0, float(np.abs(G).max()))
    return [check(claim_id, "Γ = M2g special case", m2g.gamma, G, tol,
                  "two float64 evaluations (inverse vs eigendecomposition), κ ≤ 1e3: relative 1e-9", _where(s))]


def sheet_wu_risk_general_gamma(s: Setting, Gamma: np.ndarray) -> tuple[float, float]:
    """(the sheet's R_M(Γ), the engine's L_M(Γ) for ŷ = gᵀΓx_q), exact rationals, for any Γ."""
    H, psi2 = s.Sigma_exact, exact(T.prior_psi2(s))
    Ge = sp.Matrix([[exact(v) for v in row] for row in Gamma])
    stated = T.risk_wu(H, psi2, s.sigma2_exact, T.test_length(s), Ge)
    derived = D.risk_at_length_exact(H, psi2 * sp.eye(s.d), T.test_length(s), s.sigma2_exact, Ge)
    return float(stated), float(derived)
