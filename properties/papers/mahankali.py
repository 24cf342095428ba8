"""Specs of Mahankali, Hashimoto & Ma (ICLR 2024): M1, M2, M2g (theory/lsa.py) and M3 (theory/nonlinear.py),
wrapping the checks of :mod:`iclgd.properties.closed_form`.

Exact: ∇L(Γ*) = 0, L(Γ*) = L*, and the second-order expansion at Γ* + Δ, on the loss built from moments
computed independently of the closed form (the Isserlis engine; M3's nonlinear families by x-conditioned
quadrature). Monte Carlo: the all-LSA-feature relaxation recovers Γ* with zero nuisance, the Monte Carlo
loss of Γ* is L*, and L* ≥ ridge's Bayes risk (linear targets), each under the replicate rule.
Refutations: M2's Γ* ∝ Σ⁻¹ whatever the prior (drop w ~ N(0, Σ⁻¹)); M3's Γ* ∝ I without rotation
invariance of the target family (tests/cover/test_mahankali_refutations.py pins the minimal cases)."""
from __future__ import annotations

import numpy as np
import sympy as sp
from hypothesis import strategies as st

from iclgd.theory import Setting
from iclgd.theory.derivation import exact_optimum, population_loss

from .. import closed_form as cf
from ..checks import check, make_check
from ..laws import data_law, sampler_args
from ..spec import Refutation, Spec, TrainedHooks, register_spec
from ..strategies import context_lengths, dims, noise_levels, priors, spd_matrices, targets

FLOAT_TOL = 1e-9  # Γ* by float64 eigendecompositions: entry errors ≲ κ(Σ)²·1e-15 ≤ 1e-13 for κ ≤ 10


def _settings(claim: str):
    @st.composite
    def settings(draw, max_d=None, max_n=None, mc=False):
        if mc:  # Monte Carlo: ≈ 1 s per setting at these sizes
            max_d, max_n = min(max_d or 3, 3), min(max_n or 12, 12)
        d = draw(dims(max_d), label="d")
        n = draw(context_lengths(max_n), label="n")
        sigma2 = draw(noise_levels(), label="σ²")
        if claim == "M1":
            return Setting(d, n, sigma2)
        if claim == "M2":
            return Setting(d, n, sigma2, cov=draw(spd_matrices(d), label="Σ"))
        if claim == "M2g":
            Sigma = draw(spd_matrices(d), label="Σ")
            return Setting(d, n, sigma2, cov=Sigma, cov_w=draw(priors(Sigma), label="prior")[1])
        return Setting(d, n, sigma2, target=draw(targets(d, True), label="target"))
    return settings


def _exact(claim: str):
    def run(s: Setting):
        """Optimality at a Δ fixed by (d, n): ±0.1-scaled integer entries, never 0 (the tests draw Δ too)."""
        D = np.random.default_rng([s.d, s.n]).integers(1, 11, (s.d, s.d)) * np.where(np.eye(s.d) > 0, 1, -1) / 100
        return cf.optimality_checks(claim, s, D)
    return run


def _monte_carlo(claim: str):
    def run(s: Setting, seed: int):
        return cf.relaxation_checks(claim, s, seed) + cf.loss_checks(claim, s, seed)
    return run


# ---- refutations -------------------------------------------------------------------------------
@st.composite
def identity_prior_settings(draw):
    d = draw(dims(), label="d")
    return Setting(d, draw(context_lengths(), label="n"), draw(noise_levels(), label="σ²"),
                   cov=draw(spd_matrices(d, 10.0), label="Σ"), cov_w=None)


def inverse_sigma_exact(s: Setting):
    G, _ = cf.gamma_loss_m2g(s.Sigma, s.Sigma_w, s.n, s.sigma2)
    return make_check("M2", "Γ* ∝ Σ⁻¹ whatever the prior (over-generalisation of Thm 2)", np.linalg.inv(s.Sigma), G,
                      FLOAT_TOL, "relative misfit min_η ‖Γ* − ηΣ⁻¹‖/‖Γ*‖; float64 eigh error ≤ 1e-13", s.to_json(),
                      error=cf.inverse_sigma_misfit(s), expect="refute")


def inverse_sigma_confirm(s: Setting, seed: int):
    """Exact rationals: the engine's optimum Γ* satisfies Γ*Σ ∉ span{I}."""
    R = exact_optimum(s.Sigma_exact, sp.eye(s.d), s.n, s.sigma2_exact).gamma * s.Sigma_exact
    off = float(max(abs(v) for v in (R - R[0, 0] * sp.eye(s.d))))
    return check("M2", "Γ*Σ = η I for the prior N(0, I) (exact rational optimum)", 0.0, off, 0.0,
                 "exact: any non-zero entry of Γ*Σ − (Γ*Σ)₁₁ I", s.to_json(), error=off, expect="refute")


@st.composite
def non_invariant_settings(draw):
    d = draw(st.integers(2, max(2, cf.scale_d())), label="d")
    return Setting(d, draw(context_lengths(), label="n"), draw(noise_levels(), label="σ²"),
                   target=draw(targets(d, False), label="target"))


def isotropy_exact(s: Setting):
    claimed, general, rel = cf.isotropy_misfit(s)
    return make_check("M3", "Γ* ∝ I without rotation invariance (exact general optimum)", claimed, general, FLOAT_TOL,
                      "relative Frobenius error of η I against the exact M⁻¹P (float conversion)", s.to_json(),
                      error=rel, expect="refute")


def isotropy_confirm(s: Setting, seed: int):
    """The all-LSA-feature relaxation on the non-invariant law measures Γ* ≠ η I (replicate rule)."""
    claimed, _, _ = cf.isotropy_misfit(s)
    return cf.relaxation_checks("M3", s, seed, expect_gamma=claimed, law_of=None, max_rel_se=0.1, expect="refute")[0]


REFUTATIONS = {
    "M2": (Refutation("Γ* ∝ Σ⁻¹ whatever the prior", "w ~ N(0, Σ⁻¹): with w ~ N(0, I) Γ* = M2g's, not ηΣ⁻¹",
                      identity_prior_settings, inverse_sigma_exact, inverse_sigma_confirm),),
    "M3": (Refutation("Γ* ∝ I for any target family", "rotation invariance of f (Assumption 1): the general optimum "
                      "M⁻¹P is not a multiple of I", non_invariant_settings, isotropy_exact, isotropy_confirm),),
}


def _trained(claim: str) -> TrainedHooks:
    """The law through the one law mapping; L(Γ) exact from the derived moments (theory.derivation)."""
    return TrainedHooks(law=lambda s: sampler_args(claim, s),
                        exact_loss=lambda s, G: population_loss(data_law(claim, s), G))


for _claim in ("M1", "M2", "M2g", "M3"):
    register_spec(Spec(claim=_claim, settings=_settings(_claim), exact=_exact(_claim), monte_carlo=_monte_carlo(_claim),
                       refutations=REFUTATIONS.get(_claim, ()), trained=_trained(_claim)))
