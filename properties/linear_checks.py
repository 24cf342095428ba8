"""Checks the linear-regression claims' Specs share (properties/papers): a closed form against an exact
derived value, the Monte Carlo risk of a predictor under the replicate rule, and the Monte Carlo
confirmation of a refutation.

Tolerances:
- exact: the float64 prediction against the exact rational derived value, relative 1e-9
  (:func:`iclgd.properties.spec.relative_tolerance`): the closed forms invert matrices of condition ≤ 1e3
  in float64, relative error ≲ 1e3·d·2⁻⁵² < 1e-11, so 1e-9 leaves a factor ≥ 100;
- Monte Carlo risk (:func:`risk_check`): :func:`iclgd.properties.spec.monte_carlo_mean_check` — the
  replicate rule of :mod:`iclgd.properties.closed_form` (|z| ≤ 3.89 per replicate, refuted only if all
  replicates exceed it);
- refutation confirmations (:func:`confirm_check`): one replicate at z = the two-sided quantile at the
  per-check level of the run budget (≈ 5.6); their effects are large, and a miss there is a missed
  refutation, not a false ``refuted``.
"""
from __future__ import annotations

import numpy as np
import sympy as sp
import torch

from iclgd.empirics import predictors as emp
from iclgd.empirics.sampling import generator
from iclgd.theory import Setting

from .checks import Check, check, make_check
from .spec import monte_carlo_mean_check, relative_tolerance
from .stats import per_check_alpha, z_crit

Z_MC = z_crit(1, per_check_alpha("monte-carlo"))  # ≈ 5.6
EXACT_WHY = "float64 evaluation of the stated formula vs the exact derived rational: relative 1e-9 (≥ 100× rounding)"
REFUTE_WHY = "the claim's formula applied outside its assumption vs the derivation (float64, relative 1e-9)"
MC_PROMPTS = 40_000  # per replicate: ≈ 0.1–0.3 s at d ≤ 3, n ≤ 12


def to_float(m) -> np.ndarray:
    """A SymPy matrix (or number) as a float64 array."""
    return np.array(sp.Matrix(m).evalf(30).tolist(), dtype=float) if isinstance(m, sp.MatrixBase) else float(m)


def exact_checks(claim: str, s: Setting, pred, *, gamma=None, loss=None, values: dict | None = None) -> list[Check]:
    """Γ, the loss and named ``values`` of ``pred`` (from ``Claim.predict``) against exact derived ones."""
    out, where = [], s.to_json()
    if gamma is not None:
        G = to_float(gamma)
        out.append(check(claim, "Γ (stated) vs Γ (derived, exact)", G, pred.gamma, relative_tolerance(G), EXACT_WHY,
                         where))
    if loss is not None:
        L = float(loss)
        out.append(check(claim, "risk (stated) vs risk (derived, exact)", L, pred.loss, relative_tolerance(L),
                         EXACT_WHY, where))
    for key, v in (values or {}).items():
        v = float(v)
        out.append(check(claim, f"{key} (stated) vs derived (exact)", v, pred.values[key], relative_tolerance(v),
                         EXACT_WHY, where))
    return out


def sample(s: Setting, law: dict, length: int, n_prompts: int, seed: int):
    return emp.sample_general(n_prompts, length, s.d, generator=generator(seed), **law)


def risk_check(claim: str, quantity: str, predicted: float, s: Setting, seed: int, law: dict, length: int,
               predictor, *, n_prompts: int = MC_PROMPTS, expect: str = "hold") -> Check:
    """Recorded: ``predicted`` against the Monte Carlo risk of ``predictor(prompts) -> (mean, SE)`` on
    prompts of ``law`` (sample_general keywords) and ``length`` demonstrations, under the replicate rule."""
    def replicate(j):
        return predictor(sample(s, law, length, n_prompts, seed + 7919 * j))

    where = {**s.to_json(), "seed": seed, "n_prompts": n_prompts, "prompt_length": length}
    return monte_carlo_mean_check(claim, quantity, predicted, replicate, where, expect=expect)


def gamma_risk(gamma):
    """The Γ-predictor gᵀΓx_q as a ``predictor`` of :func:`risk_check`."""
    return lambda p: emp.gamma_loss(p, torch.as_tensor(gamma))


def refute(claim: str, quantity: str, s: Setting, stated, derived, **extra) -> Check:
    """Unrecorded (a refutation's trial): the stated value outside the assumption vs the derived one,
    relative 1e-9; expect="refute"."""
    p, m = np.asarray(stated, float), np.asarray(derived, float)
    return make_check(claim, quantity, p, m, relative_tolerance(m), REFUTE_WHY, {**s.to_json(), **extra},
                      error=float(np.abs(p - m).max()), expect="refute")


def confirm_check(claim: str, quantity: str, predicted: float, mean: float, se: float, s: Setting, seed: int,
                  n_prompts: int, **extra) -> Check:
    """Recorded Monte Carlo confirmation of a refutation: |mean − predicted| > z·SE, z ≈ 5.6."""
    return check(claim, quantity, predicted, mean, Z_MC * se, f"z = {Z_MC:.2f} × SE of the Monte Carlo mean, "
                 f"N = {n_prompts}", {**s.to_json(), "seed": seed, "n_prompts": n_prompts, **extra}, expect="refute")


def lsa_relaxation(s: Setting, law: dict, gamma, seed: int, *, n_prompts: int = 200_000, chunk: int = 50_000,
                   n_test: int = 200_000):
    """Least squares of y_q on all LSA features (:mod:`iclgd.empirics.relaxation`) on prompts of ``law``, then on
    fresh prompts the paired held-out difference of squared errors of the fitted LSA predictor and of the
    Γ-predictor ``gamma``. Returns (fit, mean difference, its SE, where): the fitted predictor's held-out risk
    is an unbiased estimate of a risk ≥ the LSA optimum, so a difference below 0 beyond z·SE shows that the LSA
    optimum lies below the Γ-predictor."""
    from iclgd.empirics import relaxation

    def chunk_of(k):
        return emp.sample_general(chunk, s.n, s.d, generator=generator(seed * 1009 + k), **law)

    fit = relaxation.fit(chunk_of, max(1, n_prompts // chunk))
    coef = torch.cat([fit.gamma.flatten(), fit.nuisance])
    test = emp.sample_general(n_test, s.n, s.d, generator=generator(seed ^ 0x5EED), **law)
    F = relaxation.lsa_features(test)  # (N, K)
    yq = test.y[:, -1]
    diff = (yq - F @ coef) ** 2 - (yq - F[:, : s.d**2] @ torch.as_tensor(gamma).flatten()) ** 2  # (N,)
    where = {**s.to_json(), "seed": seed, "n_prompts": fit.n_prompts, "n_test": n_test,
             "lsa_risk": float(((yq - F @ coef) ** 2).mean())}
    return fit, float(diff.mean()), float(diff.std() / len(diff) ** 0.5), where
