"""Wu-length beyond the generic Spec drivers: Γ_N* and R_M against the engine symbolically, Γ_N* as M2g's
special case, R_M(Γ_M*) ≤ R_M(Γ_N*); and the reading of R_M in the suite's convention (plumbing)."""
import numpy as np
import pytest
import sympy as sp
from hypothesis import given
from hypothesis import strategies as st

from iclgd.properties.checks import check
from iclgd.properties.strategies import settings_for
from iclgd.theory import Setting, get_claim
from iclgd.theory import derivations_linear as D
from iclgd.theory.derivation import n_sym, s2_sym
from iclgd.theory.papers.wu_et_al import gamma_wu, psi2_of, risk_wu
from iclgd.theory.setting import exact
from iclgd.theory.validators import length_at_test

N, M = sp.symbols("N M", positive=True, integer=True)
psi2, lam, t = D.psi2_sym, D.lam_sym, D.t_sym


@pytest.mark.claim("Wu-length")
def test_optimum_and_risk_symbolic_and_own_length_is_optimal():
    """Γ_N* per eigen-direction (symbolic λ, t, ψ², σ², N) is the engine's; R_M(Γ_N*) equals the engine's
    risk symbolically in ψ², σ², N, M (at Λ = diag(2, 5): symbolic eigenvalues cost 8 s here); per
    eigen-direction the mismatch cost is r_M(γ_N) − r_M(γ_M) = λ e_gg(λ; M)(γ_N − γ_M)² ≥ 0, so
    R_M(Γ_M*) ≤ R_M(Γ_N*) for every N."""
    ls = D.length_spectral()
    gN = ls.gamma_N.subs(n_sym, N)
    assert sp.simplify(gN - 1 / ((1 + 1 / N) * lam + (t + s2_sym / psi2) / N)) == 0
    Lam = sp.diag(2, 5)
    G = gamma_wu(Lam, psi2, s2_sym, N)
    assert sp.simplify(risk_wu(Lam, psi2, s2_sym, M, G) - s2_sym - D.spectral_total(ls.r(gN, M), [2, 5])) == 0
    gM = ls.gamma_N.subs(n_sym, M)
    e_M = ls.e_gg.subs(n_sym, M)
    assert sp.expand(sp.numer(sp.together(ls.r(gN, M) - ls.r(gM, M) - lam * e_M * (gN - gM) ** 2))) == 0
    assert e_M.is_positive


@pytest.mark.claim("Wu-length")
@given(s=settings_for("Wu-length"))
def test_gamma_n_is_m2g_at_a_scaled_identity_prior(s):
    G = get_claim("Wu-length").predict(s, exact=False).gamma
    m2g = get_claim("M2g").predict(Setting(s.d, s.n, s.sigma2, cov=s.cov, cov_w=psi2_of(s) * np.eye(s.d)),
                                   exact=False).gamma
    c = check("Wu-length", "Γ_N* = M2g at Σ_w = ψ² I", m2g, G, 1e-9 * max(1.0, float(np.abs(G).max())),
              "two float64 evaluations (inverse vs eigendecomposition), κ ≤ 1e3: relative 1e-9", s.to_json())
    assert c.holds, c.summary()


@pytest.mark.claim("Wu-length")
@given(s=settings_for("Wu-length"), N2=st.integers(1, 64))
def test_optimum_at_the_test_length_beats_any_other_training_length(s, N2):
    """R_M(Γ_M*) ≤ R_M(Γ_N*): the claim at training length M against the claim at training length N."""
    at_m = get_claim("Wu-length").predict(s.replace(n=length_at_test(s)), exact=False).loss
    at_n = get_claim("Wu-length").predict(s.replace(n=N2), exact=False).loss
    c = check("Wu-length", "R_M(Γ_M*) ≤ R_M(Γ_N*)", at_n, at_m, 1e-12 * max(1.0, at_n),
              "one-sided, float64 rounding of the two risks", {**s.to_json(), "N2": N2}, error=max(0.0, at_m - at_n))
    assert c.holds, c.summary()


def test_the_risk_formula_is_for_x_gamma_g_and_reads_with_the_transpose_here():
    """Plumbing (no claim: a convention, not evidence about Wu et al.): the source's R_M(Γ) is the risk of
    ŷ = x_qᵀΓg. For a non-symmetric Γ it differs from the engine's risk of the suite's ŷ = gᵀΓx_q, and R_M(Γᵀ)
    equals it exactly — which is how the Wu-length claim reads it (notes/claims-linear-papers.md)."""
    s = Setting(2, 3, 0.5, cov=[[2.0, 0.5], [0.5, 1.0]], prior_scale=2.0, test_n=5)
    H, p2 = s.Sigma_exact, exact(psi2_of(s))
    G = sp.Matrix([[0, 2], [0, 1]])
    engine = D.risk_at_length_exact(H, p2 * sp.eye(2), length_at_test(s), s.sigma2_exact, G)
    assert sp.simplify(risk_wu(H, p2, s.sigma2_exact, length_at_test(s), G.T) - engine) == 0
    assert sp.simplify(risk_wu(H, p2, s.sigma2_exact, length_at_test(s), G) - engine) != 0
