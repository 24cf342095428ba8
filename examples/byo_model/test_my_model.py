"""Checking your model in your own repository's tests (after `pip install iclgd`; nothing to copy).

The `claim` marker, the `check_model` and `claim_checks` fixtures come from iclgd's pytest plugin (a
`pytest11` entry point); the strategies from `iclgd.testing`. A test marked with a claim is evidence for
it: a model that does not reach the claim's optimum leaves a counterexample record (not-reached) in
`.iclgd/counterexamples` (or $ICLGD_COUNTEREXAMPLES_DIR), and `iclgd verify --suite tests/` reports it.

    pytest examples/byo_model/test_my_model.py
"""
import pytest
import torch
from hypothesis import HealthCheck, given, settings

from iclgd.testing import REACHED, seeds

from gd_model import GammaPredictor, one_step_gd, optimal_eta, ridge_posterior_mean


@pytest.mark.claim("M1")
def test_one_step_gd_reaches_the_optimum(check_model):
    report = check_model(one_step_gd, d=5, n=[10, 20, 40], sigma2=0.5)  # a grid of context lengths
    assert report.ok, report.summary()


@pytest.mark.claim("M1")
def test_my_trained_module(check_model):
    model = GammaPredictor(5, optimal_eta(5, 20))  # e.g. torch.load(...) of your checkpoint
    report = check_model(model, d=5, n=20, sigma2=0.5, device="cuda" if torch.cuda.is_available() else "cpu")
    assert report.verdict == REACHED, report.summary()


@pytest.mark.claim("M1")
def test_the_posterior_mean_is_better_than_any_lsa(check_model):
    report = check_model(ridge_posterior_mean, d=5, n=20, sigma2=0.5)
    assert report.verdict == "better-than-class" and report.ok  # never a refutation


@pytest.mark.claim("M1")
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=seeds())
def test_whatever_the_prompts(check_model, seed):
    assert check_model(one_step_gd, d=5, n=20, sigma2=0.5, prompts=8192, seed=seed).ok
