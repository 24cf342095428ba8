"""Issue 13 refutations and mutations.

Refutations: for each claim, drop one assumption; Hypothesis must find — and shrink — a setting
where the claim's formula fails against the exact derivation, and the minimal counterexample is
confirmed by an independent Monte Carlo measurement (both logged as expect="refute" under the claim).
The search ranges keep the effect above the Monte Carlo's resolution (noise σ² ≥ 0.5, |β| ≥ 1, …),
so the confirmation has power.

Mutations (plumbing, no claim marker — their failing checks are about a deliberately broken claim,
not evidence): ``ICLGD_PERTURB=ID:0.02`` scales a claim's Γ*, η and risk by 1.02 through
``Claim.predict``; the exact checks must fail.
"""
import numpy as np
import pytest
from hypothesis import find, settings
from hypothesis import strategies as st

from iclgd.properties import more_claims as P
from iclgd.properties.more_strategies import MORE_CLAIMS, half_widths, prior_scales, rational_spd, rounded_spd, settings_more
from iclgd.properties.strategies import noise_levels, priors
from iclgd.theory import Setting

SEARCH = settings(max_examples=100, database=None, derandomize=True)  # the same search and minimal case in every profile
RESOLVABLE_NOISE = st.sampled_from([1.0, 2.0, 4.0])
GAP = 1e-6  # a search accepts a float64 relative gap above this (rounding ≲ 1e-12)


@st.composite
def noisy_zfb(draw, length: bool):
    s = draw(settings_more("ZFB-length" if length else "ZFB", max_d=3, max_n=8))
    return s.replace(sigma2=draw(RESOLVABLE_NOISE, label="σ² (dropped: σ² = 0)"))


@st.composite
def wu_with_general_gamma(draw):
    s = draw(settings_more("Wu-length", max_d=3, max_n=8).filter(lambda s: s.d >= 2))
    G = np.array(draw(st.lists(st.integers(-2, 2), min_size=s.d**2, max_size=s.d**2), label="Γ")).reshape(s.d, s.d)
    return s, G


@st.composite
def anisotropic_gd_average(draw):
    d = draw(st.integers(1, 3), label="d")
    S = draw(rounded_spd(d).filter(lambda S: not np.array_equal(S, np.eye(d))), label="Σ (dropped: Σ = I)")
    return Setting(d, draw(st.integers(1, 10), label="n"), draw(noise_levels(), label="σ²"), cov=S)


@st.composite
def ols_scaled_prior(draw):
    d = draw(st.integers(2, 4), label="d")
    return Setting(d, draw(st.integers(1, d - 1), label="n"), 0.0,
                   prior_scale=draw(st.sampled_from([0.25, 4.0]), label="ψ² (dropped: ψ² = 1)"))


@st.composite
def fu_divergent(draw):
    d = draw(st.integers(1, 3), label="d")
    S = draw(rational_spd(d), label="S")
    c = draw(st.sampled_from([2.5, 3.0, 4.0]), label="α λ_max² (dropped: < 2)")
    return Setting(d, draw(st.integers(1, 4), label="k"), cov=S), c / float(np.linalg.eigvalsh(S)[-1]) ** 2


@st.composite
def m2m_large_mean(draw):
    s = draw(settings_more("M2m", max_d=3, max_n=8))
    beta = draw(st.lists(st.sampled_from([0, 1, -1, 2]), min_size=s.d, max_size=s.d).filter(any), label="β")
    return s.replace(mean=[float(b) for b in beta])


@pytest.mark.claim("ZFB")
def test_zfb_with_label_noise_is_refuted():
    s = find(noisy_zfb(False), lambda s: P.refutation_gap("ZFB", s) > GAP, settings=SEARCH)
    exact, mc = P.refutation_exact("ZFB", s), P.refutation_mc("ZFB", s, seed=0, n_prompts=200_000)
    assert not exact.holds and not mc.holds and (s.d, s.n) == (1, 1), (exact.summary(), mc.summary())


@pytest.mark.claim("ZFB-length")
def test_zfb_length_formula_with_label_noise_is_refuted():
    s = find(noisy_zfb(True), lambda s: P.refutation_gap("ZFB-length", s) > GAP, settings=SEARCH)
    exact, mc = P.refutation_exact("ZFB-length", s), P.refutation_mc("ZFB-length", s, seed=0)
    assert not exact.holds and not mc.holds and s.d == 1, (exact.summary(), mc.summary())


@pytest.mark.claim("Wu-length")
def test_sheet_wu_risk_in_the_g_gamma_x_convention_is_refuted():
    """Finding: the sheet's R_M(Γ) is the risk of ŷ = x_qᵀΓg; for the project's ŷ = gᵀΓx_q it fails on
    non-symmetric Γ (it holds with Γ → Γᵀ, exactly, and on the symmetric Γ_N*)."""
    s, G = find(wu_with_general_gamma(), lambda sg: P.refutation_gap("Wu-length", sg[0], gamma=sg[1]) > GAP, settings=SEARCH)
    exact = P.refutation_exact("Wu-length", s, gamma=G)
    mc = P.refutation_mc("Wu-length", s, seed=0, gamma=G)
    assert not exact.holds and not mc.holds and s.d == 2, (exact.summary(), mc.summary())
    stated_t, _ = P.sheet_wu_risk_general_gamma(s, G.T)
    _, derived = P.sheet_wu_risk_general_gamma(s, G)
    fixed = P.check("Wu-length", "sheet's R_M(Γᵀ) = risk of gᵀΓx_q (the convention fixed)", derived, stated_t,
                    P._rel_tol(derived), P.EXACT_WHY, {**s.to_json(), "gamma": G.tolist()})
    assert fixed.holds, fixed.summary()


@pytest.mark.claim("GD-average")
def test_gd_average_for_anisotropic_x_is_refuted():
    s = find(anisotropic_gd_average(), lambda s: P.refutation_gap("GD-average", s) > GAP,
             settings=SEARCH)
    exact, mc = P.refutation_exact("GD-average", s), P.refutation_mc("GD-average", s, seed=0)
    assert not exact.holds and not mc.holds and s.d == 1, (exact.summary(), mc.summary())


@pytest.mark.claim("OLS")
def test_ols_risk_with_a_scaled_prior_is_refuted():
    s = find(ols_scaled_prior(), lambda s: not P.refutation_exact("OLS", s, log=False).holds, settings=SEARCH)
    exact, mc = P.refutation_exact("OLS", s), P.refutation_mc("OLS", s, seed=0)
    assert not exact.holds and not mc.holds and (s.d, s.n) == (2, 1), (exact.summary(), mc.summary())


@pytest.mark.claim("vO-uniform")
def test_gaussian_step_for_uniform_x_is_refuted():
    """Isserlis does not apply: M1's step at the same covariance is not optimal for U(−a, a) data."""
    s = find(settings_more("vO-uniform", max_d=3, max_n=8),
             lambda s: not P.refutation_exact("vO-uniform", s, log=False).holds, settings=SEARCH)
    exact, mc = P.refutation_exact("vO-uniform", s), P.refutation_mc("vO-uniform", s, seed=0)
    assert not exact.holds and not mc.holds and (s.d, s.n) == (1, 1), (exact.summary(), mc.summary())


@pytest.mark.claim("Fu-Newton")
def test_newton_without_the_step_condition_diverges():
    s, alpha = find(fu_divergent(), lambda sa: not P.refutation_exact("Fu-Newton", sa[0], log=False,
                                                                      alpha=sa[1]).holds, settings=SEARCH)
    c = P.refutation_exact("Fu-Newton", s, alpha=alpha)
    assert not c.holds and (s.d, s.n) == (1, 1), c.summary()


@pytest.mark.claim("M2m")
def test_beta_does_not_matter_is_refuted():
    s = find(m2m_large_mean(), lambda s: P.refutation_gap("M2m", s) > GAP, settings=SEARCH)
    exact, mc = P.refutation_exact("M2m", s), P.refutation_mc("M2m", s, seed=0)
    assert not exact.holds and not mc.holds and s.d == 1, (exact.summary(), mc.summary())


# ---- mutations: a 2% change of each closed form is caught by its exact checks --------------------
PINNED = {
    "ZFB": Setting(2, 5, cov=[[2.0, 0.5], [0.5, 1.0]]),
    "ZFB-length": Setting(2, 5, cov=[[2.0, 0.5], [0.5, 1.0]], test_n=20),
    "Wu-length": Setting(2, 5, 0.5, cov=[[2.0, 0.5], [0.5, 1.0]], prior_scale=2.0, test_n=9),
    "GD-average": Setting(3, 7, 0.5),
    "OLS": Setting(3, 8, 0.5),
    "vO-uniform": Setting(3, 7, 0.25, x_dist="uniform:1.5"),
    "Fu-Newton": Setting(2, 3, cov=[[2.0, 1.0], [1.0, 2.0]]),
    "M2m": Setting(2, 5, 0.5, cov=[[2.0, 0.5], [0.5, 1.0]], mean=[1.0, -1.0]),
}


@pytest.mark.parametrize("claim", MORE_CLAIMS)
def test_mutation_is_killed(claim, monkeypatch):
    s = PINNED[claim]
    assert all(c.holds for c in P.exact_checks(claim, s))  # the unmutated claim passes here
    monkeypatch.setenv("ICLGD_PERTURB", f"{claim}:0.02")
    assert not all(c.holds for c in P.exact_checks(claim, s))
