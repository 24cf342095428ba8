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
from ..spec import FalseAlarmCorner, Refutation, Spec, TrainedHooks, register_spec
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


def _haar_sigma(d: int, seed: int = 0) -> list:
    """U diag(geomspace(1, 10, d)) Uᵀ with U Haar from ``seed``: a rotated Σ of condition number 10."""
    rng = np.random.default_rng(seed)
    Q, R = np.linalg.qr(rng.standard_normal((d, d)))
    U = Q * np.sign(np.diag(R))
    S = (U * np.geomspace(1, 10, d)) @ U.T
    return ((S + S.T) / 2).tolist()


# the training benchmark's cases (bench/time_to_target.py): `iclgd train --claim M1 --d 5 --n 20 --sigma2 0.5`,
# and M2 at d = 8, n = 32 with a rotated Σ of condition number 10
BENCHMARKS = {"M1": (("d5-n20", Setting(5, 20, 0.5)),),
              "M2": (("d8-n32-cond10", Setting(8, 32, 0.5, cov=_haar_sigma(8))),)}


def _trained(claim: str) -> TrainedHooks:
    """The law through the one law mapping; L(Γ) exact from the derived moments (theory.derivation)."""
    return TrainedHooks(law=lambda s: sampler_args(claim, s),
                        exact_loss=lambda s, G: population_loss(data_law(claim, s), G),
                        benchmarks=BENCHMARKS.get(claim, ()))


# ---- where the Monte Carlo checks' single-replicate false-alarm rates and the families' power are measured --
def _kappa10(S) -> list:
    """S with its spectrum rescaled to exactly [1, 10] (the strategies' largest condition number)."""
    lam, U = np.linalg.eigh(np.asarray(S, float))
    lam = 10 ** ((lam - lam[0]) / (lam[-1] - lam[0]))
    return ((U * lam) @ U.T).round(12).tolist()


SIGMA3 = _kappa10([[1.75, 0.95, -0.6], [0.95, 3.0, -1.9], [-0.6, -1.9, 1.75]])  # a rotated Σ, κ = 10
SIGMA2 = [[5.5, 4.5], [4.5, 5.5]]  # eigenvalues 1 and 10, rotated 45°
PRIOR2 = [[1.0, 0.0], [0.0, 5.0]]


def general_optimum_checks(s: Setting, seed: int):
    """The relaxation against the general optimum M⁻¹P on a non-invariant family (the hold check of
    tests/cover/test_mahankali.py, which M3's refutation relies on)."""
    return cf.relaxation_checks("M3", s, seed, expect_gamma=cf.isotropy_misfit(s)[1], law_of=None, max_rel_se=0.1)


_general = "the general optimum M⁻¹P on a non-invariant family (tests/cover/test_mahankali.py)"
# the corners: the smallest n and d, σ² = 0, the largest κ and noise, the largest d the relaxation tests reach
FALSE_ALARM = {
    "M1": tuple(FalseAlarmCorner(Setting(d, n, s2)) for d, n, s2 in
                ((1, 1, 0.0), (2, 1, 0.0), (3, 1, 0.0), (4, 1, 0.0), (1, 1, 2.0), (3, 12, 0.0), (1, 12, 2.0))),
    "M2": (FalseAlarmCorner(Setting(3, 1, 0.0, cov=SIGMA3)), FalseAlarmCorner(Setting(2, 1, 0.0, cov=SIGMA2))),
    "M2g": (FalseAlarmCorner(Setting(2, 1, 0.0, cov=SIGMA2, cov_w=PRIOR2)),),
    "M3": tuple(FalseAlarmCorner(Setting(d, 1, 0.0, target=f)) for d, f in
                ((1, "relu"), (1, "relu-sum:4"), (1, "tanh"), (4, "relu-sum:4")))
    + (FalseAlarmCorner(Setting(2, 1, 0.0, target="relu-aniso:0.0,0.5"), general_optimum_checks, _general),
       FalseAlarmCorner(Setting(3, 1, 0.0, target="relu-aniso:0.0,0.0,2.0"), general_optimum_checks, _general)),
}
POWER_SETTINGS = {
    "M1": (Setting(1, 1, 0.0), Setting(2, 4, 0.5), Setting(3, 12, 0.0)),
    "M2": (Setting(3, 1, 0.0, cov=SIGMA3), Setting(2, 6, 0.5, cov=SIGMA2)),
    "M2g": (Setting(2, 1, 0.0, cov=SIGMA2, cov_w=PRIOR2),
            Setting(3, 8, 1.0, cov=SIGMA3, cov_w=[[2.0, 0, 0], [0, 1.0, 0], [0, 0, 0.5]])),
    "M3": (Setting(1, 1, 0.0, target="relu"), Setting(3, 8, 0.5, target="tanh"),
           Setting(2, 4, 0.0, target="relu-sum:3")),
}

for _claim in ("M1", "M2", "M2g", "M3"):
    register_spec(Spec(claim=_claim, settings=_settings(_claim), exact=_exact(_claim), monte_carlo=_monte_carlo(_claim),
                       refutations=REFUTATIONS.get(_claim, ()), trained=_trained(_claim),
                       false_alarm=FALSE_ALARM[_claim], power_settings=POWER_SETTINGS[_claim]))
