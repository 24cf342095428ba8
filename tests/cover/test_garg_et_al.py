"""GD-average and OLS beyond the generic Spec drivers: the risks against the derivations for symbolic
n, d; GD-average as M1's loss at Γ = I; ridge ≤ OLS and ridge ≤ L* ≤ GD-average; and that neither OLS nor
one-step GD dominates (plumbing: a comparison of two closed forms, not a claim)."""
import math

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import find, given, settings
from hypothesis import strategies as st

from iclgd.empirics.relaxation import ridge_bayes_risk
from iclgd.empirics.sampling import generator, sample_prompts
from iclgd.properties import closed_form as cf
from iclgd.properties.checks import check, make_check
from iclgd.properties.papers.garg_et_al import ols_settings
from iclgd.properties.profile import scale
from iclgd.properties.spec import relative_tolerance
from iclgd.properties.strategies import seeds, settings_for
from iclgd.theory import Setting, get_claim
from iclgd.theory import derivations_linear as D
from iclgd.theory.derivation import d_sym, n_sym, population_loss, s2_sym
from iclgd.theory.lsa import loss_m1
from iclgd.theory.papers.garg_et_al import risk_gd_average, risk_ols

MC_EXAMPLES = max(2, scale().max_examples // 10)


@pytest.mark.claim("GD-average")
def test_gd_average_is_the_m1_loss_at_identity_symbolic():
    derived = D.derive_gd_average()
    assert sp.simplify(derived - risk_gd_average(n_sym, d_sym, s2_sym)) == 0
    assert sp.simplify(derived - risk_gd_average(d_sym, n_sym, s2_sym)) != 0  # n ↔ d swapped is told apart


@pytest.mark.claim("OLS")
def test_ols_risks_against_the_derivations():
    """Noisy: σ²(1 + d/(n−d−1)) from E[1/χ²_{n−d+1}] = 1/(n−d−1), d, n symbolic (n ↔ d swapped is told apart);
    noiseless: ψ² tr(I − X⁺X) on a Gaussian instance, exact, on a grid of (d, n) with n < d and n ≥ d."""
    noisy = D.derive_ols_noisy()
    assert sp.simplify(noisy - s2_sym * (1 + d_sym / (n_sym - d_sym - 1))) == 0
    assert sp.simplify(noisy - s2_sym * (1 + n_sym / (d_sym - n_sym - 1))) != 0
    for dd in range(1, 6):
        for nn in range(1, 9):
            assert D.ols_noiseless_instance(dd, nn) == risk_ols(nn, dd, 0), (dd, nn)


@pytest.mark.claim("GD-average")
@given(s=settings_for("GD-average"))
def test_gd_average_is_m1_loss_at_identity(s):
    """GD-average's risk against the *derived* M1 population loss L(Γ = I) (theory.derivation)."""
    pred = get_claim("GD-average").predict(s, exact=False)
    L = population_loss(Setting(s.d, s.n, s.sigma2), np.eye(s.d))
    c = check("GD-average", "risk = M1 loss L(Γ = I) (derived moments)", L, pred.loss, relative_tolerance(L),
              "two float64 evaluations of a rational function: relative 1e-9", s.to_json())
    assert c.holds, c.summary()


@pytest.mark.claim("OLS", "GD-average")
@settings(max_examples=MC_EXAMPLES)
@given(data=st.data(), seed=seeds())
def test_risk_ordering_ridge_below_ols_and_one_step_gd_below_averaging(data, seed):
    """Bayes (ridge) risk ≤ OLS and ≤ L* (one-step GD at its optimal step) ≤ GD-average, for x, w ~ N(0, I).
    Ridge by Monte Carlo, one-sided under the replicate rule (z ≤ 3.72 per replicate, refuted only if every
    replicate exceeds it); L* ≤ GD-average is exact."""
    s = data.draw(settings_for("OLS", max_d=3, max_n=10), label="setting")
    ols = get_claim("OLS").predict(s, exact=False).loss
    avg = get_claim("GD-average").predict(s, exact=False).loss
    one_step = loss_m1(s.n, s.d, s.sigma2)

    def single(j):
        p = sample_prompts(20_000, s.n, s.d, generator=generator(seed + 7919 * j), sigma2=s.sigma2)
        risk, se = ridge_bayes_risk(p, torch.eye(s.d, dtype=torch.float64), s.sigma2)
        return (max(0.0, risk - ols) / se, max(0.0, risk - one_step) / se), (risk, se)

    (z_ols, z_gd), (risk, se), used = cf._replicated(single, (cf.RIDGE_Z, cf.RIDGE_Z), cf.REPLICATES)
    why = f"one-sided: (ridge − bound)⁺ / SE ≤ {cf.RIDGE_Z:.2f}, " + cf.replicate_rule(cf.REPLICATES)
    where = {**s.to_json(), "seed": seed, "replicates_run": used, "ridge_risk": risk, "se": se}
    checks = [check("OLS", "ridge (Bayes) ≤ OLS", ols, risk, cf.RIDGE_Z, why, where, error=z_ols),
              check("GD-average", "ridge (Bayes) ≤ L* (Monte Carlo)", one_step, risk, cf.RIDGE_Z, why, where, error=z_gd),
              check("GD-average", "L* ≤ GD-average (exact: n + d + 1 + σ² > n)", avg, one_step, 0.0, "exact inequality",
                    where, error=max(0.0, one_step - avg))]
    assert all(c.holds for c in checks), [c.summary() for c in checks if not c.holds]


@pytest.mark.parametrize("direction", ["OLS ≤ one-step GD", "one-step GD ≤ OLS"])
def test_neither_ols_nor_one_step_gd_dominates(direction):
    """Plumbing (no claim): Hypothesis finds and shrinks a setting against 'OLS is never worse than L*' and
    against its converse (closed forms on both sides)."""
    sign = 1 if direction == "OLS ≤ one-step GD" else -1

    def gap(s):
        return sign * (get_claim("OLS").predict(s, exact=False).loss - loss_m1(s.n, s.d, s.sigma2))

    s = find(settings_for("OLS", max_d=4, max_n=12), lambda s: gap(s) > 0,
             settings=settings(max_examples=200, database=None, derandomize=True))
    c = make_check("OLS", f"{direction} always", 0.0, gap(s), 0.0, "exact: the closed forms differ in sign",
                   s.to_json(), error=gap(s), expect="refute")
    assert not c.holds and math.isfinite(c.error)


@given(data=st.data())
def test_ols_monte_carlo_settings_have_finite_fourth_moments(data):
    """Meta-test of the strategy: Monte Carlo settings of OLS with noise have n ≥ d + 4."""
    s = data.draw(ols_settings(mc=True), label="setting")
    assert s.sigma2 == 0 or s.n >= s.d + 4
