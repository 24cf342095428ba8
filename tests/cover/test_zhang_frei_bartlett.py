"""ZFB and ZFB-length beyond the generic Spec drivers: the stated formulas against the engine for symbolic
eigenvalues, N and M; Γ_Z as M2g's special case; gradient flow from their initialisation."""
import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings

from iclgd.properties.checks import check
from iclgd.properties.papers.zhang_frei_bartlett import gradient_flow_checks
from iclgd.properties.strategies import seeds, settings_for
from iclgd.theory import Setting, get_claim
from iclgd.theory import derivations_linear as D
from iclgd.theory.derivation import n_sym, s2_sym
from iclgd.theory.lsa import gamma_loss_m2g_exact
from iclgd.theory.papers.zhang_frei_bartlett import gamma_zfb, risk_zfb_length, risk_zfb_limit

N, M = sp.symbols("N M", positive=True, integer=True)
l1, l2 = sp.symbols("l1 l2", positive=True)
psi2, lam, t = D.psi2_sym, D.lam_sym, D.t_sym


@pytest.mark.claim("ZFB")
def test_gradient_flow_limit_is_the_derived_optimum_for_symbolic_d():
    """Engine optimum per eigen-direction of Λ (any d) equals Γ_Z's eigenvalue; on a diagonal Λ with
    symbolic eigenvalues the stated Γ_Z has exactly those entries, and equals M2g's stated form."""
    g = D.length_spectral().gamma_N.subs({psi2: 1, s2_sym: 0, n_sym: N})
    assert sp.simplify(g - 1 / ((1 + 1 / N) * lam + t / N)) == 0
    G = gamma_zfb(sp.diag(l1, l2), N)
    for i, li in enumerate((l1, l2)):
        assert sp.simplify(G[i, i] - g.subs({lam: li, t: l1 + l2})) == 0
    assert G[0, 1] == 0
    Gm, _ = gamma_loss_m2g_exact(sp.diag(2, 3), sp.eye(2), 5, 0)
    assert sp.simplify(Gm - gamma_zfb(sp.diag(2, 3), 5)) == sp.zeros(2, 2)


@pytest.mark.claim("ZFB-length")
def test_length_risk_and_its_limit_symbolic():
    """The stated test-length risk equals the engine's L_M(Γ_Z) summed over Λ's eigenvalues (symbolic
    λ₁, λ₂, N, M); its M → ∞ limit is the stated (1/N²) tr(B A B)."""
    ls = D.length_spectral()
    r = ls.r(ls.gamma_N.subs({psi2: 1, s2_sym: 0, n_sym: N}), M).subs({psi2: 1, s2_sym: 0})
    Lam = sp.diag(l1, l2)
    stated = risk_zfb_length(Lam, N, M)
    assert sp.simplify(stated - D.spectral_total(r, [l1, l2])) == 0
    assert sp.simplify(sp.limit(stated, M, sp.oo) - risk_zfb_limit(Lam, N)) == 0


@pytest.mark.claim("ZFB")
@given(s=settings_for("ZFB"))
def test_gamma_z_is_m2g_at_identity_prior_and_no_noise(s):
    G = get_claim("ZFB").predict(s, exact=False).gamma
    m2g = get_claim("M2g").predict(Setting(s.d, s.n, 0.0, cov=s.cov), exact=False).gamma
    c = check("ZFB", "Γ_Z = M2g at Σ_w = I, σ² = 0", m2g, G, 1e-9 * max(1.0, float(np.abs(G).max())),
              "two float64 evaluations (inverse vs eigendecomposition), κ ≤ 1e3: relative 1e-9", s.to_json())
    assert c.holds, c.summary()


@pytest.mark.slow  # the trained tier: it runs an optimiser, and files its reach check under M1-trained
@pytest.mark.claim("ZFB", "M1-trained")
@settings(max_examples=6)
@given(s=settings_for("ZFB", max_d=3, max_n=12), seed=seeds())
def test_gradient_flow_from_their_initialisation(s, seed):
    """Under ZFB, the strong-convexity certificate at the flow's end point; whether the flow reached Γ_Z
    within its budget is filed under the reachability claim M1-trained, never under ZFB."""
    checks = gradient_flow_checks(s, seed)
    assert all(c.holds for c in checks if c.claim == "ZFB"), [c.summary() for c in checks if not c.holds]
