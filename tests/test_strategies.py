"""Meta-tests: each strategy delivers what it promises (array-api-tests style)."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from iclgd.empirics.sampling import generator, sample_prompts
from iclgd.properties import closed_form as cf
from iclgd.properties.strategies import (
    SPD_KINDS, context_lengths, dims, haar_rotation, noise_levels, orderings, priors, seeds, settings_for,
    spd_matrices, targets, transpositions,
)
from iclgd.theory import Setting, get_claim
from iclgd.theory.nonlinear import moments
from iclgd.theory.targets import parse_target


@pytest.mark.parametrize("kind", SPD_KINDS)
@given(data=st.data(), d=dims(), cond=st.sampled_from([1.5, 10.0, 100.0]))
def test_spd_matrices_are_spd_within_the_condition_bound(kind, data, d, cond):
    S = data.draw(spd_matrices(d, cond, kinds=(kind,)))
    lam = np.linalg.eigvalsh(S)
    assert np.array_equal(S, S.T) and lam[0] > 0
    assert lam[-1] / lam[0] <= cond * (1 + 1e-9)
    if kind == "near-singular" and d > 1:
        assert lam[-1] / lam[0] == pytest.approx(cond, rel=1e-9)
    if kind in ("diagonal", "scaled-identity"):
        assert np.count_nonzero(S - np.diag(np.diag(S))) == 0


@given(d=dims(), seed=seeds())
def test_haar_rotations_are_orthogonal(d, seed):
    Q = haar_rotation(d, np.random.default_rng(seed))
    np.testing.assert_allclose(Q.T @ Q, np.eye(d), atol=1e-12)


@settings(max_examples=5)
@given(d=st.integers(2, 5), seed=seeds())
def test_haar_rotation_first_column_is_uniform_on_the_sphere(d, seed):
    """E[Q₁₁²] = 1/d and E[Q₁₁] = 0 for Haar Q; 4000 draws, 6 standard errors."""
    rng = np.random.default_rng(seed)
    q = np.array([haar_rotation(d, rng)[0, 0] for _ in range(4000)])
    assert abs(np.mean(q**2) - 1 / d) <= 6 * np.std(q**2) / np.sqrt(len(q))
    assert abs(np.mean(q)) <= 6 * np.std(q) / np.sqrt(len(q))


@pytest.mark.parametrize("claim", ["M1", "M2", "M2g", "M3"])
@given(data=st.data())
def test_settings_satisfy_their_claims_assumptions(claim, data):
    s = data.draw(settings_for(claim))
    get_claim(claim).validate(s)  # raises SettingError on a violated assumption


@given(Sigma=dims().flatmap(lambda d: spd_matrices(d)).flatmap(lambda S: st.tuples(st.just(S), priors(S))))
def test_priors_are_spd_or_identity(Sigma):
    S, (name, Sw) = Sigma
    if name == "identity":
        assert Sw is None
    else:
        assert np.all(np.linalg.eigvalsh(Sw) > 0)
        if name == "inverse":
            np.testing.assert_allclose(Sw @ S, np.eye(len(S)), atol=1e-9)


@given(n=context_lengths(), sigma2=noise_levels())
def test_sizes_and_noise_are_in_range(n, sigma2):
    assert n >= 1 and sigma2 >= 0 and np.isfinite(sigma2)


@given(data=st.data(), n=st.integers(1, 8))
def test_orderings_and_transpositions(data, n):
    assert sorted(data.draw(orderings(n))) == list(range(n))
    if n >= 2:
        i, j = data.draw(transpositions(n))
        assert 0 <= i < j < n


@settings(max_examples=6, deadline=None)
@given(data=st.data(), d=st.integers(2, 3), seed=seeds())
def test_target_sampler_matches_theory_moments_and_invariance(data, d, seed):
    """The sampler's target families have the fourth-moment matrix Q = E[f² x xᵀ] that theory
    derives (6 standard errors per entry, 2e5 draws); invariant families have Q ∝ I, the
    ``relu-aniso`` ones do not — so 'invariant' is true of the samples, not just of a label."""
    spec = data.draw(targets(d, None), label="target")
    s = Setting(d, 1, 0.0, target=spec)
    t = parse_target(spec, d)
    p = sample_prompts(200_000, 1, d, generator=generator(seed), **cf.sampler_args(None, s))
    x, y = p.X[:, 0], p.y[:, 0]  # one (x, f(x)) per fresh task
    terms = (y[:, None, None] ** 2) * x[:, :, None] * x[:, None, :]  # (N, d, d)
    Qhat, se = terms.mean(0).numpy(), (terms.std(0) / terms.shape[0] ** 0.5).numpy()
    Q = np.array(moments(t, d)[1], float)
    assert np.all(np.abs(Qhat - Q) <= 6 * se + 1e-12), (spec, Qhat, Q)
    isotropic = np.allclose(Q, Q[0, 0] * np.eye(d))
    assert isotropic == t.rotation_invariant or (t.kind == "relu-aniso" and len(set(t.scales)) == 1)
