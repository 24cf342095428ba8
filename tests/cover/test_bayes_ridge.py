"""Bayes-ridge beyond the spec drivers: the posterior-mean identity with symbolic σ², τ², the deterministic
Wishart route against a large-λ moment expansion with a rigorous remainder, and the CLI's refusals."""
from __future__ import annotations

import subprocess
import sys

import pytest
import sympy as sp

from iclgd.theory.wishart import ridge_trace

from iclgd.properties.papers.bayes_ridge import design, posterior_mean_matrix, ridge_matrix
from tests.common.cli import predict_cli


@pytest.mark.claim("Bayes-ridge")
@pytest.mark.parametrize(("d", "n"), [(1, 1), (2, 1), (1, 3), (2, 3)])
def test_posterior_mean_is_ridge_at_sigma2_over_tau2_symbolically(d, n):
    """τ² Xᵀ(τ² XXᵀ + σ² I)⁻¹ = (XᵀX + (σ²/τ²) I)⁻¹Xᵀ as rational functions of σ², τ² (n < d and n > d)."""
    s2, t2 = sp.symbols("sigma2 tau2", positive=True)
    X = design(d, n)
    assert sp.simplify(posterior_mean_matrix(X, s2, t2) - ridge_matrix(X, s2 / t2)) == sp.zeros(d, n)


@pytest.mark.claim("Bayes-ridge")
@pytest.mark.parametrize(("d", "n"), [(3, 5), (5, 3), (4, 4), (8, 10), (10, 8)])
def test_wishart_route_matches_the_moment_expansion_at_large_lambda(d, n):
    """E tr((W + λI)⁻¹) = d/λ − E tr W/λ² + E tr W²/λ³ + R, W = XᵀX, E tr W = nd, E tr W² = nd(n + d + 1)
    (Isserlis), |R| ≤ E tr W³/λ⁴ ≤ E (tr W)³/λ⁴ = nd(nd + 2)(nd + 4)/λ⁴ (tr W ~ χ²_{nd}): a rigorous bound."""
    lam = 50.0 * n * d
    value, err = ridge_trace(d, n, lam)
    series = d / lam - n * d / lam**2 + n * d * (n + d + 1) / lam**3
    k = n * d
    assert abs(value - series) <= k * (k + 2) * (k + 4) / lam**4 + err


@pytest.mark.parametrize(("args", "flag"), [
    (["--d", "30", "--n", "50", "--sigma2", "0.5"], "--d"),
    (["--d", "60", "--n", "20", "--sigma2", "0.5"], "--n"),
    (["--d", "2", "--n", "3", "--prior-scale", "0"], "--prior-scale"),
    (["--d", "2", "--n", "3", "--cov", "[[2,0],[0,1]]"], "--cov"),
])
def test_cli_refuses_outside_the_assumptions_naming_the_flag(args, flag):
    code, _, err = predict_cli("Bayes-ridge", *args)
    assert code == 2, err
    assert flag in err.strip().splitlines()[-1] and "Traceback" not in err


def test_cli_json_names_the_values_in_a_subprocess():
    import json

    r = subprocess.run([sys.executable, "-m", "iclgd.cli", "predict", "--claim", "Bayes-ridge", "--d", "2", "--n", "3",
                        "--sigma2", "0.5", "--json"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert {"ridge_lambda", "bayes_risk", "bayes_excess_risk"} <= set(out)
    assert out["ridge_lambda"] == 0.5 and out["bayes_risk"] == out["loss"]
