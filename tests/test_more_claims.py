"""The eight claims of shared/CLAIMS_MORE.md: symbolic derivations vs the stated formulas, exact and
Monte Carlo checks on Hypothesis settings, cross-claim identities, refutations of dropped
assumptions (found and shrunk by Hypothesis, confirmed independently), and killed mutations."""
import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import find, given, settings
from hypothesis import strategies as st

from iclgd.empirics import more as emp
from iclgd.empirics.relaxation import ridge_bayes_risk
from iclgd.empirics.sampling import generator, sample_prompts
from iclgd.properties import more_claims as P
from iclgd.properties.checks import check
from iclgd.properties.more_strategies import MORE_CLAIMS, settings_more
from iclgd.properties.profile import scale
from iclgd.properties.strategies import seeds
from iclgd.theory import Setting, get_claim
from iclgd.theory import more as T
from iclgd.theory import more_derivation as D
from iclgd.theory.derivation import d_sym, n_sym, population_loss, s2_sym
from iclgd.theory.lsa import gamma_loss_m2g_exact, loss_m1

N, M = sp.symbols("N M", positive=True, integer=True)
l1, l2 = sp.symbols("l1 l2", positive=True)
psi2, lam, t = D.psi2_sym, D.lam_sym, D.t_sym
EXACT_EXAMPLES = max(4, scale().max_examples // 4)
MC_EXAMPLES = max(2, scale().max_examples // 10)
SEARCH = settings(max_examples=200, database=None, derandomize=True)  # the same search and minimal case in every profile


# ---- symbolic: the stated formulas against the derivations ------------------------------------
@pytest.mark.claim("ZFB")
def test_zfb_gradient_flow_limit_is_the_derived_optimum_for_symbolic_d():
    """Engine optimum per eigen-direction of Λ (any d) equals Γ_Z's eigenvalue; on a diagonal Λ with
    symbolic eigenvalues the stated Γ_Z has exactly those entries, and equals M2g's stated form."""
    g = D.length_spectral().gamma_N.subs({psi2: 1, s2_sym: 0, n_sym: N})
    assert sp.simplify(g - 1 / ((1 + 1 / N) * lam + t / N)) == 0
    Lam = sp.diag(l1, l2)
    G = T.gamma_zfb(Lam, N)
    for i, li in enumerate((l1, l2)):
        assert sp.simplify(G[i, i] - g.subs({lam: li, t: l1 + l2})) == 0
    assert G[0, 1] == 0
    Gm, _ = gamma_loss_m2g_exact(sp.diag(2, 3), sp.eye(2), 5, 0)
    assert sp.simplify(Gm - T.gamma_zfb(sp.diag(2, 3), 5)) == sp.zeros(2, 2)


@pytest.mark.claim("ZFB-length")
def test_zfb_length_risk_and_its_limit_symbolic():
    """The stated test-length risk equals the engine's L_M(Γ_Z) summed over Λ's eigenvalues (symbolic
    λ₁, λ₂, N, M); its M → ∞ limit is the stated (1/N²) tr(B A B)."""
    ls = D.length_spectral()
    g = ls.gamma_N.subs({psi2: 1, s2_sym: 0, n_sym: N})
    r = ls.r(g, M).subs({psi2: 1, s2_sym: 0})
    Lam = sp.diag(l1, l2)
    stated = T.risk_zfb_length(Lam, N, M)
    assert sp.simplify(stated - D.spectral_total(r, [l1, l2])) == 0
    assert sp.simplify(sp.limit(stated, M, sp.oo) - T.risk_zfb_limit(Lam, N)) == 0


@pytest.mark.claim("Wu-length")
def test_wu_optimum_and_risk_symbolic_and_own_length_is_optimal():
    """Γ_N* per eigen-direction (symbolic λ, t, ψ², σ², N) is the engine's; R_M(Γ_N*) equals the
    engine's risk symbolically in ψ², σ², N, M (at Λ = diag(2, 5): symbolic eigenvalues cost 8 s
    here); per eigen-direction the mismatch cost is r_M(γ_N) − r_M(γ_M) = λ e_gg(λ; M)(γ_N − γ_M)²
    ≥ 0, so R_M(Γ_M*) ≤ R_M(Γ_N*) for every N."""
    ls = D.length_spectral()
    gN = ls.gamma_N.subs(n_sym, N)
    assert sp.simplify(gN - 1 / ((1 + 1 / N) * lam + (t + s2_sym / psi2) / N)) == 0
    Lam = sp.diag(2, 5)
    G = T.gamma_wu(Lam, psi2, s2_sym, N)
    stated = T.risk_wu(Lam, psi2, s2_sym, M, G)
    assert sp.simplify(stated - s2_sym - D.spectral_total(ls.r(gN, M), [2, 5])) == 0
    gM = ls.gamma_N.subs(n_sym, M)
    e_M = ls.e_gg.subs(n_sym, M)
    assert sp.expand(sp.numer(sp.together(ls.r(gN, M) - ls.r(gM, M) - lam * e_M * (gN - gM) ** 2))) == 0
    assert e_M.is_positive


@pytest.mark.claim("GD-average")
def test_gd_average_is_the_m1_loss_at_identity_symbolic():
    derived = D.derive_gd_average()
    assert sp.simplify(derived - T.risk_gd_average(n_sym, d_sym, s2_sym)) == 0
    # mutation n ↔ d: the derivation tells the stated constant from its swap
    assert sp.simplify(derived - T.risk_gd_average(d_sym, n_sym, s2_sym)) != 0


@pytest.mark.claim("OLS")
def test_ols_risks_symbolic():
    """d − n (noiseless, n < d) and σ²(1 + d/(n−d−1)) from E[1/χ²_{n−d+1}] = 1/(n−d−1), d, n symbolic;
    the stated function agrees on a grid, and n ↔ d swapped does not."""
    noiseless, noisy = D.derive_ols()
    for dd in range(1, 6):
        for nn in range(1, 12):
            if nn < dd:
                assert noiseless.subs({d_sym: dd, n_sym: nn}) == T.risk_ols(nn, dd, 0)
            if nn > dd + 1:
                assert sp.simplify(noisy.subs({d_sym: dd, n_sym: nn}) - T.risk_ols(nn, dd, s2_sym)) == 0
    assert sp.simplify(noisy - s2_sym * (1 + n_sym / (d_sym - n_sym - 1))) != 0


@pytest.mark.claim("vO-uniform")
def test_uniform_step_symbolic_and_moments_by_integration():
    eta, loss = D.derive_uniform_symbolic()
    a = D.a_sym
    assert (D.uniform_moment(2), D.uniform_moment(4)) == (a**2 / 3, a**4 / 5)
    assert sp.simplify(eta - T.eta_uniform(n_sym, d_sym, a, s2_sym)) == 0
    assert sp.simplify(loss - T.loss_uniform(n_sym, d_sym, a, s2_sym)) == 0
    # concrete d: the full E[g gᵀ] is a multiple of I (off-diagonal moments vanish exactly)
    mom = D.uniform_moments_exact(3, 4, sp.Rational(3, 2), sp.Rational(1, 4))
    assert mom.E_gg == mom.E_gg[0, 0] * sp.eye(3)
    # a Gaussian fourth moment (m₄ = 3 s⁴) in the stated form would give M1's step; uniform's differs
    assert sp.simplify(eta - n_sym / (n_sym + d_sym + 1) / (a**2 / 3)) != 0


@pytest.mark.claim("Fu-Newton")
def test_newton_identity_in_the_free_algebra_and_exact_rationals():
    assert D.newton_step_identity() == 0
    S = sp.Matrix([[3, 1, 0], [1, 2, 1], [0, 1, 2]])
    alpha = T.default_alpha(S)
    for k, Mk in enumerate(T.newton_iterates(S, alpha, 4)):
        assert sp.eye(3) - S * Mk == T.newton_residual_closed_form(S, alpha, k)


@pytest.mark.claim("M2m")
def test_m2m_prior_enters_only_through_its_second_moment():
    """No engine term is odd in w, so the Γ class sees Σ_w + ββᵀ only: the M2g optimum at that
    second moment, exactly; GD from β sees the centred prior."""
    S, Sw, b = sp.Matrix([[2, 1], [1, 3]]), sp.Matrix([[1, 0], [0, 2]]), sp.Matrix([1, -2])
    G, Lg, Lb, odd = D.m2m_exact(S, Sw, b, 3, sp.Rational(1, 2))
    assert odd == 0
    Gm, Lm = gamma_loss_m2g_exact(S, Sw + b * b.T, 3, sp.Rational(1, 2))
    assert sp.simplify(G - Gm) == sp.zeros(2, 2) and sp.simplify(Lg - Lm) == 0
    assert Lg > Lb


# ---- exact and Monte Carlo checks on Hypothesis settings ------------------------------------------
@pytest.mark.parametrize("claim", [pytest.param(c, marks=pytest.mark.claim(c)) for c in MORE_CLAIMS])
@settings(max_examples=EXACT_EXAMPLES)
@given(data=st.data())
def test_stated_closed_form_equals_the_exact_derivation(claim, data):
    s = data.draw(settings_more(claim, max_d=3, max_n=12), label="setting")
    checks = P.exact_checks(claim, s)
    assert all(c.holds for c in checks), [c.summary() for c in checks if not c.holds]


MC_CLAIMS = [c for c in MORE_CLAIMS if c != "Fu-Newton"]


@pytest.mark.parametrize("claim", [pytest.param(c, marks=pytest.mark.claim(c)) for c in MC_CLAIMS])
@settings(max_examples=MC_EXAMPLES)
@given(data=st.data(), seed=seeds())
def test_predicted_risk_by_monte_carlo(claim, data, seed):
    s = data.draw(settings_more(claim, max_d=3, max_n=10, mc=True), label="setting")
    checks = P.mc_checks(claim, s, seed, n_prompts=20_000 if claim == "OLS" else 40_000)
    assert all(c.holds for c in checks), [c.summary() for c in checks if not c.holds]


@pytest.mark.claim("Fu-Newton")
@settings(max_examples=EXACT_EXAMPLES)
@given(s=settings_more("Fu-Newton", max_d=4), seed=seeds())
def test_newton_iteration_order_and_transformer_construction(s, seed):
    checks = P.newton_checks(s, seed)
    assert all(c.holds for c in checks), [c.summary() for c in checks if not c.holds]


# ---- cross-claim identities ----------------------------------------------------------------------
@pytest.mark.parametrize("claim", [pytest.param(c, marks=pytest.mark.claim(c)) for c in ("ZFB", "Wu-length")])
@given(data=st.data())
def test_special_cases_of_m2g(claim, data):
    s = data.draw(settings_more(claim), label="setting")
    checks = P.m2g_special_case_checks(claim, s)
    assert all(c.holds for c in checks), [c.summary() for c in checks if not c.holds]


@pytest.mark.claim("GD-average")
@given(s=settings_more("GD-average"))
def test_gd_average_is_m1_loss_at_identity(s):
    """GD-average's risk against the *derived* M1 population loss L(Γ = I) (theory.derivation)."""
    pred = get_claim("GD-average").predict(s, exact=False)
    L = population_loss(Setting(s.d, s.n, s.sigma2), np.eye(s.d))
    c = check("GD-average", "risk = M1 loss L(Γ = I) (derived moments)", L, pred.loss, P._rel_tol(L),
              "two float64 evaluations of a rational function: relative 1e-9", s.to_json())
    assert c.holds, c.summary()


@pytest.mark.claim("Wu-length")
@given(s=settings_more("Wu-length"), N2=st.integers(1, 64))
def test_optimum_at_the_test_length_beats_any_other_training_length(s, N2):
    """R_M(Γ_M*) ≤ R_M(Γ_N*): the claim at training length M against the claim at training length N."""
    at_m = get_claim("Wu-length").predict(s.replace(n=T.test_length(s)), exact=False).loss
    at_n = get_claim("Wu-length").predict(s.replace(n=N2), exact=False).loss
    c = check("Wu-length", "R_M(Γ_M*) ≤ R_M(Γ_N*)", at_n, at_m, 1e-12 * max(1.0, at_n),
              "one-sided, float64 rounding of the two risks", {**s.to_json(), "N2": N2}, error=max(0.0, at_m - at_n))
    assert c.holds, c.summary()


@pytest.mark.claim("OLS", "GD-average")
@settings(max_examples=MC_EXAMPLES)
@given(data=st.data(), seed=seeds())
def test_risk_ordering_ridge_below_ols_and_one_step_gd_below_averaging(data, seed):
    """Bayes (ridge) risk ≤ OLS and ≤ L* (one-step GD at its optimal step) ≤ GD-average, for x, w ~
    N(0, I). Ridge by Monte Carlo (one-sided, z·SE); the rest are closed forms."""
    s = data.draw(settings_more("OLS", max_d=3, max_n=10), label="setting")
    p = sample_prompts(20_000, s.n, s.d, generator=generator(seed), sigma2=s.sigma2)
    risk, se = ridge_bayes_risk(p, torch.eye(s.d, dtype=torch.float64), s.sigma2)
    ols = get_claim("OLS").predict(s, exact=False).loss
    avg = get_claim("GD-average").predict(s, exact=False).loss
    one_step = loss_m1(s.n, s.d, s.sigma2)
    why = f"one-sided: ridge's Monte Carlo risk may exceed the bound by at most z = {P.Z_MC:.2f} SE"
    where = {**s.to_json(), "seed": seed}
    checks = [check("OLS", "ridge (Bayes) ≤ OLS", ols, risk, P.Z_MC * se, why, where, error=max(0.0, risk - ols)),
              check("GD-average", "ridge (Bayes) ≤ L* ≤ GD-average", avg, one_step, 0.0,
                    "exact inequality (n + d + 1 + σ² > n); ridge vs L* within z SE", where,
                    error=max(0.0, one_step - avg, risk - one_step - P.Z_MC * se))]
    assert all(c.holds for c in checks), [c.summary() for c in checks if not c.holds]


@pytest.mark.claim("OLS")
@pytest.mark.parametrize("direction", ["OLS ≤ one-step GD", "one-step GD ≤ OLS"])
def test_neither_ols_nor_one_step_gd_dominates(direction):
    """Over-generalisations 'OLS is never worse than L*' and its converse: Hypothesis finds and shrinks
    a setting against each (closed forms on both sides; the OLS side confirmed by Monte Carlo)."""
    sign = 1 if direction == "OLS ≤ one-step GD" else -1

    def gap(s):
        return sign * (get_claim("OLS").predict(s, exact=False).loss - loss_m1(s.n, s.d, s.sigma2))

    s = find(settings_more("OLS", max_d=4, max_n=12, mc=True), lambda s: gap(s) > 0, settings=SEARCH)
    c = check("OLS", f"{direction} always (over-generalisation)", 0.0, gap(s), 0.0,
              "exact: the closed forms differ in sign", s.to_json(), error=gap(s), expect="refute")
    assert not c.holds
    mc, = P.mc_checks("OLS", s, seed=1, n_prompts=40_000)
    assert mc.holds, mc.summary()  # the OLS risk used here is the measured one


# ---- meta-tests of the strategies ------------------------------------------------------------------
@pytest.mark.parametrize("claim", MORE_CLAIMS)
@given(data=st.data())
def test_strategies_stay_within_each_claims_assumptions(claim, data):
    """Every drawn setting passes the claim's validator; Monte Carlo settings of OLS with noise have
    n ≥ d + 4 (finite variance of the per-prompt error); M2m's β is never 0."""
    mc = data.draw(st.booleans(), label="mc")
    s = data.draw(settings_more(claim, mc=mc), label="setting")
    get_claim(claim).validate(s)
    if claim == "OLS" and mc and s.sigma2 > 0:
        assert s.n >= s.d + 4
    if claim == "M2m":
        assert any(s.mean)
    if claim == "Fu-Newton":
        assert np.linalg.eigvalsh(s.Sigma)[0] >= 0.5 * (1 - 1e-12)  # A Aᵀ + c I, c ≥ 1/2 (eigvalsh rounding)
