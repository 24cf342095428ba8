"""ZFB: gradient flow from Zhang, Frei & Bartlett's initialisation on the exact population loss
(default suite, deterministic), and trained LSAs on the laws of ZFB, vO-uniform and M2m (`slow`). For
trained models only a replica below L* beyond noise refutes a theorem; not reaching it is
`not-reached` (M1-trained). M2m is about the Γ class: a trained LSA below its L_Γ is the expected
refutation of M2m-LSA."""
import numpy as np
import pytest
from hypothesis import given, settings

from iclgd.properties import more_claims as P
from iclgd.properties.more_strategies import settings_more
from iclgd.properties.strategies import seeds
from iclgd.theory import Setting


@pytest.mark.claim("ZFB")
@settings(max_examples=6)
@given(s=settings_more("ZFB", max_d=3, max_n=12), seed=seeds())
def test_zfb_gradient_flow_from_their_initialisation_reaches_gamma_z(s, seed):
    checks = P.zfb_gradient_flow(s, seed)
    assert all(c.holds for c in checks), [c.summary() for c in checks if not c.holds]


@pytest.mark.slow
@pytest.mark.claim("ZFB", "M1-trained")
@pytest.mark.parametrize("setting", [Setting(2, 8, cov=[[2.0, 0.0], [0.0, 1.0]])], ids=["d2-n8"])
def test_trained_lsa_on_zfb_law_is_not_below_gamma_z(setting):
    from iclgd.properties.trained import train_and_compare

    res, checks = train_and_compare("ZFB", setting, seed=0, plan="cpu")
    below = [c for c in checks if c.claim == "ZFB" and c.expect == "hold"]
    assert below, "train_and_compare produced no check under ZFB"
    assert all(c.holds for c in below), [c.summary() for c in below if not c.holds]
    print(f"ZFB trained: rel error of Γ̄ {res.rel_error:.3g}, loss {res.loss:.4g} vs L* {res.loss_star:.4g}, "
          f"{len(res.basin)}/{res.replicas} replicas at L*, {res.seconds:.1f} s")


@pytest.mark.slow
@pytest.mark.claim("vO-uniform", "M1-trained")
@pytest.mark.parametrize("setting", [Setting(2, 8, 0.25, x_dist="uniform:1.5"), Setting(2, 4, 0.0, x_dist="uniform:1")],
                         ids=["d2-n8-a1.5", "d2-n4-a1-noiseless"])
def test_trained_lsa_on_uniform_x_is_not_below_the_uniform_step(setting):
    """A trained LSA on U(−a, a) data (sampled on the training device through the one law mapping)
    refutes vO-uniform only by a replica whose paired held-out excess over η*'s output is below 0
    beyond z_run·SE (Bonferroni over replicas), or by Γ̄'s exact loss below L*: L* bounds every
    one-layer LSA here (parity, properties/trained.py). Not reaching L* — trapped replicas, Γ̄ or η̄
    off η* beyond the replica noise floor (Student t, 99.9 %) — is `not-reached` under M1-trained,
    never asserted. Fixed seed 0: the cpu plan's 12 replicas, ~1 s of training each setting."""
    from iclgd.properties.trained import train_and_compare

    res, checks = train_and_compare("vO-uniform", setting, seed=0, plan="cpu")
    theorem = [c for c in checks if c.claim == "vO-uniform"]
    reach = [c for c in checks if c.claim == "M1-trained"]
    assert {c.expect for c in theorem} == {"hold"} and len(theorem) == 2, [c.summary() for c in theorem]
    assert all(c.holds for c in theorem), [c.summary() for c in theorem if not c.holds]
    assert reach and {c.expect for c in reach} == {"reach"}, "M1-trained aggregates the reach checks"
    print(f"vO-uniform trained: η̄ {res.extra.get('eta_learned', float('nan')):.5g} vs η* {res.gamma_star[0][0]:.5g}, "
          f"loss {res.loss:.4g} vs L* {res.loss_star:.4g}, {len(res.basin)}/{res.replicas} replicas at L*, "
          f"{res.seconds:.1f} s")


@pytest.mark.slow
@pytest.mark.claim("M2m", "M2m-LSA", "M1-trained")
@pytest.mark.parametrize("setting", [Setting(2, 8, 0.5, mean=[1.0, 0.0]), Setting(2, 4, 0.25, mean=[1.0, -1.0])],
                         ids=["d2-n8-beta10", "d2-n4-beta1m1"])
def test_trained_lsa_with_a_prior_mean_beats_the_gamma_class_but_not_bayes(setting):
    """w ~ N(β, Σ_w): a trained LSA goes below M2m's best Γ-predictor L_Γ (M2m-LSA, expect="refute":
    refuted-as-expected when some replica's paired held-out excess over Γ*'s output is below 0 beyond
    z_run·SE). M2m itself states no lower bound for an LSA: L_Γ bounds Γ-predictors only, and GD from
    β's L_β bounds nothing (an LSA lacks GD from β's constant βᵀx_q, GD from β lacks the LSA's nuisance
    terms), so it is reported, not asserted. What *is* a theorem and is asserted (expect="hold"):
    (a) the trained Γ read-off as a Γ-predictor has exact loss ≥ L_Γ; (b) no replica is below the Bayes
    risk (paired excess over the posterior mean x_qᵀE[w | context] ≥ 0; σ² > 0). Held-out prompts
    2^17 instead of the plan's 2^15: the gap is 1.5–3 % of L_Γ, at 2^15 its z (≈ 5–7) sits at the
    threshold z_run = 5.64, at 2^17 ≈ 9–14 (measured). Fixed seed 0, ~1 s of training."""
    from dataclasses import replace

    from iclgd.properties.trained import plan_for, train_and_compare
    from iclgd.properties.verdicts import REFUTED_AS_EXPECTED

    plan = replace(plan_for("cpu"), eval_prompts=1 << 17)
    res, checks = train_and_compare("M2m", setting, seed=0, plan=plan)
    theorem = [c for c in checks if c.claim == "M2m"]
    over = [c for c in checks if c.claim == "M2m-LSA"]
    assert len(theorem) == 2 and {c.expect for c in theorem} == {"hold"}, [c.summary() for c in theorem]
    assert all(c.holds for c in theorem), [c.summary() for c in theorem if not c.holds]
    assert [c.verdict for c in over] == [REFUTED_AS_EXPECTED], [c.summary() for c in over]
    assert any(c.claim == "M1-trained" and c.expect == "reach" for c in checks), "M1-trained aggregates the reach check"
    print(f"M2m trained: loss {res.loss:.4g} vs L_Γ {res.loss_star:.4g} (GD from β {res.extra['loss_gd_beta']:.4g}, "
          f"Bayes {res.extra['loss_bayes']:.4g}), {len(res.basin)}/{res.replicas} replicas at or below L_Γ, "
          f"{res.seconds:.1f} s")


# ---- the optimum over all LSA weights (least-squares relaxation) ----
@pytest.mark.claim("vO-uniform")
def test_lsa_optimum_for_uniform_x_is_the_uniform_step():
    """U(−a, a) data: the all-LSA-feature least squares returns η* I and no better predictor (the
    parity w → −w keeps the nuisance useless) — the function-space optimum that training targets."""
    checks = P.lsa_relaxation_checks("vO-uniform", Setting(2, 4, 0.25, x_dist="uniform:1.5"), seed=3,
                                     n_prompts=100_000, n_test=100_000)
    assert all(c.holds for c in checks), [c.summary() for c in checks if not c.holds]


@pytest.mark.claim("M2m-LSA")
def test_lsa_beats_the_gamma_class_when_the_prior_has_a_mean():
    """Finding: with β ≠ 0 the nuisance terms of a one-layer LSA help (the parity argument fails), so
    the LSA optimum lies strictly below M2m's best Γ-predictor (measured 1.53 vs L_Γ = 1.95, GD from β
    1.15 at d = 2, n = 4, β = (1, −1), σ² = 1/4)."""
    c, = P.lsa_relaxation_checks("M2m", Setting(2, 4, 0.25, mean=[1.0, -1.0]), seed=3, n_prompts=100_000,
                                 n_test=100_000)
    assert not c.holds, c.summary()


@pytest.mark.slow
@pytest.mark.claim("vO-uniform")
@settings(max_examples=4)
@given(s=settings_more("vO-uniform", max_d=3, max_n=8), seed=seeds())
def test_lsa_optimum_for_uniform_x_by_hypothesis(s, seed):
    checks = P.lsa_relaxation_checks("vO-uniform", s, seed)
    assert all(c.holds for c in checks), [c.summary() for c in checks if not c.holds]


# ---- plumbing of the trained tier on these laws (no claim: not evidence) ----
def test_query_average_on_uniform_x_with_a_prior_mean_is_the_monte_carlo_loss():
    """The trainer's analytic query average needs only E[x_q x_qᵀ]: on U(−a, a) coordinates with a prior
    mean, (c − w)ᵀ(a²/3)(c − w) + σ² per context equals the mean over 2^16 fresh uniform queries drawn
    here (not by the sampler) within 5 SE per context (normal tail at 5 SE over 8 contexts: < 1e-5);
    the identity covariance (a = 2: s² = 4/3) is rejected by the same tolerance."""
    import math

    import torch

    from iclgd.empirics.models import LSA
    from iclgd.empirics.sampling import generator
    from iclgd.empirics.train import prompt_sampler, query_averaged_loss
    from iclgd.properties.laws import sampler_args

    F64 = torch.float64
    s = Setting(2, 4, 0.25, mean=[1.0, -1.0])
    law = sampler_args("M2m", s)
    law.update(Sigma=None, x_uniform=2.0)  # both non-Gaussian features at once (no registered claim has both)
    sample = prompt_sampler(s.n, s.d, 2, dtype=F64, **law)
    m = LSA(s.d, replicas=2, generator=generator(1), dtype=F64)
    X, y, w = sample.tasks(4, generator(2))  # (R, B, n+1, d), (R, B, n+1), (R, B, d)
    with torch.no_grad():
        e = m.query_weights(X, y) - w  # (R, B, d)
        K = 1 << 16
        xq = (2 * torch.rand(K, *e.shape, generator=generator(3), dtype=F64) - 1) * 2.0  # (K, R, B, d)
        eps = math.sqrt(s.sigma2) * torch.randn(K, *e.shape[:-1], generator=generator(4), dtype=F64)
        sq = ((xq * e).sum(-1) - eps) ** 2  # (K, R, B)
        mc, se = sq.mean(0), sq.std(0) / math.sqrt(K)
        exact = (e.square().sum(-1) * 4 / 3 + s.sigma2)  # (R, B)
        assert torch.allclose(query_averaged_loss(m, X, y, w, s.sigma2, sample.query_chol), exact.mean(-1))
        assert ((exact - mc).abs() <= 5 * se).all(), ((exact - mc) / se)
        wrong = e.square().sum(-1) + s.sigma2  # Σ = I
        assert not ((wrong - mc).abs() <= 5 * se).all()


def test_posterior_mean_attains_the_ridge_bayes_risk_with_a_prior_mean():
    """The Bayes predictor the M2m trained check pairs against: its per-prompt squared error has the
    conditional Bayes risk σ² + x_qᵀCov(w | D)x_q (empirics.relaxation, independent formula) as mean,
    paired over 2^15 prompts within 5 SE; ignoring β (the centred posterior) is worse by far more."""
    import torch

    from iclgd.empirics import more as emp
    from iclgd.empirics.relaxation import ridge_bayes_risk
    from iclgd.empirics.sampling import generator, sample_prompts
    from iclgd.properties.laws import sampler_args

    s = Setting(2, 4, 0.25, mean=[1.0, -1.0], cov_w=[[1.0, 0.3], [0.3, 0.5]])
    law = sampler_args("M2m", s)
    p = sample_prompts(1 << 15, s.n, s.d, generator=generator(5), **law)
    yq = p.y[:, -1]
    yb = emp.posterior_mean_predictions(p.X, p.y, law["Sigma_w"], law["mean"], s.sigma2)
    n = s.n
    Sw = torch.as_tensor(s.Sigma_w)
    K = p.X[:, :n] @ Sw @ p.X[:, :n].mT + s.sigma2 * torch.eye(n, dtype=p.X.dtype)
    v = p.X[:, :n] @ (Sw @ p.X[:, n, :, None])  # (B, n, 1)
    risk = s.sigma2 + (p.X[:, n] @ Sw * p.X[:, n]).sum(-1) - (v * torch.linalg.solve(K, v)).sum((-1, -2))  # (B,)
    assert abs(float(risk.mean()) - ridge_bayes_risk(p, Sw, s.sigma2)[0]) < 1e-12
    diff = (yb - yq) ** 2 - risk
    assert abs(float(diff.mean())) <= 5 * float(diff.std()) / len(diff) ** 0.5
    centred = emp.posterior_mean_predictions(p.X, p.y, law["Sigma_w"], None, s.sigma2)
    gap = (centred - yq) ** 2 - (yb - yq) ** 2
    assert float(gap.mean()) > 10 * float(gap.std()) / len(gap) ** 0.5
